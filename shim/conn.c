/*
 * conn.c - the fd table and the connection pool (see conn.h).
 *
 * Both are built from anonymous mappings made on first need and never
 * unmapped: an mmap is one system call per 4096 descriptors or per 64
 * connections, it is async-signal-safe, and untouched pages cost no memory
 * (an idle process pays nothing). Installing a mapping races benignly: the
 * loser of the compare-and-swap unmaps its own.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "clock.h"
#include "conn.h"
#include "text.h"

struct pool_chunk {
	uint64_t used;		/* bit i: conns[i] is allocated */
	struct conn conns[CONN_POOL_CHUNK];
};

#define FD_CHUNK_SIZE (1u << CONN_FD_CHUNK_BITS)
#define FD_CHUNK_MASK (FD_CHUNK_SIZE - 1)
#define N_POOL_CHUNKS (CONN_MAX_CONNS / CONN_POOL_CHUNK)

struct conn **conn_fd_chunks[CONN_MAX_FDS >> CONN_FD_CHUNK_BITS];
static struct pool_chunk *pool_chunks[N_POOL_CHUNKS];
static unsigned pool_hint;

/* Map size bytes and publish them in *slot; the winner's mapping is kept. */
static void *map_once(void **slot, size_t size)
{
	void *cur = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	void *mem;

	if (cur)
		return cur;
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	if (!__atomic_compare_exchange_n(slot, &cur, mem, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		munmap(mem, size);
		return cur;
	}
	return mem;
}

static struct conn **fd_slot(int fd, int create)
{
	struct conn **chunk;

	if (fd < 0 || fd >= CONN_MAX_FDS)
		return NULL;
	chunk = __atomic_load_n(&conn_fd_chunks[fd >> CONN_FD_CHUNK_BITS],
				__ATOMIC_ACQUIRE);
	if (!chunk && create)
		chunk = map_once(
			(void **)&conn_fd_chunks[fd >> CONN_FD_CHUNK_BITS],
			FD_CHUNK_SIZE * sizeof(struct conn *));
	return chunk ? &chunk[fd & FD_CHUNK_MASK] : NULL;
}

static struct conn *pool_alloc(void)
{
	unsigned start = __atomic_load_n(&pool_hint, __ATOMIC_RELAXED);

	for (unsigned i = 0; i < N_POOL_CHUNKS; i++) {
		unsigned ci = (start + i) % N_POOL_CHUNKS;
		struct pool_chunk *pc = map_once((void **)&pool_chunks[ci],
						 sizeof(struct pool_chunk));
		if (!pc)
			return NULL;
		uint64_t bits = __atomic_load_n(&pc->used, __ATOMIC_RELAXED);
		while (bits != UINT64_MAX) {
			int b = __builtin_ctzll(~bits);
			if (__atomic_compare_exchange_n(
				    &pc->used, &bits, bits | (1ull << b), 1,
				    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
				struct conn *c = &pc->conns[b];
				__atomic_store_n(&pool_hint, ci,
						 __ATOMIC_RELAXED);
				c->pool_slot = ci * CONN_POOL_CHUNK + (unsigned)b;
				return c;
			}
		}
	}
	return NULL;
}

static void pool_free(struct conn *c)
{
	unsigned ci = c->pool_slot / CONN_POOL_CHUNK;
	unsigned b = c->pool_slot % CONN_POOL_CHUNK;

	__atomic_and_fetch(&pool_chunks[ci]->used, ~(1ull << b),
			   __ATOMIC_RELEASE);
}

struct conn conn_ours_mark = {.refs = 1, .proto = CONN_PROTO_OTHER};

static void release(struct conn *c)
{
	if (c == &conn_ours_mark)
		return;
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		if (c->proto == CONN_PROTO_MYSQL) {
			if (c->my.gen == conn_generation)
				mysql_wire_on_end(c, "connection closed",
						  clock_real_ns());
		}
		else
			http_conn_on_close(c, clock_real_ns());
		pool_free(c);
	}
}

struct conn *conn_track(int fd, int family)
{
	struct conn **slot = fd_slot(fd, 1);
	struct conn *c, *old;

	if (!slot)
		return NULL;
	c = pool_alloc();
	if (c) {
		c->refs = 1;
		c->proto = CONN_PROTO_DETECT;
		c->role = CONN_ROLE_NONE;
		c->family = (uint8_t)family;
		c->peer_port = 0;
		c->peer_addr[0] = '\0';
		c->peer_authority[0] = '\0';
		http_conn_init(&c->http);
		c->my.phase = 0;
		c->my.op.active = 0;
	}
	old = __atomic_exchange_n(slot, c, __ATOMIC_ACQ_REL);
	if (old)
		release(old);
	return c;
}

/* "addr:port", "[v6addr]:port": url.full's host when the request has none */
static void set_authority(struct conn *c, int v6)
{
	struct text t;

	text_init(&t, c->peer_authority, sizeof(c->peer_authority));
	if (v6)
		text_put(&t, "[", 1);
	text_str(&t, c->peer_addr);
	if (v6)
		text_put(&t, "]", 1);
	text_put(&t, ":", 1);
	text_uint(&t, c->peer_port);
}

void conn_set_peer(struct conn *c, int role, const struct sockaddr *sa,
		   socklen_t len)
{
	c->role = (uint8_t)role;
	if (sa && sa->sa_family == AF_INET &&
	    len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, c->peer_addr,
			  sizeof(c->peer_addr));
		c->peer_port = ntohs(in->sin_port);
		set_authority(c, 0);
	} else if (sa && sa->sa_family == AF_INET6 &&
		   len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, c->peer_addr,
			  sizeof(c->peer_addr));
		c->peer_port = ntohs(in6->sin6_port);
		set_authority(c, 1);
	}
}

