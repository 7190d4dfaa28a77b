/*
 * copy.h - copy_short(): memcpy for the short strings a span is made of
 * (methods, addresses, ports, attribute keys). Up to 32 bytes go as two
 * overlapping blocks, which read and write exactly the bytes memcpy would,
 * without the call; only longer ones pay for it. Header-only, for the
 * exporter and the shim alike.
 */
#ifndef OTELSHIM_COPY_H
#define OTELSHIM_COPY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Unaligned loads of 8 and 4 bytes (the parsers' word-at-a-time scans). */
static inline uint64_t copy_load64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static inline uint32_t copy_load32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static inline void copy_short(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	uint64_t a, b;
	uint32_t c, e;

	if (n > 32) {
		memcpy(d, s, n);
	} else if (n > 16) {
		uint8_t x[16], y[16];
		memcpy(x, s, 16);
		memcpy(y, s + n - 16, 16);
		memcpy(d, x, 16);
		memcpy(d + n - 16, y, 16);
	} else if (n >= 8) {
		memcpy(&a, s, 8);
		memcpy(&b, s + n - 8, 8);
		memcpy(d, &a, 8);
		memcpy(d + n - 8, &b, 8);
	} else if (n >= 4) {
		memcpy(&c, s, 4);
		memcpy(&e, s + n - 4, 4);
		memcpy(d, &c, 4);
		memcpy(d + n - 4, &e, 4);
	} else {
		for (size_t i = 0; i < n; i++)
			d[i] = s[i];
	}
}

#endif
