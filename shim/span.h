/*
 * span.h - span identity and context on application threads: random trace
 * and span ids, the parent/sampling decision when a span starts, and the
 * conversion of a finished span into an exporter record.
 *
 * Protocol modules (http_conn.c, later the database hooks) keep a struct
 * span_live in their own state while the operation runs, then fill a
 * span_record with their attributes and call span_finish().
 *
 * Threading: every function runs on the calling thread with thread-local
 * state only; no locks, no allocation. Ids come from a per-thread generator
 * seeded from getrandom(2) on the thread's first span and reseeded in a
 * forked child, so parent and child never produce the same ids.
 */
#ifndef OTELSHIM_SPAN_H
#define OTELSHIM_SPAN_H

#include <stdint.h>

#include "exporter.h"

/*
 * A span context: what a child needs of its parent. tracestate and baggage,
 * when present, point into the storage of the span that owns them (a server
 * exchange); whoever copies a context uses them at once or not at all.
 */
struct span_ctx {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t trace_flags;	/* W3C flags */
	uint8_t remote;		/* 1: extracted from another process */
	uint8_t valid;
	uint16_t tracestate_len;
	uint16_t baggage_len;
	const char *tracestate;
	const char *baggage;
};

struct span_live {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_id[8];
	uint8_t trace_flags;	/* W3C flags of this span's context */
	uint8_t has_parent;
	uint8_t parent_remote;
	uint8_t sampled;
	uint64_t start_ns;
};

/*
 * Start a span at start_ns. parent may be NULL or invalid: a new trace is
 * started. The sampler of the configuration decides; an unsampled span is
 * still given ids (its context is propagated, SPEC.md 7.1) but is never
 * exported.
 */
void span_start(struct span_live *s, const struct span_ctx *parent,
		uint64_t start_ns);

/* The context of a live span, to parent others or to propagate. */
void span_context(const struct span_live *s, struct span_ctx *out);

/*
 * Fill the identity fields of r (ids, flags, kind, times) from s. The
 * caller has called span_record_init(r) and adds name and attributes.
 */
void span_fill_record(const struct span_live *s, struct span_record *r,
		      enum span_kind kind, uint64_t end_ns);

/* Submit r if s is sampled (otherwise nothing happens). */
void span_finish(const struct span_live *s, const struct span_record *r);

/* Fresh random ids, never all zero. */
void span_new_trace_id(uint8_t id[16]);
void span_new_span_id(uint8_t id[8]);

/* Called in a forked child: every thread reseeds on its next id. */
void span_after_fork(void);

#endif
