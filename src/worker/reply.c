/*
 * reply: the "reply" job (see reply.h).
 *
 * DESIGN. The job is a small state machine over rows, so any run of it
 * (the first, a retry after backoff, or a re-claim after a worker died)
 * reads where the last one stopped instead of trusting memory:
 *
 *   no parts for the inbound message  → ask the gateway, record the parts
 *   part 'sent' (or later)            → skip it
 *   part 'queued'                     → sending → provider → sent | queued
 *                                       (retry later) | failed
 *   part 'sending' at the start       → failed, "delivery unknown"
 *   part 'failed'                     → every later part fails too
 *
 * A part found in 'sending' when the job starts means a worker died (or
 * lost its lease) between marking it and recording the provider's answer.
 * The provider may or may not have accepted it, and none of the three
 * APIs lets us ask by a key of ours, so re-sending could deliver the
 * message twice, which DESIGN.md invariant 2 forbids. We choose "at most
 * once": the part is marked failed with "delivery unknown: the worker
 * stopped while sending", where the conversation review shows it, and a
 * later status callback carrying its id cannot find it (the id was never
 * recorded); a person can follow up. Later parts of that reply are still
 * sent (most likely the provider did accept it). Only a part the provider
 * refused makes the rest lose their context: the run that sees the
 * refusal marks every later part failed in the same pass, so a part
 * already 'failed' when a run starts says nothing about the next one.
 *
 * Connections: one is held only to read and to record; it is released
 * before the gateway call (which takes its own for tools and bookkeeping)
 * and before every provider call. The lease is renewed before each long
 * step; a worker that finds its lease gone stops before sending, so the
 * new holder is the only sender (the queued → sending transition is
 * conditional as well, so two senders can never both take one part).
 *
 * Every statement names the job's org_id: the payload's message id is
 * only ever looked up inside that organisation, so an answer cannot reach
 * another organisation's chat.
 */
#include "worker/reply.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "app/app.h"
#include "app/log.h"
#include "channels/channel.h"
#include "channels/split.h"
#include "chat/threads.h"
#include "db/db.h"
#include "llm/gateway.h"
#include "model/agent.h"
#include "model/channel.h"
#include "util/arena.h"
#include "util/str.h"
#include "worker/queue.h"

#define REPLY_PARTS_MAX		64	/* 64 × 1600 characters at least */
#define STATUS_CALLBACK_PATH	"/webhooks/whatsapp/twilio/status"
#define UNKNOWN_DELIVERY	"delivery unknown: the worker stopped while " \
				"sending"
#define EARLIER_FAILED		"an earlier part failed"

/* One run of the job. */
struct reply_run {
	struct worker_ctx		*w;
	const struct job		*job;
	const struct app		*app;
	struct arena			*a;
	struct db			*db;
	char				*err;
	size_t				 errlen;
	struct reply_subject		 subj;
	struct agent			 agent;
	int64_t				 thread_id;
	const struct channel_ops	*ops;
	struct out_part			*parts;
	int				 n_parts;
	struct channel_creds		 creds;
	struct channel_secrets		 secrets;
	bool				 has_creds;
};

static bool		 payload_id(const char *, int64_t *);
static enum job_result	 fail(struct reply_run *, enum job_result,
			    const char *, ...)
			    __attribute__((format(printf, 3, 4)));
static bool		 connect_db(struct reply_run *);
static void		 release_db(struct reply_run *);
static enum job_result	 load(struct reply_run *);
static enum job_result	 answer(struct reply_run *);
static cJSON		*context(struct reply_run *);
static enum job_result	 record(struct reply_run *, const char *, int64_t);
static enum job_result	 deliver(struct reply_run *);
static enum job_result	 send_part(struct reply_run *, struct out_part *,
			    bool *);
static enum job_result	 map_gateway(struct reply_run *,
			    const struct gateway_result *);

enum job_result
reply_job_run(struct worker_ctx *w, const struct job *job, char *err,
    size_t errlen)
{
	struct reply_run	 run;
	enum job_result		 res;

	memset(&run, 0, sizeof(run));
	run.w = w;
	run.job = job;
	run.app = w->app;
	run.err = err;
	run.errlen = errlen;
	run.a = arena_new();

	if ((res = load(&run)) != JOB_DONE || run.subj.message_id == 0)
		goto out;
	if (run.n_parts == 0 && (res = answer(&run)) != JOB_DONE)
		goto out;
	res = deliver(&run);
out:
	release_db(&run);
	if (run.has_creds)
		channel_secrets_free(&run.secrets);
	arena_free(run.a);
	return res;
}

