"""dbservers.py - real PostgreSQL and MariaDB servers for the database
tests, each on 127.0.0.1 on a free port, in a fresh temporary directory
owned by the test run (data, Unix socket, logs). Never preloaded.

  with Postgres() as pg:    .host, .port, .user, .dbname, .socket, .dir;
  with MariaDB() as my:     .sql(text) runs text with the server's own
                            command-line client. Postgres's .socket is the
                            socket directory (libpq's host=), MariaDB's the
                            socket file; Postgres().dsn is a libpq
                            connection string

Both create the database `shop` with the table
`orders(id int primary key, item text, qty int)` and the rows ROWS.
Leaving the `with` block (normally or by an exception, also when start-up
fails half-way) stops the server (SIGTERM/SIGINT, then SIGKILL of its whole
process group) and deletes the directory.

PostgreSQL refuses to run as root, MariaDB needs --user=root for it: as
root the servers (and initdb) run as the `postgres` and `mysql` system
users (setpriv, else runuser) in a directory that user owns. The servers
also die (SIGKILL, the parent-death signal) if the test process is killed
before it could stop them.

missing() says which server programs are not installed (the tests then
skip, exit 77). Python 3 standard library only.
"""

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROWS = [(1, "apple", 3), (2, "pear", 10), (7, "plum", 6), (42, "widget", 7)]

_PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                 key=lambda p: [int(x) if x.isdigit() else 0
                                for x in p.split("/")[4].split(".")])
PG_BIN = _PG_BIN[-1] if _PG_BIN else None


def _which(*names):
    for n in names:
        p = shutil.which(n, path="/usr/sbin:/usr/bin:/sbin:/bin") or \
            shutil.which(n)
        if p:
            return p
    return None


PSQL = _which("psql")
MARIADB = _which("mariadb", "mysql")
MARIADBD = _which("mariadbd", "mysqld")
MARIADB_INSTALL_DB = _which("mariadb-install-db", "mysql_install_db")


def missing():
    """A list of what the servers need and is not installed."""
    out = []
    if not PG_BIN or not os.access(os.path.join(PG_BIN, "initdb"), os.X_OK):
        out.append("PostgreSQL server (/usr/lib/postgresql/*/bin/initdb; "
                   "apt package postgresql)")
    if not PSQL:
        out.append("psql (apt package postgresql-client)")
    if os.geteuid() == 0 and not _user("postgres"):
        out.append("the postgres system user (apt package postgresql)")
    if not MARIADBD or not MARIADB_INSTALL_DB:
        out.append("MariaDB server (mariadbd, mariadb-install-db; apt "
                   "package mariadb-server)")
    if not MARIADB:
        out.append("the mariadb client (apt package mariadb-client)")
    return out


def _user(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _server_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "OTELSHIM_", "PG", "MYSQL"))
           and k not in ("LD_PRELOAD", "TRACEPARENT", "TRACESTATE")}
    env["LC_ALL"] = "C"
    env["TZ"] = "UTC"
    return env


class ServerError(RuntimeError):
    pass


class _Server:
    name = "server"
    user = None
    dbname = "shop"
    host = "127.0.0.1"

    def __init__(self, start_timeout=30.0):
        self.start_timeout = start_timeout
        self.dir = None
        self.port = None
        self.socket = None
        self.proc = None
        self._log = None

    # ---- life cycle ----

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        raise NotImplementedError

    def _spawn(self, args, env):
        self._log = open(os.path.join(self.dir, "server.log"), "ab")
        # A session (and process group) of its own: stop() can kill every
        # process the server started, and ^C at the terminal does not reach
        # it before we stop it.
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, env=env, close_fds=True,
            start_new_session=True)

    def _wait_ready(self, ready):
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name} exited with status "
                                  f"{self.proc.returncode} at start-up: "
                                  f"{self.log_tail()}")
            if ready():
                return
            time.sleep(0.05)
        raise ServerError(f"{self.name} did not accept connections in "
                          f"{self.start_timeout:.0f} s: {self.log_tail()}")

    def _term_signal(self):
        return signal.SIGTERM

    def stop(self):
        p = self.proc
        if p is not None:
            self.proc = None
            if p.poll() is None:
                try:
                    p.send_signal(self._term_signal())
                except OSError:
                    pass
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    pass
            # Whatever is left of the process group (a server that did
            # not stop, helpers it started): SIGKILL.
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def log_tail(self, n=2000):
        if not self.dir:
            return ""
        text = ""
        for f in sorted(glob.glob(os.path.join(self.dir, "*.log"))):
            try:
                with open(f, "rb") as fh:
                    text += fh.read().decode("utf-8", "replace")
            except OSError:
                pass
        return text[-n:].replace("\n", " | ")

    def _mkdir(self, owner=None):
        # mkdtemp makes the directory 0700; a server running as another
        # user gets it (and needs to reach it: /tmp is world-searchable).
        self.dir = tempfile.mkdtemp(prefix=f"otelshim-{self.name}-",
                                    dir=_tmp_base(owner))
        if owner is not None:
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)

    def _setup_run(self, args, what, input=None, env=None):
        r = subprocess.run(args, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env or _server_env(),
                           timeout=60)
        if r.returncode != 0:
            raise ServerError(f"{self.name}: {what} failed (exit "
                              f"{r.returncode}): "
                              f"{r.stdout.decode('utf-8', 'replace')[-2000:]}")
        return r.stdout.decode("utf-8", "replace")


