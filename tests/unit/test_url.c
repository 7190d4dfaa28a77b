/*
 * test_url.c - url.full, url.path/url.query and authority splitting with
 * the redaction of SPEC.md 5.1 (shim/url.h).
 *
 * Inputs are copied against a PROT_NONE page (as in test_http1.c) so that a
 * read past target + len faults; outputs get canary bytes after cap so that
 * a write past it is caught.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check_main.h"
#include "url.h"

struct guarded {
	char *map;
	size_t map_len;
};

/* Copy len bytes so that the next byte is on a PROT_NONE page. */
static const char *guard_copy(struct guarded *g, const char *src, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t data = (len + pg - 1) / pg * pg;
	char *dst;

	if (data == 0)
		data = pg;
	g->map_len = data + pg;
	g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(g->map != MAP_FAILED);
	dst = g->map + data - len;
	if (len)
		memcpy(dst, src, len);
	ck_assert_int_eq(mprotect(g->map, data, PROT_READ), 0);
	ck_assert_int_eq(mprotect(g->map + data, pg, PROT_NONE), 0);
	return dst;
}

static void guard_free(struct guarded *g)
{
	munmap(g->map, g->map_len);
}

/* ---- url.full ----------------------------------------------------------- */

static const struct {
	const char *scheme;
	const char *host;
	const char *fallback;
	const char *target;
	const char *want;
} full_cases[] = {
	{ "http", "example.com", NULL, "/p?q=1",
	  "http://example.com/p?q=1" },
	{ "http", "", "127.0.0.1:8080", "/x", "http://127.0.0.1:8080/x" },
	{ "http", "", NULL, "/x", "http:///x" },
	{ "https", "h", NULL, "/", "https://h/" },
	{ NULL, "h", NULL, "/", "http://h/" },
	/* credentials */
	{ "http", "h", NULL, "http://u:p@h/x?sig=1",
	  "http://REDACTED:REDACTED@h/x?sig=REDACTED" },
	{ "http", "h", NULL, "http://user@h:8080/",
	  "http://REDACTED:REDACTED@h:8080/" },
	{ "http", "h", NULL, "http://u:p@w@h/", "http://REDACTED:REDACTED@h/" },
	{ "http", "h", NULL, "http://u:p@h?sig=1",
	  "http://REDACTED:REDACTED@h?sig=REDACTED" },
	{ "http", "h", NULL, "http://u:p@h#frag",
	  "http://REDACTED:REDACTED@h#frag" },
	{ "http", "u:p@h", NULL, "/", "http://REDACTED:REDACTED@h/" },
	{ "http", "", "u@10.0.0.1:80", "/",
	  "http://REDACTED:REDACTED@10.0.0.1:80/" },
	{ "http", "h", NULL, "/users/@me?x=a@b", "http://h/users/@me?x=a@b" },
	/* absolute-form keeps its own scheme and authority */
	{ "http", "proxy", NULL, "http://origin.example/a",
	  "http://origin.example/a" },
	{ "http", "h", NULL, "HTTPS://h/?Signature=x",
	  "HTTPS://h/?Signature=REDACTED" },
	{ "http", "h", NULL, "http://h", "http://h" },
	/* asterisk-form and authority-form */
	{ "http", "h:81", NULL, "*", "http://h:81" },
	{ "http", "ignored", NULL, "example.com:443",
	  "http://example.com:443" },
	{ "http", "ignored", NULL, "u:p@example.com:443",
	  "http://REDACTED:REDACTED@example.com:443" },
	{ "http", "h", NULL, "", "http://h" },
	/* sensitive query keys */
	{ "http", "h", NULL, "/p?AWSAccessKeyId=AKIA&Signature=abc&Expires=1",
	  "http://h/p?AWSAccessKeyId=REDACTED&Signature=REDACTED&Expires=1" },
	{ "http", "h", NULL,
	  "/?X-Amz-Credential=c&X-Amz-Security-Token=t&X-Amz-Signature=s"
	  "&X-Goog-Signature=g&sig=z",
	  "http://h/?X-Amz-Credential=REDACTED&X-Amz-Security-Token=REDACTED"
	  "&X-Amz-Signature=REDACTED&X-Goog-Signature=REDACTED&sig=REDACTED" },
	{ "http", "h", NULL,
	  "/?xsig=1&sigx=2&Sig=3&SIG=4&signature=5&x-amz-signature=6&sig%=7",
	  "http://h/?xsig=1&sigx=2&Sig=3&SIG=4&signature=5&x-amz-signature=6"
	  "&sig%=7" },
	{ "http", "h", NULL, "/?sig=", "http://h/?sig=REDACTED" },
	{ "http", "h", NULL, "/?sig", "http://h/?sig" },
	{ "http", "h", NULL, "/?sig&a=sig", "http://h/?sig&a=sig" },
	{ "http", "h", NULL, "/?a=sig=1&b=1=sig", "http://h/?a=sig=1&b=1=sig" },
	{ "http", "h", NULL, "/?sig=a=b&c", "http://h/?sig=REDACTED&c" },
	{ "http", "h", NULL, "/?sig=1&sig=2",
	  "http://h/?sig=REDACTED&sig=REDACTED" },
	{ "http", "h", NULL, "/?&&sig=1&", "http://h/?&&sig=REDACTED&" },
	{ "http", "h", NULL, "/?sig=1;sig=2", "http://h/?sig=REDACTED" },
	{ "http", "h", NULL, "/?", "http://h/?" },
	{ "http", "h", NULL, "/?=x", "http://h/?=x" },
	/* percent-encoded keys are what the server decodes them to */
	{ "http", "h", NULL, "/?%73ig=x&X%2DAmz%2DSignature=y&%53ignature=z",
	  "http://h/?%73ig=REDACTED&X%2DAmz%2DSignature=REDACTED"
	  "&%53ignature=REDACTED" },
	{ "http", "h", NULL, "/?%7sig=x&si%67%67=y",
	  "http://h/?%7sig=x&si%67%67=y" },
	/* fragments: kept, and a '?' inside one is not a query */
	{ "http", "h", NULL, "/?a=1&sig=2#frag",
	  "http://h/?a=1&sig=REDACTED#frag" },
	{ "http", "h", NULL, "/p#x?sig=1", "http://h/p#x?sig=1" },
	{ "http", "h", NULL, "/p?sig=1#x?sig=2",
	  "http://h/p?sig=REDACTED#x?sig=2" },
	/* IPv6 authorities are copied as written */
	{ "http", "[::1]:8080", NULL, "/", "http://[::1]:8080/" },
	{ "http", "", "[fe80::1]:80", "/a", "http://[fe80::1]:80/a" },
	{ "http", "h", NULL, "http://[::1]:8080/x?sig=1",
	  "http://[::1]:8080/x?sig=REDACTED" },
	{ "http", "h", NULL, "http://u:p@[::1]/",
	  "http://REDACTED:REDACTED@[::1]/" },
};

