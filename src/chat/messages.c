/*
 * messages: reading messages, transcripts and notes (see messages.h);
 * every statement names org_id = $1.
 *
 * Thread-safe: no shared state.
 */
#include "chat/messages.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "chat/rows.h"
#include "chat/search.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/context.h"
#include "util/json.h"

static enum db_status	 read_messages(struct arena *, const struct db_res *,
			    struct chat_message **, int *);
static enum db_status	 note_insert(struct db *, int64_t, int64_t, int64_t,
			    const char *);

enum db_status
chat_turn_load(struct db *db, struct arena *a, int64_t org_id,
    int64_t chat_id, int64_t job_id, int max, struct chat_turn *out,
    struct turn_msg **msgs, int *n)
{
	struct db_res	 res = { 0 };
	struct turn_msg	*m;
	enum db_status	 st;
	int		 k = 0;

	memset(out, 0, sizeof(*out));
	*msgs = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT c.id, c.channel_id, ch.kind, c.kind, c.external_id,"
	    "       c.display_name,"
	    "       COALESCE(c.agent_id, ch.default_agent_id, 0), c.status,"
	    "       c.handoff_reason, COALESCE(c.assigned_user_id, 0),"
	    "       COALESCE((SELECT t.id FROM threads t"
	    "                  WHERE t.org_id = $1 AND t.chat_id = c.id"
	    "                    AND t.closed_at IS NULL), 0),"
	    "       COALESCE(c.turn_reply_to, 0),"
	    "       c.turn_reply_to IS NOT NULL AND EXISTS (SELECT 1"
	    "            FROM messages o WHERE o.reply_to_id = c.turn_reply_to"
	    "             AND o.direction = 'out'"
	    "             AND o.status IN ('queued', 'sending')),"
	    "       COALESCE(floor(extract(epoch FROM now() - c.outage_since))"
	    "           ::bigint, -1),"
	    "       $3::bigint = 0 OR c.turn_job = $3,"
	    "       p.id, p.kind, p.sender, p.sender_name, p.body,"
	    "       p.media::text, p.transcript,"
	    "       COALESCE(p.provider_message_id, ''),"
	    "       COALESCE(p.sender_user_id, CASE WHEN c.kind = 'dm'"
	    "           THEN c.contact_user_id END, ''),"
	    "       COALESCE(p.sender_username, CASE WHEN c.kind = 'dm'"
	    "           THEN c.contact_username END, ''),"
	    "       CASE WHEN c.kind = 'dm' THEN COALESCE(c.contact_phone, '')"
	    "            ELSE '' END,"
	    "       CASE WHEN c.kind = 'dm'"
	    "            THEN COALESCE(c.contact_parent_user_id, '')"
	    "            ELSE '' END,"
	    "       CASE WHEN c.kind = 'group' THEN c.external_id"
	    "            ELSE COALESCE(c.contact_phone, c.contact_user_id,"
	    "                          c.external_id) END,"
	    "       c.owner"
	    "  FROM chats c"
	    "  JOIN channels ch ON ch.org_id = c.org_id AND ch.id = c.channel_id"
	    "  LEFT JOIN LATERAL (SELECT * FROM messages m"
	    "        WHERE m.chat_id = c.id AND m.org_id = $1"
	    "          AND m.direction = 'in' AND m.answered_by IS NULL"
	    "          AND m.unanswered_reason IS NULL"
	    "        ORDER BY m.id LIMIT $4) p ON true"
	    " WHERE c.org_id = $1 AND c.id = $2"
	    " ORDER BY p.id",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(job_id), DB_I64(max),
	    DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows == 0) {
		st = DB_NOT_FOUND;
		goto out;
	}
	out->chat_id = db_res_i64(&res, 0, 0);
	out->org_id = org_id;
	out->channel_id = db_res_i64(&res, 0, 1);
	out->channel_kind = chat_col(a, &res, 0, 2);
	out->chat_kind = chat_col(a, &res, 0, 3);
	out->external_id = chat_col(a, &res, 0, 4);
	out->display_name = chat_col(a, &res, 0, 5);
	out->agent_id = db_res_i64(&res, 0, 6);
	out->status = chat_col(a, &res, 0, 7);
	out->handoff_reason = chat_col(a, &res, 0, 8);
	out->assigned_user_id = db_res_i64(&res, 0, 9);
	out->thread_id = db_res_i64(&res, 0, 10);
	out->reply_to = db_res_i64(&res, 0, 11);
	out->unsent = db_res_bool(&res, 0, 12);
	out->outage_s = (int)db_res_i64(&res, 0, 13);
	out->held = db_res_bool(&res, 0, 14);
	out->address = chat_col(a, &res, 0, 27);
	out->owner = chat_col(a, &res, 0, 28);
	m = arena_alloc(a, sizeof(*m) * (size_t)(res.n_rows + 1));
	for (int i = 0; i < res.n_rows; i++) {
		if (db_res_isnull(&res, i, 15))
			continue;
		m[k].id = db_res_i64(&res, i, 15);
		m[k].kind = chat_col(a, &res, i, 16);
		m[k].sender = chat_col(a, &res, i, 17);
		m[k].sender_name = chat_col(a, &res, i, 18);
		m[k].body = chat_col(a, &res, i, 19);
		m[k].media = chat_col(a, &res, i, 20);
		m[k].transcript = chat_col(a, &res, i, 21);
		m[k].provider_message_id = chat_col(a, &res, i, 22);
		m[k].from.user_id = chat_col(a, &res, i, 23);
		m[k].from.username = chat_col(a, &res, i, 24);
		m[k].from.parent_user_id = chat_col(a, &res, i, 26);
		/* The message's own phone first (a group's member, or the DM
		 * contact as it wrote), else the chat's; a bare id in sender
		 * (rows from before 2026) is the user id. */
		m[k].from.phone = m[k].sender[0] == '+' ? m[k].sender :
		    chat_col(a, &res, i, 25);
		contact_ident_fill(&m[k].from, m[k].sender);
		k++;
	}
	*msgs = m;
	*n = k;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
