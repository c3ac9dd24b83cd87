/*
 * window: the 24-hour window's holds (see window.h).
 *
 * Thread-safe: no shared state.
 */
#include "chat/window.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "chat/outbox.h"
#include "chat/rows.h"
#include "model/followup.h"
#include "model/template.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/context.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define SWEEP_MAX		50
/* Held rows with no hold this old were left by a crash (not a hold
 * being begun right now). */
#define UNATTACHED_AGE_S	30

static enum db_status	 begin_hold(const struct app *, struct db *,
			    int64_t, int64_t, bool, bool, struct outbox_new *);
static enum db_status	 record_followup(const struct app *, struct db *,
			    struct arena *, int64_t, int64_t, int64_t,
			    int64_t, const char *, const char *, const char *,
			    bool, struct outbox_new *);
static bool		 queue_release(const struct app *, struct db *,
			    int64_t, int64_t);

bool
window_is_continue(const char *payload)
{
	size_t	 n = strlen(WINDOW_CONTINUE);

	return payload != NULL && strncmp(payload, WINDOW_CONTINUE, n) == 0 &&
	    (payload[n] == '\0' || payload[n] == ':');
}

static bool
queue_release(const struct app *app, struct db *db, int64_t org_id,
    int64_t hold_id)
{
	if (app == NULL || app->queue.release == NULL)
		return true;	/* no queue (tests): the sweep will */
	return app->queue.release(db, org_id, hold_id);
}

enum db_status
window_hold_begin(const struct app *app, struct db *db, int64_t org_id,
    int64_t chat_id, bool caller_sends, bool provider_closed,
    struct outbox_new *tmpl)
{
	enum db_status	 st;
	bool		 own = false;

	memset(tmpl, 0, sizeof(*tmpl));
	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = begin_hold(app, db, org_id, chat_id, caller_sends,
	    provider_closed, tmpl);
	st = db_tx_leave(db, own, st);
	if (st != DB_OK)
		memset(tmpl, 0, sizeof(*tmpl));
	return st;
}

/*
 * In the caller's transaction: locks the chat, then begins, joins or
 * (window open) releases its hold.
 */
static enum db_status
begin_hold(const struct app *app, struct db *db, int64_t org_id,
    int64_t chat_id, bool caller_sends, bool provider_closed,
    struct outbox_new *tmpl)
{
	struct db_res	 res = { 0 };
	struct arena	*a = arena_new();
	enum db_status	 st;
	int64_t		 channel_id, agent_id, hold_id = 0;
	bool		 open;
	char		*agent_name, *name, *language, *cont;

	st = db_query(db, &res,
	    "SELECT c.channel_id, COALESCE(c.agent_id, ch.default_agent_id, 0),"
	    "       COALESCE(a.name, ''),"
	    "       COALESCE(c.last_inbound_at > now()"
	    "                - make_interval(secs => $3), false)"
	    "  FROM chats c"
	    "  JOIN channels ch ON ch.org_id = $1 AND ch.id = c.channel_id"
	    "  LEFT JOIN agents a ON a.org_id = $1"
	    "       AND a.id = COALESCE(c.agent_id, ch.default_agent_id)"
	    " WHERE c.org_id = $1 AND c.id = $2"
	    "   FOR UPDATE OF c",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(WINDOW_SECONDS), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st != DB_OK)
		goto out;
	channel_id = db_res_i64(&res, 0, 0);
	agent_id = db_res_i64(&res, 0, 1);
	agent_name = arena_strdup(a, db_res_text(&res, 0, 2));
	open = db_res_bool(&res, 0, 3);
	db_res_clear(&res);

