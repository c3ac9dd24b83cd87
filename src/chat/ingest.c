/*
 * ingest: stores verified inbound messages (see ingest.h).
 *
 * DESIGN (group commit). Most of a webhook's cost is PostgreSQL's, and a
 * good share of that is the commit: one WAL flush per webhook. So
 * concurrent callers are committed together, after the leader/follower
 * scheme of LevelDB's write queue and PostgreSQL's own WAL group flush:
 *
 * - A caller enqueues a waiter {items, n, result, done, its own condvar}
 *   on a process-wide queue (one mutex). When fewer than GC_LEADERS
 *   leaders are running, it becomes a leader at once: an idle server
 *   adds no latency, and a lone caller's transaction is exactly the
 *   single-transaction path (BEGIN, one chat_ingest per item, the
 *   reply jobs, COMMIT).
 * - A leader takes up to GC_BATCH_MAX waiters from the head of the queue
 *   (its own included when it is there), drops the mutex, runs all their
 *   items in ONE transaction on ONE pooled connection, commits once, then
 *   marks each waiter done with the result and signals it. A follower
 *   returns only after being marked done, so every caller returns only
 *   after its own items committed (or failed).
 * - If the batch transaction fails while the connection is alive (bad
 *   data, a deadlock between two leaders upserting the same chats in
 *   other orders, an error a trigger raised), it is rolled back and each
 *   caller is retried singly, so one caller's bad item cannot sink the
 *   others (cheaper than a SAVEPOINT per caller on the path that nearly
 *   always succeeds). A caller whose own transaction PostgreSQL refuses
 *   as data (DB_INVALID) is run once more with a SAVEPOINT per item: the
 *   items it refuses are marked rejected and left out, the rest commit,
 *   so one bad message cannot sink its delivery either. A lost connection
 *   fails the whole batch: nothing was written, every caller answers 5xx
 *   and its provider retries.
 * - When a leader finishes and waiters are left, it wakes the head one,
 *   which leads next. No thread is started and nothing needs stopping at
 *   exit: the queue is empty whenever no request is in ingest_store.
 *
 * The connection is acquired by the leader for one transaction and given
 * back right after; followers hold none (handlers release theirs before
 * calling: http/req.h req_release_db), so group commit also caps the
 * connections webhooks take under load at GC_LEADERS.
 *
 * Thread-safety: ingest_store is called from CivetWeb's request threads;
 * the queue is guarded by gc_mu; items belong to their (blocked) caller.
 */
#include "chat/ingest.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/context.h"
#include "util/log.h"
#include "util/metrics.h"
#include "db/db.h"
#include "util/time.h"
#include "util/xmalloc.h"

/*
 * Leaders (batch transactions in flight) at once. Measured on 2 vCPUs
 * (issue 4): PostgreSQL already shares one WAL flush among commits that
 * arrive together, so the gain is fewer transactions, flushes and
 * connections rather than raw throughput; 4 keeps several backends busy
 * while the next batch gathers. -DGC_LEADERS=1000 is, in effect, one
 * transaction per caller (for comparisons).
 */
#ifndef GC_LEADERS
#define GC_LEADERS	4
#endif
/* Callers committed in one transaction at most. */
#define GC_BATCH_MAX	64

struct gc_waiter {
	struct app		*app;
	struct ingest_item	*items;
	int			 n;
	enum ingest_result	 result;
	bool			 done;
	pthread_cond_t		 cv;
	struct gc_waiter	*next;
};

static enum db_status	run_tx(struct app *, struct db *, struct gc_waiter **,
			    int, bool);
static enum db_status	run_caller(struct app *, struct db *,
			    struct gc_waiter *);
static void		run_batch(struct app *, struct gc_waiter **, int);
static int		take_batch(struct app *, struct gc_waiter **);
static void		wake_next(void);

/*
 * Process-wide coordination state, not request state: the queue of
 * callers waiting for a commit. Static initialisers, so there is nothing
 * to set up or tear down.
 */
static pthread_mutex_t	 gc_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gc_waiter	*gc_head;
static struct gc_waiter	*gc_tail;
static int		 gc_leaders;

bool
ingest_is_fresh(const struct app *app, int64_t timestamp)
{
	if (timestamp <= 0)
		return true;
	return time_unix() - timestamp <= (int64_t)app->cfg.inbound_max_age_s;
}

