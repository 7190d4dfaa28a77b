/*
 * mysql_wire.c - MySQL/MariaDB client spans from the protocol (see
 * mysql_wire.h). Packet layout: 3-byte little-endian payload length,
 * 1-byte sequence number, payload. Only the first bytes of each payload
 * are kept: enough for the query text (up to MYSQL_WIRE_TX_HEAD), an
 * OK/ERR/EOF packet, or a result set's column count.
 */
#include <string.h>

#include "conn.h"
#include "mysql_wire.h"

enum phase {
	PH_NONE = 0,
	PH_GREETING,	/* waiting for the server's greeting */
	PH_AUTH,	/* login exchange */
	PH_COMMAND,	/* command phase */
	PH_LOST,	/* TLS, compression, or something we do not follow */
};

enum resp {
	RS_NONE = 0,
	RS_FIRST,	/* OK, ERR, LOCAL INFILE or a column count */
	RS_COLDEFS,	/* column definitions */
	RS_COLEOF,	/* the EOF after them (without CLIENT_DEPRECATE_EOF) */
	RS_ROWS,	/* rows, up to the terminator */
};

#define CLIENT_CONNECT_WITH_DB 0x00000008u
#define CLIENT_COMPRESS 0x00000020u
#define CLIENT_SSL 0x00000800u
#define CLIENT_SECURE_CONNECTION 0x00008000u
#define CLIENT_PLUGIN_AUTH_LENENC 0x00200000u
#define CLIENT_DEPRECATE_EOF 0x01000000u
#define SERVER_MORE_RESULTS_EXISTS 0x0008u

#define COM_QUIT 0x01
#define COM_INIT_DB 0x02
#define COM_QUERY 0x03

static uint32_t le16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

/* A length-encoded integer at p (n bytes available); -1 if cut. */
static int lenenc(const uint8_t *p, size_t n, uint64_t *v, size_t *used)
{
	if (n < 1)
		return -1;
	size_t k = p[0] < 0xfb ? 0 : p[0] == 0xfc ? 2 : p[0] == 0xfd ? 3 :
				   p[0] == 0xfe ? 8 : 0;
	if (p[0] == 0xfb || p[0] == 0xff)
		return -1;
	if (n < 1 + k)
		return -1;
	if (k == 0) {
		*v = p[0];
	} else {
		*v = 0;
		for (size_t i = 0; i < k; i++)
			*v |= (uint64_t)p[1 + i] << (8 * i);
	}
	*used = 1 + k;
	return 0;
}

static void copy_cstr(char *dst, size_t cap, const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n] && n + 1 < cap)
		n++;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* ---- spans ---------------------------------------------------------------- */

static void finish(struct conn *c, int failed, const char *code,
		   const char *msg, uint64_t now)
{
	struct mysql_wire *w = &c->my;
	struct db_target t = {
		.system = w->mariadb ? "mariadb" : "mysql",
		.namespace = w->db,
		.server_address = c->peer_addr[0] ? c->peer_addr : NULL,
		.server_port = c->peer_port,
	};
	struct db_outcome o = {
		.failed = failed,
		.status_code = code,
		.message = msg,
		.rows = failed ? -1 : w->rows,
	};

	(void)now;
	w->resp = RS_NONE;
	w->cmd = 0;
	db_end(&w->op, &t, &o);
}

/* An OK or EOF packet's status flags: more results follow? */
static int more_results(const uint8_t *p, size_t n, uint32_t len)
{
	if (p[0] == 0xfe && len < 9)	/* EOF: fe, warnings(2), status(2) */
		return n >= 5 && (le16(p + 3) & SERVER_MORE_RESULTS_EXISTS);
	/* OK (00 or fe): affected rows, last insert id, status(2) */
	uint64_t v;
	size_t u1, u2;
	if (lenenc(p + 1, n - 1, &v, &u1) < 0 ||
	    lenenc(p + 1 + u1, n - 1 - u1, &v, &u2) < 0 ||
	    n < 1 + u1 + u2 + 2)
		return 0;
	return (le16(p + 1 + u1 + u2) & SERVER_MORE_RESULTS_EXISTS) != 0;
}

static void error_packet(struct conn *c, const uint8_t *p, size_t n,
			 uint64_t now)
{
	char code[8] = "", msg[MYSQL_WIRE_RX_HEAD];
	size_t m = 0;

	if (n >= 3) {
		uint32_t e = le16(p + 1);
		int k = 0;
		char tmp[8];
		do {
			tmp[k++] = (char)('0' + e % 10);
			e /= 10;
		} while (e && k < 6);
		for (int i = 0; i < k; i++)
			code[i] = tmp[k - 1 - i];
		code[k] = '\0';
		size_t at = 3;
		if (n >= 9 && p[3] == '#')
			at = 9;	/* '#' and a 5-byte SQLSTATE */
		m = n - at < sizeof(msg) - 1 ? n - at : sizeof(msg) - 1;
		memcpy(msg, p + at, m);
	}
	msg[m] = '\0';
	finish(c, 1, code[0] ? code : NULL, msg, now);
}

