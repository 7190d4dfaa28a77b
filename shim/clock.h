/*
 * clock.h - timestamps for spans: Unix-epoch nanoseconds from the vDSO
 * (no system call on Linux x86-64 and arm64).
 */
#ifndef OTELSHIM_CLOCK_H
#define OTELSHIM_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
