/*
 * channels: the Channels area (WhatsApp senders) and the Jobs page.
 *
 * Credentials never travel back to the browser: every secret input is
 * rendered empty, also when a form with errors is shown again ("leave
 * blank to keep" on edit), and pages show only the masked hints that
 * model/channel.c stored. The Twilio Account SID and Auth Token change
 * together; the model says so with a field error.
 *
 * Without JavaScript a new channel takes two steps: /channels/new lists
 * the kinds as links, /channels/new?kind=twilio shows that kind's form.
 * The edit page also shows the exact webhook URLs to paste into the
 * provider's console (built from PARLEY_PUBLIC_URL) and the webhook
 * health: the last verified delivery and the latest rejected requests.
 *
 * Deleting asks first: the delete button posts to …/delete, which answers
 * with a confirmation page unless the form carries confirm=yes. The
 * sandbox channel cannot be deleted.
 *
 * Another organisation's ids answer 404, as unknown ones do: every model
 * call is scoped by r->org_id.
 */
#include "panel/panel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/context.h"
#include "util/json.h"
#include "util/log.h"
#include "db/db.h"
#include "http/form.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/agent.h"
#include "http/audit.h"
#include "model/channel.h"
#include "model/fielderr.h"
#include "util/arena.h"
#include "util/str.h"
#include "chat/messages.h"
#include "chat/outbox.h"
#include "worker/queue.h"

#define REJECTIONS_SHOWN	20
#define JOBS_SHOWN		100

/* The secret inputs of each kind: form name, label, hint key. */
static const struct {
	const char	*kind;
	const char	*field;
	const char	*label;
	const char	*help;
} secret_fields[] = {
	{ "twilio", "twilio_account_sid", "Account SID",
	    "AC followed by 32 hexadecimal characters (Twilio Console → "
	    "Account info)." },
	{ "twilio", "twilio_auth_token", "Auth Token",
	    "32 characters. Parley checks every webhook's X-Twilio-Signature "
	    "with it." },
	{ "meta", "meta_access_token", "Access token",
	    "A system-user or business token with whatsapp_business_messaging "
	    "permission." },
	{ "meta", "meta_app_secret", "App secret",
	    "App Dashboard → App settings → Basic. Verifies "
	    "X-Hub-Signature-256." },
	{ "meta", "meta_verify_token", "Verify token",
	    "Any string you choose; enter the same one in the App Dashboard's "
	    "webhook settings." },
	{ "kapso", "kapso_api_key", "API key",
	    "Kapso dashboard → API keys." },
	{ "kapso", "kapso_webhook_secret", "Webhook secret",
	    "The secret Kapso signs webhooks with." },
};

static const char *const kind_labels[][2] = {
	{ "twilio", "Twilio" },
	{ "meta", "Meta Cloud API" },
	{ "kapso", "Kapso" },
	{ "sandbox", "Sandbox" },
};

static const char	*kind_label(const char *);
static bool		 creatable_kind(const char *);
static void		 add_errors(cJSON *, const struct field_errors *);
static cJSON		*channel_json(const struct channel *);
static void		 add_webhook_urls(struct req *, cJSON *, const char *,
			    const char *);
static bool		 add_form_choices(struct req *, cJSON *, const char *,
			    const char *, int64_t);
static void		 add_secret_inputs(cJSON *, const char *, const char *,
			    bool);
static int		 channel_form_page(struct req *, int,
			    const struct channel *, const char *,
			    const struct channel_input *,
			    const struct field_errors *);
static cJSON		*form_ctx(struct req *, const struct channel *,
			    const char *, const struct channel_input *,
			    const struct field_errors *);
static bool		 add_shared_keys(struct req *, cJSON *,
			    const struct channel *);
static void		 stored_input(const struct channel *,
			    struct channel_input *);
static int		 keys_page(struct req *, int, const struct channel *,
			    const char *, const struct field_errors *);
static void		 input_read(struct req *, const char *,
			    struct channel_input *);
static bool		 secrets_typed(struct req *);
static void		 input_author(struct req *, struct channel_input *,
			    struct audit_actor *);
static bool		 confirmed(struct req *);
static const char	*short_time(struct arena *, const char *);

/* --- shared ------------------------------------------------------------ */

static const char *
kind_label(const char *kind)
{
	for (size_t i = 0; i < sizeof(kind_labels) / sizeof(kind_labels[0]);
	    i++)
		if (str_eq(kind, kind_labels[i][0]))
			return kind_labels[i][1];
	return kind;
}

/* The kinds the panel creates (the sandbox exists already). */
static bool
creatable_kind(const char *kind)
{
	return str_eq(kind, "twilio") || str_eq(kind, "meta") ||
	    str_eq(kind, "kapso");
}

