/*
 * otlp_http.c - the OTLP/HTTP transport (see otlp_http.h).
 *
 * A deliberately small HTTP/1.1 client: it speaks to one collector, sends
 * one request at a time, and understands just enough of the answer (status,
 * Content-Length or chunked or close-delimited body, Connection: close,
 * Retry-After) to follow SPEC.md section 3. Sends use MSG_NOSIGNAL: a
 * collector that goes away must never raise SIGPIPE in the traced program.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "otlp_http.h"
#include "quiet.h"

uint64_t otlp_http_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int remaining_ms(uint64_t deadline_ns)
{
	uint64_t now = otlp_http_now_ns();

	if (now >= deadline_ns)
		return 0;
	uint64_t ms = (deadline_ns - now + 999999) / 1000000;
	return ms > 60 * 60 * 1000 ? 60 * 60 * 1000 : (int)ms;
}

/* ---- OTEL_EXPORTER_OTLP_HEADERS ------------------------------------------ */

void otlp_http_init(struct otlp_http *h, const struct exporter_config *cfg)
{
	__atomic_store_n(&h->fd, -1, __ATOMIC_SEQ_CST);
	h->busy = 0;
	snprintf(h->host, sizeof(h->host), "%s", cfg->endpoint_host);
	h->port = cfg->endpoint_port;
	snprintf(h->path, sizeof(h->path), "%s", cfg->endpoint_path);
	if (otlp_headers_build(h->extra_headers, sizeof(h->extra_headers),
			  cfg->headers) < 0) {
		/* Never echo the value: it usually holds credentials. */
		otel_log(LOG_WARN, "OTEL_EXPORTER_OTLP_HEADERS is malformed "
				   "(expected key=value pairs separated by "
				   "commas); ignoring it");
		h->extra_headers[0] = '\0';
	}
}

/* ---- connection ------------------------------------------------------------ */

/* Is fd still the socket we opened? */
static int still_ours(const struct otlp_http *h, int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
	       (uint64_t)st.st_dev == h->sock_dev &&
	       (uint64_t)st.st_ino == h->sock_ino;
}

static void tell_fd(struct otlp_http *h, int fd, int in_use)
{
	if (h->on_fd && fd >= 0)
		h->on_fd(fd, in_use);
}

void otlp_http_close(struct otlp_http *h)
{
	int fd = __atomic_exchange_n(&h->fd, -1, __ATOMIC_SEQ_CST);

	tell_fd(h, fd, 0);
	/* never close a number that is no longer our socket */
	if (fd >= 0 && still_ours(h, fd))
		close(fd);
}

void otlp_http_forget(struct otlp_http *h)
{
	tell_fd(h, __atomic_exchange_n(&h->fd, -1, __ATOMIC_SEQ_CST), 0);
}

void otlp_http_release(struct otlp_http *h)
{
	struct addrinfo *ai = h->resolving;

	h->resolving = NULL;
	if (ai)
		freeaddrinfo(ai);
}

/* ---- keeping the program's hands off our socket ---------------------------- */

/*
 * Our socket goes to a high number, away from the low ones that programs
 * expect to get back (a daemon that closes everything and opens /dev/null
 * as 0, 1, 2), and from select()'s FD_SETSIZE where possible.
 */
static int move_high(int fd)
{
	struct rlimit rl;
	long base = 512;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		base = rl.rlim_cur >= 2048 ? 1024 : (long)rl.rlim_cur / 2;
	if (fd >= base)
		return fd;
	int n = fcntl(fd, F_DUPFD_CLOEXEC, (int)base);
	if (n < 0)
		return fd;	/* no room up there: keep it where it is */
	close(fd);
	return n;
}

/*
 * Around each call on the socket: the number in use, or -1. The number is
 * checked to still be our socket (the program may have closed it with a
 * raw close_range and opened a file on it): if not, it is forgotten, never
 * used, never closed, and the exporter reconnects.
 */
static int io_begin(struct otlp_http *h)
{
	__atomic_store_n(&h->busy, 1, __ATOMIC_SEQ_CST);
	int fd = __atomic_load_n(&h->fd, __ATOMIC_SEQ_CST);
	if (fd >= 0 && !still_ours(h, fd)) {
		if (__atomic_compare_exchange_n(&h->fd, &fd, -1, 0,
						__ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST))
			tell_fd(h, fd, 0);
		fd = -1;
	}
	return fd;
}

static void io_end(struct otlp_http *h)
{
	__atomic_store_n(&h->busy, 0, __ATOMIC_RELEASE);
}

