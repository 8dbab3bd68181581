/*
 * export.c - the downloads (see export.h): an import's records as CSV,
 * ndjson or GeoJSON, its rejected rows as a CSV to fix and upload again,
 * and the uploaded file itself. Each is a chain of short keyset
 * statements on the reader pool feeding a streamed response (http.h):
 * a page is asked for only while the client's connection has room, and the
 * next one is sent before the current one is written, so the database and
 * the socket work at the same time and a slow client holds no pool
 * connection, only its bounded output.
 */
#include "propflow/api/export.h"
#include "propflow/base/metrics.h"
#include "propflow/api/query.h"
#include "propflow/api/record.h"
#include "propflow/api/respond.h"
#include "propflow/base/log.h"
#include "propflow/base/utf8.h"
#include "propflow/ingest/fields.h"
#include "propflow/store/spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum export_kind {
	EXPORT_RECORDS = 0, /* GET /api/imports/ID/export */
	EXPORT_ERRORS,      /* GET /api/imports/ID/errors/export */
	EXPORT_FILE,        /* GET /api/imports/ID/file */
} export_kind;

typedef enum export_format {
	FORMAT_CSV = 0,
	FORMAT_NDJSON,
	FORMAT_GEOJSON,
} export_format;

/*
 * A download's life; export_set_state() does every side effect of entering
 * a state. Statements and the client come and go independently: the
 * context is freed once it is EXPORT_GONE and no statement is in flight.
 */
typedef enum export_state {
	EXPORT_OWNER, /* the owner check is in flight; nothing answered yet */
	EXPORT_PAGES, /* headers sent; pages chained as the output has room */
	EXPORT_GONE,  /* the stream ended, was cut, or the client left */
} export_state;

typedef struct export_ctx {
	pf_api *api;              /* borrowed */
	pf_http_req *req;         /* owned until answered or the stream ends; NULL after */
	export_kind kind;         /* what is downloaded */
	export_format format;     /* records: how */
	export_state state;       /* see export_set_state */
	int64_t id;               /* the import */
	int64_t user;             /* its owner, checked by every statement */
	int64_t gen;              /* the generation read (records, errors) */
	int64_t pos;              /* last row_no, last import_errors.id, or next byte offset */
	int64_t total;            /* file: its bytes */
	int inflight;             /* statements out (each callback holds a use of this) */
	bool last;                /* the last page has been read */
	bool features;            /* geojson: a feature was written (a comma goes first) */
	char delim;               /* errors: the file's delimiter */
	const char *cut;          /* static: why the stream is cut (GONE), NULL ended well */
	bool left;                /* the client went away before the end */
	struct evbuffer *pending; /* owned: formatted bytes not yet streamed, at most a page */
	pf_query query;           /* records: q, filters and sort (query.h) */
	pf_query_pos qpos;        /* records: the walk's position */
	bool ranges;              /* records in file order, unfiltered: by row_no ranges */
	int64_t range_next;       /* ranges: the first row_no of the next range to ask for */
	int64_t range_end;        /* ranges: next_record when the download began */
	uint64_t seq_sent;        /* ranges asked for */
	uint64_t seq_done;        /* ranges moved to pending, in order */
	struct {
		struct evbuffer *buf; /* owned: the range's rows, formatted */
		bool ready;           /* its answer came */
	} slot[PF_EXPORT_AHEAD];      /* ranges: answers that came before an earlier one's */
} export_ctx;

/* A range statement's own argument: which one it is. */
typedef struct range_arg {
	export_ctx *x; /* borrowed */
	uint64_t seq;  /* its place in the walk */
} range_arg;

static void page_cb(void *arg, const pf_db_result *r);
static void export_pump(export_ctx *x);

/* ---------------- names ---------------- */

