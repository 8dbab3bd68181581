/*
 * test_account.c - the pure pieces of account.c: the same-origin rule,
 * the Set-Cookie values and the one-time login URL.
 */
#include "check.h"
#include "propflow/api/account.h"
#include "propflow/api/password_policy.h"
#include "propflow/base/utf8.h"

static void test_same_origin(void)
{
	CHECK(pf_account_same_origin("http://127.0.0.1:8080", "127.0.0.1:8080", false));
	CHECK(pf_account_same_origin("HTTP://Example.COM", "example.com", false));
	CHECK(pf_account_same_origin("http://example.com/", "example.com", false));
	CHECK(pf_account_same_origin("https://example.com", "example.com", true));
	/* a default port, written or not */
	CHECK(pf_account_same_origin("http://example.com", "example.com:80", false));
	CHECK(pf_account_same_origin("http://example.com:80", "example.com", false));
	CHECK(pf_account_same_origin("https://example.com:443", "example.com", true));
	CHECK(pf_account_same_origin("https://example.com", "example.com:443", true));
	CHECK(!pf_account_same_origin("https://example.com", "example.com:80", true));
	CHECK(pf_account_same_origin("http://[::1]:8080", "[::1]:8080", false));
	CHECK(pf_account_same_origin("http://[::1]", "[::1]:80", false));
	/* scheme must match how the request came */
	CHECK(!pf_account_same_origin("https://example.com", "example.com", false));
	CHECK(!pf_account_same_origin("http://example.com", "example.com", true));
	/* other host or port */
	CHECK(!pf_account_same_origin("http://evil.com", "example.com", false));
	CHECK(!pf_account_same_origin("http://example.com.evil.com", "example.com", false));
	CHECK(!pf_account_same_origin("http://example.co", "example.com", false));
	CHECK(!pf_account_same_origin("http://example.com:8081", "example.com:8080", false));
	CHECK(!pf_account_same_origin("http://example.com:8080", "example.com", false));
	/* junk */
	CHECK(!pf_account_same_origin("null", "example.com", false));
	CHECK(!pf_account_same_origin("", "example.com", false));
	CHECK(!pf_account_same_origin("http://", "", false));
	CHECK(!pf_account_same_origin("http://example.com", NULL, false));
	CHECK(!pf_account_same_origin(NULL, "example.com", false));
	CHECK(!pf_account_same_origin("http://example.com/path", "example.com", false));
	CHECK(!pf_account_same_origin("http://", "", false));
	CHECK(!pf_account_same_origin("http://:80", ":80", false));
}

