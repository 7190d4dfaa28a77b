/*
 * test_config.c - config_parse() against SPEC.md section 1: defaults, the
 * generic parsing rules of 1.1 (empty is unset, booleans, numbers, enums),
 * the batch span processor variables of 1.4, the OTLP endpoint rules of
 * 1.7, propagators, samplers and the resource variables.
 *
 * The environment is a table (lookup() below), so no test touches the
 * process environment except the config_load() ones. config_parse()
 * returns its warning count, which every test checks exactly; stderr is
 * redirected to a file by a checked fixture so that warnings are silent
 * and their text can be inspected (a warning echoes the variable and the
 * value, except for secrets).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "config.h"

/* ---- the table environment ----------------------------------------------- */

#define ENV_MAX 32

static const char *env_name[ENV_MAX];
static const char *env_value[ENV_MAX];
static int env_n;

static void env_clear(void)
{
	env_n = 0;
}

static void env_set(const char *name, const char *value)
{
	for (int i = 0; i < env_n; i++)
		if (!strcmp(env_name[i], name)) {
			env_value[i] = value;
			return;
		}
	ck_assert_int_lt(env_n, ENV_MAX);
	env_name[env_n] = name;
	env_value[env_n] = value;
	env_n++;
}

static const char *lookup(const char *name)
{
	for (int i = 0; i < env_n; i++)
		if (!strcmp(env_name[i], name))
			return env_value[i];
	return NULL;
}

static struct config cfg;

static int parse(void)
{
	return config_parse(&cfg, lookup);
}

/* ---- stderr capture ------------------------------------------------------ */

static char log_path[] = "/tmp/otelshim-test-config-XXXXXX";
static int saved_stderr = -1;

static void capture_setup(void)
{
	int fd = mkstemp(log_path);

	ck_assert_int_ge(fd, 0);
	unlink(log_path);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	env_clear();
}

static void capture_teardown(void)
{
	if (saved_stderr >= 0) {
		dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
		saved_stderr = -1;
	}
	strcpy(log_path + sizeof(log_path) - 7, "XXXXXX");
}

