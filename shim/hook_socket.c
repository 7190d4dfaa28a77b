/*
 * hook_socket.c - the interposed socket and I/O calls. Each hook is a
 * trampoline: forward to the real call, and only for a tracked TCP socket
 * hand the bytes it moved to the connection's protocol tracker.
 *
 * Contract of every hook:
 * - it returns exactly what the real call returned, with the same errno;
 * - the shim's own calls (guard held) and untracked descriptors (files,
 *   pipes, Unix and UDP sockets, sockets we never saw created) cost a TLS
 *   load and a table lookup, then the real call;
 * - it never reads the program's buffer beyond what the call moved, never
 *   reads it at all for MSG_PEEK, and never writes to it.
 */

/*
 * We define both sendfile and sendfile64; with _FILE_OFFSET_BITS=64 glibc's
 * headers would rename the first into the second. (On LP64 both take the
 * same 64-bit off_t.)
 */
#undef _FILE_OFFSET_BITS

#include <errno.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "guard.h"
#include "http_conn.h"
#include "init.h"
#include "real.h"
#include "stack.h"
#include "wire.h"

#define EXPORT __attribute__((visibility("default")))

/* The return address of the program's call: the hook's own. */
#define CALLER __builtin_return_address(0)

/* ---- descriptors --------------------------------------------------------- */

static int is_tcp(int domain, int type, int protocol)
{
	return (domain == AF_INET || domain == AF_INET6) &&
	       (type & 0xf) == SOCK_STREAM &&
	       (protocol == 0 || protocol == IPPROTO_TCP);
}

EXPORT int socket(int domain, int type, int protocol)
{
	int fd = REAL(socket)(domain, type, protocol);

	if (fd < 0 || guard_active() || !init_is_active())
		return fd;
	int saved_errno = errno;
	guard_enter();
	if (is_tcp(domain, type, protocol))
		conn_track(fd, domain);
	else
		conn_untrack(fd);	/* a stale entry we never saw closed */
	guard_leave();
	errno = saved_errno;
	return fd;
}

EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	int r = REAL(connect)(fd, sa, len);
	struct conn *c;

	if (guard_active() || !(c = conn_get(fd)))
		return r;
	int saved_errno = errno;
	/* In progress (non-blocking, or interrupted) still connects. */
	if ((r == 0 || saved_errno == EINPROGRESS || saved_errno == EINTR) &&
	    c->role == CONN_ROLE_NONE) {
		guard_enter();
		conn_set_peer(c, CONN_ROLE_CLIENT, sa, len);
		http_conn_on_connect(c);
		guard_leave();
	}
	errno = saved_errno;
	return r;
}

/*
 * The accepted socket is tracked only if the listening one is: both are
 * TCP then. When the program does not ask for the peer address we pass our
 * own buffer, which changes nothing the program can see.
 */
static int accepted(int lfd, int fd, struct sockaddr *sa, socklen_t *len,
		    struct sockaddr_storage *own, socklen_t own_len)
{
	struct conn *l = conn_get(lfd);

	if (fd < 0)
		return fd;
	int saved_errno = errno;
	guard_enter();
	if (l) {
		struct conn *c = conn_track(fd, l->family);
		if (c) {
			if (sa)
				conn_set_peer(c, CONN_ROLE_SERVER, sa, *len);
			else
				conn_set_peer(c, CONN_ROLE_SERVER,
					      (struct sockaddr *)own, own_len);
		}
	} else {
		conn_untrack(fd);
	}
	guard_leave();
	errno = saved_errno;
	return fd;
}

EXPORT int accept(int lfd, struct sockaddr *sa, socklen_t *len)
{
	struct sockaddr_storage own;
	socklen_t own_len = sizeof(own);

	if (guard_active() || !init_is_active())
		return REAL(accept)(lfd, sa, len);
	int fd = sa ? REAL(accept)(lfd, sa, len)
		    : REAL(accept)(lfd, (struct sockaddr *)&own, &own_len);
	return accepted(lfd, fd, sa, len, &own, own_len);
}

