/*
 * test_auth.c - the pure auth helpers (base64url, digests, CSRF, scrypt
 * encoding, Cookie/Authorization parsing, names) and the hasher child:
 * answers in order from the loop, cancel, the queue cap, and a child
 * killed mid-way failing its jobs and being replaced.
 */
#include "propflow/net/auth.h"
#include "propflow/net/hasher.h"

#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Independently computed: openssl dgst, python hashlib.scrypt. */
#define CSRF_KEY   "dGhpcyBpcyBhIHRlc3Qgc2Vzc2lvbiBzZWNyZXQgMTIz"
#define CSRF_WANT  "eVzuP3HB8tCxisLIKwIAMjqyXF4-iSKS_m0FPwS-Jrw"
#define CSRF_EMPTY "6XPN8g89tqUpzw7FmpgKaGSw32x_NwsvyzXzrGV3WpU"
#define SCRYPT_PW  "password"
#define SCRYPT_VEC                                                                                 \
	"$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$OnwHgqTb31Q6zXxSL-hT2bNKu4ryelxll0iM3yKBQLU"

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_b64(void)
{
	char out[200];
	uint8_t dec[200];
	size_t n = 99;
	CHECK_INT(pf_auth_b64url((const uint8_t *)"", 0, out), 0);
	CHECK_STR(out, "");
	CHECK_INT(pf_auth_b64url((const uint8_t *)"f", 1, out), 2);
	CHECK_STR(out, "Zg");
	pf_auth_b64url((const uint8_t *)"fo", 2, out);
	CHECK_STR(out, "Zm8");
	pf_auth_b64url((const uint8_t *)"foo", 3, out);
	CHECK_STR(out, "Zm9v");
	pf_auth_b64url((const uint8_t *)"foobar", 6, out);
	CHECK_STR(out, "Zm9vYmFy");
	pf_auth_b64url((const uint8_t *)"\xfb\xff\xfe", 3, out);
	CHECK_STR(out, "-__-");

	/* round trips at every length, with the documented output size */
	bool all_ok = true;
	for (size_t len = 0; len <= 70; len++) {
		uint8_t in[70];
		for (size_t i = 0; i < len; i++)
			in[i] = (uint8_t)(i * 37 + len * 11 + 0xa5);
		size_t want = (len * 4 + 2) / 3;
		memset(out, 'X', sizeof(out));
		size_t got = pf_auth_b64url(in, len, out);
		if (got != want || out[got] != '\0' || out[got + 1] != 'X' || strlen(out) != got)
			all_ok = false;
		size_t dl = 0;
		if (pf_auth_b64url_decode(out, got, dec, len, &dl) != 0 || dl != len ||
		    memcmp(dec, in, len) != 0)
			all_ok = false;
		/* one byte short of room */
		if (len > 0 && pf_auth_b64url_decode(out, got, dec, len - 1, &dl) != PF_ELIMIT)
			all_ok = false;
	}
	CHECK_MSG(all_ok, "b64url round trips at lengths 0..70, exact size, cap-1 = PF_ELIMIT");

	CHECK_INT(pf_auth_b64url_decode("", 0, dec, 0, &n), 0);
	CHECK_INT(n, 0);
	CHECK_INT(pf_auth_b64url_decode("Zm9vYmFy", 8, dec, sizeof(dec), &n), 0);
	CHECK(n == 6 && memcmp(dec, "foobar", 6) == 0);
	CHECK_INT(pf_auth_b64url_decode("-__-", 4, dec, sizeof(dec), &n), 0);
	CHECK(n == 3 && memcmp(dec, "\xfb\xff\xfe", 3) == 0);
	CHECK_INT(pf_auth_b64url_decode("Zm9v", 4, dec, 2, &n), PF_ELIMIT);
	CHECK_INT(pf_auth_b64url_decode("Zm9v", 4, dec, 3, &n), 0);
	/* bad characters: standard base64, padding, spaces, NUL */
	CHECK_INT(pf_auth_b64url_decode("+/8=", 4, dec, sizeof(dec), &n), PF_EINVAL);
	CHECK_INT(pf_auth_b64url_decode("Zg==", 4, dec, sizeof(dec), &n), PF_EINVAL);
	CHECK_INT(pf_auth_b64url_decode("Zm9v ", 5, dec, sizeof(dec), &n), PF_EINVAL);
	CHECK_INT(pf_auth_b64url_decode("Zm\0v", 4, dec, sizeof(dec), &n), PF_EINVAL);
	CHECK_INT(pf_auth_b64url_decode("Zm9v\xc3\xa9", 6, dec, sizeof(dec), &n), PF_EINVAL);
	CHECK_INT(pf_auth_b64url_decode("Zm9v.A", 6, dec, sizeof(dec), &n), PF_EINVAL);
	/* impossible length and non-canonical trailing bits */
	CHECK_INT(pf_auth_b64url_decode("Z", 1, dec, sizeof(dec), &n), PF_EINVAL);
	CHECK_INT(pf_auth_b64url_decode("Zm9vY", 5, dec, sizeof(dec), &n), PF_EINVAL);
	CHECK_INT(pf_auth_b64url_decode("Zh", 2, dec, sizeof(dec), &n), PF_EINVAL);
	CHECK_INT(pf_auth_b64url_decode("Zm9", 3, dec, sizeof(dec), &n), PF_EINVAL);
	CHECK_INT(pf_auth_b64url_decode("Zm8", 3, dec, sizeof(dec), &n), 0);
}

