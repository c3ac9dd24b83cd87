/*
 * panel/proactive: the panel's side of proactive messaging.
 *
 *   the channel page's Templates section (panel_templates_section):
 *       the synced templates with status, category, language, variables,
 *       buttons and a preview with the provider's sample values; the
 *       WhatsApp Business Account id (Meta, Kapso) and "Sync now"
 *       (POST /channels/{id}/templates/source | …/templates/sync);
 *   the conversation view's window section (panel_window_section): the
 *       hold ("waiting for Continue", what is held, the follow-up
 *       template's state) and, while the window is closed, the
 *       approved templates to send instead of text
 *       (POST /conversations/{id}/template);
 *   the agent's Schedules page (GET /agents/{id}/schedules): its
 *       schedules with "run now", the heartbeat preset, a schedule form
 *       (cron or interval, time zone, prompt, targets), the follow-up
 *       template setting and the run history with each target's delivery.
 *
 * Every handler names the session's org_id; another organisation's
 * agent, channel, chat or schedule is a 404. Writes are audited.
 */
#include "panel/panel.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "chat/chats.h"
#include "chat/outbox.h"
#include "chat/templates.h"
#include "chat/window.h"
#include "db/db.h"
#include "http/audit.h"
#include "http/form.h"
#include "http/req.h"
#include "http/resp.h"
#include "http/session.h"
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

#define RUNS_SHOWN	20
#define VALUE_MAX	1024

static cJSON	*template_ctx(struct arena *, const struct template *);
static bool	 load_agent(struct req *, int64_t *, struct agent *, int *);
static int	 schedules_page(struct req *, int, const struct agent *,
		    const struct field_errors *, const char *);
static const char *agent_path(struct req *, int64_t);
static const char *channel_path(struct req *, int64_t);
static void	 add_errors(cJSON *, const struct field_errors *);
static int	 save_schedule(struct req *, const struct agent *,
		    struct schedule_input *, const char *);

static const char *
agent_path(struct req *r, int64_t id)
{
	return arena_printf(r->arena, "/agents/%" PRId64 "/schedules", id);
}

static const char *
channel_path(struct req *r, int64_t id)
{
	return arena_printf(r->arena, "/channels/%" PRId64 "#templates", id);
}

static void
add_errors(cJSON *ctx, const struct field_errors *errs)
{
	for (int i = 0; errs != NULL && i < errs->n; i++)
		panel_field_error(ctx, errs->field[i], errs->message[i]);
}

/* --- templates --------------------------------------------------------- */

/* One template for a page: its fields, variables, buttons, preview. */
static cJSON *
template_ctx(struct arena *a, const struct template *t)
{
	cJSON		*o = cJSON_CreateObject(), *arr, *vars, *buttons;
	cJSON		*params;
	const cJSON	*v;

	cJSON_AddNumberToObject(o, "id", (double)t->id);
	cJSON_AddStringToObject(o, "name", t->name);
	cJSON_AddStringToObject(o, "language", t->language);
	cJSON_AddStringToObject(o, "status", t->status);
	cJSON_AddBoolToObject(o, "approved", str_eq(t->status, "APPROVED"));
	cJSON_AddStringToObject(o, "category", t->category);
	if (t->content_type[0] != '\0')
		cJSON_AddStringToObject(o, "content_type", t->content_type);
	vars = json_parse_str(t->variables, NULL);
	arr = cJSON_AddArrayToObject(o, "variables");
	cJSON_ArrayForEach(v, vars) {
		cJSON		*x = cJSON_CreateObject();
		const char	*part = json_str_or(v, "part", "body");
		const char	*name = json_str_or(v, "name", "");

		cJSON_AddStringToObject(x, "name", name);
		cJSON_AddStringToObject(x, "part", part);
		cJSON_AddStringToObject(x, "example", json_str_or(v, "example",
		    ""));
		/* The form field a composer posts it in. */
		cJSON_AddStringToObject(x, "field", str_eq(part, "header") ?
		    arena_printf(a, "var_header.%s", name) :
		    arena_printf(a, "var_%s", name));
		cJSON_AddItemToArray(arr, x);
	}
	cJSON_AddBoolToObject(o, "has_variables", cJSON_GetArraySize(vars) >
	    0);
	cJSON_Delete(vars);
	buttons = json_parse_str(t->buttons, NULL);
	arr = cJSON_AddArrayToObject(o, "buttons");
	cJSON_ArrayForEach(v, buttons) {
		cJSON	*x = cJSON_CreateObject();

		cJSON_AddStringToObject(x, "type", json_str_or(v, "type", ""));
		cJSON_AddStringToObject(x, "text", json_str_or(v, "text", ""));
		if (json_str_or(v, "id", "")[0] != '\0')
			cJSON_AddStringToObject(x, "id", json_str_or(v, "id",
			    ""));
		cJSON_AddItemToArray(arr, x);
	}
	cJSON_AddBoolToObject(o, "has_buttons", cJSON_GetArraySize(buttons) >
	    0);
	cJSON_Delete(buttons);
	params = template_params(t, NULL, true, NULL, 0);
	cJSON_AddStringToObject(o, "preview", template_preview(a, t, params));
	cJSON_Delete(params);
	return o;
}

