/*
 * fuzz_http_conn.c - libFuzzer target for HTTP/1.x connection tracking
 * (shim/http_conn.h), driven the way shim/hook_socket.c drives it: one
 * client connection (the program's requests go through the rewriting send
 * path into a fake wire) and one server connection, on one thread, with
 * the fuzz input deciding every byte and every split in both directions,
 * short writes, EAGAIN, a dead peer, waits, event-loop turns, EOF, errors,
 * sendfile and closes. MySQL detection and tracking run too, as in the
 * hooks, when the first bytes a client receives look like a greeting.
 *
 * Input: byte 0 configures (bits 0-3: the propagators tracecontext,
 * baggage, b3, b3multi; bit 4: sampler always_on instead of
 * parentbased_always_on; bit 5: sends with MSG_DONTWAIT). Then operations:
 * an opcode byte, a length byte (255: two more bytes give it), that many
 * data bytes, and for some opcodes a few parameter bytes (see run()).
 *
 * Finished spans are captured as in tests/unit/test_http_conn.c: this file
 * defines exporter_claim(), exporter_commit() (which checks the record
 * with exporter_submit()) and exporter_count_untraceable(), so the real
 * exporter (its thread, queue, collector) is not linked.
 *
 * Besides crashes and sanitizer reports, it traps on broken contracts:
 *   - the wire: per client connection, the bytes that reached the fake wire
 *     (plain calls, and the owed bytes flushed with the real send on close,
 *     wait or sendfile) equal the bytes the program was told were sent,
 *     once every line naming a propagation header (traceparent, tracestate,
 *     baggage, b3, X-B3-*) is set aside in both; every such line on the
 *     wire that the program did not write is one of ours and well formed
 *     (a valid traceparent or b3, hex ids, no CR, LF or NUL in its value);
 *   - the count a send returns: > 0 and at most what was asked, or -1 with
 *     EAGAIN (or the dead peer's EPIPE);
 *   - with always_on sampling, every request seen (n_requests of every
 *     connection) became one span or one count of untraceable (heads too
 *     large to follow are counted as well), and no more spans than that;
 *   - no request is still "being served" once its connection is closed;
 *   - every span record: arena bookkeeping, CLIENT or SERVER kind, non-zero
 *     ids, start <= end, only attribute keys we document (no header other
 *     than User-Agent), url.full without userinfo other than
 *     "REDACTED:REDACTED@", sensitive query values redacted.
 *
 *     scripts/fuzz http_conn 60
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "clock.h"
#include "config.h"
#include "conn.h"
#include "context.h"
#include "http_conn.h"
#include "init.h"
#include "tracecontext.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* ---- growable byte strings ---------------------------------------------- */

struct bytes {
	char *p;
	size_t len, cap;
};

