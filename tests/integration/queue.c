/*
 * tests/integration/queue.c: the job queue and the worker pool against a
 * real PostgreSQL: exactly-once claiming across threads and pools, leases
 * that expire, retries with backoff, dead jobs and their retry, and the
 * LISTEN/NOTIFY wake-up.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "harness/harness.h"
#include "util/arena.h"
#include "util/time.h"
#include "worker/pool.h"
#include "worker/queue.h"

#define N_JOBS	200

static struct hpg	 pg;
static struct db_pool	*dbp;
static int64_t		 org_id;

/* Per-job run counts, indexed by the payload's "n". */
static _Atomic int	 runs[N_JOBS];
static _Atomic int	 flaky_calls;

static enum job_result
count_job(struct worker_ctx *w, const struct job *job, char *err,
    size_t errlen)
{
	int	 n = -1;

	(void)w;
	(void)err;
	(void)errlen;
	if (sscanf(job->payload, "{\"n\": %d}", &n) == 1 && n >= 0 &&
	    n < N_JOBS)
		atomic_fetch_add(&runs[n], 1);
	usleep(1000);
	return JOB_DONE;
}

static enum job_result
flaky_job(struct worker_ctx *w, const struct job *job, char *err,
    size_t errlen)
{
	(void)w;
	atomic_fetch_add(&flaky_calls, 1);
	if (strstr(job->payload, "always") != NULL || job->attempts < 2) {
		snprintf(err, errlen, "provider answered 503 (attempt %d)",
		    job->attempts);
		return JOB_RETRY;
	}
	return JOB_DONE;
}

static const struct worker_handler	 handlers[] = {
	{ "test.count", count_job, NULL },
	{ "test.flaky", flaky_job, NULL },
};

static struct worker_pool *
start_pool(int threads, int poll_ms)
{
	struct worker_pool_config	 c = {
		.db = dbp, .conninfo = pg.conninfo, .n_threads = threads,
		.lease_s = 30, .poll_ms = poll_ms, .handlers = handlers,
		.n_handlers = 2,
	};

	return worker_pool_start(&c);
}

static void
enqueue(const char *kind, const char *payload, int max_attempts)
{
	struct db	*db = db_acquire(dbp);
	int64_t		 id;

	ck_assert_ptr_nonnull(db);
	ck_assert_int_eq(queue_enqueue(db, org_id, kind, payload,
	    max_attempts, &id), DB_OK);
	db_release(db);
}

static void
setup(void)
{
	struct db	*db;
	char		 err[512];
	char		*s;

	hpg_start(&pg);
	dbp = db_pool_new(pg.conninfo, 8, 3000);
	db = db_acquire(dbp);
	if (db == NULL || !db_migrate(db, "migrations", NULL, err,
	    sizeof(err)))
		ck_abort_msg("migrate: %s", err);
	db_release(db);
	s = hpg_sql(&pg, "INSERT INTO orgs (name) VALUES ('Queue Co')"
	    " RETURNING id");
	org_id = strtoll(s, NULL, 10);
	free(s);
}

static void
teardown(void)
{
	db_pool_free(dbp);
	hpg_destroy(&pg);
}

START_TEST(enqueue_rolls_back_with_its_transaction)
{
	struct db	*db = db_acquire(dbp);
	int64_t		 id;

	ck_assert_int_eq(db_tx_begin(db), DB_OK);
	ck_assert_int_eq(queue_enqueue(db, org_id, "test.count", "{\"n\": 0}",
	    5, &id), DB_OK);
	db_tx_rollback(db);
	db_release(db);
	ck_assert_int_eq(hpg_sql_int(&pg, "SELECT count(*) FROM jobs"), 0);
}
END_TEST

