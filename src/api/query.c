/*
 * query.c - search, filters, sorts and keyset pages of property records
 * (see query.h).
 *
 * Search: a record's search text is " " then address, city, zip and
 * source id in lower case with every run of other characters made one
 * space (SEARCH_TEXT; each sealed segment has a trigram index over this
 * very expression, schema/011_segments.sql). Each word of q must match at
 * the start of a word of that text:
 *  - a number, a word under PF_QUERY_FUZZY_MIN letters or one with non-ASCII
 *    letters, as a prefix (LIKE '% word%'): "12" finds "12" and "120" but
 *    not "312", and a short word does not match everything;
 *  - any other word give or take one letter, as a regular expression with
 *    one alternative per edit (" (mapel|.apel|m.?pel|...)"): a wrong,
 *    missing, extra or two swapped letters, and any word that starts with
 *    one of those.
 * Trigram similarity (pg_trgm's word_similarity, %>) does not do: a swap in
 * a five-letter word leaves 2 of 6 trigrams ("mpale" and "maple": 0.2), a
 * missing letter 0.4, so a threshold that finds them finds half the table.
 * The trigram index answers LIKE and the regular expression themselves
 * (pg_trgm reads the trigrams every alternative needs): on a sealed segment
 * the planner takes it, or the sort's index with the words as a filter
 * when they match so many rows that the page fills at once.
 *
 * Pages: each sort has an index (job_id, gen, value, row_no) on each
 * sealed segment that yields its order for one import at its generation
 * (the open segment of a running import is sorted: at most 65,536 rows);
 * a page is the rows with a
 * value after the position, then (UNION ALL, under one LIMIT, so that
 * PostgreSQL stops as soon as the page is full) the rows without one, in
 * row order. Across imports, each import gives at most a page (LATERAL),
 * and those are merged: no import is sorted whole.
 */
#include "propflow/api/query.h"
#include "propflow/api/record.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PF_QUERY_FUZZY_MIN 4     /* letters of the shortest word matched with a typo */
#define PF_QUERY_FUZZY_MAX 24    /* letters of the longest (a longer one is a prefix) */
#define QUERY_SQL_MAX      65536 /* bytes of one page statement */
#define POS_VERSION        1     /* the layout of a cursor's bytes */

/* A record's search text (see above). */
#define SEARCH_TEXT                                                                                \
	"(' ' || regexp_replace(lower(coalesce(r.address, '') || ' ' || coalesce(r.city, '') || "  \
	"' ' || coalesce(r.zip, '') || ' ' || coalesce(r.source_id, '')), '[^[:alnum:]]+', ' ', "  \
	"'g'))"

/* ---------------- names ---------------- */

static const char *const filter_names[PF_FILTER__COUNT] = {
    [PF_FILTER_PRICE_MIN] = "price_min",
    [PF_FILTER_PRICE_MAX] = "price_max",
    [PF_FILTER_BEDS_MIN] = "beds_min",
    [PF_FILTER_BATHS_MIN] = "baths_min",
    [PF_FILTER_SQFT_MIN] = "sqft_min",
    [PF_FILTER_SQFT_MAX] = "sqft_max",
    [PF_FILTER_YEAR_MIN] = "year_min",
    [PF_FILTER_YEAR_MAX] = "year_max",
    [PF_FILTER_ZIP] = "zip",
    [PF_FILTER_CITY] = "city",
    [PF_FILTER_PROPERTY_TYPE] = "property_type",
    [PF_FILTER_STATUS] = "status",
    [PF_FILTER_WARNED] = "warned",
    [PF_FILTER_OUTLIER] = "outlier",
};

typedef enum filter_type { FT_NUMBER, FT_INTEGER, FT_TEXT, FT_BOOL } filter_type;

