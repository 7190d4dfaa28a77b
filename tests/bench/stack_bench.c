/*
 * stack_bench.c - what stacks and callers cost per span (issue 7), linked
 * against the shim's static core (no preload involved): the stack work a
 * span's hooks do, at the bottom of a 40-call-deep stack of the program's.
 *
 *     stack_bench capture MODE KIND SPANS
 *         SPANS spans of KIND (end: a span that starts and ends in one
 *         call, a query; split: one that starts in one call and ends in
 *         another, an HTTP exchange), fast and successful, in MODE (none:
 *         no stack code at all; off, errors, slow, all; short: a capture
 *         of 8 frames at the end, what code.function.name would cost if
 *         it came from a stack instead of the return address); every
 *         failing: FAIL=1 in the environment
 *     stack_bench symbolize SPANS
 *         the exporter thread's side: SPANS records with a caller, then
 *         SPANS with a 32-frame stack, through the symbolizer (addresses
 *         seen before: cache hits)
 *
 * Prints one JSON object: wall and thread CPU ns for the loop, the frames
 * each capture got, and the first capture's time (libunwind's loading and
 * its cold caches).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "stack.h"

#define DEPTH 40

static uint64_t ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct {
	const char *mode;
	int failed;
	long spans;
	void (*span)(const void *caller, int failed);
	unsigned frames;	/* of the last capture */
	uint64_t first_ns;	/* the first capture */
	uint64_t wall_ns, cpu_ns;
} b;

static struct span_record rec;
static struct stack start;
static volatile uint64_t sink;

/*
 * One span's stack work, as db.c and http_conn.c do it: one body compiled
 * twice, with the stack code and without it, and the copy the mode picks
 * called through a pointer (off: the copy without). none is the body with
 * no stack code at all, what a shim without stacks would run. Each does
 * the same bookkeeping, so that the differences are the stack code alone.
 */
static __attribute__((noinline)) void span_none(const void *caller,
						int failed)
{
	rec.n_frames = 0;
	rec.caller = 0;
	sink = (uintptr_t)caller + (unsigned)failed;
}

static inline __attribute__((always_inline)) void
span_body(const void *caller, int failed, int split, const int stacks)
{
	rec.n_frames = 0;
	rec.caller = 0;
	sink = (uintptr_t)caller + (unsigned)failed;
	if (stacks) {
		if (split)
			stack_begin(&start);
		stack_end(&rec, split ? &start : NULL, caller, failed, 1000);
	}
}

static __attribute__((noinline)) void span_end_plain(const void *caller,
						     int failed)
{
	span_body(caller, failed, 0, 0);
}

static __attribute__((noinline)) void span_end_stacks(const void *caller,
						      int failed)
{
	span_body(caller, failed, 0, 1);
}

static __attribute__((noinline)) void span_split_plain(const void *caller,
						       int failed)
{
	span_body(caller, failed, 1, 0);
}

static __attribute__((noinline)) void span_split_stacks(const void *caller,
							int failed)
{
	span_body(caller, failed, 1, 1);
}

static __attribute__((noinline)) void span_short(const void *caller,
						 int failed)
{
	rec.n_frames = 0;
	rec.caller = 0;
	sink = (uintptr_t)caller + (unsigned)failed;
	rec.n_frames = (uint8_t)stack_capture(rec.frames, 8);
	rec.caller = (uintptr_t)caller;
}

static __attribute__((noinline)) void loop(void)
{
	const void *caller = __builtin_return_address(0);
	uint64_t t0 = ns(CLOCK_MONOTONIC);

	b.span(caller, b.failed);
	b.first_ns = ns(CLOCK_MONOTONIC) - t0;
	uint64_t w0 = ns(CLOCK_MONOTONIC), c0 = ns(CLOCK_THREAD_CPUTIME_ID);
	for (long i = 0; i < b.spans; i++)
		b.span(caller, b.failed);
	b.cpu_ns = ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	b.wall_ns = ns(CLOCK_MONOTONIC) - w0;
	b.frames = rec.n_frames;
}

