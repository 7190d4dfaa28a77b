/*
 * log.c - the library's one logger: "otelshim[exe:pid]: message" lines on
 * stderr. Quiet by default for anything below warnings.
 *
 * It never allocates (fixed buffer), preserves errno, and writes with
 * write(2), which inside the preloaded shim is the interposed write: the
 * shim's guard makes that a plain pass-through. The program name is copied
 * from program_invocation_short_name at start-up (otel_log_init): that
 * string lives in argv[0], which programs such as nginx overwrite later
 * ("nginx: worker process").
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "exporter.h"

static enum log_level log_level = LOG_WARN;
static char log_name[64];

void otel_log_init(void)
{
	const char *n = program_invocation_short_name;
	size_t len = n ? strlen(n) : 0;

	if (len >= sizeof(log_name))
		len = sizeof(log_name) - 1;
	memcpy(log_name, n ? n : "", len);
	log_name[len] = '\0';
}

const char *otel_log_name(void)
{
	return log_name[0] ? log_name : program_invocation_short_name;
}

void otel_log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level otel_log_get_level(void)
{
	return log_level;
}

void otel_log(enum log_level level, const char *fmt, ...)
{
	char buf[1024];
	int saved_errno = errno;
	size_t n;
	int k;
	va_list ap;

	if (level > log_level || level == LOG_NONE) {
		errno = saved_errno;
		return;
	}
	k = snprintf(buf, sizeof(buf), "otelshim[%s:%d]: ",
		     otel_log_name(), (int)getpid());
	n = k < 0 ? 0 : (size_t)k;
	if (n < sizeof(buf)) {
		va_start(ap, fmt);
		k = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
		va_end(ap);
		n += k < 0 ? 0 : (size_t)k;
	}
	if (n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	/* One line, always: control bytes (a newline in an echoed value)
	   must not forge further lines. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	buf[n++] = '\n';

	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		n -= (size_t)w;
	}
	errno = saved_errno;
}
