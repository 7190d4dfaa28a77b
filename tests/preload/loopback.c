/*
 * loopback.c - the loopback HTTP/1.1 server and client of the preload tests
 * (see loopback.h).
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopback.h"

#define BUF_SIZE 16384

static int listen_fd = -1;

/* Send all of buf, retrying short sends. */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The end of the head in buf (just past the blank line), or 0. */
static size_t head_end(const char *buf, size_t len)
{
	const char *p = memmem(buf, len, "\r\n\r\n", 4);

	return p ? (size_t)(p - buf) + 4 : 0;
}

/*
 * The value of header name in head[0..len), copied to out (NUL-terminated,
 * truncated). Returns 1 when found.
 */
static int header(const char *head, size_t len, const char *name, char *out,
		  size_t cap)
{
	size_t nl = strlen(name);
	const char *p = memchr(head, '\n', len);

	while (p && (size_t)(p + 1 - head) < len) {
		const char *line = p + 1;
		size_t left = len - (size_t)(line - head);
		p = memchr(line, '\n', left);
		if (left > nl && !strncasecmp(line, name, nl) &&
		    line[nl] == ':') {
			const char *v = line + nl + 1;
			const char *end = p ? p : head + len;
			while (v < end && *v == ' ')
				v++;
			while (end > v && (end[-1] == '\r' || end[-1] == ' '))
				end--;
			size_t n = (size_t)(end - v);
			if (n >= cap)
				n = cap - 1;
			memcpy(out, v, n);
			out[n] = 0;
			return 1;
		}
	}
	return 0;
}

/* Read more into buf[*have..cap). Returns the count, 0 at EOF, -1. */
static ssize_t fill(int fd, char *buf, size_t *have, size_t cap)
{
	ssize_t n;

	if (*have >= cap)
		return -1;
	do
		n = recv(fd, buf + *have, cap - *have, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		*have += (size_t)n;
	return n;
}

/* Serve requests on fd until the client closes or asks to. */
static void serve_conn(int fd)
{
	char buf[BUF_SIZE], v[64];
	size_t have = 0;

	for (;;) {
		size_t hl;
		while (!(hl = head_end(buf, have)))
			if (fill(fd, buf, &have, sizeof(buf)) <= 0)
				return;

		char method[32] = "", target[128] = "";
		if (sscanf(buf, "%31s %127s", method, target) != 2)
			return;
		size_t clen = 0;
		if (header(buf, hl, "Content-Length", v, sizeof(v)))
			clen = strtoul(v, NULL, 10);
		int close_after = header(buf, hl, "Connection", v, sizeof(v)) &&
				  !strcasecmp(v, "close");
		int tp = header(buf, hl, "traceparent", v, sizeof(v));
		if (hl + clen > sizeof(buf))
			return;
		while (have < hl + clen)
			if (fill(fd, buf, &have, sizeof(buf)) <= 0)
				return;

		if (!strcmp(target, "/hang")) {
			while (fill(fd, buf, &(size_t){0}, sizeof(buf)) > 0)
				;
			return;
		}

		char body[256], resp[512];
		int bl = snprintf(body, sizeof(body), "%s %s len=%zu\n", method,
				  target, clen);
		int rl = snprintf(resp, sizeof(resp),
				  "HTTP/1.1 200 OK\r\n"
				  "Content-Type: text/plain\r\n"
				  "Content-Length: %d\r\n"
				  "X-Saw-Traceparent: %s\r\n"
				  "%s\r\n%s",
				  bl, tp ? "yes" : "no",
				  close_after ? "Connection: close\r\n" : "",
				  body);
		if (send_all(fd, resp, (size_t)rl) < 0 || close_after)
			return;
		have -= hl + clen;
		memmove(buf, buf + hl + clen, have);
	}
}

static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(listen_fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("loopback: accept");
			return NULL;
		}
		serve_conn(fd);
		close(fd);
	}
}

int lb_server_start(int nthreads)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);

	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, al) < 0 ||
	    listen(listen_fd, 128) < 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&a, &al) < 0) {
		perror("loopback: listen");
		return -1;
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_t t;
		int e = pthread_create(&t, NULL, serve, NULL);
		if (e) {
			fprintf(stderr, "loopback: pthread_create: %s\n",
				strerror(e));
			return -1;
		}
		pthread_detach(t);
	}
	return ntohs(a.sin_port);
}

int lb_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int lb_send_request(int fd, const char *method, const char *target,
		    const char *body, int close_it)
{
	char req[1024];
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\n"
			 "Host: 127.0.0.1\r\n"
			 "User-Agent: otelshim-preload-test\r\n"
			 "%s"
			 "Content-Length: %zu\r\n\r\n%s",
			 method, target,
			 close_it ? "Connection: close\r\n" : "",
			 body ? strlen(body) : 0, body ? body : "");

	if (n < 0 || (size_t)n >= sizeof(req)) {
		errno = EMSGSIZE;
		return -1;
	}
	return send_all(fd, req, (size_t)n);
}

int lb_read_response(int fd, struct lb_reply *r)
{
	char buf[BUF_SIZE], v[64];
	size_t have = 0, hl;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	while (!(hl = head_end(buf, have))) {
		n = fill(fd, buf, &have, sizeof(buf));
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			return -1;
		}
	}
	int status = 0;
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
		errno = EPROTO;
		return -1;
	}
	size_t clen = 0;
	if (header(buf, hl, "Content-Length", v, sizeof(v)))
		clen = strtoul(v, NULL, 10);
	r->saw_traceparent = header(buf, hl, "X-Saw-Traceparent", v,
				    sizeof(v)) && !strcmp(v, "yes");
	if (hl + clen > sizeof(buf)) {
		errno = EPROTO;
		return -1;
	}
	while (have < hl + clen) {
		n = fill(fd, buf, &have, sizeof(buf));
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			return -1;
		}
	}
	r->body_len = clen < sizeof(r->body) - 1 ? clen : sizeof(r->body) - 1;
	memcpy(r->body, buf + hl, r->body_len);
	r->body[r->body_len] = 0;
	r->status = status;
	return 0;
}

int lb_request(int port, const char *method, const char *target,
	       const char *body, struct lb_reply *r)
{
	int fd = lb_connect(port);
	int ret = -1;

	memset(r, 0, sizeof(*r));
	if (fd < 0)
		return -1;
	if (lb_send_request(fd, method, target, body, 1) == 0 &&
	    lb_read_response(fd, r) == 0 && r->status == 200)
		ret = 0;
	int e = errno;
	close(fd);
	errno = e;
	return ret;
}
