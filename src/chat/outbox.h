/*
 * outbox: every message Parley sends to WhatsApp goes through here, and
 * only here: its row (an outbound row of table `messages`: direction
 * 'out', owned by this module), its state, the channel it leaves by
 * (credentials and API roots, the sender vtable of channels/channel.h)
 * and the one send sequence. Reply parts and Parley's own texts (the
 * reply job), a person's reply (chat/handoff), the whatsapp.send tool,
 * Resend, and whatever sends next (templates, scheduled results, media)
 * record a row here, then call outbox_send.
 *
 * STATES of an outbound row (messages.status) and who moves it:
 *
 *   queued ──outbox_send takes it──▶ sending
 *   sending ──provider accepted──▶ sent (+ provider id) ──status
 *           callbacks (outbox_status_update)──▶ delivered ──▶ read
 *   sending ──provider refused──▶ failed (the provider's code and text)
 *   sending ──provider said "try later"──▶ queued, and a job tries again
 *           with backoff (the reply job itself for reply parts, a send
 *           job for every other row), never the HTTP request that asked
 *   sending, found so by the next sender (a crash or a lost lease
 *           between the two marks) ──▶ failed "delivery unknown": never
 *           sent again, since the provider may have accepted it
 *   queued ──the chat's handoff status refuses the part──▶ failed
 *           "handoff: a person took over" (reply parts only, gated)
 *   queued ──its reply job died──▶ failed with the job's last error
 *   failed ──Resend (outbox_record_resend)──▶ a NEW queued row; the failed
 *           row keeps its error and points at it (resent_as_id), which
 *           one conditional UPDATE sets, so two Resends send once
 *   queued ──taken while the chat's 24-hour window is closed (not a
 *           template; a channel kind with a window)──▶ held, in the
 *           chat's hold (chat/window.h): the hold's follow-up template
 *           is recorded and sent once per hold
 *   sending ──provider refused for the window (Twilio 63016, Meta and
 *           Kapso 131047, at once or in a later "failed" status)──▶ held,
 *           the same way, never failed
 *   held ──the window reopens (any inbound message, a Continue tap)──▶
 *           queued, in order, sent by the hold's release job; or failed
 *           "superseded" when the agent delivers only the latest
 *           scheduled result and a newer one is held
 *   failed with a final provider code ──▶ no Resend: it could only fail
 *           again; the timeline says why (a window refusal is held
 *           instead, and a Resend is held too while the window is
 *           closed; an authentication template to a user id, Meta
 *           131062, is final)
 *   sent ──a status callback fails it with a rate-limit code (Meta
 *           130429, 131056; Twilio 63017, 63018; channel_code_retry)──▶
 *           queued, with a send job after a backoff (outbox_status_later):
 *           the provider did not deliver it, so sending it again cannot
 *           deliver it twice; after OUTBOX_LATER_MAX attempts it fails
 *           like any other
 *
 * A TEMPLATE row (messages.template, a JSON send spec, see
 * outbox_record_template) is sent with the channel's send_template and
 * is never held: a template is what may be sent outside the window.
 *
 * Every transition is one statement naming the state it leaves, so a
 * transition that finds the row elsewhere changes nothing. Status
 * callbacks only move forward (queued < sending < sent < delivered <
 * read); "failed" wins from every state but read and failed.
 *
 * THE SEND SEQUENCE (outbox_send). Recorded before, marked after, no
 * database connection held while the provider answers:
 *   1. take: one conditional UPDATE queued → sending (attempts + 1),
 *      reading where the row goes; with its channel opened (or the
 *      caller's); then the connection goes back to the pool;
 *   2. the provider call (channels/channel.h send_text);
 *   3. mark: sent with the provider's id | failed | queued again, with a
 *      connection taken again. A database that blinks here does not lose
 *      the provider's id: the mark is retried with backoff (a few seconds
 *      in all) before the row is left 'sending' (then "delivery unknown").
 *      A row already declared unknown by then is corrected to sent.
 *   A take whose UPDATE fails unseen (the server went away before
 *   answering: a failover) may or may not have committed; the sender
 *   knows it called no provider, so once the database is back (waited
 *   out for up to 30 s) it puts the row back to queued on the condition
 *   that the row still carries the random token its take wrote
 *   (messages.send_token): a row another sender took meanwhile is never
 *   touched. Without that, a failover at the wrong moment left a part
 *   'sending' that was never sent, and so never answered.
 *
 * NO MESSAGE LEFT BEHIND. A row sent from a request or a tool (a
 * person's reply, whatsapp.send, Resend) is recorded together with a send
 * job due in OUTBOX_SAFETY_S seconds, in one transaction, and tried at
 * once: a "try later" moves that job to the provider's backoff, and if
 * the process dies anywhere in between, the job finds the row queued
 * (and sends it) or sending (and calls it unknown). A job that finds the
 * row sent does nothing.
 *
 * Every statement names org_id = $1. Thread-safe: no shared state.
 */