	/* An open hold: open again only if the contact wrote since. */
	st = db_query(db, &res,
	    "SELECT h.id, COALESCE(c.last_inbound_at > h.opened_at, false)"
	    "  FROM window_holds h"
	    "  JOIN chats c ON c.org_id = $1 AND c.id = h.chat_id"
	    " WHERE h.org_id = $1 AND h.chat_id = $2"
	    "   AND h.released_at IS NULL",
	    DB_I64(org_id), DB_I64(chat_id), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows == 1) {
		hold_id = db_res_i64(&res, 0, 0);
		open = db_res_bool(&res, 0, 1);
	} else if (provider_closed)
		open = false;
	db_res_clear(&res);

	if (hold_id != 0 && !open) {
		st = outbox_hold_attach(db, org_id, chat_id, hold_id, NULL);
		goto out;
	}
	st = followup_for(db, a, org_id, agent_id, channel_id, &name,
	    &language, &cont);
	if (st != DB_OK)
		goto out;
	if (hold_id == 0) {
		/* A new hold; already released when the window reopened. */
		st = db_query(db, &res,
		    "INSERT INTO window_holds (org_id, chat_id, agent_id,"
		    "       continue_delivers, released_at, released_by)"
		    " VALUES ($1, $2, NULLIF($3::bigint, 0), $4,"
		    "         CASE WHEN $5::boolean THEN now() END,"
		    "         CASE WHEN $5::boolean THEN 'message' ELSE '' END)"
		    " RETURNING id",
		    DB_I64(org_id), DB_I64(chat_id), DB_I64(agent_id),
		    DB_TEXT(cont), DB_BOOL(open), DB_END);
		if (st != DB_OK)
			goto out;
		hold_id = db_res_i64(&res, 0, 0);
		db_res_clear(&res);
	} else {
		/* Open again meanwhile: the open hold is released now. */
		st = db_exec(db,
		    "UPDATE window_holds"
		    "   SET released_at = now(), released_by = 'message'"
		    " WHERE org_id = $1 AND id = $2 AND released_at IS NULL",
		    DB_I64(org_id), DB_I64(hold_id), DB_END);
		if (st != DB_OK)
			goto out;
	}
	if ((st = outbox_hold_attach(db, org_id, chat_id, hold_id, NULL)) !=
	    DB_OK)
		goto out;
	if (open) {
		if (!queue_release(app, db, org_id, hold_id))
			st = DB_UNAVAILABLE;
		goto out;
	}
	st = record_followup(app, db, a, org_id, chat_id, channel_id, hold_id,
	    name, language, agent_name, caller_sends, tmpl);
	if (st == DB_NOT_FOUND || st == DB_INVALID) {
		/* No template to send: the hold says why; a message from the
		 * contact still releases it. */
		st = db_exec(db,
		    "UPDATE window_holds SET template_error = $3"
		    " WHERE org_id = $1 AND id = $2",
		    DB_I64(org_id), DB_I64(hold_id), DB_TEXT(arena_printf(a,
		    "No approved template named \"%s\"%s%s on this channel: "
		    "sync its templates, or set the agent's follow-up "
		    "template. The held messages go out when the contact "
		    "writes.", name, language[0] != '\0' ? " in " : "",
		    language)), DB_END);
		memset(tmpl, 0, sizeof(*tmpl));
		goto out;
	}
	if (st == DB_OK)
		st = db_exec(db,
		    "UPDATE window_holds SET template_message_id = $3"
		    " WHERE org_id = $1 AND id = $2",
		    DB_I64(org_id), DB_I64(hold_id), DB_I64(tmpl->message_id),
		    DB_END);
out:
	db_res_clear(&res);
	arena_free(a);
	return st;
}

/*
 * The follow-up template of a new hold, recorded (not sent). Its
 * variables carry the agent's name (a follow-up template rarely has any);
 * its first quick-reply button carries our Continue payload with the hold
 * id (Meta and Kapso; Twilio's buttons carry the id set in the template).
 * DB_NOT_FOUND when the channel has no such approved template.
 */
