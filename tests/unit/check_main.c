/*
 * check_main.c - runs the suite of one unit test executable. Check forks a
 * child per test by default (CK_FORK=no for gdb and valgrind), so a crash
 * becomes a failure, not a dead runner.
 */
#include <stdlib.h>

#include "check_main.h"

int main(void)
{
	SRunner *sr = srunner_create(unit_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
