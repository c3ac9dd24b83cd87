/*
 * api/channels: /api/v1/channels and /api/v1/whatsapp-app (see api.h).
 *
 * A channel is
 *   {id, kind, name, environment, status, phoneNumber, phoneNumberId,
 *    defaultAgentId, credentials: {<field>Hint: mask}, webhookUrls: {…},
 *    lastVerifiedAt, createdAt}.
 * Credentials are write-only: requests send twilioAccountSid,
 * twilioAuthToken, metaAccessToken, metaAppSecret, metaVerifyToken,
 * kapsoApiKey, kapsoWebhookSecret; responses carry only the masked hints.
 * PATCH changes the members sent; an absent, null or "" credential keeps
 * the stored one (the Twilio SID and token change together).
 *
 * A Twilio channel also lists its Webhook Shared Keys as
 * twilioSharedKeys: [{keyId, secretHint, createdAt}], oldest first. POST
 * …/{id}/twilio-shared-keys {keyId, secret} adds one (201, the channel);
 * DELETE …/{id}/twilio-shared-keys/{keyId} removes one (204). A key is
 * rotated by adding the new one before deleting the old one: both verify
 * meanwhile.
 *
 * The WhatsApp app is the simple path for API clients: one per
 * organisation, a Twilio channel named "WhatsApp app" and the agent that
 * answers on it (its default agent), created together in one
 * transaction. Its members are twilioNumber, twilioAccountSid,
 * twilioAuthToken, defaultOrganizationModelId, systemPrompt and
 * enabledPluginIds; reads return twilioAccountSidHint and
 * twilioAuthTokenHint instead of the credentials.
 *
 * Members of the wrong JSON type are a 400 naming the member; values the
 * model refuses are a 422 whose "fields" use the API's names; a number
 * another channel has is a 409. Another organisation's ids are 404.
 */
#include "api/api.h"

#include <ctype.h>
#include <string.h>

#include "db/db.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/agent.h"
#include "plugins/mcp.h"
#include "http/audit.h"
#include "model/channel.h"
#include "model/fielderr.h"
#include "plugins/plugin.h"
#include "util/arena.h"
#include "util/json.h"
#include "util/context.h"
#include "util/str.h"

#define APP_NAME		"WhatsApp app"

static const char	*members_sent(struct req *);

static const struct api_field channel_fields[] = {
	{ "kind", API_STR },
	{ "name", API_STR },
	{ "environment", API_STR },
	{ "status", API_STR },
	{ "phoneNumber", API_STR_NULL },
	{ "phoneNumberId", API_STR_NULL },
	{ "defaultAgentId", API_ID_NULL },
	{ "twilioAccountSid", API_STR_NULL },
	{ "twilioAuthToken", API_STR_NULL },
	{ "metaAccessToken", API_STR_NULL },
	{ "metaAppSecret", API_STR_NULL },
	{ "metaVerifyToken", API_STR_NULL },
	{ "kapsoApiKey", API_STR_NULL },
	{ "kapsoWebhookSecret", API_STR_NULL },
	{ NULL, API_STR },
};

static const struct api_field app_fields[] = {
	{ "twilioNumber", API_STR },
	{ "twilioAccountSid", API_STR_NULL },
	{ "twilioAuthToken", API_STR_NULL },
	{ "defaultOrganizationModelId", API_ID_NULL },
	{ "systemPrompt", API_STR },
	{ "enabledPluginIds", API_STRS },
	{ NULL, API_STR },
};

/* Model field names → API member names (a table per resource). */
struct member_name {
	const char	*field;
	const char	*member;
};

