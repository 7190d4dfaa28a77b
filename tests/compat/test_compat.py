#!/usr/bin/env python3
"""test_compat.py - the compatibility suite (issue 5, point 7): real,
unmodified Debian programs run without and then with the library
preloaded print the same things and exit with the same status.

Every comparison is of the exit status, standard output and standard
error (after the normalisations listed with each test: only what
legitimately varies from run to run, such as dates, ports, temporary
paths and timing figures), and otelshim must print nothing at all on
either stream. The preloaded runs export to the independent OTLP receiver
(tests/receiver), and each test also checks the spans that should (or
must not) have arrived.

  curl          GET/HEAD/POST/PUT with -i, keep-alive, a 404 (also with -f:
                exit 22), a refused port (exit 7, no span), -v minus the
                data-size lines; the injected traceparent is the only
                header the server sees in addition
  wget          -O - and -S against the test server, POST, a 404 (exit 8),
                a refused port (exit 4)
  http_server   python3 -m http.server (preloaded) serving a temporary
                directory to curl and to urllib (both preloaded): client
                output, the server's stdout and its stderr log lines minus
                timestamps, its exit status after SIGINT; SERVER spans
                whose parents are the clients' CLIENT spans
  nginx         static files (sendfile, HEAD, Range, a redirect, a 404)
                and a proxied location: the same answers, access and error
                logs, stderr and exit status; SERVER and CLIENT spans
  psql          a script with an error, with and without ON_ERROR_STOP
                (exit 0, 3), -c, a refused port (exit 2), against a real
                PostgreSQL (tests/integration/dbservers.py): one span per
                statement, the failing one an error, one failed-connect span
  mariadb       the same with the mariadb client against a real MariaDB
                (--force --table, batch, -e, a refused port)
  redis         redis-cli (PING, SET/GET, several commands on stdin,
                --pipe, INFO keyspace, an error) against redis-server,
                both preloaded: same output, same server log, and no span
                at all (a control curl span shows the export works)
  git_http      git clone and git ls-remote over HTTP from `git http-backend`
                run as a CGI program by python's http.server (a small
                wrapper, compat_servers.py): client preloaded, then client
                and server preloaded; same output, same cloned tree and
                history, same server log; CLIENT spans for the clone, the
                CGI server's SERVER spans are their children
  git_cgi_server_span
                the CGI server's SERVER span of a request the CGI child
                answered completely (200) is not an error
  pipeline      sh -c 'for i in 1 2 3 4 5; do curl -s URL/$i; done | sort |
                uniq -c' preloaded (default batch delay): same output, and
                exactly five CLIENT spans, each exported by its own short-
                lived process before it exited
  selftest      the comparison itself: a changed byte, a changed exit
                status, an otelshim line (a real one: curl exporting to a
                dead collector) are all reported

python3 test_compat.py [NAME...] runs the named tests (exact names), all by
default. Everything listens on 127.0.0.1 and lives in temporary
directories, and is stopped and removed, pass or fail. Exit 77 (meson's
skip) when the receiver's npm packages or a test's programs are missing.
"""

import difflib
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.join(os.path.dirname(HERE), "integration")
sys.path.insert(0, INTEGRATION)
from otlp_harness import (CURL, PYTHON, HttpServer, Receiver,  # noqa: E402
                          RunResult, TestFailure, _Child, check, check_eq,
                          clean_env, fail, library_path, receiver_ready)
import dbservers  # noqa: E402
import otlp_harness  # noqa: E402


def preload_value():
    """LD_PRELOAD of a traced run: the harness's (which may put a
    sanitizer runtime first, for scripts/test --sanitize) when it has
    one, else the library alone."""
    f = getattr(otlp_harness, "preload_value", None)
    return f() if f else library_path()

SERVERS = os.path.join(HERE, "compat_servers.py")


def _which(name, extra="/usr/sbin:/usr/bin:/sbin:/bin"):
    return shutil.which(name, path=extra) or shutil.which(name)


WGET = _which("wget")
GIT = _which("git")
NGINX = _which("nginx")
REDIS_SERVER = _which("redis-server")
REDIS_CLI = _which("redis-cli")
SH = "/bin/sh"

KIND_SERVER, KIND_CLIENT = 2, 3
STATUS_ERROR = 2

# otelshim's own lines: "otelshim[prog:pid]: ..." (warnings, drop counts,
# the console exporter). By default none may appear.
SHIM_LINE = re.compile(r"otelshim\[")


class SkipTest(Exception):
    pass


def need(*progs):
    missing = [n for n, p in progs if not p or not os.access(p, os.X_OK)]
    if missing:
        raise SkipTest("not installed: " + ", ".join(missing))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- running programs ------------------------------------------------------

def base_env(extra=None):
    """The environment of both runs: the caller's without OTEL_*, preload
    and proxy variables, in the C locale and UTC."""
    e = clean_env()
    e["LC_ALL"] = "C"
    e["TZ"] = "UTC"
    e.update(extra or {})
    return e


def traced_env(rx, service, extra=None, schedule_delay="100"):
    """base_env plus the library preloaded, exporting to rx."""
    e = base_env(extra)
    e["LD_PRELOAD"] = preload_value()
    if rx is not None:
        e["OTEL_EXPORTER_OTLP_ENDPOINT"] = rx.endpoint
    if schedule_delay is not None:
        e["OTEL_BSP_SCHEDULE_DELAY"] = schedule_delay
    e["OTEL_SERVICE_NAME"] = service
    return e


def run_env(args, env, input=None, cwd=None, timeout=30):
    t0 = time.time_ns()
    p = subprocess.Popen(args, stdin=subprocess.PIPE if input is not None
                         else subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, cwd=cwd,
                         close_fds=True)
    try:
        out, err = p.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        fail(f"{args!r} did not finish in {timeout} s; stdout {out[:300]!r}"
             f" stderr {err[:600]!r}")
    return RunResult(args, p.returncode, out, err, p.pid, t0, time.time_ns())


# ---- comparing -------------------------------------------------------------

def subst(*rules):
    """A normaliser: each rule is (regex, replacement), applied in order to
    the text (bytes decoded as Latin-1, so nothing is lost)."""
    compiled = [(re.compile(r, re.M), s) for r, s in rules]

    def norm(text):
        for r, s in compiled:
            text = r.sub(s, text)
        return text
    return norm


def no_norm(text):
    return text


def port_rule(*ports):
    alt = "|".join(str(p) for p in ports if p)
    return (rf"(?<!\d)(?:{alt})(?!\d)", "<PORT>")


def path_rule(*paths):
    alt = "|".join(re.escape(p) for p in paths if p)
    return (rf"(?:{alt})", "<TMP>")


DATE_HEADER = (r"^([<> ]*)(Date|date): [^\r\n]*", r"\1Date: <DATE>")


def _text(b):
    return b.decode("latin-1")


def _diff(a, b, what):
    """A readable description of how b (with the shim) differs from a."""
    if "\0" in a or "\0" in b or max(len(a), len(b)) > 300000:
        n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y),
                 min(len(a), len(b)))
        return (f"  {what}: {len(a)} bytes without the shim, {len(b)} with; "
                f"first difference at offset {n}: {a[n:n + 40]!r} vs "
                f"{b[n:n + 40]!r}")
    lines = list(difflib.unified_diff(
        a.splitlines(keepends=True), b.splitlines(keepends=True),
        f"{what} without the shim", f"{what} with the shim", n=2))
    if len(lines) > 80:
        lines = lines[:80] + [f"... ({len(lines) - 80} more diff lines)\n"]
    return "  " + "  ".join(ln if ln.endswith("\n") else ln + "\n"
                            for ln in lines).rstrip("\n")


