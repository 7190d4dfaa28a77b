/*
 * test_http_conn.c - HTTP/1.x exchanges on a connection (shim/http_conn.h)
 * driven the way the socket hooks drive them: conn_track() and
 * conn_set_peer() as connect()/accept() would, then the byte streams
 * through http_conn_on_send()/http_conn_on_recv() (bytes that went out
 * unchanged, and bytes received) or http_conn_send() (the rewriting send
 * path of client connections, with a fake "wire" in place of the real
 * call, so that partial writes and EAGAIN can be scripted).
 *
 * How finished spans are captured: http_conn.c fills a sampled span's
 * record in place with exporter_claim() and exporter_commit(), and counts
 * a span it lost track of with exporter_count_untraceable(). This file
 * defines those functions (and exporter_submit()) itself, recording the
 * committed records; a claimed record is handed out full of garbage past
 * its zeroed header, as a reused queue slot is. The linker takes an archive
 * member only for symbols still undefined, so exporter.o (the real batch
 * processor) is never linked into this test; if something ever pulled it
 * in, the duplicate definitions would fail the link loudly rather than
 * silently test the wrong thing. This gives the full records (ids, flags,
 * every attribute) without a thread, a collector or timing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_main.h"
#include "clock.h"
#include "config.h"
#include "conn.h"
#include "context.h"
#include "http_conn.h"
#include "init.h"
#include "tracecontext.h"

/* ---- the exporter seam --------------------------------------------------- */

#define MAX_SPANS 64

static struct span_record spans[MAX_SPANS];
static int n_spans;
static int n_untraceable;

int exporter_submit(const struct span_record *r)
{
	ck_assert_int_lt(n_spans, MAX_SPANS);
	spans[n_spans++] = *r;
	return 0;
}

static struct span_record claimed;

struct span_record *exporter_claim(void)
{
	memset(&claimed, 0xa5, sizeof(claimed));
	span_record_init(&claimed);
	return &claimed;
}

void exporter_commit(struct span_record *r)
{
	ck_assert_ptr_eq(r, &claimed);
	exporter_submit(r);
}

void exporter_count_untraceable(void)
{
	n_untraceable++;
}

/* ---- helpers: records ---------------------------------------------------- */

static const struct span_attr *attr(const struct span_record *r,
				    const char *key)
{
	for (int i = 0; i < r->n_attrs; i++)
		if (!strcmp(r->attrs[i].key, key))
			return &r->attrs[i];
	return NULL;
}

static const char *sattr(const struct span_record *r, const char *key)
{
	const struct span_attr *a = attr(r, key);

	if (!a)
		return NULL;
	ck_assert_uint_eq(a->type, SPAN_ATTR_STRING);
	return r->arena + a->off;
}

static int64_t iattr(const struct span_record *r, const char *key)
{
	const struct span_attr *a = attr(r, key);

	ck_assert_msg(a != NULL, "no attribute %s", key);
	ck_assert_uint_eq(a->type, SPAN_ATTR_INT);
	return a->v.i;
}

static const char *name_of(const struct span_record *r)
{
	return span_record_str(r, r->name);
}

static int is_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* ---- helpers: connections and time --------------------------------------- */

static uint64_t now_ns;

/* Each event a microsecond later than the last. */
static uint64_t tick(void)
{
	return now_ns += 1000;
}

static int next_fd = 1000;

static struct conn *new_conn(int role, const char *addr, uint16_t port)
{
	struct sockaddr_in sa;
	int fd = next_fd++;
	struct conn *c = conn_track(fd, AF_INET);

	ck_assert_ptr_nonnull(c);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	inet_pton(AF_INET, addr, &sa.sin_addr);
	conn_set_peer(c, role, (struct sockaddr *)&sa, sizeof(sa));
	if (role == CONN_ROLE_CLIENT)
		http_conn_on_connect(c);
	return c;
}

static struct conn *client(void)
{
	return new_conn(CONN_ROLE_CLIENT, "10.1.2.3", 8080);
}

static struct conn *server(void)
{
	return new_conn(CONN_ROLE_SERVER, "192.0.2.7", 51000);
}

/* The descriptor of c (the last one tracked for it). */
static int fd_of(const struct conn *c)
{
	for (int fd = next_fd - 1; fd >= 1000; fd--)
		if (conn_get(fd) == c)
			return fd;
	return -1;
}

/* Bytes that went out unchanged, in calls of at most chunk bytes. */
static void sent(struct conn *c, const char *s, size_t chunk)
{
	size_t len = strlen(s);

	for (size_t off = 0; off < len; off += chunk) {
		struct iovec v = {(void *)(s + off),
				  len - off < chunk ? len - off : chunk};
		http_conn_on_send(c, &v, 1, v.iov_len, tick());
	}
}

/* Bytes received, in calls of at most chunk bytes. */
static void received(struct conn *c, const char *s, size_t chunk)
{
	size_t len = strlen(s);

	for (size_t off = 0; off < len; off += chunk) {
		struct iovec v = {(void *)(s + off),
				  len - off < chunk ? len - off : chunk};
		http_conn_on_recv(c, &v, 1, v.iov_len, tick());
	}
}

#define ALL ((size_t)-1)

/* ---- fixture ------------------------------------------------------------- */

static void load_config(const char *propagators, const char *sampler)
{
	clearenv();
	setenv("OTEL_LOG_LEVEL", "none", 1);
	if (propagators)
		setenv("OTEL_PROPAGATORS", propagators, 1);
	if (sampler)
		setenv("OTEL_TRACES_SAMPLER", sampler, 1);
	config_load();
}

static void setup(void)
{
	init_active = 1;	/* as after the preloaded constructor */
	load_config(NULL, NULL);
	conn_reset_all();
	n_spans = 0;
	n_untraceable = 0;
	now_ns = clock_real_ns();
}

static void teardown(void)
{
	conn_reset_all();
}

/* ---- client: requests observed, responses received ----------------------- */

static const char get_req[] = "GET /path?q=1 HTTP/1.1\r\n"
			      "Host: example.com\r\n"
			      "User-Agent: test/1.0\r\n"
			      "\r\n";
static const char ok_resp[] = "HTTP/1.1 200 OK\r\n"
			      "Content-Type: text/plain\r\n"
			      "Content-Length: 5\r\n"
			      "\r\n"
			      "hello";

START_TEST(client_simple)
{
	struct conn *c = client();
	uint64_t t0 = now_ns;

	sent(c, get_req, ALL);
	ck_assert_int_eq(c->proto, CONN_PROTO_HTTP);
	ck_assert_int_eq(n_spans, 0);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 1);

	const struct span_record *r = &spans[0];
	ck_assert_str_eq(name_of(r), "GET");
	ck_assert_uint_eq(r->kind, SPAN_KIND_CLIENT);
	ck_assert_uint_eq(r->status, SPAN_STATUS_UNSET);
	ck_assert_uint_eq(r->start_ns, t0 + 1000);
	ck_assert_uint_eq(r->end_ns, t0 + 2000);
	ck_assert(!is_zero(r->trace_id, 16));
	ck_assert(!is_zero(r->span_id, 8));
	ck_assert(is_zero(r->parent_span_id, 8));	/* a root */
	ck_assert_uint_eq(r->flags, SPAN_FLAGS_HAS_IS_REMOTE |
					    TRACE_FLAG_SAMPLED |
					    TRACE_FLAG_RANDOM);
	ck_assert_str_eq(sattr(r, "http.request.method"), "GET");
	ck_assert_str_eq(sattr(r, "url.full"), "http://example.com/path?q=1");
	ck_assert_str_eq(sattr(r, "server.address"), "example.com");
	ck_assert_int_eq(iattr(r, "server.port"), 80);
	ck_assert_str_eq(sattr(r, "network.peer.address"), "10.1.2.3");
	ck_assert_int_eq(iattr(r, "network.peer.port"), 8080);
	ck_assert_str_eq(sattr(r, "network.protocol.version"), "1.1");
	ck_assert_int_eq(iattr(r, "http.response.status_code"), 200);
	ck_assert_ptr_null(attr(r, "error.type"));
	ck_assert_str_eq(sattr(r, "otelshim.parent.rule"), "none");
	ck_assert_int_eq(n_untraceable, 0);
}
END_TEST

/*
 * One byte per call in both directions: the span ends exactly with the
 * last byte of the body, not before.
 */
START_TEST(client_byte_by_byte)
{
	struct conn *c = client();
	size_t rl = strlen(ok_resp);

	sent(c, get_req, 1);
	for (size_t i = 0; i < rl; i++) {
		ck_assert_int_eq(n_spans, 0);
		struct iovec v = {(void *)(ok_resp + i), 1};
		http_conn_on_recv(c, &v, 1, 1, tick());
	}
	ck_assert_int_eq(n_spans, 1);
	ck_assert_int_eq(iattr(&spans[0], "http.response.status_code"), 200);
	ck_assert_str_eq(sattr(&spans[0], "url.full"),
			 "http://example.com/path?q=1");
	/* the span started at the head's first byte and ended at the last */
	ck_assert_uint_eq(spans[0].end_ns - spans[0].start_ns,
			  (strlen(get_req) - 1 + rl) * 1000);
}
END_TEST

