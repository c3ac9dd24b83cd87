/*
 * openai_api: the OpenAI-compatible gateway (POST /v1/chat/completions,
 * GET /v1/models), API tokens (CLI, panel, bearer authentication) and
 * their organisation boundaries, over real HTTP against the real binary,
 * a throwaway PostgreSQL cluster and the fake LLM (tests/fakes/fake_llm).
 *
 * One suite, one cluster, one fake and one server, started by an
 * unchecked fixture (CK_NOFORK: tests share them and run in the order
 * added; each resets the fake and sets up what it needs). The provider,
 * model, agent and its plugin are inserted with SQL, so this file tests
 * the gateway rather than the REST API's create calls; tokens come from
 * `parley token create` and from the panel, as people make them.
 *
 * The server runs with PARLEY_LLM_TIMEOUT_SECONDS=2 so that a provider
 * slower than its timeout (504) is seen within a few seconds.
 *
 * Set PARLEY_TEST_KEEP=1 to keep the cluster directory (with the server
 * log).
 */
#include "harness/panel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <check.h>
#include <cjson/cJSON.h>

/* This suite's cluster and server (tests/harness); api() sends one more
 * header (NULL: none). */
#define sqli(...)	hpg_sqlf_int(&pg, __VA_ARGS__)
#define sqls(...)	hpg_sqlf(&pg, __VA_ARGS__)
#define api(...)	hapi_header(srv.base, __VA_ARGS__)

#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define OWNER_ORG	"My Organization"
#define OTHER_EMAIL	"other@example.com"
#define OTHER_ORG	"Other Org"
#define ADMIN_EMAIL	"admin@example.com"
#define USER_PW		"another-long-password-1"
#define MODEL_NAME	"fake-model"
#define AGENT_SLUG	"helper"
#define AGENT_MODEL	"agent:" AGENT_SLUG
#define FORM_MAX	8192

static void	 setup(void);
static void	 teardown(void);
static void	 cleanup(void);
static void	 assert_oai_error(const struct hresp *r, long status,
		    const char *type, const char *what);
static const char *content_of(const cJSON *completion);
static bool	 models_has(const cJSON *list, const char *id);

static struct hpg	 pg;
static struct hserver	 srv;
static struct hfake	 fake;
static char		*token;		/* admin token of OWNER_ORG */
static char		*other_token;	/* owner token of OTHER_ORG */
static int64_t		 org_id, other_org_id;

/* --- fixture ------------------------------------------------------------ */

static void
setup(void)
{
	int64_t		 prov, model, agent;

	hpg_start(&pg);
	hfake_start(&fake, "fake_llm", NULL);
	hserver_start(&srv, &pg, (const char *[]){
	    "PARLEY_LLM_TIMEOUT_SECONDS=2", NULL });

	org_id = sqli("SELECT id FROM orgs WHERE name = '%s'", OWNER_ORG);
	ck_assert_msg(org_id > 0, "no organisation %s", OWNER_ORG);
	prov = sqli("INSERT INTO llm_providers (org_id, name, base_url)"
	    " VALUES (%lld, 'Fake', '%s/v1') RETURNING id",
	    (long long)org_id, fake.base);
	model = sqli("INSERT INTO org_models (org_id, provider_id, name,"
	    " display_name) VALUES (%lld, %lld, '%s', 'Fake model')"
	    " RETURNING id", (long long)org_id, (long long)prov, MODEL_NAME);
	agent = sqli("INSERT INTO agents (org_id, name, slug, system_prompt,"
	    " model_id, mode) VALUES (%lld, 'Helper', '%s',"
	    " 'You are a helpful test agent.', %lld, 'task') RETURNING id",
	    (long long)org_id, AGENT_SLUG, (long long)model);
	free(sqls("INSERT INTO agent_plugins (org_id, agent_id, plugin_id)"
	    " VALUES (%lld, %lld, 'time.now') RETURNING agent_id",
	    (long long)org_id, (long long)agent));
	ck_assert_msg(prov > 0 && model > 0 && agent > 0, "set-up SQL failed");

	token = htoken_create(&pg, OWNER_EMAIL, "tests", "admin");
	huser_create(&pg, OTHER_EMAIL, OTHER_ORG, "owner", USER_PW);
	other_org_id = sqli("SELECT id FROM orgs WHERE name = '%s'",
	    OTHER_ORG);
	other_token = htoken_create(&pg, OTHER_EMAIL, "other", "owner");
}

static void
teardown(void)
{
	if (srv.pid > 0)
		(void)hserver_stop(&srv);
	if (fake.pid > 0)
		hfake_stop(&fake);
	cleanup();
}