/* A complete server packet (its first head_len bytes) in the command phase. */
static void server_packet(struct conn *c, const uint8_t *p, size_t n,
			  uint32_t len, uint64_t now)
{
	struct mysql_wire *w = &c->my;
	int deprecate_eof = (w->client_caps & w->server_caps &
			     CLIENT_DEPRECATE_EOF) != 0;

	if (n == 0)
		return;
	if (w->cmd == COM_INIT_DB) {
		if (p[0] == 0x00)
			memcpy(w->db, w->pending_db, sizeof(w->db));
		w->cmd = 0;
		return;
	}
	if (w->cmd != COM_QUERY || !w->op.active)
		return;
	switch (w->resp) {
	case RS_FIRST:
		if (p[0] == 0xff) {
			error_packet(c, p, n, now);
		} else if (p[0] == 0x00) {
			if (!more_results(p, n, len))
				finish(c, 0, NULL, NULL, now);
		} else if (p[0] == 0xfb) {
			finish(c, 0, NULL, NULL, now);	/* LOCAL INFILE */
		} else {
			uint64_t cols;
			size_t u;
			if (lenenc(p, n, &cols, &u) < 0 || cols == 0) {
				w->phase = PH_LOST;
				finish(c, 1, NULL, "unexpected response", now);
				return;
			}
			w->cols_left = cols;
			w->resp = RS_COLDEFS;
		}
		break;
	case RS_COLDEFS:
		if (--w->cols_left == 0)
			w->resp = deprecate_eof ? RS_ROWS : RS_COLEOF;
		break;
	case RS_COLEOF:
		w->resp = RS_ROWS;
		break;
	case RS_ROWS:
		if (p[0] == 0xff) {
			error_packet(c, p, n, now);
		} else if (p[0] == 0xfe && (len < 9 || (deprecate_eof &&
							 len < 0xffffff))) {
			if (more_results(p, n, len))
				w->resp = RS_FIRST;
			else
				finish(c, 0, NULL, NULL, now);
		} else {
			w->rows++;
		}
		break;
	default:
		break;
	}
}

