/*
 * stack.h - where in the program a database or HTTP client span came from:
 * the return address of the program's call (code.function.name) and, per
 * OTELSHIM_STACKTRACE, a stack of return addresses (code.stacktrace and
 * the exception event's exception.stacktrace).
 *
 * Application threads only record addresses: the caller is the hook's
 * __builtin_return_address(0), free; a stack is libunwind's unw_backtrace
 * (fast local unwinding from the DWARF call-frame information, whose
 * per-frame rules libunwind caches per thread) into a fixed array, the
 * shim's own frames at the top dropped. Turning addresses into names and
 * text happens on the exporter thread only (stack_symbolizer).
 *
 * The mode is fixed at start-up. With off, the program's threads run none
 * of this: the span code that calls stack_begin() and stack_end() (db.c,
 * http_conn.c) is compiled twice, with those calls and without, and the
 * copy without is the one chosen (db_use_stacks, http_conn_use_stacks).
 *
 * When a stack is taken:
 * - a span that starts and ends in one call (PQexec, mysql_query): at its
 *   end, and only when the mode keeps it (failed; or slow; or all), so a
 *   fast successful query costs nothing;
 * - a span that ends in a later call (an HTTP exchange, PQsendQuery +
 *   PQgetResult, a MySQL exchange read off the wire): with slow or all at
 *   its start (slowness is known only at the end; a fast span's stack is
 *   then dropped), with errors when the error is seen (the connection
 *   refused or reset, the 5xx read, the failing result), inside the hook
 *   the program called, so its frames are on the stack.
 *
 * libunwind is loaded on the first capture, with dlopen(RTLD_LOCAL), not
 * linked: as a dependency of a preloaded library its _Unwind_* functions
 * would come before libgcc_s's in the global scope and take over the C++
 * exception unwinding of programs that load C++ code with dlopen (seen
 * with LD_DEBUG=bindings). Loading it lazily
 * also keeps start-up free for processes that never make such a span.
 *
 * libunwind 1.6 validates the memory it reads through a pipe it opens in
 * the process. Created under our guard, that pipe goes to a high
 * descriptor number, above the exporter's socket, and is kept out of the
 * program's reach (close, close_range, closefrom); if the program takes a
 * number over all the same (dup2, or the raw close_range system call and
 * a new file, seen before each capture), stacks stop for good: see
 * stack_fd_adopt().
 *
 * Threading: capture on any thread, under the guard; the symbolizer on the
 * exporter thread only. No locks of ours; libunwind's first capture on a
 * thread sets up its per-thread caches (memory mapped once per thread).
 */
#ifndef OTELSHIM_STACK_H
#define OTELSHIM_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "exporter.h"

/* A stack taken at the start of a span, kept until its end. */
struct stack {
	uint8_t n;
	uint64_t ip[SPAN_MAX_FRAMES];
};

/* The mode in force, set once by stack_init(). */
struct stack_policy {
	uint8_t mode;		/* enum stack_mode */
	uint64_t keep_ns;	/* a span this long keeps its stack */
};
extern struct stack_policy stack_policy;

/*
 * Take the policy from cfg; without this call (unit tests of other
 * modules) the mode is off.
 */
void stack_init(const struct config *cfg);

/*
 * Capture the calling thread's stack: up to max return addresses into
 * out, innermost first, without the shim's own frames. Returns how many;
 * 0 when libunwind is unavailable or busy loading on another thread.
 * errno is preserved. Call under the guard.
 */
unsigned stack_capture(uint64_t *out, unsigned max);

/* At the start of a span that ends in another call. */
static inline void stack_begin(struct stack *s)
{
	if (stack_policy.mode >= STACK_SLOW)
		s->n = (uint8_t)stack_capture(s->ip, SPAN_MAX_FRAMES);
}

/* Out of line: the stack a span keeps, from its start or taken now. */
void stack_keep(struct span_record *r, const struct stack *start);

/*
 * At the end of a span: its caller (the return address of the program's
 * call that made it) and, when the mode keeps a stack for a span that
 * failed or not and took duration_ns, the stack from its start (start,
 * NULL for a span that starts and ends in this call) or one taken now.
 * Only with a mode other than off (the copies with stacks call it).
 */
static inline void stack_end(struct span_record *r, const struct stack *start,
			     const void *caller, int failed,
			     uint64_t duration_ns)
{
	r->caller = (uint64_t)(uintptr_t)caller;
	if (failed || duration_ns >= stack_policy.keep_ns)
		stack_keep(r, start);
}

/*
 * For the fork child handler: close the child's copy of the descriptor of
 * a symbol-table search the parent's exporter thread was in. (The calls
 * into the loader, dl_iterate_phdr and libunwind's, run in quiet
 * sections, exporter/quiet.h: no fork cuts through them.)
 */
void stack_atfork_child(void);

/* ---- the exporter thread ---------------------------------------------- */

/* Addresses to text for the exporter (exporter_set_symbolizer). */
extern const struct exporter_symbolizer stack_symbolizer;

/* ---- libunwind's pipe ---------------------------------------------------- */

/*
 * For the pipe2 hook: a pipe created by libunwind (the calling thread is
 * inside it, under the guard) is moved to high numbers and remembered.
 */
int stack_in_unwind(void);
void stack_fd_adopt(int fds[2]);

/* For the close, dup2 and close_range hooks. */
int stack_fd_owned(int fd);
/* libunwind itself closes its pipe (to make a new one). */
void stack_fd_forget(int fd);
/* The program takes the number over (dup2): no more stacks. */
void stack_fd_taken(int fd);
/* The numbers, or -1, for close_range to leave out. */
void stack_fds(int out[2]);

/* ---- pure parts, for the unit tests ------------------------------------- */

enum stack_module_kind {
	STACK_MODULE_APP = 0,	/* the program, or a library of its own */
	STACK_MODULE_LIBC,	/* libc, the dynamic loader, libpthread, and
				   the sanitizers' runtimes (which interpose
				   libc's functions) */
	STACK_MODULE_DB,	/* libpq, libmysqlclient, libmariadb */
	STACK_MODULE_SELF,	/* otelshim */
};

/* The kind of the object at path, from its file name. */
enum stack_module_kind stack_module_kind(const char *path);

/*
 * One line of code.stacktrace into buf[0..cap) (cut to fit, NUL-ended):
 *     #N 0xADDR SYMBOL+0xOFF (MODULE+0xMODOFF)
 * symbol NULL: no "SYMBOL+0xOFF"; module NULL: no parenthesis. Returns
 * the length (excluding the NUL).
 */
size_t stack_format_frame(char *buf, size_t cap, unsigned n, uint64_t ip,
			  const char *symbol, uint64_t sym_off,
			  const char *module, uint64_t mod_off);

/*
 * The address range taken for the shim's own code (frames dropped at the
 * top of a capture, and never named as the caller). Computed when
 * libunwind is loaded; unit tests, whose executable holds the shim's
 * code, set it empty.
 */
void stack_set_self(uintptr_t lo, uintptr_t hi);

#endif
