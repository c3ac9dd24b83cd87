/*
 * handoff: human takeover (see handoff.h). Owns the handoff columns of
 * `chats` and the table `handoffs`; every statement names org_id = $1 except the sweep, which
 * walks every organisation on purpose (it runs from the worker's timer,
 * with no organisation of its own) and then acts per chat and org.
 *
 * DESIGN. The status is the one source of truth and each transition is a
 * single conditional UPDATE, so the losers of a race change nothing. The
 * reply pool never trusts a status it read earlier: the send of each
 * part re-checks it (outbox_send, gated). A member's reply claims the
 * chat in the same statement that checks it is not closed, and its
 * message is recorded in the same transaction; it is sent after, with no
 * connection held (the caller's outbox_send).
 *
 * A model's handoff (handoff_ask) writes its `handoffs` row and the
 * chat's status in one transaction, so neither exists without the other.
 *
 * The messages of a chat that change hands are settled with it (no
 * message left behind): a claim settles what waited ("a person took the
 * chat"), a member's reply answers it, a close settles it, a return to
 * the AI makes the chat's turn due so the agent answers it.
 *
 * Thread-safe: no shared state.
 */
#include "chat/handoff.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"
#include "chat/messages.h"
#include "chat/outbox.h"
#include "chat/threads.h"
#include "model/audit.h"
#include "util/arena.h"
#include "util/context.h"
#include "util/str.h"

#define SWEEP_BATCH		100
#define UNCLAIMED_MAX		200

static bool		 word_char(unsigned char);
static bool		 match_at(const char *, size_t, const char *, size_t);
static enum db_status	 transition(struct db *, int64_t, int64_t,
			    const char *, const char *, const char *);
static enum db_status	 reply(const struct app *, struct db *, int64_t,
			    int64_t, int64_t, const char *,
			    const struct outbox_media *, struct outbox_new *);
static enum db_status	 take_chat(struct db *, int64_t, int64_t, int64_t,
			    bool);

static bool
word_char(unsigned char c)
{
	return isalnum(c) || c >= 0x80;
}

/* kw (kw_len bytes) at body+off, bounded on both sides. */
static bool
match_at(const char *body, size_t off, const char *kw, size_t kw_len)
{
	size_t	 len = strlen(body);

	if (off + kw_len > len || strncasecmp(body + off, kw, kw_len) != 0)
		return false;
	if (off > 0 && word_char((unsigned char)body[off - 1]) &&
	    word_char((unsigned char)kw[0]))
		return false;
	if (off + kw_len < len && word_char((unsigned char)body[off +
	    kw_len]) && word_char((unsigned char)kw[kw_len - 1]))
		return false;
	return true;
}

bool
handoff_keyword_match(const char *body, const char *const *keywords, int n)
{
	if (body == NULL)
		return false;
	for (int i = 0; i < n; i++) {
		const char	*kw = keywords[i];
		size_t		 kw_len, b, e;

		if (kw == NULL)
			continue;
		/* Surrounding blanks are not part of the phrase. */
		for (b = 0; kw[b] == ' ' || kw[b] == '\t'; b++)
			;
		e = strlen(kw);
		while (e > b && (kw[e - 1] == ' ' || kw[e - 1] == '\t'))
			e--;
		kw_len = e - b;
		if (kw_len == 0)
			continue;
		for (size_t off = 0; body[off] != '\0'; off++)
			if (match_at(body, off, kw + b, kw_len))
				return true;
	}
	return false;
}

enum handoff_answerer
handoff_answerer(const char *status, const char *reason,
    int64_t assigned_user_id, const char *owner)
{
	if (str_eq(status, "ai"))
		return owner == NULL || str_eq(owner, "parley") ? HANDOFF_AI :
		    HANDOFF_OTHER_APP;
	if (str_eq(status, "closed"))
		return HANDOFF_REOPEN;
	if (str_eq(status, "needs_human") &&
	    str_eq(reason, HANDOFF_REASON_OUTAGE) && assigned_user_id == 0)
		return HANDOFF_PROBE;
	return HANDOFF_PERSON;
}

