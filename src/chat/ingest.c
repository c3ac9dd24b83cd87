/*
 * ingest: stores verified inbound items (see ingest.h).
 *
 * DESIGN (group commit). Most of a webhook's cost is PostgreSQL's and the
 * round trips to it, and a good share of PostgreSQL's is the commit: one
 * WAL flush per webhook. So concurrent callers are committed together,
 * after the leader/follower scheme of LevelDB's write queue and
 * PostgreSQL's own WAL group flush:
 *
 * - A caller enqueues a waiter {items, n, result, done, its own condvar}
 *   on a process-wide queue (one mutex). When fewer than GC_LEADERS
 *   leaders are running, it becomes a leader at once: an idle server
 *   adds no latency.
 * - A leader takes EVERY waiter queued at that moment (up to
 *   GC_ITEMS_MAX items, which only a flood reaches), first come first
 *   served: the batch is sized by what is waiting, not by a fixed count,
 *   so it grows exactly when the database is the bottleneck and stays
 *   one caller when it is not. It drops the mutex and stores all their
 *   items with ONE statement (store(): one round trip, one commit) on
 *   one pooled connection, then marks each waiter done with the result
 *   and signals it. A follower sleeps once and is woken once; it returns
 *   only after being marked done, so every caller returns only after its
 *   own items committed (or failed).
 * - If the batch fails while the connection is alive (bad data, a
 *   deadlock between two leaders upserting the same chats), each caller
 *   is retried on its own, so one caller's bad item cannot sink the
 *   others. A caller whose items PostgreSQL refuses as data (DB_INVALID)
 *   is stored item by item: the items it refuses are marked rejected and
 *   left out, the rest commit. A lost connection fails the whole batch:
 *   nothing was written, every caller answers 5xx and its provider
 *   retries.
 * - When a leader finishes and waiters are left, it wakes the head one,
 *   which leads next. No thread is started and nothing needs stopping at
 *   exit: the queue is empty whenever no request is in ingest_store.
 *
 * The connection is acquired by the leader for one statement and given
 * back right after, from the pool's reserved lane (db/pool.c: the app
 * keeps GC_LEADERS connections for it, so a webhook never waits behind
 * the reply pool's workers); followers hold none (handlers release theirs before
 * calling: http/req.h req_release_db), so group commit also caps the
 * connections webhooks take under load at GC_LEADERS.
 *
 * DESIGN (the statement, store()). One statement over arrays, one
 * element per item: the items whose provider id is not stored yet, their
 * chats upserted once each (ordered by key, so two leaders lock chats in
 * one order), the messages inserted in item order, and ONE pg_notify
 * when a turn became due. A message to answer sets its chat's
 * turn_due_at to now + the debounce of the chat's agent (its own link,
 * else the channel's default; 0 with none), so every message of a burst
 * pushes the turn back and the burst is one turn. Items that will never
 * be answered are settled as they are stored (unanswered_reason: a
 * reaction, a stale message, …). A replay writes nothing: the snapshot
 * check skips its chat, and a concurrent duplicate that slips past it is
 * stopped by the unique index (ON CONFLICT DO NOTHING), so it moves no
 * turn either. The chat's unread count (chats.unread, shown by
 * chat/review.c) grows by its inbound messages in the same upsert: by
 * provider id, so a replay adds nothing and an id twice in one batch
 * adds one. It errs high by one in one case: the same message stored by
 * two statements at once (two leaders: GC_LEADERS above one, or two
 * Parley processes on one database), where the upsert of the statement
 * whose message the unique index stops has already counted it; the next
 * look at the chat clears it. Nothing else is written here: search words
 * follow later (chat/search.h), the turn does the rest.
 *
 * Thread-safety: ingest_store is called from CivetWeb's request threads;
 * the queue is guarded by gc_mu; items belong to their (blocked) caller.
 */
#include "chat/ingest.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chats.h"
#include "chat/search.h"
#include "chat/window.h"
#include "util/buf.h"
#include "util/context.h"
#include "util/log.h"
#include "util/metrics.h"
#include "db/db.h"
#include "util/time.h"
#include "util/xmalloc.h"

