/*
 * api/proactive: the REST API of proactive messaging (docs/api.md):
 *
 *   GET    /api/v1/channels/{id}/templates          the synced templates
 *   PATCH  /api/v1/channels/{id}/templates          {"wabaId"}: the source
 *   POST   /api/v1/channels/{id}/templates/sync     sync now (200 | 502)
 *   POST   /api/v1/conversations/{id}/templates     send one to the chat
 *   GET    /api/v1/conversations/{id}/hold          the window's hold
 *   GET|PUT /api/v1/agents/{id}/followup            the follow-up setting
 *   GET|POST /api/v1/agents/{id}/schedules          list, create
 *   GET|PATCH|DELETE /api/v1/agents/{id}/schedules/{sid}
 *   POST   /api/v1/agents/{id}/schedules/{sid}/run  run now (202)
 *   GET    /api/v1/agents/{id}/runs[?schedule=sid]  history with deliveries
 *
 * Each handler parses, calls the owner (model/template, model/followup,
 * model/schedule, chat/templates, chat/window) and maps the outcome; a
 * sync or a send releases the request's connection before the provider
 * answers. Every change is audited.
 */
#include "api/api.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "chat/chats.h"
#include "chat/outbox.h"
#include "chat/templates.h"
#include "chat/window.h"
#include "db/db.h"
#include "http/audit.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/agent.h"
#include "model/channel.h"
#include "model/fielderr.h"
#include "model/followup.h"
#include "model/schedule.h"
#include "model/template.h"
#include "util/arena.h"
#include "util/context.h"
#include "util/json.h"
#include "util/str.h"
#include "worker/schedule.h"

#define RUNS_DEFAULT	20

static const struct api_field schedule_fields[] = {
	{ "name", API_STR }, { "kind", API_STR }, { "cron", API_STR },
	{ "intervalSeconds", API_INT }, { "timeZone", API_STR },
	{ "prompt", API_STR }, { "target", API_STR }, { "chatIds", API_IDS },
	{ "recipientChannelId", API_ID_NULL }, { "recipient", API_STR_NULL },
	{ "heartbeat", API_BOOL }, { "enabled", API_BOOL },
	{ NULL, API_STR },
};
static const struct api_field followup_fields[] = {
	{ "template", API_STR }, { "language", API_STR },
	{ "continue", API_STR }, { NULL, API_STR },
};
static const struct api_field send_fields[] = {
	{ "templateId", API_ID_NULL }, { "variables", API_STR_MAP },
	{ NULL, API_STR },
};
static const struct api_field waba_fields[] = {
	{ "wabaId", API_STR }, { NULL, API_STR },
};

static cJSON	*template_json(struct arena *, const struct template *);
static int	 templates_reply(struct req *, int, int64_t);
static int	 org_channel(struct req *, int64_t);
static int	 org_agent(struct req *, int64_t);
static cJSON	*schedule_json(const struct schedule *);
static int	 schedule_reply(struct req *, int, int64_t, int64_t);
static int	 schedule_saved(struct req *, enum db_status,
		    const struct field_errors *, const char *, int, int64_t,
		    int64_t, const char *);
static void	 schedule_overlay(struct req *, struct schedule_input *,
		    int64_t *);
static cJSON	*runs_json(const struct schedule_run *, int);
static int	 followup_reply(struct req *, int, int64_t);

