/*
 * db/pool.c: a bounded pool of libpq connections.
 *
 * DESIGN. The pool is a fixed array of `size` slots, each a struct db whose
 * connection opens lazily on the first acquire that picks it. One mutex
 * guards the slot flags and the counters; one condition variable (on the
 * monotonic clock) wakes waiters when a slot is released. Connecting,
 * resetting and the release-time ROLLBACK happen outside the mutex: they
 * talk to the server, and holding the lock across a network round trip
 * would stall every other acquire behind one slow connect.
 *
 * Failure handling. A connection is marked broken by query.c when libpq
 * reports it lost, or when the server it reaches refuses writes (a primary
 * demoted to a standby); release then closes it and the next acquire of
 * that slot reconnects, and libpq, given several hosts and
 * target_session_attrs=read-write, finds whichever is the primary now. An
 * idle connection whose server went away (restart, fast or immediate
 * shutdown) is noticed at acquire time without a round trip: its socket
 * polls readable and PQconsumeInput() fails or leaves it CONNECTION_BAD.
 * A host that vanished without closing its sockets is noticed by TCP
 * keepalives and tcp_user_timeout (POOL_TCP_*), which we add unless the
 * caller set them, so no query waits minutes on a dead peer. Every
 * connection carries connect_timeout (3 s unless the caller set one) so
 * that acquire answers NULL quickly while PostgreSQL is down instead of
 * hanging callers that should be answering 503. A connect failure is
 * logged when the pool goes from up to down, and recovery when it comes
 * back, so an outage produces two lines, not one per request.
 *
 * Waiting is first come, first served: a caller that finds no free slot
 * queues with a condition variable of its own, and a release hands the
 * slot straight to the oldest waiter that may take it (it stays busy, so
 * nobody barges in between). Under a burst (1,024 reply workers on 14
 * connections) a signal to "some" waiter let unlucky ones wait past the
 * acquire timeout while others went round several times
 * (bench/README.md).
 * A caller finishing work already begun (db_acquire_urgent: a turn
 * recording the model's answer, the outbox marking a send, a job's
 * outcome) is served before callers starting new work: under a burst,
 * each turn otherwise queued once per step behind every new turn's load
 * (shortest remaining work first keeps each turn's own time short; the
 * urgent steps are finite, so new work is never starved).
 * Each lane (reserved, urgent, the rest) is its own FIFO of waiters,
 * doubly linked, so a release and a waiter that gives up are O(1) under
 * the mutex: with a thousand turns waiting, walking one list for the
 * oldest urgent waiter cost a visible share of the process's CPU.
 *
 * The reserved lane. db_pool_reserve() keeps the last n slots for
 * db_acquire_reserved(): a caller that must never queue behind the rest
 * (ingest's group-commit leaders, which hold a webhook's answer) takes
 * those first and any free slot after them, while db_acquire() never
 * takes them; a general slot given back goes to a reserved-lane waiter
 * first (there are at most n of them). Measured: during a burst of 1,000
 * turns, webhooks waited behind the workers for a connection.
 *
 * Poolers. We add nothing that lives in the session: no startup `options`
 * (stock PgBouncer refuses the parameter, and a value set there would
 * follow a server connection to other clients), only application_name,
 * which PgBouncer tracks per client, and client-side libpq settings.
 * Settings Parley wants on the server (jit = off) are set per role and
 * database by migration 0011, where they survive any pooler.
 *
 * Thread-safety: every function may be called from any thread; a struct db
 * handed out belongs to the acquiring thread until db_release().
 * db_pool_set_pooler() is the exception: call it before the first acquire.
 */
#include "db/db.h"
#include "db/db_internal.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/xmalloc.h"

/* Seconds libpq may spend on one connection attempt (per host), unless
 * set. */
