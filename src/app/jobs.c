/*
 * jobs: the reply pool's job kinds and their handlers, in one table, and
 * its start and stop around the HTTP server (app.h), with the threads
 * that go with it.
 *
 * SEARCH INDEXER (issue 17). One thread runs chat/search.h's rounds when
 * ingest pokes it (messages were stored here) and at least every
 * SEARCH_IDLE_MS (messages other processes stored), until a round finds
 * less than a full batch. The turn watcher (worker/turn.h) runs beside
 * the pool too.
 *
 * SWEEP TIMER (issue 6). One small thread, started and stopped with the
 * pool, calls handoff_sweep_any_org every SWEEP_INTERVAL_S (human chats
 * idle too long return to the AI) and media_sweep every
 * PARLEY_MEDIA_SWEEP_SECONDS (media past each organisation's retention
 * are deleted, and objects nothing references are removed from the S3
 * store; chat/media.h), and every JOBS_SWEEP_INTERVAL_S deletes the jobs
 * that finished more than PARLEY_JOBS_KEEP_HOURS ago (worker/queue.h
 * queue_sweep_done_any_org), JOBS_SWEEP_ROWS at a time so no statement
 * holds the table long. It waits on a condition variable, so stopping
 * never waits out the interval. Its state is file-static because there
 * is one pool per process and struct app stays read-only after start.
 */
#include "app/app.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "util/log.h"
#include "chat/handoff.h"
#include "chat/media.h"
#include "chat/search.h"
#include "db/db.h"
#include "util/time.h"
#include "worker/fee.h"
#include "worker/pool.h"
#include "worker/queue.h"
#include "worker/schedule.h"
#include "worker/send.h"
#include "worker/turn.h"
#include "worker/working.h"

#define SWEEP_INTERVAL_S	60
#define JOBS_SWEEP_INTERVAL_S	SWEEP_INTERVAL_S
#define JOBS_SWEEP_ROWS		10000
/* Rounds per sweep at most: 100,000 rows a minute is about ten times
 * what two cores finish (~150 turns a second, a job or two each), so a
 * backlog (a first sweep) drains too. */
#define JOBS_SWEEP_ROUNDS	10

static void	*sweep_main(void *);
static void	 sweep_jobs(void);
static void	*index_main(void *);

static struct {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	pthread_t	 thread;
	bool		 running;
	bool		 stop;
	struct db_pool	*db;
	const struct app *app;
} sweep = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static struct {
	pthread_t	 thread;
	bool		 running;
	atomic_bool	 stop;
	struct db_pool	*db;
} indexer;

static const struct worker_handler	 handlers[] = {
	{ QUEUE_KIND_TURN, turn_job_run, turn_job_dead },
	{ QUEUE_KIND_ACK, turn_ack_run, NULL },
	{ QUEUE_KIND_SEND, send_job_run, send_job_dead },
	{ QUEUE_KIND_REPLY, turn_legacy_reply_run, NULL },
	{ QUEUE_KIND_RELEASE, release_job_run, release_job_dead },
	{ QUEUE_KIND_SCHEDULE, schedule_job_run, schedule_job_dead },
	{ QUEUE_KIND_TEMPLATES, templates_job_run, NULL },
	{ QUEUE_KIND_FEE, fee_job_run, NULL },
};

bool
app_workers_start(struct app *app)
{
	struct worker_pool_config	 c = {
		.db = app->db,
		/* LISTEN needs a session of its own: the direct URL when
		 * given; never a transaction pooler's (see config.h). */
		.conninfo = app->cfg.database_direct_url != NULL ?
		    app->cfg.database_direct_url : app->cfg.db_can_listen ?
		    db_pool_conninfo(app->db) : NULL,
		.n_threads = app->cfg.workers,
		.lease_s = app->cfg.job_lease_s,
		.acquire_timeout_ms = app->cfg.db_acquire_timeout_ms,
		.poll_ms = app->cfg.job_poll_ms,
		.handlers = handlers,
		.n_handlers = (int)(sizeof(handlers) / sizeof(handlers[0])),
		.app = app,
	};

	if (!turn_watch_start(app, app->cfg.workers))
		log_warn("app", "msg=\"turn watcher did not start\"");
	app->workers = worker_pool_start(&c);
	if (app->workers == NULL) {
		log_err("app", "msg=\"reply pool did not start\" threads=%d",
		    app->cfg.workers);
		return false;
	}
	log_info("app", "msg=\"reply pool started\" threads=%d",
	    app->cfg.workers);
	if (c.conninfo == NULL)
		log_warn("app", "msg=\"PARLEY_DB_POOLER=transaction and no "
		    "PARLEY_DATABASE_DIRECT_URL: LISTEN is off, the reply pool "
		    "polls for work every %d ms (set PARLEY_DATABASE_DIRECT_URL "
		    "to be woken at once)\"", app->cfg.job_poll_ms);

	/* --- the handoff sweep timer (see the file-top comment) --- */
	pthread_mutex_lock(&sweep.mu);
	sweep.stop = false;
	sweep.db = app->db;
	sweep.app = app;
	sweep.running = pthread_create(&sweep.thread, NULL, sweep_main,
	    NULL) == 0;
	pthread_mutex_unlock(&sweep.mu);
	if (!sweep.running)
		log_warn("app", "msg=\"handoff sweep timer did not start\"");

	/* --- the search indexer (see the file-top comment) --- */
	atomic_store(&indexer.stop, false);
	indexer.db = app->db;
	indexer.running = pthread_create(&indexer.thread, NULL, index_main,
	    NULL) == 0;
	if (!indexer.running)
		log_warn("app", "msg=\"search indexer did not start\"");
	/* Schedules, the window's sweep, template syncs (worker/schedule.h). */
	if (!schedule_ticker_start(app))
		log_warn("app", "msg=\"schedule ticker did not start\"");
	return true;
}

