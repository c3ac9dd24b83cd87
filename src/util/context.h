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
#include <stdint.h>

#include "util/config.h"

struct db;
struct db_pool;
struct db_embedded;
struct secret_key;
struct worker_pool;
struct tmpl_set;
struct mg_context;
struct route;

/*
 * The channel a NOTIFY wakes the reply pool on (worker/queue.h names it
 * too): chat/ingest.c notifies it in its own statement when a turn
 * becomes due.
 */
#define APP_JOBS_CHANNEL	"parley_jobs"

/*
 * What the layers below worker/ ask of the job queue (worker/queue.h),
 * wired by app/ at start-up so that chat/ never includes worker/ (a
 * member left NULL, in a program without the queue, schedules nothing).
 * It runs in the caller's transaction and says whether it succeeded
 * (false: the database failed; the caller rolls back). Turns need no
 * entry: ingest marks the chat's turn due (chats.turn_due_at) and the
 * pool's claim finds it.
 */
struct app_queue {
	/* The send job of outbound message message_id, due in delay_s
	 * seconds: a new one when *job_id is 0 (its id is stored there),
	 * else job *job_id moved when it is still queued. */
	bool	(*send_at)(struct db *db, int64_t org_id, int64_t message_id,
		    int delay_s, int64_t *job_id);
	/* The release job of a window hold (chat/window.h), due now. */
	bool	(*release)(struct db *db, int64_t org_id, int64_t hold_id);
};

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
	struct app_queue	 queue;
};

#endif
