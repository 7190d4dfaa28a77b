/*
 * url.h - building the URL attributes of HTTP spans, with the redaction the
 * semantic conventions ask for (SPEC.md 5.1): credentials become
 * "REDACTED:REDACTED@", and the values of sensitive query parameters
 * (AWSAccessKeyId, Signature, sig, X-Amz-Credential, X-Amz-Security-Token,
 * X-Amz-Signature, X-Goog-Signature; case-sensitive) become "REDACTED".
 *
 * Every function writes at most cap-1 bytes plus a NUL into out, truncating
 * at cap, and returns the number of bytes written (without the NUL). They
 * never allocate. Threading: pure functions; any thread.
 */
#ifndef OTELSHIM_URL_H
#define OTELSHIM_URL_H

#include <stddef.h>

/*
 * url.full of a client request. target is the request-target as written on
 * the wire: origin-form ("/p?q"), absolute-form ("http://u:p@h:8080/p?q",
 * used towards proxies) or asterisk/authority form. For origin-form the URL
 * is scheme "://" authority target, where authority is the Host header value
 * as sent (host_len may be 0: then the caller's fallback_authority, e.g.
 * "127.0.0.1:8080", is used). Userinfo in either source is redacted.
 */
size_t url_build_full(char *out, size_t cap, const char *scheme,
		      const char *host, size_t host_len,
		      const char *fallback_authority,
		      const char *target, size_t target_len);

/*
 * Split a request-target into url.path and url.query (without '?', and with
 * sensitive values redacted). The fragment, if any, is dropped. Either output
 * may be NULL to skip it.
 */
void url_split_target(const char *target, size_t target_len,
		      char *path, size_t path_cap, size_t *path_len,
		      char *query, size_t query_cap, size_t *query_len);

/*
 * Split an authority ("host", "host:port", "[v6]:port", "user@host") into
 * host (without brackets and userinfo) and port. *port is -1 when absent.
 * Returns 0, or -1 when it is not a valid authority.
 */
int url_split_authority(const char *a, size_t len, const char **host,
			size_t *host_len, int *port);

#endif