static bool
payload_id(const char *payload, int64_t *id)
{
	cJSON		*j = cJSON_Parse(payload != NULL ? payload : "");
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(j, "message_id");
	bool		 ok = false;

	if (cJSON_IsNumber(v) && v->valuedouble >= 1 &&
	    v->valuedouble < 9007199254740992.0) {
		*id = (int64_t)v->valuedouble;
		ok = true;
	}
	cJSON_Delete(j);
	return ok;
}

static enum job_result
fail(struct reply_run *run, enum job_result res, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(run->err, run->errlen, fmt, ap);
	va_end(ap);
	return res;
}

static bool
connect_db(struct reply_run *run)
{
	if (run->db == NULL)
		run->db = db_acquire(run->w->db);
	return run->db != NULL;
}

static void
release_db(struct reply_run *run)
{
	if (run->db != NULL)
		db_release(run->db);
	run->db = NULL;
}

/*
 * The message, its agent, thread and the parts already recorded. Leaves
 * subj.message_id 0 (and JOB_DONE) when there is nothing to do.
 */
static enum job_result
load(struct reply_run *run)
{
	int64_t		 org_id = run->job->org_id, message_id;
	enum db_status	 st;

	if (!payload_id(run->job->payload, &message_id))
		return fail(run, JOB_FAIL, "The payload names no message_id.");
	if (!connect_db(run))
		return fail(run, JOB_RETRY, "The database is unavailable.");

	st = chat_reply_subject(run->db, run->a, org_id, message_id,
	    &run->subj);
	if (st == DB_NOT_FOUND) {
		log_warn("reply", "msg=\"message gone, nothing to answer\" "
		    "org=%" PRId64 " message=%" PRId64, org_id, message_id);
		return JOB_DONE;
	}
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The database is unavailable.");

	if (run->subj.agent_id == 0) {
		/* Connect codes (a later issue) will link such chats. */
		log_info("reply", "msg=\"no agent for this chat, not answered\" "
		    "org=%" PRId64 " chat=%" PRId64 " message=%" PRId64,
		    org_id, run->subj.chat_id, message_id);
		run->subj.message_id = 0;
		return JOB_DONE;
	}
	st = agent_get(run->db, run->a, org_id, run->subj.agent_id,
	    &run->agent);
	if (st == DB_NOT_FOUND) {
		log_info("reply", "msg=\"agent gone, not answered\" "
		    "org=%" PRId64 " agent=%" PRId64, org_id,
		    run->subj.agent_id);
		run->subj.message_id = 0;
		return JOB_DONE;
	}
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The database is unavailable.");

	run->ops = channel_ops_for(run->subj.channel_kind);
	if (run->ops == NULL)
		return fail(run, JOB_FAIL, "No sender for channels of kind "
		    "\"%s\".", run->subj.channel_kind);

	st = chat_thread_for(run->db, org_id, run->subj.chat_id,
	    run->subj.agent_id, message_id, &run->thread_id);
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The thread could not be opened "
		    "(%s).", db_status_str(st));
	st = chat_outbox_parts(run->db, run->a, org_id, message_id,
	    &run->parts, &run->n_parts);
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The database is unavailable.");
	return JOB_DONE;
}

/* CHAT: the thread's history and the message; TASK: the message alone. */
static cJSON *
context(struct reply_run *run)
{
	cJSON		*messages = NULL, *m;
	const char	*name;
	char		*text;
	bool		 is_group = str_eq(run->subj.chat_kind, "group");

	if (str_eq(run->agent.mode, "chat") &&
	    run->agent.history_length > 0) {
		if (chat_thread_history(run->db, run->job->org_id,
		    run->thread_id, run->subj.message_id,
		    run->agent.history_length, &messages) != DB_OK)
			return NULL;
	} else
		messages = cJSON_CreateArray();

	name = run->subj.sender_name[0] != '\0' ? run->subj.sender_name :
	    run->subj.sender[0] != '\0' ? run->subj.sender : "Someone";
	text = is_group ? arena_printf(run->a, "%s: %s", name,
	    run->subj.body) : run->subj.body;
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "user");
	cJSON_AddStringToObject(m, "content", text);
	cJSON_AddItemToArray(messages, m);
	return messages;
}

