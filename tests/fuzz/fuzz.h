/*
 * fuzz.h - shared by the libFuzzer targets in this directory.
 *
 * CHECK(x) traps when a contract is broken, so that libFuzzer records the
 * input like any crash.
 *
 * fuzz_known(id) is 1 when the environment variable OTELSHIM_FUZZ_KNOWN (a
 * comma-separated list, read once at start-up) names id. Each id is a bug
 * found by fuzzing and reported, not yet fixed; the target then steps
 * around it so that a long run can look for other ones. By default every
 * check is on. The ids are listed in tests/fuzz/README.
 */
#ifndef OTELSHIM_FUZZ_H
#define OTELSHIM_FUZZ_H

#include <stdlib.h>
#include <string.h>

#define CHECK(x)                          \
	do {                              \
		if (!(x))                 \
			__builtin_trap(); \
	} while (0)

static char fuzz_known_list[512];

__attribute__((constructor)) static void fuzz_known_init(void)
{
	const char *v = getenv("OTELSHIM_FUZZ_KNOWN");

	if (v && strlen(v) + 2 < sizeof(fuzz_known_list)) {
		fuzz_known_list[0] = ',';
		strcpy(fuzz_known_list + 1, v);
		strcat(fuzz_known_list, ",");
	}
}

static inline int fuzz_known(const char *id)
{
	const char *p = fuzz_known_list;
	size_t n = strlen(id);

	while ((p = strstr(p, id)))
		if (p[-1] == ',' && p[n] == ',')
			return 1;
		else
			p += n;
	return 0;
}

#endif
