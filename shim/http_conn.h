/*
 * http_conn.h - HTTP/1.x over one TCP connection: finds message boundaries
 * in the byte streams the program sends and receives (heads, Content-Length,
 * chunked and close-delimited bodies, interim 1xx responses, HEAD/204/304
 * without a body), pairs each request with its response, turns every
 * exchange into a span (CLIENT on connections the program opened, SERVER on
 * accepted ones), reads the trace context of incoming requests and writes
 * it into outgoing ones.
 *
 * The receive side is fed after the fact with the bytes a call moved. The
 * send side of a client connection goes through http_conn_send(), which
 * makes the real call itself: the only bytes otelshim ever adds to a stream
 * are trace-context header lines in a request head. The count it returns is
 * exactly the number of the program's own bytes consumed; none is lost,
 * duplicated or reordered (see the algorithm in http_conn.c).
 *
 * Heads split across calls are gathered in a bounded buffer per direction;
 * a head larger than that, or bytes that stop being HTTP, make the
 * connection untraced from then on (an exchange in flight is counted as
 * lost, never guessed).
 *
 * Threading: one thread at a time per direction of a connection (see
 * conn.h). No allocation, no locks; system calls only the clock and, on the
 * send side, the real send.
 */
#ifndef OTELSHIM_HTTP_CONN_H
#define OTELSHIM_HTTP_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "context.h"
#include "guard.h"
#include "http1.h"
#include "span.h"
#include "stack.h"

#define HTTP_ACC_SIZE 8192	/* largest head gathered across calls */
#define HTTP_MAX_INFLIGHT 4	/* pipelined requests awaiting responses */
#define HTTP_TARGET_MAX 1024
#define HTTP_HOST_MAX 256
#define HTTP_UA_MAX 256
#define HTTP_TRACESTATE_MAX 512
#define HTTP_BAGGAGE_MAX 2048
/* room for the header lines we add: traceparent, tracestate, baggage, b3 */
#define HTTP_INJECT_MAX (64 + 16 + HTTP_TRACESTATE_MAX + 16 + \
			 HTTP_BAGGAGE_MAX + 160)

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
	struct span_ctx ctx;		/* SERVER: what children inherit */
	struct span_ctx link;		/* CLIENT: handoff candidate */
	struct context_slot slot;	/* SERVER: serving-table entry */
	int8_t method;			/* enum http1_method, or -1 */
	uint8_t method_len;
	uint8_t minor_version;
	uint8_t resp_minor;
	uint8_t rule;			/* CLIENT: enum context_rule */
	uint32_t gen;			/* conn_generation when it began */
	uint32_t forks;			/* conn_forks when it began */
	uint8_t handed_off;		/* a forked child answers it */
	uint16_t target_len;
	uint16_t host_len;
	uint16_t ua_len;
	uint16_t tracestate_len;
	uint16_t baggage_len;
	int status;			/* final status; 0 until received */
	const void *caller;		/* CLIENT: the program's send call */
	struct stack stack;		/* CLIENT: taken at the start */
	char method_raw[32];
	char target[HTTP_TARGET_MAX];
	char host[HTTP_HOST_MAX];
	char user_agent[HTTP_UA_MAX];
	char tracestate[HTTP_TRACESTATE_MAX];
	char baggage[HTTP_BAGGAGE_MAX];
};

struct http_conn {
	uint8_t first;		/* index of the oldest exchange */
	uint8_t n_inflight;
	uint8_t binding_rule;	/* enum context_rule at connect() */
	uint32_t n_requests;	/* requests opened on this connection */
	struct span_ctx binding;	/* parent bound when connected */
	/* its tracestate and baggage, copied: the request it was bound to
	   may end, and its storage be reused, before the first write */
	char binding_tracestate[HTTP_TRACESTATE_MAX];
	char binding_baggage[HTTP_BAGGAGE_MAX];
	/* send-side rewriting: bytes owed to the wire before the
	   program's next byte (held head bytes, injected lines) */
	uint32_t pend_off;
	uint32_t pend_len;
	uint32_t tail;		/* head bytes left to the program, sent raw
				   after the owed bytes */
	struct http_exchange ex[HTTP_MAX_INFLIGHT];
	struct http_half tx;	/* bytes the program sends */
	struct http_half rx;	/* bytes the program receives */
	char out[HTTP_ACC_SIZE + HTTP_INJECT_MAX];
};

/*
 * Send out, unchanged, the head bytes this thread holds for incomplete
 * heads (see http_conn.c): call before the thread reads or waits.
 */
extern void http_conn_release_held(void);

static inline void http_conn_before_wait(void)
{
	if (__builtin_expect(shim_tls.n_held != 0, 0))
		http_conn_release_held();
}

/*
 * Client spans with the stack code (on) or without it (0, the default):
 * see finish_client. Called once at start-up, after stack_init(), before
 * any span.
 */
void http_conn_use_stacks(int on);

/* Prepare the state of a new connection (cheap: touches no buffer). */
void http_conn_init(struct http_conn *h);

/* A client connection is being opened: bind it to the current request. */
void http_conn_on_connect(struct conn *c);

/*
 * Whether sends on c must go through http_conn_send() (a request head may
 * be next, or bytes are owed); otherwise the hook calls the real function
 * and reports with http_conn_on_send().
 */
int http_conn_send_intercepts(const struct conn *c);

/*
 * One send-like call on a client connection: the bytes of iov[0..iovcnt),
 * to be sent as the program's call `call` would (msg carries its flags,
 * name and control data). Makes the real call(s), possibly with injected
 * header lines, and returns what the program's call returns, with errno.
 */
struct http_send_call {
	int fd;
	int flags;			/* MSG_* of the program's call */
	const struct msghdr *msg;	/* sendmsg: name and control data */
	const struct sockaddr *name;	/* sendto */
	socklen_t namelen;
	/* the program's own call, for bytes passed through unchanged */
	ssize_t (*plain)(const struct http_send_call *call,
			 const struct iovec *iov, int iovcnt);
	const void *plain_arg;
};
ssize_t http_conn_send(struct conn *c, const struct http_send_call *call,
		       const struct iovec *iov, int iovcnt);

/*
 * The program sent n bytes (n > 0) of iov through a path we do not rewrite
 * (body bytes, or a server connection). now is the time before the call.
 */
void http_conn_on_send(struct conn *c, const struct iovec *iov, int iovcnt,
		       size_t n, uint64_t now);

/* The program sent n body bytes with sendfile/splice (no buffer). */
void http_conn_on_send_opaque(struct conn *c, size_t n, uint64_t now);

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

/*
 * The program is about to close or shut down the connection for writing:
 * send what is owed to the wire (best effort, never blocking longer than
 * the program's own close would have on a blocking socket).
 */
void http_conn_flush(struct conn *c, int fd);

/* The last descriptor of the connection was closed by the program. */
void http_conn_on_close(struct conn *c, uint64_t now);

#endif
