/*
 * agents: the Agents area over real HTTP against the real binary and a
 * throwaway PostgreSQL cluster — panel forms (with CSRF) and the REST API
 * (with a bearer token): create, edit, delete, validation sentences next
 * to the field, slug conflicts, plugin toggles, knowledge entries pasted
 * and uploaded (multipart), organisation isolation (another org's ids are
 * 404 everywhere), and "Try it" answering from the knowledge base with the
 * built-in offline model.
 *
 * One suite, one cluster and one server (unchecked fixture, CK_NOFORK):
 * tests share the server, so each creates its own agents with names of its
 * own. A second organisation with an agent and a knowledge entry is made
 * with SQL in the fixture. The last test stops the server and checks that
 * it exits 0 on SIGTERM (under ASan: no leak).
 *
 * Set PARLEY_TEST_KEEP=1 to keep the cluster directory and server log.
 */
#include "harness/panel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>

/* This suite's cluster, server and API token (tests/harness). */
#define sqli(...)	hpg_sqlf_int(&pg, __VA_ARGS__)
#define sqls(...)	hpg_sqlf(&pg, __VA_ARGS__)
#define api(...)	hapi(srv.base, token, __VA_ARGS__)
#define api_json(...)	hapi_json(srv.base, token, __VA_ARGS__)

#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define FORM_MAX	16384
#define BOUNDARY	"----parleytestboundary7d1f"

static void	 setup(void);
static void	 teardown(void);
static void	 cleanup(void);
static void	 post_multipart(struct client *, const char *, const char *,
		    const char *, const char *, const char *, const char *,
		    struct hresp *);
static int64_t	 create_agent(struct client *, const char *, const char *);
static void	 assert_status(const struct hresp *, long, const char *,
		    const char *);
static Suite	*agents_suite(void);

static const char	*server_env[] = { NULL };
static struct hpg	 pg;
static struct hserver	 srv;
static char		*token;
static int64_t		 other_agent, other_kid;

/* --- fixture ------------------------------------------------------------ */

static void
setup(void)
{
	hreq_set_check(hreq_check_request_id);
	hpg_start(&pg);
	hserver_start(&srv, &pg, server_env);
	token = htoken_create(&pg, OWNER_EMAIL, "agents-test", NULL);

	/* Another organisation, with an agent and a knowledge entry. */
	other_agent = sqli("WITH o AS (INSERT INTO orgs (name) VALUES "
	    "('Elsewhere Ltd') RETURNING id) INSERT INTO agents (org_id, "
	    "name, slug) SELECT id, 'Their agent', 'theirs' FROM o "
	    "RETURNING id");
	other_kid = sqli("INSERT INTO knowledge_entries (org_id, "
	    "agent_id, title, body) SELECT org_id, id, 'Secret', 'Theirs "
	    "only.' FROM agents WHERE id = %lld RETURNING id",
	    (long long)other_agent);
	if (other_agent <= 0 || other_kid <= 0) {
		fprintf(stderr, "agents: cannot make the second org\n");
		abort();
	}
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
	hpg_finish(&pg, "agents");
}

/* --- helpers ------------------------------------------------------------ */

/* A knowledge form as multipart/form-data with one file part. */
static void
post_multipart(struct client *c, const char *action, const char *title,
    const char *text, const char *filename, const char *ctype,
    const char *content, struct hresp *r)
{
	char	 body[FORM_MAX];
	char	*csrf = hpage_csrf(c, "/agents");

	snprintf(body, sizeof(body),
	    "--" BOUNDARY "\r\n"
	    "Content-Disposition: form-data; name=\"_csrf\"\r\n\r\n%s\r\n"
	    "--" BOUNDARY "\r\n"
	    "Content-Disposition: form-data; name=\"k_title\"\r\n\r\n%s\r\n"
	    "--" BOUNDARY "\r\n"
	    "Content-Disposition: form-data; name=\"k_body\"\r\n\r\n%s\r\n"
	    "--" BOUNDARY "\r\n"
	    "Content-Disposition: form-data; name=\"k_file\"; "
	    "filename=\"%s\"\r\n"
	    "Content-Type: %s\r\n\r\n%s\r\n"
	    "--" BOUNDARY "--\r\n",
	    csrf, title, text, filename, ctype, content);
	free(csrf);
	hreq(c, "POST", action, body, "multipart/form-data; boundary="
	    BOUNDARY, NULL, r);
}

