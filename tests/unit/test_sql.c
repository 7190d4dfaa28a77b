/*
 * test_sql.c - query sanitising and summaries (shim/sql.h): literals of
 * every lexical form become '?', parameter markers and identifiers stay,
 * comments go; summaries list operations and tables in order.
 */
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "sql.h"

static const char *san(const char *q, enum sql_dialect d)
{
	static char out[1024];

	sql_sanitize(q, strlen(q), d, out, sizeof(out));
	return out;
}

static const char *sum(const char *q, enum sql_dialect d)
{
	static char out[256];

	sql_summarize(q, strlen(q), d, out, sizeof(out));
	return out;
}

#define PG SQL_POSTGRESQL
#define MY SQL_MYSQL

START_TEST(sanitize_literals)
{
	ck_assert_str_eq(san("SELECT * FROM orders WHERE id = 42", PG),
			 "SELECT * FROM orders WHERE id = ?");
	ck_assert_str_eq(san("SELECT * FROM t WHERE item = 'secret' AND qty > 5", PG),
			 "SELECT * FROM t WHERE item = ? AND qty > ?");
	ck_assert_str_eq(san("SELECT 'it''s', 1.5e-3, .5, 0xFF, -7", PG),
			 "SELECT ?, ?, ?, ?, -?");
	ck_assert_str_eq(san("SELECT E'a\\'b', 'c'", PG), "SELECT ?, ?");
	/* PostgreSQL: backslash is not an escape in a plain string */
	ck_assert_str_eq(san("SELECT 'a\\', x", PG), "SELECT ?, x");
	/* MySQL: it is, and "..." is a string */
	ck_assert_str_eq(san("SELECT 'a\\'b', \"pw\", `col`", MY),
			 "SELECT ?, ?, `col`");
	ck_assert_str_eq(san("SELECT \"Col\" FROM \"T\" WHERE x = TRUE", PG),
			 "SELECT \"Col\" FROM \"T\" WHERE x = ?");
	ck_assert_str_eq(san("SELECT $$secret$$, $tag$a $$ b$tag$, $1", PG),
			 "SELECT ?, ?, $1");
	ck_assert_str_eq(san("SELECT X'0A', B'101', N'n'", MY), "SELECT ?, ?, ?");
	ck_assert_str_eq(san("INSERT INTO t VALUES (?, ?, :name, %s)", MY),
			 "INSERT INTO t VALUES (?, ?, :name, %s)");
	ck_assert_str_eq(san("SELECT t1.c2 FROM t1", PG), "SELECT t1.c2 FROM t1");
	ck_assert_str_eq(san("SELECT x::int4 FROM t", PG), "SELECT x::int4 FROM t");
	ck_assert_str_eq(san("SELECT interval '1 day'", PG), "SELECT interval ?");
}
END_TEST

START_TEST(sanitize_comments_and_whitespace)
{
	ck_assert_str_eq(san("SELECT 1 -- pw=secret\nFROM t", PG),
			 "SELECT ? FROM t");
	ck_assert_str_eq(san("SELECT /* a /* nested */ 'b' */ 2", PG),
			 "SELECT ?");
	ck_assert_str_eq(san("SELECT /* a /* not nested */ 'b' */ 2", MY),
			 "SELECT ? */ ?");
	ck_assert_str_eq(san("SELECT 1 # mysql comment 'x'\n", MY), "SELECT ?");
	ck_assert_str_eq(san("  SELECT\t1\n", PG), "  SELECT\t?\n");
}
END_TEST

START_TEST(sanitize_unterminated_and_cut)
{
	char out[16];

	/* an unterminated literal is still hidden */
	ck_assert_str_eq(san("SELECT 'secret", PG), "SELECT ?");
	ck_assert_str_eq(san("SELECT $x$secret", PG), "SELECT ?");
	ck_assert_str_eq(san("SELECT /* open", PG), "SELECT");
	/* cut at a token boundary */
	sql_sanitize("SELECT abcdefgh FROM t", 22, PG, out, sizeof(out));
	ck_assert_str_eq(out, "SELECT abcdefgh");
	sql_sanitize("SELECT 'x'", 10, PG, out, 1);
	ck_assert_str_eq(out, "");
	/* not NUL-terminated input: only len bytes are read */
	ck_assert_str_eq((sql_sanitize("SELECT 12345", 9, PG, out, sizeof(out)),
			  out), "SELECT ?");
}
END_TEST

