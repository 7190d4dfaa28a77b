"""hostile_cases.py - the hostile HTTP exchanges of test_hostile.py, shared
with hostile_peer.py (the preloaded side).

Each case is a request and a response, as bytes, and how they travel:

  req_chunk, resp_chunk  bytes per send() (None: one sendall)
  framed                 the request is well-formed HTTP: the server reads
                         exactly its head (and Content-Length body) and
                         answers on the open connection; otherwise the
                         client half-closes after sending and the server
                         reads to EOF
  http                   the request is well-formed HTTP/1.1: it must
                         become a span or be counted as untraceable, on
                         either side (otelshim may add its trace-context
                         header lines to it on the client's side)

The server always closes after its response, so the client reads to EOF.
"""

import socket

HOST = b"Host: 127.0.0.1\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def _fill_headers(total, width=60):
    out, i = [], 0
    size = 0
    while size < total:
        line = b"X-Fill-%06d: %s\r\n" % (i, b"a" * (width - 17))
        out.append(line)
        size += len(line)
        i += 1
    return b"".join(out)


def _many_headers(n):
    return b"".join(b"X-H%d: v%d\r\n" % (i, i) for i in range(n))


_RANDOM = bytes((i * 131 + 7) % 256 for i in range(8192))


class Case:
    def __init__(self, name, request, response, req_chunk=None,
                 resp_chunk=None, framed=True, http=True, note=""):
        self.name = name
        self.request = request
        self.response = response
        self.req_chunk = req_chunk
        self.resp_chunk = resp_chunk
        self.framed = framed
        self.http = http
        self.note = note


CASES = {c.name: c for c in [
    Case("head_64k_request",
         b"GET /big-head HTTP/1.1\r\n" + HOST + _fill_headers(64 * 1024)
         + b"\r\n", OK, note="a 64 KiB request head"),
    Case("head_64k_response",
         b"GET /big-response-head HTTP/1.1\r\n" + HOST + b"\r\n",
         b"HTTP/1.1 200 OK\r\n" + _fill_headers(64 * 1024)
         + b"Content-Length: 2\r\nConnection: close\r\n\r\nok",
         note="a 64 KiB response head"),
    Case("headers_10000_request",
         b"GET /many HTTP/1.1\r\n" + HOST + _many_headers(10000) + b"\r\n",
         OK, note="10 000 request headers"),
    Case("headers_10000_response",
         b"GET /many-response HTTP/1.1\r\n" + HOST + b"\r\n",
         b"HTTP/1.1 200 OK\r\n" + _many_headers(10000)
         + b"Content-Length: 2\r\nConnection: close\r\n\r\nok",
         note="10 000 response headers"),
    Case("one_byte_writes_request",
         b"POST /one-byte?x=1 HTTP/1.1\r\n" + HOST
         + b"User-Agent: bytewise/1.0\r\nContent-Type: text/plain\r\n"
         b"Content-Length: 100\r\n\r\n" + b"b" * 100,
         OK, req_chunk=1, note="a request written one byte per send()"),
    Case("one_byte_writes_response",
         b"GET /one-byte-response HTTP/1.1\r\n" + HOST + b"\r\n",
         b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
         b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
         b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
         resp_chunk=1, note="a chunked response written one byte per send()"),
    Case("endless_request_line",
         b"GET /" + b"a" * (1024 * 1024), OK, framed=False, http=False,
         note="a 1 MiB request line without end"),
    Case("endless_status_line",
         b"GET /endless-status HTTP/1.1\r\n" + HOST + b"\r\n",
         b"HTTP/1.1 200 " + b"x" * (1024 * 1024),
         note="a 1 MiB status line without end, then the server closes"),
    Case("bytes_after_malformed_request",
         b"GET /x HTTP/1.1\r\n" + HOST + b"Content-Length: zz\r\n\r\n"
         + _RANDOM, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
         b"Connection: close\r\n\r\n", framed=False, http=False,
         note="a bad Content-Length, then 8 KiB of binary"),
    Case("bytes_after_bad_method",
         b"G\x00T / HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n" + HOST
         + b"\r\n" + _RANDOM,
         b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
         b"Connection: close\r\n\r\n", framed=False, http=False,
         note="a NUL in the method, a valid request, then binary"),
    Case("bad_version_then_binary",
         b"GET /v HTTP/9.9\r\n" + HOST + b"\r\n" + _RANDOM, OK,
         framed=False, http=False, note="HTTP/9.9, then binary"),
    Case("bare_lf_request",
         b"GET /bare-lf HTTP/1.1\nHost: 127.0.0.1\n\n",
         b"HTTP/1.1 200 OK\nContent-Length: 2\nConnection: close\n\nok",
         framed=False, http=False, note="lines ending in LF only"),
    Case("huge_content_length_response",
         b"GET /huge-length HTTP/1.1\r\n" + HOST + b"\r\n",
         b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999999999\r\n"
         b"\r\nabc", note="a Content-Length past 64 bits, then close"),
    Case("negative_content_length_response",
         b"GET /negative-length HTTP/1.1\r\n" + HOST + b"\r\n",
         b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nabcdef",
         note="Content-Length: -5"),
    Case("bad_chunk_size_response",
         b"GET /bad-chunk HTTP/1.1\r\n" + HOST + b"\r\n",
         b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"zzzz\r\nhello\r\nffffffffffffffffffff\r\n" + _RANDOM,
         note="chunk sizes that are not numbers or overflow"),
    Case("non_utf8_target_and_agent",
         b"GET /caf\xe9/\xff\xfe?q=\xc3\x28&sig=\xf0\x28\x8c\x28 HTTP/1.1\r\n"
         + HOST + b"User-Agent: agent \xc3\x28 \xa0\xa1\r\n\r\n",
         OK, note="bytes that are not UTF-8 in the target and User-Agent"),
]}


# ---- I/O shared by both sides -----------------------------------------------

def send(sock, data, chunk):
    if not chunk:
        sock.sendall(data)
        return
    for i in range(0, len(data), chunk):
        sock.sendall(data[i:i + chunk])


def read_to_eof(sock, limit=64 * 1024 * 1024):
    out = bytearray()
    while len(out) < limit:
        b = sock.recv(65536)
        if not b:
            break
        out += b
    return bytes(out)


def read_request(sock, framed):
    """Read to EOF, or, for a framed request, its head and body exactly
    (any head, with CRLF line ends, Content-Length or none)."""
    if not framed:
        return read_to_eof(sock)
    out = bytearray()
    while b"\r\n\r\n" not in out:
        b = sock.recv(65536)
        if not b:
            return bytes(out)
        out += b
    head, _, rest = bytes(out).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(rest) < length:
        b = sock.recv(65536)
        if not b:
            break
        rest += b
    return head + b"\r\n\r\n" + rest


def vm_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def listener():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    return s


__all__ = ["CASES", "send", "read_to_eof", "read_request", "vm_kb",
           "listener"]
