/*
 * mapping.h - canonical property fields and the mapping of an export's
 * header names onto them.
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

#define PF_MAPPING_FUZZY_MIN  0.6 /* below this a header stays unmapped */
#define PF_MAPPING_HEADER_MAX 256 /* header bytes considered for matching */

typedef enum pf_field {
	PF_F_SOURCE_ID = 0, /* MLS #, APN, parcel id, listing id */
	PF_F_ADDRESS,
	PF_F_CITY,
	PF_F_STATE,
	PF_F_ZIP,
	PF_F_PRICE,
	PF_F_BEDS,
	PF_F_BATHS,
	PF_F_SQFT,
	PF_F_LOT_SQFT,
	PF_F_YEAR_BUILT,
	PF_F_PROPERTY_TYPE,
	PF_F_STATUS,
	PF_F_LISTED_ON,
	PF_F_SOLD_ON,
	PF_F_LATITUDE,
	PF_F_LONGITUDE,
	PF_F__COUNT
} pf_field;

/* How a field's values are normalised (see normalise.h). */
typedef enum pf_field_type {
	PF_T_TEXT = 0,  /* trimmed text */
	PF_T_ID,        /* text, leading zeros kept (source_id, zip) */
	PF_T_NUMBER,    /* numeric, e.g. price, sqft, baths */
	PF_T_INTEGER,   /* whole number, e.g. year_built */
	PF_T_DATE,      /* calendar date */
	PF_T_LATITUDE,  /* number in [-90, 90] */
	PF_T_LONGITUDE, /* number in [-180, 180] */
} pf_field_type;

const char *pf_field_name(pf_field f); /* "source_id", "zip", ... */
pf_field_type pf_field_type_of(pf_field f);
/* -1 when name is not a canonical field name (exact, as pf_field_name). */
int pf_field_by_name(const char *name);

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
