#!/usr/bin/env python3
"""test_lifecycle.py - process life cycle (issue 5, point 2), with the C
program lifecycle.c and forkstorm.c against the untraced loadsrv.c and the
test collector of rel.py:

  - exec flush: spans still queued when a program calls execve, execv,
    execvp or execl arrive (the schedule delay is a minute: only the exec
    flush can send them), and exec is bounded with a dead collector;
  - vfork+execve and posix_spawn, 150 each, while 8 threads make
    requests: every child runs, every parent span is delivered once or
    counted;
  - daemons: double fork, setsid, every descriptor closed (close() in a
    loop, glibc's close_range, the raw close_range system call, closefrom)
    after the exporter has exported, then files opened: the spans arrive,
    with the daemon's pid, and the files hold exactly the daemon's lines;
  - descriptor take-over: a program closes every descriptor (or dup2s a
    file onto the exporter's socket, or puts a Unix socket there) once the
    exporter's collector connection exists, so that its own file or socket
    gets the exporter's number; it writes its data and makes requests: the
    file (or the socket's other end) holds exactly its data, its writes
    and closes succeed, and the later spans still arrive;
  - fork 1000 times while 8 threads create spans: no deadlock (watchdogs),
    each parent span delivered once or counted, each child's span with the
    child's pid.

    OTELSHIM_LIB=build/shim/libotelshim.so OTELSHIM_BUILD=build \\
        python3 tests/reliability/test_lifecycle.py [name...]
"""

import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rel import (Collector, LoadServer, check, check_eq,  # noqa: E402
                 instrumented, main, pid_gone, preload_value, prog,
                 report_of, reports, run, summarize, wait_until)


def urls_of(spans):
    return [s["attributes"].get("url.full") for s in spans]


def check_each_once(spans, want, what):
    got = sorted(urls_of(spans))
    check_eq(got, sorted(want), f"{what}: url.full of the spans "
             f"({summarize(spans)})")
    check_eq(len({s["span_id"] for s in spans}), len(spans),
             f"{what}: distinct span ids")


def read_result(outdir, timeout=20):
    path = os.path.join(outdir, "result")
    check(wait_until(lambda: os.path.exists(path), timeout),
          f"no {path} after {timeout} s (files: {os.listdir(outdir)})")
    d = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition(" ")
            d[k] = v
    return d


def file_text(path):
    with open(path, "rb") as f:
        return f.read()


# ---- exec -------------------------------------------------------------------

def test_exec_flushes_queued_spans():
    with LoadServer() as srv, Collector() as col:
        for how in ("execve", "execv", "execvp", "execl"):
            n0 = len(col.spans)
            res = run([prog("lifecycle"), "exec", str(srv.port), "3", how],
                      col, schedule_delay=60000,
                      env={"OTEL_LOG_LEVEL": "debug"})
            check_eq(res.returncode, 0, f"{how}: exit status of /bin/true "
                     f"({res!r})")
            spans = col.wait_spans(n0 + 3, timeout=5)[n0:]
            check_each_once(spans, [srv.url(f"/exec/{i}") for i in range(3)],
                            f"spans queued before {how}")
            check_eq({s["pid"] for s in spans}, {res.pid},
                     f"{how}: process.pid of the spans")
            # the program's report is gone with its image; /bin/true's own
            # (same pid) says it exported nothing
            rep = report_of(res)
            check_eq(rep["exported"] + rep["dropped"], 0,
                     f"{how}: /bin/true's report {rep}")
        col.check_clean()


def test_exec_is_bounded_with_a_dead_collector():
    with LoadServer() as srv, Collector(mode="blackhole") as col:
        t0 = time.monotonic()
        res = run([prog("lifecycle"), "exec", str(srv.port), "3", "execve"],
                  col, schedule_delay=60000,
                  env={"OTELSHIM_EXIT_FLUSH_TIMEOUT": "1000"})
        took = time.monotonic() - t0
        check_eq(res.returncode, 0, f"exit status ({res!r})")
        check(col.wait_requests(1, timeout=2),
              "test setup: the exec flush sent nothing")
        check(took < 4.0 or instrumented(), f"exec with a collector that never answers took "
              f"{took:.1f} s (exit flush timeout 1 s)")


# ---- vfork and posix_spawn --------------------------------------------------