void conn_untrack(int fd)
{
	struct conn **slot = fd_slot(fd, 0);
	struct conn *old;

	if (!slot)
		return;
	old = __atomic_exchange_n(slot, NULL, __ATOMIC_ACQ_REL);
	if (old)
		release(old);
}

uint32_t conn_generation;
uint32_t conn_forks;
static pid_t conn_pid;

void conn_fork_parent(void)
{
	__atomic_add_fetch(&conn_forks, 1, __ATOMIC_RELAXED);
}

void conn_set_pid(void)
{
	__atomic_store_n(&conn_pid, getpid(), __ATOMIC_RELEASE);
}

int conn_in_borrowed_memory(void)
{
	pid_t p = __atomic_load_n(&conn_pid, __ATOMIC_ACQUIRE);

	return p && getpid() != p;
}

void conn_after_fork(void)
{
	conn_generation++;
	conn_set_pid();
}

void conn_untrack_range(unsigned int first, unsigned int last)
{
	if (last >= CONN_MAX_FDS)
		last = CONN_MAX_FDS - 1;
	/* only the chunks that exist: a range of ~0U costs nothing more */
	for (unsigned int fd = first; fd <= last;) {
		unsigned int ci = fd >> CONN_FD_CHUNK_BITS;
		unsigned int end = ((ci + 1) << CONN_FD_CHUNK_BITS) - 1;
		if (end > last)
			end = last;
		if (__atomic_load_n(&conn_fd_chunks[ci], __ATOMIC_ACQUIRE))
			for (unsigned int i = fd; i <= end; i++)
				if (conn_get((int)i) &&
				    conn_get((int)i) != &conn_ours_mark)
					conn_untrack((int)i);
		if (end == last)
			break;
		fd = end + 1;
	}
}

void conn_mark_ours(int fd, int in_use)
{
	struct conn **slot = fd_slot(fd, in_use);
	struct conn *old, *mark = &conn_ours_mark;

	if (!slot)
		return;
	if (in_use) {
		/* (an entry left by a close we never saw) */
		old = __atomic_exchange_n(slot, mark, __ATOMIC_ACQ_REL);
		if (old)
			release(old);
	} else {
		__atomic_compare_exchange_n(slot, &mark, NULL, 0,
					    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	}
}

void conn_dup(int oldfd, int newfd)
{
	struct conn *c = conn_get(oldfd);
	struct conn **slot;
	struct conn *old;

	if (c == &conn_ours_mark)
		c = NULL;	/* a copy of our socket is the program's */
	if (!c) {
		conn_untrack(newfd);
		return;
	}
	slot = fd_slot(newfd, 1);
	if (!slot)
		return;
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
	old = __atomic_exchange_n(slot, c, __ATOMIC_ACQ_REL);
	if (old)
		release(old);
}

void conn_reset_all(void)
{
	for (int i = 0; i < (CONN_MAX_FDS >> CONN_FD_CHUNK_BITS); i++) {
		struct conn **chunk = conn_fd_chunks[i];
		if (!chunk)
			continue;
		for (unsigned j = 0; j < FD_CHUNK_SIZE; j++)
			if (chunk[j])
				conn_untrack((int)(i * FD_CHUNK_SIZE + j));
	}
}