/* Each filter's type and its predicate on r ("%d" is its parameter). */
static const struct {
	filter_type type;
	const char *sql;
} filter_sql[PF_FILTER__COUNT] = {
    [PF_FILTER_PRICE_MIN] = {FT_NUMBER, "r.price >= $%d::numeric"},
    [PF_FILTER_PRICE_MAX] = {FT_NUMBER, "r.price <= $%d::numeric"},
    [PF_FILTER_BEDS_MIN] = {FT_NUMBER, "r.beds >= $%d::numeric"},
    [PF_FILTER_BATHS_MIN] = {FT_NUMBER, "r.baths >= $%d::numeric"},
    [PF_FILTER_SQFT_MIN] = {FT_NUMBER, "r.sqft >= $%d::numeric"},
    [PF_FILTER_SQFT_MAX] = {FT_NUMBER, "r.sqft <= $%d::numeric"},
    [PF_FILTER_YEAR_MIN] = {FT_INTEGER, "r.year_built >= $%d::int"},
    [PF_FILTER_YEAR_MAX] = {FT_INTEGER, "r.year_built <= $%d::int"},
    [PF_FILTER_ZIP] = {FT_TEXT, "r.zip = $%d"},
    [PF_FILTER_CITY] = {FT_TEXT, "lower(r.city) = lower($%d)"},
    [PF_FILTER_PROPERTY_TYPE] = {FT_TEXT, "lower(r.property_type) = lower($%d)"},
    [PF_FILTER_STATUS] = {FT_TEXT, "lower(r.status) = lower($%d)"},
    [PF_FILTER_WARNED] = {FT_BOOL, "r.warned = $%d::boolean"},
    [PF_FILTER_OUTLIER] = {FT_BOOL, "(r.outlier IS NOT NULL) = $%d::boolean"},
};

/* min/max pairs checked against each other */
static const pf_query_filter bounds[][2] = {
    {PF_FILTER_PRICE_MIN, PF_FILTER_PRICE_MAX},
    {PF_FILTER_SQFT_MIN, PF_FILTER_SQFT_MAX},
    {PF_FILTER_YEAR_MIN, PF_FILTER_YEAR_MAX},
};

/* Each sort's name, its expression on r (the same expression as its index
 * in schema/009_search.sql, or the planner cannot use it) and the type a
 * cursor's value text is cast back to. */
static const struct {
	const char *name;
	const char *expr;
	const char *type;
} sorts[PF_SORT__COUNT] = {
    [PF_SORT_ROW] = {"row", NULL, NULL},
    [PF_SORT_PRICE] = {"price", "r.price", "numeric"},
    [PF_SORT_SQFT] = {"sqft", "r.sqft", "numeric"},
    [PF_SORT_YEAR_BUILT] = {"year_built", "r.year_built", "int"},
    [PF_SORT_LISTED_ON] = {"listed_on", "r.listed_on", "date"},
    [PF_SORT_PRICE_PER_SQFT] = {"price_per_sqft", "(r.price / NULLIF(r.sqft, 0))", "numeric"},
};

const char *pf_query_sort_name(pf_query_sort s)
{
	return s >= 0 && s < PF_SORT__COUNT ? sorts[s].name : NULL;
}

/* ---------------- parsing ---------------- */

static int refuse(pf_query_error *err, const char *param, const char *message)
{
	err->param = param;
	err->message = message;
	return PF_EINVAL;
}

/* A decimal number: [-]digits[.digits], at most PF_QUERY_NUMBER_MAX bytes. */
static bool is_number(const char *v, bool integer)
{
	size_t len = strlen(v);
	if (len == 0 || len > PF_QUERY_NUMBER_MAX)
		return false;
	const char *p = v;
	if (*p == '-')
		p++;
	int digits = 0, frac = -1;
	for (; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digits++;
		else if (*p == '.' && frac < 0 && !integer && digits > 0)
			frac = digits;
		else
			return false;
	}
	return digits > 0 && (frac < 0 || digits > frac);
}

/* The words of q, each a run of ASCII letters and digits or bytes >= 0x80,
 * ASCII in lower case. */
