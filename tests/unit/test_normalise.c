/*
 * test_normalise.c - every normaliser: numbers, whole numbers, coordinates,
 * dates (with the column's day/month order decided from evidence), text and
 * NULL words, output caps at cap and cap - 1.
 */
#include "check.h"
#include "propflow/ingest/normalise.h"

#include <stdlib.h>

static char out[PF_NORM_OUT_MAX];
static const char *why;

static int run(int kind, const char *in, size_t len, pf_date_order order)
{
	why = NULL;
	memset(out, 'X', sizeof(out));
	switch (kind) {
	case 'n': return pf_norm_number(in, len, out, sizeof(out), &why);
	case 'i': return pf_norm_integer(in, len, out, sizeof(out), &why);
	case 'a': return pf_norm_coord(in, len, true, out, sizeof(out), &why);
	case 'o': return pf_norm_coord(in, len, false, out, sizeof(out), &why);
	case 'd': return pf_norm_date(in, len, order, out, sizeof(out), &why);
	case 't': return pf_norm_text(in, len, out, sizeof(out), &why);
	}
	abort();
}

#define OK(kind, order, in, want)                                                                  \
	do {                                                                                       \
		int rc_ = run(kind, in, strlen(in), order);                                        \
		CHECK_MSG(rc_ == PF_NORM_VALUE && strcmp(out, want) == 0,                          \
		          "%c \"%s\" -> \"%s\" (got rc %d \"%s\" %s)", kind, in, want, rc_, out,   \
		          why ? why : "");                                                         \
	} while (0)
#define BAD(kind, order, in, reason)                                                               \
	do {                                                                                       \
		int rc_ = run(kind, in, strlen(in), order);                                        \
		CHECK_MSG(rc_ == PF_NORM_INVALID && why && strcmp(why, reason) == 0 &&             \
		              out[0] == '\0',                                                      \
		          "%c \"%s\" invalid: %s (got rc %d \"%s\" %s)", kind, in, reason, rc_,    \
		          out, why ? why : "");                                                    \
	} while (0)
#define NUL(kind, order, in)                                                                       \
	do {                                                                                       \
		int rc_ = run(kind, in, strlen(in), order);                                        \
		CHECK_MSG(rc_ == PF_NORM_NULL && out[0] == '\0', "%c \"%s\" is NULL (got %d)",     \
		          kind, in, rc_);                                                          \
	} while (0)

#define NUM(in, want)               OK('n', 0, in, want)
#define NUM_BAD(in, reason)         BAD('n', 0, in, reason)
#define DATE(order, in, want)       OK('d', order, in, want)
#define DATE_BAD(order, in, reason) BAD('d', order, in, reason)

static void test_null(void)
{
	const char *nulls[] = {"",
	                       " ",
	                       "\t\r\n",
	                       "NA",
	                       "na",
	                       "N/A",
	                       "n/a",
	                       "#N/A",
	                       "#n/a",
	                       "null",
	                       "NULL",
	                       "Null",
	                       "none",
	                       "None",
	                       "NONE",
	                       "-",
	                       " - ",
	                       "\xc2\xa0",
	                       " \xc2\xa0NA\xc2\xa0 "};
	for (size_t i = 0; i < PF_ARRAY_LEN(nulls); i++) {
		CHECK_MSG(pf_norm_is_null(nulls[i], strlen(nulls[i])), "null word \"%s\"",
		          nulls[i]);
		NUL('n', 0, nulls[i]);
		NUL('i', 0, nulls[i]);
		NUL('a', 0, nulls[i]);
		NUL('d', 0, nulls[i]);
		NUL('t', 0, nulls[i]);
	}
	const char *not_null[] = {"nan", "0", "--", "n", "nulls", "N/A/", "#NA", "a"};
	for (size_t i = 0; i < PF_ARRAY_LEN(not_null); i++)
		CHECK_MSG(!pf_norm_is_null(not_null[i], strlen(not_null[i])), "not null \"%s\"",
		          not_null[i]);
	CHECK(pf_norm_is_null(NULL, 0));
	CHECK(pf_norm_is_null("NAME", 2)); /* length, not NUL, bounds the value */
}