/* Asks the gateway (no connection held) and records its answer. */
static enum job_result
answer(struct reply_run *run)
{
	struct gateway_req	 gr;
	struct gateway_result	 res;
	cJSON			*messages;
	enum job_result		 jr;

	if ((messages = context(run)) == NULL)
		return fail(run, JOB_RETRY, "The database is unavailable.");
	release_db(run);
	if (!worker_heartbeat(run->w, run->job)) {
		cJSON_Delete(messages);
		return fail(run, JOB_RETRY, "The job's lease was lost.");
	}

	memset(&gr, 0, sizeof(gr));
	gr.pool = run->w->db;
	gr.key = run->app->key;
	gr.org_id = run->job->org_id;
	gr.agent_id = run->subj.agent_id;
	gr.messages = messages;
	gr.contact_name = run->subj.sender_name;
	gr.source = "reply";
	gr.timeout_ms = run->app->cfg.llm_timeout_ms;
	gr.chat_id = run->subj.chat_id;
	gr.channel_id = run->subj.channel_id;
	gr.app = run->app;
	gateway_complete(&gr, &res);
	cJSON_Delete(messages);

	if (res.err != GW_OK)
		jr = map_gateway(run, &res);
	else if (res.content == NULL || res.content[0] == '\0') {
		log_info("reply", "msg=\"the model answered nothing\" "
		    "org=%" PRId64 " message=%" PRId64 " handoff=%d",
		    run->job->org_id, run->subj.message_id, res.handoff);
		run->subj.message_id = 0;
		jr = JOB_DONE;
	} else if (!worker_heartbeat(run->w, run->job))
		jr = fail(run, JOB_RETRY, "The job's lease was lost.");
	else
		jr = record(run, res.content, res.llm_call_id);
	gateway_result_cleanup(&res);
	return jr;
}

static enum job_result
map_gateway(struct reply_run *run, const struct gateway_result *res)
{
	switch (res->err) {
	case GW_UPSTREAM:
	case GW_TIMEOUT:
	case GW_UNAVAILABLE:
		return fail(run, JOB_RETRY, "The model call failed: %s",
		    res->error);
	case GW_BAD_REQUEST:
	case GW_NOT_FOUND:
	default:
		return fail(run, JOB_FAIL, "The model call was refused: %s",
		    res->error);
	}
}

/* Splits the answer to the channel's limit and records the parts. */
static enum job_result
record(struct reply_run *run, const char *content, int64_t llm_call_id)
{
	struct split_part	 cuts[REPLY_PARTS_MAX];
	const char		*texts[REPLY_PARTS_MAX];
	size_t			 n;
	enum db_status		 st;

	n = split_text(content, run->ops->text_limit, cuts, REPLY_PARTS_MAX);
	if (n > REPLY_PARTS_MAX) {
		log_warn("reply", "msg=\"answer cut short\" parts=%zu kept=%d",
		    n, REPLY_PARTS_MAX);
		n = REPLY_PARTS_MAX;
	}
	for (size_t i = 0; i < n; i++)
		texts[i] = arena_strndup(run->a, content + cuts[i].off,
		    cuts[i].len);
	if (n == 0)
		return JOB_DONE;
	if (!connect_db(run))
		return fail(run, JOB_RETRY, "The database is unavailable.");
	st = chat_outbox_record(run->db, run->a, run->job->org_id,
	    run->subj.message_id, run->thread_id, llm_call_id, texts, (int)n,
	    &run->parts, &run->n_parts);
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The answer could not be recorded "
		    "(%s).", db_status_str(st));
	return JOB_DONE;
}

/* Sends the queued parts in order (see the DESIGN note). */
static enum job_result
deliver(struct reply_run *run)
{
	int64_t		 org_id = run->job->org_id;
	bool		 earlier_failed = false;
	enum job_result	 jr;
	enum db_status	 st;

	if (!connect_db(run))
		return fail(run, JOB_RETRY, "The database is unavailable.");
	for (int i = 0; i < run->n_parts; i++) {
		struct out_part	*p = &run->parts[i];

		if (str_eq(p->status, "sending")) {
			log_warn("reply", "msg=\"part found sending, not "
			    "re-sent\" org=%" PRId64 " part=%" PRId64,
			    org_id, p->id);
			st = chat_outbox_failed(run->db, org_id, p->id, NULL,
			    UNKNOWN_DELIVERY);
			if (st != DB_OK && st != DB_NOT_FOUND)
				return fail(run, JOB_RETRY, "The database is "
				    "unavailable.");
			p->status = "failed";
			continue;
		}
		if (!str_eq(p->status, "queued"))
			continue;	/* sent, delivered, read or failed */
		if (earlier_failed) {
			st = chat_outbox_failed(run->db, org_id, p->id, NULL,
			    EARLIER_FAILED);
			if (st != DB_OK && st != DB_NOT_FOUND)
				return fail(run, JOB_RETRY, "The database is "
				    "unavailable.");
			p->status = "failed";
			continue;
		}
		if ((jr = send_part(run, p, &earlier_failed)) != JOB_DONE)
			return jr;
	}
	return JOB_DONE;
}

/*
 * One queued part: queued → sending (with the connection), the provider
 * call (without it), then the outcome recorded (with it again).
 */
