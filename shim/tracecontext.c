/*
 * tracecontext.c - W3C Trace Context and B3 headers (see tracecontext.h).
 *
 * The rules are SPEC.md 6.2 (traceparent), 6.3 (tracestate, Level 2 key
 * grammar) and 6.6 (B3). Everything that does not match them exactly is
 * invalid: a participant that receives an invalid traceparent starts a new
 * trace, so being strict here is what makes a trace trustworthy.
 */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "tracecontext.h"

/* Lowercase hex digit values plus one; 0 for every other byte. */
static const uint8_t lchex1[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

#ifdef __SSE2__
/*
 * Sixteen lowercase hex digits into eight bytes with SSE2 (part of
 * x86-64); -1 if any of them is not one.
 */
static int unhex16(const char *s, uint8_t *out)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
	__m128i d = _mm_sub_epi8(x, _mm_set1_epi8('0'));
	__m128i a = _mm_sub_epi8(x, _mm_set1_epi8('a'));
	__m128i isd = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
	__m128i isa = _mm_cmpeq_epi8(_mm_min_epu8(a, _mm_set1_epi8(5)), a);

	if (_mm_movemask_epi8(_mm_or_si128(isd, isa)) != 0xffff)
		return -1;
	/* digit values; then each 16-bit lane (first digit in its low
	   byte) becomes first << 4 | second */
	__m128i v = _mm_or_si128(
		_mm_and_si128(isd, d),
		_mm_and_si128(isa, _mm_add_epi8(a, _mm_set1_epi8(10))));
	__m128i w = _mm_and_si128(
		_mm_or_si128(_mm_slli_epi16(v, 4), _mm_srli_epi16(v, 8)),
		_mm_set1_epi16(0x00ff));
	_mm_storel_epi64((__m128i *)(void *)out, _mm_packus_epi16(w, w));
	return 0;
}
#endif

/*
 * n lowercase hex digits into n/2 bytes; -1 on any other character.
 * Sixteen at a time where they are; the rest are all decoded, then checked
 * once: an invalid digit decodes to a value with bits above the low four,
 * which a valid one never has. (On -1, out holds garbage: callers use it
 * only on success.)
 */
static int unhex(const char *s, size_t n, uint8_t *out)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned bad = 0;

#ifdef __SSE2__
	for (; n >= 16; n -= 16, u += 16, out += 8)
		if (unhex16((const char *)u, out) < 0)
			return -1;
#endif
	for (size_t i = 0; i < n; i += 2) {
		unsigned hi = lchex1[u[i]] - 1u, lo = lchex1[u[i + 1]] - 1u;
		bad |= hi | lo;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return bad > 15 ? -1 : 0;
}

/* Whether the n bytes (8 or 16) are all zero. */
static int all_zero(const uint8_t *b, size_t n)
{
	uint64_t acc = 0, w;

	for (size_t i = 0; i < n; i += 8) {
		memcpy(&w, b + i, 8);
		acc |= w;
	}
	return acc == 0;
}

static void trim(const char **v, size_t *len)
{
	const char *p = *v;
	size_t n = *len;

	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	*v = p;
	*len = n;
}

int tracecontext_parse_traceparent(const char *v, size_t len,
				   struct tracecontext *out)
{
	uint8_t version;

	trim(&v, &len);
	if (len < TRACEPARENT_LEN)
		return -1;
	if (unhex(v, 2, &version) < 0 || version == 0xff)
		return -1;
	if (v[2] != '-' || v[35] != '-' || v[52] != '-')
		return -1;
	if (version == 0 && len != TRACEPARENT_LEN)
		return -1;
	/* A future version: what follows the flags must start with "-". */
	if (len > TRACEPARENT_LEN && v[TRACEPARENT_LEN] != '-')
		return -1;
	if (unhex(v + 3, 32, out->trace_id) < 0 ||
	    unhex(v + 36, 16, out->span_id) < 0 ||
	    unhex(v + 53, 2, &out->flags) < 0)
		return -1;
	if (all_zero(out->trace_id, 16) || all_zero(out->span_id, 8))
		return -1;
	return 0;
}

/* ---- tracestate ------------------------------------------------------------- */

