/*
 * http1.c - HTTP/1.x message heads and chunked bodies, read in the bytes the
 * traced program sends and receives (contracts in http1.h).
 *
 * This runs inside send() and recv() hooks, on the application's threads and
 * on bytes nobody has checked. So: one pass over the input, character classes
 * from tables rather than per-byte calls, no allocation, no writes to the
 * buffer, and every read checked against the end (the unit tests place the
 * input against a PROT_NONE page to prove it). Invalid input is reported,
 * never repaired: the caller then stops following the connection.
 *
 * -2 versus -1: a prefix is rejected (-1) as soon as one of its bytes makes a
 * valid head impossible; -2 is returned only when every byte seen so far can
 * still begin a valid head.
 */
#include <limits.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "copy.h"
#include "http1.h"

#define METHOD_MAX 32		/* longer method tokens are not HTTP for us */
#define DETECT_MAX 8192		/* request line must end within this */
#define CHUNK_DIGITS_MAX 64	/* hex digits of one chunk-size, zeros too */

/* Character classes (RFC 9110 5.6.2 token, 5.5 field-content). */
#define C_TCHAR 0x01		/* tchar */
#define C_FIELD 0x02		/* VCHAR, obs-text, SP, HTAB */
#define C_TARGET 0x04		/* request-target: VCHAR, obs-text */
#define C_ALL (C_TCHAR | C_FIELD | C_TARGET)

static const unsigned char cclass[256] = {
	['\t'] = C_FIELD,
	[' '] = C_FIELD,
	['!'] = C_ALL,
	['"'] = C_FIELD | C_TARGET,
	['#' ... '\''] = C_ALL,
	['(' ... ')'] = C_FIELD | C_TARGET,
	['*' ... '+'] = C_ALL,
	[','] = C_FIELD | C_TARGET,
	['-' ... '.'] = C_ALL,
	['/'] = C_FIELD | C_TARGET,
	['0' ... '9'] = C_ALL,
	[':' ... '@'] = C_FIELD | C_TARGET,
	['A' ... 'Z'] = C_ALL,
	['[' ... ']'] = C_FIELD | C_TARGET,
	['^' ... '`'] = C_ALL,
	['a' ... 'z'] = C_ALL,
	['{'] = C_FIELD | C_TARGET,
	['|'] = C_ALL,
	['}'] = C_FIELD | C_TARGET,
	['~'] = C_ALL,
	[0x80 ... 0xff] = C_FIELD | C_TARGET,
};

/* Hex digit value plus one; 0 for any other byte. */
static const unsigned char hexval[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

#define IS(c, cls) (cclass[(unsigned char)(c)] & (cls))

/* For the layout of the header loop: the usual line is straight code. */
#define likely(x) __builtin_expect(!!(x), 1)

/*
 * First byte in [p, end) outside the class, or end. Inlined with a constant
 * class; unrolled because header values and targets are most of the bytes.
 */
static inline const char *scan(const char *p, const char *end, unsigned cls)
{
	while (end - p >= 8) {
		if (!IS(p[0], cls))
			return p;
		if (!IS(p[1], cls))
			return p + 1;
		if (!IS(p[2], cls))
			return p + 2;
		if (!IS(p[3], cls))
			return p + 3;
		if (!IS(p[4], cls))
			return p + 4;
		if (!IS(p[5], cls))
			return p + 5;
		if (!IS(p[6], cls))
			return p + 6;
		if (!IS(p[7], cls))
			return p + 7;
		p += 8;
	}
	while (p < end && IS(*p, cls))
		p++;
	return p;
}

/*
 * The same scans, sixteen bytes at a time where the class has a short
 * arithmetic form (SSE2 is part of x86-64). Each *_stops() gives a mask
 * with bit i set when byte i of the block ends the run, and bits 16 to 31
 * set as well: first_stop() of it is then defined, and 16 when the block
 * has no stop. A block is loaded only when all of it lies in [start, end),
 * so nothing outside the caller's buffer is ever read: when fewer than 16
 * bytes remain before end, the block that ends at end is loaded instead
 * (if the buffer is that long) and its mask shifted right so that bit 0
 * stands for p; the set bits shifted in then stop the run at end.
 * Whatever the blocks cannot decide goes to scan(), so every result is
 * exactly scan()'s.
 */
#ifdef __SSE2__
static inline __m128i load16(const char *p)
{
	return _mm_loadu_si128((const __m128i *)(const void *)p);
}

static inline unsigned stops_of(__m128i bad)
{
	return (unsigned)_mm_movemask_epi8(bad) | ~0xffffu;
}

static inline unsigned stops_not(__m128i ok)
{
	return ~(unsigned)_mm_movemask_epi8(ok);
}

/* The index of the lowest set bit of a stops mask. */
static inline size_t first_stop(unsigned m)
{
	return (unsigned)__builtin_ctz(m);
}

/* field-content stops at a CTL other than HTAB, or at DEL. */
static inline unsigned field_stops(__m128i x)
{
	__m128i bad = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x);

	bad = _mm_andnot_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\t')), bad);
	bad = _mm_or_si128(bad, _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f)));
	return stops_of(bad);
}

