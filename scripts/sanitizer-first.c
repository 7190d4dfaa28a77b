/*
 * sanitizer-first.c - preloaded by scripts/test --sanitize right after the
 * ASan runtime, into every traced program (never part of otelshim).
 *
 * Built with -z initfirst: the loader runs this constructor before any
 * other library's. Two things must happen that early:
 *
 * 1. Start the ASan runtime. A preloaded runtime otherwise starts lazily,
 *    on its first intercepted call; when that call comes from another
 *    library's constructor that holds a glibc lock, the runtime's start-up
 *    (dlsym, then dlerror, which takes the locale lock) breaks that lock.
 *    Seen: curl hangs for ever in setlocale, after libp11-kit's constructor
 *    called newlocale (Debian 12: glibc 2.36, gcc 12).
 *
 * 2. Send UBSan's reports to a file. With gcc, -fsanitize=address,undefined
 *    links two runtimes; libubsan then leaves its reports on standard error
 *    whatever log_path says, so a report in a process whose exit status no
 *    test looks at (a server, a forked child) would go unseen. The log_path
 *    of UBSAN_OPTIONS is given to libubsan's own copy of the setting
 *    (libubsan sets it itself, but through the symbol that resolves to
 *    libasan's copy).
 *
 * This runs before libc's own initialisation: the environment comes from
 * the constructor's arguments (glibc passes argc, argv and envp), as
 * environ and getenv are not there yet; and libubsan's function is
 * found with RTLD_NEXT (libasan comes before this library, libubsan, a
 * dependency of the shim, after it), never with dlopen, which would
 * initialise libc there and then, with no environment: programs would
 * crash later in setenv and the like.
 */
#include <dlfcn.h>
#include <string.h>

void __asan_init(void);

__attribute__((constructor)) static void sanitizer_first(int argc,
							 char **argv,
							 char **envp)
{
	const char *p = NULL;
	char path[4096];

	(void)argc;
	(void)argv;
	__asan_init();
	for (char **e = envp; e && *e; e++)
		if (strncmp(*e, "UBSAN_OPTIONS=", 14) == 0)
			p = strstr(*e, "log_path=");
	if (!p)
		return;
	p += strlen("log_path=");
	size_t n = strcspn(p, ":");
	if (n == 0 || n >= sizeof(path))
		return;
	memcpy(path, p, n);
	path[n] = 0;
	void (*set)(const char *) = (void (*)(const char *))dlsym(
		RTLD_NEXT, "__sanitizer_set_report_path");
	if (set)
		set(path);
}
