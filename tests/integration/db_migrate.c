/*
 * tests/integration/db_migrate.c: db/ against a real PostgreSQL.
 *
 * One throwaway cluster serves the whole run; each test makes its own
 * database in it (t_<test>), so tests do not see each other's tables.
 * Migrations come from temporary fixture directories written here, never
 * from the repository's migrations/ (which only the repo test reads, and it
 * accepts an empty or missing directory).
 *
 * Runs with CK_NOFORK so that the cluster, started once, is shared. The
 * concurrency test forks its own children, which leave with _exit() and
 * never return into Check.
 */
#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "db/db.h"
#include "harness/harness.h"
#include "util/str.h"
#include "util/time.h"
#include "util/xmalloc.h"

#define N_CHILDREN	4
#define CHILD_FAILED	100
#define MAX_TEMP_DIRS	16
#define N_THREADS	8
#define N_ROUNDS	100

static struct hpg	 pg;
static char		*temp_dirs[MAX_TEMP_DIRS];

static const char *const fixture_files[][2] = {
	{ "0001_create_orgs.sql",
	  "CREATE TABLE orgs (\n"
	  "  id bigserial PRIMARY KEY,\n"
	  "  name text NOT NULL UNIQUE CHECK (length(name) > 0)\n"
	  ");\n" },
	/* The sleep holds the advisory lock long enough for the other
	 * processes of the concurrency test to queue behind it. */
	{ "0002_create_members.sql",
	  "CREATE TABLE members (\n"
	  "  id bigserial PRIMARY KEY,\n"
	  "  org_id bigint NOT NULL REFERENCES orgs (id),\n"
	  "  email text NOT NULL\n"
	  ");\n"
	  "SELECT pg_sleep(0.3);\n" },
	{ "0003_members_org_idx.sql",
	  "CREATE INDEX members_org_idx ON members (org_id);\n" },
	{ "README.md", "Not a migration: ignored.\n" },
};
#define N_FIXTURE_MIGRATIONS	3

static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 new_database(const char *, char *, size_t);
static char	*fixture_dir(void);
static void	 write_file(const char *, const char *, const char *);
static void	 remove_dir(const char *);
static struct db_pool *pool_for(const char *, int, int);
static int	 wait_child(pid_t, int);
static void	*release_later(void *);
static void	*hammer(void *);
static void	 child_migrate(const char *, const char *)
		    __attribute__((noreturn));

/* --- migrations ----------------------------------------------------- */

START_TEST(test_migrate_twice_is_noop)
{
	char		 ci[600];
	char		 err[512];
	struct db_pool	*pool;
	struct db	*db;
	char		*dir = fixture_dir();
	int		 n = -1;

	new_database("t_twice", ci, sizeof(ci));
	pool = pool_for(ci, 2, 2000);
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);

	ck_assert_int_eq(db_migrations_latest(dir), N_FIXTURE_MIGRATIONS);
	ck_assert_int_eq(db_migrations_applied(db), 0);

	ck_assert_msg(db_migrate(db, dir, &n, err, sizeof(err)), "%s", err);
	ck_assert_int_eq(n, N_FIXTURE_MIGRATIONS);
	ck_assert_int_eq(db_migrations_applied(db), N_FIXTURE_MIGRATIONS);

	ck_assert_msg(db_migrate(db, dir, &n, err, sizeof(err)), "%s", err);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(db_migrations_applied(db), N_FIXTURE_MIGRATIONS);
	ck_assert(!db->in_tx);

	db_release(db);
	db_pool_free(pool);
	ck_assert_int_eq(hpg_sql_int(&pg, "SELECT count(*) FROM pg_database"
	    " WHERE datname = 't_twice'"), 1);
}
END_TEST

/* The repository's own migrations/, which may be empty or missing while
 * the schema is being written. */
START_TEST(test_migrate_repo_dir)
{
	char		 ci[600];
	char		 err[512];
	struct db_pool	*pool;
	struct db	*db;
	const char	*home = getenv("PARLEY_HOME");
	char		*dir;
	int		 latest;
	int		 n = -1;

	dir = xasprintf("%s/migrations", home != NULL ? home : ".");
	latest = db_migrations_latest(dir);
	if (latest <= 0) {
		fprintf(stderr, "note: %s has no migrations yet; skipped\n",
		    dir);
		free(dir);
		return;
	}
	new_database("t_repo", ci, sizeof(ci));
	pool = pool_for(ci, 1, 2000);
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	ck_assert_msg(db_migrate(db, dir, &n, err, sizeof(err)), "%s", err);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(db_migrations_applied(db), latest);
	ck_assert_msg(db_migrate(db, dir, &n, err, sizeof(err)), "%s", err);
	ck_assert_int_eq(n, 0);
	db_release(db);
	db_pool_free(pool);
	free(dir);
}
END_TEST

