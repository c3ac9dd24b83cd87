/*
 * cli_key: `parley key rotate` — re-encrypt every stored secret under a new
 * master key.
 *
 * Every sealed column is listed once in `columns` below with the owner's
 * re-seal function; a new secret column is one more line there. All of
 * them are re-sealed in ONE transaction, so the database never holds a mix
 * of old and new ciphertexts.
 *
 * DESIGN: crash recovery. Two things must change together, the database
 * and the key file, and no single operation covers both. The order is:
 *
 *   1. write the new key to "<keyfile>.new" (temporary file, fsync,
 *      rename: the .new file is either whole or absent);
 *   2. re-seal everything and COMMIT;
 *   3. rename "<keyfile>.new" over the key file (atomic) and fsync the
 *      directory.
 *
 * A crash before 2 commits leaves the database under the old key, which
 * is still the key file: nothing is lost; a stale .new file is left. A
 * crash between 2 and 3 leaves the database under the key in .new while
 * the key file still holds the old one: the server would fail to open
 * secrets (it reports them as unreadable, never as garbage, thanks to the
 * AEAD tag). Running `parley key rotate` again detects a leftover .new
 * file and probes which key the stored secrets open with: if it is the
 * .new key, the interrupted rotation committed, so it finishes step 3 and
 * stops; otherwise the .new file is discarded and a fresh rotation runs.
 * An empty database opens with either key; finishing the rename is then
 * harmless.
 *
 * The running server keeps the old key in memory, so a rotation under a
 * running server would leave it unable to open any credential. Every
 * `parley serve` therefore holds a shared advisory lock for as long as it
 * runs (db/presence.c), and the rotation takes the same lock exclusively
 * without waiting: while any server, on any machine, holds the database,
 * the rotation refuses and changes nothing; while the rotation runs, no
 * server starts. An advisory lock rather than a heartbeat row: PostgreSQL
 * drops it with the session, so a killed server leaves no stale mark and
 * no clock or timeout is involved. Writers that are mid-way (other
 * commands) wait for the rotation (each owner locks its table inside the
 * transaction).
 *
 * The master key check value (model/masterkey.c) is re-sealed with the
 * rest, so a server started with the old key file afterwards says at once
 * that its key is wrong, and the recovery probe below works even on a
 * database with no credentials. Each rotation is audited as actor "cli"
 * in every organisation.
 */
#include "app/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "util/config.h"
#include "crypto/secret.h"
#include "db/db.h"
#include "model/audit.h"
#include "model/channel.h"
#include "model/mcp_server.h"
#include "model/masterkey.h"
#include "model/org.h"
#include "model/provider.h"
#include "util/arena.h"
#include "util/xmalloc.h"

typedef enum db_status (*rotate_fn)(struct db *, const struct secret_key *,
    const struct secret_key *, int *);

#define CHECK_VALUE	"the master key check value"

static const struct {
	const char	*what;
	rotate_fn	 rotate;
} columns[] = {
	/* First: when it does not open, the key is wrong (not one row). */
	{ CHECK_VALUE, masterkey_rotate_any_org },
	{ "LLM provider API keys", provider_rotate_keys_any_org },
	/* All seven sealed channels.*_enc columns, row by row. */
	{ "WhatsApp channel credentials", channel_rotate_keys_any_org },
	/* Tokens, headers, client secrets, OAuth tokens and verifiers. */
	{ "MCP server secrets", mcp_server_rotate_keys_any_org },
	{ "Twilio webhook shared keys", channel_shared_keys_rotate_any_org },
};

static enum db_status rotate_all(struct db *, const struct secret_key *,
		    const struct secret_key *, int *, const char **);
static int	 recover(struct db *, const char *, const char *, bool *);
static bool	 finish_rename(const char *, const char *);
static void	 audit_rotation(struct db *, const char *);

/*
 * Re-seals every column from old to new inside the caller's transaction.
 * *total counts the secrets; on failure *what names the column.
 */
static enum db_status
rotate_all(struct db *db, const struct secret_key *old_key,
    const struct secret_key *new_key, int *total, const char **what)
{
	enum db_status	 st = DB_OK;
	int		 n;

	*total = 0;
	*what = NULL;
	for (size_t i = 0; i < sizeof(columns) / sizeof(columns[0]); i++) {
		n = 0;
		st = columns[i].rotate(db, old_key, new_key, &n);
		if (st != DB_OK) {
			*what = columns[i].what;
			break;
		}
		*total += n;
	}
	return st;
}

