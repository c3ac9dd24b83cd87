/*
 * world.c: the reply pipeline's test world (see world.h).
 */
#include "harness/world.h"

#include <stdio.h>

#include "crypto/secret.h"
#include "db/db.h"
#include "harness/model.h"

void
hworld_start(struct hworld *w, const char **llm_args, const char **wa_args)
{
	hpg_start(&w->pg);
	hfake_start(&w->llm, "fake_llm", llm_args);
	hfake_start(&w->wa, "fake_whatsapp", wa_args);
	hvars_reply(&w->env, &w->wa);
	hserver_start(&w->srv, &w->pg, w->env.v);
	w->key = hkey_load(&w->pg);
	w->pool = db_pool_new(w->pg.conninfo, 4, 5000);
	ck_assert_ptr_nonnull(w->pool);
	w->org_id = hpg_sqlf_int(&w->pg, "SELECT id FROM orgs ORDER BY id "
	    "LIMIT 1");
	w->user_id = hpg_sqlf_int(&w->pg, "SELECT id FROM users ORDER BY id "
	    "LIMIT 1");
}

void
hworld_stop(struct hworld *w)
{
	if (w->srv.pid > 0)
		(void)hserver_stop(&w->srv);
	db_pool_free(w->pool);
	w->pool = NULL;
	secret_key_free(w->key);
	w->key = NULL;
	hfake_stop(&w->wa);
	hfake_stop(&w->llm);
	hpg_destroy(&w->pg);
	hvars_free(&w->env);
}

void
hworld_reset(struct hworld *w)
{
	hfake_reset(&w->llm);
	hfake_reset(&w->wa);
}

int64_t
hworld_model(struct hworld *w, const char *api_key, bool tools)
{
	struct db	*db = db_acquire(w->pool);
	char		 base[128];
	int64_t		 id;

	ck_assert_ptr_nonnull(db);
	ck_assert((size_t)snprintf(base, sizeof(base), "%s/v1", w->llm.base) <
	    sizeof(base));
	id = hmodel_create(db, w->key, w->org_id, base, api_key, tools);
	db_release(db);
	return id;
}
