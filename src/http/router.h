/*
 * router: matches a request against the route table app/routes.c hands it
 * and enforces each route's declared preconditions in one place, in this
 * order: method and path → session or bearer auth → role → body limit
 * (413 before the body is read whole) → body parsing (form; JSON nested at
 * most JSON_MAX_DEPTH deep, util/json.h; raw) → CSRF and origin → handler.
 * Nothing of a body is parsed before its sender is known. A handler never
 * re-checks any of them. The router
 * knows no page, API area or provider: app/ hands it hooks for what needs
 * the domain (loading a principal, bearer tokens, page decoration).
 */
#ifndef PARLEY_HTTP_ROUTER_H
#define PARLEY_HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

struct req;
struct mg_connection;
struct app;

typedef int	(*route_fn)(struct req *r);

enum route_flag {
	R_SESSION	= 1u << 0,	/* panel login required (303 /login) */
	R_CSRF		= 1u << 1,	/* CSRF token + same-origin required */
	R_FORM		= 1u << 2,	/* urlencoded or multipart body */
	R_JSON		= 1u << 3,	/* JSON body (object) */
	R_RAW		= 1u << 4,	/* raw body, unparsed (webhooks) */
	R_BEARER	= 1u << 5,	/* Authorization: Bearer token */
	R_ADMIN		= 1u << 6,	/* role owner or admin */
	R_OWNER		= 1u << 7,	/* role owner */
	R_PRE_CSRF	= 1u << 8,	/* anonymous form: double-submit token */
	R_SESSION_OPT	= 1u << 9,	/* load a session when there is one */
};

/* Hooks app/ gives the router for what needs the domain. */
struct router_hooks {
	/* Fills r->session's principal; false: the user may not sign in. */
	bool	(*load_principal)(struct req *r);
	/* Authenticates Authorization: Bearer; sends the error itself and
	 * returns its status, or 0 when r->org_id is set and may go on. */
	int	(*bearer)(struct req *r);
	/* After a session's principal is loaded: 0 to go on, or the status
	 * of a response it sent instead (a one-time password not yet
	 * changed reaches only the change-password page). May be NULL. */
	int	(*session_gate)(struct req *r);
};

/* Installs the hooks (once, at start-up, before serving). */
void	 router_set_hooks(const struct router_hooks *hooks);

struct route {
	const char	*method;
	const char	*pattern;	/* "/agents/{id}", "/static/{*path}" */
	route_fn	 handler;
	unsigned	 flags;
	size_t		 body_max;	/* 0: the default (64 KiB) */
};

#define ROUTE_DEFAULT_BODY_MAX	(64 * 1024)

/*
 * Matches `path` against `pattern`, storing up to REQ_MAX_PARAMS captured
 * segments in r (arena copies). Pure; exposed for unit tests.
 */
int	 router_match(const char *pattern, const char *path, struct req *r);

/*
 * CivetWeb request handler for every path: builds a struct req, routes,
 * checks, calls the handler, writes the access log line and metrics.
 * cbdata is the struct app.
 */
int	 router_dispatch(struct mg_connection *conn, void *cbdata);

#endif
