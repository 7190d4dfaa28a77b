/*
 * early_lib.c - see early_lib.h.
 *
 * Before otelshim's constructor the hooks must only forward; after its
 * destructor too (init.h). So neither exchange may carry a traceparent
 * line, with or without the library: the line printed says whether the
 * server saw one, and same_output.py compares it with the run without the
 * library.
 */
#include <stdio.h>

#include "early_lib.h"
#include "loopback.h"

static int port = -1;

static void exchange(const char *when, const char *target)
{
	struct lb_reply r;

	if (port < 0) {
		printf("early %s: no server\n", when);
		fflush(stdout);
		return;
	}
	int rc = lb_request(port, "GET", target, NULL, &r);
	printf("early %s: %s, status %d, body %s", when,
	       rc == 0 ? "ok" : "FAILED", r.status,
	       r.body_len ? r.body : "(none)\n");
	printf("early %s: traceparent sent: %s\n", when,
	       r.saw_traceparent ? "yes" : "no");
	fflush(stdout);
}

__attribute__((constructor)) static void early_init(void)
{
	port = lb_server_start(3);
	exchange("constructor", "/early/constructor");
}

__attribute__((destructor)) static void early_fini(void)
{
	exchange("destructor", "/early/destructor");
}

__attribute__((visibility("default"))) int early_port(void)
{
	return port;
}