static enum db_status
record_followup(const struct app *app, struct db *db, struct arena *a,
    int64_t org_id, int64_t chat_id, int64_t channel_id, int64_t hold_id,
    const char *name, const char *language, const char *agent_name,
    bool caller_sends, struct outbox_new *tmpl)
{
	struct template	 t;
	enum db_status	 st;
	cJSON		*spec, *values, *params, *qr, *buttons, *p;
	const cJSON	*b;
	int		 index = 0;

	if ((st = template_find(db, a, org_id, channel_id, name, language,
	    &t)) != DB_OK)
		return st;
	values = cJSON_CreateObject();
	params = template_params(&t, values, false, NULL, 0);
	cJSON_Delete(values);
	cJSON_ArrayForEach(p, params)
		cJSON_ReplaceItemInObjectCaseSensitive(p, "value",
		    cJSON_CreateString(agent_name[0] != '\0' ? agent_name :
		    "us"));
	spec = cJSON_CreateObject();
	cJSON_AddNumberToObject(spec, "template_id", (double)t.id);
	cJSON_AddStringToObject(spec, "name", t.name);
	cJSON_AddStringToObject(spec, "language", t.language);
	cJSON_AddStringToObject(spec, "content_sid", t.provider_id);
	cJSON_AddStringToObject(spec, "format", t.format);
	cJSON_AddItemToObject(spec, "params", cJSON_Duplicate(params, true));
	qr = cJSON_AddArrayToObject(spec, "quick_replies");
	buttons = json_parse_str(t.buttons, NULL);
	cJSON_ArrayForEach(b, buttons) {
		if (str_eq(json_str_or(b, "type", ""), "QUICK_REPLY")) {
			cJSON	*o = cJSON_CreateObject();

			cJSON_AddNumberToObject(o, "index", index);
			cJSON_AddStringToObject(o, "payload", arena_printf(a,
			    WINDOW_CONTINUE ":%" PRId64, hold_id));
			cJSON_AddItemToArray(qr, o);
			break;
		}
		index++;
	}
	cJSON_Delete(buttons);
	st = outbox_record_template(app, db, org_id, chat_id, 0, spec,
	    template_preview(a, &t, params), caller_sends ? OUTBOX_SAFETY_S :
	    0, tmpl);
	cJSON_Delete(spec);
	cJSON_Delete(params);
	return st;
}

/* --- release ------------------------------------------------------------ */

enum db_status
window_inbound(const struct app *app, struct db *db,
    const struct window_seen *seen, int n)
{
	struct db_res	 res = { 0 };
	struct buf	 orgs, msgs, conts;
	enum db_status	 st;

	if (n <= 0)
		return DB_OK;
	buf_init(&orgs, 0);
	buf_init(&msgs, 0);
	buf_init(&conts, 0);
	for (int i = 0; i < n; i++) {
		buf_printf(&orgs, "%s%" PRId64, i > 0 ? "," : "{",
		    seen[i].org_id);
		buf_printf(&msgs, "%s%" PRId64, i > 0 ? "," : "{",
		    seen[i].message_id);
		buf_printf(&conts, "%s%s", i > 0 ? "," : "{",
		    seen[i].is_continue ? "t" : "f");
	}
	buf_putc(&orgs, '}');
	buf_putc(&msgs, '}');
	buf_putc(&conts, '}');
	/* Each row names its own org (a batch spans organisations). */
	st = db_query(db, &res,
	    "WITH t AS ("
	    "  SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::boolean[])"
	    "      AS t(org_id, message_id, cont)"
	    "), c AS ("
	    "  SELECT m.org_id, m.chat_id, bool_or(t.cont) AS cont,"
	    "         max(m.id) AS mid"
	    /* One primary-key probe per message: OFFSET 0 keeps the
	     * planner from hashing the whole messages table against the
	     * batch (it costs every webhook batch; bench/run.sh). */
	    "    FROM t CROSS JOIN LATERAL ("
	    "         SELECT x.org_id, x.chat_id, x.id FROM messages x"
	    "          WHERE x.id = t.message_id AND x.org_id = t.org_id"
	    "         OFFSET 0) m"
	    "   GROUP BY m.org_id, m.chat_id"
	    ")"
	    " UPDATE window_holds h"
	    "    SET released_at = now(),"
	    "        released_by = CASE WHEN c.cont THEN 'continue'"
	    "                      ELSE 'message' END,"
	    "        released_by_message_id = c.mid"
	    "   FROM c"
	    "  WHERE h.org_id = c.org_id AND h.chat_id = c.chat_id"
	    "    AND h.released_at IS NULL"
	    " RETURNING h.org_id, h.id",
	    DB_TEXT(buf_str(&orgs)), DB_TEXT(buf_str(&msgs)),
	    DB_TEXT(buf_str(&conts)), DB_END);
	for (int i = 0; st == DB_OK && i < res.n_rows; i++) {
		log_info("window", "msg=\"window reopened, hold released\" "
		    "org=%" PRId64 " hold=%" PRId64, db_res_i64(&res, i, 0),
		    db_res_i64(&res, i, 1));
		if (!queue_release(app, db, db_res_i64(&res, i, 0),
		    db_res_i64(&res, i, 1)))
			st = DB_UNAVAILABLE;
	}
	db_res_clear(&res);
	buf_cleanup(&orgs);
	buf_cleanup(&msgs);
	buf_cleanup(&conts);
	return st;
}

