/*
 * db/migrate.c: forward-only schema migrations.
 *
 * Owns the table schema_migrations (the ledger): one row per applied file,
 * with its version, name and the hex SHA-256 of its bytes.
 *
 * DESIGN. A run reads and checksums every NNNN_name.sql in the directory
 * first, then works in steps, each one transaction that
 *   1. takes a transaction-level advisory lock (a fixed key, so that every
 *      parley process sharing the database queues on the same lock),
 *   2. creates the ledger if needed and checks it against the files: an
 *      applied file that changed, an applied version whose file is gone,
 *      and a new file older than the latest applied one all refuse the
 *      whole run with a sentence, before anything is applied,
 *   3. applies the first pending file, if any, together with its ledger
 *      row, and commits: a file is either applied and recorded or neither.
 * The run ends with the step that finds nothing pending. A process that
 * waited for the lock re-reads the ledger in its own step and carries on
 * after what the other applied, so files still apply once each, in order.
 *
 * Why a lock per transaction and not one for the run: a session-level
 * lock outlives the transaction that took it, and behind a transaction
 * pooler (PgBouncer pool_mode=transaction) the next statement may reach
 * another server session, so the unlock would miss and the lock would
 * stay with a server session that other clients then inherit. A
 * transaction-level lock ends with its COMMIT or ROLLBACK wherever it
 * runs, and every failure path rolls back before the connection is given
 * back, so no server session is left holding a lock or sitting in an
 * aborted transaction.
 *
 * Thread-safety: uses only the struct db it is given.
 */
#include "db/db.h"
#include "db/db_internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "util/buf.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* "parley" + 0x0001: the advisory lock every migrating process takes. */
#define MIGRATE_LOCK_KEY	INT64_C(0x7061726c65790001)
/* How long a process waits for another one's migration to finish is the
 * lock_timeout in mig_lock (5 minutes), kept literal there for the lint. */
/* No migration file is anywhere near this; a bigger one is a mistake. */
#define MIGRATE_FILE_MAX	(16 * 1024 * 1024)
#define MIGRATE_NAME_MAX	128

struct mig {
	int	 version;
	char	 file[NAME_MAX + 1];		/* "0001_create_orgs.sql" */
	char	 name[MIGRATE_NAME_MAX];	/* "create_orgs" */
	char	 checksum[crypto_hash_sha256_BYTES * 2 + 1];
	char	*sql;				/* the file's text */
};

struct mig_list {
	struct mig	*v;
	size_t		 n;
};

static bool	 mig_scan(const char *, struct mig_list *, bool, char *,
		    size_t);
static bool	 mig_read(const char *, struct mig *, char *, size_t);
static int	 mig_cmp(const void *, const void *);
static void	 mig_list_free(struct mig_list *);
static bool	 mig_step(struct db *, const struct mig_list *, const char *,
		    bool *, char *, size_t);
static bool	 mig_lock(struct db *, char *, size_t);
static bool	 mig_check_ledger(struct db *, const struct mig_list *,
		    const char *, int *, char *, size_t);
static bool	 mig_apply(struct db *, const struct mig *, const char *,
		    char *, size_t);

bool
db_migration_parse_name(const char *file, int *version, char *name,
    size_t name_len)
{
	const char	*p = file;
	const char	*start;
	size_t		 n_digits = 0;
	size_t		 len;
	long long	 v = 0;

	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (*p - '0');
		if (v > INT_MAX)
			return false;
		n_digits++;
		p++;
	}
	if (n_digits < 4 || *p != '_')
		return false;
	start = ++p;
	if (!(*p >= 'a' && *p <= 'z'))
		return false;
	while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
	    *p == '_')
		p++;
	if (strcmp(p, ".sql") != 0)
		return false;
	len = (size_t)(p - start);
	if (len + 1 > name_len)
		return false;
	memcpy(name, start, len);
	name[len] = '\0';
	*version = (int)v;
	return true;
}

