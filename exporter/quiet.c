/*
 * quiet.c - sections that a fork must not cut through (see quiet.h).
 *
 * Two counters and a Dekker-style pair of sequentially consistent
 * accesses: a thread counts itself in, then looks for a fork being
 * prepared; the prepare handler counts the fork in, then looks for
 * threads inside. At least one of the two sees the other, so no section
 * is in progress when the prepare handler returns (unless its wait ran
 * out). No lock: the handlers run in any thread, at any time.
 */
#include <sched.h>
#include <stdint.h>
#include <time.h>

#include "quiet.h"

static int inside;		/* threads inside a section */
static int preparing;		/* fork prepare handlers running */

int quiet_try(void)
{
	__atomic_add_fetch(&inside, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&preparing, __ATOMIC_SEQ_CST))
		return 1;
	__atomic_sub_fetch(&inside, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static void pause_a_little(int round)
{
	if (round < 64) {
		sched_yield();
	} else {
		struct timespec ts = {0, 20000};
		nanosleep(&ts, NULL);
	}
}

void quiet_enter(void)
{
	for (int round = 0; !quiet_try(); round++)
		while (__atomic_load_n(&preparing, __ATOMIC_SEQ_CST))
			pause_a_little(round++);
}

void quiet_leave(void)
{
	__atomic_sub_fetch(&inside, 1, __ATOMIC_SEQ_CST);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void quiet_fork_prepare(void)
{
	__atomic_add_fetch(&preparing, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&inside, __ATOMIC_SEQ_CST) <= 0)
		return;
	/* Each section lasts microseconds; the bound is for a thread
	   stopped inside one (a signal handler that waits for us). */
	uint64_t end = now_ns() + 200000000u;
	for (int round = 0;
	     __atomic_load_n(&inside, __ATOMIC_SEQ_CST) > 0 && now_ns() < end;
	     round++)
		pause_a_little(round);
}

void quiet_fork_parent(void)
{
	__atomic_sub_fetch(&preparing, 1, __ATOMIC_SEQ_CST);
}

void quiet_fork_child(void)
{
	/* the sections in progress were other threads', which are the
	   parent's; so are the other forks being prepared */
	__atomic_store_n(&inside, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&preparing, 0, __ATOMIC_SEQ_CST);
}
