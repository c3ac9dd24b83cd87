/*
 * reply: the "reply" job (see reply.h): load → decide (route) → gate
 * (handoff) → act (answer or say) → hand the parts to the outbox.
 *
 * DESIGN. The job is a small state machine over rows, so any run of it
 * (the first, a retry after backoff, or a re-claim after a worker died)
 * reads where the last one stopped instead of trusting memory:
 *
 *   no parts for the inbound message  → ask the gateway, record the parts
 *   part 'sent' (or later)            → skip it
 *   part 'queued'                     → outbox_send: sending → provider →
 *                                       sent | queued (retry later) |
 *                                       failed
 *   part 'sending' at the start       → failed, "delivery unknown"
 *   part 'failed'                     → every later part fails too
 *
 * The sending itself is chat/outbox.h's (outbox_send, the one send
 * sequence, gated on the chat's handoff status, recover set: this job is
 * its parts' only sender), and so are the states above.
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
 * and before every provider call (the outbox takes its own). The pool's
 * lease keeper renews the job's lease while any step runs, however long
 * (worker/pool.h LEASES); a worker whose lease was taken over stops
 * before sending, so the new holder is the only sender (the queued →
 * sending transition is conditional as well, so two senders can never
 * both take one part).
 *
 * DEAD. When the job gives up (reply_job_dead), its parts still queued
 * fail with its last error, so the timeline offers Resend; a message it
 * never answered gets a note saying why.
 *
 * Every statement names the job's org_id: the payload's message id is
 * only ever looked up inside that organisation, so an answer cannot reach
 * another organisation's chat.
 *
 * ROUTE. Before any model call the message is routed (chat/commands.h
 * holds the decision and the order of its checks): "connect CODE",
 * welcome, the reset command, a group message that does not mention an
 * agent requiring it, the allow-list, then the model. Every text Parley
 * says itself (chat/texts.h) is recorded and sent as parts exactly like
 * a model's answer, so it shows in the timeline, is never sent twice and
 * gets status callbacks. A command's reply sits in the thread of the
 * message it answers (set at ingest), so a new thread begins empty.
 *
 * BUSY. A thread is busy while a reply for it is produced: the job takes
 * it (chat_thread_take: one conditional UPDATE, so it holds across
 * workers and processes) BEFORE the model call, and releases it once the
 * answer is recorded (or when it gives up). A job that finds its thread
 * held by another job answers TEXT_BUSY and is done; the message stays
 * in the thread as context. A job that will be retried keeps its claim
 * (a new message meanwhile hears "still working", which is true); a
 * crashed worker's claim expires after the busy lease, and a re-claimed
 * job takes the thread again under its own id.
 *
 * WORKING. While the model works the agent's indicators show
 * (worker/working.h): the typing indicator (refreshed before its 25 s
 * expiry; it marks the message read), a read receipt alone, and ⏳ on
 * the inbound message (removed once the reply is sent), as the agent's
 * settings say. All best effort, made by the indicator's own thread: a
 * failure is logged at debug level and never holds up the reply.
 *
 * HANDOFF (chat/handoff.h). The job answers only chats in 'ai': a chat
 * that needs a person or is with one keeps its messages (stored at
 * ingest, shown in the timeline) and the job ends silently; a closed chat
 * is reopened as 'ai'. Before the model a message matching one of the
 * agent's escalation keywords hands off; after it, a handoff.request
 * call (the model's, or the offline model's "I don't know") has already
 * moved the chat, and N upstream failures in a row do. Each of those
 * sends TEXT_HANDOFF instead of an answer, recorded with sender
 * "handoff". A person can take the chat while the model thinks, so the
 * status is re-checked in the very UPDATE that takes each part for
 * sending (outbox_send, gated): an answer part needs 'ai', a handoff part
 * needs needs_human|human. A part that loses is marked failed "handoff: a
 * person took over" and never sent.
 *
 * SESSIONS. A chat idle longer than its agent's session_timeout_minutes
 * starts a new thread with its next message (before the history is read).
 *
 * MEDIA AND VOICE NOTES. Every run for a message with media first has
 * chat/media download what is not stored yet (no connection held: it
 * takes its own), before the route and the handoff gate, so a chat that
 * a person has (or that is never answered) still keeps its media. Then,
 * unless the model was already asked (parts exist), worker/voice.c
 * transcribes its voice note when the agent has a transcription_model
 * (voice.h), before the model is asked; the model reads the transcript
 * as the user's text (chat_user_text), or CHAT_VOICE_UNREADABLE, and the
 * escalation keywords are matched against it too.
 *
 * Known limit: a connect code redeemed by a run whose reply could then
 * not be recorded (database lost in between) is used; the retry answers
 * TEXT_INVALID_CODE. The link itself holds.
 */
