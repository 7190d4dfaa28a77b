/*
 * http_conn.c - HTTP/1.x exchanges on one connection (see http_conn.h).
 *
 * Each direction is a small state machine:
 *
 *   HEAD  --head parsed-->  BODY_LEN | BODY_CHUNKED | BODY_CLOSE | HEAD
 *   BODY_LEN / BODY_CHUNKED  --body complete-->  HEAD
 *   BODY_CLOSE  --EOF-->  (end)
 *   any  --bytes that are not HTTP, head too large-->  LOST
 *
 * A client connection sends requests and receives responses; a server
 * connection the reverse. Exchanges are a FIFO, so pipelining works.
 *
 * Rewriting a request head (client connections only). When a head is
 * complete, the head minus its last k bytes (k = the final line terminator,
 * or what of it is in the current call) is copied into h->out with our
 * header lines inserted (a traceparent the program wrote is replaced in
 * place, duplicates dropped). Those bytes are then "owed" to the wire
 * (pend_off/pend_len) and always go out before any later byte of the
 * program; the program's call is told that its head bytes up to the tail
 * were consumed. The k tail bytes stay the program's own, so a program
 * never believes a request fully sent while bytes of it are still owed:
 * it will call again, and the owed bytes go first. Head bytes that arrive
 * in pieces are held (claimed and kept) until the head is complete. A head
 * too large for h->out that arrives whole in one call is not rewritten: all
 * of it is the tail, sent as the program wrote it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "clock.h"
#include "copy.h"
#include "config.h"
#include "conn.h"
#include "real.h"
#include "http_conn.h"
#include "init.h"
#include "tracecontext.h"
#include "url.h"

enum half_state {
	HALF_HEAD = 0,
	HALF_BODY_LEN,
	HALF_BODY_CHUNKED,
	HALF_BODY_CLOSE,
	HALF_LOST,
};

void http_conn_init(struct http_conn *h)
{
	h->first = 0;
	h->n_inflight = 0;
	h->binding_rule = CONTEXT_NONE;
	h->binding.valid = 0;
	h->n_requests = 0;
	h->pend_off = 0;
	h->pend_len = 0;
	h->tail = 0;
	h->tx.state = HALF_HEAD;
	h->tx.acc_len = 0;
	h->tx.head_start_ns = 0;
	h->tx.remaining = 0;
	h->rx.state = HALF_HEAD;
	h->rx.acc_len = 0;
	h->rx.head_start_ns = 0;
	h->rx.remaining = 0;
}

static struct http_exchange *oldest(struct http_conn *h)
{
	return h->n_inflight ? &h->ex[h->first] : NULL;
}

/* Take the oldest exchange off the FIFO. */
static void pop(struct http_conn *h)
{
	h->first = (uint8_t)((h->first + 1) % HTTP_MAX_INFLIGHT);
	h->n_inflight--;
}

/* ---- finishing spans ---------------------------------------------------- */

/* "404" without printf: status codes are three digits. */
static size_t status_str(int code, char out[4])
{
	if (code < 100 || code > 999)
		code = 0;
	out[0] = (char)('0' + code / 100);
	out[1] = (char)('0' + code / 10 % 10);
	out[2] = (char)('0' + code % 10);
	out[3] = '\0';
	return 3;
}

#define ADD_LIT(r, key, lit) span_record_add_str(r, key, lit, sizeof(lit) - 1)

static void add_str0(struct span_record *r, const char *key, const char *s)
{
	span_record_add_str(r, key, s, strlen(s));
}

static void add_method(struct span_record *r, const struct http_exchange *ex)
{
	if (ex->method >= 0) {
		/* a known method is its canonical name, byte for byte */
		const char *m = http1_method_name(ex->method);
		span_record_add_str(r, "http.request.method", m, ex->method_len);
		span_record_set_name(r, m, ex->method_len);
	} else {
		ADD_LIT(r, "http.request.method", "_OTHER");
		span_record_add_str(r, "http.request.method_original",
				    ex->method_raw, ex->method_len);
		span_record_set_name(r, "HTTP", 4);
	}
}

static void add_version(struct span_record *r, int minor)
{
	if (minor == 0)
		ADD_LIT(r, "network.protocol.version", "1.0");
	else
		ADD_LIT(r, "network.protocol.version", "1.1");
}

/*
 * server.address/server.port from the Host header; returns 0 when there is
 * no usable Host (the caller falls back to the peer, for clients).
 */
static int add_server_from_host(struct span_record *r,
				 const struct http_exchange *ex)
{
	const char *host;
	size_t host_len;
	int port;

	if (!ex->host_len ||
	    url_split_authority(ex->host, ex->host_len, &host, &host_len,
				&port) < 0 ||
	    !host_len)
		return 0;
	span_record_add_str(r, "server.address", host, host_len);
	span_record_add_int(r, "server.port", port < 0 ? 80 : port);
	return 1;
}

static void add_peer(struct span_record *r, const struct conn *c)
{
	add_str0(r, "network.peer.address", c->peer_addr);
	span_record_add_int(r, "network.peer.port", c->peer_port);
}

static void add_error(struct span_record *r, const struct http_exchange *ex,
		      const char *error, int error_from)
{
	char code[4];

	if (error) {
		add_str0(r, "error.type", error);
		span_record_set_status(r, SPAN_STATUS_ERROR, NULL, 0);
	} else if (ex->status >= error_from) {
		span_record_add_str(r, "error.type", code,
				    status_str(ex->status, code));
		span_record_set_status(r, SPAN_STATUS_ERROR, NULL, 0);
	}
}

/* What a transport failure (error.type) was, for its exception event. */
static const char *error_message(const char *error)
{
	static const struct {
		const char *type, *message;
	} table[] = {
		{"connection_refused", "connection refused"},
		{"connection_reset", "connection reset by peer"},
		{"timed_out", "connection timed out"},
		{"broken_pipe", "broken pipe"},
		{"connection_aborted", "connection aborted"},
		{"network_unreachable", "network is unreachable"},
		{"host_unreachable", "no route to host"},
		{"response_incomplete",
		 "the connection ended before the response was complete"},
		{"closed_before_response",
		 "the connection was closed before a response arrived"},
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcmp(error, table[i].type))
			return table[i].message;
	return "the connection failed";
}

/*
 * finish_client and start_client hold the stack code (stack.h). Each is
 * compiled twice from one body, whose stacks argument is a constant: with
 * that code and without it; http_conn_use_stacks() points the two
 * pointers below at one copy at start-up, so that with
 * OTELSHIM_STACKTRACE=off the program's threads run no instruction of it,
 * not even the test of the mode (a call through a pointer is one
 * instruction, like the direct call it replaces).
 */
