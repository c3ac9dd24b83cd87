/*
 * texts: the chat texts an agent may override, require_mention, and
 * Settings → Organization, over real HTTP against the real binary and a
 * throwaway PostgreSQL cluster: the agent form's Messages section (empty
 * box = the default, shown as the placeholder), the REST API's "texts"
 * and "requireMention" members (400 for wrong types, 422 for unknown
 * names and over-long texts), and the organisation's product name and
 * connect-code prefix (owners only: an admin gets 403).
 *
 * What a chat actually receives is the chat-commands tests' business
 * (they drive inbound webhooks); here only storage and the forms.
 *
 * One suite, one cluster and one server (unchecked fixture, CK_NOFORK).
 * The last test stops the server and checks it exits 0 on SIGTERM (under
 * ASan: no leak). PARLEY_TEST_KEEP=1 keeps the cluster and server log.
 */
#include "harness/panel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <cjson/cJSON.h>

/* This suite's cluster, server and API token (tests/harness). */
#define sqli(...)	hpg_sqlf_int(&pg, __VA_ARGS__)
#define sqls(...)	hpg_sqlf(&pg, __VA_ARGS__)
#define api(...)	hapi(srv.base, token, __VA_ARGS__)
#define api_json(...)	hapi_json(srv.base, token, __VA_ARGS__)

#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define ADMIN_EMAIL	"admin@example.com"
#define ADMIN_PW	"another-horse-battery-staple"
#define FORM_MAX	32768

static void	 setup(void);
static void	 teardown(void);
static void	 cleanup(void);
static void	 agent_fields(char *, size_t, const char *);
static void	 assert_status(const struct hresp *, long, const char *);
static char	*repeat(const char *, int);
static Suite	*texts_suite(void);

static const char	*server_env[] = { NULL };
static struct hpg	 pg;
static struct hserver	 srv;
static char		*token;

/* --- fixture ------------------------------------------------------------ */

static void
setup(void)
{
	char	*org;

	hpg_start(&pg);
	hserver_start(&srv, &pg, server_env);
	token = htoken_create(&pg, OWNER_EMAIL, "texts-test", NULL);

	/* An admin (not an owner) in the same organisation. */
	org = sqls("SELECT name FROM orgs ORDER BY id LIMIT 1");
	huser_create(&pg, ADMIN_EMAIL, org, "admin", ADMIN_PW);
	free(org);
}

static void
teardown(void)
{
	if (srv.pid > 0)
		(void)hserver_stop(&srv);
	cleanup();
}

static void
cleanup(void)
{
	free(token);
	token = NULL;
	hpg_finish(&pg, "texts");
}

/* --- helpers ------------------------------------------------------------ */

/* The agent form's ordinary fields for an agent called name. */
static void
agent_fields(char *f, size_t len, const char *name)
{
	f[0] = '\0';
	form_add(f, len, "name", name);
	form_add(f, len, "system_prompt", "You are {{agentName}}.");
	form_add(f, len, "model_id", "0");
	form_add(f, len, "mode", "chat");
	form_add(f, len, "history_length", "20");
	form_add(f, len, "reset_command", "/reset");
}

static void
assert_status(const struct hresp *r, long want, const char *what)
{
	ck_assert_msg(r->status == want, "%s: want %ld, got %ld:\n%.3000s",
	    what, want, r->status, r->body);
}

/* s repeated n times (malloc'd). */
static char *
repeat(const char *s, int n)
{
	size_t	 len = strlen(s);
	char	*out = malloc(len * (size_t)n + 1);

	for (int i = 0; i < n; i++)
		memcpy(out + len * (size_t)i, s, len);
	out[len * (size_t)n] = '\0';
	return out;
}

/* --- panel: the agent form ---------------------------------------------- */

