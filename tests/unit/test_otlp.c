/*
 * test_otlp.c - the OTLP encoder: field numbers and wire types checked on
 * the raw bytes (SPEC.md 4), the whole message round-tripped through the
 * protobuf-c decoder, attribute limits, and export responses.
 *
 * The integration tests decode the same bytes with an implementation that
 * shares nothing with our .proto; these tests pin the details cheaply.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "otlp.h"
#include "otlp.pb-c.h"

static const uint8_t TID[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43,
				0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80,
				0x31, 0x9c};
static const uint8_t SID[8] = {0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31};
static const uint8_t PID[8] = {1, 2, 3, 4, 5, 6, 7, 8};

static struct span_record rec;

static void make_span(struct span_record *r)
{
	span_record_init(r);
	memcpy(r->trace_id, TID, 16);
	memcpy(r->span_id, SID, 8);
	memcpy(r->parent_span_id, PID, 8);
	r->kind = SPAN_KIND_CLIENT;
	r->start_ns = 1700000000123456789ull;
	r->end_ns = 1700000000223456789ull;
	r->flags = TRACE_FLAG_SAMPLED | SPAN_FLAGS_HAS_IS_REMOTE;
	span_record_set_name(r, "GET", 3);
	span_record_set_trace_state(r, "congo=t61rcWkgMzE", 17);
	span_record_add_str(r, "http.request.method", "GET", 3);
	span_record_add_int(r, "http.response.status_code", 404);
	span_record_add_int(r, "neg", -5);
	span_record_add_bool(r, "flag", 0);
	span_record_add_double(r, "ratio", 0.25);
	span_record_set_status(r, SPAN_STATUS_ERROR, "boom", 4);
}

static struct resource res;

static void make_resource(void)
{
	memset(&res, 0, sizeof(res));
	res.n = 2;
	strcpy(res.attrs[0].key, "service.name");
	strcpy(res.attrs[0].str, "svc");
	strcpy(res.attrs[1].key, "process.pid");
	res.attrs[1].is_int = 1;
	res.attrs[1].i = 4242;
}

static Otelshim__Otlp__ExportTraceServiceRequest *
encode_decode_codes(const struct span_record *const *spans,
		    const struct span_code *codes, size_t n, uint32_t len,
		    uint32_t count, uint8_t **buf, size_t *blen)
{
	struct otlp_buf b = {0};

	ck_assert_int_eq(otlp_encode(&res, spans, codes, n, len, count, &b), 0);
	*buf = b.data;
	*blen = b.len;
	Otelshim__Otlp__ExportTraceServiceRequest *req =
		otelshim__otlp__export_trace_service_request__unpack(NULL, *blen,
								     *buf);
	ck_assert_ptr_nonnull(req);
	return req;
}

static Otelshim__Otlp__ExportTraceServiceRequest *
encode_decode(const struct span_record *const *spans, size_t n, uint32_t len,
	      uint32_t count, uint8_t **buf, size_t *blen)
{
	return encode_decode_codes(spans, NULL, n, len, count, buf, blen);
}

static const Otelshim__Otlp__AnyValue *
find_kv(Otelshim__Otlp__KeyValue **kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i]->key, key))
			return kv[i]->value;
	return NULL;
}

static const Otelshim__Otlp__AnyValue *
find(const Otelshim__Otlp__Span *s, const char *key)
{
	for (size_t i = 0; i < s->n_attributes; i++)
		if (!strcmp(s->attributes[i]->key, key))
			return s->attributes[i]->value;
	return NULL;
}

/* Does the byte string needle occur in hay? */
static int contains(const uint8_t *hay, size_t n, const void *needle,
		    size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (!memcmp(hay + i, needle, m))
			return 1;
	return 0;
}

