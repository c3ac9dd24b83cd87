/*
 * tests/integration/gateway.c: llm/gateway.c against a real PostgreSQL
 * and the fake OpenAI-compatible server (tests/fakes/fake_llm.c).
 *
 * gateway_complete() is called directly with a db_pool, as the reply pool
 * and the API do; the fake is scripted through /_fake/queue and inspected
 * through /_fake/requests, the database with hpg_sql. One cluster, one
 * fake and one organisation serve the whole run (CK_NOFORK, unchecked
 * fixture); each test resets the fake and counts only its own rows.
 *
 * The organisation has:
 *   helper  on fake-model (tools), prompt with every variable, plugins
 *           time.now and knowledge.search enabled (handoff.request not);
 *   faq     on parley/faq (the org's default), with knowledge entries;
 *   broken  on fake-model, a system prompt that is not a valid template.
 */
#include "harness/model.h"

/* Formatted SQL against this suite's cluster (tests/harness/pg.c). */
#define sqli(...)	hpg_sqlf_int(&pg, __VA_ARGS__)
#define sqls(...)	hpg_sqlf(&pg, __VA_ARGS__)

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "crypto/secret.h"
#include "db/db.h"
#include "llm/builtin.h"
#include "llm/gateway.h"
#include "model/agent.h"
#include "model/fielderr.h"
#include "model/knowledge.h"
#include "model/org.h"
#include "model/orgmodel.h"
#include "plugins/plugin.h"
#include "util/xmalloc.h"

#define ORG_NAME	"Acme & Sons"
#define CONTACT		"Ana"

static struct hpg	 pg;
static struct hfake	 fake;
static struct db_pool	*pool;
static struct secret_key *key;
static int64_t		 org_id;
static int64_t		 other_org_id;
static int64_t		 fake_model_id;
static int64_t		 helper_id;
static int64_t		 faq_id;
static int64_t		 broken_id;
static int64_t		 other_agent_id;

static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 test_setup(void);
static int64_t	 make_agent(struct db *, int64_t, const char *, const char *,
		    int64_t);
static cJSON	*user_says(const char *);
static void	 run(int64_t, const char *, int, struct gateway_result *);
static const cJSON *request_body(const cJSON *, int);
static const cJSON *tool_entry(const struct gateway_result *, int);

/* --- the tool loop ---------------------------------------------------- */

