/*
 * loadgen.c - many threads making HTTP requests as fast as they can: the
 * load, flood and timing programs of the reliability tests.
 *
 *   loadgen PORT THREADS REQUESTS keepalive|close [PREFIX]
 *
 * Each of THREADS threads makes REQUESTS requests "GET /PREFIX/<t>/<n>"
 * to 127.0.0.1:PORT, on one kept-alive connection (reopened after an
 * error) or on a fresh connection each ("close"). Then it prints one line:
 *
 *   ok N fail N ms N rss_start_kb N hwm_kb N rss_kb N threads N
 *
 * (ms: the requests' wall time, from before the first thread starts to
 * after the last ends; rss_start_kb: VmRSS before any request; hwm_kb and
 * rss_kb: VmHWM and VmRSS after the last request, before exit; threads:
 * the process's threads at that point.) Exit status 0 when every request
 * got a 200.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rel_http.h"

static int port, requests, keepalive;
static const char *prefix = "l";

struct worker {
	pthread_t t;
	int id;
	int ok, fail;
};

static void *run(void *arg)
{
	struct worker *w = arg;
	char path[128];
	int fd = -1;

	for (int n = 0; n < requests; n++) {
		snprintf(path, sizeof(path), "/%s/%d/%d", prefix, w->id, n);
		int st;
		if (keepalive) {
			if (fd < 0)
				fd = rh_connect(port);
			st = fd < 0 ? -1 : rh_get(fd, path, 0);
			if (st < 0 && fd >= 0) {
				close(fd);
				fd = -1;
			}
		} else {
			st = rh_request(port, path);
		}
		if (st == 200)
			w->ok++;
		else
			w->fail++;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: loadgen PORT THREADS REQUESTS "
				"keepalive|close [PREFIX]\n");
		return 2;
	}
	port = atoi(argv[1]);
	int nthreads = atoi(argv[2]);
	requests = atoi(argv[3]);
	keepalive = !strcmp(argv[4], "keepalive");
	if (argc > 5)
		prefix = argv[5];

	struct worker *w = calloc((size_t)nthreads, sizeof(*w));
	long rss_start = rh_vm_kb("VmRSS");
	double t0 = now_ms();
	for (int i = 0; i < nthreads; i++) {
		w[i].id = i;
		if (pthread_create(&w[i].t, NULL, run, &w[i])) {
			perror("pthread_create");
			return 2;
		}
	}
	int ok = 0, fail = 0;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(w[i].t, NULL);
		ok += w[i].ok;
		fail += w[i].fail;
	}
	double t1 = now_ms();
	printf("ok %d fail %d ms %.0f rss_start_kb %ld hwm_kb %ld rss_kb %ld "
	       "threads %d\n",
	       ok, fail, t1 - t0, rss_start, rh_vm_kb("VmHWM"),
	       rh_vm_kb("VmRSS"), rh_threads());
	return fail ? 1 : 0;
}