START_TEST(roundtrip)
{
	const struct span_record *one[1] = {&rec};
	uint8_t *buf;
	size_t len;

	make_resource();
	make_span(&rec);
	Otelshim__Otlp__ExportTraceServiceRequest *req =
		encode_decode(one, 1, 0, 128, &buf, &len);

	ck_assert_uint_eq(req->n_resource_spans, 1);
	Otelshim__Otlp__ResourceSpans *rs = req->resource_spans[0];
	ck_assert_uint_eq(rs->resource->n_attributes, 2);
	ck_assert_str_eq(rs->resource->attributes[0]->key, "service.name");
	ck_assert_str_eq(rs->resource->attributes[0]->value->string_value,
			 "svc");
	ck_assert_int_eq(rs->resource->attributes[1]->value->int_value, 4242);
	ck_assert_uint_eq(rs->n_scope_spans, 1);
	ck_assert_str_eq(rs->scope_spans[0]->scope->name, "otelshim");
	ck_assert_str_eq(rs->scope_spans[0]->scope->version, OTELSHIM_VERSION);
	ck_assert_uint_eq(rs->scope_spans[0]->n_spans, 1);

	Otelshim__Otlp__Span *s = rs->scope_spans[0]->spans[0];
	ck_assert_uint_eq(s->trace_id.len, 16);
	ck_assert_mem_eq(s->trace_id.data, TID, 16);
	ck_assert_mem_eq(s->span_id.data, SID, 8);
	ck_assert_mem_eq(s->parent_span_id.data, PID, 8);
	ck_assert_str_eq(s->name, "GET");
	ck_assert_str_eq(s->trace_state, "congo=t61rcWkgMzE");
	ck_assert_int_eq(s->kind, 3);
	ck_assert_uint_eq(s->start_time_unix_nano, 1700000000123456789ull);
	ck_assert_uint_eq(s->end_time_unix_nano, 1700000000223456789ull);
	ck_assert_uint_eq(s->flags, 0x101);
	ck_assert_int_eq(s->status->code, 2);
	ck_assert_str_eq(s->status->message, "boom");
	ck_assert_uint_eq(s->n_attributes, 5);
	ck_assert_str_eq(find(s, "http.request.method")->string_value, "GET");
	ck_assert_int_eq(find(s, "http.response.status_code")->int_value, 404);
	ck_assert_int_eq(find(s, "neg")->int_value, -5);
	/* oneof members have presence: false is still a bool value */
	ck_assert_int_eq(find(s, "flag")->value_case,
			 OTELSHIM__OTLP__ANY_VALUE__VALUE_BOOL_VALUE);
	ck_assert_int_eq(find(s, "flag")->bool_value, 0);
	ck_assert(find(s, "ratio")->double_value == 0.25);
	ck_assert_uint_eq(s->n_links, 0);

	/* Raw wire checks from SPEC.md 4's tag bytes. */
	uint8_t flags_field[] = {0x85, 0x01, 0x01, 0x01, 0x00, 0x00};
	ck_assert(contains(buf, len, flags_field, sizeof(flags_field)));
	uint8_t start_field[9] = {0x39};
	uint64_t t = 1700000000123456789ull;
	for (int i = 0; i < 8; i++)
		start_field[1 + i] = (uint8_t)(t >> (8 * i));
	ck_assert(contains(buf, len, start_field, sizeof(start_field)));
	uint8_t kind_field[] = {0x30, 0x03};
	ck_assert(contains(buf, len, kind_field, 2));
	uint8_t tid_field[18] = {0x0a, 16};
	memcpy(tid_field + 2, TID, 16);
	ck_assert(contains(buf, len, tid_field, sizeof(tid_field)));
	/* status: message (2) then code (3) = 2 */
	uint8_t status_field[] = {0x7a, 0x08, 0x12, 0x04, 'b', 'o', 'o', 'k' - 8,
				  0x18, 0x02};
	status_field[7] = 'm';
	ck_assert(contains(buf, len, status_field, sizeof(status_field)));
	/* -5 as int64: ten bytes of varint */
	uint8_t neg[] = {0x18, 0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			 0xff, 0x01};
	ck_assert(contains(buf, len, neg, sizeof(neg)));

	otelshim__otlp__export_trace_service_request__free_unpacked(req, NULL);
	free(buf);
}
END_TEST

START_TEST(root_span_and_unset_status)
{
	const struct span_record *one[1] = {&rec};
	uint8_t *buf;
	size_t len;

	make_resource();
	make_span(&rec);
	memset(rec.parent_span_id, 0, 8);
	rec.status = SPAN_STATUS_UNSET;
	Otelshim__Otlp__ExportTraceServiceRequest *req =
		encode_decode(one, 1, 0, 128, &buf, &len);
	Otelshim__Otlp__Span *s = req->resource_spans[0]->scope_spans[0]->spans[0];
	ck_assert_uint_eq(s->parent_span_id.len, 0);
	ck_assert(s->status == NULL || s->status->code == 0);
	/* no parent_span_id field (tag 0x22) right after trace_state */
	otelshim__otlp__export_trace_service_request__free_unpacked(req, NULL);
	free(buf);
}
END_TEST

