/*
 * secrets: issue 10, defects 3 and 4, over real HTTP against the real
 * binary, a throwaway PostgreSQL cluster and the fakes.
 *
 * Defect 3: a stored key goes only where it was entered for. Changing a
 * provider's base URL without the key again is a 422 in the panel and the
 * API (with the sentence next to the field / in the JSON error), leaves
 * the row as it was, and so a second fake_llm standing in for an
 * attacker's host never receives a request; with the key again (or its
 * removal) the change is made and audited with the old and new hosts,
 * never the key. A base URL cannot carry a secret itself.
 *
 * Defect 4: both fakes run with --echo-auth, so every error answer quotes
 * the credentials it was sent. The stored key of a provider (a wrong one,
 * so the fake answers 401) must reach neither the /v1 502 (plain and
 * streamed), nor llm_calls.error, nor the Test connection page, nor a
 * transcription's error; a channel's Twilio credentials, echoed by a
 * refused send, must reach neither the stored message's error_text nor
 * the conversation page. The server log is searched too, and every panel
 * and API answer of this file is checked for the secrets (hreq_forbid).
 *
 * One suite, one world (tests/harness/world.h), tests in order.
 */
#include "harness/model.h"
#include "harness/panel.h"
#include "harness/webhook.h"
#include "harness/world.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "db/db.h"
#include "llm/transcribe.h"
#include "model/channel.h"
#include "util/httpc.h"

#define sqli(...)		hpg_sqlf_int(&w.pg, __VA_ARGS__)
#define sqls(...)		hpg_sqlf(&w.pg, __VA_ARGS__)
#define api(...)		hapi(w.srv.base, __VA_ARGS__)

#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define LLM_KEY		"sk-live-right-0123456789abcdef"	/* the fake's */
#define WRONG_KEY	"sk-echoed-wrong-9876543210zyxw"	/* stored, 401 */
#define FIRST_KEY	"sk-dest-first-00112233445566"
#define SECOND_KEY	"sk-dest-second-66554433221100"
#define ATTACKER_KEY	"sk-attacker-own-key-000000"
#define TW_NUMBER	"+15550004242"
#define TW_SID		"ACfeedfacefeedfacefeedfacefeedface"
#define TW_TOKEN	"secret-twilio-token-0123456789ab"
#define TW_PAIR_B64	"QUNmZWVkZmFjZWZlZWRmYWNlZmVlZGZhY2VmZWVkZmFjZTpzZWNy" \
			"ZXQtdHdpbGlvLXRva2VuLTAxMjM0NTY3ODlhYg"
#define FORM_MAX	8192
#define WAIT_MS		20000

static void	 setup(void);
static void	 teardown(void);
static int64_t	 json_id(const struct hresp *);
static int64_t	 audit_mark(void);
static char	*audit_detail(int64_t, const char *, int64_t, const char *);
static void	 assert_clean(const char *, const char *);
static Suite	*secrets_suite(void);

static struct hworld	 w;
static char		*token;		/* owner's admin token */
static int64_t		 right_model;	/* on the fake LLM with LLM_KEY */

/* None of these may appear in any answer of this file (hreq_forbid),
 * the database's texts, or the server log. */
static const char *const secrets[] = { LLM_KEY, WRONG_KEY, FIRST_KEY,
	SECOND_KEY, TW_SID, TW_TOKEN, TW_PAIR_B64, NULL };

/* --- fixture and helpers ------------------------------------------------ */

static void
setup(void)
{
	static const char	*llm_args[] = { "--api-key", LLM_KEY,
				    "--echo-auth", NULL };
	static const char	*wa_args[] = { "--twilio-token", TW_TOKEN,
				    "--echo-auth", NULL };

	(void)httpc_global_init();
	hreq_forbid(secrets);
	hworld_start(&w, llm_args, wa_args);
	token = htoken_create(&w.pg, OWNER_EMAIL, "secrets", "admin");
	right_model = hworld_model(&w, LLM_KEY, false);
}

static void
teardown(void)
{
	hworld_stop(&w);
	free(token);
	token = NULL;
	httpc_global_cleanup();
}

/* The "id" of a JSON answer. */
static int64_t
json_id(const struct hresp *r)
{
	cJSON	*j = hresp_json(r);
	int64_t	 id;

	id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "id"));
	cJSON_Delete(j);
	ck_assert_msg(id > 0, "no id in %s", r->body);
	return id;
}

