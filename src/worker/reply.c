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
 * Failover (README, "Running several replicas"). The bookkeeping around a
 * provider call waits out a database that went away (up to RIDE_OUT_MS)
 * rather than leave a part 'sending'. A run whose queued → sending update
 * failed as unavailable cannot tell whether it committed, but knows it
 * called no provider: once the database is back it puts the part back to
 * 'queued', under its lease. An outcome update whose connection died is
 * tried once more; "not found" then means the first one committed.
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
 * WORKING. While the model works, providers with reactions show ⏳ on the
 * inbound message (removed once the reply is sent); the others get a
 * typing indicator when they have one. Both are best effort: a failure
 * is logged at debug level and never holds up the reply.
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
 * sending (chat_outbox_sending_gated): an answer part needs 'ai', a
 * handoff part needs needs_human|human. A part that loses is marked
 * failed "handoff: a person took over" and never sent.
 *
 * SESSIONS. A chat idle longer than its agent's session_timeout_minutes
 * starts a new thread with its next message (before the history is read).
 *
 * MEDIA AND VOICE NOTES. Every run for a message with media first has
 * chat/media download what is not stored yet (no connection held: it
 * takes its own), before the route and the handoff gate, so a chat that
 * a person has (or that is never answered) still keeps its media. Then,
 * unless the model was already asked (parts exist), for the first audio
 * item of a message without a transcript whose agent has a
 * transcription_model: the bytes are loaded, sent to the agent's
 * provider's /audio/transcriptions with no connection held (llm/
 * transcribe.h), and the transcript is stored on the message BEFORE the
 * model is asked, so a retried run reuses it and never transcribes twice
 * (a Kapso transcript, stored at ingest, is used the same way). The
 * model reads it as the user's text (chat_user_text) and the escalation
 * keywords are matched against it too. A voice note that cannot be
 * transcribed (the built-in parley/faq has no provider, the download or
 * the provider failed) does not lose the message: the model reads
 * CHAT_VOICE_UNREADABLE in its place, the failure is logged (never the
 * audio or a key) and a note in the chat's timeline says why. The call
 * is recorded in llm_calls (source "reply", the transcription model).
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

#include "app/app.h"
#include "util/log.h"
#include "channels/channel.h"
#include "channels/split.h"
#include "chat/commands.h"
#include "chat/connect.h"
#include "chat/handoff.h"
#include "chat/media.h"
#include "chat/texts.h"
#include "chat/threads.h"
#include "db/db.h"
#include "llm/gateway.h"
#include "llm/transcribe.h"
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

#define REPLY_PARTS_MAX		64	/* 64 × 1600 characters at least */
#define STATUS_CALLBACK_PATH	"/webhooks/whatsapp/twilio/status"
#define UNKNOWN_DELIVERY	"delivery unknown: the worker stopped while " \
				"sending"
#define EARLIER_FAILED		"an earlier part failed"
#define WORKING_EMOJI		"\xe2\x8f\xb3"	/* U+23F3 ⏳ */
#define MEDIA_ITEMS_MAX		10	/* media_files.n is 0…9 */
#define TRANSCRIBE_RETRIES	1	/* a 5xx or 429 is tried once more */
/* How long a part's bookkeeping around its provider call waits out a
 * database that went away (a failover: seconds without a primary). */
#define RIDE_OUT_MS		30000

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
	bool				 has_agent;
	struct route_decision		 route;
	bool				 resumed;	/* parts existed */
	bool				 busy_taken;
	bool				 indicated;	/* ⏳ or typing sent */
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
static bool		 heartbeat(struct reply_run *);
static enum job_result	 load(struct reply_run *);
static enum job_result	 media(struct reply_run *);
static int		 voice_item(const char *, bool *);
static enum job_result	 transcribe(struct reply_run *, int);
static void		 voice_unreadable(struct reply_run *, const char *);
static void		 voice_record(struct reply_run *,
			    const struct transcribe_result *);
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
static enum db_status	 ensure_creds(struct reply_run *);
static void		 indicate(struct reply_run *, bool);
static enum job_result	 answer(struct reply_run *);
static cJSON		*context(struct reply_run *);
static enum job_result	 record(struct reply_run *, const char *, int64_t);
static enum job_result	 deliver(struct reply_run *);
static bool		 connect_db_wait(struct reply_run *);
static enum job_result	 unmark_sending(struct reply_run *,
			    struct out_part *);