#include "worker/reply.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "util/context.h"
#include "util/json.h"
#include "util/log.h"
#include "channels/channel.h"
#include "channels/split.h"
#include "chat/commands.h"
#include "chat/connect.h"
#include "chat/handoff.h"
#include "chat/media.h"
#include "chat/texts.h"
#include "chat/messages.h"
#include "chat/outbox.h"
#include "chat/threads.h"
#include "db/db.h"
#include "llm/gateway.h"
#include "model/agent.h"
#include "model/audit.h"
#include "model/channel.h"
#include "model/llmcall.h"
#include "model/orgmodel.h"
#include "model/org.h"
#include "util/arena.h"
#include "util/str.h"
#include "util/time.h"
#include "worker/queue.h"
#include "worker/voice.h"
#include "worker/working.h"

#define REPLY_PARTS_MAX		64	/* 64 × 1600 characters at least */

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
	struct outbox_channel		 ch;		/* opened once */
	bool				 has_ch;
	bool				 has_agent;
	struct route_decision		 route;
	bool				 resumed;	/* parts existed */
	bool				 busy_taken;
	struct working			*working;	/* typing, read, ⏳ */
	bool				 voice_failed;	/* a voice note could
							   not be transcribed */
	const char			*part_sender;	/* record()'s, NULL:
							   an answer */
};

static bool		 payload_id(const char *, int64_t *);
static enum job_result	 fail(struct reply_run *, enum job_result,
			    const char *, ...)
			    __attribute__((format(printf, 3, 4)));
static bool		 connect_db(struct reply_run *);
static void		 release_db(struct reply_run *);
static bool		 lease_ok(struct reply_run *);
static enum job_result	 load(struct reply_run *);
static enum job_result	 media(struct reply_run *);
static void		 decide(struct reply_run *);
static enum job_result	 act(struct reply_run *);
static enum job_result	 say(struct reply_run *, enum chat_text,
			    const char *, const struct text_vars *);
static enum job_result	 do_connect(struct reply_run *);
static enum job_result	 do_welcome(struct reply_run *);
static enum job_result	 do_reset(struct reply_run *);
static enum job_result	 do_ignore(struct reply_run *);
static enum job_result	 do_answer(struct reply_run *);
static enum job_result	 gate(struct reply_run *);
static enum job_result	 say_handoff(struct reply_run *);
static int		 busy_lease_s(const struct reply_run *);
static void		 release_busy(struct reply_run *, int64_t);
static enum db_status	 ensure_channel(struct reply_run *);
static void		 working(struct reply_run *, bool);
static enum job_result	 answer(struct reply_run *);
static cJSON		*context(struct reply_run *);
static enum job_result	 record(struct reply_run *, const char *, int64_t);
static enum job_result	 deliver(struct reply_run *);
static enum job_result	 send_part(struct reply_run *, struct out_part *,
			    bool *);
static int64_t		 payload_message(const struct job *);
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
	if ((res = media(&run)) != JOB_DONE)
		goto out;
	decide(&run);
	run.resumed = run.n_parts > 0;
	if (run.resumed && run.route.action == ROUTE_ANSWER)
		release_busy(&run, run.subj.thread_id);
	if (!run.resumed && ((res = gate(&run)) != JOB_DONE ||
	    run.subj.message_id == 0))
		goto out;
	if (!run.resumed && (res = act(&run)) != JOB_DONE)
		goto out;
	if (run.subj.message_id != 0)
		res = deliver(&run);
out:
	if (run.busy_taken && res != JOB_RETRY)
		release_busy(&run, run.thread_id);
	/* ⏳ comes off once the reply is out (or will not be, this run);
	 * a resumed run takes off the one its crashed predecessor placed. */
	if (run.resumed && run.route.action == ROUTE_ANSWER &&
	    res != JOB_RETRY)
		working(&run, true);
	working_end(run.working);
	release_db(&run);
	outbox_channel_close(&run.ch);
	arena_free(run.a);
	return res;
}

