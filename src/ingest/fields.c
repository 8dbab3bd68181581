/*
 * fields.c - the canonical fields' table (fields.h) as data, and the
 * lookups every layer uses instead of a list of its own.
 */
#include "propflow/ingest/fields.h"

#include <string.h>

#define FIELD_ROW_(id, n, norm, sql, kind, format, width, label, brief)                            \
	[PF_F_##id] = {#n, norm, #sql, PF_KIND_##kind, format, width, label, brief},

static const pf_field_info fields[PF_F__COUNT] = {PF_FIELDS(FIELD_ROW_)};

const pf_field_info *pf_field_info_of(pf_field f)
{
	if ((int)f < 0 || f >= PF_F__COUNT)
		return NULL;
	return &fields[f];
}

const char *pf_field_name(pf_field f)
{
	const pf_field_info *i = pf_field_info_of(f);
	return i ? i->name : NULL;
}

pf_field_type pf_field_type_of(pf_field f)
{
	const pf_field_info *i = pf_field_info_of(f);
	return i ? i->type : PF_T_TEXT;
}

int pf_field_by_name(const char *name)
{
	if (!name)
		return -1;
	for (int f = 0; f < PF_F__COUNT; f++)
		if (strcmp(fields[f].name, name) == 0)
			return f;
	return -1;
}

const char *pf_field_kind_name(pf_field_kind k)
{
	switch (k) {
	case PF_KIND_TEXT: return "text";
	case PF_KIND_NUMBER: return "number";
	case PF_KIND_DATE: return "date";
	}
	return "text";
}
