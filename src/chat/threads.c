/*
 * threads: chats, threads and messages (see threads.h). Owns tables
 * `chats`, `threads` and `messages`; every statement names org_id = $1.
 *
 * DESIGN. Ingest is one statement of CTEs (chat upsert → message insert
 * → job + NOTIFY), so a webhook's transaction holds the fewest round trips
 * and a replay writes nothing: the chat upsert is skipped when the
 * provider id is already stored (the snapshot check), and a concurrent
 * duplicate that slips past it is stopped by the unique index with
 * ON CONFLICT DO NOTHING, which also suppresses the job (it is only made
 * from the RETURNING of the message insert).
 *
 * Outbound parts move queued → sending → sent|failed; every transition
 * names the state it leaves, so a transition that finds the row elsewhere
 * changes nothing and reports DB_NOT_FOUND. Provider status callbacks only
 * move forward (queued < sending < sent < delivered < read); "failed" is
 * accepted from every state but read (a message the recipient read was
 * delivered, whatever a late failure says) and failed itself.
 *
 * Thread-safe: no shared state.
 */
#include "chat/threads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "chat/ingest.h"

#define HISTORY_LIMIT_MAX	200
#define THREAD_OPEN_TRIES	3

static char		*dup_col(struct arena *, const struct db_res *, int,
			    int);
static char		*dup_null(struct arena *, const struct db_res *, int,
			    int);
static enum db_status	 read_parts(struct db *, struct arena *, int64_t,
			    int64_t, struct out_part **, int *);
static enum db_status	 read_messages(struct arena *, const struct db_res *,
			    struct chat_message **, int *);
static int		 status_rank(const char *);
static enum db_status	 note_insert(struct db *, int64_t, int64_t, int64_t,
			    const char *);

static char *
dup_col(struct arena *a, const struct db_res *res, int row, int col)
{
	return arena_strdup(a, db_res_text(res, row, col));
}

static char *
dup_null(struct arena *a, const struct db_res *res, int row, int col)
{
	if (db_res_isnull(res, row, col))
		return NULL;
	return arena_strdup(a, db_res_text(res, row, col));
}

