/*
 * query.h - search, filters, sorts and keyset paging of property records,
 * for GET /api/imports/ID/properties, GET /api/properties and the exports.
 *
 * A request's parameters become a pf_query (pf_query_parse: every value
 * checked, 400 material named by parameter). A walk over the matching rows
 * is a chain of pages: pf_query_append_page appends one page's statement
 * for a position to a pf_db_unit, pf_query_row_pos reads the position
 * after any row of that page, and the next page starts there. A position
 * travels to a client as a sealed cursor (pf_query_cursor_seal/_open) that
 * is bound to the query (its q, filters and sort; not its limit).
 *
 * Order: a total order per query. sort=row: (job_id, row_no). Any other
 * sort: the rows with a value first, by (value, job_id, row_no) in the
 * sort's direction, then the rows without one (NULL, or a price per sqft of
 * a sqft 0), by (job_id, row_no) in the same direction. For one import
 * job_id is the same on every row.
 *
 * A walk returns every row that matched when it began exactly once, while
 * rows are being added too (a row added after the walk's position may or
 * may not be seen; never twice). Each statement reads an import at its
 * generation when the statement runs: to notice a reprocess, compare the
 * gen of pf_query_append_owner's row with the walk's (pos.gen), as the
 * page route does (409).
 *
 * SQL: every value is a parameter; the statement text is made per query
 * from fixed pieces only (the unit owns its copy).
 *
 * Errors: 0; PF_EINVAL with *err set for a request to refuse (400);
 * negative as common.h otherwise.
 */
#ifndef PROPFLOW_QUERY_H
#define PROPFLOW_QUERY_H

#include "propflow/api/cursor.h"
#include "propflow/base/common.h"
#include "propflow/net/http.h"
#include "propflow/store/db.h"

#define PF_QUERY_Q_MAX      256 /* bytes of q */
#define PF_QUERY_WORDS_MAX  8   /* words of q (more: 400) */
#define PF_QUERY_WORD_MAX   40  /* bytes of one word of q (longer: 400) */
#define PF_QUERY_TEXT_MAX   200 /* bytes of a text filter (zip, city, ...) */
#define PF_QUERY_NUMBER_MAX 40  /* bytes of a number filter */
#define PF_QUERY_VALUE_MAX  80  /* bytes of a sort value carried in a cursor */
#define PF_QUERY_LIMIT_DEF  100 /* items of a page when limit is absent */
#define PF_QUERY_LIMIT_MAX  1000

/* The sorts (sort=NAME, sort=-NAME for descending). */
typedef enum pf_query_sort {
	PF_SORT_ROW = 0, /* the file's order */
	PF_SORT_PRICE,
	PF_SORT_SQFT,
	PF_SORT_YEAR_BUILT,
	PF_SORT_LISTED_ON,
	PF_SORT_PRICE_PER_SQFT, /* price / sqft; NULL when either is NULL or sqft is 0 */
	PF_SORT__COUNT,
} pf_query_sort;

/* The filters, in the order of the parameters' names below. Bounds are
 * inclusive; a row without a value for a bounded field never matches. */
typedef enum pf_query_filter {
	PF_FILTER_PRICE_MIN = 0,
	PF_FILTER_PRICE_MAX,
	PF_FILTER_BEDS_MIN,
	PF_FILTER_BATHS_MIN,
	PF_FILTER_SQFT_MIN,
	PF_FILTER_SQFT_MAX,
	PF_FILTER_YEAR_MIN,
	PF_FILTER_YEAR_MAX,
	PF_FILTER_ZIP,           /* exact */
	PF_FILTER_CITY,          /* case-insensitive, exact */
	PF_FILTER_PROPERTY_TYPE, /* case-insensitive, exact */
	PF_FILTER_STATUS,        /* case-insensitive, exact */
	PF_FILTER_WARNED,        /* true|false */
	PF_FILTER_OUTLIER,       /* true|false */
	PF_FILTER__COUNT,
} pf_query_filter;

/* Which rows a walk reads. */
typedef enum pf_query_scope {
	PF_QUERY_IMPORT = 0, /* one import (job) of the user */
	PF_QUERY_ALL,        /* every import of the user, each at its generation */
} pf_query_scope;

/* How a word of q matches (see query.c). */
typedef enum pf_query_word_kind {
	PF_WORD_PREFIX = 0, /* numbers, words under 4 letters: a word of the row starts with it */
	PF_WORD_FUZZY,      /* a word of the row starts with it give or take one letter
	                       (wrong, missing, extra or two swapped) */
} pf_query_word_kind;

typedef struct pf_query {
	pf_query_sort sort;
	bool desc; /* sort=-NAME */
	int limit; /* 1..PF_QUERY_LIMIT_MAX */
	int nwords;
	char words[PF_QUERY_WORDS_MAX][PF_QUERY_WORD_MAX + 1]; /* q, normalised: lower case
	                                                          ASCII letters and digits,
	                                                          other bytes >= 0x80 kept */
	pf_query_word_kind word_kind[PF_QUERY_WORDS_MAX];
	bool has[PF_FILTER__COUNT];                          /* the filter was given */
	char value[PF_FILTER__COUNT][PF_QUERY_TEXT_MAX + 1]; /* its value as checked (numbers
	                                                        in PostgreSQL's syntax,
	                                                        booleans "true"/"false") */
	char after[PF_CURSOR_CHARS_MAX + 1];                 /* the cursor as sent, "" none */
	uint8_t hash[8]; /* binds a cursor to q, filters and sort */
} pf_query;

