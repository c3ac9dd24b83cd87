/*
 * schedule: schedules and schedule_runs (see schedule.h).
 *
 * Thread-safe: no shared state.
 */
#include "model/schedule.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/cron.h"
#include "util/str.h"
#include "util/utf8.h"
#include "util/xmalloc.h"

#define ISO(col) "COALESCE(to_char(" col " AT TIME ZONE 'UTC'," \
		 " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"
#define COLS	"s.id, s.agent_id, s.name, s.kind, s.cron, s.interval_s," \
		" s.tz, s.prompt, s.target, s.chat_ids::text," \
		" COALESCE(s.recipient_channel_id, 0), s.recipient," \
		" COALESCE(s.recipient_chat_id, 0), s.heartbeat, s.enabled," \
		" " ISO("s.next_run_at") ", " ISO("s.last_run_at") "," \
		" " ISO("s.created_at") ", s.deleted_at IS NOT NULL"
#define NAME_MAX_CHARS	100
#define TZ_MAX		64
#define RECIPIENT_MAX	256

static void	 read_row(struct arena *, const struct db_res *, int,
		    struct schedule *);
static int64_t	*parse_ids(struct arena *, const char *, int *);
static char	*ids_literal(const int64_t *, int);
static bool	 validate(struct db *, int64_t, const struct schedule_input *,
		    int, struct field_errors *, enum db_status *);
static enum db_status next_cron(struct db *, const char *, const char *,
		    char *, size_t);
static enum db_status store(struct db *, int64_t, int64_t, int64_t,
		    const struct schedule_input *, int64_t *);

/* "{1,2}" → ids in a. */
static int64_t *
parse_ids(struct arena *a, const char *s, int *n)
{
	int64_t	*ids = arena_alloc(a, sizeof(*ids) * (SCHEDULE_CHATS_MAX + 1));
	char	*end;

	*n = 0;
	while (s != NULL && *s != '\0' && *n < SCHEDULE_CHATS_MAX) {
		if (*s < '0' || *s > '9') {
			s++;
			continue;
		}
		ids[(*n)++] = strtoll(s, &end, 10);
		s = end;
	}
	return ids;
}

/* "{1,2}" (malloc'd). */
static char *
ids_literal(const int64_t *ids, int n)
{
	struct buf	 b;

	buf_init(&b, 0);
	buf_putc(&b, '{');
	for (int i = 0; i < n; i++)
		buf_printf(&b, "%s%" PRId64, i > 0 ? "," : "", ids[i]);
	buf_putc(&b, '}');
	return buf_steal(&b, NULL);
}

static void
read_row(struct arena *a, const struct db_res *res, int i, struct schedule *s)
{
	s->id = db_res_i64(res, i, 0);
	s->agent_id = db_res_i64(res, i, 1);
	s->name = arena_strdup(a, db_res_text(res, i, 2));
	s->kind = arena_strdup(a, db_res_text(res, i, 3));
	s->cron = arena_strdup(a, db_res_text(res, i, 4));
	s->interval_s = (int)db_res_i64(res, i, 5);
	s->tz = arena_strdup(a, db_res_text(res, i, 6));
	s->prompt = arena_strdup(a, db_res_text(res, i, 7));
	s->target = arena_strdup(a, db_res_text(res, i, 8));
	s->chat_ids = parse_ids(a, db_res_text(res, i, 9), &s->n_chat_ids);
	s->recipient_channel_id = db_res_i64(res, i, 10);
	s->recipient = arena_strdup(a, db_res_text(res, i, 11));
	s->recipient_chat_id = db_res_i64(res, i, 12);
	s->heartbeat = db_res_bool(res, i, 13);
	s->enabled = db_res_bool(res, i, 14);
	s->next_run_at = arena_strdup(a, db_res_text(res, i, 15));
	s->last_run_at = arena_strdup(a, db_res_text(res, i, 16));
	s->created_at = arena_strdup(a, db_res_text(res, i, 17));
	s->deleted = db_res_bool(res, i, 18);
}

