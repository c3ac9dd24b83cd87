/*
 * builtin: the offline model parley/faq (see builtin.h).
 */
#include "llm/builtin.h"

#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "model/knowledge.h"
#include "plugins/plugin.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define QUESTION_MAX	1000	/* bytes searched */
#define REASON_QUOTE	200	/* bytes of the question kept in the reason */

static cJSON	*completion(const char *content, cJSON *tool_calls);
static char	*last_user_text(const cJSON *messages);
static size_t	 utf8_cut(const char *s, size_t max);
static bool	 handoff_result_ok(const cJSON *msg);
static cJSON	*handoff_call(const char *question);

/* A chat.completion object as an OpenAI-compatible server sends it. */
static cJSON *
completion(const char *content, cJSON *tool_calls)
{
	cJSON	*resp = cJSON_CreateObject();
	cJSON	*choices = cJSON_AddArrayToObject(resp, "choices");
	cJSON	*choice = cJSON_CreateObject();
	cJSON	*msg = cJSON_CreateObject();
	cJSON	*usage = cJSON_AddObjectToObject(resp, "usage");

	cJSON_AddStringToObject(resp, "id", "chatcmpl-parley-faq");
	cJSON_AddStringToObject(resp, "object", "chat.completion");
	cJSON_AddStringToObject(resp, "model", "parley/faq");
	cJSON_AddNumberToObject(choice, "index", 0);
	cJSON_AddStringToObject(msg, "role", "assistant");
	if (content != NULL)
		cJSON_AddStringToObject(msg, "content", content);
	else
		cJSON_AddNullToObject(msg, "content");
	if (tool_calls != NULL)
		cJSON_AddItemToObject(msg, "tool_calls", tool_calls);
	cJSON_AddItemToObject(choice, "message", msg);
	cJSON_AddStringToObject(choice, "finish_reason",
	    tool_calls != NULL ? "tool_calls" : "stop");
	cJSON_AddItemToArray(choices, choice);
	cJSON_AddNumberToObject(usage, "prompt_tokens", 0);
	cJSON_AddNumberToObject(usage, "completion_tokens", 0);
	cJSON_AddNumberToObject(usage, "total_tokens", 0);
	return resp;
}

/* The longest prefix of s of at most max bytes ending on a character. */
static size_t
utf8_cut(const char *s, size_t max)
{
	size_t	 len = strlen(s);

	if (len <= max)
		return len;
	len = max;
	while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
		len--;
	return len;
}

/* The text of the last user message (string content or text parts joined
 * by spaces), malloc'd; "" when there is none. */
static char *
last_user_text(const cJSON *messages)
{
	const cJSON	*m, *content, *part;
	const cJSON	*found = NULL;
	struct buf	 b;

	cJSON_ArrayForEach(m, messages) {
		const cJSON	*role = cJSON_GetObjectItemCaseSensitive(m,
				    "role");

		if (cJSON_IsString(role) && str_eq(role->valuestring, "user"))
			found = m;
	}
	buf_init(&b, 0);
	content = cJSON_GetObjectItemCaseSensitive(found, "content");
	if (cJSON_IsString(content))
		buf_puts(&b, content->valuestring);
	else if (cJSON_IsArray(content)) {
		cJSON_ArrayForEach(part, content) {
			const cJSON	*type, *text;

			type = cJSON_GetObjectItemCaseSensitive(part, "type");
			text = cJSON_GetObjectItemCaseSensitive(part, "text");
			if (!cJSON_IsString(type) ||
			    !str_eq(type->valuestring, "text") ||
			    !cJSON_IsString(text))
				continue;
			if (b.len > 0)
				buf_putc(&b, ' ');
			buf_puts(&b, text->valuestring);
		}
	}
	if (b.len == 0) {
		buf_cleanup(&b);
		return xstrdup("");
	}
	return buf_steal(&b, NULL);
}

/* True unless the gateway answered our handoff call with {"error": …}. */
static bool
handoff_result_ok(const cJSON *msg)
{
	const cJSON	*content = cJSON_GetObjectItemCaseSensitive(msg,
			    "content");
	cJSON		*parsed;
	bool		 ok;

	if (!cJSON_IsString(content))
		return false;
	parsed = json_parse_str(content->valuestring, NULL);
	ok = cJSON_IsObject(parsed) &&
	    cJSON_GetObjectItemCaseSensitive(parsed, "error") == NULL;
	cJSON_Delete(parsed);
	return ok;
}

