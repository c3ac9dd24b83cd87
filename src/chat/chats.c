/*
 * chats: chats of an organisation (see chats.h). Owns table `chats` (but
 * its handoff columns); every statement names org_id = $1.
 *
 * Thread-safe: no shared state.
 */
#include "chat/chats.h"

#include <string.h>

#include "chat/messages.h"
#include "chat/rows.h"
#include "util/arena.h"
#include "util/str.h"

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

enum db_status
chat_ensure(struct db *db, int64_t org_id, int64_t channel_id,
    const char *external_id, bool is_group, int64_t *chat_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*chat_id = 0;
	/* The no-op update returns the existing row's id. */
	st = db_query(db, &res,
	    "INSERT INTO chats AS c (org_id, channel_id, kind, external_id)"
	    " SELECT $1, ch.id, $4, $3"
	    "   FROM channels ch WHERE ch.org_id = $1 AND ch.id = $2"
	    " ON CONFLICT (channel_id, external_id) DO UPDATE"
	    "    SET kind = c.kind"
	    "  WHERE c.org_id = $1"
	    " RETURNING c.id",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(external_id),
	    DB_TEXT(is_group ? "group" : "dm"), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		*chat_id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
chat_list_for_agent(struct db *db, struct arena *a, int64_t org_id,
    int64_t agent_id, int max, int64_t **ids, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*ids = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT c.id FROM chats c"
	    "  JOIN channels ch ON ch.org_id = $1 AND ch.id = c.channel_id"
	    " WHERE c.org_id = $1 AND ch.status <> 'disabled'"
	    "   AND COALESCE(c.agent_id, ch.default_agent_id) = $2"
	    " ORDER BY c.id LIMIT $3",
	    DB_I64(org_id), DB_I64(agent_id), DB_I64(max), DB_END);
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

enum db_status
chat_first_sender(struct db *db, int64_t org_id, int64_t agent_id,
    int64_t *chat_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*chat_id = 0;
	st = db_query(db, &res,
	    "SELECT c.id FROM chats c"
	    "  JOIN channels ch ON ch.org_id = $1 AND ch.id = c.channel_id"
	    " CROSS JOIN LATERAL (SELECT min(m.id) AS first_in"
	    "         FROM messages m"
	    "        WHERE m.org_id = $1 AND m.chat_id = c.id"
	    "          AND m.direction = 'in') f"
	    " WHERE c.org_id = $1 AND c.kind = 'dm'"
	    "   AND COALESCE(c.agent_id, ch.default_agent_id) = $2"
	    "   AND f.first_in IS NOT NULL"
	    " ORDER BY f.first_in LIMIT 1",
	    DB_I64(org_id), DB_I64(agent_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		*chat_id = db_res_i64(&res, 0, 0);
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
	    "                    AND t.closed_at IS NULL), 0),"
	    "       COALESCE(c.contact_phone, ''),"
	    "       COALESCE(c.contact_user_id, ''),"
	    "       COALESCE(c.contact_parent_user_id, ''),"
	    "       COALESCE(c.contact_username, '')"
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
	out->channel_kind = chat_col(a, &res, 0, 2);
	out->kind = chat_col(a, &res, 0, 3);
	out->external_id = chat_col(a, &res, 0, 4);
	out->display_name = chat_col(a, &res, 0, 5);
	out->agent_id = db_res_i64(&res, 0, 6);
	out->thread_id = db_res_i64(&res, 0, 7);
	out->contact.phone = chat_col(a, &res, 0, 8);
	out->contact.user_id = chat_col(a, &res, 0, 9);
	out->contact.parent_user_id = chat_col(a, &res, 0, 10);
	out->contact.username = chat_col(a, &res, 0, 11);
out:
	db_res_clear(&res);
	return st;
}

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

enum db_status
chat_contact_moved(struct db *db, int64_t org_id, int64_t channel_id,
    const char *old_external_id, const char *new_external_id)
{
	if (new_external_id == NULL || *new_external_id == '\0' ||
	    strcmp(old_external_id, new_external_id) == 0)
		return DB_OK;
	return db_exec(db,
	    "UPDATE chats SET external_id = $4"
	    " WHERE org_id = $1 AND channel_id = $2 AND external_id = $3"
	    "   AND kind = 'dm'"
	    "   AND NOT EXISTS (SELECT 1 FROM chats o"
	    "        WHERE o.channel_id = $2 AND o.external_id = $4)",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(old_external_id),
	    DB_TEXT(new_external_id), DB_END);
}

enum db_status
chat_turn_answering(struct db *db, int64_t org_id, int64_t chat_id,
    int64_t reply_to)
{
	return db_exec(db,
	    "UPDATE chats SET turn_reply_to = $3"
	    " WHERE org_id = $1 AND id = $2"
	    "   AND turn_reply_to IS DISTINCT FROM $3",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(reply_to), DB_END);
}

enum db_status
chat_state_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t chat_id, struct chat_state *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    "SELECT c.status, c.handoff_reason, COALESCE(u.email, ''),"
	    "       c.outage_since IS NOT NULL,"
	    "       c.turn_due_at IS NOT NULL OR EXISTS (SELECT 1 FROM jobs j"
	    "            WHERE j.org_id = $1 AND j.id = c.turn_job"
	    "              AND j.status IN ('queued', 'running')),"
	    "       (SELECT count(*) FROM (SELECT 1 FROM messages m"
	    "          WHERE m.chat_id = c.id AND m.direction = 'in'"
	    "            AND m.answered_by IS NULL"
	    "            AND m.unanswered_reason IS NULL LIMIT 100) p)"
	    "  FROM chats c LEFT JOIN users u ON u.id = c.assigned_user_id"
	    " WHERE c.org_id = $1 AND c.id = $2",
	    DB_I64(org_id), DB_I64(chat_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK) {
		out->status = chat_col(a, &res, 0, 0);
		out->handoff_reason = chat_col(a, &res, 0, 1);
		out->assigned_email = chat_col(a, &res, 0, 2);
		out->outage = db_res_bool(&res, 0, 3);
		out->turn_busy = db_res_bool(&res, 0, 4);
		out->unsettled = (int)db_res_i64(&res, 0, 5);
	}
	db_res_clear(&res);
	return st;
}
#define WHO(m)	DB_TEXT(who->m != NULL ? who->m : "")

/*
 * The same lookup as chat_ingest's statement (chat/ingest.c), for the
 * paths that are not an inbound message: a Business-app echo, a thread
 * handover, a tool's send.
 */
enum db_status
chat_for_contact(struct db *db, int64_t org_id, int64_t channel_id,
    const struct contact_ident *who, int64_t *chat_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	const char	*key = contact_address(who);

	*chat_id = 0;
	if (key[0] == '\0')
		return DB_INVALID;
	st = db_query(db, &res,
	    "WITH known AS ("
	    "  SELECT external_id FROM chats"
	    "   WHERE org_id = $1 AND channel_id = $2 AND kind = 'dm'"
	    "     AND contact_user_id = NULLIF($4, '')"
	    ")"
	    " INSERT INTO chats AS c (org_id, channel_id, kind, external_id,"
	    "        contact_phone, contact_user_id, contact_parent_user_id,"
	    "        contact_username)"
	    " SELECT $1, ch.id, 'dm', COALESCE((SELECT external_id FROM known),"
	    "        $3), NULLIF($7, ''), NULLIF($4, ''), NULLIF($5, ''),"
	    "        NULLIF($6, '')"
	    "   FROM channels ch WHERE ch.org_id = $1 AND ch.id = $2"
	    " ON CONFLICT (channel_id, external_id) DO UPDATE"
	    "    SET contact_phone = COALESCE(EXCLUDED.contact_phone,"
	    "            c.contact_phone),"
	    "        contact_user_id = COALESCE(EXCLUDED.contact_user_id,"
	    "            c.contact_user_id),"
	    "        contact_parent_user_id = COALESCE("
	    "            EXCLUDED.contact_parent_user_id,"
	    "            c.contact_parent_user_id),"
	    "        contact_username = COALESCE(EXCLUDED.contact_username,"
	    "            c.contact_username)"
	    "  WHERE c.org_id = $1"
	    " RETURNING c.id",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(key), WHO(user_id),
	    WHO(parent_user_id), WHO(username), WHO(phone), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		*chat_id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

/*
 * DESIGN. The chat is chosen and locked first (old id, then new id, then
 * old and new phone: the order in which each names this person most
 * surely); the new user id is then taken from any other chat of the
 * channel (one chat per id: a message under the new id that arrived
 * before the change made one), and one UPDATE that changes only what
 * differs says whether anything did, which is when the note is written.
 */
enum db_status
chat_contact_changed(struct db *db, int64_t org_id, int64_t channel_id,
    const struct chat_ident_change *c, int64_t *chat_id, bool *changed)
{
	struct db_res			 res = { 0 };
	const struct contact_ident	*who = &c->now;
	const char			*old_id = c->old_user_id != NULL ?
					    c->old_user_id : "";
	const char			*old_phone = c->old_phone != NULL ?
					    c->old_phone : "";
	char				*was_id = NULL, *was_phone = NULL;
	char				*note = NULL;
	struct arena			*a = arena_new();
	enum db_status			 st;
	bool				 own = false;

	*chat_id = 0;
	*changed = false;
	if ((st = db_tx_join(db, &own)) != DB_OK)
		goto out;
	st = db_query(db, &res,
	    "SELECT id, COALESCE(contact_user_id, ''),"
	    "       COALESCE(contact_phone, '')"
	    "  FROM chats"
	    " WHERE org_id = $1 AND channel_id = $2 AND kind = 'dm'"
	    "   AND (contact_user_id IN (NULLIF($3, ''), NULLIF($4, ''))"
	    "        OR contact_phone IN (NULLIF($5, ''), NULLIF($6, '')))"
	    " ORDER BY contact_user_id = NULLIF($3, '') IS TRUE DESC,"
	    "          contact_user_id = NULLIF($4, '') IS TRUE DESC,"
	    "          contact_phone = NULLIF($5, '') IS TRUE DESC, id"
	    " LIMIT 1 FOR UPDATE",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(old_id),
	    WHO(user_id), DB_TEXT(old_phone), WHO(phone), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows == 0) {
		st = DB_NOT_FOUND;
		goto out;
	}
	*chat_id = db_res_i64(&res, 0, 0);
	was_id = chat_col(a, &res, 0, 1);
	was_phone = chat_col(a, &res, 0, 2);
	db_res_clear(&res);

	st = db_exec(db,
	    "UPDATE chats SET contact_user_id = NULL"
	    " WHERE org_id = $1 AND channel_id = $2 AND id <> $3"
	    "   AND contact_user_id = NULLIF($4, '')",
	    DB_I64(org_id), DB_I64(channel_id), DB_I64(*chat_id),
	    WHO(user_id), DB_END);
	if (st != DB_OK)
		goto out;
	st = db_query(db, &res,
	    "UPDATE chats"
	    "   SET contact_user_id = COALESCE(NULLIF($3, ''),"
	    "           contact_user_id),"
	    "       contact_parent_user_id = COALESCE(NULLIF($4, ''),"
	    "           contact_parent_user_id),"
	    "       contact_phone = COALESCE(NULLIF($5, ''), contact_phone),"
	    "       contact_username = COALESCE(NULLIF($6, ''),"
	    "           contact_username)"
	    " WHERE org_id = $1 AND id = $2"
	    "   AND (contact_user_id IS DISTINCT FROM"
	    "            COALESCE(NULLIF($3, ''), contact_user_id)"
	    "        OR contact_parent_user_id IS DISTINCT FROM"
	    "            COALESCE(NULLIF($4, ''), contact_parent_user_id)"
	    "        OR contact_phone IS DISTINCT FROM"
	    "            COALESCE(NULLIF($5, ''), contact_phone))"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(*chat_id), WHO(user_id),
	    WHO(parent_user_id), WHO(phone), WHO(username), DB_END);
	if (st != DB_OK || res.n_rows == 0)
		goto out;
	*changed = true;
	if (who->user_id != NULL && who->user_id[0] != '\0' &&
	    !str_eq(who->user_id, was_id))
		note = arena_printf(a, "WhatsApp says this contact's user id "
		    "changed%s%s to %s; the chat stays theirs.",
		    was_id[0] != '\0' ? " from " : "", was_id, who->user_id);
	if (who->phone != NULL && who->phone[0] != '\0' &&
	    !str_eq(who->phone, was_phone))
		note = arena_printf(a, "%s%sWhatsApp says this contact's phone "
		    "number changed%s%s to %s.", note != NULL ? note : "",
		    note != NULL ? " " : "", was_phone[0] != '\0' ? " from " :
		    "", was_phone, who->phone);
	if (note == NULL)
		note = "WhatsApp updated this contact's parent id.";
	st = chat_note_add(db, org_id, *chat_id, note);
out:
	db_res_clear(&res);
	st = db_tx_leave(db, own, st == DB_NOT_FOUND && *chat_id == 0 ?
	    DB_OK : st);
	arena_free(a);
	if (st == DB_OK && *chat_id == 0)
		return DB_NOT_FOUND;
	return st;
}
#undef WHO
