/*
 * llm_client: llm/client.c against the fake OpenAI-compatible server
 * (tests/fakes/fake_llm.c), over real HTTP: plain and streamed
 * completions, tool calls, usage, retries with backoff (429, 5xx, a
 * dropped connection), timeouts, auth failures, malformed answers, a
 * refused connection and the model list.
 *
 * One fake for the suite, started by an unchecked fixture (CK_NOFORK: the
 * tests share it and run in the order added). Every test resets the fake
 * first, so none depends on another. No database and no parley server are
 * needed: the client is called in-process. The last test stops the fake
 * and checks it exits 0, which under ASan also means no leak in the fake.
 */
#include "harness/harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "llm/client.h"
#include "util/buf.h"
#include "util/httpc.h"

#define API_KEY		"sk-test-0123456789"

/* Collects streamed deltas. */
struct deltas {
	struct buf	 text;
	int		 n;
};

static void	 llm_setup(void);
static void	 llm_teardown(void);
static void	 endpoint(struct llm_endpoint *ep);
static cJSON	*chat_request(const char *user_text);
static void	 on_delta(void *ctx, const char *text, size_t len);
static const cJSON *message_of(const struct llm_result *r);
static Suite	*llm_suite(void);

static struct hfake	 fake;
static char		 base_v1[128];

/* --- fixture and helpers ------------------------------------------------ */

static void
llm_setup(void)
{
	static const char	*args[] = { "--api-key", API_KEY, NULL };

	(void)httpc_global_init();
	hfake_start(&fake, "fake_llm", args);
	snprintf(base_v1, sizeof(base_v1), "%s/v1", fake.base);
}

static void
llm_teardown(void)
{
	if (fake.pid > 0)
		hfake_stop(&fake);
	httpc_global_cleanup();
}

static void
endpoint(struct llm_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->base_url = base_v1;
	ep->api_key = API_KEY;
	ep->timeout_ms = 10000;
}

/* {"model":"fake-model","messages":[system, user]} (caller deletes). */
static cJSON *
chat_request(const char *user_text)
{
	cJSON	*req = cJSON_CreateObject();
	cJSON	*msgs, *m;

	cJSON_AddStringToObject(req, "model", "fake-model");
	msgs = cJSON_AddArrayToObject(req, "messages");
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "system");
	cJSON_AddStringToObject(m, "content", "You are terse.");
	cJSON_AddItemToArray(msgs, m);
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "user");
	cJSON_AddStringToObject(m, "content", user_text);
	cJSON_AddItemToArray(msgs, m);
	return req;
}

static void
on_delta(void *ctx, const char *text, size_t len)
{
	struct deltas	*d = ctx;

	ck_assert_uint_gt(len, 0);
	buf_append(&d->text, text, len);
	d->n++;
}

/* choices[0].message of a result, failing the test when absent. */
static const cJSON *
message_of(const struct llm_result *r)
{
	const cJSON	*choices, *msg;

	ck_assert_ptr_nonnull(r->response);
	choices = cJSON_GetObjectItemCaseSensitive(r->response, "choices");
	ck_assert(cJSON_IsArray(choices));
	msg = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(choices, 0),
	    "message");
	ck_assert_msg(cJSON_IsObject(msg), "no choices[0].message");
	return msg;
}

/* --- tests -------------------------------------------------------------- */

