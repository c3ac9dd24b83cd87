/*
 * tests/integration/mcp.c: MCP servers as organisation integrations, end
 * to end. The real server (reply pool included) on a real PostgreSQL, the
 * fake LLM and fake WhatsApp APIs, and real MCP servers made with the
 * official TypeScript SDKs (tests/mcp/server.mjs, started with node on
 * loopback): sessions, stateless, bearer, custom headers, OAuth client
 * credentials, the 2026-07-28 revision, and servers that hang, fail,
 * redirect or answer too much. The server runs with
 * PARLEY_MCP_ALLOWED_CIDRS=127.0.0.0/8, as an operator allows a private
 * range; the guard itself is checked in-process against the same servers.
 *
 * The organisation (the bootstrapped owner's) has the fake model with
 * tools, an agent "Helper" (task mode) answering a Twilio channel, and an
 * admin API token; a second organisation has its own owner and token.
 * Each test makes the MCP servers it needs through the API or the panel.
 */
#include "harness/model.h"
#include "harness/panel.h"
#include "harness/webhook.h"
#include "harness/world.h"

#define sqli(...)		hpg_sqlf_int(&fx.pg, __VA_ARGS__)
#define sqls(...)		hpg_sqlf(&fx.pg, __VA_ARGS__)

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "db/db.h"
#include "model/channel.h"
#include "plugins/mcp_client.h"
#include "util/config.h"
#include "util/str.h"
#include "util/time.h"
#include "util/xmalloc.h"

#define TW_NUMBER	"+15550002222"
#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"0123456789abcdef0123456789abcdef"
#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define OTHER_EMAIL	"other@example.com"
#define OTHER_PW	"other-password-0123456789"
#define BEARER		"static-token-0123456789"
#define API_KEY		"header-key-0123456789"
#define CC_SECRET	"cc-secret-0123456789"
#define WAIT_MS		20000
#define RESULT_ACME	"Account ACME-42: status active, plan gold"

static struct hworld	 fx;
static struct hfake	 mcp;		/* tests/mcp/server.mjs */
static char		*tok;		/* admin token, our organisation */
static char		*tok_other;	/* another organisation's */
static int64_t		 helper_id;
static int		 seq;

static const char *const secrets[] = { BEARER, API_KEY, CC_SECRET, NULL };
static char		*tf_list[512];	/* tf()'s strings, freed per test */
static int		 n_tf;

static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 test_setup(void);
static int64_t	 server_create(const char *, const char *, const char *);
static void	 enable_only(int64_t, const char *);
static cJSON	*chat(const char *);
static char	*llm_tool_message(int);
static cJSON	*llm_request(int);
static bool	 offered(const cJSON *, const char *);
static cJSON	*mcp_log(void);
static int	 mcp_count(const char *, const char *);
static char	*url_of(const char *);
static char	*tf(const char *, ...) __attribute__((format(printf, 1, 2)));
static void	 tf_free(void);
static bool	 has_tool(const cJSON *, const char *);

/* --- the API ------------------------------------------------------------ */

START_TEST(t_api_create_mask_and_url_change)
{
	struct hresp	 r;
	cJSON		*o, *list;
	char		*body, *url;
	int64_t		 id;

	url = url_of("/bearer/mcp");
	body = xasprintf("{\"name\":\"CRM\",\"url\":\"%s\",\"auth\":\"bearer\","
	    "\"secret\":\"" BEARER "\"}", url);
	o = hapi_json(fx.srv.base, tok, "POST", "/api/v1/mcp-servers", body,
	    201);
	free(body);
	id = (int64_t)cJSON_GetObjectItem(o, "id")->valuedouble;
	ck_assert_str_eq(hjstr(o, "pluginId"), tf("mcp:%lld",
	    (long long)id));
	ck_assert_str_eq(hjstr(o, "slug"), "crm");
	ck_assert_str_eq(hjstr(o, "auth"), "bearer");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "hasSecret")));
	ck_assert_str_eq(hjstr(o, "secretHint"), "st…789");
	cJSON_Delete(o);

	/* At rest: ciphertext only. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM mcp_servers WHERE id = %lld"
	    " AND position('static-token' IN encode(secret_enc, 'escape')) = 0"
	    " AND length(secret_enc) > 40", (long long)id), 1);

	/* A new URL needs the secret again (it goes only where it was
	 * entered for). */
	body = xasprintf("{\"url\":\"%s\"}", url_of("/stateless/mcp"));
	o = hapi_json(fx.srv.base, tok, "PATCH", tf(
	    "/api/v1/mcp-servers/%lld", (long long)id), body, 422);
	ck_assert_ptr_nonnull(strstr(hjstr(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(o, "error"), "fields"), "secret"),
	    "URL changed"));
	cJSON_Delete(o);
	free(body);
	ck_assert_int_eq(sqli("SELECT count(*) FROM mcp_servers WHERE id = %lld"
	    " AND url LIKE '%%/bearer/mcp'", (long long)id), 1);
	body = xasprintf("{\"url\":\"%s\",\"secret\":\"" BEARER "\"}",
	    url_of("/stateless/mcp"));
	o = hapi_json(fx.srv.base, tok, "PATCH", tf(
	    "/api/v1/mcp-servers/%lld", (long long)id), body, 200);
	ck_assert_ptr_nonnull(strstr(hjstr(o, "url"), "/stateless/mcp"));
	cJSON_Delete(o);
	free(body);

	/* Custom headers: names shown, values never. */
	body = xasprintf("{\"name\":\"Headers\",\"url\":\"%s\",\"auth\":"
	    "\"headers\",\"headers\":{\"X-Api-Key\":\"" API_KEY "\"}}",
	    url_of("/headers/mcp"));
	o = hapi_json(fx.srv.base, tok, "POST", "/api/v1/mcp-servers", body,
	    201);
	{
		const cJSON	*hn = cJSON_GetArrayItem(cJSON_GetObjectItem(o,
				    "headerNames"), 0);

		ck_assert(cJSON_IsString(hn) && str_eq(hn->valuestring,
		    "X-Api-Key"));
		ck_assert_str_eq(hjstr(o, "secretHint"), "X-Api-Key: he…789");
	}
	cJSON_Delete(o);
	free(body);

	/* Bad input: clear errors, nothing stored. */
	hapi_want(fx.srv.base, tok, "POST", "/api/v1/mcp-servers",
	    "{\"name\":\"x\",\"url\":\"ftp://h/mcp\"}", 422, &r);
	hresp_has(&r, "\"url\"", NULL);
	hresp_free(&r);
	hapi_want(fx.srv.base, tok, "POST", "/api/v1/mcp-servers",
	    "{\"name\":\"x\",\"url\":\"https://user:pw@h/mcp\"}", 422, &r);
	hresp_free(&r);
	hapi_want(fx.srv.base, tok, "POST", "/api/v1/mcp-servers",
	    "{\"name\":\"x\",\"url\":\"https://h/mcp\",\"auth\":\"headers\","
	    "\"headers\":{\"Mcp-Session-Id\":\"x\"}}", 422, &r);
	hresp_has(&r, "Parley sets", NULL);
	hresp_free(&r);
	hapi_want(fx.srv.base, tok, "POST", "/api/v1/mcp-servers",
	    "{\"name\":\"x\",\"url\":\"https://h/mcp\",\"auth\":\"bearer\"}",
	    422, &r);
	hresp_free(&r);
	hapi_want(fx.srv.base, tok, "POST", "/api/v1/mcp-servers",
	    "{\"name\":7}", 400, &r);
	hresp_free(&r);
	hapi_want(fx.srv.base, tok, "POST", "/api/v1/mcp-servers",
	    "{\"name\":\"CRM\",\"url\":\"https://h/mcp\"}", 409, &r);
	hresp_free(&r);

	list = hapi_json(fx.srv.base, tok, "GET", "/api/v1/mcp-servers", NULL,
	    200);
	ck_assert_int_ge(cJSON_GetArraySize(cJSON_GetObjectItem(list,
	    "data")), 2);
	cJSON_Delete(list);

	/* A dynamically registered OAuth client and its tokens belong to the
	 * old URL: a new one forgets them. */
	o = hapi_json(fx.srv.base, tok, "POST", "/api/v1/mcp-servers",
	    tf("{\"name\":\"Dyn\",\"url\":\"%s\",\"auth\":\"oauth_code\"}",
	    url_of("/code/mcp")), 201);
	id = (int64_t)cJSON_GetObjectItem(o, "id")->valuedouble;
	cJSON_Delete(o);
	(void)sqli("WITH u AS (UPDATE mcp_servers SET oauth_client_id = 'dyn-1',"
	    " oauth_client_registered = true, oauth_issuer = 'http://x/',"
	    " access_token_enc = '\\x00', oauth_connected_at = now()"
	    " WHERE id = %lld RETURNING 1) SELECT count(*) FROM u",
	    (long long)id);
	cJSON_Delete(hapi_json(fx.srv.base, tok, "PATCH", tf(
	    "/api/v1/mcp-servers/%lld", (long long)id), tf("{\"url\":\"%s\"}",
	    url_of("/stateless/mcp")), 200));
	ck_assert_int_eq(sqli("SELECT count(*) FROM mcp_servers WHERE id = %lld"
	    " AND oauth_client_id = '' AND NOT oauth_client_registered AND"
	    " oauth_issuer = '' AND access_token_enc IS NULL AND"
	    " oauth_connected_at IS NULL", (long long)id), 1);

	/* Audited, without the secret. */
	ck_assert_int_ge(sqli("SELECT count(*) FROM audit_log WHERE action ="
	    " 'mcp_server.updated' AND detail LIKE '%%url%%secret replaced%%'"),
	    1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE detail"
	    " LIKE '%%static-token%%' OR detail LIKE '%%header-key%%'"), 0);
}
END_TEST

