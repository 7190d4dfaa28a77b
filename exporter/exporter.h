/*
 * exporter.h - the exporter's whole interface: span records, the bounded
 * queue they travel through, the background thread that batches them to an
 * OTLP/HTTP endpoint (or prints them), and the library's one logger.
 *
 * The exporter knows nothing about interposition. It is a plain library: the
 * preload shim is one client, the unit tests and benchmarks are others.
 *
 * Threading: exporter_submit() may be called from any thread, at any time,
 * including before exporter_init() and after exporter_shutdown() (the record
 * is then counted as dropped). It never blocks, never allocates and takes no
 * lock. Everything else (encoding, formatting, network I/O, allocation) runs
 * on the exporter thread, which the exporter starts lazily on the first
 * submitted span. exporter_init(), exporter_shutdown() and exporter_atfork_*()
 * are for the process's start-up, exit and fork paths only.
 *
 * Ownership: exporter_submit() copies the record; the caller keeps its own.
 */
#ifndef OTELSHIM_EXPORTER_H
#define OTELSHIM_EXPORTER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define OTELSHIM_VERSION "0.1.0"

/* ---- span records ------------------------------------------------------ */

/*
 * A span record is fixed-size and self-contained: strings live in the
 * record's own arena, attribute keys point to storage that lives as long as
 * the process (string literals). The numbers are OTLP's.
 *
 * A record may also carry raw code addresses, which only the exporter
 * thread turns into text (see exporter_set_symbolizer): the return address
 * of the program's call that made the span (caller), and a stack of
 * return addresses, innermost first (frames). The frames come after the
 * arena, so that a record without a stack is copied without them.
 */
#define SPAN_MAX_ATTRS 32
#define SPAN_ARENA_SIZE 1792
#define SPAN_MAX_FRAMES 32

enum span_kind {
	SPAN_KIND_INTERNAL = 1,
	SPAN_KIND_SERVER = 2,
	SPAN_KIND_CLIENT = 3,
	SPAN_KIND_PRODUCER = 4,
	SPAN_KIND_CONSUMER = 5,
};

enum span_status {
	SPAN_STATUS_UNSET = 0,
	SPAN_STATUS_OK = 1,
	SPAN_STATUS_ERROR = 2,
};

enum span_attr_type {
	SPAN_ATTR_STRING = 0,
	SPAN_ATTR_INT = 1,
	SPAN_ATTR_BOOL = 2,
	SPAN_ATTR_DOUBLE = 3,
};

/* OTLP Span.flags bits above the W3C trace-flags byte. */
#define SPAN_FLAGS_HAS_IS_REMOTE 0x100u
#define SPAN_FLAGS_IS_REMOTE 0x200u

/* W3C trace-flags. */
#define TRACE_FLAG_SAMPLED 0x01u
#define TRACE_FLAG_RANDOM 0x02u

struct span_attr {
	const char *key;	/* static storage */
	uint16_t type;		/* enum span_attr_type */
	uint16_t len;		/* STRING: length in the arena (NUL follows) */
	uint16_t off;		/* STRING: offset in the arena */
	union {
		int64_t i;	/* INT, BOOL */
		double d;	/* DOUBLE */
	} v;
};

/* A string in the arena: offset and length, NUL-terminated there. */
struct span_str {
	uint16_t off;
	uint16_t len;
};

/*
 * The span's exception event (OTLP Span.Event named "exception", SPEC.md
 * 5.6): exception.type and exception.message in the arena (either may be
 * empty, not both), and exception.stacktrace, which is the record's stack
 * when it has one.
 */
struct span_exception {
	uint64_t time_ns;		/* Unix epoch, ns */
	struct span_str type;
	struct span_str message;
};

struct span_record {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_span_id[8];	/* all zero for a root span */
	uint8_t link_trace_id[16];	/* one optional link; zero = none */
	uint8_t link_span_id[8];
	uint32_t flags;			/* OTLP Span.flags */
	uint32_t link_flags;		/* OTLP Span.Link.flags */
	uint64_t start_ns;		/* Unix epoch, ns */
	uint64_t end_ns;
	uint8_t kind;			/* enum span_kind */
	uint8_t status;			/* enum span_status */
	uint16_t n_attrs;
	uint16_t dropped_attrs;		/* no room in attrs[] or arena */
	uint16_t arena_used;
	uint8_t has_exception;		/* exception is set */
	uint8_t n_frames;		/* frames[] in use */
	uint16_t dropped_events;	/* events beyond the one we keep */
	struct span_str name;
	struct span_str status_message;
	struct span_str trace_state;	/* W3C tracestate of this span */
	uint64_t caller;		/* return address of the program's call
					   that made the span; 0: unknown */
	struct span_exception exception;
	struct span_attr attrs[SPAN_MAX_ATTRS];
	char arena[SPAN_ARENA_SIZE];
	uint64_t frames[SPAN_MAX_FRAMES];	/* return addresses */
};

