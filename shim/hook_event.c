/*
 * hook_event.c - the event-loop waits. Their only job: tell the context
 * module that a new turn of this thread's event loop begins, so that a
 * client call can be tied to the one request read in the same turn
 * (context.h). They return exactly what the real call returns; errno is
 * untouched (context_turn() only writes thread-local memory).
 */
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include <errno.h>

#include "context.h"
#include "http_conn.h"
#include "guard.h"
#include "init.h"
#include "real.h"

#define EXPORT __attribute__((visibility("default")))

/* Before a wait: head bytes this thread holds go out (http_conn.c). */
static inline void waiting(void)
{
	if (__builtin_expect(shim_tls.n_held != 0, 0) && !guard_active()) {
		int saved_errno = errno;
		guard_enter();
		http_conn_release_held();
		guard_leave();
		errno = saved_errno;
	}
}

static inline void turned(void)
{
	if (!guard_active() && init_is_active())
		context_turn();
}

EXPORT int epoll_wait(int ep, struct epoll_event *ev, int max, int timeout)
{
	waiting();
	int r = REAL(epoll_wait)(ep, ev, max, timeout);

	turned();
	return r;
}

EXPORT int epoll_pwait(int ep, struct epoll_event *ev, int max, int timeout,
		       const sigset_t *ss)
{
	waiting();
	int r = REAL(epoll_pwait)(ep, ev, max, timeout, ss);

	turned();
	return r;
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	waiting();
	int r = REAL(poll)(fds, n, timeout);

	turned();
	return r;
}

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);

EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout,
		      size_t fdslen)
{
	waiting();
	int r = REAL(poll_chk)(fds, n, timeout, fdslen);

	turned();
	return r;
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t,
		 const sigset_t *ss)
{
	waiting();
	int r = REAL(ppoll)(fds, n, t, ss);

	turned();
	return r;
}

EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
	waiting();
	int k = REAL(select)(n, r, w, e, t);

	turned();
	return k;
}

EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e,
		   const struct timespec *t, const sigset_t *ss)
{
	waiting();
	int k = REAL(pselect)(n, r, w, e, t, ss);

	turned();
	return k;
}
