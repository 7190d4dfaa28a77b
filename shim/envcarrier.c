/*
 * envcarrier.c - TRACEPARENT/TRACESTATE in environments (see envcarrier.h).
 */
#include <string.h>

#include "envcarrier.h"

static int is_var(const char *e, const char *name)
{
	size_t n = strlen(name);

	return !strncmp(e, name, n) && e[n] == '=';
}

char *const *envcarrier_build(struct envcarrier *ec, char *const envp[],
			      const struct span_ctx *ctx)
{
	size_t k = 0;

	if (!ctx || !ctx->valid || !envp)
		return envp;
	for (size_t i = 0; envp[i]; i++) {
		if (is_var(envp[i], "TRACEPARENT") ||
		    is_var(envp[i], "TRACESTATE"))
			continue;
		if (k == ENVCARRIER_MAX_ENV)
			return envp;
		ec->env[k++] = envp[i];
	}
	memcpy(ec->traceparent, "TRACEPARENT=", 12);
	tracecontext_format_traceparent(ctx->trace_id, ctx->span_id,
					ctx->trace_flags, ec->traceparent + 12);
	ec->env[k++] = ec->traceparent;
	if (ctx->tracestate_len && ctx->tracestate_len < TRACESTATE_MAX) {
		memcpy(ec->tracestate, "TRACESTATE=", 11);
		memcpy(ec->tracestate + 11, ctx->tracestate,
		       ctx->tracestate_len);
		ec->tracestate[11 + ctx->tracestate_len] = '\0';
		ec->env[k++] = ec->tracestate;
	}
	ec->env[k] = NULL;
	return ec->env;
}

void envcarrier_parse(const char *traceparent, const char *tracestate,
		      struct span_ctx *ctx, char *ts, size_t cap)
{
	struct tracecontext tc;

	memset(ctx, 0, sizeof(*ctx));
	if (!traceparent ||
	    tracecontext_parse_traceparent(traceparent, strlen(traceparent),
					   &tc) < 0)
		return;
	memcpy(ctx->trace_id, tc.trace_id, 16);
	memcpy(ctx->span_id, tc.span_id, 8);
	ctx->trace_flags = tc.flags;
	ctx->remote = 1;
	ctx->valid = 1;
	if (tracestate) {
		struct tracecontext_field f = {tracestate, strlen(tracestate)};
		int n = tracecontext_parse_tracestate(&f, 1, ts, cap);
		if (n > 0) {
			ctx->tracestate = ts;
			ctx->tracestate_len = (uint16_t)n;
		}
	}
}