enum db_status
schedule_list(struct db *db, struct arena *a, int64_t org_id,
    int64_t agent_id, struct schedule **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT " COLS
	    "  FROM schedules s"
	    " WHERE s.org_id = $1 AND s.agent_id = $2 AND s.deleted_at IS NULL"
	    " ORDER BY s.id",
	    DB_I64(org_id), DB_I64(agent_id), DB_END);
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

enum db_status
schedule_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t agent_id, int64_t id, struct schedule *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    "SELECT " COLS
	    "  FROM schedules s"
	    " WHERE s.org_id = $1 AND s.id = $2"
	    "   AND ($3::bigint = 0"
	    "        OR (s.agent_id = $3 AND s.deleted_at IS NULL))",
	    DB_I64(org_id), DB_I64(id), DB_I64(agent_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		read_row(a, &res, 0, out);
	db_res_clear(&res);
	return st;
}

/*
 * The next cron match after now in tz, as a wall-clock timestamp text
 * ("YYYY-MM-DD HH:MM:00") for `::timestamp AT TIME ZONE tz`.
 */
static enum db_status
next_cron(struct db *db, const char *expr, const char *tz, char *out,
    size_t outlen)
{
	struct db_res		 res = { 0 };
	struct cron		 c;
	struct cron_time	 now, next;
	enum db_status		 st;
	char			 err[200];

	if (!cron_parse(expr, &c, err, sizeof(err)))
		return DB_INVALID;
	st = db_query(db, &res,
	    "SELECT to_char(now() AT TIME ZONE $1,"
	    "               'YYYY MM DD HH24 MI SS')",
	    DB_TEXT(tz), DB_END);
	if (st == DB_OK && (res.n_rows != 1 || sscanf(db_res_text(&res, 0, 0),
	    "%d %d %d %d %d %d", &now.year, &now.month, &now.day, &now.hour,
	    &now.minute, &now.second) != 6 || !cron_next(&c, &now, &next)))
		st = DB_INVALID;
	db_res_clear(&res);
	if (st == DB_OK)
		snprintf(out, outlen, "%04d-%02d-%02d %02d:%02d:00", next.year,
		    next.month, next.day, next.hour, next.minute);
	return st;
}