void pf_export_disposition(const char *name, const char *ext, char *out, size_t cap)
{
	char base[PF_EXPORT_NAME_MAX + 1];
	size_t n = strlen(name ? name : "");
	if (ext) {
		/* the upload's own extension gives way to the format's */
		const char *dot = name ? strrchr(name, '.') : NULL;
		if (dot && dot != name && !strchr(dot, '/'))
			n = (size_t)(dot - name);
	}
	size_t elen = ext ? strlen(ext) : 0;
	size_t keep = n;
	if (keep > PF_EXPORT_NAME_MAX - elen)
		keep = PF_EXPORT_NAME_MAX - elen;
	size_t o = 0;
	bool differs = keep < n;
	for (size_t i = 0; i < keep; i++) {
		unsigned char ch = (unsigned char)name[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		          (ch >= '0' && ch <= '9') || (ch && strchr(" ._-()+,=@", ch));
		if (o == 0 && ch == '.')
			ok = false; /* no hidden file */
		differs |= !ok;
		if (ch >= 0x80 && ch < 0xc0 && o > 0 && base[o - 1] == '_')
			continue; /* one '_' per UTF-8 character, not per byte */
		base[o++] = ok ? (char)ch : '_';
	}
	base[o] = 0;
	if (o == 0)
		snprintf(base, sizeof(base), "import");
	int w = snprintf(out, cap, "attachment; filename=\"%s%s\"", base, ext ? ext : "");
	if (!differs || !name || w < 0 || (size_t)w >= cap || !pf_utf8_valid(name, keep))
		return;
	/* RFC 8187: the UTF-8 name, every byte outside attr-char escaped */
	size_t used = (size_t)w;
	static const char hex[] = "0123456789ABCDEF";
	const char *tail = "; filename*=UTF-8''";
	if (strlen(tail) >= cap - used)
		return;
	memcpy(out + used, tail, strlen(tail));
	used += strlen(tail);
	for (size_t i = 0; i < keep + elen; i++) {
		unsigned char ch = (unsigned char)(i < keep ? name[i] : ext[i - keep]);
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		             (ch >= '0' && ch <= '9') || strchr("!#$&+-.^_`|~", ch);
		size_t need = plain ? 1 : 3;
		if (need >= cap - used) {
			out[w] = 0; /* no room for all of it: the ASCII name alone */
			return;
		}
		if (plain) {
			out[used++] = (char)ch;
		} else {
			out[used++] = '%';
			out[used++] = hex[ch >> 4];
			out[used++] = hex[ch & 15];
		}
	}
	out[used] = 0;
}

/* ---------------- formatting ---------------- */

/* Bytes that make a CSV field need quotes: the delimiter (set per call),
 * the quote, CR and LF. */
static bool csv_special(unsigned char ch, char delim)
{
	return ch == (unsigned char)delim || ch == '"' || ch == '\r' || ch == '\n';
}

/* One CSV field (RFC 4180): quoted when it holds the delimiter, a quote,
 * CR or LF, or is an empty text (NULL is written as nothing at all, as
 * PostgreSQL's CSV does). */
static int csv_field(struct evbuffer *b, const char *v, char delim)
{
	if (!v)
		return 0;
	size_t n = strlen(v);
	bool quote = n == 0;
	for (size_t i = 0; i < n && !quote; i++)
		quote = csv_special((unsigned char)v[i], delim);
	if (!quote)
		return evbuffer_add(b, v, n);
	int rc = evbuffer_add(b, "\"", 1);
	const char *p = v;
	for (const char *q; rc == 0 && (q = strchr(p, '"')); p = q + 1)
		rc = evbuffer_add(b, p, (size_t)(q - p + 1)) || evbuffer_add(b, "\"", 1);
	return rc ? rc : evbuffer_add(b, p, strlen(p)) || evbuffer_add(b, "\"", 1);
}

static void free_block_cb(const void *data, size_t len, void *arg)
{
	free(arg);
}

/* Rows of fields [first, first + n) of statement 1 as CSV records, the
 * whole page formatted into one block that pending then references (the
 * loop's hot path for a million rows: one allocation and no copy per
 * page, the block moving on into the connection's output as it is). */
static int csv_page(struct evbuffer *b, const pf_db_result *r, int stmt, int first, int n)
{
	const PGresult *res = r->res[stmt];
	int rows = PQntuples(res);
	/* a first guess from the page's first row, grown when a row needs it
	 * (quoting at most doubles a value, plus quotes and a delimiter) */
	size_t cap = 0, used = 0;
	char *block = NULL;
	int len[PF_F__COUNT];
	if (n > PF_F__COUNT)
		return PF_EINVAL;
	for (int i = 0; i < rows; i++) {
		size_t need = 2;
		for (int f = 0; f < n; f++) {
			len[f] = PQgetlength(res, i, first + f);
			need += 2 * (size_t)len[f] + 3;
		}
		if (need > cap - used) {
			size_t ncap = cap ? cap : need * (size_t)rows;
			while (need > ncap - used)
				ncap *= 2;
			char *nb = realloc(block, ncap);
			if (!nb) {
				free(block);
				return PF_ENOMEM;
			}
			block = nb;
			cap = ncap;
		}
		char *o = block + used;
		for (int f = 0; f < n; f++) {
			if (f)
				*o++ = ',';
			/* NULL and "" are both 0 bytes long: only then ask which */
			if (len[f] == 0) {
				if (!PQgetisnull(res, i, first + f)) {
					*o++ = '"';
					*o++ = '"';
				}
				continue;
			}
			const char *p = PQgetvalue(res, i, first + f);
			size_t l = (size_t)len[f];
			bool quote = false;
			for (size_t k = 0; k < l && !quote; k++)
				quote = csv_special((unsigned char)p[k], ',');
			if (!quote) {
				memcpy(o, p, l);
				o += l;
				continue;
			}
			*o++ = '"';
			for (size_t k = 0; k < l; k++) {
				if (p[k] == '"')
					*o++ = '"';
				*o++ = p[k];
			}
			*o++ = '"';
		}
		*o++ = '\r';
		*o++ = '\n';
		used = (size_t)(o - block);
	}
	if (used == 0) {
		free(block);
		return 0;
	}
	if (evbuffer_add_reference(b, block, used, free_block_cb, block) != 0) {
		free(block);
		return PF_ENOMEM;
	}
	return 0;
}

/* A GeoJSON Feature of the record: a Point when both coordinates are known. */
static cJSON *feature_json(const pf_db_result *r, int stmt, int row)
{
	cJSON *props = pf_record_json(r, stmt, row);
	cJSON *f = cJSON_CreateObject();
	if (!props || !f) {
		cJSON_Delete(props);
		cJSON_Delete(f);
		return NULL;
	}
	cJSON_AddStringToObject(f, "type", "Feature");
	const char *lat = pf_db_value(r, stmt, row, PF_RECORD_HEAD + PF_F_LATITUDE);
	const char *lon = pf_db_value(r, stmt, row, PF_RECORD_HEAD + PF_F_LONGITUDE);
	cJSON *coords = lat && lon ? cJSON_CreateArray() : NULL;
	if (coords) {
		cJSON_AddItemToArray(coords, cJSON_CreateRaw(lon));
		cJSON_AddItemToArray(coords, cJSON_CreateRaw(lat));
		cJSON *g = cJSON_AddObjectToObject(f, "geometry");
		if (g) {
			cJSON_AddStringToObject(g, "type", "Point");
			cJSON_AddItemToObject(g, "coordinates", coords);
		} else {
			cJSON_Delete(coords);
		}
	} else {
		cJSON_AddNullToObject(f, "geometry");
	}
	cJSON_AddItemToObject(f, "properties", props);
	return f;
}

/* cJSON's text of o (taken) added to b, then tail. */
static int add_json(struct evbuffer *b, cJSON *o, const char *tail)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!s)
		return PF_ENOMEM;
	int rc = evbuffer_add(b, s, strlen(s)) || evbuffer_add(b, tail, strlen(tail));
	free(s);
	return rc ? PF_ENOMEM : 0;
}