static int64_t
create_agent(struct client *c, const char *name, const char *extra)
{
	char		 f[FORM_MAX] = "";
	struct hresp	 r;
	int64_t		 id;

	form_add(f, sizeof(f), "name", name);
	form_add(f, sizeof(f), "system_prompt",
	    "You are {{agentName}} of {{organizationName}}.");
	form_add(f, sizeof(f), "mode", "chat");
	form_add(f, sizeof(f), "history_length", "20");
	form_add(f, sizeof(f), "reset_command", "/reset");
	if (extra != NULL) {
		strncat(f, "&", sizeof(f) - strlen(f) - 1);
		strncat(f, extra, sizeof(f) - strlen(f) - 1);
	}
	hpost_form(c, "/agents/new", "/agents", f, &r);
	id = hlocation_id(&r, "/agents/");
	hresp_free(&r);
	return id;
}

static void
assert_status(const struct hresp *r, long want, const char *what,
    const char *why)
{
	ck_assert_msg(r->status == want, "%s: want %ld (%s), got %ld:\n%.3000s",
	    what, want, why, r->status, r->body);
}

/* --- panel ---------------------------------------------------------------- */

START_TEST(t_list_empty_state)
{
	struct client	 c;
	struct hresp	 r;

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	/* A new installation starts with a working agent on parley/faq. */
	hreq(&c, "GET", "/agents", NULL, NULL, NULL, &r);
	assert_status(&r, 200, "GET /agents", "the list");
	hresp_has(&r, ">Assistant<", "the seeded first agent");
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM knowledge_entries k"
	    " JOIN agents a ON a.id = k.agent_id WHERE a.slug = 'assistant'"),
	    3);
	ck_assert_int_eq(sqli("WITH d AS (DELETE FROM agents WHERE slug ="
	    " 'assistant' AND org_id = (SELECT org_id FROM agents WHERE slug ="
	    " 'assistant' ORDER BY id LIMIT 1) RETURNING id) SELECT count(*)"
	    " FROM d"), 1);

	hreq(&c, "GET", "/agents", NULL, NULL, NULL, &r);
	assert_status(&r, 200, "GET /agents", "the list");
	hresp_has(&r, "No agents yet", "empty state");
	hresp_has(&r, "href=\"/agents/new\"", "new agent button");
	hresp_free(&r);
	hreq(&c, "GET", "/agents/new", NULL, NULL, NULL, &r);
	assert_status(&r, 200, "GET /agents/new", "the form");
	hresp_has(&r, "name=\"_csrf\"", "csrf");
	hresp_has(&r, "<label for=\"allow_list\"", "allow-list label");
	hresp_has(&r, "Parley FAQ (offline)", "default model named");
	hresp_has(&r, "value=\"/reset\"", "default reset command");
	hresp_free(&r);
}
END_TEST

START_TEST(t_panel_create_edit_delete)
{
	struct client	 c;
	struct hresp	 r;
	char		 f[FORM_MAX] = "", path[64], *v;
	int64_t		 id;

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	id = create_agent(&c, "Front Desk", NULL);
	v = sqls("SELECT slug FROM agents WHERE id = %lld", (long long)id);
	ck_assert_str_eq(v, "front-desk");
	free(v);

	snprintf(path, sizeof(path), "/agents/%lld", (long long)id);
	hreq(&c, "GET", path, NULL, NULL, NULL, &r);
	assert_status(&r, 200, path, "edit page");
	hresp_has(&r, "Front Desk", "name");
	hresp_has(&r, "agent:front-desk", "slug");
	hresp_has(&r, "id=\"plugins\"", "plugins section");
	hresp_has(&r, "id=\"knowledge\"", "knowledge section");
	hresp_has(&r, "id=\"try\"", "try section");
	hresp_has(&r, "id=\"open-sandbox\"", "link to the sandbox chat");
	hresp_has(&r, "id=\"calls\"", "recent calls");
	hresp_free(&r);

	hreq(&c, "GET", "/agents", NULL, NULL, NULL, &r);
	hresp_has(&r, "Front Desk", "list");
	hresp_has(&r, "<code>front-desk</code>", "list slug");
	hresp_free(&r);

	form_add(f, sizeof(f), "name", "Front Desk 2");
	form_add(f, sizeof(f), "slug", "desk");
	form_add(f, sizeof(f), "system_prompt", "Hello {{contactName}}.");
	form_add(f, sizeof(f), "model_id", "0");
	form_add(f, sizeof(f), "mode", "task");
	form_add(f, sizeof(f), "history_length", "5");
	form_add(f, sizeof(f), "temperature", "0.5");
	form_add(f, sizeof(f), "max_tokens", "300");
	form_add(f, sizeof(f), "reset_command", "");
	form_add(f, sizeof(f), "allow_list",
	    "+49 151-1234 5678\r\n\r\n  +15550100200\n");
	form_add(f, sizeof(f), "escalation_keywords", "human\nagent please\n");
	hpost_form(&c, path, path, f, &r);
	ck_assert_int_eq(hlocation_id(&r, "/agents/"), id);
	hresp_free(&r);

	v = sqls("SELECT concat_ws('|', name, slug, mode, history_length, "
	    "temperature, max_tokens, coalesce(reset_command, 'NULL'), "
	    "array_to_string(allow_list, ','), "
	    "array_to_string(escalation_keywords, ',')) FROM agents "
	    "WHERE id = %lld", (long long)id);
	ck_assert_str_eq(v, "Front Desk 2|desk|task|5|0.5|300|NULL|"
	    "+4915112345678,+15550100200|human,agent please");
	free(v);

	hreq(&c, "GET", path, NULL, NULL, NULL, &r);
	hresp_has(&r, "Agent saved.", "flash");
	hresp_has(&r, "+4915112345678\n+15550100200", "allow-list lines");
	hresp_free(&r);

	snprintf(path, sizeof(path), "/agents/%lld/delete", (long long)id);
	hreq(&c, "GET", path, NULL, NULL, NULL, &r);
	assert_status(&r, 200, path, "confirmation page");
	hresp_has(&r, "cannot be undone", "confirmation");
	hresp_free(&r);
	hpost_form(&c, "/agents", path, "", &r);
	assert_status(&r, 303, "POST delete", "deleted");
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM agents WHERE id = "
	    "%lld", (long long)id), 0);
}
END_TEST

