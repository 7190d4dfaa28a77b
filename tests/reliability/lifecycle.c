/*
 * lifecycle.c - process life-cycle programs of the reliability tests: exec,
 * vfork and posix_spawn under load, daemons, and programs that close every
 * descriptor and reuse the numbers. Requests go to an HTTP server on
 * 127.0.0.1:PORT that is not traced (tests/reliability/loadsrv.c or the
 * harness's); with libotelshim.so preloaded each is a CLIENT span.
 *
 *   lifecycle exec PORT N execve|execv|execvp|execl
 *       N requests "/exec/<i>", then the exec call named, of /bin/true.
 *
 *   lifecycle spawn PORT THREADS COUNT
 *       THREADS threads make requests "/spawn/<t>/<n>" (1000 a second
 *       each) while the main thread starts /bin/true COUNT times with
 *       vfork+execve and COUNT times with posix_spawn, waiting for each.
 *       Prints "requests N fail N children_ok N of N". Watchdog: 90 s.
 *
 *   lifecycle daemon PORT OUTDIR MODE
 *   lifecycle fdtake PORT OUTDIR MODE
 *       See daemon_main() and fdtake_main() below. MODE is how every
 *       descriptor is closed: loop (close() on each number), close_range
 *       (glibc's), sys_close_range (the raw system call, which no library
 *       can interpose), closefrom; fdtake also has dup2 (no closing: the
 *       file is dup2'd onto the exporter's number), socketpair and
 *       sys_socketpair (close() in a loop or the raw close_range, then the
 *       number is taken by one end of a Unix socket pair, whose other end
 *       the program reads). Both write OUTDIR/result last (atomically).
 *
 *   lifecycle longjmp PORT OUTDIR N
 *       The main thread's request "/longjmp/lost" is cut short by a
 *       SIGUSR1 handler that siglongjmps out (the test runs it under gdb,
 *       which delivers the signal inside the shim, while the span is being
 *       built); then a new thread makes N requests "/longjmp/after/<i>"
 *       and the program lives 4 s more. Writes requests_ok and the CPU
 *       seconds of the otel-export thread over those 4 s.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rel_http.h"

extern char **environ;

static int port;

/* fdtake opens files until one gets the exporter's number: at most this */
#define MAX_FILES 4096

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void watchdog(int sig)
{
	static const char msg[] = "watchdog: no end in time: deadlock?\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(4);
	_exit(3);
}

/* ---- exec --------------------------------------------------------------- */

static int exec_main(int argc, char **argv)
{
	char path[64];
	char *args[] = {"true", NULL};

	if (argc < 3)
		return 2;
	int n = atoi(argv[1]);
	const char *how = argv[2];
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/exec/%d", i);
		if (rh_request(port, path) != 200) {
			printf("request %s failed\n", path);
			return 1;
		}
	}
	fflush(stdout);
	if (!strcmp(how, "execve"))
		execve("/bin/true", args, environ);
	else if (!strcmp(how, "execv"))
		execv("/bin/true", args);
	else if (!strcmp(how, "execvp"))
		execvp("true", args);
	else if (!strcmp(how, "execl"))
		execl("/bin/true", "true", (char *)NULL);
	perror("exec");
	return 1;
}

/* ---- vfork and posix_spawn under load ----------------------------------- */