static int parse_words(pf_query *q, const char *text, pf_query_error *err)
{
	if (strlen(text) > PF_QUERY_Q_MAX)
		return refuse(err, "q", "q is longer than 256 bytes");
	const unsigned char *p = (const unsigned char *)text;
	while (*p) {
		size_t len = 0;
		bool ascii = true, digits = true;
		char word[PF_QUERY_WORD_MAX + 1];
		while (*p && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		              (*p >= '0' && *p <= '9') || *p >= 0x80)) {
			if (len >= PF_QUERY_WORD_MAX)
				return refuse(err, "q", "a word of q is longer than 40 bytes");
			unsigned char ch = *p++;
			if (ch >= 'A' && ch <= 'Z')
				ch = (unsigned char)(ch - 'A' + 'a');
			ascii = ascii && ch < 0x80;
			digits = digits && ch >= '0' && ch <= '9';
			word[len++] = (char)ch;
		}
		if (len == 0) {
			p++;
			continue;
		}
		if (q->nwords >= PF_QUERY_WORDS_MAX)
			return refuse(err, "q", "q has more than 8 words");
		word[len] = 0;
		memcpy(q->words[q->nwords], word, len + 1);
		q->word_kind[q->nwords] =
		    ascii && !digits && len >= PF_QUERY_FUZZY_MIN && len <= PF_QUERY_FUZZY_MAX
		        ? PF_WORD_FUZZY
		        : PF_WORD_PREFIX;
		q->nwords++;
	}
	return 0;
}

static int parse_filter(pf_query *q, pf_query_filter f, const char *v, pf_query_error *err)
{
	const char *name = filter_names[f];
	switch (filter_sql[f].type) {
	case FT_NUMBER:
		if (!is_number(v, false))
			return refuse(err, name, "must be a decimal number such as 250000 or 1.5");
		break;
	case FT_INTEGER:
		if (!is_number(v, true))
			return refuse(err, name, "must be a whole number such as 1990");
		break;
	case FT_TEXT:
		if (strlen(v) > PF_QUERY_TEXT_MAX)
			return refuse(err, name, "is longer than 200 bytes");
		break;
	case FT_BOOL:
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
			return refuse(err, name, "must be true or false");
		break;
	default: abort();
	}
	q->has[f] = true;
	snprintf(q->value[f], sizeof(q->value[f]), "%s", v);
	return 0;
}

/* A stable digest of what the walk's rows and order depend on: a cursor
 * made under another q, filter or sort is refused. */
static int query_hash(pf_query *q)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint8_t head[2] = {(uint8_t)q->sort, (uint8_t)q->desc};
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	         EVP_DigestUpdate(ctx, head, sizeof(head)) == 1;
	for (int i = 0; ok && i < q->nwords; i++)
		ok = EVP_DigestUpdate(ctx, q->words[i], strlen(q->words[i]) + 1) == 1;
	for (int f = 0; ok && f < PF_FILTER__COUNT; f++) {
		uint8_t tag[2] = {0xff, (uint8_t)f};
		if (q->has[f])
			ok = EVP_DigestUpdate(ctx, tag, sizeof(tag)) == 1 &&
			     EVP_DigestUpdate(ctx, q->value[f], strlen(q->value[f]) + 1) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen >= sizeof(q->hash);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return PF_EIO;
	memcpy(q->hash, md, sizeof(q->hash));
	return 0;
}

/* Appends v with '%', '&' and '=' (and bytes below 0x20) as %XX, so that no
 * value reads as a parameter boundary: false when cap is reached. */
static bool canon_put(char *out, size_t cap, size_t *at, const char *name, const char *v)
{
	int n = snprintf(out + *at, cap - *at, "&%s=", name);
	if (n < 0 || (size_t)n >= cap - *at)
		return false;
	*at += (size_t)n;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		bool esc = *p < 0x20 || *p == '%' || *p == '&' || *p == '=';
		if (cap - *at < (esc ? 4u : 2u))
			return false;
		if (esc)
			*at += (size_t)snprintf(out + *at, cap - *at, "%%%02X", *p);
		else
			out[(*at)++] = (char)*p;
	}
	out[*at] = 0;
	return true;
}

int pf_query_canonical(const pf_query *q, char *out, size_t cap)
{
	int n = snprintf(out, cap, "limit=%d&sort=%s%s", q->limit, q->desc ? "-" : "",
	                 sorts[q->sort].name);
	if (n < 0 || (size_t)n >= cap)
		return PF_ELIMIT;
	size_t at = (size_t)n;
	for (int i = 0; i < q->nwords; i++)
		if (!canon_put(out, cap, &at, "q", q->words[i]))
			return PF_ELIMIT;
	for (int f = 0; f < PF_FILTER__COUNT; f++)
		if (q->has[f] && !canon_put(out, cap, &at, filter_names[f], q->value[f]))
			return PF_ELIMIT;
	return 0;
}

