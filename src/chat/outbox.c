/*
 * outbox: outbound messages and the one send sequence (see outbox.h for
 * the states and the sequence).
 *
 * Thread-safe: no shared state.
 */
#include "chat/outbox.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "chat/handoff.h"
#include "chat/media.h"
#include "chat/rows.h"
#include "chat/window.h"
#include "crypto/token.h"
#include "model/media.h"
#include "util/arena.h"
#include "util/context.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"
#include "util/waid.h"

#define STATUS_CALLBACK_PATH	"/webhooks/whatsapp/twilio/status"
/* The mark after a provider call: tries, the first pause, doubling up to
 * the longest (about 10 s in all: a database restart). */
#define MARK_TRIES		8
#define MARK_PAUSE_MS		250
#define MARK_PAUSE_MAX_MS	2000
/* How long an untake waits for the database to come back (a failover). */
#define UNTAKE_WAIT_MS		30000
/* "Try later" without a Retry-After: the send job's first pause. */
#define LATER_MIN_S		5

/* Where a taken row goes. */
struct taken {
	int64_t	 channel_id;
	int64_t	 chat_id;
	char	*body;
	char	*to;
	bool	 is_group;
	bool	 held;		/* taken into 'held', not 'sending' */
	char	*template;	/* the send spec (JSON text), NULL: text */
	char	*media;		/* messages.media (JSON text), NULL: none
				   (outbox_record_media) */
	char	 token[33];	/* this sender's mark on the row it takes */
	bool	 in_doubt;	/* the take failed unseen: it may have
				   committed (untake) */
};

static enum db_status	 read_parts(struct db *, struct arena *, int64_t,
			    int64_t, struct out_part **, int *);
static int		 status_rank(const char *);
static enum db_status	 schedule(const struct app *, struct db *, int64_t,
			    int, struct outbox_new *);
static enum db_status	 single_done(const struct app *, struct db *, bool,
			    int64_t, struct db_res *, enum db_status, int, int,
			    int64_t, struct outbox_new *);
static enum outbox_result hold(struct outbox_send *, int64_t, bool);
static enum send_result	 send_template(struct outbox_send *,
			    const struct outbox_channel *, const struct taken *);
static enum send_result	 send_media(struct outbox_send *,
			    const struct outbox_channel *, const struct taken *);
static enum db_status	 mark_held(struct db *, int64_t, int64_t,
			    const struct send_outcome *, int64_t *);
static enum send_result	 refuse(struct send_outcome *, const char *);
static bool		 take(struct outbox_send *, struct db *,
			    struct taken *, enum outbox_result *);
static enum outbox_result mark(struct outbox_send *, enum send_result,
			    int64_t *,
			    const char *, bool);
static void		 untake(struct outbox_send *, struct db *,
			    const struct taken *);
static enum db_status	 mark_sent(struct db *, int64_t, int64_t,
			    const char *);
static enum db_status	 mark_later(struct outbox_send *, struct db *);
static void		 pause_ms(int);

/* --- the channel ----------------------------------------------------- */

enum db_status
outbox_channel_open(const struct app *app, struct db *db, struct arena *a,
    int64_t org_id, int64_t channel_id, struct outbox_channel *ch)
{
	struct channel	 row;
	enum db_status	 st;

	memset(ch, 0, sizeof(*ch));
	if ((st = channel_get(db, a, org_id, channel_id, &row)) != DB_OK)
		return st;
	if ((ch->ops = channel_ops_for(row.kind)) == NULL)
		return DB_INVALID;
	st = channel_get_secrets(db, app->key, org_id, channel_id,
	    &ch->secrets);
	ch->is_open = true;	/* whatever was opened is wiped at close */
	if (st != DB_OK)
		return st;
	ch->creds.kind = ch->ops->kind;
	if (ch->ops->api_roots != NULL)
		ch->ops->api_roots(&app->cfg, &ch->creds);
	ch->creds.phone_number = row.phone_number;
	ch->creds.phone_number_id = row.phone_number_id;
	ch->creds.account_sid = ch->secrets.twilio_account_sid;
	ch->creds.auth_token = ch->secrets.twilio_auth_token;
	ch->creds.access_token = ch->secrets.meta_access_token;
	ch->creds.api_key = ch->secrets.kapso_api_key;
	/* Never sent: held so provider text can be redacted of them. */
	ch->creds.app_secret = ch->secrets.meta_app_secret;
	ch->creds.verify_token = ch->secrets.meta_verify_token;
	ch->creds.webhook_secret = ch->secrets.kapso_webhook_secret;
	ch->creds.status_callback = arena_printf(a, "%s%s",
	    app->cfg.public_url, STATUS_CALLBACK_PATH);
	return DB_OK;
}

void
outbox_channel_close(struct outbox_channel *ch)
{
	if (ch == NULL || !ch->is_open)
		return;
	channel_secrets_free(&ch->secrets);
	memset(&ch->creds, 0, sizeof(ch->creds));
	ch->is_open = false;
}

/* --- recording --------------------------------------------------------- */

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
		p[i].taken = false;
	}
	*out = p;
	*n_out = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
outbox_record_reply(struct db *db, struct arena *a, int64_t org_id,
    int64_t reply_to_id, int64_t thread_id, int64_t llm_call_id,
    const char *sender, const char *const *texts, int n, bool take_first,
    struct out_part **out, int *n_out)
{
	struct db_res	 res = { 0 };
	cJSON		*arr;
	char		*json;
	enum db_status	 st;
	int64_t		 taken;

	*out = NULL;
	*n_out = 0;
	arr = cJSON_CreateArray();
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(texts[i]));
	json = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	if (json == NULL)
		abort();
	st = db_query(db, &res,
	    "WITH parts AS ("
	    "  INSERT INTO messages (org_id, channel_id, chat_id, thread_id,"
	    "         direction, sender, body, status, reply_to_id, part_no,"
	    "         parts, llm_call_id, attempts)"
	    "  SELECT $1, m.channel_id, m.chat_id, NULLIF($3::bigint, 0),"
	    "         'out', $6, t.body,"
	    /* take_first: part 0 taken as outbox_send's step 1 would, the
	     * chat's status checked the same way (gated). */
	    "         CASE WHEN $7 AND t.ord = 1 AND CASE"
	    "              WHEN $6 = '" HANDOFF_SENDER_TEXT "'"
	    "              THEN c.status IN ('needs_human', 'human')"
	    "              ELSE c.status = 'ai' AND c.owner = 'parley' END"
	    /* …and only while the 24-hour window is open, as take() reads
	     * it: a closed one leaves the part queued for outbox_send,
	     * which holds it (chat/window.h). */
	    "              AND NOT (ch.kind = ANY($8::text[])"
	    "                  AND (c.last_inbound_at IS NULL"
	    "                       OR c.last_inbound_at <= now()"
	    "                          - make_interval(secs => $9)"
	    "                       OR EXISTS (SELECT 1 FROM window_holds h"
	    "                           WHERE h.chat_id = c.id"
	    "                             AND h.released_at IS NULL)))"
	    "              THEN 'sending' ELSE 'queued' END,"
	    "         m.id, (t.ord - 1)::integer,"
	    "         jsonb_array_length($5::jsonb), NULLIF($4::bigint, 0),"
	    "         CASE WHEN $7 AND t.ord = 1 THEN 1 ELSE 0 END"
	    "    FROM messages m"
	    "    JOIN chats c ON c.org_id = m.org_id AND c.id = m.chat_id"
	    "    JOIN channels ch ON ch.org_id = m.org_id"
	    "         AND ch.id = m.channel_id,"
	    "         jsonb_array_elements_text($5::jsonb)"
	    "             WITH ORDINALITY AS t(body, ord)"
	    "   WHERE m.org_id = $1 AND m.id = $2 AND m.direction = 'in'"
	    "  ON CONFLICT (reply_to_id, part_no)"
	    "     WHERE direction = 'out' AND reply_to_id IS NOT NULL"
	    "     DO NOTHING"
	    "  RETURNING id, chat_id, status"
	    "), touch AS ("
	    "  UPDATE chats SET last_message_at = now()"
	    "   WHERE org_id = $1 AND id IN (SELECT chat_id FROM parts)"
	    ")"
	    " SELECT id FROM parts WHERE status = 'sending'",
	    DB_I64(org_id), DB_I64(reply_to_id), DB_I64(thread_id),
	    DB_I64(llm_call_id), DB_TEXT(json),
	    DB_TEXT(sender != NULL ? sender : ""), DB_BOOL(take_first),
	    DB_TEXT(channel_window_kinds()), DB_I64(WINDOW_SECONDS), DB_END);
	free(json);
	taken = st == DB_OK && res.n_rows == 1 ? db_res_i64(&res, 0, 0) : 0;
	db_res_clear(&res);
	if (st != DB_OK)
		return st;
	if ((st = read_parts(db, a, org_id, reply_to_id, out, n_out)) != DB_OK)
		return st;
	for (int i = 0; i < *n_out; i++)
		(*out)[i].taken = taken != 0 && (*out)[i].id == taken;
	return DB_OK;
}

