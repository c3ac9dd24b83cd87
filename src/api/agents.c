/*
 * agents (API): /api/v1/agents, their enabled plugins, and /api/v1/plugins.
 *
 * An agent is
 *   {id, name, slug, systemPrompt, modelId (null: the org default), mode,
 *    historyLength, temperature (null), maxTokens (null),
 *    resetCommand (null: off), allowList [], escalationKeywords [],
 *    enabledPluginIds [], texts {}, requireMention,
 *    transcriptionModel (null: voice notes are not transcribed),
 *    typingIndicator, readReceipts, workingReaction, createdAt,
 *    updatedAt}.
 * allowList entries are phone numbers ("+E164"), WhatsApp user ids
 * ("US.…") or usernames ("@name").
 * texts holds the agent's overrides of the chat texts (chat/texts.h),
 * {"welcome": "…"}; a text not in it uses the default. Sending texts
 * replaces the whole set ({} or null: all defaults); a value that is not
 * a string is 400, an unknown name or a bad value 422 ("texts" or
 * "texts.<name>").
 * POST creates (201), PATCH changes only the members sent (the stored
 * agent is loaded, the members overlaid, the whole validated and saved),
 * DELETE answers 204. A member of the wrong JSON type is 400 with a
 * sentence naming it; a value the model rejects is 422 with "fields"
 * named as in the JSON (camelCase). Another organisation's id is 404.
 */
#include "api/api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/agent.h"
#include "model/mcp_server.h"
#include "http/audit.h"
#include "model/fielderr.h"
#include "plugins/mcp.h"
#include "plugins/plugin.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/str.h"

#define PLUGIN_IDS_MAX	64

/* Model field names → JSON member names. */
static const struct {
	const char	*field;
	const char	*member;
} members[] = {
	{ "name", "name" },
	{ "slug", "slug" },
	{ "system_prompt", "systemPrompt" },
	{ "model_id", "modelId" },
	{ "mode", "mode" },
	{ "history_length", "historyLength" },
	{ "temperature", "temperature" },
	{ "max_tokens", "maxTokens" },
	{ "reset_command", "resetCommand" },
	{ "allow_list", "allowList" },
	{ "escalation_keywords", "escalationKeywords" },
	{ "require_mention", "requireMention" },
	{ "transcription_model", "transcriptionModel" },
	{ "session_timeout_minutes", "sessionTimeoutMinutes" },
	{ "debounce_ms", "debounceMs" },
	{ "busy_mode", "busyMode" },
	{ "busy_ack", "busyAck" },
	{ "outage_window_s", "outageWindowSeconds" },
	{ "outage_notice_s", "outageNoticeSeconds" },
	{ "doc_context_chars", "documentContextChars" },
};

static cJSON	*agent_json(const struct agent *);
static bool	 merge_plugins(struct req *, struct agent *);
static int	 read_mcp_tools(struct req *, int64_t);
static cJSON	*mcp_tools_json(struct req *, int64_t);
static cJSON	*strings_json(char *const *, int);
static bool	 id_param(struct req *, int64_t *, int *);
static int	 bad_type(struct req *, const char *, const char *);
static int	 get_int(struct req *, const char *, bool, int64_t *, bool *);
static int	 get_strings(struct req *, const char *, const char ***, int *);
static int	 get_texts(struct req *, struct agent_input *);
static int	 turn_settings(struct req *, struct agent_input *);
static int	 overlay(struct req *, struct agent_input *);
static void	 input_from_agent(const struct agent *, struct agent_input *);
static int	 invalid(struct req *, const struct field_errors *);
static int	 read_plugin_ids(struct req *, const char ***, int *);
static int	 send_agent(struct req *, int, int64_t);
static int	 send_plugins(struct req *, int64_t);

static cJSON *
strings_json(char *const *v, int n)
{
	cJSON	*arr = cJSON_CreateArray();

	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]));
	return arr;
}

