#!/usr/bin/env python3
"""test_stacktrace.py - where spans come from (issue 7): code.function.name,
code.stacktrace and exception events, on the spans of a program with named
functions (stack_prog.c), built at -O2 with and without frame pointers,
checked at the independent OTLP receiver.

  db_errors       OTELSHIM_STACKTRACE unset (errors): a query of a missing
                  table has a stack naming query_missing_table,
                  report_orders, main in that order (the shim's and libc's
                  frames dropped, the program's file and offsets given, and
                  addr2line agreeing), code.function.name and an
                  exception event (exception.type 42P01, the message, the
                  same stack as exception.stacktrace); the slow and the
                  fast query have code.function.name and no stack; a
                  refused connection has its exception and stack
  db_modes        slow: the pg_sleep(0.6) query keeps its stack, the fast
                  one has none; slow with OTELSHIM_STACKTRACE_SLOW_MS=5000:
                  no stack on it; all: every span has one
  off             no stack and no code.* attribute anywhere; the exception
                  events are still there, without exception.stacktrace
  http            a raw-socket GET: a 500 keeps the stack seen in recv
                  (http_get, fetch_report, main), no exception event (the
                  server answered); a 200 only code.function.name; with
                  all, the stack taken at the first send; a connection
                  reset is an exception event with its stack
  fds             libunwind's pipe is not among the program's low
                  descriptors: after a stack was taken, the program's next
                  descriptors are the lowest free ones (3, 4, 5)

PostgreSQL (dbservers.py) runs on 127.0.0.1 in a temporary directory and
is stopped and deleted at the end, pass or fail; the HTTP servers are
local too. Without the PostgreSQL server the file is skipped (exit 77).
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from otlp_harness import (HttpServer, Receiver, SOURCE_ROOT,  # noqa: E402
                          check, check_eq, fail, main, run)
import dbservers  # noqa: E402
from dbservers import Postgres  # noqa: E402

BUILD = os.environ.get("OTELSHIM_BUILD") or os.path.join(SOURCE_ROOT,
                                                         "build")
PROGS = {fp: os.path.join(BUILD, "tests", "stack_prog_" + fp)
         for fp in ("fp", "nofp")}
ADDR2LINE = shutil.which("addr2line")

STATUS_ERROR = 2

# scripts/test --sanitize preloads the AddressSanitizer runtime before the
# shim; it interposes send() too, so the shim's send() is called by
# ASan's and not by the program: without a stack, the program's function
# cannot be named then.
INTERPOSED = bool(os.environ.get("OTELSHIM_TEST_PRELOAD"))

# "#3 0x55d0c2a1b2c3 report_orders+0x1c (/path/prog+0x12c3)"; the symbol
# and the module part are each optional.
FRAME = re.compile(r"#(\d+) 0x([0-9a-f]+)(?: (\S+)\+0x([0-9a-f]+))?"
                   r"(?: \((.+)\+0x([0-9a-f]+)\))?")


# ---- the servers: started on first use, stopped when the file ends -------

_stack = contextlib.ExitStack()
_servers = {}


def pg():
    if "pg" not in _servers:
        try:
            _servers["pg"] = _stack.enter_context(Postgres())
        except Exception as e:
            _servers["pg"] = e
    s = _servers["pg"]
    if isinstance(s, Exception):
        fail(f"postgresql did not start: {s}")
    return s


def closed_port():
    """A port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ResetServer:
    """Accepts on 127.0.0.1, reads the request, answers with a reset."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.settimeout(5)
                try:
                    c.recv(4096)
                except OSError:
                    pass
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))

    def __exit__(self, *exc):
        self.sock.close()
        self.thread.join(5)
        return False


# ---- helpers ---------------------------------------------------------------

def traced(prog, args, rx, mode=None, env=None):
    e = dict(env or {})
    if mode is not None:
        e["OTELSHIM_STACKTRACE"] = mode
    r = run([prog] + [str(a) for a in args], receiver=rx, env=e)
    check_eq(r.returncode, 0, f"{os.path.basename(prog)} {args[0]} exit "
             f"status ({r.err[-800:]})")
    return r


def describe(spans):
    out = []
    for s in spans:
        a = s["attributes"]
        out.append(f"[{s['name']!r} fn={a.get('code.function.name')} "
                   f"stack={'code.stacktrace' in a} "
                   f"events={[e['name'] for e in s['events']]}]")
    return " ".join(out) or "(no spans)"


def frames(text, what):
    """The frames of a code.stacktrace, each line checked."""
    out = []
    for i, line in enumerate(text.split("\n")):
        m = FRAME.fullmatch(line)
        check(m, f"{what}: frame line {line!r} is not "
              "'#N 0xADDR [SYMBOL+0xOFF] [(MODULE+0xOFF)]'")
        check_eq(int(m.group(1)), i, f"{what}: frame number of {line!r}")
        out.append({"ip": int(m.group(2), 16), "sym": m.group(3),
                    "module": m.group(5),
                    "modoff": int(m.group(6), 16) if m.group(6) else None})
    return out


def check_stack(span, want, prog, what):
    """span's code.stacktrace: the program's functions want, innermost
    first, in order, starting with the first one; each in the program's
    file; nothing of otelshim's."""
    a = span["attributes"]
    text = a.get("code.stacktrace")
    check(isinstance(text, str) and text, f"{what}: no code.stacktrace: "
          f"{describe([span])}")
    fr = frames(text, what)
    names = [f["sym"] for f in fr]
    check_eq(names[0], want[0], f"{what}: the innermost frame (the "
             f"shim's and libc's dropped) in {text!r}")
    pos = []
    for w in want:
        check(w in names, f"{what}: {w} not in the stack {text!r}")
        pos.append(names.index(w))
    check(pos == sorted(pos), f"{what}: {want} out of order in {text!r}")
    exe = os.path.realpath(prog)
    for f in fr:
        if f["sym"] in want:
            check_eq(f["module"], exe, f"{what}: module of {f['sym']}")
        check("libotelshim" not in (f["module"] or ""),
              f"{what}: a frame of otelshim in {text!r}")
    if ADDR2LINE:
        # the offset is the file's: addr2line finds the function (the
        # call instruction is just before the return address)
        f0 = fr[0]
        r = subprocess.run([ADDR2LINE, "-f", "-e", exe,
                            hex(f0["modoff"] - 1)], capture_output=True,
                           text=True)
        check_eq(r.stdout.split("\n")[0], want[0],
                 f"{what}: addr2line -f -e {exe} {hex(f0['modoff'] - 1)}")
    return fr


