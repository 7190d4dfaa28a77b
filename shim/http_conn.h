/*
 * http_conn.h - HTTP/1.x over one TCP connection: finds message boundaries
 * in the byte streams the program sends and receives (heads, Content-Length,
 * chunked and close-delimited bodies, interim 1xx responses, HEAD/204/304
 * without a body), pairs each request with its response, and turns every
 * exchange into a span.
 *
 * It is fed by the socket hooks with the bytes a call actually moved, in
 * order, and never changes them. Heads split across calls are gathered in a
 * bounded buffer per direction; a head larger than that, or bytes that stop
 * being HTTP, make the connection untraced from then on (the exchange in
 * flight is counted as lost, never guessed).
 *
 * Threading: called with the connection's direction owned by the calling
 * thread (see conn.h). No allocation, no locks, no system calls except the
 * clock.
 */
#ifndef OTELSHIM_HTTP_CONN_H
#define OTELSHIM_HTTP_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "http1.h"
#include "span.h"

#define HTTP_ACC_SIZE 8192	/* largest head gathered across calls */
#define HTTP_MAX_INFLIGHT 4	/* pipelined requests awaiting responses */
#define HTTP_TARGET_MAX 1024
#define HTTP_HOST_MAX 256

struct conn;

/* One direction of the connection. */
struct http_half {
	uint8_t state;
	uint16_t acc_len;
	uint64_t head_start_ns;	/* first byte of the head in progress */
	uint64_t remaining;	/* Content-Length body bytes still to come */
	struct http1_chunked chunked;
	char acc[HTTP_ACC_SIZE];
};

/* One request and its response. */
struct http_exchange {
	struct span_live span;
	int8_t method;		/* enum http1_method, or -1 */
	uint8_t method_len;
	uint8_t minor_version;
	uint8_t resp_minor;
	uint16_t target_len;
	uint16_t host_len;
	int status;		/* final status; 0 until received */
	char method_raw[32];
	char target[HTTP_TARGET_MAX];
	char host[HTTP_HOST_MAX];
};

struct http_conn {
	uint8_t first;		/* index of the oldest exchange */
	uint8_t n_inflight;
	struct http_exchange ex[HTTP_MAX_INFLIGHT];
	struct http_half tx;	/* bytes the program sends */
	struct http_half rx;	/* bytes the program receives */
};

/* Prepare the state of a new connection (cheap: touches no buffer). */
void http_conn_init(struct http_conn *h);

/*
 * The program sent n bytes (n > 0), the first n bytes described by iov.
 * now is the time just before the call.
 */
void http_conn_on_send(struct conn *c, const struct iovec *iov, int iovcnt,
		       size_t n, uint64_t now);

/*
 * The program received n bytes (n > 0) into iov; now is the time just after
 * the call.
 */
void http_conn_on_recv(struct conn *c, const struct iovec *iov, int iovcnt,
		       size_t n, uint64_t now);

/* The peer closed its side (a read returned 0). */
void http_conn_on_eof(struct conn *c, uint64_t now);

/* A send or receive failed with err (not EAGAIN/EINTR). */
void http_conn_on_error(struct conn *c, int err, uint64_t now);

/* The last descriptor of the connection was closed by the program. */
void http_conn_on_close(struct conn *c, uint64_t now);

#endif
