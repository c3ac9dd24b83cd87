/*
 * queue: the jobs table (see queue.h for the design).
 */
#include "worker/queue.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <cjson/cJSON.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"

static char	*id_array(const int64_t *, int);
static void	 read_row(struct arena *, const struct db_res *, int,
		    struct job_row *);

/* "{1,2,3}", a bigint[] literal for a parameter (malloc'd). */
static char *
id_array(const int64_t *ids, int n)
{
	struct buf	 b;

	buf_init(&b, 0);
	db_array_i64(&b, ids, n);
	return buf_steal(&b, NULL);
}

bool
queue_send_at(struct db *db, int64_t org_id, int64_t message_id,
    int delay_s, int64_t *job_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	if (delay_s < 0)
		delay_s = 0;
	if (*job_id != 0) {
		st = db_query(db, &res,
		    "UPDATE jobs SET run_at = now()"
		    "       + make_interval(secs => $3), updated_at = now()"
		    " WHERE org_id = $1 AND id = $2 AND status = 'queued'"
		    " RETURNING id",
		    DB_I64(org_id), DB_I64(*job_id), DB_I64(delay_s), DB_END);
		if (st == DB_OK && res.n_rows == 1) {
			db_res_clear(&res);
			return true;
		}
		db_res_clear(&res);
		if (st != DB_OK)
			return false;
	}
	st = db_query(db, &res,
	    "WITH j AS ("
	    "  INSERT INTO jobs (org_id, kind, payload, run_at)"
	    "  VALUES ($1, '" QUEUE_KIND_SEND "',"
	    "          jsonb_build_object('message_id', $2::bigint),"
	    "          now() + make_interval(secs => $3))"
	    "  RETURNING id)"
	    " SELECT j.id, CASE WHEN $3::integer = 0"
	    "              THEN pg_notify('" QUEUE_CHANNEL "', '') END"
	    "   FROM j",
	    DB_I64(org_id), DB_I64(message_id), DB_I64(delay_s), DB_END);
	if (st == DB_OK && res.n_rows == 1)
		*job_id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st == DB_OK;
}

bool
queue_release_job(struct db *db, int64_t org_id, int64_t hold_id)
{
	return db_exec(db,
	    "WITH j AS ("
	    "  INSERT INTO jobs (org_id, kind, payload)"
	    "  VALUES ($1, '" QUEUE_KIND_RELEASE "',"
	    "          jsonb_build_object('hold_id', $2::bigint))"
	    "  RETURNING id)"
	    " SELECT pg_notify('" QUEUE_CHANNEL "', '') FROM j",
	    DB_I64(org_id), DB_I64(hold_id), DB_END) == DB_OK;
}

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
queue_claim_many_any_org(struct db *db, struct arena *a,
    const char *const *worker_ids, int n_workers, int lease_s,
    struct job *out, int *n_out, int *next_ms)
{
	struct db_res	 res = { 0 };
	struct buf	 workers;
	enum db_status	 st;