/* Every split of the request and of the response into two calls. */
START_TEST(client_every_split)
{
	size_t ql = strlen(get_req), rl = strlen(ok_resp);

	for (size_t a = 1; a < ql; a++) {
		for (size_t b = 1; b < rl; b += 3) {
			struct conn *c = client();
			struct iovec v;
			n_spans = 0;
			v = (struct iovec){(void *)get_req, a};
			http_conn_on_send(c, &v, 1, a, tick());
			v = (struct iovec){(void *)(get_req + a), ql - a};
			http_conn_on_send(c, &v, 1, ql - a, tick());
			v = (struct iovec){(void *)ok_resp, b};
			http_conn_on_recv(c, &v, 1, b, tick());
			ck_assert_int_eq(n_spans, 0);
			v = (struct iovec){(void *)(ok_resp + b), rl - b};
			http_conn_on_recv(c, &v, 1, rl - b, tick());
			ck_assert_msg(n_spans == 1, "split %zu/%zu", a, b);
			ck_assert_int_eq(
				iattr(&spans[0], "http.response.status_code"),
				200);
			conn_untrack(fd_of(c));
		}
	}
	ck_assert_int_eq(n_untraceable, 0);
}
END_TEST

/* Keep-alive: three exchanges, three spans, each its own. */
START_TEST(client_keep_alive)
{
	static const char *const resp[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n"
		"3\r\nbad\r\n0\r\n\r\n",
	};
	static const char *const req[] = {
		"GET /a HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody",
		"DELETE /c HTTP/1.1\r\nHost: h\r\n\r\n",
	};
	struct conn *c = client();

	for (int i = 0; i < 3; i++) {
		sent(c, req[i], i == 1 ? 1 : ALL);
		received(c, resp[i], i == 2 ? 1 : ALL);
		ck_assert_int_eq(n_spans, i + 1);
	}
	ck_assert_str_eq(name_of(&spans[0]), "GET");
	ck_assert_str_eq(name_of(&spans[1]), "POST");
	ck_assert_str_eq(name_of(&spans[2]), "DELETE");
	ck_assert_str_eq(sattr(&spans[1], "url.full"), "http://h/b");
	ck_assert_int_eq(iattr(&spans[0], "http.response.status_code"), 200);
	ck_assert_int_eq(iattr(&spans[1], "http.response.status_code"), 404);
	ck_assert_int_eq(iattr(&spans[2], "http.response.status_code"), 500);
	/* client spans: 4xx and 5xx are errors */
	ck_assert_uint_eq(spans[0].status, SPAN_STATUS_UNSET);
	ck_assert_uint_eq(spans[1].status, SPAN_STATUS_ERROR);
	ck_assert_str_eq(sattr(&spans[1], "error.type"), "404");
	ck_assert_uint_eq(spans[2].status, SPAN_STATUS_ERROR);
	ck_assert_str_eq(sattr(&spans[2], "error.type"), "500");
	/* three traces (nothing is their parent), three span ids */
	ck_assert(memcmp(spans[0].span_id, spans[1].span_id, 8));
	ck_assert(memcmp(spans[1].span_id, spans[2].span_id, 8));
	ck_assert(memcmp(spans[0].trace_id, spans[2].trace_id, 16));
	for (int i = 0; i < 3; i++)
		ck_assert_uint_le(spans[i].start_ns, spans[i].end_ns);
	ck_assert_uint_le(spans[0].end_ns, spans[1].start_ns);
}
END_TEST

/* Pipelining: three requests before any response; FIFO pairing. */
START_TEST(client_pipelined)
{
	struct conn *c = client();

	sent(c,
	     "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
	     "PUT /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
	     "HEAD /3 HTTP/1.1\r\nHost: h\r\n\r\n",
	     ALL);
	ck_assert_int_eq(c->http.n_inflight, 3);
	received(c,
		 "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
		 "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
		 "HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n",
		 7);
	ck_assert_int_eq(n_spans, 3);
	ck_assert_str_eq(sattr(&spans[0], "url.full"), "http://h/1");
	ck_assert_str_eq(sattr(&spans[1], "url.full"), "http://h/2");
	ck_assert_int_eq(iattr(&spans[1], "http.response.status_code"), 201);
	ck_assert_str_eq(name_of(&spans[2]), "HEAD");
	ck_assert_int_eq(c->http.n_inflight, 0);
}
END_TEST

/* Deeper pipelining than followed: stop, count what was in flight. */
START_TEST(client_pipelined_too_deep)
{
	struct conn *c = client();

	for (int i = 0; i <= HTTP_MAX_INFLIGHT; i++)
		sent(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", ALL);
	ck_assert_int_eq(c->proto, CONN_PROTO_OTHER);
	ck_assert_int_eq(n_untraceable, HTTP_MAX_INFLIGHT);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 0);
	ck_assert_int_eq(http_conn_send_intercepts(c), 0);
}
END_TEST

/* Responses that have no body whatever their headers say. */
START_TEST(client_no_body)
{
	static const struct {
		const char *method;
		const char *resp;
		int status;
	} cases[] = {
		{"HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
		 200},
		{"HEAD",
		 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		 200},
		{"GET", "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
		 204},
		{"GET",
		 "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n",
		 304},
		{"GET", "HTTP/1.1 304 Not Modified\r\n"
			"Transfer-Encoding: chunked\r\n\r\n",
		 304},
		{"GET", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conn *c = client();
		char req[128];
		n_spans = 0;
		snprintf(req, sizeof(req), "%s /x HTTP/1.1\r\nHost: h\r\n\r\n",
			 cases[i].method);
		sent(c, req, ALL);
		received(c, cases[i].resp, 1);
		ck_assert_msg(n_spans == 1, "case %zu: no span at the head", i);
		ck_assert_int_eq(iattr(&spans[0], "http.response.status_code"),
				 cases[i].status);
		/* the connection goes on: the next exchange is followed */
		sent(c, get_req, ALL);
		received(c, ok_resp, ALL);
		ck_assert_msg(n_spans == 2, "case %zu: next exchange lost", i);
		ck_assert_int_eq(n_untraceable, 0);
	}
}
END_TEST

/* Interim 1xx responses come before the final one (not 101). */
START_TEST(client_interim)
{
	struct conn *c = client();

	sent(c,
	     "POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
	     "Content-Length: 3\r\n\r\n",
	     ALL);
	received(c, "HTTP/1.1 100 Continue\r\n\r\n", 1);
	ck_assert_int_eq(n_spans, 0);
	sent(c, "abc", 1);
	received(c,
		 "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n"
		 "\r\n"
		 "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
		 ALL);
	ck_assert_int_eq(n_spans, 1);
	ck_assert_int_eq(iattr(&spans[0], "http.response.status_code"), 201);
	ck_assert_uint_eq(spans[0].status, SPAN_STATUS_UNSET);
}
END_TEST

/* 101 Switching Protocols ends the span and the HTTP tracking. */
START_TEST(client_upgrade)
{
	struct conn *c = client();

	sent(c,
	     "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
	     "Upgrade: websocket\r\n\r\n",
	     ALL);
	received(c,
		 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\n\r\n\x81\x05hello",
		 ALL);
	ck_assert_int_eq(n_spans, 1);
	ck_assert_int_eq(iattr(&spans[0], "http.response.status_code"), 101);
	ck_assert_int_eq(c->proto, CONN_PROTO_OTHER);
	ck_assert_int_eq(http_conn_send_intercepts(c), 0);
	ck_assert_int_eq(n_untraceable, 0);
	/* websocket frames are not requests */
	sent(c, "\x81\x85GET / HTTP/1.1\r\n\r\n", ALL);
	ck_assert_int_eq(n_spans, 1);
}
END_TEST

START_TEST(client_chunked)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n"
				   "5\r\nhello\r\n"
				   "1A;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n"
				   "0\r\nTrailer-A: 1\r\n\r\n";
	size_t rl = strlen(resp);

	for (size_t chunk = 1; chunk <= 9; chunk += 4) {
		struct conn *c = client();
		n_spans = 0;
		sent(c, get_req, ALL);
		/* everything but the last byte: not finished */
		for (size_t off = 0; off < rl - 1; off += chunk) {
			size_t k = rl - 1 - off < chunk ? rl - 1 - off : chunk;
			struct iovec v = {(void *)(resp + off), k};
			http_conn_on_recv(c, &v, 1, k, tick());
		}
		ck_assert_int_eq(n_spans, 0);
		struct iovec v = {(void *)(resp + rl - 1), 1};
		http_conn_on_recv(c, &v, 1, 1, tick());
		ck_assert_int_eq(n_spans, 1);
		/* and the connection is ready for the next exchange */
		sent(c, get_req, ALL);
		received(c, ok_resp, ALL);
		ck_assert_int_eq(n_spans, 2);
	}
	ck_assert_int_eq(n_untraceable, 0);
}
END_TEST

