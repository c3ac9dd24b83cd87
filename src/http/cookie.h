/*
 * cookie: Set-Cookie with the attributes we always want (Path=/, HttpOnly,
 * SameSite, Secure when the public URL is https).
 */
#ifndef PARLEY_HTTP_COOKIE_H
#define PARLEY_HTTP_COOKIE_H

struct req;

/* max_age_s < 0: a browser-session cookie; 0: delete the cookie. */
void	 cookie_set(struct req *r, const char *name, const char *value,
	    long max_age_s);

#define COOKIE_SESSION	"parley_session"
#define COOKIE_PRE	"parley_pre"

#endif
