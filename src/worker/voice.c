/*
 * voice: a voice note to text (see voice.h).
 *
 * Thread-safe: no shared state; everything lives in the call.
 */
#include "worker/voice.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "chat/media.h"
#include "chat/messages.h"
#include "db/db.h"
#include "llm/transcribe.h"
#include "model/agent.h"
#include "model/llmcall.h"
#include "model/orgmodel.h"
#include "util/arena.h"
#include "util/context.h"
#include "util/json.h"
#include "util/log.h"
#include "worker/queue.h"

#define MEDIA_ITEMS_MAX		10	/* media_files.n is 0…9 */
#define TRANSCRIBE_RETRIES	1	/* a 5xx or 429 is tried once more */

static enum job_result	 fail(char *, size_t, const char *, ...)
			    __attribute__((format(printf, 3, 4)));
static bool		 connect_db(struct voice_note *, struct db **);
static void		 release_db(struct db **);
static void		 voice_unreadable(struct voice_note *, struct db **,
			    const char *);
static void		 voice_record(struct voice_note *, struct db **,
			    const struct transcribe_result *);

static enum job_result
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return JOB_RETRY;
}

static bool
connect_db(struct voice_note *v, struct db **db)
{
	if (*db == NULL)
		*db = db_acquire(v->w->db);
	return *db != NULL;
}

static void
release_db(struct db **db)
{
	if (*db != NULL)
		db_release(*db);
	*db = NULL;
}

