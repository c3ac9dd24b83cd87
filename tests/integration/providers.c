/*
 * providers: LLM providers, models and secrets at rest, over real HTTP
 * against the real binary, a throwaway PostgreSQL cluster and the fake
 * LLM (tests/fakes/fake_llm, started with --api-key CANARY so it answers
 * only when the decrypted key reaches it intact).
 *
 * The canary key must never come back: every response of this file is
 * checked for it (and for the second canary) in one place, req()/api(),
 * so a page or JSON member added later that leaks the key fails here. The
 * database and the server log are searched for it too.
 *
 * One suite, one cluster, one server (CK_NOFORK; tests run in the order
 * added and share them). Tests that change global state (key rotation,
 * which stops and restarts the server) come last.
 *
 * Set PARLEY_TEST_KEEP=1 to keep the cluster directory and logs.
 */
#include "harness/panel.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>

/* This suite's cluster and server (tests/harness). */
#define sqli(...)	hpg_sqlf_int(&pg, __VA_ARGS__)
#define sqls(...)	hpg_sqlf(&pg, __VA_ARGS__)
#define api(...)	hapi(srv.base, __VA_ARGS__)

#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define OWNER_ORG	"My Organization"
#define OTHER_EMAIL	"other-owner@example.com"
#define OTHER_ORG	"Other Org"
#define OTHER_PW	"other-owner-password-1"
#define CANARY		"sk-test-canary-1234567890abcdef"
#define CANARY_MASK	"sk-\xe2\x80\xa6" "cdef"	/* 7 of 31 */
#define CANARY2		"sk-second-canary-abcdefghijklmnop"
#define CANARY2_MASK	"sk-s\xe2\x80\xa6mnop"
#define FORM_MAX	8192

static void	 setup(void);
static void	 teardown(void);
static void	 cleanup(void);
static void	 owner_client(struct client *);
static int64_t	 panel_provider(struct client *, const char *, const char *,
		    const char *);
static int64_t	 api_provider(const char *, const char *, const char *);
static void	 test_connection(struct client *, int64_t, struct hresp *);
static char	*fake_last_auth(void);
static void	 read_key(char *, unsigned char[32]);
static void	 write_key(const char *, const unsigned char[32]);
static int	 run_rotate(char **);
static Suite	*providers_suite(void);

static struct hpg	 pg;
static struct hserver	 srv;
static struct hfake	 fake;
static char		*token;		/* admin token of OWNER_ORG */
static char		*other_token;	/* owner token of OTHER_ORG */
static int64_t		 org_id;
static int64_t		 p_canary;	/* provider with CANARY, at the fake */

/* Neither canary key may appear in anything the server sends: every
 * answer is checked (hreq_forbid). */
static const char *const secrets[] = { CANARY, "canary-1234567890",
	CANARY2, NULL };

/* --- fixture ------------------------------------------------------------ */

static void
setup(void)
{
	const char	*fargs[] = { "--api-key", CANARY, NULL };

	hreq_forbid(secrets);
	hpg_start(&pg);
	hfake_start(&fake, "fake_llm", fargs);
	hserver_start(&srv, &pg, NULL);
	org_id = sqli("SELECT id FROM orgs WHERE name = '%s'", OWNER_ORG);
	ck_assert_msg(org_id > 0, "no organisation %s", OWNER_ORG);
	huser_create(&pg, OTHER_EMAIL, OTHER_ORG, "owner", OTHER_PW);
	token = htoken_create(&pg, OWNER_EMAIL, "tests", "admin");
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
	hpg_finish(&pg, "providers");
}

/* --- helpers ------------------------------------------------------------ */

static void
owner_client(struct client *c)
{
	hlogin(c, srv.base, OWNER_EMAIL, OWNER_PW);
}

/* Creates a provider through the panel form; returns its id. */
static int64_t
panel_provider(struct client *c, const char *name, const char *base_url,
    const char *key)
{
	struct hresp	 r;
	char		 f[FORM_MAX] = "";
	int64_t		 id;

	form_add(f, sizeof(f), "name", name);
	form_add(f, sizeof(f), "base_url", base_url);
	form_add(f, sizeof(f), "api_key", key);
	hpost_form(c, "/settings/providers/new", "/settings/providers", f, &r);
	id = hlocation_id(&r, "/settings/providers/");
	hresp_free(&r);
	return id;
}

/* Creates a provider through the API; returns its id. */
static int64_t
api_provider(const char *name, const char *base_url, const char *key)
{
	struct hresp	 r;
	cJSON		*j = cJSON_CreateObject();
	char		*body;
	int64_t		 id;

	cJSON_AddStringToObject(j, "name", name);
	cJSON_AddStringToObject(j, "baseUrl", base_url);
	if (key != NULL)
		cJSON_AddStringToObject(j, "apiKey", key);
	body = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	api(token, "POST", "/api/v1/providers", body, &r);
	free(body);
	ck_assert_msg(r.status == 201, "POST /api/v1/providers %s: %ld %s",
	    name, r.status, r.body);
	j = hresp_json(&r);
	id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "id"));
	cJSON_Delete(j);
	hresp_free(&r);
	ck_assert(id > 0);
	return id;
}

