#!/usr/bin/env python3
"""test_http_client.py - CLIENT spans of unmodified programs (curl, Python's
standard-library clients) run with libotelshim.so preloaded, as received by
the independent OTLP receiver (tests/receiver).

    OTELSHIM_LIB=build/shim/libotelshim.so python3 tests/integration/test_http_client.py [name...]

Each test checks what a user would check: what the collector got, what the
server got, and that the program's own output did not change.
"""

import errno
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from otlp_harness import (CURL, PYTHON, EchoServer, HttpServer, Receiver,  # noqa: E402
                          check, check_eq, fail, main, run, summarize)

HEX32 = re.compile(r"[0-9a-f]{32}")
HEX16 = re.compile(r"[0-9a-f]{16}")
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def curl(*args):
    # -q first: ignore any ~/.curlrc.
    return [CURL, "-q", "-s"] + list(args)


def span_for(spans, url):
    found = [s for s in spans if s["attributes"].get("url.full") == url]
    if len(found) != 1:
        fail(f"want exactly one span with url.full {url!r}, got {len(found)}:"
             f" {summarize(spans)}")
    return found[0]


def check_export_request(span):
    req = span["request"]
    check_eq(req["path"], "/v1/traces", "export request path")
    check_eq(req["method"], "POST", "export request method")
    check_eq(req["content_type"], "application/x-protobuf",
             "export Content-Type")


def check_client_span(s, method, url, port, status_code, res, what=""):
    """The attributes and fields every CLIENT span of these tests has."""
    w = f"{what or url}: "
    a = s["attributes"]
    t = s["attribute_types"]
    check_eq(s["kind"], 3, w + "kind (CLIENT)")
    check_eq(s["name"], method, w + "span name")
    check_eq(a.get("http.request.method"), method, w + "http.request.method")
    check_eq(a.get("url.full"), url, w + "url.full")
    check_eq(a.get("server.address"), "127.0.0.1", w + "server.address")
    check_eq(a.get("server.port"), port, w + "server.port")
    check_eq(t.get("server.port"), "int", w + "type of server.port")
    check_eq(a.get("network.peer.address"), "127.0.0.1",
             w + "network.peer.address")
    check_eq(a.get("network.peer.port"), port, w + "network.peer.port")
    check_eq(t.get("network.peer.port"), "int", w + "type of network.peer.port")
    check_eq(a.get("network.protocol.version"), "1.1",
             w + "network.protocol.version")
    check_eq(a.get("http.response.status_code"), status_code,
             w + "http.response.status_code")
    check_eq(t.get("http.response.status_code"), "int",
             w + "type of http.response.status_code")
    if status_code >= 400:
        check_eq(s["status"]["code"], 2, w + "status code (ERROR)")
        check_eq(a.get("error.type"), str(status_code), w + "error.type")
    else:
        check_eq(s["status"]["code"], 0, w + "status code (UNSET)")
        check("error.type" not in a, w + f"error.type on a success: {a}")
    check(HEX32.fullmatch(s["trace_id"]) and s["trace_id"] != "0" * 32,
          w + f"bad trace_id {s['trace_id']!r}")
    check(HEX16.fullmatch(s["span_id"]) and s["span_id"] != "0" * 16,
          w + f"bad span_id {s['span_id']!r}")
    check_eq(s["parent_span_id"], "", w + "parent_span_id of a root span")
    start, end = int(s["start"]), int(s["end"])
    check(start <= end, w + f"start {start} after end {end}")
    check(res.t0_ns <= start and end <= res.t1_ns,
          w + f"span [{start}, {end}] outside the run [{res.t0_ns}, "
          f"{res.t1_ns}]")
    # OTLP Span.flags: W3C sampled bit, "parent remoteness known" (0x100)
    # and, for a root span, not remote.
    f = s["flags"]
    check(f is not None, w + "Span.flags missing")
    check(f & 0x01, w + f"flags {f:#x} without the sampled bit")
    check(f & 0x100, w + f"flags {f:#x} without HAS_IS_REMOTE (0x100)")
    check(not f & 0x200, w + f"flags {f:#x}: root span marked remote")
    check_export_request(s)


