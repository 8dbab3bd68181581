/*
 * test_csv.c - the streaming CSV reader: quoting, line endings, BOM,
 * delimiter and encoding detection, caps at cap and cap+1, streaming at
 * every split point, pause and resume.
 */
#include "check.h"
#include "utf8_valid.h"
#include "propflow/ingest/csv.h"

#include <stdint.h>
#include <stdlib.h>

/* ---- a record collector that serialises what it sees ---- */

typedef struct coll {
	char *s; /* owned: one line per record */
	size_t len;
	size_t cap;
	int nrec;
	bool raw;    /* include raw text */
	bool pause;  /* pause after every record */
	int fail_at; /* return -99 at this record number (1-based), 0 never */
	bool bad;    /* an invariant broke */
} coll;

static void out(coll *c, const char *s, size_t n)
{
	if (c->len + n + 1 > c->cap) {
		c->cap = (c->len + n + 1) * 2;
		c->s = realloc(c->s, c->cap);
	}
	memcpy(c->s + c->len, s, n);
	c->len += n;
	c->s[c->len] = '\0';
}

static void outs(coll *c, const char *s)
{
	out(c, s, strlen(s));
}

static int collect_cb(void *arg, const pf_csv_record *r)
{
	coll *c = arg;
	char tmp[160];
	c->nrec++;
	snprintf(tmp, sizeof(tmp), "#%llu@%llu", (unsigned long long)r->index,
	         (unsigned long long)r->line);
	outs(c, tmp);
	if (r->error) {
		outs(c, " E:");
		outs(c, pf_csv_error_str(r->error));
	}
	outs(c, " [");
	for (size_t i = 0; i < r->nfields; i++) {
		if (i)
			outs(c, "|");
		if (!r->fields[i] || strlen(r->fields[i]) != r->lens[i] ||
		    !utf8_valid(r->fields[i], r->lens[i]))
			c->bad = true;
		out(c, r->fields[i], r->lens[i]);
	}
	outs(c, "]");
	if (!r->raw || !utf8_valid(r->raw, r->raw_len))
		c->bad = true;
	if (c->raw) {
		outs(c, " raw=");
		out(c, r->raw, r->raw_len);
		if (r->raw_truncated)
			outs(c, "...");
	}
	outs(c, "\n");
	if (c->fail_at && c->nrec == c->fail_at)
		return -99;
	return c->pause ? PF_CSV_PAUSED : 0;
}

typedef struct result {
	char *s; /* owned */
	pf_csv_encoding enc;
	char delim;
	uint64_t nul, lines, bytes;
	bool bad;
	int rc;
	int pauses;
} result;

static void result_free(result *r)
{
	free(r->s);
	memset(r, 0, sizeof(*r));
}

/* Feeds in pieces: cuts[] are split offsets (ascending), or every `chunk`
 * bytes when chunk > 0. */
static result run_cuts(const char *in, size_t len, const pf_csv_limits *lim, bool raw,
                       const size_t *cuts, size_t ncuts, size_t chunk, bool pause)
{
	pf_csv_limits def;
	if (!lim) {
		pf_csv_limits_default(&def);
		lim = &def;
	}
	coll c = {.raw = raw, .pause = pause};
	result r = {0};
	pf_csv *csv = pf_csv_new(lim, collect_cb, &c);
	size_t pos = 0, ci = 0;
	while (pos < len && r.rc >= 0) {
		size_t stop = len;
		if (chunk)
			stop = pos + chunk < len ? pos + chunk : len;
		else if (ci < ncuts)
			stop = cuts[ci++];
		while (pos < stop) {
			size_t used;
			int rc = pf_csv_feed(csv, in + pos, stop - pos, &used);
			pos += used;
			if (rc == PF_CSV_PAUSED) {
				r.pauses++;
				continue;
			}
			if (rc) {
				r.rc = rc;
				break;
			}
			if (used != stop - (pos - used)) {
				r.rc = -1000; /* not all taken without a pause */
				break;
			}
		}
	}
	if (r.rc >= 0)
		r.rc = pf_csv_finish(csv);
	r.s = c.s ? c.s : strdup("");
	r.enc = pf_csv_encoding_of(csv);
	r.delim = pf_csv_delimiter(csv);
	r.nul = pf_csv_nul_bytes(csv);
	r.lines = pf_csv_lines(csv);
	r.bytes = pf_csv_bytes_in(csv);
	r.bad = c.bad;
	pf_csv_free(csv);
	return r;
}

static result run(const char *in, size_t len, const pf_csv_limits *lim, bool raw)
{
	return run_cuts(in, len, lim, raw, NULL, 0, 0, false);
}

#define RUNS(str)      run(str, sizeof(str) - 1, NULL, false)
#define RUNR(str, lim) run(str, sizeof(str) - 1, lim, true)
#define RUNL(str, lim) run(str, sizeof(str) - 1, lim, false)

/* Checks that parsing `in` gives `want` (fields only). */
static void expect(const char *in, size_t len, const char *want, const char *what)
{
	result r = run(in, len, NULL, false);
	CHECK_MSG(r.s && strcmp(r.s, want) == 0 && !r.bad && r.rc == 0,
	          "%s: got \"%s\" want \"%s\"", what, r.s, want);
	result_free(&r);
}
#define EXPECT(in, want) expect(in, sizeof(in) - 1, want, #in)

/* ---- tests ---- */