START_TEST(test_tool_loop_enabled_tool)
{
	struct gateway_result	 out;
	cJSON			*reqs;
	const cJSON		*b1, *b2, *msgs, *m, *tools, *t;
	const cJSON		*e;
	char			 date[16];
	char			*want;
	time_t			 now = time(NULL);
	struct tm		 tm;
	int			 n_tools = 0;
	bool			 has_time = false, has_search = false;
	bool			 has_tool_msg = false;

	hfake_queue(&fake,
	    "[{\"tool_calls\":[{\"id\":\"call_t1\",\"name\":\"time_now\","
	    "\"arguments\":{\"timezone\":\"Europe/Paris\"}}],"
	    "\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":3,"
	    "\"total_tokens\":14}},"
	    "{\"content\":\"It is noon in Paris.\","
	    "\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":6,"
	    "\"total_tokens\":26}}]");
	run(helper_id, "What time is it in Paris?", 0, &out);
	ck_assert_msg(out.err == GW_OK, "err %d: %s", out.err, out.error);
	ck_assert_str_eq(out.content, "It is noon in Paris.");
	ck_assert_str_eq(out.finish_reason, "stop");
	ck_assert_str_eq(out.model_name, "fake-model");
	ck_assert_int_eq(out.rounds, 2);
	ck_assert_int_eq(out.tokens_in, 31);
	ck_assert_int_eq(out.tokens_out, 9);
	ck_assert(!out.handoff);

	ck_assert_int_eq(cJSON_GetArraySize(out.tool_calls), 1);
	e = tool_entry(&out, 0);
	ck_assert_str_eq(hjstr(e, "name"), "time.now");
	ck_assert_str_eq(hjstr(cJSON_GetObjectItemCaseSensitive(e,
	    "arguments"), "timezone"), "Europe/Paris");
	ck_assert_ptr_nonnull(strstr(hjstr(e, "result"), "\"iso\""));
	ck_assert_ptr_nonnull(strstr(hjstr(e, "result"), "Europe/Paris"));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "error")));

	reqs = hfake_log(&fake);
	ck_assert_int_eq(cJSON_GetArraySize(reqs), 2);
	b1 = request_body(reqs, 0);
	b2 = request_body(reqs, 1);
	ck_assert_str_eq(hjstr(b1, "model"), "fake-model");

	/* The system prompt, rendered as plain text (no &amp;). */
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	want = xasprintf("You are Helper of " ORG_NAME ". You talk with "
	    CONTACT ". Today is %s.", date);
	msgs = cJSON_GetObjectItemCaseSensitive(b1, "messages");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(msgs, 0), "role"), "system");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(msgs, 0), "content"), want);
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(msgs, 1), "role"), "user");
	free(want);

	/* Only the enabled, available plugins are offered. */
	tools = cJSON_GetObjectItemCaseSensitive(b1, "tools");
	cJSON_ArrayForEach(t, tools) {
		const cJSON	*fn = cJSON_GetObjectItemCaseSensitive(t,
				    "function");
		const char	*name = hjstr(fn, "name");

		n_tools++;
		has_time |= strcmp(name, "time_now") == 0;
		has_search |= strcmp(name, "knowledge_search") == 0;
		ck_assert(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(fn,
		    "parameters")));
	}
	ck_assert_int_eq(n_tools, 2);
	ck_assert(has_time && has_search);

	/* The second request carries the assistant message verbatim and
	 * the tool's answer under the call's id. */
	msgs = cJSON_GetObjectItemCaseSensitive(b2, "messages");
	cJSON_ArrayForEach(m, msgs) {
		if (strcmp(hjstr(m, "role"), "tool") != 0)
			continue;
		has_tool_msg = true;
		ck_assert_str_eq(hjstr(m, "tool_call_id"), "call_t1");
		ck_assert_ptr_nonnull(strstr(hjstr(m, "content"), "\"unix\""));
	}
	ck_assert(has_tool_msg);
	m = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 2);
	ck_assert_str_eq(hjstr(m, "role"), "assistant");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(m, "tool_calls"), 0), "id"),
	    "call_t1");

	/* The record. */
	ck_assert_int_gt(out.llm_call_id, 0);
	ck_assert_int_eq(sqli("SELECT tokens_in FROM llm_calls WHERE id = "
	    "%lld", (long long)out.llm_call_id), 31);
	ck_assert_int_eq(sqli("SELECT tokens_out FROM llm_calls WHERE id "
	    "= %lld", (long long)out.llm_call_id), 9);
	ck_assert_int_eq(sqli("SELECT rounds FROM llm_calls WHERE id = "
	    "%lld", (long long)out.llm_call_id), 2);
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_calls WHERE id = "
	    "%lld AND error IS NULL AND model_name = 'fake-model' AND "
	    "agent_id = %lld AND source = 'api' AND latency_ms >= 0",
	    (long long)out.llm_call_id, (long long)helper_id), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_calls WHERE id = "
	    "%lld AND tool_calls->0->>'name' = 'time.now' AND "
	    "tool_calls->0->'arguments'->>'timezone' = 'Europe/Paris' AND "
	    "tool_calls->0->>'result' LIKE '%%iso%%' AND "
	    "jsonb_array_length(tool_calls) = 1",
	    (long long)out.llm_call_id), 1);

	cJSON_Delete(reqs);
	gateway_result_cleanup(&out);
}
END_TEST

