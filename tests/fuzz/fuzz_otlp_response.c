/*
 * fuzz_otlp_response.c - libFuzzer target for the OTLP code of the
 * exporter (exporter/otlp.h): otlp_parse_response() on arbitrary bytes,
 * and otlp_encode() of span records and a resource built from the same
 * bytes, decoded back with the protobuf-c code generated from our own
 * proto/otlp.proto (what otlp.c itself uses to decode responses).
 *
 * Besides crashes and sanitizer reports, it traps on broken contracts:
 *   - the response parser returns 0 or -1, 0 for an empty body, agrees
 *     with protobuf-c on validity and rejected_spans, and gives the error
 *     message cut to the capacity and NUL-terminated, for every capacity;
 *   - the span-record setters keep their bookkeeping (arena_used within
 *     the arena, every string inside it and NUL-terminated, n_attrs within
 *     SPAN_MAX_ATTRS) whatever lengths they are given;
 *   - an encoded batch (up to 16 spans, so that lengths cross varint
 *     boundaries) decodes to one ResourceSpans with the resource's
 *     attributes, one ScopeSpans "otelshim", and the same number of spans,
 *     each with its ids, parent, name, kind, times, flags, status, trace
 *     state, link, and attributes: the first count_limit, string values cut
 *     to value_len_limit characters without splitting a UTF-8 sequence,
 *     and dropped_attributes_count = the record's own drops + the cut ones;
 *     then the code.* attributes of the span's span_code (function, stack)
 *     within what the count limit leaves; the exception event (one at
 *     most, its time, name, exception.type/message/stacktrace under the
 *     same limits, its own drop count) and dropped_events_count;
 *     every string is valid UTF-8 (the bytes of an ill-formed sequence
 *     become '?', SPEC.md 4 / exporter/otlp.c).
 *
 *     scripts/fuzz otlp_response 60
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "otlp.h"
#include "otlp.pb-c.h"

#define ANY(kind) OTELSHIM__OTLP__ANY_VALUE__VALUE_##kind

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the response ------------------------------------------------------- */

static void check_response(const uint8_t *data, size_t size)
{
	static const size_t caps[] = {0, 1, 2, 7, 128, 4096};
	Otelshim__Otlp__ExportTraceServiceResponse *ref;
	char msg[4097];

	ref = otelshim__otlp__export_trace_service_response__unpack(NULL, size,
								   data);
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		size_t cap = caps[i];
		int64_t rejected = 12345;
		memset(msg, '#', sizeof(msg));
		int r = otlp_parse_response(data, size, &rejected, msg, cap);
		CHECK(r == 0 || r == -1);
		CHECK(msg[cap] == '#');		/* nothing past cap */
		if (size == 0) {
			CHECK(r == 0 && rejected == 0);
			CHECK(!cap || msg[0] == '\0');
			continue;
		}
		CHECK((r == 0) == (ref != NULL));
		if (r < 0)
			continue;
		const Otelshim__Otlp__ExportTracePartialSuccess *ps =
			ref->partial_success;
		CHECK(rejected == (ps ? ps->rejected_spans : 0));
		if (!cap)
			continue;
		CHECK(memchr(msg, '\0', cap) != NULL);
		const char *em = ps && ps->error_message ? ps->error_message
							 : "";
		size_t want = strlen(em) < cap - 1 ? strlen(em) : cap - 1;
		CHECK(strlen(msg) == want && !memcmp(msg, em, want));
	}
	if (ref)
		otelshim__otlp__export_trace_service_response__free_unpacked(
			ref, NULL);
}

/* ---- records from bytes ------------------------------------------------- */

struct reader {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct reader *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static uint64_t u64(struct reader *r)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | u8(r);
	return v;
}

static void bytes(struct reader *r, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = u8(r);
}

/*
 * A string for a setter: a length of up to 2047 (two bytes), then either
 * one byte repeated (so that long strings are cheap to reach) or the next
 * bytes of the input.
 */
static const char *str(struct reader *r, size_t *len)
{
	static char buf[2048];
	size_t hi = u8(r), lo = u8(r);
	size_t n = (hi << 8 | lo) % sizeof(buf);
	uint8_t mode = u8(r);

	if (mode & 1) {
		if (n > r->n)
			n = r->n;
		memcpy(buf, r->p, n);
		r->p += n;
		r->n -= n;
	} else {
		memset(buf, mode >> 1, n);
	}
	*len = n;
	return buf;
}

