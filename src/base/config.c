/*
 * config.c - the settings table, defaults, command-line parsing and help.
 * One row per setting; the help text is generated from the same rows, so
 * README, --help and the code cannot drift apart.
 */
#include "propflow/base/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum opt_type {
	OPT_STR,
	OPT_INT,
	OPT_SIZE, /* integer with optional K/M/G suffix (powers of 1024) */
	OPT_FLAG, /* no value; sets 1 */
	OPT_LIST, /* comma-separated string; given again, the values are appended */
} opt_type;

typedef struct opt {
	const char *name;
	opt_type type;
	size_t off;
	const char *def; /* default as text */
	int64_t min, max;
	const char *help;
} opt;

#define OFF(f) offsetof(pf_config, f)
#define KB     1024LL
#define MB     (1024LL * 1024)
#define GB     (1024LL * 1024 * 1024)

static const opt opts[] = {
    {"listen", OPT_STR, OFF(listen), "127.0.0.1:8080", 0, 0,
     "HOST:PORT to listen on (port 0 picks a free one)"},
    {"db", OPT_STR, OFF(db), "", 0, 0,
     "libpq connection string (or DATABASE_URL); empty: embedded PostgreSQL in --data-dir"},
    {"data-dir", OPT_STR, OFF(data_dir), "./var", 0, 0,
     "directory for the embedded database (DIR/pg, socket in DIR/run)"},
    {"static-dir", OPT_STR, OFF(static_dir), PF_SOURCE_DIR "/static", 0, 0,
     "directory of the web page, loaded into memory at start"},
    {"schema-dir", OPT_STR, OFF(schema_dir), PF_SOURCE_DIR "/schema", 0, 0,
     "directory of ordered SQL migrations applied at start"},
    {"log-level", OPT_STR, OFF(log_level), "info", 0, 0, "debug, info, warn or error"},
    {"batch-rows", OPT_INT, OFF(batch_rows), "500", 1, 50000,
     "rows per INSERT statement (one transaction each)"},
    {"batches-in-flight", OPT_INT, OFF(batches_in_flight), "4", 1, 64,
     "batches of one import waiting for the database before its upload is paused"},
    {"db-writers", OPT_INT, OFF(db_writers), "2", 1, 32,
     "database connections carrying import batches"},
    {"db-readers", OPT_INT, OFF(db_readers), "4", 1, 32, "database connections carrying API reads"},
    {"db-writer-nice", OPT_INT, OFF(db_writer_nice), "10", 0, 19,
     "CPU niceness of the import writers' backends on a local server (reads go first)"},
    {"db-pipeline-max", OPT_INT, OFF(db_pipeline_max), "16", 1, 1024,
     "queries in flight on one connection (pipeline window)"},
    {"max-upload", OPT_SIZE, OFF(max_upload), "1G", 1, 1024 * GB,
     "largest upload in bytes (K, M, G suffixes); 413 beyond"},
    {"max-connections", OPT_INT, OFF(max_connections), "1024", 1, 100000,
     "client connections, WebSockets included; at the cap the stalest idle, half-sent or "
     "unauthenticated one is closed, else 503"},
    {"max-connections-per-address", OPT_INT, OFF(max_per_address), "128", 0, 100000,
     "connections from one client address (IPv6: one /64), WebSockets aside; 429 beyond; "
     "0 = no cap; trusted proxies are exempt"},
    {"url-max", OPT_SIZE, OFF(url_max), "8K", 64, 1 * MB, "bytes of a request target; 414 beyond"},
    {"header-bytes-max", OPT_SIZE, OFF(header_bytes_max), "16K", 256, 1 * MB,
     "bytes of all request headers; 431 beyond"},
    {"header-count-max", OPT_INT, OFF(header_count_max), "100", 4, 10000,
     "request header lines; 431 beyond"},
    {"header-timeout-ms", OPT_INT, OFF(header_timeout_ms), "10000", 100, 3600000,
     "time allowed to send a request head; 408 beyond"},
    {"idle-timeout-ms", OPT_INT, OFF(idle_timeout_ms), "60000", 100, 3600000,
     "keep-alive idle time, and longest pause inside a request body"},
    {"unauth-body-timeout-ms", OPT_INT, OFF(unauth_body_timeout_ms), "10000", 100, 3600000,
     "time allowed to send the whole body of a request without credentials (login); 408 beyond"},
    {"field-max", OPT_SIZE, OFF(field_max), "1M", 16, 256 * MB,
     "bytes of one CSV field; the row is rejected beyond"},
    {"fields-max", OPT_INT, OFF(fields_max), "4096", 1, 100000,
     "fields in one CSV record; the row (or a header) is rejected beyond"},
    {"record-max", OPT_SIZE, OFF(record_max), "4M", 64, 1 * GB,
     "bytes of one CSV record; the row is rejected beyond"},
    {"error-text-max", OPT_SIZE, OFF(error_text_max), "2K", 16, 1 * MB,
     "bytes of a rejected row's original text kept in import_errors"},
    {"sample-rows", OPT_INT, OFF(sample_rows), "1000", 1, 100000,
     "rows read before each date column's day/month order is decided"},
    {"trust-proxy", OPT_STR, OFF(trust_proxy), "", 0, 0,
     "comma-separated addresses/CIDRs of reverse proxies whose X-Forwarded-For/-Proto count"},
    {"metrics-allow", OPT_STR, OFF(metrics_allow), "127.0.0.0/8,::1/128", 0, 0,
     "comma-separated addresses/CIDRs GET /metrics is served to (the client address, behind "
     "--trust-proxy the forwarded one); administrators' tokens and sessions are served too"},
    {"access-log", OPT_STR, OFF(access_log), "", 0, 0,
     "file to append one line per request to (default: stderr)"},
    {"public-url", OPT_LIST, OFF(public_url), "", 0, 0,
     "URL(s) users reach the server at, e.g. https://props.example.com (repeat or comma-separate "
     "for several); Origin is checked against them, and `user link` prints the first"},
    {"session-ttl", OPT_INT, OFF(session_ttl_s), "604800", 60, 31536000,
     "seconds a login session lasts"},
    {"login-max-failures", OPT_INT, OFF(login_max_failures), "10", 1, 1000000,
     "failed logins per client address or name per window; 429 beyond"},
    {"login-window", OPT_INT, OFF(login_window_s), "300", 1, 86400,
     "seconds of the failed-login window"},
    {"user-max-websockets", OPT_INT, OFF(user_max_websockets), "32", 1, 10000,
     "open progress WebSockets of one user; 429 beyond"},
    {"user-max-imports", OPT_INT, OFF(user_max_imports), "3", 1, 1000,
     "imports one user may run at once; 429 beyond"},
    {"user-max-rows", OPT_INT, OFF(user_max_rows), "20000000", 1, INT64_MAX / 2,
     "rows one user may store over all imports"},
    {"user-max-bytes", OPT_SIZE, OFF(user_max_bytes), "20G", 1, 1024 * 1024 * GB,
     "uploaded bytes one user may store over all imports (K, M, G suffixes)"},
    {"upload-expiry", OPT_INT, OFF(upload_expiry_s), "86400", 1, 31536000,
     "seconds a tus upload may wait for its next byte before it ends interrupted"},
    {"progress-interval-ms", OPT_INT, OFF(progress_interval_ms), "100", 10, 60000,
     "an import's progress interval: progress frames are sent at most this often, and a cached "
     "read checks its import's state at most this often (the staleness bound between instances)"},
    {"cache-bytes", OPT_SIZE, OFF(cache_bytes), "64M", 0, 64 * GB,
     "bytes of answers kept by the read cache (K, M, G suffixes); 0 disables the cache, ETag "
     "and 304"},
    {"admin", OPT_FLAG, OFF(admin), "0", 0, 1, "user add: make an administrator"},
    {"label", OPT_STR, OFF(label), "", 0, 0, "user token: a label for the token"},
    {"user", OPT_STR, OFF(user), "admin", 0, 0, "import: the user who owns the import"},
    {"name", OPT_STR, OFF(name), "", 0, 0, "import: job name (default: the file's name)"},
    {"json", OPT_FLAG, OFF(json), "0", 0, 1, "import: print the finished job as JSON"},
};

