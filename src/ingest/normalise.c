/*
 * normalise.c - turn the text values of a property export into PostgreSQL
 * input text for the typed columns (numbers, whole numbers, coordinates,
 * dates, trimmed text), or say why a value cannot be read.
 *
 * Numbers are read as exact decimal digit strings, never through a double,
 * so "1250000.50" comes out as "1250000.5" and large prices keep every digit.
 * Only US/international grouping is read: ',' separates thousands in groups
 * of three and '.' is the decimal point; "1.000" is one, "12,34" is invalid
 * rather than silently 1234 or 12.34. The only currency sign read is '$'.
 *
 * Nothing here allocates; reasons are static strings.
 *
 * The dates are dates.c's; the character classes, trimming and NULL words
 * both use are in normalise_internal.h.
 */
#include "normalise_internal.h"

#include <stdlib.h>
#include <string.h>

#define NUM_SIG_MAX   40     /* significant digits kept while reading (output needs <= 31) */
#define NUM_FRAC_MAX  15     /* fraction digits written; further digits round half up */
#define NUM_POINT_MAX 16     /* 1e15, the largest accepted magnitude, has 16 integer digits */
#define NUM_EXP_MAX   100000 /* exponents are clamped here: anything beyond is 0 or too large */

/* ---- helpers ---------------------------------------------------------- */

/* Writes a NUL-terminated copy of s; false when it does not fit. */
static bool put(char *out, size_t cap, const char *s, size_t len)
{
	if (cap == 0 || len > cap - 1)
		return false;
	memcpy(out, s, len);
	out[len] = '\0';
	return true;
}

/* ---- NULL words ------------------------------------------------------- */

bool pf_norm_is_null(const char *s, size_t len)
{
	norm_trim(&s, &len);
	return norm_null_trimmed(s, len);
}

/* ---- numbers ---------------------------------------------------------- */

/* A decimal read exactly: value = (neg ? -1 : 1) * 0.dig[0..nsig) * 10^point. */
struct num {
	bool neg;
	int nsig;
	long point;
	char dig[NUM_SIG_MAX];
};

/* Trailing units that need no conversion. */
static const char *const units_ok[] = {
    "sqft",     "sf",   "sqfeet",  "squarefeet", "squarefoot", "sqfoot", "ft2",   "ft",
    "feet",     "usd",  "dollars", "bed",        "beds",       "bd",     "bds",   "br",
    "bedrooms", "bath", "baths",   "ba",         "bathrooms",  "yr",     "years",
};

/* Units we recognise but would have to convert: refused with a clear reason. */
static const char *const units_refused[] = {
    "acre", "acres", "ac",      "sqm",      "m2",       "squaremeters", "squaremetres", "k",
    "m",    "mm",    "million", "thousand", "hectares", "ha",           "sqmi",
};

#define UNIT_FOLD_MAX 24

/* Reads a trailing unit word ("sqft", "sq. ft.", "ft²"); returns the reason, or NULL when the
 * unit is accepted. */
static const char *check_unit(const char *p, const char *end)
{
	char fold[UNIT_FOLD_MAX];
	size_t n = 0;

	while (p < end) {
		unsigned char c = (unsigned char)*p;
		if (norm_is_alpha(c)) {
			if (n == sizeof(fold))
				return "not a number";
			fold[n++] = (char)norm_lower(c);
			p++;
		} else if (c == ' ' || c == '.') {
			p++;
		} else if (c == '2' && n > 0) {
			if (n == sizeof(fold))
				return "not a number";
			fold[n++] = '2';
			p++;
		} else if (c == 0xC2 && end - p >= 2 && (unsigned char)p[1] == 0xB2 && n > 0) {
			if (n == sizeof(fold)) /* superscript two, as in ft² */
				return "not a number";
			fold[n++] = '2';
			p += 2;
		} else {
			return "not a number";
		}
	}
	for (size_t i = 0; i < PF_ARRAY_LEN(units_ok); i++)
		if (strlen(units_ok[i]) == n && memcmp(units_ok[i], fold, n) == 0)
			return NULL;
	for (size_t i = 0; i < PF_ARRAY_LEN(units_refused); i++)
		if (strlen(units_refused[i]) == n && memcmp(units_refused[i], fold, n) == 0)
			return "unit not supported";
	return "not a number";
}