#define POOL_CONNECT_TIMEOUT	"3"
#define POOL_APP_NAME		"parley"
/*
 * A dead peer that sent no FIN (a host lost in a failover): an idle
 * connection is probed after 10 s and dropped after 3 unanswered probes
 * 5 s apart; data left unacknowledged for 10 s drops it too. Ignored on
 * Unix sockets.
 */
#define POOL_TCP_IDLE		"10"
#define POOL_TCP_INTERVAL	"5"
#define POOL_TCP_COUNT		"3"
#define POOL_TCP_USER_TIMEOUT	"10000"
/* db_acquire_wait's pause between two tries. */
#define POOL_RETRY_NAP_MS	200
/* Room for the caller's keywords plus the six we may add and the NULL. */
#define POOL_EXTRA_KEYS		7

/* A caller waiting for a slot (on its stack, queued under mu). */
enum pool_lane { LANE_RESERVED, LANE_URGENT, LANE_REST, LANE_N };

struct pool_waiter {
	pthread_cond_t		 cv;
	enum pool_lane		 lane;
	int			 idx;	/* handed slot, -1: none yet */
	struct pool_waiter	*prev, *next;
};

/* One lane's waiters, oldest first. */
struct pool_queue {
	struct pool_waiter	*head, *tail;
};

struct db_pool {
	char		 *conninfo;
	struct db_connparams cp;
	int		  size;
	int		  acquire_timeout_ms;
	enum db_pooler	  pooler;	/* set before the first acquire */

	pthread_mutex_t	  mu;
	pthread_condattr_t ca;		/* the waiters' (monotonic clock) */
	struct pool_queue  waiting[LANE_N];
	int		  reserved;	/* the last slots: the reserved lane's */
	struct db	 *slots;
	bool		 *busy;		/* guarded by mu, like all below */
	int		  n_open;
	int		  n_in_use;
	bool		  is_down;	/* last connect attempt failed */
	uint64_t	  n_acquired;
	uint64_t	  n_waits;
	uint64_t	  n_timeouts;
};

static void	 params_add_default(struct db_connparams *, size_t *,
		    const char *, const char *);
static int	 pool_pick(struct db_pool *, bool);
static void	 pool_slot_free(struct db_pool *, int);
static void	 pool_enqueue(struct db_pool *, struct pool_waiter *);
static void	 pool_unqueue(struct db_pool *, struct pool_waiter *);
static struct db *pool_acquire(struct db_pool *, bool, bool, int);
static struct db *pool_acquire_wait(struct db_pool *, int, bool);
static bool	 pool_conn_ready(struct db_pool *, struct db *);
static bool	 pool_conn_stale(PGconn *);
static void	 pool_close(struct db_pool *, struct db *);
static void	 pool_give_back(struct db_pool *, struct db *, bool);
static void	 deadline_after(struct timespec *, int);
static void	 ignore_notice(void *, const char *);

struct db_pool *
db_pool_new(const char *conninfo, int size, int acquire_timeout_ms)
{
	struct db_pool		*pool;

	if (conninfo == NULL || size <= 0 || acquire_timeout_ms < 0)
		return NULL;

	pool = xcalloc(1, sizeof(*pool));
	pool->conninfo = xstrdup(conninfo);
	pool->size = size;
	pool->acquire_timeout_ms = acquire_timeout_ms;
	if (!db_connparams_init(&pool->cp, conninfo)) {
		db_log_error("bad connection string", NULL, NULL);
		free(pool->conninfo);
		free(pool);
		return NULL;
	}
	pool->slots = xcalloc((size_t)size, sizeof(*pool->slots));
	pool->busy = xcalloc((size_t)size, sizeof(*pool->busy));
	for (int i = 0; i < size; i++)
		pool->slots[i].pool = pool;

	pthread_mutex_init(&pool->mu, NULL);
	/* Waits are measured on the monotonic clock: wall-clock jumps must
	 * neither cut short nor stretch an acquire timeout. */
	pthread_condattr_init(&pool->ca);
	pthread_condattr_setclock(&pool->ca, CLOCK_MONOTONIC);
	return pool;
}

