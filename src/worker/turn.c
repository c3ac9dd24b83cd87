/*
 * turn: a conversation turn (see turn.h).
 *
 * DESIGN. A turn answers everything a person said since the last answer:
 * the chat's UNSETTLED inbound messages (chat/messages.h: neither
 * answered nor settled with a reason), oldest first. Ingest makes the
 * chat's turn due debounce_ms after its latest message, so a burst is one
 * turn; the queue's claim makes the turn job and holds the chat, so one
 * chat has one turn at a time across workers and processes. The job is a
 * small state machine over rows, so any run of it (the first, a retry, a
 * re-claim after a worker died) reads where the last one stopped:
 *
 *   the chat's last answer has unsent parts → send them first (its parts
 *        'queued' are sent, one left 'sending' is "delivery unknown")
 *   unsettled messages → who answers (handoff_answerer, the ONE
 *        predicate, over the chat's status and its thread's owner): a
 *        person → each is settled "a person has the chat"; another app
 *        owns the thread → settled so, unless its thread idled
 *        (handoff_ours takes it back); closed → reopened; the AI (or a
 *        probe after an outage) → routed, each message's author by its
 *        identity (chat/contact.h: allow-lists, connect-code guesses)
 *   routed (chat/commands.h), in order, in segments: a run of messages
 *        for the model is ONE question (CHAT: the thread's history before
 *        it, then each message; TASK: the segment's own messages), a
 *        command ("connect CODE", the reset command) its own segment, a
 *        run of welcome / not-allowed / unreadable messages one text
 *        (the "cannot read" text once a turn: a later run of unreadable
 *        messages is covered by it)
 *   a segment's answer → one transaction records its parts (the first
 *        already taken for sending), the model call and which messages it
 *        covered (answered_by), then the parts are sent.
 *
 * ROUND TRIPS. The claim is one statement (worker/queue.c). The load is
 * one transaction: the chat with its unsettled messages (one statement),
 * the agent, the channel, and for a segment for the model the session,
 * the thread, the history and the gateway's own load (model, provider,
 * the llm_calls id). No connection is held while the model works (the
 * agent's working indicators, worker/working.h, run on their own thread
 * meanwhile and go quiet before the answer is sent). The record is one
 * transaction. The first part's send is one statement (its
 * mark); the job's completion one more: five transactions for an
 * answered turn of one part.
 *
 * A MESSAGE DURING A LONG TURN. The watcher (one statement per tick for
 * the process) sees the chat's turn become due again while the model
 * works. busy_mode 'restart': the model call is aborted (within about a
 * second: the HTTP client asks at each progress tick) and the job ends;
 * the chat's due turn starts again with every message. 'follow_up': the
 * model finishes, its answer covers what it was asked, and the worker
 * claims the chat's next turn right after. With busy_ack, an 'ack' job
 * sends TEXT_BUSY at once, once per turn: an acknowledgment, never the
 * answer (it settles nothing).
 *
 * OUTAGES (chat/handoff.h). A model that errs, times out or rate-limits
 * is waited out: handoff_outage counts from the chat's first failure,
 * brings the turn back after a growing pause (never before Retry-After),
 * says TEXT_SLOW once past the agent's notice time and hands the chat to
 * a person past its window; a handed-off chat nobody claimed is probed
 * (HANDOFF_PROBE) and returns to the AI when the model answers, with a
 * note. The messages wait unsettled meanwhile: the chat's state is their
 * reason (the conversation view says so).
 *
 * Failover (README, "Running several replicas"). A record whose commit
 * fails unseen may have committed its first part taken for sending; the
 * run knows it called no provider, so it waits for the database and puts
 * the part back to 'queued' under its lease (untake_parts). The outbox
 * waits out the database around a provider call (chat/outbox.h); the
 * pool gives back claims lost in a failover and retries outcomes for
 * 30 s (worker/pool.h).
 *
 * Connections: one is held only to read and to record, never while a
 * model, a provider or a download answers. The pool's lease keeper
 * renews the job's lease meanwhile; a run whose lease was taken stops
 * before acting.
 *
 * Every statement names the job's org_id.
 */
#include "worker/turn.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "channels/channel.h"
#include "channels/split.h"
#include "chat/chats.h"
#include "chat/commands.h"
#include "chat/connect.h"
#include "chat/handoff.h"
#include "chat/media.h"
#include "chat/messages.h"
#include "chat/outbox.h"
#include "chat/texts.h"
#include "chat/threads.h"
#include "db/db.h"
#include "llm/gateway.h"
#include "model/agent.h"
#include "model/audit.h"
#include "model/media.h"
#include "model/org.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/context.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"
#include "util/utf8.h"
#include "util/xmalloc.h"
#include "worker/queue.h"
#include "worker/voice.h"
#include "worker/working.h"

#define TURN_MSGS_MAX	50	/* one turn's messages; the rest next */
#define TURN_PARTS_MAX	64	/* 64 × 1600 characters at least */
/* How long a part's bookkeeping around a lost commit waits out a
 * database that went away (a failover: seconds without a primary). */
#define RIDE_OUT_MS	30000
#define VISION_URL_TTL_S	600	/* a signed image URL for the model */
#define TURN_DOCS_MAX		100	/* a thread's documents looked at */
/* Images one model call is shown: 10 vision images are at most ~5 MB of
 * base64 in the request; more are named, not shown. */
#define TURN_IMAGES_MAX		10

/* A run of messages one action answers (see the DESIGN note). */
struct seg {
	enum route_action	 action;
	int			 from;		/* index of its first message */
	int			 n;
	const char		*code;		/* ROUTE_CONNECT */
};

/* One run of the job. */
struct turn {
	struct worker_ctx		*w;
	const struct job		*job;
	const struct app		*app;
	struct arena			*a;
	struct db			*db;
	bool				 loaded;	/* later acquires are
							   urgent (db/pool.c) */
	char				*err;
	size_t				 errlen;
	int64_t				 org_id;
	struct chat_turn		 c;
	struct turn_msg			*m;
	int				 n;
	enum route_action		*route;		/* per message */
	const char			**code;		/* per message */
	bool				*unreadable;	/* per message: its
							   voice note */
	struct agent			 agent;
	bool				 has_agent;
	const struct channel_ops	*ops;
	struct outbox_channel		 ch;
	bool				 has_ch;
	struct out_part			*parts;		/* the answer being
							   sent */
	int				 n_parts;
	struct working			*working;	/* typing, read, ⏳ */
	atomic_bool			 cancel;	/* restart: abort the
							   model call */
	bool				 news;		/* a message came in
							   while it ran */
	/* The model's input beyond words (turn_media_input). */
	cJSON				**user;		/* per message: its
							   user message, NULL:
							   none */
	struct media_doc		*docs;		/* the thread's, newest
							   first */
	int				 n_docs;
	bool				 no_vision;	/* TEXT_NO_VISION
							   before the answer */
	bool				 no_vision_only;	/* …instead
							   of asking: nothing
							   but images */
	int64_t				 unsupported_said;	/* this
							   turn's TEXT_UNSUPPORTED
							   (its message id), 0:
							   not said yet */
};

static int64_t		 payload_i64(const char *, const char *);
static enum job_result	 fail(struct turn *, enum job_result, const char *, ...)
			    __attribute__((format(printf, 3, 4)));
static bool		 turn_init(struct turn *, struct worker_ctx *,
			    const struct job *, char *, size_t);
static bool		 tx_begin(struct turn *);
static bool		 tx_commit(struct turn *);
static void		 untake_parts(struct turn *);
static void		 release_db(struct turn *);
static bool		 lease_ok(struct turn *);
static enum job_result	 load(struct turn *);
static bool		 needs_media(const struct turn *);
static enum job_result	 media(struct turn *);
static void		 route_all(struct turn *, int);
static void		 next_seg(const struct turn *, int, struct seg *);
static enum job_result	 run_seg(struct turn *, const struct seg *);
static enum job_result	 do_answer(struct turn *, const struct seg *);
static enum job_result	 do_connect(struct turn *, const struct seg *);
static enum job_result	 do_reset(struct turn *, const struct seg *);
static enum job_result	 do_welcome(struct turn *, const struct seg *);
static enum job_result	 do_text(struct turn *, const struct seg *,
			    enum chat_text, const char *);
static enum job_result	 settle(struct turn *, const struct seg *,
			    bool, int64_t, const char *);
static enum job_result	 say_reply(struct turn *, const struct seg *,
			    enum chat_text, const char *,
			    const struct text_vars *, const char *, bool);
static enum job_result	 say_text(struct turn *, enum chat_text);
static enum job_result	 record_parts(struct turn *, int64_t, const char *,
			    const char *, int64_t);
static enum job_result	 deliver(struct turn *);
static enum job_result	 send_part(struct turn *, struct out_part *, bool *);
static enum db_status	 ensure_channel(struct turn *);
static cJSON		*turn_context(struct turn *, const struct seg *);
static char		*turn_text(struct turn *, int);
static enum job_result	 turn_media_input(struct turn *, const struct seg *,
			    cJSON *, bool);
static enum job_result	 turn_docs_input(struct turn *, const struct seg *,
			    cJSON *);
static enum job_result	 turn_doc_text(struct turn *, const struct media_doc *,
			    int64_t, struct buf *, int64_t *);
static enum job_result	 turn_images_input(struct turn *, const struct seg *,
			    bool);
static const char	*turn_answer_text(struct turn *, const char *);
static const char	*seg_keyword(const struct turn *, const struct seg *);
static int		 anchor_index(const struct turn *, const struct seg *);
static bool		 cancelled(void *);
static void		 working_on(struct turn *, int, bool);
static int		 watch_add(struct turn *);
static void		 watch_remove(int);
static bool		 watch_news(int);

/* --- the run --------------------------------------------------------- */

/* A run of job, ready to load; false (t->err says why) when the payload
 * names no chat. The caller frees t->a. */
static bool
turn_init(struct turn *t, struct worker_ctx *w, const struct job *job,
    char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	t->w = w;
	t->job = job;
	t->app = w->app;
	t->err = err;
	t->errlen = errlen;
	t->org_id = job->org_id;
	t->a = arena_new();
	atomic_init(&t->cancel, false);
	if ((t->c.chat_id = payload_i64(job->payload, "chat_id")) == 0) {
		(void)fail(t, JOB_FAIL, "The payload names no chat_id.");
		return false;
	}
	return true;
}