static int reaped_ok(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* vfork, and in the child execve: the child never returns from here. */
static pid_t __attribute__((noinline)) vfork_true(char **args)
{
	pid_t pid = vfork();

	if (pid == 0) {
		execve("/bin/true", args, environ);
		_exit(127);
	}
	return pid;
}

static int spawn_main(int argc, char **argv)
{
	char *args[] = {"true", NULL};
	int ok = 0;

	if (argc < 3)
		return 2;
	int nthreads = atoi(argv[1]);
	int count = atoi(argv[2]);
	struct rh_load load;

	signal(SIGALRM, watchdog);
	alarm(90);
	if (rh_load_start(&load, port, "spawn", nthreads) < 0)
		return 2;

	for (int i = 0; i < count; i++) {
		pid_t pid = vfork_true(args);
		if (pid > 0 && reaped_ok(pid))
			ok++;
		pid_t sp;
		if (posix_spawn(&sp, "/bin/true", NULL, NULL, args, environ) ==
			    0 &&
		    reaped_ok(sp))
			ok++;
	}
	int total, fail;
	rh_load_stop(&load, &total, &fail);
	printf("requests %d fail %d children_ok %d of %d\n", total, fail, ok,
	       2 * count);
	return fail == 0 && ok == 2 * count ? 0 : 1;
}

/* ---- closing every descriptor ------------------------------------------- */

/* The numbers of the sockets this process has open (the program's own are
 * all closed at this point: these are the exporter's). */
static int exporter_sockets(int *out, int cap)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char p[300], l[64];
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < cap) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
		ssize_t k = readlink(p, l, sizeof(l) - 1);
		if (k > 0) {
			l[k] = '\0';
			if (!strncmp(l, "socket:", 7) &&
			    atoi(e->d_name) != dirfd(d))
				out[n++] = atoi(e->d_name);
		}
	}
	closedir(d);
	return n;
}

static int close_everything(const char *mode)
{
	if (!strcmp(mode, "loop") || !strcmp(mode, "socketpair")) {
		long max = sysconf(_SC_OPEN_MAX);
		if (max < 0 || max > (1 << 20))
			max = 1 << 20;
		for (int fd = 0; fd < max; fd++)
			close(fd);
		return 0;
	}
	if (!strcmp(mode, "close_range"))
		return close_range(0, ~0U, 0);
	if (!strcmp(mode, "sys_close_range") ||
	    !strcmp(mode, "sys_socketpair"))
		return (int)syscall(SYS_close_range, 0, ~0U, 0);
	if (!strcmp(mode, "closefrom")) {
		closefrom(0);
		return 0;
	}
	errno = EINVAL;
	return -1;
}

/* stdin, stdout and stderr on /dev/null, as a daemon does. */
static void null_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd != 0 && fd >= 0) {
		dup2(fd, 0);
		close(fd);
	}
	dup2(0, 1);
	dup2(0, 2);
}