static enum db_status	 record_send(struct reply_run *, struct out_part *,
			    enum send_result, const struct send_outcome *,
			    bool *);
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
	/* ⏳ comes off once the reply is out (or will never be). */
	if (res != JOB_RETRY && run.route.action == ROUTE_ANSWER &&
	    (run.indicated || run.resumed))
		indicate(&run, false);
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

/* connect_db, waiting out a failover (RIDE_OUT_MS). */
static bool
connect_db_wait(struct reply_run *run)
{
	if (run->db == NULL)
		run->db = db_acquire_wait(run->w->db, RIDE_OUT_MS);
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
 * Renews the lease; false when it is lost. Through the run's connection
 * when it holds one: worker_heartbeat takes a second one from the pool,
 * and a run that waits for a second connection while holding one can,
 * with every worker doing it, empty the pool until acquires time out
 * (bench/run.sh's reply phase: 3-second stalls and webhooks answered 503).
 */
static bool
heartbeat(struct reply_run *run)
{
	if (run->db == NULL)
		return worker_heartbeat(run->w, run->job);
	return worker_heartbeat_on(run->w, run->db, run->job);
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
	st = chat_outbox_parts(run->db, run->a, org_id, message_id,
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
	int64_t	 org_id = run->job->org_id;
	int	 n;
	bool	 has_media = false;

	n = voice_item(run->subj.media, &has_media);
	if (!has_media)
		return JOB_DONE;
	release_db(run);
	if (media_fetch_message(run->app, org_id, run->subj.message_id) < 0)
		return fail(run, JOB_RETRY, "The database is unavailable.");
	if (!heartbeat(run))
		return fail(run, JOB_RETRY, "The job's lease was lost.");
	if (n < 0 || run->n_parts > 0 || !run->has_agent ||
	    run->agent.transcription_model == NULL ||
	    run->agent.transcription_model[0] == '\0' ||
	    run->subj.transcript[0] != '\0')
		return JOB_DONE;
	return transcribe(run, n);
}

/*
 * The index of the message's first audio item (a voice note, or any
 * audio type), -1 when none; *has_media says whether it has any item.
 */
static int
voice_item(const char *media_json, bool *has_media)
{
	cJSON		*media = cJSON_Parse(media_json != NULL ? media_json :
			    "[]");
	const cJSON	*items, *e;
	const char	*ct;
	int		 i = 0, found = -1;

	items = cJSON_IsArray(media) ? media : NULL;
	*has_media = cJSON_GetArraySize(items) > 0;
	cJSON_ArrayForEach(e, items) {
		if (i >= MEDIA_ITEMS_MAX)
			break;
		ct = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e,
		    "contentType"));
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e,
		    "voice")) || (ct != NULL && strncasecmp(ct, "audio/",
		    6) == 0)) {
			found = i;
			break;
		}
		i++;
	}
	cJSON_Delete(media);
	return found;
}

/*
 * Item n of the message to text with the agent's transcription_model on
 * its model's provider, stored on the message before anything else
 * happens. Holds no connection while the audio is fetched or sent.
 */
