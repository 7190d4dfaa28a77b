/*
 * otlp.c - span records to an OTLP ExportTraceServiceRequest, and the
 * export response back, with protobuf-c and our own proto/otlp.proto.
 *
 * Encoding builds the protobuf-c message tree in one allocation sized up
 * front (no per-span or per-attribute malloc), lets protobuf-c pack it into
 * a second one, and frees the tree. Strings and ids are not copied into the
 * tree: they point into the span records, which outlive the call. Only
 * values cut by the attribute value length limit are copied, into the same
 * allocation.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otlp.h"
#include "otlp.pb-c.h"

typedef Otelshim__Otlp__ExportTraceServiceRequest Request;
typedef Otelshim__Otlp__ResourceSpans ResourceSpans;
typedef Otelshim__Otlp__ScopeSpans ScopeSpans;
typedef Otelshim__Otlp__InstrumentationScope Scope;
typedef Otelshim__Otlp__Resource Resource;
typedef Otelshim__Otlp__Span Span;
typedef Otelshim__Otlp__Span__Link Link;
typedef Otelshim__Otlp__Status Status;
typedef Otelshim__Otlp__KeyValue KeyValue;
typedef Otelshim__Otlp__AnyValue AnyValue;

/* A bump allocator over one malloc'd block; alignment of max_align_t. */
struct bump {
	char *base;
	size_t used, cap;
};

static void *bump_get(struct bump *b, size_t size)
{
	size_t a = _Alignof(max_align_t);
	size_t off = (b->used + a - 1) & ~(a - 1);

	if (off > b->cap || size > b->cap - off)
		return NULL; /* sized up front: cannot happen */
	b->used = off + size;
	return b->base + off;
}

#define BUMP_ARRAY(b, type, n) ((type *)bump_get((b), sizeof(type) * (n)))

/* Bytes of an array of n type with the bump's worst-case padding. */
#define BUMP_SIZE(type, n) (sizeof(type) * (n) + _Alignof(max_align_t))

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

static void fill_value(AnyValue *v, const struct span_record *r,
		       const struct span_attr *a, uint32_t len_limit,
		       struct bump *b)
{
	otelshim__otlp__any_value__init(v);
	switch (a->type) {
	case SPAN_ATTR_INT:
		v->value_case = OTELSHIM__OTLP__ANY_VALUE__VALUE_INT_VALUE;
		v->int_value = a->v.i;
		break;
	case SPAN_ATTR_BOOL:
		v->value_case = OTELSHIM__OTLP__ANY_VALUE__VALUE_BOOL_VALUE;
		v->bool_value = a->v.i != 0;
		break;
	case SPAN_ATTR_DOUBLE:
		v->value_case = OTELSHIM__OTLP__ANY_VALUE__VALUE_DOUBLE_VALUE;
		v->double_value = a->v.d;
		break;
	default: {
		const char *s = r->arena + a->off;
		size_t keep = a->len;

		v->value_case = OTELSHIM__OTLP__ANY_VALUE__VALUE_STRING_VALUE;
		if (len_limit)
			keep = utf8_prefix(s, a->len, len_limit);
		if (keep < a->len) {
			char *copy = bump_get(b, keep + 1);
			memcpy(copy, s, keep);
			copy[keep] = '\0';
			v->string_value = copy;
		} else {
			v->string_value = (char *)s;
		}
		break;
	}
	}
}

static void fill_span(Span *sp, const struct span_record *r, KeyValue *kvs,
		      KeyValue **kvp, AnyValue *vals, Status *st, Link *ln,
		      Link **lnp, uint32_t len_limit, uint32_t count_limit,
		      struct bump *b)
{
	static const uint8_t zero[16];
	size_t n = r->n_attrs;

	otelshim__otlp__span__init(sp);
	sp->trace_id.data = (uint8_t *)r->trace_id;
	sp->trace_id.len = 16;
	sp->span_id.data = (uint8_t *)r->span_id;
	sp->span_id.len = 8;
	if (memcmp(r->parent_span_id, zero, 8) != 0) {
		sp->parent_span_id.data = (uint8_t *)r->parent_span_id;
		sp->parent_span_id.len = 8;
	}
	sp->trace_state = (char *)span_record_str(r, r->trace_state);
	sp->name = (char *)span_record_str(r, r->name);
	sp->kind = (Otelshim__Otlp__Span__SpanKind)r->kind;
	sp->start_time_unix_nano = r->start_ns;
	sp->end_time_unix_nano = r->end_ns;
	sp->flags = r->flags;

	if (n > count_limit)
		n = count_limit;
	for (size_t i = 0; i < n; i++) {
		otelshim__otlp__key_value__init(&kvs[i]);
		kvs[i].key = (char *)r->attrs[i].key;
		fill_value(&vals[i], r, &r->attrs[i], len_limit, b);
		kvs[i].value = &vals[i];
		kvp[i] = &kvs[i];
	}
	sp->n_attributes = n;
	sp->attributes = kvp;
	sp->dropped_attributes_count =
		(uint32_t)r->dropped_attrs + (uint32_t)(r->n_attrs - n);

	otelshim__otlp__status__init(st);
	st->code = (Otelshim__Otlp__Status__StatusCode)r->status;
	/* The message means something only with Error (SPEC.md 4). */
	if (r->status == SPAN_STATUS_ERROR)
		st->message = (char *)span_record_str(r, r->status_message);
	if (r->status != SPAN_STATUS_UNSET)
		sp->status = st;

