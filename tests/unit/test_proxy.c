/*
 * test_proxy.c - --trust-proxy lists (parse, cap, CIDR matching for IPv4,
 * IPv6 and IPv4-mapped addresses) and the client address and scheme a
 * request resolves to from X-Forwarded-For / X-Forwarded-Proto.
 */
#include "propflow/net/proxy.h"

#include "check.h"

#include <stdlib.h>

static pf_proxy_list *parse_ok(const char *spec)
{
	pf_proxy_list *l = NULL;
	const char *bad = "unset";
	int rc = pf_proxy_list_parse(spec, &l, &bad);
	CHECK_MSG(rc == 0 && l && bad == NULL, "parse \"%s\" ok", spec ? spec : "(null)");
	return l;
}

static void parse_bad(const char *spec, int want, const char *want_bad)
{
	pf_proxy_list *l = (pf_proxy_list *)1;
	const char *bad = NULL;
	int rc = pf_proxy_list_parse(spec, &l, &bad);
	CHECK_MSG(rc == want && l == NULL, "parse \"%s\" -> %d (got %d)", spec, want, rc);
	if (want_bad)
		CHECK_MSG(bad && strncmp(bad, want_bad, strlen(want_bad)) == 0,
		          "parse \"%s\": bad at \"%s\" (got \"%s\")", spec, want_bad,
		          bad ? bad : "(null)");
}

static void test_parse(void)
{
	pf_proxy_list *l;
	l = parse_ok(NULL);
	CHECK(!pf_proxy_trusted(l, "127.0.0.1"));
	pf_proxy_list_free(l);
	l = parse_ok("");
	CHECK(!pf_proxy_trusted(l, "127.0.0.1"));
	pf_proxy_list_free(l);
	l = parse_ok("   ");
	pf_proxy_list_free(l);
	l = parse_ok("127.0.0.1, 10.0.0.0/8,::1,fd00::/8");
	CHECK(pf_proxy_trusted(l, "127.0.0.1"));
	CHECK(pf_proxy_trusted(l, "10.200.3.4"));
	CHECK(pf_proxy_trusted(l, "::1"));
	CHECK(pf_proxy_trusted(l, "fd12:3456::1"));
	CHECK(!pf_proxy_trusted(l, "127.0.0.2"));
	CHECK(!pf_proxy_trusted(l, "11.0.0.1"));
	CHECK(!pf_proxy_trusted(l, "fe80::1"));
	pf_proxy_list_free(l);
	l = parse_ok("  10.1.2.3/8  ,\t::1 "); /* host bits are cleared */
	CHECK(pf_proxy_trusted(l, "10.9.9.9"));
	pf_proxy_list_free(l);
	pf_proxy_list_free(NULL);

	parse_bad("1.2.3.4,,5.6.7.8", PF_EINVAL, ",5.6.7.8");
	parse_bad(",1.2.3.4", PF_EINVAL, ",1.2.3.4");
	parse_bad("1.2.3.4,", PF_EINVAL, "");
	parse_bad("1.2.3.4, ,5.6.7.8", PF_EINVAL, ",5.6.7.8");
	parse_bad("1.2.3.4,localhost", PF_EINVAL, "localhost");
	parse_bad("1.2.3.4/33", PF_EINVAL, "1.2.3.4/33");
	parse_bad("::1/129", PF_EINVAL, "::1/129");
	parse_bad("1.2.3.4/", PF_EINVAL, "1.2.3.4/");
	parse_bad("1.2.3.4/-1", PF_EINVAL, NULL);
	parse_bad("1.2.3.4/+8", PF_EINVAL, NULL);
	parse_bad("1.2.3.4/0008", PF_EINVAL, NULL);
	parse_bad("1.2.3.4/8/8", PF_EINVAL, NULL);
	parse_bad("1.2.3.4 /8", PF_EINVAL, NULL);
	parse_bad("/8", PF_EINVAL, NULL);
	parse_bad("1.2.3", PF_EINVAL, NULL);
	parse_bad("1.2.3.256", PF_EINVAL, NULL);
	parse_bad("[::1]", PF_EINVAL, NULL);
	parse_bad("1.2.3.4:80", PF_EINVAL, NULL);
	parse_bad("fe80::1%eth0", PF_EINVAL, NULL);
	parse_bad("1.2.3.4 5.6.7.8", PF_EINVAL, NULL);
	parse_bad("1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee",
	          PF_EINVAL, NULL);

	/* the cap: MAX entries parse, MAX+1 do not */
	char spec[PF_PROXY_LIST_MAX * 16 + 32];
	size_t n = 0;
	for (int i = 0; i < PF_PROXY_LIST_MAX; i++)
		n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%s10.0.0.%d", i ? "," : "", i);
	l = parse_ok(spec);
	CHECK(pf_proxy_trusted(l, "10.0.0.63"));
	CHECK(!pf_proxy_trusted(l, "10.0.0.64"));
	pf_proxy_list_free(l);
	snprintf(spec + n, sizeof(spec) - n, ",10.0.0.99");
	parse_bad(spec, PF_ELIMIT, "10.0.0.99");
}

