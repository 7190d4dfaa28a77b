#!/usr/bin/env python3
"""bench.py - otelshim's benchmarks (issue 6), driven by scripts/bench.

    python3 tests/bench/bench.py --build DIR [--quick] [--json FILE]
                                 [--only NAME,...]

DIR is a meson build directory holding shim/libotelshim.so and
exporter/libexporter.a (scripts/bench makes a release one). The benchmark
programs (tests/bench/*.c) are compiled into DIR/bench/.

Every benchmark runs its workload without and with the library preloaded,
alternating the two (ABBA...), several times; the table gives the median
and the spread (half the range between the smallest and the largest
repetition, relative to the median). Ratios and differences are taken
pair by pair (each run with the shim against the run without it next to
it), then the median of those. Wall-time figures are noisy on a shared
machine, so each has a deterministic companion counted by
valgrind --tool=callgrind: the marginal instructions between two workload
sizes, with the shim minus without, which cancels start-up and exit.
The same counts, split by function, are the profile printed after the
table ("where the time goes").

Python 3 standard library only. Exit status 0 whatever the verdicts; 1
only when a benchmark could not run at all (a crash, a program that does
not build). A benchmark whose tools are missing is reported as skipped.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NODE_DIR = os.path.join(HERE, "node")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NODE = shutil.which("node") or "node"
WRK = shutil.which("wrk")
VALGRIND = shutil.which("valgrind")

ALL = ["fastpath", "http", "nginx", "nginx-callgrind", "exporter",
       "startup", "memory", "peer", "stack"]

# Variables that must not reach a benchmarked program from our caller.
STRIP_PREFIXES = ("OTEL_", "OTELSHIM_")
# MALLOC_PERTURB_ (set by meson test) makes glibc fill every allocation,
# which would change the counts of whatever allocates.
STRIP_NAMES = {"LD_PRELOAD", "TRACEPARENT", "TRACESTATE", "BAGGAGE",
               "NODE_OPTIONS", "http_proxy", "HTTP_PROXY", "no_proxy",
               "NO_PROXY", "MALLOC_PERTURB_", "MALLOC_CHECK_"}


class Skip(Exception):
    """A benchmark that cannot run here (a tool is missing)."""


# ---- statistics -------------------------------------------------------------

def median(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs):
    """Half the range of xs relative to its median (0.05 = +-5%)."""
    if len(xs) < 2:
        return 0.0
    m = median(xs)
    return (max(xs) - min(xs)) / 2 / abs(m) if m else 0.0


def fmt_num(x, digits=3):
    """A number with about `digits` significant digits, thousands
    separated."""
    if x is None or x != x:
        return "-"
    ax = abs(x)
    if ax >= 10 ** digits:
        return f"{x:,.0f}"
    if ax == 0:
        return "0"
    decimals = max(0, digits - 1 - int(f"{ax:e}".split("e")[1]))
    return f"{x:,.{decimals}f}"


def plus(s):
    """An added amount: "+" before it unless it is negative."""
    return s if s.startswith("-") else "+" + s


def fmt_val(xs, unit="", scale=1.0, digits=3):
    """median +-spread of the samples xs, scaled, with a unit."""
    if not xs:
        return "-"
    m = median(xs) * scale
    s = f"{fmt_num(m, digits)}{unit}"
    if len(xs) > 1:
        s += f" ±{spread(xs) * 100:.0f}%"
    return s


# ---- callgrind --------------------------------------------------------------

def callgrind_read(path):
    """Instructions (Ir) of one callgrind output file: the total, and the
    self cost of each function as {(object basename, function): Ir}."""
    names = {"ob": {}, "fn": {}}
    self_cost = {}
    total = 0
    ob = fn = "?"
    skip_next = False

    def name(kind, value):
        m = re.match(r"\((\d+)\)\s*(.*)", value)
        if not m:
            return value
        if m.group(2):
            names[kind][m.group(1)] = m.group(2)
        return names[kind].get(m.group(1), "?")

    with open(path, errors="replace") as f:
        for line in f:
            if not line or line == "\n":
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                if skip_next:
                    skip_next = False
                    continue
                parts = line.split()
                if len(parts) > 1:
                    self_cost[(ob, fn)] = self_cost.get((ob, fn), 0) + \
                        int(parts[1])
                continue
            key, _, value = line.rstrip("\n").partition("=")
            if key == "ob":
                ob = os.path.basename(name("ob", value))
            elif key == "fn":
                fn = name("fn", value)
            elif key in ("cob", "cfn"):
                name(key[1:], value)
            elif key == "calls":
                skip_next = True
            elif line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    return total, self_cost


def callgrind_files(prefix):
    """The output files of a run (one per thread with --separate-threads),
    as {thread number: path}; a single file is thread 0."""
    d, base = os.path.split(prefix)
    out = {}
    for f in os.listdir(d):
        if f == base:
            out[0] = os.path.join(d, f)
        elif f.startswith(base + "-"):
            try:
                out[int(f[len(base) + 1:])] = os.path.join(d, f)
            except ValueError:
                pass
    return out


def callgrind_sum(paths):
    total = 0
    cost = {}
    for p in paths:
        t, c = callgrind_read(p)
        total += t
        for k, v in c.items():
            cost[k] = cost.get(k, 0) + v
    return total, cost


def marginal(w1, w2, u1, u2, units):
    """Per unit: (with at size 2 - with at size 1) - (the same without).
    Each argument is (total, {function: Ir})."""
    total = ((w2[0] - w1[0]) - (u2[0] - u1[0])) / units
    funcs = {}
    for k in set(w1[1]) | set(w2[1]) | set(u1[1]) | set(u2[1]):
        d = ((w2[1].get(k, 0) - w1[1].get(k, 0)) -
             (u2[1].get(k, 0) - u1[1].get(k, 0))) / units
        if d:
            funcs[k] = d
    return total, funcs


def top_functions(funcs, n=12):
    items = sorted(funcs.items(), key=lambda kv: -kv[1])[:n]
    return [{"object": k[0], "function": k[1], "instructions": round(v, 1)}
            for k, v in items if v >= 0.5]


# The parts of a request's added cost, for the README's table of why the
# nginx and HTTP budgets are missed: (part, test on (bare_name(function),
# object)). The first test that matches wins; what no
# test takes is "other", so that the parts add up to the total.
SYSCALL_WRAPPERS = ("recv", "recvfrom", "recvmsg", "read", "readv", "send",
                    "sendto", "sendmsg", "write", "writev", "sendfile64",
                    "close", "open", "open64", "epoll_wait", "accept4",
                    "connect", "poll")
PARTS = [
    ("being multi-threaded: glibc's cancellation switches around system "
     "calls, malloc's locked paths (see the idle-thread row)",
     lambda f, o: o.startswith("libc.") and (
         f in SYSCALL_WRAPPERS or f in ("malloc", "_int_malloc", "free",
                                        "_int_free", "cfree") or
         f.startswith("__pthread_"))),
    ("the hooks and each connection's transport state",
     lambda f, o: o.startswith("libotelshim") and (
         f in SYSCALL_WRAPPERS or
         re.match(r"(.*_traced|plain_.*|sending|received|http_conn_flush|"
                  r"fed_raw|conn_.*|__errno_location)$", f))),
    ("parsing and validating the heads",
     lambda f, o: re.match(r"(parse_headers|http1_.*|parse_request_line|"
                           r"parse_status_line|parse_eol|scan_.*|"
                           r"name_digits|skip_body|gather_head|detect|"
                           r"chunked_.*|body_rawable)$", f)),
    ("span ids, two clock readings, a slot in the queue",
     lambda f, o: re.match(r"(rng_next|span_start|span_new_.*|"
                           r"clock_gettime|exporter_claim|exporter_commit)$",
                           f)),
    ("pairing requests with responses, the trace context, the header "
     "injection",
     lambda f, o: re.match(r"(server_sent|server_received|client_sent|"
                           r"client_received|push_exchange|context_.*|"
                           r"send_path|start_client.*)$", f)),
    ("the span's attributes (URL split; url.full, its query redacted)",
     lambda f, o: re.match(r"(finish_server|finish_client.*|span_record_.*|"
                           r"add_.*|url_.*|put_.*|span_fill_record)$", f)),
    ("propagation's share: traceparent formatted and parsed, the "
     "program's own scan of the longer head",
     lambda f, o: re.match(r"(tracecontext_.*|unhex|memmem)$", f)),
    ("the OTLP encoding and export (exporter thread)",
     lambda f, o: re.match(r"(export_batch|plan_span|sym_span|resolve|"
                           r"extra_add|otlp_.*)$", f)),
]


def bare_name(fn):
    """A function's name without the compiler's suffixes (".lto_priv.0",
    ".isra.0") and symbol version ("@@GLIBC_2.17"): C names have neither
    '.' nor '@'."""
    return fn.split(".")[0].split("@")[0]


def by_part(funcs, total):
    """funcs ({(object, function): instructions}) summed into PARTS, with
    the rest as "other"; in the shape of top_functions()."""
    sums = dict.fromkeys([p for p, _ in PARTS], 0.0)
    for (obj, fn), v in funcs.items():
        f = bare_name(fn)
        for part, test in PARTS:
            if test(f, obj):
                sums[part] += v
                break
    sums["other"] = total - sum(sums.values())
    return [{"object": "", "function": k, "instructions": round(v, 1)}
            for k, v in sums.items() if abs(v) >= 0.5]


# ---- the run ----------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.quick = args.quick
        self.build = os.path.abspath(args.build)
        self.lib = os.path.join(self.build, "shim", "libotelshim.so")
        self.exporter_lib = os.path.join(self.build, "exporter",
                                         "libexporter.a")
        self.shimcore_lib = os.path.join(self.build, "shim", "libshimcore.a")
        self.bin = os.path.join(self.build, "bench")
        self.tmp = tempfile.mkdtemp(prefix="otelshim-bench-")
        self.rows = []
        self.profiles = {}
        self.errors = 0
        self.sink = None
        self.sink_port = None
        self.base_env = {k: v for k, v in os.environ.items()
                         if not k.startswith(STRIP_PREFIXES) and
                         k not in STRIP_NAMES}
        if not os.path.exists(self.lib):
            sys.exit(f"bench: {self.lib} is missing (build first)")

    # -- helpers --

    def say(self, msg):
        print(f"bench: {msg}", file=sys.stderr, flush=True)

    def reps(self, full, quick=1):
        return quick if self.quick else full

    def size(self, full, quick):
        return quick if self.quick else full

    def env(self, traced, **extra):
        e = dict(self.base_env)
        if traced:
            e["LD_PRELOAD"] = self.lib
            e["OTEL_EXPORTER_OTLP_ENDPOINT"] = \
                f"http://127.0.0.1:{self.sink_port}"
            e["OTEL_SERVICE_NAME"] = "otelshim-bench"
            e["OTEL_TRACES_SAMPLER"] = "parentbased_always_on"
            e["OTEL_PROPAGATORS"] = "tracecontext,baggage"
        e.update({k: str(v) for k, v in extra.items()})
        return e

    def row(self, bench, measure, without=None, with_=None, overhead="",
            budget="", verdict="", data=None):
        r = {"benchmark": bench, "measure": measure,
             "without": without or "", "with": with_ or "",
             "overhead": overhead, "budget": budget, "verdict": verdict,
             "data": data or {}}
        self.rows.append(r)
        self.say(f"{bench}: {measure}: {without or ''} | {with_ or ''} | "
                 f"{overhead} {verdict}")
        return r

    def compile(self):
        os.makedirs(self.bin, exist_ok=True)
        cc = os.environ.get("CC", "cc")
        flags = ["-O2", "-g", "-Wall", "-Wextra", "-D_GNU_SOURCE",
                 "-std=gnu11"]
        progs = {
            "pingpong": ["-lpthread"],
            "httpbench": [],
            "sink": [],
            "spawn": [],
            "idle_thread": ["-shared", "-fPIC", "-lpthread"],
            "exporter_bench": [
                "-I", os.path.join(ROOT, "exporter"),
                "-I", os.path.join(self.build, "exporter"),
                self.exporter_lib, "-lprotobuf-c", "-lpthread"],
            "stack_bench": [
                "-I", os.path.join(ROOT, "shim"),
                "-I", os.path.join(ROOT, "exporter"),
                "-I", os.path.join(self.build, "exporter"),
                self.shimcore_lib, self.exporter_lib, "-lprotobuf-c",
                "-ldl", "-lpthread"],
        }
        for name, extra in progs.items():
            src = os.path.join(HERE, name + ".c")
            out = os.path.join(self.bin, name)
            deps = [src] + [x for x in extra if x.endswith(".a")]
            if os.path.exists(out) and all(
                    os.path.getmtime(out) >= os.path.getmtime(d)
                    for d in deps):
                continue
            cmd = [cc] + flags + ["-o", out, src] + extra
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                sys.stderr.write(r.stderr)
                sys.exit(f"bench: cannot compile {src}")

    def prog(self, name):
        return os.path.join(self.bin, name)

    def run_json(self, cmd, env, timeout=600, cwd=None):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True,
                           timeout=timeout, cwd=cwd)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed "
                               f"({r.returncode}): {r.stderr[-2000:]}")
        return json.loads(r.stdout.strip().splitlines()[-1])

    def alternate(self, reps, fn, variants=(False, True)):
        """Run fn(variant) reps times per variant, alternating the order
        (AB BA AB ...). Returns {variant: [results]}."""
        out = {v: [] for v in variants}
        for i in range(reps):
            order = list(variants) if i % 2 == 0 else list(variants)[::-1]
            for v in order:
                out[v].append(fn(v))
        return out

    def start_sink(self):
        self.sink = subprocess.Popen([self.prog("sink")],
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     env=self.base_env)
        line = self.sink.stdout.readline().decode()
        self.sink_port = int(line.split()[1])

    def sink_stats(self):
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.sink_port}/stats", timeout=10) as r:
            return json.loads(r.read())

    def sink_spans(self):
        return self.sink_stats()["spans"]

    def wait_sink(self, want, timeout=15):
        """Wait until the sink has seen want spans; returns the count."""
        deadline = time.time() + timeout
        n = self.sink_spans()
        while n < want and time.time() < deadline:
            time.sleep(0.05)
            n = self.sink_spans()
        return n

    def valgrind(self, out):
        if not VALGRIND:
            raise Skip("valgrind is not installed")
        return [VALGRIND, "--tool=callgrind", "--quiet",
                f"--callgrind-out-file={out}"]

    def cgdir(self, name):
        d = os.path.join(self.tmp, "cg-" + name)
        os.makedirs(d, exist_ok=True)
        return d

    # -- fast path --

    def bench_fastpath(self):
        n = self.size(200000, 20000)
        reps = self.reps(5, 2)
        for transport in ("unix", "tcp"):
            res = self.alternate(reps, lambda t: self.run_json(
                [self.prog("pingpong"), transport, str(n)], self.env(t)))
            wo = [r["wall_ns"] for r in res[False]]
            wi = [r["wall_ns"] for r in res[True]]
            ratios = [b / a for a, b in zip(wo, wi)]
            cpu = [b["cpu_ns"] / a["cpu_ns"]
                   for a, b in zip(res[False], res[True])]
            m = median(ratios)
            label = "Unix socket pair" if transport == "unix" \
                else "loopback TCP"
            self.row("fast path", f"{label}, {n:,} round trips: time",
                     fmt_val(wo, " ms", 1e-6), fmt_val(wi, " ms", 1e-6),
                     f"{fmt_val(ratios, '×')} (CPU {fmt_num(median(cpu))}×)",
                     "≤ 1.03×",
                     "met" if m <= 1.03 else "FAILS",
                     {"without_ns": wo, "with_ns": wi, "ratios": ratios,
                      "cpu_ratios": cpu})

        # Deterministic: added instructions per interposed call.
        n1, n2 = self.size(20000, 2000), self.size(100000, 10000)
        d = self.cgdir("fastpath")
        for transport in ("unix", "tcp"):
            runs = {}
            for traced in (False, True):
                for k in (n1, n2):
                    out = os.path.join(d, f"{transport}-{int(traced)}-{k}")
                    j = self.run_json(self.valgrind(out) + [
                        self.prog("pingpong"), transport, str(k)],
                        self.env(traced))
                    runs[traced, k] = (callgrind_sum(
                        callgrind_files(out).values()), j["calls"])
            calls = runs[False, n2][1] - runs[False, n1][1]
            base = (runs[False, n2][0][0] - runs[False, n1][0][0]) / calls
            added, funcs = marginal(runs[True, n1][0], runs[True, n2][0],
                                    runs[False, n1][0], runs[False, n2][0],
                                    calls)
            label = "Unix socket pair" if transport == "unix" \
                else "loopback TCP"
            self.row("fast path", f"{label}: instructions per interposed "
                     "call (callgrind)",
                     fmt_num(base), fmt_num(base + added),
                     plus(fmt_num(added)), "≤ +40",
                     "met" if added <= 40 else "FAILS",
                     {"base": base, "added": added})
            self.profiles[f"fast path, {label}: instructions added per "
                          "interposed call"] = top_functions(funcs)

    # -- HTTP request --

    def http_pair(self, traced, n, extra_env=None, wrapper=()):
        """One client-server run: both JSON reports, each process's total
        CPU (from wait4), their pids and what they wrote on stderr."""
        env = self.env(traced, **(extra_env or {}))
        logs = {x: open(os.path.join(self.tmp, f"http-{x}.err"), "w+")
                for x in ("server", "client")}
        procs = {}
        out = {"pids": {}, "stderr": ""}
        try:
            procs["server"] = subprocess.Popen(
                list(wrapper) + [self.prog("httpbench"), "server"], env=env,
                stdout=subprocess.PIPE, stderr=logs["server"], text=True)
            line = procs["server"].stdout.readline()
            if not line.startswith("PORT "):
                raise RuntimeError("httpbench server did not start")
            procs["client"] = subprocess.Popen(
                list(wrapper) + [self.prog("httpbench"), "client",
                                 line.split()[1], str(n)], env=env,
                stdout=subprocess.PIPE, stderr=logs["client"], text=True)
            for role in ("client", "server"):
                p = procs[role]
                out["pids"][role] = p.pid
                _, status, ru = os.wait4(p.pid, 0)
                p.returncode = os.waitstatus_to_exitcode(status)
                text = p.stdout.read()
                if p.returncode != 0:
                    raise RuntimeError(f"httpbench {role} exited "
                                       f"{p.returncode}")
                j = json.loads(text.strip().splitlines()[-1])
                j["process_cpu_ns"] = int((ru.ru_utime + ru.ru_stime) * 1e9)
                out[role] = j
        except Exception as e:
            for p in procs.values():
                if p.returncode is None:
                    p.kill()
                    p.wait()
            err = ""
            for f in logs.values():
                f.seek(0)
                err += f.read()[-1000:]
            raise RuntimeError(f"{e}: {err}") from None
        finally:
            for p in procs.values():
                p.stdout.close()
            for f in logs.values():
                f.seek(0)
                out["stderr"] += f.read()
                f.close()
        return out

    def bench_http(self):
        n = self.size(100000, 5000)
        reps = self.reps(7, 1)

        def one(traced):
            before = self.sink_spans() if traced else 0
            r = self.http_pair(traced, n)
            if traced:
                r["spans_exported"] = self.wait_sink(before + 2 * n) - before
            return r

        res = self.alternate(reps, one)

        def app(r):
            return r["client"]["main_cpu_ns"] + r["server"]["main_cpu_ns"]

        def rest(r):
            return sum(r[x]["process_cpu_ns"] - r[x]["main_cpu_ns"]
                       for x in ("client", "server"))

        app_wo = [app(r) / n for r in res[False]]
        app_wi = [app(r) / n for r in res[True]]
        app_add = [b - a for a, b in zip(app_wo, app_wi)]
        exp_add = [(rest(b) - rest(a)) / (2 * n)
                   for a, b in zip(res[False], res[True])]
        exported = [r["spans_exported"] for r in res[True]]
        drops = [line for r in res[True] for line in r["stderr"].splitlines()
                 if "dropped" in line]
        m_app, m_exp = median(app_add), median(exp_add)
        self.row("HTTP request",
                 f"application threads' CPU per request ({n:,} requests, "
                 "client + server, 2 spans, propagation)",
                 fmt_val(app_wo, " µs", 1e-3), fmt_val(app_wi, " µs", 1e-3),
                 plus(fmt_val(app_add, ' µs', 1e-3)), "≤ +1.5 µs",
                 "met" if m_app <= 1500 else "FAILS",
                 {"without_ns": app_wo, "with_ns": app_wi,
                  "added_ns": app_add})
        # The same split into user and kernel time. otelshim adds no
        # system call to a request, so its cost is user time; the kernel
        # time of the program's own calls moves from run to run by more
        # than the whole budget on a virtual machine.
        user_add = [(b["client"]["main_user_ns"] + b["server"]["main_user_ns"]
                     - a["client"]["main_user_ns"]
                     - a["server"]["main_user_ns"]) / n
                    for a, b in zip(res[False], res[True])]
        sys_add = [(b["client"]["main_sys_ns"] + b["server"]["main_sys_ns"]
                    - a["client"]["main_sys_ns"]
                    - a["server"]["main_sys_ns"]) / n
                   for a, b in zip(res[False], res[True])]
        self.row("HTTP request", "the same, user time only (the kernel's "
                 "sampled split)", "", "",
                 f"{plus(fmt_val(user_add, ' µs', 1e-3))} (kernel "
                 f"{plus(fmt_val(sys_add, ' µs', 1e-3))})", "", "info",
                 {"user_added_ns": user_add, "sys_added_ns": sys_add})
        self.row("HTTP request", "exporter thread's CPU per span",
                 "", fmt_val(exp_add, " µs", 1e-3),
                 plus(fmt_val(exp_add, ' µs', 1e-3)), "≤ 1 µs",
                 "met" if m_exp <= 1000 else "FAILS",
                 {"added_ns": exp_add, "spans_expected": 2 * n,
                  "spans_exported": exported, "drop_messages": drops})
        wall_wo = [r["client"]["wall_ns"] / n for r in res[False]]
        wall_wi = [r["client"]["wall_ns"] / n for r in res[True]]
        lat = [b / a for a, b in zip(wall_wo, wall_wi)]
        self.row("HTTP request", "wall time per request (round trip)",
                 fmt_val(wall_wo, " µs", 1e-3), fmt_val(wall_wi, " µs", 1e-3),
                 fmt_val(lat, "×"), "", "info",
                 {"without_ns": wall_wo, "with_ns": wall_wi,
                  "exported": exported})

        # Deterministic: instructions per request in the application
        # threads (thread 1 of both processes) and per span in the rest
        # (the exporter thread).
        n1, n2 = self.size(2000, 300), self.size(10000, 1500)
        d = self.cgdir("http")
        runs = {}
        for traced in (False, True):
            for k in (n1, n2):
                prefix = os.path.join(d, f"{int(traced)}-{k}")
                wrapper = self.valgrind(prefix + ".%p") + \
                    ["--separate-threads=yes"]
                pair = self.http_pair(traced, k, wrapper=wrapper)
                app = {"client": [], "server": []}
                expf = []
                for role, pid in pair["pids"].items():
                    for t, f in callgrind_files(f"{prefix}.{pid}").items():
                        (app[role] if t == 1 else expf).append(f)
                runs[traced, k] = (callgrind_sum(app["client"] +
                                                 app["server"]),
                                   callgrind_sum(expf),
                                   callgrind_sum(app["client"]),
                                   callgrind_sum(app["server"]))
        base = (runs[False, n2][0][0] - runs[False, n1][0][0]) / (n2 - n1)
        a_tot, a_funcs = marginal(runs[True, n1][0], runs[True, n2][0],
                                  runs[False, n1][0], runs[False, n2][0],
                                  n2 - n1)
        e_tot, e_funcs = marginal(runs[True, n1][1], runs[True, n2][1],
                                  runs[False, n1][1], runs[False, n2][1],
                                  2 * (n2 - n1))
        side = {i: marginal(runs[True, n1][i], runs[True, n2][i],
                            runs[False, n1][i], runs[False, n2][i],
                            n2 - n1)[0] for i in (2, 3)}
        self.row("HTTP request", "application threads' instructions per "
                 "request (callgrind)", fmt_num(base), fmt_num(base + a_tot),
                 f"{plus(fmt_num(a_tot))} (client {plus(fmt_num(side[2]))}, "
                 f"server {plus(fmt_num(side[3]))})", "", "info",
                 {"base": base, "added": a_tot, "added_client": side[2],
                  "added_server": side[3]})
        self.row("HTTP request", "exporter thread's instructions per span "
                 "(callgrind)", "", fmt_num(e_tot), plus(fmt_num(e_tot)),
                 "", "info", {"added": e_tot})
        self.profiles["HTTP request: application threads, instructions "
                      "added per request"] = top_functions(a_funcs)
        self.profiles["HTTP request: exporter thread, instructions per "
                      "span"] = top_functions(e_funcs)
        self.profiles["HTTP request: application threads, instructions "
                      "added per request, by part"] = by_part(a_funcs, a_tot)

    # -- nginx --

    def free_port(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    def nginx_prefix(self, name, port, single):
        d = os.path.join(self.tmp, "nginx-" + name)
        os.makedirs(os.path.join(d, "www"), exist_ok=True)
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
        # A small page, the size of nginx's own welcome page.
        with open(os.path.join(d, "www", "index.html"), "w") as f:
            f.write("<!DOCTYPE html>\n<html><head><title>bench</title>"
                    "</head><body>\n" + "<p>otelshim benchmark page</p>\n"
                    * 18 + "</body></html>\n")
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""
{'user root;' if os.getuid() == 0 else ''}
worker_processes 1;
daemon off;
master_process {'off' if single else 'on'};
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    keepalive_timeout 60;
    client_body_temp_path {d}/tmp;
    types {{ text/html html; }}
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
    }}
}}
""")
        return d, conf

    def wait_port(self, port, proc, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited {proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nothing listens on port {port}")

    def wrk(self, port, seconds, path="/index.html"):
        r = subprocess.run([WRK, "-t1", "-c16", f"-d{seconds}s", "--latency",
                            f"http://127.0.0.1:{port}{path}"],
                           capture_output=True, text=True,
                           timeout=seconds + 60, env=self.base_env)
        if r.returncode != 0:
            raise RuntimeError("wrk: " + r.stderr)
        rps = float(re.search(r"Requests/sec:\s*([\d.]+)", r.stdout)
                    .group(1))
        m = re.search(r"99%\s+([\d.]+)(us|ms|s)", r.stdout)
        p99 = float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[
            m.group(2)]
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
        if errors:
            raise RuntimeError("wrk: " + errors.group(0))
        return {"rps": rps, "p99_ms": p99}

    def stop(self, proc, sig=signal.SIGTERM, timeout=30):
        """Signal proc and wait; kill it after timeout. Returns False when
        it had to be killed. The signal is sent again every 2 s: nginx
        checks its quit flag before blocking in epoll_wait, so a signal
        that lands just between the two is noticed only at the next
        event (seen under valgrind, where that window is wide)."""
        deadline = time.time() + timeout
        while proc.poll() is None:
            if time.time() >= deadline:
                proc.kill()
                proc.wait()
                return False
            proc.send_signal(sig)
            try:
                proc.wait(min(2, max(0.1, deadline - time.time())))
            except subprocess.TimeoutExpired:
                pass
        return True

    def bench_nginx(self):
        if not WRK or not os.access(NGINX, os.X_OK):
            raise Skip("wrk or nginx is not installed")
        seconds = self.size(5, 1)
        reps = self.reps(7, 1)
        procs, ports = {}, {}
        try:
            for traced in (False, True):
                port = self.free_port()
                d, conf = self.nginx_prefix(f"wrk-{int(traced)}", port,
                                            False)
                procs[traced] = subprocess.Popen(
                    [NGINX, "-p", d, "-c", conf, "-e", d + "/error.log"],
                    env=self.env(traced), stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
                ports[traced] = port
                self.wait_port(port, procs[traced])
                self.wrk(port, 1)      # warm up
            before = self.sink_spans()
            res = self.alternate(reps, lambda t: self.wrk(ports[t], seconds))
        finally:
            for p in procs.values():
                self.stop(p, signal.SIGQUIT)
        requests = sum(r["rps"] * seconds for r in res[True])
        spans = self.wait_sink(before + int(requests * 0.99), 10) - before
        tp = [b["rps"] / a["rps"] for a, b in zip(res[False], res[True])]
        p99 = [b["p99_ms"] / a["p99_ms"]
               for a, b in zip(res[False], res[True])]
        self.row("real server", f"nginx (1 worker) + wrk (16 keep-alive "
                 f"connections, {seconds} s): throughput",
                 fmt_val([r["rps"] for r in res[False]], " req/s"),
                 fmt_val([r["rps"] for r in res[True]], " req/s"),
                 fmt_val(tp, "×"), "≥ 0.95×",
                 "met" if median(tp) >= 0.95 else "FAILS",
                 {"without": res[False], "with": res[True], "ratios": tp,
                  "spans_exported": spans,
                  "requests_traced_approx": int(requests)})
        self.row("real server", "nginx + wrk: p99 latency",
                 fmt_val([r["p99_ms"] for r in res[False]], " ms"),
                 fmt_val([r["p99_ms"] for r in res[True]], " ms"),
                 fmt_val(p99, "×"), "≤ 1.10×",
                 "met" if median(p99) <= 1.10 else "FAILS",
                 {"ratios": p99})

    def bench_nginx_callgrind(self):
        if not os.access(NGINX, os.X_OK):
            raise Skip("nginx is not installed")
        n1, n2 = self.size(1000, 200), self.size(5000, 600)
        d = self.cgdir("nginx")
        # Without, with, and with only an idle thread preloaded (no
        # otelshim): the part of the added cost that any in-process
        # exporter thread brings, before it does any work.
        envs = {0: self.env(False), 1: self.env(True),
                2: self.env(False, LD_PRELOAD=self.prog("idle_thread"))}
        runs = {}
        for config, env in envs.items():
            for k in (n1, n2):
                port = self.free_port()
                pd, conf = self.nginx_prefix(f"cg-{config}-{k}", port, True)
                out = os.path.join(d, f"{config}-{k}")
                p = subprocess.Popen(
                    self.valgrind(out) + ["--separate-threads=yes", NGINX,
                                          "-p", pd, "-c", conf, "-e",
                                          pd + "/error.log"],
                    env=env, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
                try:
                    self.wait_port(port, p, 120)
                    self.run_json([self.prog("httpbench"), "client",
                                   str(port), str(k), "/index.html"],
                                  self.base_env)
                finally:
                    clean = self.stop(p, signal.SIGQUIT, 60)
                if not clean:
                    how = ("without otelshim", "with otelshim",
                           "with an idle thread")[config]
                    raise RuntimeError(f"nginx under valgrind ignored "
                                       f"SIGQUIT ({how}, {k} requests)")
                # Thread 1 is nginx's; any other is otelshim's exporter
                # (or the idle thread).
                files = callgrind_files(out)
                runs[config, k] = (
                    callgrind_sum(files.values()),
                    callgrind_sum(f for t, f in files.items() if t == 1),
                    callgrind_sum(f for t, f in files.items() if t > 1))
        base = (runs[0, n2][0][0] - runs[0, n1][0][0]) / (n2 - n1)
        parts = [marginal(runs[1, n1][i], runs[1, n2][i],
                          runs[0, n1][i], runs[0, n2][i], n2 - n1)
                 for i in range(3)]
        added, funcs = parts[0]
        self.row("real server, deterministic",
                 "nginx single process: instructions per keep-alive request "
                 "(callgrind, all threads, export included)",
                 fmt_num(base), fmt_num(base + added),
                 f"{plus(fmt_num(added))} (nginx's thread "
                 f"{plus(fmt_num(parts[1][0]))}, exporter thread "
                 f"{plus(fmt_num(parts[2][0]))})",
                 "≤ +2,000", "met" if added <= 2000 else "FAILS",
                 {"base": base, "added": added,
                  "added_nginx_thread": parts[1][0],
                  "added_exporter_thread": parts[2][0]})
        idle, idle_funcs = marginal(runs[2, n1][0], runs[2, n2][0],
                                    runs[0, n1][0], runs[0, n2][0], n2 - n1)
        self.row("real server, deterministic",
                 "the same nginx with only an idle thread preloaded (no "
                 "otelshim): what being multi-threaded costs it per "
                 "request (glibc's cancellation and malloc paths)",
                 fmt_num(base), fmt_num(base + idle), plus(fmt_num(idle)),
                 "", "info", {"added": idle})
        self.profiles["nginx: instructions added per request, nginx's "
                      "thread"] = top_functions(parts[1][1])
        self.profiles["nginx: instructions added per request, exporter "
                      "thread"] = top_functions(parts[2][1])
        self.profiles["nginx: instructions added per request by an idle "
                      "thread alone"] = top_functions(idle_funcs)
        self.profiles["nginx: instructions added per request, all threads, "
                      "by part"] = by_part(funcs, added)
        # nginx's own work, for scale (its parser against ours).
        zero = (0, {})
        _, own = marginal(zero, runs[0, n2][1], zero, runs[0, n1][1],
                          n2 - n1)
        self.profiles["nginx without otelshim: its own instructions per "
                      "request, nginx's thread"] = top_functions(own)

    # -- exporter --

    def bench_exporter(self):
        n = self.size(1000000, 50000)
        reps = self.reps(3, 1)
        enc = [self.run_json([self.prog("exporter_bench"), "encode", str(n)],
                             self.base_env) for _ in range(reps)]
        rate = [r["spans"] / (r["cpu_ns"] / 1e9) for r in enc]
        self.row("exporter", "encoding 12-attribute spans, batches of 512 "
                 "(one core)", "", fmt_val(rate, " spans/s"), "",
                 "≥ 1,000,000 spans/s",
                 "met" if median(rate) >= 1e6 else "FAILS",
                 {"runs": enc, "bytes_per_span":
                  enc[0]["bytes"] / enc[0]["spans"]})
        n = self.size(500000, 20000)
        e2e = []
        for _ in range(reps):
            before = self.sink_spans()
            r = self.run_json([self.prog("exporter_bench"), "e2e", str(n),
                               str(self.sink_port)], self.base_env)
            r["sink_spans"] = self.wait_sink(before + n, 5) - before
            e2e.append(r)
        rate = [r["sink_spans"] / (r["wall_ns"] / 1e9) for r in e2e]
        self.row("exporter", "end to end: queue -> encode -> POST -> sink",
                 "", fmt_val(rate, " spans/s"), "", "≥ 300,000 spans/s",
                 "met" if median(rate) >= 3e5 else "FAILS", {"runs": e2e})
        # Where the encoder spends.
        n1, n2 = self.size(10240, 1024), self.size(51200, 5120)
        d = self.cgdir("exporter")
        runs = {}
        for k in (n1, n2):
            out = os.path.join(d, str(k))
            self.run_json(self.valgrind(out) + [
                self.prog("exporter_bench"), "encode", str(k)],
                self.base_env)
            runs[k] = callgrind_sum(callgrind_files(out).values())
        zero = (0, {})
        per, funcs = marginal(runs[n1], runs[n2], zero, zero, n2 - n1)
        self.row("exporter", "encoding: instructions per span (callgrind)",
                 "", fmt_num(per), "", "", "info", {"instructions": per})
        self.profiles["exporter: encoding, instructions per span"] = \
            top_functions(funcs)

    # -- stacks and callers (issue 7) --

    def bench_stack(self):
        """What OTELSHIM_STACKTRACE costs per span on the program's thread
        (stack_bench.c: the shim's stack code at the bottom of a
        40-call-deep stack, no preload), and the exporter thread's
        symbolisation."""
        n = self.size(200000, 20000)
        reps = self.reps(3, 1)

        def run(mode, kind="end", k=n, env=None):
            e = dict(self.base_env)
            e.update(env or {})
            return self.run_json([self.prog("stack_bench"), "capture", mode,
                                  kind, str(k)], e)

        # Wall time of a 32-frame capture: all, taken at the span's end.
        cap = [run("all") for _ in range(reps)]
        base = [run("none") for _ in range(reps)]
        per = [(r["cpu_ns"] - b["cpu_ns"]) / n for r, b in zip(cap, base)]
        first = [r["first_ns"] for r in cap]
        self.row("stacks", f"capture of a {cap[0]['frames']}-frame stack "
                 f"(mode all), thread CPU per span ({n:,} spans)", "",
                 fmt_val(per, " µs", 1e-3), plus(fmt_val(per, " µs", 1e-3)),
                 "≤ 2 µs", "met" if median(per) <= 2000 and
                 cap[0]["frames"] == 32 else "FAILS",
                 {"per_span_ns": per, "runs": cap, "baseline": base})
        self.row("stacks", "first capture of a process (libunwind loaded, "
                 "its caches cold)", "", fmt_val(first, " ms", 1e-6), "",
                 "", "info", {"first_ns": first})
        short = [run("short") for _ in range(reps)]
        per_s = [(r["cpu_ns"] - b["cpu_ns"]) / n for r, b in zip(short, base)]
        self.row("stacks", "an 8-frame capture per span (the alternative "
                 "for code.function.name)", "", fmt_val(per_s, " µs", 1e-3),
                 plus(fmt_val(per_s, " µs", 1e-3)), "", "info",
                 {"per_span_ns": per_s})

        # Deterministic: instructions per span, each mode against no stack
        # code at all (fast successful spans; code.function.name's return
        # address is in every mode but off).
        n1, n2 = self.size(2000, 500), self.size(10000, 2500)
        d = self.cgdir("stack")

        def instr(mode, kind, env=None):
            counts = {}
            for k in (n1, n2):
                out = os.path.join(d, f"{mode}-{kind}-{k}")
                e = dict(self.base_env)
                e.update(env or {})
                self.run_json(self.valgrind(out) + [
                    self.prog("stack_bench"), "capture", mode, kind, str(k)],
                    e)
                counts[k] = callgrind_sum(callgrind_files(out).values())
            return counts

        none = instr("none", "end")
        base_i = (none[n2][0] - none[n1][0]) / (n2 - n1)
        variants = [("off", "end", None), ("errors", "end", None),
                    ("slow", "end", None), ("all", "end", None),
                    ("errors", "end", {"FAIL": "1"}),
                    ("slow", "split", None), ("all", "split", None),
                    ("short", "end", None)]
        labels = {"end": "a span ending in its call (a query)",
                  "split": "a span ending in a later call (an HTTP "
                           "exchange)"}
        for mode, kind, env in variants:
            c = instr(mode, kind, env)
            added, funcs = marginal(c[n1], c[n2], none[n1], none[n2],
                                    n2 - n1)
            what = labels[kind] + (", failed" if env else ", fast, fine")
            if mode == "short":
                what = "an 8-frame capture per span"
            budget, verdict = "", "info"
            if mode == "off":
                budget = "0"
                verdict = "met" if added < 0.5 else "FAILS"
            self.row("stacks", f"OTELSHIM_STACKTRACE={mode}: instructions "
                     f"per span, {what} (callgrind)", fmt_num(base_i),
                     fmt_num(base_i + added), plus(fmt_num(added)), budget,
                     verdict, {"base": base_i, "added": added})
            if mode == "all" and kind == "end":
                self.profiles["stacks: instructions per 32-frame capture"] = \
                    top_functions(funcs)

        # The real path: the HTTP client and server of the HTTP benchmark,
        # preloaded, under callgrind. With off their threads must run no
        # instruction of the stack code (the span functions' copies with
        # stacks, stack_*); errors, the default, shows what it costs there
        # over off, per request (the caller's address and the test of the
        # outcome).
        self.stack_real_path()

        # The exporter thread: symbolisation per span (addresses already
        # seen: the cache's case).
        k = self.size(2000, 300)
        sym = [self.run_json([self.prog("stack_bench"), "symbolize", str(k)],
                             self.base_env) for _ in range(reps)]
        caller = [r["caller_cpu_ns"] / k for r in sym]
        stack = [r["stack_cpu_ns"] / k for r in sym]
        self.row("stacks", "exporter thread: code.function.name from a "
                 "return address, CPU per span", "",
                 fmt_val(caller, " µs", 1e-3), "", "", "info",
                 {"per_span_ns": caller})
        self.row("stacks", f"exporter thread: a {sym[0]['frames']}-frame "
                 f"code.stacktrace ({sym[0]['text_bytes']:,} bytes), CPU per "
                 "span", "", fmt_val(stack, " µs", 1e-3), "", "", "info",
                 {"per_span_ns": stack})

    def stack_real_path(self):
        n1, n2 = self.size(1000, 200), self.size(3000, 600)
        d = self.cgdir("stack-http")
        runs = {}
        for mode in ("off", "errors"):
            for k in (n1, n2):
                prefix = os.path.join(d, f"{mode}-{k}")
                wrapper = self.valgrind(prefix + ".%p") + \
                    ["--separate-threads=yes"]
                pair = self.http_pair(True, k, wrapper=wrapper, extra_env={
                    "OTELSHIM_STACKTRACE": mode})
                files = [f for pid in pair["pids"].values()
                         for t, f in callgrind_files(f"{prefix}.{pid}").items()
                         if t == 1]
                runs[mode, k] = callgrind_sum(files)

        def stack_code(mode):
            """Instructions per request in the stack code: the span
            functions' copies with stacks, and stack_* (whose checks of
            libunwind's pipe in the close and dup2 hooks run per close,
            not per request: they cancel out between the two sizes)."""
            def of(cost):
                return sum(v for (ob, fn), v in cost.items()
                           if "otelshim" in ob and
                           (bare_name(fn).endswith("_stacks") or
                            fn.startswith("stack_")))
            return (of(runs[mode, n2][1]) - of(runs[mode, n1][1])) / \
                (n2 - n1)
        in_off, in_errors = stack_code("off"), stack_code("errors")
        self.row("stacks", "OTELSHIM_STACKTRACE=off, a real HTTP client and "
                 "server (callgrind): instructions of the stack code per "
                 "request on the program's threads", "",
                 f"{fmt_num(in_off)} (errors: {fmt_num(in_errors)} in the "
                 "copies with stacks)", "",
                 "0", "met" if in_off == 0 and in_errors > 0 else "FAILS",
                 {"off": in_off, "errors": in_errors})
        added, _ = marginal(runs["off", n1], runs["off", n2],
                            runs["errors", n1], runs["errors", n2], n2 - n1)
        self.row("stacks", "the same: errors (the default) over off, "
                 "instructions per request, fast and fine (callgrind)", "",
                 plus(fmt_num(-added)), "", "", "info", {"added": -added})

    # -- start-up --

    def bench_startup(self):
        n = self.size(2000, 100)
        true = shutil.which("true", path="/bin:/usr/bin") or "/bin/true"
        r = self.run_json([self.prog("spawn"), str(n), self.lib, true],
                          self.env(False, OTEL_EXPORTER_OTLP_ENDPOINT=
                                   f"http://127.0.0.1:{self.sink_port}"))
        wo, wi = r["without"], r["with"]
        added = (wi["median_ns"] - wo["median_ns"]) / 1e6

        def show(s):
            return (f"{s['median_ns'] / 1e6:.3f} ms (p10-p90 "
                    f"{s['p10_ns'] / 1e6:.3f}-{s['p90_ns'] / 1e6:.3f})")
        self.row("start-up", f"/bin/true, {n:,} runs each, alternating",
                 show(wo), show(wi), plus(f"{added:.3f} ms"), "≤ +0.2 ms",
                 "met" if added <= 0.2 else "FAILS", r)
        d = self.cgdir("startup")
        counts = {}
        for traced in (False, True):
            out = os.path.join(d, str(int(traced)))
            subprocess.run(self.valgrind(out) + [true], env=self.env(traced),
                           check=True, capture_output=True)
            counts[traced] = callgrind_sum(callgrind_files(out).values())
        added_i = counts[True][0] - counts[False][0]
        zero = (0, {})
        _, funcs = marginal(zero, counts[True], zero, counts[False], 1)
        self.row("start-up", "/bin/true: instructions per process "
                 "(callgrind, dynamic loading included)",
                 fmt_num(counts[False][0]), fmt_num(counts[True][0]),
                 plus(fmt_num(added_i)), "", "info",
                 {"without": counts[False][0], "with": counts[True][0]})
        self.profiles["start-up: instructions added per process"] = \
            top_functions(funcs)

        # A process whose first interposed call is traced: the shim binds
        # the real functions then (/bin/true never does).
        counts = {}
        for traced in (False, True):
            out = os.path.join(d, f"socket-{int(traced)}")
            subprocess.run(self.valgrind(out) + [self.prog("httpbench"),
                                                 "socket"],
                           env=self.env(traced), check=True,
                           capture_output=True)
            counts[traced] = callgrind_sum(callgrind_files(out).values())
        self.row("start-up", "a process that opens one socket (the shim "
                 "binds the real functions): instructions per process "
                 "(callgrind)", fmt_num(counts[False][0]),
                 fmt_num(counts[True][0]),
                 plus(fmt_num(counts[True][0] - counts[False][0])), "",
                 "info", {"without": counts[False][0],
                          "with": counts[True][0]})

    # -- memory --

    def bench_memory(self):
        reps = self.reps(5, 1)
        res = self.alternate(reps, lambda t: self.run_json(
            [self.prog("httpbench"), "idle", "200"], self.env(t)))
        wo = [r["rss_kb"] for r in res[False]]
        wi = [r["rss_kb"] for r in res[True]]
        added = [(b - a) / 1024 for a, b in zip(wo, wi)]
        self.row("memory", "resident memory of an idle process",
                 fmt_val(wo, " KiB"), fmt_val(wi, " KiB"),
                 plus(fmt_val(added, ' MiB')), "≤ +2 MiB",
                 "met" if median(added) <= 2 else "FAILS",
                 {"without_kb": wo, "with_kb": wi})

        # Under load with a collector that accepts and never answers: the
        # queue fills to its bound and further spans are dropped.
        record = self.run_json([self.prog("exporter_bench"), "sizeof"],
                               self.base_env)["span_record"]
        queue = 2048
        bound_mib = queue * record / 2 ** 20
        hole = socket.socket()
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        n = self.size(30000, 5000)
        try:
            extra = {"OTEL_EXPORTER_OTLP_ENDPOINT":
                     f"http://127.0.0.1:{hole.getsockname()[1]}",
                     "OTELSHIM_EXIT_FLUSH_TIMEOUT": 100,
                     "OTEL_BSP_MAX_QUEUE_SIZE": queue}
            res = self.alternate(self.reps(3, 1), lambda t: self.http_pair(
                t, n, extra_env=extra if t else None))
        finally:
            hole.close()
        extra_mib = [max(b[x]["hwm_kb"] - a[x]["hwm_kb"]
                         for x in ("client", "server")) / 1024
                     for a, b in zip(res[False], res[True])]
        drops = [line for r in res[True] for line in r["stderr"].splitlines()
                 if "dropped" in line]
        budget = 2 + bound_mib
        self.row("memory", f"peak resident memory under load ({n:,} spans "
                 f"per process, collector stalled, queue {queue} × "
                 f"{record} B = {bound_mib:.1f} MiB)",
                 fmt_val([max(r[x]["hwm_kb"] for x in ("client", "server"))
                          for r in res[False]], " KiB"),
                 fmt_val([max(r[x]["hwm_kb"] for x in ("client", "server"))
                          for r in res[True]], " KiB"),
                 plus(fmt_val(extra_mib, ' MiB')),
                 f"≤ +{budget:.1f} MiB (idle + queue)",
                 "met" if median(extra_mib) <= budget else "FAILS",
                 {"extra_mib": extra_mib, "drop_messages": drops[:4]})

    # -- peer --

    def node_variant_env(self, variant):
        if variant == "otelshim":
            return self.env(True)
        e = self.env(False)
        if variant == "otel-js":
            e.update({
                "NODE_OPTIONS": "--require "
                "@opentelemetry/auto-instrumentations-node/register",
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_ENDPOINT":
                    f"http://127.0.0.1:{self.sink_port}",
                "OTEL_NODE_ENABLED_INSTRUMENTATIONS": "http",
                "OTEL_NODE_RESOURCE_DETECTORS": "env,host,os,process",
                "OTEL_METRICS_EXPORTER": "none",
                "OTEL_LOGS_EXPORTER": "none",
                "OTEL_SERVICE_NAME": "otelshim-bench-otel-js",
            })
        return e

    def start_node(self, variant):
        t0 = time.monotonic()
        p = subprocess.Popen([NODE, "server.js"], cwd=NODE_DIR,
                             env=self.node_variant_env(variant),
                             stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
        line = p.stdout.readline()
        ready = time.monotonic() - t0
        if not line.startswith("listening"):
            p.kill()
            p.wait()
            raise RuntimeError(f"node ({variant}) did not start")
        return p, int(line.split()[1]), ready

    def bench_peer(self):
        if not WRK or not shutil.which(NODE):
            raise Skip("wrk or node is not installed")
        variants = ["untraced", "otelshim"]
        if os.path.isdir(os.path.join(NODE_DIR, "node_modules",
                                      "@opentelemetry")):
            variants.insert(1, "otel-js")
        else:
            self.row("peer", "OpenTelemetry JS auto-instrumentation",
                     verdict="skipped",
                     overhead="npm packages not installed "
                     "(scripts/bench without --quick installs them)")
        seconds = self.size(5, 1)
        reps = self.reps(5, 1)
        # Start-up: spawn to "listening", alternating.
        ready = {v: [] for v in variants}
        for i in range(self.reps(10, 2)):
            for v in (variants if i % 2 == 0 else variants[::-1]):
                p, _, t = self.start_node(v)
                ready[v].append(t * 1e3)
                p.kill()
                p.wait()
        procs, ports = {}, {}
        try:
            for v in variants:
                procs[v], ports[v], _ = self.start_node(v)
                self.wrk(ports[v], self.size(2, 1), "/")    # JIT warm-up
            before = self.sink_spans()
            res = self.alternate(reps, lambda v: self.wrk(ports[v], seconds,
                                                          "/"),
                                 variants=tuple(variants))
        finally:
            for p in procs.values():
                self.stop(p)
        spans = self.wait_sink(before, 2) - before
        base = res["untraced"]
        for v in variants[1:]:
            tp = [b["rps"] / a["rps"] for a, b in zip(base, res[v])]
            p99 = [b["p99_ms"] / a["p99_ms"] for a, b in zip(base, res[v])]
            st = [b / a for a, b in zip(ready["untraced"], ready[v])]
            name = ("otelshim preloaded into node" if v == "otelshim"
                    else "OpenTelemetry JS auto-instrumentation (http only)")
            is_ours = v == "otelshim"
            self.row("peer", f"{name}: throughput (wrk, 16 connections, "
                     f"{seconds} s)",
                     fmt_val([r["rps"] for r in base], " req/s"),
                     fmt_val([r["rps"] for r in res[v]], " req/s"),
                     fmt_val(tp, "×"), "≥ 0.90×" if is_ours else "",
                     ("met" if median(tp) >= 0.9 else "FAILS")
                     if is_ours else "peer",
                     {"without": base, "with": res[v], "ratios": tp})
            self.row("peer", f"{name}: p99 latency",
                     fmt_val([r["p99_ms"] for r in base], " ms"),
                     fmt_val([r["p99_ms"] for r in res[v]], " ms"),
                     fmt_val(p99, "×"), "", "info" if is_ours else "peer",
                     {"ratios": p99})
            self.row("peer", f"{name}: start-up (spawn to listening)",
                     fmt_val(ready["untraced"], " ms"),
                     fmt_val(ready[v], " ms"), fmt_val(st, "×"), "",
                     "info" if is_ours else "peer",
                     {"without_ms": ready["untraced"], "with_ms": ready[v]})
        self.rows[-1]["data"]["spans_exported_all_variants"] = spans

    # -- driver --

    def run(self, only):
        self.compile()
        self.start_sink()
        loads = [os.getloadavg()]
        t0 = time.time()
        for name in only:
            fn = getattr(self, "bench_" + name.replace("-", "_"))
            self.say(f"running {name}")
            t = time.time()
            try:
                fn()
            except Skip as e:
                self.row(name, "skipped", overhead=str(e), verdict="skipped")
            except Exception as e:
                self.errors += 1
                traceback.print_exc()
                self.row(name, "error", overhead=str(e)[:200],
                         verdict="error")
            self.say(f"{name} took {time.time() - t:.0f} s")
        loads.append(os.getloadavg())
        self.elapsed = time.time() - t0
        self.loads = loads
        self.sink.stdin.close()
        self.sink.wait(10)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def machine(self):
        cpu = "?"
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        cpu = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        return {"cpu": cpu, "cores": os.cpu_count(),
                "kernel": platform.release(),
                "load_average_before": self.loads[0][0],
                "load_average_after": self.loads[1][0]}

    def table(self):
        cols = ["benchmark", "measure", "without", "with", "overhead",
                "budget", "verdict"]
        heads = ["benchmark", "measure", "without otelshim", "with otelshim",
                 "with/without or added", "budget", "verdict"]
        m = self.machine()
        lines = [
            f"otelshim benchmarks, {datetime.date.today().isoformat()}, "
            f"{m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, "
            f"load average {m['load_average_before']:.2f} before, "
            f"{m['load_average_after']:.2f} after"
            f"{', QUICK MODE (smoke test only)' if self.quick else ''}",
            f"library: {self.lib}; {self.elapsed:.0f} s; values are "
            "medians ± half the range of the repetitions"]
        if max(m["load_average_before"], m["load_average_after"]) > 1.0:
            lines.append("NOTE: the machine was busy with other work (load "
                         "average above 1 on 2 cores): wall-time figures "
                         "are noisy; the callgrind counts are not affected")
        lines.append("")
        lines.append("| " + " | ".join(heads) + " |")
        lines.append("|" + "|".join("---" for _ in heads) + "|")
        for r in self.rows:
            lines.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
        lines.append("")
        failing = [r for r in self.rows if r["verdict"] == "FAILS"]
        lines.append(f"{sum(r['verdict'] == 'met' for r in self.rows)} "
                     f"budgets met, {len(failing)} not met"
                     + (": " + "; ".join(f"{r['benchmark']}: {r['measure']}"
                                         for r in failing)
                        if failing else ""))
        if self.profiles:
            lines.append("")
            lines.append("Where the time goes (callgrind; instructions per "
                         "unit, with otelshim minus without):")
            for title, funcs in self.profiles.items():
                lines.append(f"  {title}:")
                for f in funcs[:10]:
                    where = f"  ({f['object']})" if f["object"] else ""
                    lines.append(f"    {f['instructions']:>9,.1f}  "
                                 f"{f['function']}{where}")
        return "\n".join(lines)

    def to_json(self):
        return {"date": datetime.datetime.now().isoformat(timespec="seconds"),
                "machine": self.machine(), "quick": self.quick,
                "library": self.lib, "elapsed_s": round(self.elapsed, 1),
                "rows": self.rows, "profiles": self.profiles}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--only", default=",".join(ALL))
    args = ap.parse_args()
    only = [x for x in args.only.split(",") if x]
    for x in only:
        if x not in ALL:
            ap.error(f"unknown benchmark {x} (one of {', '.join(ALL)})")
    b = Bench(args)
    b.run(only)
    print(b.table())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(b.to_json(), f, indent=1)
            f.write("\n")
    return 1 if b.errors else 0


if __name__ == "__main__":
    sys.exit(main())
