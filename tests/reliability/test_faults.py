#!/usr/bin/env python3
"""test_faults.py - collector faults that tests/integration/test_exporter.py
does not already cover (issue 5, point 1):

  - a collector that accepts and never answers, one that never even
    accepts, and one that answers after 5 s: a program making 200 requests
    takes about as long as without the library, and its exit is bounded;
  - 429 without Retry-After (backoff) and with it (honoured);
  - which statuses are retried: 502 and 504 are, 404, 413, 500 and 501
    are not (SPEC.md 3.2);
  - an export gives up within OTEL_EXPORTER_OTLP_TIMEOUT, retries
    included (README: "ms per export, retries included"), with a collector
    that answers 503 and with one that never answers, and later spans are
    not held up behind it;
  - a collector that goes away and comes back on the same port: new spans
    flow again, and every span is delivered or counted;
  - 503 three times then 200 loses nothing that fits the queue: 300 spans
    in batches of 64, exact counts.

Timing checks use bounds far from what they rule out (a second against a
10 s export timeout), never tight ones.

    OTELSHIM_LIB=build/shim/libotelshim.so OTELSHIM_BUILD=build \\
        python3 tests/reliability/test_faults.py [name...]
"""

import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rel import (H, Collector, LoadServer, check, check_eq,  # noqa: E402
                 clean_env, free_port, instrumented, main, preload_value,
                 prog, report_of, reports, run, summarize, wrapper)

LOADGEN_LINE = re.compile(
    r"ok (\d+) fail (\d+) ms (\d+) rss_start_kb (-?\d+) hwm_kb (-?\d+) "
    r"rss_kb (-?\d+) threads (\d+)\n")


def loadgen(port, threads, reqs, mode="close", prefix="l", **kw):
    """Run loadgen; returns (RunResult, dict of its numbers)."""
    res = run([prog("loadgen"), str(port), str(threads), str(reqs), mode,
               prefix], **kw)
    m = LOADGEN_LINE.fullmatch(res.out)
    check(m, f"loadgen output ({res!r})")
    d = dict(zip(("ok", "fail", "ms", "rss_start_kb", "hwm_kb", "rss_kb",
                  "threads"), (int(x) for x in m.groups())))
    return res, d


def urls_of(spans):
    return [s["attributes"].get("url.full") for s in spans]


def check_each_once(spans, want, what):
    got = sorted(urls_of(spans))
    check_eq(got, sorted(want), f"{what}: url.full of the spans "
             f"({summarize(spans)})")
    check_eq(len({s["span_id"] for s in spans}), len(spans),
             f"{what}: distinct span ids")


def curl(*args):
    return [H.CURL, "-q", "-s"] + list(args)


# ---- a collector that never answers -----------------------------------------

def test_dead_collectors_do_not_slow_the_program():
    n = 200
    with LoadServer() as srv:
        _, base = loadgen(srv.port, 1, n, preload=False)
        check_eq((base["ok"], base["fail"]), (n, 0), "baseline requests")
        for mode, opts in (("blackhole", {"mode": "blackhole"}),
                           ("noaccept", {"mode": "noaccept"}),
                           ("answers after 5 s", {"delay_ms": 5000})):
            with Collector(**opts) as col:
                env = {"OTEL_EXPORTER_OTLP_ENDPOINT": col.endpoint,
                       # exports start while the program runs
                       "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "20",
                       "OTELSHIM_EXIT_FLUSH_TIMEOUT": "1000"}
                t0 = time.monotonic()
                res, d = loadgen(srv.port, 1, n, env=env, schedule_delay=50)
                wall = time.monotonic() - t0
                what = f"collector that {mode}"
                check_eq((res.returncode, d["ok"], d["fail"]), (0, n, 0),
                         f"{what}: exit status and requests ({res!r})")
                limit = 2 * base["ms"] + 1000
                print(f"  {what}: {n} requests in {d['ms']} ms (without "
                      f"the library {base['ms']} ms), exit after "
                      f"{wall:.2f} s", flush=True)
                if instrumented():
                    continue        # no timing under valgrind or ASan
                check(d["ms"] < limit,
                      f"{what}: {n} requests took {d['ms']} ms, without the "
                      f"library {base['ms']} ms (bound {limit} ms)")
                # exit: the requests, the 1 s flush, start-up; not the
                # 10 s export timeout
                check(wall < d["ms"] / 1000 + 4.0,
                      f"{what}: the program exited after {wall:.1f} s "
                      f"(exit flush timeout 1 s)")
                if mode != "noaccept":
                    check(col.wait_requests(1, timeout=2),
                          f"{what}: test setup: no export reached it")
                rep = report_of(res)
                check_eq(rep["dropped"] + rep["exported"], n,
                         f"{what}: spans dropped + exported in {rep}")
                if mode != "answers after 5 s":
                    check_eq(rep["exported"], 0, f"{what}: exported {rep}")