static inline __attribute__((always_inline)) void
finish_client_body(struct conn *c, struct http_exchange *ex, uint64_t end_ns,
		   const char *error, const int stacks)
{
	struct span_record *rec;
	char url[HTTP_TARGET_MAX + HTTP_HOST_MAX + 16];
	size_t n;

	/* Filled in place in the exporter's queue (nothing here blocks). */
	rec = exporter_claim();
	if (!rec)
		return;
	span_fill_record(&ex->span, rec, SPAN_KIND_CLIENT, end_ns);
	/* A failed exchange (4xx and 5xx too) keeps its stack per the
	   mode; one that failed without a response is an exception. */
	if (stacks)
		stack_end(rec, &ex->stack, ex->caller,
			  error || ex->status >= 400,
			  rec->end_ns - rec->start_ns);
	if (error) {
		const char *m = error_message(error);
		span_record_set_exception(rec, end_ns, error, strlen(error), m,
					  strlen(m));
	}
	add_method(rec, ex);
	n = url_build_full(url, sizeof(url), "http", ex->host, ex->host_len,
			   c->peer_authority, ex->target, ex->target_len);
	span_record_add_str(rec, "url.full", url, n);
	if (!add_server_from_host(rec, ex)) {
		add_str0(rec, "server.address", c->peer_addr);
		span_record_add_int(rec, "server.port", c->peer_port);
	}
	add_peer(rec, c);
	add_version(rec, ex->status ? ex->resp_minor : ex->minor_version);
	if (ex->status)
		span_record_add_int(rec, "http.response.status_code",
				    ex->status);
	/* Client spans: 4xx and 5xx are errors (SPEC.md 5.1). */
	add_error(rec, ex, error, 400);
	add_str0(rec, "otelshim.parent.rule", context_rule_name(ex->rule));
	if (ex->tracestate_len)
		span_record_set_trace_state(rec, ex->tracestate,
					    ex->tracestate_len);
	if (ex->link.valid) {
		memcpy(rec->link_trace_id, ex->link.trace_id, 16);
		memcpy(rec->link_span_id, ex->link.span_id, 8);
		rec->link_flags =
			ex->link.trace_flags | SPAN_FLAGS_HAS_IS_REMOTE;
	}
	exporter_commit(rec);
}

static void finish_client_plain(struct conn *c, struct http_exchange *ex,
				uint64_t end_ns, const char *error)
{
	finish_client_body(c, ex, end_ns, error, 0);
}

static void finish_client_stacks(struct conn *c, struct http_exchange *ex,
				 uint64_t end_ns, const char *error)
{
	finish_client_body(c, ex, end_ns, error, 1);
}

static void (*finish_client)(struct conn *, struct http_exchange *, uint64_t,
			     const char *) = finish_client_plain;

static void finish_server(struct conn *c, struct http_exchange *ex,
			  uint64_t end_ns, const char *error)
{
	struct span_record *rec;
	char path[HTTP_TARGET_MAX], query[HTTP_TARGET_MAX];
	size_t pl = 0, ql = 0;

	context_serve_end(&ex->slot);
	if (!ex->span.sampled)
		return;
	rec = exporter_claim();	/* in place, as for a client span */
	if (!rec)
		return;
	span_fill_record(&ex->span, rec, SPAN_KIND_SERVER, end_ns);
	add_method(rec, ex);
	url_split_target(ex->target, ex->target_len, path, sizeof(path), &pl,
			 query, sizeof(query), &ql);
	span_record_add_str(rec, "url.path", path, pl);
	if (ql || memchr(ex->target, '?', ex->target_len))
		span_record_add_str(rec, "url.query", query, ql);
	ADD_LIT(rec, "url.scheme", "http");
	add_server_from_host(rec, ex);
	add_str0(rec, "client.address", c->peer_addr);
	span_record_add_int(rec, "client.port", c->peer_port);
	add_peer(rec, c);
	add_version(rec, ex->minor_version);
	if (ex->ua_len)
		span_record_add_str(rec, "user_agent.original",
				    ex->user_agent, ex->ua_len);
	if (ex->status)
		span_record_add_int(rec, "http.response.status_code",
				    ex->status);
	/* Server spans: only 5xx and failures are errors (SPEC.md 5.1). */
	add_error(rec, ex, error, 500);
	if (ex->handed_off)
		ADD_LIT(rec, "otelshim.response", "completed_by_child");
	if (ex->tracestate_len)
		span_record_set_trace_state(rec, ex->tracestate,
					    ex->tracestate_len);
	exporter_commit(rec);
}

/*
 * End the oldest exchange. error is NULL on a complete exchange, else a
 * short, low-cardinality error.type for a transport failure.
 */
static void finish_oldest(struct conn *c, uint64_t end_ns, const char *error)
{
	struct http_conn *h = &c->http;
	struct http_exchange *ex = oldest(h);

	if (!ex)
		return;
	pop(h);
	if (c->role == CONN_ROLE_SERVER)
		finish_server(c, ex, end_ns, error);
	else if (ex->span.sampled)
		finish_client(c, ex, end_ns, error);
}

/* End every exchange in flight with a transport error. */
static void fail_all(struct conn *c, uint64_t end_ns, const char *error)
{
	while (c->http.n_inflight)
		finish_oldest(c, end_ns, error);
}

/* Stop tracing the connection; what was in flight is counted, not guessed. */
static void lose(struct conn *c)
{
	struct http_conn *h = &c->http;

	while (h->n_inflight) {
		struct http_exchange *ex = oldest(h);
		if (c->role == CONN_ROLE_SERVER)
			context_serve_end(&ex->slot);
		if (ex->span.sampled)
			exporter_count_untraceable();
		pop(h);
	}
	h->tx.state = HALF_LOST;
	h->rx.state = HALF_LOST;
	__atomic_store_n(&c->proto, CONN_PROTO_OTHER, __ATOMIC_RELAXED);
}

/* ---- head gathering ------------------------------------------------------ */

typedef int (*head_parser)(const char *, size_t, struct http1_head *);

/*
 * Try to complete a head with the bytes p[0..n). On success returns the
 * number of bytes of p that belong to the head (>= 1), fills *hd (views into
 * p or the half's buffer, valid until the next feed) and sets *head and
 * *len to the whole head. Returns -3 when a head still incomplete would
 * not fit (a request that cannot be traced: the caller counts it), -2 when
 * all of p was taken and more is
 * needed, -1 when the bytes cannot be a head (or it outgrows the buffer).
 */
static long gather_head(struct http_half *hf, const char *p, size_t n,
			head_parser parse, struct http1_head *hd,
			const char **head, size_t *len)
{
	int r;

	if (hf->acc_len == 0) {
		r = parse(p, n, hd);
		if (r > 0) {
			*head = p;
			*len = (size_t)r;
			return r;
		}
		if (r == -1)
			return -1;
		if (n > HTTP_ACC_SIZE)
			return -3;
		memcpy(hf->acc, p, n);
		hf->acc_len = (uint16_t)n;
		return -2;
	}
	size_t old = hf->acc_len;
	size_t take = n;
	if (take > HTTP_ACC_SIZE - old)
		take = HTTP_ACC_SIZE - old;
	memcpy(hf->acc + old, p, take);
	hf->acc_len = (uint16_t)(old + take);
	r = parse(hf->acc, hf->acc_len, hd);
	if (r > 0) {
		hf->acc_len = 0;
		*head = hf->acc;
		*len = (size_t)r;
		return (long)((size_t)r - old);
	}
	if (r == -1 || hf->acc_len == HTTP_ACC_SIZE) {
		/* p's bytes were not taken: the buffer holds only the old ones */
		hf->acc_len = (uint16_t)old;
		return r == -1 ? -1 : -3;
	}
	return -2;
}

/* Detection of the first request: 1 yes, 0 need more, -1 not HTTP. */
static int detect(struct http_half *hf, const char *p, size_t n)
{
	char tmp[256];

	if (hf->acc_len == 0)
		return http1_detect_request(p, n);
	/* The request line so far: gathered bytes plus a prefix of p. */
	size_t k = hf->acc_len < sizeof(tmp) ? hf->acc_len : sizeof(tmp);
	memcpy(tmp, hf->acc, k);
	size_t m = n < sizeof(tmp) - k ? n : sizeof(tmp) - k;
	memcpy(tmp + k, p, m);
	return http1_detect_request(tmp, k + m);
}