/*
 * Leaders (batch statements in flight) at once. One: the next batch
 * gathers while one commits, so batches are as large as what waited.
 * Measured on 2 vCPUs (bench/README.md, 2026-12-07, the same run's
 * binaries built with -DGC_LEADERS=1/2/3): with two, both statements
 * upsert chats at once and PostgreSQL spent up to 167% CPU for 945
 * webhooks/s in one run (4,300–6,600 in others); with one, 7,800–8,300
 * webhooks/s at 93% PostgreSQL CPU, 31 messages per commit, and a lower
 * latency at half that rate. The cost: a stalled commit (a full WAL
 * buffer) holds every webhook until it ends, as PostgreSQL's own WAL
 * flush would. -DGC_LEADERS=1000 is, in effect, one statement per caller.
 */
#ifndef GC_LEADERS
#define GC_LEADERS	1
#endif
/* Items in one statement at most: bounds the parameters' size (a Meta
 * delivery alone may carry 2,000). */
#define GC_ITEMS_MAX	4000

struct gc_waiter {
	struct app		*app;
	struct ingest_item	*items;
	int			 n;
	enum ingest_result	 result;
	bool			 done;
	pthread_cond_t		 cv;
	struct gc_waiter	*next;
};

static enum db_status	store(struct app *, struct db *,
			    struct ingest_item **, int);
static enum db_status	store_tx(struct app *, struct db *,
			    struct ingest_item **, int);
static enum db_status	run_caller(struct app *, struct db *,
			    struct gc_waiter *);
static void		run_batch(struct app *, struct gc_waiter **, int);
static int		take_batch(struct app *, struct gc_waiter ***, int *);
static void		wake_next(void);
static void		committed(struct app *, struct db *,
			    struct ingest_item **, int);
static void		first_inbound(struct ingest_item **, int, bool *);

/*
 * Process-wide coordination state, not request state: the queue of
 * callers waiting for a commit. Static initialisers, so there is nothing
 * to set up or tear down.
 */
static pthread_mutex_t	 gc_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gc_waiter	*gc_head;
static struct gc_waiter	*gc_tail;
static int		 gc_leaders;

static const char *const kind_names[] = {
	[INBOUND_MESSAGE] = "message",
	[INBOUND_REACTION] = "reaction",
	[INBOUND_STATUS] = "status",
	[INBOUND_SYSTEM] = "system",
	[INBOUND_ECHO] = "echo",
	[INBOUND_UNSUPPORTED] = "unsupported",
	[INBOUND_STANDBY] = "standby",
};

bool
ingest_is_fresh(const struct app *app, int64_t timestamp)
{
	if (timestamp <= 0)
		return true;
	return time_unix() - timestamp <= (int64_t)app->cfg.inbound_max_age_s;
}

const char *
ingest_kind_name(enum inbound_kind kind)
{
	if ((unsigned)kind < sizeof(kind_names) / sizeof(kind_names[0]))
		return kind_names[kind];
	return "message";
}

const char *
ingest_kind_reason(enum inbound_kind kind)
{
	switch (kind) {
	case INBOUND_REACTION:
		return "A reaction: shown on its message, never answered.";
	case INBOUND_SYSTEM:
		return "A notice from WhatsApp, not a message: never answered.";
	case INBOUND_STANDBY:
		return "Not answered: another app held this conversation "
		    "(standby).";
	case INBOUND_STATUS:
		return "A delivery status, not a message.";
	case INBOUND_MESSAGE:
	case INBOUND_UNSUPPORTED:
	case INBOUND_ECHO:
	default:
		return NULL;
	}
}

/*
 * The batch statement (see the DESIGN note) over it[0..n), which fills
 * each item's message_id (0: a replay). One statement, so it commits on
 * its own unless the caller holds a transaction.
 */