START_TEST(t_panel_messages)
{
	struct client	 c;
	struct hresp	 r;
	char		*f = malloc(FORM_MAX), path[64], *v, *big;
	int64_t		 id;

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	/* The new-agent form has the section, defaults as placeholders. */
	hreq(&c, "GET", "/agents/new", NULL, NULL, NULL, &r);
	assert_status(&r, 200, "GET /agents/new");
	hresp_has(&r, "<legend>Messages</legend>", "Messages section");
	hresp_has(&r, "name=\"texts_invalid_format\"", "a text box");
	hresp_has(&r, "placeholder=\"Invalid connect code format.\"",
	    "default as placeholder");
	hresp_has(&r, "placeholder=\"Welcome to {product}! To get started, "
	    "please send your connect code.\"", "welcome default");
	hresp_has(&r, "Variables: <code>{product}</code>", "variables help");
	hresp_has(&r, "name=\"require_mention\"", "mention checkbox");
	hresp_has(&r, "Require a mention in groups", "mention label");
	hresp_lacks(&r, "name=\"require_mention\" value=\"1\" checked",
	    "unchecked by default");
	hresp_free(&r);

	/* Created with one override and the checkbox on. */
	agent_fields(f, FORM_MAX, "Texts Desk");
	form_add(f, FORM_MAX, "texts_welcome", "  Hola! This is {product}.  ");
	form_add(f, FORM_MAX, "texts_busy", "");
	form_add(f, FORM_MAX, "require_mention", "1");
	hpost_form(&c, "/agents/new", "/agents", f, &r);
	id = hlocation_id(&r, "/agents/");
	hresp_free(&r);
	v = sqls("SELECT texts::text || '|' || require_mention FROM agents "
	    "WHERE id = %lld", (long long)id);
	ck_assert_str_eq(v, "{\"welcome\": \"Hola! This is {product}.\"}|true");
	free(v);

	snprintf(path, sizeof(path), "/agents/%lld", (long long)id);
	hreq(&c, "GET", path, NULL, NULL, NULL, &r);
	assert_status(&r, 200, path);
	hresp_has(&r, ">Hola! This is {product}.</textarea>", "override shown");
	hresp_has(&r, "name=\"require_mention\" value=\"1\" checked",
	    "mention checked");
	hresp_free(&r);

	/* Edited: welcome emptied (back to the default), two others set,
	 * the checkbox off. */
	agent_fields(f, FORM_MAX, "Texts Desk");
	form_add(f, FORM_MAX, "texts_welcome", "");
	form_add(f, FORM_MAX, "texts_reset", "Fresh start with {agent} <3");
	form_add(f, FORM_MAX, "texts_handoff", "Un momento \xe2\x80\x94 a "
	    "human is coming.");
	hpost_form(&c, path, path, f, &r);
	ck_assert_int_eq(hlocation_id(&r, "/agents/"), id);
	hresp_free(&r);
	v = sqls("SELECT (texts->>'reset') || '|' || (texts->>'handoff') || "
	    "'|' || (texts ? 'welcome') || '|' || require_mention FROM agents "
	    "WHERE id = %lld", (long long)id);
	ck_assert_str_eq(v, "Fresh start with {agent} <3|Un momento "
	    "\xe2\x80\x94 a human is coming.|false|false");
	free(v);
	hreq(&c, "GET", path, NULL, NULL, NULL, &r);
	hresp_has(&r, ">Fresh start with {agent} &lt;3</textarea>",
	    "override escaped in the page");
	hresp_lacks(&r, "name=\"require_mention\" value=\"1\" checked",
	    "mention unchecked");
	hresp_free(&r);

	/* Too long: 422 next to the box, the posted text kept, nothing
	 * stored. 1000 characters (2000 bytes) are fine. */
	big = repeat("\xc3\xa9", 1001);
	agent_fields(f, FORM_MAX, "Texts Desk");
	form_add(f, FORM_MAX, "texts_busy", big);
	form_add(f, FORM_MAX, "texts_reset", "Kept?");
	hpost_form(&c, path, path, f, &r);
	assert_status(&r, 422, "1001 characters");
	hresp_has(&r, "id=\"err-texts_busy\"", "error next to the box");
	hresp_has(&r, "Use at most 1000 characters.", "the sentence");
	hresp_has(&r, ">Kept?</textarea>", "posted values shown again");
	hresp_free(&r);
	free(big);
	v = sqls("SELECT texts->>'reset' FROM agents WHERE id = %lld",
	    (long long)id);
	ck_assert_str_eq(v, "Fresh start with {agent} <3");
	free(v);
	big = repeat("\xc3\xa9", 1000);
	agent_fields(f, FORM_MAX, "Texts Desk");
	form_add(f, FORM_MAX, "texts_busy", big);
	hpost_form(&c, path, path, f, &r);
	ck_assert_int_eq(hlocation_id(&r, "/agents/"), id);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT char_length(texts->>'busy') FROM "
	    "agents WHERE id = %lld", (long long)id), 1000);
	/* Boxes left out or empty are not stored: only busy remains. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM jsonb_object_keys("
	    "(SELECT texts FROM agents WHERE id = %lld))", (long long)id), 1);
	free(big);
	free(f);
}
END_TEST

/* --- API ------------------------------------------------------------------ */

