/*
 * openai: the OpenAI-compatible gateway (PROTOCOLS.md §5): POST
 * /v1/chat/completions and GET /v1/models, for any client or SDK that
 * speaks OpenAI's chat completions API with a Parley API token.
 *
 * `model` names either one of the organisation's models (org_models.name,
 * a bare call with no system prompt and no tools) or an agent as
 * "agent:<slug>" (its prompt, model, limits and enabled plugins). Tool
 * calls are run here by the gateway's tool loop, so the client sees only
 * the final answer; tools a client sends are not offered to the model.
 *
 * Streaming (DESIGN): the response headers are sent lazily, with the first
 * text fragment the gateway delivers (or when it finishes). A request that
 * fails before any text therefore gets a plain HTTP error with the right
 * status, as OpenAI's own API does; a failure after streaming began can
 * only be told in-band, as a chunk holding an "error" object followed by
 * [DONE]. Every chunk carries the same id and created.
 *
 * The request's database connection is handed back before the model is
 * called: a completion may take a minute, and the gateway takes its own
 * connections when it needs them.
 */
#include "api/api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/token.h"
#include "db/db.h"
#include "http/req.h"
#include "http/resp.h"
#include "llm/gateway.h"
#include "model/agent.h"
#include "model/orgmodel.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/context.h"
#include "util/str.h"
#include "util/time.h"
#include "util/trace.h"
#include "util/xmalloc.h"

#define AGENT_PREFIX		"agent:"
#define AGENT_PREFIX_LEN	6
#define MODEL_NAME_MAX		256
#define MESSAGES_MAX		2048
#define MAX_TOKENS_MAX		1000000

/* A validated chat.completions request; pointers into r->json. */
struct chat_call {
	const char	*model;
	const cJSON	*messages;
	bool		 has_temperature;
	double		 temperature;
	int		 max_tokens;	/* 0: the agent's or the provider's */
	bool		 stream;
	bool		 include_usage;
};

/* One streamed answer: what every chunk repeats, and where it stands. */
struct sse {
	struct req	*r;
	char		 id[48];
	int64_t		 created;
	const char	*model;
	bool		 begun;		/* headers and the role chunk sent */
	bool		 gone;		/* the client closed the connection */
	bool		 any_text;	/* a content fragment was sent */
};

static int	oai_error(struct req *, int, const char *, const char *,
		    const char *);
static int	parse_call(struct req *, struct chat_call *);
static bool	check_message(const cJSON *, int, struct buf *, struct buf *);
static bool	check_content(const cJSON *, bool);
static bool	opt_number(const cJSON *, const char *, double *, bool *);
static int	gw_status(enum gateway_err, const char **);
static void	new_completion_id(char out[48]);
static cJSON	*chunk_new(const struct sse *, cJSON *, const char *);
static void	sse_send(struct sse *, cJSON *);
static void	sse_send_raw(struct sse *, const char *);
static void	sse_begin(struct sse *);
static void	sse_delta(void *, const char *, size_t);
static int64_t	unix_time(const char *);
static int	chat_respond(struct req *, const struct chat_call *,
		    const struct gateway_result *, const char *, int64_t);
static int	chat_stream_finish(struct sse *, const struct chat_call *,
		    const struct gateway_result *);

/*
 * The OpenAI error envelope with a param (resp_error always sends null):
 * {"error":{"message","type","param","code"}}.
 */
static int
oai_error(struct req *r, int status, const char *code, const char *message,
    const char *param)
{
	cJSON	*root = cJSON_CreateObject();
	cJSON	*err = cJSON_AddObjectToObject(root, "error");
	int	 st;

	cJSON_AddStringToObject(err, "message", message);
	cJSON_AddStringToObject(err, "type", status == 401 ?
	    "authentication_error" : status == 429 ? "rate_limit_error" :
	    status >= 500 ? "api_error" : status == 404 ? "not_found_error" :
	    "invalid_request_error");
	if (param != NULL)
		cJSON_AddStringToObject(err, "param", param);
	else
		cJSON_AddNullToObject(err, "param");
	cJSON_AddStringToObject(err, "code", code);
	if (status == 503)
		resp_header(r, "Retry-After", "5");
	st = resp_json(r, status, root);
	cJSON_Delete(root);
	return st;
}

