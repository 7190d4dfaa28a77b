/*
 * context.c - parent selection for client spans (see context.h).
 *
 * Serving requests live in one process-wide table, each entry tagged with a
 * per-thread id that is never reused (a counter, not pthread_self(), which a
 * new thread can inherit from a dead one). Scans stop at the table's
 * high-water mark, which stays near the number of concurrent requests.
 */
#include <string.h>

#include "context.h"

#define SERVING_MAX 1024

struct serving {
	uint64_t thread;		/* 0: free */
	const struct span_ctx *ctx;
};

struct thread_state {
	uint64_t id;
	uint64_t turns;			/* event-loop waits seen */
	uint32_t turn_reads;		/* requests with bytes read this turn */
	const struct span_ctx *turn_last;	/* the last of them ... */
	struct span_ctx turn_ctx;	/* ... and a copy of its context */
};

static struct serving serving[SERVING_MAX];
static int serving_hwm;			/* entries [0, hwm) may be used */
static int serving_count;
static uint64_t next_thread_id;
static struct span_ctx env_ctx;

static __thread struct thread_state ts __attribute__((tls_model("initial-exec")));

static const char *const rule_names[] = {
	[CONTEXT_NONE] = "none",	   [CONTEXT_CONNECTION] = "connection",
	[CONTEXT_THREAD] = "thread",	   [CONTEXT_TURN] = "turn",
	[CONTEXT_AMBIGUOUS] = "ambiguous", [CONTEXT_HANDOFF] = "handoff",
	[CONTEXT_ENV] = "env",		   [CONTEXT_HEADER] = "header",
};

const char *context_rule_name(enum context_rule r)
{
	return (unsigned)r < sizeof(rule_names) / sizeof(rule_names[0])
		       ? rule_names[r]
		       : "none";
}

static uint64_t thread_id(void)
{
	if (!ts.id)
		ts.id = __atomic_add_fetch(&next_thread_id, 1,
					   __ATOMIC_RELAXED);
	return ts.id;
}

void context_turn(void)
{
	ts.turns++;
	ts.turn_reads = 0;
	ts.turn_last = NULL;
	ts.turn_ctx.valid = 0;
}

void context_serve_read(const struct span_ctx *ctx)
{
	ts.turn_ctx = *ctx;
	if (ts.turn_last != ctx) {
		ts.turn_last = ctx;
		ts.turn_reads++;
	}
}

