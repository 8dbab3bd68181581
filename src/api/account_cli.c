/*
 * account_cli.c - the `propflow user ...` commands: add a user, set a
 * password, issue an API token or a one-time login link, list, disable and
 * enable users. Runs once against the writers pool and reports on
 * stdout/stderr; passwords are read from stdin or generated, and hashed
 * inline since the command is not serving anyone.
 */
#include "account_internal.h"

#include "propflow/api/password_policy.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACCOUNT_CLI_PASSWORD  20   /* chars of a generated password */
#define ACCOUNT_STDIN_WAIT_MS 3000 /* a piped stdin that never writes nor closes */

typedef enum {
	CLI_ADD,
	CLI_PASSWORD,
	CLI_TOKEN,
	CLI_LINK,
	CLI_LIST,
	CLI_DISABLE,
	CLI_ENABLE,
} cli_cmd;

static const struct {
	const char *word;
	cli_cmd cmd;
	bool takes_name;
} cli_cmds[] = {
    {"add", CLI_ADD, true},       {"password", CLI_PASSWORD, true}, {"token", CLI_TOKEN, true},
    {"link", CLI_LINK, true},     {"list", CLI_LIST, false},        {"disable", CLI_DISABLE, true},
    {"enable", CLI_ENABLE, true},
};

typedef struct cli_ctx {
	pf_account *acc;                         /* borrowed */
	cli_cmd cmd;                             /* what to do */
	char name[PF_USER_NAME_MAX + 1];         /* the user */
	char password[PF_AUTH_PASSWORD_MAX + 1]; /* add/password: the new password */
	bool generated;                          /* password was generated: print it */
	char hash[PF_AUTH_HASH_TEXT_MAX];        /* its scrypt hash */
	char secret[PF_AUTH_TOKEN_CHARS + 1];    /* token or link secret */
	void (*done)(void *arg, int code);       /* borrowed */
	void *arg;                               /* for done */
} cli_ctx;

static void cli_usage(void)
{
	fputs("usage: propflow user add NAME [--admin]\n"
	      "       propflow user password NAME\n"
	      "       propflow user token NAME [--label L]\n"
	      "       propflow user link NAME\n"
	      "       propflow user list [--json]\n"
	      "       propflow user disable NAME\n"
	      "       propflow user enable NAME\n"
	      "A password is read from the first line of stdin when it is not a terminal;\n"
	      "otherwise (or when that line is empty) one is generated and printed. A password\n"
	      "has at least 8 characters and is not one of the most common passwords.\n"
	      "`user password` ends the user's sessions and revokes their API tokens.\n",
	      stderr);
}

static void cli_finish(cli_ctx *c, int code)
{
	void (*done)(void *, int) = c->done;
	void *arg = c->arg;
	fflush(stdout);
	explicit_bzero(c, sizeof(*c));
	free(c);
	done(arg, code);
}

/*
 * The first line of stdin when it is not a terminal ("" if none). A
 * pipe that stays silent for ACCOUNT_STDIN_WAIT_MS counts as empty, so a
 * parent that never closes our stdin cannot hang the command.
 */