static void test_basic(void)
{
	result r = RUNR("a,b,c\n1,2,3\n", NULL);
	CHECK_STR(r.s, "#0@1 [a|b|c] raw=a,b,c\n#1@2 [1|2|3] raw=1,2,3\n");
	CHECK_INT(r.enc, PF_CSV_ENC_UTF8);
	CHECK_INT(r.delim, ',');
	CHECK_INT(r.lines, 2);
	CHECK_INT(r.bytes, 12);
	CHECK_INT(r.rc, 0);
	result_free(&r);

	EXPECT("a,,c\n,\n", "#0@1 [a||c]\n#1@2 [|]\n");
	EXPECT("x\n\"\"\n", "#0@1 [x]\n#1@2 []\n"); /* a quoted empty field is a record */
	EXPECT(" \n", "#0@1 [ ]\n");                /* whitespace is not blank */
}

static void test_quotes(void)
{
	EXPECT("\"a,b\",\"c\"\"d\",e\n", "#0@1 [a,b|c\"d|e]\n");
	EXPECT("\"\"\"\"\n", "#0@1 [\"]\n");
	EXPECT("\"\",\"\"\n", "#0@1 [|]\n");
	EXPECT("ab\"c,d\n", "#0@1 [ab\"c|d]\n"); /* stray quote kept */
	EXPECT("\"ab\"c,d\n", "#0@1 [abc|d]\n"); /* text after closing quote */
	EXPECT("\"ab\" c\"d\",e\n", "#0@1 [ab c\"d\"|e]\n");
	EXPECT("a,\"b\"\n", "#0@1 [a|b]\n");
	EXPECT("a,\"b\"", "#0@1 [a|b]\n");
	EXPECT("a,\"b\"\"\"\n", "#0@1 [a|b\"]\n");
	EXPECT(" \"a\",b\n", "#0@1 [ \"a\"|b]\n"); /* quote not at field start */

	/* embedded newlines, and line numbers after them */
	result r = RUNS("h1,h2\n\"x\ny\",z\n\"p\r\nq\rr\",s\nnext,1\n");
	CHECK_STR(r.s, "#0@1 [h1|h2]\n#1@2 [x\ny|z]\n#2@4 [p\r\nq\rr|s]\n#3@7 [next|1]\n");
	CHECK_INT(r.lines, 7);
	result_free(&r);

	r = RUNR("a\n\"multi\nline\",\"x,\"\"y\"\"\"\n", NULL);
	CHECK_STR(
	    r.s,
	    "#0@1 [a] raw=a\n#1@2 [multi\nline|x,\"y\"] raw=\"multi\nline\",\"x,\"\"y\"\"\"\n");
	result_free(&r);
}

static void test_line_endings(void)
{
	EXPECT("a,b\r\n1,2\r\n", "#0@1 [a|b]\n#1@2 [1|2]\n");
	EXPECT("a,b\r1,2\r", "#0@1 [a|b]\n#1@2 [1|2]\n");
	EXPECT("a\r\nb\rc\nd", "#0@1 [a]\n#1@2 [b]\n#2@3 [c]\n#3@4 [d]\n");
	EXPECT("a\n\rb\n", "#0@1 [a]\n#1@3 [b]\n"); /* LF then CR: two line endings */
	EXPECT("\"a\"\r\n\"b\"\r", "#0@1 [a]\n#1@2 [b]\n");
	result r = RUNS("a\r\n\r\n\r\rb\n\n\nc");
	CHECK_STR(r.s, "#0@1 [a]\n#1@5 [b]\n#2@8 [c]\n");
	CHECK_INT(r.lines, 8);
	result_free(&r);
}

static void test_blank_lines(void)
{
	result r = RUNS("\n\n h\n\nx\n\n\ny\n\n");
	CHECK_STR(r.s, "#0@3 [ h]\n#1@5 [x]\n#2@8 [y]\n");
	CHECK_INT(r.lines, 9);
	result_free(&r);

	r = RUNS("\n\r\n\n");
	CHECK_STR(r.s, "");
	CHECK_INT(r.lines, 3);
	result_free(&r);

	/* header only, empty input */
	r = RUNS("a,b,c\n");
	CHECK_STR(r.s, "#0@1 [a|b|c]\n");
	result_free(&r);
	r = RUNS("a,b,c");
	CHECK_STR(r.s, "#0@1 [a|b|c]\n");
	CHECK_INT(r.lines, 1);
	result_free(&r);
	r = run("", 0, NULL, false);
	CHECK_STR(r.s, "");
	CHECK_INT(r.rc, 0);
	CHECK_INT(r.lines, 0);
	CHECK_INT(r.delim, ',');
	result_free(&r);
}

static void test_bom(void)
{
	result r = RUNS("\xEF\xBB\xBFid;name\n1;Caf\xC3\xA9\n");
	CHECK_STR(r.s, "#0@1 [id|name]\n#1@2 [1|Café]\n");
	CHECK_INT(r.enc, PF_CSV_ENC_UTF8);
	CHECK_INT(r.delim, ';');
	CHECK_INT(r.bytes, 19);
	result_free(&r);
	/* a BOM alone, and a blank first line after the BOM */
	EXPECT("\xEF\xBB\xBF", "");
	r = RUNS("\xEF\xBB\xBF\na;b\n");
	CHECK_STR(r.s, "#0@2 [a|b]\n");
	CHECK_INT(r.delim, ';');
	result_free(&r);
	/* a BOM prefix that is not one: EF BB then text (cp1252) */
	r = RUNS("\xEF\xBBx\n");
	CHECK_STR(r.s, "#0@1 [ï»x]\n");
	CHECK_INT(r.enc, PF_CSV_ENC_CP1252);
	result_free(&r);
	/* only the first BOM is dropped */
	EXPECT("\xEF\xBB\xBF\xEF\xBB\xBF"
	       "a\n",
	       "#0@1 [\xEF\xBB\xBF"
	       "a]\n");
}