/* A body without length ends with the connection: EOF completes it. */
START_TEST(client_close_delimited)
{
	struct conn *c = client();

	sent(c, "GET /old HTTP/1.0\r\n\r\n", ALL);
	received(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n", ALL);
	received(c, "all of this is body, even HTTP/1.1 200 OK\r\n\r\n", 5);
	ck_assert_int_eq(n_spans, 0);
	uint64_t end = tick();
	http_conn_on_eof(c, end);
	ck_assert_int_eq(n_spans, 1);
	const struct span_record *r = &spans[0];
	ck_assert_uint_eq(r->end_ns, end);
	ck_assert_uint_eq(r->status, SPAN_STATUS_UNSET);
	ck_assert_ptr_null(attr(r, "error.type"));
	ck_assert_str_eq(sattr(r, "network.protocol.version"), "1.0");
	/* no Host header: the URL names the peer */
	ck_assert_str_eq(sattr(r, "url.full"), "http://10.1.2.3:8080/old");
	ck_assert_str_eq(sattr(r, "server.address"), "10.1.2.3");
	ck_assert_int_eq(iattr(r, "server.port"), 8080);
}
END_TEST

/* EOF inside a Content-Length body: the response is incomplete. */
START_TEST(client_eof_mid_body)
{
	struct conn *c = client();

	sent(c, get_req, ALL);
	received(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", 3);
	ck_assert_int_eq(n_spans, 0);
	http_conn_on_eof(c, tick());
	ck_assert_int_eq(n_spans, 1);
	ck_assert_uint_eq(spans[0].status, SPAN_STATUS_ERROR);
	ck_assert_str_eq(sattr(&spans[0], "error.type"), "response_incomplete");
	ck_assert_int_eq(iattr(&spans[0], "http.response.status_code"), 200);
}
END_TEST

/* EOF before any response byte. */
START_TEST(client_eof_no_response)
{
	struct conn *c = client();

	sent(c, get_req, ALL);
	http_conn_on_eof(c, tick());
	ck_assert_int_eq(n_spans, 1);
	ck_assert_uint_eq(spans[0].status, SPAN_STATUS_ERROR);
	ck_assert_ptr_nonnull(sattr(&spans[0], "error.type"));
	ck_assert_ptr_null(attr(&spans[0], "http.response.status_code"));
}
END_TEST

/* A reset in the middle of the response ends the span with an error. */
START_TEST(client_reset)
{
	static const struct {
		int err;
		const char *type;
	} errs[] = {
		{ECONNRESET, "connection_reset"},
		{ETIMEDOUT, "timed_out"},
		{EPIPE, "broken_pipe"},
		{EIO, "_OTHER"},
	};

	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		struct conn *c = client();
		n_spans = 0;
		sent(c, get_req, ALL);
		received(c, "HTTP/1.1 200 OK\r\nContent-Le", ALL);
		http_conn_on_error(c, errs[i].err, tick());
		ck_assert_int_eq(n_spans, 1);
		ck_assert_uint_eq(spans[0].status, SPAN_STATUS_ERROR);
		ck_assert_str_eq(sattr(&spans[0], "error.type"), errs[i].type);
	}
	/* a reset with two requests in flight ends both */
	struct conn *c = client();
	n_spans = 0;
	sent(c, get_req, ALL);
	sent(c, get_req, ALL);
	received(c, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", ALL);
	http_conn_on_error(c, ECONNRESET, tick());
	ck_assert_int_eq(n_spans, 2);
	ck_assert_int_eq(iattr(&spans[0], "http.response.status_code"), 200);
	ck_assert_ptr_null(attr(&spans[1], "http.response.status_code"));
}
END_TEST

/* The program closes its socket while waiting for the response. */
START_TEST(client_close_before_response)
{
	struct conn *c = client();

	sent(c, get_req, ALL);
	conn_untrack(fd_of(c));	/* the last close */
	ck_assert_int_eq(n_spans, 1);
	ck_assert_str_eq(sattr(&spans[0], "error.type"),
			 "closed_before_response");
	/* ...after the response head: the program stopped reading; fine */
	c = client();
	n_spans = 0;
	sent(c, get_req, ALL);
	received(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nab", ALL);
	conn_untrack(fd_of(c));
	ck_assert_int_eq(n_spans, 1);
	ck_assert_ptr_null(attr(&spans[0], "error.type"));
	ck_assert_uint_eq(spans[0].status, SPAN_STATUS_UNSET);
}
END_TEST

/* A dup'ed descriptor keeps the connection alive until its last close. */
START_TEST(client_dup)
{
	struct conn *c = client();
	int fd = fd_of(c);

	conn_dup(fd, 999);
	ck_assert_ptr_eq(conn_get(999), c);
	sent(c, get_req, ALL);
	conn_untrack(fd);
	ck_assert_int_eq(n_spans, 0);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 1);
	conn_untrack(999);
	ck_assert_ptr_null(conn_get(999));
}
END_TEST

/* First bytes that are not HTTP: no span, nothing intercepted. */
START_TEST(client_not_http)
{
	static const char *const first[] = {
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",	/* TLS */
		"*1\r\n$4\r\nPING\r\n",			/* Redis */
		"PING\r\n",
		"\x00\x00\x00\x08\x04\xd2\x16\x2f",		/* PG SSL */
		"SSH-2.0-OpenSSH_9.0\r\n",
		"GET\r\n",
		"get key\r\n",
		"GET / HTTP/2.0\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++) {
		struct conn *c = client();
		const char *s = first[i];
		size_t len = s[0] ? strlen(s) : 8;
		struct iovec v = {(void *)s, len};
		http_conn_on_send(c, &v, 1, len, tick());
		ck_assert_msg(c->proto == CONN_PROTO_OTHER, "case %zu", i);
		ck_assert_int_eq(http_conn_send_intercepts(c), 0);
		received(c, ok_resp, ALL);
		http_conn_on_eof(c, tick());
		ck_assert_int_eq(n_spans, 0);
		ck_assert_int_eq(n_untraceable, 0);
	}
}
END_TEST

/* A server that speaks first (SMTP): its bytes are not a response. */
START_TEST(client_server_speaks_first)
{
	struct conn *c = client();

	received(c, "220 mail.example.com ESMTP\r\n", ALL);
	ck_assert_int_eq(c->proto, CONN_PROTO_DETECT);
	sent(c, "EHLO me\r\n", ALL);
	ck_assert_int_eq(c->proto, CONN_PROTO_OTHER);
	ck_assert_int_eq(n_spans, 0);
}
END_TEST

/* A response to no request: stop following, never guess. */
START_TEST(client_unsolicited_response)
{
	struct conn *c = client();

	sent(c, get_req, ALL);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 1);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(c->proto, CONN_PROTO_OTHER);
	ck_assert_int_eq(n_spans, 1);
	ck_assert_int_eq(n_untraceable, 0);
}
END_TEST

/* A malformed response: the exchange in flight is counted as lost. */
START_TEST(client_garbage_response)
{
	struct conn *c = client();

	sent(c, get_req, ALL);
	received(c, "HTTP/1.1 2x0 OK\r\n\r\n", 1);
	ck_assert_int_eq(c->proto, CONN_PROTO_OTHER);
	ck_assert_int_eq(n_spans, 0);
	ck_assert_int_eq(n_untraceable, 1);
	/* a bad chunk size */
	c = client();
	n_untraceable = 0;
	sent(c, get_req, ALL);
	received(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "zz\r\n",
		 ALL);
	ck_assert_int_eq(n_spans, 0);
	ck_assert_int_eq(n_untraceable, 1);
}
END_TEST

/* A response head larger than the gathering buffer. */
START_TEST(client_huge_response_head)
{
	static char big[HTTP_ACC_SIZE + 100];
	struct conn *c = client();
	int k;

	k = snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nX-Big: ");
	memset(big + k, 'a', sizeof(big) - (size_t)k - 1);
	big[sizeof(big) - 1] = '\0';
	sent(c, get_req, ALL);
	received(c, big, 1000);
	ck_assert_int_eq(c->proto, CONN_PROTO_OTHER);
	ck_assert_int_eq(n_spans, 0);
	ck_assert_int_eq(n_untraceable, 1);
}
END_TEST

/* A request head larger than the buffer: never a span, never a guess. */
START_TEST(client_huge_request_head)
{
	static char big[HTTP_ACC_SIZE + 100];
	struct conn *c = client();
	int k;

	k = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nCookie: ");
	memset(big + k, 'c', sizeof(big) - (size_t)k - 1);
	big[sizeof(big) - 1] = '\0';
	sent(c, big, 100);
	sent(c, "\r\n\r\n", ALL);
	ck_assert_int_eq(c->proto, CONN_PROTO_OTHER);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 0);
}
END_TEST

/* An unknown method: _OTHER, the original kept, span name "HTTP". */
START_TEST(client_unknown_method)
{
	struct conn *c = client();

	sent(c, "PURGE /cache HTTP/1.1\r\nHost: cdn:8081\r\n\r\n", ALL);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 1);
	ck_assert_str_eq(name_of(&spans[0]), "HTTP");
	ck_assert_str_eq(sattr(&spans[0], "http.request.method"), "_OTHER");
	ck_assert_str_eq(sattr(&spans[0], "http.request.method_original"),
			 "PURGE");
	ck_assert_str_eq(sattr(&spans[0], "server.address"), "cdn");
	ck_assert_int_eq(iattr(&spans[0], "server.port"), 8081);
	ck_assert_str_eq(sattr(&spans[0], "url.full"), "http://cdn:8081/cache");
}
END_TEST

/* Chunked request bodies are followed to the next request. */
START_TEST(client_chunked_request)
{
	struct conn *c = client();

	sent(c,
	     "POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "4\r\nGET \r\n0\r\n\r\n"
	     "GET /after HTTP/1.1\r\nHost: h\r\n\r\n",
	     2);
	ck_assert_int_eq(c->http.n_inflight, 2);
	received(c, ok_resp, ALL);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 2);
	ck_assert_str_eq(sattr(&spans[1], "url.full"), "http://h/after");
}
END_TEST

/* Received bytes in several iovecs, the last ones unfilled (readv). */
START_TEST(client_readv_partial)
{
	struct conn *c = client();
	char a[10], b[20], z[50];
	size_t rl = strlen(ok_resp);
	struct iovec v[3] = {{a, sizeof(a)}, {b, sizeof(b)}, {z, sizeof(z)}};

	ck_assert_uint_lt(rl, sizeof(a) + sizeof(b) + sizeof(z));
	sent(c, get_req, ALL);
	/* the kernel filled the first rl - 1 bytes; garbage after them */
	memset(z, 'X', sizeof(z));
	memcpy(a, ok_resp, 10);
	memcpy(b, ok_resp + 10, 20);
	memcpy(z, ok_resp + 30, rl - 31);
	http_conn_on_recv(c, v, 3, rl - 1, tick());
	ck_assert_int_eq(n_spans, 0);
	ck_assert_int_eq(c->proto, CONN_PROTO_HTTP);
	received(c, ok_resp + rl - 1, ALL);
	ck_assert_int_eq(n_spans, 1);
	ck_assert_int_eq(n_untraceable, 0);
}
END_TEST