/*
 * One transaction over the batch's items, then their reply jobs
 * (app->queue.reply, one statement). On failure rolls back, zeroes every
 * message_id (nothing was written) and returns the status. With
 * one_by_one (a lone caller whose transaction PostgreSQL refused), each
 * item runs under a savepoint and an item PostgreSQL refuses as data
 * (DB_INVALID: a timestamp out of range…) is marked rejected and left
 * out, so one bad message cannot sink the others of its delivery.
 */
static enum db_status
run_tx(struct app *app, struct db *db, struct gc_waiter **batch, int nb,
    bool one_by_one)
{
	int64_t		*orgs = NULL, *msgs = NULL;
	enum db_status	 st;
	int		 n_items = 0, n_jobs = 0;

	for (int b = 0; b < nb; b++)
		n_items += batch[b]->n;
	orgs = xcalloc((size_t)n_items + 1, sizeof(*orgs));
	msgs = xcalloc((size_t)n_items + 1, sizeof(*msgs));
	if ((st = db_tx_begin(db)) != DB_OK)
		goto out;
	for (int b = 0; b < nb; b++) {
		for (int i = 0; i < batch[b]->n; i++) {
			struct ingest_item	*it = &batch[b]->items[i];

			it->message_id = 0;
			it->rejected = false;
			if (one_by_one &&
			    (st = db_exec(db, "SAVEPOINT item", DB_END)) !=
			    DB_OK)
				goto out;
			st = chat_ingest(db, it->org_id, it->channel_id, it->in,
			    &it->message_id);
			if (st == DB_INVALID && one_by_one) {
				it->rejected = true;
				it->message_id = 0;
				st = db_exec(db, "ROLLBACK TO SAVEPOINT item",
				    DB_END);
			} else if (st == DB_OK && one_by_one)
				st = db_exec(db, "RELEASE SAVEPOINT item",
				    DB_END);
			if (st != DB_OK)
				goto out;
			if (it->auto_answer && it->message_id != 0) {
				orgs[n_jobs] = it->org_id;
				msgs[n_jobs++] = it->message_id;
			}
		}
	}
	if (n_jobs > 0 && app->queue.reply != NULL &&
	    !app->queue.reply(db, n_jobs, orgs, msgs))
		st = DB_UNAVAILABLE;
	if (st == DB_OK)
		st = db_tx_commit(db);
out:
	if (st != DB_OK) {
		db_tx_rollback(db);
		for (int b = 0; b < nb; b++)
			for (int i = 0; i < batch[b]->n; i++)
				batch[b]->items[i].message_id = 0;
	}
	free(orgs);
	free(msgs);
	return st;
}

/* One caller on its own: once more after a deadlock, then item by item
 * when PostgreSQL refused its data. */
static enum db_status
run_caller(struct app *app, struct db *db, struct gc_waiter *w)
{
	enum db_status	 st;

	st = run_tx(app, db, &w, 1, false);
	if (st == DB_CONFLICT)
		st = run_tx(app, db, &w, 1, false);
	if (st == DB_INVALID && !db->broken)
		st = run_tx(app, db, &w, 1, true);
	for (int i = 0; st == DB_OK && i < w->n; i++)
		if (w->items[i].rejected)
			log_warn("ingest", "msg=\"message not stored: "
			    "PostgreSQL refused a value\" org=%lld "
			    "channel=%lld", (long long)w->items[i].org_id,
			    (long long)w->items[i].channel_id);
	w->result = st == DB_OK ? INGEST_OK : INGEST_UNAVAILABLE;
	if (st == DB_OK)
		metrics_ingest_commit(w->n);
	else
		log_warn("ingest", "msg=\"not stored\" status=%s items=%d",
		    db_status_str(st), w->n);
	return st;
}

/* Runs and commits one batch, filling each waiter's result. */
static void
run_batch(struct app *app, struct gc_waiter **batch, int nb)
{
	struct db	*db;
	enum db_status	 st;
	int		 n_items = 0;

	for (int b = 0; b < nb; b++)
		n_items += batch[b]->n;
	if ((db = db_acquire(app->db)) == NULL) {
		log_warn("ingest", "msg=\"no database connection\" "
		    "callers=%d items=%d", nb, n_items);
		for (int b = 0; b < nb; b++)
			batch[b]->result = INGEST_UNAVAILABLE;
		return;
	}
	if (nb == 1) {
		(void)run_caller(app, db, batch[0]);
		goto out;
	}
	st = run_tx(app, db, batch, nb, false);
	if (st == DB_OK) {
		metrics_ingest_commit(n_items);
		log_debug("ingest", "msg=\"committed\" callers=%d items=%d",
		    nb, n_items);
	}
	if (st == DB_OK || db->broken) {
		for (int b = 0; b < nb; b++)
			batch[b]->result = st == DB_OK ? INGEST_OK :
			    INGEST_UNAVAILABLE;
		if (st != DB_OK)
			log_warn("ingest", "msg=\"not stored\" status=%s "
			    "callers=%d items=%d", db_status_str(st), nb,
			    n_items);
	} else {
		/* The connection lives: each caller on its own. */
		for (int b = 0; b < nb; b++)
			(void)run_caller(app, db, batch[b]);
	}
out:
	db_release(db);
}