static void test_match(void)
{
	pf_proxy_list *l = parse_ok("0.0.0.0/0");
	CHECK(pf_proxy_trusted(l, "0.0.0.0"));
	CHECK(pf_proxy_trusted(l, "255.255.255.255"));
	CHECK(pf_proxy_trusted(l, "::ffff:8.8.8.8"));
	CHECK(!pf_proxy_trusted(l, "::1"));
	CHECK(!pf_proxy_trusted(l, "not an address"));
	CHECK(!pf_proxy_trusted(l, ""));
	CHECK(!pf_proxy_trusted(l, NULL));
	pf_proxy_list_free(l);

	l = parse_ok("::/0");
	CHECK(pf_proxy_trusted(l, "::"));
	CHECK(pf_proxy_trusted(l, "2001:db8::1"));
	CHECK(!pf_proxy_trusted(l, "1.2.3.4"));
	CHECK(!pf_proxy_trusted(l, "::ffff:1.2.3.4")); /* that is an IPv4 client */
	pf_proxy_list_free(l);

	l = parse_ok("192.168.1.7/32, 2001:db8::7/128");
	CHECK(pf_proxy_trusted(l, "192.168.1.7"));
	CHECK(!pf_proxy_trusted(l, "192.168.1.6"));
	CHECK(!pf_proxy_trusted(l, "192.168.1.8"));
	CHECK(pf_proxy_trusted(l, "::ffff:192.168.1.7"));
	CHECK(pf_proxy_trusted(l, "::FFFF:c0a8:107"));
	CHECK(pf_proxy_trusted(l, "2001:db8::7"));
	CHECK(pf_proxy_trusted(l, "2001:0db8:0000:0000:0000:0000:0000:0007"));
	CHECK(!pf_proxy_trusted(l, "2001:db8::6"));
	CHECK(!pf_proxy_trusted(l, "2001:db8::7:0"));
	pf_proxy_list_free(l);

	/* prefix edges inside a byte and across bytes */
	l = parse_ok("172.16.0.0/12,10.1.2.128/25,2001:db8:8000::/33");
	CHECK(pf_proxy_trusted(l, "172.16.0.0"));
	CHECK(pf_proxy_trusted(l, "172.31.255.255"));
	CHECK(!pf_proxy_trusted(l, "172.32.0.0"));
	CHECK(!pf_proxy_trusted(l, "172.15.255.255"));
	CHECK(pf_proxy_trusted(l, "10.1.2.128"));
	CHECK(pf_proxy_trusted(l, "10.1.2.255"));
	CHECK(!pf_proxy_trusted(l, "10.1.2.127"));
	CHECK(pf_proxy_trusted(l, "2001:db8:8000::1"));
	CHECK(pf_proxy_trusted(l, "2001:db8:ffff:ffff::1"));
	CHECK(!pf_proxy_trusted(l, "2001:db8:7fff::1"));
	CHECK(!pf_proxy_trusted(l, "2001:db9:8000::1"));
	pf_proxy_list_free(l);

	/* IPv4-mapped entries act as IPv4 ones */
	l = parse_ok("::ffff:10.0.0.0/104, ::ffff:1.2.3.4");
	CHECK(pf_proxy_trusted(l, "10.9.8.7"));
	CHECK(pf_proxy_trusted(l, "::ffff:10.9.8.7"));
	CHECK(pf_proxy_trusted(l, "1.2.3.4"));
	CHECK(!pf_proxy_trusted(l, "11.0.0.1"));
	pf_proxy_list_free(l);
}

typedef struct rcase {
	const char *peer, *xff, *xfp;
	const char *client;
	bool https;
} rcase;