static int write_all(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* OUTDIR/result, written through a temporary name then renamed. */
static void write_result(const char *outdir, const char *text)
{
	char tmp[4096], fin[4096];

	snprintf(tmp, sizeof(tmp), "%s/result.tmp", outdir);
	snprintf(fin, sizeof(fin), "%s/result", outdir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	write_all(fd, text);
	close(fd);
	rename(tmp, fin);
}

static int requests(const char *what, int from, int n)
{
	char path[128];
	int ok = 0;

	for (int i = from; i < from + n; i++) {
		snprintf(path, sizeof(path), "/%s/%d", what, i);
		if (rh_request(port, path) == 200)
			ok++;
	}
	return ok;
}

static void fd_list(char *out, size_t cap, const int *fds, int n)
{
	size_t k = 0;

	out[0] = '\0';
	for (int i = 0; i < n && k < cap; i++)
		k += (size_t)snprintf(out + k, cap - k, "%s%d", i ? "," : "",
				      fds[i]);
}

/*
 * The daemon: the parent makes one request and exits; the child calls
 * setsid and forks again; the grandchild (the daemon) makes a request,
 * waits for its export (its exporter now has a collector connection),
 * closes every descriptor (MODE), puts stdin/stdout/stderr on /dev/null,
 * opens OUTDIR/log and OUTDIR/data (which get the lowest numbers: those
 * the exporter's socket had, if it had any), then makes requests and
 * writes its own lines to both files, twice, with exports in between. The
 * files must hold exactly those lines.
 */
static int daemon_main(int argc, char **argv)
{
	char path[4096], res[4096], socks[256];
	int sk[16];

	if (argc < 3)
		return 2;
	const char *outdir = argv[1], *mode = argv[2];

	signal(SIGPIPE, SIG_IGN);
	if (rh_request(port, "/daemon/parent") != 200)
		return 1;
	sleep_ms(300);
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid > 0)
		exit(0);
	setsid();
	pid = fork();
	if (pid < 0)
		_exit(1);
	if (pid > 0)
		exit(0);
	if (chdir("/") < 0)
		_exit(1);
	umask(022);

	int ok = requests("daemon/before", 0, 1);
	sleep_ms(500);
	int nsk = exporter_sockets(sk, 16);
	fd_list(socks, sizeof(socks), sk, nsk);
	int cr = close_everything(mode);
	null_stdio();
	snprintf(path, sizeof(path), "%s/log", outdir);
	int logfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	snprintf(path, sizeof(path), "%s/data", outdir);
	int datafd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	int wok = 1;
	wok &= !write_all(logfd, "daemon log line 1\n");
	wok &= !write_all(datafd, "daemon data line 1\n");
	ok += requests("daemon/after", 0, 3);
	sleep_ms(500);
	wok &= !write_all(logfd, "daemon log line 2\n");
	wok &= !write_all(datafd, "daemon data line 2\n");
	ok += requests("daemon/after", 3, 1);
	sleep_ms(300);
	wok &= !write_all(logfd, "daemon log line 3\n");
	wok &= !write_all(datafd, "daemon data line 3\n");
	int cl = close(logfd) == 0 && close(datafd) == 0;

	snprintf(res, sizeof(res),
		 "pid %d\nexporter_sockets %s\nclose_result %d\nlog_fd %d\n"
		 "data_fd %d\nwrites_ok %d\ncloses_ok %d\nrequests_ok %d\n",
		 (int)getpid(), socks, cr, logfd, datafd, wok, cl, ok);
	write_result(outdir, res);
	exit(0);
}

/*
 * One process: two requests, a wait for their export (the exporter keeps
 * its collector connection open), then it notes the exporter's socket
 * numbers (the sockets in /proc/self/fd: the program's own are closed) and
 * takes the highest over. MODE: close everything, put stdin, stdout and
 * stderr on /dev/null, and open files OUTDIR/f<k> (lowest numbers first)
 * until one gets that number or a higher one (if the library still holds
 * it); or dup2 a file onto it; or, for the socket pair modes, give that
 * number to one end of a socket pair. Then it writes its own data to every
 * descriptor and makes requests, with exports in between, three times.
 * Each file must hold exactly "own data <k> <i>\n" for i = 1..3, the
 * other end of the socket pair must read exactly that, every write and
 * close must succeed. OUTDIR/result says what happened; OUTDIR/peer holds
 * what the other end read.
 */
static int fdtake_main(int argc, char **argv)
{
	char path[4096], res[4096], socks[256], line[128];
	int sk[16], peer = -1;
	static int fds[MAX_FILES];
	int nf = 0, took = 0, target;

	if (argc < 3)
		return 2;
	const char *outdir = argv[1], *mode = argv[2];

	signal(SIGPIPE, SIG_IGN);
	int ok = requests("fdtake/before", 0, 2);
	sleep_ms(500);
	int nsk = exporter_sockets(sk, 16);
	fd_list(socks, sizeof(socks), sk, nsk);
	target = 0;
	for (int i = 0; i < nsk; i++)
		if (sk[i] > target)
			target = sk[i];

	int cr = 0;
	if (!strcmp(mode, "dup2")) {
		snprintf(path, sizeof(path), "%s/f0", outdir);
		int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (nsk > 0) {
			cr = dup2(f, target);
			took = cr == target;
			close(f);
			fds[nf++] = target;
		} else {
			fds[nf++] = f;
		}
	} else {
		cr = close_everything(mode);
		null_stdio();
		/* numbers come lowest first: the next is one past the last */
		int next = 3;
		while (nf < MAX_FILES) {
			int fd;
			if (next >= target && strstr(mode, "socketpair")) {
				/* this number goes to a socket pair instead */
				int sv[2];
				if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
					break;
				fd = sv[0];
				peer = sv[1];
				fcntl(peer, F_SETFL, O_NONBLOCK);
			} else {
				snprintf(path, sizeof(path), "%s/f%d", outdir,
					 nf);
				fd = open(path, O_WRONLY | O_CREAT | O_TRUNC,
					  0644);
				if (fd < 0)
					break;
			}
			fds[nf++] = fd;
			next = fd + 1;
			if (fd == target)
				took = 1;
			if (fd >= target)
				break;
		}
	}

	int wok = 1;
	char werr[128] = "none";
	for (int i = 1; i <= 3; i++) {
		for (int k = 0; k < nf; k++) {
			snprintf(line, sizeof(line), "own data %d %d\n", k, i);
			if (write_all(fds[k], line) < 0 && wok) {
				wok = 0;
				snprintf(werr, sizeof(werr), "write(%d)=%s",
					 fds[k], strerror(errno));
			}
		}
		if (i < 3) {
			ok += requests("fdtake/after", (i - 1) * 3, 3);
			sleep_ms(i == 1 ? 600 : 300);
		}
	}
	/* socketpair: what reached the other end of the last pair */
	char got[8192];
	ssize_t gl = 0;
	if (peer >= 0) {
		for (;;) {
			ssize_t r = read(peer, got + gl,
					 sizeof(got) - 1 - (size_t)gl);
			if (r <= 0)
				break;
			gl += r;
		}
		got[gl] = '\0';
		snprintf(path, sizeof(path), "%s/peer", outdir);
		int pf = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (pf >= 0) {
			if (gl > 0 && write(pf, got, (size_t)gl) < 0)
				gl = -gl;
			close(pf);
		}
	}
	int cl = 1;
	char clerr[128] = "none";
	for (int k = 0; k < nf; k++)
		if (close(fds[k]) < 0 && cl) {
			cl = 0;
			snprintf(clerr, sizeof(clerr), "close(%d)=%s", fds[k],
				 strerror(errno));
		}

	size_t n = (size_t)snprintf(
		res, sizeof(res),
		"pid %d\nexporter_sockets %s\ntarget %d\nclose_result %d\n"
		"files %d\ntook_over %d\nwrites_ok %d\ncloses_ok %d\n"
		"close_error %s\nwrite_error %s\nrequests_ok %d\n",
		(int)getpid(), socks, target, cr, nf, took, wok, cl, clerr,
		werr, ok);
	if (peer >= 0) {
		snprintf(line, sizeof(line), "own data %d 1\nown data %d 2\n"
					     "own data %d 3\n",
			 nf - 1, nf - 1, nf - 1);
		n += (size_t)snprintf(res + n, sizeof(res) - n,
				      "peer_bytes %zd\npeer_ok %d\n", gl,
				      !strcmp(got, line));
	}
	write_result(outdir, res);
	return 0;
}

/* ---- threads and signals ------------------------------------------------ */

static volatile int sig_on_exporter, sig_total;
static pid_t exporter_tid;

static void on_usr1(int sig)
{
	(void)sig;
	int e = errno;
	sig_total++;
	if ((pid_t)syscall(SYS_gettid) == exporter_tid)
		sig_on_exporter++;
	errno = e;
}

/* The value of key in /proc/self/task/TID/status ("?" if none). */
static void task_status(pid_t tid, const char *key, char *out, size_t cap)
{
	char p[64], line[256];

	snprintf(out, cap, "?");
	snprintf(p, sizeof(p), "/proc/self/task/%d/status", (int)tid);
	FILE *f = fopen(p, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, strlen(key)))
			continue;
		const char *v = line + strlen(key);
		v += strspn(v, " \t");
		snprintf(out, cap, "%.*s", (int)strcspn(v, " \t\n"), v);
		break;
	}
	fclose(f);
}