START_TEST(test_migrate_concurrent)
{
	char		 ci[600];
	struct db_pool	*pool;
	struct db	*db;
	char		*dir = fixture_dir();
	pid_t		 pids[N_CHILDREN];
	int		 total = 0;
	int		 rc;

	new_database("t_concurrent", ci, sizeof(ci));
	fflush(NULL);
	for (int i = 0; i < N_CHILDREN; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] != 0)
			continue;
		child_migrate(ci, dir);
	}
	for (int i = 0; i < N_CHILDREN; i++) {
		rc = wait_child(pids[i], 60000);
		ck_assert_msg(rc >= 0 && rc < CHILD_FAILED,
		    "migrating process %d failed (exit %d)", i, rc);
		total += rc;
	}
	ck_assert_int_eq(total, N_FIXTURE_MIGRATIONS);

	pool = pool_for(ci, 1, 2000);
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	{
		struct db_res	 res;

		ck_assert_int_eq(db_query(db, &res,
		    "SELECT version, count(*) FROM schema_migrations"
		    " GROUP BY version ORDER BY version", DB_END), DB_OK);
		ck_assert_int_eq(res.n_rows, N_FIXTURE_MIGRATIONS);
		for (int i = 0; i < res.n_rows; i++) {
			ck_assert_int_eq(db_res_i64(&res, i, 0), i + 1);
			ck_assert_int_eq(db_res_i64(&res, i, 1), 1);
		}
		db_res_clear(&res);
	}
	db_release(db);
	db_pool_free(pool);
}
END_TEST

START_TEST(test_migrate_refuses_changes)
{
	char		 ci[600];
	char		 err[512];
	struct db_pool	*pool;
	struct db	*db;
	char		*dir = fixture_dir();
	char		*path;
	int		 n = -1;

	new_database("t_changed", ci, sizeof(ci));
	pool = pool_for(ci, 1, 2000);
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	ck_assert_msg(db_migrate(db, dir, &n, err, sizeof(err)), "%s", err);

	/* An applied file edited afterwards. */
	write_file(dir, "0002_create_members.sql",
	    "CREATE TABLE members (id bigserial PRIMARY KEY);\n");
	err[0] = '\0';
	ck_assert(!db_migrate(db, dir, &n, err, sizeof(err)));
	ck_assert_int_eq(n, 0);
	ck_assert_msg(strstr(err, "0002_create_members.sql") != NULL &&
	    strstr(err, "changed") != NULL, "err: %s", err);
	ck_assert(!db->in_tx);
	write_file(dir, "0002_create_members.sql", fixture_files[1][1]);
	ck_assert_msg(db_migrate(db, dir, &n, err, sizeof(err)), "%s", err);

	/* An applied file gone from the directory. */
	path = xasprintf("%s/0003_members_org_idx.sql", dir);
	ck_assert_int_eq(unlink(path), 0);
	free(path);
	ck_assert(!db_migrate(db, dir, &n, err, sizeof(err)));
	ck_assert_msg(strstr(err, "0003_members_org_idx.sql") != NULL &&
	    strstr(err, "missing") != NULL, "err: %s", err);
	write_file(dir, "0003_members_org_idx.sql", fixture_files[2][1]);

	/* A directory that is not there. */
	ck_assert(!db_migrate(db, "/nonexistent/migrations", &n, err,
	    sizeof(err)));
	ck_assert_msg(strstr(err, "/nonexistent/migrations") != NULL,
	    "err: %s", err);
	ck_assert_int_eq(db_migrations_latest("/nonexistent/migrations"), -1);

	/* A badly named .sql file is refused, not skipped. */
	write_file(dir, "12_oops.sql", "SELECT 1;\n");
	ck_assert(!db_migrate(db, dir, &n, err, sizeof(err)));
	ck_assert_msg(strstr(err, "12_oops.sql") != NULL, "err: %s", err);
	ck_assert_int_eq(db_migrations_latest(dir), -1);
	path = xasprintf("%s/12_oops.sql", dir);
	ck_assert_int_eq(unlink(path), 0);
	free(path);

	/* A new file older than the latest applied one. */
	write_file(dir, "0000_too_old.sql", "SELECT 1;\n");
	ck_assert(!db_migrate(db, dir, &n, err, sizeof(err)));
	ck_assert_msg(strstr(err, "0000_too_old.sql") != NULL, "err: %s", err);
	path = xasprintf("%s/0000_too_old.sql", dir);
	ck_assert_int_eq(unlink(path), 0);
	free(path);

	/* A failing migration leaves neither its effects nor its ledger
	 * row, and names itself. */
	write_file(dir, "0004_broken.sql",
	    "CREATE TABLE half_done (id int);\nSELECT no_such_column;\n");
	ck_assert(!db_migrate(db, dir, &n, err, sizeof(err)));
	ck_assert_msg(strstr(err, "0004_broken.sql") != NULL, "err: %s", err);
	ck_assert_int_eq(db_migrations_applied(db), N_FIXTURE_MIGRATIONS);
	ck_assert(!db->in_tx);
	{
		struct db_res	 res;

		ck_assert_int_eq(db_query(db, &res,
		    "SELECT to_regclass('half_done') IS NULL", DB_END), DB_OK);
		ck_assert(db_res_bool(&res, 0, 0));
		db_res_clear(&res);
	}

	db_release(db);
	db_pool_free(pool);
}
END_TEST

