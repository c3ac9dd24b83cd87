/*
 * cookie: Set-Cookie (see cookie.h).
 */
#include "http/cookie.h"

#include "http/req.h"
#include "http/resp.h"
#include "util/arena.h"
#include "util/context.h"

void
cookie_set(struct req *r, const char *name, const char *value,
    long max_age_s)
{
	/* HTTPS as the client saw it (a trusted proxy may say so). */
	const char	*secure = r->app->cfg.public_is_https ||
			    req_is_https(r) ? "; Secure" : "";
	char		*v;

	if (max_age_s < 0)
		v = arena_printf(r->arena, "%s=%s; Path=/; HttpOnly; "
		    "SameSite=Lax%s", name, value, secure);
	else
		v = arena_printf(r->arena, "%s=%s; Path=/; Max-Age=%ld; "
		    "HttpOnly; SameSite=Lax%s", name, max_age_s ? value : "",
		    max_age_s, secure);
	resp_header(r, "Set-Cookie", v);
}
