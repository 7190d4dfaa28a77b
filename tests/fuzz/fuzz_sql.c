/*
 * fuzz_sql.c - libFuzzer target for query sanitising and summaries
 * (shim/sql.h).
 *
 * Not built by Meson. From the top of the tree:
 *
 *   clang -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *         -fno-sanitize-recover=undefined -Ishim \
 *         tests/fuzz/fuzz_sql.c shim/sql.c -o fuzz_sql
 *   mkdir -p tests/fuzz/corpus-work-sql && ./fuzz_sql -max_total_time=60 \
 *         tests/fuzz/corpus-work-sql tests/fuzz/corpus/sql
 *
 * Besides crashes and sanitizer reports, it traps on broken contracts: a
 * result longer than the buffer or not NUL-terminated, a summary over 255
 * bytes, a sanitised text that still holds a byte of a quoted literal (the
 * input's first '...' string, when it has one and it is long enough to
 * recognise), and output that depends on bytes after len.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                  \
	do {                      \
		if (!(x))         \
			abort();  \
	} while (0)

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