enum job_result
turn_job_run(struct worker_ctx *w, const struct job *job, char *err,
    size_t errlen)
{
	struct turn	 t;
	struct seg	 s;
	enum job_result	 jr = JOB_DONE;
	enum handoff_answerer who;
	int		 i;

	if (!turn_init(&t, w, job, err, errlen)) {
		jr = JOB_FAIL;
		goto out;
	}
	if ((jr = load(&t)) != JOB_DONE || !t.c.held)
		goto out;
	if (t.c.unsent) {
		/* The last answer first: a crash or "try later" left it. */
		if (!tx_commit(&t)) {
			jr = fail(&t, JOB_RETRY, "The database is unavailable.");
			goto out;
		}
		/* The ⏳ a crashed run placed comes off after it. */
		if (t.n > 0)
			working_on(&t, t.n - 1, true);
		if ((jr = deliver(&t)) != JOB_DONE)
			goto out;
		working_end(t.working);
		t.working = NULL;
		if (!tx_begin(&t)) {
			jr = fail(&t, JOB_RETRY, "The database is unavailable.");
			goto out;
		}
	}
	if (t.n == 0)
		goto out;

	/* Media and voice notes first, whoever answers: a person who has
	 * the chat sees the photo and reads the transcript too. */
	if (needs_media(&t)) {
		if (!tx_commit(&t)) {
			jr = fail(&t, JOB_RETRY, "The database is unavailable.");
			goto out;
		}
		release_db(&t);
		if ((jr = media(&t)) != JOB_DONE)
			goto out;
		if (!tx_begin(&t)) {
			jr = fail(&t, JOB_RETRY, "The database is unavailable.");
			goto out;
		}
	}
	who = handoff_answerer(t.c.status, t.c.handoff_reason,
	    t.c.assigned_user_id, t.c.owner);
	if (who == HANDOFF_OTHER_APP) {
		bool	 ours = false;

		/* Another app's thread that idled is ours again. */
		if (handoff_ours(t.db, t.org_id, t.c.chat_id, t.m[0].id, NULL,
		    &ours) != DB_OK) {
			jr = fail(&t, JOB_RETRY, "The database is unavailable.");
			goto out;
		}
		if (!ours) {
			log_info("turn", "msg=\"another app owns the thread, "
			    "not answered\" org=%" PRId64 " chat=%" PRId64
			    " messages=%d", t.org_id, t.c.chat_id, t.n);
			s.action = ROUTE_IGNORE;
			s.from = 0;
			s.n = t.n;
			jr = settle(&t, &s, false, 0, HANDOFF_OTHER_APP_REASON);
			goto out;
		}
		who = HANDOFF_AI;
	}
	if (who == HANDOFF_PERSON) {
		log_info("turn", "msg=\"a person has the chat, not answered\" "
		    "org=%" PRId64 " chat=%" PRId64 " messages=%d status=%s",
		    t.org_id, t.c.chat_id, t.n, t.c.status);
		s.action = ROUTE_IGNORE;
		s.from = 0;
		s.n = t.n;
		jr = settle(&t, &s, false, 0, str_eq(t.c.status, "human") ?
		    "Not answered by the AI: a person has the chat." :
		    "Not answered by the AI: the chat waits for a person.");
		goto out;
	}
	if (who == HANDOFF_REOPEN) {
		bool	 reopened;

		if (handoff_reopen(t.db, t.org_id, t.c.chat_id, &reopened) !=
		    DB_OK) {
			jr = fail(&t, JOB_RETRY, "The chat could not be "
			    "reopened.");
			goto out;
		}
		t.c.status = "ai";
		log_info("turn", "msg=\"closed chat reopened\" org=%" PRId64
		    " chat=%" PRId64, t.org_id, t.c.chat_id);
	}
	for (i = 0; i < t.n; i += s.n) {
		route_all(&t, i);
		next_seg(&t, i, &s);
		if ((jr = run_seg(&t, &s)) != JOB_DONE)
			goto out;
		if (t.db == NULL && i + s.n < t.n && !tx_begin(&t)) {
			jr = fail(&t, JOB_RETRY, "The database is unavailable.");
			goto out;
		}
	}
	/* More than one turn's worth: the rest is the next turn's. */
	if (t.n == TURN_MSGS_MAX && (t.db != NULL || tx_begin(&t)) &&
	    chat_turn_due_if_pending(t.db, t.org_id, t.c.chat_id) == DB_OK)
		t.news = true;
out:
	if (t.db != NULL && jr == JOB_DONE && t.db->in_tx && !tx_commit(&t))
		jr = fail(&t, JOB_RETRY, "The database is unavailable.");
	release_db(&t);
	working_end(t.working);
	/* A follow-up (or a restart) is due: claim again, or learn when. */
	if (t.news)
		w->again = true;
	outbox_channel_close(&t.ch);
	arena_free(t.a);
	return jr;
}

static int64_t
payload_i64(const char *payload, const char *key)
{
	cJSON		*j = json_parse_str(payload, NULL);
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(j, key);
	int64_t		 id = 0;

	if (cJSON_IsNumber(v) && v->valuedouble >= 1 &&
	    v->valuedouble < 9007199254740992.0)
		id = (int64_t)v->valuedouble;
	cJSON_Delete(j);
	return id;
}

static enum job_result
fail(struct turn *t, enum job_result res, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(t->err, t->errlen, fmt, ap);
	va_end(ap);
	return res;
}

/*
 * A connection (kept) and BEGIN; false when the database is down. A busy
 * pool is waited out in its queue (up to RIDE_OUT_MS: a turn waiting for
 * a connection is a turn waiting its turn, not a failure to retry later).
 * Once the turn is loaded, what it still does finishes begun work: it is
 * served before new turns' loads (db_acquire_urgent).
 */
static bool
tx_begin(struct turn *t)
{
	if (t->db == NULL && (t->db = t->loaded ?
	    db_acquire_wait_urgent(t->w->db, RIDE_OUT_MS) :
	    db_acquire_wait(t->w->db, RIDE_OUT_MS)) == NULL)
		return false;
	if (t->db->in_tx)
		return true;
	return db_tx_begin(t->db) == DB_OK;
}

static bool
tx_commit(struct turn *t)
{
	enum db_status	 st;

	if (t->db == NULL || !t->db->in_tx)
		return true;
	st = db_tx_commit(t->db);
	if (st == DB_UNAVAILABLE)
		untake_parts(t);
	return st == DB_OK;
}

/*
 * The commit of a record that took its first part for sending failed
 * unseen: the server may have committed it before going away (a
 * failover), which would leave the part 'sending' though no provider was
 * called, and the next run would call it "delivery unknown": a message
 * never answered. This run knows it sent nothing, so once the database is
 * back (waited out for RIDE_OUT_MS) it puts such parts back to 'queued'
 * in one transaction with a check that the job's lease is still its own
 * (so no other run can be sending them). If even that cannot be done
 * they are left as they are: unknown, never sent twice.
 */
static void
untake_parts(struct turn *t)
{
	enum db_status	 st = DB_UNAVAILABLE;
	bool		 any = false;

	for (int i = 0; i < t->n_parts; i++)
		any = any || (t->parts[i].taken &&
		    str_eq(t->parts[i].status, "sending"));
	if (!any)
		return;
	release_db(t);
	if ((t->db = db_acquire_wait(t->w->db, RIDE_OUT_MS)) != NULL &&
	    db_tx_begin(t->db) == DB_OK) {
		st = queue_extend_lease_any_org(t->db, t->job->id,
		    t->w->worker_id, t->w->lease_s);
		for (int i = 0; st == DB_OK && i < t->n_parts; i++) {
			if (!t->parts[i].taken)
				continue;
			st = outbox_untake_taken(t->db, t->org_id,
			    t->parts[i].id);
			if (st == DB_NOT_FOUND)
				st = DB_OK;	/* the record never committed */
		}
		if (st == DB_OK)
			st = db_tx_commit(t->db);
		db_tx_rollback(t->db);
	}
	release_db(t);
	if (st == DB_OK) {
		for (int i = 0; i < t->n_parts; i++)
			if (t->parts[i].taken) {
				t->parts[i].taken = false;
				t->parts[i].status = "queued";
			}
		log_info("turn", "msg=\"record's commit lost: parts given "
		    "back to queued\" org=%" PRId64 " job=%" PRId64,
		    t->org_id, t->job->id);
	} else
		log_err("turn", "msg=\"part not sent, but perhaps marked "
		    "sending\" org=%" PRId64 " job=%" PRId64 " status=%s",
		    t->org_id, t->job->id, db_status_str(st));
}

/* Gives the connection back (rolling back what was not committed). */
static void
release_db(struct turn *t)
{
	if (t->db != NULL)
		db_release(t->db);
	t->db = NULL;
}

/* False when the pool's lease keeper found the job taken over. */
static bool
lease_ok(struct turn *t)
{
	return worker_lease_ok(t->w);
}

/*
 * BEGIN, the chat and its unsettled messages, the agent, the channel and
 * the last answer's parts when some are unsent; the transaction stays
 * open. t->c.held false: another turn holds the chat (this job was
 * superseded): nothing to do.
 */
