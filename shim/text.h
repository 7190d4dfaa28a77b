/*
 * text.h - short strings built without printf: span names ("SELECT
 * orders", "PREPARE ..."), authorities ("127.0.0.1:5432") and error codes
 * made on the program's thread, where printf's locale, stdio machinery and
 * cost have no place (STYLE.md: no formatting on the hot path).
 *
 * A struct text writes into a caller's buffer of cap > 0 bytes, always
 * NUL-terminated; what does not fit is cut, as snprintf would cut it, and
 * text.cut says so.
 */
#ifndef OTELSHIM_TEXT_H
#define OTELSHIM_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct text {
	char *p;
	size_t len, cap;
	int cut;
};

static inline void text_init(struct text *t, char *buf, size_t cap)
{
	t->p = buf;
	t->len = 0;
	t->cap = cap;
	t->cut = 0;
	buf[0] = '\0';
}

static inline void text_put(struct text *t, const char *s, size_t n)
{
	size_t room = t->cap - 1 - t->len;

	if (n > room) {
		n = room;
		t->cut = 1;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

/* A NUL-terminated string; NULL adds nothing. */
static inline void text_str(struct text *t, const char *s)
{
	if (s)
		text_put(t, s, strlen(s));
}

static inline void text_uint(struct text *t, uint64_t v)
{
	char d[20];
	size_t i = sizeof(d);

	do
		d[--i] = (char)('0' + v % 10);
	while (v /= 10);
	text_put(t, d + i, sizeof(d) - i);
}

#endif
