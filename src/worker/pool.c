/*
 * pool: worker threads, the LISTEN wake-up, the lease keeper and drain on
 * stop (see pool.h for the design).
 *
 * Locks: p->mu guards the wake-ups and the stop flag; p->lk_mu guards
 * what each worker is running (job id, lost) and the keeper's stop flag.
 * Never both at once.
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

/* How often the listener looks at the clock for timed wake-ups (and a
 * stop): a debounced turn starts at most this late. */
#define WAKE_GRAIN_MS	25

/* Due jobs one claim takes at most: one for the claimer, the rest handed
 * to idle workers it reserved (see pool.h CLAIMS). */
#define CLAIM_MAX	16

/* How long a worker keeps trying to record a job's outcome while the
 * database is away (a failover takes seconds), and how often. */
#define OUTCOME_RETRY_MS	30000
#define OUTCOME_NAP_MS		200

struct worker {
	struct worker_pool	*pool;
	pthread_t		 thread;
	char			 id[128];
	bool			 started;
	int64_t			 job_id;	/* running, 0: idle (lk_mu) */
	bool			 lost;		/* its lease was taken (lk_mu) */
	/* The rest under the pool's mu. */
	pthread_cond_t		 cv;		/* its own wake-up */
	int			 idle_at;	/* in pool->idle, -1: not */
	bool			 reserved;	/* by a claimer (CLAIMS) */
	bool			 has_handed;	/* a job claimed for it */
	struct job		 handed;	/* strings in handed_a */
	struct arena		*handed_a;
	/* A job may still be leased to us that we are not running: a claim
	 * whose answer was lost, an outcome never recorded. */
	bool			 has_orphans;
};

/* What a worker does next. */
enum work {
	WORK_CLAIM,
	WORK_HANDED,
	WORK_STOP,
};

struct worker_pool {
	struct worker_pool_config	 cfg;
	pthread_mutex_t			 mu;
	unsigned			 pending;	/* wake-ups not yet taken */
	struct worker			**idle;		/* waiting, not reserved */
	int				 n_idle;
	int64_t				 wake_at;	/* monotonic ms of a timed
							   wake-up, 0: none */
	bool				 stopping;
	struct worker			*workers;
	pthread_t			 listener;
	bool				 listener_started;
	struct db_listener		*listen;
	/* the lease keeper */
	pthread_mutex_t			 lk_mu;
	pthread_cond_t			 lk_cv;
	bool				 lk_stop;
	pthread_t			 keeper;
	bool				 keeper_started;
	struct db_pool			*lk_db;		/* its own connection */
};

static void		*worker_main(void *);
static void		*listener_main(void *);
static bool		 run_one(struct worker *);
static bool		 run_job(struct worker *, struct job *);
static bool		 run_handed(struct worker *);
static int		 reserve(struct worker *, struct worker **, int);
static void		 hand_out(struct worker *, struct worker **, int,
			    const struct job *, int, bool);
static void		 idle_push(struct worker_pool *, struct worker *);
static void		 idle_remove(struct worker_pool *, struct worker *);
static const struct worker_handler *handler_for(struct worker_pool *,
			    const char *);
static enum work	 wait_for_work(struct worker *);
static void		 wake_one(struct worker_pool *);
static void		*keeper_main(void *);
static void		 keep_leases(struct worker_pool *);
static void		 running(struct worker *, int64_t);
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

/*
 * Claims due jobs (one for this worker, one for each idle worker it could
 * reserve, see pool.h CLAIMS), hands the others out and runs its own;
 * true when the worker should claim again at once (more was due, or the
 * handler asked), false to sleep.
 */
