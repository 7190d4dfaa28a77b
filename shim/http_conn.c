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
 * On a client connection the sent direction carries requests and the
 * received one responses; a request opens an exchange, its response closes
 * it (FIFO, so pipelining works). Server connections come with server spans
 * (a later change); until then their bytes are ignored.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"
#include "http_conn.h"
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
	h->tx.state = HALF_HEAD;
	h->tx.acc_len = 0;
	h->tx.head_start_ns = 0;
	h->rx.state = HALF_HEAD;
	h->rx.acc_len = 0;
	h->rx.head_start_ns = 0;
}

static struct http_exchange *oldest(struct http_conn *h)
{
	return h->n_inflight ? &h->ex[h->first] : NULL;
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

static void add_client_attrs(struct span_record *r, const struct conn *c,
			     const struct http_exchange *ex)
{
	char url[HTTP_TARGET_MAX + HTTP_HOST_MAX + 16];
	const char *host = NULL;
	size_t host_len = 0, n;
	int port = -1;

	if (ex->method >= 0) {
		const char *m = http1_method_name(ex->method);
		span_record_add_str(r, "http.request.method", m, strlen(m));
	} else {
		ADD_LIT(r, "http.request.method", "_OTHER");
		span_record_add_str(r, "http.request.method_original",
				    ex->method_raw, ex->method_len);
	}

	/* server.* from the Host header, else the peer (SPEC.md 5.1). */
	if (ex->host_len &&
	    url_split_authority(ex->host, ex->host_len, &host, &host_len,
				&port) == 0 &&
	    host_len) {
		if (port < 0)
			port = 80;
	} else {
		host = c->peer_addr;
		host_len = strlen(c->peer_addr);
		port = c->peer_port;
	}
	n = url_build_full(url, sizeof(url), "http", ex->host, ex->host_len,
			   c->peer_authority, ex->target, ex->target_len);
	span_record_add_str(r, "url.full", url, n);
	span_record_add_str(r, "server.address", host, host_len);
	span_record_add_int(r, "server.port", port);
	span_record_add_str(r, "network.peer.address", c->peer_addr,
			    strlen(c->peer_addr));
	span_record_add_int(r, "network.peer.port", c->peer_port);
	if ((ex->status ? ex->resp_minor : ex->minor_version) == 0)
		ADD_LIT(r, "network.protocol.version", "1.0");
	else
		ADD_LIT(r, "network.protocol.version", "1.1");
}

/*
 * End the oldest exchange. error is NULL on a complete exchange, else a
 * short, low-cardinality error.type for a transport failure.
 */
static void finish_oldest(struct conn *c, uint64_t end_ns, const char *error)
{
	struct http_conn *h = &c->http;
	struct http_exchange *ex = oldest(h);
	struct span_record rec;
	char code[4];

	if (!ex)
		return;
	h->first = (uint8_t)((h->first + 1) % HTTP_MAX_INFLIGHT);
	h->n_inflight--;
	if (!ex->span.sampled)
		return;

	span_record_init(&rec);
	span_fill_record(&ex->span, &rec, SPAN_KIND_CLIENT, end_ns);
	if (ex->method >= 0) {
		const char *m = http1_method_name(ex->method);
		span_record_set_name(&rec, m, strlen(m));
	} else {
		span_record_set_name(&rec, "HTTP", 4);
	}
	add_client_attrs(&rec, c, ex);
	if (ex->status)
		span_record_add_int(&rec, "http.response.status_code",
				    ex->status);
	if (error) {
		span_record_add_str(&rec, "error.type", error, strlen(error));
		span_record_set_status(&rec, SPAN_STATUS_ERROR, NULL, 0);
	} else if (ex->status >= 400) {
		/* Client spans: 4xx and 5xx are errors (SPEC.md 5.1). */
		span_record_add_str(&rec, "error.type", code,
				    status_str(ex->status, code));
		span_record_set_status(&rec, SPAN_STATUS_ERROR, NULL, 0);
	}
	span_finish(&ex->span, &rec);
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
		if (oldest(h)->span.sampled)
			exporter_count_untraceable();
		h->first = (uint8_t)((h->first + 1) % HTTP_MAX_INFLIGHT);
		h->n_inflight--;
	}
	h->tx.state = HALF_LOST;
	h->rx.state = HALF_LOST;
	__atomic_store_n(&c->proto, CONN_PROTO_OTHER, __ATOMIC_RELAXED);
}

/* ---- head gathering ------------------------------------------------------ */

typedef int (*head_parser)(const char *, size_t, struct http1_head *);

/*
 * Try to complete a head with the bytes p[0..n). On success returns the
 * number of bytes of p that belong to the head (>= 0) and fills *hd (views
 * into either p or the half's buffer: valid until the next feed). Returns -2
 * when all of p was taken and more is needed, -1 when the bytes cannot be a
 * head (or the head outgrows the buffer).
 */