/* An unsampled span is followed but never submitted. */
START_TEST(client_unsampled)
{
	load_config(NULL, "always_off");
	struct conn *c = client();

	sent(c, get_req, ALL);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 0);
	ck_assert_int_eq(c->proto, CONN_PROTO_HTTP);
	/* ...and a lost one is not counted either */
	sent(c, get_req, ALL);
	received(c, "garbage", ALL);
	ck_assert_int_eq(n_untraceable, 0);
}
END_TEST

/* ---- server -------------------------------------------------------------- */

static const char srv_req[] = "GET /items/42?color=red&sig=abc HTTP/1.1\r\n"
			      "Host: shop.example:8443\r\n"
			      "User-Agent: curl/8.0\r\n"
			      "Accept: */*\r\n"
			      "\r\n";

START_TEST(server_simple)
{
	struct conn *c = server();
	uint64_t t0 = now_ns;

	received(c, srv_req, 1);
	ck_assert_int_eq(c->proto, CONN_PROTO_HTTP);
	ck_assert_int_eq(http_conn_send_intercepts(c), 0);
	ck_assert_int_eq(n_spans, 0);
	sent(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", ALL);
	ck_assert_int_eq(n_spans, 0);
	sent(c, "hello", 1);
	ck_assert_int_eq(n_spans, 1);

	const struct span_record *r = &spans[0];
	ck_assert_uint_eq(r->kind, SPAN_KIND_SERVER);
	ck_assert_str_eq(name_of(r), "GET");
	ck_assert_uint_eq(r->start_ns, t0 + 1000);	/* first head byte */
	ck_assert_uint_ge(r->end_ns, r->start_ns);
	ck_assert(is_zero(r->parent_span_id, 8));
	ck_assert_str_eq(sattr(r, "http.request.method"), "GET");
	ck_assert_str_eq(sattr(r, "url.path"), "/items/42");
	ck_assert_str_eq(sattr(r, "url.scheme"), "http");
	ck_assert_ptr_nonnull(sattr(r, "url.query"));
	ck_assert_ptr_nonnull(strstr(sattr(r, "url.query"), "color=red"));
	ck_assert_ptr_null(strstr(sattr(r, "url.query"), "abc"));
	ck_assert_str_eq(sattr(r, "server.address"), "shop.example");
	ck_assert_int_eq(iattr(r, "server.port"), 8443);
	ck_assert_str_eq(sattr(r, "client.address"), "192.0.2.7");
	ck_assert_int_eq(iattr(r, "client.port"), 51000);
	ck_assert_str_eq(sattr(r, "network.peer.address"), "192.0.2.7");
	ck_assert_str_eq(sattr(r, "user_agent.original"), "curl/8.0");
	ck_assert_str_eq(sattr(r, "network.protocol.version"), "1.1");
	ck_assert_int_eq(iattr(r, "http.response.status_code"), 200);
	ck_assert_uint_eq(r->status, SPAN_STATUS_UNSET);
}
END_TEST

/* Server spans: 4xx is not an error, 5xx is. Keep-alive: one span each. */
START_TEST(server_keep_alive)
{
	static const char *const resp[] = {
		"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!",
		"HTTP/1.1 503 Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
		"2\r\nno\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	};
	struct conn *c = server();

	for (int i = 0; i < 3; i++) {
		received(c, "POST /f HTTP/1.1\r\nHost: h\r\n"
			    "Content-Length: 6\r\n\r\nfield=",
			 i + 1);
		ck_assert_int_eq(n_spans, i);
		sent(c, resp[i], i + 1);
		ck_assert_int_eq(n_spans, i + 1);
	}
	ck_assert_int_eq(iattr(&spans[0], "http.response.status_code"), 404);
	ck_assert_uint_eq(spans[0].status, SPAN_STATUS_UNSET);
	ck_assert_ptr_null(attr(&spans[0], "error.type"));
	ck_assert_uint_eq(spans[1].status, SPAN_STATUS_ERROR);
	ck_assert_str_eq(sattr(&spans[1], "error.type"), "503");
	ck_assert_uint_eq(spans[2].status, SPAN_STATUS_UNSET);
	ck_assert_ptr_null(attr(&spans[2], "url.query"));
}
END_TEST

#define IN_TID "0af7651916cd43dd8448eb211c80319c"
#define IN_SID "b7ad6b7169203331"

static void hex_to(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

/* The incoming traceparent is the remote parent; tracestate is kept. */
START_TEST(server_remote_parent)
{
	struct conn *c = server();
	uint8_t tid[16], sid[8];

	received(c,
		 "GET / HTTP/1.1\r\nHost: h\r\n"
		 "traceparent: 00-" IN_TID "-" IN_SID "-01\r\n"
		 "tracestate: congo=t61rcWkgMzE, rojo=00f067aa0ba902b7\r\n"
		 "\r\n",
		 ALL);
	sent(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ALL);
	ck_assert_int_eq(n_spans, 1);
	hex_to(IN_TID, tid, 16);
	hex_to(IN_SID, sid, 8);
	ck_assert(!memcmp(spans[0].trace_id, tid, 16));
	ck_assert(!memcmp(spans[0].parent_span_id, sid, 8));
	ck_assert(memcmp(spans[0].span_id, sid, 8));
	ck_assert_uint_eq(spans[0].flags, SPAN_FLAGS_HAS_IS_REMOTE |
						  SPAN_FLAGS_IS_REMOTE |
						  TRACE_FLAG_SAMPLED);
	ck_assert_str_eq(span_record_str(&spans[0], spans[0].trace_state),
			 "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
}
END_TEST

/* An unsampled remote parent: followed (parent-based), not exported. */
START_TEST(server_unsampled_parent)
{
	struct conn *c = server();

	received(c,
		 "GET / HTTP/1.1\r\nHost: h\r\n"
		 "traceparent: 00-" IN_TID "-" IN_SID "-00\r\n\r\n",
		 ALL);
	sent(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ALL);
	ck_assert_int_eq(n_spans, 0);
	ck_assert_int_eq(c->proto, CONN_PROTO_HTTP);
}
END_TEST

/* An invalid or duplicated traceparent starts a new trace. */
START_TEST(server_bad_traceparent)
{
	static const char *const reqs[] = {
		"GET / HTTP/1.1\r\ntraceparent: 00-" IN_TID "-" IN_SID
		"-01\r\ntraceparent: 00-" IN_TID "-" IN_SID "-01\r\n\r\n",
		"GET / HTTP/1.1\r\ntraceparent: 00-" IN_TID "-0000000000000000"
		"-01\r\n\r\n",
		"GET / HTTP/1.1\r\ntraceparent: zz\r\n\r\n",
	};
	uint8_t tid[16];

	hex_to(IN_TID, tid, 16);
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct conn *c = server();
		n_spans = 0;
		received(c, reqs[i], ALL);
		sent(c, "HTTP/1.1 204 No Content\r\n\r\n", ALL);
		ck_assert_int_eq(n_spans, 1);
		ck_assert(memcmp(spans[0].trace_id, tid, 16));
		ck_assert(is_zero(spans[0].parent_span_id, 8));
	}
}
END_TEST

/* B3 is read only when OTEL_PROPAGATORS asks for it. */
START_TEST(server_b3)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: h\r\n"
				  "b3: " IN_TID "-" IN_SID "-1\r\n\r\n";
	uint8_t tid[16];
	struct conn *c;

	hex_to(IN_TID, tid, 16);
	c = server();
	received(c, req, ALL);
	sent(c, "HTTP/1.1 204 No Content\r\n\r\n", ALL);
	ck_assert_int_eq(n_spans, 1);
	ck_assert(memcmp(spans[0].trace_id, tid, 16));

	load_config("b3", NULL);
	c = server();
	received(c, req, ALL);
	sent(c, "HTTP/1.1 204 No Content\r\n\r\n", ALL);
	ck_assert_int_eq(n_spans, 2);
	ck_assert(!memcmp(spans[1].trace_id, tid, 16));
}
END_TEST

/* The connection closes before the response: an error. */
START_TEST(server_close_before_response)
{
	struct conn *c = server();

	received(c, srv_req, ALL);
	conn_untrack(fd_of(c));
	ck_assert_int_eq(n_spans, 1);
	ck_assert_uint_eq(spans[0].status, SPAN_STATUS_ERROR);
	ck_assert_str_eq(sattr(&spans[0], "error.type"),
			 "closed_before_response");
	/* closed in the middle of a Content-Length response */
	c = server();
	n_spans = 0;
	received(c, srv_req, ALL);
	sent(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", ALL);
	conn_untrack(fd_of(c));
	ck_assert_int_eq(n_spans, 1);
	ck_assert_str_eq(sattr(&spans[0], "error.type"), "response_incomplete");
}
END_TEST

/* A close-delimited response ends with the server's close, no error. */
START_TEST(server_close_delimited)
{
	struct conn *c = server();

	received(c, "GET / HTTP/1.0\r\n\r\n", ALL);
	sent(c, "HTTP/1.0 200 OK\r\n\r\nthe body, until close", 4);
	ck_assert_int_eq(n_spans, 0);
	conn_untrack(fd_of(c));
	ck_assert_int_eq(n_spans, 1);
	ck_assert_ptr_null(attr(&spans[0], "error.type"));
	ck_assert_str_eq(sattr(&spans[0], "network.protocol.version"), "1.0");
}
END_TEST

/* HEAD, 1xx and no-body statuses on the server side. */
START_TEST(server_no_body)
{
	struct conn *c = server();

	received(c, "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", ALL);
	sent(c, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", ALL);
	ck_assert_int_eq(n_spans, 1);
	received(c, "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n"
		    "Expect: 100-continue\r\n\r\n",
		 ALL);
	sent(c, "HTTP/1.1 100 Continue\r\n\r\n", ALL);
	received(c, "ok", ALL);
	ck_assert_int_eq(n_spans, 1);
	sent(c, "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", 1);
	ck_assert_int_eq(n_spans, 2);
	ck_assert_int_eq(iattr(&spans[1], "http.response.status_code"), 304);
	ck_assert_int_eq(n_untraceable, 0);
}
END_TEST

/* Pipelined requests on a server connection. */
START_TEST(server_pipelined)
{
	struct conn *c = server();

	received(c, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", ALL);
	ck_assert_int_eq(c->http.n_inflight, 2);
	sent(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
		"HTTP/1.1 202 Accepted\r\nContent-Length: 1\r\n\r\nb",
	     ALL);
	ck_assert_int_eq(n_spans, 2);
	ck_assert_str_eq(sattr(&spans[0], "url.path"), "/1");
	ck_assert_str_eq(sattr(&spans[1], "url.path"), "/2");
	ck_assert_int_eq(iattr(&spans[1], "http.response.status_code"), 202);
}
END_TEST

START_TEST(server_not_http)
{
	static const char *const first[] = {
		"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"HELO x\r\n",
	};

	for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++) {
		struct conn *c = server();
		received(c, first[i], ALL);
		ck_assert_msg(c->proto == CONN_PROTO_OTHER, "case %zu", i);
		sent(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ALL);
		conn_untrack(fd_of(c));
		ck_assert_int_eq(n_spans, 0);
		ck_assert_int_eq(n_untraceable, 0);
	}
}
END_TEST

/* A server's body sent with sendfile (bytes we cannot see). */
START_TEST(server_sendfile_body)
{
	struct conn *c = server();

	received(c, srv_req, ALL);
	sent(c, "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n", ALL);
	http_conn_on_send_opaque(c, 4000, 0);
	http_conn_on_send_opaque(c, 5999, 0);
	ck_assert_int_eq(n_spans, 0);
	http_conn_on_send_opaque(c, 1, 0);
	ck_assert_int_eq(n_spans, 1);
	/* the next request is still followed */
	received(c, srv_req, ALL);
	sent(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ALL);
	ck_assert_int_eq(n_spans, 2);
}
END_TEST

/* A reset while the response is being written. */
START_TEST(server_reset)
{
	struct conn *c = server();

	received(c, srv_req, ALL);
	sent(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab", ALL);
	http_conn_on_error(c, EPIPE, tick());
	ck_assert_int_eq(n_spans, 1);
	ck_assert_uint_eq(spans[0].status, SPAN_STATUS_ERROR);
	ck_assert_str_eq(sattr(&spans[0], "error.type"), "broken_pipe");
	ck_assert_int_eq(iattr(&spans[0], "http.response.status_code"), 200);
	/* a client half-close (EOF) does not end a server exchange */
	c = server();
	n_spans = 0;
	received(c, srv_req, ALL);
	http_conn_on_eof(c, tick());
	ck_assert_int_eq(n_spans, 0);
	sent(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ALL);
	ck_assert_int_eq(n_spans, 1);
	ck_assert_ptr_null(attr(&spans[0], "error.type"));
}
END_TEST

/* A client request body sent with sendfile (bytes we cannot see). */
START_TEST(client_sendfile_body)
{
	struct conn *c = client();

	sent(c, "PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n",
	     ALL);
	http_conn_on_send_opaque(c, 4999, 0);
	http_conn_on_send_opaque(c, 1, 0);
	sent(c, get_req, ALL);
	ck_assert_int_eq(c->http.n_inflight, 2);
	received(c, ok_resp, ALL);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 2);
	ck_assert_str_eq(sattr(&spans[1], "url.full"),
			 "http://example.com/path?q=1");
	/* past the end of a body: the stream cannot be followed */
	sent(c, "PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n",
	     ALL);
	http_conn_on_send_opaque(c, 11, 0);
	ck_assert_int_eq(c->proto, CONN_PROTO_OTHER);
	ck_assert_int_eq(n_untraceable, 1);
}
END_TEST

/* ---- parent selection between server and client spans -------------------- */

/*
 * A request served on this thread is the parent of the client calls made
 * meanwhile: via the connection binding when the connection is opened
 * while serving, via the thread rule for one opened before.
 */
START_TEST(client_child_of_server)
{
	struct conn *early = client();	/* e.g. a pooled connection */
	struct conn *s = server();

	received(s,
		 "GET /api HTTP/1.1\r\nHost: h\r\n"
		 "traceparent: 00-" IN_TID "-" IN_SID "-01\r\n"
		 "baggage: user=alice\r\n\r\n",
		 ALL);
	struct conn *bound = client();	/* opened while serving */
	sent(bound, get_req, ALL);
	sent(early, get_req, ALL);
	received(bound, ok_resp, ALL);
	received(early, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 2);
	sent(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ALL);
	ck_assert_int_eq(n_spans, 3);

	const struct span_record *srv = &spans[2];
	ck_assert_uint_eq(srv->kind, SPAN_KIND_SERVER);
	for (int i = 0; i < 2; i++) {
		ck_assert_uint_eq(spans[i].kind, SPAN_KIND_CLIENT);
		ck_assert(!memcmp(spans[i].trace_id, srv->trace_id, 16));
		ck_assert(!memcmp(spans[i].parent_span_id, srv->span_id, 8));
		/* a local parent */
		ck_assert_uint_eq(spans[i].flags & SPAN_FLAGS_IS_REMOTE, 0);
	}
	ck_assert_str_eq(sattr(&spans[0], "otelshim.parent.rule"),
			 "connection");
	ck_assert_str_eq(sattr(&spans[1], "otelshim.parent.rule"), "thread");

	/* after the response, nothing is served: a new trace */
	sent(early, get_req, ALL);
	received(early, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 4);
	ck_assert(memcmp(spans[3].trace_id, srv->trace_id, 16));
	ck_assert_str_eq(sattr(&spans[3], "otelshim.parent.rule"), "none");
}
END_TEST

/* ---- the rewriting send path (http_conn_send) ---------------------------- */

/*
 * The fake wire: the "real call" of the program. It takes at most
 * max_per_call bytes per call, and fails every eagain_every-th call with
 * EAGAIN (or with fail_errno once, when set).
 */
struct wire {
	char buf[65536];
	size_t len;
	size_t max_per_call;
	int eagain_every;
	int calls;
	int fail_errno;		/* every call fails with it, when set */
};

static struct wire wire;

static void wire_reset(size_t max_per_call, int eagain_every)
{
	memset(&wire, 0, sizeof(wire));
	wire.max_per_call = max_per_call;
	wire.eagain_every = eagain_every;
}

static ssize_t wire_plain(const struct http_send_call *call,
			  const struct iovec *iov, int iovcnt)
{
	size_t n = 0;

	ck_assert_int_ge(iovcnt, 1);
	wire.calls++;
	if (wire.fail_errno) {
		errno = wire.fail_errno;
		return -1;
	}
	if (wire.eagain_every && wire.calls % wire.eagain_every == 0) {
		errno = EAGAIN;
		return -1;
	}
	for (int i = 0; i < iovcnt && n < wire.max_per_call; i++) {
		size_t k = iov[i].iov_len;
		if (k > wire.max_per_call - n)
			k = wire.max_per_call - n;
		ck_assert_uint_le(wire.len + k, sizeof(wire.buf));
		memcpy(wire.buf + wire.len, iov[i].iov_base, k);
		wire.len += k;
		n += k;
	}
	(void)call;
	return (ssize_t)n;
}

/*
 * The program writes iov[0..iovcnt) completely, as a correct program does:
 * it advances past what each call reports and retries EAGAIN. Returns the
 * number of calls. The counts reported must add up to exactly the total.
 */
static int program_writev(struct conn *c, const struct iovec *iov_in,
			  int iovcnt, int flags)
{
	struct iovec iov[8];
	struct http_send_call call = {
		.fd = -1, .flags = flags, .plain = wire_plain};
	size_t total = 0, done = 0;
	int calls = 0;

	ck_assert_int_le(iovcnt, 8);
	memcpy(iov, iov_in, sizeof(iov[0]) * (size_t)iovcnt);
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	int first = 0;
	while (done < total) {
		ck_assert_int_lt(++calls, 100000);
		ssize_t r = http_conn_send(c, &call, iov + first,
					   iovcnt - first);
		if (r < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			continue;
		}
		ck_assert_int_gt(r, 0);
		ck_assert_uint_le((size_t)r, total - done);
		done += (size_t)r;
		/* advance the iovecs */
		size_t k = (size_t)r;
		while (k > 0) {
			if (k >= iov[first].iov_len) {
				k -= iov[first].iov_len;
				first++;
			} else {
				iov[first].iov_base =
					(char *)iov[first].iov_base + k;
				iov[first].iov_len -= k;
				k = 0;
			}
		}
		while (first < iovcnt && iov[first].iov_len == 0)
			first++;
	}
	ck_assert_uint_eq(done, total);
	return calls;
}

/* Like program_writev() for any number of iovecs (a copy is advanced). */
static void program_writev_n(struct conn *c, const struct iovec *iov_in,
			     int iovcnt)
{
	static struct iovec iov[1024];
	struct http_send_call call = {.fd = -1, .plain = wire_plain};
	size_t total = 0, done = 0;
	int first = 0, calls = 0;

	ck_assert_int_le(iovcnt, 1024);
	memcpy(iov, iov_in, sizeof(iov[0]) * (size_t)iovcnt);
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	while (done < total) {
		ck_assert_int_lt(++calls, 100000);
		ssize_t r = http_conn_send(c, &call, iov + first,
					   iovcnt - first);
		ck_assert_int_gt(r, 0);
		ck_assert_uint_le((size_t)r, total - done);
		done += (size_t)r;
		size_t k = (size_t)r;
		while (k > 0 || (first < iovcnt && !iov[first].iov_len)) {
			if (k >= iov[first].iov_len) {
				k -= iov[first].iov_len;
				first++;
			} else {
				iov[first].iov_base =
					(char *)iov[first].iov_base + k;
				iov[first].iov_len -= k;
				k = 0;
			}
		}
	}
}

static void program_write(struct conn *c, const char *s, size_t len,
			  int flags)
{
	struct iovec v = {(void *)s, len};

	program_writev(c, &v, 1, flags);
}

/* The value of the first header line "name: value" on the wire. */
static const char *wire_header(const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *p = wire.buf, *end = wire.buf + wire.len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			return NULL;
		if (eol == p || (eol == p + 1 && *p == '\r'))
			return NULL;	/* end of the head */
		if ((size_t)(eol - p) > nl + 1 && !strncasecmp(p, name, nl) &&
		    p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			const char *e = eol;
			if (e > v && e[-1] == '\r')
				e--;
			*vlen = (size_t)(e - v);
			return v;
		}
		p = eol + 1;
	}
	return NULL;
}

static int wire_count(const char *needle)
{
	int n = 0;
	size_t nl = strlen(needle);

	for (size_t i = 0; i + nl <= wire.len; i++)
		if (!strncasecmp(wire.buf + i, needle, nl))
			n++;
	return n;
}

/* "traceparent: <span r>" as it must appear on the wire. */
static void expected_traceparent(const struct span_record *r, char *out)
{
	tracecontext_format_traceparent(r->trace_id, r->span_id,
					(uint8_t)(r->flags & 0xff), out);
}

/*
 * The wire must be exactly the program's bytes with one header line
 * inserted before the blank line that ends the head.
 */
static void assert_wire_is(const char *head, size_t head_len,
			   const char *body, size_t body_len,
			   const char *line)
{
	char want[65536];
	size_t term = head[head_len - 2] == '\r' ? 2 : 1;
	size_t n = 0, ll = strlen(line);

	memcpy(want, head, head_len - term);
	n = head_len - term;
	memcpy(want + n, line, ll);
	n += ll;
	memcpy(want + n, head + head_len - term, term);
	n += term;
	memcpy(want + n, body, body_len);
	n += body_len;
	ck_assert_uint_eq(wire.len, n);
	ck_assert_msg(!memcmp(wire.buf, want, n), "wire:\n%.*s\nwant:\n%.*s",
		      (int)wire.len, wire.buf, (int)n, want);
}

static const char post_head[] = "POST /submit HTTP/1.1\r\n"
				"Host: api.example\r\n"
				"Content-Type: application/json\r\n"
				"Content-Length: 13\r\n"
				"\r\n";
static const char post_body[] = "{\"a\":[1,2,3]}";

/* Injection with every write size of the wire, one program write. */
START_TEST(inject_partial_writes)
{
	static const size_t sizes[] = {1, 2, 3, 5, 7, 13, 64, 100000};
	char all[512];
	size_t hl = strlen(post_head), bl = strlen(post_body);

	memcpy(all, post_head, hl);
	memcpy(all + hl, post_body, bl);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int eagain = 0; eagain <= 3; eagain += 3) {
			struct conn *c = client();
			char tp[128], line[160];
			n_spans = 0;
			wire_reset(sizes[i], eagain);
			program_write(c, all, hl + bl,
				      eagain ? MSG_DONTWAIT : 0);
			received(c, ok_resp, ALL);
			ck_assert_int_eq(n_spans, 1);
			expected_traceparent(&spans[0], tp);
			snprintf(line, sizeof(line), "traceparent: %s\r\n", tp);
			assert_wire_is(post_head, hl, post_body, bl, line);
			ck_assert_int_eq(c->http.pend_len, 0);
			ck_assert_int_eq(n_untraceable, 0);
		}
	}
}
END_TEST

/*
 * Every split of head+body into two iovecs (writev) and into two
 * separate writes, under short writes: the wire is always the program's
 * bytes plus the one injected line.
 */
START_TEST(inject_every_split)
{
	char all[512];
	size_t hl = strlen(post_head), bl = strlen(post_body);
	size_t len = hl + bl;

	memcpy(all, post_head, hl);
	memcpy(all + hl, post_body, bl);
	for (size_t s = 0; s <= len; s++) {
		for (int mode = 0; mode < 4; mode++) {
			struct conn *c = client();
			char tp[128], line[160];
			n_spans = 0;
			wire_reset(mode & 1 ? 7 : 100000, mode & 1 ? 4 : 0);
			if (mode & 2) {
				if (s)
					program_write(c, all, s, MSG_DONTWAIT);
				if (len - s)
					program_write(c, all + s, len - s,
						      MSG_DONTWAIT);
			} else {
				struct iovec v[2] = {{all, s},
						     {all + s, len - s}};
				program_writev(c, v, 2, MSG_DONTWAIT);
			}
			received(c, ok_resp, ALL);
			ck_assert_msg(n_spans == 1, "split %zu mode %d", s,
				      mode);
			expected_traceparent(&spans[0], tp);
			snprintf(line, sizeof(line), "traceparent: %s\r\n", tp);
			assert_wire_is(post_head, hl, post_body, bl, line);
		}
	}
}
END_TEST

/* Each request of a keep-alive connection gets its own span id. */
START_TEST(inject_keep_alive)
{
	struct conn *c = client();
	char prev[TRACEPARENT_LEN + 1] = "";

	for (int i = 0; i < 3; i++) {
		char tp[TRACEPARENT_LEN + 1];
		size_t vl;
		wire_reset(3, 0);
		program_write(c, get_req, strlen(get_req), 0);
		const char *v = wire_header("traceparent", &vl);
		ck_assert_ptr_nonnull(v);
		ck_assert_uint_eq(vl, TRACEPARENT_LEN);
		received(c, ok_resp, 2);
		ck_assert_int_eq(n_spans, i + 1);
		expected_traceparent(&spans[i], tp);
		ck_assert(!memcmp(v, tp, TRACEPARENT_LEN));
		ck_assert(memcmp(prev, tp, TRACEPARENT_LEN));
		memcpy(prev, tp, sizeof(tp));
		ck_assert_int_eq(wire_count("traceparent:"), 1);
	}
}
END_TEST

/*
 * The program's own traceparent: its value is the parent (rule "header")
 * and is replaced in place; duplicates are dropped.
 */
START_TEST(inject_replaces_program_traceparent)
{
	static const char head[] =
		"GET /x HTTP/1.1\r\n"
		"Host: h\r\n"
		"traceparent: 00-" IN_TID "-" IN_SID "-01\r\n"
		"Accept: */*\r\n"
		"\r\n";
	struct conn *c = client();
	uint8_t tid[16], sid[8];
	char tp[TRACEPARENT_LEN + 1];
	size_t vl;

	wire_reset(5, 0);
	program_write(c, head, strlen(head), 0);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 1);
	hex_to(IN_TID, tid, 16);
	hex_to(IN_SID, sid, 8);
	ck_assert(!memcmp(spans[0].trace_id, tid, 16));
	ck_assert(!memcmp(spans[0].parent_span_id, sid, 8));
	ck_assert_str_eq(sattr(&spans[0], "otelshim.parent.rule"), "header");
	expected_traceparent(&spans[0], tp);
	ck_assert_int_eq(wire_count("traceparent:"), 1);
	const char *v = wire_header("traceparent", &vl);
	ck_assert_uint_eq(vl, TRACEPARENT_LEN);
	ck_assert(!memcmp(v, tp, vl));
	/* in place: the header order is unchanged */
	ck_assert_ptr_nonnull(strstr(wire.buf, "Host: h\r\ntraceparent: "));
	ck_assert_ptr_nonnull(strstr(wire.buf, "-01\r\nAccept: */*\r\n\r\n"));
	ck_assert_uint_eq(wire.len, strlen(head));

	/* two of them: invalid as a parent; one line of ours is left */
	static const char dup[] =
		"GET /x HTTP/1.1\r\n"
		"traceparent: 00-" IN_TID "-" IN_SID "-01\r\n"
		"Host: h\r\n"
		"TraceParent: 00-" IN_TID "-" IN_SID "-00\r\n"
		"\r\n";
	c = client();
	n_spans = 0;
	wire_reset(100000, 0);
	program_write(c, dup, strlen(dup), 0);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 1);
	ck_assert(memcmp(spans[0].trace_id, tid, 16));
	ck_assert_int_eq(wire_count("traceparent:"), 1);
	ck_assert_uint_eq(wire.len, strlen(dup) - strlen("TraceParent: 00-"
							  IN_TID "-" IN_SID
							  "-00\r\n"));
}
END_TEST

