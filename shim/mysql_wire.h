/*
 * mysql_wire.h - MySQL/MariaDB client spans read off the wire, for
 * programs whose client library the shim cannot interpose: Debian's
 * mariadb command-line client carries libmariadb inside its executable, so
 * its calls never reach the dynamic linker. Connections opened through an
 * interposed library (hook_mysql.c) run under the guard and are never seen
 * here: no double counting.
 *
 * A client TCP connection whose first bytes come from the server and form
 * a protocol-10 greeting is MySQL. The tracker follows the packets both
 * ways (4-byte headers, payloads split anywhere across calls), reads the
 * server's version (MariaDB or MySQL) and the database named in the login,
 * then makes one span per COM_QUERY, from the command to the end of its
 * response (OK, ERR, or a result set to its terminator, through multiple
 * result sets), with the rows counted. COM_INIT_DB changes the namespace.
 * TLS and compressed connections are left alone after the greeting.
 *
 * It only reads the bytes the program moved; it never changes them.
 */
#ifndef OTELSHIM_MYSQL_WIRE_H
#define OTELSHIM_MYSQL_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "db.h"

#define MYSQL_WIRE_TX_HEAD 1024	/* bytes of a client packet kept (the query) */
#define MYSQL_WIRE_RX_HEAD 160	/* bytes of a server packet kept */

struct mysql_packet {
	uint8_t hdr[4];
	uint8_t hdr_len;
	uint8_t seq;
	uint32_t len;		/* payload length of the packet in progress */
	uint32_t seen;		/* payload bytes seen so far */
	uint16_t head_len;	/* payload bytes kept in head */
};

struct mysql_wire {
	uint8_t phase;		/* enum in mysql_wire.c; 0: not MySQL */
	uint8_t mariadb;
	uint8_t resp;		/* response state of the query in flight */
	uint8_t cmd;		/* command in flight */
	uint32_t gen;		/* conn_generation of the query in flight */
	uint32_t server_caps;
	uint32_t client_caps;
	uint64_t cols_left;
	int64_t rows;
	struct mysql_packet tx, rx;
	char tx_head[MYSQL_WIRE_TX_HEAD];
	char rx_head[MYSQL_WIRE_RX_HEAD];
	char db[64];
	char pending_db[64];
	struct db_op op;
};

struct conn;

/*
 * The first bytes a client connection received, before it sent any: is
 * this a MySQL greeting? Starts tracking (and feeds them) if so. Returns 1
 * when the connection is MySQL from now on.
 */
int mysql_wire_detect(struct conn *c, const struct iovec *iov, int iovcnt,
		      size_t n, uint64_t now);

/* Bytes the program sent / received on a MySQL connection. */
void mysql_wire_on_send(struct conn *c, const struct iovec *iov, int iovcnt,
			size_t n, uint64_t now);
void mysql_wire_on_recv(struct conn *c, const struct iovec *iov, int iovcnt,
			size_t n, uint64_t now);

/* The connection ended (EOF, error or close): a query in flight fails. */
void mysql_wire_on_end(struct conn *c, const char *error, uint64_t now);

#endif