static enum db_status
store(struct app *app, struct db *db, struct ingest_item **it, int n)
{
	struct db_res	 res = { 0 };
	struct buf	 a[22];
	int64_t		*i64 = xcalloc((size_t)n * 3 + 1, sizeof(*i64));
	const char	**s = xcalloc((size_t)n * 16 + 1, sizeof(*s));
	bool		*due = xcalloc((size_t)n + 1, sizeof(*due));
	bool		*counts = xcalloc((size_t)n + 1, sizeof(*counts));
	char		**media = xcalloc((size_t)n + 1, sizeof(*media));
	enum db_status	 st;

	(void)app;
	for (size_t k = 0; k < sizeof(a) / sizeof(a[0]); k++)
		buf_init(&a[k], 0);
	for (int i = 0; i < n; i++) {
		const struct inbound	*in = it[i]->in;
		const char		*display;
		bool			 echo = in->kind == INBOUND_ECHO;
		bool			 answers = in->kind == INBOUND_MESSAGE ||
					    in->kind == INBOUND_UNSUPPORTED;

		it[i]->message_id = 0;
		i64[i] = it[i]->org_id;
		i64[n + i] = it[i]->channel_id;
		i64[2 * n + i] = in->timestamp;
		display = in->is_group ? in->group_name : in->sender_name;
		if (in->media != NULL)
			media[i] = cJSON_PrintUnformatted(in->media);
		s[i] = in->provider_message_id;
		s[n + i] = in->chat_external_id;
		s[2 * n + i] = in->is_group ? "group" : "dm";
		s[3 * n + i] = display != NULL ? display : "";
		s[4 * n + i] = in->sender != NULL ? in->sender : "";
		s[5 * n + i] = in->sender_name != NULL ? in->sender_name : "";
		s[6 * n + i] = in->body != NULL ? in->body : "";
		s[7 * n + i] = media[i];
		s[8 * n + i] = in->transcript != NULL ? in->transcript : "";
		s[9 * n + i] = ingest_kind_name(in->kind);
		s[10 * n + i] = in->window_continue ? INGEST_CONTINUE_REASON :
		    answers && !it[i]->auto_answer ?
		    INGEST_STALE_REASON : echo ? NULL :
		    ingest_kind_reason(in->kind);
		s[11 * n + i] = in->kind == INBOUND_REACTION ? in->target_id :
		    NULL;
#define IDENT(m)	(in->from.m != NULL ? in->from.m : "")
		s[12 * n + i] = IDENT(user_id);
		s[13 * n + i] = IDENT(parent_user_id);
		s[14 * n + i] = IDENT(username);
		s[15 * n + i] = IDENT(phone);
#undef IDENT
		due[i] = answers && it[i]->auto_answer;
	}
	db_array_i64(&a[0], i64, n);
	db_array_i64(&a[1], i64 + n, n);
	db_array_i64(&a[10], i64 + 2 * n, n);
	db_array_bool(&a[13], due, n);
	for (int k = 0; k < 16; k++) {
		/* s's columns in parameter order: $3…$10, $12, $13, $15, $16,
		 * $18…$21 */
		static const int param[16] = { 2, 3, 4, 5, 6, 7, 8, 9, 11, 12,
		    14, 15, 17, 18, 19, 20 };

		db_array_text(&a[param[k]], s + (size_t)k * n, n);
	}
	for (int i = 0; i < n; i++)
		s[i] = it[i]->in->kind == INBOUND_ECHO ? "out" : "in";
	db_array_text(&a[16], s, n);
	first_inbound(it, n, counts);
	db_array_bool(&a[21], counts, n);

	/*
	 * $1 org, $2 channel, $3 provider id, $4 chat key, $5 chat kind,
	 * $6 display name, $7 sender, $8 sender name, $9 body, $10 media,
	 * $11 provider time (0: none), $12 transcript, $13 kind, $14 due,
	 * $15 settled reason, $16 reaction target, $17 direction; the
	 * author's identity ("": not given, chat/contact.h): $18 user id,
	 * $19 parent user id, $20 username, $21 phone.
	 */
	st = db_query(db, &res,
	    "WITH i AS ("
	    "  SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[],"
	    "         $4::text[], $5::text[], $6::text[], $7::text[],"
	    "         $8::text[], $9::text[], $10::text[], $11::bigint[],"
	    "         $12::text[], $13::text[], $14::boolean[], $15::text[],"
	    "         $16::text[], $17::text[], $18::text[], $19::text[],"
	    "         $20::text[], $21::text[], $22::boolean[])"
	    "    WITH ORDINALITY AS t(org, channel, pid, key, chat_kind,"
	    "         display, sender, sender_name, body, media, ts,"
	    "         transcript, kind, due, reason, target, direction,"
	    "         user_id, parent_id, username, phone, counts, ord)"
	    "), f AS ("
	    "  SELECT i.*, COALESCE((SELECT a.debounce_ms FROM agents a"
	    "          WHERE a.org_id = i.org AND a.id = ch.default_agent_id),"
	    "         0) AS debounce_ms,"
	    /* A DM's chat is the one holding the author's user id, else
	     * the one keyed by the item's address (chat/contact.h). */
	    "         COALESCE((SELECT k.external_id FROM chats k"
	    "          WHERE i.chat_kind = 'dm' AND i.user_id <> ''"
	    "            AND k.org_id = i.org AND k.channel_id = i.channel"
	    "            AND k.kind = 'dm' AND k.contact_user_id = i.user_id),"
	    "         i.key) AS chat_key"
	    "    FROM i JOIN channels ch ON ch.org_id = i.org"
	    "         AND ch.id = i.channel"
	    "   WHERE NOT EXISTS (SELECT 1 FROM messages m"
	    "          WHERE m.channel_id = i.channel"
	    "            AND m.provider_message_id = i.pid)"
	    "), c AS ("
	    "  INSERT INTO chats AS c (org_id, channel_id, kind, external_id,"
	    "         display_name, last_message_at, last_inbound_at,"
	    "         turn_due_at, contact_phone, contact_user_id,"
	    "         contact_parent_user_id, contact_username, unread)"
	    "  SELECT org, channel, min(chat_kind), chat_key,"
	    "         COALESCE(max(display) FILTER (WHERE display <> ''), ''),"
	    "         now(),"
	    "         CASE WHEN bool_or(direction = 'in') THEN now() END,"
	    "         CASE WHEN bool_or(due) THEN now() + make_interval("
	    "             secs => max(debounce_ms) / 1000.0) END,"
	    /* What the contact's items bring (a DM's; the newest wins). */
	    "         (array_agg(phone ORDER BY ord DESC) FILTER (WHERE"
	    "             chat_kind = 'dm' AND phone <> ''))[1],"
	    "         (array_agg(user_id ORDER BY ord DESC) FILTER (WHERE"
	    "             chat_kind = 'dm' AND user_id <> ''))[1],"
	    "         (array_agg(parent_id ORDER BY ord DESC) FILTER (WHERE"
	    "             chat_kind = 'dm' AND parent_id <> ''))[1],"
	    "         (array_agg(username ORDER BY ord DESC) FILTER (WHERE"
	    "             chat_kind = 'dm' AND username <> ''))[1],"
	    /* Its inbound messages, for the unread count: a provider id
	     * twice in one batch is one message (the second is not
	     * stored), flagged once by first_inbound (a DISTINCT here
	     * sorted every chat's rows: 15% of the batch's cost). */
	    "         count(*) FILTER (WHERE counts)"
	    "    FROM f GROUP BY org, channel, chat_key"
	    "   ORDER BY channel, chat_key"
	    "  ON CONFLICT (channel_id, external_id) DO UPDATE"
	    "     SET display_name = CASE WHEN EXCLUDED.display_name <> ''"
	    "             THEN EXCLUDED.display_name ELSE c.display_name END,"
	    "         last_message_at = now(),"
	    "         last_inbound_at = COALESCE(EXCLUDED.last_inbound_at,"
	    "             c.last_inbound_at),"
	    "         turn_due_at = CASE"
	    "             WHEN EXCLUDED.turn_due_at IS NULL THEN c.turn_due_at"
	    "             WHEN c.agent_id IS NULL THEN EXCLUDED.turn_due_at"
	    "             ELSE now() + make_interval(secs => COALESCE(("
	    "                 SELECT a.debounce_ms FROM agents a"
	    "                  WHERE a.org_id = c.org_id AND a.id = c.agent_id),"
	    "                 0) / 1000.0) END,"
	    "         contact_phone = COALESCE(EXCLUDED.contact_phone,"
	    "             c.contact_phone),"
	    "         contact_user_id = COALESCE(EXCLUDED.contact_user_id,"
	    "             c.contact_user_id),"
	    "         contact_parent_user_id = COALESCE("
	    "             EXCLUDED.contact_parent_user_id,"
	    "             c.contact_parent_user_id),"
	    "         contact_username = COALESCE(EXCLUDED.contact_username,"
	    "             c.contact_username),"
	    "         unread = c.unread + EXCLUDED.unread"
	    "   WHERE c.org_id = EXCLUDED.org_id"
	    "  RETURNING c.id, c.channel_id, c.external_id,"
	    "         c.turn_due_at IS NOT NULL AS due"
	    "), m AS ("
	    "  INSERT INTO messages (org_id, channel_id, chat_id, thread_id,"
	    "         direction, kind, provider_message_id, sender,"
	    "         sender_name, body, media, provider_ts, status,"
	    "         transcript, unanswered_reason, reply_to_id,"
	    "         sender_user_id, sender_username)"
	    "  SELECT f.org, f.channel, c.id,"
	    "         (SELECT t.id FROM threads t WHERE t.org_id = f.org"
	    "             AND t.chat_id = c.id AND t.closed_at IS NULL),"
	    "         f.direction, f.kind, f.pid, f.sender, f.sender_name,"
	    "         f.body, COALESCE(f.media::jsonb, '[]'),"
	    "         CASE WHEN f.ts > 0 THEN to_timestamp(f.ts) END,"
	    "         CASE WHEN f.direction = 'in' THEN 'received'"
	    "              ELSE 'sent' END,"
	    "         f.transcript, f.reason,"
	    "         (SELECT r.id FROM messages r"
	    "           WHERE f.target IS NOT NULL AND r.channel_id = f.channel"
	    "             AND r.provider_message_id = f.target),"
	    "         NULLIF(f.user_id, ''), NULLIF(f.username, '')"
	    "    FROM f JOIN c ON c.channel_id = f.channel"
	    "         AND c.external_id = f.chat_key"
	    "   ORDER BY f.ord"
	    "  ON CONFLICT (channel_id, provider_message_id)"
	    "     WHERE provider_message_id IS NOT NULL DO NOTHING"
	    "  RETURNING id, channel_id, provider_message_id"
	    ")"
	    " SELECT COALESCE(m.id, 0),"
	    "        (SELECT count(pg_notify('" APP_JOBS_CHANNEL "', ''))"
	    "           FROM (SELECT 1 FROM c WHERE c.due LIMIT 1) d)"
	    "   FROM i LEFT JOIN m ON m.channel_id = i.channel"
	    "        AND m.provider_message_id = i.pid"
	    "  ORDER BY i.ord",
	    DB_TEXT(buf_str(&a[0])), DB_TEXT(buf_str(&a[1])),
	    DB_TEXT(buf_str(&a[2])), DB_TEXT(buf_str(&a[3])),
	    DB_TEXT(buf_str(&a[4])), DB_TEXT(buf_str(&a[5])),
	    DB_TEXT(buf_str(&a[6])), DB_TEXT(buf_str(&a[7])),
	    DB_TEXT(buf_str(&a[8])), DB_TEXT(buf_str(&a[9])),
	    DB_TEXT(buf_str(&a[10])), DB_TEXT(buf_str(&a[11])),
	    DB_TEXT(buf_str(&a[12])), DB_TEXT(buf_str(&a[13])),
	    DB_TEXT(buf_str(&a[14])), DB_TEXT(buf_str(&a[15])),
	    DB_TEXT(buf_str(&a[16])), DB_TEXT(buf_str(&a[17])),
	    DB_TEXT(buf_str(&a[18])), DB_TEXT(buf_str(&a[19])),
	    DB_TEXT(buf_str(&a[20])), DB_TEXT(buf_str(&a[21])), DB_END);
	for (int i = 0; st == DB_OK && i < n && i < res.n_rows; i++)
		it[i]->message_id = db_res_i64(&res, i, 0);
	db_res_clear(&res);
	for (size_t k = 0; k < sizeof(a) / sizeof(a[0]); k++)
		buf_cleanup(&a[k]);
	for (int i = 0; i < n; i++)
		free(media[i]);
	free(media);
	free(i64);
	free(s);
	free(due);
	free(counts);
	return st;
}

