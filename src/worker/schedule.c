/*
 * schedule: the run, release and sync jobs and the ticker (see
 * schedule.h).
 *
 * The ticker's state is file-static because there is one pool per
 * process and struct app stays read-only after start (as app/jobs.c's
 * handoff sweep).
 */
#include "worker/schedule.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "channels/channel.h"
#include "channels/split.h"
#include "chat/chats.h"
#include "chat/outbox.h"
#include "chat/templates.h"
#include "chat/window.h"
#include "db/db.h"
#include "llm/gateway.h"
#include "model/agent.h"
#include "model/schedule.h"
#include "model/template.h"
#include "util/arena.h"
#include "util/context.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"
#include "worker/queue.h"

#define DUE_MAX			20	/* schedules fired per tick */
#define TARGETS_MAX		500	/* chats one run reaches */
#define PARTS_MAX		16	/* parts of one result */
#define SWEEP_EVERY_MS		10000
#define SYNC_EVERY_MS		60000
#define SYNC_CLAIM_MAX		20

static int64_t	 payload_id(const struct job *, const char *);
static enum job_result targets(struct worker_ctx *, struct db *,
		    struct arena *, const struct job *,
		    const struct schedule *, int64_t **, int *, char *,
		    size_t);
static void	 finish(struct worker_ctx *, int64_t, int64_t, bool,
		    const char *);
static void	 give_up_rows(struct worker_ctx *, int64_t, int64_t,
		    const char *);
static void	*ticker_main(void *);
static void	 sweep(struct app *);
static void	 sync_due(struct app *);

static struct {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	pthread_t	 thread;
	bool		 running;
	bool		 stop;
	struct app	*app;
} tick = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* The payload's positive integer member name, 0 when it has none. */
static int64_t
payload_id(const struct job *job, const char *name)
{
	cJSON		*j = json_parse_str(job->payload, NULL);
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(j, name);
	int64_t		 id = 0;

	if (!json_int64(v, &id) || id < 1)
		id = 0;
	cJSON_Delete(j);
	return id;
}

/* --- the run job --------------------------------------------------------- */

/* The run's target chats; JOB_DONE with *n 0 and a note in why when
 * there are none. */
static enum job_result
targets(struct worker_ctx *w, struct db *db, struct arena *a,
    const struct job *job, const struct schedule *s, int64_t **ids, int *n,
    char *why, size_t whylen)
{
	enum db_status	 st = DB_OK;
	int64_t		 chat_id = s->recipient_chat_id;

	(void)w;
	*ids = NULL;
	*n = 0;
	why[0] = '\0';
	if (str_eq(s->target, "agent_chats")) {
		st = chat_list_for_agent(db, a, job->org_id, s->agent_id,
		    TARGETS_MAX, ids, n);
		if (st == DB_OK && *n == 0)
			snprintf(why, whylen, "No chat is linked to the agent "
			    "yet.");
	} else if (str_eq(s->target, "chats")) {
		*ids = arena_alloc(a, sizeof(**ids) * (size_t)(s->n_chat_ids +
		    1));
		for (int i = 0; i < s->n_chat_ids; i++) {
			struct chat_ref	 ref;

			st = chat_get_ref(db, a, job->org_id, s->chat_ids[i],
			    &ref);
			if (st == DB_NOT_FOUND) {
				st = DB_OK;
				continue;
			}
			if (st != DB_OK)
				break;
			(*ids)[(*n)++] = ref.id;
		}
		if (st == DB_OK && *n == 0)
			snprintf(why, whylen, "None of the chosen chats "
			    "exists any more.");
	} else {
		/* The recipient: resolved once, then kept. */
		if (chat_id == 0 && s->recipient[0] == '\0') {
			st = chat_first_sender(db, job->org_id, s->agent_id,
			    &chat_id);
			if (st == DB_NOT_FOUND) {
				snprintf(why, whylen, "No recipient yet: the "
				    "heartbeat goes to the first person who "
				    "writes to this agent.");
				return JOB_DONE;
			}
		} else if (chat_id == 0)
			st = chat_ensure(db, job->org_id,
			    s->recipient_channel_id, s->recipient,
			    s->recipient[0] != '+', &chat_id);
		if (st == DB_OK && s->recipient_chat_id != chat_id)
			st = schedule_set_recipient_chat(db, job->org_id, s->id,
			    chat_id);
		if (st == DB_NOT_FOUND) {
			snprintf(why, whylen, "The recipient's channel is "
			    "gone.");
			return JOB_DONE;
		}
		if (st == DB_OK) {
			*ids = arena_alloc(a, sizeof(**ids));
			(*ids)[0] = chat_id;
			*n = 1;
		}
	}
	return st == DB_OK ? JOB_DONE : JOB_RETRY;
}