int pf_query_parse_pairs(pf_query *q, const char *const *names, const char *const *values, size_t n,
                         pf_query_error *err)
{
	memset(q, 0, sizeof(*q));
	q->limit = PF_QUERY_LIMIT_DEF;
	bool seen_q = false, seen_sort = false, seen_limit = false, seen_after = false;
	for (size_t i = 0; i < n; i++) {
		const char *name = names[i], *v = values[i];
		bool *seen = NULL;
		int f = -1;
		for (int k = 0; k < PF_FILTER__COUNT && f < 0; k++)
			if (strcmp(name, filter_names[k]) == 0)
				f = k;
		if (f >= 0) {
			if (q->has[f])
				return refuse(err, filter_names[f], "is given twice");
			/* an empty value is no filter: a form's empty field */
			if (*v && parse_filter(q, (pf_query_filter)f, v, err) != 0)
				return PF_EINVAL;
			continue;
		}
		if (strcmp(name, "q") == 0)
			seen = &seen_q;
		else if (strcmp(name, "sort") == 0)
			seen = &seen_sort;
		else if (strcmp(name, "limit") == 0)
			seen = &seen_limit;
		else if (strcmp(name, "after") == 0)
			seen = &seen_after;
		else
			return refuse(err, name, "is not a parameter of this route");
		if (*seen)
			return refuse(err,
			              seen == &seen_q       ? "q"
			              : seen == &seen_sort  ? "sort"
			              : seen == &seen_limit ? "limit"
			                                    : "after",
			              "is given twice");
		*seen = true;
		if (seen == &seen_q) {
			if (parse_words(q, v, err) != 0)
				return PF_EINVAL;
		} else if (seen == &seen_sort) {
			const char *s = v[0] == '-' ? v + 1 : v;
			int found = -1;
			for (int k = 0; k < PF_SORT__COUNT && found < 0; k++)
				if (strcmp(s, sorts[k].name) == 0)
					found = k;
			if (*v && found < 0)
				return refuse(
				    err, "sort",
				    "must be one of row, price, sqft, year_built, listed_on, "
				    "price_per_sqft, each with - before it for descending");
			q->sort = found < 0 ? PF_SORT_ROW : (pf_query_sort)found;
			q->desc = found >= 0 && v[0] == '-';
		} else if (seen == &seen_limit) {
			bool ok = *v && strlen(v) <= 4;
			for (const char *p = v; ok && *p; p++)
				ok = *p >= '0' && *p <= '9';
			int l = ok ? atoi(v) : 0;
			if (l < 1 || l > PF_QUERY_LIMIT_MAX)
				return refuse(err, "limit",
				              "must be a whole number from 1 to 1000");
			q->limit = l;
		} else {
			if (strlen(v) > PF_CURSOR_CHARS_MAX)
				return refuse(err, "after", "must be a cursor returned as next");
			snprintf(q->after, sizeof(q->after), "%s", v);
		}
	}
	for (size_t b = 0; b < PF_ARRAY_LEN(bounds); b++) {
		pf_query_filter lo = bounds[b][0], hi = bounds[b][1];
		if (q->has[lo] && q->has[hi] &&
		    strtod(q->value[lo], NULL) > strtod(q->value[hi], NULL))
			return refuse(err, filter_names[lo], "is above its maximum");
	}
	if (query_hash(q) != 0)
		return PF_EIO;
	return 0;
}

int pf_query_parse(pf_query *q, pf_http_req *req, pf_query_error *err)
{
	/* a request target is capped (http.h), so are its parameters; the cap
	 * here is on what a query can name at all, each once */
	enum { PAIRS_MAX = PF_FILTER__COUNT + 8 };
	const char *names[PAIRS_MAX], *values[PAIRS_MAX];
	size_t n = 0;
	const char *name, *value;
	while (pf_http_req_param_at(req, n, &name, &value)) {
		if (n >= PAIRS_MAX)
			return refuse(err, name, "too many parameters");
		names[n] = name;
		values[n] = value;
		n++;
	}
	return pf_query_parse_pairs(q, names, values, n, err);
}