static void test_delimiters(void)
{
	struct {
		const char *in;
		char delim;
		const char *want;
	} cases[] = {
	    {"a,b,c\n1,2,3\n", ',', "#0@1 [a|b|c]\n#1@2 [1|2|3]\n"},
	    {"a;b;c\n1;2,5;3\n", ';', "#0@1 [a|b|c]\n#1@2 [1|2,5|3]\n"},
	    {"a\tb\tc\n1\t2\t3\n", '\t', "#0@1 [a|b|c]\n#1@2 [1|2|3]\n"},
	    {"a|b|c\n1|2|3\n", '|', "#0@1 [a|b|c]\n#1@2 [1|2|3]\n"},
	    {"single\nx\n", ',', "#0@1 [single]\n#1@2 [x]\n"},
	    {"a;b,c\n", ',', "#0@1 [a;b|c]\n"},             /* tie: comma */
	    {"a;b\tc\n", ',', "#0@1 [a;b\tc]\n"},           /* tie without comma */
	    {"\"a,b,c\";d;e\n", ';', "#0@1 [a,b,c|d|e]\n"}, /* quoted ones ignored */
	    {"\"x\"\"y,z\",\"q\";r;s\n", ';', "#0@1 [x\"y,z,\"q\"|r|s]\n"},
	    {"\n\na|b,c|d\n", '|', "#0@3 [a|b,c|d]\n"},              /* blank lines first */
	    {"a|b\nc,d,e,f\n", '|', "#0@1 [a|b]\n#1@2 [c,d,e,f]\n"}, /* header line only */
	    {"\"h\nx;y;z\",a|b|c\n", '|', "#0@1 [h\nx;y;z,a|b|c]\n"},
	    {"\"h\nx;y;z\",a|b\n", ',', "#0@1 [h\nx;y;z|a|b]\n"},
	    /* tie */ /* newline inside quotes */
	};
	for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
		result r = run(cases[i].in, strlen(cases[i].in), NULL, false);
		CHECK_MSG(r.delim == cases[i].delim, "delimiter case %zu: got %d want %d", i,
		          r.delim, cases[i].delim);
		CHECK_MSG(strcmp(r.s, cases[i].want) == 0, "delimiter case %zu: got \"%s\"", i,
		          r.s);
		result_free(&r);
	}
	/* forced */
	pf_csv_limits lim;
	pf_csv_limits_default(&lim);
	lim.delimiter = ';';
	result r = RUNL("a,b;c\n", &lim);
	CHECK_STR(r.s, "#0@1 [a,b|c]\n");
	CHECK_INT(r.delim, ';');
	result_free(&r);
}

static void test_cp1252(void)
{
	result r = RUNS("name,note\nCaf\xe9,\x93smart\x94\n\x80"
	                "5,\x81\x8D\x8F\x90\x9D|\x9F\xFF\n");
	CHECK_STR(r.s, "#0@1 [name|note]\n#1@2 [Café|“smart”]\n#2@3 [€5|\xEF\xBF\xBD\xEF\xBF\xBD"
	               "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD|Ÿÿ]\n");
	CHECK_INT(r.enc, PF_CSV_ENC_CP1252);
	CHECK(!r.bad);
	result_free(&r);

	/* the whole 0x80-0xFF range decodes to valid UTF-8 */
	char all[129];
	for (int i = 0; i < 128; i++)
		all[i] = (char)(0x80 + i);
	all[128] = '\n';
	r = run(all, sizeof(all), NULL, true);
	CHECK(!r.bad);
	CHECK_INT(r.enc, PF_CSV_ENC_CP1252);
	CHECK(strstr(r.s,
	             "€\xEF\xBF\xBD‚ƒ„…†‡ˆ‰Š‹Œ\xEF\xBF\xBDŽ\xEF\xBF\xBD\xEF\xBF\xBD‘’“”•–—˜™š›œ"
	             "\xEF\xBF\xBDžŸ\xC2\xA0¡") != NULL);
	CHECK(strstr(r.s, "ýþÿ]") != NULL);
	result_free(&r);

	/* raw text is decoded too */
	r = RUNR("a\nCaf\xe9,\"x\x00y\"\n", NULL);
	CHECK_STR(r.s, "#0@1 [a] raw=a\n#1@2 [Café|xy] raw=Café,\"xy\"\n");
	CHECK_INT(r.nul, 1);
	result_free(&r);

	/* a lone invalid byte decides cp1252 even when it comes late in the window */
	size_t n = 60000;
	char *big = malloc(n + 16);
	memset(big, 'x', n);
	big[0] = 'h';
	big[1] = '\n';
	for (size_t i = 100; i < n; i += 100)
		big[i] = '\n';
	big[n - 1] = '\n';
	memcpy(big + n, "\xC3\xA9\n\xE9\n", 5);
	r = run(big, n + 5, NULL, false);
	CHECK_INT(r.enc, PF_CSV_ENC_CP1252);
	CHECK(strstr(r.s, "[Ã©]\n") != NULL);
	CHECK(strstr(r.s, "[é]\n") != NULL);
	result_free(&r);
	free(big);
}

