/*
 * mcp (panel): Plugins → MCP servers — add, edit, test, connect (OAuth
 * authorization code), disconnect and delete an organisation's MCP
 * servers, and the MCP section of an agent's page (enable a server, with
 * a tool filter).
 *
 * Secrets never travel back to the browser: the token, client secret and
 * header fields are always rendered empty (also when a form with errors
 * is shown again) and pages show only masked hints. Tests and the OAuth
 * flow talk to other servers: the request's connection is released first
 * (plugins/mcp.h) and taken again for the page.
 *
 * The authorization-code flow: "Connect" (POST, CSRF) discovers the
 * authorization server, registers a client when none is configured,
 * keeps state and PKCE verifier on the row and shows a page whose link
 * leads to the authorization server (a redirect answering a form post
 * would break the panel's form-action 'self' policy). The server comes
 * back to GET /plugins/mcp/oauth/callback with code, state and iss; the
 * state is taken once, in the signed-in admin's organisation.
 *
 * Another organisation's ids answer 404, as unknown ones do.
 */
#include "panel/panel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/context.h"
#include "db/db.h"
#include "http/audit.h"
#include "http/form.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/agent.h"
#include "model/fielderr.h"
#include "model/mcp_server.h"
#include "plugins/mcp.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

#define CALLBACK_PATH	"/plugins/mcp/oauth/callback"

static cJSON	*server_json(struct req *, const struct mcp_server *);
static int	 form_page(struct req *, int, const struct mcp_server *,
		    const struct field_errors *, cJSON *);
static int	 edit_page(struct req *, int, int64_t, cJSON *);
static void	 input_read(struct req *, struct mcp_server_input *);
static char	*headers_from_form(struct req *, const char *);
static bool	 load(struct req *, int64_t *, struct mcp_server *, int *);
static const char *callback_url(struct req *);
static char	**split_tools(struct req *, const char *, int *);

static const char *const auth_kinds[][2] = {
	{ "none", "None" },
	{ "bearer", "Bearer token" },
	{ "headers", "Custom headers" },
	{ "oauth_client", "OAuth 2.1 client credentials" },
	{ "oauth_code", "OAuth 2.1 authorization code (sign in from here)" },
};

static cJSON *
server_json(struct req *r, const struct mcp_server *s)
{
	cJSON	*o = cJSON_CreateObject(), *a;

	cJSON_AddNumberToObject(o, "id", (double)s->id);
	cJSON_AddStringToObject(o, "plugin_id", arena_printf(r->arena,
	    MCP_PLUGIN_PREFIX "%lld", (long long)s->id));
	cJSON_AddStringToObject(o, "name", s->name);
	cJSON_AddStringToObject(o, "slug", s->slug);
	cJSON_AddStringToObject(o, "url", s->url);
	cJSON_AddStringToObject(o, "auth", mcp_auth_str(s->auth));
	cJSON_AddBoolToObject(o, "has_secret", s->has_secret);
	cJSON_AddStringToObject(o, "secret_hint", s->secret_hint);
	a = cJSON_AddArrayToObject(o, "header_names");
	for (int i = 0; i < s->n_headers; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(s->header_names[i]));
	cJSON_AddBoolToObject(o, "has_headers", s->n_headers > 0);
	cJSON_AddBoolToObject(o, "is_oauth_code", s->auth ==
	    MCP_AUTH_OAUTH_CODE);
	cJSON_AddBoolToObject(o, "oauth_connected", s->oauth_connected);
	cJSON_AddStringToObject(o, "oauth_issuer", s->oauth_issuer);
	cJSON_AddStringToObject(o, "oauth_connected_at",
	    s->oauth_connected_at);
	cJSON_AddStringToObject(o, "access_expires_at", s->access_expires_at);
	cJSON_AddBoolToObject(o, "oauth_has_refresh", s->oauth_has_refresh);
	cJSON_AddBoolToObject(o, "has_test", s->has_test);
	cJSON_AddBoolToObject(o, "last_test_ok", s->last_test_ok);
	cJSON_AddStringToObject(o, "last_tested_at", s->last_tested_at);
	cJSON_AddStringToObject(o, "last_test_message", s->last_test_message);
	cJSON_AddNumberToObject(o, "n_agents", s->n_agents);
	cJSON_AddBoolToObject(o, "one_agent", s->n_agents == 1);
	return o;
}

