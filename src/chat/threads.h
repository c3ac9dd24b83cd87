/*
 * threads: chats, threads and messages (owns tables `chats`, `threads`,
 * `messages`).
 *
 * Ingest stores a verified inbound message, its chat (created on first
 * contact) and its reply job in ONE statement, so they commit together or
 * not at all, and a replayed provider id changes nothing (DESIGN.md
 * invariant 1). Outbound replies are recorded part by part before they
 * are sent (status queued → sending → sent/failed) and carry the provider
 * id after, and (reply_to_id, part_no) is unique, so a retried reply job
 * finds the parts it already made (DESIGN.md invariant 2).
 */
#ifndef PARLEY_CHAT_THREADS_H
#define PARLEY_CHAT_THREADS_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "db/db.h"

struct arena;
struct inbound;

/*
 * Stores in as a message of channel_id's chat and, when auto_answer, a
 * "reply" job for it, with the NOTIFY that wakes the pool. *message_id is
 * 0 for a replay (nothing written). One statement: no transaction needed.
 */
enum db_status	 chat_ingest(struct db *db, int64_t org_id,
		    int64_t channel_id, const struct inbound *in,
		    bool auto_answer, int64_t *message_id)
		    __attribute__((warn_unused_result));

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
/* The chat's open thread for agent_id, opened when there is none; the
 * inbound message is attached to it. */
enum db_status	 chat_thread_for(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t agent_id, int64_t message_id,
		    int64_t *thread_id) __attribute__((warn_unused_result));
/*
 * The thread's last `limit` messages before message_id as OpenAI
 * messages (user/assistant), oldest first; in groups user messages are
 * prefixed with the sender's name. Caller deletes *messages.
 */
enum db_status	 chat_thread_history(struct db *db, int64_t org_id,
		    int64_t thread_id, int64_t before_message_id, int limit,
		    cJSON **messages) __attribute__((warn_unused_result));

struct out_part {
	int64_t	 id;
	int	 part_no;
	char	*body;
	char	*status;		/* queued|sending|sent|failed */
	char	*provider_message_id;	/* NULL until sent */
	int	 attempts;
};

/*
 * Records the reply parts for inbound message reply_to_id (ON CONFLICT:
 * parts already there are kept as they are) and returns all parts in
 * order.
 */
enum db_status	 chat_outbox_record(struct db *db, struct arena *a,
		    int64_t org_id, int64_t reply_to_id, int64_t thread_id,
		    int64_t llm_call_id, const char *const *texts, int n,
		    struct out_part **out, int *n_out)
		    __attribute__((warn_unused_result));
/* The parts already recorded for reply_to_id (n_out 0: none). */
enum db_status	 chat_outbox_parts(struct db *db, struct arena *a,
		    int64_t org_id, int64_t reply_to_id, struct out_part **out,
		    int *n_out) __attribute__((warn_unused_result));
/* queued → sending, just before the provider call (attempts + 1). */
enum db_status	 chat_outbox_sending(struct db *db, int64_t org_id,
		    int64_t id) __attribute__((warn_unused_result));
/* sending → sent with the provider's id. */
enum db_status	 chat_outbox_sent(struct db *db, int64_t org_id, int64_t id,
		    const char *provider_message_id)
		    __attribute__((warn_unused_result));
/* sending → queued again (the provider said try later). */
enum db_status	 chat_outbox_requeue(struct db *db, int64_t org_id,
		    int64_t id, const char *error_text)
		    __attribute__((warn_unused_result));
/* → failed with the provider's code and text. */
enum db_status	 chat_outbox_failed(struct db *db, int64_t org_id,
		    int64_t id, const char *code, const char *text)
		    __attribute__((warn_unused_result));
/*
 * A provider status callback: updates the outbound message with that
 * provider id on that channel, never moving backwards (sent < delivered <
 * read; failed wins). DB_NOT_FOUND when no such message.
 */
enum db_status	 chat_status_update(struct db *db, int64_t org_id,
		    int64_t channel_id, const char *provider_message_id,
		    const char *status, const char *error_code,
		    const char *error_text) __attribute__((warn_unused_result));

/* --- the sandbox, the panel and the WhatsApp plugins --- */

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
 * Records an outbound message that answers no inbound one (a tool's
 * whatsapp.send) as 'queued' in the DM chat external_id of channel_id
 * (created when missing), in thread_id when that is the chat's thread.
 * It then follows the outbox transitions above (chat_outbox_sending…).
 */
