/*
 * exporter.c - the batch span processor and its thread (see exporter.h).
 *
 * Application threads only push into the lock-free queue (queue.h) and, when
 * a full batch is waiting and the thread sleeps, wake it with one futex
 * call. The exporter thread exports a batch when the queue holds
 * OTEL_BSP_MAX_EXPORT_BATCH_SIZE spans, when OTEL_BSP_SCHEDULE_DELAY has
 * passed, or when a flush is requested (exit). Exports are serial, retried
 * per SPEC.md 3.2 (429, 502, 503, 504 and transport failures; exponential
 * backoff with jitter; Retry-After honoured) within
 * OTEL_EXPORTER_OTLP_TIMEOUT, and every span ends up either exported or in
 * one of the dropped counters.
 *
 * There is no mutex anywhere: a fork can happen at any instant without
 * leaving a lock held in the child.
 */
#include <errno.h>
#include <sys/random.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "exporter.h"
#include "otlp.h"
#include "otlp_http.h"
#include "queue.h"
#include "quiet.h"
#include "resource.h"

enum state {
	STATE_OFF = 0,
	STATE_RUNNING,
	STATE_SHUTDOWN,
};

enum thread_state {
	THREAD_NONE = 0,
	THREAD_STARTING,
	THREAD_RUNNING,
	THREAD_FAILED,
};

static struct exporter_config cfg;
static struct queue queue;
static int state;
static int thread_state;
static void (*thread_hook)(void);
static void (*fd_hook)(int fd, int in_use);
static struct exporter_symbolizer symbolizer;

/* Counters: updated with atomic adds, read by exporter_get_stats(). */
static struct exporter_stats stats;

/* Wake-up and flush handshakes (futex words). */
static uint32_t wake_seq;
static int worker_sleeping;
static uint32_t flush_req;
static uint32_t flush_done;
static uint64_t flush_deadline_ns;
static pid_t owner_pid;		/* the process whose thread runs */

/* Owned by the exporter thread. */
static struct resource resource;
static struct otlp_http http = {.fd = -1};
/* The encoded batch, reused: the exporter thread's only large allocation. */
static struct otlp_buf encoded;
static int export_failing;

#define ADD(field, n) __atomic_add_fetch(&stats.field, (n), __ATOMIC_RELAXED)

static void futex_wait(uint32_t *addr, uint32_t val, uint64_t timeout_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(timeout_ns / 1000000000u),
		.tv_nsec = (long)(timeout_ns % 1000000000u),
	};

	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void futex_wake(uint32_t *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void wake_worker(void)
{
	__atomic_add_fetch(&wake_seq, 1, __ATOMIC_SEQ_CST);
	futex_wake(&wake_seq);
}

static uint64_t now_ns(void)
{
	return otlp_http_now_ns();
}

/* ---- exporting ------------------------------------------------------------ */

static uint64_t jitter_state;	/* exporter thread; 0: not seeded */

static uint32_t backoff_jitter_ms(uint32_t base_ms)
{
	/* 50% to 150% of base: enough to spread a fleet's retries. Seeded
	   from the kernel's randomness once per process (a child re-seeds:
	   the worker starts afresh there), so processes that failed
	   together do not retry together. */
	uint64_t x = jitter_state;
	if (!x) {
		if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x))
			x = now_ns() ^ ((uint64_t)getpid() << 32);
		x |= 1;
	}
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	jitter_state = x;
	return base_ms / 2 + (uint32_t)(x % (base_ms + 1));
}
static int retryable(int status)
{
	return status == 429 || status == 502 || status == 503 ||
	       status == 504;
}

/*
 * Sleep until the retry time. A flush request (the process is exiting)
 * does not hurry the retry (the collector asked for the wait); it only
 * ends it when the retry would come after the flush deadline. Returns 1
 * to retry, 0 to give up.
 */
static int retry_sleep(uint64_t until_ns)
{
	uint32_t fr = __atomic_load_n(&flush_req, __ATOMIC_ACQUIRE);

	/* a flush already asked for (the process is exiting) counts too */
	if (fr != __atomic_load_n(&flush_done, __ATOMIC_ACQUIRE) &&
	    until_ns > __atomic_load_n(&flush_deadline_ns, __ATOMIC_ACQUIRE))
		return 0;
	for (;;) {
		uint64_t now = now_ns();
		if (now >= until_ns)
			return 1;
		uint32_t cur = __atomic_load_n(&flush_req, __ATOMIC_ACQUIRE);
		if (cur != fr) {
			fr = cur;
			if (until_ns > __atomic_load_n(&flush_deadline_ns,
						       __ATOMIC_ACQUIRE))
				return 0;
		}
		futex_wait(&flush_req, fr, until_ns - now);
	}
}

