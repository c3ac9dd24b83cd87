/*
 * outbox: outbound messages (see outbox.h); every statement names
 * org_id = $1.
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
#include "chat/outbox.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "chat/rows.h"
#include "util/arena.h"

static enum db_status	 read_parts(struct db *, struct arena *, int64_t,
			    int64_t, struct out_part **, int *);
static int		 status_rank(const char *);

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
		p[i].body = chat_col(a, &res, i, 2);
		p[i].status = chat_col(a, &res, i, 3);
		p[i].provider_message_id = chat_col_null(a, &res, i, 4);
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