bool
panel_templates_section(struct req *r, cJSON *ctx, int64_t channel_id,
    const char *kind)
{
	struct template		*ts;
	struct template_sync	 sync;
	cJSON			*sec, *arr;
	int			 n;

	/* Only the kinds whose provider holds templates. */
	if (!str_eq(kind, "meta") && !str_eq(kind, "kapso") &&
	    !str_eq(kind, "twilio"))
		return true;
	if (template_sync_get(r->db, r->arena, r->org_id, channel_id,
	    &sync) != DB_OK || template_list(r->db, r->arena, r->org_id,
	    channel_id, false, &ts, &n) != DB_OK)
		return false;
	sec = cJSON_AddObjectToObject(ctx, "templates_section");
	cJSON_AddNumberToObject(sec, "channel_id", (double)channel_id);
	cJSON_AddBoolToObject(sec, "needs_waba", !str_eq(kind, "twilio"));
	cJSON_AddStringToObject(sec, "waba_id", sync.waba_id);
	if (sync.synced_at != NULL)
		cJSON_AddStringToObject(sec, "synced_at", sync.synced_at);
	if (sync.last_error[0] != '\0')
		cJSON_AddStringToObject(sec, "last_error", sync.last_error);
	arr = cJSON_AddArrayToObject(sec, "templates");
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, template_ctx(r->arena, &ts[i]));
	cJSON_AddBoolToObject(sec, "has_templates", n > 0);
	return true;
}

