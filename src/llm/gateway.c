/*
 * gateway: the one path every model call takes (see gateway.h).
 *
 * DESIGN. A call has three phases, and only the first and last touch the
 * database, each with a connection of its own taken from the pool and
 * given back before the model is asked anything:
 *
 *   load    agent (if any), model (the agent's, the request's, or the
 *           org's default), provider endpoint with its decrypted key, the
 *           org's name, and the id the call's llm_calls row will have
 *           (reserved now, so every tool knows the call it runs for:
 *           plugin_ctx.llm_call_id); then the connection is released.
 *   loop    render the system prompt, build the request, call the model
 *           (llm_chat, or the in-process parley/faq of llm/builtin.c),
 *           and while it answers with tool calls: append its message
 *           verbatim, run each call, append one `tool` message per call
 *           id, and call again, at most max_rounds model calls in all.
 *           Tools take their own connections (plugin_ctx.pool).
 *   record  one llm_calls row under the reserved id (tokens summed over
 *           the rounds, latency, rounds, every tool call with arguments,
 *           result and error, the error if any, and the review's copy of
 *           the messages it was given: llm/input.h, placeholders for
 *           images and long texts cut, never megabytes of base64).
 *
 * Tools. The model is offered the agent's enabled plugins that are
 * available in this installation, by wire name, when the model supports
 * tools. A call runs only when its name matches one of those offered wire
 * names; anything else (a disabled plugin, an unknown name, a WhatsApp
 * tool) is answered with a tool error and nothing runs. parley/faq may
 * always call the fallback tool (plugin.h: handing off is how it says "I
 * don't know"). The gateway names no plugin: it knows tools only through
 * plugins/plugin.h. A tool error reaches the model as the tool message
 * {"error":"…"}.
 *
 * Round limit. When the model still asks for tools in its last allowed
 * round, those calls are not run (recorded with an error saying so), and
 * the call ends GW_OK with finish_reason "length" and a sentence for the
 * user as content: the reply pool then has something to send instead of
 * retrying a model that loops (which would loop again and cost as much).
 * The llm_calls row and result.error both say what happened.
 *
 * System prompt. The agent's prompt is a Mustache template rendered with
 * {organizationName, agentName, contactName, date} as plain text
 * (tmpl_render_text: "Smith & Sons" reaches the model as written, not as
 * HTML). A template that does not compile is sent as written, and the
 * error is recorded on the call (the call still runs).
 *
 * Records are written for every call whose model was resolved; a call
 * refused before that (unknown agent or model, database down) has nothing
 * to name and is not recorded.
 *
 * Thread-safety: no shared state; everything lives in the call.
 */
#include "llm/gateway.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/json.h"
#include "util/log.h"
#include "crypto/secret.h"
#include "db/db.h"
#include "llm/builtin.h"
#include "llm/input.h"
#include "model/agent.h"
#include "model/llmcall.h"
#include "model/org.h"
#include "model/orgmodel.h"
#include "model/provider.h"
#include "plugins/plugin.h"
#include "tmpl/tmpl.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/time.h"
#include "util/xmalloc.h"

#define GW_TOOLS_MAX		128	/* OpenAI's limit */
#define GW_ROUND_LIMIT_ANSWER	"Sorry, I could not finish working on " \
	"that: it took too many steps. Please try again, or ask in another way."

struct gw_tool {
	const struct plugin	*p;
	char			 wire[PLUGIN_WIRE_MAX + 1];
};

/* Everything one call loads and accumulates. */
struct gateway_call {
	const struct gateway_req	*in;
	struct gateway_result		*out;
	struct arena			*a;
	struct agent			 agent;
	bool				 has_agent;
	struct org_model		 model;
	bool				 has_model;
	bool				 is_builtin;
	char				*base_url;	/* malloc'd */
	char				*api_key;	/* secret_plain_free */
	char				*org_name;	/* arena */
	char				*prompt;	/* malloc'd, rendered */
	char				*prompt_error;	/* malloc'd or NULL */
	char				*limit_error;	/* malloc'd or NULL */
	struct gw_tool			 tools[GW_TOOLS_MAX];
	int				 n_tools;	/* offered */
	bool				 may_handoff;	/* parley/faq */
	struct plugin_ctx		 pctx;
	int64_t				 llm_call_id;	/* reserved at load */
	cJSON				*request;
	int64_t				 t0;		/* monotonic ms */
};