static int parse_int(const opt *o, const char *s, int64_t *out)
{
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s)
		return PF_EINVAL;
	if (o->type == OPT_SIZE && *end) {
		long long mul = 1;
		switch (*end) {
		case 'k':
		case 'K': mul = KB; break;
		case 'm':
		case 'M': mul = MB; break;
		case 'g':
		case 'G': mul = GB; break;
		default: return PF_EINVAL;
		}
		end++;
		if (v > INT64_MAX / mul)
			return PF_EINVAL;
		v *= mul;
	}
	if (*end)
		return PF_EINVAL;
	if (v < o->min || v > o->max)
		return PF_EINVAL;
	*out = v;
	return 0;
}

static int set_opt(pf_config *cfg, const opt *o, const char *val)
{
	char *base = (char *)cfg + o->off;
	switch (o->type) {
	case OPT_STR: {
		size_t cap =
		    strcmp(o->name, "log-level") == 0 ? sizeof(cfg->log_level) : PF_CONFIG_STR_MAX;
		if (strlen(val) >= cap)
			return PF_EINVAL;
		memcpy(base, val, strlen(val) + 1);
		return 0;
	}
	case OPT_LIST: {
		size_t used = strlen(base), len = strlen(val);
		size_t sep = used && len ? 1 : 0;
		if (len + sep >= PF_CONFIG_STR_MAX - used)
			return PF_EINVAL;
		if (sep)
			base[used++] = ',';
		memcpy(base + used, val, len + 1);
		return 0;
	}
	case OPT_INT:
	case OPT_SIZE:
	case OPT_FLAG: return parse_int(o, val, (int64_t *)(void *)base);
	}
	return PF_EINVAL;
}