def check_no_stack(span, what):
    a = span["attributes"]
    check("code.stacktrace" not in a, f"{what}: an unexpected stack: "
          f"{a.get('code.stacktrace')!r}")
    for e in span["events"]:
        check("exception.stacktrace" not in e["attributes"],
              f"{what}: an unexpected exception.stacktrace")


def check_exception(span, what, type_=None, message=None):
    """One exception event with these attributes; its stacktrace, if
    any, is the span's code.stacktrace. Returns the event."""
    ev = span["events"]
    check_eq([e["name"] for e in ev], ["exception"], f"{what}: events")
    e = ev[0]
    ea = e["attributes"]
    check_eq(ea.get("exception.type"), type_, f"{what}: exception.type")
    if message is not None:
        check(message in (ea.get("exception.message") or ""),
              f"{what}: exception.message {ea.get('exception.message')!r}"
              f" lacks {message!r}")
    check(int(span["start"]) <= int(e["time"]) <= int(span["end"]),
          f"{what}: the event's time is in the span")
    check_eq(ea.get("exception.stacktrace"),
             span["attributes"].get("code.stacktrace"),
             f"{what}: exception.stacktrace is the span's stack")
    check_eq(span["dropped_events_count"], 0, f"{what}: dropped events")
    return e


def by_text(spans, what):
    """The four spans of 'stack_prog pg', by what they were."""
    out = {}
    for s in spans:
        a = s["attributes"]
        t = a.get("db.query.text", "")
        key = ("missing" if "no_such_table" in t else
               "slow" if "pg_sleep" in t else
               "fast" if t == "SELECT ?" else
               "refused" if a.get("db.operation.name") == "connect" else
               None)
        check(key and key not in out, f"{what}: an unexpected span: "
              f"{describe([s])}")
        out[key] = s
    return out