struct pid_ref {
	int64_t		 channel;
	const char	*pid;		/* NULL: none, never a duplicate */
	int		 i;
};

static int
pid_ref_cmp(const void *x, const void *y)
{
	const struct pid_ref	*a = x, *b = y;
	int			 c;

	if (a->channel != b->channel)
		return a->channel < b->channel ? -1 : 1;
	if (a->pid == NULL || b->pid == NULL)
		c = (a->pid != NULL) - (b->pid != NULL);
	else
		c = strcmp(a->pid, b->pid);
	return c != 0 ? c : a->i - b->i;
}

/*
 * counts[i]: item i is an inbound message (not an echo) and the first
 * item of the batch with its channel and provider id, so the unread count
 * adds it once (the statement stores only the first).
 */
static void
first_inbound(struct ingest_item **it, int n, bool *counts)
{
	struct pid_ref	*r = xcalloc((size_t)n + 1, sizeof(*r));

	for (int i = 0; i < n; i++) {
		r[i].channel = it[i]->channel_id;
		r[i].pid = it[i]->in->provider_message_id;
		r[i].i = i;
	}
	qsort(r, (size_t)n, sizeof(*r), pid_ref_cmp);
	for (int k = 0; k < n; k++)
		counts[r[k].i] = it[r[k].i]->in->kind != INBOUND_ECHO &&
		    (k == 0 || r[k].pid == NULL || r[k - 1].pid == NULL ||
		     r[k].channel != r[k - 1].channel ||
		     strcmp(r[k].pid, r[k - 1].pid) != 0);
	free(r);
}