/* ---------------- statements ---------------- */

/* A statement being made: its text and its parameters, handed to the
 * unit together at the end. */
typedef struct sqlbuf {
	char *text; /* owned until handed to the unit */
	size_t len, cap;
	bool failed; /* out of memory or over QUERY_SQL_MAX */
	int nparams; /* parameters added so far ($1..$n) */
	struct {
		const char *text; /* borrowed (from q, or pats); NULL: an int */
		int64_t num;
	} params[PF_DB_PARAMS_MAX];
	char *pats[PF_QUERY_WORDS_MAX]; /* owned: the words' patterns */
} sqlbuf;

static void put(sqlbuf *b, const char *fmt, ...) PF_PRINTF(2, 3);
static void put(sqlbuf *b, const char *fmt, ...)
{
	if (b->failed)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n > QUERY_SQL_MAX - b->len) {
		b->failed = true;
		return;
	}
	if ((size_t)n + 1 > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 4096;
		while ((size_t)n + 1 > cap - b->len)
			cap *= 2;
		char *t = realloc(b->text, cap);
		if (!t) {
			b->failed = true;
			return;
		}
		b->text = t;
		b->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->text + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* The next parameter's number, for text v (borrowed until the statement
 * is handed over) or the number v. */
static int param_text(sqlbuf *b, const char *v)
{
	if (b->nparams >= PF_DB_PARAMS_MAX) {
		b->failed = true;
		return 0;
	}
	b->params[b->nparams].text = v;
	return ++b->nparams;
}

static int param_int(sqlbuf *b, int64_t v)
{
	if (b->nparams >= PF_DB_PARAMS_MAX) {
		b->failed = true;
		return 0;
	}
	b->params[b->nparams].text = NULL;
	b->params[b->nparams].num = v;
	return ++b->nparams;
}

/* " (alt|alt|...)": every word that starts with w give or take one letter. */
static void put_fuzzy(sqlbuf *b, const char *w)
{
	size_t n = strlen(w);
	put(b, " (%s", w);
	for (size_t i = 0; i < n; i++) {
		/* a wrong or a missing letter at i */
		put(b, "|%.*s.?%s", (int)i, w, w + i + 1);
		/* an extra letter before i */
		put(b, "|%.*s.%s", (int)i, w, w + i);
		/* i and i+1 swapped */
		if (i + 1 < n && w[i] != w[i + 1])
			put(b, "|%.*s%c%c%s", (int)i, w, w[i + 1], w[i], w + i + 2);
	}
	put(b, ")");
}

/* The predicates of q's filters and words ("" or " AND ..."); params in ps. */
typedef struct preds {
	int filter[PF_FILTER__COUNT];
	int word[PF_QUERY_WORDS_MAX];
} preds;

static void add_pred_params(sqlbuf *b, const pf_query *q, preds *ps)
{
	for (int f = 0; f < PF_FILTER__COUNT; f++)
		ps->filter[f] = q->has[f] ? param_text(b, q->value[f]) : 0;
	for (int i = 0; i < q->nwords; i++) {
		sqlbuf pat = {0};
		if (q->word_kind[i] == PF_WORD_FUZZY)
			put_fuzzy(&pat, q->words[i]);
		else
			put(&pat, "%% %s%%", q->words[i]);
		b->failed = b->failed || pat.failed;
		b->pats[i] = pat.text;
		ps->word[i] = param_text(b, pat.text);
	}
}

static void put_preds(sqlbuf *b, const pf_query *q, const preds *ps)
{
	for (int f = 0; f < PF_FILTER__COUNT; f++)
		if (q->has[f]) {
			put(b, " AND ");
			put(b, filter_sql[f].sql, ps->filter[f]);
		}
	for (int i = 0; i < q->nwords; i++)
		put(b,
		    q->word_kind[i] == PF_WORD_FUZZY ? " AND " SEARCH_TEXT " ~ $%d"
		                                     : " AND " SEARCH_TEXT " LIKE $%d",
		    ps->word[i]);
}

