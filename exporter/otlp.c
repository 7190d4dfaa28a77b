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
 * scripts/bench).
 *
 * One pass, forwards (see otlp_encode): a length prefix comes before its
 * bytes, so a span's payload is written after two bytes for its length
 * (moved in the rare span that needs another width), and the lengths
 * inside a span are known before their bytes are written: a KeyValue's
 * from its key (cached, see "attribute keys") and its value.
 *
 * Field order and presence follow proto3 as protobuf-c wrote them: fields
 * in number order, scalars at their default omitted, oneof members
 * (AnyValue) always written. The bytes are exactly those of the earlier
 * encoders (a differential test compared them on millions of batches).
 * Decoding the response stays with protobuf-c.
 */
#include <errno.h>
#include <stddef.h>
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
	if (v < 0x4000) {	/* ports, status codes, span lengths */
		p[0] = (uint8_t)(v | 0x80);
		p[1] = (uint8_t)(v >> 7);
		return p + 2;
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

/* ---- strings ------------------------------------------------------------- */

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
 * Copy n bytes; returns the OR of the bytes copied, taken as words, whose
 * high bits (HI_BITS) are all clear when every byte is ASCII. Reads
 * exactly s[0..n) and writes exactly d[0..n), in overlapping words as
 * copy_short does (16 bytes at a time from 17 on, in GCC's portable
 * vector type), so that a usual value costs a few loads and stores and
 * one test.
 */
#define HI_BITS 0x8080808080808080ull

typedef uint64_t u64x2 __attribute__((vector_size(16)));

static inline uint64_t copy_or(uint8_t *d, const uint8_t *s, size_t n)
{
	if (n > 16) {
		u64x2 x, y, acc = {0, 0};
		for (size_t i = 0; i + 16 < n; i += 16) {
			memcpy(&x, s + i, 16);
			memcpy(d + i, &x, 16);
			acc |= x;
		}
		memcpy(&y, s + n - 16, 16);
		memcpy(d + n - 16, &y, 16);
		acc |= y;
		return acc[0] | acc[1];
	}
	if (n >= 8) {
		uint64_t a, b;
		memcpy(&a, s, 8);
		memcpy(&b, s + n - 8, 8);
		memcpy(d, &a, 8);
		memcpy(d + n - 8, &b, 8);
		return a | b;
	}
	if (n >= 4) {
		uint32_t x, y;
		memcpy(&x, s, 4);
		memcpy(&y, s + n - 4, 4);
		memcpy(d, &x, 4);
		memcpy(d + n - 4, &y, 4);
		return x | y;
	}
	if (n) {		/* 1 to 3: the first, middle and last */
		uint8_t x = s[0], y = s[n / 2], z = s[n - 1];
		d[0] = x;
		d[n / 2] = y;
		d[n - 1] = z;
		return x | y | z;
	}
	return 0;
}

/*
 * A string's bytes: proto3 strings must be UTF-8, and a strict collector
 * rejects a whole request for one bad byte, so every byte of an invalid
 * sequence becomes '?' (the length stays the same).
 */
static __attribute__((noinline)) uint8_t *put_utf8(uint8_t *p,
						   const uint8_t *b,
						   size_t n);

static inline uint8_t *put_str(uint8_t *p, const char *s, size_t n)
{
	const uint8_t *b = (const uint8_t *)s;

	/* the usual case, ASCII: one copy and one test */
	if (__builtin_expect(!(copy_or(p, b, n) & HI_BITS), 1))
		return p + n;
	return put_utf8(p, b, n);	/* copies again, repaired */
}

/* A string field: tag, length, bytes (put_str). */
static inline uint8_t *put_text(uint8_t *p, uint32_t field, const char *s,
				size_t n)
{
	p = put_len(p, field, n);
	return put_str(p, s, n);
}

/* put_str's bytes when some are not ASCII. */
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

/* ---- the output buffer --------------------------------------------------- */

/*
 * Spans are written forwards into b->data. Before each span the writer
 * makes room for the most the span can take (put_span; a long key makes
 * room for its own excess) plus SLACK: some writes are fixed-size block
 * copies that run past the bytes they mean (a key's prefix is copied as
 * all of struct otlp_key.pre), which later writes cover or which lie past
 * the message's end; and a span's length may need a few bytes more than
 * the two it was given.
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

/* ---- attribute keys ------------------------------------------------------ */

/*
 * Span.attributes (field 9): a KeyValue starts with bytes that depend on
 * its key alone,
 *
 *     4a LL 0a KL key... 12
 *
 * (the KeyValue's tag and length, the key field, the value field's tag),
 * where only LL, the KeyValue's length, depends on the value. These bytes
 * are made once per key address and kept in b->keys from batch to batch
 * (keys are static: exporter.h), a 2-way set-associative table; each
 * attribute copies them as one fixed-size block and patches LL. A key too
 * long for pre[] (over 43 bytes) is marked LONG_KEY and written field by
 * field (put_attr_long).
 *
 * Spans from one call site name the same keys in the same order, so the
 * entry found last time at attribute position i (b->recent[i], its byte
 * offset in b->keys) is tried before the hash: one load and one compare.
 */
#define KV_PRE_MAX ((uint32_t)sizeof(((struct otlp_key *)0)->pre))
/* k->n of a key without a prefix: too big for put_attr's one-byte lengths,
   so that its check sends the attribute the long way */
#define LONG_KEY 0x80

_Static_assert(sizeof(struct otlp_key) * OTLP_KEYS <= 0x10000,
	       "b->recent holds uint16_t offsets");
_Static_assert(OTLP_KEYS == 2 << 6, "64 sets of 2: key_get's x >> 58");

static __attribute__((noinline)) const struct otlp_key *
key_fill(struct otlp_key *set, const char *key)
{
	size_t kl = strlen(key);
	uint8_t *q = set[0].pre;

	set[1] = set[0];	/* the older entry goes to the second way */
	set[0].key = key;
	set[0].len = (uint32_t)kl;
	set[0].n = LONG_KEY;
	memset(q, 0, KV_PRE_MAX);
	if (kl + 5 <= KV_PRE_MAX) {
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

static __attribute__((noinline)) const struct otlp_key *
key_get(struct otlp_buf *b, const char *key)
{
	uint64_t x = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ull;
	struct otlp_key *set = &b->keys[(x >> 58) * 2];

	if (set[0].key == key)
		return &set[0];
	if (set[1].key == key)
		return &set[1];
	return key_fill(set, key);
}

/* key's entry, tried first at *recent (see above), which it updates. */
static inline const struct otlp_key *key_at(struct otlp_buf *b,
					    uint16_t *recent, const char *key)
{
	const struct otlp_key *k =
		(const struct otlp_key *)((const char *)b->keys + *recent);

	if (__builtin_expect(k->key == key, 1))
		return k;
	k = key_get(b, key);
	*recent = (uint16_t)((const char *)k - (const char *)b->keys);
	return k;
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

/* An AnyValue's payload size (a string of sl bytes). */
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

/* An AnyValue's payload (a string of sl bytes). */
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
 * The most bytes a record attribute takes (but for a long key's excess):
 * a string value is never written past the arena's size (a record holds
 * no longer one; put_attr_long cuts it there so that the bound holds for
 * any record), its key's prefix at most KV_PRE_MAX, its lengths and tags
 * and a fixed-size copy's run past its bytes at most ATTR_ROOM. A span
 * makes room for this many per attribute once (put_span), instead of a
 * check per attribute.
 */
#define ATTR_ROOM (KV_PRE_MAX + 16)
#define ATTR_MAX (ATTR_ROOM + KV_PRE_MAX + SPAN_ARENA_SIZE)

/*
 * A record attribute field by field, for a long key or a KeyValue of 128
 * bytes or more (whose lengths take more than one byte), in room for
 * ATTR_MAX bytes; a long key makes room for its excess, keeping bound
 * bytes after it (put_attrs). Returns the end, or NULL when b cannot
 * grow.
 */
static __attribute__((noinline)) uint8_t *
put_attr_long(struct otlp_buf *b, uint8_t *p, const struct span_record *r,
	      const struct span_attr *a, const struct otlp_key *k, size_t sl,
	      size_t bound)
{
	if (sl > SPAN_ARENA_SIZE)
		sl = SPAN_ARENA_SIZE;
	if (k->n >= LONG_KEY) {
		p = room(b, p, ATTR_ROOM + k->len + sl + bound);
		if (!p)
			return NULL;
	}
	size_t vs = value_size(a, sl);

	p = put_len(p, 9, len_field(1, k->len) + len_field(2, vs));
	p = put_bytes(p, 1, a->key, k->len);
	p = put_len(p, 2, vs);
	return put_value(p, r, a, sl);
}

/*
 * One record attribute, in room for ATTR_MAX bytes. Any type other than
 * INT, BOOL and DOUBLE is a string (as before). The usual KeyValue is
 * shorter than 128 bytes, so that every length inside it is one byte; one
 * with an int, bool or double value always is (at most 11 bytes of value
 * after at most 48 of prefix).
 */
static inline uint8_t *put_attr(struct otlp_buf *b, uint8_t *p,
				const struct span_record *r,
				const struct span_attr *a,
				const struct otlp_key *k, uint32_t value_len,
				size_t bound)
{
	uint32_t n = k->n;
	uint8_t *kv = p;
	uint8_t *v = p + n;	/* the value field's length byte */
	unsigned type = a->type;

	memcpy(kv, k->pre, KV_PRE_MAX);
	if (__builtin_expect(type - 1u >= 3u, 1)) {	/* a string */
		const char *s = r->arena + a->off;
		size_t sl = a->len;
		if (value_len)
			sl = utf8_prefix(s, sl, value_len);
		/* LL counts the prefix after it (n - 2), the value field's
		   length byte, then 0a, the string's length byte and the
		   bytes; a long key (n >= 0x80) goes the long way too */
		if (__builtin_expect(n + 1 + sl >= 0x80, 0))
			return put_attr_long(b, p, r, a, k, sl, bound);
		v[0] = (uint8_t)(sl + 2);
		v[1] = TAG(1, WT_LEN);
		v[2] = (uint8_t)sl;
		kv[1] = (uint8_t)(n + 1 + sl);
		return put_str(v + 3, s, sl);
	}
	if (__builtin_expect(n >= LONG_KEY, 0))
		return put_attr_long(b, p, r, a, k, 0, bound);
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
 * The record's first na attributes (na <= SPAN_MAX_ATTRS), in the room
 * put_span made: bound bytes from the span's start, ATTR_MAX of them per
 * attribute. Inlined twice by put_span: with and without a value length
 * limit. Returns the end, or NULL when b cannot grow.
 */
static inline __attribute__((always_inline)) uint8_t *
put_attrs(struct otlp_buf *b, uint8_t *p, const struct span_record *r,
	  size_t na, size_t bound, uint32_t value_len)
{
	const struct span_attr *a = r->attrs, *stop = r->attrs + na;
	uint16_t *recent = b->recent;

	for (; a < stop; a++, recent++) {
		const struct otlp_key *k = key_at(b, recent, a->key);
		p = put_attr(b, p, r, a, k, value_len, bound);
		if (__builtin_expect(!p, 0))
			return NULL;
	}
	return p;
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
	size_t size;		/* the bytes of all of it */
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

/* An 8-byte id is absent when it is all zero. */
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
 * ScopeSpans.spans: the tag, the length, the span. Room is made first for
 * the most the span can take (bound: its fixed fields, strings, code
 * attributes and event, and ATTR_MAX, about 1.9 KiB, per attribute; so b
 * holds a few tens of KiB even for one span, once). The payload is written
 * after two bytes for its length (a span of 128 bytes to 16 KiB, the
 * usual); a payload of another size moves to meet its length. Returns the
 * end of the span, or NULL when b cannot grow.
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
	/* (a record holds at most SPAN_MAX_ATTRS: b->recent's size) */
	if (na > SPAN_MAX_ATTRS)
		na = SPAN_MAX_ATTRS;
	size_t bound = SPAN_FIXED + r->name.len + r->trace_state.len +
		       r->status_message.len + (planned ? pl.size : 0) +
		       na * ATTR_MAX;
	p = room(b, p, bound);
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

	if (l->value_len)
		p = put_attrs(b, p, r, na, bound, l->value_len);
	else
		p = put_attrs(b, p, r, na, bound, 0);	/* the usual */
	if (!p)
		return NULL;
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
		size_t ml = r->status == SPAN_STATUS_ERROR ?
			    r->status_message.len : 0;
		*p++ = TAG(15, WT_LEN);
		if (ml) {
			p = put_varint(p, 2 + len_field(2, ml));
			p = put_text(p, 2,
				     span_record_str(r, r->status_message), ml);
		} else {
			*p++ = 2;
		}
		*p++ = TAG(3, WT_VARINT);
		*p++ = r->status;	/* the byte, as ever */
	}
	if (r->flags) {
		*p++ = 0x85;	/* field 16, fixed32: tag 0x85 0x01 */
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
	/* one byte (under 128) or three and more (16 KiB and more): SLACK
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
