/*
 * test_http1.c - the HTTP/1.x head parsers, request detection and the
 * chunked scanner (shim/http1.h).
 *
 * Every input the parsers see here is first copied to the end of a read-only
 * mapping followed by a PROT_NONE page (picohttpparser's test trick), so any
 * read past buf + len, and any write to the buffer, faults and fails the
 * test. Split points are tried exhaustively where the inputs are small.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check_main.h"
#include "http1.h"

#define S(lit) lit, sizeof(lit) - 1

/* ---- guard page ------------------------------------------------------- */

struct guarded {
	char *map;
	size_t map_len;
};

/*
 * Copy len bytes so that the last one ends a read-only page and the next
 * page is PROT_NONE. Release with guard_free().
 */
static const char *guard_copy(struct guarded *g, const void *src, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t data = (len + pg - 1) / pg * pg;
	char *dst;

	if (data == 0)
		data = pg;
	g->map_len = data + pg;
	g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(g->map != MAP_FAILED);
	dst = g->map + data - len;
	if (len)
		memcpy(dst, src, len);
	ck_assert_int_eq(mprotect(g->map, data, PROT_READ), 0);
	ck_assert_int_eq(mprotect(g->map + data, pg, PROT_NONE), 0);
	return dst;
}

static void guard_free(struct guarded *g)
{
	munmap(g->map, g->map_len);
	g->map = NULL;
}

static int g_detect(const char *s, size_t len)
{
	struct guarded g;
	const char *p = guard_copy(&g, s, len);
	int r = http1_detect_request(p, len);

	guard_free(&g);
	return r;
}

/*
 * The input of the last parse stays mapped until the next one, so that the
 * views in the head can be checked.
 */
static struct guarded held;

static const char *hold_copy(const char *s, size_t len)
{
	if (held.map)
		guard_free(&held);
	return guard_copy(&held, s, len);
}

static int g_request(const char *s, size_t len, struct http1_head *h)
{
	return http1_parse_request(hold_copy(s, len), len, h);
}

static int g_response(const char *s, size_t len, struct http1_head *h)
{
	return http1_parse_response(hold_copy(s, len), len, h);
}

static int view_eq(struct http1_str v, const char *s)
{
	return v.p && v.len == strlen(s) && memcmp(v.p, s, v.len) == 0;
}

/* ---- detection -------------------------------------------------------- */

static const char tls_hello[] = {
	0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, (char)0xfc, 0x03,
	0x03, 0x5a, 0x11, 0x7e, (char)0x95, 0x20, 0x44, 0x41, 0x41, 0x41,
};

/* PostgreSQL StartupMessage: length, protocol 3.0, user, database. */
static const char pg_startup[] = {
	0x00, 0x00, 0x00, 0x25, 0x00, 0x03, 0x00, 0x00,
	'u', 's', 'e', 'r', 0, 'p', 'o', 's', 't', 'g', 'r', 'e', 's', 0,
	'd', 'a', 't', 'a', 'b', 'a', 's', 'e', 0, 'd', 'b', 0, 0,
};

/* PostgreSQL SSLRequest. */
static const char pg_ssl[] = {
	0x00, 0x00, 0x00, 0x08, 0x04, (char)0xd2, 0x16, 0x2f,
};

