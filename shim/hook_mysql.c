/*
 * hook_mysql.c - MySQL and MariaDB client spans from the C API, as
 * libmariadb and libmysqlclient export it (Python's MySQLdb loads it with
 * dlopen). Built without the library's headers: MYSQL and MYSQL_STMT are
 * opaque here, and everything about a connection comes from API calls or
 * from the arguments of mysql_real_connect/mysql_select_db/
 * mysql_change_user, kept per connection.
 *
 * db.namespace is the database named at connect time or by
 * mysql_select_db/mysql_change_user; a USE statement is not followed.
 * db.system.name is "mariadb" when the server's version string says
 * MariaDB, else "mysql".
 *
 * A program that carries the client library inside its own executable
 * (Debian's mariadb command-line client does) calls it directly, not
 * through the dynamic linker: those calls cannot be interposed.
 *
 * As in hook_pq.c, every real call runs under the guard.
 */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "guard.h"
#include "init.h"
#include "text.h"

#define EXPORT __attribute__((visibility("default")))

typedef struct st_mysql MYSQL;
typedef struct st_mysql_stmt MYSQL_STMT;
typedef char my_bool;

/* The API as the library declares it (its ABI; no headers needed). */
int mysql_real_query(MYSQL *m, const char *q, unsigned long length);
int mysql_query(MYSQL *m, const char *q);
int mysql_send_query(MYSQL *m, const char *q, unsigned long length);
my_bool mysql_read_query_result(MYSQL *m);
MYSQL_STMT *mysql_stmt_init(MYSQL *m);
int mysql_stmt_prepare(MYSQL_STMT *s, const char *q,
			      unsigned long length);
int mysql_stmt_execute(MYSQL_STMT *s);
my_bool mysql_stmt_close(MYSQL_STMT *s);
MYSQL *mysql_real_connect(MYSQL *m, const char *host, const char *user,
				 const char *passwd, const char *db,
				 unsigned int port, const char *unix_socket,
				 unsigned long clientflag);
int mysql_select_db(MYSQL *m, const char *db);
my_bool mysql_change_user(MYSQL *m, const char *user,
				 const char *passwd, const char *db);
void mysql_close(MYSQL *m);

static struct {
	unsigned int (*err_no)(MYSQL *);
	const char *(*error)(MYSQL *);
	const char *(*sqlstate)(MYSQL *);
	const char *(*server_info)(MYSQL *);
	const char *(*host_info)(MYSQL *);
	unsigned int (*stmt_errno)(MYSQL_STMT *);
	const char *(*stmt_error)(MYSQL_STMT *);
	const char *(*stmt_sqlstate)(MYSQL_STMT *);
	int ready;
} my;

static int my_init(void)
{
	if (__atomic_load_n(&my.ready, __ATOMIC_ACQUIRE))
		return my.ready > 0;
	my.err_no = db_real("mysql_errno", NULL);
	my.error = db_real("mysql_error", NULL);
	my.sqlstate = db_real("mysql_sqlstate", NULL);
	my.server_info = db_real("mysql_get_server_info", NULL);
	my.host_info = db_real("mysql_get_host_info", NULL);
	my.stmt_errno = db_real("mysql_stmt_errno", NULL);
	my.stmt_error = db_real("mysql_stmt_error", NULL);
	my.stmt_sqlstate = db_real("mysql_stmt_sqlstate", NULL);
	int ok = my.err_no && my.error && my.sqlstate && my.server_info &&
		 my.host_info;
	__atomic_store_n(&my.ready, ok ? 1 : -1, __ATOMIC_RELEASE);
	return ok;
}