enum db_status
outbox_parts(struct db *db, struct arena *a, int64_t org_id,
    int64_t reply_to_id, struct out_part **out, int *n_out)
{
	return read_parts(db, a, org_id, reply_to_id, out, n_out);
}

enum db_status
outbox_give_up(struct db *db, int64_t org_id, int64_t reply_to_id,
    const char *why, int *n_failed)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	if (n_failed != NULL)
		*n_failed = 0;
	st = db_query(db, &res,
	    "WITH f AS ("
	    "  UPDATE messages"
	    "     SET status = 'failed',"
	    "         error_text = CASE WHEN status = 'sending' THEN $4"
	    "                      ELSE $3 END,"
	    "         updated_at = now()"
	    "   WHERE org_id = $1 AND reply_to_id = $2 AND direction = 'out'"
	    "     AND status IN ('queued', 'sending')"
	    "  RETURNING id)"
	    " SELECT count(*) FROM f",
	    DB_I64(org_id), DB_I64(reply_to_id), DB_TEXT(why),
	    DB_TEXT(OUTBOX_UNKNOWN_TEXT), DB_END);
	if (st == DB_OK && n_failed != NULL)
		*n_failed = (int)db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
outbox_give_up_one(struct db *db, int64_t org_id, int64_t id, const char *why)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE messages"
	    "   SET status = 'failed',"
	    "       error_text = CASE WHEN status = 'sending' THEN $4"
	    "                    ELSE $3 END,"
	    "       updated_at = now()"
	    " WHERE org_id = $1 AND id = $2 AND direction = 'out'"
	    "   AND status IN ('queued', 'sending')"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(id), DB_TEXT(why), DB_TEXT(OUTBOX_UNKNOWN_TEXT),
	    DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