void pf_config_defaults(pf_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < PF_ARRAY_LEN(opts); i++) {
		int rc = set_opt(cfg, &opts[i], opts[i].def);
		if (rc != 0)
			abort(); /* a default outside its own range is a bug here */
	}
}

void pf_config_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: propflow serve [options]\n"
	    "       propflow import FILE [options]\n"
	    "       propflow user add|password|token|link|list|disable|enable [NAME] [options]\n"
	    "       propflow --help\n\n"
	    "serve   run the HTTP server and the page\n"
	    "import  import FILE through the same pipeline, without HTTP\n"
	    "user    manage accounts (password from stdin, or generated and printed)\n\n"
	    "options:\n");
	for (size_t i = 0; i < PF_ARRAY_LEN(opts); i++) {
		const opt *o = &opts[i];
		char left[64];
		snprintf(left, sizeof(left), "--%s%s", o->name, o->type == OPT_FLAG ? "" : " V");
		fprintf(out, "  %-24s %s", left, o->help);
		if (o->type != OPT_FLAG && o->def[0])
			fprintf(out, " [%s]", o->def);
		fputc('\n', out);
	}
	fprintf(out, "\nenvironment: DATABASE_URL is used when --db is not given.\n");
}

int pf_config_parse(pf_config *cfg, int argc, char **argv, int first, const char **pos,
                    int npos_max, int *npos)
{
	pf_config_defaults(cfg);
	*npos = 0;
	const char *env = getenv("DATABASE_URL");
	if (env && *env && set_opt(cfg, &opts[1], env) != 0) {
		fprintf(stderr, "propflow: DATABASE_URL too long\n");
		return PF_EINVAL;
	}
	for (int i = first; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			pf_config_usage(stdout);
			return PF_CONFIG_HELP;
		}
		if (strncmp(a, "--", 2) != 0) {
			if (*npos >= npos_max) {
				fprintf(stderr, "propflow: unexpected argument '%s'\n", a);
				return PF_EINVAL;
			}
			pos[(*npos)++] = a;
			continue;
		}
		const char *name = a + 2;
		const char *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		const opt *o = NULL;
		for (size_t k = 0; k < PF_ARRAY_LEN(opts); k++)
			if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, name, nlen) == 0)
				o = &opts[k];
		if (!o) {
			fprintf(stderr, "propflow: unknown option '%s' (see --help)\n", a);
			return PF_EINVAL;
		}
		const char *val;
		if (o->type == OPT_FLAG)
			val = eq ? eq + 1 : "1";
		else if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			fprintf(stderr, "propflow: --%s needs a value\n", o->name);
			return PF_EINVAL;
		}
		if (set_opt(cfg, o, val) != 0) {
			if (o->type == OPT_STR || o->type == OPT_LIST)
				fprintf(stderr, "propflow: --%s: value too long\n", o->name);
			else
				fprintf(stderr,
				        "propflow: --%s: '%s' is not a number in [%lld, %lld]\n",
				        o->name, val, (long long)o->min, (long long)o->max);
			return PF_EINVAL;
		}
	}
	if (strcmp(cfg->log_level, "debug") && strcmp(cfg->log_level, "info") &&
	    strcmp(cfg->log_level, "warn") && strcmp(cfg->log_level, "error")) {
		fprintf(stderr, "propflow: --log-level: one of debug, info, warn, error\n");
		return PF_EINVAL;
	}
	for (const char *p = cfg->public_url; *p;) {
		size_t len = strcspn(p, ",");
		char origin[PF_CONFIG_ORIGIN_MAX];
		if (pf_config_origin(p, len, origin, sizeof(origin)) != 0) {
			fprintf(stderr,
			        "propflow: --public-url: '%.*s' is not an http:// or https:// URL "
			        "with a host\n",
			        (int)len, p);
			return PF_EINVAL;
		}
		p += len + (p[len] == ',');
	}
	char host[256];
	int port;
	if (pf_config_split_listen(cfg->listen, host, sizeof(host), &port) != 0) {
		fprintf(stderr, "propflow: --listen: expected HOST:PORT, got '%s'\n", cfg->listen);
		return PF_EINVAL;
	}
	return 0;
}