/* PARLEY_PUBLIC_URL + the callback path (what is registered). */
static const char *
callback_url(struct req *r)
{
	return arena_printf(r->arena, "%s" CALLBACK_PATH,
	    r->app->cfg.public_url);
}

/*
 * The new/edit form. s is the stored server (NULL: new); the fields show
 * what was posted when there are errors, else the stored values.
 */
static int
form_page(struct req *r, int status, const struct mcp_server *s,
    const struct field_errors *errs, cJSON *ctx)
{
	const char	*auth;
	cJSON		*kinds, *k;
	bool		 posted = errs != NULL && errs->n > 0;

	if (ctx == NULL)
		ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", s != NULL ? s->name :
	    "New MCP server");
	cJSON_AddBoolToObject(ctx, "is_new", s == NULL);
	if (s != NULL)
		cJSON_AddItemToObject(ctx, "server", server_json(r, s));
	cJSON_AddStringToObject(ctx, "action", s != NULL ?
	    arena_printf(r->arena, "/plugins/mcp/%lld", (long long)s->id) :
	    "/plugins/mcp");
	cJSON_AddStringToObject(ctx, "f_name", posted ? form_str(r->form,
	    "name") : s != NULL ? s->name : "");
	cJSON_AddStringToObject(ctx, "f_slug", posted ? form_str(r->form,
	    "slug") : s != NULL ? s->slug : "");
	cJSON_AddStringToObject(ctx, "f_url", posted ? form_str(r->form,
	    "url") : s != NULL ? s->url : "");
	cJSON_AddStringToObject(ctx, "f_client_id", posted ? form_str(r->form,
	    "oauth_client_id") : s != NULL ? s->oauth_client_id : "");
	cJSON_AddStringToObject(ctx, "f_scope", posted ? form_str(r->form,
	    "oauth_scope") : s != NULL ? s->oauth_scope : "");
	cJSON_AddNumberToObject(ctx, "f_timeout_ms", s != NULL ?
	    s->timeout_ms : 30000);
	cJSON_AddNumberToObject(ctx, "f_max_result_bytes", s != NULL ?
	    s->max_result_bytes : 262144);
	auth = posted ? form_str(r->form, "auth") : s != NULL ?
	    mcp_auth_str(s->auth) : "none";
	kinds = cJSON_AddArrayToObject(ctx, "auth_kinds");
	for (size_t i = 0; i < sizeof(auth_kinds) / sizeof(auth_kinds[0]);
	    i++) {
		k = cJSON_CreateObject();
		cJSON_AddStringToObject(k, "value", auth_kinds[i][0]);
		cJSON_AddStringToObject(k, "label", auth_kinds[i][1]);
		cJSON_AddBoolToObject(k, "selected", str_eq(auth,
		    auth_kinds[i][0]));
		cJSON_AddItemToArray(kinds, k);
	}
	cJSON_AddStringToObject(ctx, "callback_url", callback_url(r));
	for (int i = 0; errs != NULL && i < errs->n; i++)
		panel_field_error(ctx, errs->field[i], errs->message[i]);
	/* A secret typed into a form that failed must be typed again. */
	if (posted && (form_str(r->form, "secret")[0] != '\0' ||
	    form_str(r->form, "headers")[0] != '\0'))
		cJSON_AddTrueToObject(ctx, "secret_retype");
	return resp_page(r, status, "plugins/mcp_form", ctx);
}

static int
edit_page(struct req *r, int status, int64_t id, cJSON *ctx)
{
	struct mcp_server	 s;
	enum db_status		 st;

	st = mcp_server_get(r->db, r->arena, r->org_id, id, &s);
	if (st != DB_OK) {
		cJSON_Delete(ctx);
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	}
	return form_page(r, status, &s, NULL, ctx);
}

/* "Name: value" lines → a JSON object (arena); NULL for an empty text,
 * "" for a malformed line (the model then names the field). */