static void
add_errors(cJSON *ctx, const struct field_errors *errs)
{
	for (int i = 0; errs != NULL && i < errs->n; i++)
		panel_field_error(ctx, errs->field[i], errs->message[i]);
}

/* True when a delete form carries the confirmation. */
static bool
confirmed(struct req *r)
{
	return str_eq(form_get(r->form, "confirm"), "yes");
}

/* A stored channel for the list and the edit page (no secrets: hints). */
static cJSON *
channel_json(const struct channel *c)
{
	cJSON	*o = cJSON_CreateObject();
	char	 key[32];

	cJSON_AddNumberToObject(o, "id", (double)c->id);
	cJSON_AddStringToObject(o, "kind", c->kind);
	cJSON_AddStringToObject(o, "kind_label", kind_label(c->kind));
	snprintf(key, sizeof(key), "is_%s", c->kind);
	cJSON_AddTrueToObject(o, key);
	cJSON_AddStringToObject(o, "name", c->name);
	cJSON_AddStringToObject(o, "environment", c->environment);
	cJSON_AddBoolToObject(o, "is_production",
	    str_eq(c->environment, "production"));
	cJSON_AddStringToObject(o, "status", c->status);
	cJSON_AddBoolToObject(o, "is_connected",
	    str_eq(c->status, "connected"));
	/* Absent rather than "": templates test them as sections. */
	if (c->phone_number[0] != '\0')
		cJSON_AddStringToObject(o, "phone_number", c->phone_number);
	if (c->phone_number_id[0] != '\0')
		cJSON_AddStringToObject(o, "phone_number_id",
		    c->phone_number_id);
	if (c->default_agent_id > 0) {
		cJSON_AddNumberToObject(o, "default_agent_id",
		    (double)c->default_agent_id);
		cJSON_AddStringToObject(o, "default_agent_name",
		    c->default_agent_name);
	}
	if (c->last_verified_at != NULL)
		cJSON_AddStringToObject(o, "last_verified_at",
		    c->last_verified_at);
	cJSON_AddStringToObject(o, "created_at", c->created_at);
	return o;
}

/*
 * The URLs the provider's console needs for kind, built from
 * PARLEY_PUBLIC_URL (config keeps it without a trailing slash).
 * verify_hint is the masked Meta verify token, or NULL.
 */
static void
add_webhook_urls(struct req *r, cJSON *ctx, const char *kind,
    const char *verify_hint)
{
	const char	*base = r->app->cfg.public_url;
	cJSON		*w = cJSON_AddObjectToObject(ctx, "webhooks");

	if (str_eq(kind, "twilio")) {
		/* The fragment is Twilio's "connection override": retry up
		 * to 5 times on any failure (PROTOCOLS.md §1.2). Browsers
		 * and Twilio never send a fragment to us. */
		cJSON_AddStringToObject(w, "twilio_inbound",
		    arena_printf(r->arena, "%s/webhooks/whatsapp/twilio"
		    "#rc=5&rp=all", base));
		cJSON_AddStringToObject(w, "twilio_status",
		    arena_printf(r->arena, "%s/webhooks/whatsapp/twilio/status",
		    base));
	} else if (str_eq(kind, "meta")) {
		cJSON_AddStringToObject(w, "meta_callback",
		    arena_printf(r->arena, "%s/webhooks/whatsapp/meta", base));
		if (verify_hint != NULL)
			cJSON_AddStringToObject(w, "meta_verify_hint",
			    verify_hint);
	} else if (str_eq(kind, "kapso")) {
		cJSON_AddStringToObject(w, "kapso_inbound",
		    arena_printf(r->arena, "%s/webhooks/whatsapp/kapso", base));
		cJSON_AddStringToObject(w, "kapso_project",
		    arena_printf(r->arena, "%s/webhooks/kapso/project", base));
	} else
		cJSON_AddTrueToObject(w, "sandbox");
}

/*
 * The select options: environments, statuses and the org's agents, with
 * the chosen ones marked. False when the agents cannot be read.
 */