static bool
run_one(struct worker *w)
{
	struct worker_pool	*p = w->pool;
	struct worker		*helpers[CLAIM_MAX - 1];
	const char		*ids[CLAIM_MAX];
	struct job		 jobs[CLAIM_MAX];
	struct arena		*a = arena_new();
	struct db		*db;
	struct job		*mine = NULL;
	enum db_status		 st;
	bool			 orphans, ran = false;
	int			 next_ms = -1, n_h, n_jobs = 0;

	if ((db = db_acquire(p->cfg.db)) == NULL)
		goto out;
	pthread_mutex_lock(&p->mu);
	orphans = w->has_orphans;
	pthread_mutex_unlock(&p->mu);
	if (orphans) {
		int	 n = 0;

		if (queue_release_mine_any_org(db, w->id, &n) != DB_OK) {
			db_release(db);
			goto out;
		}
		pthread_mutex_lock(&p->mu);
		w->has_orphans = false;
		pthread_mutex_unlock(&p->mu);
		if (n > 0)
			log_info("worker", "msg=\"jobs leased to this worker "
			    "given back\" worker=%s count=%d", w->id, n);
	}
	n_h = reserve(w, helpers, CLAIM_MAX - 1);
	ids[0] = w->id;
	for (int i = 0; i < n_h; i++)
		ids[i + 1] = helpers[i]->id;
	st = queue_claim_many_any_org(db, a, ids, n_h + 1, p->cfg.lease_s,
	    jobs, &n_jobs, &next_ms);
	db_release(db);
	/* Unavailable may hide a claim that committed before the server
	 * went away: each worker named gives back its own at its next
	 * claim, and is handed nothing meanwhile. */
	hand_out(w, helpers, n_h, jobs, st == DB_OK ? n_jobs : 0,
	    st == DB_UNAVAILABLE);
	if (st == DB_NOT_FOUND && next_ms >= 0)
		worker_pool_wake_in(p, next_ms);
	if (st != DB_OK)
		goto out;
	for (int i = 0; i < n_jobs; i++)
		if (jobs[i].worker == 0)
			mine = &jobs[i];
	/* More due than this claim took: another worker claims it while
	 * these work. */
	ran = jobs[0].more;
	if (jobs[0].more)
		wake_one(p);
	if (mine != NULL)
		ran = run_job(w, mine) || ran;
out:
	arena_free(a);
	return ran;
}

/* Runs the job handed to w by another worker's claim (CLAIMS). */
static bool
run_handed(struct worker *w)
{
	struct worker_pool	*p = w->pool;
	struct job		 job;
	struct arena		*a;
	bool			 again;

	pthread_mutex_lock(&p->mu);
	job = w->handed;
	a = w->handed_a;
	w->has_handed = false;
	w->handed_a = NULL;
	pthread_mutex_unlock(&p->mu);
	again = run_job(w, &job);
	arena_free(a);
	return again;
}

/*
 * Runs one claimed job through its kind's handler and records the
 * outcome; true when the handler asked to claim again.
 */
static bool
run_job(struct worker *w, struct job *job)
{
	struct worker_pool		*p = w->pool;
	struct worker_ctx		 ctx;
	const struct worker_handler	*h;
	enum db_status			 st;
	enum job_result			 jr;
	char				 err[512] = "";
	bool				 dead, lost;

	log_set_context_id(w->id);
	ctx.pool = p;
	ctx.app = p->cfg.app;
	ctx.db = p->cfg.db;
	ctx.worker_id = w->id;
	ctx.lease_s = p->cfg.lease_s;
	ctx.slot = (int)(w - p->workers);
	ctx.again = false;
	h = handler_for(p, job->kind);
	running(w, job->id);
	if (job->exhausted) {
		snprintf(err, sizeof(err), "The job's worker stopped before "
		    "finishing it, too many times.");
		jr = JOB_FAIL;
	} else if (h == NULL) {
		snprintf(err, sizeof(err), "No handler for jobs of kind %s.",
		    job->kind);
		jr = JOB_FAIL;
	} else
		jr = h->fn(&ctx, job, err, sizeof(err));

	/* The last word of a job about to be dead (pool.h). */
	dead = jr == JOB_FAIL || (jr == JOB_RETRY &&
	    job->attempts >= job->max_attempts);
	lost = !worker_lease_ok(&ctx);
	if (dead && !lost && h != NULL && h->dead != NULL)
		h->dead(&ctx, job, err);
	running(w, 0);

	st = record_outcome(w, job, jr, err);
	if (st == DB_UNAVAILABLE) {
		pthread_mutex_lock(&p->mu);
		w->has_orphans = true;
		pthread_mutex_unlock(&p->mu);
		log_err("worker", "msg=\"job outcome not recorded; it runs "
		    "again\" job=%lld", (long long)job->id);
	} else if (st == DB_CONFLICT)
		log_warn("worker", "msg=\"lease lost before the outcome was "
		    "recorded\" job=%lld", (long long)job->id);
	else if (jr != JOB_DONE)
		log_warn("worker", "msg=\"job failed\" job=%lld kind=%s "
		    "attempt=%d retry=%s error=\"%.200s\"", (long long)job->id,
		    job->kind, job->attempts, dead ? "no" : "yes", err);
	log_set_context_id(NULL);
	return ctx.again;
}

