/*
 * url.c - url.full, url.path and url.query of HTTP spans, built from the
 * request-target and Host header as they were sent, with credentials and
 * signed-URL secrets redacted (SPEC.md 5.1; contracts in url.h).
 *
 * Everything else is copied byte for byte: no normalisation, no decoding, so
 * the attribute shows what went on the wire. Output is bounded by the
 * caller's capacity and truncated at a byte; a redacted value is never
 * written, so truncation cannot expose part of one.
 */
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "copy.h"
#include "url.h"

#define REDACTED_USERINFO "REDACTED:REDACTED@"
#define REDACTED_VALUE "REDACTED"

/* A bounded output: n <= cap - 1 always, so the NUL fits. */
struct out {
	char *p;
	size_t cap;
	size_t n;
};

static inline void put(struct out *o, const char *s, size_t len)
{
	size_t room;

	if (o->cap == 0)
		return;
	room = o->cap - 1 - o->n;
	if (len > room)
		len = room;
	copy_short(o->p + o->n, s, len);
	o->n += len;
}

static size_t finish(struct out *o)
{
	if (o->cap)
		o->p[o->n] = '\0';
	return o->n;
}

static int hexdig(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Query keys whose values are secrets (SPEC.md 5.1), matched
 * case-sensitively. The list is the semantic conventions' default.
 */
static const struct {
	const char *s;
	size_t n;
} sensitive[] = {
	{ "AWSAccessKeyId", 14 },
	{ "Signature", 9 },
	{ "sig", 3 },
	{ "X-Amz-Credential", 16 },
	{ "X-Amz-Security-Token", 20 },
	{ "X-Amz-Signature", 15 },
	{ "X-Goog-Signature", 16 },
};

#define SENSITIVE_MAX 20	/* longest key above */

/* The first bytes of the keys above, and '%', which may encode one. */
static const unsigned char first_of_sensitive[256] = {
	['A'] = 1, ['S'] = 1, ['s'] = 1, ['X'] = 1, ['%'] = 1,
};

/*
 * Whether a raw query key names a secret. The key is compared after
 * percent-decoding, because the server decodes it: "%73ig=..." is still a
 * signature. The output keeps the key as sent.
 */
static int is_sensitive(const char *k, size_t n)
{
	char d[SENSITIVE_MAX];
	size_t m = 0;

	/* decoding only shortens a key: none shorter than "sig" matches */
	if (n < 3)
		return 0;
	/* The first byte decodes to itself unless it starts an escape: a
	   key that starts with none of the keys' first letters is not one. */
	if (!first_of_sensitive[(unsigned char)k[0]])
		return 0;

	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (c == '%' && n - i > 2 && hexdig(k[i + 1]) >= 0 &&
		    hexdig(k[i + 2]) >= 0) {
			c = (char)(hexdig(k[i + 1]) << 4 | hexdig(k[i + 2]));
			i += 2;
		}
		if (m == sizeof(d))
			return 0;
		d[m++] = c;
	}
	for (size_t j = 0; j < sizeof(sensitive) / sizeof(sensitive[0]); j++)
		if (m == sensitive[j].n && memcmp(d, sensitive[j].s, m) == 0)
			return 1;
	return 0;
}

/*
 * The first byte in [p, end) that is a, b, c or d (repeat one to look for
 * fewer), or end. URLs are short, and this runs for each of their pieces:
 * with SSE2 it looks at sixteen bytes at a time, and a piece shorter than
 * that is read as two overlapping words of 8 or 4 bytes, so that no byte
 * outside [p, end) is ever read.
 */
#ifdef __SSE2__

/* Bit i set when byte i of x is one of the four. */
static inline unsigned hits(__m128i x, __m128i a, __m128i b, __m128i c,
			    __m128i d)
{
	__m128i m = _mm_or_si128(
		_mm_or_si128(_mm_cmpeq_epi8(x, a), _mm_cmpeq_epi8(x, b)),
		_mm_or_si128(_mm_cmpeq_epi8(x, c), _mm_cmpeq_epi8(x, d)));

	return (unsigned)_mm_movemask_epi8(m);
}
#endif