bool
db_migrate(struct db *db, const char *dir, int *n_applied, char *err,
    size_t errlen)
{
	struct mig_list	 list = { 0 };
	bool		 ok = false;
	bool		 has_applied = true;
	int		 n = 0;

	if (n_applied != NULL)
		*n_applied = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (sodium_init() < 0) {
		db_seterr(err, errlen, "libsodium could not be initialised.");
		goto out;
	}
	if (db->in_tx) {
		db_seterr(err, errlen, "Migrations cannot run inside a "
		    "transaction the caller opened.");
		goto out;
	}
	if (!mig_scan(dir, &list, true, err, errlen))
		goto out;
	while (has_applied) {
		if (!mig_step(db, &list, dir, &has_applied, err, errlen))
			goto out;
		if (has_applied)
			n++;
	}
	ok = true;
out:
	if (n_applied != NULL)
		*n_applied = n;
	mig_list_free(&list);
	return ok;
}

int
db_migrations_latest(const char *dir)
{
	struct mig_list	 list = { 0 };
	int		 latest;

	if (!mig_scan(dir, &list, false, NULL, 0))
		return -1;
	latest = list.n == 0 ? 0 : list.v[list.n - 1].version;
	mig_list_free(&list);
	return latest;
}

int
db_migrations_applied(struct db *db)
{
	struct db_res	 res;
	int		 v = -1;

	/* A database that never migrated has no ledger: it applied none. */
	if (db_query(db, &res,
	    "SELECT to_regclass('schema_migrations') IS NOT NULL",
	    DB_END) != DB_OK)
		goto out;
	if (!db_res_bool(&res, 0, 0)) {
		v = 0;
		goto out;
	}
	db_res_clear(&res);
	if (db_query(db, &res,
	    "SELECT coalesce(max(version), 0) FROM schema_migrations",
	    DB_END) != DB_OK)
		goto out;
	v = (int)db_res_i64(&res, 0, 0);
out:
	db_res_clear(&res);
	return v;
}

/*
 * Lists dir's migrations sorted by version; with `read_files`, also loads
 * and checksums each. Files not ending in ".sql" (README, .keep) are
 * ignored; a ".sql" file with a malformed name, and two files with one
 * version, are errors so that a typo never skips a migration silently.
 */
static bool
mig_scan(const char *dir, struct mig_list *list, bool read_files, char *err,
    size_t errlen)
{
	DIR		*d;
	struct dirent	*de;
	struct mig	 m;
	size_t		 cap = 0;
	size_t		 len;
	bool		 ok = false;

	d = opendir(dir);
	if (d == NULL) {
		db_seterr(err, errlen, "Cannot read the migrations directory "
		    "%s: %s.", dir, strerror(errno));
		return false;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 4 ||
		    strcmp(de->d_name + len - 4, ".sql") != 0)
			continue;
		memset(&m, 0, sizeof(m));
		if (!db_migration_parse_name(de->d_name, &m.version, m.name,
		    sizeof(m.name)) || len >= sizeof(m.file)) {
			db_seterr(err, errlen, "Migration file %s/%s is not named "
			    "NNNN_name.sql (4 or more digits, an underscore, "
			    "a lowercase name).", dir, de->d_name);
			goto out;
		}
		memcpy(m.file, de->d_name, len + 1);
		if (list->n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			list->v = xrealloc(list->v, cap * sizeof(*list->v));
		}
		list->v[list->n++] = m;
	}
	if (list->n > 0)
		qsort(list->v, list->n, sizeof(*list->v), mig_cmp);
	for (size_t i = 1; i < list->n; i++) {
		if (list->v[i].version == list->v[i - 1].version) {
			db_seterr(err, errlen, "Migrations %s and %s in %s have "
			    "the same version.", list->v[i - 1].file,
			    list->v[i].file, dir);
			goto out;
		}
	}
	if (read_files)
		for (size_t i = 0; i < list->n; i++)
			if (!mig_read(dir, &list->v[i], err, errlen))
				goto out;
	ok = true;
out:
	closedir(d);
	if (!ok)
		mig_list_free(list);
	return ok;
}

