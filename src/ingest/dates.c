/*
 * dates.c - the date normaliser (see normalise.h): ISO dates and
 * date-times, compact, numeric a/b/y read in a column's day/month order,
 * named months with or without a weekday; a time after the date is
 * accepted and dropped. Also the evidence that decides a column's order
 * (pf_date_observe, pf_date_decide), gathered from the same numeric form
 * the reader accepts. Nothing here allocates; reasons are static strings.
 */
#include "normalise_internal.h"

#include <string.h>

#define DATE_YEAR_MIN 1700
#define DATE_YEAR_MAX 2200
#define DATE_OUT_LEN  10 /* "YYYY-MM-DD" */

struct cur {
	const char *p;   /* borrowed: next byte */
	const char *end; /* borrowed: one past the last byte */
};

/* Reads a run of digits: returns how many (the value is only kept for up to 9). */
static int digits(struct cur *c, int *val)
{
	int k = 0, v = 0;
	while (c->p < c->end && norm_is_digit((unsigned char)*c->p)) {
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
	while (c->p < c->end && norm_is_space((unsigned char)*c->p)) {
		c->p++;
		k++;
	}
	return k;
}

static size_t word(struct cur *c, const char **w)
{
	*w = c->p;
	while (c->p < c->end && norm_is_alpha((unsigned char)*c->p))
		c->p++;
	return (size_t)(c->p - *w);
}

static const char *const month_names[12] = {"january",   "february", "march",    "april",
                                            "may",       "june",     "july",     "august",
                                            "september", "october",  "november", "december"};

/* 1..12 for "Oct", "october", "Sept"; 0 otherwise. */
static int month_of(const char *w, size_t n)
{
	if (norm_word_eq(w, n, "sept"))
		return 9;
	for (int m = 0; m < 12; m++) {
		if (n < 3 || n > strlen(month_names[m]))
			continue;
		if (n != 3 && n != strlen(month_names[m]))
			continue;
		size_t i = 0;
		while (i < n && norm_lower((unsigned char)w[i]) == (unsigned char)month_names[m][i])
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
		if (norm_word_eq(w, n, days[i]))
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
	if (n > 0 && (norm_word_eq(w, n, "am") || norm_word_eq(w, n, "pm") ||
	              norm_word_eq(w, n, "a") || norm_word_eq(w, n, "p"))) {
		if (n == 1) { /* "a.m." */
			const char *w2;
			if (!eat(c, '.'))
				return false;
			size_t n2 = word(c, &w2);
			if (!norm_word_eq(w2, n2, "m") || !eat(c, '.'))
				return false;
		}
		if (h == 0 || h > 12)
			return false;
		eat_spaces(c);
		n = word(c, &w);
	}
	if (n > 0) {
		if (!norm_word_eq(w, n, "z") && !norm_word_eq(w, n, "utc") &&
		    !norm_word_eq(w, n, "gmt"))
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
	if (c->end - c->p < 2 || (c->end - c->p > 2 && norm_is_alpha((unsigned char)c->p[2])))
		return false;
	for (size_t i = 0; i < PF_ARRAY_LEN(suffixes); i++) {
		if (norm_word_eq(c->p, 2, suffixes[i])) {
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
	if (norm_is_digit((unsigned char)*c.p)) {
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
			if (look.p < look.end && norm_is_alpha((unsigned char)*look.p)) {
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
	} else if (norm_is_alpha((unsigned char)*c.p)) {
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

	norm_trim(&s, &len);
	if (norm_null_trimmed(s, len) || !numeric_form(s, len, &a, &b, &y))
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

	norm_clear(out, cap);
	norm_trim(&s, &len);
	if (norm_null_trimmed(s, len))
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