START_TEST(test_disabled_and_unknown_tools)
{
	struct gateway_result	 out;
	int64_t			 before = sqli("SELECT count(*) FROM "
				    "handoffs");
	cJSON			*reqs;
	const cJSON		*msgs, *m;
	int			 n_errors = 0;

	hfake_queue(&fake,
	    "[{\"tool_calls\":["
	    "{\"id\":\"c1\",\"name\":\"handoff_request\","
	    "\"arguments\":{\"reason\":\"the user wants a person\"}},"
	    "{\"id\":\"c2\",\"name\":\"rm_rf\",\"arguments\":{}},"
	    "{\"id\":\"c3\",\"name\":\"whatsapp_send\","
	    "\"arguments\":{\"to\":\"+14155550123\",\"text\":\"hi\"}}]},"
	    "{\"content\":\"Done.\"}]");
	run(helper_id, "Get me a human", 0, &out);
	ck_assert_msg(out.err == GW_OK, "%s", out.error);
	ck_assert_str_eq(out.content, "Done.");
	ck_assert(!out.handoff);
	/* Nothing ran: no handoff was written. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM handoffs"), before);

	ck_assert_int_eq(cJSON_GetArraySize(out.tool_calls), 3);
	ck_assert_str_eq(hjstr(tool_entry(&out, 0), "name"), "handoff.request");
	ck_assert_str_eq(hjstr(tool_entry(&out, 0), "error"),
	    "Tool handoff.request is not enabled for this agent.");
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(
	    tool_entry(&out, 0), "result")));
	ck_assert_str_eq(hjstr(tool_entry(&out, 1), "name"), "rm_rf");
	ck_assert_str_eq(hjstr(tool_entry(&out, 1), "error"),
	    "Tool rm_rf is not enabled for this agent.");
	ck_assert_str_eq(hjstr(tool_entry(&out, 2), "name"), "whatsapp.send");
	ck_assert_str_eq(hjstr(tool_entry(&out, 2), "error"),
	    "Tool whatsapp.send is not enabled for this agent.");

	/* The model was told, once per call id. */
	reqs = hfake_log(&fake);
	ck_assert_int_eq(cJSON_GetArraySize(reqs), 2);
	msgs = cJSON_GetObjectItemCaseSensitive(request_body(reqs, 1),
	    "messages");
	cJSON_ArrayForEach(m, msgs) {
		cJSON	*c;

		if (strcmp(hjstr(m, "role"), "tool") != 0)
			continue;
		c = cJSON_Parse(hjstr(m, "content"));
		ck_assert_ptr_nonnull(strstr(hjstr(c, "error"),
		    "is not enabled for this agent"));
		cJSON_Delete(c);
		n_errors++;
	}
	ck_assert_int_eq(n_errors, 3);
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_calls WHERE id = "
	    "%lld AND tool_calls->1->>'error' LIKE 'Tool rm_rf%%'",
	    (long long)out.llm_call_id), 1);
	cJSON_Delete(reqs);
	gateway_result_cleanup(&out);
}
END_TEST

START_TEST(test_bad_json_arguments)
{
	struct gateway_result	 out;
	const cJSON		*e;

	hfake_queue(&fake,
	    "[{\"tool_calls\":[{\"id\":\"c1\",\"name\":\"time_now\","
	    "\"arguments\":\"{\\\"timezone\\\": \\\"Eur\"}]},"
	    "{\"tool_calls\":[{\"id\":\"c2\",\"name\":\"time_now\","
	    "\"arguments\":\"[1,2]\"}]},"
	    "{\"content\":\"Sorry.\"}]");
	run(helper_id, "time?", 0, &out);
	ck_assert_msg(out.err == GW_OK, "%s", out.error);
	ck_assert_int_eq(out.rounds, 3);
	ck_assert_int_eq(cJSON_GetArraySize(out.tool_calls), 2);
	for (int i = 0; i < 2; i++) {
		e = tool_entry(&out, i);
		ck_assert_str_eq(hjstr(e, "name"), "time.now");
		ck_assert_ptr_nonnull(strstr(hjstr(e, "error"),
		    "are not a JSON object"));
		/* Kept as sent, for review. */
		ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e,
		    "arguments")));
	}
	ck_assert_str_eq(hjstr(tool_entry(&out, 0), "arguments"),
	    "{\"timezone\": \"Eur");
	gateway_result_cleanup(&out);
}
END_TEST