void
db_pool_free(struct db_pool *pool)
{
	if (pool == NULL)
		return;
	for (int i = 0; i < pool->size; i++) {
		assert(!pool->busy[i]);
		if (pool->slots[i].conn != NULL)
			PQfinish(pool->slots[i].conn);
	}
	pthread_condattr_destroy(&pool->ca);
	pthread_mutex_destroy(&pool->mu);
	free(pool->slots);
	free(pool->busy);
	db_connparams_cleanup(&pool->cp);
	free(pool->conninfo);
	free(pool);
}

void
db_pool_reserve(struct db_pool *pool, int n)
{
	pool->reserved = n < 0 ? 0 : n >= pool->size ? pool->size - 1 : n;
}

void
db_pool_set_pooler(struct db_pool *pool, enum db_pooler p)
{
	pool->pooler = p;
}

enum db_pooler
db_pool_pooler(const struct db_pool *pool)
{
	return pool->pooler;
}

bool
db_pool_prepares(const struct db_pool *pool)
{
	return pool == NULL || pool->pooler != DB_POOLER_TRANSACTION;
}

void
db_pool_close_idle(struct db_pool *pool)
{
	struct db	*db;

	for (int i = 0; i < pool->size; i++) {
		pthread_mutex_lock(&pool->mu);
		if (pool->busy[i]) {
			pthread_mutex_unlock(&pool->mu);
			continue;
		}
		/* Held while closing so nobody picks the slot meanwhile. */
		pool->busy[i] = true;
		pthread_mutex_unlock(&pool->mu);
		db = &pool->slots[i];
		pool_close(pool, db);
		pthread_mutex_lock(&pool->mu);
		pool_slot_free(pool, i);
		pthread_mutex_unlock(&pool->mu);
	}
}

bool
db_conninfo_check(const char *conninfo, char *err, size_t errlen)
{
	PQconninfoOption	*o;
	char			*errmsg = NULL;

	if (conninfo == NULL || *conninfo == '\0') {
		db_seterr(err, errlen, "it is empty");
		return false;
	}
	o = PQconninfoParse(conninfo, &errmsg);
	if (o == NULL) {
		db_seterr(err, errlen, "%s", errmsg != NULL ? errmsg :
		    "out of memory");
		if (err != NULL && errlen > 0)
			err[strcspn(err, "\n")] = '\0';
		PQfreemem(errmsg);
		return false;
	}
	PQconninfoFree(o);
	return true;
}

struct db *
db_acquire(struct db_pool *pool)
{
	return pool_acquire(pool, false, false, pool->acquire_timeout_ms);
}

struct db *
db_acquire_urgent(struct db_pool *pool)
{
	return pool_acquire(pool, false, true, pool->acquire_timeout_ms);
}

struct db *
db_acquire_reserved(struct db_pool *pool)
{
	return pool_acquire(pool, true, false, pool->acquire_timeout_ms);
}

/* Waits up to timeout_ms in the queue (see the top). */
static struct db *
pool_acquire(struct db_pool *pool, bool res, bool urgent, int timeout_ms)
{
	struct timespec		 deadline;
	struct pool_waiter	 me;
	struct db		*db;
	int			 idx;

	pthread_mutex_lock(&pool->mu);
	if ((idx = pool_pick(pool, res)) >= 0) {
		pool->busy[idx] = true;
		pool->n_in_use++;
	} else {
		/* Queue, and be handed a slot (see the top). */
		deadline_after(&deadline, timeout_ms);
		pthread_cond_init(&me.cv, &pool->ca);
		me.lane = res ? LANE_RESERVED : urgent ? LANE_URGENT :
		    LANE_REST;
		me.idx = -1;
		pool_enqueue(pool, &me);
		pool->n_waits++;
		while (me.idx < 0 && pthread_cond_timedwait(&me.cv, &pool->mu,
		    &deadline) != ETIMEDOUT)
			;
		if (me.idx < 0)
			pool_unqueue(pool, &me);
		pthread_cond_destroy(&me.cv);
		if ((idx = me.idx) < 0) {
			pool->n_timeouts++;
			pthread_mutex_unlock(&pool->mu);
			return NULL;
		}
	}
	pthread_mutex_unlock(&pool->mu);

	db = &pool->slots[idx];
	if (!pool_conn_ready(pool, db)) {
		pool_give_back(pool, db, false);
		return NULL;
	}
	db->in_tx = false;

	pthread_mutex_lock(&pool->mu);
	pool->n_acquired++;
	pthread_mutex_unlock(&pool->mu);
	return db;
}

