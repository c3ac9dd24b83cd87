/*
 * auth: sign-in and sign-out pages.
 *
 * A failed sign-in says the same sentence whether or not the email exists,
 * and takes about as long (an unknown email still costs one argon2id
 * verification). Every attempt reserves its slot per account and per
 * client address (model/throttle.c) before any password is checked, in one
 * atomic statement, so concurrent guesses cannot overrun the limit and a
 * throttled client learns nothing even with the right password. The client
 * address is req_remote_addr's (PARLEY_TRUSTED_PROXIES decides whether
 * X-Forwarded-For counts). A new session token is made at every sign-in;
 * the redirect after it goes only to a local path, and a one-time password
 * leads to the change-password page first (panel/settings.c).
 */
#include "panel/panel.h"

#include <stdio.h>
#include <string.h>

#include "util/context.h"
#include "util/log.h"
#include "crypto/password.h"
#include "db/db.h"
#include "http/cookie.h"
#include "http/form.h"
#include "http/req.h"
#include "http/resp.h"
#include "http/session.h"
#include "http/audit.h"
#include "model/throttle.h"
#include "model/user.h"
#include "util/arena.h"
#include "util/str.h"
#include "util/url.h"

#define BAD_LOGIN	"Incorrect email or password."

static int	login_page(struct req *, int, const char *, const char *,
		    const char *);
static const char *safe_next(const char *);

static const char *
safe_next(const char *next)
{
	if (next == NULL || !url_is_local_path(next) ||
	    str_starts_with(next, "/login") || str_starts_with(next, "/logout"))
		return "/";
	return next;
}

static int
login_page(struct req *r, int status, const char *email, const char *next,
    const char *error)
{
	cJSON	*ctx = cJSON_CreateObject();

	cJSON_AddStringToObject(ctx, "title", "Sign in");
	cJSON_AddStringToObject(ctx, "email", email ? email : "");
	cJSON_AddStringToObject(ctx, "next", safe_next(next));
	if (error != NULL)
		cJSON_AddStringToObject(ctx, "error", error);
	return resp_page(r, status, "auth/login", ctx);
}

int
panel_auth_login_form(struct req *r)
{
	if (r->session != NULL)
		return resp_see_other(r, safe_next(req_query(r, "next")), NULL);
	return login_page(r, 200, NULL, req_query(r, "next"), NULL);
}

int
panel_auth_login(struct req *r)
{
	char		 email[USER_EMAIL_MAX + 1], hash[PASSWORD_HASH_MAX];
	char		 token[TOKEN_LEN + 1], msg[160], retry[16];
	const char	*password = form_str(r->form, "password");
	const char	*next = form_get(r->form, "next");
	const char	*ip = req_remote_addr(r);
	int64_t		 user_id, org_id;
	bool		 limited, ok;
	int		 retry_s;
	enum db_status	 st;

	if (!str_copy(email, form_str(r->form, "email"), sizeof(email)))
		return login_page(r, 401, NULL, next, BAD_LOGIN);
	str_lower(str_trim(email));
	if (email[0] == '\0' || password[0] == '\0')
		return login_page(r, 422, email, next,
		    "Enter your email and password.");
	if (strlen(password) > PASSWORD_MAX_LEN)
		return login_page(r, 401, email, next, BAD_LOGIN);
	if (req_db(r) == NULL)
		return resp_unavailable(r);

	/* Reserved before the slow hash: the limit holds under concurrency. */
	st = throttle_login_reserve(r->db, email, ip,
	    r->app->cfg.login_window_minutes, r->app->cfg.login_max_failures,
	    &limited, &retry_s);
	if (st != DB_OK)
		return resp_unavailable(r);
	if (limited) {
		snprintf(msg, sizeof(msg), "Too many failed sign-in attempts. "
		    "Try again in %d minute%s.", (retry_s + 59) / 60,
		    (retry_s + 59) / 60 == 1 ? "" : "s");
		snprintf(retry, sizeof(retry), "%d", retry_s);
		resp_header(r, "Retry-After", retry);
		log_info("auth", "msg=\"sign-in throttled\" ip=%s", ip);
		return login_page(r, 429, email, next, msg);
	}

	st = user_find_for_login_any_org(r->db, email, &user_id, &org_id,
	    hash);
	if (st == DB_NOT_FOUND) {
		password_verify_dummy(password);
		ok = false;
	} else if (st != DB_OK)
		return resp_unavailable(r);
	else
		ok = password_verify(hash, password);

	if (!ok) {
		log_info("auth", "msg=\"sign-in failed\" ip=%s", ip);
		/* Only a known account's failure: an unknown email typed
		 * is not recorded (it may be a password in the wrong box). */
		if (st == DB_OK)
			audit_as(r, org_id, user_id, email, "login.failure",
			    "user", user_id, "wrong password");
		return login_page(r, 401, email, next, BAD_LOGIN);
	}
	if (throttle_login_ok(r->db, email, ip) != DB_OK)
		return resp_unavailable(r);
	if (password_needs_rehash(hash)) {
		char	 fresh[PASSWORD_HASH_MAX];

		/* Parameters were raised since this hash was made. */
		if (password_hash(password, fresh) &&
		    user_set_hash(r->db, user_id, fresh) != DB_OK)
			log_warn("auth", "msg=\"re-hash not stored\"");
	}
	if (session_create(r->db, user_id, org_id, ip,
	    req_header(r, "User-Agent"), r->app->cfg.session_max_hours,
	    token) != DB_OK)
		return resp_unavailable(r);
	cookie_set(r, COOKIE_SESSION, token, -1);
	log_info("auth", "msg=\"signed in\" user=%lld ip=%s",
	    (long long)user_id, ip);
	audit_as(r, org_id, user_id, email, "login.success", "user", user_id,
	    NULL);
	return resp_see_other(r, safe_next(next), NULL);
}

int
panel_auth_logout(struct req *r)
{
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if (session_delete(r->db, r->session->id) != DB_OK)
		return resp_unavailable(r);
	cookie_set(r, COOKIE_SESSION, "", 0);
	r->session = NULL;
	return resp_see_other(r, "/login", NULL);
}
