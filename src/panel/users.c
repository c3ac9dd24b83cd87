/*
 * users: Settings → Users and Settings → Audit log (owners only; the route
 * table says so).
 *
 * An invitation creates the user at once with a generated password shown
 * once, on the page that answers the form (200, not a redirect, as for API
 * tokens): Parley sends no email, so the owner hands it over. Only its
 * argon2id hash is stored. Role changes and deactivation keep at least one
 * active owner (model/user.c locks the owners to make that hold under
 * concurrency); an owner cannot deactivate themself. Deactivating ends
 * every session of the user at once, so an open tab stops working.
 */
#include "panel/panel.h"

#include <inttypes.h>
#include <string.h>

#include <sodium.h>

#include "util/context.h"
#include "util/log.h"
#include "crypto/password.h"
#include "db/db.h"
#include "http/form.h"
#include "http/req.h"
#include "http/resp.h"
#include "http/session.h"
#include "http/audit.h"
#include "model/user.h"
#include "util/arena.h"
#include "util/str.h"

#define AUDIT_PAGE	100
#define INVITE_PW_LEN	21	/* buffer: 20 characters */

static const char *const roles[] = { "member", "admin", "owner" };

static int	users_page(struct req *, int, cJSON *);
static int	refusal(struct req *, int, const char *);
static cJSON	*role_options(const char *);
static void	add_short_time(cJSON *, const char *, const char *);

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

static cJSON *
role_options(const char *selected)
{
	cJSON	*arr = cJSON_CreateArray();

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		cJSON	*o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "value", roles[i]);
		cJSON_AddBoolToObject(o, "selected", str_eq(roles[i], selected));
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

/*
 * Renders the Users page with ctx (taken), which may already hold the
 * invitation form's values, field errors, a refusal or a new password.
 */
static int
users_page(struct req *r, int status, cJSON *ctx)
{
	struct user_row	*u = NULL;
	cJSON		*arr;
	char		*at;
	int		 n = 0;

	if (req_db(r) == NULL ||
	    user_list_in_org(r->db, r->arena, r->org_id, &u, &n) != DB_OK) {
		cJSON_Delete(ctx);
		return resp_unavailable(r);
	}
	cJSON_AddStringToObject(ctx, "title", "Users");
	arr = cJSON_AddArrayToObject(ctx, "users");
	for (int i = 0; i < n; i++) {
		cJSON	*o = cJSON_CreateObject();

		cJSON_AddNumberToObject(o, "id", (double)u[i].id);
		cJSON_AddStringToObject(o, "email", u[i].email);
		cJSON_AddStringToObject(o, "role", u[i].role);
		cJSON_AddBoolToObject(o, "is_active", u[i].is_active);
		cJSON_AddBoolToObject(o, "is_self",
		    u[i].id == r->session->user_id);
		cJSON_AddStringToObject(o, "created_at", u[i].created_at);
		add_short_time(o, "created_at_short", u[i].created_at);
		if (audit_last(r->db, r->arena, r->org_id, u[i].id,
		    "login.success", &at) == DB_OK && at != NULL) {
			cJSON_AddStringToObject(o, "last_sign_in", at);
			add_short_time(o, "last_sign_in_short", at);
		}
		cJSON_AddItemToObject(o, "roles", role_options(u[i].role));
		cJSON_AddItemToArray(arr, o);
	}
	if (cJSON_GetObjectItemCaseSensitive(ctx, "invite_roles") == NULL)
		cJSON_AddItemToObject(ctx, "invite_roles",
		    role_options("member"));
	return resp_page(r, status, "settings/users", ctx);
}

/* The Users page with a refusal sentence at the top. */
static int
refusal(struct req *r, int status, const char *sentence)
{
	cJSON	*ctx = cJSON_CreateObject();

	cJSON_AddStringToObject(ctx, "refusal", sentence);
	return users_page(r, status, ctx);
}

int
panel_users_list(struct req *r)
{
	return users_page(r, 200, cJSON_CreateObject());
}

