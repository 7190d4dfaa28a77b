/*
 * early_main.c - hooks before otelshim's constructor and after its
 * destructor, and exit() from a thread while another thread is blocked in
 * recv() on a traced socket.
 *
 *   early_main return       main makes an exchange and returns
 *   early_main thread-exit  main sends a request the server never answers
 *                           and blocks in recv(); a second thread waits
 *                           until main is inside the recvfrom system call
 *                           (/proc/self/task/TID/syscall) and calls exit(0)
 *
 * In both, an atexit handler makes one more exchange (it runs before the
 * library destructors, so its span is still exported), and the linked
 * early library (early_lib.h) makes one in its constructor and one in its
 * destructor. same_output.py requires the same output and exit status with
 * and without otelshim preloaded: no crash, no hang, nothing changed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "early_lib.h"
#include "loopback.h"

static pid_t main_tid;

static void exchange(const char *who, const char *target)
{
	struct lb_reply r;
	int rc = lb_request(early_port(), "GET", target, NULL, &r);

	printf("%s: %s, status %d, body %s", who, rc == 0 ? "ok" : "FAILED",
	       r.status, r.body_len ? r.body : "(none)\n");
	fflush(stdout);
}

static void at_exit(void)
{
	exchange("atexit handler", "/main/atexit");
}

/* Whether thread tid is inside system call nr now. */
static int in_syscall(pid_t tid, long nr)
{
	char path[64], buf[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	int got = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	return got && strtol(buf, NULL, 10) == nr;
}

static void *exiter(void *arg)
{
	struct timespec ms = {0, 1000000};
	int seen = 0;

	(void)arg;
	/* up to 10 s; then exit anyway (the test is weaker, not wrong) */
	for (int i = 0; i < 10000 && !seen; i++) {
		int r = in_syscall(main_tid, SYS_recvfrom);
		if (r < 0)
			break;
		seen = r;
		if (!seen)
			nanosleep(&ms, NULL);
	}
	if (!seen)
		fprintf(stderr, "early_main: could not see main blocked in "
				"recvfrom\n");
	printf("thread: main is blocked in recv; calling exit(0)\n");
	fflush(stdout);
	exit(0);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "return";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (early_port() < 0)
		return 2;
	atexit(at_exit);
	exchange("main", "/main");

	if (!strcmp(mode, "return"))
		return 0;
	if (strcmp(mode, "thread-exit")) {
		fprintf(stderr, "usage: early_main [return|thread-exit]\n");
		return 2;
	}

	int fd = lb_connect(early_port());
	if (fd < 0 || lb_send_request(fd, "GET", "/hang", NULL, 0) < 0) {
		perror("early_main: /hang");
		return 2;
	}
	main_tid = (pid_t)syscall(SYS_gettid);
	pthread_t t;
	if (pthread_create(&t, NULL, exiter, NULL)) {
		perror("early_main: pthread_create");
		return 2;
	}
	struct lb_reply r;
	lb_read_response(fd, &r);	/* blocks until the process exits */
	printf("main: recv returned: the process should have exited\n");
	return 1;
}