enum db_status
outbox_failed_parts(struct db *db, struct arena *a, int64_t org_id,
    int64_t reply_to_id, int64_t **ids, int *n, int64_t *chat_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*ids = NULL;
	*n = 0;
	*chat_id = 0;
	st = db_query(db, &res,
	    "SELECT id, chat_id FROM messages"
	    " WHERE org_id = $1 AND reply_to_id = $2 AND direction = 'out'"
	    "   AND status = 'failed' AND resent_as_id IS NULL"
	    " ORDER BY part_no",
	    DB_I64(org_id), DB_I64(reply_to_id), DB_END);
	if (st != DB_OK)
		goto out;
	*ids = arena_alloc(a, sizeof(**ids) * (size_t)(res.n_rows + 1));
	for (int i = 0; i < res.n_rows; i++) {
		(*ids)[i] = db_res_i64(&res, i, 0);
		*chat_id = db_res_i64(&res, i, 1);
	}
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
outbox_last_failed_reply(struct db *db, int64_t org_id, int64_t chat_id,
    int64_t *reply_to_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*reply_to_id = 0;
	st = db_query(db, &res,
	    "SELECT reply_to_id FROM messages"
	    " WHERE org_id = $1 AND chat_id = $2 AND direction = 'out'"
	    "   AND status = 'failed' AND resent_as_id IS NULL"
	    "   AND reply_to_id IS NOT NULL"
	    " ORDER BY id DESC LIMIT 1",
	    DB_I64(org_id), DB_I64(chat_id), DB_END);
	if (st == DB_OK && res.n_rows == 1)
		*reply_to_id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
outbox_fail(struct db *db, int64_t org_id, int64_t id, const char *code,
    const char *text)
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

/* The row's send job due in delay_s, in the caller's transaction (see
 * outbox.h). */
static enum db_status
schedule(const struct app *app, struct db *db, int64_t org_id, int delay_s,
    struct outbox_new *out)
{
	out->job_id = 0;
	if (app == NULL || app->queue.send_at == NULL)
		return DB_OK;
	return app->queue.send_at(db, org_id, out->message_id, delay_s,
	    &out->job_id) ? DB_OK : DB_UNAVAILABLE;
}

/*
 * The end of recording one message: its ids from the first row of res
 * (the message's in column id_col; the chat's in chat_col, or chat_id
 * when chat_col < 0) and its send job, then the transaction left
 * (committed when the caller's call began it, rolled back on failure).
 */
static enum db_status
single_done(const struct app *app, struct db *db, bool own, int64_t org_id,
    struct db_res *res, enum db_status st, int id_col, int chat_col,
    int64_t chat_id, struct outbox_new *out)
{
	if (st == DB_OK && res->n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK) {
		out->message_id = db_res_i64(res, 0, id_col);
		out->chat_id = chat_col >= 0 ? db_res_i64(res, 0, chat_col) :
		    chat_id;
		st = schedule(app, db, org_id, OUTBOX_SAFETY_S, out);
	}
	db_res_clear(res);
	return db_tx_leave(db, own, st);
}

enum db_status
outbox_record_human(const struct app *app, struct db *db, int64_t org_id,
    int64_t chat_id, int64_t user_id, const char *body,
    struct outbox_new *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	bool		 own = false;

	memset(out, 0, sizeof(*out));
	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
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
	return single_done(app, db, own, org_id, &res, st, 0, -1, chat_id,
	    out);
}

enum db_status
outbox_record_text(const struct app *app, struct db *db, int64_t org_id,
    int64_t chat_id, const char *body, struct outbox_new *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	bool		 own = false;

	memset(out, 0, sizeof(*out));
	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = db_query(db, &res,
	    "WITH msg AS ("
	    "  INSERT INTO messages (org_id, channel_id, chat_id, thread_id,"
	    "         direction, sender, body, status)"
	    "  SELECT $1, c.channel_id, c.id,"
	    "         (SELECT t.id FROM threads t WHERE t.org_id = $1"
	    "             AND t.chat_id = c.id AND t.closed_at IS NULL),"
	    "         'out', '" OUTBOX_SENDER_PARLEY "', $3, 'queued'"
	    "    FROM chats c WHERE c.org_id = $1 AND c.id = $2"
	    "  RETURNING id, chat_id"
	    "), touch AS ("
	    "  UPDATE chats SET last_message_at = now()"
	    "   WHERE org_id = $1 AND id IN (SELECT chat_id FROM msg)"
	    ")"
	    " SELECT id FROM msg",
	    DB_I64(org_id), DB_I64(chat_id), DB_TEXT(body), DB_END);
	return single_done(app, db, own, org_id, &res, st, 0, -1, chat_id,
	    out);
}

enum db_status
outbox_record_tool(const struct app *app, struct db *db, int64_t org_id,
    int64_t channel_id, const char *to, int64_t thread_id, const char *body,
    struct outbox_new *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	bool		 own = false;

	memset(out, 0, sizeof(*out));
	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	/*
	 * `to` is a phone or a user id: the chat holding it (as its key or
	 * its contact's address) is the one, else a new chat keyed by it.
	 */
	st = db_query(db, &res,
	    "WITH known AS ("
	    "  SELECT external_id FROM chats"
	    "   WHERE org_id = $1 AND channel_id = $2 AND kind = 'dm'"
	    "     AND (external_id = $3 OR contact_user_id = $3"
	    "          OR contact_phone = $3)"
	    "   ORDER BY external_id = $3 DESC, id LIMIT 1"
	    "), chat AS ("
	    "  INSERT INTO chats AS c (org_id, channel_id, kind, external_id,"
	    "         contact_phone, contact_user_id)"
	    "  SELECT $1, ch.id, 'dm', COALESCE((SELECT external_id FROM known),"
	    "         $3), CASE WHEN $3 ~ '^\\+[0-9]{1,31}$' THEN $3 END,"
	    "         CASE WHEN $6 THEN $3 END"
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
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(to),
	    DB_I64(thread_id), DB_TEXT(body), DB_BOOL(waid_is_user_id(to)),
	    DB_END);
	return single_done(app, db, own, org_id, &res, st, 1, 0, 0, out);
}

enum db_status
outbox_draw_id(struct db *db, int64_t *id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*id = 0;
	st = db_query(db, &res,
	    "SELECT nextval(pg_get_serial_sequence('messages', 'id'))",
	    DB_END);
	if (st == DB_OK)
		*id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
outbox_record_media(const struct app *app, struct db *db, int64_t org_id,
    int64_t chat_id, int64_t author_user_id, const struct outbox_media *m,
    struct outbox_new *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	cJSON		*arr, *it, *ref;
	char		*json;
	bool		 own = false, recorded = false;

	memset(out, 0, sizeof(*out));
	arr = cJSON_CreateArray();
	it = cJSON_CreateObject();
	cJSON_AddStringToObject(it, "contentType", m->content_type);
	if (m->filename != NULL && m->filename[0] != '\0')
		cJSON_AddStringToObject(it, "filename", m->filename);
	if (m->voice)
		cJSON_AddTrueToObject(it, "voice");
	if (m->rec == NULL) {
		ref = cJSON_AddObjectToObject(it, "ref");
		cJSON_AddNumberToObject(ref, "message",
		    (double)m->ref_message_id);
		cJSON_AddNumberToObject(ref, "n", m->ref_n);
	}
	cJSON_AddItemToArray(arr, it);
	if ((json = cJSON_PrintUnformatted(arr)) == NULL)
		abort();
	cJSON_Delete(arr);
	if ((st = db_tx_join(db, &own)) != DB_OK) {
		free(json);
		return st;
	}
	/* A ref names an item of the org's messages, never another's. */
	st = db_query(db, &res,
	    "WITH msg AS ("
	    "  INSERT INTO messages (id, org_id, channel_id, chat_id,"
	    "         thread_id, direction, body, status, author_user_id,"
	    "         media)"
	    "  SELECT COALESCE(NULLIF($6::bigint, 0),"
	    "             nextval(pg_get_serial_sequence('messages', 'id'))),"
	    "         $1, c.channel_id, c.id,"
	    "         (SELECT t.id FROM threads t WHERE t.org_id = $1"
	    "             AND t.chat_id = c.id AND t.closed_at IS NULL),"
	    "         'out', $4, 'queued', NULLIF($3::bigint, 0), $5::jsonb"
	    "    FROM chats c WHERE c.org_id = $1 AND c.id = $2"
	    "     AND ($7::bigint = 0 OR EXISTS (SELECT 1 FROM messages r"
	    "          WHERE r.org_id = $1 AND r.id = $7::bigint))"
	    "  RETURNING id, chat_id"
	    "), touch AS ("
	    "  UPDATE chats SET last_message_at = now()"
	    "   WHERE org_id = $1 AND id IN (SELECT chat_id FROM msg)"
	    ")"
	    " SELECT id FROM msg",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(author_user_id),
	    DB_TEXT(m->caption != NULL ? m->caption : ""), DB_TEXT(json),
	    DB_I64(m->id), DB_I64(m->rec == NULL ? m->ref_message_id : 0),
	    DB_END);
	free(json);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK) {
		out->message_id = db_res_i64(&res, 0, 0);
		out->chat_id = chat_id;
	}
	db_res_clear(&res);
	if (st == DB_OK && m->rec != NULL)
		st = media_file_record(db, org_id, out->message_id, 0, m->rec,
		    &recorded);
	if (st == DB_OK)
		st = schedule(app, db, org_id, OUTBOX_SAFETY_S, out);
	if (st != DB_OK)
		memset(out, 0, sizeof(*out));
	return db_tx_leave(db, own, st);
}

enum db_status
outbox_record_template(const struct app *app, struct db *db, int64_t org_id,
    int64_t chat_id, int64_t author_user_id, const cJSON *spec,
    const char *body, int delay_s, struct outbox_new *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	char		*json;
	bool		 own = false;

	memset(out, 0, sizeof(*out));
	if ((json = cJSON_PrintUnformatted(spec)) == NULL)
		abort();
	if ((st = db_tx_join(db, &own)) != DB_OK) {
		free(json);
		return st;
	}
	st = db_query(db, &res,
	    "WITH msg AS ("
	    "  INSERT INTO messages (org_id, channel_id, chat_id, thread_id,"
	    "         direction, body, status, author_user_id, template)"
	    "  SELECT $1, c.channel_id, c.id,"
	    "         (SELECT t.id FROM threads t WHERE t.org_id = $1"
	    "             AND t.chat_id = c.id AND t.closed_at IS NULL),"
	    "         'out', $4, 'queued', NULLIF($3::bigint, 0), $5::jsonb"
	    "    FROM chats c WHERE c.org_id = $1 AND c.id = $2"
	    "  RETURNING id, chat_id"
	    "), touch AS ("
	    "  UPDATE chats SET last_message_at = now()"
	    "   WHERE org_id = $1 AND id IN (SELECT chat_id FROM msg)"
	    ")"
	    " SELECT id FROM msg",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(author_user_id),
	    DB_TEXT(body != NULL ? body : ""), DB_TEXT(json), DB_END);
	free(json);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK) {
		out->message_id = db_res_i64(&res, 0, 0);
		out->chat_id = chat_id;
		st = schedule(app, db, org_id, delay_s, out);
	}
	db_res_clear(&res);
	return db_tx_leave(db, own, st);
}

enum db_status
outbox_record_schedule(struct db *db, int64_t org_id, int64_t chat_id,
    int64_t run_id, int64_t llm_call_id, const char *const *texts, int n)
{
	cJSON		*arr;
	char		*json;
	enum db_status	 st;

	arr = cJSON_CreateArray();
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(texts[i]));
	json = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	if (json == NULL)
		abort();
	st = db_exec(db,
	    "WITH parts AS ("
	    "  INSERT INTO messages (org_id, channel_id, chat_id, thread_id,"
	    "         direction, body, status, part_no, parts, llm_call_id,"
	    "         schedule_run_id)"
	    "  SELECT $1, c.channel_id, c.id,"
	    "         (SELECT th.id FROM threads th WHERE th.org_id = $1"
	    "             AND th.chat_id = c.id AND th.closed_at IS NULL),"
	    "         'out', t.body, 'queued', (t.ord - 1)::integer,"
	    "         jsonb_array_length($4::jsonb), NULLIF($5::bigint, 0), $3"
	    "    FROM chats c,"
	    "         jsonb_array_elements_text($4::jsonb)"
	    "             WITH ORDINALITY AS t(body, ord)"
	    "   WHERE c.org_id = $1 AND c.id = $2"
	    "  ON CONFLICT (schedule_run_id, chat_id, part_no)"
	    "     WHERE schedule_run_id IS NOT NULL DO NOTHING"
	    "  RETURNING chat_id"
	    ")"
	    " UPDATE chats SET last_message_at = now()"
	    "  WHERE org_id = $1 AND id IN (SELECT chat_id FROM parts)",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(run_id), DB_TEXT(json),
	    DB_I64(llm_call_id), DB_END);
	free(json);
	return st;
}