int
panel_users_create(struct req *r)
{
	char		 email[USER_EMAIL_MAX + 1];
	char		 pw[INVITE_PW_LEN], hash[PASSWORD_HASH_MAX];
	const char	*role = form_str(r->form, "role");
	cJSON		*ctx = cJSON_CreateObject();
	int64_t		 id = 0;
	enum db_status	 st;

	if (!str_copy(email, form_str(r->form, "email"), sizeof(email)))
		email[0] = '\0';
	str_lower(str_trim(email));
	cJSON_AddStringToObject(ctx, "form_email", email);
	cJSON_AddItemToObject(ctx, "invite_roles",
	    role_options(user_role_valid(role) ? role : "member"));
	if (!user_email_valid(email))
		panel_field_error(ctx, "email", "Enter an email address.");
	if (!user_role_valid(role))
		panel_field_error(ctx, "role", "Choose owner, admin or member.");
	if (cJSON_GetObjectItemCaseSensitive(ctx, "errors") != NULL)
		return users_page(r, 422, ctx);
	if (req_db(r) == NULL) {
		cJSON_Delete(ctx);
		return resp_unavailable(r);
	}
	password_generate(pw, sizeof(pw));
	if (!password_hash(pw, hash)) {
		sodium_memzero(pw, sizeof(pw));
		cJSON_Delete(ctx);
		return resp_unavailable(r);
	}
	st = user_create_in_org(r->db, r->org_id, email, hash, true, role,
	    &id);
	if (st == DB_CONFLICT) {
		sodium_memzero(pw, sizeof(pw));
		panel_field_error(ctx, "email", "A user with this email "
		    "already exists.");
		return users_page(r, 409, ctx);
	}
	if (st != DB_OK) {
		sodium_memzero(pw, sizeof(pw));
		cJSON_Delete(ctx);
		return st == DB_INVALID ? resp_bad_request(r, "That user "
		    "cannot be stored.") : resp_unavailable(r);
	}
	log_info("panel", "msg=\"user created\" user=%" PRId64 " role=%s", id,
	    role);
	audit(r, "user.created", "user", id, arena_printf(r->arena, "%s (%s)",
	    email, role));
	cJSON_ReplaceItemInObjectCaseSensitive(ctx, "form_email",
	    cJSON_CreateString(""));
	cJSON_AddTrueToObject(ctx, "has_new_user");
	cJSON_AddStringToObject(ctx, "new_user_email", email);
	cJSON_AddStringToObject(ctx, "new_user_password", pw);
	sodium_memzero(pw, sizeof(pw));
	return users_page(r, 200, ctx);
}

int
panel_users_role(struct req *r)
{
	const char	*role = form_str(r->form, "role");
	char		*email = NULL;
	int64_t		 id;
	enum db_status	 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (!user_role_valid(role))
		return resp_bad_request(r, "Choose owner, admin or member.");
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = user_role_change(r->db, r->arena, r->org_id, id, role, &email);
	switch (st) {
	case DB_OK:
		audit(r, "user.role_changed", "user", id,
		    arena_printf(r->arena, "%s: %s", email, role));
		return resp_see_other(r, "/settings/users",
		    arena_printf(r->arena, "%s is now %s %s.", email,
		    str_eq(role, "admin") || str_eq(role, "owner") ? "an" : "a",
		    role));
	case DB_NOT_FOUND:
		return resp_not_found(r);	/* also another org's user */
	case DB_CONFLICT:
		return refusal(r, 409, "This is the last active owner: make "
		    "someone else an owner first. An organisation always keeps "
		    "at least one.");
	default:
		return resp_unavailable(r);
	}
}

int
panel_users_deactivate(struct req *r)
{
	char		*email = NULL;
	int64_t		 id;
	enum db_status	 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (id == r->session->user_id)
		return refusal(r, 409, "You cannot deactivate yourself; ask "
		    "another owner.");
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = user_deactivate(r->db, r->arena, r->org_id, id, &email);
	switch (st) {
	case DB_OK:
		break;
	case DB_NOT_FOUND:
		return resp_not_found(r);
	case DB_CONFLICT:
		return refusal(r, 409, "This is the last active owner, so it "
		    "stays active.");
	default:
		return resp_unavailable(r);
	}
	/* Sign-in already refuses them; their open sessions end here. */
	if (session_delete_user(r->db, id, 0) != DB_OK)
		log_err("panel", "msg=\"sessions of a deactivated user not "
		    "ended\" user=%" PRId64, id);
	audit(r, "user.deactivated", "user", id, email);
	return resp_see_other(r, "/settings/users", arena_printf(r->arena,
	    "%s was deactivated and signed out everywhere.", email));
}