static void copy_view(char *dst, size_t cap, uint16_t *len,
		      struct http1_str v)
{
	size_t k = v.p ? (v.len < cap ? v.len : cap) : 0;

	copy_short(dst, v.p, k);	/* (methods, hosts: no call) */
	*len = (uint16_t)k;
}

/* Fill the request fields of a new exchange from its head. */
static struct http_exchange *push_exchange(struct conn *c,
					   const struct http1_head *hd)
{
	struct http_conn *h = &c->http;
	struct http_exchange *ex;
	uint16_t ml;

	if (h->n_inflight == HTTP_MAX_INFLIGHT) {
		/* Deeper pipelining than we follow: stop, do not guess. */
		lose(c);
		return NULL;
	}
	ex = &h->ex[(h->first + h->n_inflight) % HTTP_MAX_INFLIGHT];
	h->n_inflight++;
	h->n_requests++;
	ex->method = (int8_t)http1_method_index(hd->method.p, hd->method.len);
	copy_view(ex->method_raw, sizeof(ex->method_raw), &ml, hd->method);
	ex->method_len = (uint8_t)ml;
	copy_view(ex->target, sizeof(ex->target), &ex->target_len, hd->target);
	copy_view(ex->host, sizeof(ex->host), &ex->host_len, hd->host);
	copy_view(ex->user_agent, sizeof(ex->user_agent), &ex->ua_len,
		  hd->user_agent);
	ex->minor_version = (uint8_t)hd->minor_version;
	ex->resp_minor = (uint8_t)hd->minor_version;
	ex->gen = conn_generation;
	ex->forks = __atomic_load_n(&conn_forks, __ATOMIC_RELAXED);
	ex->handed_off = 0;
	ex->status = 0;
	ex->tracestate_len = 0;
	ex->baggage_len = 0;
	ex->link.valid = 0;
	ex->ctx.valid = 0;
	ex->slot.index = -1;
	ex->slot.thread = 0;
	ex->rule = CONTEXT_NONE;
	return ex;
}

/*
 * Set up a half for the body of a request that follows its head. A request
 * whose body length cannot be known (conflicting or invalid framing) makes
 * the half lost: its body must not be mistaken for the next head.
 */
static void request_body(struct http_half *hf, const struct http1_head *hd)
{
	if ((hd->flags & HTTP1_BAD_FRAMING) && !(hd->flags & HTTP1_CHUNKED)) {
		hf->state = HALF_LOST;
		return;
	}
	if (hd->flags & HTTP1_CHUNKED) {
		memset(&hf->chunked, 0, sizeof(hf->chunked));
		hf->state = HALF_BODY_CHUNKED;
	} else if (hd->content_length > 0) {
		hf->remaining = (uint64_t)hd->content_length;
		hf->state = HALF_BODY_LEN;
	} else {
		/* A request without Content-Length or chunking has no body. */
		hf->state = HALF_HEAD;
	}
}

/*
 * Set up a half for the body of the response to ex. Returns 0 when the
 * response has no body (complete now).
 */
static int response_body(struct http_half *hf, const struct http1_head *hd,
			 const struct http_exchange *ex)
{
	if (ex->method == HTTP1_HEAD || hd->status == 204 ||
	    hd->status == 304 ||
	    (ex->method == HTTP1_CONNECT && hd->status >= 200 &&
	     hd->status < 300))
		return 0;
	if (hd->flags & HTTP1_CHUNKED) {
		memset(&hf->chunked, 0, sizeof(hf->chunked));
		hf->state = HALF_BODY_CHUNKED;
		return 1;
	}
	if (hd->content_length >= 0 && !(hd->flags & HTTP1_BAD_FRAMING)) {
		if (hd->content_length == 0)
			return 0;
		hf->remaining = (uint64_t)hd->content_length;
		hf->state = HALF_BODY_LEN;
		return 1;
	}
	hf->state = HALF_BODY_CLOSE;	/* ends with the connection */
	return 1;
}

/*
 * Skip body bytes (p may be NULL for bytes we cannot see, which only works
 * inside a Content-Length body or a chunk's data). Returns how many of n
 * were body, or -1 when the framing cannot be followed.
 */
static long skip_body(struct http_half *hf, const char *p, size_t n)
{
	int done = 0;
	ssize_t k;

	switch (hf->state) {
	case HALF_BODY_LEN:
		k = (ssize_t)(n < hf->remaining ? n : hf->remaining);
		hf->remaining -= (uint64_t)k;
		if (hf->remaining == 0)
			hf->state = HALF_HEAD;
		return k;
	case HALF_BODY_CHUNKED:
		if (!p) {
			if (hf->chunked.remaining < n)
				return -1;
			hf->chunked.remaining -= n;
			return (long)n;
		}
		k = http1_chunked_feed(&hf->chunked, p, n, &done);
		if (k < 0)
			return -1;
		if (done)
			hf->state = HALF_HEAD;
		return k;
	case HALF_BODY_CLOSE:
		return (long)n;
	}
	return 0;
}

/* ---- trace context in and out --------------------------------------------- */

/* The value of header name in a complete, valid head (or NULL). */
static const char *find_header(const char *head, size_t len, const char *name,
			       size_t *vlen)
{
	size_t nl = strlen(name);
	const char *p = memchr(head, '\n', len);
	const char *end = head + len;

	while (p && ++p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			break;
		if ((size_t)(eol - p) > nl && p[nl] == ':' &&
		    !strncasecmp(p, name, nl)) {
			const char *v = p + nl + 1;
			const char *ve = eol;
			if (ve > v && ve[-1] == '\r')
				ve--;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			*vlen = (size_t)(ve - v);
			return v;
		}
		p = eol;
	}
	return NULL;
}

/* tracestate fields of a head, combined into ex (dropped when invalid). */
static void keep_tracestate(struct http_exchange *ex,
			    const struct http1_head *hd)
{
	struct tracecontext_field f[HTTP1_MAX_TRACESTATE];
	int n = hd->n_tracestate;
	int r;

	ex->tracestate_len = 0;
	if (n <= 0 || n > HTTP1_MAX_TRACESTATE)
		return;
	for (int i = 0; i < n; i++) {
		f[i].p = hd->tracestate[i].p;
		f[i].len = hd->tracestate[i].len;
	}
	r = tracecontext_parse_tracestate(f, n, ex->tracestate,
					  sizeof(ex->tracestate));
	if (r > 0)
		ex->tracestate_len = (uint16_t)r;
}

/*
 * The remote parent of a request, per OTEL_PROPAGATORS (SPEC.md 6): a valid
 * traceparent (exactly one) first, then B3 single, then B3 multi.
 */
