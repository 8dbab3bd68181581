/*
 * test_mapping.c - canonical fields, folding, exact synonyms, fuzzy near
 * misses, headers that must stay unmapped, one column per field, and the
 * cost of 50,000 headers.
 */
#include "check.h"
#include "propflow/ingest/mapping.h"

#include <stdlib.h>
#include <time.h>

static pf_column_map map1(const char *h)
{
	pf_column_map m;
	const char *hs[1] = {h};
	if (pf_mapping_build(hs, 1, &m) != 0)
		m.field = -2;
	return m;
}

#define EXACT(h, f)                                                                                \
	do {                                                                                       \
		pf_column_map m_ = map1(h);                                                        \
		CHECK_MSG(m_.field == (f) && m_.match == PF_MATCH_EXACT && m_.confidence == 1.0,   \
		          "\"%s\" -> %s exact (got %s %s %.2f)", h, pf_field_name(f),              \
		          m_.field >= 0 ? pf_field_name(m_.field) : "-", pf_match_name(m_.match),  \
		          m_.confidence);                                                          \
	} while (0)
#define FUZZY(h, f)                                                                                \
	do {                                                                                       \
		pf_column_map m_ = map1(h);                                                        \
		CHECK_MSG(m_.field == (f) && m_.match == PF_MATCH_FUZZY &&                         \
		              m_.confidence >= PF_MAPPING_FUZZY_MIN && m_.confidence < 1.0,        \
		          "\"%s\" -> %s fuzzy (got %s %s %.2f)", h, pf_field_name(f),              \
		          m_.field >= 0 ? pf_field_name(m_.field) : "-", pf_match_name(m_.match),  \
		          m_.confidence);                                                          \
	} while (0)
/* The fields these tests were written for. A header they expect unmapped may
 * map to a field added to the table after them (its own name, say "HOA Fee"
 * for a hoa_fee), never to one of these. */
#define FIELDS_TESTED 17
#define UNMAPPED(f)   ((f) == -1 || (f) >= FIELDS_TESTED)
#define NONE(h)                                                                                    \
	do {                                                                                       \
		pf_column_map m_ = map1(h);                                                        \
		CHECK_MSG(m_.field >= FIELDS_TESTED ||                                             \
		              (m_.field == -1 && m_.match == PF_MATCH_NONE && m_.confidence == 0), \
		          "\"%s\" unmapped (got %s %s %.2f)", h,                                   \
		          m_.field >= 0 ? pf_field_name(m_.field) : "-", pf_match_name(m_.match),  \
		          m_.confidence);                                                          \
	} while (0)

static void test_fields(void)
{
	const char *names[] = {"source_id",  "address",       "city",   "state",     "zip",
	                       "price",      "beds",          "baths",  "sqft",      "lot_sqft",
	                       "year_built", "property_type", "status", "listed_on", "sold_on",
	                       "latitude",   "longitude"};
	/* the first fields keep their names and places; more may follow */
	CHECK_INT(PF_ARRAY_LEN(names), FIELDS_TESTED);
	CHECK(PF_F__COUNT >= FIELDS_TESTED);
	for (int f = 0; f < (int)PF_ARRAY_LEN(names); f++) {
		CHECK_STR(pf_field_name(f), names[f]);
		CHECK_INT(pf_field_by_name(names[f]), f);
	}
	for (int f = 0; f < PF_F__COUNT; f++)
		EXACT(pf_field_name(f), f); /* the canonical name is a synonym of itself */
	CHECK(pf_field_name(PF_F__COUNT) == NULL);
	CHECK(pf_field_name(-1) == NULL);
	CHECK_INT(pf_field_by_name("Zip"), -1);
	CHECK_INT(pf_field_by_name("zipcode"), -1);
	CHECK_INT(pf_field_by_name(NULL), -1);
	CHECK_INT(pf_field_type_of(PF_F_SOURCE_ID), PF_T_ID);
	CHECK_INT(pf_field_type_of(PF_F_ZIP), PF_T_ID);
	CHECK_INT(pf_field_type_of(PF_F_ADDRESS), PF_T_TEXT);
	CHECK_INT(pf_field_type_of(PF_F_PRICE), PF_T_NUMBER);
	CHECK_INT(pf_field_type_of(PF_F_BATHS), PF_T_NUMBER);
	CHECK_INT(pf_field_type_of(PF_F_YEAR_BUILT), PF_T_INTEGER);
	CHECK_INT(pf_field_type_of(PF_F_LISTED_ON), PF_T_DATE);
	CHECK_INT(pf_field_type_of(PF_F_SOLD_ON), PF_T_DATE);
	CHECK_INT(pf_field_type_of(PF_F_LATITUDE), PF_T_LATITUDE);
	CHECK_INT(pf_field_type_of(PF_F_LONGITUDE), PF_T_LONGITUDE);
	CHECK_STR(pf_match_name(PF_MATCH_NONE), "none");
	CHECK_STR(pf_match_name(PF_MATCH_EXACT), "exact");
	CHECK_STR(pf_match_name(PF_MATCH_FUZZY), "fuzzy");
	CHECK_STR(pf_match_name(PF_MATCH_OVERRIDE), "override");
}