chat_turn_settle(struct db *db, int64_t org_id, int64_t chat_id,
    const int64_t *ids, int n, int64_t answered_by, const char *reason)
{
	struct buf	 b;
	enum db_status	 st;

	if (n == 0)
		return DB_OK;
	buf_init(&b, 0);
	if (n > 0)
		db_array_i64(&b, ids, n);
	st = db_exec(db,
	    "UPDATE messages"
	    "   SET answered_by = NULLIF($4::bigint, 0),"
	    "       unanswered_reason = CASE WHEN $4::bigint = 0 THEN $5 END,"
	    "       updated_at = now()"
	    " WHERE org_id = $1 AND chat_id = $2 AND direction = 'in'"
	    "   AND answered_by IS NULL AND unanswered_reason IS NULL"
	    "   AND ($3::bigint[] IS NULL OR id = ANY ($3::bigint[]))",
	    DB_I64(org_id), DB_I64(chat_id),
	    n > 0 ? DB_TEXT(buf_str(&b)) : DB_NULL, DB_I64(answered_by),
	    DB_TEXT(reason != NULL ? reason : "Not answered."), DB_END);
	buf_cleanup(&b);
	return st;
}

enum db_status
chat_turn_retry(struct db *db, int64_t org_id, int64_t chat_id, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	if (n != NULL)
		*n = 0;
	st = db_query(db, &res,
	    "WITH m AS ("
	    "  UPDATE messages SET unanswered_reason = NULL, updated_at = now()"
	    "   WHERE org_id = $1 AND chat_id = $2 AND direction = 'in'"
	    "     AND answered_by IS NULL"
	    "     AND starts_with(unanswered_reason, $3)"
	    "  RETURNING id"
	    "), c AS ("
	    "  UPDATE chats SET turn_due_at = now()"
	    "   WHERE org_id = $1 AND id = $2"
	    "  RETURNING id"
	    ")"
	    " SELECT (SELECT count(*) FROM m),"
	    "        (SELECT count(pg_notify('" APP_JOBS_CHANNEL "', ''))"
	    "           FROM c)",
	    DB_I64(org_id), DB_I64(chat_id), DB_TEXT(CHAT_TURN_FAILED_PREFIX),
	    DB_END);
	if (st == DB_OK && db_res_i64(&res, 0, 1) == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK && n != NULL)
		*n = (int)db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
chat_turn_due_for_message(struct db *db, int64_t org_id, int64_t message_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE chats c SET turn_due_at = now()"
	    "  FROM messages m"
	    " WHERE m.org_id = $1 AND m.id = $2 AND m.direction = 'in'"
	    "   AND c.org_id = $1 AND c.id = m.chat_id"
	    " RETURNING c.id, pg_notify('" APP_JOBS_CHANNEL "', '')",
	    DB_I64(org_id), DB_I64(message_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

enum db_status
chat_turn_due_if_pending(struct db *db, int64_t org_id, int64_t chat_id)
{
	return db_exec(db,
	    "UPDATE chats c SET turn_due_at = now()"
	    " WHERE c.org_id = $1 AND c.id = $2"
	    "   AND EXISTS (SELECT 1 FROM messages m"
	    "        WHERE m.chat_id = c.id AND m.direction = 'in'"
	    "          AND m.answered_by IS NULL"
	    "          AND m.unanswered_reason IS NULL)"
	    "   AND pg_notify('" APP_JOBS_CHANNEL "', '') IS NOT NULL",
	    DB_I64(org_id), DB_I64(chat_id), DB_END);
}

enum db_status
chat_unsettled(struct db *db, struct arena *a, int64_t org_id,
    int min_age_s, int limit, struct chat_unsettled **out, int *n)
{
	struct db_res		 res = { 0 };
	struct chat_unsettled	*u;
	enum db_status		 st;

	*out = NULL;
	*n = 0;
	if (limit <= 0 || limit > 1000)
		limit = 100;
	st = db_query(db, &res,
	    "SELECT m.id, m.chat_id,"
	    "       floor(extract(epoch FROM now() - m.created_at))::bigint"
	    "  FROM messages m JOIN chats c ON c.org_id = m.org_id"
	    "       AND c.id = m.chat_id"
	    " WHERE m.org_id = $1 AND m.direction = 'in'"
	    "   AND m.answered_by IS NULL AND m.unanswered_reason IS NULL"
	    "   AND c.status <> 'needs_human'"
	    "   AND m.created_at < now() - make_interval(secs => $2)"
	    " ORDER BY m.id LIMIT $3",
	    DB_I64(org_id), DB_I64(min_age_s), DB_I64(limit), DB_END);
	if (st != DB_OK)
		goto out;
	u = arena_alloc(a, sizeof(*u) * (size_t)(res.n_rows + 1));
	for (int i = 0; i < res.n_rows; i++) {
		u[i].id = db_res_i64(&res, i, 0);
		u[i].chat_id = db_res_i64(&res, i, 1);
		u[i].age_s = db_res_i64(&res, i, 2);
	}
	*out = u;
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

/* Columns: id, direction, sender, sender_name, body, status, error_code,
 * error_text, provider_message_id, reply_to_id, part_no, created_at,
 * kind, answered_by, unanswered_reason. */
static enum db_status
read_messages(struct arena *a, const struct db_res *res,
    struct chat_message **out, int *n_out)
{
	struct chat_message	*m;

	m = arena_alloc(a, sizeof(*m) * (size_t)(res->n_rows + 1));
	for (int i = 0; i < res->n_rows; i++) {
		m[i].id = db_res_i64(res, i, 0);
		m[i].direction = chat_col(a, res, i, 1);
		m[i].sender = chat_col(a, res, i, 2);
		m[i].sender_name = chat_col(a, res, i, 3);
		m[i].body = chat_col(a, res, i, 4);
		m[i].status = chat_col(a, res, i, 5);
		m[i].error_code = chat_col_null(a, res, i, 6);
		m[i].error_text = chat_col_null(a, res, i, 7);
		m[i].provider_message_id = chat_col_null(a, res, i, 8);
		m[i].reply_to_id = db_res_isnull(res, i, 9) ? 0 :
		    db_res_i64(res, i, 9);
		m[i].part_no = (int)db_res_i64(res, i, 10);
		m[i].created_at = chat_col(a, res, i, 11);
		m[i].kind = chat_col(a, res, i, 12);
		m[i].answered_by = db_res_isnull(res, i, 13) ? 0 :
		    db_res_i64(res, i, 13);
		m[i].unanswered_reason = chat_col_null(a, res, i, 14);
	}
	*out = m;
	*n_out = res->n_rows;
	return DB_OK;
}

enum db_status
chat_messages_after(struct db *db, struct arena *a, int64_t org_id,
    int64_t chat_id, int64_t after_id, int limit, struct chat_message **out,
    int *n_out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n_out = 0;
	if (limit <= 0 || limit > CHAT_MESSAGES_MAX)
		limit = CHAT_MESSAGES_MAX;
	/* The newest `limit` after after_id, returned oldest first. */
	st = db_query(db, &res,
	    "SELECT * FROM ("
	    "  SELECT id, direction, sender, sender_name, body, status,"
	    "         error_code, error_text, provider_message_id,"
	    "         reply_to_id, part_no,"
	    "         to_char(created_at AT TIME ZONE 'UTC',"
	    "                 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    "         kind, answered_by, unanswered_reason"
	    "    FROM messages"
	    "   WHERE org_id = $1 AND chat_id = $2 AND id > $3"
	    "   ORDER BY id DESC LIMIT $4"
	    ") t ORDER BY id",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(after_id), DB_I64(limit),
	    DB_END);
	if (st == DB_OK)
		st = read_messages(a, &res, out, n_out);
	db_res_clear(&res);
	return st;
}

enum db_status
chat_message_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t id, const char *provider_message_id, struct chat_message *out)
{
	struct db_res		 res = { 0 };
	struct chat_message	*m;
	enum db_status		 st;
	int			 n;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    "SELECT id, direction, sender, sender_name, body, status,"
	    "       error_code, error_text, provider_message_id,"
	    "       reply_to_id, part_no,"
	    "       to_char(created_at AT TIME ZONE 'UTC',"
	    "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    "       kind, answered_by, unanswered_reason"
	    "  FROM messages"
	    " WHERE org_id = $1"
	    "   AND (id = $2 OR ($3 <> '' AND provider_message_id = $3))"
	    " ORDER BY id LIMIT 1",
	    DB_I64(org_id), DB_I64(id),
	    DB_TEXT(provider_message_id != NULL ? provider_message_id : ""),
	    DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows == 0) {
		st = DB_NOT_FOUND;
		goto out;
	}
	(void)read_messages(a, &res, &m, &n);
	*out = m[0];
out:
	db_res_clear(&res);
	return st;
}

/*
 * A note of Parley's in the timeline (see chat_note_add). With
 * after_message_id > 0, only when no note with the same body follows that
 * message (the NOT EXISTS makes a retried job's note a no-op; two voice
 * notes in a row whose notes say the same thing may share one: the
 * sentence is about the agent's set-up, not one message). DB_NOT_FOUND
 * when nothing was written.
 */
static enum db_status
note_insert(struct db *db, int64_t org_id, int64_t chat_id,
    int64_t after_message_id, const char *body)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "INSERT INTO messages (org_id, channel_id, chat_id, thread_id,"
	    "       direction, sender, body, status)"
	    " SELECT $1, c.channel_id, c.id,"
	    "        (SELECT t.id FROM threads t WHERE t.org_id = $1"
	    "            AND t.chat_id = c.id AND t.closed_at IS NULL),"
	    "        'out', 'system', $4, 'sent'"
	    "   FROM chats c WHERE c.org_id = $1 AND c.id = $2"
	    "    AND ($3::bigint = 0 OR NOT EXISTS (SELECT 1 FROM messages n"
	    "          WHERE n.org_id = $1 AND n.chat_id = $2"
	    "            AND n.id > $3 AND n.direction = 'out'"
	    "            AND n.sender = 'system' AND n.body = $4))"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(after_message_id),
	    DB_TEXT(body), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

enum db_status
chat_note_add(struct db *db, int64_t org_id, int64_t chat_id,
    const char *body)
{
	return note_insert(db, org_id, chat_id, 0, body);
}

enum db_status
chat_note_add_once(struct db *db, int64_t org_id, int64_t chat_id,
    int64_t after_message_id, const char *body)
{
	enum db_status	 st;

	/* No row is also a note already there: not an error here. */
	st = note_insert(db, org_id, chat_id, after_message_id, body);
	return st == DB_NOT_FOUND ? DB_OK : st;
}

char *
chat_user_text(struct arena *a, const char *body, const char *transcript,
    bool voice_failed)
{
	body = body != NULL ? body : "";
	transcript = transcript != NULL ? transcript : "";
	if (*transcript != '\0') {
		if (*body == '\0' || strcmp(body, transcript) == 0)
			return arena_strdup(a, transcript);
		return arena_printf(a, "%s\n" CHAT_VOICE_LABEL "%s", body,
		    transcript);
	}
	if (!voice_failed)
		return arena_strdup(a, body);
	if (*body == '\0')
		return arena_strdup(a, CHAT_VOICE_UNREADABLE);
	return arena_printf(a, "%s\n" CHAT_VOICE_UNREADABLE, body);
}

void
chat_media_labels(struct buf *b, const char *media_json, bool spoken)
{
	cJSON		*media = json_parse_str(media_json, NULL);
	const cJSON	*it;

	cJSON_ArrayForEach(it, media) {
		const char	*ct = cJSON_GetStringValue(
				    cJSON_GetObjectItemCaseSensitive(it,
				    "contentType"));
		const char	*fn = cJSON_GetStringValue(
				    cJSON_GetObjectItemCaseSensitive(it,
				    "filename"));
		const char	*what;

		if (ct == NULL)
			ct = "";
		if (strncmp(ct, "audio/", 6) == 0 && spoken)
			continue;
		if (strncmp(ct, "image/webp", 10) == 0)
			what = "sticker";
		else if (strncmp(ct, "image/", 6) == 0)
			what = "image";
		else if (strncmp(ct, "video/", 6) == 0)
			what = "video";
		else if (strncmp(ct, "audio/", 6) == 0)
			what = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
			    it, "voice")) ? "voice note" : "audio";
		else if (strstr(ct, "vcard") != NULL)
			what = "contact card";
		else
			what = "document";
		if (fn != NULL && *fn != '\0')
			buf_printf(b, "[%s: %s] ", what, fn);
		else
			buf_printf(b, "[%s] ", what);
	}
	cJSON_Delete(media);
}