/*
 * The size of the mapping that holds the exporter thread's stack pointer
 * while it waits in a system call (/proc/self/task/TID/syscall gives it),
 * in KiB; 0 if unknown.
 */
static long stack_mapping_kib(pid_t tid)
{
	char p[64], buf[512];
	unsigned long sp = 0;

	snprintf(p, sizeof(p), "/proc/self/task/%d/syscall", (int)tid);
	FILE *f = fopen(p, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f)) {
		/* "nr a1 a2 a3 a4 a5 a6 sp pc" */
		char *tok = strtok(buf, " ");
		for (int i = 0; tok && i < 7; i++)
			tok = strtok(NULL, " ");
		if (tok)
			sp = strtoul(tok, NULL, 16);
	}
	fclose(f);
	f = fopen("/proc/self/maps", "r");
	if (!f || !sp)
		return f ? (fclose(f), 0) : 0;
	long kib = 0;
	while (fgets(buf, sizeof(buf), f)) {
		unsigned long lo, hi;
		if (sscanf(buf, "%lx-%lx", &lo, &hi) == 2 && lo <= sp &&
		    sp < hi) {
			kib = (long)((hi - lo) / 1024);
			break;
		}
	}
	fclose(f);
	return kib;
}

/*
 * One process: a request (the exporter thread starts), then the exporter
 * thread's blocked signals and stack, and 200 SIGUSR1 sent to the process
 * while it makes requests: none may be handled on the exporter thread.
 */
