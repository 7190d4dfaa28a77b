/*
 * otlp.c - span records to an OTLP ExportTraceServiceRequest, and the
 * export response back.
 *
 * Encoding is written by hand from the field numbers in SPEC.md section 4
 * (the same as proto/otlp.proto): the message has one fixed shape (one
 * resource, one scope, spans with attributes, an optional exception
 * event, an optional link and status), every length is known from the
 * records, and a generic packer spent most of the exporter's time on
 * reflection (about 15 000
 * instructions per span with libprotobuf-c; see scripts/bench). Two passes:
 * the sizes of every span (kept, since each length prefix comes before
 * its bytes), then the bytes, into one buffer of the exact size.
 *
 * Field order and presence follow proto3 as protobuf-c wrote them: fields
 * in number order, scalars at their default omitted, oneof members
 * (AnyValue) always written. Decoding the response stays with protobuf-c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otlp.h"
#include "otlp.pb-c.h"

/* Wire types */
#define WT_VARINT 0
#define WT_I64 1
#define WT_LEN 2
#define WT_I32 5

#define TAG(field, wt) (((uint32_t)(field) << 3) | (wt))

static size_t varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static uint8_t *put_fixed64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static uint8_t *put_fixed32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
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
	memcpy(p, b, n);
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
static uint8_t *put_text(uint8_t *p, uint32_t field, const char *s, size_t n)
{
	const uint8_t *b = (const uint8_t *)s;

	p = put_len(p, field, n);
	/* the usual case, ASCII: eight bytes at a time, then one copy */
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

/* KeyValue payload size. */
static size_t kv_size(const struct span_record *r, const struct span_attr *a,
		      const struct limits *l)
{
	size_t kl = strlen(a->key);
	size_t vs = a->type == SPAN_ATTR_STRING ? len_field(1, str_len(r, a, l))
						: value_size(a, l);
	return len_field(1, kl) + len_field(2, vs);
}

static uint8_t *put_kv(uint8_t *p, const struct span_record *r,
		       const struct span_attr *a, const struct limits *l)
{
	size_t kl = strlen(a->key);
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

/* Span payload size. */
static size_t span_size(const struct span_record *r, const struct span_code *c,
			const struct limits *l)
{
	struct span_plan pl;
	size_t n = len_field(1, 16) + len_field(2, 8);
	size_t na = n_attrs(r, l);

	plan_span(r, c, l, &pl);
	if (r->trace_state.len)
		n += len_field(3, r->trace_state.len);
	if (memcmp(r->parent_span_id, zero16, 8))
		n += len_field(4, 8);
	if (r->name.len)
		n += len_field(5, r->name.len);
	if (r->kind)
		n += 1 + varint_size(r->kind);
	n += 2 * (1 + 8);
	for (size_t i = 0; i < na; i++)
		n += len_field(9, kv_size(r, &r->attrs[i], l));
	for (size_t i = 0; i < pl.code.n; i++)
		n += extra_size(&pl.code, 9, i);
	if (dropped(r, l, &pl))
		n += 1 + varint_size(dropped(r, l, &pl));
	if (pl.event_size)
		n += len_field(11, pl.event_size);
	if (r->dropped_events)
		n += 1 + varint_size(r->dropped_events);
	if (has_link(r))
		n += len_field(13, link_size());
	if (r->status != SPAN_STATUS_UNSET)
		n += len_field(15, status_size(r));
	if (r->flags)
		n += 2 + 4;
	return n;
}

static uint8_t *put_span(uint8_t *p, const struct span_record *r,
			 const struct span_code *c, const struct limits *l,
			 size_t size)
{
	struct span_plan pl;
	size_t na = n_attrs(r, l);

	plan_span(r, c, l, &pl);
	p = put_len(p, 2, size);	/* ScopeSpans.spans */
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
		p = put_kv(p, r, &r->attrs[i], l);
	for (size_t i = 0; i < pl.code.n; i++)
		p = put_extra(p, &pl.code, 9, i);
	if (dropped(r, l, &pl)) {
		*p++ = TAG(10, WT_VARINT);
		p = put_varint(p, dropped(r, l, &pl));
	}
	if (pl.event_size) {
		p = put_len(p, 11, pl.event_size);
		*p++ = TAG(1, WT_I64);
		p = put_fixed64(p, r->exception.time_ns);
		p = put_bytes(p, 2, EVENT_NAME, sizeof(EVENT_NAME) - 1);
		for (size_t i = 0; i < pl.event.n; i++)
			p = put_extra(p, &pl.event, 3, i);
		if (pl.event.dropped) {
			*p++ = TAG(4, WT_VARINT);
			p = put_varint(p, pl.event.dropped);
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
	return p;
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

int otlp_encode(const struct resource *res,
		const struct span_record *const *spans,
		const struct span_code *codes, size_t n,
		uint32_t value_len_limit, uint32_t count_limit, uint8_t **out,
		size_t *out_len)
{
	struct limits l = {value_len_limit, count_limit};
	size_t nres = res ? res->n : 0;
	size_t local[1024];	/* the exporter's batches: no allocation */
	size_t *sizes = local;

	*out = NULL;
	*out_len = 0;
	if (n > sizeof(local) / sizeof(local[0])) {
		sizes = malloc(n * sizeof(*sizes));
		if (!sizes)
			return -ENOMEM;
	}

	/* Resource */
	size_t resource = 0;
	for (size_t i = 0; i < nres; i++)
		resource += len_field(1, rattr_size(&res->attrs[i]));
	/* InstrumentationScope */
	size_t scope = len_field(1, strlen(SCOPE_NAME)) +
		       len_field(2, strlen(OTELSHIM_VERSION));
	/* ScopeSpans */
	size_t scope_spans = len_field(1, scope);
	for (size_t i = 0; i < n; i++) {
		sizes[i] = span_size(spans[i], codes ? &codes[i] : NULL, &l);
		scope_spans += len_field(2, sizes[i]);
	}
	/* ResourceSpans */
	size_t resource_spans = len_field(1, resource) +
				len_field(2, scope_spans);
	size_t total = len_field(1, resource_spans);

	/* *out holds the buffer from the start (see otlp.h) */
	uint8_t *buf = malloc(total);
	if (!buf) {
		if (sizes != local)
			free(sizes);
		return -ENOMEM;
	}
	*out = buf;
	uint8_t *p = buf;
	p = put_len(p, 1, resource_spans);	/* request.resource_spans */
	p = put_len(p, 1, resource);		/* .resource */
	for (size_t i = 0; i < nres; i++)
		p = put_rattr(p, &res->attrs[i]);
	p = put_len(p, 2, scope_spans);		/* .scope_spans */
	p = put_len(p, 1, scope);		/* .scope */
	p = put_bytes(p, 1, SCOPE_NAME, strlen(SCOPE_NAME));
	p = put_bytes(p, 2, OTELSHIM_VERSION, strlen(OTELSHIM_VERSION));
	for (size_t i = 0; i < n; i++)
		p = put_span(p, spans[i], codes ? &codes[i] : NULL, &l,
			     sizes[i]);
	if (sizes != local)
		free(sizes);
	if ((size_t)(p - buf) != total) {
		/* cannot happen: the two passes disagree */
		*out = NULL;
		free(buf);
		return -EPROTO;
	}
	*out_len = total;
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
	resp = otelshim__otlp__export_trace_service_response__unpack(NULL, len,
								    buf);
	if (!resp)
		return -1;
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
	return 0;
}