/* Content parts: each an object with a known "type" and its payload. */
static bool
check_content(const cJSON *c, bool text_only)
{
	const cJSON	*part;

	if (cJSON_IsString(c))
		return true;
	if (!cJSON_IsArray(c))
		return false;
	cJSON_ArrayForEach(part, c) {
		const cJSON	*type = cJSON_GetObjectItemCaseSensitive(part,
				    "type");
		const char	*t;

		if (!cJSON_IsObject(part) || !cJSON_IsString(type))
			return false;
		t = type->valuestring;
		if (str_eq(t, "text") || str_eq(t, "refusal")) {
			if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(
			    part, t)))
				return false;
			continue;
		}
		if (text_only)
			return false;
		if (str_eq(t, "image_url")) {
			const cJSON	*iu = cJSON_GetObjectItemCaseSensitive(
					    part, "image_url");

			if (!cJSON_IsObject(iu) || !cJSON_IsString(
			    cJSON_GetObjectItemCaseSensitive(iu, "url")))
				return false;
			continue;
		}
		if (!str_eq(t, "input_audio") && !str_eq(t, "file"))
			return false;
	}
	return true;
}

/*
 * One message of the conversation (§5.1's rules). On failure, msg gets a
 * sentence and param the offending field ("messages[2].content").
 */
static bool
check_message(const cJSON *m, int i, struct buf *msg, struct buf *param)
{
	const cJSON	*role, *content, *tool_calls;
	const char	*rl;

	if (!cJSON_IsObject(m)) {
		buf_printf(param, "messages[%d]", i);
		buf_printf(msg, "messages[%d] must be an object.", i);
		return false;
	}
	role = cJSON_GetObjectItemCaseSensitive(m, "role");
	content = cJSON_GetObjectItemCaseSensitive(m, "content");
	tool_calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
	rl = cJSON_IsString(role) ? role->valuestring : NULL;
	if (rl == NULL || !(str_eq(rl, "system") || str_eq(rl, "developer") ||
	    str_eq(rl, "user") || str_eq(rl, "assistant") ||
	    str_eq(rl, "tool") || str_eq(rl, "function"))) {
		buf_printf(param, "messages[%d].role", i);
		buf_printf(msg, "messages[%d].role must be one of system, "
		    "developer, user, assistant or tool.", i);
		return false;
	}
	if (str_eq(rl, "assistant") && (content == NULL ||
	    cJSON_IsNull(content)) && cJSON_IsArray(tool_calls))
		return true;
	if (str_eq(rl, "function") && cJSON_IsNull(content))
		return true;
	if (!check_content(content, str_eq(rl, "tool") ||
	    str_eq(rl, "assistant") || str_eq(rl, "system") ||
	    str_eq(rl, "developer"))) {
		buf_printf(param, "messages[%d].content", i);
		buf_printf(msg, "messages[%d].content must be a string or an "
		    "array of content parts%s.", i, str_eq(rl, "user") ? "" :
		    " (text only for this role)");
		return false;
	}
	if (str_eq(rl, "tool") && !cJSON_IsString(
	    cJSON_GetObjectItemCaseSensitive(m, "tool_call_id"))) {
		buf_printf(param, "messages[%d].tool_call_id", i);
		buf_printf(msg, "messages[%d].tool_call_id is required for a "
		    "tool message.", i);
		return false;
	}
	return true;
}

/*
 * A number member that may be absent or null (*present false); false when
 * it is something else.
 */
static bool
opt_number(const cJSON *obj, const char *name, double *out, bool *present)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(obj, name);

	*present = false;
	if (v == NULL || cJSON_IsNull(v))
		return true;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return false;
	*out = v->valuedouble;
	*present = true;
	return true;
}

