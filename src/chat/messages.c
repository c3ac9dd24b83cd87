/*
 * messages: reading messages, transcripts and notes (see messages.h);
 * every statement names org_id = $1.
 *
 * Thread-safe: no shared state.
 */
#include "chat/messages.h"

#include <stdio.h>
#include <string.h>

#include "chat/rows.h"
#include "util/arena.h"

static enum db_status	 read_messages(struct arena *, const struct db_res *,
			    struct chat_message **, int *);
static enum db_status	 note_insert(struct db *, int64_t, int64_t, int64_t,
			    const char *);

enum db_status
chat_reply_subject(struct db *db, struct arena *a, int64_t org_id,
    int64_t message_id, struct reply_subject *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    "SELECT m.id, m.channel_id, ch.kind, c.id, c.kind, c.external_id,"
	    "       c.display_name,"
	    "       COALESCE(c.agent_id, ch.default_agent_id, 0),"
	    "       m.sender, m.sender_name, m.body,"
	    "       COALESCE(m.provider_message_id, ''),"
	    "       COALESCE(m.thread_id, 0), m.created_at, m.media::text,"
	    "       m.transcript,"
	    "       COALESCE(m.sender_user_id, CASE WHEN c.kind = 'dm'"
	    "           THEN c.contact_user_id END, ''),"
	    "       COALESCE(m.sender_username, CASE WHEN c.kind = 'dm'"
	    "           THEN c.contact_username END, ''),"
	    "       CASE WHEN c.kind = 'dm' THEN COALESCE(c.contact_phone, '')"
	    "            ELSE '' END,"
	    "       CASE WHEN c.kind = 'dm'"
	    "            THEN COALESCE(c.contact_parent_user_id, '')"
	    "            ELSE '' END,"
	    "       CASE WHEN c.kind = 'group' THEN c.external_id"
	    "            ELSE COALESCE(c.contact_phone, c.contact_user_id,"
	    "                          c.external_id) END"
	    "  FROM messages m"
	    "  JOIN chats c ON c.org_id = m.org_id AND c.id = m.chat_id"
	    "  JOIN channels ch ON ch.org_id = m.org_id AND ch.id = m.channel_id"
	    " WHERE m.org_id = $1 AND m.id = $2 AND m.direction = 'in'",
	    DB_I64(org_id), DB_I64(message_id), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows != 1) {
		st = DB_NOT_FOUND;
		goto out;
	}
	out->message_id = db_res_i64(&res, 0, 0);
	out->org_id = org_id;
	out->channel_id = db_res_i64(&res, 0, 1);
	out->channel_kind = chat_col(a, &res, 0, 2);
	out->chat_id = db_res_i64(&res, 0, 3);
	out->chat_kind = chat_col(a, &res, 0, 4);
	out->chat_external_id = chat_col(a, &res, 0, 5);
	out->chat_display_name = chat_col(a, &res, 0, 6);
	out->agent_id = db_res_i64(&res, 0, 7);
	out->sender = chat_col(a, &res, 0, 8);
	out->sender_name = chat_col(a, &res, 0, 9);
	out->body = chat_col(a, &res, 0, 10);
	out->provider_message_id = chat_col(a, &res, 0, 11);
	out->thread_id = db_res_i64(&res, 0, 12);
	out->received_at = chat_col(a, &res, 0, 13);
	out->media = chat_col(a, &res, 0, 14);
	out->transcript = chat_col(a, &res, 0, 15);
	out->from.user_id = chat_col(a, &res, 0, 16);
	out->from.username = chat_col(a, &res, 0, 17);
	out->from.parent_user_id = chat_col(a, &res, 0, 19);
	out->address = chat_col(a, &res, 0, 20);
	/* The message's own phone first (a group's member, or the DM
	 * contact as it wrote), else the chat's; a bare id in sender (rows
	 * from before 2026) is the user id. */
	out->from.phone = out->sender[0] == '+' ? out->sender :
	    chat_col(a, &res, 0, 18);
	contact_ident_fill(&out->from, out->sender);
out:
	db_res_clear(&res);
	return st;
}

/* Columns: id, direction, sender, sender_name, body, status, error_code,
 * error_text, provider_message_id, reply_to_id, part_no, created_at. */
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
	    "                 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
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
	    "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
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

enum db_status
chat_message_set_transcript(struct db *db, int64_t org_id,
    int64_t message_id, const char *transcript, bool *stored)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*stored = false;
	st = db_query(db, &res,
	    "UPDATE messages SET transcript = $3, updated_at = now()"
	    " WHERE org_id = $1 AND id = $2 AND direction = 'in'"
	    "   AND transcript = ''"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(message_id), DB_TEXT(transcript), DB_END);
	if (st == DB_OK)
		*stored = res.n_rows == 1;
	db_res_clear(&res);
	return st;
}
