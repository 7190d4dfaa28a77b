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

/* ---- attributes -------------------------------------------------------------- */

struct limits {
	uint32_t value_len;	/* 0: none */
	uint32_t count;
};

/* An AnyValue's payload size. */
static size_t value_size(const struct span_attr *a, const struct limits *l)
{
	switch (a->type) {
	case SPAN_ATTR_INT:
		return varint_size(TAG(3, WT_VARINT)) +
		       varint_size((uint64_t)a->v.i);
	case SPAN_ATTR_BOOL:
		return 2;
	case SPAN_ATTR_DOUBLE:
		return 1 + 8;
	default:
		return len_field(1, a->len);	/* adjusted by the caller */
	}
}

static size_t str_len(const struct span_record *r, const struct span_attr *a,
		      const struct limits *l)
{
	return l->value_len ? utf8_prefix(r->arena + a->off, a->len,
					  l->value_len)
			    : a->len;
}

/*
 * Key lengths by key address, for one encoding: keys are static strings,
 * and a batch names the same dozen or so in every span.
 */
#define KEY_CACHE 64

struct key_cache {
	const char *key;
	size_t len;
};

static inline size_t key_len(struct key_cache *kc, const char *key)
{
	uintptr_t x = (uintptr_t)key;
	struct key_cache *c = &kc[(x ^ x >> 6) % KEY_CACHE];

	if (c->key != key) {
		c->key = key;
		c->len = strlen(key);
	}
	return c->len;
}

static uint8_t *put_kv(uint8_t *p, const struct span_record *r,
		       const struct span_attr *a, const struct limits *l,
		       struct key_cache *kc)
{
	size_t kl = key_len(kc, a->key);
	size_t sl = a->type == SPAN_ATTR_STRING ? str_len(r, a, l) : 0;
	size_t vs = a->type == SPAN_ATTR_STRING ? len_field(1, sl)
						: value_size(a, l);

	p = put_len(p, 9, len_field(1, kl) + len_field(2, vs));
	p = put_bytes(p, 1, a->key, kl);
	p = put_len(p, 2, vs);
	switch (a->type) {
	case SPAN_ATTR_INT:
		p = put_varint(p, TAG(3, WT_VARINT));
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
		return put_text(p, 1, r->arena + a->off, sl);
	}
}

/*
 * Attributes that are not in the record: a key and a string value, cut
 * to the value length limit. A small list, the same in both passes.
 */
#define EXTRA_MAX 3

struct extra {
	const char *key[EXTRA_MAX];
	const char *val[EXTRA_MAX];
	size_t len[EXTRA_MAX];
	size_t n;		/* kept */
	uint32_t dropped;	/* over the count limit */
};

