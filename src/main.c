/*
 * parley: the command line. One table of commands {name, fn, usage}
 * (cgit's cmd.c shape); each command builds what it needs of the app
 * context and tears it down before returning its exit status.
 *
 * serve: signals are blocked in every thread before any is started, and the
 * main thread waits for SIGINT/SIGTERM with sigwait(); CivetWeb's mg_stop()
 * then finishes in-flight requests before the pool and the embedded cluster
 * are stopped, so Ctrl-C always exits 0 with nothing half-done.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "app/app.h"
#include "app/cli.h"
#include "util/log.h"
#include "crypto/password.h"
#include "db/db.h"
#include "http/server.h"
#include "model/channel.h"
#include "model/org.h"
#include "model/orgmodel.h"
#include "model/user.h"
#include "util/str.h"

struct cmd {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*usage;
};

static int	cmd_serve(int, char **);
static int	cmd_migrate(int, char **);
static int	cmd_user(int, char **);
static int	cmd_version(int, char **);
static int	cmd_help(int, char **);
static bool	load_config(struct app *);
static const char *opt(int, char **, const char *);

static const struct cmd	 cmds[] = {
	{ "serve", cmd_serve, "serve                      run the panel, "
	    "webhooks, API and reply pool" },
	{ "migrate", cmd_migrate, "migrate                    apply pending "
	    "database migrations" },
	{ "user", cmd_user, "user create --email E --org NAME --role ROLE\n"
	    "                             create a user (password on stdin); "
	    "ROLE is owner, admin or member" },
	{ "key", cli_key, "key rotate                 re-encrypt every stored "
	    "secret under a new master key" },
	{ "token", cli_token, "token create --email E --name N [--role R]\n"
	    "                             create an API token for E's "
	    "organisation and print it once" },
	{ "media", cli_media, "media migrate --to s3|db [--batch N]\n"
	    "                             move stored media into the S3 store "
	    "or back" },
	{ "extract", cli_extract, "extract --kind K …          (internal) read "
	    "a document on stdin, with limits" },
	{ "version", cmd_version, "version                    print the "
	    "version" },
	{ "help", cmd_help, "help                       this text" },
};

static bool
load_config(struct app *app)
{
	char	 err[512];

	memset(app, 0, sizeof(*app));
	if (!config_load(&app->cfg, err, sizeof(err))) {
		fprintf(stderr, "parley: %s\n", err);
		config_free(&app->cfg);
		return false;
	}
	return true;
}

/* The value after a --name argument, or NULL. */
static const char *
opt(int argc, char **argv, const char *name)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

static int
cmd_serve(int argc, char **argv)
{
	struct app	 app;
	sigset_t	 set;
	char		 err[512];
	int		 sig = 0, rc = 1;

	(void)argc;
	(void)argv;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (!load_config(&app))
		return 2;
	if (!app_open(&app, true) || !app_bootstrap_owner(&app))
		goto out;
	if (!app_workers_start(&app))
		goto out;
	if (!server_start(&app, err, sizeof(err))) {
		fprintf(stderr, "parley: PARLEY_LISTEN %s: %s\n",
		    app.cfg.listen, err);
		goto out;
	}
	log_info("app", "msg=\"listening\" url=http://%s:%d public=%s "
	    "version=%s", app.cfg.listen_host, app.cfg.listen_port,
	    app.cfg.public_url, PARLEY_VERSION);
	fprintf(stderr, "parley: listening on http://%s:%d (Ctrl-C stops)\n",
	    app.cfg.listen_host, app.cfg.listen_port);
	sigwait(&set, &sig);
	log_info("app", "msg=\"stopping\" signal=%s",
	    sig == SIGINT ? "SIGINT" : "SIGTERM");
	/* Webhooks first (no new work), then the pool drains its jobs. */
	server_stop(&app);
	app_workers_stop(&app);
	rc = 0;
out:
	server_stop(&app);
	app_workers_stop(&app);
	app_close(&app);
	if (rc == 0)
		log_info("app", "msg=\"stopped\"");
	return rc;
}

static int
cmd_migrate(int argc, char **argv)
{
	struct app	 app;
	int		 rc;

	(void)argc;
	(void)argv;
	if (!load_config(&app))
		return 2;
	rc = app_open(&app, true) ? 0 : 1;
	if (rc == 0)
		printf("Database is at migration %d.\n",
		    app.migrations_latest);
	app_close(&app);
	return rc;
}

static int
cmd_user(int argc, char **argv)
{
	const char	*email = opt(argc, argv, "--email");
	const char	*org = opt(argc, argv, "--org");
	const char	*role = opt(argc, argv, "--role");
	char		 pw[PASSWORD_MAX_LEN + 2], hash[PASSWORD_HASH_MAX];
	char		 em[USER_EMAIL_MAX + 1];
	struct app	 app;
	struct db	*db = NULL;
	int64_t		 org_id = 0, user_id = 0;
	enum db_status	 st;
	int		 rc = 1;
	size_t		 n;

	if (argc < 2 || strcmp(argv[1], "create") != 0 || email == NULL ||
	    org == NULL) {
		fprintf(stderr, "usage: parley user create --email E --org NAME "
		    "--role owner|admin|member\n");
		return 2;
	}
	if (role == NULL)
		role = "owner";
	if (!user_role_valid(role)) {
		fprintf(stderr, "parley: --role must be owner, admin or "
		    "member.\n");
		return 2;
	}
	if (!str_copy(em, email, sizeof(em)) || !user_email_valid(em)) {
		fprintf(stderr, "parley: --email must be an email address.\n");
		return 2;
	}
	str_lower(em);
	if (*org == '\0' || strlen(org) > 4 * ORG_NAME_MAX) {
		fprintf(stderr, "parley: --org must be 1 to 200 characters.\n");
		return 2;
	}
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
		fprintf(stderr, "parley: the password must be %d to %d "
		    "characters.\n", PASSWORD_MIN_LEN, PASSWORD_MAX_LEN);
		return 2;
	}
	if (!password_hash(pw, hash)) {
		fprintf(stderr, "parley: could not hash the password.\n");
		return 1;
	}
	memset(pw, 0, sizeof(pw));
	if (!load_config(&app))
		return 2;
	if (!app_open(&app, true))
		goto out;
	if ((db = db_acquire(app.db)) == NULL) {
		fprintf(stderr, "parley: cannot connect to PostgreSQL.\n");
		goto out;
	}
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
		st = user_create(db, em, hash, &user_id);
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
		printf("Created %s %s in organisation \"%s\".\n", role, em, org);
		rc = 0;
	}
out:
	if (db != NULL)
		db_release(db);
	app_close(&app);
	return rc;
}

static int
cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("parley %s\n", PARLEY_VERSION);
	return 0;
}

static int
cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("Parley %s: AI agents on WhatsApp.\n\nusage: parley COMMAND\n\n",
	    PARLEY_VERSION);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		printf("  parley %s\n", cmds[i].usage);
	printf("\nConfiguration comes from PARLEY_* environment variables; "
	    "see README.md.\n");
	return 0;
}

int
main(int argc, char **argv)
{
	const char	*name = argc > 1 ? argv[1] : "help";
	int		 rc;

	if (strcmp(name, "--version") == 0 || strcmp(name, "-v") == 0)
		name = "version";
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		name = "help";
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmds[i].name, name) == 0) {
			rc = cmds[i].fn(argc - 1, argv + 1);
			curl_global_cleanup();
			return rc;
		}
	}
	fprintf(stderr, "parley: unknown command \"%s\"; try parley --help.\n",
	    name);
	curl_global_cleanup();
	return 2;
}