START_TEST(test_knowledge_search_tool)
{
	struct gateway_result	 out;
	cJSON			*res;
	const cJSON		*hit;

	hfake_queue(&fake,
	    "[{\"tool_calls\":[{\"name\":\"knowledge_search\","
	    "\"arguments\":{\"query\":\"where can I park\",\"limit\":2}}]},"
	    "{\"content\":\"Behind the shop.\"}]");
	run(helper_id, "Where do I park?", 0, &out);
	ck_assert_msg(out.err == GW_OK, "%s", out.error);
	ck_assert_str_eq(hjstr(tool_entry(&out, 0), "name"),
	    "knowledge.search");
	res = cJSON_Parse(hjstr(tool_entry(&out, 0), "result"));
	hit = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(res,
	    "results"), 0);
	ck_assert_str_eq(hjstr(hit, "title"), "Parking");
	ck_assert_ptr_nonnull(strstr(hjstr(hit, "passage"), "Mill Street"));
	cJSON_Delete(res);
	gateway_result_cleanup(&out);

	/* A limit out of range is the tool's error, not a crash. */
	hfake_queue(&fake,
	    "[{\"tool_calls\":[{\"name\":\"knowledge_search\","
	    "\"arguments\":{\"query\":\"park\",\"limit\":50}}]},"
	    "{\"content\":\"ok\"}]");
	run(helper_id, "park?", 0, &out);
	ck_assert_ptr_nonnull(strstr(hjstr(tool_entry(&out, 0), "error"),
	    "limit must be"));
	gateway_result_cleanup(&out);
}
END_TEST

START_TEST(test_unknown_timezone_is_tool_error)
{
	struct gateway_result	 out;

	hfake_queue(&fake,
	    "[{\"tool_calls\":[{\"name\":\"time_now\","
	    "\"arguments\":{\"timezone\":\"Mars/Olympus_Mons\"}}]},"
	    "{\"content\":\"No idea.\"}]");
	run(helper_id, "time on mars?", 0, &out);
	ck_assert_msg(out.err == GW_OK, "%s", out.error);
	ck_assert_ptr_nonnull(strstr(hjstr(tool_entry(&out, 0), "error"),
	    "Unknown time zone"));
	gateway_result_cleanup(&out);
}
END_TEST

START_TEST(test_round_limit)
{
	struct gateway_result	 out;
	char			 spec[8192] = "[";
	cJSON			*reqs;
	int			 n_run = 0;

	for (int i = 0; i < 10; i++)
		snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec),
		    "%s{\"tool_calls\":[{\"name\":\"time_now\","
		    "\"arguments\":{}}]}", i > 0 ? "," : "");
	strncat(spec, "]", sizeof(spec) - strlen(spec) - 1);
	hfake_queue(&fake, spec);
	run(helper_id, "loop forever", 8, &out);

	/* Documented: GW_OK, finish "length", a sentence for the user, and
	 * the reason in error and in the record. */
	ck_assert_int_eq(out.err, GW_OK);
	ck_assert_int_eq(out.rounds, 8);
	ck_assert_str_eq(out.finish_reason, "length");
	ck_assert_ptr_nonnull(strstr(out.content, "too many steps"));
	ck_assert_ptr_nonnull(strstr(out.error, "Stopped after 8 rounds"));
	reqs = hfake_log(&fake);
	ck_assert_int_eq(cJSON_GetArraySize(reqs), 8);
	cJSON_Delete(reqs);
	/* Seven rounds ran their tool; the eighth's call was not run. */
	ck_assert_int_eq(cJSON_GetArraySize(out.tool_calls), 8);
	for (int i = 0; i < 8; i++)
		if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(
		    tool_entry(&out, i), "error")))
			n_run++;
	ck_assert_int_eq(n_run, 7);
	ck_assert_ptr_nonnull(strstr(hjstr(tool_entry(&out, 7), "error"),
	    "round limit"));
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_calls WHERE id = "
	    "%lld AND rounds = 8 AND error LIKE 'Stopped after 8 rounds%%'"
	    " AND jsonb_array_length(tool_calls) = 8",
	    (long long)out.llm_call_id), 1);
	gateway_result_cleanup(&out);
}
END_TEST