def pg_run(rx, prog, mode, env=None, n=4):
    srv = pg()
    before = len(rx.spans)
    traced(prog, ["pg", srv.dsn, closed_port()], rx, mode=mode, env=env)
    spans = rx.wait_spans(before + n)[before:]
    rx.check_clean()
    check_eq(len(spans), n, f"spans of stack_prog pg: {describe(spans)}")
    return by_text(spans, f"{os.path.basename(prog)} {mode}")


# ---- the tests -------------------------------------------------------------

def test_db_errors():
    with Receiver() as rx:
        for fp, prog in PROGS.items():
            what = f"{fp}, errors"
            s = pg_run(rx, prog, None)
            m = s["missing"]
            check_eq(m["status"]["code"], STATUS_ERROR, f"{what}: status")
            check_stack(m, ["query_missing_table", "report_orders", "main"],
                        prog, f"{what}: failing query")
            check_eq(m["attributes"].get("code.function.name"),
                     "query_missing_table", f"{what}: code.function.name")
            check_exception(m, f"{what}: failing query", "42P01",
                            'relation "no_such_table" does not exist')
            for key, fn in (("slow", "query_slow"), ("fast", "run_query")):
                check_eq(s[key]["attributes"].get("code.function.name"), fn,
                         f"{what}: {key} query's code.function.name")
                check_no_stack(s[key], f"{what}: {key} query")
                check_eq(s[key]["events"], [], f"{what}: {key} query's "
                         "events")
            r = s["refused"]
            check_stack(r, ["connect_inventory", "main"], prog,
                        f"{what}: refused connection")
            check_exception(r, f"{what}: refused connection", None,
                            "Connection refused")
            check_eq(r["attributes"].get("code.function.name"),
                     "connect_inventory", f"{what}: refused connection's "
                     "code.function.name")


def test_db_modes():
    prog = PROGS["nofp"]
    with Receiver() as rx:
        s = pg_run(rx, prog, "slow")
        check_stack(s["slow"], ["query_slow", "nightly_job", "main"], prog,
                    "slow: the 0.6 s query")
        check_no_stack(s["fast"], "slow: the fast query")
        check_stack(s["missing"], ["query_missing_table", "report_orders"],
                    prog, "slow: the failing query (errors too)")

        s = pg_run(rx, prog, "slow",
                   env={"OTELSHIM_STACKTRACE_SLOW_MS": "5000"})
        check_no_stack(s["slow"], "slow, 5000 ms: the 0.6 s query")
        check_eq(s["slow"]["attributes"].get("code.function.name"),
                 "query_slow", "slow, 5000 ms: code.function.name")

        s = pg_run(rx, prog, "all")
        check_stack(s["fast"], ["run_query", "query_fast", "main"], prog,
                    "all: the fast query")
        check_stack(s["slow"], ["query_slow", "nightly_job", "main"], prog,
                    "all: the slow query")


def test_off():
    prog = PROGS["fp"]
    with Receiver() as rx, HttpServer() as web:
        s = pg_run(rx, prog, "off")
        before = len(rx.spans)
        traced(prog, ["http", web.port, "/status/500", "/ok"], rx,
               mode="off")
        spans = list(s.values()) + rx.wait_spans(before + 2)[before:]
        check_eq(len(spans), 6, f"spans: {describe(spans)}")
        for sp in spans:
            code = [k for k in sp["attributes"] if k.startswith("code.")]
            check_eq(code, [], f"off: code attributes of {sp['name']!r}")
            check_no_stack(sp, f"off: {sp['name']!r}")
        check_exception(s["missing"], "off: failing query", "42P01")
        check_exception(s["refused"], "off: refused connection")


def http_spans(rx, before, n, what):
    spans = rx.wait_spans(before + n)[before:]
    rx.check_clean()
    check_eq(len(spans), n, f"{what}: spans {describe(spans)}")
    return {s["attributes"].get("url.full", "").rsplit("/", 1)[-1]: s
            for s in spans}