/* Bare-LF heads get a bare-LF line. */
START_TEST(inject_bare_lf)
{
	static const char head[] = "GET / HTTP/1.1\nHost: h\n\n";
	struct conn *c = client();
	char tp[128], line[160];

	wire_reset(2, 0);
	program_write(c, head, strlen(head), 0);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 1);
	expected_traceparent(&spans[0], tp);
	snprintf(line, sizeof(line), "traceparent: %s\n", tp);
	assert_wire_is(head, strlen(head), "", 0, line);
}
END_TEST

/*
 * A call made while serving a request carries its trace: traceparent with
 * the server span as parent, its tracestate and baggage.
 */
START_TEST(inject_context_from_server)
{
	struct conn *s = server();
	struct conn *c;
	char tp[TRACEPARENT_LEN + 1];
	size_t vl;
	const char *v;

	received(s,
		 "GET / HTTP/1.1\r\nHost: h\r\n"
		 "traceparent: 00-" IN_TID "-" IN_SID "-01\r\n"
		 "tracestate: vendor=abc\r\n"
		 "baggage: user=alice,tier=gold\r\n\r\n",
		 ALL);
	c = client();
	wire_reset(100000, 0);
	program_write(c, get_req, strlen(get_req), 0);
	received(c, ok_resp, ALL);
	sent(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ALL);
	ck_assert_int_eq(n_spans, 2);
	expected_traceparent(&spans[0], tp);
	v = wire_header("traceparent", &vl);
	ck_assert_ptr_nonnull(v);
	ck_assert(!memcmp(v, tp, TRACEPARENT_LEN));
	ck_assert(!memcmp(v, "00-" IN_TID "-", 36));
	ck_assert(!memcmp(spans[0].parent_span_id, spans[1].span_id, 8));
	v = wire_header("tracestate", &vl);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq((int)vl, 10);
	ck_assert(!memcmp(v, "vendor=abc", vl));
	v = wire_header("baggage", &vl);
	ck_assert_ptr_nonnull(v);
	ck_assert(!memcmp(v, "user=alice,tier=gold", vl));
	ck_assert_uint_eq(vl, strlen("user=alice,tier=gold"));
}
END_TEST

