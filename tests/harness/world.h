/*
 * tests/harness/world.h: the reply pipeline's test world, for suites that
 * deliver inbound messages and watch what the server's reply pool makes of
 * them: a cluster, fake_llm and fake_whatsapp, the server pointed at them
 * at hvars_reply's pace, the server's master key and a pool on the cluster
 * for in-process model calls (model.h), and the first organisation and
 * user (the bootstrap owner's).
 *
 * A suite keeps one static struct hworld; what it adds (agents, channels,
 * a second server) is its own.
 */
#ifndef PARLEY_TESTS_WORLD_H
#define PARLEY_TESTS_WORLD_H

#include "harness/harness.h"

struct db_pool;
struct secret_key;

struct hworld {
	struct hpg		 pg;
	struct hfake		 llm;		/* fake_llm */
	struct hfake		 wa;		/* fake_whatsapp */
	struct hserver		 srv;
	struct hvars		 env;		/* the server's overrides */
	struct secret_key	*key;		/* the server's master key */
	struct db_pool		*pool;		/* 4 connections */
	int64_t			 org_id;
	int64_t			 user_id;
};

/* Starts it all; llm_args and wa_args are the fakes' extra arguments
 * (NULL-terminated, may be NULL). Fails the test on any error. */
void	 hworld_start(struct hworld *w, const char **llm_args,
	    const char **wa_args);
/* Stops the server (when running) and the fakes, frees the key, pool and
 * overrides, destroys the cluster. */
void	 hworld_stop(struct hworld *w);
/* Resets both fakes: the fixture between two tests. */
void	 hworld_reset(struct hworld *w);
/* hmodel_create on the fake LLM (its base URL + "/v1") with api_key, in
 * the world's organisation; the model's id. */
int64_t	 hworld_model(struct hworld *w, const char *api_key, bool tools);

#endif