static void extract(struct http_exchange *ex, const struct http1_head *hd,
		    const char *head, size_t head_len, struct span_ctx *parent)
{
	unsigned prop = config_get()->propagators;
	struct tracecontext tc;
	const char *v, *v2, *v3, *v4;
	size_t l, l2 = 0, l3 = 0, l4 = 0;
	int ok = 0;

	parent->valid = 0;
	if ((prop & PROPAGATE_TRACECONTEXT) && hd->n_traceparent == 1 &&
	    tracecontext_parse_traceparent(hd->traceparent.p,
					   hd->traceparent.len, &tc) == 0) {
		ok = 1;
		keep_tracestate(ex, hd);
	}
	if (!ok && (prop & PROPAGATE_B3) &&
	    (v = find_header(head, head_len, "b3", &l)) &&
	    tracecontext_parse_b3(v, l, &tc) == 0)
		ok = 1;
	if (!ok && (prop & PROPAGATE_B3MULTI) &&
	    (v = find_header(head, head_len, "x-b3-traceid", &l))) {
		v2 = find_header(head, head_len, "x-b3-spanid", &l2);
		v3 = find_header(head, head_len, "x-b3-sampled", &l3);
		v4 = find_header(head, head_len, "x-b3-flags", &l4);
		if (tracecontext_parse_b3multi(v, l, v2, l2, v3, l3, v4, l4,
					       &tc) == 0)
			ok = 1;
	}
	if ((prop & PROPAGATE_BAGGAGE) && hd->baggage.p &&
	    hd->baggage.len <= sizeof(ex->baggage)) {
		memcpy(ex->baggage, hd->baggage.p, hd->baggage.len);
		ex->baggage_len = (uint16_t)hd->baggage.len;
	}
	if (!ok)
		return;
	memcpy(parent->trace_id, tc.trace_id, 16);
	memcpy(parent->span_id, tc.span_id, 8);
	parent->trace_flags = tc.flags;
	parent->remote = 1;
	parent->valid = 1;
}

/* The context children inherit from a server exchange. */
static void publish_context(struct http_exchange *ex)
{
	span_context(&ex->span, &ex->ctx);
	if (ex->tracestate_len) {
		ex->ctx.tracestate = ex->tracestate;
		ex->ctx.tracestate_len = ex->tracestate_len;
	}
	if (ex->baggage_len) {
		ex->ctx.baggage = ex->baggage;
		ex->ctx.baggage_len = ex->baggage_len;
	}
}

/*
 * Choose the parent of a client exchange and start its span. app_tp is the
 * program's own traceparent (or NULL): it is the parent when nothing else
 * is (the program propagates by hand).
 */
static inline __attribute__((always_inline)) void
start_client_body(struct conn *c, struct http_exchange *ex,
		  const struct http1_head *hd, uint64_t start_ns,
		  const int stacks)
{
	struct http_conn *h = &c->http;
	struct span_ctx parent, *bound = NULL;
	struct tracecontext tc;

	if (h->n_requests == 1 && h->binding.valid)
		bound = &h->binding;
	if (h->n_requests == 1 && !bound &&
	    h->binding_rule == CONTEXT_AMBIGUOUS) {
		/*
		 * Opened while several requests were candidates: whichever turn
		 * its first request is written in (a non-blocking connect
		 * completes later, amid other requests), that turn says nothing
		 * about which request opened it. Do not guess.
		 */
		parent.valid = 0;
		ex->link.valid = 0;
		ex->rule = CONTEXT_AMBIGUOUS;
	} else {
		ex->rule = (uint8_t)context_parent(bound, &parent, &ex->link);
	}
	if (!parent.valid && ex->rule != CONTEXT_AMBIGUOUS &&
	    ex->rule != CONTEXT_HANDOFF && hd->n_traceparent == 1 &&
	    tracecontext_parse_traceparent(hd->traceparent.p,
					   hd->traceparent.len, &tc) == 0) {
		memcpy(parent.trace_id, tc.trace_id, 16);
		memcpy(parent.span_id, tc.span_id, 8);
		parent.trace_flags = tc.flags;
		parent.remote = 1;
		parent.valid = 1;
		parent.tracestate = NULL;
		parent.tracestate_len = 0;
		parent.baggage = NULL;
		parent.baggage_len = 0;
		ex->rule = CONTEXT_HEADER;
	}
	span_start(&ex->span, &parent, start_ns);
	/* Where in the program: its send call, and the stack if the mode
	   takes it at the start (the span ends in a later call). */
	if (stacks) {
		ex->caller = shim_tls.caller;
		if (ex->span.sampled)
			stack_begin(&ex->stack);
	}
	/* Our span carries the parent's tracestate and baggage onwards. */
	if (parent.valid && parent.tracestate_len &&
	    parent.tracestate_len <= sizeof(ex->tracestate)) {
		memcpy(ex->tracestate, parent.tracestate,
		       parent.tracestate_len);
		ex->tracestate_len = parent.tracestate_len;
	}
	if (parent.valid && parent.baggage_len &&
	    parent.baggage_len <= sizeof(ex->baggage)) {
		memcpy(ex->baggage, parent.baggage, parent.baggage_len);
		ex->baggage_len = parent.baggage_len;
	}
}

static void start_client_plain(struct conn *c, struct http_exchange *ex,
			       const struct http1_head *hd, uint64_t start_ns)
{
	start_client_body(c, ex, hd, start_ns, 0);
}

static void start_client_stacks(struct conn *c, struct http_exchange *ex,
				const struct http1_head *hd, uint64_t start_ns)
{
	start_client_body(c, ex, hd, start_ns, 1);
}

static void (*start_client)(struct conn *, struct http_exchange *,
			    const struct http1_head *,
			    uint64_t) = start_client_plain;

void http_conn_use_stacks(int on)
{
	start_client = on ? start_client_stacks : start_client_plain;
	finish_client = on ? finish_client_stacks : finish_client_plain;
}

/* Append s[0..n) to out at *k if it fits; returns 0 or -1. */
static int put(char *out, size_t cap, size_t *k, const char *s, size_t n)
{
	if (n > cap - *k)
		return -1;
	memcpy(out + *k, s, n);
	*k += n;
	return 0;
}

/* "name: v" and the line end, whole or not at all (-1). */
static inline int put_line(char *out, size_t cap, size_t *k,
			   const char *name, const char *v, size_t vl,
			   const char *eol)
{
	size_t nl = strlen(name), el = eol[1] ? 2 : 1;
	size_t n = nl + 2 + vl + el;
	char *o = out + *k;

	if (n > cap - *k)
		return -1;
	memcpy(o, name, nl);
	o[nl] = ':';
	o[nl + 1] = ' ';
	memcpy(o + nl + 2, v, vl);
	o[nl + 2 + vl] = eol[0];	/* "\r\n" or "\n" */
	if (el == 2)
		o[nl + 3 + vl] = eol[1];
	*k += n;
	return 0;
}

static int is_header(const char *line, size_t len, const char *name)
{
	size_t nl = strlen(name);

	return len > nl && line[nl] == ':' && !strncasecmp(line, name, nl);
}

/*
 * Whether the program's head has none of the lines rewrite_head() replaces,
 * drops or defers to: the parser counted the trace-context ones (a line it
 * did not count, such as "traceparent :", makes the whole head invalid);
 * it does not look for the B3 ones.
 */
static int head_untouched(const struct http1_head *hd, unsigned prop)
{
	return !(prop & (PROPAGATE_B3 | PROPAGATE_B3MULTI)) &&
	       hd->n_traceparent == 0 && hd->n_tracestate == 0 &&
	       !hd->baggage.p;
}

/*
 * Write into out the request head head[0..len) minus its last `keep` bytes,
 * with our trace-context lines for ex: the first traceparent line is
 * replaced in place, later ones dropped; the others are added before the
 * final line terminator unless the program wrote its own. untouched is
 * head_untouched() of the head: its lines are then copied without a look.
 * Returns the length written, or -1 when it does not fit (the head then
 * goes out unchanged).
 */