def shim_lines(text):
    return [ln for ln in text.splitlines() if SHIM_LINE.search(ln)]


def differences(plain, traced, norm=no_norm, err_norm=None, what=""):
    """The list of differences between a run without the shim (plain) and
    one with it (traced): otelshim lines on either stream, exit status,
    normalised stdout, normalised stderr minus otelshim's lines."""
    out = []
    own = shim_lines(_text(traced.stdout)) + shim_lines(_text(traced.stderr))
    if own:
        out.append(f"  otelshim printed {len(own)} line(s) of its own: "
                   f"{own[:5]!r}")
    if plain.returncode != traced.returncode:
        out.append(f"  exit status {plain.returncode} without the shim, "
                   f"{traced.returncode} with it")
    a, b = norm(_text(plain.stdout)), norm(_text(traced.stdout))
    if a != b:
        out.append(_diff(a, b, "stdout"))
    en = err_norm or norm
    terr = "".join(ln for ln in _text(traced.stderr).splitlines(keepends=True)
                   if not SHIM_LINE.search(ln))
    a, b = en(_text(plain.stderr)), en(terr)
    if a != b:
        out.append(_diff(a, b, "stderr"))
    return out


def compare(what, plain, traced, norm=no_norm, err_norm=None):
    d = differences(plain, traced, norm, err_norm)
    if d:
        fail(f"{what} ({' '.join(map(str, plain.args))[:200]}): the shim "
             "changes what it prints or returns:\n" + "\n".join(d))


def compare_text(what, plain, traced, norm=no_norm):
    """Compare two texts (logs, listings) the same way."""
    own = shim_lines(traced)
    if own:
        fail(f"{what}: otelshim lines: {own[:5]!r}")
    a, b = norm(plain), norm(traced)
    if a != b:
        fail(f"{what} differs with the shim:\n" + _diff(a, b, what))


def pair(args, rx, service, norm=no_norm, err_norm=None, env=None,
         input=None, cwd=None, what=None, timeout=30):
    """Run args without the shim, then with it (exporting to rx as
    service); compare; return (plain, traced)."""
    plain = run_env(args, base_env(env), input=input, cwd=cwd,
                    timeout=timeout)
    traced = run_env(args, traced_env(rx, service, env), input=input,
                     cwd=cwd, timeout=timeout)
    compare(what or service, plain, traced, norm, err_norm)
    return plain, traced


# ---- spans -----------------------------------------------------------------

def describe(spans):
    out = []
    for s in spans:
        a = s.get("attributes", {})
        out.append(
            f"[{s.get('name')!r} kind={s.get('kind')} "
            f"svc={s.get('resource', {}).get('service.name')} "
            f"url={a.get('url.full') or a.get('url.path')} "
            f"status={a.get('http.response.status_code')} "
            f"db={a.get('db.query.text')!r} err={a.get('error.type')} "
            f"code={s.get('status', {}).get('code')}]")
    return " ".join(out) if out else "(no spans)"


def of_service(spans, svc):
    return [s for s in spans if s["resource"].get("service.name") == svc]


def http_key(s):
    """(kind, method, url, status, is error) of an HTTP span."""
    a = s["attributes"]
    url = a.get("url.full")
    if url is None:
        url = a.get("url.path", "") + ("?" + a["url.query"]
                                       if a.get("url.query") else "")
    return (s["kind"], a.get("http.request.method"), url,
            a.get("http.response.status_code"),
            s["status"]["code"] == STATUS_ERROR)


def check_http_spans(spans, want, what):
    """spans are exactly want: a list of http_key tuples (any order)."""
    got = sorted(map(http_key, spans), key=repr)
    want = sorted(want, key=repr)
    if got != want:
        fail(f"{what}: spans {got!r}, want {want!r}; {describe(spans)}")


def check_parents(clients, servers, what):
    """Each server span is the child of exactly one client span (same
    trace, parent id = the client span's id), one to one."""
    by_id = {c["span_id"]: c for c in clients}
    used = set()
    for s in servers:
        c = by_id.get(s["parent_span_id"])
        check(c is not None and c["trace_id"] == s["trace_id"],
              f"{what}: SERVER span {describe([s])} has no CLIENT parent "
              f"among {describe(clients)}")
        check(s["parent_span_id"] not in used,
              f"{what}: two SERVER spans with the same parent")
        used.add(s["parent_span_id"])
        check_eq(http_key(s)[1:4], (http_key(c)[1], _path_of(http_key(c)[2]),
                                    http_key(c)[3]),
                 f"{what}: (method, target, status) of a SERVER span vs "
                 "its CLIENT parent")


def _path_of(url):
    m = re.match(r"^[a-z]+://[^/]+(/.*)?$", url or "")
    return (m.group(1) or "/") if m else url


# ---- tests -----------------------------------------------------------------

CURL_V = subst(DATE_HEADER,
               # how the body was split into reads: timing
               (r"^[{}] \[\d+ bytes data\]\r?\n", ""),
               (r"after \d+ ms", "after <N> ms"))