static void test_number(void)
{
	NUM("$1,250,000", "1250000");
	NUM("1250000.00", "1250000");
	NUM("1250000.50", "1250000.5");
	NUM("4,789", "4789");
	NUM("1.5e+06", "1500000");
	NUM("1.5E6", "1500000");
	NUM("2.5e-3", "0.0025");
	NUM("(1,200)", "-1200");
	NUM("( $1,200.50 )", "-1200.5");
	NUM(" 3 ", "3");
	NUM("\xc2\xa0"
	    "3\xc2\xa0",
	    "3");
	NUM("2,100 sqft", "2100");
	NUM("2100sqft", "2100");
	NUM("2,100 sq. ft.", "2100");
	NUM("2,100 Sq Ft", "2100");
	NUM("2100 ft\xc2\xb2", "2100");
	NUM("2100 SF", "2100");
	NUM("3 beds", "3");
	NUM("2.5 ba", "2.5");
	NUM("$450,000 USD", "450000");
	NUM("-5", "-5");
	NUM("+5", "5");
	NUM("-$1,200", "-1200");
	NUM("$-1,200", "-1200");
	NUM("$ 1,200", "1200");
	NUM("0", "0");
	NUM("-0", "0");
	NUM("-0.000", "0");
	NUM("000123", "123");
	NUM("0.5", "0.5");
	NUM(".5", "0.5");
	NUM("5.", "5");
	NUM("100", "100");
	NUM("1000000000000000", "1000000000000000"); /* 1e15 exactly */
	NUM("1e15", "1000000000000000");
	NUM("-1e15", "-1000000000000000");
	NUM("999999999999999.5", "999999999999999.5");
	NUM("123456789012345.123456789012345", "123456789012345.123456789012345");
	NUM("0.000000000000001", "0.000000000000001"); /* 15 fraction digits kept */
	NUM("0.0000000000000004", "0");                /* the 16th rounds */
	NUM("0.0000000000000005", "0.000000000000001");
	NUM("0.9999999999999999", "1");
	NUM("9.9999999999999999", "10");
	NUM("1e-400", "0");
	NUM("0e999999999", "0");
	NUM("1.23456789e5", "123456.789");
	NUM("12345678901234567890e-10", "1234567890.123456789");
	NUM("1,234,567.891", "1234567.891");

	NUM_BAD("abc", "not a number");
	NUM_BAD("1.2.3", "not a number");
	NUM_BAD("12abc34", "not a number");
	NUM_BAD("$", "not a number");
	NUM_BAD(".", "not a number");
	NUM_BAD("e5", "not a number");
	NUM_BAD("1e", "not a number");
	NUM_BAD("--5", "not a number");
	NUM_BAD("-+5", "not a number");
	NUM_BAD("(-5)", "not a number");
	NUM_BAD("5-", "not a number");
	NUM_BAD("1 2", "not a number");
	NUM_BAD("\xe2\x82\xac 1.000", "not a number"); /* euro sign: not read */
	NUM_BAD("1.000,50", "not a number");
	NUM_BAD("12,34", "misplaced thousands separator");
	NUM_BAD("1234,567", "misplaced thousands separator");
	NUM_BAD(",123", "misplaced thousands separator");
	NUM_BAD("1,,234", "misplaced thousands separator");
	NUM_BAD("1,2345", "misplaced thousands separator");
	NUM_BAD("1,234,", "misplaced thousands separator");
	NUM_BAD("NaN", "not a finite number");
	NUM_BAD("nan", "not a finite number");
	NUM_BAD("-inf", "not a finite number");
	NUM_BAD("Infinity", "not a finite number");
	NUM_BAD("1000000000000000.1", "number too large");
	NUM_BAD("1000000000000001", "number too large");
	NUM_BAD("1.5e15", "number too large");
	NUM_BAD("1e16", "number too large");
	NUM_BAD("-2e15", "number too large");
	NUM_BAD("1e999999999999999999", "number too large");
	NUM_BAD("99999999999999999999", "number too large");
	NUM_BAD("1.5 acres", "unit not supported");
	NUM_BAD("450K", "unit not supported");
	NUM_BAD("12 sqm", "unit not supported");
	NUM_BAD("12 parsecs", "not a number");
	NUM_BAD("5%", "not a number");
	NUM_BAD("3 bd2", "not a number");

	/* long inputs: many leading zeros, many fraction digits */
	char big[3000];
	memset(big, '0', sizeof(big) - 2);
	big[sizeof(big) - 2] = '7';
	big[sizeof(big) - 1] = '\0';
	NUM(big, "7");
	big[0] = '0';
	big[1] = '.';
	big[sizeof(big) - 2] = '7';
	NUM(big, "0");
	memset(big, '1', 100);
	big[100] = '\0';
	NUM_BAD(big, "number too large");

	/* the output cap: at cap and one short */
	char small[8];
	why = NULL;
	CHECK_INT(pf_norm_number("1234567", 7, small, sizeof(small), &why), PF_NORM_VALUE);
	CHECK_STR(small, "1234567");
	CHECK_INT(pf_norm_number("12345678", 8, small, sizeof(small), &why), PF_NORM_INVALID);
	CHECK_STR(why, "value too long");
	CHECK_STR(small, "");
	CHECK_INT(pf_norm_number("-1.5", 4, small, 5, &why), PF_NORM_VALUE);
	CHECK_INT(pf_norm_number("-1.5", 4, small, 4, &why), PF_NORM_INVALID);
	CHECK_INT(pf_norm_number("1", 1, small, 0, &why), PF_NORM_INVALID);
	/* the worst case fits PF_NORM_OUT_MAX */
	NUM("-999999999999999.999999999999999", "-999999999999999.999999999999999");
	/* length bounds the value */
	NUM("12345", "12345");
	CHECK_INT(pf_norm_number("12345", 3, out, sizeof(out), &why), PF_NORM_VALUE);
	CHECK_STR(out, "123");
}