/* A UTF-8 file whose invalid bytes come after the sniff window. */
static void test_late_invalid_utf8(void)
{
	size_t n = PF_CSV_SNIFF_BYTES + 1000, len = 0;
	char *buf = malloc(n + 256);
	len += (size_t)sprintf(buf, "name,city\n");
	while (len < n)
		len += (size_t)sprintf(buf + len, "Jos\xC3\xA9,S\xC3\xA3o Paulo\n");
	size_t tail = len;
	len += (size_t)sprintf(buf + len, "Caf\xE9,\xC3\n"); /* é as cp1252, lone lead */
	len += (size_t)sprintf(buf + len, "\xE2\x82,\xF0\x9F\x98\x80\n"); /* cut 3-byte, emoji */
	len += (size_t)sprintf(buf + len, "\xED\xA0\x80,\xC0\xAF\n");     /* surrogate, overlong */
	len += (size_t)sprintf(buf + len, "end\xC3");                     /* lead at EOF */
	result r = run(buf, len, NULL, false);
	CHECK_INT(r.enc, PF_CSV_ENC_UTF8);
	CHECK(!r.bad);
	CHECK_INT(r.rc, 0);
	CHECK(strstr(r.s, "[José|São Paulo]") != NULL);
	CHECK(strstr(r.s, " [Café|Ã]\n") != NULL);
	CHECK(strstr(r.s, " [â‚|😀]\n") != NULL);
	CHECK(strstr(r.s, " [í\xC2\xA0€|À¯]\n") != NULL);
	CHECK(strstr(r.s, " [endÃ]\n") != NULL);
	result_free(&r);

	/* the same fed one byte at a time, and in pieces cut inside characters */
	result whole = run(buf, len, NULL, true);
	result one = run_cuts(buf + 0, len, NULL, true, NULL, 0, 1, false);
	CHECK(strcmp(whole.s, one.s) == 0);
	CHECK(!one.bad);
	bool same = true;
	for (size_t k = tail - 5; k < len; k++) {
		size_t cuts[1] = {k};
		result r2 = run_cuts(buf, len, NULL, true, cuts, 1, 0, false);
		if (strcmp(r2.s, whole.s) != 0 || r2.bad)
			same = false;
		result_free(&r2);
	}
	CHECK_MSG(same, "late-invalid UTF-8: every split point of the tail gives the same records");
	/* records come out before the end, once the window is seen */
	pf_csv_limits lim;
	pf_csv_limits_default(&lim);
	coll c = {0};
	pf_csv *csv = pf_csv_new(&lim, collect_cb, &c);
	size_t used;
	CHECK_INT(pf_csv_feed(csv, buf, PF_CSV_SNIFF_BYTES - 1, &used), 0);
	CHECK_INT(c.nrec, 0);
	CHECK_INT(pf_csv_encoding_of(csv), PF_CSV_ENC_UNKNOWN);
	CHECK_INT(pf_csv_delimiter(csv), ',');
	CHECK_INT(pf_csv_feed(csv, buf + PF_CSV_SNIFF_BYTES - 1, 100, &used), 0);
	CHECK(c.nrec > 1000);
	CHECK_INT(pf_csv_encoding_of(csv), PF_CSV_ENC_UTF8);
	CHECK_INT(pf_csv_finish(csv), 0);
	pf_csv_free(csv);
	free(c.s);
	result_free(&whole);
	result_free(&one);
	free(buf);
}

static void test_nul(void)
{
	result r = RUNR("a\0,b\n\0\n1,\"\0x\0\"\n\0\0", NULL);
	CHECK_STR(r.s, "#0@1 [a|b] raw=a,b\n#1@3 [1|x] raw=1,\"x\"\n");
	CHECK_INT(r.nul, 6);
	CHECK_INT(r.lines, 4);
	CHECK(!r.bad);
	result_free(&r);
	/* a NUL before a quote does not make the quote literal */
	EXPECT("\0\"a,b\",c\n", "#0@1 [a,b|c]\n");
}

static void test_unterminated(void)
{
	result r = RUNR("a,b\n1,\"open\nmore", NULL);
	CHECK_STR(r.s, "#0@1 [a|b] raw=a,b\n#1@2 E:unterminated quoted field at end of input "
	               "[1|open\nmore] raw=1,\"open\nmore\n");
	CHECK_INT(r.rc, 0);
	CHECK_INT(r.lines, 3);
	result_free(&r);
	EXPECT("\"", "#0@1 E:unterminated quoted field at end of input []\n");
	/* a closing quote right at the end is fine */
	EXPECT("a,\"b\"", "#0@1 [a|b]\n");
	/* no final newline */
	r = RUNS("h\nlast,1");
	CHECK_STR(r.s, "#0@1 [h]\n#1@2 [last|1]\n");
	result_free(&r);
}

static pf_csv_limits lims(size_t field_max, size_t fields_max, size_t record_max, size_t raw_keep)
{
	pf_csv_limits l;
	pf_csv_limits_default(&l);
	l.field_max = field_max;
	l.fields_max = fields_max;
	l.record_max = record_max;
	l.raw_keep = raw_keep;
	return l;
}