/* Safe outside a test: never fails a Check test. */
static void
cleanup(void)
{
	free(token);
	free(other_token);
	token = other_token = NULL;
	hpg_finish(&pg, "openai_api");
}

/* --- helpers ------------------------------------------------------------ */

/* OpenAI's error object: all four keys, the expected status and type. */
static void
assert_oai_error(const struct hresp *r, long status, const char *type,
    const char *what)
{
	cJSON		*j, *e;
	const cJSON	*t;

	ck_assert_msg(r->status == status, "%s: want %ld, got %ld: %.2000s",
	    what, status, r->status, r->body);
	j = hresp_json(r);
	e = cJSON_GetObjectItemCaseSensitive(j, "error");
	ck_assert_msg(cJSON_IsObject(e), "%s: no error object: %s", what,
	    r->body);
	ck_assert_msg(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e,
	    "message")) && cJSON_GetObjectItemCaseSensitive(e, "param") !=
	    NULL && cJSON_GetObjectItemCaseSensitive(e, "code") != NULL,
	    "%s: error lacks message, param or code: %s", what, r->body);
	t = cJSON_GetObjectItemCaseSensitive(e, "type");
	ck_assert_msg(cJSON_IsString(t) && (type == NULL ||
	    strcmp(t->valuestring, type) == 0), "%s: want type %s: %s", what,
	    type ? type : "(any)", r->body);
	cJSON_Delete(j);
}

static const char *
content_of(const cJSON *completion)
{
	const cJSON	*ch = cJSON_GetArrayItem(
			    cJSON_GetObjectItemCaseSensitive(completion,
			    "choices"), 0);
	const cJSON	*c = cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(ch, "message"),
			    "content");

	return cJSON_IsString(c) ? c->valuestring : NULL;
}

static bool
models_has(const cJSON *list, const char *id)
{
	const cJSON	*m;

	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(list, "data")) {
		const cJSON	*v = cJSON_GetObjectItemCaseSensitive(m, "id");

		if (cJSON_IsString(v) && strcmp(v->valuestring, id) == 0)
			return true;
	}
	return false;
}

/* --- authentication ----------------------------------------------------- */

START_TEST(t_no_token)
{
	struct hresp	 r;

	api(NULL, "POST", "/v1/chat/completions", "{\"model\":\"" MODEL_NAME
	    "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL,
	    &r);
	assert_oai_error(&r, 401, "authentication_error", "no token");
	hresp_free(&r);
	api(NULL, "GET", "/v1/models", NULL, NULL, &r);
	assert_oai_error(&r, 401, "authentication_error", "no token, models");
	hresp_free(&r);
	api(NULL, "GET", "/v1/models", NULL, "Authorization: Basic Zm9vOmJhcg==",
	    &r);
	assert_oai_error(&r, 401, "authentication_error", "basic auth");
	hresp_free(&r);
}
END_TEST

START_TEST(t_wrong_token)
{
	struct hresp	 r;
	char		 forged[64];

	/* Right shape, unknown secret. */
	snprintf(forged, sizeof(forged), "%s", token);
	forged[10] = forged[10] == 'A' ? 'B' : 'A';
	api(forged, "GET", "/v1/models", NULL, NULL, &r);
	assert_oai_error(&r, 401, "authentication_error", "forged token");
	hresp_free(&r);
	api("prl_short", "GET", "/v1/models", NULL, NULL, &r);
	assert_oai_error(&r, 401, "authentication_error", "short token");
	hresp_free(&r);
	api("sk-proj-0123456789abcdef0123456789abcdef0123456", "GET",
	    "/v1/models", NULL, NULL, &r);
	assert_oai_error(&r, 401, "authentication_error", "foreign token");
	hresp_free(&r);
	/* The real one still works. */
	api(token, "GET", "/v1/models", NULL, NULL, &r);
	ck_assert_msg(r.status == 200, "the real token: %ld %s", r.status,
	    r.body);
	hresp_free(&r);
}
END_TEST

START_TEST(t_x_org_id)
{
	struct hresp	 r;
	char		 h[64];

	api(token, "GET", "/v1/models", NULL, "X-Org-Id: 999999", &r);
	assert_oai_error(&r, 403, NULL, "X-Org-Id of no organisation");
	hresp_free(&r);
	snprintf(h, sizeof(h), "X-Org-Id: %lld", (long long)other_org_id);
	api(token, "GET", "/v1/models", NULL, h, &r);
	assert_oai_error(&r, 403, NULL, "X-Org-Id of another organisation");
	hresp_free(&r);
	snprintf(h, sizeof(h), "X-Org-Id: %lld", (long long)org_id);
	api(token, "GET", "/v1/models", NULL, h, &r);
	ck_assert_msg(r.status == 200, "X-Org-Id of the token's own "
	    "organisation: %ld %s", r.status, r.body);
	hresp_free(&r);
}
END_TEST

