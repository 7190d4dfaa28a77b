/*
 * sql.c - query text sanitising and summaries (see sql.h).
 *
 * One tokenizer serves both: it skips whitespace and comments and returns
 * the next token with its kind. The sanitiser copies the text between
 * tokens and each token, except literals, which become '?'. The summary is
 * a small state machine over the tokens.
 */
#include <string.h>

#include "sql.h"

enum tok_kind {
	TOK_END = 0,
	TOK_WORD,	/* identifier or keyword */
	TOK_QUOTED,	/* quoted identifier */
	TOK_LITERAL,	/* string, number, TRUE/FALSE */
	TOK_PARAM,	/* $1 (a positional parameter) */
	TOK_PUNCT,	/* any other single byte */
};

struct tok {
	enum tok_kind kind;
	size_t start, end;	/* [start, end) in the text */
	size_t gap;		/* where the whitespace before it starts */
	int comment;		/* a comment lies in the gap */
};

struct lexer {
	const char *q;
	size_t len, pos;
	enum sql_dialect d;
};

static int is_word_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       c >= 0x80;
}

static int is_word_char(unsigned char c)
{
	return is_word_start(c) || (c >= '0' && c <= '9') || c == '$';
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == '\v';
}

/* Case-insensitive: is [p, p+n) the keyword kw (upper case)? */
static int kw_eq(const char *p, size_t n, const char *kw)
{
	size_t i = 0;

	for (; i < n && kw[i]; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c >= 'a' && c <= 'z')
			c = (unsigned char)(c - 32);
		if (c != (unsigned char)kw[i])
			return 0;
	}
	return i == n && kw[i] == '\0';
}

/* Skip a quoted run starting at the opening quote; returns the end. */
static size_t skip_quoted(const struct lexer *lx, size_t i, char quote,
			  int backslash)
{
	i++;
	while (i < lx->len) {
		char c = lx->q[i];
		if (backslash && c == '\\') {
			i += 2;
			continue;
		}
		if (c == quote) {
			if (i + 1 < lx->len && lx->q[i + 1] == quote) {
				i += 2;	/* doubled: an escaped quote */
				continue;
			}
			return i + 1;
		}
		i++;
	}
	return lx->len;	/* unterminated: the rest is the literal */
}

/* PostgreSQL $tag$...$tag$ at i (q[i] == '$'); 0 if not a dollar quote. */
static size_t skip_dollar(const struct lexer *lx, size_t i)
{
	size_t t = i + 1;

	if (t < lx->len && is_digit((unsigned char)lx->q[t]))
		return 0;	/* $1: a parameter */
	while (t < lx->len && lx->q[t] != '$') {
		unsigned char c = (unsigned char)lx->q[t];
		if (!is_word_char(c) || c == '$')
			return 0;
		t++;
	}
	if (t >= lx->len)
		return 0;
	size_t tag_len = t + 1 - i;	/* "$tag$" */
	for (size_t j = t + 1; j + tag_len <= lx->len; j++)
		if (lx->q[j] == '$' && memcmp(lx->q + j, lx->q + i, tag_len) == 0)
			return j + tag_len;
	return lx->len;
}

static size_t skip_number(const struct lexer *lx, size_t i)
{
	const char *q = lx->q;
	size_t n = lx->len;

	if (q[i] == '0' && i + 1 < n && (q[i + 1] == 'x' || q[i + 1] == 'X')) {
		i += 2;
		while (i < n && is_hex((unsigned char)q[i]))
			i++;
		return i;
	}
	while (i < n && (is_digit((unsigned char)q[i]) || q[i] == '.'))
		i++;
	if (i < n && (q[i] == 'e' || q[i] == 'E')) {
		size_t j = i + 1;
		if (j < n && (q[j] == '+' || q[j] == '-'))
			j++;
		if (j < n && is_digit((unsigned char)q[j])) {
			i = j;
			while (i < n && is_digit((unsigned char)q[i]))
				i++;
		}
	}
	return i;
}

