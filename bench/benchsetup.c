/*
 * bench/benchsetup: the one organisation's set-up both benchmarks need,
 * made through the model modules' own functions (so credentials are
 * sealed exactly as the panel seals them): an LLM provider pointing at
 * bench/benchfake, its "fake-model", an agent on it, and a connected
 * Twilio channel whose default agent it is.
 *
 * Usage: benchsetup --db CONNINFO --key-file PATH --org NAME
 *                   --llm-base URL --number +E164 --account-sid AC…
 *                   --auth-token T
 * Prints "org=N agent=N channel=N" on success; exit 1 with a sentence on
 * failure.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/secret.h"
#include "db/db.h"
#include "model/agent.h"
#include "model/channel.h"
#include "model/fielderr.h"
#include "model/org.h"
#include "model/orgmodel.h"
#include "model/provider.h"

static const char *
arg(int argc, char **argv, const char *name)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	fprintf(stderr, "benchsetup: %s is required\n", name);
	exit(2);
}

static void
check(enum db_status st, const struct field_errors *e, const char *what)
{
	if (st == DB_OK)
		return;
	fprintf(stderr, "benchsetup: %s: %s", what, db_status_str(st));
	for (int i = 0; e != NULL && i < e->n; i++)
		fprintf(stderr, "; %s: %s", e->field[i], e->message[i]);
	fputc('\n', stderr);
	exit(1);
}

int
main(int argc, char **argv)
{
	struct provider_input	 pin = { 0 };
	struct org_model_input	 min = { 0 };
	struct agent_input	 ain;
	struct channel_input	 cin = { 0 };
	struct field_errors	 errs = { 0 };
	struct secret_key	*key = NULL;
	struct db_pool		*pool;
	struct db		*db;
	char			 err[512];
	int64_t			 org_id, provider_id, model_id, agent_id;
	int64_t			 channel_id;

	if (!secret_key_load(arg(argc, argv, "--key-file"), false, &key, err,
	    sizeof(err))) {
		fprintf(stderr, "benchsetup: %s\n", err);
		return 1;
	}
	pool = db_pool_new(arg(argc, argv, "--db"), 1, 10000);
	if (pool == NULL || (db = db_acquire(pool)) == NULL) {
		fprintf(stderr, "benchsetup: cannot connect to PostgreSQL\n");
		return 1;
	}
	check(org_find_by_name_any_org(db, arg(argc, argv, "--org"), &org_id),
	    NULL, "organisation");

	pin.name = "bench";
	pin.base_url = arg(argc, argv, "--llm-base");
	pin.api_key = "sk-bench-0000000000000000";
	check(provider_create(db, key, org_id, &pin, &errs, &provider_id),
	    &errs, "provider");
	min.provider_id = provider_id;
	min.name = "fake-model";
	min.display_name = "Bench fake model";
	min.supports_tools = true;
	check(orgmodel_create(db, org_id, &min, &errs, &model_id), &errs,
	    "model");
	agent_input_defaults(&ain);
	ain.name = "Bench agent";
	ain.slug = "bench";
	ain.system_prompt = "You are a benchmark agent. Answer briefly.";
	ain.model_id = model_id;
	check(agent_create(db, org_id, &ain, &errs, &agent_id), &errs,
	    "agent");

	cin.kind = "twilio";
	cin.name = "Bench Twilio";
	cin.environment = "production";
	cin.phone_number = arg(argc, argv, "--number");
	cin.default_agent_id = agent_id;
	cin.status = "connected";
	cin.twilio_account_sid = arg(argc, argv, "--account-sid");
	cin.twilio_auth_token = arg(argc, argv, "--auth-token");
	check(channel_create(db, key, org_id, &cin, &errs, &channel_id),
	    &errs, "channel");

	printf("org=%lld agent=%lld channel=%lld\n", (long long)org_id,
	    (long long)agent_id, (long long)channel_id);
	db_release(db);
	db_pool_free(pool);
	secret_key_free(key);
	return 0;
}