static const char *const keys[] = {
	"http.request.method", "url.full", "server.address", "server.port",
	"db.query.text", "error.type", "k", "",
};

static void check_str(const struct span_record *r, struct span_str s)
{
	CHECK(s.off < SPAN_ARENA_SIZE && s.len < SPAN_ARENA_SIZE - s.off);
	CHECK(r->arena[s.off + s.len] == '\0');
}

/* The setters' bookkeeping. */
static void check_record(const struct span_record *r)
{
	CHECK(r->arena_used <= SPAN_ARENA_SIZE);
	CHECK(r->n_attrs <= SPAN_MAX_ATTRS);
	CHECK(r->n_frames <= SPAN_MAX_FRAMES);
	check_str(r, r->name);
	check_str(r, r->status_message);
	check_str(r, r->trace_state);
	if (r->has_exception) {
		check_str(r, r->exception.type);
		check_str(r, r->exception.message);
		CHECK(r->exception.type.len || r->exception.message.len);
	}
	for (int i = 0; i < r->n_attrs; i++)
		if (r->attrs[i].type == SPAN_ATTR_STRING)
			check_str(r, (struct span_str){r->attrs[i].off,
						       r->attrs[i].len});
}

static void build_record(struct reader *rd, struct span_record *r)
{
	const char *s;
	size_t len;

	span_record_init(r);
	bytes(rd, r->trace_id, 16);
	bytes(rd, r->span_id, 8);
	if (u8(rd) & 1)
		bytes(rd, r->parent_span_id, 8);
	if (u8(rd) & 1) {
		bytes(rd, r->link_trace_id, 16);
		bytes(rd, r->link_span_id, 8);
		r->link_flags = (uint32_t)u64(rd);
	}
	r->flags = (uint32_t)u64(rd);
	r->start_ns = u64(rd);
	r->end_ns = u64(rd);
	r->kind = (uint8_t)(u8(rd) % 6);

	s = str(rd, &len);
	span_record_set_name(r, s, len);
	check_record(r);
	uint8_t st = u8(rd) % 3;
	s = str(rd, &len);
	span_record_set_status(r, (enum span_status)st, s, len);
	check_record(r);
	if (u8(rd) & 1) {
		s = str(rd, &len);
		span_record_set_trace_state(r, s, len);
		check_record(r);
	}
	int n_ops = u8(rd) % 48;
	for (int i = 0; i < n_ops && rd->n; i++) {
		uint8_t op = u8(rd);
		const char *key = keys[(op >> 2) % 8];
		switch (op & 3) {
		case SPAN_ATTR_STRING:
			s = str(rd, &len);
			span_record_add_str(r, key, s, len);
			break;
		case SPAN_ATTR_INT:
			span_record_add_int(r, key, (int64_t)u64(rd));
			break;
		case SPAN_ATTR_BOOL:
			span_record_add_bool(r, key, u8(rd));
			break;
		default: {
			uint64_t b = u64(rd);
			double d;
			memcpy(&d, &b, sizeof(d));
			span_record_add_double(r, key, d);
			break;
		}
		}
		check_record(r);
	}
	/* exception events: none, one, or more (the later ones dropped) */
	int n_ev = u8(rd) % 4;
	for (int i = 0; i < n_ev && rd->n; i++) {
		size_t tl, ml;
		static char type[2048];
		s = str(rd, &tl);
		memcpy(type, s, tl);
		s = str(rd, &ml);
		int had = r->has_exception;
		uint16_t used = r->arena_used, dropped = r->dropped_events;
		int ret = span_record_set_exception(r, u64(rd), type, tl, s, ml);
		CHECK(ret == 0 || ret == -ENOSPC);
		CHECK(ret == 0 ? !had && r->has_exception
			       : r->arena_used == used &&
					 r->dropped_events == dropped + 1 &&
					 r->has_exception == had);
		check_record(r);
	}
	uint64_t frames[SPAN_MAX_FRAMES + 4];
	unsigned nf = u8(rd) % (SPAN_MAX_FRAMES + 4);
	for (unsigned i = 0; i < nf; i++)
		frames[i] = u64(rd);
	span_record_set_frames(r, frames, nf);
	check_record(r);
}

