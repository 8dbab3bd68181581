/*
 * config.h - every setting of propflow in one table (name, type, default,
 * min, max, help) filling one const struct that is passed down. No
 * mutable globals. Command line: `--name value` or `--name=value`.
 */
#ifndef PROPFLOW_CONFIG_H
#define PROPFLOW_CONFIG_H

#include "propflow/base/common.h"
#include <stdio.h>

#define PF_CONFIG_STR_MAX 1024 /* longest string setting */

typedef struct pf_config {
	char listen[PF_CONFIG_STR_MAX];     /* HOST:PORT */
	char db[PF_CONFIG_STR_MAX];         /* libpq conninfo; "" = embedded */
	char data_dir[PF_CONFIG_STR_MAX];   /* embedded database and state */
	char static_dir[PF_CONFIG_STR_MAX]; /* the page */
	char schema_dir[PF_CONFIG_STR_MAX]; /* ordered SQL migrations */
	char log_level[16];                 /* debug|info|warn|error */
	int64_t batch_rows;                 /* rows per INSERT batch */
	int64_t batches_in_flight;          /* per job, before its socket is paused */
	int64_t db_writers;                 /* connections carrying batches */
	int64_t db_readers;                 /* connections carrying API reads */
	int64_t db_pipeline_max;            /* queries in flight on one connection */
	int64_t db_writer_nice;             /* CPU niceness of local writer backends */
	int64_t max_upload;                 /* bytes of one upload */
	int64_t max_connections;            /* client connections, WebSockets included */
	int64_t max_per_address;            /* connections of one address; 0 = no cap */
	int64_t url_max;                    /* bytes of a request target */
	int64_t header_bytes_max;           /* bytes of all request headers */
	int64_t header_count_max;           /* request header lines */
	int64_t header_timeout_ms;          /* time to send the request head */
	int64_t idle_timeout_ms;            /* keep-alive idle / body stall */
	int64_t unauth_body_timeout_ms;     /* whole body of a request without credentials */
	int64_t field_max;                  /* bytes of one CSV field */
	int64_t fields_max;                 /* fields in one CSV record */
	int64_t record_max;                 /* bytes of one CSV record */
	int64_t error_text_max;             /* bytes of a rejected row kept */
	int64_t sample_rows;                /* rows examined before date dialects are decided */
	/* accounts and the front door */
	char trust_proxy[PF_CONFIG_STR_MAX]; /* addresses/CIDRs whose X-Forwarded-* count */
	char access_log[PF_CONFIG_STR_MAX];  /* file of access lines; "" = stderr */
	char public_url[PF_CONFIG_STR_MAX];  /* comma-separated URLs users reach us at; "" none */
	int64_t session_ttl_s;               /* lifetime of a login session */
	int64_t login_max_failures;          /* failed logins per key per window */
	int64_t login_window_s;              /* the throttle's window */
	int64_t user_max_websockets;         /* open progress WebSockets of one user */
	int64_t user_max_imports;            /* running imports of one user */
	int64_t user_max_rows;               /* stored rows of one user */
	int64_t user_max_bytes;              /* stored upload bytes of one user */
	int64_t upload_expiry_s;             /* a tus upload idle this long is interrupted */
	/* addresses/CIDRs served GET /metrics */
	char metrics_allow[PF_CONFIG_STR_MAX];
	int64_t progress_interval_ms; /* progress frames; cache state checks */
	int64_t cache_bytes;          /* read cache cap; 0 = no cache */
	/* `propflow user` only */
	int64_t admin;                 /* user add: an administrator */
	char label[PF_CONFIG_STR_MAX]; /* user token: a label */
	/* `propflow import` only (and user) */
	char user[PF_CONFIG_STR_MAX]; /* import: owner of the job */
	char name[PF_CONFIG_STR_MAX]; /* job name; default the file's name */
	int64_t json;                 /* print the job as JSON */
} pf_config;

/* Positive results of pf_config_parse. */
enum {
	PF_CONFIG_HELP = 1, /* --help was given: usage printed */
};

void pf_config_defaults(pf_config *cfg);
/*
 * Parse argv[first..argc) into cfg (defaults first, then DATABASE_URL,
 * then arguments). Positional arguments are stored in pos (at most
 * npos_max), their count in *npos. Prints a message to stderr on error.
 * Returns 0, PF_CONFIG_HELP, or PF_EINVAL.
 */
PF_MUST_CHECK int pf_config_parse(pf_config *cfg, int argc, char **argv, int first,
                                  const char **pos, int npos_max, int *npos);
void pf_config_usage(FILE *out);

#define PF_CONFIG_ORIGIN_MAX 300 /* bytes of a normalised origin */

/*
 * The origin of an http(s) URL of len bytes, as a browser sends it in an
 * Origin header: "scheme://host[:port]", scheme and host in lower case, a
 * port that is the scheme's default (80, 443) dropped, any path, query or
 * fragment cut off. 0, or PF_EINVAL (not http/https, no host, user info, a
 * bad port, or longer than cap).
 */
PF_MUST_CHECK int pf_config_origin(const char *url, size_t len, char *out, size_t cap);

/* Split "host:port" ("[::1]:80" too). Returns 0 or PF_EINVAL. */
PF_MUST_CHECK int pf_config_split_listen(const char *listen, char *host, size_t hostcap, int *port);

#endif
