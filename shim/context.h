/*
 * context.h - which span is the parent of a client span, and by which rule.
 *
 * A SERVER span is "serving" from the moment its request head is read until
 * its response is complete. A client call finds its parent by these rules,
 * in order, and never guesses between two candidates:
 *
 *   connection  the connection was opened while exactly one request was
 *               known to be in progress here (its first request only);
 *   thread      exactly one request is being served on this thread
 *               (thread-per-request servers: exact);
 *   turn        this event-loop turn (an epoll_wait/poll/select return) read
 *               bytes (head or body) of exactly one request (event-loop
 *               servers such as nginx);
 *   ambiguous   several candidates: a new trace, without link;
 *   handoff     none on this thread but exactly one in the process (work
 *               handed to another thread): a new trace with a span link to it;
 *   env         TRACEPARENT in the environment (a process started by a
 *               traced one, e.g. a CGI script);
 *   none        nothing: a new trace.
 *
 * (The HTTP module adds "header": a traceparent the program wrote itself.)
 * The rule is recorded on each client span as otelshim.parent.rule.
 *
 * Threading: each thread keeps its own state in initial-exec TLS; the only
 * shared state is one counter and a small table of serving requests, both
 * updated with atomic operations. A request read on one thread and answered
 * on another is removed from the first thread's set (atomically).
 */
#ifndef OTELSHIM_CONTEXT_H
#define OTELSHIM_CONTEXT_H

#include <stdint.h>

#include "span.h"

enum context_rule {
	CONTEXT_NONE = 0,
	CONTEXT_CONNECTION,
	CONTEXT_THREAD,
	CONTEXT_TURN,
	CONTEXT_AMBIGUOUS,
	CONTEXT_HANDOFF,
	CONTEXT_ENV,
	CONTEXT_HEADER,
};

const char *context_rule_name(enum context_rule r);

/*
 * A serving request's place in the tables: filled by context_serve_begin()
 * and passed back to context_serve_end(). Owned by the server exchange.
 */
struct context_slot {
	uint64_t thread;	/* the entry's owner when it was taken */
	int index;		/* -1: none */
};

/* An event-loop wait returned on this thread: a new turn begins. */
void context_turn(void);

/*
 * A request head was read on this thread; ctx is its SERVER span's context
 * (ctx->valid set). ctx must stay valid until context_serve_end().
 */
void context_serve_begin(const struct span_ctx *ctx, struct context_slot *slot);

/*
 * Bytes of a request being served (its body) were read on this thread:
 * the request is a candidate of this turn. context_serve_begin() counts
 * the head itself.
 */
void context_serve_read(const struct span_ctx *ctx);

/* Its response is complete (or the connection died), on any thread. */
void context_serve_end(struct context_slot *slot);

/*
 * The parent for a client span starting now on this thread. On return
 * *parent is valid or not (a new trace), *link is valid when the new span
 * should carry a link (handoff). Returns the rule applied. connection_ctx
 * is the binding recorded when the connection was opened (or NULL).
 */
enum context_rule context_parent(const struct span_ctx *connection_ctx,
				 struct span_ctx *parent,
				 struct span_ctx *link);

/*
 * The binding for a connection being opened now: set *out (valid or not)
 * from the thread and turn rules only. Returns the rule.
 */
enum context_rule context_bind(struct span_ctx *out);

/*
 * In a forked child only the forking thread exists: forget the requests
 * the parent's other threads were serving (they are not candidates here).
 */
void context_after_fork(void);

/*
 * TRACEPARENT/TRACESTATE from the environment at start-up (the OpenTelemetry
 * environment-variable carrier); called once by the constructor.
 */
void context_set_env(const struct span_ctx *ctx);

#endif