START_TEST(summaries)
{
	static const struct {
		const char *q, *want;
		enum sql_dialect d;
	} c[] = {
		{"SELECT * FROM orders WHERE id = 42", "SELECT orders", PG},
		{"select * from Orders o where o.id = 1", "select Orders", PG},
		{"SELECT * FROM songs s, artists a WHERE s.a = a.id",
		 "SELECT songs artists", PG},
		{"SELECT * FROM a JOIN b ON a.x = b.x LEFT JOIN c USING (y)",
		 "SELECT a b c", PG},
		{"INSERT INTO shipping_details SELECT * FROM orders",
		 "INSERT shipping_details SELECT orders", PG},
		{"INSERT INTO t (a, b) VALUES (1, 2)", "INSERT t", PG},
		{"UPDATE ONLY t SET a = 1", "UPDATE t", PG},
		{"DELETE FROM public.t WHERE x", "DELETE public.t", PG},
		{"SELECT * FROM \"My Table\"", "SELECT \"My Table\"", PG},
		{"SELECT * FROM `db`.`t`", "SELECT `db`.`t`", MY},
		{"SELECT * FROM (SELECT * FROM orders) o JOIN customers c ON 1",
		 "SELECT SELECT orders customers", PG},
		{"WITH x AS (SELECT * FROM orders) SELECT * FROM x",
		 "SELECT orders SELECT x", PG},
		{"SELECT 1; UPDATE t SET a = 2; DELETE FROM u",
		 "SELECT UPDATE t DELETE u", PG},
		{"CREATE TABLE IF NOT EXISTS t (id int)", "CREATE TABLE t", PG},
		{"CREATE OR REPLACE VIEW v AS SELECT * FROM t",
		 "CREATE VIEW v SELECT t", PG},
		{"DROP TABLE t", "DROP TABLE t", PG},
		{"TRUNCATE t", "TRUNCATE t", PG},
		{"BEGIN", "BEGIN", PG},
		{"COMMIT", "COMMIT", PG},
		{"SET search_path TO x", "SET", PG},
		{"SHOW TABLES", "SHOW", MY},
		{"USE shop", "USE", MY},
		{"SELECT * FROM t FOR UPDATE", "SELECT t", PG},
		{"INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = 2",
		 "INSERT t", MY},
		{"CREATE TABLE p (id int REFERENCES q ON DELETE CASCADE)",
		 "CREATE TABLE p", PG},
		{"SELECT * FROM generate_series(1, 3)", "SELECT", PG},
		{"/* hint */ SELECT -- c\n * FROM t", "SELECT t", PG},
		{"SELECT 'FROM x' FROM t", "SELECT t", PG},
		{"SELECT $q$ FROM x $q$ FROM t", "SELECT t", PG},
		{"REPLACE INTO t VALUES (1)", "REPLACE t", MY},
		{"CALL proc(1)", "CALL", PG},
		{"frobnicate the database", "", PG},
		{"", "", PG},
		{"42", "", PG},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		ck_assert_msg(!strcmp(sum(c[i].q, c[i].d), c[i].want),
			      "summary of [%s]: got [%s], want [%s]", c[i].q,
			      sum(c[i].q, c[i].d), c[i].want);
}
END_TEST

START_TEST(summary_bounded)
{
	char q[4096], out[256];
	size_t n = 0;

	n += (size_t)sprintf(q, "SELECT * FROM ");
	for (int i = 0; i < 200; i++)
		n += (size_t)sprintf(q + n, "%stable_number_%d", i ? ", " : "", i);
	size_t len = sql_summarize(q, n, PG, out, sizeof(out));
	ck_assert_uint_le(len, 255);
	ck_assert_uint_eq(strlen(out), len);
	/* whole tokens only */
	ck_assert(out[len - 1] >= '0' && out[len - 1] <= '9');
	ck_assert_ptr_nonnull(strstr(out, "SELECT table_number_0 table_number_1"));
	/* a tiny buffer */
	len = sql_summarize("SELECT * FROM orders", 20, PG, out, 8);
	ck_assert_str_eq(out, "SELECT");
	len = sql_summarize("SELECT * FROM orders", 20, PG, out, 3);
	ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(any_bytes)
{
	/* every byte value, split anywhere: never out of bounds (run under
	   ASan/valgrind), always NUL-terminated */
	char q[64], out[32];
	unsigned x = 12345;

	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(x % sizeof(q));
		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			static const char alphabet[] = "'\"`$-/*#\\eE0x.1 (),;FROMSELECTfrom";
			q[i] = (x >> 16) & 1 ? alphabet[(x >> 8) % (sizeof(alphabet) - 1)]
					     : (char)(x >> 8);
		}
		for (int d = 0; d < 2; d++) {
			size_t l = sql_sanitize(q, n, (enum sql_dialect)d, out,
						sizeof(out));
			ck_assert_uint_lt(l, sizeof(out));
			ck_assert_uint_eq(strlen(out), l);
			l = sql_summarize(q, n, (enum sql_dialect)d, out,
					  sizeof(out));
			ck_assert_uint_lt(l, sizeof(out));
		}
	}
}
END_TEST

Suite *unit_suite(void)
{
	Suite *s = suite_create("sql");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, sanitize_literals);
	tcase_add_test(tc, sanitize_comments_and_whitespace);
	tcase_add_test(tc, sanitize_unterminated_and_cut);
	tcase_add_test(tc, summaries);
	tcase_add_test(tc, summary_bounded);
	tcase_add_test(tc, any_bytes);
	suite_add_tcase(s, tc);
	return s;
}
