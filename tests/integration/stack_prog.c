/*
 * stack_prog.c - the traced program of test_stacktrace.py: named functions
 * (noinline, noclone, never in tail position, so that each keeps a frame
 * of its own at -O2) that make the calls otelshim turns into spans, so
 * that the test can find them, in order, in the spans' stacks and as
 * code.function.name. Built twice, with and without frame pointers.
 *
 *     stack_prog http PORT PATH...    GET each path from 127.0.0.1:PORT
 *                                     over a raw socket (one connection
 *                                     each); prints each status (0: the
 *                                     exchange failed), then the three
 *                                     lowest free descriptors
 *                                     ("nextfds 3 4 5"), then for each
 *                                     pipe above 2 (libunwind's, which
 *                                     the program never opened) what a
 *                                     write and a read on it return
 *                                     ("pipe FD write -1/EBADF read
 *                                     -1/EBADF")
 *     stack_prog pg CONNINFO [REFUSED_PORT]
 *                                     with libpq: a query of a missing
 *                                     table, a slow one (pg_sleep(0.6)),
 *                                     a fast one; then, with REFUSED_PORT,
 *                                     a connection to that closed port
 *
 * libpq's functions are declared here (its ABI), so that only the library,
 * not its development headers, is needed.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NAMED __attribute__((noinline, noclone))
/* Keeps a call out of tail position: the caller's frame stays. */
#define BARRIER() __asm__ volatile("" ::: "memory")

/* ---- HTTP over a raw socket ------------------------------------------------ */

NAMED static int http_get(int port, const char *path)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port)};
	char req[512], resp[4096];
	int fd, status = 0;
	size_t got = 0;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return 0;
	}
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			 "Connection: close\r\n\r\n", path, port);
	if (send(fd, req, (size_t)n, 0) != n) {
		close(fd);
		return 0;
	}
	for (;;) {
		ssize_t k = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
		if (k <= 0)
			break;
		got += (size_t)k;
		if (got == sizeof(resp) - 1)
			got = 0;	/* only the status line matters */
	}
	resp[got] = '\0';
	if (!strncmp(resp, "HTTP/1.", 7) && strlen(resp) > 12)
		status = atoi(resp + 9);
	close(fd);
	BARRIER();
	return status;
}

NAMED static int fetch_report(int port, const char *path)
{
	int status = http_get(port, path);

	BARRIER();
	return status;
}

static int http_main(int argc, char **argv)
{
	int port = atoi(argv[2]);

	for (int i = 3; i < argc; i++) {
		int status = fetch_report(port, argv[i]);
		BARRIER();
		printf("%s %d\n", argv[i], status);
	}
	/* the lowest free descriptors: nothing of the shim's may sit there */
	int fds[3];
	for (int i = 0; i < 3; i++)
		fds[i] = dup(0);
	printf("nextfds %d %d %d\n", fds[0], fds[1], fds[2]);
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	/* pipes the program never opened: a write, then a read (which finds
	   that byte if the write went through, so it never blocks) */
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int pipes[8], np = 0;
	while (d && (e = readdir(d)) && np < 8) {
		char p[300], l[64];
		snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
		ssize_t k = readlink(p, l, sizeof(l) - 1);
		if (k > 0 && atoi(e->d_name) > 2 && atoi(e->d_name) != dirfd(d)) {
			l[k] = '\0';
			if (!strncmp(l, "pipe:", 5))
				pipes[np++] = atoi(e->d_name);
		}
	}
	if (d)
		closedir(d);
	for (int i = 0; i < np; i++) {
		char b[1] = {'x'};
		errno = 0;
		long w = write(pipes[i], b, 1);
		int we = errno;
		errno = 0;
		long r = read(pipes[i], b, 1);
		printf("pipe %d write %ld/%s read %ld/%s\n", pipes[i], w,
		       w < 0 ? strerrorname_np(we) : "-", r,
		       r < 0 ? strerrorname_np(errno) : "-");
	}
	return 0;
}

/* ---- PostgreSQL through libpq --------------------------------------------- */

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
PGconn *PQconnectdb(const char *conninfo);
int PQstatus(const PGconn *conn);
char *PQerrorMessage(const PGconn *conn);
void PQfinish(PGconn *conn);
PGresult *PQexec(PGconn *conn, const char *query);
int PQresultStatus(const PGresult *res);
void PQclear(PGresult *res);

#define CONNECTION_OK 0
#define PGRES_TUPLES_OK 2

/* Global functions, beside the static ones (both are in .symtab). */
int query_slow(PGconn *c);
int nightly_job(PGconn *c);

NAMED static int run_query(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int st = PQresultStatus(r);

	PQclear(r);
	BARRIER();
	return st;
}

NAMED static int query_missing_table(PGconn *c)
{
	PGresult *r = PQexec(c, "SELECT * FROM no_such_table");
	int st = PQresultStatus(r);

	PQclear(r);
	BARRIER();
	return st;
}

NAMED static int report_orders(PGconn *c)
{
	int st = query_missing_table(c);

	BARRIER();
	return st;
}

NAMED int query_slow(PGconn *c)
{
	PGresult *r = PQexec(c, "SELECT pg_sleep(0.6)");
	int st = PQresultStatus(r);

	PQclear(r);
	BARRIER();
	return st;
}

NAMED int nightly_job(PGconn *c)
{
	int st = query_slow(c);

	BARRIER();
	return st;
}

NAMED static int query_fast(PGconn *c)
{
	int st = run_query(c, "SELECT 1");

	BARRIER();
	return st;
}

NAMED static int connect_inventory(int port)
{
	char info[128];

	snprintf(info, sizeof(info),
		 "host=127.0.0.1 port=%d user=nobody dbname=nobody "
		 "connect_timeout=5", port);
	PGconn *c = PQconnectdb(info);
	int ok = c && PQstatus(c) == CONNECTION_OK;
	PQfinish(c);
	BARRIER();
	return ok;
}

static int pg_main(int argc, char **argv)
{
	PGconn *c = PQconnectdb(argv[2]);

	if (!c || PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "stack_prog: %s", c ? PQerrorMessage(c) : "?");
		return 1;
	}
	printf("missing %d\n", report_orders(c));
	printf("slow %d\n", nightly_job(c));
	printf("fast %d\n", query_fast(c));
	PQfinish(c);
	if (argc > 3)
		printf("refused %d\n", connect_inventory(atoi(argv[3])));
	return 0;
}

int main(int argc, char **argv)
{
	int r = 2;

	if (argc >= 3 && !strcmp(argv[1], "http"))
		r = http_main(argc, argv);
	else if (argc >= 3 && !strcmp(argv[1], "pg"))
		r = pg_main(argc, argv);
	else
		fprintf(stderr, "usage: stack_prog http PORT PATH... | "
				"pg CONNINFO [REFUSED_PORT]\n");
	BARRIER();
	return r;
}
