/*
 * tracecontext.h - the W3C Trace Context headers (traceparent, tracestate;
 * Level 2, as SPEC.md section 6 requires) and B3 (single and multi header):
 * validation of what arrives and formatting of what leaves.
 *
 * Pure functions over caller-supplied buffers: no allocation, no locale, no
 * state. Threading: any thread.
 */
#ifndef OTELSHIM_TRACECONTEXT_H
#define OTELSHIM_TRACECONTEXT_H

#include <stddef.h>
#include <stdint.h>

#define TRACEPARENT_LEN 55	/* version 00 */
#define TRACESTATE_MAX 512	/* what we keep and propagate */

struct tracecontext {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t flags;		/* W3C trace-flags as received */
};

/*
 * Parse a traceparent value (surrounding spaces and tabs are ignored).
 * Returns 0 and fills *out when valid per SPEC.md 6.2 (lowercase hex, the
 * exact lengths, non-zero ids, version not ff, version 00 with nothing
 * after the flags, a future version with "-" or the end after the flags);
 * -1 otherwise.
 */
int tracecontext_parse_traceparent(const char *v, size_t len,
				   struct tracecontext *out);

/*
 * Validate and combine the tracestate header fields f[0..n) (in order) into
 * out as "k1=v1,k2=v2" with OWS and empty members removed. Returns the
 * length written, 0 for an empty list, or -1 when the whole header must be
 * dropped (an invalid member, more than 32 members, or a combined length
 * over cap-1 after dropping members longer than 128 characters from the
 * right, per SPEC.md 6.3).
 */
struct tracecontext_field {
	const char *p;
	size_t len;
};
int tracecontext_parse_tracestate(const struct tracecontext_field *f, int n,
				  char *out, size_t cap);

/*
 * "00-<trace id>-<span id>-<flags>" into out (TRACEPARENT_LEN bytes, then a
 * NUL). Only the sampled and random flags are ever sent (Level 2).
 */
void tracecontext_format_traceparent(const uint8_t trace_id[16],
				     const uint8_t span_id[8], uint8_t flags,
				     char out[TRACEPARENT_LEN + 1]);

/*
 * B3 single header "{trace}-{span}[-{sampled}[-{parent}]]" (trace id of 16
 * or 32 hex digits; a 16-digit one is left-padded with zeros). Sampling
 * state "1" or "d" sets the sampled flag, "0" clears it, absent defers
 * (sampled is then taken as set). Returns 0 or -1.
 */
int tracecontext_parse_b3(const char *v, size_t len, struct tracecontext *out);

/*
 * B3 multi: X-B3-TraceId, X-B3-SpanId, X-B3-Sampled (NULL when absent),
 * X-B3-Flags (NULL when absent; "1" = debug, which implies sampled).
 */
int tracecontext_parse_b3multi(const char *trace, size_t trace_len,
			       const char *span, size_t span_len,
			       const char *sampled, size_t sampled_len,
			       const char *flags, size_t flags_len,
			       struct tracecontext *out);

/* "{trace32}-{span16}-{1|0}" into out (at least 53 bytes); returns length. */
size_t tracecontext_format_b3(const uint8_t trace_id[16],
			      const uint8_t span_id[8], int sampled,
			      char *out);

/* Lowercase hex of n bytes into out (2n chars, no NUL). */
void tracecontext_hex(const uint8_t *b, size_t n, char *out);

#endif