/* POST …/test from the edit page; 200 with the result on the page. */
static void
test_connection(struct client *c, int64_t id, struct hresp *r)
{
	char	 page[128], action[128];

	snprintf(page, sizeof(page), "/settings/providers/%lld",
	    (long long)id);
	snprintf(action, sizeof(action), "/settings/providers/%lld/test",
	    (long long)id);
	hpost_form(c, page, action, "", r);
	ck_assert_msg(r->status == 200, "Test connection: want 200, got "
	    "%ld:\n%.2000s", r->status, r->body);
}

/* The Authorization header of the fake's last /v1 request (malloc'd). */
static char *
fake_last_auth(void)
{
	cJSON		*j = hfake_log(&fake);
	const cJSON	*last;
	char		*v;

	ck_assert_msg(cJSON_GetArraySize(j) > 0, "the fake LLM saw no "
	    "request");
	last = cJSON_GetArrayItem(j, cJSON_GetArraySize(j) - 1);
	v = strdup(hjstr(last, "authorization"));
	cJSON_Delete(j);
	return v;
}

static void
read_key(char *path, unsigned char key[32])
{
	int	 fd = open(path, O_RDONLY);

	ck_assert_msg(fd >= 0, "cannot open %s", path);
	ck_assert_int_eq(read(fd, key, 32), 32);
	close(fd);
}

static void
write_key(const char *path, const unsigned char key[32])
{
	int	 fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_msg(fd >= 0, "cannot create %s", path);
	ck_assert_int_eq(write(fd, key, 32), 32);
	ck_assert_int_eq(fchmod(fd, 0600), 0);
	close(fd);
}

static int
run_rotate(char **out)
{
	const char	*args[] = { "key", "rotate", NULL };

	return hrun_parley(&pg, args, NULL, out);
}

/* --- tests: providers ---------------------------------------------------- */

START_TEST(t_panel_create_provider)
{
	struct client	 c;
	struct hresp	 r;
	char		 url[128], path[128];
	char		*v;

	owner_client(&c);
	snprintf(url, sizeof(url), "%s/v1///", fake.base);
	p_canary = panel_provider(&c, "Fake LLM", url, "  " CANARY " ");

	snprintf(path, sizeof(path), "/settings/providers/%lld",
	    (long long)p_canary);
	hget(&c, path, 200, &r);
	ck_assert_msg(strstr(r.body, CANARY_MASK) != NULL, "the edit page "
	    "does not show the masked key:\n%.3000s", r.body);
	ck_assert_msg(strstr(r.body, "leave blank to keep the current key")
	    != NULL, "no hint on the key field");
	v = html_input_value(r.body, "api_key");
	ck_assert_msg(v != NULL && v[0] == '\0', "the key field is not "
	    "empty: %s", v != NULL ? v : "(none)");
	free(v);
	/* Trailing slashes were stripped. */
	v = html_input_value(r.body, "base_url");
	snprintf(url, sizeof(url), "%s/v1", fake.base);
	ck_assert_msg(v != NULL && strcmp(v, url) == 0, "base_url %s, "
	    "want %s", v != NULL ? v : "(none)", url);
	free(v);
	ck_assert(strstr(r.body, "name=\"_csrf\"") != NULL);
	hresp_free(&r);

	hget(&c, "/settings/providers", 200, &r);
	ck_assert_msg(strstr(r.body, CANARY_MASK) != NULL && strstr(r.body,
	    "Fake LLM") != NULL, "the list lacks the provider or its "
	    "mask:\n%.3000s", r.body);
	hresp_free(&r);

	/* At rest: ciphertext only, plus the mask. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_providers"
	    " WHERE id = %lld AND api_key_enc IS NOT NULL"
	    "   AND position(convert_to('canary', 'UTF8') IN api_key_enc) = 0"
	    "   AND position(convert_to('1234567890', 'UTF8') IN api_key_enc)"
	    "       = 0"
	    "   AND length(api_key_enc) = 24 + 16 + %d",
	    (long long)p_canary, (int)strlen(CANARY)), 1);
	v = sqls("SELECT api_key_hint FROM llm_providers WHERE id = %lld",
	    (long long)p_canary);
	ck_assert_str_eq(v, CANARY_MASK);
	free(v);
	v = sqls("SELECT count(*) FROM llm_providers WHERE"
	    " api_key_hint LIKE '%%canary%%' OR base_url LIKE '%%canary%%'");
	ck_assert_str_eq(v, "0");
	free(v);
}
END_TEST

START_TEST(t_panel_provider_validation)
{
	struct client	 c;
	struct hresp	 r;
	char		 f[FORM_MAX] = "";

	owner_client(&c);
	form_add(f, sizeof(f), "name", "");
	form_add(f, sizeof(f), "base_url", "ftp://example.com");
	form_add(f, sizeof(f), "api_key", CANARY2);
	hpost_form(&c, "/settings/providers/new", "/settings/providers", f, &r);
	ck_assert_msg(r.status == 422, "want 422, got %ld", r.status);
	ck_assert_msg(strstr(r.body, "Enter a name.") != NULL &&
	    strstr(r.body, "http:// or https://") != NULL &&
	    strstr(r.body, "class=\"field-error\"") != NULL,
	    "no field errors:\n%.3000s", r.body);
	ck_assert(strstr(r.body, "aria-invalid=\"true\"") != NULL);
	ck_assert_msg(strstr(r.body, "enter it again") != NULL, "no note "
	    "that the typed key must be typed again");
	hresp_free(&r);

	f[0] = '\0';
	form_add(f, sizeof(f), "name", "Spaces");
	form_add(f, sizeof(f), "base_url", "https://exa mple.com/v1");
	hpost_form(&c, "/settings/providers/new", "/settings/providers", f, &r);
	ck_assert_int_eq(r.status, 422);
	hresp_free(&r);

	f[0] = '\0';
	form_add(f, sizeof(f), "name", "Ctl");
	form_add(f, sizeof(f), "base_url", "https://example.com/v1");
	form_add(f, sizeof(f), "api_key", "sk-abc\x01" "def");
	hpost_form(&c, "/settings/providers/new", "/settings/providers", f, &r);
	ck_assert_int_eq(r.status, 422);
	ck_assert(strstr(r.body, "control characters") != NULL);
	hresp_free(&r);

	/* The name is taken (t_panel_create_provider's). */
	f[0] = '\0';
	form_add(f, sizeof(f), "name", "Fake LLM");
	form_add(f, sizeof(f), "base_url", "https://example.com/v1");
	hpost_form(&c, "/settings/providers/new", "/settings/providers", f, &r);
	ck_assert_msg(r.status == 409, "duplicate name: want 409, got %ld",
	    r.status);
	ck_assert(strstr(r.body, "already has this name") != NULL);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_providers"
	    " WHERE name IN ('', 'Spaces', 'Ctl')"), 0);
}
END_TEST