/*
 * A span's text from its addresses, as the symbolizer would give it:
 * a function name and a stack, each present or not, from the input.
 */
static void build_code(struct reader *rd, struct span_code *c, char *buf)
{
	const char *s;
	size_t len;

	memset(c, 0, sizeof(*c));
	uint8_t which = u8(rd);
	if (which & 1) {
		s = str(rd, &len);
		memcpy(buf, s, len);
		c->function = buf;
		c->function_len = (uint32_t)len;
		buf += len;
	}
	if (which & 2) {
		s = str(rd, &len);
		memcpy(buf, s, len);
		c->stacktrace = buf;
		c->stacktrace_len = (uint32_t)len;
	}
}

/* ---- what the decoded request must say ---------------------------------- */

/*
 * The byte length of the first limit characters of s[0..len): a character
 * is a UTF-8 lead byte and the continuation bytes its length calls for, as
 * far as they are there; any other byte is a character by itself.
 */
static size_t utf8_cut(const char *s, size_t len, uint32_t limit)
{
	size_t i = 0;

	for (uint32_t c = 0; i < len && c < limit; c++) {
		unsigned char b = (unsigned char)s[i];
		size_t want = b >= 0xF0 && b < 0xF8   ? 4
			      : b >= 0xE0 && b < 0xF0 ? 3
			      : b >= 0xC0 && b < 0xE0 ? 2
						      : 1;
		size_t k = 1;
		while (k < want && i + k < len &&
		       ((unsigned char)s[i + k] & 0xC0) == 0x80)
			k++;
		i += k;
	}
	return i;
}

/*
 * What a string field must carry (proto3 strings are UTF-8): raw[0..n) with
 * each well-formed UTF-8 sequence (RFC 3629: shortest form, no surrogates,
 * at most U+10FFFF) kept and every other byte replaced by '?', as it
 * decodes in C (up to a NUL). Checks got against it.
 */
static void check_text(const char *got, const char *raw, size_t n)
{
	static char want[4096];
	const uint8_t *b = (const uint8_t *)raw;
	size_t k = 0;

	CHECK(n <= sizeof(want));
	for (size_t i = 0; i < n;) {
		uint32_t cp = b[i];
		size_t len = b[i] < 0x80 ? 1 : b[i] >= 0xC0 && b[i] < 0xE0 ? 2
			   : b[i] >= 0xE0 && b[i] < 0xF0 ? 3
			   : b[i] >= 0xF0 && b[i] < 0xF8 ? 4 : 0;
		int ok = len && i + len <= n;
		if (len > 1)
			cp = b[i] & (0x7F >> len);
		for (size_t j = 1; ok && j < len; j++) {
			ok = (b[i + j] & 0xC0) == 0x80;
			cp = cp << 6 | (b[i + j] & 0x3F);
		}
		if (ok && len > 1)	/* shortest form, a scalar value */
			ok = cp >= (len == 2 ? 0x80u : len == 3 ? 0x800u
							: 0x10000u) &&
			     cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
		if (ok) {
			memcpy(want + k, b + i, len);
			k += len;
			i += len;
		} else {
			want[k++] = '?';
			i++;
		}
	}
	size_t z = strnlen(want, k);
	CHECK(strlen(got) == z && !memcmp(got, want, z));
}

static void check_bytes(ProtobufCBinaryData b, const uint8_t *want, size_t n)
{
	CHECK(b.len == n && (!n || !memcmp(b.data, want, n)));
}

static int zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* A key and string value, cut to the length limit. */
static void check_kv_str(const Otelshim__Otlp__KeyValue *kv, const char *key,
			 const char *s, size_t n, uint32_t len_limit)
{
	CHECK(!strcmp(kv->key, key) && kv->value);
	CHECK(kv->value->value_case == ANY(STRING_VALUE));
	check_text(kv->value->string_value, s,
		   len_limit ? utf8_cut(s, n, len_limit) : n);
}

