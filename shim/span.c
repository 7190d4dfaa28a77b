/*
 * span.c - ids, sampling at span start, records at span end (see span.h).
 */
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "span.h"

/*
 * xoshiro256** per thread: fast, and its low bytes are as random as the
 * high ones, which W3C Level 2 needs (the right-most 7 bytes of a trace id
 * must be random for the random flag).
 */
struct rng {
	uint64_t s[4];
	unsigned gen;		/* span_fork_gen when seeded */
	int seeded;
};

static __thread struct rng rng __attribute__((tls_model("initial-exec")));
static unsigned span_fork_gen;

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r)
{
	uint64_t seed[4];

	if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed)) {
		/* No entropy yet (early boot): mix what differs per thread. */
		struct timespec ts;
		uint64_t x;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
		    (uint64_t)getpid() << 16 ^ (uint64_t)(uintptr_t)r;
		for (int i = 0; i < 4; i++)
			seed[i] = splitmix(&x);
	}
	memcpy(r->s, seed, sizeof(seed));
	if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
		r->s[0] = 1;
	r->gen = __atomic_load_n(&span_fork_gen, __ATOMIC_RELAXED);
	r->seeded = 1;
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void)
{
	struct rng *r = &rng;

	if (__builtin_expect(!r->seeded || r->gen != __atomic_load_n(
						       &span_fork_gen,
						       __ATOMIC_RELAXED),
			     0))
		rng_seed(r);
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

void span_new_trace_id(uint8_t id[16])
{
	uint64_t a, b;

	do {
		a = rng_next();
		b = rng_next();
	} while (!(a | b));
	memcpy(id, &a, 8);
	memcpy(id + 8, &b, 8);
}

void span_new_span_id(uint8_t id[8])
{
	uint64_t a;

	do
		a = rng_next();
	while (!a);
	memcpy(id, &a, 8);
}

void span_after_fork(void)
{
	__atomic_add_fetch(&span_fork_gen, 1, __ATOMIC_RELAXED);
}

void span_start(struct span_live *s, const struct span_ctx *parent,
		uint64_t start_ns)
{
	const struct config *cfg = config_get();
	int sampled;

	s->start_ns = start_ns;
	if (parent && parent->valid) {
		memcpy(s->trace_id, parent->trace_id, 16);
		memcpy(s->parent_id, parent->span_id, 8);
		s->has_parent = 1;
		s->parent_remote = parent->remote;
		/* The random bit is copied from the parent (W3C Level 2). */
		s->trace_flags = parent->trace_flags & TRACE_FLAG_RANDOM;
		sampled = sampler_should_sample(
			&cfg->sampler, s->trace_id, 1,
			parent->trace_flags & TRACE_FLAG_SAMPLED);
	} else {
		span_new_trace_id(s->trace_id);
		memset(s->parent_id, 0, 8);
		s->has_parent = 0;
		s->parent_remote = 0;
		s->trace_flags = TRACE_FLAG_RANDOM;
		sampled = sampler_should_sample(&cfg->sampler, s->trace_id, 0,
						0);
	}
	span_new_span_id(s->span_id);
	s->sampled = (uint8_t)sampled;
	if (sampled)
		s->trace_flags |= TRACE_FLAG_SAMPLED;
}

void span_context(const struct span_live *s, struct span_ctx *out)
{
	memcpy(out->trace_id, s->trace_id, 16);
	memcpy(out->span_id, s->span_id, 8);
	out->trace_flags = s->trace_flags;
	out->remote = 0;
	out->valid = 1;
	out->tracestate = NULL;
	out->tracestate_len = 0;
	out->baggage = NULL;
	out->baggage_len = 0;
}

void span_fill_record(const struct span_live *s, struct span_record *r,
		      enum span_kind kind, uint64_t end_ns)
{
	memcpy(r->trace_id, s->trace_id, 16);
	memcpy(r->span_id, s->span_id, 8);
	memcpy(r->parent_span_id, s->parent_id, 8);
	r->flags = s->trace_flags | SPAN_FLAGS_HAS_IS_REMOTE;
	if (s->has_parent && s->parent_remote)
		r->flags |= SPAN_FLAGS_IS_REMOTE;
	r->kind = (uint8_t)kind;
	r->start_ns = s->start_ns;
	r->end_ns = end_ns >= s->start_ns ? end_ns : s->start_ns;
}

void span_finish(const struct span_live *s, const struct span_record *r)
{
	if (s->sampled)
		exporter_submit(r);
}