static void test_caps(void)
{
	/* field_max = 4: "abcd" fits, "abcde" does not; decoded bytes count */
	pf_csv_limits l = lims(4, 100, 100, 100);
	result r = RUNR("h\nabcd\nabcde\n\"ab\"\"c\"\nab\xC3\xA9\nabc\xC3\xA9\nok\n", &l);
	CHECK_STR(r.s, "#0@1 [h] raw=h\n#1@2 [abcd] raw=abcd\n#2@3 E:field too long [] raw=abcde\n"
	               "#3@4 [ab\"c] raw=\"ab\"\"c\"\n#4@5 [abé] raw=abé\n"
	               "#5@6 E:field too long [] raw=abcé\n#6@7 [ok] raw=ok\n");
	result_free(&r);

	/* fields_max = 3 */
	l = lims(100, 3, 100, 100);
	r = RUNL("a\n1,2,3\n1,2,3,4\n,,\n,,,\n\"x,y\",\"\n\",z,w\nok\n", &l);
	CHECK_STR(r.s, "#0@1 [a]\n#1@2 [1|2|3]\n#2@3 E:too many fields []\n#3@4 [||]\n"
	               "#4@5 E:too many fields []\n#5@6 E:too many fields []\n#6@8 [ok]\n");
	result_free(&r);

	/* record_max = 6 (field bytes, delimiters not counted) */
	l = lims(100, 100, 6, 100);
	r = RUNL("h\nabc,def\nabc,defg\nabcdef\n\"a\nb\",cdefgh\nok\n", &l);
	CHECK_STR(r.s, "#0@1 [h]\n#1@2 [abc|def]\n#2@3 E:record too long []\n#3@4 [abcdef]\n"
	               "#4@5 E:record too long []\n#5@7 [ok]\n");
	result_free(&r);

	/* the first cap hit is the one reported */
	l = lims(3, 2, 5, 100);
	EXPECT("x\n", "#0@1 [x]\n");
	r = RUNR("abcd,e,f\nabc,def\na,b,c\nabc,de\n", &l);
	CHECK_STR(r.s,
	          "#0@1 E:field too long [] raw=abcd,e,f\n#1@2 E:record too long [] raw=abc,def\n"
	          "#2@3 E:too many fields [] raw=a,b,c\n#3@4 [abc|de] raw=abc,de\n");
	result_free(&r);

	/* raw_keep = 5: at cap whole, at cap+1 truncated; never half a character */
	l = lims(100, 100, 100, 5);
	r = RUNR("abcde\nabcdef\nabc\xC3\xA9\nabcd\xC3\xA9\n\"ab\nc\"\n\"a\nb\"\n", &l);
	CHECK_STR(r.s,
	          "#0@1 [abcde] raw=abcde\n#1@2 [abcdef] raw=abcde...\n"
	          "#2@3 [abcé] raw=abcé\n#3@4 [abcdé] raw=abcd...\n#4@5 [ab\nc] raw=\"ab\nc...\n"
	          "#5@7 [a\nb] raw=\"a\nb\"\n");
	result_free(&r);
	l = lims(100, 100, 100, 0);
	r = RUNR("ab\n", &l);
	CHECK_STR(r.s, "#0@1 [ab] raw=...\n");
	result_free(&r);

	/* a cap hit inside a huge quoted field resyncs at the record's end */
	l = lims(10, 10, 20, 8);
	size_t n = 200000;
	char *big = malloc(n + 64);
	size_t len = (size_t)sprintf(big, "h\n\"");
	for (size_t i = 0; i < n; i++)
		big[len++] = (i % 50 == 49) ? '\n' : (i % 7 == 0 ? ',' : 'x');
	len += (size_t)sprintf(big + len, "\",tail\nok,1\n");
	r = run_cuts(big, len, &l, true, NULL, 0, 999, false);
	CHECK_STR(r.s, "#0@1 [h] raw=h\n#1@2 E:field too long [] raw=\",xxxxxx...\n#2@4003 [ok|1] "
	               "raw=ok,1\n");
	result_free(&r);
	free(big);

	/* fields_max 0 and a quote as delimiter are refused */
	l = lims(10, 0, 10, 10);
	coll c = {0};
	CHECK(pf_csv_new(&l, collect_cb, &c) == NULL);
	l = lims(10, 10, 10, 10);
	l.delimiter = '"';
	CHECK(pf_csv_new(&l, collect_cb, &c) == NULL);
	CHECK(pf_csv_new(NULL, collect_cb, &c) == NULL);
	pf_csv_free(NULL);
}

/* The tricky document gives the same records however it is cut. */
static void check_splits_lim(const char *doc, size_t len, const pf_csv_limits *lim,
                             const char *want, const char *what)
{
	result whole = run(doc, len, lim, true);
	CHECK_MSG(!whole.bad && whole.rc == 0, "%s: parses cleanly", what);
	CHECK_MSG(strcmp(whole.s, want) == 0, "%s: got \"%s\"", what, whole.s);
	result one = run_cuts(doc, len, lim, true, NULL, 0, 1, false);
	CHECK_MSG(strcmp(whole.s, one.s) == 0 && one.nul == whole.nul && one.lines == whole.lines &&
	              one.enc == whole.enc && one.delim == whole.delim,
	          "%s: one byte at a time gives the same records", what);
	bool same = true, paused_same = true;
	for (size_t k = 1; k < len; k++) {
		size_t cuts[1] = {k};
		result r = run_cuts(doc, len, lim, true, cuts, 1, 0, false);
		if (strcmp(r.s, whole.s) != 0 || r.bad || r.lines != whole.lines ||
		    r.nul != whole.nul || r.bytes != len) {
			if (same)
				printf("# split at %zu:\n# got  %s\n# want %s\n", k, r.s, whole.s);
			same = false;
		}
		result_free(&r);
		for (size_t k2 = k + 1; k2 < len && k2 < k + 4; k2++) {
			size_t cuts3[2] = {k, k2};
			r = run_cuts(doc, len, lim, true, cuts3, 2, 0, true);
			if (strcmp(r.s, whole.s) != 0 || r.bad)
				paused_same = false;
			result_free(&r);
		}
	}
	CHECK_MSG(same, "%s: every split into 2 pieces gives the same records", what);
	CHECK_MSG(paused_same, "%s: 3 pieces with a pause after each record give the same", what);
	result_free(&whole);
	result_free(&one);
}

static void check_splits(const char *doc, size_t len, const char *want, const char *what)
{
	check_splits_lim(doc, len, NULL, want, what);
}

