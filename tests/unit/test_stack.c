/*
 * test_stack.c - stacks and callers (shim/stack.h): the frame line format,
 * the module kinds, which spans keep a stack in each mode, and a real
 * capture read back into text by the symbolizer: the functions in order,
 * libc's frames at the top dropped, unknown and unloaded addresses printed
 * bare, text cut to its room.
 *
 * The shim's code is linked into this executable, so the range of "our
 * own frames" is set empty: every frame of the executable is the
 * program's here.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "stack.h"

#define NAMED __attribute__((noinline, noclone))
#define BARRIER() __asm__ volatile("" ::: "memory")

/* ---- the line format and module kinds ------------------------------------ */

START_TEST(format_frame)
{
	char b[256];

	ck_assert_uint_eq(stack_format_frame(b, sizeof(b), 0, 0x55d0c2a1b2c3,
					     "issue_query", 0x1c, "/srv/prog",
					     0x12c3),
			  strlen(b));
	ck_assert_str_eq(b, "#0 0x55d0c2a1b2c3 issue_query+0x1c "
			    "(/srv/prog+0x12c3)");
	stack_format_frame(b, sizeof(b), 7, 0x7f0000001000, NULL, 0,
			   "/lib/libx.so.1", 0x1000);
	ck_assert_str_eq(b, "#7 0x7f0000001000 (/lib/libx.so.1+0x1000)");
	stack_format_frame(b, sizeof(b), 12, 0x1234, NULL, 0, NULL, 0);
	ck_assert_str_eq(b, "#12 0x1234");
	/* cut to the room, NUL-terminated */
	ck_assert_uint_eq(stack_format_frame(b, 8, 1, 0xabcdef, "f", 1, NULL,
					     0),
			  7);
	ck_assert_str_eq(b, "#1 0xab");
	ck_assert_uint_eq(stack_format_frame(b, 0, 1, 1, NULL, 0, NULL, 0), 0);
}
END_TEST

static const struct {
	const char *path;
	enum stack_module_kind kind;
} modules[] = {
	{"/lib/x86_64-linux-gnu/libc.so.6", STACK_MODULE_LIBC},
	{"/lib64/ld-linux-x86-64.so.2", STACK_MODULE_LIBC},
	{"/lib/x86_64-linux-gnu/libpthread.so.0", STACK_MODULE_LIBC},
	{"/usr/lib/libc-2.31.so", STACK_MODULE_LIBC},
	{"/usr/lib/x86_64-linux-gnu/libasan.so.8", STACK_MODULE_LIBC},
	{"/usr/lib/x86_64-linux-gnu/libubsan.so.1", STACK_MODULE_LIBC},
	{"/usr/lib/x86_64-linux-gnu/libpq.so.5", STACK_MODULE_DB},
	{"/usr/lib/x86_64-linux-gnu/libmariadb.so.3", STACK_MODULE_DB},
	{"/usr/lib/x86_64-linux-gnu/libmysqlclient.so.21", STACK_MODULE_DB},
	{"/opt/otel/libotelshim.so", STACK_MODULE_SELF},
	{"libotelshim.so", STACK_MODULE_SELF},
	{"/usr/bin/python3.11", STACK_MODULE_APP},
	{"/usr/lib/x86_64-linux-gnu/libcurl.so.4", STACK_MODULE_APP},
	{"/home/u/libcache.so", STACK_MODULE_APP},
	{"/srv/libpqxx-7.7.so", STACK_MODULE_APP},
	{"", STACK_MODULE_APP},
};

START_TEST(module_kind)
{
	ck_assert_int_eq(stack_module_kind(modules[_i].path),
			 modules[_i].kind);
}
END_TEST

/* ---- which spans keep a stack -------------------------------------------- */

static void set_mode(enum stack_mode mode, uint32_t slow_ms)
{
	struct config c;

	memset(&c, 0, sizeof(c));
	c.stack_mode = mode;
	c.stack_slow_ms = slow_ms;
	stack_init(&c);
	stack_set_self(0, 0);
}

static const struct {
	enum stack_mode mode;
	int failed;
	uint64_t duration_ms;
	int stack;	/* kept */
} policy[] = {
	{STACK_ERRORS, 0, 0, 0},
	{STACK_ERRORS, 0, 900, 0},  {STACK_ERRORS, 1, 0, 1},
	{STACK_SLOW, 0, 499, 0},    {STACK_SLOW, 0, 500, 1},
	{STACK_SLOW, 1, 0, 1},	    {STACK_ALL, 0, 0, 1},
};

START_TEST(keep_policy)
{
	struct span_record r;
	int marker;

	set_mode(policy[_i].mode, 500);
	span_record_init(&r);
	stack_end(&r, NULL, &marker, policy[_i].failed,
		  policy[_i].duration_ms * 1000000u);
	/* the caller goes with every span (off runs no stack code at all:
	   test_stacktrace.py test_off) */
	ck_assert_uint_eq(r.caller, (uint64_t)(uintptr_t)&marker);
	if (policy[_i].stack)
		ck_assert_uint_gt(r.n_frames, 2);
	else
		ck_assert_uint_eq(r.n_frames, 0);
	set_mode(STACK_OFF, 0);
}
END_TEST