def test_vfork_and_posix_spawn_under_load():
    with LoadServer() as srv, Collector(light=True) as col:
        res = run([prog("lifecycle"), "spawn", str(srv.port), "8", "150"],
                  col, timeout=120,
                  env={"OTEL_LOG_LEVEL": "debug",
                       "OTEL_BSP_MAX_QUEUE_SIZE": "20000",
                       "OTELSHIM_EXIT_FLUSH_TIMEOUT": "20000"})
        m = re.fullmatch(r"requests (\d+) fail 0 children_ok 300 of 300\n",
                         res.out)
        check(res.returncode == 0 and m, f"spawn program result ({res!r})")
        n = int(m.group(1))
        rep = report_of(res)
        spans = col.wait_spans(rep["exported"], timeout=20)
        print(f"  {n} requests while 300 children started; report {rep}",
              flush=True)
        check_eq(len(spans), rep["exported"],
                 "spans received vs 'exported' in the exit report")
        check_eq(len(spans) + rep["dropped"], n,
                 f"spans received + dropped vs requests ({rep})")
        check_eq(len({s["span_id"] for s in spans}), len(spans),
                 "distinct span ids (a span exported twice)")
        check_eq({s["pid"] for s in spans}, {res.pid},
                 "process.pid of the spans (children make none)")


# ---- daemons and descriptors ------------------------------------------------

def check_daemon(mode):
    outdir = tempfile.mkdtemp(prefix="otelshim-daemon-")
    try:
        with LoadServer() as srv, Collector() as col:
            res = run([prog("lifecycle"), "daemon", str(srv.port), outdir,
                       mode], col, env={"OTEL_LOG_LEVEL": "debug"})
            check_eq(res.returncode, 0, f"{mode}: parent exit ({res!r})")
            r = read_result(outdir)
            pid = int(r["pid"])
            check(wait_until(lambda: pid_gone(pid), 15),
                  f"{mode}: the daemon {pid} did not exit")
            print(f"  {mode}: exporter sockets before closing: "
                  f"{r['exporter_sockets'] or 'none'}; log fd "
                  f"{r['log_fd']}, data fd {r['data_fd']}", flush=True)
            check_eq((r["close_result"], r["writes_ok"], r["closes_ok"],
                      r["requests_ok"]), ("0", "1", "1", "5"),
                     f"{mode}: daemon's (close result, writes ok, closes ok,"
                     f" requests ok) {r}")
            for name in ("log", "data"):
                want = b"".join(b"daemon %s line %d\n" % (name.encode(), i)
                                for i in (1, 2, 3))
                got = file_text(os.path.join(outdir, name))
                check_eq(got[:2000], want,
                         f"{mode}: the daemon's {name} file (fd "
                         f"{r[name + '_fd']}; the exporter's socket was "
                         f"{r['exporter_sockets']})")
            want = [srv.url("/daemon/parent"), srv.url("/daemon/before/0")] \
                + [srv.url(f"/daemon/after/{i}") for i in range(4)]
            spans = col.wait_spans(len(want), timeout=10)
            check_each_once(spans, want, f"{mode}: spans")
            for s in spans:
                want_pid = res.pid if s["attributes"]["url.full"].endswith(
                    "/parent") else pid
                check_eq(s["pid"], want_pid, f"{mode}: process.pid of "
                         f"{s['attributes']['url.full']}")
            col.check_clean()
    finally:
        shutil.rmtree(outdir, ignore_errors=True)


def test_daemon_close_loop():
    check_daemon("loop")


def test_daemon_close_range():
    check_daemon("close_range")


def test_daemon_close_range_syscall():
    check_daemon("sys_close_range")


def test_daemon_closefrom():
    check_daemon("closefrom")


