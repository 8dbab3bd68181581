/*
 * mapping.c - the mapping of an export's header names onto the canonical
 * property fields (fields.h).
 *
 * A header is folded (lower-case ASCII letters and digits only) and looked
 * up in a synonym table; an exact hit scores 1.0. Otherwise two fuzzy tests
 * may map it with a lower confidence in [PF_MAPPING_FUZZY_MIN, 1):
 *   - containment: a synonym (4+ letters) lies in the header on word
 *     boundaries ("Original List Price" holds "list price"); the score grows
 *     with the share of the header the synonym covers (0.6 .. 0.95);
 *   - spelling: Damerau (optimal string alignment) distance of at most 1,
 *     or 2 when both words have 8+ letters ("Adress", "Lattitude");
 *     score 1 - distance / length.
 * Weak synonyms ("Full Baths", "Use Code", "y") are exact words that probably
 * but not surely mean the field: they score 0.85 and are reported as fuzzy so
 * that a better column wins and the user sees them.
 * A header with a word such as "agent", "owner", "per", "half" or "tax" is
 * never mapped fuzzily ("Owner City", "Price per SqFt", "Half Baths"), and a
 * header with a '$' can only be the price ("$/SqFt" is not the area).
 *
 * Cost: O(headers x synonyms), with letter-set and length pruning before
 * any distance is computed; headers folding to more than
 * MAPPING_FUZZY_LEN_MAX letters are only matched exactly.
 */
#include "propflow/ingest/mapping.h"

#include <math.h>
#include <string.h>

#define MAPPING_FUZZY_LEN_MAX 40 /* longer folded headers are matched exactly only */
#define MAPPING_CONTAIN_MIN   4  /* shortest synonym used for containment */
#define MAPPING_EDIT_MIN      5  /* shortest word compared by spelling */
#define MAPPING_WEAK_SCORE    0.85
#define MAPPING_CONTAIN_BASE  0.6
#define MAPPING_CONTAIN_SPAN  0.35
#define MAPPING_TOKENS_MAX    64 /* words of a header checked against the stop list */

const char *pf_match_name(pf_match m)
{
	switch (m) {
	case PF_MATCH_NONE: return "none";
	case PF_MATCH_EXACT: return "exact";
	case PF_MATCH_FUZZY: return "fuzzy";
	case PF_MATCH_OVERRIDE: return "override";
	}
	return "none";
}

/* ---- synonyms --------------------------------------------------------- */

/*
 * Folded synonyms, space-separated, per field (keyed by the field table's
 * enum; a field left out here is matched by its own folded name). A leading '=' marks a word
 * matched exactly only (too generic to look for inside longer headers:
 * "type", "date"); '~' marks a weak synonym (exact only, scored
 * MAPPING_WEAK_SCORE). Several fields in one export (List Price and Sale
 * Price) are all exact: the earlier column wins.
 */
