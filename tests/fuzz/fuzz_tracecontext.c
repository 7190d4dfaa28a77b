/*
 * fuzz_tracecontext.c - libFuzzer target for the trace-context headers
 * (shim/tracecontext.h): traceparent, tracestate, B3 single and multi,
 * and their formatters.
 *
 * Input: the first byte chooses the tracestate capacity and which B3 multi
 * headers are present; the rest is the header value. For tracestate and B3
 * multi the rest is cut at '\n' into header fields.
 *
 * Besides crashes and sanitizer reports, it traps on broken contracts, each
 * checked against a small matcher written here from SPEC.md 6.2, 6.3 and
 * 6.6 (not from the parser):
 *   - a value is accepted exactly when the grammar says it is valid, with
 *     the ids and flags it spells;
 *   - a parsed traceparent of version 00 with flags 00..03 formats back to
 *     the same bytes; any parsed one formats to a traceparent that parses
 *     to the same ids; an uppercase spelling of a valid one is invalid;
 *   - B3 formats back to a value that parses to the same context;
 *   - tracestate: the combined list is what the rules give (invalid member
 *     or more than 32: dropped; too long: members over 128 characters go
 *     first, from the right, then members from the right), fits the
 *     capacity, is NUL-terminated, and parses to itself.
 *
 *     scripts/fuzz tracecontext 60
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tracecontext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the oracle ---------------------------------------------------------- */

static int is_lchex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int all_lchex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_lchex((unsigned char)s[i]))
			return 0;
	return 1;
}

static int hexdigit(int c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* n hex digits (known valid) to n/2 bytes */
static void to_bytes(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n / 2; i++)
		out[i] = (uint8_t)(hexdigit(s[2 * i]) << 4 |
				   hexdigit(s[2 * i + 1]));
}

static int zeros(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != '0')
			return 0;
	return 1;
}

static void trim_ows(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t'))
		(*s)++, (*n)--;
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* SPEC.md 6.2. Returns 1 and fills *tc when v is a valid traceparent. */
static int tp_oracle(const char *v, size_t n, struct tracecontext *tc)
{
	trim_ows(&v, &n);
	if (n < 55 || !all_lchex(v, 2) || !memcmp(v, "ff", 2))
		return 0;
	if (v[2] != '-' || v[35] != '-' || v[52] != '-')
		return 0;
	if (!all_lchex(v + 3, 32) || !all_lchex(v + 36, 16) ||
	    !all_lchex(v + 53, 2))
		return 0;
	if (zeros(v + 3, 32) || zeros(v + 36, 16))
		return 0;
	if (!memcmp(v, "00", 2) ? n != 55 : n > 55 && v[55] != '-')
		return 0;
	to_bytes(v + 3, 32, tc->trace_id);
	to_bytes(v + 36, 16, tc->span_id);
	to_bytes(v + 53, 2, &tc->flags);
	return 1;
}

/* A B3 trace id of 32 or 16 hex digits (the latter left-padded). */
static int b3_tid(const char *s, size_t n, uint8_t out[16])
{
	if ((n != 32 && n != 16) || !all_lchex(s, n))
		return 0;
	memset(out, 0, 16);
	to_bytes(s, n, out + 16 - n / 2);
	return 1;
}

static int nonzero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 1;
	return 0;
}

/* SPEC.md 6.6, single header: trace-span[-state[-parent]]. */
static int b3_oracle(const char *v, size_t n, struct tracecontext *tc)
{
	const char *dash;

	trim_ows(&v, &n);
	dash = memchr(v, '-', n);
	if (!dash || !b3_tid(v, (size_t)(dash - v), tc->trace_id))
		return 0;
	n -= (size_t)(dash - v) + 1;
	v = dash + 1;
	if (n < 16 || !all_lchex(v, 16))
		return 0;
	to_bytes(v, 16, tc->span_id);
	v += 16;
	n -= 16;
	tc->flags = 1;
	if (n) {
		if (n < 2 || v[0] != '-' ||
		    (v[1] != '1' && v[1] != '0' && v[1] != 'd'))
			return 0;
		tc->flags = v[1] != '0';
		v += 2;
		n -= 2;
		if (n && (n != 17 || v[0] != '-' || !all_lchex(v + 1, 16)))
			return 0;
	}
	return nonzero(tc->trace_id, 16) && nonzero(tc->span_id, 8);
}

static int eq(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && !memcmp(s, lit, n);
}