static bool
payload_id(const char *payload, int64_t *id)
{
	cJSON		*j = json_parse_str(payload, NULL);
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

/* False when the pool's lease keeper found the job taken over. */
static bool
lease_ok(struct reply_run *run)
{
	return worker_lease_ok(run->w);
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

	/* No agent: the route says welcome (or connect). */
	if (run->subj.agent_id != 0) {
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
			return fail(run, JOB_RETRY, "The database is "
			    "unavailable.");
		run->has_agent = true;
	}

	run->ops = channel_ops_for(run->subj.channel_kind);
	if (run->ops == NULL)
		return fail(run, JOB_FAIL, "No sender for channels of kind "
		    "\"%s\".", run->subj.channel_kind);

	run->thread_id = run->subj.thread_id;
	st = outbox_parts(run->db, run->a, org_id, message_id,
	    &run->parts, &run->n_parts);
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The database is unavailable.");
	return JOB_DONE;
}

/*
 * MEDIA (see the DESIGN note): downloads the message's media, then
 * transcribes its voice note when that is due. JOB_RETRY only when the
 * database or the lease is lost; a voice note that cannot be transcribed
 * is not a reason to retry.
 */
static enum job_result
media(struct reply_run *run)
{
	struct voice_note	 v;
	int64_t			 org_id = run->job->org_id;
	enum job_result		 jr;
	int			 n;
	bool			 has_media = false;

	n = voice_item(run->subj.media, &has_media);
	if (!has_media)
		return JOB_DONE;
	release_db(run);
	if (media_fetch_message(run->app, org_id, run->subj.message_id) < 0)
		return fail(run, JOB_RETRY, "The database is unavailable.");
	if (!lease_ok(run))
		return fail(run, JOB_RETRY, "The job's lease was lost.");
	if (n < 0 || run->n_parts > 0 || !run->has_agent ||
	    run->agent.transcription_model == NULL ||
	    run->agent.transcription_model[0] == '\0' ||
	    run->subj.transcript[0] != '\0')
		return JOB_DONE;
	memset(&v, 0, sizeof(v));
	v.w = run->w;
	v.job = run->job;
	v.a = run->a;
	v.agent = &run->agent;
	v.chat_id = run->subj.chat_id;
	v.message_id = run->subj.message_id;
	v.item = n;
	jr = voice_transcribe(&v, run->err, run->errlen);
	if (v.transcript != NULL)
		run->subj.transcript = v.transcript;
	run->voice_failed = v.unreadable;
	return jr;
}

/* What the message means (chat/commands.h); pure but for the arena. */
static void
decide(struct reply_run *run)
{
	struct route_input	 in;

	memset(&in, 0, sizeof(in));
	in.body = run->subj.body;
	in.is_group = str_eq(run->subj.chat_kind, "group");
	in.sender = run->subj.sender;
	in.from = &run->subj.from;
	in.has_agent = run->has_agent;
	if (run->has_agent) {
		in.agent_name = run->agent.name;
		in.reset_command = run->agent.reset_command;
		in.allow_list = (const char *const *)run->agent.allow_list;
		in.n_allow = run->agent.n_allow;
		in.require_mention = run->agent.require_mention;
		/* "@<our number>" is how WhatsApp writes a mention of us. */
		if (in.is_group && in.require_mention &&
		    ensure_channel(run) == DB_OK)
			in.channel_number = run->ch.creds.phone_number;
	}
	chat_route_decide(run->a, &in, &run->route);
	log_debug("reply", "msg=\"routed\" org=%" PRId64 " message=%" PRId64
	    " route=%s", run->job->org_id, run->subj.message_id,
	    chat_route_name(run->route.action));
}

/* Acts on the route; leaves parts to deliver, or subj.message_id 0. */
static enum job_result
act(struct reply_run *run)
{
	struct text_vars	 v;

	memset(&v, 0, sizeof(v));
	switch (run->route.action) {
	case ROUTE_CONNECT:
		return do_connect(run);
	case ROUTE_WELCOME:
		return do_welcome(run);
	case ROUTE_RESET:
		return do_reset(run);
	case ROUTE_NOT_ALLOWED:
		log_info("reply", "msg=\"sender not on the allow-list\" "
		    "org=%" PRId64 " agent=%" PRId64 " message=%" PRId64,
		    run->job->org_id, run->agent.id, run->subj.message_id);
		v.agent = run->agent.name;
		return say(run, TEXT_NOT_ALLOWED, run->agent.texts, &v);
	case ROUTE_IGNORE:
		return do_ignore(run);
	case ROUTE_ANSWER:
	default:
		return do_answer(run);
	}
}

/* Records text t (the agent's override or the default) as the reply. */
static enum job_result
say(struct reply_run *run, enum chat_text t, const char *overrides,
    const struct text_vars *v)
{
	enum job_result	 jr;
	char		*text;

	text = chat_text_render(t, overrides, v);
	jr = record(run, text, 0);
	free(text);
	return jr;
}

static enum job_result
do_connect(struct reply_run *run)
{
	struct text_vars	 v;
	struct agent		 to, from;
	enum connect_outcome	 oc = CONNECT_BAD_FORMAT;
	enum db_status		 st;
	int64_t			 org_id = run->job->org_id, agent_id = 0;
	int64_t			 old_id = 0, tid;
	int			 minutes = 0;
	const char		*overrides = run->has_agent ?
				    run->agent.texts : NULL;

	memset(&v, 0, sizeof(v));
	if (run->route.code == NULL)
		return say(run, TEXT_INVALID_FORMAT, overrides, &v);
	if (!connect_db(run))
		return fail(run, JOB_RETRY, "The database is unavailable.");
	/* Guesses count per contact: its user id, else its phone. */
	st = connect_redeem(run->db, org_id, run->subj.channel_id,
	    run->subj.chat_id, contact_key(&run->subj.from)[0] != '\0' ?
	    contact_key(&run->subj.from) : run->subj.sender, run->route.code,
	    &oc,
	    &agent_id, &old_id, &minutes);
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The connect code could not be "
		    "checked (%s).", db_status_str(st));
	log_info("reply", "msg=\"connect\" org=%" PRId64 " chat=%" PRId64
	    " outcome=%d agent=%" PRId64 " old=%" PRId64, org_id,
	    run->subj.chat_id, (int)oc, agent_id, old_id);
	switch (oc) {
	case CONNECT_LINKED:
		audit_db(run->db, org_id, 0, "system", "connect.code_used",
		    "chat", run->subj.chat_id, arena_printf(run->a,
		    "agent %" PRId64, agent_id));
		break;
	case CONNECT_LOCKED:
		v.minutes = minutes > 0 ? minutes : 1;
		return say(run, TEXT_TOO_MANY, overrides, &v);
	case CONNECT_INVALID:
		return say(run, TEXT_INVALID_CODE, overrides, &v);
	case CONNECT_BAD_FORMAT:
	default:
		return say(run, TEXT_INVALID_FORMAT, overrides, &v);
	}

	st = agent_get(run->db, run->a, org_id, agent_id, &to);
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The connected agent could not be "
		    "read (%s).", db_status_str(st));
	/* The new agent's thread starts now (the old one was closed). */
	st = chat_thread_for(run->db, org_id, run->subj.chat_id, agent_id, 0,
	    &tid);
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The thread could not be opened "
		    "(%s).", db_status_str(st));
	if (old_id != 0 && old_id != agent_id) {
		st = agent_get(run->db, run->a, org_id, old_id, &from);
		if (st != DB_OK && st != DB_NOT_FOUND)
			return fail(run, JOB_RETRY, "The database is "
			    "unavailable.");
		v.old_agent = st == DB_OK ? from.name : "";
		v.new_agent = to.name;
		v.agent = to.name;
		return say(run, TEXT_SWITCHED, to.texts, &v);
	}
	v.agent = to.name;
	return say(run, TEXT_CONNECTED, to.texts, &v);
}