int pf_query_append_planner(pf_db_unit *u, const pf_query *q)
{
	/* Sealed segments are read through their indexes; the open one has
	 * only its row index and is sorted (a bounded sort: the page's limit).
	 * With neither q nor a filter the sort's index is the plan: sorts stay
	 * off. Under q or a filter a sealed segment's trigram or filter index
	 * may find few rows, and a sort of those is the cheap plan (a sealed
	 * segment has statistics: it is analysed when sealed). jit off: a
	 * disabled path costs 1e10, far above jit_above_cost, and compiling a
	 * page's plan took 300-400 ms (measured). */
	bool filtered = q->nwords > 0;
	for (int f = 0; f < PF_FILTER__COUNT; f++)
		filtered = filtered || q->has[f];
	return pf_db_unit_stmt(u, filtered ? "SELECT set_config('enable_seqscan', 'off', true), "
	                                     "set_config('jit', 'off', true)"
	                                   : "SELECT set_config('enable_seqscan', 'off', true), "
	                                     "set_config('enable_sort', 'off', true), "
	                                     "set_config('jit', 'off', true)");
}

int pf_query_append_owner(pf_db_unit *u, int64_t job, int64_t user)
{
	int rc = pf_db_unit_stmt(u, "SELECT gen FROM import_jobs WHERE id = $1 AND user_id = $2");
	rc = pf_db_unit_int(u, job);
	rc = pf_db_unit_int(u, user);
	return rc;
}

/*
 * One import (scope IMPORT), $1 job, $2 user, $3 limit:
 *   (SELECT cols, sv::text FROM property_records r WHERE r.job_id = $1
 *      AND r.gen = <the import's, if it is the user's> AND sv IS NOT NULL
 *      AND (sv, r.row_no) > ($v, $r) <filters> ORDER BY sv, r.row_no LIMIT $3)
 *   UNION ALL
 *   (SELECT cols, NULL FROM ... AND sv IS NULL AND r.row_no > $r <filters>
 *      ORDER BY r.row_no LIMIT $3)
 *   LIMIT $3
 * with < and DESC for a descending sort. Across imports, the same per
 * import j (r.job_id = j.id AND r.gen = j.gen) inside a LATERAL over the
 * user's imports, whose position is (value, job, row): an import before
 * the cursor's starts after the value, the cursor's after (value, row),
 * one after it at the value; then merged by (phase, value, job, row).
 */
static void put_branch(sqlbuf *b, const pf_query *q, pf_query_scope scope, bool nulls,
                       const pf_query_pos *after, const int *pos_params, const preds *ps,
                       int p_limit, int p_jobs)
{
	const char *expr = sorts[q->sort].expr;
	const char *dir = q->desc ? " DESC" : "";
	const char *cmp = q->desc ? "<" : ">";
	bool bounded = after && after->started && (!expr || after->nulls == nulls);
	put(b, "(SELECT " PF_RECORD_COLUMNS_R ", %s::text AS sort_value",
	    expr && !nulls ? expr : "NULL");
	if (scope == PF_QUERY_ALL)
		put(b, ", %d AS phase, %s AS sort_key", nulls ? 1 : 0,
		    expr && !nulls ? expr : "NULL");
	put(b, " FROM property_records r WHERE ");
	if (scope == PF_QUERY_IMPORT)
		put(b, "r.job_id = $1 AND r.gen = (SELECT gen FROM import_jobs WHERE id = $1 AND "
		       "user_id = $2)");
	else
		put(b, "r.job_id = j.id AND r.gen = j.gen AND r.job_id = ANY ($%d::bigint[])",
		    p_jobs);
	if (expr)
		put(b, " AND %s IS %sNULL", expr, nulls ? "" : "NOT ");
	/* the row's position bound: from the cursor's row in the cursor's
	 * import; across imports the imports before it (in the walk's
	 * direction) are past, the ones after it start at the beginning */
	char rowb[200];
	if (!bounded)
		rowb[0] = 0;
	else if (scope == PF_QUERY_IMPORT)
		snprintf(rowb, sizeof(rowb), "$%d", pos_params[1]);
	else if (!q->desc)
		snprintf(rowb, sizeof(rowb),
		         "CASE WHEN j.id > $%d THEN 0 WHEN j.id = $%d THEN $%d ELSE 2147483647 END",
		         pos_params[2], pos_params[2], pos_params[1]);
	else
		snprintf(rowb, sizeof(rowb),
		         "CASE WHEN j.id < $%d THEN 2147483648 WHEN j.id = $%d THEN $%d ELSE 0 END",
		         pos_params[2], pos_params[2], pos_params[1]);
	if (bounded && expr && !nulls)
		put(b, " AND (%s, r.row_no) %s ($%d::%s, %s)", expr, cmp, pos_params[0],
		    sorts[q->sort].type, rowb);
	else if (bounded)
		put(b, " AND r.row_no %s %s", cmp, rowb);
	put_preds(b, q, ps);
	if (expr && !nulls)
		put(b, " ORDER BY %s%s, r.row_no%s LIMIT $%d)", expr, dir, dir, p_limit);
	else
		put(b, " ORDER BY r.row_no%s LIMIT $%d)", dir, p_limit);
}