static void check_span(const Otelshim__Otlp__Span *sp,
		       const struct span_record *r, const struct span_code *c,
		       uint32_t len_limit, uint32_t count_limit)
{
	check_bytes(sp->trace_id, r->trace_id, 16);
	check_bytes(sp->span_id, r->span_id, 8);
	check_bytes(sp->parent_span_id, r->parent_span_id,
		    zero(r->parent_span_id, 8) ? 0 : 8);
	check_text(sp->name, span_record_str(r, r->name), r->name.len);
	check_text(sp->trace_state, span_record_str(r, r->trace_state),
		   r->trace_state.len);
	CHECK((int)sp->kind == r->kind);
	CHECK(sp->start_time_unix_nano == r->start_ns);
	CHECK(sp->end_time_unix_nano == r->end_ns);
	CHECK(sp->flags == r->flags);
	if (r->status == SPAN_STATUS_UNSET) {
		CHECK(sp->status == NULL);
	} else {
		CHECK(sp->status && (int)sp->status->code == r->status);
		if (r->status == SPAN_STATUS_ERROR)
			check_text(sp->status->message,
				   span_record_str(r, r->status_message),
				   r->status_message.len);
		else
			CHECK(!strcmp(sp->status->message, ""));
	}
	if (zero(r->link_span_id, 8)) {
		CHECK(sp->n_links == 0);
	} else {
		CHECK(sp->n_links == 1);
		check_bytes(sp->links[0]->trace_id, r->link_trace_id, 16);
		check_bytes(sp->links[0]->span_id, r->link_span_id, 8);
		CHECK(sp->links[0]->flags == r->link_flags);
	}
	size_t keep = r->n_attrs < count_limit ? r->n_attrs : count_limit;
	/* then the code attributes, in the room left */
	const char *ck[2], *cv[2];
	size_t cl[2], nc = 0, code_drop = 0;
	if (c && c->function) {
		ck[nc] = "code.function.name";
		cv[nc] = c->function;
		cl[nc++] = c->function_len;
	}
	if (c && c->stacktrace) {
		ck[nc] = "code.stacktrace";
		cv[nc] = c->stacktrace;
		cl[nc++] = c->stacktrace_len;
	}
	size_t room = count_limit - keep;
	if (nc > room) {
		code_drop = nc - room;
		nc = room;
	}
	CHECK(sp->n_attributes == keep + nc);
	CHECK(sp->dropped_attributes_count ==
	      (uint32_t)r->dropped_attrs + (uint32_t)(r->n_attrs - keep) +
		      (uint32_t)code_drop);
	for (size_t i = 0; i < nc; i++)
		check_kv_str(sp->attributes[keep + i], ck[i], cv[i], cl[i],
			     len_limit);
	/* the exception event */
	CHECK(sp->dropped_events_count == r->dropped_events);
	if (!r->has_exception) {
		CHECK(sp->n_events == 0);
	} else {
		CHECK(sp->n_events == 1);
		const Otelshim__Otlp__Span__Event *e = sp->events[0];
		CHECK(e->time_unix_nano == r->exception.time_ns);
		CHECK(!strcmp(e->name, "exception"));
		const char *ek[3], *ev[3];
		size_t el[3], ne = 0;
		if (r->exception.type.len) {
			ek[ne] = "exception.type";
			ev[ne] = span_record_str(r, r->exception.type);
			el[ne++] = r->exception.type.len;
		}
		if (r->exception.message.len) {
			ek[ne] = "exception.message";
			ev[ne] = span_record_str(r, r->exception.message);
			el[ne++] = r->exception.message.len;
		}
		if (c && c->stacktrace) {
			ek[ne] = "exception.stacktrace";
			ev[ne] = c->stacktrace;
			el[ne++] = c->stacktrace_len;
		}
		size_t ekeep = ne < count_limit ? ne : count_limit;
		CHECK(e->n_attributes == ekeep);
		CHECK(e->dropped_attributes_count == ne - ekeep);
		for (size_t i = 0; i < ekeep; i++)
			check_kv_str(e->attributes[i], ek[i], ev[i], el[i],
				     len_limit);
	}
	for (size_t i = 0; i < keep; i++) {
		const struct span_attr *a = &r->attrs[i];
		const Otelshim__Otlp__KeyValue *kv = sp->attributes[i];
		const Otelshim__Otlp__AnyValue *v = kv->value;
		CHECK(!strcmp(kv->key, a->key) && v);
		switch (a->type) {
		case SPAN_ATTR_STRING: {
			const char *s = r->arena + a->off;
			size_t n = len_limit ? utf8_cut(s, a->len, len_limit)
					     : a->len;
			CHECK(v->value_case == ANY(STRING_VALUE));
			check_text(v->string_value, s, n);
			break;
		}
		case SPAN_ATTR_INT:
			CHECK(v->value_case == ANY(INT_VALUE) &&
			      v->int_value == a->v.i);
			break;
		case SPAN_ATTR_BOOL:
			CHECK(v->value_case == ANY(BOOL_VALUE) &&
			      v->bool_value == (a->v.i != 0));
			break;
		default:
			CHECK(v->value_case == ANY(DOUBLE_VALUE));
			CHECK(!memcmp(&v->double_value, &a->v.d,
				      sizeof(double)));
			break;
		}
	}
}