static void test_splits(void)
{
	/* BOM (decides UTF-8 at once, so the main parser sees every cut) */
	static const char utf8_doc[] = "\xEF\xBB\xBF"
	                               "id;name;note\r\n"
	                               "1;\"Caf\xC3\xA9; \"\"bar\"\"\";x\r\n"
	                               "\r\n"
	                               "2;\"multi\r\nline\rend\n\";\xF0\x9F\x98\x80\xE2\x82\xAC\r"
	                               "3;bad\xE9\xC3;\"ab\"c\n"
	                               "4;\0nul\0;\"q\"\"\"\r\n"
	                               "\n"
	                               "5;x\"y;\"unterminated\r\n...";
	check_splits(
	    utf8_doc, sizeof(utf8_doc) - 1,
	    "#0@1 [id|name|note] raw=id;name;note\n"
	    "#1@2 [1|Café; \"bar\"|x] raw=1;\"Café; \"\"bar\"\"\";x\n"
	    "#2@4 [2|multi\r\nline\rend\n|😀€] raw=2;\"multi\r\nline\rend\n\";😀€\n"
	    "#3@8 [3|badéÃ|abc] raw=3;badéÃ;\"ab\"c\n"
	    "#4@9 [4|nul|q\"] raw=4;nul;\"q\"\"\"\n"
	    "#5@11 E:unterminated quoted field at end of input [5|x\"y|unterminated\r\n...] "
	    "raw=5;x\"y;\"unterminated\r\n...\n",
	    "utf-8 doc");
	/* Windows-1252, decided by the first byte of the header */
	static const char cp_doc[] = "\xC9tat|prix\r\n\x93q\x94|\x80\r5\r\n\"a|\r\nb\"|\xE9\xE8\n"
	                             "x|y";
	check_splits(cp_doc, sizeof(cp_doc) - 1,
	             "#0@1 [État|prix] raw=État|prix\n#1@2 [“q”|€] raw=“q”|€\n#2@3 [5] raw=5\n"
	             "#3@4 [a|\r\nb|éè] raw=\"a|\r\nb\"|éè\n#4@6 [x|y] raw=x|y\n",
	             "cp1252 doc");
	/* no BOM, pure ASCII: all held until finish, cut points in the sniffers */
	static const char ascii_doc[] = "\n\"a,\"\"b\";c;d\r\n1;\"2\n\";3\r\r4;5;6";
	/* tight caps: the error reported and raw text do not depend on the cuts
	 * (a stretch crossing two caps, NUL bytes inside a UTF-8 sequence) */
	static const char caps_doc[] = "\xEF\xBB\xBFh,i\n"
	                               "abcdefghij\n" /* field and record cap in one run */
	                               "abc,defgh\n"  /* record cap */
	                               "\xEF\xBB\0\0\xBF\0x,y\n" /* NUL breaks the sequence */
	                               "\0\0\0\0\0\0\0\0\0\0\0\0\xC3\xA9\xC3\xA9\xC3\xA9,z\n"
	                               "1,2,3\n" /* field count cap */
	                               "\"ab\"\"cd\",\"\n\"\n";
	pf_csv_limits tight = lims(5, 2, 7, 3);
	check_splits_lim(caps_doc, sizeof(caps_doc) - 1, &tight,
	                 "#0@1 [h|i] raw=h,i\n#1@2 E:field too long [] raw=abc...\n"
	                 "#2@3 E:record too long [] raw=abc...\n"
	                 "#3@4 E:field too long [] raw=ï...\n#4@5 E:field too long [] raw=é...\n"
	                 "#5@6 E:too many fields [] raw=1,2...\n#6@7 [ab\"cd|\n] raw=\"ab...\n",
	                 "tight caps doc");
	check_splits(ascii_doc, sizeof(ascii_doc) - 1,
	             "#0@2 [a,\"b|c|d] raw=\"a,\"\"b\";c;d\n#1@3 [1|2\n|3] raw=1;\"2\n\";3\n"
	             "#2@6 [4|5|6] raw=4;5;6\n",
	             "ascii doc");
}