START_TEST(t_plain_completion)
{
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	cJSON			*req = chat_request("hello there world");
	const cJSON		*msg, *usage;

	hfake_reset(&fake);
	endpoint(&ep);
	ck_assert_int_eq(llm_chat(&ep, req, NULL, NULL, &r), LLM_OK);
	ck_assert_int_eq(r.attempts, 1);
	ck_assert_int_eq(r.http_status, 200);
	ck_assert_str_eq(r.error, "");
	msg = message_of(&r);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(msg,
	    "content")->valuestring, "Echo: hello there world");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r.response,
	    "choices"), 0), "finish_reason")->valuestring, "stop");
	usage = cJSON_GetObjectItemCaseSensitive(r.response, "usage");
	/* "You are terse." + "hello there world"; "Echo: hello there world" */
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(usage,
	    "prompt_tokens")->valueint, 6);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(usage,
	    "completion_tokens")->valueint, 4);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(req,
	    "stream")) || cJSON_GetObjectItemCaseSensitive(req,
	    "stream") == NULL);	/* the caller's request is untouched */
	llm_result_cleanup(&r);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_request_on_the_wire)
{
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	cJSON			*req = chat_request("wire check");
	cJSON			*log;
	const cJSON		*e, *body;

	hfake_reset(&fake);
	endpoint(&ep);
	cJSON_AddTrueToObject(req, "stream");	/* ignored without on_delta */
	ck_assert_int_eq(llm_chat(&ep, req, NULL, NULL, &r), LLM_OK);
	log = hfake_log(&fake);
	ck_assert_int_eq(cJSON_GetArraySize(log), 1);
	e = cJSON_GetArrayItem(log, 0);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(e,
	    "path")->valuestring, "/v1/chat/completions");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(e,
	    "authorization")->valuestring, "Bearer " API_KEY);
	body = cJSON_GetObjectItemCaseSensitive(e, "body");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(body,
	    "model")->valuestring, "fake-model");
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
	    body, "messages")), 2);
	ck_assert(!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body,
	    "stream")));
	/* The caller's object still says what the caller wrote. */
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req,
	    "stream")));
	cJSON_Delete(log);
	llm_result_cleanup(&r);

	/* No key: no Authorization header at all (the fake then says 401). */
	hfake_reset(&fake);
	ep.api_key = NULL;
	ck_assert_int_eq(llm_chat(&ep, req, NULL, NULL, &r), LLM_AUTH);
	log = hfake_log(&fake);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(log, 0), "authorization")));
	cJSON_Delete(log);
	llm_result_cleanup(&r);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_tool_calls)
{
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	cJSON			*req = chat_request("what time is it?");
	cJSON			*args;
	const cJSON		*msg, *tcs, *tc, *fn;

	hfake_reset(&fake);
	hfake_queue(&fake, "{\"content\":null,\"tool_calls\":"
	    "[{\"id\":\"call_abc\",\"name\":\"time_now\",\"arguments\":"
	    "{\"tz\":\"Europe/Paris\"}}]}");
	endpoint(&ep);
	ck_assert_int_eq(llm_chat(&ep, req, NULL, NULL, &r), LLM_OK);
	msg = message_of(&r);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(msg,
	    "content")));
	tcs = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
	ck_assert_int_eq(cJSON_GetArraySize(tcs), 1);
	tc = cJSON_GetArrayItem(tcs, 0);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(tc,
	    "id")->valuestring, "call_abc");
	fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(fn,
	    "name")->valuestring, "time_now");
	args = cJSON_Parse(cJSON_GetObjectItemCaseSensitive(fn,
	    "arguments")->valuestring);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(args,
	    "tz")->valuestring, "Europe/Paris");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r.response,
	    "choices"), 0), "finish_reason")->valuestring, "tool_calls");
	cJSON_Delete(args);
	llm_result_cleanup(&r);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_stream_content)
{
	static const char	*text = "The quick brown fox jumps over the "
				    "lazy dog, then naps in the sun.";
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	struct deltas		 d = { .n = 0 };
	cJSON			*req = chat_request("tell me a story");
	cJSON			*log, *spec = cJSON_CreateObject();
	const cJSON		*msg, *usage, *body;
	char			*s;

	hfake_reset(&fake);
	cJSON_AddStringToObject(spec, "content", text);
	cJSON_AddNumberToObject(spec, "chunk_delay_ms", 5);
	s = cJSON_PrintUnformatted(spec);
	hfake_queue(&fake, s);
	free(s);
	cJSON_Delete(spec);

	buf_init(&d.text, 0);
	endpoint(&ep);
	ck_assert_int_eq(llm_chat(&ep, req, on_delta, &d, &r), LLM_OK);
	ck_assert_int_ge(d.n, 5);
	ck_assert_str_eq(buf_str(&d.text), text);
	msg = message_of(&r);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(msg,
	    "content")->valuestring, text);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(msg,
	    "tool_calls"));
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.response,
	    "object")->valuestring, "chat.completion");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.response,
	    "model")->valuestring, "fake-model");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r.response,
	    "choices"), 0), "finish_reason")->valuestring, "stop");
	usage = cJSON_GetObjectItemCaseSensitive(r.response, "usage");
	ck_assert_msg(cJSON_IsObject(usage), "usage missing from a stream");
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(usage,
	    "completion_tokens")->valueint, 14);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(usage,
	    "total_tokens")->valueint, 14 + 7);

	log = hfake_log(&fake);
	body = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(log, 0),
	    "body");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body,
	    "stream")));
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(body, "stream_options"),
	    "include_usage")));
	/* The caller's request was not modified. */
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(req, "stream"));
	cJSON_Delete(log);
	buf_cleanup(&d.text);
	llm_result_cleanup(&r);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_stream_tool_calls)
{
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	struct deltas		 d = { .n = 0 };
	cJSON			*req = chat_request("time in two places");
	cJSON			*args;
	const cJSON		*msg, *tcs, *fn;

	hfake_reset(&fake);
	hfake_queue(&fake, "{\"content\":null,\"tool_calls\":["
	    "{\"id\":\"call_one\",\"name\":\"time_now\",\"arguments\":"
	    "{\"tz\":\"America/Argentina/Buenos_Aires\",\"format\":\"24h\"}},"
	    "{\"id\":\"call_two\",\"name\":\"time_now\",\"arguments\":"
	    "\"{\\\"tz\\\":\\\"Asia/Kolkata\\\"}\"}],"
	    "\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":22,"
	    "\"total_tokens\":33}}");
	buf_init(&d.text, 0);
	endpoint(&ep);
	ck_assert_int_eq(llm_chat(&ep, req, on_delta, &d, &r), LLM_OK);
	ck_assert_int_eq(d.n, 0);
	msg = message_of(&r);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(msg,
	    "content")));
	tcs = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
	ck_assert_int_eq(cJSON_GetArraySize(tcs), 2);

	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(tcs, 0), "id")->valuestring, "call_one");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(tcs, 0), "type")->valuestring, "function");
	fn = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tcs, 0),
	    "function");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(fn,
	    "name")->valuestring, "time_now");
	args = cJSON_Parse(cJSON_GetObjectItemCaseSensitive(fn,
	    "arguments")->valuestring);
	ck_assert_msg(args != NULL, "arguments not reassembled: %s",
	    cJSON_GetObjectItemCaseSensitive(fn, "arguments")->valuestring);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(args,
	    "tz")->valuestring, "America/Argentina/Buenos_Aires");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(args,
	    "format")->valuestring, "24h");
	cJSON_Delete(args);

	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(tcs, 1), "id")->valuestring, "call_two");
	fn = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tcs, 1),
	    "function");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(fn,
	    "arguments")->valuestring, "{\"tz\":\"Asia/Kolkata\"}");

	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r.response,
	    "choices"), 0), "finish_reason")->valuestring, "tool_calls");
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(r.response, "usage"),
	    "total_tokens")->valueint, 33);
	buf_cleanup(&d.text);
	llm_result_cleanup(&r);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_stream_wire_variants)
{
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	struct deltas		 d = { .n = 0 };
	cJSON			*req = chat_request("variants");
	cJSON			*spec = cJSON_CreateObject();
	char			*s;

	/*
	 * CRLF line ends, a comment line, "data:" without a space, a
	 * two-line data field (joined with "\n": valid JSON), and a
	 * last event without its blank line.
	 */
	hfake_reset(&fake);
	cJSON_AddStringToObject(spec, "raw",
	    ": keep-alive\r\n\r\n"
	    "data:{\"id\":\"c1\",\"created\":1,\"model\":\"m\",\"choices\":"
	    "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":"
	    "\"Hi\"},\"finish_reason\":null}]}\r\n\r\n"
	    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":\r\n"
	    "data: {\"content\":\" there\"},\"finish_reason\":\"stop\"}]}\r\n"
	    "\r\n"
	    "data: [DONE]");
	s = cJSON_PrintUnformatted(spec);
	hfake_queue(&fake, s);
	free(s);
	cJSON_Delete(spec);
	buf_init(&d.text, 0);
	endpoint(&ep);
	ck_assert_int_eq(llm_chat(&ep, req, on_delta, &d, &r), LLM_OK);
	ck_assert_str_eq(buf_str(&d.text), "Hi there");
	ck_assert_int_eq(d.n, 2);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(message_of(&r),
	    "content")->valuestring, "Hi there");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.response,
	    "id")->valuestring, "c1");
	llm_result_cleanup(&r);

	/* A server that ignores "stream": one delta with the whole text. */
	hfake_reset(&fake);
	buf_reset(&d.text);
	d.n = 0;
	hfake_queue(&fake, "{\"content_type\":"
	    "\"application/json\",\"raw\":\"{\\\"choices\\\":[{\\\"index\\\":"
	    "0,\\\"message\\\":{\\\"role\\\":\\\"assistant\\\",\\\"content\\\":"
	    "\\\"all at once\\\"},\\\"finish_reason\\\":\\\"stop\\\"}]}\"}");
	ck_assert_int_eq(llm_chat(&ep, req, on_delta, &d, &r), LLM_OK);
	ck_assert_int_eq(d.n, 1);
	ck_assert_str_eq(buf_str(&d.text), "all at once");
	llm_result_cleanup(&r);

	/* An error object inside a 200 stream, before any text: retried. */
	hfake_reset(&fake);
	buf_reset(&d.text);
	d.n = 0;
	hfake_queue(&fake, "[{\"raw\":\"data: {\\\"error\\\":"
	    "{\\\"message\\\":\\\"model crashed\\\"}}\\n\\n\"},"
	    "{\"raw\":\"data: {\\\"error\\\":{\\\"message\\\":\\\"model "
	    "crashed\\\"}}\\n\\n\"},{\"raw\":\"data: {\\\"error\\\":"
	    "{\\\"message\\\":\\\"model crashed\\\"}}\\n\\n\"}]");
	ck_assert_int_eq(llm_chat(&ep, req, on_delta, &d, &r), LLM_UPSTREAM);
	ck_assert_int_eq(r.attempts, 3);
	ck_assert_msg(strstr(r.error, "model crashed") != NULL, "%s",
	    r.error);
	ck_assert_int_eq(d.n, 0);
	llm_result_cleanup(&r);
	buf_cleanup(&d.text);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_retry_429_then_ok)
{
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	cJSON			*req = chat_request("again");

	hfake_reset(&fake);
	hfake_queue(&fake, "[{\"status\":429,\"error\":"
	    "{\"message\":\"Rate limit reached\",\"type\":\"requests\"}},"
	    "{\"content\":\"made it\"}]");
	endpoint(&ep);
	ck_assert_int_eq(llm_chat(&ep, req, NULL, NULL, &r), LLM_OK);
	ck_assert_int_eq(r.attempts, 2);
	ck_assert_int_eq(r.http_status, 200);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(message_of(&r),
	    "content")->valuestring, "made it");
	ck_assert_int_eq(hfake_log_count(&fake), 2);
	llm_result_cleanup(&r);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_retry_after_honoured)
{
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	cJSON			*req = chat_request("patience");

	hfake_reset(&fake);
	hfake_queue(&fake, "[{\"status\":429,\"headers\":"
	    "{\"Retry-After\":\"1\"},\"error\":{\"message\":\"wait\"}},"
	    "{\"content\":\"ok\"}]");
	endpoint(&ep);
	ck_assert_int_eq(llm_chat(&ep, req, NULL, NULL, &r), LLM_OK);
	ck_assert_int_eq(r.attempts, 2);
	ck_assert_int_ge(r.latency_ms, 950);
	ck_assert_int_lt(r.latency_ms, 5000);
	llm_result_cleanup(&r);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_rate_limited_gives_up)
{
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	cJSON			*req = chat_request("flood");

	hfake_reset(&fake);
	hfake_queue(&fake, "[{\"status\":429},{\"status\":429}]");
	endpoint(&ep);
	ep.max_retries = 1;
	ck_assert_int_eq(llm_chat(&ep, req, NULL, NULL, &r),
	    LLM_RATE_LIMITED);
	ck_assert_int_eq(r.attempts, 2);
	ck_assert_int_eq(r.http_status, 429);
	ck_assert_ptr_null(r.response);
	llm_result_cleanup(&r);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_5xx_exhausts_retries)
{
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	cJSON			*req = chat_request("are you there?");

	hfake_reset(&fake);
	hfake_queue(&fake, "[{\"status\":500,\"error\":"
	    "{\"message\":\"The engine is currently overloaded\","
	    "\"type\":\"server_error\"}},{\"status\":502},{\"status\":500,"
	    "\"error\":{\"message\":\"The engine is currently overloaded\","
	    "\"type\":\"server_error\"}},{\"content\":\"never reached\"}]");
	endpoint(&ep);
	ck_assert_int_eq(llm_chat(&ep, req, NULL, NULL, &r), LLM_UPSTREAM);
	ck_assert_int_eq(r.attempts, 3);
	ck_assert_int_eq(r.http_status, 500);
	ck_assert_ptr_null(r.response);
	ck_assert_msg(strstr(r.error, "The engine is currently overloaded") !=
	    NULL, "upstream message missing: %s", r.error);
	ck_assert_msg(strstr(r.error, "500") != NULL, "status missing: %s",
	    r.error);
	ck_assert_msg(strstr(r.error, API_KEY) == NULL, "key in error");
	ck_assert_int_lt(r.latency_ms, 10000);
	ck_assert_int_eq(hfake_log_count(&fake), 3);
	ck_assert_int_eq(hfake_queued(&fake), 1);
	llm_result_cleanup(&r);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_timeout)
{
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	cJSON			*req = chat_request("slow");

	hfake_reset(&fake);
	hfake_queue(&fake, "[{\"delay_ms\":3000},"
	    "{\"delay_ms\":3000},{\"delay_ms\":3000}]");
	endpoint(&ep);
	ep.timeout_ms = 300;
	ck_assert_int_eq(llm_chat(&ep, req, NULL, NULL, &r), LLM_TIMEOUT);
	ck_assert_int_eq(r.attempts, 3);
	ck_assert_int_eq(r.http_status, 0);
	ck_assert_int_ge(r.latency_ms, 900);
	/* 3 × 300 ms plus two backoffs of at most 0.5 s and 1 s. */
	ck_assert_int_lt(r.latency_ms, 4000);
	ck_assert_msg(strstr(r.error, "300 ms") != NULL, "%s", r.error);
	llm_result_cleanup(&r);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_auth_not_retried)
{
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	cJSON			*req = chat_request("let me in");

	hfake_reset(&fake);
	endpoint(&ep);
	ep.api_key = "sk-wrong";
	ck_assert_int_eq(llm_chat(&ep, req, NULL, NULL, &r), LLM_AUTH);
	ck_assert_int_eq(r.attempts, 1);
	ck_assert_int_eq(r.http_status, 401);
	ck_assert_msg(strstr(r.error, "401") != NULL &&
	    strstr(r.error, "Incorrect API key provided") != NULL, "%s",
	    r.error);
	ck_assert_msg(strstr(r.error, "sk-wrong") == NULL, "key in error");
	ck_assert_int_eq(hfake_log_count(&fake), 1);
	llm_result_cleanup(&r);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_bad_request_not_retried)
{
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	cJSON			*req = chat_request("too long");

	hfake_reset(&fake);
	hfake_queue(&fake, "{\"status\":400,\"error\":"
	    "{\"message\":\"This model's maximum context length is 8 "
	    "tokens\",\"type\":\"invalid_request_error\",\"code\":"
	    "\"context_length_exceeded\"}}");
	endpoint(&ep);
	ck_assert_int_eq(llm_chat(&ep, req, NULL, NULL, &r), LLM_BAD_REQUEST);
	ck_assert_int_eq(r.attempts, 1);
	ck_assert_msg(strstr(r.error, "maximum context length") != NULL,
	    "%s", r.error);
	llm_result_cleanup(&r);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_malformed_response)
{
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	cJSON			*req = chat_request("garbage please");
	struct deltas		 d = { .n = 0 };

	hfake_reset(&fake);
	hfake_queue(&fake, "[{\"raw\":\"{not json\"},"
	    "{\"raw\":\"{\\\"choices\\\":[]}\"},"
	    "{\"raw\":\"{\\\"choices\\\":[{\\\"index\\\":0}]}\"},"
	    "{\"raw\":\"data: {broken\\n\\n\"},"
	    "{\"raw\":\"data: {\\\"choices\\\":[]}\\n\\n\"}]");
	endpoint(&ep);
	ck_assert_int_eq(llm_chat(&ep, req, NULL, NULL, &r),
	    LLM_BAD_RESPONSE);
	ck_assert_int_eq(r.attempts, 1);
	ck_assert_ptr_null(r.response);
	llm_result_cleanup(&r);
	ck_assert_int_eq(llm_chat(&ep, req, NULL, NULL, &r),
	    LLM_BAD_RESPONSE);
	llm_result_cleanup(&r);
	ck_assert_int_eq(llm_chat(&ep, req, NULL, NULL, &r),
	    LLM_BAD_RESPONSE);
	ck_assert_msg(strstr(r.error, "message") != NULL, "%s", r.error);
	llm_result_cleanup(&r);

	/* Streams: a chunk that is not JSON, a stream without [DONE]. */
	buf_init(&d.text, 0);
	ck_assert_int_eq(llm_chat(&ep, req, on_delta, &d, &r),
	    LLM_BAD_RESPONSE);
	llm_result_cleanup(&r);
	ck_assert_int_eq(llm_chat(&ep, req, on_delta, &d, &r),
	    LLM_BAD_RESPONSE);
	ck_assert_int_eq(r.attempts, 1);
	llm_result_cleanup(&r);
	ck_assert_int_eq(hfake_log_count(&fake), 5);
	buf_cleanup(&d.text);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_dropped_connection_retried)
{
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	cJSON			*req = chat_request("hello");

	hfake_reset(&fake);
	hfake_queue(&fake, "[{\"drop\":true},"
	    "{\"content\":\"second time lucky\"}]");
	endpoint(&ep);
	ck_assert_int_eq(llm_chat(&ep, req, NULL, NULL, &r), LLM_OK);
	ck_assert_int_eq(r.attempts, 2);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(message_of(&r),
	    "content")->valuestring, "second time lucky");
	llm_result_cleanup(&r);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_stream_never_retried_after_delta)
{
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	struct deltas		 d = { .n = 0 };
	cJSON			*req = chat_request("hello");

	hfake_reset(&fake);
	/* Role chunk + 2 content chunks, then the connection breaks. */
	hfake_queue(&fake, "[{\"content\":\"Hello there, my "
	    "friend, how are you today?\",\"drop_after_chunks\":3},"
	    "{\"content\":\"must not be fetched\"}]");
	buf_init(&d.text, 0);
	endpoint(&ep);
	ck_assert_int_ne(llm_chat(&ep, req, on_delta, &d, &r), LLM_OK);
	ck_assert_int_eq(r.attempts, 1);
	ck_assert_int_eq(d.n, 2);
	ck_assert_str_eq(buf_str(&d.text), "Hello there, my ");
	ck_assert_int_eq(hfake_queued(&fake), 1);
	llm_result_cleanup(&r);

	/* Before any delta a broken stream is retried. */
	hfake_reset(&fake);
	buf_reset(&d.text);
	d.n = 0;
	hfake_queue(&fake, "[{\"content\":\"Hello again\","
	    "\"drop_after_chunks\":1},{\"content\":\"Hello again\"}]");
	ck_assert_int_eq(llm_chat(&ep, req, on_delta, &d, &r), LLM_OK);
	ck_assert_int_eq(r.attempts, 2);
	ck_assert_str_eq(buf_str(&d.text), "Hello again");
	llm_result_cleanup(&r);
	buf_cleanup(&d.text);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_stream_error_status)
{
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	struct deltas		 d = { .n = 0 };
	cJSON			*req = chat_request("hello");

	hfake_reset(&fake);
	hfake_queue(&fake, "[{\"status\":503,\"error\":"
	    "{\"message\":\"Back soon\"}},{\"content\":\"streamed after "
	    "a 503\"}]");
	buf_init(&d.text, 0);
	endpoint(&ep);
	ck_assert_int_eq(llm_chat(&ep, req, on_delta, &d, &r), LLM_OK);
	ck_assert_int_eq(r.attempts, 2);
	ck_assert_str_eq(buf_str(&d.text), "streamed after a 503");
	llm_result_cleanup(&r);

	hfake_reset(&fake);
	hfake_queue(&fake, "{\"status\":401}");
	ck_assert_int_eq(llm_chat(&ep, req, on_delta, &d, &r), LLM_AUTH);
	ck_assert_msg(strstr(r.error, "401") != NULL, "%s", r.error);
	llm_result_cleanup(&r);
	buf_cleanup(&d.text);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_connection_refused)
{
	struct llm_endpoint	 ep;
	struct llm_result	 r;
	cJSON			*req = chat_request("anyone?");

	/* Port 1 on loopback: nothing listens there. */
	memset(&ep, 0, sizeof(ep));
	ep.base_url = "http://127.0.0.1:1/v1/";
	ep.api_key = API_KEY;
	ck_assert_int_eq(llm_chat(&ep, req, NULL, NULL, &r), LLM_NETWORK);
	ck_assert_int_lt(r.latency_ms, 2000);
	ck_assert_int_eq(r.http_status, 0);
	ck_assert_msg(r.error[0] != '\0' && strstr(r.error, API_KEY) == NULL,
	    "%s", r.error);
	llm_result_cleanup(&r);
	cJSON_Delete(req);
}
END_TEST