EXPORT int accept4(int lfd, struct sockaddr *sa, socklen_t *len, int flags)
{
	struct sockaddr_storage own;
	socklen_t own_len = sizeof(own);

	if (guard_active() || !init_is_active())
		return REAL(accept4)(lfd, sa, len, flags);
	int fd = sa ? REAL(accept4)(lfd, sa, len, flags)
		    : REAL(accept4)(lfd, (struct sockaddr *)&own, &own_len,
				    flags);
	return accepted(lfd, fd, sa, len, &own, own_len);
}

/*
 * The entry is dropped before the real close: once close returns, another
 * thread may get the same number from socket() and its fresh entry must not
 * be wiped by us.
 */
EXPORT int close(int fd)
{
	/* The exporter's socket and libunwind's pipe are not the program's:
	   for the program, closing one is closing a number it never
	   opened. */
	if (!guard_active() && (exporter_fd_owned(fd) || stack_fd_owned(fd))) {
		errno = EBADF;
		return -1;
	}
	if (guard_active() && stack_in_unwind())
		stack_fd_forget(fd);	/* libunwind renews its pipe */
	if (!guard_active() && conn_get(fd) && !conn_in_borrowed_memory()) {
		int saved_errno = errno;
		guard_enter();
		struct conn *c = conn_get(fd);
		if (c && c->refs == 1)
			http_conn_flush(c, fd);
		conn_untrack(fd);
		guard_leave();
		errno = saved_errno;
	}
	return REAL(close)(fd);
}

static int duplicated(int oldfd, int newfd)
{
	if (newfd < 0 || guard_active() ||
	    (!conn_get(oldfd) && !conn_get(newfd)))
		return newfd;
	if (conn_in_borrowed_memory())
		return newfd;
	int saved_errno = errno;
	guard_enter();
	conn_dup(oldfd, newfd);
	guard_leave();
	errno = saved_errno;
	return newfd;
}

EXPORT int dup(int fd)
{
	return duplicated(fd, REAL(dup)(fd));
}

/* The program takes a number that holds the exporter's socket: the
   exporter moves away first (see exporter_fd_yield). */
static void taking(int fd2)
{
	/* (a vfork child has its own descriptor table but our memory: the
	   exporter's socket in the parent is not affected) */
	if (!guard_active() && exporter_fd_owned(fd2) &&
	    !conn_in_borrowed_memory()) {
		int saved_errno = errno;
		guard_enter();
		exporter_fd_yield(fd2);
		guard_leave();
		errno = saved_errno;
	}
	/* libunwind's pipe cannot move (its number is libunwind's own
	   variable): stacks stop instead */
	if (!guard_active() && stack_fd_owned(fd2))
		stack_fd_taken(fd2);
}

EXPORT int dup2(int fd, int fd2)
{
	if (fd != fd2)
		taking(fd2);
	int r = REAL(dup2)(fd, fd2);

	return fd == fd2 ? r : duplicated(fd, r);
}

EXPORT int dup3(int fd, int fd2, int flags)
{
	if (fd != fd2)
		taking(fd2);
	return duplicated(fd, REAL(dup3)(fd, fd2, flags));
}

/*
 * close_range and closefrom (daemons closing everything): every traced
 * descriptor in the range is forgotten, and the exporter's socket and
 * libunwind's pipe are left out of the range (the program never opened
 * them).
 */