static void note_failure(const char *what, int code, uint32_t n)
{
	ADD(dropped_export, n);
	if (!export_failing)
		otel_log(LOG_WARN,
			 "export to http://%s:%u%s failed (%s %d); %u spans "
			 "dropped (further failures are counted and reported "
			 "at exit)",
			 cfg.endpoint_host, cfg.endpoint_port, cfg.endpoint_path,
			 what, code, n);
	export_failing = 1;
}

static void post_batch(const uint8_t *body, size_t len, uint32_t n,
		       uint64_t deadline_ns)
{
	uint32_t backoff_ms = 1000;

	/* OTEL_EXPORTER_OTLP_TIMEOUT bounds the whole export, retries
	   included (0: no limit but the batch's own deadline). */
	if (cfg.timeout_ms) {
		uint64_t t = now_ns() + (uint64_t)cfg.timeout_ms * 1000000u;
		if (t < deadline_ns)
			deadline_ns = t;
	}

	for (int attempt = 0;; attempt++) {
		struct otlp_http_result res;
		int r = otlp_http_post(&http, body, len, deadline_ns, &res);

		if (r == 0 && res.status >= 200 && res.status < 300) {
			int64_t rejected = 0;
			char msg[256] = "";
			if (otlp_parse_response(res.body, res.body_len,
						&rejected, msg,
						sizeof(msg)) < 0)
				rejected = 0;
			if (rejected < 0 || rejected > n)
				rejected = n;
			ADD(exported, n - (uint32_t)rejected);
			ADD(dropped_rejected, (uint64_t)rejected);
			if (rejected || msg[0])
				otel_log(LOG_WARN,
					 "collector accepted the batch "
					 "partially: %lld of %u spans "
					 "rejected: %s",
					 (long long)rejected, n, msg);
			if (export_failing)
				otel_log(LOG_INFO, "export works again");
			export_failing = 0;
			return;
		}
		if (r == 0 && !retryable(res.status)) {
			note_failure("HTTP status", res.status, n);
			return;
		}
		/* Retryable: a transport failure or 429/502/503/504. */
		uint64_t wait_ms = res.retry_after_s >= 0
					   ? (uint64_t)res.retry_after_s * 1000u
					   : backoff_jitter_ms(backoff_ms);
		uint64_t until = now_ns() + wait_ms * 1000000u;
		if (attempt >= 5 || until >= deadline_ns) {
			if (r == 0)
				note_failure("HTTP status", res.status, n);
			else
				note_failure("error", -r, n);
			return;
		}
		if (!retry_sleep(until)) {
			if (r == 0)
				note_failure("HTTP status", res.status, n);
			else
				note_failure("error", -r, n);
			return;
		}
		backoff_ms = backoff_ms * 3 / 2;
		if (backoff_ms > 5000)
			backoff_ms = 5000;
	}
}

/*
 * The text of the batch being exported stays reachable from here from its
 * allocation to its release (published after malloc, cleared before
 * free): a process that exits in the middle of a batch still holds it,
 * and a child forked meanwhile frees it (exporter_atfork_child). The
 * encoded body is the reused `encoded`.
 */
static struct span_code *volatile inflight_codes;

/*
 * The text of the records' addresses (exporter_set_symbolizer): one
 * buffer for the batch, room for a stack's text per record with a stack,
 * for a function name per record with only a caller. Returns the codes (a
 * malloc'd block that also holds the text; the caller frees it), or NULL
 * when no record has an address or memory is short (the spans then go out
 * without code attributes).
 */