def check_takeover(mode):
    outdir = tempfile.mkdtemp(prefix="otelshim-fd-")
    try:
        with LoadServer() as srv, Collector() as col:
            res = run([prog("lifecycle"), "fdtake", str(srv.port), outdir,
                       mode], col, env={"OTEL_LOG_LEVEL": "debug"})
            check_eq(res.returncode, 0, f"{mode}: exit status ({res!r})")
            r = read_result(outdir, timeout=1)
            socks = r["exporter_sockets"] or "none"
            print(f"  {mode}: exporter sockets {socks}, the program's "
                  f"number {r['target']} "
                  f"{'taken over' if r['took_over'] == '1' else 'not taken'}"
                  f" ({r['files']} descriptors opened)", flush=True)
            check(r["exporter_sockets"], f"{mode}: test setup: the exporter "
                  f"had no socket open after its first export ({r})")
            if mode == "dup2":
                check_eq(r["close_result"], r["target"],
                         f"{mode}: dup2's result")
            n = int(r["files"])
            for k in range(n):
                path = os.path.join(outdir, f"f{k}")
                if "socketpair" in mode and k == n - 1:
                    continue
                want = b"".join(b"own data %d %d\n" % (k, i)
                                for i in (1, 2, 3))
                got = file_text(path)
                check_eq(got[:2000], want, f"{mode}: file f{k} (the "
                         f"exporter's socket was {r['exporter_sockets']})")
            if "socketpair" in mode:
                check("peer_ok" in r, f"{mode}: test setup: no socket pair "
                      f"was made ({r})")
                peer = file_text(os.path.join(outdir, "peer"))
                want = b"".join(b"own data %d %d\n" % (n - 1, i)
                                for i in (1, 2, 3))
                check_eq(peer[:300], want,
                         f"{mode}: what the other end of the program's "
                         f"socket (number {r['target']}, the exporter's "
                         f"socket was {r['exporter_sockets']}) read "
                         f"({len(peer)} bytes)")
            check_eq((r["writes_ok"], r["closes_ok"], r["requests_ok"]),
                     ("1", "1", "8"), f"{mode}: the program's (writes ok, "
                     f"closes ok, requests ok): first failed write "
                     f"{r['write_error']}, first failed close "
                     f"{r['close_error']}; {r}")
            want = [srv.url(f"/fdtake/before/{i}") for i in range(2)] + \
                [srv.url(f"/fdtake/after/{i}") for i in range(6)]
            spans = col.wait_spans(len(want), timeout=10)
            check_each_once(spans, want, f"{mode}: spans (those made after "
                            f"the take-over need a new collector "
                            f"connection)")
            col.check_clean()
    finally:
        shutil.rmtree(outdir, ignore_errors=True)


def test_fd_takeover_close_loop():
    check_takeover("loop")


def test_fd_takeover_close_range():
    check_takeover("close_range")


def test_fd_takeover_close_range_syscall():
    check_takeover("sys_close_range")


def test_fd_takeover_closefrom():
    check_takeover("closefrom")


def test_fd_takeover_dup2():
    check_takeover("dup2")


def test_fd_takeover_socketpair():
    check_takeover("socketpair")


def test_fd_takeover_socketpair_after_close_range_syscall():
    check_takeover("sys_socketpair")


def test_exporter_socket_refuses_the_programs_calls():
    """The program's read, write, send, recv... and close on the
    exporter's socket act as on a number that is not open, and the
    exporter's stream stays whole."""
    outdir = tempfile.mkdtemp(prefix="otelshim-fd-")
    try:
        with LoadServer() as srv, Collector() as col:
            res = run([prog("lifecycle"), "fdtouch", str(srv.port), outdir],
                      col, env={"OTEL_LOG_LEVEL": "debug"})
            check_eq(res.returncode, 0, f"exit status ({res!r})")
            r = read_result(outdir, timeout=1)
            check(r["exporter_sockets"], f"test setup: the exporter had no "
                  f"socket open after its first export ({r})")
            calls = {k[5:]: v.split() for k, v in r.items()
                     if k.startswith("call_")}
            check_eq(len(calls), 13, f"calls made ({r})")
            for name, (on_ours, on_closed) in sorted(calls.items()):
                print(f"  {name:10} on the exporter's socket {r['target']}: "
                      f"{on_ours:12} on a closed number: {on_closed}",
                      flush=True)
                check_eq(on_ours, on_closed, f"{name} on the exporter's "
                         f"socket (number {r['target']})")
            check_eq(r["still_open"], "1", "the exporter's socket is open")
            check_eq(r["requests_ok"], "5", "the program's requests")
            want = [srv.url(f"/fdtouch/before/{i}") for i in range(2)] + \
                [srv.url(f"/fdtouch/after/{i}") for i in range(3)]
            spans = col.wait_spans(len(want), timeout=10)
            check_each_once(spans, want, "spans made before and after")
            col.check_clean()
    finally:
        shutil.rmtree(outdir, ignore_errors=True)