static cJSON *
agent_json(const struct agent *g)
{
	cJSON	*o = cJSON_CreateObject();
	cJSON	*texts;

	cJSON_AddNumberToObject(o, "id", (double)g->id);
	cJSON_AddStringToObject(o, "name", g->name);
	cJSON_AddStringToObject(o, "slug", g->slug);
	cJSON_AddStringToObject(o, "systemPrompt", g->system_prompt);
	if (g->model_id != 0)
		cJSON_AddNumberToObject(o, "modelId", (double)g->model_id);
	else
		cJSON_AddNullToObject(o, "modelId");
	cJSON_AddStringToObject(o, "mode", g->mode);
	cJSON_AddNumberToObject(o, "historyLength", g->history_length);
	if (g->has_temperature)
		cJSON_AddNumberToObject(o, "temperature", g->temperature);
	else
		cJSON_AddNullToObject(o, "temperature");
	if (g->max_tokens > 0)
		cJSON_AddNumberToObject(o, "maxTokens", g->max_tokens);
	else
		cJSON_AddNullToObject(o, "maxTokens");
	if (g->reset_command != NULL)
		cJSON_AddStringToObject(o, "resetCommand", g->reset_command);
	else
		cJSON_AddNullToObject(o, "resetCommand");
	cJSON_AddItemToObject(o, "allowList",
	    strings_json(g->allow_list, g->n_allow));
	cJSON_AddItemToObject(o, "escalationKeywords",
	    strings_json(g->escalation_keywords, g->n_escalation));
	cJSON_AddItemToObject(o, "enabledPluginIds",
	    strings_json(g->plugins, g->n_plugins));
	texts = g->texts != NULL ? json_parse_str(g->texts, NULL) : NULL;
	if (!cJSON_IsObject(texts)) {
		cJSON_Delete(texts);
		texts = cJSON_CreateObject();
	}
	cJSON_AddItemToObject(o, "texts", texts);
	cJSON_AddBoolToObject(o, "requireMention", g->require_mention);
	cJSON_AddBoolToObject(o, "typingIndicator", g->typing_indicator);
	cJSON_AddBoolToObject(o, "readReceipts", g->read_receipts);
	cJSON_AddBoolToObject(o, "workingReaction", g->working_reaction);
	if (g->transcription_model != NULL && g->transcription_model[0] != '\0')
		cJSON_AddStringToObject(o, "transcriptionModel",
		    g->transcription_model);
	else
		cJSON_AddNullToObject(o, "transcriptionModel");
	cJSON_AddNumberToObject(o, "sessionTimeoutMinutes",
	    g->session_timeout_minutes);
	cJSON_AddNumberToObject(o, "debounceMs", g->debounce_ms);
	cJSON_AddStringToObject(o, "busyMode", str_eq(g->busy_mode,
	    AGENT_BUSY_FOLLOW_UP) ? "followUp" : "restart");
	cJSON_AddBoolToObject(o, "busyAck", g->busy_ack);
	cJSON_AddNumberToObject(o, "outageWindowSeconds", g->outage_window_s);
	cJSON_AddNumberToObject(o, "outageNoticeSeconds", g->outage_notice_s);
	cJSON_AddNumberToObject(o, "documentContextChars",
	    g->doc_context_chars);
	api_add_time(o, "createdAt", g->created_at);
	api_add_time(o, "updatedAt", g->updated_at);
	return o;
}

/* {id} as an int64 and a connection; false with the response sent. */
static bool
id_param(struct req *r, int64_t *id, int *status)
{
	if (!req_param_id(r, "id", id)) {
		*status = resp_not_found(r);
		return false;
	}
	if (req_db(r) == NULL) {
		*status = resp_unavailable(r);
		return false;
	}
	return true;
}

static int
bad_type(struct req *r, const char *member, const char *want)
{
	return resp_bad_request(r, arena_printf(r->arena, "%s must be %s.",
	    member, want));
}

/*
 * Member `name` as a whole number into *out (*present set when it was
 * sent and not null). null is allowed when nullable (*present false).
 * Returns 0 or the status of the 400 sent.
 */