/* request-target stops at a CTL, SP or DEL. */
static inline unsigned target_stops(__m128i x)
{
	__m128i bad = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x20)), x);

	bad = _mm_or_si128(bad, _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f)));
	return stops_of(bad);
}

/*
 * Names and methods are nearly always letters, digits and '-': this stops
 * at any other byte, which is usually the ':' or SP after the token and
 * otherwise either a rarer tchar (then scan() goes on) or a bad byte.
 */
static inline unsigned token_stops(__m128i x)
{
	/* signed compares on biased bytes test unsigned ranges */
	__m128i l = _mm_or_si128(x, _mm_set1_epi8(0x20));
	__m128i alpha = _mm_cmplt_epi8(
		_mm_add_epi8(l, _mm_set1_epi8((char)(0x80 - 'a'))),
		_mm_set1_epi8((char)(0x80 + 26)));
	__m128i digit = _mm_cmplt_epi8(
		_mm_add_epi8(x, _mm_set1_epi8((char)(0x80 - '0'))),
		_mm_set1_epi8((char)(0x80 + 10)));
	__m128i dash = _mm_cmpeq_epi8(x, _mm_set1_epi8('-'));

	return stops_not(_mm_or_si128(_mm_or_si128(alpha, digit), dash));
}

/*
 * The bytes of nearly every header name, letters and '-': bit i is set
 * when byte i is one (no bits above 15). Without the digit range of
 * token_stops() it takes three vector operations fewer; parse_headers()
 * looks at a name with a digit again with name_digits(), and one with a
 * rarer tchar with scan_token().
 */
static inline unsigned name_ok(__m128i x)
{
	__m128i l = _mm_or_si128(x, _mm_set1_epi8(0x20));
	__m128i alpha = _mm_cmplt_epi8(
		_mm_add_epi8(l, _mm_set1_epi8((char)(0x80 - 'a'))),
		_mm_set1_epi8((char)(0x80 + 26)));
	__m128i dash = _mm_cmpeq_epi8(x, _mm_set1_epi8('-'));

	return (unsigned)_mm_movemask_epi8(_mm_or_si128(alpha, dash));
}

/*
 * A rough test for the usual value, reason or target, printable ASCII:
 * bit i is set when byte i is outside lo to '~' (x + 1 > lo as signed
 * bytes fails; DEL and above wrap to negative), so at every real stop of
 * field-content (lo = SP) or of a request-target (lo = '!') but also at
 * HTAB and obs-text, which the caller must then look at again. Unlike the
 * *_stops() masks it has no bits above 15: zero means no stop, which the
 * XOR that makes it already tells. Two operations where field_stops()
 * needs six.
 */
static inline unsigned text_bad(__m128i x, char lo)
{
	return (unsigned)_mm_movemask_epi8(_mm_cmpgt_epi8(
		       _mm_add_epi8(x, _mm_set1_epi8(1)),
		       _mm_set1_epi8(lo))) ^ 0xffffu;
}

/*
 * The rough test from p, block after block while p <= last, where last
 * leaves room for a block and two more bytes before the end. Returns the
 * first stop, or the first byte after the blocks read; either way every
 * byte before it is in lo to '~', and the result and the byte after it
 * are in the buffer (when p <= last).
 */
static inline const char *scan_text(const char *p, const char *last, char lo)
{
	unsigned m = text_bad(load16(p), lo);

	while (!m) {
		p += 16;
		if (p > last)
			return p;
		m = text_bad(load16(p), lo);
	}
	return p + (unsigned)__builtin_ctz(m);
}

/* The stops of the block that ends at end, seen from p (end - p <= 16). */
#define TAIL_STOPS(stops, p, end) \
	((stops)(load16((end) - 16)) >> (16 - ((end) - (p))))
#endif

static inline const char *scan_field(const char *p, const char *end,
				     const char *start)
{
#ifdef __SSE2__
	for (; end - p >= 16; p += 16) {
		size_t k = first_stop(field_stops(load16(p)));

		if (k < 16)
			return p + k;
	}
	if (end - start >= 16)
		return p + first_stop(TAIL_STOPS(field_stops, p, end));
#endif
	return scan(p, end, C_FIELD);
}

static inline const char *scan_target(const char *p, const char *end,
				      const char *start)
{
#ifdef __SSE2__
	for (; end - p >= 16; p += 16) {
		size_t k = first_stop(target_stops(load16(p)));

		if (k < 16)
			return p + k;
	}
	if (end - start >= 16)
		return p + first_stop(TAIL_STOPS(target_stops, p, end));
#endif
	return scan(p, end, C_TARGET);
}

/*
 * A token (tchar), as header names are: first byte in [p, end) that is not
 * a tchar, or end. The usual stop, ':', is returned from the block.
 */