def test_exporter_thread_blocks_signals_with_a_modest_stack():
    """The exporter thread blocks every signal (a signal sent to the
    process never runs the program's handler on our thread) and runs on a
    small stack."""
    outdir = tempfile.mkdtemp(prefix="otelshim-thr-")
    try:
        with LoadServer() as srv, Collector() as col:
            res = run([prog("lifecycle"), "threads", str(srv.port), outdir],
                      col)
            check_eq(res.returncode, 0, f"exit status ({res!r})")
            r = read_result(outdir, timeout=1)
            print(f"  exporter thread {r['exporter_tid']}: SigBlk "
                  f"{r['sigblk']}, stack mapping {r['stack_kib']} KiB; "
                  f"{r['on_exporter']} of {r['signals']} SIGUSR1 handled "
                  f"there", flush=True)
            check(r["exporter_tid"] != "0", f"no otel-export thread ({r})")
            # every signal a thread can block: all but SIGKILL and SIGSTOP
            # (the kernel's rule) and 32 and 33 (glibc's own, for thread
            # cancellation and setxid, which it never lets anyone block)
            blk = int(r["sigblk"], 16)
            want = (1 << 64) - 1
            for signo in (9, 19, 32, 33):
                want &= ~(1 << (signo - 1))
            check_eq(hex(blk & want), hex(want), "signals the exporter "
                     "thread blocks")
            kib = int(r["stack_kib"])
            check(0 < kib <= 512, f"the exporter thread's stack mapping is "
                  f"{kib} KiB (want a modest one, at most 512)")
            check_eq((r["signals"], r["on_exporter"]), ("200", "0"),
                     "SIGUSR1 handled, and on the exporter thread")
            check_eq(r["requests_ok"], "5", "the program's requests")
            spans = col.wait_spans(5, timeout=10)
            check_eq(len(spans), 5, "spans")
    finally:
        shutil.rmtree(outdir, ignore_errors=True)


# ---- a hook left by siglongjmp ----------------------------------------------

def test_span_left_half_built_by_siglongjmp():
    """A signal handler that siglongjmps out of the shim while it builds a
    span in the queue (gdb delivers SIGUSR1 at exporter_commit) costs that
    one span, counted as dropped: the spans after it are all exported, and
    the exporter thread does not spin on the slot left claimed."""
    gdb = shutil.which("gdb")
    check(gdb, "gdb is not installed (scripts/test installs it)")
    outdir = tempfile.mkdtemp(prefix="otelshim-lj-")
    n = 600     # more than a batch (512): a full queue wakes the exporter
    try:
        with LoadServer() as srv, Collector() as col:
            env = {"OTEL_EXPORTER_OTLP_ENDPOINT": col.endpoint,
                   "OTEL_BSP_SCHEDULE_DELAY": "200"}
            res = run([gdb, "-nx", "-q", "-batch",
                       "-ex", "set startup-with-shell off",
                       "-ex", "set environment LD_PRELOAD=" + preload_value(),
                       "-ex", "set breakpoint pending on",
                       "-ex", "handle SIGUSR1 nostop noprint pass",
                       "-ex", "break exporter_commit",
                       "-ex", "run",
                       "-ex", "delete",
                       "-ex", "signal SIGUSR1",
                       "--args", prog("lifecycle"), "longjmp", str(srv.port),
                       outdir, str(n)],
                      col, env=env, preload=False, timeout=120)
            r = read_result(outdir, timeout=1)
            print(f"  jumped {r['jumped']}, requests after it "
                  f"{r['requests_ok']}, exporter thread CPU over the 4 s "
                  f"after: {r['exporter_cpu_s']} s", flush=True)
            check_eq(r["jumped"], "1", f"the SIGUSR1 handler's siglongjmp "
                     f"(gdb: {res.out[-1500:]!r} {res.err[-1500:]!r})")
            check_eq(r["requests_ok"], str(n), "the program's requests")
            want = [srv.url(f"/longjmp/after/{i}") for i in range(n)]
            spans = col.wait_spans(n, timeout=20)
            check_each_once(spans, want, "the spans made after the jump")
            check(srv.url("/longjmp/lost") not in urls_of(spans),
                  "the half-built span was exported")
            got = [x for v in reports(res.err).values() for x in v]
            check_eq(len(got), 1, f"exit reports in {res.err[-2000:]!r}")
            rep = got[0]
            check_eq((rep["abandoned"], rep["dropped"], rep["exported"]),
                     (1, 1, n), f"exit report (left half-built, dropped, "
                     f"exported) {rep}")
            cpu = float(r["exporter_cpu_s"])
            check(0 <= cpu < 1.0, f"the exporter thread used {cpu} s of CPU "
                  "in 4 s: it spins on the claimed slot")
            col.check_clean()
    finally:
        shutil.rmtree(outdir, ignore_errors=True)


