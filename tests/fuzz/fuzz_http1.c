/*
 * fuzz_http1.c - libFuzzer target for the HTTP/1.x parsers (shim/http1.h),
 * and for the URL building that consumes their views (shim/url.h).
 *
 *     scripts/fuzz http1 60
 *
 * (builds it with clang through Meson and runs it on a copy of
 * tests/fuzz/corpus/http1; see tests/fuzz/README).
 *
 * Besides crashes and sanitizer reports, it traps on broken contracts: a
 * result out of range, a view outside the head, a head whose parse depends
 * on where the bytes so far were cut (a complete head of r bytes parses to
 * r from any prefix of at least r bytes and is partial from any shorter
 * one; a partial input has only partial prefixes; once invalid, longer
 * prefixes stay invalid), and a chunked body whose outcome depends on how
 * it was split into calls (two pieces, and many pieces of pseudo-random
 * sizes drawn from the input).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "http1.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
 * The parse of the first k bytes, given the parse r of all n: a head of r
 * bytes is partial before r and complete from r on; partial input is
 * partial at every prefix; invalid input is partial or invalid.
 */
static int parse_prefix(int (*parse)(const char *, size_t,
				     struct http1_head *),
			const char *b, size_t k, int r)
{
	struct http1_head h2;
	int rk = parse(b, k, &h2);

	if (r > 0)
		CHECK(k < (size_t)r ? rk == -2 : rk == r);
	else if (r == -2)
		CHECK(rk == -2);
	else
		CHECK(rk == -2 || rk == -1);
	return rk;
}

/*
 * A parser's result on buf, and its agreement with itself on prefixes:
 * exactly r and r - 1 bytes, and two cuts drawn from the input.
 */
static int parse_checked(int (*parse)(const char *, size_t,
				      struct http1_head *),
			 const char *b, size_t n, struct http1_head *h)
{
	int r = parse(b, n, h);

	CHECK(r == -1 || r == -2 || (r > 0 && (size_t)r <= n));
	if (r > 0) {
		check_head(h, b, r);
		parse_prefix(parse, b, (size_t)r, r);
		parse_prefix(parse, b, (size_t)r - 1, r);
	}
	if (n >= 2) {
		size_t k1 = ((size_t)(uint8_t)b[0] * 257 + n / 3) % (n + 1);
		size_t k2 = ((size_t)(uint8_t)b[1] * 131 + n / 2) % (n + 1);
		if (k1 > k2) {
			size_t t = k1;
			k1 = k2;
			k2 = t;
		}
		int r1 = parse_prefix(parse, b, k1, r);
		int r2 = parse_prefix(parse, b, k2, r);
		if (r1 == -1)
			CHECK(r2 == -1);	/* invalid stays invalid */
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

/*
 * Feed a chunked body in pieces of pseudo-random sizes (1 to 64, or now
 * and then everything left) drawn from seed. Same results as chunked().
 */
static long chunked_pieces(const char *b, size_t n, uint32_t seed)
{
	struct http1_chunked c;
	size_t off = 0;
	int done = 0;

	memset(&c, 0, sizeof(c));
	while (off < n) {
		seed = seed * 1103515245u + 12345u;
		size_t piece = (seed >> 16) % 16 == 0 ? n - off
						      : 1 + (seed >> 16) % 64;
		if (piece > n - off)
			piece = n - off;
		ssize_t k = http1_chunked_feed(&c, b + off, piece, &done);
		if (k < 0)
			return -1;
		CHECK((size_t)k <= piece);
		if (done)
			return (long)(off + (size_t)k);
		CHECK((size_t)k == piece);
		off += piece;
	}
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
		uint32_t seed = (uint32_t)data[0] << 8 | data[size - 1];
		long pieces = chunked_pieces(b + 1, size - 1, seed);
		CHECK(whole == pieces);
	}
	return 0;
}