START_TEST(every_job_runs_exactly_once_across_two_pools)
{
	struct worker_pool	*a, *b;
	char			 payload[32];

	for (int i = 0; i < N_JOBS; i++)
		atomic_store(&runs[i], 0);
	a = start_pool(4, 200);
	b = start_pool(4, 200);		/* a second "process" */
	for (int i = 0; i < N_JOBS; i++) {
		snprintf(payload, sizeof(payload), "{\"n\": %d}", i);
		enqueue("test.count", payload, 5);
	}
	ck_assert_msg(hpg_wait_int(&pg, N_JOBS, 30000, "SELECT count(*) FROM "
	    "jobs WHERE kind = 'test.count' AND status = 'done'"),
	    "not every job finished");
	worker_pool_stop(a);
	worker_pool_stop(b);
	for (int i = 0; i < N_JOBS; i++)
		ck_assert_msg(atomic_load(&runs[i]) == 1,
		    "job %d ran %d times", i, atomic_load(&runs[i]));
	ck_assert_int_eq(hpg_sql_int(&pg, "SELECT count(*) FROM jobs WHERE"
	    " kind = 'test.count' AND attempts <> 1"), 0);
}
END_TEST

START_TEST(notify_wakes_an_idle_pool)
{
	struct worker_pool	*p = start_pool(2, 60000);
	int64_t			 t0;

	usleep(300 * 1000);	/* let the listener connect and idle */
	t0 = time_mono_ms();
	enqueue("test.count", "{\"n\": 1}", 5);
	ck_assert_msg(hpg_wait_int(&pg, 0, 10000, "SELECT count(*) FROM jobs "
	    "WHERE kind = 'test.count' AND status <> 'done'"),
	    "job not run");
	/* With a 60 s poll, only the NOTIFY can explain a quick start. */
	ck_assert_int_lt(time_mono_ms() - t0, 5000);
	worker_pool_stop(p);
}
END_TEST

/* One job claimed for one worker. */
static enum db_status
claim_one(struct db *db, struct arena *a, const char *worker, int lease_s,
    struct job *out)
{
	int	 n = 0;

	return queue_claim_many_any_org(db, a, &worker, 1, lease_s, out, &n,
	    NULL);
}

START_TEST(expired_lease_is_claimed_again_once)
{
	struct arena	*a = arena_new();
	struct db	*db = db_acquire(dbp);
	struct job	 ghost, real;

	free(hpg_sqlf(&pg, "DELETE FROM jobs"));
	ck_assert_int_eq(queue_enqueue(db, org_id, "test.count", "{\"n\": 2}",
	    5, NULL), DB_OK);
	ck_assert_int_eq(claim_one(db, a, "ghost", 1, &ghost), DB_OK);
	/* Nobody else may take it while the lease holds. */
	ck_assert_int_eq(claim_one(db, a, "real", 30, &real),
	    DB_NOT_FOUND);
	usleep(1300 * 1000);
	ck_assert_int_eq(claim_one(db, a, "real", 30, &real), DB_OK);
	ck_assert_int_eq(real.id, ghost.id);
	ck_assert_int_eq(real.attempts, 2);
	/* The ghost comes back: its outcome must not overwrite. */
	ck_assert_int_eq(queue_complete_any_org(db, ghost.id, "ghost"),
	    DB_CONFLICT);
	ck_assert_int_eq(queue_complete_any_org(db, real.id, "real"), DB_OK);
	db_release(db);
	arena_free(a);
}
END_TEST

/* One statement claims several due jobs, each leased to the worker that
 * will run it (worker/pool.c hands them out). */
