/*
 * app: start-up and tear-down of the shared context (see app.h). Order:
 * crypto, embedded cluster, pool, migrations, templates, metrics and hooks;
 * app_close() undoes them in reverse.
 */
#include "app/app.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/log.h"
#include "util/metrics.h"
#include "api/api.h"
#include "chat/ingest.h"
#include "crypto/password.h"
#include "crypto/secret.h"
#include "crypto/token.h"
#include "db/db.h"
#include "http/resp.h"
#include "http/router.h"
#include "model/agent.h"
#include "model/channel.h"
#include "model/knowledge.h"
#include "model/org.h"
#include "model/orgmodel.h"
#include "model/user.h"
#include "panel/panel.h"
#include "plugins/mcp.h"
#include "plugins/plugin.h"
#include "tmpl/tmpl.h"
#include "util/xmalloc.h"
#include "webhooks/chancache.h"
#include "worker/queue.h"

static bool	open_database(struct app *);
static bool	migrate_database(struct app *);
static void	reserve_ingest(struct app *);

static bool
open_database(struct app *app)
{
	static const enum db_pooler	 poolers[] = {
		[CONFIG_POOLER_NONE] = DB_POOLER_NONE,
		[CONFIG_POOLER_SESSION] = DB_POOLER_SESSION,
		[CONFIG_POOLER_TRANSACTION] = DB_POOLER_TRANSACTION,
	};
	char	 conninfo[1024], err[512], *pgdir;

	if (app->cfg.database_url != NULL) {
		if (app->cfg.database_direct_url != NULL &&
		    !db_conninfo_check(app->cfg.database_direct_url, err,
		    sizeof(err))) {
			fprintf(stderr, "parley: PARLEY_DATABASE_DIRECT_URL is "
			    "not a libpq connection string: %s.\n", err);
			return false;
		}
		app->db = db_pool_new(app->cfg.database_url,
		    app->cfg.db_pool_size, app->cfg.db_acquire_timeout_ms);
		if (app->db == NULL) {
			fprintf(stderr, "parley: PARLEY_DATABASE_URL is not a "
			    "libpq connection string.\n");
			return false;
		}
		db_pool_set_pooler(app->db, poolers[app->cfg.db_pooler]);
		reserve_ingest(app);
		return true;
	}
	pgdir = xasprintf("%s/pg", app->cfg.data_dir);
	app->pg = db_embedded_start(pgdir, 0, conninfo, sizeof(conninfo), err,
	    sizeof(err));
	free(pgdir);
	if (app->pg == NULL) {
		fprintf(stderr, "parley: the embedded PostgreSQL did not start: "
		    "%s\n", err);
		return false;
	}
	app->db = db_pool_new(conninfo, app->cfg.db_pool_size,
	    app->cfg.db_acquire_timeout_ms);
	if (app->db != NULL)
		reserve_ingest(app);
	return app->db != NULL;
}

/*
 * Ingest's group-commit leaders get connections of their own (db/pool.c,
 * the reserved lane): a webhook's answer never waits behind the reply
 * pool's workers for one. Only in a pool large enough to spare them.
 */
static void
reserve_ingest(struct app *app)
{
	if (app->cfg.db_pool_size >= 4 * ingest_connections())
		db_pool_reserve(app->db, ingest_connections());
}

