/*
 * test_console.c - the waterfall: one header per trace in order of first
 * span, children under their parents, bars placed in the trace's time, the
 * key attributes and errors shown, roots with remote parents marked, the
 * calling function and exception events.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "console.h"

static struct span_record recs[8];
static struct resource res;

static void span(struct span_record *r, uint8_t trace, uint8_t id,
		 uint8_t parent, uint64_t start_ms, uint64_t end_ms,
		 enum span_kind kind, const char *name)
{
	span_record_init(r);
	memset(r->trace_id, trace, 16);
	memset(r->span_id, id, 8);
	if (parent)
		memset(r->parent_span_id, parent, 8);
	r->start_ns = 1700000000000000000ull + start_ms * 1000000ull;
	r->end_ns = 1700000000000000000ull + end_ms * 1000000ull;
	r->kind = (uint8_t)kind;
	span_record_set_name(r, name, strlen(name));
}

/* Run console_print into a pipe; return the text (caller frees). */
static char *render_codes(const struct span_record *const *spans,
			  const struct span_code *codes, size_t n)
{
	int p[2];
	static char buf[65536];
	size_t len = 0;
	ssize_t k;

	ck_assert_int_eq(pipe(p), 0);
	console_print(p[1], &res, spans, codes, n);
	close(p[1]);
	while ((k = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)k;
	close(p[0]);
	buf[len] = '\0';
	return strdup(buf);
}

static char *render(const struct span_record *const *spans, size_t n)
{
	return render_codes(spans, NULL, n);
}

static void setup(void)
{
	memset(&res, 0, sizeof(res));
	res.n = 1;
	strcpy(res.attrs[0].key, "service.name");
	strcpy(res.attrs[0].str, "shop");
}

static const char *line_with(const char *text, const char *needle, int nth)
{
	const char *p = text;
	for (;;) {
		p = strstr(p, needle);
		if (!p)
			return NULL;
		if (nth-- == 0)
			break;
		p++;
	}
	while (p > text && p[-1] != '\n')
		p--;
	return p;
}

START_TEST(tree_order_and_attributes)
{
	setup();
	/* trace 2 starts later than trace 1 but is given first */
	span(&recs[0], 2, 0x20, 0, 100, 110, SPAN_KIND_CLIENT, "POST");
	span(&recs[1], 1, 0x11, 0, 0, 40, SPAN_KIND_SERVER, "GET");
	span_record_add_int(&recs[1], "http.response.status_code", 200);
	span_record_add_str(&recs[1], "url.path", "/orders", 7);
	span_record_add_str(&recs[1], "url.query", "id=7", 4);
	span(&recs[2], 1, 0x12, 0x11, 10, 30, SPAN_KIND_CLIENT, "GET");
	span_record_add_int(&recs[2], "http.response.status_code", 503);
	span_record_add_str(&recs[2], "url.full", "http://pay:81/x", 15);
	span_record_add_str(&recs[2], "error.type", "503", 3);
	span_record_add_str(&recs[2], "otelshim.parent.rule", "thread", 6);
	recs[2].status = SPAN_STATUS_ERROR;
	span(&recs[3], 1, 0x13, 0x12, 12, 20, SPAN_KIND_CLIENT, "SELECT orders");
	span_record_add_str(&recs[3], "db.query.text", "SELECT * FROM orders", 20);

	const struct span_record *in[] = {&recs[0], &recs[3], &recs[2], &recs[1]};
	char *out = render(in, 4);

	/* headers: trace 1 first, with service and counts */
	const char *h1 = strstr(out, "trace 01010101010101010101010101010101");
	const char *h2 = strstr(out, "trace 02020202020202020202020202020202");
	ck_assert_ptr_nonnull(h1);
	ck_assert_ptr_nonnull(h2);
	ck_assert(h1 < h2);
	ck_assert_ptr_nonnull(strstr(h1, "service=shop  3 spans  40.0 ms"));
	ck_assert_ptr_nonnull(strstr(out, "otelshim[test_console:"));

	const char *srv = line_with(out, "GET  SERVER", 0);
	const char *cli = line_with(out, "`- GET  CLIENT", 0);
	const char *db = line_with(out, "`- SELECT orders  CLIENT", 0);
	ck_assert_ptr_nonnull(srv);
	ck_assert_ptr_nonnull(cli);
	ck_assert_ptr_nonnull(db);
	ck_assert(h1 < srv && srv < cli && cli < db && db < h2);
	/* the grandchild is indented deeper than the child */
	ck_assert(strstr(db, "`-") - db > strstr(cli, "`-") - cli);

	ck_assert_ptr_nonnull(strstr(srv, "200  /orders?id=7"));
	ck_assert_ptr_nonnull(strstr(cli, "503  http://pay:81/x  ERROR 503  (parent: thread)"));
	ck_assert_ptr_nonnull(strstr(db, "SELECT * FROM orders"));

	/* bars: the root fills the bar, the child starts a quarter in */
	ck_assert_ptr_nonnull(strstr(srv, "|##############################|"));
	ck_assert_ptr_nonnull(strstr(cli, "|       ################       |"));
	ck_assert_ptr_nonnull(strstr(cli, "10.0 ms |"));
	ck_assert_ptr_nonnull(strstr(cli, "20.0 ms"));
	free(out);
}
END_TEST

START_TEST(remote_and_missing_parents)
{
	setup();
	span(&recs[0], 3, 0x31, 0x99, 0, 5, SPAN_KIND_SERVER, "GET");
	recs[0].flags = SPAN_FLAGS_HAS_IS_REMOTE | SPAN_FLAGS_IS_REMOTE;
	span(&recs[1], 3, 0x32, 0x98, 1, 2, SPAN_KIND_CLIENT, "GET");
	const struct span_record *in[] = {&recs[0], &recs[1]};
	char *out = render(in, 2);
	ck_assert_ptr_nonnull(strstr(line_with(out, "SERVER", 0), "[remote parent]"));
	ck_assert_ptr_nonnull(strstr(line_with(out, "CLIENT", 0),
				     "[parent in another batch]"));
	free(out);
}
END_TEST

START_TEST(id_cycle_still_printed)
{
	setup();
	/* two spans that name each other as parent: never loop, print both */
	span(&recs[0], 4, 0x41, 0x42, 0, 5, SPAN_KIND_CLIENT, "A");
	span(&recs[1], 4, 0x42, 0x41, 1, 2, SPAN_KIND_CLIENT, "B");
	const struct span_record *in[] = {&recs[0], &recs[1]};
	char *out = render(in, 2);
	ck_assert_ptr_nonnull(strstr(out, "A  CLIENT"));
	ck_assert_ptr_nonnull(strstr(out, "B  CLIENT"));
	free(out);
}
END_TEST

START_TEST(zero_length_and_nothing)
{
	setup();
	span(&recs[0], 5, 0x51, 0, 7, 7, SPAN_KIND_INTERNAL, "tick");
	const struct span_record *in[] = {&recs[0]};
	char *out = render(in, 1);
	ck_assert_ptr_nonnull(strstr(out, "|#                             |"));
	ck_assert_ptr_nonnull(strstr(out, "0.0 ms"));
	free(out);
	out = render(in, 0);
	ck_assert_str_eq(out, "");
	free(out);
}
END_TEST

/*
 * The caller as "in FUNCTION" on the span's line; an exception event on a
 * line of its own under the span's name: type, the first line of the
 * message, the stack's depth.
 */
START_TEST(function_and_exception)
{
	setup();
	span(&recs[0], 6, 0x61, 0, 0, 4, SPAN_KIND_CLIENT, "SELECT nosuch");
	recs[0].status = SPAN_STATUS_ERROR;
	const char *m = "relation \"nosuch\" does not exist\n\tsecond line";
	ck_assert_int_eq(span_record_set_exception(&recs[0], recs[0].end_ns,
						   "42P01", 5, m, strlen(m)),
			 0);
	uint64_t frames[3] = {0x1000, 0x2000, 0x3000};
	span_record_set_frames(&recs[0], frames, 3);
	span(&recs[1], 6, 0x62, 0x61, 1, 2, SPAN_KIND_CLIENT, "GET");
	ck_assert_int_eq(span_record_set_exception(&recs[1], recs[1].end_ns,
						   NULL, 0, "reset", 5),
			 0);
	struct span_code codes[2] = {
		{.function = "run_query", .function_len = 9},
		{0},
	};
	const struct span_record *in[] = {&recs[0], &recs[1]};
	char *out = render_codes(in, codes, 2);

	const char *l1 = line_with(out, "SELECT nosuch  CLIENT", 0);
	ck_assert_ptr_nonnull(l1);
	ck_assert_ptr_nonnull(strstr(l1, "in run_query\n"));
	const char *e1 = strchr(l1, '\n') + 1;
	const char *want = "exception 42P01: relation \"nosuch\" does not "
			   "exist (stack: 3 frames)\n";
	ck_assert_ptr_eq(strstr(e1, want), e1 + strspn(e1, " "));
	/* under the name: as far in as the span's name */
	ck_assert_int_eq(strspn(e1, " "), strstr(l1, "SELECT") - l1);
	const char *l2 = line_with(out, "`- GET  CLIENT", 0);
	ck_assert_ptr_nonnull(l2);
	ck_assert_ptr_null(strstr(l2, " in "));
	const char *e2 = strchr(l2, '\n') + 1;
	ck_assert_int_eq(strspn(e2, " "), strstr(l2, "GET") - l2);
	ck_assert(!strncmp(e2 + strspn(e2, " "), "exception reset\n", 16));
	free(out);
}
END_TEST

Suite *unit_suite(void)
{
	Suite *s = suite_create("console");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, tree_order_and_attributes);
	tcase_add_test(tc, remote_and_missing_parents);
	tcase_add_test(tc, id_cycle_still_printed);
	tcase_add_test(tc, zero_length_and_nothing);
	tcase_add_test(tc, function_and_exception);
	suite_add_tcase(s, tc);
	return s;
}