static char *
headers_from_form(struct req *r, const char *text)
{
	cJSON		*o;
	const char	*p = text, *nl, *colon;
	char		*line, *json, *out;
	bool		 any = false;

	if (text == NULL)
		return NULL;
	o = cJSON_CreateObject();
	while (*p != '\0') {
		nl = p + strcspn(p, "\r\n");
		line = arena_strndup(r->arena, p, (size_t)(nl - p));
		p = nl + strspn(nl, "\r\n");
		str_trim(line);
		if (line[0] == '\0')
			continue;
		any = true;
		if ((colon = strchr(line, ':')) == NULL) {
			cJSON_Delete(o);
			return arena_strdup(r->arena, "[]");
		}
		line[colon - line] = '\0';
		str_trim(line);
		cJSON_AddItemToObject(o, line, cJSON_CreateString(str_trim(
		    line + (colon - line) + 1)));
	}
	if (!any) {
		cJSON_Delete(o);
		return NULL;
	}
	if ((json = cJSON_PrintUnformatted(o)) == NULL)
		abort();
	out = arena_strdup(r->arena, json);
	memset(json, 0, strlen(json));
	free(json);
	cJSON_Delete(o);
	return out;
}

static void
input_read(struct req *r, struct mcp_server_input *in)
{
	int64_t	 v;

	memset(in, 0, sizeof(*in));
	in->name = form_str(r->form, "name");
	in->slug = form_str(r->form, "slug");
	in->url = form_str(r->form, "url");
	in->auth = form_str(r->form, "auth");
	in->secret = form_str(r->form, "secret");
	in->headers_json = headers_from_form(r, form_get(r->form, "headers"));
	in->oauth_client_id = form_str(r->form, "oauth_client_id");
	in->oauth_scope = form_str(r->form, "oauth_scope");
	if (form_get_int64(r->form, "timeout_ms", &v))
		in->timeout_ms = v < 1 || v > 1000000 ? -1 : (int)v;
	if (form_get_int64(r->form, "max_result_bytes", &v))
		in->max_result_bytes = v < 1 || v > 100000000 ? -1 : (int)v;
}

/* {id} of the organisation's server into *s; false with the answer sent. */
static bool
load(struct req *r, int64_t *id, struct mcp_server *s, int *status)
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
	st = mcp_server_get(r->db, r->arena, r->org_id, *id, s);
	if (st != DB_OK) {
		*status = st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
		return false;
	}
	return true;
}

int
panel_mcp_new(struct req *r)
{
	return form_page(r, 200, NULL, NULL, NULL);
}

int
panel_mcp_create(struct req *r)
{
	struct mcp_server_input	 in;
	struct field_errors	 errs = { 0 };
	int64_t			 id = 0;
	enum db_status		 st;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	input_read(r, &in);
	st = mcp_server_create(r->db, r->app->key, r->org_id, &in, &errs, &id);
	switch (st) {
	case DB_OK:
		audit(r, "mcp_server.created", "mcp_server", id, arena_printf(
		    r->arena, "%s (%s, auth %s)", in.name, in.url, in.auth));
		return resp_see_other(r, arena_printf(r->arena,
		    "/plugins/mcp/%lld", (long long)id), "MCP server added. "
		    "Test the connection, then enable it on an agent's page.");
	case DB_INVALID:
		return form_page(r, 422, NULL, &errs, NULL);
	case DB_CONFLICT:
		return form_page(r, 409, NULL, &errs, NULL);
	default:
		return resp_unavailable(r);
	}
}

int
panel_mcp_edit(struct req *r)
{
	struct mcp_server	 s;
	int64_t			 id;
	int			 status;

	if (!load(r, &id, &s, &status))
		return status;
	return form_page(r, 200, &s, NULL, NULL);
}