/*
 * store() and what goes with it in the same transaction: a user who
 * changed number keeps their chat (chat_contact_moved). Without such an
 * item (nearly always) the one statement is the transaction. On failure
 * nothing was written and every message_id is 0.
 */
static enum db_status
store_tx(struct app *app, struct db *db, struct ingest_item **it, int n)
{
	enum db_status	 st;
	bool		 moves = false;

	for (int i = 0; i < n && !moves; i++)
		moves = it[i]->in->new_contact != NULL &&
		    !it[i]->in->is_group;
	if (!moves)
		st = store(app, db, it, n);
	else if ((st = db_tx_begin(db)) == DB_OK) {
		st = store(app, db, it, n);
		for (int i = 0; st == DB_OK && i < n; i++) {
			const struct inbound *in = it[i]->in;

			if (in->new_contact == NULL || in->is_group ||
			    it[i]->message_id == 0)
				continue;
			st = chat_contact_moved(db, it[i]->org_id,
			    it[i]->channel_id, in->chat_external_id,
			    in->new_contact);
		}
		if (st == DB_OK)
			st = db_tx_commit(db);
	}
	if (st != DB_OK) {
		db_tx_rollback(db);
		for (int i = 0; i < n; i++)
			it[i]->message_id = 0;
	}
	return st;
}

