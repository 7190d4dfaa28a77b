/*
 * console.c - a batch as readable waterfalls (see console.h).
 *
 *   otelshim[curl:4242]: trace 0af7651916cd43dd8448eb211c80319c  service=curl  2 spans  14.2 ms
 *        0.0 ms |##############################|  14.2 ms  GET  CLIENT  200  http://127.0.0.1:8080/a
 *        2.1 ms |    ##############            |   6.0 ms  `- GET  SERVER  200  /a  (parent: connection)
 *
 * Each line: the span's start offset in its trace, a bar placing it in the
 * trace's time span, its duration, then the tree (indented by depth) with
 * name, kind, status and the attributes that say what it was. Errors end
 * with "ERROR" and error.type; "in FUNCTION" names the program's function
 * that made the call (code.function.name). An exception event gets its own
 * line under the span:
 *
 *        0.0 ms |##############################|   1.2 ms  SELECT nosuch  CLIENT  SELECT * FROM nosuch  ERROR 42P01: relation "nosuch" does not exist  in run_query
 *                                                            exception 42P01: relation "nosuch" does not exist (stack: 6 frames)
 *
 * Traces are printed in the order of their first span; spans in a trace by
 * start time. A trace longer than one batch continues in the next batch's
 * print, under the same header.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console.h"
#include "quiet.h"

#define BAR_WIDTH 30
#define MAX_DEPTH 24

struct out {
	char *buf;
	size_t len, cap;
	int failed;
};

/*
 * Every block console_print() has allocated, from its malloc to its free
 * (published right after malloc, cleared before free): a process forked
 * while the exporter thread is printing frees them (console_atfork_child)
 * instead of losing them with the thread's stack.
 */
enum { HELD_IDX, HELD_PRINTED, HELD_GROUPS, HELD_BUF, HELD_BUF_NEW,
       HELD_BUF_OLD, N_HELD };
static void *held[N_HELD];

/* (malloc and free in quiet sections: no fork cuts through them,
   quiet.h) */
static void *held_malloc(int slot, size_t size)
{
	quiet_enter();
	void *p = malloc(size);
	__atomic_store_n(&held[slot], p, __ATOMIC_SEQ_CST);
	quiet_leave();
	return p;
}

static void held_free(int slot)
{
	quiet_enter();
	void *p = __atomic_exchange_n(&held[slot], NULL, __ATOMIC_SEQ_CST);
	free(p);
	quiet_leave();
}

void console_atfork_child(void)
{
	void *p[N_HELD];

	for (int i = 0; i < N_HELD; i++) {
		p[i] = held[i];
		held[i] = NULL;
	}
	/* a block may sit in two slots while it changes hands: once each */
	for (int i = 0; i < N_HELD; i++) {
		int dup = 0;
		for (int j = 0; j < i; j++)
			dup |= p[j] == p[i];
		if (!dup)
			free(p[i]);
	}
}

static void put(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;

	for (;;) {
		size_t room = o->cap - o->len;
		va_start(ap, fmt);
		int k = vsnprintf(o->buf + o->len, room, fmt, ap);
		va_end(ap);
		if (k < 0)
			return;
		if ((size_t)k < room) {
			o->len += (size_t)k;
			return;
		}
		/* not realloc: the old block would be freed before the new
		   one is held */
		size_t cap = o->cap * 2 + (size_t)k;
		char *nb = held_malloc(HELD_BUF_NEW, cap);
		if (!nb) {
			o->failed = 1;
			return;
		}
		memcpy(nb, o->buf, o->len);
		__atomic_store_n(&held[HELD_BUF_OLD], o->buf, __ATOMIC_SEQ_CST);
		__atomic_store_n(&held[HELD_BUF], nb, __ATOMIC_SEQ_CST);
		__atomic_store_n(&held[HELD_BUF_NEW], NULL, __ATOMIC_SEQ_CST);
		o->buf = nb;
		o->cap = cap;
		held_free(HELD_BUF_OLD);
	}
}

static const struct span_attr *attr(const struct span_record *r,
				    const char *key)
{
	for (size_t i = 0; i < r->n_attrs; i++)
		if (strcmp(r->attrs[i].key, key) == 0)
			return &r->attrs[i];
	return NULL;
}

static const char *attr_str(const struct span_record *r, const char *key)
{
	const struct span_attr *a = attr(r, key);

	return a && a->type == SPAN_ATTR_STRING ? r->arena + a->off : NULL;
}

