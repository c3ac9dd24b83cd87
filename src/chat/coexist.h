/*
 * coexist: what others do on the organisation's WhatsApp number, as the
 * webhooks report it (docs/whatsapp-platform.md §7):
 *
 *   echoes     a message the business sent from the WhatsApp Business app
 *              on the same number (coexistence: Meta's smb_message_echoes,
 *              Kapso's origin "business_app") is stored in the chat's
 *              timeline as a person's outbound message (sender
 *              COEXIST_SENDER_APP, status sent: no sender ever picks it
 *              up), and the chat moves to a person (handoff_business_app):
 *              the bot is silent until a member returns it.
 *   handovers  Meta's conversation routing (messaging_handovers:
 *              control_passed to us, control_taken from us; Kapso's
 *              handover event) moves the thread's owner (chats.owner);
 *              Parley answers only threads it owns (chat/handoff.h
 *              handoff_ours). A change is noted in the timeline.
 *
 * Standby deliveries (copies of a thread another app owns) are inbound
 * messages stored through chat/ingest.h with auto_answer false.
 *
 * Each call is idempotent, so a redelivered webhook changes nothing: an
 * echo is deduplicated on its provider id like any message, an owner
 * that is already set is not set (nor noted) again.
 *
 * Thread-safe: no shared state.
 */
#ifndef PARLEY_CHAT_COEXIST_H
#define PARLEY_CHAT_COEXIST_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "chat/contact.h"
#include "db/db.h"

/* messages.sender of an echo, and the name shown for it. */
#define COEXIST_SENDER_APP	"business_app"
#define COEXIST_APP_NAME	"WhatsApp Business app"

/* One message the business sent from the WhatsApp Business app. */
struct chat_echo {
	const char		*provider_message_id;
	struct contact_ident	 to;		/* the contact written to */
	const char		*type;		/* text|image|… */
	const char		*body;		/* text or caption, "" */
	cJSON			*media;		/* as struct inbound's, or NULL */
	int64_t			 timestamp;	/* Unix seconds, 0: now */
};

/*
 * Stores the echo in the contact's DM chat on channel_id (created when
 * there is none) and moves the chat to a person, in one transaction (the
 * caller's, if open). *message_id is 0 for a replay (nothing changed).
 * DB_INVALID: the echo names no contact.
 */
enum db_status	 chat_echo_store(struct db *db, int64_t org_id,
		    int64_t channel_id, const struct chat_echo *e,
		    int64_t *message_id) __attribute__((warn_unused_result));

/* Who owns a thread. */
enum chat_owner {
	CHAT_OWNER_PARLEY,	/* control passed to us: we answer */
	CHAT_OWNER_OTHER_APP,	/* control taken by another app: we don't */
};

/*
 * The thread of the contact's DM chat on channel_id (created when there
 * is none, so that its first message is not answered either) now belongs
 * to owner; `why` (may be NULL) ends the timeline note, e.g. "Meta
 * conversation routing". *changed is false when it already did.
 */
enum db_status	 chat_owner_set(struct db *db, int64_t org_id,
		    int64_t channel_id, const struct contact_ident *who,
		    enum chat_owner owner, const char *why, bool *changed)
		    __attribute__((warn_unused_result));

#endif