/* The bytes before the first row. */
static int write_prologue(export_ctx *x, const pf_db_result *owner)
{
	struct evbuffer *b = x->pending;
	int rc = 0;
	if (x->kind == EXPORT_RECORDS && x->format == FORMAT_CSV) {
		for (int f = 0; rc == 0 && f < PF_F__COUNT; f++)
			rc = (f && evbuffer_add(b, ",", 1)) ||
			     csv_field(b, pf_field_name((pf_field)f), ',');
		rc = rc || evbuffer_add(b, "\r\n", 2);
	} else if (x->kind == EXPORT_RECORDS && x->format == FORMAT_GEOJSON) {
		static const char head[] = "{\"type\":\"FeatureCollection\",\"features\":[\n";
		rc = evbuffer_add(b, head, sizeof(head) - 1);
	} else if (x->kind == EXPORT_ERRORS) {
		/* the file's titles, in its delimiter, and the reason column */
		cJSON *cols = cJSON_Parse(pf_db_value(owner, 0, 0, 3));
		int n = cJSON_GetArraySize(cols);
		for (int i = 0; rc == 0 && i < n; i++) {
			cJSON *h =
			    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cols, i), "header");
			/* an empty title stays empty, as in the file (not "") */
			const char *t =
			    cJSON_IsString(h) && h->valuestring[0] ? h->valuestring : NULL;
			rc = (i && evbuffer_add(b, &x->delim, 1)) || csv_field(b, t, x->delim);
		}
		cJSON_Delete(cols);
		rc = rc || (n && evbuffer_add(b, &x->delim, 1)) ||
		     csv_field(b, PF_EXPORT_REASON_COL, x->delim) || evbuffer_add(b, "\r\n", 2);
	}
	return rc ? PF_ENOMEM : 0;
}

/* The bytes after the last row. */
static int write_epilogue(export_ctx *x)
{
	if (x->kind == EXPORT_RECORDS && x->format == FORMAT_GEOJSON)
		return evbuffer_add(x->pending, "\n]}\n", 4) ? PF_ENOMEM : 0;
	return 0;
}

/* Where the walk stands after the last of page statement 1's n rows
 * (n > 0): x->pos, or for records x->qpos. */
static int page_position(export_ctx *x, const pf_db_result *r, int stmt, int n, const char **why)
{
	switch (x->kind) {
	case EXPORT_RECORDS:
		if (pf_query_row_pos(&x->query, r, stmt, n - 1, &x->qpos) != 0) {
			*why = "a row's sort value is too long for a position";
			return PF_ELIMIT;
		}
		return 0;
	case EXPORT_ERRORS: x->pos = strtoll(pf_db_value(r, stmt, n - 1, 0), NULL, 10); return 0;
	case EXPORT_FILE:
		x->pos = strtoll(pf_db_value(r, stmt, n - 1, 0), NULL, 10) +
		         strtoll(pf_db_value(r, stmt, n - 1, 1), NULL, 10);
		return 0;
	default: abort();
	}
}

