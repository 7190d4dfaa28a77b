/*
 * console.h - the readable picture of a batch: for each trace, a waterfall
 * of its spans (tree by parent, a time bar, duration, kind, status and the key
 * attributes), written to a file descriptor. This is what a user sees with
 * OTEL_TRACES_EXPORTER=console, and what scripts/otelshim shows when no OTLP
 * endpoint is configured.
 *
 * Runs on the exporter thread only. It formats into a buffer it allocates
 * and frees, and writes with write(2). Its blocks stay reachable from a
 * static table while they exist: console_atfork_child() frees them in a
 * child forked in the middle of a print.
 */
#ifndef OTELSHIM_CONSOLE_H
#define OTELSHIM_CONSOLE_H

#include <stddef.h>

#include "exporter.h"
#include "resource.h"

/*
 * Print spans[0..n) grouped by trace id, each trace as a tree ordered by
 * start time. Spans whose parent is not in the batch are shown as roots of
 * their trace (a remote parent is marked as such). codes (may be NULL)
 * gives each span's code.function.name, shown as "in FUNCTION", and its
 * stack; an exception event gets a line of its own under its span.
 */
void console_print(int fd, const struct resource *res,
		   const struct span_record *const *spans,
		   const struct span_code *codes, size_t n);

/* In a forked child: free the blocks of a print the fork interrupted. */
void console_atfork_child(void);

#endif