struct db *
db_acquire_wait(struct db_pool *pool, int wait_ms)
{
	return pool_acquire_wait(pool, wait_ms, false);
}

struct db *
db_acquire_wait_urgent(struct db_pool *pool, int wait_ms)
{
	return pool_acquire_wait(pool, wait_ms, true);
}

static struct db *
pool_acquire_wait(struct db_pool *pool, int wait_ms, bool urgent)
{
	struct timespec	 nap = { 0, POOL_RETRY_NAP_MS * 1000000L };
	struct timespec	 now;
	struct db	*db;
	int64_t		 start_ms, now_ms, left;

	clock_gettime(CLOCK_MONOTONIC, &now);
	start_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	for (now_ms = start_ms;;) {
		/* A busy pool is waited out in the queue, keeping its
		 * place; a failed connect is tried again after a nap. */
		left = wait_ms - (now_ms - start_ms);
		if (left < pool->acquire_timeout_ms)
			left = pool->acquire_timeout_ms;
		if ((db = pool_acquire(pool, false, urgent, (int)left)) != NULL)
			return db;
		clock_gettime(CLOCK_MONOTONIC, &now);
		now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
		if (now_ms - start_ms >= wait_ms)
			return NULL;
		nanosleep(&nap, NULL);
	}
}

void
db_release(struct db *db)
{
	PGTransactionStatusType	 ts;
	PGresult		*r;

	if (db == NULL)
		return;

	if (db->conn != NULL && !db->broken) {
		ts = PQtransactionStatus(db->conn);
		if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
			/* The caller's out: path forgot db_tx_rollback, or
			 * never got there: the next user must start clean. */
			r = PQexec(db->conn, "ROLLBACK");
			if (PQresultStatus(r) != PGRES_COMMAND_OK)
				db->broken = true;
			PQclear(r);
		} else if (ts != PQTRANS_IDLE) {
			/* Busy (a query in flight) or unknown: not reusable. */
			db->broken = true;
		}
	}
	db->in_tx = false;
	pool_give_back(db->pool, db, true);
}

void
db_pool_get_stats(struct db_pool *pool, struct db_pool_stats *st)
{
	pthread_mutex_lock(&pool->mu);
	st->size = pool->size;
	st->open = pool->n_open;
	st->in_use = pool->n_in_use;
	st->acquired = pool->n_acquired;
	st->waits = pool->n_waits;
	st->timeouts = pool->n_timeouts;
	pthread_mutex_unlock(&pool->mu);
}

const char *
db_pool_conninfo(const struct db_pool *pool)
{
	return pool->conninfo;
}

/*
 * Parses the caller's conninfo (key=value or URI) once, then adds
 * application_name, connect_timeout and the TCP liveness settings when
 * absent, as arrays for PQconnectdbParams. Parsing up front also rejects a
 * malformed string at pool creation rather than at the first request.
 */
