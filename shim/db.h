/*
 * db.h - database client spans, the part shared by the client-library hooks
 * (hook_pq.c for libpq, hook_mysql.c for the MySQL/MariaDB C API): timing a
 * call, choosing its parent, and turning the statement and its outcome into
 * a CLIENT span with the stable database conventions (SPEC.md 5.3).
 *
 * A hook fills a struct db_query from the statement text once (sanitised,
 * raw or omitted per OTELSHIM_DB_QUERY_TEXT, and summarised), calls
 * db_begin() before the real call and db_end() after it with what the
 * library says about the connection and the result. Prepared statements
 * keep their struct db_query in a db_table so that executions carry it.
 *
 * Threading: a db_op lives on one thread, or in a table slot owned by one
 * connection, which client libraries use from one thread at a time. Tables
 * are claimed and released with atomic operations; no locks, no
 * allocation.
 */
#ifndef OTELSHIM_DB_H
#define OTELSHIM_DB_H

#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "span.h"
#include "sql.h"
#include "stack.h"

#define DB_TEXT_MAX 1024
#define DB_SUMMARY_MAX 256

struct db_query {
	uint16_t text_len;
	uint16_t summary_len;
	uint8_t has_text;	/* db.query.text is recorded */
	char text[DB_TEXT_MAX];
	char summary[DB_SUMMARY_MAX];
};

/* Where a statement went: from the connection object. */
struct db_target {
	const char *system;		/* "postgresql", "mysql", "mariadb" */
	const char *namespace;		/* may be NULL or "" */
	const char *server_address;	/* host, IP or socket path; or NULL */
	int server_port;		/* 0: unknown */
};

/* What came back. */
struct db_outcome {
	int failed;
	const char *status_code;	/* SQLSTATE or error number; or NULL */
	const char *message;		/* status description; or NULL */
	int64_t rows;			/* returned rows; -1 unknown */
};

struct db_op {
	struct span_live span;
	struct span_ctx link;
	uint8_t rule;			/* enum context_rule */
	uint8_t active;			/* db_begin() started a span */
	uint8_t split;			/* ends in a later call */
	const char *operation;		/* db.operation.name (API-level), or NULL */
	const void *caller;		/* the program's call's return address */
	struct stack stack;		/* split: taken at the start */
	struct db_query q;
};

/*
 * Fill q from the statement text per OTELSHIM_DB_QUERY_TEXT. len may be
 * (size_t)-1 for a NUL-terminated text. A NULL text gives an empty query.
 */
void db_query_from_text(struct db_query *q, enum sql_dialect d,
			const char *text, size_t len);

/* "PREPARE {summary}", the operation a prepare call performs; q is left
   as it is when that would not fit. */
void db_query_as_prepare(struct db_query *q);

/*
 * Start timing a call. Returns 1 when a span was started (op->active),
 * 0 when the shim is off or inside itself (then db_end() does nothing).
 * operation, when not NULL, is an API-level db.operation.name such as
 * "connect" (static storage). caller is the return address of the
 * program's call (code.function.name). flags: DB_SPLIT for a span that
 * ends in a later call (PQsendQuery ... PQgetResult; a query read off the
 * wire), whose stack, when the mode wants one at the start, is taken now.
 */
#define DB_SPLIT 1
typedef int db_begin_fn(struct db_op *op, const struct db_query *q,
			const char *operation, const void *caller,
			unsigned flags);
extern db_begin_fn *db_begin __attribute__((visibility("hidden")));

/* Finish the span of op (if active): build the record and submit it. */
typedef void db_end_fn(struct db_op *op, const struct db_target *t,
		       const struct db_outcome *o);
extern db_end_fn *db_end __attribute__((visibility("hidden")));

/*
 * db_begin and db_end are pointers to one of two copies of each: with the
 * stack code or without (on = 0, the default). Called once at start-up,
 * after stack_init(), before any span.
 */
void db_use_stacks(int on);

/* Nanoseconds since op started (for the connect threshold). */
uint64_t db_elapsed_ns(const struct db_op *op);

/*
 * Tables of per-object state keyed by an address (a connection, a statement
 * handle) and a name (a prepared statement's, or ""): arrays of n entries
 * of stride bytes, each beginning with a struct db_slot. Lookups scan the
 * whole (small) table: no probing chains to break when entries go.
 */
#define DB_NAME_MAX 64

struct db_slot {
	const void *key;		/* NULL: free */
	char name[DB_NAME_MAX];
};

/* The entry of (key, name), or NULL. */
struct db_slot *db_table_get(void *base, size_t n, size_t stride,
			     const void *key, const char *name);
/* The entry of (key, name), claimed if new (value zeroed); NULL when the
 * table is full or the name too long. */
struct db_slot *db_table_put(void *base, size_t n, size_t stride,
			     const void *key, const char *name);
/* Release an entry got from the table. */
void db_table_release(struct db_slot *e);
/* Release every entry of key. */
void db_table_drop_key(void *base, size_t n, size_t stride, const void *key);

/*
 * The real function name, looked up once: the next definition after the
 * shim, or, when the library was loaded privately by dlopen (Python's
 * psycopg2 and MySQLdb load libpq and libmariadb with RTLD_LOCAL), the
 * definition in any loaded object other than the shim. self is the hook's
 * own address. NULL when none exists.
 */
void *db_real(const char *name, void *self);

#endif
