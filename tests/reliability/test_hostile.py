#!/usr/bin/env python3
"""test_hostile.py - hostile input at the integration level, over real
sockets (issue 5, point 4; the libFuzzer targets live in tests/fuzz):

  - the exchanges of hostile_cases.py (a 64 KiB head, 10 000 headers,
    one-byte writes, a request or status line without end, bytes after a
    malformed request, absurd Content-Length and chunk sizes, bytes that
    are not UTF-8), each with the preloaded program (hostile_peer.py) as
    the client and as the server, the other side a plain socket in this
    process: no crash, the bytes pass unchanged both ways (the only bytes
    otelshim may add are its traceparent line in a client's request), the
    peak RSS within a few MiB of the same run without the library, and
    clean spans or none: every span decodes, has valid UTF-8 strings, and
    every span the program made is delivered or counted (untraceable);
  - every OTEL_* and OTELSHIM_* variable set to garbage, one at a time:
    exactly one warning line, naming it (and echoing the value, except for
    headers), starting with 'otelshim['; the program's output and status
    unchanged; defaults used (the span still arrives, with a traceparent
    sent, sampled, nothing truncated or dropped);
  - all of them at once: no variable warned about twice, output unchanged.

    OTELSHIM_LIB=build/shim/libotelshim.so OTELSHIM_BUILD=build \\
        python3 tests/reliability/test_hostile.py [name...]
"""

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from hostile_cases import (CASES, listener, read_request,  # noqa: E402
                           read_to_eof, send)
from rel import (H, Collector, check, check_eq, clean_env,  # noqa: E402
                 fail, instrumented, main, preload_value, reports, run,
                 summarize, wrapper)

PEER = os.path.join(HERE, "hostile_peer.py")
INJECTED = re.compile(rb"traceparent: 00-[0-9a-f]{32}-[0-9a-f]{16}-"
                      rb"[0-9a-f]{2}\r?\n")
EXTRA_RSS_KB = 4 * 1024
METHODS = {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH",
           "TRACE", "CONNECT", "_OTHER"}


def sha(b):
    return hashlib.sha256(b).hexdigest()


def peer_result(out, what):
    lines = out.decode("utf-8", "replace").strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        fail(f"{what}: the preloaded program printed no result: {out!r}")


def run_client_side(case, preload, col):
    """The preloaded program is the client; a plain server here."""
    c = CASES[case]
    ls = listener()
    got = {}

    def serve():
        try:
            ls.settimeout(20)
            conn, _ = ls.accept()
            conn.settimeout(20)
            got["request"] = read_request(conn, c.framed)
            send(conn, c.response, c.resp_chunk)
            conn.shutdown(socket.SHUT_WR)
            read_to_eof(conn)
            conn.close()
        except OSError as e:
            got["error"] = repr(e)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    res = run([H.PYTHON, PEER, "client", str(ls.getsockname()[1]), case],
              col, preload=preload, timeout=30,
              env={"OTEL_LOG_LEVEL": "debug"})
    t.join(20)
    ls.close()
    return res, got.get("request"), got.get("error")