static void test_resolve(void)
{
	pf_proxy_list *l = parse_ok("127.0.0.1, 10.0.0.0/8, ::1");
	static const rcase cases[] = {
	    /* untrusted peer: headers ignored */
	    {"203.0.113.9", "1.2.3.4", "https", "203.0.113.9", false},
	    {"::ffff:203.0.113.9", "1.2.3.4", "https", "203.0.113.9", false},
	    {"2001:db8::9", "1.2.3.4", NULL, "2001:db8::9", false},
	    /* trusted peer */
	    {"127.0.0.1", NULL, NULL, "127.0.0.1", false},
	    {"127.0.0.1", "", "", "127.0.0.1", false},
	    {"127.0.0.1", "1.2.3.4", "https", "1.2.3.4", true},
	    {"::ffff:127.0.0.1", "1.2.3.4", "http", "1.2.3.4", false},
	    {"::1", "1.2.3.4", "HTTPS", "1.2.3.4", true},
	    {"127.0.0.1", "6.6.6.6, 1.2.3.4", "https, http", "1.2.3.4", true},
	    {"127.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2", "http, https", "1.2.3.4", false},
	    {"127.0.0.1", "6.6.6.6,1.2.3.4,10.0.0.2,10.3.3.3", " https ", "1.2.3.4", true},
	    /* all trusted: the leftmost valid */
	    {"127.0.0.1", "10.0.0.5, 10.0.0.2, 127.0.0.1", NULL, "10.0.0.5", false},
	    {"127.0.0.1", "junk, 10.0.0.5, 10.0.0.2", NULL, "10.0.0.5", false},
	    /* ports and brackets */
	    {"127.0.0.1", "1.2.3.4:5678", NULL, "1.2.3.4", false},
	    {"127.0.0.1", "[2001:db8::1]:80", NULL, "2001:db8::1", false},
	    {"127.0.0.1", "[2001:db8::1]", NULL, "2001:db8::1", false},
	    {"127.0.0.1", "2001:db8::1", NULL, "2001:db8::1", false},
	    {"127.0.0.1", "2001:db8::1, 10.0.0.1:443", NULL, "2001:db8::1", false},
	    {"127.0.0.1", "::ffff:1.2.3.4", NULL, "1.2.3.4", false},
	    {"127.0.0.1", "[::ffff:1.2.3.4]:1", NULL, "1.2.3.4", false},
	    /* garbage is skipped as not-an-address */
	    {"127.0.0.1", "1.2.3.4, unknown", NULL, "1.2.3.4", false},
	    {"127.0.0.1", "1.2.3.4, 5.6.7.8:", NULL, "1.2.3.4", false},
	    {"127.0.0.1", "1.2.3.4, 5.6.7.8:123456", NULL, "1.2.3.4", false},
	    {"127.0.0.1", "1.2.3.4, 5.6.7.8:8a", NULL, "1.2.3.4", false},
	    {"127.0.0.1", "1.2.3.4, [5.6.7.8]:80", NULL, "1.2.3.4", false},
	    {"127.0.0.1", "1.2.3.4, [2001:db8::1]x", NULL, "1.2.3.4", false},
	    {"127.0.0.1", "1.2.3.4, [2001:db8::1", NULL, "1.2.3.4", false},
	    {"127.0.0.1", "1.2.3.4, 2001:db8::1:80:", NULL, "1.2.3.4", false},
	    {"127.0.0.1", "garbage", "httpsx", "127.0.0.1", false},
	    {"127.0.0.1", ",,, ,", "http", "127.0.0.1", false},
	    {"127.0.0.1", "1.2.3.4,,", NULL, "1.2.3.4", false},
	    {"127.0.0.1", NULL, "https", "127.0.0.1", true},
	    {"127.0.0.1", NULL, "", "127.0.0.1", false},
	    {"127.0.0.1", NULL, "htt", "127.0.0.1", false},
	};
	for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
		const rcase *c = &cases[i];
		char client[PF_PROXY_ADDR_MAX];
		bool https = !c->https;
		pf_proxy_resolve(l, c->peer, c->xff, c->xfp, client, &https);
		CHECK_MSG(strcmp(client, c->client) == 0 && https == c->https,
		          "peer %s xff \"%s\" xfp \"%s\" -> %s %d (got %s %d)", c->peer,
		          c->xff ? c->xff : "(null)", c->xfp ? c->xfp : "(null)", c->client,
		          c->https, client, https);
	}

	/* no list: nothing is trusted */
	char client[PF_PROXY_ADDR_MAX];
	bool https = true;
	pf_proxy_resolve(NULL, "127.0.0.1", "1.2.3.4", "https", client, &https);
	CHECK_STR(client, "127.0.0.1");
	CHECK(!https);
	/* a peer that is not an address is passed through, never trusted */
	pf_proxy_resolve(l, "unix:/tmp/sock", "1.2.3.4", "https", client, &https);
	CHECK_STR(client, "unix:/tmp/sock");
	CHECK(!https);

	/* entries examined: the 64 rightmost; trusted ones beyond that are not walked */
	char xff[64 * 12 + 32];
	size_t n = (size_t)snprintf(xff, sizeof(xff), "1.2.3.4");
	for (int i = 0; i < 63; i++)
		n += (size_t)snprintf(xff + n, sizeof(xff) - n, ", 10.0.0.%d", i + 1);
	pf_proxy_resolve(l, "127.0.0.1", xff, NULL, client, &https);
	CHECK_STR(client, "1.2.3.4");
	snprintf(xff + n, sizeof(xff) - n, ", 10.0.0.99");
	pf_proxy_resolve(l, "127.0.0.1", xff, NULL, client, &https);
	CHECK_STR(client, "10.0.0.1"); /* leftmost of the 64 examined, all trusted */

	/* a long header of junk stays bounded and falls back to the peer */
	size_t big = 100000;
	char *junk = malloc(big + 1);
	for (size_t i = 0; i < big; i++)
		junk[i] = i % 2 ? ',' : 'x';
	junk[big] = '\0';
	pf_proxy_resolve(l, "127.0.0.1", junk, NULL, client, &https);
	CHECK_STR(client, "127.0.0.1");
	free(junk);
	pf_proxy_list_free(l);
}

int main(void)
{
	test_parse();
	test_match();
	test_resolve();
	return CHECK_DONE();
}
