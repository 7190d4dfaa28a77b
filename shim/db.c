/*
 * db.c - database client spans (see db.h).
 */
#include <dlfcn.h>
#include <link.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "db.h"
#include "text.h"

void db_query_from_text(struct db_query *q, enum sql_dialect d,
			const char *text, size_t len)
{
	const struct config *cfg = config_get();

	q->text_len = 0;
	q->summary_len = 0;
	q->has_text = 0;
	q->text[0] = '\0';
	q->summary[0] = '\0';
	if (!text)
		return;
	if (len == (size_t)-1)
		len = strlen(text);
	q->summary_len = (uint16_t)sql_summarize(text, len, d, q->summary,
						 sizeof(q->summary));
	switch (cfg->db_query_text) {
	case DB_TEXT_OFF:
		break;
	case DB_TEXT_RAW: {
		size_t n = len < sizeof(q->text) - 1 ? len : sizeof(q->text) - 1;
		memcpy(q->text, text, n);
		q->text[n] = '\0';
		q->text_len = (uint16_t)n;
		q->has_text = 1;
		break;
	}
	default:
		q->text_len = (uint16_t)sql_sanitize(text, len, d, q->text,
						     sizeof(q->text));
		q->has_text = 1;
		break;
	}
}

/*
 * db_begin and db_end are each compiled twice from one body, whose stacks
 * argument is a constant: with the stack code (stack.h) and without it.
 * db_use_stacks() points the two pointers of db.h at one copy at
 * start-up, so that with OTELSHIM_STACKTRACE=off the program's threads run
 * no instruction of it, not even the test of the mode: a call through a
 * pointer is one instruction, like the direct call it replaces.
 */
static inline __attribute__((always_inline)) int
begin_body(struct db_op *op, const struct db_query *q, const char *operation,
	   const void *caller, unsigned flags, const int stacks)
{
	struct span_ctx parent;

	op->active = 0;
	/* The hooks check the guard themselves: the wire tracker runs
	   under it. */
	if (config_get()->disabled)
		return 0;
	op->rule = (uint8_t)context_parent(NULL, &parent, &op->link);
	span_start(&op->span, &parent, clock_real_ns());
	op->operation = operation;
	if (q != &op->q) {
		if (q)
			op->q = *q;
		else
			db_query_from_text(&op->q, SQL_POSTGRESQL, NULL, 0);
	}
	op->split = (flags & DB_SPLIT) != 0;
	if (stacks) {
		op->caller = caller;
		if (op->split && op->span.sampled)
			stack_begin(&op->stack);
	}
	op->active = 1;
	return 1;
}

void db_query_as_prepare(struct db_query *q)
{
	char buf[DB_SUMMARY_MAX];
	struct text t;

	text_init(&t, buf, sizeof(buf));
	text_put(&t, "PREPARE", 7);
	if (q->summary_len) {
		text_put(&t, " ", 1);
		text_put(&t, q->summary, q->summary_len);
	}
	if (t.cut)
		return;
	memcpy(q->summary, buf, t.len + 1);
	q->summary_len = (uint16_t)t.len;
}

uint64_t db_elapsed_ns(const struct db_op *op)
{
	uint64_t now = clock_real_ns();

	return now > op->span.start_ns ? now - op->span.start_ns : 0;
}

static void add_str(struct span_record *r, const char *key, const char *v)
{
	if (v && v[0])
		span_record_add_str(r, key, v, strlen(v));
}

static inline __attribute__((always_inline)) void
end_body(struct db_op *op, const struct db_target *t,
	 const struct db_outcome *o, const int stacks)
{
	struct span_record r;
	const struct config *cfg = config_get();
	char name[DB_SUMMARY_MAX + 80];
	const char *ns = t->namespace && t->namespace[0] ? t->namespace : NULL;

	if (!op->active)
		return;
	op->active = 0;
	if (!op->span.sampled)
		return;
	uint64_t end = clock_real_ns();
	span_record_init(&r);
	span_fill_record(&op->span, &r, SPAN_KIND_CLIENT, end);
	if (stacks)
		stack_end(&r, op->split ? &op->stack : NULL, op->caller,
			  o->failed, end - r.start_ns);
	if (op->link.valid) {
		memcpy(r.link_trace_id, op->link.trace_id, 16);
		memcpy(r.link_span_id, op->link.span_id, 8);
		r.link_flags = op->link.trace_flags | SPAN_FLAGS_HAS_IS_REMOTE |
			       (op->link.remote ? SPAN_FLAGS_IS_REMOTE : 0);
	}

	/* The name (SPEC.md 5.3): the summary; else "{operation} {target}";
	   else the target; else the system. */
	char target[300];
	struct text tt, nt;
	text_init(&tt, target, sizeof(target));
	if (ns) {
		text_str(&tt, ns);
	} else if (t->server_address) {
		text_str(&tt, t->server_address);
		if (t->server_port > 0) {
			text_put(&tt, ":", 1);
			text_uint(&tt, (uint64_t)(unsigned)t->server_port);
		}
	}
	text_init(&nt, name, sizeof(name));
	if (op->q.summary_len) {
		text_put(&nt, op->q.summary, op->q.summary_len);
	} else if (op->operation) {
		text_str(&nt, op->operation);
		if (tt.len) {
			text_put(&nt, " ", 1);
			text_put(&nt, target, tt.len);
		}
	} else if (tt.len) {
		text_put(&nt, target, tt.len);
	} else {
		text_str(&nt, t->system);
	}
	span_record_set_name(&r, name, nt.len);

	/* The failure, as an exception event (SPEC.md 5.6); before the
	   attributes, so that a long query text cannot crowd it out. */
	const char *msg = o->message ? o->message : "";
	size_t msg_len = strlen(msg);
	while (msg_len && (msg[msg_len - 1] == '\n' || msg[msg_len - 1] == ' '))
		msg_len--;	/* libraries end their messages with newlines */
	if (msg_len > 256)
		msg_len = 256;
	if (o->failed) {
		const char *type = o->status_code && o->status_code[0]
					   ? o->status_code
					   : msg_len ? "" : "_OTHER";
		span_record_set_exception(&r, end, type, strlen(type), msg,
					  msg_len);
	}

	add_str(&r, "db.system.name", t->system);
	add_str(&r, "db.namespace", ns);
	if (op->operation)
		add_str(&r, "db.operation.name", op->operation);
	if (op->q.summary_len)
		span_record_add_str(&r, "db.query.summary", op->q.summary,
				    op->q.summary_len);
	if (op->q.has_text)
		span_record_add_str(&r, "db.query.text", op->q.text,
				    op->q.text_len);
	add_str(&r, "server.address", t->server_address);
	if (t->server_port > 0)
		span_record_add_int(&r, "server.port", t->server_port);
	if (o->rows >= 0)
		span_record_add_int(&r, "db.response.returned_rows", o->rows);
	if (o->status_code && o->status_code[0])
		add_str(&r, "db.response.status_code", o->status_code);
	if (o->failed) {
		add_str(&r, "error.type",
			o->status_code && o->status_code[0] ? o->status_code
							    : "_OTHER");
		span_record_set_status(&r, SPAN_STATUS_ERROR, msg, msg_len);
	}
	add_str(&r, "otelshim.parent.rule", context_rule_name(op->rule));
	if (cfg->db_dup) {
		/* the names before the stable conventions (SPEC.md 5.3) */
		add_str(&r, "db.system", t->system);
		add_str(&r, "db.name", ns);
		if (op->q.has_text)
			span_record_add_str(&r, "db.statement", op->q.text,
					    op->q.text_len);
		add_str(&r, "net.peer.name", t->server_address);
		if (t->server_port > 0)
			span_record_add_int(&r, "net.peer.port", t->server_port);
	}
	span_finish(&op->span, &r);
}