# ---- retries: which, when ---------------------------------------------------

def retried_run(rx, srv, tag, n=1, flush="20000"):
    urls = [srv.url(f"/ok/{tag}{i}") for i in range(n)]
    res = run(curl(*urls), rx, env={"OTELSHIM_EXIT_FLUSH_TIMEOUT": flush})
    check_eq((res.returncode, res.stdout), (0, b"ok\n" * n),
             f"curl result ({res!r})")
    return res, urls


def test_429_without_retry_after_backs_off():
    with H.Receiver(fail_first=2, fail_status=429) as rx, \
            H.HttpServer() as srv:
        res, urls = retried_run(rx, srv, "429-", 3)
        spans = rx.wait_spans(3)
        check_eq([r["status"] for r in rx.requests], [429, 429, 200],
                 "statuses of the export requests")
        check_each_once(spans, urls, "accepted spans")
        gaps = [b["time_ms"] - a["time_ms"]
                for a, b in zip(rx.requests, rx.requests[1:])]
        print(f"  retry gaps {gaps} ms", flush=True)
        # backoff 1 s, then 1.5 s, each with jitter of +-50 %
        check(gaps[0] >= 450 and gaps[1] >= 700,
              f"retries after a 429 came {gaps} ms apart (exponential "
              f"backoff from 1 s, jitter +-50 %)")
        check(max(gaps) < 5000, f"retry gaps {gaps} ms")
        check_eq(res.stderr, b"", "curl stderr (nothing dropped)")
        rx.check_clean()


def test_429_with_retry_after_is_honoured():
    with H.Receiver(fail_first=1, fail_status=429, retry_after=2) as rx, \
            H.HttpServer() as srv:
        res, urls = retried_run(rx, srv, "429ra-", 2)
        spans = rx.wait_spans(2)
        check_eq([r["status"] for r in rx.requests], [429, 200],
                 "statuses of the export requests")
        gap = rx.requests[1]["time_ms"] - rx.requests[0]["time_ms"]
        check(gap >= 1900, f"the retry came {gap} ms after a 429 with "
              f"Retry-After: 2")
        check_each_once(spans, urls, "accepted spans")
        check_eq(res.stderr, b"", "curl stderr (nothing dropped)")
        rx.check_clean()


def test_only_retryable_statuses_are_retried():
    with H.HttpServer() as srv:
        for st in (502, 504):
            with H.Receiver(fail_first=1, fail_status=st) as rx:
                res, urls = retried_run(rx, srv, f"r{st}-")
                spans = rx.wait_spans(1)
                check_eq([r["status"] for r in rx.requests], [st, 200],
                         f"statuses of the export requests ({st} is "
                         f"retryable)")
                check_each_once(spans, urls, f"accepted spans after {st}")
                check_eq(res.stderr, b"", f"curl stderr after {st}")
        for st in (404, 413, 500, 501):
            with H.Receiver(fail_first=1, fail_status=st) as rx:
                res, urls = retried_run(rx, srv, f"n{st}-", flush="5000")
                rx.wait_spans(1, timeout=1.0, settle=0.5)
                check_eq([r["status"] for r in rx.requests], [st],
                         f"export requests ({st} must not be retried)")
                rep = report_of(res)
                check_eq((rep["dropped"], rep["export_failed"]), (1, 1),
                         f"(dropped, export failed) after {st}: {rep}")