START_TEST(t_panel_validation)
{
	struct client	 c;
	struct hresp	 r;
	char		 f[FORM_MAX] = "";
	int64_t		 n0 = sqli("SELECT count(*) FROM agents");

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	form_add(f, sizeof(f), "name", "   ");
	form_add(f, sizeof(f), "system_prompt", "Hi {{#x}} unclosed");
	form_add(f, sizeof(f), "mode", "chat");
	form_add(f, sizeof(f), "history_length", "500");
	form_add(f, sizeof(f), "temperature", "warm");
	form_add(f, sizeof(f), "reset_command", "re set");
	form_add(f, sizeof(f), "allow_list", "+4915112345678\nnot-a-number");
	hpost_form(&c, "/agents/new", "/agents", f, &r);
	assert_status(&r, 422, "invalid agent", "field errors");
	hresp_has(&r, "id=\"err-name\">Enter a name.", "name error");
	hresp_has(&r, "id=\"err-prompt\">This is not a valid template",
	    "prompt error");
	hresp_has(&r, "id=\"err-history\">", "history error");
	hresp_has(&r, "id=\"err-temperature\">", "temperature error");
	hresp_has(&r, "id=\"err-reset\">", "reset error");
	hresp_has(&r, "&quot;not-a-number&quot; is not a phone number",
	    "allow-list error names the entry");
	hresp_has(&r, "aria-invalid=\"true\"", "marked invalid");
	hresp_has(&r, "Hi {{#x}} unclosed", "prompt kept");
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM agents"), n0);

	/* Escaping: a name with markup comes back as text. */
	f[0] = '\0';
	form_add(f, sizeof(f), "name", "<script>x</script>");
	form_add(f, sizeof(f), "mode", "nonsense");
	form_add(f, sizeof(f), "history_length", "1");
	hpost_form(&c, "/agents/new", "/agents", f, &r);
	assert_status(&r, 422, "bad mode", "field error");
	hresp_has(&r, "&lt;script&gt;x&lt;/script&gt;", "escaped name");
	ck_assert_ptr_null(strstr(r.body, "<script>x"));
	hresp_has(&r, "id=\"err-mode\">Choose chat or task.", "mode error");
	hresp_free(&r);

	/* Slug conflict: 409 with the sentence next to the slug. */
	(void)create_agent(&c, "Dup One", "slug=dup-slug");
	f[0] = '\0';
	form_add(f, sizeof(f), "name", "Dup Two");
	form_add(f, sizeof(f), "slug", "dup-slug");
	form_add(f, sizeof(f), "mode", "chat");
	form_add(f, sizeof(f), "history_length", "20");
	hpost_form(&c, "/agents/new", "/agents", f, &r);
	assert_status(&r, 409, "slug taken", "conflict");
	hresp_has(&r, "id=\"err-slug\">Another agent already uses this slug.",
	    "slug error");
	hresp_free(&r);
}
END_TEST

