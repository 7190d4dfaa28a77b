#!/usr/bin/env python3
"""test_db.py - database client spans (issue 4) from real, unmodified
clients talking to real PostgreSQL and MariaDB servers, checked at the
independent OTLP receiver.

  psql_*             psql (libpq linked): a query's CLIENT span, its name,
                     attributes and returned rows; a failing statement
                     (SQLSTATE); literal sanitising, parameter markers,
                     OTELSHIM_DB_QUERY_TEXT=raw|off; a Unix-socket
                     connection; output identical with and without the shim
  mariadb_*          the mariadb command-line client (libmariadb): the same,
                     with the MariaDB error number; USE changes the namespace
  psycopg2           Python psycopg2 (libpq dlopen'ed): simple,
                     client-side parameterised and failing queries, an
                     asynchronous connection whose span ends when the
                     result is read
  mysqldb            Python MySQLdb (libmariadb dlopen'ed): simple,
                     parameterised, failing, mysql_send_query +
                     mysql_read_query_result, select_db
  libpq_prepared     libpq's own API through ctypes: PQprepare,
                     PQexecPrepared, PQexecParams, PQsendPrepare,
                     PQsendQueryPrepared, PQsendQuery (the span ends when
                     PQgetResult returns NULL), an unknown statement name
  mysql_stmt         libmariadb's prepared statements through ctypes:
                     mysql_stmt_prepare + mysql_stmt_execute
  http_service       a preloaded Python HTTP service (db_service.py) that
                     queries both databases while serving: each DB span is
                     the child of that request's SERVER span; nothing else
  semconv_dup        OTEL_SEMCONV_STABILITY_OPT_IN=database/dup: the old
                     attribute names too

Each scenario counts the spans it causes exactly: no HTTP span and no
other span from the database connections' socket traffic. Client scripts
record the wall-clock interval of each step (the library stamps spans with
CLOCK_REALTIME too), so that every span is matched to the call that made
it. The servers (dbservers.py) are started once for the whole file, on
127.0.0.1 in temporary directories, and stopped and deleted at the end,
pass or fail. Without the server programs the file is skipped (exit 77).
"""

import contextlib
import json
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from otlp_harness import (CURL, PYTHON, Receiver, _Child, check,  # noqa: E402
                          check_eq, clean_env, fail, main, preload_value,
                          run)
import dbservers  # noqa: E402
from dbservers import MARIADB, PSQL, MariaDB, Postgres  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DB_SERVICE = os.path.join(HERE, "db_service.py")

KIND_SERVER, KIND_CLIENT = 2, 3
STATUS_UNSET, STATUS_ERROR = 0, 2
OLD_NAMES = ("db.system", "db.name", "db.statement", "net.peer.name",
             "net.peer.port", "db.operation", "db.sql.table")


# ---- the servers: started on first use, stopped when the file ends -------

_stack = contextlib.ExitStack()
_servers = {}


def _server(cls):
    if cls.name not in _servers:
        try:
            _servers[cls.name] = _stack.enter_context(cls())
        except Exception as e:
            _servers[cls.name] = e
    s = _servers[cls.name]
    if isinstance(s, Exception):
        fail(f"{cls.name} did not start: {s}")
    return s


def pg():
    return _server(Postgres)


def my():
    return _server(MariaDB)


# ---- helpers ---------------------------------------------------------------

def psql_args(srv, *sql, host=None):
    args = [PSQL, "-X", "-A", "-t", "-h", host or srv.host, "-p",
            str(srv.port), "-U", srv.user, "-d", srv.dbname]
    for s in sql:
        args += ["-c", s]
    return args


def mariadb_args(srv, sql, db=None):
    return [MARIADB, "--no-defaults", "-h", srv.host, "-P", str(srv.port),
            "-u", srv.user, db or srv.dbname, "-e", sql]


def mariadb_cli_note():
    """Why the mariadb client may yield no spans at all: Debian builds it
    with the client library linked in (no libmariadb.so), so its calls to
    mysql_query and friends are direct calls inside the executable that
    no preloaded library can interpose."""
    try:
        out = run(["ldd", MARIADB], preload=False).out
    except Exception:
        return ""
    if "libmariadb" in out or "libmysqlclient" in out:
        return ""
    return (f" [NOTE: {MARIADB} does not load libmariadb.so or "
            "libmysqlclient.so (ldd): its MySQL client API is linked into "
            "the executable, so LD_PRELOAD cannot interpose mysql_query & "
            "co. there]")


def run_both(args, rx, env=None, what=None):
    """Run args without and then with the shim: exit status, stdout and
    stderr must be the same. Returns the traced run."""
    plain = run(args, preload=False)
    traced = run(args, receiver=rx, env=env)
    check_eq((traced.returncode, traced.out, traced.err),
             (plain.returncode, plain.out, plain.err),
             f"{what or args[0]}: (exit, stdout, stderr) with the shim vs "
             "without")
    return traced


def describe(spans):
    out = []
    for s in spans:
        a = s.get("attributes", {})
        out.append(f"[{s.get('name')!r} kind={s.get('kind')} "
                   f"sys={a.get('db.system.name')} "
                   f"text={a.get('db.query.text')!r} "
                   f"http={a.get('http.request.method')} "
                   f"status={s.get('status', {}).get('code')}]")
    return " ".join(out) if out else "(no spans)"


def db_spans(spans):
    return [s for s in spans if "db.system.name" in s["attributes"]]


def with_text(spans, text):
    return [s for s in spans if s["attributes"].get("db.query.text") == text]


def only_db_client_spans(spans, what):
    """Every span is a database CLIENT span: nothing from the sockets."""
    for s in spans:
        check(s["kind"] == KIND_CLIENT and "db.system.name" in s["attributes"]
              and not any(k.startswith(("http.", "url."))
                          for k in s["attributes"]),
              f"{what}: a span that is not a database CLIENT span: "
              f"{describe([s])}")