/*
 * Takes up to max idle workers out of the idle set for a claim (none
 * with a doubtful lease of its own); they sleep on until hand_out.
 */
static int
reserve(struct worker *self, struct worker **out, int max)
{
	struct worker_pool	*p = self->pool;
	int			 n = 0;

	pthread_mutex_lock(&p->mu);
	for (int i = p->n_idle - 1; i >= 0 && n < max; i--) {
		struct worker	*h = p->idle[i];

		if (h == self || h->has_orphans)
			continue;
		out[n++] = h;
	}
	for (int i = 0; i < n; i++) {
		idle_remove(p, out[i]);
		out[i]->reserved = true;
	}
	pthread_mutex_unlock(&p->mu);
	return n;
}

/*
 * Gives each reserved helper its job from the claim (jobs[k].worker is
 * k's index in the claim's ids: 0 the claimer, i + 1 helpers[i]) and
 * wakes it; a helper without one goes back to the idle set asleep,
 * unless a wake-up or a stop is waiting for it. doubt: the claim's
 * answer was lost, so each may hold a lease it must give back first.
 */
static void
hand_out(struct worker *self, struct worker **helpers, int n_h,
    const struct job *jobs, int n_jobs, bool doubt)
{
	struct worker_pool	*p = self->pool;

	pthread_mutex_lock(&p->mu);
	if (doubt)
		self->has_orphans = true;
	for (int i = 0; i < n_h; i++) {
		struct worker	*h = helpers[i];
		const struct job *j = NULL;

		for (int k = 0; k < n_jobs; k++)
			if (jobs[k].worker == i + 1)
				j = &jobs[k];
		h->reserved = false;
		if (doubt)
			h->has_orphans = true;
		if (j != NULL) {
			h->handed = *j;
			h->handed_a = arena_new();
			h->handed.kind = arena_strdup(h->handed_a, j->kind);
			h->handed.payload = arena_strdup(h->handed_a,
			    j->payload);
			h->has_handed = true;
			pthread_cond_signal(&h->cv);
		} else if (p->stopping || p->pending > 0)
			pthread_cond_signal(&h->cv);
		else
			idle_push(p, h);
	}
	pthread_mutex_unlock(&p->mu);
}

/* Under mu: w waits for a wake-up and may be reserved. */
static void
idle_push(struct worker_pool *p, struct worker *w)
{
	if (w->idle_at >= 0)
		return;
	w->idle_at = p->n_idle;
	p->idle[p->n_idle++] = w;
}

/* Under mu. */
static void
idle_remove(struct worker_pool *p, struct worker *w)
{
	int	 i = w->idle_at;

	if (i < 0)
		return;
	p->idle[i] = p->idle[--p->n_idle];
	p->idle[i]->idle_at = i;
	w->idle_at = -1;
}

/* Records what w runs (0: nothing), for the lease keeper. */
static void
running(struct worker *w, int64_t job_id)
{
	pthread_mutex_lock(&w->pool->lk_mu);
	w->job_id = job_id;
	w->lost = false;
	pthread_mutex_unlock(&w->pool->lk_mu);
}

/*
 * The lease keeper: every lease_s / 3 seconds, one statement renews the
 * leases of every job this pool runs (pool.h LEASES). A failed round
 * (database down) is tried again at the next tick; two more remain before
 * a lease can run out.
 */