#define REAL_MY(name)                                                     \
	static __typeof__(&name) real;                                    \
	if (!__atomic_load_n(&real, __ATOMIC_ACQUIRE))                    \
		__atomic_store_n(&real, (__typeof__(&name))db_real(       \
						#name, (void *)&name),    \
				 __ATOMIC_RELEASE)

static int tracing(void)
{
	return init_is_active() && !guard_active() && my_init();
}

/* The return address of the program's call: the hook's own. */
#define CALLER __builtin_return_address(0)

/* ---- per-connection and per-statement state ------------------------------ */

#define MY_CONNS 128
#define MY_STMTS 256
#define MY_ASYNC 64

struct my_conn {
	struct db_slot hdr;	/* key: the MYSQL */
	char system[8];
	char address[256];
	int port;
	char db[128];
};

struct my_stmt {
	struct db_slot hdr;	/* key: the MYSQL_STMT */
	MYSQL *mysql;
	struct db_query q;
};

struct my_async {
	struct db_slot hdr;	/* key: the MYSQL */
	struct db_op op;
};

static struct my_conn conns[MY_CONNS];
static struct my_stmt stmts[MY_STMTS];
static struct my_async asyncs[MY_ASYNC];

static void copy_str(char *dst, size_t cap, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, s, n);
	dst[n] = '\0';
}

static struct my_conn *conn_of(MYSQL *m)
{
	return (struct my_conn *)db_table_get(conns, MY_CONNS,
					      sizeof(conns[0]), m, "");
}

static void target_of(MYSQL *m, struct db_target *t)
{
	struct my_conn *c = conn_of(m);

	t->system = c && c->system[0] ? c->system : "mysql";
	t->namespace = c ? c->db : NULL;
	t->server_address = c && c->address[0] ? c->address : NULL;
	t->server_port = c ? c->port : 0;
}

struct my_outcome {
	struct db_outcome o;
	char code[16];
	char msg[256];
};

/* The error of the last call, from the connection or a statement. */
static void outcome(struct my_outcome *mo, int failed, unsigned int err,
		    const char *msg, const char *state, const char *system)
{
	mo->o.failed = 0;
	mo->o.status_code = NULL;
	mo->o.message = NULL;
	mo->o.rows = -1;
	if (!failed)
		return;
	/* MySQL: every error is an error; MariaDB: by SQLSTATE class when
	   known (00 success, 01 warning) */
	int error = 1;
	if (!strcmp(system, "mariadb") && state && state[0] == '0' &&
	    (state[1] == '0' || state[1] == '1') && strcmp(state, "00000"))
		error = 0;
	if (err) {
		struct text code;
		text_init(&code, mo->code, sizeof(mo->code));
		text_uint(&code, err);
		mo->o.status_code = mo->code;
	}
	copy_str(mo->msg, sizeof(mo->msg), msg);
	mo->o.message = mo->msg;
	mo->o.failed = error;
}

static void end_conn_call(struct db_op *op, MYSQL *m, int failed)
{
	struct db_target t;
	struct my_outcome mo;

	target_of(m, &t);
	outcome(&mo, failed, failed ? my.err_no(m) : 0,
		failed ? my.error(m) : NULL, failed ? my.sqlstate(m) : NULL,
		t.system);
	db_end(op, &t, &mo.o);
}

/* ---- queries ------------------------------------------------------------------ */

EXPORT int mysql_real_query(MYSQL *m, const char *q, unsigned long length)
{
	REAL_MY(mysql_real_query);
	struct db_op op;

	if (!real)
		return 1;
	if (!tracing())
		return real(m, q, length);
	db_query_from_text(&op.q, SQL_MYSQL, q, q ? length : 0);
	db_begin(&op, &op.q, NULL, CALLER, 0);
	guard_enter();
	int r = real(m, q, length);
	int e = errno;
	end_conn_call(&op, m, r != 0);
	guard_leave();
	errno = e;
	return r;
}

EXPORT int mysql_query(MYSQL *m, const char *q)
{
	REAL_MY(mysql_query);
	struct db_op op;

	if (!real)
		return 1;
	if (!tracing())
		return real(m, q);
	db_query_from_text(&op.q, SQL_MYSQL, q, (size_t)-1);
	db_begin(&op, &op.q, NULL, CALLER, 0);
	guard_enter();
	int r = real(m, q);
	int e = errno;
	end_conn_call(&op, m, r != 0);
	guard_leave();
	errno = e;
	return r;
}

