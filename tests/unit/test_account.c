/*
 * test_account.c - the pure pieces of account.c: the same-origin rule,
 * the Set-Cookie values and the one-time login URL.
 */
#include "check.h"
#include "propflow/api/account.h"

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

int main(void)
{
	test_same_origin();
	test_cookie();
	test_login_url();
	return CHECK_DONE();
}
