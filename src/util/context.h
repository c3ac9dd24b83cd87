/*
 * context: the shared application context, struct app (config, database
 * pool, master key, templates, HTTP server, reply pool), built by app/ at
 * start-up and read-only after, so every thread may read it without
 * locks. It lives below the domain so that every layer can be handed it
 * (http/ reads the config, chat/media the pool and the key) while app/
 * stays the top of the program: app/app.h builds and tears it down.
 */
#ifndef PARLEY_UTIL_CONTEXT_H
#define PARLEY_UTIL_CONTEXT_H

#include <stdbool.h>

#include "util/config.h"

struct db_pool;
struct db_embedded;
struct secret_key;
struct worker_pool;
struct tmpl_set;
struct mg_context;
struct route;

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

#endif