	*n_out = 0;
	if (next_ms != NULL)
		*next_ms = -1;
	if (n_workers <= 0)
		return DB_NOT_FOUND;
	buf_init(&workers, 0);
	db_array_text(&workers, worker_ids, n_workers);
	/*
	 * Up to n_workers due jobs, then (for the room left) due chats
	 * nobody holds turned into their running turn jobs (queue.h
	 * TURNS), the k-th claimed leased to worker_ids[k]; with neither,
	 * when the next falls due. "Held": the chat's turn_job runs under a
	 * live lease. Rows locked beyond the room left are skipped by
	 * concurrent claims for this statement only.
	 */
	st = db_query(db, &res,
	    "WITH cand AS ("
	    "  SELECT id, run_at FROM jobs"
	    "   WHERE run_at <= now()"
	    "     AND (status = 'queued'"
	    "          OR (status = 'running' AND lease_until < now()))"
	    "   ORDER BY run_at, id"
	    "   LIMIT $3 FOR UPDATE SKIP LOCKED"
	    "), next AS ("
	    "  SELECT id, row_number() OVER (ORDER BY run_at, id) AS rn"
	    "    FROM cand"
	    "), job AS ("
	    "  UPDATE jobs j SET status = 'running',"
	    "         attempts = j.attempts + 1,"
	    "         lease_until = now() + make_interval(secs => $2),"
	    "         locked_by = ($1::text[])[next.rn], updated_at = now()"
	    "    FROM next WHERE j.id = next.id"
	    "  RETURNING j.id, j.org_id, j.kind, j.payload, j.attempts,"
	    "         j.max_attempts, 0::bigint AS chat_id, j.locked_by"
	    "), dcand AS ("
	    "  SELECT c.id, c.org_id, c.turn_due_at FROM chats c"
	    "   WHERE (SELECT count(*) FROM next) < $3"
	    "     AND c.turn_due_at <= now()"
	    "     AND NOT EXISTS (SELECT 1 FROM jobs h"
	    "          WHERE h.id = c.turn_job AND h.status = 'running'"
	    "            AND h.lease_until >= now())"
	    "   ORDER BY c.turn_due_at"
	    "   LIMIT $3 FOR UPDATE OF c SKIP LOCKED"
	    "), due AS ("
	    "  SELECT id, org_id, rn FROM ("
	    "    SELECT id, org_id, (SELECT count(*) FROM next)"
	    "           + row_number() OVER (ORDER BY turn_due_at, id) AS rn"
	    "      FROM dcand) d"
	    "   WHERE rn <= $3"
	    "), turn AS ("
	    "  INSERT INTO jobs (org_id, kind, payload, status, attempts,"
	    "         lease_until, locked_by)"
	    "  SELECT due.org_id, '" QUEUE_KIND_TURN "',"
	    "         jsonb_build_object('chat_id', due.id), 'running', 1,"
	    "         now() + make_interval(secs => $2), ($1::text[])[due.rn]"
	    "    FROM due"
	    "  RETURNING id, org_id, kind, payload, attempts, max_attempts,"
	    "         (payload->>'chat_id')::bigint AS chat_id, locked_by"
	    "), held AS ("
	    "  UPDATE chats c SET turn_due_at = NULL, turn_job = turn.id"
	    "    FROM turn WHERE c.id = turn.chat_id"
	    "  RETURNING c.id"
	    "), got AS ("
	    "  SELECT * FROM job UNION ALL SELECT * FROM turn"
	    "), more AS ("
	    /* Whether more is due than was claimed: then the pool wakes one
	     * more worker (worker/pool.c); else nobody claims in vain. The
	     * turn jobs just inserted are not in this statement's view of
	     * jobs; the chats just held still show their due time. */
	    "  SELECT EXISTS (SELECT 1 FROM jobs o"
	    "                  WHERE o.run_at <= now()"
	    "                    AND (o.status = 'queued'"
	    "                         OR (o.status = 'running'"
	    "                             AND o.lease_until < now()))"
	    "                    AND o.id NOT IN (SELECT id FROM got))"
	    "      OR EXISTS (SELECT 1 FROM chats d"
	    "                  WHERE d.turn_due_at <= now()"
	    "                    AND d.id NOT IN (SELECT chat_id FROM got)"
	    "                    AND NOT EXISTS (SELECT 1 FROM jobs h"
	    "                         WHERE h.id = d.turn_job"
	    "                           AND h.status = 'running'"
	    "                           AND h.lease_until >= now())) AS more"
	    ")"
	    " SELECT got.id, got.org_id, got.kind, got.payload::text,"
	    "        got.attempts, got.max_attempts, more.more,"
	    "        NULL::bigint, (SELECT count(*) FROM held), got.locked_by"
	    "   FROM got, more"
	    " UNION ALL"
	    " SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
	    "        (extract(epoch FROM LEAST("
	    "           (SELECT min(run_at) FROM jobs"
	    "             WHERE status = 'queued' AND run_at > now()),"
	    "           (SELECT min(turn_due_at) FROM chats"
	    "             WHERE turn_due_at > now())) - now()) * 1000"
	    "        )::bigint, 0, NULL"
	    "  WHERE NOT EXISTS (SELECT 1 FROM got)",
	    DB_TEXT(buf_str(&workers)), DB_I64(lease_s), DB_I64(n_workers),
	    DB_END);
	buf_cleanup(&workers);
	if (st != DB_OK)
		goto out;
	if (res.n_rows == 0 || db_res_isnull(&res, 0, 0)) {
		if (next_ms != NULL && res.n_rows > 0 &&
		    !db_res_isnull(&res, 0, 7)) {
			int64_t	 ms = db_res_i64(&res, 0, 7);

			*next_ms = ms < 0 ? 0 : ms > 3600000 ? 3600000 :
			    (int)ms;
		}
		st = DB_NOT_FOUND;
		goto out;
	}
	for (int r = 0; r < res.n_rows && *n_out < n_workers; r++) {
		struct job	*j = &out[*n_out];
		const char	*who = db_res_text(&res, r, 9);

		if (db_res_isnull(&res, r, 0))
			continue;
		memset(j, 0, sizeof(*j));
		j->id = db_res_i64(&res, r, 0);
		j->org_id = db_res_i64(&res, r, 1);
		j->kind = arena_strdup(a, db_res_text(&res, r, 2));
		j->payload = arena_strdup(a, db_res_text(&res, r, 3));
		j->attempts = (int)db_res_i64(&res, r, 4);
		j->max_attempts = (int)db_res_i64(&res, r, 5);
		j->more = db_res_bool(&res, r, 6);
		/* Claimed again after its worker vanished once too often. */
		j->exhausted = j->attempts > j->max_attempts;
		j->worker = -1;
		for (int k = 0; k < n_workers; k++)
			if (strcmp(worker_ids[k], who) == 0)
				j->worker = k;
		(*n_out)++;
	}
	if (*n_out == 0)
		st = DB_NOT_FOUND;
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
queue_extend_leases_any_org(struct db *db, int n, const int64_t *job_ids,
    const char *const *worker_ids, int lease_s, bool *held)
{
	struct db_res	 res = { 0 };
	struct buf	 workers;
	char		*ids;
	enum db_status	 st;

	for (int i = 0; i < n; i++)
		held[i] = false;
	if (n <= 0)
		return DB_OK;
	ids = id_array(job_ids, n);
	buf_init(&workers, 0);
	db_array_text(&workers, worker_ids, n);
	st = db_query(db, &res,
	    "UPDATE jobs j SET lease_until = now() + make_interval(secs => $3),"
	    "       updated_at = now()"
	    "  FROM unnest($1::bigint[], $2::text[]) AS t(id, worker)"
	    " WHERE j.id = t.id AND j.locked_by = t.worker"
	    "   AND j.status = 'running'"
	    " RETURNING j.id",
	    DB_TEXT(ids), DB_TEXT(buf_str(&workers)), DB_I64(lease_s), DB_END);
	for (int r = 0; st == DB_OK && r < res.n_rows; r++)
		for (int i = 0; i < n; i++)
			if (job_ids[i] == db_res_i64(&res, r, 0))
				held[i] = true;
	db_res_clear(&res);
	buf_cleanup(&workers);
	free(ids);
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
queue_sweep_done_any_org(struct db *db, int64_t keep_s, int max_rows, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*n = 0;
	/* Organisation by organisation, so jobs_org_status_idx (org_id,
	 * status, updated_at) finds the old done jobs without reading the
	 * rest; a done job's updated_at is when it finished (both ways to
	 * 'done' set it). */
	st = db_query(db, &res,
	    "WITH gone AS ("
	    "  DELETE FROM jobs WHERE id = ANY (ARRAY("
	    "    SELECT j.id FROM orgs o CROSS JOIN LATERAL ("
	    "      SELECT id FROM jobs"
	    "       WHERE org_id = o.id AND status = 'done'"
	    "         AND updated_at < now() - make_interval(secs => $1)"
	    "       LIMIT $2) j"
	    "     LIMIT $2))"
	    "  RETURNING 1)"
	    " SELECT count(*) FROM gone",
	    DB_I64(keep_s), DB_I64(max_rows), DB_END);
	if (st == DB_OK && res.n_rows == 1)
		*n = (int)db_res_i64(&res, 0, 0);
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
	    "       run_at, updated_at,"
	    "       CASE WHEN jsonb_typeof(payload->'message_id') = 'number'"
	    "            THEN (payload->>'message_id')::numeric::bigint"
	    "            ELSE 0 END,"
	    "       CASE WHEN jsonb_typeof(payload->'chat_id') = 'number'"
	    "            THEN (payload->>'chat_id')::numeric::bigint"
	    "            ELSE 0 END"
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
	for (int i = 0; i < res.n_rows; i++)
		read_row(a, &res, i, &(*out)[i]);
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

/* Columns: id, kind, status, attempts, max_attempts, last_error, run_at,
 * updated_at, the payload's message_id and chat_id. */
static void
read_row(struct arena *a, const struct db_res *res, int i,
    struct job_row *j)
{
	j->id = db_res_i64(res, i, 0);
	j->kind = arena_strdup(a, db_res_text(res, i, 1));
	j->status = arena_strdup(a, db_res_text(res, i, 2));
	j->attempts = (int)db_res_i64(res, i, 3);
	j->max_attempts = (int)db_res_i64(res, i, 4);
	j->last_error = db_res_isnull(res, i, 5) ? NULL :
	    arena_strdup(a, db_res_text(res, i, 5));
	j->run_at = arena_strdup(a, db_res_text(res, i, 6));
	j->updated_at = arena_strdup(a, db_res_text(res, i, 7));
	j->message_id = db_res_i64(res, i, 8);
	j->chat_id = db_res_i64(res, i, 9);
}

enum db_status
queue_get(struct db *db, struct arena *a, int64_t org_id, int64_t job_id,
    struct job_row *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    "SELECT id, kind, status, attempts, max_attempts, last_error,"
	    "       run_at, updated_at,"
	    "       CASE WHEN jsonb_typeof(payload->'message_id') = 'number'"
	    "            THEN (payload->>'message_id')::numeric::bigint"
	    "            ELSE 0 END,"
	    "       CASE WHEN jsonb_typeof(payload->'chat_id') = 'number'"
	    "            THEN (payload->>'chat_id')::numeric::bigint"
	    "            ELSE 0 END"
	    "  FROM jobs"
	    " WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(job_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		read_row(a, &res, 0, out);
	db_res_clear(&res);
	return st;
}

enum db_status
queue_resolve(struct db *db, int64_t org_id, int64_t job_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE jobs SET status = 'done', finished_at = now(),"
	    "       updated_at = now()"
	    " WHERE org_id = $1 AND id = $2 AND status = 'dead'"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(job_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
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

int64_t
queue_payload_message(const struct job *job)
{
	cJSON		*j = json_parse_str(job->payload, NULL);
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(j, "message_id");
	int64_t		 id = 0;

	if (cJSON_IsNumber(v) && v->valuedouble >= 1 &&
	    v->valuedouble < 9007199254740992.0)
		id = (int64_t)v->valuedouble;
	cJSON_Delete(j);
	return id;
}