static inline const char *find4(const char *p, const char *end, char a,
				char b, char c, char d)
{
#ifdef __SSE2__
	const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b);
	const __m128i vc = _mm_set1_epi8(c), vd = _mm_set1_epi8(d);
	size_t n = (size_t)(end - p);
	unsigned m;

	if (n >= 16) {
		for (; end - p >= 16; p += 16) {
			m = hits(_mm_loadu_si128((const __m128i *)(const void *)p),
				 va, vb, vc, vd);
			if (m)
				return p + __builtin_ctz(m);
		}
		if (p == end)
			return end;
		/* the block that ends at end, seen from p */
		m = hits(_mm_loadu_si128((const __m128i *)(const void *)(end -
									16)),
			 va, vb, vc, vd) >> (16 - (end - p));
		return m ? p + __builtin_ctz(m) : end;
	}
	if (n >= 8) {
		/* bytes 0-7, then the last eight (n - 8 to n - 1) */
		m = hits(_mm_set_epi64x((long long)copy_load64(end - 8),
					(long long)copy_load64(p)),
			 va, vb, vc, vd);
		if (m & 0xffu)
			return p + __builtin_ctz(m);
		m >>= 8;
		return m ? end - 8 + __builtin_ctz(m) : end;
	}
	if (n >= 4) {
		m = hits(_mm_set_epi32(0, 0, (int)copy_load32(end - 4),
				       (int)copy_load32(p)),
			 va, vb, vc, vd) & 0xffu;
		if (m & 0xfu)
			return p + __builtin_ctz(m);
		m >>= 4;
		return m ? end - 4 + __builtin_ctz(m) : end;
	}
#endif
	for (; p < end; p++)
		if (*p == a || *p == b || *p == c || *p == d)
			return p;
	return end;
}

/*
 * A query that starts at q, up to the first '#' or end: its bytes with
 * the values of secret keys replaced. Returns where it ended. The bytes
 * between two redactions go out in one put(), which writes what putting
 * them piece by piece would, as put() only ever cuts at the end.
 */
static const char *put_query(struct out *o, const char *q, const char *end)
{
	const char *run = q, *p = q, *x;

	for (;;) {
		/* a key ends at the first '=' of its parameter */
		x = find4(p, end, '=', '&', '#', '#');
		if (x < end && *x == '=') {
			const char *pe = find4(x + 1, end, '&', '#', '&', '#');
			if (is_sensitive(p, (size_t)(x - p))) {
				put(o, run, (size_t)(x + 1 - run));
				put(o, REDACTED_VALUE,
				    sizeof(REDACTED_VALUE) - 1);
				run = pe;
			}
			x = pe;
		}
		if (x == end || *x == '#')
			break;
		p = x + 1;
	}
	put(o, run, (size_t)(x - run));
	return x;
}

/*
 * An authority with any userinfo replaced. The last '@' ends the userinfo,
 * as in the WHATWG URL parser, so an unescaped '@' in a password is still
 * hidden.
 */
static void put_authority(struct out *o, const char *a, size_t n)
{
	const char *at = n ? memrchr(a, '@', n) : NULL;

	if (at) {
		put(o, REDACTED_USERINFO, sizeof(REDACTED_USERINFO) - 1);
		n -= (size_t)(at + 1 - a);
		a = at + 1;
	}
	put(o, a, n);
}

/*
 * Path, query (redacted) and fragment of an origin-form-like target. The
 * query is the part after the first '?' that comes before any '#'.
 */
static void put_path_query(struct out *o, const char *t, size_t n)
{
	const char *end = t + n;
	const char *q = find4(t, end, '?', '#', '?', '#'), *qend;

	if (q == end || *q == '#') {
		put(o, t, n);
		return;
	}
	put(o, t, (size_t)(q + 1 - t));
	qend = put_query(o, q + 1, end);
	put(o, qend, (size_t)(end - qend));
}