/* --- pool ------------------------------------------------------------- */

START_TEST(test_pool_timeout)
{
	struct db_pool_stats	 st;
	char			 ci[600];
	struct db_pool		*pool;
	struct db		*a;
	struct db		*b;
	struct db		*c;
	pthread_t		 t;
	int64_t			 t0;
	int64_t			 waited;

	new_database("t_pool", ci, sizeof(ci));
	pool = pool_for(ci, 2, 300);
	a = db_acquire(pool);
	b = db_acquire(pool);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);

	t0 = time_mono_ms();
	c = db_acquire(pool);
	waited = time_mono_ms() - t0;
	ck_assert_ptr_null(c);
	ck_assert_msg(waited >= 250 && waited < 3000, "waited %lld ms",
	    (long long)waited);

	db_pool_get_stats(pool, &st);
	ck_assert_int_eq(st.size, 2);
	ck_assert_int_eq(st.open, 2);
	ck_assert_int_eq(st.in_use, 2);
	ck_assert_uint_eq(st.acquired, 2);
	ck_assert_uint_eq(st.waits, 1);
	ck_assert_uint_eq(st.timeouts, 1);

	/* A waiter is woken by a release from another thread. */
	ck_assert_int_eq(pthread_create(&t, NULL, release_later, a), 0);
	c = db_acquire(pool);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_ptr_eq(c, a);

	db_release(b);
	db_release(c);
	db_pool_get_stats(pool, &st);
	ck_assert_int_eq(st.in_use, 0);
	ck_assert_uint_eq(st.acquired, 3);
	db_pool_free(pool);

	ck_assert_ptr_null(db_pool_new("host='unterminated", 1, 100));
	ck_assert_ptr_null(db_pool_new(ci, 0, 100));
	db_pool_free(NULL);
}
END_TEST

/* First come, first served: a connection given back goes to the oldest
 * waiter, so nobody waits past the timeout while others go round; a
 * caller finishing begun work (urgent) goes before them. */
struct fifo_arg {
	struct db_pool	*pool;
	int		 me;
	bool		 urgent;
	int		*order;
	int		*n;
	pthread_mutex_t	*mu;
};

static void *
fifo_take(void *arg)
{
	struct fifo_arg	*f = arg;
	struct db	*db = f->urgent ? db_acquire_urgent(f->pool) :
			    db_acquire(f->pool);

	pthread_mutex_lock(f->mu);
	f->order[(*f->n)++] = db != NULL ? f->me : -1;
	pthread_mutex_unlock(f->mu);
	usleep(20 * 1000);
	db_release(db);
	return NULL;
}

START_TEST(test_pool_fifo)
{
	char		 ci[600];
	struct db_pool	*pool;
	struct db	*held;
	pthread_t	 t[5];
	struct fifo_arg	 f[5];
	pthread_mutex_t	 mu = PTHREAD_MUTEX_INITIALIZER;
	int		 order[5], n = 0;

	new_database("t_pool_fifo", ci, sizeof(ci));
	pool = pool_for(ci, 1, 3000);
	ck_assert_ptr_nonnull(held = db_acquire(pool));
	for (int i = 0; i < 5; i++) {
		f[i] = (struct fifo_arg){ pool, i, i == 4, order, &n, &mu };
		ck_assert_int_eq(pthread_create(&t[i], NULL, fifo_take, &f[i]),
		    0);
		/* Each queued before the next starts (bounded: 10 s). */
		for (int k = 0; k < 1000; k++) {
			struct db_pool_stats	 st;

			db_pool_get_stats(pool, &st);
			if (st.waits >= (uint64_t)i + 1)
				break;
			usleep(10 * 1000);
		}
	}
	db_release(held);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	ck_assert_int_eq(n, 5);
	ck_assert_int_eq(order[0], 4);	/* the urgent one, queued last */
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(order[i + 1], i);
	db_pool_free(pool);
}
END_TEST