/* Rows of page statement stmt into b. from: the file's offset the
 * page must start at (its chunks must follow each other from there). */
static int write_page(export_ctx *x, struct evbuffer *b, const pf_db_result *r, int stmt,
                      int64_t from, const char **why)
{
	int n = pf_db_rows(r, stmt);
	int rc = 0;
	*why = "out of memory";
	if (x->kind != EXPORT_FILE)
		x->api->exports.rows[x->kind] += (uint64_t)n;
	if (x->kind == EXPORT_RECORDS && x->format == FORMAT_CSV)
		return csv_page(b, r, stmt, PF_RECORD_HEAD, PF_F__COUNT);
	for (int i = 0; rc == 0 && i < n; i++) {
		switch (x->kind) {
		case EXPORT_RECORDS:
			if (x->format == FORMAT_NDJSON) {
				rc = add_json(b, pf_record_json(r, stmt, i), "\n");
			} else {
				rc = (x->features && evbuffer_add(b, ",\n", 2)) ||
				     add_json(b, feature_json(r, stmt, i), "");
				x->features = true;
			}
			break;
		case EXPORT_ERRORS: {
			/* the row's text as read, then its reason */
			const char *raw = pf_db_value(r, stmt, i, 1);
			rc = evbuffer_add(b, raw ? raw : "", raw ? strlen(raw) : 0) ||
			     evbuffer_add(b, &x->delim, 1) ||
			     csv_field(b, pf_db_value(r, stmt, i, 2), x->delim) ||
			     evbuffer_add(b, "\r\n", 2);
			break;
		}
		case EXPORT_FILE: {
			int64_t off = strtoll(pf_db_value(r, stmt, i, 0), NULL, 10);
			int64_t len = strtoll(pf_db_value(r, stmt, i, 1), NULL, 10);
			if (off != from || len <= 0 || len > PF_SPOOL_CHUNK) {
				*why = "the stored upload is missing bytes";
				return PF_EINVAL;
			}
			size_t blen = 0;
			unsigned char *blk = PQunescapeBytea(
			    (const unsigned char *)pf_db_value(r, stmt, i, 2), &blen);
			struct evbuffer_iovec v;
			if (!blk || evbuffer_reserve_space(b, (size_t)len, &v, 1) < 1) {
				PQfreemem(blk);
				return PF_ENOMEM;
			}
			rc = pf_spool_decode((const char *)blk, blen, v.iov_base, (size_t)len);
			PQfreemem(blk);
			v.iov_len = rc == 0 ? (size_t)len : 0;
			evbuffer_commit_space(b, &v, 1);
			if (rc != 0) {
				*why = "the stored upload cannot be read back";
				return rc;
			}
			from = off + len;
			break;
		}
		default: abort();
		}
	}
	return rc ? PF_ENOMEM : 0;
}

/* ---------------- the state machine ---------------- */

static void export_free(export_ctx *x)
{
	if (x->pending)
		evbuffer_free(x->pending);
	for (int i = 0; i < PF_EXPORT_AHEAD; i++)
		if (x->slot[i].buf)
			evbuffer_free(x->slot[i].buf);
	free(x);
}

static void export_set_state(export_ctx *x, export_state s)
{
	pf_api_export_counts *n = &x->api->exports;
	export_state was = x->state;
	x->state = s;
	switch (s) {
	case EXPORT_OWNER: break;
	case EXPORT_PAGES:
		n->started[x->kind]++;
		n->active++;
		break;
	case EXPORT_GONE:
		if (was == EXPORT_PAGES) {
			n->active--;
			if (x->cut || x->left || !x->req)
				n->cut[x->kind]++;
			else
				n->ended[x->kind]++;
		}
		if (x->req) {
			if (x->cut)
				pf_http_stream_fail(x->req, x->cut);
			else
				pf_http_stream_end(x->req);
			x->req = NULL;
		}
		if (x->inflight == 0)
			export_free(x);
		break;
	default: abort();
	}
}

/* Cut the stream: the client sees an incomplete body. */
static void export_cut(export_ctx *x, const char *why)
{
	pf_warn("import %lld: download cut: %s", (long long)x->id, why);
	x->cut = why;
	export_set_state(x, EXPORT_GONE);
}

static const char sql_owner[] =
    "SELECT gen, name, coalesce(delimiter, ','), columns::text, input_complete, bytes_durable, "
    "next_record FROM import_jobs WHERE id = $1 AND user_id = $2";
/* Each page: the import's rejected rows (or upload chunks) after pos at
 * the generation the download began with, owner-checked again (statement
 * 0 tells a reprocess); records pages are query.c's. */