/* What a refused request is refused for: the parameter's name (static, or
 * borrowed from the request) and a sentence for the client. */
typedef struct pf_query_error {
	const char *param;
	const char *message;
} pf_query_error;

/* A walk's position: after which row the next page starts. */
typedef struct pf_query_pos {
	int64_t gen;  /* per import: the generation the walk reads; -1 across imports */
	bool started; /* false: the walk starts at its first row */
	bool nulls;   /* the last row had no sort value (always false for sort=row) */
	int64_t job;  /* the last row's import */
	int64_t row;  /* its row_no */
	char value[PF_QUERY_VALUE_MAX + 1]; /* its sort value, PostgreSQL's text (sorts
	                                       other than row, when !nulls) */
} pf_query_pos;

/* The request's parameters as q: q, the filters, sort, limit, after (the
 * cursor text is only kept: see pf_query_cursor_open). Any other parameter,
 * a value that does not parse, a min above its max, an unknown sort, too
 * many or too long words: PF_EINVAL with *err. */
PF_MUST_CHECK int pf_query_parse(pf_query *q, pf_http_req *req, pf_query_error *err);
/* The same over n name/value pairs (what pf_query_parse reads from req). */
PF_MUST_CHECK int pf_query_parse_pairs(pf_query *q, const char *const *names,
                                       const char *const *values, size_t n, pf_query_error *err);

/* What a first page's rows and order depend on, as text (limit, sort, the
 * words and the filters, in a fixed order): the read cache's key, so that
 * the same search asked in other words (parameter order, case, spaces)
 * is one entry. PF_ELIMIT when it does not fit in cap. */
PF_MUST_CHECK int pf_query_canonical(const pf_query *q, char *out, size_t cap);

/* Appends "SELECT gen FROM import_jobs WHERE id = job AND user_id = user":
 * one row when the import is the user's. */
PF_MUST_CHECK int pf_query_append_owner(pf_db_unit *u, int64_t job, int64_t user);

/* Appends the planner's settings for q's pages, local to the unit's
 * transaction: no sequential scan of property_records, jit off, and,
 * without q or a filter, no sort (but the merge of per-import pages and the
 * open segment, which have no other path); with q or a filter a sort of
 * what an index found may be the cheap plan (query.c). Call it before the
 * unit's first pf_query_append_page: without it a small table or a
 * selective filter with statistics can get a scan and sort of the whole
 * import for every page. One statement, no rows of interest. */
PF_MUST_CHECK int pf_query_append_planner(pf_db_unit *u, const pf_query *q);

/* Appends the statement of the page after `after` (NULL or !started: the
 * first page): at most `limit` rows of q in q's order, for the user's
 * import `job` (scope PF_QUERY_IMPORT; no row when it is not the user's)
 * or all of the user's imports (PF_QUERY_ALL; job ignored; `jobs` the
 * user's import ids as an array literal, "{1,2}": only these are read,
 * and only those of them that are the user's). Its columns:
 * PF_RECORD_COLUMNS (record.h), then the sort value as text. Ask for
 * limit + 1 to know whether another page follows. */
PF_MUST_CHECK int pf_query_append_page(pf_db_unit *u, const pf_query *q, pf_query_scope scope,
                                       int64_t job, int64_t user, const char *jobs,
                                       const pf_query_pos *after, int limit);

/* The position after row `row` of page statement `stmt` of r (gen kept as
 * pos had it): 0, or PF_ELIMIT when its sort value is longer than
 * PF_QUERY_VALUE_MAX, PF_EINVAL for a row that is not a page's. */
PF_MUST_CHECK int pf_query_row_pos(const pf_query *q, const pf_db_result *r, int stmt, int row,
                                   pf_query_pos *pos);

/* A position as a cursor for q (out: cap >= PF_CURSOR_CHARS_MAX + 1). */
PF_MUST_CHECK int pf_query_cursor_seal(const pf_query *q, const uint8_t key[PF_CURSOR_KEY_BYTES],
                                       pf_query_scope scope, const pf_query_pos *pos, char *out,
                                       size_t cap);
/* q->after as a position: 0 (pos->started false when there is none), or
 * PF_EINVAL with *err ("after": not a cursor of this server, of this
 * route, or made for another query). The import it names is pos->job: the
 * caller compares it with its own (another import's cursor: 400) and
 * pos->gen with the import's (a reprocess since: 409). */
PF_MUST_CHECK int pf_query_cursor_open(const pf_query *q, const uint8_t key[PF_CURSOR_KEY_BYTES],
                                       pf_query_scope scope, pf_query_pos *pos,
                                       pf_query_error *err);

const char *pf_query_sort_name(pf_query_sort s); /* "price", ... */

#endif
