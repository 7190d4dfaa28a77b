#!/usr/bin/env python3
"""test_exporter.py - the export side of otelshim, seen from outside: what
the independent OTLP receiver (tests/receiver) gets, and what the traced
program prints and how long it takes, when the queue overflows, the
collector is slow, dead, failing or partially rejecting, with export
headers, endpoint variables, samplers, fork, and scripts/otelshim.

    OTELSHIM_LIB=build/shim/libotelshim.so OTELSHIM_BUILD=build \\
        python3 tests/integration/test_exporter.py [name...]

Every dropped span must be either received or counted in the one line the
library prints at exit; timing checks use bounds far from the alternative
they rule out (seconds against tens of seconds), never tight ones.
"""

import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from otlp_harness import (CURL, PYTHON, SOURCE_ROOT, HttpServer, Receiver,  # noqa: E402
                          check, check_eq, clean_env, fail, library_path,
                          main, run, summarize)

TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")

# exporter.c report(): the one line printed at exit when spans were dropped.
REPORT = re.compile(
    r"(\d+) spans dropped \(queue full (\d+), export failed (\d+), rejected "
    r"by the collector (\d+), not exported before the exit deadline (\d+), "
    r"after shutdown (\d+), untraceable (\d+), left half-built (\d+)\); "
    r"(\d+) exported")
REPORT_FIELDS = ("dropped", "queue_full", "export_failed", "rejected",
                 "pending", "after_shutdown", "untraceable", "abandoned",
                 "exported")


def curl(*args):
    # -q first: ignore any ~/.curlrc.
    return [CURL, "-q", "-s"] + list(args)


def shim_lines(res, prog="curl"):
    """otelshim's own stderr lines of the run, after checking that every
    stderr line is one of them (the program itself prints nothing here)."""
    prefix = f"otelshim[{prog}:{res.pid}]: "
    lines = res.err.splitlines()
    others = [line for line in lines if not line.startswith(prefix)]
    check(not others, f"stderr lines not starting with {prefix!r}: {others}")
    return [line[len(prefix):] for line in lines]


def exit_report(res, prog="curl"):
    """The counts of the exit report line, which must be there exactly
    once."""
    found = [REPORT.fullmatch(m) for m in shim_lines(res, prog)]
    found = [m for m in found if m]
    check_eq(len(found), 1, f"exit report lines in stderr {res.err!r}")
    d = dict(zip(REPORT_FIELDS, (int(x) for x in found[0].groups())))
    check_eq(d["dropped"], sum(d[k] for k in REPORT_FIELDS[1:8]),
             f"total of the exit report {d}")
    return d


def urls_of(spans):
    return [s["attributes"].get("url.full") for s in spans]


def check_each_once(spans, want_urls, what):
    got = sorted(urls_of(spans))
    check_eq(got, sorted(want_urls), f"{what}: url.full of the spans "
             f"({summarize(spans)})")
    check_eq(len({s["span_id"] for s in spans}), len(spans),
             f"{what}: distinct span ids")