static void append(struct bytes *b, const void *s, size_t n)
{
	if (!n)
		return;
	if (b->len + n > b->cap) {
		size_t cap = (b->len + n) * 2 + 64;
		char *p = realloc(b->p, cap);
		if (!p)
			abort();
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* ---- span records: the exporter seam ------------------------------------ */

static int n_spans, n_untraceable;
static int verbose;	/* OTELSHIM_FUZZ_VERBOSE: print streams and spans */

static const char *const http_keys[] = {
	"http.request.method", "http.request.method_original", "url.full",
	"url.path", "url.query", "url.scheme", "server.address",
	"server.port", "network.peer.address", "network.peer.port",
	"client.address", "client.port", "network.protocol.version",
	"http.response.status_code", "error.type", "otelshim.parent.rule",
	"user_agent.original", "net.peer.name", "net.peer.port",
};

static int key_allowed(const char *k)
{
	if (!strncmp(k, "db.", 3))
		return 1;
	for (size_t i = 0; i < sizeof(http_keys) / sizeof(http_keys[0]); i++)
		if (!strcmp(k, http_keys[i]))
			return 1;
	return 0;
}

static const char *sattr(const struct span_record *r, const char *key,
			 size_t *len)
{
	for (int i = 0; i < r->n_attrs; i++)
		if (!strcmp(r->attrs[i].key, key) &&
		    r->attrs[i].type == SPAN_ATTR_STRING) {
			*len = r->attrs[i].len;
			return r->arena + r->attrs[i].off;
		}
	return NULL;
}

static const char *const sensitive[] = {
	"AWSAccessKeyId", "Signature", "sig", "X-Amz-Credential",
	"X-Amz-Security-Token", "X-Amz-Signature", "X-Goog-Signature",
};

/* q[0..n): a query (no '?'); sensitive values are (a prefix of) REDACTED. */
static void check_query(const char *q, size_t n)
{
	const char *end = q + n;

	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *pe = amp ? amp : end;
		const char *eq = memchr(q, '=', (size_t)(pe - q));
		if (eq) {
			size_t kl = (size_t)(eq - q);
			size_t vl = (size_t)(pe - eq - 1);
			for (size_t i = 0; i < 7; i++)
				if (kl == strlen(sensitive[i]) &&
				    !memcmp(q, sensitive[i], kl)) {
					/* cut short only at the very end */
					CHECK(vl <= 8 &&
					      !memcmp(eq + 1, "REDACTED", vl));
					CHECK(vl == 8 || pe == end);
				}
		}
		q = amp ? amp + 1 : end;
	}
}

static void check_url_full(const char *u, size_t n)
{
	const char *s = memmem(u, n, "://", 3);

	if (!s)
		return;
	s += 3;
	size_t al = strcspn(s, "/?#");
	const char *at = memrchr(s, '@', al);
	if (at)
		CHECK((size_t)(at - s) == 17 &&
		      !memcmp(s, "REDACTED:REDACTED", 17));
	/* the query: from the first '?' to the fragment, if any */
	const char *frag = memchr(s, '#', n - (size_t)(s - u));
	const char *qend = frag ? frag : u + n;
	const char *q = memchr(s, '?', (size_t)(qend - s));
	if (q)
		check_query(q + 1, (size_t)(qend - q - 1));
}

static void check_str(const struct span_record *r, uint16_t off,
		      uint16_t len)
{
	CHECK(off < SPAN_ARENA_SIZE && len < SPAN_ARENA_SIZE - off);
	CHECK(r->arena[off + len] == '\0');
}

int exporter_submit(const struct span_record *r)
{
	static const uint8_t zero[16];
	const char *v;
	size_t l;

	CHECK(r->arena_used <= SPAN_ARENA_SIZE);
	CHECK(r->n_attrs <= SPAN_MAX_ATTRS);
	check_str(r, r->name.off, r->name.len);
	check_str(r, r->status_message.off, r->status_message.len);
	check_str(r, r->trace_state.off, r->trace_state.len);
	CHECK(r->name.len > 0);
	CHECK(r->kind == SPAN_KIND_CLIENT || r->kind == SPAN_KIND_SERVER);
	CHECK(memcmp(r->trace_id, zero, 16) && memcmp(r->span_id, zero, 8));
	CHECK(r->start_ns <= r->end_ns);
	CHECK(r->status <= SPAN_STATUS_ERROR);
	for (int i = 0; i < r->n_attrs; i++) {
		CHECK(r->attrs[i].type <= SPAN_ATTR_DOUBLE);
		CHECK(key_allowed(r->attrs[i].key));
		if (r->attrs[i].type == SPAN_ATTR_STRING)
			check_str(r, r->attrs[i].off, r->attrs[i].len);
	}
	if ((v = sattr(r, "url.full", &l)))
		check_url_full(v, l);
	if ((v = sattr(r, "url.query", &l)))
		check_query(v, l);
	if (verbose) {
		fprintf(stderr, "span %s kind %d, arena %u bytes, %u attributes"
			" (%u dropped):", span_record_str(r, r->name), r->kind,
			r->arena_used, r->n_attrs, r->dropped_attrs);
		for (int i = 0; i < r->n_attrs; i++)
			if (r->attrs[i].type == SPAN_ATTR_STRING)
				fprintf(stderr, " %s(%u)", r->attrs[i].key,
					r->attrs[i].len);
		fputc('\n', stderr);
	}
	if ((v = sattr(r, "server.address", &l)))
		CHECK(!memchr(v, '@', l));
	n_spans++;
	return 0;
}

/* A claimed record comes with garbage past its header, like a reused
   queue slot. */
static struct span_record claimed;

struct span_record *exporter_claim(void)
{
	memset(&claimed, 0xa5, sizeof(claimed));
	span_record_init(&claimed);
	return &claimed;
}

void exporter_commit(struct span_record *r)
{
	CHECK(r == &claimed);
	exporter_submit(r);
}

void exporter_count_untraceable(void)
{
	n_untraceable++;
}

/* ---- the fake wire and the program's view ------------------------------- */

/*
 * The client connection's socket is one end of a socketpair, so that the
 * real send of http_conn_flush() works; drain() moves what it wrote from
 * the other end onto the wire, in order. The program's own calls go to
 * wire_plain(), which scripts short writes, EAGAIN and a dead peer.
 */
static int cfd, cpeer, sfd, speer;
static struct bytes wire, prog;
static size_t wire_max;		/* bytes per call; 0: all */
static unsigned wire_eagain;	/* every n-th call fails with EAGAIN */
static unsigned wire_calls;
static int wire_dead;		/* EPIPE from now on */
static int dontwait;

static void drain_fd(int fd, struct bytes *into)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (into)
			append(into, buf, (size_t)n);
}

