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

struct config {
	int disabled;		/* OTEL_SDK_DISABLED=true or secure execution */
	int secure;		/* AT_SECURE: nothing read, nothing done */
	struct sampler sampler;
	enum log_level log_level;
	struct exporter_config exporter;
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