#ifndef PARLEY_CHAT_OUTBOX_H
#define PARLEY_CHAT_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "channels/channel.h"
#include "db/db.h"
#include "model/channel.h"

struct app;
struct arena;

/* A send job's delay when the first try is made at once (see above). */
#define OUTBOX_SAFETY_S		120
/* The error text of a row found 'sending' by the next sender. */
#define OUTBOX_UNKNOWN_TEXT	"delivery unknown: the worker stopped " \
				"while sending"
/* The error text of a held scheduled result a newer one replaced. */
#define OUTBOX_SUPERSEDED_TEXT	"Not sent: a newer scheduled result " \
				"was delivered in its place."
/* The error text of a follow-up template the contact made unneeded. */
#define OUTBOX_UNNEEDED_TEXT	"Not sent: the contact wrote before the " \
				"template went out."
/* Sends of one row before a rate-limited failure is final. */
#define OUTBOX_LATER_MAX	5
/* The error text of a part after an earlier part was refused. */
#define OUTBOX_EARLIER_FAILED_TEXT "an earlier part failed"

/* --- the channel a message leaves by ----------------------------------- */

/* A channel opened for sending: its sender, credentials and API roots. */
struct outbox_channel {
	const struct channel_ops	*ops;
	struct channel_creds		 creds;		/* point into secrets
							   and the arena */
	struct channel_secrets		 secrets;
	bool				 is_open;
};

/*
 * Opens channel_id of the org for sending (and for the working indicator
 * and media downloads, which use the same credentials): the row, its
 * secrets (decrypted with app's key), the provider's API roots from the
 * config (the sender's api_roots) and Twilio's status callback URL.
 * DB_NOT_FOUND: not the org's channel; DB_INVALID: no sender for its kind
 * or secrets that cannot be opened. outbox_channel_close wipes the
 * secrets (safe on a channel that did not open).
 */
enum db_status	 outbox_channel_open(const struct app *app, struct db *db,
		    struct arena *a, int64_t org_id, int64_t channel_id,
		    struct outbox_channel *ch)
		    __attribute__((warn_unused_result));
void		 outbox_channel_close(struct outbox_channel *ch);

/* --- recording, before any provider call -------------------------------- */

/* One part of a reply. */
struct out_part {
	int64_t	 id;
	int	 part_no;
	char	*body;
	char	*status;		/* queued|sending|sent|failed… */
	char	*provider_message_id;	/* NULL until sent */
	int	 attempts;
	bool	 taken;			/* recorded taken by this call
					   (outbox_record_reply's take_first):
					   send it with outbox_send_taken */
};

/*
 * Records the parts of the reply to inbound message reply_to_id (ON
 * CONFLICT: parts already there are kept as they are), with sender (NULL:
 * the agent's answer; HANDOFF_SENDER_TEXT: the handoff text, which the
 * gate lets through while a person has the chat), and returns every part
 * in order. (reply_to_id, part_no) is unique, so a retried turn finds the
 * parts it already made. With take_first, part 0 is recorded already
 * taken ('sending', step 1 of the send sequence) when the chat's status
 * lets its sender through, so its send is outbox_send_taken: one
 * statement fewer per answer; the caller is then its only sender.
 */
enum db_status	 outbox_record_reply(struct db *db, struct arena *a,
		    int64_t org_id, int64_t reply_to_id, int64_t thread_id,
		    int64_t llm_call_id, const char *sender,
		    const char *const *texts, int n, bool take_first,
		    struct out_part **out, int *n_out)
		    __attribute__((warn_unused_result));
/* The parts already recorded for reply_to_id (n_out 0: none). */
enum db_status	 outbox_parts(struct db *db, struct arena *a,
		    int64_t org_id, int64_t reply_to_id, struct out_part **out,
		    int *n_out) __attribute__((warn_unused_result));
/*
 * The reply job for reply_to_id died: its parts still queued fail with
 * why (they can be resent), those left sending with OUTBOX_UNKNOWN_TEXT.
 * *n_failed (may be NULL) gets how many changed.
 */
enum db_status	 outbox_give_up(struct db *db, int64_t org_id,
		    int64_t reply_to_id, const char *why, int *n_failed)
		    __attribute__((warn_unused_result));
/* Its send job died: the row fails with why if queued, with
 * OUTBOX_UNKNOWN_TEXT if sending; DB_NOT_FOUND when it is neither. */