/*
 * One statement (the row locked in the FROM so the old values decide):
 * the outage's start kept or set, its age against the agent's notice and
 * window, the chat moved to needs_human when the window is spent, and
 * the turn due again after the pause: a third of the outage so far,
 * between 2 and 60 s (5 and 300 s once a person is asked), never past
 * the window's end before the handoff, never before the provider's
 * Retry-After.
 */
enum db_status
handoff_outage(struct db *db, int64_t org_id, int64_t chat_id,
    int64_t agent_id, int window_s, int notice_s, int retry_after_ms,
    enum handoff_outage *what, int *retry_s)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*what = HANDOFF_OUTAGE_WAIT;
	if (retry_s != NULL)
		*retry_s = 0;
	st = db_query(db, &res,
	    "WITH old AS ("
	    "  SELECT id, status, outage_noticed,"
	    "         extract(epoch FROM now() - COALESCE(outage_since,"
	    "             now())) AS age,"
	    "         COALESCE(NULLIF(display_name, ''), external_id) AS who"
	    "    FROM chats WHERE org_id = $1 AND id = $2 FOR UPDATE"
	    "), d AS ("
	    "  SELECT old.*,"
	    "         old.status = 'ai' AND old.age >= $3 AS hand,"
	    "         old.status = 'ai' AND old.age < $3 AND old.age >= $4"
	    "             AND NOT old.outage_noticed AS notice"
	    "    FROM old"
	    "), p AS ("
	    "  SELECT d.*, GREATEST($5::bigint / 1000.0, CASE"
	    "           WHEN d.hand OR d.status <> 'ai'"
	    "           THEN LEAST(GREATEST(d.age / 3, 5), 300)"
	    "           ELSE LEAST(GREATEST(d.age / 3, 2), 60,"
	    "                GREATEST($3 - d.age, 1)) END) AS pause"
	    "    FROM d"
	    "), h AS ("
	    "  INSERT INTO handoffs (org_id, agent_id, reason, contact)"
	    "  SELECT $1, NULLIF($7::bigint, 0), $8, p.who FROM p WHERE p.hand"
	    ")"
	    " UPDATE chats c"
	    "    SET outage_since = COALESCE(c.outage_since, now()),"
	    "        outage_noticed = c.outage_noticed OR p.notice,"
	    "        status = CASE WHEN p.hand THEN 'needs_human'"
	    "                 ELSE c.status END,"
	    "        status_changed_at = CASE WHEN p.hand THEN now()"
	    "                 ELSE c.status_changed_at END,"
	    "        handoff_reason = CASE WHEN p.hand THEN $6"
	    "                 ELSE c.handoff_reason END,"
	    "        assigned_user_id = CASE WHEN p.hand THEN NULL"
	    "                 ELSE c.assigned_user_id END,"
	    "        turn_due_at = LEAST(c.turn_due_at,"
	    "            now() + make_interval(secs => p.pause))"
	    "   FROM p WHERE c.org_id = $1 AND c.id = p.id"
	    " RETURNING p.hand, p.notice, ceil(p.pause)::bigint,"
	    "        pg_notify('" APP_JOBS_CHANNEL "', '')",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(window_s),
	    DB_I64(notice_s), DB_I64(retry_after_ms),
	    DB_TEXT(HANDOFF_REASON_OUTAGE), DB_I64(agent_id),
	    DB_TEXT(HANDOFF_OUTAGE_TEXT), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK) {
		if (db_res_bool(&res, 0, 0))
			*what = HANDOFF_OUTAGE_HANDOFF;
		else if (db_res_bool(&res, 0, 1))
			*what = HANDOFF_OUTAGE_NOTICE;
		if (retry_s != NULL)
			*retry_s = (int)db_res_i64(&res, 0, 2);
	}
	db_res_clear(&res);
	if (*what == HANDOFF_OUTAGE_HANDOFF)
		log_info("handoff", "msg=\"chat needs a person: the model was "
		    "unavailable for the agent's window\" org=%" PRId64
		    " chat=%" PRId64, org_id, chat_id);
	return st;
}

