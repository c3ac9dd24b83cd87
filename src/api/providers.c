/*
 * api/providers: /api/v1/providers and /api/v1/models (see api.h).
 *
 * A provider's API key is write-only: responses carry apiKeyHint (the
 * masked form) and hasApiKey, never the key. PATCH changes only the
 * members sent; "apiKey": null removes the stored key and "" keeps it.
 * A new baseUrl while a key is stored needs the key again (or null):
 * model/provider.c refuses it otherwise, and audits every change.
 * Members of the wrong JSON type are a 400 naming the member; values the
 * model refuses are a 422 whose "fields" use the API's camelCase names.
 */
#include "api/api.h"

#include <string.h>

#include "db/db.h"
#include "http/req.h"
#include "http/resp.h"
#include "http/audit.h"
#include "model/fielderr.h"
#include "model/orgmodel.h"
#include "model/provider.h"
#include "util/arena.h"
#include "util/json.h"
#include "util/context.h"
#include "util/str.h"

static const struct api_field provider_fields[] = {
	{ "name", API_STR },
	{ "baseUrl", API_STR },
	{ "apiKey", API_STR_NULL },
	{ NULL, API_STR },
};

static const struct api_field model_fields[] = {
	{ "providerId", API_ID_NULL },
	{ "name", API_STR },
	{ "displayName", API_STR },
	{ "supportsVision", API_BOOL },
	{ "supportsTools", API_BOOL },
	{ "isDefault", API_BOOL },
	{ NULL, API_STR },
};

/* Model field names → API member names, for 422 "fields". */
static const struct {
	const char	*field;
	const char	*member;
} member_names[] = {
	{ "name", "name" },
	{ "base_url", "baseUrl" },
	{ "api_key", "apiKey" },
	{ "provider_id", "providerId" },
	{ "display_name", "displayName" },
	{ "supports_vision", "supportsVision" },
	{ "supports_tools", "supportsTools" },
	{ "is_default", "isDefault" },
};

static int	 invalid(struct req *, const struct field_errors *);
static bool	 id_or_404(struct req *, int64_t *);
static int	 status_error(struct req *, enum db_status);
static cJSON	*provider_json(const struct provider *);
static int	 provider_reply(struct req *, int, int64_t);
static cJSON	*model_json(const struct org_model *);
static int	 model_reply(struct req *, int, int64_t);
static bool	 json_bool(const struct req *, const char *, bool);

/* api_invalid with the members named as the client sent them. */
static int
invalid(struct req *r, const struct field_errors *errs)
{
	struct field_errors	 out = { 0 };
	const char		*name;

	for (int i = 0; i < errs->n; i++) {
		name = errs->field[i];
		for (size_t j = 0; j < sizeof(member_names) /
		    sizeof(member_names[0]); j++)
			if (str_eq(member_names[j].field, name))
				name = member_names[j].member;
		field_error_add(&out, name, errs->message[i]);
	}
	return api_invalid(r, &out);
}

static bool
id_or_404(struct req *r, int64_t *id)
{
	return req_param_id(r, "id", id);
}

/* The reply for a status other than DB_OK (and DB_INVALID/CONFLICT). */
static int
status_error(struct req *r, enum db_status st)
{
	return st == DB_NOT_FOUND ? resp_not_found(r) : resp_unavailable(r);
}

static bool
json_bool(const struct req *r, const char *name, bool dflt)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(r->json, name);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* --- providers --------------------------------------------------------- */

static cJSON *
provider_json(const struct provider *p)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", (double)p->id);
	cJSON_AddStringToObject(o, "name", p->name);
	cJSON_AddStringToObject(o, "baseUrl", p->base_url);
	if (p->has_key)
		cJSON_AddStringToObject(o, "apiKeyHint", p->api_key_hint);
	else
		cJSON_AddNullToObject(o, "apiKeyHint");
	cJSON_AddBoolToObject(o, "hasApiKey", p->has_key);
	cJSON_AddNumberToObject(o, "modelCount", p->n_models);
	api_add_time(o, "createdAt", p->created_at);
	api_add_time(o, "updatedAt", p->updated_at);
	return o;
}

/* Sends provider id as read back from the database. */
static int
provider_reply(struct req *r, int status, int64_t id)
{
	struct provider	 p;
	cJSON		*o;
	enum db_status	 st;
	int		 rc;

	if ((st = provider_get(r->db, r->arena, r->org_id, id, &p)) != DB_OK)
		return status_error(r, st);
	o = provider_json(&p);
	rc = resp_json(r, status, o);
	cJSON_Delete(o);
	return rc;
}

int
api_providers_list(struct req *r)
{
	struct provider	*ps;
	cJSON		*root, *arr;
	int		 n, rc;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if (provider_list(r->db, r->arena, r->org_id, &ps, &n) != DB_OK)
		return resp_unavailable(r);
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "data");
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, provider_json(&ps[i]));
	rc = resp_json(r, 200, root);
	cJSON_Delete(root);
	return rc;
}