int pf_config_split_listen(const char *listen, char *host, size_t hostcap, int *port)
{
	const char *colon = strrchr(listen, ':');
	if (!colon)
		return PF_EINVAL;
	const char *h = listen;
	size_t hlen = (size_t)(colon - listen);
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= hostcap)
		return PF_EINVAL;
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end || p < 0 || p > 65535)
		return PF_EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = 0;
	*port = (int)p;
	return 0;
}

int pf_config_origin(const char *url, size_t len, char *out, size_t cap)
{
	while (len && (*url == ' ' || *url == '\t'))
		url++, len--;
	while (len && (url[len - 1] == ' ' || url[len - 1] == '\t'))
		len--;
	const char *scheme;
	if (len >= 7 && strncasecmp(url, "http://", 7) == 0)
		scheme = "http";
	else if (len >= 8 && strncasecmp(url, "https://", 8) == 0)
		scheme = "https";
	else
		return PF_EINVAL;
	size_t sl = strlen(scheme) + 3;
	const char *h = url + sl;
	size_t hl = 0; /* host and port: up to the path, query or fragment */
	while (sl + hl < len && !strchr("/?#", h[hl]))
		hl++;
	if (hl == 0 || memchr(h, '@', hl))
		return PF_EINVAL;
	/* the port: after the last ':' that is not inside an IPv6 [..] */
	size_t hostl = hl;
	const char *close = h[0] == '[' ? memchr(h, ']', hl) : NULL;
	if (h[0] == '[' && !close)
		return PF_EINVAL;
	const char *colon = NULL;
	for (size_t i = close ? (size_t)(close - h) : 0; i < hl; i++)
		if (h[i] == ':')
			colon = h + i;
	long port = -1;
	if (colon) {
		hostl = (size_t)(colon - h);
		size_t pl = hl - hostl - 1;
		if (pl == 0 || pl > 5)
			return PF_EINVAL;
		port = 0;
		for (size_t i = 0; i < pl; i++) {
			if (colon[1 + i] < '0' || colon[1 + i] > '9')
				return PF_EINVAL;
			port = port * 10 + (colon[1 + i] - '0');
		}
		if (port < 1 || port > 65535)
			return PF_EINVAL;
		if (port == (scheme[4] == 's' ? 443 : 80))
			port = -1;
	}
	if (hostl == 0)
		return PF_EINVAL;
	char portbuf[8] = "";
	if (port > 0)
		snprintf(portbuf, sizeof(portbuf), ":%ld", port);
	if (sl + hostl + strlen(portbuf) >= cap)
		return PF_EINVAL;
	size_t n = (size_t)snprintf(out, cap, "%s://", scheme);
	for (size_t i = 0; i < hostl; i++) {
		char c = h[i];
		if ((unsigned char)c <= ' ' || c == ',' || c == '\\')
			return PF_EINVAL;
		out[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	snprintf(out + n, cap - n, "%s", portbuf);
	return 0;
}