bool
db_connparams_init(struct db_connparams *cp, const char *conninfo)
{
	PQconninfoOption	*o;
	char			*errmsg = NULL;
	size_t			 n = 0;

	memset(cp, 0, sizeof(*cp));
	cp->opts = PQconninfoParse(conninfo, &errmsg);
	if (cp->opts == NULL) {
		PQfreemem(errmsg);
		return false;
	}
	for (o = cp->opts; o->keyword != NULL; o++)
		n++;
	cp->keys = xcalloc(n + POOL_EXTRA_KEYS + 1, sizeof(*cp->keys));
	cp->vals = xcalloc(n + POOL_EXTRA_KEYS + 1, sizeof(*cp->vals));

	n = 0;
	for (o = cp->opts; o->keyword != NULL; o++) {
		if (o->val == NULL || *o->val == '\0')
			continue;
		cp->keys[n] = o->keyword;
		cp->vals[n] = o->val;
		n++;
	}
	params_add_default(cp, &n, "application_name", POOL_APP_NAME);
	params_add_default(cp, &n, "connect_timeout", POOL_CONNECT_TIMEOUT);
	params_add_default(cp, &n, "keepalives_idle", POOL_TCP_IDLE);
	params_add_default(cp, &n, "keepalives_interval", POOL_TCP_INTERVAL);
	params_add_default(cp, &n, "keepalives_count", POOL_TCP_COUNT);
	params_add_default(cp, &n, "tcp_user_timeout", POOL_TCP_USER_TIMEOUT);
	cp->keys[n] = NULL;
	cp->vals[n] = NULL;
	return true;
}

void
db_connparams_cleanup(struct db_connparams *cp)
{
	free(cp->keys);
	free(cp->vals);
	PQconninfoFree(cp->opts);
	memset(cp, 0, sizeof(*cp));
}

/* Appends key=val unless the caller's string set key. */
static void
params_add_default(struct db_connparams *cp, size_t *n, const char *key,
    const char *val)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(cp->keys[i], key) == 0)
			return;
	cp->keys[*n] = key;
	cp->vals[*n] = val;
	(*n)++;
}

/*
 * A free slot, preferring one with a healthy open connection so that the
 * pool stays as small as the load needs; -1 when all are busy. Called with
 * mu held.
 */
static int
pool_pick(struct db_pool *pool, bool res)
{
	int	 empty = -1;
	int	 n = res ? pool->size : pool->size - pool->reserved;

	/* The reserved lane looks at its own slots (the last) first. */
	for (int k = 0; k < n; k++) {
		int	 i = res ? pool->size - 1 - k : k;

		if (pool->busy[i])
			continue;
		if (pool->slots[i].conn != NULL && !pool->slots[i].broken)
			return i;
		if (empty < 0)
			empty = i;
	}
	return empty;
}

/* Makes the slot's connection usable: reconnects when absent, broken or
 * stale. False (logged on the first failure of an outage) when it cannot. */
static bool
pool_conn_ready(struct db_pool *pool, struct db *db)
{
	PGconn	*conn;
	bool	 was_down;

	if (db->conn != NULL && !db->broken &&
	    PQstatus(db->conn) == CONNECTION_OK && !pool_conn_stale(db->conn))
		return true;

	pool_close(pool, db);
	conn = PQconnectdbParams(pool->cp.keys, pool->cp.vals, 0);
	if (conn == NULL)
		abort();	/* libpq's only NULL is out of memory */

	pthread_mutex_lock(&pool->mu);
	was_down = pool->is_down;
	pool->is_down = PQstatus(conn) != CONNECTION_OK;
	if (!pool->is_down)
		pool->n_open++;
	pthread_mutex_unlock(&pool->mu);

	if (PQstatus(conn) != CONNECTION_OK) {
		if (!was_down)
			db_log_error("cannot connect to PostgreSQL",
			    PQerrorMessage(conn), NULL);
		PQfinish(conn);
		return false;
	}
	if (was_down)
		fputs("level=info module=db msg=\"connected to PostgreSQL "
		    "again\"\n", stderr);
	/* NOTICEs ("already exists, skipping") are not errors, and libpq's
	 * default would print them to stderr outside our log format. */
	PQsetNoticeProcessor(conn, ignore_notice, NULL);
	db->conn = conn;
	db->broken = false;
	db->in_tx = false;
	db->n_prepared = 0;	/* a new session has no prepared statements */
	return true;
}

