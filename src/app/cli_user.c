/*
 * cli_user: `parley user create` and `parley user reset-password`.
 *
 *	parley user create --email E --org NAME [--role R] [--one-time]
 *	parley user reset-password --email E [--one-time]
 *
 * The password comes from standard input (one line), never from the
 * command line, where other users could read it in the process list.
 * --one-time marks it as a password the user must replace at their first
 * sign-in (the panel then shows only the change-password page).
 *
 * reset-password is the way back in when nobody can sign in as an owner:
 * it sets the password, ends every session of the user, forgets their
 * failed sign-in attempts, and works whatever organisations the user is
 * in, active or not (it does not reactivate: the Users page does).
 *
 * Every action is audited as actor "cli" in the user's organisation.
 * Exit status 0 on success, 2 for a usage error, 1 when the database
 * refuses or the user is unknown.
 */
#include "app/cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "app/app.h"
#include "crypto/password.h"
#include "db/db.h"
#include "http/session.h"
#include "model/audit.h"
#include "model/channel.h"
#include "model/org.h"
#include "model/orgmodel.h"
#include "model/throttle.h"
#include "model/user.h"
#include "util/str.h"

static bool	 has_flag(int, char **, const char *);
static bool	 email_arg(const char *, char [USER_EMAIL_MAX + 1]);
static int	 usage(void);
static int	 read_password(char hash[PASSWORD_HASH_MAX]);
static int	 user_create_cmd(int, char **);
static int	 user_reset_cmd(int, char **);

static int
usage(void)
{
	fprintf(stderr, "usage: parley user create --email E --org NAME "
	    "[--role owner|admin|member] [--one-time]\n"
	    "       parley user reset-password --email E [--one-time]\n"
	    "The password is read from standard input.\n");
	return 2;
}

const char *
cli_opt(int argc, char **argv, const char *name)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

/* --email's value, checked and lower-cased into em; says why not. */
static bool
email_arg(const char *email, char em[USER_EMAIL_MAX + 1])
{
	if (email == NULL || !str_copy(em, email, USER_EMAIL_MAX + 1) ||
	    !user_email_valid(em)) {
		fprintf(stderr, "parley: --email must be an email address.\n");
		return false;
	}
	str_lower(em);
	return true;
}

static bool
has_flag(int argc, char **argv, const char *name)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return true;
	return false;
}

/*
 * One line from standard input, checked and hashed into hash; the
 * plaintext is wiped. Returns 0, or the exit status after saying why.
 */
static int
read_password(char hash[PASSWORD_HASH_MAX])
{
	char	 pw[PASSWORD_MAX_LEN + 2];
	size_t	 n;
	bool	 ok;

	if (isatty(STDIN_FILENO))
		fprintf(stderr, "Password (at least %d characters): ",
		    PASSWORD_MIN_LEN);
	if (fgets(pw, sizeof(pw), stdin) == NULL) {
		fprintf(stderr, "parley: no password on standard input.\n");
		return 2;
	}
	n = strcspn(pw, "\r\n");
	pw[n] = '\0';
	if (n < PASSWORD_MIN_LEN || n > PASSWORD_MAX_LEN) {
		sodium_memzero(pw, sizeof(pw));
		fprintf(stderr, "parley: the password must be %d to %d "
		    "characters.\n", PASSWORD_MIN_LEN, PASSWORD_MAX_LEN);
		return 2;
	}
	ok = password_hash(pw, hash);
	sodium_memzero(pw, sizeof(pw));
	if (!ok) {
		fprintf(stderr, "parley: could not hash the password.\n");
		return 1;
	}
	return 0;
}

bool
cli_open(struct app *app, struct db **db)
{
	char	 err[512];

	memset(app, 0, sizeof(*app));
	*db = NULL;
	if (!config_load(&app->cfg, err, sizeof(err))) {
		fprintf(stderr, "parley: %s\n", err);
		return false;
	}
	if (!app_open(app, true))
		return false;
	if ((*db = db_acquire(app->db)) == NULL) {
		fprintf(stderr, "parley: cannot connect to PostgreSQL (check "
		    "PARLEY_DATABASE_URL).\n");
		return false;
	}
	return true;
}

