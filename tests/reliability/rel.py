"""rel.py - shared helpers of otelshim's reliability tests (issue 5).

Python 3 standard library only, on top of ../integration/otlp_harness.py
(Receiver, HttpServer, run, main, check...). Adds:

  Collector(...)      a controllable OTLP/HTTP collector in a subprocess,
                      with its own protobuf decoder written from SPEC.md
                      section 4 (shares nothing with our .proto or the npm
                      receiver): modes ok (answer), blackhole (accept, read
                      the request, never answer), noaccept (listen, never
                      accept); a status sequence for the first requests;
                      Retry-After; a delay; "light" decoding for floods.
                      It also checks that every protobuf string is valid
                      UTF-8, which proto3 requires of string fields.
  LoadServer()        tests/reliability/loadsrv.c, an untraced fast HTTP
                      server (a subprocess: "PORT n", stops when stdin
                      closes)
  prog(name)          path of a C program of this directory (REL_<NAME>)
  reports(text)       the exit report lines of exporter.c report(), per pid
  report_of(res)      the one report line of a run's own process
  closed_port()       a bound, not listening socket (connections refused)

This file is also the collector's program:
  python3 rel.py collector [--mode ok|blackhole|noaccept] [--statuses
      503,503] [--status 200] [--retry-after S] [--delay-ms N] [--light]
      [--port N]
prints "PORT <n>", then one JSON line per export request, and runs until
its standard input closes.
"""

import json
import os
import re
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import otlp_harness as H  # noqa: E402
from otlp_harness import (check, check_eq, clean_env, fail,  # noqa: E402,F401
                          library_path, run, summarize)


# ---- programs ---------------------------------------------------------------

def prog(name):
    """The C program rel_<name> of this directory: REL_<NAME> (set by
    meson.build), else OTELSHIM_BUILD/tests/reliability/rel_<name>."""
    p = os.environ.get("REL_" + name.upper())
    if p:
        return p
    b = os.environ.get("OTELSHIM_BUILD")
    if not b:
        lib = library_path() or ""
        b = os.path.dirname(os.path.dirname(lib))
    p = os.path.join(b, "tests", "reliability", "rel_" + name)
    if not os.path.exists(p):
        fail(f"{p} not built (set REL_{name.upper()} or OTELSHIM_BUILD)")
    return p