static bool
add_form_choices(struct req *r, cJSON *ctx, const char *environment,
    const char *status, int64_t agent_id)
{
	static const char *const envs[] = { "development", "production" };
	static const char *const stats[][2] = {
		{ "pending", "Pending (set up, not yet in use)" },
		{ "connected", "Connected (answering)" },
		{ "disabled", "Disabled (ignores incoming messages)" },
	};
	struct agent	*as;
	cJSON		*arr, *o;
	int		 n;

	if (agent_list(r->db, r->arena, r->org_id, &as, &n) != DB_OK)
		return false;
	arr = cJSON_AddArrayToObject(ctx, "environments");
	for (size_t i = 0; i < 2; i++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "value", envs[i]);
		cJSON_AddBoolToObject(o, "selected", str_eq(environment,
		    envs[i]));
		cJSON_AddItemToArray(arr, o);
	}
	arr = cJSON_AddArrayToObject(ctx, "statuses");
	for (size_t i = 0; i < 3; i++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "value", stats[i][0]);
		cJSON_AddStringToObject(o, "label", stats[i][1]);
		cJSON_AddBoolToObject(o, "selected", str_eq(status,
		    stats[i][0]));
		cJSON_AddItemToArray(arr, o);
	}
	arr = cJSON_AddArrayToObject(ctx, "agents");
	for (int i = 0; i < n; i++) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)as[i].id);
		cJSON_AddStringToObject(o, "name", as[i].name);
		cJSON_AddBoolToObject(o, "selected", as[i].id == agent_id);
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddBoolToObject(ctx, "has_agents", n > 0);
	return true;
}

/*
 * The kind's secret inputs (always empty), each with its stored hint from
 * hints_json (NULL on a new channel) and its field error key.
 */
static void
add_secret_inputs(cJSON *ctx, const char *kind, const char *hints_json,
    bool is_new)
{
	cJSON		*hints = NULL, *arr, *o;
	const cJSON	*h;
	const cJSON	*err;
	char		 key[64];

	if (hints_json != NULL)
		hints = json_parse_str(hints_json, NULL);
	arr = cJSON_AddArrayToObject(ctx, "secrets");
	for (size_t i = 0; i < sizeof(secret_fields) / sizeof(secret_fields[0]);
	    i++) {
		if (!str_eq(secret_fields[i].kind, kind))
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "field", secret_fields[i].field);
		cJSON_AddStringToObject(o, "label", secret_fields[i].label);
		cJSON_AddStringToObject(o, "help", secret_fields[i].help);
		cJSON_AddBoolToObject(o, "required", is_new);
		h = cJSON_GetObjectItemCaseSensitive(hints,
		    secret_fields[i].field);
		if (cJSON_IsString(h))
			cJSON_AddStringToObject(o, "hint", h->valuestring);
		snprintf(key, sizeof(key), "error_%s", secret_fields[i].field);
		err = cJSON_GetObjectItemCaseSensitive(ctx, key);
		if (cJSON_IsString(err))
			cJSON_AddStringToObject(o, "error", err->valuestring);
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddBoolToObject(ctx, "is_twilio", str_eq(kind, "twilio"));
	cJSON_AddBoolToObject(ctx, "is_meta", str_eq(kind, "meta"));
	cJSON_AddBoolToObject(ctx, "is_kapso", str_eq(kind, "kapso"));
	cJSON_AddBoolToObject(ctx, "is_sandbox", str_eq(kind, "sandbox"));
	cJSON_AddBoolToObject(ctx, "has_number_id", str_eq(kind, "meta") ||
	    str_eq(kind, "kapso"));
	cJSON_Delete(hints);
}

/*
 * A Twilio channel's Webhook Shared Keys section (edit page only): the
 * keys with their masked secrets. False when the database fails.
 */
static bool
add_shared_keys(struct req *r, cJSON *ctx, const struct channel *c)
{
	struct channel_shared_key	*ks;
	cJSON				*arr, *o;
	int				 n;

	if (!str_eq(c->kind, "twilio"))
		return true;
	if (channel_shared_keys(r->db, r->arena, r->org_id, c->id, &ks, &n) !=
	    DB_OK)
		return false;
	cJSON_AddTrueToObject(ctx, "shared_keys_section");
	arr = cJSON_AddArrayToObject(ctx, "shared_keys");
	for (int i = 0; i < n; i++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "key_id", ks[i].key_id);
		cJSON_AddStringToObject(o, "hint", ks[i].hint);
		cJSON_AddStringToObject(o, "created_at", ks[i].created_at);
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddBoolToObject(ctx, "has_shared_keys", n > 0);
	cJSON_AddBoolToObject(ctx, "shared_keys_full",
	    n >= CHANNEL_SHARED_KEYS_MAX);
	return true;
}

/* The plain fields of a stored channel, as the edit form shows them. */
static void
stored_input(const struct channel *c, struct channel_input *in)
{
	memset(in, 0, sizeof(*in));
	in->name = c->name;
	in->environment = c->environment;
	in->status = c->status;
	in->phone_number = c->phone_number;
	in->phone_number_id = c->phone_number_id;
	in->default_agent_id = c->default_agent_id;
}