static enum job_result
load(struct turn *t)
{
	enum db_status	 st;

	if (!tx_begin(t))
		return fail(t, JOB_RETRY, "The database is unavailable.");
	st = chat_turn_load(t->db, t->a, t->org_id, t->c.chat_id, t->job->id,
	    TURN_MSGS_MAX, &t->c, &t->m, &t->n);
	if (st == DB_NOT_FOUND) {
		log_info("turn", "msg=\"chat gone, nothing to answer\" "
		    "org=%" PRId64 " chat=%" PRId64, t->org_id, t->c.chat_id);
		return JOB_DONE;
	}
	if (st != DB_OK)
		return fail(t, JOB_RETRY, "The database is unavailable.");
	if (!t->c.held) {
		log_info("turn", "msg=\"another turn holds the chat\" "
		    "org=%" PRId64 " chat=%" PRId64 " job=%" PRId64,
		    t->org_id, t->c.chat_id, t->job->id);
		return JOB_DONE;
	}
	if (t->c.agent_id != 0) {
		st = agent_get(t->db, t->a, t->org_id, t->c.agent_id,
		    &t->agent);
		if (st != DB_OK && st != DB_NOT_FOUND)
			return fail(t, JOB_RETRY, "The database is "
			    "unavailable.");
		t->has_agent = st == DB_OK;
	}
	t->ops = channel_ops_for(t->c.channel_kind);
	if (t->ops == NULL)
		return fail(t, JOB_FAIL, "No sender for channels of kind "
		    "\"%s\".", t->c.channel_kind);
	st = ensure_channel(t);
	if (st == DB_UNAVAILABLE)
		return fail(t, JOB_RETRY, "The database is unavailable.");
	if (st != DB_OK)
		return fail(t, JOB_FAIL, "The channel cannot send: it is gone, "
		    "or its credentials cannot be opened.");
	t->route = arena_alloc(t->a, sizeof(*t->route) * (size_t)(t->n + 1));
	t->code = arena_alloc(t->a, sizeof(*t->code) * (size_t)(t->n + 1));
	t->unreadable = arena_alloc(t->a, sizeof(*t->unreadable) *
	    (size_t)(t->n + 1));
	for (int i = 0; i < t->n; i++)
		t->unreadable[i] = false;
	if (t->c.unsent && outbox_parts(t->db, t->a, t->org_id, t->c.reply_to,
	    &t->parts, &t->n_parts) != DB_OK)
		return fail(t, JOB_RETRY, "The database is unavailable.");
	t->loaded = true;
	return JOB_DONE;
}

/* The channel, opened once per run (needs the connection). */
static enum db_status
ensure_channel(struct turn *t)
{
	enum db_status	 st;

	if (t->has_ch)
		return DB_OK;
	st = outbox_channel_open(t->app, t->db, t->a, t->org_id,
	    t->c.channel_id, &t->ch);
	if (st == DB_OK)
		t->has_ch = true;
	else
		outbox_channel_close(&t->ch);
	return st;
}

/*
 * The turn's working indicators (worker/working.h) on message i: the
 * typing indicator (refreshed while the model works; it marks the
 * message read), a read receipt, ⏳, as the agent's settings say; each
 * provider call made off this thread. Started before the model is asked,
 * quiet before the answer is sent, ended when it is out (or will not be,
 * this run). leftover: nothing is shown, and the end takes off the ⏳ a
 * crashed run of this turn placed. Needs the channel; holds no
 * connection. Once per turn at a time.
 */
static void
working_on(struct turn *t, int i, bool leftover)
{
	struct working_req	 req;

	if (!t->has_ch || !t->has_agent || t->working != NULL ||
	    (leftover && !t->agent.working_reaction))
		return;
	memset(&req, 0, sizeof(req));
	req.ops = t->ops;
	req.creds = &t->ch.creds;
	req.to = t->c.address;
	req.message_id = t->m[i].provider_message_id;
	req.typing = t->agent.typing_indicator;
	req.read = t->agent.read_receipts;
	req.reaction = t->agent.working_reaction;
	req.leftover = leftover;
	req.org_id = t->org_id;
	req.chat_id = t->c.chat_id;
	t->working = working_start(&req);
}

/* --- media and voice notes --------------------------------------------- */

static bool
needs_media(const struct turn *t)
{
	bool	 has_media;

	for (int i = 0; i < t->n; i++) {
		(void)voice_item(t->m[i].media, &has_media);
		if (has_media)
			return true;
	}
	return false;
}

/*
 * Every message's media downloaded (no connection held), then its voice
 * note transcribed when the agent transcribes and it has no transcript
 * yet, so a spoken command routes and the model reads the words. JOB_RETRY
 * only when the database or the lease is lost.
 */
static enum job_result
media(struct turn *t)
{
	struct voice_note	 v;
	enum job_result		 jr;
	bool			 has_media;
	int			 item;

	for (int i = 0; i < t->n; i++) {
		item = voice_item(t->m[i].media, &has_media);
		if (!has_media)
			continue;
		if (media_fetch_message(t->app, t->org_id, t->m[i].id) < 0)
			return fail(t, JOB_RETRY, "The database is "
			    "unavailable.");
		if (!lease_ok(t))
			return fail(t, JOB_RETRY, "The job's lease was lost.");
		if (item < 0 || !t->has_agent ||
		    t->agent.transcription_model == NULL ||
		    t->agent.transcription_model[0] == '\0' ||
		    t->m[i].transcript[0] != '\0')
			continue;
		memset(&v, 0, sizeof(v));
		v.w = t->w;
		v.job = t->job;
		v.a = t->a;
		v.agent = &t->agent;
		v.chat_id = t->c.chat_id;
		v.message_id = t->m[i].id;
		v.item = item;
		if ((jr = voice_transcribe(&v, t->err, t->errlen)) != JOB_DONE)
			return jr;
		if (v.transcript != NULL)
			t->m[i].transcript = v.transcript;
		t->unreadable[i] = v.unreadable;
	}
	return JOB_DONE;
}

/* --- routing ------------------------------------------------------------ */

/* What messages from..n mean (chat/commands.h), with the agent as now. */
static void
route_all(struct turn *t, int from)
{
	struct route_input	 in;
	struct route_decision	 d;

	for (int i = from; i < t->n; i++) {
		t->code[i] = NULL;
		if (str_eq(t->m[i].kind, "unsupported")) {
			t->route[i] = ROUTE_UNSUPPORTED;
			continue;
		}
		memset(&in, 0, sizeof(in));
		in.body = t->m[i].body;
		in.transcript = t->m[i].transcript;
		in.is_group = str_eq(t->c.chat_kind, "group");
		in.sender = t->m[i].sender;
		in.from = &t->m[i].from;
		in.has_agent = t->has_agent;
		if (t->has_agent) {
			in.agent_name = t->agent.name;
			in.reset_command = t->agent.reset_command;
			in.allow_list = (const char *const *)
			    t->agent.allow_list;
			in.n_allow = t->agent.n_allow;
			in.require_mention = t->agent.require_mention;
			/* "@<our number>" is how WhatsApp writes a mention. */
			if (in.is_group && t->has_ch)
				in.channel_number = t->ch.creds.phone_number;
		}
		chat_route_decide(t->a, &in, &d);
		t->route[i] = d.action;
		t->code[i] = d.code;
	}
}

/* The segment starting at message i (see the DESIGN note). */
static void
next_seg(const struct turn *t, int i, struct seg *s)
{
	enum route_action	 a = t->route[i];
	bool			 any_answer = a == ROUTE_ANSWER;

	memset(s, 0, sizeof(*s));
	s->from = i;
	s->n = 1;
	s->action = a;
	s->code = t->code[i];
	if (a == ROUTE_CONNECT || a == ROUTE_RESET)
		return;
	while (i + s->n < t->n) {
		enum route_action	 b = t->route[i + s->n];

		if (a == ROUTE_ANSWER || a == ROUTE_IGNORE) {
			if (b != ROUTE_ANSWER && b != ROUTE_IGNORE)
				break;
			any_answer |= b == ROUTE_ANSWER;
		} else if (b != a)
			break;
		s->n++;
	}
	if (a == ROUTE_ANSWER || a == ROUTE_IGNORE)
		s->action = any_answer ? ROUTE_ANSWER : ROUTE_IGNORE;
}

static enum job_result
run_seg(struct turn *t, const struct seg *s)
{
	struct text_vars	 v;
	enum job_result		 jr;

	log_debug("turn", "msg=\"segment\" org=%" PRId64 " chat=%" PRId64
	    " route=%s messages=%d", t->org_id, t->c.chat_id,
	    chat_route_name(s->action), s->n);
	memset(&v, 0, sizeof(v));
	v.agent = t->has_agent ? t->agent.name : "";
	switch (s->action) {
	case ROUTE_CONNECT:
		return do_connect(t, s);
	case ROUTE_WELCOME:
		return do_welcome(t, s);
	case ROUTE_RESET:
		return do_reset(t, s);
	case ROUTE_NOT_ALLOWED:
		log_info("turn", "msg=\"sender not on the allow-list\" "
		    "org=%" PRId64 " agent=%" PRId64 " chat=%" PRId64,
		    t->org_id, t->agent.id, t->c.chat_id);
		return say_reply(t, s, TEXT_NOT_ALLOWED, t->agent.texts, &v,
		    NULL, true);
	case ROUTE_UNSUPPORTED:
		/* Said once a turn: a later run (after a question in the
		 * same burst) is covered by the text already said. */
		if (t->unsupported_said > 0)
			return settle(t, s, false, t->unsupported_said, NULL);
		jr = do_text(t, s, TEXT_UNSUPPORTED, t->has_agent ?
		    t->agent.texts : NULL);
		if (jr == JOB_DONE && t->n_parts > 0)
			t->unsupported_said = t->parts[0].id;
		return jr;
	case ROUTE_IGNORE:
		/* Kept in the thread as context; nothing to answer. */
		if (t->has_agent) {
			int64_t	*ids = arena_alloc(t->a, sizeof(*ids) *
				    (size_t)(s->n + 1));
			enum db_status	 st;

			for (int i = 0; i < s->n; i++)
				ids[i] = t->m[s->from + i].id;
			st = chat_thread_for(t->db, t->org_id, t->c.chat_id,
			    t->agent.id, 0, &t->c.thread_id);
			if (st == DB_OK)
				st = chat_thread_adopt(t->db, t->org_id,
				    t->c.thread_id, ids, s->n);
			if (st != DB_OK)
				return fail(t, JOB_RETRY, "The thread could "
				    "not be opened.");
		}
		return settle(t, s, false, 0, "Not answered: a group message "
		    "that does not mention the agent.");
	case ROUTE_ANSWER:
	default:
		return do_answer(t, s);
	}
}

/* --- settling and saying -------------------------------------------------- */

/*
 * Settles the segment's messages in the open transaction: with
 * answered_by, or the reason (answer_only: only the messages routed
 * ROUTE_ANSWER get answered_by, the rest of an answered run the
 * group-context reason).
 */