/* One caller on its own: once more after a deadlock, then item by item
 * when PostgreSQL refused its data. */
static enum db_status
run_caller(struct app *app, struct db *db, struct gc_waiter *w)
{
	struct ingest_item	**it = xcalloc((size_t)w->n, sizeof(*it));
	enum db_status		  st;

	for (int i = 0; i < w->n; i++) {
		it[i] = &w->items[i];
		it[i]->rejected = false;
	}
	st = store_tx(app, db, it, w->n);
	if (st == DB_CONFLICT)
		st = store_tx(app, db, it, w->n);
	if (st == DB_INVALID && !db->broken) {
		st = DB_OK;
		for (int i = 0; i < w->n && st == DB_OK; i++) {
			st = store_tx(app, db, &it[i], 1);
			if (st == DB_CONFLICT)
				st = store_tx(app, db, &it[i], 1);
			if (st != DB_INVALID)
				continue;
			it[i]->rejected = true;
			st = DB_OK;
			log_warn("ingest", "msg=\"message not stored: "
			    "PostgreSQL refused a value\" org=%lld "
			    "channel=%lld", (long long)it[i]->org_id,
			    (long long)it[i]->channel_id);
		}
	}
	w->result = st == DB_OK ? INGEST_OK : INGEST_UNAVAILABLE;
	if (st == DB_OK) {
		metrics_ingest_commit(w->n);
		committed(app, db, it, w->n);
	} else
		log_warn("ingest", "msg=\"not stored\" status=%s items=%d",
		    db_status_str(st), w->n);
	free(it);
	return st;
}

