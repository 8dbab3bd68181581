/*
 * main.c - command line: `propflow serve`, `propflow import FILE`, `propflow user ...`.
 */
#include "propflow/app/app.h"
#include "propflow/base/config.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	static pf_config cfg; /* large: keep it off the stack */
	const char *pos[8];
	int npos = 0;
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		pf_config_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *cmd = argv[1];
	bool serve = strcmp(cmd, "serve") == 0;
	bool import = strcmp(cmd, "import") == 0;
	bool user = strcmp(cmd, "user") == 0;
	if (!serve && !import && !user) {
		fprintf(stderr,
		        "propflow: unknown command '%s' (serve, import, user; see --help)\n", cmd);
		return 2;
	}
	int rc = pf_config_parse(&cfg, argc, argv, 2, pos, import ? 1 : user ? 3 : 0, &npos);
	if (rc == PF_CONFIG_HELP)
		return 0;
	if (rc != 0)
		return 2;
	if (user)
		return pf_app_user(&cfg, npos, pos);
	if (import) {
		if (npos != 1) {
			fprintf(stderr, "propflow: import needs one FILE\n");
			return 2;
		}
		return pf_app_import(&cfg, pos[0]);
	}
	return pf_app_serve(&cfg);
}
