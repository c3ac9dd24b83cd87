/*
 * handoff: human takeover of a WhatsApp chat, and outages waited out
 * (owns the handoff state of table `chats`: status, status_changed_at,
 * assigned_user_id, handoff_reason, last_human_at, outage_since,
 * outage_noticed; and table `handoffs`, the record of each handoff a
 * model asked for).
 *
 *   ai ──(keyword | handoff.request | outage window spent)──▶ needs_human
 *   ai | needs_human | human ──claim/reply──▶ human (assigned)
 *   needs_human | human ──return──▶ ai (thread closed: the next message
 *                                       opens a new one)
 *   needs_human (outage, nobody claimed) ──the model answers again──▶ ai,
 *                                       with a note in the timeline
 *   any ──close──▶ closed (thread closed); an inbound message in a closed
 *                  chat reopens it as ai
 *   human, idle for orgs.human_idle_hours ──sweep──▶ ai, with a note
 *   any ──the business writes from the WhatsApp Business app (an echo,
 *         coexistence)──▶ human, reason "business_app", unassigned: the
 *         bot is silent until a member returns the chat, as after a claim
 *
 * OWNERSHIP (Meta's conversation routing, chats.owner, written by
 * chat/coexist.c): a thread another app owns ('other_app') is not
 * answered whatever the status; it is Parley's again when control is
 * passed back, or once the other app's thread idles (no message from the
 * contact for 24 hours before the one to answer, Meta's rule:
 * handoff_ours takes it back).
 *
 * Who answers a chat is ONE predicate, handoff_answerer(), over the
 * status, reason, assignee and owner: the turn asks it and nothing else
 * (the outbox's gated take repeats "status 'ai' and owner 'parley'" in
 * SQL). Every transition is one
 * conditional UPDATE naming the states it leaves, so two members, a
 * member and the pool, or two processes can race on a chat and exactly
 * one wins; the loser sees DB_CONFLICT (or *changed false) and does
 * nothing. The outbox re-checks the status in the very statement that
 * moves each reply part to sending (outbox_send, gated), so an answer
 * produced while a person took over is dropped.
 *
 * OUTAGES. A model that errs, times out or rate-limits is waited out:
 * each failed turn counts from the chat's first failure (outage_since)
 * and comes back after a growing pause (the provider's Retry-After when
 * longer); once the wait passes the agent's notice time the user hears
 * TEXT_SLOW once; once it passes the agent's window the chat needs a
 * person (reason HANDOFF_REASON_OUTAGE) and the turn keeps probing the
 * model, less often. If the model answers before anybody claims the
 * chat, the chat returns to the AI (a note says so) and the answer is
 * sent; a person who claims it keeps it.
 *
 * Thread-safe: no shared state.
 */
#ifndef PARLEY_CHAT_HANDOFF_H
#define PARLEY_CHAT_HANDOFF_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"

struct app;
struct arena;
struct outbox_new;

#define HANDOFF_REASON_KEYWORD	"keyword"
#define HANDOFF_REASON_MODEL	"model"
#define HANDOFF_REASON_OUTAGE	"outage"
#define HANDOFF_REASON_BUSINESS_APP "business_app"
/* The status of a part the reply job dropped because a person took over. */
#define HANDOFF_DROPPED_TEXT	"handoff: a person took over"
/* The sender of the handoff text's parts and of the pool's notes. */
#define HANDOFF_SENDER_TEXT	"handoff"
#define HANDOFF_SENDER_SYSTEM	"system"

/*
 * True when body contains one of the keywords, case-insensitively, as a
 * whole word or phrase (bounded by the text's ends or by characters that
 * are not letters or digits; any non-ASCII byte counts as a letter).
 * Empty keywords never match. Pure.
 */
bool		 handoff_keyword_match(const char *body,
		    const char *const *keywords, int n);

/*
 * ai → needs_human with reason (cut to 500 bytes by the caller's
 * choice; stored as given). *changed is true only for the call that
 * moved the chat, so the handoff text is sent once. DB_NOT_FOUND: not the
 * org's chat.
 */
enum db_status	 handoff_request(struct db *db, int64_t org_id,
		    int64_t chat_id, const char *reason, bool *changed)
		    __attribute__((warn_unused_result));

/* A handoff a model asked for (the handoff.request tool). */
struct handoff_ask {
	int64_t		 agent_id;	/* 0: none */
	int64_t		 llm_call_id;	/* the model call that asked */
	int64_t		 chat_id;	/* the WhatsApp chat, 0: none (API) */
	const char	*reason;	/* "" when none */
	const char	*contact;	/* "" when none */
};