static int
get_int(struct req *r, const char *name, bool nullable, int64_t *out,
    bool *present)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(r->json, name);

	*present = false;
	if (v == NULL || (nullable && cJSON_IsNull(v)))
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
	    fabs(v->valuedouble) > 1e15)
		return bad_type(r, name, nullable ? "a whole number or null" :
		    "a whole number");
	*out = (int64_t)v->valuedouble;
	*present = true;
	return 0;
}

/* Member `name` as an array of strings (arena); 0 or the 400's status. */
static int
get_strings(struct req *r, const char *name, const char ***out, int *n)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(r->json, name);
	const cJSON	*e;
	int		 i = 0;

	*n = cJSON_GetArraySize(v);
	if (!cJSON_IsArray(v))
		return bad_type(r, name, "an array of strings");
	*out = arena_alloc(r->arena, sizeof(char *) * ((size_t)*n + 1));
	cJSON_ArrayForEach(e, v) {
		if (!cJSON_IsString(e))
			return bad_type(r, name, "an array of strings");
		(*out)[i++] = e->valuestring;
	}
	return 0;
}

static void
input_from_agent(const struct agent *g, struct agent_input *in)
{
	agent_input_defaults(in);
	in->name = g->name;
	in->slug = g->slug;
	in->system_prompt = g->system_prompt;
	in->model_id = g->model_id;
	in->mode = g->mode;
	in->history_length = g->history_length;
	in->has_temperature = g->has_temperature;
	in->temperature = g->temperature;
	in->max_tokens = g->max_tokens;
	in->reset_command = g->reset_command;
	in->allow_list = (const char *const *)g->allow_list;
	in->n_allow = g->n_allow;
	in->escalation_keywords = (const char *const *)g->escalation_keywords;
	in->n_escalation = g->n_escalation;
	in->texts_json = g->texts;
	in->require_mention = g->require_mention;
	in->transcription_model = g->transcription_model;
	in->session_timeout_minutes = g->session_timeout_minutes;
	in->debounce_ms = g->debounce_ms;
	in->busy_mode = g->busy_mode;
	in->busy_ack = g->busy_ack;
	in->outage_window_s = g->outage_window_s;
	in->outage_notice_s = g->outage_notice_s;
	in->typing_indicator = g->typing_indicator;
	in->read_receipts = g->read_receipts;
	in->working_reaction = g->working_reaction;
	in->doc_context_chars = g->doc_context_chars;
}

/*
 * "texts": an object of strings (or null: no overrides) into
 * in->texts_json (arena). Names and lengths are the model's to judge
 * (422); returns 0 or the status of the 400 sent for a wrong type.
 */
static int
get_texts(struct req *r, struct agent_input *in)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(r->json, "texts");
	const cJSON	*e;
	char		*json;

	if (v == NULL)
		return 0;
	if (cJSON_IsNull(v)) {
		in->texts_json = "{}";
		return 0;
	}
	if (!cJSON_IsObject(v))
		return bad_type(r, "texts", "an object of strings or null");
	cJSON_ArrayForEach(e, v)
		if (!cJSON_IsString(e))
			return bad_type(r, "Each value in texts", "a string");
	if ((json = cJSON_PrintUnformatted(v)) == NULL)
		abort();
	in->texts_json = arena_strdup(r->arena, json);
	cJSON_free(json);
	return 0;
}

/*
 * Overlays the members present in r->json on in. Returns 0, or the status
 * of the 400 sent for a member of the wrong type. Numbers too large for
 * an int become -1 so that the model rejects them with its sentence.
 */