/* Everything logged since the fixture started (NUL-terminated). */
static const char *logged(void)
{
	static char buf[16384];
	ssize_t n = pread(STDERR_FILENO, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* A string of n copies of c (static storage, one per slot). */
static const char *repeat(int slot, char c, size_t n)
{
	static char bufs[4][8192];

	ck_assert_uint_lt(n, sizeof(bufs[0]));
	memset(bufs[slot], c, n);
	bufs[slot][n] = '\0';
	return bufs[slot];
}

/* ---- defaults (SPEC.md 1.2, 1.4, 1.6, 1.7) ------------------------------- */

static void assert_default_endpoint(void)
{
	ck_assert_str_eq(cfg.exporter.endpoint_scheme, "http");
	ck_assert_str_eq(cfg.exporter.endpoint_host, "localhost");
	ck_assert_uint_eq(cfg.exporter.endpoint_port, 4318);
	ck_assert_str_eq(cfg.exporter.endpoint_path, "/v1/traces");
}

static void assert_defaults(void)
{
	const struct exporter_config *e = &cfg.exporter;

	ck_assert_int_eq(cfg.disabled, 0);
	ck_assert_int_eq(cfg.secure, 0);
	ck_assert_int_eq(cfg.sampler.root, SAMPLER_ALWAYS_ON);
	ck_assert_int_eq(cfg.sampler.parent_based, 1);
	ck_assert(cfg.sampler.ratio == 1.0);
	ck_assert_uint_eq(cfg.propagators,
			  PROPAGATE_TRACECONTEXT | PROPAGATE_BAGGAGE);
	ck_assert_int_eq(cfg.log_level, LOG_INFO);
	ck_assert_int_eq(e->kind, EXPORTER_OTLP);
	assert_default_endpoint();
	ck_assert_str_eq(e->headers, "");
	ck_assert_uint_eq(e->timeout_ms, 10000);
	ck_assert_uint_eq(e->schedule_delay_ms, 5000);
	ck_assert_uint_eq(e->export_timeout_ms, 30000);
	ck_assert_uint_eq(e->max_queue_size, 2048);
	ck_assert_uint_eq(e->max_export_batch_size, 512);
	ck_assert_uint_eq(e->exit_flush_timeout_ms, 2000);
	ck_assert_uint_eq(e->attr_value_length_limit, 0);
	ck_assert_uint_eq(e->attr_count_limit, 128);
	ck_assert_str_eq(e->service_name, "");
	ck_assert_str_eq(e->resource_attributes, "");
	ck_assert_str_eq(cfg.env_traceparent, "");
	ck_assert_str_eq(cfg.env_tracestate, "");
	ck_assert_int_eq(cfg.stack_mode, STACK_ERRORS);
	ck_assert_uint_eq(cfg.stack_slow_ms, 500);
}

START_TEST(defaults)
{
	ck_assert_int_eq(parse(), 0);
	assert_defaults();
	ck_assert_int_eq(otel_log_get_level(), LOG_INFO);
	ck_assert_str_eq(logged(), "");
}
END_TEST

/* Every variable we read, for the "empty is unset" rule (SPEC.md 1.1). */
static const char *const all_vars[] = {
	"OTEL_SDK_DISABLED",
	"OTEL_SERVICE_NAME",
	"OTEL_RESOURCE_ATTRIBUTES",
	"OTEL_LOG_LEVEL",
	"OTEL_PROPAGATORS",
	"OTEL_TRACES_SAMPLER",
	"OTEL_TRACES_SAMPLER_ARG",
	"OTEL_TRACES_EXPORTER",
	"OTEL_CONFIG_FILE",
	"OTEL_BSP_SCHEDULE_DELAY",
	"OTEL_BSP_EXPORT_TIMEOUT",
	"OTEL_BSP_MAX_QUEUE_SIZE",
	"OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
	"OTEL_EXPORTER_OTLP_ENDPOINT",
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL",
	"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_EXPORTER_OTLP_HEADERS",
	"OTEL_EXPORTER_OTLP_TRACES_HEADERS",
	"OTEL_EXPORTER_OTLP_TIMEOUT",
	"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
	"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
	"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
	"OTEL_ATTRIBUTE_COUNT_LIMIT",
	"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
	"OTELSHIM_EXIT_FLUSH_TIMEOUT",
	"OTELSHIM_STACKTRACE",
	"OTELSHIM_STACKTRACE_SLOW_MS",
	"TRACEPARENT",
	"TRACESTATE",
};

START_TEST(empty_is_unset)
{
	for (size_t i = 0; i < sizeof(all_vars) / sizeof(all_vars[0]); i++)
		env_set(all_vars[i], "");
	ck_assert_int_eq(parse(), 0);
	assert_defaults();
	ck_assert_str_eq(logged(), "");
}
END_TEST

/* config_parse() starts from zero: nothing of a previous parse leaks. */
START_TEST(parse_resets_the_struct)
{
	memset(&cfg, 0x5a, sizeof(cfg));
	ck_assert_int_eq(parse(), 0);
	assert_defaults();
}
END_TEST

/* ---- booleans ------------------------------------------------------------ */

static const struct {
	const char *value;
	int result;
	int warnings;
} bools[] = {
	{"true", 1, 0},    {"TRUE", 1, 0},  {"True", 1, 0},
	{"tRuE", 1, 0},    {"false", 0, 0}, {"FALSE", 0, 0},
	{"False", 0, 0},   {"1", 0, 1},     {"yes", 0, 1},
	{"on", 0, 1},      {"0", 0, 1},     {"no", 0, 1},
	{"t", 0, 1},       {"enabled", 0, 1}, {"truee", 0, 1},
	{"true1", 0, 1},
};

START_TEST(sdk_disabled_bool)
{
	env_set("OTEL_SDK_DISABLED", bools[_i].value);
	ck_assert_int_eq(parse(), bools[_i].warnings);
	ck_assert_msg(cfg.disabled == bools[_i].result, "'%s' gave %d",
		      bools[_i].value, cfg.disabled);
	if (bools[_i].warnings) {
		ck_assert_ptr_nonnull(strstr(logged(), "OTEL_SDK_DISABLED"));
		ck_assert_ptr_nonnull(strstr(logged(), bools[_i].value));
	}
}
END_TEST

/* Disabling the SDK does not disable propagation (SPEC.md 1.2). */
START_TEST(sdk_disabled_keeps_propagators)
{
	env_set("OTEL_SDK_DISABLED", "true");
	env_set("OTEL_PROPAGATORS", "b3");
	ck_assert_int_eq(parse(), 0);
	ck_assert_int_eq(cfg.disabled, 1);
	ck_assert_uint_eq(cfg.propagators, PROPAGATE_B3);
}
END_TEST

/* ---- numbers ------------------------------------------------------------- */

static const char *const number_vars[] = {
	"OTEL_BSP_SCHEDULE_DELAY",
	"OTEL_BSP_EXPORT_TIMEOUT",
	"OTEL_BSP_MAX_QUEUE_SIZE",
	"OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
	"OTEL_EXPORTER_OTLP_TIMEOUT",
	"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
	"OTELSHIM_EXIT_FLUSH_TIMEOUT",
	"OTEL_ATTRIBUTE_COUNT_LIMIT",
	"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
	"OTELSHIM_STACKTRACE_SLOW_MS",
};
#define N_NUMBER_VARS (sizeof(number_vars) / sizeof(number_vars[0]))

static const char *const bad_numbers[] = {
	"banana", "-5",	 "-0x5",	"99999999999", "2147483648",
	"12abc",  "1.5", "1e3",	"0x10",	"+5",
	"5 5",	  " ",	 "--1", "18446744073709551617",
};
#define N_BAD_NUMBERS (sizeof(bad_numbers) / sizeof(bad_numbers[0]))

static uint32_t number_field(const char *name)
{
	const struct exporter_config *e = &cfg.exporter;

	if (!strcmp(name, "OTEL_BSP_SCHEDULE_DELAY"))
		return e->schedule_delay_ms;
	if (!strcmp(name, "OTEL_BSP_EXPORT_TIMEOUT"))
		return e->export_timeout_ms;
	if (!strcmp(name, "OTEL_BSP_MAX_QUEUE_SIZE"))
		return e->max_queue_size;
	if (!strcmp(name, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"))
		return e->max_export_batch_size;
	if (!strcmp(name, "OTEL_EXPORTER_OTLP_TIMEOUT") ||
	    !strcmp(name, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"))
		return e->timeout_ms;
	if (!strcmp(name, "OTELSHIM_EXIT_FLUSH_TIMEOUT"))
		return e->exit_flush_timeout_ms;
	if (!strcmp(name, "OTEL_ATTRIBUTE_COUNT_LIMIT"))
		return e->attr_count_limit;
	if (!strcmp(name, "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT"))
		return e->attr_value_length_limit;
	if (!strcmp(name, "OTELSHIM_STACKTRACE_SLOW_MS"))
		return cfg.stack_slow_ms;
	ck_abort_msg("no field for %s", name);
	return 0;
}

/* The default of each variable, read from a parse of nothing. */
static uint32_t number_default(const char *name)
{
	struct config saved = cfg;
	uint32_t d;

	env_clear();
	ck_assert_int_eq(parse(), 0);
	d = number_field(name);
	cfg = saved;
	return d;
}

/* Every bad value of every numeric variable: the default, one warning. */
START_TEST(bad_number)
{
	const char *name = number_vars[_i / N_BAD_NUMBERS];
	const char *value = bad_numbers[_i % N_BAD_NUMBERS];
	uint32_t def = number_default(name);

	env_clear();
	env_set(name, value);
	ck_assert_msg(parse() == 1, "%s='%s': not exactly one warning", name,
		      value);
	ck_assert_msg(number_field(name) == def, "%s='%s' gave %u", name,
		      value, number_field(name));
	/* the warning names the variable and echoes the value */
	ck_assert_ptr_nonnull(strstr(logged(), name));
	ck_assert_ptr_nonnull(strstr(logged(), value));
}
END_TEST

/* Valid values, including both ends of the range. */
START_TEST(good_numbers)
{
	env_set("OTEL_BSP_SCHEDULE_DELAY", "0");
	env_set("OTEL_BSP_EXPORT_TIMEOUT", "2147483647");
	env_set("OTEL_BSP_MAX_QUEUE_SIZE", "1");
	env_set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1");
	env_set("OTEL_EXPORTER_OTLP_TIMEOUT", "0");
	env_set("OTELSHIM_EXIT_FLUSH_TIMEOUT", "250");
	ck_assert_int_eq(parse(), 0);
	ck_assert_uint_eq(cfg.exporter.schedule_delay_ms, 0);
	ck_assert_uint_eq(cfg.exporter.export_timeout_ms, 2147483647u);
	ck_assert_uint_eq(cfg.exporter.max_queue_size, 1);
	ck_assert_uint_eq(cfg.exporter.max_export_batch_size, 1);
	ck_assert_uint_eq(cfg.exporter.timeout_ms, 0);	/* no limit */
	ck_assert_uint_eq(cfg.exporter.exit_flush_timeout_ms, 250);

	env_clear();
	env_set("OTEL_BSP_SCHEDULE_DELAY", "100");
	env_set("OTEL_BSP_EXPORT_TIMEOUT", "0");
	env_set("OTEL_BSP_MAX_QUEUE_SIZE", "4096");
	env_set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1024");
	env_set("OTEL_EXPORTER_OTLP_TIMEOUT", "2500");
	env_set("OTELSHIM_EXIT_FLUSH_TIMEOUT", "0");
	ck_assert_int_eq(parse(), 0);
	ck_assert_uint_eq(cfg.exporter.schedule_delay_ms, 100);
	ck_assert_uint_eq(cfg.exporter.export_timeout_ms, 0);
	ck_assert_uint_eq(cfg.exporter.max_queue_size, 4096);
	ck_assert_uint_eq(cfg.exporter.max_export_batch_size, 1024);
	ck_assert_uint_eq(cfg.exporter.timeout_ms, 2500);
	ck_assert_uint_eq(cfg.exporter.exit_flush_timeout_ms, 0);
	ck_assert_str_eq(logged(), "");
}
END_TEST

/* Sizes must be positive (SPEC.md 1.4): 0 is out of range. */
START_TEST(zero_sizes_rejected)
{
	env_set("OTEL_BSP_MAX_QUEUE_SIZE", "0");
	ck_assert_int_eq(parse(), 1);
	ck_assert_uint_eq(cfg.exporter.max_queue_size, 2048);
	env_clear();
	env_set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0");
	ck_assert_int_eq(parse(), 1);
	ck_assert_uint_eq(cfg.exporter.max_export_batch_size, 512);
}
END_TEST

/* Several bad values: one warning each. */
START_TEST(warnings_add_up)
{
	env_set("OTEL_BSP_SCHEDULE_DELAY", "banana");
	env_set("OTEL_BSP_EXPORT_TIMEOUT", "-5");
	env_set("OTEL_BSP_MAX_QUEUE_SIZE", "99999999999");
	env_set("OTEL_SDK_DISABLED", "yes");
	env_set("OTEL_TRACES_SAMPLER", "bogus");
	ck_assert_int_eq(parse(), 5);
	ck_assert_uint_eq(cfg.exporter.schedule_delay_ms, 5000);
	ck_assert_uint_eq(cfg.exporter.export_timeout_ms, 30000);
	ck_assert_uint_eq(cfg.exporter.max_queue_size, 2048);
	ck_assert_int_eq(cfg.disabled, 0);
}
END_TEST

/* Warnings are counted even when the log level hides them. */
START_TEST(warnings_counted_when_silent)
{
	env_set("OTEL_LOG_LEVEL", "none");
	env_set("OTEL_BSP_SCHEDULE_DELAY", "banana");
	env_set("OTEL_SDK_DISABLED", "1");
	ck_assert_int_eq(parse(), 2);
	ck_assert_int_eq(cfg.log_level, LOG_NONE);
	ck_assert_str_eq(logged(), "");
}
END_TEST

/* ---- batch size vs queue size (SPEC.md 1.4) ------------------------------ */

START_TEST(batch_larger_than_queue)
{
	env_set("OTEL_BSP_MAX_QUEUE_SIZE", "100");
	env_set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "200");
	ck_assert_int_eq(parse(), 1);
	ck_assert_uint_eq(cfg.exporter.max_queue_size, 100);
	ck_assert_uint_eq(cfg.exporter.max_export_batch_size, 100);
	ck_assert_ptr_nonnull(
		strstr(logged(), "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"));
}
END_TEST

/*
 * A queue smaller than the default batch: the batch follows the queue. The
 * user set nothing wrong, so there is nothing to warn about.
 */
START_TEST(small_queue_default_batch)
{
	env_set("OTEL_BSP_MAX_QUEUE_SIZE", "100");
	ck_assert_int_eq(parse(), 0);
	ck_assert_uint_eq(cfg.exporter.max_queue_size, 100);
	ck_assert_uint_eq(cfg.exporter.max_export_batch_size, 100);
}
END_TEST

START_TEST(batch_equal_to_queue)
{
	env_set("OTEL_BSP_MAX_QUEUE_SIZE", "64");
	env_set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64");
	ck_assert_int_eq(parse(), 0);
	ck_assert_uint_eq(cfg.exporter.max_export_batch_size, 64);
}
END_TEST

/* A bad queue size gives the default 2048, against which 1000 is fine. */
START_TEST(batch_against_default_queue)
{
	env_set("OTEL_BSP_MAX_QUEUE_SIZE", "banana");
	env_set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1000");
	ck_assert_int_eq(parse(), 1);
	ck_assert_uint_eq(cfg.exporter.max_queue_size, 2048);
	ck_assert_uint_eq(cfg.exporter.max_export_batch_size, 1000);
	env_set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "3000");
	ck_assert_int_eq(parse(), 2);
	ck_assert_uint_eq(cfg.exporter.max_export_batch_size, 2048);
}
END_TEST

/* ---- timeouts (SPEC.md 1.6) ---------------------------------------------- */

START_TEST(otlp_timeout)
{
	env_set("OTEL_EXPORTER_OTLP_TIMEOUT", "2500");
	ck_assert_int_eq(parse(), 0);
	ck_assert_uint_eq(cfg.exporter.timeout_ms, 2500);
	/* the signal-specific variable wins */
	env_set("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700");
	ck_assert_int_eq(parse(), 0);
	ck_assert_uint_eq(cfg.exporter.timeout_ms, 700);
	/* an empty signal-specific variable is unset */
	env_set("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "");
	ck_assert_int_eq(parse(), 0);
	ck_assert_uint_eq(cfg.exporter.timeout_ms, 2500);
	/* only the signal-specific one */
	env_clear();
	env_set("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1234");
	ck_assert_int_eq(parse(), 0);
	ck_assert_uint_eq(cfg.exporter.timeout_ms, 1234);
}
END_TEST

START_TEST(otlp_timeout_bad)
{
	env_set("OTEL_EXPORTER_OTLP_TIMEOUT", "soon");
	ck_assert_int_eq(parse(), 1);
	ck_assert_uint_eq(cfg.exporter.timeout_ms, 10000);
	/*
	 * A bad signal-specific value warns once; whether the generic value
	 * or the default then applies, the bad value never does.
	 */
	env_clear();
	env_set("OTEL_EXPORTER_OTLP_TIMEOUT", "3000");
	env_set("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "-1");
	ck_assert_int_eq(parse(), 1);
	ck_assert(cfg.exporter.timeout_ms == 3000 ||
		  cfg.exporter.timeout_ms == 10000);
	ck_assert_ptr_nonnull(
		strstr(logged(), "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"));
}
END_TEST

/* ---- attribute limits (SPEC.md 1.5) -------------------------------------- */

START_TEST(attribute_limits)
{
	env_set("OTEL_ATTRIBUTE_COUNT_LIMIT", "20");
	env_set("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "300");
	ck_assert_int_eq(parse(), 0);
	ck_assert_uint_eq(cfg.exporter.attr_count_limit, 20);
	ck_assert_uint_eq(cfg.exporter.attr_value_length_limit, 300);
	/* the span-specific variables win over the general ones */
	env_set("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "10");
	env_set("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "64");
	ck_assert_int_eq(parse(), 0);
	ck_assert_uint_eq(cfg.exporter.attr_count_limit, 10);
	ck_assert_uint_eq(cfg.exporter.attr_value_length_limit, 64);
	/* 0 is valid: no attributes / (length) no limit */
	env_set("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "0");
	ck_assert_int_eq(parse(), 0);
	ck_assert_uint_eq(cfg.exporter.attr_count_limit, 0);
}
END_TEST

/* ---- endpoint (SPEC.md 1.7) ---------------------------------------------- */

static const struct {
	const char *traces;	/* OTEL_EXPORTER_OTLP_TRACES_ENDPOINT */
	const char *generic;	/* OTEL_EXPORTER_OTLP_ENDPOINT */
	const char *host;
	unsigned port;
	const char *path;
} endpoints[] = {
	/* generic: a base to which v1/traces is appended */
	{NULL, "http://collector:4318", "collector", 4318, "/v1/traces"},
	{NULL, "http://collector:4318/", "collector", 4318, "/v1/traces"},
	{NULL, "http://c:4318/mycollector/", "c", 4318,
	 "/mycollector/v1/traces"},
	{NULL, "http://c:4318/mycollector", "c", 4318,
	 "/mycollector/v1/traces"},
	{NULL, "http://collector", "collector", 80, "/v1/traces"},
	{NULL, "http://10.0.0.7:9999", "10.0.0.7", 9999, "/v1/traces"},
	{NULL, "http://[::1]:4318", "::1", 4318, "/v1/traces"},
	{NULL, "http://[fe80::1]/", "fe80::1", 80, "/v1/traces"},
	{NULL, "HTTP://Collector:4318", "Collector", 4318, "/v1/traces"},
	/* signal-specific: used as given, only an empty path becomes / */
	{"http://collector:4318", NULL, "collector", 4318, "/"},
	{"http://collector:4318/", NULL, "collector", 4318, "/"},
	{"http://collector:4318/v1/traces", NULL, "collector", 4318,
	 "/v1/traces"},
	{"http://collector:4318/custom/path", NULL, "collector", 4318,
	 "/custom/path"},
	{"http://collector", NULL, "collector", 80, "/"},
	{"http://[2001:db8::2]:1234/x", NULL, "2001:db8::2", 1234, "/x"},
	{"http://h:1/p?tenant=a", NULL, "h", 1, "/p?tenant=a"},
	{"http://h:1/p#frag", NULL, "h", 1, "/p"},
	{"http://user:secret@h:2/p", NULL, "h", 2, "/p"},
	/* the signal-specific variable wins */
	{"http://t:1/a", "http://g:2/", "t", 1, "/a"},
	{"http://t:1", "http://g:2/base", "t", 1, "/"},
};

START_TEST(endpoint_valid)
{
	if (endpoints[_i].traces)
		env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
			endpoints[_i].traces);
	if (endpoints[_i].generic)
		env_set("OTEL_EXPORTER_OTLP_ENDPOINT", endpoints[_i].generic);
	ck_assert_int_eq(parse(), 0);
	ck_assert_int_eq(cfg.exporter.kind, EXPORTER_OTLP);
	ck_assert_str_eq(cfg.exporter.endpoint_scheme, "http");
	ck_assert_str_eq(cfg.exporter.endpoint_host, endpoints[_i].host);
	ck_assert_uint_eq(cfg.exporter.endpoint_port, endpoints[_i].port);
	ck_assert_str_eq(cfg.exporter.endpoint_path, endpoints[_i].path);
}
END_TEST

static const char *const bad_urls[] = {
	"collector:4318",
	"localhost",
	"ftp://collector:4318",
	"grpc://collector:4317",
	"http://",
	"http:///v1/traces",
	"http://:4318/",
	"http://h:0/",
	"http://h:65536/",
	"http://h:99999999999/",
	"http://h:-1/",
	"http://h:abc/",
	"http://h:/",
	"http://[::1",
	"http://h:80x/",
	"//collector:4318",
	" http://collector:4318",
};

/* A bad URL: one warning naming the variable and echoing it; default. */
START_TEST(endpoint_bad_traces)
{
	env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", bad_urls[_i]);
	ck_assert_msg(parse() == 1, "'%s': not exactly one warning",
		      bad_urls[_i]);
	ck_assert_int_eq(cfg.exporter.kind, EXPORTER_OTLP);
	assert_default_endpoint();
	ck_assert_ptr_nonnull(
		strstr(logged(), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"));
	ck_assert_ptr_nonnull(strstr(logged(), bad_urls[_i]));
}
END_TEST

START_TEST(endpoint_bad_generic)
{
	env_set("OTEL_EXPORTER_OTLP_ENDPOINT", bad_urls[_i]);
	ck_assert_msg(parse() == 1, "'%s': not exactly one warning",
		      bad_urls[_i]);
	assert_default_endpoint();
	ck_assert_ptr_nonnull(strstr(logged(), "OTEL_EXPORTER_OTLP_ENDPOINT"));
	ck_assert_ptr_nonnull(strstr(logged(), bad_urls[_i]));
}
END_TEST

/*
 * https is parsed (port 443 by default) but not supported yet: one warning
 * and the OTLP exporter is off (config.c: "spans will not be exported").
 */
START_TEST(endpoint_https)
{
	env_set("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector");
	ck_assert_int_eq(parse(), 1);
	ck_assert_str_eq(cfg.exporter.endpoint_scheme, "https");
	ck_assert_str_eq(cfg.exporter.endpoint_host, "collector");
	ck_assert_uint_eq(cfg.exporter.endpoint_port, 443);
	ck_assert_str_eq(cfg.exporter.endpoint_path, "/v1/traces");
	ck_assert_int_eq(cfg.exporter.kind, EXPORTER_NONE);
	ck_assert_ptr_nonnull(strstr(logged(), "https"));

	env_clear();
	env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"HTTPS://collector:4318/v1/traces");
	ck_assert_int_eq(parse(), 1);
	ck_assert_uint_eq(cfg.exporter.endpoint_port, 4318);
	ck_assert_int_eq(cfg.exporter.kind, EXPORTER_NONE);
}
END_TEST

/* The console exporter does not use the endpoint: https does not stop it. */
START_TEST(endpoint_https_console)
{
	env_set("OTEL_TRACES_EXPORTER", "console");
	env_set("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector");
	ck_assert_int_eq(parse(), 0);
	ck_assert_int_eq(cfg.exporter.kind, EXPORTER_CONSOLE);
}
END_TEST

/* Parts too long for their fields make the URL invalid, not truncated. */
START_TEST(endpoint_too_long)
{
	char url[8448];

	/* host of 300 bytes (the field holds 255) */
	snprintf(url, sizeof(url), "http://%s:4318/", repeat(0, 'h', 300));
	env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url);
	ck_assert_int_eq(parse(), 1);
	assert_default_endpoint();

	/* a host of 255 bytes fits */
	snprintf(url, sizeof(url), "http://%s:4318/", repeat(0, 'h', 255));
	ck_assert_int_eq(parse(), 0);
	ck_assert_uint_eq(strlen(cfg.exporter.endpoint_host), 255);

	/* a path of 600 bytes (the field holds 511) */
	snprintf(url, sizeof(url), "http://h:4318/%s", repeat(0, 'p', 600));
	ck_assert_int_eq(parse(), 1);
	assert_default_endpoint();

	/* a generic base whose path fits but not with v1/traces appended */
	snprintf(url, sizeof(url), "http://h:4318/%s/", repeat(0, 'p', 505));
	env_clear();
	env_set("OTEL_EXPORTER_OTLP_ENDPOINT", url);
	ck_assert_int_eq(parse(), 1);
	assert_default_endpoint();

	/*
	 * A URL longer than any buffer (here: a long userinfo, which is
	 * skipped) must be rejected, not cut: cutting it would silently
	 * change the path we post to.
	 */
	snprintf(url, sizeof(url), "http://%s@h:4318", repeat(0, 'u', 1010));
	ck_assert_int_eq(parse(), 1);
	assert_default_endpoint();
	env_clear();
	snprintf(url, sizeof(url), "http://%s@h:4318/abc",
		 repeat(0, 'u', 2000));
	env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url);
	ck_assert_int_eq(parse(), 1);
	assert_default_endpoint();
}
END_TEST

/* ---- protocol and headers (SPEC.md 1.6) ---------------------------------- */

START_TEST(protocol)
{
	env_set("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
	ck_assert_int_eq(parse(), 0);
	env_set("OTEL_EXPORTER_OTLP_PROTOCOL", "HTTP/Protobuf");
	ck_assert_int_eq(parse(), 0);
	env_set("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
	ck_assert_int_eq(parse(), 1);
	ck_assert_int_eq(cfg.exporter.kind, EXPORTER_OTLP);
	env_set("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
	ck_assert_int_eq(parse(), 1);
	/* the signal-specific value wins */
	env_set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf");
	ck_assert_int_eq(parse(), 0);
	env_set("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
	env_set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc");
	ck_assert_int_eq(parse(), 1);
	ck_assert_ptr_nonnull(
		strstr(logged(), "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"));
}
END_TEST

START_TEST(headers)
{
	env_set("OTEL_EXPORTER_OTLP_HEADERS", "api-key=secret1,x=1");
	ck_assert_int_eq(parse(), 0);
	ck_assert_str_eq(cfg.exporter.headers, "api-key=secret1,x=1");
	/* generic first, then signal-specific (later keys win downstream) */
	env_set("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x=2");
	ck_assert_int_eq(parse(), 0);
	ck_assert_str_eq(cfg.exporter.headers, "api-key=secret1,x=1,x=2");
	env_clear();
	env_set("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "only=traces");
	ck_assert_int_eq(parse(), 0);
	ck_assert_str_eq(cfg.exporter.headers, "only=traces");
}
END_TEST

/* Too long: ignored with a warning that never shows the value (secret). */
START_TEST(headers_too_long)
{
	char h[8448];

	snprintf(h, sizeof(h), "authorization=Bearer-supersecret-%s",
		 repeat(0, 'k', 2100));
	env_set("OTEL_EXPORTER_OTLP_HEADERS", h);
	ck_assert_int_eq(parse(), 1);
	ck_assert_str_eq(cfg.exporter.headers, "");
	ck_assert_ptr_nonnull(strstr(logged(), "OTEL_EXPORTER_OTLP_HEADERS"));
	ck_assert_ptr_null(strstr(logged(), "supersecret"));

	/* exactly the capacity (2047 bytes) fits */
	char one[2048], two[1600];
	memcpy(one, "k=", 2);
	memcpy(one + 2, repeat(1, 'a', 2045), 2046);
	env_set("OTEL_EXPORTER_OTLP_HEADERS", one);
	ck_assert_int_eq(parse(), 0);
	ck_assert_uint_eq(strlen(cfg.exporter.headers), 2047);
	/* two that fit alone but not together */
	memcpy(one + 2, repeat(1, 'a', 1498), 1499);
	memcpy(two, "j=", 2);
	memcpy(two + 2, repeat(2, 'b', 1498), 1499);
	env_set("OTEL_EXPORTER_OTLP_HEADERS", one);
	env_set("OTEL_EXPORTER_OTLP_TRACES_HEADERS", two);
	ck_assert_int_eq(parse(), 1);
	ck_assert_str_eq(cfg.exporter.headers, "");
}
END_TEST

/* No warning of any kind ever echoes a header value. */
START_TEST(headers_never_logged)
{
	env_set("OTEL_EXPORTER_OTLP_HEADERS", "k=topsecret");
	env_set("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "k2=alsosecret");
	env_set("OTEL_BSP_SCHEDULE_DELAY", "banana");
	env_set("OTEL_EXPORTER_OTLP_ENDPOINT", "nonsense");
	ck_assert_int_eq(parse(), 2);
	ck_assert_ptr_null(strstr(logged(), "topsecret"));
	ck_assert_ptr_null(strstr(logged(), "alsosecret"));
}
END_TEST

/* ---- exporter kind (SPEC.md 1.2) ----------------------------------------- */

static const struct {
	const char *value;
	enum exporter_kind kind;
	int warnings;
} exporters[] = {
	{"otlp", EXPORTER_OTLP, 0},
	{"OTLP", EXPORTER_OTLP, 0},
	{"console", EXPORTER_CONSOLE, 0},
	{"Console", EXPORTER_CONSOLE, 0},
	{"none", EXPORTER_NONE, 0},
	{"NONE", EXPORTER_NONE, 0},
	{" console ", EXPORTER_CONSOLE, 0},
	{"zipkin", EXPORTER_OTLP, 1},
	{"logging", EXPORTER_OTLP, 1},
	{"otlp/stdout", EXPORTER_OTLP, 1},
	{"jaeger", EXPORTER_OTLP, 1},
	/* a list: one exporter runs, the first */
	{"console,otlp", EXPORTER_CONSOLE, 1},
	{"none,console", EXPORTER_NONE, 1},
};

START_TEST(exporter_kind)
{
	env_set("OTEL_TRACES_EXPORTER", exporters[_i].value);
	ck_assert_msg(parse() == exporters[_i].warnings, "'%s'",
		      exporters[_i].value);
	ck_assert_msg(cfg.exporter.kind == exporters[_i].kind,
		      "'%s' gave %d", exporters[_i].value, cfg.exporter.kind);
	if (exporters[_i].warnings)
		ck_assert_ptr_nonnull(strstr(logged(), exporters[_i].value));
}
END_TEST

/* A very long value is handled without overflow. */
START_TEST(exporter_kind_long)
{
	env_set("OTEL_TRACES_EXPORTER", repeat(0, 'x', 5000));
	ck_assert_int_eq(parse(), 1);
	ck_assert_int_eq(cfg.exporter.kind, EXPORTER_OTLP);
}
END_TEST

/* ---- log level ----------------------------------------------------------- */

static const struct {
	const char *value;
	enum log_level level;
	int warnings;
} levels[] = {
	{"none", LOG_NONE, 0},	  {"error", LOG_ERROR, 0},
	{"warn", LOG_WARN, 0},	  {"warning", LOG_WARN, 0},
	{"info", LOG_INFO, 0},	  {"debug", LOG_DEBUG, 0},
	{"DEBUG", LOG_DEBUG, 0},  {"Warn", LOG_WARN, 0},
	{"ERROR", LOG_ERROR, 0},  {"loud", LOG_INFO, 1},
	{"trace", LOG_INFO, 1},	  {"5", LOG_INFO, 1},
};

START_TEST(log_level)
{
	env_set("OTEL_LOG_LEVEL", levels[_i].value);
	ck_assert_int_eq(parse(), levels[_i].warnings);
	ck_assert_int_eq(cfg.log_level, levels[_i].level);
	/* the logger is set to the parsed level */
	ck_assert_int_eq(otel_log_get_level(), levels[_i].level);
	if (levels[_i].warnings) {
		/* the warning is shown (info shows warnings) */
		ck_assert_ptr_nonnull(strstr(logged(), "OTEL_LOG_LEVEL"));
		ck_assert_ptr_nonnull(strstr(logged(), levels[_i].value));
	}
}
END_TEST

/* ---- stacks (OTELSHIM_STACKTRACE) ------------------------------------------ */

static const struct {
	const char *value;
	enum stack_mode mode;
	int warnings;
} stack_modes[] = {
	{"off", STACK_OFF, 0},	     {"errors", STACK_ERRORS, 0},
	{"slow", STACK_SLOW, 0},     {"all", STACK_ALL, 0},
	{"ALL", STACK_ALL, 0},	     {"Off", STACK_OFF, 0},
	{"sometimes", STACK_ERRORS, 1}, {"error", STACK_ERRORS, 1},
	{"none", STACK_ERRORS, 1},   {"1", STACK_ERRORS, 1},
	{" all", STACK_ERRORS, 1},   {"all,slow", STACK_ERRORS, 1},
};

START_TEST(stack_mode)
{
	env_set("OTELSHIM_STACKTRACE", stack_modes[_i].value);
	ck_assert_int_eq(parse(), stack_modes[_i].warnings);
	ck_assert_int_eq(cfg.stack_mode, stack_modes[_i].mode);
	if (stack_modes[_i].warnings) {
		/* one line, naming the variable and echoing the value */
		ck_assert_ptr_nonnull(strstr(logged(), "OTELSHIM_STACKTRACE="));
		ck_assert_ptr_nonnull(strstr(logged(), stack_modes[_i].value));
		ck_assert_ptr_null(strchr(strchr(logged(), '\n') + 1, '\n'));
	} else {
		ck_assert_str_eq(logged(), "");
	}
}
END_TEST

START_TEST(stack_slow_ms)
{
	env_set("OTELSHIM_STACKTRACE_SLOW_MS", "0");
	ck_assert_int_eq(parse(), 0);
	ck_assert_uint_eq(cfg.stack_slow_ms, 0);
	env_set("OTELSHIM_STACKTRACE_SLOW_MS", " 1500 ");
	ck_assert_int_eq(parse(), 0);
	ck_assert_uint_eq(cfg.stack_slow_ms, 1500);
	/* the threshold does not need the mode to be slow */
	env_set("OTELSHIM_STACKTRACE", "all");
	env_set("OTELSHIM_STACKTRACE_SLOW_MS", "-1");
	ck_assert_int_eq(parse(), 1);
	ck_assert_uint_eq(cfg.stack_slow_ms, 500);
	ck_assert_int_eq(cfg.stack_mode, STACK_ALL);
}
END_TEST

/* ---- samplers (SPEC.md 1.2, 7) ------------------------------------------- */

static const struct {
	const char *value;
	enum sampler_kind root;
	int parent_based;
	int warnings;
} samplers[] = {
	{"always_on", SAMPLER_ALWAYS_ON, 0, 0},
	{"always_off", SAMPLER_ALWAYS_OFF, 0, 0},
	{"traceidratio", SAMPLER_TRACEIDRATIO, 0, 0},
	{"parentbased_always_on", SAMPLER_ALWAYS_ON, 1, 0},
	{"parentbased_always_off", SAMPLER_ALWAYS_OFF, 1, 0},
	{"parentbased_traceidratio", SAMPLER_TRACEIDRATIO, 1, 0},
	{"ALWAYS_OFF", SAMPLER_ALWAYS_OFF, 0, 0},
	{"ParentBased_TraceIdRatio", SAMPLER_TRACEIDRATIO, 1, 0},
	{"jaeger_remote", SAMPLER_ALWAYS_ON, 1, 1},
	{"parentbased_jaeger_remote", SAMPLER_ALWAYS_ON, 1, 1},
	{"xray", SAMPLER_ALWAYS_ON, 1, 1},
	{"bogus", SAMPLER_ALWAYS_ON, 1, 1},
	{"always", SAMPLER_ALWAYS_ON, 1, 1},
};

START_TEST(sampler_kind)
{
	env_set("OTEL_TRACES_SAMPLER", samplers[_i].value);
	ck_assert_msg(parse() == samplers[_i].warnings, "'%s'",
		      samplers[_i].value);
	ck_assert_int_eq(cfg.sampler.root, samplers[_i].root);
	ck_assert_int_eq(cfg.sampler.parent_based, samplers[_i].parent_based);
	ck_assert(cfg.sampler.ratio == 1.0);
	if (samplers[_i].warnings) {
		ck_assert_ptr_nonnull(strstr(logged(), "OTEL_TRACES_SAMPLER"));
		ck_assert_ptr_nonnull(strstr(logged(), samplers[_i].value));
	}
}
END_TEST

static const struct {
	const char *arg;
	double ratio;
	int warnings;
} ratios[] = {
	{"0.25", 0.25, 0},   {"0", 0.0, 0},       {"1", 1.0, 0},
	{"1.0", 1.0, 0},     {"0.0001", 0.0001, 0}, {"1e-3", 0.001, 0},
	{".5", 0.5, 0},      {"0.5 ", 0.5, 0},    {"banana", 1.0, 1},
	{"1.5", 1.0, 1},     {"-0.1", 1.0, 1},    {"2", 1.0, 1},
	{"nan", 1.0, 1},     {"inf", 1.0, 1},     {"-inf", 1.0, 1},
	{"0.5x", 1.0, 1},    {"50%", 1.0, 1},     {"1e999", 1.0, 1},
};

START_TEST(sampler_arg)
{
	for (int pb = 0; pb < 2; pb++) {
		env_set("OTEL_TRACES_SAMPLER",
			pb ? "parentbased_traceidratio" : "traceidratio");
		env_set("OTEL_TRACES_SAMPLER_ARG", ratios[_i].arg);
		ck_assert_msg(parse() == ratios[_i].warnings, "arg '%s'",
			      ratios[_i].arg);
		ck_assert_int_eq(cfg.sampler.root, SAMPLER_TRACEIDRATIO);
		ck_assert_int_eq(cfg.sampler.parent_based, pb);
		ck_assert_msg(cfg.sampler.ratio == ratios[_i].ratio,
			      "arg '%s' gave %g", ratios[_i].arg,
			      cfg.sampler.ratio);
		if (ratios[_i].warnings) {
			ck_assert_ptr_nonnull(
				strstr(logged(), "OTEL_TRACES_SAMPLER_ARG"));
			ck_assert_ptr_nonnull(strstr(logged(), ratios[_i].arg));
		}
	}
}
END_TEST

/* The argument matters only to ratio samplers, and only when one is set. */
START_TEST(sampler_arg_ignored)
{
	env_set("OTEL_TRACES_SAMPLER_ARG", "banana");
	ck_assert_int_eq(parse(), 0);
	ck_assert_int_eq(cfg.sampler.root, SAMPLER_ALWAYS_ON);
	ck_assert_int_eq(cfg.sampler.parent_based, 1);
	ck_assert(cfg.sampler.ratio == 1.0);
	env_set("OTEL_TRACES_SAMPLER_ARG", "0.1");
	ck_assert_int_eq(parse(), 0);
	ck_assert(cfg.sampler.ratio == 1.0);
	env_set("OTEL_TRACES_SAMPLER", "always_off");
	ck_assert_int_eq(parse(), 0);
	ck_assert_int_eq(cfg.sampler.root, SAMPLER_ALWAYS_OFF);
	env_set("OTEL_TRACES_SAMPLER", "parentbased_always_on");
	env_set("OTEL_TRACES_SAMPLER_ARG", "banana");
	ck_assert_int_eq(parse(), 0);
	/* a ratio sampler without an argument: 1.0, no warning */
	env_clear();
	env_set("OTEL_TRACES_SAMPLER", "traceidratio");
	ck_assert_int_eq(parse(), 0);
	ck_assert(cfg.sampler.ratio == 1.0);
	ck_assert_uint_eq(cfg.sampler.threshold, UINT64_MAX);
}
END_TEST

START_TEST(sampler_threshold_precomputed)
{
	env_set("OTEL_TRACES_SAMPLER", "traceidratio");
	env_set("OTEL_TRACES_SAMPLER_ARG", "0.5");
	ck_assert_int_eq(parse(), 0);
	ck_assert_uint_eq(cfg.sampler.threshold, 1ull << 62);
}
END_TEST

/* ---- propagators (SPEC.md 1.2) ------------------------------------------- */

#define TC PROPAGATE_TRACECONTEXT
#define BG PROPAGATE_BAGGAGE
#define B3 PROPAGATE_B3
#define B3M PROPAGATE_B3MULTI

static const struct {
	const char *value;
	unsigned bits;
	int warnings;
} propagators[] = {
	{"tracecontext", TC, 0},
	{"baggage", BG, 0},
	{"b3", B3, 0},
	{"b3multi", B3M, 0},
	{"tracecontext,baggage", TC | BG, 0},
	{"b3,b3multi,tracecontext,baggage", TC | BG | B3 | B3M, 0},
	{"tracecontext,tracecontext", TC, 0},
	{"b3,tracecontext,b3,b3", TC | B3, 0},
	{" TraceContext , BAGGAGE ", TC | BG, 0},
	{"B3MULTI", B3M, 0},
	{"none", 0, 0},
	{"NONE", 0, 0},
	{"tracecontext,,baggage", TC | BG, 0},
	{"tracecontext,jaeger", TC, 1},
	{"xray,b3,ottrace", B3, 1},	/* one warning per variable */
	{"carrier,pigeon", TC | BG, 1},	/* nothing known: the default */
};

START_TEST(propagators_list)
{
	env_set("OTEL_PROPAGATORS", propagators[_i].value);
	ck_assert_msg(parse() == propagators[_i].warnings, "'%s'",
		      propagators[_i].value);
	ck_assert_msg(cfg.propagators == propagators[_i].bits,
		      "'%s' gave %#x", propagators[_i].value,
		      cfg.propagators);
}
END_TEST

/*
 * Nothing but unknown entries: one warning each. (Whether that leaves no
 * propagator or the default is not settled by SPEC.md 1.2; only prefixes
 * of known names must not match.)
 */
START_TEST(propagators_only_unknown)
{
	static const char *const v[] = {"b3x", "tracecontextbaggage", "trace",
					"base", "jaeger"};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		env_set("OTEL_PROPAGATORS", v[i]);
		ck_assert_msg(parse() == 1, "'%s'", v[i]);
		ck_assert_uint_eq(cfg.propagators & (B3 | B3M), 0);
	}
}
END_TEST

START_TEST(propagators_unknown_named)
{
	env_set("OTEL_PROPAGATORS", "tracecontext,jaeger");
	ck_assert_int_eq(parse(), 1);
	ck_assert_ptr_nonnull(strstr(logged(), "jaeger"));
	ck_assert_ptr_nonnull(strstr(logged(), "OTEL_PROPAGATORS"));
}
END_TEST

/* ---- resource, service, carrier, config file ----------------------------- */

START_TEST(service_name)
{
	env_set("OTEL_SERVICE_NAME", "checkout");
	ck_assert_int_eq(parse(), 0);
	ck_assert_str_eq(cfg.exporter.service_name, "checkout");
}
END_TEST

/* A service name longer than the field is cut safely at 255 bytes. */
START_TEST(service_name_long)
{
	const char *v = repeat(0, 's', 1000);

	env_set("OTEL_SERVICE_NAME", v);
	parse();
	ck_assert_uint_eq(strlen(cfg.exporter.service_name),
			  sizeof(cfg.exporter.service_name) - 1);
	ck_assert(!strncmp(cfg.exporter.service_name, v,
			   sizeof(cfg.exporter.service_name) - 1));
}
END_TEST

/* Copied raw: decoding and validation are the resource module's. */
START_TEST(resource_attributes_raw)
{
	const char *v = " service.name = a%2Cb ,deployment.environment=prod,"
			"bad%zz=1,=,k=v=w";

	env_set("OTEL_RESOURCE_ATTRIBUTES", v);
	ck_assert_int_eq(parse(), 0);
	ck_assert_str_eq(cfg.exporter.resource_attributes, v);
	/* OTEL_SERVICE_NAME is kept apart (it wins downstream) */
	env_set("OTEL_SERVICE_NAME", "svc");
	ck_assert_int_eq(parse(), 0);
	ck_assert_str_eq(cfg.exporter.service_name, "svc");
	ck_assert_str_eq(cfg.exporter.resource_attributes, v);
}
END_TEST

/* Too long to hold: ignored whole (never cut mid-pair) with a warning. */
START_TEST(resource_attributes_too_long)
{
	size_t cap = sizeof(cfg.exporter.resource_attributes);

	env_set("OTEL_RESOURCE_ATTRIBUTES", repeat(0, 'a', cap - 1));
	ck_assert_int_eq(parse(), 0);
	ck_assert_uint_eq(strlen(cfg.exporter.resource_attributes), cap - 1);
	env_set("OTEL_RESOURCE_ATTRIBUTES", repeat(0, 'a', cap));
	ck_assert_int_eq(parse(), 1);
	ck_assert_str_eq(cfg.exporter.resource_attributes, "");
	ck_assert_ptr_nonnull(strstr(logged(), "OTEL_RESOURCE_ATTRIBUTES"));
}
END_TEST

START_TEST(env_carrier)
{
	const char *tp =
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

	env_set("TRACEPARENT", tp);
	env_set("TRACESTATE", "congo=t61rcWkgMzE");
	ck_assert_int_eq(parse(), 0);
	ck_assert_str_eq(cfg.env_traceparent, tp);
	ck_assert_str_eq(cfg.env_tracestate, "congo=t61rcWkgMzE");
	/* too long: cut to the field, NUL-terminated (the carrier parser
	   rejects a cut traceparent) */
	env_set("TRACEPARENT", repeat(0, 'x', 500));
	env_set("TRACESTATE", repeat(1, 'y', 5000));
	parse();
	ck_assert_uint_eq(strlen(cfg.env_traceparent),
			  sizeof(cfg.env_traceparent) - 1);
	ck_assert_uint_eq(strlen(cfg.env_tracestate),
			  sizeof(cfg.env_tracestate) - 1);
}
END_TEST

START_TEST(config_file_warns)
{
	env_set("OTEL_CONFIG_FILE", "/etc/otel.yaml");
	env_set("OTEL_TRACES_SAMPLER", "always_off");
	ck_assert_int_eq(parse(), 1);
	/* the environment variables still apply */
	ck_assert_int_eq(cfg.sampler.root, SAMPLER_ALWAYS_OFF);
	ck_assert_ptr_nonnull(strstr(logged(), "OTEL_CONFIG_FILE"));
}
END_TEST

/* A full, valid configuration: everything applied, no warning. */
START_TEST(everything_at_once)
{
	env_set("OTEL_SDK_DISABLED", "false");
	env_set("OTEL_SERVICE_NAME", "api");
	env_set("OTEL_RESOURCE_ATTRIBUTES", "team=core");
	env_set("OTEL_LOG_LEVEL", "error");
	env_set("OTEL_PROPAGATORS", "b3multi");
	env_set("OTEL_TRACES_SAMPLER", "parentbased_traceidratio");
	env_set("OTEL_TRACES_SAMPLER_ARG", "0.1");
	env_set("OTEL_TRACES_EXPORTER", "otlp");
	env_set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318/base/");
	env_set("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
	env_set("OTEL_BSP_SCHEDULE_DELAY", "1000");
	env_set("OTEL_BSP_MAX_QUEUE_SIZE", "10000");
	env_set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1000");
	ck_assert_int_eq(parse(), 0);
	ck_assert_int_eq(cfg.log_level, LOG_ERROR);
	ck_assert_uint_eq(cfg.propagators, PROPAGATE_B3MULTI);
	ck_assert_int_eq(cfg.sampler.parent_based, 1);
	ck_assert(cfg.sampler.ratio == 0.1);
	ck_assert_str_eq(cfg.exporter.endpoint_host, "otel");
	ck_assert_str_eq(cfg.exporter.endpoint_path, "/base/v1/traces");
	ck_assert_uint_eq(cfg.exporter.schedule_delay_ms, 1000);
	ck_assert_uint_eq(cfg.exporter.max_queue_size, 10000);
	ck_assert_uint_eq(cfg.exporter.max_export_batch_size, 1000);
	ck_assert_str_eq(cfg.exporter.service_name, "api");
	ck_assert_str_eq(cfg.exporter.resource_attributes, "team=core");
	ck_assert_str_eq(logged(), "");
}
END_TEST

/* ---- config_get() / config_load() ---------------------------------------- */

/* Before config_load() the configuration is the disabled default. */
START_TEST(get_before_load)
{
	const struct config *c = config_get();

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->disabled, 1);
}
END_TEST

START_TEST(load_from_environment)
{
	clearenv();
	setenv("OTEL_SERVICE_NAME", "from-env", 1);
	setenv("OTEL_TRACES_SAMPLER", "always_off", 1);
	setenv("OTEL_BSP_MAX_QUEUE_SIZE", "77", 1);
	setenv("OTEL_PROPAGATORS", "", 1);
	config_load();
	const struct config *c = config_get();
	ck_assert_int_eq(c->disabled, 0);
	ck_assert_str_eq(c->exporter.service_name, "from-env");
	ck_assert_int_eq(c->sampler.root, SAMPLER_ALWAYS_OFF);
	ck_assert_uint_eq(c->exporter.max_queue_size, 77);
	ck_assert_uint_eq(c->exporter.max_export_batch_size, 77);
	ck_assert_uint_eq(c->propagators,
			  PROPAGATE_TRACECONTEXT | PROPAGATE_BAGGAGE);
	setenv("OTEL_SDK_DISABLED", "TRUE", 1);
	config_load();
	ck_assert_int_eq(config_get()->disabled, 1);
}
END_TEST

Suite *unit_suite(void)
{
	Suite *s = suite_create("config");
	TCase *t;

#define LOOP(tc, fn, table) \
	tcase_add_loop_test(tc, fn, 0, (int)(sizeof(table) / sizeof(table[0])))

	t = tcase_create("load");
	tcase_add_test(t, get_before_load);
	tcase_add_test(t, load_from_environment);
	suite_add_tcase(s, t);

	t = tcase_create("general");
	tcase_add_checked_fixture(t, capture_setup, capture_teardown);
	tcase_add_test(t, defaults);
	tcase_add_test(t, empty_is_unset);
	tcase_add_test(t, parse_resets_the_struct);
	LOOP(t, sdk_disabled_bool, bools);
	tcase_add_test(t, sdk_disabled_keeps_propagators);
	tcase_add_test(t, config_file_warns);
	tcase_add_test(t, everything_at_once);
	LOOP(t, log_level, levels);
	suite_add_tcase(s, t);

	t = tcase_create("numbers");
	tcase_add_checked_fixture(t, capture_setup, capture_teardown);
	tcase_add_loop_test(t, bad_number, 0,
			    (int)(N_NUMBER_VARS * N_BAD_NUMBERS));
	tcase_add_test(t, good_numbers);
	tcase_add_test(t, zero_sizes_rejected);
	tcase_add_test(t, warnings_add_up);
	tcase_add_test(t, warnings_counted_when_silent);
	tcase_add_test(t, batch_larger_than_queue);
	tcase_add_test(t, small_queue_default_batch);
	tcase_add_test(t, batch_equal_to_queue);
	tcase_add_test(t, batch_against_default_queue);
	tcase_add_test(t, otlp_timeout);
	tcase_add_test(t, otlp_timeout_bad);
	tcase_add_test(t, attribute_limits);
	suite_add_tcase(s, t);

	t = tcase_create("stacks");
	tcase_add_checked_fixture(t, capture_setup, capture_teardown);
	LOOP(t, stack_mode, stack_modes);
	tcase_add_test(t, stack_slow_ms);
	suite_add_tcase(s, t);

	t = tcase_create("exporter");
	tcase_add_checked_fixture(t, capture_setup, capture_teardown);
	LOOP(t, endpoint_valid, endpoints);
	LOOP(t, endpoint_bad_traces, bad_urls);
	LOOP(t, endpoint_bad_generic, bad_urls);
	tcase_add_test(t, endpoint_https);
	tcase_add_test(t, endpoint_https_console);
	tcase_add_test(t, endpoint_too_long);
	tcase_add_test(t, protocol);
	tcase_add_test(t, headers);
	tcase_add_test(t, headers_too_long);
	tcase_add_test(t, headers_never_logged);
	LOOP(t, exporter_kind, exporters);
	tcase_add_test(t, exporter_kind_long);
	suite_add_tcase(s, t);

	t = tcase_create("sampling");
	tcase_add_checked_fixture(t, capture_setup, capture_teardown);
	LOOP(t, sampler_kind, samplers);
	LOOP(t, sampler_arg, ratios);
	tcase_add_test(t, sampler_arg_ignored);
	tcase_add_test(t, sampler_threshold_precomputed);
	LOOP(t, propagators_list, propagators);
	tcase_add_test(t, propagators_only_unknown);
	tcase_add_test(t, propagators_unknown_named);
	suite_add_tcase(s, t);

	t = tcase_create("resource");
	tcase_add_checked_fixture(t, capture_setup, capture_teardown);
	tcase_add_test(t, service_name);
	tcase_add_test(t, service_name_long);
	tcase_add_test(t, resource_attributes_raw);
	tcase_add_test(t, resource_attributes_too_long);
	tcase_add_test(t, env_carrier);
	suite_add_tcase(s, t);
#undef LOOP
	return s;
}