/* Records the run's end (best effort: a failure is logged). */
static void
finish(struct worker_ctx *w, int64_t org_id, int64_t run_id, bool ok,
    const char *error)
{
	struct db	*db;

	if ((db = db_acquire(w->db)) == NULL ||
	    schedule_run_finish(db, org_id, run_id, ok, error) != DB_OK)
		log_warn("schedule", "msg=\"run end not recorded\" org=%" PRId64
		    " run=%" PRId64, org_id, run_id);
	if (db != NULL)
		db_release(db);
}

enum job_result
schedule_job_run(struct worker_ctx *w, const struct job *job, char *err,
    size_t errlen)
{
	const struct app	*app = w->app;
	struct schedule_job	 sj;
	struct agent		 agent;
	struct gateway_req	 gr;
	struct gateway_result	 res;
	struct arena		*a;
	struct db		*db;
	enum job_result		 jr = JOB_DONE;
	enum db_status		 st;
	enum outbox_result	 r;
	int64_t			 run_id = payload_id(job, "run_id");
	int64_t			*chats = NULL, *rows = NULL;
	int			 n_chats = 0, n_rows = 0;
	char			 note[300];
	const char		*result;
	int64_t			 llm_call_id;
	cJSON			*messages, *m;

	if (run_id == 0) {
		snprintf(err, errlen, "The payload names no run_id.");
		return JOB_FAIL;
	}
	a = arena_new();
	memset(&res, 0, sizeof(res));
	if ((db = db_acquire(w->db)) == NULL) {
		snprintf(err, errlen, "The database is unavailable.");
		jr = JOB_RETRY;
		goto out;
	}
	st = schedule_run_start(db, a, job->org_id, run_id, &sj);
	if (st == DB_NOT_FOUND || st == DB_CONFLICT)
		goto release;	/* gone, or finished already */
	if (st == DB_OK)
		st = agent_get(db, a, job->org_id, sj.s.agent_id, &agent);
	if (st == DB_NOT_FOUND) {
		db_release(db);
		db = NULL;
		finish(w, job->org_id, run_id, false, "The agent is gone.");
		goto out;
	}
	if (st != DB_OK)
		goto unavailable;
	if (sj.s.deleted && sj.result == NULL) {
		/* Deleted before its turn; one with a result has recorded
		 * deliveries, which still go (no message left behind). */
		db_release(db);
		db = NULL;
		finish(w, job->org_id, run_id, false, "The schedule was "
		    "deleted before this run.");
		goto out;
	}
	if ((jr = targets(w, db, a, job, &sj.s, &chats, &n_chats, note,
	    sizeof(note))) != JOB_DONE)
		goto unavailable;
	if (n_chats == 0) {
		db_release(db);
		db = NULL;
		log_info("schedule", "msg=\"run without targets\" org=%" PRId64
		    " run=%" PRId64 " why=\"%s\"", job->org_id, run_id, note);
		finish(w, job->org_id, run_id, true, note);
		goto out;
	}

	result = sj.result;
	llm_call_id = sj.llm_call_id;
	if (result == NULL) {
		/* The agent's turn, no connection held while it thinks. */
		struct chat_ref	 one;

		memset(&one, 0, sizeof(one));
		if (n_chats == 1 && chat_get_ref(db, a, job->org_id, chats[0],
		    &one) != DB_OK)
			goto unavailable;
		db_release(db);
		db = NULL;
		if (!worker_lease_ok(w)) {
			snprintf(err, errlen, "The job's lease was lost.");
			jr = JOB_RETRY;
			goto out;
		}
		messages = cJSON_CreateArray();
		m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "role", "user");
		cJSON_AddStringToObject(m, "content", sj.s.prompt);
		cJSON_AddItemToArray(messages, m);
		memset(&gr, 0, sizeof(gr));
		gr.pool = w->db;
		gr.key = app->key;
		gr.org_id = job->org_id;
		gr.agent_id = sj.s.agent_id;
		gr.agent = &agent;
		gr.messages = messages;
		gr.contact_name = n_chats == 1 ? one.display_name : "";
		gr.source = "schedule";
		gr.timeout_ms = app->cfg.llm_timeout_ms;
		gr.chat_id = n_chats == 1 ? one.id : 0;
		gr.channel_id = n_chats == 1 ? one.channel_id : 0;
		gr.app = app;
		gateway_complete(&gr, &res);
		cJSON_Delete(messages);
		switch (res.err) {
		case GW_OK:
			break;
		case GW_UPSTREAM:
		case GW_TIMEOUT:
		case GW_UNAVAILABLE:
			snprintf(err, errlen, "The model call failed: %s",
			    res.error);
			jr = JOB_RETRY;
			goto out;
		default:
			snprintf(err, errlen, "The model call was refused: %s",
			    res.error);
			jr = JOB_FAIL;
			goto out;
		}
		if (res.content == NULL || res.content[0] == '\0') {
			finish(w, job->org_id, run_id, true, "The agent "
			    "answered nothing; nothing was sent.");
			goto out;
		}
		result = res.content;
		llm_call_id = res.llm_call_id;
		if ((db = db_acquire(w->db)) == NULL ||
		    schedule_run_result(db, job->org_id, run_id, result,
		    llm_call_id, n_chats) != DB_OK)
			goto unavailable;
	}

	/* The deliveries: recorded per target, before any send. */
	for (int i = 0; i < n_chats; i++) {
		struct chat_ref			 ref;
		const struct channel_ops	*ops;
		struct split_part		 cuts[PARTS_MAX];
		const char			*texts[PARTS_MAX];
		size_t				 k;

		st = chat_get_ref(db, a, job->org_id, chats[i], &ref);
		if (st == DB_NOT_FOUND)
			continue;
		if (st != DB_OK)
			goto unavailable;
		if ((ops = channel_ops_for(ref.channel_kind)) == NULL)
			continue;
		k = split_text(result, ops->text_limit, cuts, PARTS_MAX);
		if (k > PARTS_MAX)
			k = PARTS_MAX;
		for (size_t j = 0; j < k; j++)
			texts[j] = arena_strndup(a, result + cuts[j].off,
			    cuts[j].len);
		if (k > 0 && outbox_record_schedule(db, job->org_id, ref.id,
		    run_id, llm_call_id, texts, (int)k) != DB_OK)
			goto unavailable;
	}
	if (outbox_schedule_pending(db, a, job->org_id, run_id, &rows,
	    &n_rows) != DB_OK)
		goto unavailable;
	db_release(db);
	db = NULL;

	/* Sent in order; a closed window holds them (outbox_send). */
	for (int i = 0; i < n_rows; i++) {
		struct outbox_send	 s;

		if (!worker_lease_ok(w)) {
			snprintf(err, errlen, "The job's lease was lost.");
			jr = JOB_RETRY;
			goto out;
		}
		memset(&s, 0, sizeof(s));
		s.app = app;
		s.a = a;
		s.org_id = job->org_id;
		s.message_id = rows[i];
		s.recover = true;
		r = outbox_send(&s);
		if (r == OUTBOX_LATER) {
			snprintf(err, errlen, "The provider asked to try later "
			    "(HTTP %d): %s", s.o.http_status, s.o.error_text);
			jr = JOB_RETRY;
			goto out;
		}
		if (r == OUTBOX_UNAVAILABLE) {
			snprintf(err, errlen, "The database is unavailable.");
			jr = JOB_RETRY;
			goto out;
		}
	}
	log_info("schedule", "msg=\"run delivered\" org=%" PRId64 " run=%" PRId64
	    " targets=%d rows=%d", job->org_id, run_id, n_chats, n_rows);
	finish(w, job->org_id, run_id, true, "");
	goto out;
