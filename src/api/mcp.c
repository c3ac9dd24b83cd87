/*
 * api/mcp: /api/v1/mcp-servers, the organisation's MCP servers (see
 * model/mcp_server.h and docs/api.md).
 *
 * A server is
 *   {id, pluginId ("mcp:<id>"), name, slug, url, auth, hasSecret,
 *    secretHint, headerNames [], oauth {clientId, scope, issuer,
 *    connected, connectedAt, expiresAt, hasRefreshToken}, timeoutMs,
 *    maxResultBytes, lastTest {at, ok, message} | null, agentCount,
 *    createdAt, updatedAt}.
 * Secrets are write-only: "secret" (the bearer token or OAuth client
 * secret) and "headers" ({"Name": "value"}) are accepted and never sent
 * back; responses carry masked hints. PATCH changes only the members
 * sent; a new url needs the secret (or headers) again in the same
 * request. POST …/test connects as a model call would and lists the
 * tools. Another organisation's id is 404. Every change is audited,
 * never with a secret.
 */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

#include "util/context.h"
#include "db/db.h"
#include "http/audit.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/fielderr.h"
#include "model/mcp_server.h"
#include "plugins/mcp.h"
#include "util/arena.h"
#include "util/str.h"

/* Model field names → API member names, for 422 "fields". */
static const struct {
	const char	*field;
	const char	*member;
} member_names[] = {
	{ "oauth_client_id", "oauthClientId" },
	{ "oauth_scope", "oauthScope" },
	{ "timeout_ms", "timeoutMs" },
	{ "max_result_bytes", "maxResultBytes" },
};

static int	 invalid(struct req *, const struct field_errors *);
static bool	 id_or_404(struct req *, int64_t *, int *);
static cJSON	*server_json(struct req *, const struct mcp_server *);
static int	 reply(struct req *, int, int64_t);
static int	 read_input(struct req *, struct mcp_server_input *);
static int	 bad_type(struct req *, const char *, const char *);
static char	*changes(struct req *, const struct mcp_server *,
		    const struct mcp_server_input *);

static int
bad_type(struct req *r, const char *member, const char *want)
{
	return resp_bad_request(r, arena_printf(r->arena, "%s must be %s.",
	    member, want));
}

static int
invalid(struct req *r, const struct field_errors *errs)
{
	struct field_errors	 out = { 0 };

	for (int i = 0; i < errs->n; i++) {
		const char	*m = errs->field[i];

		for (size_t j = 0; j < sizeof(member_names) /
		    sizeof(member_names[0]); j++)
			if (str_eq(member_names[j].field, m))
				m = member_names[j].member;
		field_error_add(&out, m, errs->message[i]);
	}
	return api_invalid(r, &out);
}

static bool
id_or_404(struct req *r, int64_t *id, int *status)
{
	if (!req_param_id(r, "id", id)) {
		*status = resp_not_found(r);
		return false;
	}
	if (req_db(r) == NULL) {
		*status = resp_unavailable(r);
		return false;
	}
	return true;
}

static cJSON *
server_json(struct req *r, const struct mcp_server *s)
{
	cJSON	*o = cJSON_CreateObject(), *a, *oa, *t;

	cJSON_AddNumberToObject(o, "id", (double)s->id);
	cJSON_AddStringToObject(o, "pluginId", arena_printf(r->arena,
	    MCP_PLUGIN_PREFIX "%lld", (long long)s->id));
	cJSON_AddStringToObject(o, "name", s->name);
	cJSON_AddStringToObject(o, "slug", s->slug);
	cJSON_AddStringToObject(o, "url", s->url);
	cJSON_AddStringToObject(o, "auth", mcp_auth_str(s->auth));
	cJSON_AddBoolToObject(o, "hasSecret", s->has_secret);
	cJSON_AddStringToObject(o, "secretHint", s->secret_hint);
	a = cJSON_AddArrayToObject(o, "headerNames");
	for (int i = 0; i < s->n_headers; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(s->header_names[i]));
	oa = cJSON_AddObjectToObject(o, "oauth");
	cJSON_AddStringToObject(oa, "clientId", s->oauth_client_id);
	cJSON_AddStringToObject(oa, "scope", s->oauth_scope);
	cJSON_AddStringToObject(oa, "issuer", s->oauth_issuer);
	cJSON_AddBoolToObject(oa, "connected", s->oauth_connected);
	api_add_time(oa, "connectedAt", s->oauth_connected_at[0] ?
	    s->oauth_connected_at : NULL);
	api_add_time(oa, "expiresAt", s->access_expires_at[0] ?
	    s->access_expires_at : NULL);
	cJSON_AddBoolToObject(oa, "hasRefreshToken", s->oauth_has_refresh);
	cJSON_AddNumberToObject(o, "timeoutMs", s->timeout_ms);
	cJSON_AddNumberToObject(o, "maxResultBytes", s->max_result_bytes);
	if (s->has_test) {
		t = cJSON_AddObjectToObject(o, "lastTest");
		api_add_time(t, "at", s->last_tested_at);
		cJSON_AddBoolToObject(t, "ok", s->last_test_ok);
		cJSON_AddStringToObject(t, "message", s->last_test_message);
	} else
		cJSON_AddNullToObject(o, "lastTest");
	cJSON_AddNumberToObject(o, "agentCount", s->n_agents);
	api_add_time(o, "createdAt", s->created_at);
	api_add_time(o, "updatedAt", s->updated_at);
	return o;
}

