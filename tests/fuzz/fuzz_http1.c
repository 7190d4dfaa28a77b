/*
 * fuzz_http1.c - libFuzzer target for the HTTP/1.x parsers (shim/http1.h),
 * and for the URL building that consumes their views (shim/url.h).
 *
 * Not built by Meson. From the top of the tree:
 *
 *   clang -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *         -fno-sanitize-recover=undefined -Ishim \
 *         tests/fuzz/fuzz_http1.c shim/http1.c shim/url.c -o fuzz_http1
 *   mkdir -p tests/fuzz/corpus-work && ./fuzz_http1 -max_total_time=60 \
 *         tests/fuzz/corpus-work tests/fuzz/corpus/http1
 *
 * New inputs go to the first directory (git-ignored); the seeds stay as
 * they are.
 *
 * Besides crashes and sanitizer reports, it traps on broken contracts: a
 * result out of range, a view outside the head, a head that parses
 * differently when cut exactly at its end, and a chunked body whose outcome
 * depends on where the input was split.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http1.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                          \
	do {                              \
		if (!(x))                 \
			__builtin_trap(); \
	} while (0)

static void check_view(struct http1_str v, const char *b, size_t n)
{
	if (v.p)
		CHECK(v.p >= b && v.len <= n &&
		      (size_t)(v.p - b) <= n - v.len);
}

static void check_head(const struct http1_head *h, const char *b, int r)
{
	size_t n = (size_t)r;

	check_view(h->method, b, n);
	check_view(h->target, b, n);
	check_view(h->reason, b, n);
	check_view(h->host, b, n);
	check_view(h->user_agent, b, n);
	check_view(h->traceparent, b, n);
	check_view(h->baggage, b, n);
	for (int i = 0; i < h->n_tracestate && i < HTTP1_MAX_TRACESTATE; i++)
		check_view(h->tracestate[i], b, n);
	CHECK(h->minor_version == 0 || h->minor_version == 1);
	CHECK(h->content_length >= -1);
	CHECK(h->n_traceparent >= 0 && h->n_tracestate >= 0);
}

/*
 * A parser's result on buf, and its agreement with itself: a head of r
 * bytes parses to r from exactly those bytes and is partial one byte short.
 */
static int parse_checked(int (*parse)(const char *, size_t,
				      struct http1_head *),
			 const char *b, size_t n, struct http1_head *h)
{
	struct http1_head h2;
	int r = parse(b, n, h);

	CHECK(r == -1 || r == -2 || (r > 0 && (size_t)r <= n));
	if (r > 0) {
		check_head(h, b, r);
		CHECK(parse(b, (size_t)r, &h2) == r);
		CHECK(parse(b, (size_t)r - 1, &h2) == -2);
	}
	return r;
}

/* The URL attributes built from a parsed request, at a few capacities. */
static void urls(const struct http1_head *h, size_t cap)
{
	char out[2048], path[256], query[256];
	const char *host;
	size_t hl, pl, ql, n;
	int port;

	if (cap > sizeof(out))
		cap = sizeof(out);
	n = url_build_full(out, cap, "http", h->host.p, h->host.len,
			   "127.0.0.1:80", h->target.p, h->target.len);
	CHECK(cap ? n < cap && out[n] == '\0' : n == 0);
	url_split_target(h->target.p, h->target.len, path, cap % 256, &pl,
			 query, sizeof(query), &ql);
	CHECK(pl < 256 && ql < sizeof(query));
	if (h->host.p &&
	    url_split_authority(h->host.p, h->host.len, &host, &hl,
				&port) == 0)
		CHECK(host >= h->host.p &&
		      host + hl <= h->host.p + h->host.len &&
		      port >= -1 && port <= 65535);
}

/*
 * Feed a chunked body in up to two pieces. Returns the end of the body, -1
 * on error, -2 when more is needed.
 */
static long chunked(const char *b, size_t n, size_t cut)
{
	struct http1_chunked c;
	int done;
	ssize_t k;

	memset(&c, 0, sizeof(c));
	if (cut > n)
		cut = n;
	k = http1_chunked_feed(&c, b, cut, &done);
	if (k < 0)
		return -1;
	CHECK((size_t)k <= cut);
	if (done)
		return k;
	CHECK((size_t)k == cut);
	k = http1_chunked_feed(&c, b + cut, n - cut, &done);
	if (k < 0)
		return -1;
	CHECK((size_t)k <= n - cut);
	if (done)
		return (long)(cut + (size_t)k);
	CHECK((size_t)k == n - cut);
	return -2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *b = (const char *)data;
	struct http1_head h;
	int d, r;

	d = http1_detect_request(b, size);
	CHECK(d >= -1 && d <= 1);
	r = parse_checked(http1_parse_request, b, size, &h);
	/* A request the parser takes starts a line detection takes. */
	if (r > 0 && size < 8192 && b[0] != '\r' && b[0] != '\n')
		CHECK(d == 1);
	if (r > 0)
		urls(&h, size ? data[0] : 0);
	parse_checked(http1_parse_response, b, size, &h);

	if (size > 0) {
		size_t cut = (size_t)data[0] * 257 % size;
		long whole = chunked(b + 1, size - 1, size - 1);
		long split = chunked(b + 1, size - 1, cut);
		CHECK(whole == split);
	}
	return 0;
}