	if (memcmp(r->link_span_id, zero, 8) != 0) {
		otelshim__otlp__span__link__init(ln);
		ln->trace_id.data = (uint8_t *)r->link_trace_id;
		ln->trace_id.len = 16;
		ln->span_id.data = (uint8_t *)r->link_span_id;
		ln->span_id.len = 8;
		ln->flags = r->link_flags;
		lnp[0] = ln;
		sp->links = lnp;
		sp->n_links = 1;
	}
}

int otlp_encode(const struct resource *res,
		const struct span_record *const *spans, size_t n,
		uint32_t value_len_limit, uint32_t count_limit, uint8_t **out,
		size_t *out_len)
{
	size_t n_attrs = 0, str_bytes = 0, nres = res ? res->n : 0;
	struct bump b = {0};

	*out = NULL;
	*out_len = 0;
	for (size_t i = 0; i < n; i++) {
		n_attrs += spans[i]->n_attrs;
		str_bytes += spans[i]->arena_used + spans[i]->n_attrs *
			     _Alignof(max_align_t);
	}

	b.cap = BUMP_SIZE(Request, 1) + BUMP_SIZE(ResourceSpans, 1) +
		BUMP_SIZE(ResourceSpans *, 1) + BUMP_SIZE(Resource, 1) +
		BUMP_SIZE(ScopeSpans, 1) + BUMP_SIZE(ScopeSpans *, 1) +
		BUMP_SIZE(Scope, 1) + BUMP_SIZE(KeyValue, nres) +
		BUMP_SIZE(KeyValue *, nres) + BUMP_SIZE(AnyValue, nres) +
		BUMP_SIZE(Span, n) + BUMP_SIZE(Span *, n) +
		BUMP_SIZE(Status, n) + BUMP_SIZE(Link, n) +
		BUMP_SIZE(Link *, n) + n * 5 * _Alignof(max_align_t) +
		BUMP_SIZE(KeyValue, n_attrs) + BUMP_SIZE(KeyValue *, n_attrs) +
		BUMP_SIZE(AnyValue, n_attrs) + str_bytes;
	b.base = malloc(b.cap);
	if (!b.base)
		return -ENOMEM;

	Request *req = BUMP_ARRAY(&b, Request, 1);
	ResourceSpans *rs = BUMP_ARRAY(&b, ResourceSpans, 1);
	ResourceSpans **rsp = BUMP_ARRAY(&b, ResourceSpans *, 1);
	Resource *resource = BUMP_ARRAY(&b, Resource, 1);
	ScopeSpans *ss = BUMP_ARRAY(&b, ScopeSpans, 1);
	ScopeSpans **ssp = BUMP_ARRAY(&b, ScopeSpans *, 1);
	Scope *scope = BUMP_ARRAY(&b, Scope, 1);

	otelshim__otlp__export_trace_service_request__init(req);
	otelshim__otlp__resource_spans__init(rs);
	otelshim__otlp__resource__init(resource);
	otelshim__otlp__scope_spans__init(ss);
	otelshim__otlp__instrumentation_scope__init(scope);

	if (nres) {
		KeyValue *kv = BUMP_ARRAY(&b, KeyValue, nres);
		KeyValue **kvp = BUMP_ARRAY(&b, KeyValue *, nres);
		AnyValue *v = BUMP_ARRAY(&b, AnyValue, nres);

		for (size_t i = 0; i < nres; i++) {
			const struct resource_attr *a = &res->attrs[i];
			otelshim__otlp__key_value__init(&kv[i]);
			otelshim__otlp__any_value__init(&v[i]);
			kv[i].key = (char *)a->key;
			if (a->is_int) {
				v[i].value_case =
				  OTELSHIM__OTLP__ANY_VALUE__VALUE_INT_VALUE;
				v[i].int_value = a->i;
			} else {
				v[i].value_case =
				  OTELSHIM__OTLP__ANY_VALUE__VALUE_STRING_VALUE;
				v[i].string_value = (char *)a->str;
			}
			kv[i].value = &v[i];
			kvp[i] = &kv[i];
		}
		resource->attributes = kvp;
		resource->n_attributes = nres;
	}

	scope->name = "otelshim";
	scope->version = OTELSHIM_VERSION;

	Span *sp = BUMP_ARRAY(&b, Span, n);
	Span **spp = BUMP_ARRAY(&b, Span *, n);
	Status *st = BUMP_ARRAY(&b, Status, n);
	Link *ln = BUMP_ARRAY(&b, Link, n);
	Link **lnp = BUMP_ARRAY(&b, Link *, n);
	KeyValue *kvs = BUMP_ARRAY(&b, KeyValue, n_attrs);
	KeyValue **kvp = BUMP_ARRAY(&b, KeyValue *, n_attrs);
	AnyValue *vals = BUMP_ARRAY(&b, AnyValue, n_attrs);
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		fill_span(&sp[i], spans[i], kvs + k, kvp + k, vals + k, &st[i],
			  &ln[i], &lnp[i], value_len_limit, count_limit, &b);
		k += spans[i]->n_attrs;
		spp[i] = &sp[i];
	}

	ss->scope = scope;
	ss->spans = spp;
	ss->n_spans = n;
	ssp[0] = ss;
	rs->resource = resource;
	rs->scope_spans = ssp;
	rs->n_scope_spans = 1;
	rsp[0] = rs;
	req->resource_spans = rsp;
	req->n_resource_spans = 1;

	size_t len = otelshim__otlp__export_trace_service_request__get_packed_size(
		req);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf) {
		free(b.base);
		return -ENOMEM;
	}
	*out_len = otelshim__otlp__export_trace_service_request__pack(req, buf);
	*out = buf;
	free(b.base);
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