def test_retry_jitter_differs_between_processes():
    # SPEC.md 3.2: retries back off "with random jitter", so that a fleet
    # of processes that failed together does not retry together. Six
    # processes started together, each refused once (503, no Retry-After):
    # with jitter drawn from 50 % to 150 % of the first backoff (1 s), six
    # gaps within 50 ms of each other happen about once in 500 000 runs.
    n = 6
    with H.HttpServer() as srv, Collector(statuses=[503] * n) as col:
        results = [None] * n

        def one(i):
            results[i] = run(curl(srv.url(f"/ok/jitter{i}")), col,
                             env={"OTELSHIM_EXIT_FLUSH_TIMEOUT": "5000"})

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        check(all(r and r.returncode == 0 for r in results),
              f"curl results {results}")
        col.wait_spans(n, timeout=10)
        gaps = []
        for r in results:
            times = [q["t"] for q in col.snapshot()
                     if any(s["pid"] == r.pid for s in q["spans"])]
            check_eq(len(times), 2, f"export requests of pid {r.pid} (a "
                     f"503, then the retry)")
            gaps.append(round(times[1] - times[0]))
        print(f"  first retry after {sorted(gaps)} ms", flush=True)
        check(max(gaps) - min(gaps) > 50,
              f"{n} processes refused together retried {sorted(gaps)} ms "
              f"later: the same delay, no random jitter between processes "
              f"(exporter.c backoff_jitter_ms seeds from the monotonic "
              f"clock, whose bits above 2^33 ns hardly differ)")


# ---- giving up within OTEL_EXPORTER_OTLP_TIMEOUT ----------------------------

TWO_REQUESTS = """
import sys, time, urllib.request
port, pause = sys.argv[1], float(sys.argv[2])
urllib.request.urlopen('http://127.0.0.1:%s/giveup/first' % port).read()
time.sleep(pause)
urllib.request.urlopen('http://127.0.0.1:%s/giveup/second' % port).read()
"""


def attempts_of(col, url):
    """Arrival times (ms) of the export requests carrying url's span."""
    out = []
    for r in col.snapshot():
        if any(s["attributes"].get("url.full") == url for s in r["spans"]):
            out.append(r["t"])
    return out


def check_gives_up(mode, opts):
    timeout_ms, pause = 1000, 4.0
    with LoadServer() as srv, Collector(**opts) as col:
        res = run([H.PYTHON, "-c", TWO_REQUESTS, str(srv.port), str(pause)],
                  col, timeout=60,
                  env={"OTEL_EXPORTER_OTLP_TIMEOUT": str(timeout_ms),
                       "OTELSHIM_EXIT_FLUSH_TIMEOUT": "3000"})
        what = f"collector that {mode}"
        check_eq(res.returncode, 0, f"{what}: python ({res!r})")
        first = attempts_of(col, srv.url("/giveup/first"))
        second = attempts_of(col, srv.url("/giveup/second"))
        check(first, f"{what}: no export of the first span")
        rel = [round(t - first[0]) for t in first]
        late = second[0] - first[0] - pause * 1000 if second else None
        print(f"  {what}: attempts for the first span at {rel} ms; the "
              f"second span, made {pause:.0f} s later, first sent after "
              f"{late if late is None else round(late)} ms", flush=True)
        span = first[-1] - first[0]
        check(span <= timeout_ms + 300,
              f"{what}: the export of the first span was attempted "
              f"{len(first)} times over {span:.0f} ms (at {rel} ms); "
              f"OTEL_EXPORTER_OTLP_TIMEOUT={timeout_ms} bounds an export, "
              f"retries included (README)")
        check(second, f"{what}: the second span (made {pause} s later) "
              f"was never sent")
        check(late < 2500,
              f"{what}: the second span's first export came {late:.0f} ms "
              f"after it was made: held up behind the first span's retries")
        rep = report_of(res)
        check_eq((rep["dropped"], rep["exported"]), (2, 0),
                 f"{what}: (dropped, exported) in {rep}")


