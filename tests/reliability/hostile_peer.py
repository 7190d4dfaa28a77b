"""hostile_peer.py - the preloaded side of test_hostile.py's exchanges.

    python3 hostile_peer.py client PORT CASE
        connects to 127.0.0.1:PORT, sends CASE's request (see
        hostile_cases.py), half-closes unless the request is framed, reads
        the response to EOF
    python3 hostile_peer.py server CASE
        prints "PORT <n>", accepts one connection, reads CASE's request,
        sends CASE's response, closes

Then prints one JSON line: the length and SHA-256 of what it received, its
first 200 bytes (latin-1), VmHWM in kB.
"""

import hashlib
import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hostile_cases import (CASES, listener, read_request,  # noqa: E402
                           read_to_eof, send, vm_kb)


def main():
    role, case = sys.argv[1], sys.argv[-1]
    c = CASES[case]
    if role == "client":
        s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        send(s, c.request, c.req_chunk)
        if not c.framed:
            s.shutdown(socket.SHUT_WR)
        got = read_to_eof(s)
        s.close()
    else:
        ls = listener()
        print(f"PORT {ls.getsockname()[1]}", flush=True)
        s, _ = ls.accept()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        got = read_request(s, c.framed)
        send(s, c.response, c.resp_chunk)
        s.shutdown(socket.SHUT_WR)
        read_to_eof(s)
        s.close()
        ls.close()
    print(json.dumps({"len": len(got),
                      "sha": hashlib.sha256(got).hexdigest(),
                      "head": got[:200].decode("latin-1"),
                      "hwm_kb": vm_kb("VmHWM")}), flush=True)


if __name__ == "__main__":
    main()