enum db_status
handoff_outage_over(struct db *db, int64_t org_id, int64_t chat_id,
    bool *returned)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	if (returned != NULL)
		*returned = false;
	st = db_query(db, &res,
	    "UPDATE chats c"
	    "   SET outage_since = NULL, outage_noticed = false,"
	    "       status = CASE WHEN old.back THEN 'ai' ELSE c.status END,"
	    "       status_changed_at = CASE WHEN old.back THEN now()"
	    "           ELSE c.status_changed_at END,"
	    "       handoff_reason = CASE WHEN old.back THEN ''"
	    "           ELSE c.handoff_reason END"
	    "  FROM (SELECT id, status = 'needs_human' AND handoff_reason = $3"
	    "               AND assigned_user_id IS NULL AS back"
	    "          FROM chats WHERE org_id = $1 AND id = $2"
	    "           FOR UPDATE) old"
	    " WHERE c.org_id = $1 AND c.id = old.id"
	    "   AND (c.outage_since IS NOT NULL OR old.back)"
	    " RETURNING old.back",
	    DB_I64(org_id), DB_I64(chat_id), DB_TEXT(HANDOFF_REASON_OUTAGE),
	    DB_END);
	if (st == DB_OK && res.n_rows == 1 && returned != NULL)
		*returned = db_res_bool(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
handoff_request(struct db *db, int64_t org_id, int64_t chat_id,
    const char *reason, bool *changed)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*changed = false;
	st = db_query(db, &res,
	    "WITH upd AS ("
	    "  UPDATE chats SET status = 'needs_human',"
	    "         status_changed_at = now(), handoff_reason = $3,"
	    "         assigned_user_id = NULL, outage_since = NULL,"
	    "         outage_noticed = false"
	    "   WHERE org_id = $1 AND id = $2 AND status = 'ai'"
	    "  RETURNING id"
	    ")"
	    " SELECT (SELECT count(*) FROM upd),"
	    "        (SELECT count(*) FROM chats WHERE org_id = $1 AND id = $2)",
	    DB_I64(org_id), DB_I64(chat_id),
	    DB_TEXT(reason != NULL ? reason : ""), DB_END);
	if (st == DB_OK) {
		*changed = db_res_i64(&res, 0, 0) == 1;
		if (db_res_i64(&res, 0, 1) == 0)
			st = DB_NOT_FOUND;
	}
	db_res_clear(&res);
	if (*changed)
		log_info("handoff", "msg=\"chat needs a person\" org=%" PRId64
		    " chat=%" PRId64 " reason=\"%s\"", org_id, chat_id,
		    reason != NULL ? reason : "");
	return st;
}

enum db_status
handoff_ask(struct db *db, int64_t org_id, const struct handoff_ask *ask,
    int64_t *id, bool *changed)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	bool		 own = false;
	const char	*reason = ask->reason != NULL ? ask->reason : "";

	*id = 0;
	*changed = false;
	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = db_query(db, &res,
	    "INSERT INTO handoffs (org_id, agent_id, llm_call_id, reason,"
	    "       contact)"
	    " VALUES ($1, NULLIF($2::bigint, 0), NULLIF($3::bigint, 0), $4, $5)"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(ask->agent_id), DB_I64(ask->llm_call_id),
	    DB_TEXT(reason), DB_TEXT(ask->contact != NULL ? ask->contact : ""),
	    DB_END);
	if (st == DB_OK)
		*id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	if (st == DB_OK && ask->chat_id != 0)
		st = handoff_request(db, org_id, ask->chat_id,
		    reason[0] != '\0' ? reason : HANDOFF_REASON_MODEL, changed);
	return db_tx_leave(db, own, st);
}

enum db_status
handoff_status(struct db *db, int64_t org_id, int64_t chat_id, char out[16])
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	out[0] = '\0';
	st = db_query(db, &res,
	    "SELECT status FROM chats WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(chat_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		snprintf(out, 16, "%s", db_res_text(&res, 0, 0));
	db_res_clear(&res);
	return st;
}

/*
 * One statement reads the status and owner and, for an idle thread of
 * another app, takes it back (the UPDATE names the owner it leaves, so a
 * handover racing it wins or loses cleanly); the note follows.
 */
