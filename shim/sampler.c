/*
 * sampler.c - head sampling decisions (see sampler.h).
 */
#include "sampler.h"

void sampler_init(struct sampler *s, enum sampler_kind root, int parent_based,
		  double ratio)
{
	s->root = root;
	s->parent_based = parent_based;
	if (!(ratio >= 0.0))	/* also catches NaN */
		ratio = 0.0;
	if (ratio > 1.0)
		ratio = 1.0;
	s->ratio = ratio;
	/* 2^63 as a double is exact; ratio 1 maps to "always". */
	s->threshold = ratio >= 1.0 ? UINT64_MAX
				    : (uint64_t)(ratio * 9223372036854775808.0);
}

static int ratio_sample(const struct sampler *s, const uint8_t id[16])
{
	uint64_t x = 0;

	if (s->threshold == UINT64_MAX)
		return 1;
	for (int i = 8; i < 16; i++)
		x = x << 8 | id[i];
	return (x >> 1) < s->threshold;
}

int sampler_should_sample(const struct sampler *s, const uint8_t trace_id[16],
			  int has_parent, int parent_sampled)
{
	if (s->parent_based && has_parent)
		return parent_sampled;
	switch (s->root) {
	case SAMPLER_ALWAYS_ON:
		return 1;
	case SAMPLER_ALWAYS_OFF:
		return 0;
	case SAMPLER_TRACEIDRATIO:
		return ratio_sample(s, trace_id);
	}
	return 1;
}