enum window_release
window_release(const struct app *app, int64_t org_id, int64_t hold_id,
    char *err, size_t errlen)
{
	struct db_res		 res = { 0 };
	struct outbox_send	 s;
	struct outbox_row	*rows = NULL;
	struct arena		*a = arena_new();
	struct db		*db;
	enum window_release	 wr = WINDOW_UNAVAILABLE;
	enum outbox_result	 r;
	enum db_status		 st;
	int			 n = 0;

	snprintf(err, errlen, "The database is unavailable.");
	if ((db = db_acquire(app->db)) == NULL)
		goto out;
	if ((st = db_tx_begin(db)) != DB_OK)
		goto release;
	st = db_query(db, &res,
	    "SELECT continue_delivers = 'latest',"
	    "       COALESCE(template_message_id, 0), released_at IS NOT NULL"
	    "  FROM window_holds"
	    " WHERE org_id = $1 AND id = $2"
	    "   FOR UPDATE",
	    DB_I64(org_id), DB_I64(hold_id), DB_END);
	if (st == DB_OK && res.n_rows == 1 && db_res_bool(&res, 0, 2))
		st = outbox_hold_release(db, org_id, hold_id,
		    db_res_bool(&res, 0, 0), db_res_i64(&res, 0, 1));
	db_res_clear(&res);
	if (st == DB_OK)
		st = db_tx_commit(db);
	else
		db_tx_rollback(db);
	if (st == DB_OK)
		st = outbox_hold_pending(db, a, org_id, hold_id, &rows, &n);
release:
	db_release(db);
	if (st != DB_OK)
		goto out;
	/* In order; this job is the rows' only sender now. */
	wr = WINDOW_RELEASED;
	for (int i = 0; i < n; i++) {
		memset(&s, 0, sizeof(s));
		s.app = app;
		s.a = a;
		s.org_id = org_id;
		s.message_id = rows[i].id;
		s.gated = rows[i].is_reply;
		s.recover = true;
		r = outbox_send(&s);
		log_info("window", "msg=\"held message released\" org=%" PRId64
		    " hold=%" PRId64 " message=%" PRId64 " result=%s", org_id,
		    hold_id, rows[i].id, outbox_result_str(r));
		if (r == OUTBOX_LATER) {
			snprintf(err, errlen, "The provider asked to try later "
			    "(HTTP %d): %s", s.o.http_status, s.o.error_text);
			wr = WINDOW_LATER;
			break;
		}
		if (r == OUTBOX_UNAVAILABLE) {
			snprintf(err, errlen, "The database is unavailable.");
			wr = WINDOW_UNAVAILABLE;
			break;
		}
	}
out:
	arena_free(a);
	return wr;
}