START_TEST(t_api_texts)
{
	cJSON		*v, *t, *fields;
	char		 path[64], *big, *json, *s;
	int64_t		 id;

	v = api_json("POST", "/api/v1/agents", "{\"name\":\"API Texts\","
	    "\"texts\":{\"connected\":\"You are talking to {agent}.\"},"
	    "\"requireMention\":true}", 201);
	id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(v, "id"));
	t = cJSON_GetObjectItem(v, "texts");
	ck_assert(cJSON_IsObject(t));
	ck_assert_int_eq(cJSON_GetArraySize(t), 1);
	ck_assert_str_eq(hjstr(t, "connected"), "You are talking to {agent}.");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(v, "requireMention")));
	cJSON_Delete(v);
	snprintf(path, sizeof(path), "/api/v1/agents/%lld", (long long)id);

	/* PATCH of another member keeps both. */
	v = api_json("PATCH", path, "{\"mode\":\"task\"}", 200);
	ck_assert_str_eq(hjstr(cJSON_GetObjectItem(v, "texts"), "connected"),
	    "You are talking to {agent}.");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(v, "requireMention")));
	cJSON_Delete(v);

	/* texts replaces the whole set. */
	v = api_json("PATCH", path, "{\"texts\":{\"welcome\":\"Hi, {product}"
	    "\",\"too_many\":\"Wait {minutes} min.\"},\"requireMention\":"
	    "false}", 200);
	t = cJSON_GetObjectItem(v, "texts");
	ck_assert_int_eq(cJSON_GetArraySize(t), 2);
	ck_assert_str_eq(hjstr(t, "welcome"), "Hi, {product}");
	ck_assert_str_eq(hjstr(t, "too_many"), "Wait {minutes} min.");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(v, "requireMention")));
	cJSON_Delete(v);
	s = sqls("SELECT texts->>'welcome' FROM agents WHERE id = %lld",
	    (long long)id);
	ck_assert_str_eq(s, "Hi, {product}");
	free(s);
	v = api_json("GET", path, NULL, 200);
	ck_assert_str_eq(hjstr(cJSON_GetObjectItem(v, "texts"), "welcome"),
	    "Hi, {product}");
	cJSON_Delete(v);

	/* Wrong types: 400. */
	cJSON_Delete(api_json("PATCH", path, "{\"texts\":\"welcome\"}", 400));
	cJSON_Delete(api_json("PATCH", path, "{\"texts\":[\"x\"]}", 400));
	cJSON_Delete(api_json("PATCH", path, "{\"texts\":{\"busy\":5}}", 400));
	cJSON_Delete(api_json("PATCH", path,
	    "{\"texts\":{\"busy\":null}}", 400));
	cJSON_Delete(api_json("PATCH", path, "{\"requireMention\":\"yes\"}",
	    400));
	cJSON_Delete(api_json("PATCH", path, "{\"requireMention\":1}", 400));

	/* Unknown name, empty or over-long text: 422 naming it. */
	v = api_json("PATCH", path, "{\"texts\":{\"welcome\":\"ok\","
	    "\"goodbye\":\"Bye\"}}", 422);
	fields = cJSON_GetObjectItem(cJSON_GetObjectItem(v, "error"), "fields");
	ck_assert_msg(strstr(hjstr(fields, "texts"), "goodbye") != NULL,
	    "fields.texts names the key: %s", hjstr(fields, "texts"));
	cJSON_Delete(v);
	v = api_json("PATCH", path, "{\"texts\":{\"reset\":\"\"}}", 422);
	fields = cJSON_GetObjectItem(cJSON_GetObjectItem(v, "error"), "fields");
	ck_assert(hjstr(fields, "texts.reset")[0] != '\0');
	cJSON_Delete(v);
	big = repeat("x", 1001);
	json = malloc(strlen(big) + 64);
	snprintf(json, strlen(big) + 64, "{\"texts\":{\"busy\":\"%s\"}}", big);
	v = api_json("PATCH", path, json, 422);
	fields = cJSON_GetObjectItem(cJSON_GetObjectItem(v, "error"), "fields");
	ck_assert_str_eq(hjstr(fields, "texts.busy"),
	    "Use at most 1000 characters.");
	cJSON_Delete(v);
	free(json);
	free(big);
	/* None of that changed anything. */
	s = sqls("SELECT texts::text FROM agents WHERE id = %lld",
	    (long long)id);
	ck_assert_str_eq(s, "{\"welcome\": \"Hi, {product}\", \"too_many\": "
	    "\"Wait {minutes} min.\"}");
	free(s);

	/* null and {} clear the overrides. */
	v = api_json("PATCH", path, "{\"texts\":null}", 200);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(v, "texts")),
	    0);
	cJSON_Delete(v);
	cJSON_Delete(api_json("PATCH", path, "{\"texts\":{\"busy\":\"B\"}}",
	    200));
	v = api_json("PATCH", path, "{\"texts\":{}}", 200);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(v, "texts")),
	    0);
	cJSON_Delete(v);
	ck_assert_int_eq(sqli("SELECT count(*) FROM agents WHERE id = "
	    "%lld AND texts = '{}'::jsonb", (long long)id), 1);

	/* A new agent without either member: {} and false. */
	v = api_json("POST", "/api/v1/agents", "{\"name\":\"API Plain\"}", 201);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(v, "texts")),
	    0);
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(v, "requireMention")));
	cJSON_Delete(v);
	/* POST with an unknown name: 422, nothing made. */
	cJSON_Delete(api_json("POST", "/api/v1/agents", "{\"name\":\"API "
	    "Bad\",\"texts\":{\"hello\":\"x\"}}", 422));
	ck_assert_int_eq(sqli("SELECT count(*) FROM agents WHERE name = "
	    "'API Bad'"), 0);
}
END_TEST