/* Under gc_mu: unlinks up to GC_BATCH_MAX waiters of app into batch. */
static int
take_batch(struct app *app, struct gc_waiter **batch)
{
	struct gc_waiter	**pp = &gc_head, *w;
	int			  nb = 0;

	gc_tail = NULL;
	while ((w = *pp) != NULL) {
		if (nb < GC_BATCH_MAX && w->app == app) {
			*pp = w->next;
			w->next = NULL;
			batch[nb++] = w;
		} else {
			gc_tail = w;
			pp = &w->next;
		}
	}
	return nb;
}

/* Under gc_mu: lets the head waiter lead when a leader slot is free. */
static void
wake_next(void)
{
	if (gc_head != NULL && gc_leaders < GC_LEADERS)
		pthread_cond_signal(&gc_head->cv);
}

enum ingest_result
ingest_store(struct app *app, struct ingest_item *items, int n)
{
	struct gc_waiter	 self;
	struct gc_waiter	*batch[GC_BATCH_MAX];
	struct app		*bapp;
	int			 nb;

	if (n <= 0)
		return INGEST_OK;
	memset(&self, 0, sizeof(self));
	self.app = app;
	self.items = items;
	self.n = n;
	pthread_cond_init(&self.cv, NULL);

	pthread_mutex_lock(&gc_mu);
	if (gc_tail != NULL)
		gc_tail->next = &self;
	else
		gc_head = &self;
	gc_tail = &self;
	while (!self.done) {
		if (gc_leaders >= GC_LEADERS || gc_head == NULL) {
			pthread_cond_wait(&self.cv, &gc_mu);
			continue;
		}
		gc_leaders++;
		bapp = gc_head->app;	/* one app per process in practice */
		nb = take_batch(bapp, batch);
		wake_next();		/* more waiting and a slot free */
		pthread_mutex_unlock(&gc_mu);

		run_batch(bapp, batch, nb);

		pthread_mutex_lock(&gc_mu);
		gc_leaders--;
		for (int b = 0; b < nb; b++) {
			batch[b]->done = true;
			if (batch[b] != &self)
				pthread_cond_signal(&batch[b]->cv);
		}
	}
	wake_next();
	pthread_mutex_unlock(&gc_mu);
	pthread_cond_destroy(&self.cv);
	return self.result;
}

/*
 * DESIGN (the statement). Storing a message is one statement of CTEs
 * (chat upsert → message insert), so a webhook's transaction holds few
 * round trips and a replay writes nothing: the chat upsert is skipped
 * when the provider id is already stored (the snapshot check), and a
 * concurrent duplicate that slips past it is stopped by the unique index
 * with ON CONFLICT DO NOTHING, which returns no id, so no reply job is
 * made for it either (run_tx enqueues only returned ids).
 *
 * Identity (issue 13, chat/contact.h): a DM's chat is the one holding
 * the author's user id (CTE `known`, chats_contact_user_idx), else the
 * one keyed by chat_external_id; the upsert then records whatever of the
 * contact's identity the message brings (a value given replaces the
 * stored one, an absent one never erases it). Groups keep no contact on
 * the chat: the author's identity is on the message only. The shape is
 * otherwise the one above: `known` is one index probe, and the new
 * columns ride in the same INSERT … ON CONFLICT.
 */