/* Validates r->json into *c; sends the 400 itself (returns its status). */
static int
parse_call(struct req *r, struct chat_call *c)
{
	const cJSON	*j = r->json, *v, *m;
	struct buf	 msg, param;
	double		 d = 0;
	bool		 present;
	int		 i = 0, st;

	memset(c, 0, sizeof(*c));
	v = cJSON_GetObjectItemCaseSensitive(j, "model");
	if (!cJSON_IsString(v) || v->valuestring[0] == '\0' ||
	    strlen(v->valuestring) > MODEL_NAME_MAX)
		return oai_error(r, 400, "invalid_request", "model is required: "
		    "the name of one of your models, or agent:<slug>.",
		    "model");
	c->model = v->valuestring;

	c->messages = cJSON_GetObjectItemCaseSensitive(j, "messages");
	if (!cJSON_IsArray(c->messages) ||
	    cJSON_GetArraySize(c->messages) == 0)
		return oai_error(r, 400, "invalid_request", "messages is "
		    "required: a non-empty array of messages.", "messages");
	if (cJSON_GetArraySize(c->messages) > MESSAGES_MAX)
		return oai_error(r, 400, "invalid_request", "messages has too "
		    "many entries (at most 2048).", "messages");
	buf_init(&msg, 512);
	buf_init(&param, 128);
	cJSON_ArrayForEach(m, c->messages) {
		if (!check_message(m, i, &msg, &param)) {
			st = oai_error(r, 400, "invalid_request",
			    buf_str(&msg), buf_str(&param));
			buf_cleanup(&msg);
			buf_cleanup(&param);
			return st;
		}
		i++;
	}
	buf_cleanup(&msg);
	buf_cleanup(&param);

	if (!opt_number(j, "temperature", &d, &present) ||
	    (present && (d < 0 || d > 2)))
		return oai_error(r, 400, "invalid_request", "temperature must "
		    "be a number from 0 to 2.", "temperature");
	c->has_temperature = present;
	c->temperature = d;
	/* The newer name wins when a client sends both. */
	for (int k = 0; k < 2; k++) {
		const char	*name = k == 0 ? "max_tokens" :
				    "max_completion_tokens";

		if (!opt_number(j, name, &d, &present) || (present &&
		    (d < 1 || d > MAX_TOKENS_MAX || d != floor(d))))
			return oai_error(r, 400, "invalid_request", k == 0 ?
			    "max_tokens must be a positive integer." :
			    "max_completion_tokens must be a positive "
			    "integer.", name);
		if (present)
			c->max_tokens = (int)d;
	}
	if (!opt_number(j, "n", &d, &present) || (present && d != 1))
		return oai_error(r, 400, "invalid_request", "Only n = 1 is "
		    "supported.", "n");

	v = cJSON_GetObjectItemCaseSensitive(j, "stream");
	if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsBool(v))
		return oai_error(r, 400, "invalid_request", "stream must be "
		    "true or false.", "stream");
	c->stream = cJSON_IsTrue(v);
	v = cJSON_GetObjectItemCaseSensitive(j, "stream_options");
	if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsObject(v))
		return oai_error(r, 400, "invalid_request", "stream_options "
		    "must be an object.", "stream_options");
	c->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v,
	    "include_usage"));
	return 0;
}

/* HTTP status and error code for a gateway failure. */
static int
gw_status(enum gateway_err e, const char **code)
{
	switch (e) {
	case GW_NOT_FOUND:
		*code = "model_not_found";
		return 404;
	case GW_BAD_REQUEST:
		*code = "invalid_request";
		return 400;
	case GW_UPSTREAM:
		*code = "upstream_error";
		return 502;
	case GW_TIMEOUT:
		*code = "upstream_timeout";
		return 504;
	case GW_UNAVAILABLE:
	default:
		*code = "unavailable";
		return 503;
	}
}

static void
new_completion_id(char out[48])
{
	char	 hex[25];

	token_hex(hex, sizeof(hex));
	snprintf(out, 48, "chatcmpl-%s", hex);
}

/*
 * A chat.completion.chunk with one choice holding delta (taken; NULL: {})
 * and finish_reason (NULL: null).
 */