/* 0 when id is the org's channel; else the status sent (404, 503). */
static int
org_channel(struct req *r, int64_t id)
{
	struct channel	 ch;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	switch (channel_get(r->db, r->arena, r->org_id, id, &ch)) {
	case DB_OK:
		return 0;
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/* 0 when id is the org's agent; else the status sent. */
static int
org_agent(struct req *r, int64_t id)
{
	struct agent	 a;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	switch (agent_get(r->db, r->arena, r->org_id, id, &a)) {
	case DB_OK:
		return 0;
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/* --- templates ----------------------------------------------------------- */

static cJSON *
template_json(struct arena *a, const struct template *t)
{
	cJSON	*o = cJSON_CreateObject();
	cJSON	*vars = json_parse_str(t->variables, NULL);
	cJSON	*buttons = json_parse_str(t->buttons, NULL);
	cJSON	*params;

	cJSON_AddNumberToObject(o, "id", (double)t->id);
	cJSON_AddStringToObject(o, "name", t->name);
	cJSON_AddStringToObject(o, "language", t->language);
	cJSON_AddStringToObject(o, "status", t->status);
	cJSON_AddStringToObject(o, "category", t->category);
	cJSON_AddStringToObject(o, "parameterFormat", t->format);
	cJSON_AddStringToObject(o, "contentType", t->content_type);
	cJSON_AddStringToObject(o, "providerId", t->provider_id);
	cJSON_AddStringToObject(o, "header", t->header);
	cJSON_AddStringToObject(o, "body", t->body);
	cJSON_AddStringToObject(o, "footer", t->footer);
	cJSON_AddItemToObject(o, "variables", vars != NULL ? vars :
	    cJSON_CreateArray());
	cJSON_AddItemToObject(o, "buttons", buttons != NULL ? buttons :
	    cJSON_CreateArray());
	/* The preview with the provider's sample values. */
	params = template_params(t, NULL, true, NULL, 0);
	cJSON_AddStringToObject(o, "preview", template_preview(a, t, params));
	cJSON_Delete(params);
	cJSON_AddStringToObject(o, "syncedAt", t->synced_at);
	return o;
}

static int
templates_reply(struct req *r, int status, int64_t channel_id)
{
	struct template		*ts;
	struct template_sync	 sync;
	enum db_status		 st;
	cJSON			*out, *arr, *so;
	int			 n = 0, rc;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = template_sync_get(r->db, r->arena, r->org_id, channel_id, &sync);
	if (st == DB_OK)
		st = template_list(r->db, r->arena, r->org_id, channel_id,
		    false, &ts, &n);
	if (st != DB_OK)
		return resp_unavailable(r);
	out = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(out, "data");
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, template_json(r->arena, &ts[i]));
	so = cJSON_AddObjectToObject(out, "sync");
	cJSON_AddStringToObject(so, "wabaId", sync.waba_id);
	if (sync.synced_at != NULL)
		cJSON_AddStringToObject(so, "syncedAt", sync.synced_at);
	else
		cJSON_AddNullToObject(so, "syncedAt");
	if (sync.last_error[0] != '\0')
		cJSON_AddStringToObject(so, "lastError", sync.last_error);
	else
		cJSON_AddNullToObject(so, "lastError");
	rc = resp_json(r, status, out);
	cJSON_Delete(out);
	return rc;
}

/* GET /api/v1/channels/{id}/templates */
int
api_templates_list(struct req *r)
{
	int64_t	 id;
	int	 rc;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if ((rc = org_channel(r, id)) != 0)
		return rc;
	return templates_reply(r, 200, id);
}

/* PATCH /api/v1/channels/{id}/templates {"wabaId": "…"} */
int
api_templates_source(struct req *r)
{
	struct field_errors	 errs = { 0 };
	const char		*waba;
	int64_t			 id;
	int			 rc;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if ((rc = api_check_types(r, waba_fields)) != 0)
		return rc;
	if ((rc = org_channel(r, id)) != 0)
		return rc;
	waba = api_str(r, "wabaId") != NULL ? api_str(r, "wabaId") : "";
	switch (template_set_waba(r->db, r->org_id, id, waba)) {
	case DB_OK:
		audit(r, "template.source_set", "channel", id, waba);
		return templates_reply(r, 200, id);
	case DB_INVALID:
		field_error_add(&errs, "wabaId", "A WhatsApp Business Account "
		    "ID is digits only (at most 32).");
		return api_invalid(r, &errs);
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/* POST /api/v1/channels/{id}/templates/sync */
int
api_templates_sync(struct req *r)
{
	char	 err[512];
	int64_t	 id;
	int	 n = 0, rc;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if ((rc = org_channel(r, id)) != 0)
		return rc;
	/* No connection held while the provider lists. */
	req_release_db(r);
	switch (templates_sync(r->app, r->org_id, id, &n, err, sizeof(err))) {
	case TEMPLATES_OK:
		audit(r, "template.synced", "channel", id, arena_printf(r->arena,
		    "%d templates", n));
		return templates_reply(r, 200, id);
	case TEMPLATES_NOT_FOUND:
		return resp_not_found(r);
	case TEMPLATES_UNSUPPORTED:
		audit(r, "template.sync_failed", "channel", id, err);
		return resp_error(r, 422, "unsupported", err);
	case TEMPLATES_REFUSED:
		audit(r, "template.sync_failed", "channel", id, err);
		return resp_error(r, 502, "provider_refused", err);
	case TEMPLATES_LATER:
		audit(r, "template.sync_failed", "channel", id, err);
		return resp_error(r, 503, "provider_unavailable", err);
	default:
		return resp_unavailable(r);
	}
}

/* POST /api/v1/conversations/{id}/templates {"templateId", "variables"} */
int
api_conversation_template(struct req *r)
{
	struct outbox_send	 s;
	struct outbox_new	 nw;
	const cJSON		*tid;
	char			 err[512];
	int64_t			 id;
	int			 rc;
	enum outbox_result	 res;
	cJSON			*out;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if ((rc = api_check_types(r, send_fields)) != 0)
		return rc;
	tid = cJSON_GetObjectItemCaseSensitive(r->json, "templateId");
	if (!cJSON_IsNumber(tid))
		return resp_bad_request(r, "templateId is required: the id of "
		    "one of the channel's templates.");
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	switch (templates_send(r->app, r->db, r->arena, r->org_id, id,
	    (int64_t)tid->valuedouble, cJSON_GetObjectItemCaseSensitive(
	    r->json, "variables"), 0, &nw, err, sizeof(err))) {
	case TEMPLATES_OK:
		break;
	case TEMPLATES_NOT_FOUND:
		return resp_not_found(r);
	case TEMPLATES_REFUSED:
		return resp_error(r, 422, "invalid", err);
	default:
		return resp_unavailable(r);
	}
	req_release_db(r);
	memset(&s, 0, sizeof(s));
	s.app = r->app;
	s.a = r->arena;
	s.org_id = r->org_id;
	s.message_id = nw.message_id;
	s.job_id = nw.job_id;
	res = outbox_send(&s);
	audit(r, "template.sent", "chat", id, arena_printf(r->arena,
	    "template %" PRId64 ": %s", (int64_t)tid->valuedouble,
	    outbox_result_str(res)));
	out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "messageId", (double)nw.message_id);
	cJSON_AddStringToObject(out, "result", outbox_result_str(res));
	if (s.o.error_text[0] != '\0')
		cJSON_AddStringToObject(out, "error", s.o.error_text);
	rc = resp_json(r, res == OUTBOX_REFUSED ? 502 : 201, out);
	cJSON_Delete(out);
	return rc;
}

/* GET /api/v1/conversations/{id}/hold */
int
api_conversation_hold(struct req *r)
{
	struct window_view	 v;
	struct chat_ref		 chat;
	int64_t			 id;
	enum db_status		 st;
	cJSON			*out, *arr, *o;
	int			 rc;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	/* The chat must be the org's: window_view would answer empty. */
	st = chat_get_ref(r->db, r->arena, r->org_id, id, &chat);
	if (st == DB_OK)
		st = window_view(r->db, r->arena, r->org_id, id, &v);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	out = cJSON_CreateObject();
	cJSON_AddBoolToObject(out, "held", v.has_hold);
	if (v.hold_id != 0) {
		cJSON_AddNumberToObject(out, "holdId", (double)v.hold_id);
		cJSON_AddStringToObject(out, "openedAt", v.opened_at);
	}
	if (v.template_message_id != 0) {
		cJSON_AddNumberToObject(out, "templateMessageId",
		    (double)v.template_message_id);
		cJSON_AddStringToObject(out, "templateStatus",
		    v.template_status);
	}
	if (v.template_error[0] != '\0')
		cJSON_AddStringToObject(out, "templateError", v.template_error);
	arr = cJSON_AddArrayToObject(out, "messages");
	for (int i = 0; i < v.n_held; i++) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)v.held[i].id);
		cJSON_AddStringToObject(o, "body", v.held[i].body);
		cJSON_AddStringToObject(o, "createdAt", v.held[i].created_at);
		if (v.held[i].schedule_run_id != 0)
			cJSON_AddNumberToObject(o, "scheduleRunId",
			    (double)v.held[i].schedule_run_id);
		cJSON_AddItemToArray(arr, o);
	}
	rc = resp_json(r, 200, out);
	cJSON_Delete(out);
	return rc;
}

/* --- the follow-up setting ----------------------------------------------- */

static int
followup_reply(struct req *r, int status, int64_t agent_id)
{
	struct followup	 f;
	cJSON		*out, *arr, *o;
	int		 rc;

	switch (followup_get(r->db, r->arena, r->org_id, agent_id, &f)) {
	case DB_OK:
		break;
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "template", f.template_name);
	cJSON_AddStringToObject(out, "language", f.language);
	cJSON_AddStringToObject(out, "continue", f.continue_delivers);
	arr = cJSON_AddArrayToObject(out, "channels");
	for (int i = 0; i < f.n_channels; i++) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "channelId",
		    (double)f.channels[i].channel_id);
		cJSON_AddStringToObject(o, "channelName",
		    f.channels[i].channel_name);
		cJSON_AddStringToObject(o, "template",
		    f.channels[i].template_name);
		cJSON_AddStringToObject(o, "language", f.channels[i].language);
		cJSON_AddItemToArray(arr, o);
	}
	rc = resp_json(r, status, out);
	cJSON_Delete(out);
	return rc;
}