def check_resource(s, service, exe, pid):
    r = s["resource"]
    rt = s["resource_types"]
    check_eq(r.get("service.name"), service, "resource service.name")
    check_eq(r.get("process.executable.name"), exe,
             "resource process.executable.name")
    check_eq(r.get("process.pid"), pid, "resource process.pid")
    check_eq(rt.get("process.pid"), "int", "type of process.pid")
    check_eq(r.get("host.name"), socket.gethostname(), "resource host.name")
    check_eq(r.get("telemetry.sdk.name"), "otelshim", "telemetry.sdk.name")
    check(isinstance(r.get("telemetry.sdk.language"), str)
          and r.get("telemetry.sdk.language"),
          f"telemetry.sdk.language missing: {r}")
    check(isinstance(r.get("telemetry.sdk.version"), str)
          and r.get("telemetry.sdk.version"),
          f"telemetry.sdk.version missing: {r}")
    check_eq(s["scope"]["name"], "otelshim", "scope name")


def strip_date(b):
    return b"\n".join(line for line in b.split(b"\n")
                      if not line.lower().startswith(b"date:"))


def python_exe_name():
    return os.path.basename(os.path.realpath(PYTHON))


# ---- tests -----------------------------------------------------------------

def test_curl_keepalive_three_gets():
    with Receiver() as rx, HttpServer() as srv:
        urls = [srv.url(f"/ok/{i}") for i in (1, 2, 3)]
        res = run(curl(*urls), rx)
        check_eq(res.returncode, 0, f"curl exit status ({res!r})")
        check_eq(res.stdout, b"ok\n" * 3, "curl stdout")
        got = srv.wait_requests(3)
        check(len({r["client_port"] for r in got}) == 1,
              f"test setup: curl did not reuse its connection: {got}")
        spans = rx.wait_spans(3)
        check_eq(len(spans), 3, f"number of spans ({summarize(spans)})")
        for u in urls:
            s = span_for(spans, u)
            check_client_span(s, "GET", u, srv.port, 200, res)
            check_resource(s, "unknown_service:curl", "curl", res.pid)
        check_eq(len({s["span_id"] for s in spans}), 3, "distinct span ids")
        check_eq(len({s["trace_id"] for s in spans}), 3,
                 "one trace per request")
        check_eq(res.stderr, b"", "curl stderr")
        rx.check_clean()


def test_error_and_bodyless_statuses():
    with Receiver() as rx, HttpServer() as srv:
        paths = {"/status/404": 404, "/status/500": 500, "/status/204": 204,
                 "/status/304": 304, "/chunked": 200, "/ok/last": 200}
        urls = [srv.url(p) for p in paths]
        res = run(curl(*urls), rx)
        check_eq(res.returncode, 0, f"curl exit status ({res!r})")
        check_eq(res.stdout,
                 b"status 404\nstatus 500\nhello chunked world\nok\n",
                 "curl stdout")
        spans = rx.wait_spans(len(urls))
        check_eq(len(spans), len(urls), f"number of spans ({summarize(spans)})")
        for p, code in paths.items():
            s = span_for(spans, srv.url(p))
            check_client_span(s, "GET", srv.url(p), srv.port, code, res, p)
        rx.check_clean()


def test_head_requests():
    with Receiver() as rx, HttpServer() as srv:
        urls = [srv.url("/head"), srv.url("/ok/after-head")]
        res = run(curl("-I", *urls), rx)
        check_eq(res.returncode, 0, f"curl exit status ({res!r})")
        check_eq(res.stdout.count(b"HTTP/1.1 200 OK"), 2, "curl -I output")
        spans = rx.wait_spans(2)
        check_eq(len(spans), 2, f"number of spans ({summarize(spans)})")
        for u in urls:
            check_client_span(span_for(spans, u), "HEAD", u, srv.port, 200, res)
        rx.check_clean()


def test_post_big_and_close_delimited():
    with Receiver() as rx, HttpServer() as srv:
        body = b"hello body " * 100
        res = run(curl("--data-binary", "@-", srv.url("/echo-body"), "--next",
                       "-s", srv.url("/big?n=300000"), srv.url("/close"),
                       srv.url("/ok/after-close")), rx, input=body)
        check_eq(res.returncode, 0, f"curl exit status ({res!r})")
        check_eq(res.stdout, body + b"x" * 300000 + b"closed body\nok\n",
                 "curl stdout")
        spans = rx.wait_spans(4)
        check_eq(len(spans), 4, f"number of spans ({summarize(spans)})")
        check_client_span(span_for(spans, srv.url("/echo-body")), "POST",
                          srv.url("/echo-body"), srv.port, 200, res)
        for p in ("/big?n=300000", "/close", "/ok/after-close"):
            check_client_span(span_for(spans, srv.url(p)), "GET", srv.url(p),
                              srv.port, 200, res)
        rx.check_clean()


