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

/*
 * Look name up after us. Returns NULL when it is missing or when it resolves
 * into our own object (the hook itself), which would recurse forever.
 */
static void *lookup(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	Dl_info self, found;

	if (p && dladdr((void *)lookup, &self) && dladdr(p, &found) &&
	    self.dli_fbase == found.dli_fbase)
		return NULL;
	return p;
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
	__atomic_store_n(&real_bound, 1, __ATOMIC_RELEASE);
}

void real_bind(void)
{
	pthread_once(&real_once, bind_all);
}

int real_ok(void)
{
	real_bind();
	return real_good;
}