int
panel_mcp_update(struct req *r)
{
	struct mcp_server	 s;
	struct mcp_server_input	 in;
	struct field_errors	 errs = { 0 };
	int64_t			 id;
	int			 status;
	bool			 moved = false;
	enum db_status		 st;

	if (!load(r, &id, &s, &status))
		return status;
	input_read(r, &in);
	st = mcp_server_update(r->db, r->app->key, r->org_id, id, &in, &errs,
	    &moved);
	switch (st) {
	case DB_OK:
		mcp_forget(r->org_id, id);
		audit(r, "mcp_server.updated", "mcp_server", id, arena_printf(
		    r->arena, "%s:%s%s%s%s", in.name, moved ? " url" : "",
		    !str_eq(in.auth, mcp_auth_str(s.auth)) ? " auth" : "",
		    in.secret[0] != '\0' ? " secret replaced" : "",
		    in.headers_json != NULL ? " headers replaced" : ""));
		return resp_see_other(r, arena_printf(r->arena,
		    "/plugins/mcp/%lld", (long long)id), moved ?
		    "MCP server saved. Its URL changed: tokens from the old "
		    "one were forgotten." : "MCP server saved.");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	case DB_INVALID:
		return form_page(r, 422, &s, &errs, NULL);
	case DB_CONFLICT:
		return form_page(r, 409, &s, &errs, NULL);
	default:
		return resp_unavailable(r);
	}
}

int
panel_mcp_delete(struct req *r)
{
	struct mcp_server	 s;
	cJSON			*ctx;
	int64_t			 id;
	int			 status;
	enum db_status		 st;

	if (!load(r, &id, &s, &status))
		return status;
	if (!str_eq(form_get(r->form, "confirm"), "yes")) {
		ctx = cJSON_CreateObject();
		cJSON_AddStringToObject(ctx, "title", "Delete MCP server");
		cJSON_AddStringToObject(ctx, "question", arena_printf(r->arena,
		    "Delete the MCP server \"%s\"? %d agent%s use%s it; its "
		    "tools disappear from them, and its secrets are deleted.",
		    s.name, s.n_agents, s.n_agents == 1 ? "" : "s",
		    s.n_agents == 1 ? "s" : ""));
		cJSON_AddStringToObject(ctx, "action", arena_printf(r->arena,
		    "/plugins/mcp/%lld/delete", (long long)id));
		cJSON_AddStringToObject(ctx, "back", arena_printf(r->arena,
		    "/plugins/mcp/%lld", (long long)id));
		return resp_page(r, 200, "settings/providers_confirm", ctx);
	}
	st = mcp_server_delete(r->db, r->org_id, id);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	mcp_forget(r->org_id, id);
	audit(r, "mcp_server.deleted", "mcp_server", id, s.name);
	return resp_see_other(r, "/plugins", arena_printf(r->arena,
	    "MCP server \"%s\" deleted.", s.name));
}

int
panel_mcp_test(struct req *r)
{
	struct mcp_server	 s;
	struct mcp_probe	 p;
	cJSON			*ctx;
	int64_t			 id;
	int			 status;

	if (!load(r, &id, &s, &status))
		return status;
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
	ctx = cJSON_CreateObject();
	cJSON_AddTrueToObject(ctx, "tested");
	cJSON_AddBoolToObject(ctx, "test_ok", p.ok);
	cJSON_AddStringToObject(ctx, "test_message", p.message);
	if (p.tools != NULL) {
		cJSON_AddBoolToObject(ctx, "has_test_tools",
		    cJSON_GetArraySize(p.tools) > 0);
		cJSON_AddItemToObject(ctx, "test_tools", p.tools);
		p.tools = NULL;
	}
	mcp_probe_cleanup(&p);
	return edit_page(r, 200, id, ctx);
}

int
panel_mcp_authorize(struct req *r)
{
	struct mcp_server	 s;
	cJSON			*ctx;
	char			*url = NULL;
	char			 err[512];
	int64_t			 id;
	int			 status;
	bool			 ok;

	if (!load(r, &id, &s, &status))
		return status;
	db_release(r->db);
	r->db = NULL;
	ok = mcp_authorize_begin(r->app->db, r->app->key, &r->app->cfg,
	    r->org_id, id, callback_url(r), &url, err, sizeof(err));
	if (req_db(r) == NULL) {
		free(url);
		return resp_unavailable(r);
	}
	if (!ok) {
		ctx = cJSON_CreateObject();
		cJSON_AddStringToObject(ctx, "oauth_error", arena_printf(
		    r->arena, "The authorization could not start: %s.", err));
		return edit_page(r, 502, id, ctx);
	}
	audit(r, "mcp_server.oauth_started", "mcp_server", id, s.name);
	ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", "Connect an MCP server");
	cJSON_AddStringToObject(ctx, "name", s.name);
	cJSON_AddStringToObject(ctx, "authorize_url", url);
	cJSON_AddNumberToObject(ctx, "id", (double)id);
	free(url);
	return resp_page(r, 200, "plugins/mcp_authorize", ctx);
}

