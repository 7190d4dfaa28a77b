/*
 * test_resource.c - the process resource: OTEL_RESOURCE_ATTRIBUTES parsing
 * (SPEC.md 1.3: split, first '=', trim, percent-decode, the whole variable
 * discarded on any error), service.name precedence and the detected
 * attributes.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "resource.h"

static struct resource res;
static struct exporter_config cfg;

static void reset(void)
{
	memset(&res, 0, sizeof(res));
	memset(&cfg, 0, sizeof(cfg));
	otel_log_set_level(LOG_NONE);
}

static int64_t get_int(const char *key)
{
	for (size_t i = 0; i < res.n; i++)
		if (res.attrs[i].is_int && !strcmp(res.attrs[i].key, key))
			return res.attrs[i].i;
	return -1;
}

START_TEST(parse_members)
{
	reset();
	ck_assert_int_eq(resource_parse_attributes(
				 &res, " deployment.environment = prod ,team=a%2Cb,"
				       "k%3Dx=v%3d1,empty=,utf=%C3%A9"),
			 5);
	ck_assert_str_eq(resource_get(&res, "deployment.environment"), "prod");
	ck_assert_str_eq(resource_get(&res, "team"), "a,b");
	ck_assert_str_eq(resource_get(&res, "k=x"), "v=1");
	ck_assert_str_eq(resource_get(&res, "empty"), "");
	ck_assert_str_eq(resource_get(&res, "utf"), "\xc3\xa9");
	ck_assert_ptr_null(resource_get(&res, "nope"));
}
END_TEST

START_TEST(parse_value_with_equals_splits_at_first)
{
	reset();
	ck_assert_int_eq(resource_parse_attributes(&res, "a=b=c"), 1);
	ck_assert_str_eq(resource_get(&res, "a"), "b=c");
}
END_TEST

START_TEST(parse_empty_members_and_duplicates)
{
	reset();
	ck_assert_int_eq(resource_parse_attributes(&res, ",a=1,, ,a=2,"), 1);
	ck_assert_str_eq(resource_get(&res, "a"), "2");
	ck_assert_uint_eq(res.n, 1);
	ck_assert_int_eq(resource_parse_attributes(&res, ""), 0);
}
END_TEST

START_TEST(parse_errors_discard_everything)
{
	static const char *const bad[] = {
		"a=1,b",	  /* member without '=' */
		"a=1,=2",	  /* empty key */
		"a=%zz",	  /* bad escape */
		"a=%4",		  /* short escape */
		"a=1,b=%",	  /* truncated escape at the end */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reset();
		ck_assert_msg(resource_parse_attributes(&res, bad[i]) == -1,
			      "accepted %s", bad[i]);
		ck_assert_uint_eq(res.n, 0);
	}
	/* a value longer than the fixed field is an error, not a silent cut */
	char big[400];
	memset(big, 'v', sizeof(big));
	memcpy(big, "k=", 2);
	big[sizeof(big) - 1] = '\0';
	reset();
	ck_assert_int_eq(resource_parse_attributes(&res, big), -1);
}
END_TEST

START_TEST(build_defaults)
{
	reset();
	resource_build(&res, &cfg, 4242);
	ck_assert_int_eq(get_int("process.pid"), 4242);
	/* the test executable's own name */
	ck_assert_str_eq(resource_get(&res, "process.executable.name"),
			 "test_resource");
	ck_assert_str_eq(resource_get(&res, "service.name"),
			 "unknown_service:test_resource");
	ck_assert_str_eq(resource_get(&res, "telemetry.sdk.name"), "otelshim");
	ck_assert_str_eq(resource_get(&res, "telemetry.sdk.language"), "c");
	ck_assert_str_eq(resource_get(&res, "telemetry.sdk.version"),
			 OTELSHIM_VERSION);
	char host[256];
	gethostname(host, sizeof(host));
	ck_assert_str_eq(resource_get(&res, "host.name"), host);
	ck_assert_ptr_nonnull(resource_get(&res, "process.executable.path"));
}
END_TEST

START_TEST(build_service_name_precedence)
{
	reset();
	strcpy(cfg.resource_attributes, "service.name=from-attrs,team=x");
	resource_build(&res, &cfg, 1);
	ck_assert_str_eq(resource_get(&res, "service.name"), "from-attrs");
	ck_assert_str_eq(resource_get(&res, "team"), "x");

	reset();
	strcpy(cfg.resource_attributes, "service.name=from-attrs");
	strcpy(cfg.service_name, "from-env");
	resource_build(&res, &cfg, 1);
	ck_assert_str_eq(resource_get(&res, "service.name"), "from-env");
}
END_TEST

START_TEST(build_user_overrides_detected_not_sdk)
{
	reset();
	strcpy(cfg.resource_attributes,
	       "host.name=myhost,telemetry.sdk.name=fake");
	resource_build(&res, &cfg, 1);
	ck_assert_str_eq(resource_get(&res, "host.name"), "myhost");
	ck_assert_str_eq(resource_get(&res, "telemetry.sdk.name"), "otelshim");
	/* each key once */
	for (size_t i = 0; i < res.n; i++)
		for (size_t j = i + 1; j < res.n; j++)
			ck_assert_str_ne(res.attrs[i].key, res.attrs[j].key);
}
END_TEST

START_TEST(build_bad_attributes_ignored_whole)
{
	reset();
	strcpy(cfg.resource_attributes, "team=x,broken");
	resource_build(&res, &cfg, 1);
	ck_assert_ptr_null(resource_get(&res, "team"));
	ck_assert_str_eq(resource_get(&res, "service.name"),
			 "unknown_service:test_resource");
}
END_TEST

START_TEST(build_too_many_attributes_is_safe)
{
	reset();
	char *p = cfg.resource_attributes;
	for (int i = 0; i < 60; i++)
		p += sprintf(p, "k%d=v,", i);
	resource_build(&res, &cfg, 1);
	/* rejected whole (too many members) or bounded: never overflowed */
	ck_assert_uint_le(res.n, RESOURCE_MAX_ATTRS);
	ck_assert_ptr_nonnull(resource_get(&res, "service.name"));
	ck_assert_ptr_nonnull(resource_get(&res, "telemetry.sdk.name"));
}
END_TEST

Suite *unit_suite(void)
{
	Suite *s = suite_create("resource");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, parse_members);
	tcase_add_test(tc, parse_value_with_equals_splits_at_first);
	tcase_add_test(tc, parse_empty_members_and_duplicates);
	tcase_add_test(tc, parse_errors_discard_everything);
	tcase_add_test(tc, build_defaults);
	tcase_add_test(tc, build_service_name_precedence);
	tcase_add_test(tc, build_user_overrides_detected_not_sdk);
	tcase_add_test(tc, build_bad_attributes_ignored_whole);
	tcase_add_test(tc, build_too_many_attributes_is_safe);
	suite_add_tcase(s, tc);
	return s;
}
