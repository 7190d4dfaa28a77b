/*
 * test_tracecontext.c - every traceparent/tracestate rule of SPEC.md 6.2,
 * 6.3 and the W3C test suite's cases listed in 6.4, plus B3.
 */
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "tracecontext.h"

#define TID "0af7651916cd43dd8448eb211c80319c"
#define SID "b7ad6b7169203331"

static int tp(const char *s)
{
	struct tracecontext c;

	return tracecontext_parse_traceparent(s, strlen(s), &c);
}

static const char *const valid_tp[] = {
	"00-" TID "-" SID "-01",
	"00-" TID "-" SID "-00",
	"00-" TID "-" SID "-03",
	" 00-" TID "-" SID "-01",
	"00-" TID "-" SID "-01 \t",
	"\t00-" TID "-" SID "-01",
	"cc-" TID "-" SID "-01-what-the-future-will-be-like",
	"cc-" TID "-" SID "-01",
	"01-" TID "-" SID "-09",
};

static const char *const invalid_tp[] = {
	"",
	"00",
	"00-" TID "-" SID "-01.",
	"00-" TID "-" SID "-01-what-the-future-will-be-like",
	"cc-" TID "-" SID "-01.what-the-future-will-be-like",
	"ff-" TID "-" SID "-01",
	"00-0AF7651916CD43DD8448EB211C80319C-" SID "-01",
	"00-" TID "-B7AD6B7169203331-01",
	"00-" TID "-" SID "-0A",
	"00-00000000000000000000000000000000-" SID "-01",
	"00-" TID "-0000000000000000-01",
	"00-" TID "-" SID "-1",
	"00-" TID "-" SID "01",
	"00_" TID "-" SID "-01",
	"00-" TID "0-" SID "-01",
	"00-0af7651916cd43dd8448eb211c80319-" SID "-01",
	"0g-" TID "-" SID "-01",
	"00-" TID "-" SID "-0g",
	"00-" TID "-b7ad6b716920333-01",
	"00-" TID "-" SID "-01-",
	"cc-" TID "-" SID "-01x",
};

START_TEST(traceparent_valid)
{
	ck_assert_msg(tp(valid_tp[_i]) == 0, "rejected: '%s'", valid_tp[_i]);
}
END_TEST

START_TEST(traceparent_invalid)
{
	ck_assert_msg(tp(invalid_tp[_i]) == -1, "accepted: '%s'",
		      invalid_tp[_i]);
}
END_TEST

START_TEST(traceparent_fields)
{
	struct tracecontext c;
	char out[TRACEPARENT_LEN + 1];
	const char *s = "cc-" TID "-" SID "-03-more";

	ck_assert_int_eq(tracecontext_parse_traceparent(s, strlen(s), &c), 0);
	ck_assert_int_eq(c.flags, 3);
	ck_assert_int_eq(c.trace_id[0], 0x0a);
	ck_assert_int_eq(c.span_id[7], 0x31);
	/* re-emitted as version 00, flags limited to sampled+random */
	tracecontext_format_traceparent(c.trace_id, c.span_id, 0xff, out);
	ck_assert_str_eq(out, "00-" TID "-" SID "-03");
	ck_assert_int_eq(tp(out), 0);
}
END_TEST

static int ts(const char *const *fields, int n, char *out, size_t cap)
{
	struct tracecontext_field f[8];

	for (int i = 0; i < n; i++) {
		f[i].p = fields[i];
		f[i].len = strlen(fields[i]);
	}
	return tracecontext_parse_tracestate(f, n, out, cap);
}