static const struct member_name channel_members[] = {
	{ "kind", "kind" },
	{ "name", "name" },
	{ "environment", "environment" },
	{ "status", "status" },
	{ "phone_number", "phoneNumber" },
	{ "phone_number_id", "phoneNumberId" },
	{ "default_agent_id", "defaultAgentId" },
	{ "twilio_account_sid", "twilioAccountSid" },
	{ "twilio_auth_token", "twilioAuthToken" },
	{ "meta_access_token", "metaAccessToken" },
	{ "meta_app_secret", "metaAppSecret" },
	{ "meta_verify_token", "metaVerifyToken" },
	{ "kapso_api_key", "kapsoApiKey" },
	{ "kapso_webhook_secret", "kapsoWebhookSecret" },
	{ NULL, NULL },
};

static const struct api_field key_fields[] = {
	{ "keyId", API_STR },
	{ "secret", API_STR },
	{ NULL, API_STR },
};

static const struct member_name key_members[] = {
	{ "twilio_shared_key_id", "keyId" },
	{ "twilio_shared_key_secret", "secret" },
	{ NULL, NULL },
};

static const struct member_name app_members[] = {
	{ "phone_number", "twilioNumber" },
	{ "twilio_account_sid", "twilioAccountSid" },
	{ "twilio_auth_token", "twilioAuthToken" },
	{ "model_id", "defaultOrganizationModelId" },
	{ "system_prompt", "systemPrompt" },
	{ "plugins", "enabledPluginIds" },
	{ NULL, NULL },
};

static int	 invalid(struct req *, const struct field_errors *,
		    const struct member_name *);
static const char *camel(struct arena *, const char *);
static void	 add_hints(struct arena *, cJSON *, const char *);
static cJSON	*webhook_urls(struct req *, const char *);
static cJSON	*channel_json(struct req *, const struct channel *);
static bool	 add_shared_keys(struct req *, cJSON *,
		    const struct channel *);
static int	 channel_reply(struct req *, int, int64_t);
static const char *opt_str(struct req *, const char *, const char *);
static void	 input_overlay(struct req *, struct channel_input *);
static int64_t	 json_id(struct req *, const char *);
static int	 conflict(struct req *, const struct field_errors *,
		    const char *);
static enum db_status app_find(struct req *, struct channel *);
static void	 plugin_ids(struct req *, const char ***, int *);
static int	 app_reply(struct req *, int);
static enum db_status app_agent_create(struct req *,
		    struct field_errors *, int64_t *);

/* --- shared ------------------------------------------------------------ */

/* api_invalid with the members named as the client sent them. */
static int
invalid(struct req *r, const struct field_errors *errs,
    const struct member_name *names)
{
	struct field_errors	 out = { 0 };
	const char		*name;

	for (int i = 0; i < errs->n; i++) {
		name = errs->field[i];
		for (const struct member_name *m = names; m->field != NULL;
		    m++)
			if (str_eq(m->field, name))
				name = m->member;
		field_error_add(&out, name, errs->message[i]);
	}
	return api_invalid(r, &out);
}

/* 409 with the model's sentence for the clashing field. */
static int
conflict(struct req *r, const struct field_errors *errs, const char *dflt)
{
	return resp_error(r, 409, "conflict", errs->n > 0 ?
	    errs->message[errs->n - 1] : dflt);
}

/* "twilio_account_sid" → "twilioAccountSid" (arena). */
static const char *
camel(struct arena *a, const char *snake)
{
	char	*out = arena_strdup(a, snake), *w = out;
	bool	 up = false;

	for (const char *p = snake; *p != '\0'; p++) {
		if (*p == '_') {
			up = true;
			continue;
		}
		*w++ = up ? (char)toupper((unsigned char)*p) : *p;
		up = false;
	}
	*w = '\0';
	return out;
}

/* Each stored hint of hints_json as "<camelField>Hint": mask. */
static void
add_hints(struct arena *a, cJSON *obj, const char *hints_json)
{
	cJSON		*hints = json_parse_str(hints_json, NULL);
	const cJSON	*h;

	cJSON_ArrayForEach(h, hints) {
		if (!cJSON_IsString(h) || h->string == NULL)
			continue;
		cJSON_AddStringToObject(obj, arena_printf(a, "%sHint",
		    camel(a, h->string)), h->valuestring);
	}
	cJSON_Delete(hints);
}