int
api_providers_create(struct req *r)
{
	struct provider_input	 in = { 0 };
	struct audit_actor	 who;
	struct field_errors	 errs = { 0 };
	int64_t			 id = 0;
	enum db_status		 st;
	int			 rc;

	if ((rc = api_check_types(r, provider_fields)) != 0)
		return rc;
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	in.name = api_str(r, "name");
	in.base_url = api_str(r, "baseUrl");
	in.api_key = api_str(r, "apiKey");
	req_audit_actor(r, &who);
	in.who = &who;
	st = provider_create(r->db, r->app->key, r->org_id, &in, &errs, &id);
	switch (st) {
	case DB_OK:
		return provider_reply(r, 201, id);
	case DB_INVALID:
		return invalid(r, &errs);
	case DB_CONFLICT:
		return resp_error(r, 409, "conflict", "Another provider "
		    "already has this name.");
	default:
		return resp_unavailable(r);
	}
}

int
api_providers_get(struct req *r)
{
	int64_t	 id;

	if (!id_or_404(r, &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	return provider_reply(r, 200, id);
}

int
api_providers_update(struct req *r)
{
	struct provider_input	 in = { 0 };
	struct audit_actor	 who;
	struct field_errors	 errs = { 0 };
	struct provider		 cur;
	const cJSON		*key;
	int64_t			 id;
	enum db_status		 st;
	int			 rc;

	if (!id_or_404(r, &id))
		return resp_not_found(r);
	if ((rc = api_check_types(r, provider_fields)) != 0)
		return rc;
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = provider_get(r->db, r->arena, r->org_id, id, &cur);
	if (st != DB_OK)
		return status_error(r, st);
	in.name = api_has(r, "name") ? api_str(r, "name") : cur.name;
	in.base_url = api_has(r, "baseUrl") ? api_str(r, "baseUrl") :
	    cur.base_url;
	key = cJSON_GetObjectItemCaseSensitive(r->json, "apiKey");
	in.clear_key = cJSON_IsNull(key);
	in.api_key = cJSON_IsString(key) ? key->valuestring : NULL;
	req_audit_actor(r, &who);
	in.who = &who;
	/* A new baseUrl without an apiKey is a 422 here (provider.h). */
	st = provider_update(r->db, r->app->key, r->org_id, id, &in, &errs);
	switch (st) {
	case DB_OK:
		return provider_reply(r, 200, id);
	case DB_INVALID:
		return invalid(r, &errs);
	case DB_CONFLICT:
		return resp_error(r, 409, "conflict", "Another provider "
		    "already has this name.");
	default:
		return status_error(r, st);
	}
}

int
api_providers_delete(struct req *r)
{
	int64_t		 id;
	enum db_status	 st;

	if (!id_or_404(r, &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = provider_delete(r->db, r->org_id, id);
	if (st == DB_OK)
		audit(r, "provider.deleted", "provider", id, NULL);
	if (st == DB_OK)
		return resp_send(r, 204, "text/plain; charset=utf-8", "", 0);
	if (st == DB_INVALID)
		return resp_error(r, 409, "in_use", "Models use this provider; "
		    "delete them or move them to another provider first.");
	return status_error(r, st);
}

/* --- models ------------------------------------------------------------ */

static cJSON *
model_json(const struct org_model *m)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", (double)m->id);
	if (m->provider_id > 0)
		cJSON_AddNumberToObject(o, "providerId",
		    (double)m->provider_id);
	else
		cJSON_AddNullToObject(o, "providerId");
	cJSON_AddStringToObject(o, "name", m->name);
	cJSON_AddStringToObject(o, "displayName", m->display_name);
	cJSON_AddBoolToObject(o, "supportsVision", m->supports_vision);
	cJSON_AddBoolToObject(o, "supportsTools", m->supports_tools);
	cJSON_AddBoolToObject(o, "isDefault", m->is_default);
	cJSON_AddBoolToObject(o, "isBuiltin", m->is_builtin);
	cJSON_AddNumberToObject(o, "agentCount", m->n_agents);
	api_add_time(o, "createdAt", m->created_at);
	return o;
}

static int
model_reply(struct req *r, int status, int64_t id)
{
	struct org_model	 m;
	cJSON			*o;
	enum db_status		 st;
	int			 rc;

	if ((st = orgmodel_get(r->db, r->arena, r->org_id, id, &m)) != DB_OK)
		return status_error(r, st);
	o = model_json(&m);
	rc = resp_json(r, status, o);
	cJSON_Delete(o);
	return rc;
}

int
api_models_list(struct req *r)
{
	struct org_model	*ms;
	cJSON			*root, *arr;
	int			 n, rc;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if (orgmodel_list(r->db, r->arena, r->org_id, &ms, &n) != DB_OK)
		return resp_unavailable(r);
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "data");
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, model_json(&ms[i]));
	rc = resp_json(r, 200, root);
	cJSON_Delete(root);
	return rc;
}

int
api_models_create(struct req *r)
{
	struct org_model_input	 in = { 0 };
	struct field_errors	 errs = { 0 };
	const cJSON		*pid;
	int64_t			 id = 0;
	enum db_status		 st;
	int			 rc;

	if ((rc = api_check_types(r, model_fields)) != 0)
		return rc;
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	pid = cJSON_GetObjectItemCaseSensitive(r->json, "providerId");
	in.provider_id = 0;
	if (cJSON_IsNumber(pid) && !json_int64(pid, &in.provider_id))
		in.provider_id = -1;	/* no such provider: 422 */
	in.name = api_str(r, "name");
	in.display_name = api_str(r, "displayName");
	in.supports_vision = json_bool(r, "supportsVision", false);
	in.supports_tools = json_bool(r, "supportsTools", true);
	in.is_default = json_bool(r, "isDefault", false);
	st = orgmodel_create(r->db, r->org_id, &in, &errs, &id);
	switch (st) {
	case DB_OK:
		audit(r, "model.created", "model", id,
		    orgmodel_describe(r->arena, &in));
		return model_reply(r, 201, id);
	case DB_INVALID:
		return invalid(r, &errs);
	case DB_CONFLICT:
		return resp_error(r, 409, "conflict", "This organisation "
		    "already has a model with this name.");
	default:
		return resp_unavailable(r);
	}
}

int
api_models_get(struct req *r)
{
	int64_t	 id;

	if (!id_or_404(r, &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	return model_reply(r, 200, id);
}

int
api_models_update(struct req *r)
{
	struct org_model_input	 in = { 0 };
	struct field_errors	 errs = { 0 };
	struct org_model	 cur;
	const cJSON		*pid;
	int64_t			 id;
	enum db_status		 st;
	int			 rc;

	if (!id_or_404(r, &id))
		return resp_not_found(r);
	if ((rc = api_check_types(r, model_fields)) != 0)
		return rc;
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = orgmodel_get(r->db, r->arena, r->org_id, id, &cur);
	if (st != DB_OK)
		return status_error(r, st);
	pid = cJSON_GetObjectItemCaseSensitive(r->json, "providerId");
	in.provider_id = pid == NULL ? cur.provider_id : 0;
	if (cJSON_IsNumber(pid) && !json_int64(pid, &in.provider_id))
		in.provider_id = -1;	/* no such provider: 422 */
	in.name = api_has(r, "name") ? api_str(r, "name") : cur.name;
	in.display_name = api_has(r, "displayName") ?
	    api_str(r, "displayName") : cur.display_name;
	in.supports_vision = json_bool(r, "supportsVision",
	    cur.supports_vision);
	in.supports_tools = json_bool(r, "supportsTools", cur.supports_tools);
	in.is_default = json_bool(r, "isDefault", cur.is_default);
	if (cur.is_builtin) {
		/* Capabilities of the built-in model are fixed. */
		if ((api_has(r, "supportsVision") &&
		    in.supports_vision != cur.supports_vision) ||
		    (api_has(r, "supportsTools") &&
		    in.supports_tools != cur.supports_tools)) {
			field_error_add(&errs, api_has(r, "supportsVision") &&
			    in.supports_vision != cur.supports_vision ?
			    "supports_vision" : "supports_tools",
			    "The built-in model's capabilities cannot "
			    "change.");
			return invalid(r, &errs);
		}
	}
	st = orgmodel_update(r->db, r->org_id, id, &in, &errs);
	switch (st) {
	case DB_OK:
		audit(r, "model.updated", "model", id,
		    orgmodel_describe(r->arena, &in));
		return model_reply(r, 200, id);
	case DB_INVALID:
		return invalid(r, &errs);
	case DB_CONFLICT:
		return resp_error(r, 409, "conflict", "This organisation "
		    "already has a model with this name.");
	default:
		return status_error(r, st);
	}
}

int
api_models_delete(struct req *r)
{
	struct org_model	 m = { 0 };
	int64_t			 id;
	enum db_status		 st;

	if (!id_or_404(r, &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = orgmodel_get(r->db, r->arena, r->org_id, id, &m);
	if (st == DB_OK)
		st = orgmodel_delete(r->db, r->org_id, id);
	if (st == DB_OK)
		audit(r, "model.deleted", "model", id, arena_printf(r->arena,
		    "%s (%s)", m.display_name, m.name));
	if (st == DB_OK)
		return resp_send(r, 204, "text/plain; charset=utf-8", "", 0);
	if (st == DB_INVALID)
		return resp_error(r, 409, "in_use", m.is_builtin ?
		    "The built-in model cannot be deleted." :
		    "Agents use this model; choose another model for them "
		    "first.");
	return status_error(r, st);
}