static const char *kind_name(unsigned k)
{
	static const char *const names[] = {"UNSPECIFIED", "INTERNAL",
					    "SERVER", "CLIENT",
					    "PRODUCER", "CONSUMER"};
	return k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

/* What the span was about, in a few words. */
static void describe(struct out *o, const struct span_record *r)
{
	const struct span_attr *code = attr(r, "http.response.status_code");
	const char *url = attr_str(r, "url.full");
	const char *path = attr_str(r, "url.path");
	const char *query = attr_str(r, "url.query");
	const char *db = attr_str(r, "db.query.text");
	const char *rule = attr_str(r, "otelshim.parent.rule");

	if (code && code->type == SPAN_ATTR_INT)
		put(o, "  %" PRId64, code->v.i);
	if (url)
		put(o, "  %s", url);
	else if (path)
		put(o, "  %s%s%s", path, query ? "?" : "", query ? query : "");
	if (db)
		put(o, "  %s", db);
	if (r->status == SPAN_STATUS_ERROR) {
		const char *et = attr_str(r, "error.type");
		const char *msg = span_record_str(r, r->status_message);
		put(o, "  ERROR");
		if (et)
			put(o, " %s", et);
		if (msg[0])
			put(o, ": %s", msg);
	}
	/* How the parent was chosen, when it was not the obvious way. */
	if (rule && strcmp(rule, "connection") && strcmp(rule, "header") &&
	    strcmp(rule, "none"))
		put(o, "  (parent: %s)", rule);
}

static void fmt_ms(char *b, size_t cap, uint64_t ns)
{
	double ms = (double)ns / 1e6;

	if (ms < 10000)
		snprintf(b, cap, "%.1f ms", ms);
	else
		snprintf(b, cap, "%.2f s", ms / 1000);
}

struct trace_view {
	const struct span_record *const *spans;
	const struct span_code *codes;	/* per span, or NULL */
	const size_t *idx;	/* the trace's spans, by start time */
	size_t n;
	uint8_t *printed;
	uint64_t t0, t1;
};

static void print_span(struct out *o, struct trace_view *tv, size_t k,
		       int depth)
{
	const struct span_record *r = tv->spans[tv->idx[k]];
	uint64_t span = tv->t1 > tv->t0 ? tv->t1 - tv->t0 : 1;
	uint64_t s = r->start_ns > tv->t0 ? r->start_ns - tv->t0 : 0;
	uint64_t e = r->end_ns > r->start_ns ? r->end_ns : r->start_ns;
	char bar[BAR_WIDTH + 1], off[32], dur[32];

	tv->printed[k] = 1;
	size_t b0 = (size_t)((double)s / (double)span * BAR_WIDTH);
	size_t b1 = (size_t)((double)(e - tv->t0) / (double)span * BAR_WIDTH +
			     0.999);
	if (b0 >= BAR_WIDTH)
		b0 = BAR_WIDTH - 1;
	if (b1 > BAR_WIDTH)
		b1 = BAR_WIDTH;
	if (b1 <= b0)
		b1 = b0 + 1;
	for (size_t i = 0; i < BAR_WIDTH; i++)
		bar[i] = i >= b0 && i < b1 ? '#' : ' ';
	bar[BAR_WIDTH] = '\0';
	fmt_ms(off, sizeof(off), s);
	fmt_ms(dur, sizeof(dur), e - r->start_ns);

	put(o, "  %10s |%s| %10s  ", off, bar, dur);
	for (int i = 1; i < depth; i++)
		put(o, "   ");
	if (depth > 0)
		put(o, "`- ");
	put(o, "%s  %s", span_record_str(r, r->name), kind_name(r->kind));
	describe(o, r);
	const struct span_code *code =
		tv->codes ? &tv->codes[tv->idx[k]] : NULL;
	if (code && code->function)
		put(o, "  in %.*s", (int)code->function_len, code->function);
	if (depth == 0 && memcmp(r->parent_span_id, "\0\0\0\0\0\0\0\0", 8)) {
		if (r->flags & SPAN_FLAGS_IS_REMOTE)
			put(o, "  [remote parent]");
		else
			put(o, "  [parent in another batch]");
	}
	put(o, "\n");
	if (r->has_exception) {
		/* under the span's name: the bar's width and the tree's */
		put(o, "%*s", 2 + 10 + 2 + BAR_WIDTH + 2 + 10 + 2 + 3 * depth,
		    "");
		put(o, "exception");
		if (r->exception.type.len)
			put(o, " %s", span_record_str(r, r->exception.type));
		if (r->exception.message.len) {
			/* its first line (libpq's messages have several) */
			const char *m =
				span_record_str(r, r->exception.message);
			put(o, "%s %.*s", r->exception.type.len ? ":" : "",
			    (int)strcspn(m, "\r\n"), m);
		}
		if (r->n_frames)
			put(o, " (stack: %u frame%s)", r->n_frames,
			    r->n_frames == 1 ? "" : "s");
		put(o, "\n");
	}

	if (depth >= MAX_DEPTH)
		return;
	for (size_t c = 0; c < tv->n; c++) {
		const struct span_record *cr = tv->spans[tv->idx[c]];
		if (!tv->printed[c] &&
		    memcmp(cr->parent_span_id, r->span_id, 8) == 0)
			print_span(o, tv, c, depth + 1);
	}
}

/* The sort order: trace id, then start time. */
static const struct span_record *const *sort_spans;

static int by_trace_start(const void *a, const void *b)
{
	const struct span_record *x = sort_spans[*(const size_t *)a];
	const struct span_record *y = sort_spans[*(const size_t *)b];
	int c = memcmp(x->trace_id, y->trace_id, 16);

	if (c)
		return c;
	return x->start_ns < y->start_ns ? -1 : x->start_ns > y->start_ns;
}

/* Trace groups in the order of their first span. */
static int by_first_start(const void *a, const void *b)
{
	const struct span_record *x = sort_spans[((const size_t *)a)[1]];
	const struct span_record *y = sort_spans[((const size_t *)b)[1]];

	return x->start_ns < y->start_ns ? -1 : x->start_ns > y->start_ns;
}

static void hex(char *dst, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		dst[2 * i] = digits[p[i] >> 4];
		dst[2 * i + 1] = digits[p[i] & 15];
	}
	dst[2 * n] = '\0';
}

