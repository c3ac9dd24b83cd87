/*
 * model.c: rows through the server's model code (see model.h).
 */
#include "harness/model.h"

#include <stdio.h>
#include <string.h>

#include "crypto/secret.h"
#include "db/db.h"
#include "model/agent.h"
#include "model/channel.h"
#include "model/fielderr.h"
#include "model/orgmodel.h"
#include "model/provider.h"

static const char	*first_field(const struct field_errors *errs);
static const char	*first_error(const struct field_errors *errs);

struct secret_key *
hkey_load(struct hpg *pg)
{
	struct secret_key	*key = NULL;
	char			 path[600], err[256];

	ck_assert((size_t)snprintf(path, sizeof(path),
	    "%s/parley-data/master.key", pg->dir) < sizeof(path));
	ck_assert_msg(secret_key_load(path, false, &key, err, sizeof(err)),
	    "master key: %s", err);
	return key;
}

int64_t
hchannel_create(struct db *db, const struct secret_key *key, int64_t org,
    const struct channel_input *in)
{
	struct field_errors	 errs;
	int64_t			 id = 0;
	enum db_status		 st;

	memset(&errs, 0, sizeof(errs));
	st = channel_create(db, key, org, in, &errs, &id);
	ck_assert_msg(st == DB_OK, "channel_create %s: %s (%s: %s)", in->name,
	    db_status_str(st), first_field(&errs), first_error(&errs));
	return id;
}

int64_t
hagent_create(struct db *db, int64_t org, const char *name,
    const char *mode, int64_t model_id)
{
	struct agent_input	 in;
	struct field_errors	 errs;
	int64_t			 id = 0;
	enum db_status		 st;

	memset(&errs, 0, sizeof(errs));
	agent_input_defaults(&in);
	in.name = name;
	in.system_prompt = "You are {{agentName}}.";
	in.model_id = model_id;
	if (mode != NULL)
		in.mode = mode;
	/* Answered at once: the suites that test the debounce set it. */
	in.debounce_ms = 0;
	st = agent_create(db, org, &in, &errs, &id);
	ck_assert_msg(st == DB_OK, "agent_create %s: %s (%s: %s)", name,
	    db_status_str(st), first_field(&errs), first_error(&errs));
	return id;
}

int64_t
hmodel_create(struct db *db, const struct secret_key *key, int64_t org,
    const char *base_url, const char *api_key, bool tools)
{
	struct provider_input	 pin;
	struct org_model_input	 min;
	struct field_errors	 errs;
	int64_t			 provider_id = 0, model_id = 0;
	enum db_status		 st;

	memset(&pin, 0, sizeof(pin));
	memset(&min, 0, sizeof(min));
	memset(&errs, 0, sizeof(errs));
	pin.name = "fake";
	pin.base_url = base_url;
	pin.api_key = api_key;
	st = provider_create(db, key, org, &pin, &errs, &provider_id);
	ck_assert_msg(st == DB_OK, "provider_create: %s (%s: %s)",
	    db_status_str(st), first_field(&errs), first_error(&errs));
	min.provider_id = provider_id;
	min.name = "fake-model";
	min.display_name = "Fake";
	min.supports_tools = tools;
	st = orgmodel_create(db, org, &min, &errs, &model_id);
	ck_assert_msg(st == DB_OK, "orgmodel_create: %s (%s: %s)",
	    db_status_str(st), first_field(&errs), first_error(&errs));
	return model_id;
}

int64_t
hinbound_id(struct hpg *pg, const char *pmid)
{
	return hpg_sqlf_int(pg, "SELECT id FROM messages WHERE "
	    "provider_message_id = '%s' AND direction = 'in'", pmid);
}

bool
hwait_reply_done(struct hpg *pg, const char *pmid, int timeout_ms)
{
	int64_t	 id = hinbound_id(pg, pmid);

	/* Answered (or settled with a reason) and its chat's turns over. */
	return id > 0 && hpg_wait_int(pg, 1, timeout_ms, "SELECT count(*) "
	    "FROM messages m JOIN chats c ON c.id = m.chat_id"
	    " WHERE m.id = %lld"
	    "   AND (m.answered_by IS NOT NULL"
	    "        OR m.unanswered_reason IS NOT NULL)"
	    "   AND c.turn_due_at IS NULL"
	    "   AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = c.turn_job"
	    "        AND j.status IN ('queued', 'running'))",
	    (long long)id);
}

/* The field and the message of the first field error ("" when none). */
static const char *
first_field(const struct field_errors *errs)
{
	return errs->n > 0 ? errs->field[0] : "";
}

static const char *
first_error(const struct field_errors *errs)
{
	return errs->n > 0 ? errs->message[0] : "";
}
