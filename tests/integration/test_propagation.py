#!/usr/bin/env python3
"""test_propagation.py - server spans and W3C trace-context propagation
across unmodified processes (issue 3), checked at the independent OTLP
receiver.

  chain_*            curl -> nginx (proxy_pass, one worker) -> Python relay
                     -> Python leaf: one trace, the exact parent chain,
                     kinds and attributes, with and without keep-alive
  concurrent         64 requests, 32 at a time, through the same chain,
                     each from its own incoming traceparent: zero spans
                     in another request's trace; prints the share of
                     calls that had to start a new trace
  nginx_static       nginx serving a file with sendfile: the SERVER span
                     ends with the response; 404 is not an error
  nginx_identical    nginx's answers (status, headers but Date, bodies)
                     are the same with and without the shim
  w3c_*              a Python service with no tracing code, preloaded,
                     following the W3C test-suite protocol: every valid and
                     invalid traceparent/tracestate form of SPEC.md 6
  propagators_*      b3, b3multi, none, baggage
  exec_propagation   a server that runs curl per request: curl's span is
                     the child of the request being served (TRACEPARENT)

Everything listens on 127.0.0.1 and is stopped by the test, pass or fail.
"""

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from otlp_harness import (CURL, PYTHON, HttpServer, Receiver, _Child, check,  # noqa: E402
                          check_eq, clean_env, fail, main, preload_value,
                          run, summarize)

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICES = os.path.join(HERE, "services.py")
NGINX = shutil.which("nginx", path="/usr/sbin:/usr/bin") or "/usr/sbin/nginx"

KIND_SERVER, KIND_CLIENT = 2, 3


