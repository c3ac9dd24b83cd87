/*
 * schedule: scheduled runs and heartbeats (model/schedule.h), the window
 * hold's release (chat/window.h) and template syncs (chat/templates.h)
 * as jobs, and the ticker that makes them due.
 *
 * THE TICKER. One thread per process (schedule_ticker_start/stop, from
 * app/jobs.c with the pool) wakes every PARLEY_SCHEDULE_TICK_MS and, in
 * one transaction, locks the due schedules (FOR UPDATE SKIP LOCKED),
 * records each one's run of its due slot, moves it to the first slot
 * after now and queues the run's job: with several processes on one
 * database a slot fires once, and after a downtime a schedule that
 * missed several slots runs once. Every few ticks it also sweeps the
 * window (holds a crash left half-begun, releases a message missed) and
 * claims the channels whose periodic template sync is due.
 *
 * THE RUN JOB ("schedule", {"run_id"}). A run is a turn of the agent
 * with the schedule's prompt as its input: the targets are resolved
 * first (none: the run is done with a note, and no model is asked), then
 * the gateway answers with the agent's tools (the chat is given to the
 * whatsapp.* tools when the run has exactly one target), the answer is
 * recorded on the run, then recorded per target as the outbox's rows
 * (split to the channel's limit; (run, chat, part) unique) and sent in
 * order through outbox_send, whose window check holds what a closed
 * window must hold. The job is its rows' only sender: a retry re-reads
 * the run (the answer is asked for once) and sends what is still queued;
 * a row found sending is "delivery unknown", never sent twice. When the
 * job dies, its rows still queued fail with its reason (none is left
 * behind without a sender).
 *
 * THE RELEASE JOB ("release", {"hold_id"}): window_release. THE SYNC JOB
 * ("templates", {"channel_id"}): templates_sync.
 */
#ifndef PARLEY_WORKER_SCHEDULE_H
#define PARLEY_WORKER_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

#include "worker/pool.h"

struct app;

enum job_result	 schedule_job_run(struct worker_ctx *w, const struct job *job,
		    char *err, size_t errlen);
void		 schedule_job_dead(struct worker_ctx *w, const struct job *job,
		    const char *why);
enum job_result	 release_job_run(struct worker_ctx *w, const struct job *job,
		    char *err, size_t errlen);
void		 release_job_dead(struct worker_ctx *w, const struct job *job,
		    const char *why);
enum job_result	 templates_job_run(struct worker_ctx *w,
		    const struct job *job, char *err, size_t errlen);

/*
 * "Run now": a manual run of the org's agent's schedule id and its job,
 * in one transaction. DB_NOT_FOUND: no such schedule.
 */
struct db;
enum db_status	 schedule_run_queue(const struct app *app, struct db *db,
		    int64_t org_id, int64_t agent_id, int64_t id,
		    int64_t *run_id) __attribute__((warn_unused_result));

/* Starts and stops the ticker (see above); start is false when the
 * thread could not start. */
bool		 schedule_ticker_start(struct app *app);
void		 schedule_ticker_stop(void);
/* One tick, for tests of the firing logic; how many runs it queued. */
int		 schedule_tick(struct app *app);

#endif
