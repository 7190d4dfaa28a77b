/*
 * hook_pq.c - PostgreSQL client spans from libpq's API.
 *
 * The hooks are found by name, whether the program links libpq or loads it
 * later with dlopen (Python's psycopg2); each resolves the real function
 * on its first call (db_real). otelshim is built without libpq's headers:
 * the few types and constants it needs are declared here, from libpq's
 * documented ABI.
 *
 * Every real call runs under the reentrancy guard: libpq's own socket I/O
 * is never seen by the socket layer (no HTTP detection, no other spans),
 * and libpq calling its own exported functions does not make nested spans.
 *
 * Synchronous calls (PQexec, PQexecParams, PQprepare, PQexecPrepared) are
 * one span each. Asynchronous ones (PQsendQuery, PQsendQueryParams,
 * PQsendPrepare, PQsendQueryPrepared) start a span that ends when
 * PQgetResult returns NULL. In pipeline mode nothing is traced. Connection
 * set-up (PQconnectdb, PQconnectdbParams, PQsetdbLogin) is a span only
 * when it fails or takes longer than OTELSHIM_DB_CONNECT_THRESHOLD ms;
 * PQconnectStart/PQconnectPoll are only guarded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "guard.h"
#include "init.h"

#define EXPORT __attribute__((visibility("default")))

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
typedef unsigned int Oid;

/* The API as the library declares it (its ABI; no headers needed). */
PGresult *PQexec(PGconn *conn, const char *query);
PGresult *PQexecParams(PGconn *conn, const char *command, int nParams,
			      const Oid *paramTypes,
			      const char *const *paramValues,
			      const int *paramLengths, const int *paramFormats,
			      int resultFormat);
PGresult *PQprepare(PGconn *conn, const char *stmtName,
			   const char *query, int nParams,
			   const Oid *paramTypes);
PGresult *PQexecPrepared(PGconn *conn, const char *stmtName,
				int nParams, const char *const *paramValues,
				const int *paramLengths,
				const int *paramFormats, int resultFormat);
int PQsendQuery(PGconn *conn, const char *query);
int PQsendQueryParams(PGconn *conn, const char *command, int nParams,
			     const Oid *paramTypes,
			     const char *const *paramValues,
			     const int *paramLengths, const int *paramFormats,
			     int resultFormat);
int PQsendPrepare(PGconn *conn, const char *stmtName,
			 const char *query, int nParams,
			 const Oid *paramTypes);
int PQsendQueryPrepared(PGconn *conn, const char *stmtName,
			       int nParams, const char *const *paramValues,
			       const int *paramLengths,
			       const int *paramFormats, int resultFormat);
PGresult *PQgetResult(PGconn *conn);
PGconn *PQconnectdb(const char *conninfo);
PGconn *PQconnectdbParams(const char *const *keywords,
				 const char *const *values, int expand_dbname);
PGconn *PQsetdbLogin(const char *pghost, const char *pgport,
			    const char *pgoptions, const char *pgtty,
			    const char *dbName, const char *login,
			    const char *pwd);
PGconn *PQconnectStart(const char *conninfo);
PGconn *PQconnectStartParams(const char *const *keywords,
				    const char *const *values,
				    int expand_dbname);
int PQconnectPoll(PGconn *conn);
void PQfinish(PGconn *conn);

/* ExecStatusType, ConnStatusType, PGpipelineStatus values used here */
enum {
	PGRES_TUPLES_OK = 2,
	PGRES_BAD_RESPONSE = 5,
	PGRES_NONFATAL_ERROR = 6,
	PGRES_FATAL_ERROR = 7,
	PGRES_SINGLE_TUPLE = 9,
	PGRES_PIPELINE_ABORTED = 11,
};
#define CONNECTION_BAD 1
#define PQ_PIPELINE_OFF 0
#define PG_DIAG_SQLSTATE 'C'
#define PG_DIAG_MESSAGE_PRIMARY 'M'

/* The accessors: not hooked, found once. */
static struct {
	char *(*db)(const PGconn *);
	char *(*host)(const PGconn *);
	char *(*port)(const PGconn *);
	int (*status)(const PGconn *);
	char *(*error_message)(const PGconn *);
	int (*pipeline_status)(const PGconn *);
	int (*result_status)(const PGresult *);
	char *(*result_error_field)(const PGresult *, int);
	int (*ntuples)(const PGresult *);
	int ready;
} pq;

