/*
 * otlp_http.h - the OTLP/HTTP transport: one kept-alive HTTP/1.1 connection
 * to the collector, POSTs of application/x-protobuf bodies with a deadline,
 * and the response status, Retry-After and body.
 *
 * Exporter thread only. Every socket is opened with SOCK_CLOEXEC and used
 * non-blocking with poll(2), so no call waits past the deadline.
 */
#ifndef OTELSHIM_OTLP_HTTP_H
#define OTELSHIM_OTLP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "exporter.h"

#include <sys/socket.h>

struct addrinfo;

/* One address of the collector, as connect() takes it. */
struct otlp_http_addr {
	struct sockaddr_storage sa;
	socklen_t len;
	int family, socktype, protocol;
};

#define OTLP_HTTP_MAX_ADDRS 8

struct otlp_http {
	int fd;				/* -1 when not connected; atomic: the
					   program's threads read it (below) */
	int busy;			/* the exporter is in a call on fd */
	uint64_t sock_dev, sock_ino;	/* what fd must still be: a program
					   closing it with a raw system call
					   goes unseen, and the number may
					   then be a file of its own */
	char host[256];
	uint16_t port;
	char path[512];
	char extra_headers[4096];	/* "Name: value\r\n"..., validated */
	/*
	 * The collector's addresses, resolved once (an IP literal without
	 * getaddrinfo) and kept, a forked child's included, until every one
	 * of them failed to connect: then resolved again. n_addrs is stored
	 * after the entries it counts, so a child forked in the middle sees
	 * either the old or the new list, never half of one.
	 */
	struct otlp_http_addr addrs[OTLP_HTTP_MAX_ADDRS];
	unsigned n_addrs;
	struct addrinfo *resolving;	/* getaddrinfo's answer, from its
					   return to its copy into addrs */
	void (*on_fd)(int fd, int in_use);	/* told of every number the
					   socket takes and leaves (or NULL) */
	char resp[65536];		/* response head and body */
};

struct otlp_http_result {
	int status;			/* HTTP status, 0 if none */
	int err;			/* errno-style, 0 if a status came */
	int retry_after_s;		/* -1 if absent */
	const uint8_t *body;		/* into the struct's buffer */
	size_t body_len;
};

/*
 * Set up from the configuration. Malformed OTEL_EXPORTER_OTLP_HEADERS gets
 * one warning (never with the values, which may be secrets) and is ignored.
 */
void otlp_http_init(struct otlp_http *h, const struct exporter_config *cfg);

/*
 * POST body to the endpoint and read the answer, all before deadline_ns
 * (CLOCK_MONOTONIC). Reconnects once if a kept-alive connection turns out to
 * be closed. Returns 0 with res->status set, or -errno with res->err set.
 */
int otlp_http_post(struct otlp_http *h, const uint8_t *body, size_t len,
		   uint64_t deadline_ns, struct otlp_http_result *res);

/* Close the connection (after fork in the child it is the parent's). */
void otlp_http_close(struct otlp_http *h);

/* Forget the connection without closing it (the child after fork). */
void otlp_http_forget(struct otlp_http *h);

/*
 * In a forked child: free what the parent's exporter thread had allocated
 * in the middle of resolving the collector's name (h->resolving). The
 * addresses already resolved are kept: the child connects without
 * resolving again.
 */
void otlp_http_release(struct otlp_http *h);

uint64_t otlp_http_now_ns(void);

/* headers.c: OTEL_EXPORTER_OTLP_HEADERS to "Name: value\r\n" lines in
   out (cap bytes, NUL-terminated). 0, or -1 when malformed or too long. */
int otlp_headers_build(char *out, size_t cap, const char *spec);

/*
 * Keeping the program's hands off our socket (any thread). The socket lives
 * at a high descriptor number. otlp_http_owns() says whether fd is it.
 * otlp_http_yield(), for a program about to take that number (dup2 onto
 * it): moves the socket to another number and returns once the exporter
 * thread can no longer be using the old one (its calls on the socket are
 * non-blocking, so the wait is short). After that the old number is the
 * program's.
 */
int otlp_http_owns(const struct otlp_http *h, int fd);
void otlp_http_yield(struct otlp_http *h, int fd);

#endif
