"""compat_servers.py - small Python standard-library servers that the
compatibility suite (test_compat.py) runs, with or without the library
preloaded. They contain no tracing code.

  python3 compat_servers.py git-cgi WWW   `git http-backend` as a CGI
        program behind http.server's CGIHTTPRequestHandler: every request
        path runs WWW/cgi-bin/git (a wrapper that execs git http-backend)
        with the path as PATH_INFO; the repositories are under
        $GIT_PROJECT_ROOT. CGI output is passed through as the handler
        does it (HTTP/1.0, close-delimited). Log lines go to stderr.
  python3 compat_servers.py files DIR     http.server's SimpleHTTPRequestHandler
        serving DIR, no log lines

Each binds 127.0.0.1 on an ephemeral port, prints "PORT <n>" and serves
until its standard input closes, then exits normally (not _exit: a
preloaded library's exit flush must run).
"""

import functools
import http.server
import os
import sys
import threading
import warnings


def _watch_stdin_then_shutdown(srv):
    """Stop serving when stdin closes; main() then returns and the process
    exits normally (exit handlers run: a preloaded library flushes)."""
    def watch():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except OSError:
            pass
        srv.shutdown()
    threading.Thread(target=watch, daemon=True).start()


def git_cgi(www):
    warnings.simplefilter("ignore", DeprecationWarning)
    # As root, the handler would setuid(nobody) in the CGI child, and
    # nobody can neither reach the temporary directory nor own the
    # repository: keep our own uid.
    http.server.nobody_uid = os.getuid

    class Handler(http.server.CGIHTTPRequestHandler):
        def is_cgi(self):
            # every path is PATH_INFO of the one script, cgi-bin/git
            self.cgi_info = ("/cgi-bin", "git" + self.path)
            return True

    handler = functools.partial(Handler, directory=www)
    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)


def files(root):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

    handler = functools.partial(Handler, directory=root)
    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("git-cgi", "files"):
        sys.stderr.write("usage: compat_servers.py git-cgi WWW | files DIR\n")
        sys.exit(2)
    srv = (git_cgi if sys.argv[1] == "git-cgi" else files)(sys.argv[2])
    srv.daemon_threads = True
    sys.stdout.write(f"PORT {srv.server_address[1]}\n")
    sys.stdout.flush()
    _watch_stdin_then_shutdown(srv)
    srv.serve_forever()
    srv.server_close()


if __name__ == "__main__":
    main()
