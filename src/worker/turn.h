/*
 * turn: the "turn" job — a conversation turn answers everything a person
 * said in a chat since the last answer (see turn.c for the design), and
 * the jobs around it: "ack" (the optional "still working" text for a
 * message that arrives while the model works) and "reply" (a job from
 * before turns: its message goes to its chat's turn).
 *
 * Turn jobs are made by the queue's claim from a chat whose turn is due
 * (worker/queue.h TURNS), never enqueued by hand: to have a chat
 * answered, make its turn due (chat/ingest.c does for every message).
 *
 * The watcher: while turns run, one statement every TURN_WATCH_MS (for
 * the whole process, however many turns run) asks which of their chats
 * got a new message, so a turn can restart or follow up (the agent's
 * busy_mode) and the message is acknowledged when the agent wants
 * (busy_ack). turn_watch_start/stop run it beside the pool.
 */
#ifndef PARLEY_WORKER_TURN_H
#define PARLEY_WORKER_TURN_H

#include <stddef.h>

#include "worker/pool.h"

struct app;
struct job;

#define TURN_WATCH_MS	250

/* The handlers (w->app is the struct app). */
enum job_result	 turn_job_run(struct worker_ctx *w, const struct job *job,
		    char *err, size_t errlen);
/* A dead turn: its unsent parts fail, its messages are settled with the
 * reason (Answer again, in the conversation or the Jobs page, undoes). */
void		 turn_job_dead(struct worker_ctx *w, const struct job *job,
		    const char *why);
enum job_result	 turn_ack_run(struct worker_ctx *w, const struct job *job,
		    char *err, size_t errlen);
enum job_result	 turn_legacy_reply_run(struct worker_ctx *w,
		    const struct job *job, char *err, size_t errlen);

/* The watcher, for a pool of n_workers (its slots are the workers'). */
bool		 turn_watch_start(struct app *app, int n_workers);
void		 turn_watch_stop(void);

#endif
