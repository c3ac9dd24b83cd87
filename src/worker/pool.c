/*
 * pool: worker threads, the LISTEN wake-up and drain on stop (see pool.h
 * for the design).
 */
#include "worker/pool.h"

#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "util/log.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/time.h"
#include "util/xmalloc.h"
#include "worker/queue.h"

/* How long a worker keeps trying to record a job's outcome while the
 * database is away (a failover takes seconds), and how often. */
#define OUTCOME_RETRY_MS	30000
#define OUTCOME_NAP_MS		200

struct worker {
	struct worker_pool	*pool;
	pthread_t		 thread;
	char			 id[128];
	bool			 started;
	/* A job may still be leased to us that we are not running: a claim
	 * whose answer was lost, an outcome never recorded. */
	bool			 has_orphans;
};

struct worker_pool {
	struct worker_pool_config	 cfg;
	pthread_mutex_t			 mu;
	pthread_cond_t			 cv;
	unsigned			 pending;	/* wake-ups not yet taken */
	bool				 stopping;
	struct worker			*workers;
	pthread_t			 listener;
	bool				 listener_started;
	struct db_listener		*listen;
};

static void		*worker_main(void *);
static void		*listener_main(void *);
static bool		 run_one(struct worker *);
static const struct worker_handler *handler_for(struct worker_pool *,
			    const char *);
static void		 wait_for_work(struct worker_pool *);
static void		 wake_one(struct worker_pool *);
static bool		 is_stopping(struct worker_pool *);
static enum db_status	 record_outcome(struct worker *, const struct job *,
			    enum job_result, const char *);

static const struct worker_handler *
handler_for(struct worker_pool *p, const char *kind)
{
	for (int i = 0; i < p->cfg.n_handlers; i++)
		if (strcmp(p->cfg.handlers[i].kind, kind) == 0)
			return &p->cfg.handlers[i];
	return NULL;
}

/* Claims one job and runs it; false when nothing was due (or no DB). */
static bool
run_one(struct worker *w)
{
	struct worker_pool		*p = w->pool;
	struct worker_ctx		 ctx;
	const struct worker_handler	*h;
	struct arena			*a = arena_new();
	struct db			*db;
	struct job			 job;
	enum db_status			 st;
	enum job_result			 jr;
	char				 err[512] = "";
	bool				 ran = false;

	if ((db = db_acquire(p->cfg.db)) == NULL)
		goto out;
	if (w->has_orphans) {
		int	 n = 0;

		if (queue_release_mine_any_org(db, w->id, &n) != DB_OK) {
			db_release(db);
			goto out;
		}
		w->has_orphans = false;
		if (n > 0)
			log_info("worker", "msg=\"jobs leased to this worker "
			    "given back\" worker=%s count=%d", w->id, n);
	}
	st = queue_claim_any_org(db, a, w->id, p->cfg.lease_s, &job);
	db_release(db);
	ctx.lease_set_ms = time_mono_ms();
	/* Unavailable may hide a claim that committed before the server
	 * went away: give it back at the next claim. */
	if (st == DB_UNAVAILABLE)
		w->has_orphans = true;
	if (st != DB_OK)
		goto out;
	ran = true;
	/* More due: let another worker take it while this one works. */
	if (job.more)
		wake_one(p);
	log_set_context_id(w->id);
	ctx.pool = p;
	ctx.app = p->cfg.app;
	ctx.db = p->cfg.db;
	ctx.worker_id = w->id;
	ctx.lease_s = p->cfg.lease_s;
	if ((h = handler_for(p, job.kind)) == NULL) {
		snprintf(err, sizeof(err), "No handler for jobs of kind %s.",
		    job.kind);
		jr = JOB_FAIL;
	} else
		jr = h->fn(&ctx, &job, err, sizeof(err));

	st = record_outcome(w, &job, jr, err);
	if (st == DB_UNAVAILABLE) {
		w->has_orphans = true;
		log_err("worker", "msg=\"job outcome not recorded; it runs "
		    "again\" job=%lld", (long long)job.id);
	} else if (st == DB_CONFLICT)
		log_warn("worker", "msg=\"lease lost before the outcome was "
		    "recorded\" job=%lld", (long long)job.id);
	else if (jr != JOB_DONE)
		log_warn("worker", "msg=\"job failed\" job=%lld kind=%s "
		    "attempt=%d retry=%s error=\"%.200s\"", (long long)job.id,
		    job.kind, job.attempts, jr == JOB_RETRY ? "yes" : "no", err);
	log_set_context_id(NULL);
out:
	arena_free(a);
	return ran;
}