static void drain(void)
{
	drain_fd(cpeer, &wire);
	drain_fd(speer, NULL);
}

static ssize_t wire_plain(const struct http_send_call *call,
			  const struct iovec *iov, int iovcnt)
{
	size_t n = 0;

	(void)call;
	CHECK(iovcnt >= 1);
	wire_calls++;
	if (wire_dead) {
		errno = EPIPE;
		return -1;
	}
	if (wire_eagain && wire_calls % wire_eagain == 0) {
		errno = EAGAIN;
		return -1;
	}
	for (int i = 0; i < iovcnt; i++) {
		size_t k = iov[i].iov_len;
		if (wire_max && k > wire_max - n)
			k = wire_max - n;
		append(&wire, iov[i].iov_base, k);
		n += k;
		if (wire_max && n == wire_max)
			break;
	}
	if (n == 0) {
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t)n;
}

/* The server's responses: accepted whole, not checked. */
static ssize_t server_plain(const struct http_send_call *call,
			    const struct iovec *iov, int iovcnt)
{
	size_t n = 0;

	(void)call;
	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return (ssize_t)n;
}

/* ---- what hook_socket.c does around the tracker ------------------------- */

/* traced() in hook_socket.c: a connection given up on is passed through,
   once nothing is owed to it any more. */
static struct conn *traced(int fd)
{
	struct conn *c = conn_get(fd);

	if (!c || (c->proto == CONN_PROTO_OTHER && !c->http.pend_len))
		return NULL;
	return c;
}

static void reading(void)
{
	http_conn_before_wait();
	drain();
}

/* The send-like hook: sending() in hook_socket.c. */
static ssize_t hook_send(int fd, struct http_send_call *call,
			 const struct iovec *iov, int iovcnt)
{
	struct conn *c = traced(fd);

	if (!c)
		return call->plain(call, iov, iovcnt);
	return wire_send(c, call, iov, iovcnt);
}

/* received() in hook_socket.c: n > 0 bytes, 0 for EOF, -1 for err. */
static void hook_received(int fd, const struct iovec *iov, int iovcnt,
			  ssize_t n, int err)
{
	struct conn *c;

	reading();
	if (!(c = traced(fd)))
		return;
	wire_received(c, iov, iovcnt, n, 1, err, clock_real_ns());
}

/* ---- the wire contract -------------------------------------------------- */

static const char *const prop_names[] = {
	"traceparent", "tracestate", "baggage", "b3",
	"x-b3-traceid", "x-b3-spanid", "x-b3-sampled",
};

/* Which propagation header line starts at s (a whole line), or -1. */
static int prop_line(const char *s, size_t len)
{
	for (int i = 0; i < 7; i++) {
		size_t nl = strlen(prop_names[i]);
		if (len > nl && s[nl] == ':' &&
		    !strncasecmp(s, prop_names[i], nl))
			return i;
	}
	return -1;
}

/* s with propagation lines set aside into *lines (each one a size_t
   length, then its bytes). */
