/*
 * window: WhatsApp's 24-hour customer service window as a state machine
 * (owns table `window_holds`; the rows it holds are the outbox's, moved
 * only by chat/outbox.h).
 *
 * Each chat's window closes WINDOW_SECONDS after its last inbound message
 * (chats.last_inbound_at, set at ingest; for a group any member's
 * message). Outside it only an approved template may be sent, so:
 *
 *   open ──the outbox takes a text while closed, or the provider refuses
 *        one for the window (63016 / 131047)──▶ HOLD: the text waits in
 *        the outbox's 'held' state; the first held message of a closed
 *        window opens a hold and records the agent's follow-up template
 *        (model/followup.h: per agent and channel, default
 *        "session_followup") in its place, sent once per hold, with the
 *        Continue quick reply's payload "parley_continue:<hold id>"
 *   HOLD ──any inbound message (a Continue tap: Meta `button`, Twilio
 *        ButtonPayload, Kapso's button or button_reply)──▶ released: one
 *        job (app->queue.release) sends the held messages in order;
 *        with the agent's "latest" rule only the newest held scheduled
 *        result of the last 24 hours goes (older ones fail "superseded")
 *   a later closed window ──▶ a new hold, a new template
 *
 * While a hold is open, every text to the chat joins it (the outbox's take
 * counts an open hold as a closed window), so nothing overtakes what is
 * held, and a window the provider declared closed (a refusal) stays
 * closed until the contact writes, whatever chats.last_inbound_at says.
 *
 * Races: the outbox's take reads the window as committed when it starts;
 * window_hold_begin locks the chat row and reads it again, and ingest's
 * chat upsert holds the same lock until its commit, so a message that
 * reopens the window either commits first (the hold begins already
 * released) or finds the hold open (window_inbound releases it). A crash
 * between take and hold leaves held rows without a hold, which
 * window_sweep_any_org picks up, as it does an open hold whose chat has
 * written since (a release missed).
 *
 * Every statement names org_id = $1 but the batch ones (window_inbound,
 * the sweep), whose every row carries its org. Thread-safe: no shared
 * state.
 */
#ifndef PARLEY_CHAT_WINDOW_H
#define PARLEY_CHAT_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

struct app;
struct arena;
struct outbox_new;
struct outbox_held;

#define WINDOW_SECONDS		(24 * 3600)
/* Our quick-reply payload: "parley_continue" or "parley_continue:<id>". */
#define WINDOW_CONTINUE		"parley_continue"

/* True when a button's payload is our Continue (see above). */
bool		 window_is_continue(const char *payload);

/*
 * Begins chat_id's hold for its held rows that have none (or gives them
 * to the open hold), in one transaction under the chat's lock. A new hold
 * records the follow-up template (*tmpl: its message and send job; 0
 * when none was recorded) with its send job due at OUTBOX_SAFETY_S when
 * caller_sends (the caller sends it at once), else now. When the window
 * is open after all (the contact wrote since the open hold began; with
 * no hold, within WINDOW_SECONDS, unless provider_closed: the provider
 * said it is closed, and the provider is right), the hold is released and
 * its release job queued.
 */
enum db_status	 window_hold_begin(const struct app *app, struct db *db,
		    int64_t org_id, int64_t chat_id, bool caller_sends,
		    bool provider_closed, struct outbox_new *tmpl)
		    __attribute__((warn_unused_result));

/* A stored inbound message, for window_inbound. */
struct window_seen {
	int64_t	 org_id;
	int64_t	 message_id;
	bool	 is_continue;	/* a tap on our Continue button */
};

/*
 * Ingest's hook (chat/ingest.c, in its transaction): the open holds of
 * the chats of these n stored messages are released and their release
 * jobs queued. One statement when no hold is open.
 */
enum db_status	 window_inbound(const struct app *app, struct db *db,
		    const struct window_seen *seen, int n)
		    __attribute__((warn_unused_result));

enum window_release {
	WINDOW_RELEASED,	/* every row went (or failed) */
	WINDOW_LATER,		/* a provider asked to wait: retry */
	WINDOW_UNAVAILABLE,	/* the database */
};

/*
 * The release job's work for hold_id (worker/hold.c): applies the
 * agent's rule, then sends the hold's rows in order through the outbox
 * (this job is their only sender). err gets a sentence for a retry.
 */
enum window_release window_release(const struct app *app, int64_t org_id,
		    int64_t hold_id, char *err, size_t errlen);
/* The release job died: its unsent rows fail with why. */
enum db_status	 window_release_failed(const struct app *app, struct db *db,
		    int64_t org_id, int64_t hold_id, const char *why)
		    __attribute__((warn_unused_result));
/*
 * The sweep (worker/schedule.c's ticker): holds for held rows that have
 * none (a crash between take and hold) and releases of open holds whose
 * chat wrote since. *n: how many holds it began or released.
 */
enum db_status	 window_sweep_any_org(const struct app *app, struct db *db,
		    int *n) __attribute__((warn_unused_result));

/* What the conversation view shows of a chat's window. */
struct window_view {
	bool			 has_hold;
	int64_t			 hold_id;
	char			*opened_at;	/* ISO */
	int64_t			 template_message_id;	/* 0: none */
	char			*template_status;	/* its outbox status */
	char			*template_error;	/* why none, "" */
	struct outbox_held	*held;		/* the held messages */
	int			 n_held;
};

enum db_status	 window_view(struct db *db, struct arena *a, int64_t org_id,
		    int64_t chat_id, struct window_view *out)
		    __attribute__((warn_unused_result));

#endif
