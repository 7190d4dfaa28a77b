#!/usr/bin/env python3
"""make-seeds.py - write the seed corpora of the fuzz targets whose inputs
are structured (tracecontext, config, resource, otlp_response, http_conn)
into tests/fuzz/corpus/<target>/. The seeds are hand-made: each is one
ordinary case (or a known-tricky one) in the target's input format, named
for what it is. Run it after changing an input format:

    tests/fuzz/make-seeds.py

The http1 and sql seeds are plain files, written by hand. Some seeds here
reproduce bugs the targets found (see tests/fuzz/README): keep them.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

TP = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TID = b"4bf92f3577b34da6a3ce929d0e0e4736"
SID = b"00f067aa0ba902b7"


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- tracecontext: selector byte, then the value (fields cut at '\n') ----
# selector bits 0-1: B3 multi Sampled / Flags present; bits 2+: capacity
# index into {0, 1, 2, 40, 129, 200, 256, 512, 1000}.
def sel(sampled=True, flags=False, cap_index=7):
    return bytes([(1 if sampled else 0) | (2 if flags else 0) | cap_index << 2])


def tracecontext():
    write("tracecontext", "traceparent", sel() + TP)
    write("tracecontext", "traceparent_ows", sel() + b" \t" + TP + b"\t ")
    write("tracecontext", "traceparent_future",
          sel() + b"cc" + TP[2:] + b"-what-the-future-will-be-like")
    write("tracecontext", "traceparent_random_flag", sel() + TP[:-2] + b"03")
    write("tracecontext", "tracestate_fields",
          sel() + b"rojo=00f067aa0ba902b7\n,congo=t61rcWkgMzE, \t\nfoo@bar=1")
    write("tracecontext", "tracestate_long",
          sel(cap_index=4) + b",".join(b"k%d=%s" % (i, b"v" * (i * 9))
                                       for i in range(20)))
    write("tracecontext", "tracestate_33",
          sel() + b",".join(b"a%d=1" % i for i in range(33)))
    write("tracecontext", "b3_single",
          sel() + TID + b"-" + SID + b"-1-05e3ac9a4f6e3b90")
    write("tracecontext", "b3_short_deny", sel() + TID[16:] + b"-" + SID + b"-0")
    write("tracecontext", "b3_multi",
          sel(True, True) + TID + b"\n" + SID + b"\n1\n1")
    write("tracecontext", "b3_multi_false",
          sel(True) + TID[16:] + b"\n " + SID + b" \nfalse")


# ---- config: NUL-separated records, first byte names the variable -------
CONFIG_NAMES = [
    "OTEL_UNRELATED", "OTEL_LOG_LEVEL", "OTEL_SDK_DISABLED",
    "OTEL_CONFIG_FILE", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_PROPAGATORS", "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTELSHIM_EXIT_FLUSH_TIMEOUT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTELSHIM_DB_QUERY_TEXT",
    "OTEL_SEMCONV_STABILITY_OPT_IN", "OTELSHIM_DB_CONNECT_THRESHOLD",
    "TRACEPARENT", "TRACESTATE", "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
]


def env(**kv):
    out = []
    for k, v in kv.items():
        out.append(bytes([0x40 + CONFIG_NAMES.index(k)]) + v.encode())
    return b"\0".join(out)


def config():
    write("config", "typical", env(
        OTEL_SERVICE_NAME="checkout",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318",
        OTEL_TRACES_SAMPLER="parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG="0.25",
        OTEL_PROPAGATORS="tracecontext,baggage,b3multi",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=prod,team=a%2Cb"))
    write("config", "garbage_each", env(
        OTEL_LOG_LEVEL="loud", OTEL_SDK_DISABLED="yes",
        OTEL_TRACES_SAMPLER="sometimes", OTEL_TRACES_SAMPLER_ARG="1.5",
        OTEL_PROPAGATORS="w3c, b3 ,,jaeger", OTEL_TRACES_EXPORTER="zipkin,otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="collector:4318",
        OTEL_BSP_SCHEDULE_DELAY="-5", OTEL_BSP_EXPORT_TIMEOUT="1e3",
        OTEL_BSP_MAX_QUEUE_SIZE="0", OTEL_BSP_MAX_EXPORT_BATCH_SIZE="+7",
        OTELSHIM_EXIT_FLUSH_TIMEOUT="99999999999",
        OTELSHIM_DB_QUERY_TEXT="maybe", OTELSHIM_DB_CONNECT_THRESHOLD="x"))
    write("config", "numbers_edges", env(
        OTEL_EXPORTER_OTLP_TIMEOUT=" 2147483647 ",
        OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="2147483648",
        OTEL_BSP_MAX_QUEUE_SIZE="10", OTEL_BSP_MAX_EXPORT_BATCH_SIZE="100",
        OTEL_ATTRIBUTE_COUNT_LIMIT="0", OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT="007",
        OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT="12"))
    write("config", "endpoints", env(
        OTEL_EXPORTER_OTLP_ENDPOINT="https://user:pw@[::1]:4318/base/",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://h:65535?x#frag",
        OTEL_TRACES_EXPORTER="console"))
    write("config", "secret_headers", env(
        OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer%20s3cr3t,x=" + "y" * 2100,
        OTEL_EXPORTER_OTLP_TRACES_HEADERS="api-key=s3cr3t",
        OTEL_LOG_LEVEL="debug"))
    write("config", "endpoint_chars", env(
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://collector:4318?x"))
    write("config", "newline_value", env(
        OTEL_TRACES_SAMPLER="always_on\notelshim[x:1]: forged line",
        OTEL_LOG_LEVEL="warn"))
    write("config", "carrier", env(
        TRACEPARENT=TP.decode(), TRACESTATE="rojo=1",
        OTEL_SEMCONV_STABILITY_OPT_IN="http, database/dup ",
        OTEL_SDK_DISABLED="TRUE", OTEL_CONFIG_FILE="/etc/otel.yaml",
        OTEL_LOG_LEVEL="none"))


# ---- resource: count of attributes already there, then the value ---------
def resource():
    write("resource", "typical",
          b"\x04service.name=api, deployment.environment = prod ,team=a%2Cb")
    write("resource", "replace", b"\x03p1=new,p2=%E2%9C%93,,p1=newer")
    write("resource", "bad_escape", b"\x00a=1,b=%zz")
    write("resource", "no_equals", b"\x00a=1,b")
    write("resource", "long_value", b"\x00k=" + b"v" * 300)
    write("resource", "fills_resource", b"\x2a" + b",".join(b"k%d=%d" % (i, i)
                                                 for i in range(10)))


# ---- otlp_response: an ExportTraceServiceResponse, also read as records --
def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, wire, payload):
    return varint(num << 3 | wire) + payload


def ld(num, data):
    return field(num, 2, varint(len(data)) + data)


def otlp_response():
    write("otlp_response", "empty", b"")
    partial = ld(1, field(1, 0, varint(3)) + ld(2, b"3 spans rejected"))
    write("otlp_response", "partial_success", partial)
    write("otlp_response", "partial_negative",
          ld(1, field(1, 0, varint((1 << 64) - 1))))
    write("otlp_response", "unknown_fields",
          field(7, 0, varint(1)) + ld(9, b"x") + field(3, 5, b"abcd") + partial)
    write("otlp_response", "truncated", partial[:-3])
    # read as records: 2 spans, value limit 8, count limit 3, and a
    # resource of one string and one integer (see check_encode())
    head = bytes([2, 1, 8, 1, 3, 2]) + b"\x00\x03AAA" + b"\x01" + q(42)
    span = record(name=b"GET", status=2, message=b"oops", state=b"rojo=1",
                  parent=True, ops=[
                      attr_str(1, "h\u00e9llo w\u00f6rld \u2713".encode()),
                      attr_int(3, 200), attr_bool(2, 1), attr_double(4, 0.5),
                      attr_str(6, b"abc")])
    write("otlp_response", "records", head + span + b"\x00" + span)
    # 16 copies of a span with a long name: a batch over 16 KiB
    big = record(name=(1500, ord("x")), ops=[attr_str(1, (200, ord("u")))])
    write("otlp_response", "big_batch",
          bytes([16, 0, 0, 0]) + big + b"\x80" * 15)
    # one span whose name fills the arena exactly (1790 bytes of 'n' after
    # the empty string at offset 0), then one more attribute string
    head = bytes([1, 0, 0, 0])
    write("otlp_response", "arena_full",
          head + record(name=(1790, ord("n")), ops=[attr_str(0, b"x")]))


def q(v):
    return struct.pack(">q", v)


def string(s):
    """str() of the target: a length, then a mode byte and the bytes, or
    (n, c) for c repeated n times."""
    if isinstance(s, tuple):
        n, c = s
        return bytes([n >> 8, n & 255, c << 1])
    return bytes([len(s) >> 8, len(s) & 255, 1]) + s


def attr_str(key, s):
    return bytes([key << 2 | 0]) + string(s)


def attr_int(key, v):
    return bytes([key << 2 | 1]) + q(v)


def attr_bool(key, v):
    return bytes([key << 2 | 2, v])


def attr_double(key, v):
    return bytes([key << 2 | 3]) + struct.pack(">d", v)


def record(name=b"", status=0, message=b"", state=None, parent=False,
           link=False, kind=3, ops=()):
    """The bytes build_record() reads for one span."""
    out = bytes(range(1, 25))                       # trace and span id
    out += b"\x01" + bytes(range(30, 38)) if parent else b"\x00"
    out += b"\x01" + bytes(range(40, 64)) + q(0x301) if link else b"\x00"
    out += struct.pack(">QQQ", 0x301, 1700000000000000000,
                       1700000000000001000)       # flags, start, end
    out += bytes([kind]) + string(name)
    out += bytes([status]) + string(message)
    out += b"\x01" + string(state) if state is not None else b"\x00"
    out += bytes([len(ops)]) + b"".join(ops)
    return out


# ---- http_conn: config byte, then operations -------------------------------
# config bits 0-3: tracecontext, baggage, b3, b3multi; bit 4: always_on;
# bit 5: MSG_DONTWAIT.
def op(code, data=b"", *params):
    n = len(data)
    head = bytes([code, n]) if n < 255 else bytes([code, 255, n >> 8, n & 255])
    return head + data + bytes(params)


def cw(data, cut1=0, cut2=0, max_per_call=0, eagain=0):
    return op(0, data, cut1, cut2, max_per_call, eagain)


def cr(data, piece=0):
    return op(2, data, piece)


def sr(data, piece=0):
    return op(4, data, piece)


def sw(data, cut1=0, cut2=0):
    return op(6, data, cut1, cut2)


GET = b"GET /path?q=1&sig=abc HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
POST = (b"POST /submit HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
        b"Content-Length: 13\r\n\r\n{\"a\":[1,2,3]}")
CHUNKED = (b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"3\r\nbad\r\n0\r\n\r\n")
INCOMING = (b"GET /in HTTP/1.1\r\nHost: me\r\ntraceparent: " + TP +
            b"\r\ntracestate: vendor=abc\r\nbaggage: user=alice,tier=gold\r\n\r\n")


def mysql_packet(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def http_conn():
    write("http_conn", "client_get", b"\x11" + cw(GET) + cr(OK))
    write("http_conn", "client_get_byte_writes",
          b"\x11" + cw(GET, 5, 40, 1, 3) + cr(OK, 1))
    write("http_conn", "client_post_split",
          b"\x31" + cw(POST[:30], 7, 20, 4, 0) + cw(POST[30:], 1, 2, 9, 2)
          + cr(CHUNKED, 7))
    write("http_conn", "server_then_client", b"\x1f" + sr(INCOMING, 11) +
          cw(GET) + cr(OK) + sw(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    write("http_conn", "pipelined", b"\x11" + cw(GET + POST + GET, 50, 120)
          + cr(OK + b"HTTP/1.1 100 Continue\r\n\r\n" + OK + OK, 13))
    write("http_conn", "held_then_wait",
          b"\x01" + cw(b"GET /slow HT") + op(8) + cw(b"TP/1.1\r\n\r\n") + cr(OK))
    write("http_conn", "not_http", b"\x11" + cw(b"PING") + cw(b"\r\n", 0, 0, 1)
          + cr(b"+PONG\r\n"))
    # a request whose server span fills the arena of its record exactly
    # (path, query grown by redaction, Host), then a User-Agent
    target = b"/" + b"a" * 500 + b"?" + b"&".join([b"sig="] * 79)
    write("http_conn", "server_arena_full", b"\x11" +
          sr(b"GET " + target + b" HTTP/1.1\r\nHost: " + b"h" * 227 +
             b"\r\nUser-Agent: " + b"U" * 200 + b"\r\n\r\n") +
          sw(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    # a client connection opened while request A is served, written after
    # A ended and four more requests reused A's storage
    a = (b"GET /a HTTP/1.1\r\ntraceparent: " + TP + b"\r\ntracestate: "
         b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE\r\nbaggage: k=v\r\n\r\n")
    b = b"GET /b HTTP/1.1\r\ntraceparent: " + TP + b"\r\ntracestate: a=1\r\n\r\n"
    ok0 = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    write("http_conn", "stale_binding", b"\x13" + sr(a) + op(11) + sw(ok0) +
          (sr(b) + sw(ok0)) * 4 + cw(GET) + cr(OK))
    # five pipelined requests, the fifth (one more than followed) written
    # in two pieces
    req = b"GET /%d HTTP/1.1\r\nHost: h\r\n\r\n"
    write("http_conn", "pipelined_fifth_split", b"\x11" +
          b"".join(cw(req % i) for i in range(4)) +
          cw(b"GET /5 HTTP/1.1\r\nHo") + cw(b"st: h\r\n\r\n") + cr(OK * 5))
    # request heads larger than the buffer (8 KiB), arriving in pieces
    big = b"GET /big HTTP/1.1\r\nX-Big: " + b"b" * 8300 + b"\r\n\r\n"
    write("http_conn", "oversized_head_server", b"\x11" +
          sr(big[:4000], 200) + sr(big[4000:], 0) + op(12))
    write("http_conn", "oversized_head_client", b"\x11" + cw(GET) +
          cw(big[:5000]) + cw(big[5000:]) + cr(OK))
    # a request-target that is not origin-form, with a sensitive query
    write("http_conn", "target_not_origin_form", b"\x11" +
          cw(b"GET api.example?X-Amz-Signature=s3cr3t HTTP/1.1\r\n"
             b"Host: h\r\n\r\n") + cr(OK))
    # a Host header that is not an authority, with a sensitive query
    write("http_conn", "host_with_query", b"\x11" +
          cw(b"GET /p?q=1 HTTP/1.1\r\nHost: h/x?X-Amz-Signature=s3cr3t\r\n\r\n")
          + cr(OK))
    # a non-blocking client of another protocol writes its first command
    # in two pieces and the socket takes one byte, then says EAGAIN
    write("http_conn", "not_http_short_write",
          b"\x31" + cw(b"PING") + cw(b"\r\n", 0, 0, 1, 2) + cr(b"+PONG\r\n"))
    write("http_conn", "app_traceparent",
          b"\x11" + cw(b"GET / HTTP/1.1\r\nTraceParent: " + TP +
                       b"\r\nHost: h\r\ntraceparent: " + TP + b"\r\n\r\n")
          + cr(OK) + op(11) + cw(GET) + op(9, b"") + op(14) + cw(GET))
    write("http_conn", "close_delimited_and_eof",
          b"\x13" + cw(GET) + cr(b"HTTP/1.0 200 OK\r\n\r\nbody...") + op(9, b"")
          + op(13, b"xxx") + op(12))
    write("http_conn", "server_sendfile", b"\x10" + sr(POST, 3) +
          sw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n") +
          op(13 | 0x10, b"y" * 100) + op(10, b"a"))
    greet = mysql_packet(0, b"\x0a5.5.5-10.11.6-MariaDB\x00" + b"\x01\x00\x00\x00"
                         + b"abcdefgh\x00" + b"\xff\xf7" + b"\x21" + b"\x02\x00"
                         + b"\xff\x81" + b"\x15" + b"\x00" * 10
                         + b"ijklmnopqrst\x00" + b"mysql_native_password\x00")
    login = mysql_packet(1, struct.pack("<IIB", 0x000aa20f, 1 << 24, 33)
                         + b"\x00" * 23 + b"root\x00" + b"\x14" + b"p" * 20
                         + b"shop\x00" + b"mysql_native_password\x00")
    ok = mysql_packet(2, b"\x00\x00\x00\x02\x00\x00\x00")
    query = mysql_packet(0, b"\x03SELECT * FROM orders WHERE id = 'x42'")
    qok = mysql_packet(1, b"\x00\x00\x00\x02\x00\x00\x00")
    write("http_conn", "mysql",
          b"\x11" + cr(greet, 10) + cw(login) + cr(ok) + cw(query, 5) + cr(qok))


if __name__ == "__main__":
    tracecontext()
    config()
    resource()
    otlp_response()
    http_conn()