static enum gateway_err	 gw_fail(struct gateway_call *, enum gateway_err,
			    const char *, ...)
			    __attribute__((format(printf, 3, 4)));
static bool		 gw_messages_ok(const cJSON *);
static struct gateway_call *gw_new(const struct gateway_req *,
			    struct gateway_result *);
static enum gateway_err	 gw_finish(struct gateway_call *, enum gateway_err);
static enum gateway_err	 gw_load_with(struct gateway_call *, struct db *);
static void		 gw_render_prompt(struct gateway_call *);
static void		 gw_pick_tools(struct gateway_call *);
static void		 gw_build_request(struct gateway_call *);
static enum gateway_err	 gw_ask(struct gateway_call *, cJSON **);
static enum gateway_err	 gw_map_llm(struct gateway_call *, enum llm_err,
			    const struct llm_result *);
static void		 gw_run_calls(struct gateway_call *, const cJSON *, cJSON *,
			    bool);
static char		*gw_run_one(struct gateway_call *, const char *,
			    const char *, cJSON *);
static const struct plugin *gw_offered(const struct gateway_call *, const char *);
static const struct plugin *gw_registered(const char *);
static void		 gw_record(struct gateway_call *);
static int		 gw_json_int(const cJSON *, const char *);

/* Allocates a call for in (its arena and result wired); NULL never. */
static struct gateway_call *
gw_new(const struct gateway_req *in, struct gateway_result *out)
{
	struct gateway_call	*c = xcalloc(1, sizeof(*c));

	memset(out, 0, sizeof(*out));
	out->tool_calls = cJSON_CreateArray();
	c->in = in;
	c->out = out;
	c->a = arena_new();
	c->t0 = time_mono_ms();
	return c;
}

enum gateway_err
gateway_complete(const struct gateway_req *in, struct gateway_result *out)
{
	struct gateway_call	*c = NULL;
	struct db		*db;
	enum gateway_err	 err;

	if ((db = db_acquire(in->pool)) == NULL) {
		c = gw_new(in, out);
		err = gw_fail(c, GW_UNAVAILABLE, "The database is "
		    "unavailable.");
		return gw_finish(c, err);
	}
	err = gateway_load(in, db, &c, out);
	db_release(db);
	if (err != GW_OK)
		return err;
	return gateway_run(c, out);
}

enum gateway_err
gateway_load(const struct gateway_req *in, struct db *db,
    struct gateway_call **call, struct gateway_result *out)
{
	struct gateway_call	*c = gw_new(in, out);
	enum gateway_err err;

	*call = NULL;
	if (!gw_messages_ok(in->messages)) {
		err = gw_fail(c, GW_BAD_REQUEST, "messages must be a "
		    "non-empty array of objects, each with a role.");
		return gw_finish(c, err);
	}
	if ((err = gw_load_with(c, db)) != GW_OK)
		return gw_finish(c, err);
	*call = c;
	return GW_OK;
}

void
gateway_call_free(struct gateway_call *c)
{
	if (c == NULL)
		return;
	if (c->api_key != NULL)
		secret_plain_free(c->api_key);
	free(c->base_url);
	free(c->prompt);
	free(c->prompt_error);
	free(c->limit_error);
	cJSON_Delete(c->request);
	arena_free(c->a);
	free(c);
}

/*
 * The end of every call: the result's last fields, its record (now, or
 * left for gateway_record), the call freed. Returns err.
 */
static enum gateway_err
gw_finish(struct gateway_call *c, enum gateway_err err)
{
	struct gateway_result	*out = c->out;

	out->err = err;
	out->handoff = c->pctx.handoff_requested;
	out->latency_ms = time_mono_ms() - c->t0;
	if (c->has_model) {
		out->model_name = xstrdup(c->model.name);
		gw_record(c);
	}
	gateway_call_free(c);
	return err;
}