/* The asynchronous pair: the span runs from the send to the read. */
EXPORT int mysql_send_query(MYSQL *m, const char *q, unsigned long length)
{
	REAL_MY(mysql_send_query);

	if (!real)
		return 1;
	if (!tracing())
		return real(m, q, length);
	struct my_async *a = (struct my_async *)db_table_put(
		asyncs, MY_ASYNC, sizeof(asyncs[0]), m, "");
	if (a) {
		db_query_from_text(&a->op.q, SQL_MYSQL, q, q ? length : 0);
		db_begin(&a->op, &a->op.q, NULL, CALLER, DB_SPLIT);
	}
	guard_enter();
	int r = real(m, q, length);
	int e = errno;
	if (a && r != 0) {
		end_conn_call(&a->op, m, 1);
		db_table_release(&a->hdr);
	}
	guard_leave();
	errno = e;
	return r;
}

EXPORT my_bool mysql_read_query_result(MYSQL *m)
{
	REAL_MY(mysql_read_query_result);

	if (!real)
		return 1;
	if (!init_is_active() || guard_active())
		return real(m);
	guard_enter();
	my_bool r = real(m);
	int e = errno;
	struct my_async *a = my_init() ? (struct my_async *)db_table_get(
		asyncs, MY_ASYNC, sizeof(asyncs[0]), m, "") : NULL;
	if (a) {
		end_conn_call(&a->op, m, r != 0);
		db_table_release(&a->hdr);
	}
	guard_leave();
	errno = e;
	return r;
}

/* ---- prepared statements ----------------------------------------------------- */

EXPORT MYSQL_STMT *mysql_stmt_init(MYSQL *m)
{
	REAL_MY(mysql_stmt_init);

	if (!real)
		return NULL;
	if (!tracing())
		return real(m);
	guard_enter();
	MYSQL_STMT *s = real(m);
	int e = errno;
	if (s) {
		struct my_stmt *st = (struct my_stmt *)db_table_put(
			stmts, MY_STMTS, sizeof(stmts[0]), s, "");
		if (st)
			st->mysql = m;
	}
	guard_leave();
	errno = e;
	return s;
}

static void end_stmt_call(struct db_op *op, MYSQL_STMT *s, int failed)
{
	struct my_stmt *st = (struct my_stmt *)db_table_get(
		stmts, MY_STMTS, sizeof(stmts[0]), s, "");
	struct db_target t;
	struct my_outcome mo;

	target_of(st ? st->mysql : NULL, &t);
	if (failed && my.stmt_errno)
		outcome(&mo, 1, my.stmt_errno(s),
			my.stmt_error ? my.stmt_error(s) : NULL,
			my.stmt_sqlstate ? my.stmt_sqlstate(s) : NULL,
			t.system);
	else
		outcome(&mo, failed, 0, NULL, NULL, t.system);
	db_end(op, &t, &mo.o);
}

EXPORT int mysql_stmt_prepare(MYSQL_STMT *s, const char *q,
			      unsigned long length)
{
	REAL_MY(mysql_stmt_prepare);
	struct db_op op;

	if (!real)
		return 1;
	if (!tracing())
		return real(s, q, length);
	db_query_from_text(&op.q, SQL_MYSQL, q, q ? length : 0);
	struct my_stmt *st = (struct my_stmt *)db_table_get(
		stmts, MY_STMTS, sizeof(stmts[0]), s, "");
	if (st)
		st->q = op.q;
	/* the prepare itself: "PREPARE {summary}" */
	db_query_as_prepare(&op.q);
	db_begin(&op, &op.q, NULL, CALLER, 0);
	guard_enter();
	int r = real(s, q, length);
	int e = errno;
	end_stmt_call(&op, s, r != 0);
	guard_leave();
	errno = e;
	return r;
}

EXPORT int mysql_stmt_execute(MYSQL_STMT *s)
{
	REAL_MY(mysql_stmt_execute);
	struct db_op op;

	if (!real)
		return 1;
	if (!tracing())
		return real(s);
	struct my_stmt *st = (struct my_stmt *)db_table_get(
		stmts, MY_STMTS, sizeof(stmts[0]), s, "");
	if (st)
		op.q = st->q;
	else
		db_query_from_text(&op.q, SQL_MYSQL, NULL, 0);
	db_begin(&op, &op.q, NULL, CALLER, 0);
	guard_enter();
	int r = real(s);
	int e = errno;
	end_stmt_call(&op, s, r != 0);
	guard_leave();
	errno = e;
	return r;
}

