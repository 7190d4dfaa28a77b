"""otlp_harness.py - shared helpers of otelshim's preload integration tests.

Python 3 standard library only. The tests run real, unmodified programs with
the library preloaded against local servers on 127.0.0.1, and check what an
independent OTLP/HTTP receiver (tests/receiver/receiver.js, decoding with the
@opentelemetry/otlp-transformer npm package) received.

  Receiver()        the OTLP receiver in a subprocess (a context manager)
  HttpServer()      a local HTTP/1.1 test server in a subprocess
  EchoServer()      a raw TCP echo server in a subprocess
  run(args, ...)    run a program, with the library preloaded by default
  main(tests)       a tiny test runner: "PASS name" / "FAIL name: reason",
                    then "N passed, N failed"; exit 1 on any failure, 77
                    (meson's skip) when the receiver's npm packages are not
                    installed

Environment (set by tests/meson.build): OTELSHIM_LIB, the path of
libotelshim.so; OTELSHIM_SOURCE_ROOT, the source tree. Set by
scripts/test --sanitize, for the preloaded runs of run() only:
OTELSHIM_TEST_PRELOAD, libraries put before the shim in LD_PRELOAD (the
AddressSanitizer runtime, which must be first); OTELSHIM_TEST_WRAPPER, a
command prefix (valgrind and its options).

This file is also the program of the servers' subprocesses:
  python3 otlp_harness.py http-server | echo-server
each prints "PORT <n>" first and runs until its standard input closes.
"""

import json
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("OTELSHIM_SOURCE_ROOT") or os.path.dirname(
    os.path.dirname(HERE))
RECEIVER_DIR = os.path.join(SOURCE_ROOT, "tests", "receiver")
RECEIVER_JS = os.path.join(RECEIVER_DIR, "receiver.js")

# Unmodified Debian programs to run under the preload.
CURL = shutil.which("curl", path="/usr/bin") or shutil.which("curl") or "curl"
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) \
    else sys.executable
NODE = shutil.which("node", path="/usr/bin") or shutil.which("node") or "node"

# Variables that must not leak from the caller into a traced program.
_STRIP_PREFIXES = ("OTEL_", "OTELSHIM_")
_STRIP_NAMES = {"LD_PRELOAD", "TRACEPARENT", "TRACESTATE", "BAGGAGE",
                "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
                "CURL_HOME"}


class TestFailure(AssertionError):
    pass


class SkipTest(Exception):
    pass


