/*
 * fuzz_config.c - libFuzzer target for reading OTEL_* and OTELSHIM_*
 * variables (shim/config.h, config_parse with a lookup function).
 *
 * Input: records separated by NUL bytes (an environment value cannot hold
 * one). The first byte of a record names the variable (its value modulo 64
 * indexes the table below: '@' is 0, 'A' is 1, ..., '`' is 32, 'a' is 33;
 * from 34 on, 32 less: 'b' is 2 again), the rest is the value; the last
 * record for a name wins.
 *
 * Besides crashes and sanitizer reports, it traps on broken contracts:
 *   - every field ends in its valid range (enums, ports, ratios, queue and
 *     batch sizes, NUL-terminated strings, an endpoint path that starts
 *     with '/' and, like the host, holds no space or control byte),
 *     whatever the input;
 *   - integers take the value when it is a plain decimal in range and the
 *     default otherwise; the signal-specific and span-specific variables win;
 *   - OTELSHIM_STACKTRACE is its value matched without case, else errors;
 *   - the warnings returned are bounded (one or two per variable set, one
 *     per entry of OTEL_PROPAGATORS), every one is a log line
 *     "otelshim[...]: ..." when the log level lets warnings through, none
 *     otherwise;
 *   - no log line depends on the values of OTEL_EXPORTER_OTLP_HEADERS or
 *     OTEL_EXPORTER_OTLP_TRACES_HEADERS (they may hold secrets): the log
 *     is the same with their letters and digits swapped (not in %XX);
 *   - the same input parses to the same bytes twice.
 *
 * Log lines are caught in a memfd put in place of stderr during
 * config_parse(); sanitizer reports go to the real stderr.
 *
 *     scripts/fuzz config 60
 */
#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sanitizer/common_interface_defs.h>

#include "fuzz.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Every variable config.c reads, and one it must not care about. */
static const char *const names[34] = {
	"OTEL_UNRELATED",			/* '@' */
	"OTEL_LOG_LEVEL",			/* 'A' */
	"OTEL_SDK_DISABLED",
	"OTEL_CONFIG_FILE",
	"OTEL_TRACES_SAMPLER",
	"OTEL_TRACES_SAMPLER_ARG",
	"OTEL_PROPAGATORS",
	"OTEL_TRACES_EXPORTER",
	"OTEL_EXPORTER_OTLP_PROTOCOL",		/* 'H' */
	"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_EXPORTER_OTLP_ENDPOINT",
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_HEADERS",		/* 'L' */
	"OTEL_EXPORTER_OTLP_TRACES_HEADERS",
	"OTEL_EXPORTER_OTLP_TIMEOUT",
	"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
	"OTEL_BSP_SCHEDULE_DELAY",		/* 'P' */
	"OTEL_BSP_EXPORT_TIMEOUT",
	"OTEL_BSP_MAX_QUEUE_SIZE",
	"OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
	"OTELSHIM_EXIT_FLUSH_TIMEOUT",
	"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",	/* 'U' */
	"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
	"OTEL_ATTRIBUTE_COUNT_LIMIT",
	"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
	"OTELSHIM_DB_QUERY_TEXT",		/* 'Y' */
	"OTEL_SEMCONV_STABILITY_OPT_IN",
	"OTELSHIM_DB_CONNECT_THRESHOLD",	/* '[' */
	"TRACEPARENT",
	"TRACESTATE",
	"OTEL_SERVICE_NAME",			/* '^' */
	"OTEL_RESOURCE_ATTRIBUTES",
	"OTELSHIM_STACKTRACE",			/* '`' */
	"OTELSHIM_STACKTRACE_SLOW_MS",		/* 'a' */
};

#define N_NAMES 34
#define HEADERS 12
#define TRACES_HEADERS 13

static const char *values[N_NAMES];
static char *buf;		/* the values, NUL-terminated, in one copy */

static int index_of(const char *name)
{
	for (int i = 0; i < N_NAMES; i++)
		if (!strcmp(names[i], name))
			return i;
	return -1;
}

static const char *lookup(const char *name)
{
	int i = index_of(name);

	/* config.c may only ask for the names it documents */
	CHECK(i > 0);
	return values[i];
}

/* The table index a record's first byte names (see the top). */
static int name_index(unsigned char b)
{
	int i = b % 64;

	return i < N_NAMES ? i : i - 32;
}

/* A set (non-empty) value, or NULL: empty means unset. */
static const char *val(int i)
{
	return values[i] && *values[i] ? values[i] : NULL;
}

static const char *val_of(const char *name)
{
	return val(index_of(name));
}

/* ---- capturing log lines ------------------------------------------------ */

static int log_fd = -1;		/* memfd */
static int real_stderr = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	real_stderr = dup(2);
	log_fd = memfd_create("fuzz_config_log", 0);
	if (real_stderr < 0 || log_fd < 0)
		abort();
	__sanitizer_set_report_fd((void *)(intptr_t)real_stderr);
	return 0;
}