static enum job_result
transcribe(struct reply_run *run, int n)
{
	struct transcribe_endpoint	 ep;
	struct transcribe_req		 tr;
	struct transcribe_result	 res;
	struct media_blob		 blob;
	const char			*why = NULL;
	int64_t				 org_id = run->job->org_id;
	enum job_result			 jr = JOB_DONE;
	enum db_status			 st;
	bool				 stored = false;

	memset(&ep, 0, sizeof(ep));
	memset(&res, 0, sizeof(res));
	if (!connect_db(run))
		return fail(run, JOB_RETRY, "The database is unavailable.");
	st = transcribe_endpoint_get(run->db, run->app->key, org_id,
	    run->agent.model_id, &ep);
	if (st == DB_UNAVAILABLE) {
		jr = fail(run, JOB_RETRY, "The database is unavailable.");
		goto out;
	}
	if (st != DB_OK) {
		log_warn("reply", "msg=\"voice note not transcribed: no "
		    "usable provider\" org=%" PRId64 " agent=%" PRId64
		    " message=%" PRId64 " status=%s", org_id, run->agent.id,
		    run->subj.message_id, db_status_str(st));
		voice_unreadable(run, st == DB_INVALID ? "Voice note not "
		    "transcribed: the API key of the agent's provider cannot "
		    "be decrypted with this server's master key." : "Voice "
		    "note not transcribed: the agent has no model to "
		    "transcribe with.");
		goto out;
	}
	if (ep.is_builtin) {
		log_info("reply", "msg=\"voice note not transcribed: the "
		    "built-in model cannot\" org=%" PRId64 " agent=%" PRId64
		    " message=%" PRId64, org_id, run->agent.id,
		    run->subj.message_id);
		voice_unreadable(run, "Voice note not transcribed: the "
		    "agent's model, " ORGMODEL_BUILTIN_FAQ " (built in, "
		    "offline), cannot transcribe audio. Give the agent a model "
		    "on a provider to have voice notes transcribed.");
		goto out;
	}
	release_db(run);

	st = media_load(run->app, run->a, org_id, run->subj.chat_id,
	    run->subj.message_id, n, &blob, &why);
	if (st == DB_UNAVAILABLE) {
		jr = fail(run, JOB_RETRY, "The database is unavailable.");
		goto out;
	}
	if (st != DB_OK) {
		log_info("reply", "msg=\"voice note not transcribed: not "
		    "downloaded\" org=%" PRId64 " message=%" PRId64 " item=%d "
		    "status=%s", org_id, run->subj.message_id, n,
		    db_status_str(st));
		voice_unreadable(run, arena_printf(run->a, "Voice note not "
		    "transcribed: it could not be downloaded%s%s",
		    why != NULL && why[0] != '\0' ? " (" : ".",
		    why != NULL && why[0] != '\0' ? arena_printf(run->a,
		    "%s).", why) : ""));
		goto out;
	}
	if (!heartbeat(run)) {
		jr = fail(run, JOB_RETRY, "The job's lease was lost.");
		goto out;
	}

	memset(&tr, 0, sizeof(tr));
	tr.base_url = ep.base_url;
	tr.api_key = ep.api_key;
	tr.model = run->agent.transcription_model;
	tr.data = blob.data;
	tr.len = blob.len;
	tr.content_type = blob.content_type;
	tr.timeout_ms = run->app->cfg.llm_timeout_ms;
	tr.max_retries = TRANSCRIBE_RETRIES;
	transcribe_audio(&tr, &res);
	/* The key is not needed any more: wipe it now. */
	transcribe_endpoint_cleanup(&ep);
	if (!heartbeat(run)) {
		jr = fail(run, JOB_RETRY, "The job's lease was lost.");
		goto out;
	}
	voice_record(run, &res);

	if (res.err != TRANSCRIBE_OK || res.text == NULL ||
	    res.text[0] == '\0') {
		log_warn("reply", "msg=\"voice note not transcribed\" "
		    "org=%" PRId64 " message=%" PRId64 " model=\"%s\" err=%s "
		    "http=%d error=\"%s\"", org_id, run->subj.message_id,
		    run->agent.transcription_model,
		    transcribe_err_str(res.err), res.http_status,
		    res.err != TRANSCRIBE_OK ? res.error : "empty transcript");
		voice_unreadable(run, res.err != TRANSCRIBE_OK ?
		    arena_printf(run->a, "Voice note could not be "
		    "transcribed: %s", res.error) : "Voice note not "
		    "transcribed: the transcription was empty.");
		goto out;
	}
	if (!connect_db(run)) {
		jr = fail(run, JOB_RETRY, "The database is unavailable.");
		goto out;
	}
	st = chat_message_set_transcript(run->db, org_id,
	    run->subj.message_id, res.text, &stored);
	if (st != DB_OK) {
		jr = fail(run, JOB_RETRY, "The transcript could not be stored "
		    "(%s).", db_status_str(st));
		goto out;
	}
	run->subj.transcript = arena_strdup(run->a, res.text);
	log_info("reply", "msg=\"voice note transcribed\" org=%" PRId64
	    " message=%" PRId64 " bytes=%zu chars=%zu ms=%" PRId64
	    " stored=%d", org_id, run->subj.message_id, blob.len,
	    strlen(res.text), res.latency_ms, (int)stored);
out:
	transcribe_result_cleanup(&res);
	transcribe_endpoint_cleanup(&ep);
	return jr;
}