/*
 * Records the handoff (table `handoffs`, *id its row) and, with a chat,
 * moves it ai → needs_human (reason, else HANDOFF_REASON_MODEL; *changed
 * as handoff_request), in one transaction.
 */
enum db_status	 handoff_ask(struct db *db, int64_t org_id,
		    const struct handoff_ask *ask, int64_t *id, bool *changed)
		    __attribute__((warn_unused_result));

/* The chat's status ("ai", "needs_human", "human", "closed") in out. */
enum db_status	 handoff_status(struct db *db, int64_t org_id,
		    int64_t chat_id, char out[16])
		    __attribute__((warn_unused_result));

/*
 * "Is this chat ours to answer": *ours when the status is 'ai' and
 * Parley owns the thread. A thread another app owns whose contact wrote
 * nothing in the 24 hours before message_id (an inbound message of the
 * chat; 0: no such check) has idled: it becomes Parley's again here (one
 * conditional UPDATE, with a note) and *ours is true. status (may be
 * NULL) gets the handoff status. DB_NOT_FOUND: not the org's chat.
 */
enum db_status	 handoff_ours(struct db *db, int64_t org_id, int64_t chat_id,
		    int64_t message_id, char status[16], bool *ours)
		    __attribute__((warn_unused_result));

/*
 * The business wrote in the chat from the WhatsApp Business app: any
 * status → human (reason HANDOFF_REASON_BUSINESS_APP when it was not
 * human yet; an assignee is kept), last_human_at now, so the sweep
 * returns it to the AI after orgs.human_idle_hours like any person's
 * chat. *changed: it was not human before. DB_NOT_FOUND: not the org's.
 */
enum db_status	 handoff_business_app(struct db *db, int64_t org_id,
		    int64_t chat_id, bool *changed)
		    __attribute__((warn_unused_result));

/* closed → ai (an inbound message reopens the chat); *reopened says so. */
enum db_status	 handoff_reopen(struct db *db, int64_t org_id,
		    int64_t chat_id, bool *reopened)
		    __attribute__((warn_unused_result));

/* Who answers a chat now, as its turn asks (see the file top). */
enum handoff_answerer {
	HANDOFF_AI,		/* the agent answers */
	HANDOFF_REOPEN,		/* closed: an inbound message reopens it as
				   ai, then the agent answers */
	HANDOFF_PERSON,		/* a person has it, or it waits for one */
	HANDOFF_PROBE,		/* it waits for a person after an outage and
				   nobody claimed it: the agent may try the
				   model, and answers if it is back */
	HANDOFF_OTHER_APP,	/* 'ai', but another app owns the thread:
				   nobody here answers, unless handoff_ours
				   finds its thread idle and takes it back */
};

/*
 * The ONE predicate: from the chat's status, handoff reason, assignee
 * and thread owner (chat/messages.h struct chat_turn has them). Pure.
 */
enum handoff_answerer handoff_answerer(const char *status, const char *reason,
		    int64_t assigned_user_id, const char *owner);

/* Why a message is not answered while another app owns the thread. */
#define HANDOFF_OTHER_APP_REASON "Not answered: another app owns this " \
	"conversation (WhatsApp's conversation routing)."

/* The reason an outage's handoff is recorded with (table handoffs). */
#define HANDOFF_OUTAGE_TEXT	"The model was unavailable for the agent's " \
				"whole outage window."

/* What a failed model call did to the chat's outage (handoff_outage). */
enum handoff_outage {
	HANDOFF_OUTAGE_WAIT,	/* wait more: its turn comes back later */
	HANDOFF_OUTAGE_NOTICE,	/* the same, and now the user hears
				   TEXT_SLOW (once) */
	HANDOFF_OUTAGE_HANDOFF,	/* the window is spent: the chat needs a
				   person now (TEXT_HANDOFF), and is probed */
};

/*
 * The model failed the chat's turn (5xx, timeout, 429): counts the
 * outage from its first failure, decides (enum handoff_outage) against
 * the agent's window_s and notice_s, and brings the chat's turn back
 * after a pause (at least retry_after_ms, the provider's wish) in the
 * same statement; *retry_s (may be NULL) gets the pause. The handoff is
 * recorded in `handoffs` (agent agent_id, 0: none; the chat's contact)
 * by the same statement, as a model's handoff.request is.
 */