static const char sql_error_page[] =
    "SELECT id, raw_text, reason FROM import_errors WHERE job_id = $1 AND gen = $2 "
    "AND id > $3 AND kind = 'rejected' "
    "AND EXISTS (SELECT 1 FROM import_jobs WHERE id = $1 AND user_id = $5) "
    "ORDER BY id LIMIT $4";
/* The upload is the same for every generation. */
static const char sql_chunk_page[] =
    "SELECT byte_offset, raw_len, data FROM import_chunks WHERE job_id = $1 "
    "AND byte_offset >= $2 AND EXISTS (SELECT 1 FROM import_jobs WHERE id = $1 AND "
    "user_id = $4) ORDER BY byte_offset LIMIT $3";

/* Ask for the next page, unless one is out or none is left. false: the
 * download was cut (x may be gone). */
static bool export_fetch(export_ctx *x)
{
	if (x->inflight > 0 || x->last || x->state != EXPORT_PAGES)
		return true;
	pf_db_unit *u = pf_db_unit_new(page_cb, x);
	int rc = pf_query_append_owner(u, x->id, x->user);
	if (x->kind == EXPORT_RECORDS) {
		/* statement 1: the planner's settings for the page (query.h) */
		rc = pf_query_append_planner(u, &x->query);
		rc = pf_query_append_page(u, &x->query, PF_QUERY_IMPORT, x->id, x->user, NULL,
		                          &x->qpos, PF_EXPORT_PAGE_ROWS);
	} else {
		pf_db_unit_stmt(u, x->kind == EXPORT_ERRORS ? sql_error_page : sql_chunk_page);
		pf_db_unit_int(u, x->id);
		if (x->kind != EXPORT_FILE)
			pf_db_unit_int(u, x->gen);
		pf_db_unit_int(u, x->pos);
		pf_db_unit_int(u, x->kind == EXPORT_FILE ? PF_EXPORT_PAGE_CHUNKS
		                                         : PF_EXPORT_PAGE_ROWS);
		rc = pf_db_unit_int(u, x->user);
	}
	if (rc != 0) {
		pf_db_unit_free(u);
		export_cut(x, "out of memory");
		return false;
	}
	x->inflight++;
	pf_db_submit(x->api->readers, 0, u);
	return true;
}

static void range_cb(void *arg, const pf_db_result *r);

/* The file-order walk of everything as row_no ranges of
 * PF_EXPORT_PAGE_ROWS: independent statements, so that PF_EXPORT_AHEAD of
 * them run at once on the reader pool's connections (a keyset page cannot
 * be asked for before the one before it came back). */
static const char sql_range[] =
    "SELECT " PF_RECORD_COLUMNS_R ", NULL::text FROM property_records r WHERE r.job_id = $1 "
    "AND r.gen = $2 AND r.row_no >= $3 AND r.row_no < $4 "
    "AND EXISTS (SELECT 1 FROM import_jobs WHERE id = $1 AND user_id = $5) ORDER BY r.row_no";

/* false: the download was cut (x may be gone). */
static bool export_range(export_ctx *x)
{
	range_arg *a = malloc(sizeof(*a));
	pf_db_unit *u = a ? pf_db_unit_new(range_cb, a) : NULL;
	int rc = pf_query_append_owner(u, x->id, x->user);
	pf_db_unit_stmt(u, sql_range);
	pf_db_unit_int(u, x->id);
	pf_db_unit_int(u, x->gen);
	pf_db_unit_int(u, x->range_next);
	/* never past range_end: the rows stored after the download began
	 * follow as keyset pages from range_end on, and a range that read them
	 * too gave them twice (seen: row 501 after 1000 while importing) */
	pf_db_unit_int(u, x->range_next + PF_EXPORT_PAGE_ROWS < x->range_end
	                      ? x->range_next + PF_EXPORT_PAGE_ROWS
	                      : x->range_end);
	rc = rc ? rc : pf_db_unit_int(u, x->user);
	if (!a || rc != 0) {
		pf_db_unit_free(u);
		free(a);
		export_cut(x, "out of memory");
		return false;
	}
	*a = (range_arg){x, x->seq_sent++};
	x->range_next += PF_EXPORT_PAGE_ROWS;
	x->inflight++;
	pf_db_submit(x->api->readers, 0, u);
	return true;
}

/*
 * Give the stream what is formatted when it has room; ask for the next
 * page once nothing waits (pending is empty), or end. The client's pace
 * therefore sets the chain's: while the output stays over the high mark,
 * one formatted page waits and no statement goes out.
 */
