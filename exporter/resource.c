/*
 * resource.c - the resource of this process (see resource.h).
 *
 * Precedence, lowest first: what we detect (process.*, host.name), then
 * OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME for service.name. The
 * telemetry.sdk.* group always describes us: a user cannot overwrite it.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "resource.h"

#define SDK_NAME "otelshim"
/* Not one of the well-known values: the spec allows a custom one. */
#define SDK_LANGUAGE "c"

static struct resource_attr *find(struct resource *res, const char *key)
{
	for (size_t i = 0; i < res->n; i++)
		if (strcmp(res->attrs[i].key, key) == 0)
			return &res->attrs[i];
	return NULL;
}

static void copy_str(char *dst, size_t cap, const char *s, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, s, len);
	dst[len] = '\0';
}

/* Set key (replacing an existing value); silently full at the cap. */
static struct resource_attr *slot(struct resource *res, const char *key)
{
	struct resource_attr *a = find(res, key);

	if (!a) {
		if (res->n >= RESOURCE_MAX_ATTRS)
			return NULL;
		a = &res->attrs[res->n++];
		copy_str(a->key, sizeof(a->key), key, strlen(key));
	}
	return a;
}

static void set_str(struct resource *res, const char *key, const char *v)
{
	struct resource_attr *a = slot(res, key);

	if (a) {
		a->is_int = 0;
		a->i = 0;
		copy_str(a->str, sizeof(a->str), v, strlen(v));
	}
}

static void set_int(struct resource *res, const char *key, int64_t v)
{
	struct resource_attr *a = slot(res, key);

	if (a) {
		a->is_int = 1;
		a->i = v;
		a->str[0] = '\0';
	}
}

const char *resource_get(const struct resource *res, const char *key)
{
	for (size_t i = 0; i < res->n; i++)
		if (!res->attrs[i].is_int && strcmp(res->attrs[i].key, key) == 0)
			return res->attrs[i].str;
	return NULL;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Trim spaces and tabs from [s, s+len), percent-decode into dst (cap bytes
 * with the NUL). Returns NULL or the reason it failed.
 */
static const char *decode(char *dst, size_t cap, const char *s, size_t len)
{
	size_t o = 0;

	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			if (len - i < 3 || hexval(s[i + 1]) < 0 ||
			    hexval(s[i + 2]) < 0)
				return "a bad percent-escape";
			c = hexval(s[i + 1]) << 4 | hexval(s[i + 2]);
			i += 2;
		}
		if (o + 1 >= cap)
			return "a key or value too long";
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return NULL;
}

/* Parse s into *tmp; NULL or the reason. */
static const char *parse(struct resource *tmp, const char *s)
{
	while (*s) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		const char *eq = memchr(s, '=', len);
		const char *why;
		struct resource_attr a;

		/* An empty member ("a=1,,b=2", a trailing comma) is harmless. */
		size_t blank = 0;
		while (blank < len && (s[blank] == ' ' || s[blank] == '\t'))
			blank++;
		if (blank == len)
			goto next;
		if (!eq)
			return "a member without '='";
		why = decode(a.key, sizeof(a.key), s, (size_t)(eq - s));
		if (why)
			return why;
		if (!a.key[0])
			return "an empty key";
		why = decode(a.str, sizeof(a.str), eq + 1,
			     len - (size_t)(eq + 1 - s));
		if (why)
			return why;
		if (tmp->n >= RESOURCE_MAX_ATTRS)
			return "too many members";
		set_str(tmp, a.key, a.str);
	next:
		if (!end)
			break;
		s = end + 1;
	}
	return NULL;
}

int resource_parse_attributes(struct resource *res, const char *s)
{
	static struct resource tmp; /* exporter thread only; too big for a stack */
	int added = 0;

	tmp.n = 0;
	if (parse(&tmp, s))
		return -1;
	for (size_t i = 0; i < tmp.n; i++) {
		int had = find(res, tmp.attrs[i].key) != NULL;
		set_str(res, tmp.attrs[i].key, tmp.attrs[i].str);
		/* (a full resource drops it: not appended) */
		if (!had && find(res, tmp.attrs[i].key))
			added++;
	}
	return added;
}

/* The executable's base name and path, from /proc/self/exe. */
static void executable(char *name, size_t name_cap, char *path,
		       size_t path_cap)
{
	ssize_t n = readlink("/proc/self/exe", path, path_cap - 1);

	if (n <= 0) {
		path[0] = '\0';
		copy_str(name, name_cap, otel_log_name(),
			 strlen(otel_log_name()));
		return;
	}
	path[n] = '\0';
	/* A replaced binary reads "/usr/bin/x (deleted)": keep the name. */
	const char *del = " (deleted)";
	size_t dl = strlen(del);
	if ((size_t)n > dl && strcmp(path + n - dl, del) == 0)
		path[n - dl] = '\0';
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	copy_str(name, name_cap, base, strlen(base));
}

void resource_build(struct resource *res, const struct exporter_config *cfg,
		    pid_t pid)
{
	/* One warning per process tree: a forked child inherits the flag. */
	static int warned;
	char name[256], path[PATH_MAX], host[256];
	const char *user_svc = NULL;

	res->n = 0;
	/* The attributes that must be there take the first slots, so that
	 * a long OTEL_RESOURCE_ATTRIBUTES can never push them out. */
	set_str(res, "service.name", "");
	set_str(res, "telemetry.sdk.name", SDK_NAME);
	set_str(res, "telemetry.sdk.language", SDK_LANGUAGE);
	set_str(res, "telemetry.sdk.version", OTELSHIM_VERSION);

	executable(name, sizeof(name), path, sizeof(path));
	set_int(res, "process.pid", pid);
	if (name[0])
		set_str(res, "process.executable.name", name);
	if (path[0])
		set_str(res, "process.executable.path", path);
	if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		set_str(res, "host.name", host);
	}

	if (cfg->resource_attributes[0]) {
		static struct resource tmp;
		const char *why;

		tmp.n = 0;
		why = parse(&tmp, cfg->resource_attributes);
		if (why) {
			if (!warned)
				otel_log(LOG_WARN,
					 "OTEL_RESOURCE_ATTRIBUTES='%s' has %s; "
					 "ignoring the whole variable",
					 cfg->resource_attributes, why);
			warned = 1;
		}
		for (size_t i = 0; !why && i < tmp.n; i++) {
			const struct resource_attr *a = &tmp.attrs[i];
			if (!strncmp(a->key, "telemetry.sdk.", 14))
				continue;	/* they describe us */
			if (!strcmp(a->key, "service.name"))
				user_svc = a->str;
			else
				set_str(res, a->key, a->str);
		}
	}

	if (cfg->service_name[0]) {
		set_str(res, "service.name", cfg->service_name);
	} else if (user_svc) {
		set_str(res, "service.name", user_svc);
	} else {
		char svc[sizeof(((struct resource_attr *)0)->str)];
		const char *prefix = "unknown_service";
		size_t pl = strlen(prefix);

		memcpy(svc, prefix, pl);
		svc[pl] = '\0';
		if (name[0]) {
			svc[pl] = ':';
			copy_str(svc + pl + 1, sizeof(svc) - pl - 1, name,
				 strlen(name));
		}
		set_str(res, "service.name", svc);
	}
}