enum db_status	 outbox_give_up_one(struct db *db, int64_t org_id,
		    int64_t id, const char *why)
		    __attribute__((warn_unused_result));
/* The failed, not yet resent parts of the reply to reply_to_id, in
 * order (*ids in a; n 0: none); *chat_id their chat. */
enum db_status	 outbox_failed_parts(struct db *db, struct arena *a,
		    int64_t org_id, int64_t reply_to_id, int64_t **ids,
		    int *n, int64_t *chat_id) __attribute__((warn_unused_result));
/*
 * A part recorded taken (outbox_record_reply's take_first) by a caller
 * that then called no provider — the commit of its record failed unseen,
 * as in a failover, so it cannot tell whether the part is 'sending' —
 * back to 'queued'. Only the caller may do this, and only while it is
 * still the part's only sender (the turn checks its lease in the same
 * transaction). DB_NOT_FOUND: not 'sending' (the record never committed).
 */
enum db_status	 outbox_untake_taken(struct db *db, int64_t org_id,
		    int64_t id) __attribute__((warn_unused_result));
/* The latest answer in chat_id with failed, not yet resent parts (a
 * dead turn's): *reply_to_id the message it answers, 0: none. */
enum db_status	 outbox_last_failed_reply(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t *reply_to_id)
		    __attribute__((warn_unused_result));
/* queued|sending → failed with code (NULL: none) and text. */
enum db_status	 outbox_fail(struct db *db, int64_t org_id, int64_t id,
		    const char *code, const char *text)
		    __attribute__((warn_unused_result));

/* A single message recorded with its send job (see NO MESSAGE LEFT
 * BEHIND); pass job_id on to outbox_send. */
struct outbox_new {
	int64_t	 message_id;
	int64_t	 chat_id;
	int64_t	 job_id;	/* 0 when app has no queue */
};

/*
 * A member's reply in chat_id (its open thread, if any), with
 * author_user_id. DB_NOT_FOUND: not the org's chat.
 */
enum db_status	 outbox_record_human(const struct app *app, struct db *db,
		    int64_t org_id, int64_t chat_id, int64_t user_id,
		    const char *body, struct outbox_new *out)
		    __attribute__((warn_unused_result));
/*
 * Parley's own text in chat_id that answers nothing (sender
 * OUTBOX_SENDER_PARLEY: the acknowledgment of a message that arrives
 * while the model works, "this takes longer than usual", the handoff
 * text of an outage), in its open thread; never gated. DB_NOT_FOUND: not
 * the org's chat.
 */
enum db_status	 outbox_record_text(const struct app *app, struct db *db,
		    int64_t org_id, int64_t chat_id, const char *body,
		    struct outbox_new *out)
		    __attribute__((warn_unused_result));
/* Their sender: the model never reads them as its own words. */
#define OUTBOX_SENDER_PARLEY	"parley"

/*
 * A tool's message (whatsapp.send): to the DM chat `to` of channel_id
 * (created when missing), in thread_id when that is the chat's thread.
 * DB_NOT_FOUND: not the org's channel.
 */
enum db_status	 outbox_record_tool(const struct app *app, struct db *db,
		    int64_t org_id, int64_t channel_id, const char *to,
		    int64_t thread_id, const char *body, struct outbox_new *out)
		    __attribute__((warn_unused_result));

/*
 * A media message (image, document, audio or video; docs/media-out.md):
 * its item is messages.media[0] = {"contentType","filename"?,"voice"?,
 * "ref"?: {"message","n"}} and its caption the body, so the timeline
 * shows it like a contact's media and Resend copies it. The bytes are
 * either new (rec, kept as the message's own item 0 through the media
 * store in this transaction, under the id chat/media.h media_out_stage
 * drew) or an item already stored (ref_message_id, ref_n: a contact's
 * photo, an earlier send), never copied. Sent by outbox_send with the
 * channel's send_media; checked against the channel's limits there too.
 */
struct media_record;
struct outbox_media {
	const char			*content_type;	/* bare */
	const char			*filename;	/* NULL: none */
	const char			*caption;	/* NULL: none */
	bool				 voice;		/* an OGG/Opus note */
	int64_t				 id;		/* the drawn id, 0: new */
	const struct media_record	*rec;		/* new bytes, or NULL */
	int64_t				 ref_message_id;
	int				 ref_n;
};

/*
 * Records media message m in chat_id (its open thread), by
 * author_user_id (0: the agent's tool), with its send job due in
 * OUTBOX_SAFETY_S, in one transaction (the caller's, if any).
 * DB_NOT_FOUND: not the org's chat (or m's ref is no item of the org).
 */