START_TEST(t_test_connection_every_kind)
{
	static const struct {
		const char	*path, *auth, *extra, *version;
	} ok_cases[] = {
		{ "/stateful/mcp", "none", "", "2025-11-25" },
		{ "/stateless/mcp", "none", "", "2025-11-25" },
		{ "/bearer/mcp", "bearer", ",\"secret\":\"" BEARER "\"",
		    "2025-11-25" },
		{ "/headers/mcp", "headers",
		    ",\"headers\":{\"X-Api-Key\":\"" API_KEY "\"}", "2025-11-25" },
		{ "/cc/mcp", "oauth_client", ",\"oauthClientId\":\"cc-client\","
		    "\"secret\":\"" CC_SECRET "\"", "2025-11-25" },
		{ "/modern/mcp", "none", "", "2026-07-28" },
		{ "/modern-only/mcp", "none", "", "2026-07-28" },
	};
	static const struct {
		const char	*path, *auth, *extra, *says;
	} bad_cases[] = {
		{ "/broken/mcp", "none", "", "500" },
		{ "/bearer/mcp", "bearer", ",\"secret\":\"wrong-token-0000000\"",
		    "401" },
		{ "/redirect/mcp", "none", "", "not followed" },
		/* Last: the GET below reads its lastTest. */
		{ "/hang/mcp", "none", ",\"timeoutMs\":1500", "timeout" },
	};
	struct hresp	 r;
	cJSON		*o;
	char		 extra[512];
	int64_t		 id;

	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		snprintf(extra, sizeof(extra), "%s", ok_cases[i].extra);
		id = server_create(ok_cases[i].path, ok_cases[i].auth, extra);
		o = hapi_json(fx.srv.base, tok, "POST", tf(
		    "/api/v1/mcp-servers/%lld/test", (long long)id), NULL, 200);
		ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItem(o, "ok")),
		    "%s: %s", ok_cases[i].path, hjstr(o, "message"));
		ck_assert_str_eq(hjstr(o, "protocolVersion"),
		    ok_cases[i].version);
		ck_assert_msg(has_tool(o, "lookup_account"), "%s: no "
		    "lookup_account", ok_cases[i].path);
		cJSON_Delete(o);
	}
	/* The modern servers never saw an initialize; the legacy ones did. */
	ck_assert_int_eq(mcp_count("/modern-only/mcp", "initialize"), 0);
	ck_assert_int_ge(mcp_count("/modern-only/mcp", "server/discover"), 1);
	ck_assert_int_ge(mcp_count("/stateful/mcp", "initialize"), 1);
	/* Client credentials named the resource, with basic auth. */
	o = mcp_log();
	{
		const cJSON	*e;
		bool		 seen = false;

		cJSON_ArrayForEach(e, o)
			if (str_eq(hjstr(e, "rpc"), "client_credentials")) {
				seen = true;
				ck_assert_ptr_nonnull(strstr(hjstr(e,
				    "resource"), "/cc/mcp"));
				ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(e,
				    "basic")));
			}
		ck_assert(seen);
	}
	cJSON_Delete(o);

	/* Failures are a sentence, not a 5xx. */
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		id = server_create(bad_cases[i].path, bad_cases[i].auth,
		    bad_cases[i].extra);
		o = hapi_json(fx.srv.base, tok, "POST", tf(
		    "/api/v1/mcp-servers/%lld/test", (long long)id), NULL, 200);
		ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(o, "ok")));
		ck_assert_msg(strstr(hjstr(o, "message"), bad_cases[i].says) !=
		    NULL, "%s: %s", bad_cases[i].path, hjstr(o, "message"));
		cJSON_Delete(o);
	}
	hapi_want(fx.srv.base, tok, "GET", tf("/api/v1/mcp-servers/"
	    "%lld", (long long)id), NULL, 200, &r);
	hresp_has(&r, "\"lastTest\":{", NULL);
	hresp_free(&r);
}
END_TEST

