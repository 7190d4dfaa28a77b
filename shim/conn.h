/*
 * conn.h - what the shim knows about each TCP socket of the program.
 *
 * An fd-indexed table (two levels, chunks mapped on first use) points to
 * connection objects from a pool of fixed-size slots. Only TCP sockets over
 * IPv4 and IPv6 get an object; for every other descriptor (files, pipes, Unix
 * and UDP sockets) conn_get() returns NULL after two loads, and the hook
 * passes the call straight through. dup*() makes two descriptors share one
 * object (reference counted); close() detaches a descriptor, and the last
 * detach finishes what the connection had in flight.
 *
 * Memory: chunks are mmap'ed once and never unmapped, so a stale pointer held
 * by a racing thread (a program using an fd while closing it) points to valid
 * memory, at worst to a reused slot. Allocation takes no lock (a bitmap with
 * atomic operations) and never calls malloc. Past CONN_MAX_FDS descriptors or
 * CONN_MAX_CONNS live connections, sockets are simply not traced.
 *
 * Threading: any thread. A connection's protocol state assumes that one
 * thread at a time sends, and one at a time receives, on a socket, which is
 * what every HTTP/1.x program does.
 */
#ifndef OTELSHIM_CONN_H
#define OTELSHIM_CONN_H

#include <stdint.h>
#include <sys/socket.h>

#include "http_conn.h"
#include "mysql_wire.h"

#define CONN_FD_CHUNK_BITS 12
#define CONN_MAX_FDS (1 << 20)
#define CONN_POOL_CHUNK 64
#define CONN_MAX_CONNS (64 * 1024)

enum conn_proto {
	CONN_PROTO_DETECT = 0,	/* no byte seen yet */
	CONN_PROTO_HTTP,	/* HTTP/1.x, tracked */
	CONN_PROTO_OTHER,	/* anything else: pass-through forever */
	CONN_PROTO_MYSQL,	/* MySQL protocol, read off the wire */
};

enum conn_role {
	CONN_ROLE_NONE = 0,	/* socket() done, not connected */
	CONN_ROLE_CLIENT,	/* connect() */
	CONN_ROLE_SERVER,	/* accept() */
};

struct conn {
	int refs;		/* descriptors pointing here */
	uint8_t proto;		/* enum conn_proto */
	uint8_t role;		/* enum conn_role */
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint16_t peer_port;
	char peer_addr[48];	/* numeric, formatted once at connect/accept */
	char peer_authority[56];	/* "addr:port", "[v6]:port" */
	uint32_t pool_slot;	/* where the object lives in the pool */
	struct http_conn http;
	struct mysql_wire my;	/* only when proto is CONN_PROTO_MYSQL */
};

extern struct conn **conn_fd_chunks[CONN_MAX_FDS >> CONN_FD_CHUNK_BITS];

/* The connection of fd, or NULL when fd is not a tracked TCP socket. */
static inline struct conn *conn_get(int fd)
{
	struct conn **chunk;

	if ((unsigned)fd >= CONN_MAX_FDS)
		return NULL;
	chunk = __atomic_load_n(&conn_fd_chunks[fd >> CONN_FD_CHUNK_BITS],
				__ATOMIC_ACQUIRE);
	if (!chunk)
		return NULL;
	return __atomic_load_n(&chunk[fd & ((1 << CONN_FD_CHUNK_BITS) - 1)],
				__ATOMIC_ACQUIRE);
}

/*
 * Start tracking fd as a new TCP socket of the given family. Replaces (and
 * releases) whatever fd pointed to. Returns the connection, or NULL when the
 * table or pool is full (the socket is then not traced).
 */
struct conn *conn_track(int fd, int family);

/* Record the peer and the role once connected or accepted. */
void conn_set_peer(struct conn *c, int role, const struct sockaddr *sa,
		   socklen_t len);

/* fd no longer refers to its connection (close, or dup2 over it). */
void conn_untrack(int fd);

/*
 * The process generation: 0 in the process that loaded us, one more in
 * every forked child. An exchange or query in flight at fork belongs to
 * the parent; when the child closes its copy of the descriptor (as a
 * fork-then-exec child does), it must neither end it nor export it.
 */
extern uint32_t conn_generation;
void conn_after_fork(void);

/* Forks this process made (the parent side): a request being served when
   a child was forked may be answered by the child (CGI). */
extern uint32_t conn_forks;
void conn_fork_parent(void);

/*
 * Are we in a vfork child (or a clone sharing our memory), which must not
 * touch the parent's state? No fork handler runs for vfork, so this asks
 * the kernel (a system call): for the close paths of traced descriptors
 * only, never for the hot path.
 */
void conn_set_pid(void);
int conn_in_borrowed_memory(void);

/* Every descriptor in [first, last] is closed (close_range, closefrom). */
void conn_untrack_range(unsigned int first, unsigned int last);

/* newfd now refers to the same connection as oldfd (dup, dup2, dup3). */
void conn_dup(int oldfd, int newfd);

/* Drop everything (used by unit tests). */
void conn_reset_all(void);

/*
 * The shim's own descriptors: the exporter's socket and libunwind's pipe
 * (stack.h). Their numbers carry this mark in the table, so that the
 * program's calls on them leave the hooks' fast path (the mark is
 * CONN_PROTO_OTHER: nothing is ever parsed) and are refused as on a closed
 * number (hook_socket.c). The mark is only a hint: the hooks ask the owner
 * whether the number is still its descriptor before refusing, so a mark
 * left behind (the program closed it with a raw system call) costs a
 * check, never a wrong answer. Any thread; never released or freed.
 */
extern struct conn conn_ours_mark;
void conn_mark_ours(int fd, int in_use);

#endif
