/*
 * test_queue.c - the bounded span queue (exporter/queue.h): capacity and
 * the full error, FIFO order through peek/release, wrap-around, records
 * copied by value (only their used part) or filled in place (claim and
 * commit), reset, and many producers with one consumer.
 *
 * Each record carries a sequence number (start_ns) and the same number
 * spelled in its name and a string attribute, so that a torn or misplaced
 * copy shows up as a mismatch, not just a wrong count.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "queue.h"

/* A record numbered seq; producer in the high 32 bits of start_ns. */
static void make_record(struct span_record *r, uint32_t producer,
			uint32_t seq)
{
	char name[32], val[32];
	int nl, vl;

	span_record_init(r);
	r->start_ns = (uint64_t)producer << 32 | seq;
	r->end_ns = r->start_ns + 1;
	memcpy(r->trace_id, &r->start_ns, 8);
	nl = snprintf(name, sizeof(name), "span-%u-%u", producer, seq);
	vl = snprintf(val, sizeof(val), "value-%u", seq ^ 0x5a5a5a5au);
	span_record_set_name(r, name, (size_t)nl);
	span_record_add_str(r, "k", val, (size_t)vl);
	span_record_add_int(r, "seq", seq);
}

/* Check that r is exactly make_record(producer, seq). */
static void check_record(const struct span_record *r, uint32_t producer,
			 uint32_t seq)
{
	char name[32], val[32];

	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->start_ns, (uint64_t)producer << 32 | seq);
	ck_assert_uint_eq(r->end_ns, r->start_ns + 1);
	ck_assert(!memcmp(r->trace_id, &r->start_ns, 8));
	snprintf(name, sizeof(name), "span-%u-%u", producer, seq);
	snprintf(val, sizeof(val), "value-%u", seq ^ 0x5a5a5a5au);
	ck_assert_str_eq(span_record_str(r, r->name), name);
	ck_assert_uint_eq(r->n_attrs, 2);
	ck_assert_str_eq(r->attrs[0].key, "k");
	ck_assert_uint_eq(r->attrs[0].type, SPAN_ATTR_STRING);
	ck_assert_str_eq(r->arena + r->attrs[0].off, val);
	ck_assert_str_eq(r->attrs[1].key, "seq");
	ck_assert_int_eq(r->attrs[1].v.i, seq);
}

static uint32_t seq_of(const struct span_record *r)
{
	return (uint32_t)r->start_ns;
}

static struct span_record rec;

/* ---- basics -------------------------------------------------------------- */

START_TEST(init_zero_capacity)
{
	struct queue q;

	ck_assert_int_eq(queue_init(&q, 0), -EINVAL);
	ck_assert_uint_eq(q.cap, 0);
	make_record(&rec, 0, 0);
	ck_assert_int_eq(queue_push(&q, &rec), -ENOSPC);
	ck_assert_uint_eq(queue_ready(&q), 0);
	ck_assert_uint_eq(queue_size(&q), 0);
	ck_assert_ptr_null(queue_peek(&q, 0));
	queue_reset(&q);
}
END_TEST

START_TEST(init_empty)
{
	struct queue q;

	ck_assert_int_eq(queue_init(&q, 8), 0);
	ck_assert_uint_eq(q.cap, 8);
	ck_assert_uint_eq(queue_ready(&q), 0);
	ck_assert_uint_eq(queue_size(&q), 0);
	for (uint32_t i = 0; i < 10; i++)
		ck_assert_ptr_null(queue_peek(&q, i));
}
END_TEST

/* A capacity of one record works like any other. */
START_TEST(capacity_one)
{
	struct queue q;

	ck_assert_int_eq(queue_init(&q, 1), 0);
	for (uint32_t i = 0; i < 100; i++) {
		make_record(&rec, 0, i);
		ck_assert_int_eq(queue_push(&q, &rec), 0);
		ck_assert_int_eq(queue_push(&q, &rec), -ENOSPC);
		ck_assert_uint_eq(queue_ready(&q), 1);
		check_record(queue_peek(&q, 0), 0, i);
		ck_assert_ptr_null(queue_peek(&q, 1));
		queue_release(&q, 1);
		ck_assert_uint_eq(queue_ready(&q), 0);
	}
}
END_TEST