static void test_secret_digest_csrf(void)
{
	char s1[64], s2[64];
	CHECK_INT(pf_auth_new_secret("", s1, sizeof(s1)), 0);
	CHECK_INT(strlen(s1), PF_AUTH_SECRET_CHARS);
	CHECK_INT(pf_auth_new_secret("", s2, sizeof(s2)), 0);
	CHECK(strcmp(s1, s2) != 0);
	uint8_t raw[64];
	size_t n = 0;
	CHECK_INT(pf_auth_b64url_decode(s1, strlen(s1), raw, sizeof(raw), &n), 0);
	CHECK_INT(n, PF_AUTH_SECRET_BYTES);
	CHECK_INT(pf_auth_new_secret(PF_AUTH_TOKEN_PREFIX, s1, sizeof(s1)), 0);
	CHECK_INT(strlen(s1), PF_AUTH_TOKEN_CHARS);
	CHECK(strncmp(s1, "pft_", 4) == 0);
	/* cap: exactly enough, one short */
	CHECK_INT(pf_auth_new_secret("pft_", s1, PF_AUTH_TOKEN_CHARS + 1), 0);
	CHECK_INT(pf_auth_new_secret("pft_", s1, PF_AUTH_TOKEN_CHARS), PF_ELIMIT);
	CHECK_INT(pf_auth_new_secret("", s1, PF_AUTH_SECRET_CHARS + 1), 0);
	CHECK_INT(pf_auth_new_secret("", s1, PF_AUTH_SECRET_CHARS), PF_ELIMIT);
	CHECK_INT(pf_auth_new_secret("", s1, 0), PF_ELIMIT);
	uint8_t r1[16] = {0}, r2[16] = {0};
	CHECK_INT(pf_auth_random(r1, sizeof(r1)), 0);
	CHECK_INT(pf_auth_random(r2, sizeof(r2)), 0);
	CHECK(memcmp(r1, r2, sizeof(r1)) != 0);
	CHECK_INT(pf_auth_random(r1, 0), 0);

	uint8_t d[PF_AUTH_DIGEST_BYTES];
	char h[65];
	pf_auth_digest("abc", 3, d);
	hex(d, sizeof(d), h);
	CHECK_STR(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	pf_auth_digest("", 0, d);
	hex(d, sizeof(d), h);
	CHECK_STR(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	pf_auth_digest("pft_x", 5, d);
	hex(d, sizeof(d), h);
	CHECK_STR(h, "29c8d5a70a648c5dcc45cec3da29f54808886d20bd4406f35e886474acc075f3");

	char c[PF_AUTH_CSRF_CHARS + 1];
	pf_auth_csrf(CSRF_KEY, strlen(CSRF_KEY), c);
	CHECK_STR(c, CSRF_WANT);
	pf_auth_csrf("", 0, c);
	CHECK_STR(c, CSRF_EMPTY);
	char c2[PF_AUTH_CSRF_CHARS + 1];
	pf_auth_csrf(CSRF_KEY, strlen(CSRF_KEY) - 1, c2);
	CHECK(strcmp(c, c2) != 0 && strlen(c2) == PF_AUTH_CSRF_CHARS);

	CHECK(pf_auth_equal("", ""));
	CHECK(pf_auth_equal("abc", "abc"));
	CHECK(!pf_auth_equal("abc", "abd"));
	CHECK(!pf_auth_equal("abc", "ab"));
	CHECK(!pf_auth_equal("ab", "abc"));
	CHECK(!pf_auth_equal("", "a"));
	CHECK(!pf_auth_equal("a", ""));
	CHECK(pf_auth_equal(CSRF_WANT, CSRF_WANT));
	CHECK(!pf_auth_equal(CSRF_WANT, CSRF_EMPTY));
}

static void test_password(void)
{
	char enc[PF_AUTH_HASH_TEXT_MAX], enc2[PF_AUTH_HASH_TEXT_MAX];
	CHECK_INT(pf_auth_verify_password(SCRYPT_PW, strlen(SCRYPT_PW), SCRYPT_VEC), 0);
	CHECK_INT(pf_auth_verify_password("Password", 8, SCRYPT_VEC), PF_AUTH_MISMATCH);

	CHECK_INT(pf_auth_hash_password("hunter2", 7, 10, enc, sizeof(enc)), 0);
	CHECK(strncmp(enc, "$scrypt$ln=10,r=8,p=1$", 22) == 0);
	CHECK_INT(strlen(enc), 22 + 22 + 1 + 43);
	CHECK_INT(pf_auth_hash_password("hunter2", 7, 10, enc2, sizeof(enc2)), 0);
	CHECK(strcmp(enc, enc2) != 0); /* fresh salt */
	CHECK_INT(pf_auth_verify_password("hunter2", 7, enc), 0);
	CHECK_INT(pf_auth_verify_password("hunter2", 7, enc2), 0);
	CHECK_INT(pf_auth_verify_password("hunter3", 7, enc), PF_AUTH_MISMATCH);
	CHECK_INT(pf_auth_verify_password("hunter", 6, enc), PF_AUTH_MISMATCH);
	CHECK_INT(pf_auth_verify_password("", 0, enc), PF_AUTH_MISMATCH);
	CHECK_INT(pf_auth_verify_password("x", PF_AUTH_PASSWORD_MAX + 1, enc), PF_AUTH_MISMATCH);

	/* password and log_n bounds */
	static char big[PF_AUTH_PASSWORD_MAX + 1];
	memset(big, 'p', sizeof(big));
	CHECK_INT(pf_auth_hash_password("", 0, 10, enc2, sizeof(enc2)), PF_EINVAL);
	CHECK_INT(pf_auth_hash_password(big, PF_AUTH_PASSWORD_MAX + 1, 10, enc2, sizeof(enc2)),
	          PF_EINVAL);
	CHECK_INT(pf_auth_hash_password(big, PF_AUTH_PASSWORD_MAX, 10, enc2, sizeof(enc2)), 0);
	CHECK_INT(pf_auth_verify_password(big, PF_AUTH_PASSWORD_MAX, enc2), 0);
	CHECK_INT(pf_auth_hash_password("a", 1, 9, enc2, sizeof(enc2)), PF_EINVAL);
	CHECK_INT(pf_auth_hash_password("a", 1, 21, enc2, sizeof(enc2)), PF_EINVAL);
	CHECK_INT(pf_auth_hash_password("a", 1, 10, enc2, 89), 0); /* 88 chars + NUL */
	CHECK_INT(pf_auth_hash_password("a", 1, 10, enc2, 88), PF_ELIMIT);

	/* tampering: each field */
	pf_auth_scrypt p;
	CHECK_INT(pf_auth_parse_hash(enc, &p), 0);
	CHECK(p.log_n == 10 && p.r == 8 && p.p == 1);
	char t[PF_AUTH_HASH_TEXT_MAX + 8];
	snprintf(t, sizeof(t), "%s", enc);
	t[strlen(t) - 1] = t[strlen(t) - 1] == 'A' ? 'B' : 'A';
	int rc = pf_auth_verify_password("hunter2", 7, t);
	CHECK(rc == PF_AUTH_MISMATCH || rc == PF_EINVAL); /* last char may break canonical bits */
	snprintf(t, sizeof(t), "%s", enc);
	t[30] = t[30] == 'A' ? 'B' : 'A'; /* salt */
	CHECK_INT(pf_auth_verify_password("hunter2", 7, t), PF_AUTH_MISMATCH);
	snprintf(t, sizeof(t), "%sA", enc);
	CHECK_INT(pf_auth_verify_password("hunter2", 7, t), PF_EINVAL);
	snprintf(t, sizeof(t), "%.*s", (int)strlen(enc) - 1, enc);
	CHECK_INT(pf_auth_verify_password("hunter2", 7, t), PF_EINVAL);
	snprintf(t, sizeof(t), "%s", enc);
	t[24] = '!';
	CHECK_INT(pf_auth_verify_password("hunter2", 7, t), PF_EINVAL);
	CHECK_INT(pf_auth_verify_password("hunter2", 7, ""), PF_EINVAL);
	CHECK_INT(pf_auth_verify_password("hunter2", 7, NULL), PF_EINVAL);
	CHECK_INT(pf_auth_verify_password("hunter2", 7, "hunter2"), PF_EINVAL);

	/* parameter bounds and strict syntax */
	const char *salt_hash =
	    "AAECAwQFBgcICQoLDA0ODw$OnwHgqTb31Q6zXxSL-hT2bNKu4ryelxll0iM3yKBQLU";
	static const struct {
		const char *params;
		int want;
	} cases[] = {
	    {"ln=10,r=8,p=1", 0},   {"ln=20,r=16,p=4", 0},  {"ln=10,r=1,p=1", 0},
	    {"ln=9,r=8,p=1", -3},   {"ln=21,r=8,p=1", -3},  {"ln=10,r=0,p=1", -3},
	    {"ln=10,r=17,p=1", -3}, {"ln=10,r=8,p=0", -3},  {"ln=10,r=8,p=5", -3},
	    {"ln=010,r=8,p=1", -3}, {"ln=10,r=08,p=1", -3}, {"ln=+10,r=8,p=1", -3},
	    {"ln=-10,r=8,p=1", -3}, {"ln=,r=8,p=1", -3},    {"ln=10,p=1,r=8", -3},
	    {"ln=10,r=8", -3},      {"ln=10,r=8,p=1,", -3}, {"LN=10,r=8,p=1", -3},
	    {"ln=100,r=8,p=1", -3}, {"ln=10 ,r=8,p=1", -3}, {"ln=10,r=8,p=1 ", -3},
	};
	for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
		snprintf(t, sizeof(t), "$scrypt$%s$%s", cases[i].params, salt_hash);
		CHECK_MSG(pf_auth_parse_hash(t, &p) == cases[i].want, "parse %s -> %d", t,
		          cases[i].want);
	}
	static const char *bad[] = {
	    "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw",
	    "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$",
	    "$scrypt$ln=10,r=8,p=1$$OnwHgqTb31Q6zXxSL-hT2bNKu4ryelxll0iM3yKBQLU",
	    "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0OD$OnwHgqTb31Q6zXxSL-"
	    "hT2bNKu4ryelxll0iM3yKBQLU",
	    "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODwA$OnwHgqTb31Q6zXxSL-"
	    "hT2bNKu4ryelxll0iM3yKBQLU",
	    "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$OnwHgqTb31Q6zXxSL-"
	    "hT2bNKu4ryelxll0iM3yKBQL",
	    "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$OnwHgqTb31Q6zXxSL-"
	    "hT2bNKu4ryelxll0iM3yKBQLU$",
	    "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw==$OnwHgqTb31Q6zXxSL-"
	    "hT2bNKu4ryelxll0iM3yKBQLU",
	    "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODx$OnwHgqTb31Q6zXxSL-"
	    "hT2bNKu4ryelxll0iM3yKBQLU",
	    "$Scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$OnwHgqTb31Q6zXxSL-"
	    "hT2bNKu4ryelxll0iM3yKBQLU",
	    " $scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$OnwHgqTb31Q6zXxSL-"
	    "hT2bNKu4ryelxll0iM3yKBQLU",
	    "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
	    "$scrypt$",
	};
	for (size_t i = 0; i < PF_ARRAY_LEN(bad); i++)
		CHECK_MSG(pf_auth_parse_hash(bad[i], &p) == PF_EINVAL, "malformed: %s", bad[i]);

	/* the default cost, measured */
	double t0 = now_s();
	CHECK_INT(pf_auth_hash_password("hunter2", 7, PF_AUTH_SCRYPT_LOG_N, enc, sizeof(enc)), 0);
	double t1 = now_s();
	CHECK_INT(pf_auth_verify_password("hunter2", 7, enc), 0);
	double t2 = now_s();
	CHECK(strncmp(enc, "$scrypt$ln=15,r=8,p=1$", 22) == 0);
	printf("# scrypt ln=%d: hash %.3f s, verify %.3f s\n", PF_AUTH_SCRYPT_LOG_N, t1 - t0,
	       t2 - t1);
}

static void test_cookie_bearer_name(void)
{
	char v[64];
	CHECK(pf_auth_cookie("pf_session=XYZ", "pf_session", v, sizeof(v)));
	CHECK_STR(v, "XYZ");
	CHECK(pf_auth_cookie("a=1; pf_session=XYZ; b=2", "pf_session", v, sizeof(v)));
	CHECK_STR(v, "XYZ");
	CHECK(pf_auth_cookie("a=1;pf_session=XYZ;b=2", "pf_session", v, sizeof(v)));
	CHECK_STR(v, "XYZ");
	CHECK(pf_auth_cookie("  a=1 ;  pf_session = XYZ  ;", "pf_session", v, sizeof(v)));
	CHECK_STR(v, "XYZ");
	CHECK(pf_auth_cookie("pf_session=\"XYZ\"", "pf_session", v, sizeof(v)));
	CHECK_STR(v, "XYZ");
	CHECK(pf_auth_cookie("pf_session=\"X", "pf_session", v, sizeof(v)));
	CHECK_STR(v, "\"X");
	CHECK(pf_auth_cookie("pf_session=first; pf_session=second", "pf_session", v, sizeof(v)));
	CHECK_STR(v, "first");
	CHECK(pf_auth_cookie("pf_session=a=b", "pf_session", v, sizeof(v)));
	CHECK_STR(v, "a=b");
	CHECK(pf_auth_cookie("x_pf_session=1; pf_session=2", "pf_session", v, sizeof(v)));
	CHECK_STR(v, "2");
	CHECK(pf_auth_cookie("pf_sessionx=1; pf_session=3", "pf_session", v, sizeof(v)));
	CHECK_STR(v, "3");
	CHECK(!pf_auth_cookie("pf_session=; pf_session=late", "pf_session", v, sizeof(v)));
	CHECK(!pf_auth_cookie("pf_session=\"\"", "pf_session", v, sizeof(v)));
	CHECK(!pf_auth_cookie("pf_session", "pf_session", v, sizeof(v)));
	CHECK(!pf_auth_cookie("other=1", "pf_session", v, sizeof(v)));
	CHECK(!pf_auth_cookie("", "pf_session", v, sizeof(v)));
	CHECK(!pf_auth_cookie(";;;", "pf_session", v, sizeof(v)));
	CHECK(!pf_auth_cookie(NULL, "pf_session", v, sizeof(v)));
	CHECK(!pf_auth_cookie("PF_SESSION=1", "pf_session", v, sizeof(v)));
	/* cap: value of cap-1 fits, of cap does not */
	CHECK(pf_auth_cookie("pf_session=1234567", "pf_session", v, 8));
	CHECK_STR(v, "1234567");
	CHECK(!pf_auth_cookie("pf_session=12345678", "pf_session", v, 8));
	CHECK(!pf_auth_cookie("pf_session=1", "pf_session", v, 0));

	CHECK(pf_auth_bearer("Bearer pft_abc", v, sizeof(v)));
	CHECK_STR(v, "pft_abc");
	CHECK(pf_auth_bearer("bearer pft_abc", v, sizeof(v)));
	CHECK_STR(v, "pft_abc");
	CHECK(pf_auth_bearer("  BEARER \t pft_abc \t ", v, sizeof(v)));
	CHECK_STR(v, "pft_abc");
	CHECK(pf_auth_bearer("Bearer a+b/c==", v, sizeof(v)));
	CHECK_STR(v, "a+b/c==");
	CHECK(!pf_auth_bearer("Bearer", v, sizeof(v)));
	CHECK(!pf_auth_bearer("Bearer   ", v, sizeof(v)));
	CHECK(!pf_auth_bearer("Bearerpft_abc", v, sizeof(v)));
	CHECK(!pf_auth_bearer("Basic dXNlcjpwYXNz", v, sizeof(v)));
	CHECK(!pf_auth_bearer("Bearer a b", v, sizeof(v)));
	CHECK(!pf_auth_bearer("Bearer a\x01", v, sizeof(v)));
	CHECK(!pf_auth_bearer("", v, sizeof(v)));
	CHECK(!pf_auth_bearer(NULL, v, sizeof(v)));
	CHECK(pf_auth_bearer("Bearer 1234567", v, 8));
	CHECK(!pf_auth_bearer("Bearer 12345678", v, 8));

	CHECK(pf_auth_name_valid("alice"));
	CHECK(pf_auth_name_valid("A.b_c@d-e9"));
	CHECK(pf_auth_name_valid("a"));
	char n64[66];
	memset(n64, 'n', 64);
	n64[64] = '\0';
	CHECK(pf_auth_name_valid(n64));
	n64[64] = 'n';
	n64[65] = '\0';
	CHECK(!pf_auth_name_valid(n64));
	CHECK(!pf_auth_name_valid(""));
	CHECK(!pf_auth_name_valid(NULL));
	CHECK(!pf_auth_name_valid("al ice"));
	CHECK(!pf_auth_name_valid("alice\n"));
	CHECK(!pf_auth_name_valid("al/ice"));
	CHECK(!pf_auth_name_valid("al+ice"));
	CHECK(!pf_auth_name_valid("\xc3\xa9t\xc3\xa9"));
}

/* ---- hasher ---- */

typedef struct result {
	int calls; /* times the callback ran */
	int rc;    /* last rc */
	int order; /* sequence number at the call */
	char enc[PF_AUTH_HASH_TEXT_MAX];
} result;

static int seq;
static int in_submit;
static int called_in_submit; /* callbacks that ran inside a submit call */

static void verify_cb(void *arg, int rc)
{
	result *r = arg;
	called_in_submit += in_submit;
	r->calls++;
	r->rc = rc;
	r->order = ++seq;
}

static void hash_cb(void *arg, int rc, const char *enc)
{
	result *r = arg;
	called_in_submit += in_submit;
	r->calls++;
	r->rc = rc;
	r->order = ++seq;
	snprintf(r->enc, sizeof(r->enc), "%s", enc ? enc : "(null)");
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

/* Run the loop until every result has been called (or 60 s pass). */
static bool run_until(struct event_base *base, result **rs, size_t n)
{
	bool timed_out = false;
	struct timeval tv = {60, 0};
	struct event *t = evtimer_new(base, timeout_cb, &timed_out);
	evtimer_add(t, &tv);
	for (;;) {
		bool done = true;
		for (size_t i = 0; i < n; i++)
			if (rs[i]->calls == 0)
				done = false;
		if (done || timed_out)
			break;
		event_base_loop(base, EVLOOP_ONCE);
	}
	event_free(t);
	return !timed_out;
}

/* The hasher's child: a child process other than `not` (from /proc). */
static pid_t find_child(pid_t not )
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	FILE *f = fopen(path, "r");
	int pid = 0, found = 0;
	if (f) {
		while (fscanf(f, "%d", &pid) == 1)
			if (pid != not )
				found = pid;
		fclose(f);
	}
	return found;
}

static int count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void test_hasher(void)
{
	struct event_base *base = event_base_new();
	int stray = open("/dev/null", O_RDONLY); /* not CLOEXEC: the child must close it */
	pf_hasher *h = pf_hasher_new(base);
	CHECK(h != NULL);
	pid_t child = find_child(0);
	CHECK(child > 0);

	/* hash, then verify right, wrong, against no user, malformed */
	result hr = {0};
	in_submit = 1;
	CHECK(pf_hasher_hash(h, "s3cret", 6, 10, hash_cb, &hr) != NULL);
	in_submit = 0;
	CHECK_INT(hr.calls, 0);
	result *r1[] = {&hr};
	CHECK(run_until(base, r1, 1));
	CHECK_INT(hr.rc, 0);
	CHECK(strncmp(hr.enc, "$scrypt$ln=10,r=8,p=1$", 22) == 0);
	/* it has answered, so its setup is done: stdin, stdout, stderr, its socket */
	if (child > 0)
		CHECK_INT(count_fds(child), 4);
	close(stray);
	CHECK_INT(pf_auth_verify_password("s3cret", 6, hr.enc), 0);

	result ok = {0}, wrong = {0}, nouser = {0}, bad = {0}, cancelled = {0}, after = {0};
	in_submit = 1;
	pf_hasher_job *jc;
	CHECK(pf_hasher_verify(h, "s3cret", 6, hr.enc, verify_cb, &ok) != NULL);
	CHECK(pf_hasher_verify(h, "s3cre", 5, hr.enc, verify_cb, &wrong) != NULL);
	CHECK((jc = pf_hasher_verify(h, "s3cret", 6, hr.enc, verify_cb, &cancelled)) != NULL);
	CHECK(pf_hasher_verify(h, "s3cret", 6, NULL, verify_cb, &nouser) != NULL);
	CHECK(pf_hasher_verify(h, "s3cret", 6, "$scrypt$nope", verify_cb, &bad) != NULL);
	CHECK(pf_hasher_verify(h, "s3cret", 6, SCRYPT_VEC, verify_cb, &after) != NULL);
	in_submit = 0;
	pf_hasher_cancel(jc);
	result *r2[] = {&ok, &wrong, &nouser, &bad, &after};
	CHECK(run_until(base, r2, PF_ARRAY_LEN(r2)));
	CHECK_INT(ok.rc, 0);
	CHECK_INT(wrong.rc, PF_AUTH_MISMATCH);
	CHECK_INT(nouser.rc, PF_AUTH_MISMATCH);
	CHECK_INT(bad.rc, PF_EINVAL);
	CHECK_INT(after.rc, PF_AUTH_MISMATCH);
	CHECK_INT(cancelled.calls, 0);
	CHECK(ok.order < wrong.order && wrong.order < nouser.order && nouser.order < bad.order &&
	      bad.order < after.order);

	/* over-long input still answers from the loop */
	static char big[PF_AUTH_PASSWORD_MAX + 1];
	memset(big, 'x', sizeof(big));
	result lp = {0}, lh = {0}, ls = {0};
	char longstored[300];
	memset(longstored, '$', sizeof(longstored) - 1);
	longstored[sizeof(longstored) - 1] = '\0';
	CHECK(pf_hasher_verify(h, big, sizeof(big), hr.enc, verify_cb, &lp) != NULL);
	CHECK(pf_hasher_hash(h, big, sizeof(big), 10, hash_cb, &lh) != NULL);
	CHECK(pf_hasher_verify(h, "a", 1, longstored, verify_cb, &ls) != NULL);
	result *r3[] = {&lp, &lh, &ls};
	CHECK(run_until(base, r3, 3));
	CHECK_INT(lp.rc, PF_AUTH_MISMATCH);
	CHECK_INT(lh.rc, PF_EINVAL);
	CHECK_STR(lh.enc, "(null)");
	CHECK_INT(ls.rc, PF_EINVAL);

	/* queue cap: MAX accepted, MAX+1 refused */
	result many[PF_HASHER_QUEUE_MAX];
	result *rm[PF_HASHER_QUEUE_MAX];
	memset(many, 0, sizeof(many));
	int accepted = 0;
	for (int i = 0; i < PF_HASHER_QUEUE_MAX; i++) {
		rm[i] = &many[i];
		if (pf_hasher_verify(h, "a", 1, "bad", verify_cb, &many[i]))
			accepted++;
	}
	CHECK_INT(accepted, PF_HASHER_QUEUE_MAX);
	result over = {0};
	CHECK(pf_hasher_verify(h, "a", 1, "bad", verify_cb, &over) == NULL);
	CHECK(run_until(base, rm, PF_HASHER_QUEUE_MAX));
	bool all_einval = true;
	for (int i = 0; i < PF_HASHER_QUEUE_MAX; i++)
		all_einval = all_einval && many[i].rc == PF_EINVAL && many[i].calls == 1;
	CHECK(all_einval);
	CHECK_INT(over.calls, 0);

	/* the child killed mid-way: pending jobs fail, the next one works */
	result k1 = {0}, k2 = {0}, k3 = {0};
	CHECK(pf_hasher_verify(h, "a", 1, NULL, verify_cb, &k1) != NULL);
	CHECK(pf_hasher_verify(h, "a", 1, NULL, verify_cb, &k2) != NULL);
	pf_hasher_job *kc = pf_hasher_verify(h, "a", 1, NULL, verify_cb, &k3);
	CHECK(kc != NULL);
	pf_hasher_cancel(kc);
	child = find_child(0);
	CHECK(child > 0);
	if (child > 0)
		kill(child, SIGKILL);
	result *r4[] = {&k1, &k2};
	CHECK(run_until(base, r4, 2));
	CHECK(k1.rc < 0);
	CHECK(k2.rc < 0);
	CHECK_INT(k3.calls, 0);
	CHECK(k1.order < k2.order);
	result again = {0};
	in_submit = 1;
	CHECK(pf_hasher_verify(h, "s3cret", 6, hr.enc, verify_cb, &again) != NULL);
	in_submit = 0;
	CHECK_INT(again.calls, 0);
	pid_t child2 = find_child(child);
	CHECK(child2 > 0 && child2 != child);
	result *r5[] = {&again};
	CHECK(run_until(base, r5, 1));
	CHECK_INT(again.rc, 0);
	CHECK_MSG(child <= 0 || waitpid(child, NULL, WNOHANG) < 0, "dead child reaped");

	/* free with jobs pending: no callback, child reaped */
	result pend = {0};
	CHECK(pf_hasher_verify(h, "a", 1, NULL, verify_cb, &pend) != NULL);
	pf_hasher_free(h);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_INT(pend.calls, 0);
	CHECK_INT(find_child(0), 0);
	pf_hasher_free(NULL);
	event_base_free(base);
	CHECK_INT(called_in_submit, 0);
}

int main(void)
{
	test_b64();
	test_secret_digest_csrf();
	test_password();
	test_cookie_bearer_name();
	test_hasher();
	return CHECK_DONE();
}