/* Loads one file's text and its checksum (hex SHA-256 of the bytes). */
static bool
mig_read(const char *dir, struct mig *m, char *err, size_t errlen)
{
	unsigned char	 hash[crypto_hash_sha256_BYTES];
	struct stat	 sb;
	char		*path;
	FILE		*f = NULL;
	size_t		 n;
	bool		 ok = false;

	path = xasprintf("%s/%s", dir, m->file);
	f = fopen(path, "rb");
	if (f == NULL || fstat(fileno(f), &sb) != 0) {
		db_seterr(err, errlen, "Cannot read migration %s: %s.", path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size > MIGRATE_FILE_MAX) {
		db_seterr(err, errlen, "Migration %s is not a regular file of at "
		    "most %d bytes.", path, MIGRATE_FILE_MAX);
		goto out;
	}
	m->sql = xmalloc((size_t)sb.st_size + 1);
	n = fread(m->sql, 1, (size_t)sb.st_size, f);
	if (n != (size_t)sb.st_size || ferror(f)) {
		db_seterr(err, errlen, "Cannot read migration %s.", path);
		goto out;
	}
	m->sql[n] = '\0';
	/* PQexec stops at a NUL: the rest of the file would be skipped. */
	if (memchr(m->sql, '\0', n) != NULL) {
		db_seterr(err, errlen, "Migration %s contains a NUL byte.", path);
		goto out;
	}
	crypto_hash_sha256(hash, (const unsigned char *)m->sql, n);
	str_hex(m->checksum, hash, sizeof(hash));
	ok = true;
out:
	if (f != NULL)
		fclose(f);
	free(path);
	return ok;
}

static int
mig_cmp(const void *a, const void *b)
{
	const struct mig	*x = a;
	const struct mig	*y = b;

	return (x->version > y->version) - (x->version < y->version);
}

static void
mig_list_free(struct mig_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->v[i].sql);
	free(list->v);
	list->v = NULL;
	list->n = 0;
}

/*
 * One step (see the file top): in one transaction, the lock, the ledger
 * check and the first pending file. *has_applied says whether a file was
 * applied (false: none was pending). Whatever happens, the transaction is
 * over when this returns.
 */
static bool
mig_step(struct db *db, const struct mig_list *list, const char *dir,
    bool *has_applied, char *err, size_t errlen)
{
	int	 first_pending = 0;
	bool	 ok = false;

	*has_applied = false;
	if (!mig_lock(db, err, errlen))
		goto out;
	if (!mig_check_ledger(db, list, dir, &first_pending, err, errlen))
		goto out;
	if ((size_t)first_pending == list->n) {
		if (db_tx_commit(db) != DB_OK) {
			db_seterr(err, errlen, "Could not end the migration "
			    "check's transaction.");
			goto out;
		}
		ok = true;
		goto out;
	}
	if (!mig_apply(db, &list->v[first_pending], dir, err, errlen))
		goto out;
	*has_applied = true;
	ok = true;
out:
	db_tx_rollback(db);	/* a no-op after COMMIT */
	return ok;
}

/*
 * Begins the step's transaction and takes the transaction-level advisory
 * lock in it, waiting at most 5 minutes for another process's step.
 * lock_timeout is LOCAL to the transaction (so the session keeps its
 * defaults) and is put back to the default once the lock is held, so the
 * migration's own statements wait for their locks as they always did.
 */
static bool
mig_lock(struct db *db, char *err, size_t errlen)
{
	enum db_status	 st;

	if ((st = db_tx_begin(db)) != DB_OK)
		goto fail;
	if ((st = db_exec(db, "SET LOCAL lock_timeout = '5min'",
	    DB_END)) != DB_OK)
		goto fail;
	if ((st = db_exec(db, "SELECT pg_advisory_xact_lock($1)",
	    DB_I64(MIGRATE_LOCK_KEY), DB_END)) != DB_OK)
		goto fail;
	if ((st = db_exec(db, "SET LOCAL lock_timeout TO DEFAULT",
	    DB_END)) != DB_OK)
		goto fail;
	return true;
fail:
	db_tx_rollback(db);
	db_seterr(err, errlen, "Could not take the migration lock (another "
	    "process may still be migrating after 5 minutes, or the "
	    "database is unavailable: %s).", db_status_str(st));
	return false;
}

/*
 * Creates the ledger if needed and compares it with the files. On success
 * *first_pending is the index in list of the first file to apply (every
 * file before it is applied and unchanged).
 */