START_TEST(push_until_full)
{
	struct queue q;

	ck_assert_int_eq(queue_init(&q, 16), 0);
	for (uint32_t i = 0; i < 16; i++) {
		make_record(&rec, 0, i);
		ck_assert_int_eq(queue_push(&q, &rec), 0);
		ck_assert_uint_eq(queue_size(&q), i + 1);
		ck_assert_uint_eq(queue_ready(&q), i + 1);
	}
	for (int k = 0; k < 5; k++) {
		make_record(&rec, 0, 100 + k);
		ck_assert_int_eq(queue_push(&q, &rec), -ENOSPC);
	}
	/* a failed push changes nothing */
	ck_assert_uint_eq(queue_size(&q), 16);
	ck_assert_uint_eq(queue_ready(&q), 16);
	for (uint32_t i = 0; i < 16; i++)
		check_record(queue_peek(&q, i), 0, i);
	ck_assert_ptr_null(queue_peek(&q, 16));
	/* one released slot: exactly one more push */
	queue_release(&q, 1);
	make_record(&rec, 0, 16);
	ck_assert_int_eq(queue_push(&q, &rec), 0);
	ck_assert_int_eq(queue_push(&q, &rec), -ENOSPC);
	for (uint32_t i = 0; i < 16; i++)
		check_record(queue_peek(&q, i), 0, i + 1);
}
END_TEST

/* peek(i) is the i-th oldest; release(n) drops the n oldest. */
START_TEST(fifo_order)
{
	struct queue q;

	ck_assert_int_eq(queue_init(&q, 10), 0);
	for (uint32_t i = 0; i < 7; i++) {
		make_record(&rec, 0, i);
		ck_assert_int_eq(queue_push(&q, &rec), 0);
	}
	for (uint32_t i = 0; i < 7; i++)
		check_record(queue_peek(&q, i), 0, i);
	queue_release(&q, 3);
	ck_assert_uint_eq(queue_ready(&q), 4);
	ck_assert_uint_eq(queue_size(&q), 4);
	for (uint32_t i = 0; i < 4; i++)
		check_record(queue_peek(&q, i), 0, 3 + i);
	ck_assert_ptr_null(queue_peek(&q, 4));
	queue_release(&q, 0);
	check_record(queue_peek(&q, 0), 0, 3);
	queue_release(&q, 4);
	ck_assert_uint_eq(queue_ready(&q), 0);
	ck_assert_uint_eq(queue_size(&q), 0);
	ck_assert_ptr_null(queue_peek(&q, 0));
}
END_TEST

/* Peeking does not consume: the same record twice. */
START_TEST(peek_is_idempotent)
{
	struct queue q;

	ck_assert_int_eq(queue_init(&q, 4), 0);
	make_record(&rec, 0, 42);
	ck_assert_int_eq(queue_push(&q, &rec), 0);
	const struct span_record *a = queue_peek(&q, 0);
	const struct span_record *b = queue_peek(&q, 0);
	ck_assert_ptr_eq(a, b);
	check_record(a, 0, 42);
	ck_assert_uint_eq(queue_ready(&q), 1);
}
END_TEST

static uint64_t prng_state;

static uint32_t prng(uint32_t bound)
{
	uint64_t z = (prng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (uint32_t)(z % bound);
}

/*
 * Random pushes and releases on a small ring: the positions wrap around
 * thousands of times and the order never breaks.
 */
START_TEST(wrap_around)
{
	static const uint32_t caps[] = {1, 2, 3, 5, 7, 8, 64};
	struct queue q;

	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		uint32_t cap = caps[c], next_in = 0, next_out = 0;
		ck_assert_int_eq(queue_init(&q, cap), 0);
		prng_state = cap;
		for (int round = 0; round < 20000; round++) {
			uint32_t k = prng(cap + 2);
			for (uint32_t j = 0; j < k; j++) {
				make_record(&rec, 1, next_in);
				int r = queue_push(&q, &rec);
				if (next_in - next_out < cap) {
					ck_assert_int_eq(r, 0);
					next_in++;
				} else {
					ck_assert_int_eq(r, -ENOSPC);
				}
			}
			uint32_t have = next_in - next_out;
			ck_assert_uint_eq(queue_ready(&q), have);
			ck_assert_uint_eq(queue_size(&q), have);
			uint32_t take = have ? prng(have + 1) : 0;
			for (uint32_t j = 0; j < have; j++)
				ck_assert_uint_eq(seq_of(queue_peek(&q, j)),
						  next_out + j);
			if (take)
				check_record(queue_peek(&q, take - 1), 1,
					     next_out + take - 1);
			queue_release(&q, take);
			next_out += take;
		}
		/* at least a hundred laps of the ring */
		ck_assert_uint_ge(next_out / cap, 100);
		ck_assert_uint_eq(q.head, next_out);
	}
}
END_TEST