int
panel_mcp_callback(struct req *r)
{
	const char	*state = req_query(r, "state");
	const char	*code = req_query(r, "code");
	const char	*iss = req_query(r, "iss");
	const char	*error = req_query(r, "error");
	cJSON		*ctx;
	char		 err[512];
	int64_t		 id = 0;
	bool		 ok;

	if (state == NULL || state[0] == '\0')
		return resp_bad_request(r, "The authorization server came back "
		    "without a state.");
	if (r->db != NULL) {
		db_release(r->db);
		r->db = NULL;
	}
	/* With an error the state is consumed all the same: never reused. */
	ok = mcp_authorize_finish(r->app->db, r->app->key, &r->app->cfg,
	    r->org_id, state, error != NULL ? "" : code, iss, callback_url(r),
	    &id, err, sizeof(err));
	if (error != NULL && id != 0) {
		snprintf(err, sizeof(err), "the authorization server answered "
		    "\"%.100s\"", error);
		ok = false;
	}
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if (id == 0) {
		ctx = cJSON_CreateObject();
		cJSON_AddNumberToObject(ctx, "status", 400);
		cJSON_AddStringToObject(ctx, "title", "Authorization failed");
		cJSON_AddStringToObject(ctx, "message", arena_printf(r->arena,
		    "The authorization could not be finished: %s.", err));
		return resp_page(r, 400, "errors/error", ctx);
	}
	if (!ok) {
		log_info("panel", "msg=\"mcp authorization failed\" "
		    "server=%lld", (long long)id);
		audit(r, "mcp_server.oauth_failed", "mcp_server", id, NULL);
		ctx = cJSON_CreateObject();
		cJSON_AddStringToObject(ctx, "oauth_error", arena_printf(
		    r->arena, "The authorization failed: %s.", err));
		return edit_page(r, 400, id, ctx);
	}
	audit(r, "mcp_server.oauth_connected", "mcp_server", id, NULL);
	return resp_see_other(r, arena_printf(r->arena, "/plugins/mcp/%lld",
	    (long long)id), "Connected: Parley holds a token for this MCP "
	    "server and refreshes it when it expires.");
}

int
panel_mcp_disconnect(struct req *r)
{
	struct mcp_server	 s;
	int64_t			 id;
	int			 status;

	if (!load(r, &id, &s, &status))
		return status;
	if (mcp_server_clear_tokens(r->db, r->org_id, id) != DB_OK)
		return resp_unavailable(r);
	mcp_forget(r->org_id, id);
	audit(r, "mcp_server.disconnected", "mcp_server", id, s.name);
	return resp_see_other(r, arena_printf(r->arena, "/plugins/mcp/%lld",
	    (long long)id), "Disconnected: the tokens were deleted.");
}

/* --- the agent page's MCP section ---------------------------------------- */

/* Tool names, one per line or separated by commas (arena). */
static char **
split_tools(struct req *r, const char *text, int *n)
{
	char	**out = arena_alloc(r->arena, sizeof(char *) *
		    (MCP_FILTER_TOOLS_MAX + 2));
	const char *p = text != NULL ? text : "";

	*n = 0;
	while (*p != '\0' && *n <= MCP_FILTER_TOOLS_MAX) {
		size_t	 len = strcspn(p, ",\r\n");
		char	*t = str_trim(arena_strndup(r->arena, p, len));

		if (t[0] != '\0')
			out[(*n)++] = t;
		p += len;
		p += strspn(p, ",\r\n");
	}
	out[*n] = NULL;
	return out;
}