def fail(msg):
    raise TestFailure(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def check_eq(got, want, what):
    if got != want:
        fail(f"{what}: got {got!r}, want {want!r}")


def library_path():
    lib = os.environ.get("OTELSHIM_LIB")
    if lib:
        return lib
    for d in ("build", "builddir"):
        p = os.path.join(SOURCE_ROOT, d, "shim", "libotelshim.so")
        if os.path.exists(p):
            return p
    return None


def preload_value(lib=None):
    """The LD_PRELOAD value for a traced program: OTELSHIM_TEST_PRELOAD's
    libraries (scripts/test --sanitize: the ASan runtime), then the shim."""
    first = os.environ.get("OTELSHIM_TEST_PRELOAD", "").split()
    return " ".join(first + [lib or library_path()])


def wrapper_prefix():
    """OTELSHIM_TEST_WRAPPER split into words (scripts/test --sanitize:
    valgrind and its options), or []."""
    return shlex.split(os.environ.get("OTELSHIM_TEST_WRAPPER", ""))


def clean_env():
    """The caller's environment without OTEL_*, preload, trace-context and
    proxy variables, so a test sees only what it sets."""
    env = {}
    for k, v in os.environ.items():
        if k in _STRIP_NAMES or k.startswith(_STRIP_PREFIXES):
            continue
        env[k] = v
    return env


class _LineReader:
    """Reads a pipe line by line on a thread; lines go to a callback."""

    def __init__(self, stream, on_line):
        self._stream = stream
        self._on_line = on_line
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        for raw in iter(self._stream.readline, b""):
            self._on_line(raw.decode("utf-8", "replace").rstrip("\n"))
        self._on_line(None)

    def join(self, timeout):
        self._thread.join(timeout)


class _Child:
    """A helper subprocess that prints "PORT <n>" first, then lines; stopped
    by closing its stdin, then SIGTERM, then SIGKILL."""

    name = "child"

    def __init__(self, args, env=None, start_timeout=15.0):
        self.args = args
        self._env = env
        self._start_timeout = start_timeout
        self.proc = None
        self.port = None
        self._lines = queue.Queue()
        self._cond = threading.Condition()
        self._stderr = []
        self._eof = False
        self._got_first = False

    # subclasses override
    def on_line(self, line):
        pass

    def _feed(self, line):
        with self._cond:
            if not self._got_first:
                # The "PORT <n>" line (or EOF) goes to start().
                self._got_first = True
                self._lines.put(line)
                if line is None:
                    self._eof = True
                return
            if line is None:
                self._eof = True
            else:
                self.on_line(line)
            self._cond.notify_all()

    def _feed_err(self, line):
        if line is not None:
            self._stderr.append(line)

    def start(self):
        self.proc = subprocess.Popen(
            self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=self._env, close_fds=True)
        self._out = _LineReader(self.proc.stdout, self._feed)
        self._err = _LineReader(self.proc.stderr, self._feed_err)
        try:
            first = self._lines.get(timeout=self._start_timeout)
        except queue.Empty:
            first = None
        m = re.fullmatch(r"PORT (\d+)", first or "")
        if not m:
            self.stop()
            raise RuntimeError(
                f"{self.name} did not start: first line {first!r}, "
                f"stderr: {' | '.join(self._stderr[-10:])}")
        self.port = int(m.group(1))
        return self

    def stop(self):
        p = self.proc
        if p is None:
            return
        try:
            p.stdin.close()
        except OSError:
            pass
        try:
            p.wait(timeout=3)
        except subprocess.TimeoutExpired:
            p.terminate()
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self._out.join(2)
        self._err.join(2)
        for f in (p.stdout, p.stderr):
            try:
                f.close()
            except OSError:
                pass
        self.proc = None

    def stderr_text(self):
        return "\n".join(self._stderr)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


class Receiver(_Child):
    """The OTLP/HTTP receiver. Options map to receiver.js flags:
    Receiver(fail_first=2, fail_status=503, retry_after=1,
    partial_reject=1, delay_ms=0)."""

    name = "OTLP receiver"

    def __init__(self, **opts):
        args = [NODE, RECEIVER_JS]
        for k, v in opts.items():
            if v is not None:
                args += ["--" + k.replace("_", "-"), str(v)]
        super().__init__(args, env=clean_env())
        self.all_spans = []     # every span line, accepted or not
        self.requests = []      # one per HTTP request
        self.errors = []        # undecodable bodies and the like
        self.bad_lines = []

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def on_line(self, line):
        try:
            d = json.loads(line)
        except ValueError:
            self.bad_lines.append(line)
            return
        t = d.get("type")
        if t == "span":
            self.all_spans.append(d)
        elif t == "request":
            self.requests.append(d)
        else:
            self.errors.append(d)

    @property
    def spans(self):
        """Spans of requests the receiver accepted (answered 200)."""
        with self._cond:
            return [s for s in self.all_spans if s.get("accepted", True)]

    def wait_spans(self, n, timeout=5.0, settle=0.3):
        """Wait until at least n accepted spans arrived (or timeout), then
        settle seconds more to catch extra ones; return all of them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (len([s for s in self.all_spans if s.get("accepted", True)])
                   < n and not self._eof):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        if settle > 0:
            time.sleep(settle)
        return self.spans

    def check_clean(self):
        """Fail if the receiver saw undecodable requests, printed junk, or
        got export requests that are not what OTLP/HTTP asks for: POST of
        application/x-protobuf to /v1/traces, no empty envelopes (SPEC.md
        3), no span without an id."""
        with self._cond:
            if self.errors:
                fail(f"receiver errors: {self.errors[:3]}")
            if self.bad_lines:
                fail(f"receiver printed non-JSON lines: {self.bad_lines[:3]}")
            for r in self.requests:
                q = r["request"]
                what = f"export request {q['index']}"
                check_eq((q["method"], q["path"], q["content_type"]),
                         ("POST", "/v1/traces", "application/x-protobuf"),
                         what)
                check_eq((r["spans"] > 0, r["empty_resource_spans"],
                          r["empty_scope_spans"]), (True, 0, 0),
                         what + ": (has spans, empty ResourceSpans, "
                         "empty ScopeSpans)")
            for s in self.all_spans:
                if s.get("duplicate_attribute_keys") or \
                        s.get("duplicate_resource_keys"):
                    fail(f"duplicate attribute keys in span {s['span_id']}: "
                         f"{s.get('duplicate_attribute_keys')} "
                         f"{s.get('duplicate_resource_keys')}")


class HttpServer(_Child):
    """The local HTTP/1.1 test server (see _serve_http for its endpoints).
    .requests lists what it received: method, path, version, headers,
    client_port, in order."""

    name = "HTTP test server"

    def __init__(self):
        env = clean_env()
        super().__init__([sys.executable, os.path.abspath(__file__),
                          "http-server"], env=env)
        self.requests = []

    def on_line(self, line):
        try:
            self.requests.append(json.loads(line))
        except ValueError:
            pass

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_requests(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < n and not self._eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self.requests)


class EchoServer(_Child):
    """A raw TCP echo server: echoes every byte until the client's EOF."""

    name = "TCP echo server"

    def __init__(self):
        super().__init__([sys.executable, os.path.abspath(__file__),
                          "echo-server"], env=clean_env())


class RunResult:
    def __init__(self, args, returncode, stdout, stderr, pid, t0, t1):
        self.args = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.pid = pid
        self.t0_ns = t0
        self.t1_ns = t1

    @property
    def out(self):
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self):
        return self.stderr.decode("utf-8", "replace")

    def __repr__(self):
        return (f"RunResult({self.args!r}, rc={self.returncode}, "
                f"stdout={self.stdout[:300]!r}, stderr={self.stderr[:600]!r})")


