/* test_config.c - the settings table: defaults, parsing, ranges, sizes. */
#include "check.h"
#include "propflow/base/config.h"

#include <string.h>

int main(void)
{
	pf_config c;
	const char *pos[2];
	int npos;
	char *a1[] = {"propflow",        "serve",    "--batch-rows", "500",
	              "--max-upload=2M", "--listen", "0.0.0.0:9000", "file.csv"};
	CHECK_INT(pf_config_parse(&c, 8, a1, 2, pos, 2, &npos), 0);
	CHECK_INT(c.batch_rows, 500);
	CHECK_INT(c.max_upload, 2 * 1024 * 1024);
	CHECK_STR(c.listen, "0.0.0.0:9000");
	CHECK_INT(npos, 1);
	CHECK_STR(pos[0], "file.csv");
	CHECK_INT(c.db_writers, 2);

	char *a2[] = {"propflow", "serve", "--batch-rows", "0"};
	CHECK_INT(pf_config_parse(&c, 4, a2, 2, pos, 2, &npos), PF_EINVAL);
	char *a3[] = {"propflow", "serve", "--batch-rows", "50000"};
	CHECK_INT(pf_config_parse(&c, 4, a3, 2, pos, 2, &npos), 0);
	char *a4[] = {"propflow", "serve", "--batch-rows", "50001"};
	CHECK_INT(pf_config_parse(&c, 4, a4, 2, pos, 2, &npos), PF_EINVAL);
	char *a5[] = {"propflow", "serve", "--nope"};
	CHECK_INT(pf_config_parse(&c, 3, a5, 2, pos, 2, &npos), PF_EINVAL);
	char *a6[] = {"propflow", "serve", "--listen", "nocolon"};
	CHECK_INT(pf_config_parse(&c, 4, a6, 2, pos, 2, &npos), PF_EINVAL);
	char *a7[] = {"propflow", "import", "--json", "x.csv"};
	CHECK_INT(pf_config_parse(&c, 4, a7, 2, pos, 2, &npos), 0);
	CHECK_INT(c.json, 1);
	char *a8[] = {"propflow", "serve", "--max-upload", "3X"};
	CHECK_INT(pf_config_parse(&c, 4, a8, 2, pos, 2, &npos), PF_EINVAL);

	char host[64];
	int port;
	CHECK_INT(pf_config_split_listen("[::1]:8080", host, sizeof(host), &port), 0);
	CHECK_STR(host, "::1");
	CHECK_INT(port, 8080);
	CHECK_INT(pf_config_split_listen("127.0.0.1:65536", host, sizeof(host), &port), PF_EINVAL);
	CHECK_INT(pf_config_split_listen(":80", host, sizeof(host), &port), PF_EINVAL);
	/* --public-url: repeatable and comma-separated; each entry an http(s) URL */
	char *p1[] = {"propflow",     "serve",
	              "--public-url", "https://a.example/app/",
	              "--public-url", "http://B.example:8080,https://c.example"};
	CHECK_INT(pf_config_parse(&c, 6, p1, 2, pos, 2, &npos), 0);
	CHECK_STR(c.public_url, "https://a.example/app/,http://B.example:8080,https://c.example");
	char *p2[] = {"propflow", "serve", "--public-url", "ftp://a.example"};
	CHECK_INT(pf_config_parse(&c, 4, p2, 2, pos, 2, &npos), PF_EINVAL);
	char *p3[] = {"propflow", "serve", "--public-url", "https://a.example,,https://b.example"};
	CHECK_INT(pf_config_parse(&c, 4, p3, 2, pos, 2, &npos), PF_EINVAL);
	char o[PF_CONFIG_ORIGIN_MAX];
	const char *u = "HTTPS://Props.Example.COM:443/app/?x#y";
	CHECK_INT(pf_config_origin(u, strlen(u), o, sizeof(o)), 0);
	CHECK_STR(o, "https://props.example.com");
	u = "http://[::1]:80";
	CHECK_INT(pf_config_origin(u, strlen(u), o, sizeof(o)), 0);
	CHECK_STR(o, "http://[::1]");
	u = "http://h.example:8080";
	CHECK_INT(pf_config_origin(u, strlen(u), o, sizeof(o)), 0);
	CHECK_STR(o, "http://h.example:8080");
	const char *bad[] = {
	    "https://",        "https://:443", "https://a@b.example", "https://h:0",
	    "https://h:65536", "https://h:8x", "h.example",           "null",
	    "https://[::1"};
	for (size_t i = 0; i < PF_ARRAY_LEN(bad); i++)
		CHECK_INT(pf_config_origin(bad[i], strlen(bad[i]), o, sizeof(o)), PF_EINVAL);
	CHECK_INT(pf_config_origin("http://h.example", 16, o, 16), PF_EINVAL); /* cap */
	CHECK_INT(pf_config_origin("http://h.example", 16, o, 17), 0);
	return CHECK_DONE();
}