/* The queue holds a copy: the caller may reuse its record at once. */
START_TEST(record_is_copied)
{
	struct queue q;
	struct span_record *r = &rec;

	ck_assert_int_eq(queue_init(&q, 4), 0);
	make_record(r, 3, 7);
	ck_assert_int_eq(queue_push(&q, r), 0);
	/* scribble over every byte of the caller's record */
	memset(r, 0xee, sizeof(*r));
	check_record(queue_peek(&q, 0), 3, 7);
	/* and reuse it for the next one */
	make_record(r, 3, 8);
	ck_assert_int_eq(queue_push(&q, r), 0);
	span_record_set_name(r, "changed", 7);
	r->start_ns = 0;
	check_record(queue_peek(&q, 0), 3, 7);
	check_record(queue_peek(&q, 1), 3, 8);
}
END_TEST

/* A record using the whole attribute table and arena survives intact. */
START_TEST(full_record_copied)
{
	struct queue q;
	char big[SPAN_ARENA_SIZE];

	ck_assert_int_eq(queue_init(&q, 2), 0);
	span_record_init(&rec);
	for (int i = 0; i < SPAN_MAX_ATTRS; i++)
		ck_assert_int_eq(span_record_add_int(&rec, "i", i), 0);
	memset(big, 'z', sizeof(big));
	size_t room = SPAN_ARENA_SIZE - 1u - rec.arena_used;
	ck_assert_int_eq(span_record_set_name(&rec, big, room), 0);
	ck_assert_uint_eq(rec.arena_used, SPAN_ARENA_SIZE);
	ck_assert_int_eq(queue_push(&q, &rec), 0);
	memset(&rec, 0, sizeof(rec));
	const struct span_record *r = queue_peek(&q, 0);
	ck_assert_uint_eq(r->n_attrs, SPAN_MAX_ATTRS);
	for (int i = 0; i < SPAN_MAX_ATTRS; i++)
		ck_assert_int_eq(r->attrs[i].v.i, i);
	ck_assert_uint_eq(r->name.len, room);
	ck_assert_uint_eq(strlen(span_record_str(r, r->name)), room);
	ck_assert(!memcmp(span_record_str(r, r->name), big, room));
}
END_TEST

/* The frames of a stack, which live after the arena, are copied too. */
START_TEST(frames_copied)
{
	struct queue q;
	uint64_t frames[SPAN_MAX_FRAMES];

	ck_assert_int_eq(queue_init(&q, 2), 0);
	for (int i = 0; i < SPAN_MAX_FRAMES; i++)
		frames[i] = 0x7f0000001000ull + (uint64_t)i * 16;
	make_record(&rec, 1, 1);
	rec.caller = 0x401234;
	span_record_set_frames(&rec, frames, SPAN_MAX_FRAMES + 5);
	ck_assert_uint_eq(rec.n_frames, SPAN_MAX_FRAMES);
	ck_assert_int_eq(queue_push(&q, &rec), 0);
	memset(&rec, 0xee, sizeof(rec));
	const struct span_record *r = queue_peek(&q, 0);
	check_record(r, 1, 1);
	ck_assert_uint_eq(r->caller, 0x401234);
	ck_assert_uint_eq(r->n_frames, SPAN_MAX_FRAMES);
	ck_assert(!memcmp(r->frames, frames, sizeof(frames)));
	/* a record without frames next in the slot: none */
	queue_release(&q, 1);
	make_record(&rec, 1, 2);
	ck_assert_int_eq(queue_push(&q, &rec), 0);
	ck_assert_uint_eq(queue_peek(&q, 0)->n_frames, 0);
}
END_TEST

