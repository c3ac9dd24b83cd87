/*
 * handoff: the handoff.request tool and the table `handoffs` (all of its
 * SQL lives here). A handoff marks a conversation that needs a person: the
 * model asked for one, or the offline model found no answer. The gateway
 * ties each handoff to the llm_calls row of its call once that row exists
 * (handoff_set_llm_call), using the id reported in the tool's result.
 * In a WhatsApp chat (ctx->chat_id) it also moves the chat to
 * needs_human (chat/handoff.h), so the agent stops answering it; the
 * reply job then sends the handoff text.
 */
#include "plugins/tools.h"

#include <stdlib.h>
#include <string.h>

#include "chat/handoff.h"
#include "db/db.h"
#include "util/utf8.h"
#include "util/xmalloc.h"

static bool	 handoff_invoke(struct plugin_ctx *, const cJSON *, char **);
static char	*reason_cut(const char *);

const struct plugin plugin_handoff_request = {
	.id = "handoff.request",
	.title = "Hand off to a person",
	.description = "Ask a person from the team to take over this "
	    "conversation. Use it when the user asks for a human, is upset, "
	    "or needs something you cannot answer or do.",
	.params_schema =
	    "{\"type\":\"object\","
	    "\"properties\":{"
	    "\"reason\":{\"type\":\"string\",\"description\":"
	    "\"Why a person is needed, in one sentence, for the team.\"}},"
	    "\"required\":[\"reason\"],"
	    "\"additionalProperties\":false}",
	.needs_channel = false,
	.invoke = handoff_invoke,
};

enum db_status
handoff_create(struct db *db, int64_t org_id, int64_t agent_id,
    const char *reason, const char *contact, int64_t *id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "INSERT INTO handoffs (org_id, agent_id, reason, contact)"
	    " VALUES ($1, $2, $3, $4)"
	    " RETURNING id",
	    DB_I64(org_id), agent_id != 0 ? DB_I64(agent_id) : DB_NULL,
	    DB_TEXT(reason), DB_TEXT(contact != NULL ? contact : ""), DB_END);
	if (st == DB_OK)
		*id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
handoff_set_llm_call(struct db *db, int64_t org_id, int64_t handoff_id,
    int64_t llm_call_id)
{
	return db_exec(db,
	    "UPDATE handoffs SET llm_call_id = $3"
	    " WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(handoff_id), DB_I64(llm_call_id), DB_END);
}

/* The reason as stored: valid UTF-8 cut to HANDOFF_REASON_MAX characters. */
static char *
reason_cut(const char *s)
{
	size_t	 len = strlen(s);
	size_t	 i = 0;
	int	 n = 0;

	if (!utf8_valid(s, len))
		return xstrdup("");
	while (i < len && n < HANDOFF_REASON_MAX) {
		i++;
		while (i < len && ((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		n++;
	}
	return xstrndup(s, i);
}

static bool
handoff_invoke(struct plugin_ctx *ctx, const cJSON *args, char **result)
{
	const cJSON	*rv = cJSON_GetObjectItemCaseSensitive(args, "reason");
	struct db	*db = NULL;
	cJSON		*out = NULL;
	char		*reason = NULL;
	int64_t		 id = 0;
	bool		 ok = false, changed = false;

	if (rv != NULL && !cJSON_IsNull(rv) && !cJSON_IsString(rv)) {
		*result = xstrdup("reason must be a string.");
		goto out;
	}
	reason = reason_cut(cJSON_IsString(rv) ? rv->valuestring : "");
	if ((db = db_acquire(ctx->pool)) == NULL ||
	    handoff_create(db, ctx->org_id, ctx->agent_id, reason,
	    ctx->contact, &id) != DB_OK) {
		*result = xstrdup("Could not reach the team right now.");
		goto out;
	}
	/* A WhatsApp chat stops being answered by the agent. */
	if (ctx->chat_id != 0 && handoff_request(db, ctx->org_id,
	    ctx->chat_id, reason[0] != '\0' ? reason : HANDOFF_REASON_MODEL,
	    &changed) != DB_OK) {
		*result = xstrdup("Could not reach the team right now.");
		goto out;
	}
	ctx->handoff_requested = true;
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "status", "requested");
	cJSON_AddStringToObject(out, "message", "A person from the team was "
	    "asked to follow up in this conversation. Tell the user so.");
	cJSON_AddNumberToObject(out, HANDOFF_RESULT_ID, (double)id);
	*result = cJSON_PrintUnformatted(out);
	if (*result == NULL)
		abort();
	ok = true;
out:
	if (db != NULL)
		db_release(db);
	cJSON_Delete(out);
	free(reason);
	return ok;
}
