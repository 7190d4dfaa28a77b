/*
 * spawn.c - the start-up benchmark: run a program N times without and N
 * times with a library preloaded, alternating, and time each run from
 * posix_spawn to the end of waitpid.
 *
 *     spawn N LIBRARY PROGRAM [ARGS...]
 *
 * The caller's environment is passed on, without LD_PRELOAD for the plain
 * runs and with LD_PRELOAD=LIBRARY for the others. Prints one JSON object:
 * for each variant the median, 10th and 90th percentile and the mean of
 * the run times, in nanoseconds.
 */
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static uint64_t ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void print_stats(const char *name, uint64_t *t, long n, int last)
{
	uint64_t sum = 0;

	qsort(t, (size_t)n, sizeof(*t), cmp);
	for (long i = 0; i < n; i++)
		sum += t[i];
	printf("\"%s\": {\"median_ns\": %llu, \"p10_ns\": %llu, "
	       "\"p90_ns\": %llu, \"mean_ns\": %llu}%s",
	       name, (unsigned long long)t[n / 2],
	       (unsigned long long)t[n / 10],
	       (unsigned long long)t[n * 9 / 10],
	       (unsigned long long)(sum / (uint64_t)n), last ? "" : ", ");
}

static int run(char **argv, char **envp, uint64_t *out)
{
	pid_t pid;
	int status;
	uint64_t t0 = ns();

	if (posix_spawn(&pid, argv[0], NULL, NULL, argv, envp) != 0)
		return -1;
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	*out = ns() - t0;
	return 0;
}

int main(int argc, char **argv)
{
	long n, k = 0;
	size_t ne = 0;

	if (argc < 4 || (n = atol(argv[1])) <= 0) {
		fprintf(stderr, "usage: spawn N LIBRARY PROGRAM [ARGS...]\n");
		return 2;
	}
	while (environ[ne])
		ne++;
	char **plain = calloc(ne + 1, sizeof(char *));
	char **preload = calloc(ne + 2, sizeof(char *));
	uint64_t *t_plain = calloc((size_t)n, sizeof(uint64_t));
	uint64_t *t_preload = calloc((size_t)n, sizeof(uint64_t));
	size_t lp = strlen(argv[2]) + sizeof("LD_PRELOAD=");
	char *ld = malloc(lp);
	if (!plain || !preload || !t_plain || !t_preload || !ld)
		return 1;
	snprintf(ld, lp, "LD_PRELOAD=%s", argv[2]);
	for (size_t i = 0; i < ne; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11)) {
			plain[k] = environ[i];
			preload[k++] = environ[i];
		}
	preload[k] = ld;

	for (long i = 0; i < n; i++) {
		if (run(argv + 3, plain, &t_plain[i]) < 0 ||
		    run(argv + 3, preload, &t_preload[i]) < 0) {
			fprintf(stderr, "spawn: %s failed\n", argv[3]);
			return 1;
		}
	}
	printf("{\"runs\": %ld, ", n);
	print_stats("without", t_plain, n, 0);
	print_stats("with", t_preload, n, 1);
	printf("}\n");
	return 0;
}