static void test_integer(void)
{
	OK('i', 0, "1,998", "1998");
	OK('i', 0, "2004.0", "2004");
	OK('i', 0, "2004.000", "2004");
	OK('i', 0, " 1998 ", "1998");
	OK('i', 0, "2.004e3", "2004");
	OK('i', 0, "-12", "-12");
	OK('i', 0, "2147483647", "2147483647");
	OK('i', 0, "-2147483648", "-2147483648");
	BAD('i', 0, "2004.5", "not a whole number");
	BAD('i', 0, "0.1", "not a whole number");
	BAD('i', 0, "2147483648", "integer out of range");
	BAD('i', 0, "-2147483649", "integer out of range");
	BAD('i', 0, "1e15", "integer out of range");
	BAD('i', 0, "abc", "not a number");
	BAD('i', 0, "19x8", "not a number");
}

static void test_coord(void)
{
	OK('a', 0, "47.6062", "47.6062");
	OK('a', 0, " -33.8688 ", "-33.8688");
	OK('a', 0, "90", "90");
	OK('a', 0, "-90", "-90");
	OK('a', 0, "90.0000", "90");
	OK('a', 0, "0", "0");
	OK('o', 0, "-122.3321", "-122.3321");
	OK('o', 0, "180", "180");
	OK('o', 0, "-180.0", "-180");
	OK('o', 0, "151.2093", "151.2093");
	OK('a', 0, "47.123456789012345", "47.123456789012345");
	BAD('a', 0, "90.000001", "latitude out of range");
	BAD('a', 0, "-91", "latitude out of range");
	BAD('a', 0, "122.3", "latitude out of range");
	BAD('o', 0, "180.0001", "longitude out of range");
	BAD('o', 0, "-200", "longitude out of range");
	BAD('a', 0, "47.6 sqft", "not a number");
	BAD('a', 0, "47.6N", "not a number");
	BAD('a', 0, "nan", "not a finite number");
	BAD('o', 0, "1e300", "number too large");
	BAD('a', 0, "abc", "not a number");
}

