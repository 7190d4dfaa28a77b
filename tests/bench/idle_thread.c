/*
 * idle_thread.so: a preload that starts one thread which never runs, and
 * does nothing else. scripts/bench preloads it into nginx to measure what
 * any in-process exporter thread costs a program before it does any work:
 * once a process has a second thread, glibc takes its multi-threaded paths
 * (each cancellable system call enables and disables asynchronous
 * cancellation; malloc and free use their locked paths).
 */
#include <pthread.h>
#include <unistd.h>

static void *idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

__attribute__((constructor)) static void idle_thread_start(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, idle, NULL) == 0)
		pthread_detach(t);
}
