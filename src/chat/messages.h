/*
 * messages: reading a chat's messages and what Parley adds to inbound
 * ones (table `messages`, written by chat/ingest.c for inbound rows and
 * chat/outbox.c for outbound ones): a turn's view of a chat and its
 * unanswered messages, how each inbound message is settled (answered_by,
 * unanswered_reason), a chat's recent messages, one message by id,
 * voice-note transcripts and Parley's own notes in the timeline (never
 * sent).
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
struct buf;

/* --- a conversation turn's view (worker/turn.c) ------------------------ */

/* A chat as its turn loads it. */
struct chat_turn {
	int64_t	 chat_id;
	int64_t	 org_id;
	int64_t	 channel_id;
	char	*channel_kind;
	char	*chat_kind;		/* dm|group */
	char	*external_id;		/* where replies go */
	char	*display_name;
	int64_t	 agent_id;		/* chat's link, else channel default,
					   0: none */
	char	*status;		/* chat/handoff.h's states */
	char	*handoff_reason;
	int64_t	 assigned_user_id;	/* 0: none */
	int64_t	 thread_id;		/* the open thread, 0: none */
	int64_t	 reply_to;		/* chats.turn_reply_to, 0: none */
	bool	 unsent;		/* that answer has parts not sent */
	int	 outage_s;		/* seconds the model has failed this
					   chat, -1: it answers */
	bool	 held;			/* the caller's job holds the turn */
	char	*owner;			/* who owns the thread: parley|
					   other_app (chat/coexist.h) */
	char	*address;		/* where replies and reactions go: the
					   group, or the contact's phone, else
					   its user id (external_id for the
					   sandbox) */
};

/* One message a turn answers (an unsettled inbound row). */
struct turn_msg {
	int64_t	 id;
	char	*kind;			/* message|unsupported */
	char	*sender;
	char	*sender_name;
	/*
	 * The author's identity (chat/contact.h): the message's own, for a
	 * DM completed from its chat's contact. What allow-lists and connect
	 * codes look at.
	 */
	struct contact_ident from;
	char	*body;
	char	*media;			/* JSON array text, "[]": none */
	char	*transcript;		/* "" until a voice note has one */
	char	*provider_message_id;	/* "" when none */
};

/*
 * The chat and its unsettled inbound messages (answered_by and
 * unanswered_reason both NULL), oldest first, at most max, in one
 * statement (messages_pending_idx). held says whether job_id holds the
 * chat's turn (job_id 0: not asked, true). DB_NOT_FOUND: not the org's
 * chat.
 */
enum db_status	 chat_turn_load(struct db *db, struct arena *a,
		    int64_t org_id, int64_t chat_id, int64_t job_id, int max,
		    struct chat_turn *out, struct turn_msg **msgs, int *n)
		    __attribute__((warn_unused_result));
/*
 * Settles messages ids[0..n) of the chat that are still unsettled: with
 * answered_by (the first part of the answer that covered them; 0: none)
 * or the reason (a sentence for the timeline). n < 0 settles every
 * unsettled message of the chat.
 */
enum db_status	 chat_turn_settle(struct db *db, int64_t org_id,
		    int64_t chat_id, const int64_t *ids, int n,
		    int64_t answered_by, const char *reason)
		    __attribute__((warn_unused_result));
/*
 * Answer again: the chat's messages settled by a failed turn (reason
 * CHAT_TURN_FAILED_PREFIX…) become unsettled and its turn is due now
 * (NOTIFY at commit). *n (may be NULL) gets how many.
 */
enum db_status	 chat_turn_retry(struct db *db, int64_t org_id,
		    int64_t chat_id, int *n) __attribute__((warn_unused_result));
/* The chat of inbound message message_id gets a turn due now (a reply
 * job from before turns); DB_NOT_FOUND: no such message. */
enum db_status	 chat_turn_due_for_message(struct db *db, int64_t org_id,
		    int64_t message_id) __attribute__((warn_unused_result));
/* The chat's turn is due now when it has unsettled messages (a person
 * gave the chat back); NOTIFY at commit. */
enum db_status	 chat_turn_due_if_pending(struct db *db, int64_t org_id,
		    int64_t chat_id) __attribute__((warn_unused_result));

/* How a failed turn's reason begins (chat_turn_retry finds them by it). */
#define CHAT_TURN_FAILED_PREFIX	"Not answered: the reply failed"

/* One inbound message nobody has answered and no reason settles yet. */
struct chat_unsettled {
	int64_t	 id;
	int64_t	 chat_id;
	int64_t	 age_s;
};

/*
 * NO MESSAGE LEFT BEHIND, as a query: the org's inbound messages older
 * than min_age_s that are neither answered nor settled with a reason,
 * in chats that do not wait for a person (there the chat's status is the
 * reason), at most limit, oldest first (limit ≤ 0: 100). A turn settles
 * every message it sees within seconds; what this returns is a bug or a
 * stuck turn. Strings none.
 */
enum db_status	 chat_unsettled(struct db *db, struct arena *a,
		    int64_t org_id, int min_age_s, int limit,
		    struct chat_unsettled **out, int *n)
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
	char	*kind;			/* message|reaction|system|… */
	int64_t	 answered_by;		/* inbound: the answer's first part,
					   0: none (yet) */
	char	*unanswered_reason;	/* inbound: why it is not answered,
					   NULL: none (yet) */
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
 * The labels of a message's media items (messages.media, a JSON array)
 * for the model, each followed by a space: "[image] ", "[sticker] ",
 * "[document: report.pdf] ", "[voice note] ", … (the item's file name
 * when it has one). An audio item is left out when spoken is true: its
 * transcript (or CHAT_VOICE_UNREADABLE) speaks for it. Appended to b.
 */
void		 chat_media_labels(struct buf *b, const char *media_json,
		    bool spoken);
/* Whether content type ct (bare or with parameters) is an image a vision
 * model may be shown: a photo or a sticker. */
bool		 chat_media_is_image(const char *ct);

/*
 * Stores the transcript of inbound message message_id when it has none
 * yet (one conditional UPDATE, so a second writer changes nothing), and
 * its words in the search index with it; *stored says whether this call
 * wrote it.
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

/*
 * The newest message of the chat that the contact sent with media (*id,
 * 0: none): what whatsapp.sendMedia's "latest" names.
 */
enum db_status	 chat_media_latest(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t *id)
		    __attribute__((warn_unused_result));

#endif
