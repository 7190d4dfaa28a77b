/*
 * abi_errno.c - results and errno are ABI: every interposed call returns
 * what libc returns and leaves errno as libc leaves it.
 *
 * The program calls each interposed function in success and failure modes
 * and prints one line per call with the return value and errno. Before a
 * call errno is set to a sentinel (12345), so a successful call that
 * disturbs errno shows up as a different errno. same_output.py runs it
 * without the library and with it preloaded (no exporter; the default
 * OTLP exporter aimed at a refused port; and at a sink that accepts every
 * export) and requires identical output.
 *
 * Besides the failure modes, the program makes real HTTP exchanges over
 * loopback (every send-like and receive-like function on a keep-alive
 * connection, a server thread in the same process), so the hooks take
 * their tracking and rewriting paths, not only the pass-through one.
 *
 * Part two checks that descriptors which are not TCP sockets pass through
 * untouched: pipes, AF_UNIX socket pairs, UDP on loopback, regular files, a
 * TCP socket the library never saw created, and a TCP connection carrying
 * bytes that are not HTTP: what goes in comes out, byte for byte (checked
 * here, so the run without the library checks it too). The same holds for
 * a traced TCP connection whose stream ends (shutdown or close) after
 * bytes that could still begin a request head: the peer gets them all.
 *
 * Built with -D_FORTIFY_SOURCE=2 -O2: reads into buffers of known size with
 * lengths the compiler cannot see call __read_chk, __recv_chk and
 * __recvfrom_chk, and poll() with such a count calls __poll_chk;
 * same_output.py checks with nm that the binary imports them. The "plain"
 * variants pass a pointer the compiler cannot see through (hide()).
 *
 * Nothing printed depends on descriptor numbers, ports or timing: fds are
 * printed as "fd", and descriptors closed twice are high numbers that no
 * other thread (ours, or the library's exporter) can be handed meanwhile.
 *
 * Exits 1 when a self-check fails (bytes changed, a response missing).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loopback.h"

#define SENTINEL 12345
#define BADFD 1000	/* never open in this program */
#define HIGHFD 900	/* closed twice; the kernel hands out low numbers */

extern char **environ;

static int failures;
static int port;	/* the loopback HTTP server */
static int tmp_fd;	/* a regular file holding FILE_DATA */
static const char FILE_DATA[] = "file body bytes\n";

/* Sizes the compiler cannot see: calls with them are fortified. */
static volatile size_t vsize = 64;
static volatile nfds_t vnfds = 1;

/* A pointer the compiler cannot see through: no fortification. */
static void *hide(void *p)
{
	__asm__ volatile("" : "+r"(p));
	return p;
}

static const char *ename(int e)
{
	static char num[32];
	const char *n = e ? strerrorname_np(e) : "0";

	if (n)
		return n;
	snprintf(num, sizeof(num), "%d", e);
	return num;
}

static void show(const char *what, long r, int e)
{
	printf("%-52s ret=%ld errno=%s\n", what, r, ename(e));
}

static void show_fd(const char *what, long r, int e)
{
	printf("%-52s ret=%s errno=%s\n", what, r >= 0 ? "fd" : "-1",
	       ename(e));
}

/* One call: errno preset to the sentinel, result and errno printed. */
#define CALL(what, expr)                         \
	do {                                     \
		errno = SENTINEL;                \
		long r_ = (long)(expr);          \
		int e_ = errno;                  \
		show(what, r_, e_);              \
	} while (0)

#define CALL_FD(what, expr)                      \
	do {                                     \
		errno = SENTINEL;                \
		long r_ = (long)(expr);          \
		int e_ = errno;                  \
		show_fd(what, r_, e_);           \
	} while (0)

static void fail(const char *what, const char *why)
{
	printf("FAIL: %s: %s\n", what, why);
	failures++;
}

static void xpipe(int p[2])
{
	if (pipe(p) < 0) {
		perror("pipe");
		exit(2);
	}
}

/* Printable form of bytes, for the lines that compare data. */
static const char *esc(const char *b, size_t n)
{
	static char out[1024];
	size_t k = 0;

	for (size_t i = 0; i < n && k + 5 < sizeof(out); i++) {
		unsigned char ch = (unsigned char)b[i];
		if (ch == '\r')
			k += (size_t)snprintf(out + k, sizeof(out) - k, "\\r");
		else if (ch == '\n')
			k += (size_t)snprintf(out + k, sizeof(out) - k, "\\n");
		else if (ch < 32 || ch > 126)
			k += (size_t)snprintf(out + k, sizeof(out) - k,
					      "\\x%02x", ch);
		else
			out[k++] = (char)ch;
	}
	out[k] = 0;
	return out;
}

/* ---- receivers: one per interposed receive-like function ----------------- */

struct reader {
	const char *name;
	ssize_t (*fn)(int fd, char *buf, size_t cap);
};

static ssize_t rd_read(int fd, char *b, size_t n)
{
	return read(fd, hide(b), n);
}

__attribute__((noinline)) static ssize_t rd_read_chk(int fd, char *b,
						     size_t n)
{
	char tmp[4096];

	if (n > sizeof(tmp))
		n = sizeof(tmp);
	ssize_t r = read(fd, tmp, n);	/* __read_chk */
	if (r > 0)
		memcpy(b, tmp, (size_t)r);
	return r;
}

static ssize_t rd_recv(int fd, char *b, size_t n)
{
	return recv(fd, hide(b), n, 0);
}

__attribute__((noinline)) static ssize_t rd_recv_chk(int fd, char *b,
						     size_t n)
{
	char tmp[4096];

	if (n > sizeof(tmp))
		n = sizeof(tmp);
	ssize_t r = recv(fd, tmp, n, 0);	/* __recv_chk */
	if (r > 0)
		memcpy(b, tmp, (size_t)r);
	return r;
}

static ssize_t rd_recvfrom(int fd, char *b, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	return recvfrom(fd, hide(b), n, 0, (struct sockaddr *)&ss, &sl);
}

__attribute__((noinline)) static ssize_t rd_recvfrom_chk(int fd, char *b,
							 size_t n)
{
	char tmp[4096];

	if (n > sizeof(tmp))
		n = sizeof(tmp);
	ssize_t r = recvfrom(fd, tmp, n, 0, NULL, NULL); /* __recvfrom_chk */
	if (r > 0)
		memcpy(b, tmp, (size_t)r);
	return r;
}