static const char method32[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF / HTTP/1.1\r\n";
static const char method33[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG / HTTP/1.1\r\n";

static const struct {
	const char *in;
	size_t len;
	int want;
} detect_cases[] = {
	{ S("GET / HTTP/1.1\r\n"), 1 },
	{ S("GET / HTTP/1.1\n"), 1 },
	{ S("GET / HTTP/1.0\r\nHost: x\r\n\r\n"), 1 },
	{ S("POST /api/v1?x=1 HTTP/1.1\r\n"), 1 },
	{ S("M-SEARCH * HTTP/1.1\r\n"), 1 },
	{ S("CONNECT example.com:443 HTTP/1.1\r\n"), 1 },
	{ S("OPTIONS * HTTP/1.1\r\n"), 1 },
	/* methods are case-sensitive tokens; any token is a method */
	{ S("get / HTTP/1.1\r\n"), 1 },
	{ S("GET /caf\xc3\xa9 HTTP/1.1\r\n"), 1 },
	{ method32, sizeof(method32) - 1, 1 },
	{ method33, sizeof(method33) - 1, -1 },
	/* proper prefixes */
	{ S(""), 0 },
	{ S("G"), 0 },
	{ S("GET"), 0 },
	{ S("GET "), 0 },
	{ S("GET /"), 0 },
	{ S("GET / "), 0 },
	{ S("GET / HTTP/1."), 0 },
	{ S("GET / HTTP/1.1"), 0 },
	{ S("GET / HTTP/1.1\r"), 0 },
	{ S("*1"), 0 },
	/* not HTTP/1.x */
	{ S("GET / HTTP/2.0\r\n"), -1 },
	{ S("GET / HTTP/1.2\r\n"), -1 },
	{ S("GET / HTTP/1.10\r\n"), -1 },
	{ S("GET / http/1.1\r\n"), -1 },
	{ S("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), -1 },
	{ S("GET  / HTTP/1.1\r\n"), -1 },
	{ S("GET / HTTP/1.1 \r\n"), -1 },
	{ S("GET /\tx HTTP/1.1\r\n"), -1 },
	{ S("GET /\x01 HTTP/1.1\r\n"), -1 },
	{ S("GET /\x7f HTTP/1.1\r\n"), -1 },
	{ S("GET / HTTP/1.1\r\r"), -1 },
	{ S("GET / HTTP/1.1\rX"), -1 },
	{ S("GET\t/ HTTP/1.1\r\n"), -1 },
	{ S(" GET / HTTP/1.1\r\n"), -1 },
	{ S("\r\nGET / HTTP/1.1\r\n"), -1 },
	{ S("GE(T / HTTP/1.1\r\n"), -1 },
	{ S("GET /\r\n"), -1 },
	{ S("SSH-2.0-OpenSSH_9.6\r\n"), -1 },
	{ S("*1\r\n$4\r\nPING\r\n"), -1 },
	{ S("*1\r"), -1 },
	{ S("PING\r\n"), -1 },
	{ S("\x16"), -1 },
	{ S("\x16\x03"), -1 },
	{ S("\0"), -1 },
	{ tls_hello, sizeof(tls_hello), -1 },
	{ pg_startup, sizeof(pg_startup), -1 },
	{ pg_ssl, sizeof(pg_ssl), -1 },
};

START_TEST(test_detect_table)
{
	int r = g_detect(detect_cases[_i].in, detect_cases[_i].len);

	ck_assert_msg(r == detect_cases[_i].want, "case %d: got %d want %d",
		      _i, r, detect_cases[_i].want);
}
END_TEST

/* Other protocols are rejected from their first bytes, not after 8 KiB. */
START_TEST(test_detect_early_reject)
{
	ck_assert_int_eq(g_detect(tls_hello, 1), -1);
	ck_assert_int_eq(g_detect(pg_startup, 1), -1);
	ck_assert_int_eq(g_detect(pg_ssl, 1), -1);
	ck_assert_int_eq(g_detect(S("*1\r")), -1);
}
END_TEST

static const struct {
	const char *in;
	size_t len;
	size_t line;		/* length of the request line with its end */
} detect_split_cases[] = {
	{ S("GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n"), 26 },
	{ S("POST /x?a=b HTTP/1.0\nContent-Length: 3\n\nabc"), 21 },
	{ S("OPTIONS * HTTP/1.1\r\n"), 20 },
};

/* Every prefix of a request: 0 until the line end is in, then 1. */
START_TEST(test_detect_split)
{
	const char *in = detect_split_cases[_i].in;
	size_t len = detect_split_cases[_i].len;
	size_t line = detect_split_cases[_i].line;

	for (size_t k = 0; k <= len; k++) {
		int r = g_detect(in, k);
		ck_assert_msg(r == (k >= line ? 1 : 0),
			      "prefix %zu: got %d", k, r);
	}
}
END_TEST

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/*
 * Random bytes are never a request line, and most are rejected within two
 * bytes: a byte is a token character with probability 77/256.
 */
START_TEST(test_detect_random)
{
	char buf[64];
	int early = 0;

	for (int n = 0; n < 2000; n++) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (char)rng();
		ck_assert_int_eq(g_detect(buf, sizeof(buf)), -1);
		if (g_detect(buf, 2) == -1)
			early++;
	}
	ck_assert_int_ge(early, 2000 * 85 / 100);
}
END_TEST

START_TEST(test_detect_limit)
{
	size_t n = 10000;
	char *buf = malloc(n);

	ck_assert_ptr_nonnull(buf);
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', n - 5);
	/* an unfinished line is "need more" up to 8 KiB, then "no" */
	ck_assert_int_eq(g_detect(buf, 8191), 0);
	ck_assert_int_eq(g_detect(buf, 8192), -1);
	ck_assert_int_eq(g_detect(buf, n), -1);
	/* a line that ends within 8 KiB is found in a longer buffer */
	memcpy(buf + 8000, " HTTP/1.1\r\n", 11);
	ck_assert_int_eq(g_detect(buf, 8011), 1);
	ck_assert_int_eq(g_detect(buf, n), 1);
	ck_assert_int_eq(g_detect(buf, 8010), 0);
	free(buf);
}
END_TEST

/* ---- heads split at every byte ------------------------------------------ */

static const struct {
	const char *in;
	size_t len;
} request_split_cases[] = {
	{ S("GET /index.html?q=1 HTTP/1.1\r\n"
	    "Host: example.com:8080\r\n"
	    "User-Agent: curl/8.5.0\r\n"
	    "Accept: */*\r\n"
	    "traceparent: 00-0af7651916cd43dd8448eb211c80319c-"
	    "b7ad6b7169203331-01\r\n"
	    "tracestate: congo=t61rcWkgMzE\r\n"
	    "\r\n") },
	{ S("POST /upload HTTP/1.0\n"
	    "Content-Length: 5\n"
	    "Connection: keep-alive\n"
	    "\n") },
	{ S("\r\nPUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") },
	{ S("OPTIONS * HTTP/1.1\r\nEmpty:\r\nTab:\tv\t\r\n\r\n") },
};

START_TEST(test_request_split)
{
	const char *in = request_split_cases[_i].in;
	size_t len = request_split_cases[_i].len;
	char body[512];
	struct http1_head h;

	for (size_t k = 0; k < len; k++) {
		int r = g_request(in, k, &h);
		ck_assert_msg(r == -2, "prefix %zu: got %d", k, r);
	}
	ck_assert_int_eq(g_request(in, len, &h), (int)len);
	/* bytes after the head are the body: not consumed */
	ck_assert_uint_lt(len + 5, sizeof(body));
	memcpy(body, in, len);
	memcpy(body + len, "hello", 5);
	ck_assert_int_eq(g_request(body, len + 5, &h), (int)len);
	/* and a response parser rejects a request */
	ck_assert_int_eq(g_response(in, len, &h), -1);
}
END_TEST

static const struct {
	const char *in;
	size_t len;
} response_split_cases[] = {
	{ S("HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: 12\r\n"
	    "Connection: close\r\n"
	    "\r\n") },
	{ S("HTTP/1.0 404 Not Found\nServer: x\n\n") },
	{ S("HTTP/1.1 204\r\n\r\n") },
	{ S("HTTP/1.1 100 Continue\r\n\r\n") },
	{ S("HTTP/1.1 200 \r\nTransfer-Encoding: gzip, chunked\r\n\r\n") },
};

START_TEST(test_response_split)
{
	const char *in = response_split_cases[_i].in;
	size_t len = response_split_cases[_i].len;
	char body[512];
	struct http1_head h;

	for (size_t k = 0; k < len; k++) {
		int r = g_response(in, k, &h);
		ck_assert_msg(r == -2, "prefix %zu: got %d", k, r);
	}
	ck_assert_int_eq(g_response(in, len, &h), (int)len);
	ck_assert_uint_lt(len + 5, sizeof(body));
	memcpy(body, in, len);
	memcpy(body + len, "HTTP/", 5);
	ck_assert_int_eq(g_response(body, len + 5, &h), (int)len);
	ck_assert_int_eq(g_request(in, len, &h), -1);
}
END_TEST

/* ---- what a head yields ------------------------------------------------- */

START_TEST(test_request_fields)
{
	static const char in[] =
		"PATCH /a/b?c=d HTTP/1.1\r\n"
		"hOsT:   example.com:8080  \r\n"
		"user-agent: \tcurl/8.5.0\r\n"
		"Host: second.example\r\n"
		"X-Other: 1\r\n"
		"Baggage: k=v\r\n"
		"Expect: 100-Continue\r\n"
		"\r\n";
	struct http1_head h;
	int r = g_request(S(in), &h);

	ck_assert_int_eq(r, (int)sizeof(in) - 1);
	ck_assert(view_eq(h.method, "PATCH"));
	ck_assert_int_eq(http1_method_index(h.method.p, h.method.len),
			 HTTP1_PATCH);
	ck_assert(view_eq(h.target, "/a/b?c=d"));
	ck_assert_int_eq(h.minor_version, 1);
	ck_assert(view_eq(h.host, "example.com:8080"));
	ck_assert(view_eq(h.user_agent, "curl/8.5.0"));
	ck_assert(view_eq(h.baggage, "k=v"));
	ck_assert_uint_eq(h.n_headers, 6);
	ck_assert_uint_eq(h.flags, HTTP1_EXPECT_CONTINUE);
	ck_assert_int_eq(h.content_length, -1);
	ck_assert_ptr_null(h.traceparent.p);
	ck_assert_int_eq(h.n_traceparent, 0);
	ck_assert_int_eq(h.n_tracestate, 0);
	ck_assert_int_eq(h.status, 0);
	ck_assert_ptr_null(h.reason.p);
}
END_TEST

START_TEST(test_response_fields)
{
	static const char in[] =
		"HTTP/1.0 503 Service Unavailable\r\n"
		"Content-Length: 0\r\n"
		"\r\n";
	static const char bare[] = "HTTP/1.1 201\r\n\r\n";
	struct http1_head h;

	ck_assert_int_eq(g_response(S(in), &h), (int)sizeof(in) - 1);
	ck_assert_int_eq(h.status, 503);
	ck_assert_int_eq(h.minor_version, 0);
	ck_assert(view_eq(h.reason, "Service Unavailable"));
	ck_assert_int_eq(h.content_length, 0);
	ck_assert_uint_eq(h.n_headers, 1);
	ck_assert_ptr_null(h.method.p);
	ck_assert_ptr_null(h.target.p);

	ck_assert_int_eq(g_response(S(bare), &h), (int)sizeof(bare) - 1);
	ck_assert_int_eq(h.status, 201);
	ck_assert_ptr_nonnull(h.reason.p);
	ck_assert_uint_eq(h.reason.len, 0);
}
END_TEST

/*
 * A failed parse leaves the struct unspecified (it is parsed into in
 * place); a later success into the same struct fills it whole: nothing of
 * the failed parse, or of what was there before, shows through.
 */
START_TEST(test_fill_after_failure)
{
	struct http1_head h;

	memset(&h, 0xa5, sizeof(h));
	ck_assert_int_eq(g_request(S("GET / HTTP/1.1\r\nHost: a\r\n"
				     "traceparent: x\r\nbaggage: b\r\n"
				     "User-Agent: u\r\nContent-Length: 5\r\n"),
				   &h),
			 -2);
	ck_assert_int_eq(g_request(S("GET / HTTP/1.1\r\nHo st: a\r\n"), &h),
			 -1);
	ck_assert_int_eq(g_request(S("PUT /x HTTP/1.0\r\n\r\n"), &h), 19);
	ck_assert(view_eq(h.method, "PUT"));
	ck_assert(view_eq(h.target, "/x"));
	ck_assert_int_eq(h.minor_version, 0);
	ck_assert_int_eq(h.status, 0);
	ck_assert_ptr_null(h.reason.p);
	ck_assert_uint_eq(h.flags, 0);
	ck_assert_int_eq(h.content_length, -1);
	ck_assert_uint_eq(h.n_headers, 0);
	ck_assert_ptr_null(h.host.p);
	ck_assert_ptr_null(h.user_agent.p);
	ck_assert_ptr_null(h.traceparent.p);
	ck_assert_int_eq(h.n_traceparent, 0);
	ck_assert_int_eq(h.n_tracestate, 0);
	ck_assert_ptr_null(h.baggage.p);

	ck_assert_int_eq(g_response(S("HTTP/1.1 200 OK\r\n"), &h), -2);
	ck_assert_int_eq(g_response(S("HTTP/1.1 404 No\r\n\r\n"), &h), 19);
	ck_assert_int_eq(h.status, 404);
	ck_assert(view_eq(h.reason, "No"));
	ck_assert_ptr_null(h.method.p);
	ck_assert_ptr_null(h.target.p);
	ck_assert_int_eq(h.content_length, -1);
}
END_TEST

/* ---- header validation and framing -------------------------------------- */

#define REQ 0
#define RESP 1
#define LEN 0x7fff		/* expected result: the whole input */
#define TE HTTP1_TRANSFER_ENCODING
#define CHUNKED (HTTP1_CHUNKED | HTTP1_TRANSFER_ENCODING)
#define BAD HTTP1_BAD_FRAMING

#define RL "GET / HTTP/1.1\r\n"
#define SL "HTTP/1.1 200 OK\r\n"

static const char nul_value[] = RL "A: b\0c\r\n\r\n";

static const struct {
	int kind;
	const char *in;
	size_t len;
	int want;		/* LEN, -1 or -2 */
	unsigned flags;
	int64_t cl;
} head_cases[] = {
	/* line structure */
	{ REQ, S(RL "Host: a\r\n\r\n"), LEN, 0, -1 },
	{ REQ, S("GET / HTTP/1.1\nHost: a\n\n"), LEN, 0, -1 },
	{ REQ, S("GET / HTTP/1.1\r\nHost: a\n\r\n"), LEN, 0, -1 },
	{ REQ, S("\r\nGET / HTTP/1.1\r\n\r\n"), LEN, 0, -1 },
	{ REQ, S("\nGET / HTTP/1.1\r\n\r\n"), LEN, 0, -1 },
	{ REQ, S("\r\n\r\nGET / HTTP/1.1\r\n\r\n"), -1, 0, -1 },
	{ REQ, S(RL "Host: a\r\n\r"), -2, 0, -1 },
	{ REQ, S(RL "Host: a\r\n\rX"), -1, 0, -1 },
	{ REQ, S(RL "A: b\r\n c\r\n\r\n"), -1, 0, -1 },
	{ REQ, S(RL "A: b\r\n\tc\r\n\r\n"), -1, 0, -1 },
	{ REQ, S(RL " A: b\r\n\r\n"), -1, 0, -1 },
	{ REQ, S(RL "A : b\r\n\r\n"), -1, 0, -1 },
	{ REQ, S(RL "A\r\n\r\n"), -1, 0, -1 },
	{ REQ, S(RL ": b\r\n\r\n"), -1, 0, -1 },
	{ REQ, S(RL "A(: b\r\n\r\n"), -1, 0, -1 },
	{ REQ, nul_value, sizeof(nul_value) - 1, -1, 0, -1 },
	{ REQ, S(RL "A: b\rc\r\n\r\n"), -1, 0, -1 },
	{ REQ, S(RL "A: b\r\r\n\r\n"), -1, 0, -1 },
	{ REQ, S(RL "A: b\x01\r\n\r\n"), -1, 0, -1 },
	{ REQ, S(RL "A: b\x7f\r\n\r\n"), -1, 0, -1 },
	{ REQ, S(RL "A: b\x1b[0m\r\n\r\n"), -1, 0, -1 },
	{ REQ, S(RL "A: caf\xc3\xa9 \"q\" (c)\r\n\r\n"), LEN, 0, -1 },
	{ REQ, S(RL "A:\r\n\r\n"), LEN, 0, -1 },
	{ REQ, S(RL "A: \t \r\n\r\n"), LEN, 0, -1 },
	{ REQ, S(RL "A:\tb\tc\t\r\n\r\n"), LEN, 0, -1 },
	{ REQ, S(RL "!#$%&'*+-.^_`|~09azAZ: x\r\n\r\n"), LEN, 0, -1 },
	{ REQ, S(RL "A: b\r\n"), -2, 0, -1 },
	{ REQ, S(RL "A: b"), -2, 0, -1 },
	{ REQ, S(RL "A:"), -2, 0, -1 },
	{ REQ, S(RL "A"), -2, 0, -1 },
	/* Content-Length */
	{ REQ, S(RL "Content-Length: 42\r\n\r\n"), LEN, 0, 42 },
	{ REQ, S(RL "content-LENGTH:0\r\n\r\n"), LEN, 0, 0 },
	{ REQ, S(RL "Content-Length:  007 \r\n\r\n"), LEN, 0, 7 },
	{ REQ, S(RL "Content-Length: 5, 5\r\n\r\n"), LEN, 0, 5 },
	{ REQ, S(RL "Content-Length: 5,5 ,\t5\r\n\r\n"), LEN, 0, 5 },
	{ REQ, S(RL "Content-Length: 5\r\nContent-Length: 5\r\n\r\n"), LEN, 0,
	  5 },
	{ REQ, S(RL "Content-Length: 5, 6\r\n\r\n"), LEN, BAD, -1 },
	{ REQ, S(RL "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"), LEN,
	  BAD, -1 },
	{ REQ, S(RL "Content-Length: 5\r\nContent-Length: x\r\n\r\n"), LEN,
	  BAD, -1 },
	{ REQ, S(RL "Content-Length: 5,\r\n\r\n"), LEN, BAD, -1 },
	{ REQ, S(RL "Content-Length:\r\n\r\n"), LEN, BAD, -1 },
	{ REQ, S(RL "Content-Length: abc\r\n\r\n"), LEN, BAD, -1 },
	{ REQ, S(RL "Content-Length: -1\r\n\r\n"), LEN, BAD, -1 },
	{ REQ, S(RL "Content-Length: +5\r\n\r\n"), LEN, BAD, -1 },
	{ REQ, S(RL "Content-Length: 0x10\r\n\r\n"), LEN, BAD, -1 },
	{ REQ, S(RL "Content-Length: 5 5\r\n\r\n"), LEN, BAD, -1 },
	{ REQ, S(RL "Content-Length: 9223372036854775807\r\n\r\n"), LEN, 0,
	  INT64_MAX },
	{ REQ, S(RL "Content-Length: 9223372036854775808\r\n\r\n"), LEN, BAD,
	  -1 },
	{ REQ, S(RL "Content-Length: 99999999999999999999999\r\n\r\n"), LEN,
	  BAD, -1 },
	{ REQ, S(RL "Content-Lengths: 5\r\n\r\n"), LEN, 0, -1 },
	/* Transfer-Encoding in requests */
	{ REQ, S(RL "Transfer-Encoding: chunked\r\n\r\n"), LEN, CHUNKED, -1 },
	{ REQ, S(RL "transfer-encoding: ChUnKeD\r\n\r\n"), LEN, CHUNKED, -1 },
	{ REQ, S(RL "Transfer-Encoding: gzip, chunked\r\n\r\n"), LEN, CHUNKED,
	  -1 },
	{ REQ, S(RL "Transfer-Encoding: gzip;level=1 , chunked\r\n\r\n"), LEN,
	  CHUNKED, -1 },
	{ REQ, S(RL "Transfer-Encoding: chunked,\r\n\r\n"), LEN, CHUNKED, -1 },
	{ REQ, S(RL "Transfer-Encoding: gzip\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n"), LEN, CHUNKED, -1 },
	{ REQ, S(RL "Transfer-Encoding: chunked, gzip\r\n\r\n"), LEN, TE | BAD,
	  -1 },
	{ REQ, S(RL "Transfer-Encoding: chunked\r\n"
		 "Transfer-Encoding: gzip\r\n\r\n"), LEN, TE | BAD, -1 },
	{ REQ, S(RL "Transfer-Encoding: gzip\r\n\r\n"), LEN, TE | BAD, -1 },
	{ REQ, S(RL "Transfer-Encoding:\r\n\r\n"), LEN, TE | BAD, -1 },
	{ REQ, S(RL "Transfer-Encoding: chu nked\r\n\r\n"), LEN, TE | BAD, -1 },
	{ REQ, S(RL "Transfer-Encoding: \"chunked\"\r\n\r\n"), LEN, TE | BAD,
	  -1 },
	{ REQ, S(RL "Transfer-Encoding: xchunked\r\n\r\n"), LEN, TE | BAD, -1 },
	{ REQ, S(RL "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
	  LEN, CHUNKED | BAD, 5 },
	{ REQ, S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), LEN,
	  CHUNKED | BAD, -1 },
	/* Transfer-Encoding in responses: not chunked means close-delimited */
	{ RESP, S(SL "Transfer-Encoding: chunked\r\n\r\n"), LEN, CHUNKED, -1 },
	{ RESP, S(SL "Transfer-Encoding: gzip\r\n\r\n"), LEN, TE, -1 },
	{ RESP, S(SL "Transfer-Encoding: chunked, gzip\r\n\r\n"), LEN, TE, -1 },
	{ RESP, S(SL "Transfer-Encoding: gzip\r\nContent-Length: 10\r\n\r\n"),
	  LEN, TE | BAD, 10 },
	{ RESP, S(SL "Transfer-Encoding: ch@nked\r\n\r\n"), LEN, TE | BAD, -1 },
	{ RESP, S(SL "Content-Length: 1, 2\r\n\r\n"), LEN, BAD, -1 },
	{ RESP, S(SL "Content-Length: 12\r\n\r\n"), LEN, 0, 12 },
	/* Connection and Expect */
	{ REQ, S(RL "Connection: close\r\n\r\n"), LEN, HTTP1_CONN_CLOSE, -1 },
	{ REQ, S(RL "Connection: Keep-Alive\r\n\r\n"), LEN,
	  HTTP1_CONN_KEEP_ALIVE, -1 },
	{ REQ, S(RL "connection: Upgrade, CLOSE\r\n\r\n"), LEN,
	  HTTP1_CONN_UPGRADE | HTTP1_CONN_CLOSE, -1 },
	{ REQ, S(RL "Connection: foo,keep-alive , bar\r\n\r\n"), LEN,
	  HTTP1_CONN_KEEP_ALIVE, -1 },
	{ REQ, S(RL "Connection: upgrade\r\nConnection: close\r\n\r\n"), LEN,
	  HTTP1_CONN_UPGRADE | HTTP1_CONN_CLOSE, -1 },
	{ REQ, S(RL "Connection: closed, keepalive\r\n\r\n"), LEN, 0, -1 },
	{ REQ, S(RL "Expect: 100-continue\r\n\r\n"), LEN,
	  HTTP1_EXPECT_CONTINUE, -1 },
	{ REQ, S(RL "EXPECT: 100-CONTINUE \r\n\r\n"), LEN,
	  HTTP1_EXPECT_CONTINUE, -1 },
	{ REQ, S(RL "Expect: 100-continued\r\n\r\n"), LEN, 0, -1 },
	/* status lines */
	{ RESP, S("HTTP/1.1 200 OK\r\n\r\n"), LEN, 0, -1 },
	{ RESP, S("HTTP/1.1 200\r\n\r\n"), LEN, 0, -1 },
	{ RESP, S("HTTP/1.1 200 \r\n\r\n"), LEN, 0, -1 },
	{ RESP, S("HTTP/1.1 999 Whatever\r\n\r\n"), LEN, 0, -1 },
	{ RESP, S("HTTP/1.1 200 caf\xc3\xa9\tok\r\n\r\n"), LEN, 0, -1 },
	{ RESP, S("HTTP/1.1 20 OK\r\n\r\n"), -1, 0, -1 },
	{ RESP, S("HTTP/1.1 2000 OK\r\n\r\n"), -1, 0, -1 },
	{ RESP, S("HTTP/1.1 099 X\r\n\r\n"), -1, 0, -1 },
	{ RESP, S("HTTP/1.1 2x0 OK\r\n\r\n"), -1, 0, -1 },
	{ RESP, S("HTTP/1.1  200 OK\r\n\r\n"), -1, 0, -1 },
	{ RESP, S("HTTP/1.1 200 O\x01K\r\n\r\n"), -1, 0, -1 },
	{ RESP, S("HTTP/1.1 200 OK\rX"), -1, 0, -1 },
	{ RESP, S("HTTP/2 200\r\n\r\n"), -1, 0, -1 },
	{ RESP, S("HTTP/2.0 200 OK\r\n\r\n"), -1, 0, -1 },
	{ RESP, S("http/1.1 200 OK\r\n\r\n"), -1, 0, -1 },
	{ RESP, S("ICY 200 OK\r\n\r\n"), -1, 0, -1 },
	{ RESP, S("\r\nHTTP/1.1 200 OK\r\n\r\n"), -1, 0, -1 },
	{ RESP, S("HTTP/1.1 200 OK\r\n"), -2, 0, -1 },
	{ RESP, S("HTTP/1.1 200"), -2, 0, -1 },
};

START_TEST(test_head_table)
{
	struct http1_head h;
	int want = head_cases[_i].want;
	int r;

	if (head_cases[_i].kind == REQ)
		r = g_request(head_cases[_i].in, head_cases[_i].len, &h);
	else
		r = g_response(head_cases[_i].in, head_cases[_i].len, &h);
	if (want == LEN)
		want = (int)head_cases[_i].len;
	ck_assert_msg(r == want, "case %d: got %d want %d", _i, r, want);
	if (r < 0)
		return;
	ck_assert_msg(h.flags == head_cases[_i].flags,
		      "case %d: flags %#x want %#x", _i, h.flags,
		      head_cases[_i].flags);
	ck_assert_msg(h.content_length == head_cases[_i].cl,
		      "case %d: content_length %lld want %lld", _i,
		      (long long)h.content_length,
		      (long long)head_cases[_i].cl);
}
END_TEST

/*
 * The scans read 16-byte blocks, the last one ending at the end of the
 * buffer, and test most bytes roughly first: put each kind of byte at
 * every offset of a value, a name, a reason and a target, with the line
 * last in the buffer (tail block) or followed by another, and check the
 * result and the view.
 */
static const struct {
	char byte;
	int ok_value;		/* field-content */
	int ok_target;		/* request-target */
} edge_bytes[] = {
	{ 'x', 1, 1 }, { ' ', 1, 0 }, { '\t', 1, 0 }, { (char)0xc3, 1, 1 },
	{ (char)0xff, 1, 1 }, { (char)0x80, 1, 1 }, { 0x01, 0, 0 },
	{ 0x1f, 0, 0 }, { 0x7f, 0, 0 }, { '\0', 0, 0 }, { '~', 1, 1 },
};

START_TEST(test_block_edges_value)
{
	struct http1_head h;
	char buf[256], val[64];

	for (int pos = 0; pos < 40; pos++) {
		for (int more = 0; more < 2; more++) {
			int vl = 0, n, r, skip;

			for (int i = 0; i < pos; i++)
				val[vl++] = (char)('a' + i % 26);
			val[vl++] = edge_bytes[_i].byte;
			val[vl++] = 'z';
			n = snprintf(buf, sizeof(buf), RL "Host: ");
			memcpy(buf + n, val, (size_t)vl);
			n += vl;
			n += snprintf(buf + n, sizeof(buf) - (size_t)n,
				      "\r\n%s\r\n", more ? "X-A: 1\r\n" : "");
			r = g_request(buf, (size_t)n, &h);
			if (!edge_bytes[_i].ok_value) {
				ck_assert_msg(r == -1, "pos %d: %d", pos, r);
				continue;
			}
			ck_assert_msg(r == n, "pos %d: %d", pos, r);
			/* OWS before the value is not part of it */
			skip = val[0] == ' ' || val[0] == '\t';
			ck_assert_uint_eq(h.host.len, (size_t)(vl - skip));
			ck_assert(!memcmp(h.host.p, val + skip,
					  (size_t)(vl - skip)));
			ck_assert_uint_eq(h.n_headers, 1 + more);
			/* cut just before the line end: incomplete */
			r = g_request(buf, sizeof(RL) - 1 + 6 + (size_t)vl, &h);
			ck_assert_int_eq(r, -2);
		}
	}
}
END_TEST

START_TEST(test_block_edges_reason_target)
{
	struct http1_head h;
	char buf[256];

	for (int pos = 0; pos < 40; pos++) {
		int n, r;

		/* reason phrase */
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 ");
		for (int i = 0; i < pos; i++)
			buf[n++] = 'r';
		buf[n++] = edge_bytes[_i].byte;
		buf[n++] = 'k';
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "\r\n\r\n");
		r = g_response(buf, (size_t)n, &h);
		if (edge_bytes[_i].ok_value) {
			ck_assert_msg(r == n, "reason pos %d: %d", pos, r);
			ck_assert_uint_eq(h.reason.len, (size_t)pos + 2);
		} else {
			ck_assert_msg(r == -1, "reason pos %d: %d", pos, r);
		}

		/* request-target */
		n = snprintf(buf, sizeof(buf), "GET /");
		for (int i = 0; i < pos; i++)
			buf[n++] = 't';
		buf[n++] = edge_bytes[_i].byte;
		buf[n++] = 't';
		n += snprintf(buf + n, sizeof(buf) - (size_t)n,
			      " HTTP/1.1\r\n\r\n");
		r = g_request(buf, (size_t)n, &h);
		if (edge_bytes[_i].ok_target) {
			ck_assert_msg(r == n, "target pos %d: %d", pos, r);
			ck_assert_uint_eq(h.target.len, (size_t)pos + 3);
		} else {
			ck_assert_msg(r == -1, "target pos %d: %d", pos, r);
		}
	}
}
END_TEST

/* Names of every length up to 40, plain, with a rarer tchar, or broken. */
START_TEST(test_block_edges_name)
{
	struct http1_head h;
	char buf[256];

	for (int len = 1; len <= 40; len++) {
		for (int at = 0; at < len; at++) {
			static const struct {
				char c;
				int want_ok;
			} odd[] = {
				{ 'A', 1 }, { '_', 1 }, { '~', 1 }, { '9', 1 },
				{ '/', 0 }, { '@', 0 }, { ' ', 0 }, { '\r', 0 },
				{ (char)0xc3, 0 }, { '\t', 0 },
			};

			for (size_t o = 0; o < sizeof(odd) / sizeof(*odd); o++) {
				int n = snprintf(buf, sizeof(buf), SL);
				int r;

				for (int i = 0; i < len; i++)
					buf[n++] = i == at ? odd[o].c : 'n';
				n += snprintf(buf + n, sizeof(buf) - (size_t)n,
					      ": v\r\n%s\r\n",
					      (len + at) % 2 ? "X: y\r\n" : "");
				r = g_response(buf, (size_t)n, &h);
				if (odd[o].want_ok)
					ck_assert_msg(r == n, "len %d at %d %#x: %d",
						      len, at, odd[o].c, r);
				else
					ck_assert_msg(r == -1,
						      "len %d at %d %#x: %d",
						      len, at, odd[o].c, r);
			}
		}
	}
}
END_TEST

START_TEST(test_method_length)
{
	struct http1_head h;
	char buf[128];
	int n;

	n = snprintf(buf, sizeof(buf), "%s\r\n", method32);
	ck_assert_int_eq(g_request(buf, (size_t)n, &h), n);
	ck_assert_uint_eq(h.method.len, 32);
	n = snprintf(buf, sizeof(buf), "%s\r\n", method33);
	ck_assert_int_eq(g_request(buf, (size_t)n, &h), -1);
	/* rejected as soon as the 33rd token character arrives */
	ck_assert_int_eq(g_request(method33, 33, &h), -1);
	ck_assert_int_eq(g_request(method33, 32, &h), -2);
}
END_TEST

/* ---- trace context ------------------------------------------------------ */

#define TP "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

START_TEST(test_traceparent_count)
{
	static const char in[] =
		RL
		"trace-parent: 00-x\r\n"
		"TraceParent:  " TP " \r\n"
		"traceparents: no\r\n"
		"traceparent: second\r\n"
		"TRACEPARENT:\r\n"
		"\r\n";
	static const char one[] = RL "traceparent: " TP "\r\n\r\n";
	struct http1_head h;

	ck_assert_int_eq(g_request(S(in), &h), (int)sizeof(in) - 1);
	ck_assert_int_eq(h.n_traceparent, 3);
	ck_assert(view_eq(h.traceparent, TP));
	ck_assert_uint_eq(h.n_headers, 5);

	ck_assert_int_eq(g_request(S(one), &h), (int)sizeof(one) - 1);
	ck_assert_int_eq(h.n_traceparent, 1);
	ck_assert(view_eq(h.traceparent, TP));

	/* responses carry them too (traceresponse-style echoes) */
	ck_assert_int_eq(g_response(S(SL "traceparent: " TP "\r\n\r\n"), &h),
			 (int)sizeof(SL "traceparent: " TP "\r\n\r\n") - 1);
	ck_assert_int_eq(h.n_traceparent, 1);
}
END_TEST

START_TEST(test_tracestate_fields)
{
	char buf[2048];
	size_t n = 0;
	struct http1_head h;

	n += (size_t)snprintf(buf + n, sizeof(buf) - n, RL);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "tracestate:\r\n");
	for (int i = 1; i < 12; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
				      "%s: k%d=v%d \r\n",
				      i % 2 ? "TraceState" : "tracestate",
				      i, i);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n,
			      "trace-state: x=y\r\n\r\n");
	ck_assert_uint_lt(n, sizeof(buf));
	ck_assert_int_eq(g_request(buf, n, &h), (int)n);
	ck_assert_int_eq(h.n_tracestate, 12);
	ck_assert_ptr_nonnull(h.tracestate[0].p);
	ck_assert_uint_eq(h.tracestate[0].len, 0);
	ck_assert(view_eq(h.tracestate[1], "k1=v1"));
	ck_assert(view_eq(h.tracestate[7], "k7=v7"));
	ck_assert_int_eq(h.n_traceparent, 0);
}
END_TEST