enum gateway_err
gateway_run(struct gateway_call *c, struct gateway_result *out)
{
	const struct gateway_req *in = c->in;
	int		 max_rounds;
	enum gateway_err err;

	(void)out;	/* c->out */
	max_rounds = in->max_rounds > 0 ? in->max_rounds : GATEWAY_MAX_ROUNDS;
	c->pctx.pool = in->pool;
	c->pctx.arena = c->a;
	c->pctx.org_id = in->org_id;
	c->pctx.agent_id = c->has_agent ? c->agent.id : 0;
	c->pctx.contact = in->contact_name != NULL ? in->contact_name : "";
	c->pctx.chat_id = in->chat_id;
	c->pctx.channel_id = in->channel_id;
	c->pctx.app = in->app;
	c->pctx.llm_call_id = c->llm_call_id;
	gw_render_prompt(c);
	gw_pick_tools(c);
	gw_build_request(c);

	for (;;) {
		cJSON		*resp = NULL;
		const cJSON	*choice, *msg, *calls, *content, *finish;
		bool		 is_last;

		if (in->cancelled != NULL && in->cancelled(in->cancel_ctx)) {
			err = gw_fail(c, GW_CANCELLED, "Cancelled: a new "
			    "message arrived while the model worked.");
			goto out;
		}
		c->out->rounds++;
		if ((err = gw_ask(c, &resp)) != GW_OK)
			goto out;
		choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
		    resp, "choices"), 0);
		msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
		if (!cJSON_IsObject(msg)) {
			cJSON_Delete(resp);
			err = gw_fail(c, GW_UPSTREAM, "The model's answer "
			    "had no message.");
			goto out;
		}
		c->out->tokens_in += gw_json_int(
		    cJSON_GetObjectItemCaseSensitive(resp, "usage"),
		    "prompt_tokens");
		c->out->tokens_out += gw_json_int(
		    cJSON_GetObjectItemCaseSensitive(resp, "usage"),
		    "completion_tokens");
		calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
		finish = cJSON_GetObjectItemCaseSensitive(choice,
		    "finish_reason");

		if (cJSON_IsArray(calls) && cJSON_GetArraySize(calls) > 0) {
			cJSON	*msgs = cJSON_GetObjectItemCaseSensitive(
				    c->request, "messages");

			is_last = c->out->rounds >= max_rounds;
			cJSON_AddItemToArray(msgs, cJSON_Duplicate(msg, true));
			gw_run_calls(c, calls, msgs, !is_last);
			cJSON_Delete(resp);
			if (!is_last)
				continue;
			c->limit_error = xasprintf("Stopped after %d rounds: "
			    "the model was still calling tools.", max_rounds);
			str_copy(c->out->error, c->limit_error,
			    sizeof(c->out->error));
			c->out->content = xstrdup(GW_ROUND_LIMIT_ANSWER);
			c->out->finish_reason = xstrdup("length");
			if (in->on_delta != NULL)
				in->on_delta(in->delta_ctx, c->out->content,
				    strlen(c->out->content));
			break;
		}

		content = cJSON_GetObjectItemCaseSensitive(msg, "content");
		c->out->content = xstrdup(cJSON_IsString(content) ?
		    content->valuestring : "");
		c->out->finish_reason = xstrdup(cJSON_IsString(finish) ?
		    finish->valuestring : "stop");
		/* llm_chat streamed the remote model's text already. */
		if (c->is_builtin && in->on_delta != NULL &&
		    *c->out->content != '\0')
			in->on_delta(in->delta_ctx, c->out->content,
			    strlen(c->out->content));
		cJSON_Delete(resp);
		break;
	}
	err = GW_OK;
out:
	return gw_finish(c, err);
}

void
gateway_result_cleanup(struct gateway_result *r)
{
	if (r == NULL)
		return;
	free(r->content);
	free(r->finish_reason);
	free(r->model_name);
	free(r->rec_error);
	cJSON_Delete(r->tool_calls);
	cJSON_Delete(r->rec_input);
	r->rec_input = NULL;
	r->rec_error = NULL;
	r->record_pending = false;
	r->content = NULL;
	r->finish_reason = NULL;
	r->model_name = NULL;
	r->tool_calls = NULL;
}

