/*
 * queue.c - the span queue (see queue.h).
 *
 * Slot i's sequence number says whose turn it is: seq == 2 * pos means free
 * for the producer of position pos; seq == 2 * pos + 1 means published for
 * the consumer; the consumer sets it to 2 * (pos + cap), free for the next
 * lap, when done. (Counting in steps of two keeps "published" and "free for
 * the next lap" apart even when cap is 1; with seq == pos + 1 for both, a
 * one-slot queue let a producer overwrite an unconsumed record.)
 *
 * The array stores seq - 2 * i, so that its initial state (seq == 2 * i,
 * free for the first lap) is all zeros: a fresh anonymous mapping needs no
 * initialisation, and its pages are touched only as slots are used.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "queue.h"

static inline uint64_t seq_acquire(const struct queue *q, uint32_t i)
{
	return __atomic_load_n(&q->seq[i], __ATOMIC_ACQUIRE) + 2 * (uint64_t)i;
}

static inline void seq_release(struct queue *q, uint32_t i, uint64_t seq)
{
	__atomic_store_n(&q->seq[i], seq - 2 * (uint64_t)i, __ATOMIC_RELEASE);
}

int queue_init(struct queue *q, uint32_t cap)
{
	size_t bytes = (size_t)cap * sizeof(struct span_record);

	memset(q, 0, sizeof(*q));
	if (cap == 0)
		return -EINVAL;
	q->slots = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (q->slots == MAP_FAILED) {
		q->slots = NULL;
		return -ENOMEM;
	}
	q->seq = mmap(NULL, (size_t)cap * sizeof(uint64_t),
		      PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		      0);
	if (q->seq == MAP_FAILED) {
		munmap(q->slots, bytes);
		q->slots = NULL;
		q->seq = NULL;
		return -ENOMEM;
	}
	q->cap = cap;	/* the mapping is zeros: every slot free, lap 0 */
	return 0;
}

/* No other thread uses the queue meanwhile (see queue.h). */
void queue_reset(struct queue *q)
{
	if (q->cap)
		memset(q->seq, 0, (size_t)q->cap * sizeof(uint64_t));
	__atomic_store_n(&q->tail, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&q->head, 0, __ATOMIC_RELEASE);
}

/*
 * Copy only what the record uses: attributes in use, the arena's head and
 * the frames of a stack.
 */
static void copy_record(struct span_record *dst, const struct span_record *r)
{
	size_t attrs_end = offsetof(struct span_record, attrs) +
			   (size_t)r->n_attrs * sizeof(struct span_attr);
	unsigned nf = r->n_frames <= SPAN_MAX_FRAMES ? r->n_frames
						     : SPAN_MAX_FRAMES;

	memcpy(dst, r, attrs_end);
	memcpy(dst->arena, r->arena, r->arena_used);
	dst->n_frames = (uint8_t)nf;
	if (nf)
		memcpy(dst->frames, r->frames, nf * sizeof(r->frames[0]));
}

struct span_record *queue_claim(struct queue *q, uint64_t *pos_out)
{
	uint64_t pos = __atomic_load_n(&q->tail, __ATOMIC_RELAXED);
	uint32_t i;

	if (!q->cap)
		return NULL;
	for (;;) {
		i = (uint32_t)(pos % q->cap);
		uint64_t seq = seq_acquire(q, i);
		int64_t diff = (int64_t)(seq - 2 * pos);
		if (diff == 0) {
			if (__atomic_compare_exchange_n(&q->tail, &pos, pos + 1,
							1, __ATOMIC_RELAXED,
							__ATOMIC_RELAXED))
				break;
		} else if (diff < 0) {
			return NULL;
		} else {
			pos = __atomic_load_n(&q->tail, __ATOMIC_RELAXED);
		}
	}
	*pos_out = pos;
	return &q->slots[i];
}

/*
 * The slot's sequence number says "free for position pos" until its
 * claimer publishes it, unless the consumer gave the slot up meanwhile
 * (queue_abandon): a compare-and-swap, not a store, so that exactly one of
 * the two moves it on. The position is the claimer's own copy: after an
 * abandon the sequence number speaks of the next lap.
 */
int queue_commit(struct queue *q, struct span_record *r, uint64_t pos)
{
	uint32_t i = (uint32_t)(r - q->slots);
	uint64_t want = 2 * pos - 2 * (uint64_t)i;

	return __atomic_compare_exchange_n(&q->seq[i], &want,
					   2 * pos + 1 - 2 * (uint64_t)i, 0,
					   __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

int queue_push(struct queue *q, const struct span_record *r)
{
	uint64_t pos;
	struct span_record *slot = queue_claim(q, &pos);

	if (!slot)
		return -ENOSPC;
	copy_record(slot, r);
	return queue_commit(q, slot, pos) ? 0 : -ENOSPC;
}

const struct span_record *queue_peek(const struct queue *q, uint32_t i)
{
	uint64_t pos = __atomic_load_n(&q->head, __ATOMIC_RELAXED) + i;

	if (i >= q->cap)	/* also a queue that was never mapped */
		return NULL;
	uint32_t s = (uint32_t)(pos % q->cap);
	if (seq_acquire(q, s) != 2 * pos + 1)
		return NULL;
	return &q->slots[s];
}

uint32_t queue_ready(const struct queue *q)
{
	uint32_t n = 0;

	while (n < q->cap && queue_peek(q, n))
		n++;
	return n;
}

void queue_release(struct queue *q, uint32_t n)
{
	uint64_t head = __atomic_load_n(&q->head, __ATOMIC_RELAXED);

	for (uint32_t k = 0; k < n; k++) {
		uint64_t pos = head + k;
		seq_release(q, (uint32_t)(pos % q->cap), 2 * (pos + q->cap));
	}
	__atomic_store_n(&q->head, head + n, __ATOMIC_RELEASE);
}

uint64_t queue_head(const struct queue *q)
{
	return __atomic_load_n(&q->head, __ATOMIC_RELAXED);
}

int queue_abandon(struct queue *q)
{
	uint64_t head = __atomic_load_n(&q->head, __ATOMIC_RELAXED);
	uint32_t i;

	/* Only a claimed position: one the tail has passed. Skipping a free
	   one would leave its producer waiting for a lap that never comes. */
	if (!q->cap || __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE) <= head)
		return 0;
	i = (uint32_t)(head % q->cap);
	uint64_t want = 2 * head - 2 * (uint64_t)i;
	if (!__atomic_compare_exchange_n(&q->seq[i], &want,
					 2 * (head + q->cap) - 2 * (uint64_t)i,
					 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return 0;	/* published after all (or never claimed) */
	q->abandoned = 1;
	__atomic_store_n(&q->head, head + 1, __ATOMIC_RELEASE);
	return 1;
}