enum db_status
handoff_ours(struct db *db, int64_t org_id, int64_t chat_id,
    int64_t message_id, char status[16], bool *ours)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	bool		 back = false;

	*ours = false;
	if (status != NULL)
		status[0] = '\0';
	st = db_query(db, &res,
	    "WITH c AS ("
	    "  SELECT status, owner FROM chats WHERE org_id = $1 AND id = $2"
	    "), idle AS ("
	    "  UPDATE chats ch SET owner = 'parley', owner_changed_at = now()"
	    "   WHERE ch.org_id = $1 AND ch.id = $2 AND ch.owner = 'other_app'"
	    "     AND ch.status = 'ai' AND $3::bigint > 0"
	    "     AND COALESCE(ch.owner_changed_at, '-infinity') <"
	    "         (SELECT m.created_at - interval '24 hours'"
	    "            FROM messages m"
	    "           WHERE m.org_id = $1 AND m.id = $3 AND m.chat_id = $2)"
	    "     AND NOT EXISTS (SELECT 1 FROM messages p, messages m"
	    "          WHERE m.org_id = $1 AND m.id = $3"
	    "            AND p.org_id = $1 AND p.chat_id = $2"
	    "            AND p.direction = 'in' AND p.id < m.id"
	    "            AND p.created_at > m.created_at"
	    "                - interval '24 hours')"
	    "  RETURNING ch.id"
	    ")"
	    " SELECT c.status, c.owner = 'parley',"
	    "        EXISTS (SELECT 1 FROM idle)"
	    "   FROM c",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(message_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK) {
		if (status != NULL)
			snprintf(status, 16, "%s", db_res_text(&res, 0, 0));
		back = db_res_bool(&res, 0, 2);
		*ours = str_eq(db_res_text(&res, 0, 0), "ai") &&
		    (db_res_bool(&res, 0, 1) || back);
	}
	db_res_clear(&res);
	if (back) {
		log_info("handoff", "msg=\"another app's thread idled, "
		    "Parley answers again\" org=%" PRId64 " chat=%" PRId64,
		    org_id, chat_id);
		st = chat_note_add(db, org_id, chat_id, "The thread another "
		    "app owned has been idle for 24 hours: Parley answers "
		    "again.");
	}
	return st;
}

enum db_status
handoff_business_app(struct db *db, int64_t org_id, int64_t chat_id,
    bool *changed)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*changed = false;
	st = db_query(db, &res,
	    "WITH old AS ("
	    "  SELECT status FROM chats WHERE org_id = $1 AND id = $2"
	    "   FOR UPDATE"
	    "), upd AS ("
	    "  UPDATE chats c SET status = 'human',"
	    "         status_changed_at = CASE WHEN old.status = 'human'"
	    "             THEN c.status_changed_at ELSE now() END,"
	    "         handoff_reason = CASE WHEN old.status = 'human'"
	    "             THEN c.handoff_reason ELSE $3 END,"
	    "         last_human_at = now()"
	    "    FROM old"
	    "   WHERE c.org_id = $1 AND c.id = $2"
	    "  RETURNING old.status <> 'human'"
	    ")"
	    " SELECT * FROM upd",
	    DB_I64(org_id), DB_I64(chat_id),
	    DB_TEXT(HANDOFF_REASON_BUSINESS_APP), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		*changed = db_res_bool(&res, 0, 0);
	db_res_clear(&res);
	if (*changed)
		log_info("handoff", "msg=\"the business wrote from the "
		    "WhatsApp Business app: a person has the chat\" org=%" PRId64
		    " chat=%" PRId64, org_id, chat_id);
	return st;
}

enum db_status
handoff_reopen(struct db *db, int64_t org_id, int64_t chat_id,
    bool *reopened)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*reopened = false;
	st = db_query(db, &res,
	    "UPDATE chats SET status = 'ai', status_changed_at = now(),"
	    "       assigned_user_id = NULL"
	    " WHERE org_id = $1 AND id = $2 AND status = 'closed'"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(chat_id), DB_END);
	if (st == DB_OK)
		*reopened = res.n_rows == 1;
	db_res_clear(&res);
	return st;
}