static struct span_code *symbolize(const struct span_record *const *batch,
				   uint32_t n)
{
	size_t text = 0;

	if (!symbolizer.span)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		text += batch[i]->n_frames ? EXPORTER_STACK_TEXT_MAX
		      : batch[i]->caller   ? EXPORTER_FUNCTION_TEXT_MAX
					   : 0;
	if (!text)
		return NULL;
	quiet_enter();
	struct span_code *codes = malloc(n * sizeof(*codes) + text);
	inflight_codes = codes;
	quiet_leave();
	if (!codes)
		return NULL;
	char *buf = (char *)(codes + n);
	if (symbolizer.batch)
		symbolizer.batch();
	for (uint32_t i = 0; i < n; i++) {
		const struct span_record *r = batch[i];
		size_t cap = r->n_frames ? EXPORTER_STACK_TEXT_MAX
			   : r->caller   ? EXPORTER_FUNCTION_TEXT_MAX
					 : 0;
		memset(&codes[i], 0, sizeof(codes[i]));
		if (!cap)
			continue;
		size_t used = symbolizer.span(r, buf, cap, &codes[i]);
		buf += used < cap ? used : cap;
	}
	return codes;
}

static void free_codes(struct span_code *codes)
{
	quiet_enter();
	inflight_codes = NULL;
	free(codes);
	quiet_leave();
}

/*
 * The head of the queue is claimed and not published. A producer fills a
 * record in microseconds; one that has not published it after
 * ABANDON_AFTER_NS left our code for good (a signal handler's siglongjmp
 * out of a hook, a thread killed in it) and would hold every span behind
 * it forever: give its slot up, count the span as dropped and go on.
 * Returns 1 if the head moved.
 */
#define ABANDON_AFTER_NS (2 * 1000000000ull)
#define HEAD_WAIT_NS 1000000ull

static uint32_t unstick(void)
{
	static uint64_t stuck_pos = UINT64_MAX, stuck_since;
	static int logged;
	uint64_t head = queue_head(&queue), now = now_ns();

	if (queue_size(&queue) == 0)
		return 0;
	if (head != stuck_pos) {
		stuck_pos = head;
		stuck_since = now;
		return 0;
	}
	if (now - stuck_since < ABANDON_AFTER_NS || !queue_abandon(&queue))
		return 0;
	ADD(dropped_abandoned, 1);
	if (!logged) {
		logged = 1;
		otel_log(LOG_WARN, "a span was left half-built (its thread "
			 "left otelshim's code, e.g. by a signal handler's "
			 "longjmp): dropped, exporting goes on");
	}
	return 1;
}

/*
 * Export up to max published records from the head of the queue. Returns
 * how many were taken.
 */
static uint32_t export_batch(uint32_t max, uint64_t deadline_ns)
{
	const struct span_record *batch[1024];
	struct span_code *codes;
	uint32_t n = 0, taken = 0;

	if (max > sizeof(batch) / sizeof(batch[0]))
		max = sizeof(batch) / sizeof(batch[0]);
	while (taken < max) {
		const struct span_record *r = queue_peek(&queue, taken);
		if (!r)
			break;
		taken++;
		if (__builtin_expect(queue.abandoned, 0) &&
		    !span_record_sane(r)) {
			ADD(dropped_torn, 1);
			continue;
		}
		batch[n++] = r;
	}
	if (taken == 0)
		return unstick();
	if (n == 0) {
		queue_release(&queue, taken);
		return taken;
	}

	codes = symbolize(batch, n);
	if (cfg.kind == EXPORTER_CONSOLE) {
		console_print(STDERR_FILENO, &resource, batch, codes, n);
		queue_release(&queue, taken);
		free_codes(codes);
		ADD(exported, n);
		return taken;
	}

	int r = otlp_encode(&resource, batch, codes, n,
			    cfg.attr_value_length_limit, cfg.attr_count_limit,
			    &encoded);
	/* The records are encoded: give the slots back before the network. */
	queue_release(&queue, taken);
	free_codes(codes);
	if (r < 0) {
		note_failure("encoding error", -r, n);
		return taken;
	}
	post_batch(encoded.data, encoded.len, n, deadline_ns);
	return taken;
}

/* Export everything published now, in batches, before the deadline. */
static void export_all(uint64_t deadline_ns)
{
	while (now_ns() < deadline_ns &&
	       export_batch(cfg.max_export_batch_size, deadline_ns) > 0)
		;
}