int pf_query_append_page(pf_db_unit *u, const pf_query *q, pf_query_scope scope, int64_t job,
                         int64_t user, const char *jobs, const pf_query_pos *after, int limit)
{
	sqlbuf *b = calloc(1, sizeof(*b));
	if (!b) {
		pf_db_unit_fail(u, PF_ENOMEM);
		return pf_db_unit_error(u);
	}
	/* one import: $1 the import, $2 the user (put_branch); all: $1 the user */
	if (scope == PF_QUERY_IMPORT)
		param_int(b, job);
	int p_user = param_int(b, user);
	int p_limit = param_int(b, limit);
	int p_jobs = scope == PF_QUERY_ALL ? param_text(b, jobs ? jobs : "{}") : 0;
	int pos_params[3] = {0, 0, 0}; /* value, row, job */
	bool started = after && after->started;
	if (started) {
		bool value = sorts[q->sort].expr && !after->nulls;
		pos_params[0] = value ? param_text(b, after->value) : 0;
		pos_params[1] = param_int(b, after->row);
		pos_params[2] = scope == PF_QUERY_ALL ? param_int(b, after->job) : 0;
	}
	preds ps;
	add_pred_params(b, q, &ps);
	/* a walk past the rows with a value reads only the ones without */
	bool with_values = sorts[q->sort].expr && !(started && after->nulls);
	if (scope == PF_QUERY_ALL)
		put(b, "SELECT x.* FROM import_jobs j CROSS JOIN LATERAL (");
	if (with_values) {
		put_branch(b, q, scope, false, after, pos_params, &ps, p_limit, p_jobs);
		put(b, " UNION ALL ");
	}
	put_branch(b, q, scope, true, after, pos_params, &ps, p_limit, p_jobs);
	if (with_values)
		put(b, " LIMIT $%d", p_limit);
	if (scope == PF_QUERY_ALL) {
		const char *dir = q->desc ? " DESC" : "";
		if (sorts[q->sort].expr)
			put(b,
			    ") x WHERE j.user_id = $%d AND j.id = ANY ($%d::bigint[]) ORDER BY "
			    "x.phase, "
			    "x.sort_key%s, x.job_id%s, x.row_no%s LIMIT $%d",
			    p_user, p_jobs, dir, dir, dir, p_limit);
		else
			put(b,
			    ") x WHERE j.user_id = $%d AND j.id = ANY ($%d::bigint[]) ORDER BY "
			    "x.job_id%s, "
			    "x.row_no%s LIMIT $%d",
			    p_user, p_jobs, dir, dir, p_limit);
	}
	int rc;
	if (b->failed) {
		free(b->text);
		pf_db_unit_fail(u, PF_ENOMEM);
		rc = pf_db_unit_error(u);
	} else {
		rc = pf_db_unit_stmt_owned(u, b->text);
		for (int i = 0; i < b->nparams; i++)
			rc = b->params[i].text ? pf_db_unit_text(u, b->params[i].text)
			                       : pf_db_unit_int(u, b->params[i].num);
	}
	for (int i = 0; i < PF_QUERY_WORDS_MAX; i++)
		free(b->pats[i]);
	free(b);
	return rc;
}

/* ---------------- positions and cursors ---------------- */

