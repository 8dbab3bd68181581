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
 */
#include "propflow/ingest/normalise.h"

#include <stdlib.h>
#include <string.h>

#define NUM_SIG_MAX   40     /* significant digits kept while reading (output needs <= 31) */
#define NUM_FRAC_MAX  15     /* fraction digits written; further digits round half up */
#define NUM_POINT_MAX 16     /* 1e15, the largest accepted magnitude, has 16 integer digits */
#define NUM_EXP_MAX   100000 /* exponents are clamped here: anything beyond is 0 or too large */
#define DATE_YEAR_MIN 1700
#define DATE_YEAR_MAX 2200
#define DATE_OUT_LEN  10 /* "YYYY-MM-DD" */

/* ---- helpers ---------------------------------------------------------- */

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static bool is_nbsp(const char *p, size_t n)
{
	return n >= 2 && (unsigned char)p[0] == 0xC2 && (unsigned char)p[1] == 0xA0;
}

/* Trims ASCII white space and UTF-8 no-break spaces (C2 A0) at both ends. */
static void trim(const char **s, size_t *len)
{
	const char *p = *s;
	size_t n = p ? *len : 0;

	for (;;) {
		if (n > 0 && is_space((unsigned char)p[0])) {
			p++;
			n--;
		} else if (is_nbsp(p, n)) {
			p += 2;
			n -= 2;
		} else {
			break;
		}
	}
	for (;;) {
		if (n > 0 && is_space((unsigned char)p[n - 1]))
			n--;
		else if (n >= 2 && is_nbsp(p + n - 2, 2))
			n -= 2;
		else
			break;
	}
	*s = p;
	*len = n;
}

static bool word_eq(const char *s, size_t len, const char *word)
{
	size_t wl = strlen(word);
	if (len != wl)
		return false;
	for (size_t i = 0; i < len; i++)
		if (lower((unsigned char)s[i]) != (unsigned char)word[i])
			return false;
	return true;
}

/* Writes a NUL-terminated copy of s; false when it does not fit. */
static bool put(char *out, size_t cap, const char *s, size_t len)
{
	if (cap == 0 || len > cap - 1)
		return false;
	memcpy(out, s, len);
	out[len] = '\0';
	return true;
}

static void clear(char *out, size_t cap)
{
	if (out && cap > 0)
		out[0] = '\0';
}

/* ---- NULL words ------------------------------------------------------- */

/* "nan" is deliberately not here: in a number column it is reported as
 * "not a finite number", and in text it may be someone's name. */
static const char *const null_words[] = {"", "na", "n/a", "#n/a", "null", "none", "-"};

static bool null_trimmed(const char *s, size_t len)
{
	for (size_t i = 0; i < PF_ARRAY_LEN(null_words); i++)
		if (word_eq(s, len, null_words[i]))
			return true;
	return false;
}