START_TEST(test_upstream_500)
{
	struct gateway_result	 out;
	char			*err;

	/* The client retries 5xx: every attempt fails. */
	hfake_queue(&fake,
	    "[{\"status\":500,\"error\":{\"message\":\"kaboom\","
	    "\"type\":\"server_error\"}},"
	    "{\"status\":500,\"error\":{\"message\":\"kaboom\","
	    "\"type\":\"server_error\"}},"
	    "{\"status\":500,\"error\":{\"message\":\"kaboom\","
	    "\"type\":\"server_error\"}},"
	    "{\"status\":500,\"error\":{\"message\":\"kaboom\","
	    "\"type\":\"server_error\"}},"
	    "{\"status\":500,\"error\":{\"message\":\"kaboom\","
	    "\"type\":\"server_error\"}}]");
	run(helper_id, "hello", 0, &out);
	ck_assert_int_eq(out.err, GW_UPSTREAM);
	ck_assert(out.error[0] != '\0');
	ck_assert_ptr_null(out.content);
	ck_assert_int_gt(out.llm_call_id, 0);
	err = sqls("SELECT coalesce(error, '') FROM llm_calls WHERE id = "
	    "%lld", (long long)out.llm_call_id);
	ck_assert_msg(strlen(err) > 0, "no error recorded");
	ck_assert_str_eq(err, out.error);
	free(err);
	gateway_result_cleanup(&out);
}
END_TEST

START_TEST(test_upstream_400_is_bad_request)
{
	struct gateway_result	 out;

	hfake_queue(&fake,
	    "{\"status\":400,\"error\":{\"message\":\"bad thing\","
	    "\"type\":\"invalid_request_error\"}}");
	run(helper_id, "hello", 0, &out);
	ck_assert_int_eq(out.err, GW_BAD_REQUEST);
	ck_assert(out.error[0] != '\0');
	gateway_result_cleanup(&out);
}
END_TEST

START_TEST(test_template_error_uses_raw_prompt)
{
	struct gateway_result	 out;
	cJSON			*reqs;
	const cJSON		*sys;

	hfake_queue(&fake, "{\"content\":\"hi\"}");
	run(broken_id, "hello", 0, &out);
	ck_assert_msg(out.err == GW_OK, "%s", out.error);
	reqs = hfake_log(&fake);
	sys = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
	    request_body(reqs, 0), "messages"), 0);
	ck_assert_str_eq(hjstr(sys, "content"), "Hi {{#open}} there");
	/* No tools enabled: none offered. */
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(
	    request_body(reqs, 0), "tools"));
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_calls WHERE id = "
	    "%lld AND error LIKE '%%not a valid template%%'",
	    (long long)out.llm_call_id), 1);
	cJSON_Delete(reqs);
	gateway_result_cleanup(&out);
}
END_TEST

START_TEST(test_other_org_agent_not_found)
{
	struct gateway_result	 out;

	run(other_agent_id, "hello", 0, &out);
	ck_assert_int_eq(out.err, GW_NOT_FOUND);
	ck_assert_int_eq(out.llm_call_id, 0);
	gateway_result_cleanup(&out);
}
END_TEST

/* --- parley/faq ------------------------------------------------------- */