/* The model reads CHAT_VOICE_UNREADABLE; the timeline says why. */
static void
voice_unreadable(struct reply_run *run, const char *why)
{
	enum db_status	 st;

	run->voice_failed = true;
	if (!connect_db(run))
		return;
	st = chat_note_add_once(run->db, run->job->org_id, run->subj.chat_id,
	    run->subj.message_id, why);
	if (st != DB_OK)
		log_debug("reply", "msg=\"voice note's timeline note not "
		    "added\" org=%" PRId64 " chat=%" PRId64 " status=%s",
		    run->job->org_id, run->subj.chat_id, db_status_str(st));
}

/* The transcription in llm_calls (best effort). */
static void
voice_record(struct reply_run *run, const struct transcribe_result *res)
{
	struct llm_call_record	 rec;
	enum db_status		 st;

	if (!connect_db(run))
		return;
	memset(&rec, 0, sizeof(rec));
	rec.org_id = run->job->org_id;
	rec.agent_id = run->agent.id;
	rec.model_name = run->agent.transcription_model;
	rec.source = "reply";
	rec.latency_ms = res->latency_ms > INT32_MAX ? INT32_MAX :
	    (int)res->latency_ms;
	rec.rounds = res->attempts;
	rec.error = res->err != TRANSCRIBE_OK ? res->error : NULL;
	st = llmcall_insert(run->db, &rec, NULL);
	if (st != DB_OK)
		log_debug("reply", "msg=\"transcription not recorded\" "
		    "org=%" PRId64 " status=%s", run->job->org_id,
		    db_status_str(st));
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
	in.has_agent = run->has_agent;
	if (run->has_agent) {
		in.agent_name = run->agent.name;
		in.reset_command = run->agent.reset_command;
		in.allow_list = (const char *const *)run->agent.allow_list;
		in.n_allow = run->agent.n_allow;
		in.require_mention = run->agent.require_mention;
		/* "@<our number>" is how WhatsApp writes a mention of us. */
		if (in.is_group && in.require_mention &&
		    ensure_creds(run) == DB_OK)
			in.channel_number = run->creds.phone_number;
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
	st = connect_redeem(run->db, org_id, run->subj.channel_id,
	    run->subj.chat_id, run->subj.sender, run->route.code, &oc,
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
 * The chat's handoff status decides before any route: 'ai' goes on, a
 * closed chat reopens as 'ai', needs_human and human end the job
 * silently (the message is stored and shown; nothing is sent).
 */
static enum job_result
gate(struct reply_run *run)
{
	char		 status[16];
	enum db_status	 st;
	bool		 reopened = false;
	int64_t		 org_id = run->job->org_id;

	if (!connect_db(run))
		return fail(run, JOB_RETRY, "The database is unavailable.");
	st = handoff_status(run->db, org_id, run->subj.chat_id, status);
	if (st == DB_NOT_FOUND) {
		run->subj.message_id = 0;
		return JOB_DONE;
	}
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The database is unavailable.");
	if (str_eq(status, "closed")) {
		st = handoff_reopen(run->db, org_id, run->subj.chat_id,
		    &reopened);
		if (st != DB_OK)
			return fail(run, JOB_RETRY, "The chat could not be "
			    "reopened (%s).", db_status_str(st));
		log_info("reply", "msg=\"closed chat reopened\" org=%" PRId64
		    " chat=%" PRId64, org_id, run->subj.chat_id);
		return JOB_DONE;
	}
	if (str_eq(status, "ai"))
		return JOB_DONE;
	log_info("reply", "msg=\"a person has the chat, not answered\" "
	    "org=%" PRId64 " chat=%" PRId64 " message=%" PRId64 " status=%s",
	    org_id, run->subj.chat_id, run->subj.message_id, status);
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

/* The channel's credentials, read once per run (needs the connection). */
static enum db_status
ensure_creds(struct reply_run *run)
{
	enum db_status	 st;

	if (run->has_creds)
		return DB_OK;
	if (!connect_db(run))
		return DB_UNAVAILABLE;
	st = reply_channel_creds(run->app, run->db, run->a, run->job->org_id,
	    run->subj.channel_id, &run->creds, &run->secrets);
	if (st == DB_OK)
		run->has_creds = true;
	else
		channel_secrets_free(&run->secrets);
	return st;
}

/*
 * The working indicator (best effort, see the DESIGN note): on, ⏳ or a
 * typing indicator; off, the reaction removed (typing indicators end by
 * themselves). Call without holding the connection when possible: this
 * is a provider call.
 */
static void
indicate(struct reply_run *run, bool on)
{
	struct send_outcome	 o;
	enum send_result	 sr;
	const char		*pid = run->subj.provider_message_id;

	if (pid == NULL || pid[0] == '\0' || ensure_creds(run) != DB_OK)
		return;
	memset(&o, 0, sizeof(o));
	if (run->ops->send_reaction != NULL) {
		release_db(run);
		sr = run->ops->send_reaction(&run->creds,
		    run->subj.chat_external_id, pid, on ? WORKING_EMOJI : "",
		    &o);
	} else if (on && run->ops->send_typing != NULL) {
		release_db(run);
		sr = run->ops->send_typing(&run->creds, pid, &o);
	} else
		return;
	if (on)
		run->indicated = true;
	if (sr != SEND_OK)
		log_debug("reply", "msg=\"working indicator not shown\" "
		    "org=%" PRId64 " message=%" PRId64 " on=%d http=%d "
		    "error=\"%s\"", run->job->org_id, run->subj.message_id,
		    (int)on, o.http_status, o.error_text);
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

	/* Credentials now, while the connection is held (for ⏳). */
	(void)ensure_creds(run);
	if ((messages = context(run)) == NULL)
		return fail(run, JOB_RETRY, "The database is unavailable.");
	release_db(run);
	indicate(run, true);
	if (!heartbeat(run)) {
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
	} else if (!heartbeat(run))
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
	if (run->part_sender != NULL)
		st = chat_outbox_record_sender(run->db, run->a,
		    run->job->org_id, run->subj.message_id, run->thread_id,
		    run->part_sender, texts, (int)n, &run->parts,
		    &run->n_parts);
	else
		st = chat_outbox_record(run->db, run->a, run->job->org_id,
		    run->subj.message_id, run->thread_id, llm_call_id, texts,
		    (int)n, &run->parts, &run->n_parts);
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

	st = ensure_creds(run);
	if (st == DB_NOT_FOUND)
		return fail(run, JOB_FAIL, "The channel is gone.");
	if (st != DB_OK)
		return fail(run, JOB_RETRY, "The channel's credentials could "
		    "not be read (%s).", db_status_str(st));
	release_db(run);
	if (!heartbeat(run))
		return fail(run, JOB_RETRY, "The job's lease was lost.");
	if (!connect_db(run))
		return fail(run, JOB_RETRY, "The database is unavailable.");
	st = chat_outbox_sending_gated(run->db, org_id, p->id);
	if (st == DB_CONFLICT) {
		log_info("reply", "msg=\"part dropped: a person took over\" "
		    "org=%" PRId64 " part=%" PRId64, org_id, p->id);
		st = chat_outbox_failed(run->db, org_id, p->id, NULL,
		    HANDOFF_DROPPED_TEXT);
		if (st != DB_OK && st != DB_NOT_FOUND)
			return fail(run, JOB_RETRY, "The database is "
			    "unavailable.");
		p->status = "failed";
		return JOB_DONE;
	}
	if (st == DB_NOT_FOUND) {
		/* Another holder of this job took the part: leave it be. */
		return fail(run, JOB_RETRY, "The part is being sent by "
		    "another worker.");
	}
	if (st != DB_OK)
		return unmark_sending(run, p);
	release_db(run);

	memset(&o, 0, sizeof(o));
	sr = run->ops->send_text(&run->creds, run->subj.chat_external_id,
	    str_eq(run->subj.chat_kind, "group"), p->body, &o);

	if (!connect_db_wait(run)) {
		/* The part stays 'sending': the next run calls it unknown. */
		log_err("reply", "msg=\"send outcome not recorded\" "
		    "org=%" PRId64 " part=%" PRId64 " result=%d", org_id,
		    p->id, (int)sr);
		return fail(run, JOB_RETRY, "The database is unavailable.");
	}
	if (sr == SEND_FAILED)
		log_info("reply", "msg=\"provider refused a part\" "
		    "org=%" PRId64 " part=%" PRId64 " http=%d code=\"%s\"",
		    org_id, p->id, o.http_status, o.error_code);
	st = record_send(run, p, sr, &o, failed);
	if (st == DB_UNAVAILABLE) {
		/* The connection died under the update, which may or may not
		 * have committed: once more on a new one. Each outcome needs
		 * the part still 'sending', so "not found" now means the
		 * first try committed. */
		release_db(run);
		if (connect_db_wait(run) &&
		    (st = record_send(run, p, sr, &o, failed)) == DB_NOT_FOUND)
			st = DB_OK;
	}
	if (st == DB_OK && sr == SEND_RETRY)
		return fail(run, JOB_RETRY, "The provider asked to try later "
		    "(HTTP %d): %s", o.http_status, o.error_text);
	if (st != DB_OK) {
		log_err("reply", "msg=\"send outcome not recorded\" "
		    "org=%" PRId64 " part=%" PRId64 " status=%s", org_id,
		    p->id, db_status_str(st));
		return fail(run, JOB_RETRY, "The send's outcome could not be "
		    "recorded.");
	}
	return JOB_DONE;
}

/* The provider's answer for a part, recorded (the part must be 'sending'). */
static enum db_status
record_send(struct reply_run *run, struct out_part *p, enum send_result sr,
    const struct send_outcome *o, bool *failed)
{
	int64_t	 org_id = run->job->org_id;

	switch (sr) {
	case SEND_OK:
		p->status = "sent";
		return chat_outbox_sent(run->db, org_id, p->id,
		    o->provider_message_id);
	case SEND_RETRY:
		return chat_outbox_requeue(run->db, org_id, p->id,
		    o->error_text);
	case SEND_FAILED:
	default:
		p->status = "failed";
		*failed = true;
		return chat_outbox_failed(run->db, org_id, p->id, o->error_code,
		    o->error_text[0] != '\0' ? o->error_text :
		    "The provider refused the message.");
	}
}

/*
 * The update that takes a part for sending failed as unavailable. It may
 * have committed all the same (the server went away before answering, as
 * in a failover): the part would stay 'sending' though no provider was
 * called, and the next run would call it "delivery unknown", a message
 * never answered. This run knows it did not send, so once the database is
 * back it puts the part back to 'queued', in one transaction with a check
 * that the job's lease is still its own (so no other run can be sending
 * it). If even that cannot be done the part is left as it is: unknown,
 * never sent twice.
 */
static enum job_result
unmark_sending(struct reply_run *run, struct out_part *p)
{
	enum db_status	 st = DB_UNAVAILABLE;

	release_db(run);
	if (connect_db_wait(run) && db_tx_begin(run->db) == DB_OK) {
		st = queue_extend_lease_any_org(run->db, run->job->id,
		    run->w->worker_id, run->w->lease_s);
		if (st == DB_OK) {
			st = chat_outbox_requeue(run->db, run->job->org_id,
			    p->id, NULL);
			if (st == DB_NOT_FOUND)
				st = DB_OK;	/* it never left 'queued' */
		}
		if (st == DB_OK)
			st = db_tx_commit(run->db);
		db_tx_rollback(run->db);
	}
	if (st == DB_OK)
		run->w->lease_set_ms = time_mono_ms();
	else
		log_err("reply", "msg=\"part not sent, but perhaps marked "
		    "sending\" org=%" PRId64 " part=%" PRId64 " status=%s",
		    run->job->org_id, p->id, db_status_str(st));
	return fail(run, JOB_RETRY, "The database was unavailable; the part "
	    "was not sent.");
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