/* Sets the caller's sentence and returns err, for `return gw_fail(…)`. */
static enum gateway_err
gw_fail(struct gateway_call *c, enum gateway_err err, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(c->out->error, sizeof(c->out->error), fmt, ap);
	va_end(ap);
	return err;
}

static bool
gw_messages_ok(const cJSON *messages)
{
	const cJSON	*m;

	if (!cJSON_IsArray(messages) || cJSON_GetArraySize(messages) == 0)
		return false;
	cJSON_ArrayForEach(m, messages) {
		const cJSON	*role = cJSON_GetObjectItemCaseSensitive(m,
				    "role");

		if (!cJSON_IsObject(m) || !cJSON_IsString(role))
			return false;
	}
	return true;
}

static enum gateway_err
gw_load_with(struct gateway_call *c, struct db *db)
{
	const struct gateway_req *in = c->in;
	int64_t		 model_id = in->model_id;
	enum db_status	 st;

	if (in->agent_id != 0 && in->agent != NULL &&
	    in->agent->id == in->agent_id) {
		c->agent = *in->agent;
		c->has_agent = true;
		model_id = c->agent.model_id;
	} else if (in->agent_id != 0) {
		st = agent_get(db, c->a, in->org_id, in->agent_id, &c->agent);
		if (st == DB_NOT_FOUND)
			return gw_fail(c, GW_NOT_FOUND, "There is no agent "
			    "%lld in this organisation.",
			    (long long)in->agent_id);
		if (st != DB_OK)
			return gw_fail(c, GW_UNAVAILABLE, "The database is "
			    "unavailable.");
		c->has_agent = true;
		model_id = c->agent.model_id;
	}
	if (model_id != 0)
		st = orgmodel_get(db, c->a, in->org_id, model_id, &c->model);
	else
		st = orgmodel_get_default(db, c->a, in->org_id, &c->model);
	if (st == DB_NOT_FOUND && model_id != 0)
		return gw_fail(c, GW_NOT_FOUND, "There is no model %lld in "
		    "this organisation.", (long long)model_id);
	if (st == DB_NOT_FOUND)
		return gw_fail(c, GW_NOT_FOUND, "This organisation has no "
		    "default model: choose one under Settings, Models.");
	if (st != DB_OK)
		return gw_fail(c, GW_UNAVAILABLE, "The database is "
		    "unavailable.");
	c->has_model = true;
	c->is_builtin = c->model.provider_id == 0;

	if (!c->is_builtin) {
		st = provider_get_endpoint(db, in->key, in->org_id,
		    c->model.provider_id, &c->base_url, &c->api_key);
		if (st == DB_NOT_FOUND)
			return gw_fail(c, GW_NOT_FOUND, "The provider of "
			    "model %s is gone.", c->model.name);
		if (st == DB_INVALID)
			return gw_fail(c, GW_UPSTREAM, "The API key of the "
			    "provider of model %s cannot be decrypted with "
			    "this server's master key.", c->model.name);
		if (st != DB_OK)
			return gw_fail(c, GW_UNAVAILABLE, "The database is "
			    "unavailable.");
	}
	st = org_get_name(db, c->a, in->org_id, &c->org_name);
	if (st == DB_NOT_FOUND)
		return gw_fail(c, GW_NOT_FOUND, "There is no such "
		    "organisation.");
	if (st == DB_OK)
		st = llmcall_reserve(db, &c->llm_call_id);
	if (st != DB_OK)
		return gw_fail(c, GW_UNAVAILABLE, "The database is "
		    "unavailable.");
	return GW_OK;
}

