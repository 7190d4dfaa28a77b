/*
 * loadsrv.c - a small, fast HTTP/1.1 server for the reliability tests. It
 * is never preloaded: it only answers, as fast as it can, so that the
 * traced clients are the bottleneck.
 *
 *   loadsrv            prints "PORT <n>" (127.0.0.1, an ephemeral port),
 *                      then serves until its standard input closes
 *
 * One thread per connection; keep-alive unless the request says
 * "Connection: close". Every request gets "200 ok\n" (a body given with
 * Content-Length is read and discarded). Requests must fit in 64 KiB.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 65536

static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
static const char ok_close[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
			       "Connection: close\r\n\r\nok\n";

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A header's value as a number, or -1; and whether a token is in it. */
static long header_num(const char *head, const char *end, const char *name)
{
	size_t nl = strlen(name);

	for (const char *l = strstr(head, "\r\n"); l && l < end;
	     l = strstr(l + 2, "\r\n"))
		if (!strncasecmp(l + 2, name, nl) && l[2 + nl] == ':')
			return atol(l + 3 + nl);
	return -1;
}

static int header_has(const char *head, const char *end, const char *name,
		      const char *token)
{
	size_t nl = strlen(name);

	for (const char *l = strstr(head, "\r\n"); l && l < end;
	     l = strstr(l + 2, "\r\n")) {
		if (strncasecmp(l + 2, name, nl) || l[2 + nl] != ':')
			continue;
		const char *e = strstr(l + 2, "\r\n");
		size_t tl = strlen(token);
		for (const char *v = l + 3 + nl; v + tl <= e; v++)
			if (!strncasecmp(v, token, tl))
				return 1;
	}
	return 0;
}

static void *serve(void *arg)
{
	int fd = (int)(long)arg;
	char *buf = malloc(BUF + 1);
	size_t have = 0;

	while (buf) {
		char *end;
		buf[have] = '\0';
		while (!(end = strstr(buf, "\r\n\r\n"))) {
			if (have == BUF)
				goto out;
			ssize_t r = recv(fd, buf + have, BUF - have, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				goto out;
			have += (size_t)r;
			buf[have] = '\0';
		}
		size_t used = (size_t)(end + 4 - buf);
		long body = header_num(buf, end, "content-length");
		int closing = header_has(buf, end, "connection", "close");
		if (body > 0 && (size_t)body <= have - used) {
			used += (size_t)body;
		} else if (body > 0) {
			/* the rest of the body is still on the wire */
			body -= (long)(have - used);
			used = have;
			while (body > 0) {
				ssize_t r = recv(fd, buf,
						 body < BUF ? (size_t)body : BUF,
						 0);
				if (r < 0 && errno == EINTR)
					continue;
				if (r <= 0)
					goto out;
				body -= r;
			}
		}
		memmove(buf, buf + used, have - used);
		have -= used;
		if (closing) {
			send_all(fd, ok_close, sizeof(ok_close) - 1);
			break;
		}
		if (send_all(fd, ok, sizeof(ok) - 1))
			break;
	}
out:
	free(buf);
	close(fd);
	return NULL;
}

static void *watch_stdin(void *arg)
{
	char b[256];

	(void)arg;
	while (read(0, b, sizeof(b)) > 0)
		;
	_exit(0);
}

int main(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int one = 1;
	pthread_attr_t attr;
	pthread_t t;

	signal(SIGPIPE, SIG_IGN);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(lfd, 1024) || getsockname(lfd, (struct sockaddr *)&a, &al)) {
		perror("loadsrv");
		return 1;
	}
	printf("PORT %d\n", ntohs(a.sin_port));
	fflush(stdout);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_create(&t, &attr, watch_stdin, NULL);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EMFILE || errno == ENFILE)
				continue;
			perror("accept");
			return 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&t, &attr, serve, (void *)(long)fd))
			close(fd);
	}
}