static int
overlay(struct req *r, struct agent_input *in)
{
	static const char *const	 strs[] = { "name", "systemPrompt",
					    "mode" };
	const char			**sp[] = { &in->name,
					    &in->system_prompt, &in->mode };
	const cJSON			*v;
	const char			**list;
	int64_t				 i64;
	bool				 present;
	int				 st, n;

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		v = cJSON_GetObjectItemCaseSensitive(r->json, strs[i]);
		if (v == NULL)
			continue;
		if (!cJSON_IsString(v))
			return bad_type(r, strs[i], "a string");
		*sp[i] = v->valuestring;
	}
	v = cJSON_GetObjectItemCaseSensitive(r->json, "slug");
	if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsString(v))
		return bad_type(r, "slug", "a string or null");
	if (v != NULL)
		in->slug = cJSON_IsString(v) ? v->valuestring : NULL;
	v = cJSON_GetObjectItemCaseSensitive(r->json, "resetCommand");
	if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsString(v))
		return bad_type(r, "resetCommand", "a string or null");
	if (v != NULL)
		in->reset_command = cJSON_IsString(v) ? v->valuestring : NULL;

	if ((st = get_int(r, "modelId", true, &i64, &present)) != 0)
		return st;
	if (present)
		in->model_id = i64 <= 0 ? -1 : i64;
	else if (api_has(r, "modelId"))
		in->model_id = 0;
	if ((st = get_int(r, "historyLength", false, &i64, &present)) != 0)
		return st;
	if (present)
		in->history_length = i64 < 0 || i64 > 1000000 ? -1 : (int)i64;
	if ((st = get_int(r, "maxTokens", true, &i64, &present)) != 0)
		return st;
	if (present)
		in->max_tokens = i64 < 0 || i64 > 1000000 ? -1 : (int)i64;
	else if (api_has(r, "maxTokens"))
		in->max_tokens = 0;
	v = cJSON_GetObjectItemCaseSensitive(r->json, "temperature");
	if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsNumber(v))
		return bad_type(r, "temperature", "a number or null");
	if (v != NULL) {
		in->has_temperature = cJSON_IsNumber(v);
		in->temperature = cJSON_IsNumber(v) ? v->valuedouble : 0.0;
	}

	if (api_has(r, "allowList")) {
		if ((st = get_strings(r, "allowList", &list, &n)) != 0)
			return st;
		in->allow_list = list;
		in->n_allow = n;
	}
	if (api_has(r, "escalationKeywords")) {
		if ((st = get_strings(r, "escalationKeywords", &list, &n)) != 0)
			return st;
		in->escalation_keywords = list;
		in->n_escalation = n;
	}
	v = cJSON_GetObjectItemCaseSensitive(r->json, "requireMention");
	if (v != NULL && !cJSON_IsBool(v))
		return bad_type(r, "requireMention", "true or false");
	if (v != NULL)
		in->require_mention = cJSON_IsTrue(v);
	{
		static const char *const flags[] = { "typingIndicator",
		    "readReceipts", "workingReaction" };
		bool *const dst[] = { &in->typing_indicator,
		    &in->read_receipts, &in->working_reaction };

		for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
			v = cJSON_GetObjectItemCaseSensitive(r->json,
			    flags[i]);
			if (v != NULL && !cJSON_IsBool(v))
				return bad_type(r, flags[i], "true or false");
			if (v != NULL)
				*dst[i] = cJSON_IsTrue(v);
		}
	}
	v = cJSON_GetObjectItemCaseSensitive(r->json, "transcriptionModel");
	if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsString(v))
		return bad_type(r, "transcriptionModel", "a string or null");
	if (v != NULL)
		in->transcription_model = cJSON_IsString(v) ?
		    v->valuestring : "";
	if ((st = turn_settings(r, in)) != 0)
		return st;
	return get_texts(r, in);
}

/*
 * The turn settings: integers (out of range becomes -1, which the model
 * refuses with its sentence), busyMode "restart" | "followUp", busyAck a
 * boolean. 0 or the status of the 400 sent.
 */