/* GET /api/v1/agents/{id}/followup */
int
api_followup_get(struct req *r)
{
	int64_t	 id;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	return followup_reply(r, 200, id);
}

/*
 * PUT /api/v1/agents/{id}/followup {"template", "language", "continue",
 * "channels": [{"channelId", "template", "language"}]}: the whole
 * setting (absent members take their defaults).
 */
int
api_followup_put(struct req *r)
{
	struct followup		 f;
	struct field_errors	 errs = { 0 };
	const cJSON		*chans, *c;
	int64_t			 id;
	int			 rc, k = 0;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if ((rc = api_check_types(r, followup_fields)) != 0)
		return rc;
	chans = cJSON_GetObjectItemCaseSensitive(r->json, "channels");
	if (chans != NULL && (!cJSON_IsArray(chans) ||
	    cJSON_GetArraySize(chans) > FOLLOWUP_CHANNELS_MAX))
		return resp_bad_request(r, "channels must be an array of at "
		    "most 50 {channelId, template, language} objects.");
	memset(&f, 0, sizeof(f));
	f.template_name = (api_str(r, "template") != NULL ?
	    api_str(r, "template") : TEMPLATE_FOLLOWUP_DEFAULT);
	f.language = (api_str(r, "language") != NULL ?
	    api_str(r, "language") : "");
	f.continue_delivers = (api_str(r, "continue") !=
	    NULL ? api_str(r, "continue") : "latest");
	f.channels = arena_alloc(r->arena, sizeof(*f.channels) *
	    (size_t)(cJSON_GetArraySize(chans) + 1));
	cJSON_ArrayForEach(c, chans) {
		const cJSON	*cid = cJSON_GetObjectItemCaseSensitive(c,
				    "channelId");

		if (!cJSON_IsObject(c) || !cJSON_IsNumber(cid) ||
		    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c,
		    "template")))
			return resp_bad_request(r, "Each channel override is "
			    "{\"channelId\": N, \"template\": \"name\", "
			    "\"language\": \"\"}.");
		f.channels[k].channel_id = (int64_t)cid->valuedouble;
		f.channels[k].template_name = json_str_or(c, "template", "");
		f.channels[k].language = json_str_or(c, "language", "");
		k++;
	}
	f.n_channels = k;
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	switch (followup_set(r->db, r->org_id, id, &f, &errs)) {
	case DB_OK:
		audit(r, "followup.updated", "agent", id, arena_printf(r->arena,
		    "%s (%s), %d channel overrides", f.template_name,
		    f.continue_delivers, k));
		return followup_reply(r, 200, id);
	case DB_INVALID:
		return api_invalid(r, &errs);
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/* --- schedules ----------------------------------------------------------- */

static cJSON *
schedule_json(const struct schedule *s)
{
	cJSON	*o = cJSON_CreateObject(), *ids;

	cJSON_AddNumberToObject(o, "id", (double)s->id);
	cJSON_AddNumberToObject(o, "agentId", (double)s->agent_id);
	cJSON_AddStringToObject(o, "name", s->name);
	cJSON_AddStringToObject(o, "kind", s->kind);
	if (str_eq(s->kind, "cron"))
		cJSON_AddStringToObject(o, "cron", s->cron);
	else
		cJSON_AddNumberToObject(o, "intervalSeconds", s->interval_s);
	cJSON_AddStringToObject(o, "timeZone", s->tz);
	cJSON_AddStringToObject(o, "prompt", s->prompt);
	cJSON_AddStringToObject(o, "target", s->target);
	ids = cJSON_AddArrayToObject(o, "chatIds");
	for (int i = 0; i < s->n_chat_ids; i++)
		cJSON_AddItemToArray(ids, cJSON_CreateNumber(
		    (double)s->chat_ids[i]));
	if (s->recipient_channel_id != 0)
		cJSON_AddNumberToObject(o, "recipientChannelId",
		    (double)s->recipient_channel_id);
	else
		cJSON_AddNullToObject(o, "recipientChannelId");
	cJSON_AddStringToObject(o, "recipient", s->recipient);
	if (s->recipient_chat_id != 0)
		cJSON_AddNumberToObject(o, "recipientChatId",
		    (double)s->recipient_chat_id);
	else
		cJSON_AddNullToObject(o, "recipientChatId");
	cJSON_AddBoolToObject(o, "heartbeat", s->heartbeat);
	cJSON_AddBoolToObject(o, "enabled", s->enabled);
	if (s->next_run_at[0] != '\0')
		cJSON_AddStringToObject(o, "nextRunAt", s->next_run_at);
	else
		cJSON_AddNullToObject(o, "nextRunAt");
	if (s->last_run_at[0] != '\0')
		cJSON_AddStringToObject(o, "lastRunAt", s->last_run_at);
	else
		cJSON_AddNullToObject(o, "lastRunAt");
	cJSON_AddStringToObject(o, "createdAt", s->created_at);
	return o;
}

static int
schedule_reply(struct req *r, int status, int64_t agent_id, int64_t id)
{
	struct schedule	 s;
	cJSON		*o;
	int		 rc;

	switch (schedule_get(r->db, r->arena, r->org_id, agent_id, id, &s)) {
	case DB_OK:
		break;
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
	o = schedule_json(&s);
	rc = resp_json(r, status, o);
	cJSON_Delete(o);
	return rc;
}

/* The body's members over in (which holds the current or default values). */
static void
schedule_overlay(struct req *r, struct schedule_input *in, int64_t *ids)
{
	const cJSON	*v;
	int		 n = 0;

	if (api_has(r, "name"))
		in->name = api_str(r, "name");
	if (api_has(r, "kind"))
		in->kind = api_str(r, "kind");
	if (api_has(r, "cron")) {
		in->cron = api_str(r, "cron");
		if (!api_has(r, "kind"))
			in->kind = "cron";
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(r->json,
	    "intervalSeconds")) != NULL) {
		in->interval_s = (int)v->valuedouble;
		if (!api_has(r, "kind"))
			in->kind = "interval";
	}
	if (api_has(r, "timeZone"))
		in->tz = api_str(r, "timeZone");
	if (api_has(r, "prompt"))
		in->prompt = api_str(r, "prompt");
	if (api_has(r, "target"))
		in->target = api_str(r, "target");
	if ((v = cJSON_GetObjectItemCaseSensitive(r->json, "chatIds")) !=
	    NULL) {
		const cJSON	*e;

		cJSON_ArrayForEach(e, v)
			if (n < SCHEDULE_CHATS_MAX)
				ids[n++] = (int64_t)e->valuedouble;
		in->chat_ids = ids;
		in->n_chat_ids = n;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(r->json,
	    "recipientChannelId")) != NULL)
		in->recipient_channel_id = cJSON_IsNumber(v) ?
		    (int64_t)v->valuedouble : 0;
	if (api_has(r, "recipient"))
		in->recipient = api_str(r, "recipient") != NULL ?
		    api_str(r, "recipient") : "";
	if ((v = cJSON_GetObjectItemCaseSensitive(r->json, "heartbeat")) !=
	    NULL)
		in->heartbeat = cJSON_IsTrue(v);
	if ((v = cJSON_GetObjectItemCaseSensitive(r->json, "enabled")) !=
	    NULL)
		in->enabled = cJSON_IsTrue(v);
}

