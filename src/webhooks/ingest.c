/*
 * ingest: stores verified inbound messages (see ingest.h), and the small
 * helpers the provider handlers share (provider.h).
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
 *   single-transaction path (BEGIN, one chat_ingest per item, COMMIT).
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
 *   always succeeds). A lost connection fails the whole batch: nothing
 *   was written, every caller answers 5xx and its provider retries.
 * - When a leader finishes and waiters are left, it wakes the head one,
 *   which leads next. No thread is started and nothing needs stopping at
 *   exit: the queue is empty whenever no request is in ingest_store.
 *
 * The connection is acquired by the leader for one transaction and given
 * back right after; followers hold none (handlers release theirs before
 * calling, provider.h webhook_release_db), so group commit also caps the
 * connections webhooks take under load at GC_LEADERS.
 *
 * Thread-safety: ingest_store is called from CivetWeb's request threads;
 * the queue is guarded by gc_mu; items belong to their (blocked) caller.
 */
#include "webhooks/ingest.h"
#include "webhooks/chancache.h"

#include <pthread.h>
#include <string.h>

#include "app/app.h"
#include "util/log.h"
#include "util/metrics.h"
#include "chat/threads.h"
#include "db/db.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/channel.h"
#include "util/arena.h"
#include "util/str.h"
#include "util/time.h"
#include "util/utf8.h"
#include "webhooks/provider.h"
#include "webhooks/webhook.h"

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

static enum db_status	run_tx(struct db *, struct gc_waiter **, int);
static void		run_batch(struct app *, struct gc_waiter **, int);
static int		take_batch(struct app *, struct gc_waiter **);
static void		wake_next(void);
static void		clean_detail(char *, size_t, const char *);

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
 * One transaction over the batch's items. On failure rolls back, zeroes
 * every message_id (nothing was written) and returns the status.
 */