static int
turn_settings(struct req *r, struct agent_input *in)
{
	static const char *const	 ints[] = { "sessionTimeoutMinutes",
					    "debounceMs", "outageWindowSeconds",
					    "outageNoticeSeconds",
					    "documentContextChars" };
	int				*ip[] = { &in->session_timeout_minutes,
					    &in->debounce_ms,
					    &in->outage_window_s,
					    &in->outage_notice_s,
					    &in->doc_context_chars };
	const cJSON			*v;
	int64_t				 i64;
	bool				 present;
	int				 st;

	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		if ((st = get_int(r, ints[i], false, &i64, &present)) != 0)
			return st;
		if (present)
			*ip[i] = i64 < 0 || i64 > 100000000 ? -1 : (int)i64;
	}
	v = cJSON_GetObjectItemCaseSensitive(r->json, "busyMode");
	if (v != NULL && !cJSON_IsString(v))
		return bad_type(r, "busyMode", "\"restart\" or \"followUp\"");
	if (v != NULL)
		in->busy_mode = str_eq(v->valuestring, "followUp") ?
		    AGENT_BUSY_FOLLOW_UP : str_eq(v->valuestring, "restart") ?
		    AGENT_BUSY_RESTART : v->valuestring;
	v = cJSON_GetObjectItemCaseSensitive(r->json, "busyAck");
	if (v != NULL && !cJSON_IsBool(v))
		return bad_type(r, "busyAck", "true or false");
	if (v != NULL)
		in->busy_ack = cJSON_IsTrue(v);
	return 0;
}

/* 422 with the model's field names turned into the JSON's. */
static int
invalid(struct req *r, const struct field_errors *errs)
{
	struct field_errors	 out = { 0 };

	for (int i = 0; i < errs->n; i++) {
		const char	*m = errs->field[i];

		for (size_t j = 0; j < sizeof(members) / sizeof(members[0]);
		    j++)
			if (str_eq(members[j].field, m))
				m = members[j].member;
		field_error_add(&out, m, errs->message[i]);
	}
	return api_invalid(r, &out);
}

/*
 * "enabledPluginIds" as an array of strings that are known and available
 * plugins or MCP servers ("mcp:<id>", checked against the organisation
 * on save). Returns 0, or the status of the 400/422 sent (naming the ids
 * that are not). *n is -1 when the member is absent.
 */
static int
read_plugin_ids(struct req *r, const char ***ids, int *n)
{
	struct field_errors	 errs = { 0 };
	struct buf		 bad;
	const struct plugin	*p;
	int			 st, n_bad = 0;

	*n = -1;
	if (!api_has(r, "enabledPluginIds"))
		return 0;
	if ((st = get_strings(r, "enabledPluginIds", ids, n)) != 0)
		return st;
	if (*n > PLUGIN_IDS_MAX)
		return resp_bad_request(r, "enabledPluginIds has too many "
		    "entries.");
	buf_init(&bad, 1024);
	for (int i = 0; i < *n; i++) {
		if (mcp_plugins_valid((*ids)[i]))
			continue;
		p = plugin_find((*ids)[i]);
		buf_printf(&bad, "%s\"%.64s\" (%s)", n_bad++ > 0 ? ", " : "",
		    (*ids)[i], p == NULL ? "unknown" : "not available");
	}
	if (n_bad > 0) {
		field_error_add(&errs, "enabledPluginIds", arena_printf(
		    r->arena, "These plugins cannot be enabled: %s.",
		    buf_str(&bad)));
		buf_cleanup(&bad);
		return api_invalid(r, &errs);
	}
	buf_cleanup(&bad);
	return 0;
}

/* Sends the stored agent with status (200, 201). */
static int
send_agent(struct req *r, int status, int64_t id)
{
	struct agent	 g;
	cJSON		*o;
	enum db_status	 st;

	st = agent_get(r->db, r->arena, r->org_id, id, &g);
	if (st == DB_NOT_FOUND)
		return resp_not_found(r);
	if (st != DB_OK || !merge_plugins(r, &g))
		return resp_unavailable(r);
	o = agent_json(&g);
	st = resp_json(r, status, o);
	cJSON_Delete(o);
	return st;
}

int
api_agents_list(struct req *r)
{
	struct agent	*v;
	cJSON		*root, *arr;
	int		 n, st;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if (agent_list(r->db, r->arena, r->org_id, &v, &n) != DB_OK)
		return resp_unavailable(r);
	/* {"data": [...]} like every other list, so fields can be added. */
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "data");
	for (int i = 0; i < n; i++) {
		if (!merge_plugins(r, &v[i])) {
			cJSON_Delete(root);
			return resp_unavailable(r);
		}
		cJSON_AddItemToArray(arr, agent_json(&v[i]));
	}
	st = resp_json(r, 200, root);
	cJSON_Delete(root);
	return st;
}

