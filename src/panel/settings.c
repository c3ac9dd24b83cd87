/*
 * settings: the Settings area. For now: the index and changing one's own
 * password (the current one is required; every other session of the user
 * is ended, so a stolen session dies with the old password).
 *
 * One-time passwords: a password someone else set (an invitation, an
 * owner's reset, `parley user create --one-time`, the generated first
 * owner's) carries users.must_change_password. panel_settings_password_gate
 * runs for every session route (a router hook) and sends such a session to
 * /settings/password until the user has chosen their own; signing out
 * stays possible. The gate names the allowed handlers, not paths, so a
 * renamed route cannot open a hole.
 */
#include "panel/panel.h"

#include <string.h>

#include "util/context.h"
#include "util/log.h"
#include "crypto/password.h"
#include "db/db.h"
#include "http/audit.h"
#include "http/form.h"
#include "http/req.h"
#include "http/resp.h"
#include "http/router.h"
#include "http/session.h"
#include "model/user.h"
#include "util/utf8.h"

static int	password_page(struct req *, int, cJSON *);

int
panel_settings_index(struct req *r)
{
	cJSON	*ctx = cJSON_CreateObject();

	cJSON_AddStringToObject(ctx, "title", "Settings");
	return resp_page(r, 200, "settings/index", ctx);
}

int
panel_settings_password_gate(struct req *r)
{
	route_fn	 h;

	if (r->session == NULL || !r->session->must_change_password)
		return 0;
	h = r->route->handler;
	if (h == panel_settings_password_form || h == panel_settings_password ||
	    h == panel_auth_logout)
		return 0;
	return resp_see_other(r, "/settings/password", NULL);
}

static int
password_page(struct req *r, int status, cJSON *ctx)
{
	if (ctx == NULL)
		ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", "Change password");
	cJSON_AddNumberToObject(ctx, "min_len", PASSWORD_MIN_LEN);
	cJSON_AddBoolToObject(ctx, "is_one_time",
	    r->session->must_change_password);
	return resp_page(r, status, "settings/password", ctx);
}

int
panel_settings_password_form(struct req *r)
{
	return password_page(r, 200, NULL);
}

int
panel_settings_password(struct req *r)
{
	const char	*cur = form_str(r->form, "current_password");
	const char	*pw = form_str(r->form, "new_password");
	const char	*confirm = form_str(r->form, "confirm_password");
	char		 hash[PASSWORD_HASH_MAX];
	cJSON		*ctx = cJSON_CreateObject();
	size_t		 n = utf8_count(pw, strlen(pw));
	bool		 was_one_time = r->session->must_change_password;
	enum db_status	 st;

	if (req_db(r) == NULL) {
		cJSON_Delete(ctx);
		return resp_unavailable(r);
	}
	st = user_get_hash(r->db, r->org_id, r->session->user_id, hash);
	if (st != DB_OK) {
		cJSON_Delete(ctx);
		return resp_unavailable(r);
	}
	if (strlen(cur) > PASSWORD_MAX_LEN || !password_verify(hash, cur))
		panel_field_error(ctx, "current_password",
		    "That is not your current password.");
	if (n < PASSWORD_MIN_LEN)
		panel_field_error(ctx, "new_password",
		    "Use at least 12 characters.");
	else if (strlen(pw) > PASSWORD_MAX_LEN)
		panel_field_error(ctx, "new_password",
		    "Use at most 1024 bytes.");
	else if (strcmp(pw, confirm) != 0)
		panel_field_error(ctx, "confirm_password",
		    "The two new passwords differ.");
	else if (was_one_time && strcmp(pw, cur) == 0)
		panel_field_error(ctx, "new_password",
		    "Choose a password of your own, not the one-time one.");
	if (cJSON_GetObjectItemCaseSensitive(ctx, "errors") != NULL)
		return password_page(r, 422, ctx);
	cJSON_Delete(ctx);

	if (!password_hash(pw, hash))
		return resp_unavailable(r);
	if (db_tx_begin(r->db) != DB_OK ||
	    user_password_set(r->db, r->session->user_id, hash, false) !=
	    DB_OK ||
	    session_delete_user(r->db, r->session->user_id,
	    r->session->id) != DB_OK ||
	    db_tx_commit(r->db) != DB_OK) {
		db_tx_rollback(r->db);
		return resp_unavailable(r);
	}
	r->session->must_change_password = false;
	log_info("auth", "msg=\"password changed\" user=%lld",
	    (long long)r->session->user_id);
	audit(r, "user.password_changed", "user", r->session->user_id,
	    was_one_time ? "replaced a one-time password" : NULL);
	if (was_one_time)
		return resp_see_other(r, "/", "Password changed. Welcome to "
		    "Parley.");
	return resp_see_other(r, "/settings/password",
	    "Password changed. Your other sessions were signed out.");
}