static void export_pump(export_ctx *x)
{
	if (x->state != EXPORT_PAGES)
		return;
	if (evbuffer_get_length(x->pending) > 0 && pf_http_stream_room(x->req)) {
		x->api->exports.bytes[x->kind] += evbuffer_get_length(x->pending);
		int rc = pf_http_stream_add_buffer(x->req, x->pending);
		if (rc < 0) {
			export_cut(x, rc == PF_ECLOSED ? "client gone" : "out of memory");
			return;
		}
	}
	if (evbuffer_get_length(x->pending) > 0)
		return; /* the writable callback comes back here */
	if (x->ranges) {
		while (x->inflight < PF_EXPORT_AHEAD && x->range_next < x->range_end)
			if (!export_range(x))
				return;
		return;
	}
	if (!x->last)
		export_fetch(x);
	else if (x->inflight == 0)
		export_set_state(x, EXPORT_GONE); /* all was written */
}

static void writable_cb(void *arg, pf_http_req *req)
{
	export_pump(arg);
}

static void range_cb(void *arg, const pf_db_result *r)
{
	range_arg *a = arg;
	export_ctx *x = a->x;
	uint64_t seq = a->seq;
	free(a);
	x->inflight--;
	if (x->state == EXPORT_GONE) {
		if (x->inflight == 0)
			export_free(x);
		return;
	}
	if (r->error) {
		export_cut(x, "the database failed");
		return;
	}
	const char *gen = pf_db_value(r, 0, 0, 0);
	if (pf_db_rows(r, 0) == 0 || !gen || strtoll(gen, NULL, 10) != x->gen) {
		export_cut(x, "the import was deleted or reprocessed");
		return;
	}
	const char *why = NULL;
	int k = (int)(seq % PF_EXPORT_AHEAD);
	if (write_page(x, x->slot[k].buf, r, 1, 0, &why) != 0) {
		export_cut(x, why);
		return;
	}
	x->slot[k].ready = true;
	/* in the walk's order: what came before an earlier range waits */
	for (k = (int)(x->seq_done % PF_EXPORT_AHEAD); x->slot[k].ready;
	     k = (int)(x->seq_done % PF_EXPORT_AHEAD)) {
		if (evbuffer_add_buffer(x->pending, x->slot[k].buf) != 0) {
			export_cut(x, "out of memory");
			return;
		}
		x->slot[k].ready = false;
		x->seq_done++;
	}
	if (x->range_next >= x->range_end && x->seq_done == x->seq_sent) {
		/* the rows stored since the download began follow as keyset
		 * pages after the last range */
		x->ranges = false;
		x->qpos = (pf_query_pos){.gen = x->gen, .started = true, .row = x->range_end - 1};
	}
	export_pump(x);
}

static void page_cb(void *arg, const pf_db_result *r)
{
	export_ctx *x = arg;
	x->inflight--;
	if (x->state == EXPORT_GONE) {
		if (x->inflight == 0)
			export_free(x);
		return;
	}
	if (r->error) {
		export_cut(x, "the database failed");
		return;
	}
	const char *gen = pf_db_value(r, 0, 0, 0);
	if (pf_db_rows(r, 0) == 0 || !gen ||
	    (x->kind != EXPORT_FILE && strtoll(gen, NULL, 10) != x->gen)) {
		export_cut(x, "the import was deleted or reprocessed");
		return;
	}
	/* records: owner, planner, page; the others: owner, page */
	int stmt = x->kind == EXPORT_RECORDS ? 2 : 1;
	int n = pf_db_rows(r, stmt);
	int64_t from = x->pos;
	const char *why = NULL;
	if (n > 0 && page_position(x, r, stmt, n, &why) != 0) {
		export_cut(x, why);
		return;
	}
	if (x->kind == EXPORT_FILE) {
		x->last = x->pos >= x->total;
		if (!x->last && n < PF_EXPORT_PAGE_CHUNKS) {
			export_cut(x, "the stored upload is missing bytes");
			return;
		}
	} else {
		x->last = n < PF_EXPORT_PAGE_ROWS;
	}
	/* the next page is asked for before this one is formatted and
	 * written (when no earlier page still waits), so that the database
	 * works while the loop and the socket do */
	if (!x->last && evbuffer_get_length(x->pending) == 0 && !export_fetch(x))
		return;
	if (write_page(x, x->pending, r, stmt, from, &why) != 0 ||
	    (x->last && write_epilogue(x) != 0)) {
		export_cut(x, why ? why : "out of memory");
		return;
	}
	export_pump(x);
}

static void abort_cb(void *arg, pf_http_req *req, pf_http_abort why)
{
	export_ctx *x = arg;
	pf_info("import %lld: download abandoned: %s", (long long)x->id, pf_http_abort_name(why));
	if (x->state == EXPORT_OWNER)
		return; /* owner_cb answers the request (which just frees it) */
	x->left = true;
	export_set_state(x, EXPORT_GONE);
}