/* --- /v1/models ---------------------------------------------------------- */

START_TEST(t_models)
{
	struct hresp	 r;
	cJSON		*j, *m;
	int		 n = 0;

	api(token, "GET", "/v1/models", NULL, NULL, &r);
	ck_assert_msg(r.status == 200, "GET /v1/models: %ld %s", r.status,
	    r.body);
	j = hresp_json(&r);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "object")->
	    valuestring, "list");
	ck_assert_msg(models_has(j, MODEL_NAME) && models_has(j, AGENT_MODEL)
	    && models_has(j, "parley/faq"), "models list lacks %s, %s or "
	    "parley/faq: %s", MODEL_NAME, AGENT_MODEL, r.body);
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(j, "data")) {
		const cJSON	*id = cJSON_GetObjectItemCaseSensitive(m, "id");
		const cJSON	*ob = cJSON_GetObjectItemCaseSensitive(m,
				    "owned_by");
		const cJSON	*cr = cJSON_GetObjectItemCaseSensitive(m,
				    "created");

		ck_assert_msg(cJSON_IsString(id) && cJSON_IsString(ob) &&
		    cJSON_IsNumber(cr) && cr->valuedouble > 1.6e9 &&
		    strcmp(cJSON_GetObjectItemCaseSensitive(m, "object")->
		    valuestring, "model") == 0, "bad model entry in %s",
		    r.body);
		ck_assert_str_eq(ob->valuestring, strncmp(id->valuestring,
		    "agent:", 6) == 0 ? "parley-agent" : "parley");
		n++;
	}
	/* model, agent, parley/faq and the seeded agent:assistant */
	ck_assert_msg(models_has(j, "agent:assistant"), "no agent:assistant "
	    "in %s", r.body);
	ck_assert_int_eq(n, 4);
	cJSON_Delete(j);
	hresp_free(&r);
}
END_TEST

/* --- completions --------------------------------------------------------- */

START_TEST(t_completion_model)
{
	struct hresp	 r;
	cJSON		*j, *reqs;
	const cJSON	*sent;
	const cJSON	*u, *id, *ch;

	hfake_reset(&fake);
	api(token, "POST", "/v1/chat/completions", "{\"model\":\"" MODEL_NAME
	    "\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
	    "{\"role\":\"user\",\"content\":\"hello there\"}],"
	    "\"temperature\":0.5,\"max_tokens\":77}", NULL, &r);
	ck_assert_msg(r.status == 200, "completion: %ld %s", r.status, r.body);
	j = hresp_json(&r);
	id = cJSON_GetObjectItemCaseSensitive(j, "id");
	ck_assert_msg(cJSON_IsString(id) && strncmp(id->valuestring,
	    "chatcmpl-", 9) == 0, "bad id: %s", r.body);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "object")->
	    valuestring, "chat.completion");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "model")->
	    valuestring, MODEL_NAME);
	ck_assert_msg(cJSON_GetObjectItemCaseSensitive(j, "created")->
	    valuedouble > 1.6e9, "bad created: %s", r.body);
	ck_assert_msg(content_of(j) != NULL && strcmp(content_of(j),
	    "Echo: hello there") == 0, "content: %s", r.body);
	ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"),
	    0);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(ch,
	    "finish_reason")->valuestring, "stop");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(ch, "message"), "role")->
	    valuestring, "assistant");
	u = cJSON_GetObjectItemCaseSensitive(j, "usage");
	ck_assert_msg(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(u,
	    "prompt_tokens")) && cJSON_IsNumber(
	    cJSON_GetObjectItemCaseSensitive(u, "completion_tokens")) &&
	    cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(u,
	    "total_tokens")), "usage: %s", r.body);
	cJSON_Delete(j);
	hresp_free(&r);

	/* Upstream got the model's own name, the overrides, no tools. */
	reqs = hfake_log(&fake);
	ck_assert_int_eq(cJSON_GetArraySize(reqs), 1);
	sent = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(reqs, 0),
	    "body");
	ck_assert(cJSON_IsObject(sent));
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(sent, "model")->
	    valuestring, MODEL_NAME);
	ck_assert_msg(cJSON_GetObjectItemCaseSensitive(sent, "temperature")
	    != NULL && cJSON_GetObjectItemCaseSensitive(sent, "temperature")->
	    valuedouble == 0.5, "temperature not passed on");
	ck_assert_msg(cJSON_GetObjectItemCaseSensitive(sent, "tools") == NULL
	    || cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(sent,
	    "tools")) == 0, "a bare model was offered tools");
	cJSON_Delete(reqs);
}
END_TEST