def test_export_gives_up_within_the_otlp_timeout_503():
    check_gives_up("answers 503", {"status": 503})


def test_export_gives_up_within_the_otlp_timeout_silent():
    check_gives_up("never answers", {"mode": "blackhole"})


def test_exit_flush_is_not_spent_waiting_for_a_retry():
    # The first span's export keeps failing (503, no Retry-After) while the
    # program runs; at exit, with 3 s to flush, a retry due after that
    # deadline must be abandoned so that the span made just before exit
    # is sent at least once (exporter.c retry_sleep: a flush requested
    # before the sleep began is not seen).
    flush_ms, pause = 3000, 2.5
    with LoadServer() as srv, Collector(status=503) as col:
        res = run([H.PYTHON, "-c", TWO_REQUESTS, str(srv.port), str(pause)],
                  col, timeout=60,
                  env={"OTELSHIM_EXIT_FLUSH_TIMEOUT": str(flush_ms)})
        check_eq(res.returncode, 0, f"python ({res!r})")
        took = (res.t1_ns - res.t0_ns) / 1e9
        first = attempts_of(col, srv.url("/giveup/first"))
        second = attempts_of(col, srv.url("/giveup/second"))
        rel = [round(t - first[0]) for t in first] if first else []
        print(f"  attempts for the first span at {rel} ms; the second span "
              f"(made at about {pause * 1000:.0f} ms) at "
              f"{[round(t - first[0]) for t in second] if first else second}"
              f" ms; exit after {took:.1f} s", flush=True)
        check(took < pause + flush_ms / 1000 + 2.5 or instrumented(),
              f"the program took {took:.1f} s (exit flush {flush_ms} ms)")
        check(second, f"the span made just before exit was never sent: the "
              f"{flush_ms} ms exit flush was spent waiting for a retry of "
              f"an earlier batch (attempts at {rel} ms)")
        rep = report_of(res)
        check_eq((rep["dropped"], rep["exported"]), (2, 0),
                 f"(dropped, exported) in {rep}")


# ---- a collector that comes back --------------------------------------------

PHASES = """
import sys, urllib.request
port = sys.argv[1]
for line in sys.stdin:
    tag, n = line.split()
    for i in range(int(n)):
        urllib.request.urlopen('http://127.0.0.1:%s/back/%s/%d'
                               % (port, tag, i)).read()
    print('done', tag, flush=True)
"""