/*
 * A slot reused for a smaller record: the copy covers what the new record
 * uses (its strings and attributes), whatever the slot held before.
 */
START_TEST(slot_reuse_smaller_record)
{
	struct queue q;

	ck_assert_int_eq(queue_init(&q, 1), 0);
	span_record_init(&rec);
	for (int i = 0; i < 10; i++)
		span_record_add_str(&rec, "long", "xxxxxxxxxxxxxxxxxxxx", 20);
	ck_assert_int_eq(queue_push(&q, &rec), 0);
	queue_release(&q, 1);
	make_record(&rec, 9, 9);
	ck_assert_int_eq(queue_push(&q, &rec), 0);
	check_record(queue_peek(&q, 0), 9, 9);
}
END_TEST

START_TEST(reset)
{
	struct queue q;

	ck_assert_int_eq(queue_init(&q, 4), 0);
	for (uint32_t i = 0; i < 3; i++) {
		make_record(&rec, 0, i);
		ck_assert_int_eq(queue_push(&q, &rec), 0);
	}
	queue_release(&q, 1);
	queue_reset(&q);
	ck_assert_uint_eq(queue_ready(&q), 0);
	ck_assert_uint_eq(queue_size(&q), 0);
	ck_assert_ptr_null(queue_peek(&q, 0));
	/* the full capacity is available again, in order from zero */
	for (uint32_t i = 0; i < 4; i++) {
		make_record(&rec, 0, 10 + i);
		ck_assert_int_eq(queue_push(&q, &rec), 0);
	}
	make_record(&rec, 0, 99);
	ck_assert_int_eq(queue_push(&q, &rec), -ENOSPC);
	for (uint32_t i = 0; i < 4; i++)
		check_record(queue_peek(&q, i), 0, 10 + i);
	/* reset of a full queue */
	queue_reset(&q);
	ck_assert_uint_eq(queue_ready(&q), 0);
	make_record(&rec, 0, 5);
	ck_assert_int_eq(queue_push(&q, &rec), 0);
	check_record(queue_peek(&q, 0), 0, 5);
}
END_TEST

/*
 * Records filled in place: claimed slots are published in claim order
 * whatever the order of the commits, a claimed slot holds the consumer up
 * until it is committed, and a full queue gives no slot.
 */
START_TEST(claim_commit)
{
	struct queue q;
	struct span_record *a, *b, *c;
	uint64_t pa, pb, pc;

	ck_assert_int_eq(queue_init(&q, 2), 0);
	a = queue_claim(&q, &pa);
	b = queue_claim(&q, &pb);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	ck_assert_ptr_null(queue_claim(&q, &pc));	/* full: both claimed */
	make_record(&rec, 4, 1);
	ck_assert_int_eq(queue_push(&q, &rec), -ENOSPC);
	make_record(b, 4, 2);
	ck_assert_int_eq(queue_commit(&q, b, pb), 1);
	ck_assert_ptr_null(queue_peek(&q, 0));	/* a is not committed */
	ck_assert_uint_eq(queue_ready(&q), 0);
	make_record(a, 4, 1);
	ck_assert_int_eq(queue_commit(&q, a, pa), 1);
	ck_assert_uint_eq(queue_ready(&q), 2);
	check_record(queue_peek(&q, 0), 4, 1);
	check_record(queue_peek(&q, 1), 4, 2);
	queue_release(&q, 1);
	/* the freed slot comes round again, after the one still queued */
	c = queue_claim(&q, &pc);
	ck_assert_ptr_eq(c, a);
	make_record(c, 4, 3);
	ck_assert_int_eq(queue_commit(&q, c, pc), 1);
	check_record(queue_peek(&q, 0), 4, 2);
	check_record(queue_peek(&q, 1), 4, 3);
	/* and the copying path interleaves with it */
	queue_release(&q, 2);
	make_record(&rec, 4, 4);
	ck_assert_int_eq(queue_push(&q, &rec), 0);
	c = queue_claim(&q, &pc);
	make_record(c, 4, 5);
	ck_assert_int_eq(queue_commit(&q, c, pc), 1);
	check_record(queue_peek(&q, 0), 4, 4);
	check_record(queue_peek(&q, 1), 4, 5);
}
END_TEST

