/*
 * messages: reading a chat's messages and what Parley adds to inbound
 * ones (table `messages`, written by chat/ingest.c for inbound rows and
 * chat/outbox.c for outbound ones): the reply job's view of one inbound
 * message, a chat's recent messages, one message by id, voice-note
 * transcripts and Parley's own notes in the timeline (never sent).
 *
 * Thread-safe: no shared state.
 */
#ifndef PARLEY_CHAT_MESSAGES_H
#define PARLEY_CHAT_MESSAGES_H

#include <stdbool.h>
#include <stdint.h>

#include "chat/contact.h"
#include "db/db.h"

struct arena;

/* Everything the reply job needs about one inbound message. */
struct reply_subject {
	int64_t	 message_id;
	int64_t	 org_id;
	int64_t	 channel_id;
	char	*channel_kind;
	int64_t	 chat_id;
	char	*chat_kind;		/* dm|group */
	char	*chat_external_id;	/* where replies go */
	char	*chat_display_name;
	int64_t	 agent_id;		/* chat's link, else channel default,
					   0: none */
	char	*sender;
	char	*sender_name;
	/*
	 * The author's identity (chat/contact.h): the message's own, for a
	 * DM completed from its chat's contact. What allow-lists and connect
	 * codes look at.
	 */
	struct contact_ident from;
	char	*address;		/* where a reaction goes: the group,
					   or the contact's phone, else its
					   user id (chat_external_id for the
					   sandbox) */
	char	*body;
	char	*provider_message_id;
	int64_t	 thread_id;		/* 0 until threads are assigned */
	char	*received_at;
	char	*media;			/* JSON array text, "[]": none */
	char	*transcript;		/* "" until a voice note has one */
};

enum db_status	 chat_reply_subject(struct db *db, struct arena *a,
		    int64_t org_id, int64_t message_id,
		    struct reply_subject *out)
		    __attribute__((warn_unused_result));

#define CHAT_MESSAGES_MAX	200

/* One message of a chat, for a conversation view. */
struct chat_message {
	int64_t	 id;
	char	*direction;		/* in|out */
	char	*sender;
	char	*sender_name;
	char	*body;
	char	*status;		/* received|queued|sending|sent|
					   delivered|read|failed */
	char	*error_code;		/* NULL: none */
	char	*error_text;		/* NULL: none */
	char	*provider_message_id;	/* NULL: none yet */
	int64_t	 reply_to_id;		/* 0: none */
	int	 part_no;
	char	*created_at;		/* ISO 8601 UTC */
};

/*
 * The chat's messages with an id above after_id, at most limit (≤ 0 or
 * above CHAT_MESSAGES_MAX: CHAT_MESSAGES_MAX) of the newest, oldest
 * first. Strings in a.
 */
enum db_status	 chat_messages_after(struct db *db, struct arena *a,
		    int64_t org_id, int64_t chat_id, int64_t after_id,
		    int limit, struct chat_message **out, int *n_out)
		    __attribute__((warn_unused_result));
/* One message of the org by id or, when provider_message_id is not
 * empty, by the provider's id. DB_NOT_FOUND: none. */
enum db_status	 chat_message_get(struct db *db, struct arena *a,
		    int64_t org_id, int64_t id, const char *provider_message_id,
		    struct chat_message *out)
		    __attribute__((warn_unused_result));

/*
 * A note of Parley's in the chat's timeline: direction 'out', status
 * 'sent', sender HANDOFF_SENDER_SYSTEM, no provider id and no
 * reply_to_id, so no sender ever picks it up. Never sent to WhatsApp.
 */
enum db_status	 chat_note_add(struct db *db, int64_t org_id,
		    int64_t chat_id, const char *body)
		    __attribute__((warn_unused_result));

/* How a transcript joins a body, and what stands in for one that failed
 * (chat_thread_history's SQL spells the label the same way). */
#define CHAT_VOICE_LABEL	"[voice note] "
#define CHAT_VOICE_UNREADABLE	"[voice note \xe2\x80\x94 could not be " \
				"transcribed]"

/*
 * The text the model reads for an inbound message (in a's memory): the
 * body; with a transcript, the transcript alone when the body is empty
 * (or says the same), else body + "\n" CHAT_VOICE_LABEL + transcript;
 * with voice_failed and no transcript, CHAT_VOICE_UNREADABLE in its
 * place (after the body and a line break, if any).
 */
char		*chat_user_text(struct arena *a, const char *body,
		    const char *transcript, bool voice_failed);
/*
 * Stores the transcript of inbound message message_id when it has none
 * yet (one conditional UPDATE, so a second writer changes nothing);
 * *stored says whether this call wrote it.
 */
enum db_status	 chat_message_set_transcript(struct db *db, int64_t org_id,
		    int64_t message_id, const char *transcript, bool *stored)
		    __attribute__((warn_unused_result));
/*
 * chat_note_add, unless a note with the same body already follows
 * message after_message_id in the chat (so a retried job notes once).
 */
enum db_status	 chat_note_add_once(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t after_message_id,
		    const char *body) __attribute__((warn_unused_result));

#endif
