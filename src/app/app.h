/*
 * app: the shared context built at start-up (config, database pool,
 * templates, HTTP server) and torn down in reverse order. Read-only after
 * start, so every thread may read it without locks.
 */
#ifndef PARLEY_APP_APP_H
#define PARLEY_APP_APP_H

#include <stdbool.h>

#include "util/config.h"

struct db_pool;
struct db_embedded;
struct secret_key;
struct worker_pool;
struct tmpl_set;
struct mg_context;
struct route;
struct req;

struct app {
	struct config		 cfg;
	struct db_pool		*db;
	struct db_embedded	*pg;		/* NULL with PARLEY_DATABASE_URL */
	struct secret_key	*key;		/* master key for secrets */
	struct tmpl_set		*tmpl;
	struct mg_context	*mg;
	struct worker_pool	*workers;	/* the reply pool */
	const struct route	*routes;
	int			 n_routes;
	char			*templates_dir;
	char			*static_dir;
	char			*migrations_dir;
	int			 migrations_latest;
};

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