START_TEST(t_panel_provider_update_key)
{
	struct client	 c;
	struct hresp	 r;
	char		 f[FORM_MAX] = "", path[128];
	char		*enc1, *enc2, *enc3;
	int64_t		 id;

	owner_client(&c);
	id = panel_provider(&c, "Rekey", "https://rekey.example.com/v1",
	    CANARY2);
	snprintf(path, sizeof(path), "/settings/providers/%lld",
	    (long long)id);
	enc1 = sqls("SELECT encode(api_key_enc, 'hex') FROM llm_providers"
	    " WHERE id = %lld", (long long)id);

	/* Blank key: kept, byte for byte. */
	form_add(f, sizeof(f), "name", "Rekeyed");
	form_add(f, sizeof(f), "base_url", "https://rekey.example.com/v1");
	form_add(f, sizeof(f), "api_key", "");
	hpost_form(&c, path, path, f, &r);
	ck_assert_int_eq(hlocation_id(&r, "/settings/providers/"), id);
	hresp_free(&r);
	enc2 = sqls("SELECT encode(api_key_enc, 'hex') FROM llm_providers"
	    " WHERE id = %lld", (long long)id);
	ck_assert_str_eq(enc1, enc2);
	hget(&c, path, 200, &r);
	ck_assert(strstr(r.body, CANARY2_MASK) != NULL);
	ck_assert(strstr(r.body, "Rekeyed") != NULL);
	hresp_free(&r);

	/* Remove key. */
	f[0] = '\0';
	form_add(f, sizeof(f), "name", "Rekeyed");
	form_add(f, sizeof(f), "base_url", "https://rekey.example.com/v1");
	form_add(f, sizeof(f), "api_key", "");
	form_add(f, sizeof(f), "remove_key", "1");
	hpost_form(&c, path, path, f, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	enc3 = sqls("SELECT coalesce(encode(api_key_enc, 'hex'), 'NULL') ||"
	    " '/' || api_key_hint FROM llm_providers WHERE id = %lld",
	    (long long)id);
	ck_assert_str_eq(enc3, "NULL/");
	hget(&c, path, 200, &r);
	ck_assert(strstr(r.body, CANARY2_MASK) == NULL);
	ck_assert(strstr(r.body, "No key is stored") != NULL);
	hresp_free(&r);
	free(enc1);
	free(enc2);
	free(enc3);
}
END_TEST

START_TEST(t_api_providers)
{
	struct hresp	 r;
	cJSON		*j;
	char		 path[128];
	int64_t		 id;

	id = api_provider("Api Provider", "https://api.example.com/v1/",
	    CANARY);
	snprintf(path, sizeof(path), "/api/v1/providers/%lld", (long long)id);
	api(token, "GET", path, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	j = hresp_json(&r);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j,
	    "apiKeyHint")), CANARY_MASK);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "hasApiKey")));
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j,
	    "baseUrl")), "https://api.example.com/v1");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j,
	    "name")), "Api Provider");
	ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "modelCount")));
	ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "createdAt")));
	ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "updatedAt")));
	ck_assert(cJSON_GetObjectItem(j, "apiKey") == NULL);
	cJSON_Delete(j);
	hresp_free(&r);

	api(token, "GET", "/api/v1/providers", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(strstr(r.body, CANARY_MASK) != NULL);
	hresp_free(&r);

	/* PATCH: absent unchanged, "" keeps, null removes. */
	api(token, "PATCH", path, "{\"name\":\"Api Renamed\",\"apiKey\":\"\"}",
	    &r);
	ck_assert_msg(r.status == 200, "PATCH: %ld %s", r.status, r.body);
	ck_assert(strstr(r.body, "Api Renamed") != NULL);
	ck_assert(strstr(r.body, CANARY_MASK) != NULL);
	ck_assert(strstr(r.body, "https://api.example.com/v1") != NULL);
	hresp_free(&r);
	api(token, "PATCH", path, "{\"apiKey\":\"" CANARY2 "\"}", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(strstr(r.body, CANARY2_MASK) != NULL);
	hresp_free(&r);
	api(token, "PATCH", path, "{\"apiKey\":null}", &r);
	ck_assert_int_eq(r.status, 200);
	j = hresp_json(&r);
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "hasApiKey")));
	cJSON_Delete(j);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_providers"
	    " WHERE id = %lld AND api_key_enc IS NULL", (long long)id), 1);

	/* Wrong types: 400 naming the member. */
	api(token, "PATCH", path, "{\"baseUrl\":5}", &r);
	ck_assert_msg(r.status == 400 && strstr(r.body, "baseUrl") != NULL,
	    "%ld %s", r.status, r.body);
	hresp_free(&r);
	api(token, "POST", "/api/v1/providers", "{\"name\":[],"
	    "\"baseUrl\":\"https://x.example\"}", &r);
	ck_assert_msg(r.status == 400 && strstr(r.body, "name") != NULL,
	    "%ld %s", r.status, r.body);
	hresp_free(&r);
	api(token, "POST", "/api/v1/providers", "{\"name\":\"T\","
	    "\"baseUrl\":\"https://x.example\",\"apiKey\":7}", &r);
	ck_assert_int_eq(r.status, 400);
	hresp_free(&r);

	/* Invalid values: 422 with camelCase fields. */
	api(token, "POST", "/api/v1/providers", "{\"name\":\"\","
	    "\"baseUrl\":\"nope\"}", &r);
	ck_assert_int_eq(r.status, 422);
	j = hresp_json(&r);
	{
		cJSON	*fields = cJSON_GetObjectItem(cJSON_GetObjectItem(j,
			    "error"), "fields");

		ck_assert_msg(cJSON_IsString(cJSON_GetObjectItem(fields,
		    "name")) && cJSON_IsString(cJSON_GetObjectItem(fields,
		    "baseUrl")), "422 fields: %s", r.body);
	}
	cJSON_Delete(j);
	hresp_free(&r);

	/* Conflict. */
	api(token, "POST", "/api/v1/providers", "{\"name\":\"Api Renamed\","
	    "\"baseUrl\":\"https://x.example\"}", &r);
	ck_assert_int_eq(r.status, 409);
	hresp_free(&r);
	api(token, "PATCH", path, "{\"name\":\"Fake LLM\"}", &r);
	ck_assert_int_eq(r.status, 409);
	hresp_free(&r);

	/* Delete. */
	api(token, "DELETE", path, NULL, &r);
	ck_assert_int_eq(r.status, 204);
	hresp_free(&r);
	api(token, "GET", path, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	api(token, "DELETE", path, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	api(token, "GET", "/api/v1/providers/abc", NULL, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
}
END_TEST

START_TEST(t_test_connection_fake)
{
	struct client	 c;
	struct hresp	 r;
	char		 url[128];
	char		*auth;
	int64_t		 wrong;

	owner_client(&c);
	hfake_reset(&fake);
	test_connection(&c, p_canary, &r);
	ck_assert_msg(strstr(r.body, "Connected: 2 models") != NULL &&
	    strstr(r.body, "fake-model") != NULL, "no Connected sentence:\n"
	    "%.3000s", r.body);
	hresp_free(&r);
	auth = fake_last_auth();
	ck_assert_str_eq(auth, "Bearer " CANARY);
	free(auth);

	/* The fake refuses another key: a sentence, not a 500. */
	snprintf(url, sizeof(url), "%s/v1", fake.base);
	wrong = api_provider("Wrong key", url, "sk-wrong-key-0000000000000");
	test_connection(&c, wrong, &r);
	ck_assert_msg(strstr(r.body, "The connection failed") != NULL &&
	    strstr(r.body, "Connected:") == NULL, "no failure sentence:\n"
	    "%.3000s", r.body);
	hresp_free(&r);
}
END_TEST

START_TEST(t_test_connection_unreachable)
{
	struct client	 c;
	struct hresp	 r;
	int64_t		 id;

	owner_client(&c);
	id = panel_provider(&c, "Nowhere", "http://127.0.0.1:1/v1", CANARY2);
	test_connection(&c, id, &r);
	ck_assert_msg(strstr(r.body, "The connection failed") != NULL,
	    "no failure sentence:\n%.3000s", r.body);
	ck_assert(strstr(r.body, "class=\"error test-result\"") != NULL);
	hresp_free(&r);
}
END_TEST

START_TEST(t_swapped_ciphertext)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[128];
	int64_t		 a, b;

	owner_client(&c);
	a = api_provider("Swap A", "https://a.example.com/v1", CANARY);
	b = api_provider("Swap B", "https://b.example.com/v1", CANARY2);
	free(sqls("UPDATE llm_providers SET api_key_enc = (SELECT api_key_enc"
	    " FROM llm_providers WHERE id = %lld) WHERE id = %lld"
	    " RETURNING id", (long long)a, (long long)b));

	snprintf(path, sizeof(path), "/settings/providers/%lld",
	    (long long)b);
	hget(&c, path, 200, &r);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/providers/%lld", (long long)b);
	api(token, "GET", path, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	hresp_free(&r);
	test_connection(&c, b, &r);
	ck_assert_msg(strstr(r.body, "key cannot be read") != NULL,
	    "no sentence about the unreadable key:\n%.3000s", r.body);
	hresp_free(&r);
	/* A still opens: the copy did not disturb its own row. */
	hfake_reset(&fake);
	test_connection(&c, p_canary, &r);
	ck_assert(strstr(r.body, "Connected: 2 models") != NULL);
	hresp_free(&r);
	/* Leave B swapped for t_key_rotate, which must refuse it. */
}
END_TEST

/* --- tests: models ------------------------------------------------------- */

START_TEST(t_models_panel)
{
	struct client	 c;
	struct hresp	 r;
	char		 f[FORM_MAX] = "", pid[32], path[128], action[160];
	int64_t		 builtin, m1, m2;

	owner_client(&c);
	builtin = sqli("SELECT id FROM org_models WHERE org_id = %lld"
	    " AND name = 'parley/faq' AND provider_id IS NULL",
	    (long long)org_id);
	ck_assert_msg(builtin > 0, "no built-in model");
	hget(&c, "/settings/models", 200, &r);
	ck_assert_msg(strstr(r.body, "Parley FAQ (offline)</a> <span "
	    "class=\"badge ok-badge\">default</span>") != NULL, "the built-in "
	    "model is not shown as the default:\n%.3000s", r.body);
	hresp_free(&r);

	/* A model, made the default on creation. */
	snprintf(pid, sizeof(pid), "%lld", (long long)p_canary);
	form_add(f, sizeof(f), "provider_id", pid);
	form_add(f, sizeof(f), "name", "fake-model");
	form_add(f, sizeof(f), "display_name", "Fake model");
	form_add(f, sizeof(f), "supports_tools", "1");
	form_add(f, sizeof(f), "is_default", "1");
	hpost_form(&c, "/settings/models/new", "/settings/models", f, &r);
	ck_assert_msg(r.status == 303, "create model: %ld\n%.2000s", r.status,
	    r.body);
	hresp_free(&r);
	m1 = sqli("SELECT id FROM org_models WHERE org_id = %lld"
	    " AND name = 'fake-model'", (long long)org_id);
	ck_assert_int_eq(sqli("SELECT count(*) FROM org_models"
	    " WHERE org_id = %lld AND is_default", (long long)org_id), 1);
	ck_assert_int_eq(sqli("SELECT id FROM org_models"
	    " WHERE org_id = %lld AND is_default", (long long)org_id), m1);
	hget(&c, "/settings/models", 200, &r);
	ck_assert(strstr(r.body, "Fake model") != NULL);
	ck_assert(strstr(r.body, "Fake LLM") != NULL);
	hresp_free(&r);

	/* Second model, not default; then "Make default". */
	f[0] = '\0';
	form_add(f, sizeof(f), "provider_id", pid);
	form_add(f, sizeof(f), "name", "fake-tools");
	form_add(f, sizeof(f), "supports_vision", "1");
	hpost_form(&c, "/settings/models/new", "/settings/models", f, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	m2 = sqli("SELECT id FROM org_models WHERE org_id = %lld"
	    " AND name = 'fake-tools'", (long long)org_id);
	ck_assert(m2 > 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM org_models"
	    " WHERE id = %lld AND display_name = 'fake-tools'"
	    " AND supports_vision AND NOT supports_tools AND NOT is_default",
	    (long long)m2), 1);
	snprintf(action, sizeof(action), "/settings/models/%lld/default",
	    (long long)m2);
	hpost_form(&c, "/settings/models", action, "", &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT id FROM org_models"
	    " WHERE org_id = %lld AND is_default", (long long)org_id), m2);
	ck_assert_int_eq(sqli("SELECT count(*) FROM org_models"
	    " WHERE org_id = %lld AND is_default", (long long)org_id), 1);

	/* Validation and conflicts. */
	f[0] = '\0';
	form_add(f, sizeof(f), "provider_id", "");
	form_add(f, sizeof(f), "name", "has space");
	hpost_form(&c, "/settings/models/new", "/settings/models", f, &r);
	ck_assert_int_eq(r.status, 422);
	ck_assert_msg(strstr(r.body, "id=\"err-provider\">Choose a provider.")
	    != NULL, "no provider error:\n%.3000s", r.body);
	ck_assert(strstr(r.body, "no spaces") != NULL);
	hresp_free(&r);
	f[0] = '\0';
	form_add(f, sizeof(f), "provider_id", pid);
	form_add(f, sizeof(f), "name", "fake-model");
	hpost_form(&c, "/settings/models/new", "/settings/models", f, &r);
	ck_assert_int_eq(r.status, 409);
	hresp_free(&r);
	f[0] = '\0';
	form_add(f, sizeof(f), "provider_id", pid);
	form_add(f, sizeof(f), "name", "parley/other");
	hpost_form(&c, "/settings/models/new", "/settings/models", f, &r);
	ck_assert_int_eq(r.status, 422);
	hresp_free(&r);

	/* Unticking "default" on the default model is refused. */
	snprintf(path, sizeof(path), "/settings/models/%lld", (long long)m2);
	f[0] = '\0';
	form_add(f, sizeof(f), "provider_id", pid);
	form_add(f, sizeof(f), "name", "fake-tools");
	hpost_form(&c, path, path, f, &r);
	ck_assert_int_eq(r.status, 422);
	ck_assert(strstr(r.body, "Make another model the default") != NULL);
	hresp_free(&r);

	/* The built-in: only display name and default change. */
	snprintf(path, sizeof(path), "/settings/models/%lld",
	    (long long)builtin);
	hget(&c, path, 200, &r);
	ck_assert(strstr(r.body, "Delete this model") == NULL);
	hresp_free(&r);
	f[0] = '\0';
	form_add(f, sizeof(f), "name", "hijack");
	form_add(f, sizeof(f), "display_name", "Offline FAQ");
	form_add(f, sizeof(f), "is_default", "1");
	hpost_form(&c, path, path, f, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM org_models"
	    " WHERE id = %lld AND name = 'parley/faq' AND provider_id IS NULL"
	    " AND display_name = 'Offline FAQ' AND is_default",
	    (long long)builtin), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM org_models"
	    " WHERE org_id = %lld AND is_default", (long long)org_id), 1);
	snprintf(action, sizeof(action), "/settings/models/%lld/delete",
	    (long long)builtin);
	hpost_form(&c, path, action, "confirm=yes", &r);
	ck_assert_int_eq(r.status, 409);
	ck_assert(strstr(r.body, "built-in model cannot be deleted") != NULL);
	hresp_free(&r);

	/* A provider in use cannot go. */
	snprintf(path, sizeof(path), "/settings/providers/%lld",
	    (long long)p_canary);
	snprintf(action, sizeof(action), "/settings/providers/%lld/delete",
	    (long long)p_canary);
	hpost_form(&c, path, action, "confirm=yes", &r);
	ck_assert_int_eq(r.status, 409);
	ck_assert(strstr(r.body, "cannot be deleted while models use it")
	    != NULL);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_providers"
	    " WHERE id = %lld", (long long)p_canary), 1);

	/* Deleting asks first; the default passes to the built-in. */
	free(sqls("UPDATE org_models SET is_default = false"
	    " WHERE org_id = %lld AND is_default RETURNING 1",
	    (long long)org_id));
	free(sqls("UPDATE org_models SET is_default = true"
	    " WHERE id = %lld RETURNING 1", (long long)m1));
	ck_assert_int_eq(sqli("SELECT id FROM org_models"
	    " WHERE org_id = %lld AND is_default", (long long)org_id), m1);
	snprintf(path, sizeof(path), "/settings/models/%lld", (long long)m1);
	snprintf(action, sizeof(action), "/settings/models/%lld/delete",
	    (long long)m1);
	hpost_form(&c, path, action, "", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(strstr(r.body, "name=\"confirm\" value=\"yes\"") != NULL);
	ck_assert(strstr(r.body, "Yes, delete") != NULL);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM org_models"
	    " WHERE id = %lld", (long long)m1), 1);
	hpost_form(&c, path, action, "confirm=yes", &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM org_models"
	    " WHERE id = %lld", (long long)m1), 0);
	ck_assert_int_eq(sqli("SELECT id FROM org_models"
	    " WHERE org_id = %lld AND is_default", (long long)org_id),
	    builtin);
}
END_TEST