/*
 * The reserved lane (ingest's leaders): general callers that hold every
 * connection they may take do not keep it waiting, and a reserved slot
 * given back wakes its lane's waiter, not a general one.
 */
START_TEST(test_pool_reserved_lane)
{
	char		 ci[600];
	struct db_pool	*pool;
	struct db	*g[3], *r, *r2, *x;
	pthread_t	 t;
	int64_t		 t0;

	new_database("t_pool_res", ci, sizeof(ci));
	pool = pool_for(ci, 4, 2000);
	db_pool_reserve(pool, 1);
	for (int i = 0; i < 3; i++)
		ck_assert_ptr_nonnull(g[i] = db_acquire(pool));
	/* The fourth connection is not for general callers: they wait
	 * out the timeout. */
	t0 = time_mono_ms();
	ck_assert_ptr_null(db_acquire(pool));
	ck_assert_int_ge(time_mono_ms() - t0, 1900);
	/* The reserved lane gets it (no general slot is free), and it
	 * works. */
	ck_assert_ptr_nonnull(r = db_acquire_reserved(pool));
	ck_assert_int_eq(db_exec(r, "SELECT 1", DB_END), DB_OK);
	/* With its own slot busy it may take a general one given back. */
	ck_assert_int_eq(pthread_create(&t, NULL, release_later, g[0]), 0);
	r2 = db_acquire_reserved(pool);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_ptr_eq(r2, g[0]);
	/* A reserved slot given back is not for a general waiter. */
	ck_assert_int_eq(pthread_create(&t, NULL, release_later, r), 0);
	x = db_acquire(pool);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_ptr_null(x);
	db_release(r2);
	db_release(g[1]);
	db_release(g[2]);
	db_pool_free(pool);
}
END_TEST

/* Many threads through a small pool: every query succeeds, nothing is
 * handed out twice (a per-connection session variable would clash), and
 * the counters add up. */
START_TEST(test_pool_threads)
{
	struct db_pool_stats	 st;
	char			 ci[600];
	struct db_pool		*pool;
	pthread_t		 t[N_THREADS];
	void			*failures;
	intptr_t		 n_failed = 0;

	new_database("t_threads", ci, sizeof(ci));
	pool = pool_for(ci, 3, 10000);
	for (int i = 0; i < N_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, pool), 0);
	for (int i = 0; i < N_THREADS; i++) {
		ck_assert_int_eq(pthread_join(t[i], &failures), 0);
		n_failed += (intptr_t)failures;
	}
	ck_assert_int_eq(n_failed, 0);
	db_pool_get_stats(pool, &st);
	ck_assert_int_eq(st.in_use, 0);
	ck_assert_int_le(st.open, 3);
	ck_assert_uint_eq(st.acquired, N_THREADS * N_ROUNDS);
	ck_assert_uint_eq(st.timeouts, 0);
	db_pool_free(pool);
}
END_TEST

/* --- queries and SQLSTATE mapping ------------------------------------- */