/* --- guard rails, in-process against the same servers ------------------ */

START_TEST(t_guard_refuses_loopback_at_connect)
{
	struct config		 cfg;
	struct mcp_target	 t;
	struct mcp_session	 s;
	struct mcp_result	 res;
	cJSON			*tools = NULL;
	int64_t			 ttl;
	char			*u = url_of("/stateless/mcp");
	char			 err[128];

	memset(&t, 0, sizeof(t));
	t.url = u;
	t.timeout_ms = 5000;
	t.max_bytes = 1 << 20;
	t.cfg = NULL;		/* public addresses only */
	memset(&s, 0, sizeof(s));
	mcp_result_init(&res);
	ck_assert_int_eq(mcp_client_list_tools(&t, &s, &tools, &ttl, &res),
	    MCP_CONNECT);
	ck_assert_msg(strstr(res.message, "refused to connect to 127.0.0.1") !=
	    NULL, "%s", res.message);
	ck_assert_int_eq(mcp_count("/stateless/mcp", NULL), 0);

	/* "localhost" resolves to loopback too: refused at connect time. */
	u = tf("http://localhost:%d/stateless/mcp", mcp.port);
	t.url = u;
	ck_assert_int_eq(mcp_client_list_tools(&t, &s, &tools, &ttl, &res),
	    MCP_CONNECT);

	/* An allowed range lets it through. */
	memset(&cfg, 0, sizeof(cfg));
	ck_assert(cidr_list_parse("10.0.0.0/8, 127.0.0.1/32", cfg.mcp_allowed,
	    CIDR_LIST_MAX, &cfg.n_mcp_allowed, err, sizeof(err)));
	t.cfg = &cfg;
	u = url_of("/stateless/mcp");
	t.url = u;
	ck_assert_int_eq(mcp_client_list_tools(&t, &s, &tools, &ttl, &res),
	    MCP_OK);
	ck_assert_int_ge(cJSON_GetArraySize(tools), 6);
	cJSON_Delete(tools);
	mcp_result_cleanup(&res);
}
END_TEST

/* --- agents calling tools ------------------------------------------------ */

START_TEST(t_openai_agent_calls_mcp_tool)
{
	cJSON		*o, *req, *log;
	const cJSON	*e;
	char		*msg, *trace = NULL;
	int64_t		 id;
	bool		 called = false;

	id = server_create("/stateless/mcp", "none", "");
	enable_only(id, NULL);
	hfake_queue(&fx.llm, tf("[{\"tool_calls\":[{\"id\":\"c1\","
	    "\"name\":\"s%d_lookup_account\",\"arguments\":{\"account\":"
	    "\"ACME-42\"}}]},{\"content\":\"ACME-42 is active.\"}]", seq));
	o = chat("What is the status of ACME-42?");
	ck_assert_str_eq(hjstr(cJSON_GetObjectItem(cJSON_GetArrayItem(
	    cJSON_GetObjectItem(o, "choices"), 0), "message"), "content"),
	    "ACME-42 is active.");
	cJSON_Delete(o);

	/* The model was offered the server's tools under the prefix, and
	 * read the server's answer in the tool message. */
	req = llm_request(0);
	ck_assert(offered(req, tf("s%d_lookup_account", seq)));
	ck_assert(offered(req, tf("s%d_weather", seq)));
	cJSON_Delete(req);
	msg = llm_tool_message(1);
	ck_assert_msg(strstr(msg, RESULT_ACME) != NULL, "tool message: %s",
	    msg);
	free(msg);

	/* The server got the arguments and the caller's trace. */
	log = mcp_log();
	cJSON_ArrayForEach(e, log)
		if (str_eq(hjstr(e, "rpc"), "tools/call")) {
			called = true;
			ck_assert_str_eq(hjstr(cJSON_GetObjectItem(
			    cJSON_GetObjectItem(e, "params"), "arguments"),
			    "account"), "ACME-42");
			trace = xstrdup(hjstr(e, "traceparent"));
		}
	ck_assert(called);
	ck_assert_msg(strncmp(trace, "00-4bf92f3577b34da6a3ce929d0e0e4736-",
	    36) == 0, "traceparent %s", trace);
	free(trace);
	cJSON_Delete(log);

	/* Recorded for the review: server, tool, arguments, latency. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_calls WHERE agent_id ="
	    " %lld AND tool_calls @> '[{\"mcp\":{\"tool\":\"lookup_account\"}}]'"
	    " AND (tool_calls->0->>'latencyMs')::int >= 0", (long long)
	    helper_id), 1);
}
END_TEST

START_TEST(t_whatsapp_agent_calls_mcp_tool)
{
	struct client	 c;
	struct hresp	 r;
	cJSON		*sends;
	char		*msg;
	int64_t		 id, chat_id;

	id = server_create("/stateful/mcp", "none", "");
	enable_only(id, NULL);
	hfake_queue(&fx.llm, tf("[{\"tool_calls\":[{\"id\":\"c1\","
	    "\"name\":\"s%d_lookup_account\",\"arguments\":{\"account\":"
	    "\"ACME-42\"}}]},{\"content\":\"Your account ACME-42 is active, "
	    "plan gold.\"}]", seq));
	htwilio_text_ok(fx.srv.base, TW_SID, TW_TOKEN,
	    "SM0000000000000000000000000000mcp1", "+15557770042", TW_NUMBER,
	    "Is ACME-42 active?");
	ck_assert_msg(hwa_wait_sends(&fx.wa, true, 1, WAIT_MS), "no reply "
	    "reached WhatsApp");
	ck_assert_int_eq(hwa_sends(&fx.wa, true, &sends), 1);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(sends, 0)),
	    "Your account ACME-42 is active, plan gold.");
	cJSON_Delete(sends);
	msg = llm_tool_message(1);
	ck_assert_msg(strstr(msg, RESULT_ACME) != NULL, "tool message: %s",
	    msg);
	free(msg);
	ck_assert_int_ge(mcp_count("/stateful/mcp", "tools/call"), 1);

	/* The turn's detail shows the MCP call. */
	chat_id = sqli("SELECT chat_id FROM messages WHERE provider_message_id"
	    " = 'SM0000000000000000000000000000mcp1'");
	hlogin(&c, fx.srv.base, OWNER_EMAIL, OWNER_PW);
	hget(&c, tf("/conversations/%lld", (long long)chat_id), 200,
	    &r);
	hresp_has(&r, "class=\"mcp-server\"", "the MCP server name");
	hresp_has(&r, "<code class=\"mcp-tool\">lookup_account</code>", NULL);
	hresp_has(&r, "ACME-42", "the arguments");
	hresp_has(&r, "plan gold", "the result");
	hresp_free(&r);
}
END_TEST

