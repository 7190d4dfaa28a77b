#!/usr/bin/env python3
"""same_output.py - run a program without and with libotelshim.so preloaded
and require the same standard output and exit status.

    same_output.py --lib build/shim/libotelshim.so [options] -- PROG [ARGS...]

Runs, each with a clean environment (no LD_PRELOAD, OTEL_*, OTELSHIM_*,
TRACEPARENT or TRACESTATE from the caller):

  baseline  the program alone; it must exit 0 (its own self-checks pass)
  none      preloaded, OTEL_TRACES_EXPORTER=none
  otlp      preloaded, the default OTLP exporter aimed at a port on
            127.0.0.1 that refuses connections (a bound socket that does
            not listen, held for the whole run, so no one else can take it)
  sink      preloaded, the OTLP exporter aimed at a loopback sink that
            accepts every export (200, empty body), so that the exporter
            thread really sends while the program runs, forks and exits

Options:
  --modes none,otlp,sink       which preloaded runs (the baseline always
                               runs first)
  --env K=V                    add to every run (repeatable)
  --preload-env K=V            add to the preloaded runs only (repeatable)
  --timeout S                  per run (default 60); a hang fails the test
  --need-symbols A,B           the program must import these (nm -D): a
                               fortified build that lost its __*_chk calls
                               would test nothing
  --init-order LIB             check with LD_DEBUG=libs that LIB's
                               constructor runs before the shim's and its
                               destructor after the shim's (the premise of
                               the init-order test)

Set by scripts/test --sanitize, for the preloaded runs only:
OTELSHIM_TEST_PRELOAD, libraries put before the shim in LD_PRELOAD (the
AddressSanitizer runtime); OTELSHIM_TEST_WRAPPER, a command prefix
(valgrind and its options).

Standard error is not compared: the shim may warn there (e.g. that the
export failed). It is shown when a run fails.
"""

import argparse
import difflib
import http.server
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading

DROP = ("LD_PRELOAD", "TRACEPARENT", "TRACESTATE", "LD_DEBUG")


class SinkHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.posts += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def start_sink():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SinkHandler)
    srv.daemon_threads = True
    srv.posts = 0
    srv.lock = threading.Lock()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def preload_value(lib):
    """LD_PRELOAD: OTELSHIM_TEST_PRELOAD's libraries first, then the shim."""
    return " ".join(os.environ.get("OTELSHIM_TEST_PRELOAD", "").split()
                    + [lib])


def clean_env(extra):
    env = {k: v for k, v in os.environ.items()
           if k not in DROP and not k.startswith("OTEL")}
    for kv in extra:
        k, _, v = kv.partition("=")
        env[k] = v
    return env


def run(name, argv, env, timeout):
    try:
        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return {"name": name, "rc": "timeout", "out": e.stdout or b"",
                "err": e.stderr or b""}
    return {"name": name, "rc": p.returncode, "out": p.stdout,
            "err": p.stderr}


def tail(b, n=40):
    lines = b.decode(errors="replace").splitlines()
    return "\n".join(lines[-n:])