void console_print(int fd, const struct resource *res,
		   const struct span_record *const *spans,
		   const struct span_code *codes, size_t n)
{
	struct out o = {0};
	size_t *idx, *groups, ng = 0;
	uint8_t *printed;
	const char *svc = res ? resource_get(res, "service.name") : NULL;

	if (n == 0)
		return;
	idx = held_malloc(HELD_IDX, n * sizeof(*idx));
	printed = held_malloc(HELD_PRINTED, n);
	groups = held_malloc(HELD_GROUPS, 2 * n * sizeof(*groups));
	o.cap = 4096;
	o.buf = held_malloc(HELD_BUF, o.cap);
	if (!idx || !printed || !groups || !o.buf)
		goto out;
	memset(printed, 0, n);
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	sort_spans = spans;
	qsort(idx, n, sizeof(*idx), by_trace_start);

	/* groups[2i] = first position in idx, groups[2i+1] = its span. */
	for (size_t g = 0; g < n; g++)
		if (g == 0 || memcmp(spans[idx[g]]->trace_id,
				     spans[idx[g - 1]]->trace_id, 16)) {
			groups[2 * ng] = g;
			groups[2 * ng + 1] = idx[g];
			ng++;
		}
	qsort(groups, ng, 2 * sizeof(*groups), by_first_start);

	for (size_t gi = 0; gi < ng; gi++) {
		size_t g = groups[2 * gi];
		size_t end = g + 1;
		while (end < n && memcmp(spans[idx[end]]->trace_id,
					 spans[idx[g]]->trace_id, 16) == 0)
			end++;

		struct trace_view tv = {spans, codes, idx + g, end - g,
					printed + g, UINT64_MAX, 0};
		for (size_t k = 0; k < tv.n; k++) {
			const struct span_record *r = spans[tv.idx[k]];
			if (r->start_ns < tv.t0)
				tv.t0 = r->start_ns;
			if (r->end_ns > tv.t1)
				tv.t1 = r->end_ns;
		}
		char id[33], total[32];
		hex(id, spans[idx[g]]->trace_id, 16);
		fmt_ms(total, sizeof(total), tv.t1 > tv.t0 ? tv.t1 - tv.t0 : 0);
		put(&o, "otelshim[%s:%d]: trace %s  service=%s  %zu span%s  %s\n",
		    otel_log_name(), (int)getpid(), id,
		    svc ? svc : "?", tv.n, tv.n == 1 ? "" : "s", total);

		/* Roots first: spans whose parent is not in this trace's batch. */
		for (size_t k = 0; k < tv.n; k++) {
			const struct span_record *r = spans[tv.idx[k]];
			int has_parent = 0;
			for (size_t p = 0; p < tv.n && !has_parent; p++)
				has_parent = p != k &&
					     memcmp(spans[tv.idx[p]]->span_id,
						    r->parent_span_id, 8) == 0;
			if (!has_parent && !tv.printed[k])
				print_span(&o, &tv, k, 0);
		}
		/* Anything left is in a cycle of ids: print it flat. */
		for (size_t k = 0; k < tv.n; k++)
			if (!tv.printed[k])
				print_span(&o, &tv, k, 0);
	}

	const char *p = o.buf;
	size_t left = o.len;
	while (left > 0 && !o.failed) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		left -= (size_t)w;
	}
out:
	held_free(HELD_BUF);
	held_free(HELD_GROUPS);
	held_free(HELD_PRINTED);
	held_free(HELD_IDX);
}