static bool
mig_check_ledger(struct db *db, const struct mig_list *list,
    const char *dir, int *first_pending, char *err, size_t errlen)
{
	struct db_res		 res = { 0 };
	const struct mig	*m;
	const char		*name;
	const char		*sum;
	size_t			 j = 0;
	int			 version;
	bool			 ok = false;

	if (db_exec(db,
	    "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version integer PRIMARY KEY,"
	    " name text NOT NULL,"
	    " checksum text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now())",
	    DB_END) != DB_OK) {
		db_seterr(err, errlen, "Could not create the schema_migrations "
		    "table.");
		goto out;
	}
	if (db_query(db, &res,
	    "SELECT version, name, checksum"
	    "  FROM schema_migrations"
	    " ORDER BY version",
	    DB_END) != DB_OK) {
		db_seterr(err, errlen, "Could not read the schema_migrations "
		    "table.");
		goto out;
	}

	/* Both lists are sorted by version: walk them side by side. */
	for (int i = 0; i < res.n_rows; i++) {
		version = (int)db_res_i64(&res, i, 0);
		name = db_res_text(&res, i, 1);
		sum = db_res_text(&res, i, 2);
		if (j < list->n && list->v[j].version < version) {
			db_seterr(err, errlen, "Migration %s/%s was never applied "
			    "but is older than applied migration %04d_%s.sql; "
			    "give it a version above the latest applied one.",
			    dir, list->v[j].file, version, name);
			goto out;
		}
		if (j == list->n || list->v[j].version != version) {
			db_seterr(err, errlen, "Migration %04d_%s.sql is recorded "
			    "as applied but is missing from %s; restore the "
			    "file.", version, name, dir);
			goto out;
		}
		m = &list->v[j];
		if (strcmp(m->name, name) != 0) {
			db_seterr(err, errlen, "Migration %s/%s was applied under "
			    "the name %04d_%s.sql; applied migrations must "
			    "not be renamed.", dir, m->file, version, name);
			goto out;
		}
		if (strcmp(m->checksum, sum) != 0) {
			db_seterr(err, errlen, "Migration %s/%s was changed after "
			    "it was applied (its checksum no longer matches "
			    "schema_migrations); restore the original and put "
			    "the change in a new migration.", dir, m->file);
			goto out;
		}
		j++;
	}
	*first_pending = (int)j;
	ok = true;
out:
	db_res_clear(&res);
	return ok;
}

/*
 * Runs one file and records it, in the step's transaction, and commits.
 *
 * The file goes through PQexec, not PQexecParams: a migration is a script
 * of several statements (PQexecParams takes exactly one), it takes no
 * parameters, and its text comes from the repository, never from a client.
 * This is the only place in the program that sends SQL text this way.
 */
static bool
mig_apply(struct db *db, const struct mig *m, const char *dir, char *err,
    size_t errlen)
{
	PGresult	*r = NULL;
	const char	*why;
	enum db_status	 st;
	bool		 ok = false;

	r = PQexec(db->conn, m->sql);
	st = db_result_status(db, r);
	if (st != DB_OK) {
		why = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
		db_seterr(err, errlen, "Migration %s/%s failed: %s.", dir,
		    m->file, why != NULL ? why : db_status_str(st));
		goto out;
	}
	if (!db->in_tx) {
		db_seterr(err, errlen, "Migration %s/%s ends the transaction "
		    "itself (COMMIT or ROLLBACK); migrations must not manage "
		    "transactions. Check the database by hand.", dir, m->file);
		goto out;
	}
	if (db_exec(db,
	    "INSERT INTO schema_migrations (version, name, checksum)"
	    " VALUES ($1, $2, $3)",
	    DB_I64(m->version), DB_TEXT(m->name), DB_TEXT(m->checksum),
	    DB_END) != DB_OK ||
	    db_tx_commit(db) != DB_OK) {
		db_seterr(err, errlen, "Could not record migration %s/%s.", dir,
		    m->file);
		goto out;
	}
	ok = true;
out:
	PQclear(r);
	if (!ok)
		db_tx_rollback(db);
	return ok;
}