static enum db_status
run_tx(struct db *db, struct gc_waiter **batch, int nb)
{
	enum db_status	 st;

	if ((st = db_tx_begin(db)) != DB_OK)
		goto out;
	for (int b = 0; b < nb; b++) {
		for (int i = 0; i < batch[b]->n; i++) {
			struct ingest_item	*it = &batch[b]->items[i];

			it->message_id = 0;
			st = chat_ingest(db, it->org_id, it->channel_id, it->in,
			    it->auto_answer, &it->message_id);
			if (st != DB_OK)
				goto out;
		}
	}
	st = db_tx_commit(db);
out:
	if (st != DB_OK) {
		db_tx_rollback(db);
		for (int b = 0; b < nb; b++)
			for (int i = 0; i < batch[b]->n; i++)
				batch[b]->items[i].message_id = 0;
	}
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
	st = run_tx(db, batch, nb);
	if (st == DB_CONFLICT && nb == 1)
		st = run_tx(db, batch, 1);	/* a deadlock: once more */
	if (st == DB_OK) {
		metrics_ingest_commit(n_items);
		log_debug("ingest", "msg=\"committed\" callers=%d items=%d",
		    nb, n_items);
	}
	if (st == DB_OK || nb == 1 || db->broken) {
		for (int b = 0; b < nb; b++)
			batch[b]->result = st == DB_OK ? INGEST_OK :
			    INGEST_UNAVAILABLE;
		if (st != DB_OK)
			log_warn("ingest", "msg=\"not stored\" status=%s "
			    "callers=%d items=%d", db_status_str(st), nb,
			    n_items);
	} else {
		/* The connection lives: each caller on its own. */
		for (int b = 0; b < nb; b++) {
			st = run_tx(db, &batch[b], 1);
			if (st == DB_CONFLICT)
				st = run_tx(db, &batch[b], 1);
			if (st == DB_OK)
				metrics_ingest_commit(batch[b]->n);
			batch[b]->result = st == DB_OK ? INGEST_OK :
			    INGEST_UNAVAILABLE;
			if (st != DB_OK)
				log_warn("ingest", "msg=\"not stored\" "
				    "status=%s items=%d", db_status_str(st),
				    batch[b]->n);
		}
	}
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

/* --- provider helpers (provider.h) ------------------------------------- */

/* Printable ASCII only, at most outlen - 1 bytes: details may be input. */
static void
clean_detail(char *out, size_t outlen, const char *s)
{
	size_t	 j = 0;

	for (; s != NULL && *s != '\0' && j + 1 < outlen; s++)
		out[j++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	out[j] = '\0';
}

void
webhook_record_rejection(struct req *r, const char *provider,
    int64_t org_id, int64_t channel_id, const char *reason,
    const char *detail)
{
	char		 d[301];
	struct db	*db;

	clean_detail(d, sizeof(d), detail);
	log_info("webhook", "msg=\"rejected\" provider=%s reason=\"%s\" "
	    "org=%lld channel=%lld", provider, reason, (long long)org_id,
	    (long long)channel_id);
	/* Best effort: the 403 stands even when the log cannot be written. */
	if ((db = req_db(r)) == NULL ||
	    channel_record_rejection(db, org_id, channel_id, provider, reason,
	    d, req_remote_addr(r)) != DB_OK)
		log_warn("webhook", "msg=\"rejection not recorded\" "
		    "provider=%s", provider);
}

int
webhook_reject(struct req *r, const char *provider, int64_t org_id,
    int64_t channel_id, const char *reason, const char *detail)
{
	webhook_record_rejection(r, provider, org_id, channel_id, reason,
	    detail);
	return webhook_text(r, 403, "Forbidden\n");
}

int
webhook_text(struct req *r, int status, const char *text)
{
	return resp_send(r, status, "text/plain; charset=utf-8", text,
	    strlen(text));
}

int
webhook_json_body(struct req *r, cJSON **out)
{
	const char	*ct = req_header(r, "Content-Type");
	const char	*end = NULL;
	cJSON		*json;

	*out = NULL;
	if (ct != NULL && strncmp(ct, "application/json", 16) != 0)
		return webhook_text(r, 415, "Send application/json.\n");
	if (r->body == NULL || r->body_len == 0 ||
	    !utf8_valid(r->body, r->body_len))
		return webhook_text(r, 400, "The body is not UTF-8 JSON.\n");
	json = cJSON_ParseWithLengthOpts(r->body, r->body_len, &end, 0);
	if (json == NULL)
		return webhook_text(r, 400, "The body is not valid JSON.\n");
	arena_defer(r->arena, (void (*)(void *))cJSON_Delete, json);
	if (!cJSON_IsObject(json))
		return webhook_text(r, 400, "The body is not a JSON object.\n");
	*out = json;
	return 0;
}

bool
webhook_id_ok(const char *s)
{
	size_t	 n = 0;

	if (s == NULL)
		return false;
	for (; s[n] != '\0'; n++) {
		char	c = s[n];

		if (n >= WEBHOOK_ID_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("._:=+/-", c) != NULL))
			return false;
	}
	return n > 0;
}

const char *
webhook_json_str(const cJSON *o, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

void
webhook_release_db(struct req *r)
{
	if (r->db != NULL) {
		db_release(r->db);
		r->db = NULL;
	}
}

bool
webhook_number_add(struct webhook_number *nums, int *n, const char *id)
{
	if (!webhook_id_ok(id))
		return false;
	for (int i = 0; i < *n; i++)
		if (strcmp(nums[i].id, id) == 0)
			return true;
	if (*n >= WEBHOOK_MAX_NUMBERS)
		return false;
	memset(&nums[*n], 0, sizeof(nums[*n]));
	nums[(*n)++].id = id;
	return true;
}

const struct channel *
webhook_number_channel(const struct webhook_number *nums, int n,
    const char *id)
{
	for (int i = 0; i < n; i++)
		if (nums[i].known && str_eq(nums[i].id, id))
			return &nums[i].ch;
	return NULL;
}

int
webhook_verify_numbers(struct req *r, const struct webhook_provider *p,
    struct webhook_number *nums, int n)
{
	const char		*hdr = req_header(r, p->sig_header);
	const char		*fail[WEBHOOK_MAX_NUMBERS];
	enum db_status		 st;
	int			 n_known = 0;
	bool			 bad = false;

	if (n <= 0)
		return webhook_reject(r, p->name, 0, 0, "unknown number",
		    "no phone_number_id");
	for (int i = 0; i < n; i++) {
		char	*secret = NULL;

		fail[i] = NULL;
		st = chancache_get(r, p->kind, nums[i].id, &nums[i].ch,
		    &secret);
		if (st == DB_NOT_FOUND)
			continue;
		if (st != DB_OK)
			return resp_unavailable(r);
		nums[i].known = true;
		n_known++;
		if (secret == NULL || *secret == '\0')
			fail[i] = "no secret configured";
		else if (hdr == NULL)
			fail[i] = "missing signature";
		else if (!p->verify(secret, r->body, r->body_len, hdr))
			fail[i] = "bad signature";
		bad |= fail[i] != NULL;
	}
	if (n_known == 0)
		return webhook_reject(r, p->name, 0, 0, "unknown number",
		    arena_printf(r->arena, "phone_number_id %s", nums[0].id));
	if (!bad) {
		for (int i = 0; i < n; i++) {
			if (!nums[i].known)
				log_info("webhook", "msg=\"skipped unknown "
				    "number in a verified delivery\" "
				    "provider=%s", p->name);
			else
				chancache_verified(r, &nums[i].ch);
		}
		return 0;
	}
	/* One delivery, one verdict: every channel it names hears of it. */
	for (int i = 0; i < n; i++)
		if (nums[i].known)
			webhook_record_rejection(r, p->name,
			    nums[i].ch.org_id, nums[i].ch.id,
			    fail[i] != NULL ? fail[i] : "batch rejected",
			    fail[i] != NULL ? arena_printf(r->arena,
			    "phone_number_id %s", nums[i].id) :
			    "another number in the same delivery failed "
			    "its signature check");
	return webhook_text(r, 403, "Forbidden\n");
}