static enum job_result
settle(struct turn *t, const struct seg *s, bool answer_only,
    int64_t answered_by, const char *reason)
{
	int64_t	*ids = arena_alloc(t->a, sizeof(*ids) * (size_t)(s->n + 1));
	int64_t	*other = arena_alloc(t->a, sizeof(*other) * (size_t)(s->n + 1));
	int	 n = 0, n_other = 0;

	for (int i = s->from; i < s->from + s->n; i++) {
		if (answer_only && t->route[i] != ROUTE_ANSWER)
			other[n_other++] = t->m[i].id;
		else
			ids[n++] = t->m[i].id;
	}
	if (!tx_begin(t))
		return fail(t, JOB_RETRY, "The database is unavailable.");
	if (chat_turn_settle(t->db, t->org_id, t->c.chat_id, ids, n,
	    answered_by, reason) != DB_OK ||
	    chat_turn_settle(t->db, t->org_id, t->c.chat_id, other, n_other,
	    0, "Context for the answer below: a group message that does not "
	    "mention the agent.") != DB_OK)
		return fail(t, JOB_RETRY, "The database is unavailable.");
	return JOB_DONE;
}

/* The index of the segment's anchor: its last message routed ANSWER (the
 * last message for other segments). */
static int
anchor_index(const struct turn *t, const struct seg *s)
{
	for (int i = s->from + s->n - 1; i >= s->from; i--)
		if (s->action != ROUTE_ANSWER || t->route[i] == ROUTE_ANSWER)
			return i;
	return s->from + s->n - 1;
}

/*
 * Splits content to the channel's limit and records it as the reply to
 * message anchor (the first part taken for sending), in the open
 * transaction; t->parts are the parts.
 */
static enum job_result
record_parts(struct turn *t, int64_t anchor, const char *content,
    const char *sender, int64_t llm_call_id)
{
	struct split_part	 cuts[TURN_PARTS_MAX];
	const char		*texts[TURN_PARTS_MAX];
	size_t			 n;
	enum db_status		 st;

	n = split_text(content, t->ops->text_limit, cuts, TURN_PARTS_MAX);
	if (n > TURN_PARTS_MAX) {
		log_warn("turn", "msg=\"answer cut short\" parts=%zu kept=%d",
		    n, TURN_PARTS_MAX);
		n = TURN_PARTS_MAX;
	}
	for (size_t i = 0; i < n; i++)
		texts[i] = arena_strndup(t->a, content + cuts[i].off,
		    cuts[i].len);
	t->n_parts = 0;
	if (n == 0)
		return JOB_DONE;
	if (!tx_begin(t))
		return fail(t, JOB_RETRY, "The database is unavailable.");
	st = outbox_record_reply(t->db, t->a, t->org_id, anchor,
	    t->c.thread_id, llm_call_id, sender, texts, (int)n, true,
	    &t->parts, &t->n_parts);
	if (st == DB_OK)
		st = chat_turn_answering(t->db, t->org_id, t->c.chat_id,
		    anchor);
	if (st != DB_OK)
		return fail(t, JOB_RETRY, "The answer could not be recorded "
		    "(%s).", db_status_str(st));
	return JOB_DONE;
}

/*
 * Text tx (the agent's or the default) as the reply to the segment:
 * recorded, the segment settled (answered by it, or with reason when
 * reason is not NULL: the handoff text), committed and sent.
 */
static enum job_result
say_reply(struct turn *t, const struct seg *s, enum chat_text tx,
    const char *overrides, const struct text_vars *v, const char *reason,
    bool covers)
{
	enum job_result	 jr;
	char		*text = chat_text_render(tx, overrides, v);
	int		 k = anchor_index(t, s);

	jr = record_parts(t, t->m[k].id, text, reason != NULL ?
	    HANDOFF_SENDER_TEXT : NULL, 0);
	free(text);
	if (jr != JOB_DONE)
		return jr;
	jr = settle(t, s, false, covers && t->n_parts > 0 ? t->parts[0].id : 0,
	    reason != NULL ? reason : "Not answered.");
	if (jr != JOB_DONE)
		return jr;
	if (!tx_commit(t))
		return fail(t, JOB_RETRY, "The database is unavailable.");
	release_db(t);
	return deliver(t);
}

/* A text that answers nothing (TEXT_SLOW, an outage's TEXT_HANDOFF). */
static enum job_result
say_text(struct turn *t, enum chat_text tx)
{
	struct outbox_new	 nw;
	struct outbox_send	 s;
	struct text_vars	 v;
	enum db_status		 st;
	char			*text;

	memset(&v, 0, sizeof(v));
	v.agent = t->has_agent ? t->agent.name : "";
	text = chat_text_render(tx, t->has_agent ? t->agent.texts : NULL, &v);
	if (!tx_begin(t)) {
		free(text);
		return fail(t, JOB_RETRY, "The database is unavailable.");
	}
	st = outbox_record_text(t->app, t->db, t->org_id, t->c.chat_id, text,
	    &nw);
	free(text);
	if (st != DB_OK || !tx_commit(t))
		return fail(t, JOB_RETRY, "The text could not be recorded.");
	release_db(t);
	memset(&s, 0, sizeof(s));
	s.app = t->app;
	s.a = t->a;
	s.org_id = t->org_id;
	s.message_id = nw.message_id;
	s.job_id = nw.job_id;
	s.ch = &t->ch;
	(void)outbox_send(&s);	/* its send job retries what failed */
	return JOB_DONE;
}

/* TEXT_UNSUPPORTED and the like: one text for the run, covering it. */
static enum job_result
do_text(struct turn *t, const struct seg *s, enum chat_text tx,
    const char *overrides)
{
	struct text_vars	 v;

	memset(&v, 0, sizeof(v));
	v.agent = t->has_agent ? t->agent.name : "";
	return say_reply(t, s, tx, overrides, &v, NULL, true);
}

static enum job_result
do_welcome(struct turn *t, const struct seg *s)
{
	struct text_vars	 v;
	char			*product = NULL;

	memset(&v, 0, sizeof(v));
	if (!tx_begin(t) || org_get_product_name(t->db, t->a, t->org_id,
	    &product) != DB_OK)
		return fail(t, JOB_RETRY, "The organisation could not be "
		    "read.");
	v.product = product;
	return say_reply(t, s, TEXT_WELCOME, NULL, &v, NULL, true);
}

static enum job_result
do_connect(struct turn *t, const struct seg *s)
{
	struct text_vars	 v;
	struct agent		 to, from;
	enum connect_outcome	 oc = CONNECT_BAD_FORMAT;
	enum db_status		 st;
	enum job_result		 jr;
	int64_t			 agent_id = 0, old_id = 0, tid;
	int			 minutes = 0;
	const char		*overrides = t->has_agent ? t->agent.texts :
				    NULL;
	const struct turn_msg	*m = &t->m[s->from];

	memset(&v, 0, sizeof(v));
	if (!tx_begin(t))
		return fail(t, JOB_RETRY, "The database is unavailable.");
	/* Guesses count per contact: its user id, else its phone. */
	st = connect_redeem(t->db, t->org_id, t->c.channel_id, t->c.chat_id,
	    contact_key(&m->from)[0] != '\0' ? contact_key(&m->from) :
	    m->sender, s->code, &oc, &agent_id, &old_id, &minutes);
	if (st != DB_OK)
		return fail(t, JOB_RETRY, "The connect code could not be "
		    "checked (%s).", db_status_str(st));
	log_info("turn", "msg=\"connect\" org=%" PRId64 " chat=%" PRId64
	    " outcome=%d agent=%" PRId64 " old=%" PRId64, t->org_id,
	    t->c.chat_id, (int)oc, agent_id, old_id);
	switch (oc) {
	case CONNECT_LINKED:
		audit_db(t->db, t->org_id, 0, "system", "connect.code_used",
		    "chat", t->c.chat_id, arena_printf(t->a, "agent %" PRId64,
		    agent_id));
		break;
	case CONNECT_LOCKED:
		v.minutes = minutes > 0 ? minutes : 1;
		return say_reply(t, s, TEXT_TOO_MANY, overrides, &v, NULL,
		    true);
	case CONNECT_INVALID:
		return say_reply(t, s, TEXT_INVALID_CODE, overrides, &v, NULL,
		    true);
	case CONNECT_BAD_FORMAT:
	default:
		return say_reply(t, s, TEXT_INVALID_FORMAT, overrides, &v,
		    NULL, true);
	}
	st = agent_get(t->db, t->a, t->org_id, agent_id, &to);
	if (st != DB_OK)
		return fail(t, JOB_RETRY, "The connected agent could not be "
		    "read (%s).", db_status_str(st));
	/* The new agent's thread starts now (the old one was closed). */
	st = chat_thread_for(t->db, t->org_id, t->c.chat_id, agent_id, 0,
	    &tid);
	if (st != DB_OK)
		return fail(t, JOB_RETRY, "The thread could not be opened "
		    "(%s).", db_status_str(st));
	v.agent = to.name;
	if (old_id != 0 && old_id != agent_id) {
		st = agent_get(t->db, t->a, t->org_id, old_id, &from);
		if (st != DB_OK && st != DB_NOT_FOUND)
			return fail(t, JOB_RETRY, "The database is "
			    "unavailable.");
		v.old_agent = st == DB_OK ? from.name : "";
		v.new_agent = to.name;
	}
	/* The messages after it belong to the new agent. */
	t->agent = to;
	t->has_agent = true;
	t->c.agent_id = agent_id;
	/* A command's reply sits in the thread of the message it answers
	 * (the new agent's history starts after it). */
	jr = say_reply(t, s, old_id != 0 && old_id != agent_id ?
	    TEXT_SWITCHED : TEXT_CONNECTED, to.texts, &v, NULL, true);
	t->c.thread_id = tid;
	return jr;
}