static void test_dates(void)
{
	const pf_date_order U = PF_DATE_ORDER_UNKNOWN, M = PF_DATE_ORDER_MDY, D = PF_DATE_ORDER_DMY,
	                    C = PF_DATE_ORDER_CONFLICT;

	/* ISO, date-times, compact: the same in every order */
	pf_date_order all[] = {U, M, D, C};
	for (size_t i = 0; i < PF_ARRAY_LEN(all); i++) {
		DATE(all[i], "2014-10-13", "2014-10-13");
		DATE(all[i], "2014-10-13T00:00:00Z", "2014-10-13");
		DATE(all[i], "2014-10-13T23:59:59.123+02:00", "2014-10-13");
		DATE(all[i], "2014-10-13 10:00", "2014-10-13");
		DATE(all[i], "2014-10-13 10:00:00", "2014-10-13");
		DATE(all[i], "2014-10-13 10:00:00 -0500", "2014-10-13");
		DATE(all[i], "2014-10-13 10:00:00 UTC", "2014-10-13");
		DATE(all[i], "2014/10/13", "2014-10-13");
		DATE(all[i], "2014-1-5", "2014-01-05");
		DATE(all[i], "20141013T000000", "2014-10-13");
		DATE(all[i], "20141013T101530Z", "2014-10-13");
		DATE(all[i], "20141013", "2014-10-13");
		DATE(all[i], "Oct 13, 2014", "2014-10-13");
		DATE(all[i], "oct 13 2014", "2014-10-13");
		DATE(all[i], "Oct. 13, 2014", "2014-10-13");
		DATE(all[i], "October 13 2014", "2014-10-13");
		DATE(all[i], "October 13th, 2014", "2014-10-13");
		DATE(all[i], "Sept 3, 2014", "2014-09-03");
		DATE(all[i], "Mon, Oct 13, 2014", "2014-10-13");
		DATE(all[i], "Monday, October 13, 2014 3:15 PM", "2014-10-13");
		DATE(all[i], "Oct-13-2014", "2014-10-13");
		DATE(all[i], "13 Oct 2014", "2014-10-13");
		DATE(all[i], "13-Oct-2014", "2014-10-13");
		DATE(all[i], "13-OCT-14", "2014-10-13");
		DATE(all[i], "13-Oct-99", "1999-10-13");
		DATE(all[i], "13 October, 2014", "2014-10-13");
		DATE(all[i], "1st Feb 2016", "2016-02-01");
		DATE(all[i],
		     " \xc2\xa0"
		     "2014-10-13 ",
		     "2014-10-13");
	}
}

static void test_numeric_dates(void)
{
	const pf_date_order U = PF_DATE_ORDER_UNKNOWN, M = PF_DATE_ORDER_MDY, D = PF_DATE_ORDER_DMY,
	                    C = PF_DATE_ORDER_CONFLICT;

	DATE(M, "01/02/2014", "2014-01-02");
	DATE(U, "01/02/2014", "2014-01-02");
	DATE(D, "01/02/2014", "2014-02-01");
	DATE_BAD(C, "01/02/2014", "ambiguous day/month order");
	DATE(C, "05/05/2014", "2014-05-05"); /* the same both ways */
	DATE(C, "13/10/2014", "2014-10-13");
	DATE(C, "10/13/2014", "2014-10-13");
	DATE(M, "1/2/14", "2014-01-02");
	DATE(M, "10-13-14", "2014-10-13");
	DATE(M, "10-13-70", "1970-10-13");
	DATE(M, "10-13-69", "2069-10-13");
	DATE(M, "10-13-00", "2000-10-13");
	DATE(D, "13.10.2014", "2014-10-13");
	DATE(D, "13.10.2014 10:00", "2014-10-13");
	DATE(M, "10/13/2014 3:15:00 PM", "2014-10-13");
	DATE(M, "10/13/2014 12:00 a.m.", "2014-10-13");
	DATE_BAD(M, "13/10/2014", "month out of range");
	DATE_BAD(D, "10/13/2014", "month out of range");
	DATE_BAD(M, "10/13-2014", "not a date");
	DATE_BAD(M, "10/13/201", "not a date");
	DATE_BAD(M, "100/13/2014", "not a date");

	/* evidence: one value above 12 first makes the column day-first */
	pf_date_evidence ev = {0};
	CHECK_INT(pf_date_decide(&ev), PF_DATE_ORDER_UNKNOWN);
	pf_date_observe(&ev, "01/02/2014", 10);
	pf_date_observe(&ev, "03/04/2014", 10);
	CHECK_INT(ev.numeric, 2);
	CHECK_INT(pf_date_decide(&ev), PF_DATE_ORDER_MDY); /* ambiguous only */
	pf_date_observe(&ev, "13/10/2014", 10);
	CHECK_INT(ev.first_gt12, 1);
	pf_date_order o = pf_date_decide(&ev);
	CHECK_INT(o, PF_DATE_ORDER_DMY);
	DATE(o, "01/02/2014", "2014-02-01"); /* 1 February */
	DATE(o, "13/10/2014", "2014-10-13");
	/* then one value above 12 second: evidence both ways */
	pf_date_observe(&ev, "10/13/2014", 10);
	CHECK_INT(ev.second_gt12, 1);
	o = pf_date_decide(&ev);
	CHECK_INT(o, PF_DATE_ORDER_CONFLICT);
	DATE_BAD(o, "01/02/2014", "ambiguous day/month order");
	DATE(o, "13/10/2014", "2014-10-13");

	/* values that are not evidence */
	pf_date_evidence e2 = {0};
	const char *none[] = {"2014-10-13", "Oct 13, 2014", "20141013",   "",           "NA",
	                      "abc",        "45/13/2014",   "13/13/2014", "00/13/2014", "1/2/3"};
	for (size_t i = 0; i < PF_ARRAY_LEN(none); i++)
		pf_date_observe(&e2, none[i], strlen(none[i]));
	CHECK_INT(e2.first_gt12, 0);
	CHECK_INT(e2.second_gt12, 0);
	CHECK_INT(e2.numeric, 3); /* 45/13, 13/13, 00/13 have the shape */
	CHECK_INT(pf_date_decide(&e2), PF_DATE_ORDER_MDY);
	pf_date_evidence e3 = {0};
	pf_date_observe(&e3, " 10/13/2014 10:00 ", 18);
	pf_date_observe(&e3, "10.13.14", 8);
	CHECK_INT(e3.second_gt12, 2);
	CHECK_INT(pf_date_decide(&e3), PF_DATE_ORDER_MDY);
	pf_date_evidence e4 = {.numeric = UINT32_MAX, .first_gt12 = UINT32_MAX};
	pf_date_observe(&e4, "13/10/2014", 10);
	CHECK(e4.numeric == UINT32_MAX && e4.first_gt12 == UINT32_MAX); /* saturates */

	CHECK_STR(pf_date_order_name(PF_DATE_ORDER_UNKNOWN), "unknown");
	CHECK_STR(pf_date_order_name(PF_DATE_ORDER_MDY), "mdy");
	CHECK_STR(pf_date_order_name(PF_DATE_ORDER_DMY), "dmy");
	CHECK_STR(pf_date_order_name(PF_DATE_ORDER_CONFLICT), "conflict");
	(void)U;
}