enum db_status
chat_ingest(struct db *db, int64_t org_id, int64_t channel_id,
    const struct inbound *in, bool auto_answer, int64_t *message_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	char		*media = NULL;
	const char	*display;

	*message_id = 0;
	if (in->media != NULL)
		media = cJSON_PrintUnformatted(in->media);
	display = in->is_group ? in->group_name : in->sender_name;

	/*
	 * $1 org, $2 channel, $3 provider id, $4 chat key, $5 kind,
	 * $6 display name, $7 sender, $8 sender name, $9 body, $10 media,
	 * $11 provider time (0: none), $12 auto_answer, $13 transcript.
	 */
	st = db_query(db, &res,
	    "WITH chat AS ("
	    "  INSERT INTO chats AS c (org_id, channel_id, kind, external_id,"
	    "         display_name, last_message_at, last_inbound_at)"
	    "  SELECT $1, ch.id, $5, $4, $6, now(), now()"
	    "    FROM channels ch"
	    "   WHERE ch.org_id = $1 AND ch.id = $2"
	    "     AND NOT EXISTS (SELECT 1 FROM messages"
	    "          WHERE channel_id = $2 AND provider_message_id = $3)"
	    "  ON CONFLICT (channel_id, external_id) DO UPDATE"
	    "     SET display_name = CASE WHEN EXCLUDED.display_name <> ''"
	    "             THEN EXCLUDED.display_name ELSE c.display_name END,"
	    "         last_message_at = now(), last_inbound_at = now()"
	    "   WHERE c.org_id = $1"
	    "  RETURNING c.id"
	    "), msg AS ("
	    "  INSERT INTO messages (org_id, channel_id, chat_id, thread_id,"
	    "         direction, provider_message_id, sender, sender_name,"
	    "         body, media, provider_ts, status, transcript)"
	    "  SELECT $1, $2, chat.id,"
	    "         (SELECT t.id FROM threads t WHERE t.org_id = $1"
	    "             AND t.chat_id = chat.id AND t.closed_at IS NULL),"
	    "         'in', $3, $7, $8, $9, COALESCE($10::jsonb, '[]'),"
	    "         CASE WHEN $11::bigint > 0"
	    "              THEN to_timestamp($11::bigint) END,"
	    "         'received', $13"
	    "    FROM chat"
	    "  ON CONFLICT (channel_id, provider_message_id)"
	    "     WHERE provider_message_id IS NOT NULL DO NOTHING"
	    "  RETURNING id"
	    "), job AS ("
	    "  SELECT enqueue_job($1, 'reply',"
	    "         jsonb_build_object('message_id', msg.id)) AS id,"
	    "         pg_notify('parley_jobs', '')"
	    "    FROM msg WHERE $12::boolean"
	    ")"
	    " SELECT msg.id, (SELECT count(*) FROM job) FROM msg",
	    DB_I64(org_id), DB_I64(channel_id),
	    DB_TEXT(in->provider_message_id), DB_TEXT(in->chat_external_id),
	    DB_TEXT(in->is_group ? "group" : "dm"),
	    DB_TEXT(display != NULL ? display : ""),
	    DB_TEXT(in->sender != NULL ? in->sender : ""),
	    DB_TEXT(in->sender_name != NULL ? in->sender_name : ""),
	    DB_TEXT(in->body != NULL ? in->body : ""), DB_TEXT(media),
	    DB_I64(in->timestamp), DB_BOOL(auto_answer),
	    DB_TEXT(in->transcript != NULL ? in->transcript : ""), DB_END);
	if (st == DB_OK && res.n_rows == 1)
		*message_id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	free(media);
	return st;
}

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
	    "       m.transcript"
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
	out->channel_kind = dup_col(a, &res, 0, 2);
	out->chat_id = db_res_i64(&res, 0, 3);
	out->chat_kind = dup_col(a, &res, 0, 4);
	out->chat_external_id = dup_col(a, &res, 0, 5);
	out->chat_display_name = dup_col(a, &res, 0, 6);
	out->agent_id = db_res_i64(&res, 0, 7);
	out->sender = dup_col(a, &res, 0, 8);
	out->sender_name = dup_col(a, &res, 0, 9);
	out->body = dup_col(a, &res, 0, 10);
	out->provider_message_id = dup_col(a, &res, 0, 11);
	out->thread_id = db_res_i64(&res, 0, 12);
	out->received_at = dup_col(a, &res, 0, 13);
	out->media = dup_col(a, &res, 0, 14);
	out->transcript = dup_col(a, &res, 0, 15);
out:
	db_res_clear(&res);
	return st;
}

/*
 * Not one statement: closing a thread and opening its successor in one
 * statement would trip the open-thread unique index. Without a
 * transaction, a concurrent opener for the same chat makes our insert a
 * no-op (ON CONFLICT DO NOTHING) and the next round adopts its thread.
 */
enum db_status
chat_thread_for(struct db *db, int64_t org_id, int64_t chat_id,
    int64_t agent_id, int64_t message_id, int64_t *thread_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st = DB_CONFLICT;
	int64_t		 open_id, open_agent;

	*thread_id = 0;
	for (int i = 0; i < THREAD_OPEN_TRIES && *thread_id == 0; i++) {
		st = db_query(db, &res,
		    "SELECT id, COALESCE(agent_id, 0)"
		    "  FROM threads"
		    " WHERE org_id = $1 AND chat_id = $2 AND closed_at IS NULL",
		    DB_I64(org_id), DB_I64(chat_id), DB_END);
		if (st != DB_OK)
			goto out;
		open_id = res.n_rows == 1 ? db_res_i64(&res, 0, 0) : 0;
		open_agent = res.n_rows == 1 ? db_res_i64(&res, 0, 1) : 0;
		db_res_clear(&res);
		if (open_id != 0 && open_agent == agent_id) {
			*thread_id = open_id;
			break;
		}
		if (open_id != 0) {
			st = db_exec(db,
			    "UPDATE threads"
			    "   SET closed_at = now(), close_reason = 'agent'"
			    " WHERE org_id = $1 AND id = $2"
			    "   AND closed_at IS NULL",
			    DB_I64(org_id), DB_I64(open_id), DB_END);
			if (st != DB_OK)
				goto out;
		}
		st = db_query(db, &res,
		    "INSERT INTO threads (org_id, chat_id, agent_id)"
		    " SELECT $1, c.id, NULLIF($3::bigint, 0)"
		    "   FROM chats c WHERE c.org_id = $1 AND c.id = $2"
		    " ON CONFLICT (chat_id) WHERE closed_at IS NULL DO NOTHING"
		    " RETURNING id",
		    DB_I64(org_id), DB_I64(chat_id), DB_I64(agent_id), DB_END);
		if (st != DB_OK)
			goto out;
		if (res.n_rows == 1)
			*thread_id = db_res_i64(&res, 0, 0);
		db_res_clear(&res);
	}
	if (*thread_id == 0) {
		st = st == DB_OK ? DB_CONFLICT : st;
		goto out;
	}
	if (message_id != 0)
		st = db_exec(db,
		    "UPDATE messages SET thread_id = $3"
		    " WHERE org_id = $1 AND id = $2"
		    "   AND thread_id IS DISTINCT FROM $3",
		    DB_I64(org_id), DB_I64(message_id), DB_I64(*thread_id),
		    DB_END);
	else
		st = DB_OK;
out:
	db_res_clear(&res);
	return st;
}