START_TEST(t_tool_filter)
{
	cJSON	*req, *o;
	int64_t	 id;
	char	*body;

	id = server_create("/stateless/mcp", "none", "");
	body = xasprintf("{\"enabledPluginIds\":[\"mcp:%lld\"],\"mcpTools\":"
	    "{\"mcp:%lld\":{\"filter\":\"only\",\"tools\":[\"lookup_account\","
	    "\"weather\"]}}}", (long long)id, (long long)id);
	o = hapi_json(fx.srv.base, tok, "PUT", tf(
	    "/api/v1/agents/%lld/plugins", (long long)helper_id), body, 200);
	ck_assert_str_eq(hjstr(cJSON_GetObjectItem(cJSON_GetObjectItem(o,
	    "mcpTools"), tf("mcp:%lld", (long long)id)), "filter"), "only");
	cJSON_Delete(o);
	free(body);
	hfake_queue(&fx.llm, "{\"content\":\"ok\"}");
	cJSON_Delete(chat("hi"));
	req = llm_request(0);
	ck_assert(offered(req, tf("s%d_lookup_account", seq)));
	ck_assert(offered(req, tf("s%d_weather", seq)));
	ck_assert(!offered(req, tf("s%d_fail", seq)));
	ck_assert(!offered(req, tf("s%d_huge", seq)));
	cJSON_Delete(req);

	body = xasprintf("{\"enabledPluginIds\":[\"mcp:%lld\"],\"mcpTools\":"
	    "{\"mcp:%lld\":{\"filter\":\"except\",\"tools\":[\"fail\"]}}}",
	    (long long)id, (long long)id);
	cJSON_Delete(hapi_json(fx.srv.base, tok, "PUT", tf(
	    "/api/v1/agents/%lld/plugins", (long long)helper_id), body, 200));
	free(body);
	hfake_reset(&fx.llm);
	hfake_queue(&fx.llm, "{\"content\":\"ok\"}");
	cJSON_Delete(chat("hi"));
	req = llm_request(0);
	ck_assert(offered(req, tf("s%d_huge", seq)));
	ck_assert(!offered(req, tf("s%d_fail", seq)));
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_tool_failures_are_tool_results)
{
	cJSON	*o;
	char	*m;
	int64_t	 id;

	id = server_create("/stateless/mcp", "none", ",\"timeoutMs\":1500,"
	    "\"maxResultBytes\":65536");
	enable_only(id, NULL);
	hfake_queue(&fx.llm, tf("[{\"tool_calls\":["
	    "{\"id\":\"a\",\"name\":\"s%d_fail\",\"arguments\":{}},"
	    "{\"id\":\"b\",\"name\":\"s%d_slow\",\"arguments\":{\"ms\":5000}},"
	    "{\"id\":\"c\",\"name\":\"s%d_huge\",\"arguments\":{\"kb\":1024}},"
	    "{\"id\":\"d\",\"name\":\"s%d_chart\",\"arguments\":{}},"
	    "{\"id\":\"e\",\"name\":\"s%d_weather\",\"arguments\":{\"city\":"
	    "\"Lyon\"}}]},{\"content\":\"Sorry.\"}]", seq, seq, seq, seq, seq));
	o = chat("Try everything");
	ck_assert_str_eq(hjstr(cJSON_GetObjectItem(cJSON_GetArrayItem(
	    cJSON_GetObjectItem(o, "choices"), 0), "message"), "content"),
	    "Sorry.");
	cJSON_Delete(o);
	m = llm_tool_message(1);
	ck_assert_msg(strstr(m, "The CRM is down for maintenance.") != NULL,
	    "%s", m);
	ck_assert_msg(strstr(m, "did not answer within 1500 ms") != NULL, "%s",
	    m);
	ck_assert_msg(strstr(m, "more than 65536 bytes") != NULL, "%s", m);
	ck_assert_msg(strstr(m, "[image: image/png") != NULL, "%s", m);
	ck_assert_msg(strstr(m, "\\\"celsius\\\":21.5") != NULL ||
	    strstr(m, "celsius") != NULL, "%s", m);
	free(m);
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_calls WHERE agent_id ="
	    " %lld AND error IS NULL AND jsonb_array_length(tool_calls) = 5 AND"
	    " tool_calls->1->'mcp'->>'failure' = 'timeout'",
	    (long long)helper_id), 1);
}
END_TEST

START_TEST(t_dead_server_fails_only_its_tools)
{
	cJSON	*o, *req, *ids;
	char	*body, *m;
	int64_t	 good, hang, broken, t0;

	good = server_create("/stateless/mcp", "none", "");
	hang = server_create("/hang/mcp", "none", ",\"timeoutMs\":1500");
	broken = server_create("/broken/mcp", "none", "");
	body = xasprintf("{\"enabledPluginIds\":[\"mcp:%lld\",\"mcp:%lld\","
	    "\"mcp:%lld\",\"time.now\"]}", (long long)good, (long long)hang,
	    (long long)broken);
	ids = hapi_json(fx.srv.base, tok, "PUT", tf(
	    "/api/v1/agents/%lld/plugins", (long long)helper_id), body, 200);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(ids,
	    "enabledPluginIds")), 4);
	cJSON_Delete(ids);
	free(body);
	hfake_queue(&fx.llm, tf("[{\"tool_calls\":[{\"id\":\"a\","
	    "\"name\":\"s%d_lookup_account\",\"arguments\":{\"account\":"
	    "\"ACME-42\"}}]},{\"content\":\"done\"}]", seq - 2));
	t0 = time_mono_ms();
	o = chat("status?");
	ck_assert_msg(time_mono_ms() - t0 < 15000, "the hanging server held "
	    "the turn for %lld ms", (long long)(time_mono_ms() - t0));
	cJSON_Delete(o);
	req = llm_request(0);
	ck_assert(offered(req, tf("s%d_lookup_account", seq - 2)));
	ck_assert(offered(req, "time_now"));
	ck_assert(!offered(req, tf("s%d_lookup_account", seq - 1)));
	ck_assert(!offered(req, tf("s%d_lookup_account", seq)));
	cJSON_Delete(req);
	m = llm_tool_message(1);
	ck_assert(strstr(m, RESULT_ACME) != NULL);
	free(m);
}
END_TEST

