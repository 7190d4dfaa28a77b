/*
 * config.h - every OTEL_* and OTELSHIM_* variable the shim honours, read
 * once at start-up into one const struct (SPEC.md section 1 gives the rules:
 * empty means unset; a bad value gets one warning that echoes it, and the
 * default). Nothing reads the environment after that.
 *
 * Threading: config_load() runs once, in the constructor, before any other
 * thread of ours exists; config_get() may be called from any thread after.
 */
#ifndef OTELSHIM_CONFIG_H
#define OTELSHIM_CONFIG_H

#include "exporter.h"
#include "sampler.h"

/* OTEL_PROPAGATORS bits */
#define PROPAGATE_TRACECONTEXT 0x1u
#define PROPAGATE_BAGGAGE 0x2u
#define PROPAGATE_B3 0x4u		/* single header */
#define PROPAGATE_B3MULTI 0x8u

/* OTELSHIM_DB_QUERY_TEXT */
enum db_query_text {
	DB_TEXT_SANITIZED = 0,
	DB_TEXT_RAW,
	DB_TEXT_OFF,
};

/*
 * OTELSHIM_STACKTRACE: which database and HTTP client spans carry a stack.
 * Each mode includes the ones before it: errors (failed spans), slow (also
 * those that took OTELSHIM_STACKTRACE_SLOW_MS or longer), all. off also
 * drops code.function.name.
 */
enum stack_mode {
	STACK_OFF = 0,
	STACK_ERRORS,
	STACK_SLOW,
	STACK_ALL,
};

struct config {
	int disabled;		/* OTEL_SDK_DISABLED=true or secure execution */
	int secure;		/* AT_SECURE: nothing read, nothing done */
	struct sampler sampler;
	unsigned propagators;	/* PROPAGATE_* */
	enum log_level log_level;
	struct exporter_config exporter;
	/* database spans */
	enum db_query_text db_query_text;
	int db_dup;		/* OTEL_SEMCONV_STABILITY_OPT_IN=database/dup */
	uint32_t db_connect_threshold_ms;	/* OTELSHIM_DB_CONNECT_THRESHOLD */
	/* stacks (stack.h) */
	enum stack_mode stack_mode;	/* OTELSHIM_STACKTRACE */
	uint32_t stack_slow_ms;		/* OTELSHIM_STACKTRACE_SLOW_MS */
	/* the environment-variable carrier (raw; parsed by envcarrier.c) */
	char env_traceparent[128];
	char env_tracestate[512];
};

/*
 * Parse a configuration from a lookup function (getenv, or a table in the
 * unit tests) into *c. Never fails: bad values warn through otel_log and
 * give the default. Returns the number of warnings issued.
 */
int config_parse(struct config *c, const char *(*lookup)(const char *name));

/* Read the process environment once (the constructor calls this). */
void config_load(void);

/* The configuration in force. Before config_load() it is the all-default
 * configuration with the shim disabled. */
const struct config *config_get(void);

#endif