/* --- Settings → Organization --------------------------------------------- */

START_TEST(t_org_settings)
{
	struct client	 c, a;
	struct hresp	 r;
	char		 f[1024];
	char		*v;

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	hreq(&c, "GET", "/settings", NULL, NULL, NULL, &r);
	hresp_has(&r, "href=\"/settings/organization\"", "linked");
	hresp_free(&r);
	hreq(&c, "GET", "/settings/organization", NULL, NULL, NULL, &r);
	assert_status(&r, 200, "GET /settings/organization");
	hresp_has(&r, "name=\"product_name\"", "product field");
	hresp_free(&r);
	v = NULL;
	{
		hreq(&c, "GET", "/settings/organization", NULL, NULL, NULL, &r);
		v = html_input_value(r.body, "product_name");
		ck_assert_str_eq(v != NULL ? v : "(none)", "Parley");
		free(v);
		v = html_input_value(r.body, "connect_prefix");
		ck_assert_str_eq(v != NULL ? v : "(none)", "PRL");
		free(v);
		hresp_free(&r);
	}

	/* Saved: trimmed, prefix upper-cased. */
	f[0] = '\0';
	form_add(f, sizeof(f), "product_name", "  Acme Help Desk ");
	form_add(f, sizeof(f), "connect_prefix", "acme");
	hpost_form(&c, "/settings/organization", "/settings/organization", f,
	    &r);
	assert_status(&r, 303, "save");
	hresp_free(&r);
	v = sqls("SELECT product_name || '|' || connect_prefix FROM orgs "
	    "ORDER BY id LIMIT 1");
	ck_assert_str_eq(v, "Acme Help Desk|ACME");
	free(v);
	hreq(&c, "GET", "/settings/organization", NULL, NULL, NULL, &r);
	hresp_has(&r, "Organization settings saved.", "flash");
	hresp_has(&r, "value=\"Acme Help Desk\"", "product shown");
	hresp_has(&r, "value=\"ACME\"", "prefix shown");
	hresp_free(&r);

	/* Invalid: 422 with sentences, values kept, nothing stored. */
	static const char *const	 bad_prefix[] = { "A", "A1", "TOOLONG",
		"AB-C", "ÄBC", "" };
	for (size_t i = 0; i < sizeof(bad_prefix) / sizeof(bad_prefix[0]);
	    i++) {
		f[0] = '\0';
		form_add(f, sizeof(f), "product_name", "Other");
		form_add(f, sizeof(f), "connect_prefix", bad_prefix[i]);
		hpost_form(&c, "/settings/organization",
		    "/settings/organization", f, &r);
		ck_assert_msg(r.status == 422, "prefix \"%s\": want 422, got "
		    "%ld", bad_prefix[i], r.status);
		hresp_has(&r, "Use 2 to 6 letters A to Z.", "prefix sentence");
		hresp_has(&r, "id=\"err-prefix\"", "next to the field");
		hresp_free(&r);
	}
	v = repeat("x", 61);
	f[0] = '\0';
	form_add(f, sizeof(f), "product_name", v);
	form_add(f, sizeof(f), "connect_prefix", "OK");
	free(v);
	hpost_form(&c, "/settings/organization", "/settings/organization", f,
	    &r);
	assert_status(&r, 422, "61 characters");
	hresp_has(&r, "id=\"err-product\"", "product error");
	hresp_free(&r);
	f[0] = '\0';
	form_add(f, sizeof(f), "product_name", "   ");
	form_add(f, sizeof(f), "connect_prefix", "OK");
	hpost_form(&c, "/settings/organization", "/settings/organization", f,
	    &r);
	assert_status(&r, 422, "blank product");
	hresp_has(&r, "Enter a product name.", "blank sentence");
	hresp_free(&r);
	v = sqls("SELECT product_name || '|' || connect_prefix FROM orgs "
	    "ORDER BY id LIMIT 1");
	ck_assert_str_eq(v, "Acme Help Desk|ACME");
	free(v);

	/* 60 characters exactly, multibyte, is fine. */
	v = repeat("\xc3\xa9", 60);
	f[0] = '\0';
	form_add(f, sizeof(f), "product_name", v);
	form_add(f, sizeof(f), "connect_prefix", "Zz");
	hpost_form(&c, "/settings/organization", "/settings/organization", f,
	    &r);
	assert_status(&r, 303, "60 characters");
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT char_length(product_name) FROM orgs "
	    "WHERE connect_prefix = 'ZZ'"), 60);
	free(v);

	/* An admin is not an owner: 403 both ways, nothing changed. */
	hlogin(&a, srv.base, ADMIN_EMAIL, ADMIN_PW);
	hreq(&a, "GET", "/settings/organization", NULL, NULL, NULL, &r);
	assert_status(&r, 403, "admin GET");
	hresp_free(&r);
	f[0] = '\0';
	form_add(f, sizeof(f), "product_name", "Hijacked");
	form_add(f, sizeof(f), "connect_prefix", "HIJ");
	hpost_form(&a, "/settings", "/settings/organization", f, &r);
	assert_status(&r, 403, "admin POST");
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM orgs WHERE "
	    "connect_prefix = 'HIJ'"), 0);

	/* Back to the defaults for whoever runs next. */
	f[0] = '\0';
	form_add(f, sizeof(f), "product_name", "Parley");
	form_add(f, sizeof(f), "connect_prefix", "PRL");
	hpost_form(&c, "/settings/organization", "/settings/organization", f,
	    &r);
	assert_status(&r, 303, "reset");
	hresp_free(&r);
}
END_TEST

START_TEST(t_sigterm_exits_zero)
{
	hserver_stop_clean(&srv);
}
END_TEST

static Suite *
texts_suite(void)
{
	Suite	*s = suite_create("texts");
	TCase	*tc = tcase_create("texts");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_panel_messages);
	tcase_add_test(tc, t_api_texts);
	tcase_add_test(tc, t_org_settings);
	tcase_add_test(tc, t_sigterm_exits_zero);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int	 failed = hrun_suites(texts_suite(), NULL);

	cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
