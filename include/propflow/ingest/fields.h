/*
 * fields.h - the canonical property fields, written once. Every other list
 * of them is generated from PF_FIELDS: the pf_field enum, the mapping's
 * field names and their validation (mapping.c), the batch's columns and its
 * INSERT (batch.c), the record's SELECT and JSON (api/reads.c), and the
 * page's columns, detail panel and mapping picker (GET /api/fields).
 *
 * Adding a field: one X(...) line here and a migration that adds the column
 * to property_records (schema/NNN_*.sql). Its mapping synonyms may be added
 * to mapping.c's table; without them a header is matched by the field's own
 * name only.
 *
 * Columns of a row:
 *   ID      the enum's suffix: PF_F_<ID>
 *   name    the column of property_records and the key of the JSON record
 *   norm    how a value is normalised (pf_field_type, see normalise.h)
 *   sql     the column's SQL type (the batch casts its text to it); one
 *           token, so "float8" rather than "double precision"
 *   kind    what JSON holds: TEXT (string), NUMBER (number), DATE (string
 *           "YYYY-MM-DD"); decides the SELECT expression and the JSON value
 *   format  how the page shows a value: "text", "money", "decimal",
 *           "integer", "year", "coordinate", "date"
 *   width   the page table's column width in px; 0: not a default column
 *   label   the page's name for it (detail panel)
 *   brief   the page's short name for it (table header)
 */
#ifndef PROPFLOW_FIELDS_H
#define PROPFLOW_FIELDS_H

#include "propflow/base/common.h"

/* clang-format off */
#define PF_FIELDS(X)                                                                               \
	/* ID            name           norm            sql      kind    format        width label                  brief */      \
	X(SOURCE_ID,     source_id,     PF_T_ID,        text,    TEXT,   "text",       120, "Source ID",             "Source ID")  \
	X(ADDRESS,       address,       PF_T_TEXT,      text,    TEXT,   "text",       240, "Address",               "Address")    \
	X(CITY,          city,          PF_T_TEXT,      text,    TEXT,   "text",       140, "City",                  "City")       \
	X(STATE,         state,         PF_T_TEXT,      text,    TEXT,   "text",        60, "State",                 "State")      \
	X(ZIP,           zip,           PF_T_ID,        text,    TEXT,   "text",        76, "ZIP",                   "ZIP")        \
	X(PRICE,         price,         PF_T_NUMBER,    numeric, NUMBER, "money",      116, "Price",                 "Price")      \
	X(BEDS,          beds,          PF_T_NUMBER,    numeric, NUMBER, "decimal",     58, "Beds",                  "Beds")       \
	X(BATHS,         baths,         PF_T_NUMBER,    numeric, NUMBER, "decimal",     62, "Baths",                 "Baths")      \
	X(SQFT,          sqft,          PF_T_NUMBER,    numeric, NUMBER, "integer",     82, "Living area (sq ft)",   "Sq ft")      \
	X(LOT_SQFT,      lot_sqft,      PF_T_NUMBER,    numeric, NUMBER, "integer",     92, "Lot (sq ft)",           "Lot sq ft")  \
	X(YEAR_BUILT,    year_built,    PF_T_INTEGER,   int,     NUMBER, "year",        62, "Year built",            "Built")      \
	X(PROPERTY_TYPE, property_type, PF_T_TEXT,      text,    TEXT,   "text",       150, "Property type",         "Type")       \
	X(STATUS,        status,        PF_T_TEXT,      text,    TEXT,   "text",       104, "Status",                "Status")     \
	X(LISTED_ON,     listed_on,     PF_T_DATE,      date,    DATE,   "date",       104, "Listed on",             "Listed")     \
	X(SOLD_ON,       sold_on,       PF_T_DATE,      date,    DATE,   "date",       104, "Sold on",               "Sold")       \
	X(LATITUDE,      latitude,      PF_T_LATITUDE,  float8,  NUMBER, "coordinate",   0, "Latitude",              "Lat")        \
	X(LONGITUDE,     longitude,     PF_T_LONGITUDE, float8,  NUMBER, "coordinate",   0, "Longitude",             "Lon")
/* clang-format on */

#define PF_FIELD_ENUM_(id, ...) PF_F_##id,
typedef enum pf_field { PF_FIELDS(PF_FIELD_ENUM_) PF_F__COUNT } pf_field;
#undef PF_FIELD_ENUM_

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

/* What a field's value is in JSON. */
typedef enum pf_field_kind {
	PF_KIND_TEXT = 0, /* string */
	PF_KIND_NUMBER,   /* number (PostgreSQL's numeric text written as is) */
	PF_KIND_DATE,     /* string YYYY-MM-DD */
} pf_field_kind;

/* One row of the table. */
typedef struct pf_field_info {
	const char *name;   /* "source_id", ... */
	pf_field_type type; /* normalisation */
	const char *sql;    /* "text", "numeric", "int", "date", "float8" */
	pf_field_kind kind;
	const char *format; /* the page's formatting */
	int width;          /* the page table's column width, 0 hidden by default */
	const char *label;  /* the page's name */
	const char *brief;  /* the page's short name */
} pf_field_info;

/* The row of f; NULL when f is out of range. */
const pf_field_info *pf_field_info_of(pf_field f);
const char *pf_field_name(pf_field f); /* "source_id", "zip", ... NULL out of range */
pf_field_type pf_field_type_of(pf_field f);
/* -1 when name is not a canonical field name (exact, as pf_field_name). */
int pf_field_by_name(const char *name);
const char *pf_field_kind_name(pf_field_kind k); /* "text", "number", "date" */

/*
 * SQL pieces, as string literals at compile time, in table order:
 *   PF_FIELD_SELECT    ", source_id, address, ..., listed_on::text, ..."
 *   PF_FIELD_SELECT_R  the same with "r." before each column
 *   PF_FIELD_NAMES     ", source_id, address, ..."
 *   PF_FIELD_CASTS     ", source_id::text, ..., price::numeric, ..."
 * A date is selected as text, so that JSON gets YYYY-MM-DD whatever
 * DateStyle says. The batch's unnest columns are named after the fields,
 * hence the casts by name.
 */
#define PF_FIELD_SEL_TEXT_(p, n)                        ", " p #n
#define PF_FIELD_SEL_NUMBER_(p, n)                      ", " p #n
#define PF_FIELD_SEL_DATE_(p, n)                        ", " p #n "::text"
#define PF_FIELD_SELECT_(id, n, norm, sql, kind, ...)   PF_FIELD_SEL_##kind##_("", n)
#define PF_FIELD_SELECT_R_(id, n, norm, sql, kind, ...) PF_FIELD_SEL_##kind##_("r.", n)
#define PF_FIELD_NAME_(id, n, ...)                      ", " #n
#define PF_FIELD_CAST_(id, n, norm, sql, ...)           ", " #n "::" #sql
#define PF_FIELD_SELECT                                 PF_FIELDS(PF_FIELD_SELECT_)
#define PF_FIELD_SELECT_R                               PF_FIELDS(PF_FIELD_SELECT_R_)
#define PF_FIELD_NAMES                                  PF_FIELDS(PF_FIELD_NAME_)
#define PF_FIELD_CASTS                                  PF_FIELDS(PF_FIELD_CAST_)

#endif
