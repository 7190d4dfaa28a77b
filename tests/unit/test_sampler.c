/*
 * test_sampler.c - the head samplers of SPEC.md section 7: always_on,
 * always_off, TraceIdRatioBased (7.2: the low 8 bytes of the trace id,
 * big-endian, shifted right by one, against ratio * 2^63) and the
 * parent-based forms (7.1), first through sampler.h, then through
 * span_start() for remote and local parents.
 *
 * Random trace ids come from a fixed-seed splitmix64, so the statistical
 * checks are deterministic: they cannot flake, and the tolerance only has
 * to allow for the generator, not for luck.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "config.h"
#include "sampler.h"
#include "span.h"

static uint64_t prng_state;

static uint64_t prng(void)
{
	uint64_t z = (prng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void random_id(uint8_t id[16])
{
	uint64_t a = prng(), b = prng();

	memcpy(id, &a, 8);
	memcpy(id + 8, &b, 8);
}

/* A trace id whose high half is hi and low half (bytes 8..15) is lo,
 * big-endian. */
static void make_id(uint8_t id[16], uint64_t hi, uint64_t lo)
{
	for (int i = 0; i < 8; i++) {
		id[7 - i] = (uint8_t)(hi >> (8 * i));
		id[15 - i] = (uint8_t)(lo >> (8 * i));
	}
}

static int ratio_says(double ratio, uint64_t hi, uint64_t lo)
{
	struct sampler s;
	uint8_t id[16];

	sampler_init(&s, SAMPLER_TRACEIDRATIO, 0, ratio);
	make_id(id, hi, lo);
	return sampler_should_sample(&s, id, 0, 0);
}

/* ---- always_on / always_off ---------------------------------------------- */

START_TEST(always_on_samples_everything)
{
	struct sampler s;
	uint8_t id[16];

	sampler_init(&s, SAMPLER_ALWAYS_ON, 0, 1.0);
	prng_state = 1;
	for (int i = 0; i < 10000; i++) {
		random_id(id);
		ck_assert_int_eq(sampler_should_sample(&s, id, 0, 0), 1);
	}
	make_id(id, 0, 0);
	ck_assert_int_eq(sampler_should_sample(&s, id, 0, 0), 1);
	make_id(id, UINT64_MAX, UINT64_MAX);
	ck_assert_int_eq(sampler_should_sample(&s, id, 0, 0), 1);
}
END_TEST

START_TEST(always_off_samples_nothing)
{
	struct sampler s;
	uint8_t id[16];

	sampler_init(&s, SAMPLER_ALWAYS_OFF, 0, 1.0);
	prng_state = 2;
	for (int i = 0; i < 10000; i++) {
		random_id(id);
		ck_assert_int_eq(sampler_should_sample(&s, id, 0, 0), 0);
	}
}
END_TEST

/* Without ParentBased, the parent's sampled flag is ignored (7.1, 7.2). */
START_TEST(plain_samplers_ignore_the_parent)
{
	struct sampler s;
	uint8_t id[16];

	make_id(id, 1, 1);
	sampler_init(&s, SAMPLER_ALWAYS_ON, 0, 1.0);
	ck_assert_int_eq(sampler_should_sample(&s, id, 1, 0), 1);
	ck_assert_int_eq(sampler_should_sample(&s, id, 1, 1), 1);
	sampler_init(&s, SAMPLER_ALWAYS_OFF, 0, 1.0);
	ck_assert_int_eq(sampler_should_sample(&s, id, 1, 1), 0);
	ck_assert_int_eq(sampler_should_sample(&s, id, 1, 0), 0);
	sampler_init(&s, SAMPLER_TRACEIDRATIO, 0, 0.0);
	ck_assert_int_eq(sampler_should_sample(&s, id, 1, 1), 0);
	sampler_init(&s, SAMPLER_TRACEIDRATIO, 0, 1.0);
	ck_assert_int_eq(sampler_should_sample(&s, id, 1, 0), 1);
}
END_TEST

/* ---- TraceIdRatioBased --------------------------------------------------- */

START_TEST(ratio_zero_samples_nothing)
{
	struct sampler s;
	uint8_t id[16];

	sampler_init(&s, SAMPLER_TRACEIDRATIO, 0, 0.0);
	ck_assert_uint_eq(s.threshold, 0);
	prng_state = 3;
	for (int i = 0; i < 100000; i++) {
		random_id(id);
		ck_assert_int_eq(sampler_should_sample(&s, id, 0, 0), 0);
	}
	/* even the smallest possible value */
	ck_assert_int_eq(ratio_says(0.0, UINT64_MAX, 0), 0);
	ck_assert_int_eq(ratio_says(0.0, 0, 1), 0);
}
END_TEST