/* The newest audit_log id: entries after it are the next action's. */
static int64_t
audit_mark(void)
{
	return sqli("SELECT coalesce(max(id), 0) FROM audit_log");
}

/*
 * The detail of the one entry after mark with action on target id by an
 * actor LIKE actor (malloc'd); fails the test unless there is exactly one.
 */
static char *
audit_detail(int64_t mark, const char *action, int64_t id, const char *actor)
{
	char		 q[512];

	snprintf(q, sizeof(q), "id > %lld AND action = '%s' AND target_type ="
	    " 'provider' AND target_id = %lld AND actor LIKE '%s'",
	    (long long)mark, action, (long long)id, actor);
	ck_assert_msg(sqli("SELECT count(*) FROM audit_log WHERE %s", q) == 1,
	    "want one %s entry for provider %lld by %s", action, (long long)id,
	    actor);
	return sqls("SELECT detail FROM audit_log WHERE %s", q);
}

/* text (what names it) holds a redaction and no secret. */
static void
assert_clean(const char *what, const char *text)
{
	ck_assert_msg(text != NULL && strstr(text, "[redacted]") != NULL,
	    "%s: no redaction (did the fake echo?): %s", what,
	    text != NULL ? text : "(null)");
	hassert_none(what, "", text, secrets);
}

/* --- defect 3: a key goes only where it was entered for ---------------- */

START_TEST(t_panel_new_base_url_needs_key)
{
	struct client	 c;
	struct hresp	 r;
	char		 f[FORM_MAX] = "", path[96];
	char		*enc, *enc2, *v;
	int64_t		 id, mark;

	hlogin(&c, w.srv.base, OWNER_EMAIL, OWNER_PW);
	form_add(f, sizeof(f), "name", "Destination");
	form_add(f, sizeof(f), "base_url", "https://a.example/v1");
	form_add(f, sizeof(f), "api_key", FIRST_KEY);
	hpost_form(&c, "/settings/providers/new", "/settings/providers", f,
	    &r);
	id = hlocation_id(&r, "/settings/providers/");
	hresp_free(&r);
	snprintf(path, sizeof(path), "/settings/providers/%lld",
	    (long long)id);
	enc = sqls("SELECT encode(api_key_enc, 'hex') FROM llm_providers "
	    "WHERE id = %lld", (long long)id);

	/* Another host, the key left blank: refused next to the key. */
	mark = audit_mark();
	f[0] = '\0';
	form_add(f, sizeof(f), "name", "Destination");
	form_add(f, sizeof(f), "base_url", "https://evil.example/v1");
	form_add(f, sizeof(f), "api_key", "");
	hpost_form(&c, path, path, f, &r);
	ck_assert_msg(r.status == 422, "want 422, got %ld", r.status);
	hresp_has(&r, "id=\"err-api-key\"", "the error next to the key");
	hresp_has(&r, "Enter the API key again", "the sentence");
	hresp_free(&r);
	v = sqls("SELECT base_url FROM llm_providers WHERE id = %lld",
	    (long long)id);
	ck_assert_str_eq(v, "https://a.example/v1");
	free(v);
	enc2 = sqls("SELECT encode(api_key_enc, 'hex') FROM llm_providers "
	    "WHERE id = %lld", (long long)id);
	ck_assert_str_eq(enc, enc2);
	free(enc2);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE id > %lld",
	    (long long)mark), 0);

	/* With the key again: saved, and audited with both hosts. */
	f[0] = '\0';
	form_add(f, sizeof(f), "name", "Destination");
	form_add(f, sizeof(f), "base_url", "https://evil.example/v1");
	form_add(f, sizeof(f), "api_key", SECOND_KEY);
	hpost_form(&c, path, path, f, &r);
	ck_assert_int_eq(hlocation_id(&r, "/settings/providers/"), id);
	hresp_free(&r);
	v = audit_detail(mark, "provider.base_url_changed", id, OWNER_EMAIL);
	ck_assert_str_eq(v, "a.example \xe2\x86\x92 evil.example");
	free(v);
	v = audit_detail(mark, "provider.key_changed", id, OWNER_EMAIL);
	ck_assert_msg(strncmp(v, "key set (", 9) == 0, "detail %s", v);
	free(v);

	/* Removing the key with the move is allowed: nothing goes there. */
	mark = audit_mark();
	f[0] = '\0';
	form_add(f, sizeof(f), "name", "Destination");
	form_add(f, sizeof(f), "base_url", "https://b.example/v1");
	form_add(f, sizeof(f), "remove_key", "1");
	hpost_form(&c, path, path, f, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	v = audit_detail(mark, "provider.key_changed", id, OWNER_EMAIL);
	ck_assert_str_eq(v, "key removed");
	free(v);
	/* And with no key stored, a new URL needs none. */
	f[0] = '\0';
	form_add(f, sizeof(f), "name", "Destination");
	form_add(f, sizeof(f), "base_url", "http://localhost:11434/v1");
	hpost_form(&c, path, path, f, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log a WHERE "
	    "a::text LIKE '%%sk-dest%%'"), 0);
	free(enc);
}
END_TEST