def check_db_span(s, system, srv, text, summary, rows=None, error=None,
                  namespace=None, what="", dup=False, parent=""):
    """One database span, attribute by attribute. text None: no
    db.query.text at all. error: the expected db.response.status_code."""
    a, types = s["attributes"], s.get("attribute_types", {})
    what = f"{what} span {s.get('name')!r}"
    check_eq(s["kind"], KIND_CLIENT, f"{what}: kind")
    check_eq(s["name"], summary, f"{what}: name")
    check_eq(a.get("db.system.name"), system, f"{what}: db.system.name")
    check_eq(a.get("db.namespace"), namespace or srv.dbname,
             f"{what}: db.namespace")
    check_eq(a.get("server.address"), srv.host, f"{what}: server.address")
    check_eq((a.get("server.port"), types.get("server.port")),
             (srv.port, "int"), f"{what}: (server.port, type)")
    check_eq(a.get("db.query.text"), text, f"{what}: db.query.text")
    check_eq(a.get("db.query.summary"), summary, f"{what}: db.query.summary")
    if rows is not None and (system == "postgresql" or
                             "db.response.returned_rows" in a):
        # libpq tells the rows with the result; the MySQL API only after
        # mysql_store_result, so for MySQL the attribute is optional
        check_eq((a.get("db.response.returned_rows"),
                  types.get("db.response.returned_rows")), (rows, "int"),
                 f"{what}: (db.response.returned_rows, type)")
    if error is None:
        check_eq(s["status"]["code"], STATUS_UNSET, f"{what}: status code")
        check_eq((a.get("error.type"), a.get("db.response.status_code")),
                 (None, None), f"{what}: (error.type, "
                 "db.response.status_code) on success")
    else:
        check_eq(s["status"]["code"], STATUS_ERROR, f"{what}: status code")
        check_eq((a.get("db.response.status_code"),
                  types.get("db.response.status_code")), (error, "string"),
                 f"{what}: (db.response.status_code, type)")
        check_eq(a.get("error.type"), error, f"{what}: error.type")
    if system == "postgresql":
        # never parsed out of the query text for PostgreSQL (SPEC.md 5.3)
        check_eq((a.get("db.operation.name"), a.get("db.collection.name")),
                 (None, None), f"{what}: (db.operation.name, "
                 "db.collection.name) for PostgreSQL")
    if dup:
        check_eq({k: a.get(k) for k in ("db.system", "db.name",
                                         "db.statement", "net.peer.name",
                                         "net.peer.port")},
                 {"db.system": system, "db.name": namespace or srv.dbname,
                  "db.statement": text, "net.peer.name": srv.host,
                  "net.peer.port": srv.port},
                 f"{what}: old attribute names with database/dup")
        check_eq(types.get("net.peer.port"), "int", f"{what}: net.peer.port "
                 "type")
    else:
        check_eq([k for k in OLD_NAMES if k in a], [],
                 f"{what}: old attribute names without database/dup")
    check_eq(s["parent_span_id"], parent, f"{what}: parent span id")
    check(int(s["start"]) <= int(s["end"]), f"{what}: start <= end")


def by_step(spans, steps):
    """Map each step of a client script (name -> {"t0", "t1"}) to the
    spans that started and ended inside its interval; spans outside every
    interval go to None."""
    out = {name: [] for name in steps}
    out[None] = []
    for s in spans:
        st, en = int(s["start"]), int(s["end"])
        for name, w in steps.items():
            if w["t0"] <= st and en <= w["t1"]:
                out[name].append(s)
                break
        else:
            out[None].append(s)
    return out