static inline const char *scan_token(const char *p, const char *end,
				     const char *start)
{
#ifdef __SSE2__
	for (; end - p >= 16; p += 16) {
		size_t k = first_stop(token_stops(load16(p)));

		if (k < 16) {
			p += k;
			goto stop;
		}
	}
	if (end - start < 16)
		return scan(p, end, C_TCHAR);
	p += first_stop(TAIL_STOPS(token_stops, p, end));
	if (p == end)
		return end;
stop:
	if (*p == ':')
		return p;
#endif
	return scan(p, end, C_TCHAR);
}

/*
 * Compare n bytes case-insensitively with a lowercase literal. Valid only on
 * bytes already known to be tchar or field-content: OR-ing 0x20 folds ASCII
 * letters, and the only other bytes that would fold onto '-', '0' or '1' are
 * CR, 0x10 and 0x11, which those classes exclude.
 */

/* (Eight or four bytes at a time, the last word overlapping the one
   before it: the same bytes are compared, in fewer steps.) */
static inline int ieq(const char *p, const char *lit, size_t n)
{
	const uint64_t f64 = 0x2020202020202020ull;
	const uint32_t f32 = 0x20202020u;

	if (n >= 8) {
		for (size_t i = 0; i + 8 < n; i += 8)
			if ((copy_load64(p + i) | f64) != copy_load64(lit + i))
				return 0;
		return (copy_load64(p + n - 8) | f64) == copy_load64(lit + n - 8);
	}
	if (n >= 4)
		return (copy_load32(p) | f32) == copy_load32(lit) &&
		       (copy_load32(p + n - 4) | f32) == copy_load32(lit + n - 4);
	for (size_t i = 0; i < n; i++)
		if ((char)(p[i] | 0x20) != lit[i])
			return 0;
	return 1;
}

#define IEQ(p, n, lit) ((n) == sizeof(lit) - 1 && ieq(p, lit, sizeof(lit) - 1))

/* What the header lines say about the body; decided after the last one. */
struct framing {
	int64_t cl;		/* agreed Content-Length value */
	int cl_seen;
	int cl_bad;		/* invalid or conflicting Content-Length */
	int te_seen;
	int te_bad;		/* a coding that is not a token */
	int te_chunked;		/* the last coding so far is chunked */
};

/* Line end (CRLF or bare LF) at p: pointer after it, or NULL and *ret. */
static inline const char *parse_eol(const char *p, const char *end, int *ret)
{
	if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
		return p + 2;	/* the usual one */
	if (p == end) {
		*ret = -2;
		return NULL;
	}
	if (*p == '\n')
		return p + 1;
	if (*p != '\r') {
		*ret = -1;
		return NULL;
	}
	if (p + 1 == end) {
		*ret = -2;
		return NULL;
	}
	if (p[1] != '\n') {
		*ret = -1;
		return NULL;
	}
	return p + 2;
}

