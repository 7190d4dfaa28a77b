/*
 * sql.h - what a database span says about its statement: the query text
 * with its literals replaced by '?' (db.query.text, SPEC.md 5.3), and a
 * low-cardinality summary "{operation} {target} ..." (db.query.summary,
 * which also names the span): "SELECT orders", "INSERT shipping SELECT
 * orders", "SELECT songs artists".
 *
 * Both are pure functions over the text: no allocation, no state, no libc
 * beyond memcpy, safe on any bytes (not NUL-terminated, not valid SQL, not
 * UTF-8). They understand the lexical rules that decide what a literal is:
 * '' strings with doubled quotes, E'' strings and backslashes (MySQL: in
 * every string), PostgreSQL dollar quoting ($tag$...$tag$), MySQL "..."
 * strings and `...` identifiers, PostgreSQL "..." identifiers, X''/B''/N''
 * literals, numbers (with exponents, hex), TRUE/FALSE, -- # and nested
 * block comments. Parameter markers ($1, ?, %s, :name) are kept.
 */
#ifndef OTELSHIM_SQL_H
#define OTELSHIM_SQL_H

#include <stddef.h>

enum sql_dialect {
	SQL_POSTGRESQL = 0,
	SQL_MYSQL,		/* MySQL and MariaDB */
};

/*
 * Write q[0..len) to out with every literal replaced by '?' and comments
 * replaced by a space; other bytes are copied as they are. The result is
 * cut at a token boundary to fit cap - 1 bytes and NUL-terminated (cap >=
 * 1). Returns its length. A literal is never partly copied, even when the
 * text ends inside it (an unterminated string becomes '?').
 */
size_t sql_sanitize(const char *q, size_t len, enum sql_dialect d, char *out,
		    size_t cap);

/*
 * Write the summary of q[0..len) to out: for each statement, in order, its
 * operation as the program spelled it (for DDL with the object kind:
 * "CREATE TABLE"), each nested SELECT, and the tables it names after FROM,
 * JOIN, INTO, UPDATE, TABLE, with their qualification and quoting as
 * written. Cut at a token boundary to fit min(cap - 1, 255) bytes and
 * NUL-terminated. Returns its length; 0 when no operation is recognised.
 */
size_t sql_summarize(const char *q, size_t len, enum sql_dialect d, char *out,
		     size_t cap);

#endif
