/*
 * fork_threads.c - fork while other threads are in the middle of traced
 * HTTP exchanges must not deadlock, in the parent or in the children.
 *
 * Four threads make HTTP requests over loopback without pause, to a server
 * of eight threads in the same process, while the main thread forks 50
 * children (at most 8 alive at once). Each child makes one request to the
 * same server (its listening socket is inherited; the parent's threads
 * answer) and leaves with exit() (even children: atexit handlers and
 * otelshim's destructor run, and flush what the child traced) or _exit()
 * (odd children). A fork lands wherever the other threads happen to be:
 * inside a hook, in the span queue, in the exporter's start-up.
 *
 * Watchdogs: alarm(60) in the parent and alarm(30) in each child; either
 * firing prints a line and fails the test (a deadlock, not slowness: the
 * whole run takes a few seconds). same_output.py compares the output with
 * the run without the library.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loopback.h"

#define THREADS 4
#define CHILDREN 50
#define MAX_ALIVE 8

struct worker {
	pthread_t thread;
	int id;
	int ok, bad;
};

static int port;
static int stop;

static void watchdog(int sig)
{
	static const char msg[] = "watchdog: no end after 60 s: deadlock?\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(4);
	_exit(3);
}

/* One request; 1 when the expected response came back. */
static int one_request(const char *method, const char *target,
		       const char *body)
{
	char want[256];
	struct lb_reply r;

	snprintf(want, sizeof(want), "%s %s len=%zu\n", method, target,
		 body ? strlen(body) : 0);
	return lb_request(port, method, target, body, &r) == 0 &&
	       !strcmp(r.body, want);
}

static void *client(void *arg)
{
	struct worker *w = arg;
	char target[64];

	for (int n = 0; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); n++) {
		snprintf(target, sizeof(target), "/thread/%d/%d", w->id, n);
		if (one_request("GET", target, NULL))
			__atomic_add_fetch(&w->ok, 1, __ATOMIC_RELEASE);
		else
			__atomic_add_fetch(&w->bad, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void child(int i)
{
	char target[64];

	signal(SIGALRM, SIG_DFL);	/* killed by it: the parent sees it */
	alarm(30);
	snprintf(target, sizeof(target), "/child/%d", i);
	int ok = one_request("POST", target, "from a child");
	if (i % 2)
		_exit(ok ? 0 : 1);
	exit(ok ? 0 : 1);
}

/* Reap one child; count it. */
static void reap(int *ok, int *bad)
{
	int st;

	if (wait(&st) < 0) {
		perror("wait");
		(*bad)++;
		return;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		(*ok)++;
		return;
	}
	(*bad)++;
	if (WIFSIGNALED(st))
		printf("a child died of signal %d%s\n", WTERMSIG(st),
		       WTERMSIG(st) == SIGALRM ? " (its watchdog: deadlock?)"
					       : "");
	else
		printf("a child exited with %d\n", WEXITSTATUS(st));
}

int main(void)
{
	struct worker w[THREADS];
	struct timespec ms = {0, 1000000};
	int alive = 0, ok = 0, bad = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, watchdog);
	alarm(60);
	port = lb_server_start(8);
	if (port < 0)
		return 2;

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.id = i};
		if (pthread_create(&w[i].thread, NULL, client, &w[i])) {
			perror("pthread_create");
			return 2;
		}
	}
	/* every thread busy before the first fork */
	for (int i = 0; i < THREADS; i++)
		while (!__atomic_load_n(&w[i].ok, __ATOMIC_ACQUIRE) &&
		       !__atomic_load_n(&w[i].bad, __ATOMIC_ACQUIRE))
			nanosleep(&ms, NULL);

	for (int i = 0; i < CHILDREN; i++) {
		if (alive == MAX_ALIVE) {
			reap(&ok, &bad);
			alive--;
		}
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			bad++;
			continue;
		}
		if (pid == 0)
			child(i);
		alive++;
	}
	while (alive-- > 0)
		reap(&ok, &bad);

	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	int threads_ok = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(w[i].thread, NULL);
		if (w[i].ok > 0 && w[i].bad == 0)
			threads_ok++;
		else
			printf("thread %d: %d requests failed\n", i, w[i].bad);
	}
	/* the server still answers after all that */
	int after = one_request("GET", "/after", NULL);

	printf("children: %d of %d answered and exited 0\n", ok, CHILDREN);
	printf("threads: %d of %d had every request answered\n", threads_ok,
	       THREADS);
	printf("a request after the forks: %s\n", after ? "ok" : "FAILED");
	return ok == CHILDREN && threads_ok == THREADS && after ? 0 : 1;
}