/*
 * span_record_init() zeroes the header of a record (not the attribute slots,
 * which are written whole as they are taken, nor the arena) so that it can
 * be filled; nothing past n_attrs or arena_used is meaningful. The setters copy their value into the arena; when the arena
 * or the attribute table is full they count the attribute as dropped and
 * return -ENOSPC. They never fail otherwise. Keys must be static.
 */
void span_record_init(struct span_record *r);
int span_record_set_name(struct span_record *r, const char *s, size_t len);
int span_record_set_status(struct span_record *r, enum span_status st,
			   const char *msg, size_t len);
int span_record_set_trace_state(struct span_record *r, const char *s,
				size_t len);
int span_record_add_str(struct span_record *r, const char *key,
			const char *s, size_t len);
int span_record_add_int(struct span_record *r, const char *key, int64_t v);
int span_record_add_bool(struct span_record *r, const char *key, int v);
int span_record_add_double(struct span_record *r, const char *key, double v);

/*
 * Set the record's exception event (one per record: a second one is
 * counted in dropped_events and -ENOSPC returned, as is one whose strings
 * do not fit in the arena). type or msg may be empty, not both.
 */
int span_record_set_exception(struct span_record *r, uint64_t time_ns,
			      const char *type, size_t type_len,
			      const char *msg, size_t msg_len);

/* Copy n return addresses (at most SPAN_MAX_FRAMES) into the record. */
void span_record_set_frames(struct span_record *r, const uint64_t *frames,
			    unsigned n);

/*
 * Whether every count and offset in r stays inside the record, so that a
 * reader can trust it (1) or must not (0). The consumer checks records
 * only after a half-built one was given up (queue.h, queue_abandon).
 */
int span_record_sane(const struct span_record *r);

/* A string of the record's arena, NUL-terminated. */
static inline const char *span_record_str(const struct span_record *r,
					  struct span_str s)
{
	return r->arena + s.off;
}

/* ---- configuration ----------------------------------------------------- */

enum exporter_kind {
	EXPORTER_OTLP = 0,	/* OTLP/HTTP protobuf */
	EXPORTER_CONSOLE,	/* readable waterfall on stderr */
	EXPORTER_NONE,
};

