/*
 * resource.h - the OpenTelemetry resource of this process: service.name
 * (OTEL_SERVICE_NAME, else service.name from OTEL_RESOURCE_ATTRIBUTES, else
 * "unknown_service:<executable name>"), OTEL_RESOURCE_ATTRIBUTES,
 * process.pid, process.executable.name, host.name and telemetry.sdk.*.
 *
 * Built on the exporter thread (it reads /proc and the host name), rebuilt in
 * a forked child because process.pid changes. Fixed-size: no allocation.
 */
#ifndef OTELSHIM_RESOURCE_H
#define OTELSHIM_RESOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "exporter.h"

#define RESOURCE_MAX_ATTRS 48

struct resource_attr {
	char key[128];
	int is_int;		/* 1: value in i, 0: string in str */
	int64_t i;
	char str[256];
};

struct resource {
	size_t n;
	struct resource_attr attrs[RESOURCE_MAX_ATTRS];
};

/*
 * Fill *res for this process. Never fails: a bad OTEL_RESOURCE_ATTRIBUTES is
 * discarded whole with one warning (SPEC.md 1.3), a missing executable name
 * gives "unknown_service".
 */
void resource_build(struct resource *res, const struct exporter_config *cfg,
		    pid_t pid);

/*
 * Parse OTEL_RESOURCE_ATTRIBUTES ("k1=v1,k2=v2", percent-decoded, OWS
 * trimmed) and append its members to *res. Returns the number appended, or -1
 * (and appends nothing) when the string is malformed.
 */
int resource_parse_attributes(struct resource *res, const char *s);

/* The string value of key, or NULL. */
const char *resource_get(const struct resource *res, const char *key);

#endif