/* Closes the thread and opens a new one; the reply stays in the old. */
static enum job_result
do_reset(struct turn *t, const struct seg *s)
{
	struct text_vars	 v;
	enum db_status		 st;
	enum job_result		 jr;
	int64_t			 old_id, new_id;

	memset(&v, 0, sizeof(v));
	if (!tx_begin(t))
		return fail(t, JOB_RETRY, "The database is unavailable.");
	st = chat_thread_reset(t->db, t->org_id, t->c.chat_id, t->c.agent_id,
	    &old_id, &new_id);
	if (st != DB_OK)
		return fail(t, JOB_RETRY, "The thread could not be reset "
		    "(%s).", db_status_str(st));
	log_info("turn", "msg=\"thread reset\" org=%" PRId64 " chat=%" PRId64
	    " closed=%" PRId64 " opened=%" PRId64, t->org_id, t->c.chat_id,
	    old_id, new_id);
	/* A command's reply sits in the thread of the message it answers. */
	if (old_id != 0)
		t->c.thread_id = old_id;
	v.agent = t->agent.name;
	jr = say_reply(t, s, TEXT_RESET, t->agent.texts, &v, NULL, true);
	t->c.thread_id = new_id;
	return jr;
}

/* --- the model ------------------------------------------------------------ */

/*
 * A segment for the model: keywords, the session and the thread, the
 * context and the gateway's load (in the open transaction, committed
 * before the model is asked), the model with the watcher listening, then
 * what became of it.
 */
static enum job_result
do_answer(struct turn *t, const struct seg *s)
{
	struct gateway_req	 gr;
	struct gateway_result	 res;
	struct gateway_call	*call = NULL;
	enum handoff_outage	 what;
	enum job_result		 jr = JOB_DONE;
	enum db_status		 st;
	const char		*kw;
	cJSON			*messages = NULL;
	int64_t			*ids;
	int64_t			 anchor;
	int			 k = anchor_index(t, s), slot = -1, retry_s;
	bool			 expired = false, changed = false;
	bool			 returned = false;

	memset(&res, 0, sizeof(res));
	if (!t->has_agent)
		return do_welcome(t, s);
	anchor = t->m[k].id;
	if (!tx_begin(t))
		return fail(t, JOB_RETRY, "The database is unavailable.");
	/* Sessions: an idle chat's next turn starts a new thread. */
	st = chat_thread_expire(t->db, t->org_id, t->c.chat_id,
	    t->m[s->from].id, &expired);
	if (st == DB_OK && expired)
		log_info("turn", "msg=\"session timed out, new thread\" "
		    "org=%" PRId64 " chat=%" PRId64, t->org_id, t->c.chat_id);
	if (st == DB_OK)
		st = chat_thread_for(t->db, t->org_id, t->c.chat_id,
		    t->agent.id, 0, &t->c.thread_id);
	ids = arena_alloc(t->a, sizeof(*ids) * (size_t)(s->n + 1));
	for (int i = 0; i < s->n; i++)
		ids[i] = t->m[s->from + i].id;
	if (st == DB_OK)
		st = chat_thread_adopt(t->db, t->org_id, t->c.thread_id, ids,
		    s->n);
	if (st != DB_OK)
		return fail(t, JOB_RETRY, "The thread could not be opened "
		    "(%s).", db_status_str(st));

	/* An escalation keyword hands the chat to a person first. */
	if ((kw = seg_keyword(t, s)) != NULL) {
		struct text_vars	 v;

		st = handoff_request(t->db, t->org_id, t->c.chat_id,
		    HANDOFF_REASON_KEYWORD, &changed);
		if (st != DB_OK)
			return fail(t, JOB_RETRY, "The handoff could not be "
			    "recorded (%s).", db_status_str(st));
		memset(&v, 0, sizeof(v));
		v.agent = t->agent.name;
		if (changed)
			return say_reply(t, s, TEXT_HANDOFF, t->agent.texts, &v,
			    arena_printf(t->a, "Handed to a person: it said "
			    "\"%s\".", kw), false);
		return settle(t, s, false, 0, "Not answered by the AI: the "
		    "chat waits for a person.");
	}

	if ((messages = turn_context(t, s)) == NULL)
		return fail(t, JOB_RETRY, "The database is unavailable.");
	memset(&gr, 0, sizeof(gr));
	gr.pool = t->w->db;
	gr.key = t->app->key;
	gr.org_id = t->org_id;
	gr.agent_id = t->agent.id;
	gr.agent = &t->agent;
	gr.messages = messages;
	gr.contact_name = t->m[k].sender_name[0] != '\0' ?
	    t->m[k].sender_name : t->c.display_name;
	gr.source = "reply";
	gr.timeout_ms = t->app->cfg.llm_timeout_ms;
	gr.chat_id = t->c.chat_id;
	gr.channel_id = t->c.channel_id;
	gr.app = t->app;
	gr.cancelled = cancelled;
	gr.cancel_ctx = t;
	gr.defer_record = true;
	if (gateway_load(&gr, t->db, &call, &res) != GW_OK) {
		cJSON_Delete(messages);
		if (res.err == GW_UNAVAILABLE) {
			gateway_result_cleanup(&res);
			return fail(t, JOB_RETRY, "The database is "
			    "unavailable.");
		}
		goto done;	/* refused: recorded and settled below */
	}
	if (!tx_commit(t)) {
		gateway_call_free(call);
		cJSON_Delete(messages);
		gateway_result_cleanup(&res);
		return fail(t, JOB_RETRY, "The database is unavailable.");
	}
	release_db(t);

	/* Images and documents, now that the model is known. */
	if ((jr = turn_media_input(t, s, messages, gateway_call_vision(call)))
	    != JOB_DONE || t->no_vision_only) {
		struct text_vars	 v;

		gateway_call_free(call);
		cJSON_Delete(messages);
		gateway_result_cleanup(&res);
		if (jr != JOB_DONE)
			return jr;
		memset(&v, 0, sizeof(v));
		v.agent = t->agent.name;
		return say_reply(t, s, TEXT_NO_VISION, t->agent.texts, &v, NULL,
		    true);
	}
	working_on(t, k, false);
	if (!lease_ok(t)) {
		gateway_call_free(call);
		cJSON_Delete(messages);
		gateway_result_cleanup(&res);
		return fail(t, JOB_RETRY, "The job's lease was lost.");
	}
	slot = watch_add(t);
	(void)gateway_run(call, &res);
	watch_remove(slot);
	cJSON_Delete(messages);
	/* No "typing…" refresh may land after the answer. */
	working_quiet(t->working);
	if (watch_news(slot) || atomic_load(&t->cancel))
		t->news = true;

done:
	if (!tx_begin(t)) {
		jr = fail(t, JOB_RETRY, "The database is unavailable.");
		goto out;
	}
	switch (res.err) {
	case GW_OK:
		if (t->c.outage_s >= 0 && (st = handoff_outage_over(t->db,
		    t->org_id, t->c.chat_id, &returned)) != DB_OK)
			break;
		if (returned) {
			struct text_vars	 v;
			char			*note;

			memset(&v, 0, sizeof(v));
			v.agent = t->agent.name;
			note = chat_text_render(TEXT_RETURNED, t->agent.texts,
			    &v);
			st = chat_note_add(t->db, t->org_id, t->c.chat_id,
			    note);
			free(note);
			log_info("turn", "msg=\"the model answers again: chat "
			    "back with the AI\" org=%" PRId64 " chat=%" PRId64,
			    t->org_id, t->c.chat_id);
			if (st != DB_OK)
				break;
		}
		if ((st = gateway_record(t->db, &res)) != DB_OK)
			break;
		if (res.handoff) {
			/* handoff.request moved the chat: its text instead. */
			struct text_vars	 v;

			memset(&v, 0, sizeof(v));
			v.agent = t->agent.name;
			jr = say_reply(t, s, TEXT_HANDOFF, t->agent.texts, &v,
			    "Handed to a person: the agent asked for one.",
			    false);
			goto out;
		}
		if (res.content == NULL || res.content[0] == '\0') {
			log_info("turn", "msg=\"the model answered nothing\" "
			    "org=%" PRId64 " chat=%" PRId64, t->org_id,
			    t->c.chat_id);
			jr = settle(t, s, false, 0, "Not answered: the model "
			    "gave an empty answer.");
			goto out;
		}
		if (!lease_ok(t)) {
			jr = fail(t, JOB_RETRY, "The job's lease was lost.");
			goto out;
		}
		if ((jr = record_parts(t, anchor, turn_answer_text(t,
		    res.content), NULL, res.llm_call_id)) != JOB_DONE)
			goto out;
		if ((jr = settle(t, s, true, t->n_parts > 0 ?
		    t->parts[0].id : 0, "Not answered.")) != JOB_DONE)
			goto out;
		if (!tx_commit(t)) {
			jr = fail(t, JOB_RETRY, "The answer could not be "
			    "recorded.");
			goto out;
		}
		release_db(t);
		jr = deliver(t);
		/* The answer is out: ⏳ off, the next segment's own. */
		working_end(t->working);
		t->working = NULL;
		goto out;
	case GW_CANCELLED:
		/* A new message: the chat's due turn asks again, with it. */
		log_info("turn", "msg=\"model call cancelled: a new message\" "
		    "org=%" PRId64 " chat=%" PRId64, t->org_id, t->c.chat_id);
		t->news = true;
		st = gateway_record(t->db, &res);
		break;
	case GW_UPSTREAM:
	case GW_TIMEOUT:
		st = gateway_record(t->db, &res);
		if (st == DB_OK)
			st = handoff_outage(t->db, t->org_id, t->c.chat_id,
			    t->agent.id, t->agent.outage_window_s,
			    t->agent.outage_notice_s, res.retry_after_ms,
			    &what, &retry_s);
		if (st == DB_OK && !tx_commit(t))
			st = DB_UNAVAILABLE;
		if (st != DB_OK)
			break;
		log_info("turn", "msg=\"model failed, waiting it out\" "
		    "org=%" PRId64 " chat=%" PRId64 " retry_s=%d what=%d",
		    t->org_id, t->c.chat_id, retry_s, (int)what);
		working_end(t->working);
		t->working = NULL;
		if (what == HANDOFF_OUTAGE_NOTICE)
			jr = say_text(t, TEXT_SLOW);
		else if (what == HANDOFF_OUTAGE_HANDOFF)
			jr = say_text(t, TEXT_HANDOFF);
		goto out;
	case GW_UNAVAILABLE:
		jr = fail(t, JOB_RETRY, "The model call failed: %s", res.error);
		goto out;
	case GW_BAD_REQUEST:
	case GW_NOT_FOUND:
	default:
		st = gateway_record(t->db, &res);
		if (st == DB_OK)
			jr = settle(t, s, false, 0, arena_printf(t->a,
			    CHAT_TURN_FAILED_PREFIX ": the model refused it "
			    "(%s)", res.error));
		goto out;
	}
	if (st != DB_OK || !tx_commit(t))
		jr = fail(t, JOB_RETRY, "The database is unavailable.");
out:
	gateway_result_cleanup(&res);
	return jr;
}

