/*
 * routes: every path Parley answers, its handler and its preconditions, in
 * one screenful (STYLE.md §5). The router enforces the flags; handlers
 * never re-check them. Body limits are per route; 0 means 64 KiB.
 */
#include "app/app.h"

#include "http/router.h"
#include "http/static.h"
#include "panel/panel.h"

#define KiB	* 1024

static const struct route routes[] = {
	/* Operations */
	{ "GET",  "/healthz",            health_live,     0, 0 },
	{ "GET",  "/readyz",             health_ready,    0, 0 },
	{ "GET",  "/metrics",            health_metrics,  0, 0 },
	{ "GET",  "/static/{*path}",     static_serve,    0, 0 },

	/* Panel: sign-in */
	{ "GET",  "/login",              panel_auth_login_form, R_SESSION_OPT, 0 },
	{ "POST", "/login",              panel_auth_login,
	    R_FORM | R_PRE_CSRF, 16 KiB },
	{ "POST", "/logout",             panel_auth_logout,
	    R_SESSION | R_FORM | R_CSRF, 16 KiB },

	/* Panel: pages */
	{ "GET",  "/",                   panel_dashboard, R_SESSION, 0 },
	{ "GET",  "/settings",           panel_settings_index, R_SESSION, 0 },
	{ "GET",  "/settings/password",  panel_settings_password_form,
	    R_SESSION, 0 },
	{ "POST", "/settings/password",  panel_settings_password,
	    R_SESSION | R_FORM | R_CSRF, 16 KiB },
};

const struct route	*const app_routes = routes;
const int		 app_n_routes = sizeof(routes) / sizeof(routes[0]);