def test_traceparent_injected():
    with Receiver() as rx, HttpServer() as srv:
        url = srv.url("/echo-headers")
        res = run(curl(url), rx)
        check_eq(res.returncode, 0, f"curl exit status ({res!r})")
        lines = [line for line in res.out.splitlines()
                 if line.lower().startswith("traceparent:")]
        check_eq(len(lines), 1, f"traceparent lines the server got "
                 f"({res.out!r})")
        m = TRACEPARENT.fullmatch(lines[0].split(":", 1)[1].strip())
        check(m, f"malformed traceparent {lines[0]!r}")
        spans = rx.wait_spans(1)
        check_eq(len(spans), 1, f"number of spans ({summarize(spans)})")
        s = spans[0]
        check_client_span(s, "GET", url, srv.port, 200, res)
        check_eq(m.group(1), s["trace_id"], "traceparent trace-id vs span")
        check_eq(m.group(2), s["span_id"], "traceparent parent-id vs span")
        check_eq(int(m.group(3), 16), s["flags"] & 0xff,
                 "traceparent flags vs Span.flags")
        check(int(m.group(3), 16) & 1, f"traceparent not sampled: {lines[0]}")
        # The rest of the request is the program's own.
        names = [k.lower() for k, _ in srv.requests[0]["headers"]]
        check_eq([n for n in names if n != "traceparent"],
                 ["host", "user-agent", "accept"], "other request headers")
        rx.check_clean()


def test_url_full_redaction():
    with Receiver() as rx, HttpServer() as srv:
        # curl moves the userinfo into an Authorization header: origin-form
        # request, so no credentials can appear; sig is still redacted.
        # No secret is made of hex digits only: the 404's span keeps a
        # stack (code.stacktrace), whose addresses are hex.
        url = (f"http://user:secret@127.0.0.1:{srv.port}"
               f"/p?sig=qwerty&x=1&Signature=zz&color=blue")
        res = run(curl(url), rx)
        check_eq(res.returncode, 0, f"curl exit status ({res!r})")
        # An absolute-form request with userinfo (as sent to a proxy),
        # written by hand on a socket.
        script = (
            "import socket,sys\n"
            "p=int(sys.argv[1])\n"
            "c=socket.create_connection(('127.0.0.1',p))\n"
            "c.sendall(b'GET http://bob:hunter2@127.0.0.1:%d/q?X-Amz-Signature"
            "=s3cr3t&x=1 HTTP/1.1\\r\\nHost: 127.0.0.1:%d\\r\\n"
            "Connection: close\\r\\n\\r\\n' % (p, p))\n"
            "d=b''\n"
            "while True:\n"
            "    b=c.recv(4096)\n"
            "    if not b: break\n"
            "    d+=b\n"
            "sys.stdout.write(d.split(b' ')[1].decode())\n")
        res2 = run([PYTHON, "-c", script, str(srv.port)], rx)
        check_eq((res2.returncode, res2.out), (0, "404"),
                 f"absolute-form client ({res2!r})")
        spans = rx.wait_spans(2)
        check_eq(len(spans), 2, f"number of spans ({summarize(spans)})")
        want = (f"http://127.0.0.1:{srv.port}/p?sig=REDACTED&x=1"
                f"&Signature=REDACTED&color=blue")
        check_client_span(span_for(spans, want), "GET", want, srv.port, 404,
                          res)
        want2 = (f"http://REDACTED:REDACTED@127.0.0.1:{srv.port}"
                 f"/q?X-Amz-Signature=REDACTED&x=1")
        s2 = span_for(spans, want2)
        check_eq(s2["attributes"].get("http.response.status_code"), 404,
                 "absolute-form status")
        for s in spans:
            text = repr(s["attributes"])
            for secret in ("secret", "hunter2", "qwerty", "s3cr3t", "zz"):
                check(secret not in text,
                      f"{secret!r} leaked into attributes: {text}")
        rx.check_clean()