/* tool_calls with the one call to the fallback tool (plugin.h: the
 * handoff), the reason quoting the question so the team sees what went
 * unanswered. */
static cJSON *
handoff_call(const char *question)
{
	cJSON	*calls = cJSON_CreateArray();
	cJSON	*call = cJSON_CreateObject();
	cJSON	*fn = cJSON_AddObjectToObject(call, "function");
	cJSON	*args = cJSON_CreateObject();
	const struct plugin *fb;
	char	 wire[PLUGIN_WIRE_MAX + 1];
	char	*reason;
	char	*text;

	fb = plugin_fallback();
	plugin_wire_name(fb != NULL ? fb->id : "", wire);
	if (*question == '\0')
		reason = xstrdup("The message has no text to look up.");
	else
		reason = xasprintf("No answer in the knowledge base for: "
		    "\xe2\x80\x9c%.*s\xe2\x80\x9d",
		    (int)utf8_cut(question, REASON_QUOTE), question);
	cJSON_AddStringToObject(args, "reason", reason);
	text = cJSON_PrintUnformatted(args);
	if (text == NULL)
		abort();
	cJSON_AddStringToObject(call, "id", BUILTIN_HANDOFF_CALL_ID);
	cJSON_AddStringToObject(call, "type", "function");
	cJSON_AddStringToObject(fn, "name", wire);
	cJSON_AddStringToObject(fn, "arguments", text);
	cJSON_AddItemToArray(calls, call);
	cJSON_Delete(args);
	free(reason);
	free(text);
	return calls;
}

bool
builtin_chat(struct db_pool *pool, int64_t org_id, int64_t agent_id,
    const cJSON *messages, cJSON **response, char *err, size_t errlen)
{
	struct knowledge_hit	*hits = NULL;
	struct arena		*a = NULL;
	struct db		*db = NULL;
	const cJSON		*last;
	const cJSON		*role, *call_id;
	char			*question = NULL;
	char			*answer = NULL;
	int			 n = 0;
	bool			 ok = false;

	*response = NULL;
	if (agent_id == 0) {
		*response = completion(BUILTIN_NO_AGENT, NULL);
		return true;
	}

	/* Round 2: our handoff call has been answered. */
	last = cJSON_GetArrayItem(messages, cJSON_GetArraySize(messages) - 1);
	role = cJSON_GetObjectItemCaseSensitive(last, "role");
	call_id = cJSON_GetObjectItemCaseSensitive(last, "tool_call_id");
	if (cJSON_IsString(role) && str_eq(role->valuestring, "tool") &&
	    cJSON_IsString(call_id) &&
	    str_eq(call_id->valuestring, BUILTIN_HANDOFF_CALL_ID)) {
		*response = completion(handoff_result_ok(last) ?
		    BUILTIN_HANDED_OFF : BUILTIN_HANDOFF_FAILED, NULL);
		return true;
	}

	question = last_user_text(messages);
	question[utf8_cut(question, QUESTION_MAX)] = '\0';
	if (*question != '\0') {
		a = arena_new();
		if ((db = db_acquire(pool)) == NULL ||
		    knowledge_search(db, a, org_id, agent_id, question, 1,
		    &hits, &n) != DB_OK) {
			str_copy(err, "The knowledge base is unavailable right "
			    "now.", errlen);
			goto out;
		}
		db_release(db);
		db = NULL;
	}
	if (n > 0 && hits[0].rank >= BUILTIN_MIN_RANK) {
		answer = xasprintf("Here is what I found about "
		    "\xe2\x80\x9c%s\xe2\x80\x9d:\n\n%s", hits[0].title,
		    hits[0].passage);
		*response = completion(answer, NULL);
	} else
		*response = completion(NULL, handoff_call(question));
	ok = true;
out:
	if (db != NULL)
		db_release(db);
	arena_free(a);
	free(question);
	free(answer);
	return ok;
}