def test_curl():
    with Receiver() as rx, HttpServer() as hs:
        tmp = tempfile.mkdtemp(prefix="otelshim-compat-curl-")
        try:
            upload = os.path.join(tmp, "upload.bin")
            with open(upload, "wb") as f:
                f.write(random.Random(5).randbytes(50000))
            dead = f"http://127.0.0.1:{free_port()}/x"
            u = hs.url
            # name, args, expected CLIENT spans (method, url, status, error)
            cases = [
                ("get", ["-s", "-i", u("/ok")],
                 [("GET", u("/ok"), 200, False)]),
                ("head", ["-s", "-I", u("/head")],
                 [("HEAD", u("/head"), 200, False)]),
                ("post", ["-s", "-i", "-d", "name=otel&x=1",
                          u("/echo-body")],
                 [("POST", u("/echo-body"), 200, False)]),
                ("put", ["-s", "-i", "-T", upload, u("/echo-body")],
                 [("PUT", u("/echo-body"), 200, False)]),
                ("not-found", ["-s", "-i", u("/nope")],
                 [("GET", u("/nope"), 404, True)]),
                ("fail-404", ["-sS", "-f", u("/status/404")],
                 [("GET", u("/status/404"), 404, True)]),
                ("server-error", ["-s", "-i", u("/status/503")],
                 [("GET", u("/status/503"), 503, True)]),
                ("keep-alive", ["-s", "-i", u("/ok?a=1"), u("/chunked"),
                                u("/status/204"), u("/close")],
                 [("GET", u("/ok?a=1"), 200, False),
                  ("GET", u("/chunked"), 200, False),
                  ("GET", u("/status/204"), 204, False),
                  ("GET", u("/close"), 200, False)]),
                ("verbose", ["-v", "-s", u("/chunked")],
                 [("GET", u("/chunked"), 200, False)]),
                ("refused", ["-sS", dead], []),
                ("refused-verbose", ["-v", "-s", dead], []),
            ]
            results = {}
            for name, args, _ in cases:
                plain, traced = pair([CURL] + args, rx, "curl-" + name,
                                     norm=CURL_V, what=f"curl {name}")
                results[name] = plain
            check_eq(results["fail-404"].returncode, 22, "curl -f on a 404")
            check_eq(results["refused"].returncode, 7, "curl, refused port")
            check("Failed to connect" in results["refused"].err,
                  f"curl's message: {results['refused'].err!r}")
            check(results["get"].out.startswith("HTTP/1.1 200 OK\r\n") and
                  results["get"].out.endswith("\r\n\r\nok\n"),
                  f"curl -i output: {results['get'].out!r}")
            check("> GET /chunked HTTP/1.1" in results["verbose"].err,
                  f"curl -v output: {results['verbose'].err!r}")

            # The headers the server received: the traced request has one
            # more, the traceparent of curl's CLIENT span, and nothing else
            # changed.
            plain = run_env([CURL, "-s", u("/echo-headers")], base_env())
            traced = run_env([CURL, "-s", u("/echo-headers")],
                             traced_env(rx, "curl-echo-headers"))
            tp = [ln for ln in traced.out.splitlines()
                  if ln.lower().startswith("traceparent:")]
            check_eq(len(tp), 1, f"traceparent lines the server saw: "
                     f"{traced.out!r}")
            check(not re.search("(?im)^traceparent:", plain.out),
                  "a traceparent without the shim")
            compare("curl echo-headers", plain, traced,
                    norm=subst((r"^traceparent: [^\n]*\n", "")))

            total = sum(len(w) for _, _, w in cases) + 1
            spans = rx.wait_spans(total, timeout=10)
            rx.check_clean()
            for name, args, want in cases:
                check_http_spans(of_service(spans, "curl-" + name),
                                 [(KIND_CLIENT,) + w for w in want],
                                 f"curl {name}")
            eh = of_service(spans, "curl-echo-headers")
            check_eq(len(eh), 1, f"echo-headers span: {describe(eh)}")
            m = re.match(r"(?i)traceparent: 00-([0-9a-f]{32})-([0-9a-f]{16})"
                         r"-[0-9a-f]{2}$", tp[0])
            check(m and (m.group(1), m.group(2)) ==
                  (eh[0]["trace_id"], eh[0]["span_id"]),
                  f"the injected {tp[0]!r} names curl's CLIENT span "
                  f"{eh[0]['trace_id']}/{eh[0]['span_id']}")
            check_eq(len(spans), total, f"no other spans: {describe(spans)}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


WGET_NORM = subst(
    DATE_HEADER,
    (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "<DATE>"),
    (r"\([\d.]+ [KMG]?B/s\)", "(<RATE>)"),
    # the dot progress: rate and time (or ETA) at the end of each line
    (r"(\d+%)? +[\d.]+[KMG]? ?[ =][\d.hms]+$", r"\1 <RATE> <TIME>"))


def test_wget():
    need(("wget", WGET))
    with Receiver() as rx, HttpServer() as hs:
        u = hs.url
        dead = f"http://127.0.0.1:{free_port()}/"
        w = [WGET, "--no-config", "-t", "1"]
        cases = [
            ("get", ["-O", "-", u("/ok")], [("GET", u("/ok"), 200, False)]),
            ("headers", ["-S", "-O", "-", u("/chunked")],
             [("GET", u("/chunked"), 200, False)]),
            ("big", ["-O", "-", u("/big?n=300000")],
             [("GET", u("/big?n=300000"), 200, False)]),
            ("post", ["-S", "-O", "-", "--post-data=a=1&b=2",
                      u("/echo-body")],
             [("POST", u("/echo-body"), 200, False)]),
            ("not-found", ["-S", "-O", "-", u("/status/404")],
             [("GET", u("/status/404"), 404, True)]),
            ("refused", ["-O", "-", dead], []),
        ]
        results = {}
        for name, args, _ in cases:
            plain, _t = pair(w + args, rx, "wget-" + name, norm=WGET_NORM,
                             what=f"wget {name}")
            results[name] = plain
        check_eq((results["get"].returncode, results["get"].out),
                 (0, "ok\n"), "wget -O - output")
        check_eq(results["not-found"].returncode, 8, "wget on a 404")
        check_eq(results["refused"].returncode, 4, "wget, refused port")
        check("HTTP/1.1 200 OK" in results["headers"].err,
              f"wget -S: {results['headers'].err!r}")
        total = sum(len(c[2]) for c in cases)
        spans = rx.wait_spans(total, timeout=10)
        rx.check_clean()
        for name, args, want in cases:
            check_http_spans(of_service(spans, "wget-" + name),
                             [(KIND_CLIENT,) + x for x in want],
                             f"wget {name}")
        check_eq(len(spans), total, f"no other spans: {describe(spans)}")


URLLIB_CLIENT = r"""
import hashlib, sys, urllib.error, urllib.request
base = sys.argv[1]
for method, path in [("GET", "/hello.txt"), ("GET", "/sub"),
                     ("GET", "/nope"), ("GET", "/data.bin"),
                     ("HEAD", "/hello.txt")]:
    req = urllib.request.Request(base + path, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
            print(method, path, r.status, r.url[len(base):],
                  r.headers.get("Content-Type"),
                  r.headers.get("Content-Length"),
                  r.headers.get("Last-Modified"), len(body),
                  hashlib.sha256(body).hexdigest()[:16])
    except urllib.error.HTTPError as e:
        print(method, path, "HTTPError", e.code, e.reason, e.read()[:80])
"""


def _write_tree(root):
    os.makedirs(os.path.join(root, "sub"))
    files = {
        "hello.txt": b"hello from the compat suite\n",
        "space name.txt": b"a name with a space\n",
        "sub/inner.txt": b"inner\n",
        "data.bin": random.Random(11).randbytes(150000),
    }
    for name, data in files.items():
        p = os.path.join(root, name)
        with open(p, "wb") as f:
            f.write(data)
        os.utime(p, (1700000000, 1700000000))
    for d in ("sub", "."):
        os.utime(os.path.join(root, d), (1700000000, 1700000000))


def _start_http_server(env, root):
    """python3 -m http.server in root on a free port; returns (proc, port,
    first stdout line)."""
    for _ in range(3):
        port = free_port()
        p = subprocess.Popen(
            [PYTHON, "-u", "-m", "http.server", "--bind", "127.0.0.1",
             "--directory", root, str(port)], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            close_fds=True)
        line = p.stdout.readline().decode("latin-1")
        if line.startswith("Serving HTTP"):
            return p, port, line
        p.kill()
        p.communicate()
    fail(f"python3 -m http.server did not start: {line!r}")


def _stop(p, sig=signal.SIGINT, timeout=10):
    """Stop p with sig; returns (exit status, rest of stdout, stderr)."""
    if p.poll() is None:
        p.send_signal(sig)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        fail(f"{p.args[:3]} did not stop on signal {sig}")
    return p.returncode, out, err


def test_http_server():
    tmp = tempfile.mkdtemp(prefix="otelshim-compat-httpd-")
    procs = []
    try:
        root = os.path.join(tmp, "www")
        _write_tree(root)
        with Receiver() as rx:
            runs = []
            for traced in (False, True):
                env = traced_env(rx, "http.server") if traced else base_env()
                p, port, first = _start_http_server(env, root)
                procs.append(p)
                base = f"http://127.0.0.1:{port}"
                cenv = (lambda svc: traced_env(rx, svc)) if traced else \
                    (lambda svc: base_env())
                clients = []
                for path in ("/", "/hello.txt", "/space%20name.txt", "/sub",
                             "/sub/", "/nope", "/data.bin"):
                    clients.append(run_env([CURL, "-s", "-i", base + path],
                                           cenv("curl")))
                clients.append(run_env([CURL, "-s", "-I", base + "/data.bin"],
                                       cenv("curl")))
                clients.append(run_env([CURL, "-s", "-i", "-X", "POST",
                                        "-d", "x", base + "/hello.txt"],
                                       cenv("curl")))
                clients.append(run_env([PYTHON, "-c", URLLIB_CLIENT, base],
                                       cenv("urllib")))
                rc, out, err = _stop(p)
                procs.remove(p)
                runs.append(dict(port=port, clients=clients, rc=rc,
                                 out=first + out.decode("latin-1"),
                                 err=err.decode("latin-1")))
            a, b = runs
            norm = subst(DATE_HEADER, port_rule(a["port"], b["port"]))
            for ca, cb in zip(a["clients"], b["clients"]):
                compare("client of http.server", ca, cb, norm)
            check("Directory listing for /" in a["clients"][0].out,
                  f"listing: {a['clients'][0].out[:300]!r}")
            check_eq(a["clients"][-1].returncode, 0,
                     f"urllib client: {a['clients'][-1].err[-800:]}")
            check_eq((b["rc"], a["rc"]), (0, 0),
                     "http.server's exit status after SIGINT (traced, "
                     "plain)")
            lognorm = subst(port_rule(a["port"], b["port"]),
                            (r"\[\d\d/\w{3}/\d{4} \d\d:\d\d:\d\d\]",
                             "[<DATE>]"))
            compare_text("http.server stdout", a["out"], b["out"], lognorm)
            compare_text("http.server stderr log", a["err"], b["err"],
                         lognorm)
            check(a["err"].count('"GET /nope HTTP/1.1" 404') == 2,
                  f"the server's log: {a['err']!r}")

            n_req = 9 + 6   # curl's 9 requests, urllib's 5 + a redirect
            spans = rx.wait_spans(2 * n_req, timeout=10)
            rx.check_clean()
            servers = of_service(spans, "http.server")
            clients = of_service(spans, "curl") + of_service(spans, "urllib")
            check_eq((len(servers), len(clients), len(spans)),
                     (n_req, n_req, 2 * n_req),
                     f"(SERVER, CLIENT, all) spans: {describe(spans)}")
            check(all(s["kind"] == KIND_SERVER for s in servers) and
                  all(c["kind"] == KIND_CLIENT for c in clients),
                  f"span kinds: {describe(spans)}")
            check_parents(clients, servers, "http.server")
            # 404 is the client's fault, 501 (POST not implemented) the
            # server's
            errs = [http_key(s) for s in servers
                    if s["status"]["code"] == STATUS_ERROR]
            check_eq(errs, [(KIND_SERVER, "POST", "/hello.txt", 501, True)],
                     "SERVER spans in error")
    finally:
        for p in procs:
            p.kill()
            p.communicate()
        shutil.rmtree(tmp, ignore_errors=True)


class Nginx:
    """nginx in a temporary prefix with one worker: static files under
    /static/ and a reverse proxy to upstream_port under /api/, access and
    error logs in the prefix."""

    def __init__(self, upstream_port, env):
        self.dir = tempfile.mkdtemp(prefix="otelshim-compat-nginx-")
        self.env = env
        self.proc = None
        d = self.dir
        st = os.path.join(d, "html", "static")
        os.makedirs(os.path.join(st, "dir"))
        files = {"small.txt": b"small file\n",
                 "dir/index.html": b"<p>index</p>\n",
                 "file.bin": random.Random(7).randbytes(200000)}
        for n, data in files.items():
            with open(os.path.join(st, n), "wb") as f:
                f.write(data)
            os.utime(os.path.join(st, n), (1700000000, 1700000000))
        self.port = free_port()
        conf = f"""
worker_processes 1;
daemon off;
master_process on;
{"user root;" if os.geteuid() == 0 else ""}
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 256; }}
http {{
  access_log {d}/access.log combined;
  sendfile on;
  default_type application/octet-stream;
  types {{ text/plain txt; text/html html; }}
  client_body_temp_path {d}/cb; proxy_temp_path {d}/pt;
  fastcgi_temp_path {d}/ft; uwsgi_temp_path {d}/ut; scgi_temp_path {d}/st;
  server {{
    listen 127.0.0.1:{self.port};
    location /static/ {{ root {d}/html; }}
    location /api/ {{ proxy_pass http://127.0.0.1:{upstream_port}/; }}
  }}
}}
"""
        self.conf = os.path.join(d, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)

    def start(self):
        self.proc = subprocess.Popen(
            [NGINX, "-c", self.conf, "-p", self.dir + "/"], env=self.env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.path.exists(os.path.join(self.dir, "nginx.pid")):
                try:
                    socket.create_connection(("127.0.0.1", self.port),
                                             0.2).close()
                    return self
                except OSError:
                    pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        fail(f"nginx did not start: {self.stop()} {self.log('error.log')}")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self, name):
        try:
            with open(os.path.join(self.dir, name), encoding="latin-1") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """Graceful stop (SIGQUIT); returns (exit status, stdout, stderr)."""
        if not self.proc:
            return None
        p, self.proc = self.proc, None
        return _stop(p, signal.SIGQUIT)

    def remove(self):
        if self.proc:
            self.proc.kill()
            self.proc.communicate()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def test_nginx():
    need(("nginx", NGINX))
    with Receiver() as rx, HttpServer() as up:
        runs = []
        ngs = []
        try:
            for traced in (False, True):
                env = traced_env(rx, "nginx") if traced else base_env()
                ng = Nginx(up.port, env)
                ngs.append(ng)
                ng.start()
                u = ng.url
                reqs = [
                    ["-s", "-i", u("/static/small.txt")],
                    ["-s", "-i", u("/static/file.bin")],
                    ["-s", "-I", u("/static/file.bin")],
                    ["-s", "-i", "-r", "2-5", u("/static/small.txt")],
                    ["-s", "-i", u("/static/dir")],
                    ["-s", "-i", u("/static/dir/")],
                    ["-s", "-i", u("/static/nope")],
                    ["-s", "-i", u("/api/ok"), u("/api/chunked"),
                     u("/static/small.txt")],
                    ["-s", "-i", u("/api/status/503")],
                    ["-s", "-i", "-d", "body=1", u("/api/echo-body")],
                    ["-s", "-i", u("/api/echo-headers")],
                ]
                outs = [run_env([CURL] + r, base_env()) for r in reqs]
                rc, out, err = ng.stop()
                runs.append(dict(ng=ng, outs=outs, rc=rc, out=out, err=err,
                                 access=ng.log("access.log"),
                                 error=ng.log("error.log")))
            a, b = runs
            norm = subst(DATE_HEADER,
                         port_rule(a["ng"].port, b["ng"].port),
                         path_rule(a["ng"].dir, b["ng"].dir))
            # what the upstream saw: nginx's traced CLIENT request carries
            # a traceparent, the only line that may differ
            # (and so the length of the echo)
            tpnorm = subst((r"^traceparent: [^\n]*\n", ""),
                           (r"^Content-Length: \d+\r\n", ""))
            for i, (oa, ob) in enumerate(zip(a["outs"], b["outs"])):
                compare(f"curl via nginx, request {i}", oa, ob,
                        norm=(lambda t: tpnorm(norm(t))) if i == 10 else norm)
            check(re.search("(?m)^traceparent: ", b["outs"][-1].out),
                  f"the upstream saw no traceparent from the traced nginx: "
                  f"{b['outs'][-1].out!r}")
            check(a["outs"][1].stdout.endswith(
                random.Random(7).randbytes(200000)),
                "file.bin served whole")
            compare("nginx itself (stop by SIGQUIT)",
                    RunResult(["nginx"], a["rc"], a["out"], a["err"], 0, 0, 0),
                    RunResult(["nginx"], b["rc"], b["out"], b["err"], 0, 0, 0),
                    norm)
            lognorm = subst(
                port_rule(a["ng"].port, b["ng"].port),
                path_rule(a["ng"].dir, b["ng"].dir),
                (r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]", "[<DATE>]"),
                (r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+:",
                 r"<DATE> [\1] <PID>:"),
                # the echo of the headers is longer by the traceparent
                (r'("GET /api/echo-headers HTTP/1.1" 200) \d+', r"\1 <N>"))
            compare_text("nginx access.log", a["access"], b["access"],
                         lognorm)
            compare_text("nginx error.log", a["error"], b["error"], lognorm)
            check(a["access"].count("\n") == 13,
                  f"13 requests in the access log: {a['access']!r}")

            up_url = f"http://127.0.0.1:{up.port}"
            want_srv = [("GET", "/static/small.txt", 200, False),
                        ("GET", "/static/file.bin", 200, False),
                        ("HEAD", "/static/file.bin", 200, False),
                        ("GET", "/static/small.txt", 206, False),
                        ("GET", "/static/dir", 301, False),
                        ("GET", "/static/dir/", 200, False),
                        ("GET", "/static/nope", 404, False),
                        ("GET", "/api/ok", 200, False),
                        ("GET", "/api/chunked", 200, False),
                        ("GET", "/static/small.txt", 200, False),
                        ("GET", "/api/status/503", 503, True),
                        ("POST", "/api/echo-body", 200, False),
                        ("GET", "/api/echo-headers", 200, False)]
            want_cli = [("GET", up_url + "/ok", 200, False),
                        ("GET", up_url + "/chunked", 200, False),
                        ("GET", up_url + "/status/503", 503, True),
                        ("POST", up_url + "/echo-body", 200, False),
                        ("GET", up_url + "/echo-headers", 200, False)]
            spans = rx.wait_spans(len(want_srv) + len(want_cli), timeout=10)
            rx.check_clean()
            srv = [s for s in spans if s["kind"] == KIND_SERVER]
            cli = [s for s in spans if s["kind"] == KIND_CLIENT]
            check_http_spans(srv, [(KIND_SERVER,) + w for w in want_srv],
                             "nginx SERVER spans")
            check_http_spans(cli, [(KIND_CLIENT,) + w for w in want_cli],
                             "nginx CLIENT spans")
            by_id = {s["span_id"]: s for s in srv}
            for c in cli:
                p = by_id.get(c["parent_span_id"])
                check(p is not None and p["trace_id"] == c["trace_id"] and
                      p["attributes"].get("url.path") == "/api" +
                      _path_of(c["attributes"]["url.full"]),
                      f"nginx CLIENT span {describe([c])} is the child of "
                      f"its request's SERVER span")
        finally:
            for ng in ngs:
                ng.remove()


PG_SCRIPT = """SELECT id, item, qty FROM orders ORDER BY id;
CREATE TEMP TABLE t (n int, s text);
INSERT INTO t VALUES (1, 'one'), (2, 'two');
UPDATE t SET s = 'deux' WHERE n = 2;
SELECT * FROM nosuch;
SELECT n, s FROM t ORDER BY n;
SELECT count(*) AS c, sum(qty) AS total FROM orders WHERE qty > 5;
\\echo done
"""


def test_psql():
    if dbservers.missing():
        raise SkipTest("; ".join(dbservers.missing()))
    with Receiver() as rx, dbservers.Postgres() as pg:
        base = [dbservers.PSQL, "-X", "-h", pg.host, "-p", str(pg.port),
                "-U", pg.user, "-d", pg.dbname]
        plain, _ = pair(base + ["-f", "-"], rx, "psql-script",
                        input=PG_SCRIPT.encode(), what="psql script")
        check_eq(plain.returncode, 0, "psql exit status (no ON_ERROR_STOP)")
        check("(4 rows)" in plain.out and "done" in plain.out,
              f"psql output: {plain.out!r}")
        check('ERROR:  relation "nosuch" does not exist' in plain.err,
              f"psql error: {plain.err!r}")
        plain, _ = pair(base + ["-v", "ON_ERROR_STOP=1", "-f", "-"], rx,
                        "psql-stop", input=PG_SCRIPT.encode(),
                        what="psql script with ON_ERROR_STOP")
        check_eq(plain.returncode, 3, "psql exit status with ON_ERROR_STOP")
        plain, _ = pair(base + ["-A", "-t", "-c",
                                "SELECT item FROM orders WHERE id = 7"],
                        rx, "psql-c", what="psql -c")
        check_eq(plain.out, "plum\n", "psql -c output")
        bad = [dbservers.PSQL, "-X", "-h", pg.host, "-p", str(free_port()),
               "-U", pg.user, "-d", pg.dbname, "-c", "SELECT 1"]
        plain, _ = pair(bad, rx, "psql-refused", what="psql, refused port")
        check_eq(plain.returncode, 2, "psql exit status, refused port")

        # one span per statement sent; the failing one is an error
        stmts = [ln for ln in PG_SCRIPT.splitlines()
                 if ln and not ln.startswith("\\")]
        want = {"psql-script": len(stmts), "psql-stop": 5, "psql-c": 1}
        spans = rx.wait_spans(sum(want.values()), timeout=10)
        rx.check_clean()
        for svc, n in want.items():
            got = of_service(spans, svc)
            check_eq(len(got), n, f"{svc} spans: {describe(got)}")
            for s in got:
                a = s["attributes"]
                check(s["kind"] == KIND_CLIENT and
                      a.get("db.system.name") == "postgresql" and
                      a.get("server.port") == pg.port and
                      not any(k.startswith(("http.", "url.")) for k in a),
                      f"{svc}: a database CLIENT span: {describe([s])}")
            errs = [s for s in got if s["status"]["code"] == STATUS_ERROR]
            want_err = 0 if svc == "psql-c" else 1
            check_eq(len(errs), want_err, f"{svc}: failing spans "
                     f"{describe(errs)}")
            for s in errs:
                check_eq((s["attributes"].get("db.response.status_code"),
                          s["attributes"].get("db.query.text", "")
                          .rstrip(";")),
                         ("42P01", "SELECT * FROM nosuch"),
                         f"{svc}: the failing statement's span")
        # a connection that fails is one span, an error (README: "connecting
        # is a span only when it fails or takes longer than ...")
        got = of_service(spans, "psql-refused")
        check(len(got) == 1 and got[0]["status"]["code"] == STATUS_ERROR and
              got[0]["attributes"].get("db.system.name") == "postgresql",
              f"psql-refused: one failed-connect span: {describe(got)}")


MY_SCRIPT = """SELECT id, item, qty FROM orders ORDER BY id;
CREATE TEMPORARY TABLE t (n int, s text);
INSERT INTO t VALUES (1, 'one'), (2, 'two');
UPDATE t SET s = 'deux' WHERE n = 2;
SELECT * FROM nosuch;
SELECT n, s FROM t ORDER BY n;
SELECT count(*) AS c, sum(qty) AS total FROM orders WHERE qty > 5;
"""


def test_mariadb():
    if dbservers.missing():
        raise SkipTest("; ".join(dbservers.missing()))
    with Receiver() as rx, dbservers.MariaDB() as my:
        base = [dbservers.MARIADB, "--no-defaults", "-h", my.host, "-P",
                str(my.port), "--protocol=TCP", "-u", my.user]
        plain, _ = pair(base + ["--force", "--table", my.dbname], rx,
                        "mariadb-script", input=MY_SCRIPT.encode(),
                        what="mariadb script (--force)")
        check_eq(plain.returncode, 0, "mariadb --force exit status")
        check("| widget |" in plain.out and "ERROR 1146" in plain.err,
              f"mariadb output: {plain.out!r} {plain.err!r}")
        plain, _ = pair(base + [my.dbname], rx, "mariadb-stop",
                        input=MY_SCRIPT.encode(),
                        what="mariadb script (batch, stops at the error)")
        check_eq(plain.returncode, 1, "mariadb exit status")
        plain, _ = pair(base + [my.dbname, "-N", "-e",
                                "SELECT item FROM orders WHERE id = 7"],
                        rx, "mariadb-e", what="mariadb -e")
        check_eq(plain.out, "plum\n", "mariadb -e output")
        bad = [dbservers.MARIADB, "--no-defaults", "-h", my.host, "-P",
               str(free_port()), "--protocol=TCP", "-u", my.user, "-e",
               "SELECT 1"]
        plain, _ = pair(bad, rx, "mariadb-refused",
                        what="mariadb, refused port")
        check_eq(plain.returncode, 1, "mariadb exit status, refused port")

        stmts = [ln for ln in MY_SCRIPT.splitlines() if ln]
        want = {"mariadb-script": len(stmts), "mariadb-stop": 5,
                "mariadb-e": 1}
        spans = rx.wait_spans(sum(want.values()), timeout=10)
        rx.check_clean()
        for svc, n in want.items():
            got = of_service(spans, svc)
            for s in got:
                a = s["attributes"]
                check(s["kind"] == KIND_CLIENT and
                      a.get("db.system.name") == "mariadb" and
                      a.get("server.port") == my.port and
                      not any(k.startswith(("http.", "url.")) for k in a),
                      f"{svc}: a database CLIENT span: {describe([s])}")
            check_eq(len(got), n, f"{svc} spans: {describe(got)}")
            errs = [s for s in got if s["status"]["code"] == STATUS_ERROR]
            want_err = 0 if svc == "mariadb-e" else 1
            check_eq([(s["attributes"].get("db.response.status_code"),
                       s["attributes"].get("db.query.text")) for s in errs],
                     [("1146", "SELECT * FROM nosuch")] * want_err,
                     f"{svc}: the failing statement's span")
        # Debian's client carries the client library inside: its calls are
        # read off the wire, and a refused connection has no wire: at most
        # one failed-connect span
        got = of_service(spans, "mariadb-refused")
        check(len(got) <= 1 and all(
            s["status"]["code"] == STATUS_ERROR and
            "db.system.name" in s["attributes"] for s in got),
            f"mariadb-refused: {describe(got)}")


def _resp(*cmds):
    out = b""
    for c in cmds:
        out += b"*%d\r\n" % len(c)
        for a in c:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


REDIS_LOG = subst(
    (r"^\d+:([CMSX]) \d\d? \w{3} \d{4} \d\d:\d\d:\d\d\.\d{3} ",
     r"<PID>:\1 <DATE> "),
    (r"^\d+:signal-handler \(\d+\) ", "<PID>:signal-handler (<TIME>) "),
    (r"pid=\d+", "pid=<PID>"))


def test_redis():
    need(("redis-server", REDIS_SERVER), ("redis-cli", REDIS_CLI))
    tmp = tempfile.mkdtemp(prefix="otelshim-compat-redis-")
    procs = []
    try:
        with Receiver() as rx, HttpServer() as hs:
            runs = []
            for traced in (False, True):
                d = os.path.join(tmp, "traced" if traced else "plain")
                os.makedirs(d)
                env = traced_env(rx, "redis-server") if traced else base_env()
                cenv = traced_env(rx, "redis-cli") if traced else base_env()
                port = free_port()
                p = subprocess.Popen(
                    [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
                     "--dir", d, "--save", "", "--appendonly", "no",
                     "--daemonize", "no", "--logfile", "",
                     "--unixsocket", ""],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, env=env, cwd=d)
                procs.append(p)
                deadline = time.monotonic() + 10
                while True:
                    try:
                        socket.create_connection(("127.0.0.1", port),
                                                 0.2).close()
                        break
                    except OSError:
                        if p.poll() is not None or \
                                time.monotonic() > deadline:
                            fail(f"redis-server did not start: "
                                 f"{_stop(p, signal.SIGKILL)}")
                        time.sleep(0.02)
                cli = [REDIS_CLI, "-h", "127.0.0.1", "-p", str(port)]
                outs = []
                for args, inp in [
                        (["PING"], None),
                        (["SET", "greeting", "hello world"], None),
                        (["GET", "greeting"], None),
                        (["SET", "GET / HTTP/1.1", "Host: x"], None),
                        (["GET", "GET / HTTP/1.1"], None),
                        (["NOSUCHCOMMAND", "x"], None),
                        ([], b"SET a 1\nINCR a\nGET a\nLPUSH l x y z\n"
                             b"LRANGE l 0 -1\nHSET h f v\nHGETALL h\n"),
                        (["--pipe"], _resp(*[("SET", f"k{i}", str(i))
                                             for i in range(50)],
                                           ("INCR", "k1"), ("MGET", "k1",
                                                            "k2"))),
                        (["INFO", "keyspace"], None),
                        (["DBSIZE"], None)]:
                    outs.append(run_env(cli + args, cenv, input=inp))
                rc, out, err = _stop(p, signal.SIGTERM)
                procs.remove(p)
                runs.append(dict(port=port, outs=outs, rc=rc,
                                 log=out.decode("latin-1"),
                                 err=err.decode("latin-1")))
            # a control: the same receiver gets a span from a traced curl
            run_env([CURL, "-s", hs.url("/ok")], traced_env(rx, "control"))
            a, b = runs
            norm = subst(port_rule(a["port"], b["port"]))
            for oa, ob in zip(a["outs"], b["outs"]):
                compare("redis-cli", oa, ob, norm)
            check_eq([o.out for o in a["outs"][:3]],
                     ["PONG\n", "OK\n", "hello world\n"], "redis-cli output")
            check("errors: 0, replies: 52" in a["outs"][7].out,
                  f"redis-cli --pipe: {a['outs'][7].out!r}")
            check_eq(a["outs"][8].out, "# Keyspace\r\ndb0:keys=55,expires=0,"
                     "avg_ttl=0\r\n", "INFO keyspace")
            check_eq((a["rc"], b["rc"]), (0, 0), "redis-server exit status "
                     "after SIGTERM (plain, traced)")
            compare_text("redis-server log", a["log"], b["log"],
                         lambda t: REDIS_LOG(norm(t)))
            compare_text("redis-server stderr", a["err"], b["err"], norm)
            check("Ready to accept connections" in a["log"],
                  f"redis log: {a['log'][-500:]!r}")
            spans = rx.wait_spans(1, timeout=10, settle=0.5)
            rx.check_clean()
            check_eq(len(of_service(spans, "control")), 1,
                     f"the control span: {describe(spans)}")
            redis = [s for s in spans
                     if s["resource"].get("service.name") != "control"]
            check_eq(redis, [], f"spans from the Redis traffic: "
                     f"{describe(redis)}")
    finally:
        for p in procs:
            p.kill()
            p.communicate()
        shutil.rmtree(tmp, ignore_errors=True)


class CgiServer(_Child):
    name = "git CGI server"

    def __init__(self, www, env):
        super().__init__([PYTHON, SERVERS, "git-cgi", www], env=env)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


def _git_env(home, extra=None):
    e = {"HOME": home, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
         "GIT_AUTHOR_NAME": "Compat", "GIT_AUTHOR_EMAIL": "c@example.org",
         "GIT_COMMITTER_NAME": "Compat",
         "GIT_COMMITTER_EMAIL": "c@example.org",
         "GIT_AUTHOR_DATE": "2023-11-14T22:13:20Z",
         "GIT_COMMITTER_DATE": "2023-11-14T22:13:20Z"}
    e.update(extra or {})
    return e


def _git_setup(tmp):
    """A bare repository tmp/repos/repo.git (two branches, a tag, a few
    commits) and the CGI directory tmp/www; returns the server env."""
    home = os.path.join(tmp, "home")
    os.makedirs(home)
    env = base_env(_git_env(home))

    def git(*args, cwd=None):
        r = run_env([GIT] + list(args), env, cwd=cwd)
        check_eq(r.returncode, 0, f"git {' '.join(args)}: {r.err}")
    repos = os.path.join(tmp, "repos")
    work = os.path.join(tmp, "work")
    os.makedirs(repos)
    git("init", "-q", "--bare", "-b", "main", os.path.join(repos, "repo.git"))
    git("init", "-q", "-b", "main", work)
    for i in range(3):
        os.makedirs(os.path.join(work, "src", f"d{i}"), exist_ok=True)
        with open(os.path.join(work, "src", f"d{i}", "f.txt"), "w") as f:
            f.write(f"file {i}\n" * (i + 1))
        with open(os.path.join(work, "README"), "a") as f:
            f.write(f"line {i}\n")
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", f"commit {i}", cwd=work)
    git("tag", "-a", "-m", "v1", "v1.0", cwd=work)
    git("checkout", "-q", "-b", "topic", cwd=work)
    with open(os.path.join(work, "topic.txt"), "w") as f:
        f.write("topic\n")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "topic", cwd=work)
    git("push", "-q", "--all", os.path.join(repos, "repo.git"), cwd=work)
    git("push", "-q", "--tags", os.path.join(repos, "repo.git"), cwd=work)
    www = os.path.join(tmp, "www")
    os.makedirs(os.path.join(www, "cgi-bin"))
    script = os.path.join(www, "cgi-bin", "git")
    with open(script, "w") as f:
        f.write(f"#!/bin/sh\nexec {GIT} http-backend\n")
    os.chmod(script, 0o755)
    return home, www, {"GIT_PROJECT_ROOT": repos, "GIT_HTTP_EXPORT_ALL": "1"}