/* A complete client packet. */
static void client_packet(struct conn *c, const uint8_t *p, size_t n,
			  uint32_t len, uint8_t seq, uint64_t now)
{
	struct mysql_wire *w = &c->my;

	if (w->phase == PH_AUTH && seq == 1 && n >= 4) {
		/* the login: capabilities, then (protocol 41) max packet,
		   charset, 23 filler bytes, user, auth data, database */
		w->client_caps = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
				 (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		if (w->client_caps & (CLIENT_SSL | CLIENT_COMPRESS)) {
			w->phase = PH_LOST;	/* nothing more to read */
			return;
		}
		size_t i = 32;
		while (i < n && p[i])
			i++;		/* user */
		i++;
		if (i >= n)
			return;
		if (w->client_caps & CLIENT_PLUGIN_AUTH_LENENC) {
			uint64_t l;
			size_t u;
			if (lenenc(p + i, n - i, &l, &u) < 0)
				return;
			i += u + (size_t)l;
		} else if (w->client_caps & CLIENT_SECURE_CONNECTION) {
			i += 1 + (size_t)p[i];
		} else {
			while (i < n && p[i])
				i++;
			i++;
		}
		if ((w->client_caps & CLIENT_CONNECT_WITH_DB) && i < n)
			copy_cstr(w->db, sizeof(w->db), (const char *)p + i,
				  n - i);
		return;
	}
	if (w->phase != PH_COMMAND || seq != 0 || n == 0)
		return;
	/* a new command: one still in flight lost its response */
	if (w->op.active)
		finish(c, 1, NULL, "response incomplete", now);
	w->cmd = p[0];
	if (p[0] == COM_QUERY) {
		size_t tl = (len < n ? len : n) - 1;
		db_query_from_text(&w->op.q, SQL_MYSQL, (const char *)p + 1, tl);
		w->rows = 0;
		w->resp = RS_FIRST;
		w->gen = conn_generation;
		if (!db_begin(&w->op, &w->op.q, NULL, shim_tls.caller,
			      DB_SPLIT))
			w->cmd = 0;
	} else if (p[0] == COM_INIT_DB) {
		size_t l = (len < n ? len : n) - 1;
		if (l >= sizeof(w->pending_db))
			l = sizeof(w->pending_db) - 1;
		memcpy(w->pending_db, p + 1, l);
		w->pending_db[l] = '\0';
	}
}

/* The server's greeting: protocol 10, version, capabilities. */
static void greeting(struct conn *c, const uint8_t *p, size_t n)
{
	struct mysql_wire *w = &c->my;
	size_t i = 1;

	while (i < n && p[i])
		i++;
	w->mariadb = memmem(p + 1, i - 1, "MariaDB", 7) != NULL;
	i += 1 + 4 + 8 + 1;	/* NUL, thread id, auth data 1, filler */
	if (i + 2 <= n)
		w->server_caps = le16(p + i);
	if (i + 7 <= n)
		w->server_caps |= le16(p + i + 5) << 16;
	w->phase = PH_AUTH;
}

static void server_auth(struct conn *c, const uint8_t *p, size_t n)
{
	if (n && p[0] == 0x00)
		c->my.phase = PH_COMMAND;	/* logged in */
	else if (n && p[0] == 0xff)
		c->my.phase = PH_LOST;		/* refused: it will close */
}

/* ---- packet assembly -------------------------------------------------------- */

typedef void (*packet_fn)(struct conn *c, const uint8_t *p, size_t n,
			  uint32_t len, uint8_t seq, uint64_t now);

static void feed(struct conn *c, struct mysql_packet *pk, char *head,
		 size_t head_cap, const uint8_t *p, size_t n, packet_fn fn,
		 uint64_t now)
{
	while (n > 0 && c->my.phase != PH_LOST) {
		if (pk->hdr_len < 4) {
			pk->hdr[pk->hdr_len++] = *p++;
			n--;
			if (pk->hdr_len == 4) {
				pk->len = (uint32_t)pk->hdr[0] |
					  (uint32_t)pk->hdr[1] << 8 |
					  (uint32_t)pk->hdr[2] << 16;
				pk->seq = pk->hdr[3];
				pk->seen = 0;
				pk->head_len = 0;
			} else {
				continue;
			}
		}
		size_t take = pk->len - pk->seen < n ? pk->len - pk->seen : n;
		if (pk->head_len < head_cap) {
			size_t keep = head_cap - pk->head_len < take
					      ? head_cap - pk->head_len
					      : take;
			memcpy(head + pk->head_len, p, keep);
			pk->head_len = (uint16_t)(pk->head_len + keep);
		}
		pk->seen += (uint32_t)take;
		p += take;
		n -= take;
		if (pk->seen == pk->len) {
			fn(c, (const uint8_t *)head, pk->head_len, pk->len,
			   pk->seq, now);
			pk->hdr_len = 0;
		}
	}
}

static void on_client_packet(struct conn *c, const uint8_t *p, size_t n,
			     uint32_t len, uint8_t seq, uint64_t now)
{
	client_packet(c, p, n, len, seq, now);
}

static void on_server_packet(struct conn *c, const uint8_t *p, size_t n,
			     uint32_t len, uint8_t seq, uint64_t now)
{
	(void)seq;
	switch (c->my.phase) {
	case PH_GREETING:
		greeting(c, p, n);
		break;
	case PH_AUTH:
		server_auth(c, p, n);
		break;
	case PH_COMMAND:
		server_packet(c, p, n, len, now);
		break;
	default:
		break;
	}
}

static void feed_iov(struct conn *c, int tx, const struct iovec *iov,
		     int iovcnt, size_t n, uint64_t now)
{
	for (int i = 0; i < iovcnt && n > 0; i++) {
		size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;
		if (tx)
			feed(c, &c->my.tx, c->my.tx_head, sizeof(c->my.tx_head),
			     iov[i].iov_base, k, on_client_packet, now);
		else
			feed(c, &c->my.rx, c->my.rx_head, sizeof(c->my.rx_head),
			     iov[i].iov_base, k, on_server_packet, now);
		n -= k;
	}
}

int mysql_wire_detect(struct conn *c, const struct iovec *iov, int iovcnt,
		      size_t n, uint64_t now)
{
	uint8_t b[12];
	size_t got = 0;

	for (int i = 0; i < iovcnt && got < sizeof(b) && got < n; i++) {
		size_t k = iov[i].iov_len;
		if (k > sizeof(b) - got)
			k = sizeof(b) - got;
		if (k > n - got)
			k = n - got;
		memcpy(b + got, iov[i].iov_base, k);
		got += k;
	}
	/* header: a plausible length, sequence 0; protocol 10; a version
	   that starts with a digit ("5.5.5-10.11.6-MariaDB", "8.0.36") */
	if (got < 7)
		return 0;
	uint32_t len = (uint32_t)b[0] | (uint32_t)b[1] << 8 |
		       (uint32_t)b[2] << 16;
	if (len < 20 || len > 1024 || b[3] != 0 || b[4] != 0x0a ||
	    b[5] < '0' || b[5] > '9' || (b[6] != '.' && (b[6] < '0' || b[6] > '9')))
		return 0;
	memset(&c->my, 0, offsetof(struct mysql_wire, tx_head));
	c->my.db[0] = '\0';
	c->my.op.active = 0;
	c->my.phase = PH_GREETING;
	feed_iov(c, 0, iov, iovcnt, n, now);
	return 1;
}

void mysql_wire_on_send(struct conn *c, const struct iovec *iov, int iovcnt,
			size_t n, uint64_t now)
{
	feed_iov(c, 1, iov, iovcnt, n, now);
}

void mysql_wire_on_recv(struct conn *c, const struct iovec *iov, int iovcnt,
			size_t n, uint64_t now)
{
	feed_iov(c, 0, iov, iovcnt, n, now);
}

void mysql_wire_on_end(struct conn *c, const char *error, uint64_t now)
{
	if (c->my.op.active)
		finish(c, 1, NULL, error, now);
	c->my.phase = PH_LOST;
}