/* POST /channels/{id}/templates/sync */
int
panel_templates_sync(struct req *r)
{
	struct channel	 ch;
	char		 err[512];
	int64_t		 id;
	int		 n = 0;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	switch (channel_get(r->db, r->arena, r->org_id, id, &ch)) {
	case DB_OK:
		break;
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
	req_release_db(r);
	switch (templates_sync(r->app, r->org_id, id, &n, err, sizeof(err))) {
	case TEMPLATES_OK:
		audit(r, "template.synced", "channel", id, arena_printf(r->arena,
		    "%d templates", n));
		return resp_see_other(r, channel_path(r, id), arena_printf(
		    r->arena, "Templates synced: %d.", n));
	case TEMPLATES_NOT_FOUND:
		return resp_not_found(r);
	case TEMPLATES_UNAVAILABLE:
		return resp_unavailable(r);
	default:
		/* Asked for and refused: audited too. */
		audit(r, "template.sync_failed", "channel", id, err);
		return resp_see_other(r, channel_path(r, id), arena_printf(
		    r->arena, "The templates were not synced: %s", err));
	}
}

/* POST /channels/{id}/templates/source (waba_id) */
int
panel_templates_source(struct req *r)
{
	const char	*waba;
	int64_t		 id;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	waba = str_trim(arena_strdup(r->arena, form_str(r->form, "waba_id")));
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	switch (template_set_waba(r->db, r->org_id, id, waba)) {
	case DB_OK:
		audit(r, "template.source_set", "channel", id, waba);
		return resp_see_other(r, channel_path(r, id), "WhatsApp "
		    "Business Account saved. Sync the templates now.");
	case DB_INVALID:
		return resp_see_other(r, channel_path(r, id), "A WhatsApp "
		    "Business Account ID is digits only (at most 32).");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/* --- the conversation's window ------------------------------------------ */

bool
panel_window_section(struct req *r, cJSON *ctx, int64_t chat_id,
    int64_t channel_id, bool window_open)
{
	struct window_view	 v;
	struct template		*ts;
	cJSON			*h, *arr, *o;
	int			 n = 0;

	if (window_view(r->db, r->arena, r->org_id, chat_id, &v) != DB_OK)
		return false;
	if (v.has_hold) {
		h = cJSON_AddObjectToObject(ctx, "hold");
		if (v.opened_at[0] != '\0')
			cJSON_AddStringToObject(h, "opened_at", v.opened_at);
		if (v.template_message_id != 0) {
			cJSON_AddNumberToObject(h, "template_message_id",
			    (double)v.template_message_id);
			cJSON_AddStringToObject(h, "template_status",
			    v.template_status);
		}
		if (v.template_error[0] != '\0')
			cJSON_AddStringToObject(h, "template_error",
			    v.template_error);
		cJSON_AddNumberToObject(h, "n_held", v.n_held);
		arr = cJSON_AddArrayToObject(h, "held");
		for (int i = 0; i < v.n_held; i++) {
			o = cJSON_CreateObject();
			cJSON_AddNumberToObject(o, "id", (double)v.held[i].id);
			cJSON_AddStringToObject(o, "body", v.held[i].body);
			cJSON_AddStringToObject(o, "created_at",
			    v.held[i].created_at);
			cJSON_AddBoolToObject(o, "is_scheduled",
			    v.held[i].schedule_run_id != 0);
			cJSON_AddItemToArray(arr, o);
		}
	}
	/* A hold means closed, whatever the clock says (the provider refused
	 * for the window): as the outbox reads it (chat/outbox.c take). */
	if (v.has_hold && window_open) {
		window_open = false;
		cJSON_DeleteItemFromObjectCaseSensitive(ctx, "window_open");
		cJSON_DeleteItemFromObjectCaseSensitive(ctx, "window_left");
		cJSON_AddFalseToObject(ctx, "window_open");
		cJSON_AddStringToObject(ctx, "window_left",
		    "closed: waiting for Continue");
	}
	if (window_open)
		return true;
	/* Closed: the approved templates to send instead of text. */
	if (template_list(r->db, r->arena, r->org_id, channel_id, true, &ts,
	    &n) != DB_OK)
		return false;
	o = cJSON_AddObjectToObject(ctx, "compose");
	cJSON_AddStringToObject(o, "action", arena_printf(r->arena,
	    "/conversations/%" PRId64 "/template", chat_id));
	cJSON_AddNumberToObject(o, "channel_id", (double)channel_id);
	arr = cJSON_AddArrayToObject(o, "templates");
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, template_ctx(r->arena, &ts[i]));
	cJSON_AddBoolToObject(o, "has_templates", n > 0);
	return true;
}

/* POST /conversations/{id}/template (template_id, var_<name>…) */
int
panel_conversation_template(struct req *r)
{
	struct outbox_new	 nw;
	const char		*flash, *result = NULL, *back;
	int64_t			 id, tid;
	char			 err[512];
	cJSON			*values;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	back = arena_printf(r->arena, "/conversations/%" PRId64, id);
	if (!form_get_int64(r->form, "template_id", &tid) || tid <= 0)
		return resp_see_other(r, back, "Choose a template.");
	values = cJSON_CreateObject();
	arena_defer(r->arena, (void (*)(void *))cJSON_Delete, values);
	for (int i = 0; i < r->form->n; i++) {
		const struct form_field	*f = &r->form->fields[i];

		if (str_starts_with(f->name, "var_") && f->len <= VALUE_MAX &&
		    f->value[0] != '\0')
			cJSON_AddStringToObject(values, f->name + 4, f->value);
	}
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	switch (templates_send(r->app, r->db, r->arena, r->org_id, id, tid,
	    values, r->session != NULL ? r->session->user_id : 0, &nw, err,
	    sizeof(err))) {
	case TEMPLATES_OK:
		break;
	case TEMPLATES_NOT_FOUND:
		return resp_not_found(r);
	case TEMPLATES_REFUSED:
		return resp_see_other(r, back, err);
	default:
		return resp_unavailable(r);
	}
	flash = panel_send(r, nw.message_id, nw.job_id, "Template sent.",
	    &result);
	audit(r, "template.sent", "chat", id, arena_printf(r->arena,
	    "template %" PRId64 ": %s", tid, result != NULL ? result : ""));
	return resp_see_other(r, back, flash);
}

/* --- the agent's schedules ----------------------------------------------- */

static bool
load_agent(struct req *r, int64_t *id, struct agent *g, int *status)
{
	enum db_status	 st;

	if (!req_param_id(r, "id", id)) {
		*status = resp_not_found(r);
		return false;
	}
	if (req_db(r) == NULL) {
		*status = resp_unavailable(r);
		return false;
	}
	st = agent_get(r->db, r->arena, r->org_id, *id, g);
	if (st == DB_OK)
		return true;
	*status = st == DB_NOT_FOUND ? resp_not_found(r) :
	    resp_unavailable(r);
	return false;
}

static int
schedules_page(struct req *r, int status, const struct agent *g,
    const struct field_errors *errs, const char *form_kind)
{
	struct schedule		*ss;
	struct schedule_run	*runs;
	struct followup		 f;
	struct channel		*cs;
	int64_t			*chats = NULL;
	int			 n_ss, n_runs, n_cs, n_chats;
	cJSON			*ctx, *o, *arr, *x, *d;

	if (schedule_list(r->db, r->arena, r->org_id, g->id, &ss, &n_ss) !=
	    DB_OK || schedule_runs_list(r->db, r->arena, r->org_id, g->id, 0,
	    RUNS_SHOWN, &runs, &n_runs) != DB_OK || followup_get(r->db,
	    r->arena, r->org_id, g->id, &f) != DB_OK || channel_list(r->db,
	    r->arena, r->org_id, &cs, &n_cs) != DB_OK ||
	    chat_list_for_agent(r->db, r->arena, r->org_id, g->id, 200,
	    &chats, &n_chats) != DB_OK)
		return resp_unavailable(r);
	ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", arena_printf(r->arena,
	    "Schedules · %s", g->name));
	o = cJSON_AddObjectToObject(ctx, "agent");
	cJSON_AddNumberToObject(o, "id", (double)g->id);
	cJSON_AddStringToObject(o, "name", g->name);
	cJSON_AddNumberToObject(ctx, "min_interval",
	    r->app->cfg.schedule_min_interval_s);
	cJSON_AddBoolToObject(ctx, "form_heartbeat", str_eq(form_kind,
	    "heartbeat"));
	add_errors(ctx, errs);

	arr = cJSON_AddArrayToObject(ctx, "schedules");
	for (int i = 0; i < n_ss; i++) {
		const struct schedule	*s = &ss[i];

		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)s->id);
		cJSON_AddStringToObject(o, "name", s->name);
		cJSON_AddStringToObject(o, "when", str_eq(s->kind, "cron") ?
		    arena_printf(r->arena, "cron %s (%s)", s->cron, s->tz) :
		    arena_printf(r->arena, "every %d s", s->interval_s));
		cJSON_AddStringToObject(o, "prompt", s->prompt);
		cJSON_AddStringToObject(o, "target", str_eq(s->target,
		    "agent_chats") ? "every chat of the agent" :
		    str_eq(s->target, "chats") ? arena_printf(r->arena,
		    "%d chosen chats", s->n_chat_ids) : s->recipient[0] !=
		    '\0' ? arena_printf(r->arena, "recipient %s",
		    s->recipient) : "the first person who wrote");
		cJSON_AddBoolToObject(o, "heartbeat", s->heartbeat);
		cJSON_AddBoolToObject(o, "enabled", s->enabled);
		cJSON_AddStringToObject(o, "next_run_at", s->next_run_at);
		cJSON_AddStringToObject(o, "last_run_at", s->last_run_at);
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddBoolToObject(ctx, "has_schedules", n_ss > 0);

	arr = cJSON_AddArrayToObject(ctx, "runs");
	for (int i = 0; i < n_runs; i++) {
		const struct schedule_run	*run = &runs[i];

		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)run->id);
		cJSON_AddStringToObject(o, "schedule_name",
		    run->schedule_name);
		cJSON_AddStringToObject(o, "created_at", run->created_at);
		cJSON_AddStringToObject(o, "trigger", run->trigger);
		cJSON_AddStringToObject(o, "status", run->status);
		cJSON_AddStringToObject(o, "result", run->result);
		if (run->error[0] != '\0')
			cJSON_AddStringToObject(o, "error", run->error);
		d = cJSON_AddArrayToObject(o, "deliveries");
		for (int j = 0; j < run->n_deliveries; j++) {
			const struct schedule_delivery *y = &run->deliveries[j];

			x = cJSON_CreateObject();
			cJSON_AddStringToObject(x, "to", y->display_name[0] !=
			    '\0' ? arena_printf(r->arena, "%s (%s)",
			    y->display_name, y->external_id) :
			    y->external_id);
			cJSON_AddStringToObject(x, "href", arena_printf(
			    r->arena, "/conversations/%" PRId64, y->chat_id));
			cJSON_AddStringToObject(x, "status", y->status);
			if (y->error[0] != '\0')
				cJSON_AddStringToObject(x, "error", y->error);
			cJSON_AddItemToArray(d, x);
		}
		cJSON_AddBoolToObject(o, "has_deliveries", run->n_deliveries >
		    0);
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddBoolToObject(ctx, "has_runs", n_runs > 0);

	o = cJSON_AddObjectToObject(ctx, "followup");
	cJSON_AddStringToObject(o, "template", f.template_name);
	cJSON_AddStringToObject(o, "language", f.language);
	cJSON_AddBoolToObject(o, "latest", str_eq(f.continue_delivers,
	    "latest"));
	arr = cJSON_AddArrayToObject(o, "channels");
	for (int i = 0; i < n_cs; i++) {
		const char	*name = "", *lang = "";

		if (str_eq(cs[i].kind, "sandbox"))
			continue;
		for (int k = 0; k < f.n_channels; k++)
			if (f.channels[k].channel_id == cs[i].id) {
				name = f.channels[k].template_name;
				lang = f.channels[k].language;
			}
		x = cJSON_CreateObject();
		cJSON_AddNumberToObject(x, "id", (double)cs[i].id);
		cJSON_AddStringToObject(x, "name", cs[i].name);
		cJSON_AddStringToObject(x, "template", name);
		cJSON_AddStringToObject(x, "language", lang);
		cJSON_AddItemToArray(arr, x);
	}

	/* Targets the forms offer: the agent's chats, every channel. */
	arr = cJSON_AddArrayToObject(ctx, "chats");
	for (int i = 0; i < n_chats; i++) {
		struct chat_ref	 ref;

		if (chat_get_ref(r->db, r->arena, r->org_id, chats[i], &ref) !=
		    DB_OK)
			continue;
		x = cJSON_CreateObject();
		cJSON_AddNumberToObject(x, "id", (double)ref.id);
		cJSON_AddStringToObject(x, "label", arena_printf(r->arena,
		    "%s%s%s", str_eq(ref.kind, "group") ? "group " : "",
		    ref.display_name[0] != '\0' ? ref.display_name :
		    ref.external_id, ref.display_name[0] != '\0' ?
		    arena_printf(r->arena, " (%s)", ref.external_id) : ""));
		cJSON_AddItemToArray(arr, x);
	}
	arr = cJSON_AddArrayToObject(ctx, "channels");
	for (int i = 0; i < n_cs; i++) {
		x = cJSON_CreateObject();
		cJSON_AddNumberToObject(x, "id", (double)cs[i].id);
		cJSON_AddStringToObject(x, "name", cs[i].name);
		cJSON_AddItemToArray(arr, x);
	}
	return resp_page(r, status, "agents/schedules", ctx);
}