/* Skip whitespace and comments; note whether a comment was seen. */
static void skip_gap(struct lexer *lx, int *comment)
{
	const char *q = lx->q;
	size_t n = lx->len, i = lx->pos;

	for (;;) {
		while (i < n && is_space((unsigned char)q[i]))
			i++;
		if (i + 1 < n && q[i] == '-' && q[i + 1] == '-') {
			while (i < n && q[i] != '\n')
				i++;
			*comment = 1;
			continue;
		}
		if (i < n && q[i] == '#' && lx->d == SQL_MYSQL) {
			while (i < n && q[i] != '\n')
				i++;
			*comment = 1;
			continue;
		}
		if (i + 1 < n && q[i] == '/' && q[i + 1] == '*') {
			/* PostgreSQL nests block comments; MySQL does not */
			int depth = 1;
			i += 2;
			while (i < n && depth > 0) {
				if (i + 1 < n && q[i] == '*' && q[i + 1] == '/') {
					depth--;
					i += 2;
				} else if (lx->d == SQL_POSTGRESQL && i + 1 < n &&
					   q[i] == '/' && q[i + 1] == '*') {
					depth++;
					i += 2;
				} else {
					i++;
				}
			}
			*comment = 1;
			continue;
		}
		break;
	}
	lx->pos = i;
}

static void next(struct lexer *lx, struct tok *t)
{
	const char *q = lx->q;
	size_t n = lx->len, i;

	t->gap = lx->pos;
	t->comment = 0;
	skip_gap(lx, &t->comment);
	i = t->start = lx->pos;
	if (i >= n) {
		t->kind = TOK_END;
		t->end = n;
		return;
	}
	unsigned char c = (unsigned char)q[i];
	int mysql = lx->d == SQL_MYSQL;

	/* prefixed strings: E'..' X'..' B'..' N'..' (and lower case) */
	if (i + 1 < n && q[i + 1] == '\'' &&
	    (c == 'E' || c == 'e' || c == 'X' || c == 'x' || c == 'B' ||
	     c == 'b' || c == 'N' || c == 'n')) {
		int bs = mysql || c == 'E' || c == 'e';
		t->kind = TOK_LITERAL;
		t->end = skip_quoted(lx, i + 1, '\'', bs);
	} else if (c == '\'') {
		t->kind = TOK_LITERAL;
		t->end = skip_quoted(lx, i, '\'', mysql);
	} else if (c == '"') {
		t->kind = mysql ? TOK_LITERAL : TOK_QUOTED;
		t->end = skip_quoted(lx, i, '"', mysql);
	} else if (c == '`' && mysql) {
		t->kind = TOK_QUOTED;
		t->end = skip_quoted(lx, i, '`', 0);
	} else if (c == '$' && !mysql) {
		size_t e = skip_dollar(lx, i);
		if (e) {
			t->kind = TOK_LITERAL;
			t->end = e;
		} else {
			size_t j = i + 1;
			while (j < n && is_digit((unsigned char)q[j]))
				j++;
			t->kind = j > i + 1 ? TOK_PARAM : TOK_PUNCT;
			t->end = j > i + 1 ? j : i + 1;
		}
	} else if (is_digit(c) ||
		   (c == '.' && i + 1 < n && is_digit((unsigned char)q[i + 1]))) {
		t->kind = TOK_LITERAL;
		t->end = skip_number(lx, i);
	} else if (is_word_start(c)) {
		size_t j = i + 1;
		while (j < n && is_word_char((unsigned char)q[j]))
			j++;
		t->end = j;
		t->kind = kw_eq(q + i, j - i, "TRUE") ||
				  kw_eq(q + i, j - i, "FALSE")
			  ? TOK_LITERAL
			  : TOK_WORD;
	} else {
		t->kind = TOK_PUNCT;
		t->end = i + 1;
	}
	lx->pos = t->end;
}