START_TEST(t_completion_agent_tool)
{
	struct hresp	 r;
	cJSON		*j, *reqs;
	char		*b0, *b1;

	hfake_reset(&fake);
	hfake_queue(&fake, "[{\"tool_calls\":[{\"name\":"
	    "\"time_now\",\"arguments\":{}}]},{\"content\":\"It is tea "
	    "time.\"}]");
	api(token, "POST", "/v1/chat/completions", "{\"model\":\"" AGENT_MODEL
	    "\",\"messages\":[{\"role\":\"user\",\"content\":"
	    "\"What time is it?\"}]}", NULL, &r);
	ck_assert_msg(r.status == 200, "agent completion: %ld %s", r.status,
	    r.body);
	j = hresp_json(&r);
	ck_assert_msg(content_of(j) != NULL && strcmp(content_of(j),
	    "It is tea time.") == 0, "content: %s", r.body);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "model")->
	    valuestring, AGENT_MODEL);
	cJSON_Delete(j);
	hresp_free(&r);

	reqs = hfake_log(&fake);
	ck_assert_msg(cJSON_GetArraySize(reqs) == 2, "want 2 upstream calls "
	    "(tool round trip), got %d", cJSON_GetArraySize(reqs));
	b0 = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(reqs, 0), "body"));
	b1 = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(reqs, 1), "body"));
	ck_assert(b0 != NULL && b1 != NULL);
	ck_assert_msg(strstr(b0, "time_now") != NULL, "the agent's tool was "
	    "not offered: %.2000s", b0);
	ck_assert_msg(strstr(b0, "helpful test agent") != NULL, "the agent's "
	    "system prompt was not sent: %.2000s", b0);
	ck_assert_msg(strstr(b1, "\"role\":\"tool\"") != NULL &&
	    strstr(b1, "tool_call_id") != NULL, "the second call lacks the "
	    "tool result: %.2000s", b1);
	cJSON_free(b0);
	cJSON_free(b1);
	cJSON_Delete(reqs);
}
END_TEST

/*
 * A streamed answer from the agent after a tool call: real SSE, role
 * first, several content fragments, one finish, usage, [DONE], one id.
 */