def _tree(root):
    """Every file under root but .git, with its content hash."""
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x != ".git")
        for f in sorted(files):
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out.append(f"{os.path.relpath(p, root)} "
                           f"{hashlib.sha256(fh.read()).hexdigest()[:16]}")
    return "\n".join(out) + "\n"


def need_git_cgi():
    need(("git", GIT))
    r = subprocess.run([PYTHON, "-c", "import http.server as h; "
                        "h.CGIHTTPRequestHandler"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        raise SkipTest(f"{PYTHON} has no http.server.CGIHTTPRequestHandler")


def test_git_http():
    need_git_cgi()
    tmp = tempfile.mkdtemp(prefix="otelshim-compat-git-")
    try:
        home, www, srv_env = _git_setup(tmp)
        with Receiver() as rx:
            # (client traced, server traced)
            configs = [(False, False), (True, False), (True, True)]
            runs = []
            for i, (ct, st) in enumerate(configs):
                senv = traced_env(rx, "git-cgi", srv_env) if st else \
                    base_env(srv_env)
                cenv = traced_env(rx, f"git-{i}", _git_env(home)) if ct \
                    else base_env(_git_env(home))
                cwd = os.path.join(tmp, f"run{i}")
                os.makedirs(cwd)
                with CgiServer(www, senv) as srv:
                    url = srv.url("/repo.git")
                    clone = run_env([GIT, "clone", url, "clone"], cenv,
                                    cwd=cwd)
                    lsr = run_env([GIT, "ls-remote", url], cenv, cwd=cwd)
                    lsr_tags = run_env([GIT, "ls-remote", "--tags", url,
                                        "v*"], cenv, cwd=cwd)
                    # fetch in the clone: nothing new, but the protocol
                    # exchange happens
                    fetch = run_env([GIT, "-C", "clone", "fetch", "origin"],
                                    cenv, cwd=cwd)
                    srv.stop()
                    log = srv.stderr_text()
                cl = os.path.join(cwd, "clone")
                # the clone, inspected without the shim
                ins = base_env(_git_env(home))
                inspect = [run_env([GIT, "-C", cl] + a, ins) for a in (
                    ["log", "--all", "--format=%H %P %s %an %ad"],
                    ["branch", "-a"], ["tag", "-l"], ["status", "--short"],
                    ["config", "--get", "remote.origin.url"],
                    ["fsck", "--full", "--strict"])]
                runs.append(dict(port=int(url.split(":")[2].split("/")[0]),
                                 out=[clone, lsr, lsr_tags, fetch],
                                 inspect=inspect, tree=_tree(cl), log=log))
            ref = runs[0]
            for (ct, st), r in zip(configs[1:], runs[1:]):
                what = f"client {'traced' if ct else 'plain'}, CGI server " \
                    f"{'traced' if st else 'plain'}"
                norm = subst(port_rule(ref["port"], r["port"]),
                             path_rule(tmp))
                for name, a, b in zip(["git clone", "git ls-remote",
                                       "git ls-remote --tags", "git fetch"],
                                      ref["out"], r["out"]):
                    compare(f"{name} ({what})", a, b, norm)
                for a, b in zip(ref["inspect"], r["inspect"]):
                    compare(f"the clone ({what})", a, b, norm)
                compare_text(f"cloned files ({what})", ref["tree"], r["tree"])
                compare_text(f"CGI server log ({what})", ref["log"], r["log"],
                             subst(port_rule(ref["port"], r["port"]),
                                   (r"\[\d\d/\w{3}/\d{4} \d\d:\d\d:\d\d\]",
                                    "[<DATE>]")))
            check_eq(ref["out"][0].returncode, 0,
                     f"git clone: {ref['out'][0].err}")
            check("Cloning into 'clone'..." in ref["out"][0].err,
                  f"git clone's message: {ref['out'][0].err!r}")
            check("refs/tags/v1.0" in ref["out"][1].out and
                  "refs/heads/topic" in ref["out"][1].out,
                  f"ls-remote: {ref['out'][1].out!r}")
            check(ref["tree"].count("\n") == 4, f"tree: {ref['tree']!r}")

            # the traced clients: GET info/refs for clone, ls-remote (x2)
            # and fetch, POST git-upload-pack for clone (fetch has nothing
            # to fetch)
            spans = rx.wait_spans(2 * 5 + 5, timeout=10)
            rx.check_clean()
            for i in (1, 2):
                port = runs[i]["port"]
                refs = (f"http://127.0.0.1:{port}/repo.git/info/refs"
                        "?service=git-upload-pack")
                want = [(KIND_CLIENT, "GET", refs, 200, False)] * 4 + \
                    [(KIND_CLIENT, "POST", f"http://127.0.0.1:{port}/repo.git/"
                      "git-upload-pack", 200, False)]
                got = of_service(spans, f"git-{i}")
                check_http_spans(got, want, f"git client spans (run {i})")
                check(all(s["resource"].get("process.executable.name",
                                            "git-remote-http")
                          .startswith("git-remote-http") for s in got),
                      f"the spans come from git-remote-http: "
                      f"{[s['resource'] for s in got][:1]}")
            cgi = of_service(spans, "git-cgi")
            check_eq(len(cgi), 5, f"CGI server SERVER spans: {describe(cgi)}")
            check_parents_loose(of_service(spans, "git-2"), cgi,
                                "git CGI server")
            check_eq(len(spans), 15, f"no other spans: {describe(spans)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_parents_loose(clients, servers, what):
    """Each SERVER span is the child of a CLIENT span with the same method
    and path (its status is checked by test_git_cgi_server_span)."""
    by_id = {c["span_id"]: c for c in clients}
    for s in servers:
        c = by_id.get(s["parent_span_id"])
        check(c is not None and c["trace_id"] == s["trace_id"] and
              c["kind"] == KIND_CLIENT and s["kind"] == KIND_SERVER,
              f"{what}: SERVER span {describe([s])} is not the child of a "
              f"CLIENT span among {describe(clients)}")
        check_eq((s["attributes"].get("http.request.method"),
                  s["attributes"].get("url.path")),
                 (c["attributes"].get("http.request.method"),
                  _path_of(c["attributes"]["url.full"]).split("?")[0]),
                 f"{what}: (method, path) of a SERVER span vs its parent")


def test_git_cgi_server_span():
    """The CGI server (preloaded) forks, and its child execs git
    http-backend with the connection as its stdout: the child writes the
    rest of the response and the server process closes its copy of the
    socket. The client got a complete 200 answer; the SERVER span must say
    so (status 200, no error)."""
    need_git_cgi()
    tmp = tempfile.mkdtemp(prefix="otelshim-compat-gitcgi-")
    try:
        home, www, srv_env = _git_setup(tmp)
        with Receiver() as rx:
            with CgiServer(www, traced_env(rx, "git-cgi", srv_env)) as srv:
                r = run_env([GIT, "ls-remote", srv.url("/repo.git")],
                            base_env(_git_env(home)))
                check_eq(r.returncode, 0, f"git ls-remote: {r.err}")
                srv.stop()
            spans = rx.wait_spans(1, timeout=10)
            rx.check_clean()
            check_eq(len(spans), 1, f"one SERVER span: {describe(spans)}")
            s = spans[0]
            a = s["attributes"]
            check_eq((s["kind"], a.get("http.request.method"),
                      a.get("url.path"), a.get("http.response.status_code"),
                      a.get("error.type"), s["status"]["code"]),
                     (KIND_SERVER, "GET", "/repo.git/info/refs", 200, None, 0),
                     "(kind, method, url.path, http.response.status_code, "
                     "error.type, status code) of the CGI request's SERVER "
                     "span")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


PIPELINE = "for i in 1 2 3 4 5; do {curl} -s {url}/$i; done | sort | uniq -c"


def test_pipeline():
    tmp = tempfile.mkdtemp(prefix="otelshim-compat-pipe-")
    try:
        for i, c in enumerate("babcb", 1):
            with open(os.path.join(tmp, str(i)), "w") as f:
                f.write(c + "\n")
        with Receiver() as rx:
            files = _Child([PYTHON, SERVERS, "files", tmp], env=base_env())
            files.name = "file server"
            with files:
                url = f"http://127.0.0.1:{files.port}"
                cmd = [SH, "-c", PIPELINE.format(curl=CURL, url=url)]
                plain = run_env(cmd, base_env())
                # the default batch delay (5 s): only the exit flush can
                # get each curl's span out before it exits
                traced = run_env(cmd, traced_env(rx, "pipeline",
                                                 schedule_delay=None))
            compare("the shell pipeline", plain, traced)
            check_eq((plain.returncode, plain.out),
                     (0, "      1 a\n      3 b\n      1 c\n"),
                     "pipeline output")
            tp = (traced.t1_ns - traced.t0_ns) / 1e9
            pp = (plain.t1_ns - plain.t0_ns) / 1e9
            print(f"  pipeline: {pp:.3f} s without the shim, {tp:.3f} s "
                  "with it", flush=True)
            check(tp < pp + 2.5, f"the traced pipeline took {tp:.2f} s "
                  f"(plain {pp:.2f} s): exits wait for the batch delay?")
            # all five were exported before the pipeline ended: no waiting
            spans = rx.wait_spans(5, timeout=0.5, settle=0.5)
            rx.check_clean()
            check_http_spans(spans, [(KIND_CLIENT, "GET", f"{url}/{i}", 200,
                                      False) for i in range(1, 6)],
                             "the pipeline's spans")
            pids = {s["resource"].get("process.pid") for s in spans}
            check(len(pids) == 5 or pids == {None},
                  f"five processes: {pids}")
            check_eq(len(rx.requests), 5, "export requests (one per curl)")
            check_eq(len({s["trace_id"] for s in spans}), 5, "five traces")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_selftest():
    """The comparison reports what it must."""
    def rr(rc, out, err):
        return RunResult(["x"], rc, out, err, 0, 0, 0)
    base = rr(0, b"HTTP/1.1 200 OK\r\nDate: Mon\r\n\r\nok\n", b"note\n")
    check_eq(differences(base, base, CURL_V), [], "identical runs")
    cases = {
        "a changed byte": rr(0, base.stdout.replace(b"ok", b"oK"),
                             base.stderr),
        "a changed exit status": rr(1, base.stdout, base.stderr),
        "a changed stderr": rr(0, base.stdout, b"note!\n"),
        "an otelshim line": rr(0, base.stdout,
                               b"note\notelshim[x:1]: hello\n"),
        "an otelshim line on stdout": rr(0, base.stdout +
                                         b"otelshim[x:1]: hi\n", base.stderr),
    }
    for what, t in cases.items():
        check(differences(base, t, CURL_V), f"{what} is not reported")
    # the normalisation only removes what varies
    check_eq(CURL_V("< Date: Tue, 1 Jan\r\n{ [12 bytes data]\nafter 3 ms"),
             "< Date: <DATE>\r\nafter <N> ms", "curl -v normalisation")
    # a real otelshim line: exporting to a dead collector ends with the
    # dropped-spans report, which the comparison must flag
    with HttpServer() as hs:
        plain = run_env([CURL, "-s", hs.url("/ok")], base_env())
        env = traced_env(None, "selftest")
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
        env["OTELSHIM_EXIT_FLUSH_TIMEOUT"] = "300"
        traced = run_env([CURL, "-s", hs.url("/ok")], env)
    d = differences(plain, traced)
    check(len(d) == 1 and "otelshim printed" in d[0],
          f"a dead collector's report is flagged: {d!r} {traced!r}")


TESTS = [test_curl, test_wget, test_http_server, test_nginx, test_psql,
         test_mariadb, test_redis, test_git_http, test_git_cgi_server_span,
         test_pipeline, test_selftest]


def main():
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    # SIGINT stops python's http.server: if we were started with it
    # ignored (a background job of a shell), our children would inherit
    # that; a handler here makes it the default again in them
    signal.signal(signal.SIGINT, signal.default_int_handler)
    why = receiver_ready()
    if why:
        print(f"SKIP: {why}", flush=True)
        sys.exit(77)
    lib = library_path()
    if not lib or not os.path.exists(lib):
        print(f"FAIL setup: library not found (OTELSHIM_LIB={lib!r})",
              flush=True)
        sys.exit(1)
    names = {t.__name__[5:]: t for t in TESTS}
    wanted = sys.argv[1:] or list(names)
    unknown = [w for w in wanted if w not in names]
    if unknown:
        print(f"unknown tests {unknown}; known: {list(names)}", flush=True)
        sys.exit(2)
    passed = failed = skipped = 0
    t_all = time.monotonic()
    for name in wanted:
        start = time.monotonic()
        try:
            names[name]()
        except SkipTest as e:
            skipped += 1
            print(f"SKIP {name}: {e}", flush=True)
            continue
        except TestFailure as e:
            failed += 1
            print(f"FAIL {name} ({time.monotonic() - start:.2f} s): {e}",
                  flush=True)
            continue
        except Exception as e:
            failed += 1
            tb = traceback.format_exc().strip().replace("\n", "\n    ")
            print(f"FAIL {name}: {type(e).__name__}: {e}\n    {tb}",
                  flush=True)
            continue
        passed += 1
        print(f"PASS {name} ({time.monotonic() - start:.2f} s)", flush=True)
    print(f"{passed} passed, {failed} failed, {skipped} skipped "
          f"({time.monotonic() - t_all:.1f} s)", flush=True)
    if failed:
        sys.exit(1)
    sys.exit(77 if skipped and not passed else 0)


if __name__ == "__main__":
    main()