void context_serve_begin(const struct span_ctx *ctx, struct context_slot *slot)
{
	uint64_t me = thread_id();

	slot->thread = 0;
	slot->index = -1;
	context_serve_read(ctx);
	for (int i = 0; i < SERVING_MAX; i++) {
		uint64_t expected = 0;
		if (__atomic_load_n(&serving[i].thread, __ATOMIC_RELAXED))
			continue;
		__atomic_store_n(&serving[i].ctx, ctx, __ATOMIC_RELAXED);
		if (!__atomic_compare_exchange_n(&serving[i].thread, &expected,
						 me, 0, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		/* raise the high-water mark to cover i */
		int hwm = __atomic_load_n(&serving_hwm, __ATOMIC_RELAXED);
		while (hwm <= i &&
		       !__atomic_compare_exchange_n(&serving_hwm, &hwm, i + 1,
						    1, __ATOMIC_ACQ_REL,
						    __ATOMIC_RELAXED))
			;
		__atomic_add_fetch(&serving_count, 1, __ATOMIC_RELAXED);
		slot->thread = me;
		slot->index = i;
		return;
	}
	/* Table full: the request is not a candidate for anything. */
}

void context_serve_end(struct context_slot *slot)
{
	uint64_t expected = slot->thread;

	if (slot->index < 0)
		return;
	/* A request that ended is nobody's parent any more, even in the
	   turn that read it (its storage may be reused). */
	if (ts.turn_last &&
	    ts.turn_last == __atomic_load_n(&serving[slot->index].ctx,
					    __ATOMIC_RELAXED)) {
		ts.turn_ctx.valid = 0;
		ts.turn_last = NULL;
	}
	/* Only if the entry is still ours (a fork may have dropped it). */
	if (__atomic_compare_exchange_n(&serving[slot->index].thread,
					&expected, 0, 0, __ATOMIC_ACQ_REL,
					__ATOMIC_RELAXED))
		__atomic_sub_fetch(&serving_count, 1, __ATOMIC_RELAXED);
	slot->index = -1;
	slot->thread = 0;
}

/*
 * Requests served on this thread: how many, and the context of one of them
 * (copied, as the entry may be released by another thread meanwhile).
 */
static int on_this_thread(struct span_ctx *one)
{
	uint64_t me = thread_id();
	int hwm = __atomic_load_n(&serving_hwm, __ATOMIC_ACQUIRE);
	int n = 0;

	for (int i = 0; i < hwm; i++) {
		if (__atomic_load_n(&serving[i].thread, __ATOMIC_ACQUIRE) !=
		    me)
			continue;
		const struct span_ctx *c =
			__atomic_load_n(&serving[i].ctx, __ATOMIC_ACQUIRE);
		if (c && n == 0)
			*one = *c;
		n++;
	}
	return n;
}

/* Any request in the process, when there is exactly one. */
static int the_only_one(struct span_ctx *one)
{
	int hwm = __atomic_load_n(&serving_hwm, __ATOMIC_ACQUIRE);
	int n = 0;

	if (__atomic_load_n(&serving_count, __ATOMIC_RELAXED) != 1)
		return 0;
	for (int i = 0; i < hwm; i++) {
		if (!__atomic_load_n(&serving[i].thread, __ATOMIC_ACQUIRE))
			continue;
		const struct span_ctx *c =
			__atomic_load_n(&serving[i].ctx, __ATOMIC_ACQUIRE);
		if (c) {
			*one = *c;
			n++;
		}
	}
	return n == 1;
}

/* The thread and turn rules, shared by binding and parent selection. */
static enum context_rule local_rules(struct span_ctx *out, int *candidates)
{
	struct span_ctx one;
	int n = on_this_thread(&one);

	*candidates = n;
	if (n == 1) {
		*out = one;
		return CONTEXT_THREAD;
	}
	if (ts.turns && ts.turn_reads == 1 && ts.turn_ctx.valid) {
		*out = ts.turn_ctx;
		return CONTEXT_TURN;
	}
	if (n > 1 || ts.turn_reads > 1)
		return CONTEXT_AMBIGUOUS;
	return CONTEXT_NONE;
}

enum context_rule context_bind(struct span_ctx *out)
{
	int n;
	enum context_rule r;

	out->valid = 0;
	r = local_rules(out, &n);
	if (r != CONTEXT_THREAD && r != CONTEXT_TURN)
		out->valid = 0;
	return r;
}

enum context_rule context_parent(const struct span_ctx *connection_ctx,
				 struct span_ctx *parent,
				 struct span_ctx *link)
{
	enum context_rule r;
	int n;

	parent->valid = 0;
	link->valid = 0;
	if (connection_ctx && connection_ctx->valid) {
		*parent = *connection_ctx;
		return CONTEXT_CONNECTION;
	}
	r = local_rules(parent, &n);
	if (r == CONTEXT_THREAD || r == CONTEXT_TURN)
		return r;
	parent->valid = 0;
	if (r == CONTEXT_AMBIGUOUS)
		return r;
	if (__atomic_load_n(&serving_count, __ATOMIC_RELAXED) > 0) {
		if (the_only_one(link)) {
			link->valid = 1;
			return CONTEXT_HANDOFF;
		}
		link->valid = 0;
		return CONTEXT_AMBIGUOUS;
	}
	if (env_ctx.valid) {
		*parent = env_ctx;
		return CONTEXT_ENV;
	}
	return CONTEXT_NONE;
}

void context_set_env(const struct span_ctx *ctx)
{
	env_ctx = *ctx;
}

void context_after_fork(void)
{
	uint64_t me = ts.id;
	int hwm = serving_hwm;
	int n = 0;

	for (int i = 0; i < hwm; i++) {
		if (!serving[i].thread)
			continue;
		if (me && serving[i].thread == me)
			n++;
		else
			serving[i].thread = 0;
	}
	serving_count = n;
}
