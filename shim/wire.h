/*
 * wire.h - where a tracked connection's bytes go: the protocol trackers
 * (HTTP/1.x in http_conn.c, the MySQL protocol in mysql_wire.c) behind one
 * entry point per direction. The socket hooks call them around the real
 * call; the http_conn fuzzer calls the same ones, so that it drives
 * exactly what the hooks drive.
 *
 * Call under the guard. errno is as the program's call left it.
 */
#ifndef OTELSHIM_WIRE_H
#define OTELSHIM_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "conn.h"
#include "http_conn.h"

/*
 * Make the program's send-like call on c through call->plain, or through
 * the HTTP tracker when it rewrites the stream (header injection), and
 * feed what went out to c's tracker. Returns what the program's call
 * returns, with errno set as it must see it.
 */
ssize_t wire_send(struct conn *c, const struct http_send_call *call,
		  const struct iovec *iov, int iovcnt);

/*
 * After a receive-like call on c returned n (bytes in iov, 0, or -1 with
 * err). want is the room the program offered: a 0 return with room is the
 * peer's EOF, with none it is not. t: when the call returned.
 */
void wire_received(struct conn *c, const struct iovec *iov, int iovcnt,
		   ssize_t n, size_t want, int err, uint64_t t);

#endif