/*
 * An unsampled incoming trace is still propagated, with the sampled flag
 * clear, and no span is exported for either side.
 */
START_TEST(inject_unsampled_propagates)
{
	struct conn *s = server();
	struct conn *c;
	size_t vl;
	const char *v;

	received(s,
		 "GET / HTTP/1.1\r\n"
		 "traceparent: 00-" IN_TID "-" IN_SID "-00\r\n\r\n",
		 ALL);
	c = client();
	wire_reset(100000, 0);
	program_write(c, get_req, strlen(get_req), 0);
	v = wire_header("traceparent", &vl);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(vl, TRACEPARENT_LEN);
	ck_assert(!memcmp(v, "00-" IN_TID "-", 36));
	ck_assert(memcmp(v + 36, IN_SID, 16));	/* a new parent-id */
	ck_assert(!memcmp(v + 53, "00", 2));
	received(c, ok_resp, ALL);
	sent(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ALL);
	ck_assert_int_eq(n_spans, 0);
}
END_TEST

START_TEST(inject_b3)
{
	struct conn *c;
	size_t vl;
	const char *v;
	char hex[33];

	load_config("b3", NULL);
	c = client();
	wire_reset(100000, 0);
	program_write(c, get_req, strlen(get_req), 0);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 1);
	ck_assert_int_eq(wire_count("traceparent"), 0);
	v = wire_header("b3", &vl);
	ck_assert_ptr_nonnull(v);
	tracecontext_hex(spans[0].trace_id, 16, hex);
	ck_assert(!memcmp(v, hex, 32));
	tracecontext_hex(spans[0].span_id, 8, hex);
	ck_assert(!memcmp(v + 33, hex, 16));
	ck_assert(!memcmp(v + 49, "-1", 2));

	load_config("b3multi,tracecontext", NULL);
	c = client();
	n_spans = 0;
	wire_reset(100000, 0);
	program_write(c, get_req, strlen(get_req), 0);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 1);
	ck_assert_ptr_nonnull(wire_header("traceparent", &vl));
	v = wire_header("X-B3-TraceId", &vl);
	ck_assert_ptr_nonnull(v);
	tracecontext_hex(spans[0].trace_id, 16, hex);
	ck_assert(!memcmp(v, hex, 32));
	v = wire_header("X-B3-SpanId", &vl);
	ck_assert_ptr_nonnull(v);
	tracecontext_hex(spans[0].span_id, 8, hex);
	ck_assert(!memcmp(v, hex, 16));
	v = wire_header("X-B3-Sampled", &vl);
	ck_assert_ptr_nonnull(v);
	ck_assert(!memcmp(v, "1", 1));
}
END_TEST