/* ---- big heads ---------------------------------------------------------- */

static void check_partial(const char *buf, size_t k, size_t len, int response)
{
	struct http1_head h;
	int r = response ? g_response(buf, k, &h) : g_request(buf, k, &h);

	ck_assert_msg(r == -2, "prefix %zu of %zu: got %d", k, len, r);
}

/* Sampled prefixes (all of them would be quadratic) and the last 8. */
static void check_prefixes_partial(const char *buf, size_t len, int response)
{
	for (size_t k = 0; k + 8 < len; k += 997)
		check_partial(buf, k, len, response);
	for (size_t k = len - 8; k < len; k++)
		check_partial(buf, k, len, response);
}

START_TEST(test_big_header_block)
{
	size_t cap = 80 * 1024, n = 0;
	char *buf = malloc(cap);
	struct http1_head h;

	ck_assert_ptr_nonnull(buf);
	/* one 64 KiB value */
	n += (size_t)snprintf(buf, cap, RL "Host: big\r\nX-Big: ");
	memset(buf + n, 'v', 64 * 1024);
	n += 64 * 1024;
	memcpy(buf + n, "\r\n\r\n", 4);
	n += 4;
	ck_assert_int_eq(g_request(buf, n, &h), (int)n);
	ck_assert_uint_eq(h.n_headers, 2);
	check_prefixes_partial(buf, n, 0);

	/* 64 KiB of ordinary headers in a response */
	n = (size_t)snprintf(buf, cap, SL);
	for (int i = 0; n < 64 * 1024; i++)
		n += (size_t)snprintf(buf + n, cap - n,
				      "X-Header-%d: some value %d; a=b\r\n",
				      i, i * 7);
	memcpy(buf + n, "\r\n", 2);
	n += 2;
	ck_assert_int_eq(g_response(buf, n, &h), (int)n);
	check_prefixes_partial(buf, n, 1);
	free(buf);
}
END_TEST