unavailable:
	snprintf(err, errlen, "The database is unavailable.");
	jr = JOB_RETRY;
release:
	if (db != NULL)
		db_release(db);
	db = NULL;
out:
	if (db != NULL)
		db_release(db);
	gateway_result_cleanup(&res);
	arena_free(a);
	return jr;
}

void
schedule_job_dead(struct worker_ctx *w, const struct job *job, const char *why)
{
	int64_t	 run_id = payload_id(job, "run_id");
	char	 text[600];

	if (run_id == 0)
		return;
	snprintf(text, sizeof(text), "The run gave up: %s", why != NULL &&
	    why[0] != '\0' ? why : "no reason given");
	finish(w, job->org_id, run_id, false, text);
	give_up_rows(w, job->org_id, run_id, text);
}

/*
 * A dead run's deliveries still queued have no sender left: they fail
 * with the run's reason (one found sending: "delivery unknown"), so none
 * is left behind unseen. Best effort: a failure is logged.
 */
static void
give_up_rows(struct worker_ctx *w, int64_t org_id, int64_t run_id,
    const char *why)
{
	struct arena	*a = arena_new();
	struct db	*db;
	int64_t		*rows = NULL;
	int		 n = 0;
	enum db_status	 st = DB_UNAVAILABLE;

	if ((db = db_acquire(w->db)) != NULL &&
	    (st = outbox_schedule_pending(db, a, org_id, run_id, &rows, &n)) ==
	    DB_OK)
		for (int i = 0; i < n && (st == DB_OK || st == DB_NOT_FOUND);
		    i++)
			st = outbox_give_up_one(db, org_id, rows[i], why);
	if (st != DB_OK && st != DB_NOT_FOUND)
		log_warn("schedule", "msg=\"dead run's rows not failed\" "
		    "org=%" PRId64 " run=%" PRId64 " status=%s", org_id, run_id,
		    db_status_str(st));
	if (db != NULL)
		db_release(db);
	arena_free(a);
}

