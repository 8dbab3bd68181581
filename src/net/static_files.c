/*
 * static_files.c - the SPA's files, read into memory once at start (before
 * the loop runs, so reading them blocks nobody) and served from there with
 * a content type, a content-hash ETag, If-None-Match revalidation and the
 * page's security headers.
 */
#include "propflow/net/static_files.h"
#include "propflow/base/log.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define PF_STATIC_PATH_MAX  1024 /* bytes of a file's path under the root */
#define PF_STATIC_DEPTH_MAX 8    /* directory levels walked */

/* Only this origin's files run or load; no inline script or style; never
 * framed (clickjacking). The HTTP layer adds nosniff and Referrer-Policy. */
static const char CSP[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                          "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

typedef struct static_file {
	char *path;            /* owned: URL path, "/app.js" */
	char *data;            /* owned: content */
	size_t len;            /* bytes in data */
	const char *ctype;     /* static: content type */
	char etag[2 + 32 + 1]; /* quoted hex of the content hash */
} static_file;

struct pf_static {
	static_file files[PF_STATIC_FILES_MAX]; /* owned entries */
	size_t n;                               /* files loaded */
};

static const char *content_type(const char *path)
{
	static const struct {
		const char *ext;
		const char *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".mjs", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".ico", "image/x-icon"},
	    {".json", "application/json"},
	    {".map", "application/json"},
	    {".txt", "text/plain; charset=utf-8"},
	};
	const char *dot = strrchr(path, '.');
	const char *slash = strrchr(path, '/');
	if (dot && (!slash || dot > slash))
		for (size_t i = 0; i < PF_ARRAY_LEN(types); i++)
			if (strcasecmp(dot, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

static int load_file(pf_static *st, const char *fs_path, const char *url_path, size_t size)
{
	if (st->n >= PF_STATIC_FILES_MAX) {
		pf_warn("static: more than %d files; %s skipped", PF_STATIC_FILES_MAX, url_path);
		return 0;
	}
	if (size > PF_STATIC_FILE_MAX) {
		pf_warn("static: %s is over %d bytes; skipped", url_path, PF_STATIC_FILE_MAX);
		return 0;
	}
	FILE *f = fopen(fs_path, "rb");
	if (!f) {
		pf_error("static: cannot open %s: %s", fs_path, strerror(errno));
		return PF_EIO;
	}
	static_file *sf = &st->files[st->n];
	sf->data = malloc(size ? size : 1);
	sf->path = strdup(url_path);
	if (!sf->data || !sf->path) {
		fclose(f);
		free(sf->data);
		free(sf->path);
		return PF_ENOMEM;
	}
	sf->len = fread(sf->data, 1, size, f);
	bool bad = ferror(f) || sf->len != size;
	fclose(f);
	if (bad) {
		pf_error("static: cannot read %s", fs_path);
		free(sf->data);
		free(sf->path);
		return PF_EIO;
	}
	sf->ctype = content_type(url_path);
	unsigned char digest[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)sf->data, sf->len, digest);
	sf->etag[0] = '"';
	for (int i = 0; i < 16; i++)
		snprintf(sf->etag + 1 + 2 * i, 3, "%02x", digest[i]);
	sf->etag[33] = '"';
	sf->etag[34] = '\0';
	st->n++;
	return 0;
}

static int walk(pf_static *st, const char *fs_dir, const char *url_dir, int depth)
{
	if (depth > PF_STATIC_DEPTH_MAX)
		return 0;
	DIR *d = opendir(fs_dir);
	if (!d) {
		pf_error("static: cannot open directory %s: %s", fs_dir, strerror(errno));
		return PF_EIO;
	}
	int r = 0;
	struct dirent *e;
	while (r == 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.') /* ".", "..", and hidden files */
			continue;
		char fs_path[PF_STATIC_PATH_MAX], url_path[PF_STATIC_PATH_MAX];
		int a = snprintf(fs_path, sizeof(fs_path), "%s/%s", fs_dir, e->d_name);
		int b = snprintf(url_path, sizeof(url_path), "%s/%s", url_dir, e->d_name);
		if (a < 0 || b < 0 || (size_t)a >= sizeof(fs_path) || (size_t)b >= sizeof(url_path))
			continue;
		struct stat sb;
		/* lstat: symlinks are not followed, so no loops and nothing outside the root */
		if (lstat(fs_path, &sb) != 0)
			continue;
		if (S_ISDIR(sb.st_mode))
			r = walk(st, fs_path, url_path, depth + 1);
		else if (S_ISREG(sb.st_mode))
			r = load_file(st, fs_path, url_path, (size_t)sb.st_size);
	}
	closedir(d);
	return r;
}

pf_static *pf_static_load(const char *dir)
{
	pf_static *st = calloc(1, sizeof(*st));
	if (!st) {
		pf_error("static: out of memory");
		return NULL;
	}
	if (walk(st, dir, "", 0) != 0) {
		pf_static_free(st);
		return NULL;
	}
	pf_info("static: %zu files from %s", st->n, dir);
	return st;
}

void pf_static_free(pf_static *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++) {
		free(st->files[i].path);
		free(st->files[i].data);
	}
	free(st);
}

/* Does an If-None-Match value ("a", W/"a", "*", lists) match etag? */
static bool etag_matches(const char *inm, const char *etag)
{
	size_t elen = strlen(etag);
	const char *p = inm;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, etag, elen) == 0 &&
		    (p[elen] == '\0' || p[elen] == ',' || p[elen] == ' ' || p[elen] == '\t'))
			return true;
		while (*p && *p != ',')
			p++;
	}
	return false;
}

bool pf_static_serve(pf_static *st, pf_http_req *req)
{
	const char *method = pf_http_req_method(req);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return false;
	const char *path = pf_http_req_path(req);
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	/* the table only holds files under the root; refuse traversal anyway */
	if (strstr(path, "/..") || strchr(path, '\\'))
		return false;
	const static_file *sf = NULL;
	for (size_t i = 0; i < st->n && !sf; i++)
		if (strcmp(st->files[i].path, path) == 0)
			sf = &st->files[i];
	if (!sf)
		return false;
	int r = pf_http_add_header(req, "ETag", sf->etag);
	r |= pf_http_add_header(req, "Cache-Control", "no-cache");
	r |= pf_http_add_header(req, "Content-Security-Policy", CSP);
	r |= pf_http_add_header(req, "X-Frame-Options", "DENY");
	if (r != 0)
		pf_warn("conn %llu: static headers not all added",
		        (unsigned long long)pf_http_req_conn_id(req));
	const char *inm = pf_http_req_header(req, "If-None-Match");
	if (inm && etag_matches(inm, sf->etag))
		pf_http_respond(req, 304, NULL, NULL, 0);
	else
		pf_http_respond(req, 200, sf->ctype, sf->data, sf->len);
	return true;
}