static int pq_init(void)
{
	if (__atomic_load_n(&pq.ready, __ATOMIC_ACQUIRE))
		return pq.ready > 0;
	pq.db = db_real("PQdb", NULL);
	pq.host = db_real("PQhost", NULL);
	pq.port = db_real("PQport", NULL);
	pq.status = db_real("PQstatus", NULL);
	pq.error_message = db_real("PQerrorMessage", NULL);
	pq.pipeline_status = db_real("PQpipelineStatus", NULL); /* PG 14+ */
	pq.result_status = db_real("PQresultStatus", NULL);
	pq.result_error_field = db_real("PQresultErrorField", NULL);
	pq.ntuples = db_real("PQntuples", NULL);
	int ok = pq.db && pq.host && pq.port && pq.status &&
		 pq.error_message && pq.result_status &&
		 pq.result_error_field && pq.ntuples;
	__atomic_store_n(&pq.ready, ok ? 1 : -1, __ATOMIC_RELEASE);
	return ok;
}

/* Resolve the real function once; the hook's own address tells it apart. */
#define REAL_PQ(name)                                                     \
	static __typeof__(&name) real;                                    \
	if (!__atomic_load_n(&real, __ATOMIC_ACQUIRE))                    \
		__atomic_store_n(&real, (__typeof__(&name))db_real(       \
						#name, (void *)&name),    \
				 __ATOMIC_RELEASE)

/* The return address of the program's call: the hook's own. */
#define CALLER __builtin_return_address(0)

/* Should this call be traced? (shim on, not inside ourselves, libpq ok) */
static int tracing(void)
{
	return init_is_active() && !guard_active() && pq_init();
}

static int in_pipeline(const PGconn *conn)
{
	return pq.pipeline_status && conn &&
	       pq.pipeline_status(conn) != PQ_PIPELINE_OFF;
}

/* server.*, db.namespace from the connection object */
static void target_of(const PGconn *conn, struct db_target *t)
{
	const char *port = conn ? pq.port(conn) : NULL;

	t->system = "postgresql";
	t->namespace = conn ? pq.db(conn) : NULL;
	t->server_address = conn ? pq.host(conn) : NULL;
	t->server_port = port && port[0] ? atoi(port) : 0;
}

/* What a result says; accumulates over the results of one call. */
struct pg_outcome {
	struct db_outcome o;
	char code[8];
	char msg[256];
};

static void outcome_init(struct pg_outcome *po)
{
	po->o.failed = 0;
	po->o.status_code = NULL;
	po->o.message = NULL;
	po->o.rows = -1;
	po->code[0] = '\0';
	po->msg[0] = '\0';
}

static void copy_str(char *dst, size_t cap, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, s, n);
	dst[n] = '\0';
}

static void outcome_add(struct pg_outcome *po, const PGconn *conn,
			const PGresult *res)
{
	if (!res) {
		/* no result at all: out of memory, or the connection is gone */
		if (!po->o.failed) {
			po->o.failed = 1;
			copy_str(po->msg, sizeof(po->msg),
				 conn ? pq.error_message(conn) : NULL);
			po->o.message = po->msg;
		}
		return;
	}
	int st = pq.result_status(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_SINGLE_TUPLE) {
		int n = pq.ntuples(res);
		po->o.rows = (po->o.rows < 0 ? 0 : po->o.rows) + (n > 0 ? n : 0);
	}
	const char *state = pq.result_error_field(res, PG_DIAG_SQLSTATE);
	int bad = st == PGRES_BAD_RESPONSE || st == PGRES_FATAL_ERROR ||
		  st == PGRES_PIPELINE_ABORTED;
	/* SQLSTATE class 00 is success, 01 a warning: both not errors */
	if (state && state[0] && !(state[0] == '0' && (state[1] == '0' ||
						    state[1] == '1')))
		bad = 1;
	if ((bad || st == PGRES_NONFATAL_ERROR) && !po->code[0] && state)
		copy_str(po->code, sizeof(po->code), state);
	if (bad && !po->o.failed) {
		po->o.failed = 1;
		copy_str(po->msg, sizeof(po->msg),
			 pq.result_error_field(res, PG_DIAG_MESSAGE_PRIMARY));
		po->o.message = po->msg;
	}
	if (po->code[0])
		po->o.status_code = po->code;
}

