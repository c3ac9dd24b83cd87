/*
 * tokens: Settings → API tokens (owners only; the route table says so).
 *
 * A new token is shown once, on the page that answers the create form
 * (200, not a redirect: a redirect would have to carry the secret through
 * the session or the URL). Only its hash is stored (model/apitoken.c), so
 * a lost token is revoked and replaced, never shown again. Revoking is a
 * POST with the CSRF token, answered with a redirect back to the list.
 */
#include "panel/panel.h"

#include <string.h>

#include <sodium.h>

#include "util/context.h"
#include "util/log.h"
#include "db/db.h"
#include "http/form.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/apitoken.h"
#include "http/audit.h"
#include "model/user.h"
#include "util/arena.h"
#include "util/str.h"
#include "util/utf8.h"

#define TOKEN_NAME_MAX	100	/* characters, as the table checks */

static const char *const roles[] = { "admin", "member", "owner" };

static int	tokens_page(struct req *, int, cJSON *);
static cJSON	*tokens_list_view(const struct api_token *, int);
static void	add_short_time(cJSON *, const char *, const char *);
static void	add_role_options(cJSON *, const char *);

/* "2026-01-02T03:04:05Z" → "2026-01-02 03:04 UTC" for people. */
static void
add_short_time(cJSON *obj, const char *name, const char *rfc3339)
{
	char	 out[32];

	if (rfc3339 == NULL || strlen(rfc3339) < 16) {
		cJSON_AddStringToObject(obj, name, rfc3339 ? rfc3339 : "");
		return;
	}
	memcpy(out, rfc3339, 16);
	out[10] = ' ';
	memcpy(out + 16, " UTC", 5);
	cJSON_AddStringToObject(obj, name, out);
}

static void
add_role_options(cJSON *ctx, const char *selected)
{
	cJSON	*arr = cJSON_AddArrayToObject(ctx, "roles");

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		cJSON	*o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "value", roles[i]);
		cJSON_AddStringToObject(o, "label", str_eq(roles[i], "admin") ?
		    "admin: manage agents, channels, models, providers; the "
		    "/v1 gateway" : str_eq(roles[i], "member") ?
		    "member: read conversations only" :
		    "owner: everything");
		cJSON_AddBoolToObject(o, "selected", str_eq(roles[i], selected));
		cJSON_AddItemToArray(arr, o);
	}
}

/* The token list as the template reads it. */
static cJSON *
tokens_list_view(const struct api_token *t, int n)
{
	cJSON	*arr = cJSON_CreateArray();

	for (int i = 0; i < n; i++) {
		cJSON	*o = cJSON_CreateObject();

		cJSON_AddNumberToObject(o, "id", (double)t[i].id);
		cJSON_AddStringToObject(o, "name", t[i].name);
		cJSON_AddStringToObject(o, "prefix", t[i].prefix);
		cJSON_AddStringToObject(o, "role", t[i].role);
		cJSON_AddStringToObject(o, "created_by", t[i].created_by);
		cJSON_AddStringToObject(o, "created_at", t[i].created_at);
		add_short_time(o, "created_at_short", t[i].created_at);
		if (t[i].last_used_at != NULL) {
			cJSON_AddStringToObject(o, "last_used_at",
			    t[i].last_used_at);
			add_short_time(o, "last_used_at_short",
			    t[i].last_used_at);
		}
		cJSON_AddBoolToObject(o, "revoked", t[i].revoked);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

/*
 * Renders the page with ctx (taken), which may already hold the form's
 * values, field errors or a new token; adds the list and the defaults.
 */
static int
tokens_page(struct req *r, int status, cJSON *ctx)
{
	struct api_token	*t = NULL;
	int			 n = 0;

	if (req_db(r) == NULL ||
	    apitoken_list(r->db, r->arena, r->org_id, &t, &n) != DB_OK) {
		cJSON_Delete(ctx);
		return resp_unavailable(r);
	}
	cJSON_AddStringToObject(ctx, "title", "API tokens");
	cJSON_AddItemToObject(ctx, "tokens", tokens_list_view(t, n));
	cJSON_AddBoolToObject(ctx, "has_tokens", n > 0);
	if (cJSON_GetObjectItemCaseSensitive(ctx, "roles") == NULL)
		add_role_options(ctx, "admin");
	return resp_page(r, status, "settings/tokens", ctx);
}

int
panel_tokens_list(struct req *r)
{
	return tokens_page(r, 200, cJSON_CreateObject());
}

int
panel_tokens_create(struct req *r)
{
	char		*name = arena_strdup(r->arena, form_str(r->form, "name"));
	const char	*role = form_str(r->form, "role");
	char		 token[APITOKEN_LEN + 1];
	cJSON		*ctx = cJSON_CreateObject();
	int64_t		 id = 0;
	size_t		 n_chars;
	enum db_status	 st;

	str_trim(name);
	n_chars = utf8_count(name, strlen(name));
	cJSON_AddStringToObject(ctx, "form_name", name);
	add_role_options(ctx, user_role_valid(role) ? role : "admin");
	if (n_chars == 0)
		panel_field_error(ctx, "name", "Give the token a name.");
	else if (n_chars > TOKEN_NAME_MAX)
		panel_field_error(ctx, "name", "Use at most 100 characters.");
	else {
		for (const char *p = name; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				panel_field_error(ctx, "name", "Use a name "
				    "without control characters.");
				break;
			}
	}
	if (!user_role_valid(role))
		panel_field_error(ctx, "role", "Choose owner, admin or member.");
	if (cJSON_GetObjectItemCaseSensitive(ctx, "errors") != NULL)
		return tokens_page(r, 422, ctx);

	if (req_db(r) == NULL) {
		cJSON_Delete(ctx);
		return resp_unavailable(r);
	}
	st = apitoken_create(r->db, r->org_id, r->session->user_id, name, role,
	    token, &id);
	if (st == DB_INVALID) {
		panel_field_error(ctx, "name", "That name cannot be stored.");
		return tokens_page(r, 422, ctx);
	}
	if (st != DB_OK) {
		cJSON_Delete(ctx);
		return resp_unavailable(r);
	}
	log_info("auth", "msg=\"api token created\" token=%lld role=%s "
	    "user=%lld", (long long)id, role, (long long)r->session->user_id);
	audit(r, "token.created", "api_token", id, arena_printf(r->arena,
	    "%s (%s)", name, role));
	/* A fresh form below the new token, not the one just sent. */
	cJSON_ReplaceItemInObjectCaseSensitive(ctx, "form_name",
	    cJSON_CreateString(""));
	cJSON_AddTrueToObject(ctx, "has_new_token");
	cJSON_AddStringToObject(ctx, "new_token", token);
	cJSON_AddStringToObject(ctx, "new_token_name", name);
	sodium_memzero(token, sizeof(token));
	return tokens_page(r, 200, ctx);
}

int
panel_tokens_revoke(struct req *r)
{
	int64_t		 id;
	enum db_status	 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = apitoken_revoke(r->db, r->org_id, id);
	if (st == DB_NOT_FOUND)
		return resp_not_found(r);	/* also another org's token */
	if (st != DB_OK)
		return resp_unavailable(r);
	log_info("auth", "msg=\"api token revoked\" token=%lld user=%lld",
	    (long long)id, (long long)r->session->user_id);
	audit(r, "token.revoked", "api_token", id, NULL);
	return resp_see_other(r, "/settings/tokens", "Token revoked. "
	    "Programs using it are refused from now on.");
}
