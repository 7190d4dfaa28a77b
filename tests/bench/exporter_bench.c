/*
 * exporter_bench.c - the exporter benchmark, linked against the exporter's
 * static library (no preload involved).
 *
 *     exporter_bench encode SPANS
 *         encode SPANS typical server spans (12 attributes) as OTLP
 *         requests of 512 spans each, on this thread; report the thread's
 *         CPU time
 *     exporter_bench e2e SPANS PORT
 *         submit SPANS spans through the exporter's queue to the OTLP/HTTP
 *         sink on 127.0.0.1:PORT as fast as the exporter takes them, then
 *         flush; report the wall time and what was exported
 *     exporter_bench sizeof
 *         the size of one span record (a queue slot)
 *
 * Prints one JSON object on stdout.
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exporter.h"
#include "otlp.h"
#include "resource.h"

#define BATCH 512

static uint64_t ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

#define ADD_STR(r, k, s) span_record_add_str(r, k, s, sizeof(s) - 1)

/*
 * A SERVER span as the shim makes for a request to a small web service:
 * name, ids, times, 12 attributes with values of the usual sizes.
 */
static void typical_span(struct span_record *r, uint64_t t)
{
	uint64_t a = next_random(), b = next_random(), c = next_random();

	span_record_init(r);
	memcpy(r->trace_id, &a, 8);
	memcpy(r->trace_id + 8, &b, 8);
	memcpy(r->span_id, &c, 8);
	memcpy(r->parent_span_id, &a, 8);
	r->flags = TRACE_FLAG_SAMPLED | SPAN_FLAGS_HAS_IS_REMOTE |
		   SPAN_FLAGS_IS_REMOTE;
	r->kind = SPAN_KIND_SERVER;
	r->start_ns = t;
	r->end_ns = t + 187000;
	span_record_set_name(r, "GET", 3);
	ADD_STR(r, "http.request.method", "GET");
	ADD_STR(r, "url.path", "/api/v1/orders/12345");
	ADD_STR(r, "url.query", "include=items&page=2");
	ADD_STR(r, "url.scheme", "http");
	ADD_STR(r, "server.address", "orders.internal.example.com");
	span_record_add_int(r, "server.port", 8080);
	ADD_STR(r, "client.address", "10.20.30.40");
	span_record_add_int(r, "client.port", 51234);
	ADD_STR(r, "network.peer.address", "10.20.30.40");
	ADD_STR(r, "network.protocol.version", "1.1");
	ADD_STR(r, "user_agent.original",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36");
	span_record_add_int(r, "http.response.status_code", 200);
}

static void config(struct exporter_config *cfg, int port)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->kind = EXPORTER_OTLP;
	strcpy(cfg->endpoint_scheme, "http");
	strcpy(cfg->endpoint_host, "127.0.0.1");
	cfg->endpoint_port = (uint16_t)port;
	strcpy(cfg->endpoint_path, "/v1/traces");
	cfg->timeout_ms = 10000;
	cfg->schedule_delay_ms = 5000;
	cfg->export_timeout_ms = 30000;
	cfg->max_queue_size = 2048;
	cfg->max_export_batch_size = BATCH;
	cfg->exit_flush_timeout_ms = 60000;
	cfg->attr_count_limit = 128;
	strcpy(cfg->service_name, "bench");
}

static int encode(long spans)
{
	static struct span_record recs[BATCH];
	const struct span_record *batch[BATCH];
	struct exporter_config cfg;
	struct resource res;
	uint64_t bytes = 0, t = ns(CLOCK_REALTIME);

	config(&cfg, 4318);
	resource_build(&res, &cfg, getpid());
	for (int i = 0; i < BATCH; i++) {
		typical_span(&recs[i], t + (uint64_t)i * 1000);
		batch[i] = &recs[i];
	}
	uint64_t c0 = ns(CLOCK_THREAD_CPUTIME_ID);
	long done = 0;
	struct otlp_buf out = {0};	/* reused, as the exporter does */
	while (done < spans) {
		size_t n = spans - done < BATCH ? (size_t)(spans - done) : BATCH;
		if (otlp_encode(&res, batch, NULL, n, 0, 128, &out) < 0) {
			fprintf(stderr, "exporter_bench: encoding failed\n");
			return 1;
		}
		bytes += out.len;
		done += (long)n;
	}
	otlp_buf_free(&out);
	uint64_t c1 = ns(CLOCK_THREAD_CPUTIME_ID);
	printf("{\"spans\": %ld, \"cpu_ns\": %llu, \"bytes\": %llu}\n", spans,
	       (unsigned long long)(c1 - c0), (unsigned long long)bytes);
	return 0;
}

static int e2e(long spans, int port)
{
	struct exporter_config cfg;
	struct span_record r;
	struct exporter_stats s;
	long retries = 0;

	config(&cfg, port);
	otel_log_init();
	otel_log_set_level(LOG_WARN);
	if (exporter_init(&cfg) < 0)
		return 1;
	typical_span(&r, ns(CLOCK_REALTIME));
	uint64_t t0 = ns(CLOCK_MONOTONIC);
	for (long i = 0; i < spans; i++) {
		uint64_t id = next_random();
		memcpy(r.span_id, &id, 8);
		/* A full queue means the exporter is the bottleneck: wait. */
		while (exporter_submit(&r) == -ENOSPC) {
			retries++;
			sched_yield();
		}
	}
	exporter_shutdown();
	uint64_t t1 = ns(CLOCK_MONOTONIC);
	exporter_get_stats(&s);
	printf("{\"spans\": %ld, \"wall_ns\": %llu, \"exported\": %llu, "
	       "\"dropped_export\": %llu, \"queue_full_waits\": %ld}\n",
	       spans, (unsigned long long)(t1 - t0),
	       (unsigned long long)s.exported,
	       (unsigned long long)s.dropped_export, retries);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "encode"))
		return encode(atol(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "e2e"))
		return e2e(atol(argv[2]), atoi(argv[3]));
	if (argc == 2 && !strcmp(argv[1], "sizeof")) {
		printf("{\"span_record\": %zu}\n", sizeof(struct span_record));
		return 0;
	}
	fprintf(stderr, "usage: exporter_bench encode SPANS | e2e SPANS PORT "
			"| sizeof\n");
	return 2;
}