static void finish(struct db_op *op, const PGconn *conn,
		   struct pg_outcome *po)
{
	struct db_target t;

	target_of(conn, &t);
	db_end(op, &t, &po->o);
}

/* ---- prepared statements and asynchronous calls ------------------------ */

#define PG_STMTS 256
#define PG_ASYNC 64

struct pg_stmt {
	struct db_slot hdr;	/* key: the connection; name: the statement */
	struct db_query q;
};

struct pg_async {
	struct db_slot hdr;	/* key: the connection */
	struct db_op op;
	struct pg_outcome po;
};

static struct pg_stmt stmts[PG_STMTS];
static struct pg_async asyncs[PG_ASYNC];

static void remember(const PGconn *conn, const char *name,
		     const struct db_query *q)
{
	struct pg_stmt *s = (struct pg_stmt *)db_table_put(
		stmts, PG_STMTS, sizeof(stmts[0]), conn, name ? name : "");
	if (s)
		s->q = *q;
}

/* The query of a prepared statement, or an empty one. */
static void recall(const PGconn *conn, const char *name, struct db_query *q)
{
	struct pg_stmt *s = (struct pg_stmt *)db_table_get(
		stmts, PG_STMTS, sizeof(stmts[0]), conn, name ? name : "");
	if (s)
		*q = s->q;
	else
		db_query_from_text(q, SQL_POSTGRESQL, NULL, 0);
}

/* Start an asynchronous call's span; it ends in PQgetResult. */
static struct pg_async *async_begin(const PGconn *conn)
{
	struct pg_async *a = (struct pg_async *)db_table_put(
		asyncs, PG_ASYNC, sizeof(asyncs[0]), conn, "");
	if (a && a->op.active) {
		/* a call whose results were never read: end it now */
		finish(&a->op, conn, &a->po);
	}
	if (a)
		outcome_init(&a->po);
	return a;
}

/* ---- the hooks ------------------------------------------------------------- */

EXPORT PGresult *PQexec(PGconn *conn, const char *query)
{
	REAL_PQ(PQexec);
	struct db_op op;
	struct pg_outcome po;

	if (!real)
		return NULL;
	if (!tracing() || in_pipeline(conn))
		return real(conn, query);
	db_query_from_text(&op.q, SQL_POSTGRESQL, query, (size_t)-1);
	db_begin(&op, &op.q, NULL, CALLER, 0);
	guard_enter();
	PGresult *res = real(conn, query);
	int e = errno;
	outcome_init(&po);
	outcome_add(&po, conn, res);
	finish(&op, conn, &po);
	guard_leave();
	errno = e;
	return res;
}

EXPORT PGresult *PQexecParams(PGconn *conn, const char *command, int nParams,
			      const Oid *paramTypes,
			      const char *const *paramValues,
			      const int *paramLengths, const int *paramFormats,
			      int resultFormat)
{
	REAL_PQ(PQexecParams);
	struct db_op op;
	struct pg_outcome po;

	if (!real)
		return NULL;
	if (!tracing() || in_pipeline(conn))
		return real(conn, command, nParams, paramTypes, paramValues,
			    paramLengths, paramFormats, resultFormat);
	db_query_from_text(&op.q, SQL_POSTGRESQL, command, (size_t)-1);
	db_begin(&op, &op.q, NULL, CALLER, 0);
	guard_enter();
	PGresult *res = real(conn, command, nParams, paramTypes, paramValues,
			     paramLengths, paramFormats, resultFormat);
	int e = errno;
	outcome_init(&po);
	outcome_add(&po, conn, res);
	finish(&op, conn, &po);
	guard_leave();
	errno = e;
	return res;
}

EXPORT PGresult *PQprepare(PGconn *conn, const char *stmtName,
			   const char *query, int nParams,
			   const Oid *paramTypes)
{
	REAL_PQ(PQprepare);
	struct db_op op;
	struct pg_outcome po;

	if (!real)
		return NULL;
	if (!tracing() || in_pipeline(conn))
		return real(conn, stmtName, query, nParams, paramTypes);
	db_query_from_text(&op.q, SQL_POSTGRESQL, query, (size_t)-1);
	remember(conn, stmtName, &op.q);
	db_query_as_prepare(&op.q);
	db_begin(&op, &op.q, NULL, CALLER, 0);
	guard_enter();
	PGresult *res = real(conn, stmtName, query, nParams, paramTypes);
	int e = errno;
	outcome_init(&po);
	outcome_add(&po, conn, res);
	finish(&op, conn, &po);
	guard_leave();
	errno = e;
	return res;
}