START_TEST(status_message_only_with_error)
{
	const struct span_record *one[1] = {&rec};
	uint8_t *buf;
	size_t len;

	make_resource();
	make_span(&rec);
	rec.status = SPAN_STATUS_OK;
	Otelshim__Otlp__ExportTraceServiceRequest *req =
		encode_decode(one, 1, 0, 128, &buf, &len);
	Otelshim__Otlp__Span *s = req->resource_spans[0]->scope_spans[0]->spans[0];
	ck_assert_int_eq(s->status->code, 1);
	ck_assert_str_eq(s->status->message, "");
	otelshim__otlp__export_trace_service_request__free_unpacked(req, NULL);
	free(buf);
}
END_TEST

START_TEST(link)
{
	const struct span_record *one[1] = {&rec};
	uint8_t *buf;
	size_t len;

	make_resource();
	make_span(&rec);
	memcpy(rec.link_trace_id, TID, 16);
	memcpy(rec.link_span_id, PID, 8);
	rec.link_flags = 0x301;
	Otelshim__Otlp__ExportTraceServiceRequest *req =
		encode_decode(one, 1, 0, 128, &buf, &len);
	Otelshim__Otlp__Span *s = req->resource_spans[0]->scope_spans[0]->spans[0];
	ck_assert_uint_eq(s->n_links, 1);
	ck_assert_mem_eq(s->links[0]->trace_id.data, TID, 16);
	ck_assert_mem_eq(s->links[0]->span_id.data, PID, 8);
	ck_assert_uint_eq(s->links[0]->flags, 0x301);
	otelshim__otlp__export_trace_service_request__free_unpacked(req, NULL);
	free(buf);
}
END_TEST