bool
panel_mcp_agent_section(struct req *r, cJSON *ctx, int64_t agent_id)
{
	struct mcp_server	*v;
	struct mcp_agent_link	*links;
	cJSON			*arr, *o;
	int			 n, n_links;

	if (mcp_server_list(r->db, r->arena, r->org_id, &v, &n) != DB_OK ||
	    mcp_server_agent_links(r->db, r->arena, r->org_id, agent_id,
	    &links, &n_links) != DB_OK)
		return false;
	arr = cJSON_AddArrayToObject(ctx, "mcp_servers");
	for (int i = 0; i < n; i++) {
		const struct mcp_agent_link	*l = NULL;
		struct buf			 tools;

		for (int j = 0; j < n_links && l == NULL; j++)
			if (links[j].server_id == v[i].id)
				l = &links[j];
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)v[i].id);
		cJSON_AddStringToObject(o, "name", v[i].name);
		cJSON_AddStringToObject(o, "slug", v[i].slug);
		cJSON_AddStringToObject(o, "url", v[i].url);
		cJSON_AddBoolToObject(o, "enabled", l != NULL);
		cJSON_AddBoolToObject(o, "f_all", l == NULL ||
		    l->filter == MCP_FILTER_ALL);
		cJSON_AddBoolToObject(o, "f_only", l != NULL &&
		    l->filter == MCP_FILTER_ONLY);
		cJSON_AddBoolToObject(o, "f_except", l != NULL &&
		    l->filter == MCP_FILTER_EXCEPT);
		buf_init(&tools, 64 * 1024);
		for (int k = 0; l != NULL && k < l->n_tools; k++)
			buf_printf(&tools, "%s%s", k > 0 ? "\n" : "",
			    l->tools[k]);
		cJSON_AddStringToObject(o, "tools", buf_str(&tools));
		buf_cleanup(&tools);
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddBoolToObject(ctx, "has_mcp_servers", n > 0);
	return true;
}

int
panel_agents_mcp(struct req *r)
{
	struct agent		 g;
	struct mcp_server	 s;
	enum mcp_filter		 f;
	char			**tools;
	int64_t			 id, sid;
	int			 n;
	bool			 on = form_get_bool(r->form, "enabled");
	enum db_status		 st;

	if (!req_param_id(r, "id", &id) || !req_param_id(r, "sid", &sid))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if ((st = agent_get(r->db, r->arena, r->org_id, id, &g)) != DB_OK ||
	    (st = mcp_server_get(r->db, r->arena, r->org_id, sid, &s)) !=
	    DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	if (!mcp_filter_parse(form_str(r->form, "filter"), &f))
		f = MCP_FILTER_ALL;
	tools = split_tools(r, form_get(r->form, "tools"), &n);
	if (n > MCP_FILTER_TOOLS_MAX)
		return resp_bad_request(r, "List at most 200 tools.");
	if (on && f != MCP_FILTER_ALL && n == 0)
		return resp_see_other(r, arena_printf(r->arena,
		    "/agents/%lld#mcp", (long long)id), "Name the tools the "
		    "filter is about, one per line.");
	st = on ? mcp_server_agent_enable(r->db, r->org_id, id, sid, f,
	    (const char *const *)tools, n) :
	    mcp_server_agent_disable(r->db, r->org_id, id, sid);
	if (st == DB_INVALID)
		return resp_see_other(r, arena_printf(r->arena,
		    "/agents/%lld#mcp", (long long)id), "Tool names are 1 to "
		    "128 printable characters.");
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	audit(r, "plugin.toggled", "agent", id, arena_printf(r->arena,
	    "%s" MCP_PLUGIN_PREFIX "%lld (%s)%s", on ? "+" : "-",
	    (long long)sid, s.name, on ? arena_printf(r->arena, " tools %s",
	    mcp_filter_str(f)) : ""));
	return resp_see_other(r, arena_printf(r->arena, "/agents/%lld#mcp",
	    (long long)id), on ? arena_printf(r->arena, "%s is enabled for "
	    "this agent.", s.name) : arena_printf(r->arena, "%s is turned "
	    "off for this agent.", s.name));
}