/* Pausing: consumed ends right after the record's terminator. */
static void test_pause(void)
{
	/* the first byte decides cp1252 and the header line the delimiter */
	static const char doc[] = "\xE9h,x\r\n1,2\r\n\"3\n\",4\n5,6\r7,8";
	size_t len = sizeof(doc) - 1;
	pf_csv_limits lim;
	pf_csv_limits_default(&lim);
	coll c = {.pause = true};
	pf_csv *csv = pf_csv_new(&lim, collect_cb, &c);
	size_t used, pos = 0;
	size_t want_ends[] = {6, 11, 18, 22, 24};
	CHECK_INT(pf_csv_feed(csv, doc, len, &used), PF_CSV_PAUSED);
	pos += used;
	CHECK_INT(pos, want_ends[0]);
	CHECK_INT(c.nrec, 1);
	CHECK_INT(pf_csv_bytes_in(csv), 6);
	for (int i = 1; i < 4; i++) {
		CHECK_INT(pf_csv_feed(csv, doc + pos, len - pos, &used), PF_CSV_PAUSED);
		pos += used;
		CHECK_INT(pos, want_ends[i]);
		CHECK_INT(c.nrec, i + 1);
	}
	CHECK_INT(pf_csv_feed(csv, doc + pos, len - pos, &used), 0);
	pos += used;
	CHECK_INT(pos, len);
	CHECK_INT(c.nrec, 4);
	CHECK_INT(pf_csv_finish(csv), 0); /* the last record: pause ignored */
	CHECK_INT(c.nrec, 5);
	CHECK_STR(c.s, "#0@1 [éh|x]\n#1@2 [1|2]\n#2@3 [3\n|4]\n#3@5 [5|6]\n#4@6 [7|8]\n");
	CHECK_INT(pf_csv_feed(csv, "x", 1, &used), PF_EINVAL);
	CHECK_INT(pf_csv_finish(csv), PF_EINVAL);
	pf_csv_free(csv);
	free(c.s);

	/* CR at the end of a feed: the pause takes the CR, the LF comes next */
	memset(&c, 0, sizeof(c));
	c.pause = true;
	csv = pf_csv_new(&lim, collect_cb, &c);
	CHECK_INT(pf_csv_feed(csv, "\xE9,a\r", 4, &used), PF_CSV_PAUSED);
	CHECK_INT(used, 4);
	CHECK_INT(pf_csv_feed(csv, "\nb,c\r\n", 6, &used), PF_CSV_PAUSED);
	CHECK_INT(used, 6);
	CHECK_INT(pf_csv_lines(csv), 2);
	CHECK_INT(pf_csv_finish(csv), 0);
	CHECK_STR(c.s, "#0@1 [é|a]\n#1@2 [b|c]\n");
	pf_csv_free(csv);
	free(c.s);

	/* records held while sniffing: a pause among them takes nothing new */
	memset(&c, 0, sizeof(c));
	c.pause = true;
	csv = pf_csv_new(&lim, collect_cb, &c);
	CHECK_INT(pf_csv_feed(csv, "a,b\n1,2\n", 8, &used), 0);
	CHECK_INT(used, 8);
	CHECK_INT(c.nrec, 0);
	CHECK_INT(pf_csv_feed(csv, "\xE9,3\n", 4, &used), PF_CSV_PAUSED);
	CHECK_INT(used, 0);
	CHECK_INT(c.nrec, 1);
	CHECK_INT(pf_csv_feed(csv, "\xE9,3\n", 4, &used), PF_CSV_PAUSED);
	CHECK_INT(used, 0);
	CHECK_INT(pf_csv_feed(csv, "\xE9,3\n", 4, &used), PF_CSV_PAUSED);
	CHECK_INT(used, 4);
	CHECK_INT(pf_csv_feed(csv, NULL, 0, &used), 0);
	CHECK_INT(pf_csv_finish(csv), 0);
	CHECK_STR(c.s, "#0@1 [a|b]\n#1@2 [1|2]\n#2@3 [é|3]\n");
	CHECK_INT(pf_csv_bytes_in(csv), 12);
	pf_csv_free(csv);
	free(c.s);

	/* a negative answer aborts the feed */
	memset(&c, 0, sizeof(c));
	c.fail_at = 2;
	csv = pf_csv_new(&lim, collect_cb, &c);
	CHECK_INT(pf_csv_feed(csv, "\xE9\n1\n2\n", 6, &used), -99);
	CHECK_INT(used, 4);
	pf_csv_free(csv);
	free(c.s);
}

/* Streaming a big plain file in odd chunks: record count and lines. */
static void test_big(void)
{
	size_t rows = 20000, len = 0;
	char *buf = malloc(rows * 64 + 64);
	len += (size_t)sprintf(buf, "id,name,price,desc\n");
	for (size_t i = 1; i <= rows; i++)
		len +=
		    (size_t)sprintf(buf + len, "%zu,\"N, %zu\",%zu.50,\"l1\nl2\"\r\n", i, i, i * 3);
	result r = run_cuts(buf, len, NULL, false, NULL, 0, 4093, false);
	CHECK_INT(r.rc, 0);
	CHECK_INT(r.lines, rows * 2 + 1);
	char last[128];
	snprintf(last, sizeof(last), "#%zu@%zu [%zu|N, %zu|%zu.50|l1\nl2]\n", rows, rows * 2, rows,
	         rows, rows * 3);
	CHECK(r.s && strlen(r.s) > strlen(last) &&
	      strcmp(r.s + strlen(r.s) - strlen(last), last) == 0);
	result_free(&r);
	free(buf);
}

/* A header line longer than PF_CSV_HEADER_SNIFF_MAX: the delimiter comes
 * from what was seen, and nothing is held past that. */
static void test_long_header(void)
{
	size_t n = PF_CSV_HEADER_SNIFF_MAX + 300000, len = 0;
	char *buf = malloc(n + 64);
	while (len < n)
		len += (size_t)sprintf(buf + len, "col%zu;", len);
	len += (size_t)sprintf(buf + len, "x,y\n1;2\n");
	pf_csv_limits lim;
	pf_csv_limits_default(&lim);
	lim.fields_max = 1000000;
	lim.raw_keep = 8;
	result r = run_cuts(buf, len, &lim, true, NULL, 0, 65536, false);
	CHECK_INT(r.rc, 0);
	CHECK_INT(r.delim, ';');
	CHECK(r.s && strstr(r.s, "#0@1 [col0|col5|") == r.s);
	CHECK(r.s && strstr(r.s, "|x,y] raw=col0;col...\n#1@2 [1|2] raw=1;2\n") != NULL);
	result_free(&r);
	free(buf);
}

/* An upload cut off before the sniff window filled: the complete records
 * held so far come out, the record in progress does not. */
