/*
 * knowledge: the knowledge.search tool. Searches the calling agent's
 * knowledge base (model/knowledge.c) and answers the best passages as
 * {"results":[{"title","passage"}]}, plain text (no markup), so the model
 * can quote them. A bare model has no knowledge base: a tool error.
 */
#include "plugins/tools.h"

#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "model/knowledge.h"
#include "util/arena.h"
#include "util/xmalloc.h"

#define QUERY_MAX	1000	/* bytes looked at */
#define LIMIT_DEFAULT	3
#define LIMIT_MAX	5

static bool	 search_invoke(struct plugin_ctx *, const cJSON *, char **);

const struct plugin plugin_knowledge_search = {
	.id = "knowledge.search",
	.title = "Search the knowledge base",
	.description = "Search this agent's knowledge base (the texts its "
	    "team wrote: FAQ, policies, prices, opening hours) and return the "
	    "best-matching passages. Use it before answering questions about "
	    "the organisation.",
	.params_schema =
	    "{\"type\":\"object\","
	    "\"properties\":{"
	    "\"query\":{\"type\":\"string\",\"description\":"
	    "\"What to look for, in plain words.\"},"
	    "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":5,"
	    "\"description\":\"How many passages to return (default 3).\"}},"
	    "\"required\":[\"query\"],"
	    "\"additionalProperties\":false}",
	.needs_channel = false,
	.invoke = search_invoke,
};

static bool
search_invoke(struct plugin_ctx *ctx, const cJSON *args, char **result)
{
	const cJSON		*qv = cJSON_GetObjectItemCaseSensitive(args, "query");
	const cJSON		*lv = cJSON_GetObjectItemCaseSensitive(args, "limit");
	struct knowledge_hit	*hits = NULL;
	struct db		*db = NULL;
	cJSON			*out = NULL;
	cJSON			*list;
	char			*query = NULL;
	int			 limit = LIMIT_DEFAULT;
	int			 n = 0;
	bool			 ok = false;

	if (ctx->agent_id == 0) {
		*result = xstrdup("There is no knowledge base without an "
		    "agent.");
		goto out;
	}
	if (!cJSON_IsString(qv) || qv->valuestring[0] == '\0') {
		*result = xstrdup("query must be a non-empty string.");
		goto out;
	}
	if (lv != NULL && !cJSON_IsNull(lv)) {
		if (!cJSON_IsNumber(lv) || lv->valuedouble < 1 ||
		    lv->valuedouble > LIMIT_MAX) {
			*result = xstrdup("limit must be a whole number from "
			    "1 to 5.");
			goto out;
		}
		limit = (int)lv->valuedouble;
	}
	/* A model may send a whole paragraph: the first words suffice,
	 * cut at a character boundary. */
	{
		size_t	 len = strlen(qv->valuestring);

		if (len > QUERY_MAX) {
			len = QUERY_MAX;
			while (len > 0 &&
			    ((unsigned char)qv->valuestring[len] & 0xc0) ==
			    0x80)
				len--;
		}
		query = arena_strndup(ctx->arena, qv->valuestring, len);
	}
	if ((db = db_acquire(ctx->pool)) == NULL ||
	    knowledge_search(db, ctx->arena, ctx->org_id, ctx->agent_id,
	    query, limit, &hits, &n) != DB_OK) {
		*result = xstrdup("The knowledge base is unavailable right "
		    "now.");
		goto out;
	}
	out = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(out, "results");
	for (int i = 0; i < n; i++) {
		cJSON	*h = cJSON_CreateObject();

		cJSON_AddStringToObject(h, "title", hits[i].title);
		cJSON_AddStringToObject(h, "passage", hits[i].passage);
		cJSON_AddItemToArray(list, h);
	}
	if (n == 0)
		cJSON_AddStringToObject(out, "note", "Nothing in the knowledge "
		    "base matches.");
	*result = cJSON_PrintUnformatted(out);
	if (*result == NULL)
		abort();
	ok = true;
out:
	if (db != NULL)
		db_release(db);
	cJSON_Delete(out);
	return ok;
}