static void *
keeper_main(void *arg)
{
	struct worker_pool	*p = arg;
	struct timespec		 until;
	int64_t			 every_ms = (int64_t)p->cfg.lease_s * 1000 / 3;

	pthread_mutex_lock(&p->lk_mu);
	while (!p->lk_stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += every_ms / 1000;
		until.tv_nsec += (every_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		while (!p->lk_stop && pthread_cond_timedwait(&p->lk_cv,
		    &p->lk_mu, &until) == 0)
			;
		if (p->lk_stop)
			break;
		pthread_mutex_unlock(&p->lk_mu);
		keep_leases(p);
		pthread_mutex_lock(&p->lk_mu);
	}
	pthread_mutex_unlock(&p->lk_mu);
	return NULL;
}

static void
keep_leases(struct worker_pool *p)
{
	int64_t		*ids = xcalloc((size_t)p->cfg.n_threads, sizeof(*ids));
	const char	**who = xcalloc((size_t)p->cfg.n_threads, sizeof(*who));
	bool		*held = xcalloc((size_t)p->cfg.n_threads, sizeof(*held));
	struct db	*db = NULL;
	enum db_status	 st;
	int		 n = 0;

	pthread_mutex_lock(&p->lk_mu);
	for (int i = 0; i < p->cfg.n_threads; i++)
		if (p->workers[i].job_id != 0) {
			ids[n] = p->workers[i].job_id;
			who[n++] = p->workers[i].id;
		}
	pthread_mutex_unlock(&p->lk_mu);
	if (n == 0)
		goto out;
	if ((db = db_acquire(p->lk_db)) == NULL) {
		log_warn("worker", "msg=\"leases not renewed: no database "
		    "connection\" jobs=%d", n);
		goto out;
	}
	st = queue_extend_leases_any_org(db, n, ids, who, p->cfg.lease_s,
	    held);
	db_release(db);
	if (st != DB_OK) {
		log_warn("worker", "msg=\"leases not renewed\" jobs=%d "
		    "status=%s", n, db_status_str(st));
		goto out;
	}
	pthread_mutex_lock(&p->lk_mu);
	for (int k = 0; k < n; k++) {
		if (held[k])
			continue;
		for (int i = 0; i < p->cfg.n_threads; i++)
			if (p->workers[i].job_id == ids[k])
				p->workers[i].lost = true;
		log_warn("worker", "msg=\"lease taken over\" job=%lld",
		    (long long)ids[k]);
	}
	pthread_mutex_unlock(&p->lk_mu);
out:
	free(ids);
	free(who);
	free(held);
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
		db = db_acquire_wait_urgent(p->cfg.db, is_stopping(p) ? 0 :
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

/*
 * Sleeps until a job is handed to w (run it), a wake-up is pending
 * (claim) or the pool stops. A reserved worker waits for its claimer
 * whatever else happens, so a job claimed for it is never left behind.
 */
static enum work
wait_for_work(struct worker *w)
{
	struct worker_pool	*p = w->pool;
	enum work		 k;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		if (w->has_handed) {
			k = WORK_HANDED;
			break;
		}
		if (!w->reserved) {
			if (p->stopping) {
				k = WORK_STOP;
				break;
			}
			if (p->pending > 0) {
				p->pending--;
				k = WORK_CLAIM;
				break;
			}
			idle_push(p, w);
		}
		pthread_cond_wait(&w->cv, &p->mu);
	}
	idle_remove(p, w);
	pthread_mutex_unlock(&p->mu);
	return k;
}

/* Hands one wake-up to one idle worker (a no-op when all are busy and
 * wake-ups are already pending: the next to finish takes it). */
static void
wake_one(struct worker_pool *p)
{
	pthread_mutex_lock(&p->mu);
	if (p->pending < (unsigned)p->cfg.n_threads) {
		p->pending++;
		if (p->n_idle > 0) {
			struct worker	*w = p->idle[p->n_idle - 1];

			idle_remove(p, w);
			pthread_cond_signal(&w->cv);
		}
	}
	pthread_mutex_unlock(&p->mu);
}

static void *
worker_main(void *arg)
{
	struct worker		*w = arg;
	struct worker_pool	*p = w->pool;
	/* One worker looks for what is due at start; a claim that finds
	 * more wakes the others (pool.h). */
	bool			 claim = w == &p->workers[0];

	for (;;) {
		enum work	 k = claim ? WORK_CLAIM : wait_for_work(w);

		if (k == WORK_STOP)
			break;
		claim = k == WORK_HANDED ? run_handed(w) : run_one(w);
		/* Drain what is due (stopping: only a handed job). */
		if (claim && is_stopping(p))
			claim = false;
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
		int64_t	 now = time_mono_ms(), at;

		pthread_mutex_lock(&p->mu);
		at = p->wake_at;
		if (at != 0 && at <= now)
			p->wake_at = 0;
		pthread_mutex_unlock(&p->mu);
		if (at != 0 && at <= now)
			wake_one(p);	/* a turn's debounce ended, … */
		wait_ms = (int)(next_poll - now);
		/* Timed wake-ups and stop are noticed within WAKE_GRAIN_MS. */
		if (wait_ms > WAKE_GRAIN_MS)
			wait_ms = WAKE_GRAIN_MS;
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
	pthread_mutex_init(&p->lk_mu, NULL);
	pthread_cond_init(&p->lk_cv, NULL);
	/* One statement per renewal, no session state: the jobs' own
	 * database (through its pooler, if any) serves it. */
	p->lk_db = db_pool_new(db_pool_conninfo(p->cfg.db), 1,
	    p->cfg.acquire_timeout_ms > 0 ? p->cfg.acquire_timeout_ms : 3000);
	if (p->lk_db != NULL)
		db_pool_set_pooler(p->lk_db, db_pool_pooler(p->cfg.db));
	if (p->lk_db == NULL) {
		log_err("worker", "msg=\"the lease keeper has no database\"");
		pthread_cond_destroy(&p->lk_cv);
		pthread_mutex_destroy(&p->lk_mu);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return NULL;
	}
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "host");
	host[sizeof(host) - 1] = '\0';
	p->workers = xcalloc((size_t)p->cfg.n_threads, sizeof(*p->workers));
	p->idle = xcalloc((size_t)p->cfg.n_threads, sizeof(*p->idle));
	for (int i = 0; i < p->cfg.n_threads; i++) {
		pthread_cond_init(&p->workers[i].cv, NULL);
		p->workers[i].idle_at = -1;
	}
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
	if (pthread_create(&p->keeper, NULL, keeper_main, p) != 0) {
		worker_pool_stop(p);
		return NULL;
	}
	p->keeper_started = true;
	return p;
}

void
worker_pool_wake(struct worker_pool *p)
{
	wake_one(p);
}

void
worker_pool_wake_in(struct worker_pool *p, int delay_ms)
{
	int64_t	 at = time_mono_ms() + (delay_ms > 0 ? delay_ms : 0);

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	if (p->wake_at == 0 || at < p->wake_at)
		p->wake_at = at;
	pthread_mutex_unlock(&p->mu);
}

bool
worker_lease_ok(struct worker_ctx *w)
{
	struct worker_pool	*p = w->pool;
	bool			 lost;

	pthread_mutex_lock(&p->lk_mu);
	lost = p->workers[w->slot].lost;
	pthread_mutex_unlock(&p->lk_mu);
	return !lost;
}

void
worker_pool_stop(struct worker_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	for (int i = 0; i < p->cfg.n_threads; i++)
		pthread_cond_signal(&p->workers[i].cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->cfg.n_threads; i++)
		if (p->workers[i].started)
			pthread_join(p->workers[i].thread, NULL);
	if (p->listener_started)
		pthread_join(p->listener, NULL);
	/* Last: the keeper renews the leases of the jobs being drained. */
	pthread_mutex_lock(&p->lk_mu);
	p->lk_stop = true;
	pthread_cond_broadcast(&p->lk_cv);
	pthread_mutex_unlock(&p->lk_mu);
	if (p->keeper_started)
		pthread_join(p->keeper, NULL);
	db_pool_free(p->lk_db);
	db_listener_free(p->listen);
	pthread_cond_destroy(&p->lk_cv);
	pthread_mutex_destroy(&p->lk_mu);
	for (int i = 0; i < p->cfg.n_threads; i++) {
		pthread_cond_destroy(&p->workers[i].cv);
		arena_free(p->workers[i].handed_a);
	}
	pthread_mutex_destroy(&p->mu);
	free(p->workers);
	free(p->idle);
	free(p);
}
