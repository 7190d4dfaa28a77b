/*
 * quiet.h - sections of our threads that a fork must not cut through.
 *
 * fork() copies only the thread that calls it. A lock that another thread
 * holds at that instant stays held in the child, for ever, unless its
 * owner resets it in a fork handler. glibc does for malloc's arenas and
 * the loader's dl_load_lock, not for the lock of the loader's list that
 * dl_iterate_phdr holds (dl_load_write_lock, glibc 2.36); gcc 12's
 * AddressSanitizer does not for its allocator (LLVM added its fork
 * handler in 2023, llvm-project PR 75290); nor do some malloc
 * replacements. A child forked while our exporter thread was inside one
 * of those hangs at its own first call there: its exporter thread, at
 * its first batch, for ever.
 *
 * So a thread of ours runs such calls (dl_iterate_phdr, libunwind's
 * loading and unwinding, the exporter thread's malloc and free) inside a
 * quiet section. The fork prepare handler holds new sections back and
 * waits for those in progress to end (each lasts microseconds; at most
 * 200 ms, never for ever); the parent and child handlers release them.
 * An application thread never waits: quiet_try() fails while a fork is
 * being prepared, and the caller skips its work. The exporter thread
 * waits instead (quiet_enter), which costs the program nothing. A block
 * the exporter thread holds between two sections is reachable from a
 * static pointer all along (published right after malloc, cleared right
 * before free), and a forked child frees it (exporter_atfork_child).
 *
 * Not in a section: getaddrinfo of a host name (a DNS lookup may last
 * seconds, and a fork must not wait for it). It runs once, and again only
 * after every address failed to connect; never for an IP literal; and a
 * forked child inherits its answer (exporter/otlp_http.c).
 */
#ifndef OTELSHIM_QUIET_H
#define OTELSHIM_QUIET_H

/* Enter a section unless a fork is being prepared: 1 entered, 0 not. */
int quiet_try(void);

/* Enter a section, waiting for a fork being prepared to be done. */
void quiet_enter(void);

/* Leave the section entered by quiet_try() (when it returned 1) or
   quiet_enter(). */
void quiet_leave(void);

/* The fork handlers (exporter_atfork_*). */
void quiet_fork_prepare(void);
void quiet_fork_parent(void);
void quiet_fork_child(void);

#endif