def run_server_side(case, preload, col):
    """The preloaded program is the server; a plain client here."""
    c = CASES[case]
    env = clean_env()
    env["OTEL_LOG_LEVEL"] = "debug"
    if preload:
        env.update({"LD_PRELOAD": preload_value(),
                    "OTEL_EXPORTER_OTLP_ENDPOINT": col.endpoint,
                    "OTEL_BSP_SCHEDULE_DELAY": "100"})
    p = subprocess.Popen((wrapper() if preload else []) +
                         [H.PYTHON, PEER, "server", case],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    resp, error = None, None
    try:
        line = p.stdout.readline().decode()
        m = re.fullmatch(r"PORT (\d+)\n", line)
        if not m:
            error = f"no PORT line: {line!r}"
        else:
            s = socket.create_connection(("127.0.0.1", int(m.group(1))),
                                         timeout=20)
            send(s, c.request, c.req_chunk)
            if not c.framed:
                s.shutdown(socket.SHUT_WR)
            resp = read_to_eof(s)
            s.close()
        out, err = p.communicate(timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        p.kill()
        out, err = p.communicate()
        error = repr(e)
    res = H.RunResult(p.args, p.returncode, out, err, p.pid, 0, 0)
    return res, resp, error


def check_exchange(case, side, col):
    c = CASES[case]
    runner = run_client_side if side == "client" else run_server_side
    what = f"{case} ({c.note}), preloaded {side}"
    plain, plain_got, plain_err = runner(case, False, None)
    check(plain.returncode == 0 and not plain_err,
          f"{what}: test setup: fails without the library: {plain_err} "
          f"{plain!r}")
    n0 = len(col.all_spans)
    res, got, err = runner(case, True, col)
    check_eq(res.returncode, 0, f"{what}: exit status ({res!r})")
    check(not err, f"{what}: the plain side failed: {err}")
    mine = peer_result(res.stdout, what)
    if side == "client":
        check_eq(mine["sha"], sha(c.response),
                 f"{what}: the response the program received ({mine['len']}"
                 f" bytes, {len(c.response)} sent; starts {mine['head']!r})")
        sent = got or b""
        stripped = INJECTED.sub(b"", sent, count=1)
        check(sent == c.request or stripped == c.request,
              f"{what}: the request the server received differs from the "
              f"program's beyond one traceparent line ({len(sent)} bytes "
              f"vs {len(c.request)}; starts {sent[:300]!r})")
    else:
        check_eq(mine["sha"], sha(c.request),
                 f"{what}: the request the program received "
                 f"({mine['len']} bytes, {len(c.request)} sent)")
        check_eq(sha(got or b""), sha(c.response),
                 f"{what}: the response the client received "
                 f"({len(got or b'')} bytes, {len(c.response)} sent)")
    base = peer_result(plain.stdout, what + " without the library")
    extra = mine["hwm_kb"] - base["hwm_kb"]
    check(extra <= EXTRA_RSS_KB or instrumented(),
          f"{what}: peak RSS {mine['hwm_kb']} kB, {extra} kB more than "
          f"without the library")
    # spans: clean, and each delivered or counted
    others = [line for line in res.err.splitlines()
              if not line.startswith("otelshim[")]
    check(not others, f"{what}: stderr lines that are not otelshim's: "
          f"{others[:5]}")
    reps = reports(res.err).get(res.pid, [])
    check_eq(len(reps), 1, f"{what}: exit reports in {res.err!r}")
    rep = reps[0]
    spans = col.wait_spans(0, timeout=0, settle=0)
    spans = [s for s in col.all_spans[n0:] if s["pid"] == res.pid]
    if len(spans) < rep["exported"]:
        col.wait_spans(len(col.spans) + rep["exported"] - len(spans),
                       timeout=5, settle=0.2)
        spans = [s for s in col.all_spans[n0:] if s["pid"] == res.pid]
    check_eq(len(spans), rep["exported"],
             f"{what}: spans delivered vs 'exported' in the exit report "
             f"{rep} ({summarize(spans)})")
    check_eq(rep["dropped"], rep["untraceable"],
             f"{what}: spans dropped for another reason than untraceable "
             f"{rep}")
    for s in spans:
        check(s["kind"] in (2, 3) and s["attributes"].get(
            "http.request.method") in METHODS,
              f"{what}: a span that is not a clean HTTP span: {s}")
    if c.http:
        # a well-formed request the program sent or served: a span, or a
        # span counted as lost (never silence)
        check_eq(len(spans) + rep["untraceable"], 1,
                 f"{what}: spans + untraceable for one well-formed HTTP "
                 f"exchange ({summarize(spans)}; report {rep})")
    else:
        check(len(spans) + rep["untraceable"] <= 1,
              f"{what}: {len(spans)} spans and {rep['untraceable']} "
              f"untraceable for one exchange ({summarize(spans)})")
    print(f"  {case:32} {side:6} spans {len(spans)} untraceable "
          f"{rep['untraceable']}  peak RSS +{extra} kB", flush=True)
    return spans


def check_cases(side):
    failures = []
    with Collector() as col:
        for case in CASES:
            try:
                check_exchange(case, side, col)
            except AssertionError as e:
                failures.append(str(e))
                print(f"  {case:32} {side:6} FAILED", flush=True)
        try:
            col.check_clean()
        except AssertionError as e:
            failures.append(str(e))
    check(not failures, f"{len(failures)} failures:\n    " +
          "\n    ".join(failures))


def test_hostile_exchanges_preloaded_client():
    check_cases("client")


def test_hostile_exchanges_preloaded_server():
    check_cases("server")


# ---- garbage in every variable ----------------------------------------------

# name: (garbage, extra variables that make it read). Values that may be
# secrets (headers) must not be echoed.
GARBAGE = {
    "OTEL_SDK_DISABLED": ("maybe", {}),
    "OTEL_RESOURCE_ATTRIBUTES": ("=,%zz,==", {}),
    "OTEL_TRACES_EXPORTER": ("zipkinn", {}),
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("ht!tp://bad host", {}),
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ("::::", {}),
    "OTEL_EXPORTER_OTLP_HEADERS": ("no-equals-s3cr3t", {}),
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS": ("%zz=s3cr3t", {}),
    "OTEL_EXPORTER_OTLP_TIMEOUT": ("-5s", {}),
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": ("ten", {}),
    "OTEL_EXPORTER_OTLP_PROTOCOL": ("carrier-pigeon", {}),
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": ("http/xml", {}),
    "OTEL_BSP_SCHEDULE_DELAY": ("soon", {}),
    "OTEL_BSP_EXPORT_TIMEOUT": ("1e99", {}),
    "OTEL_BSP_MAX_QUEUE_SIZE": ("0", {}),
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": ("lots", {}),
    "OTEL_PROPAGATORS": ("carrier,pigeon", {}),
    "OTEL_TRACES_SAMPLER": ("sometimes", {}),
    "OTEL_TRACES_SAMPLER_ARG": ("half", {"OTEL_TRACES_SAMPLER":
                                         "traceidratio"}),
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": ("long", {}),
    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": ("-1", {}),
    "OTEL_ATTRIBUTE_COUNT_LIMIT": ("many", {}),
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": ("1.5", {}),
    "OTEL_LOG_LEVEL": ("loud", {}),
    "OTEL_CONFIG_FILE": ("/nonexistent/otel.yaml", {}),
    "OTEL_SEMCONV_STABILITY_OPT_IN": ("bogus/dup", {}),
    "OTELSHIM_EXIT_FLUSH_TIMEOUT": ("forever", {}),
    "OTELSHIM_DB_QUERY_TEXT": ("everything", {}),
    "OTELSHIM_DB_CONNECT_THRESHOLD": ("slow", {}),
}
SECRET = {"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"}
ENDPOINTS = {"OTEL_EXPORTER_OTLP_ENDPOINT",
             "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"}


def curl_cmd(url):
    return [H.CURL, "-q", "-s", url]


def test_every_variable_garbage_one_at_a_time():
    problems = []
    with Collector() as col, H.HttpServer() as srv:
        url = srv.url("/ok/garbage")
        base = run(curl_cmd(url), preload=False)
        check_eq((base.returncode, base.stdout), (0, b"ok\n"),
                 "curl without the library")
        for name, (value, extra) in GARBAGE.items():
            n_req, n_spans = len(srv.requests), len(col.spans)
            env = dict(extra)
            env[name] = value
            res = run(curl_cmd(url), col, env=env)
            err = res.err
            lines = err.splitlines()
            why = []
            if (res.returncode, res.stdout) != (base.returncode, base.stdout):
                why.append(f"output/status changed: {res!r}")
            strays = [x for x in lines if not x.startswith(
                f"otelshim[curl:{res.pid}]: ")]
            if strays:
                why.append(f"stderr lines not from otelshim: {strays}")
            naming = [x for x in lines if name in x]
            if len(naming) != 1:
                why.append(f"{len(naming)} lines name it (want 1): {lines}")
            elif name in SECRET:
                if "s3cr3t" in err:
                    why.append(f"the value leaked: {naming[0]!r}")
            elif value not in naming[0] and name != "OTEL_CONFIG_FILE":
                why.append(f"the warning does not echo the value: "
                           f"{naming[0]!r}")
            reqs = srv.wait_requests(n_req + 1, timeout=5)[n_req:]
            tps = [v for r in reqs for k, v in r["headers"]
                   if k.lower() == "traceparent"]
            if len(tps) != 1 or not int(tps[0][-2:], 16) & 1:
                why.append(f"defaults not used: traceparent headers sent "
                           f"{tps} (want one, sampled)")
            if name not in ENDPOINTS:
                spans = col.wait_spans(n_spans + 1, timeout=5,
                                       settle=0.05)[n_spans:]
                if len(spans) != 1:
                    why.append(f"defaults not used: {len(spans)} spans "
                               f"arrived (want 1)")
                elif spans[0]["dropped_attributes_count"] or \
                        spans[0]["attributes"].get("url.full") != url:
                    why.append(f"defaults not used: limits applied: "
                               f"{spans[0]['attributes']} dropped "
                               f"{spans[0]['dropped_attributes_count']}")
            if why:
                problems.append(f"{name}={value!r}: " + "; ".join(why))
            print(f"  {name}={value!r}: "
                  f"{'ok' if not why else 'FAILED'}; "
                  f"{naming[0].split(': ', 1)[-1] if naming else lines}",
                  flush=True)
        col.check_clean()
    check(not problems, f"{len(problems)} of {len(GARBAGE)} variables:\n    "
          + "\n    ".join(problems))


def test_every_variable_garbage_at_once():
    with H.HttpServer() as srv:
        url = srv.url("/ok/all-garbage")
        base = run(curl_cmd(url), preload=False)
        env = {name: value for name, (value, _) in GARBAGE.items()}
        res = run(curl_cmd(url), env=env, schedule_delay=None)
        check_eq((res.returncode, res.stdout), (base.returncode, base.stdout),
                 f"curl with every variable garbage ({res!r})")
        lines = res.err.splitlines()
        check(all(x.startswith(f"otelshim[curl:{res.pid}]: ")
                  for x in lines),
              f"stderr lines not from otelshim: {lines}")
        check("s3cr3t" not in res.err, f"a header value leaked: {lines}")
        twice = [n for n in GARBAGE
                 if sum(1 for x in lines if re.search(rf"\b{n}\b", x)) > 1]
        check(not twice, f"variables warned about more than once: {twice} "
              f"({lines})")
        check(len(lines) <= len(GARBAGE) + 2,
              f"{len(lines)} lines of warnings for {len(GARBAGE)} "
              f"variables: {lines}")
        print(f"  {len(lines)} warning lines for {len(GARBAGE)} variables",
              flush=True)
        # the program ran (some variables are shadowed by others: their
        # signal-specific forms win, and the sampler argument is read only
        # with a ratio sampler)


TESTS = [
    test_hostile_exchanges_preloaded_client,
    test_hostile_exchanges_preloaded_server,
    test_every_variable_garbage_one_at_a_time,
    test_every_variable_garbage_at_once,
]

if __name__ == "__main__":
    main(TESTS)
