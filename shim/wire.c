/*
 * wire.c - a tracked connection's bytes to its protocol tracker (wire.h).
 */
#include <errno.h>

#include "clock.h"
#include "mysql_wire.h"
#include "wire.h"

/* The errors after which the connection goes on. */
static int transient(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

ssize_t wire_send(struct conn *c, const struct http_send_call *call,
		  const struct iovec *iov, int iovcnt)
{
	if (http_conn_send_intercepts(c))
		return http_conn_send(c, call, iov, iovcnt);

	uint64_t t = clock_real_ns();
	ssize_t n = call->plain(call, iov, iovcnt);
	int e = errno;

	if (c->proto == CONN_PROTO_MYSQL) {
		if (n > 0)
			mysql_wire_on_send(c, iov, iovcnt, (size_t)n, t);
		else if (n < 0 && !transient(e))
			mysql_wire_on_end(c, "connection_reset", t);
	} else if (n > 0) {
		http_conn_on_send(c, iov, iovcnt, (size_t)n, t);
	} else if (n < 0 && !transient(e)) {
		http_conn_on_error(c, e, t);
	}
	errno = e;
	return n;
}

void wire_received(struct conn *c, const struct iovec *iov, int iovcnt,
		   ssize_t n, size_t want, int err, uint64_t t)
{
	int eof = n == 0 && want > 0;
	int failed = n < 0 && !transient(err);

	if (c->proto == CONN_PROTO_MYSQL) {
		if (n > 0)
			mysql_wire_on_recv(c, iov, iovcnt, (size_t)n, t);
		else if (eof || failed)
			mysql_wire_on_end(c, "connection closed", t);
	} else if (n > 0 && c->proto == CONN_PROTO_DETECT &&
		   c->role == CONN_ROLE_CLIENT && c->http.n_requests == 0 &&
		   c->http.tx.acc_len == 0 &&
		   mysql_wire_detect(c, iov, iovcnt, (size_t)n, t)) {
		/* the server spoke first, with a MySQL greeting */
		c->proto = CONN_PROTO_MYSQL;
	} else if (n > 0) {
		http_conn_on_recv(c, iov, iovcnt, (size_t)n, t);
	} else if (eof) {
		http_conn_on_eof(c, t);
	} else if (failed) {
		http_conn_on_error(c, err, t);
	}
}