/* url_build_full() on guarded copies of host and target. */
static size_t build(char *out, size_t cap, int i)
{
	struct guarded gh, gt;
	const char *host = full_cases[i].host;
	const char *target = full_cases[i].target;
	const char *h = guard_copy(&gh, host, strlen(host));
	const char *t = guard_copy(&gt, target, strlen(target));
	size_t n = url_build_full(out, cap, full_cases[i].scheme, h,
				  strlen(host), full_cases[i].fallback, t,
				  strlen(target));

	guard_free(&gh);
	guard_free(&gt);
	return n;
}

START_TEST(test_full)
{
	char out[512];
	size_t n = build(out, sizeof(out), _i);

	ck_assert_str_eq(out, full_cases[_i].want);
	ck_assert_uint_eq(n, strlen(full_cases[_i].want));
}
END_TEST

/*
 * Every capacity from 0 up: a NUL-terminated prefix of the full result, no
 * byte written at or past cap, and no secret ever shows (every secret in the
 * table is a value that becomes REDACTED, or a password before '@').
 */
START_TEST(test_full_truncation)
{
	const char *want = full_cases[_i].want;
	size_t wl = strlen(want);
	char buf[600];

	for (size_t cap = 0; cap <= wl + 2; cap++) {
		size_t n, k = cap ? (cap - 1 < wl ? cap - 1 : wl) : 0;

		memset(buf, 0x5a, sizeof(buf) - 1);
		buf[sizeof(buf) - 1] = '\0';
		n = build(buf, cap, _i);
		ck_assert_uint_eq(n, k);
		if (cap) {
			ck_assert_mem_eq(buf, want, k);
			ck_assert_int_eq(buf[k], '\0');
		}
		for (size_t j = cap; j < sizeof(buf) - 1; j++)
			ck_assert_int_eq(buf[j], 0x5a);
		ck_assert_ptr_null(strstr(buf, "AKIA"));
		ck_assert_ptr_null(strstr(buf, ":p@"));
		ck_assert_ptr_null(strstr(buf, "=abc"));
	}
}
END_TEST

