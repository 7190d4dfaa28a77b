/*
 * forkstorm.c - fork many times while threads create spans.
 *
 *   forkstorm PORT THREADS FORKS
 *
 * THREADS threads make requests "/p/<t>/<n>" (about 1000 a second each) on
 * kept-alive connections to an untraced server at 127.0.0.1:PORT, while the
 * main thread forks FORKS times (at most 8 children alive). Even children
 * make one request "/c/<i>/<their pid>" on a fresh connection and leave
 * with exit() (otelshim's destructor flushes it); odd ones leave at once
 * with _exit().
 * A fork therefore lands anywhere: inside a hook, in the span queue, in
 * the exporter's start-up or in the middle of an export.
 *
 * Prints "parent <pid> requests <n> fail <n> children_ok <n> of <n>".
 * Watchdogs: alarm(150) in the parent, alarm(30) in each child; either
 * firing fails (a deadlock, not slowness).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rel_http.h"

#define MAX_ALIVE 8

static int port;

static void watchdog(int sig)
{
	static const char msg[] = "watchdog: no end after 150 s: deadlock?\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(4);
	_exit(3);
}

static void child(int i)
{
	char path[64];

	signal(SIGALRM, SIG_DFL);
	alarm(30);
	if (i % 2)
		_exit(0);
	snprintf(path, sizeof(path), "/c/%d/%d", i, (int)getpid());
	exit(rh_request(port, path) == 200 ? 0 : 1);
}

static void reap(int *ok)
{
	int st;

	while (wait(&st) < 0)
		if (errno != EINTR)
			return;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		(*ok)++;
	else if (WIFSIGNALED(st))
		printf("a child died of signal %d%s\n", WTERMSIG(st),
		       WTERMSIG(st) == SIGALRM ? " (watchdog: deadlock?)" : "");
	else
		printf("a child exited with %d\n", WEXITSTATUS(st));
}

int main(int argc, char **argv)
{
	int alive = 0, ok = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: forkstorm PORT THREADS FORKS\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	port = atoi(argv[1]);
	int nthreads = atoi(argv[2]);
	int forks = atoi(argv[3]);
	struct rh_load load;

	signal(SIGALRM, watchdog);
	alarm(150);
	if (rh_load_start(&load, port, "p", nthreads) < 0)
		return 2;

	for (int i = 0; i < forks; i++) {
		if (alive == MAX_ALIVE) {
			reap(&ok);
			alive--;
		}
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			continue;
		}
		if (pid == 0)
			child(i);
		alive++;
	}
	while (alive-- > 0)
		reap(&ok);
	int total, fail;
	rh_load_stop(&load, &total, &fail);
	printf("parent %d requests %d fail %d children_ok %d of %d\n",
	       (int)getpid(), total, fail, ok, forks);
	return fail == 0 && ok == forks ? 0 : 1;
}