/* The URLs to paste into the provider's console (see panel/channels.c). */
static cJSON *
webhook_urls(struct req *r, const char *kind)
{
	const char	*base = r->app->cfg.public_url;
	cJSON		*w = cJSON_CreateObject();

	if (str_eq(kind, "twilio")) {
		/* Twilio's connection override: retry up to 5 times. */
		cJSON_AddStringToObject(w, "inbound", arena_printf(r->arena,
		    "%s/webhooks/whatsapp/twilio#rc=5&rp=all", base));
		cJSON_AddStringToObject(w, "status", arena_printf(r->arena,
		    "%s/webhooks/whatsapp/twilio/status", base));
	} else if (str_eq(kind, "meta")) {
		cJSON_AddStringToObject(w, "callback", arena_printf(r->arena,
		    "%s/webhooks/whatsapp/meta", base));
	} else if (str_eq(kind, "kapso")) {
		cJSON_AddStringToObject(w, "inbound", arena_printf(r->arena,
		    "%s/webhooks/whatsapp/kapso", base));
		cJSON_AddStringToObject(w, "project", arena_printf(r->arena,
		    "%s/webhooks/kapso/project", base));
	}
	return w;
}

/* The JSON value of member name, or NULL when absent (not null). */
static int64_t
json_id(struct req *r, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(r->json, name);
	int64_t		 id;

	return json_int64(v, &id) ? id : 0;
}

/* Member name as a string; null gives "", absence gives dflt. */
static const char *
opt_str(struct req *r, const char *name, const char *dflt)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(r->json, name);

	if (v == NULL)
		return dflt;
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* --- channels ---------------------------------------------------------- */

static cJSON *
channel_json(struct req *r, const struct channel *c)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", (double)c->id);
	cJSON_AddStringToObject(o, "kind", c->kind);
	cJSON_AddStringToObject(o, "name", c->name);
	cJSON_AddStringToObject(o, "environment", c->environment);
	cJSON_AddStringToObject(o, "status", c->status);
	if (c->phone_number[0] != '\0')
		cJSON_AddStringToObject(o, "phoneNumber", c->phone_number);
	else
		cJSON_AddNullToObject(o, "phoneNumber");
	if (c->phone_number_id[0] != '\0')
		cJSON_AddStringToObject(o, "phoneNumberId",
		    c->phone_number_id);
	else
		cJSON_AddNullToObject(o, "phoneNumberId");
	if (c->default_agent_id > 0)
		cJSON_AddNumberToObject(o, "defaultAgentId",
		    (double)c->default_agent_id);
	else
		cJSON_AddNullToObject(o, "defaultAgentId");
	add_hints(r->arena, cJSON_AddObjectToObject(o, "credentials"),
	    c->credential_hints);
	cJSON_AddItemToObject(o, "webhookUrls", webhook_urls(r, c->kind));
	api_add_time(o, "lastVerifiedAt", c->last_verified_at);
	api_add_time(o, "createdAt", c->created_at);
	if (!add_shared_keys(r, o, c)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* twilioSharedKeys of a Twilio channel; false when the database fails. */
static bool
add_shared_keys(struct req *r, cJSON *o, const struct channel *c)
{
	struct channel_shared_key	*ks;
	cJSON				*arr, *k;
	int				 n;

	if (!str_eq(c->kind, "twilio"))
		return true;
	if (channel_shared_keys(r->db, r->arena, r->org_id, c->id, &ks, &n) !=
	    DB_OK)
		return false;
	arr = cJSON_AddArrayToObject(o, "twilioSharedKeys");
	for (int i = 0; i < n; i++) {
		k = cJSON_CreateObject();
		cJSON_AddStringToObject(k, "keyId", ks[i].key_id);
		cJSON_AddStringToObject(k, "secretHint", ks[i].hint);
		api_add_time(k, "createdAt", ks[i].created_at);
		cJSON_AddItemToArray(arr, k);
	}
	return true;
}

/* Sends channel id as read back from the database. */
static int
channel_reply(struct req *r, int status, int64_t id)
{
	struct channel	 c;
	cJSON		*o;
	enum db_status	 st;
	int		 rc;

	st = channel_get(r->db, r->arena, r->org_id, id, &c);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	if ((o = channel_json(r, &c)) == NULL)
		return resp_unavailable(r);
	rc = resp_json(r, status, o);
	cJSON_Delete(o);
	return rc;
}

/* The members sent, over in (which holds defaults or stored values). */
static void
input_overlay(struct req *r, struct channel_input *in)
{
	in->name = opt_str(r, "name", in->name);
	in->environment = opt_str(r, "environment", in->environment);
	in->status = opt_str(r, "status", in->status);
	in->phone_number = opt_str(r, "phoneNumber", in->phone_number);
	in->phone_number_id = opt_str(r, "phoneNumberId",
	    in->phone_number_id);
	if (api_has(r, "defaultAgentId"))
		in->default_agent_id = json_id(r, "defaultAgentId");
	in->twilio_account_sid = api_str(r, "twilioAccountSid");
	in->twilio_auth_token = api_str(r, "twilioAuthToken");
	in->meta_access_token = api_str(r, "metaAccessToken");
	in->meta_app_secret = api_str(r, "metaAppSecret");
	in->meta_verify_token = api_str(r, "metaVerifyToken");
	in->kapso_api_key = api_str(r, "kapsoApiKey");
	in->kapso_webhook_secret = api_str(r, "kapsoWebhookSecret");
}

int
api_channels_list(struct req *r)
{
	struct channel	*cs;
	cJSON		*root, *arr;
	int		 n, rc;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if (channel_list(r->db, r->arena, r->org_id, &cs, &n) != DB_OK)
		return resp_unavailable(r);
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "data");
	for (int i = 0; i < n; i++) {
		cJSON	*o = channel_json(r, &cs[i]);

		if (o == NULL) {
			cJSON_Delete(root);
			return resp_unavailable(r);
		}
		cJSON_AddItemToArray(arr, o);
	}
	rc = resp_json(r, 200, root);
	cJSON_Delete(root);
	return rc;
}