START_TEST(test_query_status)
{
	static const unsigned char bytes[] = { 0x00, 0x01, 0xff, 0x27 };
	char		 ci[600];
	struct db_pool	*pool;
	struct db	*db;
	struct db_res	 res;
	unsigned char	*got;
	size_t		 len;

	new_database("t_status", ci, sizeof(ci));
	pool = pool_for(ci, 1, 2000);
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);

	ck_assert_int_eq(db_exec(db,
	    "CREATE TABLE orgs (id bigint PRIMARY KEY,"
	    " name text NOT NULL UNIQUE CHECK (name <> ''))", DB_END), DB_OK);
	ck_assert_int_eq(db_exec(db,
	    "CREATE TABLE agents (id bigint PRIMARY KEY,"
	    " org_id bigint NOT NULL REFERENCES orgs (id))", DB_END), DB_OK);
	ck_assert_int_eq(db_exec(db,
	    "INSERT INTO orgs (id, name) VALUES ($1, $2)",
	    DB_I64(1), DB_TEXT("acme"), DB_END), DB_OK);

	ck_assert_int_eq(db_exec(db,
	    "INSERT INTO orgs (id, name) VALUES ($1, $2)",
	    DB_I64(2), DB_TEXT("acme"), DB_END), DB_CONFLICT);
	ck_assert_int_eq(db_exec(db,
	    "INSERT INTO agents (id, org_id) VALUES ($1, $2)",
	    DB_I64(1), DB_I64(999), DB_END), DB_INVALID);
	ck_assert_int_eq(db_exec(db,
	    "INSERT INTO orgs (id, name) VALUES ($1, $2)",
	    DB_I64(3), DB_NULL, DB_END), DB_INVALID);
	ck_assert_int_eq(db_exec(db,
	    "INSERT INTO orgs (id, name) VALUES ($1, $2)",
	    DB_I64(3), DB_TEXT(""), DB_END), DB_INVALID);
	ck_assert_int_eq(db_exec(db, "SELECT $1::int",
	    DB_TEXT("not a number"), DB_END), DB_INVALID);
	/* Our own SQL mistake: logged, and a 503 for the caller. */
	ck_assert_int_eq(db_exec(db, "SELEC 1", DB_END), DB_UNAVAILABLE);
	ck_assert(!db->broken);

	/* Every parameter kind makes the round trip. */
	ck_assert_int_eq(db_query(db, &res,
	    "SELECT $1::text, $2::bigint, $3::bool, $4::float8, $5::bytea,"
	    " $6::text IS NULL, $7::text IS NULL, $8::bool",
	    DB_TEXT("h\xc3\xa9llo 'x'"), DB_I64(INT64_MIN), DB_BOOL(true),
	    DB_F64(0.1), DB_BYTES(bytes, sizeof(bytes)), DB_NULL,
	    DB_TEXT(NULL), DB_BOOL(false), DB_END), DB_OK);
	ck_assert_int_eq(res.n_rows, 1);
	ck_assert_str_eq(db_res_text(&res, 0, 0), "h\xc3\xa9llo 'x'");
	ck_assert(db_res_i64(&res, 0, 1) == INT64_MIN);
	ck_assert(db_res_bool(&res, 0, 2));
	ck_assert(db_res_f64(&res, 0, 3) == 0.1);
	got = db_res_bytes(&res, 0, 4, &len);
	ck_assert_uint_eq(len, sizeof(bytes));
	ck_assert_mem_eq(got, bytes, sizeof(bytes));
	free(got);
	ck_assert(db_res_bool(&res, 0, 5));
	ck_assert(db_res_bool(&res, 0, 6));
	ck_assert(!db_res_bool(&res, 0, 7));
	db_res_clear(&res);

	ck_assert_int_eq(db_query(db, &res, "SELECT NULL::text, ''::bytea",
	    DB_END), DB_OK);
	ck_assert(db_res_isnull(&res, 0, 0));
	ck_assert_str_eq(db_res_text(&res, 0, 0), "");
	ck_assert_ptr_null(db_res_bytes(&res, 0, 0, &len));
	got = db_res_bytes(&res, 0, 1, &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, 0);
	free(got);
	db_res_clear(&res);

	/* A failed query leaves res cleared and safe to clear again. */
	ck_assert_int_eq(db_query(db, &res, "SELECT 1/0", DB_END), DB_INVALID);
	ck_assert_ptr_null(res.pg);
	db_res_clear(&res);

	/* Transactions: rollback undoes, commit keeps, in_tx follows. */
	ck_assert_int_eq(db_tx_begin(db), DB_OK);
	ck_assert(db->in_tx);
	ck_assert_int_eq(db_exec(db,
	    "INSERT INTO orgs (id, name) VALUES ($1, $2)",
	    DB_I64(10), DB_TEXT("ten"), DB_END), DB_OK);
	db_tx_rollback(db);
	ck_assert(!db->in_tx);
	db_tx_rollback(db);	/* a no-op outside a transaction */

	ck_assert_int_eq(db_tx_begin(db), DB_OK);
	ck_assert_int_eq(db_exec(db,
	    "INSERT INTO orgs (id, name) VALUES ($1, $2)",
	    DB_I64(11), DB_TEXT("eleven"), DB_END), DB_OK);
	ck_assert_int_eq(db_tx_commit(db), DB_OK);
	ck_assert(!db->in_tx);

	/* Committing a failed transaction is not a success. */
	ck_assert_int_eq(db_tx_begin(db), DB_OK);
	ck_assert_int_eq(db_exec(db,
	    "INSERT INTO orgs (id, name) VALUES ($1, $2)",
	    DB_I64(12), DB_TEXT("acme"), DB_END), DB_CONFLICT);
	ck_assert(db->in_tx);
	ck_assert_int_ne(db_tx_commit(db), DB_OK);
	ck_assert(!db->in_tx);

	/* Releasing inside a transaction rolls it back. */
	ck_assert_int_eq(db_tx_begin(db), DB_OK);
	ck_assert_int_eq(db_exec(db,
	    "INSERT INTO orgs (id, name) VALUES ($1, $2)",
	    DB_I64(13), DB_TEXT("thirteen"), DB_END), DB_OK);
	db_release(db);
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	ck_assert(!db->in_tx);
	ck_assert_int_eq(db_query(db, &res,
	    "SELECT string_agg(id::text, ',' ORDER BY id) FROM orgs",
	    DB_END), DB_OK);
	ck_assert_str_eq(db_res_text(&res, 0, 0), "1,11");
	db_res_clear(&res);

	ck_assert_str_eq(db_status_str(DB_CONFLICT), "conflict");
	ck_assert_str_eq(db_status_str((enum db_status)99), "unknown");

	db_release(db);
	db_pool_free(pool);
}
END_TEST