/*
 * from (a SQL list of quoted states) → to, and the thread closed with
 * close_reason when that is not NULL; one transaction. DB_NOT_FOUND: not
 * the org's chat; DB_CONFLICT: the chat is in none of from.
 */
static enum db_status
transition(struct db *db, int64_t org_id, int64_t chat_id, const char *from,
    const char *to, const char *close_reason)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	bool		 own = false;

	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = db_query(db, &res,
	    "WITH upd AS ("
	    "  UPDATE chats SET status = $4, status_changed_at = now(),"
	    "         assigned_user_id = NULL, outage_since = NULL,"
	    "         outage_noticed = false"
	    "   WHERE org_id = $1 AND id = $2"
	    "     AND status = ANY (string_to_array($3, ','))"
	    "  RETURNING id"
	    ")"
	    " SELECT (SELECT count(*) FROM upd),"
	    "        (SELECT count(*) FROM chats WHERE org_id = $1 AND id = $2)",
	    DB_I64(org_id), DB_I64(chat_id), DB_TEXT(from), DB_TEXT(to),
	    DB_END);
	if (st != DB_OK)
		goto out;
	if (db_res_i64(&res, 0, 1) == 0)
		st = DB_NOT_FOUND;
	else if (db_res_i64(&res, 0, 0) == 0)
		st = DB_CONFLICT;
	if (st == DB_OK && close_reason != NULL)
		st = chat_thread_close(db, org_id, chat_id, close_reason);
out:
	db_res_clear(&res);
	return db_tx_leave(db, own, st);
}

/*
 * ai|needs_human|human → human for user_id (keep_assignee: a chat that
 * is already human keeps the member it is assigned to), last_human_at
 * now. DB_NOT_FOUND: not the org's chat; DB_CONFLICT: closed.
 */
static enum db_status
take_chat(struct db *db, int64_t org_id, int64_t chat_id, int64_t user_id,
    bool keep_assignee)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "WITH upd AS ("
	    "  UPDATE chats SET status = 'human',"
	    "         status_changed_at = CASE WHEN status = 'human'"
	    "             THEN status_changed_at ELSE now() END,"
	    "         assigned_user_id = CASE WHEN $4 AND status = 'human'"
	    "             AND assigned_user_id IS NOT NULL"
	    "             THEN assigned_user_id ELSE $3 END,"
	    "         last_human_at = now()"
	    "   WHERE org_id = $1 AND id = $2 AND status <> 'closed'"
	    "  RETURNING id"
	    ")"
	    " SELECT (SELECT count(*) FROM upd),"
	    "        (SELECT count(*) FROM chats WHERE org_id = $1 AND id = $2)",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(user_id),
	    DB_BOOL(keep_assignee), DB_END);
	if (st == DB_OK) {
		if (db_res_i64(&res, 0, 1) == 0)
			st = DB_NOT_FOUND;
		else if (db_res_i64(&res, 0, 0) == 0)
			st = DB_CONFLICT;
	}
	db_res_clear(&res);
	return st;
}

enum db_status
handoff_claim(struct db *db, int64_t org_id, int64_t chat_id,
    int64_t user_id)
{
	enum db_status	 st;
	bool		 own = false;

	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = take_chat(db, org_id, chat_id, user_id, false);
	if (st == DB_OK)
		st = chat_turn_settle(db, org_id, chat_id, NULL, -1, 0,
		    "Not answered by the AI: a person took the chat.");
	return db_tx_leave(db, own, st);
}

enum db_status
handoff_return(struct db *db, int64_t org_id, int64_t chat_id)
{
	enum db_status	 st;
	bool		 own = false;

	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = transition(db, org_id, chat_id, "needs_human,human", "ai",
	    "handoff");
	if (st == DB_OK)
		st = chat_turn_due_if_pending(db, org_id, chat_id);
	return db_tx_leave(db, own, st);
}