START_TEST(one_claim_leases_several_jobs_each_to_its_worker)
{
	const char	*ids[] = { "w0", "w1", "w2" };
	struct arena	*a = arena_new();
	struct db	*db = db_acquire(dbp);
	struct job	 got[3];
	bool		 seen[3] = { false, false, false };
	int		 n = -1;

	free(hpg_sqlf(&pg, "DELETE FROM jobs"));
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(queue_enqueue(db, org_id, "test.count",
		    "{\"n\": 1}", 5, NULL), DB_OK);
	ck_assert_int_eq(queue_claim_many_any_org(db, a, ids, 3, 30, got, &n,
	    NULL), DB_OK);
	ck_assert_int_eq(n, 3);
	for (int i = 0; i < n; i++) {
		ck_assert_int_ge(got[i].worker, 0);
		ck_assert_int_lt(got[i].worker, 3);
		ck_assert(!seen[got[i].worker]);
		seen[got[i].worker] = true;
		ck_assert(got[i].more);	/* two more are due */
		ck_assert_int_eq(hpg_sqlf_int(&pg, "SELECT count(*) FROM jobs "
		    "WHERE id = %lld AND status = 'running' AND locked_by = "
		    "'%s'", (long long)got[i].id, ids[got[i].worker]), 1);
	}
	ck_assert_int_eq(queue_claim_many_any_org(db, a, ids, 3, 30, got, &n,
	    NULL), DB_OK);
	ck_assert_int_eq(n, 2);
	ck_assert(!got[0].more);
	ck_assert_int_eq(queue_claim_many_any_org(db, a, ids, 3, 30, got, &n,
	    NULL), DB_NOT_FOUND);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(hpg_sql_int(&pg, "SELECT count(DISTINCT locked_by) "
	    "FROM jobs WHERE status = 'running'"), 3);
	db_release(db);
	arena_free(a);
}
END_TEST

START_TEST(retry_with_backoff_then_dead_then_manual_retry)
{
	struct worker_pool	*p;
	struct arena		*a = arena_new();
	struct job_row		*rows;
	struct db		*db;
	int			 n;
	int64_t			 dead_id;

	free(hpg_sqlf(&pg, "DELETE FROM jobs"));
	atomic_store(&flaky_calls, 0);
	p = start_pool(2, 100);
	enqueue("test.flaky", "{\"mode\": \"once\"}", 5);
	enqueue("test.flaky", "{\"mode\": \"always\"}", 2);
	enqueue("test.unknown", "{}", 5);
	/* First: fails once, retried after ~2 s, done on attempt 2. */
	ck_assert_msg(hpg_wait_int(&pg, 1, 15000, "SELECT count(*) FROM jobs "
	    "WHERE payload->>'mode' = 'once' AND status = 'done' AND "
	    "attempts = 2"),
	    "flaky job not retried to success");
	ck_assert_msg(hpg_wait_int(&pg, 1, 15000, "SELECT count(*) FROM jobs "
	    "WHERE payload->>'mode' = 'always' AND status = 'dead' AND "
	    "attempts = 2"),
	    "failing job not dead after its attempts");
	ck_assert_msg(hpg_wait_int(&pg, 1, 5000, "SELECT count(*) FROM jobs "
	    "WHERE kind = 'test.unknown' AND status = 'dead' AND attempts = 1"),
	    "job of unknown kind not dead at once");
	worker_pool_stop(p);

	db = db_acquire(dbp);
	ck_assert_int_eq(queue_list_problems(db, a, org_id, 10, &rows, &n),
	    DB_OK);
	ck_assert_int_eq(n, 2);
	for (int i = 0; i < n; i++) {
		ck_assert_str_eq(rows[i].status, "dead");
		ck_assert_ptr_nonnull(rows[i].last_error);
	}
	/* Another organisation cannot retry it; this one can. */
	dead_id = hpg_sql_int(&pg, "SELECT id FROM jobs WHERE payload->>"
	    "'mode' = 'always'");
	ck_assert_int_eq(queue_retry(db, org_id + 1000, dead_id),
	    DB_NOT_FOUND);
	ck_assert_int_eq(queue_retry(db, org_id, dead_id), DB_OK);
	db_release(db);
	ck_assert_int_eq(hpg_sql_int(&pg, "SELECT count(*) FROM jobs WHERE"
	    " status = 'queued' AND attempts = 0"), 1);
	arena_free(a);
}
END_TEST

/*
 * Done jobs go after their keeping time, a bounded number per statement;
 * what an admin may still act on (dead, failing) and what runs stay.
 */