/* See the DESIGN note: render, then undo the HTML escaping. */
static void
gw_render_prompt(struct gateway_call *c)
{
	const char	*src = c->has_agent ? c->agent.system_prompt : "";
	struct tmpl_set	*set = NULL;
	cJSON		*data = NULL;
	char		 err[256];
	char		 date[16];
	struct tm	 tm;
	time_t		 now = time(NULL);

	if (src == NULL || *src == '\0')
		return;
	set = tmpl_set_new();
	if (!tmpl_set_add(set, "prompt", src, strlen(src), err,
	    sizeof(err))) {
		c->prompt = xstrdup(src);
		c->prompt_error = xasprintf("The system prompt is not a valid "
		    "template (%s); it was sent as written.", err);
		log_warn("gateway", "msg=\"system prompt template error\" "
		    "agent=%lld", (long long)c->agent.id);
		goto out;
	}
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "organizationName",
	    c->org_name != NULL ? c->org_name : "");
	cJSON_AddStringToObject(data, "agentName", c->agent.name);
	cJSON_AddStringToObject(data, "contactName",
	    c->in->contact_name != NULL ? c->in->contact_name : "");
	cJSON_AddStringToObject(data, "date", date);
	c->prompt = tmpl_render_text(set, "prompt", data, NULL);
	if (c->prompt == NULL)
		c->prompt = xstrdup(src);
out:
	cJSON_Delete(data);
	tmpl_set_free(set);
}

/* The tools offered: the agent's enabled, available plugins, if the model
 * takes tools. */
static void
gw_pick_tools(struct gateway_call *c)
{
	c->may_handoff = c->is_builtin && c->has_agent;
	if (!c->has_agent || !c->model.supports_tools)
		return;
	for (int i = 0; i < c->agent.n_plugins && c->n_tools < GW_TOOLS_MAX;
	    i++) {
		const struct plugin	*p = plugin_find(c->agent.plugins[i]);

		if (p == NULL || !plugin_available(p))
			continue;
		c->tools[c->n_tools].p = p;
		plugin_wire_name(p->id, c->tools[c->n_tools].wire);
		c->n_tools++;
	}
	/* Tools listed at run time (the agent's tool servers): asked for
	 * only when the agent has some, so a turn without them takes no
	 * connection here. */
	if (c->n_tools < GW_TOOLS_MAX && c->agent.has_tool_servers) {
		const struct plugin	*dyn[GW_TOOLS_MAX];
		int			 n;

		n = plugin_dynamic_tools(&c->pctx, dyn,
		    GW_TOOLS_MAX - c->n_tools);
		for (int i = 0; i < n; i++) {
			c->tools[c->n_tools].p = dyn[i];
			plugin_wire_name(dyn[i]->id,
			    c->tools[c->n_tools].wire);
			c->n_tools++;
		}
	}
}

static void
gw_build_request(struct gateway_call *c)
{
	const struct gateway_req *in = c->in;
	cJSON		*req = cJSON_CreateObject();
	cJSON		*msgs;
	const cJSON	*m;
	int		 max_tokens;

	cJSON_AddStringToObject(req, "model", c->model.name);
	msgs = cJSON_AddArrayToObject(req, "messages");
	if (c->prompt != NULL && *c->prompt != '\0') {
		cJSON	*sys = cJSON_CreateObject();

		cJSON_AddStringToObject(sys, "role", "system");
		cJSON_AddStringToObject(sys, "content", c->prompt);
		cJSON_AddItemToArray(msgs, sys);
	}
	cJSON_ArrayForEach(m, in->messages)
		cJSON_AddItemToArray(msgs, cJSON_Duplicate(m, true));

	if (c->n_tools > 0 && !c->is_builtin) {
		cJSON	*tools = cJSON_AddArrayToObject(req, "tools");

		for (int i = 0; i < c->n_tools; i++) {
			cJSON	*t = cJSON_CreateObject();
			cJSON	*fn = cJSON_AddObjectToObject(t, "function");
			cJSON	*schema = json_parse_str(
				    c->tools[i].p->params_schema, NULL);

			cJSON_AddStringToObject(t, "type", "function");
			cJSON_AddStringToObject(fn, "name", c->tools[i].wire);
			cJSON_AddStringToObject(fn, "description",
			    c->tools[i].p->description);
			if (schema == NULL)	/* tests/unit/test_plugins.c */
				schema = json_parse_str(
				    "{\"type\":\"object\"}", NULL);
			cJSON_AddItemToObject(fn, "parameters", schema);
			cJSON_AddItemToArray(tools, t);
		}
		cJSON_AddStringToObject(req, "tool_choice", "auto");
	}
	if (in->has_temperature)
		cJSON_AddNumberToObject(req, "temperature", in->temperature);
	else if (c->has_agent && c->agent.has_temperature)
		cJSON_AddNumberToObject(req, "temperature",
		    c->agent.temperature);
	max_tokens = in->max_tokens > 0 ? in->max_tokens :
	    c->has_agent ? c->agent.max_tokens : 0;
	if (max_tokens > 0)
		cJSON_AddNumberToObject(req, "max_tokens", max_tokens);
	c->request = req;
}