/* --- the release and sync jobs ------------------------------------------ */

enum job_result
release_job_run(struct worker_ctx *w, const struct job *job, char *err,
    size_t errlen)
{
	int64_t	 hold_id = payload_id(job, "hold_id");

	if (hold_id == 0) {
		snprintf(err, errlen, "The payload names no hold_id.");
		return JOB_FAIL;
	}
	if (!worker_lease_ok(w)) {
		snprintf(err, errlen, "The job's lease was lost.");
		return JOB_RETRY;
	}
	switch (window_release(w->app, job->org_id, hold_id, err, errlen)) {
	case WINDOW_RELEASED:
		return JOB_DONE;
	case WINDOW_LATER:
	case WINDOW_UNAVAILABLE:
	default:
		return JOB_RETRY;
	}
}

void
release_job_dead(struct worker_ctx *w, const struct job *job, const char *why)
{
	int64_t		 hold_id = payload_id(job, "hold_id");
	struct db	*db;

	if (hold_id == 0 || (db = db_acquire(w->db)) == NULL)
		return;
	if (window_release_failed(w->app, db, job->org_id, hold_id, why) !=
	    DB_OK)
		log_warn("schedule", "msg=\"dead release not recorded\" "
		    "org=%" PRId64 " hold=%" PRId64, job->org_id, hold_id);
	db_release(db);
}

enum job_result
templates_job_run(struct worker_ctx *w, const struct job *job, char *err,
    size_t errlen)
{
	int64_t	 channel_id = payload_id(job, "channel_id");
	int	 n = 0;

	if (channel_id == 0) {
		snprintf(err, errlen, "The payload names no channel_id.");
		return JOB_FAIL;
	}
	/* A refusal is recorded on the channel; only an outage retries. */
	switch (templates_sync(w->app, job->org_id, channel_id, &n, err,
	    errlen)) {
	case TEMPLATES_UNAVAILABLE:
		snprintf(err, errlen, "The database is unavailable.");
		return JOB_RETRY;
	default:
		return JOB_DONE;
	}
}

enum db_status
schedule_run_queue(const struct app *app, struct db *db, int64_t org_id,
    int64_t agent_id, int64_t id, int64_t *run_id)
{
	enum db_status	 st;
	bool		 own = false;
	char		 payload[64];

	(void)app;
	*run_id = 0;
	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = schedule_run_now(db, org_id, agent_id, id, run_id);
	if (st == DB_OK) {
		snprintf(payload, sizeof(payload), "{\"run_id\":%" PRId64 "}",
		    *run_id);
		st = queue_enqueue(db, org_id, QUEUE_KIND_SCHEDULE, payload, 3,
		    NULL);
	}
	return db_tx_leave(db, own, st);
}

/* --- the ticker ---------------------------------------------------------- */