/* A stack taken at the start (slow, all) is the one the span keeps. */
START_TEST(start_stack_kept)
{
	struct span_record r;
	struct stack st;

	set_mode(STACK_SLOW, 10);
	st.n = 0;
	stack_begin(&st);
	ck_assert_uint_gt(st.n, 2);
	span_record_init(&r);
	stack_end(&r, &st, NULL, 0, 20000000);
	ck_assert_uint_eq(r.n_frames, st.n);
	ck_assert(!memcmp(r.frames, st.ip, st.n * sizeof(st.ip[0])));
	/* fast and fine: dropped */
	span_record_init(&r);
	stack_end(&r, &st, NULL, 0, 1000);
	ck_assert_uint_eq(r.n_frames, 0);
	/* errors takes none at the start */
	set_mode(STACK_ERRORS, 10);
	st.n = 0;
	stack_begin(&st);
	ck_assert_uint_eq(st.n, 0);
	set_mode(STACK_OFF, 0);
}
END_TEST

/* ---- capture and symbols --------------------------------------------------- */

static uint64_t got[SPAN_MAX_FRAMES];
static unsigned n_got;
static uint64_t caller_of_inner;

NAMED static int inner_capture(void)
{
	n_got = stack_capture(got, SPAN_MAX_FRAMES);
	caller_of_inner = (uint64_t)(uintptr_t)__builtin_return_address(0);
	BARRIER();
	return (int)n_got;
}

NAMED static int middle_layer(void)
{
	int n = inner_capture();

	BARRIER();
	return n + 1;
}

NAMED int outer_entry(void);
NAMED int outer_entry(void)
{
	int n = middle_layer();

	BARRIER();
	return n + 1;
}

/* Symbolise r with room cap; returns the text and fills *code. */
static const char *symbolize(const struct span_record *r, size_t cap,
			     struct span_code *code)
{
	static char buf[EXPORTER_STACK_TEXT_MAX];

	ck_assert_uint_le(cap, sizeof(buf));
	stack_symbolizer.batch();
	size_t used = stack_symbolizer.span(r, buf, cap, code);
	ck_assert_uint_le(used, cap);
	return code->stacktrace;
}

static const char *line_of(const char *text, const char *name)
{
	char pat[128];

	snprintf(pat, sizeof(pat), " %s+0x", name);
	return strstr(text, pat);
}

START_TEST(capture_and_symbolize)
{
	struct span_record r;
	struct span_code code;
	char exe[PATH_MAX];

	set_mode(STACK_ALL, 0);
	ck_assert_int_gt(outer_entry(), 4);
	ck_assert_uint_gt(n_got, 3);

	span_record_init(&r);
	/* two of libc's frames at the top: dropped from the text */
	uint64_t libc = (uint64_t)(uintptr_t)&getpid + 4;
	r.frames[0] = libc;
	r.frames[1] = libc;
	memcpy(r.frames + 2, got, (n_got < 30 ? n_got : 30) * sizeof(got[0]));
	r.n_frames = (uint8_t)(2 + (n_got < 30 ? n_got : 30));
	r.caller = caller_of_inner;
	const char *text = symbolize(&r, EXPORTER_STACK_TEXT_MAX, &code);

	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(code.stacktrace_len, strlen(text));
	ck_assert(!strncmp(text, "#0 0x", 5));
	ck_assert_msg(strstr(text, "libc.so") > strchr(text, '\n'),
		      "libc's frames at the top: %s", text);
	const char *a = line_of(text, "inner_capture");
	const char *b = line_of(text, "middle_layer");
	const char *c = line_of(text, "outer_entry");
	ck_assert_msg(a && b && c && a < b && b < c, "stack: %s", text);
	/* the program's file, so that addr2line can finish the job */
	ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(k, 0);
	exe[k] = '\0';
	char want[PATH_MAX + 8];
	snprintf(want, sizeof(want), "(%s+0x", exe);
	ck_assert_ptr_nonnull(strstr(a, want));
	/* the caller's function: middle_layer called inner_capture */
	ck_assert_ptr_nonnull(code.function);
	ck_assert_str_eq(code.function, "middle_layer");
	ck_assert_uint_eq(code.function_len, strlen("middle_layer"));
	set_mode(STACK_OFF, 0);
}
END_TEST

/* Without a caller, the first frame of the program's names the function. */
START_TEST(function_from_stack)
{
	struct span_record r;
	struct span_code code;

	set_mode(STACK_ALL, 0);
	outer_entry();
	span_record_init(&r);
	span_record_set_frames(&r, got, n_got);
	symbolize(&r, EXPORTER_STACK_TEXT_MAX, &code);
	ck_assert_ptr_nonnull(code.function);
	/* the capture's own frame is the program's here (no self range) */
	ck_assert(!strcmp(code.function, "stack_capture") ||
		  !strcmp(code.function, "inner_capture"));
	set_mode(STACK_OFF, 0);
}
END_TEST

