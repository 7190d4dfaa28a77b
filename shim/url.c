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

/* A query (no '?', no fragment) with the values of secret keys replaced. */
static void put_query(struct out *o, const char *q, size_t n)
{
	const char *p = q, *end = q + n;

	for (;;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(pe - p));

		if (eq && is_sensitive(p, (size_t)(eq - p))) {
			put(o, p, (size_t)(eq + 1 - p));
			put(o, REDACTED_VALUE, sizeof(REDACTED_VALUE) - 1);
		} else {
			put(o, p, (size_t)(pe - p));
		}
		if (!amp)
			return;
		put(o, "&", 1);
		p = amp + 1;
	}
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

/* Path, query (redacted) and fragment of an origin-form-like target. */
static void put_path_query(struct out *o, const char *t, size_t n)
{
	const char *end = t + n;
	const char *hash = memchr(t, '#', n);
	const char *qend = hash ? hash : end;
	const char *q = memchr(t, '?', (size_t)(qend - t));

	if (!q) {
		put(o, t, n);
		return;
	}
	put(o, t, (size_t)(q + 1 - t));
	put_query(o, q + 1, (size_t)(qend - q - 1));
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

/* The bytes that end an authority. */
static const unsigned char authority_stop[256] = {
	['/'] = 1, ['?'] = 1, ['#'] = 1,
};

/* End of the authority that starts at a: the first '/', '?' or '#'. */
static const char *authority_end(const char *a, const char *end)
{
	while (end - a >= 4) {
		if (authority_stop[(unsigned char)a[0]])
			return a;
		if (authority_stop[(unsigned char)a[1]])
			return a + 1;
		if (authority_stop[(unsigned char)a[2]])
			return a + 2;
		if (authority_stop[(unsigned char)a[3]])
			return a + 3;
		a += 4;
	}
	while (a < end && !authority_stop[(unsigned char)*a])
		a++;
	return a;
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
		const char *ae = authority_end(target + s, end);

		put(&o, target, s);
		put_authority(&o, target + s, (size_t)(ae - target - s));
		put_path_query(&o, ae, (size_t)(end - ae));
		return finish(&o);
	}

	if (!scheme)
		scheme = "http";
	put(&o, scheme, strlen(scheme));
	put(&o, "://", 3);
	if (target_len && target[0] != '/' &&
	    !(target_len == 1 && target[0] == '*')) {
		/* authority-form (CONNECT): the target names the server. A
		   malformed one with a path or query gets them redacted like
		   any other. */
		const char *end = target + target_len;
		const char *ae = authority_end(target, end);
		put_authority(&o, target, (size_t)(ae - target));
		if (ae < end)
			put_path_query(&o, ae, (size_t)(end - ae));
		return finish(&o);
	}
	if (host_len)
		/* a Host with a '/', '?' or '#' in it is cut there: the rest
		   must not become an unredacted path or query */
		put_authority(&o, host,
			      (size_t)(authority_end(host, host + host_len) -
				       host));
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
	const char *hash, *qend, *q, *pe;
	size_t pl, ql;

	if (s) {
		t = authority_end(t + s, end);
	} else if (target_len && t[0] != '/' &&
		   !(target_len == 1 && t[0] == '*')) {
		t = end;	/* authority-form: no path, no query */
	}
	hash = memchr(t, '#', (size_t)(end - t));
	qend = hash ? hash : end;
	q = memchr(t, '?', (size_t)(qend - t));
	pe = q ? q : qend;

	/* An absolute URL with an empty path means "/" (RFC 9112 3.2.1). */
	if (s && pe == t)
		put(&po, "/", 1);
	else
		put(&po, t, (size_t)(pe - t));
	if (q)
		put_query(&qo, q + 1, (size_t)(qend - q - 1));
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

int url_split_authority(const char *a, size_t len, const char **host,
			size_t *host_len, int *port)
{
	const char *end = a + len, *h, *he, *p;
	const char *at = len ? memrchr(a, '@', len) : NULL;
	long v = 0;

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
		he = h;
		while (end - he >= 4 && regname[(unsigned char)he[0]] &&
		       regname[(unsigned char)he[1]] &&
		       regname[(unsigned char)he[2]] &&
		       regname[(unsigned char)he[3]])
			he += 4;
		while (he < end && regname[(unsigned char)*he])
			he++;
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
