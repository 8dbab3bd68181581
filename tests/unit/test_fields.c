/* test_fields.c - the field table (fields.h) agrees with itself: names are
 * unique column names, each field's SQL type, JSON kind and page format
 * fit its normalisation, and the SQL pieces generated from it hold every
 * field once, in table order. */
#include "check.h"
#include "propflow/ingest/fields.h"
#include "propflow/ingest/mapping.h"

#include <stdlib.h>

static bool name_ok(const char *n)
{
	if (!n || !*n || strlen(n) > 63 || !(*n >= 'a' && *n <= 'z'))
		return false;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

/* The kinds and SQL types a normalisation can produce. */
static bool fits(const pf_field_info *i)
{
	switch (i->type) {
	case PF_T_TEXT:
	case PF_T_ID: return i->kind == PF_KIND_TEXT && strcmp(i->sql, "text") == 0;
	case PF_T_NUMBER: return i->kind == PF_KIND_NUMBER && strcmp(i->sql, "numeric") == 0;
	case PF_T_INTEGER: return i->kind == PF_KIND_NUMBER && strcmp(i->sql, "int") == 0;
	case PF_T_DATE: return i->kind == PF_KIND_DATE && strcmp(i->sql, "date") == 0;
	case PF_T_LATITUDE:
	case PF_T_LONGITUDE: return i->kind == PF_KIND_NUMBER && strcmp(i->sql, "float8") == 0;
	}
	return false;
}

static bool format_ok(const pf_field_info *i)
{
	static const char *const text[] = {"text"};
	static const char *const number[] = {"money", "decimal", "integer", "year", "coordinate"};
	static const char *const date[] = {"date"};
	const char *const *set = i->kind == PF_KIND_NUMBER ? number
	                         : i->kind == PF_KIND_DATE ? date
	                                                   : text;
	size_t n = i->kind == PF_KIND_NUMBER ? PF_ARRAY_LEN(number) : 1;
	for (size_t k = 0; k < n; k++)
		if (strcmp(set[k], i->format) == 0)
			return true;
	return false;
}

/* s holds ", <prefix>name<suffix>" for every field, in order, and nothing else. */
static void check_list(const char *what, const char *s, const char *prefix, bool casts)
{
	const char *p = s;
	for (int f = 0; f < PF_F__COUNT; f++) {
		const pf_field_info *i = pf_field_info_of(f);
		char want[160];
		if (casts)
			snprintf(want, sizeof(want), ", %s%s::%s", prefix, i->name, i->sql);
		else
			snprintf(want, sizeof(want), ", %s%s%s", prefix, i->name,
			         i->kind == PF_KIND_DATE ? "::text" : "");
		CHECK_MSG(strncmp(p, want, strlen(want)) == 0,
		          "%s: field %d is \"%s\" at \"%.40s\"", what, f, want, p);
		p += strlen(want);
	}
	CHECK_MSG(*p == 0, "%s: ends after the last field (\"%.40s\")", what, p);
}

int main(void)
{
	CHECK(PF_F__COUNT >= 17);
	for (int f = 0; f < PF_F__COUNT; f++) {
		const pf_field_info *i = pf_field_info_of(f);
		CHECK(i != NULL);
		CHECK_MSG(name_ok(i->name), "field %d: name \"%s\" is a plain column name", f,
		          i->name);
		CHECK_INT(pf_field_by_name(i->name), f); /* so names are unique too */
		CHECK_STR(pf_field_name(f), i->name);
		CHECK_INT(pf_field_type_of(f), i->type);
		CHECK_MSG(fits(i), "%s: SQL type %s and kind %s fit its normalisation", i->name,
		          i->sql, pf_field_kind_name(i->kind));
		CHECK_MSG(format_ok(i), "%s: format %s fits kind %s", i->name, i->format,
		          pf_field_kind_name(i->kind));
		CHECK_MSG(i->width >= 0 && i->width <= 600, "%s: width %d", i->name, i->width);
		CHECK_MSG(i->label && *i->label && i->brief && *i->brief, "%s: labels", i->name);
		char folded[128];
		CHECK_MSG(pf_mapping_fold(i->name, folded, sizeof(folded)) > 0, "%s folds",
		          i->name);
	}
	CHECK(pf_field_info_of(PF_F__COUNT) == NULL);
	CHECK(pf_field_info_of((pf_field)-1) == NULL);
	CHECK_STR(pf_field_kind_name(PF_KIND_NUMBER), "number");
	CHECK_STR(pf_field_kind_name(PF_KIND_DATE), "date");
	CHECK_STR(pf_field_kind_name(PF_KIND_TEXT), "text");

	check_list("PF_FIELD_SELECT", PF_FIELD_SELECT, "", false);
	check_list("PF_FIELD_SELECT_R", PF_FIELD_SELECT_R, "r.", false);
	check_list("PF_FIELD_CASTS", PF_FIELD_CASTS, "", true);
	/* names only */
	const char *p = PF_FIELD_NAMES;
	for (int f = 0; f < PF_F__COUNT; f++) {
		char want[80];
		snprintf(want, sizeof(want), ", %s", pf_field_name(f));
		CHECK_MSG(strncmp(p, want, strlen(want)) == 0, "PF_FIELD_NAMES: %s", want);
		p += strlen(want);
	}
	CHECK(*p == 0);
	return CHECK_DONE();
}
