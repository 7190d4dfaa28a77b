#!/usr/bin/env python3
"""test_load.py - load and memory (issue 5, point 3), with loadgen.c
(threads making requests on kept-alive connections) against the untraced
loadsrv.c and the test collector of rel.py:

  - 32 threads x 2000 requests with a queue that holds them all: every
    one of the 64 000 spans is delivered, once; the exit report says
    64 000 exported and nothing dropped;
  - the same load with a small queue and a slow collector: spans are
    dropped, and spans made = spans delivered + spans counted as dropped,
    exactly, and "exported" in the report = spans delivered;
  - memory is bounded: with the collector down and a flood of requests,
    the process's extra peak RSS (VmHWM, against the same flood without
    the library) stays under the queue's bound (OTEL_BSP_MAX_QUEUE_SIZE x
    sizeof(struct span_record)) plus a fixed allowance, and does not grow
    with the size of the flood.

    OTELSHIM_LIB=build/shim/libotelshim.so OTELSHIM_BUILD=build \\
        python3 tests/reliability/test_load.py [name...]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rel import (Collector, LoadServer, check, check_eq,  # noqa: E402
                 closed_port, instrumented, main, record_size, report_of)
from test_faults import loadgen  # noqa: E402

THREADS, REQUESTS = 32, 2000
N = THREADS * REQUESTS

# Memory the library may use besides the queue's records: the exporter
# thread's stack (256 KiB), one encoded batch, the per-descriptor table,
# libprotobuf-c and glibc arenas for the extra thread. Measured: under
# 1 MiB; the allowance leaves room without hiding a leak of the flood's
# size (tens of MiB).
ALLOWANCE_KB = 4 * 1024


def test_32_threads_2000_requests_nothing_lost():
    with LoadServer() as srv, Collector(light=True) as col:
        res, d = loadgen(srv.port, THREADS, REQUESTS, "keepalive",
                         timeout=120, receiver=col,
                         env={"OTEL_BSP_MAX_QUEUE_SIZE": str(N + 1536),
                              "OTEL_LOG_LEVEL": "debug",
                              "OTELSHIM_EXIT_FLUSH_TIMEOUT": "60000"})
        check_eq((res.returncode, d["ok"], d["fail"]), (0, N, 0),
                 f"loadgen result ({res!r})")
        rep = report_of(res)
        spans = col.wait_spans(N, timeout=60, settle=0.5)
        print(f"  {N} requests in {d['ms']} ms; report {rep}; "
              f"{len(spans)} spans delivered in {len(col.requests)} "
              f"export requests", flush=True)
        check_eq((rep["exported"], rep["dropped"]), (N, 0),
                 f"(exported, dropped) in the exit report {rep}")
        check_eq(len(spans), N, "spans delivered")
        check_eq(len({s["span_id"] for s in spans}), N, "distinct span ids")
        check_eq({s["pid"] for s in spans}, {res.pid}, "process.pid")
        col.check_clean()


def test_load_with_a_small_queue_counts_every_drop():
    with LoadServer() as srv, Collector(light=True, delay_ms=20) as col:
        res, d = loadgen(srv.port, THREADS, REQUESTS, "keepalive",
                         timeout=120, receiver=col,
                         env={"OTEL_BSP_MAX_QUEUE_SIZE": "1024",
                              "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "256",
                              "OTEL_LOG_LEVEL": "debug",
                              "OTELSHIM_EXIT_FLUSH_TIMEOUT": "60000"})
        check_eq((res.returncode, d["ok"], d["fail"]), (0, N, 0),
                 f"loadgen result ({res!r})")
        rep = report_of(res)
        spans = col.wait_spans(rep["exported"], timeout=30, settle=0.5)
        print(f"  {N} requests in {d['ms']} ms; report {rep}; "
              f"{len(spans)} spans delivered", flush=True)
        check(rep["queue_full"] > 0,
              f"test setup: the queue of 1024 never filled ({rep})")
        check_eq(len(spans), rep["exported"],
                 "spans delivered vs 'exported' in the exit report")
        check_eq(len(spans) + rep["dropped"], N,
                 f"spans delivered + dropped vs spans made ({rep})")
        check_eq(len({s["span_id"] for s in spans}), len(spans),
                 "distinct span ids")
        col.check_clean()


def flood(srv, endpoint, queue, threads, reqs):
    res, d = loadgen(srv.port, threads, reqs, "keepalive", timeout=120,
                     env={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                          "OTEL_BSP_MAX_QUEUE_SIZE": str(queue),
                          "OTELSHIM_EXIT_FLUSH_TIMEOUT": "500"})
    check_eq((res.returncode, d["ok"], d["fail"]), (0, threads * reqs, 0),
             f"flood result ({res!r})")
    rep = report_of(res)
    check_eq((rep["dropped"], rep["exported"]), (threads * reqs, 0),
             f"(dropped, exported) with the collector down: {rep}")
    return d


def test_memory_bounded_with_the_collector_down():
    if instrumented():
        print("  SKIPPED: a sanitizer build or valgrind", flush=True)
        return
    rec = record_size()
    down = closed_port()
    endpoint = f"http://127.0.0.1:{down.getsockname()[1]}"
    try:
        with LoadServer() as srv:
            plain = min((loadgen(srv.port, 8, 5000, "keepalive",
                                 preload=False)[1] for _ in range(2)),
                        key=lambda d: d["hwm_kb"])
            runs = []
            for queue, threads, reqs in ((256, 8, 5000), (2048, 8, 5000),
                                         (2048, 8, 20000)):
                d = flood(srv, endpoint, queue, threads, reqs)
                extra = d["hwm_kb"] - plain["hwm_kb"]
                bound = queue * rec // 1024 + ALLOWANCE_KB
                runs.append((queue, threads * reqs, extra))
                print(f"  queue {queue}, {threads * reqs} requests: peak RSS "
                      f"{d['hwm_kb']} kB, {extra} kB more than without the "
                      f"library (queue bound {queue * rec // 1024} kB + "
                      f"{ALLOWANCE_KB} kB)", flush=True)
                check(extra <= bound,
                      f"queue {queue} ({rec} bytes a record), "
                      f"{threads * reqs} requests with the collector down: "
                      f"peak RSS {extra} kB above the run without the "
                      f"library, bound {bound} kB")
            # four times the flood, same queue: about the same memory
            growth = runs[2][2] - runs[1][2]
            check(growth < 2048,
                  f"peak RSS grew by {growth} kB from {runs[1][1]} to "
                  f"{runs[2][1]} requests with the same queue")
    finally:
        down.close()


TESTS = [
    test_32_threads_2000_requests_nothing_lost,
    test_load_with_a_small_queue_counts_every_drop,
    test_memory_bounded_with_the_collector_down,
]

if __name__ == "__main__":
    main(TESTS)