/*
 * Inbound messages are users, their transcript joined to the body the way
 * chat_user_text() does; sent parts of one reply join into one assistant
 * message (the split trimmed white space at each cut, so a line break
 * stands in for it). Parley's notes (sender 'system') are for people
 * reviewing the chat, not for the model, and are left out. A reply sorts by its first part, so it follows
 * the message it answers even when a newer inbound message got in first;
 * replies to this message and newer inbound messages are left out.
 */
enum db_status
chat_thread_history(struct db *db, int64_t org_id, int64_t thread_id,
    int64_t before_message_id, int limit, cJSON **messages)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	cJSON		*arr, *m;

	*messages = NULL;
	if (limit < 0)
		limit = 0;
	if (limit > HISTORY_LIMIT_MAX)
		limit = HISTORY_LIMIT_MAX;
	st = db_query(db, &res,
	    "WITH m AS ("
	    "  SELECT m.id, m.direction,"
	    "         CASE WHEN m.transcript = '' THEN m.body"
	    "              WHEN m.body IN ('', m.transcript)"
	    "              THEN m.transcript"
	    "              ELSE m.body || E'\\n[voice note] ' || m.transcript"
	    "         END AS body,"
	    "         m.sender, m.sender_name,"
	    "         m.reply_to_id, m.part_no, c.kind AS chat_kind"
	    "    FROM messages m"
	    "    JOIN chats c ON c.org_id = m.org_id AND c.id = m.chat_id"
	    "   WHERE m.org_id = $1 AND m.thread_id = $2"
	    "     AND ((m.direction = 'in' AND m.id < $3)"
	    "       OR (m.direction = 'out'"
	    "           AND m.status IN ('sent', 'delivered', 'read')"
	    "           AND m.sender <> 'system'"
	    "           AND COALESCE(m.reply_to_id, m.id) < $3))"
	    "), g AS ("
	    "  SELECT id, 'user' AS role,"
	    "         CASE WHEN chat_kind = 'group'"
	    "              THEN COALESCE(NULLIF(sender_name, ''),"
	    "                   NULLIF(sender, ''), 'Someone') || ': ' || body"
	    "              ELSE body END AS content"
	    "    FROM m WHERE direction = 'in'"
	    "  UNION ALL"
	    "  SELECT min(id), 'assistant',"
	    "         string_agg(body, E'\\n' ORDER BY part_no)"
	    "    FROM m WHERE direction = 'out'"
	    "   GROUP BY COALESCE(reply_to_id, -id)"
	    ")"
	    " SELECT role, content FROM ("
	    "   SELECT id, role, content FROM g ORDER BY id DESC LIMIT $4"
	    " ) t ORDER BY id",
	    DB_I64(org_id), DB_I64(thread_id), DB_I64(before_message_id),
	    DB_I64(limit), DB_END);
	if (st != DB_OK)
		goto out;
	arr = cJSON_CreateArray();
	for (int i = 0; i < res.n_rows; i++) {
		m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "role", db_res_text(&res, i, 0));
		cJSON_AddStringToObject(m, "content", db_res_text(&res, i, 1));
		cJSON_AddItemToArray(arr, m);
	}
	*messages = arr;
out:
	db_res_clear(&res);
	return st;
}