static int key_first(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int key_char(int c)
{
	return key_first(c) || c == '_' || c == '-' || c == '*' || c == '/' ||
	       c == '@';
}

/* chr = %x20 / nblk-chr; nblk-chr = printable ASCII except "," and "=" */
static int nblk_char(int c)
{
	return c >= 0x21 && c <= 0x7e && c != ',' && c != '=';
}

/*
 * Validate one list member m[0..n) (already trimmed, non-empty): a Level 2
 * key, "=", and a value of 1..256 characters not ending in a space.
 */
static int member_ok(const char *m, size_t n)
{
	const char *eq = memchr(m, '=', n);
	size_t kl, vl;

	if (!eq)
		return 0;
	kl = (size_t)(eq - m);
	vl = n - kl - 1;
	if (kl < 1 || kl > 256 || vl < 1 || vl > 256)
		return 0;
	if (!key_first((unsigned char)m[0]))
		return 0;
	for (size_t i = 1; i < kl; i++)
		if (!key_char((unsigned char)m[i]))
			return 0;
	const char *val = eq + 1;
	for (size_t i = 0; i < vl; i++) {
		int c = (unsigned char)val[i];
		if (!(c == ' ' || nblk_char(c)))
			return 0;
	}
	return val[vl - 1] != ' ';
}

struct member {
	const char *p;
	size_t len;
};

int tracecontext_parse_tracestate(const struct tracecontext_field *f, int n,
				  char *out, size_t cap)
{
	struct member m[32];
	int count = 0;
	size_t total = 0;

	for (int i = 0; i < n; i++) {
		const char *p = f[i].p;
		const char *end = p + f[i].len;
		while (p <= end) {
			const char *comma = memchr(p, ',', (size_t)(end - p));
			const char *stop = comma ? comma : end;
			const char *s = p;
			size_t len = (size_t)(stop - p);
			trim(&s, &len);
			if (len) {
				if (count == 32 || !member_ok(s, len))
					return -1;
				m[count].p = s;
				m[count].len = len;
				count++;
			}
			if (!comma)
				break;
			p = comma + 1;
		}
	}
	for (int i = 0; i < count; i++)
		total += m[i].len + (i ? 1 : 0);
	/* Over our limit: drop members longer than 128 from the right, then
	 * members from the right, whole ones only (SPEC.md 6.3). */
	for (int i = count - 1; i >= 0 && total >= cap; i--) {
		if (m[i].len > 128) {
			total -= m[i].len + (count > 1 ? 1 : 0);
			memmove(&m[i], &m[i + 1],
				(size_t)(count - i - 1) * sizeof(m[0]));
			count--;
		}
	}
	while (count > 0 && total >= cap) {
		total -= m[count - 1].len + (count > 1 ? 1 : 0);
		count--;
	}
	size_t k = 0;
	for (int i = 0; i < count; i++) {
		if (i)
			out[k++] = ',';
		memcpy(out + k, m[i].p, m[i].len);
		k += m[i].len;
	}
	if (cap)
		out[k] = '\0';
	return (int)k;
}

/* ---- formatting ------------------------------------------------------------- */

/* The two digits of every byte value, for one 2-byte copy per byte. */
static const char hex2[2 * 256 + 1] =
	"000102030405060708090a0b0c0d0e0f"
	"101112131415161718191a1b1c1d1e1f"
	"202122232425262728292a2b2c2d2e2f"
	"303132333435363738393a3b3c3d3e3f"
	"404142434445464748494a4b4c4d4e4f"
	"505152535455565758595a5b5c5d5e5f"
	"606162636465666768696a6b6c6d6e6f"
	"707172737475767778797a7b7c7d7e7f"
	"808182838485868788898a8b8c8d8e8f"
	"909192939495969798999a9b9c9d9e9f"
	"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
	"b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
	"c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
	"d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
	"e0e1e2e3e4e5e6e7e8e9eaebecedeeef"
	"f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

void tracecontext_hex(const uint8_t *b, size_t n, char *out)
{
#ifdef __SSE2__
	/* eight bytes at a time: nibbles interleaved, then to digits */
	for (; n >= 8; n -= 8, b += 8, out += 16) {
		__m128i x = _mm_loadl_epi64((const __m128i *)(const void *)b);
		__m128i f = _mm_set1_epi8(0x0f);
		__m128i nib = _mm_unpacklo_epi8(
			_mm_and_si128(_mm_srli_epi16(x, 4), f),
			_mm_and_si128(x, f));
		__m128i letter = _mm_cmpgt_epi8(nib, _mm_set1_epi8(9));
		__m128i digits = _mm_add_epi8(
			_mm_add_epi8(nib, _mm_set1_epi8('0')),
			_mm_and_si128(letter, _mm_set1_epi8('a' - '0' - 10)));
		_mm_storeu_si128((__m128i *)(void *)out, digits);
	}
#endif
	for (size_t i = 0; i < n; i++)
		memcpy(out + 2 * i, hex2 + 2 * b[i], 2);
}

void tracecontext_format_traceparent(const uint8_t trace_id[16],
				     const uint8_t span_id[8], uint8_t flags,
				     char out[TRACEPARENT_LEN + 1])
{
	uint8_t f = flags & 0x03;

	out[0] = '0';
	out[1] = '0';
	out[2] = '-';
	tracecontext_hex(trace_id, 16, out + 3);
	out[35] = '-';
	tracecontext_hex(span_id, 8, out + 36);
	out[52] = '-';
	tracecontext_hex(&f, 1, out + 53);
	out[55] = '\0';
}

/* ---- B3 ----------------------------------------------------------------------- */

/* A B3 trace id: 32 hex, or 16 hex left-padded with zeros. */
static int b3_trace_id(const char *s, size_t n, uint8_t out[16])
{
	if (n == 32)
		return unhex(s, 32, out);
	if (n == 16) {
		memset(out, 0, 8);
		return unhex(s, 16, out + 8);
	}
	return -1;
}

int tracecontext_parse_b3(const char *v, size_t len, struct tracecontext *out)
{
	const char *end, *dash;
	size_t tl;

	trim(&v, &len);
	end = v + len;
	dash = memchr(v, '-', len);
	if (!dash)
		return -1;	/* "0" alone (deny) carries no context */
	tl = (size_t)(dash - v);
	if (b3_trace_id(v, tl, out->trace_id) < 0)
		return -1;
	const char *s = dash + 1;
	if (end - s < 16 || unhex(s, 16, out->span_id) < 0)
		return -1;
	s += 16;
	out->flags = 0x01;	/* absent sampling state: defer, take as on */
	if (s < end) {
		if (*s != '-' || end - s < 2)
			return -1;
		s++;
		if (*s == '1' || *s == 'd')
			out->flags = 0x01;
		else if (*s == '0')
			out->flags = 0;
		else
			return -1;
		s++;
		if (s < end) {
			uint8_t parent[8];
			if (*s != '-' || end - s != 17 ||
			    unhex(s + 1, 16, parent) < 0)
				return -1;
		}
	}
	if (all_zero(out->trace_id, 16) || all_zero(out->span_id, 8))
		return -1;
	return 0;
}

int tracecontext_parse_b3multi(const char *trace, size_t trace_len,
			       const char *span, size_t span_len,
			       const char *sampled, size_t sampled_len,
			       const char *flags, size_t flags_len,
			       struct tracecontext *out)
{
	if (!trace || !span)
		return -1;
	trim(&trace, &trace_len);
	trim(&span, &span_len);
	if (b3_trace_id(trace, trace_len, out->trace_id) < 0 ||
	    span_len != 16 || unhex(span, 16, out->span_id) < 0)
		return -1;
	if (all_zero(out->trace_id, 16) || all_zero(out->span_id, 8))
		return -1;
	out->flags = 0x01;
	if (flags) {
		trim(&flags, &flags_len);
		if (flags_len == 1 && flags[0] == '1')
			return 0;	/* debug implies sampled */
	}
	if (sampled) {
		trim(&sampled, &sampled_len);
		if ((sampled_len == 1 && sampled[0] == '0') ||
		    (sampled_len == 5 && !memcmp(sampled, "false", 5)))
			out->flags = 0;
		else if (!((sampled_len == 1 && sampled[0] == '1') ||
			   (sampled_len == 4 && !memcmp(sampled, "true", 4))))
			return -1;
	}
	return 0;
}

size_t tracecontext_format_b3(const uint8_t trace_id[16],
			      const uint8_t span_id[8], int sampled,
			      char *out)
{
	tracecontext_hex(trace_id, 16, out);
	out[32] = '-';
	tracecontext_hex(span_id, 8, out + 33);
	out[49] = '-';
	out[50] = sampled ? '1' : '0';
	out[51] = '\0';
	return 51;
}