/* False with errs (or *st for the database) when in is not storable. */
static bool
validate(struct db *db, int64_t org_id, const struct schedule_input *in,
    int min_interval_s, struct field_errors *errs, enum db_status *st)
{
	struct db_res	 res = { 0 };
	const char	*tz = in->tz != NULL && in->tz[0] != '\0' ? in->tz :
			    "UTC";
	const char	*rcp = in->recipient != NULL ? in->recipient : "";
	char		 err[200], *ids;
	struct cron	 c;
	size_t		 n;

	*st = DB_OK;
	n = in->name != NULL ? strlen(in->name) : 0;
	if (n == 0 || !utf8_valid(in->name, n) ||
	    utf8_count(in->name, n) > NAME_MAX_CHARS || str_has_ctl(in->name))
		field_error_add(errs, "name", "Give the schedule a name of up "
		    "to 100 characters.");
	if (str_eq(in->kind, "cron")) {
		if (!cron_parse(in->cron, &c, err, sizeof(err)))
			field_error_addf(errs, "cron", "%s", err);
	} else if (str_eq(in->kind, "interval")) {
		if (in->interval_s < min_interval_s ||
		    in->interval_s > SCHEDULE_INTERVAL_MAX)
			field_error_addf(errs, "interval", "The interval must "
			    "be from %d seconds to a year.", min_interval_s);
	} else
		field_error_add(errs, "kind", "Choose a cron expression or an "
		    "interval.");
	n = in->prompt != NULL ? strlen(in->prompt) : 0;
	if (n == 0 || !utf8_valid(in->prompt, n) ||
	    utf8_count(in->prompt, n) > SCHEDULE_PROMPT_MAX)
		field_error_add(errs, "prompt", "Write the prompt the agent "
		    "runs (up to 8000 characters).");
	if (str_eq(in->target, "chats")) {
		if (in->n_chat_ids < 1 || in->n_chat_ids > SCHEDULE_CHATS_MAX)
			field_error_add(errs, "chats", "Choose from 1 to 100 "
			    "chats or groups.");
	} else if (str_eq(in->target, "recipient")) {
		n = strlen(rcp);
		if (n > 0 && (in->recipient_channel_id <= 0 ||
		    n > RECIPIENT_MAX || strspn(rcp, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+@._:-") != n ||
		    (rcp[0] == '+' && (n < 7 || n > 16 ||
		    strspn(rcp + 1, "0123456789") != n - 1))))
			field_error_add(errs, "recipient", "Give a phone number "
			    "in E.164 form (+14155550123) or a group id, and "
			    "its channel; or leave it empty for the first "
			    "person who writes to the agent.");
	} else if (!str_eq(in->target, "agent_chats"))
		field_error_add(errs, "target", "Choose the agent's chats, "
		    "chosen chats, or one recipient.");
	if (strlen(tz) > TZ_MAX || str_has_ctl(tz))
		field_error_add(errs, "tz", "Give a time zone such as "
		    "Europe/Berlin.");
	if (errs->n > 0)
		return false;

	/* The zone, the chats and the channel exist (and are the org's). */
	ids = ids_literal(in->chat_ids, str_eq(in->target, "chats") ?
	    in->n_chat_ids : 0);
	*st = db_query(db, &res,
	    "SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $2),"
	    "       (SELECT count(*) FROM chats"
	    "         WHERE org_id = $1 AND id = ANY($3::bigint[])),"
	    "       cardinality(ARRAY(SELECT DISTINCT unnest($3::bigint[]))),"
	    "       $4::bigint = 0 OR EXISTS (SELECT 1 FROM channels"
	    "           WHERE org_id = $1 AND id = $4)",
	    DB_I64(org_id), DB_TEXT(tz), DB_TEXT(ids),
	    DB_I64(str_eq(in->target, "recipient") ? in->recipient_channel_id :
	    0), DB_END);
	free(ids);
	if (*st == DB_OK) {
		if (!db_res_bool(&res, 0, 0))
			field_error_addf(errs, "tz", "\"%.64s\" is not a time "
			    "zone this server knows (try Europe/Berlin or "
			    "UTC).", tz);
		if (db_res_i64(&res, 0, 1) != db_res_i64(&res, 0, 2))
			field_error_add(errs, "chats", "A chosen chat is not "
			    "one of this organisation's.");
		if (!db_res_bool(&res, 0, 3))
			field_error_add(errs, "recipient", "The recipient's "
			    "channel is not one of this organisation's.");
	}
	db_res_clear(&res);
	return *st == DB_OK && errs->n == 0;
}

/* Inserts (id 0) or updates, with the first slot computed. */
static enum db_status
store(struct db *db, int64_t org_id, int64_t agent_id, int64_t id,
    const struct schedule_input *in, int64_t *out_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	const char	*tz = in->tz != NULL && in->tz[0] != '\0' ? in->tz :
			    "UTC";
	bool		 is_cron = str_eq(in->kind, "cron");
	char		 next[32] = "", *ids;

	if (is_cron && (st = next_cron(db, in->cron, tz, next,
	    sizeof(next))) != DB_OK)
		return st;
	ids = ids_literal(in->chat_ids, str_eq(in->target, "chats") ?
	    in->n_chat_ids : 0);
	/*
	 * $1 org, $2 agent, $3 id (0: new), $4 name, $5 kind, $6 cron,
	 * $7 interval, $8 tz, $9 prompt, $10 target, $11 chats, $12 channel,
	 * $13 recipient, $14 heartbeat, $15 enabled, $16 next cron slot.
	 */
	st = db_query(db, &res,
	    "WITH v AS ("
	    "  SELECT CASE WHEN NOT $15::boolean THEN NULL"
	    "              WHEN $5 = 'cron' THEN $16::timestamp AT TIME ZONE $8"
	    "              ELSE now() + make_interval(secs => $7) END AS next"
	    "), ins AS ("
	    "  INSERT INTO schedules (org_id, agent_id, name, kind, cron,"
	    "         interval_s, tz, prompt, target, chat_ids,"
	    "         recipient_channel_id, recipient, heartbeat, enabled,"
	    "         next_run_at)"
	    "  SELECT $1, a.id, $4, $5, $6, $7, $8, $9, $10, $11::bigint[],"
	    "         NULLIF($12::bigint, 0), $13, $14, $15, v.next"
	    "    FROM agents a, v"
	    "   WHERE a.org_id = $1 AND a.id = $2 AND $3::bigint = 0"
	    "  RETURNING id"
	    "), upd AS ("
	    "  UPDATE schedules s"
	    "     SET name = $4, kind = $5, cron = $6, interval_s = $7,"
	    "         tz = $8, prompt = $9, target = $10,"
	    "         chat_ids = $11::bigint[],"
	    "         recipient_channel_id = NULLIF($12::bigint, 0),"
	    "         recipient = $13,"
	    "         recipient_chat_id = CASE WHEN s.target = $10"
	    "             AND s.recipient = $13"
	    "             AND s.recipient_channel_id"
	    "                 IS NOT DISTINCT FROM NULLIF($12::bigint, 0)"
	    "             THEN s.recipient_chat_id END,"
	    "         heartbeat = $14, enabled = $15, next_run_at = v.next,"
	    "         updated_at = now()"
	    "    FROM v"
	    "   WHERE s.org_id = $1 AND s.agent_id = $2 AND s.id = $3"
	    "     AND s.deleted_at IS NULL"
	    "  RETURNING s.id"
	    ")"
	    " SELECT id FROM ins UNION ALL SELECT id FROM upd",
	    DB_I64(org_id), DB_I64(agent_id), DB_I64(id), DB_TEXT(in->name),
	    DB_TEXT(in->kind), DB_TEXT(is_cron ? in->cron : ""),
	    DB_I64(is_cron ? 0 : in->interval_s), DB_TEXT(tz),
	    DB_TEXT(in->prompt), DB_TEXT(in->target), DB_TEXT(ids),
	    DB_I64(str_eq(in->target, "recipient") ? in->recipient_channel_id :
	    0), DB_TEXT(str_eq(in->target, "recipient") &&
	    in->recipient != NULL ? in->recipient : ""),
	    DB_BOOL(in->heartbeat), DB_BOOL(in->enabled),
	    is_cron ? DB_TEXT(next) : DB_NULL, DB_END);
	free(ids);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK && out_id != NULL)
		*out_id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
schedule_create(struct db *db, int64_t org_id, int64_t agent_id,
    const struct schedule_input *in, int min_interval_s,
    struct field_errors *errs, int64_t *id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*id = 0;
	if (!validate(db, org_id, in, min_interval_s, errs, &st))
		return st != DB_OK ? st : DB_INVALID;
	st = db_query(db, &res,
	    "SELECT count(*) FROM schedules WHERE org_id = $1 AND agent_id = $2"
	    "   AND deleted_at IS NULL",
	    DB_I64(org_id), DB_I64(agent_id), DB_END);
	if (st == DB_OK && db_res_i64(&res, 0, 0) >= SCHEDULE_PER_AGENT_MAX) {
		field_error_add(errs, "name", "This agent has as many "
		    "schedules as it may have (50).");
		st = DB_INVALID;
	}
	db_res_clear(&res);
	if (st != DB_OK)
		return st;
	return store(db, org_id, agent_id, 0, in, id);
}

enum db_status
schedule_update(struct db *db, int64_t org_id, int64_t agent_id, int64_t id,
    const struct schedule_input *in, int min_interval_s,
    struct field_errors *errs)
{
	enum db_status	 st;

	if (id <= 0)
		return DB_NOT_FOUND;
	if (!validate(db, org_id, in, min_interval_s, errs, &st))
		return st != DB_OK ? st : DB_INVALID;
	return store(db, org_id, agent_id, id, in, NULL);
}

enum db_status
schedule_delete(struct db *db, int64_t org_id, int64_t agent_id, int64_t id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE schedules"
	    "   SET deleted_at = now(), enabled = false, next_run_at = NULL,"
	    "       updated_at = now()"
	    " WHERE org_id = $1 AND agent_id = $2 AND id = $3"
	    "   AND deleted_at IS NULL RETURNING id",
	    DB_I64(org_id), DB_I64(agent_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

enum db_status
schedule_set_recipient_chat(struct db *db, int64_t org_id, int64_t id,
    int64_t chat_id)
{
	return db_exec(db,
	    "UPDATE schedules SET recipient_chat_id = $3"
	    " WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(id), DB_I64(chat_id), DB_END);
}

/* --- firing -------------------------------------------------------------- */

enum db_status
schedule_due_lock_any_org(struct db *db, int max, struct schedule_due *out,
    int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*n = 0;
	st = db_query(db, &res,
	    "SELECT org_id, id FROM schedules"
	    " WHERE enabled AND next_run_at <= now()"
	    " ORDER BY next_run_at"
	    " LIMIT $1"
	    "   FOR UPDATE SKIP LOCKED",
	    DB_I64(max), DB_END);
	for (int i = 0; st == DB_OK && i < res.n_rows && i < max; i++) {
		out[i].org_id = db_res_i64(&res, i, 0);
		out[i].id = db_res_i64(&res, i, 1);
		(*n)++;
	}
	db_res_clear(&res);
	return st;
}

enum db_status
schedule_fire(struct db *db, int64_t org_id, int64_t id, int64_t *run_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	char		 next[32] = "";
	bool		 is_cron;
	char		*expr = NULL, *tz = NULL;

	*run_id = 0;
	st = db_query(db, &res,
	    "SELECT kind = 'cron', cron, tz FROM schedules"
	    " WHERE org_id = $1 AND id = $2 AND enabled"
	    "   AND next_run_at <= now()",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st != DB_OK)
		goto out;
	is_cron = db_res_bool(&res, 0, 0);
	expr = xstrdup(db_res_text(&res, 0, 1));
	tz = xstrdup(db_res_text(&res, 0, 2));
	db_res_clear(&res);
	if (is_cron && next_cron(db, expr, tz, next, sizeof(next)) != DB_OK) {
		/* A zone that vanished, say: stop it rather than spin. */
		st = db_exec(db,
		    "UPDATE schedules SET enabled = false, updated_at = now()"
		    " WHERE org_id = $1 AND id = $2",
		    DB_I64(org_id), DB_I64(id), DB_END);
		goto out;
	}
	/* The run of the due slot, then the first slot after now. */
	st = db_query(db, &res,
	    "WITH s AS ("
	    "  SELECT id, agent_id, next_run_at AS slot, interval_s"
	    "    FROM schedules WHERE org_id = $1 AND id = $2"
	    "), run AS ("
	    "  INSERT INTO schedule_runs (org_id, schedule_id, agent_id,"
	    "         slot_at, trigger)"
	    "  SELECT $1, s.id, s.agent_id, s.slot, 'schedule' FROM s"
	    "  ON CONFLICT (schedule_id, slot_at) WHERE trigger = 'schedule'"
	    "     DO NOTHING"
	    "  RETURNING id"
	    "), upd AS ("
	    "  UPDATE schedules u"
	    "     SET next_run_at = CASE WHEN $3::text IS NOT NULL"
	    "             THEN $3::timestamp AT TIME ZONE u.tz"
	    "             ELSE s.slot + make_interval(secs => s.interval_s"
	    "                 * (floor(extract(epoch FROM now() - s.slot)"
	    "                    / s.interval_s) + 1)) END,"
	    "         last_run_at = now(), updated_at = now()"
	    "    FROM s"
	    "   WHERE u.org_id = $1 AND u.id = s.id"
	    "  RETURNING u.id"
	    ")"
	    " SELECT (SELECT id FROM run), (SELECT count(*) FROM upd)",
	    DB_I64(org_id), DB_I64(id), is_cron ? DB_TEXT(next) : DB_NULL,
	    DB_END);
	if (st == DB_OK && !db_res_isnull(&res, 0, 0))
		*run_id = db_res_i64(&res, 0, 0);
out:
	db_res_clear(&res);
	free(expr);
	free(tz);
	return st;
}

enum db_status
schedule_run_now(struct db *db, int64_t org_id, int64_t agent_id, int64_t id,
    int64_t *run_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*run_id = 0;
	st = db_query(db, &res,
	    "INSERT INTO schedule_runs (org_id, schedule_id, agent_id,"
	    "       slot_at, trigger)"
	    " SELECT $1, s.id, s.agent_id, now(), 'manual'"
	    "   FROM schedules s"
	    "  WHERE s.org_id = $1 AND s.agent_id = $2 AND s.id = $3"
	    "    AND s.deleted_at IS NULL"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(agent_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		*run_id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

/* --- runs ---------------------------------------------------------------- */

enum db_status
schedule_run_start(struct db *db, struct arena *a, int64_t org_id,
    int64_t run_id, struct schedule_job *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    "WITH r AS ("
	    "  SELECT id, status FROM schedule_runs"
	    "   WHERE org_id = $1 AND id = $2 FOR UPDATE"
	    "), u AS ("
	    "  UPDATE schedule_runs x"
	    "     SET status = 'running',"
	    "         started_at = COALESCE(x.started_at, now())"
	    "    FROM r"
	    "   WHERE x.org_id = $1 AND x.id = r.id"
	    "     AND r.status IN ('queued', 'running')"
	    "  RETURNING x.id, x.schedule_id, x.result,"
	    "            COALESCE(x.llm_call_id, 0) AS llm_call_id"
	    ")"
	    " SELECT r.status, u.schedule_id, u.result, u.llm_call_id"
	    "   FROM r LEFT JOIN u ON u.id = r.id",
	    DB_I64(org_id), DB_I64(run_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK && db_res_isnull(&res, 0, 1))
		st = DB_CONFLICT;
	if (st != DB_OK)
		goto out;
	out->run_id = run_id;
	out->status = arena_strdup(a, db_res_text(&res, 0, 0));
	out->result = db_res_isnull(&res, 0, 2) ? NULL : arena_strdup(a,
	    db_res_text(&res, 0, 2));
	out->llm_call_id = db_res_i64(&res, 0, 3);
	st = schedule_get(db, a, org_id, 0, db_res_i64(&res, 0, 1), &out->s);
out:
	db_res_clear(&res);
	return st;
}

enum db_status
schedule_run_result(struct db *db, int64_t org_id, int64_t run_id,
    const char *result, int64_t llm_call_id, int n_targets)
{
	return db_exec(db,
	    "UPDATE schedule_runs"
	    "   SET result = COALESCE(result, $3),"
	    "       llm_call_id = COALESCE(llm_call_id, NULLIF($4::bigint, 0)),"
	    "       n_targets = $5"
	    " WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(run_id), DB_TEXT(result),
	    DB_I64(llm_call_id), DB_I64(n_targets), DB_END);
}

enum db_status
schedule_run_finish(struct db *db, int64_t org_id, int64_t run_id, bool ok,
    const char *error)
{
	return db_exec(db,
	    "UPDATE schedule_runs"
	    "   SET status = CASE WHEN $3::boolean THEN 'done' ELSE 'failed' END,"
	    "       error = $4, finished_at = now()"
	    " WHERE org_id = $1 AND id = $2 AND status IN ('queued', 'running')",
	    DB_I64(org_id), DB_I64(run_id), DB_BOOL(ok),
	    DB_TEXT(error != NULL ? error : ""), DB_END);
}

enum db_status
schedule_runs_list(struct db *db, struct arena *a, int64_t org_id,
    int64_t agent_id, int64_t schedule_id, int limit,
    struct schedule_run **out, int *n)
{
	struct db_res		 res = { 0 };
	enum db_status		 st;
	struct schedule_run	*runs;
	int64_t			*ids;
	char			*lit;
	int			 k;

	*out = NULL;
	*n = 0;
	if (limit < 1 || limit > SCHEDULE_RUNS_MAX)
		limit = SCHEDULE_RUNS_MAX;
	st = db_query(db, &res,
	    "SELECT r.id, r.schedule_id, s.name, " ISO("r.slot_at") ","
	    "       r.trigger, r.status, COALESCE(r.result, ''), r.error,"
	    "       r.n_targets, " ISO("r.created_at") ","
	    "       " ISO("r.finished_at")
	    "  FROM schedule_runs r"
	    "  JOIN schedules s ON s.org_id = $1 AND s.id = r.schedule_id"
	    " WHERE r.org_id = $1 AND r.agent_id = $2"
	    "   AND ($3::bigint = 0 OR r.schedule_id = $3)"
	    " ORDER BY r.id DESC LIMIT $4",
	    DB_I64(org_id), DB_I64(agent_id), DB_I64(schedule_id),
	    DB_I64(limit), DB_END);
	if (st != DB_OK)
		goto out;
	k = res.n_rows;
	runs = arena_alloc(a, sizeof(*runs) * (size_t)(k + 1));
	for (int i = 0; i < k; i++) {
		runs[i].id = db_res_i64(&res, i, 0);
		runs[i].schedule_id = db_res_i64(&res, i, 1);
		runs[i].schedule_name = arena_strdup(a, db_res_text(&res, i,
		    2));
		runs[i].slot_at = arena_strdup(a, db_res_text(&res, i, 3));
		runs[i].trigger = arena_strdup(a, db_res_text(&res, i, 4));
		runs[i].status = arena_strdup(a, db_res_text(&res, i, 5));
		runs[i].result = arena_strdup(a, db_res_text(&res, i, 6));
		runs[i].error = arena_strdup(a, db_res_text(&res, i, 7));
		runs[i].n_targets = (int)db_res_i64(&res, i, 8);
		runs[i].created_at = arena_strdup(a, db_res_text(&res, i, 9));
		runs[i].finished_at = arena_strdup(a, db_res_text(&res, i,
		    10));
	}
	db_res_clear(&res);
	*out = runs;
	*n = k;
	if (k == 0)
		goto out;
	ids = arena_alloc(a, sizeof(*ids) * (size_t)k);
	for (int i = 0; i < k; i++)
		ids[i] = runs[i].id;
	lit = ids_literal(ids, k);
	/*
	 * Per run and target chat: the worst state of its parts (failed >
	 * held > sending > delivered), read from the outbox's rows.
	 */
	st = db_query(db, &res,
	    "SELECT m.schedule_run_id, m.chat_id, c.kind, c.external_id,"
	    "       c.display_name,"
	    "       CASE WHEN bool_or(m.status = 'failed') THEN 'failed'"
	    "            WHEN bool_or(m.status = 'held') THEN 'held'"
	    "            WHEN bool_or(m.status IN ('queued', 'sending'))"
	    "                 THEN 'sending'"
	    "            ELSE 'delivered' END,"
	    "       COALESCE(max(m.error_text)"
	    "                FILTER (WHERE m.status IN ('failed', 'held')), '')"
	    "  FROM messages m"
	    "  JOIN chats c ON c.org_id = $1 AND c.id = m.chat_id"
	    " WHERE m.org_id = $1 AND m.schedule_run_id = ANY($2::bigint[])"
	    "   AND m.direction = 'out'"
	    " GROUP BY m.schedule_run_id, m.chat_id, c.kind, c.external_id,"
	    "          c.display_name"
	    " ORDER BY m.schedule_run_id, m.chat_id",
	    DB_I64(org_id), DB_TEXT(lit), DB_END);
	free(lit);
	if (st != DB_OK)
		goto out;
	for (int i = 0; i < k; i++) {
		int	 m = 0;

		runs[i].deliveries = arena_alloc(a,
		    sizeof(*runs[i].deliveries) * (size_t)(res.n_rows + 1));
		for (int j = 0; j < res.n_rows; j++) {
			struct schedule_delivery *d;

			if (db_res_i64(&res, j, 0) != runs[i].id)
				continue;
			d = &runs[i].deliveries[m++];
			d->chat_id = db_res_i64(&res, j, 1);
			d->chat_kind = arena_strdup(a, db_res_text(&res, j, 2));
			d->external_id = arena_strdup(a, db_res_text(&res, j,
			    3));
			d->display_name = arena_strdup(a, db_res_text(&res, j,
			    4));
			d->status = arena_strdup(a, db_res_text(&res, j, 5));
			d->error = arena_strdup(a, db_res_text(&res, j, 6));
		}
		runs[i].n_deliveries = m;
	}
out:
	db_res_clear(&res);
	return st;
}