START_TEST(t_panel_plugins)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[64], page[64], *v;
	int64_t		 id;

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	id = create_agent(&c, "Plugin Tester", NULL);
	snprintf(page, sizeof(page), "/agents/%lld", (long long)id);
	snprintf(path, sizeof(path), "/agents/%lld/plugins", (long long)id);
	hreq(&c, "GET", page, NULL, NULL, NULL, &r);
	hresp_has(&r, "value=\"time.now\"", "time.now checkbox");
	hresp_free(&r);

	hpost_form(&c, page, path, "plugins=time.now", &r);
	assert_status(&r, 303, "enable time.now", "saved");
	hresp_free(&r);
	v = sqls("SELECT string_agg(plugin_id, ',' ORDER BY plugin_id) FROM "
	    "agent_plugins WHERE agent_id = %lld", (long long)id);
	ck_assert_str_eq(v, "time.now");
	free(v);
	hreq(&c, "GET", page, NULL, NULL, NULL, &r);
	hresp_has(&r, "value=\"time.now\" checked", "checked");
	hresp_free(&r);

	hpost_form(&c, page, path, "plugins=time.now&plugins=no.such", &r);
	assert_status(&r, 422, "unknown plugin", "rejected");
	hresp_has(&r, "That plugin does not exist.", "sentence");
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM agent_plugins WHERE "
	    "agent_id = %lld", (long long)id), 1);

	hpost_form(&c, page, path, "", &r);
	assert_status(&r, 303, "disable all", "saved");
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM agent_plugins WHERE "
	    "agent_id = %lld", (long long)id), 0);

	hreq(&c, "GET", "/plugins", NULL, NULL, NULL, &r);
	assert_status(&r, 200, "GET /plugins", "plugins page");
	hresp_has(&r, "<code>time.now</code>", "plugin listed");
	hresp_free(&r);
}
END_TEST

START_TEST(t_panel_knowledge)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[64], page[96], f[FORM_MAX] = "", *v;
	int64_t		 id, kid;

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	id = create_agent(&c, "Knowledge Keeper", NULL);
	snprintf(path, sizeof(path), "/agents/%lld/knowledge", (long long)id);

	form_add(f, sizeof(f), "k_title", "Prices");
	form_add(f, sizeof(f), "k_body", "A coffee costs 3 euros.");
	hpost_form(&c, "/agents", path, f, &r);
	assert_status(&r, 303, "paste", "added");
	hresp_free(&r);

	post_multipart(&c, path, "", "", "menu.md", "text/markdown",
	    "# Menu\n\nTea and caf\xc3\xa9.\n", &r);
	assert_status(&r, 303, "upload .md", "added");
	hresp_free(&r);
	v = sqls("SELECT concat_ws('|', title, source, filename, body) FROM "
	    "knowledge_entries WHERE agent_id = %lld AND source = 'upload'",
	    (long long)id);
	ck_assert_str_eq(v, "menu|upload|menu.md|# Menu\n\nTea and caf\xc3\xa9.\n");
	free(v);

	post_multipart(&c, path, "Bad", "", "bad.txt", "text/plain",
	    "caf\xe9 latin-1", &r);
	assert_status(&r, 422, "latin-1 upload", "invalid UTF-8");
	hresp_has(&r, "id=\"err-k-file\">The file is not UTF-8", "sentence");
	hresp_free(&r);
	post_multipart(&c, path, "Pdf", "", "doc.pdf", "application/pdf",
	    "%PDF-1.4", &r);
	assert_status(&r, 422, "pdf upload", "wrong extension");
	hresp_has(&r, "Choose a .txt or .md file.", "sentence");
	hresp_free(&r);
	f[0] = '\0';
	form_add(f, sizeof(f), "k_title", "Nothing");
	hpost_form(&c, "/agents", path, f, &r);
	assert_status(&r, 422, "no text", "empty");
	hresp_has(&r, "id=\"err-k-body\">", "sentence");
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM knowledge_entries "
	    "WHERE agent_id = %lld", (long long)id), 2);

	kid = sqli("SELECT id FROM knowledge_entries WHERE agent_id = %lld"
	    " AND title = 'Prices'", (long long)id);
	snprintf(page, sizeof(page), "/agents/%lld/knowledge/%lld",
	    (long long)id, (long long)kid);
	hreq(&c, "GET", page, NULL, NULL, NULL, &r);
	assert_status(&r, 200, page, "edit page");
	hresp_has(&r, "A coffee costs 3 euros.", "body shown");
	hresp_free(&r);
	f[0] = '\0';
	form_add(f, sizeof(f), "title", "Prices");
	form_add(f, sizeof(f), "body", "A coffee costs 4 euros.");
	hpost_form(&c, page, page, f, &r);
	assert_status(&r, 303, "knowledge update", "saved");
	hresp_free(&r);
	v = sqls("SELECT body FROM knowledge_entries WHERE id = %lld",
	    (long long)kid);
	ck_assert_str_eq(v, "A coffee costs 4 euros.");
	free(v);

	snprintf(page, sizeof(page), "/agents/%lld/knowledge/%lld/delete",
	    (long long)id, (long long)kid);
	hpost_form(&c, "/agents", page, "", &r);
	assert_status(&r, 303, "knowledge delete", "deleted");
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM knowledge_entries "
	    "WHERE id = %lld", (long long)kid), 0);
}
END_TEST