START_TEST(t_stream)
{
	static const char	 answer[] = "The time is whatever the tool said, "
				    "streamed in pieces.";
	struct hresp		 r;
	char			*ct, *p, *xcto;
	char			 id[64] = "", text[512] = "";
	int			 n_chunks = 0, n_content = 0, n_finish = 0;
	bool			 done = false, has_role = false;
	bool			 has_usage = false;

	hfake_reset(&fake);
	hfake_queue(&fake, "[{\"tool_calls\":[{\"name\":"
	    "\"time_now\",\"arguments\":{}}]},{\"content\":\"The time is "
	    "whatever the tool said, streamed in pieces.\"}]");
	api(token, "POST", "/v1/chat/completions", "{\"model\":\"" AGENT_MODEL
	    "\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"Time?\"}]}", NULL,
	    &r);
	ck_assert_msg(r.status == 200, "stream: %ld %s", r.status, r.body);
	ct = hresp_header(&r, "Content-Type");
	ck_assert_msg(ct != NULL && strncmp(ct, "text/event-stream", 17) == 0,
	    "Content-Type: %s", ct ? ct : "none");
	free(ct);
	xcto = hresp_header(&r, "X-Content-Type-Options");
	ck_assert_msg(xcto != NULL, "the stream lacks the security headers");
	free(xcto);

	for (p = r.body; p != NULL && *p != '\0';) {
		char		*end = strstr(p, "\n\n");
		char		*ev;
		cJSON		*c;
		const cJSON	*v, *ch, *delta;

		ck_assert_msg(end != NULL, "an event is not terminated by a "
		    "blank line: %.500s", p);
		ck_assert_msg(strncmp(p, "data: ", 6) == 0, "not a data "
		    "line: %.200s", p);
		ck_assert_msg(!done, "an event after [DONE]: %.200s", p);
		ev = strndup(p + 6, (size_t)(end - p - 6));
		ck_assert(ev != NULL);
		p = end + 2;
		if (strcmp(ev, "[DONE]") == 0) {
			done = true;
			free(ev);
			continue;
		}
		c = cJSON_Parse(ev);
		ck_assert_msg(c != NULL, "chunk is not JSON: %s", ev);
		free(ev);
		ck_assert_msg(cJSON_GetObjectItemCaseSensitive(c, "error") ==
		    NULL, "an error chunk: %s", r.body);
		v = cJSON_GetObjectItemCaseSensitive(c, "id");
		ck_assert(cJSON_IsString(v));
		if (id[0] == '\0')
			snprintf(id, sizeof(id), "%s", v->valuestring);
		ck_assert_msg(strcmp(id, v->valuestring) == 0, "ids differ: "
		    "%s and %s", id, v->valuestring);
		ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(c,
		    "object")->valuestring, "chat.completion.chunk");
		ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(c,
		    "model")->valuestring, AGENT_MODEL);
		if (cJSON_GetObjectItemCaseSensitive(c, "usage") != NULL &&
		    !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c,
		    "usage"))) {
			has_usage = true;
			ck_assert_int_eq(cJSON_GetArraySize(
			    cJSON_GetObjectItemCaseSensitive(c, "choices")), 0);
		}
		ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c,
		    "choices"), 0);
		delta = cJSON_GetObjectItemCaseSensitive(ch, "delta");
		if (n_chunks == 0)
			has_role = cJSON_IsString(
			    cJSON_GetObjectItemCaseSensitive(delta, "role"));
		v = cJSON_GetObjectItemCaseSensitive(delta, "content");
		if (cJSON_IsString(v) && v->valuestring[0] != '\0') {
			n_content++;
			strncat(text, v->valuestring,
			    sizeof(text) - strlen(text) - 1);
		}
		v = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
		if (cJSON_IsString(v)) {
			n_finish++;
			ck_assert_str_eq(v->valuestring, "stop");
		}
		n_chunks++;
		cJSON_Delete(c);
	}
	ck_assert_msg(done, "no data: [DONE]: %s", r.body);
	ck_assert_msg(has_role, "the first chunk has no delta.role: %s",
	    r.body);
	ck_assert_msg(n_content >= 2, "want several content chunks, got %d: "
	    "%s", n_content, r.body);
	ck_assert_str_eq(text, answer);
	ck_assert_int_eq(n_finish, 1);
	ck_assert_msg(has_usage, "no usage chunk: %s", r.body);
	hresp_free(&r);
}
END_TEST

/*
 * The provider breaks off after text was streamed: the status is already
 * sent, so the failure arrives in-band, as an error chunk and [DONE].
 */
START_TEST(t_stream_broken_upstream)
{
	struct hresp	 r;
	const char	*err, *done;

	hfake_reset(&fake);
	hfake_queue(&fake, "{\"content\":\"This answer is "
	    "long enough to be cut off after a few pieces.\","
	    "\"drop_after_chunks\":3}");
	api(token, "POST", "/v1/chat/completions", "{\"model\":\"" MODEL_NAME
	    "\",\"stream\":true,\"messages\":[{\"role\":\"user\","
	    "\"content\":\"hi\"}]}", NULL, &r);
	ck_assert_msg(r.status == 200, "broken stream: %ld %s", r.status,
	    r.body);
	ck_assert_msg(strstr(r.body, "\"delta\":{\"content\":\"This ans")
	    != NULL, "no text before the break: %s", r.body);
	err = strstr(r.body, "data: {\"error\":{");
	done = strstr(r.body, "data: [DONE]\n\n");
	ck_assert_msg(err != NULL && done != NULL && err < done &&
	    done[14] == '\0', "want an error chunk, then [DONE] last: %s",
	    r.body);
	ck_assert_msg(strstr(r.body, "\"finish_reason\":\"stop\"") == NULL,
	    "a broken stream claims to have finished: %s", r.body);
	hresp_free(&r);
	hfake_reset(&fake);
}
END_TEST

/* --- errors -------------------------------------------------------------- */

START_TEST(t_unknown_model)
{
	struct hresp	 r;
	cJSON		*j;

	api(token, "POST", "/v1/chat/completions", "{\"model\":\"gpt-9\","
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL, &r);
	assert_oai_error(&r, 404, NULL, "unknown model");
	j = hresp_json(&r);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(j, "error"), "code")->valuestring,
	    "model_not_found");
	cJSON_Delete(j);
	hresp_free(&r);
	api(token, "POST", "/v1/chat/completions", "{\"model\":\"agent:nobody\","
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL, &r);
	assert_oai_error(&r, 404, NULL, "unknown agent");
	hresp_free(&r);
}
END_TEST