static int close_range_around(unsigned int first, unsigned int last,
			      int flags)
{
	unsigned int keep[3];
	int ours[3], nk = 0;

	ours[0] = exporter_fd();
	stack_fds(ours + 1);
	for (int i = 0; i < 3; i++)
		if (ours[i] >= 0 && (unsigned int)ours[i] >= first &&
		    (unsigned int)ours[i] <= last)
			keep[nk++] = (unsigned int)ours[i];
	if (!nk)
		return REAL(close_range)(first, last, flags);
	/* in order, each once */
	for (int i = 1; i < nk; i++)
		for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			unsigned int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	int r = 0, err = 0;
	unsigned int lo = first;
	for (int i = 0; i < nk; i++) {
		if (keep[i] > lo &&
		    REAL(close_range)(lo, keep[i] - 1, flags) < 0 && !r) {
			r = -1;
			err = errno;
		}
		if (keep[i] + 1 > lo)
			lo = keep[i] + 1;
	}
	if (keep[nk - 1] < last &&
	    REAL(close_range)(lo, last, flags) < 0 && !r) {
		r = -1;
		err = errno;
	}
	if (r < 0)
		errno = err;
	return r;
}

EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	/* (a vfork child shares our memory: it must not change our state) */
	if (guard_active() || first > last || conn_in_borrowed_memory())
		return REAL(close_range)(first, last, flags);
	int saved_errno = errno;
	guard_enter();
	if (!(flags & CLOSE_RANGE_CLOEXEC))
		conn_untrack_range(first, last);
	errno = saved_errno;
	int r = close_range_around(first, last, flags);
	guard_leave();
	return r;
}

EXPORT void closefrom(int lowfd)
{
	if (guard_active() || lowfd < 0 || conn_in_borrowed_memory()) {
		REAL(closefrom)(lowfd);
		return;
	}
	int saved_errno = errno;
	guard_enter();
	conn_untrack_range((unsigned int)lowfd, ~0u);
	errno = saved_errno;
	if (close_range_around((unsigned int)lowfd, ~0u, 0) < 0) {
		/* no close_range (an old kernel): one by one, not ours */
		long max = sysconf(_SC_OPEN_MAX);
		for (long fd = lowfd; fd < max; fd++)
			if (!exporter_fd_owned((int)fd) &&
			    !stack_fd_owned((int)fd))
				REAL(close)((int)fd);
	}
	guard_leave();
	errno = saved_errno;
}

/*
 * pipe2: only for libunwind's own pipe (stack.h), made while the shim is
 * inside libunwind; every other call is the program's and passes through.
 */
EXPORT int pipe2(int fds[2], int flags)
{
	int r = REAL(pipe2)(fds, flags);

	if (r == 0 && guard_active() && stack_in_unwind())
		stack_fd_adopt(fds);
	return r;
}

/* ---- bytes out ------------------------------------------------------------ */

/*
 * The program's own call, made again for a slice of its bytes or for bytes
 * that include our header lines: same function where one buffer suffices,
 * the vector form (same flags) otherwise.
 */
static ssize_t plain_send(const struct http_send_call *call,
			  const struct iovec *iov, int n)
{
	struct msghdr m = {.msg_iov = (struct iovec *)iov,
			   .msg_iovlen = (size_t)n};

	if (n == 1)
		return REAL(send)(call->fd, iov->iov_base, iov->iov_len,
				  call->flags);
	return REAL(sendmsg)(call->fd, &m, call->flags);
}

static ssize_t plain_sendto(const struct http_send_call *call,
			    const struct iovec *iov, int n)
{
	struct msghdr m = {.msg_name = (void *)call->name,
			   .msg_namelen = call->namelen,
			   .msg_iov = (struct iovec *)iov,
			   .msg_iovlen = (size_t)n};

	if (n == 1)
		return REAL(sendto)(call->fd, iov->iov_base, iov->iov_len,
				    call->flags, call->name, call->namelen);
	return REAL(sendmsg)(call->fd, &m, call->flags);
}

static ssize_t plain_sendmsg(const struct http_send_call *call,
			     const struct iovec *iov, int n)
{
	struct msghdr m = *call->msg;

	m.msg_iov = (struct iovec *)iov;
	m.msg_iovlen = (size_t)n;
	return REAL(sendmsg)(call->fd, &m, call->flags);
}

static ssize_t plain_write(const struct http_send_call *call,
			   const struct iovec *iov, int n)
{
	if (n == 1)
		return REAL(write)(call->fd, iov->iov_base, iov->iov_len);
	return REAL(writev)(call->fd, iov, n);
}

