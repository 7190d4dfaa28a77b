/*
 * sink.c - a discarding OTLP/HTTP collector for the benchmarks.
 *
 *     sink [PORT]
 *
 * Listens on 127.0.0.1 (an ephemeral port by default), prints "PORT <n>",
 * and answers every POST with 200 and an empty body (a full success in
 * OTLP/HTTP), on kept-alive connections, one thread, poll(2). It counts
 * requests, body bytes and spans (walking ExportTraceServiceRequest ->
 * ResourceSpans -> ScopeSpans -> Span on the wire, nothing decoded
 * further); "GET /stats" answers those counters as JSON. Bodies may come
 * with Content-Length or chunked; gzip bodies are counted, not walked.
 * Exits on SIGTERM or when its standard input is closed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 256
#define MAX_BODY (64u << 20)

struct client {
	int fd;
	char *buf;
	size_t len, cap;
};

static struct client clients[MAX_CONNS];
static unsigned long long n_requests, n_bytes, n_spans;

/* A protobuf varint at *p (< end); 0 when truncated. */
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 1;
	}
	return 0;
}

/*
 * Count the length-delimited fields numbered `field` in buf, descending
 * into them for the next level of path; returns the count at the last
 * level. Other fields are skipped by wire type.
 */
static unsigned long long count(const uint8_t *p, const uint8_t *end,
				const int *path, int depth)
{
	unsigned long long n = 0;

	while (p < end) {
		uint64_t key, len;
		if (!varint(&p, end, &key))
			break;
		switch (key & 7) {
		case 0:
			if (!varint(&p, end, &len))
				return n;
			break;
		case 1:
			p += 8;
			break;
		case 5:
			p += 4;
			break;
		case 2:
			if (!varint(&p, end, &len) || len > (uint64_t)(end - p))
				return n;
			if ((int)(key >> 3) == path[0])
				n += depth == 1 ? 1
						: count(p, p + len, path + 1,
							depth - 1);
			p += len;
			break;
		default:
			return n;
		}
	}
	return n;
}

static void reply(int fd, const char *status, const char *type,
		  const char *body)
{
	char out[512];
	int len = snprintf(out, sizeof(out),
			   "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
			   "Content-Length: %zu\r\n\r\n%s",
			   status, type, strlen(body), body);

	/* Small answers to a client that reads them: one send is enough. */
	if (send(fd, out, (size_t)len, MSG_NOSIGNAL) < 0)
		return;
}

/* The value of header name in the head, or NULL. */
static const char *header(const char *head, size_t len, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = head; p && p < head + len;) {
		const char *line = memchr(p, '\n', (size_t)(head + len - p));
		if (!line)
			break;
		line++;
		if ((size_t)(head + len - line) > nl &&
		    !strncasecmp(line, name, nl) && line[nl] == ':')
			return line + nl + 1;
		p = line;
	}
	return NULL;
}

/*
 * Decode a chunked body in place from buf[0..len). Returns the bytes of
 * the message consumed (body and trailer), 0 if incomplete, -1 if bad;
 * *out_len gets the decoded length.
 */
static long dechunk(char *buf, size_t len, size_t *out_len)
{
	size_t r = 0, w = 0;

	for (;;) {
		char *eol = memmem(buf + r, len - r, "\r\n", 2);
		if (!eol)
			return 0;
		unsigned long size = strtoul(buf + r, NULL, 16);
		size_t data = (size_t)(eol - buf) + 2;
		if (size == 0) {
			char *end = memmem(buf + r, len - r, "\r\n\r\n", 4);
			if (!end)
				return 0;
			*out_len = w;
			return (long)(end - buf) + 4;
		}
		if (size > MAX_BODY || data + size + 2 > len)
			return size > MAX_BODY ? -1 : 0;
		memmove(buf + w, buf + data, size);
		w += size;
		r = data + size + 2;
	}
}

/*
 * Handle the complete requests at the start of c's buffer. Returns -1 to
 * drop the connection.
 */
