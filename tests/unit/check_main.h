/*
 * check_main.h - every unit test executable defines one suite and links
 * check_main.c, which runs it and prints Check's summary line.
 */
#ifndef OTELSHIM_CHECK_MAIN_H
#define OTELSHIM_CHECK_MAIN_H

#include <check.h>

/* Defined by each test_*.c: the module's suite. */
Suite *unit_suite(void);

#endif
