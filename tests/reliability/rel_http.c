/*
 * rel_http.c - see rel_http.h.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rel_http.h"

int rh_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((unsigned short)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (;;) {
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		if (errno != EINTR)
			break;
	}
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

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

int rh_get(int fd, const char *path, int close_conn)
{
	char req[512], buf[8192];
	size_t have = 0;
	long body = -1;
	int status = -1;
	char *end = NULL;

	struct sockaddr_in peer;
	socklen_t pl = sizeof(peer);

	if (getpeername(fd, (struct sockaddr *)&peer, &pl) < 0)
		return -1;
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n",
			 path, ntohs(peer.sin_port),
			 close_conn ? "Connection: close\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(req) || send_all(fd, req, (size_t)n))
		return -1;
	for (;;) {
		if (!end) {
			end = memmem(buf, have, "\r\n\r\n", 4);
			if (end) {
				if (have < 12 || strncmp(buf, "HTTP/1.", 7))
					return -1;
				status = atoi(buf + 9);
				body = 0;
				for (char *l = strstr(buf, "\r\n"); l && l < end;
				     l = strstr(l + 2, "\r\n"))
					if (!strncasecmp(l + 2, "content-length:",
							 15))
						body = atol(l + 17);
				end += 4;
			}
		}
		if (end && (long)(have - (size_t)(end - buf)) >= body)
			return status;
		if (have == sizeof(buf)) {
			/* a body larger than the buffer: keep its tail only */
			if (!end)
				return -1;
			size_t head = (size_t)(end - buf);
			body -= (long)(have - head);
			have = head;
		}
		ssize_t r = recv(fd, buf + have, sizeof(buf) - have, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		have += (size_t)r;
	}
}

int rh_request(int port, const char *path)
{
	int fd = rh_connect(port);

	if (fd < 0)
		return -1;
	int st = rh_get(fd, path, 1);
	close(fd);
	return st;
}

long rh_vm_kb(const char *field)
{
	char line[256];
	size_t fl = strlen(field);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, fl) && line[fl] == ':') {
			v = atol(line + fl + 1);
			break;
		}
	fclose(f);
	return v;
}

int rh_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

struct rh_loader {
	pthread_t t;
	struct rh_load *l;
	int id;
	int ok, fail;
};

static void *load_thread(void *arg)
{
	struct rh_loader *w = arg;
	char path[96];
	int fd = -1;

	for (int n = 0; !__atomic_load_n(&w->l->stop, __ATOMIC_ACQUIRE); n++) {
		struct timespec pace = {0, 1000000};
		nanosleep(&pace, NULL);	/* about 1000 spans/s per thread */
		snprintf(path, sizeof(path), "/%s/%d/%d", w->l->prefix, w->id,
			 n);
		if (fd < 0)
			fd = rh_connect(w->l->port);
		int st = fd < 0 ? -1 : rh_get(fd, path, 0);
		if (st == 200) {
			__atomic_add_fetch(&w->ok, 1, __ATOMIC_RELEASE);
		} else {
			__atomic_add_fetch(&w->fail, 1, __ATOMIC_RELEASE);
			if (fd >= 0)
				close(fd);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

int rh_load_start(struct rh_load *l, int port, const char *prefix,
		  int nthreads)
{
	struct timespec ms = {0, 1000000};

	l->port = port;
	l->prefix = prefix;
	l->stop = 0;
	l->nthreads = 0;
	l->w = calloc((size_t)(nthreads > 0 ? nthreads : 1), sizeof(*l->w));
	if (!l->w)
		return -1;
	for (int i = 0; i < nthreads; i++) {
		l->w[i].l = l;
		l->w[i].id = i;
		if (pthread_create(&l->w[i].t, NULL, load_thread, &l->w[i]))
			break;
		l->nthreads++;
	}
	for (int i = 0; i < l->nthreads; i++)
		while (!__atomic_load_n(&l->w[i].ok, __ATOMIC_ACQUIRE) &&
		       !__atomic_load_n(&l->w[i].fail, __ATOMIC_ACQUIRE))
			nanosleep(&ms, NULL);
	return nthreads > 0 && l->nthreads == 0 ? -1 : 0;
}

void rh_load_stop(struct rh_load *l, int *ok, int *fail)
{
	*ok = *fail = 0;
	__atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < l->nthreads; i++) {
		pthread_join(l->w[i].t, NULL);
		*ok += l->w[i].ok;
		*fail += l->w[i].fail;
	}
	free(l->w);
	l->w = NULL;
}