/* Run config_parse with stderr going to the memfd; the log into *log. */
static int parse_logged(struct config *c, char **log, size_t *log_len)
{
	int w;

	if (ftruncate(log_fd, 0) < 0 || lseek(log_fd, 0, SEEK_SET) < 0)
		abort();
	dup2(log_fd, 2);
	w = config_parse(c, lookup);
	dup2(real_stderr, 2);
	off_t n = lseek(log_fd, 0, SEEK_CUR);
	*log = malloc((size_t)n + 1);
	if (!*log || pread(log_fd, *log, (size_t)n, 0) != n)
		abort();
	(*log)[n] = '\0';
	*log_len = (size_t)n;
	return w;
}

/* ---- the oracle for integers -------------------------------------------- */

/* SPEC.md 1.1: a plain decimal (spaces around allowed), min..INT32_MAX. */
static uint32_t want_uint(const char *v, uint32_t def, uint32_t min)
{
	uint64_t x = 0;
	size_t n;

	if (!v)
		return def;
	while (isspace((unsigned char)*v))
		v++;
	n = strlen(v);
	while (n && isspace((unsigned char)v[n - 1]))
		n--;
	if (!n)
		return def;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return def;
		x = x * 10 + (uint64_t)(v[i] - '0');
		if (x > INT32_MAX)
			return def;
	}
	return x < min ? def : (uint32_t)x;
}

static const char *first(const char *specific, const char *general)
{
	return val_of(specific) ? val_of(specific) : val_of(general);
}

static int nul_in(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static void check_ranges(const struct config *c)
{
	const struct exporter_config *e = &c->exporter;

	CHECK(c->disabled == 0 || c->disabled == 1);
	CHECK(c->secure == 0);
	CHECK(c->sampler.root <= SAMPLER_TRACEIDRATIO);
	CHECK(c->sampler.parent_based == 0 || c->sampler.parent_based == 1);
	CHECK(c->sampler.ratio >= 0.0 && c->sampler.ratio <= 1.0);
	struct sampler s;
	memset(&s, 0, sizeof(s));
	sampler_init(&s, c->sampler.root, c->sampler.parent_based,
		     c->sampler.ratio);
	CHECK(!memcmp(&s, &c->sampler, sizeof(s)));
	if (c->sampler.root != SAMPLER_TRACEIDRATIO)
		CHECK(c->sampler.ratio == 1.0);
	CHECK((c->propagators & ~0xfu) == 0);
	CHECK(c->log_level <= LOG_DEBUG);
	CHECK(c->db_query_text <= DB_TEXT_OFF);
	CHECK(c->db_dup == 0 || c->db_dup == 1);

	CHECK(e->kind <= EXPORTER_NONE);
	CHECK(!strcmp(e->endpoint_scheme, "http") ||
	      !strcmp(e->endpoint_scheme, "https"));
	if (e->kind == EXPORTER_OTLP)
		CHECK(!strcmp(e->endpoint_scheme, "http"));
	CHECK(nul_in(e->endpoint_host, sizeof(e->endpoint_host)) &&
	      e->endpoint_host[0]);
	CHECK(e->endpoint_port >= 1);
	/* host and path go into the request line and Host header of every
	   export: a path, no space or control byte in either */
	CHECK(nul_in(e->endpoint_path, sizeof(e->endpoint_path)) &&
	      e->endpoint_path[0] == '/');
	for (const char *p = e->endpoint_path; *p; p++)
		CHECK((unsigned char)*p > 0x20 && *p != 0x7f);
	for (const char *p = e->endpoint_host; *p; p++)
		CHECK((unsigned char)*p > 0x20 && *p != 0x7f);
	CHECK(nul_in(e->headers, sizeof(e->headers)));
	CHECK(nul_in(e->service_name, sizeof(e->service_name)));
	CHECK(nul_in(e->resource_attributes, sizeof(e->resource_attributes)));
	CHECK(nul_in(c->env_traceparent, sizeof(c->env_traceparent)));
	CHECK(nul_in(c->env_tracestate, sizeof(c->env_tracestate)));

	/* numbers: the value when valid, else the default */
	CHECK(e->timeout_ms ==
	      want_uint(first("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
			      "OTEL_EXPORTER_OTLP_TIMEOUT"), 10000, 0));
	CHECK(e->schedule_delay_ms ==
	      want_uint(val_of("OTEL_BSP_SCHEDULE_DELAY"), 5000, 0));
	CHECK(e->export_timeout_ms ==
	      want_uint(val_of("OTEL_BSP_EXPORT_TIMEOUT"), 30000, 0));
	uint32_t q = want_uint(val_of("OTEL_BSP_MAX_QUEUE_SIZE"), 2048, 1);
	uint32_t b = want_uint(val_of("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"), 512,
			       1);
	CHECK(e->max_queue_size == q);
	CHECK(e->max_export_batch_size == (b < q ? b : q));
	CHECK(e->exit_flush_timeout_ms ==
	      want_uint(val_of("OTELSHIM_EXIT_FLUSH_TIMEOUT"), 2000, 0));
	CHECK(e->attr_value_length_limit ==
	      want_uint(first("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
			      "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"), 0, 0));
	CHECK(e->attr_count_limit ==
	      want_uint(first("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
			      "OTEL_ATTRIBUTE_COUNT_LIMIT"), 128, 0));
	CHECK(c->db_connect_threshold_ms ==
	      want_uint(val_of("OTELSHIM_DB_CONNECT_THRESHOLD"), 100, 0));
	CHECK(c->stack_slow_ms ==
	      want_uint(val_of("OTELSHIM_STACKTRACE_SLOW_MS"), 500, 0));
	static const char *const modes[] = {"off", "errors", "slow", "all"};
	const char *sm = val_of("OTELSHIM_STACKTRACE");
	enum stack_mode want_mode = STACK_ERRORS;
	for (int i = 0; sm && i < 4; i++)
		if (!strcasecmp(sm, modes[i]))
			want_mode = (enum stack_mode)i;
	CHECK(c->stack_mode == want_mode);

	/* strings copied whole, or (too long) cut or dropped, never garbage */
	const char *ra = val_of("OTEL_RESOURCE_ATTRIBUTES");
	if (ra && strlen(ra) < sizeof(e->resource_attributes))
		CHECK(!strcmp(e->resource_attributes, ra));
	else
		CHECK(e->resource_attributes[0] == '\0');
	const char *sn = val_of("OTEL_SERVICE_NAME");
	CHECK(!strncmp(e->service_name, sn ? sn : "",
		       sizeof(e->service_name) - 1));
}

/* ---- warnings and log lines --------------------------------------------- */

static int max_warnings(void)
{
	int n = 2;	/* batch over queue; https endpoint */

	for (int i = 1; i < N_NAMES; i++) {
		const char *v = val(i);
		if (!v)
			continue;
		if (!strcmp(names[i], "OTEL_PROPAGATORS")) {
			n++;
			for (const char *p = v; *p; p++)
				n += *p == ',';
		} else {
			/* two: OTEL_TRACES_EXPORTER, unknown and a list */
			n += 2;
		}
	}
	return n;
}

/* a<->b, c<->d, ... y<->z, A<->B, ..., 0<->1, ... 8<->9; others kept. */
static char neighbour(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9')) {
		char base = c >= 'a' ? 'a' : c >= 'A' ? 'A' : '0';
		return (char)(base + ((c - base) ^ 1));
	}
	return c;
}

