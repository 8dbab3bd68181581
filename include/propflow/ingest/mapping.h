/*
 * mapping.h - the mapping of an export's header names onto the canonical
 * property fields (fields.h).
 *
 * Headers are compared after folding: lower case, only [a-z0-9] kept
 * ("Zip Code", "ZIP_CODE", "zip-code" -> "zipcode"). An exact synonym
 * scores 1.0. Otherwise a fuzzy match (misspellings, extra words such as
 * "Property Zip Code (5)") may map the header with a lower confidence
 * (below 1.0, never below PF_MAPPING_FUZZY_MIN). Each canonical field is
 * taken by at most one column: the highest confidence wins, the earlier
 * column on a tie. Unmapped columns still travel in the raw row.
 */
#ifndef PROPFLOW_MAPPING_H
#define PROPFLOW_MAPPING_H

#include "propflow/base/common.h"
#include "propflow/ingest/fields.h" /* pf_field, pf_field_type and their lookups */

#define PF_MAPPING_FUZZY_MIN  0.6 /* below this a header stays unmapped */
#define PF_MAPPING_HEADER_MAX 256 /* header bytes considered for matching */

typedef enum pf_match {
	PF_MATCH_NONE = 0,
	PF_MATCH_EXACT,    /* folded header equals a canonical name or synonym */
	PF_MATCH_FUZZY,    /* near miss */
	PF_MATCH_OVERRIDE, /* chosen by the user (reprocess) */
} pf_match;

const char *pf_match_name(pf_match m); /* "none", "exact", "fuzzy", "override" */

typedef struct pf_column_map {
	int field;         /* pf_field, or -1 when unmapped */
	double confidence; /* 1.0 exact, [PF_MAPPING_FUZZY_MIN, 1) fuzzy, 0 none */
	pf_match match;
} pf_column_map;

/*
 * Map n header names (UTF-8, NUL-terminated) into out[n].
 * Returns 0, or PF_ENOMEM.
 */
PF_MUST_CHECK int pf_mapping_build(const char *const *headers, size_t n, pf_column_map *out);

/* Fold a header into out (cap bytes incl. NUL): lower-case ASCII
 * alphanumerics only. Returns the folded length. */
size_t pf_mapping_fold(const char *in, char *out, size_t cap);

#endif
