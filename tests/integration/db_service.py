"""db_service.py - a Python standard-library HTTP service that queries
PostgreSQL (psycopg2) and MariaDB (MySQLdb) while serving requests. The
database tests run it WITH the library preloaded; it contains no tracing
code at all, so any span it yields and every parent link between them is
otelshim's doing.

  python3 db_service.py --pg "host=H port=P user=U dbname=D" \\
                        --my "H:P:U:D"

  GET /pg/<id>     SELECT item FROM orders WHERE id = %s  (psycopg2)
  GET /my/<id>     the same through MySQLdb
                   200 with the item and a newline; 404 when there is no
                   such row; 500 with the error when the query fails
  GET /pg-fail     SELECT * FROM nosuch (psycopg2): 500
  GET /my-fail     the same through MySQLdb: 500

Each request opens its own connection (autocommit, so that no BEGIN or
ROLLBACK is sent) and closes it: the database traffic happens while the
request is being served. The connection parameters can also come from the
environment: DB_SERVICE_PG (a libpq connection string) and DB_SERVICE_MY
("host:port:user:db").

Binds 127.0.0.1 on an ephemeral port, prints "PORT <n>" and serves (a
thread per request) until its standard input closes, then exits normally
so that the preloaded library flushes its spans.
"""

import argparse
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

QUERY = "SELECT item FROM orders WHERE id = %s"
FAIL_QUERY = "SELECT * FROM nosuch"


def pg_query(dsn, sql, args):
    import psycopg2
    conn = psycopg2.connect(dsn)
    try:
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute(sql, args)
        return cur.fetchall()
    finally:
        conn.close()


def my_query(params, sql, args):
    import MySQLdb
    host, port, user, db = params.split(":", 3)
    conn = MySQLdb.connect(host=host, port=int(port), user=user, db=db)
    try:
        conn.autocommit(True)
        cur = conn.cursor()
        cur.execute(sql, args)
        return cur.fetchall()
    finally:
        conn.close()


def handler(pg, my):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def reply(self, code, body):
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            parts = self.path.split("?")[0].strip("/").split("/")
            try:
                if parts == ["pg-fail"]:
                    rows = pg_query(pg, FAIL_QUERY, None)
                elif parts == ["my-fail"]:
                    rows = my_query(my, FAIL_QUERY, None)
                elif len(parts) == 2 and parts[0] in ("pg", "my") and \
                        parts[1].isdigit():
                    q = pg_query if parts[0] == "pg" else my_query
                    rows = q(pg if parts[0] == "pg" else my, QUERY,
                             (int(parts[1]),))
                else:
                    self.reply(404, b"no such endpoint\n")
                    return
            except Exception as e:  # the test looks at the 500
                self.reply(500, f"{type(e).__name__}: {e}\n".encode())
                return
            if not rows:
                self.reply(404, b"no such row\n")
            else:
                self.reply(200, "".join(f"{r[0]}\n" for r in rows).encode())

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default=os.environ.get("DB_SERVICE_PG"))
    ap.add_argument("--my", default=os.environ.get("DB_SERVICE_MY"))
    opts = ap.parse_args()

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 64

    srv = Server(("127.0.0.1", 0), handler(opts.pg, opts.my))
    print(f"PORT {srv.server_address[1]}", flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except OSError:
        pass
    # A normal exit, so that the preloaded library flushes its spans.
    srv.shutdown()
    sys.exit(0)


if __name__ == "__main__":
    main()