static long gather_head(struct http_half *hf, const char *p, size_t n,
			head_parser parse, struct http1_head *hd)
{
	int r;

	if (hf->acc_len == 0) {
		r = parse(p, n, hd);
		if (r >= 0)
			return r;
		if (r == -1)
			return -1;
		if (n > HTTP_ACC_SIZE)
			return -1;
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
	if (r >= 0) {
		hf->acc_len = 0;
		return (long)((size_t)r - old);
	}
	if (r == -1 || hf->acc_len == HTTP_ACC_SIZE)
		return -1;
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

/* ---- requests sent by a client ------------------------------------------ */

static void copy_view(char *dst, size_t cap, uint16_t *len,
		      struct http1_str v)
{
	size_t k = v.p ? (v.len < cap ? v.len : cap) : 0;

	if (k)
		memcpy(dst, v.p, k);
	*len = (uint16_t)k;
}

/* A complete request head was sent: open its exchange. */
static void open_exchange(struct conn *c, const struct http1_head *hd,
			  uint64_t start_ns)
{
	struct http_conn *h = &c->http;
	struct http_exchange *ex;
	uint16_t ml;

	if (h->n_inflight == HTTP_MAX_INFLIGHT) {
		/* Deeper pipelining than we follow: stop, do not guess. */
		lose(c);
		return;
	}
	ex = &h->ex[(h->first + h->n_inflight) % HTTP_MAX_INFLIGHT];
	h->n_inflight++;
	ex->method = (int8_t)http1_method_index(hd->method.p, hd->method.len);
	copy_view(ex->method_raw, sizeof(ex->method_raw), &ml, hd->method);
	ex->method_len = (uint8_t)ml;
	copy_view(ex->target, sizeof(ex->target), &ex->target_len, hd->target);
	copy_view(ex->host, sizeof(ex->host), &ex->host_len, hd->host);
	ex->minor_version = (uint8_t)hd->minor_version;
	ex->resp_minor = (uint8_t)hd->minor_version;
	ex->status = 0;
	/* Parent: none yet (server spans and propagation come next). */
	span_start(&ex->span, NULL, start_ns);
}

/* Set up the sending half for the request body that follows the head. */
static void request_body(struct http_half *hf, const struct http1_head *hd)
{
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

/* Skip body bytes; returns how many of n were body. -1 if malformed. */
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

static void client_sent(struct conn *c, const char *p, size_t n, uint64_t now)
{
	struct http_half *hf = &c->http.tx;
	struct http1_head hd;
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
			if (d == 1)
				c->proto = CONN_PROTO_HTTP;
		}
		k = gather_head(hf, p, n, http1_parse_request, &hd);
		if (k == -2)
			return;
		if (k < 0) {
			lose(c);
			return;
		}
		/* A head may complete before detection said yes (short line). */
		c->proto = CONN_PROTO_HTTP;
		open_exchange(c, &hd, hf->head_start_ns);
		if (hf->state == HALF_LOST)
			return;
		request_body(hf, &hd);
		p += k;
		n -= (size_t)k;
	}
}

/* ---- responses received by a client ------------------------------------- */

/* Set up the receiving half for the body of the response to ex. */
static int response_body(struct http_half *hf, const struct http1_head *hd,
			 const struct http_exchange *ex)
{
	if (ex->method == HTTP1_HEAD || hd->status == 204 ||
	    hd->status == 304 || (ex->method == HTTP1_CONNECT &&
				  hd->status >= 200 && hd->status < 300))
		return 0;	/* no body: complete now */
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

static void client_received(struct conn *c, const char *p, size_t n,
			    uint64_t now)
{
	struct http_conn *h = &c->http;
	struct http_half *hf = &h->rx;
	struct http1_head hd;
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
		k = gather_head(hf, p, n, http1_parse_response, &hd);
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

/* ---- entry points -------------------------------------------------------- */

void http_conn_on_send(struct conn *c, const struct iovec *iov, int iovcnt,
		       size_t n, uint64_t now)
{
	if (c->role != CONN_ROLE_CLIENT)
		return;
	for (int i = 0; i < iovcnt && n > 0; i++) {
		size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;
		if (k)
			client_sent(c, iov[i].iov_base, k, now);
		n -= k;
		if (c->proto == CONN_PROTO_OTHER)
			return;
	}
}

void http_conn_on_recv(struct conn *c, const struct iovec *iov, int iovcnt,
		       size_t n, uint64_t now)
{
	if (c->role != CONN_ROLE_CLIENT || c->proto != CONN_PROTO_HTTP)
		return;
	for (int i = 0; i < iovcnt && n > 0; i++) {
		size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;
		if (k)
			client_received(c, iov[i].iov_base, k, now);
		n -= k;
		if (c->proto == CONN_PROTO_OTHER)
			return;
	}
}

void http_conn_on_eof(struct conn *c, uint64_t now)
{
	struct http_conn *h = &c->http;

	if (c->role != CONN_ROLE_CLIENT || c->proto != CONN_PROTO_HTTP)
		return;
	if (h->rx.state == HALF_BODY_CLOSE) {
		finish_oldest(c, now, NULL);
		h->rx.state = HALF_HEAD;
	}
	fail_all(c, now, "response_incomplete");
}

static const char *errno_type(int err)
{
	switch (err) {
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
	if (c->role != CONN_ROLE_CLIENT || c->proto != CONN_PROTO_HTTP)
		return;
	fail_all(c, now, errno_type(err));
}

void http_conn_on_close(struct conn *c, uint64_t now)
{
	struct http_conn *h = &c->http;

	if (c->role != CONN_ROLE_CLIENT || c->proto != CONN_PROTO_HTTP)
		return;
	/*
	 * The program closed the socket. A close-delimited body it stopped
	 * reading, or a response whose head arrived, is the program's choice
	 * (not an error); an exchange still waiting for its response is.
	 */
	while (h->n_inflight) {
		struct http_exchange *ex = oldest(h);
		finish_oldest(c, now, ex->status ? NULL : "closed_before_response");
	}
}