/* One model call; *resp is the completion object (caller deletes). */
static enum gateway_err
gw_ask(struct gateway_call *c, cJSON **resp)
{
	struct llm_endpoint	 ep = { 0 };
	struct llm_result	 res = { 0 };
	enum llm_err		 e;
	enum gateway_err	 err = GW_OK;
	char			 msg[256];

	*resp = NULL;
	if (c->is_builtin) {
		if (!builtin_chat(c->in->pool, c->in->org_id,
		    c->has_agent ? c->agent.id : 0,
		    cJSON_GetObjectItemCaseSensitive(c->request, "messages"),
		    resp, msg, sizeof(msg)))
			return gw_fail(c, GW_UNAVAILABLE, "%s", msg);
		return GW_OK;
	}
	ep.base_url = c->base_url;
	ep.api_key = c->api_key;
	ep.timeout_ms = c->in->timeout_ms;
	ep.max_retries = c->in->max_retries;
	ep.cancelled = c->in->cancelled;
	ep.cancel_ctx = c->in->cancel_ctx;
	e = llm_chat(&ep, c->request, c->in->on_delta, c->in->delta_ctx,
	    &res);
	c->out->retry_after_ms = res.retry_after_ms;
	if (e == LLM_OK) {
		*resp = res.response;
		res.response = NULL;
	} else
		err = gw_map_llm(c, e, &res);
	llm_result_cleanup(&res);
	return err;
}

static enum gateway_err
gw_map_llm(struct gateway_call *c, enum llm_err e, const struct llm_result *res)
{
	const char	*why = res->error[0] != '\0' ? res->error :
			    llm_err_str(e);

	if (e != LLM_CANCELLED)
		log_warn("gateway", "msg=\"model call failed\" model=\"%s\" "
		    "err=%s status=%d", c->model.name, llm_err_str(e),
		    res->http_status);
	switch (e) {
	case LLM_CANCELLED:
		return gw_fail(c, GW_CANCELLED, "Cancelled: a new message "
		    "arrived while the model %s worked.", c->model.name);
	case LLM_TIMEOUT:
		return gw_fail(c, GW_TIMEOUT, "The model %s did not answer "
		    "in time: %s", c->model.name, why);
	case LLM_BAD_REQUEST:
		return gw_fail(c, GW_BAD_REQUEST, "The model %s refused the "
		    "request: %s", c->model.name, why);
	default:
		return gw_fail(c, GW_UPSTREAM, "The provider of model %s "
		    "failed: %s", c->model.name, why);
	}
}

/*
 * Answers every call of one assistant message: a tool message per id is
 * appended to msgs, and an entry per call to out->tool_calls. With run
 * false (the round limit) nothing runs and no tool message is added.
 */
static void
gw_run_calls(struct gateway_call *c, const cJSON *calls, cJSON *msgs, bool run)
{
	const cJSON	*call;

	cJSON_ArrayForEach(call, calls) {
		const cJSON	*id = cJSON_GetObjectItemCaseSensitive(call,
				    "id");
		const cJSON	*fn = cJSON_GetObjectItemCaseSensitive(call,
				    "function");
		const cJSON	*name = cJSON_GetObjectItemCaseSensitive(fn,
				    "name");
		const cJSON	*args = cJSON_GetObjectItemCaseSensitive(fn,
				    "arguments");
		const char	*wire = cJSON_IsString(name) ?
				    name->valuestring : "";
		const struct plugin *known = gw_registered(wire);
		cJSON		*entry = cJSON_CreateObject();
		cJSON		*tool_msg;
		char		*content;

		cJSON_AddStringToObject(entry, "name", known != NULL ?
		    known->id : wire);
		if (!run) {
			cJSON_AddStringToObject(entry, "arguments",
			    cJSON_IsString(args) ? args->valuestring : "");
			cJSON_AddNullToObject(entry, "result");
			cJSON_AddStringToObject(entry, "error", "Not run: the "
			    "round limit was reached.");
			cJSON_AddItemToArray(c->out->tool_calls, entry);
			continue;
		}
		content = gw_run_one(c, wire, cJSON_IsString(args) ?
		    args->valuestring : NULL, entry);
		cJSON_AddItemToArray(c->out->tool_calls, entry);
		tool_msg = cJSON_CreateObject();
		cJSON_AddStringToObject(tool_msg, "role", "tool");
		cJSON_AddStringToObject(tool_msg, "tool_call_id",
		    cJSON_IsString(id) ? id->valuestring : "");
		cJSON_AddStringToObject(tool_msg, "content", content);
		cJSON_AddItemToArray(msgs, tool_msg);
		free(content);
	}
}