static ssize_t rd_recvmsg(int fd, char *b, size_t n)
{
	size_t half = n / 2;
	struct iovec v[2] = {{b, half}, {b + half, n - half}};
	struct msghdr m = {.msg_iov = v, .msg_iovlen = 2};

	return recvmsg(fd, &m, 0);
}

static ssize_t rd_readv(int fd, char *b, size_t n)
{
	size_t third = n / 3;
	struct iovec v[3] = {{b, third}, {b + third, third},
			     {b + 2 * third, n - 2 * third}};

	return readv(fd, v, 3);
}

static const struct reader readers[] = {
	{"read", rd_read},
	{"__read_chk", rd_read_chk},
	{"recv", rd_recv},
	{"__recv_chk", rd_recv_chk},
	{"recvfrom", rd_recvfrom},
	{"__recvfrom_chk", rd_recvfrom_chk},
	{"recvmsg", rd_recvmsg},
	{"readv", rd_readv},
};
#define N_READERS (sizeof(readers) / sizeof(readers[0]))

/* ---- senders: one per interposed send-like function ---------------------- */

struct writer {
	const char *name;
	ssize_t (*fn)(int fd, const char *buf, size_t len);
};

static ssize_t wr_write(int fd, const char *b, size_t n)
{
	return write(fd, b, n);
}

static ssize_t wr_send(int fd, const char *b, size_t n)
{
	return send(fd, b, n, MSG_NOSIGNAL);
}

static ssize_t wr_sendto(int fd, const char *b, size_t n)
{
	return sendto(fd, b, n, MSG_NOSIGNAL, NULL, 0);
}

static ssize_t wr_sendmsg(int fd, const char *b, size_t n)
{
	size_t a = n / 3, c = n / 2;
	struct iovec v[3] = {{(char *)b, a},
			     {(char *)b + a, c - a},
			     {(char *)b + c, n - c}};
	struct msghdr m = {.msg_iov = v, .msg_iovlen = 3};

	return sendmsg(fd, &m, MSG_NOSIGNAL);
}

static ssize_t wr_writev(int fd, const char *b, size_t n)
{
	size_t a = n / 4;
	struct iovec v[3] = {{(char *)b, a},
			     {(char *)b + a, 0},
			     {(char *)b + a, n - a}};

	return writev(fd, v, 3);
}

static const struct writer writers[] = {
	{"write", wr_write},   {"send", wr_send},     {"sendto", wr_sendto},
	{"sendmsg", wr_sendmsg}, {"writev", wr_writev},
};
#define N_WRITERS (sizeof(writers) / sizeof(writers[0]))

/* ---- HTTP over a keep-alive connection ----------------------------------- */

static size_t head_end(const char *b, size_t n)
{
	const char *p = memmem(b, n, "\r\n\r\n", 4);

	return p ? (size_t)(p - b) + 4 : 0;
}

/*
 * Read one whole response with one receive function, printing its status
 * and body and whether every successful call left errno alone.
 */
static void read_reply(int fd, const struct reader *rd)
{
	char buf[4097], what[96];	/* one more for the NUL sscanf needs */
	size_t have = 0, hl = 0, clen = 0;
	int kept = 1, last = 0;

	snprintf(what, sizeof(what), "http response via %s", rd->name);
	for (;;) {
		hl = head_end(buf, have);
		if (hl) {
			const char *cl = memmem(buf, hl, "Content-Length: ",
						16);
			clen = cl ? strtoul(cl + 16, NULL, 10) : 0;
			if (have >= hl + clen)
				break;
		}
		errno = SENTINEL;
		ssize_t n = rd->fn(fd, buf + have, sizeof(buf) - 1 - have);
		int e = errno;
		if (n <= 0) {
			show(what, n, e);
			fail(what, "no whole response");
			return;
		}
		if (e != SENTINEL) {
			kept = 0;
			last = e;
		}
		have += (size_t)n;
	}
	int status = 0;
	buf[have] = '\0';
	sscanf(buf, "HTTP/1.1 %d", &status);
	printf("%-52s status=%d body=%s errno=%s\n", what, status,
	       esc(buf + hl, clen), kept ? "kept" : ename(last));
	if (status != 200)
		fail(what, "not 200");
}