/* ---- sanitising ----------------------------------------------------------- */

size_t sql_sanitize(const char *q, size_t len, enum sql_dialect d, char *out,
		    size_t cap)
{
	struct lexer lx = {q, len, 0, d};
	struct tok t;
	size_t o = 0;

	if (cap == 0)
		return 0;
	for (;;) {
		next(&lx, &t);
		/* the gap: a comment becomes one space, whitespace stays */
		const char *gap = q + t.gap;
		size_t gap_len = t.start - t.gap;
		if (t.comment) {
			gap = " ";
			gap_len = 1;
		}
		if (t.kind == TOK_END) {
			if (!t.comment && o + gap_len <= cap - 1) {
				memcpy(out + o, gap, gap_len);
				o += gap_len;
			}
			break;
		}
		const char *tp = q + t.start;
		size_t tl = t.end - t.start;
		if (t.kind == TOK_LITERAL) {
			tp = "?";
			tl = 1;
		}
		if (o + gap_len + tl > cap - 1)
			break;	/* cut before this token */
		memcpy(out + o, gap, gap_len);
		o += gap_len;
		memcpy(out + o, tp, tl);
		o += tl;
	}
	out[o] = '\0';
	return o;
}

/* ---- summaries ------------------------------------------------------------ */

#define SUMMARY_MAX 255

/* Operations that count anywhere (they are never anything else). */
static int dml_op(const char *p, size_t n)
{
	return kw_eq(p, n, "SELECT") || kw_eq(p, n, "INSERT") ||
	       kw_eq(p, n, "UPDATE") || kw_eq(p, n, "DELETE") ||
	       kw_eq(p, n, "MERGE") || kw_eq(p, n, "UPSERT");
}