START_TEST(t_models_api)
{
	struct hresp	 r;
	cJSON		*j, *data, *m;
	char		 body[512], path[128];
	int64_t		 id, builtin = 0, other_prov;
	bool		 seen_builtin = false;

	api(token, "GET", "/api/v1/models", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	j = hresp_json(&r);
	data = cJSON_GetObjectItem(j, "data");
	ck_assert(cJSON_IsArray(data));
	cJSON_ArrayForEach(m, data) {
		if (!cJSON_IsTrue(cJSON_GetObjectItem(m, "isBuiltin")))
			continue;
		seen_builtin = true;
		builtin = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(m,
		    "id"));
		ck_assert(cJSON_IsNull(cJSON_GetObjectItem(m, "providerId")));
		ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(m,
		    "name")), "parley/faq");
		ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(m,
		    "agentCount")));
	}
	ck_assert(seen_builtin);
	cJSON_Delete(j);
	hresp_free(&r);

	snprintf(body, sizeof(body), "{\"providerId\":%lld,\"name\":"
	    "\"api-model\",\"displayName\":\"API model\",\"supportsVision\":"
	    "true,\"isDefault\":true}", (long long)p_canary);
	api(token, "POST", "/api/v1/models", body, &r);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	j = hresp_json(&r);
	id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "id"));
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "isDefault")));
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "supportsVision")));
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "supportsTools")));
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "isBuiltin")));
	ck_assert_int_eq((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j,
	    "providerId")), p_canary);
	cJSON_Delete(j);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM org_models"
	    " WHERE org_id = %lld AND is_default", (long long)org_id), 1);

	snprintf(path, sizeof(path), "/api/v1/models/%lld", (long long)id);
	api(token, "PATCH", path, "{\"displayName\":\"Renamed\"}", &r);
	ck_assert_int_eq(r.status, 200);
	j = hresp_json(&r);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j,
	    "displayName")), "Renamed");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j,
	    "name")), "api-model");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "isDefault")));
	cJSON_Delete(j);
	hresp_free(&r);

	/* Types and values. */
	api(token, "POST", "/api/v1/models", "{\"providerId\":\"1\","
	    "\"name\":\"x\"}", &r);
	ck_assert_msg(r.status == 400 && strstr(r.body, "providerId") != NULL,
	    "%ld %s", r.status, r.body);
	hresp_free(&r);
	api(token, "PATCH", path, "{\"isDefault\":1}", &r);
	ck_assert_int_eq(r.status, 400);
	hresp_free(&r);
	other_prov = sqli("INSERT INTO llm_providers (org_id, name,"
	    " base_url) SELECT id, 'Theirs', 'https://t.example' FROM orgs"
	    " WHERE name = '%s' RETURNING id", OTHER_ORG);
	ck_assert(other_prov > 0);
	snprintf(body, sizeof(body), "{\"providerId\":%lld,\"name\":\"x\"}",
	    (long long)other_prov);
	api(token, "POST", "/api/v1/models", body, &r);
	ck_assert_msg(r.status == 422 && strstr(r.body, "providerId") != NULL,
	    "another org's provider: %ld %s", r.status, r.body);
	hresp_free(&r);

	/* The built-in model stays. */
	ck_assert(builtin > 0);
	snprintf(path, sizeof(path), "/api/v1/models/%lld", (long long)builtin);
	api(token, "DELETE", path, NULL, &r);
	ck_assert_int_eq(r.status, 409);
	hresp_free(&r);
	api(token, "PATCH", path, "{\"name\":\"parley/other\"}", &r);
	ck_assert_int_eq(r.status, 422);
	hresp_free(&r);
	api(token, "PATCH", path, "{\"isDefault\":true}", &r);
	ck_assert_int_eq(r.status, 200);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT id FROM org_models"
	    " WHERE org_id = %lld AND is_default", (long long)org_id),
	    builtin);

	/* The provider in use: 409; the model goes, then the provider may. */
	snprintf(path, sizeof(path), "/api/v1/providers/%lld",
	    (long long)p_canary);
	api(token, "DELETE", path, NULL, &r);
	ck_assert_int_eq(r.status, 409);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/models/%lld", (long long)id);
	api(token, "DELETE", path, NULL, &r);
	ck_assert_int_eq(r.status, 204);
	hresp_free(&r);
	api(token, "GET", path, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
}
END_TEST