enum db_status
outbox_schedule_pending(struct db *db, struct arena *a, int64_t org_id,
    int64_t run_id, int64_t **ids, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*ids = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT id FROM messages"
	    " WHERE org_id = $1 AND schedule_run_id = $2 AND direction = 'out'"
	    "   AND status IN ('queued', 'sending')"
	    " ORDER BY chat_id, part_no",
	    DB_I64(org_id), DB_I64(run_id), DB_END);
	if (st != DB_OK)
		goto out;
	*ids = arena_alloc(a, sizeof(**ids) * (size_t)(res.n_rows + 1));
	for (int i = 0; i < res.n_rows; i++)
		(*ids)[i] = db_res_i64(&res, i, 0);
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

/* --- holds ------------------------------------------------------------- */

enum db_status
outbox_hold_attach(struct db *db, int64_t org_id, int64_t chat_id,
    int64_t hold_id, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "WITH a AS ("
	    "  UPDATE messages SET hold_id = $3, updated_at = now()"
	    "   WHERE org_id = $1 AND chat_id = $2 AND status = 'held'"
	    "     AND hold_id IS NULL"
	    "  RETURNING id)"
	    " SELECT count(*) FROM a",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(hold_id), DB_END);
	if (st == DB_OK && n != NULL)
		*n = (int)db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
outbox_hold_release(struct db *db, int64_t org_id, int64_t hold_id,
    bool latest_only, int64_t template_id)
{
	enum db_status	 st;

	/*
	 * Bruin's rule: of the held scheduled results only the newest run
	 * of the last 24 hours is delivered (all its parts).
	 */
	st = db_exec(db,
	    "UPDATE messages m"
	    "   SET status = 'failed', error_code = NULL, error_text = $4,"
	    "       updated_at = now()"
	    " WHERE m.org_id = $1 AND m.hold_id = $2 AND m.status = 'held'"
	    "   AND m.schedule_run_id IS NOT NULL AND $3::boolean"
	    "   AND (m.created_at <= now() - interval '24 hours'"
	    "        OR m.schedule_run_id <> (SELECT max(x.schedule_run_id)"
	    "              FROM messages x"
	    "             WHERE x.org_id = $1 AND x.hold_id = $2"
	    "               AND x.status = 'held'"
	    "               AND x.created_at > now() - interval '24 hours'))",
	    DB_I64(org_id), DB_I64(hold_id), DB_BOOL(latest_only),
	    DB_TEXT(OUTBOX_SUPERSEDED_TEXT), DB_END);
	if (st == DB_OK)
		st = db_exec(db,
		    "UPDATE messages SET status = 'queued', updated_at = now()"
		    " WHERE org_id = $1 AND hold_id = $2 AND status = 'held'",
		    DB_I64(org_id), DB_I64(hold_id), DB_END);
	if (st == DB_OK && template_id != 0)
		st = db_exec(db,
		    "UPDATE messages"
		    "   SET status = 'failed', error_text = $3,"
		    "       updated_at = now()"
		    " WHERE org_id = $1 AND id = $2 AND status = 'queued'"
		    "   AND template IS NOT NULL",
		    DB_I64(org_id), DB_I64(template_id),
		    DB_TEXT(OUTBOX_UNNEEDED_TEXT), DB_END);
	return st;
}

enum db_status
outbox_hold_pending(struct db *db, struct arena *a, int64_t org_id,
    int64_t hold_id, struct outbox_row **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT id, reply_to_id IS NOT NULL FROM messages"
	    " WHERE org_id = $1 AND hold_id = $2 AND direction = 'out'"
	    "   AND status IN ('queued', 'sending')"
	    " ORDER BY id",
	    DB_I64(org_id), DB_I64(hold_id), DB_END);
	if (st != DB_OK)
		goto out;
	*out = arena_alloc(a, sizeof(**out) * (size_t)(res.n_rows + 1));
	for (int i = 0; i < res.n_rows; i++) {
		(*out)[i].id = db_res_i64(&res, i, 0);
		(*out)[i].is_reply = db_res_bool(&res, i, 1);
	}
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
outbox_held_list(struct db *db, struct arena *a, int64_t org_id,
    int64_t chat_id, struct outbox_held **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT id, body,"
	    "       to_char(created_at AT TIME ZONE 'UTC',"
	    "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    "       COALESCE(schedule_run_id, 0), COALESCE(error_text, '')"
	    "  FROM messages"
	    " WHERE org_id = $1 AND chat_id = $2 AND status = 'held'"
	    " ORDER BY id LIMIT 50",
	    DB_I64(org_id), DB_I64(chat_id), DB_END);
	if (st != DB_OK)
		goto out;
	*out = arena_alloc(a, sizeof(**out) * (size_t)(res.n_rows + 1));
	for (int i = 0; i < res.n_rows; i++) {
		(*out)[i].id = db_res_i64(&res, i, 0);
		(*out)[i].body = chat_col(a, &res, i, 1);
		(*out)[i].created_at = chat_col(a, &res, i, 2);
		(*out)[i].schedule_run_id = db_res_i64(&res, i, 3);
		(*out)[i].error_text = chat_col(a, &res, i, 4);
	}
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
outbox_unattached_any_org(struct db *db, int min_age_s, int max,
    int64_t *org_ids, int64_t *chat_ids, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*n = 0;
	st = db_query(db, &res,
	    "SELECT DISTINCT org_id, chat_id FROM messages"
	    " WHERE status = 'held' AND hold_id IS NULL"
	    "   AND updated_at < now() - make_interval(secs => $1)"
	    " LIMIT $2",
	    DB_I64(min_age_s), DB_I64(max), DB_END);
	for (int i = 0; st == DB_OK && i < res.n_rows && i < max; i++) {
		org_ids[i] = db_res_i64(&res, i, 0);
		chat_ids[i] = db_res_i64(&res, i, 1);
		(*n)++;
	}
	db_res_clear(&res);
	return st;
}

