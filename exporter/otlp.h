/*
 * otlp.h - OTLP/protobuf encoding of span batches and decoding of export
 * responses, with protobuf-c and our own proto/otlp.proto (written from the
 * field numbers in SPEC.md section 4).
 *
 * Runs on the exporter thread only. Encoding allocates only the caller's
 * struct otlp_buf, which is reused from batch to batch.
 */
#ifndef OTELSHIM_OTLP_H
#define OTELSHIM_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "exporter.h"
#include "resource.h"

/*
 * An attribute key's encoded KeyValue prefix, kept from batch to batch by
 * the key's address (keys are static storage: exporter.h). See otlp.c.
 */
struct otlp_key {
	const char *key;	/* NULL: unused */
	uint32_t len;		/* strlen(key) */
	uint32_t n;		/* bytes of pre in use; 0x80: too long */
	uint8_t pre[48];
};

#define OTLP_KEYS 128		/* 64 sets of 2 */

/*
 * Encode spans[0..n) as one ExportTraceServiceRequest with one ResourceSpans
 * (res) and one ScopeSpans (scope "otelshim", version OTELSHIM_VERSION).
 * codes, when not NULL, gives for each span the text derived from its
 * addresses: code.function.name and code.stacktrace come after the span's
 * own attributes, and the stack is also the exception.stacktrace of its
 * exception event. Attribute limits: string values are truncated to
 * value_len_limit characters (0 = no limit; UTF-8 sequences are not cut),
 * attributes beyond count_limit are dropped and counted in
 * dropped_attributes_count together with the record's own dropped_attrs
 * (the exception event's attributes have the same limits, counted in the
 * event's own count).
 * The message goes to b->data[0..b->len); b's storage grows as needed and
 * is kept for the next batch, as are the encoded attribute keys (by
 * address: a key's bytes must not change while b lives, which static keys
 * guarantee). b starts zeroed ({0}). Returns 0 or -errno (b then holds
 * nothing valid, but stays freeable).
 */
struct otlp_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	/* While data is being replaced by a larger block: the new block
	   (until it is data) and the old one (until it is freed), so that
	   every block stays reachable from the struct (see otlp.c). */
	uint8_t *incoming, *outgoing;
	struct otlp_key keys[OTLP_KEYS];
	/* the entry of the key last seen at each attribute position: its
	   byte offset in keys */
	uint16_t recent[SPAN_MAX_ATTRS];
};

int otlp_encode(const struct resource *res,
		const struct span_record *const *spans,
		const struct span_code *codes, size_t n,
		uint32_t value_len_limit, uint32_t count_limit,
		struct otlp_buf *b);

/*
 * Release b's storage. Also right in a forked child for a buffer the
 * parent's exporter was using (b is always consistent: see otlp.c).
 */
void otlp_buf_free(struct otlp_buf *b);

/*
 * Decode an ExportTraceServiceResponse body. An empty body is full success.
 * *rejected gets partial_success.rejected_spans (0 if absent) and msg its
 * error_message (truncated to cap). Returns 0, or -1 when the body is not a
 * valid message.
 */
int otlp_parse_response(const uint8_t *buf, size_t len, int64_t *rejected,
			char *msg, size_t cap);

#endif