int
api_channels_create(struct req *r)
{
	struct channel_input	 in;
	struct audit_actor	 who;
	struct field_errors	 errs = { 0 };
	int64_t			 id = 0;
	enum db_status		 st;
	int			 rc;

	if ((rc = api_check_types(r, channel_fields)) != 0)
		return rc;
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	memset(&in, 0, sizeof(in));
	in.kind = api_str(r, "kind");
	in.status = NULL;
	input_overlay(r, &in);
	if (in.status != NULL && in.status[0] == '\0')
		in.status = NULL;
	req_audit_actor(r, &who);
	in.who = &who;
	st = channel_create(r->db, r->app->key, r->org_id, &in, &errs, &id);
	switch (st) {
	case DB_OK:
		resp_header(r, "Location", arena_printf(r->arena,
		    "/api/v1/channels/%lld", (long long)id));
		return channel_reply(r, 201, id);
	case DB_INVALID:
		return invalid(r, &errs, channel_members);
	case DB_CONFLICT:
		return conflict(r, &errs, "Another channel already has this "
		    "number.");
	default:
		return resp_unavailable(r);
	}
}

int
api_channels_get(struct req *r)
{
	int64_t	 id;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	return channel_reply(r, 200, id);
}

int
api_channels_update(struct req *r)
{
	struct channel		 cur;
	struct channel_input	 in;
	struct audit_actor	 who;
	struct field_errors	 errs = { 0 };
	int64_t			 id;
	enum db_status		 st;
	int			 rc;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if ((rc = api_check_types(r, channel_fields)) != 0)
		return rc;
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = channel_get(r->db, r->arena, r->org_id, id, &cur);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	if (api_has(r, "kind") && !str_eq(api_str(r, "kind"), cur.kind)) {
		field_error_add(&errs, "kind", "A channel's kind cannot "
		    "change: create another channel.");
		return invalid(r, &errs, channel_members);
	}
	memset(&in, 0, sizeof(in));
	in.kind = cur.kind;
	in.name = cur.name;
	in.environment = cur.environment;
	in.status = cur.status;
	in.phone_number = cur.phone_number;
	in.phone_number_id = cur.phone_number_id;
	in.default_agent_id = cur.default_agent_id;
	input_overlay(r, &in);
	req_audit_actor(r, &who);
	in.who = &who;
	st = channel_update(r->db, r->app->key, r->org_id, id, &in, &errs);
	switch (st) {
	case DB_OK:
		return channel_reply(r, 200, id);
	case DB_INVALID:
		return invalid(r, &errs, channel_members);
	case DB_CONFLICT:
		return conflict(r, &errs, "Another channel already has this "
		    "number.");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

int
api_channels_delete(struct req *r)
{
	int64_t		 id;
	enum db_status	 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = channel_delete(r->db, r->org_id, id);
	if (st == DB_OK)
		audit(r, "channel.deleted", "channel", id, NULL);
	if (st == DB_OK)
		return resp_send(r, 204, "text/plain; charset=utf-8", "", 0);
	if (st == DB_INVALID)
		return resp_error(r, 409, "sandbox", "The sandbox channel "
		    "cannot be deleted.");
	return st == DB_NOT_FOUND ? resp_not_found(r) : resp_unavailable(r);
}

/* POST /api/v1/channels/{id}/twilio-shared-keys: 201 with the channel. */
int
api_channels_key_add(struct req *r)
{
	struct field_errors	 errs = { 0 };
	const char		*key_id;
	int64_t			 id;
	enum db_status		 st;
	int			 rc;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if ((rc = api_check_types(r, key_fields)) != 0)
		return rc;
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	key_id = api_str(r, "keyId");
	st = channel_shared_key_add(r->db, r->app->key, r->org_id, id, key_id,
	    api_str(r, "secret"), &errs);
	switch (st) {
	case DB_OK:
		audit(r, "channel.shared_key_added", "channel", id,
		    str_trim(arena_strdup(r->arena, key_id)));
		return channel_reply(r, 201, id);
	case DB_INVALID:
		return invalid(r, &errs, key_members);
	case DB_CONFLICT:
		return conflict(r, &errs, "This channel already has a key with "
		    "this ID.");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/* DELETE /api/v1/channels/{id}/twilio-shared-keys/{key}: 204. */
int
api_channels_key_remove(struct req *r)
{
	const char	*key_id = req_param(r, "key");
	int64_t		 id;
	enum db_status	 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = channel_shared_key_remove(r->db, r->org_id, id, key_id);
	if (st == DB_OK) {
		audit(r, "channel.shared_key_removed", "channel", id, key_id);
		return resp_send(r, 204, "text/plain; charset=utf-8", "", 0);
	}
	return st == DB_NOT_FOUND ? resp_not_found(r) : resp_unavailable(r);
}

/* The app members the request sent, by name (never a value): the
 * audit log's detail; "nothing" when none. */
static const char *
members_sent(struct req *r)
{
	const char	*out = NULL;

	for (const struct api_field *f = app_fields; f->name != NULL; f++)
		if (api_has(r, f->name))
			out = out == NULL ? f->name : arena_printf(r->arena,
			    "%s, %s", out, f->name);
	return out != NULL ? out : "nothing";
}

/* --- the WhatsApp app -------------------------------------------------- */

/* The organisation's app channel (DB_NOT_FOUND: none yet). */
static enum db_status
app_find(struct req *r, struct channel *out)
{
	struct channel	*cs;
	enum db_status	 st;
	int		 n;

	if ((st = channel_list(r->db, r->arena, r->org_id, &cs, &n)) != DB_OK)
		return st;
	for (int i = 0; i < n; i++)
		if (str_eq(cs[i].kind, "twilio") &&
		    str_eq(cs[i].name, APP_NAME)) {
			*out = cs[i];
			return DB_OK;
		}
	return DB_NOT_FOUND;
}

/* enabledPluginIds (types checked already); *n is -1 when absent. */
static void
plugin_ids(struct req *r, const char ***ids, int *n)
{
	const cJSON	*v, *e;
	int		 i = 0;

	*ids = NULL;
	*n = -1;
	v = cJSON_GetObjectItemCaseSensitive(r->json, "enabledPluginIds");
	if (!cJSON_IsArray(v))
		return;
	*n = cJSON_GetArraySize(v);
	*ids = arena_alloc(r->arena, sizeof(char *) * ((size_t)*n + 1));
	cJSON_ArrayForEach(e, v)
		(*ids)[i++] = e->valuestring;
}

/*
 * The app's agent, "WhatsApp app", from the request's model, prompt and
 * plugins, in the caller's transaction.
 */
static enum db_status
app_agent_create(struct req *r, struct field_errors *errs, int64_t *id)
{
	struct agent_input	 in;
	const char		**ids;
	int			 n;
	enum db_status		 st;

	agent_input_defaults(&in);
	in.name = APP_NAME;
	in.slug = NULL;
	in.system_prompt = opt_str(r, "systemPrompt", "");
	in.model_id = json_id(r, "defaultOrganizationModelId");
	st = agent_create(r->db, r->org_id, &in, errs, id);
	plugin_ids(r, &ids, &n);
	if (st == DB_OK && n > 0 &&
	    (st = mcp_plugins_set(r->db, r->org_id, *id, ids, n)) ==
	    DB_INVALID)
		field_error_add(errs, "plugins", "Use the ids of available "
		    "plugins (GET /api/v1/plugins) or of this organisation's "
		    "MCP servers (\"mcp:<id>\", GET /api/v1/mcp-servers).");
	if (st == DB_CONFLICT)
		field_error_add(errs, "name", "Another agent already uses the "
		    "slug \"whatsapp-app\": rename it first.");
	return st;
}

/* Sends the organisation's app (404 when there is none). */
static int
app_reply(struct req *r, int status)
{
	struct channel	 c;
	struct agent	 g;
	cJSON		*o, *hints, *arr;
	const cJSON	*h;
	enum db_status	 st;
	int		 rc;

	if ((st = app_find(r, &c)) != DB_OK)
		return st == DB_NOT_FOUND ? resp_error(r, 404, "not_found",
		    "This organisation has no WhatsApp app yet: POST "
		    "/api/v1/whatsapp-app creates it.") : resp_unavailable(r);
	memset(&g, 0, sizeof(g));
	if (c.default_agent_id > 0) {
		st = agent_get(r->db, r->arena, r->org_id, c.default_agent_id,
		    &g);
		if (st != DB_OK && st != DB_NOT_FOUND)
			return resp_unavailable(r);
		if (st == DB_NOT_FOUND)
			memset(&g, 0, sizeof(g));
	}
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "channelId", (double)c.id);
	if (g.id > 0)
		cJSON_AddNumberToObject(o, "agentId", (double)g.id);
	else
		cJSON_AddNullToObject(o, "agentId");
	cJSON_AddStringToObject(o, "twilioNumber", c.phone_number);
	hints = json_parse_str(c.credential_hints, NULL);
	h = cJSON_GetObjectItemCaseSensitive(hints, "twilio_account_sid");
	if (cJSON_IsString(h))
		cJSON_AddStringToObject(o, "twilioAccountSidHint",
		    h->valuestring);
	else
		cJSON_AddNullToObject(o, "twilioAccountSidHint");
	h = cJSON_GetObjectItemCaseSensitive(hints, "twilio_auth_token");
	if (cJSON_IsString(h))
		cJSON_AddStringToObject(o, "twilioAuthTokenHint",
		    h->valuestring);
	else
		cJSON_AddNullToObject(o, "twilioAuthTokenHint");
	cJSON_Delete(hints);
	if (g.model_id > 0)
		cJSON_AddNumberToObject(o, "defaultOrganizationModelId",
		    (double)g.model_id);
	else
		cJSON_AddNullToObject(o, "defaultOrganizationModelId");
	cJSON_AddStringToObject(o, "systemPrompt", g.system_prompt != NULL ?
	    g.system_prompt : "");
	if (g.id > 0 && mcp_plugins_get(r->db, r->arena, r->org_id, g.id,
	    g.plugins, g.n_plugins, &g.plugins, &g.n_plugins) != DB_OK) {
		cJSON_Delete(o);
		return resp_unavailable(r);
	}
	arr = cJSON_AddArrayToObject(o, "enabledPluginIds");
	for (int i = 0; i < g.n_plugins; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(g.plugins[i]));
	cJSON_AddStringToObject(o, "status", c.status);
	cJSON_AddStringToObject(o, "environment", c.environment);
	cJSON_AddItemToObject(o, "webhookUrls", webhook_urls(r, c.kind));
	api_add_time(o, "lastVerifiedAt", c.last_verified_at);
	api_add_time(o, "createdAt", c.created_at);
	rc = resp_json(r, status, o);
	cJSON_Delete(o);
	return rc;
}

int
api_whatsapp_app_create(struct req *r)
{
	struct channel		 cur;
	struct channel_input	 in;
	struct audit_actor	 who;
	struct field_errors	 errs = { 0 };
	int64_t			 agent_id = 0, channel_id = 0;
	enum db_status		 st;
	int			 rc;

	if ((rc = api_check_types(r, app_fields)) != 0)
		return rc;
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = app_find(r, &cur);
	if (st == DB_OK)
		return resp_error(r, 409, "conflict", "This organisation "
		    "already has a WhatsApp app: PATCH /api/v1/whatsapp-app "
		    "changes it.");
	if (st != DB_NOT_FOUND)
		return resp_unavailable(r);

	/* The agent and the channel answering with it: both or neither. */
	if (db_tx_begin(r->db) != DB_OK)
		return resp_unavailable(r);
	st = app_agent_create(r, &errs, &agent_id);
	if (st == DB_OK) {
		memset(&in, 0, sizeof(in));
		in.kind = "twilio";
		in.name = APP_NAME;
		in.environment = "production";
		in.status = "connected";
		in.phone_number = api_str(r, "twilioNumber");
		in.default_agent_id = agent_id;
		in.twilio_account_sid = api_str(r, "twilioAccountSid");
		in.twilio_auth_token = api_str(r, "twilioAuthToken");
		/* Audited inside the transaction: both or neither. */
		req_audit_actor(r, &who);
		in.who = &who;
		st = channel_create(r->db, r->app->key, r->org_id, &in, &errs,
		    &channel_id);
	}
	if (st == DB_OK)
		st = db_tx_commit(r->db);
	db_tx_rollback(r->db);
	switch (st) {
	case DB_OK:
		audit(r, "agent.created", "agent", agent_id, APP_NAME);
		audit(r, "whatsapp_app.created", "channel", channel_id,
		    arena_printf(r->arena, "agent #%lld; sent: %s",
		    (long long)agent_id, members_sent(r)));
		resp_header(r, "Location", "/api/v1/whatsapp-app");
		return app_reply(r, 201);
	case DB_INVALID:
		return invalid(r, &errs, app_members);
	case DB_CONFLICT:
		return conflict(r, &errs, "This organisation already has a "
		    "WhatsApp app.");
	default:
		return resp_unavailable(r);
	}
}

int
api_whatsapp_app_get(struct req *r)
{
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	return app_reply(r, 200);
}

int
api_whatsapp_app_update(struct req *r)
{
	struct channel		 c;
	struct channel_input	 in;
	struct audit_actor	 who;
	struct agent		 g;
	struct agent_input	 ain;
	struct field_errors	 errs = { 0 };
	const char		**ids;
	int64_t			 agent_id;
	int			 n_ids, rc;
	bool			 agent_change;
	enum db_status		 st;

	if ((rc = api_check_types(r, app_fields)) != 0)
		return rc;
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if ((st = app_find(r, &c)) != DB_OK)
		return st == DB_NOT_FOUND ? resp_error(r, 404, "not_found",
		    "This organisation has no WhatsApp app yet: POST "
		    "/api/v1/whatsapp-app creates it.") : resp_unavailable(r);
	agent_change = api_has(r, "systemPrompt") ||
	    api_has(r, "defaultOrganizationModelId") ||
	    api_has(r, "enabledPluginIds");
	agent_id = c.default_agent_id;

	if (db_tx_begin(r->db) != DB_OK)
		return resp_unavailable(r);
	st = DB_OK;
	if (agent_change && agent_id > 0) {
		st = agent_get(r->db, r->arena, r->org_id, agent_id, &g);
		if (st == DB_NOT_FOUND) {
			agent_id = 0;
			st = DB_OK;
		}
	}
	if (st == DB_OK && agent_change && agent_id > 0) {
		agent_input_defaults(&ain);
		ain.name = g.name;
		ain.slug = g.slug;
		ain.system_prompt = opt_str(r, "systemPrompt",
		    g.system_prompt);
		ain.model_id = api_has(r, "defaultOrganizationModelId") ?
		    json_id(r, "defaultOrganizationModelId") : g.model_id;
		ain.mode = g.mode;
		ain.history_length = g.history_length;
		ain.has_temperature = g.has_temperature;
		ain.temperature = g.temperature;
		ain.max_tokens = g.max_tokens;
		ain.reset_command = g.reset_command;
		ain.allow_list = (const char *const *)g.allow_list;
		ain.n_allow = g.n_allow;
		ain.escalation_keywords =
		    (const char *const *)g.escalation_keywords;
		ain.n_escalation = g.n_escalation;
		st = agent_update(r->db, r->org_id, agent_id, &ain, &errs);
		plugin_ids(r, &ids, &n_ids);
		if (st == DB_OK && n_ids >= 0 &&
		    (st = mcp_plugins_set(r->db, r->org_id, agent_id, ids,
		    n_ids)) == DB_INVALID)
			field_error_add(&errs, "plugins", "Use the ids of "
			    "available plugins (GET /api/v1/plugins) or of "
			    "this organisation's MCP servers (\"mcp:<id>\", "
			    "GET /api/v1/mcp-servers).");
	} else if (st == DB_OK && agent_change)
		/* Its agent was deleted: the app gets a new one. */
		st = app_agent_create(r, &errs, &agent_id);
	if (st == DB_OK) {
		memset(&in, 0, sizeof(in));
		in.kind = c.kind;
		in.name = c.name;
		in.environment = c.environment;
		in.status = c.status;
		in.phone_number = opt_str(r, "twilioNumber", c.phone_number);
		in.phone_number_id = c.phone_number_id;
		in.default_agent_id = agent_id;
		in.twilio_account_sid = api_str(r, "twilioAccountSid");
		in.twilio_auth_token = api_str(r, "twilioAuthToken");
		req_audit_actor(r, &who);
		in.who = &who;
		st = channel_update(r->db, r->app->key, r->org_id, c.id, &in,
		    &errs);
	}
	if (st == DB_OK)
		st = db_tx_commit(r->db);
	db_tx_rollback(r->db);
	switch (st) {
	case DB_OK:
		/* The agent's prompt, model and plugins change here too. */
		audit(r, "whatsapp_app.updated", "channel", c.id,
		    arena_printf(r->arena, "agent #%lld; sent: %s",
		    (long long)agent_id, members_sent(r)));
		return app_reply(r, 200);
	case DB_INVALID:
		return invalid(r, &errs, app_members);
	case DB_CONFLICT:
		return conflict(r, &errs, "Another channel already has this "
		    "number.");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}