/* --- session state (poolers, demoted primaries) ----------------------- */

/*
 * How many statements the session behind db has prepared, and the
 * session's process id; asked with PQexec so the question itself is not
 * prepared.
 */
static int
session_prepared(struct db *db, int *pid)
{
	PGresult	*r;
	int		 n;

	r = PQexec(db->conn, "SELECT count(*), pg_backend_pid()"
	    " FROM pg_prepared_statements");
	ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	n = atoi(PQgetvalue(r, 0, 0));
	if (pid != NULL)
		*pid = atoi(PQgetvalue(r, 0, 1));
	PQclear(r);
	return n;
}

START_TEST(test_session_state)
{
	char		 ci[600];
	struct db_pool	*pool;
	struct db	*db;
	struct db_res	 res;
	PGresult	*r;
	int		 pid, pid2;

	new_database("t_session", ci, sizeof(ci));

	/* Direct: data statements are prepared once per connection. */
	pool = pool_for(ci, 1, 2000);
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(db_exec(db, "SELECT $1::int", DB_I64(i),
		    DB_END), DB_OK);
	ck_assert_int_eq(session_prepared(db, NULL), 1);

	/* A session handed over with someone's "p1" (a session pooler with
	 * server_reset_query emptied): ours are deallocated and prepared
	 * again, and every answer is our statement's. */
	r = PQexec(db->conn, "PREPARE p1 AS SELECT 'not ours'::text");
	ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(db_query(db, &res, "SELECT $1::text || '!'",
		    DB_TEXT("ours"), DB_END), DB_OK);
		ck_assert_str_eq(db_res_text(&res, 0, 0), "ours!");
		db_res_clear(&res);
	}
	ck_assert_int_eq(db_exec(db, "SELECT $1::int", DB_I64(7), DB_END),
	    DB_OK);
	ck_assert(!db->broken);
	ck_assert_int_eq(session_prepared(db, NULL), 2);
	r = PQexec(db->conn, "SELECT count(*) FROM pg_prepared_statements"
	    " WHERE statement LIKE '%not ours%'");
	ck_assert_str_eq(PQgetvalue(r, 0, 0), "0");
	PQclear(r);
	db_release(db);
	db_pool_free(pool);

	/* Behind a transaction pooler: nothing prepared by name. */
	pool = pool_for(ci, 1, 2000);
	db_pool_set_pooler(pool, DB_POOLER_TRANSACTION);
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(db_query(db, &res, "SELECT $1::int + 1",
		    DB_I64(i), DB_END), DB_OK);
		ck_assert_int_eq(db_res_i64(&res, 0, 0), i + 1);
		db_res_clear(&res);
	}
	ck_assert_int_eq(db_tx_begin(db), DB_OK);
	ck_assert_int_eq(db_exec(db, "SELECT $1::text", DB_TEXT("x"), DB_END),
	    DB_OK);
	ck_assert_int_eq(db_tx_commit(db), DB_OK);
	ck_assert_int_eq(session_prepared(db, &pid), 0);

	/* A server that refuses writes (a primary demoted to a standby
	 * looks the same): unavailable, and the session is not reused. */
	ck_assert_int_eq(db_exec(db, "CREATE TABLE t (x int)", DB_END), DB_OK);
	r = PQexec(db->conn, "SET default_transaction_read_only = on");
	ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	ck_assert_int_eq(db_exec(db, "INSERT INTO t VALUES ($1)", DB_I64(1),
	    DB_END), DB_UNAVAILABLE);
	ck_assert(db->broken);
	db_release(db);
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	ck_assert_int_eq(db_exec(db, "INSERT INTO t VALUES ($1)", DB_I64(2),
	    DB_END), DB_OK);
	(void)session_prepared(db, &pid2);
	ck_assert_int_ne(pid, pid2);
	db_release(db);
	db_pool_free(pool);
}
END_TEST

