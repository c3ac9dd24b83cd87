/*
 * outbox: outbound messages (the outbound rows of table `messages`).
 * Outbound replies are recorded part by part before they are sent (status
 * queued → sending → sent/failed) and carry the provider id after, and
 * (reply_to_id, part_no) is unique, so a retried reply job finds the
 * parts it already made (DESIGN.md invariant 2).
 *
 * Thread-safe: no shared state.
 */
#ifndef PARLEY_CHAT_OUTBOX_H
#define PARLEY_CHAT_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"

struct arena;

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

/*
 * A member's outbound message in the chat (its open thread, if any),
 * 'queued' with author_user_id; then the outbox transitions apply.
 * DB_NOT_FOUND: not the org's chat.
 */
enum db_status	 chat_outbound_human(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t user_id, const char *body,
		    int64_t *message_id) __attribute__((warn_unused_result));

#endif