/* Step 3: the new key takes the key file's place (atomic rename). */
static bool
finish_rename(const char *pending, const char *keyfile)
{
	char	*dir, *slash;
	int	 fd;

	if (rename(pending, keyfile) != 0) {
		fprintf(stderr, "parley: cannot rename %s to %s: %s. The "
		    "stored secrets are sealed with the key in %s: move it "
		    "over %s (mode 0600) before starting the server.\n",
		    pending, keyfile, strerror(errno), pending, keyfile);
		return false;
	}
	/* The rename is durable once the directory is. */
	dir = xstrdup(keyfile);
	if ((slash = strrchr(dir, '/')) != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	fd = open(slash != NULL ? dir : ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (fd != -1) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
	return true;
}

/* One audit entry per organisation: the rotation touched them all. */
static void
audit_rotation(struct db *db, const char *detail)
{
	struct arena	*a = arena_new();
	int64_t		*ids = NULL;
	int		 n = 0;

	if (org_ids_any_org(db, a, &ids, &n) != DB_OK)
		fprintf(stderr, "parley: the rotation is done, but the audit "
		    "log could not be written.\n");
	for (int i = 0; i < n; i++)
		audit_db(db, ids[i], 0, "cli", "master_key.rotated",
		    "master_key", 0, detail);
	arena_free(a);
}

/*
 * A leftover .new file from an interrupted rotation. Returns 0 when it was
 * dealt with (*finished: the interrupted rotation had committed and is now
 * complete), else the exit status.
 */
static int
recover(struct db *db, const char *pending, const char *keyfile,
    bool *finished)
{
	struct secret_key	*pk = NULL;
	const char		*what;
	char			 err[512];
	int			 n = 0;
	enum db_status		 st;

	*finished = false;
	if (access(pending, F_OK) != 0)
		return 0;
	if (!secret_key_load(pending, false, &pk, err, sizeof(err))) {
		/* Half-written or unreadable: it never sealed anything. */
		fprintf(stderr, "parley: ignoring %s (%s)\n", pending, err);
		(void)unlink(pending);
		return 0;
	}
	/* A dry run: re-seal under the same key, then roll back. */
	st = db_tx_begin(db);
	if (st == DB_OK)
		st = rotate_all(db, pk, pk, &n, &what);
	db_tx_rollback(db);
	secret_key_free(pk);
	if (st == DB_INVALID) {
		/* The interrupted rotation never committed. */
		(void)unlink(pending);
		return 0;
	}
	if (st != DB_OK) {
		fprintf(stderr, "parley: cannot read the stored secrets (%s).\n",
		    db_status_str(st));
		return 1;
	}
	if (!finish_rename(pending, keyfile))
		return 1;
	audit_rotation(db, "finished an interrupted rotation");
	printf("Finished an interrupted key rotation: %d secrets are "
	    "sealed with the new master key in %s. Start the server.\n", n,
	    keyfile);
	*finished = true;
	return 0;
}

int
cli_key(int argc, char **argv)
{
	struct app		 app;
	struct db		*db = NULL;
	struct secret_key	*new_key = NULL;
	const char		*what = NULL;
	char			*pending = NULL;
	char			 err[512];
	bool			 finished = false, wrote = false, got = false;
	int64_t			 holders = 0;
	struct db_pool		*direct = NULL;
	int			 rc = 1, n = 0;
	enum db_status		 st;

	if (argc != 2 || strcmp(argv[1], "rotate") != 0) {
		fprintf(stderr, "usage: parley key rotate\n");
		return 2;
	}
	memset(&app, 0, sizeof(app));
	if (!config_load(&app.cfg, err, sizeof(err))) {
		fprintf(stderr, "parley: %s\n", err);
		config_free(&app.cfg);
		return 2;
	}
	/* Rotating must not quietly create a first key. */
	if (access(app.cfg.master_key_file, F_OK) != 0) {
		fprintf(stderr, "parley: there is no master key at %s "
		    "(PARLEY_MASTER_KEY_FILE): nothing to rotate.\n",
		    app.cfg.master_key_file);
		config_free(&app.cfg);
		return 1;
	}
	if (!app_open(&app, true))
		goto out;
	pending = xasprintf("%s.new", app.cfg.master_key_file);
	/* The exclusive presence lock is a session's (db/presence.c): on the
	 * direct URL when there is one; behind a transaction pooler without
	 * one there is no session to hold it, so no rotation. */
	if (app.cfg.database_direct_url != NULL) {
		if ((direct = db_pool_new(app.cfg.database_direct_url, 1,
		    app.cfg.db_acquire_timeout_ms)) == NULL) {
			fprintf(stderr, "parley: PARLEY_DATABASE_DIRECT_URL is "
			    "not a libpq connection string.\n");
			goto out;
		}
	} else if (app.cfg.db_pooler == CONFIG_POOLER_TRANSACTION) {
		fprintf(stderr, "parley: behind a transaction pooler, key "
		    "rotation needs a direct connection to PostgreSQL: set "
		    "PARLEY_DATABASE_DIRECT_URL. Nothing was changed.\n");
		goto out;
	}
	if ((db = db_acquire(direct != NULL ? direct : app.db)) == NULL) {
		fprintf(stderr, "parley: cannot connect to PostgreSQL (check "
		    "%s).\n", direct != NULL ? "PARLEY_DATABASE_DIRECT_URL" :
		    "PARLEY_DATABASE_URL");
		goto out;
	}
	/* No server may hold the database, and none may start meanwhile. */
	if (db_presence_exclusive(db, &got, &holders) != DB_OK) {
		fprintf(stderr, "parley: cannot check whether a server is "
		    "using the database; nothing was changed.\n");
		goto out;
	}
	if (!got) {
		fprintf(stderr, "parley: a Parley server is using this database "
		    "(%lld process%s): stop every parley serve that uses it, "
		    "then run parley key rotate again. Nothing was changed.\n",
		    (long long)holders, holders == 1 ? "" : "es");
		goto out;
	}
	if ((rc = recover(db, pending, app.cfg.master_key_file,
	    &finished)) != 0 || finished)
		goto out;
	rc = 1;

	/* 1. The new key is durable before anything is sealed with it. */
	new_key = secret_key_generate();
	if (!secret_key_write(new_key, pending, err, sizeof(err))) {
		fprintf(stderr, "parley: %s\n", err);
		goto out;
	}
	wrote = true;

	/* 2. Everything re-sealed, in one transaction. */
	st = db_tx_begin(db);
	if (st == DB_OK)
		st = rotate_all(db, app.key, new_key, &n, &what);
	if (st == DB_OK)
		st = db_tx_commit(db);
	db_tx_rollback(db);
	if (st == DB_INVALID && what != NULL && strcmp(what, CHECK_VALUE) == 0) {
		fprintf(stderr, "parley: the master key in %s "
		    "(PARLEY_MASTER_KEY_FILE) is not the key this database's "
		    "secrets were sealed with; nothing was changed.\n",
		    app.cfg.master_key_file);
		goto out;
	}
	if (st == DB_INVALID) {
		/* The key is right (the check value opened): one row is not. */
		fprintf(stderr, "parley: a stored secret (%s) does not open "
		    "with the master key in %s (it was altered or copied from "
		    "another row); nothing was changed.\n",
		    what != NULL ? what : "?", app.cfg.master_key_file);
		goto out;
	}
	if (st != DB_OK) {
		fprintf(stderr, "parley: the database refused the rotation "
		    "(%s); nothing was changed.\n", db_status_str(st));
		goto out;
	}
	wrote = false;	/* committed: the .new file is now the key */

	/* 3. The key file follows. */
	if (!finish_rename(pending, app.cfg.master_key_file))
		goto out;
	audit_rotation(db, NULL);
	printf("Re-encrypted %d secrets under a new master key (%s). "
	    "Start the server again: it will use the new key.\n", n,
	    app.cfg.master_key_file);
	rc = 0;
out:
	if (wrote)
		(void)unlink(pending);
	if (db != NULL && got)
		db_presence_exclusive_release(db);
	if (db != NULL)
		db_release(db);
	if (direct != NULL)
		db_pool_free(direct);
	secret_key_free(new_key);
	free(pending);
	app_close(&app);
	return rc;
}