/* Operations that count only where a statement starts. */
static int start_op(const char *p, size_t n)
{
	static const char *const ops[] = {
		"REPLACE", "CREATE", "DROP", "ALTER", "TRUNCATE", "CALL",
		"EXEC", "EXECUTE", "SHOW", "USE", "SET", "BEGIN", "START",
		"COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "GRANT", "REVOKE",
		"EXPLAIN", "ANALYZE", "VACUUM", "COPY", "LOCK", "PREPARE",
		"DEALLOCATE", "DECLARE", "FETCH", "CLOSE", "LISTEN", "NOTIFY",
		"UNLISTEN", "DO", "VALUES", "DESCRIBE", "DESC", "LOAD", "REINDEX",
		"CLUSTER", "COMMENT", "REFRESH", "WITH", "TABLE", "DISCARD",
		"RESET", "CHECKPOINT", "OPTIMIZE", "REPAIR", "HANDLER", "KILL",
		"FLUSH", "INSTALL", "UNINSTALL", "ABORT", "END",
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (kw_eq(p, n, ops[i]))
			return 1;
	return 0;
}

/* Object kinds named after CREATE/DROP/ALTER/TRUNCATE. */
static int object_kind(const char *p, size_t n)
{
	static const char *const kinds[] = {
		"TABLE", "INDEX", "VIEW", "SCHEMA", "DATABASE", "SEQUENCE",
		"FUNCTION", "PROCEDURE", "TRIGGER", "TYPE", "EXTENSION", "USER",
		"ROLE", "EVENT", "DOMAIN",
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kw_eq(p, n, kinds[i]))
			return 1;
	return 0;
}

/* Words that end a FROM list or cannot be a table alias. */
static int clause_word(const char *p, size_t n)
{
	static const char *const words[] = {
		"WHERE", "JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS",
		"NATURAL", "OUTER", "ON", "USING", "GROUP", "ORDER", "LIMIT",
		"OFFSET", "HAVING", "UNION", "INTERSECT", "EXCEPT", "WINDOW",
		"FOR", "RETURNING", "SET", "VALUES", "SELECT", "INTO", "AS",
		"LATERAL", "ONLY", "FETCH", "STRAIGHT_JOIN", "PARTITION",
		"USE", "FORCE", "IGNORE", "LOCK", "WITH", "TABLESAMPLE",
	};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (kw_eq(p, n, words[i]))
			return 1;
	return 0;
}

struct summary {
	char *out;
	size_t cap, len;
	int full;
};

static void emit(struct summary *s, const char *p, size_t n)
{
	size_t need = (s->len ? 1 : 0) + n;

	if (s->full || s->len + need > s->cap) {
		s->full = 1;	/* cut at a token boundary, and stop */
		return;
	}
	if (s->len)
		s->out[s->len++] = ' ';
	memcpy(s->out + s->len, p, n);
	s->len += n;
}

/*
 * A table name at t: words and quoted identifiers joined by '.', as
 * written. On return *t is the token after it. Returns 1 and sets
 * [*from, *to) when there is one.
 */
static int read_name(struct lexer *lx, struct tok *t, size_t *from, size_t *to)
{
	if (t->kind != TOK_WORD && t->kind != TOK_QUOTED)
		return 0;
	*from = t->start;
	*to = t->end;
	for (;;) {
		next(lx, t);
		if (t->kind != TOK_PUNCT || lx->q[t->start] != '.' ||
		    t->comment || t->gap != t->start)
			return 1;
		struct lexer save = *lx;
		struct tok part;
		next(lx, &part);
		if ((part.kind != TOK_WORD && part.kind != TOK_QUOTED) ||
		    part.gap != part.start) {
			*lx = save;
			return 1;
		}
		*to = part.end;
	}
}

size_t sql_summarize(const char *q, size_t len, enum sql_dialect d, char *out,
		     size_t cap)
{
	struct lexer lx = {q, len, 0, d};
	struct summary s = {out, cap ? cap - 1 : 0, 0, 0};
	struct tok t, prev = {TOK_END, 0, 0, 0, 0};
	int at_start = 1;	/* the next word starts a statement */
	int depth = 0;
	int from_depth = -1;	/* inside a FROM list at this depth */
	int want_table = 0;	/* the next name is a table */
	int ops = 0;

	if (s.cap > SUMMARY_MAX)
		s.cap = SUMMARY_MAX;
	if (cap == 0)
		return 0;
	next(&lx, &t);
	while (t.kind != TOK_END && !s.full) {
		const char *p = q + t.start;
		size_t n = t.end - t.start;

		if (t.kind == TOK_PUNCT) {
			char c = *p;
			if (c == ';') {
				at_start = 1;
				from_depth = -1;
				want_table = 0;
				depth = 0;
			} else if (c == '(') {
				depth++;
				want_table = 0;
			} else if (c == ')') {
				if (depth == from_depth)
					from_depth = -1;
				if (depth > 0)
					depth--;
			} else if (c == ',' && depth == from_depth) {
				want_table = 1;
			}
			prev = t;
			next(&lx, &t);
			continue;
		}
		if (want_table && (t.kind == TOK_WORD || t.kind == TOK_QUOTED) &&
		    !(t.kind == TOK_WORD && clause_word(p, n))) {
			size_t a, b;
			want_table = 0;
			read_name(&lx, &t, &a, &b);
			/* name( is a function in FROM, not a table */
			if (!(t.kind == TOK_PUNCT && q[t.start] == '(' &&
			      from_depth >= 0))
				emit(&s, q + a, b - a);
			prev.kind = TOK_WORD;
			continue;
		}
		if (t.kind == TOK_WORD) {
			/* ON DELETE, ON UPDATE, FOR UPDATE, KEY UPDATE
			   (MySQL's ON DUPLICATE KEY UPDATE): clauses */
			const char *pp = q + prev.start;
			size_t pn = prev.end - prev.start;
			int prev_on_for = prev.kind == TOK_WORD &&
					  (kw_eq(pp, pn, "ON") ||
					   kw_eq(pp, pn, "FOR") ||
					   kw_eq(pp, pn, "KEY"));
			if (dml_op(p, n) && !prev_on_for) {
				emit(&s, p, n);
				ops++;
				at_start = 0;
				/* UPDATE t: the table follows directly */
				want_table = kw_eq(p, n, "UPDATE");
				if (want_table) {
					prev = t;
					next(&lx, &t);
					if (t.kind == TOK_WORD &&
					    kw_eq(q + t.start, t.end - t.start,
						  "ONLY"))
						next(&lx, &t);
					continue;
				}
			} else if (at_start && start_op(p, n)) {
				at_start = 0;
				if (kw_eq(p, n, "WITH")) {
					/* the CTEs' and the main statement's
					   operations will follow */
					at_start = 0;
				} else {
					size_t op_from = t.start, op_to = t.end;
					int ddl = kw_eq(p, n, "CREATE") ||
						  kw_eq(p, n, "DROP") ||
						  kw_eq(p, n, "ALTER") ||
						  kw_eq(p, n, "TRUNCATE");
					int replace = kw_eq(p, n, "REPLACE");
					prev = t;
					next(&lx, &t);
					if (ddl) {
						/* modifiers, then the kind */
						while (t.kind == TOK_WORD &&
						       (kw_eq(q + t.start, t.end - t.start, "OR") ||
							kw_eq(q + t.start, t.end - t.start, "REPLACE") ||
							kw_eq(q + t.start, t.end - t.start, "UNIQUE") ||
							kw_eq(q + t.start, t.end - t.start, "TEMP") ||
							kw_eq(q + t.start, t.end - t.start, "TEMPORARY") ||
							kw_eq(q + t.start, t.end - t.start, "UNLOGGED") ||
							kw_eq(q + t.start, t.end - t.start, "MATERIALIZED") ||
							kw_eq(q + t.start, t.end - t.start, "GLOBAL") ||
							kw_eq(q + t.start, t.end - t.start, "LOCAL")))
							next(&lx, &t);
						if (t.kind == TOK_WORD &&
						    object_kind(q + t.start, t.end - t.start)) {
							emit(&s, q + op_from, op_to - op_from);
							emit(&s, q + t.start, t.end - t.start);
							ops++;
							next(&lx, &t);
							/* IF [NOT] EXISTS */
							if (t.kind == TOK_WORD &&
							    kw_eq(q + t.start, t.end - t.start, "IF")) {
								next(&lx, &t);
								if (t.kind == TOK_WORD &&
								    kw_eq(q + t.start, t.end - t.start, "NOT"))
									next(&lx, &t);
								if (t.kind == TOK_WORD &&
								    kw_eq(q + t.start, t.end - t.start, "EXISTS"))
									next(&lx, &t);
							}
							size_t a, b;
							if (read_name(&lx, &t, &a, &b))
								emit(&s, q + a, b - a);
							prev.kind = TOK_WORD;
							continue;
						}
						emit(&s, q + op_from, op_to - op_from);
						ops++;
						/* TRUNCATE t */
						if (kw_eq(q + op_from, op_to - op_from,
							  "TRUNCATE"))
							want_table = 1;
						continue;
					}
					emit(&s, q + op_from, op_to - op_from);
					ops++;
					/* REPLACE [INTO] t (MySQL) */
					if (replace)
						want_table = 1;
					continue;
				}
			} else if (kw_eq(p, n, "FROM")) {
				from_depth = depth;
				want_table = 1;
			} else if (kw_eq(p, n, "JOIN") || kw_eq(p, n, "INTO") ||
				   kw_eq(p, n, "TABLE")) {
				want_table = 1;
			} else if (depth == from_depth && clause_word(p, n) &&
				   !kw_eq(p, n, "AS")) {
				from_depth = -1;
			}
		}
		prev = t;
		next(&lx, &t);
	}
	if (!ops)
		s.len = 0;
	out[s.len] = '\0';
	return s.len;
}