enum db_status	 chat_outbound_new(struct db *db, int64_t org_id,
		    int64_t channel_id, const char *external_id,
		    int64_t thread_id, const char *body, int64_t *chat_id,
		    int64_t *message_id) __attribute__((warn_unused_result));

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
};

enum db_status	 chat_get_ref(struct db *db, struct arena *a, int64_t org_id,
		    int64_t chat_id, struct chat_ref *out)
		    __attribute__((warn_unused_result));

/* ---- Added for connect codes (issue 5, connect engineer). ------------- */

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

/* --- issue 5: busy threads and /reset (worker/reply.c) --------------- */

/*
 * Takes thread_id for job_id for lease_s seconds with one UPDATE, so two
 * workers or processes can never both produce a reply for one thread:
 * it succeeds when the thread is free, its claim expired (a crashed
 * worker), or job_id already holds it (a retry or a re-claimed job; the
 * lease is then extended). *taken false: another job holds it (or the
 * thread is gone).
 */
enum db_status	 chat_thread_take(struct db *db, int64_t org_id,
		    int64_t thread_id, int64_t job_id, int lease_s,
		    bool *taken) __attribute__((warn_unused_result));
/* Releases job_id's claim on thread_id (no-op when it holds none). */
enum db_status	 chat_thread_release(struct db *db, int64_t org_id,
		    int64_t thread_id, int64_t job_id)
		    __attribute__((warn_unused_result));
/*
 * /reset: closes the chat's open thread (close_reason 'reset') and opens
 * a new one for agent_id. *old_thread_id is the closed one (0: there was
 * none), *new_thread_id the new one.
 */
enum db_status	 chat_thread_reset(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t agent_id, int64_t *old_thread_id,
		    int64_t *new_thread_id) __attribute__((warn_unused_result));

/* --- issue 6: handoff and sessions (chat/handoff.c, worker/reply.c) --- */

/*
 * chat_outbox_record with the parts' sender set (HANDOFF_SENDER_TEXT for
 * the handoff text, which chat_outbox_sending_gated lets through while a
 * person has the chat).
 */
enum db_status	 chat_outbox_record_sender(struct db *db, struct arena *a,
		    int64_t org_id, int64_t reply_to_id, int64_t thread_id,
		    const char *sender, const char *const *texts, int n,
		    struct out_part **out, int *n_out)
		    __attribute__((warn_unused_result));
/*
 * The reply job's queued → sending: like chat_outbox_sending, but in the
 * same statement the chat must be in 'ai' (the handoff text's parts:
 * 'needs_human' or 'human'). DB_CONFLICT: the part is still queued but
 * the chat's status refuses it (a person took over); DB_NOT_FOUND: the
 * part is no longer queued.
 */
enum db_status	 chat_outbox_sending_gated(struct db *db, int64_t org_id,
		    int64_t id) __attribute__((warn_unused_result));
/* Closes the chat's open thread with close_reason (no-op: none open). */
enum db_status	 chat_thread_close(struct db *db, int64_t org_id,
		    int64_t chat_id, const char *close_reason)
		    __attribute__((warn_unused_result));
/*
 * Sessions: closes the chat's open thread (close_reason 'timeout') when
 * its last message other than message_id (else its start) is older than
 * its agent's session_timeout_minutes; *expired says so.
 */
enum db_status	 chat_thread_expire(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t message_id, bool *expired)
		    __attribute__((warn_unused_result));
/*
 * A member's outbound message in the chat (its open thread, if any),
 * 'queued' with author_user_id; then the outbox transitions apply.
 * DB_NOT_FOUND: not the org's chat.
 */
enum db_status	 chat_outbound_human(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t user_id, const char *body,
		    int64_t *message_id) __attribute__((warn_unused_result));
/*
 * A note of Parley's in the chat's timeline: direction 'out', status
 * 'sent', sender HANDOFF_SENDER_SYSTEM, no provider id and no
 * reply_to_id, so no sender ever picks it up. Never sent to WhatsApp.
 */
enum db_status	 chat_note_add(struct db *db, int64_t org_id,
		    int64_t chat_id, const char *body)
		    __attribute__((warn_unused_result));

/* --- issue 6: voice-note transcripts (worker/reply.c) ----------------- */

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
