/*
 * real.c - binding the real functions (see real.h for the contract).
 *
 * Hazards handled here:
 * - init order: hooks may run before our constructor (another library's
 *   constructor doing I/O), so binding is lazy and does not depend on it;
 * - dlsym returning our own hook (a library loaded with RTLD_DEEPBIND or a
 *   broken link order): we refuse the slot and fall back to the system call;
 * - the fortified __*_chk variants may be absent (a libc built without
 *   them): they fall back to the plain call, without the size check;
 * - dlsym may allocate; it does not call any hooked function, so binding
 *   never recurses into itself.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "real.h"

struct real_libc real_libc;
int real_bound;
static int real_good;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

/* System-call fallbacks, used only when a libc symbol cannot be bound. */
static int sys_socket(int d, int t, int p)
{
	return (int)syscall(SYS_socket, d, t, p);
}
static int sys_connect(int fd, const struct sockaddr *a, socklen_t l)
{
	return (int)syscall(SYS_connect, fd, a, l);
}
static int sys_accept(int fd, struct sockaddr *a, socklen_t *l)
{
	return (int)syscall(SYS_accept, fd, a, l);
}
static int sys_accept4(int fd, struct sockaddr *a, socklen_t *l, int f)
{
	return (int)syscall(SYS_accept4, fd, a, l, f);
}
static int sys_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}
static int sys_dup(int fd)
{
	return (int)syscall(SYS_dup, fd);
}
static int sys_dup2(int fd, int fd2)
{
	return (int)syscall(SYS_dup3, fd, fd2, 0);
}
static int sys_dup3(int fd, int fd2, int f)
{
	return (int)syscall(SYS_dup3, fd, fd2, f);
}
static int sys_close_range(unsigned int a, unsigned int b, int f)
{
	return (int)syscall(SYS_close_range, a, b, f);
}
static void sys_closefrom(int fd)
{
	if (syscall(SYS_close_range, (unsigned)fd, ~0u, 0) < 0) {
		/* an old kernel: one by one, as glibc does without /proc */
		for (long i = fd; i < sysconf(_SC_OPEN_MAX); i++)
			syscall(SYS_close, (int)i);
	}
}
static int sys_pipe2(int fds[2], int f)
{
	return (int)syscall(SYS_pipe2, fds, f);
}
static ssize_t sys_sendto(int fd, const void *b, size_t n, int f,
			  const struct sockaddr *a, socklen_t l)
{
	return syscall(SYS_sendto, fd, b, n, f, a, l);
}
static ssize_t sys_send(int fd, const void *b, size_t n, int f)
{
	return sys_sendto(fd, b, n, f, NULL, 0);
}
static ssize_t sys_sendmsg(int fd, const struct msghdr *m, int f)
{
	return syscall(SYS_sendmsg, fd, m, f);
}
static ssize_t sys_write(int fd, const void *b, size_t n)
{
	return syscall(SYS_write, fd, b, n);
}
static ssize_t sys_writev(int fd, const struct iovec *v, int n)
{
	return syscall(SYS_writev, fd, v, n);
}
static ssize_t sys_recvfrom(int fd, void *b, size_t n, int f,
			    struct sockaddr *a, socklen_t *l)
{
	return syscall(SYS_recvfrom, fd, b, n, f, a, l);
}
static ssize_t sys_recv(int fd, void *b, size_t n, int f)
{
	return sys_recvfrom(fd, b, n, f, NULL, NULL);
}
static ssize_t sys_recvmsg(int fd, struct msghdr *m, int f)
{
	return syscall(SYS_recvmsg, fd, m, f);
}
static ssize_t sys_read(int fd, void *b, size_t n)
{
	return syscall(SYS_read, fd, b, n);
}
static ssize_t sys_readv(int fd, const struct iovec *v, int n)
{
	return syscall(SYS_readv, fd, v, n);
}
static int sys_shutdown(int fd, int how)
{
	return (int)syscall(SYS_shutdown, fd, how);
}
static ssize_t sys_sendfile(int o, int i, off_t *off, size_t n)
{
	return syscall(SYS_sendfile, o, i, off, n);
}
static int sys_epoll_wait(int ep, struct epoll_event *ev, int max, int to)
{
	return (int)syscall(SYS_epoll_pwait, ep, ev, max, to, NULL, 8);
}
static int sys_epoll_pwait(int ep, struct epoll_event *ev, int max, int to,
			   const sigset_t *ss)
{
	return (int)syscall(SYS_epoll_pwait, ep, ev, max, to, ss, 8);
}
static int sys_ppoll(struct pollfd *p, nfds_t n, const struct timespec *t,
		     const sigset_t *ss)
{
	return (int)syscall(SYS_ppoll, p, n, t, ss, 8);
}
static int sys_poll(struct pollfd *p, nfds_t n, int ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000};
	return sys_ppoll(p, n, ms < 0 ? NULL : &t, NULL);
}
static int sys_poll_chk(struct pollfd *p, nfds_t n, int ms, size_t cap)
{
	(void)cap;
	return sys_poll(p, n, ms);
}
static int sys_select(int n, fd_set *r, fd_set *w, fd_set *e,
		      struct timeval *t)
{
	return (int)syscall(SYS_select, n, r, w, e, t);
}
static int sys_pselect(int n, fd_set *r, fd_set *w, fd_set *e,
		       const struct timespec *t, const sigset_t *ss)
{
	struct {
		const sigset_t *ss;
		size_t len;
	} data = {ss, 8};
	return (int)syscall(SYS_pselect6, n, r, w, e, t, ss ? &data : NULL);
}
static int sys_execve(const char *p, char *const a[], char *const e[])
{
	return (int)syscall(SYS_execve, p, a, e);
}
static int no_execvpe(const char *f, char *const a[], char *const e[])
{
	(void)f, (void)a, (void)e;
	errno = ENOSYS;
	return -1;
}
static int no_spawn(pid_t *pid, const char *p,
		    const posix_spawn_file_actions_t *fa,
		    const posix_spawnattr_t *at, char *const a[],
		    char *const e[])
{
	(void)pid, (void)p, (void)fa, (void)at, (void)a, (void)e;
	return ENOSYS;
}
static ssize_t sys_read_chk(int fd, void *b, size_t n, size_t cap)
{
	return sys_read(fd, b, n < cap ? n : cap);
}
static ssize_t sys_recv_chk(int fd, void *b, size_t n, size_t cap, int f)
{
	return sys_recv(fd, b, n < cap ? n : cap, f);
}
static ssize_t sys_recvfrom_chk(int fd, void *b, size_t n, size_t cap, int f,
				struct sockaddr *a, socklen_t *l)
{
	return sys_recvfrom(fd, b, n < cap ? n : cap, f, a, l);
}