EXPORT PGresult *PQexecPrepared(PGconn *conn, const char *stmtName,
				int nParams, const char *const *paramValues,
				const int *paramLengths,
				const int *paramFormats, int resultFormat)
{
	REAL_PQ(PQexecPrepared);
	struct db_op op;
	struct pg_outcome po;

	if (!real)
		return NULL;
	if (!tracing() || in_pipeline(conn))
		return real(conn, stmtName, nParams, paramValues,
			    paramLengths, paramFormats, resultFormat);
	recall(conn, stmtName, &op.q);
	db_begin(&op, &op.q, NULL, CALLER, 0);
	guard_enter();
	PGresult *res = real(conn, stmtName, nParams, paramValues,
			     paramLengths, paramFormats, resultFormat);
	int e = errno;
	outcome_init(&po);
	outcome_add(&po, conn, res);
	finish(&op, conn, &po);
	guard_leave();
	errno = e;
	return res;
}

/* The asynchronous sends: start a span if the send worked. */
#define ASYNC_SEND(call, fill)                                            \
	do {                                                              \
		if (!real)                                                \
			return 0;                                         \
		if (!tracing() || in_pipeline(conn))                      \
			return call;                                      \
		struct pg_async *a = async_begin(conn);                   \
		if (a) {                                                  \
			fill;                                             \
			db_begin(&a->op, &a->op.q, NULL, CALLER, DB_SPLIT); \
		}                                                         \
		guard_enter();                                            \
		int ok = call;                                            \
		int e = errno;                                            \
		guard_leave();                                            \
		if (a && !ok) {                                           \
			/* nothing was sent: the call failed at once */   \
			guard_enter();                                    \
			outcome_add(&a->po, conn, NULL);                  \
			finish(&a->op, conn, &a->po);                     \
			guard_leave();                                    \
			db_table_release(&a->hdr);                        \
		}                                                         \
		errno = e;                                                \
		return ok;                                                \
	} while (0)

EXPORT int PQsendQuery(PGconn *conn, const char *query)
{
	REAL_PQ(PQsendQuery);
	ASYNC_SEND(real(conn, query),
		   db_query_from_text(&a->op.q, SQL_POSTGRESQL, query,
				      (size_t)-1));
}

EXPORT int PQsendQueryParams(PGconn *conn, const char *command, int nParams,
			     const Oid *paramTypes,
			     const char *const *paramValues,
			     const int *paramLengths, const int *paramFormats,
			     int resultFormat)
{
	REAL_PQ(PQsendQueryParams);
	ASYNC_SEND(real(conn, command, nParams, paramTypes, paramValues,
			paramLengths, paramFormats, resultFormat),
		   db_query_from_text(&a->op.q, SQL_POSTGRESQL, command,
				      (size_t)-1));
}

EXPORT int PQsendPrepare(PGconn *conn, const char *stmtName,
			 const char *query, int nParams,
			 const Oid *paramTypes)
{
	REAL_PQ(PQsendPrepare);
	ASYNC_SEND(real(conn, stmtName, query, nParams, paramTypes),
		   (db_query_from_text(&a->op.q, SQL_POSTGRESQL, query,
				       (size_t)-1),
		    remember(conn, stmtName, &a->op.q),
		    db_query_as_prepare(&a->op.q)));
}

EXPORT int PQsendQueryPrepared(PGconn *conn, const char *stmtName,
			       int nParams, const char *const *paramValues,
			       const int *paramLengths,
			       const int *paramFormats, int resultFormat)
{
	REAL_PQ(PQsendQueryPrepared);
	ASYNC_SEND(real(conn, stmtName, nParams, paramValues, paramLengths,
			paramFormats, resultFormat),
		   recall(conn, stmtName, &a->op.q));
}