def traced_env(receiver, service, extra=None):
    e = clean_env()
    e["LD_PRELOAD"] = preload_value()
    e["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
    e["OTEL_BSP_SCHEDULE_DELAY"] = "100"
    e["OTEL_SERVICE_NAME"] = service
    e.update(extra or {})
    return e


class Service(_Child):
    """One of services.py's programs, preloaded (or not)."""

    def __init__(self, args, env):
        self.name = "service " + args[0]
        super().__init__([PYTHON, SERVICES] + args, env=env)

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}{path}"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Nginx:
    """nginx in a temporary prefix: one worker, a reverse proxy to
    upstream_port under /, static files under /static/."""

    def __init__(self, upstream_port, env, keepalive=True):
        self.dir = tempfile.mkdtemp(prefix="otelshim-nginx-")
        self.port = free_port()
        os.makedirs(os.path.join(self.dir, "html", "static"))
        with open(os.path.join(self.dir, "html", "static", "file.bin"),
                  "wb") as f:
            f.write(bytes(random.Random(7).getrandbits(8)
                          for _ in range(200000)))
        with open(os.path.join(self.dir, "html", "static", "small.txt"),
                  "w") as f:
            f.write("small file\n")
        # fixed times, so that Last-Modified and ETag compare across runs
        for n in ("file.bin", "small.txt"):
            os.utime(os.path.join(self.dir, "html", "static", n),
                     (1700000000, 1700000000))
        up = (f"upstream be {{ server 127.0.0.1:{upstream_port}; "
              f"keepalive 8; }}") if keepalive else \
            f"upstream be {{ server 127.0.0.1:{upstream_port}; }}"
        proxy = ("proxy_pass http://be; proxy_http_version 1.1; "
                 "proxy_set_header Connection \"\";") if keepalive else \
            "proxy_pass http://be;"
        d = self.dir
        conf = f"""
worker_processes 1;
daemon off;
master_process on;
{"user root;" if os.geteuid() == 0 else ""}
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 512; }}
http {{
  access_log off;
  sendfile on;
  default_type application/octet-stream;
  client_body_temp_path {d}/cb; proxy_temp_path {d}/pt;
  fastcgi_temp_path {d}/ft; uwsgi_temp_path {d}/ut; scgi_temp_path {d}/st;
  {up}
  server {{
    listen 127.0.0.1:{self.port};
    location /static/ {{ root {d}/html; }}
    location / {{ {proxy} }}
  }}
}}
"""
        self.conf = os.path.join(d, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.env = env
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(
            [NGINX, "-c", self.conf, "-p", self.dir], env=self.env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        err = self.proc.stderr.read().decode() if self.proc.poll() is not None else ""
        self.stop()
        fail(f"nginx did not start: {err} {self.log()}")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc:
            self.proc.terminate()  # fast shutdown: workers exit() and flush
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stderr.close()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc):
        self.stop()
        return False


def by_service(spans):
    out = {}
    for s in spans:
        out.setdefault(s["resource"].get("service.name"), []).append(s)
    return out


def new_traceparent(flags="01"):
    tid = "%032x" % random.getrandbits(128)
    sid = "%016x" % random.getrandbits(64)
    return tid, sid, f"00-{tid}-{sid}-{flags}"


# ---- the four-process chain -------------------------------------------------

def check_chain(spans, path, nginx, relay, leaf, incoming_sid=None,
                query=None):
    """The spans of one request to path (and its redacted query): curl
    CLIENT -> nginx SERVER -> nginx CLIENT -> relay SERVER -> relay CLIENT
    -> leaf SERVER."""
    target = path + ("?" + query if query else "")
    def one(svc, kind, pred, what):
        got = [s for s in spans if s["resource"].get("service.name") == svc
               and s["kind"] == kind and pred(s["attributes"])]
        check(len(got) == 1, f"{what} for {path}: want 1 span, got "
              f"{len(got)}: {summarize(got)}")
        return got[0]

    chain = []
    if incoming_sid is None:
        chain.append(one("curl", KIND_CLIENT,
                         lambda a: a.get("url.full") == nginx.url(target),
                         "curl CLIENT"))
    chain.append(one("nginx", KIND_SERVER,
                     lambda a: a.get("url.path") == path, "nginx SERVER"))
    chain.append(one("nginx", KIND_CLIENT,
                     lambda a: a.get("url.full") == "http://be" + target,
                     "nginx CLIENT"))
    chain.append(one("relay", KIND_SERVER,
                     lambda a: a.get("url.path") == path, "relay SERVER"))
    chain.append(one("relay", KIND_CLIENT,
                     lambda a: a.get("url.full") == leaf.url(target),
                     "relay CLIENT"))
    chain.append(one("leaf", KIND_SERVER,
                     lambda a: a.get("url.path") == path, "leaf SERVER"))

    trace = chain[0]["trace_id"]
    for s in chain:
        check_eq(s["trace_id"], trace, f"trace id of {s['resource']['service.name']} "
                 f"{s['kind']} {path}")
        check_eq(s["name"], "GET", "span name")
        check(int(s["start"]) <= int(s["end"]), "start <= end")
    first = chain[0]
    if incoming_sid is None:
        check_eq(first["parent_span_id"], "", "curl span is a root")
    else:
        check_eq(first["parent_span_id"], incoming_sid,
                 "nginx SERVER parent = incoming parent-id")
    for parent, child in zip(chain, chain[1:]):
        check_eq(child["parent_span_id"], parent["span_id"],
                 f"parent of {child['resource']['service.name']} "
                 f"kind {child['kind']} ({path})")
        # a child lies within its parent in time (same host clock); a
        # server's span may end after its client saw the last byte, by the
        # time it takes the kernel to hand it over: allow 5 ms.
        check(int(child["start"]) >= int(parent["start"]) - 5_000_000,
              f"child starts after its parent ({path})")
    return chain


def check_server_attrs(s, port, path, query=None, peer_is_client=True):
    a = s["attributes"]
    check_eq(a.get("http.request.method"), "GET", "http.request.method")
    check_eq(a.get("url.path"), path, "url.path")
    check_eq(a.get("url.scheme"), "http", "url.scheme")
    check_eq(a.get("url.query"), query, "url.query")
    check_eq(a.get("http.response.status_code"), 200, "status code")
    check_eq(a.get("network.protocol.version") in ("1.1", "1.0"), True,
             "network.protocol.version")
    check_eq(a.get("server.port"), port, "server.port")
    check_eq(a.get("client.address"), "127.0.0.1", "client.address")
    check_eq(a.get("network.peer.address"), "127.0.0.1",
             "network.peer.address")
    check(isinstance(a.get("client.port"), int) and a["client.port"] > 0,
          f"client.port {a.get('client.port')!r}")
    check_eq(a.get("network.peer.port"), a.get("client.port"),
             "network.peer.port")
    check_eq(s["status"]["code"], 0, "status unset for 200")


def chain_run(keepalive):
    with Receiver() as rx, \
            Service(["leaf"], traced_env(rx, "leaf")) as leaf, \
            Service(["relay", leaf.url()], traced_env(rx, "relay")) as relay, \
            Nginx(relay.port, traced_env(rx, "nginx"),
                  keepalive=keepalive) as ngx:
        paths = ["/chain/a", "/chain/b", "/chain/c?x=1&sig=s3cr3t"]
        if keepalive:
            r = run([CURL, "-s", "-S"] + [ngx.url(p) for p in paths],
                    receiver=rx, env={"OTEL_SERVICE_NAME": "curl"})
            check_eq(r.returncode, 0, f"curl exit ({r.err})")
        else:
            for p in paths:
                r = run([CURL, "-s", "-S", "-H", "Connection: close",
                         ngx.url(p)], receiver=rx,
                        env={"OTEL_SERVICE_NAME": "curl"})
                check_eq(r.returncode, 0, f"curl exit ({r.err})")
        for p in paths:
            check(f"leaf {p.split('?')[0]}" in r.out or not keepalive,
                  f"body of {p}: {r.out[:200]!r}")
        spans = rx.wait_spans(6 * len(paths), timeout=10)
        ngx.stop()
        spans = rx.wait_spans(6 * len(paths), timeout=1, settle=0.2)
        rx.check_clean()
        check_eq(len(spans), 6 * len(paths),
                 f"span count: {summarize(spans)}")
        traces = set()
        for p in paths:
            path, _, query = p.partition("?")
            chain = check_chain(spans, path, ngx, relay, leaf,
                                query=query.replace("s3cr3t", "REDACTED"))
            traces.add(chain[0]["trace_id"])
            check_server_attrs(chain[1], ngx.port, path,
                               query.replace("s3cr3t", "REDACTED") or None)
            check(chain[1]["attributes"].get("user_agent.original", "")
                  .startswith("curl/"), "user_agent.original")
            check_eq(chain[1]["attributes"].get("server.address"),
                     "127.0.0.1", "nginx server.address (from Host)")
            ncli = chain[2]["attributes"]
            check_eq(ncli.get("server.address"), "be",
                     "nginx CLIENT server.address (Host: be)")
            check_eq(ncli.get("network.peer.port"), relay.port,
                     "nginx CLIENT network.peer.port")
            check_eq(ncli.get("http.response.status_code"), 200,
                     "nginx CLIENT status")
            # nginx sends "Host: be": server.* come from it, port 80 by
            # the scheme's default (SPEC.md 5.1)
            check_server_attrs(chain[3], 80, path,
                               query.replace("s3cr3t", "REDACTED") or None)
            check_eq(chain[3]["attributes"].get("server.address"), "be",
                     "relay SERVER server.address (Host: be)")
            check_server_attrs(chain[5], leaf.port, path,
                               query.replace("s3cr3t", "REDACTED") or None)
        check_eq(len(traces), len(paths), "one trace per curl request")
        for s in spans:
            check_eq(s["resource"].get("telemetry.sdk.name"), "otelshim",
                     "resource")


def test_chain_keepalive():
    chain_run(True)


def test_chain_no_keepalive():
    chain_run(False)


# ---- concurrency ------------------------------------------------------------

def test_concurrent():
    total, parallel = 64, 32
    with Receiver() as rx, \
            Service(["leaf"], traced_env(rx, "leaf")) as leaf, \
            Service(["relay", leaf.url()], traced_env(rx, "relay")) as relay, \
            Nginx(relay.port, traced_env(rx, "nginx")) as ngx:
        incoming = {}
        errors = []
        barrier = threading.Barrier(parallel)

        def client(i):
            tid, sid, tp = new_traceparent()
            incoming[i] = (tid, sid)
            if i < parallel:
                barrier.wait()
            try:
                s = socket.create_connection(("127.0.0.1", ngx.port), 10)
                s.sendall((f"GET /conc/{i} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           f"traceparent: {tp}\r\nConnection: close\r\n\r\n")
                          .encode())
                data = b""
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    data += d
                s.close()
                if not data.startswith(b"HTTP/1.1 200") or \
                        f"leaf /conc/{i}\n".encode() not in data:
                    errors.append((i, data[:200]))
            except OSError as e:
                errors.append((i, repr(e)))

        for start in range(0, total, parallel):
            ts = [threading.Thread(target=client, args=(i,))
                  for i in range(start, start + parallel)]
            barrier = threading.Barrier(parallel)
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        check(not errors, f"requests failed: {errors[:3]}")
        spans = rx.wait_spans(5 * total, timeout=15)
        ngx.stop()
        spans = rx.wait_spans(5 * total, timeout=1, settle=0.2)
        rx.check_clean()
        check_eq(len(spans), 5 * total, "span count (5 per request)")

        trace_of = {tid: i for i, (tid, _) in incoming.items()}
        wrong, new_trace, links_ok = [], [], 0
        for s in spans:
            a = s["attributes"]
            where = a.get("url.path") or a.get("url.full", "")
            i = int(where.rsplit("/", 1)[1])
            t = s["trace_id"]
            if t in trace_of:
                if trace_of[t] != i:
                    wrong.append((i, trace_of[t], summarize([s]),
                                  a.get("otelshim.parent.rule")))
            else:
                new_trace.append(s)
                # "do not guess": a new trace, linked to the one candidate
                # when there is exactly one
                for ln in s.get("links", []):
                    links_ok += ln["trace_id"] in trace_of
        if os.environ.get("DUMP"):
            json.dump({"incoming": incoming, "spans": spans}, open(os.environ["DUMP"], "w"))
        check(not wrong, f"{len(wrong)} spans in another request's trace: "
              f"{wrong}")
        # every request whose spans all stayed in its trace forms the exact
        # chain (nginx SERVER -> ... -> leaf SERVER)
        complete = 0
        for i, (tid, sid) in incoming.items():
            mine = [s for s in spans if s["trace_id"] == tid]
            if len(mine) == 5:
                check_chain(mine, f"/conc/{i}", ngx, relay, leaf,
                            incoming_sid=sid)
                complete += 1
        # a call "had to start a new trace" when its parent could not be
        # known for sure (the rule says so); the spans below it then follow
        # it correctly, in the new trace
        client_calls = [s for s in spans if s["kind"] == KIND_CLIENT]
        rules = {}
        for s in client_calls:
            r = s["attributes"].get("otelshim.parent.rule")
            rules[r] = rules.get(r, 0) + 1
        started_new = sum(rules.get(r, 0) for r in ("ambiguous", "handoff",
                                                     "none"))
        share = started_new / len(client_calls)
        print(f"    concurrent: {total} requests, {parallel} at a time: "
              f"0 wrong parents; {started_new} of {len(client_calls)} client "
              f"calls started a new trace ({100 * share:.1f}%); "
              f"{complete}/{total} requests kept whole in their trace; "
              f"parent rules {rules}", flush=True)
        # new traces are allowed (not guessing), but must stay rare
        check(share <= 0.25, f"new-trace share {share:.2f} too high")
        # each new trace is whole: the call that started it, and below it
        # the rest of that same request's chain
        by_trace = {}
        for s in new_trace:
            by_trace.setdefault(s["trace_id"], []).append(s)
        for t, ss in by_trace.items():
            roots = [s for s in ss if s["parent_span_id"] == ""]
            check_eq(len(roots), 1, f"one root in new trace {t}")
            paths = {(s["attributes"].get("url.path") or
                      s["attributes"].get("url.full", "")).rsplit("/", 1)[1]
                     for s in ss}
            check_eq(len(paths), 1, f"new trace {t} holds one request")


# ---- server spans: framing cases -------------------------------------------

def exchange(port, data, read_limit=None):
    s = socket.create_connection(("127.0.0.1", port), 10)
    s.sendall(data)
    got = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
        if read_limit and len(got) >= read_limit:
            break
    s.close()
    return got


def test_server_framing():
    with Receiver() as rx, Service(["edges"], traced_env(rx, "edges")) as ed:
        t0 = time.time_ns()
        # three pipelined requests in one write, then the fourth closes
        got = exchange(ed.port, b"GET /p1 HTTP/1.1\r\nHost: a\r\n\r\n"
                       b"GET /p2?q=1 HTTP/1.1\r\nHost: a\r\n\r\n"
                       b"HEAD /p3 HTTP/1.1\r\nHost: a\r\n\r\n"
                       b"GET /204 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        check(got.count(b"HTTP/1.1 ") == 4, f"four answers: {got[:300]!r}")
        for req in (b"GET /close HTTP/1.0\r\n\r\n",
                    b"GET /chunked HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                    b"GET /500 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                    b"GET /404 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"):
            exchange(ed.port, req)
        # the client hangs up early: the response never completes
        exchange(ed.port, b"GET /huge HTTP/1.1\r\nHost: a\r\n\r\n",
                 read_limit=100000)
        spans = rx.wait_spans(9, timeout=10)
        t1 = time.time_ns()
        check_eq(len(spans), 9, f"spans: {summarize(spans)}")
        by = {}
        for s in spans:
            a = s["attributes"]
            check_eq(s["kind"], KIND_SERVER, "kind")
            by[(a.get("http.request.method"), a.get("url.path"))] = s
            check(t0 <= int(s["start"]) <= int(s["end"]) <= t1,
                  "times within the test")
        p1, p2, p3 = by[("GET", "/p1")], by[("GET", "/p2")], by[("HEAD", "/p3")]
        check(int(p1["end"]) <= int(p2["start"]) or
              int(p1["start"]) <= int(p2["start"]), "pipelined in order")
        check(int(p2["start"]) <= int(p3["start"]), "pipelined in order")
        check_eq(p2["attributes"].get("url.query"), "q=1", "url.query")
        check_eq(p3["attributes"].get("http.response.status_code"), 200, "HEAD")
        check_eq(by[("GET", "/204")]["attributes"]
                 .get("http.response.status_code"), 204, "204")
        close = by[("GET", "/close")]
        check_eq((close["attributes"].get("http.response.status_code"),
                  close["attributes"].get("network.protocol.version"),
                  close["status"]["code"]), (200, "1.0", 0),
                 "close-delimited HTTP/1.0 response")
        check_eq(by[("GET", "/chunked")]["attributes"]
                 .get("http.response.status_code"), 200, "chunked")
        e500 = by[("GET", "/500")]
        check_eq((e500["status"]["code"], e500["attributes"].get("error.type")),
                 (2, "500"), "5xx is a server error")
        e404 = by[("GET", "/404")]
        check_eq((e404["status"]["code"], e404["attributes"].get("error.type")),
                 (0, None), "4xx is not a server error")
        huge = by[("GET", "/huge")]
        check_eq(huge["status"]["code"], 2,
                 "a response cut by the client's hang-up is an error")
        check(huge["attributes"].get("error.type"),
              f"error.type set: {huge['attributes']}")
        rx.check_clean()


# ---- nginx: static files and identical answers -----------------------------

def test_nginx_static():
    with Receiver() as rx, \
            Service(["leaf"], traced_env(rx, "leaf")) as leaf, \
            Nginx(leaf.port, traced_env(rx, "nginx")) as ngx:
        t0 = time.time_ns()
        results = []
        for p in ("/static/file.bin", "/static/small.txt", "/static/missing"):
            r = run([CURL, "-s", "-S", "-o", "/dev/null", "-w",
                     "%{http_code} %{size_download}", ngx.url(p)],
                    preload=False)
            results.append(r.out)
        t1 = time.time_ns()
        check_eq(results[:2], ["200 200000", "200 11"], "curl results")
        check(results[2].startswith("404 "), "404 for a missing file")
        r2 = run([CURL, "-s", "-S", "-I", ngx.url("/static/file.bin")],
                 preload=False)
        check(r2.out.startswith("HTTP/1.1 200"), "HEAD answer")
        spans = rx.wait_spans(4, timeout=10)
        ngx.stop()
        spans = rx.wait_spans(4, timeout=1, settle=0.2)
        check_eq(len(spans), 4, f"spans {summarize(spans)}")
        got = {(s["attributes"].get("http.request.method"),
                s["attributes"].get("url.path")): s for s in spans}
        big = got[("GET", "/static/file.bin")]
        check_eq(big["attributes"].get("http.response.status_code"), 200,
                 "status of the sendfile response")
        check_eq(big["kind"], KIND_SERVER, "kind")
        check(t0 <= int(big["start"]) <= int(big["end"]) <= t1,
              "the span lies within the request's time")
        miss = got[("GET", "/static/missing")]
        check_eq(miss["attributes"].get("http.response.status_code"), 404,
                 "404")
        check_eq(miss["status"]["code"], 0, "404 is not a server error")
        check_eq(got[("HEAD", "/static/file.bin")]["attributes"]
                 .get("http.response.status_code"), 200, "HEAD")


def raw_get(port, reqs):
    """Send each raw request on its own connection; the answers."""
    out = []
    for req in reqs:
        s = socket.create_connection(("127.0.0.1", port), 10)
        s.sendall(req)
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        lines = [ln for ln in head.split(b"\r\n")
                 if not ln.lower().startswith(b"date:")]
        out.append((lines, body))
    return out


def test_nginx_identical():
    reqs = [b"GET /static/file.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"HEAD /static/small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"GET /static/nope HTTP/1.0\r\n\r\n",
            b"GET /proxied/q?a=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n",
            b"BREW /pot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"GET /static/small.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=2-5\r\nConnection: close\r\n\r\n"]
    answers = []
    with Receiver() as rx:
        for preload in (False, True):
            env = traced_env(rx, "nginx") if preload else clean_env()
            # the upstream is the non-preloaded test server: it shows the
            # headers nginx sent, which must differ only by traceparent
            with HttpServer() as up, Nginx(up.port, env) as ngx:
                got = raw_get(ngx.port, reqs)
                # the proxied request echoes its headers: drop the line of
                # the traceparent the shim rewrote (a new parent-id)
                answers.append(got)
    for i, (a, b) in enumerate(zip(*answers)):
        check_eq(b[0], a[0], f"status and headers of request {i}")
        if i != 3:
            check_eq(b[1], a[1], f"body of request {i}")
    rx.check_clean()


# ---- a participating Python service: every W3C form ------------------------

TID = "0af7651916cd43dd8448eb211c80319c"
SID = "b7ad6b7169203331"

VALID_TP = [
    f"00-{TID}-{SID}-01",
    f"00-{TID}-{SID}-00",
    f"00-{TID}-{SID}-03",
    f" 00-{TID}-{SID}-01",
    f"00-{TID}-{SID}-01 \t",
    f"\t00-{TID}-{SID}-01",
    f"cc-{TID}-{SID}-01-what-the-future-will-be-like",
    f"cc-{TID}-{SID}-01",
    f"01-{TID}-{SID}-09",
]
INVALID_TP = [
    "",
    "00",
    f"00-{TID}-{SID}-01.",
    f"00-{TID}-{SID}-01-what-the-future-will-be-like",
    f"cc-{TID}-{SID}-01.what-the-future-will-be-like",
    f"ff-{TID}-{SID}-01",
    f"00-{TID.upper()}-{SID}-01",
    f"00-{TID}-{SID.upper()}-01",
    f"00-{TID}-{SID}-0A",
    f"00-{'0' * 32}-{SID}-01",
    f"00-{TID}-{'0' * 16}-01",
    f"00-{TID}-{SID}-1",
    f"00-{TID}-{SID}01",
    f"00_{TID}-{SID}-01",
    f"00-{TID}0-{SID}-01",
    f"00-{TID[:-1]}-{SID}-01",
    f"0g-{TID}-{SID}-01",
    f"00-{TID}-{SID}-0g",
    f"00-{TID}-{SID}",
    f"cc-{TID}-{SID}",
]


class W3C:
    """The service (preloaded) and the callback server (not preloaded)."""

    def __init__(self, rx, extra=None):
        self.rx = rx
        self.extra = extra or {}

    def __enter__(self):
        self.cb = HttpServer().start()
        try:
            self.svc = Service(["w3c"], traced_env(self.rx, "w3c", self.extra)).start()
        except Exception:
            self.cb.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.svc.stop()
        self.cb.stop()
        return False

    def call(self, headers, n_calls=1):
        """POST to the service with these raw header lines; return the
        header lists of the callbacks it made."""
        before = len(self.cb.requests)
        body = json.dumps([{"url": self.cb.url("/ok"), "arguments": []}] *
                          n_calls).encode()
        s = socket.create_connection(("127.0.0.1", self.svc.port), 10)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers)
        s.sendall(f"POST /test HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}"
                  f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                  f"Connection: close\r\n\r\n".encode() + body)
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        check(data.startswith(b"HTTP/1.1 200"), f"service answer {data[:100]!r}")
        got = self.cb.wait_requests(before + n_calls)[before:]
        check_eq(len(got), n_calls, "callbacks made")
        return [r["headers"] for r in got]


def header(hs, name):
    vals = [v for k, v in hs if k.lower() == name]
    return vals


def parse_tp(v):
    parts = v.split("-")
    check(len(parts) == 4 and parts[0] == "00" and len(v) == 55,
          f"outgoing traceparent {v!r} is a version-00 traceparent")
    return parts[1], parts[2], parts[3]


def test_w3c_traceparent_forms():
    with Receiver() as rx, W3C(rx) as w:
        for tp in VALID_TP:
            hs = w.call([("traceparent", tp)])[0]
            tps = header(hs, "traceparent")
            check_eq(len(tps), 1, f"one traceparent out for {tp!r}")
            tid, sid, flags = parse_tp(tps[0])
            check_eq(tid, TID, f"trace-id kept for valid {tp!r}")
            check(sid not in (SID, "0" * 16), f"new parent-id for {tp!r}")
            inflags = int(tp.strip()[53:55], 16)
            check_eq(int(flags, 16), inflags & 0x03,
                     f"flags for {tp!r} (sampled and random copied, the "
                     "rest zeroed)")
        seen = set()
        for tp in INVALID_TP:
            hs = w.call([("traceparent", tp), ("tracestate", "foo=1")])[0]
            tps = header(hs, "traceparent")
            check_eq(len(tps), 1, f"one traceparent out for {tp!r}")
            tid, sid, flags = parse_tp(tps[0])
            check(tid != TID, f"a new trace for invalid {tp!r}")
            check(tid not in seen, "each new trace is new")
            seen.add(tid)
            check_eq(header(hs, "tracestate"), [],
                     f"tracestate dropped with invalid traceparent {tp!r}")
            check_eq(flags, "03", "a new sampled trace with a random id")
        # no traceparent at all, or one under another name
        for hs_in in ([], [("trace-parent", f"00-{TID}-{SID}-01")],
                      [("trace.parent", f"00-{TID}-{SID}-01")],
                      [("tracestate", "foo=1")]):
            hs = w.call(hs_in)[0]
            tid, _, _ = parse_tp(header(hs, "traceparent")[0])
            check(tid != TID, f"new trace for {hs_in}")
            check_eq(header(hs, "tracestate"), [], f"no tracestate for {hs_in}")
        # header name in any case
        hs = w.call([("TraceParent", f"00-{TID}-{SID}-01")])[0]
        check_eq(parse_tp(header(hs, "traceparent")[0])[0], TID,
                 "TraceParent accepted")
        # two traceparent headers: invalid
        hs = w.call([("traceparent", f"00-{TID}-{SID}-01"),
                     ("traceparent", f"00-{TID}-{'1' * 16}-01")])[0]
        check(parse_tp(header(hs, "traceparent")[0])[0] != TID,
              "duplicated traceparent starts a new trace")
        # several calls from one request: same trace, a new parent-id each
        hs = w.call([("traceparent", f"00-{TID}-{SID}-01")], n_calls=3)
        ids = [parse_tp(header(h, "traceparent")[0]) for h in hs]
        check_eq({i[0] for i in ids}, {TID}, "same trace for every call")
        check_eq(len({i[1] for i in ids}), 3, "a new parent-id per call")


def test_w3c_spans_and_sampling():
    with Receiver() as rx, W3C(rx) as w:
        hs = w.call([("traceparent", f"00-{TID}-{SID}-01")])[0]
        _, out_sid, _ = parse_tp(header(hs, "traceparent")[0])
        spans = rx.wait_spans(2, timeout=5)
        check_eq(len(spans), 2, f"spans: {summarize(spans)}")
        srv = [s for s in spans if s["kind"] == KIND_SERVER][0]
        cli = [s for s in spans if s["kind"] == KIND_CLIENT][0]
        check_eq((srv["trace_id"], srv["parent_span_id"]), (TID, SID),
                 "SERVER continues the incoming trace")
        check_eq(cli["parent_span_id"], srv["span_id"], "CLIENT under SERVER")
        check_eq(cli["span_id"], out_sid, "outgoing parent-id = CLIENT span")
        check_eq(srv["attributes"].get("http.request.method"), "POST", "method")
        check_eq(srv["flags"] & 0x300, 0x300, "remote parent flagged")
        # an unsampled incoming trace: propagated with 00, nothing exported
        tid2, sid2, tp2 = new_traceparent("00")
        hs = w.call([("traceparent", tp2)])[0]
        out = parse_tp(header(hs, "traceparent")[0])
        check_eq((out[0], out[2]), (tid2, "00"), "unsampled stays unsampled")
        time.sleep(0.5)
        check(not [s for s in rx.spans if s["trace_id"] == tid2],
              "no span exported for an unsampled parent")


def test_w3c_tracestate_forms():
    tp = ("traceparent", f"00-{TID}-{SID}-01")
    longkey = "k" * 256
    cases = [
        # (incoming tracestate headers, expected members out or None = dropped)
        (["foo=1,bar=2"], ["foo=1", "bar=2"]),
        (["foo=1", "bar=2"], ["foo=1", "bar=2"]),   # two fields, in order
        (["foo=1", ""], ["foo=1"]),                 # empty field ignored
        ([" foo=1 ,\tbar=2\t"], ["foo=1", "bar=2"]),
        (["foo=1,,bar=2"], ["foo=1", "bar=2"]),
        (["foo=bar=baz"], None),
        (["foo="], None),
        ([",".join(f"k{i}=v" for i in range(33))], None),
        ([f"{'k' * 257}=v"], None),
        (["@foo=v"], None),
        (["foo@=1"], ["foo@=1"]),
        (["foo@@bar=1"], ["foo@@bar=1"]),
        (["foo@bar@baz=1"], ["foo@bar@baz=1"]),
        ([f"{longkey}=v"], [f"{longkey}=v"]),
        ([f"{'t' * 241}@{'v' * 14}=1"], [f"{'t' * 241}@{'v' * 14}=1"]),
        (["foo=" + "".join(chr(c) for c in range(0x20, 0x7f)
                           if chr(c) not in ",= ") + "x"],
         ["foo=" + "".join(chr(c) for c in range(0x20, 0x7f)
                           if chr(c) not in ",= ") + "x"]),
        ([",".join(f"k{i}=v" for i in range(32))],
         [f"k{i}=v" for i in range(32)]),
    ]
    with Receiver() as rx, W3C(rx) as w:
        for ts_in, want in cases:
            hs = w.call([tp] + [("tracestate", v) for v in ts_in])[0]
            got = header(hs, "tracestate")
            check_eq(parse_tp(header(hs, "traceparent")[0])[0], TID,
                     "tracestate never affects traceparent")
            if want is None:
                check_eq(got, [], f"tracestate {ts_in!r} dropped")
            else:
                check_eq(len(got), 1, f"one tracestate out for {ts_in!r}")
                members = [m.strip() for m in got[0].split(",") if m.strip()]
                check_eq(members, want, f"tracestate {ts_in!r}")
        # uppercase, '.' or space in a key: that key is not propagated
        for bad in ("Foo=1", "fo.o=1", "fo o=1"):
            hs = w.call([tp, ("tracestate", bad + ",bar=2")])[0]
            got = ",".join(header(hs, "tracestate"))
            check(bad not in got, f"{bad!r} not propagated (got {got!r})")
        spans = rx.wait_spans(1, timeout=5, settle=0.3)
        srv = [s for s in spans if s["kind"] == KIND_SERVER
               and s["trace_id"] == TID]
        check(any(s.get("trace_state") == "foo=1,bar=2" for s in srv),
              "the SERVER span carries the incoming tracestate")


# ---- other propagators ------------------------------------------------------

def test_propagators_b3_baggage_none():
    with Receiver() as rx:
        with W3C(rx, {"OTEL_PROPAGATORS": "b3"}) as w:
            hs = w.call([("b3", f"{TID}-{SID}-1")])[0]
            b3 = header(hs, "b3")
            check_eq(len(b3), 1, "one b3 header out")
            parts = b3[0].split("-")
            check_eq((parts[0], parts[2]), (TID, "1"), "b3 trace and sampled")
            check(parts[1] != SID and len(parts) == 3,
                  f"b3 new span id, no parent field: {b3[0]}")
            check_eq(header(hs, "traceparent"), [],
                     "only the configured propagator injects")
        with W3C(rx, {"OTEL_PROPAGATORS": "b3multi"}) as w:
            hs = w.call([("X-B3-TraceId", TID), ("X-B3-SpanId", SID),
                         ("X-B3-Sampled", "1")])[0]
            check_eq(header(hs, "x-b3-traceid"), [TID], "X-B3-TraceId")
            check_eq(header(hs, "x-b3-sampled"), ["1"], "X-B3-Sampled")
            check_eq(header(hs, "x-b3-parentspanid"), [],
                     "no X-B3-ParentSpanId")
            check(header(hs, "x-b3-spanid")[0] != SID, "new X-B3-SpanId")
        with W3C(rx) as w:
            bag = "userId=alice,serverNode=DF%2028;prop=1"
            hs = w.call([("traceparent", f"00-{TID}-{SID}-01"),
                         ("baggage", bag)])[0]
            check_eq(header(hs, "baggage"), [bag], "baggage passed unchanged")
        with W3C(rx, {"OTEL_PROPAGATORS": "none"}) as w:
            hs = w.call([("traceparent", f"00-{TID}-{SID}-01")])[0]
            check_eq(header(hs, "traceparent"), [],
                     "OTEL_PROPAGATORS=none injects nothing")
        with W3C(rx, {"OTEL_SDK_DISABLED": "true"}) as w:
            hs = w.call([("traceparent", f"00-{TID}-{SID}-01")])[0]
            check_eq(header(hs, "traceparent"), [],
                     "OTEL_SDK_DISABLED=true injects nothing")


# ---- across exec ------------------------------------------------------------

def test_exec_propagation():
    with Receiver() as rx, \
            Service(["leaf"], traced_env(rx, "leaf")) as leaf, \
            Service(["spawn", CURL, leaf.url()],
                    traced_env(rx, "spawner")) as sp:
        tid, sid, tp = new_traceparent()
        s = socket.create_connection(("127.0.0.1", sp.port), 10)
        s.sendall(f"GET /cgi/1 HTTP/1.1\r\nHost: x\r\ntraceparent: {tp}\r\n"
                  f"Connection: close\r\n\r\n".encode())
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        check(b"leaf /cgi/1" in data, f"answer {data[:200]!r}")
        spans = rx.wait_spans(3, timeout=5)
        check_eq(len(spans), 3, f"spans {summarize(spans)}")
        srv = [s for s in spans if s["resource"]["service.name"] == "spawner"
               and s["kind"] == KIND_SERVER][0]
        cli = [s for s in spans if s["kind"] == KIND_CLIENT][0]
        lf = [s for s in spans if s["resource"]["service.name"] == "leaf"][0]
        check_eq(cli["resource"]["service.name"], "spawner",
                 "curl inherits OTEL_SERVICE_NAME from its parent")
        check_eq(cli["resource"]["process.executable.name"], "curl", "curl")
        check_eq({s["trace_id"] for s in spans}, {tid}, "one trace")
        check_eq(srv["parent_span_id"], sid, "SERVER under the incoming")
        check_eq(cli["parent_span_id"], srv["span_id"],
                 "curl's CLIENT span under the request being served")
        check_eq(cli["attributes"].get("otelshim.parent.rule"), "env",
                 "rule env")
        check_eq(lf["parent_span_id"], cli["span_id"], "leaf under curl")


if __name__ == "__main__":
    main([test_chain_keepalive, test_chain_no_keepalive, test_concurrent,
          test_server_framing,
          test_nginx_static, test_nginx_identical, test_w3c_traceparent_forms,
          test_w3c_spans_and_sampling, test_w3c_tracestate_forms,
          test_propagators_b3_baggage_none, test_exec_propagation])