int pf_query_row_pos(const pf_query *q, const pf_db_result *r, int stmt, int row, pf_query_pos *pos)
{
	const char *rowno = pf_db_value(r, stmt, row, 1);
	const char *jobid = pf_db_value(r, stmt, row, 3);
	const char *value = pf_db_value(r, stmt, row, PF_RECORD_NCOLS);
	if (!rowno || !jobid)
		return PF_EINVAL;
	bool nulls = sorts[q->sort].expr && !value;
	if (sorts[q->sort].expr && value && strlen(value) > PF_QUERY_VALUE_MAX)
		return PF_ELIMIT;
	pos->started = true;
	pos->nulls = nulls;
	pos->job = strtoll(jobid, NULL, 10);
	pos->row = strtoll(rowno, NULL, 10);
	snprintf(pos->value, sizeof(pos->value), "%s", sorts[q->sort].expr && value ? value : "");
	return 0;
}

/* A cursor's bytes: version, sort, flags (desc, nulls), the query's hash,
 * job, gen, row, the value's length and the value. */
#define POS_HEAD (3 + 8 + 8 + 8 + 8 + 1)

int pf_query_cursor_seal(const pf_query *q, const uint8_t key[PF_CURSOR_KEY_BYTES],
                         pf_query_scope scope, const pf_query_pos *pos, char *out, size_t cap)
{
	uint8_t plain[PF_CURSOR_PLAIN_MAX];
	size_t vlen = strlen(pos->value);
	if (vlen > PF_QUERY_VALUE_MAX || POS_HEAD + PF_QUERY_VALUE_MAX > sizeof(plain))
		return PF_ELIMIT;
	plain[0] = POS_VERSION;
	plain[1] = (uint8_t)q->sort;
	plain[2] = (uint8_t)((q->desc ? 1 : 0) | (pos->nulls ? 2 : 0));
	memcpy(plain + 3, q->hash, 8);
	pf_cursor_put64(plain + 11, pos->job);
	pf_cursor_put64(plain + 19, pos->gen);
	pf_cursor_put64(plain + 27, pos->row);
	plain[35] = (uint8_t)vlen;
	memcpy(plain + POS_HEAD, pos->value, vlen);
	return pf_cursor_seal(key, scope == PF_QUERY_ALL ? PF_CURSOR_QUERY_ALL : PF_CURSOR_QUERY,
	                      plain, POS_HEAD + vlen, out, cap);
}

int pf_query_cursor_open(const pf_query *q, const uint8_t key[PF_CURSOR_KEY_BYTES],
                         pf_query_scope scope, pf_query_pos *pos, pf_query_error *err)
{
	memset(pos, 0, sizeof(*pos));
	pos->gen = -1;
	if (!q->after[0])
		return 0;
	uint8_t plain[PF_CURSOR_PLAIN_MAX];
	size_t len = 0;
	if (pf_cursor_open(key, scope == PF_QUERY_ALL ? PF_CURSOR_QUERY_ALL : PF_CURSOR_QUERY,
	                   q->after, plain, sizeof(plain), &len) != 0 ||
	    len < POS_HEAD || plain[0] != POS_VERSION || len != POS_HEAD + (size_t)plain[35] ||
	    plain[35] > PF_QUERY_VALUE_MAX)
		return refuse(err, "after", "must be a cursor returned as next by this route");
	if (plain[1] != (uint8_t)q->sort || (plain[2] & 1) != (q->desc ? 1 : 0) ||
	    memcmp(plain + 3, q->hash, 8) != 0)
		return refuse(err, "after",
		              "was made for another q, filter or sort: start again from the first "
		              "page");
	pos->started = true;
	pos->nulls = (plain[2] & 2) != 0;
	pos->job = pf_cursor_get64(plain + 11);
	pos->gen = pf_cursor_get64(plain + 19);
	pos->row = pf_cursor_get64(plain + 27);
	memcpy(pos->value, plain + POS_HEAD, plain[35]);
	pos->value[plain[35]] = 0;
	if (pos->job < 0 || pos->row < 0 || pos->row > INT32_MAX)
		return refuse(err, "after", "must be a cursor returned as next by this route");
	return 0;
}