enum outbox_resend
outbox_record_resend(const struct app *app, struct db *db, int64_t org_id,
    int64_t chat_id, int64_t id, int64_t user_id, struct outbox_new *out,
    int64_t *resent_as, const char **why)
{
	struct db_res		 res = { 0 };
	enum outbox_resend	 rs = OUTBOX_RESEND_UNAVAILABLE;
	enum db_status		 st;
	bool			 own = false;

	memset(out, 0, sizeof(*out));
	*resent_as = 0;
	*why = NULL;
	st = db_query(db, &res,
	    "SELECT m.direction = 'out' AND m.status = 'failed',"
	    "       COALESCE(m.resent_as_id, 0), COALESCE(m.error_code, ''),"
	    "       ch.kind"
	    "  FROM messages m"
	    "  JOIN channels ch ON ch.org_id = m.org_id AND ch.id = m.channel_id"
	    " WHERE m.org_id = $1 AND m.chat_id = $2 AND m.id = $3",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(id), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows == 0) {
		rs = OUTBOX_RESEND_NOT_FOUND;
		goto out;
	}
	if (!db_res_bool(&res, 0, 0)) {
		rs = OUTBOX_RESEND_NOT_FAILED;
		goto out;
	}
	if ((*resent_as = db_res_i64(&res, 0, 1)) != 0) {
		rs = OUTBOX_RESEND_ALREADY;
		goto out;
	}
	if (channel_code_final(db_res_text(&res, 0, 3),
	    db_res_text(&res, 0, 2), why)) {
		rs = OUTBOX_RESEND_FINAL;
		goto out;
	}
	db_res_clear(&res);

	if ((st = db_tx_join(db, &own)) != DB_OK)
		goto out;
	/*
	 * One conditional UPDATE decides: a concurrent Resend of the same
	 * row waits for ours on the row lock, then finds resent_as_id set
	 * and changes nothing, so it inserts nothing either. The new row
	 * takes the id the UPDATE drew (the foreign key is checked at the
	 * end of the statement, when the row exists).
	 */
	st = db_query(db, &res,
	    "WITH claim AS ("
	    "  UPDATE messages"
	    "     SET resent_as_id = nextval(pg_get_serial_sequence("
	    "             'messages', 'id')),"
	    "         updated_at = now()"
	    "   WHERE org_id = $1 AND chat_id = $2 AND id = $3"
	    "     AND direction = 'out' AND status = 'failed'"
	    "     AND resent_as_id IS NULL"
	    "  RETURNING resent_as_id, channel_id, chat_id, thread_id, body,"
	    "            id AS failed_id, media"
	    ")"
	    " INSERT INTO messages (id, org_id, channel_id, chat_id, thread_id,"
	    "        direction, body, status, author_user_id, media)"
	    " SELECT resent_as_id, $1, channel_id, chat_id, thread_id, 'out',"
	    "        body, 'queued', $4,"
	    /* A media send's item: the failed row's own, by reference
	     * (outbox_record_media), never a copy of its bytes. */
	    "        CASE WHEN media = '[]'::jsonb OR media->0 ? 'ref'"
	    "             THEN media"
	    "             ELSE jsonb_set(media, '{0,ref}', jsonb_build_object("
	    "                  'message', failed_id, 'n', 0)) END"
	    "   FROM claim"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(id),
	    user_id > 0 ? DB_I64(user_id) : DB_NULL, DB_END);
	if (st == DB_OK && res.n_rows == 1) {
		out->message_id = db_res_i64(&res, 0, 0);
		out->chat_id = chat_id;
		st = schedule(app, db, org_id, OUTBOX_SAFETY_S, out);
		rs = OUTBOX_RESEND_OK;
	} else if (st == DB_OK)
		rs = OUTBOX_RESEND_ALREADY;
	db_res_clear(&res);
	if ((st = db_tx_leave(db, own, st)) != DB_OK) {
		rs = OUTBOX_RESEND_UNAVAILABLE;
		memset(out, 0, sizeof(*out));
		goto out;
	}
	if (rs == OUTBOX_RESEND_ALREADY) {
		/* The winner's row, for the caller's sentence. */
		st = db_query(db, &res,
		    "SELECT COALESCE(resent_as_id, 0) FROM messages"
		    " WHERE org_id = $1 AND id = $2",
		    DB_I64(org_id), DB_I64(id), DB_END);
		if (st == DB_OK && res.n_rows == 1)
			*resent_as = db_res_i64(&res, 0, 0);
	}
out:
	db_res_clear(&res);
	return rs;
}

/* --- the send sequence ---------------------------------------------------- */

const char *
outbox_result_str(enum outbox_result r)
{
	switch (r) {
	case OUTBOX_SENT:
		return "sent";
	case OUTBOX_LATER:
		return "later";
	case OUTBOX_REFUSED:
		return "refused";
	case OUTBOX_DROPPED:
		return "dropped";
	case OUTBOX_UNKNOWN:
		return "unknown";
	case OUTBOX_GONE:
		return "gone";
	case OUTBOX_HELD:
		return "held";
	case OUTBOX_UNAVAILABLE:
	default:
		return "unavailable";
	}
}

/*
 * Step 1: queued → sending in one statement, which also reads where the
 * row goes (and, gated, checks the chat's handoff status against the
 * part's sender). A text to a chat whose 24-hour window is closed, on a
 * channel kind that has one, goes queued → held instead (t->held): the
 * statement reads the window as committed when it starts, and the hold
 * (chat/window.c) checks it again under the chat's lock. False with *r
 * when the row was not taken.
 *
 * Where: a group's id; a DM's contact by its phone when known, else its
 * business-scoped user id (chat/contact.h contact_address; the sender
 * puts each in the field its provider needs). A reply part (reply_to_id
 * set) is always gated, whoever sends it: its turn, or the send job of a
 * part a provider rate-limited after accepting it. An answer needs the
 * chat's status 'ai' AND Parley owning the thread: the SQL form of
 * handoff_answerer's HANDOFF_AI (chat/handoff.h).
 */
static bool
take(struct outbox_send *s, struct db *db, struct taken *t,
    enum outbox_result *r)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	bool		 taken = false;
	const char	*status;

	*r = OUTBOX_UNAVAILABLE;
	token_hex(t->token, sizeof(t->token));
	st = db_query(db, &res,
	    "WITH w AS ("
	    "  SELECT m.id, m.template IS NULL AND ch.kind = ANY($4::text[])"
	    "         AND (c.last_inbound_at IS NULL"
	    "              OR c.last_inbound_at <= now()"
	    "                 - make_interval(secs => $5)"
	    "              OR EXISTS (SELECT 1 FROM window_holds h"
	    "                  WHERE h.chat_id = c.id"
	    "                    AND h.released_at IS NULL)) AS closed"
	    "    FROM messages m"
	    "    JOIN chats c ON c.org_id = $1 AND c.id = m.chat_id"
	    "    JOIN channels ch ON ch.org_id = $1 AND ch.id = m.channel_id"
	    "   WHERE m.org_id = $1 AND m.id = $2"
	    ")"
	    " UPDATE messages m"
	    "   SET status = CASE WHEN w.closed THEN 'held' ELSE 'sending' END,"
	    "       attempts = m.attempts + CASE WHEN w.closed THEN 0 ELSE 1"
	    "           END,"
	    "       hold_id = CASE WHEN w.closed THEN NULL ELSE m.hold_id END,"
	    "       send_token = CASE WHEN w.closed THEN NULL ELSE $6 END,"
	    "       updated_at = now()"
	    "  FROM chats c, w"
	    " WHERE m.org_id = $1 AND m.id = $2 AND m.direction = 'out'"
	    "   AND m.status = 'queued' AND w.id = m.id"
	    "   AND c.org_id = $1 AND c.id = m.chat_id"
	    "   AND (NOT ($3::boolean OR m.reply_to_id IS NOT NULL)"
	    "        OR CASE WHEN m.sender = '" HANDOFF_SENDER_TEXT "'"
	    "                THEN c.status IN ('needs_human', 'human')"
	    "                ELSE c.status = 'ai' AND c.owner = 'parley' END)"
	    " RETURNING m.channel_id, m.body,"
	    "       CASE WHEN c.kind = 'group' THEN c.external_id"
	    "            ELSE COALESCE(c.contact_phone, c.contact_user_id,"
	    "                          c.external_id) END,"
	    "       c.kind = 'group', m.chat_id, w.closed, m.template::text,"
	    "       NULLIF(m.media, '[]'::jsonb)::text",
	    DB_I64(s->org_id), DB_I64(s->message_id), DB_BOOL(s->gated),
	    DB_TEXT(channel_window_kinds()), DB_I64(WINDOW_SECONDS),
	    DB_TEXT(t->token), DB_END);
	if (st == DB_UNAVAILABLE)
		t->in_doubt = true;
	if (st != DB_OK)
		goto out;
	if (res.n_rows == 1) {
		t->channel_id = db_res_i64(&res, 0, 0);
		t->body = chat_col(s->a, &res, 0, 1);
		t->to = chat_col(s->a, &res, 0, 2);
		t->is_group = db_res_bool(&res, 0, 3);
		t->chat_id = db_res_i64(&res, 0, 4);
		t->held = db_res_bool(&res, 0, 5);
		t->template = chat_col_null(s->a, &res, 0, 6);
		t->media = chat_col_null(s->a, &res, 0, 7);
		taken = true;
		goto out;
	}
	db_res_clear(&res);
	st = db_query(db, &res,
	    "SELECT status FROM messages"
	    " WHERE org_id = $1 AND id = $2 AND direction = 'out'",
	    DB_I64(s->org_id), DB_I64(s->message_id), DB_END);
	if (st != DB_OK)
		goto out;
	status = res.n_rows == 1 ? db_res_text(&res, 0, 0) : "";
	*r = OUTBOX_GONE;
	if (str_eq(status, "queued") && s->gated) {
		/* Still queued, but the chat's status refuses it. */
		log_info("outbox", "msg=\"part dropped: a person took over\" "
		    "org=%" PRId64 " message=%" PRId64, s->org_id,
		    s->message_id);
		st = outbox_fail(db, s->org_id, s->message_id, NULL,
		    HANDOFF_DROPPED_TEXT);
		*r = st == DB_OK || st == DB_NOT_FOUND ? OUTBOX_DROPPED :
		    OUTBOX_UNAVAILABLE;
	} else if (str_eq(status, "sending") && s->recover) {
		/* Interrupted between the two marks: never sent again. */
		log_warn("outbox", "msg=\"found sending, not re-sent\" "
		    "org=%" PRId64 " message=%" PRId64, s->org_id,
		    s->message_id);
		st = outbox_fail(db, s->org_id, s->message_id, NULL,
		    OUTBOX_UNKNOWN_TEXT);
		*r = st == DB_OK || st == DB_NOT_FOUND ? OUTBOX_UNKNOWN :
		    OUTBOX_UNAVAILABLE;
	} else if (str_eq(status, "held"))
		*r = OUTBOX_HELD;
