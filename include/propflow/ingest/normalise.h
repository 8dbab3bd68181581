/*
 * normalise.h - turn an export's text values into canonical values.
 *
 * Every normaliser writes PostgreSQL input text for the target type into
 * out (cap bytes, NUL-terminated) and returns one of:
 *   PF_NORM_VALUE    out holds the value
 *   PF_NORM_NULL     the input means "no value" ('', NA, N/A, #N/A, null,
 *                    none, -, and blanks, case-insensitive)
 *   PF_NORM_INVALID  the input cannot be read; *reason says why (static
 *                    string) and the caller stores NULL plus a warning
 * These are positive module codes; nothing here allocates.
 */
#ifndef PROPFLOW_NORMALISE_H
#define PROPFLOW_NORMALISE_H

#include "propflow/base/common.h"
#include "propflow/ingest/mapping.h"

#define PF_NORM_OUT_MAX 64 /* enough for any number or date output */

enum {
	PF_NORM_VALUE = 1,
	PF_NORM_NULL = 2,
	PF_NORM_INVALID = 3,
};

bool pf_norm_is_null(const char *s, size_t len);

/*
 * Numbers: "$1,250,000", "1250000.00", "4,789", "1.5e+06", " 3 ", "(1,200)"
 * as negative, trailing units ("2,100 sqft", "1.5 acres" is NOT converted:
 * invalid). Output is plain decimal text without exponent ("1500000").
 * Rejects NaN/Inf and values beyond 1e15.
 */
int pf_norm_number(const char *s, size_t len, char *out, size_t cap, const char **reason);

/* Whole numbers ("1,998", "2004.0"); a fraction is invalid. */
int pf_norm_integer(const char *s, size_t len, char *out, size_t cap, const char **reason);

/* Coordinates: a number in range ([-90,90] or [-180,180]). */
int pf_norm_coord(const char *s, size_t len, bool latitude, char *out, size_t cap,
                  const char **reason);

/*
 * Dates. A column's dialect for numeric dates is decided from evidence
 * across its values, never per row:
 */
typedef enum pf_date_order {
	PF_DATE_ORDER_UNKNOWN = 0, /* no slash/dash numeric dates seen, or all ambiguous */
	PF_DATE_ORDER_MDY,         /* month first (US) */
	PF_DATE_ORDER_DMY,         /* day first */
	PF_DATE_ORDER_CONFLICT,    /* evidence both ways; numeric dates with both parts <= 12 are
	                              invalid */
} pf_date_order;

typedef struct pf_date_evidence {
	uint32_t numeric;     /* values in a numeric a/b/y form */
	uint32_t first_gt12;  /* a > 12: only day-first reads them */
	uint32_t second_gt12; /* b > 12: only month-first reads them */
} pf_date_evidence;

void pf_date_observe(pf_date_evidence *ev, const char *s, size_t len);
/* UNKNOWN with no numeric evidence; MDY when ambiguous (US exports are the
 * common case); DMY when only first_gt12; CONFLICT when both. */
pf_date_order pf_date_decide(const pf_date_evidence *ev);
const char *pf_date_order_name(pf_date_order o); /* "unknown","mdy","dmy","conflict" */

/*
 * Accepts ISO "2014-10-13", ISO date-times "2014-10-13T00:00:00Z" /
 * "2014-10-13 10:00", compact "20141013T000000" and "20141013",
 * numeric "10/13/2014", "13.10.2014", "10-13-14" (two-digit years: 00-69 ->
 * 20xx, else 19xx) read per order, named months "Oct 13, 2014",
 * "13 Oct 2014", "October 13 2014", "13-Oct-2014". Output "YYYY-MM-DD";
 * validated (no Feb 30), years 1700-2200.
 */
int pf_norm_date(const char *s, size_t len, pf_date_order order, char *out, size_t cap,
                 const char **reason);

/* Text: trims ASCII and UTF-8 no-break spaces; NULL words -> PF_NORM_NULL.
 * Output may be as long as the input: out must have len+1 bytes. */
int pf_norm_text(const char *s, size_t len, char *out, size_t cap, const char **reason);

/* Dispatch on a field type (ID and TEXT behave as pf_norm_text). */
int pf_norm_value(pf_field_type t, pf_date_order order, const char *s, size_t len, char *out,
                  size_t cap, const char **reason);

#endif