def test_collector_comes_back_after_being_down():
    port = free_port()
    with LoadServer() as srv:
        env = clean_env()
        env.update({"LD_PRELOAD": preload_value(),
                    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
                    "OTEL_BSP_SCHEDULE_DELAY": "100",
                    "OTEL_BSP_EXPORT_TIMEOUT": "2000",
                    "OTEL_EXPORTER_OTLP_TIMEOUT": "1000",
                    "OTEL_LOG_LEVEL": "debug",
                    "OTELSHIM_EXIT_FLUSH_TIMEOUT": "10000"})
        p = subprocess.Popen(wrapper() + [H.PYTHON, "-c", PHASES,
                                          str(srv.port)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)

        def phase(tag, n=3):
            p.stdin.write(f"{tag} {n}\n".encode())
            p.stdin.flush()
            line = p.stdout.readline().decode()
            check_eq(line, f"done {tag}\n", f"program output for {tag}")
            return [srv.url(f"/back/{tag}/{i}") for i in range(n)]

        try:
            rx1 = H.Receiver(port=port).start()
            try:
                up1 = phase("up1")
                check_each_once(rx1.wait_spans(3, settle=0.2), up1,
                                "first collector")
            finally:
                rx1.stop()
            down = phase("down")
            time.sleep(2.5)     # the exporter tries, fails, gives up
            rx2 = H.Receiver(port=port).start()
            try:
                up2 = phase("up2")
                spans = rx2.wait_spans(3, timeout=15)
                got = set(urls_of(spans))
                check(set(up2) <= got,
                      f"spans made after the collector came back: "
                      f"{sorted(set(up2) - got)} never arrived "
                      f"({summarize(spans)})")
                out, err = p.communicate(timeout=30)     # closes stdin
                spans = rx2.wait_spans(0, settle=0.5)
            finally:
                rx2.stop()
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        check_eq(p.returncode, 0, f"program exit status ({err[-2000:]!r})")
        delivered = rx1.spans + spans
        urls = urls_of(delivered)
        check_eq(len(urls), len(set(urls)), f"a span delivered twice "
                 f"({summarize(delivered)})")
        check(set(urls) <= set(up1 + down + up2),
              f"unknown spans: {summarize(delivered)}")
        rep = reports(err.decode("utf-8", "replace")).get(p.pid, [])
        check_eq(len(rep), 1, f"exit report lines in {err[-2000:]!r}")
        rep = rep[0]
        print(f"  delivered {len(urls)} of 9 (down phase: "
              f"{len(set(down) & set(urls))}); report {rep}", flush=True)
        check_eq(rep["exported"], len(urls),
                 f"'exported' in the exit report vs spans delivered ({rep})")
        check_eq(rep["exported"] + rep["dropped"], 9,
                 f"spans delivered + dropped vs made ({rep})")


# ---- 503 three times, then 200: nothing lost --------------------------------

def test_503_three_times_then_200_loses_nothing():
    n = 300
    with H.Receiver(fail_first=3, fail_status=503) as rx, \
            LoadServer() as srv:
        urls = [srv.url(f"/r503/{i}") for i in range(n)]
        res = run(curl(*urls), rx, timeout=60,
                  env={"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "64",
                       "OTELSHIM_EXIT_FLUSH_TIMEOUT": "30000",
                       "OTEL_LOG_LEVEL": "debug"})
        check_eq((res.returncode, res.stdout), (0, b"ok\n" * n),
                 f"curl result ({res!r})")
        spans = rx.wait_spans(n, timeout=20)
        statuses = [r["status"] for r in rx.requests]
        check_eq(statuses[:3], [503] * 3, "the first export answers")
        check_eq(set(statuses[3:]), {200}, f"later answers {statuses}")
        check_each_once(spans, urls, "accepted spans")
        rep = report_of(res)
        check_eq((rep["exported"], rep["dropped"]), (n, 0),
                 f"(exported, dropped) in the exit report {rep}")
        # the retries carried the refused batch, not new spans
        refused = {s["span_id"] for s in rx.all_spans
                   if not s.get("accepted", True)}
        check(refused <= {s["span_id"] for s in spans},
              "spans of refused requests that were never accepted")
        print(f"  {n} spans, {len(rx.requests)} export requests "
              f"{statuses}", flush=True)
        rx.check_clean()


TESTS = [
    test_dead_collectors_do_not_slow_the_program,
    test_429_without_retry_after_backs_off,
    test_429_with_retry_after_is_honoured,
    test_only_retryable_statuses_are_retried,
    test_retry_jitter_differs_between_processes,
    test_export_gives_up_within_the_otlp_timeout_503,
    test_export_gives_up_within_the_otlp_timeout_silent,
    test_exit_flush_is_not_spent_waiting_for_a_retry,
    test_collector_comes_back_after_being_down,
    test_503_three_times_then_200_loses_nothing,
]

if __name__ == "__main__":
    main(TESTS)
