/*
 * threads: threads of a chat (see threads.h). Owns table `threads`;
 * every statement names org_id = $1.
 *
 * Thread-safe: no shared state.
 */
#include "chat/threads.h"

#include "chat/messages.h"
#include "util/buf.h"

#define HISTORY_LIMIT_MAX	200
#define THREAD_OPEN_TRIES	3

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
 * stands in for it); their media are named as the turn names them
 * (chat_media_labels: "[image]", "[document: a.pdf]"; an earlier image
 * is not shown again, and a document's text is the turn's to add).
 * Parley's notes (sender 'system') are for people reviewing the chat,
 * not for the model, and are left out. A reply sorts by its first part,
 * so it follows the message it answers even when a newer inbound message
 * got in first; replies to this message and newer inbound messages are
 * left out.
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
	    /* A file the business sent (outbox_record_media): named, so
	     * the model knows it went, with its caption. */
	    "         CASE WHEN m.direction = 'out' AND m.media <> '[]'"
	    "              THEN '[sent a file: ' || COALESCE("
	    "                   m.media->0->>'filename',"
	    "                   m.media->0->>'contentType', 'media') || ']'"
	    "                   || CASE WHEN m.body = '' THEN ''"
	    "                      ELSE E'\\n' || m.body END"
	    "              WHEN m.transcript = '' THEN m.body"
	    "              WHEN m.body IN ('', m.transcript)"
	    "              THEN m.transcript"
	    "              ELSE m.body || E'\\n[voice note] ' || m.transcript"
	    "         END AS body,"
	    "         m.sender, m.sender_name,"
	    "         m.reply_to_id, m.part_no, c.kind AS chat_kind,"
	    "         m.media::text AS media, m.transcript <> '' AS spoken"
	    "    FROM messages m"
	    "    JOIN chats c ON c.org_id = m.org_id AND c.id = m.chat_id"
	    "   WHERE m.org_id = $1 AND m.thread_id = $2"
	    "     AND m.kind IN ('message', 'echo')"
	    "     AND ((m.direction = 'in' AND m.id < $3)"
	    "       OR (m.direction = 'out'"
	    "           AND m.status IN ('sent', 'delivered', 'read')"
	    "           AND m.sender NOT IN ('system', 'parley')"
	    "           AND COALESCE(m.reply_to_id, m.id) < $3))"
	    "), g AS ("
	    "  SELECT id, 'user' AS role,"
	    "         CASE WHEN chat_kind = 'group'"
	    "              THEN COALESCE(NULLIF(sender_name, ''),"
	    "                   NULLIF(sender, ''), 'Someone') || ': '"
	    "              ELSE '' END AS prefix,"
	    "         body AS content, media, spoken"
	    "    FROM m WHERE direction = 'in'"
	    "  UNION ALL"
	    "  SELECT min(id), 'assistant', '',"
	    "         string_agg(body, E'\\n' ORDER BY part_no), '[]', false"
	    "    FROM m WHERE direction = 'out'"
	    "   GROUP BY COALESCE(reply_to_id, -id)"
	    ")"
	    " SELECT role, prefix, content, media, spoken FROM ("
	    "   SELECT id, role, prefix, content, media, spoken"
	    "     FROM g ORDER BY id DESC LIMIT $4"
	    " ) t ORDER BY id",
	    DB_I64(org_id), DB_I64(thread_id), DB_I64(before_message_id),
	    DB_I64(limit), DB_END);
	if (st != DB_OK)
		goto out;
	arr = cJSON_CreateArray();
	for (int i = 0; i < res.n_rows; i++) {
		struct buf	 b;

		/* "Name: [image: x.jpg] words": media named, never "". */
		buf_init(&b, 0);
		buf_puts(&b, db_res_text(&res, i, 1));
		chat_media_labels(&b, db_res_text(&res, i, 3),
		    db_res_bool(&res, i, 4));
		buf_puts(&b, db_res_text(&res, i, 2));
		while (b.len > 0 && b.data[b.len - 1] == ' ')
			b.data[--b.len] = '\0';
		m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "role", db_res_text(&res, i, 0));
		cJSON_AddStringToObject(m, "content", buf_str(&b));
		cJSON_AddItemToArray(arr, m);
		buf_cleanup(&b);
	}
	*messages = arr;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
chat_thread_adopt(struct db *db, int64_t org_id, int64_t thread_id,
    const int64_t *ids, int n)
{
	struct buf	 b;
	enum db_status	 st;

	if (n <= 0 || thread_id == 0)
		return DB_OK;
	/*
	 * One message (most turns) by its id: PostgreSQL plans "= ANY" of
	 * an array parameter afresh on every run (its generic plan guesses
	 * ten elements and never looks cheaper), about 0.2 ms a turn.
	 */
	if (n == 1)
		return db_exec(db,
		    "UPDATE messages SET thread_id = $2"
		    " WHERE org_id = $1 AND id = $3"
		    "   AND thread_id IS DISTINCT FROM $2",
		    DB_I64(org_id), DB_I64(thread_id), DB_I64(ids[0]), DB_END);
	buf_init(&b, 0);
	db_array_i64(&b, ids, n);
	st = db_exec(db,
	    "UPDATE messages SET thread_id = $2"
	    " WHERE org_id = $1 AND id = ANY ($3::bigint[])"
	    "   AND thread_id IS DISTINCT FROM $2",
	    DB_I64(org_id), DB_I64(thread_id), DB_TEXT(buf_str(&b)), DB_END);
	buf_cleanup(&b);
	return st;
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
	    "   SET closed_at = now(), close_reason = 'reset'"
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

enum db_status
chat_thread_close(struct db *db, int64_t org_id, int64_t chat_id,
    const char *close_reason)
{
	return db_exec(db,
	    "UPDATE threads"
	    "   SET closed_at = now(), close_reason = $3"
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
	    "   SET closed_at = now(), close_reason = 'timeout'"
	    "  FROM agents a"
	    " WHERE t.org_id = $1 AND t.chat_id = $2 AND t.closed_at IS NULL"
	    "   AND a.org_id = $1 AND a.id = t.agent_id"
	    "   AND COALESCE((SELECT max(m.created_at) FROM messages m"
	    "                  WHERE m.org_id = $1 AND m.chat_id = $2"
	    "                    AND m.thread_id = t.id AND m.id < $3),"
	    "                t.started_at)"
	    "       < now() - make_interval(mins => a.session_timeout_minutes)"
	    " RETURNING t.id",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(message_id), DB_END);
	if (st == DB_OK)
		*expired = res.n_rows > 0;
	db_res_clear(&res);
	return st;
}