bool
app_open(struct app *app, bool migrate)
{
	char		 err[512];
	static const char *patterns[256];

	if (!crypto_init()) {
		fprintf(stderr, "parley: libsodium could not start.\n");
		return false;
	}
	log_set_level(log_level_parse(app->cfg.log_level));
	/* What chat/ asks of the job queue (util/context.h). */
	app->queue.send_at = queue_send_at;
	app->queue.release = queue_release_job;
	app->templates_dir = xasprintf("%s/templates", app->cfg.home);
	app->static_dir = xasprintf("%s/static", app->cfg.home);
	app->migrations_dir = xasprintf("%s/migrations", app->cfg.home);
	app->migrations_latest = db_migrations_latest(app->migrations_dir);
	if (app->migrations_latest < 0) {
		fprintf(stderr, "parley: cannot read migrations in %s.\n",
		    app->migrations_dir);
		return false;
	}
	/*
	 * 0711: the embedded cluster's user (postgres, when we are root) must
	 * pass through to var/pg, but nobody need list var/; the master key in
	 * it is a 0600 file of its own.
	 */
	if (mkdir(app->cfg.data_dir, 0711) != 0 && errno != EEXIST) {
		fprintf(stderr, "parley: cannot create %s (PARLEY_DATA_DIR).\n",
		    app->cfg.data_dir);
		return false;
	}
	if (!secret_key_load(app->cfg.master_key_file, true, &app->key, err,
	    sizeof(err))) {
		fprintf(stderr, "parley: PARLEY_MASTER_KEY_FILE: %s\n", err);
		return false;
	}
	if (!open_database(app))
		return false;
	if (migrate && !migrate_database(app))
		return false;
	app->tmpl = tmpl_set_new();
	if (!tmpl_set_load_dir(app->tmpl, app->templates_dir, err,
	    sizeof(err))) {
		fprintf(stderr, "parley: template error: %s\n", err);
		return false;
	}
	app->routes = app_routes;
	app->n_routes = app_n_routes;
	for (int i = 0; i < app_n_routes && i < 256; i++)
		patterns[i] = app_routes[i].pattern;
	metrics_init(app_n_routes, patterns);
	router_set_hooks(&(struct router_hooks){
	    .load_principal = panel_load_principal,
	    .bearer = api_bearer,
	    .session_gate = panel_settings_password_gate,
	});
	resp_set_page_hook(panel_decorate);
	return true;
}

/*
 * Applies pending migrations, on PARLEY_DATABASE_DIRECT_URL when given (a
 * connection of its own, closed after) and through the pool otherwise:
 * db_migrate's locks are transaction-level, so either is safe behind a
 * pooler. After a run that applied something the pool's idle sessions are
 * closed, so the next ones start with the role settings it may have made
 * (migration 0011: jit = off).
 */
static bool
migrate_database(struct app *app)
{
	struct db_pool	*pool = app->db;
	struct db	*db;
	char		 err[512];
	int		 applied = 0;
	bool		 ok = false;

	if (app->cfg.database_direct_url != NULL &&
	    (pool = db_pool_new(app->cfg.database_direct_url, 1,
	    app->cfg.db_acquire_timeout_ms)) == NULL) {
		fprintf(stderr, "parley: PARLEY_DATABASE_DIRECT_URL is not a "
		    "libpq connection string.\n");
		return false;
	}
	if ((db = db_acquire(pool)) == NULL) {
		fprintf(stderr, "parley: cannot connect to PostgreSQL "
		    "(check %s).\n", pool != app->db ?
		    "PARLEY_DATABASE_DIRECT_URL" : "PARLEY_DATABASE_URL");
		goto out;
	}
	if (!db_migrate(db, app->migrations_dir, &applied, err,
	    sizeof(err))) {
		db_release(db);
		fprintf(stderr, "parley: migrations refused: %s\n", err);
		goto out;
	}
	db_release(db);
	if (applied > 0) {
		log_info("app", "msg=\"migrations applied\" count=%d "
		    "version=%d", applied, app->migrations_latest);
		db_pool_close_idle(app->db);
	}
	ok = true;
out:
	if (pool != app->db)
		db_pool_free(pool);
	return ok;
}

void
app_close(struct app *app)
{
	chancache_clear();
	mcp_shutdown();
	metrics_free();
	tmpl_set_free(app->tmpl);
	app->tmpl = NULL;
	db_pool_free(app->db);
	app->db = NULL;
	db_embedded_stop(app->pg);
	app->pg = NULL;
	secret_key_free(app->key);
	app->key = NULL;
	free(app->templates_dir);
	free(app->static_dir);
	free(app->migrations_dir);
	app->templates_dir = app->static_dir = app->migrations_dir = NULL;
	config_free(&app->cfg);
}

/*
 * A first agent on the offline model, with a little knowledge, so a new
 * installation answers questions (Agents → Try it) with no provider and no
 * internet. Part of the first owner's transaction.
 */