/* The first escalation keyword one of the segment's messages says. */
static const char *
seg_keyword(const struct turn *t, const struct seg *s)
{
	const char *const	*kw = (const char *const *)
				    t->agent.escalation_keywords;

	for (int i = s->from; i < s->from + s->n; i++) {
		if (t->route[i] != ROUTE_ANSWER)
			continue;
		if (handoff_keyword_match(t->m[i].body, kw,
		    t->agent.n_escalation) ||
		    (t->m[i].transcript[0] != '\0' &&
		    handoff_keyword_match(t->m[i].transcript, kw,
		    t->agent.n_escalation)))
			return t->m[i].body[0] != '\0' ? t->m[i].body :
			    t->m[i].transcript;
	}
	return NULL;
}

/*
 * CONTEXT, in one place: what the model reads for a segment. CHAT: the
 * thread's history before the segment, then each of its messages (the
 * group's other members' too, as context); TASK: the segment's own
 * messages alone. One user message per WhatsApp message, as said
 * (turn_text), kept in t->user for turn_media_input; and the thread's
 * documents up to the segment (CHAT; TASK: the segment's own) in
 * t->docs. Needs the open transaction; NULL when the database fails.
 */
static cJSON *
turn_context(struct turn *t, const struct seg *s)
{
	cJSON	*messages = NULL, *m;
	bool	 chat = str_eq(t->agent.mode, "chat");

	t->user = arena_alloc(t->a, sizeof(*t->user) * (size_t)(t->n + 1));
	for (int i = 0; i < t->n; i++)
		t->user[i] = NULL;
	if (media_file_docs(t->db, t->a, t->org_id, t->c.thread_id,
	    chat ? 0 : t->m[s->from].id, t->m[s->from + s->n - 1].id,
	    TURN_DOCS_MAX, &t->docs, &t->n_docs) != DB_OK)
		return NULL;

	if (chat && t->agent.history_length > 0) {
		if (chat_thread_history(t->db, t->org_id, t->c.thread_id,
		    t->m[s->from].id, t->agent.history_length,
		    &messages) != DB_OK)
			return NULL;
	} else
		messages = cJSON_CreateArray();
	for (int i = s->from; i < s->from + s->n; i++) {
		if (!chat && t->route[i] != ROUTE_ANSWER)
			continue;
		m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "role", "user");
		cJSON_AddStringToObject(m, "content", turn_text(t, i));
		cJSON_AddItemToArray(messages, m);
		t->user[i] = m;
	}
	return messages;
}

/*
 * What message i said, for the model: its media named ("[image]", a
 * document's name…, so a photo without a caption is not an empty
 * string), then its words (the transcript of a voice note, or
 * CHAT_VOICE_UNREADABLE); in a group "Name: " first.
 */
static char *
turn_text(struct turn *t, int i)
{
	const struct turn_msg	*m = &t->m[i];
	struct buf		 b;
	const char		*name;
	char			*text, *out;

	buf_init(&b, 0);
	if (str_eq(t->c.chat_kind, "group")) {
		name = m->sender_name[0] != '\0' ? m->sender_name :
		    m->sender[0] != '\0' ? m->sender : "Someone";
		buf_printf(&b, "%s: ", name);
	}
	/* A voice note's words (or the note that it could not be
	 * transcribed) speak for it: the user said them. */
	chat_media_labels(&b, m->media, m->transcript[0] != '\0' ||
	    t->unreadable[i]);
	text = chat_user_text(t->a, m->body, m->transcript, t->unreadable[i]);
	buf_puts(&b, text);
	/* A media item with no words: just its label. */
	while (b.len > 0 && b.data[b.len - 1] == ' ')
		b.data[--b.len] = '\0';
	out = arena_strdup(t->a, buf_str(&b));
	buf_cleanup(&b);
	return out;
}

/* --- media for the model ------------------------------------------------ */

/*
 * MEDIA FOR THE MODEL, once the call is loaded (its model known) and no
 * connection is held (chat/media.h takes its own): the segment's
 * documents' text goes into the user message that carried each, the
 * thread's earlier documents into one system message before the history
 * (turn_docs_input), and the segment's images become image parts of
 * their user messages when the model has vision (turn_images_input).
 * Earlier turns' images are named in the history ("[image]"), never
 * sent again: the model answered them when they were new, and a thread
 * of photos would otherwise resend megabytes each turn
 * (docs/architecture.md). JOB_RETRY only when the database is lost.
 */
static enum job_result
turn_media_input(struct turn *t, const struct seg *s, cJSON *messages,
    bool vision)
{
	enum job_result	 jr;

	t->no_vision = t->no_vision_only = false;
	if ((jr = turn_docs_input(t, s, messages)) != JOB_DONE)
		return jr;
	return turn_images_input(t, s, vision);
}

/* Appends text to user message um (its text part when it has parts). */
static void
user_text_append(struct turn *t, cJSON *um, const char *text)
{
	cJSON	*c = cJSON_GetObjectItemCaseSensitive(um, "content");

	if (cJSON_IsArray(c))
		c = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(c, 0),
		    "text");
	if (!cJSON_IsString(c))
		return;
	cJSON_SetValuestring(c, arena_printf(t->a, "%s%s", c->valuestring,
	    text));
}

/* Adds an image part (url) to user message um, its text the first part. */
static void
user_image_add(cJSON *um, const char *url)
{
	cJSON	*c = cJSON_GetObjectItemCaseSensitive(um, "content");
	cJSON	*parts, *p;

	if (cJSON_IsString(c)) {
		parts = cJSON_CreateArray();
		p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "type", "text");
		cJSON_AddStringToObject(p, "text", c->valuestring);
		cJSON_AddItemToArray(parts, p);
		cJSON_ReplaceItemInObjectCaseSensitive(um, "content", parts);
		c = parts;
	}
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "type", "image_url");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(p, "image_url"),
	    "url", url);
	cJSON_AddItemToArray(c, p);
}

/* The index of message id in the segment, -1 when it is an earlier one. */
static int
seg_find(const struct turn *t, const struct seg *s, int64_t id)
{
	for (int i = s->from; i < s->from + s->n; i++)
		if (t->m[i].id == id)
			return i;
	return -1;
}

/* Whether an item of content type ct is a document (chat_media_labels'
 * sense: not an image, audio, video or contact card). */
static bool
is_document(const char *ct)
{
	return strncmp(ct, "image/", 6) != 0 && strncmp(ct, "audio/", 6) != 0 &&
	    strncmp(ct, "video/", 6) != 0 && strstr(ct, "vcard") == NULL;
}

/*
 * The documents (see turn_media_input), within the agent's
 * doc_context_chars: the newest first (the segment's are the newest), a
 * segment's document cut to what is left, and from the first earlier
 * one that does not fit whole, it and every older one are left out and
 * named. A segment's document that could not be had or read is named
 * with the reason, which the timeline shows too.
 */
static enum job_result
turn_docs_input(struct turn *t, const struct seg *s, cJSON *messages)
{
	struct buf	 earlier, left_out, one;
	int64_t		 left = t->agent.doc_context_chars;
	enum job_result	 jr = JOB_DONE;
	bool		 full = false;
	cJSON		*sys;

	buf_init(&earlier, 0);
	buf_init(&left_out, 0);
	buf_init(&one, 0);
	for (int k = 0; k < t->n_docs; k++) {
		const struct media_doc	*d = &t->docs[k];
		const char		*name = d->filename[0] != '\0' ?
					    d->filename : "document";
		int			 i = seg_find(t, s, d->message_id);

		if (!is_document(d->content_type))
			continue;
		buf_reset(&one);
		if (i >= 0) {
			if (t->user[i] == NULL)
				continue;
			if ((jr = turn_doc_text(t, d, left, &one, &left)) !=
			    JOB_DONE)
				goto out;
			user_text_append(t, t->user[i], buf_str(&one));
			continue;
		}
		if (!str_eq(d->status, "stored") ||
		    !str_eq(d->text_status, "ok"))
			continue;
		if (full || d->text_chars > left) {
			full = true;
			buf_printf(&left_out, "%s%s", left_out.len > 0 ? ", " :
			    "", name);
			continue;
		}
		if ((jr = turn_doc_text(t, d, left, &one, &left)) != JOB_DONE)
			goto out;
		buf_printf(&earlier, "\n\n[%s, sent %s]%s", name, d->sent_at,
		    buf_str(&one));
	}
	if (earlier.len > 0 || left_out.len > 0) {
		sys = cJSON_CreateObject();
		cJSON_AddStringToObject(sys, "role", "system");
		cJSON_AddStringToObject(sys, "content", arena_printf(t->a,
		    "%s%s%s%s%s", earlier.len > 0 ? "Documents the contact "
		    "sent earlier in this conversation, the newest first:" :
		    "", buf_str(&earlier), earlier.len > 0 &&
		    left_out.len > 0 ? "\n\n" : "", left_out.len > 0 ?
		    "Older documents of this conversation, no longer given "
		    "to you for length: " : "", buf_str(&left_out)));
		cJSON_InsertItemInArray(messages, 0, sys);
	}
out:
	buf_cleanup(&earlier);
	buf_cleanup(&left_out);
	buf_cleanup(&one);
	return jr;
}

/*
 * Document d for the model into b: its text (at most budget characters,
 * *left reduced by what was given) framed by its name, or why it cannot
 * be given. JOB_RETRY when the database is lost.
 */
static enum job_result
turn_doc_text(struct turn *t, const struct media_doc *d, int64_t budget,
    struct buf *b, int64_t *left)
{
	struct media_text	 mt;
	const char		*name = d->filename[0] != '\0' ? d->filename :
				    "document";
	const char		*why;
	size_t			 len, chars, off = 0;
	enum db_status		 st;