/* OTEL_PROPAGATORS=none: the bytes go out exactly as written. */
START_TEST(inject_none)
{
	struct conn *c;

	load_config("none", NULL);
	c = client();
	wire_reset(4, 0);
	program_write(c, post_head, strlen(post_head), 0);
	program_write(c, post_body, strlen(post_body), 0);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 1);
	assert_wire_is(post_head, strlen(post_head), post_body,
		       strlen(post_body), "");
}
END_TEST

/* Not HTTP: the program's bytes go out unchanged and are all accounted. */
START_TEST(send_not_http)
{
	static const char tls[] = "\x16\x03\x01\x00\x05hello-more-bytes";
	struct conn *c = client();
	struct http_send_call call = {.fd = -1, .plain = wire_plain};
	struct iovec v = {(void *)tls, sizeof(tls) - 1};

	wire_reset(100000, 0);
	ck_assert_int_eq(http_conn_send(c, &call, &v, 1), sizeof(tls) - 1);
	ck_assert_uint_eq(wire.len, sizeof(tls) - 1);
	ck_assert(!memcmp(wire.buf, tls, wire.len));
	ck_assert_int_eq(wire.calls, 1);
	ck_assert_int_eq(http_conn_send_intercepts(c), 0);
	ck_assert_int_eq(n_spans, 0);
}
END_TEST

/*
 * Bytes that looked like the start of a request are held; when the rest
 * shows it is not HTTP, the held bytes go out first, unchanged.
 */
START_TEST(send_held_then_not_http)
{
	struct conn *c = client();
	struct http_send_call call = {.fd = -1, .plain = wire_plain};
	struct iovec v = {"GE", 2};

	wire_reset(100000, 0);
	ck_assert_int_eq(http_conn_send(c, &call, &v, 1), 2);
	ck_assert_uint_eq(wire.len, 0);		/* held */
	v = (struct iovec){"Xfoo\r\n", 6};
	ck_assert_int_eq(http_conn_send(c, &call, &v, 1), 6);
	ck_assert_uint_eq(wire.len, 8);
	ck_assert(!memcmp(wire.buf, "GEXfoo\r\n", 8));
	ck_assert_int_eq(http_conn_send_intercepts(c), 0);
	ck_assert_int_eq(n_spans, 0);
}
END_TEST

/*
 * A hard error while sending: the span fails at once, and the program sees
 * the error no later than its next call (the bytes it had already handed
 * over may be reported taken, as a kernel may accept bytes before a reset).
 */
START_TEST(send_error)
{
	struct conn *c = client();
	struct http_send_call call = {.fd = -1, .plain = wire_plain};
	size_t len = strlen(get_req), off = 0;
	ssize_t r;

	wire_reset(100000, 0);
	wire.fail_errno = ECONNRESET;
	for (;;) {
		struct iovec v = {(void *)(get_req + off), len - off};
		ck_assert_uint_lt(off, len);
		errno = 0;
		r = http_conn_send(c, &call, &v, 1);
		if (r < 0)
			break;
		ck_assert_int_gt(r, 0);
		off += (size_t)r;
	}
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_uint_eq(wire.len, 0);
	ck_assert_int_eq(n_spans, 1);
	ck_assert_uint_eq(spans[0].status, SPAN_STATUS_ERROR);
	ck_assert_str_eq(sattr(&spans[0], "error.type"), "connection_reset");
	/* the error is reported once, as the program sees it again */
	struct iovec v = {(void *)get_req, len};
	ck_assert_int_eq(http_conn_send(c, &call, &v, 1), -1);
	ck_assert_int_eq(n_spans, 1);
}
END_TEST

/*
 * A non-blocking program whose write is cut inside our bytes: it is told
 * only about its own bytes, and the rest is owed; http_conn_flush() sends
 * what is owed (here to a socketpair) when the program closes.
 */
START_TEST(send_owed_then_flush)
{
	int sv[2];
	struct conn *c = client();
	struct http_send_call call = {
		.fd = -1, .flags = MSG_DONTWAIT, .plain = wire_plain};
	struct iovec v = {(void *)get_req, strlen(get_req)};
	char got[1024];
	ssize_t r;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	wire_reset(10, 2);	/* 10 bytes, then EAGAIN */
	r = http_conn_send(c, &call, &v, 1);
	/*
	 * The head was rewritten into owed bytes, of which 10 went out. The
	 * program is told its bytes up to the final CRLF were taken: that
	 * CRLF stays its own, so it must call again (after what is owed).
	 */
	ck_assert_int_eq(r, (ssize_t)strlen(get_req) - 2);
	size_t taken = (size_t)r;
	ck_assert_uint_eq(wire.len, 10);
	ck_assert_uint_gt(c->http.pend_len, 0);
	uint32_t owed = c->http.pend_len;
	http_conn_flush(c, sv[0]);
	ck_assert_uint_eq(c->http.pend_len, 0);
	r = recv(sv[1], got, sizeof(got), MSG_DONTWAIT);
	ck_assert_int_eq(r, (ssize_t)owed);
	/* wire + flushed: the rewritten head except the program's unsent
	   tail (the last CRLF, still the program's) */
	memcpy(wire.buf + wire.len, got, (size_t)r);
	wire.len += (size_t)r;
	ck_assert_int_eq(wire_count("traceparent: 00-"), 1);
	ck_assert(!memcmp(wire.buf, get_req, 10));
	/* the program sends its last two bytes: they follow, once */
	wire.eagain_every = 0;
	v = (struct iovec){(void *)(get_req + taken), 2};
	call.flags = 0;
	ck_assert_int_eq(http_conn_send(c, &call, &v, 1), 2);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 1);
	char tp[128], line[160];
	expected_traceparent(&spans[0], tp);
	snprintf(line, sizeof(line), "traceparent: %s\r\n", tp);
	assert_wire_is(get_req, strlen(get_req), "", 0, line);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* Two requests in one write: each head gets its own line. */