START_TEST(t_session_restart_and_list_changed)
{
	cJSON		*req, *log;
	const cJSON	*e;
	char		*m, *sid1 = NULL, *sid2 = NULL;
	const char	*args[] = { NULL };
	int64_t		 id;
	int		 port = mcp.port;

	id = server_create("/stateful/mcp", "none", "");
	enable_only(id, NULL);
	/* A tool that adds one: the notification arrives on the call's own
	 * stream, and the next turn lists again without waiting. */
	hfake_queue(&fx.llm, tf("[{\"tool_calls\":[{\"id\":\"a\","
	    "\"name\":\"s%d_add_tool\",\"arguments\":{}}]},{\"content\":"
	    "\"added\"}]", seq));
	cJSON_Delete(chat("add"));
	hfake_reset(&fx.llm);
	hfake_queue(&fx.llm, "{\"content\":\"ok\"}");
	cJSON_Delete(chat("again"));
	req = llm_request(0);
	ck_assert(offered(req, tf("s%d_late_tool", seq)));
	cJSON_Delete(req);

	/* The server restarts and forgets every session. */
	log = mcp_log();
	cJSON_ArrayForEach(e, log)
		if (str_eq(hjstr(e, "path"), "/stateful/mcp") &&
		    str_eq(hjstr(e, "rpc"), "tools/call")) {
			free(sid1);
			sid1 = xstrdup(hjstr(e, "sessionId"));
		}
	cJSON_Delete(log);
	ck_assert(sid1 != NULL && sid1[0] != '\0');
	hfake_stop(&mcp);
	mcp.port = port;
	hnode_start(&mcp, "tests/mcp/server.mjs", args);
	hfake_reset(&fx.llm);
	hfake_queue(&fx.llm, tf("[{\"tool_calls\":[{\"id\":\"a\","
	    "\"name\":\"s%d_lookup_account\",\"arguments\":{\"account\":"
	    "\"ACME-42\"}}]},{\"content\":\"still here\"}]", seq));
	cJSON_Delete(chat("status after restart"));
	m = llm_tool_message(1);
	ck_assert_msg(strstr(m, RESULT_ACME) != NULL, "%s", m);
	free(m);
	/* The restarted server answered the old session 404 (logged with
	 * it), Parley initialised again and repeated the call. */
	log = mcp_log();
	{
		int	 n_calls = 0;

		cJSON_ArrayForEach(e, log)
			if (str_eq(hjstr(e, "rpc"), "tools/call")) {
				if (n_calls++ == 0)
					ck_assert_str_eq(hjstr(e, "sessionId"),
					    sid1);
				free(sid2);
				sid2 = xstrdup(hjstr(e, "sessionId"));
			}
		ck_assert_int_eq(n_calls, 2);
	}
	cJSON_Delete(log);
	ck_assert_int_ge(mcp_count("/stateful/mcp", "initialize"), 1);
	ck_assert_ptr_nonnull(sid2);
	ck_assert_str_ne(sid1, sid2);
	free(sid1);
	free(sid2);
}
END_TEST

START_TEST(t_modern_server_headers_and_meta)
{
	cJSON		*log;
	const cJSON	*e, *meta;
	char		*m;
	int64_t		 id;
	bool		 seen = false;

	id = server_create("/modern-only/mcp", "none", "");
	enable_only(id, NULL);
	hfake_queue(&fx.llm, tf("[{\"tool_calls\":[{\"id\":\"a\","
	    "\"name\":\"s%d_lookup_account\",\"arguments\":{\"account\":"
	    "\"ACME-42\"}}]},{\"content\":\"ok\"}]", seq));
	cJSON_Delete(chat("modern"));
	m = llm_tool_message(1);
	ck_assert_msg(strstr(m, RESULT_ACME) != NULL, "%s", m);
	free(m);
	log = mcp_log();
	cJSON_ArrayForEach(e, log) {
		if (!str_eq(hjstr(e, "rpc"), "tools/call"))
			continue;
		seen = true;
		ck_assert_str_eq(hjstr(e, "protocolVersion"), "2026-07-28");
		ck_assert_str_eq(hjstr(e, "mcpMethod"), "tools/call");
		ck_assert_str_eq(hjstr(e, "mcpName"), "lookup_account");
		ck_assert(cJSON_IsNull(cJSON_GetObjectItem(e, "sessionId")));
		meta = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "params"),
		    "_meta");
		ck_assert_str_eq(hjstr(meta,
		    "io.modelcontextprotocol/protocolVersion"), "2026-07-28");
		ck_assert_str_eq(hjstr(cJSON_GetObjectItem(meta,
		    "io.modelcontextprotocol/clientInfo"), "name"), "parley");
		ck_assert_int_eq((int)strlen(hjstr(meta, "traceparent")), 55);
	}
	ck_assert(seen);
	cJSON_Delete(log);
	ck_assert_int_eq(mcp_count("/modern-only/mcp", "initialize"), 0);
}
END_TEST

