/*
 * envcarrier.h - the OpenTelemetry environment-variable carrier: the trace
 * context travels to a program we start in TRACEPARENT and TRACESTATE, and
 * a program started with them continues that trace (CGI scripts, shell
 * pipelines, cron jobs).
 *
 * Building an environment never allocates: the caller supplies a struct
 * envcarrier (on its stack), which bounds the environment we rewrite to
 * ENVCARRIER_MAX_ENV entries; a larger one is passed on unchanged.
 */
#ifndef OTELSHIM_ENVCARRIER_H
#define OTELSHIM_ENVCARRIER_H

#include "span.h"
#include "tracecontext.h"

#define ENVCARRIER_MAX_ENV 1024

struct envcarrier {
	char traceparent[16 + TRACEPARENT_LEN];
	char tracestate[16 + TRACESTATE_MAX];
	char *env[ENVCARRIER_MAX_ENV + 3];
};

/*
 * The environment for a program about to be started: envp without any
 * TRACEPARENT/TRACESTATE, plus ours for ctx (when valid). Returns envp
 * itself when there is nothing to do or no room.
 */
char *const *envcarrier_build(struct envcarrier *ec, char *const envp[],
			      const struct span_ctx *ctx);

/*
 * Parse TRACEPARENT and TRACESTATE values (either may be NULL) into *ctx,
 * keeping the tracestate in the caller's buffer ts of size cap. ctx->valid
 * is 0 when there is no valid traceparent.
 */
void envcarrier_parse(const char *traceparent, const char *tracestate,
		      struct span_ctx *ctx, char *ts, size_t cap);

#endif
