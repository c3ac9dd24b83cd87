/*
 * csrf: tokens for every state-changing form, checked by the router on
 * R_CSRF and R_PRE_CSRF routes with a constant-time comparison, plus a
 * same-origin check on Origin / Sec-Fetch-Site (Fossil's cgi_same_origin).
 *
 * Logged in, the token is the session's own. Before login (the login form
 * itself) it is a double-submit token: a random cookie the form repeats.
 */
#ifndef PARLEY_HTTP_CSRF_H
#define PARLEY_HTTP_CSRF_H

#include <stdbool.h>

struct req;

#define CSRF_FIELD	"_csrf"
#define CSRF_HEADER	"X-CSRF-Token"

/* The token to render into this page's forms (sets the cookie if new). */
const char	*csrf_token(struct req *r);
/* True when the request is same-origin by Origin/Sec-Fetch-Site. */
bool		 csrf_same_origin(struct req *r);
/* True when the submitted token matches (session or pre-session). */
bool		 csrf_check(struct req *r);

#endif
