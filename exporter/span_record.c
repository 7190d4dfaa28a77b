/*
 * span_record.c - filling fixed-size span records. Called on application
 * threads: no allocation, no locks, no libc beyond memcpy.
 */
#include <errno.h>
#include <string.h>

#include "copy.h"
#include "exporter.h"

/*
 * Only the header is zeroed: an attribute slot is written whole when it is
 * taken, and no reader looks past n_attrs (zeroing the 32 slots was most
 * of the cost of a record).
 */
void span_record_init(struct span_record *r)
{
	memset(r, 0, offsetof(struct span_record, attrs));
	/* Offset 0 holds the empty string, so zeroed span_str fields are "". */
	r->arena[0] = '\0';
	r->arena_used = 1;
}

/* Copy s into the arena with a NUL after it; -ENOSPC if it does not fit. */
static inline int arena_put(struct span_record *r, const char *s, size_t len,
			    struct span_str *out)
{
	size_t used = r->arena_used;

	/* (arena_used can reach SPAN_ARENA_SIZE exactly: no wrap-around) */
	if (used >= SPAN_ARENA_SIZE || len > SPAN_ARENA_SIZE - 1u - used)
		return -ENOSPC;
	out->off = (uint16_t)used;
	out->len = (uint16_t)len;
	copy_short(r->arena + used, s, len);
	r->arena[used + len] = '\0';
	r->arena_used = (uint16_t)(used + len + 1);
	return 0;
}

int span_record_set_name(struct span_record *r, const char *s, size_t len)
{
	return arena_put(r, s, len, &r->name);
}

int span_record_set_status(struct span_record *r, enum span_status st,
			   const char *msg, size_t len)
{
	r->status = (uint8_t)st;
	if (!msg || !len)
		return 0;
	return arena_put(r, msg, len, &r->status_message);
}

int span_record_set_trace_state(struct span_record *r, const char *s,
				size_t len)
{
	return arena_put(r, s, len, &r->trace_state);
}

static inline struct span_attr *attr_slot(struct span_record *r,
					  const char *key,
					  enum span_attr_type type)
{
	if (r->n_attrs >= SPAN_MAX_ATTRS) {
		r->dropped_attrs++;
		return NULL;
	}
	struct span_attr *a = &r->attrs[r->n_attrs];
	a->key = key;
	a->type = (uint16_t)type;
	a->off = 0;
	a->len = 0;
	a->v.i = 0;
	return a;
}

/*
 * The hot setter (a dozen calls per HTTP span): every check first, then the
 * slot and the counters, the bytes last, so that nothing has to survive
 * the copy and the common short copy needs no call.
 */
int span_record_add_str(struct span_record *r, const char *key, const char *s,
			size_t len)
{
	size_t n = r->n_attrs, used = r->arena_used;

	/* (arena_used can reach SPAN_ARENA_SIZE exactly: no wrap-around) */
	if (n >= SPAN_MAX_ATTRS || used >= SPAN_ARENA_SIZE ||
	    len > SPAN_ARENA_SIZE - 1u - used) {
		r->dropped_attrs++;
		return -ENOSPC;
	}
	struct span_attr *a = &r->attrs[n];
	char *d = r->arena + used;

	a->key = key;
	a->type = SPAN_ATTR_STRING;
	a->len = (uint16_t)len;
	a->off = (uint16_t)used;
	a->v.i = 0;
	r->n_attrs = (uint16_t)(n + 1);
	r->arena_used = (uint16_t)(used + len + 1);
	d[len] = '\0';
	copy_short(d, s, len);
	return 0;
}

int span_record_add_int(struct span_record *r, const char *key, int64_t v)
{
	struct span_attr *a = attr_slot(r, key, SPAN_ATTR_INT);

	if (!a)
		return -ENOSPC;
	a->v.i = v;
	r->n_attrs++;
	return 0;
}

int span_record_add_bool(struct span_record *r, const char *key, int v)
{
	struct span_attr *a = attr_slot(r, key, SPAN_ATTR_BOOL);

	if (!a)
		return -ENOSPC;
	a->v.i = v != 0;
	r->n_attrs++;
	return 0;
}

int span_record_add_double(struct span_record *r, const char *key, double v)
{
	struct span_attr *a = attr_slot(r, key, SPAN_ATTR_DOUBLE);

	if (!a)
		return -ENOSPC;
	a->v.d = v;
	r->n_attrs++;
	return 0;
}

int span_record_set_exception(struct span_record *r, uint64_t time_ns,
			      const char *type, size_t type_len,
			      const char *msg, size_t msg_len)
{
	struct span_str t = {0, 0}, m = {0, 0};
	uint16_t used = r->arena_used;

	if (r->has_exception || (!type_len && !msg_len)) {
		r->dropped_events++;
		return -ENOSPC;
	}
	if ((type_len && arena_put(r, type, type_len, &t) < 0) ||
	    (msg_len && arena_put(r, msg, msg_len, &m) < 0)) {
		r->arena_used = used;	/* all or nothing */
		r->dropped_events++;
		return -ENOSPC;
	}
	r->exception.time_ns = time_ns;
	r->exception.type = t;
	r->exception.message = m;
	r->has_exception = 1;
	return 0;
}

void span_record_set_frames(struct span_record *r, const uint64_t *frames,
			    unsigned n)
{
	if (n > SPAN_MAX_FRAMES)
		n = SPAN_MAX_FRAMES;
	if (n)
		memcpy(r->frames, frames, n * sizeof(frames[0]));
	r->n_frames = (uint8_t)n;
}

static int str_inside(struct span_str s)
{
	return (size_t)s.off + s.len < SPAN_ARENA_SIZE;
}

int span_record_sane(const struct span_record *r)
{
	if (r->n_attrs > SPAN_MAX_ATTRS || r->arena_used > SPAN_ARENA_SIZE ||
	    r->n_frames > SPAN_MAX_FRAMES || r->kind > SPAN_KIND_CONSUMER ||
	    r->status > SPAN_STATUS_ERROR || !str_inside(r->name) ||
	    !str_inside(r->status_message) || !str_inside(r->trace_state) ||
	    !str_inside(r->exception.type) || !str_inside(r->exception.message))
		return 0;
	for (unsigned i = 0; i < r->n_attrs; i++) {
		const struct span_attr *a = &r->attrs[i];
		if (!a->key || a->type > SPAN_ATTR_DOUBLE ||
		    (a->type == SPAN_ATTR_STRING &&
		     (size_t)a->off + a->len >= SPAN_ARENA_SIZE))
			return 0;
	}
	return 1;
}
