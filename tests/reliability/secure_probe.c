/*
 * secure_probe.c - what libotelshim.so does in a secure-execution process.
 *
 *   secure_probe LIB PORT
 *
 * The loader ignores LD_PRELOAD with a path for setuid programs, so this
 * program loads the library itself with dlopen (which the loader allows in
 * secure mode: the path comes from the program, not from the environment)
 * and makes one HTTP request to 127.0.0.1:PORT through the library's own
 * socket, connect, send, recv and close (dlsym), that is through its hooks.
 * Run setuid (the test makes a setuid copy and runs it as another user),
 * getauxval(AT_SECURE) is 1 and the library must stay inert: no warning
 * for bad OTEL_* values, no header added, no span, no exporter thread.
 * Run plainly, the same program shows the library active (the control).
 *
 * Prints "at_secure N", "status N" (the response's status code),
 * "threads N" (threads after the request, when an active library would
 * have started its exporter thread) and "uid R E".
 */
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rel_http.h"

typedef int (*socket_fn)(int, int, int);
typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef ssize_t (*send_fn)(int, const void *, size_t, int);
typedef ssize_t (*recv_fn)(int, void *, size_t, int);
typedef int (*close_fn)(int);

int main(int argc, char **argv)
{
	static const char req[] = "GET /ok/secure HTTP/1.1\r\n"
				  "Host: 127.0.0.1\r\n"
				  "Connection: close\r\n\r\n";
	char buf[4096];
	size_t have = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: secure_probe LIB PORT\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("at_secure %lu\n", getauxval(AT_SECURE));
	printf("uid %d %d\n", (int)getuid(), (int)geteuid());
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		printf("dlopen failed: %s\n", dlerror());
		return 1;
	}
	socket_fn so = (socket_fn)dlsym(h, "socket");
	connect_fn co = (connect_fn)dlsym(h, "connect");
	send_fn se = (send_fn)dlsym(h, "send");
	recv_fn re = (recv_fn)dlsym(h, "recv");
	close_fn cl = (close_fn)dlsym(h, "close");
	if (!so || !co || !se || !re || !cl) {
		printf("dlsym failed\n");
		return 1;
	}
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((unsigned short)atoi(argv[2])),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = so(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || co(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    se(fd, req, sizeof(req) - 1, 0) != (ssize_t)sizeof(req) - 1) {
		printf("request failed\n");
		return 1;
	}
	for (;;) {
		ssize_t r = re(fd, buf + have, sizeof(buf) - 1 - have, 0);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	buf[have] = '\0';
	cl(fd);
	printf("status %d\n", have > 12 ? atoi(buf + 9) : -1);
	/* an active library starts its exporter thread on the first span */
	struct timespec ts = {0, 200000000};
	nanosleep(&ts, NULL);
	printf("threads %d\n", rh_threads());
	return 0;
}