static int request(char *out, size_t cap, const char *method,
		   const char *target, size_t body_len, int close_it)
{
	return snprintf(out, cap,
			"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			"Accept: */*\r\n%sContent-Length: %zu\r\n\r\n",
			method, target,
			close_it ? "Connection: close\r\n" : "", body_len);
}

static void http_exchanges(void)
{
	char req[512], what[96];
	int fd;

	printf("-- HTTP over a keep-alive loopback connection\n");
	CALL_FD("socket AF_INET SOCK_STREAM", fd = socket(AF_INET,
							  SOCK_STREAM, 0));
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CALL("connect to the server", connect(fd, (struct sockaddr *)&a,
					      sizeof(a)));

	/* every writer with every reader, each exchange complete */
	for (size_t i = 0; i < N_READERS; i++) {
		const struct writer *w = &writers[i % N_WRITERS];
		char target[32];
		snprintf(target, sizeof(target), "/ka/%zu", i);
		int n = request(req, sizeof(req), "GET", target, 0, 0);
		snprintf(what, sizeof(what), "http request via %s", w->name);
		CALL(what, w->fn(fd, req, (size_t)n));
		read_reply(fd, &readers[i]);
	}

	/* head and body in separate calls */
	int n = request(req, sizeof(req), "POST", "/split", 5, 0);
	CALL("http head via send", send(fd, req, (size_t)n, 0));
	CALL("http body via send", send(fd, "hello", 5, 0));
	read_reply(fd, &readers[2]);

	/* head, then the body from a file with sendfile and sendfile64 */
	n = request(req, sizeof(req), "PUT", "/sendfile", sizeof(FILE_DATA) - 1,
		    0);
	CALL("http head via write", write(fd, req, (size_t)n));
	off_t off = 0;
	CALL("http body via sendfile", sendfile(fd, tmp_fd, &off,
						sizeof(FILE_DATA) - 1));
	read_reply(fd, &readers[0]);
	n = request(req, sizeof(req), "PUT", "/sendfile64",
		    sizeof(FILE_DATA) - 1, 0);
	CALL("http head via writev", wr_writev(fd, req, (size_t)n));
	off64_t off64 = 0;
	CALL("http body via sendfile64", sendfile64(fd, tmp_fd, &off64,
						    sizeof(FILE_DATA) - 1));
	read_reply(fd, &readers[7]);

	/* the head in many small pieces, byte by byte at the end */
	n = request(req, sizeof(req), "DELETE", "/pieces", 0, 0);
	for (int k = 0; k < n;) {
		int step = k < n - 8 ? 7 : 1;
		errno = SENTINEL;
		ssize_t w = send(fd, req + k, (size_t)step, 0);
		if (w != step || errno != SENTINEL) {
			show("http head piece via send", w, errno);
			fail("send", "a piece not sent as is");
			break;
		}
		k += step;
	}
	printf("%-52s done\n", "http head in pieces via send");
	read_reply(fd, &readers[1]);

	/* a peek leaves the bytes for the next call */
	n = request(req, sizeof(req), "GET", "/peek", 0, 0);
	CALL("http request via send", send(fd, req, (size_t)n, 0));
	struct pollfd p = {.fd = fd, .events = POLLIN};
	CALL("poll for the response", poll(&p, 1, 5000));
	char peek[8];
	CALL("recv MSG_PEEK 5 bytes", recv(fd, peek, 5, MSG_PEEK));
	printf("%-52s %s\n", "peeked", esc(peek, 5));
	read_reply(fd, &readers[3]);

	/* the last request asks to close; then EOF */
	n = request(req, sizeof(req), "GET", "/last", 0, 1);
	CALL("http request via send", send(fd, req, (size_t)n, 0));
	read_reply(fd, &readers[4]);
	char b[64];
	CALL("recv at EOF", recv(fd, hide(b), sizeof(b), 0));
	CALL("read at EOF", read(fd, hide(b), sizeof(b)));
	CALL("__read_chk at EOF", read(fd, b, vsize));
	CALL("close the connection", close(fd));

	/* the helper's own exchange: one request per connection */
	struct lb_reply r;
	CALL("lb_request GET /helper", lb_request(port, "GET", "/helper", NULL,
						  &r));
	printf("%-52s status=%d body=%s\n", "lb_request reply", r.status,
	       esc(r.body, r.body_len));
}

/* ---- failure modes on TCP sockets the library tracks --------------------- */

static int listener;			/* blocking, small receive buffer */
static struct sockaddr_in listener_addr;

static int make_listener(int nonblock, struct sockaddr_in *a)
{
	socklen_t al = sizeof(*a);
	int small = 4096;
	int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0),
			0);

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	if (bind(fd, (struct sockaddr *)a, al) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)a, &al) < 0) {
		perror("listener");
		exit(2);
	}
	return fd;
}

/* A connected client (optionally non-blocking) and its accepted peer. */
static int pair(int nonblock, int *srv)
{
	int c = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0),
		       0);

	if (connect(c, (struct sockaddr *)&listener_addr,
		    sizeof(listener_addr)) < 0) {
		if (errno != EINPROGRESS) {
			perror("pair: connect");
			exit(2);
		}
		struct pollfd p = {.fd = c, .events = POLLOUT};
		poll(&p, 1, 5000);
	}
	*srv = accept(listener, NULL, NULL);
	if (*srv < 0) {
		perror("pair: accept");
		exit(2);
	}
	return c;
}

static const char GET_REQ[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";

/*
 * A client whose request is in flight and whose peer has reset the
 * connection; the reset has arrived (poll saw it).
 */
static int reset_client(void)
{
	int s, c = pair(0, &s);
	struct linger lg = {1, 0};
	char b[256];

	send(c, GET_REQ, sizeof(GET_REQ) - 1, 0);
	recv(s, b, sizeof(b), 0);
	setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(s);
	struct pollfd p = {.fd = c, .events = POLLIN};
	poll(&p, 1, 5000);
	return c;
}

static void tcp_resets(void)
{
	char b[256], what[96];

	printf("-- tracked TCP: the peer reset the connection\n");
	for (size_t i = 0; i < N_READERS; i++) {
		int c = reset_client();
		snprintf(what, sizeof(what), "%s after a reset",
			 readers[i].name);
		CALL(what, readers[i].fn(c, b, sizeof(b)));
		const struct writer *w = &writers[i % N_WRITERS];
		snprintf(what, sizeof(what), "%s after a reset (EPIPE)",
			 w->name);
		CALL(what, w->fn(c, GET_REQ, sizeof(GET_REQ) - 1));
		CALL("close", close(c));
	}
	int c = reset_client();
	CALL("recv after a reset", recv(c, b, sizeof(b), 0));
	off_t off = 0;
	CALL("sendfile after a reset", sendfile(c, tmp_fd, &off, 4));
	CALL("shutdown SHUT_WR after a reset", shutdown(c, SHUT_WR));
	CALL("close", close(c));

	/* the server side sees the client's reset */
	int s;
	c = pair(0, &s);
	struct linger lg = {1, 0};
	send(c, GET_REQ, sizeof(GET_REQ) - 1, 0);
	/* (a traced client's request is longer by its traceparent line) */
	CALL("server recv of a request > 0", recv(s, b, sizeof(b), 0) > 0);
	setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c);
	struct pollfd p = {.fd = s, .events = POLLIN};
	poll(&p, 1, 5000);
	CALL("server recv after the client's reset", recv(s, b, sizeof(b), 0));
	CALL("server send after the client's reset",
	     send(s, "HTTP/1.1 200 OK\r\n\r\n", 19, MSG_NOSIGNAL));
	CALL("server close", close(s));
}