static void owner_cb(void *arg, const pf_db_result *r)
{
	export_ctx *x = arg;
	x->inflight--;
	pf_http_req *req = x->req;
	if (r->error) {
		x->req = NULL;
		pf_respond_db_error(req, r);
		export_set_state(x, EXPORT_GONE);
		return;
	}
	if (pf_db_rows(r, 0) == 0) {
		x->req = NULL;
		pf_http_respond_error(req, 404, "no such import", NULL);
		export_set_state(x, EXPORT_GONE);
		return;
	}
	x->gen = strtoll(pf_db_value(r, 0, 0, 0), NULL, 10);
	x->qpos = (pf_query_pos){.gen = x->gen};
	/* everything in file order: ranges, several at once */
	/* (not GeoJSON: its commas between features need the walk's order
	 * while ranges are formatted as they come) */
	bool plain = x->kind == EXPORT_RECORDS && x->format != FORMAT_GEOJSON &&
	             x->query.sort == PF_SORT_ROW && !x->query.desc && x->query.nwords == 0;
	for (int f = 0; plain && f < PF_FILTER__COUNT; f++)
		plain = !x->query.has[f];
	x->range_end = strtoll(pf_db_value(r, 0, 0, 6), NULL, 10);
	x->range_next = 1;
	x->ranges = plain && x->range_end > 1;
	const char *name = pf_db_value(r, 0, 0, 1);
	const char *delim = pf_db_value(r, 0, 0, 2);
	x->delim = delim && delim[0] ? delim[0] : ',';
	bool complete = pf_db_value(r, 0, 0, 4)[0] == 't';
	x->total = strtoll(pf_db_value(r, 0, 0, 5), NULL, 10);
	if (x->kind == EXPORT_FILE && !complete) {
		x->req = NULL;
		pf_http_respond_error(req, 409,
		                      "the upload is not complete: its file can be downloaded "
		                      "once every byte has arrived",
		                      NULL);
		export_set_state(x, EXPORT_GONE);
		return;
	}
	static const char *const ext[] = {".csv", ".ndjson", ".geojson"};
	static const char *const ctype[] = {"text/csv; charset=utf-8", "application/x-ndjson",
	                                    "application/geo+json"};
	char disp[4 * PF_EXPORT_NAME_MAX + 64];
	char errname[PF_EXPORT_NAME_MAX + 16];
	const char *type;
	int64_t length = -1;
	if (x->kind == EXPORT_RECORDS) {
		pf_export_disposition(name, ext[x->format], disp, sizeof(disp));
		type = ctype[x->format];
	} else if (x->kind == EXPORT_ERRORS) {
		/* "houses.csv" -> "houses-errors.csv" */
		const char *dot = strrchr(name, '.');
		int stem = dot && dot != name ? (int)(dot - name) : (int)strlen(name);
		if (stem > PF_EXPORT_NAME_MAX - 11)
			stem = PF_EXPORT_NAME_MAX - 11;
		snprintf(errname, sizeof(errname), "%.*s-errors", stem, name);
		pf_export_disposition(errname, ".csv", disp, sizeof(disp));
		type = "text/csv; charset=utf-8";
	} else {
		pf_export_disposition(name, NULL, disp, sizeof(disp));
		type = "application/octet-stream";
		length = x->total;
	}
	pf_respond_header(req, "Content-Disposition", disp);
	pf_respond_header(req, "Cache-Control", "private, no-store");
	/* the file is already as compact as its owner made it: no gzip */
	int rc =
	    pf_http_stream_begin(req, 200, type, length, x->kind != EXPORT_FILE, writable_cb, x);
	if (rc != 0) {
		x->req = NULL;
		pf_respond_oom(req);
		export_set_state(x, EXPORT_GONE);
		return;
	}
	if (!pf_http_req_alive(req)) {
		/* left during the owner check (the abort callback has fired) */
		export_set_state(x, EXPORT_GONE);
		return;
	}
	x->pos = 0;
	export_set_state(x, EXPORT_PAGES);
	if (pf_http_req_is_head(req)) {
		export_set_state(x, EXPORT_GONE);
		return;
	}
	if (write_prologue(x, r) != 0) {
		export_cut(x, "out of memory");
		return;
	}
	export_pump(x);
}

/* ---------------- entry points ---------------- */

/* The records export's q, filters and sort (the properties list's, see
 * query.h): every parameter but format; a walk has no limit or after.
 * false: answered, 400 naming the parameter. */
static bool export_query(pf_http_req *req, pf_query *q)
{
	enum { PAIRS_MAX = PF_FILTER__COUNT + 8 };
	const char *names[PAIRS_MAX], *values[PAIRS_MAX];
	size_t n = 0;
	const char *name, *value;
	pf_query_error err = {NULL, NULL};
	for (size_t i = 0; !err.param && pf_http_req_param_at(req, i, &name, &value); i++) {
		if (strcmp(name, "format") == 0)
			continue;
		if (strcmp(name, "limit") == 0 || strcmp(name, "after") == 0)
			err = (pf_query_error){name,
			                       "is not a parameter of an export: it has every row"};
		else if (n == PAIRS_MAX)
			err = (pf_query_error){name, "too many parameters"};
		else {
			names[n] = name;
			values[n] = value;
			n++;
		}
	}
	if (!err.param) {
		int rc = pf_query_parse_pairs(q, names, values, n, &err);
		if (rc == 0)
			return true;
		if (rc != PF_EINVAL || !err.param) {
			pf_respond_oom(req);
			return false;
		}
	}
	char msg[256];
	snprintf(msg, sizeof(msg), "%.80s %s", err.param, err.message);
	cJSON *d = cJSON_CreateObject();
	char *detail = NULL;
	if (d && cJSON_AddStringToObject(d, "param", err.param))
		detail = cJSON_PrintUnformatted(d);
	cJSON_Delete(d);
	pf_http_respond_error(req, 400, msg, detail);
	cJSON_free(detail);
	return false;
}