static cJSON *
chunk_new(const struct sse *s, cJSON *delta, const char *finish_reason)
{
	cJSON	*root = cJSON_CreateObject();
	cJSON	*choices, *ch;

	cJSON_AddStringToObject(root, "id", s->id);
	cJSON_AddStringToObject(root, "object", "chat.completion.chunk");
	cJSON_AddNumberToObject(root, "created", (double)s->created);
	cJSON_AddStringToObject(root, "model", s->model);
	choices = cJSON_AddArrayToObject(root, "choices");
	if (delta == NULL && finish_reason == NULL)
		return root;	/* the usage chunk: no choices */
	ch = cJSON_CreateObject();
	cJSON_AddNumberToObject(ch, "index", 0);
	cJSON_AddItemToObject(ch, "delta", delta != NULL ? delta :
	    cJSON_CreateObject());
	cJSON_AddNullToObject(ch, "logprobs");
	if (finish_reason != NULL)
		cJSON_AddStringToObject(ch, "finish_reason", finish_reason);
	else
		cJSON_AddNullToObject(ch, "finish_reason");
	cJSON_AddItemToArray(choices, ch);
	return root;
}

/* Sends "data: <json>\n\n" in one write; obj is taken. */
static void
sse_send(struct sse *s, cJSON *obj)
{
	char	*json = cJSON_PrintUnformatted(obj);

	cJSON_Delete(obj);
	sse_send_raw(s, json);
	cJSON_free(json);
}

static void
sse_send_raw(struct sse *s, const char *data)
{
	struct buf	 b;

	if (s->gone)
		return;
	buf_init(&b, 0);
	buf_puts(&b, "data: ");
	buf_puts(&b, data);
	buf_puts(&b, "\n\n");
	if (!resp_stream_write(s->r, b.data, b.len))
		s->gone = true;
	buf_cleanup(&b);
}

/* Headers, then the first chunk: the assistant's role. */
static void
sse_begin(struct sse *s)
{
	cJSON	*delta;

	if (s->begun)
		return;
	s->begun = true;
	/* nginx and other proxies must pass each event on at once. */
	resp_header(s->r, "X-Accel-Buffering", "no");
	resp_stream_begin(s->r, 200, "text/event-stream; charset=utf-8");
	delta = cJSON_CreateObject();
	cJSON_AddStringToObject(delta, "role", "assistant");
	cJSON_AddStringToObject(delta, "content", "");
	sse_send(s, chunk_new(s, delta, NULL));
}

/* llm_delta_fn: one fragment of the answer, as the model produces it. */
static void
sse_delta(void *ctx, const char *text, size_t len)
{
	struct sse	*s = ctx;
	cJSON		*delta;
	char		*copy;

	if (len == 0)
		return;
	sse_begin(s);
	copy = xstrndup(text, len);
	delta = cJSON_CreateObject();
	cJSON_AddStringToObject(delta, "content", copy);
	free(copy);
	sse_send(s, chunk_new(s, delta, NULL));
	s->any_text = true;
}

/*
 * Seconds since the epoch of a PostgreSQL or RFC 3339 timestamp
 * ("2026-01-02 03:04:05.678+01", "2026-01-02T03:04:05Z"); 0 if unreadable.
 */
static int64_t
unix_time(const char *s)
{
	struct tm	 tm;
	const char	*p;
	int		 y, mo, d, h, mi, sec, n = 0;
	int64_t		 t;

	if (s == NULL || sscanf(s, "%4d-%2d-%2d%*1[ T]%2d:%2d:%2d%n", &y, &mo,
	    &d, &h, &mi, &sec, &n) != 6 || n == 0)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = (int64_t)timegm(&tm);
	p = s + n;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == '+' || *p == '-') {
		int	 oh = 0, om = 0;
		int	 sign = *p == '-' ? -1 : 1;

		if (sscanf(p + 1, "%2d:%2d", &oh, &om) < 1)
			return t;
		t -= sign * (oh * 3600 + om * 60);
	}
	return t;
}