static void tcp_would_block(void)
{
	char b[256], what[96];
	int s, c;

	printf("-- tracked TCP: nothing to read, no room to write\n");
	c = pair(1, &s);
	for (size_t i = 0; i < N_READERS; i++) {
		snprintf(what, sizeof(what), "%s non-blocking, nothing there",
			 readers[i].name);
		CALL(what, readers[i].fn(c, b, sizeof(b)));
	}
	close(s);
	close(c);

	c = pair(0, &s);
	CALL("recv MSG_DONTWAIT, nothing there", recv(c, b, sizeof(b),
						       MSG_DONTWAIT));
	CALL("server recv MSG_DONTWAIT, nothing there",
	     recv(s, b, sizeof(b), MSG_DONTWAIT));
	close(s);
	close(c);

	/* a server socket from accept4(SOCK_NONBLOCK) */
	c = socket(AF_INET, SOCK_STREAM, 0);
	connect(c, (struct sockaddr *)&listener_addr, sizeof(listener_addr));
	CALL_FD("accept4 SOCK_NONBLOCK", s = accept4(listener, NULL, NULL,
						     SOCK_NONBLOCK));
	CALL("server read non-blocking, nothing there", read(s, hide(b), 8));
	send(c, GET_REQ, sizeof(GET_REQ) - 1, 0);
	struct pollfd p = {.fd = s, .events = POLLIN};
	poll(&p, 1, 5000);
	CALL("server recv MSG_PEEK > 0", recv(s, b, sizeof(b), MSG_PEEK) > 0);
	CALL("server recv MSG_TRUNC", recv(s, NULL, 4, MSG_TRUNC));
	CALL("server recv the rest > 0", recv(s, b, sizeof(b), 0) > 0);
	CALL("server send a response",
	     send(s, "HTTP/1.1 204 No Content\r\n\r\n", 27, 0));
	CALL("client recv the response", recv(c, b, 27, MSG_WAITALL));
	close(s);
	close(c);

	/* fill a non-blocking client's send buffer mid-body */
	c = pair(1, &s);
	int small = 4096;
	setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	static const char head[] = "POST /fill HTTP/1.1\r\nHost: a\r\n"
				   "Content-Length: 1000000000\r\n\r\n";
	CALL("send a head with a huge body", send(c, head, sizeof(head) - 1,
						   0));
	static char chunk[8192];
	memset(chunk, 'z', sizeof(chunk));
	int settled = 0, eagain = 0;
	for (int round = 0; round < 100000 && !settled; round++) {
		ssize_t n = send(c, chunk, sizeof(chunk), 0);
		if (n > 0)
			continue;
		if (errno != EAGAIN) {
			printf("fill: %s\n", ename(errno));
			failures++;
			break;
		}
		eagain = 1;
		struct pollfd q = {.fd = c, .events = POLLOUT};
		if (poll(&q, 1, 200) == 0 && send(c, chunk, 1, 0) < 0 &&
		    errno == EAGAIN)
			settled = 1;
	}
	printf("%-52s %s\n", "send buffer filled", settled && eagain
								? "yes"
								: "no");
	for (size_t i = 0; i < N_WRITERS; i++) {
		snprintf(what, sizeof(what), "%s with no room",
			 writers[i].name);
		CALL(what, writers[i].fn(c, chunk, 100));
	}
	off_t off = 0;
	CALL("sendfile with no room", sendfile(c, tmp_fd, &off, 4));
	CALL("send MSG_DONTWAIT with no room", send(c, chunk, 1,
						     MSG_DONTWAIT));
	close(s);
	close(c);
}