static void filter(const struct bytes *s, struct bytes *rest,
		   struct bytes *lines)
{
	const char *p = s->p, *end = p ? p + s->len : p;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl + 1 - p) : (size_t)(end - p);
		if (nl && prop_line(p, l) >= 0) {
			append(lines, &l, sizeof(l));
			append(lines, p, l);
		} else {
			append(rest, p, l);
		}
		p += l;
	}
}

static int all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* A line of ours: "name: value" + "\r\n" or "\n", well formed. */
static void check_injected(const char *line, size_t len)
{
	struct tracecontext tc;
	int which = prop_line(line, len);
	size_t nl = strlen(prop_names[which]);
	const char *v = line + nl + 1;
	size_t vl = len - nl - 1;

	CHECK(line[len - 1] == '\n');
	vl--;
	if (vl && v[vl - 1] == '\r')
		vl--;
	CHECK(vl >= 1 && *v == ' ');
	v++, vl--;
	CHECK(!memchr(v, '\r', vl) && !memchr(v, '\n', vl) &&
	      !memchr(v, '\0', vl));
	switch (which) {
	case 0:
		CHECK(tracecontext_parse_traceparent(v, vl, &tc) == 0);
		break;
	case 3:
		CHECK(tracecontext_parse_b3(v, vl, &tc) == 0);
		break;
	case 4:
		CHECK(vl == 32 && all_hex(v, vl));
		break;
	case 5:
		CHECK(vl == 16 && all_hex(v, vl));
		break;
	case 6:
		CHECK(vl == 1 && (*v == '0' || *v == '1'));
		break;
	default:
		CHECK(vl > 0);
		break;
	}
}

/* The next line of a list from filter(), or NULL at the end. */
static const char *next_line(const struct bytes *lines, size_t *off,
			     size_t *len)
{
	if (*off >= lines->len)
		return NULL;
	memcpy(len, lines->p + *off, sizeof(*len));
	*off += sizeof(*len) + *len;
	return lines->p + *off - *len;
}

static int contains_line(const struct bytes *lines, const char *l, size_t n)
{
	size_t off = 0, pl;
	const char *p;

	while ((p = next_line(lines, &off, &pl)))
		if (pl == n && !memcmp(p, l, n))
			return 1;
	return 0;
}