static ssize_t plain_writev(const struct http_send_call *call,
			    const struct iovec *iov, int n)
{
	return REAL(writev)(call->fd, iov, n);
}

/*
 * A send-like call on a tracked socket. Client connections that may be at
 * a request head go through the rewriting path; everything else is the
 * real call, then the bytes it moved are fed to the tracker.
 */
static ssize_t sending(struct conn *c, struct http_send_call *call,
		       const struct iovec *iov, int iovcnt)
{
	guard_enter();
	ssize_t n = wire_send(c, call, iov, iovcnt);
	int saved_errno = errno;
	guard_leave();
	errno = saved_errno;
	return n;
}

/*
 * The exporter's socket or libunwind's pipe, reached by the program (a
 * number it never opened: a stale descriptor of its own, a loop over every
 * number): the call goes to number -1 instead, so the program gets what a
 * closed number gives (EBADF, from the kernel itself), and our streams
 * stay whole.
 */
static __attribute__((noinline, cold)) int refused(int fd)
{
	int saved_errno = errno;

	guard_enter();
	int ours = exporter_fd_owned(fd) || stack_fd_owned(fd);
	if (!ours)
		conn_mark_ours(fd, 0);	/* a stale mark */
	guard_leave();
	errno = saved_errno;
	return ours ? -1 : fd;
}

/*
 * The connection to trace for *fd, or NULL for a pass-through. For the
 * exporter's socket, *fd becomes -1 (see refused()).
 */
static inline struct conn *traced(int *fd)
{
	struct conn *c;

	if (guard_active() || !(c = conn_get(*fd)))
		return NULL;
	/* Not ours to follow any more, unless bytes held while we looked
	   are still owed: they go out before anything later. */
	if (__atomic_load_n(&c->proto, __ATOMIC_RELAXED) == CONN_PROTO_OTHER &&
	    !c->http.pend_len) {
		if (__builtin_expect(c == &conn_ours_mark, 0))
			*fd = refused(*fd);
		return NULL;
	}
	return c;
}

/*
 * send() and write() reach their traced part by a tail call (their fast
 * path builds no frame; reading the return address there would make it
 * build one): the traced part's own return address is then the program's.
 * Without the tail call (an unoptimised build) it would be the shim's,
 * which the symbolizer never names (stack.h).
 */
static __attribute__((noinline)) ssize_t send_traced(struct conn *c,
		int fd, const void *buf, size_t len, int flags)
{
	struct iovec v = {(void *)buf, len};
	struct http_send_call call = {
		.fd = fd, .flags = flags, .plain = plain_send};
	shim_tls.caller = CALLER;
	return sending(c, &call, &v, 1);
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	struct conn *c = traced(&fd);

	if (__builtin_expect(!c || !len, 1))
		return REAL(send)(fd, buf, len, flags);
	return send_traced(c, fd, buf, len, flags);
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
		      const struct sockaddr *sa, socklen_t salen)
{
	struct conn *c = traced(&fd);

	if (!c || !len)
		return REAL(sendto)(fd, buf, len, flags, sa, salen);
	struct iovec v = {(void *)buf, len};
	struct http_send_call call = {.fd = fd,
				      .flags = flags,
				      .name = sa,
				      .namelen = salen,
				      .plain = plain_sendto};
	shim_tls.caller = CALLER;
	return sending(c, &call, &v, 1);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct conn *c = traced(&fd);

	if (!c || !msg || msg->msg_iovlen == 0 || msg->msg_iovlen > 1024)
		return REAL(sendmsg)(fd, msg, flags);
	struct http_send_call call = {
		.fd = fd, .flags = flags, .msg = msg, .plain = plain_sendmsg};
	shim_tls.caller = CALLER;
	return sending(c, &call, msg->msg_iov, (int)msg->msg_iovlen);
}