/* The non-streamed chat.completion object. */
static int
chat_respond(struct req *r, const struct chat_call *c,
    const struct gateway_result *res, const char *id, int64_t created)
{
	cJSON	*root = cJSON_CreateObject();
	cJSON	*choices, *ch, *msg, *usage;
	int	 st;

	cJSON_AddStringToObject(root, "id", id);
	cJSON_AddStringToObject(root, "object", "chat.completion");
	cJSON_AddNumberToObject(root, "created", (double)created);
	cJSON_AddStringToObject(root, "model", c->model);
	choices = cJSON_AddArrayToObject(root, "choices");
	ch = cJSON_CreateObject();
	cJSON_AddNumberToObject(ch, "index", 0);
	msg = cJSON_AddObjectToObject(ch, "message");
	cJSON_AddStringToObject(msg, "role", "assistant");
	cJSON_AddStringToObject(msg, "content",
	    res->content != NULL ? res->content : "");
	cJSON_AddNullToObject(msg, "refusal");
	cJSON_AddStringToObject(ch, "finish_reason",
	    res->finish_reason != NULL ? res->finish_reason : "stop");
	cJSON_AddNullToObject(ch, "logprobs");
	cJSON_AddItemToArray(choices, ch);
	usage = cJSON_AddObjectToObject(root, "usage");
	cJSON_AddNumberToObject(usage, "prompt_tokens", res->tokens_in);
	cJSON_AddNumberToObject(usage, "completion_tokens", res->tokens_out);
	cJSON_AddNumberToObject(usage, "total_tokens",
	    res->tokens_in + res->tokens_out);
	st = resp_json(r, 200, root);
	cJSON_Delete(root);
	return st;
}

/* The end of a stream: the outcome, usage when asked, then [DONE]. */
static int
chat_stream_finish(struct sse *s, const struct chat_call *c,
    const struct gateway_result *res)
{
	cJSON		*root, *err, *usage;
	const char	*code;
	int		 status;

	if (res->err != GW_OK) {
		status = gw_status(res->err, &code);
		if (!s->begun)
			return oai_error(s->r, status, code, res->error[0] ?
			    res->error : "The model call failed.",
			    status == 404 ? "model" : NULL);
		root = cJSON_CreateObject();
		err = cJSON_AddObjectToObject(root, "error");
		cJSON_AddStringToObject(err, "message", res->error[0] ?
		    res->error : "The model call failed.");
		cJSON_AddStringToObject(err, "type", "api_error");
		cJSON_AddNullToObject(err, "param");
		cJSON_AddStringToObject(err, "code", code);
		sse_send(s, root);
		sse_send_raw(s, "[DONE]");
		return s->r->status;
	}
	sse_begin(s);
	/* The built-in model answers whole, without fragments. */
	if (!s->any_text && res->content != NULL && res->content[0] != '\0') {
		cJSON	*delta = cJSON_CreateObject();

		cJSON_AddStringToObject(delta, "content", res->content);
		sse_send(s, chunk_new(s, delta, NULL));
	}
	sse_send(s, chunk_new(s, NULL, res->finish_reason != NULL ?
	    res->finish_reason : "stop"));
	if (c->include_usage) {
		root = chunk_new(s, NULL, NULL);
		usage = cJSON_AddObjectToObject(root, "usage");
		cJSON_AddNumberToObject(usage, "prompt_tokens", res->tokens_in);
		cJSON_AddNumberToObject(usage, "completion_tokens",
		    res->tokens_out);
		cJSON_AddNumberToObject(usage, "total_tokens",
		    res->tokens_in + res->tokens_out);
		sse_send(s, root);
	}
	sse_send_raw(s, "[DONE]");
	return s->r->status;
}

/*
 * POST /v1/chat/completions. 400 for a request OpenAI would refuse, 404
 * (model_not_found) for a model or agent this organisation does not have,
 * then the gateway's outcome: 502 upstream failure, 504 upstream timeout,
 * 503 our database.
 */