	if (str_eq(d->status, "expired")) {
		buf_printf(b, "\n[%s: no longer kept, the organisation's "
		    "retention deleted it]", name);
		return JOB_DONE;
	}
	if (!str_eq(d->status, "stored")) {
		buf_printf(b, "\n[%s could not be downloaded: %s]", name,
		    d->error[0] != '\0' ? d->error : "it is not available");
		return JOB_DONE;
	}
	if (!str_eq(d->text_status, "ok")) {
		buf_printf(b, "\n[%s could not be read: %s]", name,
		    d->text_error[0] != '\0' ? d->text_error : "no reason given");
		return JOB_DONE;
	}
	if (budget <= 0) {
		buf_printf(b, "\n[%s: its text is not given to you]", name);
		return JOB_DONE;
	}
	st = media_text_load(t->app, t->a, t->org_id, t->c.chat_id,
	    d->message_id, d->n, &mt, &why);
	if (st == DB_UNAVAILABLE)
		return fail(t, JOB_RETRY, "The database is unavailable.");
	if (st != DB_OK || mt.text == NULL) {
		buf_printf(b, "\n[%s could not be read: %s]", name, why != NULL ?
		    why : "its text is not available");
		return JOB_DONE;
	}
	len = strlen(mt.text);
	chars = utf8_count(mt.text, len);
	if ((int64_t)chars > budget) {
		/* The byte offset of character `budget`. */
		for (int64_t k = 0; k < budget && off < len; k++)
			do
				off++;
			while (off < len && ((unsigned char)mt.text[off] &
			    0xC0) == 0x80);
		len = off;
	}
	buf_printf(b, "\n[%s: its text follows]\n", name);
	buf_append(b, mt.text, len);
	if (len > 0 && mt.text[len - 1] != '\n')
		buf_puts(b, "\n");
	if (len < strlen(mt.text))
		buf_printf(b, "[%s: the rest is left out, %zu more characters]"
		    "\n", name, chars - (size_t)budget);
	else if (mt.truncated)
		buf_printf(b, "[%s: the text was cut when it was read: the "
		    "document is longer]\n", name);
	buf_printf(b, "[end of %s]", name);
	*left -= (int64_t)(chars < (size_t)budget ? chars : (size_t)budget);
	return JOB_DONE;
}

/*
 * The segment's images (photos, stickers) as image parts of their user
 * messages for a vision model: the vision image (made once on download,
 * or now and kept) as a data: URL, or with PARLEY_VISION_URLS=signed a
 * signed Parley URL valid VISION_URL_TTL_S, at most TURN_IMAGES_MAX. An
 * image that cannot be shown is named with the reason. Without vision,
 * the messages say the images were not shown, and the user hears
 * TEXT_NO_VISION: before the answer, or instead of asking
 * (t->no_vision_only) when the messages for the model hold nothing but
 * images.
 */
static enum job_result
turn_images_input(struct turn *t, const struct seg *s, bool vision)
{
	bool	 images = false, words = false;
	int	 shown = 0;

	for (int i = s->from; i < s->from + s->n; i++) {
		cJSON		*media;
		const cJSON	*it;
		bool		 answer = t->route[i] == ROUTE_ANSWER;
		bool		 mine = false;
		int		 n = 0;

		if (t->user[i] == NULL)
			continue;
		if (answer && (t->m[i].body[0] != '\0' ||
		    t->m[i].transcript[0] != '\0' || t->unreadable[i]))
			words = true;
		media = json_parse_str(t->m[i].media, NULL);
		cJSON_ArrayForEach(it, media) {
			const char	*ct = cJSON_GetStringValue(
					    cJSON_GetObjectItemCaseSensitive(it,
					    "contentType"));
			const char	*why = NULL;
			char		*url = NULL;
			struct media_blob b;
			enum db_status	 st;
			int		 item = n++;

			if (!chat_media_is_image(ct)) {
				words = words || (answer && ct != NULL);
				continue;
			}
			mine = true;
			if (!vision)
				continue;
			if (shown == TURN_IMAGES_MAX) {
				user_text_append(t, t->user[i], arena_printf(
				    t->a, "\n[an image was not shown to you: "
				    "at most %d images are shown at once]",
				    TURN_IMAGES_MAX));
				continue;
			}
			if (t->app->cfg.vision_signed_urls) {
				st = media_vision_load(t->app, t->a, t->org_id,
				    t->c.chat_id, t->m[i].id, item, &b, &why);
				if (st == DB_OK)
					url = media_signed_url(t->app, t->a,
					    t->org_id, t->m[i].id, item,
					    "vision", VISION_URL_TTL_S);
			} else
				st = media_vision_data_url(t->app, t->a,
				    t->org_id, t->c.chat_id, t->m[i].id, item,
				    &url, &why);
			if (st == DB_UNAVAILABLE) {
				cJSON_Delete(media);
				return fail(t, JOB_RETRY, "The database is "
				    "unavailable.");
			}
			if (url != NULL) {
				user_image_add(t->user[i], url);
				shown++;
			} else
				user_text_append(t, t->user[i], arena_printf(
				    t->a, "\n[an image could not be shown to "
				    "you: %s]", why != NULL ? why :
				    "it is not available"));
		}
		cJSON_Delete(media);
		if (mine && !vision)
			user_text_append(t, t->user[i], "\n[the image was not "
			    "shown to you: this model cannot look at images, "
			    "and the contact has been told so]");
		images = images || (mine && answer);
	}
	if (images && !vision) {
		t->no_vision = true;
		t->no_vision_only = !words;
	}
	return JOB_DONE;
}

/* The model's answer as sent: after TEXT_NO_VISION when it applies. */
static const char *
turn_answer_text(struct turn *t, const char *content)
{
	struct text_vars	 v;
	char			*nv;
	const char		*out;

	if (!t->no_vision)
		return content;
	memset(&v, 0, sizeof(v));
	v.agent = t->agent.name;
	nv = chat_text_render(TEXT_NO_VISION, t->agent.texts, &v);
	out = arena_printf(t->a, "%s\n\n%s", nv, content);
	free(nv);
	return out;
}

/* The gateway's cancel check: restart mode and a new message. */
static bool
cancelled(void *ctx)
{
	struct turn	*t = ctx;

	return atomic_load(&t->cancel);
}

/* --- sending ------------------------------------------------------------- */

/* Sends the parts in order (the first may be taken already). */
static enum job_result
deliver(struct turn *t)
{
	bool		 earlier_failed = false;
	enum job_result	 jr;
	enum db_status	 st;

	for (int i = 0; i < t->n_parts; i++) {
		struct out_part	*p = &t->parts[i];

		if (!str_eq(p->status, "queued") &&
		    !str_eq(p->status, "sending"))
			continue;	/* sent, delivered, read or failed */
		if (earlier_failed && str_eq(p->status, "queued")) {
			if (!tx_begin(t))
				return fail(t, JOB_RETRY, "The database is "
				    "unavailable.");
			st = outbox_fail(t->db, t->org_id, p->id, NULL,
			    OUTBOX_EARLIER_FAILED_TEXT);
			if (st != DB_OK && st != DB_NOT_FOUND)
				return fail(t, JOB_RETRY, "The database is "
				    "unavailable.");
			if (!tx_commit(t))
				return fail(t, JOB_RETRY, "The database is "
				    "unavailable.");
			p->status = "failed";
			continue;
		}
		if ((jr = send_part(t, p, &earlier_failed)) != JOB_DONE)
			return jr;
	}
	release_db(t);
	return JOB_DONE;
}

/*
 * One part through the outbox's send sequence (chat/outbox.h), gated on
 * the chat's handoff status, with no connection held. A part recorded
 * taken just now goes straight to the provider; one found 'sending' in a
 * later run was interrupted: the outbox marks it unknown (recover).
 */
static enum job_result
send_part(struct turn *t, struct out_part *p, bool *failed)
{
	struct outbox_send	 s;
	enum outbox_result	 r;

	if (!tx_commit(t))
		return fail(t, JOB_RETRY, "The database is unavailable.");
	release_db(t);
	if (!lease_ok(t))
		return fail(t, JOB_RETRY, "The job's lease was lost.");
	memset(&s, 0, sizeof(s));
	s.app = t->app;
	s.a = t->a;
	s.org_id = t->org_id;
	s.message_id = p->id;
	s.gated = true;
	s.recover = true;
	s.ch = &t->ch;
	if (p->taken) {
		r = outbox_send_taken(&s, t->c.address,
		    str_eq(t->c.chat_kind, "group"), p->body);
		p->taken = false;	/* the provider was called */
	} else
		r = outbox_send(&s);
	switch (r) {
	case OUTBOX_SENT:
		p->status = "sent";
		return JOB_DONE;
	case OUTBOX_LATER:
		p->status = "queued";
		return fail(t, JOB_RETRY, "The provider asked to try later "
		    "(HTTP %d): %s", s.o.http_status, s.o.error_text);
	case OUTBOX_REFUSED:
		log_info("turn", "msg=\"provider refused a part\" "
		    "org=%" PRId64 " part=%" PRId64 " http=%d code=\"%s\"",
		    t->org_id, p->id, s.o.http_status, s.o.error_code);
		p->status = "failed";
		*failed = true;
		return JOB_DONE;
	case OUTBOX_DROPPED:
	case OUTBOX_UNKNOWN:
		p->status = "failed";
		return JOB_DONE;
	case OUTBOX_HELD:
		/* The 24-hour window is closed: the hold sends it
		 * (chat/window.h). */
		p->status = "held";
		return JOB_DONE;
	case OUTBOX_GONE:
		return fail(t, JOB_RETRY, "The part is being sent by another "
		    "worker.");
	case OUTBOX_UNAVAILABLE:
	default:
		return fail(t, JOB_RETRY, "The database is unavailable.");
	}
}

/* --- the other jobs ---------------------------------------------------------- */