enum db_status	 outbox_record_media(const struct app *app, struct db *db,
		    int64_t org_id, int64_t chat_id, int64_t author_user_id,
		    const struct outbox_media *m, struct outbox_new *out)
		    __attribute__((warn_unused_result));
/* A new message id drawn ahead of its row (outbox_media.id). */
enum db_status	 outbox_draw_id(struct db *db, int64_t *id)
		    __attribute__((warn_unused_result));
/* How long the signed URL a provider fetches a media send from lives. */
#define OUTBOX_MEDIA_URL_TTL_S	3600

/*
 * A template message (a follow-up, one a person chose, one the
 * whatsapp.sendTemplate tool sent) to chat_id, never held: spec is the
 * send spec stored in messages.template,
 *   {"template_id", "name", "language", "content_sid", "format":
 *    "POSITIONAL"|"NAMED", "params": [{"name","value","part"}],
 *    "quick_replies": [{"index", "payload"}]}
 * and body the text shown for it (the rendered template). Its send job
 * is due in delay_s (OUTBOX_SAFETY_S when the caller sends it at once, 0
 * when the job is to send it). author_user_id 0: none. DB_NOT_FOUND: not
 * the org's chat.
 */
enum db_status	 outbox_record_template(const struct app *app,
		    struct db *db, int64_t org_id, int64_t chat_id,
		    int64_t author_user_id, const cJSON *spec,
		    const char *body, int delay_s, struct outbox_new *out)
		    __attribute__((warn_unused_result));
/*
 * A scheduled run's result for chat_id (its open thread, if any), split
 * into parts, with no send job: the run's job is their only sender.
 * (run, chat, part) is unique, so a retried run finds what it recorded.
 */
enum db_status	 outbox_record_schedule(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t run_id, int64_t llm_call_id,
		    const char *const *texts, int n)
		    __attribute__((warn_unused_result));
/* The run's rows not sent yet (queued or sending), in order. */
enum db_status	 outbox_schedule_pending(struct db *db, struct arena *a,
		    int64_t org_id, int64_t run_id, int64_t **ids, int *n)
		    __attribute__((warn_unused_result));

/* --- holds (chat/window.h owns window_holds; these move the rows) ------ */

/* Gives chat_id's held rows that have no hold yet to hold_id; *n how
 * many (may be NULL). */
enum db_status	 outbox_hold_attach(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t hold_id, int *n)
		    __attribute__((warn_unused_result));
/*
 * The release of hold_id: with latest_only, its held scheduled results
 * but the newest run's of the last 24 hours fail OUTBOX_SUPERSEDED_TEXT;
 * every other held row of the hold goes back to queued; the hold's
 * template row (template_id, 0: none) fails OUTBOX_UNNEEDED_TEXT if it
 * was never sent. Run it in the caller's transaction.
 */
enum db_status	 outbox_hold_release(struct db *db, int64_t org_id,
		    int64_t hold_id, bool latest_only, int64_t template_id)
		    __attribute__((warn_unused_result));
/* One row to send of a released hold. */
struct outbox_row {
	int64_t	 id;
	bool	 is_reply;	/* a reply part: gated on the handoff status */
};

/* The hold's rows queued or sending, in order (in a). */
enum db_status	 outbox_hold_pending(struct db *db, struct arena *a,
		    int64_t org_id, int64_t hold_id, struct outbox_row **out,
		    int *n) __attribute__((warn_unused_result));

/* One held message, for the conversation view. */
struct outbox_held {
	int64_t	 id;
	char	*body;
	char	*created_at;		/* ISO 8601 UTC */
	int64_t	 schedule_run_id;	/* 0: not a scheduled result */
	char	*error_text;		/* the provider's refusal, "" none */
};

/* The chat's held messages, oldest first (at most 50, in a). */
enum db_status	 outbox_held_list(struct db *db, struct arena *a,
		    int64_t org_id, int64_t chat_id, struct outbox_held **out,
		    int *n) __attribute__((warn_unused_result));
/* Held rows with no hold older than min_age_s, any org: their chats
 * (the sweeper begins their holds). */
enum db_status	 outbox_unattached_any_org(struct db *db, int min_age_s,
		    int max, int64_t *org_ids, int64_t *chat_ids, int *n)
		    __attribute__((warn_unused_result));

enum outbox_resend {
	OUTBOX_RESEND_OK,		/* out names the new row */
	OUTBOX_RESEND_NOT_FOUND,	/* no such message of the org's chat */
	OUTBOX_RESEND_NOT_FAILED,	/* not a failed outbound message */
	OUTBOX_RESEND_ALREADY,		/* resent before (*resent_as) */
	OUTBOX_RESEND_FINAL,		/* a final provider error: *why */
	OUTBOX_RESEND_UNAVAILABLE,	/* the database */
};