static __attribute__((noinline)) ssize_t write_traced(struct conn *c,
		int fd, const void *buf, size_t len)
{
	struct iovec v = {(void *)buf, len};
	struct http_send_call call = {.fd = fd, .plain = plain_write};
	shim_tls.caller = CALLER;	/* tail-called: see send_traced */
	return sending(c, &call, &v, 1);
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	struct conn *c = traced(&fd);

	if (__builtin_expect(!c || !len, 1))
		return REAL(write)(fd, buf, len);
	return write_traced(c, fd, buf, len);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	struct conn *c = traced(&fd);

	if (!c || iovcnt <= 0 || iovcnt > 1024)
		return REAL(writev)(fd, iov, iovcnt);
	struct http_send_call call = {.fd = fd, .plain = plain_writev};
	shim_tls.caller = CALLER;
	return sending(c, &call, iov, iovcnt);
}

/*
 * sendfile moves body bytes we cannot see; what we owe goes out first (a
 * client that writes a head and then sends its body from a file).
 */
static void sendfiled(struct conn *c, ssize_t n)
{
	if (n > 0)
		http_conn_on_send_opaque(c, (size_t)n, 0);
}

EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	struct conn *c = traced(&out);

	if (!c)
		return REAL(sendfile)(out, in, off, count);
	guard_enter();
	http_conn_flush(c, out);
	ssize_t n = REAL(sendfile)(out, in, off, count);
	int e = errno;
	sendfiled(c, n);
	guard_leave();
	errno = e;
	return n;
}

EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
	struct conn *c = traced(&out);

	if (!c)
		return REAL(sendfile64)(out, in, off, count);
	guard_enter();
	http_conn_flush(c, out);
	ssize_t n = REAL(sendfile64)(out, in, off, count);
	int e = errno;
	sendfiled(c, n);
	guard_leave();
	errno = e;
	return n;
}

EXPORT int shutdown(int fd, int how)
{
	struct conn *c = traced(&fd);

	if (c && how != SHUT_RD) {
		int saved_errno = errno;
		guard_enter();
		http_conn_flush(c, fd);
		guard_leave();
		errno = saved_errno;
	}
	return REAL(shutdown)(fd, how);
}

/* ---- bytes in ------------------------------------------------------------- */

/*
 * After a receive-like call on a tracked socket. want is the room the
 * program offered: a 0 return with room is the peer's EOF, with none it is
 * not. errno is restored by the caller.
 */
static void received(struct conn *c, const struct iovec *iov, int iovcnt,
		     ssize_t n, size_t want, int err)
{
	uint64_t t = clock_real_ns();

	guard_enter();
	wire_received(c, iov, iovcnt, n, want, err, t);
	guard_leave();
}

/*
 * Before any read: head bytes this thread holds go out (a program that
 * waits for an answer has finished writing; see http_conn.c).
 */
static __attribute__((noinline, cold)) void release_held(void)
{
	int saved_errno = errno;

	guard_enter();
	http_conn_release_held();
	guard_leave();
	errno = saved_errno;
}

static inline void reading(void)
{
	if (__builtin_expect(shim_tls.n_held != 0, 0) && !guard_active())
		release_held();
}

static inline struct conn *traced_in(int *fd)
{
	reading();
	return traced(fd);
}

/* MSG_PEEK leaves the bytes for the next call; MSG_TRUNC may not copy them. */
static inline struct conn *traced_recv(int *fd, int flags)
{
	reading();
	struct conn *c = traced(fd);
	return flags & (MSG_PEEK | MSG_TRUNC) ? NULL : c;
}

static __attribute__((noinline)) ssize_t recv_traced(struct conn *c,
		int fd, void *buf, size_t len, int flags)
{
	ssize_t n = REAL(recv)(fd, buf, len, flags);
	int saved_errno = errno;
	struct iovec v = {buf, len};
	received(c, &v, 1, n, len, saved_errno);
	errno = saved_errno;
	return n;
}