START_TEST(tracestate_combine)
{
	char out[TRACESTATE_MAX];
	const char *two[] = {"foo=1 , bar=2", "\tbaz=3,,  "};
	const char *empty[] = {"", "  ", ","};

	ck_assert_int_gt(ts(two, 2, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "foo=1,bar=2,baz=3");
	ck_assert_int_eq(ts(empty, 3, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

static const char *const ts_invalid[] = {
	"foo=bar=baz", "foo=", "=bar", "@foo=bar", "Foo=bar", "foo.bar=1",
	"foo bar=1",   "foo=b,ar=",
};

START_TEST(tracestate_invalid)
{
	char out[TRACESTATE_MAX];
	const char *f[] = {ts_invalid[_i]};

	ck_assert_msg(ts(f, 1, out, sizeof(out)) == -1, "accepted '%s'",
		      ts_invalid[_i]);
}
END_TEST

START_TEST(tracestate_level2_keys)
{
	char out[1024], key[300];
	const char *ok[] = {"foo@=1", "foo@@bar=1", "foo@bar@baz=1", "0x=1",
			    "a_-*/@=v"};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		const char *f[] = {ok[i]};
		ck_assert_msg(ts(f, 1, out, sizeof(out)) > 0, "rejected '%s'",
			      ok[i]);
	}
	/* 256-character key accepted, 257 rejected */
	memset(key, 'k', 256);
	strcpy(key + 256, "=v");
	const char *f256[] = {key};
	ck_assert_int_gt(ts(f256, 1, out, sizeof(out)), 0);
	memset(key, 'k', 257);
	strcpy(key + 257, "=v");
	const char *f257[] = {key};
	ck_assert_int_eq(ts(f257, 1, out, sizeof(out)), -1);
}
END_TEST

START_TEST(tracestate_values)
{
	char out[TRACESTATE_MAX], v[128];
	int k = 0;

	/* every allowed value character (0x20-0x7e except , and =) */
	k += snprintf(v, sizeof(v), "k=");
	for (int c = 0x21; c <= 0x7e; c++)
		if (c != ',' && c != '=')
			v[k++] = (char)c;
	v[k] = '\0';
	const char *f[] = {v};
	ck_assert_int_gt(ts(f, 1, out, sizeof(out)), 0);
	ck_assert_str_eq(out, v);
	const char *inner[] = {"k=a b"};
	ck_assert_int_gt(ts(inner, 1, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "k=a b");
}
END_TEST

START_TEST(tracestate_members_limit)
{
	char list[32 * 8 + 16], out[TRACESTATE_MAX];
	size_t k = 0;

	for (int i = 0; i < 32; i++)
		k += (size_t)snprintf(list + k, sizeof(list) - k, "%sk%d=v",
				      i ? "," : "", i);
	const char *f[] = {list};
	ck_assert_int_gt(ts(f, 1, out, sizeof(out)), 0);
	snprintf(list + k, sizeof(list) - k, ",k32=v");
	ck_assert_int_eq(ts(f, 1, out, sizeof(out)), -1);
}
END_TEST

START_TEST(tracestate_truncation)
{
	char big[200], out[64];
	memset(big, 'x', sizeof(big));
	memcpy(big, "big=", 4);
	big[150] = '\0';
	const char *f[] = {"a=1,", big, ",b=2"};

	/* over the cap: the long member goes first, order kept */
	ck_assert_int_gt(ts(f, 3, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "a=1,b=2");
}
END_TEST

START_TEST(b3_single)
{
	struct tracecontext c;
	const char *s;

	s = TID "-" SID "-1";
	ck_assert_int_eq(tracecontext_parse_b3(s, strlen(s), &c), 0);
	ck_assert_int_eq(c.flags, 1);
	s = TID "-" SID "-0";
	ck_assert_int_eq(tracecontext_parse_b3(s, strlen(s), &c), 0);
	ck_assert_int_eq(c.flags, 0);
	s = TID "-" SID "-d-" SID;
	ck_assert_int_eq(tracecontext_parse_b3(s, strlen(s), &c), 0);
	ck_assert_int_eq(c.flags, 1);
	s = "8448eb211c80319c-" SID;
	ck_assert_int_eq(tracecontext_parse_b3(s, strlen(s), &c), 0);
	ck_assert_int_eq(c.trace_id[0], 0);
	ck_assert_int_eq(c.trace_id[8], 0x84);
	ck_assert_int_eq(tracecontext_parse_b3("0", 1, &c), -1);
	s = TID "-" SID "-x";
	ck_assert_int_eq(tracecontext_parse_b3(s, strlen(s), &c), -1);

	char out[64];
	uint8_t tid[16] = {1}, sid[8] = {2};
	ck_assert_int_eq(tracecontext_format_b3(tid, sid, 1, out), 51);
	ck_assert_int_eq(tracecontext_parse_b3(out, 51, &c), 0);
	ck_assert_int_eq(memcmp(c.trace_id, tid, 16), 0);
}
END_TEST

START_TEST(b3_multi)
{
	struct tracecontext c;

	ck_assert_int_eq(tracecontext_parse_b3multi(TID, 32, SID, 16, "0", 1,
						    NULL, 0, &c),
			 0);
	ck_assert_int_eq(c.flags, 0);
	ck_assert_int_eq(tracecontext_parse_b3multi(TID, 32, SID, 16, "0", 1,
						    "1", 1, &c),
			 0);
	ck_assert_int_eq(c.flags, 1);
	ck_assert_int_eq(tracecontext_parse_b3multi(TID, 32, NULL, 0, NULL, 0,
						    NULL, 0, &c),
			 -1);
	ck_assert_int_eq(tracecontext_parse_b3multi(TID, 32, SID, 16, "yes",
						    3, NULL, 0, &c),
			 -1);
}
END_TEST

Suite *unit_suite(void)
{
	Suite *s = suite_create("tracecontext");
	TCase *t = tcase_create("traceparent");

	tcase_add_loop_test(t, traceparent_valid, 0,
			    sizeof(valid_tp) / sizeof(valid_tp[0]));
	tcase_add_loop_test(t, traceparent_invalid, 0,
			    sizeof(invalid_tp) / sizeof(invalid_tp[0]));
	tcase_add_test(t, traceparent_fields);
	suite_add_tcase(s, t);

	t = tcase_create("tracestate");
	tcase_add_test(t, tracestate_combine);
	tcase_add_loop_test(t, tracestate_invalid, 0,
			    sizeof(ts_invalid) / sizeof(ts_invalid[0]));
	tcase_add_test(t, tracestate_level2_keys);
	tcase_add_test(t, tracestate_values);
	tcase_add_test(t, tracestate_members_limit);
	tcase_add_test(t, tracestate_truncation);
	suite_add_tcase(s, t);

	t = tcase_create("b3");
	tcase_add_test(t, b3_single);
	tcase_add_test(t, b3_multi);
	suite_add_tcase(s, t);
	return s;
}
