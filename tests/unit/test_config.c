/* test_config.c - the settings table: defaults, parsing, ranges, sizes. */
#include "check.h"
#include "propflow/base/config.h"

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
	return CHECK_DONE();
}