def run_script(code, rx, args, env=None, what="script"):
    """Run Python code preloaded; it prints one JSON object (its steps)."""
    r = run([PYTHON, "-c", code] + [str(a) for a in args], receiver=rx,
            env=env)
    check_eq(r.returncode, 0, f"{what} exit status ({r.err[-1500:]})")
    try:
        return json.loads(r.out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        fail(f"{what} printed no JSON: {r.out[-500:]!r} {r.err[-1000:]!r}")


SQL_SELECT = "SELECT * FROM orders WHERE id = 42"
SAN_SELECT = "SELECT * FROM orders WHERE id = ?"


# ---- psql --------------------------------------------------------------------

def test_psql_select():
    srv = pg()
    with Receiver() as rx:
        r = run_both(psql_args(srv, SQL_SELECT), rx, what="psql")
        check_eq(r.out, "42|widget|7\n", "psql output")
        r = run_both(psql_args(srv, "SELECT id FROM orders ORDER BY id"), rx,
                     what="psql")
        check_eq(r.out, "1\n2\n7\n42\n", "psql output")
        spans = rx.wait_spans(2)
        rx.check_clean()
        check_eq(len(spans), 2, f"one span per psql query, nothing else: "
                 f"{describe(spans)}")
        only_db_client_spans(spans, "psql")
        one = with_text(spans, SAN_SELECT)
        check_eq(len(one), 1, f"span of {SQL_SELECT!r}: {describe(spans)}")
        check_db_span(one[0], "postgresql", srv, SAN_SELECT, "SELECT orders",
                      rows=1, what="psql")
        check(int(one[0]["start"]) >= r.t0_ns - 60_000_000_000,
              "span time is wall-clock time")
        all4 = with_text(spans, "SELECT id FROM orders ORDER BY id")
        check_eq(len(all4), 1, f"span of the full select: {describe(spans)}")
        check_db_span(all4[0], "postgresql", srv,
                      "SELECT id FROM orders ORDER BY id", "SELECT orders",
                      rows=4, what="psql")
        check(one[0]["trace_id"] != all4[0]["trace_id"],
              "each psql run is its own trace")


def test_psql_error():
    srv = pg()
    with Receiver() as rx:
        r = run_both(psql_args(srv, "SELECT * FROM nosuch"), rx, what="psql")
        check_eq(r.returncode, 1, "psql exit status for a failing query")
        check('relation "nosuch" does not exist' in r.err,
              f"psql's error message: {r.err!r}")
        spans = rx.wait_spans(1)
        rx.check_clean()
        check_eq(len(spans), 1, f"one span: {describe(spans)}")
        only_db_client_spans(spans, "psql")
        check_db_span(spans[0], "postgresql", srv, "SELECT * FROM nosuch",
                      "SELECT nosuch", error="42P01", what="failing psql")


SECRET_PG = ("SELECT id FROM orders WHERE item = 'secret1' "
             "OR item = E'it\\'s secret2' OR item = $q$secret3$q$ "
             "OR qty = 31337 OR qty = 1.5e3")
SECRET_PG_SAN = ("SELECT id FROM orders WHERE item = ? OR item = ? "
                 "OR item = ? OR qty = ? OR qty = ?")
PREPARE_SQL = "PREPARE byid(int) AS SELECT item FROM orders WHERE id = $1"


def test_psql_sanitize_and_modes():
    srv = pg()
    with Receiver() as rx:
        for mode in (None, "sanitized", "raw", "off"):
            env = {"OTELSHIM_DB_QUERY_TEXT": mode, "OTEL_SERVICE_NAME":
                   f"mode-{mode}"}
            r = run_both(psql_args(srv, SECRET_PG, PREPARE_SQL,
                                   "EXECUTE byid(42)"), rx, env=env,
                         what=f"psql (OTELSHIM_DB_QUERY_TEXT={mode})")
            check_eq(r.out, "PREPARE\nwidget\n", "psql output")
        spans = rx.wait_spans(12)
        rx.check_clean()
        check_eq(len(spans), 12, f"3 spans per psql run: {describe(spans)}")
        only_db_client_spans(spans, "psql")
        for mode in (None, "sanitized", "raw", "off"):
            mine = sorted((s for s in spans if s["resource"].get(
                "service.name") == f"mode-{mode}"), key=lambda s: s["start"])
            what = f"OTELSHIM_DB_QUERY_TEXT={mode}"
            check_eq(len(mine), 3, f"{what}: spans {describe(mine)}")
            want = {None: SECRET_PG_SAN, "sanitized": SECRET_PG_SAN,
                    "raw": SECRET_PG, "off": None}[mode]
            check_db_span(mine[0], "postgresql", srv, want, "SELECT orders",
                          rows=0, what=what)
            if mode != "raw":
                blob = json.dumps(mine)
                check("secret" not in blob and "31337" not in blob,
                      f"{what}: a literal leaked: {describe(mine)}")
            # the PREPARE text has no literal: its $1 marker is kept as is
            a = mine[1]["attributes"]
            check_eq(a.get("db.query.text"),
                     None if mode == "off" else PREPARE_SQL,
                     f"{what}: PREPARE text")
            a = mine[2]["attributes"]
            check_eq(a.get("db.query.text"),
                     {"raw": "EXECUTE byid(42)", "off": None}.get(
                         mode, "EXECUTE byid(?)"), f"{what}: EXECUTE text")
            check_eq(a.get("db.response.returned_rows"), 1,
                     f"{what}: EXECUTE rows")
            for s in mine:
                check_eq(s["status"]["code"], STATUS_UNSET,
                         f"{what}: status")
                check(s["name"] and s["name"] == s["attributes"].get(
                    "db.query.summary", s["name"]),
                      f"{what}: span name is the summary: {describe([s])}")


def test_psql_unix_socket():
    srv = pg()
    with Receiver() as rx:
        r = run_both(psql_args(srv, SQL_SELECT, host=srv.socket), rx,
                     what="psql over the Unix socket")
        check_eq(r.out, "42|widget|7\n", "psql output")
        spans = rx.wait_spans(1)
        rx.check_clean()
        check_eq(len(spans), 1, f"one span: {describe(spans)}")
        only_db_client_spans(spans, "psql")
        s = spans[0]
        a = s["attributes"]
        check_eq((s["name"], a.get("db.system.name"), a.get("db.namespace"),
                  a.get("db.query.text")),
                 ("SELECT orders", "postgresql", "shop", SAN_SELECT),
                 "(name, system, namespace, text)")
        sock = os.path.join(srv.socket, f".s.PGSQL.{srv.port}")
        check(a.get("server.address") in (srv.socket, sock),
              f"server.address of a Unix-socket connection is the socket "
              f"(directory or path): {a.get('server.address')!r}")


# ---- the mariadb client ------------------------------------------------------

def test_mariadb_select():
    srv = my()
    with Receiver() as rx:
        r = run_both(mariadb_args(srv, SQL_SELECT), rx, what="mariadb")
        check_eq(r.out, "id\titem\tqty\n42\twidget\t7\n", "mariadb output")
        r = run_both(mariadb_args(srv, "SELECT id FROM orders ORDER BY id"),
                     rx, what="mariadb")
        spans = rx.wait_spans(2)
        rx.check_clean()
        only_db_client_spans(spans, "mariadb")
        one = with_text(spans, SAN_SELECT)
        check_eq(len(one), 1, f"span of {SQL_SELECT!r}: {describe(spans)}"
                 + ("" if spans else mariadb_cli_note()))
        check_db_span(one[0], "mariadb", srv, SAN_SELECT, "SELECT orders",
                      rows=1, what="mariadb")
        all4 = with_text(spans, "SELECT id FROM orders ORDER BY id")
        check_eq(len(all4), 1, f"span of the full select: {describe(spans)}")
        check_db_span(all4[0], "mariadb", srv,
                      "SELECT id FROM orders ORDER BY id", "SELECT orders",
                      rows=4, what="mariadb")
        for s in spans:
            # the client's own statements (if any): same system, namespace
            check_eq((s["attributes"].get("db.system.name"),
                      s["attributes"].get("server.port")),
                     ("mariadb", srv.port), f"every span: {describe([s])}")


def test_mariadb_error():
    srv = my()
    with Receiver() as rx:
        r = run_both(mariadb_args(srv, "SELECT * FROM nosuch"), rx,
                     what="mariadb")
        check_eq(r.returncode, 1, "mariadb exit status for a failing query")
        check("ERROR 1146" in r.err, f"mariadb's error message: {r.err!r}")
        spans = rx.wait_spans(1)
        rx.check_clean()
        only_db_client_spans(spans, "mariadb")
        got = with_text(spans, "SELECT * FROM nosuch")
        check_eq(len(got), 1, f"span of the failing query: {describe(spans)}"
                 + ("" if spans else mariadb_cli_note()))
        check_db_span(got[0], "mariadb", srv, "SELECT * FROM nosuch",
                      "SELECT nosuch", error="1146", what="failing mariadb")


SECRET_MY = ("SELECT id FROM orders WHERE item = 'secret1' "
             "OR item = \"secret2\" OR item = 'it\\'s secret3' "
             "OR qty = 31337 OR qty = 0x7a69")
SECRET_MY_SAN = ("SELECT id FROM orders WHERE item = ? OR item = ? "
                 "OR item = ? OR qty = ? OR qty = ?")


def test_mariadb_sanitize_and_use():
    srv = my()
    with Receiver() as rx:
        for mode in (None, "raw", "off"):
            env = {"OTELSHIM_DB_QUERY_TEXT": mode,
                   "OTEL_SERVICE_NAME": f"mode-{mode}"}
            r = run_both(mariadb_args(srv, SECRET_MY), rx, env=env,
                         what=f"mariadb (OTELSHIM_DB_QUERY_TEXT={mode})")
            check_eq(r.out, "", "no rows")
        # USE (mysql_select_db) changes the namespace of what follows
        r = run_both(mariadb_args(srv, "SELECT id FROM orders WHERE id = 1; "
                                  "use mysql; SELECT COUNT(*) FROM db"), rx,
                     env={"OTEL_SERVICE_NAME": "use"}, what="mariadb use")
        spans = rx.wait_spans(5)
        rx.check_clean()
        only_db_client_spans(spans, "mariadb")
        for mode in (None, "raw", "off"):
            what = f"OTELSHIM_DB_QUERY_TEXT={mode}"
            mine = [s for s in spans if s["resource"].get("service.name") ==
                    f"mode-{mode}" and s["name"] == "SELECT orders"]
            check_eq(len(mine), 1, f"{what}: {describe(spans)}" +
                     ("" if spans else mariadb_cli_note()))
            want = {None: SECRET_MY_SAN, "raw": SECRET_MY, "off": None}[mode]
            check_db_span(mine[0], "mariadb", srv, want, "SELECT orders",
                          rows=0, what=what)
            if mode != "raw":
                blob = json.dumps(mine)
                check("secret" not in blob and "31337" not in blob and
                      "7a69" not in blob, f"{what}: a literal leaked: "
                      f"{describe(mine)}")
        mine = [s for s in spans if s["resource"].get("service.name") == "use"]
        a = with_text(mine, "SELECT id FROM orders WHERE id = ?")
        check_eq(len(a), 1, f"first query of the use run: {describe(mine)}")
        check_db_span(a[0], "mariadb", srv,
                      "SELECT id FROM orders WHERE id = ?", "SELECT orders",
                      rows=1, what="before use")
        b = with_text(mine, "SELECT COUNT(*) FROM db")
        check_eq(len(b), 1, f"query after use: {describe(mine)}")
        check_db_span(b[0], "mariadb", srv, "SELECT COUNT(*) FROM db",
                      "SELECT db", rows=1, namespace="mysql",
                      what="after use mysql")


# ---- Python clients: psycopg2 and MySQLdb (libraries dlopen'ed) ------------

PSYCOPG2_SCRIPT = r'''
import json, sys, time
import psycopg2, psycopg2.extras
dsn = sys.argv[1]
steps = {}

def step(name, fn):
    t0 = time.time_ns()
    try:
        res, err = fn(), None
    except psycopg2.Error as e:
        res, err = None, e.pgcode
    steps[name] = {"t0": t0, "t1": time.time_ns(), "result": res, "error": err}

conn = psycopg2.connect(dsn)
conn.autocommit = True
cur = conn.cursor()

def q(sql, args=None):
    def f():
        cur.execute(sql, args)
        return [list(r) for r in cur.fetchall()]
    return f

step("simple", q("SELECT item FROM orders WHERE id = 42"))
step("param", q("SELECT item FROM orders WHERE id = %s AND item <> %s",
                (7, "secret")))
step("fail", q("SELECT * FROM nosuch"))
step("after", q("SELECT count(*) FROM orders"))
conn.close()

# an asynchronous connection: the query's span ends when the result is read
a = psycopg2.connect(dsn, async_=1)
psycopg2.extras.wait_select(a)
acur = a.cursor()
t0 = time.time_ns()
acur.execute("SELECT item FROM orders WHERE id = 2")
sent = time.time_ns()
time.sleep(0.3)
psycopg2.extras.wait_select(a)
rows = [list(r) for r in acur.fetchall()]
steps["async"] = {"t0": t0, "t1": time.time_ns(), "sent": sent,
                  "result": rows, "error": None}
a.close()
print(json.dumps(steps))
'''


def test_psycopg2():
    srv = pg()
    with Receiver() as rx:
        steps = run_script(PSYCOPG2_SCRIPT, rx, [srv.dsn], what="psycopg2")
        check_eq({k: (v["result"], v["error"]) for k, v in steps.items()},
                 {"simple": ([["widget"]], None), "param": ([["plum"]], None),
                  "fail": (None, "42P01"), "after": ([[4]], None),
                  "async": ([["pear"]], None)}, "psycopg2 results")
        spans = rx.wait_spans(5)
        rx.check_clean()
        check_eq(len(spans), 5, f"one span per query: {describe(spans)}")
        only_db_client_spans(spans, "psycopg2")
        got = by_step(spans, steps)
        check_eq({k: len(v) for k, v in got.items()},
                 {"simple": 1, "param": 1, "fail": 1, "after": 1, "async": 1,
                  None: 0}, f"spans per step: {describe(spans)}")
        check_db_span(got["simple"][0], "postgresql", srv,
                      "SELECT item FROM orders WHERE id = ?", "SELECT orders",
                      rows=1, what="psycopg2 simple")
        # psycopg2 puts the parameters into the text itself: literals
        check_db_span(got["param"][0], "postgresql", srv,
                      "SELECT item FROM orders WHERE id = ? AND item <> ?",
                      "SELECT orders", rows=1, what="psycopg2 parameterised")
        check_db_span(got["fail"][0], "postgresql", srv,
                      "SELECT * FROM nosuch", "SELECT nosuch", error="42P01",
                      what="psycopg2 failing")
        check_db_span(got["after"][0], "postgresql", srv,
                      "SELECT count(*) FROM orders", "SELECT orders", rows=1,
                      what="psycopg2 after the failure")
        s = got["async"][0]
        check_db_span(s, "postgresql", srv,
                      "SELECT item FROM orders WHERE id = ?", "SELECT orders",
                      rows=1, what="psycopg2 async")
        check(int(s["start"]) <= steps["async"]["sent"],
              "async span starts when the query is sent")
        check(int(s["end"]) - steps["async"]["sent"] >= 300_000_000,
              f"async span ends when the result is read (0.3 s after it was "
              f"sent), not before: {(int(s['end']) - int(s['start'])) / 1e6} "
              "ms long")
        check(len({s["trace_id"] for s in spans}) == 5,
              "each top-level query is its own trace")


MYSQLDB_SCRIPT = r'''
import json, sys, time
import MySQLdb
host, port, user, db = sys.argv[1:5]
steps = {}

def step(name, fn):
    t0 = time.time_ns()
    try:
        res, err = fn(), None
    except MySQLdb.Error as e:
        res, err = None, e.args[0]
    steps[name] = {"t0": t0, "t1": time.time_ns(), "result": res, "error": err}

conn = MySQLdb.connect(host=host, port=int(port), user=user, db=db)
conn.autocommit(True)
cur = conn.cursor()

def q(sql, args=None):
    def f():
        cur.execute(sql, args)
        return [list(r) for r in cur.fetchall()]
    return f

step("simple", q("SELECT item FROM orders WHERE id = 42"))
step("param", q("SELECT item FROM orders WHERE id = %s AND item <> %s",
                (7, "secret")))
step("fail", q("SELECT * FROM nosuch"))

def send_read():
    conn.send_query(b"SELECT item FROM orders WHERE id = 1")
    time.sleep(0.3)
    conn.read_query_result()
    r = conn.store_result()
    return [list(x) for x in r.fetch_row(maxrows=0)]
step("send_read", send_read)

def select_db():
    conn.select_db("mysql")
    return None
step("select_db", select_db)
step("after", q("SELECT COUNT(*) FROM db WHERE Db = 'none'"))
conn.close()
print(json.dumps(steps))
'''


def test_mysqldb():
    srv = my()
    with Receiver() as rx:
        steps = run_script(MYSQLDB_SCRIPT, rx,
                           [srv.host, srv.port, srv.user, srv.dbname],
                           what="MySQLdb")
        check_eq({k: (v["result"], v["error"]) for k, v in steps.items()},
                 {"simple": ([["widget"]], None), "param": ([["plum"]], None),
                  "fail": (None, 1146), "send_read": ([["apple"]], None),
                  "select_db": (None, None), "after": ([[0]], None)},
                 "MySQLdb results")
        spans = rx.wait_spans(5)
        rx.check_clean()
        only_db_client_spans(spans, "MySQLdb")
        got = by_step(spans, steps)
        for k in ("simple", "param", "fail", "send_read", "after"):
            check_eq(len(got[k]), 1, f"spans of step {k}: "
                     f"{describe(got[k])}")
        check_db_span(got["simple"][0], "mariadb", srv,
                      "SELECT item FROM orders WHERE id = ?", "SELECT orders",
                      rows=1, what="MySQLdb simple")
        check_db_span(got["param"][0], "mariadb", srv,
                      "SELECT item FROM orders WHERE id = ? AND item <> ?",
                      "SELECT orders", rows=1, what="MySQLdb parameterised")
        check_db_span(got["fail"][0], "mariadb", srv, "SELECT * FROM nosuch",
                      "SELECT nosuch", error="1146", what="MySQLdb failing")
        s = got["send_read"][0]
        check_db_span(s, "mariadb", srv,
                      "SELECT item FROM orders WHERE id = ?", "SELECT orders",
                      what="MySQLdb send_query + read_query_result")
        check(int(s["end"]) - steps["send_read"]["t0"] >= 300_000_000,
              "mysql_send_query's span ends with mysql_read_query_result")
        check_db_span(got["after"][0], "mariadb", srv,
                      "SELECT COUNT(*) FROM db WHERE Db = ?", "SELECT db",
                      rows=1, namespace="mysql", what="MySQLdb after select_db")
        # select_db itself may or may not have a span of its own; what the
        # connection did outside the steps (connect, SET autocommit) may
        # only be database spans of this server
        for s in got["select_db"] + got[None]:
            check_eq((s["attributes"].get("db.system.name"),
                      s["attributes"].get("server.port")),
                     ("mariadb", srv.port), f"other span {describe([s])}")
            check(s["attributes"].get("db.query.text") not in
                  ("SELECT item FROM orders WHERE id = ?",),
                  f"a query span outside its step: {describe([s])}")


# ---- libpq's own API (ctypes: a real client of the C functions) ------------

LIBPQ_SCRIPT = r'''
import ctypes, json, sys, time
# Calls resolve through the global scope, as in a C program linked with
# libpq (a symbol looked up in libpq's own handle would bypass LD_PRELOAD)
ctypes.CDLL("libpq.so.5", mode=ctypes.RTLD_GLOBAL)
pq = ctypes.CDLL(None)
P, S, I = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
for name, res, args in [
        ("PQconnectdb", P, [S]), ("PQstatus", I, [P]), ("PQfinish", None, [P]),
        ("PQprepare", P, [P, S, S, I, P]),
        ("PQexecPrepared", P, [P, S, I, P, P, P, I]),
        ("PQexecParams", P, [P, S, I, P, P, P, P, I]),
        ("PQsendPrepare", I, [P, S, S, I, P]),
        ("PQsendQueryPrepared", I, [P, S, I, P, P, P, I]),
        ("PQsendQuery", I, [P, S]), ("PQgetResult", P, [P]),
        ("PQresultStatus", I, [P]), ("PQntuples", I, [P]),
        ("PQgetvalue", S, [P, I, I]), ("PQclear", None, [P]),
        ("PQresultErrorField", S, [P, I]), ("PQerrorMessage", S, [P])]:
    f = getattr(pq, name)
    f.restype, f.argtypes = res, args
PG_DIAG_SQLSTATE = ord("C")
conn = pq.PQconnectdb(sys.argv[1].encode())
assert pq.PQstatus(conn) == 0, pq.PQerrorMessage(conn)

def params(*vals):
    arr = (S * len(vals))(*[v.encode() for v in vals])
    return ctypes.cast(arr, P)

def outcome(res):
    st = pq.PQresultStatus(res)
    out = {"status": st, "rows": [pq.PQgetvalue(res, i, 0).decode()
                                  for i in range(pq.PQntuples(res))]}
    code = pq.PQresultErrorField(res, PG_DIAG_SQLSTATE)
    out["sqlstate"] = code.decode() if code else None
    pq.PQclear(res)
    return out

def drain():
    outs = []
    while True:
        res = pq.PQgetResult(conn)
        if not res:
            return outs
        outs.append(outcome(res))

steps = {}
def step(name, fn, wait=0):
    t0 = time.time_ns()
    r = fn()
    sent = time.time_ns()
    if wait:                # an asynchronous call: read its results later
        time.sleep(wait)
        r = drain()
    steps[name] = {"t0": t0, "t1": time.time_ns(), "sent": sent, "result": r}

step("prepare", lambda: outcome(pq.PQprepare(
    conn, b"get_item", b"SELECT item FROM orders WHERE id = $1", 1, None)))
step("exec1", lambda: outcome(pq.PQexecPrepared(
    conn, b"get_item", 1, params("42"), None, None, 0)))
step("exec2", lambda: outcome(pq.PQexecPrepared(
    conn, b"get_item", 1, params("7"), None, None, 0)))
step("params", lambda: outcome(pq.PQexecParams(
    conn, b"SELECT item FROM orders WHERE qty > $1 ORDER BY id", 1, None,
    params("5"), None, None, 0)))
step("unnamed_prepare", lambda: outcome(pq.PQprepare(
    conn, b"", b"SELECT qty FROM orders WHERE item = $1", 1, None)))
step("unnamed_exec", lambda: outcome(pq.PQexecPrepared(
    conn, b"", 1, params("pear"), None, None, 0)))
step("send_prepare", lambda: pq.PQsendPrepare(
    conn, b"by_qty", b"SELECT id FROM orders WHERE qty = $1", 1, None),
    wait=0.01)
step("send_exec", lambda: pq.PQsendQueryPrepared(
    conn, b"by_qty", 1, params("3"), None, None, 0), wait=0.3)
step("send_query", lambda: pq.PQsendQuery(
    conn, b"SELECT item FROM orders WHERE id = 7"), wait=0.3)
step("bad_name", lambda: outcome(pq.PQexecPrepared(
    conn, b"no_such_statement", 0, None, None, None, 0)))
pq.PQfinish(conn)
print(json.dumps(steps))
'''


def test_libpq_prepared():
    srv = pg()
    with Receiver() as rx:
        steps = run_script(LIBPQ_SCRIPT, rx, [srv.dsn], what="libpq ctypes")
        sent = {k: v["sent"] for k, v in steps.items()}
        ok = {"status": 1, "rows": [], "sqlstate": None}

        def tuples(*rows):
            return {"status": 2, "rows": list(rows), "sqlstate": None}
        check_eq({k: v["result"] for k, v in steps.items()},
                 {"prepare": ok, "exec1": tuples("widget"),
                  "exec2": tuples("plum"),
                  "params": tuples("pear", "plum", "widget"),
                  "unnamed_prepare": ok, "unnamed_exec": tuples("10"),
                  "send_prepare": [ok], "send_exec": [tuples("1")],
                  "send_query": [tuples("plum")],
                  "bad_name": {"status": 7, "rows": [], "sqlstate": "26000"}},
                 "libpq results")
        spans = rx.wait_spans(8)
        rx.check_clean()
        only_db_client_spans(spans, "libpq")
        got = by_step(spans, steps)
        check_eq(len(got[None]), 0, f"spans outside the calls: "
                 f"{describe(got[None])}")
        # preparing may or may not be a span of its own (one at most)
        for k in ("prepare", "unnamed_prepare", "send_prepare"):
            check(len(got[k]) <= 1, f"{k}: {describe(got[k])}")
        for k in ("exec1", "exec2", "params", "unnamed_exec", "send_exec",
                  "send_query", "bad_name"):
            check_eq(len(got[k]), 1, f"spans of {k}: {describe(got[k])}")
        # executions carry the prepared statement's text and summary;
        # parameterised text is kept as it is
        get_item = "SELECT item FROM orders WHERE id = $1"
        check_db_span(got["exec1"][0], "postgresql", srv, get_item,
                      "SELECT orders", rows=1, what="PQexecPrepared")
        check_db_span(got["exec2"][0], "postgresql", srv, get_item,
                      "SELECT orders", rows=1, what="PQexecPrepared again")
        check_db_span(got["params"][0], "postgresql", srv,
                      "SELECT item FROM orders WHERE qty > $1 ORDER BY id",
                      "SELECT orders", rows=3, what="PQexecParams")
        check_db_span(got["unnamed_exec"][0], "postgresql", srv,
                      "SELECT qty FROM orders WHERE item = $1",
                      "SELECT orders", rows=1,
                      what="PQexecPrepared of the unnamed statement")
        s = got["send_exec"][0]
        check_db_span(s, "postgresql", srv,
                      "SELECT id FROM orders WHERE qty = $1", "SELECT orders",
                      rows=1, what="PQsendQueryPrepared")
        check(int(s["end"]) - sent["send_exec"] >= 300_000_000,
              "PQsendQueryPrepared's span ends when PQgetResult returns NULL")
        s = got["send_query"][0]
        check_db_span(s, "postgresql", srv,
                      "SELECT item FROM orders WHERE id = ?", "SELECT orders",
                      rows=1, what="PQsendQuery")
        check(int(s["end"]) - sent["send_query"] >= 300_000_000,
              "PQsendQuery's span ends when PQgetResult returns NULL")
        s = got["bad_name"][0]
        check_eq((s["status"]["code"],
                  s["attributes"].get("db.response.status_code"),
                  s["attributes"].get("error.type"),
                  s["attributes"].get("db.system.name")),
                 (STATUS_ERROR, "26000", "26000", "postgresql"),
                 "unknown prepared statement: (status, status_code, "
                 "error.type, system)")


LIBMARIADB_SCRIPT = r'''
import ctypes, json, sys, time
# resolved through the global scope, as in a C program linked with it
ctypes.CDLL("libmariadb.so.3", mode=ctypes.RTLD_GLOBAL)
my = ctypes.CDLL(None)
P, S, I, UL = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_ulong

class Bind(ctypes.Structure):      # MYSQL_BIND of <mariadb/mariadb_stmt.h>
    _fields_ = [("length", P), ("is_null", P), ("buffer", P), ("error", P),
                ("u", P), ("store_param_func", P), ("fetch_result", P),
                ("skip_result", P), ("buffer_length", UL), ("offset", UL),
                ("length_value", UL), ("flags", ctypes.c_uint),
                ("pack_length", ctypes.c_uint), ("buffer_type", I),
                ("error_value", ctypes.c_char), ("is_unsigned", ctypes.c_char),
                ("long_data_used", ctypes.c_char),
                ("is_null_value", ctypes.c_char), ("extension", P)]

for name, res, args in [
        ("mysql_init", P, [P]),
        ("mysql_real_connect", P, [P, S, S, S, S, ctypes.c_uint, S, UL]),
        ("mysql_error", S, [P]), ("mysql_close", None, [P]),
        ("mysql_stmt_init", P, [P]),
        ("mysql_stmt_prepare", I, [P, S, UL]),
        ("mysql_stmt_bind_param", ctypes.c_char, [P, P]),
        ("mysql_stmt_execute", I, [P]), ("mysql_stmt_store_result", I, [P]),
        ("mysql_stmt_num_rows", ctypes.c_ulonglong, [P]),
        ("mysql_stmt_free_result", ctypes.c_char, [P]),
        ("mysql_stmt_errno", ctypes.c_uint, [P]),
        ("mysql_stmt_close", ctypes.c_char, [P])]:
    f = getattr(my, name)
    f.restype, f.argtypes = res, args

host, port, user, db = sys.argv[1:5]
m = my.mysql_init(None)
assert my.mysql_real_connect(m, host.encode(), user.encode(), None,
                             db.encode(), int(port), None, 0), my.mysql_error(m)
steps = {}
def step(name, fn):
    t0 = time.time_ns()
    r = fn()
    steps[name] = {"t0": t0, "t1": time.time_ns(), "result": r}

stmt = my.mysql_stmt_init(m)
q = b"SELECT item FROM orders WHERE id = ?"
step("prepare", lambda: my.mysql_stmt_prepare(stmt, q, len(q)))
val = ctypes.c_int(0)
b = Bind()
b.buffer = ctypes.cast(ctypes.pointer(val), P)
b.buffer_type = 3                  # MYSQL_TYPE_LONG
assert my.mysql_stmt_bind_param(stmt, ctypes.byref(b)) == b"\0"

def execute(v):
    def f():
        val.value = v
        rc = my.mysql_stmt_execute(stmt)
        if rc:
            return {"rc": rc, "errno": my.mysql_stmt_errno(stmt)}
        my.mysql_stmt_store_result(stmt)
        n = my.mysql_stmt_num_rows(stmt)
        my.mysql_stmt_free_result(stmt)
        return {"rc": rc, "rows": n}
    return f
step("exec42", execute(42))
step("exec5", execute(5))
bad = my.mysql_stmt_init(m)
qb = b"SELECT * FROM nosuch WHERE id = ?"
step("bad_prepare", lambda: [my.mysql_stmt_prepare(bad, qb, len(qb)),
                             my.mysql_stmt_errno(bad)])
my.mysql_stmt_close(bad)
my.mysql_stmt_close(stmt)
my.mysql_close(m)
print(json.dumps(steps))
'''


def test_mysql_stmt():
    srv = my()
    with Receiver() as rx:
        steps = run_script(LIBMARIADB_SCRIPT, rx,
                           [srv.host, srv.port, srv.user, srv.dbname],
                           what="libmariadb ctypes")
        check_eq({k: v["result"] for k, v in steps.items()},
                 {"prepare": 0, "exec42": {"rc": 0, "rows": 1},
                  "exec5": {"rc": 0, "rows": 0}, "bad_prepare": [1, 1146]},
                 "libmariadb results")
        spans = rx.wait_spans(3)
        rx.check_clean()
        only_db_client_spans(spans, "libmariadb")
        got = by_step(spans, steps)
        check(len(got["prepare"]) <= 1, f"prepare: {describe(got['prepare'])}")
        for k in ("exec42", "exec5"):
            check_eq(len(got[k]), 1, f"spans of {k}: {describe(got[k])}")
            check_db_span(got[k][0], "mariadb", srv,
                          "SELECT item FROM orders WHERE id = ?",
                          "SELECT orders", what=f"mysql_stmt_execute {k}")
        # a statement that fails to prepare: that failure is on a span
        check_eq(len(got["bad_prepare"]), 1,
                 f"failing mysql_stmt_prepare: {describe(got['bad_prepare'])}")
        s = got["bad_prepare"][0]
        check_eq((s["status"]["code"],
                  s["attributes"].get("db.response.status_code"),
                  s["attributes"].get("error.type")),
                 (STATUS_ERROR, "1146", "1146"),
                 "failing prepare: (status, status_code, error.type)")


# ---- a preloaded HTTP service querying both databases ------------------------

class DbService(_Child):
    name = "db_service.py"

    def __init__(self, rx, pgs, mys):
        env = clean_env()
        env["LD_PRELOAD"] = preload_value()
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = rx.endpoint
        env["OTEL_BSP_SCHEDULE_DELAY"] = "100"
        env["OTEL_SERVICE_NAME"] = "db-service"
        super().__init__([PYTHON, DB_SERVICE, "--pg", pgs.dsn, "--my",
                          f"{mys.host}:{mys.port}:{mys.user}:{mys.dbname}"],
                         env=env)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


def test_http_service():
    pgs, mys = pg(), my()
    paths = {"/pg/42": (200, "widget\n"), "/my/7": (200, "plum\n"),
             "/pg-fail": (500, None), "/my-fail": (500, None)}
    with Receiver() as rx:
        with DbService(rx, pgs, mys) as svc:
            for p, (code, body) in paths.items():
                r = run([CURL, "-s", "-S", "-o", "/dev/stderr", "-w",
                         "%{http_code}", svc.url(p)], preload=False)
                check_eq(r.out, str(code), f"status of {p} ({r.err!r})")
                if body is not None:
                    check_eq(r.err, body, f"body of {p}")
            rx.wait_spans(2 * len(paths), timeout=5)
        # the service has exited and flushed
        spans = rx.wait_spans(2 * len(paths), timeout=1, settle=0.2)
        rx.check_clean()
        servers = [s for s in spans if s["kind"] == KIND_SERVER]
        check_eq(sorted(s["attributes"].get("url.path") for s in servers),
                 sorted(paths), f"SERVER spans: {describe(servers)}")
        others = [s for s in spans if s["kind"] != KIND_SERVER]
        only_db_client_spans(others, "service")
        for p in paths:
            srv = [s for s in servers if s["attributes"].get("url.path") == p][0]
            check_eq(srv["attributes"].get("http.response.status_code"),
                     paths[p][0], f"{p}: SERVER status code")
            kids = [s for s in spans if s["trace_id"] == srv["trace_id"]
                    and s is not srv]
            # the one query (MySQLdb's own "SET autocommit" statements, if
            # the library reports them, are real statements too)
            query = [s for s in kids if not (s["attributes"].get(
                "db.query.text") or "").startswith("SET autocommit")]
            check_eq(len(query), 1, f"{p}: spans in the request's trace "
                     f"besides its SERVER span: {describe(kids)}")
            for s in kids:
                check_eq(s["parent_span_id"], srv["span_id"],
                         f"{p}: the DB span is a child of the request's "
                         f"SERVER span: {describe([s])}")
                check(int(srv["start"]) <= int(s["start"]) and
                      int(s["end"]) <= int(srv["end"]),
                      f"{p}: the DB span lies within the SERVER span")
            q = query[0]
            system, dbsrv = ("postgresql", pgs) if p.startswith("/pg") \
                else ("mariadb", mys)
            if p.endswith("-fail"):
                check_db_span(q, system, dbsrv, "SELECT * FROM nosuch",
                              "SELECT nosuch", what=p, parent=srv["span_id"],
                              error="42P01" if system == "postgresql"
                              else "1146")
            else:
                check_db_span(q, system, dbsrv,
                              "SELECT item FROM orders WHERE id = ?",
                              "SELECT orders", rows=1, what=p,
                              parent=srv["span_id"])
        check_eq(len({s["trace_id"] for s in servers}), len(paths),
                 "one trace per request")
        check_eq(len([s for s in spans if s["trace_id"] not in
                      {x["trace_id"] for x in servers}]), 0,
                 f"spans outside the requests' traces: {describe(spans)}")


# ---- old attribute names -----------------------------------------------------

DUP_MYSQLDB = r'''
import sys, MySQLdb
host, port, user, db = sys.argv[1:5]
c = MySQLdb.connect(host=host, port=int(port), user=user, db=db)
cur = c.cursor()
cur.execute("SELECT * FROM orders WHERE id = 42")
print(cur.fetchall())
c.close()
print("{}")
'''


# ---- pipeline mode passes through; failed connections are spans -------------

PIPELINE_SCRIPT = r'''
import ctypes, json, sys, time
ctypes.CDLL("libpq.so.5", mode=ctypes.RTLD_GLOBAL)
pq = ctypes.CDLL(None)
P, S, I = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
for name, res, args in [
        ("PQconnectdb", P, [S]), ("PQstatus", I, [P]), ("PQfinish", None, [P]),
        ("PQenterPipelineMode", I, [P]), ("PQexitPipelineMode", I, [P]),
        ("PQpipelineSync", I, [P]),
        ("PQsendQueryParams", I, [P, S, I, P, P, P, P, I]),
        ("PQgetResult", P, [P]), ("PQexec", P, [P, S]),
        ("PQresultStatus", I, [P]), ("PQntuples", I, [P]),
        ("PQgetvalue", S, [P, I, I]), ("PQclear", None, [P])]:
    f = getattr(pq, name)
    f.restype, f.argtypes = res, args
steps = {}
# a connection that fails: a closed port
t0 = time.time_ns()
bad = pq.PQconnectdb(sys.argv[2].encode())
steps["bad_connect"] = {"t0": t0, "t1": time.time_ns(),
                        "result": pq.PQstatus(bad)}
pq.PQfinish(bad)
conn = pq.PQconnectdb(sys.argv[1].encode())
assert pq.PQstatus(conn) == 0
t0 = time.time_ns()
assert pq.PQenterPipelineMode(conn) == 1
for v in (b"42", b"7"):
    arr = (S * 1)(v)
    assert pq.PQsendQueryParams(conn, b"SELECT item FROM orders WHERE id = $1",
                                1, None, ctypes.cast(arr, P), None, None, 0) == 1
assert pq.PQpipelineSync(conn) == 1
got = []
for _ in range(2):
    res = pq.PQgetResult(conn)
    got.append([pq.PQresultStatus(res), pq.PQgetvalue(res, 0, 0).decode()])
    pq.PQclear(res)
    assert pq.PQgetResult(conn) is None
res = pq.PQgetResult(conn)
got.append([pq.PQresultStatus(res)])        # PGRES_PIPELINE_SYNC
pq.PQclear(res)
assert pq.PQexitPipelineMode(conn) == 1
steps["pipeline"] = {"t0": t0, "t1": time.time_ns(), "result": got}
t0 = time.time_ns()
res = pq.PQexec(conn, b"SELECT item FROM orders WHERE id = 2")
steps["after"] = {"t0": t0, "t1": time.time_ns(),
                  "result": pq.PQgetvalue(res, 0, 0).decode()}
pq.PQclear(res)
pq.PQfinish(conn)
print(json.dumps(steps))
'''


def test_libpq_pipeline_and_failed_connect():
    srv = pg()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()[1]
    s.close()
    bad_dsn = f"host=127.0.0.1 port={closed} dbname=shop connect_timeout=5"
    with Receiver() as rx:
        steps = run_script(PIPELINE_SCRIPT, rx, [srv.dsn, bad_dsn],
                           what="libpq pipeline")
        check_eq(steps["pipeline"]["result"],
                 [[2, "widget"], [2, "plum"], [10]],
                 "pipeline results are libpq's own")
        check_eq(steps["after"]["result"], "pear", "query after the pipeline")
        check_eq(steps["bad_connect"]["result"], 1, "CONNECTION_BAD")
        spans = rx.wait_spans(2)
        rx.check_clean()
        got = by_step(spans, steps)
        check_eq(len(got["pipeline"]), 0,
                 f"pipeline mode is not traced: {describe(got['pipeline'])}")
        check_eq(len(got["after"]), 1, f"after: {describe(got['after'])}")
        check_eq(len(got["bad_connect"]), 1,
                 f"failed connect: {describe(got['bad_connect'])}")
        c = got["bad_connect"][0]
        a = c["attributes"]
        check_eq((c["name"], c["kind"], c["status"]["code"],
                  a.get("db.operation.name"), a.get("db.system.name"),
                  a.get("db.namespace"), a.get("server.port"),
                  a.get("error.type")),
                 ("connect shop", 3, 2, "connect", "postgresql", "shop",
                  closed, "_OTHER"), "the failed connection's span")
        check("refused" in c["status"].get("message", "").lower() or
              "connect" in c["status"].get("message", "").lower(),
              f"libpq's message: {c['status']}")
        # a quick successful connection is not a span of its own
        check_eq(len(got[None]), 0, f"other spans: {describe(got[None])}")


def test_semconv_dup():
    pgs, mys = pg(), my()
    env = {"OTEL_SEMCONV_STABILITY_OPT_IN": "database/dup"}
    with Receiver() as rx:
        run_both(psql_args(pgs, SQL_SELECT), rx, env=env, what="psql")
        run_script(DUP_MYSQLDB, rx, [mys.host, mys.port, mys.user,
                                     mys.dbname], env=env, what="MySQLdb")
        run_both(psql_args(pgs, SQL_SELECT), rx, what="psql",
                 env={"OTEL_SEMCONV_STABILITY_OPT_IN": "http,database"})
        spans = rx.wait_spans(3)
        rx.check_clean()
        only_db_client_spans(spans, "dup")
        got = with_text(spans, SAN_SELECT)
        check_eq(len(got), 3, f"spans: {describe(spans)}")
        p = [s for s in got if s["attributes"]["db.system.name"] ==
             "postgresql"]
        m = [s for s in got if s["attributes"]["db.system.name"] == "mariadb"]
        check_eq((len(p), len(m)), (2, 1), f"spans: {describe(got)}")
        p.sort(key=lambda s: int(s["start"]))
        check_db_span(p[0], "postgresql", pgs, SAN_SELECT, "SELECT orders",
                      rows=1, dup=True, what="psql database/dup")
        check_db_span(m[0], "mariadb", mys, SAN_SELECT, "SELECT orders",
                      rows=1, dup=True, what="MySQLdb database/dup")
        check_db_span(p[1], "postgresql", pgs, SAN_SELECT, "SELECT orders",
                      rows=1, what="psql database (stable only)")
        for s in spans:
            if s not in got:    # MySQLdb's SET autocommit
                check_eq(s["attributes"].get("db.system"), "mariadb",
                         f"old names on every span: {describe([s])}")


if __name__ == "__main__":
    # meson's timeout sends SIGTERM: stop the servers on the way out
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    why = dbservers.missing()
    if why:
        print("SKIP: database servers not installed: " + "; ".join(why),
              flush=True)
        sys.exit(77)
    with _stack:
        main([test_psql_select, test_psql_error, test_psql_sanitize_and_modes,
              test_psql_unix_socket, test_mariadb_select, test_mariadb_error,
              test_mariadb_sanitize_and_use, test_psycopg2, test_mysqldb,
              test_libpq_prepared, test_libpq_pipeline_and_failed_connect,
              test_mysql_stmt, test_http_service,
              test_semconv_dup])