static void test_cookie(void)
{
	char buf[160];
	CHECK_INT(pf_account_cookie("abc", 604800, false, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "pf_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=604800");
	CHECK_INT(pf_account_cookie("abc", 60, true, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "pf_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure");
	CHECK_INT(pf_account_cookie(NULL, 0, false, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "pf_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
	CHECK_INT(pf_account_cookie(NULL, 0, true, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "pf_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure");
	/* cap: exactly the text plus NUL fits, one less does not */
	const char *want = "pf_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=1";
	size_t len = strlen(want);
	CHECK_INT(pf_account_cookie("abc", 1, false, buf, len + 1), 0);
	CHECK_STR(buf, want);
	CHECK_INT(pf_account_cookie("abc", 1, false, buf, len), PF_ELIMIT);
}

static void test_login_url(void)
{
	char buf[128];
	CHECK_INT(pf_account_login_url("127.0.0.1:8080", 0, "S", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "http://127.0.0.1:8080/#login=S");
	CHECK_INT(pf_account_login_url("0.0.0.0:8080", 0, "S", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "http://127.0.0.1:8080/#login=S");
	CHECK_INT(pf_account_login_url("127.0.0.1:0", 41234, "S", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "http://127.0.0.1:41234/#login=S");
	CHECK_INT(pf_account_login_url("[::]:8080", 0, "S", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "http://[::1]:8080/#login=S");
	CHECK_INT(pf_account_login_url("[::1]:9", 0, "S", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "http://[::1]:9/#login=S");
	CHECK_INT(pf_account_login_url("files.example:80", 0, "S", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "http://files.example:80/#login=S");
	CHECK_INT(pf_account_login_url("nonsense", 0, "S", buf, sizeof(buf)), PF_EINVAL);
	const char *want = "http://127.0.0.1:8080/#login=S";
	CHECK_INT(pf_account_login_url("127.0.0.1:8080", 0, "S", buf, strlen(want) + 1), 0);
	CHECK_INT(pf_account_login_url("127.0.0.1:8080", 0, "S", buf, strlen(want)), PF_ELIMIT);
}

static void test_public_origin(void)
{
	const char *list =
	    "https://props.example.com/app/, http://Alt.Example:8080,https://t.example:8443";
	CHECK(pf_account_public_origin(list, "https://props.example.com"));
	CHECK(pf_account_public_origin(list, "HTTPS://PROPS.EXAMPLE.COM:443"));
	CHECK(pf_account_public_origin(list, "https://props.example.com/"));
	CHECK(pf_account_public_origin(list, "http://alt.example:8080"));
	CHECK(pf_account_public_origin(list, "https://t.example:8443"));
	CHECK(!pf_account_public_origin(list, "http://props.example.com"));
	CHECK(!pf_account_public_origin(list, "https://props.example.com:8443"));
	CHECK(!pf_account_public_origin(list, "http://alt.example"));
	CHECK(!pf_account_public_origin(list, "https://evil.example"));
	CHECK(!pf_account_public_origin(list, "https://props.example.com.evil.example"));
	CHECK(!pf_account_public_origin(list, "null"));
	CHECK(!pf_account_public_origin(list, ""));
	CHECK(!pf_account_public_origin(list, NULL));
	CHECK(!pf_account_public_origin("", "https://props.example.com"));
	CHECK(pf_account_public_origin("http://[::1]:8080", "http://[::1]:8080"));
	CHECK(!pf_account_public_origin("http://[::1]:8080", "http://[::1]:8081"));
}

static void test_link_url(void)
{
	char buf[128];
	const char *b = "https://props.example.com/app/";
	CHECK_INT(pf_account_link_url(b, strlen(b), "S", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "https://props.example.com/app/#login=S");
	CHECK_INT(pf_account_link_url("https://x.example,https://y", 17, "S", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "https://x.example/#login=S");
	CHECK_INT(pf_account_link_url("/", 1, "S", buf, sizeof(buf)), PF_EINVAL);
	CHECK_INT(pf_account_base_url("0.0.0.0:0", 4242, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "http://127.0.0.1:4242");
}

static void test_password_policy(void)
{
	CHECK(pf_password_policy_check("a long pass phrase", 18) == NULL);
	CHECK(pf_password_policy_check("abcdefg", 7) != NULL);     /* 7 characters */
	CHECK(pf_password_policy_check("x7#kq9!z", 8) == NULL);    /* 8: at the minimum */
	CHECK(pf_password_policy_check("password1", 9) != NULL);   /* common */
	CHECK(pf_password_policy_check("PassWord1", 9) != NULL);   /* common, any case */
	CHECK(pf_password_policy_check("password1x", 10) == NULL); /* not on the list */
	/* characters, not bytes: 7 two-byte characters are too short */
	const char *seven = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
	CHECK(pf_password_policy_check(seven, strlen(seven)) != NULL);
	const char *eight = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
	CHECK(pf_password_policy_check(eight, strlen(eight)) == NULL);
	CHECK(pf_password_policy_check("abcdefg\xff", 8) != NULL); /* not UTF-8 */
	char big[PF_AUTH_PASSWORD_MAX + 2];
	memset(big, 'q', sizeof(big));
	CHECK(pf_password_policy_check(big, PF_AUTH_PASSWORD_MAX) == NULL);
	CHECK(pf_password_policy_check(big, PF_AUTH_PASSWORD_MAX + 1) != NULL);
}

static void test_utf8(void)
{
	CHECK(pf_utf8_valid("", 0));
	CHECK(pf_utf8_valid("abc", 3));
	CHECK(pf_utf8_valid("Z\xc3\xbcrich", 7));
	CHECK(pf_utf8_valid("\xf0\x9f\x8f\xa0", 4));  /* U+1F3E0 */
	CHECK(!pf_utf8_valid("\x80", 1));             /* lone continuation */
	CHECK(!pf_utf8_valid("\xc0\xaf", 2));         /* overlong */
	CHECK(!pf_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
	CHECK(!pf_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	CHECK(!pf_utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
	CHECK(!pf_utf8_valid("\xe2\x82", 2));         /* truncated */
	CHECK(!pf_utf8_valid("\xff", 1));
	CHECK_INT((int)pf_utf8_chars("Z\xc3\xbcrich", 7), 6);
}

int main(void)
{
	test_same_origin();
	test_public_origin();
	test_link_url();
	test_password_policy();
	test_utf8();
	test_cookie();
	test_login_url();
	return CHECK_DONE();
}