static void test_calendar(void)
{
	const pf_date_order M = PF_DATE_ORDER_MDY;

	DATE(M, "2012-02-29", "2012-02-29");
	DATE(M, "2000-02-29", "2000-02-29");
	DATE(M, "2/29/2016", "2016-02-29");
	DATE(M, "Feb 29, 2016", "2016-02-29");
	DATE_BAD(M, "2014-02-29", "day out of range");
	DATE_BAD(M, "1900-02-29", "day out of range");
	DATE_BAD(M, "2100-02-29", "day out of range");
	DATE_BAD(M, "2014-02-30", "day out of range");
	DATE_BAD(M, "2014-04-31", "day out of range");
	DATE_BAD(M, "2014-10-00", "day out of range");
	DATE_BAD(M, "2014-10-32", "day out of range");
	DATE(M, "2014-12-31", "2014-12-31");
	DATE_BAD(M, "2014-13-01", "month out of range");
	DATE_BAD(M, "2014-00-01", "month out of range");
	DATE_BAD(M, "20141301", "month out of range");
	DATE(M, "1700-01-01", "1700-01-01");
	DATE(M, "2200-12-31", "2200-12-31");
	DATE_BAD(M, "1699-12-31", "year out of range");
	DATE_BAD(M, "2201-01-01", "year out of range");
	DATE_BAD(M, "00000000", "month out of range");
	DATE_BAD(M, "Oct 32, 2014", "day out of range");
	DATE_BAD(M, "31 Nov 2014", "day out of range");

	DATE_BAD(M, "abc", "not a date");
	DATE_BAD(M, "2014", "not a date");
	DATE_BAD(M, "2014-10", "not a date");
	DATE_BAD(M, "2014-10-13x", "not a date");
	DATE_BAD(M, "2014-10-13T", "not a date");
	DATE_BAD(M, "2014-10-13T25:00", "not a date");
	DATE_BAD(M, "2014-10-13 10:60", "not a date");
	DATE_BAD(M, "2014-10-13 13:00 PM", "not a date");
	DATE_BAD(M, "2014-10/13", "not a date");
	DATE_BAD(M, "201410131", "not a date");
	DATE_BAD(M, "Foo 13, 2014", "not a date");
	DATE_BAD(M, "Oct 13", "not a date");
	DATE_BAD(M, "Oct 2014", "not a date");
	DATE_BAD(M, "13 Foo 2014", "not a date");
	DATE_BAD(M, "Oct 13, 201", "not a date");
	DATE_BAD(M, "Oct13,2014", "not a date");
	DATE_BAD(M, "-2014-10-13", "not a date");
	DATE_BAD(M, "1.5e+06", "not a date");

	/* cap: "YYYY-MM-DD" needs 11 bytes */
	char small[11];
	why = NULL;
	CHECK_INT(pf_norm_date("2014-10-13", 10, M, small, 11, &why), PF_NORM_VALUE);
	CHECK_STR(small, "2014-10-13");
	CHECK_INT(pf_norm_date("2014-10-13", 10, M, small, 10, &why), PF_NORM_INVALID);
	CHECK_STR(why, "value too long");
}