static int begin_plain(struct db_op *op, const struct db_query *q,
		       const char *operation, const void *caller,
		       unsigned flags)
{
	return begin_body(op, q, operation, caller, flags, 0);
}

static int begin_stacks(struct db_op *op, const struct db_query *q,
			const char *operation, const void *caller,
			unsigned flags)
{
	return begin_body(op, q, operation, caller, flags, 1);
}

static void end_plain(struct db_op *op, const struct db_target *t,
		      const struct db_outcome *o)
{
	end_body(op, t, o, 0);
}

static void end_stacks(struct db_op *op, const struct db_target *t,
		       const struct db_outcome *o)
{
	end_body(op, t, o, 1);
}

db_begin_fn *db_begin = begin_plain;
db_end_fn *db_end = end_plain;

void db_use_stacks(int on)
{
	db_begin = on ? begin_stacks : begin_plain;
	db_end = on ? end_stacks : end_plain;
}

/* ---- tables --------------------------------------------------------------- */

static struct db_slot *entry(void *base, size_t stride, size_t i)
{
	return (struct db_slot *)((char *)base + i * stride);
}

struct db_slot *db_table_get(void *base, size_t n, size_t stride,
			     const void *key, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		struct db_slot *e = entry(base, stride, i);
		if (__atomic_load_n(&e->key, __ATOMIC_ACQUIRE) == key &&
		    strncmp(e->name, name, DB_NAME_MAX) == 0)
			return e;
	}
	return NULL;
}

struct db_slot *db_table_put(void *base, size_t n, size_t stride,
			     const void *key, const char *name)
{
	size_t nl = strlen(name);
	struct db_slot *e = db_table_get(base, n, stride, key, name);

	if (e || nl >= DB_NAME_MAX)
		return e;
	for (size_t i = 0; i < n; i++) {
		const void *expected = NULL;
		e = entry(base, stride, i);
		if (__atomic_load_n(&e->key, __ATOMIC_RELAXED))
			continue;
		/* claim with a placeholder, fill, then publish the key */
		if (!__atomic_compare_exchange_n(&e->key, &expected,
						 (const void *)e, 0,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		memset((char *)e + sizeof(*e), 0, stride - sizeof(*e));
		memcpy(e->name, name, nl + 1);
		__atomic_store_n(&e->key, key, __ATOMIC_RELEASE);
		return e;
	}
	return NULL;
}

void db_table_release(struct db_slot *e)
{
	if (e)
		__atomic_store_n(&e->key, NULL, __ATOMIC_RELEASE);
}

void db_table_drop_key(void *base, size_t n, size_t stride, const void *key)
{
	for (size_t i = 0; i < n; i++) {
		struct db_slot *e = entry(base, stride, i);
		if (__atomic_load_n(&e->key, __ATOMIC_ACQUIRE) == key)
			__atomic_store_n(&e->key, NULL, __ATOMIC_RELEASE);
	}
}

/* ---- finding the real functions -------------------------------------------- */

struct find {
	const char *name;
	void *self;
	void *found;
};

static int find_in_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find *f = arg;

	(void)size;
	if (f->found || !info->dlpi_name || !info->dlpi_name[0])
		return f->found != NULL;
	void *h = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return 0;
	void *p = dlsym(h, f->name);
	dlclose(h);
	if (p && p != f->self)
		f->found = p;
	return f->found != NULL;
}

void *db_real(const char *name, void *self)
{
	void *p = dlsym(RTLD_NEXT, name);
	struct find f = {name, self, NULL};

	if (p && p != self)
		return p;
	dl_iterate_phdr(find_in_object, &f);
	return f.found;
}