# ---- fork storm -------------------------------------------------------------

def test_fork_1000_times_while_8_threads_make_spans():
    forks = 1000
    with LoadServer() as srv, Collector(light=True) as col:
        res = run([prog("forkstorm"), str(srv.port), "8", str(forks)], col,
                  timeout=200,
                  env={"OTEL_LOG_LEVEL": "debug",
                       "OTEL_BSP_MAX_QUEUE_SIZE": "65536",
                       "OTELSHIM_EXIT_FLUSH_TIMEOUT": "20000"})
        m = re.fullmatch(r"parent (\d+) requests (\d+) fail 0 children_ok "
                         rf"{forks} of {forks}\n", res.out)
        check(res.returncode == 0 and m, f"forkstorm result ({res!r})")
        parent, n = int(m.group(1)), int(m.group(2))
        check_eq(parent, res.pid, "parent pid")
        reps = reports(res.err)
        rep = report_of(res)
        children = forks // 2
        want = rep["exported"] + children
        spans = col.wait_spans(want, timeout=30)
        mine = [s for s in spans if s["pid"] == parent]
        theirs = [s for s in spans if s["pid"] != parent]
        print(f"  parent: {n} requests, report {rep}; children's spans "
              f"{len(theirs)} of {children}", flush=True)
        check_eq(len(mine), rep["exported"],
                 "parent spans received vs 'exported' in its report")
        check_eq(len(mine) + rep["dropped"], n,
                 f"parent spans received + dropped vs its requests ({rep})")
        check_eq(len({s["span_id"] for s in spans}), len(spans),
                 "distinct span ids (a span exported twice)")
        bad = [s for s in theirs if s["pid"] not in reps]
        check(not bad, f"spans with a pid that is neither the parent nor a "
              f"child that reported: {bad[:3]}")
        # a child that reported but whose span did not come: its report
        # says why (a hang in its exit flush: "not exported before the
        # exit deadline")
        got = {s["pid"] for s in theirs}
        silent = {p: rs for p, rs in reps.items()
                  if p != parent and p not in got}
        check_eq(len(theirs), children, "children's spans (one per even "
                 "child, flushed by exit()); reports of children without "
                 f"their span: {dict(list(silent.items())[:5])}")
        check_eq(len({s["pid"] for s in theirs}), children,
                 "distinct pids of the children's spans")
        for s in theirs:
            url = s["attributes"].get("url.full", "")
            check(re.fullmatch(rf"{re.escape(srv.url('/c/'))}\d+/{s['pid']}",
                               url),
                  f"a span with process.pid {s['pid']} for {url!r} (the "
                  f"child's own pid ends its URL)")
        for s in mine:
            url = s["attributes"].get("url.full", "")
            check(url.startswith(srv.url("/p/")),
                  f"a span with the parent's pid for {url!r}")
        for pid, rs in reps.items():
            if pid != parent:
                check_eq([(r["exported"], r["dropped"]) for r in rs],
                         [(1, 0)] if rs[0]["exported"] else [(0, 0)],
                         f"report of child {pid}")
        col.check_clean()


TESTS = [
    test_exec_flushes_queued_spans,
    test_exec_is_bounded_with_a_dead_collector,
    test_vfork_and_posix_spawn_under_load,
    test_daemon_close_loop,
    test_daemon_close_range,
    test_daemon_close_range_syscall,
    test_daemon_closefrom,
    test_fd_takeover_close_loop,
    test_fd_takeover_close_range,
    test_fd_takeover_close_range_syscall,
    test_fd_takeover_closefrom,
    test_fd_takeover_dup2,
    test_fd_takeover_socketpair,
    test_fd_takeover_socketpair_after_close_range_syscall,
    test_exporter_socket_refuses_the_programs_calls,
    test_exporter_thread_blocks_signals_with_a_modest_stack,
    test_span_left_half_built_by_siglongjmp,
    test_fork_1000_times_while_8_threads_make_spans,
]

if __name__ == "__main__":
    main(TESTS)
