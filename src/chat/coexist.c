/*
 * coexist: echoes of the WhatsApp Business app and thread handovers (see
 * coexist.h). The echo's row is an outbound row of `messages` that no
 * sender ever takes (status 'sent', no reply_to_id), like Parley's notes;
 * chats.owner is chat/chats.c's column, written here for it.
 *
 * Thread-safe: no shared state.
 */
#include "chat/coexist.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "chat/chats.h"
#include "chat/handoff.h"
#include "chat/messages.h"
#include "util/arena.h"
#include "util/log.h"

enum db_status
chat_echo_store(struct db *db, int64_t org_id, int64_t channel_id,
    const struct chat_echo *e, int64_t *message_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	int64_t		 chat_id = 0;
	char		*media = NULL;
	bool		 own = false, changed = false;

	*message_id = 0;
	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	/* A replay stores nothing and moves nothing (checked first, so it
	 * does not even touch the chat). */
	st = db_query(db, &res,
	    "SELECT 1 FROM messages WHERE channel_id = $2"
	    "   AND provider_message_id = $3 AND org_id = $1",
	    DB_I64(org_id), DB_I64(channel_id),
	    DB_TEXT(e->provider_message_id), DB_END);
	if (st != DB_OK || res.n_rows > 0)
		goto out;
	db_res_clear(&res);
	if ((st = chat_for_contact(db, org_id, channel_id, &e->to,
	    &chat_id)) != DB_OK)
		goto out;
	if (e->media != NULL)
		media = cJSON_PrintUnformatted(e->media);
	st = db_query(db, &res,
	    "WITH msg AS ("
	    "  INSERT INTO messages (org_id, channel_id, chat_id, thread_id,"
	    "         direction, provider_message_id, sender, sender_name,"
	    "         body, media, provider_ts, status)"
	    "  SELECT $1, $2, $3,"
	    "         (SELECT t.id FROM threads t WHERE t.org_id = $1"
	    "             AND t.chat_id = $3 AND t.closed_at IS NULL),"
	    "         'out', $4, $5, $6, $7, COALESCE($8::jsonb, '[]'),"
	    "         CASE WHEN $9::bigint > 0"
	    "              THEN to_timestamp($9::bigint) END, 'sent'"
	    "  ON CONFLICT (channel_id, provider_message_id)"
	    "     WHERE provider_message_id IS NOT NULL DO NOTHING"
	    "  RETURNING id"
	    "), touch AS ("
	    "  UPDATE chats SET last_message_at = now()"
	    "   WHERE org_id = $1 AND id IN (SELECT $3::bigint FROM msg)"
	    ")"
	    " SELECT id FROM msg",
	    DB_I64(org_id), DB_I64(channel_id), DB_I64(chat_id),
	    DB_TEXT(e->provider_message_id), DB_TEXT(COEXIST_SENDER_APP),
	    DB_TEXT(COEXIST_APP_NAME), DB_TEXT(e->body != NULL ? e->body : ""),
	    DB_TEXT(media), DB_I64(e->timestamp), DB_END);
	if (st != DB_OK || res.n_rows == 0)
		goto out;
	*message_id = db_res_i64(&res, 0, 0);
	st = handoff_business_app(db, org_id, chat_id, &changed);
out:
	db_res_clear(&res);
	free(media);
	st = db_tx_leave(db, own, st);
	if (st != DB_OK)
		*message_id = 0;
	return st;
}

enum db_status
chat_owner_set(struct db *db, int64_t org_id, int64_t channel_id,
    const struct contact_ident *who, enum chat_owner owner, const char *why,
    bool *changed)
{
	struct db_res	 res = { 0 };
	struct arena	*a;
	enum db_status	 st;
	int64_t		 chat_id = 0;
	const char	*to = owner == CHAT_OWNER_PARLEY ? "parley" : "other_app";
	bool		 own = false;

	*changed = false;
	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	if ((st = chat_for_contact(db, org_id, channel_id, who,
	    &chat_id)) != DB_OK)
		goto out;
	st = db_query(db, &res,
	    "UPDATE chats SET owner = $3, owner_changed_at = now()"
	    " WHERE org_id = $1 AND id = $2 AND owner <> $3"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(chat_id), DB_TEXT(to), DB_END);
	if (st != DB_OK || res.n_rows == 0)
		goto out;
	*changed = true;
	a = arena_new();
	st = chat_note_add(db, org_id, chat_id, arena_printf(a, "%s%s%s%s",
	    owner == CHAT_OWNER_PARLEY ? "The thread was passed to Parley: "
	    "it answers again." : "Another app took this thread: Parley "
	    "stores what arrives and answers nothing until it is passed back.",
	    why != NULL ? " (" : "", why != NULL ? why : "",
	    why != NULL ? ")" : ""));
	arena_free(a);
	log_info("coexist", "msg=\"thread owner changed\" org=%" PRId64
	    " chat=%" PRId64 " owner=%s", org_id, chat_id, to);
out:
	db_res_clear(&res);
	return db_tx_leave(db, own, st);
}