/*
 * The edit page again after a shared-key form failed: errs shown in the
 * keys section only (the settings form above was not sent), the key id
 * typed kept, the secret never sent back.
 */
static int
keys_page(struct req *r, int status, const struct channel *c,
    const char *key_id, const struct field_errors *errs)
{
	struct channel_input	 in;
	cJSON			*ctx, *ke;
	const char		*m;

	stored_input(c, &in);
	if ((ctx = form_ctx(r, c, c->kind, &in, NULL)) == NULL)
		return resp_unavailable(r);
	ke = cJSON_AddObjectToObject(ctx, "key_form");
	cJSON_AddStringToObject(ke, "key_id", key_id != NULL ? key_id : "");
	if ((m = field_error_get(errs, "twilio_shared_key_id")) != NULL)
		cJSON_AddStringToObject(ke, "error_id", m);
	if ((m = field_error_get(errs, "twilio_shared_key_secret")) != NULL)
		cJSON_AddStringToObject(ke, "error_secret", m);
	if ((m = field_error_get(errs, "kind")) != NULL)
		cJSON_AddStringToObject(ke, "error", m);
	return resp_page(r, status, "channels/form", ctx);
}

/* True when the posted form carries any secret (it is not sent back). */
static bool
secrets_typed(struct req *r)
{
	for (size_t i = 0; i < sizeof(secret_fields) / sizeof(secret_fields[0]);
	    i++)
		if (form_str(r->form, secret_fields[i].field)[0] != '\0')
			return true;
	return false;
}

/*
 * The new/edit form of kind. c is the stored channel (NULL: new); in holds
 * what to show in the plain fields (stored values or what was posted).
 * On edit, also the webhook URLs and the health panel.
 */
static int
channel_form_page(struct req *r, int status, const struct channel *c,
    const char *kind, const struct channel_input *in,
    const struct field_errors *errs)
{
	cJSON	*ctx = form_ctx(r, c, kind, in, errs);

	if (ctx == NULL)
		return resp_unavailable(r);
	return resp_page(r, status, "channels/form", ctx);
}

/* channel_form_page's context; NULL when the database fails. */
static cJSON *
form_ctx(struct req *r, const struct channel *c, const char *kind,
    const struct channel_input *in, const struct field_errors *errs)
{
	struct webhook_event	*evs = NULL;
	cJSON			*ctx = cJSON_CreateObject(), *form, *arr, *o;
	cJSON			*hints = NULL;
	const cJSON		*vh;
	int			 n_evs = 0;

	cJSON_AddStringToObject(ctx, "title", c != NULL ? c->name :
	    arena_printf(r->arena, "New %s channel", kind_label(kind)));
	cJSON_AddBoolToObject(ctx, "is_new", c == NULL);
	cJSON_AddStringToObject(ctx, "kind", kind);
	cJSON_AddStringToObject(ctx, "kind_label", kind_label(kind));
	cJSON_AddStringToObject(ctx, "action", c != NULL ?
	    arena_printf(r->arena, "/channels/%lld", (long long)c->id) :
	    "/channels");
	form = cJSON_AddObjectToObject(ctx, "form");
	cJSON_AddStringToObject(form, "name", in->name != NULL ? in->name : "");
	cJSON_AddStringToObject(form, "phone_number", in->phone_number != NULL ?
	    in->phone_number : "");
	cJSON_AddStringToObject(form, "phone_number_id",
	    in->phone_number_id != NULL ? in->phone_number_id : "");
	add_errors(ctx, errs);
	if (!add_form_choices(r, ctx, in->environment, in->status != NULL ?
	    in->status : "pending", in->default_agent_id)) {
		cJSON_Delete(ctx);
		return NULL;
	}
	add_secret_inputs(ctx, kind, c != NULL ? c->credential_hints : NULL,
	    c == NULL);
	/* Secrets typed into a form that failed must be typed again. */
	if (errs != NULL && errs->n > 0 && secrets_typed(r))
		cJSON_AddTrueToObject(ctx, "secrets_retype");
	if (c != NULL) {
		cJSON_AddItemToObject(ctx, "channel", channel_json(c));
		hints = json_parse_str(c->credential_hints, NULL);
		vh = cJSON_GetObjectItemCaseSensitive(hints,
		    "meta_verify_token");
		add_webhook_urls(r, ctx, kind, cJSON_IsString(vh) ?
		    arena_strdup(r->arena, vh->valuestring) : NULL);
		cJSON_Delete(hints);
		if (channel_rejections(r->db, r->arena, r->org_id, c->id,
		    REJECTIONS_SHOWN, &evs, &n_evs) != DB_OK ||
		    !add_shared_keys(r, ctx, c) ||
		    !panel_templates_section(r, ctx, c->id, c->kind)) {
			cJSON_Delete(ctx);
			return NULL;
		}
		arr = cJSON_AddArrayToObject(ctx, "rejections");
		for (int i = 0; i < n_evs; i++) {
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "provider", evs[i].provider);
			cJSON_AddStringToObject(o, "reason", evs[i].reason);
			cJSON_AddStringToObject(o, "detail", evs[i].detail);
			cJSON_AddStringToObject(o, "remote_addr",
			    evs[i].remote_addr);
			cJSON_AddStringToObject(o, "created_at",
			    evs[i].created_at);
			cJSON_AddItemToArray(arr, o);
		}
		cJSON_AddBoolToObject(ctx, "has_rejections", n_evs > 0);
		cJSON_AddBoolToObject(ctx, "deletable",
		    !str_eq(c->kind, "sandbox"));
	} else
		add_webhook_urls(r, ctx, kind, NULL);
	return ctx;
}

