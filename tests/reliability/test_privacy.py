#!/usr/bin/env python3
"""test_privacy.py - privacy, limits and secure execution (issue 5, point
6; SPEC.md 5.1 and shim/url.c for the redaction rules):

  - credentials never reach any attribute, in any form of userinfo
    (absolute-form targets, '@' in the password, a user alone, upper-case
    schemes, a Host header with userinfo), on client and server spans;
  - the values of the sensitive query keys (AWSAccessKeyId, Signature, sig,
    X-Amz-Credential, X-Amz-Security-Token, X-Amz-Signature,
    X-Goog-Signature; also percent-encoded keys) never reach any attribute,
    on client (url.full) and server (url.query) spans; other parameters
    are kept;
  - no header value but User-Agent's is recorded: Authorization, Cookie,
    API keys in requests, Set-Cookie and WWW-Authenticate in responses;
  - the values of OTEL_EXPORTER_OTLP_HEADERS and ..._TRACES_HEADERS never
    appear in any log line, at debug, on the failure paths (503 retries
    and give-up, 401, refused, too long, malformed, a partial success), nor
    in a span; the exporter never traces its own requests;
  - OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT and OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_
    LIMIT (which wins) truncate strings to that many characters, never in
    the middle of a UTF-8 sequence, and truncation is not a drop;
    OTEL_ATTRIBUTE_COUNT_LIMIT and OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT (which
    wins) keep that many attributes and count the rest in
    dropped_attributes_count at the receiver;
  - secure execution: a setuid copy of secure_probe.c, run as nobody
    through setpriv, has AT_SECURE set; the library it loads reads no
    environment (no warning for a bad OTEL_* value), adds no header, makes
    no span and starts no thread. The same program run plainly shows the
    library active (the control). Skipped when not root or when the
    temporary directory's file system ignores setuid bits.

    OTELSHIM_LIB=build/shim/libotelshim.so OTELSHIM_BUILD=build \\
        python3 tests/reliability/test_privacy.py [name...]
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rel import (H, Collector, check, check_eq, clean_env,  # noqa: E402
                 closed_port, instrumented, library_path, main,
                 preload_value, prog, run, summarize, wrapper)

REDACTED_USERINFO = "REDACTED:REDACTED@"


def all_strings(span):
    """Every string the span carries: attributes, name, status, state."""
    out = [span.get("name", ""), span.get("status_message", ""),
           span.get("trace_state", "")]
    for v in span.get("attributes", {}).values():
        out.append(v if isinstance(v, str) else repr(v))
    return out


def check_no_secret(spans, secrets, what):
    for s in spans:
        for text in all_strings(s):
            for secret in secrets:
                check(secret not in text,
                      f"{what}: {secret!r} leaked into span {s['name']} "
                      f"{s.get('attributes')}")


RAW_CLIENT = r"""
import socket, sys
port = int(sys.argv[1])
for req in sys.stdin.buffer.read().split(b'\n--\n'):
    if not req:
        continue
    req = req.replace(b'PORT', str(port).encode())
    c = socket.create_connection(('127.0.0.1', port))
    c.sendall(req)
    d = b''
    while True:
        b = c.recv(65536)
        if not b:
            break
        d += b
    c.close()
    sys.stdout.write(d.split(b' ')[1].decode() + '\n')
"""

# A plain HTTP server, run with the library preloaded: SERVER spans.
PRELOADED_SERVER = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200)
        self.send_header('Set-Cookie', 'session=RESPCOOKIESECRET')
        self.send_header('Content-Length', '3')
        self.send_header('Connection', 'close')
        self.end_headers()
        self.wfile.write(b'ok\n')
s = http.server.HTTPServer(('127.0.0.1', 0), H)
print('PORT', s.server_address[1], flush=True)
n = int(sys.argv[1])
for _ in range(n):
    s.handle_request()
"""


def raw_requests(port, reqs, col, env=None):
    """Send reqs (bytes, 'PORT' replaced) from a preloaded Python client,
    one connection each; returns the status codes."""
    res = run([H.PYTHON, "-c", RAW_CLIENT, str(port)], col,
              input=b"\n--\n".join(reqs), env=env or {})
    check_eq(res.returncode, 0, f"raw client ({res!r})")
    return res.out.split()