START_TEST(ratio_one_samples_everything)
{
	struct sampler s;
	uint8_t id[16];

	sampler_init(&s, SAMPLER_TRACEIDRATIO, 0, 1.0);
	prng_state = 4;
	for (int i = 0; i < 100000; i++) {
		random_id(id);
		ck_assert_int_eq(sampler_should_sample(&s, id, 0, 0), 1);
	}
	/* even the largest possible value */
	ck_assert_int_eq(ratio_says(1.0, 0, UINT64_MAX), 1);
	ck_assert_int_eq(ratio_says(1.0, UINT64_MAX, UINT64_MAX), 1);
}
END_TEST

/* threshold = ratio * 2^63, exactly where that is representable. */
START_TEST(ratio_threshold)
{
	struct sampler s;

	sampler_init(&s, SAMPLER_TRACEIDRATIO, 0, 0.5);
	ck_assert_uint_eq(s.threshold, 1ull << 62);
	sampler_init(&s, SAMPLER_TRACEIDRATIO, 0, 0.25);
	ck_assert_uint_eq(s.threshold, 1ull << 61);
	sampler_init(&s, SAMPLER_TRACEIDRATIO, 1, 0.125);
	ck_assert_uint_eq(s.threshold, 1ull << 60);
	ck_assert(s.ratio == 0.125);
	ck_assert_int_eq(s.parent_based, 1);
	ck_assert_int_eq(s.root, SAMPLER_TRACEIDRATIO);
}
END_TEST

/*
 * The comparison is on bytes 8..15, big-endian, shifted right by one:
 * (lo >> 1) < ratio * 2^63. The high half never matters.
 */
START_TEST(ratio_uses_low_bytes_big_endian)
{
	/* ratio 0.5: threshold 2^62, so lo < 2^63 samples */
	ck_assert_int_eq(ratio_says(0.5, 0, 0x7fffffffffffffffull), 1);
	ck_assert_int_eq(ratio_says(0.5, 0, 0x8000000000000000ull), 0);
	ck_assert_int_eq(ratio_says(0.5, 0, 0), 1);
	ck_assert_int_eq(ratio_says(0.5, 0, UINT64_MAX), 0);
	/* the high half is ignored */
	ck_assert_int_eq(ratio_says(0.5, UINT64_MAX, 0x7fffffffffffffffull),
			 1);
	ck_assert_int_eq(ratio_says(0.5, 0, 0x8000000000000000ull),
			 ratio_says(0.5, 0x0123456789abcdefull,
				    0x8000000000000000ull));
	/* byte 8 is the most significant: 0x00..ff is small, 0xff..00 big */
	ck_assert_int_eq(ratio_says(0.5, 0, 0x00000000000000ffull), 1);
	ck_assert_int_eq(ratio_says(0.5, 0, 0xff00000000000000ull), 0);
	/* ratio 0.25: threshold 2^61, so lo < 2^62 samples */
	ck_assert_int_eq(ratio_says(0.25, 0, (1ull << 62) - 1), 1);
	ck_assert_int_eq(ratio_says(0.25, 0, 1ull << 62), 0);
	/* the shift drops the lowest bit: lo and lo|1 always agree */
	ck_assert_int_eq(ratio_says(0.25, 0, (1ull << 62) - 2),
			 ratio_says(0.25, 0, (1ull << 62) - 1));
}
END_TEST

START_TEST(ratio_quarter_of_random_ids)
{
	struct sampler s;
	uint8_t id[16];
	int n = 0;

	sampler_init(&s, SAMPLER_TRACEIDRATIO, 0, 0.25);
	prng_state = 0x5eed;
	for (int i = 0; i < 100000; i++) {
		random_id(id);
		n += sampler_should_sample(&s, id, 0, 0);
	}
	/* 25000 expected; sigma is 137, the band is over 7 sigma wide */
	ck_assert_msg(n > 24000 && n < 26000, "%d of 100000 sampled", n);
}
END_TEST