int
api_chat_completions(struct req *r)
{
	struct chat_call	 c;
	struct gateway_req	 in;
	struct gateway_result	 res;
	struct sse		 s;
	struct agent		 ag;
	struct org_model	 om;
	enum db_status		 st;
	const char		*code;
	int			 status;

	if ((status = parse_call(r, &c)) != 0)
		return status;
	if (req_db(r) == NULL)
		return resp_unavailable(r);

	memset(&in, 0, sizeof(in));
	if (str_starts_with(c.model, AGENT_PREFIX)) {
		st = agent_get_by_slug(r->db, r->arena, r->org_id,
		    c.model + AGENT_PREFIX_LEN, &ag);
		if (st == DB_OK)
			in.agent_id = ag.id;
	} else {
		st = orgmodel_get_by_name(r->db, r->arena, r->org_id, c.model,
		    &om);
		if (st == DB_OK)
			in.model_id = om.id;
	}
	if (st == DB_NOT_FOUND)
		return oai_error(r, 404, "model_not_found", "The model does "
		    "not exist in this organisation: use GET /v1/models to "
		    "list them.", "model");
	if (st != DB_OK)
		return resp_unavailable(r);
	/* The router would release it after the handler: too late. */
	req_release_db(r);

	memset(&s, 0, sizeof(s));
	s.r = r;
	s.model = c.model;
	s.created = time_unix();
	new_completion_id(s.id);

	in.pool = r->app->db;
	in.key = r->app->key;
	in.app = r->app;	/* MCP tools need the config (address policy) */
	in.org_id = r->org_id;
	in.messages = c.messages;
	in.contact_name = "";
	in.source = "api";
	in.timeout_ms = r->app->cfg.llm_timeout_ms;
	in.has_temperature = c.has_temperature;
	in.temperature = c.temperature;
	in.max_tokens = c.max_tokens;
	if (c.stream) {
		in.on_delta = sse_delta;
		in.delta_ctx = &s;
	}
	memset(&res, 0, sizeof(res));
	/* The caller's W3C trace reaches the tools' servers (MCP). */
	trace_begin(req_header(r, "traceparent"));
	(void)gateway_complete(&in, &res);
	trace_end();

	if (c.stream)
		status = chat_stream_finish(&s, &c, &res);
	else if (res.err != GW_OK) {
		status = gw_status(res.err, &code);
		status = oai_error(r, status, code, res.error[0] ? res.error :
		    "The model call failed.", status == 404 ? "model" : NULL);
	} else
		status = chat_respond(r, &c, &res, s.id, s.created);
	gateway_result_cleanup(&res);
	return status;
}

/*
 * GET /v1/models: the organisation's models (owned_by "parley") and its
 * agents as "agent:<slug>" (owned_by "parley-agent").
 */
int
api_models_openai(struct req *r)
{
	struct org_model	*models = NULL;
	struct agent		*agents = NULL;
	int			 n_models = 0, n_agents = 0, status;
	cJSON			*root, *data, *o;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if (orgmodel_list(r->db, r->arena, r->org_id, &models, &n_models) !=
	    DB_OK || agent_list(r->db, r->arena, r->org_id, &agents,
	    &n_agents) != DB_OK)
		return resp_unavailable(r);
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "object", "list");
	data = cJSON_AddArrayToObject(root, "data");
	for (int i = 0; i < n_models; i++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", models[i].name);
		cJSON_AddStringToObject(o, "object", "model");
		cJSON_AddNumberToObject(o, "created",
		    (double)unix_time(models[i].created_at));
		cJSON_AddStringToObject(o, "owned_by", "parley");
		cJSON_AddItemToArray(data, o);
	}
	for (int i = 0; i < n_agents; i++) {
		char	*id = arena_printf(r->arena, AGENT_PREFIX "%s",
			    agents[i].slug);

		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", id);
		cJSON_AddStringToObject(o, "object", "model");
		cJSON_AddNumberToObject(o, "created",
		    (double)unix_time(agents[i].created_at));
		cJSON_AddStringToObject(o, "owned_by", "parley-agent");
		cJSON_AddItemToArray(data, o);
	}
	status = resp_json(r, 200, root);
	cJSON_Delete(root);
	return status;
}