START_TEST(t_other_org_is_404)
{
	struct client	 c;
	struct hresp	 r;
	char		 p[128];
	long long	 o = (long long)other_agent, k = (long long)other_kid;
	int64_t		 mine;
	char		 gets[5][128], posts[8][128];
	const char	*str_p;
	int		 n_gets = 0, n_posts = 0;

	snprintf(gets[n_gets++], 128, "/agents/%lld", o);
	snprintf(gets[n_gets++], 128, "/agents/%lld/delete", o);
	snprintf(gets[n_gets++], 128, "/agents/%lld/knowledge/%lld", o, k);
	snprintf(gets[n_gets++], 128, "/agents/%lld/sandbox", o);
	snprintf(gets[n_gets++], 128, "/agents/%lld/sandbox/messages", o);
	snprintf(posts[n_posts++], 128, "/agents/%lld", o);
	snprintf(posts[n_posts++], 128, "/agents/%lld/delete", o);
	snprintf(posts[n_posts++], 128, "/agents/%lld/plugins", o);
	snprintf(posts[n_posts++], 128, "/agents/%lld/try", o);
	snprintf(posts[n_posts++], 128, "/agents/%lld/sandbox", o);
	snprintf(posts[n_posts++], 128, "/agents/%lld/knowledge", o);
	snprintf(posts[n_posts++], 128, "/agents/%lld/knowledge/%lld", o, k);
	snprintf(posts[n_posts++], 128, "/agents/%lld/knowledge/%lld/delete",
	    o, k);

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	for (int i = 0; i < n_gets; i++) {
		hreq(&c, "GET", gets[i], NULL, NULL, NULL, &r);
		assert_status(&r, 404, gets[i], "another org's agent");
		hresp_free(&r);
	}
	for (int i = 0; i < n_posts; i++) {
		str_p = posts[i];
		hpost_form(&c, "/agents", str_p, "name=x&mode=chat&"
		    "history_length=1&plugins=time.now&try_message=hi&"
		    "message=hi&k_title=t&k_body=b&title=t&body=b", &r);
		assert_status(&r, 404, str_p, "another org's agent");
		hresp_free(&r);
	}
	/* My agent, their knowledge entry. */
	mine = create_agent(&c, "Isolation Mine", NULL);
	snprintf(p, sizeof(p), "/agents/%lld/knowledge/%lld",
	    (long long)mine, k);
	hreq(&c, "GET", p, NULL, NULL, NULL, &r);
	assert_status(&r, 404, p, "their entry under my agent");
	hresp_free(&r);
	hreq(&c, "GET", "/agents/999999999", NULL, NULL, NULL, &r);
	assert_status(&r, 404, "unknown id", "404");
	hresp_free(&r);
	hreq(&c, "GET", "/agents/abc", NULL, NULL, NULL, &r);
	assert_status(&r, 404, "malformed id", "404");
	hresp_free(&r);

	ck_assert_int_eq(sqli("SELECT count(*) FROM agents WHERE id = "
	    "%lld AND name = 'Their agent'", o), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM knowledge_entries "
	    "WHERE id = %lld AND body = 'Theirs only.'", k), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM agent_plugins WHERE "
	    "agent_id = %lld", o), 0);

	snprintf(p, sizeof(p), "/api/v1/agents/%lld", o);
	cJSON_Delete(api_json("GET", p, NULL, 404));
	cJSON_Delete(api_json("PATCH", p, "{\"name\":\"Mine now\"}", 404));
	cJSON_Delete(api_json("DELETE", p, NULL, 404));
	snprintf(p, sizeof(p), "/api/v1/agents/%lld/plugins", o);
	cJSON_Delete(api_json("GET", p, NULL, 404));
	cJSON_Delete(api_json("PUT", p, "{\"enabledPluginIds\":[\"time.now\"]}",
	    404));
	ck_assert_int_eq(sqli("SELECT count(*) FROM agents WHERE id = "
	    "%lld AND name = 'Their agent'", o), 1);
}
END_TEST

/* --- API ------------------------------------------------------------------ */