int
schedule_tick(struct app *app)
{
	struct schedule_due	 due[DUE_MAX];
	struct db		*db;
	enum db_status		 st;
	int			 n = 0, queued = 0;
	int64_t			 run_id;
	char			 payload[64];

	if ((db = db_acquire(app->db)) == NULL)
		return 0;
	if ((st = db_tx_begin(db)) != DB_OK)
		goto out;
	st = schedule_due_lock_any_org(db, DUE_MAX, due, &n);
	for (int i = 0; st == DB_OK && i < n; i++) {
		st = schedule_fire(db, due[i].org_id, due[i].id, &run_id);
		if (st == DB_NOT_FOUND) {
			st = DB_OK;
			continue;
		}
		if (st != DB_OK || run_id == 0)
			continue;
		snprintf(payload, sizeof(payload), "{\"run_id\":%" PRId64 "}",
		    run_id);
		st = queue_enqueue(db, due[i].org_id, QUEUE_KIND_SCHEDULE,
		    payload, 3, NULL);
		if (st == DB_OK) {
			queued++;
			log_info("schedule", "msg=\"schedule fired\" org=%" PRId64
			    " schedule=%" PRId64 " run=%" PRId64, due[i].org_id,
			    due[i].id, run_id);
		}
	}
	if (st == DB_OK)
		st = db_tx_commit(db);
	else
		db_tx_rollback(db);
	if (st != DB_OK) {
		log_warn("schedule", "msg=\"tick failed\" status=%s",
		    db_status_str(st));
		queued = 0;
	}
out:
	db_release(db);
	return queued;
}

static void
sweep(struct app *app)
{
	struct db	*db;
	int		 n = 0;

	if ((db = db_acquire(app->db)) == NULL)
		return;
	if (window_sweep_any_org(app, db, &n) != DB_OK)
		log_warn("schedule", "msg=\"window sweep failed\"");
	else if (n > 0)
		log_info("schedule", "msg=\"window sweep\" holds=%d", n);
	db_release(db);
}

/* Channels whose periodic template sync is due: a job each. */
static void
sync_due(struct app *app)
{
	int64_t		 orgs[SYNC_CLAIM_MAX], chans[SYNC_CLAIM_MAX];
	struct db	*db;
	enum db_status	 st;
	int		 n = 0;
	char		 payload[64];

	if (app->cfg.template_sync_minutes <= 0 ||
	    (db = db_acquire(app->db)) == NULL)
		return;
	if ((st = db_tx_begin(db)) != DB_OK)
		goto out;
	st = template_sync_claim_any_org(db, channel_template_kinds(),
	    app->cfg.template_sync_minutes * 60, SYNC_CLAIM_MAX, orgs, chans,
	    &n);
	for (int i = 0; st == DB_OK && i < n; i++) {
		snprintf(payload, sizeof(payload), "{\"channel_id\":%" PRId64
		    "}", chans[i]);
		st = queue_enqueue(db, orgs[i], QUEUE_KIND_TEMPLATES, payload,
		    3, NULL);
	}
	if (st == DB_OK)
		st = db_tx_commit(db);
	else
		db_tx_rollback(db);
	if (st != DB_OK)
		log_warn("schedule", "msg=\"template sync claim failed\"");
out:
	db_release(db);
}

static void *
ticker_main(void *arg)
{
	struct timespec	 until;
	struct app	*app = arg;
	int		 tick_ms = app->cfg.schedule_tick_ms;
	long		 since_sweep = 0, since_sync = SYNC_EVERY_MS;

	pthread_mutex_lock(&tick.mu);
	while (!tick.stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += tick_ms / 1000;
		until.tv_nsec += (long)(tick_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!tick.stop && pthread_cond_timedwait(&tick.cv, &tick.mu,
		    &until) == 0)
			;
		if (tick.stop)
			break;
		pthread_mutex_unlock(&tick.mu);
		(void)schedule_tick(app);
		since_sweep += tick_ms;
		since_sync += tick_ms;
		if (since_sweep >= SWEEP_EVERY_MS) {
			since_sweep = 0;
			sweep(app);
		}
		if (since_sync >= SYNC_EVERY_MS) {
			since_sync = 0;
			sync_due(app);
		}
		pthread_mutex_lock(&tick.mu);
	}
	pthread_mutex_unlock(&tick.mu);
	return NULL;
}

bool
schedule_ticker_start(struct app *app)
{
	pthread_mutex_lock(&tick.mu);
	tick.stop = false;
	tick.app = app;
	tick.running = pthread_create(&tick.thread, NULL, ticker_main,
	    app) == 0;
	pthread_mutex_unlock(&tick.mu);
	return tick.running;
}

void
schedule_ticker_stop(void)
{
	pthread_mutex_lock(&tick.mu);
	tick.stop = true;
	pthread_cond_broadcast(&tick.cv);
	pthread_mutex_unlock(&tick.mu);
	if (tick.running)
		pthread_join(tick.thread, NULL);
	tick.running = false;
}