EXPORT my_bool mysql_stmt_close(MYSQL_STMT *s)
{
	REAL_MY(mysql_stmt_close);

	if (!real)
		return 1;
	if (init_is_active() && !guard_active()) {
		db_table_drop_key(stmts, MY_STMTS, sizeof(stmts[0]), s);
		guard_enter();
		my_bool r = real(s);
		int e = errno;
		guard_leave();
		errno = e;
		return r;
	}
	return real(s);
}

/* ---- connections --------------------------------------------------------------- */

EXPORT MYSQL *mysql_real_connect(MYSQL *m, const char *host, const char *user,
				 const char *passwd, const char *db,
				 unsigned int port, const char *unix_socket,
				 unsigned long clientflag)
{
	REAL_MY(mysql_real_connect);
	struct db_op op;

	if (!real)
		return NULL;
	if (!tracing())
		return real(m, host, user, passwd, db, port, unix_socket,
			    clientflag);
	db_query_from_text(&op.q, SQL_MYSQL, NULL, 0);
	db_begin(&op, &op.q, "connect", CALLER, 0);
	guard_enter();
	MYSQL *r = real(m, host, user, passwd, db, port, unix_socket,
			clientflag);
	int e = errno;
	struct my_conn *c = (struct my_conn *)db_table_put(
		conns, MY_CONNS, sizeof(conns[0]), m, "");
	if (c) {
		const char *hi = r ? my.host_info(m) : NULL;
		int tcp = hi ? strstr(hi, "TCP/IP") != NULL
			     : host && strcmp(host, "localhost") != 0;
		if (tcp) {
			copy_str(c->address, sizeof(c->address),
				 host && host[0] ? host : "localhost");
			c->port = port ? (int)port : 3306;
		} else {
			copy_str(c->address, sizeof(c->address),
				 unix_socket && unix_socket[0] ? unix_socket
							       : "localhost");
			c->port = 0;
		}
		copy_str(c->db, sizeof(c->db), db);
		const char *si = r ? my.server_info(m) : NULL;
		copy_str(c->system, sizeof(c->system),
			 si && strstr(si, "MariaDB") ? "mariadb" : "mysql");
	}
	uint64_t threshold =
		(uint64_t)config_get()->db_connect_threshold_ms * 1000000u;
	if (!r || db_elapsed_ns(&op) >= threshold)
		end_conn_call(&op, m, r == NULL);
	guard_leave();
	errno = e;
	return r;
}

EXPORT int mysql_select_db(MYSQL *m, const char *db)
{
	REAL_MY(mysql_select_db);

	if (!real)
		return 1;
	if (!tracing())
		return real(m, db);
	guard_enter();
	int r = real(m, db);
	int e = errno;
	struct my_conn *c = conn_of(m);
	if (c && r == 0)
		copy_str(c->db, sizeof(c->db), db);
	guard_leave();
	errno = e;
	return r;
}

EXPORT my_bool mysql_change_user(MYSQL *m, const char *user,
				 const char *passwd, const char *db)
{
	REAL_MY(mysql_change_user);

	if (!real)
		return 1;
	if (!tracing())
		return real(m, user, passwd, db);
	guard_enter();
	my_bool r = real(m, user, passwd, db);
	int e = errno;
	struct my_conn *c = conn_of(m);
	if (c && r == 0)
		copy_str(c->db, sizeof(c->db), db);
	guard_leave();
	errno = e;
	return r;
}

EXPORT void mysql_close(MYSQL *m)
{
	REAL_MY(mysql_close);

	if (!real)
		return;
	if (init_is_active() && !guard_active()) {
		db_table_drop_key(conns, MY_CONNS, sizeof(conns[0]), m);
		db_table_drop_key(asyncs, MY_ASYNC, sizeof(asyncs[0]), m);
		guard_enter();
		real(m);
		guard_leave();
		return;
	}
	real(m);
}