START_TEST(test_many_headers)
{
	size_t cap = 10000 * 32 + 256, n = 0;
	char *buf = malloc(cap);
	struct http1_head h;

	ck_assert_ptr_nonnull(buf);
	n += (size_t)snprintf(buf, cap, RL);
	for (int i = 0; i < 10000; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s: v%d\r\n",
				      i % 1000 == 999 ? "traceparent" : "h",
				      i);
	n += (size_t)snprintf(buf + n, cap - n, "\r\n");
	ck_assert_uint_lt(n, cap);
	ck_assert_int_eq(g_request(buf, n, &h), (int)n);
	ck_assert_uint_eq(h.n_headers, 10000);
	ck_assert_int_eq(h.n_traceparent, 10);
	ck_assert(view_eq(h.traceparent, "v999"));
	ck_assert_int_eq(g_request(buf, n - 1, &h), -2);
	free(buf);
}
END_TEST

/* ---- chunked bodies ----------------------------------------------------- */

/*
 * Feed data[0..len) to a fresh scanner in pieces ending at the cut points,
 * each piece against a guard page. Returns where the body ended (the bytes
 * consumed when *done came back), -1 on a parse error, -2 if never done.
 * A call that does not finish the body must consume all it was given.
 */
static long feed_pieces(const char *data, size_t len, const size_t *cuts,
			int ncuts)
{
	struct http1_chunked c;
	size_t pos = 0;

	memset(&c, 0, sizeof(c));
	for (int i = 0; i <= ncuts; i++) {
		size_t stop = i < ncuts ? cuts[i] : len;
		struct guarded g;
		const char *p;
		ssize_t k;
		int done = -1;

		if (stop <= pos)
			continue;
		p = guard_copy(&g, data + pos, stop - pos);
		k = http1_chunked_feed(&c, p, stop - pos, &done);
		guard_free(&g);
		ck_assert(done == 0 || done == 1);
		if (k < 0)
			return -1;
		ck_assert_int_le(k, (ssize_t)(stop - pos));
		if (done)
			return (long)(pos + (size_t)k);
		ck_assert_int_eq(k, (ssize_t)(stop - pos));
		pos = stop;
	}
	return -2;
}