static const char *const synonyms[PF_F__COUNT] = {
    [PF_F_SOURCE_ID] = "sourceid =id mls mlsnumber mlsno mlsnum mlsid mlslistingnumber listingid "
                       "listingkey listingnumber listingno listnumber apn apnnumber parcelid "
                       "parcelnumber parcelno parcel propertyid propid recordid zpid pin",
    [PF_F_ADDRESS] = "address streetaddress streetaddr situsaddress situsaddr siteaddress "
                     "siteaddr propertyaddress fulladdress fullstreetaddress unparsedaddress "
                     "addr address1 addressline1 locationaddress",
    [PF_F_CITY] = "city situscity sitecity municipality town propertycity cityname "
                  "postalcity locality",
    [PF_F_STATE] = "state st stateorprovince stateprovince statecode situsstate "
                   "propertystate province stateabbr",
    [PF_F_ZIP] = "zip zipcode zip5 zipcd postalcode postcode zippostalcode ziporpostalcode "
                 "situszip situszipcode sitezip propertyzip",
    [PF_F_PRICE] = "price listprice listingprice lastsaleprice saleprice salesprice "
                   "soldprice lastsoldprice closeprice closingprice currentprice askingprice "
                   "saleamount soldamount",
    [PF_F_BEDS] = "beds bedrooms br bd bed bedstotal bedroomstotal totalbedrooms "
                  "numbedrooms bdrms numberofbedrooms brs",
    [PF_F_BATHS] = "baths bathrooms ba bath bathstotal bathroomstotal bathroomstotaldecimal "
                   "bathroomstotalinteger totalbathrooms totalbaths numbathrooms "
                   "numberofbathrooms ~fullbaths ~bathsfull ~bathroomsfull",
    [PF_F_SQFT] = "sqft sqfeet squarefeet squarefootage livingarea livingsqft sqftliving "
                  "livingareasqft bldgsqft buildingsqft buildingarea gla grosslivingarea "
                  "livingsquarefeet finishedsqft heatedsqft sqfttotal totalsqft "
                  "abovegradefinishedarea bldgarea",
    [PF_F_LOT_SQFT] = "lotsqft lotsize lotsizesqft lotsizesquarefeet sqftlot lotarea "
                      "lotsquarefeet lotsf landsqft landarea landsquarefeet ~lotsizearea",
    [PF_F_YEAR_BUILT] = "yearbuilt yrbuilt builtyear yearconstructed yrblt yearblt "
                        "~effectiveyearbuilt",
    [PF_F_PROPERTY_TYPE] = "propertytype proptype =type hometype buildingtype dwellingtype "
                           "propertyuse propertyclass ~propertysubtype ~usecode ~landuse "
                           "~usedescription",
    [PF_F_STATUS] = "=status listingstatus mlsstatus standardstatus salestatus liststatus "
                    "propertystatus currentstatus",
    [PF_F_LISTED_ON] = "listedon listdate listingdate listingcontractdate =date onmarketdate "
                       "datelisted listeddate dateonmarket",
    [PF_F_SOLD_ON] = "soldon solddate saledate salesdate lastsaledate lastsolddate closedate "
                     "closingdate closeddate datesold dateofsale ~recordingdate "
                     "closeofescrowdate coedate",
    [PF_F_LATITUDE] = "latitude lat geolat ~y ~pointy",
    [PF_F_LONGITUDE] = "longitude lon lng =long geolon geolng ~x ~pointx",
};

#define SYN_EXACT_ONLY 1
#define SYN_WEAK       2

/* Header words that make a fuzzy match wrong far more often than right. */
static const char *const stop_words[] = {
    "agent",      "office",   "broker",     "owner",    "mailing",    "mail",  "email",   "web",
    "url",        "tax",      "taxes",      "hoa",      "fee",        "fees",  "remarks", "photo",
    "photos",     "school",   "half",       "partial",  "quarter",    "per",   "change",  "reduced",
    "reduction",  "previous", "prev",       "prior",    "history",    "units", "acres",   "acre",
    "plus",       "count",    "garage",     "basement", "porch",      "deck",  "patio",   "pool",
    "below",      "assessed", "assessment", "zoning",   "commission", "buyer", "seller",  "showing",
    "directions", "days",
};

/* A synonym prepared for one pf_mapping_build call. */
#define MAPPING_SYNONYMS_MAX 320 /* room for every word of synonyms[] (a test checks) */
#define MAPPING_OWN_NAME_MAX 64  /* a field's folded name, its only synonym when it has none */

struct syn_prep {
	const char *name; /* borrowed from synonyms[]: folded, marker skipped, not NUL-ended */
	pf_field field;
	int len;
	int flags;     /* SYN_* */
	uint64_t mask; /* letters and digits present */
};

/* A folded header and its word starts. */
struct folded {
	char s[PF_MAPPING_HEADER_MAX + 1];
	bool start[PF_MAPPING_HEADER_MAX + 1]; /* a word starts at s[i] (start[len] is set) */
	int len;
	uint64_t mask;
	bool dollar; /* the header holds a '$' */
	bool stop;   /* the header holds a stop word */
};

static int fold_char(unsigned char c)
{
	if (c >= 'a' && c <= 'z')
		return c;
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if (c >= '0' && c <= '9')
		return c;
	return 0;
}