/* GET /api/v1/agents/{id}/schedules */
int
api_schedules_list(struct req *r)
{
	struct schedule	*ss;
	int64_t		 id;
	int		 n, rc;
	cJSON		*out, *arr;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if ((rc = org_agent(r, id)) != 0)
		return rc;
	if (schedule_list(r->db, r->arena, r->org_id, id, &ss, &n) != DB_OK)
		return resp_unavailable(r);
	out = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(out, "data");
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, schedule_json(&ss[i]));
	rc = resp_json(r, 200, out);
	cJSON_Delete(out);
	return rc;
}

/* The answer to a create or update that the model answered st: audited
 * and the schedule (status), or its errors. */
static int
schedule_saved(struct req *r, enum db_status st,
    const struct field_errors *errs, const char *action, int status,
    int64_t agent_id, int64_t id, const char *name)
{
	switch (st) {
	case DB_OK:
		audit(r, action, "schedule", id, name);
		return schedule_reply(r, status, agent_id, id);
	case DB_INVALID:
		return api_invalid(r, errs);
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/* POST /api/v1/agents/{id}/schedules */
int
api_schedules_create(struct req *r)
{
	struct schedule_input	 in;
	struct field_errors	 errs = { 0 };
	enum db_status		 st;
	int64_t			 agent_id, id, ids[SCHEDULE_CHATS_MAX];
	int			 rc;

	if (!req_param_id(r, "id", &agent_id))
		return resp_not_found(r);
	if ((rc = api_check_types(r, schedule_fields)) != 0)
		return rc;
	if ((rc = org_agent(r, agent_id)) != 0)
		return rc;
	memset(&in, 0, sizeof(in));
	in.kind = "interval";
	in.tz = "UTC";
	in.target = "agent_chats";
	in.recipient = "";
	in.enabled = true;
	schedule_overlay(r, &in, ids);
	/* st first: id is the create's answer. */
	st = schedule_create(r->db, r->org_id, agent_id, &in,
	    r->app->cfg.schedule_min_interval_s, &errs, &id);
	return schedule_saved(r, st, &errs, "schedule.created", 201, agent_id,
	    id, in.name);
}

/* GET /api/v1/agents/{id}/schedules/{sid} */
int
api_schedules_get(struct req *r)
{
	int64_t	 agent_id, id;

	if (!req_param_id(r, "id", &agent_id) || !req_param_id(r, "sid", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	return schedule_reply(r, 200, agent_id, id);
}

/* PATCH /api/v1/agents/{id}/schedules/{sid} */
int
api_schedules_update(struct req *r)
{
	struct schedule		 cur;
	struct schedule_input	 in;
	struct field_errors	 errs = { 0 };
	int64_t			 agent_id, id, ids[SCHEDULE_CHATS_MAX];
	int			 rc;

	if (!req_param_id(r, "id", &agent_id) || !req_param_id(r, "sid", &id))
		return resp_not_found(r);
	if ((rc = api_check_types(r, schedule_fields)) != 0)
		return rc;
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	switch (schedule_get(r->db, r->arena, r->org_id, agent_id, id, &cur)) {
	case DB_OK:
		break;
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
	memset(&in, 0, sizeof(in));
	in.name = cur.name;
	in.kind = cur.kind;
	in.cron = cur.cron;
	in.interval_s = cur.interval_s;
	in.tz = cur.tz;
	in.prompt = cur.prompt;
	in.target = cur.target;
	in.chat_ids = cur.chat_ids;
	in.n_chat_ids = cur.n_chat_ids;
	in.recipient_channel_id = cur.recipient_channel_id;
	in.recipient = cur.recipient;
	in.heartbeat = cur.heartbeat;
	in.enabled = cur.enabled;
	schedule_overlay(r, &in, ids);
	return schedule_saved(r, schedule_update(r->db, r->org_id, agent_id,
	    id, &in, r->app->cfg.schedule_min_interval_s, &errs), &errs,
	    "schedule.updated", 200, agent_id, id, in.name);
}

/* DELETE /api/v1/agents/{id}/schedules/{sid}: 204 */
int
api_schedules_delete(struct req *r)
{
	int64_t	 agent_id, id;

	if (!req_param_id(r, "id", &agent_id) || !req_param_id(r, "sid", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	switch (schedule_delete(r->db, r->org_id, agent_id, id)) {
	case DB_OK:
		audit(r, "schedule.deleted", "schedule", id, "");
		return resp_send(r, 204, NULL, NULL, 0);
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/* POST /api/v1/agents/{id}/schedules/{sid}/run: 202 {"runId"} */
int
api_schedules_run(struct req *r)
{
	int64_t	 agent_id, id, run_id;
	int	 rc;
	cJSON	*out;

	if (!req_param_id(r, "id", &agent_id) || !req_param_id(r, "sid", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	switch (schedule_run_queue(r->app, r->db, r->org_id, agent_id, id,
	    &run_id)) {
	case DB_OK:
		break;
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
	audit(r, "schedule.run", "schedule", id, arena_printf(r->arena,
	    "run %" PRId64, run_id));
	out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "runId", (double)run_id);
	rc = resp_json(r, 202, out);
	cJSON_Delete(out);
	return rc;
}

static cJSON *
runs_json(const struct schedule_run *runs, int n)
{
	cJSON	*arr = cJSON_CreateArray(), *o, *ds, *d;

	for (int i = 0; i < n; i++) {
		const struct schedule_run	*run = &runs[i];

		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)run->id);
		cJSON_AddNumberToObject(o, "scheduleId",
		    (double)run->schedule_id);
		cJSON_AddStringToObject(o, "scheduleName", run->schedule_name);
		cJSON_AddStringToObject(o, "trigger", run->trigger);
		cJSON_AddStringToObject(o, "slotAt", run->slot_at);
		cJSON_AddStringToObject(o, "status", run->status);
		cJSON_AddStringToObject(o, "result", run->result);
		if (run->error[0] != '\0')
			cJSON_AddStringToObject(o, "error", run->error);
		else
			cJSON_AddNullToObject(o, "error");
		cJSON_AddStringToObject(o, "createdAt", run->created_at);
		if (run->finished_at[0] != '\0')
			cJSON_AddStringToObject(o, "finishedAt",
			    run->finished_at);
		else
			cJSON_AddNullToObject(o, "finishedAt");
		ds = cJSON_AddArrayToObject(o, "deliveries");
		for (int j = 0; j < run->n_deliveries; j++) {
			const struct schedule_delivery	*x =
			    &run->deliveries[j];

			d = cJSON_CreateObject();
			cJSON_AddNumberToObject(d, "chatId",
			    (double)x->chat_id);
			cJSON_AddStringToObject(d, "chatKind", x->chat_kind);
			cJSON_AddStringToObject(d, "to", x->external_id);
			cJSON_AddStringToObject(d, "name", x->display_name);
			cJSON_AddStringToObject(d, "status", x->status);
			if (x->error[0] != '\0')
				cJSON_AddStringToObject(d, "error", x->error);
			cJSON_AddItemToArray(ds, d);
		}
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

/* GET /api/v1/agents/{id}/runs[?schedule=sid&limit=n] */
int
api_schedules_runs(struct req *r)
{
	struct schedule_run	*runs;
	const char		*s;
	int64_t			 agent_id, sid = 0, limit = RUNS_DEFAULT;
	int			 n, rc;
	cJSON			*out;

	if (!req_param_id(r, "id", &agent_id))
		return resp_not_found(r);
	if ((s = req_query_set(r, "schedule")) != NULL &&
	    (!str_to_i64(s, &sid) || sid <= 0))
		return resp_bad_request(r, "schedule must be a schedule's id.");
	if ((s = req_query_set(r, "limit")) != NULL &&
	    (!str_to_i64(s, &limit) || limit < 1 ||
	    limit > SCHEDULE_RUNS_MAX))
		return resp_bad_request(r, "limit must be from 1 to 100.");
	if ((rc = org_agent(r, agent_id)) != 0)
		return rc;
	if (schedule_runs_list(r->db, r->arena, r->org_id, agent_id, sid,
	    (int)limit, &runs, &n) != DB_OK)
		return resp_unavailable(r);
	out = cJSON_CreateObject();
	cJSON_AddItemToObject(out, "data", runs_json(runs, n));
	rc = resp_json(r, 200, out);
	cJSON_Delete(out);
	return rc;
}