def run(args, receiver=None, env=None, preload=True, timeout=30, input=None,
        schedule_delay=100):
    """Run args (no shell) and return a RunResult. With preload, the library
    is in LD_PRELOAD, OTEL_BSP_SCHEDULE_DELAY=schedule_delay and, with a
    receiver, OTEL_EXPORTER_OTLP_ENDPOINT points to it. env entries are set
    last (a value of None removes the variable)."""
    e = clean_env()
    if preload:
        lib = library_path()
        if not lib:
            fail("OTELSHIM_LIB is not set and no built library was found")
        e["LD_PRELOAD"] = preload_value(lib)
        args = wrapper_prefix() + list(args)
        if schedule_delay is not None:
            e["OTEL_BSP_SCHEDULE_DELAY"] = str(schedule_delay)
        if receiver is not None:
            e["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    t0 = time.time_ns()
    p = subprocess.Popen(args, stdin=subprocess.PIPE if input is not None
                         else subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=e, close_fds=True)
    try:
        out, err = p.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        fail(f"{args!r} did not finish in {timeout} s; stdout {out[:300]!r}"
             f" stderr {err[:600]!r}")
    t1 = time.time_ns()
    return RunResult(args, p.returncode, out, err, p.pid, t0, t1)


def summarize(spans):
    """A short description of spans, for failure messages."""
    out = []
    for s in spans:
        a = s.get("attributes", {})
        out.append(f"[{s.get('name')} kind={s.get('kind')} "
                   f"url={a.get('url.full')} "
                   f"status={a.get('http.response.status_code')} "
                   f"svc={s.get('resource', {}).get('service.name')}]")
    return " ".join(out) if out else "(no spans)"


# ---- the test runner -------------------------------------------------------

def receiver_ready():
    """None when the receiver can run, else the reason it cannot."""
    mod = os.path.join(RECEIVER_DIR, "node_modules", "@opentelemetry",
                       "otlp-transformer")
    if not os.path.isdir(mod):
        return (f"the test OTLP receiver's npm packages are not installed "
                f"({mod} is missing); run: cd {RECEIVER_DIR} && npm ci")
    return None


def main(tests):
    """Run each test function (or those whose names contain one of the
    command-line arguments) and print the results."""
    why = receiver_ready()
    if why:
        print(f"SKIP: {why}", flush=True)
        sys.exit(77)
    lib = library_path()
    if not lib or not os.path.exists(lib):
        print(f"FAIL setup: library not found (OTELSHIM_LIB={lib!r})",
              flush=True)
        print("0 passed, 1 failed", flush=True)
        sys.exit(1)
    wanted = sys.argv[1:]
    passed = failed = 0
    for t in tests:
        name = t.__name__
        if name.startswith("test_"):
            name = name[5:]
        if wanted and not any(w in name for w in wanted):
            continue
        start = time.monotonic()
        try:
            t()
        except TestFailure as e:
            failed += 1
            print(f"FAIL {name}: {e}", flush=True)
            continue
        except Exception as e:  # a broken test or harness: still a failure
            failed += 1
            tb = traceback.format_exc().strip().replace("\n", "\n    ")
            print(f"FAIL {name}: {type(e).__name__}: {e}\n    {tb}",
                  flush=True)
            continue
        passed += 1
        print(f"PASS {name} ({time.monotonic() - start:.2f} s)", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


# ---- the servers (run in subprocesses, never preloaded) --------------------

def _watch_stdin_then_exit():
    """Exit the whole process when stdin closes (the harness is gone)."""
    def watch():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except OSError:
            pass
        os._exit(0)
    threading.Thread(target=watch, daemon=True).start()


def _serve_http():
    """Endpoints (any method; HEAD gets the GET headers without a body):
      /ok...              200 "ok\\n"
      /status/<code>      that status; 1xx, 204 and 304 without a body
                          (304 with the Content-Length a 200 would have)
      /chunked            200, Transfer-Encoding: chunked, three chunks
      /head               200 "head body\\n"
      /echo-headers       200, the request's header lines as the body
      /echo-body          200, the request body
      /close              200, close-delimited body (no Content-Length)
      /slow?ms=N          200 "slow\\n" after N ms
      /big?n=N            200, N bytes
      anything else       404
    Absolute-form targets ("http://u:p@h:port/p?q") are accepted. One JSON
    line per request on stdout: method, target, path, version, headers
    ([name, value] pairs as received), client_port."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import urlsplit, parse_qs

    out_lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "otelshim-test"
        sys_version = ""

        def setup(self):
            super().setup()
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, fmt, *args):
            pass

        def _record(self, path):
            rec = {
                "method": self.command, "target": self.path, "path": path,
                "version": self.request_version,
                "headers": [[k, v] for k, v in self.headers.items()],
                "client_port": self.client_address[1],
            }
            with out_lock:
                sys.stdout.write(json.dumps(rec) + "\n")
                sys.stdout.flush()

        def _read_body(self):
            te = self.headers.get("Transfer-Encoding", "")
            if "chunked" in te.lower():
                body = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return body
                    body += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n > 0 else b""

        def _send(self, code, body=b"", headers=(), head_only=False,
                  no_body=False, length=True):
            lines = [f"HTTP/1.1 {code} {self.responses.get(code, ('X',))[0]}",
                     f"Server: {self.server_version}",
                     f"Date: {self.date_time_string()}"]
            lines += [f"{k}: {v}" for k, v in headers]
            if length and not no_body:
                lines.append(f"Content-Length: {len(body)}")
            if not length:
                lines.append("Connection: close")
                self.close_connection = True
            data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            if not head_only and not no_body:
                data += body
            self.wfile.write(data)
            self.wfile.flush()

        def _route(self, head_only):
            target = self.path
            if target.startswith(("http://", "https://")):
                u = urlsplit(target)
                target = u.path + ("?" + u.query if u.query else "")
            path, _, query = target.partition("?")
            self._record(path)
            self._read_body_data = self._read_body()
            q = parse_qs(query)
            if path.startswith("/ok"):
                self._send(200, b"ok\n", [("Content-Type", "text/plain")],
                           head_only)
            elif path.startswith("/status/"):
                try:
                    code = int(path[len("/status/"):].split("/")[0])
                except ValueError:
                    code = 400
                if 100 <= code < 200 or code == 204:
                    self._send(code, no_body=True)
                elif code == 304:
                    self._send(304, headers=[("Content-Length", "10"),
                                             ("ETag", '"x"')], no_body=True)
                else:
                    self._send(code, f"status {code}\n".encode(),
                               [("Content-Type", "text/plain")], head_only)
            elif path == "/chunked":
                hdr = (f"HTTP/1.1 200 OK\r\nServer: {self.server_version}\r\n"
                       f"Date: {self.date_time_string()}\r\n"
                       "Content-Type: text/plain\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n").encode()
                self.wfile.write(hdr)
                if not head_only:
                    for piece in (b"hello ", b"chunked ", b"world\n"):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.flush()
                        time.sleep(0.005)
                    self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            elif path == "/head":
                self._send(200, b"head body\n", [("Content-Type", "text/plain")],
                           head_only)
            elif path == "/echo-headers":
                body = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
                self._send(200, body.encode("latin-1"),
                           [("Content-Type", "text/plain")], head_only)
            elif path == "/echo-body":
                self._send(200, self._read_body_data,
                           [("Content-Type", "application/octet-stream")],
                           head_only)
            elif path == "/close":
                self._send(200, b"closed body\n", head_only=head_only,
                           length=False)
            elif path == "/slow":
                time.sleep(int(q.get("ms", ["100"])[0]) / 1000.0)
                self._send(200, b"slow\n", head_only=head_only)
            elif path == "/big":
                n = int(q.get("n", ["100000"])[0])
                self._send(200, b"x" * n, head_only=head_only)
            else:
                self._send(404, b"not found\n", [("Content-Type", "text/plain")],
                           head_only)

        def do_HEAD(self):
            self._route(True)

        def _any(self):
            self._route(False)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _any

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = Server(("127.0.0.1", 0), Handler)
    sys.stdout.write(f"PORT {srv.server_address[1]}\n")
    sys.stdout.flush()
    _watch_stdin_then_exit()
    srv.serve_forever()


def _serve_echo():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)

    def echo(c):
        with c:
            while True:
                try:
                    data = c.recv(65536)
                except OSError:
                    return
                if not data:
                    break
                c.sendall(data)
            try:
                c.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    sys.stdout.write(f"PORT {srv.getsockname()[1]}\n")
    sys.stdout.flush()
    _watch_stdin_then_exit()
    while True:
        c, _ = srv.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    if sys.argv[1:] == ["http-server"]:
        _serve_http()
    elif sys.argv[1:] == ["echo-server"]:
        _serve_echo()
    else:
        sys.stderr.write("usage: otlp_harness.py http-server | echo-server\n")
        sys.exit(2)
