/*
 * record.c - a property record's JSON (see record.h): one builder for the
 * API's items and the exports, so that a field added to fields.h or a flag
 * added to the table shows everywhere at once.
 */
#include "propflow/api/record.h"

void pf_record_add_number(cJSON *o, const char *key, const char *v)
{
	if (v && ((*v >= '0' && *v <= '9') || *v == '-'))
		cJSON_AddRawToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

void pf_record_add_text(cJSON *o, const char *key, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

cJSON *pf_record_json(const pf_db_result *r, int stmt, int row)
{
	static const char *const head[PF_RECORD_HEAD] = {"id", "row", "line", "job_id"};
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	for (int c = 0; c < PF_RECORD_HEAD; c++)
		pf_record_add_number(o, head[c], pf_db_value(r, stmt, row, c));
	for (int f = 0; f < PF_F__COUNT; f++) {
		const pf_field_info *i = pf_field_info_of((pf_field)f);
		const char *v = pf_db_value(r, stmt, row, PF_RECORD_HEAD + f);
		if (i->kind == PF_KIND_NUMBER)
			pf_record_add_number(o, i->name, v);
		else
			pf_record_add_text(o, i->name, v);
	}
	/* PostgreSQL's boolean text is "t" or "f" */
	const char *warned = pf_db_value(r, stmt, row, PF_RECORD_HEAD + PF_F__COUNT);
	const char *outlier = pf_db_value(r, stmt, row, PF_RECORD_HEAD + PF_F__COUNT + 1);
	cJSON_AddBoolToObject(o, "warned", warned && warned[0] == 't');
	cJSON_AddBoolToObject(o, "outlier", outlier != NULL);
	pf_record_add_text(o, "outlier_reason", outlier);
	return o;
}