START_TEST(inject_pipelined)
{
	char all[512];
	size_t gl = strlen(get_req), hl = strlen(post_head),
	       bl = strlen(post_body);

	memcpy(all, post_head, hl);
	memcpy(all + hl, post_body, bl);
	memcpy(all + hl + bl, get_req, gl);
	for (size_t max = 1; max <= 200; max += 33) {
		struct conn *c = client();
		char tp0[TRACEPARENT_LEN + 1], tp1[TRACEPARENT_LEN + 1];
		n_spans = 0;
		wire_reset(max, 0);
		program_write(c, all, hl + bl + gl, 0);
		received(c, ok_resp, ALL);
		received(c, ok_resp, ALL);
		ck_assert_int_eq(n_spans, 2);
		expected_traceparent(&spans[0], tp0);
		expected_traceparent(&spans[1], tp1);
		ck_assert_int_eq(wire_count("traceparent:"), 2);
		ck_assert_uint_eq(wire.len, hl + bl + gl +
						    2 * (TRACEPARENT_LEN + 15));
		char *second = wire.buf + hl + bl + TRACEPARENT_LEN + 15;
		ck_assert(!memcmp(second, "GET /path", 9));
		size_t first_len = (size_t)(second - wire.buf);
		ck_assert_ptr_nonnull(
			memmem(wire.buf, first_len, tp0, TRACEPARENT_LEN));
		ck_assert_ptr_nonnull(memmem(second, wire.len - first_len, tp1,
					     TRACEPARENT_LEN));
	}
}
END_TEST

/*
 * A request head larger than the rewriting buffer, written in one call
 * (so it is parsed in place, never gathered): it must go out intact,
 * with or without our line, and nothing may be written out of bounds.
 */
START_TEST(inject_huge_head_one_call)
{
	static char head[3 * HTTP_ACC_SIZE];
	struct conn *c = client();
	size_t n;

	n = (size_t)snprintf(head, sizeof(head), "GET /big HTTP/1.1\r\n"
						 "Host: h\r\nX-Big: ");
	memset(head + n, 'b', sizeof(head) - n - 5);
	memcpy(head + sizeof(head) - 5, "\r\n\r\n", 5);
	/* the connection after c in the pool must not be touched */
	struct conn *next = client();
	char peer_before[sizeof(next->peer_addr)];
	memcpy(peer_before, next->peer_addr, sizeof(peer_before));
	wire_reset(100000, 0);
	program_write(c, head, sizeof(head) - 1, 0);
	ck_assert(!memcmp(next->peer_addr, peer_before, sizeof(peer_before)));
	ck_assert_int_eq(next->refs, 1);
	/* every byte of the program's head is on the wire, in order */
	ck_assert_uint_ge(wire.len, sizeof(head) - 1);
	ck_assert(!memcmp(wire.buf, head, 20));
	ck_assert(!memcmp(wire.buf + wire.len - 4, "\r\n\r\n", 4));
	/* too large to rewrite: it goes out exactly as written, traced */
	ck_assert_uint_eq(wire.len, sizeof(head) - 1);
	ck_assert(!memcmp(wire.buf, head, sizeof(head) - 1));
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 1);
	/* and the connection is still followed: the next request is
	   rewritten */
	static const char next_req[] = "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
	program_write(c, next_req, sizeof(next_req) - 1, 0);
	ck_assert_int_eq(wire_count("traceparent:"), 1);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 2);
}
END_TEST

/*
 * A body written with more iovecs than the send path slices at once
 * (writev allows 1024): the byte count followed must stay exact, or the
 * next request is read from the middle of the body.
 */
START_TEST(send_many_iovecs_body)
{
	static const char head[] = "POST /many HTTP/1.1\r\nHost: h\r\n"
				   "Content-Length: 100\r\n\r\n";
	struct conn *c = client();
	struct iovec v[100];
	char body[100];

	memset(body, 'x', sizeof(body));
	for (int i = 0; i < 100; i++)
		v[i] = (struct iovec){body + i, 1};
	wire_reset(100000, 0);
	program_write(c, head, strlen(head), 0);
	program_writev_n(c, v, 100);
	program_write(c, get_req, strlen(get_req), 0);
	/* the program's bytes all went out, in order */
	ck_assert_ptr_nonnull(memmem(wire.buf, wire.len, body, sizeof(body)));
	/* ...and the request after the body got its traceparent */
	ck_assert_int_eq(wire_count("traceparent:"), 2);
	received(c, ok_resp, ALL);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_untraceable, 0);
	ck_assert_int_eq(n_spans, 2);
	ck_assert_str_eq(sattr(&spans[0], "url.full"), "http://h/many");
	ck_assert_str_eq(sattr(&spans[1], "url.full"),
			 "http://example.com/path?q=1");
}
END_TEST

/* The same on the observe path (http_conn_on_send), for comparison. */
START_TEST(observe_many_iovecs_body)
{
	static const char head[] = "POST /many HTTP/1.1\r\nHost: h\r\n"
				   "Content-Length: 100\r\n\r\n";
	struct conn *c = client();
	struct iovec v[100];
	char body[100];

	memset(body, 'x', sizeof(body));
	for (int i = 0; i < 100; i++)
		v[i] = (struct iovec){body + i, 1};
	sent(c, head, ALL);
	http_conn_on_send(c, v, 100, 100, tick());
	sent(c, get_req, ALL);
	received(c, ok_resp, ALL);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 2);
	ck_assert_str_eq(sattr(&spans[1], "url.full"),
			 "http://example.com/path?q=1");
}
END_TEST

/* A head spread over more iovecs than are sliced at once. */
START_TEST(send_head_in_many_iovecs)
{
	struct conn *c = client();
	size_t len = strlen(get_req);
	struct iovec v[128];
	char tp[128], line[160];

	ck_assert_uint_lt(len, 128);
	for (size_t i = 0; i < len; i++)
		v[i] = (struct iovec){(void *)(get_req + i), 1};
	wire_reset(100000, 0);
	program_writev_n(c, v, (int)len);
	received(c, ok_resp, ALL);
	ck_assert_int_eq(n_spans, 1);
	expected_traceparent(&spans[0], tp);
	snprintf(line, sizeof(line), "traceparent: %s\r\n", tp);
	assert_wire_is(get_req, len, "", 0, line);
}
END_TEST

Suite *unit_suite(void)
{
	Suite *s = suite_create("http_conn");
	TCase *t;

	t = tcase_create("client");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, client_simple);
	tcase_add_test(t, client_byte_by_byte);
	tcase_add_test(t, client_every_split);
	tcase_add_test(t, client_keep_alive);
	tcase_add_test(t, client_pipelined);
	tcase_add_test(t, client_pipelined_too_deep);
	tcase_add_test(t, client_no_body);
	tcase_add_test(t, client_interim);
	tcase_add_test(t, client_upgrade);
	tcase_add_test(t, client_chunked);
	tcase_add_test(t, client_close_delimited);
	tcase_add_test(t, client_eof_mid_body);
	tcase_add_test(t, client_eof_no_response);
	tcase_add_test(t, client_reset);
	tcase_add_test(t, client_close_before_response);
	tcase_add_test(t, client_dup);
	tcase_add_test(t, client_not_http);
	tcase_add_test(t, client_server_speaks_first);
	tcase_add_test(t, client_unsolicited_response);
	tcase_add_test(t, client_garbage_response);
	tcase_add_test(t, client_huge_response_head);
	tcase_add_test(t, client_huge_request_head);
	tcase_add_test(t, client_unknown_method);
	tcase_add_test(t, client_chunked_request);
	tcase_add_test(t, client_readv_partial);
	tcase_add_test(t, client_unsampled);
	tcase_add_test(t, client_sendfile_body);
	suite_add_tcase(s, t);

	t = tcase_create("server");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, server_simple);
	tcase_add_test(t, server_keep_alive);
	tcase_add_test(t, server_remote_parent);
	tcase_add_test(t, server_unsampled_parent);
	tcase_add_test(t, server_bad_traceparent);
	tcase_add_test(t, server_b3);
	tcase_add_test(t, server_close_before_response);
	tcase_add_test(t, server_close_delimited);
	tcase_add_test(t, server_no_body);
	tcase_add_test(t, server_pipelined);
	tcase_add_test(t, server_not_http);
	tcase_add_test(t, server_sendfile_body);
	tcase_add_test(t, server_reset);
	tcase_add_test(t, client_child_of_server);
	suite_add_tcase(s, t);

	t = tcase_create("inject");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, inject_partial_writes);
	tcase_add_test(t, inject_every_split);
	tcase_add_test(t, inject_keep_alive);
	tcase_add_test(t, inject_replaces_program_traceparent);
	tcase_add_test(t, inject_bare_lf);
	tcase_add_test(t, inject_context_from_server);
	tcase_add_test(t, inject_unsampled_propagates);
	tcase_add_test(t, inject_b3);
	tcase_add_test(t, inject_none);
	tcase_add_test(t, send_not_http);
	tcase_add_test(t, send_held_then_not_http);
	tcase_add_test(t, send_error);
	tcase_add_test(t, send_owed_then_flush);
	tcase_add_test(t, inject_pipelined);
	tcase_add_test(t, inject_huge_head_one_call);
	tcase_add_test(t, send_many_iovecs_body);
	tcase_add_test(t, observe_many_iovecs_body);
	tcase_add_test(t, send_head_in_many_iovecs);
	suite_add_tcase(s, t);
	return s;
}