/* Our own object's extent, from its ELF header to the end of its .bss
   (symbols the linker defines; hidden, so they are ours, not another
   object's). */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
extern const char _end[] __attribute__((visibility("hidden")));

/*
 * Look name up after us. Returns NULL when it is missing or when it resolves
 * into our own object (the hook itself), which would recurse forever. (By
 * address: dladdr on libc's functions scanned libc's whole symbol table,
 * 3.7 million instructions for the 38 lookups, about a millisecond of each
 * process's first traced call.)
 */
static void *lookup(const char *name)
{
	const char *p = dlsym(RTLD_NEXT, name);

	if (p && p >= __ehdr_start && p < _end)
		return NULL;
	return (void *)p;
}

#define BIND(slot, sym, fallback, required)             \
	do {                                            \
		void *p_ = lookup(sym);                 \
		if (p_) {                               \
			*(void **)&real_libc.slot = p_; \
		} else {                                \
			real_libc.slot = fallback;      \
			if (required)                   \
				real_good = 0;          \
		}                                       \
	} while (0)

static void bind_all(void)
{
	real_good = 1;
	BIND(socket, "socket", sys_socket, 1);
	BIND(connect, "connect", sys_connect, 1);
	BIND(accept, "accept", sys_accept, 1);
	BIND(accept4, "accept4", sys_accept4, 1);
	BIND(close, "close", sys_close, 1);
	BIND(dup, "dup", sys_dup, 1);
	BIND(dup2, "dup2", sys_dup2, 1);
	BIND(dup3, "dup3", sys_dup3, 1);
	BIND(close_range, "close_range", sys_close_range, 0);
	BIND(closefrom, "closefrom", sys_closefrom, 0);
	BIND(pipe2, "pipe2", sys_pipe2, 1);
	BIND(send, "send", sys_send, 1);
	BIND(sendto, "sendto", sys_sendto, 1);
	BIND(sendmsg, "sendmsg", sys_sendmsg, 1);
	BIND(write, "write", sys_write, 1);
	BIND(writev, "writev", sys_writev, 1);
	BIND(recv, "recv", sys_recv, 1);
	BIND(recvfrom, "recvfrom", sys_recvfrom, 1);
	BIND(recvmsg, "recvmsg", sys_recvmsg, 1);
	BIND(read, "read", sys_read, 1);
	BIND(readv, "readv", sys_readv, 1);
	BIND(read_chk, "__read_chk", sys_read_chk, 0);
	BIND(recv_chk, "__recv_chk", sys_recv_chk, 0);
	BIND(recvfrom_chk, "__recvfrom_chk", sys_recvfrom_chk, 0);
	BIND(shutdown, "shutdown", sys_shutdown, 1);
	BIND(sendfile, "sendfile", sys_sendfile, 1);
	BIND(sendfile64, "sendfile64", sys_sendfile, 0);
	BIND(epoll_wait, "epoll_wait", sys_epoll_wait, 1);
	BIND(epoll_pwait, "epoll_pwait", sys_epoll_pwait, 1);
	BIND(poll, "poll", sys_poll, 1);
	BIND(ppoll, "ppoll", sys_ppoll, 1);
	BIND(poll_chk, "__poll_chk", sys_poll_chk, 0);
	BIND(select, "select", sys_select, 1);
	BIND(pselect, "pselect", sys_pselect, 1);
	BIND(execve, "execve", sys_execve, 1);
	BIND(execvpe, "execvpe", no_execvpe, 0);
	BIND(posix_spawn, "posix_spawn", no_spawn, 1);
	BIND(posix_spawnp, "posix_spawnp", no_spawn, 1);
	__atomic_store_n(&real_bound, 1, __ATOMIC_RELEASE);
}

/* (Cold and out of line: the hooks' fast path must not make room for
   this call; with link-time optimisation it would be inlined.) */
__attribute__((noinline, cold)) void real_bind(void)
{
	pthread_once(&real_once, bind_all);
}

int real_ok(void)
{
	real_bind();
	return real_good;
}
