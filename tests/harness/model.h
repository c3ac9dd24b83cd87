/*
 * tests/harness/model.h: rows made in-process through the server's own
 * model code (src/model/), on a pool of the suite's cluster, and reads of
 * what the reply pipeline left behind. For suites that set up a world
 * (provider, model, agents, channels) faster and more precisely than
 * through the panel, whose own tests cover those forms.
 *
 * Each call fails the test with the model's sentence on error.
 */
#ifndef PARLEY_TESTS_MODEL_H
#define PARLEY_TESTS_MODEL_H

#include "harness/harness.h"

struct channel_input;
struct db;
struct secret_key;

/* The master key the server started on pg made in its data directory;
 * the caller frees it with secret_key_free. */
struct secret_key *hkey_load(struct hpg *pg);
/* channel_create in org as `in` says (its status included); the id. */
int64_t	 hchannel_create(struct db *db, const struct secret_key *key,
	    int64_t org, const struct channel_input *in);
/*
 * agent_create in org: agent_input_defaults with name, mode (NULL: the
 * default), model_id (0: the organisation's default), the prompt
 * "You are {{agentName}}." and no debounce (debounce_ms 0: a turn starts
 * at once); the id.
 */
int64_t	 hagent_create(struct db *db, int64_t org, const char *name,
	    const char *mode, int64_t model_id);
/*
 * provider_create of a provider "fake" at base_url with api_key, then
 * orgmodel_create of its model "fake-model" (display name "Fake", tools
 * supported or not); the model's id.
 */
int64_t	 hmodel_create(struct db *db, const struct secret_key *key,
	    int64_t org, const char *base_url, const char *api_key,
	    bool tools);
/* The id of the inbound message the provider calls pmid (-1: none). */
int64_t	 hinbound_id(struct hpg *pg, const char *pmid);
/* Waits up to timeout_ms until the inbound message pmid is answered (or
 * settled with a reason) and its chat's turns are over; false when there
 * is no such message or it is not. */
bool	 hwait_reply_done(struct hpg *pg, const char *pmid, int timeout_ms);

#endif
