/*
 * handoff: the handoff.request tool, a thin caller of chat/handoff.h
 * (which owns the table `handoffs` and the chat's status, and writes both
 * in one transaction). A handoff marks a conversation that needs a
 * person: the model asked for one, or the offline model found no answer
 * (this is the fallback tool it calls, plugin.h). The row names the model
 * call that made it (plugin_ctx.llm_call_id, reserved by the gateway
 * before any tool runs); in a WhatsApp chat (ctx->chat_id) the chat moves
 * to needs_human, so the agent stops answering it and the reply job sends
 * the handoff text.
 */
#include "plugins/tools.h"

#include <stdlib.h>
#include <string.h>

#include "chat/handoff.h"
#include "db/db.h"
#include "util/utf8.h"
#include "util/xmalloc.h"

#define REASON_MAX	500	/* characters kept */

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
	.fallback = true,
	.invoke = handoff_invoke,
};

/* The reason as stored: valid UTF-8 cut to REASON_MAX characters. */
static char *
reason_cut(const char *s)
{
	size_t	 len = strlen(s);
	size_t	 i = 0;
	int	 n = 0;

	if (!utf8_valid(s, len))
		return xstrdup("");
	while (i < len && n < REASON_MAX) {
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
	struct handoff_ask ask;
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
	memset(&ask, 0, sizeof(ask));
	ask.agent_id = ctx->agent_id;
	ask.llm_call_id = ctx->llm_call_id;
	ask.chat_id = ctx->chat_id;
	ask.reason = reason;
	ask.contact = ctx->contact;
	if ((db = db_acquire(ctx->pool)) == NULL ||
	    handoff_ask(db, ctx->org_id, &ask, &id, &changed) != DB_OK) {
		*result = xstrdup("Could not reach the team right now.");
		goto out;
	}
	ctx->handoff_requested = true;
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "status", "requested");
	cJSON_AddStringToObject(out, "message", "A person from the team was "
	    "asked to follow up in this conversation. Tell the user so.");
	cJSON_AddNumberToObject(out, "handoffId", (double)id);
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