START_TEST(finished_jobs_are_swept_after_their_keeping_time)
{
	struct db	*db;
	int		 n = -1;
	int64_t		 keep_s = 7 * 86400;

	free(hpg_sqlf(&pg, "DELETE FROM jobs"));
	free(hpg_sqlf(&pg,
	    "INSERT INTO jobs (org_id, kind, payload, status, attempts,"
	    "       finished_at, updated_at, last_error, lease_until,"
	    "       locked_by, run_at)"
	    " VALUES"
	    " (%lld, 'test.count', '{\"k\": \"old1\"}', 'done', 1,"
	    "  now() - interval '8 days', now() - interval '8 days',"
	    "  NULL, NULL, NULL, now() - interval '8 days'),"
	    " (%lld, 'test.count', '{\"k\": \"old2\"}', 'done', 1,"
	    "  now() - interval '30 days', now() - interval '30 days',"
	    "  NULL, NULL, NULL, now() - interval '30 days'),"
	    " (%lld, 'test.count', '{\"k\": \"old3\"}', 'done', 1,"
	    "  NULL, now() - interval '10 days',"
	    "  NULL, NULL, NULL, now() - interval '10 days'),"
	    " (%lld, 'test.count', '{\"k\": \"recent\"}', 'done', 1,"
	    "  now() - interval '6 days', now() - interval '6 days',"
	    "  NULL, NULL, NULL, now() - interval '6 days'),"
	    " (%lld, 'test.count', '{\"k\": \"dead\"}', 'dead', 5,"
	    "  now() - interval '40 days', now() - interval '40 days',"
	    "  'provider answered 503', NULL, NULL,"
	    "  now() - interval '40 days'),"
	    " (%lld, 'test.count', '{\"k\": \"failing\"}', 'queued', 2,"
	    "  NULL, now() - interval '9 days', 'provider answered 503',"
	    "  NULL, NULL, now() - interval '9 days'),"
	    " (%lld, 'test.count', '{\"k\": \"running\"}', 'running', 1,"
	    "  NULL, now() - interval '9 days', NULL,"
	    "  now() + interval '1 minute', 'w1', now() - interval '9 days')",
	    (long long)org_id, (long long)org_id, (long long)org_id,
	    (long long)org_id, (long long)org_id, (long long)org_id,
	    (long long)org_id));

	db = db_acquire(dbp);
	ck_assert_ptr_nonnull(db);
	/* Two per statement: the third old one waits for the next. */
	ck_assert_int_eq(queue_sweep_done_any_org(db, keep_s, 2, &n), DB_OK);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(queue_sweep_done_any_org(db, keep_s, 2, &n), DB_OK);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(queue_sweep_done_any_org(db, keep_s, 2, &n), DB_OK);
	ck_assert_int_eq(n, 0);
	db_release(db);
	ck_assert_int_eq(hpg_sql_int(&pg, "SELECT count(*) FROM jobs WHERE"
	    " payload->>'k' LIKE 'old%'"), 0);
	ck_assert_int_eq(hpg_sql_int(&pg, "SELECT count(*) FROM jobs WHERE"
	    " payload->>'k' IN ('recent', 'dead', 'failing', 'running')"), 4);
}
END_TEST

START_TEST(backoff_grows_with_jitter_and_a_cap)
{
	for (int i = 0; i < 200; i++) {
		int	 b1 = queue_backoff_s(1), b3 = queue_backoff_s(3);
		int	 b20 = queue_backoff_s(20);

		ck_assert(b1 >= 2 && b1 <= 2);
		ck_assert(b3 >= 6 && b3 <= 10);
		ck_assert(b20 >= 450 && b20 <= 750);
	}
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("queue");
	TCase	*tc = tcase_create("queue");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, enqueue_rolls_back_with_its_transaction);
	tcase_add_test(tc, every_job_runs_exactly_once_across_two_pools);
	tcase_add_test(tc, notify_wakes_an_idle_pool);
	tcase_add_test(tc, expired_lease_is_claimed_again_once);
	tcase_add_test(tc, one_claim_leases_several_jobs_each_to_its_worker);
	tcase_add_test(tc, retry_with_backoff_then_dead_then_manual_retry);
	tcase_add_test(tc, finished_jobs_are_swept_after_their_keeping_time);
	tcase_add_test(tc, backoff_grows_with_jitter_and_a_cap);
	suite_add_tcase(s, tc);
	return hrun_suites(s, NULL) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