/* Count the log lines, checking each one's shape. */
static int log_lines(const char *log, size_t len)
{
	int n = 0;
	const char *p = log, *end = log + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		CHECK(nl != NULL);
		CHECK(!strncmp(p, "otelshim[", 9));
		CHECK(nl - p < 1024);
		n++;
		p = nl + 1;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config c1, c2, c3;
	char *log1, *log2, *log3;
	size_t l1, l2, l3;

	memset(values, 0, sizeof(values));
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (char *p = buf; p < buf + size;) {
		size_t n = strlen(p);
		if (n)
			values[name_index((unsigned char)p[0])] = p + 1;
		p += n + 1;
	}

	int w = parse_logged(&c1, &log1, &l1);
	CHECK(w >= 0 && w <= max_warnings());
	check_ranges(&c1);
	/* one line per warning, even for values with newlines */
	int lines = log_lines(log1, l1);
	CHECK(lines == (c1.log_level >= LOG_WARN ? w : 0));

	/* deterministic */
	CHECK(parse_logged(&c2, &log2, &l2) == w);
	CHECK(!memcmp(&c1, &c2, sizeof(c1)));
	CHECK(l1 == l2 && !memcmp(log1, log2, l1));

	/* header values never reach the log: the same values with every
	   letter and digit swapped for its neighbour, except in %XX escapes
	   (which keeps them valid or invalid alike), give the same log */
	int secret = 0;
	for (int i = HEADERS; i <= TRACES_HEADERS; i++)
		if (values[i]) {
			for (char *p = (char *)values[i]; *p; p++) {
				if (*p == '%') {
					p += p[1] ? (p[2] ? 2 : 1) : 0;
					continue;
				}
				*p = neighbour(*p);
			}
			secret = 1;
		}
	if (secret) {
		CHECK(parse_logged(&c3, &log3, &l3) == w);
		CHECK(l1 == l3 && !memcmp(log1, log3, l1));
		free(log3);
	}
	free(log1);
	free(log2);
	free(buf);
	return 0;
}