/*
 * Records the job's outcome, riding out a database that is away for a
 * while (a failover: no primary for some seconds) so that a job that ran
 * is not run again for want of a row update. While stopping, three quick
 * tries only: shutdown must not wait on an outage. DB_OK, DB_CONFLICT (the
 * lease was lost) or DB_UNAVAILABLE (gave up).
 */
static enum db_status
record_outcome(struct worker *w, const struct job *job, enum job_result jr,
    const char *err)
{
	struct worker_pool	*p = w->pool;
	struct db		*db;
	enum db_status		 st = DB_UNAVAILABLE;
	int64_t			 deadline = time_mono_ms() + OUTCOME_RETRY_MS;

	for (int i = 0; ; i++) {
		/* A failed statement (the connection died under it) is
		 * retried too, on a new connection. */
		db = db_acquire_wait(p->cfg.db, is_stopping(p) ? 0 :
		    OUTCOME_NAP_MS * 5);
		if (db != NULL) {
			if (jr == JOB_DONE)
				st = queue_complete_any_org(db, job->id, w->id);
			else
				st = queue_fail_any_org(db, job->id, w->id, err,
				    jr == JOB_RETRY,
				    queue_backoff_s(job->attempts));
			db_release(db);
			if (st == DB_OK || st == DB_CONFLICT)
				return st;
		}
		if (time_mono_ms() >= deadline || (i >= 2 && is_stopping(p)))
			return DB_UNAVAILABLE;
		poll(NULL, 0, OUTCOME_NAP_MS);
	}
}

static bool
is_stopping(struct worker_pool *p)
{
	bool	 stopping;

	pthread_mutex_lock(&p->mu);
	stopping = p->stopping;
	pthread_mutex_unlock(&p->mu);
	return stopping;
}

/* Sleeps until a wake-up is handed to this worker, or stop. */
static void
wait_for_work(struct worker_pool *p)
{
	pthread_mutex_lock(&p->mu);
	while (!p->stopping && p->pending == 0)
		pthread_cond_wait(&p->cv, &p->mu);
	if (p->pending > 0)
		p->pending--;
	pthread_mutex_unlock(&p->mu);
}

/* Hands one wake-up to one idle worker (a no-op when all are busy and
 * wake-ups are already pending). */