enum db_status
handoff_reset(struct db *db, int64_t org_id, int64_t chat_id)
{
	enum db_status	 st;
	bool		 own = false;

	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = transition(db, org_id, chat_id, "ai,needs_human,human,closed",
	    "ai", "reset");
	if (st == DB_OK)
		st = chat_turn_settle(db, org_id, chat_id, NULL, -1, 0,
		    "Not answered: the chat was reset.");
	return db_tx_leave(db, own, st);
}

enum db_status
handoff_close(struct db *db, int64_t org_id, int64_t chat_id)
{
	enum db_status	 st;
	bool		 own = false;

	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = transition(db, org_id, chat_id, "ai,needs_human,human",
	    "closed", "closed");
	if (st == DB_OK)
		st = chat_turn_settle(db, org_id, chat_id, NULL, -1, 0,
		    "Not answered: the chat was closed.");
	return db_tx_leave(db, own, st);
}

enum db_status
handoff_reply(const struct app *app, struct db *db, int64_t org_id,
    int64_t chat_id, int64_t user_id, const char *body,
    struct outbox_new *out)
{
	return reply(app, db, org_id, chat_id, user_id, body, NULL, out);
}

enum db_status
handoff_reply_media(const struct app *app, struct db *db, int64_t org_id,
    int64_t chat_id, int64_t user_id, const struct outbox_media *m,
    struct outbox_new *out)
{
	return reply(app, db, org_id, chat_id, user_id, NULL, m, out);
}

/* A person's reply: text body, or media m. */
static enum db_status
reply(const struct app *app, struct db *db, int64_t org_id, int64_t chat_id,
    int64_t user_id, const char *body, const struct outbox_media *m,
    struct outbox_new *out)
{
	enum db_status	 st;
	bool		 own = false;

	memset(out, 0, sizeof(*out));
	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	/* A reply takes the chat (keeping its assignee if already human). */
	st = take_chat(db, org_id, chat_id, user_id, true);
	if (st == DB_OK && m != NULL)
		st = outbox_record_media(app, db, org_id, chat_id, user_id, m,
		    out);
	else if (st == DB_OK)
		st = outbox_record_human(app, db, org_id, chat_id, user_id,
		    body, out);
	/* What waited is answered by the person's reply. */
	if (st == DB_OK)
		st = chat_turn_settle(db, org_id, chat_id, NULL, -1,
		    out->message_id, NULL);
	if (st == DB_OK)
		log_info("handoff", "msg=\"member replied\" org=%" PRId64
		    " chat=%" PRId64 " user=%" PRId64 " message=%" PRId64,
		    org_id, chat_id, user_id, out->message_id);
	return db_tx_leave(db, own, st);
}

