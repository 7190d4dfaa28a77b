/*
 * guard.h - the thread-local reentrancy guard that makes the shim invisible
 * to itself. While it is held, every hook is a plain pass-through: the
 * shim's own I/O (logging, the exporter's socket) is never traced, and a
 * hook that calls into libc cannot recurse into a hook.
 *
 * The exporter thread takes the guard at its start and never releases it.
 * The variable uses the initial-exec TLS model (the shim is loaded at
 * start-up by LD_PRELOAD, never dlopen'ed), so reading it is one load.
 */
#ifndef OTELSHIM_GUARD_H
#define OTELSHIM_GUARD_H

/*
 * The shim's per-thread words, together so that a hook reaches them with
 * one address computation: the guard depth, the number of connections
 * whose head bytes this thread holds (http_conn.c), whether the thread is
 * inside libunwind (stack.c), and the return address of the program's
 * send-like call being traced (the caller of a span it starts).
 */
struct shim_tls {
	int guard_depth;
	int n_held;
	int in_unwind;
	const void *caller;
};

extern __thread struct shim_tls shim_tls __attribute__((tls_model("initial-exec")));

static inline int guard_active(void)
{
	return shim_tls.guard_depth != 0;
}

static inline void guard_enter(void)
{
	shim_tls.guard_depth++;
}

static inline void guard_leave(void)
{
	shim_tls.guard_depth--;
}

#endif