static int
reply(struct req *r, int status, int64_t id)
{
	struct mcp_server	 s;
	enum db_status		 st;
	cJSON			*o;
	int			 rc;

	st = mcp_server_get(r->db, r->arena, r->org_id, id, &s);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	o = server_json(r, &s);
	rc = resp_json(r, status, o);
	cJSON_Delete(o);
	return rc;
}

/*
 * Overlays the request's members on in (types checked: 400 naming the
 * member). Returns 0 or the status sent.
 */
static int
read_input(struct req *r, struct mcp_server_input *in)
{
	static const char *const strs[] = { "name", "slug", "url", "auth",
	    "secret", "oauthClientId", "oauthScope" };
	const char	**dst[] = { &in->name, &in->slug, &in->url, &in->auth,
			    &in->secret, &in->oauth_client_id,
			    &in->oauth_scope };
	const cJSON	*v;

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		v = cJSON_GetObjectItemCaseSensitive(r->json, strs[i]);
		if (v == NULL)
			continue;
		if (!cJSON_IsString(v))
			return bad_type(r, strs[i], "a string");
		*dst[i] = v->valuestring;
	}
	v = cJSON_GetObjectItemCaseSensitive(r->json, "headers");
	if (v != NULL) {
		char	*j;

		if (!cJSON_IsObject(v))
			return bad_type(r, "headers", "an object of header "
			    "names to values");
		if ((j = cJSON_PrintUnformatted(v)) == NULL)
			return resp_unavailable(r);
		in->headers_json = arena_strdup(r->arena, j);
		memset(j, 0, strlen(j));
		free(j);
	}
	v = cJSON_GetObjectItemCaseSensitive(r->json, "timeoutMs");
	if (v != NULL) {
		if (!cJSON_IsNumber(v) || v->valuedouble != (int)v->valuedouble)
			return bad_type(r, "timeoutMs", "an integer");
		in->timeout_ms = v->valuedouble < 1 ? -1 : (int)v->valuedouble;
	}
	v = cJSON_GetObjectItemCaseSensitive(r->json, "maxResultBytes");
	if (v != NULL) {
		if (!cJSON_IsNumber(v) || v->valuedouble != (int)v->valuedouble)
			return bad_type(r, "maxResultBytes", "an integer");
		in->max_result_bytes = v->valuedouble < 1 ? -1 :
		    (int)v->valuedouble;
	}
	return 0;
}

/* What an update changed, for the audit log (never a secret). */
static char *
changes(struct req *r, const struct mcp_server *old,
    const struct mcp_server_input *in)
{
	return arena_printf(r->arena, "%s%s%s%s%s%s",
	    !str_eq(old->name, in->name) ? " name" : "",
	    !str_eq(old->url, in->url) ? " url" : "",
	    !str_eq(mcp_auth_str(old->auth), in->auth) ? " auth" : "",
	    in->secret != NULL && in->secret[0] != '\0' ?
	    " secret replaced" : "",
	    in->headers_json != NULL ? " headers replaced" : "",
	    !str_eq(old->oauth_client_id, in->oauth_client_id) ?
	    " client id" : "");
}

int
api_mcp_list(struct req *r)
{
	struct mcp_server	*v;
	cJSON			*root, *arr;
	int			 n, rc;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if (mcp_server_list(r->db, r->arena, r->org_id, &v, &n) != DB_OK)
		return resp_unavailable(r);
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "data");
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, server_json(r, &v[i]));
	rc = resp_json(r, 200, root);
	cJSON_Delete(root);
	return rc;
}

int
api_mcp_get(struct req *r)
{
	int64_t	 id;
	int	 status;

	if (!id_or_404(r, &id, &status))
		return status;
	return reply(r, 200, id);
}