static enum db_status
read_parts(struct db *db, struct arena *a, int64_t org_id,
    int64_t reply_to_id, struct out_part **out, int *n_out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	struct out_part	*p;

	*out = NULL;
	*n_out = 0;
	st = db_query(db, &res,
	    "SELECT id, part_no, body, status, provider_message_id, attempts"
	    "  FROM messages"
	    " WHERE org_id = $1 AND reply_to_id = $2 AND direction = 'out'"
	    " ORDER BY part_no",
	    DB_I64(org_id), DB_I64(reply_to_id), DB_END);
	if (st != DB_OK)
		goto out;
	p = arena_alloc(a, sizeof(*p) * (size_t)(res.n_rows + 1));
	for (int i = 0; i < res.n_rows; i++) {
		p[i].id = db_res_i64(&res, i, 0);
		p[i].part_no = (int)db_res_i64(&res, i, 1);
		p[i].body = dup_col(a, &res, i, 2);
		p[i].status = dup_col(a, &res, i, 3);
		p[i].provider_message_id = dup_null(a, &res, i, 4);
		p[i].attempts = (int)db_res_i64(&res, i, 5);
	}
	*out = p;
	*n_out = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
chat_outbox_record(struct db *db, struct arena *a, int64_t org_id,
    int64_t reply_to_id, int64_t thread_id, int64_t llm_call_id,
    const char *const *texts, int n, struct out_part **out, int *n_out)
{
	cJSON		*arr;
	char		*json;
	enum db_status	 st;

	*out = NULL;
	*n_out = 0;
	arr = cJSON_CreateArray();
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(texts[i]));
	json = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	if (json == NULL)
		abort();
	st = db_exec(db,
	    "INSERT INTO messages (org_id, channel_id, chat_id, thread_id,"
	    "       direction, body, status, reply_to_id, part_no, parts,"
	    "       llm_call_id)"
	    " SELECT $1, m.channel_id, m.chat_id, NULLIF($3::bigint, 0), 'out',"
	    "       t.body, 'queued', m.id, (t.ord - 1)::integer,"
	    "       jsonb_array_length($5::jsonb), NULLIF($4::bigint, 0)"
	    "   FROM messages m,"
	    "        jsonb_array_elements_text($5::jsonb)"
	    "            WITH ORDINALITY AS t(body, ord)"
	    "  WHERE m.org_id = $1 AND m.id = $2 AND m.direction = 'in'"
	    " ON CONFLICT (reply_to_id, part_no)"
	    "    WHERE direction = 'out' AND reply_to_id IS NOT NULL"
	    "    DO NOTHING",
	    DB_I64(org_id), DB_I64(reply_to_id), DB_I64(thread_id),
	    DB_I64(llm_call_id), DB_TEXT(json), DB_END);
	free(json);
	if (st != DB_OK)
		return st;
	st = db_exec(db,
	    "UPDATE chats SET last_message_at = now()"
	    " WHERE org_id = $1"
	    "   AND id = (SELECT chat_id FROM messages"
	    "              WHERE org_id = $1 AND id = $2)",
	    DB_I64(org_id), DB_I64(reply_to_id), DB_END);
	if (st != DB_OK)
		return st;
	return read_parts(db, a, org_id, reply_to_id, out, n_out);
}

enum db_status
chat_outbox_parts(struct db *db, struct arena *a, int64_t org_id,
    int64_t reply_to_id, struct out_part **out, int *n_out)
{
	return read_parts(db, a, org_id, reply_to_id, out, n_out);
}