/*
 * A claim never committed (its thread longjmp'd away): the consumer gives
 * it up, the records behind it flow again, the slot serves the next lap,
 * and the claimer's late commit is refused without disturbing anything.
 * Nothing claimed, nothing to give up.
 */
START_TEST(abandon)
{
	struct queue q;
	struct span_record *a, *b, *c;
	uint64_t pa, pb, pc;

	ck_assert_int_eq(queue_init(&q, 2), 0);
	ck_assert_int_eq(queue_abandon(&q), 0);	/* empty */
	ck_assert_int_eq(q.abandoned, 0);
	a = queue_claim(&q, &pa);
	b = queue_claim(&q, &pb);
	make_record(b, 6, 2);
	ck_assert_int_eq(queue_commit(&q, b, pb), 1);
	ck_assert_ptr_null(queue_peek(&q, 0));	/* held up by a */
	ck_assert_uint_eq(queue_head(&q), 0);
	ck_assert_int_eq(queue_abandon(&q), 1);
	ck_assert_int_eq(q.abandoned, 1);
	ck_assert_uint_eq(queue_head(&q), 1);
	check_record(queue_peek(&q, 0), 6, 2);
	/* a's slot is free for the next lap */
	c = queue_claim(&q, &pc);
	ck_assert_ptr_eq(c, a);
	ck_assert_uint_eq(pc, pa + 2);
	/* the stale claimer comes back: refused, c untouched */
	ck_assert_int_eq(queue_commit(&q, a, pa), 0);
	ck_assert_uint_eq(queue_ready(&q), 1);
	make_record(c, 6, 3);
	ck_assert_int_eq(queue_commit(&q, c, pc), 1);
	ck_assert_uint_eq(queue_ready(&q), 2);
	check_record(queue_peek(&q, 0), 6, 2);
	check_record(queue_peek(&q, 1), 6, 3);
	/* a published head is not abandoned */
	ck_assert_int_eq(queue_abandon(&q), 0);
	queue_release(&q, 2);
	ck_assert_int_eq(queue_abandon(&q), 0);	/* nothing claimed */
	make_record(&rec, 6, 4);
	ck_assert_int_eq(queue_push(&q, &rec), 0);
	check_record(queue_peek(&q, 0), 6, 4);
}
END_TEST

/* What the consumer checks after an abandon: every offset and count. */
START_TEST(record_sanity)
{
	make_record(&rec, 1, 1);
	ck_assert_int_eq(span_record_sane(&rec), 1);
	rec.n_attrs = SPAN_MAX_ATTRS + 1;
	ck_assert_int_eq(span_record_sane(&rec), 0);
	make_record(&rec, 1, 1);
	rec.name.off = SPAN_ARENA_SIZE - 2;
	rec.name.len = 2;
	ck_assert_int_eq(span_record_sane(&rec), 0);
	make_record(&rec, 1, 1);
	span_record_add_str(&rec, "k", "v", 1);
	rec.attrs[rec.n_attrs - 1].off = SPAN_ARENA_SIZE - 1;
	ck_assert_int_eq(span_record_sane(&rec), 0);
	make_record(&rec, 1, 1);
	span_record_add_int(&rec, "k", 1);
	rec.attrs[rec.n_attrs - 1].key = NULL;
	ck_assert_int_eq(span_record_sane(&rec), 0);
	make_record(&rec, 1, 1);
	rec.n_frames = SPAN_MAX_FRAMES + 1;
	ck_assert_int_eq(span_record_sane(&rec), 0);
	make_record(&rec, 1, 1);
	rec.exception.message.off = 60000;
	ck_assert_int_eq(span_record_sane(&rec), 0);
}
END_TEST

/* A large queue: mapped lazily, usable to its last slot. */
START_TEST(large_queue)
{
	struct queue q;
	const uint32_t cap = 10000;

	ck_assert_int_eq(queue_init(&q, cap), 0);
	for (uint32_t i = 0; i < cap; i += 997) {
		/* positions up to i are pushed and released quickly */
		while (q.tail < i) {
			make_record(&rec, 0, (uint32_t)q.tail);
			ck_assert_int_eq(queue_push(&q, &rec), 0);
		}
		queue_release(&q, (uint32_t)(q.tail - q.head));
	}
	for (uint32_t i = 0; i < cap; i++) {
		make_record(&rec, 0, i);
		ck_assert_int_eq(queue_push(&q, &rec), 0);
	}
	ck_assert_int_eq(queue_push(&q, &rec), -ENOSPC);
	ck_assert_uint_eq(queue_ready(&q), cap);
	check_record(queue_peek(&q, 0), 0, 0);
	check_record(queue_peek(&q, cap - 1), 0, cap - 1);
}
END_TEST