START_TEST(t_oauth_client_credentials_refetch)
{
	char	*m;
	int64_t	 id;

	id = server_create("/cc/mcp", "oauth_client", ",\"oauthClientId\":"
	    "\"cc-client\",\"secret\":\"" CC_SECRET "\"");
	enable_only(id, NULL);
	hfake_queue(&fx.llm, tf("[{\"tool_calls\":[{\"id\":\"a\","
	    "\"name\":\"s%d_lookup_account\",\"arguments\":{\"account\":"
	    "\"ACME-42\"}}]},{\"content\":\"ok\"}]", seq));
	cJSON_Delete(chat("cc"));
	m = llm_tool_message(1);
	ck_assert_msg(strstr(m, RESULT_ACME) != NULL, "%s", m);
	free(m);
	ck_assert_int_eq(sqli("SELECT count(*) FROM mcp_servers WHERE id = %lld"
	    " AND access_token_enc IS NOT NULL AND position('at-' IN"
	    " encode(access_token_enc, 'escape')) = 0", (long long)id), 1);

	/* The server forgets every token: a 401, a new token, the call. */
	hfake_post(&mcp, "/_ctl/expire-tokens", "{}");
	hfake_reset(&fx.llm);
	hfake_queue(&fx.llm, tf("[{\"tool_calls\":[{\"id\":\"a\","
	    "\"name\":\"s%d_lookup_account\",\"arguments\":{\"account\":"
	    "\"ACME-42\"}}]},{\"content\":\"ok\"}]", seq));
	cJSON_Delete(chat("cc again"));
	m = llm_tool_message(1);
	ck_assert_msg(strstr(m, RESULT_ACME) != NULL, "%s", m);
	free(m);
	ck_assert_int_ge(mcp_count("/token", "client_credentials"), 2);
}
END_TEST

/* --- organisations, panel, secrets -------------------------------------- */

START_TEST(t_other_org_sees_404)
{
	struct client	 c;
	struct hresp	 r;
	int64_t		 id, other_agent;
	char		*path, *body;

	id = server_create("/stateless/mcp", "none", "");
	path = xasprintf("/api/v1/mcp-servers/%lld", (long long)id);
	hapi_want(fx.srv.base, tok_other, "GET", path, NULL, 404, &r);
	hresp_free(&r);
	hapi_want(fx.srv.base, tok_other, "PATCH", path, "{\"name\":\"x\"}",
	    404, &r);
	hresp_free(&r);
	hapi_want(fx.srv.base, tok_other, "POST", tf("%s/test", path),
	    NULL, 404, &r);
	hresp_free(&r);
	hapi_want(fx.srv.base, tok_other, "DELETE", path, NULL, 404, &r);
	hresp_free(&r);
	{
		cJSON	*l = hapi_json(fx.srv.base, tok_other, "GET",
			    "/api/v1/mcp-servers", NULL, 200);

		ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(l,
		    "data")), 0);
		cJSON_Delete(l);
	}
	/* Its agent cannot enable our server. */
	{
		cJSON	*a = hapi_json(fx.srv.base, tok_other, "POST",
			    "/api/v1/agents", "{\"name\":\"Theirs\"}", 201);

		other_agent = (int64_t)cJSON_GetObjectItem(a, "id")->valuedouble;
		cJSON_Delete(a);
	}
	body = xasprintf("{\"enabledPluginIds\":[\"mcp:%lld\"]}",
	    (long long)id);
	hapi_want(fx.srv.base, tok_other, "PUT", tf(
	    "/api/v1/agents/%lld/plugins", (long long)other_agent), body, 422,
	    &r);
	hresp_free(&r);
	free(body);
	ck_assert_int_eq(sqli("SELECT count(*) FROM agent_mcp_servers WHERE"
	    " server_id = %lld AND agent_id = %lld", (long long)id,
	    (long long)other_agent), 0);
	/* The panel too. */
	hlogin(&c, fx.srv.base, OTHER_EMAIL, OTHER_PW);
	hget(&c, tf("/plugins/mcp/%lld", (long long)id), 404, &r);
	hresp_free(&r);
	hpost_form(&c, "/plugins", tf("/plugins/mcp/%lld/test",
	    (long long)id), "", &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	free(path);
}
END_TEST

START_TEST(t_panel_add_edit_enable)
{
	struct client	 c;
	struct hresp	 r;
	char		 f[4096] = "";
	char		*url = url_of("/headers/mcp");
	int64_t		 id;

	hlogin(&c, fx.srv.base, OWNER_EMAIL, OWNER_PW);
	hget(&c, "/plugins", 200, &r);
	hresp_has(&r, "Add MCP server", NULL);
	hresp_free(&r);
	/* A missing header value: the form again, the secret not echoed. */
	form_add(f, sizeof(f), "name", "Panel CRM");
	form_add(f, sizeof(f), "url", url);
	form_add(f, sizeof(f), "auth", "headers");
	form_add(f, sizeof(f), "headers", "X-Api-Key " API_KEY);
	hpost_form(&c, "/plugins/mcp/new", "/plugins/mcp", f, &r);
	ck_assert_int_eq(r.status, 422);
	hresp_has(&r, "err-headers", NULL);
	hresp_free(&r);
	f[0] = '\0';
	form_add(f, sizeof(f), "name", "Panel CRM");
	form_add(f, sizeof(f), "url", url);
	form_add(f, sizeof(f), "auth", "headers");
	form_add(f, sizeof(f), "headers", "X-Api-Key: " API_KEY);
	form_add(f, sizeof(f), "timeout_ms", "30000");
	form_add(f, sizeof(f), "max_result_bytes", "262144");
	hpost_form(&c, "/plugins/mcp/new", "/plugins/mcp", f, &r);
	id = hlocation_id(&r, "/plugins/mcp/");
	hresp_free(&r);
	hget(&c, tf("/plugins/mcp/%lld", (long long)id), 200, &r);
	hresp_has(&r, "<code>X-Api-Key</code>", NULL);
	hresp_free(&r);
	hpost_form(&c, tf("/plugins/mcp/%lld", (long long)id),
	    tf("/plugins/mcp/%lld/test", (long long)id), "", &r);
	ck_assert_int_eq(r.status, 200);
	hresp_has(&r, "Connected (protocol 2025-11-25", NULL);
	hresp_has(&r, "<code>lookup_account</code>", NULL);
	hresp_free(&r);

	/* A new URL without the headers again: refused, nothing changed. */
	f[0] = '\0';
	form_add(f, sizeof(f), "name", "Panel CRM");
	form_add(f, sizeof(f), "url", url_of("/stateless/mcp"));
	form_add(f, sizeof(f), "auth", "headers");
	hpost_form(&c, tf("/plugins/mcp/%lld", (long long)id),
	    tf("/plugins/mcp/%lld", (long long)id), f, &r);
	ck_assert_int_eq(r.status, 422);
	hresp_has(&r, "The URL changed", NULL);
	hresp_free(&r);

	/* The agent's page enables it with a filter. */
	hget(&c, tf("/agents/%lld", (long long)helper_id), 200, &r);
	hresp_has(&r, "Panel CRM", NULL);
	hresp_free(&r);
	f[0] = '\0';
	form_add(f, sizeof(f), "enabled", "1");
	form_add(f, sizeof(f), "filter", "only");
	form_add(f, sizeof(f), "tools", "lookup_account\nweather");
	hpost_form(&c, tf("/agents/%lld", (long long)helper_id),
	    tf("/agents/%lld/mcp/%lld", (long long)helper_id,
	    (long long)id), f, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM agent_mcp_servers WHERE"
	    " agent_id = %lld AND server_id = %lld AND tool_filter = 'only'"
	    " AND tools = ARRAY['lookup_account','weather']",
	    (long long)helper_id, (long long)id), 1);
	ck_assert_int_ge(sqli("SELECT count(*) FROM audit_log WHERE action ="
	    " 'plugin.toggled' AND detail LIKE '+mcp:%lld%%'", (long long)id),
	    1);

	hpost_form(&c, tf("/plugins/mcp/%lld", (long long)id),
	    tf("/plugins/mcp/%lld/delete", (long long)id), "", &r);
	hresp_has(&r, "Delete the MCP server", NULL);
	hresp_free(&r);
	hpost_form(&c, tf("/plugins/mcp/%lld", (long long)id),
	    tf("/plugins/mcp/%lld/delete", (long long)id),
	    "confirm=yes", &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM agent_mcp_servers WHERE"
	    " server_id = %lld", (long long)id), 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE action ="
	    " 'mcp_server.deleted' AND target_id = %lld", (long long)id), 1);
}
END_TEST

