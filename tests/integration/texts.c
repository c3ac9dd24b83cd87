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
#include "harness/harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <cjson/cJSON.h>

#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define ADMIN_EMAIL	"admin@example.com"
#define ADMIN_PW	"another-horse-battery-staple"
#define FORM_MAX	32768

static void	 setup(void);
static void	 teardown(void);
static void	 cleanup(void);
static void	 req(struct client *, const char *, const char *,
		    const char *, const char *, const char **,
		    struct hresp *);
static void	 login(struct client *, const char *, const char *);
static char	*page_csrf(struct client *, const char *);
static void	 post_form(struct client *, const char *, const char *,
		    const char *, struct hresp *);
static void	 agent_fields(char *, size_t, const char *);
static int64_t	 location_id(const struct hresp *, const char *);
static char	*sqlf(const char *, ...) __attribute__((format(printf, 1, 2)));
static int64_t	 sql_intf(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	 api(const char *, const char *, const char *, struct hresp *);
static cJSON	*api_json(const char *, const char *, const char *, long);
static const char *jstr(const cJSON *, const char *);
static void	 assert_status(const struct hresp *, long, const char *);
static void	 assert_has(const struct hresp *, const char *, const char *);
static void	 assert_lacks(const struct hresp *, const char *,
		    const char *);
static char	*repeat(const char *, int);
static Suite	*texts_suite(void);

static const char	*server_env[] = { NULL };
static struct hpg	 pg;
static struct hserver	 srv;
static bool		 pg_up;
static char		 token[64];

/* --- fixture ------------------------------------------------------------ */

static void
setup(void)
{
	const char	*args[] = { "token", "create", "--email", OWNER_EMAIL,
			    "--name", "texts-test", NULL };
	char		*out = NULL, *p, *org;
	int		 st;

	hpg_start(&pg);
	pg_up = true;
	hserver_start(&srv, &pg, server_env);

	st = hrun_parley(&pg, args, NULL, &out);
	if (st != 0 || (p = strstr(out != NULL ? out : "", "prl_")) == NULL) {
		fprintf(stderr, "texts: parley token create exited %d:\n%s\n",
		    st, out != NULL ? out : "");
		abort();
	}
	snprintf(token, sizeof(token), "%.*s", (int)strcspn(p, " \r\n"), p);
	free(out);

	/* An admin (not an owner) in the same organisation. */
	org = hpg_sql(&pg, "SELECT name FROM orgs ORDER BY id LIMIT 1");
	{
		const char	*uargs[] = { "user", "create", "--email",
				    ADMIN_EMAIL, "--org", org, "--role",
				    "admin", NULL };

		out = NULL;
		st = hrun_parley(&pg, uargs, ADMIN_PW "\n", &out);
		if (st != 0) {
			fprintf(stderr, "texts: parley user create exited "
			    "%d:\n%s\n", st, out != NULL ? out : "");
			abort();
		}
		free(out);
	}
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
	const char	*keep = getenv("PARLEY_TEST_KEEP");

	if (!pg_up)
		return;
	pg_up = false;
	if (keep != NULL && strcmp(keep, "1") == 0) {
		hpg_stop(&pg);
		fprintf(stderr, "texts: kept %s\n", pg.dir);
	} else
		hpg_destroy(&pg);
}

/* --- helpers ------------------------------------------------------------ */

/* Every request: never a 500. */
static void
req(struct client *c, const char *method, const char *path,
    const char *body, const char *ctype, const char **headers,
    struct hresp *r)
{
	client_req(c, method, path, body, ctype, headers, r);
	ck_assert_msg(r->status != 500, "%s %s answered 500:\n%.2000s",
	    method, path, r->body);
}

static void
login(struct client *c, const char *email, const char *pw)
{
	client_init(c, srv.base);
	ck_assert_msg(client_login(c, email, pw), "cannot log in as %s",
	    email);
}

static char *
page_csrf(struct client *c, const char *path)
{
	struct hresp	 r;
	char		*csrf;

	req(c, "GET", path, NULL, NULL, NULL, &r);
	ck_assert_msg(r.status == 200, "GET %s: want 200, got %ld", path,
	    r.status);
	csrf = html_csrf(r.body);
	ck_assert_msg(csrf != NULL && csrf[0] != '\0', "GET %s: no _csrf",
	    path);
	hresp_free(&r);
	return csrf;
}

/* POSTs fields plus a fresh _csrf taken from `page`. */
static void
post_form(struct client *c, const char *action, const char *fields,
    const char *page, struct hresp *r)
{
	char	*all = calloc(1, 2 * FORM_MAX);
	char	*csrf = page_csrf(c, page);

	form_add(all, 2 * FORM_MAX, "_csrf", csrf);
	free(csrf);
	if (fields != NULL && fields[0] != '\0') {
		strncat(all, "&", 2 * FORM_MAX - strlen(all) - 1);
		strncat(all, fields, 2 * FORM_MAX - strlen(all) - 1);
	}
	req(c, "POST", action, all, NULL, NULL, r);
	free(all);
}

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

static int64_t
location_id(const struct hresp *r, const char *what)
{
	char		*loc = hresp_header(r, "Location");
	long long	 id = 0;

	ck_assert_msg(r->status == 303, "%s: want 303, got %ld:\n%.3000s",
	    what, r->status, r->body);
	ck_assert_msg(loc != NULL && sscanf(loc, "/agents/%lld", &id) == 1,
	    "%s: Location is %s", what, loc != NULL ? loc : "none");
	free(loc);
	return id;
}

static char *
sqlf(const char *fmt, ...)
{
	char	 sql[4096];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return hpg_sql(&pg, sql);
}

static int64_t
sql_intf(const char *fmt, ...)
{
	char	 sql[4096];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return hpg_sql_int(&pg, sql);
}

static void
api(const char *method, const char *path, const char *json,
    struct hresp *r)
{
	struct client	 c;
	char		 auth[128];
	const char	*headers[] = { auth, NULL };

	client_init(&c, srv.base);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	req(&c, method, path, json, json != NULL ? "application/json" : NULL,
	    headers, r);
}

static cJSON *
api_json(const char *method, const char *path, const char *json, long want)
{
	struct hresp	 r;
	cJSON		*v;

	api(method, path, json, &r);
	ck_assert_msg(r.status == want, "%s %s %.200s: want %ld, got "
	    "%ld:\n%.2000s", method, path, json != NULL ? json : "", want,
	    r.status, r.body);
	v = cJSON_Parse(r.body);
	hresp_free(&r);
	return v;
}

/* A string member of o, "" when absent (so ck_assert_str_eq says why). */
static const char *
jstr(const cJSON *o, const char *name)
{
	const char	*s = cJSON_GetStringValue(
			    cJSON_GetObjectItemCaseSensitive(o, name));

	return s != NULL ? s : "";
}

static void
assert_status(const struct hresp *r, long want, const char *what)
{
	ck_assert_msg(r->status == want, "%s: want %ld, got %ld:\n%.3000s",
	    what, want, r->status, r->body);
}

static void
assert_has(const struct hresp *r, const char *needle, const char *what)
{
	ck_assert_msg(r->body != NULL && strstr(r->body, needle) != NULL,
	    "%s: no \"%s\" in:\n%.6000s", what, needle, r->body);
}

static void
assert_lacks(const struct hresp *r, const char *needle, const char *what)
{
	ck_assert_msg(r->body == NULL || strstr(r->body, needle) == NULL,
	    "%s: unexpected \"%s\"", what, needle);
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

	login(&c, OWNER_EMAIL, OWNER_PW);
	/* The new-agent form has the section, defaults as placeholders. */
	req(&c, "GET", "/agents/new", NULL, NULL, NULL, &r);
	assert_status(&r, 200, "GET /agents/new");
	assert_has(&r, "<legend>Messages</legend>", "Messages section");
	assert_has(&r, "name=\"texts_invalid_format\"", "a text box");
	assert_has(&r, "placeholder=\"Invalid connect code format.\"",
	    "default as placeholder");
	assert_has(&r, "placeholder=\"Welcome to {product}! To get started, "
	    "please send your connect code.\"", "welcome default");
	assert_has(&r, "Variables: <code>{product}</code>", "variables help");
	assert_has(&r, "name=\"require_mention\"", "mention checkbox");
	assert_has(&r, "Require a mention in groups", "mention label");
	assert_lacks(&r, "name=\"require_mention\" value=\"1\" checked",
	    "unchecked by default");
	hresp_free(&r);

	/* Created with one override and the checkbox on. */
	agent_fields(f, FORM_MAX, "Texts Desk");
	form_add(f, FORM_MAX, "texts_welcome", "  Hola! This is {product}.  ");
	form_add(f, FORM_MAX, "texts_busy", "");
	form_add(f, FORM_MAX, "require_mention", "1");
	post_form(&c, "/agents", f, "/agents/new", &r);
	id = location_id(&r, "create");
	hresp_free(&r);
	v = sqlf("SELECT texts::text || '|' || require_mention FROM agents "
	    "WHERE id = %lld", (long long)id);
	ck_assert_str_eq(v, "{\"welcome\": \"Hola! This is {product}.\"}|true");
	free(v);

	snprintf(path, sizeof(path), "/agents/%lld", (long long)id);
	req(&c, "GET", path, NULL, NULL, NULL, &r);
	assert_status(&r, 200, path);
	assert_has(&r, ">Hola! This is {product}.</textarea>", "override shown");
	assert_has(&r, "name=\"require_mention\" value=\"1\" checked",
	    "mention checked");
	hresp_free(&r);

	/* Edited: welcome emptied (back to the default), two others set,
	 * the checkbox off. */
	agent_fields(f, FORM_MAX, "Texts Desk");
	form_add(f, FORM_MAX, "texts_welcome", "");
	form_add(f, FORM_MAX, "texts_reset", "Fresh start with {agent} <3");
	form_add(f, FORM_MAX, "texts_handoff", "Un momento \xe2\x80\x94 a "
	    "human is coming.");
	post_form(&c, path, f, path, &r);
	ck_assert_int_eq(location_id(&r, "update"), id);
	hresp_free(&r);
	v = sqlf("SELECT (texts->>'reset') || '|' || (texts->>'handoff') || "
	    "'|' || (texts ? 'welcome') || '|' || require_mention FROM agents "
	    "WHERE id = %lld", (long long)id);
	ck_assert_str_eq(v, "Fresh start with {agent} <3|Un momento "
	    "\xe2\x80\x94 a human is coming.|false|false");
	free(v);
	req(&c, "GET", path, NULL, NULL, NULL, &r);
	assert_has(&r, ">Fresh start with {agent} &lt;3</textarea>",
	    "override escaped in the page");
	assert_lacks(&r, "name=\"require_mention\" value=\"1\" checked",
	    "mention unchecked");
	hresp_free(&r);

	/* Too long: 422 next to the box, the posted text kept, nothing
	 * stored. 1000 characters (2000 bytes) are fine. */
	big = repeat("\xc3\xa9", 1001);
	agent_fields(f, FORM_MAX, "Texts Desk");
	form_add(f, FORM_MAX, "texts_busy", big);
	form_add(f, FORM_MAX, "texts_reset", "Kept?");
	post_form(&c, path, f, path, &r);
	assert_status(&r, 422, "1001 characters");
	assert_has(&r, "id=\"err-texts_busy\"", "error next to the box");
	assert_has(&r, "Use at most 1000 characters.", "the sentence");
	assert_has(&r, ">Kept?</textarea>", "posted values shown again");
	hresp_free(&r);
	free(big);
	v = sqlf("SELECT texts->>'reset' FROM agents WHERE id = %lld",
	    (long long)id);
	ck_assert_str_eq(v, "Fresh start with {agent} <3");
	free(v);
	big = repeat("\xc3\xa9", 1000);
	agent_fields(f, FORM_MAX, "Texts Desk");
	form_add(f, FORM_MAX, "texts_busy", big);
	post_form(&c, path, f, path, &r);
	ck_assert_int_eq(location_id(&r, "1000 characters"), id);
	hresp_free(&r);
	ck_assert_int_eq(sql_intf("SELECT char_length(texts->>'busy') FROM "
	    "agents WHERE id = %lld", (long long)id), 1000);
	/* Boxes left out or empty are not stored: only busy remains. */
	ck_assert_int_eq(sql_intf("SELECT count(*) FROM jsonb_object_keys("
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
	ck_assert_str_eq(jstr(t, "connected"), "You are talking to {agent}.");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(v, "requireMention")));
	cJSON_Delete(v);
	snprintf(path, sizeof(path), "/api/v1/agents/%lld", (long long)id);

	/* PATCH of another member keeps both. */
	v = api_json("PATCH", path, "{\"mode\":\"task\"}", 200);
	ck_assert_str_eq(jstr(cJSON_GetObjectItem(v, "texts"), "connected"),
	    "You are talking to {agent}.");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(v, "requireMention")));
	cJSON_Delete(v);

	/* texts replaces the whole set. */
	v = api_json("PATCH", path, "{\"texts\":{\"welcome\":\"Hi, {product}"
	    "\",\"too_many\":\"Wait {minutes} min.\"},\"requireMention\":"
	    "false}", 200);
	t = cJSON_GetObjectItem(v, "texts");
	ck_assert_int_eq(cJSON_GetArraySize(t), 2);
	ck_assert_str_eq(jstr(t, "welcome"), "Hi, {product}");
	ck_assert_str_eq(jstr(t, "too_many"), "Wait {minutes} min.");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(v, "requireMention")));
	cJSON_Delete(v);
	s = sqlf("SELECT texts->>'welcome' FROM agents WHERE id = %lld",
	    (long long)id);
	ck_assert_str_eq(s, "Hi, {product}");
	free(s);
	v = api_json("GET", path, NULL, 200);
	ck_assert_str_eq(jstr(cJSON_GetObjectItem(v, "texts"), "welcome"),
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
	ck_assert_msg(strstr(jstr(fields, "texts"), "goodbye") != NULL,
	    "fields.texts names the key: %s", jstr(fields, "texts"));
	cJSON_Delete(v);
	v = api_json("PATCH", path, "{\"texts\":{\"reset\":\"\"}}", 422);
	fields = cJSON_GetObjectItem(cJSON_GetObjectItem(v, "error"), "fields");
	ck_assert(jstr(fields, "texts.reset")[0] != '\0');
	cJSON_Delete(v);
	big = repeat("x", 1001);
	json = malloc(strlen(big) + 64);
	snprintf(json, strlen(big) + 64, "{\"texts\":{\"busy\":\"%s\"}}", big);
	v = api_json("PATCH", path, json, 422);
	fields = cJSON_GetObjectItem(cJSON_GetObjectItem(v, "error"), "fields");
	ck_assert_str_eq(jstr(fields, "texts.busy"),
	    "Use at most 1000 characters.");
	cJSON_Delete(v);
	free(json);
	free(big);
	/* None of that changed anything. */
	s = sqlf("SELECT texts::text FROM agents WHERE id = %lld",
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
	ck_assert_int_eq(sql_intf("SELECT count(*) FROM agents WHERE id = "
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
	ck_assert_int_eq(sql_intf("SELECT count(*) FROM agents WHERE name = "
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

	login(&c, OWNER_EMAIL, OWNER_PW);
	req(&c, "GET", "/settings", NULL, NULL, NULL, &r);
	assert_has(&r, "href=\"/settings/organization\"", "linked");
	hresp_free(&r);
	req(&c, "GET", "/settings/organization", NULL, NULL, NULL, &r);
	assert_status(&r, 200, "GET /settings/organization");
	assert_has(&r, "name=\"product_name\"", "product field");
	hresp_free(&r);
	v = NULL;
	{
		req(&c, "GET", "/settings/organization", NULL, NULL, NULL, &r);
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
	post_form(&c, "/settings/organization", f, "/settings/organization",
	    &r);
	assert_status(&r, 303, "save");
	hresp_free(&r);
	v = sqlf("SELECT product_name || '|' || connect_prefix FROM orgs "
	    "ORDER BY id LIMIT 1");
	ck_assert_str_eq(v, "Acme Help Desk|ACME");
	free(v);
	req(&c, "GET", "/settings/organization", NULL, NULL, NULL, &r);
	assert_has(&r, "Organization settings saved.", "flash");
	assert_has(&r, "value=\"Acme Help Desk\"", "product shown");
	assert_has(&r, "value=\"ACME\"", "prefix shown");
	hresp_free(&r);

	/* Invalid: 422 with sentences, values kept, nothing stored. */
	static const char *const	 bad_prefix[] = { "A", "A1", "TOOLONG",
		"AB-C", "ÄBC", "" };
	for (size_t i = 0; i < sizeof(bad_prefix) / sizeof(bad_prefix[0]);
	    i++) {
		f[0] = '\0';
		form_add(f, sizeof(f), "product_name", "Other");
		form_add(f, sizeof(f), "connect_prefix", bad_prefix[i]);
		post_form(&c, "/settings/organization", f,
		    "/settings/organization", &r);
		ck_assert_msg(r.status == 422, "prefix \"%s\": want 422, got "
		    "%ld", bad_prefix[i], r.status);
		assert_has(&r, "Use 2 to 6 letters A to Z.", "prefix sentence");
		assert_has(&r, "id=\"err-prefix\"", "next to the field");
		hresp_free(&r);
	}
	v = repeat("x", 61);
	f[0] = '\0';
	form_add(f, sizeof(f), "product_name", v);
	form_add(f, sizeof(f), "connect_prefix", "OK");
	free(v);
	post_form(&c, "/settings/organization", f, "/settings/organization",
	    &r);
	assert_status(&r, 422, "61 characters");
	assert_has(&r, "id=\"err-product\"", "product error");
	hresp_free(&r);
	f[0] = '\0';
	form_add(f, sizeof(f), "product_name", "   ");
	form_add(f, sizeof(f), "connect_prefix", "OK");
	post_form(&c, "/settings/organization", f, "/settings/organization",
	    &r);
	assert_status(&r, 422, "blank product");
	assert_has(&r, "Enter a product name.", "blank sentence");
	hresp_free(&r);
	v = sqlf("SELECT product_name || '|' || connect_prefix FROM orgs "
	    "ORDER BY id LIMIT 1");
	ck_assert_str_eq(v, "Acme Help Desk|ACME");
	free(v);

	/* 60 characters exactly, multibyte, is fine. */
	v = repeat("\xc3\xa9", 60);
	f[0] = '\0';
	form_add(f, sizeof(f), "product_name", v);
	form_add(f, sizeof(f), "connect_prefix", "Zz");
	post_form(&c, "/settings/organization", f, "/settings/organization",
	    &r);
	assert_status(&r, 303, "60 characters");
	hresp_free(&r);
	ck_assert_int_eq(sql_intf("SELECT char_length(product_name) FROM orgs "
	    "WHERE connect_prefix = 'ZZ'"), 60);
	free(v);

	/* An admin is not an owner: 403 both ways, nothing changed. */
	login(&a, ADMIN_EMAIL, ADMIN_PW);
	req(&a, "GET", "/settings/organization", NULL, NULL, NULL, &r);
	assert_status(&r, 403, "admin GET");
	hresp_free(&r);
	f[0] = '\0';
	form_add(f, sizeof(f), "product_name", "Hijacked");
	form_add(f, sizeof(f), "connect_prefix", "HIJ");
	post_form(&a, "/settings/organization", f, "/settings", &r);
	assert_status(&r, 403, "admin POST");
	hresp_free(&r);
	ck_assert_int_eq(sql_intf("SELECT count(*) FROM orgs WHERE "
	    "connect_prefix = 'HIJ'"), 0);

	/* Back to the defaults for whoever runs next. */
	f[0] = '\0';
	form_add(f, sizeof(f), "product_name", "Parley");
	form_add(f, sizeof(f), "connect_prefix", "PRL");
	post_form(&c, "/settings/organization", f, "/settings/organization",
	    &r);
	assert_status(&r, 303, "reset");
	hresp_free(&r);
}
END_TEST

START_TEST(t_sigterm_exits_zero)
{
	int	 st = hserver_stop(&srv);

	ck_assert_msg(st == 0, "parley serve exited %d on SIGTERM (log: %s)",
	    st, srv.log_path);
	ck_assert_msg(!hserver_log_contains(&srv, "runtime error") &&
	    !hserver_log_contains(&srv, "Sanitizer"),
	    "sanitizer report in %s", srv.log_path);
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
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(texts_suite());
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