PY_CLIENT = """
import json, sys, urllib.request
for path in sys.argv[2:]:
    with urllib.request.urlopen('http://127.0.0.1:%s%s' % (sys.argv[1], path)) as r:
        sys.stdout.write('%d %s\\n' % (r.status, r.read().decode()))
"""


def test_python_urllib_client():
    with Receiver() as rx, HttpServer() as srv:
        res = run([PYTHON, "-c", PY_CLIENT, str(srv.port), "/ok/py1",
                   "/echo-headers"], rx)
        check_eq(res.returncode, 0, f"python exit status ({res!r})")
        check(res.out.startswith("200 ok\n\n200 Accept-Encoding"),
              f"python output {res.out!r}")
        spans = rx.wait_spans(2)
        check_eq(len(spans), 2, f"number of spans ({summarize(spans)})")
        exe = python_exe_name()
        for path in ("/ok/py1", "/echo-headers"):
            s = span_for(spans, srv.url(path))
            check_client_span(s, "GET", srv.url(path), srv.port, 200, res,
                              "python " + path)
            check_resource(s, "unknown_service:" + exe, exe, res.pid)
        # The server saw the span's own context.
        s = span_for(spans, srv.url("/echo-headers"))
        tp = [v for k, v in srv.requests[1]["headers"]
              if k.lower() == "traceparent"]
        check_eq(tp, [f"00-{s['trace_id']}-{s['span_id']}-"
                      f"{s['flags'] & 0xff:02x}"],
                 "traceparent the server got")
        check_eq(res.stderr, b"", "python stderr")
        rx.check_clean()


def test_service_name_and_resource_attributes():
    with Receiver() as rx, HttpServer() as srv:
        res = run([PYTHON, "-c", PY_CLIENT, str(srv.port), "/ok/named"], rx,
                  env={"OTEL_SERVICE_NAME": "mysvc",
                       "OTEL_RESOURCE_ATTRIBUTES":
                       "deployment.environment=test,team=a%2Cb,"
                       "service.name=fromattrs"})
        check_eq(res.returncode, 0, f"python exit status ({res!r})")
        res2 = run(curl(srv.url("/ok/attrs")), rx,
                   env={"OTEL_RESOURCE_ATTRIBUTES":
                        " service.name = fromattrs , k=v%20w "})
        check_eq(res2.returncode, 0, f"curl exit status ({res2!r})")
        spans = rx.wait_spans(2)
        check_eq(len(spans), 2, f"number of spans ({summarize(spans)})")
        r = span_for(spans, srv.url("/ok/named"))["resource"]
        check_eq(r.get("service.name"), "mysvc",
                 "service.name with OTEL_SERVICE_NAME")
        check_eq(r.get("deployment.environment"), "test",
                 "deployment.environment")
        check_eq(r.get("team"), "a,b", "percent-decoded team")
        check_eq(r.get("process.pid"), res.pid, "process.pid")
        r2 = span_for(spans, srv.url("/ok/attrs"))["resource"]
        check_eq(r2.get("service.name"), "fromattrs",
                 "service.name from OTEL_RESOURCE_ATTRIBUTES")
        check_eq(r2.get("k"), "v w", "trimmed, percent-decoded k")
        check_eq(res.stderr + res2.stderr, b"", "stderr")
        rx.check_clean()


BINARY_CLIENT = r"""
import random, socket, sys, urllib.request
echo, http = int(sys.argv[1]), int(sys.argv[2])
rnd = random.Random(1234)
hello = (b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' + bytes(32) +
         b'\x20' + bytes(range(32)) + b'\x00\x02\x13\x01\x01\x00')
payloads = [
    bytes(rnd.getrandbits(8) for _ in range(20000)),
    hello,
    b'GET /no-version-here\r\n\r\n',
    b'GET\r\n\r\n',
    b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    b'\x00' * 7 + b'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
    b'*1\r\n$4\r\nPING\r\n',
]
bad = 0
for i, p in enumerate(payloads):
    c = socket.create_connection(('127.0.0.1', echo))
    c.sendall(p)
    c.shutdown(socket.SHUT_WR)
    got = b''
    while True:
        b = c.recv(65536)
        if not b:
            break
        got += b
    c.close()
    if got != p:
        bad += 1
        print('payload %d: sent %d bytes, got %d back' % (i, len(p), len(got)))
with urllib.request.urlopen('http://127.0.0.1:%d/ok/after-binary' % http) as r:
    r.read()
print('echoed %d payloads, %d differed' % (len(payloads), bad))
sys.exit(1 if bad else 0)
"""