/*
 * Addresses nobody maps, and a module unloaded since the capture: bare
 * addresses, no name, no crash. A caller in libc names no function: the
 * stack's first named frame of the program's does.
 */
START_TEST(unknown_and_unloaded)
{
	struct span_record r;
	struct span_code code;
	char bare[64];

	set_mode(STACK_ALL, 0);
	void *h = dlopen("libcrypt.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		h = dlopen("libutil.so.1", RTLD_NOW | RTLD_LOCAL);
	ck_assert_ptr_nonnull(h);
	void *f = dlsym(h, "crypt");
	if (!f)
		f = dlsym(h, "openpty");
	ck_assert_ptr_nonnull(f);
	uint64_t in_lib = (uint64_t)(uintptr_t)f + 8;

	span_record_init(&r);
	r.frames[0] = 0x1234;
	r.frames[1] = in_lib;
	r.frames[2] = UINT64_MAX - 5;
	r.n_frames = 3;
	r.caller = (uint64_t)(uintptr_t)&getpid + 4;
	const char *text = symbolize(&r, EXPORTER_STACK_TEXT_MAX, &code);
	/* the caller, in libc, is not the program's: the first named frame
	   of a library of the program's is the function */
	ck_assert_msg(code.function && !strcmp(code.function,
					       dlsym(h, "crypt") ? "crypt"
								 : "openpty"),
		      "function %s, text %s", code.function, text);
	ck_assert(!strncmp(text, "#0 0x1234\n#1 0x", 15));
	ck_assert_ptr_nonnull(strstr(text, "libcrypt.so.1+0x") ?
			      strstr(text, "libcrypt.so.1+0x") :
			      strstr(text, "libutil.so.1+0x"));

	/* unloaded: the same address, now in no module */
	int still_there = dlclose(h) != 0;
	Dl_info d;
	if (!still_there && !dladdr((void *)(uintptr_t)in_lib, &d)) {
		text = symbolize(&r, EXPORTER_STACK_TEXT_MAX, &code);
		snprintf(bare, sizeof(bare), "#1 0x%llx\n",
			 (unsigned long long)in_lib);
		ck_assert_msg(strstr(text, bare) != NULL, "text: %s", text);
	}
	set_mode(STACK_OFF, 0);
}
END_TEST

/* Whole lines only, a note for what did not fit, inside the room. */
START_TEST(text_bounded)
{
	struct span_record r;
	struct span_code code;

	set_mode(STACK_ALL, 0);
	outer_entry();
	span_record_init(&r);
	for (int i = 0; i < SPAN_MAX_FRAMES; i++)
		r.frames[i] = got[i % n_got];
	r.n_frames = SPAN_MAX_FRAMES;
	const char *text = symbolize(&r, 700, &code);
	ck_assert_uint_lt(strlen(text), 700);
	const char *note = strstr(text, " more)");
	ck_assert_msg(note && note[6] == '\0', "text: %s", text);
	/* every line but the note is a whole frame line */
	for (const char *p = text; p && *p;) {
		ck_assert(!strncmp(p, "#", 1));
		const char *nl = strchr(p, '\n');
		p = nl ? nl + 1 : NULL;
	}
	set_mode(STACK_OFF, 0);
}
END_TEST

/* libunwind's pipe: not the program's, and the numbers are known. */
START_TEST(pipe_numbers)
{
	int fds[2];

	ck_assert_int_eq(stack_fd_owned(-1), 0);
	ck_assert_int_eq(stack_fd_owned(0), 0);
	stack_fds(fds);
	/* in this test program, nothing interposes pipe2: no numbers */
	ck_assert_int_eq(fds[0], -1);
	ck_assert_int_eq(fds[1], -1);
}
END_TEST

Suite *unit_suite(void)
{
	Suite *s = suite_create("stack");
	TCase *t = tcase_create("pure");

	tcase_add_test(t, format_frame);
	tcase_add_loop_test(t, module_kind, 0,
			    (int)(sizeof(modules) / sizeof(modules[0])));
	suite_add_tcase(s, t);

	t = tcase_create("capture");
	tcase_set_timeout(t, 30);
	tcase_add_loop_test(t, keep_policy, 0,
			    (int)(sizeof(policy) / sizeof(policy[0])));
	tcase_add_test(t, start_stack_kept);
	tcase_add_test(t, capture_and_symbolize);
	tcase_add_test(t, function_from_stack);
	tcase_add_test(t, unknown_and_unloaded);
	tcase_add_test(t, text_bounded);
	tcase_add_test(t, pipe_numbers);
	suite_add_tcase(s, t);
	return s;
}
