/*
 * csrf: form tokens and the same-origin check (see csrf.h).
 */
#include "http/csrf.h"

#include <string.h>

#include "crypto/token.h"
#include "http/cookie.h"
#include "http/form.h"
#include "http/req.h"
#include "util/arena.h"
#include "util/context.h"
#include "util/str.h"

static bool	valid_token(const char *);

static bool
valid_token(const char *t)
{
	if (t == NULL || strlen(t) != TOKEN_LEN)
		return false;
	for (; *t; t++)
		if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
		    (*t >= '0' && *t <= '9') || *t == '-' || *t == '_'))
			return false;
	return true;
}

const char *
csrf_token(struct req *r)
{
	const char	*c;
	char		 t[TOKEN_LEN + 1];

	if (r->session != NULL)
		return r->session->csrf;
	if (r->csrf_pre != NULL)
		return r->csrf_pre;
	c = req_cookie(r, COOKIE_PRE);
	if (valid_token(c)) {
		r->csrf_pre = arena_strdup(r->arena, c);
		return r->csrf_pre;
	}
	token_new(t);
	r->csrf_pre = arena_strdup(r->arena, t);
	cookie_set(r, COOKIE_PRE, t, -1);
	return r->csrf_pre;
}

bool
csrf_same_origin(struct req *r)
{
	const char	*origin = req_header(r, "Origin");
	const char	*site = req_header(r, "Sec-Fetch-Site");
	const char	*host = req_header(r, "Host");
	const char	*authority;

	if (origin != NULL) {
		if (str_eq(origin, r->app->cfg.public_origin))
			return true;
		if (str_starts_with(origin, "https://"))
			authority = origin + 8;
		else if (str_starts_with(origin, "http://"))
			authority = origin + 7;
		else
			return false;	/* "null" and other schemes */
		return host != NULL && str_case_eq(authority, host);
	}
	if (site != NULL)
		return str_eq(site, "same-origin") || str_eq(site, "none");
	/* Neither header (non-browser clients): the token alone decides. */
	return true;
}

bool
csrf_check(struct req *r)
{
	const char	*sent = NULL, *want;

	if (r->form != NULL)
		sent = form_get(r->form, CSRF_FIELD);
	if (sent == NULL)
		sent = req_header(r, CSRF_HEADER);
	if (!valid_token(sent))
		return false;
	if (r->session != NULL)
		want = r->session->csrf;
	else {
		want = req_cookie(r, COOKIE_PRE);
		if (!valid_token(want))
			return false;
	}
	return token_eq(sent, want);
}
