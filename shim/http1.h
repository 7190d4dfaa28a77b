/*
 * http1.h - HTTP/1.x message-head parsers, shaped like picohttpparser:
 * stateless, never allocate, fill pointer+length views into the caller's
 * buffer, and return the number of bytes consumed, -2 when the head is
 * incomplete, or -1 when the bytes are not a valid HTTP/1.x head.
 *
 * Unlike picohttpparser they do not return an array of every header: they
 * pick out, in the same single pass, the few headers that otelshim needs
 * (framing, host, user agent, trace context). So a head with 10 000 headers
 * costs no memory and cannot overflow anything; all headers are still
 * validated.
 *
 * The chunked-body scanner is the only stateful piece; it never modifies the
 * buffer (the buffer belongs to the traced program).
 *
 * Threading: pure functions; any thread.
 */
#ifndef OTELSHIM_HTTP1_H
#define OTELSHIM_HTTP1_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct http1_str {
	const char *p;
	size_t len;
};

#define HTTP1_MAX_TRACESTATE 8

/* http1_head.flags */
#define HTTP1_CHUNKED 0x01u		/* Transfer-Encoding ends in chunked */
#define HTTP1_CONN_CLOSE 0x02u		/* Connection: close */
#define HTTP1_CONN_KEEP_ALIVE 0x04u	/* Connection: keep-alive */
#define HTTP1_CONN_UPGRADE 0x08u	/* Connection: upgrade */
#define HTTP1_EXPECT_CONTINUE 0x10u	/* Expect: 100-continue */
#define HTTP1_BAD_FRAMING 0x20u		/* conflicting/invalid Content-Length,
					   Transfer-Encoding with
					   Content-Length or in HTTP/1.0, an
					   invalid coding, or (requests only)
					   Transfer-Encoding not ending in
					   chunked: the framing is suspect */
#define HTTP1_TRANSFER_ENCODING 0x40u	/* any Transfer-Encoding present */

struct http1_head {
	/* request line */
	struct http1_str method;
	struct http1_str target;
	/* status line */
	int status;
	struct http1_str reason;
	/* both */
	int minor_version;		/* 0 or 1 */
	unsigned flags;
	int64_t content_length;		/* -1 when absent or invalid */
	size_t n_headers;
	/* first occurrence of each; p == NULL when absent */
	struct http1_str host;
	struct http1_str user_agent;
	struct http1_str traceparent;
	int n_traceparent;		/* >1 makes it invalid (W3C) */
	int n_tracestate;		/* may exceed HTTP1_MAX_TRACESTATE */
	struct http1_str baggage;
	/* last: only the first n_tracestate (at most the maximum) are set */
	struct http1_str tracestate[HTTP1_MAX_TRACESTATE];
};

/*
 * Parse a request head ("GET /x HTTP/1.1\r\nHost: a\r\n\r\n") at the start
 * of buf. Returns the length of the head including the blank line, -2 if
 * more bytes are needed, -1 if invalid. *h is filled on success; after a
 * failure its contents are unspecified (it is parsed into in place, and
 * every caller reads it only after a success).
 * Accepts bare LF line ends like common servers do; header values have
 * surrounding spaces and tabs trimmed. One empty line before the request
 * line is skipped (RFC 9112 2.2) and counted in the length.
 *
 * -1 comes as soon as a byte makes a valid head impossible, even before the
 * head is complete; -2 means every byte so far may still begin one. Obsolete
 * line folding is -1. A response with a 1xx, 204 or 304 status, or to HEAD,
 * has no body whatever the flags say: that is the caller's to know.
 */
int http1_parse_request(const char *buf, size_t len, struct http1_head *h);

/*
 * Same for a response head ("HTTP/1.1 200 OK\r\n...\r\n\r\n"); the status
 * is 100..999 and "HTTP/1.1 200\r\n" (no SP, empty reason) is accepted.
 */
int http1_parse_response(const char *buf, size_t len, struct http1_head *h);

/*
 * Conservative detection of the start of a request. Returns 1 when buf
 * begins with a complete request line "METHOD SP target SP HTTP/1.[01]"
 * followed by CRLF (or LF), where METHOD is a token; 0 when buf is a proper
 * prefix of such a line (more bytes needed, at most 8 KiB); -1 when it can
 * never be one. TLS, PostgreSQL, Redis and random bytes give -1 at once.
 */
int http1_detect_request(const char *buf, size_t len);

/*
 * Index of a known method (SPEC.md 5.1; case-sensitive), or -1 for any other
 * token. http1_method_name(i) gives its canonical spelling, and "_OTHER"
 * (the semantic conventions' value for unknown methods) for any other i.
 */
enum http1_method {
	HTTP1_CONNECT = 0,
	HTTP1_DELETE,
	HTTP1_GET,
	HTTP1_HEAD,
	HTTP1_OPTIONS,
	HTTP1_PATCH,
	HTTP1_POST,
	HTTP1_PUT,
	HTTP1_TRACE,
	HTTP1_N_METHODS,
};
int http1_method_index(const char *m, size_t len);
const char *http1_method_name(int index);

/*
 * Chunked transfer-coding scanner. Zero-fill the struct before the first
 * byte of the body. Each call consumes bytes of the body and returns how many
 * it consumed (<= len); when it returns with *done set, the last chunk and
 * its trailers are complete and the bytes after them belong to the next
 * message. Without *done, all len bytes were consumed. Once done, further
 * calls consume nothing and set *done again. Returns -1 on malformed input
 * (the caller stops tracking), including a chunk-size beyond 64 bits.
 */
struct http1_chunked {
	uint64_t remaining;	/* bytes of chunk data still to skip (the
				   chunk-size while it is being read) */
	int state;
	int size_digits;
};
ssize_t http1_chunked_feed(struct http1_chunked *c, const char *buf,
			   size_t len, int *done);

#endif