void
turn_job_dead(struct worker_ctx *w, const struct job *job, const char *why)
{
	struct chat_turn	 c;
	struct turn_msg		*m;
	struct arena		*a;
	struct db		*db;
	const char		*reason = why != NULL && why[0] != '\0' ? why :
				    "no reason given";
	int64_t			 chat_id = payload_i64(job->payload, "chat_id");
	enum db_status		 st;
	int			 n, failed = 0;

	if (chat_id == 0 || (db = db_acquire(w->db)) == NULL)
		return;
	a = arena_new();
	st = chat_turn_load(db, a, job->org_id, chat_id, job->id, 1, &c, &m,
	    &n);
	if (st == DB_OK && c.held) {
		if (c.unsent)
			st = outbox_give_up(db, job->org_id, c.reply_to,
			    arena_printf(a, "Not sent: the reply gave up (%s)",
			    reason), &failed);
		if (st == DB_OK)
			st = chat_turn_settle(db, job->org_id, chat_id, NULL,
			    -1, 0, arena_printf(a, CHAT_TURN_FAILED_PREFIX
			    " (%s). Answer again from the conversation or the "
			    "Jobs page.", reason));
	}
	if (st != DB_OK && st != DB_NOT_FOUND)
		log_warn("turn", "msg=\"dead turn's messages not marked\" "
		    "org=%" PRId64 " chat=%" PRId64 " status=%s", job->org_id,
		    chat_id, db_status_str(st));
	else
		log_info("turn", "msg=\"turn dead\" org=%" PRId64
		    " chat=%" PRId64 " parts_failed=%d", job->org_id, chat_id,
		    failed);
	arena_free(a);
	db_release(db);
}

/* The acknowledgment of a message that arrived while the model worked. */
enum job_result
turn_ack_run(struct worker_ctx *w, const struct job *job, char *err,
    size_t errlen)
{
	struct turn	 t;
	enum job_result	 jr;

	if (!turn_init(&t, w, job, err, errlen)) {
		jr = JOB_FAIL;
		goto out;
	}
	if (!tx_begin(&t) || chat_turn_load(t.db, t.a, t.org_id,
	    t.c.chat_id, 0, 1, &t.c, &t.m, &t.n) != DB_OK ||
	    (t.c.agent_id != 0 && agent_get(t.db, t.a, t.org_id,
	    t.c.agent_id, &t.agent) != DB_OK)) {
		jr = fail(&t, JOB_RETRY, "The database is unavailable.");
		goto out;
	}
	t.has_agent = t.c.agent_id != 0;
	if (handoff_answerer(t.c.status, t.c.handoff_reason,
	    t.c.assigned_user_id, t.c.owner) != HANDOFF_AI ||
	    (t.ops = channel_ops_for(
	    t.c.channel_kind)) == NULL || ensure_channel(&t) != DB_OK) {
		jr = JOB_DONE;	/* not ours to answer now, or cannot send */
		goto out;
	}
	jr = say_text(&t, TEXT_BUSY);
out:
	release_db(&t);
	outbox_channel_close(&t.ch);
	arena_free(t.a);
	return jr;
}

enum job_result
turn_legacy_reply_run(struct worker_ctx *w, const struct job *job, char *err,
    size_t errlen)
{
	struct db	*db;
	int64_t		 mid = payload_i64(job->payload, "message_id");
	enum db_status	 st;

	if (mid == 0)
		return JOB_DONE;
	if ((db = db_acquire(w->db)) == NULL) {
		snprintf(err, errlen, "The database is unavailable.");
		return JOB_RETRY;
	}
	st = chat_turn_due_for_message(db, job->org_id, mid);
	db_release(db);
	if (st != DB_OK && st != DB_NOT_FOUND) {
		snprintf(err, errlen, "The database is unavailable.");
		return JOB_RETRY;
	}
	w->again = true;
	return JOB_DONE;
}

/* --- the watcher ----------------------------------------------------------- */

/*
 * One slot per worker: the chat its turn is asking the model about.
 * Guarded by watch.mu; news and cancel are the turn's atomics.
 */
struct watch_slot {
	struct turn	*t;		/* NULL: free */
	int64_t		 chat_id;
	int64_t		 org_id;
	bool		 news;
	bool		 acked;
};

static struct {
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	pthread_t		 thread;
	bool			 running;
	bool			 stop;
	struct watch_slot	*slots;
	int			 n_slots;
	int			 n_active;
	struct app		*app;
} watch = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void	*watch_main(void *);
static void	 watch_tick(void);

static int
watch_add(struct turn *t)
{
	int	 i = t->w->slot;

	pthread_mutex_lock(&watch.mu);
	if (watch.slots == NULL || i < 0 || i >= watch.n_slots) {
		pthread_mutex_unlock(&watch.mu);
		return -1;
	}
	watch.slots[i].t = t;
	watch.slots[i].chat_id = t->c.chat_id;
	watch.slots[i].org_id = t->org_id;
	watch.slots[i].news = false;
	watch.slots[i].acked = false;
	watch.n_active++;
	pthread_cond_signal(&watch.cv);
	pthread_mutex_unlock(&watch.mu);
	return i;
}

static void
watch_remove(int i)
{
	if (i < 0)
		return;
	pthread_mutex_lock(&watch.mu);
	if (watch.slots != NULL && watch.slots[i].t != NULL) {
		watch.slots[i].t = NULL;
		watch.n_active--;
	}
	pthread_mutex_unlock(&watch.mu);
}

/* Whether slot i saw a new message (read after watch_remove). */
static bool
watch_news(int i)
{
	bool	 news;

	if (i < 0)
		return false;
	pthread_mutex_lock(&watch.mu);
	news = watch.slots != NULL && watch.slots[i].news;
	pthread_mutex_unlock(&watch.mu);
	return news;
}

/*
 * One statement for every running turn of the process: which chats are
 * due again (a message arrived after the claim). Restart-mode turns are
 * cancelled; follow-up ones acknowledged (busy_ack) once.
 */
static void
watch_tick(void)
{
	struct db_res	 res = { 0 };
	struct buf	 b;
	struct db	*db;
	int64_t		*ids, *ack_org, *ack_chat;
	int		 n = 0, n_ack = 0;

	pthread_mutex_lock(&watch.mu);
	ids = xcalloc((size_t)watch.n_slots + 1, sizeof(*ids));
	ack_org = xcalloc((size_t)watch.n_slots + 1, sizeof(*ack_org));
	ack_chat = xcalloc((size_t)watch.n_slots + 1, sizeof(*ack_chat));
	for (int i = 0; i < watch.n_slots; i++)
		if (watch.slots[i].t != NULL && !watch.slots[i].news)
			ids[n++] = watch.slots[i].chat_id;
	pthread_mutex_unlock(&watch.mu);
	if (n == 0 || (db = db_acquire(watch.app->db)) == NULL) {
		free(ids);
		free(ack_org);
		free(ack_chat);
		return;
	}
	buf_init(&b, 0);
	db_array_i64(&b, ids, n);
	/* Across organisations on purpose: the process's own turns. */
	if (db_query(db, &res,
	    "SELECT id FROM chats"
	    " WHERE id = ANY ($1::bigint[]) AND turn_due_at IS NOT NULL",
	    DB_TEXT(buf_str(&b)), DB_END) == DB_OK) {
		pthread_mutex_lock(&watch.mu);
		for (int r = 0; r < res.n_rows; r++) {
			int64_t	 chat = db_res_i64(&res, r, 0);

			for (int i = 0; i < watch.n_slots; i++) {
				struct watch_slot	*s = &watch.slots[i];

				if (s->t == NULL || s->chat_id != chat)
					continue;
				s->news = true;
				if (str_eq(s->t->agent.busy_mode,
				    AGENT_BUSY_RESTART))
					atomic_store(&s->t->cancel, true);
				if (s->t->agent.busy_ack && !s->acked) {
					s->acked = true;
					ack_org[n_ack] = s->org_id;
					ack_chat[n_ack++] = s->chat_id;
				}
			}
		}
		pthread_mutex_unlock(&watch.mu);
	}
	db_res_clear(&res);
	/* The acknowledgment: a job, so the provider call waits for nobody. */
	for (int i = 0; i < n_ack; i++) {
		char	 payload[64];
		int64_t	 id;

		snprintf(payload, sizeof(payload), "{\"chat_id\":%" PRId64 "}",
		    ack_chat[i]);
		if (queue_enqueue(db, ack_org[i], QUEUE_KIND_ACK, payload, 3,
		    &id) != DB_OK)
			log_warn("turn", "msg=\"acknowledgment not queued\" "
			    "chat=%" PRId64, ack_chat[i]);
	}
	buf_cleanup(&b);
	db_release(db);
	free(ids);
	free(ack_org);
	free(ack_chat);
}

static void *
watch_main(void *arg)
{
	struct timespec	 until;

	(void)arg;
	pthread_mutex_lock(&watch.mu);
	while (!watch.stop) {
		if (watch.n_active == 0) {
			pthread_cond_wait(&watch.cv, &watch.mu);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)TURN_WATCH_MS * 1000000;
		while (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		(void)pthread_cond_timedwait(&watch.cv, &watch.mu, &until);
		if (watch.stop)
			break;
		pthread_mutex_unlock(&watch.mu);
		watch_tick();
		pthread_mutex_lock(&watch.mu);
	}
	pthread_mutex_unlock(&watch.mu);
	return NULL;
}

bool
turn_watch_start(struct app *app, int n_workers)
{
	pthread_mutex_lock(&watch.mu);
	watch.app = app;
	watch.n_slots = n_workers;
	watch.slots = xcalloc((size_t)n_workers + 1, sizeof(*watch.slots));
	watch.n_active = 0;
	watch.stop = false;
	watch.running = pthread_create(&watch.thread, NULL, watch_main,
	    NULL) == 0;
	pthread_mutex_unlock(&watch.mu);
	return watch.running;
}

void
turn_watch_stop(void)
{
	pthread_mutex_lock(&watch.mu);
	watch.stop = true;
	pthread_cond_broadcast(&watch.cv);
	pthread_mutex_unlock(&watch.mu);
	if (watch.running)
		pthread_join(watch.thread, NULL);
	watch.running = false;
	pthread_mutex_lock(&watch.mu);
	free(watch.slots);
	watch.slots = NULL;
	watch.n_slots = 0;
	pthread_mutex_unlock(&watch.mu);
}