/* The posted form as a channel_input of kind (strings in r->form). */
static void
input_read(struct req *r, const char *kind, struct channel_input *in)
{
	int64_t	 agent = 0;

	memset(in, 0, sizeof(*in));
	in->kind = kind;
	in->name = form_str(r->form, "name");
	in->environment = form_str(r->form, "environment");
	in->status = form_get(r->form, "status");
	in->phone_number = form_str(r->form, "phone_number");
	in->phone_number_id = form_str(r->form, "phone_number_id");
	if (form_get(r->form, "default_agent_id") != NULL &&
	    form_str(r->form, "default_agent_id")[0] != '\0' &&
	    !form_get_int64(r->form, "default_agent_id", &agent))
		agent = -1;	/* the model refuses it with a field error */
	in->default_agent_id = agent;
	in->twilio_account_sid = form_get(r->form, "twilio_account_sid");
	in->twilio_auth_token = form_get(r->form, "twilio_auth_token");
	in->meta_access_token = form_get(r->form, "meta_access_token");
	in->meta_app_secret = form_get(r->form, "meta_app_secret");
	in->meta_verify_token = form_get(r->form, "meta_verify_token");
	in->kapso_api_key = form_get(r->form, "kapso_api_key");
	in->kapso_webhook_secret = form_get(r->form, "kapso_webhook_secret");
}

/* in with the request's principal as its author (model/channel audits). */
static void
input_author(struct req *r, struct channel_input *in, struct audit_actor *who)
{
	req_audit_actor(r, who);
	in->who = who;
}

/* --- channels ---------------------------------------------------------- */

int
panel_channels_list(struct req *r)
{
	struct channel	*cs;
	cJSON		*ctx, *arr;
	int		 n;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if (channel_list(r->db, r->arena, r->org_id, &cs, &n) != DB_OK)
		return resp_unavailable(r);
	ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", "Channels");
	arr = cJSON_AddArrayToObject(ctx, "channels");
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, channel_json(&cs[i]));
	cJSON_AddBoolToObject(ctx, "has_channels", n > 0);
	return resp_page(r, 200, "channels/index", ctx);
}

int
panel_channels_new(struct req *r)
{
	struct channel_input	 in;
	const char		*kind = req_query(r, "kind");
	cJSON			*ctx;

	if (kind == NULL || kind[0] == '\0') {
		ctx = cJSON_CreateObject();
		cJSON_AddStringToObject(ctx, "title", "New channel");
		return resp_page(r, 200, "channels/new", ctx);
	}
	if (!creatable_kind(kind))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	memset(&in, 0, sizeof(in));
	in.kind = kind;
	in.environment = "development";
	in.status = "pending";
	return channel_form_page(r, 200, NULL, kind, &in, NULL);
}

int
panel_channels_create(struct req *r)
{
	struct channel_input	 in;
	struct audit_actor	 who;
	struct field_errors	 errs = { 0 };
	const char		*kind = form_str(r->form, "kind");
	int64_t			 id = 0;
	enum db_status		 st;

	if (!creatable_kind(kind))
		return resp_bad_request(r, "Choose Twilio, Meta or Kapso.");
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	input_read(r, kind, &in);
	input_author(r, &in, &who);
	st = channel_create(r->db, r->app->key, r->org_id, &in, &errs, &id);
	switch (st) {
	case DB_OK:
		log_info("panel", "msg=\"channel created\" channel=%lld "
		    "kind=%s", (long long)id, kind);
		return resp_see_other(r, arena_printf(r->arena,
		    "/channels/%lld", (long long)id), "Channel added. Paste the "
		    "webhook URLs below into the provider's console.");
	case DB_INVALID:
		return channel_form_page(r, 422, NULL, kind, &in, &errs);
	case DB_CONFLICT:
		return channel_form_page(r, 409, NULL, kind, &in, &errs);
	default:
		return resp_unavailable(r);
	}
}