int
api_mcp_create(struct req *r)
{
	struct mcp_server_input	 in;
	struct field_errors	 errs = { 0 };
	int64_t			 id = 0;
	int			 status;
	enum db_status		 st;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	memset(&in, 0, sizeof(in));
	if ((status = read_input(r, &in)) != 0)
		return status;
	st = mcp_server_create(r->db, r->app->key, r->org_id, &in, &errs, &id);
	if (st == DB_INVALID || st == DB_CONFLICT)
		return st == DB_CONFLICT ? resp_error(r, 409, "conflict",
		    errs.n > 0 ? errs.message[0] : "The name is taken.") :
		    invalid(r, &errs);
	if (st != DB_OK)
		return resp_unavailable(r);
	audit(r, "mcp_server.created", "mcp_server", id, arena_printf(r->arena,
	    "%s (%s, auth %s)", in.name, in.url, in.auth != NULL ? in.auth :
	    "none"));
	resp_header(r, "Location", arena_printf(r->arena,
	    "/api/v1/mcp-servers/%lld", (long long)id));
	return reply(r, 201, id);
}

int
api_mcp_update(struct req *r)
{
	struct mcp_server	 old;
	struct mcp_server_input	 in;
	struct field_errors	 errs = { 0 };
	int64_t			 id;
	int			 status;
	bool			 moved = false;
	enum db_status		 st;

	if (!id_or_404(r, &id, &status))
		return status;
	st = mcp_server_get(r->db, r->arena, r->org_id, id, &old);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	memset(&in, 0, sizeof(in));
	in.name = old.name;
	in.slug = old.slug;
	in.url = old.url;
	in.auth = mcp_auth_str(old.auth);
	in.oauth_client_id = old.oauth_client_id;
	in.oauth_scope = old.oauth_scope;
	if ((status = read_input(r, &in)) != 0)
		return status;
	st = mcp_server_update(r->db, r->app->key, r->org_id, id, &in, &errs,
	    &moved);
	if (st == DB_NOT_FOUND)
		return resp_not_found(r);
	if (st == DB_INVALID || st == DB_CONFLICT)
		return st == DB_CONFLICT ? resp_error(r, 409, "conflict",
		    errs.n > 0 ? errs.message[0] : "The name is taken.") :
		    invalid(r, &errs);
	if (st != DB_OK)
		return resp_unavailable(r);
	mcp_forget(r->org_id, id);
	audit(r, "mcp_server.updated", "mcp_server", id, arena_printf(
	    r->arena, "%s:%s", in.name, changes(r, &old, &in)));
	return reply(r, 200, id);
}

int
api_mcp_delete(struct req *r)
{
	struct mcp_server	 s;
	int64_t			 id;
	int			 status;
	enum db_status		 st;

	if (!id_or_404(r, &id, &status))
		return status;
	st = mcp_server_get(r->db, r->arena, r->org_id, id, &s);
	if (st == DB_OK)
		st = mcp_server_delete(r->db, r->org_id, id);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	mcp_forget(r->org_id, id);
	audit(r, "mcp_server.deleted", "mcp_server", id, s.name);
	return resp_send(r, 204, NULL, "", 0);
}

int
api_mcp_test(struct req *r)
{
	struct mcp_server	 s;
	struct mcp_probe	 p;
	int64_t			 id;
	int			 status;
	enum db_status		 st;
	cJSON			*o;

	if (!id_or_404(r, &id, &status))
		return status;
	st = mcp_server_get(r->db, r->arena, r->org_id, id, &s);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	/* No connection held while the server answers. */
	db_release(r->db);
	r->db = NULL;
	(void)mcp_probe(r->app->db, r->app->key, &r->app->cfg, r->org_id, id,
	    &p);
	if (req_db(r) == NULL) {
		mcp_probe_cleanup(&p);
		return resp_unavailable(r);
	}
	audit(r, "mcp_server.tested", "mcp_server", id, p.ok ? "connected" :
	    "failed");
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "ok", p.ok);
	cJSON_AddStringToObject(o, "message", p.message);
	if (p.ok) {
		cJSON_AddStringToObject(o, "protocolVersion", p.version);
		cJSON_AddStringToObject(o, "serverName", p.server_name);
		cJSON_AddItemToObject(o, "tools", p.tools);
		p.tools = NULL;
	} else
		cJSON_AddNullToObject(o, "tools");
	status = resp_json(r, 200, o);
	cJSON_Delete(o);
	mcp_probe_cleanup(&p);
	return status;
}