def check_symbols(prog, names):
    nm = shutil.which("nm")
    if not nm:
        print("nm not found: the imported symbols are not checked")
        return True
    out = subprocess.run([nm, "-D", "--undefined-only", prog],
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    have = {line.split()[-1].split("@")[0] for line in out.splitlines()
            if line.strip()}
    missing = [n for n in names if n not in have]
    if missing:
        print(f"FAIL: {prog} does not import {', '.join(missing)} "
              f"(was it built with -O2 -D_FORTIFY_SOURCE=2?)")
        return False
    print(f"imports {', '.join(names)}: yes")
    return True


def check_init_order(argv, env, lib, early, timeout):
    """LD_DEBUG=libs prints 'calling init: PATH' and 'calling fini: PATH'."""
    env = dict(env, LD_PRELOAD=preload_value(lib),
               OTEL_TRACES_EXPORTER="none",
               LD_DEBUG="libs")
    r = run("ld-debug", argv, env, timeout)
    seq = re.findall(r"calling (init|fini): (\S+)",
                     r["err"].decode(errors="replace"))

    def index(kind, needle):
        for i, (k, path) in enumerate(seq):
            if k == kind and needle in os.path.basename(path):
                return i
        return None

    shim = os.path.basename(lib)
    ei, si = index("init", early), index("init", shim)
    ef, sf = index("fini", early), index("fini", shim)
    print(f"LD_DEBUG=libs: init {early}@{ei} {shim}@{si}; "
          f"fini {shim}@{sf} {early}@{ef}")
    if None in (ei, si, ef, sf) or not (ei < si and sf < ef):
        print("FAIL: the premise does not hold: the library's constructor "
              "must run before the shim's, its destructor after the shim's")
        print(tail(r["err"], 60))
        return False
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--modes", default="none,otlp,sink")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--preload-env", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--need-symbols", default="")
    ap.add_argument("--init-order", default="")
    ap.add_argument("argv", nargs="+")
    a = ap.parse_args()

    ok = True
    if not os.path.isfile(a.lib):
        print(f"FAIL: no library at {a.lib}")
        return 1
    if a.need_symbols:
        ok &= check_symbols(a.argv[0], a.need_symbols.split(","))

    base_env = clean_env(a.env)
    if a.init_order:
        ok &= check_init_order(a.argv, base_env, a.lib, a.init_order,
                               a.timeout)

    modes = a.modes.split(",")
    runs = [run("baseline", a.argv, base_env, a.timeout)]
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    closed_port = held.getsockname()[1]
    pre = clean_env(a.env + a.preload_env)
    pre["LD_PRELOAD"] = preload_value(a.lib)
    wrapped = shlex.split(os.environ.get("OTELSHIM_TEST_WRAPPER", "")) \
        + a.argv
    for m in modes:
        if m == "none":
            runs.append(run("preload, exporter none", wrapped,
                            dict(pre, OTEL_TRACES_EXPORTER="none"),
                            a.timeout))
        elif m == "otlp":
            ep = f"http://127.0.0.1:{closed_port}"
            runs.append(run(f"preload, otlp to refused {ep}", wrapped,
                            dict(pre, OTEL_EXPORTER_OTLP_ENDPOINT=ep),
                            a.timeout))
        elif m == "sink":
            sink = start_sink()
            ep = f"http://127.0.0.1:{sink.server_address[1]}"
            r = run(f"preload, otlp to a sink {ep}", wrapped,
                    dict(pre, OTEL_EXPORTER_OTLP_ENDPOINT=ep), a.timeout)
            sink.shutdown()
            r["note"] = f" (the sink got {sink.posts} export requests)"
            runs.append(r)
        else:
            print(f"unknown mode {m}")
            return 2
    held.close()

    base = runs[0]
    if base["rc"] != 0:
        print(f"FAIL: the program fails on its own: exit {base['rc']}")
        print(tail(base["out"]))
        print(tail(base["err"]))
        return 1
    print(f"baseline: exit 0, {len(base['out'].splitlines())} lines")
    for r in runs[1:]:
        if b"cannot be preloaded" in r["err"]:
            print(f"FAIL: {r['name']}: the library was not loaded")
            print(tail(r["err"]))
            ok = False
            continue
        same = r["rc"] == base["rc"] and r["out"] == base["out"]
        print(f"{r['name']}: exit {r['rc']}, "
              f"{len(r['out'].splitlines())} lines, "
              f"{'same' if same else 'DIFFERENT'}{r.get('note', '')}")
        if same:
            continue
        ok = False
        diff = difflib.unified_diff(
            base["out"].decode(errors="replace").splitlines(),
            r["out"].decode(errors="replace").splitlines(),
            "baseline", r["name"], lineterm="", n=2)
        print("\n".join(list(diff)[:200]))
        print(f"--- stderr of {r['name']}:")
        print(tail(r["err"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