/* The minor version if the 8 bytes at p are "HTTP/1.0" or "HTTP/1.1", or -1. */
static inline int http_version(const char *p)
{
	if (memcmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1'))
		return -1;
	return p[7] - '0';
}

/*
 * "HTTP/1.0" or "HTTP/1.1" at p: pointer after it, or NULL and *ret. The
 * byte-wise part tells a prefix (-2) from a mismatch (-1).
 */
static const char *parse_version_slow(const char *p, const char *end,
				      int *minor, int *ret)
{
	static const char lit[] = "HTTP/1.";

	for (size_t i = 0; i < sizeof(lit) - 1; i++, p++) {
		if (p == end) {
			*ret = -2;
			return NULL;
		}
		if (*p != lit[i]) {
			*ret = -1;
			return NULL;
		}
	}
	if (p == end) {
		*ret = -2;
		return NULL;
	}
	if (*p != '0' && *p != '1') {
		*ret = -1;
		return NULL;
	}
	*minor = *p - '0';
	return p + 1;
}

static inline const char *parse_version(const char *p, const char *end,
					int *minor, int *ret)
{
	if (end - p >= 8 && (*minor = http_version(p)) >= 0)
		return p + 8;
	return parse_version_slow(p, end, minor, ret);
}

/*
 * "METHOD SP target SP HTTP/1.x" and its line end. Exactly one SP between
 * the parts, as RFC 9112 3 writes it: being strict here is what keeps
 * detection from mistaking other protocols for HTTP. start is the
 * beginning of the caller's buffer (the scans may read back to it).
 */
static const char *parse_request_line(const char *p, const char *end,
				      const char *start, struct http1_head *h,
				      int *ret)
{
	const char *s = p;

#ifdef __SSE2__
	/* The usual method: letters, then SP, within one block. */
	size_t k = 16;

	if (end - p >= 16)
		k = first_stop(token_stops(load16(p)));
	if (k - 1 < 15 && p[k] == ' ') {
		p += k;
	} else
#endif
	{
		const char *lim = end - p > METHOD_MAX ? p + METHOD_MAX : end;

		while (p < lim && IS(*p, C_TCHAR))
			p++;
		if (p == end) {
			*ret = -2;
			return NULL;
		}
		/* Also rejects a 33rd token character: then *p is not SP. */
		if (*p != ' ' || p == s) {
			*ret = -1;
			return NULL;
		}
	}
	h->method.p = s;
	h->method.len = (size_t)(p - s);

	s = ++p;
#ifdef __SSE2__
	/* SP where the rough test stops is the real end; else look again. */
	if (end - p >= 18) {
		p = scan_text(p, end - 18, '!');
		if (*p != ' ')
			p = scan_target(p, end, start);
	} else
#endif
		p = scan_target(p, end, start);
	if (p == end) {
		*ret = -2;
		return NULL;
	}
	if (*p != ' ' || p == s) {
		*ret = -1;
		return NULL;
	}
	h->target.p = s;
	h->target.len = (size_t)(p - s);

	p = parse_version(p + 1, end, &h->minor_version, ret);
	if (!p)
		return NULL;
	return parse_eol(p, end, ret);
}

/*
 * "HTTP/1.x SP 3DIGIT SP reason" and its line end. The SP before an empty
 * reason may be missing ("HTTP/1.1 200\r\n"), as many servers send it and
 * common clients accept it.
 */
static const char *parse_status_line(const char *p, const char *end,
				     const char *start, struct http1_head *h,
				     int *ret)
{
	int code = 0;

	/* The usual start, "HTTP/1.1 200", when 13 bytes are there. */
	if (end - p >= 13 && (h->minor_version = http_version(p)) >= 0 &&
	    p[8] == ' ' && p[9] >= '1' && p[9] <= '9' &&
	    p[10] >= '0' && p[10] <= '9' && p[11] >= '0' && p[11] <= '9') {
		code = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
		p += 12;
	} else {
		p = parse_version(p, end, &h->minor_version, ret);
		if (!p)
			return NULL;
		if (p == end) {
			*ret = -2;
			return NULL;
		}
		if (*p != ' ') {
			*ret = -1;
			return NULL;
		}
		p++;
		for (int i = 0; i < 3; i++, p++) {
			if (p == end) {
				*ret = -2;
				return NULL;
			}
			if (*p < '0' || *p > '9') {
				*ret = -1;
				return NULL;
			}
			code = code * 10 + (*p - '0');
		}
		if (code < 100) {
			*ret = -1;
			return NULL;
		}
		if (p == end) {
			*ret = -2;
			return NULL;
		}
	}
	h->status = code;
	if (*p == ' ') {
		const char *s = ++p;
#ifdef __SSE2__
		/* a CR where the rough test stops is the real end */
		if (end - p >= 18) {
			p = scan_text(p, end - 18, ' ');
			if (*p != '\r')
				p = scan_field(p, end, start);
		} else
#endif
			p = scan_field(p, end, start);
		h->reason.p = s;
		h->reason.len = (size_t)(p - s);
	} else {
		h->reason.p = p;
		h->reason.len = 0;
	}
	return parse_eol(p, end, ret);
}

/*
 * Next element of a comma-separated list, OWS trimmed. *pp walks the list and
 * becomes NULL after the last element. Empty elements are returned (len 0):
 * RFC 9110 5.6.1 says recipients ignore them, and each caller decides.
 */
static int next_elem(const char **pp, const char *end, const char **e,
		     size_t *n)
{
	const char *p = *pp, *q, *t;

	if (!p)
		return 0;
	q = memchr(p, ',', (size_t)(end - p));
	t = q ? q : end;
	while (p < t && (*p == ' ' || *p == '\t'))
		p++;
	while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
		t--;
	*e = p;
	*n = (size_t)(t - p);
	*pp = q ? q + 1 : NULL;
	return 1;
}

/*
 * Content-Length: digits only, within int64_t. RFC 9110 8.6 lets a recipient
 * accept repeated identical values, in one field as a list or in several
 * fields; anything else leaves the body length unknowable.
 */
static void content_length(struct framing *f, const char *v, size_t len)
{
	const char *it = v, *e;
	size_t n;

	/* The usual value: 1 to 18 digits (no list, cannot overflow). */
	if (len >= 1 && len <= 18) {
		int64_t x = 0;
		size_t i = 0;
		for (; i < len; i++) {
			unsigned d = (unsigned char)v[i] - '0';
			if (d > 9)
				break;
			x = x * 10 + (int64_t)d;
		}
		if (i == len) {
			if (f->cl_seen && x != f->cl)
				f->cl_bad = 1;
			else {
				f->cl = x;
				f->cl_seen = 1;
			}
			return;
		}
	}

	while (next_elem(&it, v + len, &e, &n)) {
		int64_t x = 0;

		if (n == 0) {
			f->cl_bad = 1;
			return;
		}
		for (size_t i = 0; i < n; i++) {
			int d = e[i] - '0';
			if (d < 0 || d > 9 || x > (INT64_MAX - d) / 10) {
				f->cl_bad = 1;
				return;
			}
			x = x * 10 + d;
		}
		if (f->cl_seen && x != f->cl) {
			f->cl_bad = 1;
			return;
		}
		f->cl = x;
		f->cl_seen = 1;
	}
}

/*
 * Transfer-Encoding: a list of codings, each a token with optional
 * parameters (";" ...) that we do not need. Several fields form one list
 * (RFC 9110 5.3), so only the last coding of the last field counts. A quoted
 * parameter containing a comma is split wrongly and then fails as a token,
 * which errs on the side of "framing unknown".
 */
static void transfer_encoding(struct framing *f, const char *v, size_t len)
{
	const char *it = v, *e;
	size_t n;

	f->te_seen = 1;
	if (IEQ(v, len, "chunked")) {	/* the usual value, alone */
		f->te_chunked = 1;
		return;
	}
	while (next_elem(&it, v + len, &e, &n)) {
		size_t t = (size_t)(scan(e, e + n, C_TCHAR) - e);

		if (n == 0)
			continue;
		if (t == 0) {
			f->te_bad = 1;
			continue;
		}
		if (t < n) {
			const char *r = e + t;
			while (r < e + n && (*r == ' ' || *r == '\t'))
				r++;
			if (r == e + n || *r != ';') {
				f->te_bad = 1;
				continue;
			}
		}
		f->te_chunked = IEQ(e, t, "chunked");
	}
}

static void connection(struct http1_head *h, const char *v, size_t len)
{
	const char *it = v, *e;
	size_t n;

	/* The usual values, alone (the value is already trimmed). */
	if (IEQ(v, len, "keep-alive")) {
		h->flags |= HTTP1_CONN_KEEP_ALIVE;
		return;
	}
	if (IEQ(v, len, "close")) {
		h->flags |= HTTP1_CONN_CLOSE;
		return;
	}

	while (next_elem(&it, v + len, &e, &n)) {
		if (IEQ(e, n, "close"))
			h->flags |= HTTP1_CONN_CLOSE;
		else if (IEQ(e, n, "keep-alive"))
			h->flags |= HTTP1_CONN_KEEP_ALIVE;
		else if (IEQ(e, n, "upgrade"))
			h->flags |= HTTP1_CONN_UPGRADE;
	}
}

/*
 * Which names note_header() may keep, by first letter and length: bit n of
 * known_names[c & 31] is set when a name we use starts with letter c (any
 * case) and has n bytes. Other bytes that share c & 31 only cost a compare.
 * Most fields (Date, Server, Content-Type, ...) stop at this test.
 */
#define L(c) [(c) & 31]
static const uint32_t known_names[32] = {
	L('b') = 1u << 7,				/* baggage */
	L('c') = 1u << 10 | 1u << 14,			/* connection, content-length */
	L('e') = 1u << 6,				/* expect */
	L('h') = 1u << 4,				/* host */
	L('t') = 1u << 10 | 1u << 11 | 1u << 17,	/* tracestate, traceparent,
							   transfer-encoding */
	L('u') = 1u << 10,				/* user-agent */
};
#undef L

/* Whether note_header() may want a field with this name (see above). */
static inline int maybe_known(const char *n, size_t nl)
{
	return known_names[((unsigned char)n[0] | 0x20) & 31] >> (nl & 31) & 1;
}

/*
 * Record a header field if it is one we use. Names are tokens and compared
 * case-insensitively; maybe_known() has turned most fields away, and the
 * length and first letter leave one candidate, checked by one compare
 * (a longer name that passed the table is dropped by the switch).
 */
static void note_header(struct http1_head *h, struct framing *f,
			const char *n, size_t nl, const char *v, size_t vl)
{
	struct http1_str s = { v, vl };
	unsigned c = (unsigned char)n[0] | 0x20;

	switch (nl) {
	case 4:
		if (ieq(n, "host", 4) && !h->host.p)
			h->host = s;
		break;
	case 6:
		if (ieq(n, "expect", 6) && IEQ(v, vl, "100-continue"))
			h->flags |= HTTP1_EXPECT_CONTINUE;
		break;
	case 7:
		if (ieq(n, "baggage", 7) && !h->baggage.p)
			h->baggage = s;
		break;
	case 10:
		switch (c) {
		case 'u':
			if (ieq(n, "user-agent", 10) && !h->user_agent.p)
				h->user_agent = s;
			break;
		case 'c':
			if (ieq(n, "connection", 10))
				connection(h, v, vl);
			break;
		case 't':
			if (ieq(n, "tracestate", 10)) {
				if (h->n_tracestate < HTTP1_MAX_TRACESTATE)
					h->tracestate[h->n_tracestate] = s;
				if (h->n_tracestate < INT_MAX)
					h->n_tracestate++;
			}
			break;
		}
		break;
	case 11:
		if (ieq(n, "traceparent", 11)) {
			if (!h->traceparent.p)
				h->traceparent = s;
			if (h->n_traceparent < INT_MAX)
				h->n_traceparent++;
		}
		break;
	case 14:
		if (ieq(n, "content-length", 14))
			content_length(f, v, vl);
		break;
	case 17:
		if (ieq(n, "transfer-encoding", 17))
			transfer_encoding(f, v, vl);
		break;
	}
}

/*
 * scan_token() for the general checks in parse_headers(), out of line: the
 * unusual names pay a call, and the loop does not keep the constants of
 * token_stops() in registers for them.
 */
static __attribute__((noinline)) const char *
scan_name_slow(const char *p, const char *end, const char *start)
{
	return scan_token(p, end, start);
}

#ifdef __SSE2__
/*
 * The name block of parse_headers() again, for a name that a digit
 * stopped there ("X-B3-TraceId"): the ':' after a token of 1 to 16 bytes
 * at p (the caller has the byte after the block in its buffer), or NULL
 * when the token stops elsewhere. Out of line, so that the usual names
 * keep their registers.
 */
static __attribute__((noinline)) const char *name_digits(const char *p)
{
	size_t k = first_stop(token_stops(load16(p)));

	return k - 1 < 16 && p[k] == ':' ? p + k : NULL;
}
#endif

/*
 * Header lines up to and including the empty line. Every line is validated
 * (token name, ':' with no space before it, field-content value, proper line
 * end) even when we do not keep it. A line starting with SP or HTAB is
 * obsolete line folding, rejected as RFC 9112 5.2 allows. start is the
 * beginning of the caller's buffer (the scans may read back to it).
 *
 * With SSE2 the usual line takes the straight path: one block holds the
 * name, letters and '-' (name_ok) or also digits (name_digits), and the
 * ':' is in it or just after it; the rough test (text_bad) runs from just
 * after the ':' (the OWS before a value is field-content too) to a CR that
 * LF follows. Any other line, and the final empty one, goes through the
 * general checks, in the order that keeps -2 and -1 apart, from what is
 * already known. A field whose name cannot be one we keep (maybe_known)
 * is only validated and counted.
 */
static const char *parse_headers(const char *p, const char *end,
				 const char *start, struct http1_head *h,
				 struct framing *f, int *ret)
{
#ifdef __SSE2__
	/*
	 * The last places where 16 bytes (18 bytes) can be read; start when
	 * the buffer is shorter, where no header line or value can begin
	 * (the start line comes first).
	 */
	const char *last16 = end - start >= 16 ? end - 16 : start;
	const char *last18 = end - start >= 18 ? end - 18 : start;
#endif

	for (;;) {
		const char *name = p, *colon, *v, *e;

#ifdef __SSE2__
		/*
		 * The usual line: letters and '-', at least one, then ':'
		 * within 17 bytes (the byte after the block is in the buffer
		 * when p < last16). A digit has the same bytes looked at
		 * again with the token test; at any other byte the general
		 * checks below start over. The name is the trailing ones of
		 * m, counted as the trailing zeros of m + 1 (m < 1 << 16).
		 */
		if (p < last16) {
			unsigned m = name_ok(load16(p));

			colon = p + (unsigned)__builtin_ctz(m + 1);
			if (likely((m & 1) && *colon == ':'))
				goto value;
			/* A digit stopped it ("X-B3-TraceId"). */
			if ((unsigned char)(*colon - '0') < 10) {
				colon = name_digits(p);
				if (colon)
					goto value;
			}
		}
#endif
		if (p == end) {
			*ret = -2;
			return NULL;
		}
		if (*p == '\r' || *p == '\n')
			return parse_eol(p, end, ret);
		colon = scan_name_slow(p, end, start);
		if (colon == end) {
			*ret = -2;
			return NULL;
		}
		if (*colon != ':' || colon == name) {
			*ret = -1;
			return NULL;
		}
#ifdef __SSE2__
value:
#endif
		e = colon + 1;
#ifdef __SSE2__
		/*
		 * The usual value: printable ASCII, then CRLF. e is where the
		 * rough scan stops (e and e + 1 are in the buffer); a CR LF
		 * there is the real end. Otherwise the bytes before e are
		 * still field-content, and the exact scan goes on from e.
		 */
		if (e <= last18) {
			e = scan_text(e, last18, ' ');
			if (likely(!memcmp(e, "\r\n", 2))) {
				p = e + 2;
				goto trim;
			}
		}
#endif
		e = scan_field(e, end, start);
		p = parse_eol(e, end, ret);
		if (!p)
			return NULL;
#ifdef __SSE2__
trim:
#endif
		h->n_headers++;
		if (likely(!maybe_known(name, (size_t)(colon - name))))
			continue;
		/*
		 * OWS around the value: *e is a CTL, and the bytes between the
		 * colon and e are field-content, so <= ' ' means SP or HTAB
		 * there; v never passes e.
		 */
		v = colon + 1;
		v += *v == ' ';		/* the usual single SP */
		while ((unsigned char)*v <= ' ' && v < e)
			v++;
		if ((unsigned char)e[-1] <= ' ')
			while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
		note_header(h, f, name, (size_t)(colon - name), v,
			    (size_t)(e - v));
	}
}

/*
 * Everything but the tracestate views, of which only the first
 * n_tracestate are ever read: zeroing those 128 bytes was a tenth of a
 * short head's cost.
 */
static void head_init(struct http1_head *h)
{
	/* Field by field: a memset of this size becomes "rep stos", which
	   costs more than the stores it replaces. */
	static const struct http1_str none;

	h->method = none;
	h->target = none;
	h->status = 0;
	h->reason = none;
	h->minor_version = 0;
	h->flags = 0;
	h->content_length = -1;
	h->n_headers = 0;
	h->host = none;
	h->user_agent = none;
	h->traceparent = none;
	h->n_traceparent = 0;
	h->n_tracestate = 0;
	h->baggage = none;
}

/*
 * Turn the framing headers into flags (RFC 9112 6.1-6.3). Transfer-Encoding
 * overrides Content-Length, and a message with both is a smuggling pattern,
 * so the pair is BAD_FRAMING while CHUNKED still tells what the coding says.
 * Transfer-Encoding in an HTTP/1.0 message is faulty framing (6.1). A request
 * whose final coding is not chunked has no determinable length (6.3 item 4);
 * a response is then delimited by the connection close, which is not "bad".
 */
static void finish_framing(struct http1_head *h, const struct framing *f,
			   int is_request)
{
	if (f->cl_bad)
		h->flags |= HTTP1_BAD_FRAMING;
	else if (f->cl_seen)
		h->content_length = f->cl;
	if (!f->te_seen)
		return;
	h->flags |= HTTP1_TRANSFER_ENCODING;
	if (f->te_bad)
		h->flags |= HTTP1_BAD_FRAMING;
	else if (f->te_chunked)
		h->flags |= HTTP1_CHUNKED;
	else if (is_request)
		h->flags |= HTTP1_BAD_FRAMING;
	if (f->cl_seen || f->cl_bad || h->minor_version == 0)
		h->flags |= HTTP1_BAD_FRAMING;
}

int http1_parse_request(const char *buf, size_t len, struct http1_head *h)
{
	struct framing f = { 0 };
	const char *p = buf, *end;
	int ret = -2;

	if (len == 0)
		return -2;
	if (len > INT_MAX)
		len = INT_MAX;	/* the result must fit; such a head stays -2 */
	end = buf + len;
	head_init(h);

	/*
	 * RFC 9112 2.2: a server SHOULD ignore at least one empty line before
	 * the request line; old clients send one after a POST body.
	 */
	if (*p == '\r' || *p == '\n') {
		p = parse_eol(p, end, &ret);
		if (!p)
			return ret;
	}
	p = parse_request_line(p, end, buf, h, &ret);
	if (!p)
		return ret;
	p = parse_headers(p, end, buf, h, &f, &ret);
	if (!p)
		return ret;
	finish_framing(h, &f, 1);
	return (int)(p - buf);
}

int http1_parse_response(const char *buf, size_t len, struct http1_head *h)
{
	struct framing f = { 0 };
	const char *p = buf, *end;
	int ret = -2;

	if (len == 0)
		return -2;
	if (len > INT_MAX)
		len = INT_MAX;
	end = buf + len;
	head_init(h);

	p = parse_status_line(p, end, buf, h, &ret);
	if (!p)
		return ret;
	p = parse_headers(p, end, buf, h, &f, &ret);
	if (!p)
		return ret;
	finish_framing(h, &f, 0);
	return (int)(p - buf);
}

int http1_detect_request(const char *buf, size_t len)
{
	struct http1_head h;
	size_t n = len > DETECT_MAX ? DETECT_MAX : len;
	int ret = -2;

	if (len == 0)
		return 0;
	if (parse_request_line(buf, buf + n, buf, &h, &ret))
		return 1;
	if (ret == -2)
		return len >= DETECT_MAX ? -1 : 0;
	return -1;
}

static const char *const method_names[HTTP1_N_METHODS] = {
	[HTTP1_CONNECT] = "CONNECT",
	[HTTP1_DELETE] = "DELETE",
	[HTTP1_GET] = "GET",
	[HTTP1_HEAD] = "HEAD",
	[HTTP1_OPTIONS] = "OPTIONS",
	[HTTP1_PATCH] = "PATCH",
	[HTTP1_POST] = "POST",
	[HTTP1_PUT] = "PUT",
	[HTTP1_TRACE] = "TRACE",
};

/* The names are few and short: a switch on the length, then whole-word
   compares (methods are case-sensitive, RFC 9110 9.1). */
int http1_method_index(const char *m, size_t len)
{
	if (!m)
		return -1;
	switch (len) {
	case 3:
		if (!memcmp(m, "GET", 3))
			return HTTP1_GET;
		if (!memcmp(m, "PUT", 3))
			return HTTP1_PUT;
		break;
	case 4:
		if (!memcmp(m, "POST", 4))
			return HTTP1_POST;
		if (!memcmp(m, "HEAD", 4))
			return HTTP1_HEAD;
		break;
	case 5:
		if (!memcmp(m, "PATCH", 5))
			return HTTP1_PATCH;
		if (!memcmp(m, "TRACE", 5))
			return HTTP1_TRACE;
		break;
	case 6:
		if (!memcmp(m, "DELETE", 6))
			return HTTP1_DELETE;
		break;
	case 7:
		if (!memcmp(m, "OPTIONS", 7))
			return HTTP1_OPTIONS;
		if (!memcmp(m, "CONNECT", 7))
			return HTTP1_CONNECT;
		break;
	}
	return -1;
}

const char *http1_method_name(int index)
{
	if (index < 0 || index >= HTTP1_N_METHODS)
		return "_OTHER";
	return method_names[index];
}

/*
 * States of the chunked scanner. The zero-filled struct starts in CK_SIZE;
 * c->remaining accumulates the chunk-size while it is read, then counts the
 * data still to skip.
 */
enum {
	CK_SIZE = 0,		/* chunk-size hex digits */
	CK_SIZE_WS,		/* BWS after the size */
	CK_EXT,			/* chunk extensions, up to the line end */
	CK_SIZE_LF,		/* CR ending the size line seen */
	CK_DATA,		/* chunk data */
	CK_DATA_END,		/* the CRLF after chunk data */
	CK_DATA_LF,
	CK_TRAILER_START,	/* start of a trailer line or the final one */
	CK_TRAILER,		/* inside a trailer line */
	CK_TRAILER_LF,		/* CR inside a trailer line seen */
	CK_END_LF,		/* CR of the final empty line seen */
	CK_DONE,
};

/* The size line ended: data follows, or the trailer section if size 0. */
static void size_line_done(struct http1_chunked *c)
{
	c->size_digits = 0;
	c->state = c->remaining ? CK_DATA : CK_TRAILER_START;
}

ssize_t http1_chunked_feed(struct http1_chunked *c, const char *buf,
			   size_t len, int *done)
{
	const char *p = buf, *end;

	*done = c->state == CK_DONE;
	if (*done || len == 0)
		return 0;
	end = buf + len;
	while (p < end) {
		unsigned char ch = (unsigned char)*p;

		switch (c->state) {
		case CK_SIZE:
			if (hexval[ch]) {
				if (c->remaining > (UINT64_MAX >> 4) ||
				    c->size_digits >= CHUNK_DIGITS_MAX)
					return -1;
				c->remaining = c->remaining << 4 |
					       (uint64_t)(hexval[ch] - 1);
				c->size_digits++;
				p++;
				continue;
			}
			if (c->size_digits == 0)
				return -1;
			/* The digits are over; what may follow them: */
			/* fall through */
		case CK_SIZE_WS:
			if (ch == ' ' || ch == '\t')
				c->state = CK_SIZE_WS;
			else if (ch == ';')
				c->state = CK_EXT;
			else if (ch == '\r')
				c->state = CK_SIZE_LF;
			else if (ch == '\n')
				size_line_done(c);
			else
				return -1;
			p++;
			continue;
		case CK_EXT:
			/* Extensions are ignored; only forbidden bytes fail. */
			p = scan(p, end, C_FIELD);
			if (p == end)
				continue;
			if (*p == '\r')
				c->state = CK_SIZE_LF;
			else if (*p == '\n')
				size_line_done(c);
			else
				return -1;
			p++;
			continue;
		case CK_SIZE_LF:
			if (ch != '\n')
				return -1;
			size_line_done(c);
			p++;
			continue;
		case CK_DATA: {
			uint64_t k = (uint64_t)(end - p);
			if (k > c->remaining)
				k = c->remaining;
			p += k;
			c->remaining -= k;
			if (c->remaining == 0)
				c->state = CK_DATA_END;
			continue;
		}
		case CK_DATA_END:
			if (ch == '\r')
				c->state = CK_DATA_LF;
			else if (ch == '\n')
				c->state = CK_SIZE;
			else
				return -1;
			p++;
			continue;
		case CK_DATA_LF:
			if (ch != '\n')
				return -1;
			c->state = CK_SIZE;
			p++;
			continue;
		case CK_TRAILER_START:
			if (ch == '\r') {
				c->state = CK_END_LF;
			} else if (ch == '\n') {
				c->state = CK_DONE;
				*done = 1;
				return p + 1 - buf;
			} else if (IS(ch, C_TCHAR)) {
				/* Trailers are not used: bytes checked only. */
				c->state = CK_TRAILER;
			} else {
				return -1;	/* obs-fold or garbage */
			}
			p++;
			continue;
		case CK_TRAILER:
			p = scan(p, end, C_FIELD);
			if (p == end)
				continue;
			if (*p == '\r')
				c->state = CK_TRAILER_LF;
			else if (*p == '\n')
				c->state = CK_TRAILER_START;
			else
				return -1;
			p++;
			continue;
		case CK_TRAILER_LF:
			if (ch != '\n')
				return -1;
			c->state = CK_TRAILER_START;
			p++;
			continue;
		case CK_END_LF:
			if (ch != '\n')
				return -1;
			c->state = CK_DONE;
			*done = 1;
			return p + 1 - buf;
		default:
			return -1;	/* not a state of ours: corrupted */
		}
	}
	return p - buf;
}