def sanitized():
    """True when the library is built with AddressSanitizer (or another
    sanitizer runtime): its shadow memory makes RSS bounds meaningless."""
    lib = library_path()
    try:
        with open(lib, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return b"__asan_init" in data or b"__tsan_init" in data or \
        b"__msan_init" in data


def instrumented():
    """True under a sanitizer build or scripts/test --sanitize (a preloaded
    sanitizer runtime, a valgrind wrapper): memory and timing bounds do not
    apply then."""
    return sanitized() or bool(os.environ.get("OTELSHIM_TEST_WRAPPER")) \
        or bool(os.environ.get("OTELSHIM_TEST_PRELOAD"))


def preload_value():
    """LD_PRELOAD for a traced program started without run(): the
    harness's (sanitizer runtimes first, when set), else the library."""
    if hasattr(H, "preload_value"):
        return H.preload_value()
    return library_path()


def wrapper():
    """The harness's command prefix for traced programs (valgrind), or []."""
    return H.wrapper_prefix() if hasattr(H, "wrapper_prefix") else []


def record_size():
    """sizeof(struct span_record): the bytes of one queue slot."""
    import subprocess
    return int(subprocess.run([prog("record_size")], capture_output=True,
                              check=True).stdout)


class LoadServer(H._Child):
    """loadsrv.c: answers every request "200 ok\\n", keep-alive, fast."""

    name = "load server"

    def __init__(self):
        super().__init__([prog("loadsrv")], env=clean_env())

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


def closed_port():
    """A bound, not listening socket: connecting to its port is refused,
    and no other process can take the port while the socket lives."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s


def free_port():
    """A port that was free a moment ago (for a collector that starts
    later on a known port)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_until(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def pid_gone(pid):
    """True when pid has exited (gone, or a zombie nobody reaps)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


# ---- exit reports (exporter.c report()) -------------------------------------

_LINE = re.compile(r"otelshim\[([^:\]]*):(\d+)\]: (.*)")
_DROPPED = re.compile(
    r"(\d+) spans dropped \(queue full (\d+), export failed (\d+), rejected "
    r"by the collector (\d+), not exported before the exit deadline (\d+), "
    r"after shutdown (\d+), untraceable (\d+), left half-built (\d+)\); "
    r"(\d+) exported")
_EXPORTED = re.compile(r"(\d+) spans exported")
FIELDS = ("dropped", "queue_full", "export_failed", "rejected", "pending",
          "after_shutdown", "untraceable", "abandoned", "exported")


def shim_lines(text):
    """(prog, pid, message) of each otelshim line of text."""
    out = []
    for line in text.splitlines():
        m = _LINE.fullmatch(line)
        if m:
            out.append((m.group(1), int(m.group(2)), m.group(3)))
    return out


def reports(text):
    """{pid: [report, ...]} of the exit report lines in text; a report is
    a dict of FIELDS (all 0 but exported for "N spans exported", the form
    printed at OTEL_LOG_LEVEL=debug when nothing was dropped)."""
    out = {}
    for _, pid, msg in shim_lines(text):
        m = _DROPPED.fullmatch(msg)
        if m:
            d = dict(zip(FIELDS, (int(x) for x in m.groups())))
            check_eq(d["dropped"], sum(d[k] for k in FIELDS[1:8]),
                     f"total of the exit report {msg!r}")
        else:
            m = _EXPORTED.fullmatch(msg)
            if not m:
                continue
            d = dict.fromkeys(FIELDS, 0)
            d["exported"] = int(m.group(1))
        out.setdefault(pid, []).append(d)
    return out


def report_of(res, pid=None):
    """The exit report of res's process (or pid), which must be there
    exactly once. Needs OTEL_LOG_LEVEL=debug when nothing is dropped."""
    pid = res.pid if pid is None else pid
    got = reports(res.err).get(pid, [])
    check_eq(len(got), 1, f"exit report lines of pid {pid} in stderr "
             f"{res.err[-2000:]!r}")
    return got[0]


# ---- OTLP protobuf decoding (SPEC.md section 4) -----------------------------

def _varint(b, i):
    x = s = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7F) << s
        if c < 0x80:
            return x, i
        s += 7


def _fields(b):
    """(field, wire type, value) of a message: ints for varints, bytes for
    the others."""
    i, n = 0, len(b)
    while i < n:
        tag, i = _varint(b, i)
        f, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            ln, i = _varint(b, i)
            v, i = b[i:i + ln], i + ln
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt} at offset {i}")
        if i > n:
            raise ValueError("truncated message")
        yield f, wt, v


class _Strings:
    """Decodes protobuf strings, noting those that are not UTF-8."""

    def __init__(self):
        self.bad = []

    def __call__(self, b, where):
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            self.bad.append(where)
            return b.decode("utf-8", "backslashreplace")


def _any_value(b, strs, where):
    for f, wt, v in _fields(b):
        if f == 1:
            return strs(v, where)
        if f == 2:
            return bool(v)
        if f == 3:
            return v - (1 << 64) if v >= 1 << 63 else v
        if f == 4:
            return struct.unpack("<d", v)[0]
        if f == 5:
            return [_any_value(x, strs, where) for g, _, x in _fields(v)
                    if g == 1]
        if f == 6:
            return dict(_key_value(x, strs, where) for g, _, x in _fields(v)
                        if g == 1)
        if f == 7:
            return v.hex()
    return None


def _key_value(b, strs, where):
    key, val = "", None
    for f, wt, v in _fields(b):
        if f == 1:
            key = strs(v, where + " key")
        elif f == 2:
            val = v
    return key, (_any_value(val, strs, f"{where} {key}")
                 if val is not None else None)


def _span(b, strs, light):
    s = {"span_id": ""}
    if light:
        # span id and url.full only (KeyValue: 0A 08 "url.full" 12 ...)
        s["attributes"] = {}
        for f, wt, v in _fields(b):
            if f == 2:
                s["span_id"] = v.hex()
            elif f == 9 and v[:10] == b"\x0a\x08url.full":
                k, val = _key_value(v, strs, "attribute")
                s["attributes"][k] = val
        return s
    attrs, keys = {}, []
    s.update(trace_id="", parent_span_id="", name="", kind=0,
             trace_state="", dropped_attributes_count=0, status_code=0,
             status_message="", flags=None, links=0, start=0, end=0)
    for f, wt, v in _fields(b):
        if f == 1:
            s["trace_id"] = v.hex()
        elif f == 2:
            s["span_id"] = v.hex()
        elif f == 3:
            s["trace_state"] = strs(v, "trace_state")
        elif f == 4:
            s["parent_span_id"] = v.hex()
        elif f == 5:
            s["name"] = strs(v, "name")
        elif f == 6:
            s["kind"] = v
        elif f == 7:
            s["start"] = struct.unpack("<Q", v)[0]
        elif f == 8:
            s["end"] = struct.unpack("<Q", v)[0]
        elif f == 9:
            k, val = _key_value(v, strs, "attribute")
            keys.append(k)
            attrs[k] = val
        elif f == 10:
            s["dropped_attributes_count"] = v
        elif f == 13:
            s["links"] += 1
        elif f == 15:
            for g, _, x in _fields(v):
                if g == 2:
                    s["status_message"] = strs(x, "status.message")
                elif g == 3:
                    s["status_code"] = x
        elif f == 16:
            s["flags"] = struct.unpack("<I", v)[0]
    s["attributes"] = attrs
    s["attribute_keys"] = keys
    return s


def decode_request(body, light=False):
    """The spans of an ExportTraceServiceRequest, each with its resource's
    process.pid and service.name; strings that are not UTF-8 are listed in
    the span's "bad_utf8" (or the resource's, in every span)."""
    spans = []
    for f, _, rs in _fields(body):
        if f != 1:
            continue
        rstrs = _Strings()
        res = {}
        scopes = []
        for g, _, v in _fields(rs):
            if g == 1:
                for h, _, kv in _fields(v):
                    if h == 1:
                        k, val = _key_value(kv, rstrs, "resource")
                        res[k] = val
            elif g == 2:
                scopes.append(v)
        for sc in scopes:
            for g, _, v in _fields(sc):
                if g != 2:
                    continue
                strs = _Strings()
                s = _span(v, strs, light)
                s["pid"] = res.get("process.pid")
                if not light:
                    s["service"] = res.get("service.name")
                    s["bad_utf8"] = rstrs.bad + strs.bad
                spans.append(s)
    return spans


# ---- the collector ----------------------------------------------------------

class Collector(H._Child):
    """The collector subprocess (see the module's docstring). .requests:
    one dict per export request (index, t: arrival in ms since the epoch,
    status: the answer, None in blackhole mode, n: spans, spans)."""

    name = "test collector"

    def __init__(self, mode="ok", statuses=(), status=200, retry_after=None,
                 delay_ms=0, light=False, port=0):
        args = [sys.executable, os.path.abspath(__file__), "collector",
                "--mode", mode, "--status", str(status), "--delay-ms",
                str(delay_ms), "--port", str(port)]
        if statuses:
            args += ["--statuses", ",".join(str(s) for s in statuses)]
        if retry_after is not None:
            args += ["--retry-after", str(retry_after)]
        if light:
            args.append("--light")
        super().__init__(args, env=clean_env())
        self.requests = []
        self.errors = []

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def on_line(self, line):
        try:
            d = json.loads(line)
        except ValueError:
            self.errors.append(line)
            return
        if d.get("type") == "request":
            self.requests.append(d)
        else:
            self.errors.append(d)

    def snapshot(self):
        with self._cond:
            return list(self.requests)

    @property
    def spans(self):
        """Spans of the requests answered 200."""
        return [s for r in self.snapshot() if r["status"] == 200
                for s in r["spans"]]

    @property
    def all_spans(self):
        return [s for r in self.snapshot() for s in r["spans"]]

    def wait_spans(self, n, timeout=10.0, settle=0.3):
        deadline = time.monotonic() + timeout
        with self._cond:
            while sum(r["n"] for r in self.requests if r["status"] == 200) \
                    < n and not self._eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        if settle:
            time.sleep(settle)
        return self.spans

    def wait_requests(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < n and not self._eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self.requests)

    def check_clean(self):
        """No undecodable request, no string that is not UTF-8."""
        check(not self.errors, f"collector errors: {self.errors[:3]}")
        bad = [(s["name"], s["bad_utf8"]) for s in self.all_spans
               if s.get("bad_utf8")]
        check(not bad, f"{len(bad)} spans with strings that are not UTF-8 "
              f"(proto3 string fields must be; a strict collector rejects "
              f"the whole request): {bad[:3]}")


def _collector_main(argv):
    import argparse
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="ok",
                    choices=("ok", "blackhole", "noaccept"))
    ap.add_argument("--statuses", default="")
    ap.add_argument("--status", type=int, default=200)
    ap.add_argument("--retry-after", default=None)
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--light", action="store_true")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args(argv)
    statuses = [int(x) for x in a.statuses.split(",") if x]
    lock = threading.Lock()
    counter = [0]

    def emit(obj):
        line = json.dumps(obj) + "\n"
        with lock:
            sys.stdout.write(line)
            sys.stdout.flush()

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except OSError:
            pass
        os._exit(0)

    if a.mode == "noaccept":
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", a.port))
        s.listen(1)
        emit_port = f"PORT {s.getsockname()[1]}\n"
        sys.stdout.write(emit_port)
        sys.stdout.flush()
        watch_stdin()
        return

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            t = time.time() * 1000.0
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n)
            with lock:
                counter[0] += 1
                index = counter[0]
            if a.mode == "blackhole":
                status = None
            elif index <= len(statuses):
                status = statuses[index - 1]
            else:
                status = a.status
            try:
                spans = decode_request(body, light=a.light)
            except (ValueError, IndexError, struct.error) as e:
                emit({"type": "error", "index": index, "error": str(e),
                      "body_hex": body[:64].hex()})
                status = 400 if status is not None else None
                spans = []
            emit({"type": "request", "index": index, "t": t,
                  "status": status, "n": len(spans), "spans": spans,
                  "path": self.path, "length": n,
                  "headers": [[k, v] for k, v in self.headers.items()]})
            if status is None:
                # Never answer: hold the connection until the client leaves.
                try:
                    while self.rfile.read(1):
                        pass
                except OSError:
                    pass
                self.close_connection = True
                return
            if a.delay_ms:
                time.sleep(a.delay_ms / 1000.0)
            payload = b"" if status == 200 else b"\x08\x0e"
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            if status != 200 and a.retry_after is not None:
                self.send_header("Retry-After", a.retry_after)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 128

    srv = Server(("127.0.0.1", a.port), Handler)
    sys.stdout.write(f"PORT {srv.server_address[1]}\n")
    sys.stdout.flush()
    threading.Thread(target=watch_stdin, daemon=True).start()
    srv.serve_forever()


def main(tests):
    H.main(tests)


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    if sys.argv[1:2] == ["collector"]:
        _collector_main(sys.argv[2:])
    else:
        sys.stderr.write("usage: rel.py collector [options]\n")
        sys.exit(2)
