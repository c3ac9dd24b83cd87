/*
 * app: builds the shared context (struct app, util/context.h) at start-up
 * (config, database pool, templates, HTTP server) and tears it down in
 * reverse order; the route table; starting and stopping the reply pool.
 */
#ifndef PARLEY_APP_APP_H
#define PARLEY_APP_APP_H

#include "util/context.h"

struct route;

/*
 * Builds the context: config (already loaded into app->cfg by the caller),
 * embedded cluster when no PARLEY_DATABASE_URL, pool, migrations (when
 * migrate is true), templates. On failure returns false having printed one
 * sentence; app_close() cleans up whatever was built.
 */
bool	 app_open(struct app *app, bool migrate);
void	 app_close(struct app *app);
/*
 * On a database with no user: creates the organisation PARLEY_ADMIN_ORG
 * and its owner PARLEY_ADMIN_EMAIL with PARLEY_ADMIN_PASSWORD or a
 * generated password, printed once. Safe when two processes race.
 */
bool	 app_bootstrap_owner(struct app *app);
/* Starts the reply pool (app/jobs.c); false when its threads cannot start. */
bool	 app_workers_start(struct app *app);
/* Drains the running jobs and joins the pool's threads; safe when none. */
void	 app_workers_stop(struct app *app);

/* The route table (app/routes.c). */
extern const struct route	*const app_routes;
extern const int		 app_n_routes;

#endif