enum db_status
handoff_count_waiting(struct db *db, int64_t org_id, int64_t *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*n = 0;
	/* chats_status_idx (org_id, status, …): an index-only count. */
	st = db_query(db, &res,
	    "SELECT count(*) FROM chats"
	    " WHERE org_id = $1 AND status = 'needs_human'",
	    DB_I64(org_id), DB_END);
	if (st == DB_OK)
		*n = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
handoff_unclaimed(struct db *db, struct arena *a, int64_t org_id, int limit,
    struct handoff_waiting **out, int *n, int *minutes)
{
	struct db_res		 res = { 0 };
	struct handoff_waiting	*w;
	enum db_status		 st;

	*out = NULL;
	*n = 0;
	*minutes = 0;
	if (limit < 1 || limit > UNCLAIMED_MAX)
		limit = UNCLAIMED_MAX;
	st = db_query(db, &res,
	    "SELECT o.handoff_unclaimed_minutes, c.id, c.display_name,"
	    "       c.external_id, c.handoff_reason,"
	    "       to_char(c.status_changed_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    "       floor(extract(epoch FROM now() - c.status_changed_at)"
	    "           / 60)::bigint"
	    "  FROM orgs o"
	    "  LEFT JOIN chats c ON c.org_id = o.id AND c.status = 'needs_human'"
	    "   AND c.status_changed_at < now()"
	    "       - make_interval(mins => o.handoff_unclaimed_minutes)"
	    " WHERE o.id = $1"
	    " ORDER BY c.status_changed_at, c.id"
	    " LIMIT $2",
	    DB_I64(org_id), DB_I64(limit), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows == 0) {
		st = DB_NOT_FOUND;
		goto out;
	}
	*minutes = (int)db_res_i64(&res, 0, 0);
	w = arena_alloc(a, sizeof(*w) * (size_t)(res.n_rows + 1));
	for (int i = 0; i < res.n_rows; i++) {
		if (db_res_isnull(&res, i, 1))
			continue;	/* the org row with no chat */
		w[*n].chat_id = db_res_i64(&res, i, 1);
		w[*n].display_name = arena_strdup(a, db_res_text(&res, i, 2));
		w[*n].external_id = arena_strdup(a, db_res_text(&res, i, 3));
		w[*n].reason = arena_strdup(a, db_res_text(&res, i, 4));
		w[*n].since = arena_strdup(a, db_res_text(&res, i, 5));
		w[*n].waited_minutes = (int)db_res_i64(&res, i, 6);
		(*n)++;
	}
	*out = w;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
handoff_sweep_any_org(struct db *db, int *n_returned)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	int		 done = 0;

	if (n_returned != NULL)
		*n_returned = 0;
	/* Across organisations on purpose: see the file-top comment. */
	st = db_query(db, &res,
	    "SELECT c.org_id, c.id, o.human_idle_hours"
	    "  FROM chats c JOIN orgs o ON o.id = c.org_id"
	    " WHERE c.status = 'human'"
	    "   AND COALESCE(c.last_human_at, c.status_changed_at)"
	    "       < now() - make_interval(hours => o.human_idle_hours)"
	    " ORDER BY c.id LIMIT $1",
	    DB_I64(SWEEP_BATCH), DB_END);
	if (st != DB_OK)
		goto out;
	for (int i = 0; i < res.n_rows; i++) {
		struct db_res	 r2 = { 0 };
		int64_t		 org_id = db_res_i64(&res, i, 0);
		int64_t		 chat_id = db_res_i64(&res, i, 1);
		int64_t		 hours = db_res_i64(&res, i, 2);
		char		 note[160];
		enum db_status	 s2;
		bool		 returned = false;

		if ((s2 = db_tx_begin(db)) != DB_OK) {
			st = s2;
			break;
		}
		/* Re-checked under the UPDATE: a reply since then wins. */
		s2 = db_query(db, &r2,
		    "UPDATE chats c SET status = 'ai',"
		    "       status_changed_at = now(),"
		    "       assigned_user_id = NULL"
		    "  FROM orgs o"
		    " WHERE c.org_id = $1 AND c.id = $2 AND c.status = 'human'"
		    "   AND o.id = c.org_id"
		    "   AND COALESCE(c.last_human_at, c.status_changed_at)"
		    "       < now() - make_interval(hours => o.human_idle_hours)"
		    " RETURNING c.id",
		    DB_I64(org_id), DB_I64(chat_id), DB_END);
		if (s2 == DB_OK && r2.n_rows == 1) {
			snprintf(note, sizeof(note), "Returned to the AI after "
			    "%" PRId64 " hour%s without a reply from the "
			    "team.", hours, hours == 1 ? "" : "s");
			s2 = chat_note_add(db, org_id, chat_id, note);
			if (s2 == DB_OK)
				s2 = chat_thread_close(db, org_id, chat_id,
				    "handoff");
			returned = s2 == DB_OK;
		}
		db_res_clear(&r2);
		if (s2 == DB_OK)
			s2 = db_tx_commit(db);
		if (s2 != DB_OK) {
			db_tx_rollback(db);
			st = s2;
			break;
		}
		if (!returned)
			continue;
		done++;
		audit_db(db, org_id, 0, "system", "handoff.auto_returned",
		    "chat", chat_id, "");
		log_info("handoff", "msg=\"chat returned to the AI\" org=%"
		    PRId64 " chat=%" PRId64 " idle_hours=%" PRId64, org_id,
		    chat_id, hours);
	}
	if (n_returned != NULL)
		*n_returned = done;
out:
	db_res_clear(&res);
	return st;
}
