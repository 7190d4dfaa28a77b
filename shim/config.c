/*
 * config.c - reading OTEL_* and OTELSHIM_* once (see config.h).
 *
 * Rules from SPEC.md 1.1: an empty value is unset; booleans are true only for
 * a case-insensitive "true" (anything else but "false" also warns); numbers
 * that do not parse or are out of range warn and give the default; enums
 * match case-insensitively and an unknown value warns and gives the default.
 * Every warning echoes the variable and its value, except for variables that
 * may hold secrets (OTEL_EXPORTER_OTLP_HEADERS), whose values never appear in
 * a log line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "config.h"

static struct config config_current = {.disabled = 1};

const struct config *config_get(void)
{
	return &config_current;
}

/* Per-parse state: the lookup function and the warning count. */
struct parse {
	const char *(*lookup)(const char *);
	int warnings;
};

static const char *get(struct parse *p, const char *name)
{
	const char *v = p->lookup(name);

	return v && *v ? v : NULL;
}

static void warn(struct parse *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void warn(struct parse *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->warnings++;
	otel_log(LOG_WARN, "%s", msg);
}

static int parse_bool(struct parse *p, const char *name, int def)
{
	const char *v = get(p, name);

	if (!v)
		return def;
	if (!strcasecmp(v, "true"))
		return 1;
	if (strcasecmp(v, "false"))
		warn(p, "%s='%s' is not true or false; treating it as false",
		     name, v);
	return 0;
}

/*
 * A non-negative integer up to INT32_MAX. min is the smallest valid value
 * (1 for sizes that must be positive).
 */
static uint32_t parse_uint(struct parse *p, const char *name, uint32_t def,
			   uint32_t min)
{
	const char *v = get(p, name);
	char *end;
	long long x;

	if (!v)
		return def;
	while (isspace((unsigned char)*v))
		v++;
	errno = 0;
	x = strtoll(v, &end, 10);
	while (*end && isspace((unsigned char)*end))
		end++;
	if (errno || end == v || *end || x < (long long)min ||
	    x > INT32_MAX || !isdigit((unsigned char)*v)) {
		warn(p, "%s='%s' is not a valid value (an integer from %u to "
			"%d); using the default %u",
		     name, p->lookup(name), min, INT32_MAX, def);
		return def;
	}
	return (uint32_t)x;
}

/* The first of several names that is set, for signal-specific overrides. */
static const char *first_set(struct parse *p, const char *a, const char *b)
{
	return get(p, a) ? a : b;
}

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/*
 * Split an http URL into the exporter's endpoint fields. Returns 0, or -1
 * when it is not a URL we can use.
 */
static int parse_url(struct exporter_config *e, const char *url)
{
	const char *s = url, *host, *host_end, *path;
	size_t hl;
	long port = -1;

	if (!strncasecmp(s, "http://", 7)) {
		copy(e->endpoint_scheme, sizeof(e->endpoint_scheme), "http");
		s += 7;
	} else if (!strncasecmp(s, "https://", 8)) {
		copy(e->endpoint_scheme, sizeof(e->endpoint_scheme), "https");
		s += 8;
	} else {
		return -1;
	}
	/* userinfo is not something we send; skip it */
	const char *at = strpbrk(s, "@/?#");
	if (at && *at == '@')
		s = at + 1;
	host = s;
	if (*host == '[') {
		host_end = strchr(host, ']');
		if (!host_end)
			return -1;
		host++;
		hl = (size_t)(host_end - host);
		s = host_end + 1;
	} else {
		host_end = host + strcspn(host, ":/?#");
		hl = (size_t)(host_end - host);
		s = host_end;
	}
	if (hl == 0 || hl >= sizeof(e->endpoint_host))
		return -1;
	/* a host name or address: nothing that could break the request */
	for (size_t i = 0; i < hl; i++) {
		unsigned char c = (unsigned char)host[i];
		if (!(isalnum(c) || c == '.' || c == '-' || c == '_' ||
		      c == ':' || c == '%'))
			return -1;
	}
	memcpy(e->endpoint_host, host, hl);
	e->endpoint_host[hl] = '\0';
	if (*s == ':') {
		char *end;
		port = strtol(s + 1, &end, 10);
		if (end == s + 1 || port <= 0 || port > 65535)
			return -1;
		s = end;
	}
	if (port < 0)
		port = strcmp(e->endpoint_scheme, "https") ? 80 : 443;
	e->endpoint_port = (uint16_t)port;
	path = s;
	size_t pl = strcspn(path, "#");
	if (pl == 0) {
		copy(e->endpoint_path, sizeof(e->endpoint_path), "/");
	} else {
		if (*path != '/' && *path != '?')
			return -1;
		/* bytes that would break the request line or headers */
		for (size_t i = 0; i < pl; i++)
			if ((unsigned char)path[i] <= 0x20 ||
			    (unsigned char)path[i] >= 0x7f)
				return -1;
		/* "http://h?x": the path is "/" and the query stays */
		size_t k = 0;
		if (*path == '?')
			e->endpoint_path[k++] = '/';
		if (pl + k >= sizeof(e->endpoint_path))
			return -1;
		memcpy(e->endpoint_path + k, path, pl);
		e->endpoint_path[pl + k] = '\0';
	}
	return 0;
}

/*
 * SPEC.md 1.7: the traces endpoint is used as given (an empty path becomes
 * "/"); the generic endpoint is a base to which "v1/traces" is appended.
 */
static void parse_endpoint(struct parse *p, struct exporter_config *e)
{
	const char *t = get(p, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	const char *g = get(p, "OTEL_EXPORTER_OTLP_ENDPOINT");
	char url[1024];
	int n, ok;

	if (t) {
		n = snprintf(url, sizeof(url), "%s", t);
		ok = 1;
	} else if (g) {
		size_t gl = strlen(g);
		n = snprintf(url, sizeof(url), "%s%sv1/traces", g,
			     gl && g[gl - 1] == '/' ? "" : "/");
		/* "http://h:4318" has no path: the base path is "/". The base
		 * itself must be a URL: "http://" + "v1/traces" is not. */
		ok = parse_url(e, g) == 0;
	} else {
		n = snprintf(url, sizeof(url), "http://localhost:4318/v1/traces");
		ok = 1;
	}
	/* a URL cut to fit the buffer would post somewhere else: reject it */
	if (n < 0 || (size_t)n >= sizeof(url))
		ok = 0;
	if (!ok || parse_url(e, url) < 0) {
		warn(p, "%s='%s' is not a valid http URL; using "
			"http://localhost:4318/v1/traces",
		     t ? "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
		       : "OTEL_EXPORTER_OTLP_ENDPOINT",
		     t ? t : g);
		parse_url(e, "http://localhost:4318/v1/traces");
	}
	/* Only the OTLP exporter uses the endpoint (console and none do not). */
	if (e->kind == EXPORTER_OTLP && !strcmp(e->endpoint_scheme, "https")) {
		warn(p, "https OTLP endpoints are not supported yet (%s:%u); "
			"spans will not be exported",
		     e->endpoint_host, e->endpoint_port);
		e->kind = EXPORTER_NONE;
	}
}

static void parse_exporter_kind(struct parse *p, struct exporter_config *e)
{
	const char *v = get(p, "OTEL_TRACES_EXPORTER");
	char first[64];

	e->kind = EXPORTER_OTLP;
	if (!v)
		return;
	/* A comma list is allowed; we run one exporter: the first. */
	size_t n = strcspn(v, ",");
	if (n >= sizeof(first))
		n = sizeof(first) - 1;
	memcpy(first, v, n);
	first[n] = '\0';
	char *f = first;
	while (isspace((unsigned char)*f))
		f++;
	for (char *q = f + strlen(f); q > f && isspace((unsigned char)q[-1]);)
		*--q = '\0';
	if (!strcasecmp(f, "otlp"))
		e->kind = EXPORTER_OTLP;
	else if (!strcasecmp(f, "console"))
		e->kind = EXPORTER_CONSOLE;
	else if (!strcasecmp(f, "none"))
		e->kind = EXPORTER_NONE;
	else
		warn(p, "OTEL_TRACES_EXPORTER='%s' is not supported (otlp, "
			"console, none); using otlp", v);
	if (v[strcspn(v, ",")] == ',')
		warn(p, "OTEL_TRACES_EXPORTER='%s': only one exporter runs; "
			"using '%s'", v, f);
}

static void parse_protocol(struct parse *p)
{
	const char *name = first_set(p, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
				     "OTEL_EXPORTER_OTLP_PROTOCOL");
	const char *v = get(p, name);

	if (v && strcasecmp(v, "http/protobuf"))
		warn(p, "%s='%s' is not supported; using http/protobuf", name,
		     v);
}

/*
 * Merge the generic and the signal headers ("k=v,k2=v2"). Values may be
 * secrets: this function never logs them. Validation (percent-decoding)
 * happens in the exporter, which also never logs values.
 */
static void parse_headers(struct parse *p, struct exporter_config *e)
{
	const char *g = get(p, "OTEL_EXPORTER_OTLP_HEADERS");
	const char *t = get(p, "OTEL_EXPORTER_OTLP_TRACES_HEADERS");
	int n;

	/* Each checked on its own, so the warning names the right one;
	   never echoed: header values are usually credentials. */
	if (g && !exporter_headers_valid(g)) {
		warn(p, "OTEL_EXPORTER_OTLP_HEADERS is malformed (expected "
			"key=value pairs separated by commas); ignoring it");
		g = NULL;
	}
	if (t && !exporter_headers_valid(t)) {
		warn(p, "OTEL_EXPORTER_OTLP_TRACES_HEADERS is malformed "
			"(expected key=value pairs separated by commas); "
			"ignoring it");
		t = NULL;
	}

	n = snprintf(e->headers, sizeof(e->headers), "%s%s%s", g ? g : "",
		     g && t ? "," : "", t ? t : "");
	if (n < 0 || (size_t)n >= sizeof(e->headers)) {
		warn(p, "OTEL_EXPORTER_OTLP_HEADERS is longer than %zu bytes; "
			"ignoring it", sizeof(e->headers) - 1);
		e->headers[0] = '\0';
	}
}

static void parse_sampler(struct parse *p, struct config *c)
{
	static const struct {
		const char *name;
		enum sampler_kind root;
		int parent_based;
	} table[] = {
		{"always_on", SAMPLER_ALWAYS_ON, 0},
		{"always_off", SAMPLER_ALWAYS_OFF, 0},
		{"traceidratio", SAMPLER_TRACEIDRATIO, 0},
		{"parentbased_always_on", SAMPLER_ALWAYS_ON, 1},
		{"parentbased_always_off", SAMPLER_ALWAYS_OFF, 1},
		{"parentbased_traceidratio", SAMPLER_TRACEIDRATIO, 1},
	};
	const char *v = get(p, "OTEL_TRACES_SAMPLER");
	const char *arg = get(p, "OTEL_TRACES_SAMPLER_ARG");
	enum sampler_kind root = SAMPLER_ALWAYS_ON;
	int parent_based = 1;
	double ratio = 1.0;

	if (v) {
		size_t i;
		for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
			if (!strcasecmp(v, table[i].name))
				break;
		if (i < sizeof(table) / sizeof(table[0])) {
			root = table[i].root;
			parent_based = table[i].parent_based;
		} else {
			warn(p, "OTEL_TRACES_SAMPLER='%s' is not supported; "
				"using parentbased_always_on", v);
		}
	}
	if (v && arg && root == SAMPLER_TRACEIDRATIO) {
		char *end;
		errno = 0;
		double r = strtod(arg, &end);
		while (*end && isspace((unsigned char)*end))
			end++;
		if (errno || end == arg || *end || !(r >= 0.0 && r <= 1.0))
			warn(p, "OTEL_TRACES_SAMPLER_ARG='%s' is not a "
				"probability in [0, 1]; using 1.0", arg);
		else
			ratio = r;
	}
	sampler_init(&c->sampler, root, parent_based, ratio);
}

/*
 * OTEL_PROPAGATORS: a comma list, de-duplicated; "none" alone disables
 * propagation; unknown entries are skipped with a warning (SPEC.md 1.2).
 */
static unsigned parse_propagators(struct parse *p)
{
	static const struct {
		const char *name;
		unsigned bit;
	} table[] = {
		{"tracecontext", PROPAGATE_TRACECONTEXT},
		{"baggage", PROPAGATE_BAGGAGE},
		{"b3", PROPAGATE_B3},
		{"b3multi", PROPAGATE_B3MULTI},
		{"none", 0},
	};
	const char *v = get(p, "OTEL_PROPAGATORS");
	unsigned bits = 0;
	int known = 0;
	char unknown[256];
	size_t ul = 0;

	if (!v)
		return PROPAGATE_TRACECONTEXT | PROPAGATE_BAGGAGE;
	unknown[0] = '\0';
	for (const char *item = v; *item;) {
		size_t n = strcspn(item, ",");
		const char *s = item, *e = item + n;
		while (s < e && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		if (e > s) {
			size_t i, len = (size_t)(e - s);
			for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
				if (strlen(table[i].name) == len &&
				    !strncasecmp(s, table[i].name, len))
					break;
			if (i < sizeof(table) / sizeof(table[0])) {
				bits |= table[i].bit;
				known = 1;
			} else if (ul + len + 3 < sizeof(unknown)) {
				int w = snprintf(unknown + ul,
						 sizeof(unknown) - ul, "%s'%.*s'",
						 ul ? ", " : "", (int)len, s);
				if (w > 0)
					ul += (size_t)w;
			}
		}
		item += n;
		if (*item == ',')
			item++;
	}
	/* One warning for the variable; nothing known in it: the default,
	   as for any other bad value (an explicit "none" is known). */
	if (ul && known)
		warn(p, "OTEL_PROPAGATORS='%s': %s not supported (tracecontext, "
			"baggage, b3, b3multi, none); skipping", v, unknown);
	else if (ul)
		warn(p, "OTEL_PROPAGATORS='%s': %s not supported (tracecontext, "
			"baggage, b3, b3multi, none); using tracecontext,baggage",
		     v, unknown);
	if (!known)
		return PROPAGATE_TRACECONTEXT | PROPAGATE_BAGGAGE;
	return bits;
}

static enum log_level parse_log_level(struct parse *p)
{
	static const struct {
		const char *name;
		enum log_level level;
	} table[] = {
		{"none", LOG_NONE},	{"error", LOG_ERROR},
		{"warn", LOG_WARN},	{"warning", LOG_WARN},
		{"info", LOG_INFO},	{"debug", LOG_DEBUG},
		{"verbose", LOG_DEBUG}, {"all", LOG_DEBUG},
	};
	const char *v = get(p, "OTEL_LOG_LEVEL");

	if (!v)
		return LOG_INFO;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcasecmp(v, table[i].name))
			return table[i].level;
	otel_log_set_level(LOG_INFO);
	warn(p, "OTEL_LOG_LEVEL='%s' is not one of none, error, warn, info, "
		"debug; using info", v);
	return LOG_INFO;
}

/* OTELSHIM_DB_QUERY_TEXT: sanitized (default), raw, off. */
static enum db_query_text parse_db_query_text(struct parse *p)
{
	const char *v = get(p, "OTELSHIM_DB_QUERY_TEXT");

	if (!v || !strcasecmp(v, "sanitized"))
		return DB_TEXT_SANITIZED;
	if (!strcasecmp(v, "raw"))
		return DB_TEXT_RAW;
	if (!strcasecmp(v, "off"))
		return DB_TEXT_OFF;
	warn(p, "OTELSHIM_DB_QUERY_TEXT=%s is not sanitized, raw or off; "
		"using sanitized", v);
	return DB_TEXT_SANITIZED;
}

/* OTELSHIM_STACKTRACE: off, errors (default), slow, all. */
static enum stack_mode parse_stack_mode(struct parse *p)
{
	static const struct {
		const char *name;
		enum stack_mode mode;
	} table[] = {
		{"off", STACK_OFF},
		{"errors", STACK_ERRORS},
		{"slow", STACK_SLOW},
		{"all", STACK_ALL},
	};
	const char *v = get(p, "OTELSHIM_STACKTRACE");

	if (!v)
		return STACK_ERRORS;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcasecmp(v, table[i].name))
			return table[i].mode;
	warn(p, "OTELSHIM_STACKTRACE='%s' is not off, errors, slow or all; "
		"using errors", v);
	return STACK_ERRORS;
}

/*
 * OTEL_SEMCONV_STABILITY_OPT_IN: a comma list; "database/dup" asks for the
 * old database attribute names as well. Other entries ("database", "http",
 * "http/dup") are accepted; only database/dup changes anything for now.
 */
static int parse_db_dup(struct parse *p)
{
	const char *v = get(p, "OTEL_SEMCONV_STABILITY_OPT_IN");
	int dup = 0, bad = 0;

	while (v && *v) {
		const char *end = strchr(v, ',');
		size_t n = end ? (size_t)(end - v) : strlen(v);
		const char *s = v;
		while (n && (*s == ' ' || *s == '\t'))
			s++, n--;
		while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (n == 12 && !strncasecmp(s, "database/dup", 12))
			dup = 1;
		else if (n && !((n == 8 && !strncasecmp(s, "database", 8)) ||
				(n == 4 && !strncasecmp(s, "http", 4)) ||
				(n == 8 && !strncasecmp(s, "http/dup", 8))))
			bad = 1;
		v = end ? end + 1 : NULL;
	}
	if (bad)
		warn(p, "OTEL_SEMCONV_STABILITY_OPT_IN='%s' has entries other "
			"than database, database/dup, http, http/dup; ignoring "
			"them", get(p, "OTEL_SEMCONV_STABILITY_OPT_IN"));
	return dup;
}

int config_parse(struct config *c, const char *(*lookup)(const char *name))
{
	struct parse p = {.lookup = lookup};
	struct exporter_config *e = &c->exporter;

	memset(c, 0, sizeof(*c));
	c->log_level = parse_log_level(&p);
	otel_log_set_level(c->log_level);

	c->disabled = parse_bool(&p, "OTEL_SDK_DISABLED", 0);
	if (get(&p, "OTEL_CONFIG_FILE"))
		warn(&p, "OTEL_CONFIG_FILE is not supported; using the "
			 "environment variables");
	parse_sampler(&p, c);
	c->propagators = parse_propagators(&p);

	parse_exporter_kind(&p, e);
	parse_protocol(&p);
	parse_endpoint(&p, e);
	parse_headers(&p, e);
	const char *to = first_set(&p, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
				   "OTEL_EXPORTER_OTLP_TIMEOUT");
	e->timeout_ms = parse_uint(&p, to, 10000, 0);
	e->schedule_delay_ms = parse_uint(&p, "OTEL_BSP_SCHEDULE_DELAY", 5000,
					  0);
	e->export_timeout_ms = parse_uint(&p, "OTEL_BSP_EXPORT_TIMEOUT", 30000,
					  0);
	e->max_queue_size = parse_uint(&p, "OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1);
	e->max_export_batch_size =
		parse_uint(&p, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, 1);
	if (e->max_export_batch_size > e->max_queue_size) {
		/* A default batch simply follows a smaller queue; a batch the
		 * user set larger than the queue is worth a warning. */
		if (get(&p, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"))
			warn(&p, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=%u exceeds "
				 "OTEL_BSP_MAX_QUEUE_SIZE=%u; using %u",
			     e->max_export_batch_size, e->max_queue_size,
			     e->max_queue_size);
		e->max_export_batch_size = e->max_queue_size;
	}
	e->exit_flush_timeout_ms =
		parse_uint(&p, "OTELSHIM_EXIT_FLUSH_TIMEOUT", 2000, 0);

	/* The span-specific limit wins over the general one (SPEC.md 1.5). */
	e->attr_value_length_limit = parse_uint(
		&p,
		first_set(&p, "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
			  "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"),
		0, 0);
	e->attr_count_limit =
		parse_uint(&p,
			   first_set(&p, "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
				     "OTEL_ATTRIBUTE_COUNT_LIMIT"),
			   128, 0);

	c->db_query_text = parse_db_query_text(&p);
	c->db_dup = parse_db_dup(&p);
	c->db_connect_threshold_ms =
		parse_uint(&p, "OTELSHIM_DB_CONNECT_THRESHOLD", 100, 0);
	c->stack_mode = parse_stack_mode(&p);
	c->stack_slow_ms =
		parse_uint(&p, "OTELSHIM_STACKTRACE_SLOW_MS", 500, 0);

	copy(c->env_traceparent, sizeof(c->env_traceparent),
	     get(&p, "TRACEPARENT"));
	copy(c->env_tracestate, sizeof(c->env_tracestate),
	     get(&p, "TRACESTATE"));
	copy(e->service_name, sizeof(e->service_name),
	     get(&p, "OTEL_SERVICE_NAME"));
	const char *ra = get(&p, "OTEL_RESOURCE_ATTRIBUTES");
	if (ra && strlen(ra) >= sizeof(e->resource_attributes))
		warn(&p, "OTEL_RESOURCE_ATTRIBUTES is longer than %zu bytes; "
			 "ignoring it", sizeof(e->resource_attributes) - 1);
	else
		copy(e->resource_attributes, sizeof(e->resource_attributes),
		     ra);
	return p.warnings;
}

/*
 * The environment's entries that start with "OTEL" (OTEL_*, OTELSHIM_*),
 * in their order, gathered in one pass by config_load(): config_parse()
 * asks for some forty names, and getenv() walks the whole environment for
 * each. Used only while config_load() runs (the constructor).
 */
#define ENV_OTEL_MAX 256

static const char *env_otel[ENV_OTEL_MAX];
static int env_otel_n = -1;		/* -1: not gathered, use getenv() */

static void env_gather(void)
{
	int n = 0;

	env_otel_n = -1;
	for (char **e = environ; e && *e; e++) {
		const char *v = *e;
		if (v[0] != 'O' || v[1] != 'T' || v[2] != 'E' || v[3] != 'L')
			continue;
		if (n == ENV_OTEL_MAX)
			return;		/* an odd environment: getenv() */
		env_otel[n++] = *e;
	}
	env_otel_n = n;
}

/* getenv(name): the first entry "name=...", from the gathered ones. */
static const char *env_lookup(const char *name)
{
	size_t nl = strlen(name);

	if (env_otel_n < 0 || strncmp(name, "OTEL", 4) != 0)
		return getenv(name);
	for (int i = 0; i < env_otel_n; i++)
		if (!strncmp(env_otel[i], name, nl) && env_otel[i][nl] == '=')
			return env_otel[i] + nl + 1;
	return NULL;
}

void config_load(void)
{
	struct config c;

	/*
	 * In a secure-execution process (setuid, setgid, capabilities) the
	 * environment belongs to a less privileged caller: read none of it
	 * and do nothing.
	 */
	if (getauxval(AT_SECURE)) {
		memset(&config_current, 0, sizeof(config_current));
		config_current.disabled = 1;
		config_current.secure = 1;
		otel_log_set_level(LOG_NONE);
		return;
	}
	env_gather();
	config_parse(&c, env_lookup);
	env_otel_n = -1;
	config_current = c;
}