START_TEST(test_builtin_answers_from_knowledge)
{
	struct gateway_result	 out;
	cJSON			*reqs;

	run(faq_id, "When are you open on Sunday?", 0, &out);
	ck_assert_msg(out.err == GW_OK, "%s", out.error);
	ck_assert_str_eq(out.model_name, "parley/faq");
	ck_assert_msg(strncmp(out.content, "Here is what I found about "
	    "\xe2\x80\x9cOpening hours\xe2\x80\x9d:\n\n", 40) == 0, "%s",
	    out.content);
	ck_assert_ptr_nonnull(strstr(out.content, "Sundays"));
	ck_assert_ptr_null(strstr(out.content, "<b>"));
	ck_assert(!out.handoff);
	ck_assert_int_eq(out.rounds, 1);
	ck_assert_int_eq(cJSON_GetArraySize(out.tool_calls), 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_calls WHERE id = "
	    "%lld AND model_name = 'parley/faq' AND error IS NULL",
	    (long long)out.llm_call_id), 1);
	/* No network: the fake heard nothing. */
	reqs = hfake_log(&fake);
	ck_assert_int_eq(cJSON_GetArraySize(reqs), 0);
	cJSON_Delete(reqs);
	gateway_result_cleanup(&out);

	/* A long body is quoted by its best passage, as plain text. */
	run(faq_id, "How much does delivery cost?", 0, &out);
	ck_assert_msg(out.err == GW_OK, "%s", out.error);
	ck_assert_ptr_nonnull(strstr(out.content, "\xe2\x80\x9cShipping"));
	ck_assert_ptr_nonnull(strstr(out.content, "4.90 euros"));
	ck_assert_ptr_null(strstr(out.content, "<b>"));
	ck_assert_int_lt(strlen(out.content), 800);
	gateway_result_cleanup(&out);

	/* A title word alone clears the threshold too. */
	run(faq_id, "refund?", 0, &out);
	ck_assert_msg(out.err == GW_OK, "%s", out.error);
	ck_assert_ptr_nonnull(strstr(out.content, "Refund policy"));
	gateway_result_cleanup(&out);
}
END_TEST

START_TEST(test_builtin_hands_off)
{
	struct gateway_result	 out;
	const cJSON		*e;
	int64_t			 before = sqli("SELECT count(*) FROM "
				    "handoffs");

	/* "saturday" occurs once in a body: rank 0.4, under the threshold. */
	run(faq_id, "Do you sell bicycles on Saturday?", 0, &out);
	ck_assert_msg(out.err == GW_OK, "%s", out.error);
	ck_assert_str_eq(out.content, BUILTIN_HANDED_OFF);
	ck_assert(out.handoff);
	ck_assert_int_eq(out.rounds, 2);
	ck_assert_int_eq(cJSON_GetArraySize(out.tool_calls), 1);
	e = tool_entry(&out, 0);
	ck_assert_str_eq(hjstr(e, "name"), "handoff.request");
	ck_assert_ptr_nonnull(strstr(hjstr(cJSON_GetObjectItemCaseSensitive(e,
	    "arguments"), "reason"), "Do you sell bicycles on Saturday?"));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "error")));

	ck_assert_int_eq(sqli("SELECT count(*) FROM handoffs"), before + 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM handoffs WHERE "
	    "llm_call_id = %lld AND agent_id = %lld AND org_id = %lld AND "
	    "contact = '" CONTACT "' AND reason LIKE '%%bicycles%%'",
	    (long long)out.llm_call_id, (long long)faq_id,
	    (long long)org_id), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_calls WHERE id = "
	    "%lld AND tool_calls->0->>'name' = 'handoff.request' AND "
	    "tool_calls->0->'arguments'->>'reason' LIKE '%%bicycles%%' AND "
	    "tool_calls->0->>'result' LIKE '%%requested%%'",
	    (long long)out.llm_call_id), 1);
	gateway_result_cleanup(&out);

	/* Nothing but stop words: no lexemes, no answer. */
	run(faq_id, "is it?", 0, &out);
	ck_assert_str_eq(out.content, BUILTIN_HANDED_OFF);
	gateway_result_cleanup(&out);
}
END_TEST