static const struct {
	const char *in;
	size_t len;
} chunked_cases[] = {
	{ S("5\r\nhello\r\n0\r\n\r\n") },
	{ S("5\nhello\n0\n\n") },
	{ S("A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n") },
	{ S("0005\r\nhello\r\n000\r\n\r\n") },
	{ S("5;name=value\r\nhello\r\n"
	    "3 ; a ;b=\"x;y\"\r\nabc\r\n"
	    "0;last\r\n"
	    "Trailer-One: v\r\n"
	    "X-Checksum: abc def\n"
	    "\r\n") },
	{ S("1\r\n\r\r\n2\r\n\r\n\r\n0\r\n\r\n") },
	{ S("0\r\n\r\n") },
	{ S("0\n\n") },
	{ S("10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n") },
};

START_TEST(test_chunked_splits)
{
	const char *body = chunked_cases[_i].in;
	size_t blen = chunked_cases[_i].len;
	char buf[256];
	size_t len = blen + 12;
	size_t cuts[2];

	/* a following message must be left alone */
	ck_assert_uint_le(len, sizeof(buf));
	memcpy(buf, body, blen);
	memcpy(buf + blen, "GET / HTTP/1", 12);

	ck_assert_int_eq(feed_pieces(buf, len, NULL, 0), (long)blen);
	ck_assert_int_eq(feed_pieces(buf, blen, NULL, 0), (long)blen);
	for (size_t i = 0; i <= len; i++) {
		cuts[0] = i;
		ck_assert_msg(feed_pieces(buf, len, cuts, 1) == (long)blen,
			      "split at %zu", i);
	}
	for (size_t i = 0; i < blen; i++)
		for (size_t j = i + 1; j < blen; j++) {
			cuts[0] = i;
			cuts[1] = j;
			ck_assert_msg(feed_pieces(buf, len, cuts, 2) ==
					      (long)blen,
				      "split at %zu and %zu", i, j);
		}
	/* a proper prefix is never done */
	for (size_t k = 0; k < blen; k++)
		ck_assert_int_eq(feed_pieces(buf, k, NULL, 0), -2);
}
END_TEST

