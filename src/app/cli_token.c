/*
 * cli_token: `parley token create --email E --name N [--role R]`.
 *
 * Creates an API token in the first organisation of the user E (the same
 * organisation E signs in to) and prints the token, and only the token, on
 * standard output so scripts can capture it:
 *
 *	TOKEN=$(parley token create --email me@example.com --name ci)
 *
 * A sentence for people goes to standard error. The token is shown once:
 * only its hash is stored. It acts for E, never with more than E's role
 * (model/apitoken.c), and is audited as actor "cli". Exit status 0 on success, 2 for a usage error,
 * 1 when the user is unknown or the database refuses.
 */
#include "app/cli.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "app/app.h"
#include "db/db.h"
#include "model/apitoken.h"
#include "model/audit.h"
#include "model/user.h"
#include "util/str.h"
#include "util/utf8.h"

#define TOKEN_NAME_MAX	100	/* characters, as the table checks */

static int	usage(void);

static int
usage(void)
{
	fprintf(stderr, "usage: parley token create --email E --name N "
	    "[--role owner|admin|member]\n");
	return 2;
}

int
cli_token(int argc, char **argv)
{
	const char	*email = cli_opt(argc, argv, "--email");
	const char	*name = cli_opt(argc, argv, "--name");
	const char	*role = cli_opt(argc, argv, "--role");
	char		 token[APITOKEN_LEN + 1];
	char		 detail[800];
	struct app	 app;
	struct db	*db = NULL;
	int64_t		 user_id = 0, org_id = 0, id = 0;
	enum db_status	 st;
	size_t		 n_chars;
	int		 rc = 1;

	if (argc < 2 || strcmp(argv[1], "create") != 0 || email == NULL ||
	    name == NULL)
		return usage();
	if (role == NULL)
		role = "admin";
	if (!user_role_valid(role)) {
		fprintf(stderr, "parley: --role must be owner, admin or "
		    "member.\n");
		return 2;
	}
	if (!user_email_valid(email)) {
		fprintf(stderr, "parley: --email must be an email address.\n");
		return 2;
	}
	n_chars = utf8_valid(name, strlen(name)) ?
	    utf8_count(name, strlen(name)) : 0;
	if (n_chars < 1 || n_chars > TOKEN_NAME_MAX) {
		fprintf(stderr, "parley: --name must be 1 to %d characters of "
		    "UTF-8 text.\n", TOKEN_NAME_MAX);
		return 2;
	}

	if (!cli_open(&app, &db))
		goto out;
	st = user_find_by_email_any_org(db, email, &user_id, &org_id);
	if (st == DB_NOT_FOUND) {
		fprintf(stderr, "parley: there is no active user %s with an "
		    "organisation.\n", email);
		goto out;
	}
	if (st == DB_OK)
		st = apitoken_create(db, org_id, user_id, name, role, token,
		    &id);
	if (st != DB_OK) {
		fprintf(stderr, "parley: the database refused the token (%s).\n",
		    db_status_str(st));
		goto out;
	}
	snprintf(detail, sizeof(detail), "%s (%s) for %s", name, role,
	    email);
	audit_db(db, org_id, 0, "cli", "token.created", "api_token", id,
	    detail);
	printf("%s\n", token);
	fflush(stdout);
	sodium_memzero(token, sizeof(token));
	fprintf(stderr, "Created %s API token \"%s\" (id %lld) for %s. It is "
	    "shown once: store it now.\n", role, name, (long long)id, email);
	rc = 0;
out:
	if (db != NULL)
		db_release(db);
	app_close(&app);
	return rc;
}