bool
chat_media_is_image(const char *ct)
{
	return ct != NULL && strncmp(ct, "image/", 6) == 0;
}

enum db_status
chat_message_set_transcript(struct db *db, int64_t org_id,
    int64_t message_id, const char *transcript, bool *stored)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	bool		 own = false;

	*stored = false;
	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = db_query(db, &res,
	    "UPDATE messages SET transcript = $3, updated_at = now()"
	    " WHERE org_id = $1 AND id = $2 AND direction = 'in'"
	    "   AND transcript = ''"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(message_id), DB_TEXT(transcript), DB_END);
	if (st == DB_OK)
		*stored = res.n_rows == 1;
	db_res_clear(&res);
	/* Searchable with its words at once (chat/search.h). */
	if (st == DB_OK && *stored)
		st = search_reindex_message(db, org_id, message_id);
	return db_tx_leave(db, own, st);
}

enum db_status
chat_media_latest(struct db *db, int64_t org_id, int64_t chat_id,
    int64_t *id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*id = 0;
	st = db_query(db, &res,
	    "SELECT id FROM messages"
	    " WHERE org_id = $1 AND chat_id = $2 AND direction = 'in'"
	    "   AND media <> '[]'::jsonb"
	    " ORDER BY id DESC LIMIT 1",
	    DB_I64(org_id), DB_I64(chat_id), DB_END);
	if (st == DB_OK && res.n_rows == 1)
		*id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}