def test_binary_protocols_untouched():
    with Receiver() as rx, HttpServer() as srv, EchoServer() as echo:
        res = run([PYTHON, "-c", BINARY_CLIENT, str(echo.port),
                   str(srv.port)], rx)
        check_eq((res.returncode, res.out), (0, "echoed 7 payloads, 0 differed\n"),
                 f"echo client ({res!r})")
        spans = rx.wait_spans(1, settle=0.5)
        check_eq(len(spans), 1, f"spans (only the HTTP one expected): "
                 f"{summarize(spans)}")
        u = srv.url("/ok/after-binary")
        check_client_span(span_for(spans, u), "GET", u, srv.port, 200, res)
        rx.check_clean()


def test_binary_on_port_80():
    """The same, on port 80, where a port-based detector would assume HTTP
    (needs root to bind; otherwise the test says so and uses port 8080)."""
    import socket as _s
    import threading as _t
    ls = _s.socket()
    ls.setsockopt(_s.SOL_SOCKET, _s.SO_REUSEADDR, 1)
    port = 80
    # (another test run on this machine may hold port 80 for a moment)
    for attempt in range(100):
        try:
            ls.bind(("127.0.0.1", port))
            break
        except PermissionError:
            print("    not root: port 80 not available, using 8080",
                  flush=True)
            port = 8080
        except OSError as e:
            if e.errno != errno.EADDRINUSE or attempt == 99:
                raise
            time.sleep(0.2)
    ls.listen(16)
    stop = []

    def serve():
        while not stop:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            with c:
                data = b""
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    data += d
                    c.sendall(d)
    th = _t.Thread(target=serve, daemon=True)
    th.start()
    try:
        with Receiver() as rx, HttpServer() as srv:
            res = run([PYTHON, "-c", BINARY_CLIENT, str(port),
                       str(srv.port)], rx)
            check_eq((res.returncode, res.out),
                     (0, "echoed 7 payloads, 0 differed\n"),
                     f"echo client on port {port} ({res!r})")
            spans = rx.wait_spans(1, settle=0.5)
            check_eq(len(spans), 1, f"spans (only the HTTP one expected): "
                     f"{summarize(spans)}")
    finally:
        stop.append(1)
        ls.close()


IDENTITY_SCRIPT = r"""
import sys, urllib.request, http.client
c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]))
for path in ('/ok/identity', '/status/404', '/chunked'):
    c.request('GET', path)
    r = c.getresponse()
    print(r.status, r.reason, repr(r.read()), r.getheader('Content-Type'))
print('to stderr too', file=sys.stderr)
sys.exit(3)
"""


def test_output_identity():
    with Receiver() as rx, HttpServer() as srv:
        args = curl("-i", srv.url("/ok/identity"), srv.url("/status/500"))
        plain = run(args, preload=False)
        traced = run(args, rx)
        check_eq(traced.returncode, plain.returncode, "curl exit status")
        check_eq(strip_date(traced.stdout), strip_date(plain.stdout),
                 "curl -i output (Date lines removed)")
        check_eq(traced.stderr, plain.stderr, "curl stderr")
        py = [PYTHON, "-c", IDENTITY_SCRIPT, str(srv.port)]
        plain = run(py, preload=False)
        traced = run(py, rx)
        check_eq(plain.returncode, 3, f"test script exit status ({plain!r})")
        check_eq(traced.returncode, 3, "python exit status under preload")
        check_eq(traced.stdout, plain.stdout, "python stdout")
        check_eq(traced.stderr, plain.stderr, "python stderr")
        # It was traced all the same: 2 curl + 3 python requests.
        spans = rx.wait_spans(5)
        check_eq(len(spans), 5, f"number of spans ({summarize(spans)})")
        rx.check_clean()