START_TEST(t_bad_requests)
{
	static const struct {
		const char	*body;
		const char	*what;
	} cases[] = {
		{ "{\"model\":", "malformed JSON" },
		{ "[1,2]", "not an object" },
		{ "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
		    "model missing" },
		{ "{\"model\":\"" MODEL_NAME "\"}", "messages missing" },
		{ "{\"model\":\"" MODEL_NAME "\",\"messages\":[]}",
		    "messages empty" },
		{ "{\"model\":\"" MODEL_NAME "\",\"messages\":\"hi\"}",
		    "messages a string" },
		{ "{\"model\":\"" MODEL_NAME "\",\"messages\":[\"hi\"]}",
		    "message a string" },
		{ "{\"model\":\"" MODEL_NAME "\",\"messages\":[{\"role\":"
		    "\"wizard\",\"content\":\"x\"}]}", "unknown role" },
		{ "{\"model\":\"" MODEL_NAME "\",\"messages\":[{\"role\":"
		    "\"user\",\"content\":42}]}", "content a number" },
		{ "{\"model\":\"" MODEL_NAME "\",\"messages\":[{\"role\":"
		    "\"user\",\"content\":[{\"text\":\"no type\"}]}]}",
		    "part without type" },
		{ "{\"model\":\"" MODEL_NAME "\",\"messages\":[{\"role\":"
		    "\"tool\",\"content\":\"x\"}]}", "tool without id" },
		{ "{\"model\":\"" MODEL_NAME "\",\"messages\":[{\"role\":"
		    "\"user\",\"content\":\"x\"}],\"temperature\":7}",
		    "temperature out of range" },
		{ "{\"model\":\"" MODEL_NAME "\",\"messages\":[{\"role\":"
		    "\"user\",\"content\":\"x\"}],\"max_tokens\":\"lots\"}",
		    "max_tokens a string" },
		{ "{\"model\":\"" MODEL_NAME "\",\"messages\":[{\"role\":"
		    "\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}",
		    "stream a string" },
	};
	struct hresp	 r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		api(token, "POST", "/v1/chat/completions", cases[i].body, NULL,
		    &r);
		assert_oai_error(&r, 400, "invalid_request_error",
		    cases[i].what);
		hresp_free(&r);
	}
	/* A content array of text and image parts is fine. */
	hfake_reset(&fake);
	api(token, "POST", "/v1/chat/completions", "{\"model\":\"" MODEL_NAME
	    "\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
	    "\"text\",\"text\":\"parts\"}]}]}", NULL, &r);
	ck_assert_msg(r.status == 200, "content parts: %ld %s", r.status,
	    r.body);
	hresp_free(&r);
}
END_TEST

START_TEST(t_upstream_500)
{
	struct hresp	 r;
	time_t		 t0 = time(NULL);

	hfake_reset(&fake);
	hfake_queue(&fake, "[{\"status\":500,\"error\":{"
	    "\"message\":\"boom\",\"type\":\"server_error\"}},{\"status\":500,"
	    "\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}},"
	    "{\"status\":500,\"error\":{\"message\":\"boom\",\"type\":"
	    "\"server_error\"}},{\"status\":500,\"error\":{\"message\":"
	    "\"boom\",\"type\":\"server_error\"}},{\"status\":500,\"error\":{"
	    "\"message\":\"boom\",\"type\":\"server_error\"}}]");
	api(token, "POST", "/v1/chat/completions", "{\"model\":\"" MODEL_NAME
	    "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL,
	    &r);
	assert_oai_error(&r, 502, "api_error", "upstream 500");
	hresp_free(&r);
	ck_assert_msg(time(NULL) - t0 < 25, "the 502 took %lds",
	    (long)(time(NULL) - t0));

	/* The same failure on a stream, before any text: a plain 502. */
	hfake_reset(&fake);
	hfake_queue(&fake, "[{\"status\":500},{\"status\":500},"
	    "{\"status\":500},{\"status\":500},{\"status\":500}]");
	api(token, "POST", "/v1/chat/completions", "{\"model\":\"" MODEL_NAME
	    "\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
	    "\"hi\"}]}", NULL, &r);
	assert_oai_error(&r, 502, "api_error", "upstream 500, streamed");
	hresp_free(&r);
	hfake_reset(&fake);
}
END_TEST