static void test_abandon(void)
{
	static const char in[] = "a,b\n1,\"x\ny\"\n3,4\n5,";
	coll c = {0};
	pf_csv_limits lim;
	pf_csv_limits_default(&lim);
	pf_csv *csv = pf_csv_new(&lim, collect_cb, &c);
	CHECK(csv != NULL);
	size_t used;
	CHECK_INT(pf_csv_feed(csv, in, sizeof(in) - 1, &used), 0);
	CHECK_INT(c.nrec, 0); /* still held for the encoding decision */
	CHECK_INT(pf_csv_abandon(csv), 0);
	CHECK_STR(c.s, "#0@1 [a|b]\n#1@2 [1|x\ny]\n#2@4 [3|4]\n");
	CHECK_INT(pf_csv_abandon(csv), PF_EINVAL); /* once */
	pf_csv_free(csv);
	free(c.s);

	/* a quoted field left open is dropped too */
	static const char open_q[] = "h\nok\n\"never closed";
	coll d = {0};
	csv = pf_csv_new(&lim, collect_cb, &d);
	CHECK_INT(pf_csv_feed(csv, open_q, sizeof(open_q) - 1, &used), 0);
	CHECK_INT(pf_csv_abandon(csv), 0);
	CHECK_STR(d.s, "#0@1 [h]\n#1@2 [ok]\n");
	pf_csv_free(csv);
	free(d.s);
}

/* ---- resuming at a record boundary ---- */

typedef struct bound {
	uint64_t off, line, next;
	bool cr;
	size_t said; /* bytes of the serialised output up to this record */
} bound;

typedef struct bcoll {
	coll c;
	bound b[64];
	int n;
} bcoll;

static int bound_cb(void *arg, const pf_csv_record *r)
{
	bcoll *bc = arg;
	int rc = collect_cb(&bc->c, r);
	if (bc->n < 64)
		bc->b[bc->n++] =
		    (bound){r->end_offset, r->end_line, r->index + 1, r->end_cr, bc->c.len};
	return rc;
}

/* Resuming after any record, with the rest fed in two pieces split at any
 * point, gives exactly the records an uninterrupted read gives after it. */
static void check_resume(const char *doc, size_t len, const char *what)
{
	pf_csv_limits lim;
	pf_csv_limits_default(&lim);
	bcoll whole = {0};
	pf_csv *csv = pf_csv_new(&lim, bound_cb, &whole);
	size_t used;
	CHECK(pf_csv_feed(csv, doc, len, &used) == 0 && pf_csv_finish(csv) == 0);
	pf_csv_encoding enc = pf_csv_encoding_of(csv);
	char delim = pf_csv_delimiter(csv);
	pf_csv_free(csv);
	bool ok = whole.n > 1 && whole.c.s;
	for (int k = 0; ok && k < whole.n - 1; k++) {
		const bound *b = &whole.b[k];
		/* what the whole read said after record k */
		const char *tail = whole.c.s + b->said;
		for (size_t cut = b->off; ok && cut <= len; cut++) {
			coll c = {0};
			csv = pf_csv_new(&lim, collect_cb, &c);
			ok = pf_csv_resume(csv, enc, delim, b->off, b->next, b->line, b->cr) == 0;
			ok = ok && pf_csv_feed(csv, doc + b->off, cut - b->off, &used) == 0;
			ok = ok && pf_csv_feed(csv, doc + cut, len - cut, &used) == 0;
			ok = ok && pf_csv_finish(csv) == 0 && c.s && strcmp(c.s, tail) == 0;
			if (!ok)
				printf("# %s: resume after record %d, cut %zu: got \"%s\" want "
				       "\"%s\"\n",
				       what, k, cut, c.s ? c.s : "", tail);
			pf_csv_free(csv);
			free(c.s);
		}
	}
	CHECK_MSG(ok, "%s: resuming at every boundary", what);
	free(whole.c.s);
}

static void test_resume(void)
{
	static const char lf[] = "a,b\n1,2\n\n\"x\ny\",3\n4,\"5\"\n6,7";
	static const char crlf[] = "a;b\r\n1;2\r\n\r\n\"x\r\ny\";3\r\n4;5\r\n";
	static const char cr[] = "a\tb\r1\t2\r\r3\t\"q\rq\"\r";
	static const char mixed[] = "h1,h2\r\nv,\xe9\n\rw,z\r\n\n";
	check_resume(lf, sizeof(lf) - 1, "LF");
	check_resume(crlf, sizeof(crlf) - 1, "CRLF");
	check_resume(cr, sizeof(cr) - 1, "CR");
	check_resume(mixed, sizeof(mixed) - 1, "mixed, cp1252");

	pf_csv_limits lim;
	pf_csv_limits_default(&lim);
	coll c = {0};
	pf_csv *csv = pf_csv_new(&lim, collect_cb, &c);
	CHECK_INT(pf_csv_resume(csv, PF_CSV_ENC_UTF8, 0, 0, 1, 1, false), PF_EINVAL);
	CHECK_INT(pf_csv_resume(csv, PF_CSV_ENC_UNKNOWN, ',', 0, 1, 1, false), PF_EINVAL);
	CHECK_INT(pf_csv_resume(csv, PF_CSV_ENC_UTF8, ',', 10, 1, 2, false), 0);
	CHECK_INT(pf_csv_resume(csv, PF_CSV_ENC_UTF8, ',', 10, 1, 2, false), PF_EINVAL);
	size_t used;
	CHECK_INT(pf_csv_feed(csv, "p,q\n", 4, &used), 0);
	CHECK_INT(pf_csv_finish(csv), 0);
	CHECK_STR(c.s, "#1@2 [p|q]\n");
	CHECK(pf_csv_bytes_in(csv) == 14);
	pf_csv_free(csv);
	free(c.s);
}

int main(void)
{
	test_resume();
	test_abandon();
	test_basic();
	test_quotes();
	test_line_endings();
	test_blank_lines();
	test_bom();
	test_delimiters();
	test_cp1252();
	test_late_invalid_utf8();
	test_nul();
	test_unterminated();
	test_caps();
	test_splits();
	test_pause();
	test_big();
	test_long_header();
	return CHECK_DONE();
}