int otlp_http_owns(const struct otlp_http *h, int fd)
{
	/* the number, and (rarely reached) still the socket behind it */
	return fd >= 0 && __atomic_load_n(&h->fd, __ATOMIC_ACQUIRE) == fd &&
	       still_ours(h, fd);
}

void otlp_http_yield(struct otlp_http *h, int fd)
{
	int expected = fd;
	int n = fcntl(fd, F_DUPFD_CLOEXEC, fd + 1);

	tell_fd(h, n, 1);
	if (!__atomic_compare_exchange_n(&h->fd, &expected, n, 0,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		if (n >= 0) {
			tell_fd(h, n, 0);
			close(n);	/* it moved meanwhile: not ours now */
		}
		return;
	}
	/* (n < 0: no descriptor left; the exporter reconnects later.) A
	   call that loaded the old number may still be running: wait for it
	   (non-blocking, microseconds). */
	while (__atomic_load_n(&h->busy, __ATOMIC_SEQ_CST))
		sched_yield();
}

/*
 * Wait for the socket. poll() on a number the program has just taken over
 * is harmless (it reads nothing); the next call on the socket loads the
 * new number.
 */
static int wait_fd(struct otlp_http *h, short events, uint64_t deadline_ns)
{
	struct pollfd p = {.events = events};

	for (;;) {
		int ms = remaining_ms(deadline_ns);
		if (ms == 0)
			return -ETIMEDOUT;
		p.fd = __atomic_load_n(&h->fd, __ATOMIC_SEQ_CST);
		if (p.fd < 0)
			return -ECONNABORTED;
		int r = poll(&p, 1, ms > 100 ? 100 : ms);
		if (r == 0)
			continue;	/* re-read the number now and then */
		if (r > 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* An IP literal: its address without getaddrinfo (nor any allocation). */
static int literal(struct otlp_http *h)
{
	struct otlp_http_addr *a = &h->addrs[0];
	struct sockaddr_in *in = (struct sockaddr_in *)&a->sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->sa;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, h->host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(h->port);
		a->len = sizeof(*in);
	} else if (inet_pton(AF_INET6, h->host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(h->port);
		a->len = sizeof(*in6);
	} else {
		return 0;
	}
	a->family = a->sa.ss_family;
	a->socktype = SOCK_STREAM;
	a->protocol = IPPROTO_TCP;
	return 1;
}

/*
 * Fill h->addrs. getaddrinfo runs only for a host name, once per process
 * (a forked child inherits the list) and again after a connect failure.
 * Its answer is reachable from h->resolving until freed: a child forked
 * in the meantime frees its copy (otlp_http_release).
 */
static int resolve(struct otlp_http *h)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	struct addrinfo *ai, *a;
	unsigned n = 0;
	char port[8];

	__atomic_store_n(&h->n_addrs, 0, __ATOMIC_SEQ_CST);
	if (literal(h)) {
		__atomic_store_n(&h->n_addrs, 1, __ATOMIC_SEQ_CST);
		return 0;
	}
	snprintf(port, sizeof(port), "%u", h->port);
	int g = getaddrinfo(h->host, port, &hints, &ai);
	if (g != 0)
		return g == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	__atomic_store_n(&h->resolving, ai, __ATOMIC_SEQ_CST);
	for (a = ai; a && n < OTLP_HTTP_MAX_ADDRS; a = a->ai_next) {
		struct otlp_http_addr *d = &h->addrs[n];
		if (!a->ai_addr || a->ai_addrlen > sizeof(d->sa))
			continue;
		memset(d, 0, sizeof(*d));
		memcpy(&d->sa, a->ai_addr, a->ai_addrlen);
		d->len = a->ai_addrlen;
		d->family = a->ai_family;
		d->socktype = a->ai_socktype;
		d->protocol = a->ai_protocol;
		n++;
	}
	quiet_enter();	/* free: no fork in the middle (quiet.h) */
	__atomic_store_n(&h->resolving, NULL, __ATOMIC_SEQ_CST);
	freeaddrinfo(ai);
	quiet_leave();
	if (!n)
		return -EHOSTUNREACH;
	__atomic_store_n(&h->n_addrs, n, __ATOMIC_SEQ_CST);
	return 0;
}

static int open_conn(struct otlp_http *h, uint64_t deadline_ns)
{
	int err = -ECONNREFUSED;

	if (!__atomic_load_n(&h->n_addrs, __ATOMIC_SEQ_CST)) {
		int r = resolve(h);
		if (r < 0)
			return r;
	}
	unsigned n = __atomic_load_n(&h->n_addrs, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < n; i++) {
		const struct otlp_http_addr *a = &h->addrs[i];
		int fd = socket(a->family,
				a->socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				a->protocol);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		/* ours from now on, connecting or not */
		fd = move_high(fd);
		struct stat st;
		if (fstat(fd, &st) < 0) {
			err = -errno;
			close(fd);
			continue;
		}
		h->sock_dev = (uint64_t)st.st_dev;
		h->sock_ino = (uint64_t)st.st_ino;
		tell_fd(h, fd, 1);
		__atomic_store_n(&h->fd, fd, __ATOMIC_SEQ_CST);
		int c = io_begin(h);
		int r = c >= 0 ? connect(c, (const struct sockaddr *)&a->sa,
					 a->len)
			       : -1;
		int e = c >= 0 ? errno : ECONNABORTED;
		io_end(h);
		if (r == 0)
			return 0;
		if (e != EINPROGRESS) {
			err = -e;
			otlp_http_close(h);
			continue;
		}
		err = wait_fd(h, POLLOUT, deadline_ns);
		if (err == 0) {
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			c = io_begin(h);
			if (c < 0 || getsockopt(c, SOL_SOCKET, SO_ERROR, &soerr,
						&sl) < 0)
				soerr = c < 0 ? ECONNABORTED : errno;
			io_end(h);
			err = -soerr;
		}
		if (err == 0)
			return 0;
		otlp_http_close(h);
	}
	/* Every address failed: the name may point elsewhere now. */
	__atomic_store_n(&h->n_addrs, 0, __ATOMIC_SEQ_CST);
	return err;
}

static int send_all(struct otlp_http *h, struct iovec *iov, int n,
		    uint64_t deadline_ns)
{
	while (n > 0) {
		struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		int fd = io_begin(h);
		ssize_t w = fd >= 0 ? sendmsg(fd, &m, MSG_NOSIGNAL) : -1;
		int e = fd >= 0 ? errno : ECONNABORTED;
		io_end(h);
		if (w < 0) {
			if (e == EINTR)
				continue;
			if (e != EAGAIN && e != EWOULDBLOCK)
				return -e;
			int r = wait_fd(h, POLLOUT, deadline_ns);
			if (r < 0)
				return r;
			continue;
		}
		size_t left = (size_t)w;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

/* ---- response ------------------------------------------------------------ */

struct resp_head {
	int status;
	long long content_length;	/* -1 absent */
	int chunked;
	int close;
	int retry_after_s;
	size_t head_len;
};

static const char *find_head_end(const char *b, size_t n)
{
	for (size_t i = 0; i + 3 < n; i++)
		if (b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' &&
		    b[i + 3] == '\n')
			return b + i + 4;
	return NULL;
}

static int parse_head(const char *b, size_t n, struct resp_head *rh)
{
	const char *end = find_head_end(b, n);

	if (!end)
		return -2;
	memset(rh, 0, sizeof(*rh));
	rh->content_length = -1;
	rh->retry_after_s = -1;
	rh->head_len = (size_t)(end - b);
	if (n < 12 || strncmp(b, "HTTP/1.", 7) ||
	    !isdigit((unsigned char)b[9]) || !isdigit((unsigned char)b[10]) ||
	    !isdigit((unsigned char)b[11]))
		return -1;
	rh->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
	if (b[7] == '0')
		rh->close = 1;
	const char *line = memchr(b, '\n', rh->head_len) + 1;
	while (line < end - 2) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		const char *colon = memchr(line, ':', (size_t)(eol - line));
		if (colon) {
			size_t nl = (size_t)(colon - line);
			const char *v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			if (nl == 14 && !strncasecmp(line, "content-length", nl))
				rh->content_length = strtoll(v, NULL, 10);
			else if (nl == 17 &&
				 !strncasecmp(line, "transfer-encoding", nl))
				rh->chunked = !!strcasestr(v, "chunked");
			else if (nl == 10 && !strncasecmp(line, "connection", nl))
				rh->close = !strncasecmp(v, "close", 5);
			else if (nl == 11 &&
				 !strncasecmp(line, "retry-after", nl) &&
				 isdigit((unsigned char)*v))
				rh->retry_after_s = atoi(v);
		}
		line = eol + 1;
	}
	return 0;
}

/* Decode a complete chunked body in place; returns its length or -1/-2. */
static long dechunk(char *b, size_t n)
{
	size_t in = 0, out = 0;

	for (;;) {
		char *eol = memchr(b + in, '\n', n - in);
		if (!eol)
			return -2;
		unsigned long sz = strtoul(b + in, NULL, 16);
		in = (size_t)(eol - b) + 1;
		if (sz == 0) {
			/* trailers end with an empty line */
			for (;;) {
				char *e = memchr(b + in, '\n', n - in);
				if (!e)
					return -2;
				int empty = e == b + in ||
					    (e == b + in + 1 && b[in] == '\r');
				in = (size_t)(e - b) + 1;
				if (empty)
					return (long)out;
			}
		}
		if (sz > n - in || n - in - sz < 2)
			return -2;
		memmove(b + out, b + in, sz);
		out += sz;
		in += sz + 2;
	}
}

static int read_response(struct otlp_http *h, uint64_t deadline_ns,
			 struct otlp_http_result *res)
{
	size_t got = 0, cap = sizeof(h->resp);
	struct resp_head rh;
	int r, have_head = 0;

	for (;;) {
		if (!have_head) {
			r = parse_head(h->resp, got, &rh);
			if (r == -1)
				return -EPROTO;
			if (r == 0) {
				have_head = 1;
				if (rh.status >= 100 && rh.status < 200) {
					/* interim: drop it and read on */
					memmove(h->resp, h->resp + rh.head_len,
						got - rh.head_len);
					got -= rh.head_len;
					have_head = 0;
					continue;
				}
			}
		}
		if (have_head) {
			size_t body = got - rh.head_len;
			if (rh.chunked) {
				long k = dechunk(h->resp + rh.head_len, body);
				if (k >= 0) {
					res->body_len = (size_t)k;
					break;
				}
			} else if (rh.content_length >= 0 &&
				   body >= (size_t)rh.content_length) {
				res->body_len = (size_t)rh.content_length;
				break;
			} else if (rh.content_length >= 0 && got == cap) {
				/* larger than we keep: read and discard */
				res->body_len = 0;
				rh.close = 1;
				break;
			}
		}
		if (got == cap) {
			if (!have_head)
				return -EPROTO;
			res->body_len = 0;
			rh.close = 1;
			break;
		}
		int fd = io_begin(h);
		ssize_t n = fd >= 0 ? recv(fd, h->resp + got, cap - got, 0) : -1;
		int e = fd >= 0 ? errno : ECONNABORTED;
		io_end(h);
		errno = e;
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0) {
			if (have_head && !rh.chunked &&
			    rh.content_length < 0) {
				res->body_len = got - rh.head_len;
				rh.close = 1;
				break;
			}
			return got ? -EPROTO : -ECONNRESET;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		r = wait_fd(h, POLLIN, deadline_ns);
		if (r < 0)
			return r;
	}
	res->status = rh.status;
	res->retry_after_s = rh.retry_after_s;
	res->body = (const uint8_t *)h->resp + rh.head_len;
	if (rh.close)
		otlp_http_close(h);
	return 0;
}

int otlp_http_post(struct otlp_http *h, const uint8_t *body, size_t len,
		   uint64_t deadline_ns, struct otlp_http_result *res)
{
	char head[8192];
	int r = 0;

	memset(res, 0, sizeof(*res));
	res->retry_after_s = -1;
	/* an IPv6 literal goes in brackets (RFC 9110 7.2) */
	int v6 = strchr(h->host, ':') != NULL;
	int n = snprintf(head, sizeof(head),
			 "POST %s HTTP/1.1\r\n"
			 "Host: %s%s%s:%u\r\n"
			 "User-Agent: otelshim/" OTELSHIM_VERSION "\r\n"
			 "Content-Type: application/x-protobuf\r\n"
			 "Content-Length: %zu\r\n"
			 "%s\r\n",
			 h->path, v6 ? "[" : "", h->host, v6 ? "]" : "", h->port,
			 len, h->extra_headers);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		res->err = EMSGSIZE;
		return -EMSGSIZE;
	}
	/* A kept-alive connection may have been closed by the collector
	 * meanwhile: then try once more on a fresh one. */
	for (int attempt = 0; attempt < 2; attempt++) {
		int reused = __atomic_load_n(&h->fd, __ATOMIC_SEQ_CST) >= 0;
		if (!reused) {
			r = open_conn(h, deadline_ns);
			if (r < 0)
				break;
		}
		struct iovec iov[2] = {{head, (size_t)n},
				       {(void *)body, len}};
		r = send_all(h, iov, 2, deadline_ns);
		if (r == 0)
			r = read_response(h, deadline_ns, res);
		if (r == 0)
			return 0;
		otlp_http_close(h);
		if (!reused || r == -ETIMEDOUT)
			break;
	}
	res->err = -r;
	return r;
}