START_TEST(t_upstream_timeout)
{
	struct hresp	 r;
	time_t		 t0 = time(NULL);

	/* Slower than the 2 s timeout on every attempt. */
	hfake_reset(&fake);
	hfake_queue(&fake, "[{\"delay_ms\":4000,\"content\":"
	    "\"late\"},{\"delay_ms\":4000,\"content\":\"late\"},"
	    "{\"delay_ms\":4000,\"content\":\"late\"}]");
	api(token, "POST", "/v1/chat/completions", "{\"model\":\"" MODEL_NAME
	    "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL,
	    &r);
	assert_oai_error(&r, 504, "api_error", "upstream too slow");
	hresp_free(&r);
	ck_assert_msg(time(NULL) - t0 < 25, "the 504 took %lds",
	    (long)(time(NULL) - t0));
	hfake_reset(&fake);
}
END_TEST

/* --- organisations -------------------------------------------------------- */

START_TEST(t_other_org)
{
	struct hresp	 r;
	cJSON		*j;

	api(other_token, "POST", "/v1/chat/completions", "{\"model\":\""
	    AGENT_MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":"
	    "\"hi\"}]}", NULL, &r);
	assert_oai_error(&r, 404, NULL, "another org's agent");
	hresp_free(&r);
	api(other_token, "POST", "/v1/chat/completions", "{\"model\":\""
	    MODEL_NAME "\",\"messages\":[{\"role\":\"user\",\"content\":"
	    "\"hi\"}]}", NULL, &r);
	assert_oai_error(&r, 404, NULL, "another org's model");
	hresp_free(&r);
	api(other_token, "GET", "/v1/models", NULL, NULL, &r);
	ck_assert_msg(r.status == 200, "other org's models: %ld", r.status);
	j = hresp_json(&r);
	ck_assert_msg(!models_has(j, MODEL_NAME) && !models_has(j, AGENT_MODEL),
	    "another org sees this org's models: %s", r.body);
	ck_assert_msg(models_has(j, "parley/faq"), "the other org lacks its "
	    "own built-in model: %s", r.body);
	cJSON_Delete(j);
	hresp_free(&r);
}
END_TEST

/* --- tokens in the panel ---------------------------------------------------- */

/* Logs in as the owner and creates a token; returns it (from the page). */
static char *
panel_create_token(struct client *c, const char *name)
{
	struct hresp	 r;
	char		 form[FORM_MAX] = "";
	char		*tok;

	hlogin(c, srv.base, OWNER_EMAIL, OWNER_PW);
	form_add(form, sizeof(form), "name", name);
	/* admin: since issue 6 a member token may not use the gateway. */
	form_add(form, sizeof(form), "role", "admin");
	hpost_form(c, "/settings/tokens", "/settings/tokens", form, &r);
	ck_assert_msg(r.status == 200, "POST /settings/tokens: %ld %.2000s",
	    r.status, r.body);
	ck_assert_msg(strstr(r.body, "it will not be shown again") != NULL,
	    "no show-once warning:\n%.3000s", r.body);
	tok = html_input_value(r.body, "new_token_value");
	ck_assert_msg(tok != NULL && strncmp(tok, "prl_", 4) == 0 &&
	    strlen(tok) == 47, "no token in a read-only input:\n%.3000s",
	    r.body);
	hresp_free(&r);
	return tok;
}

