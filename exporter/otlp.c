/*
 * otlp.c - span records to an OTLP ExportTraceServiceRequest, and the
 * export response back.
 *
 * Encoding is written by hand from the field numbers in SPEC.md section 4
 * (the same as proto/otlp.proto): the message has one fixed shape (one
 * resource, one scope, spans with attributes, an optional exception
 * event, an optional link and status), every length is known from the
 * records, and a generic packer spent most of the exporter's time on
 * reflection (about 15 000 instructions per span with libprotobuf-c; see
 * scripts/bench). One pass over the spans (see otlp_encode): a length
 * prefix comes before its bytes, so each span's payload is written after
 * room for its length at the widest it can be, and the few that turn out
 * narrower move back; lengths inside a span (attributes, code attributes,
 * the event, link, status) are computed from the record before they are
 * written.
 *
 * Field order and presence follow proto3 as protobuf-c wrote them: fields
 * in number order, scalars at their default omitted, oneof members
 * (AnyValue) always written. Decoding the response stays with protobuf-c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "copy.h"
#include "otlp.h"
#include "otlp.pb-c.h"
#include "quiet.h"

/* Wire types */
#define WT_VARINT 0
#define WT_I64 1
#define WT_LEN 2
#define WT_I32 5

#define TAG(field, wt) (((uint32_t)(field) << 3) | (wt))

static inline size_t varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	if (v < 0x80) {		/* tags and most lengths */
		*p = (uint8_t)v;
		return p + 1;
	}
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Little-endian, as protobuf's fixed types are (x86-64 and arm64 are). */
static inline uint8_t *put_fixed64(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(p, &v, 8);
	return p + 8;
#else
	for (int i = 0; i < 8; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
#endif
}

static inline uint8_t *put_fixed32(uint8_t *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(p, &v, 4);
	return p + 4;
#else
	for (int i = 0; i < 4; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
#endif
}

/* Whether none of the n bytes has its high bit set (all ASCII). */
static inline int all_ascii(const uint8_t *b, size_t n)
{
	uint64_t w, acc = 0;
	uint32_t x, y;
	size_t i = 0;

	if (n < 4) {
		for (; i < n; i++)
			acc |= b[i];
		return !(acc & 0x80);
	}
	if (n < 8) {
		memcpy(&x, b, 4);
		memcpy(&y, b + n - 4, 4);
		return !((x | y) & 0x80808080u);
	}
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, b + i, 8);
		acc |= w;
	}
	memcpy(&w, b + n - 8, 8);	/* the rest, overlapping */
	return !((acc | w) & 0x8080808080808080ull);
}

/* A length-delimited field's total size, for a payload of n bytes. */
static size_t len_field(uint32_t field, size_t n)
{
	return varint_size(TAG(field, WT_LEN)) + varint_size(n) + n;
}

static uint8_t *put_len(uint8_t *p, uint32_t field, size_t n)
{
	p = put_varint(p, TAG(field, WT_LEN));
	return put_varint(p, n);
}

static uint8_t *put_bytes(uint8_t *p, uint32_t field, const void *b, size_t n)
{
	p = put_len(p, field, n);
	copy_short(p, b, n);
	return p + n;
}

/*
 * The byte length of the first limit characters of s (UTF-8), never cutting
 * a multi-byte sequence. Invalid bytes count as one character each.
 */
