/*
 * fuzz_resource.c - libFuzzer target for OTEL_RESOURCE_ATTRIBUTES parsing
 * (exporter/resource.h, resource_parse_attributes).
 *
 * Input: the first byte says how many attributes the resource already has
 * (modulo RESOURCE_MAX_ATTRS + 1; keys "p0", "p1", ..., so that the input
 * can replace them), the rest is the variable's value (up to a NUL, as in
 * the environment).
 *
 * Besides crashes and sanitizer reports, it traps on broken contracts,
 * against a decoder written here from SPEC.md 1.3 (split on ',', blank
 * members ignored, split at the first '=', spaces and tabs trimmed,
 * percent-decoded; any error discards the whole value):
 *   - a malformed value returns -1 and leaves the resource untouched;
 *   - otherwise the resource holds exactly the old attributes with the
 *     members set over them (a later member replaces an earlier one), and
 *     the return value is the number of attributes appended;
 *   - keys are non-empty, unique and NUL-terminated; n never exceeds
 *     RESOURCE_MAX_ATTRS.
 *
 *     scripts/fuzz resource 60
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "resource.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexv(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Trim, percent-decode into dst (cap with the NUL); 0 or -1. */
static int decode(char *dst, size_t cap, const char *s, size_t n)
{
	size_t o = 0;

	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			if (n - i < 3)
				return -1;
			int hi = hexv((unsigned char)s[i + 1]);
			int lo = hexv((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		}
		if (o + 1 >= cap)
			return -1;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return 0;
}

static struct resource_attr *find(struct resource *r, const char *key)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->attrs[i].key, key))
			return &r->attrs[i];
	return NULL;
}

/*
 * The members of s, as the distinct keys they set (last value wins), into
 * *m; -1 when s is malformed. At most RESOURCE_MAX_ATTRS distinct keys: a
 * member beyond that is an error.
 */
static int members(struct resource *m, const char *s)
{
	m->n = 0;
	for (;;) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		size_t b = 0;
		while (b < len && (s[b] == ' ' || s[b] == '\t'))
			b++;
		if (b < len) {
			const char *eq = memchr(s, '=', len);
			struct resource_attr a;
			if (!eq ||
			    decode(a.key, sizeof(a.key), s,
				   (size_t)(eq - s)) < 0 ||
			    !a.key[0] ||
			    decode(a.str, sizeof(a.str), eq + 1,
				   len - (size_t)(eq + 1 - s)) < 0 ||
			    m->n >= RESOURCE_MAX_ATTRS)
				return -1;
			struct resource_attr *d = find(m, a.key);
			if (!d)
				d = &m->attrs[m->n++];
			*d = a;
		}
		if (!end)
			return 0;
		s = end + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct resource res, before, want, m;
	char *s;

	if (size < 1)
		return 0;
	memset(&res, 0, sizeof(res));
	res.n = data[0] % (RESOURCE_MAX_ATTRS + 1);
	for (size_t i = 0; i < res.n; i++) {
		snprintf(res.attrs[i].key, sizeof(res.attrs[i].key), "p%zu", i);
		snprintf(res.attrs[i].str, sizeof(res.attrs[i].str), "old");
	}
	before = res;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';

	int r = resource_parse_attributes(&res, s);
	int ok = members(&m, s) == 0;

	CHECK(r >= -1);
	CHECK((r >= 0) == ok);
	if (r < 0) {
		CHECK(!memcmp(&res, &before, sizeof(res)));
	} else {
		/* the old attributes, then the new keys in order */
		want = before;
		for (size_t i = 0; i < m.n; i++) {
			struct resource_attr *d = find(&want, m.attrs[i].key);
			if (!d) {
				if (want.n == RESOURCE_MAX_ATTRS)
					continue;
				d = &want.attrs[want.n++];
			}
			memcpy(d->key, m.attrs[i].key, sizeof(d->key));
			memcpy(d->str, m.attrs[i].str, sizeof(d->str));
			d->is_int = 0;
			d->i = 0;
		}
		CHECK(res.n == want.n);
		CHECK((size_t)r == res.n - before.n);
		for (size_t i = 0; i < res.n; i++) {
			CHECK(!strcmp(res.attrs[i].key, want.attrs[i].key));
			CHECK(!strcmp(res.attrs[i].str, want.attrs[i].str));
			CHECK(!res.attrs[i].is_int);
		}
	}
	CHECK(res.n <= RESOURCE_MAX_ATTRS);
	for (size_t i = 0; i < res.n; i++) {
		CHECK(memchr(res.attrs[i].key, '\0', sizeof(res.attrs[i].key)));
		CHECK(memchr(res.attrs[i].str, '\0', sizeof(res.attrs[i].str)));
		CHECK(res.attrs[i].key[0]);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(res.attrs[i].key, res.attrs[j].key));
	}
	free(s);
	return 0;
}