/*
 * Runs one call if it names an offered tool; fills entry {arguments,
 * result, error}; returns the tool message content (malloc'd).
 */
static char *
gw_run_one(struct gateway_call *c, const char *wire, const char *args_text,
    cJSON *entry)
{
	const struct plugin	*p = gw_offered(c, wire);
	const struct plugin	*known = gw_registered(wire);
	cJSON			*args = NULL;
	cJSON			*wrap = NULL;
	char			*result = NULL;
	char			*error = NULL;
	char			*content;
	bool			 ok;

	if (args_text == NULL || *args_text == '\0')
		args = cJSON_CreateObject();
	else
		args = json_parse_str(args_text, NULL);
	if (cJSON_IsObject(args))
		cJSON_AddItemToObject(entry, "arguments",
		    cJSON_Duplicate(args, true));
	else
		cJSON_AddStringToObject(entry, "arguments",
		    args_text != NULL ? args_text : "");

	if (p == NULL) {
		error = xasprintf("Tool %s is not enabled for this agent.",
		    known != NULL ? known->id : wire);
	} else if (!cJSON_IsObject(args)) {
		error = xasprintf("The arguments for %s are not a JSON "
		    "object; send them as JSON matching its schema.", p->id);
	} else {
		int64_t	 t0 = time_mono_ms();

		ok = p->run != NULL ? p->run(p, &c->pctx, args, &result,
		    entry) : p->invoke(&c->pctx, args, &result);
		cJSON_AddNumberToObject(entry, "latencyMs",
		    (double)(time_mono_ms() - t0));
		if (result == NULL)
			result = xstrdup(ok ? "" : "The tool failed.");
		if (!ok) {
			error = result;
			result = NULL;
		}
	}

	if (error != NULL) {
		cJSON_AddNullToObject(entry, "result");
		cJSON_AddStringToObject(entry, "error", error);
		wrap = cJSON_CreateObject();
		cJSON_AddStringToObject(wrap, "error", error);
		content = cJSON_PrintUnformatted(wrap);
		if (content == NULL)
			abort();
	} else {
		cJSON_AddStringToObject(entry, "result", result);
		cJSON_AddNullToObject(entry, "error");
		content = xstrdup(result);
	}
	cJSON_Delete(args);
	cJSON_Delete(wrap);
	free(result);
	free(error);
	return content;
}

/* The offered plugin whose wire name this is, or NULL. */
static const struct plugin *
gw_offered(const struct gateway_call *c, const char *wire)
{
	const struct plugin	*fb;
	char			 w[PLUGIN_WIRE_MAX + 1];

	for (int i = 0; i < c->n_tools; i++)
		if (strcmp(c->tools[i].wire, wire) == 0)
			return c->tools[i].p;
	if (c->may_handoff && (fb = plugin_fallback()) != NULL) {
		plugin_wire_name(fb->id, w);
		if (strcmp(w, wire) == 0)
			return fb;
	}
	return NULL;
}

/* Any registered plugin with this wire name (for naming it in records). */
static const struct plugin *
gw_registered(const char *wire)
{
	const struct plugin *const *all;
	char		 w[PLUGIN_WIRE_MAX + 1];
	int		 n;

	all = plugin_all(&n);
	for (int i = 0; i < n; i++) {
		plugin_wire_name(all[i]->id, w);
		if (strcmp(w, wire) == 0)
			return all[i];
	}
	return NULL;
}