static size_t utf8_prefix(const char *s, size_t len, uint32_t limit)
{
	size_t i = 0;
	uint32_t chars = 0;

	while (i < len && chars < limit) {
		unsigned char c = (unsigned char)s[i];
		size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 :
			   (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
		if (n > len - i)
			n = len - i;
		for (size_t k = 1; k < n; k++)
			if (((unsigned char)s[i + k] & 0xC0) != 0x80) {
				n = k;
				break;
			}
		i += n;
		chars++;
	}
	return i;
}

/*
 * Copy a string field's bytes: proto3 strings must be UTF-8, and a strict
 * collector rejects a whole request for one bad byte, so every byte of an
 * invalid sequence becomes '?' (the length stays the same).
 */
static __attribute__((noinline)) uint8_t *put_utf8(uint8_t *p,
							  const uint8_t *b,
							  size_t n);

static inline uint8_t *put_text(uint8_t *p, uint32_t field, const char *s,
				size_t n)
{
	const uint8_t *b = (const uint8_t *)s;

	p = put_len(p, field, n);
	/* the usual case, ASCII: one check and one copy */
	if (__builtin_expect(all_ascii(b, n), 1)) {
		copy_short(p, b, n);
		return p + n;
	}
	return put_utf8(p, b, n);
}

/* put_text's bytes when some are not ASCII. */
static uint8_t *put_utf8(uint8_t *p, const uint8_t *b, size_t n)
{
	size_t a = 0;
	for (; a + 8 <= n; a += 8) {
		uint64_t w;
		memcpy(&w, b + a, 8);
		if (w & 0x8080808080808080ull)
			break;
	}
	while (a < n && b[a] < 0x80)
		a++;
	memcpy(p, b, a);
	p += a;
	for (size_t i = a; i < n;) {
		uint8_t c = b[i];
		size_t k = 0;
		if (c < 0x80) {
			*p++ = c;
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			k = 2;
		else if (c >= 0xE0 && c <= 0xEF)
			k = 3;
		else if (c >= 0xF0 && c <= 0xF4)
			k = 4;
		int ok = k && i + k <= n;
		for (size_t j = 1; ok && j < k; j++) {
			uint8_t d = b[i + j];
			uint8_t lo = 0x80, hi = 0xBF;
			if (j == 1) {	/* no overlong forms, no surrogates */
				if (c == 0xE0)
					lo = 0xA0;
				else if (c == 0xED)
					hi = 0x9F;
				else if (c == 0xF0)
					lo = 0x90;
				else if (c == 0xF4)
					hi = 0x8F;
			}
			ok = d >= lo && d <= hi;
		}
		if (ok) {
			memcpy(p, b + i, k);
			p += k;
			i += k;
		} else {
			*p++ = '?';
			i++;
		}
	}
	return p;
}

/* ---- the output cursor --------------------------------------------------- */

/*
 * Spans are written forwards into b->data. Before each piece (a span's
 * fixed head, each attribute, the span's tail) the writer makes sure of
 * room for the piece's largest size plus SLACK: some writes are fixed-size
 * block copies that run past the bytes they mean (a key prefix is copied
 * as all 48 bytes of struct otlp_key.pre) and the next write covers the
 * excess; and a span's length may need one or two bytes more than the two
 * it was given (put_span).
 */
#define SLACK 64

static int grow(struct otlp_buf *b, size_t need, size_t keep);

/*
 * Grow b so that n + SLACK bytes fit from p on, keeping what is before p.
 * Returns p in the new block, or NULL (out of memory).
 */
static __attribute__((noinline)) uint8_t *room_slow(struct otlp_buf *b,
						    uint8_t *p, size_t n)
{
	size_t used = (size_t)(p - b->data);

	if (grow(b, used + n + SLACK, used) < 0)
		return NULL;
	return b->data + used;
}

/* p, or p moved to a larger block; NULL: out of memory. */
static inline uint8_t *room(struct otlp_buf *b, uint8_t *p, size_t n)
{
	if (__builtin_expect((size_t)(b->data + b->cap - p) >= n + SLACK, 1))
		return p;
	return room_slow(b, p, n);
}

/* ---- attributes -------------------------------------------------------------- */

struct limits {
	uint32_t value_len;	/* 0: none */
	uint32_t count;
};

/* The byte length of a string value, cut to the limit. */
static inline size_t cut(const struct limits *l, const char *s, size_t len)
{
	return l->value_len ? utf8_prefix(s, len, l->value_len) : len;
}

/*
 * Span.attributes (field 9): a KeyValue starts with bytes that depend on
 * its key alone,
 *
 *     4a LL  0a KL key...  12
 *
 * (the KeyValue's tag and length, the key field, the value field's tag),
 * where only LL, the KeyValue's length, varies with the value. The cache
 * keeps these bytes for each key address (keys are static, exporter.h),
 * from batch to batch, in a 2-way set-associative table inside the
 * otlp_buf: a span's dozen keys cost a hash and a compare each, and the
 * prefix goes out as one fixed-size copy with LL patched in. A key too
 * long for pre[] (over 43 bytes) keeps only its length (n = 0) and is
 * written field by field.
 */
#define KV_PRE_MAX ((uint32_t)sizeof(((struct otlp_key *)0)->pre))

static __attribute__((noinline)) const struct otlp_key *
key_fill(struct otlp_key *set, const char *key)
{
	size_t kl = strlen(key);

	set[1] = set[0];	/* the older entry goes to the second way */
	set[0].key = key;
	set[0].len = (uint32_t)kl;
	set[0].n = 0;
	if (kl + 5 <= KV_PRE_MAX) {
		uint8_t *q = set[0].pre;
		memset(q, 0, KV_PRE_MAX);
		q[0] = TAG(9, WT_LEN);
		q[1] = 0;		/* LL, per value */
		q[2] = TAG(1, WT_LEN);
		q[3] = (uint8_t)kl;
		memcpy(q + 4, key, kl);
		q[4 + kl] = TAG(2, WT_LEN);
		set[0].n = (uint32_t)kl + 5;
	}
	return &set[0];
}

static inline const struct otlp_key *key_get(struct otlp_buf *b,
					     const char *key)
{
	uint64_t x = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ull;
	struct otlp_key *set = &b->keys[(x >> 58) * 2];

	_Static_assert(OTLP_KEYS == 2 << 6, "64 sets of 2: x >> 58");
	if (__builtin_expect(set[0].key == key, 1))
		return &set[0];
	if (set[1].key == key)
		return &set[1];
	return key_fill(set, key);
}

/*
 * Copy n bytes; returns the OR of the words copied, whose high bits are
 * clear when all n bytes are ASCII (HI_BITS). Reads exactly s[0..n) and
 * writes exactly d[0..n) (overlapping words, as copy_short does), so that
 * the usual short value costs a few loads and stores and one test.
 */
#define HI_BITS 0x8080808080808080ull

static inline uint64_t copy_or(uint8_t *d, const uint8_t *s, size_t n)
{
	uint64_t a, b, c, e;

	if (n >= 8) {
		if (n <= 16) {
			memcpy(&a, s, 8);
			memcpy(&b, s + n - 8, 8);
			memcpy(d, &a, 8);
			memcpy(d + n - 8, &b, 8);
			return a | b;
		}
		if (n <= 32) {
			memcpy(&a, s, 8);
			memcpy(&b, s + 8, 8);
			memcpy(&c, s + n - 16, 8);
			memcpy(&e, s + n - 8, 8);
			memcpy(d, &a, 8);
			memcpy(d + 8, &b, 8);
			memcpy(d + n - 16, &c, 8);
			memcpy(d + n - 8, &e, 8);
			return a | b | c | e;
		}
		memcpy(d, s, n);
		return all_ascii(s, n) ? 0 : HI_BITS;
	}
	if (n >= 4) {
		uint32_t x, y;
		memcpy(&x, s, 4);
		memcpy(&y, s + n - 4, 4);
		memcpy(d, &x, 4);
		memcpy(d + n - 4, &y, 4);
		return x | y;
	}
	uint64_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= d[i] = s[i];
	return acc;
}

/* A string field's payload: the bytes, made valid UTF-8 (see put_utf8). */
static inline uint8_t *put_str(uint8_t *p, const char *s, size_t n)
{
	if (__builtin_expect(!(copy_or(p, (const uint8_t *)s, n) & HI_BITS),
			     1))
		return p + n;
	return put_utf8(p, (const uint8_t *)s, n);
}

/* An AnyValue's payload size. */
static size_t value_size(const struct span_attr *a, size_t sl)
{
	switch (a->type) {
	case SPAN_ATTR_INT:
		return 1 + varint_size((uint64_t)a->v.i);
	case SPAN_ATTR_BOOL:
		return 2;
	case SPAN_ATTR_DOUBLE:
		return 1 + 8;
	default:
		return len_field(1, sl);
	}
}

/* An AnyValue's payload (any type; a string of sl bytes). */
static uint8_t *put_value(uint8_t *p, const struct span_record *r,
			  const struct span_attr *a, size_t sl)
{
	switch (a->type) {
	case SPAN_ATTR_INT:
		*p++ = TAG(3, WT_VARINT);
		return put_varint(p, (uint64_t)a->v.i);
	case SPAN_ATTR_BOOL:
		*p++ = TAG(2, WT_VARINT);
		*p++ = a->v.i != 0;
		return p;
	case SPAN_ATTR_DOUBLE: {
		uint64_t bits;
		memcpy(&bits, &a->v.d, 8);
		*p++ = TAG(4, WT_I64);
		return put_fixed64(p, bits);
	}
	default:
		p = put_len(p, 1, sl);
		return put_str(p, r->arena + a->off, sl);
	}
}

/*
 * A record attribute field by field: for a key too long for the cache's
 * prefix, or a KeyValue of 128 bytes or more (its lengths take more than
 * one byte). Any type other than INT, BOOL and DOUBLE is a string.
 */
static __attribute__((noinline)) uint8_t *
put_attr_long(uint8_t *p, const struct span_record *r,
	      const struct span_attr *a, const struct otlp_key *k, size_t sl)
{
	size_t vs = value_size(a, sl);

	p = put_len(p, 9, len_field(1, k->len) + len_field(2, vs));
	p = put_bytes(p, 1, a->key, k->len);
	p = put_len(p, 2, vs);
	return put_value(p, r, a, sl);
}

/*
 * One record attribute whose key has a cached prefix (k->n != 0), with the
 * room for it already made (ATTR_ROOM plus its string's length). Its
 * KeyValue is nearly always shorter than 128 bytes, so that every length
 * inside it is one byte; one with an int, bool or double value always is
 * (at most 11 bytes of value after a prefix of at most 48). Any type other
 * than INT, BOOL and DOUBLE is a string.
 */
#define ATTR_ROOM (KV_PRE_MAX + 16)

static inline uint8_t *put_attr(uint8_t *p, const struct span_record *r,
				const struct span_attr *a,
				const struct otlp_key *k, uint32_t value_len)
{
	uint32_t n = k->n;
	uint8_t *kv = p;
	uint8_t *v = p + n;	/* the value field's length byte */
	unsigned type = a->type;

	memcpy(kv, k->pre, KV_PRE_MAX);
	if (__builtin_expect(type - 1u >= 3u, 1)) {	/* STRING, or unknown */
		const char *s = r->arena + a->off;
		size_t sl = a->len;
		if (value_len)
			sl = utf8_prefix(s, sl, value_len);
		/* the KeyValue's length: the prefix after LL, the value
		   field's length byte, then 0a, the string's length byte and
		   the bytes */
		if (__builtin_expect(n + 1 + sl >= 0x80, 0))
			return put_attr_long(p, r, a, k, sl);
		v[0] = (uint8_t)(sl + 2);
		v[1] = TAG(1, WT_LEN);
		v[2] = (uint8_t)sl;
		kv[1] = (uint8_t)(n + 1 + sl);
		return put_str(v + 3, s, sl);
	}
	if (type == SPAN_ATTR_INT) {
		v[1] = TAG(3, WT_VARINT);
		p = put_varint(v + 2, (uint64_t)a->v.i);
		v[0] = (uint8_t)(p - (v + 1));
		kv[1] = (uint8_t)(p - (kv + 2));
		return p;
	}
	if (type == SPAN_ATTR_BOOL) {
		v[0] = 2;
		v[1] = TAG(2, WT_VARINT);
		v[2] = a->v.i != 0;
		kv[1] = (uint8_t)(n + 1);
		return v + 3;
	}
	uint64_t bits;		/* DOUBLE */
	memcpy(&bits, &a->v.d, 8);
	v[0] = 9;
	v[1] = TAG(4, WT_I64);
	put_fixed64(v + 2, bits);
	kv[1] = (uint8_t)(n + 8);
	return v + 10;
}

/*
 * Attributes that are not in the record: a key and a string value, cut
 * to the value length limit. A small list, planned before it is written.
 */
#define EXTRA_MAX 3

struct extra {
	const char *key[EXTRA_MAX];
	const char *val[EXTRA_MAX];
	size_t len[EXTRA_MAX];
	size_t n;		/* kept */
	uint32_t dropped;	/* over the count limit */
};

static void extra_add(struct extra *x, const struct limits *l, size_t room_,
		      const char *key, const char *val, size_t len)
{
	if (x->n >= room_ || x->n >= EXTRA_MAX) {
		x->dropped++;
		return;
	}
	x->key[x->n] = key;
	x->val[x->n] = val;
	x->len[x->n] = cut(l, val, len);
	x->n++;
}

/* A KeyValue with a string value: its payload size. */
static size_t kv_str_size(size_t kl, size_t sl)
{
	return len_field(1, kl) + len_field(2, len_field(1, sl));
}

static size_t extra_size(const struct extra *x, uint32_t field, size_t i)
{
	return len_field(field, kv_str_size(strlen(x->key[i]), x->len[i]));
}

static uint8_t *put_extra(uint8_t *p, const struct extra *x, uint32_t field,
			  size_t i)
{
	size_t kl = strlen(x->key[i]);

	p = put_len(p, field, kv_str_size(kl, x->len[i]));
	p = put_bytes(p, 1, x->key[i], kl);
	p = put_len(p, 2, len_field(1, x->len[i]));
	return put_text(p, 1, x->val[i], x->len[i]);
}

/* ---- spans ----------------------------------------------------------------- */

static size_t n_attrs(const struct span_record *r, const struct limits *l)
{
	return r->n_attrs < l->count ? r->n_attrs : l->count;
}

/*
 * What a span has beyond its record's fields, planned only for a span
 * that has any of it: the code.* attributes (after its own, within the
 * count limit) and its exception event with its attributes.
 */
struct span_plan {
	struct extra code;
	struct extra event;
	size_t event_size;	/* Span.Event payload; 0: no event */
	size_t size;		/* the bytes of all of it, at most */
};

static const char EVENT_NAME[] = "exception";

static __attribute__((noinline)) void
plan_span(const struct span_record *r, const struct span_code *c,
	  const struct limits *l, struct span_plan *pl)
{
	size_t room_ = l->count - n_attrs(r, l);

	memset(pl, 0, sizeof(*pl));
	if (c && c->function)
		extra_add(&pl->code, l, room_, "code.function.name",
			  c->function, c->function_len);
	if (c && c->stacktrace)
		extra_add(&pl->code, l, room_, "code.stacktrace",
			  c->stacktrace, c->stacktrace_len);
	for (size_t i = 0; i < pl->code.n; i++)
		pl->size += extra_size(&pl->code, 9, i);
	if (!r->has_exception)
		return;
	if (r->exception.type.len)
		extra_add(&pl->event, l, l->count, "exception.type",
			  span_record_str(r, r->exception.type),
			  r->exception.type.len);
	if (r->exception.message.len)
		extra_add(&pl->event, l, l->count, "exception.message",
			  span_record_str(r, r->exception.message),
			  r->exception.message.len);
	if (c && c->stacktrace)
		extra_add(&pl->event, l, l->count, "exception.stacktrace",
			  c->stacktrace, c->stacktrace_len);
	size_t n = 1 + 8 + len_field(2, sizeof(EVENT_NAME) - 1);
	for (size_t i = 0; i < pl->event.n; i++)
		n += extra_size(&pl->event, 3, i);
	if (pl->event.dropped)
		n += 1 + varint_size(pl->event.dropped);
	pl->event_size = n;
	pl->size += len_field(11, n);
}

/* Span.events (field 11): the exception event, as planned. */
static uint8_t *put_event(uint8_t *p, const struct span_record *r,
			  const struct span_plan *pl)
{
	p = put_len(p, 11, pl->event_size);
	*p++ = TAG(1, WT_I64);
	p = put_fixed64(p, r->exception.time_ns);
	p = put_bytes(p, 2, EVENT_NAME, sizeof(EVENT_NAME) - 1);
	for (size_t i = 0; i < pl->event.n; i++)
		p = put_extra(p, &pl->event, 3, i);
	if (pl->event.dropped) {
		*p++ = TAG(4, WT_VARINT);
		p = put_varint(p, pl->event.dropped);
	}
	return p;
}

static inline int nonzero8(const uint8_t *id)
{
	uint64_t w;

	memcpy(&w, id, 8);
	return w != 0;
}

/*
 * The most a span's bytes other than its strings, record attributes, code
 * attributes and event take: span tag and length 3 (put_span), ids 28,
 * trace state's tag and length 11, parent 10, name's tag and length 11,
 * kind 3, times 18, dropped 6, dropped events 4, link 35, status 16 (its
 * message's tag and length included), flags 6: 151, rounded up.
 */
#define SPAN_FIXED 192

/*
 * ScopeSpans.spans: the tag, the length, the span. The payload is written
 * after two bytes for its length (a span of 128 bytes to 16 KiB, the
 * usual); a payload of another size moves to meet its length's width.
 * Returns the end of the span, or NULL when b cannot grow.
 */
static uint8_t *put_span(struct otlp_buf *b, uint8_t *p,
			 const struct span_record *r,
			 const struct span_code *c, const struct limits *l)
{
	size_t na = n_attrs(r, l);
	struct span_plan pl;
	int planned = r->has_exception || (c && (c->function || c->stacktrace));
	uint32_t dropped = (uint32_t)r->dropped_attrs +
			   (uint32_t)(r->n_attrs - na);

	if (planned) {
		plan_span(r, c, l, &pl);
		dropped += pl.code.dropped;
	}

	/* every attribute's room includes the rest of the span: after the
	   last one, the tail fits without another check */
	size_t rest = SPAN_FIXED + r->name.len + r->trace_state.len +
		      r->status_message.len + (planned ? pl.size : 0);
	p = room(b, p, rest);
	if (!p)
		return NULL;
	size_t start = (size_t)(p - b->data);	/* b->data may move */
	p += 3;

	*p++ = TAG(1, WT_LEN);
	*p++ = 16;
	memcpy(p, r->trace_id, 16);
	p += 16;
	*p++ = TAG(2, WT_LEN);
	*p++ = 8;
	memcpy(p, r->span_id, 8);
	p += 8;
	if (r->trace_state.len)
		p = put_text(p, 3, span_record_str(r, r->trace_state),
			     r->trace_state.len);
	if (nonzero8(r->parent_span_id)) {
		*p++ = TAG(4, WT_LEN);
		*p++ = 8;
		memcpy(p, r->parent_span_id, 8);
		p += 8;
	}
	if (r->name.len)
		p = put_text(p, 5, span_record_str(r, r->name), r->name.len);
	if (r->kind) {
		*p++ = TAG(6, WT_VARINT);
		p = put_varint(p, r->kind);
	}
	*p++ = TAG(7, WT_I64);
	p = put_fixed64(p, r->start_ns);
	*p++ = TAG(8, WT_I64);
	p = put_fixed64(p, r->end_ns);

	/* the room check in registers: b->data changes only in room() */
	uint8_t *end = b->data + b->cap;
	ptrdiff_t need = ATTR_ROOM + rest + SLACK;
	uint32_t value_len = l->value_len;
	for (size_t i = 0; i < na; i++) {
		const struct span_attr *a = &r->attrs[i];
		const struct otlp_key *k = key_get(b, a->key);
		if (__builtin_expect(end - p < need + a->len || k->n == 0, 0)) {
			/* a long key, or b must grow */
			p = room(b, p, ATTR_ROOM + rest + k->len + a->len);
			if (!p)
				return NULL;
			end = b->data + b->cap;
			if (k->n == 0) {
				p = put_attr_long(p, r, a, k,
						  cut(l, r->arena + a->off,
						      a->len));
				continue;
			}
		}
		p = put_attr(p, r, a, k, value_len);
	}
	if (planned) {
		for (size_t i = 0; i < pl.code.n; i++)
			p = put_extra(p, &pl.code, 9, i);
	}
	if (dropped) {
		*p++ = TAG(10, WT_VARINT);
		p = put_varint(p, dropped);
	}
	if (planned && pl.event_size)
		p = put_event(p, r, &pl);
	if (r->dropped_events) {
		*p++ = TAG(12, WT_VARINT);
		p = put_varint(p, r->dropped_events);
	}
	if (nonzero8(r->link_span_id)) {
		*p++ = TAG(13, WT_LEN);
		*p++ = 18 + 10 + 5;
		*p++ = TAG(1, WT_LEN);
		*p++ = 16;
		memcpy(p, r->link_trace_id, 16);
		p += 16;
		*p++ = TAG(2, WT_LEN);
		*p++ = 8;
		memcpy(p, r->link_span_id, 8);
		p += 8;
		*p++ = TAG(6, WT_I32);
		p = put_fixed32(p, r->link_flags);
	}
	if (r->status != SPAN_STATUS_UNSET) {
		int msg = r->status == SPAN_STATUS_ERROR &&
			  r->status_message.len;
		*p++ = TAG(15, WT_LEN);
		if (msg) {
			size_t ml = r->status_message.len;
			p = put_varint(p, 2 + len_field(2, ml));
			p = put_text(p, 2,
				     span_record_str(r, r->status_message), ml);
		} else {
			*p++ = 2;
		}
		*p++ = TAG(3, WT_VARINT);
		*p++ = r->status;
	}
	if (r->flags) {
		/* field 16, fixed32: tag 0x85 0x01 */
		*p++ = 0x85;
		*p++ = 0x01;
		p = put_fixed32(p, r->flags);
	}

	uint8_t *s = b->data + start;
	uint8_t *body = s + 3;
	size_t size = (size_t)(p - body);
	s[0] = TAG(2, WT_LEN);
	if (__builtin_expect(size - 0x80 < 0x4000 - 0x80, 1)) {
		s[1] = (uint8_t)(size | 0x80);
		s[2] = (uint8_t)(size >> 7);
		return p;
	}
	/* one byte (under 128) or three and more (16 KiB and more); SLACK
	   leaves room for the latter */
	size_t width = varint_size(size);
	memmove(s + 1 + width, body, size);
	put_varint(s + 1, size);
	return s + 1 + width + size;
}

/* ---- resource and scope ------------------------------------------------------ */

static size_t rattr_size(const struct resource_attr *a)
{
	size_t kl = strlen(a->key);
	size_t vs = a->is_int ? 1 + varint_size((uint64_t)a->i)
			      : len_field(1, strlen(a->str));
	return len_field(1, kl) + len_field(2, vs);
}

static uint8_t *put_rattr(uint8_t *p, const struct resource_attr *a)
{
	size_t kl = strlen(a->key);
	size_t sl = a->is_int ? 0 : strlen(a->str);
	size_t vs = a->is_int ? 1 + varint_size((uint64_t)a->i)
			      : len_field(1, sl);

	p = put_len(p, 1, len_field(1, kl) + len_field(2, vs));
	p = put_bytes(p, 1, a->key, kl);
	p = put_len(p, 2, vs);
	if (a->is_int) {
		*p++ = TAG(3, WT_VARINT);
		return put_varint(p, (uint64_t)a->i);
	}
	return put_text(p, 1, a->str, sl);
}

#define SCOPE_NAME "otelshim"

/*
 * Make b->data hold at least need bytes, keeping its first keep bytes.
 * Every block stays reachable from b, from its malloc to its free (the
 * new one in b->incoming until it is b->data, the old one in b->outgoing
 * until it is freed): a process forked at any instant frees each of them
 * once (otlp_buf_free) and neither leaks nor frees one twice.
 */
static int grow(struct otlp_buf *b, size_t need, size_t keep)
{
	if (b->cap >= need)
		return 0;
	size_t c = b->cap ? b->cap : 4096;
	while (c < need)
		c *= 2;
	quiet_enter();	/* no fork in the middle of malloc (quiet.h) */
	uint8_t *n = malloc(c);
	__atomic_store_n(&b->incoming, n, __ATOMIC_SEQ_CST);
	quiet_leave();
	if (!n)
		return -ENOMEM;
	uint8_t *old = b->data;
	if (keep)
		memcpy(n, old, keep);
	__atomic_store_n(&b->outgoing, old, __ATOMIC_SEQ_CST);
	__atomic_store_n(&b->data, n, __ATOMIC_SEQ_CST);
	b->cap = c;
	__atomic_store_n(&b->incoming, NULL, __ATOMIC_SEQ_CST);
	quiet_enter();
	__atomic_store_n(&b->outgoing, NULL, __ATOMIC_SEQ_CST);
	free(old);
	quiet_leave();
	return 0;
}

void otlp_buf_free(struct otlp_buf *b)
{
	uint8_t *d = b->data, *in = b->incoming, *out = b->outgoing;

	*b = (struct otlp_buf){0};
	free(d);
	if (in != d)
		free(in);
	if (out != d && out != in)
		free(out);
}

/* The request's bytes before its first span, for spans_len bytes of spans. */
static size_t head_size(size_t resource, size_t scope, size_t spans_len)
{
	size_t scope_spans = len_field(1, scope) + spans_len;
	size_t resource_spans = len_field(1, resource) +
				len_field(2, scope_spans);

	return len_field(1, resource_spans) - spans_len;
}

/*
 * One pass over the spans: each is written as it is read, into a buffer
 * sized by an estimate (grown when a span's bound does not fit). They
 * start after room for the request's header, whose two outer lengths
 * depend on the spans' total: the room assumes spans of 256 bytes on
 * average, which gives the header's exact size for nearly every batch
 * (the widths of those lengths change only at 16 KiB and 2 MiB). When it
 * does not, the spans move to meet the header.
 */
#define SPAN_ESTIMATE 256

int otlp_encode(const struct resource *res,
		const struct span_record *const *spans,
		const struct span_code *codes, size_t n,
		uint32_t value_len_limit, uint32_t count_limit,
		struct otlp_buf *b)
{
	struct limits l = {value_len_limit, count_limit};
	size_t nres = res ? res->n : 0;

	b->len = 0;

	/* Resource */
	size_t resource = 0;
	for (size_t i = 0; i < nres; i++)
		resource += len_field(1, rattr_size(&res->attrs[i]));
	/* InstrumentationScope */
	size_t scope = len_field(1, strlen(SCOPE_NAME)) +
		       len_field(2, strlen(OTELSHIM_VERSION));

	size_t hroom = head_size(resource, scope, SPAN_ESTIMATE * n);
	if (grow(b, hroom + 2 * SPAN_ESTIMATE * n + 2048, 0) < 0)
		return -ENOMEM;
	uint8_t *end = b->data + hroom;
	for (size_t i = 0; i < n; i++) {
		end = put_span(b, end, spans[i], codes ? &codes[i] : NULL, &l);
		if (!end)
			return -ENOMEM;
	}
	size_t used = (size_t)(end - b->data);
	size_t spans_len = used - hroom;
	size_t head = head_size(resource, scope, spans_len);
	if (head > hroom && grow(b, head + spans_len, used) < 0)
		return -ENOMEM;
	uint8_t *buf = b->data, *p;
	if (head != hroom)
		memmove(buf + head, buf + hroom, spans_len);

	size_t scope_spans = len_field(1, scope) + spans_len;
	size_t resource_spans = len_field(1, resource) +
				len_field(2, scope_spans);
	p = buf;
	p = put_len(p, 1, resource_spans);	/* request.resource_spans */
	p = put_len(p, 1, resource);		/* .resource */
	for (size_t i = 0; i < nres; i++)
		p = put_rattr(p, &res->attrs[i]);
	p = put_len(p, 2, scope_spans);		/* .scope_spans */
	p = put_len(p, 1, scope);		/* .scope */
	p = put_bytes(p, 1, SCOPE_NAME, strlen(SCOPE_NAME));
	p = put_bytes(p, 2, OTELSHIM_VERSION, strlen(OTELSHIM_VERSION));
	if (p != buf + head)
		return -EPROTO;	/* cannot happen: the header's size is wrong */
	b->len = head + spans_len;
	return 0;
}

int otlp_parse_response(const uint8_t *buf, size_t len, int64_t *rejected,
			char *msg, size_t cap)
{
	Otelshim__Otlp__ExportTraceServiceResponse *resp;

	*rejected = 0;
	if (cap)
		msg[0] = '\0';
	if (len == 0)
		return 0;
	/* protobuf-c allocates the message: from its unpack to its free, no
	   fork cuts through (quiet.h), so the child never holds a block of it
	   that only this thread's stack pointed to */
	quiet_enter();
	resp = otelshim__otlp__export_trace_service_response__unpack(NULL, len,
								    buf);
	if (!resp) {
		quiet_leave();
		return -1;
	}
	if (resp->partial_success) {
		*rejected = resp->partial_success->rejected_spans;
		if (cap && resp->partial_success->error_message) {
			size_t l = strlen(resp->partial_success->error_message);
			if (l >= cap)
				l = cap - 1;
			memcpy(msg, resp->partial_success->error_message, l);
			msg[l] = '\0';
		}
	}
	otelshim__otlp__export_trace_service_response__free_unpacked(resp, NULL);
	quiet_leave();
	return 0;
}