static void test_text(void)
{
	OK('t', 0, "  123 Main St  ", "123 Main St");
	OK('t', 0, "\t\r\nSeattle\r\n", "Seattle");
	OK('t', 0,
	   "\xc2\xa0"
	   "Seattle\xc2\xa0\xc2\xa0",
	   "Seattle");
	OK('t', 0, "S\xc3\xa3o Paulo", "S\xc3\xa3o Paulo");
	OK('t', 0, "a  b", "a  b");
	OK('t', 0, "00123", "00123"); /* leading zeros kept */
	OK('t', 0, "nan", "nan");
	OK('t', 0, "--", "--");
	OK('t', 0, "\xc2\xa1Hola", "\xc2\xa1Hola"); /* C2 A1 is not a space */
	char nul[] = {'a', '\0', 'b'};
	why = NULL;
	CHECK_INT(pf_norm_text(nul, 3, out, sizeof(out), &why), PF_NORM_INVALID);
	CHECK_STR(why, "contains a NUL byte");

	char small[4];
	CHECK_INT(pf_norm_text(" abc ", 5, small, sizeof(small), &why), PF_NORM_VALUE);
	CHECK_STR(small, "abc");
	CHECK_INT(pf_norm_text("abcd", 4, small, sizeof(small), &why), PF_NORM_INVALID);
	CHECK_STR(why, "value too long");
	CHECK_STR(small, "");
	CHECK_INT(pf_norm_text(NULL, 0, small, sizeof(small), &why), PF_NORM_NULL);
}

static void test_dispatch(void)
{
	why = NULL;
	CHECK_INT(pf_norm_value(PF_T_TEXT, 0, " x ", 3, out, sizeof(out), &why), PF_NORM_VALUE);
	CHECK_STR(out, "x");
	CHECK_INT(pf_norm_value(PF_T_ID, 0, "02134", 5, out, sizeof(out), &why), PF_NORM_VALUE);
	CHECK_STR(out, "02134");
	CHECK_INT(pf_norm_value(PF_T_NUMBER, 0, "$1,250,000", 10, out, sizeof(out), &why),
	          PF_NORM_VALUE);
	CHECK_STR(out, "1250000");
	CHECK_INT(pf_norm_value(PF_T_INTEGER, 0, "1998.5", 6, out, sizeof(out), &why),
	          PF_NORM_INVALID);
	CHECK_INT(
	    pf_norm_value(PF_T_DATE, PF_DATE_ORDER_DMY, "01/02/2014", 10, out, sizeof(out), &why),
	    PF_NORM_VALUE);
	CHECK_STR(out, "2014-02-01");
	CHECK_INT(pf_norm_value(PF_T_LATITUDE, 0, "100", 3, out, sizeof(out), &why),
	          PF_NORM_INVALID);
	CHECK_STR(why, "latitude out of range");
	CHECK_INT(pf_norm_value(PF_T_LONGITUDE, 0, "100", 3, out, sizeof(out), &why),
	          PF_NORM_VALUE);
	CHECK_INT(pf_norm_value((pf_field_type)99, 0, "1", 1, out, sizeof(out), &why),
	          PF_NORM_INVALID);
	CHECK_STR(why, "unknown field type");
}

int main(void)
{
	test_null();
	test_number();
	test_integer();
	test_coord();
	test_dates();
	test_numeric_dates();
	test_calendar();
	test_text();
	test_dispatch();
	return CHECK_DONE();
}
