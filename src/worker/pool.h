/*
 * pool: the reply pool's threads (after Redis bio.c).
 *
 * DESIGN. A fixed number of worker threads, each sleeping on a condition
 * variable of its own in a set of idle workers. A listener thread holds a
 * LISTEN connection on the queue's channel and wakes ONE idle worker per
 * NOTIFY and, as the poll fallback, once per poll interval (so a lost
 * notification or a job whose backoff just ended costs at most one
 * interval), while an idle pool costs one claim attempt per interval, not
 * one per thread (measured: 1,024 threads broadcasting cost ~1,200 claims
 * a second and starved webhooks of connections, bench/README.md).
 *
 * CLAIMS. A woken worker reserves up to 15 idle workers and claims, in
 * ONE statement, up to one due job for itself and one for each of them
 * (each leased to the worker that will run it, queue_claim_many_any_org);
 * it hands each helper its job and wakes it, puts back to sleep the ones
 * left without, and runs its own through the handler registered for its
 * kind. When the claim says more is due than it took, it wakes one more
 * worker first, which claims the next batch. So a burst of N due turns
 * costs about N / 16 claim statements, not N plus one per chain of
 * wake-ups that found nothing (measured: 2.15 claims per answered turn
 * before, bench/README.md). A worker takes a
 * database connection only to claim and to record the outcome, never while
 * the handler waits on an LLM or a provider (the handler acquires its own
 * when it needs one). Stopping sets a flag and wakes every worker: each
 * finishes the job in hand or handed to it (drain; a reserved worker
 * waits for its claimer first), claims nothing new, and is joined.
 *
 * A claim that finds nothing due says when the next job or turn falls
 * due (a debounced turn, a backoff); the listener then wakes one worker
 * at that moment (to WAKE_GRAIN_MS), so a turn starts when its debounce
 * ends, not at the next poll. After a job, a worker claims again only
 * when its claim said more was due or its handler asked (worker_ctx
 * .again: a follow-up turn of the same chat became due); a job that falls
 * due meanwhile has its NOTIFY, which hands a wake-up to an idle worker
 * or to the next one to finish.
 *
 * Several processes may run pools on one database: claims use SKIP LOCKED
 * and leases (worker/queue.c), so no job runs twice at once. A worker's id
 * (host:pid:random tag:wN) is unique across processes and pools.
 *
 * Without a LISTEN connection (conninfo NULL: behind a transaction pooler
 * with no direct URL) the poll interval is the only wake-up.
 *
 * LEASES. A job is claimed under a lease of lease_s seconds, and a lease
 * keeper thread renews the leases of every job the pool is running, all
 * in one statement, every lease_s / 3 seconds, on a connection of its own
 * (not the shared pool, which may be empty under load). A handler never
 * renews anything: a model call, tool rounds, a transcription, a media
 * download or a provider send can take as long as their own timeouts
 * allow without the job being taken over. A handler asks
 * worker_lease_ok() before an external effect; a lease the keeper found
 * taken (this process stalled past it) says false, and the handler stops
 * without acting, so the new holder is the only one that acts.
 *
 * THE END OF A JOB. A job that fails for good (JOB_FAIL, its last
 * attempt's JOB_RETRY, or a job whose workers vanished more often than it
 * may be attempted) is dead. Before it is buried, its kind's `dead`
 * handler (optional) has the last word: the reply job marks what it
 * could not send as failed, with the reason, so a person sees it and can
 * resend it.
 *
 * Failover. A claim that fails as "unavailable" may have committed on a
 * server that died before answering; its job would sit leased to this
 * worker until the lease ran out. The worker remembers the doubt and, at
 * its next claim, first gives back whatever is still leased to it (it is
 * between jobs, so none of that is running). An outcome is recorded with
 * retries for up to 30 s, so a job that ran is not run again because the
 * primary was away for a few seconds; if even that fails, the job is
 * given back the same way (a re-run reads its rows and sends nothing
 * twice, worker/reply.c).
 */
#ifndef PARLEY_WORKER_POOL_H
#define PARLEY_WORKER_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct db_pool;
struct job;
struct worker_pool;

enum job_result {
	JOB_DONE = 0,	/* finished: mark done */
	JOB_RETRY,	/* transient failure: retry with backoff */
	JOB_FAIL,	/* permanent failure: dead now */
};

/* What a handler may use while it runs one job. */
struct worker_ctx {
	struct worker_pool	*pool;
	void			*app;		/* the config's app pointer */
	struct db_pool		*db;
	const char		*worker_id;
	int			 lease_s;
	int			 slot;		/* the worker's index */
	bool			 again;		/* set by the handler: claim
						   again after this job */
};

/* Runs one job; on JOB_RETRY/JOB_FAIL writes a sentence into err. */
typedef enum job_result	(*job_fn)(struct worker_ctx *w, const struct job *job,
			    char *err, size_t errlen);

/* The last word on a job that is about to be dead (see LEASES above);
 * why is the job's last error. Best effort: it takes its own connection. */
typedef void		(*job_dead_fn)(struct worker_ctx *w,
			    const struct job *job, const char *why);

struct worker_handler {
	const char	*kind;
	job_fn		 fn;
	job_dead_fn	 dead;		/* NULL: nothing to say */
};

struct worker_pool_config {
	struct db_pool			*db;
	const char			*conninfo;	/* for LISTEN; NULL:
							   poll only */
	int				 n_threads;
	int				 lease_s;	/* 0: 300 */
	int				 acquire_timeout_ms;	/* the lease
							   keeper's; 0: 3000 */
	int				 poll_ms;	/* 0: 1000 */
	const struct worker_handler	*handlers;
	int				 n_handlers;
	void				*app;
};

/* Starts the threads; NULL when they cannot be created. */
struct worker_pool	*worker_pool_start(const struct worker_pool_config *c);
/* Drains and joins every thread, then frees the pool; NULL is a no-op. */
void			 worker_pool_stop(struct worker_pool *p);
/* Wakes idle workers (e.g. after enqueueing in this process). */
void			 worker_pool_wake(struct worker_pool *p);
/* Wakes one idle worker in delay_ms (the earliest such wish wins). */
void			 worker_pool_wake_in(struct worker_pool *p, int delay_ms);
/*
 * True while the job w runs is still this worker's: the lease keeper
 * has renewed it (or has not yet found it taken). No statement.
 */
bool			 worker_lease_ok(struct worker_ctx *w);

#endif