static void num_digit(struct num *n, char d, bool fraction)
{
	if (n->nsig == 0 && d == '0') {
		if (fraction)
			n->point--; /* a leading zero after the point */
		return;
	}
	if (n->nsig < NUM_SIG_MAX)
		n->dig[n->nsig++] = d;
	if (!fraction)
		n->point++;
}

/* Reads s (already trimmed, not a NULL word) into n. Returns NULL or the reason. */
static const char *num_read(const char *s, size_t len, bool units, struct num *n)
{
	const char *p = s, *end = s + len;
	bool sign = false;

	memset(n, 0, sizeof(*n));
	if (len >= 2 && p[0] == '(' && end[-1] == ')') { /* accounting negative */
		n->neg = true;
		sign = true;
		p++;
		end--;
		while (p < end && norm_is_space((unsigned char)*p))
			p++;
		while (end > p && norm_is_space((unsigned char)end[-1]))
			end--;
	}
	for (int pass = 0; pass < 2; pass++) { /* "-$5" and "$-5" */
		if (p < end && (*p == '+' || *p == '-')) {
			if (sign)
				return "not a number";
			sign = true;
			n->neg = *p == '-';
			p++;
			while (p < end && norm_is_space((unsigned char)*p))
				p++;
		}
		if (pass == 0 && p < end && *p == '$') {
			p++;
			while (p < end && norm_is_space((unsigned char)*p))
				p++;
		}
	}
	if (norm_word_eq(p, (size_t)(end - p), "nan") ||
	    norm_word_eq(p, (size_t)(end - p), "inf") ||
	    norm_word_eq(p, (size_t)(end - p), "infinity"))
		return "not a finite number";

	int digits = 0, group = 0;
	bool comma = false;
	while (p < end) {
		if (norm_is_digit((unsigned char)*p)) {
			num_digit(n, *p, false);
			digits++;
			group++;
			p++;
		} else if (*p == ',') {
			if (digits == 0 || (comma ? group != 3 : group > 3))
				return "misplaced thousands separator";
			comma = true;
			group = 0;
			p++;
		} else {
			break;
		}
	}
	if (comma && group != 3)
		return "misplaced thousands separator";
	if (p < end && *p == '.') {
		p++;
		while (p < end && norm_is_digit((unsigned char)*p)) {
			num_digit(n, *p, true);
			digits++;
			p++;
		}
	}
	if (digits == 0)
		return "not a number";
	if (p < end && (*p == 'e' || *p == 'E')) {
		const char *q = p + 1;
		bool eneg = false;
		if (q < end && (*q == '+' || *q == '-')) {
			eneg = *q == '-';
			q++;
		}
		if (q < end && norm_is_digit((unsigned char)*q)) {
			long e = 0;
			while (q < end && norm_is_digit((unsigned char)*q)) {
				if (e < NUM_EXP_MAX)
					e = e * 10 + (*q - '0');
				q++;
			}
			n->point += eneg ? -e : e;
			p = q;
		}
	}
	while (p < end && norm_is_space((unsigned char)*p))
		p++;
	if (p == end)
		return NULL;
	if (!units)
		return "not a number";
	return check_unit(p, end);
}

/* Rounds to NUM_FRAC_MAX fraction digits, checks the magnitude and writes plain decimal text. */
static const char *num_write(struct num *n, char *out, size_t cap)
{
	long keep = n->point + NUM_FRAC_MAX;

	if (n->nsig > 0 && keep < n->nsig) {
		bool up = keep >= 0 && n->dig[keep] >= '5';
		int i = keep < 0 ? 0 : (int)keep;
		n->nsig = i;
		if (up) {
			while (i > 0 && n->dig[i - 1] == '9')
				i--;
			if (i == 0) { /* 0.999.. -> 1, 999.9.. -> 1000 */
				n->dig[0] = '1';
				n->nsig = 1;
				n->point++;
			} else {
				n->dig[i - 1]++;
				n->nsig = i;
			}
		}
	}
	while (n->nsig > 0 && n->dig[n->nsig - 1] == '0')
		n->nsig--;
	if (n->nsig == 0) {
		if (!put(out, cap, "0", 1))
			return "value too long";
		return NULL;
	}
	if (n->point > NUM_POINT_MAX ||
	    (n->point == NUM_POINT_MAX && (n->nsig > 1 || n->dig[0] != '1')))
		return "number too large";

	/* at most: sign + 16 digits + point + 15 digits, or "-0." + 14 zeros + 1 digit */
	char buf[NUM_POINT_MAX + NUM_FRAC_MAX + 4];
	size_t o = 0;
	if (n->neg)
		buf[o++] = '-';
	if (n->point <= 0) {
		buf[o++] = '0';
		buf[o++] = '.';
		for (long z = n->point; z < 0; z++)
			buf[o++] = '0';
		memcpy(buf + o, n->dig, (size_t)n->nsig);
		o += (size_t)n->nsig;
	} else if (n->point >= n->nsig) {
		memcpy(buf + o, n->dig, (size_t)n->nsig);
		o += (size_t)n->nsig;
		for (long z = n->nsig; z < n->point; z++)
			buf[o++] = '0';
	} else {
		memcpy(buf + o, n->dig, (size_t)n->point);
		o += (size_t)n->point;
		buf[o++] = '.';
		memcpy(buf + o, n->dig + n->point, (size_t)(n->nsig - n->point));
		o += (size_t)(n->nsig - n->point);
	}
	if (!put(out, cap, buf, o))
		return "value too long";
	return NULL;
}