enum db_status
chat_ingest(struct db *db, int64_t org_id, int64_t channel_id,
    const struct inbound *in, int64_t *message_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	char		*media = NULL;
	const char	*display;

#define IDENT(m)	DB_TEXT(in->from.m != NULL ? in->from.m : "")
	*message_id = 0;
	if (in->media != NULL)
		media = cJSON_PrintUnformatted(in->media);
	display = in->is_group ? in->group_name : in->sender_name;

	/*
	 * $1 org, $2 channel, $3 provider id, $4 chat key, $5 kind,
	 * $6 display name, $7 sender, $8 sender name, $9 body, $10 media,
	 * $11 provider time (0: none), $12 transcript; the author's
	 * identity ("": not given): $13 user id, $14 parent user id,
	 * $15 username, $16 phone.
	 */
	st = db_query(db, &res,
	    "WITH known AS ("
	    "  SELECT external_id FROM chats"
	    "   WHERE org_id = $1 AND channel_id = $2 AND $5 = 'dm'"
	    "     AND contact_user_id = NULLIF($13, '')"
	    "), chat AS ("
	    "  INSERT INTO chats AS c (org_id, channel_id, kind, external_id,"
	    "         display_name, last_message_at, last_inbound_at,"
	    "         contact_phone, contact_user_id, contact_parent_user_id,"
	    "         contact_username)"
	    "  SELECT $1, ch.id, $5, COALESCE((SELECT external_id FROM known),"
	    "         $4), $6, now(), now(),"
	    "         CASE WHEN $5 = 'dm' THEN NULLIF($16, '') END,"
	    "         CASE WHEN $5 = 'dm' THEN NULLIF($13, '') END,"
	    "         CASE WHEN $5 = 'dm' THEN NULLIF($14, '') END,"
	    "         CASE WHEN $5 = 'dm' THEN NULLIF($15, '') END"
	    "    FROM channels ch"
	    "   WHERE ch.org_id = $1 AND ch.id = $2"
	    "     AND NOT EXISTS (SELECT 1 FROM messages"
	    "          WHERE channel_id = $2 AND provider_message_id = $3)"
	    "  ON CONFLICT (channel_id, external_id) DO UPDATE"
	    "     SET display_name = CASE WHEN EXCLUDED.display_name <> ''"
	    "             THEN EXCLUDED.display_name ELSE c.display_name END,"
	    "         last_message_at = now(), last_inbound_at = now(),"
	    "         contact_phone = COALESCE(EXCLUDED.contact_phone,"
	    "             c.contact_phone),"
	    "         contact_user_id = COALESCE(EXCLUDED.contact_user_id,"
	    "             c.contact_user_id),"
	    "         contact_parent_user_id = COALESCE("
	    "             EXCLUDED.contact_parent_user_id,"
	    "             c.contact_parent_user_id),"
	    "         contact_username = COALESCE(EXCLUDED.contact_username,"
	    "             c.contact_username)"
	    "   WHERE c.org_id = $1"
	    "  RETURNING c.id"
	    "), msg AS ("
	    "  INSERT INTO messages (org_id, channel_id, chat_id, thread_id,"
	    "         direction, provider_message_id, sender, sender_name,"
	    "         body, media, provider_ts, status, transcript,"
	    "         sender_user_id, sender_username)"
	    "  SELECT $1, $2, chat.id,"
	    "         (SELECT t.id FROM threads t WHERE t.org_id = $1"
	    "             AND t.chat_id = chat.id AND t.closed_at IS NULL),"
	    "         'in', $3, $7, $8, $9, COALESCE($10::jsonb, '[]'),"
	    "         CASE WHEN $11::bigint > 0"
	    "              THEN to_timestamp($11::bigint) END,"
	    "         'received', $12, NULLIF($13, ''), NULLIF($15, '')"
	    "    FROM chat"
	    "  ON CONFLICT (channel_id, provider_message_id)"
	    "     WHERE provider_message_id IS NOT NULL DO NOTHING"
	    "  RETURNING id"
	    ")"
	    " SELECT msg.id FROM msg",
	    DB_I64(org_id), DB_I64(channel_id),
	    DB_TEXT(in->provider_message_id), DB_TEXT(in->chat_external_id),
	    DB_TEXT(in->is_group ? "group" : "dm"),
	    DB_TEXT(display != NULL ? display : ""),
	    DB_TEXT(in->sender != NULL ? in->sender : ""),
	    DB_TEXT(in->sender_name != NULL ? in->sender_name : ""),
	    DB_TEXT(in->body != NULL ? in->body : ""), DB_TEXT(media),
	    DB_I64(in->timestamp),
	    DB_TEXT(in->transcript != NULL ? in->transcript : ""),
	    IDENT(user_id), IDENT(parent_user_id), IDENT(username),
	    IDENT(phone), DB_END);
#undef IDENT
	if (st == DB_OK && res.n_rows == 1)
		*message_id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	free(media);
	return st;
}
