/*
 * partial_write.c - run with libotelshim.so preloaded: the bytes a server
 * receives are exactly the bytes the program wrote plus the injected
 * trace-context line, however the program's writes are split and however
 * short the kernel's writes are.
 *
 * The client is non-blocking with the smallest send buffer; the server side
 * (here, with raw system calls, so the shim does not see it) has the
 * smallest receive buffer and reads slowly, so that writes are cut at many
 * different places, inside the program's bytes and inside ours. For every
 * byte offset s of the request head, the program writes the head and a body
 * (a) with one writev of two iovecs split at s, and (b) with two separate
 * writes split at s.
 *
 * Prints "N passed, N failed" and exits non-zero on any failure.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BODY 1000

static char request[16384];
static int short_writes;	/* writes the kernel cut or refused */
static size_t request_len, head_len;

struct server {
	int lfd;
	char got[65536];
	size_t got_len;
	size_t want;	/* bytes after which the server stops */
};

/* Raw system calls: the shim must not trace the server side. */
static void *serve(void *arg)
{
	struct server *s = arg;
	int fd = (int)syscall(SYS_accept4, s->lfd, NULL, NULL, 0);

	s->got_len = 0;
	while (s->got_len < s->want) {
		struct timespec ts = {0, 50000};
		nanosleep(&ts, NULL);	/* slow reader: writes get cut */
		long n = syscall(SYS_read, fd, s->got + s->got_len, 1000);
		if (n <= 0)
			break;
		s->got_len += (size_t)n;
	}
	syscall(SYS_close, fd);
	return NULL;
}

/* Write all of iov[0..n) on a non-blocking socket, waiting for room. */
static int write_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		size_t want = 0;
		for (int i = 0; i < n; i++)
			want += iov[i].iov_len;
		ssize_t w = writev(fd, iov, n);
		if (w < 0 || (size_t)w < want)
			short_writes++;
		if (w < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -1;
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			if (poll(&p, 1, 5000) <= 0)
				return -1;
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

/*
 * The received bytes must be the request with one well-formed traceparent
 * line added inside the head, before its final CRLF.
 */
static int check(const char *got, size_t got_len, char *why, size_t cap)
{
	const char *tp = memmem(got, got_len, "\r\ntraceparent: 00-", 18);
	size_t line = 2 + 13 + 55;	/* CRLF "traceparent: " value */

	if (!tp) {
		snprintf(why, cap, "no traceparent line");
		return -1;
	}
	if (got_len != request_len + line) {
		snprintf(why, cap, "length %zu, expected %zu", got_len,
			 request_len + line);
		return -1;
	}
	size_t at = (size_t)(tp - got);
	if (at + 2 != head_len - 2) {
		snprintf(why, cap, "line at %zu, expected %zu", at,
			 head_len - 4);
		return -1;
	}
	if (memcmp(got, request, at) ||
	    memcmp(got + at + line, request + at, request_len - at)) {
		snprintf(why, cap, "bytes differ");
		return -1;
	}
	return 0;
}

static int run(int split, int separate, char *why, size_t cap)
{
	struct server s = {0};
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	pthread_t t;
	int small = 1;

	s.lfd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	/* the smallest receive buffer, set before listen to be inherited */
	syscall(SYS_setsockopt, s.lfd, SOL_SOCKET, SO_RCVBUF, &small,
		sizeof(small));
	syscall(SYS_bind, s.lfd, &a, sizeof(a));
	syscall(SYS_listen, s.lfd, 1);
	syscall(SYS_getsockname, s.lfd, &a, &al);
	s.want = request_len + 70;
	pthread_create(&t, NULL, serve, &s);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 &&
	    errno != EINPROGRESS)
		return -1;
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	poll(&p, 1, 5000);

	int r;
	if (separate) {
		struct iovec one[1] = {{request, (size_t)split}};
		struct iovec two[1] = {{request + split,
					request_len - (size_t)split}};
		r = split ? write_all(fd, one, 1) : 0;
		if (r == 0)
			r = write_all(fd, two, 1);
	} else {
		struct iovec v[2] = {{request, (size_t)split},
				     {request + split,
				      request_len - (size_t)split}};
		r = write_all(fd, v, 2);
	}
	close(fd);
	pthread_join(t, NULL);
	syscall(SYS_close, s.lfd);
	if (r < 0) {
		snprintf(why, cap, "write failed: %s", strerror(errno));
		return -1;
	}
	return check(s.got, s.got_len, why, cap);
}

int main(void)
{
	int passed = 0, failed = 0;
	char why[128];
	size_t k;

	k = (size_t)snprintf(request, sizeof(request),
			     "POST /upload?x=1 HTTP/1.1\r\n"
			     "Host: 127.0.0.1\r\n"
			     "User-Agent: partial-write-test\r\n"
			     "X-Pad: %06400d\r\n"
			     "Content-Length: %d\r\n\r\n",
			     0, BODY);
	head_len = k;
	memset(request + k, 'b', BODY);
	request_len = k + BODY;

	for (int separate = 0; separate <= 1; separate++) {
		for (int s = 0; s <= (int)head_len; s++) {
			if (run(s, separate, why, sizeof(why)) == 0) {
				passed++;
			} else {
				failed++;
				printf("split %d (%s): %s\n", s,
				       separate ? "two writes" : "one writev",
				       why);
			}
		}
	}
	/* A run without a single cut write would prove nothing. */
	printf("%d short or refused writes\n", short_writes);
	if (short_writes == 0) {
		printf("the kernel never cut a write: the test proved nothing\n");
		failed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