static void extra_add(struct extra *x, const struct limits *l, size_t room,
		      const char *key, const char *val, size_t len)
{
	if (x->n >= room || x->n >= EXTRA_MAX) {
		x->dropped++;
		return;
	}
	x->key[x->n] = key;
	x->val[x->n] = val;
	x->len[x->n] = l->value_len ? utf8_prefix(val, len, l->value_len)
				    : len;
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

static const uint8_t zero16[16];

static size_t n_attrs(const struct span_record *r, const struct limits *l)
{
	return r->n_attrs < l->count ? r->n_attrs : l->count;
}

/*
 * The code.* attributes of a span (after its own, within the count
 * limit), and its exception event's attributes.
 */
struct span_plan {
	struct extra code;
	struct extra event;
	size_t event_size;	/* Span.Event payload; 0: no event */
};

static const char EVENT_NAME[] = "exception";

static void plan_span(const struct span_record *r, const struct span_code *c,
		      const struct limits *l, struct span_plan *pl)
{
	size_t room = l->count - n_attrs(r, l);

	memset(pl, 0, sizeof(*pl));
	if (c && c->function)
		extra_add(&pl->code, l, room, "code.function.name",
			  c->function, c->function_len);
	if (c && c->stacktrace)
		extra_add(&pl->code, l, room, "code.stacktrace", c->stacktrace,
			  c->stacktrace_len);
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
}

static uint32_t dropped(const struct span_record *r, const struct limits *l,
			const struct span_plan *pl)
{
	return (uint32_t)r->dropped_attrs +
	       (uint32_t)(r->n_attrs - n_attrs(r, l)) + pl->code.dropped;
}

static int has_link(const struct span_record *r)
{
	return memcmp(r->link_span_id, zero16, 8) != 0;
}

static size_t link_size(void)
{
	return len_field(1, 16) + len_field(2, 8) + 1 + 4;
}

static size_t status_size(const struct span_record *r)
{
	size_t n = 2;	/* code */

	if (r->status == SPAN_STATUS_ERROR && r->status_message.len)
		n += len_field(2, r->status_message.len);
	return n;
}

/*
 * At most how many bytes a span's payload takes: every varint counted at
 * its widest (ten bytes), every string at its full length. Fixed fields:
 * ids 28, trace state 11, parent 10, name 11, kind 11, times 18, dropped
 * 11, link 55, status 24, flags 6 (185); an attribute: its KeyValue's tag
 * and length 11, key field 11, value field's tag and length 11, value 11
 * (44); the code attributes and the event at their exact sizes, plus 11
 * for the dropped events count.
 */
static size_t span_bound(const struct span_record *r, const struct limits *l,
			 const struct span_plan *pl, struct key_cache *kc)
{
	size_t n = 200 + r->name.len + r->trace_state.len +
		   r->status_message.len;
	size_t na = n_attrs(r, l);

	for (size_t i = 0; i < na; i++)
		n += 44 + key_len(kc, r->attrs[i].key) + r->attrs[i].len;
	for (size_t i = 0; i < pl->code.n; i++)
		n += extra_size(&pl->code, 9, i);
	if (pl->event_size)
		n += len_field(11, pl->event_size);
	if (r->dropped_events)
		n += 11;
	return n;
}

/*
 * ScopeSpans.spans: the tag, the length, the span. The payload is written
 * once, after room for its length at the width of bound's varint; when
 * the length turns out narrower, the payload moves back to meet it.
 */
static uint8_t *put_span(uint8_t *p, const struct span_record *r,
			 const struct span_plan *pl, const struct limits *l,
			 struct key_cache *kc, size_t bound)
{
	size_t na = n_attrs(r, l);
	size_t room = varint_size(bound);
	uint8_t *start = p;
	uint8_t *body = p + 1 + room;

	p = body;
	p = put_bytes(p, 1, r->trace_id, 16);
	p = put_bytes(p, 2, r->span_id, 8);
	if (r->trace_state.len)
		p = put_text(p, 3, span_record_str(r, r->trace_state),
			     r->trace_state.len);
	if (memcmp(r->parent_span_id, zero16, 8))
		p = put_bytes(p, 4, r->parent_span_id, 8);
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
	for (size_t i = 0; i < na; i++)
		p = put_kv(p, r, &r->attrs[i], l, kc);
	for (size_t i = 0; i < pl->code.n; i++)
		p = put_extra(p, &pl->code, 9, i);
	if (dropped(r, l, pl)) {
		*p++ = TAG(10, WT_VARINT);
		p = put_varint(p, dropped(r, l, pl));
	}
	if (pl->event_size) {
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
	}
	if (r->dropped_events) {
		*p++ = TAG(12, WT_VARINT);
		p = put_varint(p, r->dropped_events);
	}
	if (has_link(r)) {
		p = put_len(p, 13, link_size());
		p = put_bytes(p, 1, r->link_trace_id, 16);
		p = put_bytes(p, 2, r->link_span_id, 8);
		*p++ = TAG(6, WT_I32);
		p = put_fixed32(p, r->link_flags);
	}
	if (r->status != SPAN_STATUS_UNSET) {
		p = put_len(p, 15, status_size(r));
		if (r->status == SPAN_STATUS_ERROR && r->status_message.len)
			p = put_text(p, 2,
				     span_record_str(r, r->status_message),
				     r->status_message.len);
		*p++ = TAG(3, WT_VARINT);
		*p++ = r->status;
	}
	if (r->flags) {
		/* field 16, fixed32: tag 0x85 0x01 */
		p = put_varint(p, TAG(16, WT_I32));
		p = put_fixed32(p, r->flags);
	}

	size_t size = (size_t)(p - body);
	size_t width = varint_size(size);
	if (width < room)
		memmove(start + 1 + width, body, size);
	put_len(start, 2, size);
	return start + 1 + width + size;
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
	struct key_cache kc[KEY_CACHE];
	size_t nres = res ? res->n : 0;

	b->len = 0;
	memset(kc, 0, sizeof(kc));

	/* Resource */
	size_t resource = 0;
	for (size_t i = 0; i < nres; i++)
		resource += len_field(1, rattr_size(&res->attrs[i]));
	/* InstrumentationScope */
	size_t scope = len_field(1, strlen(SCOPE_NAME)) +
		       len_field(2, strlen(OTELSHIM_VERSION));

	size_t room = head_size(resource, scope, SPAN_ESTIMATE * n);
	if (grow(b, room + 2 * SPAN_ESTIMATE * n + 2048, 0) < 0)
		return -ENOMEM;
	size_t used = room;
	for (size_t i = 0; i < n; i++) {
		struct span_plan pl;
		plan_span(spans[i], codes ? &codes[i] : NULL, &l, &pl);
		size_t bound = span_bound(spans[i], &l, &pl, kc);
		size_t need = 1 + varint_size(bound) + bound;
		if (b->cap - used < need && grow(b, used + need, used) < 0)
			return -ENOMEM;
		used = (size_t)(put_span(b->data + used, spans[i], &pl, &l, kc,
					 bound) - b->data);
	}
	size_t spans_len = used - room;
	size_t head = head_size(resource, scope, spans_len);
	if (head > room && grow(b, head + spans_len, used) < 0)
		return -ENOMEM;
	uint8_t *buf = b->data, *p;
	if (head != room)
		memmove(buf + head, buf + room, spans_len);

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