int
api_agents_get(struct req *r)
{
	int64_t	 id;
	int	 status;

	if (!id_param(r, &id, &status))
		return status;
	return send_agent(r, 200, id);
}

int
api_agents_create(struct req *r)
{
	struct agent_input	 in;
	struct field_errors	 errs = { 0 };
	const char		**ids = NULL;
	int64_t			 id = 0;
	int			 st, n_ids;
	enum db_status		 dst;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	agent_input_defaults(&in);
	if ((st = overlay(r, &in)) != 0)
		return st;
	if ((st = read_plugin_ids(r, &ids, &n_ids)) != 0)
		return st;
	/* The agent and its plugins are saved together or not at all. */
	if (db_tx_begin(r->db) != DB_OK)
		return resp_unavailable(r);
	dst = agent_create(r->db, r->org_id, &in, &errs, &id);
	if (dst == DB_OK && n_ids > 0)
		dst = mcp_plugins_set(r->db, r->org_id, id, ids, n_ids);
	if (dst == DB_OK)
		dst = db_tx_commit(r->db);
	db_tx_rollback(r->db);
	if (dst == DB_INVALID)
		return invalid(r, &errs);
	if (dst == DB_CONFLICT)
		return resp_error(r, 409, "conflict", "Another agent already "
		    "uses this slug.");
	if (dst != DB_OK)
		return resp_unavailable(r);
	audit(r, "agent.created", "agent", id, in.name);
	if (n_ids > 0)
		audit(r, "plugin.toggled", "agent", id, audit_toggles(r->arena,
		    NULL, 0, ids, n_ids));
	resp_header(r, "Location", arena_printf(r->arena,
	    "/api/v1/agents/%lld", (long long)id));
	return send_agent(r, 201, id);
}

int
api_agents_update(struct req *r)
{
	struct agent		 g;
	struct agent_input	 in;
	struct field_errors	 errs = { 0 };
	const char		**ids = NULL;
	int64_t			 id;
	int			 st, n_ids;
	enum db_status		 dst;

	if (!id_param(r, &id, &st))
		return st;
	dst = agent_get(r->db, r->arena, r->org_id, id, &g);
	if (dst == DB_NOT_FOUND)
		return resp_not_found(r);
	if (dst != DB_OK || !merge_plugins(r, &g))
		return resp_unavailable(r);
	input_from_agent(&g, &in);
	if ((st = overlay(r, &in)) != 0)
		return st;
	if ((st = read_plugin_ids(r, &ids, &n_ids)) != 0)
		return st;
	if (db_tx_begin(r->db) != DB_OK)
		return resp_unavailable(r);
	dst = agent_update(r->db, r->org_id, id, &in, &errs);
	if (dst == DB_OK && n_ids >= 0)
		dst = mcp_plugins_set(r->db, r->org_id, id, ids, n_ids);
	if (dst == DB_OK)
		dst = db_tx_commit(r->db);
	db_tx_rollback(r->db);
	if (dst == DB_NOT_FOUND)
		return resp_not_found(r);
	if (dst == DB_INVALID)
		return invalid(r, &errs);
	if (dst == DB_CONFLICT)
		return resp_error(r, 409, "conflict", "Another agent already "
		    "uses this slug.");
	if (dst != DB_OK)
		return resp_unavailable(r);
	audit(r, "agent.updated", "agent", id, in.name);
	if (n_ids >= 0 && audit_toggles(r->arena, g.plugins, g.n_plugins, ids,
	    n_ids) != NULL)
		audit(r, "plugin.toggled", "agent", id, audit_toggles(r->arena,
		    g.plugins, g.n_plugins, ids, n_ids));
	return send_agent(r, 200, id);
}