/* Phase 3: the llm_calls row, under the id reserved at load. */
static void
gw_record(struct gateway_call *c)
{
	struct llm_call_record	 rec = { 0 };
	struct gateway_result	*out = c->out;
	struct buf		 err;
	struct db		*db;
	enum db_status		 st;
	cJSON			*input = NULL;

	buf_init(&err, 2048);
	if (out->err != GW_OK)
		buf_puts(&err, out->error);
	if (c->limit_error != NULL)
		buf_printf(&err, "%s%s", err.len > 0 ? " " : "",
		    c->limit_error);
	if (c->prompt_error != NULL)
		buf_printf(&err, "%s%s", err.len > 0 ? " " : "",
		    c->prompt_error);

	rec.id = c->llm_call_id;
	rec.org_id = c->in->org_id;
	rec.agent_id = c->has_agent ? c->agent.id : 0;
	rec.model_id = c->model.id;
	rec.model_name = c->model.name;
	rec.source = c->in->source != NULL ? c->in->source : "api";
	rec.tokens_in = out->tokens_in;
	rec.tokens_out = out->tokens_out;
	rec.latency_ms = (int)out->latency_ms;
	rec.rounds = out->rounds;
	rec.tool_calls = out->tool_calls;
	rec.error = err.len > 0 ? buf_str(&err) : NULL;
	input = llm_input_for_review(c->in->messages);
	rec.input = input;

	if (c->in->defer_record) {
		/* gateway_record writes it, in the caller's transaction. */
		out->record_pending = true;
		out->llm_call_id = c->llm_call_id;
		out->rec_org_id = rec.org_id;
		out->rec_agent_id = rec.agent_id;
		out->rec_model_id = rec.model_id;
		out->rec_source = c->in->source != NULL &&
		    strcmp(c->in->source, "reply") == 0 ? "reply" :
		    c->in->source != NULL && strcmp(c->in->source, "panel") ==
		    0 ? "panel" : "api";
		out->rec_error = rec.error != NULL ? xstrdup(rec.error) : NULL;
		out->rec_input = input;
		input = NULL;
		db = NULL;
		goto out;
	}
	if ((db = db_acquire(c->in->pool)) == NULL) {
		log_err("gateway", "msg=\"cannot record the call: database "
		    "unavailable\" model=\"%s\"", c->model.name);
		goto out;
	}
	st = llmcall_insert(db, &rec, &out->llm_call_id);
	if (st != DB_OK)
		log_err("gateway", "msg=\"cannot record the call\" err=%s",
		    db_status_str(st));
out:
	if (db != NULL)
		db_release(db);
	cJSON_Delete(input);
	buf_cleanup(&err);
}

enum db_status
gateway_record(struct db *db, struct gateway_result *r)
{
	struct llm_call_record	 rec = { 0 };
	enum db_status		 st;

	if (!r->record_pending)
		return DB_OK;
	rec.id = r->llm_call_id;
	rec.org_id = r->rec_org_id;
	rec.agent_id = r->rec_agent_id;
	rec.model_id = r->rec_model_id;
	rec.model_name = r->model_name;
	rec.source = r->rec_source;
	rec.tokens_in = r->tokens_in;
	rec.tokens_out = r->tokens_out;
	rec.latency_ms = (int)r->latency_ms;
	rec.rounds = r->rounds;
	rec.tool_calls = r->tool_calls;
	rec.error = r->rec_error;
	rec.input = r->rec_input;
	st = llmcall_insert(db, &rec, &r->llm_call_id);
	if (st == DB_OK)
		r->record_pending = false;
	return st;
}

bool
gateway_call_vision(const struct gateway_call *c)
{
	return c != NULL && c->has_model && !c->is_builtin &&
	    c->model.supports_vision;
}

/* A non-negative integer member of obj, 0 when absent or odd. */
static int
gw_json_int(const cJSON *obj, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
	    v->valuedouble > 1e9)
		return 0;
	return (int)v->valuedouble;
}