out:
	db_res_clear(&res);
	return taken;
}

/*
 * The row is held (chat_id's window is closed): its hold begins or it
 * joins the open one (chat/window.h); a new hold's follow-up template is
 * sent now, by this caller, through this same sequence.
 */
static enum outbox_result
hold(struct outbox_send *s, int64_t chat_id, bool provider_closed)
{
	struct outbox_send	 f;
	struct outbox_new	 tmpl;
	struct db		*db;
	enum db_status		 st = DB_UNAVAILABLE;
	enum outbox_result	 r;

	memset(&tmpl, 0, sizeof(tmpl));
	if ((db = db_acquire(s->app->db)) != NULL) {
		st = window_hold_begin(s->app, db, s->org_id, chat_id, true,
		    provider_closed, &tmpl);
		db_release(db);
	}
	/* Left unattached, the window's sweep begins the hold later. */
	if (st != DB_OK)
		log_warn("outbox", "msg=\"hold not begun, the sweep will\" "
		    "org=%" PRId64 " chat=%" PRId64 " status=%s", s->org_id,
		    chat_id, db_status_str(st));
	log_info("outbox", "msg=\"held: the 24-hour window is closed\" "
	    "org=%" PRId64 " message=%" PRId64 " chat=%" PRId64
	    " template=%" PRId64, s->org_id, s->message_id, chat_id,
	    tmpl.message_id);
	if (tmpl.message_id != 0) {
		memset(&f, 0, sizeof(f));
		f.app = s->app;
		f.a = s->a;
		f.org_id = s->org_id;
		f.message_id = tmpl.message_id;
		f.job_id = tmpl.job_id;
		f.ch = s->ch;
		r = outbox_send(&f);
		log_info("outbox", "msg=\"follow-up template\" org=%" PRId64
		    " message=%" PRId64 " result=%s", s->org_id,
		    tmpl.message_id, outbox_result_str(r));
	}
	return OUTBOX_HELD;
}

/* SEND_FAILED with a sentence of ours (no provider call was made). */
static enum send_result
refuse(struct send_outcome *o, const char *why)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->error_text, sizeof(o->error_text), "%s", why);
	return SEND_FAILED;
}

/* A template row: its spec (messages.template) to the sender. */
static enum send_result
send_template(struct outbox_send *s, const struct outbox_channel *ch,
    const struct taken *t)
{
	struct channel_template_msg	 m;
	cJSON				*spec;
	enum send_result		 sr;

	if (ch->ops->send_template == NULL)
		return refuse(&s->o, "This channel cannot send "
		    "WhatsApp templates.");
	if ((spec = json_parse_str(t->template, NULL)) == NULL)
		return refuse(&s->o, "The template to send is "
		    "not readable.");
	memset(&m, 0, sizeof(m));
	m.name = json_str_or(spec, "name", "");
	m.language = json_str_or(spec, "language", "");
	m.content_sid = json_str_or(spec, "content_sid", "");
	m.named = str_eq(json_str_or(spec, "format", ""), "NAMED");
	m.params = cJSON_GetObjectItemCaseSensitive(spec, "params");
	m.quick_replies = cJSON_GetObjectItemCaseSensitive(spec,
	    "quick_replies");
	sr = ch->ops->send_template(&ch->creds, t->to, t->is_group, &m,
	    &s->o);
	cJSON_Delete(spec);
	return sr;
}

/*
 * A media row: its item (chat/media.h: the media store, a reference
 * followed) checked against the channel's limits, then to the sender
 * with the caption (the body) and, for a provider that fetches it, a
 * fresh signed URL serving exactly that item. Reading the item takes a
 * connection of its own and none is held while the store or the
 * provider answers. A database that is down is "try later": no
 * provider was called.
 */
static enum send_result
send_media(struct outbox_send *s, const struct outbox_channel *ch,
    const struct taken *t)
{
	struct channel_media_msg	 m;
	struct media_blob		 blob;
	const char			*why = NULL, *no;
	char				 ctype[128], buf[320];
	cJSON				*arr;
	const cJSON			*it, *v;
	enum db_status			 st;

	if (ch->ops->send_media == NULL)
		return refuse(&s->o, "This channel cannot send media.");
	memset(&m, 0, sizeof(m));
	arr = json_parse_str(t->media, NULL);
	it = cJSON_GetArrayItem(arr, 0);
	v = cJSON_GetObjectItemCaseSensitive(it, "contentType");
	channel_media_type(cJSON_IsString(v) ? v->valuestring : "", ctype,
	    sizeof(ctype));
	v = cJSON_GetObjectItemCaseSensitive(it, "filename");
	if (cJSON_IsString(v) && v->valuestring[0] != '\0')
		m.filename = arena_strdup(s->a, v->valuestring);
	m.voice = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "voice"));
	cJSON_Delete(arr);
	st = media_load(s->app, s->a, s->org_id, 0, s->message_id, 0, &blob,
	    &why);
	if (st == DB_UNAVAILABLE) {
		memset(&s->o, 0, sizeof(s->o));
		snprintf(s->o.error_text, sizeof(s->o.error_text), "The media "
		    "item could not be read: the database is unavailable.");
		return SEND_RETRY;
	}
	if (st != DB_OK)
		return refuse(&s->o, why != NULL ? arena_printf(s->a, "The "
		    "media item cannot be sent: %s", why) : "The media item "
		    "to send is gone.");
	if (ctype[0] == '\0' && blob.content_type != NULL)
		channel_media_type(blob.content_type, ctype, sizeof(ctype));
	m.content_type = ctype;
	m.kind = channel_media_kind(ctype);
	m.caption = t->body != NULL && t->body[0] != '\0' ? t->body : NULL;
	m.data = blob.data;
	m.len = blob.len;
	if ((no = channel_media_refusal(ch->ops->kind, &m, buf,
	    sizeof(buf))) != NULL)
		return refuse(&s->o, no);
	m.url = media_signed_url(s->app, s->a, s->org_id, s->message_id, 0,
	    "file", OUTBOX_MEDIA_URL_TTL_S);
	return ch->ops->send_media(&ch->creds, t->to, t->is_group, &m, &s->o);
}