START_TEST(t_api_new_base_url_needs_key)
{
	struct hfake	 evil;
	struct hresp	 r;
	cJSON		*j, *e;
	char		 body[512], path[96], evil_v1[96];
	char		*v;
	int64_t		 id, mark;

	hfake_start(&evil, "fake_llm", NULL);
	snprintf(evil_v1, sizeof(evil_v1), "%s/v1", evil.base);
	snprintf(body, sizeof(body), "{\"name\":\"Victim\",\"baseUrl\":"
	    "\"%s/v1\",\"apiKey\":\"" LLM_KEY "\"}", w.llm.base);
	api(token, "POST", "/api/v1/providers", body, &r);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	id = json_id(&r);
	hresp_free(&r);
	snprintf(body, sizeof(body), "{\"providerId\":%lld,\"name\":"
	    "\"victim-model\",\"displayName\":\"Victim\"}", (long long)id);
	api(token, "POST", "/api/v1/models", body, &r);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/providers/%lld", (long long)id);

	/* The attack: point it elsewhere, keep the key. 422, both ways. */
	mark = audit_mark();
	snprintf(body, sizeof(body), "{\"baseUrl\":\"%s\"}", evil_v1);
	api(token, "PATCH", path, body, &r);
	ck_assert_msg(r.status == 422, "%ld %s", r.status, r.body);
	j = hresp_json(&r);
	e = cJSON_GetObjectItem(j, "error");
	ck_assert_str_eq(hjstr(e, "code"), "invalid");
	ck_assert_msg(strstr(hjstr(e, "message"), "API key again") != NULL,
	    "message: %s", r.body);
	ck_assert_msg(strstr(hjstr(cJSON_GetObjectItem(e, "fields"),
	    "apiKey"), "API key again") != NULL, "fields: %s", r.body);
	cJSON_Delete(j);
	hresp_free(&r);
	snprintf(body, sizeof(body), "{\"baseUrl\":\"%s\",\"apiKey\":\"\"}",
	    evil_v1);
	api(token, "PATCH", path, body, &r);
	ck_assert_int_eq(r.status, 422);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE id > %lld",
	    (long long)mark), 0);

	/* The next call still goes to the host the key was entered for. */
	hfake_reset(&w.llm);
	api(token, "POST", "/v1/chat/completions", "{\"model\":"
	    "\"victim-model\",\"messages\":[{\"role\":\"user\",\"content\":"
	    "\"hi\"}]}", &r);
	ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
	hresp_free(&r);
	ck_assert_int_eq(hfake_log_count(&w.llm), 1);
	ck_assert_int_eq(hfake_log_count(&evil), 0);

	/* A rename keeps the URL: no key needed, audited. */
	api(token, "PATCH", path, "{\"name\":\"Victim 2\"}", &r);
	ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
	hresp_free(&r);
	v = audit_detail(mark, "provider.renamed", id, "token:prl_%");
	ck_assert_str_eq(v, "Victim \xe2\x86\x92 Victim 2");
	free(v);

	/* With a key of the new host's own, the move is made: that host
	 * gets that key, never the one stored before. */
	snprintf(body, sizeof(body), "{\"baseUrl\":\"%s\",\"apiKey\":\""
	    ATTACKER_KEY "\"}", evil_v1);
	api(token, "PATCH", path, body, &r);
	ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
	hresp_free(&r);
	v = audit_detail(mark, "provider.base_url_changed", id, "token:prl_%");
	{
		char	 want[4096];

		snprintf(want, sizeof(want), "%s \xe2\x86\x92 %s",
		    w.llm.base + 7, evil.base + 7);
		ck_assert_str_eq(v, want);
	}
	free(v);
	api(token, "POST", "/v1/chat/completions", "{\"model\":"
	    "\"victim-model\",\"messages\":[{\"role\":\"user\",\"content\":"
	    "\"hi\"}]}", &r);
	ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
	hresp_free(&r);
	v = hfake_get(&evil, "/_fake/requests");
	ck_assert_msg(strstr(v, "Bearer " ATTACKER_KEY) != NULL &&
	    strstr(v, LLM_KEY) == NULL, "evil host saw: %s", v);
	free(v);
	hfake_stop(&evil);
}
END_TEST