/* ---- many producers, one consumer ---------------------------------------- */

#define PRODUCERS 4
#define PER_PRODUCER 50000

struct producer {
	struct queue *q;
	uint32_t id;
	uint32_t accepted;
	uint32_t rejected;
	uint8_t ok[PER_PRODUCER];	/* 1: that sequence number queued */
};

static struct producer producers[PRODUCERS];
static uint8_t consumed[PRODUCERS][PER_PRODUCER];
static int producers_done;

static void *produce(void *arg)
{
	struct producer *p = arg;
	struct span_record r;

	for (uint32_t i = 0; i < PER_PRODUCER; i++) {
		int e;
		if (p->id % 2) {
			/* odd producers fill their records in place */
			uint64_t pos;
			struct span_record *slot = queue_claim(p->q, &pos);
			e = slot ? 0 : -ENOSPC;
			if (slot) {
				make_record(slot, p->id, i);
				if (!queue_commit(p->q, slot, pos))
					return (void *)1;
			}
		} else {
			make_record(&r, p->id, i);
			e = queue_push(p->q, &r);
		}
		if (e == 0) {
			p->ok[i] = 1;
			p->accepted++;
		} else {
			/* the only failure is a full queue */
			if (e != -ENOSPC)
				return (void *)1;
			p->rejected++;
			if (i % 64 == 0)
				sched_yield();
		}
	}
	__atomic_add_fetch(&producers_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * Check one consumed record without ck_assert (this runs often): returns 0
 * when it is intact, and records it.
 */
static int consume(const struct span_record *r, uint32_t *last)
{
	uint32_t p = (uint32_t)(r->start_ns >> 32), s = seq_of(r);
	char name[32];

	if (p >= PRODUCERS || s >= PER_PRODUCER)
		return -1;
	snprintf(name, sizeof(name), "span-%u-%u", p, s);
	if (strcmp(span_record_str(r, r->name), name) || r->n_attrs != 2 ||
	    r->attrs[1].v.i != s || r->end_ns != r->start_ns + 1)
		return -2;
	/* one producer's records arrive in its order */
	if (last[p] != UINT32_MAX && s <= last[p])
		return -3;
	last[p] = s;
	consumed[p][s]++;
	return 0;
}

START_TEST(threads)
{
	static struct queue q;
	pthread_t t[PRODUCERS];
	uint32_t last[PRODUCERS];
	uint64_t total_consumed = 0;

	ck_assert_int_eq(queue_init(&q, 256), 0);
	memset(consumed, 0, sizeof(consumed));
	producers_done = 0;
	for (int i = 0; i < PRODUCERS; i++) {
		memset(&producers[i], 0, sizeof(producers[i]));
		producers[i].q = &q;
		producers[i].id = (uint32_t)i;
		last[i] = UINT32_MAX;
	}
	for (int i = 0; i < PRODUCERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, produce,
						&producers[i]),
				 0);
	for (;;) {
		int done = __atomic_load_n(&producers_done, __ATOMIC_ACQUIRE) ==
			   PRODUCERS;
		uint32_t n = 0;
		const struct span_record *r;
		while ((r = queue_peek(&q, n)) != NULL) {
			int e = consume(r, last);
			ck_assert_msg(e == 0, "record %u: error %d", n, e);
			n++;
		}
		queue_release(&q, n);
		total_consumed += n;
		/* after the producers finished, one empty pass ends it */
		if (done && n == 0)
			break;
	}
	for (int i = 0; i < PRODUCERS; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		ck_assert_ptr_null(ret);
	}

	uint64_t accepted = 0, rejected = 0;
	for (int p = 0; p < PRODUCERS; p++) {
		ck_assert_uint_eq(producers[p].accepted + producers[p].rejected,
				  PER_PRODUCER);
		accepted += producers[p].accepted;
		rejected += producers[p].rejected;
		for (uint32_t s = 0; s < PER_PRODUCER; s++)
			ck_assert_msg(consumed[p][s] == producers[p].ok[s],
				      "producer %d seq %u: queued %d, consumed "
				      "%d times",
				      p, s, producers[p].ok[s], consumed[p][s]);
	}
	ck_assert_uint_eq(accepted + rejected,
			  (uint64_t)PRODUCERS * PER_PRODUCER);
	ck_assert_uint_eq(total_consumed, accepted);
	ck_assert_uint_gt(accepted, 0);
	ck_assert_uint_eq(queue_ready(&q), 0);
	ck_assert_uint_eq(queue_size(&q), 0);
}
END_TEST

/*
 * Producers that retry until accepted: all 200000 records go through a
 * small ring exactly once, each producer's in order.
 */
static void *produce_retrying(void *arg)
{
	struct producer *p = arg;
	struct span_record r;

	for (uint32_t i = 0; i < PER_PRODUCER; i++) {
		make_record(&r, p->id, i);
		while (queue_push(p->q, &r) != 0) {
			p->rejected++;
			sched_yield();
		}
		p->ok[i] = 1;
		p->accepted++;
	}
	__atomic_add_fetch(&producers_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

START_TEST(threads_retrying)
{
	static struct queue q;
	pthread_t t[PRODUCERS];
	uint32_t last[PRODUCERS];
	uint64_t total = 0;

	ck_assert_int_eq(queue_init(&q, 64), 0);
	memset(consumed, 0, sizeof(consumed));
	producers_done = 0;
	for (int i = 0; i < PRODUCERS; i++) {
		memset(&producers[i], 0, sizeof(producers[i]));
		producers[i].q = &q;
		producers[i].id = (uint32_t)i;
		last[i] = UINT32_MAX;
	}
	for (int i = 0; i < PRODUCERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, produce_retrying,
						&producers[i]),
				 0);
	for (;;) {
		int done = __atomic_load_n(&producers_done, __ATOMIC_ACQUIRE) ==
			   PRODUCERS;
		uint32_t n = 0;
		const struct span_record *r;
		/* consume in small batches, like the exporter does */
		while (n < 16 && (r = queue_peek(&q, n)) != NULL) {
			int e = consume(r, last);
			ck_assert_msg(e == 0, "record %u: error %d", n, e);
			n++;
		}
		queue_release(&q, n);
		total += n;
		if (done && n == 0)
			break;
	}
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_eq(total, (uint64_t)PRODUCERS * PER_PRODUCER);
	for (int p = 0; p < PRODUCERS; p++) {
		ck_assert_uint_eq(producers[p].accepted, PER_PRODUCER);
		ck_assert_uint_eq(last[p], PER_PRODUCER - 1);
		for (uint32_t s = 0; s < PER_PRODUCER; s++)
			ck_assert_int_eq(consumed[p][s], 1);
	}
}
END_TEST

Suite *unit_suite(void)
{
	Suite *s = suite_create("queue");
	TCase *t = tcase_create("single");

	/* generous: sanitizer and valgrind builds are many times slower */
	tcase_set_timeout(t, 60);

	tcase_add_test(t, init_zero_capacity);
	tcase_add_test(t, init_empty);
	tcase_add_test(t, capacity_one);
	tcase_add_test(t, push_until_full);
	tcase_add_test(t, fifo_order);
	tcase_add_test(t, peek_is_idempotent);
	tcase_add_test(t, wrap_around);
	tcase_add_test(t, record_is_copied);
	tcase_add_test(t, full_record_copied);
	tcase_add_test(t, frames_copied);
	tcase_add_test(t, slot_reuse_smaller_record);
	tcase_add_test(t, reset);
	tcase_add_test(t, claim_commit);
	tcase_add_test(t, abandon);
	tcase_add_test(t, record_sanity);
	tcase_add_test(t, large_queue);
	suite_add_tcase(s, t);

	t = tcase_create("threads");
	tcase_set_timeout(t, 100);
	tcase_add_test(t, threads);
	tcase_add_test(t, threads_retrying);
	suite_add_tcase(s, t);
	return s;
}