/* The program's stack: DEPTH frames of its own above the spans. */
static __attribute__((noinline, noclone)) int deep(int n)
{
	if (n == 0)
		loop();
	else
		deep(n - 1);
	__asm__ volatile("" ::: "memory");
	return n;
}

static void set_mode(const char *mode)
{
	struct config c;
	static const char *const modes[] = {"off", "errors", "slow", "all"};

	memset(&c, 0, sizeof(c));
	c.stack_slow_ms = 500;
	c.stack_mode = STACK_OFF;
	for (int i = 0; i < 4; i++)
		if (!strcmp(mode, modes[i]))
			c.stack_mode = (enum stack_mode)i;
	if (!strcmp(mode, "short"))
		c.stack_mode = STACK_ALL;
	stack_init(&c);
	/* the shim's code is linked in: no frame is "ours" here */
	stack_set_self(0, 0);
	/* Preloaded, the shim adopts libunwind's pipe through its pipe2
	   hook and checks it before each capture; here nothing interposes
	   pipe2: a pipe of the same kind gets the same checks. */
	int p[2];
	if (pipe(p) == 0)
		stack_fd_adopt(p);
}

static int capture(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	b.mode = argv[2];
	int split = !strcmp(argv[3], "split");
	b.spans = atol(argv[4]);
	b.failed = getenv("FAIL") && !strcmp(getenv("FAIL"), "1");
	set_mode(b.mode);
	/* The choice db_use_stacks() and http_conn_use_stacks() make. */
	int stacks = stack_policy.mode != STACK_OFF;
	b.span = !strcmp(b.mode, "none")    ? span_none
		 : !strcmp(b.mode, "short") ? span_short
		 : split ? (stacks ? span_split_stacks : span_split_plain)
			 : (stacks ? span_end_stacks : span_end_plain);
	deep(DEPTH);
	printf("{\"mode\": \"%s\", \"kind\": \"%s\", \"spans\": %ld, "
	       "\"failed\": %d, \"frames\": %u, \"first_ns\": %llu, "
	       "\"wall_ns\": %llu, \"cpu_ns\": %llu}\n",
	       b.mode, argv[3], b.spans, b.failed, b.frames,
	       (unsigned long long)b.first_ns, (unsigned long long)b.wall_ns,
	       (unsigned long long)b.cpu_ns);
	return 0;
}

static __attribute__((noinline)) void take(void)
{
	stack_end(&rec, NULL, __builtin_return_address(0), 1, 0);
}

static int symbolize(int argc, char **argv)
{
	static char buf[EXPORTER_STACK_TEXT_MAX];
	struct span_code code;
	long n = argc > 2 ? atol(argv[2]) : 1000;
	uint64_t t[2];

	set_mode("all");
	span_record_init(&rec);
	take();		/* a stack, 32 frames if the program is deep enough */
	struct span_record r = rec;
	for (int pass = 0; pass < 2; pass++) {
		r.n_frames = pass ? rec.n_frames : 0;
		stack_symbolizer.batch();
		stack_symbolizer.span(&r, buf, sizeof(buf), &code); /* warm */
		uint64_t c0 = ns(CLOCK_THREAD_CPUTIME_ID);
		for (long i = 0; i < n; i++) {
			stack_symbolizer.batch();
			stack_symbolizer.span(&r, buf, sizeof(buf), &code);
		}
		t[pass] = ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	}
	printf("{\"spans\": %ld, \"frames\": %u, \"caller_cpu_ns\": %llu, "
	       "\"stack_cpu_ns\": %llu, \"text_bytes\": %u}\n",
	       n, rec.n_frames, (unsigned long long)t[0],
	       (unsigned long long)t[1], code.stacktrace_len);
	return 0;
}

static __attribute__((noinline, noclone)) int deep_symbolize(int n, int argc,
							     char **argv)
{
	int r = n == 0 ? symbolize(argc, argv)
		       : deep_symbolize(n - 1, argc, argv);
	__asm__ volatile("" ::: "memory");
	return r;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "capture"))
		return capture(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "symbolize"))
		return deep_symbolize(DEPTH, argc, argv);
	fprintf(stderr, "usage: stack_bench capture MODE end|split SPANS | "
			"symbolize SPANS\n");
	return 2;
}
