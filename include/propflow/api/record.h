/*
 * record.h - a property record's JSON, built in one place: the API's items
 * (GET /api/imports/ID/properties, GET /api/properties, GET
 * /api/properties/ID) and the ndjson export's lines all come from
 * pf_record_json over the columns PF_RECORD_COLUMNS selects.
 *
 * A record is {"id", "row", "line", "job_id", <every field of fields.h, in
 * table order: a number or null, a string or null, a date as
 * "YYYY-MM-DD">, "warned": bool, "outlier": bool, "outlier_reason":
 * string|null} (schema/008_record_flags.sql).
 */
#ifndef PROPFLOW_RECORD_H
#define PROPFLOW_RECORD_H

#include "propflow/ingest/fields.h"
#include "propflow/store/db.h"

#include <cjson/cJSON.h>

/* The record's columns for a SELECT from property_records (unqualified, or
 * qualified with "r."), in the order pf_record_json reads them. They are
 * PF_RECORD_NCOLS columns; a statement may select more after them. */
#define PF_RECORD_COLUMNS                                                                          \
	"id, row_no, line_no, job_id" PF_FIELD_SELECT ", warned, outlier"
#define PF_RECORD_COLUMNS_R                                                                        \
	"r.id, r.row_no, r.line_no, r.job_id" PF_FIELD_SELECT_R ", r.warned, r.outlier"
#define PF_RECORD_HEAD  4 /* id, row_no, line_no, job_id */
#define PF_RECORD_NCOLS (PF_RECORD_HEAD + PF_F__COUNT + 2)

/* The record in row `row` of statement `stmt` of r, whose first
 * PF_RECORD_NCOLS columns are PF_RECORD_COLUMNS(_R); NULL out of memory. */
cJSON *pf_record_json(const pf_db_result *r, int stmt, int row);

/* Helpers the other answers share: v as a JSON number (PostgreSQL's
 * numeric/float/int text) or null; v as a string or null. */
void pf_record_add_number(cJSON *o, const char *key, const char *v);
void pf_record_add_text(cJSON *o, const char *key, const char *v);

#endif