static enum job_result
do_welcome(struct reply_run *run)
{
	struct text_vars	 v;
	char			*product = NULL;
	enum db_status		 st;

	memset(&v, 0, sizeof(v));
	if (!connect_db(run))
		return fail(run, JOB_RETRY, "The database is unavailable.");
	st = org_get_product_name(run->db, run->a, run->job->org_id, &product);
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The organisation could not be "
		    "read (%s).", db_status_str(st));
	v.product = product;
	return say(run, TEXT_WELCOME, NULL, &v);
}

/* Closes the thread and opens a new one; the reply stays in the old. */
static enum job_result
do_reset(struct reply_run *run)
{
	struct text_vars	 v;
	enum db_status		 st;
	int64_t			 old_id, new_id;

	memset(&v, 0, sizeof(v));
	if (!connect_db(run))
		return fail(run, JOB_RETRY, "The database is unavailable.");
	st = chat_thread_reset(run->db, run->job->org_id, run->subj.chat_id,
	    run->subj.agent_id, &old_id, &new_id);
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The thread could not be reset "
		    "(%s).", db_status_str(st));
	log_info("reply", "msg=\"thread reset\" org=%" PRId64 " chat=%" PRId64
	    " closed=%" PRId64 " opened=%" PRId64, run->job->org_id,
	    run->subj.chat_id, old_id, new_id);
	v.agent = run->agent.name;
	return say(run, TEXT_RESET, run->agent.texts, &v);
}

