/*
 * httpbench.c - the HTTP request benchmark's two programs, and a probe of
 * a process's resident memory.
 *
 *     httpbench server            listen on 127.0.0.1 (ephemeral port),
 *                                 print "PORT <n>", serve one keep-alive
 *                                 connection until the client closes it
 *     httpbench client PORT N [PATH]
 *                                 make N keep-alive GET requests of PATH
 *                                 (default /api/items?id=42), one at a
 *                                 time, then close
 *     httpbench idle MS           sleep MS milliseconds (an idle process)
 *     httpbench socket            open a TCP socket and close it, so that
 *                                 the shim binds the real functions (a
 *                                 process's first interposed call)
 *
 * Each prints one JSON object on stdout at the end: the number of requests,
 * the wall time, the CPU time of the main thread (the program's only
 * thread: everything else is otelshim's exporter thread), and the resident
 * memory now and at its peak (VmRSS and VmHWM from /proc/self/status).
 *
 * Single-threaded and blocking on purpose: the application's CPU is then
 * exactly the main thread's, and whatever the process spends beyond it
 * (from the parent's wait4() rusage) is the exporter's.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 16384

static const char response[] =
	"HTTP/1.1 200 OK\r\n"
	"Content-Type: text/plain\r\n"
	"Content-Length: 6\r\n"
	"\r\n"
	"hello\n";

static uint64_t ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

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

/* A kB figure of /proc/self/status ("VmRSS:"), or -1. */
static long status_kb(const char *field)
{
	char line[256];
	long v = -1;
	size_t fl = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, fl)) {
			v = atol(line + fl);
			break;
		}
	fclose(f);
	return v;
}

static void report(const char *role, long requests, uint64_t wall_ns)
{
	struct rusage ru;

	/* the main thread's CPU split into user and kernel time (the
	   kernel's split is sampled at its clock tick, then scaled to the
	   exact total) */
	if (getrusage(RUSAGE_THREAD, &ru) < 0)
		memset(&ru, 0, sizeof(ru));
	printf("{\"role\": \"%s\", \"requests\": %ld, \"wall_ns\": %llu, "
	       "\"main_cpu_ns\": %llu, \"main_user_ns\": %llu, "
	       "\"main_sys_ns\": %llu, \"rss_kb\": %ld, \"hwm_kb\": %ld}\n",
	       role, requests, (unsigned long long)wall_ns,
	       (unsigned long long)ns(CLOCK_THREAD_CPUTIME_ID),
	       (unsigned long long)ru.ru_utime.tv_sec * 1000000000ull +
		       (unsigned long long)ru.ru_utime.tv_usec * 1000ull,
	       (unsigned long long)ru.ru_stime.tv_sec * 1000000000ull +
		       (unsigned long long)ru.ru_stime.tv_usec * 1000ull,
	       status_kb("VmRSS:"), status_kb("VmHWM:"));
	fflush(stdout);
}

/* The end of the head in buf (just past the blank line), or 0. */
static size_t head_end(const char *buf, size_t len)
{
	const char *p = memmem(buf, len, "\r\n\r\n", 4);

	return p ? (size_t)(p - buf) + 4 : 0;
}

static int server(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	char buf[BUF_SIZE];
	size_t have = 0;
	long served = 0;
	int one = 1;
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(l, 16) < 0 || getsockname(l, (struct sockaddr *)&a, &alen) < 0)
		die("listen");
	printf("PORT %d\n", ntohs(a.sin_port));
	fflush(stdout);
	int fd = accept(l, NULL, NULL);
	if (fd < 0)
		die("accept");
	uint64_t t0 = ns(CLOCK_MONOTONIC);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (;;) {
		size_t end;
		/* Requests have no body: a head is a request. */
		while ((end = head_end(buf, have)) > 0) {
			if (send_all(fd, response, sizeof(response) - 1) < 0)
				die("send");
			served++;
			memmove(buf, buf + end, have - end);
			have -= end;
		}
		if (have == sizeof(buf)) {
			fprintf(stderr, "httpbench: request head too large\n");
			return 1;
		}
		ssize_t n = recv(fd, buf + have, sizeof(buf) - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("recv");
		if (n == 0)
			break;
		have += (size_t)n;
	}
	uint64_t t1 = ns(CLOCK_MONOTONIC);
	close(fd);
	close(l);
	report("server", served, t1 - t0);
	return 0;
}

/* The Content-Length of a response head (0 when absent). */
static size_t content_length(const char *head, size_t len)
{
	const char *p = head;

	while ((p = memchr(p, '\n', (size_t)(head + len - p))) != NULL) {
		p++;
		if ((size_t)(head + len - p) > 15 &&
		    !strncasecmp(p, "Content-Length:", 15))
			return (size_t)strtoul(p + 15, NULL, 10);
	}
	return 0;
}

static int client(int port, long requests, const char *path)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char req[256];
	char buf[BUF_SIZE];
	int one = 1;
	int len = snprintf(req, sizeof(req),
			   "GET %s HTTP/1.1\r\n"
			   "Host: 127.0.0.1:%d\r\n"
			   "User-Agent: otelshim-bench/1\r\n"
			   "Accept: */*\r\n"
			   "\r\n",
			   path, port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	uint64_t t0 = ns(CLOCK_MONOTONIC);
	for (long i = 0; i < requests; i++) {
		size_t have = 0, want = 0;
		if (send_all(fd, req, (size_t)len) < 0)
			die("send");
		/* One response with a Content-Length body, nothing after. */
		while (want == 0 || have < want) {
			if (have == sizeof(buf)) {
				fprintf(stderr, "httpbench: response too large\n");
				return 1;
			}
			ssize_t n = recv(fd, buf + have, sizeof(buf) - have, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				die("recv");
			have += (size_t)n;
			size_t end = head_end(buf, have);
			if (end && !want)
				want = end + content_length(buf, end);
		}
	}
	uint64_t t1 = ns(CLOCK_MONOTONIC);
	close(fd);
	report("client", requests, t1 - t0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "server"))
		return server();
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "client"))
		return client(atoi(argv[2]), atol(argv[3]),
			      argc == 5 ? argv[4] : "/api/items?id=42");
	if (argc == 3 && !strcmp(argv[1], "idle")) {
		usleep((useconds_t)atol(argv[2]) * 1000u);
		report("idle", 0, 0);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "socket")) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			return 1;
		close(fd);
		return 0;
	}
	fprintf(stderr, "usage: httpbench server | client PORT N [PATH] | "
			"idle MS | socket\n");
	return 2;
}