START_TEST(test_builtin_without_agent)
{
	struct gateway_result	 out;
	struct gateway_req	 in = { 0 };
	cJSON			*msgs = user_says("hello");

	in.pool = pool;
	in.key = key;
	in.org_id = org_id;
	in.model_id = 0;	/* the org default: parley/faq */
	in.messages = msgs;
	in.source = "api";
	gateway_complete(&in, &out);
	ck_assert_msg(out.err == GW_OK, "%s", out.error);
	ck_assert_str_eq(out.model_name, "parley/faq");
	ck_assert_str_eq(out.content, BUILTIN_NO_AGENT);
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_calls WHERE id = "
	    "%lld AND agent_id IS NULL", (long long)out.llm_call_id), 1);
	gateway_result_cleanup(&out);
	cJSON_Delete(msgs);
}
END_TEST

START_TEST(test_bad_messages)
{
	struct gateway_result	 out;
	struct gateway_req	 in = { 0 };
	cJSON			*msgs = cJSON_CreateArray();

	in.pool = pool;
	in.key = key;
	in.org_id = org_id;
	in.agent_id = helper_id;
	in.messages = msgs;
	ck_assert_int_eq(gateway_complete(&in, &out), GW_BAD_REQUEST);
	ck_assert(out.error[0] != '\0');
	gateway_result_cleanup(&out);
	cJSON_Delete(msgs);
}
END_TEST

/* --- helpers ---------------------------------------------------------- */

static int64_t
make_agent(struct db *db, int64_t org, const char *name, const char *prompt,
    int64_t model_id)
{
	struct agent_input	 in;
	struct field_errors	 errs = { 0 };
	int64_t			 id = 0;
	enum db_status		 st;

	agent_input_defaults(&in);
	in.name = name;
	in.system_prompt = prompt;
	in.model_id = model_id;
	st = agent_create(db, org, &in, &errs, &id);
	ck_assert_msg(st == DB_OK, "agent_create %s: %s (%s)", name,
	    db_status_str(st), errs.n > 0 ? errs.message[0] : "");
	return id;
}

static void
suite_setup(void)
{
	struct field_errors	 errs = { 0 };
	static const char *const plugins[] = { "time.now",
	    "knowledge.search" };
	char			 err[512];
	char			 base[128];
	struct db		*db;
	char			*dir;
	int64_t			 kid;
	int			 n;

	hpg_start(&pg);
	hfake_start(&fake, "fake_llm", NULL);
	pool = db_pool_new(pg.conninfo, 4, 5000);
	ck_assert_ptr_nonnull(pool);
	key = secret_key_generate();
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	dir = xasprintf("%s/migrations", hrepo_root());
	ck_assert_msg(db_migrate(db, dir, &n, err, sizeof(err)), "%s", err);
	free(dir);

	ck_assert_int_eq(org_create(db, ORG_NAME, &org_id), DB_OK);
	ck_assert_int_eq(orgmodel_ensure_builtin(db, org_id), DB_OK);
	snprintf(base, sizeof(base), "%s/v1", fake.base);
	fake_model_id = hmodel_create(db, key, org_id, base,
	    "sk-test-0123456789", true);

	helper_id = make_agent(db, org_id, "Helper", "You are {{agentName}} "
	    "of {{organizationName}}. You talk with {{contactName}}. Today "
	    "is {{date}}.", fake_model_id);
	ck_assert_int_eq(agent_set_plugins(db, org_id, helper_id, plugins, 2,
	    plugin_id_usable), DB_OK);
	/* agent_create refuses a broken template; older rows or direct
	 * edits may still hold one, so plant it with SQL. */
	broken_id = make_agent(db, org_id, "Broken", "Hi", fake_model_id);
	ck_assert_int_eq(db_exec(db, "UPDATE agents SET system_prompt = $2"
	    " WHERE id = $1", DB_I64(broken_id), DB_TEXT("Hi {{#open}} there"),
	    DB_END), DB_OK);
	faq_id = make_agent(db, org_id, "FAQ", "", 0);
	ck_assert_int_eq(knowledge_create(db, org_id, faq_id, "Opening hours",
	    "We are open Monday to Friday from 9:00 to 17:00 and on Saturday "
	    "from 10:00 to 14:00. We are closed on Sundays and public "
	    "holidays.", "paste", NULL, &errs, &kid), DB_OK);
	ck_assert_int_eq(knowledge_create(db, org_id, faq_id, "Refund policy",
	    "You can return any item within 30 days of purchase. Bring the "
	    "receipt. Sale items can be exchanged.", "api", NULL, &errs,
	    &kid), DB_OK);

	{
		char	 body[4096] = "";

		/* Long enough for ts_headline to pick a passage. */
		for (int i = 0; i < 20; i++)
			strncat(body, "Our couriers work in every district of "
			    "the city. ", sizeof(body) - strlen(body) - 1);
		strncat(body, "Delivery is free for orders above 50 euros; "
		    "otherwise it costs 4.90 euros.", sizeof(body) -
		    strlen(body) - 1);
		ck_assert_int_eq(knowledge_create(db, org_id, faq_id,
		    "Shipping", body, "paste", NULL, &errs, &kid), DB_OK);
		ck_assert_int_eq(knowledge_create(db, org_id, helper_id,
		    "Parking", "Free parking behind the shop, entrance from "
		    "Mill Street.", "paste", NULL, &errs, &kid), DB_OK);
	}
	ck_assert_int_eq(org_create(db, "Other", &other_org_id), DB_OK);
	ck_assert_int_eq(orgmodel_ensure_builtin(db, other_org_id), DB_OK);
	other_agent_id = make_agent(db, other_org_id, "Theirs", "", 0);
	db_release(db);
}