def _tmp_base(owner):
    """The temporary directory's parent: $TMPDIR as usual, unless a server
    running as owner could not reach it (e.g. TMPDIR=/root/tmp), then
    /tmp."""
    base = tempfile.gettempdir()
    if owner is None:
        return base
    p = os.path.abspath(base)
    while True:
        if not os.stat(p).st_mode & 0o001:  # not searchable by others
            return "/tmp"
        if p == "/":
            return base
        p = os.path.dirname(p)


def _as_user(u):
    """The command prefix that runs a server as system user u (None: as
    ourselves). With setpriv the server also gets SIGKILL if the test
    process dies without stopping it (the parent-death signal)."""
    if shutil.which("setpriv"):
        ids = [f"--reuid={u.pw_uid}", f"--regid={u.pw_gid}",
               "--init-groups"] if u else []
        return ["setpriv"] + ids + ["--pdeathsig", "KILL", "--"]
    if u:
        return ["runuser", "-u", u.pw_name, "--"]
    return []


class Postgres(_Server):
    name = "postgresql"
    user = "postgres"

    def _pg(self, prog):
        return os.path.join(PG_BIN, prog)

    def _term_signal(self):
        return signal.SIGINT   # PostgreSQL's "fast" shutdown

    def start(self):
        if not PG_BIN:
            raise ServerError("PostgreSQL is not installed")
        owner = _user("postgres") if os.geteuid() == 0 else None
        if os.geteuid() == 0 and owner is None:
            raise ServerError("running as root without a postgres user")
        self._mkdir(owner)
        data = os.path.join(self.dir, "data")
        env = _server_env()
        if owner:
            env["HOME"] = self.dir
            env["USER"] = env["LOGNAME"] = owner.pw_name
        self._setup_run(_as_user(owner) + [
            self._pg("initdb"), "-D", data, "-U", self.user, "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            "initdb", env=env)
        self.socket = self.dir   # where the .s.PGSQL.<port> file is
        for attempt in range(3):
            self.port = free_port()
            self._spawn(_as_user(owner) + [
                self._pg("postgres"), "-D", data, "-p", str(self.port),
                "-k", self.socket, "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off", "-c", "max_connections=50",
                "-c", "shared_buffers=16MB", "-c", "logging_collector=off",
                "-c", "log_min_messages=warning"], env)
            try:
                self._wait_ready(self._ready)
                break
            except ServerError:
                # the port may have been taken between free_port() and
                # the bind: try another one
                if attempt == 2 or "already in use" not in self.log_tail():
                    raise
                self.proc.wait(10)
                self._log.close()
                self._log = None
        self.sql("CREATE DATABASE shop", db="postgres")
        self.sql("CREATE TABLE orders (id int PRIMARY KEY, item text, "
                 "qty int);\n" + "".join(
                     f"INSERT INTO orders VALUES ({i}, '{it}', {q});\n"
                     for i, it, q in ROWS))

    def _ready(self):
        try:
            socket.create_connection((self.host, self.port), 0.2).close()
        except OSError:
            return False
        r = subprocess.run([PSQL, "-X", "-q", "-h", self.host, "-p",
                            str(self.port), "-U", self.user, "-d", "postgres",
                            "-c", "SELECT 1"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=_server_env())
        return r.returncode == 0

    def sql(self, text, db=None):
        """Run text with psql over TCP; returns its output (-A -t)."""
        return self._setup_run(
            [PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", self.host, "-p", str(self.port), "-U", self.user,
             "-d", db or self.dbname, "-f", "-"], "psql " + text[:60],
            input=text.encode())

    @property
    def dsn(self):
        return (f"host={self.host} port={self.port} user={self.user} "
                f"dbname={self.dbname}")


class MariaDB(_Server):
    name = "mariadb"
    user = "root"

    def start(self):
        if not MARIADBD or not MARIADB_INSTALL_DB:
            raise ServerError("MariaDB is not installed")
        # as root: the files belong to, and the server runs as, mysql
        owner = _user("mysql") if os.geteuid() == 0 else None
        if os.geteuid() == 0 and owner is None:
            raise ServerError("running as root without a mysql user")
        self._mkdir(owner)
        data = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mysqld.sock")
        common = ["--no-defaults", f"--datadir={data}", f"--tmpdir={self.dir}",
                  "--innodb-buffer-pool-size=16M",
                  "--innodb-log-file-size=8M",
                  "--innodb-flush-log-at-trx-commit=0",
                  "--innodb-doublewrite=0",
                  "--skip-log-bin", "--character-set-server=utf8mb4"]
        env = _server_env()
        user = [f"--user={owner.pw_name}"] if owner else []
        self._setup_run([MARIADB_INSTALL_DB] + common + user + [
            "--auth-root-authentication-method=normal", "--skip-test-db",
            "--skip-name-resolve"], "mariadb-install-db", env=env)
        for attempt in range(3):
            self.port = free_port()
            self._spawn(_as_user(owner) + [MARIADBD] + common + [
                f"--socket={self.socket}", f"--port={self.port}",
                "--bind-address=127.0.0.1", "--skip-networking=0",
                f"--pid-file={os.path.join(self.dir, 'mysqld.pid')}",
                f"--log-error={os.path.join(self.dir, 'error.log')}",
                "--skip-name-resolve", "--max-connections=50",
                "--performance-schema=0"], env)
            try:
                self._wait_ready(self._ready)
                break
            except ServerError:
                if attempt == 2 or "already in use" not in self.log_tail():
                    raise
                self.proc.wait(10)
                self._log.close()
                self._log = None
        # root from 127.0.0.1 over TCP, without a password (with
        # --skip-name-resolve 127.0.0.1 is not "localhost")
        self.sql("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';\n"
                 "GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n"
                 "CREATE DATABASE shop;\n", socket_=True, db="")
        self.sql("CREATE TABLE orders (id int PRIMARY KEY, item text, "
                 "qty int);\n" + "".join(
                     f"INSERT INTO orders VALUES ({i}, '{it}', {q});\n"
                     for i, it, q in ROWS))

    def _ready(self):
        if not os.path.exists(self.socket):
            return False
        try:
            socket.create_connection((self.host, self.port), 0.2).close()
        except OSError:
            return False
        return True

    def sql(self, text, db=None, socket_=False):
        """Run text with the mariadb client (over the Unix socket with
        socket_, else TCP); returns its batch output."""
        where = [f"--socket={self.socket}"] if socket_ else \
            ["-h", self.host, "-P", str(self.port), "--protocol=TCP"]
        args = [MARIADB, "--no-defaults", "-u", self.user, "--batch",
                "--skip-column-names"] + where
        d = self.dbname if db is None else db
        if d:
            args.append(d)
        return self._setup_run(args, "mariadb " + text[:60],
                               input=text.encode())


if __name__ == "__main__":
    # A quick manual check: start both, show where they are, stop both.
    import sys
    if missing():
        sys.exit("missing: " + "; ".join(missing()))
    t0 = time.monotonic()
    with Postgres() as pg:
        print("postgres", pg.port, pg.dir, pg.sql("SELECT count(*) FROM orders").strip(),
              f"{time.monotonic() - t0:.2f} s")
        t1 = time.monotonic()
        with MariaDB() as my:
            print("mariadb", my.port, my.dir,
                  my.sql("SELECT count(*) FROM orders").strip(),
                  f"{time.monotonic() - t1:.2f} s")
    print(f"total {time.monotonic() - t0:.2f} s")