enum outbox_result
outbox_send(struct outbox_send *s)
{
	struct outbox_channel	 own;
	struct outbox_channel	*ch = s->ch;
	struct taken		 t;
	struct db		*db;
	enum outbox_result	 r;
	enum send_result	 sr;
	enum db_status		 st;

	memset(&s->o, 0, sizeof(s->o));
	memset(&own, 0, sizeof(own));
	memset(&t, 0, sizeof(t));
	if ((db = db_acquire_urgent(s->app->db)) == NULL)
		return OUTBOX_UNAVAILABLE;
	if (!take(s, db, &t, &r)) {
		if (t.in_doubt)
			untake(s, db, &t);
		db_release(db);
		return r;
	}
	if (t.held) {
		db_release(db);
		return hold(s, t.chat_id, false);
	}
	if (ch == NULL) {
		st = outbox_channel_open(s->app, db, s->a, s->org_id,
		    t.channel_id, &own);
		if (st != DB_OK) {
			outbox_channel_close(&own);
			if (st == DB_UNAVAILABLE) {
				/* Nothing was sent: back to queued (its job
				 * tries again). */
				untake(s, db, &t);
				db_release(db);
				return OUTBOX_UNAVAILABLE;
			}
			snprintf(s->o.error_text, sizeof(s->o.error_text), "%s",
			    st == DB_NOT_FOUND ? "The channel is gone." :
			    "This channel cannot send: its kind has no sender "
			    "or its credentials cannot be opened.");
			st = outbox_fail(db, s->org_id, s->message_id, NULL,
			    s->o.error_text);
			db_release(db);
			return OUTBOX_REFUSED;
		}
		ch = &own;
	}
	db_release(db);

	if (t.template != NULL)
		sr = send_template(s, ch, &t);
	else if (t.media != NULL)
		sr = send_media(s, ch, &t);
	else
		sr = ch->ops->send_text(&ch->creds, t.to, t.is_group, t.body,
		    &s->o);

	r = mark(s, sr, &t.chat_id, ch->ops->kind, t.template == NULL);
	outbox_channel_close(&own);
	if (r == OUTBOX_HELD)
		r = hold(s, t.chat_id, true);
	return r;
}

enum outbox_result
outbox_send_taken(struct outbox_send *s, const char *to, bool is_group,
    const char *body)
{
	enum send_result	 sr;
	int64_t			 chat_id = 0;
	enum outbox_result	 r;

	memset(&s->o, 0, sizeof(s->o));
	sr = s->ch->ops->send_text(&s->ch->creds, to, is_group, body, &s->o);
	/* A text the provider refused for the 24-hour window is held, as
	 * outbox_send holds it (chat/window.h). */
	r = mark(s, sr, &chat_id, s->ch->ops->kind, true);
	if (r == OUTBOX_HELD)
		r = hold(s, chat_id, true);
	return r;
}

