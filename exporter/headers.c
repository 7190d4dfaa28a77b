/*
 * headers.c - OTEL_EXPORTER_OTLP_HEADERS: "key=value,..." (OWS trimmed,
 * percent-decoded, keys HTTP tokens, values without control bytes) turned
 * into the header lines of every export; a later member replaces an
 * earlier one of the same name, so the signal-specific list (appended
 * after the generic one) wins (SPEC.md 1.6). Pure: no allocation, no
 * logging (callers never echo the values: they are credentials).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "otlp_http.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decode and trim s[0..n) into out; -1 on a bad escape. */
static int decode(const char *s, size_t n, char *out, size_t cap,
		  size_t *out_len)
{
	size_t k = 0;

	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (k + 1 >= cap)
			return -1;
		out[k++] = (char)c;
	}
	out[k] = '\0';
	*out_len = k;
	return 0;
}

static int is_token(const char *s, size_t n)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || strchr("!#$%&'*+-.^_`|~", c)))
			return 0;
	}
	return 1;
}

static int field_value_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

/*
 * Remove the line of header key from the block out[0..*used): a later
 * member wins, so OTEL_EXPORTER_OTLP_TRACES_HEADERS (appended after the
 * generic list) overrides a generic key of the same name (SPEC.md 1.6).
 */
static void remove_header(char *out, size_t *used, const char *key, size_t kl)
{
	size_t i = 0;

	while (i < *used) {
		char *eol = memchr(out + i, '\n', *used - i);
		size_t line = eol ? (size_t)(eol - (out + i)) + 1 : *used - i;
		if (line > kl + 1 && out[i + kl] == ':' &&
		    strncasecmp(out + i, key, kl) == 0) {
			memmove(out + i, out + i + line, *used - i - line);
			*used -= line;
			out[*used] = '\0';
			continue;
		}
		i += line;
	}
}

int otlp_headers_build(char *out, size_t cap, const char *spec)
{
	size_t used = 0;
	const char *p = spec;

	out[0] = '\0';
	while (*p) {
		const char *end = p + strcspn(p, ",");
		const char *eq = memchr(p, '=', (size_t)(end - p));
		char key[256], val[4096];
		size_t kl, vl;

		if (end == p || strspn(p, " \t") == (size_t)(end - p)) {
			p = *end ? end + 1 : end;	/* empty member */
			continue;
		}
		if (!eq)
			return -1;
		if (decode(p, (size_t)(eq - p), key, sizeof(key), &kl) < 0 ||
		    decode(eq + 1, (size_t)(end - eq - 1), val, sizeof(val),
			   &vl) < 0)
			return -1;
		if (!is_token(key, kl) || !field_value_ok(val, vl))
			return -1;
		remove_header(out, &used, key, kl);
		int w = snprintf(out + used, cap - used, "%s: %s\r\n", key,
				 val);
		if (w < 0 || (size_t)w >= cap - used)
			return -1;
		used += (size_t)w;
		p = *end ? end + 1 : end;
	}
	return 0;
}

int exporter_headers_valid(const char *spec)
{
	char tmp[sizeof(((struct otlp_http *)0)->extra_headers)];

	return otlp_headers_build(tmp, sizeof(tmp), spec) == 0;
}
