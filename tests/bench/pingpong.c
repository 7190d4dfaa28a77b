/*
 * pingpong.c - the fast-path benchmark: a 64-byte message bounced between
 * two threads over a Unix socket pair or a loopback TCP connection, with a
 * protocol that is not HTTP (the first bytes are binary), so a preloaded
 * otelshim sees a socket it must leave alone after its first look.
 *
 *     pingpong unix|tcp ROUND_TRIPS
 *
 * Prints one JSON object on stdout: the wall time of the round trips, the
 * CPU time of both threads during them, and how many interposed calls
 * (send and recv, partial ones included) the two threads made.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG_SIZE 64

static long rounds;
static long echo_calls;

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

/* Receive exactly MSG_SIZE bytes; returns the number of recv calls. */
static long recv_msg(int fd, char *buf)
{
	size_t got = 0;
	long calls = 0;

	while (got < MSG_SIZE) {
		ssize_t n = recv(fd, buf + got, MSG_SIZE - got, 0);
		calls++;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("recv");
		got += (size_t)n;
	}
	return calls;
}

static long send_msg(int fd, const char *buf)
{
	size_t put = 0;
	long calls = 0;

	while (put < MSG_SIZE) {
		ssize_t n = send(fd, buf + put, MSG_SIZE - put, MSG_NOSIGNAL);
		calls++;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("send");
		put += (size_t)n;
	}
	return calls;
}

static void *echo(void *arg)
{
	int fd = *(int *)arg;
	char buf[MSG_SIZE];

	for (long i = 0; i < rounds; i++) {
		echo_calls += recv_msg(fd, buf);
		echo_calls += send_msg(fd, buf);
	}
	return NULL;
}

/* A connected loopback TCP pair, both ends with Nagle off. */
static void tcp_pair(int sv[2])
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int one = 1;
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(l, 1) < 0 || getsockname(l, (struct sockaddr *)&a, &alen) < 0)
		die("listen");
	sv[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	sv[1] = accept(l, NULL, NULL);
	if (sv[1] < 0)
		die("accept");
	close(l);
	setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(sv[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int main(int argc, char **argv)
{
	int sv[2];
	pthread_t t;
	char buf[MSG_SIZE];
	long calls = 0;

	if (argc != 3 || (strcmp(argv[1], "unix") && strcmp(argv[1], "tcp"))) {
		fprintf(stderr, "usage: pingpong unix|tcp ROUND_TRIPS\n");
		return 2;
	}
	rounds = atol(argv[2]);
	if (!strcmp(argv[1], "unix")) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
			die("socketpair");
	} else {
		tcp_pair(sv);
	}
	/* Not HTTP: a binary message, bytes 0..63. */
	for (int i = 0; i < MSG_SIZE; i++)
		buf[i] = (char)i;

	if (pthread_create(&t, NULL, echo, &sv[1]) != 0)
		die("pthread_create");
	uint64_t cpu0 = ns(CLOCK_PROCESS_CPUTIME_ID);
	uint64_t t0 = ns(CLOCK_MONOTONIC);
	for (long i = 0; i < rounds; i++) {
		calls += send_msg(sv[0], buf);
		calls += recv_msg(sv[0], buf);
	}
	uint64_t t1 = ns(CLOCK_MONOTONIC);
	pthread_join(t, NULL);
	uint64_t cpu1 = ns(CLOCK_PROCESS_CPUTIME_ID);

	printf("{\"transport\": \"%s\", \"round_trips\": %ld, "
	       "\"wall_ns\": %llu, \"cpu_ns\": %llu, \"calls\": %ld}\n",
	       argv[1], rounds, (unsigned long long)(t1 - t0),
	       (unsigned long long)(cpu1 - cpu0), calls + echo_calls);
	return 0;
}