START_TEST(test_chunked_bytewise)
{
	const char *body = chunked_cases[_i].in;
	size_t blen = chunked_cases[_i].len;
	struct http1_chunked c;
	int done = 0;
	size_t i;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < blen; i++) {
		ssize_t k = http1_chunked_feed(&c, body + i, 1, &done);
		ck_assert_int_eq(k, 1);
		if (done)
			break;
	}
	ck_assert_int_eq(done, 1);
	ck_assert_uint_eq(i, blen - 1);
	/* after the end, nothing more is consumed */
	ck_assert_int_eq(http1_chunked_feed(&c, "5\r\n", 3, &done), 0);
	ck_assert_int_eq(done, 1);
}
END_TEST

static const struct {
	const char *in;
	size_t len;
} chunked_bad[] = {
	{ S("\r\n") },
	{ S(";ext\r\n") },
	{ S("g\r\n") },
	{ S("-1\r\n") },
	{ S("+5\r\n") },
	{ S(" 5\r\n") },
	{ S("0x5\r\n") },
	{ S("5\rX") },
	{ S("5 x\r\n") },
	{ S("5;a\x01\r\n") },
	{ S("5;a\rb\r\n") },
	{ S("5\r\nhelloX\r\n") },
	{ S("5\r\nhello\rX") },
	{ S("5\r\nhello\r\n\r\n") },
	{ S("10000000000000000\r\n") },
	{ S("fffffffffffffffff\r\n") },
	{ S("0000000000000000000000000000000000000000000000000000000000000000"
	    "0\r\n") },
	{ S("0\r\n T: v\r\n\r\n") },
	{ S("0\r\n:\r\n\r\n") },
	{ S("0\r\nT: a\0b\r\n\r\n") },
	{ S("0\r\nT: v\rX\r\n\r\n") },
	{ S("0\r\n\rX") },
	{ S("0\r\n\x80\r\n\r\n") },
};