static void
suite_teardown(void)
{
	db_pool_free(pool);
	pool = NULL;
	secret_key_free(key);
	key = NULL;
	hfake_stop(&fake);
	hpg_destroy(&pg);
}

static void
test_setup(void)
{
	hfake_reset(&fake);
}

static cJSON *
user_says(const char *text)
{
	cJSON	*msgs = cJSON_CreateArray();
	cJSON	*m = cJSON_CreateObject();

	cJSON_AddStringToObject(m, "role", "user");
	cJSON_AddStringToObject(m, "content", text);
	cJSON_AddItemToArray(msgs, m);
	return msgs;
}

static void
run(int64_t agent_id, const char *text, int max_rounds,
    struct gateway_result *out)
{
	struct gateway_req	 in = { 0 };
	cJSON			*msgs = user_says(text);

	in.pool = pool;
	in.key = key;
	in.org_id = org_id;
	in.agent_id = agent_id;
	in.messages = msgs;
	in.contact_name = CONTACT;
	in.source = "api";
	in.max_rounds = max_rounds;
	gateway_complete(&in, out);
	cJSON_Delete(msgs);
}

static const cJSON *
request_body(const cJSON *reqs, int i)
{
	const cJSON	*b = cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetArrayItem(reqs, i), "body");

	ck_assert_msg(cJSON_IsObject(b), "request %d has no JSON body", i);
	return b;
}

static const cJSON *
tool_entry(const struct gateway_result *out, int i)
{
	const cJSON	*e = cJSON_GetArrayItem(out->tool_calls, i);

	ck_assert_msg(cJSON_IsObject(e), "no tool call %d", i);
	return e;
}

int
main(void)
{
	Suite	*s = suite_create("gateway");
	TCase	*tc = tcase_create("gateway");

	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_tool_loop_enabled_tool);
	tcase_add_test(tc, test_disabled_and_unknown_tools);
	tcase_add_test(tc, test_bad_json_arguments);
	tcase_add_test(tc, test_knowledge_search_tool);
	tcase_add_test(tc, test_unknown_timezone_is_tool_error);
	tcase_add_test(tc, test_round_limit);
	tcase_add_test(tc, test_upstream_500);
	tcase_add_test(tc, test_upstream_400_is_bad_request);
	tcase_add_test(tc, test_template_error_uses_raw_prompt);
	tcase_add_test(tc, test_other_org_agent_not_found);
	tcase_add_test(tc, test_builtin_answers_from_knowledge);
	tcase_add_test(tc, test_builtin_hands_off);
	tcase_add_test(tc, test_builtin_without_agent);
	tcase_add_test(tc, test_bad_messages);
	suite_add_tcase(s, tc);

	return hrun_suites(s, NULL) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