bool pf_norm_is_null(const char *s, size_t len)
{
	trim(&s, &len);
	return null_trimmed(s, len);
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
		if (is_alpha(c)) {
			if (n == sizeof(fold))
				return "not a number";
			fold[n++] = (char)lower(c);
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
		while (p < end && is_space((unsigned char)*p))
			p++;
		while (end > p && is_space((unsigned char)end[-1]))
			end--;
	}
	for (int pass = 0; pass < 2; pass++) { /* "-$5" and "$-5" */
		if (p < end && (*p == '+' || *p == '-')) {
			if (sign)
				return "not a number";
			sign = true;
			n->neg = *p == '-';
			p++;
			while (p < end && is_space((unsigned char)*p))
				p++;
		}
		if (pass == 0 && p < end && *p == '$') {
			p++;
			while (p < end && is_space((unsigned char)*p))
				p++;
		}
	}
	if (word_eq(p, (size_t)(end - p), "nan") || word_eq(p, (size_t)(end - p), "inf") ||
	    word_eq(p, (size_t)(end - p), "infinity"))
		return "not a finite number";

	int digits = 0, group = 0;
	bool comma = false;
	while (p < end) {
		if (is_digit((unsigned char)*p)) {
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
		while (p < end && is_digit((unsigned char)*p)) {
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
		if (q < end && is_digit((unsigned char)*q)) {
			long e = 0;
			while (q < end && is_digit((unsigned char)*q)) {
				if (e < NUM_EXP_MAX)
					e = e * 10 + (*q - '0');
				q++;
			}
			n->point += eneg ? -e : e;
			p = q;
		}
	}
	while (p < end && is_space((unsigned char)*p))
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

	clear(out, cap);
	trim(&s, &len);
	if (null_trimmed(s, len))
		return PF_NORM_NULL;
	why = num_read(s, len, units, &n);
	if (!why)
		why = num_write(&n, out, cap);
	if (why) {
		clear(out, cap);
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
	clear(out, cap);
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
		clear(out, cap);
		return PF_NORM_INVALID;
	}
	return PF_NORM_VALUE;
}

/* ---- dates ------------------------------------------------------------ */

struct cur {
	const char *p;   /* borrowed: next byte */
	const char *end; /* borrowed: one past the last byte */
};

/* Reads a run of digits: returns how many (the value is only kept for up to 9). */
static int digits(struct cur *c, int *val)
{
	int k = 0, v = 0;
	while (c->p < c->end && is_digit((unsigned char)*c->p)) {
		if (k < 9)
			v = v * 10 + (*c->p - '0');
		k++;
		c->p++;
	}
	*val = v;
	return k;
}

static bool eat(struct cur *c, char ch)
{
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

static int eat_spaces(struct cur *c)
{
	int k = 0;
	while (c->p < c->end && is_space((unsigned char)*c->p)) {
		c->p++;
		k++;
	}
	return k;
}

static size_t word(struct cur *c, const char **w)
{
	*w = c->p;
	while (c->p < c->end && is_alpha((unsigned char)*c->p))
		c->p++;
	return (size_t)(c->p - *w);
}

static const char *const month_names[12] = {"january",   "february", "march",    "april",
                                            "may",       "june",     "july",     "august",
                                            "september", "october",  "november", "december"};

/* 1..12 for "Oct", "october", "Sept"; 0 otherwise. */
static int month_of(const char *w, size_t n)
{
	if (word_eq(w, n, "sept"))
		return 9;
	for (int m = 0; m < 12; m++) {
		if (n < 3 || n > strlen(month_names[m]))
			continue;
		if (n != 3 && n != strlen(month_names[m]))
			continue;
		size_t i = 0;
		while (i < n && lower((unsigned char)w[i]) == (unsigned char)month_names[m][i])
			i++;
		if (i == n)
			return m + 1;
	}
	return 0;
}

static bool is_weekday(const char *w, size_t n)
{
	static const char *const days[] = {
	    "mon",       "tue",      "tues",   "wed",      "thu",    "thur",
	    "thurs",     "fri",      "sat",    "sun",      "monday", "tuesday",
	    "wednesday", "thursday", "friday", "saturday", "sunday",
	};
	for (size_t i = 0; i < PF_ARRAY_LEN(days); i++)
		if (word_eq(w, n, days[i]))
			return true;
	return false;
}

/* Two-digit years: 00-69 are 20xx, 70-99 are 19xx. */
static int year_of(int v, int ndigits)
{
	if (ndigits == 2)
		return v < 70 ? 2000 + v : 1900 + v;
	return v;
}

/*
 * The time after a date, which is accepted and dropped (the date is kept as
 * written, whatever the zone): "T10:00:00Z", " 10:00", " 10:00:00.000+02:00",
 * " 3:15 PM", "T101500". True when the rest is empty or such a time.
 */
static bool time_rest(struct cur *c)
{
	int h, m = 0, sec = 0, k, v;

	if (c->p == c->end)
		return true;
	if (*c->p == 'T' || *c->p == 't') {
		c->p++;
	} else if (!eat_spaces(c)) {
		return false;
	}
	k = digits(c, &v);
	if (k == 6 || k == 4) { /* compact hhmmss or hhmm */
		h = k == 6 ? v / 10000 : v / 100;
		m = k == 6 ? v / 100 % 100 : v % 100;
		sec = k == 6 ? v % 100 : 0;
	} else if (k == 1 || k == 2) {
		h = v;
		if (!eat(c, ':') || digits(c, &m) != 2)
			return false;
		if (eat(c, ':') && digits(c, &sec) != 2)
			return false;
	} else {
		return false;
	}
	if (eat(c, '.') || eat(c, ',')) {
		if (digits(c, &v) == 0)
			return false;
	}
	if (h > 24 || m > 59 || sec > 60)
		return false;
	eat_spaces(c);
	const char *w;
	size_t n = word(c, &w);
	if (n > 0 && (word_eq(w, n, "am") || word_eq(w, n, "pm") || word_eq(w, n, "a") ||
	              word_eq(w, n, "p"))) {
		if (n == 1) { /* "a.m." */
			const char *w2;
			if (!eat(c, '.'))
				return false;
			size_t n2 = word(c, &w2);
			if (!word_eq(w2, n2, "m") || !eat(c, '.'))
				return false;
		}
		if (h == 0 || h > 12)
			return false;
		eat_spaces(c);
		n = word(c, &w);
	}
	if (n > 0) {
		if (!word_eq(w, n, "z") && !word_eq(w, n, "utc") && !word_eq(w, n, "gmt"))
			return false;
	}
	if (c->p < c->end && (*c->p == '+' || *c->p == '-')) {
		c->p++;
		k = digits(c, &v);
		if (k == 2 && eat(c, ':'))
			k = digits(c, &v) == 2 ? 4 : 0;
		if (k != 2 && k != 4)
			return false;
	}
	eat_spaces(c);
	return c->p == c->end;
}

/*
 * The numeric a/b/y form ("10/13/2014", "13.10.2014", "10-13-14"): one or two
 * digits, a separator among / - ., one or two digits, the same separator, a
 * year of two or four digits, then nothing or a time.
 */
static bool numeric_form(const char *s, size_t len, int *a, int *b, int *y)
{
	struct cur c = {s, s + len};
	int k;
	char sep;

	k = digits(&c, a);
	if (k < 1 || k > 2 || c.p == c.end)
		return false;
	sep = *c.p;
	if (sep != '/' && sep != '-' && sep != '.')
		return false;
	c.p++;
	k = digits(&c, b);
	if (k < 1 || k > 2 || !eat(&c, sep))
		return false;
	k = digits(&c, y);
	if (k != 2 && k != 4)
		return false;
	*y = year_of(*y, k);
	return time_rest(&c);
}

static int days_in(int y, int m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

static bool eat_ordinal(struct cur *c)
{
	static const char *const suffixes[] = {"st", "nd", "rd", "th"};
	if (c->end - c->p < 2 || (c->end - c->p > 2 && is_alpha((unsigned char)c->p[2])))
		return false;
	for (size_t i = 0; i < PF_ARRAY_LEN(suffixes); i++) {
		if (word_eq(c->p, 2, suffixes[i])) {
			c->p += 2;
			return true;
		}
	}
	return false;
}

/* Skips bytes from set; returns how many. */
static int eat_seps(struct cur *c, const char *set)
{
	int k = 0;
	while (c->p < c->end && *c->p && strchr(set, *c->p)) {
		c->p++;
		k++;
	}
	return k;
}

static const char *read_year(struct cur *c, int *y)
{
	int v, k = digits(c, &v);
	if (k != 2 && k != 4)
		return "not a date";
	*y = year_of(v, k);
	return NULL;
}

/* "13 Oct 2014", "13-Oct-14", "13th October, 2014": c is past the day's digits. */
static const char *day_month_year(struct cur *c, int *m, int *y)
{
	const char *w;
	size_t n;

	eat_ordinal(c);
	if (!eat_seps(c, " -/."))
		return "not a date";
	n = word(c, &w);
	*m = month_of(w, n);
	if (*m == 0 || !eat_seps(c, " -/.,"))
		return "not a date";
	return read_year(c, y);
}

/* "Oct 13, 2014", "October 13 2014", "Mon, Oct 13, 2014", "Oct-13-2014". */
static const char *month_day_year(struct cur *c, int *m, int *d, int *y)
{
	const char *w;
	size_t n = word(c, &w);
	int k;

	if (is_weekday(w, n)) {
		if (!eat_seps(c, " .,"))
			return "not a date";
		n = word(c, &w);
	}
	*m = month_of(w, n);
	if (*m == 0 || !eat_seps(c, " -/."))
		return "not a date";
	k = digits(c, d);
	if (k < 1 || k > 2)
		return "not a date";
	eat_ordinal(c);
	if (!eat_seps(c, " ,-/."))
		return "not a date";
	return read_year(c, y);
}

/* Parses a trimmed, non-NULL date. Returns NULL or the reason. */
static const char *date_read(const char *s, size_t len, pf_date_order order, int *py, int *pm,
                             int *pd)
{
	struct cur c = {s, s + len};
	int y = 0, m = 0, d = 0, a, b, k;
	const char *why;

	if (len == 0)
		return "not a date";
	if (is_digit((unsigned char)*c.p)) {
		k = digits(&c, &a);
		if (k == 8) { /* 20141013, 20141013T000000 */
			y = a / 10000;
			m = a / 100 % 100;
			d = a % 100;
		} else if (k == 4) { /* 2014-10-13, 2014/10/13 */
			char sep = c.p < c.end ? *c.p : 0;
			y = a;
			if ((sep != '-' && sep != '/' && sep != '.') || !eat(&c, sep))
				return "not a date";
			k = digits(&c, &m);
			if (k < 1 || k > 2 || !eat(&c, sep))
				return "not a date";
			k = digits(&c, &d);
			if (k < 1 || k > 2)
				return "not a date";
		} else if (k == 1 || k == 2) {
			struct cur look = c;
			while (look.p < look.end && (*look.p == ' ' || *look.p == '-' ||
			                             *look.p == '/' || *look.p == '.'))
				look.p++;
			if (look.p < look.end && is_alpha((unsigned char)*look.p)) {
				d = a;
				why = day_month_year(&c, &m, &y);
				if (why)
					return why;
			} else {
				int yy;
				if (!numeric_form(s, len, &a, &b, &yy))
					return "not a date";
				y = yy;
				switch (order) {
				case PF_DATE_ORDER_DMY:
					d = a;
					m = b;
					break;
				case PF_DATE_ORDER_CONFLICT:
					if (a <= 12 && b <= 12 && a != b)
						return "ambiguous day/month order";
					if (a > 12) {
						d = a;
						m = b;
					} else {
						m = a;
						d = b;
					}
					break;
				case PF_DATE_ORDER_UNKNOWN:
				case PF_DATE_ORDER_MDY:
				default:
					m = a;
					d = b;
					break;
				}
				goto check; /* numeric_form read the time already */
			}
		} else {
			return "not a date";
		}
	} else if (is_alpha((unsigned char)*c.p)) {
		why = month_day_year(&c, &m, &d, &y);
		if (why)
			return why;
	} else {
		return "not a date";
	}
	if (!time_rest(&c))
		return "not a date";
check:
	if (m < 1 || m > 12)
		return "month out of range";
	if (y < DATE_YEAR_MIN || y > DATE_YEAR_MAX)
		return "year out of range";
	if (d < 1 || d > days_in(y, m))
		return "day out of range";
	*py = y;
	*pm = m;
	*pd = d;
	return NULL;
}

static uint32_t bump(uint32_t v)
{
	return v == UINT32_MAX ? v : v + 1;
}

void pf_date_observe(pf_date_evidence *ev, const char *s, size_t len)
{
	int a, b, y;

	trim(&s, &len);
	if (null_trimmed(s, len) || !numeric_form(s, len, &a, &b, &y))
		return;
	ev->numeric = bump(ev->numeric);
	/* Only values that one order can read count as evidence ("45/13/2014" is none). */
	if (a > 12 && a <= 31 && b >= 1 && b <= 12)
		ev->first_gt12 = bump(ev->first_gt12);
	else if (b > 12 && b <= 31 && a >= 1 && a <= 12)
		ev->second_gt12 = bump(ev->second_gt12);
}

pf_date_order pf_date_decide(const pf_date_evidence *ev)
{
	if (ev->numeric == 0)
		return PF_DATE_ORDER_UNKNOWN;
	if (ev->first_gt12 && ev->second_gt12)
		return PF_DATE_ORDER_CONFLICT;
	if (ev->first_gt12)
		return PF_DATE_ORDER_DMY;
	return PF_DATE_ORDER_MDY;
}

const char *pf_date_order_name(pf_date_order o)
{
	switch (o) {
	case PF_DATE_ORDER_UNKNOWN: return "unknown";
	case PF_DATE_ORDER_MDY: return "mdy";
	case PF_DATE_ORDER_DMY: return "dmy";
	case PF_DATE_ORDER_CONFLICT: return "conflict";
	}
	return "unknown";
}

/* UNKNOWN reads numeric dates month first, as MDY does. */
int pf_norm_date(const char *s, size_t len, pf_date_order order, char *out, size_t cap,
                 const char **reason)
{
	int y, m, d;
	const char *why;

	clear(out, cap);
	trim(&s, &len);
	if (null_trimmed(s, len))
		return PF_NORM_NULL;
	why = date_read(s, len, order, &y, &m, &d);
	if (!why && (cap == 0 || DATE_OUT_LEN > cap - 1))
		why = "value too long";
	if (why) {
		*reason = why;
		return PF_NORM_INVALID;
	}
	out[0] = (char)('0' + y / 1000);
	out[1] = (char)('0' + y / 100 % 10);
	out[2] = (char)('0' + y / 10 % 10);
	out[3] = (char)('0' + y % 10);
	out[4] = '-';
	out[5] = (char)('0' + m / 10);
	out[6] = (char)('0' + m % 10);
	out[7] = '-';
	out[8] = (char)('0' + d / 10);
	out[9] = (char)('0' + d % 10);
	out[10] = '\0';
	return PF_NORM_VALUE;
}

/* ---- text ------------------------------------------------------------- */

/* A NUL byte cannot be stored in PostgreSQL text: such a value is invalid. */
int pf_norm_text(const char *s, size_t len, char *out, size_t cap, const char **reason)
{
	clear(out, cap);
	trim(&s, &len);
	if (null_trimmed(s, len))
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
	clear(out, cap);
	*reason = "unknown field type";
	return PF_NORM_INVALID;
}
