/*
 * real.h - the one table of the real functions behind our hooks.
 *
 * REAL(name) is the next definition of name after ours (libc's, or another
 * preloaded library's), bound lazily, all at once, on first use. Binding is
 * never done in our constructor: gdb and valgrind are known to fail when a
 * preload binds libc symbols during start-up (socket_wrapper notes the same),
 * and another library's constructor may call a hook before ours ran.
 *
 * If a symbol cannot be found, or resolves to our own hook (a broken link
 * order), real_bind() marks the shim as broken: the hooks then cannot trace
 * but still have to forward. For that case every slot falls back to a
 * direct system call wrapper, so the program keeps working.
 *
 * Threading: any thread. The slots are written once under pthread_once and
 * read without locks afterwards.
 */
#ifndef OTELSHIM_REAL_H
#define OTELSHIM_REAL_H

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct real_libc {
	int (*socket)(int, int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*close)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*close_range)(unsigned int, unsigned int, int);
	void (*closefrom)(int);
	int (*pipe2)(int[2], int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int,
			  const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *,
			    socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*read_chk)(int, void *, size_t, size_t);
	ssize_t (*recv_chk)(int, void *, size_t, size_t, int);
	ssize_t (*recvfrom_chk)(int, void *, size_t, size_t, int,
				struct sockaddr *, socklen_t *);
	int (*shutdown)(int, int);
	ssize_t (*sendfile)(int, int, off_t *, size_t);
	ssize_t (*sendfile64)(int, int, off_t *, size_t);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int,
			   const sigset_t *);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *,
		     const sigset_t *);
	int (*poll_chk)(struct pollfd *, nfds_t, int, size_t);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *,
		       const struct timespec *, const sigset_t *);
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*posix_spawn)(pid_t *, const char *,
			   const posix_spawn_file_actions_t *,
			   const posix_spawnattr_t *, char *const[],
			   char *const[]);
	int (*posix_spawnp)(pid_t *, const char *,
			    const posix_spawn_file_actions_t *,
			    const posix_spawnattr_t *, char *const[],
			    char *const[]);
};

extern struct real_libc real_libc;
extern int real_bound;

/* Bind every slot (idempotent, thread-safe). */
void real_bind(void);

/* 1 when every libc symbol was found and is not our own. */
int real_ok(void);

#define REAL(name)                                                       \
	(__builtin_expect(__atomic_load_n(&real_bound, __ATOMIC_ACQUIRE), \
			  1) ? real_libc.name                             \
			     : (real_bind(), real_libc.name))

#endif