START_TEST(t_api_crud)
{
	cJSON		*a, *b, *v;
	char		 path[64];
	struct hresp	 r;
	int64_t		 id;

	a = api_json("POST", "/api/v1/agents", "{\"name\":\"Api Agent\","
	    "\"systemPrompt\":\"Be brief.\",\"allowList\":[\"+1 555 010 0999\"],"
	    "\"escalationKeywords\":[\"help\"],\"temperature\":0.25}", 201);
	ck_assert_ptr_nonnull(a);
	id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(a, "id"));
	ck_assert_int_gt(id, 0);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(a, "slug")),
	    "api-agent");
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(a, "modelId")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(a, "maxTokens")));
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(a,
	    "resetCommand")), "/reset");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(
	    cJSON_GetObjectItem(a, "allowList"), 0)), "+15550100999");
	ck_assert(cJSON_GetNumberValue(cJSON_GetObjectItem(a,
	    "temperature")) == 0.25);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(a,
	    "enabledPluginIds")), 0);
	ck_assert_ptr_nonnull(cJSON_GetStringValue(cJSON_GetObjectItem(a,
	    "createdAt")));
	cJSON_Delete(a);

	snprintf(path, sizeof(path), "/api/v1/agents/%lld", (long long)id);
	/* PATCH: only what is sent changes. */
	b = api_json("PATCH", path, "{\"historyLength\":7,"
	    "\"resetCommand\":null}", 200);
	ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(b,
	    "historyLength")), 7);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(b, "resetCommand")));
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(b,
	    "systemPrompt")), "Be brief.");
	ck_assert(cJSON_GetNumberValue(cJSON_GetObjectItem(b,
	    "temperature")) == 0.25);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(b,
	    "allowList")), 1);
	/* The document budget: 20,000 characters unless set. */
	ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(b,
	    "documentContextChars")), 20000);
	cJSON_Delete(b);
	b = api_json("PATCH", path, "{\"documentContextChars\":0,"
	    "\"texts\":{\"no_vision\":\"Words only, please.\"}}", 200);
	ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(b,
	    "documentContextChars")), 0);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(b, "texts"), "no_vision")),
	    "Words only, please.");
	cJSON_Delete(b);
	v = api_json("PATCH", path, "{\"documentContextChars\":500001}", 422);
	ck_assert_ptr_nonnull(cJSON_GetObjectItem(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(v, "error"), "fields"),
	    "documentContextChars"));
	cJSON_Delete(v);

	/* Wrong JSON types: 400 naming the member. */
	api("PATCH", path, "{\"historyLength\":\"7\"}", &r);
	assert_status(&r, 400, "historyLength as string", "type");
	hresp_has(&r, "historyLength", "names the member");
	hresp_free(&r);
	api("POST", "/api/v1/agents", "{\"name\":\"T\",\"allowList\":\"+1\"}",
	    &r);
	assert_status(&r, 400, "allowList as string", "type");
	hresp_has(&r, "allowList must be an array of strings", "sentence");
	hresp_free(&r);

	/* Invalid values: 422 with fields in camelCase. */
	v = api_json("PATCH", path, "{\"allowList\":[\"12345\"],"
	    "\"historyLength\":900}", 422);
	b = cJSON_GetObjectItem(cJSON_GetObjectItem(v, "error"), "fields");
	ck_assert_ptr_nonnull(cJSON_GetObjectItem(b, "allowList"));
	ck_assert_ptr_nonnull(cJSON_GetObjectItem(b, "historyLength"));
	ck_assert_ptr_nonnull(strstr(cJSON_GetStringValue(
	    cJSON_GetObjectItem(b, "allowList")), "12345"));
	cJSON_Delete(v);

	/* Slugs from accented names. */
	v = api_json("POST", "/api/v1/agents",
	    "{\"name\":\"Caf\u00e9 Gr\u00f6\u00dfe \u2014 \u65e5 Bot\"}", 201);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(v, "slug")),
	    "cafe-grosse-bot");
	cJSON_Delete(v);

	/* Slug conflict. */
	cJSON_Delete(api_json("POST", "/api/v1/agents",
	    "{\"name\":\"Other\",\"slug\":\"api-agent\"}", 409));

	/* Plugins. */
	snprintf(path, sizeof(path), "/api/v1/agents/%lld/plugins",
	    (long long)id);
	v = api_json("PUT", path, "{\"enabledPluginIds\":[\"time.now\"]}",
	    200);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(
	    cJSON_GetObjectItem(v, "enabledPluginIds"), 0)), "time.now");
	cJSON_Delete(v);
	api("PUT", path, "{\"enabledPluginIds\":[\"time.now\",\"nope.x\"]}",
	    &r);
	assert_status(&r, 422, "unknown plugin", "invalid");
	hresp_has(&r, "nope.x", "names the id");
	hresp_free(&r);
	v = api_json("GET", path, NULL, 200);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(v,
	    "enabledPluginIds")), 1);
	cJSON_Delete(v);

	v = api_json("GET", "/api/v1/plugins", NULL, 200);
	ck_assert(cJSON_IsArray(cJSON_GetObjectItem(v, "data")));
	ck_assert_int_gt(cJSON_GetArraySize(cJSON_GetObjectItem(v, "data")),
	    0);
	b = NULL;
	cJSON_ArrayForEach(a, cJSON_GetObjectItem(v, "data"))
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(a, "id")),
		    "time.now") == 0)
			b = a;
	ck_assert_ptr_nonnull(b);
	ck_assert(cJSON_IsObject(cJSON_GetObjectItem(b, "parametersSchema")));
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(b, "available")));
	cJSON_Delete(v);

	v = api_json("GET", "/api/v1/agents", NULL, 200);
	ck_assert(cJSON_IsArray(cJSON_GetObjectItem(v, "data")));
	ck_assert_int_ge(cJSON_GetArraySize(cJSON_GetObjectItem(v, "data")),
	    1);
	cJSON_Delete(v);

	snprintf(path, sizeof(path), "/api/v1/agents/%lld", (long long)id);
	api("DELETE", path, NULL, &r);
	assert_status(&r, 204, "DELETE", "deleted");
	hresp_free(&r);
	cJSON_Delete(api_json("GET", path, NULL, 404));
}
END_TEST