static enum db_status
seed_first_agent(struct db *db, int64_t org_id)
{
	static const char *const	 facts[][2] = {
		{ "What Parley is",
		  "Parley puts AI agents on WhatsApp. Each agent has a system "
		  "prompt, a model, plugins it may use, and a knowledge base "
		  "like this one." },
		{ "Connecting a model provider",
		  "Add an OpenAI-compatible provider (OpenAI, OpenRouter, Groq, "
		  "Ollama or vLLM) under Settings, then a model, then choose it "
		  "on the agent's page. Until then, agents answer from their "
		  "knowledge base with the built-in offline model." },
		{ "Talking to a person",
		  "When the assistant cannot answer, it asks a person from the "
		  "team to follow up." },
	};
	static const char *const	 plugins[] = {
		"knowledge.search", "handoff.request", "time.now",
	};
	struct agent_input	 in;
	struct field_errors	 errs = { 0 };
	int64_t			 agent_id, kid;
	enum db_status		 st;

	agent_input_defaults(&in);
	in.name = "Assistant";
	in.slug = "assistant";
	in.system_prompt = "You are {{agentName}}, the assistant of "
	    "{{organizationName}}. Answer briefly and kindly. Today is "
	    "{{date}}.";
	if ((st = agent_create(db, org_id, &in, &errs, &agent_id)) != DB_OK)
		return st;
	for (size_t i = 0; i < sizeof(facts) / sizeof(facts[0]); i++)
		if ((st = knowledge_create(db, org_id, agent_id, facts[i][0],
		    facts[i][1], "paste", NULL, &errs, &kid)) != DB_OK)
			return st;
	return agent_set_plugins(db, org_id, agent_id, plugins,
	    (int)(sizeof(plugins) / sizeof(plugins[0])), plugin_id_usable);
}

bool
app_bootstrap_owner(struct app *app)
{
	struct db	*db;
	int64_t		 n = 0, org_id, user_id;
	char		 generated[21], hash[PASSWORD_HASH_MAX];
	const char	*pw = app->cfg.admin_password;
	enum db_status	 st;
	bool		 ok = false;

	if ((db = db_acquire(app->db)) == NULL) {
		fprintf(stderr, "parley: cannot connect to PostgreSQL.\n");
		return false;
	}
	if (user_count_any_org(db, &n) != DB_OK)
		goto out;
	if (n > 0) {
		ok = true;
		goto out;
	}
	if (pw == NULL) {
		password_generate(generated, sizeof(generated));
		pw = generated;
	}
	if (!password_hash(pw, hash))
		goto out;
	if (db_tx_begin(db) != DB_OK)
		goto out;
	st = org_create(db, app->cfg.admin_org, &org_id);
	if (st == DB_OK)
		st = orgmodel_ensure_builtin(db, org_id);
	if (st == DB_OK)
		st = channel_ensure_sandbox(db, org_id, NULL);
	if (st == DB_OK)
		/* A generated password is one-time: changed at first sign-in. */
		st = user_create(db, app->cfg.admin_email, hash,
		    pw == generated, &user_id);
	if (st == DB_OK)
		st = user_membership_set(db, org_id, user_id, "owner");
	if (st == DB_OK)
		st = seed_first_agent(db, org_id);
	if (st == DB_OK)
		st = db_tx_commit(db);
	db_tx_rollback(db);
	if (st == DB_CONFLICT) {
		/* Another process created the first owner at the same time. */
		ok = true;
		goto out;
	}
	if (st != DB_OK)
		goto out;
	fprintf(stderr,
	    "\n  Parley's first owner was created. Sign in at %s/login\n"
	    "    email:    %s\n"
	    "    password: %s\n"
	    "  %s\n\n", app->cfg.public_url, app->cfg.admin_email,
	    pw == generated ? generated : "(from PARLEY_ADMIN_PASSWORD)",
	    pw == generated ? "This one-time password is shown once: you "
	    "will choose your own when you first sign in." : "");
	ok = true;
out:
	db_release(db);
	if (!ok)
		fprintf(stderr, "parley: could not create the first owner.\n");
	return ok;
}