int
api_agents_delete(struct req *r)
{
	int64_t		 id;
	int		 status;
	enum db_status	 st;

	if (!id_param(r, &id, &status))
		return status;
	st = agent_delete(r->db, r->org_id, id);
	switch (st) {
	case DB_OK:
		audit(r, "agent.deleted", "agent", id, NULL);
		return resp_send(r, 204, NULL, "", 0);
	case DB_NOT_FOUND:
		return resp_not_found(r);
	case DB_INVALID:
		return resp_error(r, 409, "conflict", "This agent is still in "
		    "use, so it cannot be deleted yet.");
	default:
		return resp_unavailable(r);
	}
}

static int
send_plugins(struct req *r, int64_t id)
{
	struct agent	 g;
	cJSON		*o;
	enum db_status	 st;

	st = agent_get(r->db, r->arena, r->org_id, id, &g);
	if (st == DB_NOT_FOUND)
		return resp_not_found(r);
	if (st != DB_OK || !merge_plugins(r, &g))
		return resp_unavailable(r);
	o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "enabledPluginIds",
	    strings_json(g.plugins, g.n_plugins));
	cJSON_AddItemToObject(o, "mcpTools", mcp_tools_json(r, id));
	st = resp_json(r, 200, o);
	cJSON_Delete(o);
	return st;
}

int
api_agents_plugins_get(struct req *r)
{
	int64_t	 id;
	int	 status;

	if (!id_param(r, &id, &status))
		return status;
	return send_plugins(r, id);
}

int
api_agents_plugins_put(struct req *r)
{
	struct agent	 g;
	const char	**ids = NULL;
	int64_t		 id;
	int		 st, n;
	enum db_status	 dst;

	if (!id_param(r, &id, &st))
		return st;
	dst = agent_get(r->db, r->arena, r->org_id, id, &g);
	if (dst == DB_NOT_FOUND)
		return resp_not_found(r);
	if (dst != DB_OK || !merge_plugins(r, &g))
		return resp_unavailable(r);
	if ((st = read_plugin_ids(r, &ids, &n)) != 0)
		return st;
	if (n < 0)
		return resp_bad_request(r, "Send {\"enabledPluginIds\": "
		    "[…]} (an array of plugin ids).");
	if (db_tx_begin(r->db) != DB_OK)
		return resp_unavailable(r);
	dst = mcp_plugins_set(r->db, r->org_id, id, ids, n);
	if (dst == DB_OK && (st = read_mcp_tools(r, id)) != 0) {
		db_tx_rollback(r->db);
		return st;
	}
	if (dst == DB_OK)
		dst = db_tx_commit(r->db);
	db_tx_rollback(r->db);
	if (dst == DB_NOT_FOUND)
		return resp_not_found(r);
	if (dst == DB_INVALID) {
		struct field_errors	 errs = { 0 };

		field_error_add(&errs, "enabledPluginIds",
		    "These plugins cannot be enabled.");
		return api_invalid(r, &errs);
	}
	if (dst != DB_OK)
		return resp_unavailable(r);
	if (audit_toggles(r->arena, g.plugins, g.n_plugins, ids, n) != NULL)
		audit(r, "plugin.toggled", "agent", id, audit_toggles(r->arena,
		    g.plugins, g.n_plugins, ids, n));
	return send_plugins(r, id);
}

/* The agent's first-party plugins and MCP servers as one list. */
static bool
merge_plugins(struct req *r, struct agent *g)
{
	char	**ids;
	int	 n;

	if (mcp_plugins_get(r->db, r->arena, r->org_id, g->id, g->plugins,
	    g->n_plugins, &ids, &n) != DB_OK)
		return false;
	g->plugins = ids;
	g->n_plugins = n;
	return true;
}

