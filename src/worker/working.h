/*
 * working: "working" and "read" on the provider while a turn is worked
 * on (issue 13; docs/whatsapp-platform.md §5). Per agent: the typing
 * indicator (which on Meta, Kapso and Twilio also marks the message, and
 * those before it, read), a read receipt alone (Meta, Kapso), and the ⏳
 * reaction (providers with reactions).
 *
 *   working_start  before the model is asked: ⏳ and typing (or read) are
 *                  sent at once, by the turn's own indicator thread
 *   (every WORKING_REFRESH_S) the typing indicator again: the providers
 *                  drop it after 25 s, a turn may take minutes
 *   working_quiet  before the reply goes out: no more refreshes (an
 *                  indicator sent after the reply would show "typing…"
 *                  again for 25 s)
 *   working_end    after the reply is out (or never will be): ⏳ comes
 *                  off; the handle is gone
 *   (leftover)     a run that resumes recorded parts after a crash
 *                  starts one with leftover set: nothing is shown, and
 *                  working_end takes off the ⏳ the crashed run placed
 *
 * DESIGN. Best effort, and never in the reply's way: every provider call
 * is made by the indicator's thread, never by the caller, with a short
 * timeout (WORKING_TIMEOUT_MS); a failure is logged at debug level. The
 * one wait a caller makes is working_quiet's, for the FIRST call only (so
 * the read receipt and indicator precede the reply), bounded by
 * WORKING_QUIET_WAIT_MS. The thread holds no database connection (the
 * channel's credentials are copied in, channels/channel.h
 * channel_creds_dup, so the caller may close its channel at once). One
 * thread per turn in progress: as many as the reply pool's workers.
 *
 * Thread-safety: a handle belongs to its caller until working_end; the
 * thread and the caller share it under its mutex, and whichever lets go
 * last frees it.
 */
#ifndef PARLEY_WORKER_WORKING_H
#define PARLEY_WORKER_WORKING_H

#include <stdbool.h>
#include <stdint.h>

struct channel_creds;
struct channel_ops;

#define WORKING_REFRESH_S	20	/* < the 25 s the indicator lasts */
#define WORKING_TIMEOUT_MS	5000	/* one provider call */
#define WORKING_QUIET_WAIT_MS	1000	/* for the first call, at most */

struct working_req {
	const struct channel_ops	*ops;
	const struct channel_creds	*creds;	/* copied */
	const char			*to;	/* the chat's address (⏳) */
	const char			*message_id; /* the provider's id of the
						    newest inbound message */
	bool				 typing;
	bool				 read;
	bool				 reaction;
	bool				 leftover;	/* only take off the ⏳
						   an earlier run placed */
	int64_t				 org_id;	/* logs */
	int64_t				 chat_id;	/* logs */
};

struct working;

/*
 * Starts the indicators req asks for; NULL when there is nothing to do
 * (no message id, nothing asked, nothing the provider has). Never fails
 * otherwise (a thread that cannot start is logged: no indicator).
 */
struct working	*working_start(const struct working_req *req);
/* No more typing refreshes (see above); NULL is fine. */
void		 working_quiet(struct working *w);
/* Ends it (⏳ removed when it was placed); the handle is gone. NULL is
 * fine. */
void		 working_end(struct working *w);
/*
 * Waits (at most timeout_ms) until every indicator thread has finished:
 * at shutdown, after the reply pool has stopped.
 */
void		 working_drain(int timeout_ms);

#endif