START_TEST(t_panel_token_revoke)
{
	struct client	 c;
	struct hresp	 r;
	char		 form[FORM_MAX] = "", path[128];
	char		*tok, *csrf;
	int64_t		 id;

	tok = panel_create_token(&c, "revoke me");
	api(tok, "GET", "/v1/models", NULL, NULL, &r);
	ck_assert_msg(r.status == 200, "the panel's token: %ld %s", r.status,
	    r.body);
	hresp_free(&r);

	/* The list shows it, by prefix only, and used. */
	client_req(&c, "GET", "/settings/tokens", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strstr(r.body, "revoke me") != NULL, "the list lacks "
	    "the token");
	ck_assert_msg(strstr(r.body, tok) == NULL, "the list shows the "
	    "whole token again");
	ck_assert_msg(strstr(r.body, "<code>prl_") != NULL, "the list shows "
	    "no token prefix");
	csrf = html_csrf(r.body);
	ck_assert(csrf != NULL);
	hresp_free(&r);

	id = sqli("SELECT id FROM api_tokens WHERE name = 'revoke me'");
	ck_assert(id > 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM api_tokens WHERE"
	    " name = 'revoke me' AND last_used_at IS NOT NULL"), 1);
	form_add(form, sizeof(form), "_csrf", csrf);
	free(csrf);
	snprintf(path, sizeof(path), "/settings/tokens/%lld/revoke",
	    (long long)id);
	client_req(&c, "POST", path, form, NULL, NULL, &r);
	ck_assert_msg(r.status == 303, "revoke: %ld %.1000s", r.status, r.body);
	hresp_free(&r);

	api(tok, "GET", "/v1/models", NULL, NULL, &r);
	assert_oai_error(&r, 401, "authentication_error", "revoked token");
	hresp_free(&r);
	api(tok, "POST", "/v1/chat/completions", "{\"model\":\"" MODEL_NAME
	    "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL,
	    &r);
	assert_oai_error(&r, 401, "authentication_error", "revoked token");
	hresp_free(&r);

	/* Another organisation's token id: 404, nothing revoked. */
	id = sqli("SELECT id FROM api_tokens WHERE org_id = %lld LIMIT 1",
	    (long long)other_org_id);
	client_req(&c, "GET", "/settings/tokens", NULL, NULL, NULL, &r);
	csrf = html_csrf(r.body);
	hresp_free(&r);
	form[0] = '\0';
	form_add(form, sizeof(form), "_csrf", csrf);
	free(csrf);
	snprintf(path, sizeof(path), "/settings/tokens/%lld/revoke",
	    (long long)id);
	client_req(&c, "POST", path, form, NULL, NULL, &r);
	ck_assert_msg(r.status == 404, "revoking another org's token: %ld",
	    r.status);
	hresp_free(&r);
	api(other_token, "GET", "/v1/models", NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	hresp_free(&r);

	/* No CSRF token: refused. */
	client_req(&c, "POST", path, "x=1", NULL, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	hresp_free(&r);
	free(tok);
}
END_TEST

START_TEST(t_panel_tokens_owner_only)
{
	struct client	 c;
	struct hresp	 r;

	huser_create(&pg, ADMIN_EMAIL, OWNER_ORG, "admin", USER_PW);
	hlogin(&c, srv.base, ADMIN_EMAIL, USER_PW);
	client_req(&c, "GET", "/settings/tokens", NULL, NULL, NULL, &r);
	ck_assert_msg(r.status == 403, "an admin sees API tokens: %ld",
	    r.status);
	hresp_free(&r);
	client_req(&c, "GET", "/settings", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strstr(r.body, "/settings/providers") != NULL &&
	    strstr(r.body, "/settings/models") != NULL &&
	    strstr(r.body, "/settings/password") != NULL,
	    "settings index lacks its links:\n%.2000s", r.body);
	hresp_free(&r);
}
END_TEST

START_TEST(t_cli_token_errors)
{
	const char	*a1[] = { "token", "create", "--email",
			    "nobody@example.com", "--name", "x", NULL };
	const char	*a2[] = { "token", "create", "--email", OWNER_EMAIL,
			    "--name", "x", "--role", "god", NULL };
	const char	*a3[] = { "token", "create", "--email", OWNER_EMAIL,
			    NULL };
	char		*out = NULL;
	int		 st;

	st = hrun_parley(&pg, a1, NULL, &out);
	ck_assert_msg(st != 0 && strstr(out, "prl_") == NULL &&
	    strstr(out, "nobody@example.com") != NULL, "unknown user: exit "
	    "%d:\n%s", st, out);
	free(out);
	st = hrun_parley(&pg, a2, NULL, &out);
	ck_assert_msg(st != 0 && strstr(out, "prl_") == NULL, "bad role: "
	    "exit %d:\n%s", st, out);
	free(out);
	st = hrun_parley(&pg, a3, NULL, &out);
	ck_assert_msg(st != 0 && strstr(out, "usage") != NULL, "no name: exit "
	    "%d:\n%s", st, out);
	free(out);
}
END_TEST

START_TEST(t_sigterm_exits_zero)
{
	hserver_stop_clean(&srv);
}
END_TEST

static Suite *
openai_suite(void)
{
	Suite	*s = suite_create("openai_api");
	TCase	*tc = tcase_create("gateway");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_no_token);
	tcase_add_test(tc, t_wrong_token);
	tcase_add_test(tc, t_x_org_id);
	tcase_add_test(tc, t_models);
	tcase_add_test(tc, t_completion_model);
	tcase_add_test(tc, t_completion_agent_tool);
	tcase_add_test(tc, t_stream);
	tcase_add_test(tc, t_stream_broken_upstream);
	tcase_add_test(tc, t_unknown_model);
	tcase_add_test(tc, t_bad_requests);
	tcase_add_test(tc, t_upstream_500);
	tcase_add_test(tc, t_upstream_timeout);
	tcase_add_test(tc, t_other_org);
	tcase_add_test(tc, t_panel_token_revoke);
	tcase_add_test(tc, t_panel_tokens_owner_only);
	tcase_add_test(tc, t_cli_token_errors);
	tcase_add_test(tc, t_sigterm_exits_zero);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int	 failed = hrun_suites(openai_suite(), NULL);

	cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