/*
 * After a commit: what happens next, in this process (other processes
 * hear the NOTIFY, or their timers). The one place to hook work that
 * must follow every stored inbound item.
 */
static void
committed(struct app *app, struct db *db, struct ingest_item **it, int n)
{
	struct window_seen	*seen = xcalloc((size_t)n + 1, sizeof(*seen));
	int			 n_seen = 0;
	enum db_status		 st;

	search_poke();
	/*
	 * The 24-hour window reopens: held messages go (chat/window.h). Its
	 * own statement after the commit, not in the webhook's transaction:
	 * a crash in between leaves an open hold whose chat wrote since,
	 * which the window's sweep releases.
	 */
	for (int i = 0; i < n; i++)
		if (it[i]->message_id != 0 &&
		    it[i]->in->kind != INBOUND_ECHO)
			seen[n_seen++] = (struct window_seen){ it[i]->org_id,
			    it[i]->message_id, it[i]->in->window_continue };
	if (n_seen > 0 && (st = window_inbound(app, db, seen, n_seen)) !=
	    DB_OK)
		log_warn("ingest", "msg=\"holds not released now; the "
		    "window sweep will\" status=%s", db_status_str(st));
	free(seen);
}

/* Stores and commits one batch, filling each waiter's result. */
static void
run_batch(struct app *app, struct gc_waiter **batch, int nb)
{
	struct ingest_item	**it;
	struct db		 *db;
	enum db_status		  st;
	int			  n_items = 0, k = 0;

	for (int b = 0; b < nb; b++)
		n_items += batch[b]->n;
	if ((db = db_acquire_reserved(app->db)) == NULL) {
		log_warn("ingest", "msg=\"no database connection\" "
		    "callers=%d items=%d", nb, n_items);
		for (int b = 0; b < nb; b++)
			batch[b]->result = INGEST_UNAVAILABLE;
		return;
	}
	if (nb == 1) {
		(void)run_caller(app, db, batch[0]);
		db_release(db);
		return;
	}
	it = xcalloc((size_t)n_items, sizeof(*it));
	for (int b = 0; b < nb; b++)
		for (int i = 0; i < batch[b]->n; i++) {
			it[k] = &batch[b]->items[i];
			it[k++]->rejected = false;
		}
	st = store_tx(app, db, it, n_items);
	if (st == DB_OK) {
		metrics_ingest_commit(n_items);
		committed(app, db, it, n_items);
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
	free(it);
	db_release(db);
}

/*
 * Under gc_mu: unlinks the waiters of app queued now, in order, up to
 * GC_ITEMS_MAX items (always at least the first), into *batch (malloc'd,
 * *cap its room); returns how many.
 */
static int
take_batch(struct app *app, struct gc_waiter ***batch, int *cap)
{
	struct gc_waiter	**pp = &gc_head, *w;
	int			  nb = 0, items = 0;

	gc_tail = NULL;
	while ((w = *pp) != NULL) {
		if (w->app == app && (nb == 0 || items + w->n <=
		    GC_ITEMS_MAX)) {
			if (nb == *cap) {
				*cap = *cap * 2 + 16;
				*batch = xrealloc(*batch, (size_t)*cap *
				    sizeof(**batch));
			}
			*pp = w->next;
			w->next = NULL;
			(*batch)[nb++] = w;
			items += w->n;
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

int
ingest_connections(void)
{
	return GC_LEADERS;
}

enum ingest_result
ingest_store(struct app *app, struct ingest_item *items, int n)
{
	struct gc_waiter	 self;
	struct gc_waiter	**batch = NULL;
	struct app		 *bapp;
	int			  nb, cap = 0;

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
		nb = take_batch(bapp, &batch, &cap);
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
	free(batch);
	return self.result;
}