def test_sdk_disabled():
    with Receiver() as rx, HttpServer() as srv:
        res = run(curl(srv.url("/echo-headers")), rx,
                  env={"OTEL_SDK_DISABLED": "true"})
        check_eq(res.returncode, 0, f"curl exit status ({res!r})")
        check("traceparent" not in res.out.lower(),
              f"traceparent injected while disabled: {res.out!r}")
        check_eq(res.stderr, b"", "curl stderr")
        # A traced run afterwards: its span must be the only one.
        res2 = run(curl(srv.url("/ok/sentinel")), rx)
        spans = rx.wait_spans(1)
        others = [s for s in spans
                  if s["attributes"].get("url.full") != srv.url("/ok/sentinel")]
        check(not others, f"spans besides the traced run's: {summarize(others)}")
        check_eq(len(spans), 1, f"number of spans ({summarize(spans)})")
        check_eq(res2.returncode, 0, "sentinel curl")
        rx.check_clean()


def test_exporter_none():
    with Receiver() as rx, HttpServer() as srv:
        plain = run(curl(srv.url("/ok/none")), preload=False)
        res = run(curl(srv.url("/ok/none")), rx,
                  env={"OTEL_TRACES_EXPORTER": "none"})
        check_eq((res.returncode, res.stdout, res.stderr),
                 (plain.returncode, plain.stdout, b""), "curl result")
        run(curl(srv.url("/ok/sentinel")), rx)
        spans = rx.wait_spans(1)
        others = [s for s in spans
                  if s["attributes"].get("url.full") != srv.url("/ok/sentinel")]
        check(not others, f"spans besides the traced run's: {summarize(others)}")
        check_eq(len(spans), 1, f"number of spans ({summarize(spans)})")
        check_eq(len(rx.requests), 1, "export requests")
        rx.check_clean()


def test_exporter_console():
    with Receiver() as rx, HttpServer() as srv:
        url = srv.url("/ok/console-check")
        plain = run(curl(url), preload=False)
        res = run(curl(url), rx, env={"OTEL_TRACES_EXPORTER": "console"})
        check_eq(res.returncode, plain.returncode, "curl exit status")
        check_eq(res.stdout, plain.stdout, "curl stdout")
        lines = [line for line in res.err.splitlines()
                 if "GET" in line and "/ok/console-check" in line]
        check_eq(len(lines), 1, f"console lines with GET and the path in "
                 f"stderr {res.err!r}")
        check(re.search(r"\b200\b", lines[0]),
              f"no status 200 in the console line {lines[0]!r}")
        check(rx.wait_spans(1, timeout=0.5, settle=0) == [],
              f"console exporter also sent OTLP: {summarize(rx.spans)}")
        rx.check_clean()


def test_bad_variable_warns_once():
    with Receiver() as rx, HttpServer() as srv:
        url = srv.url("/ok/banana")
        res = run(curl(url), rx, env={"OTEL_BSP_MAX_QUEUE_SIZE": "banana"})
        check_eq((res.returncode, res.stdout), (0, b"ok\n"), "curl result")
        lines = res.err.splitlines()
        check_eq(len(lines), 1, f"stderr lines ({res.err!r})")
        prefix = f"otelshim[curl:{res.pid}]:"
        check(lines[0].startswith(prefix),
              f"warning {lines[0]!r} does not start with {prefix!r}")
        check("OTEL_BSP_MAX_QUEUE_SIZE" in lines[0] and "banana" in lines[0],
              f"warning does not name the variable and value: {lines[0]!r}")
        spans = rx.wait_spans(1)
        check_eq(len(spans), 1, f"number of spans ({summarize(spans)})")
        check_client_span(spans[0], "GET", url, srv.port, 200, res)
        rx.check_clean()


TESTS = [
    test_curl_keepalive_three_gets,
    test_error_and_bodyless_statuses,
    test_head_requests,
    test_post_big_and_close_delimited,
    test_traceparent_injected,
    test_url_full_redaction,
    test_python_urllib_client,
    test_service_name_and_resource_attributes,
    test_binary_protocols_untouched,
    test_binary_on_port_80,
    test_output_identity,
    test_sdk_disabled,
    test_exporter_none,
    test_exporter_console,
    test_bad_variable_warns_once,
]

if __name__ == "__main__":
    main(TESTS)