static int cli_read_stdin_line(char *out, size_t cap)
{
	char buf[PF_AUTH_PASSWORD_MAX + 3];
	size_t n = 0;
	out[0] = 0;
	if (isatty(0))
		return 0;
	while (n < sizeof(buf) && !memchr(buf, '\n', n)) {
		struct pollfd pfd = {.fd = 0, .events = POLLIN};
		int p = poll(&pfd, 1, ACCOUNT_STDIN_WAIT_MS);
		if (p < 0 && errno == EINTR)
			continue;
		if (p <= 0 || (pfd.revents & POLLNVAL))
			break;
		ssize_t k = read(0, buf + n, sizeof(buf) - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			if (errno == EBADF)
				break;
			return PF_EIO;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	char *nl = memchr(buf, '\n', n);
	size_t len = nl ? (size_t)(nl - buf) : n;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	int rc = 0;
	if (len > PF_AUTH_PASSWORD_MAX || len >= cap)
		rc = PF_ELIMIT;
	else {
		memcpy(out, buf, len);
		out[len] = 0;
	}
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

/* Password from stdin or generated, then hashed. false: reported. */
static bool cli_password(cli_ctx *c)
{
	int rc = cli_read_stdin_line(c->password, sizeof(c->password));
	if (rc != 0) {
		fprintf(stderr, "propflow: %s\n",
		        rc == PF_ELIMIT ? "password longer than 1024 bytes" : "cannot read stdin");
		return false;
	}
	if (!c->password[0]) {
		char s[PF_AUTH_SECRET_CHARS + 1];
		if (pf_auth_new_secret("", s, sizeof(s)) != 0) {
			fputs("propflow: no randomness\n", stderr);
			return false;
		}
		memcpy(c->password, s, ACCOUNT_CLI_PASSWORD);
		c->password[ACCOUNT_CLI_PASSWORD] = 0;
		explicit_bzero(s, sizeof(s));
		c->generated = true;
	} else {
		const char *why = pf_password_policy_check(c->password, strlen(c->password));
		if (why) {
			fprintf(stderr, "propflow: %s\n", why);
			return false;
		}
	}
	if (pf_auth_hash_password(c->password, strlen(c->password), PF_AUTH_SCRYPT_LOG_N, c->hash,
	                          sizeof(c->hash)) != 0) {
		fputs("propflow: password hashing failed\n", stderr);
		return false;
	}
	return true;
}

static void cli_no_user(cli_ctx *c)
{
	fprintf(stderr, "propflow: no such user %s\n", c->name);
	cli_finish(c, 1);
}

static void cli_list(const pf_db_result *r, bool json)
{
	int n = pf_db_rows(r, 0);
	if (!json) {
		for (int i = 0; i < n; i++)
			printf("%s\t%s\t%s\t%s\n", pf_db_value(r, 0, i, 1),
			       account_is_true(pf_db_value(r, 0, i, 2)) ? "admin" : "user",
			       account_is_true(pf_db_value(r, 0, i, 3)) ? "disabled" : "active",
			       pf_db_value(r, 0, i, 4));
		return;
	}
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; a && i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		if (!o)
			break;
		cJSON_AddNumberToObject(o, "id",
		                        (double)strtoll(pf_db_value(r, 0, i, 0), NULL, 10));
		cJSON_AddStringToObject(o, "name", pf_db_value(r, 0, i, 1));
		cJSON_AddBoolToObject(o, "admin", account_is_true(pf_db_value(r, 0, i, 2)));
		cJSON_AddBoolToObject(o, "disabled", account_is_true(pf_db_value(r, 0, i, 3)));
		cJSON_AddStringToObject(o, "created_at", pf_db_value(r, 0, i, 4));
		cJSON_AddItemToArray(a, o);
	}
	char *s = a ? cJSON_PrintUnformatted(a) : NULL;
	cJSON_Delete(a);
	printf("%s\n", s ? s : "[]");
	free(s);
}

static void cli_done_cb(void *arg, const pf_db_result *r)
{
	cli_ctx *c = arg;
	if (r->error) {
		fprintf(stderr, "propflow: %s\n", r->error);
		cli_finish(c, 1);
		return;
	}
	int rows = pf_db_rows(r, 0);
	switch (c->cmd) {
	case CLI_ADD:
		if (rows == 0) {
			fprintf(stderr, "propflow: user %s exists\n", c->name);
			return cli_finish(c, 1);
		}
		printf("created user %s\n", c->name);
		if (c->generated)
			printf("password: %s\n", c->password);
		break;
	case CLI_PASSWORD:
		if (rows == 0)
			return cli_no_user(c);
		printf("password set for %s; other sessions ended, %d API token%s revoked\n",
		       c->name, pf_db_rows(r, 2), pf_db_rows(r, 2) == 1 ? "" : "s");
		if (c->generated)
			printf("password: %s\n", c->password);
		break;
	case CLI_TOKEN:
		if (rows == 0)
			return cli_no_user(c);
		printf("%s\n", c->secret);
		break;
	case CLI_LINK: {
		if (rows == 0)
			return cli_no_user(c);
		if (account_is_true(pf_db_value(r, 0, 0, 0))) {
			fprintf(stderr, "propflow: user %s is disabled\n", c->name);
			return cli_finish(c, 1);
		}
		/* where users reach the server: this command's --public-url, else
		 * what the last server started on this database recorded, else
		 * a guess from --listen (said so) */
		const pf_config *cfg = c->acc->cfg;
		char url[PF_CONFIG_STR_MAX + 128];
		const char *base = cfg->public_url;
		size_t blen = strcspn(base, ",");
		if (!blen && pf_db_rows(r, 1) > 0 && pf_db_value(r, 1, 0, 0)) {
			base = pf_db_value(r, 1, 0, 0);
			blen = strlen(base);
		}
		int rc2 = blen ? pf_account_link_url(base, blen, c->secret, url, sizeof(url))
		               : pf_account_login_url(cfg->listen, 0, c->secret, url, sizeof(url));
		if (rc2 != 0) {
			fprintf(stderr, "propflow: bad %s\n", blen ? "server address" : "--listen");
			return cli_finish(c, 1);
		}
		if (!blen)
			fprintf(
			    stderr,
			    "propflow: no server has run on this database yet: the link assumes "
			    "--listen %s (give --public-url URL to name where users reach it)\n",
			    cfg->listen);
		printf("%s\n", url);
		break;
	}
	case CLI_LIST: cli_list(r, c->acc->cfg->json != 0); break;
	case CLI_DISABLE:
	case CLI_ENABLE:
		if (rows == 0)
			return cli_no_user(c);
		printf("%s user %s\n", c->cmd == CLI_DISABLE ? "disabled" : "enabled", c->name);
		break;
	default: abort();
	}
	cli_finish(c, 0);
}

/* Builds the unit of c->cmd; 0 or an error code. */
static int cli_unit(cli_ctx *c, pf_db_unit *u)
{
	int rc = 0;
	switch (c->cmd) {
	case CLI_ADD:
		rc =
		    pf_db_unit_stmt(u, "INSERT INTO users (name, pw_hash, is_admin) "
		                       "VALUES ($1, $2, $3::boolean) ON CONFLICT (name) DO NOTHING "
		                       "RETURNING id");
		rc = pf_db_unit_text(u, c->name);
		rc = pf_db_unit_text(u, c->hash);
		rc = pf_db_unit_text(u, c->acc->cfg->admin ? "true" : "false");
		break;
	case CLI_PASSWORD:
		rc = pf_db_unit_stmt(u,
		                     "UPDATE users SET pw_hash = $2 WHERE name = $1 RETURNING id");
		rc = pf_db_unit_text(u, c->name);
		rc = pf_db_unit_text(u, c->hash);
		/* as the API route: every session and API token ends with the
		 * old password (see account_session.c hashed_cb) */
		rc = pf_db_unit_stmt(u, "DELETE FROM sessions WHERE user_id = "
		                        "(SELECT id FROM users WHERE name = $1)");
		rc = pf_db_unit_text(u, c->name);
		rc = pf_db_unit_stmt(u, "DELETE FROM api_tokens WHERE user_id = "
		                        "(SELECT id FROM users WHERE name = $1) RETURNING 1");
		rc = pf_db_unit_text(u, c->name);
		break;
	case CLI_TOKEN:
		if (pf_auth_new_secret(PF_AUTH_TOKEN_PREFIX, c->secret, sizeof(c->secret)) != 0)
			return PF_EIO;
		rc =
		    pf_db_unit_stmt(u, "INSERT INTO api_tokens (token_hash, user_id, label) "
		                       "SELECT $1, id, $3 FROM users WHERE name = $2 RETURNING id");
		rc = account_unit_secret(u, c->secret);
		rc = pf_db_unit_text(u, c->name);
		rc = pf_db_unit_text(u, c->acc->cfg->label);
		break;
	case CLI_LINK:
		if (pf_auth_new_secret("", c->secret, sizeof(c->secret)) != 0)
			return PF_EIO;
		rc = pf_db_unit_stmt(
		    u, "WITH u AS (SELECT id, disabled FROM users WHERE name = $2), "
		       "l AS (INSERT INTO login_links (link_hash, user_id, expires_at) "
		       "SELECT $1, id, now() + make_interval(secs => $3) FROM u "
		       "WHERE NOT disabled RETURNING 1) SELECT disabled FROM u");
		rc = rc ? rc : account_unit_secret(u, c->secret);
		rc = pf_db_unit_text(u, c->name);
		rc = pf_db_unit_int(u, PF_ACCOUNT_LINK_TTL_S);
		rc = pf_db_unit_stmt(u, "SELECT coalesce(public_url, url) FROM server_instances "
		                        "ORDER BY started_at DESC LIMIT 1");
		break;
	case CLI_LIST:
		rc = pf_db_unit_stmt(u, "SELECT id, name, is_admin, disabled, " ACCOUNT_ISO(
		                            "created_at") " FROM users ORDER BY id");
		break;
	case CLI_DISABLE:
		rc = pf_db_unit_stmt(
		    u, "UPDATE users SET disabled = true WHERE name = $1 RETURNING id");
		rc = pf_db_unit_text(u, c->name);
		rc = pf_db_unit_stmt(u, "DELETE FROM sessions WHERE user_id = "
		                        "(SELECT id FROM users WHERE name = $1)");
		rc = pf_db_unit_text(u, c->name);
		rc =
		    pf_db_unit_stmt(u, "UPDATE login_links SET used_at = now() WHERE used_at IS "
		                       "NULL AND user_id = (SELECT id FROM users WHERE name = $1)");
		rc = pf_db_unit_text(u, c->name);
		break;
	case CLI_ENABLE:
		rc = pf_db_unit_stmt(
		    u, "UPDATE users SET disabled = false WHERE name = $1 RETURNING id");
		rc = pf_db_unit_text(u, c->name);
		break;
	default: abort();
	}
	return rc;
}

void pf_account_cli(pf_account *acc, int argc, const char **argv, void (*done)(void *arg, int code),
                    void *arg)
{
	size_t i = 0;
	while (argc > 0 && i < PF_ARRAY_LEN(cli_cmds) && strcmp(argv[0], cli_cmds[i].word) != 0)
		i++;
	if (argc < 1 || i == PF_ARRAY_LEN(cli_cmds) || argc != (cli_cmds[i].takes_name ? 2 : 1)) {
		if (argc >= 1 && i == PF_ARRAY_LEN(cli_cmds))
			fprintf(stderr, "propflow: unknown user command %s\n", argv[0]);
		cli_usage();
		done(arg, 2);
		return;
	}
	if (cli_cmds[i].takes_name && !pf_auth_name_valid(argv[1])) {
		fprintf(stderr, "propflow: bad user name (1 to 64 of A-Z a-z 0-9 . _ @ -)\n");
		done(arg, 2);
		return;
	}
	cli_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		fputs("propflow: out of memory\n", stderr);
		done(arg, 1);
		return;
	}
	c->acc = acc;
	c->cmd = cli_cmds[i].cmd;
	c->done = done;
	c->arg = arg;
	if (cli_cmds[i].takes_name)
		snprintf(c->name, sizeof(c->name), "%s", argv[1]);
	if ((c->cmd == CLI_ADD || c->cmd == CLI_PASSWORD) && !cli_password(c))
		return cli_finish(c, 1);
	pf_db_unit *u = pf_db_unit_new(cli_done_cb, c);
	int rc = u ? cli_unit(c, u) : PF_ENOMEM;
	if (rc != 0) {
		if (u)
			pf_db_unit_free(u);
		fprintf(stderr, "propflow: %s\n", pf_strerror(rc));
		return cli_finish(c, 1);
	}
	pf_db_submit(acc->writers, 0, u);
}