enum db_status	 handoff_outage(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t agent_id, int window_s, int notice_s,
		    int retry_after_ms, enum handoff_outage *what,
		    int *retry_s) __attribute__((warn_unused_result));
/*
 * The model answered the chat again: its outage ends, and a chat that
 * waited for a person because of it, unclaimed, returns to the AI
 * (*returned, may be NULL, says so).
 */
enum db_status	 handoff_outage_over(struct db *db, int64_t org_id,
		    int64_t chat_id, bool *returned)
		    __attribute__((warn_unused_result));

/*
 * A member takes the chat: ai|needs_human|human → human, assigned to
 * user_id, last_human_at now; its messages nobody answered are settled
 * ("a person took the chat"). DB_NOT_FOUND: not the org's chat;
 * DB_CONFLICT: the chat is closed.
 */
enum db_status	 handoff_claim(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t user_id)
		    __attribute__((warn_unused_result));
/*
 * needs_human|human → ai; closes the open thread, so the next message
 * starts a new one, and makes the chat's turn due when messages wait
 * for an answer. DB_CONFLICT: the chat is already ai or closed.
 */
enum db_status	 handoff_return(struct db *db, int64_t org_id,
		    int64_t chat_id) __attribute__((warn_unused_result));
/*
 * A fresh start (the sandbox's Reset): any state → ai, the open thread
 * closed (close_reason 'reset'), the outage forgotten and what waited
 * settled ("the chat was reset"). DB_NOT_FOUND: not the org's chat.
 */
enum db_status	 handoff_reset(struct db *db, int64_t org_id,
		    int64_t chat_id) __attribute__((warn_unused_result));
/* any but closed → closed; closes the open thread, settles what waited
 * ("the chat was closed"). DB_CONFLICT: closed. */
enum db_status	 handoff_close(struct db *db, int64_t org_id,
		    int64_t chat_id) __attribute__((warn_unused_result));

/*
 * A member's reply from the timeline: the chat becomes human (assigned
 * to user_id when it was not yet human) and the message is recorded in
 * the outbox with its send job (outbox_record_human), answering what
 * waited (answered_by), in one transaction;
 * the caller then releases its connection and sends it (outbox_send with
 * out->job_id). DB_NOT_FOUND: not the org's chat; DB_CONFLICT: the chat
 * is closed.
 */
enum db_status	 handoff_reply(const struct app *app, struct db *db,
		    int64_t org_id, int64_t chat_id, int64_t user_id,
		    const char *body, struct outbox_new *out)
		    __attribute__((warn_unused_result));

/* The number of chats waiting for a person (status needs_human). */
enum db_status	 handoff_count_waiting(struct db *db, int64_t org_id,
		    int64_t *n) __attribute__((warn_unused_result));

/* One chat that needs a person and nobody claimed in time. */
struct handoff_waiting {
	int64_t	 chat_id;
	char	*display_name;
	char	*external_id;
	char	*reason;
	char	*since;		/* status_changed_at, ISO 8601 UTC */
	int	 waited_minutes;
};

/*
 * Chats in needs_human for longer than orgs.handoff_unclaimed_minutes,
 * longest waiting first, at most limit (1..200); *minutes gets the
 * setting ("waiting longer than N minutes"). Strings in a.
 */
enum db_status	 handoff_unclaimed(struct db *db, struct arena *a,
		    int64_t org_id, int limit, struct handoff_waiting **out,
		    int *n, int *minutes) __attribute__((warn_unused_result));

/*
 * The periodic sweep, for every organisation: chats in 'human' with no
 * human activity (last_human_at, else status_changed_at) for the org's
 * human_idle_hours return to the AI, their thread closed, with a system
 * note in the timeline that is never sent. At most 100 chats per call
 * (the timer calls again). *n_returned (may be NULL) gets the count.
 */
enum db_status	 handoff_sweep_any_org(struct db *db, int *n_returned)
		    __attribute__((warn_unused_result));

/*
 * handoff_reply with a file (chat/outbox.h struct outbox_media, staged
 * by chat/media.h media_out_prepare): the chat taken, the media message
 * recorded with its send job, what waited settled, in one transaction.
 */
struct outbox_media;
enum db_status	 handoff_reply_media(const struct app *app, struct db *db,
		    int64_t org_id, int64_t chat_id, int64_t user_id,
		    const struct outbox_media *m, struct outbox_new *out)
		    __attribute__((warn_unused_result));

#endif