/* For OTELSHIM_FUZZ_VERBOSE: a stream, escaped, on stderr. */
static void dump(const char *what, const struct bytes *b)
{
	fprintf(stderr, "%s %zu bytes:\n", what, b->len);
	for (size_t i = 0; i < b->len; i++) {
		unsigned char c = (unsigned char)b->p[i];
		if (c == '\n')
			fputs("\\n\n", stderr);
		else if (c == '\r')
			fputs("\\r", stderr);
		else if (c < 0x20 || c >= 0x7f || c == '\\')
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
	fputc('\n', stderr);
}

/* At the close of a client connection: the wire against the program. */
static void check_wire(void)
{
	struct bytes wr = {0}, wl = {0}, pr = {0}, pl = {0};

	if (!wire_dead) {
		filter(&wire, &wr, &wl);
		filter(&prog, &pr, &pl);
		if (verbose) {
			dump("program wrote", &prog);
			dump("the wire got", &wire);
		}
		CHECK(wr.len == pr.len &&
		      (!wr.len || !memcmp(wr.p, pr.p, wr.len)));
		size_t off = 0, l;
		const char *p;
		while ((p = next_line(&wl, &off, &l)))
			if (!contains_line(&pl, p, l))
				check_injected(p, l);
	}
	free(wr.p);
	free(wl.p);
	free(pr.p);
	free(pl.p);
	wire.len = 0;
	prog.len = 0;
	wire_dead = 0;
}

/* ---- connections -------------------------------------------------------- */

static int total_requests;	/* n_requests of the connections closed */
static int mysql_seen;

static void open_conn(int fd, int role)
{
	struct sockaddr_in sa;
	struct conn *c = conn_track(fd, AF_INET);

	CHECK(c != NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(role == CONN_ROLE_CLIENT ? 8080 : 51000);
	inet_pton(AF_INET, role == CONN_ROLE_CLIENT ? "10.1.2.3" : "192.0.2.7",
		  &sa.sin_addr);
	conn_set_peer(c, role, (struct sockaddr *)&sa, sizeof(sa));
	if (role == CONN_ROLE_CLIENT)
		http_conn_on_connect(c);
}

/* close() in hook_socket.c, then the checks of the connection's end. */
static void close_conn(int fd)
{
	struct conn *c = conn_get(fd);

	if (c) {
		total_requests += (int)c->http.n_requests;
		mysql_seen |= c->proto == CONN_PROTO_MYSQL;
		if (c->refs == 1)
			http_conn_flush(c, fd);
		conn_untrack(fd);
	}
	drain();
	if (fd == cfd)
		check_wire();
}

/* ---- the program -------------------------------------------------------- */

struct reader {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct reader *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

/* The program writes data[0..n) completely (retrying EAGAIN), in up to
   three iovecs, unless the peer is dead. */
static void program_write(int fd, const char *d, size_t n, uint8_t cut1,
			  uint8_t cut2)
{
	struct iovec iov[3];
	int cnt = 0;
	size_t a = n ? cut1 % (n + 1) : 0, b = n ? cut2 % (n + 1) : 0;

	if (a > b) {
		size_t t = a;
		a = b;
		b = t;
	}
	iov[cnt++] = (struct iovec){(void *)d, a};
	iov[cnt++] = (struct iovec){(void *)(d + a), b - a};
	iov[cnt++] = (struct iovec){(void *)(d + b), n - b};

	struct http_send_call call = {
		.fd = fd,
		.flags = dontwait ? MSG_DONTWAIT : 0,
		.plain = fd == cfd ? wire_plain : server_plain,
	};
	size_t done = 0;
	int first = 0, tries = 0;

	while (done < n) {
		while (first < cnt && iov[first].iov_len == 0)
			first++;
		CHECK(++tries < 100000);
		errno = 0;
		ssize_t r = hook_send(fd, &call, iov + first, cnt - first);
		if (r < 0) {
			CHECK(errno == EAGAIN || (errno == EPIPE && wire_dead));
			if (errno == EPIPE)
				return;
			continue;
		}
		CHECK(r > 0 && (size_t)r <= n - done);
		if (fd == cfd)
			append(&prog, d + done, (size_t)r);
		done += (size_t)r;
		size_t k = (size_t)r;
		while (k) {
			size_t t = iov[first].iov_len;
			if (t > k)
				t = k;
			iov[first].iov_base = (char *)iov[first].iov_base + t;
			iov[first].iov_len -= t;
			k -= t;
			if (!iov[first].iov_len)
				first++;
		}
	}
	drain();
}

/* Bytes received in calls of at most `piece` bytes (0: one call). */
static void program_read(int fd, const char *d, size_t n, uint8_t piece)
{
	size_t step = piece ? piece : n;

	for (size_t off = 0; off < n; off += step) {
		size_t k = n - off < step ? n - off : step;
		struct iovec v = {(void *)(d + off), k};
		hook_received(fd, &v, 1, (ssize_t)k, 0);
	}
}

/* sendfile: owed bytes first, then n bytes we cannot see. */
static void program_sendfile(int fd, size_t n)
{
	struct conn *c = traced(fd);
	static const char filler[4096];

	if (fd == cfd && wire_dead)
		return;
	if (c) {
		http_conn_flush(c, fd);
		drain();
	}
	for (size_t k = 0; fd == cfd && k < n; k += sizeof(filler)) {
		size_t l = n - k < sizeof(filler) ? n - k : sizeof(filler);
		append(&wire, filler, l);
		append(&prog, filler, l);
	}
	if (c && n)
		http_conn_on_send_opaque(c, n, 0);
}

static void run(struct reader *rd)
{
	while (rd->n) {
		uint8_t op = u8(rd);
		size_t len = u8(rd);
		if (len == 255) {
			len = u8(rd);
			len = len << 8 | u8(rd);
		}
		if (len > rd->n)
			len = rd->n;
		const char *d = (const char *)rd->p;
		rd->p += len;
		rd->n -= len;

		switch (op % 16) {
		case 0:		/* client request bytes */
		case 1: {
			uint8_t c1 = u8(rd), c2 = u8(rd), mx = u8(rd);
			uint8_t ea = u8(rd);
			wire_max = mx;	/* 0: unlimited */
			wire_eagain = ea % 8 < 2 ? 0 : ea % 8;
			program_write(cfd, d, len, c1, c2);
			break;
		}
		case 2:		/* client response bytes */
		case 3:
			program_read(cfd, d, len, u8(rd));
			break;
		case 4:		/* server request bytes */
		case 5:
			program_read(sfd, d, len, u8(rd));
			break;
		case 6:		/* server response bytes */
		case 7: {
			uint8_t c1 = u8(rd), c2 = u8(rd);
			program_write(sfd, d, len, c1, c2);
			break;
		}
		case 8:		/* a wait: poll, epoll_wait */
			reading();
			context_turn();
			break;
		case 9:		/* the client's peer: EOF or an error */
			hook_received(cfd, NULL, 0, len & 1 ? -1 : 0,
				      ECONNRESET);
			break;
		case 10:	/* the server's peer: EOF or an error */
			hook_received(sfd, NULL, 0, len & 1 ? -1 : 0,
				      ECONNRESET);
			break;
		case 11:	/* the client closes, then connects again */
			close_conn(cfd);
			open_conn(cfd, CONN_ROLE_CLIENT);
			break;
		case 12:	/* the server closes, then accepts again */
			close_conn(sfd);
			open_conn(sfd, CONN_ROLE_SERVER);
			break;
		case 13:	/* sendfile of len bytes */
			program_sendfile(op & 0x10 ? sfd : cfd, len);
			break;
		case 14:	/* the client's peer goes away */
			wire_dead = 1;
			break;
		default:
			context_turn();
			break;
		}
	}
}

/* ---- set-up ------------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int sv[2];

	(void)argc;
	(void)argv;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	cfd = sv[0];
	cpeer = sv[1];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	sfd = sv[0];
	speer = sv[1];
	fcntl(cpeer, F_SETFL, O_NONBLOCK);
	fcntl(speer, F_SETFL, O_NONBLOCK);
	/* room for everything one input can owe */
	int big = 1 << 20;
	setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(cpeer, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	init_active = 1;
	verbose = getenv("OTELSHIM_FUZZ_VERBOSE") != NULL;
	return 0;
}

static void configure(uint8_t b)
{
	static const char *const names[] = {"tracecontext", "baggage", "b3",
					    "b3multi"};
	char props[64] = "";

	for (int i = 0; i < 4; i++)
		if (b & (1u << i)) {
			if (props[0])
				strcat(props, ",");
			strcat(props, names[i]);
		}
	clearenv();
	setenv("OTEL_LOG_LEVEL", "none", 1);
	setenv("OTEL_PROPAGATORS", props[0] ? props : "none", 1);
	setenv("OTEL_TRACES_SAMPLER",
	       b & 0x10 ? "always_on" : "parentbased_always_on", 1);
	config_load();
	dontwait = (b & 0x20) != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader rd = {data, size};

	if (size < 1)
		return 0;
	uint8_t cfg = u8(&rd);
	configure(cfg);
	conn_reset_all();
	n_spans = 0;
	n_untraceable = 0;
	total_requests = 0;
	mysql_seen = 0;
	wire.len = 0;
	prog.len = 0;
	wire_dead = 0;
	wire_calls = 0;
	context_turn();	/* nothing from the last input is this turn's */
	open_conn(cfd, CONN_ROLE_CLIENT);
	open_conn(sfd, CONN_ROLE_SERVER);

	run(&rd);

	close_conn(cfd);
	close_conn(sfd);
	http_conn_release_held();
	/* every request served was released with its connection */
	struct span_ctx parent, link;
	context_turn();
	CHECK(context_parent(NULL, &parent, &link) == CONTEXT_NONE);
	/* always_on: every request is a span or a count of untraceable (a
	   head too large to follow is counted too, though not a request),
	   and no request is two spans */
	if ((cfg & 0x10) && !mysql_seen) {
		CHECK(total_requests <= n_spans + n_untraceable);
		CHECK(n_spans <= total_requests);
	}
	return 0;
}