/* ratio r samples r of the ids, for several r, and deterministically. */
START_TEST(ratio_fraction_and_determinism)
{
	static const double ratios[] = {0.001, 0.1, 0.5, 0.9, 0.999};
	/* 8 sigma of a binomial(100000, r), rounded up */
	static const int tolerance[] = {81, 760, 1265, 760, 81};
	uint8_t id[16];

	for (size_t k = 0; k < sizeof(ratios) / sizeof(ratios[0]); k++) {
		struct sampler s;
		int n = 0;
		sampler_init(&s, SAMPLER_TRACEIDRATIO, 0, ratios[k]);
		prng_state = 77 + k;
		for (int i = 0; i < 100000; i++) {
			random_id(id);
			int d = sampler_should_sample(&s, id, 0, 0);
			ck_assert_int_eq(d,
					 sampler_should_sample(&s, id, 0, 0));
			n += d;
		}
		int want = (int)(ratios[k] * 100000 + 0.5);
		ck_assert_msg(abs(n - want) < tolerance[k],
			      "ratio %g: %d sampled", ratios[k], n);
	}
}
END_TEST

/* A higher ratio samples a superset of what a lower one samples (7.2). */
START_TEST(ratio_superset)
{
	static const double ratios[] = {0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.99,
					1.0};
	const size_t nr = sizeof(ratios) / sizeof(ratios[0]);
	struct sampler s[8];
	uint8_t id[16];

	for (size_t k = 0; k < nr; k++)
		sampler_init(&s[k], SAMPLER_TRACEIDRATIO, 0, ratios[k]);
	prng_state = 99;
	for (int i = 0; i < 50000; i++) {
		random_id(id);
		for (size_t k = 1; k < nr; k++)
			if (sampler_should_sample(&s[k - 1], id, 0, 0))
				ck_assert_int_eq(
					sampler_should_sample(&s[k], id, 0, 0),
					1);
	}
}
END_TEST

/* Out-of-range ratios are clamped to [0, 1]; NaN is 0. */
START_TEST(ratio_clamped)
{
	struct sampler s;

	sampler_init(&s, SAMPLER_TRACEIDRATIO, 0, -0.5);
	ck_assert(s.ratio == 0.0);
	ck_assert_uint_eq(s.threshold, 0);
	sampler_init(&s, SAMPLER_TRACEIDRATIO, 0, 7.0);
	ck_assert(s.ratio == 1.0);
	ck_assert_int_eq(ratio_says(7.0, 0, UINT64_MAX), 1);
	sampler_init(&s, SAMPLER_TRACEIDRATIO, 0, NAN);
	ck_assert(s.ratio == 0.0);
	ck_assert_int_eq(ratio_says(NAN, 0, 0), 0);
	ck_assert_int_eq(ratio_says(-1.0, 0, 0), 0);
}
END_TEST

/* ---- ParentBased --------------------------------------------------------- */

/*
 * The delegates of ParentBased(root) with the defaults (7.1): a sampled
 * parent is followed with AlwaysOn, an unsampled one with AlwaysOff; only a
 * span without a parent asks the root.
 */
START_TEST(parent_based_delegates)
{
	static const enum sampler_kind roots[] = {
		SAMPLER_ALWAYS_ON, SAMPLER_ALWAYS_OFF, SAMPLER_TRACEIDRATIO};
	static const double ratios[] = {0.0, 0.5, 1.0};
	uint8_t id[16];

	prng_state = 5;
	for (size_t r = 0; r < 3; r++) {
		for (size_t q = 0; q < 3; q++) {
			struct sampler s;
			sampler_init(&s, roots[r], 1, ratios[q]);
			for (int i = 0; i < 1000; i++) {
				random_id(id);
				ck_assert_int_eq(
					sampler_should_sample(&s, id, 1, 1), 1);
				ck_assert_int_eq(
					sampler_should_sample(&s, id, 1, 0), 0);
			}
		}
	}
}
END_TEST

START_TEST(parent_based_root)
{
	struct sampler s;
	uint8_t id[16];

	make_id(id, 0, UINT64_MAX);	/* never sampled by a ratio < 1 */
	sampler_init(&s, SAMPLER_ALWAYS_ON, 1, 1.0);
	ck_assert_int_eq(sampler_should_sample(&s, id, 0, 0), 1);
	sampler_init(&s, SAMPLER_ALWAYS_OFF, 1, 1.0);
	ck_assert_int_eq(sampler_should_sample(&s, id, 0, 0), 0);
	sampler_init(&s, SAMPLER_TRACEIDRATIO, 1, 0.5);
	ck_assert_int_eq(sampler_should_sample(&s, id, 0, 0), 0);
	/* ...while a sampled parent wins over the ratio */
	ck_assert_int_eq(sampler_should_sample(&s, id, 1, 1), 1);
	make_id(id, 0, 0);		/* always sampled by a ratio > 0 */
	ck_assert_int_eq(sampler_should_sample(&s, id, 0, 0), 1);
	/* ...and an unsampled parent wins too */
	ck_assert_int_eq(sampler_should_sample(&s, id, 1, 0), 0);
	/* a root decision with parentbased_traceidratio matches the plain
	   ratio sampler on every id */
	struct sampler plain;
	sampler_init(&plain, SAMPLER_TRACEIDRATIO, 0, 0.3);
	sampler_init(&s, SAMPLER_TRACEIDRATIO, 1, 0.3);
	prng_state = 6;
	for (int i = 0; i < 10000; i++) {
		random_id(id);
		ck_assert_int_eq(sampler_should_sample(&s, id, 0, 0),
				 sampler_should_sample(&plain, id, 0, 0));
	}
}
END_TEST