def test_http():
    with Receiver() as rx, HttpServer() as web:
        for fp, prog in PROGS.items():
            what = f"{fp}, errors"
            before = len(rx.spans)
            r = traced(prog, ["http", web.port, "/status/500", "/ok"], rx)
            check("/status/500 500\n" in r.out and "/ok 200\n" in r.out,
                  f"{what}: the program's statuses: {r.out!r}")
            s = http_spans(rx, before, 2, what)
            bad, ok = s["500"], s["ok"]
            check_eq(bad["status"]["code"], STATUS_ERROR, f"{what}: 500")
            check_stack(bad, ["http_get", "fetch_report", "main"], prog,
                        f"{what}: 500 response")
            check_eq(bad["events"], [], f"{what}: 500 is not an exception")
            check_eq(bad["attributes"].get("code.function.name"), "http_get",
                     f"{what}: 500's code.function.name (from the stack)")
            check_eq(ok["attributes"].get("code.function.name"),
                     None if INTERPOSED else "http_get",
                     f"{what}: 200's code.function.name (the return "
                     "address of send)")
            check_no_stack(ok, f"{what}: 200 response")

        prog = PROGS["nofp"]
        before = len(rx.spans)
        traced(prog, ["http", web.port, "/ok"], rx, mode="all")
        s = http_spans(rx, before, 1, "all")
        check_stack(s["ok"], ["http_get", "fetch_report", "main"], prog,
                    "all: 200 response (stack from the first send)")

    with Receiver() as rx, ResetServer() as rst:
        for fp, prog in PROGS.items():
            what = f"{fp}, reset"
            before = len(rx.spans)
            r = traced(prog, ["http", rst.port, "/reset"], rx)
            check(r.out.startswith("/reset 0\n"), f"{what}: the program's "
                  f"status: {r.out!r}")
            s = http_spans(rx, before, 1, what)["reset"]
            check_eq((s["status"]["code"],
                      s["attributes"].get("error.type")),
                     (STATUS_ERROR, "connection_reset"), f"{what}: error")
            check_stack(s, ["http_get", "fetch_report", "main"], prog,
                        f"{what}: the reset seen in recv")
            check_exception(s, what, "connection_reset", "reset")


def test_fds():
    # No exporter: nothing else of the shim's opens a descriptor meanwhile
    # (the stacks are still taken on the program's thread).
    prog = PROGS["fp"]
    with HttpServer() as web:
        for mode in ("all", "off"):
            r = traced(prog, ["http", web.port, "/status/500", "/ok"], None,
                       mode=mode, env={"OTEL_TRACES_EXPORTER": "none"})
            m = re.search(r"^nextfds (.*)$", r.out, re.M)
            check(m, f"{mode}: the program printed no nextfds: {r.out!r}")
            check_eq(m.group(1), "3 4 5", f"{mode}: the program's next "
                     "descriptors after its stacks were taken")
            # libunwind's pipe (mode all): the program's read and write on
            # it fail as on a number that is not open
            pipes = re.findall(r"^pipe (\d+) write (\S+) read (\S+)$", r.out,
                               re.M)
            print(f"  {mode}: libunwind's pipe: {pipes or 'none'}",
                  flush=True)
            if mode == "all":
                check_eq(len(pipes), 2, f"{mode}: libunwind's pipe ends "
                         f"({r.out!r})")
            for fd, w, rd in pipes:
                check_eq((w, rd), ("-1/EBADF", "-1/EBADF"), f"{mode}: write "
                         f"and read on libunwind's pipe end {fd}")


if __name__ == "__main__":
    # meson's timeout sends SIGTERM: stop the servers on the way out
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    for p in PROGS.values():
        if not os.access(p, os.X_OK):
            print(f"FAIL setup: {p} is not built", flush=True)
            sys.exit(1)
    why = [w for w in dbservers.missing() if "ariaDB" not in w and
           "mariadb" not in w]
    if why:
        print("SKIP: database servers not installed: " + "; ".join(why),
              flush=True)
        sys.exit(77)
    with _stack:
        main([test_db_errors, test_db_modes, test_off, test_http, test_fds])
