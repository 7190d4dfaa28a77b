/*
 * rel_http.h - the few HTTP/1.1 client calls of the reliability programs,
 * and a reader of /proc/self/status.
 *
 * Everything goes through the ordinary libc calls (socket, connect, send,
 * recv, close), so with libotelshim.so preloaded each request is a traced
 * CLIENT span with an injected traceparent line. The server is always on
 * 127.0.0.1. Thread-safe: no shared state.
 */
#ifndef REL_HTTP_H
#define REL_HTTP_H

/* A blocking TCP connection to 127.0.0.1:port, or -1 (errno set). */
int rh_connect(int port);

/*
 * One "GET path HTTP/1.1" on fd (with "Connection: close" when close_conn)
 * and its response, read whole (Content-Length bodies). Returns the status
 * code, or -1 when no complete response arrived.
 */
int rh_get(int fd, const char *path, int close_conn);

/* One request on a fresh connection, then close(). The status, or -1. */
int rh_request(int port, const char *path);

/*
 * Load threads: each makes keep-alive requests "/PREFIX/ID/N" on
 * 127.0.0.1:port, about 1000 a second, until rh_load_stop(). An answer
 * other than 200 counts as failed, and the thread connects again.
 * rh_load_start() returns once every thread has had a first answer (or
 * failure), so that the load is on; 0, or -1 when no thread could start.
 */
struct rh_loader;
struct rh_load {
	int port;
	const char *prefix;
	int nthreads;
	int stop;
	struct rh_loader *w;
};
int rh_load_start(struct rh_load *l, int port, const char *prefix,
		  int nthreads);
/* Stop and join the threads; the requests answered 200 and the others. */
void rh_load_stop(struct rh_load *l, int *ok, int *fail);

/* A "Vm...:" field of /proc/self/status in kB (VmRSS, VmHWM), or -1. */
long rh_vm_kb(const char *field);

/* Entries of /proc/self/task: the number of threads. */
int rh_threads(void);

#endif