/* ---- through span_start(): remote and local parents ---------------------- */

/* Load a configuration with OTEL_TRACES_SAMPLER[_ARG] from the environment. */
static void load_sampler(const char *name, const char *arg)
{
	clearenv();
	setenv("OTEL_LOG_LEVEL", "none", 1);
	if (name)
		setenv("OTEL_TRACES_SAMPLER", name, 1);
	if (arg)
		setenv("OTEL_TRACES_SAMPLER_ARG", arg, 1);
	config_load();
}

static struct span_ctx remote_parent(int sampled)
{
	struct span_ctx p;

	memset(&p, 0, sizeof(p));
	make_id(p.trace_id, 0x0af7651916cd43ddull, UINT64_MAX);
	for (int i = 0; i < 8; i++)
		p.span_id[i] = (uint8_t)(0xb0 + i);
	p.trace_flags = (uint8_t)(sampled ? TRACE_FLAG_SAMPLED : 0);
	p.remote = 1;
	p.valid = 1;
	return p;
}

/* A local parent: the context of a span started in this process. */
static struct span_ctx local_parent(int sampled)
{
	struct span_live s;
	struct span_ctx p;

	memset(&s, 0, sizeof(s));
	make_id(s.trace_id, 0x1111111111111111ull, UINT64_MAX);
	for (int i = 0; i < 8; i++)
		s.span_id[i] = (uint8_t)(0xc0 + i);
	s.trace_flags = (uint8_t)(sampled ? TRACE_FLAG_SAMPLED : 0);
	s.sampled = (uint8_t)sampled;
	span_context(&s, &p);
	ck_assert_int_eq(p.remote, 0);
	ck_assert_int_eq(p.valid, 1);
	return p;
}

static int started_sampled(const struct span_ctx *parent)
{
	struct span_live s;

	span_start(&s, parent, 1000);
	ck_assert_int_eq(!!(s.trace_flags & TRACE_FLAG_SAMPLED), s.sampled);
	if (parent && parent->valid) {
		ck_assert(!memcmp(s.trace_id, parent->trace_id, 16));
		ck_assert(!memcmp(s.parent_id, parent->span_id, 8));
		ck_assert_int_eq(s.has_parent, 1);
		ck_assert_int_eq(s.parent_remote, parent->remote);
	} else {
		ck_assert_int_eq(s.has_parent, 0);
	}
	/* an unsampled span still gets ids to propagate */
	static const uint8_t zero[16];
	ck_assert(memcmp(s.span_id, zero, 8));
	ck_assert(memcmp(s.trace_id, zero, 16));
	return s.sampled;
}

/* The default is parentbased_always_on (SPEC.md 1.2). */
START_TEST(span_default_sampler)
{
	load_sampler(NULL, NULL);
	struct span_ctx rs = remote_parent(1), ru = remote_parent(0);
	struct span_ctx ls = local_parent(1), lu = local_parent(0);

	ck_assert_int_eq(started_sampled(NULL), 1);
	ck_assert_int_eq(started_sampled(&rs), 1);
	ck_assert_int_eq(started_sampled(&ru), 0);
	ck_assert_int_eq(started_sampled(&ls), 1);
	ck_assert_int_eq(started_sampled(&lu), 0);
}
END_TEST

START_TEST(span_parentbased_always_off)
{
	load_sampler("parentbased_always_off", NULL);
	struct span_ctx rs = remote_parent(1), ru = remote_parent(0);
	struct span_ctx ls = local_parent(1), lu = local_parent(0);

	ck_assert_int_eq(started_sampled(NULL), 0);
	ck_assert_int_eq(started_sampled(&rs), 1);
	ck_assert_int_eq(started_sampled(&ru), 0);
	ck_assert_int_eq(started_sampled(&ls), 1);
	ck_assert_int_eq(started_sampled(&lu), 0);
}
END_TEST