/* GET /agents/{id}/schedules */
int
panel_schedules_page(struct req *r)
{
	struct agent	 g;
	int64_t		 id;
	int		 status;

	if (!load_agent(r, &id, &g, &status))
		return status;
	return schedules_page(r, 200, &g, NULL, NULL);
}

/* Creates in, then back to the page (or the page with errs, 422). */
static int
save_schedule(struct req *r, const struct agent *g,
    struct schedule_input *in, const char *form_kind)
{
	struct field_errors	 errs = { 0 };
	int64_t			 sid;

	switch (schedule_create(r->db, r->org_id, g->id, in,
	    r->app->cfg.schedule_min_interval_s, &errs, &sid)) {
	case DB_OK:
		audit(r, "schedule.created", "schedule", sid, in->name);
		return resp_see_other(r, agent_path(r, g->id), arena_printf(
		    r->arena, "%s \"%s\" created.", in->heartbeat ? "Heartbeat" :
		    "Schedule", in->name));
	case DB_INVALID:
		return schedules_page(r, 422, g, &errs, form_kind);
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/*
 * POST /agents/{id}/schedules: name, kind (cron|interval), cron,
 * interval, tz, prompt, target (agent_chats|chats|recipient), chat_ids…,
 * recipient_channel_id, recipient.
 */
int
panel_schedules_create(struct req *r)
{
	struct schedule_input	 in;
	struct agent		 g;
	int64_t			 id, v, ids[SCHEDULE_CHATS_MAX];
	int			 status, n = 0;

	if (!load_agent(r, &id, &g, &status))
		return status;
	memset(&in, 0, sizeof(in));
	in.name = str_trim(arena_strdup(r->arena, form_str(r->form, "name")));
	in.kind = form_str(r->form, "kind");
	in.cron = str_trim(arena_strdup(r->arena, form_str(r->form, "cron")));
	in.interval_s = form_get_int64(r->form, "interval", &v) && v > 0 &&
	    v <= SCHEDULE_INTERVAL_MAX ? (int)v : 0;
	in.tz = str_trim(arena_strdup(r->arena, form_str(r->form, "tz")));
	in.prompt = form_str(r->form, "prompt");
	in.target = form_str(r->form, "target");
	for (int i = 0; i < r->form->n && n < SCHEDULE_CHATS_MAX; i++)
		if (str_eq(r->form->fields[i].name, "chat_ids") &&
		    str_to_i64(r->form->fields[i].value, &v) && v > 0)
			ids[n++] = v;
	in.chat_ids = ids;
	in.n_chat_ids = n;
	in.recipient_channel_id = form_get_int64(r->form,
	    "recipient_channel_id", &v) ? v : 0;
	in.recipient = str_trim(arena_strdup(r->arena, form_str(r->form,
	    "recipient")));
	in.enabled = true;
	return save_schedule(r, &g, &in, "schedule");
}

/*
 * POST /agents/{id}/heartbeat: period (seconds), message, and the
 * recipient (empty: the first person who writes; else a number and its
 * channel). Upsonic's heartbeat as a schedule: an interval, the message
 * as the prompt, one recipient.
 */
int
panel_schedules_heartbeat(struct req *r)
{
	struct schedule_input	 in;
	struct agent		 g;
	int64_t			 id, v;
	int			 status;

	if (!load_agent(r, &id, &g, &status))
		return status;
	memset(&in, 0, sizeof(in));
	in.name = "Heartbeat";
	in.kind = "interval";
	in.interval_s = form_get_int64(r->form, "period", &v) && v > 0 &&
	    v <= SCHEDULE_INTERVAL_MAX ? (int)v : 0;
	in.tz = "UTC";
	in.prompt = form_str(r->form, "message");
	in.target = "recipient";
	in.recipient = str_trim(arena_strdup(r->arena, form_str(r->form,
	    "recipient")));
	in.recipient_channel_id = form_get_int64(r->form,
	    "recipient_channel_id", &v) ? v : 0;
	in.heartbeat = true;
	in.enabled = true;
	return save_schedule(r, &g, &in, "heartbeat");
}

/* POST /agents/{id}/schedules/{sid}/run */
int
panel_schedules_run(struct req *r)
{
	struct agent	 g;
	int64_t		 id, sid, run_id;
	int		 status;

	if (!load_agent(r, &id, &g, &status))
		return status;
	if (!req_param_id(r, "sid", &sid))
		return resp_not_found(r);
	switch (schedule_run_queue(r->app, r->db, r->org_id, id, sid,
	    &run_id)) {
	case DB_OK:
		audit(r, "schedule.run", "schedule", sid, arena_printf(r->arena,
		    "run %" PRId64, run_id));
		return resp_see_other(r, agent_path(r, id), "The run is on its "
		    "way: its result shows below when it is done.");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/* POST /agents/{id}/schedules/{sid}/delete */
int
panel_schedules_delete(struct req *r)
{
	struct agent	 g;
	int64_t		 id, sid;
	int		 status;

	if (!load_agent(r, &id, &g, &status))
		return status;
	if (!req_param_id(r, "sid", &sid))
		return resp_not_found(r);
	switch (schedule_delete(r->db, r->org_id, id, sid)) {
	case DB_OK:
		audit(r, "schedule.deleted", "schedule", sid, "");
		return resp_see_other(r, agent_path(r, id), "Schedule "
		    "deleted.");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/*
 * POST /agents/{id}/followup: template, language, continue (latest|all)
 * and, per channel, channel_<id> (a template name, empty: the default)
 * with language_<id>.
 */
int
panel_followup_save(struct req *r)
{
	struct followup		 f;
	struct field_errors	 errs = { 0 };
	struct agent		 g;
	struct channel		*cs;
	int64_t			 id;
	int			 status, n_cs, k = 0;

	if (!load_agent(r, &id, &g, &status))
		return status;
	if (channel_list(r->db, r->arena, r->org_id, &cs, &n_cs) != DB_OK)
		return resp_unavailable(r);
	memset(&f, 0, sizeof(f));
	f.template_name = str_trim(arena_strdup(r->arena, form_str(r->form,
	    "template")));
	f.language = str_trim(arena_strdup(r->arena, form_str(r->form,
	    "language")));
	f.continue_delivers = form_str(r->form, "continue");
	f.channels = arena_alloc(r->arena, sizeof(*f.channels) *
	    (size_t)(n_cs + 1));
	for (int i = 0; i < n_cs && k < FOLLOWUP_CHANNELS_MAX; i++) {
		const char	*name = form_str(r->form, arena_printf(r->arena,
				    "channel_%" PRId64, cs[i].id));

		if (name[0] == '\0')
			continue;
		f.channels[k].channel_id = cs[i].id;
		f.channels[k].template_name = str_trim(arena_strdup(r->arena,
		    name));
		f.channels[k].language = str_trim(arena_strdup(r->arena,
		    form_str(r->form, arena_printf(r->arena, "language_%"
		    PRId64, cs[i].id))));
		k++;
	}
	f.n_channels = k;
	switch (followup_set(r->db, r->org_id, id, &f, &errs)) {
	case DB_OK:
		audit(r, "followup.updated", "agent", id, arena_printf(r->arena,
		    "%s (%s)", f.template_name, f.continue_delivers));
		return resp_see_other(r, arena_printf(r->arena, "%s#followup",
		    agent_path(r, id)), "Follow-up template saved.");
	case DB_INVALID:
		return schedules_page(r, 422, &g, &errs, NULL);
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}