/*
 * Resend of failed outbound message id of chat_id: a NEW queued row (same
 * chat, thread and body, author user_id, 0: none) linked from the failed
 * one by one conditional UPDATE, with its send job, in one transaction.
 * Of concurrent calls for one row exactly one gets OUTBOX_RESEND_OK; the
 * others OUTBOX_RESEND_ALREADY with *resent_as. A row whose error is
 * final for its channel (channel_code_final) is not resent: *why (static)
 * says why.
 */
enum outbox_resend outbox_record_resend(const struct app *app,
		    struct db *db, int64_t org_id, int64_t chat_id, int64_t id,
		    int64_t user_id, struct outbox_new *out,
		    int64_t *resent_as, const char **why);

/* --- the send sequence --------------------------------------------------- */

enum outbox_result {
	OUTBOX_SENT,		/* the provider accepted it (o holds its id) */
	OUTBOX_LATER,		/* "try later": queued again, a job retries */
	OUTBOX_REFUSED,		/* failed: the provider refused (o says why) */
	OUTBOX_DROPPED,		/* failed: the gate refused (a person took
				   the chat) */
	OUTBOX_UNKNOWN,		/* failed "delivery unknown", or sent but
				   the outcome could not be recorded */
	OUTBOX_GONE,		/* not queued: another sender has it or had
				   it; nothing was sent */
	OUTBOX_HELD,		/* held: the chat's 24-hour window is closed
				   (or the provider said so); the hold's
				   release sends it (chat/window.h) */
	OUTBOX_UNAVAILABLE,	/* the database, before the provider call:
				   nothing sent, still queued */
};

struct outbox_send {
	/* in */
	const struct app	*app;
	struct arena		*a;
	int64_t			 org_id;
	int64_t			 message_id;
	/* Reply parts: the chat's handoff status must allow the part's
	 * sender, checked in the statement that takes it. */
	bool			 gated;
	/* The caller is the row's only sender now (its reply job, its send
	 * job): a row found 'sending' was interrupted and is marked unknown.
	 * false: it is another sender's (OUTBOX_GONE). */
	bool			 recover;
	/* The row's send job (outbox_new.job_id): a "try later" moves it to
	 * the provider's backoff. 0: the caller is a job and retries itself
	 * (JOB_RETRY). */
	int64_t			 job_id;
	/* The message's channel, already open (NULL: opened for this send). */
	struct outbox_channel	*ch;
	/* out */
	struct send_outcome	 o;
};

/*
 * The send sequence for one queued row (see the file top). The caller
 * holds no database connection: the outbox takes its own, and gives it
 * back before the provider call.
 */
enum outbox_result outbox_send(struct outbox_send *s);
/*
 * Steps 2 and 3 for a part recorded already taken (outbox_record_reply
 * with take_first: its status 'sending'), going to chat `to` (is_group)
 * with body; s->ch must be open. The caller holds no connection.
 */
enum outbox_result outbox_send_taken(struct outbox_send *s, const char *to,
		    bool is_group, const char *body);
/* A word for logs ("sent", "later", …). */
const char	*outbox_result_str(enum outbox_result r);

/* --- after ------------------------------------------------------------- */

/*
 * A provider status callback: updates the outbound message with that
 * provider id on that channel, never moving backwards (sent < delivered <
 * read; failed wins). A failure for the window (channel_code_window) moves
 * a non-template message to held instead and begins the chat's hold
 * (with app; its follow-up template is sent by its job). DB_NOT_FOUND
 * when no such message.
 */
enum db_status	 outbox_status_update(const struct app *app, struct db *db,
		    int64_t org_id,
		    int64_t channel_id, const char *provider_message_id,
		    const char *status, const char *error_code,
		    const char *error_text) __attribute__((warn_unused_result));

/*
 * A status callback failed the message with a "try later" code
 * (channel_code_retry): a row still 'sent' with fewer than
 * OUTBOX_LATER_MAX attempts goes back to queued (error_code/text kept
 * for the timeline) with a send job due after a backoff growing with
 * its attempts, in one transaction; *requeued says so. When it is not
 * requeued the caller records the failure (outbox_status_update).
 */
enum db_status	 outbox_status_later(const struct app *app, struct db *db,
		    int64_t org_id, int64_t channel_id,
		    const char *provider_message_id, const char *error_code,
		    const char *error_text, bool *requeued)
		    __attribute__((warn_unused_result));

#endif