/* A group message not for us: kept in the thread as context only. */
static enum job_result
do_ignore(struct reply_run *run)
{
	enum db_status	 st;

	if (!connect_db(run))
		return fail(run, JOB_RETRY, "The database is unavailable.");
	st = chat_thread_for(run->db, run->job->org_id, run->subj.chat_id,
	    run->subj.agent_id, run->subj.message_id, &run->thread_id);
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The thread could not be opened "
		    "(%s).", db_status_str(st));
	run->subj.message_id = 0;
	return JOB_DONE;
}

/* Takes the thread (or says it is busy), then asks the model. */
static enum job_result
do_answer(struct reply_run *run)
{
	struct text_vars	 v;
	enum db_status		 st;
	enum job_result		 jr;
	bool			 taken = false, expired = false;
	bool			 changed = false;
	int64_t			 org_id = run->job->org_id;

	if (!connect_db(run))
		return fail(run, JOB_RETRY, "The database is unavailable.");
	/* Sessions: an idle chat's next message starts a new thread. */
	st = chat_thread_expire(run->db, org_id, run->subj.chat_id,
	    run->subj.message_id, &expired);
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The thread could not be checked "
		    "(%s).", db_status_str(st));
	if (expired)
		log_info("reply", "msg=\"session timed out, new thread\" "
		    "org=%" PRId64 " chat=%" PRId64, org_id, run->subj.chat_id);
	st = chat_thread_for(run->db, org_id, run->subj.chat_id,
	    run->subj.agent_id, run->subj.message_id, &run->thread_id);
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The thread could not be opened "
		    "(%s).", db_status_str(st));
	if (handoff_keyword_match(run->subj.body,
	    (const char *const *)run->agent.escalation_keywords,
	    run->agent.n_escalation) ||
	    (run->subj.transcript[0] != '\0' &&
	    handoff_keyword_match(run->subj.transcript,
	    (const char *const *)run->agent.escalation_keywords,
	    run->agent.n_escalation))) {
		st = handoff_request(run->db, org_id, run->subj.chat_id,
		    HANDOFF_REASON_KEYWORD, &changed);
		if (st != DB_OK)
			return fail(run, JOB_RETRY, "The handoff could not be "
			    "recorded (%s).", db_status_str(st));
		if (changed)
			return say_handoff(run);
		run->subj.message_id = 0;	/* a person has it already */
		return JOB_DONE;
	}
	st = chat_thread_take(run->db, org_id, run->thread_id, run->job->id,
	    busy_lease_s(run), &taken);
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The thread could not be taken "
		    "(%s).", db_status_str(st));
	if (!taken) {
		log_info("reply", "msg=\"thread busy, not sent to the model\" "
		    "org=%" PRId64 " thread=%" PRId64 " message=%" PRId64,
		    org_id, run->thread_id, run->subj.message_id);
		memset(&v, 0, sizeof(v));
		v.agent = run->agent.name;
		return say(run, TEXT_BUSY, run->agent.texts, &v);
	}
	run->busy_taken = true;
	/* Released once the answer is recorded, before it is sent. */
	jr = answer(run);
	if (jr != JOB_RETRY)
		release_busy(run, run->thread_id);
	return jr;
}

/*
 * The chat's handoff status and its thread's owner decide before any
 * route (handoff_ours, the one "is this chat ours to answer"): 'ai' with
 * Parley owning the thread goes on, a closed chat reopens as 'ai';
 * needs_human and human, or a thread another app owns, end the job
 * silently (the message is stored and shown; nothing is sent).
 */