START_TEST(test_chunked_malformed)
{
	const char *in = chunked_bad[_i].in;
	size_t len = chunked_bad[_i].len;
	struct http1_chunked c;
	int done, failed = 0;

	ck_assert_int_eq(feed_pieces(in, len, NULL, 0), -1);
	/* byte by byte: the error comes, never a "done" */
	memset(&c, 0, sizeof(c));
	for (size_t i = 0; i < len; i++) {
		ssize_t k = http1_chunked_feed(&c, in + i, 1, &done);
		if (k < 0) {
			failed = 1;
			break;
		}
		ck_assert_int_eq(done, 0);
	}
	ck_assert_int_eq(failed, 1);
}
END_TEST

/* Large sizes are skipped in bulk; the largest 64-bit size is accepted. */
START_TEST(test_chunked_large)
{
	static char data[1 << 16];
	struct http1_chunked c;
	int done;

	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(http1_chunked_feed(&c, S("ffffffffffffffff\r\n"),
					    &done), 18);
	ck_assert_uint_eq(c.remaining, UINT64_MAX);
	for (int i = 0; i < 16; i++)
		ck_assert_int_eq(http1_chunked_feed(&c, data, sizeof(data),
						    &done),
				 (ssize_t)sizeof(data));
	ck_assert_uint_eq(c.remaining, UINT64_MAX - 16 * sizeof(data));
	ck_assert_int_eq(done, 0);

	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(http1_chunked_feed(&c, S("100000\r\n"), &done), 8);
	for (int i = 0; i < 16; i++)
		ck_assert_int_eq(http1_chunked_feed(&c, data, sizeof(data),
						    &done),
				 (ssize_t)sizeof(data));
	ck_assert_int_eq(http1_chunked_feed(&c, S("\r\n0\r\n\r\nX"), &done),
			 7);
	ck_assert_int_eq(done, 1);
	ck_assert_int_eq(http1_chunked_feed(&c, NULL, 0, &done), 0);
}
END_TEST