static enum job_result
send_part(struct reply_run *run, struct out_part *p, bool *failed)
{
	struct send_outcome	 o;
	enum send_result	 sr;
	enum db_status		 st;
	int64_t			 org_id = run->job->org_id;

	if (!run->has_creds) {
		st = reply_channel_creds(run->app, run->db, run->a, org_id,
		    run->subj.channel_id, &run->creds, &run->secrets);
		if (st == DB_NOT_FOUND)
			return fail(run, JOB_FAIL, "The channel is gone.");
		if (st != DB_OK)
			return fail(run, JOB_RETRY, "The channel's "
			    "credentials could not be read (%s).",
			    db_status_str(st));
		run->has_creds = true;
	}
	release_db(run);
	if (!worker_heartbeat(run->w, run->job))
		return fail(run, JOB_RETRY, "The job's lease was lost.");
	if (!connect_db(run))
		return fail(run, JOB_RETRY, "The database is unavailable.");
	st = chat_outbox_sending(run->db, org_id, p->id);
	if (st == DB_NOT_FOUND) {
		/* Another holder of this job took the part: leave it be. */
		return fail(run, JOB_RETRY, "The part is being sent by "
		    "another worker.");
	}
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The database is unavailable.");
	release_db(run);

	memset(&o, 0, sizeof(o));
	sr = run->ops->send_text(&run->creds, run->subj.chat_external_id,
	    str_eq(run->subj.chat_kind, "group"), p->body, &o);

	if (!connect_db(run)) {
		/* The part stays 'sending': the next run calls it unknown. */
		log_err("reply", "msg=\"send outcome not recorded\" "
		    "org=%" PRId64 " part=%" PRId64 " result=%d", org_id,
		    p->id, (int)sr);
		return fail(run, JOB_RETRY, "The database is unavailable.");
	}
	switch (sr) {
	case SEND_OK:
		st = chat_outbox_sent(run->db, org_id, p->id,
		    o.provider_message_id);
		p->status = "sent";
		break;
	case SEND_RETRY:
		st = chat_outbox_requeue(run->db, org_id, p->id,
		    o.error_text);
		if (st == DB_OK)
			return fail(run, JOB_RETRY, "The provider asked to "
			    "try later (HTTP %d): %s", o.http_status,
			    o.error_text);
		break;
	case SEND_FAILED:
	default:
		log_info("reply", "msg=\"provider refused a part\" "
		    "org=%" PRId64 " part=%" PRId64 " http=%d code=\"%s\"",
		    org_id, p->id, o.http_status, o.error_code);
		st = chat_outbox_failed(run->db, org_id, p->id, o.error_code,
		    o.error_text[0] != '\0' ? o.error_text :
		    "The provider refused the message.");
		p->status = "failed";
		*failed = true;
		break;
	}
	if (st != DB_OK) {
		log_err("reply", "msg=\"send outcome not recorded\" "
		    "org=%" PRId64 " part=%" PRId64 " status=%s", org_id,
		    p->id, db_status_str(st));
		return fail(run, JOB_RETRY, "The send's outcome could not be "
		    "recorded.");
	}
	return JOB_DONE;
}

enum db_status
reply_channel_creds(const struct app *app, struct db *db, struct arena *a,
    int64_t org_id, int64_t channel_id, struct channel_creds *creds,
    struct channel_secrets *secrets)
{
	struct channel	 ch;
	enum db_status	 st;
	const char	*kind;

	memset(creds, 0, sizeof(*creds));
	memset(secrets, 0, sizeof(*secrets));
	if ((st = channel_get(db, a, org_id, channel_id, &ch)) != DB_OK)
		return st;
	st = channel_get_secrets(db, app->key, org_id, channel_id, secrets);
	if (st != DB_OK)
		return st;
	kind = ch.kind;
	creds->kind = kind;
	if (str_eq(kind, "twilio")) {
		creds->api_base = app->cfg.twilio_api_base;
		creds->api_base2 = app->cfg.twilio_messaging_base;
	} else if (str_eq(kind, "meta"))
		creds->api_base = app->cfg.meta_graph_base;
	else if (str_eq(kind, "kapso"))
		creds->api_base = app->cfg.kapso_api_base;
	creds->phone_number = ch.phone_number;
	creds->phone_number_id = ch.phone_number_id;
	creds->account_sid = secrets->twilio_account_sid;
	creds->auth_token = secrets->twilio_auth_token;
	creds->access_token = secrets->meta_access_token;
	creds->api_key = secrets->kapso_api_key;
	creds->status_callback = arena_printf(a, "%s%s", app->cfg.public_url,
	    STATUS_CALLBACK_PATH);
	return DB_OK;
}