static int number(const char *s, size_t len, bool units, char *out, size_t cap, const char **reason)
{
	struct num n;
	const char *why;

	norm_clear(out, cap);
	norm_trim(&s, &len);
	if (norm_null_trimmed(s, len))
		return PF_NORM_NULL;
	why = num_read(s, len, units, &n);
	if (!why)
		why = num_write(&n, out, cap);
	if (why) {
		norm_clear(out, cap);
		*reason = why;
		return PF_NORM_INVALID;
	}
	return PF_NORM_VALUE;
}

int pf_norm_number(const char *s, size_t len, char *out, size_t cap, const char **reason)
{
	return number(s, len, true, out, cap, reason);
}

/* Whole numbers must also fit PostgreSQL's integer (year_built is one). */
int pf_norm_integer(const char *s, size_t len, char *out, size_t cap, const char **reason)
{
	int rc = number(s, len, true, out, cap, reason);
	if (rc != PF_NORM_VALUE)
		return rc;
	if (strchr(out, '.')) {
		*reason = "not a whole number";
		goto fail;
	}
	long long v = strtoll(out, NULL, 10); /* at most 16 digits: cannot overflow */
	if (v > INT32_MAX || v < INT32_MIN) {
		*reason = "integer out of range";
		goto fail;
	}
	return PF_NORM_VALUE;
fail:
	norm_clear(out, cap);
	return PF_NORM_INVALID;
}

int pf_norm_coord(const char *s, size_t len, bool latitude, char *out, size_t cap,
                  const char **reason)
{
	int rc = number(s, len, false, out, cap, reason);
	if (rc != PF_NORM_VALUE)
		return rc;
	double v = strtod(out, NULL), lim = latitude ? 90.0 : 180.0;
	if (v > lim || v < -lim) {
		*reason = latitude ? "latitude out of range" : "longitude out of range";
		norm_clear(out, cap);
		return PF_NORM_INVALID;
	}
	return PF_NORM_VALUE;
}

/* ---- text ------------------------------------------------------------- */

/* A NUL byte cannot be stored in PostgreSQL text: such a value is invalid. */
int pf_norm_text(const char *s, size_t len, char *out, size_t cap, const char **reason)
{
	norm_clear(out, cap);
	norm_trim(&s, &len);
	if (norm_null_trimmed(s, len))
		return PF_NORM_NULL;
	if (memchr(s, '\0', len)) {
		*reason = "contains a NUL byte";
		return PF_NORM_INVALID;
	}
	if (!put(out, cap, s, len)) {
		*reason = "value too long";
		return PF_NORM_INVALID;
	}
	return PF_NORM_VALUE;
}

int pf_norm_value(pf_field_type t, pf_date_order order, const char *s, size_t len, char *out,
                  size_t cap, const char **reason)
{
	switch (t) {
	case PF_T_TEXT:
	case PF_T_ID: return pf_norm_text(s, len, out, cap, reason);
	case PF_T_NUMBER: return pf_norm_number(s, len, out, cap, reason);
	case PF_T_INTEGER: return pf_norm_integer(s, len, out, cap, reason);
	case PF_T_DATE: return pf_norm_date(s, len, order, out, cap, reason);
	case PF_T_LATITUDE: return pf_norm_coord(s, len, true, out, cap, reason);
	case PF_T_LONGITUDE: return pf_norm_coord(s, len, false, out, cap, reason);
	}
	norm_clear(out, cap);
	*reason = "unknown field type";
	return PF_NORM_INVALID;
}