START_TEST(t_models)
{
	struct llm_endpoint	 ep;
	cJSON			*models = NULL, *log;
	char			 err[512];

	hfake_reset(&fake);
	endpoint(&ep);
	ck_assert_int_eq(llm_list_models(&ep, &models, err, sizeof(err)),
	    LLM_OK);
	ck_assert_int_eq(cJSON_GetArraySize(models), 2);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(models, 0), "id")->valuestring, "fake-model");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(models, 1), "id")->valuestring, "fake-tools");
	cJSON_Delete(models);
	log = hfake_log(&fake);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(log, 0), "path")->valuestring, "/v1/models");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(log, 0), "authorization")->valuestring,
	    "Bearer " API_KEY);
	cJSON_Delete(log);

	ep.api_key = "sk-nope";
	models = NULL;
	ck_assert_int_eq(llm_list_models(&ep, &models, err, sizeof(err)),
	    LLM_AUTH);
	ck_assert_ptr_null(models);
	ck_assert_msg(strstr(err, "401") != NULL, "%s", err);
}
END_TEST

START_TEST(t_fake_stops_cleanly)
{
	hfake_stop(&fake);
	ck_assert_int_eq(fake.pid, 0);
}
END_TEST

static Suite *
llm_suite(void)
{
	Suite	*s = suite_create("llm_client");
	TCase	*tc = tcase_create("llm_client");

	tcase_add_unchecked_fixture(tc, llm_setup, llm_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_plain_completion);
	tcase_add_test(tc, t_request_on_the_wire);
	tcase_add_test(tc, t_tool_calls);
	tcase_add_test(tc, t_stream_content);
	tcase_add_test(tc, t_stream_tool_calls);
	tcase_add_test(tc, t_stream_wire_variants);
	tcase_add_test(tc, t_retry_429_then_ok);
	tcase_add_test(tc, t_retry_after_honoured);
	tcase_add_test(tc, t_rate_limited_gives_up);
	tcase_add_test(tc, t_5xx_exhausts_retries);
	tcase_add_test(tc, t_timeout);
	tcase_add_test(tc, t_auth_not_retried);
	tcase_add_test(tc, t_bad_request_not_retried);
	tcase_add_test(tc, t_malformed_response);
	tcase_add_test(tc, t_dropped_connection_retried);
	tcase_add_test(tc, t_stream_never_retried_after_delta);
	tcase_add_test(tc, t_stream_error_status);
	tcase_add_test(tc, t_connection_refused);
	tcase_add_test(tc, t_models);
	tcase_add_test(tc, t_fake_stops_cleanly);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(llm_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