static long rewrite_head(char *out, size_t cap, const char *head, size_t len,
			 size_t keep, const struct http_exchange *ex,
			 int untouched)
{
	unsigned prop = config_get()->propagators;
	char tp[TRACEPARENT_LEN + 1], b3[64], hex[33];
	const char *eol;
	const char *end = head + len;
	const char *p;
	size_t k = 0, term;
	int seen_tp = 0, has_ts = 0, has_bg = 0, has_b3 = 0, has_b3m = 0;

	tracecontext_format_traceparent(ex->span.trace_id, ex->span.span_id,
					ex->span.trace_flags, tp);
	/* the final terminator: "\r\n" or "\n" after the last header line */
	term = (len >= 2 && head[len - 2] == '\r') ? 2 : 1;
	eol = memchr(head, '\n', len);
	const char *nl = (eol > head && eol[-1] == '\r') ? "\r\n" : "\n";
	/* the request line */
	p = eol + 1;
	if (untouched) {
		/* no line to replace or to look at: the head in one copy */
		if (put(out, cap, &k, head, len - term) < 0)
			return -1;
		p = end - term;
	} else if (put(out, cap, &k, head, (size_t)(p - head)) < 0) {
		return -1;
	}
	while (p < end - term) {
		const char *e = memchr(p, '\n', (size_t)(end - p)) + 1;
		size_t ll = (size_t)(e - p);
		if ((prop & PROPAGATE_TRACECONTEXT) &&
		    is_header(p, ll, "traceparent")) {
			if (!seen_tp &&
			    put_line(out, cap, &k, "traceparent", tp,
				     TRACEPARENT_LEN, nl) < 0)
				return -1;
			seen_tp = 1;
			p = e;
			continue;
		}
		has_ts |= is_header(p, ll, "tracestate");
		has_bg |= is_header(p, ll, "baggage");
		has_b3 |= is_header(p, ll, "b3");
		has_b3m |= is_header(p, ll, "x-b3-traceid");
		if (put(out, cap, &k, p, ll) < 0)
			return -1;
		p = e;
	}
	if ((prop & PROPAGATE_TRACECONTEXT) && !seen_tp &&
	    put_line(out, cap, &k, "traceparent", tp, TRACEPARENT_LEN, nl) < 0)
		return -1;
	if ((prop & PROPAGATE_TRACECONTEXT) && !has_ts && ex->tracestate_len &&
	    put_line(out, cap, &k, "tracestate", ex->tracestate,
		     ex->tracestate_len, nl) < 0)
		return -1;
	if ((prop & PROPAGATE_BAGGAGE) && !has_bg && ex->baggage_len &&
	    put_line(out, cap, &k, "baggage", ex->baggage, ex->baggage_len,
		     nl) < 0)
		return -1;
	if ((prop & PROPAGATE_B3) && !has_b3) {
		size_t bl = tracecontext_format_b3(ex->span.trace_id,
						   ex->span.span_id,
						   ex->span.sampled, b3);
		if (put_line(out, cap, &k, "b3", b3, bl, nl) < 0)
			return -1;
	}
	if ((prop & PROPAGATE_B3MULTI) && !has_b3m) {
		tracecontext_hex(ex->span.trace_id, 16, hex);
		if (put_line(out, cap, &k, "X-B3-TraceId", hex, 32, nl) < 0)
			return -1;
		tracecontext_hex(ex->span.span_id, 8, hex);
		if (put_line(out, cap, &k, "X-B3-SpanId", hex, 16, nl) < 0 ||
		    put_line(out, cap, &k, "X-B3-Sampled",
			     ex->span.sampled ? "1" : "0", 1, nl) < 0)
			return -1;
	}
	/* the part of the terminator that is not kept by the program */
	if (put(out, cap, &k, end - term, term - keep) < 0)
		return -1;
	return (long)k;
}

/* ---- client: requests sent ---------------------------------------------- */

/*
 * Observe a request head that went out unchanged (tests, or a head we could
 * not rewrite) and open its exchange.
 */
static int client_head_observed(struct conn *c, const struct http1_head *hd,
				uint64_t start_ns)
{
	struct http_exchange *ex = push_exchange(c, hd);

	if (!ex)
		return -1;
	start_client(c, ex, hd, start_ns);
	request_body(&c->http.tx, hd);
	return 0;
}