/* Length of a leading "scheme://" (RFC 3986 3.1), or 0: not absolute-form. */
static size_t scheme_len(const char *t, size_t n)
{
	size_t i;

	if (n == 0 || !((t[0] | 0x20) >= 'a' && (t[0] | 0x20) <= 'z'))
		return 0;
	for (i = 1; i < n; i++) {
		char c = t[i];
		if (!(((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '-' ||
		      c == '.'))
			break;
	}
	if (n - i >= 3 && t[i] == ':' && t[i + 1] == '/' && t[i + 2] == '/')
		return i + 3;
	return 0;
}

/*
 * The authority that starts at a and ends at the first '/', '?' or '#'
 * (or end), with any userinfo replaced; returns its end. One scan when
 * there is no '@' before that end, the usual case.
 */
static const char *put_authority_to(struct out *o, const char *a,
				    const char *end)
{
	const char *x = find4(a, end, '/', '?', '#', '@');

	if (x < end && *x == '@') {
		const char *ae = find4(x, end, '/', '?', '#', '#');
		put_authority(o, a, (size_t)(ae - a));
		return ae;
	}
	put(o, a, (size_t)(x - a));
	return x;
}

size_t url_build_full(char *out, size_t cap, const char *scheme,
		      const char *host, size_t host_len,
		      const char *fallback_authority,
		      const char *target, size_t target_len)
{
	struct out o = { out, cap, 0 };
	size_t s = scheme_len(target, target_len);

	if (s) {
		/* absolute-form: the target is the URL. */
		const char *end = target + target_len;
		const char *ae;

		put(&o, target, s);
		ae = put_authority_to(&o, target + s, end);
		put_path_query(&o, ae, (size_t)(end - ae));
		return finish(&o);
	}

	if (!scheme)
		scheme = "http";
	/* (the usual scheme, compared byte by byte up to its NUL) */
	if (scheme[0] == 'h' && scheme[1] == 't' && scheme[2] == 't' &&
	    scheme[3] == 'p' && scheme[4] == '\0') {
		put(&o, "http://", 7);
	} else {
		put(&o, scheme, strlen(scheme));
		put(&o, "://", 3);
	}
	if (target_len && target[0] != '/' &&
	    !(target_len == 1 && target[0] == '*')) {
		/* authority-form (CONNECT): the target names the server. A
		   malformed one with a path or query gets them redacted like
		   any other. */
		const char *end = target + target_len;
		const char *ae = put_authority_to(&o, target, end);
		if (ae < end)
			put_path_query(&o, ae, (size_t)(end - ae));
		return finish(&o);
	}
	if (host_len)
		/* a Host with a '/', '?' or '#' in it is cut there: the rest
		   must not become an unredacted path or query */
		put_authority_to(&o, host, host + host_len);
	else if (fallback_authority)
		put_authority(&o, fallback_authority,
			      strlen(fallback_authority));
	/* asterisk-form ("OPTIONS *") has no path to add. */
	if (target_len && target[0] == '/')
		put_path_query(&o, target, target_len);
	return finish(&o);
}

void url_split_target(const char *target, size_t target_len,
		      char *path, size_t path_cap, size_t *path_len,
		      char *query, size_t query_cap, size_t *query_len)
{
	struct out po = { path, path ? path_cap : 0, 0 };
	struct out qo = { query, query ? query_cap : 0, 0 };
	const char *t = target, *end = target + target_len;
	size_t s = scheme_len(target, target_len);
	const char *pe;
	size_t pl, ql;

	if (s) {
		t = find4(t + s, end, '/', '?', '#', '#');
	} else if (target_len && t[0] != '/' &&
		   !(target_len == 1 && t[0] == '*')) {
		t = end;	/* authority-form: no path, no query */
	}
	/* the path ends at the first '?' or '#'; a query, after a '?' */
	pe = find4(t, end, '?', '#', '?', '#');

	/* An absolute URL with an empty path means "/" (RFC 9112 3.2.1). */
	if (s && pe == t)
		put(&po, "/", 1);
	else
		put(&po, t, (size_t)(pe - t));
	if (pe < end && *pe == '?')
		put_query(&qo, pe + 1, end);
	/* A skipped output has cap 0: finish() writes nothing, returns 0. */
	pl = finish(&po);
	ql = finish(&qo);
	if (path_len)
		*path_len = pl;
	if (query_len)
		*query_len = ql;
}

/* reg-name characters (RFC 3986 3.2.2): unreserved, sub-delims, '%'. */
static const unsigned char regname[256] = {
	['!'] = 1, ['$'] = 1, ['%'] = 1, ['&' ... '.'] = 1,
	['0' ... '9'] = 1, [';'] = 1, ['='] = 1, ['A' ... 'Z'] = 1,
	['_'] = 1, ['a' ... 'z'] = 1, ['~'] = 1,
};

/* The end of the reg-name bytes from p: four at a time, then one. */
static inline const char *skip_regname(const char *p, const char *end)
{
	while (end - p >= 4 && regname[(unsigned char)p[0]] &&
	       regname[(unsigned char)p[1]] && regname[(unsigned char)p[2]] &&
	       regname[(unsigned char)p[3]])
		p += 4;
	while (p < end && regname[(unsigned char)*p])
		p++;
	return p;
}

/*
 * The usual authority, "host" or "host:port", at the cost of one look at
 * each byte: a reg-name, then at most a ':' and up to five digits. There
 * is then no '@' and no '[' (neither is one of those bytes), and the
 * result is the one of the general path. Returns 0 when it has set the
 * outputs, -1 (having touched none) when the general path must decide.
 */
static inline int usual_authority(const char *a, const char *end,
				  const char **host, size_t *host_len,
				  int *port)
{
	const char *he = skip_regname(a, end), *p;
	int v = -1;

	if (he < end) {
		if (*he != ':' || end - he - 1 > 5)
			return -1;
		/* "host:" has an empty port, which means the default (-1) */
		if (end - he > 1)
			v = 0;
		for (p = he + 1; p < end; p++) {
			unsigned d = (unsigned char)*p - '0';
			if (d > 9)
				return -1;
			v = v * 10 + (int)d;
		}
		if (v > 65535)
			return -1;
	}
	*port = v;
	*host = a;
	*host_len = (size_t)(he - a);
	return 0;
}

#ifdef __SSE2__
/*
 * The same for 8 to 16 bytes of letters, digits, '-' and '.' (hosts as
 * they usually are), then at most ':' and up to five digits, sixteen bytes
 * at once. The string is loaded as two overlapping words, the second
 * shifted so that the bytes sit in order with zeros after them (a zero
 * is none of those bytes).
 */
static inline int usual_authority16(const char *a, size_t n,
				    const char **host, size_t *host_len,
				    int *port)
{
	uint64_t lo = copy_load64(a), hi = 0;
	unsigned all = (1u << n) - 1, stops, digits, k, d;
	int v = -1;

	if (n > 8)
		hi = copy_load64(a + n - 8) >> (8 * (16 - n));
	__m128i x = _mm_set_epi64x((long long)hi, (long long)lo);
	__m128i alpha = _mm_cmplt_epi8(
		_mm_add_epi8(_mm_or_si128(x, _mm_set1_epi8(0x20)),
			     _mm_set1_epi8((char)(0x80 - 'a'))),
		_mm_set1_epi8((char)(0x80 + 26)));
	__m128i digit = _mm_cmplt_epi8(
		_mm_add_epi8(x, _mm_set1_epi8((char)(0x80 - '0'))),
		_mm_set1_epi8((char)(0x80 + 10)));
	__m128i other = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('-')),
				     _mm_cmpeq_epi8(x, _mm_set1_epi8('.')));

	digits = (unsigned)_mm_movemask_epi8(digit);
	stops = ~(unsigned)_mm_movemask_epi8(
		_mm_or_si128(_mm_or_si128(alpha, digit), other));
	/* the first byte that is not one of those, or n */
	k = (unsigned)__builtin_ctz(stops & all ? stops & all : 1u << n);
	if (k < n) {
		/* ':' and one to five digits, or ':' alone (port -1) */
		d = n - k - 1;
		if (a[k] != ':' || d > 5 ||
		    (digits >> (k + 1) & ((1u << d) - 1)) != (1u << d) - 1)
			return -1;
		if (d) {
			v = 0;
			for (unsigned i = k + 1; i < n; i++)
				v = v * 10 + (a[i] - '0');
			if (v > 65535)
				return -1;
		}
	}
	*port = v;
	*host = a;
	*host_len = k;
	return 0;
}
#endif