EXPORT PGresult *PQgetResult(PGconn *conn)
{
	REAL_PQ(PQgetResult);

	if (!real)
		return NULL;
	if (!init_is_active() || guard_active())
		return real(conn);
	guard_enter();
	PGresult *res = real(conn);
	int e = errno;
	struct pg_async *a = pq_init() ? (struct pg_async *)db_table_get(
		asyncs, PG_ASYNC, sizeof(asyncs[0]), conn, "") : NULL;
	if (a && a->op.active) {
		if (res) {
			outcome_add(&a->po, conn, res);
		} else {
			finish(&a->op, conn, &a->po);
			db_table_release(&a->hdr);
		}
	}
	guard_leave();
	errno = e;
	return res;
}

/* ---- connections ------------------------------------------------------------ */

static void connect_end(struct db_op *op, const PGconn *conn)
{
	struct pg_outcome po;
	uint64_t threshold =
		(uint64_t)config_get()->db_connect_threshold_ms * 1000000u;

	outcome_init(&po);
	if (!conn || pq.status(conn) == CONNECTION_BAD) {
		po.o.failed = 1;
		copy_str(po.msg, sizeof(po.msg),
			 conn ? pq.error_message(conn) : "out of memory");
		po.o.message = po.msg;
	} else if (db_elapsed_ns(op) < threshold) {
		return;		/* quick and fine: not worth a span */
	}
	finish(op, conn, &po);
}

#define CONNECT(call)                                                     \
	do {                                                              \
		struct db_op op;                                          \
		if (!real)                                                \
			return NULL;                                      \
		if (!tracing())                                           \
			return call;                                      \
		db_query_from_text(&op.q, SQL_POSTGRESQL, NULL, 0);       \
		db_begin(&op, &op.q, "connect", CALLER, 0);               \
		guard_enter();                                            \
		PGconn *conn = call;                                      \
		int e = errno;                                            \
		connect_end(&op, conn);                                   \
		guard_leave();                                            \
		errno = e;                                                \
		return conn;                                              \
	} while (0)

EXPORT PGconn *PQconnectdb(const char *conninfo)
{
	REAL_PQ(PQconnectdb);
	CONNECT(real(conninfo));
}

EXPORT PGconn *PQconnectdbParams(const char *const *keywords,
				 const char *const *values, int expand_dbname)
{
	REAL_PQ(PQconnectdbParams);
	CONNECT(real(keywords, values, expand_dbname));
}

EXPORT PGconn *PQsetdbLogin(const char *pghost, const char *pgport,
			    const char *pgoptions, const char *pgtty,
			    const char *dbName, const char *login,
			    const char *pwd)
{
	REAL_PQ(PQsetdbLogin);
	CONNECT(real(pghost, pgport, pgoptions, pgtty, dbName, login, pwd));
}

/* Asynchronous set-up: only guarded, so its socket is never traced. */
EXPORT PGconn *PQconnectStart(const char *conninfo)
{
	REAL_PQ(PQconnectStart);

	if (!real)
		return NULL;
	if (!init_is_active() || guard_active())
		return real(conninfo);
	guard_enter();
	PGconn *c = real(conninfo);
	guard_leave();
	return c;
}

EXPORT PGconn *PQconnectStartParams(const char *const *keywords,
				    const char *const *values,
				    int expand_dbname)
{
	REAL_PQ(PQconnectStartParams);

	if (!real)
		return NULL;
	if (!init_is_active() || guard_active())
		return real(keywords, values, expand_dbname);
	guard_enter();
	PGconn *c = real(keywords, values, expand_dbname);
	guard_leave();
	return c;
}

EXPORT int PQconnectPoll(PGconn *conn)
{
	REAL_PQ(PQconnectPoll);

	if (!real)
		return 0;	/* PGRES_POLLING_FAILED */
	if (!init_is_active() || guard_active())
		return real(conn);
	guard_enter();
	int r = real(conn);
	int e = errno;
	guard_leave();
	errno = e;
	return r;
}

EXPORT void PQfinish(PGconn *conn)
{
	REAL_PQ(PQfinish);

	if (!real)
		return;
	if (init_is_active() && !guard_active()) {
		struct pg_async *a = (struct pg_async *)db_table_get(
			asyncs, PG_ASYNC, sizeof(asyncs[0]), conn, "");
		if (a) {
			if (a->op.active && pq_init())
				finish(&a->op, conn, &a->po);
			db_table_release(&a->hdr);
		}
		db_table_drop_key(stmts, PG_STMTS, sizeof(stmts[0]), conn);
		guard_enter();
		real(conn);
		guard_leave();
		return;
	}
	real(conn);
}