/* Inputs need no NUL: only target_len and host_len bytes are read. */
START_TEST(test_full_unterminated)
{
	char out[128];
	size_t n = url_build_full(out, sizeof(out), "http", "hostXX", 4, NULL,
				  "/a?sig=1&b=2ZZZ", 12);

	ck_assert_str_eq(out, "http://host/a?sig=REDACTED&b=2");
	ck_assert_uint_eq(n, strlen(out));
}
END_TEST

/* ---- url.path and url.query --------------------------------------------- */

static const struct {
	const char *target;
	const char *path;
	const char *query;
} split_cases[] = {
	{ "/p?q=1", "/p", "q=1" },
	{ "/p", "/p", "" },
	{ "/p?", "/p", "" },
	{ "/", "/", "" },
	{ "/p?a=1&sig=2#f", "/p", "a=1&sig=REDACTED" },
	{ "/p#f?x", "/p", "" },
	{ "/a%20b?X-Goog-Signature=1", "/a%20b", "X-Goog-Signature=REDACTED" },
	{ "/?xsig=1&sig=", "/", "xsig=1&sig=REDACTED" },
	{ "http://u:p@h:80/x/y?sig=1#f", "/x/y", "sig=REDACTED" },
	{ "http://h", "/", "" },
	{ "http://h?x=1", "/", "x=1" },
	{ "http://[::1]:80/v6", "/v6", "" },
	{ "*", "*", "" },
	{ "h:443", "", "" },
	{ "", "", "" },
};

START_TEST(test_split)
{
	const char *target = split_cases[_i].target;
	size_t tl = strlen(target);
	struct guarded g;
	const char *t = guard_copy(&g, target, tl);
	char path[256], query[256];
	size_t pl = 99, ql = 99;

	url_split_target(t, tl, path, sizeof(path), &pl, query, sizeof(query),
			 &ql);
	ck_assert_str_eq(path, split_cases[_i].path);
	ck_assert_uint_eq(pl, strlen(split_cases[_i].path));
	ck_assert_str_eq(query, split_cases[_i].query);
	ck_assert_uint_eq(ql, strlen(split_cases[_i].query));

	/* either output may be skipped */
	pl = 99;
	url_split_target(t, tl, NULL, 0, &pl, query, sizeof(query), &ql);
	ck_assert_uint_eq(pl, 0);
	ck_assert_str_eq(query, split_cases[_i].query);
	url_split_target(t, tl, path, sizeof(path), &pl, NULL, 0, NULL);
	ck_assert_str_eq(path, split_cases[_i].path);
	guard_free(&g);
}
END_TEST

START_TEST(test_split_small)
{
	char path[4], query[6];
	size_t pl, ql;

	memset(path, 0x5a, sizeof(path));
	memset(query, 0x5a, sizeof(query));
	url_split_target("/abcdef?sig=secret&x=1", 22, path, 3, &pl, query, 5,
			 &ql);
	ck_assert_str_eq(path, "/a");
	ck_assert_uint_eq(pl, 2);
	ck_assert_int_eq(path[3], 0x5a);
	ck_assert_str_eq(query, "sig=");
	ck_assert_uint_eq(ql, 4);
	ck_assert_int_eq(query[5], 0x5a);

	url_split_target("/abc?sig=secret", 15, path, 1, &pl, query, 1, &ql);
	ck_assert_str_eq(path, "");
	ck_assert_str_eq(query, "");
	ck_assert_uint_eq(pl + ql, 0);
}
END_TEST