/* Any authority (the usual ones have been tried). Out of line, so that
   the usual ones do not pay for its registers. */
static __attribute__((noinline)) int
split_authority(const char *a, size_t len, const char **host,
		size_t *host_len, int *port)
{
	const char *end = a + len, *h, *he, *p;
	const char *at;
	long v = 0;

	at = len ? memrchr(a, '@', len) : NULL;
	h = at ? at + 1 : a;
	if (h < end && *h == '[') {
		/* IP-literal: IPv6 (with an optional zone) or IPvFuture. */
		int colon = 0;
		he = ++h;
		while (he < end && *he != ']') {
			if (*he == ':')
				colon = 1;
			else if (!regname[(unsigned char)*he])
				return -1;
			he++;
		}
		if (he == end || he == h || !colon)
			return -1;
		p = he + 1;
	} else {
		he = skip_regname(h, end);
		p = he;
	}

	*port = -1;
	if (p < end) {
		if (*p != ':' || end - p - 1 > 5)
			return -1;
		/* "host:" has an empty port, which means the default. */
		if (end - p > 1) {
			for (p++; p < end; p++) {
				if (*p < '0' || *p > '9')
					return -1;
				v = v * 10 + (*p - '0');
			}
			if (v > 65535)
				return -1;
			*port = (int)v;
		}
	}
	*host = h;
	*host_len = (size_t)(he - h);
	return 0;
}

int url_split_authority(const char *a, size_t len, const char **host,
			size_t *host_len, int *port)
{
#ifdef __SSE2__
	if (len >= 8 && len <= 16 &&
	    usual_authority16(a, len, host, host_len, port) == 0)
		return 0;
#endif
	if (usual_authority(a, a + len, host, host_len, port) == 0)
		return 0;
	return split_authority(a, len, host, host_len, port);
}