START_TEST(t_base_url_holds_no_secret)
{
	static const char *const bad[] = {
	    "https://user:pass@x.example/v1", "https://x.example/v1?key=abc",
	    "https://x.example/v1#frag" };
	struct hresp	 r;
	cJSON		*j;
	char		 body[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "{\"name\":\"Bad %zu\","
		    "\"baseUrl\":\"%s\"}", i, bad[i]);
		api(token, "POST", "/api/v1/providers", body, &r);
		ck_assert_msg(r.status == 422, "%s: %ld %s", bad[i], r.status,
		    r.body);
		j = hresp_json(&r);
		ck_assert_msg(hjstr(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
		    "error"), "fields"), "baseUrl")[0] != '\0', "%s: %s",
		    bad[i], r.body);
		cJSON_Delete(j);
		hresp_free(&r);
	}
}
END_TEST

/* --- defect 4: upstream text loses the secrets ------------------------- */

START_TEST(t_llm_echo_redacted)
{
	struct client	 c;
	struct hresp	 r;
	char		 body[512], path[96];
	char		*v;
	int64_t		 id;

	snprintf(body, sizeof(body), "{\"name\":\"Echo\",\"baseUrl\":"
	    "\"%s/v1\",\"apiKey\":\"" WRONG_KEY "\"}", w.llm.base);
	api(token, "POST", "/api/v1/providers", body, &r);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	id = json_id(&r);
	hresp_free(&r);
	snprintf(body, sizeof(body), "{\"providerId\":%lld,\"name\":"
	    "\"echo-model\",\"displayName\":\"Echo\"}", (long long)id);
	api(token, "POST", "/api/v1/models", body, &r);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	hresp_free(&r);

	/* /v1: a 502 quoting the provider's (redacted) words. */
	hfake_reset(&w.llm);
	api(token, "POST", "/v1/chat/completions", "{\"model\":\"echo-model\","
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &r);
	ck_assert_msg(r.status == 502, "%ld %s", r.status, r.body);
	assert_clean("/v1 502", r.body);
	hresp_free(&r);
	/* The fake really was sent the key, and so really echoed it. */
	v = hfake_get(&w.llm, "/_fake/requests");
	ck_assert_msg(strstr(v, "Bearer " WRONG_KEY) != NULL, "%s", v);
	free(v);
	api(token, "POST", "/v1/chat/completions", "{\"model\":\"echo-model\","
	    "\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
	    "\"hi\"}]}", &r);
	ck_assert_msg(r.status == 502, "%ld %s", r.status, r.body);
	assert_clean("/v1 502 streamed", r.body);
	hresp_free(&r);

	/* llm_calls.error: stored redacted. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_calls WHERE error "
	    "LIKE '%%Incorrect API key provided%%[redacted]%%'"), 2);
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_calls WHERE error "
	    "LIKE '%%sk-echoed%%'"), 0);

	/* Test connection: the page says what failed, without the key. */
	hlogin(&c, w.srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/settings/providers/%lld/test",
	    (long long)id);
	hpost_form(&c, "/settings/providers", path, "", &r);
	ck_assert_int_eq(r.status, 200);
	hresp_has(&r, "The connection failed (auth)", NULL);
	assert_clean("test connection", r.body);
	hresp_free(&r);
}
END_TEST