static void *worker(void *arg)
{
	uint32_t flushed = 0;
	uint64_t delay_ns = (uint64_t)cfg.schedule_delay_ms * 1000000u;
	uint64_t next;

	(void)arg;
	if (thread_hook)
		thread_hook();
	pthread_setname_np(pthread_self(), "otel-export");
	resource_build(&resource, &cfg, getpid());
	otlp_http_init(&http, &cfg);
	http.on_fd = fd_hook;
	__atomic_store_n(&thread_state, THREAD_RUNNING, __ATOMIC_RELEASE);
	next = now_ns() + delay_ns;

	for (;;) {
		uint32_t seen = __atomic_load_n(&wake_seq, __ATOMIC_SEQ_CST);
		uint32_t fr = __atomic_load_n(&flush_req, __ATOMIC_ACQUIRE);
		uint64_t now = now_ns();

		if (fr != flushed) {
			export_all(__atomic_load_n(&flush_deadline_ns,
						   __ATOMIC_ACQUIRE));
			flushed = fr;
			__atomic_store_n(&flush_done, fr, __ATOMIC_RELEASE);
			futex_wake(&flush_done);
			continue;
		}
		if (queue_size(&queue) >= cfg.max_export_batch_size) {
			if (export_batch(cfg.max_export_batch_size,
					 now + (uint64_t)cfg.export_timeout_ms *
						       1000000u))
				continue;
			/* The head is being filled: not a busy wait. */
			futex_wait(&wake_seq, seen, HEAD_WAIT_NS);
			continue;
		}
		if (now >= next) {
			uint64_t bsp = cfg.export_timeout_ms
					       ? now + (uint64_t)cfg.export_timeout_ms *
							       1000000u
					       : UINT64_MAX;
			uint32_t k = queue_size(&queue);
			while (k > 0) {
				uint32_t took = export_batch(
					k < cfg.max_export_batch_size
						? k
						: cfg.max_export_batch_size,
					bsp);
				if (!took)
					break;
				k -= took < k ? took : k;
			}
			next = now_ns() + delay_ns;
			continue;
		}
		__atomic_store_n(&worker_sleeping, 1, __ATOMIC_SEQ_CST);
		if (queue_size(&queue) < cfg.max_export_batch_size &&
		    __atomic_load_n(&flush_req, __ATOMIC_ACQUIRE) == flushed)
			futex_wait(&wake_seq, seen, next - now);
		__atomic_store_n(&worker_sleeping, 0, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

/*
 * Start the thread on the first span. All signals are blocked in it (the
 * program's handlers must never run on our thread), and its stack is small:
 * it needs little beyond getaddrinfo's.
 */
static void start_thread(void)
{
	int expected = THREAD_NONE;
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;

	if (!__atomic_compare_exchange_n(&thread_state, &expected,
					 THREAD_STARTING, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return;
	__atomic_store_n(&owner_pid, getpid(), __ATOMIC_RELEASE);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&t, &attr, worker, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		__atomic_store_n(&thread_state, THREAD_FAILED,
				 __ATOMIC_RELEASE);
		otel_log(LOG_ERROR, "cannot start the exporter thread (%s); "
				    "spans will be dropped",
			 strerror(r));
	}
}

/* ---- interface --------------------------------------------------------------- */

int exporter_init(const struct exporter_config *c)
{
	cfg = *c;
	if (cfg.max_export_batch_size == 0 ||
	    cfg.max_export_batch_size > cfg.max_queue_size)
		cfg.max_export_batch_size = cfg.max_queue_size;
	if (cfg.kind != EXPORTER_NONE) {
		int r = queue_init(&queue, cfg.max_queue_size);
		if (r < 0) {
			otel_log(LOG_ERROR, "cannot allocate the span queue "
					    "(%u spans); tracing is off",
				 cfg.max_queue_size);
			return r;
		}
	}
	__atomic_store_n(&state, STATE_RUNNING, __ATOMIC_RELEASE);
	return 0;
}

void exporter_set_fd_hook(void (*hook)(int fd, int in_use))
{
	fd_hook = hook;
}

void exporter_set_thread_hook(void (*hook)(void))
{
	thread_hook = hook;
}

void exporter_set_symbolizer(const struct exporter_symbolizer *s)
{
	symbolizer = *s;
}

/* The position of this thread's claim (one at a time: the hooks' guard). */
static __thread uint64_t claimed_pos __attribute__((tls_model("initial-exec")));

/*
 * Whether a finished span may go into the queue: 1 yes, 0 no and not
 * counted (the "none" exporter), -ESHUTDOWN dropped and counted. Starts
 * the thread on the first span.
 */
static int admit(void)
{
	if (__atomic_load_n(&state, __ATOMIC_ACQUIRE) != STATE_RUNNING) {
		ADD(dropped_shutdown, 1);
		return -ESHUTDOWN;
	}
	if (cfg.kind == EXPORTER_NONE)
		return 0;
	int ts = __atomic_load_n(&thread_state, __ATOMIC_ACQUIRE);
	if (__builtin_expect(ts == THREAD_NONE, 0))
		start_thread();
	else if (ts == THREAD_FAILED) {
		ADD(dropped_export, 1);
		return -ESHUTDOWN;
	}
	return 1;
}

/* A record was published: count it, and wake the thread for a batch. */
static void published(void)
{
	ADD(submitted, 1);
	if (queue_size(&queue) >= cfg.max_export_batch_size &&
	    __atomic_load_n(&worker_sleeping, __ATOMIC_SEQ_CST))
		wake_worker();
}

int exporter_submit(const struct span_record *r)
{
	int a = admit();

	if (a <= 0)
		return a;
	if (queue_push(&queue, r) < 0) {
		ADD(dropped_queue_full, 1);
		return -ENOSPC;
	}
	published();
	return 0;
}

struct span_record *exporter_claim(void)
{
	struct span_record *r;

	if (admit() <= 0)
		return NULL;
	r = queue_claim(&queue, &claimed_pos);
	if (!r) {
		ADD(dropped_queue_full, 1);
		return NULL;
	}
	span_record_init(r);
	return r;
}

/*
 * Kept out of line (link-time optimisation would inline it): the one place
 * where a span is complete but not yet published, where a debugger stops
 * to see it, and where test_lifecycle interrupts a span being filled.
 */
__attribute__((noinline)) void exporter_commit(struct span_record *r)
{
	/* Refused only when the consumer gave the claim up (it counted it) */
	if (queue_commit(&queue, r, claimed_pos))
		published();
}

void exporter_count_untraceable(void)
{
	ADD(dropped_untraceable, 1);
}

void exporter_get_stats(struct exporter_stats *out)
{
	out->submitted = __atomic_load_n(&stats.submitted, __ATOMIC_RELAXED);
	out->exported = __atomic_load_n(&stats.exported, __ATOMIC_RELAXED);
	out->dropped_queue_full =
		__atomic_load_n(&stats.dropped_queue_full, __ATOMIC_RELAXED);
	out->dropped_shutdown =
		__atomic_load_n(&stats.dropped_shutdown, __ATOMIC_RELAXED);
	out->dropped_export =
		__atomic_load_n(&stats.dropped_export, __ATOMIC_RELAXED);
	out->dropped_rejected =
		__atomic_load_n(&stats.dropped_rejected, __ATOMIC_RELAXED);
	out->dropped_untraceable =
		__atomic_load_n(&stats.dropped_untraceable, __ATOMIC_RELAXED);
	out->dropped_torn = __atomic_load_n(&stats.dropped_torn,
					    __ATOMIC_RELAXED);
	out->dropped_abandoned =
		__atomic_load_n(&stats.dropped_abandoned, __ATOMIC_RELAXED) +
		out->dropped_torn;
}

static void report(void)
{
	struct exporter_stats s;
	uint64_t pending;

	exporter_get_stats(&s);
	/* (a torn record was submitted, then dropped: it is among the
	   abandoned, not pending) */
	uint64_t done = s.exported + s.dropped_export + s.dropped_rejected +
			s.dropped_torn;
	pending = s.submitted > done ? s.submitted - done : 0;
	uint64_t dropped = s.dropped_queue_full + s.dropped_shutdown +
			   s.dropped_export + s.dropped_rejected +
			   s.dropped_untraceable + s.dropped_abandoned + pending;
	if (dropped)
		otel_log(LOG_WARN,
			 "%llu spans dropped (queue full %llu, export failed "
			 "%llu, rejected by the collector %llu, not exported "
			 "before the exit deadline %llu, after shutdown %llu, "
			 "untraceable %llu, left half-built %llu); %llu "
			 "exported",
			 (unsigned long long)dropped,
			 (unsigned long long)s.dropped_queue_full,
			 (unsigned long long)s.dropped_export,
			 (unsigned long long)s.dropped_rejected,
			 (unsigned long long)pending,
			 (unsigned long long)s.dropped_shutdown,
			 (unsigned long long)s.dropped_untraceable,
			 (unsigned long long)s.dropped_abandoned,
			 (unsigned long long)s.exported);
	else
		otel_log(LOG_DEBUG, "%llu spans exported",
			 (unsigned long long)s.exported);
}

/*
 * Ask the thread to export everything queued now and wait for it, at most
 * the exit flush deadline. Only a thread of this process can do it: a vfork
 * child shares our memory but not our thread, so it does not wait.
 */
static void flush_wait(void)
{
	int ts = __atomic_load_n(&thread_state, __ATOMIC_ACQUIRE);

	if (ts == THREAD_NONE || ts == THREAD_FAILED ||
	    getpid() != __atomic_load_n(&owner_pid, __ATOMIC_ACQUIRE))
		return;
	uint64_t deadline = now_ns() + (uint64_t)cfg.exit_flush_timeout_ms *
					       1000000u;
	__atomic_store_n(&flush_deadline_ns, deadline, __ATOMIC_RELEASE);
	uint32_t req = __atomic_add_fetch(&flush_req, 1, __ATOMIC_ACQ_REL);
	futex_wake(&flush_req);
	wake_worker();
	for (;;) {
		uint32_t done = __atomic_load_n(&flush_done, __ATOMIC_ACQUIRE);
		uint64_t now = now_ns();
		/* wrap-safe: done has reached req */
		if ((int32_t)(done - req) >= 0 || now >= deadline)
			break;
		futex_wait(&flush_done, done, deadline - now);
	}
}

void exporter_shutdown(void)
{
	int expected = STATE_RUNNING;

	if (__atomic_load_n(&state, __ATOMIC_ACQUIRE) != STATE_RUNNING)
		return;
	flush_wait();
	if (!__atomic_compare_exchange_n(&state, &expected, STATE_SHUTDOWN, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	report();
}

void exporter_flush(void)
{
	if (__atomic_load_n(&state, __ATOMIC_ACQUIRE) != STATE_RUNNING ||
	    !queue.cap || queue_size(&queue) == 0)
		return;
	flush_wait();
}

int exporter_fd_owned(int fd)
{
	return otlp_http_owns(&http, fd);
}

int exporter_fd(void)
{
	return __atomic_load_n(&http.fd, __ATOMIC_ACQUIRE);
}

void exporter_fd_yield(int fd)
{
	if (otlp_http_owns(&http, fd))
		otlp_http_yield(&http, fd);
}

void exporter_atfork_prepare(void)
{
	/* Nothing to lock: the queue and the handshakes are lock-free. The
	   exporter thread's calls that hold another library's lock (malloc,
	   the loader's dl_iterate_phdr) end first (quiet.h). */
	quiet_fork_prepare();
}

void exporter_atfork_parent(void)
{
	quiet_fork_parent();
}

void exporter_atfork_child(void)
{
	quiet_fork_child();
	/*
	 * The exporter thread does not exist here. The parent exports what it
	 * had queued; the child starts afresh, with its own thread (and its
	 * own process.pid) on its first span. The collector connection is the
	 * parent's: close our copy of the descriptor.
	 */
	if (__atomic_load_n(&thread_state, __ATOMIC_RELAXED) ==
	    THREAD_RUNNING)
		otlp_http_close(&http);
	else
		otlp_http_forget(&http);
	/*
	 * What the parent's exporter thread had allocated when the fork came
	 * is ours to free: nothing else here points to it.
	 */
	otlp_buf_free(&encoded);
	otlp_http_release(&http);
	console_atfork_child();
	if (queue.cap)
		queue_reset(&queue);
	void *codes = (void *)inflight_codes;
	inflight_codes = NULL;
	free(codes);
	memset(&stats, 0, sizeof(stats));
	wake_seq = 0;
	worker_sleeping = 0;
	flush_req = 0;
	flush_done = 0;
	export_failing = 0;
	jitter_state = 0;	/* not the parent's sequence */
	__atomic_store_n(&thread_state, THREAD_NONE, __ATOMIC_RELEASE);
}
