/*
 * pool: the reply pool's threads (after Redis bio.c).
 *
 * DESIGN. A fixed number of worker threads share one condition variable.
 * A listener thread holds a LISTEN connection on the queue's channel and
 * wakes ONE idle worker per NOTIFY and, as the poll fallback, once per
 * poll interval (so a lost notification or a job whose backoff just ended
 * costs at most one interval). A worker that claims a job wakes one more
 * before running it, so a burst fans out across the pool one claim at a
 * time, while an idle pool costs one claim attempt per interval, not one
 * per thread (measured: 1,024 threads broadcasting cost ~1,200 claims a
 * second and starved webhooks of connections, bench/README.md). A woken
 * worker claims jobs until none is due, running each through the handler
 * registered for its kind. A worker takes a
 * database connection only to claim and to record the outcome, never while
 * the handler waits on an LLM or a provider (the handler acquires its own
 * when it needs one). Stopping sets a flag and broadcasts: workers finish
 * the job in hand (drain), claim nothing new, and are joined.
 *
 * Several processes may run pools on one database: claims use SKIP LOCKED
 * and leases (worker/queue.c), so no job runs twice at once. A worker's id
 * (host:pid:random tag:wN) is unique across processes and pools.
 *
 * Without a LISTEN connection (conninfo NULL: behind a transaction pooler
 * with no direct URL) the poll interval is the only wake-up.
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
	int64_t			 lease_set_ms;	/* time_mono_ms() when the
						   lease was last set */
};

/* Runs one job; on JOB_RETRY/JOB_FAIL writes a sentence into err. */
typedef enum job_result	(*job_fn)(struct worker_ctx *w, const struct job *job,
			    char *err, size_t errlen);

struct worker_handler {
	const char	*kind;
	job_fn		 fn;
};

struct worker_pool_config {
	struct db_pool			*db;
	const char			*conninfo;	/* for LISTEN; NULL:
							   poll only */
	int				 n_threads;
	int				 lease_s;	/* 0: 300 */
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
/*
 * Extends the lease of the job w is running; false when it was lost. A
 * lease set less than a third of its length ago is not renewed (no
 * statement): it cannot have expired, so it cannot have been lost to
 * another worker. worker_heartbeat_on does the same on a connection the
 * caller holds (never take a second one while holding one: with every
 * worker doing it the pool empties).
 */
bool			 worker_heartbeat(struct worker_ctx *w,
			    const struct job *job);
bool			 worker_heartbeat_on(struct worker_ctx *w,
			    struct db *db, const struct job *job);

#endif
