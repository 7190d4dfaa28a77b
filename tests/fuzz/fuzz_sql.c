/*
 * fuzz_sql.c - libFuzzer target for query sanitising and summaries
 * (shim/sql.h).
 *
 *     scripts/fuzz sql 60
 *
 * (builds it with clang through Meson and runs it on a copy of
 * tests/fuzz/corpus/sql; see tests/fuzz/README). The first byte picks the
 * dialect (odd: MySQL), the rest is the query.
 *
 * Besides crashes and sanitizer reports, it traps on broken contracts: a
 * result longer than the buffer or not NUL-terminated, a summary over 255
 * bytes, a sanitised text that still holds a quoted literal (the query's
 * first '...' string, when it is six or more letters and digits, occurs
 * nowhere else, and nothing before it can open an identifier, comment or
 * other quoting), and output that depends on bytes after len.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The query's first '...' literal when it is plainly one: before it only
 * words, numbers, spaces and operators (no other quote, no comment, no
 * parameter or dollar sign), inside six or more letters and digits, and
 * the same text nowhere else. Returns its length (0: none), *lit its text.
 */
static size_t plain_literal(const char *q, size_t n, const char **lit)
{
	const char *quote = memchr(q, '\'', n);
	size_t l = 0;

	if (!quote)
		return 0;
	for (const char *p = q; p < quote; p++) {
		unsigned char c = (unsigned char)*p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == ' ' || c == '_' ||
			 c == ',' || c == '=' || c == '(' || c == ')' ||
			 c == '<' || c == '>' || c == '*' || c == '.';
		if (!ok)
			return 0;
	}
	const char *v = quote + 1, *end = q + n;
	while (v + l < end && ((v[l] >= 'a' && v[l] <= 'z') ||
			       (v[l] >= 'A' && v[l] <= 'Z') ||
			       (v[l] >= '0' && v[l] <= '9')))
		l++;
	if (l < 6 || v + l >= end || v[l] != '\'')
		return 0;
	/* nowhere else: before the quote, or after the literal */
	if (memmem(q, (size_t)(quote - q), v, l) ||
	    memmem(v + l, (size_t)(end - v - l), v, l))
		return 0;
	*lit = v;
	return l;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[512], out2[512], small[7];
	char *copy;

	if (size < 1)
		return 0;
	enum sql_dialect d = data[0] & 1 ? SQL_MYSQL : SQL_POSTGRESQL;
	const char *q = (const char *)data + 1;
	size_t n = size - 1;

	size_t l = sql_sanitize(q, n, d, out, sizeof(out));
	CHECK(l < sizeof(out) && out[l] == '\0');
	const char *lit;
	size_t ll = plain_literal(q, n, &lit);
	if (ll)
		CHECK(!memmem(out, l, lit, ll));
	l = sql_sanitize(q, n, d, small, sizeof(small));
	CHECK(l < sizeof(small) && small[l] == '\0');
	l = sql_summarize(q, n, d, out, sizeof(out));
	CHECK(l <= 255 && out[l] == '\0');
	l = sql_summarize(q, n, d, small, sizeof(small));
	CHECK(l < sizeof(small) && small[l] == '\0');

	/* the same bytes followed by garbage, read with the same len: same
	   results (nothing past len is read) */
	copy = malloc(n + 16);
	if (!copy)
		return 0;
	memcpy(copy, q, n);
	memset(copy + n, '\'', 16);
	sql_sanitize(q, n, d, out, sizeof(out));
	sql_sanitize(copy, n, d, out2, sizeof(out2));
	CHECK(strcmp(out, out2) == 0);
	sql_summarize(q, n, d, out, sizeof(out));
	sql_summarize(copy, n, d, out2, sizeof(out2));
	CHECK(strcmp(out, out2) == 0);
	free(copy);
	return 0;
}