static void test_fold(void)
{
	char buf[16];
	CHECK_INT(pf_mapping_fold("Zip Code", buf, sizeof(buf)), 7);
	CHECK_STR(buf, "zipcode");
	pf_mapping_fold("ZIP_CODE", buf, sizeof(buf));
	CHECK_STR(buf, "zipcode");
	pf_mapping_fold("zip-code", buf, sizeof(buf));
	CHECK_STR(buf, "zipcode");
	pf_mapping_fold("MLS #", buf, sizeof(buf));
	CHECK_STR(buf, "mls");
	pf_mapping_fold("A\xc3\xb1o 2", buf, sizeof(buf));
	CHECK_STR(buf, "ao2");
	CHECK_INT(pf_mapping_fold("", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "");
	CHECK_INT(pf_mapping_fold(NULL, buf, sizeof(buf)), 0);
	CHECK_INT(pf_mapping_fold("abcdefghijklmnopqrstuvwxyz", buf, sizeof(buf)), 15);
	CHECK_STR(buf, "abcdefghijklmno");
	CHECK_INT(pf_mapping_fold("abc", buf, 3), 2); /* at cap */
	CHECK_STR(buf, "ab");
	CHECK_INT(pf_mapping_fold("abc", buf, 4), 3);
	CHECK_INT(pf_mapping_fold("abc", buf, 1), 0);
	CHECK_STR(buf, "");
	CHECK_INT(pf_mapping_fold("abc", buf, 0), 0);
}

static void test_exact(void)
{
	const char *zip[] = {"Zip Code", "ZIP5",     "postal_code", "zipcode",
	                     "Zip",      "ZIP_CODE", "PostalCode",  "ZIP OR POSTAL CODE"};
	for (size_t i = 0; i < PF_ARRAY_LEN(zip); i++)
		EXACT(zip[i], PF_F_ZIP);
	const char *sqft[] = {"Sq Ft",       "BLDG_SQFT",  "Living Area", "sqft_living", "SqFt",
	                      "Square Feet", "LivingArea", "GLA",         "SQUARE FEET"};
	for (size_t i = 0; i < PF_ARRAY_LEN(sqft); i++)
		EXACT(sqft[i], PF_F_SQFT);
	const char *price[] = {"List Price", "LAST_SALE_PRICE", "Price",       "ListPrice",
	                       "Sale Price", "SOLD_PRICE",      "Close Price", "PRICE ($)"};
	for (size_t i = 0; i < PF_ARRAY_LEN(price); i++)
		EXACT(price[i], PF_F_PRICE);
	const char *id[] = {"MLS #",         "MLS Number", "MLS_ID", "APN",         "Parcel ID",
	                    "PARCEL_NUMBER", "ListingId",  "id",     "Property ID", "MLS#"};
	for (size_t i = 0; i < PF_ARRAY_LEN(id); i++)
		EXACT(id[i], PF_F_SOURCE_ID);
	const char *addr[] = {"Address",          "Street Address", "SITUS_ADDRESS",
	                      "Property Address", "FullAddress",    "UnparsedAddress"};
	for (size_t i = 0; i < PF_ARRAY_LEN(addr); i++)
		EXACT(addr[i], PF_F_ADDRESS);
	EXACT("City", PF_F_CITY);
	EXACT("SITUS_CITY", PF_F_CITY);
	EXACT("Municipality", PF_F_CITY);
	EXACT("State", PF_F_STATE);
	EXACT("ST", PF_F_STATE);
	EXACT("StateOrProvince", PF_F_STATE);
	EXACT("STATE OR PROVINCE", PF_F_STATE);
	const char *beds[] = {"Beds", "Bedrooms", "BR", "BEDS_TOTAL", "BedroomsTotal"};
	for (size_t i = 0; i < PF_ARRAY_LEN(beds); i++)
		EXACT(beds[i], PF_F_BEDS);
	const char *baths[] = {"Baths", "Bathrooms", "BA", "BATHS_TOTAL", "BathroomsTotalDecimal"};
	for (size_t i = 0; i < PF_ARRAY_LEN(baths); i++)
		EXACT(baths[i], PF_F_BATHS);
	const char *lot[] = {"Lot Size", "Lot SqFt", "LOT_SQFT", "sqft_lot", "LotSizeSquareFeet"};
	for (size_t i = 0; i < PF_ARRAY_LEN(lot); i++)
		EXACT(lot[i], PF_F_LOT_SQFT);
	const char *yb[] = {"Year Built", "YR_BUILT", "yr_built", "YearBuilt"};
	for (size_t i = 0; i < PF_ARRAY_LEN(yb); i++)
		EXACT(yb[i], PF_F_YEAR_BUILT);
	EXACT("Property Type", PF_F_PROPERTY_TYPE);
	EXACT("PROP_TYPE", PF_F_PROPERTY_TYPE);
	EXACT("Type", PF_F_PROPERTY_TYPE);
	EXACT("Status", PF_F_STATUS);
	EXACT("Listing Status", PF_F_STATUS);
	EXACT("MlsStatus", PF_F_STATUS);
	const char *listed[] = {"List Date", "Listing Date", "ListingContractDate", "date",
	                        "On Market Date"};
	for (size_t i = 0; i < PF_ARRAY_LEN(listed); i++)
		EXACT(listed[i], PF_F_LISTED_ON);
	const char *sold[] = {"Sold Date", "Sale Date", "LAST_SALE_DATE", "CloseDate",
	                      "Closing Date"};
	for (size_t i = 0; i < PF_ARRAY_LEN(sold); i++)
		EXACT(sold[i], PF_F_SOLD_ON);
	EXACT("Latitude", PF_F_LATITUDE);
	EXACT("LAT", PF_F_LATITUDE);
	EXACT("Longitude", PF_F_LONGITUDE);
	EXACT("LON", PF_F_LONGITUDE);
	EXACT("LNG", PF_F_LONGITUDE);
	EXACT("long", PF_F_LONGITUDE);
	EXACT("  Zip  Code  ", PF_F_ZIP);
	EXACT("\xef\xbb\xbfZip", PF_F_ZIP); /* a BOM left on the first header */
}

static void test_fuzzy(void)
{
	FUZZY("Adress", PF_F_ADDRESS);
	FUZZY("Lattitude", PF_F_LATITUDE);
	FUZZY("Bedroms", PF_F_BEDS);
	FUZZY("Zipcod", PF_F_ZIP);
	FUZZY("Longitute", PF_F_LONGITUDE);
	FUZZY("Bathroms", PF_F_BATHS);
	FUZZY("Yearbuilt1", PF_F_YEAR_BUILT);
	FUZZY("Property Zip Code", PF_F_ZIP);
	FUZZY("Property Zip Code (5)", PF_F_ZIP);
	FUZZY("Total Living Area SqFt", PF_F_SQFT);
	FUZZY("TotalLivingAreaSqFt", PF_F_SQFT);
	FUZZY("Original List Price", PF_F_PRICE);
	FUZZY("County Parcel ID", PF_F_SOURCE_ID);
	FUZZY("Listing Status Code", PF_F_STATUS);
	/* weak synonyms */
	FUZZY("Full Baths", PF_F_BATHS);
	FUZZY("PropertySubType", PF_F_PROPERTY_TYPE);
	FUZZY("Use Code", PF_F_PROPERTY_TYPE);
	FUZZY("y", PF_F_LATITUDE);
	FUZZY("X", PF_F_LONGITUDE);
	FUZZY("Point X",
	      PF_F_LONGITUDE); /* the table's last word: MAPPING_SYNONYMS_MAX is enough */

	pf_column_map a = map1("Original List Price"), b = map1("List Price Original Value");
	CHECK(a.confidence < 0.95 && b.confidence < a.confidence);
	pf_column_map c = map1("Adress"), d = map1("Addres");
	CHECK(c.confidence == d.confidence && c.confidence > 0.8);
}

static void test_unmapped(void)
{
	const char *none[] = {
	    "Agent Name",
	    "Remarks",
	    "HOA Fee",
	    "Tax Amount",
	    "Photos",
	    "",
	    "   ",
	    "#",
	    "Listing Agent",
	    "Owner City",
	    "Mailing Address",
	    "Half Baths",
	    "Price per SqFt",
	    "$/SqFt",
	    "$/SQUARE FEET",
	    "Garage SqFt",
	    "Lot Size Acres",
	    "Price Change",
	    "Previous List Price",
	    "PostalCodePlus4",
	    "Public Remarks",
	    "Days on Market",
	    "Subdivision",
	    "County",
	    "Zoning",
	    "School District",
	    "Photo Count",
	    "Status Change Date",
	    "URL",
	    "Sale Type",
	    "Next Open House",
	    "Location",
	    "Unit",
	    "Stories",
	    "Elementary School",
	    "Favorite",
	    "Interested",
	    "Source",
	    "Directions",
	    "Notes",
	    "Taxes",
	    "Lot Size Units",
	    "Assessed Value",
	    "Garage Spaces",
	    "View",
	};
	for (size_t i = 0; i < PF_ARRAY_LEN(none); i++)
		NONE(none[i]);
	pf_column_map m;
	CHECK_INT(pf_mapping_build((const char *const[]){NULL}, 1, &m), 0);
	CHECK_INT(m.field, -1);
	CHECK_INT(pf_mapping_build(NULL, 0, NULL), 0);
}

static void test_once(void)
{
	/* the highest confidence wins; the earlier column on a tie; losers stay unmapped */
	const char *h[] = {
	    "Adress",     "Zip",        "Address",           "ZIP5",   "Full Baths", "Baths",
	    "List Price", "Sale Price", "Property Zip Code", "Remarks"};
	pf_column_map m[PF_ARRAY_LEN(h)];
	CHECK_INT(pf_mapping_build(h, PF_ARRAY_LEN(h), m), 0);
	CHECK_INT(m[0].field, -1); /* fuzzy address loses to the exact one */
	CHECK_INT(m[0].match, PF_MATCH_NONE);
	CHECK(m[0].confidence == 0);
	CHECK_INT(m[1].field, PF_F_ZIP);
	CHECK_INT(m[2].field, PF_F_ADDRESS);
	CHECK_INT(m[3].field, -1); /* tie: the earlier ZIP wins */
	CHECK_INT(m[4].field, -1); /* weak loses to exact */
	CHECK_INT(m[5].field, PF_F_BATHS);
	CHECK_INT(m[6].field, PF_F_PRICE);
	CHECK_INT(m[7].field, -1);
	CHECK_INT(m[8].field, -1);
	CHECK_INT(m[9].field, -1);

	/* a real Redfin header row */
	const char *redfin[] = {
	    "SALE TYPE",
	    "SOLD DATE",
	    "PROPERTY TYPE",
	    "ADDRESS",
	    "CITY",
	    "STATE OR PROVINCE",
	    "ZIP OR POSTAL CODE",
	    "PRICE",
	    "BEDS",
	    "BATHS",
	    "LOCATION",
	    "SQUARE FEET",
	    "LOT SIZE",
	    "YEAR BUILT",
	    "DAYS ON MARKET",
	    "$/SQUARE FEET",
	    "HOA/MONTH",
	    "STATUS",
	    "NEXT OPEN HOUSE START TIME",
	    "NEXT OPEN HOUSE END TIME",
	    "URL (SEE https://www.redfin.com/buy-a-home/comparative-market-analysis FOR INFO ON "
	    "PRICING)",
	    "SOURCE",
	    "MLS#",
	    "FAVORITE",
	    "INTERESTED",
	    "LATITUDE",
	    "LONGITUDE"};
	int want[] = {-1,
	              PF_F_SOLD_ON,
	              PF_F_PROPERTY_TYPE,
	              PF_F_ADDRESS,
	              PF_F_CITY,
	              PF_F_STATE,
	              PF_F_ZIP,
	              PF_F_PRICE,
	              PF_F_BEDS,
	              PF_F_BATHS,
	              -1,
	              PF_F_SQFT,
	              PF_F_LOT_SQFT,
	              PF_F_YEAR_BUILT,
	              -1,
	              -1,
	              -1,
	              PF_F_STATUS,
	              -1,
	              -1,
	              -1,
	              -1,
	              PF_F_SOURCE_ID,
	              -1,
	              -1,
	              PF_F_LATITUDE,
	              PF_F_LONGITUDE};
	pf_column_map r[PF_ARRAY_LEN(redfin)];
	CHECK_INT(pf_mapping_build(redfin, PF_ARRAY_LEN(redfin), r), 0);
	for (size_t i = 0; i < PF_ARRAY_LEN(redfin); i++)
		CHECK_MSG(r[i].field == want[i] || (want[i] == -1 && UNMAPPED(r[i].field)),
		          "redfin \"%s\" -> %s (got %s)", redfin[i],
		          want[i] >= 0 ? pf_field_name(want[i]) : "-",
		          r[i].field >= 0 ? pf_field_name(r[i].field) : "-");

	/* a RESO-style header row */
	const char *reso[] = {
	    "ListingKey",        "ListingId",       "StandardStatus",  "MlsStatus",
	    "PropertyType",      "PropertySubType", "UnparsedAddress", "City",
	    "StateOrProvince",   "PostalCode",      "PostalCodePlus4", "ListPrice",
	    "OriginalListPrice", "ClosePrice",      "BedroomsTotal",   "BathroomsTotalInteger",
	    "BathroomsFull",     "BathroomsHalf",   "LivingArea",      "LivingAreaUnits",
	    "LotSizeSquareFeet", "LotSizeAcres",    "YearBuilt",       "ListingContractDate",
	    "CloseDate",         "Latitude",        "Longitude",       "PublicRemarks",
	    "ListAgentFullName"};
	int rwant[] = {PF_F_SOURCE_ID,
	               -1,
	               PF_F_STATUS,
	               -1,
	               PF_F_PROPERTY_TYPE,
	               -1,
	               PF_F_ADDRESS,
	               PF_F_CITY,
	               PF_F_STATE,
	               PF_F_ZIP,
	               -1,
	               PF_F_PRICE,
	               -1,
	               -1,
	               PF_F_BEDS,
	               PF_F_BATHS,
	               -1,
	               -1,
	               PF_F_SQFT,
	               -1,
	               PF_F_LOT_SQFT,
	               -1,
	               PF_F_YEAR_BUILT,
	               PF_F_LISTED_ON,
	               PF_F_SOLD_ON,
	               PF_F_LATITUDE,
	               PF_F_LONGITUDE,
	               -1,
	               -1};
	pf_column_map rr[PF_ARRAY_LEN(reso)];
	CHECK_INT(PF_ARRAY_LEN(reso), PF_ARRAY_LEN(rwant));
	CHECK_INT(pf_mapping_build(reso, PF_ARRAY_LEN(reso), rr), 0);
	for (size_t i = 0; i < PF_ARRAY_LEN(reso); i++)
		CHECK_MSG(rr[i].field == rwant[i] || (rwant[i] == -1 && UNMAPPED(rr[i].field)),
		          "reso \"%s\" -> %s (got %s)", reso[i],
		          rwant[i] >= 0 ? pf_field_name(rwant[i]) : "-",
		          rr[i].field >= 0 ? pf_field_name(rr[i].field) : "-");
}

static void test_caps(void)
{
	/* only the first PF_MAPPING_HEADER_MAX bytes count */
	char h[PF_MAPPING_HEADER_MAX + 16];
	memset(h, ' ', sizeof(h));
	memcpy(h + PF_MAPPING_HEADER_MAX - 3, "zip", 3);
	h[PF_MAPPING_HEADER_MAX] = '\0';
	EXACT(h, PF_F_ZIP); /* ends at the cap */
	memset(h, ' ', sizeof(h));
	memcpy(h + PF_MAPPING_HEADER_MAX - 2, "zip", 3);
	h[PF_MAPPING_HEADER_MAX + 1] = '\0';
	NONE(h); /* "zi" within the cap */
	memset(h, 'q', sizeof(h));
	h[sizeof(h) - 1] = '\0';
	NONE(h);
	/* fuzzy stops past 40 folded letters: exact still works with long padding */
	FUZZY("Property Zip Code Of The Subject Site", PF_F_ZIP);  /* 31 letters */
	NONE("Property Zip Code Of The Subject Site As Recorded"); /* 41 */
}

static void test_speed(void)
{
	enum { N = 50000 };
	static char buf[N][48];
	static const char *hs[N];
	static pf_column_map m[N];
	const char *words[] = {"Property", "Zip",       "Code",   "Total",   "Living", "Area",
	                       "Agent",    "Lattitude", "Adress", "Custom",  "Field",  "Remarks",
	                       "SqFt",     "List",      "Price",  "Bedroms", "Status", "Date"};
	unsigned seed = 12345;
	for (int i = 0; i < N; i++) {
		size_t o = 0;
		int nw = 1 + (int)(seed % 5);
		for (int w = 0; w < nw; w++) {
			seed = seed * 1103515245u + 12345u;
			const char *word = words[(seed >> 16) % PF_ARRAY_LEN(words)];
			o += (size_t)snprintf(buf[i] + o, sizeof(buf[i]) - o, "%s%s", w ? " " : "",
			                      word);
			if (o >= sizeof(buf[i]) - 1)
				break;
		}
		seed = seed * 1103515245u + 12345u;
		hs[i] = buf[i];
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = pf_mapping_build(hs, N, m);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	CHECK_INT(rc, 0);
	int mapped = 0;
	for (int i = 0; i < N; i++)
		mapped += m[i].field >= 0;
	CHECK(mapped <= PF_F__COUNT);
	/* speed is measured by benchmarks, not asserted here */
	printf("# 50,000 headers mapped in %.1f ms\n", ms);
}

int main(void)
{
	test_fields();
	test_fold();
	test_exact();
	test_fuzzy();
	test_unmapped();
	test_once();
	test_caps();
	test_speed();
	return CHECK_DONE();
}