static enum job_result
gate(struct reply_run *run)
{
	char		 status[16];
	enum db_status	 st;
	bool		 reopened = false, ours = false;
	int64_t		 org_id = run->job->org_id;

	if (!connect_db(run))
		return fail(run, JOB_RETRY, "The database is unavailable.");
	st = handoff_ours(run->db, org_id, run->subj.chat_id,
	    run->subj.message_id, status, &ours);
	if (st == DB_NOT_FOUND) {
		run->subj.message_id = 0;
		return JOB_DONE;
	}
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The database is unavailable.");
	if (str_eq(status, "closed")) {
		st = handoff_reopen(run->db, org_id, run->subj.chat_id,
		    &reopened);
		if (st == DB_OK)
			st = handoff_ours(run->db, org_id, run->subj.chat_id,
			    run->subj.message_id, status, &ours);
		if (st != DB_OK)
			return fail(run, JOB_RETRY, "The chat could not be "
			    "reopened (%s).", db_status_str(st));
		log_info("reply", "msg=\"closed chat reopened\" org=%" PRId64
		    " chat=%" PRId64, org_id, run->subj.chat_id);
	}
	if (ours)
		return JOB_DONE;
	if (str_eq(status, "ai"))
		log_info("reply", "msg=\"another app owns the thread, not "
		    "answered\" org=%" PRId64 " chat=%" PRId64 " message=%"
		    PRId64, org_id, run->subj.chat_id, run->subj.message_id);
	else
		log_info("reply", "msg=\"a person has the chat, not "
		    "answered\" org=%" PRId64 " chat=%" PRId64 " message=%"
		    PRId64 " status=%s", org_id, run->subj.chat_id,
		    run->subj.message_id, status);
	run->subj.message_id = 0;
	return JOB_DONE;
}

/* TEXT_HANDOFF (the agent's or the default), as handoff parts. */
static enum job_result
say_handoff(struct reply_run *run)
{
	struct text_vars	 v;

	memset(&v, 0, sizeof(v));
	v.agent = run->agent.name;
	run->part_sender = HANDOFF_SENDER_TEXT;
	return say(run, TEXT_HANDOFF, run->agent.texts, &v);
}

/*
 * Long enough for the model (its tool loop may call it twice or more,
 * each bounded by the timeout) and the job's own lease; a crashed
 * worker's claim lapses after it.
 */
static int
busy_lease_s(const struct reply_run *run)
{
	int	 llm_s = run->app->cfg.llm_timeout_ms / 1000;

	return 2 * (llm_s > 0 ? llm_s : 60) + run->w->lease_s + 30;
}

static void
release_busy(struct reply_run *run, int64_t thread_id)
{
	enum db_status	 st;

	if (thread_id == 0)
		return;
	if (!connect_db(run)) {
		log_warn("reply", "msg=\"busy thread not released, its claim "
		    "will lapse\" org=%" PRId64 " thread=%" PRId64,
		    run->job->org_id, thread_id);
		return;
	}
	st = chat_thread_release(run->db, run->job->org_id, thread_id,
	    run->job->id);
	if (st != DB_OK)
		log_warn("reply", "msg=\"busy thread not released, its claim "
		    "will lapse\" org=%" PRId64 " thread=%" PRId64 " status=%s",
		    run->job->org_id, thread_id, db_status_str(st));
	else
		run->busy_taken = false;
}

/* The channel, opened once per run (needs the connection). */
static enum db_status
ensure_channel(struct reply_run *run)
{
	enum db_status	 st;

	if (run->has_ch)
		return DB_OK;
	if (!connect_db(run))
		return DB_UNAVAILABLE;
	st = outbox_channel_open(run->app, run->db, run->a, run->job->org_id,
	    run->subj.channel_id, &run->ch);
	if (st == DB_OK)
		run->has_ch = true;
	else
		outbox_channel_close(&run->ch);
	return st;
}

/*
 * The turn's working indicators (worker/working.h: the agent's typing
 * indicator, read receipt and ⏳, refreshed while the model works, each
 * call made off this thread): started before the model is asked, quiet
 * before the reply is sent, ended when the run ends. Needs the channel
 * opened; holds no connection. leftover: only the ⏳ of an earlier run
 * of this job comes off (the run resumed its recorded parts).
 */