static int
user_create_cmd(int argc, char **argv)
{
	const char	*email = cli_opt(argc, argv, "--email");
	const char	*org = cli_opt(argc, argv, "--org");
	const char	*role = cli_opt(argc, argv, "--role");
	bool		 one_time = has_flag(argc, argv, "--one-time");
	char		 hash[PASSWORD_HASH_MAX], em[USER_EMAIL_MAX + 1];
	char		 detail[USER_EMAIL_MAX + 64];
	struct app	 app;
	struct db	*db = NULL;
	int64_t		 org_id = 0, user_id = 0;
	enum db_status	 st;
	int		 rc;

	if (email == NULL || org == NULL)
		return usage();
	if (role == NULL)
		role = "owner";
	if (!user_role_valid(role)) {
		fprintf(stderr, "parley: --role must be owner, admin or "
		    "member.\n");
		return 2;
	}
	if (!email_arg(email, em))
		return 2;
	if (*org == '\0' || strlen(org) > 4 * ORG_NAME_MAX) {
		fprintf(stderr, "parley: --org must be 1 to 200 characters.\n");
		return 2;
	}
	if ((rc = read_password(hash)) != 0)
		return rc;
	rc = 1;
	if (!cli_open(&app, &db))
		goto out;
	if (db_tx_begin(db) != DB_OK)
		goto out;
	st = org_find_by_name_any_org(db, org, &org_id);
	if (st == DB_NOT_FOUND) {
		st = org_create(db, org, &org_id);
		if (st == DB_OK)
			st = orgmodel_ensure_builtin(db, org_id);
		if (st == DB_OK)
			st = channel_ensure_sandbox(db, org_id, NULL);
	}
	if (st == DB_OK)
		st = user_create(db, em, hash, one_time, &user_id);
	if (st == DB_OK)
		st = user_membership_set(db, org_id, user_id, role);
	if (st == DB_OK)
		st = db_tx_commit(db);
	db_tx_rollback(db);
	if (st == DB_CONFLICT)
		fprintf(stderr, "parley: a user with that email already "
		    "exists.\n");
	else if (st == DB_INVALID)
		fprintf(stderr, "parley: the organisation name is not "
		    "valid.\n");
	else if (st != DB_OK)
		fprintf(stderr, "parley: the database refused the user (%s).\n",
		    db_status_str(st));
	else {
		snprintf(detail, sizeof(detail), "%s (%s%s)", em, role,
		    one_time ? ", one-time password" : "");
		audit_db(db, org_id, 0, "cli", "user.created", "user",
		    user_id, detail);
		printf("Created %s %s in organisation \"%s\"%s.\n", role, em,
		    org, one_time ? "; they choose their own password at "
		    "first sign-in" : "");
		rc = 0;
	}
out:
	if (db != NULL)
		db_release(db);
	app_close(&app);
	return rc;
}

static int
user_reset_cmd(int argc, char **argv)
{
	const char	*email = cli_opt(argc, argv, "--email");
	bool		 one_time = has_flag(argc, argv, "--one-time");
	char		 hash[PASSWORD_HASH_MAX], em[USER_EMAIL_MAX + 1];
	char		 detail[USER_EMAIL_MAX + 64];
	struct app	 app;
	struct db	*db = NULL;
	int64_t		 org_id = 0, user_id = 0;
	bool		 is_active = false;
	enum db_status	 st;
	int		 rc;

	if (email == NULL)
		return usage();
	if (!email_arg(email, em))
		return 2;
	if ((rc = read_password(hash)) != 0)
		return rc;
	rc = 1;
	if (!cli_open(&app, &db))
		goto out;
	st = user_lookup_any_org(db, em, &user_id, &org_id, &is_active);
	if (st == DB_NOT_FOUND) {
		fprintf(stderr, "parley: there is no user %s.\n", em);
		goto out;
	}
	/* The new password and the end of every session, together. */
	if (st == DB_OK)
		st = db_tx_begin(db);
	if (st == DB_OK)
		st = user_password_set(db, user_id, hash, one_time);
	if (st == DB_OK)
		st = session_delete_user(db, user_id, 0);
	if (st == DB_OK)
		st = throttle_login_forget(db, em);
	if (st == DB_OK)
		st = db_tx_commit(db);
	db_tx_rollback(db);
	if (st != DB_OK) {
		fprintf(stderr, "parley: the database refused the new password "
		    "(%s); nothing was changed.\n", db_status_str(st));
		goto out;
	}
	snprintf(detail, sizeof(detail), "%s: sessions ended%s", em,
	    one_time ? ", one-time password" : "");
	if (org_id > 0)
		audit_db(db, org_id, 0, "cli", "user.password_reset", "user",
		    user_id, detail);
	printf("Set a new password for %s and signed them out everywhere%s."
	    "\n", em, one_time ? "; they choose their own at the next "
	    "sign-in" : "");
	if (!is_active)
		printf("%s is deactivated: an owner can reactivate them on "
		    "the Users page.\n", em);
	rc = 0;
out:
	if (db != NULL)
		db_release(db);
	app_close(&app);
	return rc;
}

int
cli_user(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return user_create_cmd(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "reset-password") == 0)
		return user_reset_cmd(argc - 1, argv + 1);
	return usage();
}