static int threads_main(int argc, char **argv)
{
	char res[2048], comm[64], blk[64], p[320];

	if (argc < 2)
		return 2;
	const char *outdir = argv[1];
	int ok = requests("threads/before", 0, 1);
	sleep_ms(300);
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(p, "r");
		if (f && fgets(comm, sizeof(comm), f) &&
		    !strncmp(comm, "otel-export", 11))
			exporter_tid = atoi(e->d_name);
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	task_status(exporter_tid, "SigBlk:", blk, sizeof(blk));
	long kib = exporter_tid ? stack_mapping_kib(exporter_tid) : 0;
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < 200; i++) {
		kill(getpid(), SIGUSR1);
		if (i % 50 == 0)
			ok += requests("threads/during", i / 50, 1);
	}
	sleep_ms(300);
	snprintf(res, sizeof(res),
		 "exporter_tid %d\nsigblk %s\nstack_kib %ld\n"
		 "signals %d\non_exporter %d\nrequests_ok %d\n",
		 (int)exporter_tid, blk, kib, sig_total, sig_on_exporter, ok);
	write_result(outdir, res);
	return 0;
}

/* One data call on fd, as "return/errno". */
static void touch_one(int fd, int file, int which, char *out, size_t cap)
{
	char b[64] = "GET / HTTP/1.1\r\n\r\n";
	struct iovec v = {b, 16};
	struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	off_t off = 0;
	long r = 0;

	errno = 0;
	switch (which) {
	case 0: r = read(fd, b, sizeof(b)); break;
	case 1: r = write(fd, b, 16); break;
	case 2: r = send(fd, b, 16, MSG_DONTWAIT | MSG_NOSIGNAL); break;
	case 3: r = recv(fd, b, sizeof(b), MSG_DONTWAIT); break;
	case 4: r = recv(fd, b, sizeof(b), MSG_DONTWAIT | MSG_PEEK); break;
	case 5: r = recvfrom(fd, b, sizeof(b), MSG_DONTWAIT,
			     (struct sockaddr *)&ss, &sl); break;
	case 6: r = sendto(fd, b, 16, MSG_DONTWAIT | MSG_NOSIGNAL, NULL, 0);
		break;
	case 7: r = readv(fd, &v, 1); break;
	case 8: r = writev(fd, &v, 1); break;
	case 9: r = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL); break;
	case 10: r = recvmsg(fd, &m, MSG_DONTWAIT); break;
	case 11: r = sendfile(fd, file, &off, 16); break;
	case 12: r = close(fd); break;
	}
	snprintf(out, cap, "%ld/%s", r, r < 0 ? strerrorname_np(errno) : "-");
}

/*
 * The program reaches the exporter's socket by number (as a buggy or
 * all-closing program might): every data call on it, and close, must give
 * what it gives on a number that is not open, and the exporter's stream
 * must stay whole (the spans made before and after all arrive).
 * OUTDIR/result: "call <name> <on the socket> <on a closed number>".
 */