/* `parley key rotate` re-seals every MCP secret: tokens, headers, client
 * secrets and the OAuth access token still work afterwards. */
START_TEST(t_key_rotation_reseals_mcp_secrets)
{
	const char	*args[] = { "key", "rotate", NULL };
	cJSON		*o;
	char		*before, *after, *tok_before, *tok_after, *out = NULL;
	int64_t		 hdr, cc;

	hdr = server_create("/headers/mcp", "headers", ",\"headers\":"
	    "{\"X-Api-Key\":\"" API_KEY "\"}");
	cc = server_create("/cc/mcp", "oauth_client", ",\"oauthClientId\":"
	    "\"cc-client\",\"secret\":\"" CC_SECRET "\"");
	cJSON_Delete(hapi_json(fx.srv.base, tok, "POST", tf(
	    "/api/v1/mcp-servers/%lld/test", (long long)cc), NULL, 200));
	before = sqls("SELECT encode(secret_enc, 'hex') FROM mcp_servers"
	    " WHERE id = %lld", (long long)hdr);
	tok_before = sqls("SELECT encode(access_token_enc, 'hex') FROM"
	    " mcp_servers WHERE id = %lld", (long long)cc);
	ck_assert(tok_before[0] != '\0');

	hserver_stop_clean(&fx.srv);
	ck_assert_int_eq(hrun_parley(&fx.pg, args, NULL, &out), 0);
	hassert_none("parley key", "rotate", out, secrets);
	free(out);
	hserver_start(&fx.srv, &fx.pg, fx.env.v);

	after = sqls("SELECT encode(secret_enc, 'hex') FROM mcp_servers"
	    " WHERE id = %lld", (long long)hdr);
	tok_after = sqls("SELECT encode(access_token_enc, 'hex') FROM"
	    " mcp_servers WHERE id = %lld", (long long)cc);
	ck_assert_str_ne(before, after);
	ck_assert_str_ne(tok_before, tok_after);
	for (int i = 0; i < 2; i++) {
		o = hapi_json(fx.srv.base, tok, "POST", tf(
		    "/api/v1/mcp-servers/%lld/test", (long long)(i == 0 ? hdr :
		    cc)), NULL, 200);
		ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItem(o, "ok")), "%s",
		    hjstr(o, "message"));
		cJSON_Delete(o);
	}
	free(before);
	free(after);
	free(tok_before);
	free(tok_after);
}
END_TEST

START_TEST(t_secrets_never_in_logs)
{
	for (int i = 0; secrets[i] != NULL; i++)
		ck_assert_msg(!hserver_log_contains(&fx.srv, secrets[i]),
		    "the server log holds a secret");
	ck_assert(!hserver_log_contains(&fx.srv, "Bearer at-"));
}
END_TEST

/* --- fixture ----------------------------------------------------------- */

static void
suite_setup(void)
{
	struct channel_input	 cin;
	const char		*wa_args[] = { "--twilio-token", TW_TOKEN,
				    NULL };
	const char		*args[] = { NULL };
	struct db		*db;
	int64_t			 model_id;

	hworld_start(&fx, NULL, wa_args);
	/* The operator allows loopback for MCP (the test servers' home). */
	(void)hserver_stop(&fx.srv);
	hvars_set(&fx.env, "PARLEY_MCP_ALLOWED_CIDRS=127.0.0.0/8,::1/128");
	hserver_start(&fx.srv, &fx.pg, fx.env.v);
	hnode_start(&mcp, "tests/mcp/server.mjs", args);
	model_id = hworld_model(&fx, "sk-test-0123456789", true);
	db = db_acquire(fx.pool);
	ck_assert_ptr_nonnull(db);
	helper_id = hagent_create(db, fx.org_id, "Helper", "task", model_id);
	cin = (struct channel_input){ .kind = "twilio", .name = "Twilio",
	    .status = "connected", .phone_number = TW_NUMBER,
	    .twilio_account_sid = TW_SID, .twilio_auth_token = TW_TOKEN,
	    .default_agent_id = helper_id };
	(void)hchannel_create(db, fx.key, fx.org_id, &cin);
	db_release(db);
	tok = htoken_create(&fx.pg, OWNER_EMAIL, "mcp-admin", "admin");
	huser_create(&fx.pg, OTHER_EMAIL, "Other Org", "owner", OTHER_PW);
	tok_other = htoken_create(&fx.pg, OTHER_EMAIL, "other", "admin");
	hreq_forbid(secrets);
}

static void
suite_teardown(void)
{
	hfake_stop(&mcp);
	hserver_stop_clean(&fx.srv);
	hworld_stop(&fx);
	free(tok);
	free(tok_other);
}

static void
test_teardown(void)
{
	tf_free();
}

static void
test_setup(void)
{
	hworld_reset(&fx);
	hfake_post(&mcp, "/_ctl/reset", "{}");
	/* Nothing enabled from an earlier test. */
	(void)sqli("WITH d AS (DELETE FROM agent_mcp_servers RETURNING 1)"
	    " SELECT count(*) FROM d");
}

/* --- helpers ----------------------------------------------------------------- */

