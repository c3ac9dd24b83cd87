/*
 * settings: the Settings area. For now: the index and changing one's own
 * password (the current one is required; every other session of the user
 * is ended, so a stolen session dies with the old password).
 */
#include "panel/panel.h"

#include <string.h>

#include "util/context.h"
#include "util/log.h"
#include "crypto/password.h"
#include "db/db.h"
#include "http/form.h"
#include "http/req.h"
#include "http/resp.h"
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

static int
password_page(struct req *r, int status, cJSON *ctx)
{
	if (ctx == NULL)
		ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", "Change password");
	cJSON_AddNumberToObject(ctx, "min_len", PASSWORD_MIN_LEN);
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
	if (cJSON_GetObjectItemCaseSensitive(ctx, "errors") != NULL)
		return password_page(r, 422, ctx);
	cJSON_Delete(ctx);

	if (!password_hash(pw, hash))
		return resp_unavailable(r);
	if (db_tx_begin(r->db) != DB_OK ||
	    user_set_hash(r->db, r->session->user_id, hash) != DB_OK ||
	    session_delete_user(r->db, r->session->user_id,
	    r->session->id) != DB_OK ||
	    db_tx_commit(r->db) != DB_OK) {
		db_tx_rollback(r->db);
		return resp_unavailable(r);
	}
	log_info("auth", "msg=\"password changed\" user=%lld",
	    (long long)r->session->user_id);
	return resp_see_other(r, "/settings/password",
	    "Password changed. Your other sessions were signed out.");
}