/* --- outage ----------------------------------------------------------- */

START_TEST(test_outage_and_recovery)
{
	struct db_pool_stats	 st;
	char			 ci[600];
	struct db_pool		*pool;
	struct db		*db;
	int64_t			 t0;
	bool			 has_recovered = false;

	new_database("t_outage", ci, sizeof(ci));
	pool = pool_for(ci, 2, 1000);

	/*
	 * A restart while both connections sit idle in the pool: acquire
	 * notices the dead sessions and reconnects, so not even the first
	 * query after the restart fails.
	 */
	{
		struct db	*a = db_acquire(pool);
		struct db	*b = db_acquire(pool);

		ck_assert_ptr_nonnull(a);
		ck_assert_ptr_nonnull(b);
		db_release(a);
		db_release(b);
		hpg_restart(&pg);
		a = db_acquire(pool);
		b = db_acquire(pool);
		ck_assert_ptr_nonnull(a);
		ck_assert_ptr_nonnull(b);
		ck_assert_int_eq(db_exec(a, "SELECT 1", DB_END), DB_OK);
		ck_assert_int_eq(db_exec(b, "SELECT 1", DB_END), DB_OK);
		db_release(a);
		db_release(b);
	}

	/* A connection lost in the hands of its user: the query says
	 * unavailable and the connection is marked broken. */
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	hpg_stop(&pg);
	ck_assert_int_eq(db_exec(db, "SELECT 1", DB_END), DB_UNAVAILABLE);
	ck_assert(db->broken);
	db_release(db);

	/* Down: a NULL acquire or an unavailable query, and quickly. */
	for (int i = 0; i < 3; i++) {
		t0 = time_mono_ms();
		db = db_acquire(pool);
		if (db != NULL) {
			ck_assert_int_eq(db_exec(db, "SELECT 1", DB_END),
			    DB_UNAVAILABLE);
			db_release(db);
		}
		ck_assert_msg(time_mono_ms() - t0 < 5000,
		    "acquire took %lld ms with PostgreSQL down",
		    (long long)(time_mono_ms() - t0));
	}
	db = db_acquire(pool);
	ck_assert_ptr_null(db);
	db_pool_get_stats(pool, &st);
	ck_assert_int_eq(st.in_use, 0);
	ck_assert_uint_ge(st.timeouts, 1);

	/* Back: the same pool recovers without restarting anything. */
	hpg_restart(&pg);
	for (int i = 0; i < 20 && !has_recovered; i++) {
		db = db_acquire(pool);
		if (db != NULL) {
			has_recovered = db_exec(db, "SELECT 1", DB_END) ==
			    DB_OK;
			db_release(db);
		}
		if (!has_recovered)
			usleep(200 * 1000);
	}
	ck_assert_msg(has_recovered, "the pool did not recover");

	/* Both slots work again. */
	{
		struct db	*a = db_acquire(pool);
		struct db	*b = db_acquire(pool);

		ck_assert_ptr_nonnull(a);
		ck_assert_ptr_nonnull(b);
		ck_assert_int_eq(db_exec(a, "SELECT 1", DB_END), DB_OK);
		ck_assert_int_eq(db_exec(b, "SELECT 1", DB_END), DB_OK);
		db_release(a);
		db_release(b);
	}
	db_pool_free(pool);
}
END_TEST

/* --- helpers -------------------------------------------------------- */

static void
suite_setup(void)
{
	hpg_start(&pg);
}

static void
suite_teardown(void)
{
	hpg_destroy(&pg);
	for (int i = 0; i < MAX_TEMP_DIRS; i++) {
		if (temp_dirs[i] == NULL)
			continue;
		remove_dir(temp_dirs[i]);
		free(temp_dirs[i]);
		temp_dirs[i] = NULL;
	}
}

/* A fresh database `name` in the suite's cluster; its conninfo in ci. */
static void
new_database(const char *name, char *ci, size_t len)
{
	free(hpg_sqlf(&pg, "DROP DATABASE IF EXISTS %s", name));
	free(hpg_sqlf(&pg, "CREATE DATABASE %s", name));
	/* libpq keeps the last of a repeated keyword. */
	ck_assert((size_t)snprintf(ci, len, "%s dbname=%s", pg.conninfo,
	    name) < len);
}

/* A temporary migrations directory holding fixture_files; removed by the
 * suite teardown even when the test fails. */