/* --- Try it: the sandbox chat --------------------------------------------- */

/*
 * Sends text through the agent's sandbox form and waits (bounded) for the
 * agent's answer in the poll JSON; returns it (malloc'd) or NULL.
 */
static char *
sandbox_ask(struct client *c, int64_t id, const char *text, int timeout_s)
{
	struct hresp	 r;
	char		 path[64], page[64], f[FORM_MAX] = "";
	char		*answer = NULL;

	snprintf(page, sizeof(page), "/agents/%lld/sandbox", (long long)id);
	form_add(f, sizeof(f), "message", text);
	hpost_form(c, page, page, f, &r);
	assert_status(&r, 303, "sandbox message", "stored");
	hresp_free(&r);
	snprintf(path, sizeof(path), "/agents/%lld/sandbox/messages",
	    (long long)id);
	for (int i = 0; i < timeout_s * 10 && answer == NULL; i++) {
		cJSON		*j, *m;

		hreq(c, "GET", path, NULL, NULL, NULL, &r);
		assert_status(&r, 200, path, "poll");
		j = cJSON_Parse(r.body);
		hresp_free(&r);
		cJSON_ArrayForEach(m, cJSON_GetObjectItem(j, "messages")) {
			if (!cJSON_IsTrue(cJSON_GetObjectItem(m, "is_in")))
				answer = strdup(cJSON_GetStringValue(
				    cJSON_GetObjectItem(m, "body")));
		}
		cJSON_Delete(j);
		if (answer == NULL)
			usleep(100 * 1000);
	}
	return answer;
}

START_TEST(t_try_answers_from_knowledge)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[64], page[64], f[FORM_MAX] = "";
	char		*answer, *loc;
	int64_t		 id;

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	id = create_agent(&c, "Opening Bot", NULL);
	snprintf(page, sizeof(page), "/agents/%lld", (long long)id);
	snprintf(path, sizeof(path), "/agents/%lld/knowledge", (long long)id);
	form_add(f, sizeof(f), "k_title", "Opening hours");
	form_add(f, sizeof(f), "k_body", "We are open 9 to 5 on weekdays.");
	hpost_form(&c, page, path, f, &r);
	assert_status(&r, 303, "knowledge", "added");
	hresp_free(&r);

	/* The old Try-it form lands on the sandbox. */
	snprintf(path, sizeof(path), "/agents/%lld/try", (long long)id);
	hpost_form(&c, page, path, "try_message=hi", &r);
	assert_status(&r, 303, "try", "redirected to the sandbox");
	loc = hresp_header(&r, "Location");
	snprintf(path, sizeof(path), "/agents/%lld/sandbox", (long long)id);
	ck_assert_str_eq(loc, path);
	free(loc);
	hresp_free(&r);

	hpost_form(&c, path, path, "message=", &r);
	assert_status(&r, 422, "empty message", "field error");
	hresp_has(&r, "Write a message", "sentence");
	hresp_free(&r);

	answer = sandbox_ask(&c, id, "When are you open?", 20);
	ck_assert_msg(answer != NULL, "no answer in the sandbox");
	ck_assert_msg(strstr(answer, "9 to 5") != NULL, "answer: %s", answer);
	free(answer);

	hreq(&c, "GET", path, NULL, NULL, NULL, &r);
	assert_status(&r, 200, path, "sandbox page");
	hresp_has(&r, "When are you open?", "the question");
	hresp_has(&r, "9 to 5", "the answer");
	hresp_free(&r);
	hreq(&c, "GET", page, NULL, NULL, NULL, &r);
	hresp_has(&r, "<td>reply</td>", "recent call listed");
	hresp_free(&r);
	ck_assert_int_ge(sqli("SELECT count(*) FROM llm_calls WHERE "
	    "agent_id = %lld AND source = 'reply'", (long long)id), 1);
}
END_TEST