static void check_encode(const uint8_t *data, size_t size)
{
	static struct span_record recs[16];
	static struct span_code codes[16];
	static char code_text[16][4096];
	static struct resource res;
	const struct span_record *spans[16];
	struct reader rd = {data, size};
	uint8_t *out;
	size_t out_len;

	size_t n = u8(&rd) % 17;
	uint32_t len_limit = u8(&rd) & 1 ? u8(&rd) : 0;
	uint32_t count_limit = u8(&rd) & 1 ? u8(&rd) % 40 : 128;

	/* a resource: a few string and integer attributes */
	memset(&res, 0, sizeof(res));
	res.n = u8(&rd) % 8;
	for (size_t i = 0; i < res.n; i++) {
		struct resource_attr *a = &res.attrs[i];
		snprintf(a->key, sizeof(a->key), "r%zu", i);
		a->is_int = u8(&rd) & 1;
		if (a->is_int) {
			a->i = (int64_t)u64(&rd);
		} else {
			size_t l = u8(&rd) % sizeof(a->str);
			bytes(&rd, (uint8_t *)a->str, l);
			a->str[l] = '\0';
		}
	}
	/* a span is new, or (high bit) a copy of the one before: big
	   batches, with lengths past the varint boundaries, come cheap */
	for (size_t i = 0; i < n; i++) {
		if (i && (u8(&rd) & 0x80))
			recs[i] = recs[i - 1];
		else
			build_record(&rd, &recs[i]);
		spans[i] = &recs[i];
		build_code(&rd, &codes[i], code_text[i]);
	}
	/* the codes, or none at all */
	int with_codes = n && (u8(&rd) & 1);

	struct otlp_buf b = {0};
	CHECK(otlp_encode(&res, spans, with_codes ? codes : NULL, n, len_limit,
			  count_limit, &b) == 0);
	out = b.data;
	out_len = b.len;
	Otelshim__Otlp__ExportTraceServiceRequest *req =
		otelshim__otlp__export_trace_service_request__unpack(
			NULL, out_len, out);
	CHECK(req != NULL);
	CHECK(req->n_resource_spans == 1);
	const Otelshim__Otlp__ResourceSpans *rs = req->resource_spans[0];
	CHECK(rs->resource && rs->resource->n_attributes == res.n);
	for (size_t i = 0; i < res.n; i++) {
		const Otelshim__Otlp__KeyValue *kv =
			rs->resource->attributes[i];
		CHECK(!strcmp(kv->key, res.attrs[i].key) && kv->value);
		if (res.attrs[i].is_int)
			CHECK(kv->value->value_case == ANY(INT_VALUE) &&
			      kv->value->int_value == res.attrs[i].i);
		else {
			CHECK(kv->value->value_case == ANY(STRING_VALUE));
			check_text(kv->value->string_value, res.attrs[i].str,
				   strlen(res.attrs[i].str));
		}
	}
	CHECK(rs->n_scope_spans == 1);
	const Otelshim__Otlp__ScopeSpans *ss = rs->scope_spans[0];
	CHECK(ss->scope && !strcmp(ss->scope->name, "otelshim"));
	CHECK(ss->n_spans == n);
	for (size_t i = 0; i < n; i++)
		check_span(ss->spans[i], &recs[i],
			   with_codes ? &codes[i] : NULL, len_limit,
			   count_limit);
	otelshim__otlp__export_trace_service_request__free_unpacked(req, NULL);
	otlp_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_response(data, size);
	check_encode(data, size);
	return 0;
}