static void tcp_connect_accept(void)
{
	char b[64];
	int c, s;

	printf("-- tracked TCP: connect, accept, shutdown, dup, close\n");
	CALL_FD("socket AF_INET SOCK_STREAM IPPROTO_TCP",
		c = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
	CALL("shutdown an unconnected socket", shutdown(c, SHUT_RDWR));
	CALL("send on an unconnected socket", send(c, "x", 1, MSG_NOSIGNAL));
	CALL("recv on an unconnected socket", recv(c, b, 1, 0));
	CALL("accept on a socket not listening", accept(c, NULL, NULL));
	CALL("accept4 on a socket not listening", accept4(c, NULL, NULL, 0));
	CALL("connect with a short address", connect(c, (struct sockaddr *)
							     &listener_addr,
						     4));

	/* a bound socket that does not listen refuses connections */
	struct sockaddr_in closed = {.sin_family = AF_INET,
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t cl = sizeof(closed);
	int holder = socket(AF_INET, SOCK_STREAM, 0);
	bind(holder, (struct sockaddr *)&closed, cl);
	getsockname(holder, (struct sockaddr *)&closed, &cl);
	CALL("connect to a closed port", connect(c, (struct sockaddr *)&closed,
						 sizeof(closed)));
	CALL("send after a refused connect", send(c, GET_REQ, 5,
						  MSG_NOSIGNAL));
	CALL("write after a refused connect", write(c, GET_REQ, 5));
	CALL("close", close(c));

	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CALL("connect non-blocking to a closed port",
	     connect(c, (struct sockaddr *)&closed, sizeof(closed)));
	struct pollfd p = {.fd = c, .events = POLLOUT};
	poll(&p, 1, 5000);
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	getsockopt(c, SOL_SOCKET, SO_ERROR, &soerr, &sl);
	printf("%-52s %s\n", "  SO_ERROR", ename(soerr));
	CALL("connect again after the refusal",
	     connect(c, (struct sockaddr *)&closed, sizeof(closed)));
	close(c);
	close(holder);

	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CALL("connect non-blocking to a listener",
	     connect(c, (struct sockaddr *)&listener_addr,
		     sizeof(listener_addr)));
	p.fd = c;
	poll(&p, 1, 5000);
	CALL("connect again once connected",
	     connect(c, (struct sockaddr *)&listener_addr,
		     sizeof(listener_addr)));
	CALL("connect a third time",
	     connect(c, (struct sockaddr *)&listener_addr,
		     sizeof(listener_addr)));
	struct sockaddr_in peer;
	socklen_t pl = sizeof(peer);
	CALL_FD("accept with the peer address", s = accept(listener,
							    (struct sockaddr *)
								    &peer,
							    &pl));
	printf("%-52s %s\n", "  peer address length right",
	       pl == sizeof(peer) ? "yes" : "no");
	CALL("shutdown SHUT_WR", shutdown(c, SHUT_WR));
	CALL("server read sees EOF", read(s, hide(b), sizeof(b)));
	CALL("shutdown with a bad how", shutdown(c, 7));
	CALL("shutdown SHUT_RD", shutdown(c, SHUT_RD));

	/* dup family on a tracked socket */
	CALL("dup2 onto itself", dup2(c, c) == c);
	CALL("dup3 onto itself", dup3(c, c, 0));
	CALL("dup3 with bad flags", dup3(c, HIGHFD, 0x7fff));
	CALL("dup2 to a high number", dup2(c, HIGHFD));
	CALL("dup3 O_CLOEXEC to a high number", dup3(c, HIGHFD + 1,
						     O_CLOEXEC));
	int d;
	CALL_FD("dup", d = dup(c));
	CALL("close the original", close(c));
	CALL("send a request on the dup after SHUT_WR",
	     send(d, GET_REQ, sizeof(GET_REQ) - 1, MSG_NOSIGNAL));
	CALL("close the dup", close(d));
	CALL("close a high dup", close(HIGHFD));
	CALL("close it again", close(HIGHFD));
	CALL("dup2 over an open high dup", dup2(s, HIGHFD + 1));
	CALL("close that", close(HIGHFD + 1));
	CALL("close it again", close(HIGHFD + 1));
	CALL("close the server side", close(s));

	/* accept failure modes */
	struct sockaddr_in na;
	int nl = make_listener(1, &na);
	CALL("accept non-blocking, nothing pending", accept(nl, NULL, NULL));
	CALL("accept4 non-blocking, nothing pending", accept4(nl, NULL, NULL,
							      SOCK_CLOEXEC));
	CALL("accept4 with bad flags", accept4(nl, NULL, NULL, 0x7fff));
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	CALL("accept on a UDP socket", accept(u, NULL, NULL));
	close(u);
	close(nl);

	/* sendfile from something that is not a file */
	c = pair(0, &s);
	int ep = epoll_create1(0);
	CALL("sendfile from an epoll fd", sendfile(c, ep, NULL, 10));
	int wo = open("/dev/null", O_WRONLY);
	CALL("sendfile from a write-only fd", sendfile(c, wo, NULL, 10));
	CALL("sendfile to a bad fd", sendfile(BADFD, tmp_fd, NULL, 10));
	off_t off = 0;
	CALL("sendfile request bytes", sendfile(c, tmp_fd, &off, 5));
	CALL("server recv them", recv(s, b, 5, MSG_WAITALL));
	close(wo);
	close(ep);
	close(s);
	close(c);
}

/* ---- bad descriptors ----------------------------------------------------- */

static void bad_fds(void)
{
	static const int fds[] = {-1, BADFD, 1 << 20, 0x7fffffff};
	char b[64], what[96];

	printf("-- bad descriptors\n");
	for (size_t k = 0; k < sizeof(fds) / sizeof(fds[0]); k++) {
		int fd = fds[k];
		printf("fd %d\n", fd);
		for (size_t i = 0; i < N_READERS; i++) {
			snprintf(what, sizeof(what), "  %s", readers[i].name);
			CALL(what, readers[i].fn(fd, b, sizeof(b)));
		}
		for (size_t i = 0; i < N_WRITERS; i++) {
			snprintf(what, sizeof(what), "  %s", writers[i].name);
			CALL(what, writers[i].fn(fd, "abc", 3));
		}
		CALL("  send len 0", send(fd, "", 0, 0));
		CALL("  write len 0", write(fd, "", 0));
		CALL("  close", close(fd));
		CALL("  dup", dup(fd));
		CALL("  dup2", dup2(fd, HIGHFD));
		CALL("  dup2 onto itself", dup2(fd, fd));
		CALL("  dup3", dup3(fd, HIGHFD, 0));
		CALL("  shutdown", shutdown(fd, SHUT_RDWR));
		CALL("  accept", accept(fd, NULL, NULL));
		CALL("  accept4", accept4(fd, NULL, NULL, 0));
		CALL("  connect", connect(fd, (struct sockaddr *)&listener_addr,
					  sizeof(listener_addr)));
		CALL("  sendfile out", sendfile(fd, tmp_fd, NULL, 1));
		CALL("  sendfile in", sendfile(1, fd, NULL, 1));
		CALL("  sendfile64 out", sendfile64(fd, tmp_fd, NULL, 1));
		struct epoll_event ev[2];
		CALL("  epoll_wait", epoll_wait(fd, ev, 2, 0));
		CALL("  epoll_pwait", epoll_pwait(fd, ev, 2, 0, NULL));
	}
}

/* ---- event waits --------------------------------------------------------- */

static void waits(void)
{
	int pp[2], ep;
	struct epoll_event ev[4];
	struct pollfd p[2];
	fd_set rs;
	struct timeval tv;
	struct timespec ts;
	sigset_t mask;

	printf("-- event waits\n");
	sigemptyset(&mask);
	xpipe(pp);
	CALL_FD("epoll_create1", ep = epoll_create1(EPOLL_CLOEXEC));
	struct epoll_event e = {.events = EPOLLIN, .data.fd = pp[0]};
	epoll_ctl(ep, EPOLL_CTL_ADD, pp[0], &e);
	CALL("epoll_wait timeout 0, idle", epoll_wait(ep, ev, 4, 0));
	CALL("epoll_pwait timeout 0, idle", epoll_pwait(ep, ev, 4, 0, &mask));
	CALL("epoll_wait with maxevents 0", epoll_wait(ep, ev, 0, 0));
	CALL("epoll_wait on a pipe", epoll_wait(pp[0], ev, 4, 0));
	p[0] = (struct pollfd){.fd = pp[0], .events = POLLIN};
	p[1] = (struct pollfd){.fd = BADFD, .events = POLLIN};
	CALL("poll timeout 0, idle", poll(hide(p), 1, 0));
	CALL("__poll_chk timeout 0, idle", poll(p, vnfds, 0));
	CALL("poll with a bad fd (POLLNVAL)", poll(hide(p), 2, 0));
	printf("%-52s %#x\n", "  revents of the bad fd", p[1].revents);
#ifdef __SANITIZE_ADDRESS__
	/* AddressSanitizer's poll interceptor reads all 2^30 entries first. */
	printf("%-52s skipped under AddressSanitizer\n",
	       "poll with too many fds");
#else
	CALL("poll with too many fds", poll(hide(p), 1u << 30, 0));
#endif
	ts = (struct timespec){0, 0};
	CALL("ppoll timeout 0, idle", ppoll(p, 1, &ts, &mask));
	ts.tv_nsec = -1;
	CALL("ppoll with a bad timeout", ppoll(p, 1, &ts, NULL));
	FD_ZERO(&rs);
	FD_SET(pp[0], &rs);
	tv = (struct timeval){0, 0};
	CALL("select timeout 0, idle", select(pp[0] + 1, &rs, NULL, NULL,
					      &tv));
	CALL("select with nfds -1", select(-1, &rs, NULL, NULL, &tv));
	FD_ZERO(&rs);
	FD_SET(pp[0], &rs);
	ts = (struct timespec){0, 0};
	CALL("pselect timeout 0, idle", pselect(pp[0] + 1, &rs, NULL, NULL,
						&ts, &mask));
	ts.tv_nsec = -1;
	CALL("pselect with a bad timeout", pselect(pp[0] + 1, &rs, NULL, NULL,
						   &ts, NULL));

	CALL("write to the pipe", write(pp[1], "x", 1));
	CALL("epoll_wait, one ready", epoll_wait(ep, ev, 4, 0));
	CALL("epoll_pwait, one ready", epoll_pwait(ep, ev, 4, -1, NULL));
	CALL("poll, one ready", poll(hide(p), 1, -1));
	CALL("__poll_chk, one ready", poll(p, vnfds, 0));
	printf("%-52s %#x\n", "  revents", p[0].revents);
	ts = (struct timespec){0, 0};
	CALL("ppoll, one ready", ppoll(p, 1, NULL, NULL));
	FD_ZERO(&rs);
	FD_SET(pp[0], &rs);
	tv = (struct timeval){0, 0};
	CALL("select, one ready", select(pp[0] + 1, &rs, NULL, NULL, &tv));
	CALL("  the fd is set", FD_ISSET(pp[0], &rs) != 0);
	FD_ZERO(&rs);
	FD_SET(pp[0], &rs);
	CALL("pselect, one ready", pselect(pp[0] + 1, &rs, NULL, NULL, NULL,
					   NULL));
	close(ep);
	close(pp[0]);
	close(pp[1]);
}

/* ---- exec and spawn ------------------------------------------------------ */

static void execs(void)
{
	char *argv[] = {"nothing-here", NULL};
	char *envp[] = {"A=1", NULL};
	pid_t pid;
	int st;

	printf("-- exec and spawn\n");
	CALL("execve a missing path", execve("/nonexistent/prog", argv, envp));
	CALL("execv a missing path", execv("/nonexistent/prog", argv));
	CALL("execvp a missing name", execvp("otelshim-no-such-program", argv));
	CALL("execvpe a missing name", execvpe("otelshim-no-such-program",
					       argv, envp));
	CALL("execl a missing path", execl("/nonexistent/prog", "x",
					   (char *)NULL));
	CALL("execlp a missing name", execlp("otelshim-no-such-program", "x",
					     (char *)NULL));
	CALL("execle a missing path", execle("/nonexistent/prog", "x",
					     (char *)NULL, envp));
	CALL("execve a directory", execve("/", argv, envp));
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", tmp_fd);
	CALL("execve a file that is not executable", execve(self, argv, envp));
	CALL("execve a NULL path", execve(hide(NULL), argv, envp));
	CALL("posix_spawn a missing path",
	     posix_spawn(&pid, "/nonexistent/prog", NULL, NULL, argv, envp));
	CALL("posix_spawnp a missing name",
	     posix_spawnp(&pid, "otelshim-no-such-program", NULL, NULL, argv,
			  envp));

	char *sh[] = {"sh", "-c", "exit 3", NULL};
	CALL("posix_spawn /bin/sh", posix_spawn(&pid, "/bin/sh", NULL, NULL, sh,
						environ));
	waitpid(pid, &st, 0);
	printf("%-52s %d\n", "  exit status", WEXITSTATUS(st));
	/* the child's output through a pipe, so that it cannot race ours */
	char *echo[] = {"sh", "-c", "echo spawned child prints", NULL};
	posix_spawn_file_actions_t fa;
	int out[2];
	xpipe(out);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_addclose(&fa, out[0]);
	CALL("posix_spawnp sh", posix_spawnp(&pid, "sh", &fa, NULL, echo,
					     environ));
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	char said[128];
	ssize_t n = read(out[0], hide(said), sizeof(said));
	close(out[0]);
	waitpid(pid, &st, 0);
	printf("%-52s %s\n", "  the child said",
	       esc(said, n > 0 ? (size_t)n : 0));
	printf("%-52s %d\n", "  exit status", WEXITSTATUS(st));

	/* exec that works, in a child */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "echo exec child prints; exit 4",
		      (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	printf("%-52s %d\n", "execl /bin/sh in a child: exit status",
	       WEXITSTATUS(st));
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char *a[] = {"sh", "-c", "exit 5", NULL};
		execvp("sh", a);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	printf("%-52s %d\n", "execvp sh in a child: exit status",
	       WEXITSTATUS(st));
}

/* ---- part two: descriptors that are not TCP pass through ----------------- */

static const char HTTP_BYTES[] = "GET /passthrough HTTP/1.1\r\n"
				 "Host: 127.0.0.1\r\n\r\n";
#define HB (sizeof(HTTP_BYTES) - 1)

/* Write HTTP_BYTES with w on wfd, read them with r on rfd, compare. */
static void roundtrip(const char *kind, int wfd, int rfd,
		      const struct writer *w, const struct reader *r)
{
	char got[512], what[128];
	size_t have = 0;

	snprintf(what, sizeof(what), "%s: %s", kind, w->name);
	CALL(what, w->fn(wfd, HTTP_BYTES, HB));
	snprintf(what, sizeof(what), "%s: %s", kind, r->name);
	while (have < HB) {
		errno = SENTINEL;
		ssize_t n = r->fn(rfd, got + have, sizeof(got) - have);
		int e = errno;
		if (n <= 0 || e != SENTINEL) {
			show(what, n, e);
			break;
		}
		have += (size_t)n;
	}
	int same = have == HB && !memcmp(got, HTTP_BYTES, HB);
	printf("%-52s %zu bytes, %s\n", what, have, same ? "same" : "CHANGED");
	if (!same) {
		printf("  got: %s\n", esc(got, have));
		fail(kind, "bytes changed");
	}
}

/*
 * Every receive function with a send function. Descriptors that are not
 * sockets get the plain ones (read, __read_chk, readv with write, writev).
 */
static void all_roundtrips(const char *kind, int wfd, int rfd, int sockets)
{
	size_t k = 0;

	for (size_t i = 0; i < N_READERS; i++) {
		const struct reader *r = &readers[i];
		if (!sockets && strstr(r->name, "recv"))
			continue;
		const struct writer *w = sockets ? &writers[i % N_WRITERS]
						 : &writers[k++ % 2 ? 4 : 0];
		roundtrip(kind, wfd, rfd, w, r);
	}
}

static void not_tcp(void)
{
	int pp[2], sv[2], dg[2];
	char b[512];

	printf("-- pipes\n");
	xpipe(pp);
	all_roundtrips("pipe", pp[1], pp[0], 0);
	CALL("pipe: recv (not a socket)", recv(pp[0], b, 4, 0));
	CALL("pipe: send (not a socket)", send(pp[1], "x", 1, 0));
	CALL("pipe: sendmsg (not a socket)", wr_sendmsg(pp[1], "abc", 3));
	CALL("pipe: recvfrom (not a socket)", rd_recvfrom(pp[0], b, 4));
	CALL("pipe: shutdown (not a socket)", shutdown(pp[0], SHUT_RD));
	CALL("pipe: accept (not a socket)", accept(pp[0], NULL, NULL));
	CALL("pipe: connect (not a socket)",
	     connect(pp[1], (struct sockaddr *)&listener_addr,
		     sizeof(listener_addr)));
	fcntl(pp[0], F_SETFL, O_NONBLOCK);
	CALL("pipe: read, empty, non-blocking", read(pp[0], hide(b), 4));
	CALL("pipe: __read_chk, empty, non-blocking", read(pp[0], b, vsize));
	off_t off = 0;
	CALL("pipe: sendfile from a file into it", sendfile(pp[1], tmp_fd, &off,
							    sizeof(FILE_DATA) -
								    1));
	CALL("pipe: read it back", read(pp[0], hide(b), sizeof(b)));
	printf("%-52s %s\n", "  bytes", esc(b, sizeof(FILE_DATA) - 1));
	CALL("pipe: sendfile from it", sendfile(pp[1], pp[0], NULL, 4));
	close(pp[1]);
	CALL("pipe: read at EOF", read(pp[0], hide(b), 4));
	close(pp[0]);
	xpipe(pp);
	close(pp[0]);
	CALL("pipe: write with no reader (EPIPE)", write(pp[1], "x", 1));
	close(pp[1]);

	printf("-- AF_UNIX socket pairs\n");
	CALL("socketpair AF_UNIX SOCK_STREAM", socketpair(AF_UNIX, SOCK_STREAM,
							  0, sv));
	all_roundtrips("unix stream", sv[0], sv[1], 1);
	CALL("unix stream: recv MSG_DONTWAIT, empty", recv(sv[1], b, 4,
							   MSG_DONTWAIT));
	CALL("unix stream: shutdown SHUT_WR", shutdown(sv[0], SHUT_WR));
	CALL("unix stream: send after SHUT_WR", send(sv[0], "x", 1,
						     MSG_NOSIGNAL));
	CALL("unix stream: recv at EOF", recv(sv[1], b, 4, 0));
	off = 0;
	CALL("unix stream: sendfile", sendfile(sv[1], tmp_fd, &off, 4));
	CALL("unix stream: recv it", recv(sv[0], b, 4, 0));
	close(sv[0]);
	close(sv[1]);
	CALL("socketpair AF_UNIX SOCK_DGRAM", socketpair(AF_UNIX, SOCK_DGRAM,
							 0, dg));
	all_roundtrips("unix dgram", dg[0], dg[1], 1);
	CALL("unix dgram: recv MSG_DONTWAIT, empty", recv(dg[1], b, 4,
							  MSG_DONTWAIT));
	close(dg[0]);
	close(dg[1]);
	CALL("socketpair AF_INET (unsupported)", socketpair(AF_INET,
							    SOCK_STREAM, 0,
							    sv));

	printf("-- UDP on loopback\n");
	struct sockaddr_in ua = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t ul = sizeof(ua);
	int u1, u2;
	CALL_FD("socket AF_INET SOCK_DGRAM", u1 = socket(AF_INET, SOCK_DGRAM,
							 0));
	u2 = socket(AF_INET, SOCK_DGRAM, 0);
	bind(u1, (struct sockaddr *)&ua, ul);
	getsockname(u1, (struct sockaddr *)&ua, &ul);
	CALL("udp: sendto without an address", sendto(u2, "x", 1, 0, NULL, 0));
	CALL("udp: send unconnected", send(u2, "x", 1, 0));
	CALL("udp: sendto an address", sendto(u2, HTTP_BYTES, HB, 0,
					      (struct sockaddr *)&ua,
					      sizeof(ua)));
	CALL("udp: recvfrom it", rd_recvfrom(u1, b, sizeof(b)));
	printf("%-52s %s\n", "  same", memcmp(b, HTTP_BYTES, HB) ? "no" :
								 "yes");
	if (memcmp(b, HTTP_BYTES, HB))
		fail("udp", "bytes changed");
	CALL("udp: connect", connect(u2, (struct sockaddr *)&ua, sizeof(ua)));
	all_roundtrips("udp", u2, u1, 1);
	fcntl(u1, F_SETFL, O_NONBLOCK);
	CALL("udp: recv, empty, non-blocking", recv(u1, hide(b), 4, 0));
	CALL("udp: __recvfrom_chk, empty", recvfrom(u1, b, vsize, 0, NULL,
						    NULL));
	CALL("udp: shutdown SHUT_RDWR", shutdown(u2, SHUT_RDWR));
	CALL("udp: shutdown unconnected", shutdown(u1, SHUT_RDWR));
	close(u1);
	close(u2);

	printf("-- regular files\n");
	char path[] = "/tmp/otelshim-abi-XXXXXX";
	int f = mkstemp(path);
	unlink(path);
	CALL("file: write", write(f, HTTP_BYTES, HB));
	CALL("file: writev", wr_writev(f, HTTP_BYTES, HB));
	lseek(f, 0, SEEK_SET);
	CALL("file: read", read(f, hide(b), HB));
	printf("%-52s %s\n", "  same", memcmp(b, HTTP_BYTES, HB) ? "no" :
								 "yes");
	if (memcmp(b, HTTP_BYTES, HB))
		fail("file", "bytes changed");
	CALL("file: readv", rd_readv(f, b, HB));
	CALL("file: __read_chk at EOF", read(f, b, vsize));
	CALL("file: recv (not a socket)", recv(f, b, 4, 0));
	CALL("file: __recv_chk (not a socket)", recv(f, b, vsize, 0));
	CALL("file: recvmsg (not a socket)", rd_recvmsg(f, b, 4));
	CALL("file: sendto (not a socket)", sendto(f, "x", 1, 0, NULL, 0));
	CALL("file: shutdown (not a socket)", shutdown(f, SHUT_WR));
	int ro = open("/dev/null", O_RDONLY);
	CALL("file: write to a read-only fd", write(ro, "x", 1));
	CALL("file: writev to a read-only fd", wr_writev(ro, "abc", 3));
	close(ro);
	int dir = open("/", O_RDONLY | O_DIRECTORY);
	CALL("file: read a directory", read(dir, hide(b), 4));
	CALL("file: __read_chk a directory", read(dir, b, vsize));
	close(dir);
	int tmpfd2 = dup(f);
	CALL("file: dup2 over another file", dup2(f, tmpfd2) == tmpfd2);
	close(tmpfd2);
	CALL("file: close", close(f));

	printf("-- TCP the library never saw created, and TCP not HTTP\n");
	int s, c = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	CALL("raw socket: connect", connect(c, (struct sockaddr *)
						       &listener_addr,
					    sizeof(listener_addr)));
	s = accept(listener, NULL, NULL);
	all_roundtrips("raw tcp", c, s, 1);
	close(s);
	close(c);

	c = pair(0, &s);
	static const char bin[] = "\x16\x03\x01\x00\x05hello GET / HTTP/1.1\r\n"
				  "\r\n";
	CALL("binary: send", send(c, bin, sizeof(bin) - 1, 0));
	CALL("binary: recv", recv(s, b, sizeof(bin) - 1, MSG_WAITALL));
	printf("%-52s %s\n", "  same", memcmp(b, bin, sizeof(bin) - 1)
					       ? "no"
					       : "yes");
	if (memcmp(b, bin, sizeof(bin) - 1))
		fail("binary", "bytes changed");
	/* once not HTTP, always not HTTP: an HTTP head later is not touched */
	all_roundtrips("binary then http", c, s, 1);
	close(s);
	close(c);

	/*
	 * Bytes that could still begin a request line, then the end of the
	 * stream (as "printf stats | nc -N host port" does): the peer must
	 * get them all before the EOF.
	 */
	static const char *const tails[] = {
		"stats",
		"GET /unfinished HTTP/1.1\r\nHost: a\r\n",
	};
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		for (int how = 0; how < 2; how++) {
			char what[96];
			size_t len = strlen(tails[i]);
			c = pair(0, &s);
			snprintf(what, sizeof(what), "unfinished %zu: send", i);
			CALL(what, send(c, tails[i], len, 0));
			snprintf(what, sizeof(what), "unfinished %zu: %s", i,
				 how ? "close" : "shutdown SHUT_WR");
			CALL(what, how ? close(c) : shutdown(c, SHUT_WR));
			size_t have = 0;
			ssize_t n;
			while (have < sizeof(b) &&
			       (n = recv(s, b + have, sizeof(b) - have, 0)) > 0)
				have += (size_t)n;
			int same = have == len && !memcmp(b, tails[i], len);
			printf("%-52s %zu bytes before EOF, %s\n",
			       "  the peer got", have,
			       same ? "same" : "CHANGED");
			if (!same)
				fail("unfinished", "bytes lost at the end");
			close(s);
			if (!how)
				close(c);
		}
	}
}

static void sockets_misc(void)
{
	int fd;

	printf("-- socket\n");
	CALL_FD("socket AF_INET SOCK_STREAM|SOCK_CLOEXEC",
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	close(fd);
	CALL_FD("socket AF_INET6 SOCK_STREAM", fd = socket(AF_INET6,
							   SOCK_STREAM, 0));
	if (fd >= 0)
		close(fd);
	CALL("socket with a bad family", socket(9999, SOCK_STREAM, 0));
	CALL("socket AF_INET SOCK_STREAM IPPROTO_UDP",
	     socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
	CALL("socket with a bad type", socket(AF_INET, 0x7f, 0));
}

int main(void)
{
	char path[] = "/tmp/otelshim-abi-XXXXXX";

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	tmp_fd = mkstemp(path);
	if (tmp_fd < 0) {
		perror("mkstemp");
		return 2;
	}
	unlink(path);
	if (write(tmp_fd, FILE_DATA, sizeof(FILE_DATA) - 1) < 0) {
		perror("write");
		return 2;
	}
	fchmod(tmp_fd, 0600);
	if (fcntl(BADFD, F_GETFD) >= 0 || fcntl(HIGHFD, F_GETFD) >= 0 ||
	    fcntl(HIGHFD + 1, F_GETFD) >= 0) {
		fprintf(stderr, "fd %d, %d or %d is open already\n", BADFD,
			HIGHFD, HIGHFD + 1);
		return 2;
	}
	port = lb_server_start(2);
	if (port < 0)
		return 2;
	listener = make_listener(0, &listener_addr);

	sockets_misc();
	http_exchanges();
	tcp_resets();
	tcp_would_block();
	tcp_connect_accept();
	bad_fds();
	waits();
	not_tcp();
	execs();
	/* the HTTP paths again after fork and exec children */
	http_exchanges();

	printf("%d self-check failures\n", failures);
	return failures ? 1 : 0;
}