/* A real model (the fake) calling time.now through the sandbox: the
 * answer arrives, the call is recorded with its tool call; an upstream
 * refusal settles the message with its reason instead of answering. */
START_TEST(t_try_tool_calls)
{
	struct hfake	 fake;
	struct client	 c;
	cJSON		*v;
	char		 body[1024];
	char		*answer;
	int64_t		 provider, model, id;

	hfake_start(&fake, "fake_llm", NULL);
	snprintf(body, sizeof(body), "{\"name\":\"Fake for agents\","
	    "\"baseUrl\":\"%s/v1\",\"apiKey\":\"sk-fake-agents-0123456789\"}",
	    fake.base);
	v = api_json("POST", "/api/v1/providers", body, 201);
	provider = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(v, "id"));
	cJSON_Delete(v);
	snprintf(body, sizeof(body), "{\"providerId\":%lld,"
	    "\"name\":\"fake-tools\",\"displayName\":\"Fake tools\"}",
	    (long long)provider);
	v = api_json("POST", "/api/v1/models", body, 201);
	model = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(v, "id"));
	cJSON_Delete(v);
	snprintf(body, sizeof(body), "{\"name\":\"Clock Bot\",\"modelId\":%lld,"
	    "\"enabledPluginIds\":[\"time.now\"]}", (long long)model);
	v = api_json("POST", "/api/v1/agents", body, 201);
	id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(v, "id"));
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(v,
	    "enabledPluginIds")), 1);
	cJSON_Delete(v);

	hfake_post(&fake, "/_fake/queue", "[{\"tool_calls\":[{\"name\":"
	    "\"time_now\",\"arguments\":{}}]},{\"content\":\"It is tea "
	    "time.\"}]");
	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	answer = sandbox_ask(&c, id, "What time is it?", 20);
	ck_assert_msg(answer != NULL, "no answer in the sandbox");
	ck_assert_str_eq(answer, "It is tea time.");
	free(answer);
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_calls WHERE "
	    "agent_id = %lld AND source = 'reply' AND tool_calls::text LIKE "
	    "'%%time.now%%'", (long long)id), 1);

	/* A 400 from the model will not change: the turn settles the message
	 * at once with the reason, nothing is sent (no retry, no handoff). */
	hfake_post(&fake, "/_fake/queue", "{\"status\":400,\"error\":"
	    "{\"message\":\"context too long\",\"type\":"
	    "\"invalid_request_error\"}}");
	answer = sandbox_ask(&c, id, "Hello", 3);
	ck_assert_msg(answer != NULL, "the first answer is still there");
	free(answer);
	for (int i = 0; i < 100 && sqli("SELECT count(*) FROM messages WHERE "
	    "id = (SELECT max(id) FROM messages WHERE body = 'Hello') AND "
	    "unanswered_reason LIKE 'Not answered: the reply failed%%'") != 1;
	    i++)
		usleep(100 * 1000);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = (SELECT"
	    " max(id) FROM messages WHERE body = 'Hello') AND unanswered_reason "
	    "LIKE 'Not answered: the reply failed%%context too long%%'"), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "direction = 'out' AND reply_to_id = (SELECT max(id) FROM messages "
	    "WHERE body = 'Hello')"), 0);
	hfake_stop(&fake);
}
END_TEST

START_TEST(t_sigterm_exits_zero)
{
	hserver_stop_clean(&srv);
}
END_TEST

static Suite *
agents_suite(void)
{
	Suite	*s = suite_create("agents");
	TCase	*tc = tcase_create("agents");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_list_empty_state);
	tcase_add_test(tc, t_panel_create_edit_delete);
	tcase_add_test(tc, t_panel_validation);
	tcase_add_test(tc, t_panel_plugins);
	tcase_add_test(tc, t_panel_knowledge);
	tcase_add_test(tc, t_other_org_is_404);
	tcase_add_test(tc, t_api_crud);
	tcase_add_test(tc, t_try_answers_from_knowledge);
	tcase_add_test(tc, t_try_tool_calls);
	tcase_add_test(tc, t_sigterm_exits_zero);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int	 failed = hrun_suites(agents_suite(), NULL);

	cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