def closed_port():
    """A bound, not listening socket: connecting to its port is refused,
    and no other process can take the port while the socket lives."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s


def traceparents(requests):
    """The traceparent each request the test server got carried."""
    out = []
    for r in requests:
        tp = [v for k, v in r["headers"] if k.lower() == "traceparent"]
        check_eq(len(tp), 1, f"traceparent headers of {r['target']}")
        m = TRACEPARENT.fullmatch(tp[0])
        check(m, f"malformed traceparent {tp[0]!r}")
        out.append(m)
    return out


def ratio_sampled(trace_id_hex, ratio):
    """SPEC.md 7.2, the rule recommended there (Go's): the low 8 bytes of
    the trace id, big-endian, shifted right by one, below ratio * 2^63."""
    if ratio >= 1.0:
        return True
    x = int(trace_id_hex[16:32], 16) >> 1
    return x < int(ratio * 2.0 ** 63)


# ---- 1. nothing lost silently -------------------------------------------

QUEUE_ENV = {"OTEL_BSP_MAX_QUEUE_SIZE": "2",
             "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "1",
             "OTEL_BSP_SCHEDULE_DELAY": "60000",
             # generous: the exit flush must finish, or in-flight spans
             # would be both received and counted
             "OTELSHIM_EXIT_FLUSH_TIMEOUT": "20000"}


def test_queue_full_every_span_received_or_counted():
    n = 30
    # Each export takes 500 ms: the queue of 2 fills while curl runs.
    with Receiver(delay_ms=500) as rx, HttpServer() as srv:
        urls = [srv.url(f"/ok/q{i}") for i in range(n)]
        res = run(curl(*urls), rx, env=QUEUE_ENV, schedule_delay=None)
        check_eq((res.returncode, res.stdout), (0, b"ok\n" * n),
                 f"curl result ({res!r})")
        check_eq(len(srv.wait_requests(n)), n, "requests the server got")
        rep = exit_report(res)
        spans = rx.wait_spans(rep["exported"], timeout=10)
        check(rep["queue_full"] > 0,
              f"test setup: the queue never filled ({rep})")
        check_eq(len(spans), rep["exported"],
                 "spans received vs 'exported' in the exit report")
        check_eq(len(spans) + rep["dropped"], n,
                 f"spans received ({len(spans)}) + dropped ({rep}) vs "
                 f"requests")
        check_eq(rep["dropped"], rep["queue_full"],
                 f"the only drops are queue-full ones ({rep})")
        check(set(urls_of(spans)) <= set(urls),
              f"spans for unknown URLs: {summarize(spans)}")
        check_eq(len(set(urls_of(spans))), len(spans),
                 f"a request exported twice ({summarize(spans)})")
        rx.check_clean()


def test_log_level_none_silences_the_report():
    n = 30
    with Receiver(delay_ms=500) as rx, HttpServer() as srv:
        urls = [srv.url(f"/ok/n{i}") for i in range(n)]
        env = dict(QUEUE_ENV, OTEL_LOG_LEVEL="none")
        res = run(curl(*urls), rx, env=env, schedule_delay=None)
        check_eq((res.returncode, res.stdout, res.stderr),
                 (0, b"ok\n" * n, b""), "curl result with OTEL_LOG_LEVEL=none")
        # Only the message is gone: spans are still exported, and still
        # dropped when the queue is full.
        spans = rx.wait_spans(1, timeout=10, settle=1.0)
        check(0 < len(spans) < n,
              f"spans received with OTEL_LOG_LEVEL=none: {len(spans)} of "
              f"{n} (want some, and fewer than all: the queue holds 2)")
        check_eq(len(set(urls_of(spans))), len(spans),
                 f"a request exported twice ({summarize(spans)})")
        rx.check_clean()


# ---- 2. exit is bounded ----------------------------------------------------

def test_exit_bounded_with_slow_collector():
    # The receiver answers after 20 s; the exit flush waits 500 ms.
    with Receiver(delay_ms=20000) as rx, HttpServer() as srv:
        urls = [srv.url(f"/ok/slow{i}") for i in range(3)]
        t0 = time.monotonic()
        res = run(curl(*urls), rx,
                  env={"OTELSHIM_EXIT_FLUSH_TIMEOUT": "500"})
        took = time.monotonic() - t0
        check_eq((res.returncode, res.stdout), (0, b"ok\n" * 3),
                 f"curl result ({res!r})")
        check(took < 5.0, f"curl took {took:.1f} s to exit with a collector "
              f"that answers after 20 s (exit flush timeout 500 ms)")
        rep = exit_report(res)
        check_eq((rep["dropped"], rep["exported"]), (3, 0),
                 f"(dropped, exported) in the exit report {rep}")
        check_eq(rep["queue_full"] + rep["untraceable"], 0,
                 f"reasons in the exit report {rep}")


def test_exit_bounded_with_nothing_listening():
    with HttpServer() as srv:
        sock = closed_port()
        try:
            port = sock.getsockname()[1]
            args = curl("-i", srv.url("/ok/dead"), srv.url("/status/503"))
            plain = run(args, preload=False)
            t0 = time.monotonic()
            res = run(args, env={"OTEL_EXPORTER_OTLP_ENDPOINT":
                                 f"http://127.0.0.1:{port}"})
            took = time.monotonic() - t0
        finally:
            sock.close()
        check_eq(res.returncode, plain.returncode, "curl exit status")
        strip = re.compile(rb"(?im)^date:.*\r?\n")
        check_eq(strip.sub(b"", res.stdout), strip.sub(b"", plain.stdout),
                 "curl -i output (Date lines removed)")
        check_eq(plain.stderr, b"", "curl stderr without the preload")
        # Default OTELSHIM_EXIT_FLUSH_TIMEOUT (2 s) against an OTLP timeout
        # of 10 s and retries.
        check(took < 5.0, f"curl took {took:.1f} s to exit with nothing "
              f"listening at the endpoint")
        rep = exit_report(res)
        check_eq((rep["dropped"], rep["exported"]), (2, 0),
                 f"(dropped, exported) in the exit report {rep}")
        check_eq(rep["export_failed"] + rep["pending"], 2,
                 f"spans counted as failed or not exported ({rep})")


# ---- 3. retries --------------------------------------------------------------

def test_retry_503_exports_each_span_once():
    with Receiver(fail_first=2, fail_status=503) as rx, HttpServer() as srv:
        urls = [srv.url(f"/ok/retry{i}") for i in range(3)]
        res = run(curl(*urls), rx,
                  env={"OTELSHIM_EXIT_FLUSH_TIMEOUT": "20000"})
        check_eq((res.returncode, res.stdout), (0, b"ok\n" * 3),
                 f"curl result ({res!r})")
        spans = rx.wait_spans(3)
        check_eq(len(rx.requests), 3,
                 "export requests (2 answered 503, then the retry that "
                 "succeeds)")
        check_eq([r["status"] for r in rx.requests], [503, 503, 200],
                 "statuses the receiver answered")
        check_each_once(spans, urls, "accepted spans")
        # The retries carried the same batch, not new or duplicate spans.
        for r in rx.requests:
            check_eq(r["spans"], 3, f"spans in export request "
                     f"{r['request']['index']}")
        ids = sorted(s["span_id"] for s in spans)
        for i in (1, 2):
            got = sorted(s["span_id"] for s in rx.all_spans
                         if s["request"]["index"] == i)
            check_eq(got, ids, f"span ids of the failed request {i}")
        check_eq(res.stderr, b"", "curl stderr (nothing was dropped)")
        rx.check_clean()


def test_retry_after_is_honoured():
    with Receiver(fail_first=1, fail_status=503, retry_after=1) as rx, \
            HttpServer() as srv:
        url = srv.url("/ok/retry-after")
        res = run(curl(url), rx, env={"OTELSHIM_EXIT_FLUSH_TIMEOUT": "20000"})
        check_eq((res.returncode, res.stdout), (0, b"ok\n"),
                 f"curl result ({res!r})")
        spans = rx.wait_spans(1)
        check_each_once(spans, [url], "accepted spans")
        check_eq(len(rx.requests), 2, "export requests")
        gap = rx.requests[1]["time_ms"] - rx.requests[0]["time_ms"]
        check(gap >= 900, f"the retry came {gap} ms after a 503 with "
              f"Retry-After: 1")
        check_eq(res.stderr, b"", "curl stderr")
        rx.check_clean()


# The program is still running when the collector answers 503 with
# Retry-After: 2, and exits during that wait, with an exit flush long enough
# to wait it out.
SLEEPY_CLIENT = """
import sys, time, urllib.request
urllib.request.urlopen('http://127.0.0.1:%s/ok/sleepy' % sys.argv[1]).read()
time.sleep(float(sys.argv[2]))
"""


def test_retry_after_is_honoured_when_exit_interrupts_the_wait():
    with Receiver(fail_first=1, fail_status=503, retry_after=2) as rx, \
            HttpServer() as srv:
        res = run([PYTHON, "-c", SLEEPY_CLIENT, str(srv.port), "0.7"], rx,
                  env={"OTELSHIM_EXIT_FLUSH_TIMEOUT": "20000"})
        check_eq(res.returncode, 0, f"python exit status ({res!r})")
        spans = rx.wait_spans(1, timeout=5)
        check(rx.requests and rx.requests[0]["status"] == 503,
              f"test setup: the first export was not refused "
              f"({rx.requests})")
        check(rx.requests[0]["time_ms"] * 1_000_000 < res.t1_ns - 300e6,
              "test setup: the program did not outlive the first export")
        check_eq(len(rx.requests), 2, "export requests")
        gap = rx.requests[1]["time_ms"] - rx.requests[0]["time_ms"]
        check(gap >= 1500, f"the retry came {gap} ms after a 503 with "
              f"Retry-After: 2 (the program's exit cut the wait short; the "
              f"exit flush allowed 20 s)")
        check_each_once(spans, [srv.url("/ok/sleepy")], "accepted spans")
        check_eq(res.stderr, b"", "python stderr")


def test_400_is_not_retried():
    with Receiver(fail_first=1, fail_status=400) as rx, HttpServer() as srv:
        urls = [srv.url(f"/ok/bad{i}") for i in range(2)]
        res = run(curl(*urls), rx, env={"OTELSHIM_EXIT_FLUSH_TIMEOUT": "5000"})
        check_eq((res.returncode, res.stdout), (0, b"ok\n" * 2),
                 f"curl result ({res!r})")
        rx.wait_spans(1, timeout=1.0, settle=0.5)
        check_eq([r["status"] for r in rx.requests], [400],
                 "export requests (a 400 must not be retried)")
        check_eq(rx.spans, [], "accepted spans")
        rep = exit_report(res)
        check_eq((rep["dropped"], rep["export_failed"], rep["exported"]),
                 (2, 2, 0), f"(dropped, export failed, exported) in {rep}")
        warn = [m for m in shim_lines(res) if "400" in m and "failed" in m]
        check_eq(len(warn), 1, f"warnings naming the 400 failure in "
                 f"{res.err!r}")


def test_partial_success_counts_rejected_spans():
    with Receiver(partial_reject=1) as rx, HttpServer() as srv:
        urls = [srv.url(f"/ok/partial{i}") for i in range(3)]
        res = run(curl(*urls), rx)
        check_eq((res.returncode, res.stdout), (0, b"ok\n" * 3),
                 f"curl result ({res!r})")
        spans = rx.wait_spans(3)
        check_eq(len(rx.requests), 1, "export requests (a partial success "
                 "must not be retried)")
        check_each_once(spans, urls, "received spans")
        rep = exit_report(res)
        check_eq((rep["dropped"], rep["rejected"], rep["exported"]),
                 (1, 1, 2), f"(dropped, rejected, exported) in {rep}")
        warn = [m for m in shim_lines(res)
                if "rejected" in m and "test receiver rejected 1 spans" in m]
        check_eq(len(warn), 1, f"warnings with the collector's message in "
                 f"{res.err!r}")
        rx.check_clean()


# ---- 4. headers --------------------------------------------------------------

def test_export_headers_sent_and_never_logged():
    with Receiver() as rx, HttpServer() as srv:
        url = srv.url("/ok/headers")
        res = run(curl(url), rx,
                  env={"OTEL_EXPORTER_OTLP_HEADERS":
                       "api-key=s3cr3t, x-tenant=a%20b",
                       "OTEL_LOG_LEVEL": "debug"})
        check_eq((res.returncode, res.stdout), (0, b"ok\n"),
                 f"curl result ({res!r})")
        check("s3cr3t" not in res.err,
              f"the header value leaked to stderr: {res.err!r}")
        shim_lines(res)
        spans = rx.wait_spans(1)
        check_each_once(spans, [url], "spans")
        hdrs = rx.requests[0]["request"]["raw_headers"]
        got = [(k.lower(), v) for k, v in hdrs
               if k.lower() in ("api-key", "x-tenant")]
        check_eq(got, [("api-key", "s3cr3t"), ("x-tenant", "a b")],
                 f"export headers the receiver got ({hdrs})")
        rx.check_clean()


def test_malformed_export_headers_warn_once():
    with Receiver() as rx, HttpServer() as srv:
        url = srv.url("/ok/bad-headers")
        for value in ("api-key=s3cr3t,no-equals-sign",
                      "api-key=s3cr3t,x=%zz"):
            n = len(rx.spans)
            res = run(curl(url), rx,
                      env={"OTEL_EXPORTER_OTLP_HEADERS": value,
                           "OTEL_LOG_LEVEL": "debug"})
            check_eq((res.returncode, res.stdout), (0, b"ok\n"),
                     f"curl result ({res!r})")
            check("s3cr3t" not in res.err,
                  f"the header value leaked to stderr: {res.err!r}")
            warn = [m for m in shim_lines(res)
                    if "OTEL_EXPORTER_OTLP_HEADERS" in m]
            check_eq(len(warn), 1, f"warnings naming "
                     f"OTEL_EXPORTER_OTLP_HEADERS={value!r} in {res.err!r}")
            spans = rx.wait_spans(n + 1)
            check_eq(len(spans), n + 1,
                     f"spans received after OTEL_EXPORTER_OTLP_HEADERS="
                     f"{value!r} ({summarize(spans)})")
        rx.check_clean()


def test_traces_headers_override_generic_ones():
    # SPEC.md 1.6: the signal-specific form MUST override the generic one.
    with Receiver() as rx, HttpServer() as srv:
        res = run(curl(srv.url("/ok/both-headers")), rx,
                  env={"OTEL_EXPORTER_OTLP_HEADERS": "api-key=generic",
                       "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "api-key=traces"})
        check_eq((res.returncode, res.stderr), (0, b""),
                 f"curl result ({res!r})")
        rx.wait_spans(1)
        check_eq(len(rx.requests), 1, "export requests")
        hdrs = rx.requests[0]["request"]["raw_headers"]
        got = [v for k, v in hdrs if k.lower() == "api-key"]
        check_eq(got, ["traces"], f"api-key headers the receiver got "
                 f"({hdrs})")


# ---- 5. endpoint rules (SPEC.md 1.7) -----------------------------------------

def export_paths(rx, n0):
    return [r["request"]["path"] for r in rx.requests[n0:]]


def test_endpoint_base_path():
    with Receiver() as rx, HttpServer() as srv:
        for base, want in (("/base/", "/base/v1/traces"),
                           ("/base", "/base/v1/traces"),
                           ("", "/v1/traces")):
            n0, s0 = len(rx.requests), len(rx.spans)
            res = run(curl(srv.url("/ok/base")),
                      env={"OTEL_EXPORTER_OTLP_ENDPOINT": rx.endpoint + base})
            check_eq((res.returncode, res.stderr), (0, b""),
                     f"curl result with base {base!r} ({res!r})")
            rx.wait_spans(s0 + 1)
            check_eq(export_paths(rx, n0), [want],
                     f"export path for OTEL_EXPORTER_OTLP_ENDPOINT="
                     f"{rx.endpoint + base}")


def test_traces_endpoint_used_as_is_and_wins():
    with Receiver() as rx, HttpServer() as srv:
        for generic, traces, want in (
                (None, "/custom/path", "/custom/path"),
                ("/generic/", "/custom/path", "/custom/path"),
                (None, "", "/")):
            n0, s0 = len(rx.requests), len(rx.spans)
            env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": rx.endpoint + traces}
            if generic is not None:
                env["OTEL_EXPORTER_OTLP_ENDPOINT"] = rx.endpoint + generic
            res = run(curl(srv.url("/ok/traces-endpoint")), env=env)
            check_eq((res.returncode, res.stderr), (0, b""),
                     f"curl result with {env} ({res!r})")
            rx.wait_spans(s0 + 1)
            check_eq(export_paths(rx, n0), [want], f"export path for {env}")


def test_protocol_grpc_warns_and_uses_http_protobuf():
    with Receiver() as rx, HttpServer() as srv:
        res = run(curl(srv.url("/ok/grpc")), rx,
                  env={"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
        check_eq((res.returncode, res.stdout), (0, b"ok\n"),
                 f"curl result ({res!r})")
        lines = shim_lines(res)
        check_eq(len(lines), 1, f"stderr lines ({res.err!r})")
        check("OTEL_EXPORTER_OTLP_PROTOCOL" in lines[0] and "grpc" in lines[0],
              f"warning does not name the variable and value: {lines[0]!r}")
        spans = rx.wait_spans(1)
        check_each_once(spans, [srv.url("/ok/grpc")], "spans")
        rx.check_clean()    # POST application/x-protobuf to /v1/traces


# ---- 6. samplers (SPEC.md 7) --------------------------------------------------

def test_sampler_always_off_still_propagates():
    with Receiver() as rx, HttpServer() as srv:
        urls = [srv.url("/echo-headers") for _ in range(3)]
        res = run(curl(*urls), rx, env={"OTEL_TRACES_SAMPLER": "always_off"})
        check_eq((res.returncode, res.stderr), (0, b""),
                 f"curl result ({res!r})")
        tps = traceparents(srv.wait_requests(3))
        check_eq(len(tps), 3, "requests the server got")
        for m in tps:
            # the sampled bit; 0x02 (W3C Level 2 random trace id) may be set
            check_eq(int(m.group(3), 16) & ~0x02, 0,
                     f"flags of traceparent {m.group(0)} without the random "
                     f"bit")
            check(m.group(1) != "0" * 32 and m.group(2) != "0" * 16,
                  f"invalid ids in {m.group(0)}")
        check_eq(len({m.group(1) for m in tps}), 3, "distinct trace ids")
        # A traced run afterwards: its span must be the only one.
        sentinel = srv.url("/ok/sentinel")
        run(curl(sentinel), rx)
        spans = rx.wait_spans(1, settle=0.5)
        check_eq(urls_of(spans), [sentinel],
                 "spans received (only the sentinel's expected)")
        rx.check_clean()


def test_sampler_traceidratio_follows_the_trace_id():
    n = 40
    with Receiver() as rx, HttpServer() as srv:
        urls = [srv.url(f"/echo-headers?i={i}") for i in range(n)]
        res = run(curl(*urls), rx,
                  env={"OTEL_TRACES_SAMPLER": "traceidratio",
                       "OTEL_TRACES_SAMPLER_ARG": "0.5"})
        check_eq((res.returncode, res.stderr), (0, b""),
                 f"curl result ({res!r})")
        tps = traceparents(srv.wait_requests(n))
        check_eq(len(tps), n, "requests the server got")
        wrong = []
        sampled = {}
        for m in tps:
            tid, sid, flags = m.group(1), m.group(2), int(m.group(3), 16)
            want = ratio_sampled(tid, 0.5)
            if bool(flags & 1) != want:
                wrong.append(f"{m.group(0)} (want sampled={want})")
            if flags & 1:
                sampled[tid] = sid
        check(not wrong, f"{len(wrong)} of {n} sampling decisions differ "
              f"from SPEC.md 7.2 (low 8 bytes): {wrong[:5]}")
        check(0 < len(sampled) < n,
              f"sampled {len(sampled)} of {n} at ratio 0.5")
        spans = rx.wait_spans(len(sampled), settle=0.5)
        got = {s["trace_id"]: s["span_id"] for s in spans}
        check_eq(len(spans), len(sampled),
                 f"spans received vs sampled requests ({summarize(spans)})")
        check_eq(got, sampled, "(trace id, span id) of the spans received vs "
                 "the sampled traceparents")
        for s in spans:
            check(s["flags"] & 1, f"span {s['span_id']} flags {s['flags']:#x}")
        rx.check_clean()


def test_sampler_bad_ratio_warns_and_samples_all():
    n = 6
    with Receiver() as rx, HttpServer() as srv:
        urls = [srv.url(f"/echo-headers?bad={i}") for i in range(n)]
        res = run(curl(*urls), rx,
                  env={"OTEL_TRACES_SAMPLER": "traceidratio",
                       "OTEL_TRACES_SAMPLER_ARG": "2.5"})
        check_eq(res.returncode, 0, f"curl exit status ({res!r})")
        lines = shim_lines(res)
        check_eq(len(lines), 1, f"stderr lines ({res.err!r})")
        check("OTEL_TRACES_SAMPLER_ARG" in lines[0] and "2.5" in lines[0],
              f"warning does not name the variable and value: {lines[0]!r}")
        tps = traceparents(srv.wait_requests(n))
        check_eq([int(m.group(3), 16) & 0x01 for m in tps], [1] * n,
                 f"sampled bits of the traceparents (ratio 1.0): "
                 f"{[m.group(0) for m in tps]}")
        spans = rx.wait_spans(n)
        check_eq(len(spans), n, f"spans received ({summarize(spans)})")
        rx.check_clean()


# ---- 7. fork ----------------------------------------------------------------

FORK_SCRIPT = r"""
import os, sys, time, urllib.request
port, pause = sys.argv[1], float(sys.argv[2])
def get(path):
    with urllib.request.urlopen('http://127.0.0.1:%s%s' % (port, path)) as r:
        r.read()
get('/ok/before-fork')
if pause:
    time.sleep(pause)          # the first span is exported meanwhile
    get('/ok/just-before-fork')
pid = os.fork()
if pid == 0:
    get('/ok/child')
    sys.exit(0)
_, status = os.waitpid(pid, 0)
get('/ok/parent-after')
print(pid, os.waitstatus_to_exitcode(status))
"""


def run_fork_script(rx, srv, pause, schedule_delay):
    res = run([PYTHON, "-c", FORK_SCRIPT, str(srv.port), str(pause)], rx,
              schedule_delay=schedule_delay)
    m = re.fullmatch(r"(\d+) 0\n", res.out)
    check(res.returncode == 0 and m, f"fork script result ({res!r})")
    check_eq(res.stderr, b"", "stderr (no span dropped)")
    return res, int(m.group(1))


def check_fork_spans(rx, srv, res, child_pid, parent_paths):
    want = [srv.url(p) for p in parent_paths + ["/ok/child"]]
    spans = rx.wait_spans(len(want), settle=0.5)
    check_each_once(spans, want, "spans")
    check_eq(len(rx.all_spans), len(want),
             f"spans the receiver got, accepted or not "
             f"({summarize(rx.all_spans)})")
    for s in spans:
        pid = s["resource"].get("process.pid")
        url = s["attributes"].get("url.full")
        want_pid = child_pid if url == srv.url("/ok/child") else res.pid
        check_eq(pid, want_pid, f"process.pid of the span for {url} "
                 f"(parent {res.pid}, child {child_pid})")
    rx.check_clean()


def test_fork_child_exports_only_its_own_span():
    # A long schedule delay: the pre-fork span is still queued at fork.
    with Receiver() as rx, HttpServer() as srv:
        res, child = run_fork_script(rx, srv, 0, 60000)
        check_fork_spans(rx, srv, res, child,
                         ["/ok/before-fork", "/ok/parent-after"])


def test_fork_with_a_live_collector_connection():
    # The first span is exported before the fork (the exporter thread runs
    # and keeps its collector connection open); the second may be queued.
    with Receiver() as rx, HttpServer() as srv:
        res, child = run_fork_script(rx, srv, 0.6, 100)
        check_fork_spans(rx, srv, res, child,
                         ["/ok/before-fork", "/ok/just-before-fork",
                          "/ok/parent-after"])


# ---- 8. scripts/otelshim ----------------------------------------------------

SCRIPT = os.path.join(SOURCE_ROOT, "scripts", "otelshim")


def build_dir():
    b = os.environ.get("OTELSHIM_BUILD")
    if b:
        return b
    lib = library_path() or ""
    tail = os.path.join("shim", "libotelshim.so")
    if lib.endswith(tail):
        return lib[:-len(tail)].rstrip("/") or "/"
    fail("OTELSHIM_BUILD is not set")


def run_script(args, timeout=120):
    env = clean_env()
    env["OTELSHIM_BUILD"] = build_dir()
    return subprocess.run([SCRIPT] + args, env=env, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def test_otelshim_script_prints_a_waterfall():
    with HttpServer() as srv:
        url = srv.url("/ok/script")
        p = run_script(["--", CURL, "-q", "-s", url])
        err = p.stderr.decode("utf-8", "replace")
        check_eq((p.returncode, p.stdout), (0, b"ok\n"),
                 f"scripts/otelshim -- curl: result (stderr {err!r})")
        lines = err.splitlines()
        head = [line for line in lines if re.match(
            r"otelshim\[curl:\d+\]: trace [0-9a-f]{32} ", line)]
        check_eq(len(head), 1, f"trace header lines in stderr {err!r}")
        check("service=unknown_service:curl" in head[0],
              f"no service=unknown_service:curl in {head[0]!r}")
        rows = [line for line in lines if f"GET  CLIENT  200  {url}" in line]
        check_eq(len(rows), 1, f"waterfall lines for {url} in {err!r}")
        check(lines.index(rows[0]) == lines.index(head[0]) + 1,
              f"the waterfall line does not follow its header: {err!r}")


def test_otelshim_script_says_nothing_more_once_built():
    with HttpServer() as srv:
        url = srv.url("/ok/script-quiet")
        run_script(["--lib"])       # installs and builds what is missing
        p = run_script(["--", CURL, "-q", "-s", url])
        err = p.stderr.decode("utf-8", "replace")
        check_eq(p.returncode, 0, f"scripts/otelshim exit status ({err!r})")
        other = [line for line in err.splitlines()
                 if not re.match(r"otelshim\[curl:\d+\]: trace ", line)
                 and f"  {url}" not in line]
        check_eq(other, [], "stderr lines besides the waterfall, on a second "
                 "run with everything installed and built")


def test_otelshim_script_lib_and_usage():
    p = run_script(["--lib"])
    out = p.stdout.decode().strip()
    check_eq(p.returncode, 0, f"scripts/otelshim --lib exit status "
             f"({p.stderr!r})")
    check(os.path.isabs(out) and out.endswith("libotelshim.so")
          and os.path.isfile(out),
          f"scripts/otelshim --lib printed {p.stdout!r}")
    check_eq(os.path.realpath(out),
             os.path.realpath(os.path.join(build_dir(), "shim",
                                           "libotelshim.so")),
             "the library --lib names (OTELSHIM_BUILD's)")
    for args in ([], ["--"]):
        p = run_script(args)
        check_eq((p.returncode, p.stdout), (2, b""),
                 f"scripts/otelshim {' '.join(args)} result")
        check(b"usage" in p.stderr.lower() or b"COMMAND" in p.stderr,
              f"no usage on stderr: {p.stderr!r}")


# ---- 9. OTEL_RESOURCE_ATTRIBUTES ----------------------------------------------

def test_malformed_resource_attributes_warn_once():
    with Receiver() as rx, HttpServer() as srv:
        urls = [srv.url("/ok/ra1"), srv.url("/ok/ra2")]
        res = run(curl(*urls), rx, env={"OTEL_RESOURCE_ATTRIBUTES": "a=1,b"})
        check_eq((res.returncode, res.stdout), (0, b"ok\n" * 2),
                 f"curl result ({res!r})")
        lines = shim_lines(res)
        check_eq(len(lines), 1, f"stderr lines ({res.err!r})")
        check("OTEL_RESOURCE_ATTRIBUTES" in lines[0],
              f"warning does not name OTEL_RESOURCE_ATTRIBUTES: {lines[0]!r}")
        spans = rx.wait_spans(2)
        check_each_once(spans, urls, "spans")
        for s in spans:
            r = s["resource"]
            check("a" not in r and "b" not in r,
                  f"attributes of a discarded OTEL_RESOURCE_ATTRIBUTES in "
                  f"the resource: {r}")
            check_eq(r.get("service.name"), "unknown_service:curl",
                     "service.name")
        rx.check_clean()


TESTS = [
    test_queue_full_every_span_received_or_counted,
    test_log_level_none_silences_the_report,
    test_exit_bounded_with_slow_collector,
    test_exit_bounded_with_nothing_listening,
    test_retry_503_exports_each_span_once,
    test_retry_after_is_honoured,
    test_retry_after_is_honoured_when_exit_interrupts_the_wait,
    test_400_is_not_retried,
    test_partial_success_counts_rejected_spans,
    test_export_headers_sent_and_never_logged,
    test_malformed_export_headers_warn_once,
    test_traces_headers_override_generic_ones,
    test_endpoint_base_path,
    test_traces_endpoint_used_as_is_and_wins,
    test_protocol_grpc_warns_and_uses_http_protobuf,
    test_sampler_always_off_still_propagates,
    test_sampler_traceidratio_follows_the_trace_id,
    test_sampler_bad_ratio_warns_and_samples_all,
    test_fork_child_exports_only_its_own_span,
    test_fork_with_a_live_collector_connection,
    test_otelshim_script_prints_a_waterfall,
    test_otelshim_script_says_nothing_more_once_built,
    test_otelshim_script_lib_and_usage,
    test_malformed_resource_attributes_warn_once,
]

if __name__ == "__main__":
    main(TESTS)
