/*
 * queue: the jobs table (see queue.h for the design).
 */
#include "worker/queue.h"

#include <sodium.h>

#include "util/arena.h"

enum db_status
queue_enqueue(struct db *db, int64_t org_id, const char *kind,
    const char *payload, int max_attempts, int64_t *id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "WITH j AS ("
	    "  INSERT INTO jobs (org_id, kind, payload, max_attempts)"
	    "  VALUES ($1, $2, $3::jsonb, $4) RETURNING id)"
	    " SELECT j.id, pg_notify('" QUEUE_CHANNEL "', '') FROM j",
	    DB_I64(org_id), DB_TEXT(kind), DB_TEXT(payload),
	    DB_I64(max_attempts), DB_END);
	if (st == DB_OK && id != NULL)
		*id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
queue_claim_any_org(struct db *db, struct arena *a, const char *worker_id,
    int lease_s, struct job *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	/* A few rounds: each may find a job whose leases ran out too often. */
	for (int round = 0; round < 4; round++) {
		st = db_query(db, &res,
		    "WITH next AS ("
		    "  SELECT id FROM jobs"
		    "   WHERE run_at <= now()"
		    "     AND (status = 'queued'"
		    "          OR (status = 'running' AND lease_until < now()))"
		    "   ORDER BY run_at, id"
		    "   LIMIT 1 FOR UPDATE SKIP LOCKED)"
		    " UPDATE jobs j SET status = 'running',"
		    "       attempts = j.attempts + 1,"
		    "       lease_until = now() + make_interval(secs => $2),"
		    "       locked_by = $1, updated_at = now()"
		    "  FROM next WHERE j.id = next.id"
		    " RETURNING j.id, j.org_id, j.kind, j.payload::text,"
		    "       j.attempts, j.max_attempts,"
		    /* Whether another is due: then the pool wakes one more
		     * worker (worker/pool.c); else nobody claims in vain. */
		    "       EXISTS (SELECT 1 FROM jobs o"
		    "                WHERE o.id <> j.id AND o.run_at <= now()"
		    "                  AND (o.status = 'queued'"
		    "                       OR (o.status = 'running'"
		    "                           AND o.lease_until < now())))",
		    DB_TEXT(worker_id), DB_I64(lease_s), DB_END);
		if (st != DB_OK)
			goto out;
		if (res.n_rows == 0) {
			st = DB_NOT_FOUND;
			goto out;
		}
		out->id = db_res_i64(&res, 0, 0);
		out->org_id = db_res_i64(&res, 0, 1);
		out->kind = arena_strdup(a, db_res_text(&res, 0, 2));
		out->payload = arena_strdup(a, db_res_text(&res, 0, 3));
		out->attempts = (int)db_res_i64(&res, 0, 4);
		out->max_attempts = (int)db_res_i64(&res, 0, 5);
		out->more = db_res_bool(&res, 0, 6);
		db_res_clear(&res);
		if (out->attempts <= out->max_attempts)
			return DB_OK;
		/* Claimed again after its worker vanished once too often. */
		st = queue_fail_any_org(db, out->id, worker_id,
		    "The job's worker stopped before finishing it, too many "
		    "times.", false, 0);
		if (st != DB_OK)
			return st;
	}
	return DB_NOT_FOUND;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
queue_release_mine_any_org(struct db *db, const char *worker_id, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE jobs SET status = 'queued', run_at = now(),"
	    "       lease_until = NULL, locked_by = NULL, updated_at = now()"
	    " WHERE locked_by = $1 AND status = 'running'"
	    " RETURNING id",
	    DB_TEXT(worker_id), DB_END);
	if (n != NULL)
		*n = st == DB_OK ? res.n_rows : 0;
	db_res_clear(&res);
	return st;
}

enum db_status
queue_extend_lease_any_org(struct db *db, int64_t job_id,
    const char *worker_id, int lease_s)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE jobs SET lease_until = now() + make_interval(secs => $3),"
	    "       updated_at = now()"
	    " WHERE id = $1 AND locked_by = $2 AND status = 'running'"
	    " RETURNING id",
	    DB_I64(job_id), DB_TEXT(worker_id), DB_I64(lease_s), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_CONFLICT;
	db_res_clear(&res);
	return st;
}

