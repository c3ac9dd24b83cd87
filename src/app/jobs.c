/*
 * jobs: the reply pool's job kinds and their handlers, in one table, and
 * its start and stop around the HTTP server (app.h).
 */
#include "app/app.h"

#include "app/log.h"
#include "db/db.h"
#include "worker/pool.h"
#include "worker/reply.h"

static const struct worker_handler	 handlers[] = {
	{ REPLY_JOB_KIND, reply_job_run },
};

bool
app_workers_start(struct app *app)
{
	struct worker_pool_config	 c = {
		.db = app->db,
		.conninfo = db_pool_conninfo(app->db),
		.n_threads = app->cfg.workers,
		.lease_s = app->cfg.job_lease_s,
		.poll_ms = app->cfg.job_poll_ms,
		.handlers = handlers,
		.n_handlers = (int)(sizeof(handlers) / sizeof(handlers[0])),
		.app = app,
	};

	app->workers = worker_pool_start(&c);
	if (app->workers == NULL) {
		log_err("app", "msg=\"reply pool did not start\" threads=%d",
		    app->cfg.workers);
		return false;
	}
	log_info("app", "msg=\"reply pool started\" threads=%d",
	    app->cfg.workers);
	return true;
}

void
app_workers_stop(struct app *app)
{
	worker_pool_stop(app->workers);
	app->workers = NULL;
}