START_TEST(t_transcribe_echo_redacted)
{
	struct transcribe_req	 req;
	struct transcribe_result out;
	char			 base[96];

	snprintf(base, sizeof(base), "%s/v1", w.llm.base);
	memset(&req, 0, sizeof(req));
	req.base_url = base;
	req.api_key = WRONG_KEY;
	req.model = "whisper-1";
	req.data = (const unsigned char *)"voice";
	req.len = 5;
	req.content_type = "audio/ogg";
	req.timeout_ms = 5000;
	ck_assert_int_eq(transcribe_audio(&req, &out), TRANSCRIBE_REFUSED);
	ck_assert_int_eq(out.http_status, 401);
	assert_clean("transcription", out.error);
	free(out.text);
}
END_TEST

START_TEST(t_channel_echo_redacted_stored)
{
	struct channel_input	 cin;
	struct client		 c;
	struct hresp		 r;
	struct db		*db;
	char			 path[64];
	char			*v;
	int64_t			 agent, chat;

	db = db_acquire(w.pool);
	ck_assert_ptr_nonnull(db);
	agent = hagent_create(db, w.org_id, "Echo bot", "task", right_model);
	cin = (struct channel_input){ .kind = "twilio", .name = "Echoing",
	    .status = "connected", .phone_number = TW_NUMBER,
	    .twilio_account_sid = TW_SID, .twilio_auth_token = TW_TOKEN,
	    .default_agent_id = agent };
	(void)hchannel_create(db, w.key, w.org_id, &cin);
	db_release(db);

	/* Twilio refuses the reply with a code Parley has no sentence for,
	 * so its own words (and the credentials it echoes) are kept. */
	hworld_reset(&w);
	hfake_queue(&w.wa, "{\"provider\":\"twilio\",\"op\":\"send\","
	    "\"status\":400,\"code\":21999}");
	htwilio_text_ok(w.srv.base, TW_SID, TW_TOKEN, "SMecho00000000000000000"
	    "000000001", "+15557654321", TW_NUMBER, "hello");
	ck_assert_msg(hpg_wait_int(&w.pg, 1, WAIT_MS, "SELECT count(*) FROM "
	    "messages WHERE direction = 'out' AND status = 'failed'"),
	    "the refused reply was not recorded as failed");
	v = sqls("SELECT error_text FROM messages WHERE direction = 'out' "
	    "AND status = 'failed'");
	assert_clean("messages.error_text", v);
	ck_assert_msg(strstr(v, "21999") != NULL, "%s", v);
	free(v);

	/* The conversation page shows the redacted sentence. */
	chat = sqli("SELECT chat_id FROM messages WHERE direction = 'out' "
	    "AND status = 'failed'");
	hlogin(&c, w.srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/conversations/%lld", (long long)chat);
	hget(&c, path, 200, &r);
	hresp_has(&r, "[redacted]", "the failed reply's reason");
	hresp_free(&r);
}
END_TEST

START_TEST(t_nothing_in_db_or_log)
{
	for (int i = 0; secrets[i] != NULL; i++) {
		ck_assert_msg(sqli("SELECT count(*) FROM (SELECT error FROM "
		    "llm_calls UNION ALL SELECT error_text FROM messages UNION "
		    "ALL SELECT detail FROM audit_log UNION ALL SELECT last_error"
		    " FROM jobs) t(x) WHERE x LIKE '%%%s%%'", secrets[i]) == 0,
		    "%s stored in the clear", secrets[i]);
	}
	hserver_stop_clean(&w.srv);
	for (int i = 0; secrets[i] != NULL; i++)
		ck_assert_msg(!hserver_log_contains(&w.srv, secrets[i]),
		    "%s in the server log", secrets[i]);
}
END_TEST

static Suite *
secrets_suite(void)
{
	Suite	*s = suite_create("secrets");
	TCase	*tc = tcase_create("secrets");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, t_panel_new_base_url_needs_key);
	tcase_add_test(tc, t_api_new_base_url_needs_key);
	tcase_add_test(tc, t_base_url_holds_no_secret);
	tcase_add_test(tc, t_llm_echo_redacted);
	tcase_add_test(tc, t_transcribe_echo_redacted);
	tcase_add_test(tc, t_channel_echo_redacted_stored);
	tcase_add_test(tc, t_nothing_in_db_or_log);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(secrets_suite(), NULL) == 0 ? EXIT_SUCCESS :
	    EXIT_FAILURE;
}
