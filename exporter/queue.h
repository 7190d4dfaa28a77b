/*
 * queue.h - the bounded queue between the threads that finish spans and the
 * exporter thread: a ring of fixed-size span records, many producers, one
 * consumer, no locks (a per-slot sequence number, after Dmitry Vyukov's
 * bounded MPMC queue).
 *
 * A producer claims a slot with one compare-and-swap, copies the used part
 * of its record (or fills the slot in place) and publishes it; when the
 * ring is full it fails at once (the caller counts the drop). The consumer
 * reads published records in place and releases them after encoding, so a
 * record is copied once at most.
 *
 * Memory: the records live in an anonymous mapping that is touched only as
 * slots are used; the sequence numbers are a separate small mapping, zero
 * when free for the first lap, so it too is touched only as used.
 */
#ifndef OTELSHIM_QUEUE_H
#define OTELSHIM_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "exporter.h"

struct queue {
	uint64_t *seq;			/* per slot */
	struct span_record *slots;
	uint32_t cap;
	int abandoned;			/* queue_abandon() ever took a slot */
	uint64_t tail __attribute__((aligned(64)));	/* producers */
	uint64_t head __attribute__((aligned(64)));	/* the consumer */
};

/* Map a queue of cap slots. Returns 0 or -errno. */
int queue_init(struct queue *q, uint32_t cap);

/* Forget every record (the child after fork, and tests): no other thread
   may use the queue meanwhile. */
void queue_reset(struct queue *q);

/* Copy r in. Returns 0, or -ENOSPC when full. Any thread; never blocks. */
int queue_push(struct queue *q, const struct span_record *r);

/*
 * queue_push() in two steps, for a record filled in place: queue_claim()
 * takes the next slot and returns its record (as the last user left it)
 * and its position, or NULL when full; queue_commit() publishes it.
 * Records are consumed in order, so a claimed slot holds the consumer up
 * at its position until it is committed: nothing that can block may come
 * between the two. A claim that is never committed (its thread left our
 * code for good: a signal handler's siglongjmp) is given up by the
 * consumer with queue_abandon(); queue_commit() then returns 0 and the
 * record is not published. Any thread; never blocks.
 */
struct span_record *queue_claim(struct queue *q, uint64_t *pos);
int queue_commit(struct queue *q, struct span_record *r, uint64_t pos);

/* Records ready for the consumer (a lower bound while producers run). */
uint32_t queue_ready(const struct queue *q);

/*
 * Consumer only: the i-th record after the head, or NULL if it is not yet
 * published. Valid until queue_release().
 */
const struct span_record *queue_peek(const struct queue *q, uint32_t i);

/* Consumer only: give the first n records back to the producers. */
void queue_release(struct queue *q, uint32_t n);

/* Consumer only: the position of the head (what queue_peek(q, 0) reads). */
uint64_t queue_head(const struct queue *q);

/*
 * Consumer only, when the head is claimed and not published (queue_size()
 * > 0, queue_peek(q, 0) NULL) for longer than any producer fills a record:
 * free the slot for the next lap and move the head past it. Returns 1, or
 * 0 if the record was published meanwhile. The claimer, if it ever comes
 * back, finds its commit refused; if it was only stalled and still
 * writing when the slot is claimed again, the new record may come out
 * torn: after a queue_abandon() (q->abandoned) the consumer checks each
 * record before it trusts its offsets (span_record_sane()).
 */
int queue_abandon(struct queue *q);

/* Approximate number of queued records, for wake-up decisions. */
static inline uint32_t queue_size(const struct queue *q)
{
	uint64_t t = __atomic_load_n(&q->tail, __ATOMIC_RELAXED);
	uint64_t h = __atomic_load_n(&q->head, __ATOMIC_RELAXED);

	return t > h ? (uint32_t)(t - h) : 0;
}

#endif
