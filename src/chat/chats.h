/*
 * chats: the WhatsApp chats of an organisation (owns table `chats` but
 * for its handoff columns, which chat/handoff.c owns): finding a chat,
 * linking it to an agent (the sandbox, connect codes), where its
 * messages go, its contact's identity (chat/contact.h: a DM is found by
 * the contact's user id first, then by its key, external_id, which never
 * changes) and who owns its thread (owner: 'parley' or 'other_app',
 * Meta's conversation routing).
 *
 * Thread-safe: no shared state.
 */
#ifndef PARLEY_CHAT_CHATS_H
#define PARLEY_CHAT_CHATS_H

#include <stdbool.h>
#include <stdint.h>

#include "chat/contact.h"
#include "db/db.h"

struct arena;

/*
 * Links the chat (channel_id, external_id) to agent_id (0: unlinks),
 * creating the chat when it does not exist yet, so that the reply job for
 * a message stored after this call already finds its agent (the sandbox
 * links before it ingests). DB_NOT_FOUND when the channel is not the
 * org's.
 */
enum db_status	 chat_link_agent(struct db *db, int64_t org_id,
		    int64_t channel_id, const char *external_id, bool is_group,
		    const char *display_name, int64_t agent_id,
		    int64_t *chat_id) __attribute__((warn_unused_result));

/* The chat (channel_id, external_id) of the org; DB_NOT_FOUND: none. */
enum db_status	 chat_find(struct db *db, int64_t org_id, int64_t channel_id,
		    const char *external_id, int64_t *chat_id)
		    __attribute__((warn_unused_result));

/*
 * The chat (channel_id, external_id) of the org, created (with no agent
 * link) when it does not exist: where a proactive message to a number or
 * group goes. DB_NOT_FOUND when the channel is not the org's.
 */
enum db_status	 chat_ensure(struct db *db, int64_t org_id, int64_t channel_id,
		    const char *external_id, bool is_group, int64_t *chat_id)
		    __attribute__((warn_unused_result));

/*
 * The chats linked to agent_id (their own link, else their channel's
 * default agent) on channels that are not disabled, oldest first, at
 * most max ids (in a). For a schedule's "all chats of the agent".
 */
enum db_status	 chat_list_for_agent(struct db *db, struct arena *a,
		    int64_t org_id, int64_t agent_id, int max, int64_t **ids,
		    int *n) __attribute__((warn_unused_result));
/*
 * The DM chat of the first person who ever wrote to agent_id (by the
 * first inbound message among its chats). DB_NOT_FOUND: nobody yet.
 */
enum db_status	 chat_first_sender(struct db *db, int64_t org_id,
		    int64_t agent_id, int64_t *chat_id)
		    __attribute__((warn_unused_result));

/* A chat and where its messages go. */
struct chat_ref {
	int64_t	 id;
	int64_t	 channel_id;
	char	*channel_kind;
	char	*kind;			/* dm|group */
	char	*external_id;
	char	*display_name;
	int64_t	 agent_id;		/* the chat's own link, 0: none */
	int64_t	 thread_id;		/* the open thread, 0: none */
	struct contact_ident contact;	/* a DM's contact ("": unknown) */
};

enum db_status	 chat_get_ref(struct db *db, struct arena *a, int64_t org_id,
		    int64_t chat_id, struct chat_ref *out)
		    __attribute__((warn_unused_result));

/*
 * Sets the chat's own agent link: agent_id (0: unlinks), linked_at (now,
 * or NULL when unlinking) and linked_code_id (0: none), and closes the
 * chat's open thread (close_reason 'agent') when its agent differs from
 * agent_id, so the next message opens a thread with the new agent.
 * *old_agent_id (may be NULL) gets the link it replaced (0: none).
 * DB_NOT_FOUND when the chat is not the org's. Two statements: run it in
 * a transaction (connect_redeem and connect_unlink do).
 */
enum db_status	 chat_set_link(struct db *db, int64_t org_id, int64_t chat_id,
		    int64_t agent_id, int64_t code_id, int64_t *old_agent_id)
		    __attribute__((warn_unused_result));

/* Where a chat stands, for the sandbox and the conversation view. */
struct chat_state {
	char	*status;		/* ai|needs_human|human|closed */
	char	*handoff_reason;	/* "" when none */
	char	*assigned_email;	/* "" when nobody */
	bool	 outage;		/* the model fails its turns */
	bool	 turn_busy;		/* a turn is due or running */
	int	 unsettled;		/* inbound messages with neither an
					   answer nor a reason (capped at
					   100) */
};

/*
 * The chat's state (strings in a). Reads the queue's jobs for whether
 * its turn runs (read-only). DB_NOT_FOUND: not the org's chat.
 */
enum db_status	 chat_state_get(struct db *db, struct arena *a,
		    int64_t org_id, int64_t chat_id, struct chat_state *out)
		    __attribute__((warn_unused_result));

/*
 * The chat's turn is sending the answer to inbound message reply_to
 * (chats.turn_reply_to), so a turn resumed after a crash or a "try
 * later" finds its unsent parts.
 */
enum db_status	 chat_turn_answering(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t reply_to)
		    __attribute__((warn_unused_result));

/*
 * A DM contact changed number (a WhatsApp system notice): the chat keyed
 * by old_external_id on channel_id takes new_external_id, so the new
 * number's messages continue it, unless a chat for the new number exists
 * already (then both stay as they are). A no-op when there is no such
 * chat.
 */
enum db_status	 chat_contact_moved(struct db *db, int64_t org_id,
		    int64_t channel_id, const char *old_external_id,
		    const char *new_external_id)
		    __attribute__((warn_unused_result));

/*
 * The DM chat of the contact on channel_id, created when there is none
 * (key: contact_address), its identity completed with what `who` brings
 * (a value given replaces the stored one, none erases nothing). Found by
 * who->user_id first, then by the key. DB_NOT_FOUND: not the org's
 * channel; DB_INVALID: who has neither a phone nor a user id.
 */
enum db_status	 chat_for_contact(struct db *db, int64_t org_id,
		    int64_t channel_id, const struct contact_ident *who,
		    int64_t *chat_id) __attribute__((warn_unused_result));

/* A contact's identity changed (Meta's user_changed_user_id and
 * user_id_update, Kapso's whatsapp.contact.identity_changed). */
struct chat_ident_change {
	const char		*old_user_id;	/* "" or NULL: not given */
	const char		*old_phone;	/* "+E164", "" or NULL */
	struct contact_ident	 now;		/* the identity after it */
};

/*
 * Applies the change to the contact's DM chat on channel_id (found by
 * the old id, the new one, then the phones), in one transaction (the
 * caller's, if open): its identity becomes `now` (given members only),
 * another chat that held the new user id lets go of it (the person keeps
 * the chat that has their history), and the timeline gets a note saying
 * what changed. Replays change nothing: *changed false, no second note.
 * DB_NOT_FOUND when no chat of the contact exists (its next message
 * opens one under the new id).
 */
enum db_status	 chat_contact_changed(struct db *db, int64_t org_id,
		    int64_t channel_id, const struct chat_ident_change *c,
		    int64_t *chat_id, bool *changed)
		    __attribute__((warn_unused_result));

#endif