/*
 * True when an idle connection's server has gone: an idle session has
 * nothing to read unless it is a NOTIFY, a notice, or the end of the
 * stream. Costs a poll() with no timeout, no round trip. A server that
 * shuts down sends a FATAL message first, which libpq takes as a notice
 * and which leaves the connection "OK" until the end of the stream is
 * read: hence a few rounds, until nothing more is readable.
 */
static bool
pool_conn_stale(PGconn *conn)
{
	struct pollfd	 pfd;
	int		 rc;

	for (int round = 0; round < 4; round++) {
		pfd.fd = PQsocket(conn);
		if (pfd.fd < 0)
			return true;
		pfd.events = POLLIN;
		pfd.revents = 0;
		do
			rc = poll(&pfd, 1, 0);
		while (rc < 0 && errno == EINTR);
		if (rc <= 0)
			return rc < 0;
		if (pfd.revents & (POLLERR | POLLNVAL))
			return true;
		if (PQconsumeInput(conn) == 0 ||
		    PQstatus(conn) != CONNECTION_OK)
			return true;
	}
	/* Still readable: a flood of notifications; let the user see. */
	return false;
}

/* Closes the slot's connection, if any; the slot stays the caller's. */
static void
pool_close(struct db_pool *pool, struct db *db)
{
	if (db->conn == NULL)
		return;
	PQfinish(db->conn);
	db->conn = NULL;
	db->broken = false;
	db->in_tx = false;
	db->n_prepared = 0;
	pthread_mutex_lock(&pool->mu);
	pool->n_open--;
	pthread_mutex_unlock(&pool->mu);
}

/* Returns a slot to the pool, closing a broken connection first (outside
 * the mutex), and wakes one waiter. A failed acquire counts as a timeout:
 * both are "acquires that gave up". */
static void
pool_give_back(struct db_pool *pool, struct db *db, bool was_acquired)
{
	int	 idx = (int)(db - pool->slots);

	assert(idx >= 0 && idx < pool->size);
	if (db->broken || (db->conn != NULL &&
	    PQstatus(db->conn) != CONNECTION_OK))
		pool_close(pool, db);

	pthread_mutex_lock(&pool->mu);
	assert(pool->busy[idx]);
	if (!was_acquired)
		pool->n_timeouts++;
	pool_slot_free(pool, idx);
	pthread_mutex_unlock(&pool->mu);
}

/*
 * Under mu: slot idx (busy) is given back: handed to the oldest waiter
 * that may take it (a reserved-lane waiter first: there are few, and
 * they hold webhooks; then an urgent one), else marked free.
 */
static void
pool_slot_free(struct db_pool *pool, int idx)
{
	struct pool_waiter	*to;

	to = pool->waiting[LANE_RESERVED].head;
	if (to == NULL && idx < pool->size - pool->reserved &&
	    (to = pool->waiting[LANE_URGENT].head) == NULL)
		to = pool->waiting[LANE_REST].head;
	if (to == NULL) {
		pool->busy[idx] = false;
		pool->n_in_use--;
		return;
	}
	pool_unqueue(pool, to);
	to->idx = idx;
	pthread_cond_signal(&to->cv);
}

/* Under mu: w joins the end of its lane. */
static void
pool_enqueue(struct db_pool *pool, struct pool_waiter *w)
{
	struct pool_queue	*q = &pool->waiting[w->lane];

	w->next = NULL;
	w->prev = q->tail;
	if (q->tail != NULL)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
}

/* Under mu: takes w (queued) out of its lane. */
static void
pool_unqueue(struct db_pool *pool, struct pool_waiter *w)
{
	struct pool_queue	*q = &pool->waiting[w->lane];

	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->prev = w->next = NULL;
}

static void
ignore_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* An absolute CLOCK_MONOTONIC time `ms` from now, for the condvar. */
static void
deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}