/* ---- authorities -------------------------------------------------------- */

static const struct {
	const char *in;
	int ret;
	const char *host;
	int port;
} auth_cases[] = {
	{ "host", 0, "host", -1 },
	{ "host:80", 0, "host", 80 },
	{ "Example.COM:8080", 0, "Example.COM", 8080 },
	{ "127.0.0.1:65535", 0, "127.0.0.1", 65535 },
	{ "ho_st~x-y", 0, "ho_st~x-y", -1 },
	{ "xn--bcher-kva.example:0", 0, "xn--bcher-kva.example", 0 },
	{ "[::1]:8080", 0, "::1", 8080 },
	{ "[::1]", 0, "::1", -1 },
	{ "[::1]:", 0, "::1", -1 },
	{ "[::1]:0080", 0, "::1", 80 },
	{ "[2001:db8::7]", 0, "2001:db8::7", -1 },
	{ "[fe80::1%25eth0]:80", 0, "fe80::1%25eth0", 80 },
	{ "[::ffff:192.0.2.1]:1", 0, "::ffff:192.0.2.1", 1 },
	{ "user:pw@host:1", 0, "host", 1 },
	{ "a@b@host", 0, "host", -1 },
	{ "u:p@[::1]:9", 0, "::1", 9 },
	{ "host:", 0, "host", -1 },
	{ "", 0, "", -1 },
	{ ":80", 0, "", 80 },
	{ "host:65536", -1, NULL, 0 },
	{ "host:123456", -1, NULL, 0 },
	{ "host:abc", -1, NULL, 0 },
	{ "host:-1", -1, NULL, 0 },
	{ "host:80:90", -1, NULL, 0 },
	{ "host:8 0", -1, NULL, 0 },
	{ "::1", -1, NULL, 0 },
	{ "[::1", -1, NULL, 0 },
	{ "[::1]x", -1, NULL, 0 },
	{ "[::1]]", -1, NULL, 0 },
	{ "[]", -1, NULL, 0 },
	{ "[abc]", -1, NULL, 0 },
	{ "[::1/64]", -1, NULL, 0 },
	{ "a b", -1, NULL, 0 },
	{ "host/x", -1, NULL, 0 },
	{ "host?x", -1, NULL, 0 },
	{ "h\x80st", -1, NULL, 0 },
	{ "h\tst", -1, NULL, 0 },
};

START_TEST(test_authority)
{
	const char *in = auth_cases[_i].in;
	struct guarded g;
	const char *a = guard_copy(&g, in, strlen(in));
	const char *host = NULL;
	size_t hl = 0;
	int port = -7;
	int r = url_split_authority(a, strlen(in), &host, &hl, &port);

	ck_assert_msg(r == auth_cases[_i].ret, "case %d (%s): got %d", _i, in,
		      r);
	if (r == 0) {
		ck_assert_uint_eq(hl, strlen(auth_cases[_i].host));
		ck_assert(host >= a && host + hl <= a + strlen(in));
		ck_assert_mem_eq(host, auth_cases[_i].host, hl);
		ck_assert_int_eq(port, auth_cases[_i].port);
	}
	guard_free(&g);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

Suite *unit_suite(void)
{
	Suite *s = suite_create("url");
	TCase *tc;

	tc = tcase_create("full");
	tcase_add_loop_test(tc, test_full, 0, N(full_cases));
	tcase_add_loop_test(tc, test_full_truncation, 0, N(full_cases));
	tcase_add_test(tc, test_full_unterminated);
	suite_add_tcase(s, tc);

	tc = tcase_create("split");
	tcase_add_loop_test(tc, test_split, 0, N(split_cases));
	tcase_add_test(tc, test_split_small);
	tcase_add_loop_test(tc, test_authority, 0, N(auth_cases));
	suite_add_tcase(s, tc);

	return s;
}