int
panel_users_reactivate(struct req *r)
{
	char		*email = NULL;
	int64_t		 id;
	enum db_status	 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = user_reactivate(r->db, r->arena, r->org_id, id, &email);
	switch (st) {
	case DB_OK:
		break;
	case DB_NOT_FOUND:
		return resp_not_found(r);	/* also another org's user */
	case DB_CONFLICT:
		return refusal(r, 409, "This user also belongs to another "
		    "organisation, so only the command line can reactivate "
		    "them.");
	default:
		return resp_unavailable(r);
	}
	audit(r, "user.reactivated", "user", id, email);
	return resp_see_other(r, "/settings/users", arena_printf(r->arena,
	    "%s was reactivated: they can sign in again, and their API "
	    "tokens work again.", email));
}

int
panel_users_reset_password(struct req *r)
{
	char		 pw[INVITE_PW_LEN], hash[PASSWORD_HASH_MAX];
	char		*email = NULL;
	cJSON		*ctx;
	int64_t		 id;
	enum db_status	 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (id == r->session->user_id)
		return refusal(r, 409, "To change your own password, use "
		    "Change password in the account menu.");
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	password_generate(pw, sizeof(pw));
	if (!password_hash(pw, hash)) {
		sodium_memzero(pw, sizeof(pw));
		return resp_unavailable(r);
	}
	/* The new password and the end of their sessions, together. */
	st = db_tx_begin(r->db);
	if (st == DB_OK)
		st = user_password_reset_in_org(r->db, r->arena, r->org_id, id,
		    hash, &email);
	if (st == DB_OK)
		st = session_delete_user(r->db, id, 0);
	if (st == DB_OK)
		st = db_tx_commit(r->db);
	db_tx_rollback(r->db);
	switch (st) {
	case DB_OK:
		break;
	case DB_NOT_FOUND:
		sodium_memzero(pw, sizeof(pw));
		return resp_not_found(r);	/* also another org's user */
	case DB_CONFLICT:
		sodium_memzero(pw, sizeof(pw));
		return refusal(r, 409, "This user also belongs to another "
		    "organisation, so only the command line can reset their "
		    "password (parley user reset-password).");
	default:
		sodium_memzero(pw, sizeof(pw));
		return resp_unavailable(r);
	}
	log_info("panel", "msg=\"password reset\" user=%" PRId64, id);
	audit(r, "user.password_reset", "user", id, arena_printf(r->arena,
	    "%s: one-time password, sessions ended", email));
	ctx = cJSON_CreateObject();
	cJSON_AddTrueToObject(ctx, "has_reset");
	cJSON_AddStringToObject(ctx, "reset_email", email);
	cJSON_AddStringToObject(ctx, "reset_password", pw);
	sodium_memzero(pw, sizeof(pw));
	return users_page(r, 200, ctx);
}

int
panel_audit_list(struct req *r)
{
	struct audit_entry	*e = NULL;
	const char		*before_s = req_query(r, "before");
	int64_t			 before = 0;
	cJSON			*ctx, *arr;
	int			 n = 0;

	if (before_s != NULL && (!str_to_i64(before_s, &before) ||
	    before < 0))
		return resp_bad_request(r, "before must be an entry id.");
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if (audit_list(r->db, r->arena, r->org_id, before, AUDIT_PAGE, &e,
	    &n) != DB_OK)
		return resp_unavailable(r);
	ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", "Audit log");
	arr = cJSON_AddArrayToObject(ctx, "entries");
	for (int i = 0; i < n; i++) {
		cJSON	*o = cJSON_CreateObject();

		cJSON_AddNumberToObject(o, "id", (double)e[i].id);
		cJSON_AddStringToObject(o, "created_at", e[i].created_at);
		add_short_time(o, "created_at_short", e[i].created_at);
		cJSON_AddStringToObject(o, "actor", e[i].actor);
		cJSON_AddStringToObject(o, "action", e[i].action);
		cJSON_AddStringToObject(o, "target", e[i].target_id > 0 ?
		    arena_printf(r->arena, "%s %" PRId64, e[i].target_type,
		    e[i].target_id) : e[i].target_type);
		cJSON_AddStringToObject(o, "detail", e[i].detail);
		cJSON_AddStringToObject(o, "ip", e[i].ip);
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddBoolToObject(ctx, "has_entries", n > 0);
	cJSON_AddBoolToObject(ctx, "is_older", before > 0);
	if (n == AUDIT_PAGE)
		cJSON_AddStringToObject(ctx, "older", arena_printf(r->arena,
		    "/settings/audit?before=%" PRId64, e[n - 1].id));
	return resp_page(r, 200, "settings/audit", ctx);
}