/* The fast path stays a check and a tail call (the traced part is out of
   line, so no frame is built when nothing is traced). */
EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	struct conn *c = traced_recv(&fd, flags);

	if (__builtin_expect(!c, 1))
		return REAL(recv)(fd, buf, len, flags);
	return recv_traced(c, fd, buf, len, flags);
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
			struct sockaddr *sa, socklen_t *salen)
{
	struct conn *c = traced_recv(&fd, flags);

	if (!c)
		return REAL(recvfrom)(fd, buf, len, flags, sa, salen);
	ssize_t n = REAL(recvfrom)(fd, buf, len, flags, sa, salen);
	int saved_errno = errno;
	struct iovec v = {buf, len};
	received(c, &v, 1, n, len, saved_errno);
	errno = saved_errno;
	return n;
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t t = 0;

	for (int i = 0; i < iovcnt; i++)
		t += iov[i].iov_len;
	return t;
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct conn *c = traced_recv(&fd, flags);

	if (!c)
		return REAL(recvmsg)(fd, msg, flags);
	ssize_t n = REAL(recvmsg)(fd, msg, flags);
	int saved_errno = errno;
	received(c, msg->msg_iov, (int)msg->msg_iovlen, n,
		 iov_total(msg->msg_iov, (int)msg->msg_iovlen), saved_errno);
	errno = saved_errno;
	return n;
}

static __attribute__((noinline)) ssize_t read_traced(struct conn *c,
		int fd, void *buf, size_t len)
{
	ssize_t n = REAL(read)(fd, buf, len);
	int saved_errno = errno;
	struct iovec v = {buf, len};
	received(c, &v, 1, n, len, saved_errno);
	errno = saved_errno;
	return n;
}

/* The fast path stays a check and a tail call (the traced part is out of
   line, so no frame is built when nothing is traced). */
EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	struct conn *c = traced_in(&fd);

	if (__builtin_expect(!c, 1))
		return REAL(read)(fd, buf, len);
	return read_traced(c, fd, buf, len);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
	struct conn *c = traced_in(&fd);

	if (!c)
		return REAL(readv)(fd, iov, iovcnt);
	ssize_t n = REAL(readv)(fd, iov, iovcnt);
	int saved_errno = errno;
	received(c, iov, iovcnt, n, iov_total(iov, iovcnt), saved_errno);
	errno = saved_errno;
	return n;
}

/*
 * The fortified variants of Debian's hardened binaries (-D_FORTIFY_SOURCE).
 * glibc declares them only inside its fortify headers, so we do here.
 */
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen,
		       int flags, struct sockaddr *sa, socklen_t *salen);

EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	struct conn *c = traced_in(&fd);

	if (!c)
		return REAL(read_chk)(fd, buf, len, buflen);
	ssize_t n = REAL(read_chk)(fd, buf, len, buflen);
	int saved_errno = errno;
	struct iovec v = {buf, len};
	received(c, &v, 1, n, len, saved_errno);
	errno = saved_errno;
	return n;
}

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen,
			  int flags)
{
	struct conn *c = traced_recv(&fd, flags);

	if (!c)
		return REAL(recv_chk)(fd, buf, len, buflen, flags);
	ssize_t n = REAL(recv_chk)(fd, buf, len, buflen, flags);
	int saved_errno = errno;
	struct iovec v = {buf, len};
	received(c, &v, 1, n, len, saved_errno);
	errno = saved_errno;
	return n;
}

EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen,
			      int flags, struct sockaddr *sa,
			      socklen_t *salen)
{
	struct conn *c = traced_recv(&fd, flags);

	if (!c)
		return REAL(recvfrom_chk)(fd, buf, len, buflen, flags, sa,
					  salen);
	ssize_t n = REAL(recvfrom_chk)(fd, buf, len, buflen, flags, sa, salen);
	int saved_errno = errno;
	struct iovec v = {buf, len};
	received(c, &v, 1, n, len, saved_errno);
	errno = saved_errno;
	return n;
}