int
voice_item(const char *media_json, bool *has_media)
{
	cJSON		*media = json_parse_str(media_json != NULL ? media_json :
			    "[]", NULL);
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

enum job_result
voice_transcribe(struct voice_note *v, char *err, size_t errlen)
{
	struct transcribe_endpoint	 ep;
	struct transcribe_req		 tr;
	struct transcribe_result	 res;
	struct media_blob		 blob;
	const char			*why = NULL;
	const struct app		*app = v->w->app;
	struct db			*db = NULL;
	int64_t				 org_id = v->job->org_id;
	enum job_result			 jr = JOB_DONE;
	enum db_status			 st;
	bool				 stored = false;

	memset(&ep, 0, sizeof(ep));
	memset(&res, 0, sizeof(res));
	if (!connect_db(v, &db))
		return fail(err, errlen, "The database is unavailable.");
	st = transcribe_endpoint_get(db, app->key, org_id,
	    v->agent->model_id, &ep);
	if (st == DB_UNAVAILABLE) {
		jr = fail(err, errlen, "The database is unavailable.");
		goto out;
	}
	if (st != DB_OK) {
		log_warn("reply", "msg=\"voice note not transcribed: no "
		    "usable provider\" org=%" PRId64 " agent=%" PRId64
		    " message=%" PRId64 " status=%s", org_id, v->agent->id,
		    v->message_id, db_status_str(st));
		voice_unreadable(v, &db, st == DB_INVALID ? "Voice note not "
		    "transcribed: the API key of the agent's provider cannot "
		    "be decrypted with this server's master key." : "Voice "
		    "note not transcribed: the agent has no model to "
		    "transcribe with.");
		goto out;
	}
	if (ep.is_builtin) {
		log_info("reply", "msg=\"voice note not transcribed: the "
		    "built-in model cannot\" org=%" PRId64 " agent=%" PRId64
		    " message=%" PRId64, org_id, v->agent->id,
		    v->message_id);
		voice_unreadable(v, &db, "Voice note not transcribed: the "
		    "agent's model, " ORGMODEL_BUILTIN_FAQ " (built in, "
		    "offline), cannot transcribe audio. Give the agent a model "
		    "on a provider to have voice notes transcribed.");
		goto out;
	}
	release_db(&db);

	st = media_load(app, v->a, org_id, v->chat_id,
	    v->message_id, v->item, &blob, &why);
	if (st == DB_UNAVAILABLE) {
		jr = fail(err, errlen, "The database is unavailable.");
		goto out;
	}
	if (st != DB_OK) {
		log_info("reply", "msg=\"voice note not transcribed: not "
		    "downloaded\" org=%" PRId64 " message=%" PRId64 " item=%d "
		    "status=%s", org_id, v->message_id, v->item,
		    db_status_str(st));
		voice_unreadable(v, &db, arena_printf(v->a, "Voice note not "
		    "transcribed: it could not be downloaded%s%s",
		    why != NULL && why[0] != '\0' ? " (" : ".",
		    why != NULL && why[0] != '\0' ? arena_printf(v->a,
		    "%s).", why) : ""));
		goto out;
	}
	if (!worker_lease_ok(v->w)) {
		jr = fail(err, errlen, "The job's lease was lost.");
		goto out;
	}

	memset(&tr, 0, sizeof(tr));
	tr.base_url = ep.base_url;
	tr.api_key = ep.api_key;
	tr.model = v->agent->transcription_model;
	tr.data = blob.data;
	tr.len = blob.len;
	tr.content_type = blob.content_type;
	tr.timeout_ms = app->cfg.llm_timeout_ms;
	tr.max_retries = TRANSCRIBE_RETRIES;
	transcribe_audio(&tr, &res);
	/* The key is not needed any more: wipe it now. */
	transcribe_endpoint_cleanup(&ep);
	if (!worker_lease_ok(v->w)) {
		jr = fail(err, errlen, "The job's lease was lost.");
		goto out;
	}
	voice_record(v, &db, &res);

	if (res.err != TRANSCRIBE_OK || res.text == NULL ||
	    res.text[0] == '\0') {
		log_warn("reply", "msg=\"voice note not transcribed\" "
		    "org=%" PRId64 " message=%" PRId64 " model=\"%s\" err=%s "
		    "http=%d error=\"%s\"", org_id, v->message_id,
		    v->agent->transcription_model,
		    transcribe_err_str(res.err), res.http_status,
		    res.err != TRANSCRIBE_OK ? res.error : "empty transcript");
		voice_unreadable(v, &db, res.err != TRANSCRIBE_OK ?
		    arena_printf(v->a, "Voice note could not be "
		    "transcribed: %s", res.error) : "Voice note not "
		    "transcribed: the transcription was empty.");
		goto out;
	}
	if (!connect_db(v, &db)) {
		jr = fail(err, errlen, "The database is unavailable.");
		goto out;
	}
	st = chat_message_set_transcript(db, org_id,
	    v->message_id, res.text, &stored);
	if (st != DB_OK) {
		jr = fail(err, errlen, "The transcript could not be stored "
		    "(%s).", db_status_str(st));
		goto out;
	}
	v->transcript = arena_strdup(v->a, res.text);
	log_info("reply", "msg=\"voice note transcribed\" org=%" PRId64
	    " message=%" PRId64 " bytes=%zu chars=%zu ms=%" PRId64
	    " stored=%d", org_id, v->message_id, blob.len,
	    strlen(res.text), res.latency_ms, (int)stored);
out:
	release_db(&db);
	transcribe_result_cleanup(&res);
	transcribe_endpoint_cleanup(&ep);
	return jr;
}

/* The model reads CHAT_VOICE_UNREADABLE; the timeline says why. */
static void
voice_unreadable(struct voice_note *v, struct db **db, const char *why)
{
	enum db_status	 st;

	v->unreadable = true;
	if (!connect_db(v, db))
		return;
	st = chat_note_add_once(*db, v->job->org_id, v->chat_id,
	    v->message_id, why);
	if (st != DB_OK)
		log_debug("reply", "msg=\"voice note's timeline note not "
		    "added\" org=%" PRId64 " chat=%" PRId64 " status=%s",
		    v->job->org_id, v->chat_id, db_status_str(st));
}

/* The transcription in llm_calls (best effort). */
static void
voice_record(struct voice_note *v, struct db **db,
    const struct transcribe_result *res)
{
	struct llm_call_record	 rec;
	enum db_status		 st;

	if (!connect_db(v, db))
		return;
	memset(&rec, 0, sizeof(rec));
	rec.org_id = v->job->org_id;
	rec.agent_id = v->agent->id;
	rec.model_name = v->agent->transcription_model;
	rec.source = "reply";
	rec.latency_ms = res->latency_ms > INT32_MAX ? INT32_MAX :
	    (int)res->latency_ms;
	rec.rounds = res->attempts;
	rec.error = res->err != TRANSCRIBE_OK ? res->error : NULL;
	st = llmcall_insert(*db, &rec, NULL);
	if (st != DB_OK)
		log_debug("reply", "msg=\"transcription not recorded\" "
		    "org=%" PRId64 " status=%s", v->job->org_id,
		    db_status_str(st));
}