enum log_level {
	LOG_NONE = 0,
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

/*
 * Filled once at start-up by the client (the shim reads OTEL_* into it) and
 * never changed afterwards. Every field has a valid value: the client
 * substitutes the defaults for bad input.
 */
struct exporter_config {
	enum exporter_kind kind;
	/* OTLP endpoint, already resolved per SPEC.md 1.7 */
	char endpoint_scheme[8];	/* "http" (https is not supported yet) */
	char endpoint_host[256];
	uint16_t endpoint_port;
	char endpoint_path[512];
	char headers[2048];		/* OTEL_EXPORTER_OTLP_HEADERS, raw */
	uint32_t timeout_ms;		/* per export request; 0 = no limit */
	/* batch span processor */
	uint32_t schedule_delay_ms;
	uint32_t export_timeout_ms;
	uint32_t max_queue_size;
	uint32_t max_export_batch_size;
	uint32_t exit_flush_timeout_ms;
	/* limits applied while encoding; 0 length = no limit */
	uint32_t attr_value_length_limit;
	uint32_t attr_count_limit;
	/* resource */
	char service_name[256];		/* empty: unknown_service:<exe> */
	char resource_attributes[2048];	/* OTEL_RESOURCE_ATTRIBUTES, raw */
};

/*
 * Is spec a valid OTEL_EXPORTER_OTLP_HEADERS value (key=value pairs, keys
 * HTTP tokens, values percent-decoded without control bytes)? For the
 * client's configuration checks: no allocation, no logging.
 */
int exporter_headers_valid(const char *spec);

/* ---- life cycle -------------------------------------------------------- */

/*
 * exporter_init() takes a copy of *cfg. It does no I/O and starts no thread:
 * the thread starts on the first submitted span. Returns 0 or -errno (then
 * every span is counted as dropped).
 */
int exporter_init(const struct exporter_config *cfg);

/*
 * exporter_submit() copies a finished, sampled span into the queue. When the
 * queue is full, or the exporter is off, the span is counted as dropped. Never
 * blocks. Returns 0 when queued, -ENOSPC or -ESHUTDOWN when dropped.
 */
int exporter_submit(const struct span_record *r);

/*
 * exporter_submit() in place, without the copy: exporter_claim() returns a
 * queue slot's record, initialised as by span_record_init(), for the
 * caller to fill; or NULL when the span is dropped (counted exactly as
 * exporter_submit() counts it; nothing is counted when the exporter is
 * "none"). The caller must then pass it to exporter_commit(), which
 * publishes it, and must not block in between: the exporter thread takes
 * records in order and waits at a claimed one. A claim left for good (a
 * signal handler's siglongjmp out of a hook) is given up after 2 s and
 * counted as dropped, "left half-built". One claim at a time per thread.
 * Any thread; never blocks.
 */
struct span_record *exporter_claim(void);
void exporter_commit(struct span_record *r);

/*
 * exporter_shutdown() exports what is queued, waiting at most the configured
 * exit flush deadline, then reports dropped spans once (per the log level).
 * Later submissions are dropped and counted. Safe to call more than once.
 */
void exporter_shutdown(void);

/*
 * exporter_flush() exports what is queued now and waits for it, at most the
 * exit flush deadline; the exporter stays up. For exec: the new program
 * image would lose the queue. Returns at once when nothing is queued.
 */
void exporter_flush(void);

/*
 * Fork support, to be called from pthread_atfork handlers. In the child the
 * parent's queued spans are discarded (the parent exports them), counters are
 * reset and the exporter thread, which does not exist in the child, is
 * restarted lazily on the child's first span.
 */
void exporter_atfork_prepare(void);
void exporter_atfork_parent(void);
void exporter_atfork_child(void);

/*
 * The exporter's own descriptor (its collector connection), which the
 * program must never close, take over or write into. exporter_fd_owned()
 * says whether fd is it (any thread; one atomic load). exporter_fd_yield()
 * is for a program about to take that number (dup2 onto it): the exporter
 * moves its socket to another number first, and returns when it can no
 * longer touch the old one.
 */
int exporter_fd_owned(int fd);
void exporter_fd_yield(int fd);
/* That descriptor's number, or -1. */
int exporter_fd(void);

/* Counters, for tests and the exit report. */
struct exporter_stats {
	uint64_t submitted;		/* accepted into the queue */
	uint64_t exported;		/* acknowledged by the endpoint */
	uint64_t dropped_queue_full;
	uint64_t dropped_shutdown;	/* submitted after shutdown/disable */
	uint64_t dropped_export;	/* export failed after retries */
	uint64_t dropped_rejected;	/* partial success: rejected_spans */
	uint64_t dropped_untraceable;	/* a client could not finish a span
					   (e.g. a head too large to parse) */
	uint64_t dropped_abandoned;	/* left half-built in the queue (its
					   thread never came back), with... */
	uint64_t dropped_torn;		/* ...those of them that were
					   published, then found corrupt */
};
void exporter_get_stats(struct exporter_stats *out);

/*
 * A client started a span it cannot finish (it lost track of the protocol):
 * count it as dropped so that nothing is lost silently. Lock-free.
 */
void exporter_count_untraceable(void);

/*
 * Called once by the exporter thread before anything else, so that a client
 * can mark the thread (the shim sets its reentrancy guard there).
 */
void exporter_set_thread_hook(void (*hook)(void));

/*
 * Called with every descriptor number the collector socket takes
 * (in_use 1) and leaves (0), on the thread that moves it, so that a client
 * can keep the program's calls off it (the shim marks its fd table).
 */
void exporter_set_fd_hook(void (*hook)(int fd, int in_use));

/* ---- code addresses to text -------------------------------------------- */

/*
 * What the exporter thread derives from a record's addresses just before
 * encoding: the span's code.function.name and code.stacktrace (the
 * exception event's exception.stacktrace is the same text). Either may be
 * absent (NULL).
 */
struct span_code {
	const char *function;
	const char *stacktrace;
	uint32_t function_len;
	uint32_t stacktrace_len;
};

/*
 * A client that puts addresses in its records (caller, frames) registers
 * how to read them. Both run on the exporter thread only: batch() once
 * before each batch, then span() for each record that has a caller or
 * frames, writing its text into buf[0..cap) and pointing *out into it.
 * span() returns the bytes of buf it used. Without a symbolizer, addresses
 * are ignored. Set once, before the first span.
 */
struct exporter_symbolizer {
	void (*batch)(void);
	size_t (*span)(const struct span_record *r, char *buf, size_t cap,
		       struct span_code *out);
};
void exporter_set_symbolizer(const struct exporter_symbolizer *s);

/* Room span() may be given per record: a stack's text, a function name. */
#define EXPORTER_STACK_TEXT_MAX 8192
#define EXPORTER_FUNCTION_TEXT_MAX 256

/* ---- logging ----------------------------------------------------------- */

/*
 * otel_log() writes one line "otelshim[exe:pid]: message" to stderr with
 * write(2), when level <= the configured level. It formats into a fixed
 * buffer, never allocates, and preserves errno. Never call it on the hot path
 * of an interposed call.
 */
void otel_log_set_level(enum log_level level);
/* Copy the program's name now, before the program can rewrite argv[0]. */
void otel_log_init(void);
/* That name ("curl"), for messages and the console. */
const char *otel_log_name(void);
enum log_level otel_log_get_level(void);
void otel_log(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