static char *
fixture_dir(void)
{
	char	*dir = xstrdup("/tmp/parley-mig-XXXXXX");
	int	 slot = -1;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (int i = 0; i < MAX_TEMP_DIRS && slot < 0; i++)
		if (temp_dirs[i] == NULL)
			slot = i;
	ck_assert_int_ge(slot, 0);
	temp_dirs[slot] = dir;
	for (size_t i = 0; i < sizeof(fixture_files) /
	    sizeof(fixture_files[0]); i++)
		write_file(dir, fixture_files[i][0], fixture_files[i][1]);
	return dir;
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char	*path = xasprintf("%s/%s", dir, name);
	FILE	*f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	free(path);
}

/* The fixture directories hold only plain files. */
static void
remove_dir(const char *dir)
{
	static const char *const extra[] = {
		"12_oops.sql", "0000_too_old.sql", "0004_broken.sql",
	};
	char	*path;

	for (size_t i = 0; i < sizeof(fixture_files) /
	    sizeof(fixture_files[0]); i++) {
		path = xasprintf("%s/%s", dir, fixture_files[i][0]);
		unlink(path);
		free(path);
	}
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		path = xasprintf("%s/%s", dir, extra[i]);
		unlink(path);
		free(path);
	}
	if (rmdir(dir) != 0)
		fprintf(stderr, "note: could not remove %s: %s\n", dir,
		    strerror(errno));
}

static struct db_pool *
pool_for(const char *ci, int size, int timeout_ms)
{
	struct db_pool	*pool = db_pool_new(ci, size, timeout_ms);

	if (pool == NULL) {
		fprintf(stderr, "db_pool_new failed\n");
		_exit(CHILD_FAILED);	/* only a bad argument gets here */
	}
	return pool;
}

/* A child's exit status, or -1 when it died or outlived timeout_ms. */
static int
wait_child(pid_t pid, int timeout_ms)
{
	int64_t	 deadline = time_mono_ms() + timeout_ms;
	int	 status;
	pid_t	 rc;

	for (;;) {
		rc = waitpid(pid, &status, WNOHANG);
		if (rc == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (rc < 0 || time_mono_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(10 * 1000);
	}
}

/* In a forked child: migrate with its own pool; the exit status is the
 * number applied, CHILD_FAILED on failure. Never returns into Check. */
static void
child_migrate(const char *ci, const char *dir)
{
	struct db_pool	*pool = pool_for(ci, 1, 5000);
	struct db	*db = db_acquire(pool);
	char		 err[512] = "no connection";
	int		 n = 0;
	bool		 ok;

	ok = db != NULL && db_migrate(db, dir, &n, err, sizeof(err));
	if (!ok)
		fprintf(stderr, "child: %s\n", err);
	db_release(db);
	db_pool_free(pool);
	_exit(ok ? n : CHILD_FAILED);
}

/* One thread of test_pool_threads; returns its failure count. */
static void *
hammer(void *arg)
{
	struct db_pool	*pool = arg;
	struct db_res	 res = { 0 };
	struct db	*db;
	intptr_t	 n_failed = 0;

	for (int i = 0; i < N_ROUNDS; i++) {
		db = db_acquire(pool);
		if (db == NULL) {
			n_failed++;
			continue;
		}
		/* Set in a transaction, read back: another thread holding
		 * the same connection at once would break the round trip. */
		if (db_tx_begin(db) != DB_OK ||
		    db_exec(db, "SELECT set_config('parley.t', $1, true)",
		    DB_I64(i), DB_END) != DB_OK ||
		    db_query(db, &res,
		    "SELECT current_setting('parley.t')::int = $1",
		    DB_I64(i), DB_END) != DB_OK)
			n_failed++;
		else if (!db_res_bool(&res, 0, 0))
			n_failed++;
		db_res_clear(&res);
		if (db_tx_commit(db) != DB_OK)
			n_failed++;
		db_release(db);
	}
	return (void *)n_failed;
}

static void *
release_later(void *arg)
{
	usleep(100 * 1000);
	db_release(arg);
	return NULL;
}

int
main(void)
{
	Suite	*s = suite_create("db");
	TCase	*tc = tcase_create("db");

	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_migrate_twice_is_noop);
	tcase_add_test(tc, test_migrate_repo_dir);
	tcase_add_test(tc, test_migrate_concurrent);
	tcase_add_test(tc, test_migrate_refuses_changes);
	tcase_add_test(tc, test_pool_timeout);
	tcase_add_test(tc, test_pool_reserved_lane);
	tcase_add_test(tc, test_pool_fifo);
	tcase_add_test(tc, test_pool_threads);
	tcase_add_test(tc, test_query_status);
	tcase_add_test(tc, test_session_state);
	tcase_add_test(tc, test_outage_and_recovery);
	suite_add_tcase(s, tc);
	return hrun_suites(s, NULL) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