static int fdtouch_main(int argc, char **argv)
{
	static const char *const names[] = {
		"read", "write", "send", "recv", "recv_peek", "recvfrom",
		"sendto", "readv", "writev", "sendmsg", "recvmsg", "sendfile",
		"close"};
	char res[8192], socks[256], a[64], c[64], path[4096];
	int sk[16];

	if (argc < 2)
		return 2;
	const char *outdir = argv[1];

	signal(SIGPIPE, SIG_IGN);
	int ok = requests("fdtouch/before", 0, 2);
	sleep_ms(500);
	int nsk = exporter_sockets(sk, 16);
	fd_list(socks, sizeof(socks), sk, nsk);
	int target = -1;
	for (int i = 0; i < nsk; i++)
		if (sk[i] > target)
			target = sk[i];
	/* a number nobody holds */
	int closed = target + 1;
	while (fcntl(closed, F_GETFD) >= 0)
		closed++;
	snprintf(path, sizeof(path), "%s/data", outdir);
	int file = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (file < 0 || write(file, "sixteen bytes..\n", 16) != 16)
		return 1;

	size_t n = (size_t)snprintf(res, sizeof(res),
				    "exporter_sockets %s\ntarget %d\n", socks,
				    target);
	for (int w = 0; target >= 0 && w < (int)(sizeof(names) /
						  sizeof(names[0])); w++) {
		touch_one(target, file, w, a, sizeof(a));
		touch_one(closed, file, w, c, sizeof(c));
		n += (size_t)snprintf(res + n, sizeof(res) - n,
				      "call_%s %s %s\n", names[w], a, c);
	}
	ok += requests("fdtouch/after", 0, 3);
	sleep_ms(600);
	snprintf(res + n, sizeof(res) - n, "still_open %d\nrequests_ok %d\n",
		 target >= 0 && fcntl(target, F_GETFD) >= 0, ok);
	close(file);
	write_result(outdir, res);
	return 0;
}

/* ---- a signal handler that leaves a hook by siglongjmp --------------- */

static sigjmp_buf jump_env;

static void jump_out(int sig)
{
	(void)sig;
	siglongjmp(jump_env, 1);
}

static void *after_thread(void *arg)
{
	return (void *)(intptr_t)requests("longjmp/after", 0,
					 (int)(intptr_t)arg);
}

/* CPU seconds used so far by the thread named otel-export, or -1. */
static double exporter_cpu(void)
{
	char path[300], buf[1024];
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	double cpu = -1;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat",
			 e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		/* pid (comm) state ... utime is field 14, stime 15 */
		char *rp = strrchr(buf, ')');
		if (!strstr(buf, "(otel-export)") || !rp)
			continue;
		unsigned long ut = 0, st = 0;
		if (sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
			   "%*u %lu %lu", &ut, &st) == 2)
			cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	}
	closedir(d);
	return cpu;
}

static int longjmp_main(int argc, char **argv)
{
	char res[512];
	struct sigaction sa;
	pthread_t t;
	void *ok = NULL;

	if (argc < 3)
		return 2;
	const char *outdir = argv[1];
	int n = atoi(argv[2]);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = jump_out;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	volatile int jumped = 0;
	if (sigsetjmp(jump_env, 1) == 0)
		rh_request(port, "/longjmp/lost");
	else
		jumped = 1;
	/* This thread left a hook half-way: a new one makes the requests. */
	pthread_create(&t, NULL, after_thread, (void *)(intptr_t)n);
	pthread_join(t, &ok);
	double c0 = exporter_cpu();
	sleep_ms(4000);
	double c1 = exporter_cpu();
	snprintf(res, sizeof(res),
		 "jumped %d\nrequests_ok %d\nexporter_cpu_s %.2f\n", jumped,
		 (int)(intptr_t)ok, c0 >= 0 && c1 >= 0 ? c1 - c0 : -1.0);
	write_result(outdir, res);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: lifecycle exec|spawn|daemon|fdtake "
				"PORT ...\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	port = atoi(argv[2]);
	argv[2] = argv[1];
	if (!strcmp(argv[1], "exec"))
		return exec_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "spawn"))
		return spawn_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "daemon"))
		return daemon_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "fdtake"))
		return fdtake_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "threads"))
		return threads_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "fdtouch"))
		return fdtouch_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "longjmp"))
		return longjmp_main(argc - 2, argv + 2);
	fprintf(stderr, "lifecycle: unknown command %s\n", argv[1]);
	return 2;
}