/* ---- methods ------------------------------------------------------------ */

START_TEST(test_methods)
{
	static const char *const known[] = {
		"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS",
		"PATCH", "POST", "PUT", "TRACE",
	};
	static const char *const other[] = {
		"get", "Get", "GETS", "GE", "", "QUERY", "PROPFIND",
		"POSTS", "PUTT", "CONNECTX", "A", "Z",
	};

	ck_assert_int_eq(HTTP1_N_METHODS, 9);
	for (int i = 0; i < HTTP1_N_METHODS; i++) {
		ck_assert_int_eq(http1_method_index(known[i],
						    strlen(known[i])), i);
		ck_assert_str_eq(http1_method_name(i), known[i]);
	}
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		ck_assert_int_eq(http1_method_index(other[i],
						    strlen(other[i])), -1);
	ck_assert_int_eq(http1_method_index("GETX", 3), HTTP1_GET);
	ck_assert_str_eq(http1_method_name(-1), "_OTHER");
	ck_assert_str_eq(http1_method_name(HTTP1_N_METHODS), "_OTHER");
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

Suite *unit_suite(void)
{
	Suite *s = suite_create("http1");
	TCase *tc;

	tc = tcase_create("detect");
	tcase_add_loop_test(tc, test_detect_table, 0, N(detect_cases));
	tcase_add_test(tc, test_detect_early_reject);
	tcase_add_loop_test(tc, test_detect_split, 0, N(detect_split_cases));
	tcase_add_test(tc, test_detect_random);
	tcase_add_test(tc, test_detect_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("head");
	tcase_add_loop_test(tc, test_request_split, 0,
			    N(request_split_cases));
	tcase_add_loop_test(tc, test_response_split, 0,
			    N(response_split_cases));
	tcase_add_test(tc, test_request_fields);
	tcase_add_test(tc, test_response_fields);
	tcase_add_test(tc, test_fill_after_failure);
	tcase_add_loop_test(tc, test_head_table, 0, N(head_cases));
	tcase_add_test(tc, test_method_length);
	tcase_add_test(tc, test_traceparent_count);
	tcase_add_test(tc, test_tracestate_fields);
	tcase_add_test(tc, test_methods);
	tcase_add_loop_test(tc, test_block_edges_value, 0, N(edge_bytes));
	tcase_add_loop_test(tc, test_block_edges_reason_target, 0,
			    N(edge_bytes));
	tcase_add_test(tc, test_block_edges_name);
	suite_add_tcase(s, tc);

	tc = tcase_create("big");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_big_header_block);
	tcase_add_test(tc, test_many_headers);
	suite_add_tcase(s, tc);

	tc = tcase_create("chunked");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_chunked_splits, 0, N(chunked_cases));
	tcase_add_loop_test(tc, test_chunked_bytewise, 0, N(chunked_cases));
	tcase_add_loop_test(tc, test_chunked_malformed, 0, N(chunked_bad));
	tcase_add_test(tc, test_chunked_large);
	suite_add_tcase(s, tc);

	return s;
}