/* Feed bytes that went out unchanged on a client connection. */
static void client_sent(struct conn *c, const char *p, size_t n, uint64_t now)
{
	struct http_half *hf = &c->http.tx;
	struct http1_head hd;
	const char *head;
	size_t head_len;
	long k;

	while (n > 0 && hf->state != HALF_LOST) {
		if (hf->state != HALF_HEAD) {
			k = skip_body(hf, p, n);
			if (k < 0) {
				lose(c);
				return;
			}
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (hf->acc_len == 0)
			hf->head_start_ns = now;
		if (c->proto == CONN_PROTO_DETECT) {
			int d = detect(hf, p, n);
			if (d < 0) {
				lose(c);
				return;
			}
		}
		k = gather_head(hf, p, n, http1_parse_request, &hd, &head,
				&head_len);
		if (k == -2)
			return;
		if (k < 0) {
			lose(c);
			return;
		}
		c->proto = CONN_PROTO_HTTP;
		if (client_head_observed(c, &hd, hf->head_start_ns) < 0)
			return;
		p += k;
		n -= (size_t)k;
	}
}

/* ---- client: responses received ----------------------------------------- */

static void client_received(struct conn *c, const char *p, size_t n,
			    uint64_t now)
{
	struct http_conn *h = &c->http;
	struct http_half *hf = &h->rx;
	struct http1_head hd;
	const char *head;
	size_t head_len;
	long k;

	while (n > 0 && hf->state != HALF_LOST) {
		if (hf->state != HALF_HEAD) {
			k = skip_body(hf, p, n);
			if (k < 0) {
				lose(c);
				return;
			}
			p += k;
			n -= (size_t)k;
			if (hf->state == HALF_HEAD)
				finish_oldest(c, now, NULL);
			continue;
		}
		struct http_exchange *ex = oldest(h);
		if (!ex) {
			/* A response to nothing we saw: stop, do not guess. */
			lose(c);
			return;
		}
		k = gather_head(hf, p, n, http1_parse_response, &hd, &head,
				&head_len);
		if (k == -2)
			return;
		if (k < 0) {
			lose(c);
			return;
		}
		p += k;
		n -= (size_t)k;
		if (hd.status < 200 && hd.status != 101)
			continue;	/* interim (100 Continue, 103) */
		ex->status = hd.status;
		ex->resp_minor = (uint8_t)hd.minor_version;
		if (hd.status == 101) {
			/* Upgraded to another protocol: this is the end. */
			finish_oldest(c, now, NULL);
			lose(c);
			return;
		}
		if (!response_body(hf, &hd, ex))
			finish_oldest(c, now, NULL);
	}
}

/* ---- server: requests received ------------------------------------------ */

static void server_received(struct conn *c, const char *p, size_t n,
			    uint64_t now)
{
	struct http_half *hf = &c->http.rx;
	struct http1_head hd;
	const char *head;
	size_t head_len;
	long k;

	while (n > 0 && hf->state != HALF_LOST) {
		if (hf->state != HALF_HEAD) {
			/* the body of the newest request: a turn candidate */
			struct http_conn *hc = &c->http;
			if (hc->n_inflight)
				context_serve_read(
					&hc->ex[(hc->first + hc->n_inflight -
						 1) % HTTP_MAX_INFLIGHT].ctx);
			k = skip_body(hf, p, n);
			if (k < 0) {
				lose(c);
				return;
			}
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (hf->acc_len == 0)
			hf->head_start_ns = now;
		if (c->proto == CONN_PROTO_DETECT) {
			int d = detect(hf, p, n);
			if (d < 0) {
				lose(c);
				return;
			}
		}
		k = gather_head(hf, p, n, http1_parse_request, &hd, &head,
				&head_len);
		if (k == -2)
			return;
		if (k < 0) {
			/* a request too large to follow: not silently lost */
			if (k == -3)
				exporter_count_untraceable();
			lose(c);
			return;
		}
		c->proto = CONN_PROTO_HTTP;
		struct http_exchange *ex = push_exchange(c, &hd);
		if (!ex)
			return;
		struct span_ctx parent;
		extract(ex, &hd, head, head_len, &parent);
		span_start(&ex->span, &parent, hf->head_start_ns);
		publish_context(ex);
		context_serve_begin(&ex->ctx, &ex->slot);
		request_body(hf, &hd);
		p += k;
		n -= (size_t)k;
	}
}

/* ---- server: responses sent ----------------------------------------------- */

static void server_sent(struct conn *c, const char *p, size_t n)
{
	struct http_conn *h = &c->http;
	struct http_half *hf = &h->tx;
	struct http1_head hd;
	const char *head;
	size_t head_len;
	long k;

	while (n > 0 && hf->state != HALF_LOST) {
		if (hf->state != HALF_HEAD) {
			k = skip_body(hf, p, n);
			if (k < 0) {
				lose(c);
				return;
			}
			if (p)
				p += k;
			n -= (size_t)k;
			if (hf->state == HALF_HEAD)
				finish_oldest(c, clock_real_ns(), NULL);
			continue;
		}
		struct http_exchange *ex = oldest(h);
		if (!ex || !p) {
			/* A response before any request, or a head we cannot
			 * see (sendfile): stop, do not guess. */
			lose(c);
			return;
		}
		k = gather_head(hf, p, n, http1_parse_response, &hd, &head,
				&head_len);
		if (k == -2)
			return;
		if (k < 0) {
			lose(c);
			return;
		}
		p += k;
		n -= (size_t)k;
		if (hd.status < 200 && hd.status != 101)
			continue;	/* 100 Continue, 103 Early Hints */
		ex->status = hd.status;
		if (hd.status == 101) {
			finish_oldest(c, clock_real_ns(), NULL);
			lose(c);
			return;
		}
		if (!response_body(hf, &hd, ex))
			finish_oldest(c, clock_real_ns(), NULL);
	}
}

/* ---- client: the rewriting send path ---------------------------------------- */

int http_conn_send_intercepts(const struct conn *c)
{
	return c->role == CONN_ROLE_CLIENT &&
	       (c->proto == CONN_PROTO_DETECT || c->proto == CONN_PROTO_HTTP ||
		c->http.pend_len);
}

/* Bytes [from, from+n) of the program's iov as up to max iovecs. */
static int slice(const struct iovec *iov, int iovcnt, size_t from, size_t n,
		 struct iovec *out, int max)
{
	int k = 0;

	for (int i = 0; i < iovcnt && n > 0 && k < max; i++) {
		size_t l = iov[i].iov_len;
		if (from >= l) {
			from -= l;
			continue;
		}
		size_t take = l - from < n ? l - from : n;
		out[k].iov_base = (char *)iov[i].iov_base + from;
		out[k].iov_len = take;
		k++;
		n -= take;
		from = 0;
	}
	return k;
}

/* Where a chunked body ends in iov from off: a copy of its scanner. */
static size_t chunked_rawable(const struct http_half *hf,
			      const struct iovec *iov, int iovcnt, size_t off,
			      size_t avail)
{
	struct http1_chunked tmp = hf->chunked;
	size_t n = 0, from = off;
	int done = 0;

	for (int i = 0; i < iovcnt && !done; i++) {
		size_t l = iov[i].iov_len;
		if (from >= l) {
			from -= l;
			continue;
		}
		ssize_t k = http1_chunked_feed(
			&tmp, (const char *)iov[i].iov_base + from, l - from,
			&done);
		if (k < 0)
			return avail;	/* lost: all raw */
		n += (size_t)k;
		from = 0;
	}
	return n;
}

/*
 * How many of the program's bytes from offset off can go out unchanged now:
 * inside a body, its rest (as far as this call has it); at a head, none.
 * Inline: at a head, the usual case, that is a few tests and a 0.
 */
static inline size_t body_rawable(struct conn *c, const struct iovec *iov,
				  int iovcnt, size_t off, size_t total)
{
	struct http_half *hf = &c->http.tx;
	size_t avail = total - off;

	if (hf->state == HALF_LOST || c->proto == CONN_PROTO_OTHER)
		return avail;
	switch (hf->state) {
	case HALF_BODY_LEN:
		return avail < hf->remaining ? avail : (size_t)hf->remaining;
	case HALF_BODY_CHUNKED:
		return chunked_rawable(hf, iov, iovcnt, off, avail);
	case HALF_BODY_CLOSE:
		return avail;
	}
	return 0;
}

static size_t rawable(struct conn *c, const struct iovec *iov, int iovcnt,
		      size_t off, size_t total)
{
	size_t t = c->http.tail;

	if (t >= total - off)
		return total - off;
	return t + body_rawable(c, iov, iovcnt, off + t, total);
}

/* Feed n bytes at offset off that went out unchanged. */
static void fed_raw(struct conn *c, const struct iovec *iov, int iovcnt,
		    size_t off, size_t n, uint64_t now)
{
	struct iovec part[64];
	size_t t = c->http.tail < n ? c->http.tail : n;

	c->http.tail = (uint32_t)(c->http.tail - t);
	off += t;
	n -= t;
	/* in slices of 64: a writev may carry up to IOV_MAX (1024) pieces */
	while (n > 0) {
		int k = slice(iov, iovcnt, off, n, part, 64);
		if (k == 0)
			break;
		for (int i = 0; i < k; i++) {
			client_sent(c, part[i].iov_base, part[i].iov_len, now);
			off += part[i].iov_len;
			n -= part[i].iov_len;
		}
	}
}

static int nonblocking(const struct http_send_call *call)
{
	if (call->flags & MSG_DONTWAIT)
		return 1;
	int fl = fcntl(call->fd, F_GETFL);
	return fl >= 0 && (fl & O_NONBLOCK);
}

/*
 * A head is being written: gather the program's bytes from off. Returns the
 * number of the program's bytes taken (claimed) by this step, with the head
 * either still incomplete (all taken and held) or rewritten into owed bytes.
 * Returns 0 when the connection turned out not to be HTTP (held bytes are
 * then owed unchanged) or cannot be followed.
 */
static size_t head_step(struct conn *c, const struct iovec *iov, int iovcnt,
			size_t off, size_t total, uint64_t now)
{
	struct http_conn *h = &c->http;
	struct http_half *hf = &h->tx;
	struct iovec part[64];
	int np = slice(iov, iovcnt, off, total - off, part, 64);
	size_t taken = 0;

	/* After our destructor: what we hold goes out as it is, and the
	   connection is passed through from now on. */
	if (!init_is_active())
		goto not_http;
	if (hf->acc_len == 0)
		hf->head_start_ns = now;
	for (int i = 0; i < np; i++) {
		const char *p = part[i].iov_base;
		size_t n = part[i].iov_len;
		struct http1_head hd;
		const char *head;
		size_t head_len;

		if (c->proto == CONN_PROTO_DETECT && detect(hf, p, n) < 0)
			goto not_http;
		long k = gather_head(hf, p, n, http1_parse_request, &hd, &head,
				     &head_len);
		if (k == -2) {
			taken += n;
			continue;
		}
		if (k == -3)
			exporter_count_untraceable();	/* too large to follow */
		if (k < 0)
			goto not_http;
		c->proto = CONN_PROTO_HTTP;
		struct http_exchange *ex = push_exchange(c, &hd);
		if (!ex) {
			/*
			 * Pipelined deeper than we follow: the connection is
			 * passed through from now on, but the bytes of this
			 * head held from earlier calls were reported sent:
			 * they are owed, unchanged, before this piece.
			 */
			size_t held = head_len - (size_t)k;
			if (held && head == hf->acc) {
				memcpy(h->out, hf->acc, held);
				h->pend_off = 0;
				h->pend_len = (uint32_t)held;
			}
			return taken;
		}
		start_client(c, ex, &hd, hf->head_start_ns);
		/* The program keeps the bytes of the final terminator that are
		 * in this piece: it will always send again after our bytes. */
		size_t term = head_len >= 2 && head[head_len - 2] == '\r' ? 2
									  : 1;
		size_t keep = term < (size_t)k ? term : (size_t)k;
		if (head_len - keep > sizeof(h->out)) {
			/*
			 * A head larger than our buffer, whole in this call (a
			 * head gathered across calls always fits): it goes out
			 * as the program wrote it, without our header lines,
			 * and is still traced. Its bytes are the tail.
			 */
			h->pend_off = 0;
			h->pend_len = 0;
			request_body(hf, &hd);
			h->tail = (uint32_t)k;
			return taken;
		}
		long w = rewrite_head(h->out, sizeof(h->out), head, head_len,
				      keep, ex,
				      head_untouched(&hd,
						     config_get()->propagators));
		if (w < 0) {
			/* no room: the head goes out as the program wrote it */
			memcpy(h->out, head, head_len - keep);
			w = (long)(head_len - keep);
		}
		h->pend_off = 0;
		h->pend_len = (uint32_t)w;
		request_body(hf, &hd);
		/* the kept tail is sent raw first: remember it as owed by the
		 * program (it is in its buffer) by leaving it unclaimed */
		h->tail = (uint32_t)keep;
		return taken + (size_t)k - keep;
	}
	return taken;

not_http:
	/* Held bytes go out unchanged before anything else. */
	memcpy(h->out, hf->acc, hf->acc_len);
	h->pend_off = 0;
	h->pend_len = hf->acc_len;
	hf->acc_len = 0;
	lose(c);
	return taken;
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t t = 0;

	for (int i = 0; i < iovcnt; i++)
		t += iov[i].iov_len;
	return t;
}

static int hard_error(int e)
{
	return e != EAGAIN && e != EWOULDBLOCK && e != EINTR;
}

/*
 * The send path of a client connection (see the comment at the top). The
 * loop alternates two steps: send what is owed plus the program's bytes
 * that may go out unchanged, or take a request head. It returns as soon as
 * a send is short, with the count of the program's bytes consumed; on a
 * blocking socket a short send of owed bytes alone is retried, as the
 * kernel would have blocked.
 */
static ssize_t send_path(struct conn *c, const struct http_send_call *call,
			 const struct iovec *iov, int iovcnt);
static int holding(const struct conn *c);
static void note_held(struct conn *c, int fd);

ssize_t http_conn_send(struct conn *c, const struct http_send_call *call,
		       const struct iovec *iov, int iovcnt)
{
	ssize_t r = send_path(c, call, iov, iovcnt);

	if (holding(c)) {
		int e = errno;
		note_held(c, call->fd);
		errno = e;
	}
	return r;
}

static ssize_t send_path(struct conn *c, const struct http_send_call *call,
			 const struct iovec *iov, int iovcnt)
{
	struct http_conn *h = &c->http;
	size_t total = iov_total(iov, iovcnt);
	size_t off = 0;
	uint64_t now = clock_real_ns();
	int saved_errno = errno;
	int progress = 0;	/* some byte reached the socket in this call */

	if (!h->pend_len && rawable(c, iov, iovcnt, 0, total) == total) {
		/* The usual case inside a body: the program's own call. */
		ssize_t r = call->plain(call, iov, iovcnt);
		int e = errno;
		if (r > 0)
			fed_raw(c, iov, iovcnt, 0, (size_t)r, now);
		else if (r < 0 && hard_error(e))
			http_conn_on_error(c, e, now);
		errno = e;
		return r;
	}
	for (;;) {
		size_t raw = off < total ? rawable(c, iov, iovcnt, off, total)
					 : 0;
		if (h->pend_len || raw) {
			struct iovec v[65];
			int nv = 0;
			size_t owed = h->pend_len;
			if (owed) {
				v[0].iov_base = h->out + h->pend_off;
				v[0].iov_len = owed;
				nv = 1;
			}
			nv += slice(iov, iovcnt, off, raw, v + nv, 64);
			ssize_t r = call->plain(call, v, nv);
			if (r <= 0) {
				int e = r < 0 ? errno : EAGAIN;
				if (hard_error(e)) {
					/*
					 * The connection is dead. Unless some
					 * byte of this call went out, the
					 * program must see the error exactly
					 * as without us (EPIPE, ECONNRESET),
					 * not its held bytes counted as sent.
					 */
					http_conn_on_error(c, e, now);
					h->pend_len = 0;
					if (!progress)
						off = 0;
				}
				if (off) {
					errno = saved_errno;
					return (ssize_t)off;
				}
				errno = e;
				return -1;
			}
			progress = 1;
			size_t ours = (size_t)r < owed ? (size_t)r : owed;
			size_t mine = (size_t)r - ours;
			h->pend_off += (uint32_t)ours;
			h->pend_len -= (uint32_t)ours;
			if (mine) {
				fed_raw(c, iov, iovcnt, off, mine, now);
				off += mine;
			}
			if (h->pend_len || mine < raw) {
				if (off) {
					errno = saved_errno;
					return (ssize_t)off;
				}
				if (nonblocking(call)) {
					errno = EAGAIN;
					return -1;
				}
			}
			continue;
		}
		if (off == total)
			break;
		size_t claimed = head_step(c, iov, iovcnt, off, total, now);
		off += claimed;
		if (!h->pend_len && !h->tail && claimed == 0 &&
		    c->proto != CONN_PROTO_OTHER) {
			/* cannot follow (pipelining too deep): raw from now */
			lose(c);
		}
	}
	errno = saved_errno;
	return (ssize_t)off;
}

void http_conn_flush(struct conn *c, int fd)
{
	struct http_conn *h = &c->http;

	/*
	 * Head bytes still held (the program sent part of a head, then ends
	 * the stream): they are the program's, and go out unchanged. Bytes
	 * are held only while nothing is owed, so they fit.
	 */
	if (c->role == CONN_ROLE_CLIENT && h->tx.state == HALF_HEAD &&
	    h->tx.acc_len && !h->pend_len) {
		memcpy(h->out, h->tx.acc, h->tx.acc_len);
		h->pend_off = 0;
		h->pend_len = h->tx.acc_len;
		h->tx.acc_len = 0;
		lose(c);
	}
	while (h->pend_len) {
		ssize_t r = REAL(send)(fd, h->out + h->pend_off, h->pend_len,
				       MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r <= 0)
			break;
		h->pend_off += (uint32_t)r;
		h->pend_len -= (uint32_t)r;
	}
	h->pend_len = 0;
}

/* ---- heads held across calls ---------------------------------------------------- */

/*
 * Head bytes a program wrote are held (claimed, not yet sent) until the
 * head is complete. A real HTTP client always completes its head before it
 * waits for anything; a program that waits with part of a "head" unsent is
 * not one (it sent "stats" and waits for the answer), and holding its bytes
 * would hang it. So every thread remembers the connections it holds bytes
 * for, and the moment it reads or waits, they go out unchanged.
 */
#define HELD_MAX 8

static __thread struct {
	struct conn *c;
	int fd;
} held[HELD_MAX] __attribute__((tls_model("initial-exec")));

static int holding(const struct conn *c)
{
	const struct http_conn *h = &c->http;

	return c->role == CONN_ROLE_CLIENT && h->tx.state == HALF_HEAD &&
	       h->tx.acc_len && !h->pend_len;
}

static void note_held(struct conn *c, int fd)
{
	int k = 0;

	/* forget the connections whose heads were completed since */
	for (int i = 0; i < shim_tls.n_held; i++)
		if (conn_get(held[i].fd) == held[i].c && holding(held[i].c))
			held[k++] = held[i];
	shim_tls.n_held = k;
	for (int i = 0; i < k; i++)
		if (held[i].c == c && held[i].fd == fd)
			return;
	if (shim_tls.n_held == HELD_MAX) {
		http_conn_flush(c, fd);	/* no room to remember: let go */
		return;
	}
	held[shim_tls.n_held].c = c;
	held[shim_tls.n_held].fd = fd;
	shim_tls.n_held++;
}

void http_conn_release_held(void)
{
	for (int i = 0; i < shim_tls.n_held; i++) {
		struct conn *c = held[i].c;
		/* still that descriptor's connection, still holding? */
		if (conn_get(held[i].fd) == c && holding(c))
			http_conn_flush(c, held[i].fd);
	}
	shim_tls.n_held = 0;
}

/* ---- entry points -------------------------------------------------------- */

void http_conn_on_connect(struct conn *c)
{
	struct http_conn *h = &c->http;

	h->binding_rule = (uint8_t)context_bind(&h->binding);
	if (!h->binding.valid)
		return;
	if (h->binding.tracestate_len &&
	    h->binding.tracestate_len <= sizeof(h->binding_tracestate)) {
		memcpy(h->binding_tracestate, h->binding.tracestate,
		       h->binding.tracestate_len);
		h->binding.tracestate = h->binding_tracestate;
	} else {
		h->binding.tracestate = NULL;
		h->binding.tracestate_len = 0;
	}
	if (h->binding.baggage_len &&
	    h->binding.baggage_len <= sizeof(h->binding_baggage)) {
		memcpy(h->binding_baggage, h->binding.baggage,
		       h->binding.baggage_len);
		h->binding.baggage = h->binding_baggage;
	} else {
		h->binding.baggage = NULL;
		h->binding.baggage_len = 0;
	}
}

void http_conn_on_send(struct conn *c, const struct iovec *iov, int iovcnt,
		       size_t n, uint64_t now)
{
	for (int i = 0; i < iovcnt && n > 0; i++) {
		size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;
		if (k) {
			if (c->role == CONN_ROLE_CLIENT)
				client_sent(c, iov[i].iov_base, k, now);
			else if (c->role == CONN_ROLE_SERVER &&
				 c->proto == CONN_PROTO_HTTP)
				server_sent(c, iov[i].iov_base, k);
		}
		n -= k;
		if (c->proto == CONN_PROTO_OTHER)
			return;
	}
}

void http_conn_on_send_opaque(struct conn *c, size_t n, uint64_t now)
{
	(void)now;
	if (c->proto != CONN_PROTO_HTTP)
		return;
	if (c->role == CONN_ROLE_SERVER)
		server_sent(c, NULL, n);
	else if (c->http.tx.state != HALF_LOST &&
		 skip_body(&c->http.tx, NULL, n) != (long)n)
		lose(c);
}

void http_conn_on_recv(struct conn *c, const struct iovec *iov, int iovcnt,
		       size_t n, uint64_t now)
{
	for (int i = 0; i < iovcnt && n > 0; i++) {
		size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;
		if (k) {
			if (c->role == CONN_ROLE_SERVER)
				server_received(c, iov[i].iov_base, k, now);
			else if (c->role == CONN_ROLE_CLIENT &&
				 c->proto == CONN_PROTO_HTTP)
				client_received(c, iov[i].iov_base, k, now);
		}
		n -= k;
		if (c->proto == CONN_PROTO_OTHER)
			return;
	}
}

void http_conn_on_eof(struct conn *c, uint64_t now)
{
	struct http_conn *h = &c->http;

	if (c->proto != CONN_PROTO_HTTP)
		return;
	if (c->role == CONN_ROLE_CLIENT) {
		if (h->rx.state == HALF_BODY_CLOSE) {
			finish_oldest(c, now, NULL);
			h->rx.state = HALF_HEAD;
		}
		fail_all(c, now, "response_incomplete");
	}
	/* Server: a client that half-closes after its request still gets
	 * its response; the exchange ends when that is written or closed. */
}

static const char *errno_type(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return "connection_refused";
	case ECONNRESET:
		return "connection_reset";
	case ETIMEDOUT:
		return "timed_out";
	case EPIPE:
		return "broken_pipe";
	case ECONNABORTED:
		return "connection_aborted";
	case ENETUNREACH:
		return "network_unreachable";
	case EHOSTUNREACH:
		return "host_unreachable";
	default:
		return "_OTHER";
	}
}

void http_conn_on_error(struct conn *c, int err, uint64_t now)
{
	if (c->proto != CONN_PROTO_HTTP)
		return;
	fail_all(c, now, errno_type(err));
}

/* The status of a response head not yet complete ("HTTP/1.0 200 ..."). */
static int partial_status(const struct http_half *hf)
{
	const char *a = hf->acc;

	if (hf->state != HALF_HEAD || hf->acc_len < 13 ||
	    memcmp(a, "HTTP/1.", 7) != 0 || a[8] != ' ' || a[12] != ' ')
		return 0;
	for (int i = 9; i < 12; i++)
		if (a[i] < '0' || a[i] > '9')
			return 0;
	return (a[9] - '0') * 100 + (a[10] - '0') * 10 + (a[11] - '0');
}

void http_conn_on_close(struct conn *c, uint64_t now)
{
	struct http_conn *h = &c->http;

	if (c->proto != CONN_PROTO_HTTP)
		return;
	/* The parent's exchanges (a forked child closing its copy): the
	   parent ends them, and its serving entry stays for exec. */
	while (h->n_inflight && oldest(h)->gen != conn_generation)
		pop(h);
	while (h->n_inflight) {
		struct http_exchange *ex = oldest(h);
		if (c->role == CONN_ROLE_SERVER) {
			/* A close-delimited response ends with the close. */
			int done = ex->status && h->tx.state == HALF_BODY_CLOSE;
			if (!done && ex->forks !=
					     __atomic_load_n(&conn_forks,
							     __ATOMIC_RELAXED)) {
				/*
				 * A child forked while this request was
				 * served still holds the socket (a CGI
				 * server: the script writes the rest). The
				 * response is the child's to finish: not an
				 * error here; the status, if its line was
				 * written by us.
				 */
				if (!ex->status)
					ex->status = partial_status(&h->tx);
				ex->handed_off = 1;
				finish_oldest(c, now, NULL);
				h->tx.state = HALF_HEAD;
				continue;
			}
			finish_oldest(c, now,
				      done ? NULL
					   : ex->status ? "response_incomplete"
							: "closed_before_response");
			h->tx.state = HALF_HEAD;
			continue;
		}
		/*
		 * The program closed its client socket. A response whose head
		 * arrived is the program's choice to stop reading (not an
		 * error); an exchange still waiting for its response is.
		 */
		finish_oldest(c, now,
			      ex->status ? NULL : "closed_before_response");
	}
}
