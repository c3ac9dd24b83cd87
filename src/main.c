/*
 * parley: the command line. One table of commands {name, fn, usage}
 * (cgit's cmd.c shape); each command builds what it needs of the app
 * context and tears it down before returning its exit status.
 *
 * Every command answers -h/--help with its usage (exit 0) and refuses
 * arguments it does not know (exit 2); `parley` alone prints the usage and
 * exits 2, as does an unknown command, so a typo never starts a server.
 *
 * serve: signals are blocked in every thread before any is started, and the
 * main thread waits for SIGINT/SIGTERM with sigwait(); CivetWeb's mg_stop()
 * then finishes in-flight requests before the pool and the embedded cluster
 * are stopped, so Ctrl-C always exits 0 with nothing half-done. Before it
 * serves, it marks the database as in use (db/presence.c: `parley key
 * rotate` refuses meanwhile) and checks that its master key is the one the
 * database's secrets were sealed with (model/masterkey.c).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "app/cli.h"
#include "util/log.h"
#include "db/db.h"
#include "http/server.h"
#include "model/masterkey.h"
#include "util/httpc.h"
#include "util/str.h"

struct cmd {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*usage;
};

static int	cmd_serve(int, char **);
static int	cmd_migrate(int, char **);
static int	cmd_version(int, char **);
static int	cmd_help(int, char **);
static bool	load_config(struct app *);
static bool	hold_database(struct app *, struct db_presence **);
static void	recheck_key(void *);
static void	print_usage(FILE *);
static const struct cmd *find_cmd(const char *);

/* Continuation lines of a usage line: under the description column. */
#define MORE	"\n                                    "

static const struct cmd	 cmds[] = {
	{ "serve", cmd_serve, "serve                      run the panel, "
	    "webhooks, API and reply pool" },
	{ "migrate", cmd_migrate, "migrate                    apply pending "
	    "database migrations" },
	{ "user", cli_user, "user create --email E --org NAME [--role ROLE] "
	    "[--one-time]" MORE "create a user (password on stdin); ROLE is "
	    "owner (the" MORE "default), admin or member\n"
	    "  parley user reset-password --email E [--one-time]" MORE
	    "set a user's password (on stdin) and sign them out" MORE
	    "everywhere" },
	{ "key", cli_key, "key rotate                 re-encrypt every stored "
	    "secret under a new" MORE "master key (refused while a server "
	    "uses the database)" },
	{ "token", cli_token, "token create --email E --name N [--role R]"
	    MORE "create an API token for E's organisation and print" MORE
	    "it once" },
	{ "media", cli_media, "media migrate --to s3|db [--batch N]" MORE
	    "move stored media into the S3 store or back" },
	{ "extract", cli_extract, "extract --kind K …" MORE "(internal) read a document "
	    "on stdin, with limits" },
	{ "version", cmd_version, "version                    print the "
	    "version" },
	{ "help", cmd_help, "help                       this text (COMMAND "
	    "--help: one command's)" },
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

/*
 * Marks the database as served by this process and checks the master key
 * against it; false having said why in one sentence.
 */
static bool
hold_database(struct app *app, struct db_presence **presence)
{
	struct db	*db;
	const char	*conninfo = NULL;
	char		 err[512];
	enum db_status	 st;

	/* The presence lock is a session's: the direct URL behind a pooler,
	 * and none at all behind a transaction pooler without one (the lock
	 * would stay on whatever server connection the pooler lent). */
	if (app->cfg.database_direct_url != NULL)
		conninfo = app->cfg.database_direct_url;
	else if (app->cfg.db_pooler != CONFIG_POOLER_TRANSACTION)
		conninfo = db_pool_conninfo(app->db);
	if (conninfo == NULL) {
		*presence = NULL;
		log_warn("serve", "msg=\"behind a transaction pooler without "
		    "PARLEY_DATABASE_DIRECT_URL this server cannot mark the "
		    "database as in use: parley key rotate refuses to run "
		    "there\"");
	} else if ((*presence = db_presence_start(conninfo, recheck_key, app,
	    err, sizeof(err))) == NULL) {
		fprintf(stderr, "parley: %s.\n", err);
		return false;
	}
	if ((db = db_acquire(app->db)) == NULL) {
		fprintf(stderr, "parley: cannot connect to PostgreSQL (check "
		    "PARLEY_DATABASE_URL).\n");
		return false;
	}
	st = masterkey_verify(db, app->key);
	db_release(db);
	if (st == DB_INVALID) {
		fprintf(stderr, "parley: the master key in %s "
		    "(PARLEY_MASTER_KEY_FILE) is not the key this database's "
		    "secrets were sealed with; start Parley with the key file "
		    "of the last `parley key rotate` (if one was interrupted, "
		    "run it again to finish).\n", app->cfg.master_key_file);
		return false;
	}
	if (st != DB_OK) {
		fprintf(stderr, "parley: cannot check the master key against "
		    "the database (%s).\n", db_status_str(st));
		return false;
	}
	return true;
}

/*
 * db/presence.c's callback after the serve lock was lost (PostgreSQL
 * restarted) and taken again: a rotation may have got in between.
 */
static void
recheck_key(void *arg)
{
	struct app	*app = arg;
	struct db	*db;

	if ((db = db_acquire(app->db)) == NULL)
		return;
	if (masterkey_verify(db, app->key) == DB_INVALID)
		log_err("app", "msg=\"the master key was rotated while this "
		    "server was disconnected from PostgreSQL; its key no "
		    "longer opens the stored secrets: restart it\"");
	db_release(db);
}

static int
cmd_serve(int argc, char **argv)
{
	struct app		 app;
	struct db_presence	*presence = NULL;
	sigset_t		 set;
	char			 err[512];
	int			 sig = 0, rc = 1;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "parley: serve takes no arguments (they come "
		    "from PARLEY_* variables; see parley help).\n");
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (!load_config(&app))
		return 2;
	if (!app_open(&app, true) || !hold_database(&app, &presence) ||
	    !app_bootstrap_owner(&app))
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
	db_presence_stop(presence);
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

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: parley migrate\n");
		return 2;
	}
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
cmd_version(int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: parley version\n");
		return 2;
	}
	printf("parley %s\n", PARLEY_VERSION);
	return 0;
}

static void
print_usage(FILE *f)
{
	fprintf(f, "Parley %s: AI agents on WhatsApp.\n\nusage: parley "
	    "COMMAND\n\n", PARLEY_VERSION);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  parley %s\n", cmds[i].usage);
	fprintf(f, "\nConfiguration comes from PARLEY_* environment variables; "
	    "see README.md.\n");
}

static int
cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	print_usage(stdout);
	return 0;
}

static const struct cmd *
find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	const struct cmd	*c;
	const char		*name;
	int			 rc;

	if (argc < 2) {
		print_usage(stderr);
		return 2;
	}
	name = argv[1];
	if (strcmp(name, "--version") == 0 || strcmp(name, "-v") == 0)
		name = "version";
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		name = "help";
	if ((c = find_cmd(name)) == NULL) {
		fprintf(stderr, "parley: unknown command \"%s\"; try parley "
		    "--help.\n", name);
		return 2;
	}
	/* "parley serve --help" is a question, never a start. */
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			printf("usage: parley %s\n", c->usage);
			return 0;
		}
	}
	if (!httpc_global_init()) {
		fprintf(stderr, "parley: libcurl could not start.\n");
		return 1;
	}
	rc = c->fn(argc - 1, argv + 1);
	/* Every command has ended its threads: no transfer is running. */
	httpc_global_cleanup();
	return rc;
}