static void
wake_one(struct worker_pool *p)
{
	pthread_mutex_lock(&p->mu);
	if (p->pending < (unsigned)p->cfg.n_threads) {
		p->pending++;
		pthread_cond_signal(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
}

static void *
worker_main(void *arg)
{
	struct worker		*w = arg;
	struct worker_pool	*p = w->pool;
	bool			 stopping;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		stopping = p->stopping;
		pthread_mutex_unlock(&p->mu);
		if (stopping)
			break;
		/* Drain what is due, then sleep. */
		while (run_one(w)) {
			pthread_mutex_lock(&p->mu);
			stopping = p->stopping;
			pthread_mutex_unlock(&p->mu);
			if (stopping)
				return NULL;
		}
		wait_for_work(p);
	}
	return NULL;
}

static void *
listener_main(void *arg)
{
	struct worker_pool	*p = arg;
	bool			 stopping = false;
	int64_t			 next_poll = time_mono_ms() + p->cfg.poll_ms;
	int			 wait_ms, rc;

	while (!stopping) {
		wait_ms = (int)(next_poll - time_mono_ms());
		if (wait_ms > 500)
			wait_ms = 500;	/* notice stop within half a second */
		if (wait_ms < 0)
			wait_ms = 0;
		rc = p->listen != NULL ? db_listener_wait(p->listen, wait_ms) :
		    (poll(NULL, 0, wait_ms), 0);
		if (rc == 1)
			wake_one(p);
		if (time_mono_ms() >= next_poll) {
			/* The fallback: one claim attempt per interval. */
			wake_one(p);
			next_poll = time_mono_ms() + p->cfg.poll_ms;
		}
		pthread_mutex_lock(&p->mu);
		stopping = p->stopping;
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

struct worker_pool *
worker_pool_start(const struct worker_pool_config *c)
{
	struct worker_pool	*p;
	char			 host[64];
	uint32_t		 tag;

	if (sodium_init() < 0)
		return NULL;
	tag = randombytes_random();
	p = xcalloc(1, sizeof(*p));
	p->cfg = *c;
	if (p->cfg.lease_s <= 0)
		p->cfg.lease_s = 300;
	if (p->cfg.poll_ms <= 0)
		p->cfg.poll_ms = 1000;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "host");
	host[sizeof(host) - 1] = '\0';
	p->workers = xcalloc((size_t)p->cfg.n_threads, sizeof(*p->workers));
	for (int i = 0; i < p->cfg.n_threads; i++) {
		struct worker	*w = &p->workers[i];

		w->pool = p;
		/* Unique across processes even where two share a host name
		 * and a PID (containers on the host network, each PID 1),
		 * and across pools in one process: leases are checked by
		 * this id. */
		snprintf(w->id, sizeof(w->id), "%s:%ld:%08" PRIx32 ":w%d",
		    host, (long)getpid(), tag, i);
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			worker_pool_stop(p);
			return NULL;
		}
		w->started = true;
	}
	/* The listener thread also drives the poll fallback: it must run,
	 * with or without a LISTEN connection. */
	if (p->cfg.conninfo != NULL)
		p->listen = db_listener_new(p->cfg.conninfo, QUEUE_CHANNEL);
	if (pthread_create(&p->listener, NULL, listener_main, p) != 0) {
		worker_pool_stop(p);
		return NULL;
	}
	p->listener_started = true;
	return p;
}

void
worker_pool_wake(struct worker_pool *p)
{
	wake_one(p);
}

/* Whether the lease still has more than two thirds of its length. */
static bool
lease_fresh(const struct worker_ctx *w)
{
	return time_mono_ms() - w->lease_set_ms <
	    (int64_t)w->lease_s * 1000 / 3;
}

bool
worker_heartbeat_on(struct worker_ctx *w, struct db *db,
    const struct job *job)
{
	int64_t		 t = time_mono_ms();
	enum db_status	 st;

	if (lease_fresh(w))
		return true;
	st = queue_extend_lease_any_org(db, job->id, w->worker_id, w->lease_s);
	if (st == DB_OK)
		w->lease_set_ms = t;
	return st != DB_CONFLICT;
}

bool
worker_heartbeat(struct worker_ctx *w, const struct job *job)
{
	struct db	*db;
	bool		 ok;

	if (lease_fresh(w))
		return true;
	if ((db = db_acquire(w->db)) == NULL)
		return true;	/* cannot tell; the lease may still hold */
	ok = worker_heartbeat_on(w, db, job);
	db_release(db);
	return ok;
}

void
worker_pool_stop(struct worker_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->cfg.n_threads; i++)
		if (p->workers[i].started)
			pthread_join(p->workers[i].thread, NULL);
	if (p->listener_started)
		pthread_join(p->listener, NULL);
	db_listener_free(p->listen);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->workers);
	free(p);
}