enum db_status
chat_outbox_sending(struct db *db, int64_t org_id, int64_t id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE messages"
	    "   SET status = 'sending', attempts = attempts + 1,"
	    "       updated_at = now()"
	    " WHERE org_id = $1 AND id = $2 AND direction = 'out'"
	    "   AND status = 'queued'"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

enum db_status
chat_outbox_sent(struct db *db, int64_t org_id, int64_t id,
    const char *provider_message_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE messages"
	    "   SET status = 'sent', provider_message_id = $3,"
	    "       error_code = NULL, error_text = NULL, updated_at = now()"
	    " WHERE org_id = $1 AND id = $2 AND direction = 'out'"
	    "   AND status = 'sending'"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(id), DB_TEXT(provider_message_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

enum db_status
chat_outbox_requeue(struct db *db, int64_t org_id, int64_t id,
    const char *error_text)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE messages"
	    "   SET status = 'queued', error_text = NULLIF($3, ''),"
	    "       updated_at = now()"
	    " WHERE org_id = $1 AND id = $2 AND direction = 'out'"
	    "   AND status = 'sending'"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(id),
	    DB_TEXT(error_text != NULL ? error_text : ""), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

enum db_status
chat_outbox_failed(struct db *db, int64_t org_id, int64_t id,
    const char *code, const char *text)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE messages"
	    "   SET status = 'failed', error_code = NULLIF($3, ''),"
	    "       error_text = NULLIF($4, ''), updated_at = now()"
	    " WHERE org_id = $1 AND id = $2 AND direction = 'out'"
	    "   AND status IN ('queued', 'sending')"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(id), DB_TEXT(code != NULL ? code : ""),
	    DB_TEXT(text != NULL ? text : ""), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

static int
status_rank(const char *s)
{
	static const char *const order[] = {
		"queued", "sending", "sent", "delivered", "read",
	};

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (strcmp(s, order[i]) == 0)
			return (int)i;
	return -1;
}

enum db_status
chat_status_update(struct db *db, int64_t org_id, int64_t channel_id,
    const char *provider_message_id, const char *status,
    const char *error_code, const char *error_text)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	if (provider_message_id == NULL || provider_message_id[0] == '\0')
		return DB_NOT_FOUND;
	if (strcmp(status, "failed") != 0 && status_rank(status) < 2)
		return DB_INVALID;
	/*
	 * The rank lives in SQL too (array_position) so the comparison is
	 * made against the row as it is now, not as we last read it.
	 */
	st = db_query(db, &res,
	    "WITH m AS ("
	    "  SELECT id FROM messages"
	    "   WHERE org_id = $1 AND channel_id = $2"
	    "     AND provider_message_id = $3 AND direction = 'out'"
	    "), u AS ("
	    "  UPDATE messages SET status = $4,"
	    "         error_code = CASE WHEN $4 = 'failed'"
	    "             THEN NULLIF($5, '') ELSE error_code END,"
	    "         error_text = CASE WHEN $4 = 'failed'"
	    "             THEN NULLIF($6, '') ELSE error_text END,"
	    "         updated_at = now()"
	    "   WHERE org_id = $1 AND id IN (SELECT id FROM m)"
	    "     AND CASE WHEN $4 = 'failed'"
	    "              THEN status NOT IN ('read', 'failed')"
	    "              ELSE array_position(ARRAY['queued', 'sending',"
	    "                   'sent', 'delivered', 'read'], $4) >"
	    "                   COALESCE(array_position(ARRAY['queued',"
	    "                   'sending', 'sent', 'delivered', 'read'],"
	    "                   status), 99) END"
	    "  RETURNING id"
	    ")"
	    " SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM u)",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(provider_message_id),
	    DB_TEXT(status), DB_TEXT(error_code != NULL ? error_code : ""),
	    DB_TEXT(error_text != NULL ? error_text : ""), DB_END);
	if (st == DB_OK && db_res_i64(&res, 0, 0) == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

/* --- the sandbox, the panel and the WhatsApp plugins --- */

enum db_status
chat_link_agent(struct db *db, int64_t org_id, int64_t channel_id,
    const char *external_id, bool is_group, const char *display_name,
    int64_t agent_id, int64_t *chat_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*chat_id = 0;
	st = db_query(db, &res,
	    "INSERT INTO chats AS c (org_id, channel_id, kind, external_id,"
	    "       display_name, agent_id)"
	    " SELECT $1, ch.id, $4, $3, $5, NULLIF($6::bigint, 0)"
	    "   FROM channels ch WHERE ch.org_id = $1 AND ch.id = $2"
	    " ON CONFLICT (channel_id, external_id) DO UPDATE"
	    "    SET agent_id = EXCLUDED.agent_id,"
	    "        display_name = CASE WHEN EXCLUDED.display_name <> ''"
	    "            THEN EXCLUDED.display_name ELSE c.display_name END"
	    "  WHERE c.org_id = $1"
	    " RETURNING c.id",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(external_id),
	    DB_TEXT(is_group ? "group" : "dm"),
	    DB_TEXT(display_name != NULL ? display_name : ""),
	    DB_I64(agent_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		*chat_id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
chat_find(struct db *db, int64_t org_id, int64_t channel_id,
    const char *external_id, int64_t *chat_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*chat_id = 0;
	st = db_query(db, &res,
	    "SELECT id FROM chats"
	    " WHERE org_id = $1 AND channel_id = $2 AND external_id = $3",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(external_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		*chat_id = db_res_i64(&res, 0, 0);
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
		m[i].direction = dup_col(a, res, i, 1);
		m[i].sender = dup_col(a, res, i, 2);
		m[i].sender_name = dup_col(a, res, i, 3);
		m[i].body = dup_col(a, res, i, 4);
		m[i].status = dup_col(a, res, i, 5);
		m[i].error_code = dup_null(a, res, i, 6);
		m[i].error_text = dup_null(a, res, i, 7);
		m[i].provider_message_id = dup_null(a, res, i, 8);
		m[i].reply_to_id = db_res_isnull(res, i, 9) ? 0 :
		    db_res_i64(res, i, 9);
		m[i].part_no = (int)db_res_i64(res, i, 10);
		m[i].created_at = dup_col(a, res, i, 11);
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

enum db_status
chat_outbound_new(struct db *db, int64_t org_id, int64_t channel_id,
    const char *external_id, int64_t thread_id, const char *body,
    int64_t *chat_id, int64_t *message_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*chat_id = 0;
	*message_id = 0;
	st = db_query(db, &res,
	    "WITH chat AS ("
	    "  INSERT INTO chats AS c (org_id, channel_id, kind, external_id)"
	    "  SELECT $1, ch.id, 'dm', $3"
	    "    FROM channels ch WHERE ch.org_id = $1 AND ch.id = $2"
	    "  ON CONFLICT (channel_id, external_id) DO UPDATE"
	    "     SET last_message_at = now()"
	    "   WHERE c.org_id = $1"
	    "  RETURNING c.id"
	    ")"
	    " INSERT INTO messages (org_id, channel_id, chat_id, thread_id,"
	    "        direction, body, status)"
	    " SELECT $1, $2, chat.id,"
	    "        (SELECT t.id FROM threads t"
	    "          WHERE t.org_id = $1 AND t.id = $4"
	    "            AND t.chat_id = chat.id),"
	    "        'out', $5, 'queued'"
	    "   FROM chat"
	    " RETURNING chat_id, id",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(external_id),
	    DB_I64(thread_id), DB_TEXT(body), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK) {
		*chat_id = db_res_i64(&res, 0, 0);
		*message_id = db_res_i64(&res, 0, 1);
	}
	db_res_clear(&res);
	return st;
}

enum db_status
chat_get_ref(struct db *db, struct arena *a, int64_t org_id,
    int64_t chat_id, struct chat_ref *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    "SELECT c.id, c.channel_id, ch.kind, c.kind, c.external_id,"
	    "       c.display_name, COALESCE(c.agent_id, 0),"
	    "       COALESCE((SELECT t.id FROM threads t"
	    "                  WHERE t.org_id = $1 AND t.chat_id = c.id"
	    "                    AND t.closed_at IS NULL), 0)"
	    "  FROM chats c"
	    "  JOIN channels ch ON ch.org_id = c.org_id AND ch.id = c.channel_id"
	    " WHERE c.org_id = $1 AND c.id = $2",
	    DB_I64(org_id), DB_I64(chat_id), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows == 0) {
		st = DB_NOT_FOUND;
		goto out;
	}
	out->id = db_res_i64(&res, 0, 0);
	out->channel_id = db_res_i64(&res, 0, 1);
	out->channel_kind = dup_col(a, &res, 0, 2);
	out->kind = dup_col(a, &res, 0, 3);
	out->external_id = dup_col(a, &res, 0, 4);
	out->display_name = dup_col(a, &res, 0, 5);
	out->agent_id = db_res_i64(&res, 0, 6);
	out->thread_id = db_res_i64(&res, 0, 7);
out:
	db_res_clear(&res);
	return st;
}

/* ---- Added for connect codes (issue 5, connect engineer). ------------- */

/*
 * The old link is read in the UPDATE itself (a self-join on the locked
 * row), so two links racing for one chat each see the other's result.
 */
enum db_status
chat_set_link(struct db *db, int64_t org_id, int64_t chat_id,
    int64_t agent_id, int64_t code_id, int64_t *old_agent_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	if (old_agent_id != NULL)
		*old_agent_id = 0;
	st = db_query(db, &res,
	    "UPDATE chats c"
	    "   SET agent_id = NULLIF($3::bigint, 0),"
	    "       linked_at = CASE WHEN $3::bigint > 0 THEN now() END,"
	    "       linked_code_id = NULLIF($4::bigint, 0)"
	    "  FROM (SELECT id, agent_id FROM chats"
	    "         WHERE org_id = $1 AND id = $2 FOR UPDATE) old"
	    " WHERE c.org_id = $1 AND c.id = old.id"
	    " RETURNING COALESCE(old.agent_id, 0)",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(agent_id), DB_I64(code_id),
	    DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK && old_agent_id != NULL)
		*old_agent_id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	if (st != DB_OK)
		return st;
	return db_exec(db,
	    "UPDATE threads"
	    "   SET closed_at = now(), close_reason = 'agent'"
	    " WHERE org_id = $1 AND chat_id = $2 AND closed_at IS NULL"
	    "   AND agent_id IS DISTINCT FROM NULLIF($3::bigint, 0)",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(agent_id), DB_END);
}

/* --- issue 5: busy threads and /reset (worker/reply.c) --------------- */

enum db_status
chat_thread_take(struct db *db, int64_t org_id, int64_t thread_id,
    int64_t job_id, int lease_s, bool *taken)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*taken = false;
	st = db_query(db, &res,
	    "UPDATE threads"
	    "   SET busy_job = $3,"
	    "       busy_until = now() + make_interval(secs => $4::integer)"
	    " WHERE org_id = $1 AND id = $2"
	    "   AND (busy_until IS NULL OR busy_until < now()"
	    "        OR busy_job = $3)"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(thread_id), DB_I64(job_id),
	    DB_I64(lease_s), DB_END);
	if (st == DB_OK)
		*taken = res.n_rows == 1;
	db_res_clear(&res);
	return st;
}

enum db_status
chat_thread_release(struct db *db, int64_t org_id, int64_t thread_id,
    int64_t job_id)
{
	return db_exec(db,
	    "UPDATE threads SET busy_job = NULL, busy_until = NULL"
	    " WHERE org_id = $1 AND id = $2 AND busy_job = $3",
	    DB_I64(org_id), DB_I64(thread_id), DB_I64(job_id), DB_END);
}

/*
 * Two statements, like chat_thread_for: a concurrent opener between them
 * makes our insert a no-op, and its thread is the new one.
 */
enum db_status
chat_thread_reset(struct db *db, int64_t org_id, int64_t chat_id,
    int64_t agent_id, int64_t *old_thread_id, int64_t *new_thread_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*old_thread_id = 0;
	*new_thread_id = 0;
	st = db_query(db, &res,
	    "UPDATE threads"
	    "   SET closed_at = now(), close_reason = 'reset',"
	    "       busy_job = NULL, busy_until = NULL"
	    " WHERE org_id = $1 AND chat_id = $2 AND closed_at IS NULL"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(chat_id), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows == 1)
		*old_thread_id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	st = chat_thread_for(db, org_id, chat_id, agent_id, 0, new_thread_id);
out:
	db_res_clear(&res);
	return st;
}

/* --- issue 6: handoff and sessions ------------------------------------- */

enum db_status
chat_outbox_record_sender(struct db *db, struct arena *a, int64_t org_id,
    int64_t reply_to_id, int64_t thread_id, const char *sender,
    const char *const *texts, int n, struct out_part **out, int *n_out)
{
	enum db_status	 st;

	st = chat_outbox_record(db, a, org_id, reply_to_id, thread_id, 0,
	    texts, n, out, n_out);
	if (st != DB_OK)
		return st;
	/*
	 * A second statement: a crash between the two leaves parts with no
	 * sender, which the gate then refuses while a person has the chat:
	 * the handoff text is lost rather than anything sent wrongly.
	 */
	st = db_exec(db,
	    "UPDATE messages SET sender = $3"
	    " WHERE org_id = $1 AND reply_to_id = $2 AND direction = 'out'"
	    "   AND sender <> $3",
	    DB_I64(org_id), DB_I64(reply_to_id), DB_TEXT(sender), DB_END);
	return st;
}

enum db_status
chat_outbox_sending_gated(struct db *db, int64_t org_id, int64_t id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	/* The chat's status is read by the statement that takes the part. */
	st = db_query(db, &res,
	    "UPDATE messages m"
	    "   SET status = 'sending', attempts = m.attempts + 1,"
	    "       updated_at = now()"
	    "  FROM chats c"
	    " WHERE m.org_id = $1 AND m.id = $2 AND m.direction = 'out'"
	    "   AND m.status = 'queued'"
	    "   AND c.org_id = $1 AND c.id = m.chat_id"
	    "   AND CASE WHEN m.sender = 'handoff'"
	    "            THEN c.status IN ('needs_human', 'human')"
	    "            ELSE c.status = 'ai' END"
	    " RETURNING m.id",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st != DB_OK || res.n_rows == 1)
		goto out;
	db_res_clear(&res);
	st = db_query(db, &res,
	    "SELECT 1 FROM messages"
	    " WHERE org_id = $1 AND id = $2 AND direction = 'out'"
	    "   AND status = 'queued'",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK)
		st = res.n_rows == 1 ? DB_CONFLICT : DB_NOT_FOUND;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
chat_thread_close(struct db *db, int64_t org_id, int64_t chat_id,
    const char *close_reason)
{
	return db_exec(db,
	    "UPDATE threads"
	    "   SET closed_at = now(), close_reason = $3,"
	    "       busy_job = NULL, busy_until = NULL"
	    " WHERE org_id = $1 AND chat_id = $2 AND closed_at IS NULL",
	    DB_I64(org_id), DB_I64(chat_id), DB_TEXT(close_reason), DB_END);
}

enum db_status
chat_thread_expire(struct db *db, int64_t org_id, int64_t chat_id,
    int64_t message_id, bool *expired)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*expired = false;
	st = db_query(db, &res,
	    "UPDATE threads t"
	    "   SET closed_at = now(), close_reason = 'timeout',"
	    "       busy_job = NULL, busy_until = NULL"
	    "  FROM agents a"
	    " WHERE t.org_id = $1 AND t.chat_id = $2 AND t.closed_at IS NULL"
	    "   AND a.org_id = $1 AND a.id = t.agent_id"
	    "   AND COALESCE((SELECT max(m.created_at) FROM messages m"
	    "                  WHERE m.org_id = $1 AND m.chat_id = $2"
	    "                    AND m.thread_id = t.id AND m.id <> $3),"
	    "                t.started_at)"
	    "       < now() - make_interval(mins => a.session_timeout_minutes)"
	    " RETURNING t.id",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(message_id), DB_END);
	if (st == DB_OK)
		*expired = res.n_rows > 0;
	db_res_clear(&res);
	return st;
}

enum db_status
chat_outbound_human(struct db *db, int64_t org_id, int64_t chat_id,
    int64_t user_id, const char *body, int64_t *message_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*message_id = 0;
	st = db_query(db, &res,
	    "WITH msg AS ("
	    "  INSERT INTO messages (org_id, channel_id, chat_id, thread_id,"
	    "         direction, body, status, author_user_id)"
	    "  SELECT $1, c.channel_id, c.id,"
	    "         (SELECT t.id FROM threads t WHERE t.org_id = $1"
	    "             AND t.chat_id = c.id AND t.closed_at IS NULL),"
	    "         'out', $4, 'queued', $3"
	    "    FROM chats c WHERE c.org_id = $1 AND c.id = $2"
	    "  RETURNING id, chat_id"
	    "), touch AS ("
	    "  UPDATE chats SET last_message_at = now()"
	    "   WHERE org_id = $1 AND id IN (SELECT chat_id FROM msg)"
	    ")"
	    " SELECT id FROM msg",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(user_id), DB_TEXT(body),
	    DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		*message_id = db_res_i64(&res, 0, 0);
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

/* --- issue 6: voice-note transcripts (worker/reply.c) ----------------- */

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

enum db_status
chat_note_add_once(struct db *db, int64_t org_id, int64_t chat_id,
    int64_t after_message_id, const char *body)
{
	enum db_status	 st;

	/* No row is also a note already there: not an error here. */
	st = note_insert(db, org_id, chat_id, after_message_id, body);
	return st == DB_NOT_FOUND ? DB_OK : st;
}