enum db_status
window_release_failed(const struct app *app, struct db *db, int64_t org_id,
    int64_t hold_id, const char *why)
{
	struct outbox_row	*rows = NULL;
	struct arena		*a = arena_new();
	enum db_status		 st;
	int			 n = 0;

	(void)app;
	st = outbox_hold_pending(db, a, org_id, hold_id, &rows, &n);
	for (int i = 0; st == DB_OK && i < n; i++) {
		st = outbox_give_up_one(db, org_id, rows[i].id, arena_printf(a,
		    "Not sent: the release of the held messages gave up (%s)",
		    why != NULL && why[0] != '\0' ? why : "no reason given"));
		if (st == DB_NOT_FOUND)
			st = DB_OK;
	}
	arena_free(a);
	return st;
}

enum db_status
window_sweep_any_org(const struct app *app, struct db *db, int *n)
{
	struct db_res		 res = { 0 };
	struct outbox_new	 tmpl;
	int64_t			 orgs[SWEEP_MAX], chats[SWEEP_MAX];
	enum db_status		 st;
	int			 k = 0;
	bool			 own = false;

	*n = 0;
	st = outbox_unattached_any_org(db, UNATTACHED_AGE_S, SWEEP_MAX, orgs,
	    chats, &k);
	for (int i = 0; st == DB_OK && i < k; i++) {
		st = window_hold_begin(app, db, orgs[i], chats[i], false,
		    false, &tmpl);
		if (st == DB_OK)
			(*n)++;
		else if (st == DB_NOT_FOUND)
			st = DB_OK;
	}
	if (st != DB_OK)
		return st;
	/* Open holds whose chat wrote since they opened: a missed release. */
	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = db_query(db, &res,
	    "UPDATE window_holds h"
	    "   SET released_at = now(), released_by = 'message'"
	    "  FROM chats c"
	    " WHERE c.org_id = h.org_id AND c.id = h.chat_id"
	    "   AND h.released_at IS NULL AND c.last_inbound_at > h.opened_at"
	    " RETURNING h.org_id, h.id",
	    DB_END);
	for (int i = 0; st == DB_OK && i < res.n_rows; i++) {
		if (!queue_release(app, db, db_res_i64(&res, i, 0),
		    db_res_i64(&res, i, 1)))
			st = DB_UNAVAILABLE;
		else
			(*n)++;
	}
	db_res_clear(&res);
	return db_tx_leave(db, own, st);
}

/* --- the view ----------------------------------------------------------- */

enum db_status
window_view(struct db *db, struct arena *a, int64_t org_id, int64_t chat_id,
    struct window_view *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	out->opened_at = "";
	out->template_status = "";
	out->template_error = "";
	st = db_query(db, &res,
	    "SELECT h.id,"
	    "       to_char(h.opened_at AT TIME ZONE 'UTC',"
	    "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    "       COALESCE(h.template_message_id, 0),"
	    "       COALESCE(m.status, ''), h.template_error"
	    "  FROM window_holds h"
	    "  LEFT JOIN messages m ON m.org_id = $1"
	    "       AND m.id = h.template_message_id"
	    " WHERE h.org_id = $1 AND h.chat_id = $2"
	    "   AND h.released_at IS NULL",
	    DB_I64(org_id), DB_I64(chat_id), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows == 1) {
		out->has_hold = true;
		out->hold_id = db_res_i64(&res, 0, 0);
		out->opened_at = chat_col(a, &res, 0, 1);
		out->template_message_id = db_res_i64(&res, 0, 2);
		out->template_status = chat_col(a, &res, 0, 3);
		out->template_error = chat_col(a, &res, 0, 4);
	}
	db_res_clear(&res);
	st = outbox_held_list(db, a, org_id, chat_id, &out->held,
	    &out->n_held);
	/* Held rows not in a hold yet (being begun) still show. */
	if (st == DB_OK && out->n_held > 0)
		out->has_hold = true;
out:
	db_res_clear(&res);
	return st;
}
