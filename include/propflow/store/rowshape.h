/*
 * rowshape.h - the shape of an import's rows: everything that turns one CSV
 * data record into one batch row, given the header.
 *
 *  - The header: titles as in the file (cut to PF_MAPPING_HEADER_MAX), raw-row
 *    keys (an empty or blank name becomes "column_N", duplicates get " (2)",
 *    " (3)", ...), and the mapping of the titles onto canonical fields.
 *  - Date columns: evidence observed over the sample rows decides each
 *    column's day/month order once (pf_rowshape_decide).
 *  - Raw rows: every record as a JSON object keyed by the raw keys, LZ4
 *    compressed against a dictionary built from the sample rows.
 *  - Values: each mapped field normalised; an unreadable value is stored as
 *    NULL with a warning, and a row with no address, source id or
 *    coordinates is kept with a warning.
 *
 * Life: pf_rowshape_init -> pf_rowshape_set_header (once) ->
 * pf_rowshape_observe per sample row -> pf_rowshape_decide (once) ->
 * pf_rowshape_add_row per accepted row -> pf_rowshape_deinit.
 *
 * Ownership: a pf_rowshape is embedded in its owner (the job) and owns every
 * pointer in it. Callers read ncols, titles, headers, map and field_col;
 * only these functions write them.
 */
#ifndef PROPFLOW_ROWSHAPE_H
#define PROPFLOW_ROWSHAPE_H

#include "propflow/store/batch.h"
#include "propflow/base/common.h"
#include "propflow/ingest/mapping.h"
#include "propflow/ingest/normalise.h"
#include "propflow/ingest/rawpack.h"
#include <cjson/cJSON.h>

#define PF_ROWSHAPE_WARN_VALUE_MAX 256 /* bytes of a bad value quoted in its warning */

/* A growable scratch buffer; its size is bounded by the CSV caps. */
typedef struct pf_rowshape_buf {
	char *p; /* owned */
	size_t len;
	size_t cap;
} pf_rowshape_buf;

typedef struct pf_rowshape {
	size_t ncols;               /* header fields, 0 until the header */
	char **titles;              /* owned, ncols: names as in the file (cut to a cap) */
	char **headers;             /* owned, ncols: raw-row keys, deduplicated, empty named */
	char **keys;                /* owned, ncols: JSON-escaped "name": prefixes */
	size_t *key_lens;           /* owned, ncols */
	pf_column_map *map;         /* owned, ncols */
	int field_col[PF_F__COUNT]; /* column per field, -1 none */
	pf_date_evidence ev[PF_F__COUNT]; /* date evidence from the sample rows */
	pf_date_order order[PF_F__COUNT]; /* decided orders, UNKNOWN before the decision */
	pf_rawpack *rp;                   /* owned: NULL until pf_rowshape_decide */
	pf_rowshape_buf json;             /* raw row JSON */
	pf_rowshape_buf packed;           /* its compressed form */
	pf_rowshape_buf norm;             /* one normalised text value */
} pf_rowshape;

/* Empty shape: no columns, every field unmapped. Cannot fail. */
void pf_rowshape_init(pf_rowshape *rs);
/* Frees everything, also after a failed set_header; leaves rs empty. */
void pf_rowshape_deinit(pf_rowshape *rs);

/*
 * Take the header record (n fields, UTF-8): titles, raw keys and mapping.
 * Call once, on an empty shape. Returns 0 or PF_ENOMEM (then the shape
 * holds what was built and pf_rowshape_deinit frees it).
 */
PF_MUST_CHECK int pf_rowshape_set_header(pf_rowshape *rs, size_t n, const char *const *fields,
                                         const size_t *lens);

/* Date evidence from one sample record of exactly ncols fields, read
 * without error (the caller checks both). */
void pf_rowshape_observe(pf_rowshape *rs, const char *const *fields, const size_t *lens);

/*
 * Sample row i (0, 1, ...) for the dictionary: set *fields and *lens, return
 * true, or return false past the last row. A row the dictionary must skip
 * (read error, wrong field count) is returned with *fields NULL.
 */
typedef bool (*pf_rowshape_sample_fn)(void *arg, size_t i, const char *const **fields,
                                      const size_t **lens);

/*
 * Decide each date column's order from the evidence, then build the raw
 * row dictionary (at most dict_cap bytes) from the sample rows given by
 * `next` and the compressor that uses it. Call once, after the header.
 * On success *dict is a malloc'd buffer the caller owns (stored with the
 * job: rows decompress against it) of *dict_len bytes, or NULL and 0 when
 * no sample row was usable. Returns 0 or PF_ENOMEM.
 */
PF_MUST_CHECK int pf_rowshape_decide(pf_rowshape *rs, pf_rowshape_sample_fn next, void *arg,
                                     size_t dict_cap, char **dict, size_t *dict_len);

/*
 * Append one accepted data record (exactly ncols fields) to b: row_no,
 * line_no, each mapped field normalised (NULL plus a warning when it cannot
 * be read, warning value cut to PF_ROWSHAPE_WARN_VALUE_MAX bytes), a warning
 * when the row has no address, source id or coordinates, and the raw row
 * compressed. Moves b->warned, nrecords, raw_bytes, raw_stored and bytes;
 * b->parsed is the caller's. Only after pf_rowshape_decide.
 * Returns 0, PF_ENOMEM, or PF_EINVAL (called before the decision, or the
 * raw row is over PF_RAWPACK_ROW_MAX). On error b may hold part of the row.
 */
PF_MUST_CHECK int pf_rowshape_add_row(pf_rowshape *rs, pf_batch *b, uint64_t index, uint64_t line,
                                      const char *const *fields, const size_t *lens);

/*
 * Override the mapping after pf_rowshape_set_header (reprocess): `ov` is a
 * JSON object {"<title as in the file>": "<field name>" | null}. A column
 * named there takes that field (match "override") or none; a field taken
 * this way is removed from any other column. Returns 0, or PF_EINVAL with
 * a message in err (unknown header or field, not an object).
 */
PF_MUST_CHECK int pf_rowshape_override(pf_rowshape *rs, const cJSON *ov, char *err, size_t errlen);

/*
 * What a restart needs besides the header: the decided date orders, as
 * {"listed_on": "mdy", ...} (a new object the caller owns, NULL on
 * ENOMEM), and pf_rowshape_restore, which takes them back with the stored
 * dictionary instead of observing sample rows and deciding. Restore returns
 * 0, PF_EINVAL (malformed orders) or PF_ENOMEM.
 */
cJSON *pf_rowshape_orders_json(const pf_rowshape *rs);
PF_MUST_CHECK int pf_rowshape_restore(pf_rowshape *rs, const cJSON *orders, const char *dict,
                                      size_t dict_len);

/*
 * The mapping as the job object shows it: [{index, header, field, match,
 * confidence, date_order (date fields only)}], [] before the header.
 * A new array the caller owns; NULL on ENOMEM.
 */
cJSON *pf_rowshape_columns_json(const pf_rowshape *rs);

#endif