int
panel_channels_edit(struct req *r)
{
	struct channel		 c;
	struct channel_input	 in;
	int64_t			 id;
	enum db_status		 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = channel_get(r->db, r->arena, r->org_id, id, &c);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	stored_input(&c, &in);
	return channel_form_page(r, 200, &c, c.kind, &in, NULL);
}

int
panel_channels_update(struct req *r)
{
	struct channel		 c;
	struct channel_input	 in;
	struct audit_actor	 who;
	struct field_errors	 errs = { 0 };
	int64_t			 id;
	enum db_status		 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = channel_get(r->db, r->arena, r->org_id, id, &c);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	input_read(r, c.kind, &in);
	input_author(r, &in, &who);
	st = channel_update(r->db, r->app->key, r->org_id, id, &in, &errs);
	switch (st) {
	case DB_OK:
		log_info("panel", "msg=\"channel saved\" channel=%lld",
		    (long long)id);
		return resp_see_other(r, arena_printf(r->arena,
		    "/channels/%lld", (long long)id), "Channel saved.");
	case DB_INVALID:
	case DB_CONFLICT:
		return channel_form_page(r, st == DB_CONFLICT ? 409 : 422, &c,
		    c.kind, &in, &errs);
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

int
panel_channels_delete(struct req *r)
{
	struct channel	 c;
	cJSON		*ctx;
	int64_t		 id;
	enum db_status	 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = channel_get(r->db, r->arena, r->org_id, id, &c);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	if (str_eq(c.kind, "sandbox")) {
		ctx = cJSON_CreateObject();
		cJSON_AddStringToObject(ctx, "title", "Channel not deleted");
		cJSON_AddStringToObject(ctx, "refusal", "The sandbox channel "
		    "belongs to every organisation and cannot be deleted. Set "
		    "its status to Disabled to stop it.");
		cJSON_AddStringToObject(ctx, "back", arena_printf(r->arena,
		    "/channels/%lld", (long long)id));
		return resp_page(r, 409, "channels/confirm", ctx);
	}
	if (!confirmed(r)) {
		ctx = cJSON_CreateObject();
		cJSON_AddStringToObject(ctx, "title", "Delete channel");
		cJSON_AddStringToObject(ctx, "question", arena_printf(r->arena,
		    "Delete the channel \"%s\"? Its credentials, chats and "
		    "messages are deleted with it, and WhatsApp messages to "
		    "%s are no longer answered.", c.name,
		    c.phone_number[0] != '\0' ? c.phone_number :
		    "its number"));
		cJSON_AddStringToObject(ctx, "action", arena_printf(r->arena,
		    "/channels/%lld/delete", (long long)id));
		cJSON_AddStringToObject(ctx, "back", arena_printf(r->arena,
		    "/channels/%lld", (long long)id));
		return resp_page(r, 200, "channels/confirm", ctx);
	}
	st = channel_delete(r->db, r->org_id, id);
	switch (st) {
	case DB_OK:
		log_info("panel", "msg=\"channel deleted\" channel=%lld",
		    (long long)id);
		audit(r, "channel.deleted", "channel", id, c.name);
		return resp_see_other(r, "/channels", arena_printf(r->arena,
		    "Channel \"%s\" deleted.", c.name));
	case DB_NOT_FOUND:
		return resp_not_found(r);
	case DB_INVALID:
		return resp_error(r, 409, "sandbox", "The sandbox channel "
		    "cannot be deleted.");
	default:
		return resp_unavailable(r);
	}
}

/* --- Twilio Webhook Shared Keys ---------------------------------------- */

/*
 * POST /channels/{id}/shared-keys: adds twilio_shared_key_id with its
 * twilio_shared_key_secret. Errors re-render the edit page (422, or 409
 * for an id the channel has).
 */
int
panel_channels_key_add(struct req *r)
{
	struct channel		 c;
	struct field_errors	 errs = { 0 };
	const char		*key_id = form_str(r->form,
				    "twilio_shared_key_id");
	int64_t			 id;
	enum db_status		 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = channel_get(r->db, r->arena, r->org_id, id, &c);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	st = channel_shared_key_add(r->db, r->app->key, r->org_id, id, key_id,
	    form_str(r->form, "twilio_shared_key_secret"), &errs);
	switch (st) {
	case DB_OK:
		log_info("panel", "msg=\"shared key added\" channel=%lld",
		    (long long)id);
		audit(r, "channel.shared_key_added", "channel", id,
		    str_trim(arena_strdup(r->arena, key_id)));
		return resp_see_other(r, arena_printf(r->arena,
		    "/channels/%lld#shared-keys", (long long)id), "Shared key "
		    "added. Deliveries signed with it are accepted within a "
		    "few seconds.");
	case DB_INVALID:
	case DB_CONFLICT:
		return keys_page(r, st == DB_CONFLICT ? 409 : 422, &c, key_id,
		    &errs);
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/*
 * POST /channels/{id}/shared-keys/remove: removes key_id, after a
 * confirmation page unless the form carries confirm=yes.
 */
int
panel_channels_key_remove(struct req *r)
{
	struct channel	 c;
	const char	*key_id = form_str(r->form, "key_id");
	cJSON		*ctx, *hidden, *o;
	int64_t		 id;
	enum db_status	 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = channel_get(r->db, r->arena, r->org_id, id, &c);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	if (!confirmed(r)) {
		ctx = cJSON_CreateObject();
		cJSON_AddStringToObject(ctx, "title", "Remove shared key");
		cJSON_AddStringToObject(ctx, "question", arena_printf(r->arena,
		    "Remove the shared key \"%s\" from \"%s\"? Webhooks Twilio "
		    "signs with it are refused from a few seconds on: switch "
		    "Twilio to another key first.", key_id, c.name));
		cJSON_AddStringToObject(ctx, "action", arena_printf(r->arena,
		    "/channels/%lld/shared-keys/remove", (long long)id));
		cJSON_AddStringToObject(ctx, "back", arena_printf(r->arena,
		    "/channels/%lld#shared-keys", (long long)id));
		cJSON_AddStringToObject(ctx, "confirm_label", "Yes, remove");
		hidden = cJSON_AddArrayToObject(ctx, "hidden");
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", "key_id");
		cJSON_AddStringToObject(o, "value", key_id);
		cJSON_AddItemToArray(hidden, o);
		return resp_page(r, 200, "channels/confirm", ctx);
	}
	st = channel_shared_key_remove(r->db, r->org_id, id, key_id);
	switch (st) {
	case DB_OK:
		log_info("panel", "msg=\"shared key removed\" channel=%lld",
		    (long long)id);
		audit(r, "channel.shared_key_removed", "channel", id, key_id);
		return resp_see_other(r, arena_printf(r->arena,
		    "/channels/%lld#shared-keys", (long long)id), arena_printf(
		    r->arena, "Shared key \"%s\" removed.", key_id));
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/* --- jobs -------------------------------------------------------------- */

/* PostgreSQL's "2026-11-21 07:32:21.431078+00" as "2026-11-21 07:32:21
 * UTC"; anything else unchanged. */
static const char *
short_time(struct arena *a, const char *pg)
{
	size_t	 n = strlen(pg);

	if (n < 19 || pg[10] != ' ' || strcmp(pg + n - 3, "+00") != 0)
		return pg;
	return arena_printf(a, "%.19s UTC", pg);
}

int
panel_jobs_list(struct req *r)
{
	struct job_row	*js;
	cJSON		*ctx, *arr, *o;
	int		 n;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if (queue_list_problems(r->db, r->arena, r->org_id, JOBS_SHOWN, &js,
	    &n) != DB_OK)
		return resp_unavailable(r);
	ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", "Jobs");
	arr = cJSON_AddArrayToObject(ctx, "jobs");
	for (int i = 0; i < n; i++) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)js[i].id);
		cJSON_AddStringToObject(o, "kind", js[i].kind);
		cJSON_AddBoolToObject(o, "is_dead", str_eq(js[i].status,
		    "dead"));
		/* A dead turn's answer: resend what it could not send. */
		cJSON_AddBoolToObject(o, "can_resend", str_eq(js[i].status,
		    "dead") && ((str_eq(js[i].kind, QUEUE_KIND_REPLY) &&
		    js[i].message_id > 0) || (str_eq(js[i].kind,
		    QUEUE_KIND_TURN) && js[i].chat_id > 0)));
		cJSON_AddNumberToObject(o, "attempts", js[i].attempts);
		cJSON_AddNumberToObject(o, "max_attempts", js[i].max_attempts);
		if (js[i].last_error != NULL)
			cJSON_AddStringToObject(o, "last_error",
			    js[i].last_error);
		cJSON_AddStringToObject(o, "run_at", short_time(r->arena,
		    js[i].run_at));
		cJSON_AddStringToObject(o, "updated_at", short_time(r->arena,
		    js[i].updated_at));
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddBoolToObject(ctx, "has_jobs", n > 0);
	return resp_page(r, 200, "jobs/index", ctx);
}

int
panel_jobs_retry(struct req *r)
{
	struct job_row	 job;
	int64_t		 id;
	enum db_status	 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	/* A dead turn: its chat's messages are answered again (a new turn),
	 * the dead job is done. */
	st = queue_get(r->db, r->arena, r->org_id, id, &job);
	if (st == DB_OK && str_eq(job.kind, QUEUE_KIND_TURN) &&
	    str_eq(job.status, "dead") && job.chat_id > 0) {
		st = chat_turn_retry(r->db, r->org_id, job.chat_id, NULL);
		if (st == DB_OK || st == DB_NOT_FOUND)
			st = queue_resolve(r->db, r->org_id, id);
		if (st == DB_OK)
			audit(r, "job.retried", "job", id, "turn");
		return st == DB_OK ? resp_see_other(r, arena_printf(r->arena,
		    "/conversations/%lld", (long long)job.chat_id),
		    "The agent answers again.") : resp_unavailable(r);
	}
	st = queue_retry(r->db, r->org_id, id);
	switch (st) {
	case DB_OK:
		log_info("panel", "msg=\"job retried\" job=%lld",
		    (long long)id);
		audit(r, "job.retried", "job", id, NULL);
		return resp_see_other(r, "/jobs", arena_printf(r->arena,
		    "Job %lld is queued again.", (long long)id));
	case DB_NOT_FOUND:
		/* Unknown, another organisation's, or not dead (any more). */
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/*
 * POST /jobs/{id}/resend: a dead turn's (or a legacy reply job's) failed
 * parts — for a turn, its chat's latest answer with failed parts — each resent
 * once (outbox_record_resend) and sent in order; the job is then done.
 */
int
panel_jobs_resend(struct req *r)
{
	struct job_row		 job;
	struct outbox_new	 nw;
	const char		*flash = NULL, *why, *result;
	int64_t			 id, chat_id, resent_as, *parts;
	int			 n, n_resent = 0;
	enum db_status		 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = queue_get(r->db, r->arena, r->org_id, id, &job);
	if (st == DB_NOT_FOUND)
		return resp_not_found(r);	/* also another org's */
	if (st != DB_OK)
		return resp_unavailable(r);
	/* A dead turn's answer: the chat's latest one with failed parts. */
	if (str_eq(job.status, "dead") && str_eq(job.kind, QUEUE_KIND_TURN) &&
	    job.chat_id > 0 && outbox_last_failed_reply(r->db, r->org_id,
	    job.chat_id, &job.message_id) != DB_OK)
		return resp_unavailable(r);
	if (!str_eq(job.status, "dead") || (!str_eq(job.kind,
	    QUEUE_KIND_REPLY) && !str_eq(job.kind, QUEUE_KIND_TURN)) ||
	    job.message_id <= 0)
		return resp_see_other(r, "/jobs", "Only the answer of a dead "
		    "turn can be resent.");
	if (outbox_failed_parts(r->db, r->arena, r->org_id, job.message_id,
	    &parts, &n, &chat_id) != DB_OK)
		return resp_unavailable(r);
	if (n == 0)
		return resp_see_other(r, "/jobs", "Nothing to resend: the "
		    "agent's answer was never written. Retry the job to ask "
		    "the agent again.");
	for (int i = 0; i < n; i++) {
		if (req_db(r) == NULL)
			return resp_unavailable(r);
		switch (outbox_record_resend(r->app, r->db, r->org_id, chat_id,
		    parts[i], r->session->user_id, &nw, &resent_as, &why)) {
		case OUTBOX_RESEND_OK:
			flash = panel_send(r, nw.message_id, nw.job_id,
			    "Message sent again.", &result);
			n_resent++;
			break;
		case OUTBOX_RESEND_FINAL:
			flash = arena_printf(r->arena, "Resending cannot "
			    "help: %s", why);
			break;
		case OUTBOX_RESEND_UNAVAILABLE:
			return resp_unavailable(r);
		default:
			break;		/* resent meanwhile */
		}
	}
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if (n_resent > 0 && queue_resolve(r->db, r->org_id, id) != DB_OK)
		log_warn("panel", "msg=\"resent job not resolved\" job=%lld",
		    (long long)id);
	audit(r, "job.resent", "job", id, arena_printf(r->arena, "message "
	    "%lld, %d part(s)", (long long)job.message_id, n_resent));
	return resp_see_other(r, arena_printf(r->arena, "/conversations/%lld",
	    (long long)chat_id), n_resent == 0 ? (flash != NULL ? flash :
	    "This reply was already sent again.") : arena_printf(r->arena,
	    "Resent %d part%s of the reply. %s", n_resent, n_resent == 1 ?
	    "" : "s", flash != NULL ? flash : ""));
}