START_TEST(span_parentbased_traceidratio)
{
	/* The parents' ids have low half all ones: never sampled by ratio 0.5,
	   yet a sampled parent is followed. */
	load_sampler("parentbased_traceidratio", "0.5");
	struct span_ctx rs = remote_parent(1), ru = remote_parent(0);
	struct span_ctx ls = local_parent(1), lu = local_parent(0);

	ck_assert_int_eq(started_sampled(&rs), 1);
	ck_assert_int_eq(started_sampled(&ru), 0);
	ck_assert_int_eq(started_sampled(&ls), 1);
	ck_assert_int_eq(started_sampled(&lu), 0);
	/* roots: about half of the new traces */
	int n = 0;
	for (int i = 0; i < 20000; i++)
		n += started_sampled(NULL);
	ck_assert_msg(n > 9000 && n < 11000, "%d of 20000 roots sampled", n);
}
END_TEST

START_TEST(span_plain_samplers)
{
	struct span_ctx rs = remote_parent(1), ru = remote_parent(0);
	struct span_ctx ls = local_parent(1), lu = local_parent(0);

	load_sampler("always_off", NULL);
	ck_assert_int_eq(started_sampled(NULL), 0);
	ck_assert_int_eq(started_sampled(&rs), 0);
	ck_assert_int_eq(started_sampled(&ls), 0);
	load_sampler("always_on", NULL);
	ck_assert_int_eq(started_sampled(NULL), 1);
	ck_assert_int_eq(started_sampled(&ru), 1);
	ck_assert_int_eq(started_sampled(&lu), 1);
	/* traceidratio ignores the parent: the parents' ids are above 0.5 */
	load_sampler("traceidratio", "0.5");
	ck_assert_int_eq(started_sampled(&rs), 0);
	ck_assert_int_eq(started_sampled(&ls), 0);
	load_sampler("traceidratio", "1");
	ck_assert_int_eq(started_sampled(&ru), 1);
	ck_assert_int_eq(started_sampled(&lu), 1);
	load_sampler("traceidratio", "0");
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(started_sampled(NULL), 0);
}
END_TEST

/* The random flag comes from the parent; a root span sets it (W3C L2). */
START_TEST(span_flags)
{
	struct span_live s;
	struct span_ctx p = remote_parent(1);

	load_sampler(NULL, NULL);
	span_start(&s, &p, 5);
	ck_assert_uint_eq(s.trace_flags, TRACE_FLAG_SAMPLED);
	p.trace_flags |= TRACE_FLAG_RANDOM;
	span_start(&s, &p, 5);
	ck_assert_uint_eq(s.trace_flags,
			  TRACE_FLAG_SAMPLED | TRACE_FLAG_RANDOM);
	span_start(&s, NULL, 5);
	ck_assert_uint_eq(s.trace_flags,
			  TRACE_FLAG_SAMPLED | TRACE_FLAG_RANDOM);
	ck_assert_uint_eq(s.start_ns, 5);
	load_sampler("always_off", NULL);
	span_start(&s, NULL, 5);
	ck_assert_uint_eq(s.trace_flags, TRACE_FLAG_RANDOM);
}
END_TEST

Suite *unit_suite(void)
{
	Suite *s = suite_create("sampler");
	TCase *t = tcase_create("basic");

	tcase_add_test(t, always_on_samples_everything);
	tcase_add_test(t, always_off_samples_nothing);
	tcase_add_test(t, plain_samplers_ignore_the_parent);
	suite_add_tcase(s, t);

	t = tcase_create("traceidratio");
	tcase_add_test(t, ratio_zero_samples_nothing);
	tcase_add_test(t, ratio_one_samples_everything);
	tcase_add_test(t, ratio_threshold);
	tcase_add_test(t, ratio_uses_low_bytes_big_endian);
	tcase_add_test(t, ratio_quarter_of_random_ids);
	tcase_add_test(t, ratio_fraction_and_determinism);
	tcase_add_test(t, ratio_superset);
	tcase_add_test(t, ratio_clamped);
	suite_add_tcase(s, t);

	t = tcase_create("parentbased");
	tcase_add_test(t, parent_based_delegates);
	tcase_add_test(t, parent_based_root);
	suite_add_tcase(s, t);

	t = tcase_create("span_start");
	tcase_add_test(t, span_default_sampler);
	tcase_add_test(t, span_parentbased_always_off);
	tcase_add_test(t, span_parentbased_traceidratio);
	tcase_add_test(t, span_plain_samplers);
	tcase_add_test(t, span_flags);
	suite_add_tcase(s, t);
	return s;
}