enum db_status
queue_complete_any_org(struct db *db, int64_t job_id, const char *worker_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE jobs SET status = 'done', lease_until = NULL,"
	    "       finished_at = now(), updated_at = now()"
	    " WHERE id = $1 AND locked_by = $2 AND status = 'running'"
	    " RETURNING id",
	    DB_I64(job_id), DB_TEXT(worker_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_CONFLICT;
	db_res_clear(&res);
	return st;
}

enum db_status
queue_fail_any_org(struct db *db, int64_t job_id, const char *worker_id,
    const char *error, bool retry, int backoff_s)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE jobs SET"
	    "       status = CASE WHEN $4 AND attempts < max_attempts"
	    "                     THEN 'queued' ELSE 'dead' END,"
	    "       run_at = now() + make_interval(secs => $5),"
	    "       finished_at = CASE WHEN $4 AND attempts < max_attempts"
	    "                          THEN NULL ELSE now() END,"
	    "       last_error = $3, lease_until = NULL, locked_by = NULL,"
	    "       updated_at = now()"
	    " WHERE id = $1 AND locked_by = $2 AND status = 'running'"
	    " RETURNING id",
	    DB_I64(job_id), DB_TEXT(worker_id), DB_TEXT(error),
	    DB_BOOL(retry), DB_I64(backoff_s), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_CONFLICT;
	db_res_clear(&res);
	return st;
}

int
queue_backoff_s(int attempt)
{
	int	 base = 2, jitter;

	if (attempt < 1)
		attempt = 1;
	for (int i = 1; i < attempt && base < 600; i++)
		base *= 2;
	if (base > 600)
		base = 600;
	/* ±25 %, so retries of many jobs failed together spread out. */
	jitter = base / 4;
	if (jitter == 0)
		return base;
	return base - jitter + (int)randombytes_uniform((uint32_t)(2 * jitter + 1));
}

enum db_status
queue_list_problems(struct db *db, struct arena *a, int64_t org_id,
    int limit, struct job_row **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT id, kind, status, attempts, max_attempts, last_error,"
	    "       run_at, updated_at"
	    "  FROM jobs"
	    " WHERE org_id = $1"
	    "   AND (status = 'dead'"
	    "        OR (status = 'queued' AND last_error IS NOT NULL))"
	    " ORDER BY updated_at DESC, id DESC"
	    " LIMIT $2",
	    DB_I64(org_id), DB_I64(limit), DB_END);
	if (st != DB_OK)
		goto out;
	*out = arena_alloc(a, sizeof(**out) * (size_t)(res.n_rows + 1));
	for (int i = 0; i < res.n_rows; i++) {
		struct job_row	*j = &(*out)[i];

		j->id = db_res_i64(&res, i, 0);
		j->kind = arena_strdup(a, db_res_text(&res, i, 1));
		j->status = arena_strdup(a, db_res_text(&res, i, 2));
		j->attempts = (int)db_res_i64(&res, i, 3);
		j->max_attempts = (int)db_res_i64(&res, i, 4);
		j->last_error = db_res_isnull(&res, i, 5) ? NULL :
		    arena_strdup(a, db_res_text(&res, i, 5));
		j->run_at = arena_strdup(a, db_res_text(&res, i, 6));
		j->updated_at = arena_strdup(a, db_res_text(&res, i, 7));
	}
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
queue_retry(struct db *db, int64_t org_id, int64_t job_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "WITH j AS ("
	    "  UPDATE jobs SET status = 'queued', attempts = 0, run_at = now(),"
	    "         finished_at = NULL, updated_at = now()"
	    "   WHERE org_id = $1 AND id = $2 AND status = 'dead'"
	    "  RETURNING id)"
	    " SELECT j.id, pg_notify('" QUEUE_CHANNEL "', '') FROM j",
	    DB_I64(org_id), DB_I64(job_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}
