/*
 * sampler.h - the head samplers of SPEC.md section 7: always_on, always_off,
 * traceidratio and the parent-based forms. A decision is a pure function of
 * the trace id and the parent, so it costs a few instructions on the thread
 * that starts the span.
 *
 * TraceIdRatioBased compares the low 8 bytes of the trace id, big-endian,
 * shifted right by one, against ratio * 2^63 (the Go/Java/Python-compatible
 * choice recommended in SPEC.md 7.2): a higher ratio samples a superset.
 */
#ifndef OTELSHIM_SAMPLER_H
#define OTELSHIM_SAMPLER_H

#include <stdint.h>

enum sampler_kind {
	SAMPLER_ALWAYS_ON = 0,
	SAMPLER_ALWAYS_OFF,
	SAMPLER_TRACEIDRATIO,
};

struct sampler {
	enum sampler_kind root;	/* the sampler for root spans */
	int parent_based;	/* 1: follow the parent's sampled flag */
	double ratio;		/* traceidratio: 0..1 */
	uint64_t threshold;	/* ratio * 2^63, precomputed */
};

/* Set kind/ratio and precompute the threshold. */
void sampler_init(struct sampler *s, enum sampler_kind root, int parent_based,
		  double ratio);

/*
 * Decide for a new span. has_parent: a valid parent context exists (local or
 * remote); parent_sampled: its sampled flag. Returns 1 to record and sample,
 * 0 to drop. (The shim records nothing that it does not sample.)
 */
int sampler_should_sample(const struct sampler *s, const uint8_t trace_id[16],
			  int has_parent, int parent_sampled);

#endif