static uint64_t mask_bit(char c)
{
	return c >= 'a' ? (uint64_t)1 << (c - 'a') : (uint64_t)1 << (26 + c - '0');
}

size_t pf_mapping_fold(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	if (cap == 0)
		return 0;
	for (const char *p = in; p && *p && n < cap - 1; p++) {
		int c = fold_char((unsigned char)*p);
		if (c)
			out[n++] = (char)c;
	}
	out[n] = '\0';
	return n;
}

static bool is_upper(unsigned char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_lower(unsigned char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_stop_word(const char *w, int len)
{
	for (size_t i = 0; i < PF_ARRAY_LEN(stop_words); i++)
		if ((int)strlen(stop_words[i]) == len && memcmp(stop_words[i], w, (size_t)len) == 0)
			return true;
	return false;
}

/* Folds the first PF_MAPPING_HEADER_MAX bytes of h, marking where words start: after
 * punctuation, at a lower-to-upper change ("ListPrice"), before the last capital of a
 * run followed by a lower-case letter ("ZIPCode") and between letters and digits. */
static void fold_header(const char *h, struct folded *f)
{
	size_t hl = h ? strnlen(h, PF_MAPPING_HEADER_MAX) : 0;
	unsigned char prev = 0;

	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < hl; i++) {
		unsigned char c = (unsigned char)h[i];
		unsigned char next = i + 1 < hl ? (unsigned char)h[i + 1] : 0;
		int fc = fold_char(c);
		if (c == '$')
			f->dollar = true;
		if (!fc) {
			prev = 0;
			continue;
		}
		bool st = f->len == 0 || !prev || (is_lower(prev) && is_upper(c)) ||
		          (is_upper(prev) && is_upper(c) && is_lower(next)) ||
		          (is_digit(prev) != is_digit(c));
		f->start[f->len] = st;
		f->s[f->len++] = (char)fc;
		f->mask |= mask_bit((char)fc);
		prev = c;
	}
	f->start[f->len] = true;

	int ntok = 0;
	for (int i = 0; i < f->len && ntok < MAPPING_TOKENS_MAX; ntok++) {
		int j = i + 1;
		while (j < f->len && !f->start[j])
			j++;
		if (is_stop_word(f->s + i, j - i))
			f->stop = true;
		i = j;
	}
}

/* Optimal string alignment distance, or limit + 1 once it must exceed limit. */
static int osa_distance(const char *a, int la, const char *b, int lb, int limit)
{
	int rows[3][MAPPING_FUZZY_LEN_MAX + 1];
	int *pp = rows[0], *p = rows[1], *c = rows[2];

	if (la - lb > limit || lb - la > limit || la > MAPPING_FUZZY_LEN_MAX ||
	    lb > MAPPING_FUZZY_LEN_MAX)
		return limit + 1;
	for (int j = 0; j <= lb; j++)
		p[j] = j;
	for (int i = 1; i <= la; i++) {
		int best = c[0] = i;
		for (int j = 1; j <= lb; j++) {
			int cost = a[i - 1] != b[j - 1];
			int v = p[j - 1] + cost;
			if (p[j] + 1 < v)
				v = p[j] + 1;
			if (c[j - 1] + 1 < v)
				v = c[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			c[j] = v;
			if (v < best)
				best = v;
		}
		if (best > limit)
			return limit + 1;
		int *t = pp;
		pp = p;
		p = c;
		c = t;
	}
	return p[lb];
}

static int popcount64(uint64_t v)
{
	return __builtin_popcountll(v);
}

/* Rounded to two decimals so the confidence reads cleanly in the job object. */
static double round2(double v)
{
	return floor(v * 100.0 + 0.5) / 100.0;
}

static void map_one(const char *h, const struct syn_prep *syn, size_t nsyn, pf_column_map *m)
{
	struct folded f;
	double best = 0;

	m->field = -1;
	m->confidence = 0;
	m->match = PF_MATCH_NONE;
	fold_header(h, &f);
	if (f.len == 0)
		return;

	for (size_t k = 0; k < nsyn; k++) { /* exact */
		const struct syn_prep *s = &syn[k];
		if (s->len != f.len || memcmp(s->name, f.s, (size_t)f.len) != 0)
			continue;
		if (f.dollar && s->field != PF_F_PRICE)
			continue;
		double score = (s->flags & SYN_WEAK) ? MAPPING_WEAK_SCORE : 1.0;
		if (score > best) {
			best = score;
			m->field = (int)s->field;
			m->confidence = score;
			m->match = score == 1.0 ? PF_MATCH_EXACT : PF_MATCH_FUZZY;
		}
	}
	if (best == 1.0 || f.stop || f.len > MAPPING_FUZZY_LEN_MAX)
		return;

	for (size_t k = 0; k < nsyn; k++) { /* fuzzy */
		const struct syn_prep *s = &syn[k];
		double score = 0;
		if (s->flags || (f.dollar && s->field != PF_F_PRICE))
			continue;
		if (s->len >= MAPPING_CONTAIN_MIN && s->len < f.len && !(s->mask & ~f.mask)) {
			for (int i = 0; i + s->len <= f.len; i++) {
				if (!f.start[i] || !f.start[i + s->len] ||
				    memcmp(f.s + i, s->name, (size_t)s->len) != 0)
					continue;
				score = MAPPING_CONTAIN_BASE +
				        MAPPING_CONTAIN_SPAN * (double)s->len / (double)f.len;
				break;
			}
		}
		if (f.len >= MAPPING_EDIT_MIN && s->len >= MAPPING_EDIT_MIN &&
		    popcount64(s->mask ^ f.mask) <= 4) {
			int maxlen = f.len > s->len ? f.len : s->len;
			int minlen = f.len < s->len ? f.len : s->len;
			int limit = minlen >= 8 ? 2 : 1;
			int d = osa_distance(f.s, f.len, s->name, s->len, limit);
			if (d <= limit) {
				double sim = 1.0 - (double)d / (double)maxlen;
				if (sim > score)
					score = sim;
			}
		}
		score = round2(score);
		if (score >= PF_MAPPING_FUZZY_MIN && score > best) {
			best = score;
			m->field = (int)s->field;
			m->confidence = score;
			m->match = PF_MATCH_FUZZY;
		}
	}
}

int pf_mapping_build(const char *const *headers, size_t n, pf_column_map *out)
{
	struct syn_prep syn[MAPPING_SYNONYMS_MAX];
	char own[PF_F__COUNT][MAPPING_OWN_NAME_MAX]; /* folded names of fields without synonyms */
	size_t nsyn = 0, winner[PF_F__COUNT];

	for (int f = 0; f < PF_F__COUNT; f++) {
		const char *list = synonyms[f];
		if (!list) {
			pf_mapping_fold(pf_field_name((pf_field)f), own[f], sizeof(own[f]));
			list = own[f];
		}
		for (const char *p = list; *p && nsyn < MAPPING_SYNONYMS_MAX;) {
			struct syn_prep *s = &syn[nsyn++];
			s->flags = 0;
			if (*p == '=')
				s->flags = SYN_EXACT_ONLY;
			else if (*p == '~')
				s->flags = SYN_WEAK;
			if (s->flags)
				p++;
			s->name = p;
			s->field = (pf_field)f;
			s->mask = 0;
			while (*p && *p != ' ')
				s->mask |= mask_bit(*p++);
			s->len = (int)(p - s->name);
			while (*p == ' ')
				p++;
		}
	}

	for (size_t i = 0; i < n; i++)
		map_one(headers[i], syn, nsyn, &out[i]);

	/* Each field goes to one column: highest confidence, then the earliest. */
	for (int f = 0; f < PF_F__COUNT; f++)
		winner[f] = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		int f = out[i].field;
		if (f < 0)
			continue;
		if (winner[f] == SIZE_MAX || out[i].confidence > out[winner[f]].confidence)
			winner[f] = i;
	}
	for (size_t i = 0; i < n; i++) {
		int f = out[i].field;
		if (f >= 0 && winner[f] != i) {
			out[i].field = -1;
			out[i].confidence = 0;
			out[i].match = PF_MATCH_NONE;
		}
	}
	return 0;
}