static void
working(struct reply_run *run, bool leftover)
{
	struct working_req	 req;

	if (!run->has_ch || !run->has_agent || run->working != NULL ||
	    (leftover && !run->agent.working_reaction))
		return;
	memset(&req, 0, sizeof(req));
	req.ops = run->ops;
	req.creds = &run->ch.creds;
	req.to = run->subj.address;
	req.message_id = run->subj.provider_message_id;
	req.typing = run->agent.typing_indicator;
	req.read = run->agent.read_receipts;
	req.reaction = run->agent.working_reaction;
	req.leftover = leftover;
	req.org_id = run->job->org_id;
	req.chat_id = run->subj.chat_id;
	run->working = working_start(&req);
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
	text = chat_user_text(run->a, run->subj.body, run->subj.transcript,
	    run->voice_failed);
	if (is_group)
		text = arena_printf(run->a, "%s: %s", name, text);
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

	/* The channel now, while the connection is held (for ⏳). */
	(void)ensure_channel(run);
	if ((messages = context(run)) == NULL)
		return fail(run, JOB_RETRY, "The database is unavailable.");
	release_db(run);
	working(run, false);
	if (!lease_ok(run)) {
		cJSON_Delete(messages);
		return fail(run, JOB_RETRY, "The job's lease was lost.");
	}

	memset(&gr, 0, sizeof(gr));
	gr.pool = run->w->db;
	gr.key = run->app->key;
	gr.org_id = run->job->org_id;
	gr.agent_id = run->subj.agent_id;
	gr.agent = run->has_agent ? &run->agent : NULL;
	gr.messages = messages;
	gr.contact_name = run->subj.sender_name;
	gr.source = "reply";
	gr.timeout_ms = run->app->cfg.llm_timeout_ms;
	gr.chat_id = run->subj.chat_id;
	gr.channel_id = run->subj.channel_id;
	gr.app = run->app;
	gateway_complete(&gr, &res);
	cJSON_Delete(messages);
	/* No "typing…" refresh may land after the reply. */
	working_quiet(run->working);

	/* A success ends a run of upstream failures (best effort). */
	if (res.err == GW_OK && connect_db(run) &&
	    handoff_gateway_ok(run->db, run->job->org_id,
	    run->subj.chat_id) != DB_OK)
		log_debug("reply", "msg=\"failure count not reset\" "
		    "org=%" PRId64 " chat=%" PRId64, run->job->org_id,
		    run->subj.chat_id);
	if (res.err != GW_OK)
		jr = map_gateway(run, &res);
	else if (res.handoff) {
		/* handoff.request moved the chat; its text, not the answer. */
		jr = say_handoff(run);
	} else if (res.content == NULL || res.content[0] == '\0') {
		log_info("reply", "msg=\"the model answered nothing\" "
		    "org=%" PRId64 " message=%" PRId64 " handoff=%d",
		    run->job->org_id, run->subj.message_id, res.handoff);
		run->subj.message_id = 0;
		jr = JOB_DONE;
	} else if (!lease_ok(run))
		jr = fail(run, JOB_RETRY, "The job's lease was lost.");
	else
		jr = record(run, res.content, res.llm_call_id);
	gateway_result_cleanup(&res);
	return jr;
}