/* {"mcp:3": {"filter": "only", "tools": ["a"]}, …} for the agent. */
static cJSON *
mcp_tools_json(struct req *r, int64_t agent_id)
{
	struct mcp_agent_link	*links;
	cJSON			*o = cJSON_CreateObject(), *e;
	int			 n;

	if (mcp_server_agent_links(r->db, r->arena, r->org_id, agent_id,
	    &links, &n) != DB_OK)
		n = 0;
	for (int i = 0; i < n; i++) {
		e = cJSON_AddObjectToObject(o, arena_printf(r->arena,
		    MCP_PLUGIN_PREFIX "%lld", (long long)links[i].server_id));
		cJSON_AddStringToObject(e, "filter",
		    mcp_filter_str(links[i].filter));
		cJSON_AddItemToObject(e, "tools", strings_json(links[i].tools,
		    links[i].n_tools));
	}
	return o;
}

/*
 * "mcpTools" (optional): {"mcp:<id>": {"filter": "all"|"only"|"except",
 * "tools": [names]}} for servers the request also enables. 0, or the
 * status of the 400/422 sent. In the caller's transaction.
 */
static int
read_mcp_tools(struct req *r, int64_t agent_id)
{
	struct field_errors	 errs = { 0 };
	const cJSON		*m = cJSON_GetObjectItemCaseSensitive(r->json,
				    "mcpTools");
	const cJSON		*e;

	if (m == NULL || cJSON_IsNull(m))
		return 0;
	if (!cJSON_IsObject(m))
		return bad_type(r, "mcpTools", "an object");
	cJSON_ArrayForEach(e, m) {
		const cJSON	*f = cJSON_GetObjectItemCaseSensitive(e,
				    "filter");
		const cJSON	*tl = cJSON_GetObjectItemCaseSensitive(e,
				    "tools");
		const cJSON	*t;
		const char	**tools;
		enum mcp_filter	 filter;
		int64_t		 sid;
		int		 n = 0;
		enum db_status	 st;

		if (!mcp_plugin_id_parse(e->string, &sid) || !cJSON_IsObject(e))
			return resp_bad_request(r, "mcpTools maps \"mcp:<id>\" "
			    "to {\"filter\", \"tools\"}.");
		if (!cJSON_IsString(f) || !mcp_filter_parse(f->valuestring,
		    &filter))
			return bad_type(r, "mcpTools.filter", "\"all\", "
			    "\"only\" or \"except\"");
		if (tl != NULL && (!cJSON_IsArray(tl) ||
		    cJSON_GetArraySize(tl) > MCP_FILTER_TOOLS_MAX))
			return bad_type(r, "mcpTools.tools", "an array of at "
			    "most 200 tool names");
		tools = arena_alloc(r->arena, sizeof(char *) *
		    ((size_t)cJSON_GetArraySize(tl) + 1));
		cJSON_ArrayForEach(t, tl) {
			if (!cJSON_IsString(t))
				return bad_type(r, "mcpTools.tools",
				    "an array of strings");
			tools[n++] = t->valuestring;
		}
		st = mcp_server_agent_enable(r->db, r->org_id, agent_id, sid,
		    filter, tools, n);
		if (st == DB_INVALID || st == DB_NOT_FOUND) {
			field_error_add(&errs, "mcpTools", arena_printf(
			    r->arena, "%s cannot be set: enable a server of "
			    "this organisation, with tool names of 1 to 128 "
			    "characters.", e->string));
			return api_invalid(r, &errs);
		}
		if (st != DB_OK)
			return resp_unavailable(r);
	}
	return 0;
}

int
api_plugins_list(struct req *r)
{
	const struct plugin *const	*all;
	cJSON				*root, *arr, *o, *schema;
	int				 n, st;

	all = plugin_all(&n);
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "data");
	for (int i = 0; i < n; i++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", all[i]->id);
		cJSON_AddStringToObject(o, "title", all[i]->title);
		cJSON_AddStringToObject(o, "description",
		    all[i]->description);
		cJSON_AddBoolToObject(o, "available",
		    plugin_available(all[i]));
		schema = all[i]->params_schema != NULL ?
		    json_parse_str(all[i]->params_schema, NULL) : NULL;
		if (schema == NULL)
			schema = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "parametersSchema", schema);
		cJSON_AddItemToArray(arr, o);
	}
	st = resp_json(r, 200, root);
	cJSON_Delete(root);
	return st;
}