enum db_status
outbox_untake_taken(struct db *db, int64_t org_id, int64_t id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE messages SET status = 'queued', updated_at = now()"
	    " WHERE org_id = $1 AND id = $2 AND direction = 'out'"
	    "   AND status = 'sending' AND provider_message_id IS NULL"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

/*
 * The row was (or may have been) taken by this sender, which called no
 * provider: back to queued, on the condition that the take is still this
 * sender's (its token), so a row another sender took meanwhile is left
 * alone. Waits out a database that went away (a failover: a few seconds
 * without a primary) on a new connection; if even that fails the row
 * stays 'sending', and the next sender calls it unknown: never sent twice.
 */
static void
untake(struct outbox_send *s, struct db *db, const struct taken *t)
{
	struct db	*fresh = NULL;
	enum db_status	 st;

	if (db == NULL || db->broken)
		db = fresh = db_acquire_wait(s->app->db, UNTAKE_WAIT_MS);
	st = db == NULL ? DB_UNAVAILABLE : db_exec(db,
	    "UPDATE messages"
	    "   SET status = 'queued', send_token = NULL, updated_at = now()"
	    " WHERE org_id = $1 AND id = $2 AND status = 'sending'"
	    "   AND send_token = $3",
	    DB_I64(s->org_id), DB_I64(s->message_id), DB_TEXT(t->token),
	    DB_END);
	if (st == DB_UNAVAILABLE && fresh == NULL) {
		/* The connection died under it: once more on a new one. */
		fresh = db_acquire_wait(s->app->db, UNTAKE_WAIT_MS);
		st = fresh == NULL ? DB_UNAVAILABLE : db_exec(fresh,
		    "UPDATE messages"
		    "   SET status = 'queued', send_token = NULL,"
		    "       updated_at = now()"
		    " WHERE org_id = $1 AND id = $2 AND status = 'sending'"
		    "   AND send_token = $3",
		    DB_I64(s->org_id), DB_I64(s->message_id),
		    DB_TEXT(t->token), DB_END);
	}
	if (fresh != NULL)
		db_release(fresh);
	if (st != DB_OK)
		log_err("outbox", "msg=\"not sent, but perhaps left sending\" "
		    "org=%" PRId64 " message=%" PRId64 " status=%s",
		    s->org_id, s->message_id, db_status_str(st));
}

/*
 * Step 3: records what the provider said, retrying the write while the
 * database blinks (outbox.h), so an accepted message keeps its id. A
 * text the provider refused for the window (channel_code_window) is
 * held, not failed: OUTBOX_HELD, and the caller begins the hold.
 */
static enum outbox_result
mark(struct outbox_send *s, enum send_result sr, int64_t *held_chat,
    const char *kind, bool can_hold)
{
	struct db	*db;
	enum db_status	 st = DB_UNAVAILABLE;
	const char	*text;
	int64_t		 chat_id = 0;
	bool		 window = sr == SEND_FAILED && can_hold &&
			    channel_code_window(kind, s->o.error_code);

	for (int i = 0; i < MARK_TRIES; i++) {
		if (i > 0)
			pause_ms((MARK_PAUSE_MS << (i - 1)) > MARK_PAUSE_MAX_MS ?
			    MARK_PAUSE_MAX_MS : MARK_PAUSE_MS << (i - 1));
		/* Finishing a send: before new work (db/pool.c). */
		if ((db = db_acquire_urgent(s->app->db)) == NULL)
			continue;
		switch (sr) {
		case SEND_OK:
			st = mark_sent(db, s->org_id, s->message_id,
			    s->o.provider_message_id);
			break;
		case SEND_RETRY:
			st = mark_later(s, db);
			break;
		case SEND_FAILED:
		default:
			text = s->o.error_text[0] != '\0' ? s->o.error_text :
			    "The provider refused the message.";
			if (window)
				st = mark_held(db, s->org_id, s->message_id,
				    &s->o, &chat_id);
			else
				st = outbox_fail(db, s->org_id, s->message_id,
				    s->o.error_code, text);
			break;
		}
		db_release(db);
		if (st == DB_OK || st == DB_NOT_FOUND)
			break;
	}
	if (st != DB_OK)
		log_err("outbox", "msg=\"send outcome not recorded\" "
		    "org=%" PRId64 " message=%" PRId64 " result=%d "
		    "provider_id=\"%s\" status=%s", s->org_id, s->message_id,
		    (int)sr, s->o.provider_message_id, db_status_str(st));
	switch (sr) {
	case SEND_OK:
		return st == DB_OK ? OUTBOX_SENT : OUTBOX_UNKNOWN;
	case SEND_RETRY:
		return OUTBOX_LATER;
	case SEND_FAILED:
	default:
		if (window && st == DB_OK) {
			*held_chat = chat_id;
			return OUTBOX_HELD;
		}
		return OUTBOX_REFUSED;
	}
}

/* sending → held with the provider's refusal; *chat_id its chat. */
static enum db_status
mark_held(struct db *db, int64_t org_id, int64_t id,
    const struct send_outcome *o, int64_t *chat_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE messages"
	    "   SET status = 'held', error_code = NULLIF($3, ''),"
	    "       error_text = NULLIF($4, ''), hold_id = NULL,"
	    "       updated_at = now()"
	    " WHERE org_id = $1 AND id = $2 AND direction = 'out'"
	    "   AND status = 'sending' AND template IS NULL"
	    " RETURNING chat_id",
	    DB_I64(org_id), DB_I64(id), DB_TEXT(o->error_code),
	    DB_TEXT(o->error_text), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		*chat_id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

static enum db_status
mark_sent(struct db *db, int64_t org_id, int64_t id, const char *pid)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE messages"
	    "   SET status = 'sent', provider_message_id = $3,"
	    "       error_code = NULL, error_text = NULL, updated_at = now()"
	    " WHERE org_id = $1 AND id = $2 AND direction = 'out'"
	    "   AND (status = 'sending'"
	    "        OR (status = 'failed' AND error_text = $4))"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(id), DB_TEXT(pid), DB_TEXT(OUTBOX_UNKNOWN_TEXT),
	    DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

/* sending → queued, and the row's send job moved to the provider's
 * backoff (in one transaction), or the caller's job retries. */
static enum db_status
mark_later(struct outbox_send *s, struct db *db)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	bool		 own = false;
	int		 delay = s->o.retry_after_s;

	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = db_query(db, &res,
	    "UPDATE messages"
	    "   SET status = 'queued', error_text = NULLIF($3, ''),"
	    "       updated_at = now()"
	    " WHERE org_id = $1 AND id = $2 AND direction = 'out'"
	    "   AND status = 'sending'"
	    " RETURNING id",
	    DB_I64(s->org_id), DB_I64(s->message_id),
	    DB_TEXT(s->o.error_text), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	if (st == DB_OK && s->job_id != 0 && s->app->queue.send_at != NULL &&
	    !s->app->queue.send_at(db, s->org_id, s->message_id,
	    delay > LATER_MIN_S ? delay : LATER_MIN_S, &s->job_id))
		st = DB_UNAVAILABLE;
	return db_tx_leave(db, own, st);
}

static void
pause_ms(int ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* --- after ------------------------------------------------------------- */

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
outbox_status_update(const struct app *app, struct db *db, int64_t org_id,
    int64_t channel_id, const char *provider_message_id, const char *status,
    const char *error_code, const char *error_text)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	struct outbox_new tmpl;
	bool		 window = false;
	int64_t		 held_chat = 0;

	if (provider_message_id == NULL || provider_message_id[0] == '\0')
		return DB_NOT_FOUND;
	if (strcmp(status, "failed") != 0 && status_rank(status) < 2)
		return DB_INVALID;
	/* A failure for the window holds the message (outbox.h). */
	if (str_eq(status, "failed") && error_code != NULL &&
	    error_code[0] != '\0') {
		st = db_query(db, &res,
		    "SELECT kind FROM channels WHERE org_id = $1 AND id = $2",
		    DB_I64(org_id), DB_I64(channel_id), DB_END);
		if (st != DB_OK) {
			db_res_clear(&res);
			return st;
		}
		window = res.n_rows == 1 &&
		    channel_code_window(db_res_text(&res, 0, 0), error_code);
		db_res_clear(&res);
	}
	/*
	 * The rank lives in SQL too (array_position) so the comparison is
	 * made against the row as it is now, not as we last read it. A held
	 * row only moves for another window failure (it stays held).
	 */
	st = db_query(db, &res,
	    "WITH m AS ("
	    "  SELECT id FROM messages"
	    "   WHERE org_id = $1 AND channel_id = $2"
	    "     AND provider_message_id = $3 AND direction = 'out'"
	    "), u AS ("
	    "  UPDATE messages SET status = CASE WHEN $7::boolean"
	    "             AND template IS NULL THEN 'held' ELSE $4 END,"
	    "         hold_id = CASE WHEN $7::boolean AND template IS NULL"
	    "             THEN NULL ELSE hold_id END,"
	    "         error_code = CASE WHEN $4 = 'failed'"
	    "             THEN NULLIF($5, '') ELSE error_code END,"
	    "         error_text = CASE WHEN $4 = 'failed'"
	    "             THEN NULLIF($6, '') ELSE error_text END,"
	    "         updated_at = now()"
	    "   WHERE org_id = $1 AND id IN (SELECT id FROM m)"
	    "     AND CASE WHEN $4 = 'failed'"
	    "              THEN status NOT IN ('read', 'failed', 'held')"
	    "              ELSE array_position(ARRAY['queued', 'sending',"
	    "                   'sent', 'delivered', 'read'], $4) >"
	    "                   COALESCE(array_position(ARRAY['queued',"
	    "                   'sending', 'sent', 'delivered', 'read'],"
	    "                   status), 99) END"
	    "  RETURNING id, status, chat_id"
	    ")"
	    " SELECT (SELECT count(*) FROM m),"
	    "        (SELECT chat_id FROM u WHERE status = 'held' LIMIT 1)",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(provider_message_id),
	    DB_TEXT(status), DB_TEXT(error_code != NULL ? error_code : ""),
	    DB_TEXT(error_text != NULL ? error_text : ""), DB_BOOL(window),
	    DB_END);
	if (st == DB_OK && db_res_i64(&res, 0, 0) == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK && !db_res_isnull(&res, 0, 1))
		held_chat = db_res_i64(&res, 0, 1);
	db_res_clear(&res);
	if (st != DB_OK || held_chat == 0)
		return st;
	/* Its follow-up template goes by its job at once (no send here: a
	 * webhook must answer quickly). */
	log_info("outbox", "msg=\"held: the provider refused for the "
	    "window\" org=%" PRId64 " chat=%" PRId64 " code=%s", org_id,
	    held_chat, error_code);
	st = window_hold_begin(app, db, org_id, held_chat, false, true, &tmpl);
	if (st != DB_OK)
		log_warn("outbox", "msg=\"hold not begun, the sweep will\" "
		    "org=%" PRId64 " chat=%" PRId64 " status=%s", org_id,
		    held_chat, db_status_str(st));
	return DB_OK;
}

/*
 * DESIGN. Only a row the provider reported failed after accepting it
 * ('sent') is taken back: a 'delivered' or 'read' one reached the
 * contact, and a 'sending' one is its sender's. The backoff is
 * LATER_MIN_S × 4^(attempts - 1) (5 s, 20 s, 80 s, 320 s): Meta's pair
 * limit (131056) clears in seconds to minutes.
 */
enum db_status
outbox_status_later(const struct app *app, struct db *db, int64_t org_id,
    int64_t channel_id, const char *provider_message_id,
    const char *error_code, const char *error_text, bool *requeued)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	int64_t		 job_id = 0, id;
	int		 attempts, delay = LATER_MIN_S;
	bool		 own = false;

	*requeued = false;
	if (provider_message_id == NULL || provider_message_id[0] == '\0' ||
	    app->queue.send_at == NULL)
		return DB_OK;
	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = db_query(db, &res,
	    "UPDATE messages"
	    "   SET status = 'queued', error_code = NULLIF($4, ''),"
	    "       error_text = NULLIF($5, ''), updated_at = now()"
	    " WHERE org_id = $1 AND channel_id = $2"
	    "   AND provider_message_id = $3 AND direction = 'out'"
	    "   AND status = 'sent' AND attempts < $6"
	    " RETURNING id, attempts",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(provider_message_id),
	    DB_TEXT(error_code != NULL ? error_code : ""),
	    DB_TEXT(error_text != NULL ? error_text : ""),
	    DB_I64(OUTBOX_LATER_MAX), DB_END);
	if (st != DB_OK || res.n_rows == 0)
		goto out;
	id = db_res_i64(&res, 0, 0);
	attempts = (int)db_res_i64(&res, 0, 1);
	for (int i = 1; i < attempts && delay < 3600; i++)
		delay *= 4;
	if (!app->queue.send_at(db, org_id, id, delay, &job_id)) {
		st = DB_UNAVAILABLE;
		goto out;
	}
	*requeued = true;
	log_info("outbox", "msg=\"rate-limited after it was sent: queued "
	    "again\" org=%" PRId64 " message=%" PRId64 " code=%s delay_s=%d",
	    org_id, id, error_code != NULL ? error_code : "", delay);
out:
	db_res_clear(&res);
	st = db_tx_leave(db, own, st);
	if (st != DB_OK)
		*requeued = false;
	return st;
}