static enum job_result
map_gateway(struct reply_run *run, const struct gateway_result *res)
{
	enum db_status	 st;
	bool		 handed_off = false;

	switch (res->err) {
	case GW_UPSTREAM:
	case GW_TIMEOUT:
		/* N failures in a row for this chat: a person takes over. */
		if (!connect_db(run))
			return fail(run, JOB_RETRY, "The model call failed: %s",
			    res->error);
		st = handoff_gateway_failed(run->db, run->job->org_id,
		    run->subj.chat_id, &handed_off);
		if (st == DB_OK && handed_off)
			return say_handoff(run);
		return fail(run, JOB_RETRY, "The model call failed: %s",
		    res->error);
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
	st = outbox_record_reply(run->db, run->a, run->job->org_id,
	    run->subj.message_id, run->thread_id, llm_call_id,
	    run->part_sender, texts, (int)n, &run->parts, &run->n_parts);
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

	for (int i = 0; i < run->n_parts; i++) {
		struct out_part	*p = &run->parts[i];

		if (!str_eq(p->status, "queued") &&
		    !str_eq(p->status, "sending"))
			continue;	/* sent, delivered, read or failed */
		if (earlier_failed && str_eq(p->status, "queued")) {
			if (!connect_db(run))
				return fail(run, JOB_RETRY, "The database is "
				    "unavailable.");
			st = outbox_fail(run->db, org_id, p->id, NULL,
			    OUTBOX_EARLIER_FAILED_TEXT);
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
 * One part through the outbox's send sequence (chat/outbox.h), gated on
 * the chat's handoff status, with no connection held. A part found
 * 'sending' was interrupted: the outbox marks it unknown (recover).
 */
static enum job_result
send_part(struct reply_run *run, struct out_part *p, bool *failed)
{
	struct outbox_send	 s;
	enum outbox_result	 r;
	enum db_status		 st;

	st = ensure_channel(run);
	if (st == DB_NOT_FOUND)
		return fail(run, JOB_FAIL, "The channel is gone.");
	if (st == DB_INVALID)
		return fail(run, JOB_FAIL, "The channel cannot send: no sender "
		    "for its kind, or its credentials cannot be opened.");
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The channel's credentials could "
		    "not be read (%s).", db_status_str(st));
	release_db(run);
	if (!lease_ok(run))
		return fail(run, JOB_RETRY, "The job's lease was lost.");

	memset(&s, 0, sizeof(s));
	s.app = run->app;
	s.a = run->a;
	s.org_id = run->job->org_id;
	s.message_id = p->id;
	s.gated = true;
	s.recover = true;
	s.ch = &run->ch;
	r = outbox_send(&s);
	switch (r) {
	case OUTBOX_SENT:
		p->status = "sent";
		return JOB_DONE;
	case OUTBOX_LATER:
		p->status = "queued";
		return fail(run, JOB_RETRY, "The provider asked to try later "
		    "(HTTP %d): %s", s.o.http_status, s.o.error_text);
	case OUTBOX_REFUSED:
		log_info("reply", "msg=\"provider refused a part\" "
		    "org=%" PRId64 " part=%" PRId64 " http=%d code=\"%s\"",
		    run->job->org_id, p->id, s.o.http_status, s.o.error_code);
		p->status = "failed";
		*failed = true;
		return JOB_DONE;
	case OUTBOX_DROPPED:
	case OUTBOX_UNKNOWN:
		p->status = "failed";
		return JOB_DONE;
	case OUTBOX_GONE:
		/* Another holder of this job took the part: leave it be. */
		return fail(run, JOB_RETRY, "The part is being sent by "
		    "another worker.");
	case OUTBOX_UNAVAILABLE:
	default:
		return fail(run, JOB_RETRY, "The database is unavailable.");
	}
}

/* The payload's message_id (0: none), for the dead hook. */
static int64_t
payload_message(const struct job *job)
{
	int64_t	 id = 0;

	return payload_id(job->payload, &id) ? id : 0;
}

/*
 * The reply job is about to be dead (worker/pool.h): what it could not
 * send fails with its last error, so the timeline shows it with Resend,
 * and a message it never answered gets a note saying why.
 */
void
reply_job_dead(struct worker_ctx *w, const struct job *job, const char *why)
{
	struct reply_subject	 subj;
	struct arena		*a;
	struct db		*db;
	const char		*reason = why != NULL && why[0] != '\0' ? why :
				    "no reason given";
	int64_t			 mid = payload_message(job);
	enum db_status		 st;
	int			 n = 0;

	if (mid == 0 || (db = db_acquire(w->db)) == NULL)
		return;
	a = arena_new();
	st = outbox_give_up(db, job->org_id, mid, arena_printf(a, "Not sent: "
	    "the reply job gave up (%s)", reason), &n);
	/* Nothing was written: the message itself says it went unanswered. */
	if (st == DB_OK && n == 0 && chat_reply_subject(db, a, job->org_id,
	    mid, &subj) == DB_OK)
		st = chat_note_add_once(db, job->org_id, subj.chat_id, mid,
		    arena_printf(a, "Not answered: the reply job gave up "
		    "(%s). Retry it from the Jobs page.", reason));
	if (st != DB_OK)
		log_warn("reply", "msg=\"dead job's message not marked\" "
		    "org=%" PRId64 " message=%" PRId64 " status=%s",
		    job->org_id, mid, db_status_str(st));
	else
		log_info("reply", "msg=\"reply job dead\" org=%" PRId64
		    " message=%" PRId64 " parts_failed=%d", job->org_id, mid,
		    n);
	arena_free(a);
	db_release(db);
}