/* --- tests: organisations ------------------------------------------------ */

START_TEST(t_other_org_404)
{
	struct client	 c, own;
	struct hresp	 r;
	char		 path[160], page[160];
	int64_t		 model;
	const char	*const suffixes[] = { "", "/delete", "/test" };

	model = sqli("SELECT id FROM org_models WHERE org_id = %lld"
	    " ORDER BY id LIMIT 1", (long long)org_id);
	hlogin(&c, srv.base, OTHER_EMAIL, OTHER_PW);

	snprintf(path, sizeof(path), "/settings/providers/%lld",
	    (long long)p_canary);
	hget(&c, path, 404, &r);
	hresp_free(&r);
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/settings/providers/%lld%s",
		    (long long)p_canary, suffixes[i]);
		hpost_form(&c, "/settings/providers", path, "name=x&base_url="
		    "https%3A%2F%2Fx.example&confirm=yes", &r);
		ck_assert_msg(r.status == 404, "POST %s as another org: %ld",
		    path, r.status);
		hresp_free(&r);
	}
	snprintf(path, sizeof(path), "/settings/models/%lld",
	    (long long)model);
	hget(&c, path, 404, &r);
	hresp_free(&r);
	snprintf(page, sizeof(page), "/settings/models");
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/settings/models/%lld%s",
		    (long long)model, i == 0 ? "" : i == 1 ? "/delete" :
		    "/default");
		hpost_form(&c, page, path, "name=x&confirm=yes", &r);
		ck_assert_msg(r.status == 404, "POST %s as another org: %ld",
		    path, r.status);
		hresp_free(&r);
	}
	hget(&c, "/settings/providers", 200, &r);
	ck_assert(strstr(r.body, "Fake LLM") == NULL);
	ck_assert(strstr(r.body, CANARY_MASK) == NULL);
	hresp_free(&r);

	snprintf(path, sizeof(path), "/api/v1/providers/%lld",
	    (long long)p_canary);
	api(other_token, "GET", path, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	api(other_token, "PATCH", path, "{\"name\":\"mine\"}", &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	api(other_token, "DELETE", path, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/models/%lld", (long long)model);
	api(other_token, "GET", path, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	api(other_token, "PATCH", path, "{\"displayName\":\"mine\"}", &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	api(other_token, "DELETE", path, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	api(other_token, "GET", "/api/v1/providers", NULL, &r);
	ck_assert(strstr(r.body, "Fake LLM") == NULL);
	hresp_free(&r);

	/* Nothing of ours changed. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_providers"
	    " WHERE id = %lld AND name = 'Fake LLM'", (long long)p_canary), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM org_models"
	    " WHERE id = %lld", (long long)model), 1);
	/* And the owner still sees it. */
	owner_client(&own);
	snprintf(path, sizeof(path), "/settings/providers/%lld",
	    (long long)p_canary);
	hget(&own, path, 200, &r);
	hresp_free(&r);
}
END_TEST

/* --- tests: key rotation (restarts the server; keep last) --------------- */

START_TEST(t_key_rotate)
{
	struct client	 c;
	struct hresp	 r;
	unsigned char	 k0[32], k1[32], junk[32];
	char		 keyfile[400], pending[420], path[128];
	char		*out = NULL, *enc0, *enc1, *enc2, *auth;
	struct stat	 sb;
	int		 st;
	int64_t		 swapped;

	snprintf(keyfile, sizeof(keyfile), "%s/parley-data/master.key",
	    pg.dir);
	snprintf(pending, sizeof(pending), "%s.new", keyfile);
	ck_assert_int_eq(hserver_stop(&srv), 0);
	ck_assert_msg(!hserver_log_contains(&srv, "canary"), "the server "
	    "log holds an API key");
	read_key(keyfile, k0);
	enc0 = sqls("SELECT encode(api_key_enc, 'hex') FROM llm_providers"
	    " WHERE id = %lld", (long long)p_canary);

	/* A key that does not open (t_swapped_ciphertext's): refused,
	 * nothing changes. */
	swapped = sqli("SELECT id FROM llm_providers WHERE name = 'Swap B'");
	ck_assert(swapped > 0);
	st = run_rotate(&out);
	ck_assert_msg(st == 1 && strstr(out, "does not open") != NULL,
	    "rotate with an unreadable secret exited %d:\n%s", st, out);
	free(out);
	read_key(keyfile, k1);
	ck_assert(memcmp(k0, k1, 32) == 0);
	ck_assert_int_eq(access(pending, F_OK), -1);
	enc1 = sqls("SELECT encode(api_key_enc, 'hex') FROM llm_providers"
	    " WHERE id = %lld", (long long)p_canary);
	ck_assert_str_eq(enc0, enc1);
	free(enc1);
	free(sqls("UPDATE llm_providers SET api_key_enc = NULL,"
	    " api_key_hint = '' WHERE id = %lld RETURNING id",
	    (long long)swapped));

	/* A stale .new from a crash before commit is discarded. */
	memset(junk, 0x5a, sizeof(junk));
	write_key(pending, junk);
	st = run_rotate(&out);
	ck_assert_msg(st == 0 && strstr(out, "Re-encrypted") != NULL,
	    "parley key rotate exited %d:\n%s", st, out);
	free(out);
	ck_assert_int_eq(access(pending, F_OK), -1);
	ck_assert_int_eq(stat(keyfile, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	read_key(keyfile, k1);
	ck_assert(memcmp(k0, k1, 32) != 0);
	ck_assert(memcmp(junk, k1, 32) != 0);
	enc1 = sqls("SELECT encode(api_key_enc, 'hex') FROM llm_providers"
	    " WHERE id = %lld", (long long)p_canary);
	ck_assert_str_ne(enc0, enc1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_providers"
	    " WHERE api_key_enc IS NOT NULL AND"
	    " position(convert_to('canary', 'UTF8') IN api_key_enc) > 0"), 0);

	/*
	 * A crash after commit, before the rename: the database is sealed
	 * with the .new key, the key file still holds the old one. Running
	 * rotate again finishes the job.
	 */
	write_key(pending, k1);
	write_key(keyfile, k0);
	st = run_rotate(&out);
	ck_assert_msg(st == 0 && strstr(out, "interrupted") != NULL,
	    "recovery exited %d:\n%s", st, out);
	free(out);
	read_key(keyfile, junk);
	ck_assert(memcmp(junk, k1, 32) == 0);
	ck_assert_int_eq(access(pending, F_OK), -1);
	enc2 = sqls("SELECT encode(api_key_enc, 'hex') FROM llm_providers"
	    " WHERE id = %lld", (long long)p_canary);
	ck_assert_str_eq(enc1, enc2);

	/* The restarted server opens the re-sealed key. */
	hserver_start(&srv, &pg, NULL);
	snprintf(path, sizeof(path), "/api/v1/providers/%lld",
	    (long long)p_canary);
	api(token, "GET", path, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(strstr(r.body, CANARY_MASK) != NULL);
	hresp_free(&r);
	owner_client(&c);
	hfake_reset(&fake);
	test_connection(&c, p_canary, &r);
	ck_assert_msg(strstr(r.body, "Connected: 2 models") != NULL,
	    "after rotation:\n%.3000s", r.body);
	hresp_free(&r);
	auth = fake_last_auth();
	ck_assert_str_eq(auth, "Bearer " CANARY);
	free(auth);
	free(enc0);
	free(enc1);
	free(enc2);
}
END_TEST

START_TEST(t_no_key_in_log_and_clean_stop)
{
	/* Exit 0 under ASan/UBSan also means no leak and no report. */
	hserver_stop_clean(&srv);
	ck_assert_msg(!hserver_log_contains(&srv, "canary"), "the server "
	    "log holds an API key");
}
END_TEST

/* --- main ---------------------------------------------------------------- */

static Suite *
providers_suite(void)
{
	Suite	*s = suite_create("providers");
	TCase	*tc = tcase_create("providers");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, t_panel_create_provider);
	tcase_add_test(tc, t_panel_provider_validation);
	tcase_add_test(tc, t_panel_provider_update_key);
	tcase_add_test(tc, t_api_providers);
	tcase_add_test(tc, t_test_connection_fake);
	tcase_add_test(tc, t_test_connection_unreachable);
	tcase_add_test(tc, t_swapped_ciphertext);
	tcase_add_test(tc, t_models_panel);
	tcase_add_test(tc, t_models_api);
	tcase_add_test(tc, t_other_org_404);
	tcase_add_test(tc, t_key_rotate);
	tcase_add_test(tc, t_no_key_in_log_and_clean_stop);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int	 failed = hrun_suites(providers_suite(), NULL);

	/* A fixture whose setup failed had no teardown: clean up here. */
	cleanup();
	if (fake.pid > 0)
		hfake_stop(&fake);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