/* SPEC.md 6.6, multi: X-B3-TraceId, SpanId, Sampled, Flags. */
static int b3multi_oracle(const char *t, size_t tl, const char *s, size_t sl,
			  const char *smp, size_t smpl, const char *fl,
			  size_t fll, struct tracecontext *tc)
{
	trim_ows(&t, &tl);
	trim_ows(&s, &sl);
	if (!b3_tid(t, tl, tc->trace_id) || sl != 16 || !all_lchex(s, 16))
		return 0;
	to_bytes(s, 16, tc->span_id);
	if (!nonzero(tc->trace_id, 16) || !nonzero(tc->span_id, 8))
		return 0;
	tc->flags = 1;
	if (fl) {
		trim_ows(&fl, &fll);
		if (eq(fl, fll, "1"))
			return 1;	/* debug: sampled, Sampled ignored */
	}
	if (smp) {
		trim_ows(&smp, &smpl);
		if (eq(smp, smpl, "0") || eq(smp, smpl, "false"))
			tc->flags = 0;
		else if (!eq(smp, smpl, "1") && !eq(smp, smpl, "true"))
			return 0;
	}
	return 1;
}

/* SPEC.md 6.3, Level 2: key "=" value. */
static int ts_member_valid(const char *m, size_t n)
{
	const char *eq_ = memchr(m, '=', n);

	if (!eq_)
		return 0;
	size_t kl = (size_t)(eq_ - m), vl = n - kl - 1;
	if (kl < 1 || kl > 256 || vl < 1 || vl > 256)
		return 0;
	for (size_t i = 0; i < kl; i++) {
		int c = (unsigned char)m[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (i && !ok)
			ok = c == '_' || c == '-' || c == '*' || c == '/' ||
			     c == '@';
		if (!ok)
			return 0;
	}
	for (size_t i = 0; i < vl; i++) {
		int c = (unsigned char)eq_[1 + i];
		if (c < 0x20 || c > 0x7e || c == ',' || c == '=')
			return 0;
	}
	return eq_[vl] != ' ';
}

struct mem {
	const char *p;
	size_t len;
};

/*
 * The combined tracestate per the rules, into out; returns its length or
 * -1. Members are split over all fields in order.
 */
static long ts_oracle(const struct tracecontext_field *f, int nf, char *out,
		      size_t cap)
{
	struct mem m[40];
	int n = 0;
	size_t total = 0;

	for (int i = 0; i < nf; i++) {
		const char *p = f[i].p, *end = f[i].p + f[i].len;
		for (;;) {
			const char *c = memchr(p, ',', (size_t)(end - p));
			const char *s = p;
			size_t l = (size_t)((c ? c : end) - p);
			trim_ows(&s, &l);
			if (l) {
				if (n == 32 || !ts_member_valid(s, l))
					return -1;
				m[n].p = s;
				m[n].len = l;
				n++;
			}
			if (!c)
				break;
			p = c + 1;
		}
	}
	for (int i = 0; i < n; i++)
		total += m[i].len + (i > 0);
	/* too long: members over 128 first (rightmost first), then from the
	   right; the result plus its NUL must fit cap */
	for (int i = n - 1; i >= 0 && total + 1 > cap; i--) {
		if (m[i].len <= 128)
			continue;
		total -= m[i].len + (n > 1);
		memmove(&m[i], &m[i + 1], (size_t)(n - i - 1) * sizeof(m[0]));
		n--;
	}
	while (n > 0 && total + 1 > cap) {
		total -= m[n - 1].len + (n > 1);
		n--;
	}
	size_t k = 0;
	for (int i = 0; i < n; i++) {
		if (i)
			out[k++] = ',';
		memcpy(out + k, m[i].p, m[i].len);
		k += m[i].len;
	}
	return (long)k;
}

/* ---- the checks ---------------------------------------------------------- */

static int same(const struct tracecontext *a, const struct tracecontext *b)
{
	return !memcmp(a->trace_id, b->trace_id, 16) &&
	       !memcmp(a->span_id, b->span_id, 8) && a->flags == b->flags;
}

static void check_traceparent(const char *v, size_t n)
{
	struct tracecontext tc, want, back;
	char out[TRACEPARENT_LEN + 1];
	int r = tracecontext_parse_traceparent(v, n, &tc);
	int valid = tp_oracle(v, n, &want);

	CHECK(r == 0 || r == -1);
	CHECK((r == 0) == valid);
	if (r < 0)
		return;
	CHECK(same(&tc, &want));

	/* formatted: version 00, flags limited to sampled and random */
	tracecontext_format_traceparent(tc.trace_id, tc.span_id, tc.flags, out);
	CHECK(strlen(out) == TRACEPARENT_LEN);
	CHECK(tracecontext_parse_traceparent(out, TRACEPARENT_LEN, &back) == 0);
	CHECK(!memcmp(back.trace_id, tc.trace_id, 16) &&
	      !memcmp(back.span_id, tc.span_id, 8) &&
	      back.flags == (tc.flags & 3));

	/* the identical bytes when there was nothing to change */
	const char *t = v;
	size_t tl = n;
	trim_ows(&t, &tl);
	if (!memcmp(t, "00", 2) && tc.flags <= 3)
		CHECK(tl == TRACEPARENT_LEN && !memcmp(out, t, tl));

	/* uppercase hex is invalid */
	char up[TRACEPARENT_LEN + 1];
	int changed = 0;
	memcpy(up, out, sizeof(up));
	for (int i = 0; i < TRACEPARENT_LEN; i++)
		if (up[i] >= 'a' && up[i] <= 'f') {
			up[i] = (char)(up[i] - 'a' + 'A');
			changed = 1;
			break;
		}
	if (changed)
		CHECK(tracecontext_parse_traceparent(up, TRACEPARENT_LEN,
						     &back) == -1);
}

static void check_b3(const char *v, size_t n)
{
	struct tracecontext tc, want, back;
	char out[64];
	int r = tracecontext_parse_b3(v, n, &tc);
	int valid = b3_oracle(v, n, &want);

	CHECK(r == 0 || r == -1);
	CHECK((r == 0) == valid);
	if (r < 0)
		return;
	CHECK(same(&tc, &want));
	memset(out, 'x', sizeof(out));
	size_t l = tracecontext_format_b3(tc.trace_id, tc.span_id,
					  tc.flags & 1, out);
	CHECK(l == 51 && out[l] == '\0' && out[l + 1] == 'x');
	CHECK(tracecontext_parse_b3(out, l, &back) == 0 && same(&back, &tc));
	/* and the same context through B3 multi */
	CHECK(tracecontext_parse_b3multi(out, 32, out + 33, 16, out + 50, 1,
					 NULL, 0, &back) == 0 &&
	      same(&back, &tc));
}

static void check_b3multi(const char *const *p, const size_t *l, int np,
			  unsigned which)
{
	struct tracecontext tc, want;
	const char *smp = (which & 1) && np > 2 ? p[2] : NULL;
	const char *fl = (which & 2) && np > 3 ? p[3] : NULL;
	size_t smpl = smp ? l[2] : 0, fll = fl ? l[3] : 0;
	const char *t = np > 0 ? p[0] : NULL, *s = np > 1 ? p[1] : NULL;
	size_t tl = t ? l[0] : 0, sl = s ? l[1] : 0;

	int r = tracecontext_parse_b3multi(t, tl, s, sl, smp, smpl, fl, fll,
					   &tc);
	CHECK(r == 0 || r == -1);
	int valid = t && s &&
		    b3multi_oracle(t, tl, s, sl, smp, smpl, fl, fll, &want);
	CHECK((r == 0) == valid);
	if (r == 0)
		CHECK(same(&tc, &want));
}

static void check_tracestate(const char *const *p, const size_t *l, int np,
			     size_t cap)
{
	struct tracecontext_field f[8];
	char *out = malloc(cap + 1), want[8192], again[1024];
	int r;

	if (!out)
		return;
	for (int i = 0; i < np; i++) {
		f[i].p = p[i];
		f[i].len = l[i];
	}
	/* a canary after cap bytes: nothing is written there */
	out[cap] = '#';
	r = tracecontext_parse_tracestate(f, np, out, cap);
	CHECK(out[cap] == '#');
	long w = ts_oracle(f, np, want, cap);
	CHECK(r == (int)w);
	if (r >= 0 && cap) {
		CHECK((size_t)r < cap && out[r] == '\0');
		CHECK(!memcmp(out, want, (size_t)r));
		/* a combined list parses to itself */
		struct tracecontext_field g = {out, (size_t)r};
		int r2 = tracecontext_parse_tracestate(&g, 1, again,
						       sizeof(again));
		CHECK(r2 == r && !memcmp(again, out, (size_t)r));
	}
	if (r >= 0 && !cap)
		CHECK(r == 0);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[] = {0, 1, 2, 40, 129, 200, 256, 512, 1000};
	const char *parts[8];
	size_t lens[8];
	int np = 0;

	if (size < 1)
		return 0;
	unsigned sel = data[0];
	const char *v = (const char *)data + 1;
	size_t n = size - 1;

	check_traceparent(v, n);
	check_b3(v, n);

	/* fields: the rest cut at '\n' (at most 8; the last takes the rest) */
	const char *p = v, *end = v + n;
	while (np < 8) {
		const char *nl = np < 7 ? memchr(p, '\n', (size_t)(end - p))
					: NULL;
		parts[np] = p;
		lens[np] = (size_t)((nl ? nl : end) - p);
		np++;
		if (!nl)
			break;
		p = nl + 1;
	}
	check_b3multi(parts, lens, np, sel & 3);
	check_tracestate(parts, lens, np, caps[(sel >> 2) % 9]);
	return 0;
}
