/*
 * loopback.h - a tiny HTTP/1.1 server and client on 127.0.0.1 for the
 * preload tests. Both sides use the ordinary libc calls, so when
 * libotelshim.so is preloaded every one of them goes through a hook and
 * takes the tracking path (the server side yields SERVER spans, the client
 * side CLIENT spans with an injected traceparent line).
 *
 * What a test may print from here never depends on the preload: the
 * response body echoes the request line and the body length, not the
 * headers. Whether the request carried a traceparent line is reported
 * separately (lb_reply.saw_traceparent) for the tests that have a reason to
 * look at it.
 *
 * Server: lb_server_start() binds an ephemeral port and starts threads that
 * accept connections and serve requests on each until the client closes
 * (keep-alive), or once when the request says "Connection: close". The
 * target "/hang" gets no response: the connection stays open until the
 * client closes it. The threads run until the process exits.
 *
 * Threading: every function may be called from any thread; the server is
 * one per copy of this file (tests link it once per object).
 */
#ifndef LOOPBACK_H
#define LOOPBACK_H

#include <stddef.h>

struct lb_reply {
	int status;		/* 0 when no complete response arrived */
	int saw_traceparent;	/* the server saw a traceparent line */
	char body[256];		/* NUL-terminated */
	size_t body_len;
};

/*
 * Start the server with nthreads accepting threads. Returns the port, or -1
 * with a message on stderr.
 */
int lb_server_start(int nthreads);

/* A blocking TCP connection to 127.0.0.1:port, or -1. */
int lb_connect(int port);

/*
 * Write the request "METHOD TARGET HTTP/1.1" with a Host line, an optional
 * body (Content-Length) and, when close is set, "Connection: close", with
 * one send(). Returns 0, or -1 with errno.
 */
int lb_send_request(int fd, const char *method, const char *target,
		    const char *body, int close);

/*
 * Read one response with recv() into *r. Returns 0 when a complete
 * response arrived, -1 otherwise (errno set, or EPROTO for garbage, or
 * ECONNRESET for an early EOF).
 */
int lb_read_response(int fd, struct lb_reply *r);

/*
 * One request on a fresh connection (Connection: close), then close().
 * Returns 0 when a 200 response arrived.
 */
int lb_request(int port, const char *method, const char *target,
	       const char *body, struct lb_reply *r);

#endif