/* A formatted string freed after the test (argument-sized strings). */
static char *
tf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(n, 0);
	s = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	(void)vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	ck_assert_int_lt(n_tf, (int)(sizeof(tf_list) / sizeof(tf_list[0])));
	tf_list[n_tf++] = s;
	return s;
}

static void
tf_free(void)
{
	while (n_tf > 0)
		free(tf_list[--n_tf]);
}

/* True when a test answer lists a tool of that name. */
static bool
has_tool(const cJSON *o, const char *name)
{
	const cJSON	*t;

	cJSON_ArrayForEach(t, cJSON_GetObjectItem(o, "tools"))
		if (str_eq(hjstr(t, "name"), name))
			return true;
	return false;
}

static char *
url_of(const char *path)
{
	return tf("%s%s", mcp.base, path);
}

/* A server at path with auth and extra JSON members (",\"k\":v"), named
 * and prefixed "s<seq>"; its id. */
static int64_t
server_create(const char *path, const char *auth, const char *extra)
{
	cJSON	*o;
	char	*body;
	int64_t	 id;

	seq++;
	body = xasprintf("{\"name\":\"Server %d\",\"slug\":\"s%d\",\"url\":"
	    "\"%s%s\",\"auth\":\"%s\"%s}", seq, seq, mcp.base, path, auth,
	    extra);
	o = hapi_json(fx.srv.base, tok, "POST", "/api/v1/mcp-servers", body,
	    201);
	id = (int64_t)cJSON_GetObjectItem(o, "id")->valuedouble;
	cJSON_Delete(o);
	free(body);
	return id;
}

/* Helper uses only server id (and first-party plugin fp when given). */
static void
enable_only(int64_t id, const char *fp)
{
	char	*body = xasprintf("{\"enabledPluginIds\":[\"mcp:%lld\"%s%s%s]}",
		    (long long)id, fp != NULL ? ",\"" : "", fp != NULL ? fp :
		    "", fp != NULL ? "\"" : "");

	cJSON_Delete(hapi_json(fx.srv.base, tok, "PUT", tf(
	    "/api/v1/agents/%lld/plugins", (long long)helper_id), body, 200));
	free(body);
}

/* POST /v1/chat/completions to agent:helper with a W3C trace. */
static cJSON *
chat(const char *text)
{
	struct hresp	 r;
	struct client	 c;
	cJSON		*o;
	char		*body = xasprintf("{\"model\":\"agent:helper\","
			    "\"messages\":[{\"role\":\"user\",\"content\":"
			    "\"%s\"}]}", text);
	char		*auth = xasprintf("Authorization: Bearer %s", tok);
	const char	*h[] = { auth, "traceparent: 00-4bf92f3577b34da6a3ce929"
			    "d0e0e4736-00f067aa0ba902b7-01", NULL };

	client_init(&c, fx.srv.base);
	hreq(&c, "POST", "/v1/chat/completions", body, "application/json", h,
	    &r);
	ck_assert_msg(r.status == 200, "chat: %ld %s", r.status, r.body);
	o = hresp_json(&r);
	hresp_free(&r);
	free(body);
	free(auth);
	return o;
}

/* The body of the fake LLM's i-th request (a copy). */
static cJSON *
llm_request(int i)
{
	cJSON	*log = hfake_log(&fx.llm);
	cJSON	*b = cJSON_Duplicate(cJSON_GetObjectItem(cJSON_GetArrayItem(log,
		    i), "body"), true);

	ck_assert_msg(b != NULL, "the fake LLM has no request %d", i);
	cJSON_Delete(log);
	return b;
}

/* Every tool message the i-th request carried, joined (malloc'd). */
static char *
llm_tool_message(int i)
{
	cJSON		*b = llm_request(i);
	const cJSON	*m;
	char		*out = xstrdup("");

	cJSON_ArrayForEach(m, cJSON_GetObjectItem(b, "messages"))
		if (str_eq(hjstr(m, "role"), "tool")) {
			char	*n = xasprintf("%s\n%s", out, hjstr(m,
				    "content"));

			free(out);
			out = n;
		}
	cJSON_Delete(b);
	return out;
}

static bool
offered(const cJSON *req, const char *wire)
{
	const cJSON	*t;

	cJSON_ArrayForEach(t, cJSON_GetObjectItem(req, "tools"))
		if (str_eq(hjstr(cJSON_GetObjectItem(t, "function"), "name"),
		    wire))
			return true;
	return false;
}

static cJSON *
mcp_log(void)
{
	char	*s = hfake_get(&mcp, "/_ctl/log");
	cJSON	*l = cJSON_Parse(s);

	ck_assert(cJSON_IsArray(l));
	free(s);
	return l;
}

/* Requests the MCP servers logged for path (rpc NULL: any). */
static int
mcp_count(const char *path, const char *rpc)
{
	cJSON		*l = mcp_log();
	const cJSON	*e;
	int		 n = 0;

	cJSON_ArrayForEach(e, l)
		if (str_eq(hjstr(e, "path"), path) && (rpc == NULL ||
		    str_eq(hjstr(e, "rpc"), rpc)))
			n++;
	cJSON_Delete(l);
	return n;
}

static Suite *
mcp_suite(void)
{
	Suite	*s = suite_create("mcp");
	TCase	*tc = tcase_create("mcp");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_add_test(tc, t_api_create_mask_and_url_change);
	tcase_add_test(tc, t_test_connection_every_kind);
	tcase_add_test(tc, t_guard_refuses_loopback_at_connect);
	tcase_add_test(tc, t_openai_agent_calls_mcp_tool);
	tcase_add_test(tc, t_whatsapp_agent_calls_mcp_tool);
	tcase_add_test(tc, t_tool_filter);
	tcase_add_test(tc, t_tool_failures_are_tool_results);
	tcase_add_test(tc, t_dead_server_fails_only_its_tools);
	tcase_add_test(tc, t_session_restart_and_list_changed);
	tcase_add_test(tc, t_modern_server_headers_and_meta);
	tcase_add_test(tc, t_oauth_client_credentials_refetch);
	tcase_add_test(tc, t_other_org_sees_404);
	tcase_add_test(tc, t_panel_add_edit_enable);
	tcase_add_test(tc, t_secrets_never_in_logs);
	tcase_add_test(tc, t_key_rotation_reseals_mcp_secrets);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int	 failed = hrun_suites(mcp_suite(), NULL);

	hpg_finish(&fx.pg, "mcp");
	return failed == 0 ? 0 : 1;
}