def serve_preloaded(col, reqs):
    """Run PRELOADED_SERVER with the library and send it reqs (bytes) from
    this (untraced) process; returns the server's RunResult."""
    env = clean_env()
    env.update({"LD_PRELOAD": preload_value(),
                "OTEL_EXPORTER_OTLP_ENDPOINT": col.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "100"})
    p = subprocess.Popen(wrapper() + [H.PYTHON, "-c", PRELOADED_SERVER,
                                      str(len(reqs))],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    try:
        port = int(p.stdout.readline().split()[1])
        for req in reqs:
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            c.sendall(req.replace(b"PORT", str(port).encode()))
            while c.recv(65536):
                pass
            c.close()
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    check_eq(p.returncode, 0, f"preloaded server ({err[-1000:]!r})")
    return p


# ---- credentials and sensitive query values ---------------------------------

USERINFO_TARGETS = [
    (b"http://alice:PWSECRET1@127.0.0.1:PORT/a", ["PWSECRET1", "alice"]),
    (b"http://bob:pw@PWSECRET2@127.0.0.1:PORT/b", ["PWSECRET2", "pw@"]),
    (b"http://TOKENSECRET3@127.0.0.1:PORT/c", ["TOKENSECRET3"]),
    (b"HTTP://carol:PWSECRET4@127.0.0.1:PORT/d?x=1", ["PWSECRET4"]),
    (b"http://dave:PW%40SECRET5@127.0.0.1:PORT/e", ["SECRET5"]),
    (b"http://erin:PWSECRET6@127.0.0.1:PORT", ["PWSECRET6"]),
]


def test_credentials_never_recorded():
    with Collector() as col, H.HttpServer() as srv:
        reqs = [b"GET " + t + b" HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n"
                b"Connection: close\r\n\r\n" for t, _ in USERINFO_TARGETS]
        # userinfo in the Host header itself
        reqs.append(b"GET /f HTTP/1.1\r\nHost: frank:PWSECRET7@127.0.0.1:"
                    b"PORT\r\nConnection: close\r\n\r\n")
        secrets = [s for _, ss in USERINFO_TARGETS for s in ss] + \
            ["PWSECRET7", "frank"]
        raw_requests(srv.port, reqs, col)
        spans = col.wait_spans(len(reqs), timeout=5)
        check_eq(len(spans), len(reqs), f"client spans ({summarize(spans)})")
        check_no_secret(spans, secrets, "client spans")
        for s in spans:
            url = s["attributes"].get("url.full", "")
            if url.endswith("/f"):
                continue        # origin-form: userinfo only in Host
            check(REDACTED_USERINFO in url,
                  f"url.full {url!r} of an absolute-form target with "
                  f"userinfo: no {REDACTED_USERINFO}")
        # the same requests served by a preloaded server
        p = serve_preloaded(col, reqs)
        server = [s for s in col.wait_spans(2 * len(reqs), timeout=5)
                  if s["pid"] == p.pid]
        check_eq(len(server), len(reqs), f"server spans "
                 f"({summarize(server)})")
        check_no_secret(server, secrets, "server spans")
        col.check_clean()


SENSITIVE = ["AWSAccessKeyId", "Signature", "sig", "X-Amz-Credential",
             "X-Amz-Security-Token", "X-Amz-Signature", "X-Goog-Signature"]


def sensitive_queries():
    """(query, secrets, kept) triples."""
    out = []
    for i, key in enumerate(SENSITIVE):
        v = f"QSECRET{i}"
        out.append((f"color=blue&{key}={v}&size=9", [v],
                    ["color=blue", "size=9", f"{key}=REDACTED"]))
    out.append(("%73ig=QSECRETPCT&a=1", ["QSECRETPCT"], ["a=1"]))
    out.append(("sig=QSECRETA&sig=QSECRETB", ["QSECRETA", "QSECRETB"], []))
    out.append(("Signature=QSECRET=WITH=EQUALS&z=2",
                ["QSECRET", "EQUALS"], ["z=2"]))
    out.append(("x=1&X-Amz-Signature=QSECRETLAST", ["QSECRETLAST"], ["x=1"]))
    return out


def test_sensitive_query_values_redacted():
    cases = sensitive_queries()
    with Collector() as col, H.HttpServer() as srv:
        reqs = [f"GET /q{i}?{q} HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n"
                f"Connection: close\r\n\r\n".encode()
                for i, (q, _, _) in enumerate(cases)]
        raw_requests(srv.port, reqs, col)
        client = col.wait_spans(len(reqs), timeout=5)
        check_eq(len(client), len(reqs), f"client spans "
                 f"({summarize(client)})")
        p = serve_preloaded(col, reqs)
        server = [s for s in col.wait_spans(2 * len(reqs), timeout=5)
                  if s["pid"] == p.pid]
        check_eq(len(server), len(reqs), f"server spans "
                 f"({summarize(server)})")
        for i, (q, secrets, kept) in enumerate(cases):
            c = [s for s in client
                 if f"/q{i}?" in s["attributes"].get("url.full", "")]
            sv = [s for s in server
                  if s["attributes"].get("url.path") == f"/q{i}"]
            check(len(c) == 1 and len(sv) == 1,
                  f"spans for /q{i}?{q}: client {summarize(c)}, server "
                  f"{summarize(sv)}")
            check_no_secret(c + sv, secrets, f"query {q!r}")
            for k in kept:
                check(k in c[0]["attributes"]["url.full"],
                      f"query {q!r}: {k!r} missing from url.full "
                      f"{c[0]['attributes']['url.full']!r}")
                check(k in sv[0]["attributes"].get("url.query", ""),
                      f"query {q!r}: {k!r} missing from url.query "
                      f"{sv[0]['attributes'].get('url.query')!r}")
        col.check_clean()


# ---- header values ----------------------------------------------------------

SECRET_HEADERS = (b"Authorization: Bearer HDRSECRET1\r\n"
                  b"Cookie: session=HDRSECRET2\r\n"
                  b"X-Api-Key: HDRSECRET3\r\n"
                  b"Proxy-Authorization: Basic HDRSECRET4\r\n"
                  b"X-Forwarded-For-Token: HDRSECRET5\r\n"
                  b"User-Agent: probe-agent/1.0\r\n")
HEADER_SECRETS = ["HDRSECRET1", "HDRSECRET2", "HDRSECRET3", "HDRSECRET4",
                  "HDRSECRET5", "RESPCOOKIESECRET", "WWWAUTHSECRET"]


def secret_response_server():
    """A plain server that answers with secrets in response headers."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)

    def serve():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            data = b""
            while b"\r\n\r\n" not in data:
                b = c.recv(65536)
                if not b:
                    break
                data += b
            c.sendall(b"HTTP/1.1 401 Unauthorized\r\n"
                      b"Set-Cookie: s=RESPCOOKIESECRET\r\n"
                      b"WWW-Authenticate: Bearer realm=WWWAUTHSECRET\r\n"
                      b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    return ls


def test_no_header_value_but_user_agent_recorded():
    with Collector() as col:
        ls = secret_response_server()
        try:
            req = (b"GET /h HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n"
                   + SECRET_HEADERS + b"Connection: close\r\n\r\n")
            raw_requests(ls.getsockname()[1], [req], col)
            client = col.wait_spans(1, timeout=5)
            check_eq(len(client), 1, f"client spans ({summarize(client)})")
        finally:
            ls.close()
        p = serve_preloaded(col, [req])
        server = [s for s in col.wait_spans(2, timeout=5)
                  if s["pid"] == p.pid]
        check_eq(len(server), 1, f"server spans ({summarize(server)})")
        check_no_secret(client + server, HEADER_SECRETS, "spans")
        check_eq(server[0]["attributes"].get("user_agent.original"),
                 "probe-agent/1.0", "user_agent.original of the server span")
        hdr = [k for s in client + server for k in s["attributes"]
               if k.startswith(("http.request.header.",
                                "http.response.header."))]
        check_eq(hdr, [], "header attributes recorded without configuration")
        col.check_clean()


# ---- export headers never logged --------------------------------------------

EXPORT_HEADERS = {
    "OTEL_EXPORTER_OTLP_HEADERS":
        "authorization=Bearer%20TOPSECRET1,x-key=TOPSECRET2",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-other=TOPSECRET3",
}
TOP = ["TOPSECRET1", "TOPSECRET2", "TOPSECRET3"]


def test_export_headers_never_logged_on_failure_paths():
    runs = []
    with H.HttpServer() as srv:
        url = srv.url("/ok/hdr")
        for what, opts, extra in (
                ("503 every time", {"status": 503},
                 {"OTELSHIM_EXIT_FLUSH_TIMEOUT": "2500"}),
                ("401", {"status": 401}, {}),
                ("partial success", None, {}),
                ("malformed", {},
                 {"OTEL_EXPORTER_OTLP_TRACES_HEADERS":
                  "x-other=TOPSECRET3,broken%zz"}),
                ("too long", {},
                 {"OTEL_EXPORTER_OTLP_TRACES_HEADERS":
                  "x-other=TOPSECRET3,pad=" + "p" * 3000}),
                ("console exporter", {}, {"OTEL_TRACES_EXPORTER": "console"}),
        ):
            env = dict(EXPORT_HEADERS, OTEL_LOG_LEVEL="debug", **extra)
            if what == "partial success":
                with H.Receiver(partial_reject=1) as rx:
                    res = run([H.CURL, "-q", "-s", url, url], rx, env=env)
                    spans = rx.wait_spans(2)
                    # (the receiver adds the export request's own headers
                    # to each record: those are expected to hold them)
                    span_text = repr([{k: v for k, v in s.items()
                                       if k != "request"} for s in spans])
            else:
                with Collector(**opts) as col:
                    res = run([H.CURL, "-q", "-s", url, url], col, env=env,
                              timeout=60)
                    spans = col.wait_spans(0, timeout=1, settle=0.3)
                    span_text = repr(col.all_spans)
                    check(all(not s["attributes"].get("url.full", "")
                              .startswith(col.endpoint)
                              for s in col.all_spans),
                          f"{what}: a span of the exporter's own request")
            runs.append((what, res))
            check_eq((res.returncode, res.stdout), (0, b"ok\nok\n"),
                     f"{what}: curl result ({res!r})")
            for t in TOP:
                check(t not in res.err, f"{what}: {t} in stderr: "
                      f"{[x for x in res.err.splitlines() if t in x]}")
                check(t not in span_text, f"{what}: {t} in a span")
            print(f"  {what}: {len(res.err.splitlines())} stderr lines, no "
                  f"header value", flush=True)
    # the paths were taken: each logged something
    for what, res in runs:
        if what != "console exporter":
            check(res.err.strip(), f"{what}: test setup: nothing logged")
    # and refused
    down = closed_port()
    try:
        res = run([H.CURL, "-q", "-s", "http://127.0.0.1:9/"], env=dict(
            EXPORT_HEADERS, OTEL_LOG_LEVEL="debug",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:"
            f"{down.getsockname()[1]}"))
        for t in TOP:
            check(t not in res.err, f"refused: {t} in stderr")
    finally:
        down.close()


# ---- attribute limits -------------------------------------------------------

LONG_TARGET = ("/limits/" + "\u00e9" * 40 + "/" + "z" * 200
               + "?q=" + "\u20ac" * 30).encode()


def limited_span(col, srv, env):
    n0 = len(col.spans)
    req = (b"GET " + LONG_TARGET + b" HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n"
           b"User-Agent: limits-agent/" + b"v" * 100 + b"\r\n"
           b"Connection: close\r\n\r\n")
    raw_requests(srv.port, [req], col, env=env)
    spans = col.wait_spans(n0 + 1, timeout=5, settle=0.1)[n0:]
    check_eq(len(spans), 1, f"spans with {env} ({summarize(spans)})")
    return spans[0]


def test_attribute_value_length_limit():
    with Collector() as col, H.HttpServer() as srv:
        full = limited_span(col, srv, {})
        longest = max(len(v) for v in full["attributes"].values()
                      if isinstance(v, str))
        check(longest > 200, f"test setup: longest attribute {longest}")
        for env, limit in (({"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "20"}, 20),
                           ({"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "5",
                             "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "30"},
                            30),
                           ({"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "1"},
                            1)):
            s = limited_span(col, srv, env)
            check_eq(sorted(s["attributes"]), sorted(full["attributes"]),
                     f"{env}: attribute keys")
            for k, v in s["attributes"].items():
                fv = full["attributes"][k]
                if isinstance(fv, str):
                    check_eq(v, fv[:limit], f"{env}: {k} (characters, "
                             f"not bytes; never half a UTF-8 sequence)")
                else:
                    check_eq(v, fv, f"{env}: {k} (not a string)")
            check_eq(s["dropped_attributes_count"], 0,
                     f"{env}: dropped_attributes_count (truncating is not "
                     f"dropping)")
        col.check_clean()


def test_attribute_count_limit():
    with H.Receiver() as rx, H.HttpServer() as srv:
        url = srv.url("/ok/count")

        def one(env):
            n0 = len(rx.spans)
            res = run([H.CURL, "-q", "-s", url], rx, env=env)
            check_eq(res.returncode, 0, f"curl {env}")
            spans = rx.wait_spans(n0 + 1, settle=0.1)[n0:]
            check_eq(len(spans), 1, f"spans with {env}")
            return spans[0]

        full = one({})
        n = len(full["attributes"])
        check(n > 4, f"test setup: {n} attributes")
        check_eq(full["dropped_attributes_count"], 0, "unlimited: dropped")
        for env, keep in (({"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "3"}, 3),
                          ({"OTEL_ATTRIBUTE_COUNT_LIMIT": "2"}, 2),
                          ({"OTEL_ATTRIBUTE_COUNT_LIMIT": "2",
                            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "4"}, 4),
                          ({"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "0"}, 0),
                          ({"OTEL_ATTRIBUTE_COUNT_LIMIT": str(n)}, n)):
            s = one(env)
            check_eq((len(s["attributes"]), s["dropped_attributes_count"]),
                     (keep, n - keep),
                     f"{env}: (attributes, dropped_attributes_count) of a "
                     f"span with {n} attributes")
            for k, v in s["attributes"].items():
                check_eq(v, full["attributes"].get(k), f"{env}: {k}")
        print(f"  {n} attributes; limits 3, 2, 4 (span wins), 0, {n} "
              f"counted at the receiver", flush=True)
        rx.check_clean()


# ---- secure execution -------------------------------------------------------

def test_secure_execution_is_inert():
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or not setpriv:
        print("  SKIPPED: needs root (to make a setuid copy) and setpriv",
              flush=True)
        return
    if instrumented():
        # a sanitizer runtime would have to be preloaded, which the loader
        # refuses for setuid programs
        print("  SKIPPED: a sanitizer build or valgrind", flush=True)
        return
    probe = prog("secure_probe")
    env = {"OTEL_BSP_MAX_QUEUE_SIZE": "banana", "OTEL_LOG_LEVEL": "debug",
           "OTEL_BSP_SCHEDULE_DELAY": "100"}
    tmp = tempfile.mkdtemp(prefix="otelshim-secure-")
    try:
        os.chmod(tmp, 0o755)
        copy = os.path.join(tmp, "secure_probe")
        shutil.copy(probe, copy)
        os.chown(copy, 0, 0)
        os.chmod(copy, 0o4755)
        with H.HttpServer() as srv, Collector() as col:
            def probe_run(args, secure):
                e = clean_env()
                e.update(env)
                e["OTEL_EXPORTER_OTLP_ENDPOINT"] = col.endpoint
                n_req, n_sp = len(srv.requests), len(col.all_spans)
                p = subprocess.run(args + [library_path(), str(srv.port)],
                                   env=e, capture_output=True, timeout=30)
                out = p.stdout.decode()
                got = dict(line.split(" ", 1) for line in out.splitlines()
                           if " " in line)
                reqs = srv.wait_requests(n_req + 1, timeout=5)[n_req:]
                tps = [v for r in reqs for k, v in r["headers"]
                       if k.lower() == "traceparent"]
                time.sleep(0.5)
                spans = col.all_spans[n_sp:]
                return p, got, tps, spans

            # the control: the same program, not setuid
            p, got, tps, spans = probe_run([probe], False)
            check_eq((p.returncode, got.get("at_secure"), got.get("status")),
                     (0, "0", "200"), f"control run ({p.stdout!r} "
                     f"{p.stderr!r})")
            check(b"OTEL_BSP_MAX_QUEUE_SIZE" in p.stderr,
                  f"control run: no warning for the bad variable "
                  f"({p.stderr!r})")
            check(len(tps) == 1 and got.get("threads") == "2",
                  f"control run: the library is not active (traceparent "
                  f"{tps}, threads {got.get('threads')})")
            col.wait_spans(1, timeout=5)
            check_eq(len(col.all_spans), 1, "control run: spans")

            p, got, tps, spans = probe_run(
                [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                 copy], True)
            if got.get("at_secure") == "0":
                print("  SKIPPED: the setuid copy did not run in secure "
                      "mode (a nosuid file system?)", flush=True)
                return
            check_eq((p.returncode, got.get("at_secure"), got.get("status"),
                      got.get("uid")), (0, "1", "200", "65534 0"),
                     f"setuid run ({p.stdout!r} {p.stderr!r})")
            check_eq(p.stderr, b"", "setuid run: stderr (the library must "
                     "read no environment: no warning, no report)")
            check_eq(tps, [], "setuid run: traceparent headers added")
            check_eq(got.get("threads"), "1",
                     "setuid run: threads (no exporter thread)")
            check_eq(spans, [], "setuid run: spans exported")
            print("  control: active; setuid (AT_SECURE=1): inert",
                  flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


TESTS = [
    test_credentials_never_recorded,
    test_sensitive_query_values_redacted,
    test_no_header_value_but_user_agent_recorded,
    test_export_headers_never_logged_on_failure_paths,
    test_attribute_value_length_limit,
    test_attribute_count_limit,
    test_secure_execution_is_inert,
]

if __name__ == "__main__":
    main(TESTS)
