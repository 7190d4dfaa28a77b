"""services.py - small Python standard-library HTTP services that the
propagation tests run WITH the library preloaded. They contain no tracing
code at all: whatever trace context crosses them is otelshim's doing.

  python3 services.py relay URL_BASE   GET /p -> GET URL_BASE/p (urllib, one
                                       new connection per call), answers
                                       200 with what came back
  python3 services.py leaf             GET /p -> 200 "leaf /p" and the
                                       request's header lines
  python3 services.py edges            server-side framing cases: /close
                                       (HTTP/1.0, close-delimited), /204,
                                       /404, /500, /chunked, /huge (64 MiB
                                       the client will not read), HEAD
  python3 services.py w3c              the W3C trace-context test service
                                       protocol: POST a JSON array
                                       [{"url": U, "arguments": A}, ...];
                                       for each element POST A (JSON) to U,
                                       then answer 200
  python3 services.py spawn CURL URL   GET /p -> runs CURL -s URL/p as a
                                       child process (fork + exec, as a CGI
                                       server would), answers with its output

Each binds 127.0.0.1 on an ephemeral port, prints "PORT <n>" and serves
(a thread per request) until its standard input closes.
"""

import json
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Base(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def relay(base):
    class Handler(Base):
        def do_GET(self):
            try:
                with urllib.request.urlopen(base + self.path, timeout=10) as r:
                    body = r.read()
                self.reply(200, body)
            except Exception as e:  # the test sees the 502
                self.reply(502, repr(e).encode())
    return Handler


def w3c():
    class Handler(Base):
        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            calls = json.loads(self.rfile.read(n) or b"[]")
            for c in calls:
                data = json.dumps(c.get("arguments")).encode()
                req = urllib.request.Request(
                    c["url"], data=data, method="POST",
                    headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=10) as r:
                    r.read()
            self.reply(200, b"done\n")
    return Handler


def spawn(curl, base):
    class Handler(Base):
        def do_GET(self):
            out = subprocess.run([curl, "-s", base + self.path],
                                 stdout=subprocess.PIPE, timeout=10).stdout
            self.reply(200, out)
    return Handler


def leaf():
    class Handler(Base):
        def do_GET(self):
            lines = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
            self.reply(200, f"leaf {self.path}\n{lines}".encode())
    return Handler


def edges():
    class Handler(Base):
        def do_GET(self):
            if self.path == "/close":
                # HTTP/1.0, no Content-Length: the body ends at the close
                self.close_connection = True
                self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain"
                                 b"\r\n\r\nclose-delimited body\n")
            elif self.path == "/204":
                self.send_response(204)
                self.end_headers()
            elif self.path == "/500":
                self.reply(500, b"boom\n")
            elif self.path == "/404":
                self.reply(404, b"nope\n")
            elif self.path == "/chunked":
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for part in (b"one ", b"two ", b"three\n"):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
            elif self.path == "/huge":
                # far more than the client will read: it hangs up
                self.send_response(200)
                self.send_header("Content-Length", str(64 << 20))
                self.end_headers()
                try:
                    for _ in range(1024):
                        self.wfile.write(b"x" * 65536)
                except OSError:
                    self.close_connection = True
            else:
                self.reply(200, f"edge {self.path}\n".encode())

        def do_HEAD(self):
            self.send_response(200)
            self.send_header("Content-Length", "1234")
            self.end_headers()
    return Handler


def main():
    kind = sys.argv[1]
    if kind == "relay":
        handler = relay(sys.argv[2])
    elif kind == "edges":
        handler = edges()
    elif kind == "leaf":
        handler = leaf()
    elif kind == "w3c":
        handler = w3c()
    elif kind == "spawn":
        handler = spawn(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown service {kind}")
    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128    # not 5: no SYN drops under the tests' load

    srv = Server(("127.0.0.1", 0), handler)
    print(f"PORT {srv.server_address[1]}", flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except OSError:
        pass
    # A normal exit, so that the preloaded library flushes its spans.
    srv.shutdown()
    sys.exit(0)


if __name__ == "__main__":
    main()