static int serve(struct client *c)
{
	static const int spans_path[] = {1, 2, 2};

	for (;;) {
		char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
		if (!end)
			return c->len > 65536 ? -1 : 0;
		size_t head = (size_t)(end - c->buf) + 4;
		size_t body_len = 0, used;
		const char *cl = header(c->buf, head, "Content-Length");
		const char *te = header(c->buf, head, "Transfer-Encoding");
		const char *ce = header(c->buf, head, "Content-Encoding");
		int gzip = ce && strstr(ce, "gzip");

		if (te && strstr(te, "chunked")) {
			/* Decode a copy: the original may be incomplete. */
			size_t rest = c->len - head;
			char *tmp = malloc(rest ? rest : 1);
			if (!tmp)
				return -1;
			memcpy(tmp, c->buf + head, rest);
			long k = dechunk(tmp, rest, &body_len);
			if (k <= 0) {
				free(tmp);
				return k < 0 ? -1 : 0;
			}
			if (!gzip)
				n_spans += count((uint8_t *)tmp,
						 (uint8_t *)tmp + body_len,
						 spans_path, 3);
			free(tmp);
			used = head + (size_t)k;
		} else {
			body_len = cl ? strtoul(cl, NULL, 10) : 0;
			if (body_len > MAX_BODY)
				return -1;
			if (c->len - head < body_len)
				return 0;
			if (!gzip)
				n_spans += count((uint8_t *)c->buf + head,
						 (uint8_t *)c->buf + head +
							 body_len,
						 spans_path, 3);
			used = head + body_len;
		}

		if (!strncmp(c->buf, "GET /stats", 10)) {
			char body[256];
			snprintf(body, sizeof(body),
				 "{\"requests\": %llu, \"bytes\": %llu, "
				 "\"spans\": %llu}\n",
				 n_requests, n_bytes, n_spans);
			reply(c->fd, "200 OK", "application/json", body);
		} else {
			n_requests++;
			n_bytes += body_len;
			reply(c->fd, "200 OK", "application/x-protobuf", "");
		}
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
	}
}

static void drop(struct client *c)
{
	close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	struct pollfd pfd[MAX_CONNS + 2];
	int one = 1;
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (argc > 1)
		a.sin_port = htons((uint16_t)atoi(argv[1]));
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(l, 128) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) < 0) {
		perror("sink: listen");
		return 1;
	}
	for (int i = 0; i < MAX_CONNS; i++)
		clients[i].fd = -1;
	printf("PORT %d\n", ntohs(a.sin_port));
	fflush(stdout);

	for (;;) {
		int n = 0;
		int idx[MAX_CONNS];
		pfd[n++] = (struct pollfd){.fd = 0, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = l, .events = POLLIN};
		for (int i = 0; i < MAX_CONNS; i++)
			if (clients[i].fd >= 0) {
				idx[n - 2] = i;
				pfd[n++] = (struct pollfd){.fd = clients[i].fd,
							   .events = POLLIN};
			}
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (pfd[0].revents) {
			char b[64];
			if (read(0, b, sizeof(b)) <= 0)
				return 0;
		}
		if (pfd[1].revents & POLLIN) {
			int fd = accept(l, NULL, NULL);
			int slot = -1;
			for (int i = 0; fd >= 0 && i < MAX_CONNS; i++)
				if (clients[i].fd < 0) {
					slot = i;
					break;
				}
			if (slot < 0 && fd >= 0)
				close(fd);
			else if (fd >= 0)
				clients[slot].fd = fd;
		}
		for (int k = 2; k < n; k++) {
			struct client *c = &clients[idx[k - 2]];
			if (!pfd[k].revents)
				continue;
			if (c->cap - c->len < 65536) {
				size_t cap = c->cap ? c->cap * 2 : 262144;
				char *b = cap > MAX_BODY + 65536
						  ? NULL
						  : realloc(c->buf, cap);
				if (!b) {
					drop(c);
					continue;
				}
				c->buf = b;
				c->cap = cap;
			}
			ssize_t r = recv(c->fd, c->buf + c->len,
					 c->cap - c->len, 0);
			if (r <= 0) {
				if (r < 0 && errno == EINTR)
					continue;
				drop(c);
				continue;
			}
			c->len += (size_t)r;
			if (serve(c) < 0)
				drop(c);
		}
	}
}