START_TEST(value_length_limit_keeps_utf8_whole)
{
	const struct span_record *one[1] = {&rec};
	uint8_t *buf;
	size_t len;

	make_resource();
	span_record_init(&rec);
	memcpy(rec.trace_id, TID, 16);
	memcpy(rec.span_id, SID, 8);
	/* "aé€😀b": 1 + 2 + 3 + 4 + 1 bytes, five characters */
	const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" "b";
	span_record_add_str(&rec, "u", s, strlen(s));
	span_record_add_str(&rec, "short", "ab", 2);
	span_record_add_int(&rec, "n", 123456);
	span_record_add_str(&rec, "bad", "\xff\xfe" "xyz", 5);

	struct { uint32_t limit; const char *want; } cases[] = {
		{1, "a"},
		{2, "a\xc3\xa9"},
		{3, "a\xc3\xa9\xe2\x82\xac"},
		{4, "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},
		{5, s},
		{100, s},
		{0, s},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Otelshim__Otlp__ExportTraceServiceRequest *req =
			encode_decode(one, 1, cases[i].limit, 128, &buf, &len);
		Otelshim__Otlp__Span *sp =
			req->resource_spans[0]->scope_spans[0]->spans[0];
		ck_assert_str_eq(find(sp, "u")->string_value, cases[i].want);
		ck_assert_int_eq(find(sp, "n")->int_value, 123456);
		if (cases[i].limit >= 2 || cases[i].limit == 0)
			ck_assert_str_eq(find(sp, "short")->string_value, "ab");
		/* bytes that are not UTF-8 go out as '?' (proto3 strings) */
		if (cases[i].limit == 3)
			ck_assert_str_eq(find(sp, "bad")->string_value, "??x");
		/* truncation is not dropping */
		ck_assert_uint_eq(sp->dropped_attributes_count, 0);
		otelshim__otlp__export_trace_service_request__free_unpacked(
			req, NULL);
		free(buf);
	}
}
END_TEST

START_TEST(count_limit_and_dropped)
{
	const struct span_record *one[1] = {&rec};
	uint8_t *buf;
	size_t len;

	make_resource();
	span_record_init(&rec);
	memcpy(rec.trace_id, TID, 16);
	memcpy(rec.span_id, SID, 8);
	for (int i = 0; i < SPAN_MAX_ATTRS + 3; i++)
		span_record_add_int(&rec, "k", i);
	ck_assert_uint_eq(rec.dropped_attrs, 3);

	Otelshim__Otlp__ExportTraceServiceRequest *req =
		encode_decode(one, 1, 0, 10, &buf, &len);
	Otelshim__Otlp__Span *sp = req->resource_spans[0]->scope_spans[0]->spans[0];
	ck_assert_uint_eq(sp->n_attributes, 10);
	ck_assert_uint_eq(sp->dropped_attributes_count, SPAN_MAX_ATTRS + 3 - 10);
	ck_assert_int_eq(sp->attributes[9]->value->int_value, 9);
	otelshim__otlp__export_trace_service_request__free_unpacked(req, NULL);
	free(buf);

	req = encode_decode(one, 1, 0, 0, &buf, &len);
	sp = req->resource_spans[0]->scope_spans[0]->spans[0];
	ck_assert_uint_eq(sp->n_attributes, 0);
	ck_assert_uint_eq(sp->dropped_attributes_count, SPAN_MAX_ATTRS + 3);
	otelshim__otlp__export_trace_service_request__free_unpacked(req, NULL);
	free(buf);
}
END_TEST

START_TEST(full_records_large_batch)
{
	enum { N = 512 };
	static struct span_record recs[N];
	const struct span_record *ptrs[N];
	uint8_t *buf;
	size_t len;

	make_resource();
	/* Fill every record to its limits: all attrs, full arena. */
	char big[200];
	memset(big, 'x', sizeof(big));
	for (int i = 0; i < N; i++) {
		struct span_record *r = &recs[i];
		span_record_init(r);
		memcpy(r->trace_id, TID, 16);
		r->trace_id[15] = (uint8_t)i;
		memcpy(r->span_id, SID, 8);
		r->span_id[0] = (uint8_t)i;
		r->span_id[1] = (uint8_t)(i >> 8);
		span_record_set_name(r, big, 50);
		while (span_record_add_str(r, "s", big, sizeof(big)) == 0)
			;
		ptrs[i] = r;
	}
	Otelshim__Otlp__ExportTraceServiceRequest *req =
		encode_decode(ptrs, N, 7, 128, &buf, &len);
	Otelshim__Otlp__ScopeSpans *ss = req->resource_spans[0]->scope_spans[0];
	ck_assert_uint_eq(ss->n_spans, N);
	for (int i = 0; i < N; i++) {
		ck_assert_uint_eq(ss->spans[i]->span_id.data[0], (uint8_t)i);
		ck_assert_uint_eq(ss->spans[i]->n_attributes, recs[i].n_attrs);
		ck_assert_str_eq(ss->spans[i]->attributes[0]->value->string_value,
				 "xxxxxxx");
	}
	otelshim__otlp__export_trace_service_request__free_unpacked(req, NULL);
	free(buf);
}
END_TEST

START_TEST(empty_batch_is_valid)
{
	uint8_t *buf;
	size_t len;

	make_resource();
	Otelshim__Otlp__ExportTraceServiceRequest *req =
		encode_decode(NULL, 0, 0, 128, &buf, &len);
	ck_assert_uint_eq(req->resource_spans[0]->scope_spans[0]->n_spans, 0);
	otelshim__otlp__export_trace_service_request__free_unpacked(req, NULL);
	free(buf);
}
END_TEST

START_TEST(responses)
{
	int64_t rej;
	char msg[16];

	ck_assert_int_eq(otlp_parse_response(NULL, 0, &rej, msg, sizeof(msg)), 0);
	ck_assert_int_eq(rej, 0);
	ck_assert_str_eq(msg, "");

	/* partial_success { rejected_spans: 3, error_message: "too many spans here" } */
	const char *em = "too many spans here";
	uint8_t b[64];
	size_t n = 0, ml = strlen(em);
	b[n++] = 0x0a;
	b[n++] = (uint8_t)(2 + 2 + ml);
	b[n++] = 0x08;
	b[n++] = 3;
	b[n++] = 0x12;
	b[n++] = (uint8_t)ml;
	memcpy(b + n, em, ml);
	n += ml;
	ck_assert_int_eq(otlp_parse_response(b, n, &rej, msg, sizeof(msg)), 0);
	ck_assert_int_eq(rej, 3);
	ck_assert_str_eq(msg, "too many spans ");	/* cut to the buffer */

	/* an empty partial_success means full success */
	uint8_t e[] = {0x0a, 0x00};
	ck_assert_int_eq(otlp_parse_response(e, 2, &rej, msg, sizeof(msg)), 0);
	ck_assert_int_eq(rej, 0);

	/* garbage: a truncated length-delimited field */
	uint8_t g[] = {0x0a, 0x40, 0x08};
	ck_assert_int_eq(otlp_parse_response(g, 3, &rej, msg, sizeof(msg)), -1);
	/* a body a proxy might send: HTML */
	const char *html = "<html>bad gateway</html>";
	ck_assert_int_eq(otlp_parse_response((const uint8_t *)html,
					     strlen(html), &rej, msg,
					     sizeof(msg)),
			 -1);
}
END_TEST

static const char STACK[] =
	"#0 0x55d0c2a1b2c3 issue_query+0x1c (/srv/prog+0x12c3)\n"
	"#1 0x55d0c2a1b400 main+0x40 (/srv/prog+0x1400)";

/*
 * The exception event (Span.events 11: time 1, name 2, attributes 3) with
 * its type, message and the span's stack; the code.* attributes after the
 * record's own.
 */
START_TEST(exception_event_and_code)
{
	const struct span_record *one[1] = {&rec};
	uint8_t *buf;
	size_t len;

	make_resource();
	make_span(&rec);
	ck_assert_int_eq(span_record_set_exception(&rec, 1700000000200000000ull,
						   "42P01", 5, "no table", 8),
			 0);
	struct span_code code = {"issue_query", STACK, 11, sizeof(STACK) - 1};
	Otelshim__Otlp__ExportTraceServiceRequest *req =
		encode_decode_codes(one, &code, 1, 0, 128, &buf, &len);
	Otelshim__Otlp__Span *s = req->resource_spans[0]->scope_spans[0]->spans[0];

	ck_assert_uint_eq(s->n_attributes, 7);
	ck_assert_str_eq(s->attributes[5]->key, "code.function.name");
	ck_assert_str_eq(s->attributes[5]->value->string_value, "issue_query");
	ck_assert_str_eq(s->attributes[6]->key, "code.stacktrace");
	ck_assert_str_eq(s->attributes[6]->value->string_value, STACK);
	ck_assert_uint_eq(s->dropped_attributes_count, 0);
	ck_assert_uint_eq(s->n_events, 1);
	Otelshim__Otlp__Span__Event *e = s->events[0];
	ck_assert_str_eq(e->name, "exception");
	ck_assert_uint_eq(e->time_unix_nano, 1700000000200000000ull);
	ck_assert_uint_eq(e->n_attributes, 3);
	ck_assert_str_eq(find_kv(e->attributes, 3, "exception.type")->string_value,
			 "42P01");
	ck_assert_str_eq(find_kv(e->attributes, 3,
				 "exception.message")->string_value,
			 "no table");
	ck_assert_str_eq(find_kv(e->attributes, 3,
				 "exception.stacktrace")->string_value,
			 STACK);
	ck_assert_uint_eq(e->dropped_attributes_count, 0);
	ck_assert_uint_eq(s->dropped_events_count, 0);
	/* the status and the link still decode after the event */
	ck_assert_int_eq(s->status->code, 2);
	ck_assert_str_eq(s->status->message, "boom");

	/* raw: the event field (11, 0x5a) and its time (1, fixed64, 0x09) */
	uint8_t time_field[9] = {0x09};
	uint64_t t = 1700000000200000000ull;
	for (int i = 0; i < 8; i++)
		time_field[1 + i] = (uint8_t)(t >> (8 * i));
	ck_assert(contains(buf, len, time_field, sizeof(time_field)));
	uint8_t name_field[] = {0x12, 9, 'e', 'x', 'c', 'e', 'p', 't', 'i',
				'o', 'n'};
	ck_assert(contains(buf, len, name_field, sizeof(name_field)));
	ck_assert(contains(buf, len, "\x5a", 1));
	otelshim__otlp__export_trace_service_request__free_unpacked(req, NULL);
	free(buf);
}
END_TEST

/* Only a message, no stack (no codes): two of the attributes. */
START_TEST(exception_message_only)
{
	const struct span_record *one[1] = {&rec};
	uint8_t *buf;
	size_t len;

	make_resource();
	make_span(&rec);
	ck_assert_int_eq(span_record_set_exception(&rec, 5, NULL, 0, "refused",
						   7),
			 0);
	Otelshim__Otlp__ExportTraceServiceRequest *req =
		encode_decode(one, 1, 0, 128, &buf, &len);
	Otelshim__Otlp__Span *s = req->resource_spans[0]->scope_spans[0]->spans[0];
	ck_assert_uint_eq(s->n_attributes, 5);
	ck_assert_uint_eq(s->n_events, 1);
	ck_assert_uint_eq(s->events[0]->n_attributes, 1);
	ck_assert_str_eq(s->events[0]->attributes[0]->key, "exception.message");
	ck_assert_str_eq(s->events[0]->attributes[0]->value->string_value,
			 "refused");
	otelshim__otlp__export_trace_service_request__free_unpacked(req, NULL);
	free(buf);
}
END_TEST

/*
 * One event per record: a second one, one with nothing to say, and one
 * that does not fit in the arena are counted in dropped_events_count
 * (12), the arena unchanged.
 */
START_TEST(dropped_events)
{
	const struct span_record *one[1] = {&rec};
	uint8_t *buf;
	size_t len;
	static char big[SPAN_ARENA_SIZE];

	make_resource();
	make_span(&rec);
	uint16_t used = rec.arena_used;
	memset(big, 'm', sizeof(big));
	ck_assert_int_eq(span_record_set_exception(&rec, 1, "t", 1, big,
						   sizeof(big)),
			 -ENOSPC);
	ck_assert_uint_eq(rec.arena_used, used);
	ck_assert_uint_eq(rec.has_exception, 0);
	ck_assert_int_eq(span_record_set_exception(&rec, 1, NULL, 0, NULL, 0),
			 -ENOSPC);
	ck_assert_int_eq(span_record_set_exception(&rec, 1, "a", 1, "b", 1), 0);
	ck_assert_int_eq(span_record_set_exception(&rec, 2, "c", 1, "d", 1),
			 -ENOSPC);
	ck_assert_uint_eq(rec.dropped_events, 3);
	Otelshim__Otlp__ExportTraceServiceRequest *req =
		encode_decode(one, 1, 0, 128, &buf, &len);
	Otelshim__Otlp__Span *s = req->resource_spans[0]->scope_spans[0]->spans[0];
	ck_assert_uint_eq(s->n_events, 1);
	ck_assert_str_eq(s->events[0]->attributes[0]->value->string_value, "a");
	ck_assert_uint_eq(s->dropped_events_count, 3);
	uint8_t field[] = {0x60, 3};
	ck_assert(contains(buf, len, field, 2));
	otelshim__otlp__export_trace_service_request__free_unpacked(req, NULL);
	free(buf);
}
END_TEST

/*
 * The limits apply to the code.* attributes (after the record's own, in
 * the same count) and to the event's attributes (their own count): a long
 * stack is cut to the value length limit.
 */
START_TEST(code_attributes_and_limits)
{
	const struct span_record *one[1] = {&rec};
	uint8_t *buf;
	size_t len;

	make_resource();
	make_span(&rec);	/* 5 attributes */
	ck_assert_int_eq(span_record_set_exception(&rec, 9, "T", 1, "M", 1), 0);
	struct span_code code = {"fn", STACK, 2, sizeof(STACK) - 1};

	/* room for one more: the function; the stack is dropped */
	Otelshim__Otlp__ExportTraceServiceRequest *req =
		encode_decode_codes(one, &code, 1, 0, 6, &buf, &len);
	Otelshim__Otlp__Span *s = req->resource_spans[0]->scope_spans[0]->spans[0];
	ck_assert_uint_eq(s->n_attributes, 6);
	ck_assert_str_eq(s->attributes[5]->key, "code.function.name");
	ck_assert_uint_eq(s->dropped_attributes_count, 1);
	ck_assert_uint_eq(s->events[0]->n_attributes, 3);
	otelshim__otlp__export_trace_service_request__free_unpacked(req, NULL);
	free(buf);

	/* a count limit of 2: the record's first two, no code; the event
	   keeps two of its three */
	req = encode_decode_codes(one, &code, 1, 0, 2, &buf, &len);
	s = req->resource_spans[0]->scope_spans[0]->spans[0];
	ck_assert_uint_eq(s->n_attributes, 2);
	ck_assert_uint_eq(s->dropped_attributes_count, 3 + 2);
	ck_assert_uint_eq(s->events[0]->n_attributes, 2);
	ck_assert_uint_eq(s->events[0]->dropped_attributes_count, 1);
	otelshim__otlp__export_trace_service_request__free_unpacked(req, NULL);
	free(buf);

	/* a value length limit of 10 characters cuts the stack, both times */
	req = encode_decode_codes(one, &code, 1, 10, 128, &buf, &len);
	s = req->resource_spans[0]->scope_spans[0]->spans[0];
	ck_assert_str_eq(find(s, "code.stacktrace")->string_value,
			 "#0 0x55d0c");
	ck_assert_str_eq(find_kv(s->events[0]->attributes,
				 s->events[0]->n_attributes,
				 "exception.stacktrace")->string_value,
			 "#0 0x55d0c");
	ck_assert_uint_eq(s->dropped_attributes_count, 0);
	otelshim__otlp__export_trace_service_request__free_unpacked(req, NULL);
	free(buf);

	/* codes for some spans of a batch only */
	static struct span_record two;
	make_span(&two);
	const struct span_record *both[2] = {&rec, &two};
	struct span_code codes[2] = {{0}, code};
	req = encode_decode_codes(both, codes, 2, 0, 128, &buf, &len);
	Otelshim__Otlp__ScopeSpans *ss = req->resource_spans[0]->scope_spans[0];
	ck_assert_ptr_null(find(ss->spans[0], "code.function.name"));
	ck_assert_uint_eq(ss->spans[0]->events[0]->n_attributes, 2);
	ck_assert_str_eq(find(ss->spans[1], "code.function.name")->string_value,
			 "fn");
	ck_assert_uint_eq(ss->spans[1]->n_events, 0);
	otelshim__otlp__export_trace_service_request__free_unpacked(req, NULL);
	free(buf);
}
END_TEST

/*
 * The encoder keeps each key's encoded prefix in the otlp_buf from batch
 * to batch (by key address) and tries the entry last used at each
 * attribute position first: batches that reuse one buffer, with keys in
 * changing order, more keys than the cache holds, keys too long for a
 * cached prefix, KeyValues of 128 bytes and more, and spans whose length
 * takes one byte or three, must all decode to what the records hold.
 */
#define MANY_KEYS 300
static char many_keys[MANY_KEYS][24];	/* static: the keys' contract */
static const char KEY43[] = "a.key.that.is.exactly.forty.three.bytes.xyz";
static const char KEY44[] = "a.key.that.is.exactly.forty.four.bytes.vwxyz";
static char key200[201];

static void check_span_attrs(const Otelshim__Otlp__Span *s,
			     const struct span_record *r)
{
	ck_assert_uint_eq(s->n_attributes, r->n_attrs);
	for (size_t i = 0; i < r->n_attrs; i++) {
		const struct span_attr *a = &r->attrs[i];
		const Otelshim__Otlp__KeyValue *kv = s->attributes[i];
		ck_assert_str_eq(kv->key, a->key);
		switch (a->type) {
		case SPAN_ATTR_INT:
			ck_assert_int_eq(kv->value->int_value, a->v.i);
			break;
		case SPAN_ATTR_BOOL:
			ck_assert_int_eq(kv->value->bool_value, a->v.i);
			break;
		case SPAN_ATTR_DOUBLE:
			ck_assert(kv->value->double_value == a->v.d);
			break;
		default:
			ck_assert_uint_eq(strlen(kv->value->string_value),
					  a->len);
			ck_assert(!memcmp(kv->value->string_value,
					  r->arena + a->off, a->len));
		}
	}
}

START_TEST(keys_cached_across_batches)
{
	enum { N = 40 };
	static struct span_record recs[N];
	const struct span_record *ptrs[N];
	struct otlp_buf b = {0};
	char val[300];

	make_resource();
	ck_assert_uint_eq(strlen(KEY43), 43);
	ck_assert_uint_eq(strlen(KEY44), 44);
	memset(key200, 'k', 200);
	for (int i = 0; i < MANY_KEYS; i++)
		snprintf(many_keys[i], sizeof(many_keys[i]), "key.%d", i);
	memset(val, 'v', sizeof(val));
	for (int batch = 0; batch < 4; batch++) {
		for (int i = 0; i < N; i++) {
			struct span_record *r = &recs[i];
			int k = (batch * 7 + i * 13) % MANY_KEYS;
			span_record_init(r);
			memcpy(r->trace_id, TID, 16);
			memcpy(r->span_id, SID, 8);
			r->span_id[0] = (uint8_t)i;
			if (i == 0) {	/* a span shorter than 128 bytes */
				ptrs[i] = r;
				continue;
			}
			span_record_set_name(r, "op", 2);
			span_record_add_str(r, (i + batch) % 2 ? KEY43 : KEY44,
					    val, (size_t)(i * 7 % 140));
			span_record_add_int(r, key200, -i * 1000003ll);
			span_record_add_str(r, key200, val, 3);
			for (int j = 0; j < 20; j++)
				span_record_add_str(r,
					many_keys[(k + j * 31) % MANY_KEYS],
					val, (size_t)((i + j) % 9));
			span_record_add_bool(r, KEY44, i % 2);
			span_record_add_double(r, many_keys[k], i * 0.5);
			span_record_add_str(r, "s", val, 125);	/* 128 B KV */
			span_record_add_str(r, "t", val, 290);
			ptrs[i] = r;
		}
		ck_assert_int_eq(otlp_encode(&res, ptrs, NULL, N, 0, 128, &b),
				 0);
		Otelshim__Otlp__ExportTraceServiceRequest *req =
			otelshim__otlp__export_trace_service_request__unpack(
				NULL, b.len, b.data);
		ck_assert_ptr_nonnull(req);
		Otelshim__Otlp__ScopeSpans *ss =
			req->resource_spans[0]->scope_spans[0];
		ck_assert_uint_eq(ss->n_spans, N);
		for (int i = 0; i < N; i++)
			check_span_attrs(ss->spans[i], &recs[i]);
		otelshim__otlp__export_trace_service_request__free_unpacked(
			req, NULL);
	}
	otlp_buf_free(&b);
}
END_TEST

/* A span of 16 KiB or more: its length takes three bytes. */
START_TEST(span_over_16k)
{
	static char stack[EXPORTER_STACK_TEXT_MAX];
	struct span_code code = {0};
	const struct span_record *ptrs[1] = {&rec};
	uint8_t *buf;
	size_t len;

	make_resource();
	make_span(&rec);
	span_record_set_exception(&rec, 1, "E", 1, "boom", 4);
	memset(stack, 's', sizeof(stack));
	code.stacktrace = stack;
	code.stacktrace_len = sizeof(stack);
	Otelshim__Otlp__ExportTraceServiceRequest *req =
		encode_decode_codes(ptrs, &code, 1, 0, 128, &buf, &len);
	ck_assert_uint_gt(len, 16384);
	const Otelshim__Otlp__Span *s =
		req->resource_spans[0]->scope_spans[0]->spans[0];
	ck_assert_uint_eq(strlen(find(s, "code.stacktrace")->string_value),
			  sizeof(stack));
	ck_assert_uint_eq(s->n_events, 1);
	otelshim__otlp__export_trace_service_request__free_unpacked(req, NULL);
	free(buf);
}
END_TEST

Suite *unit_suite(void)
{
	Suite *s = suite_create("otlp");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, roundtrip);
	tcase_add_test(tc, root_span_and_unset_status);
	tcase_add_test(tc, status_message_only_with_error);
	tcase_add_test(tc, link);
	tcase_add_test(tc, value_length_limit_keeps_utf8_whole);
	tcase_add_test(tc, count_limit_and_dropped);
	tcase_add_test(tc, full_records_large_batch);
	tcase_add_test(tc, empty_batch_is_valid);
	tcase_add_test(tc, responses);
	tcase_add_test(tc, exception_event_and_code);
	tcase_add_test(tc, exception_message_only);
	tcase_add_test(tc, dropped_events);
	tcase_add_test(tc, code_attributes_and_limits);
	tcase_add_test(tc, keys_cached_across_batches);
	tcase_add_test(tc, span_over_16k);
	suite_add_tcase(s, tc);
	return s;
}