static void *
index_main(void *arg)
{
	struct db	*db;
	int		 n;

	(void)arg;
	while (!atomic_load(&indexer.stop)) {
		(void)search_wait(SEARCH_IDLE_MS);
		if (atomic_load(&indexer.stop))
			break;
		if ((db = db_acquire(indexer.db)) == NULL)
			continue;
		do {
			n = 0;
			if (search_index_any_org(db, &n) != DB_OK) {
				log_warn("app", "msg=\"search indexing "
				    "failed\"");
				break;
			}
		} while (n >= SEARCH_ROUND_MAX && !atomic_load(&indexer.stop));
		db_release(db);
	}
	return NULL;
}

static void *
sweep_main(void *arg)
{
	struct timespec	 until;
	struct db	*db;
	int64_t		 now, next_handoff, next_media, next_jobs, wait_s;
	int		 n;

	(void)arg;
	now = time_mono_ms() / 1000;
	next_handoff = now + SWEEP_INTERVAL_S;
	next_jobs = now + SWEEP_INTERVAL_S;
	/* The first media sweep soon after start: a server that restarts
	 * often still deletes what is due. */
	next_media = now + (sweep.app->cfg.media_sweep_s < SWEEP_INTERVAL_S ?
	    sweep.app->cfg.media_sweep_s : SWEEP_INTERVAL_S);
	pthread_mutex_lock(&sweep.mu);
	while (!sweep.stop) {
		now = time_mono_ms() / 1000;
		wait_s = (next_handoff < next_media ? next_handoff :
		    next_media);
		wait_s = (next_jobs < wait_s ? next_jobs : wait_s) - now;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += wait_s > 0 ? wait_s : 0;
		while (!sweep.stop && wait_s > 0 &&
		    pthread_cond_timedwait(&sweep.cv, &sweep.mu, &until) == 0)
			;
		if (sweep.stop)
			break;
		pthread_mutex_unlock(&sweep.mu);
		now = time_mono_ms() / 1000;
		if (now >= next_handoff) {
			next_handoff = now + SWEEP_INTERVAL_S;
			n = 0;
			if ((db = db_acquire(sweep.db)) != NULL) {
				if (handoff_sweep_any_org(db, &n) != DB_OK)
					log_warn("app", "msg=\"handoff sweep "
					    "failed\"");
				db_release(db);
			}
			if (n > 0)
				log_info("app", "msg=\"handoff sweep\" "
				    "returned=%d", n);
		}
		if (now >= next_jobs) {
			next_jobs = now + JOBS_SWEEP_INTERVAL_S;
			sweep_jobs();
		}
		if (now >= next_media) {
			next_media = now + sweep.app->cfg.media_sweep_s;
			if (!media_sweep(sweep.app, NULL, NULL))
				log_warn("app", "msg=\"media sweep failed: the "
				    "database is unavailable\"");
		}
		pthread_mutex_lock(&sweep.mu);
	}
	pthread_mutex_unlock(&sweep.mu);
	return NULL;
}

/* Finished jobs past their keeping time go (see the file top). */
static void
sweep_jobs(void)
{
	struct db	*db;
	int		 n = 0, total = 0;

	if ((db = db_acquire(sweep.db)) == NULL)
		return;
	for (int round = 0; round < JOBS_SWEEP_ROUNDS; round++) {
		if (queue_sweep_done_any_org(db,
		    (int64_t)sweep.app->cfg.jobs_keep_hours * 3600,
		    JOBS_SWEEP_ROWS, &n) != DB_OK) {
			log_warn("app", "msg=\"jobs sweep failed\"");
			break;
		}
		total += n;
		if (n < JOBS_SWEEP_ROWS)
			break;
	}
	db_release(db);
	if (total > 0)
		log_info("app", "msg=\"jobs sweep\" deleted=%d", total);
}

void
app_workers_stop(struct app *app)
{
	schedule_ticker_stop();
	pthread_mutex_lock(&sweep.mu);
	sweep.stop = true;
	pthread_cond_broadcast(&sweep.cv);
	pthread_mutex_unlock(&sweep.mu);
	if (sweep.running)
		pthread_join(sweep.thread, NULL);
	sweep.running = false;
	atomic_store(&indexer.stop, true);
	search_wake_all();
	if (indexer.running)
		pthread_join(indexer.thread, NULL);
	indexer.running = false;
	worker_pool_stop(app->workers);
	app->workers = NULL;
	turn_watch_stop();
	/* The turns' indicator threads end with their turns; wait for the
	 * last provider calls (bounded by their own timeout). */
	working_drain(WORKING_TIMEOUT_MS + 1000);
}