static void export_start(pf_api *api, pf_http_req *req, export_kind kind, int64_t id, int64_t user)
{
	export_format format = FORMAT_CSV;
	pf_query query;
	if (kind == EXPORT_RECORDS && !export_query(req, &query))
		return;
	if (kind == EXPORT_RECORDS) {
		const char *f = pf_http_req_param(req, "format");
		if (!f || strcmp(f, "csv") == 0) {
			format = FORMAT_CSV;
		} else if (strcmp(f, "ndjson") == 0) {
			format = FORMAT_NDJSON;
		} else if (strcmp(f, "geojson") == 0) {
			format = FORMAT_GEOJSON;
		} else {
			pf_http_respond_error(req, 400, "format must be csv, ndjson or geojson",
			                      "{\"param\": \"format\"}");
			return;
		}
	}
	if (!pf_respond_db_up(req, api->readers))
		return;
	export_ctx *x = calloc(1, sizeof(*x));
	bool ok = x && (x->pending = evbuffer_new()) != NULL;
	for (int i = 0; ok && i < PF_EXPORT_AHEAD; i++)
		ok = (x->slot[i].buf = evbuffer_new()) != NULL;
	if (!ok) {
		if (x)
			export_free(x);
		pf_respond_oom(req);
		return;
	}
	x->api = api;
	x->req = req;
	x->kind = kind;
	x->format = format;
	if (kind == EXPORT_RECORDS)
		x->query = query;
	x->id = id;
	x->user = user;
	export_set_state(x, EXPORT_OWNER);
	pf_db_unit *u = pf_db_unit_new(owner_cb, x);
	pf_db_unit_stmt(u, sql_owner);
	pf_db_unit_int(u, id);
	if (pf_db_unit_int(u, user) != 0) {
		pf_db_unit_free(u);
		export_free(x);
		pf_respond_oom(req);
		return;
	}
	pf_http_req_on_abort(req, abort_cb, x);
	x->inflight++;
	pf_db_submit(api->readers, 0, u);
}

/* ---------------- metrics ---------------- */

static void export_collect_cb(void *arg, pf_metrics_scrape *sc)
{
	const pf_api_export_counts *n = &((const pf_api *)arg)->exports;
	static const char *const kinds[PF_API_EXPORT_KINDS] = {"records", "errors", "file"};
	pf_metrics_family(sc, "pf_exports_total", PF_METRIC_COUNTER,
	                  "Downloads that began streaming, by kind and how they ended.");
	for (int k = 0; k < PF_API_EXPORT_KINDS; k++) {
		pf_metrics_sample(sc, (double)n->ended[k], "kind", kinds[k], "result", "done",
		                  NULL);
		pf_metrics_sample(sc, (double)n->cut[k], "kind", kinds[k], "result", "cut", NULL);
	}
	pf_metrics_family(sc, "pf_exports_active", PF_METRIC_GAUGE, "Downloads streaming now.");
	pf_metrics_sample(sc, (double)n->active, NULL);
	pf_metrics_family(sc, "pf_export_rows_total", PF_METRIC_COUNTER,
	                  "Records or rejected rows written to downloads.");
	for (int k = 0; k < 2; k++)
		pf_metrics_sample(sc, (double)n->rows[k], "kind", kinds[k], NULL);
	pf_metrics_family(sc, "pf_export_bytes_total", PF_METRIC_COUNTER,
	                  "Body bytes of downloads handed to connections (before gzip).");
	for (int k = 0; k < PF_API_EXPORT_KINDS; k++)
		pf_metrics_sample(sc, (double)n->bytes[k], "kind", kinds[k], NULL);
}

int pf_export_meter(pf_api *api)
{
	return api->metrics ? pf_metrics_collector_add(api->metrics, export_collect_cb, api) : 0;
}

void pf_export_unmeter(pf_api *api)
{
	if (api->metrics)
		pf_metrics_collector_remove(api->metrics, export_collect_cb, api);
}

void pf_export_records(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	export_start(api, req, EXPORT_RECORDS, id, user);
}

void pf_export_errors(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	export_start(api, req, EXPORT_ERRORS, id, user);
}

void pf_export_file(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	export_start(api, req, EXPORT_FILE, id, user);
}
