/*
 * hook_exec.c - starting programs: exec* and posix_spawn*. When a span is
 * the current context (the request being served, or the context this
 * process was itself started with), the new program's environment carries
 * it in TRACEPARENT/TRACESTATE (envcarrier.h). Nothing else changes: the
 * same function is called with the same arguments, and its result and errno
 * are the program's.
 *
 * execl*() are variadic: their arguments are gathered into an array on the
 * stack (at most 4096) and passed to the vector form, as glibc does.
 */
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <unistd.h>

#include "context.h"
#include "exporter.h"
#include "envcarrier.h"
#include "guard.h"
#include "init.h"
#include "real.h"

#define EXPORT __attribute__((visibility("default")))
#define MAX_ARGS 4096

/* The environment to pass: envp, or a copy carrying the context. */
static char *const *carry(struct envcarrier *ec, char *const envp[])
{
	struct span_ctx parent, link;

	if (guard_active() || !init_is_active())
		return envp;
	int saved_errno = errno;
	context_parent(NULL, &parent, &link);
	char *const *env = envcarrier_build(ec, envp, &parent);
	errno = saved_errno;
	return env;
}

/*
 * Before the image is replaced: the spans still queued would vanish with
 * it, so export them first (bounded by OTELSHIM_EXIT_FLUSH_TIMEOUT; free
 * when nothing is queued, as in the usual fork-then-exec child).
 */
static char *const *carry_exec(struct envcarrier *ec, char *const envp[])
{
	if (!guard_active() && init_is_active()) {
		int saved_errno = errno;
		guard_enter();
		exporter_flush();
		guard_leave();
		errno = saved_errno;
	}
	return carry(ec, envp);
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	struct envcarrier ec;

	return REAL(execve)(path, argv, carry_exec(&ec, envp));
}

EXPORT int execv(const char *path, char *const argv[])
{
	struct envcarrier ec;

	return REAL(execve)(path, argv, carry_exec(&ec, environ));
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	struct envcarrier ec;

	return REAL(execvpe)(file, argv, carry_exec(&ec, envp));
}

EXPORT int execvp(const char *file, char *const argv[])
{
	struct envcarrier ec;

	return REAL(execvpe)(file, argv, carry_exec(&ec, environ));
}

/* Gather the variadic arguments after arg0; -1 (E2BIG) past MAX_ARGS. */
static int gather(char **argv, const char *arg0, va_list ap)
{
	int n = 0;

	argv[n++] = (char *)arg0;
	while (argv[n - 1]) {
		if (n == MAX_ARGS) {
			errno = E2BIG;
			return -1;
		}
		argv[n++] = va_arg(ap, char *);
	}
	return n;
}

EXPORT int execl(const char *path, const char *arg0, ...)
{
	char *argv[MAX_ARGS];
	va_list ap;

	va_start(ap, arg0);
	int n = gather(argv, arg0, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	return execv(path, argv);
}

EXPORT int execlp(const char *file, const char *arg0, ...)
{
	char *argv[MAX_ARGS];
	va_list ap;

	va_start(ap, arg0);
	int n = gather(argv, arg0, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	return execvp(file, argv);
}

EXPORT int execle(const char *path, const char *arg0, ...)
{
	char *argv[MAX_ARGS];
	va_list ap;

	va_start(ap, arg0);
	int n = gather(argv, arg0, ap);
	char *const *envp = n < 0 ? NULL : va_arg(ap, char *const *);
	va_end(ap);
	if (n < 0)
		return -1;
	return execve(path, argv, envp);
}

EXPORT int posix_spawn(pid_t *pid, const char *path,
		       const posix_spawn_file_actions_t *fa,
		       const posix_spawnattr_t *attr, char *const argv[],
		       char *const envp[])
{
	struct envcarrier ec;

	return REAL(posix_spawn)(pid, path, fa, attr, argv, carry(&ec, envp));
}

EXPORT int posix_spawnp(pid_t *pid, const char *file,
			const posix_spawn_file_actions_t *fa,
			const posix_spawnattr_t *attr, char *const argv[],
			char *const envp[])
{
	struct envcarrier ec;

	return REAL(posix_spawnp)(pid, file, fa, attr, argv,
				  carry(&ec, envp));
}
