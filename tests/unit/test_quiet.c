/*
 * test_quiet.c - quiet sections (exporter/quiet.h): a section is refused
 * while a fork is being prepared and allowed again when it is done (in
 * the parent and in the child); the prepare handler waits for a section
 * in progress, and no longer than its bound; the exporter thread's
 * quiet_enter() waits for the fork to be done.
 */
#include <pthread.h>
#include <time.h>

#include "check_main.h"
#include "quiet.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

START_TEST(refused_while_preparing)
{
	ck_assert_int_eq(quiet_try(), 1);
	quiet_leave();
	quiet_fork_prepare();
	ck_assert_int_eq(quiet_try(), 0);
	quiet_fork_parent();
	ck_assert_int_eq(quiet_try(), 1);
	quiet_leave();

	/* the child: the forks being prepared were the parent's */
	quiet_fork_prepare();
	quiet_fork_child();
	ck_assert_int_eq(quiet_try(), 1);
	quiet_leave();
}
END_TEST

static int entered, leaving;

static void *hold_50ms(void *arg)
{
	(void)arg;
	quiet_enter();
	__atomic_store_n(&entered, 1, __ATOMIC_SEQ_CST);
	sleep_ms(50);
	__atomic_store_n(&leaving, 1, __ATOMIC_SEQ_CST);
	quiet_leave();
	return NULL;
}

/* The fork waits for the section in progress, then goes on. */
START_TEST(prepare_waits_for_a_section)
{
	pthread_t t;

	entered = leaving = 0;
	ck_assert_int_eq(pthread_create(&t, NULL, hold_50ms, NULL), 0);
	while (!__atomic_load_n(&entered, __ATOMIC_SEQ_CST))
		sleep_ms(1);
	double t0 = now_ms();
	quiet_fork_prepare();
	double waited = now_ms() - t0;
	ck_assert_int_eq(__atomic_load_n(&leaving, __ATOMIC_SEQ_CST), 1);
	ck_assert_msg(waited < 190, "waited %.1f ms", waited);
	quiet_fork_parent();
	pthread_join(t, NULL);
}
END_TEST

/* A section that never ends (a thread stopped inside) holds the fork
   back 200 ms, not for ever. */
START_TEST(prepare_is_bounded)
{
	quiet_enter();
	double t0 = now_ms();
	quiet_fork_prepare();
	double waited = now_ms() - t0;
	ck_assert_msg(waited >= 190 && waited < 5000, "waited %.1f ms",
		      waited);
	quiet_fork_parent();
	quiet_leave();
}
END_TEST

static void *enter_once(void *arg)
{
	(void)arg;
	quiet_enter();
	__atomic_store_n(&entered, 1, __ATOMIC_SEQ_CST);
	quiet_leave();
	return NULL;
}

/* The exporter thread's quiet_enter waits until the fork is done. */
START_TEST(enter_waits_for_the_fork)
{
	pthread_t t;

	entered = 0;
	quiet_fork_prepare();
	ck_assert_int_eq(pthread_create(&t, NULL, enter_once, NULL), 0);
	sleep_ms(30);
	ck_assert_int_eq(__atomic_load_n(&entered, __ATOMIC_SEQ_CST), 0);
	quiet_fork_parent();
	pthread_join(t, NULL);
	ck_assert_int_eq(entered, 1);
}
END_TEST

Suite *unit_suite(void)
{
	Suite *s = suite_create("quiet");
	TCase *t = tcase_create("sections");

	/* generous: sanitizer and valgrind builds are many times slower */
	tcase_set_timeout(t, 60);
	tcase_add_test(t, refused_while_preparing);
	tcase_add_test(t, prepare_waits_for_a_section);
	tcase_add_test(t, prepare_is_bounded);
	tcase_add_test(t, enter_waits_for_the_fork);
	suite_add_tcase(s, t);
	return s;
}
