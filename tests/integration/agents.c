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
#include "harness/harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>

#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define FORM_MAX	16384
#define BOUNDARY	"----parleytestboundary7d1f"

static void	 setup(void);
static void	 teardown(void);
static void	 cleanup(void);
static void	 req(struct client *, const char *, const char *,
		    const char *, const char *, const char **,
		    struct hresp *);
static void	 login(struct client *);
static char	*page_csrf(struct client *, const char *);
static void	 post_form(struct client *, const char *, const char *,
		    const char *, struct hresp *);
static void	 post_multipart(struct client *, const char *, const char *,
		    const char *, const char *, const char *, const char *,
		    struct hresp *);
static int64_t	 location_id(const struct hresp *, const char *);
static int64_t	 create_agent(struct client *, const char *, const char *);
static char	*sqlf(const char *, ...) __attribute__((format(printf, 1, 2)));
static int64_t	 sql_intf(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	 api(const char *, const char *, const char *, struct hresp *);
static cJSON	*api_json(const char *, const char *, const char *, long);
static void	 assert_status(const struct hresp *, long, const char *,
		    const char *);
static void	 assert_has(const struct hresp *, const char *, const char *);
static Suite	*agents_suite(void);

static const char	*server_env[] = { NULL };
static struct hpg	 pg;
static struct hserver	 srv;
static bool		 pg_up;
static char		 token[64];
static int64_t		 other_agent, other_kid;

/* --- fixture ------------------------------------------------------------ */

static void
setup(void)
{
	const char	*args[] = { "token", "create", "--email", OWNER_EMAIL,
			    "--name", "agents-test", NULL };
	char		*out = NULL, *p;
	int		 st;

	hpg_start(&pg);
	pg_up = true;
	hserver_start(&srv, &pg, server_env);

	st = hrun_parley(&pg, args, NULL, &out);
	if (st != 0 || (p = strstr(out != NULL ? out : "", "prl_")) == NULL) {
		fprintf(stderr, "agents: parley token create exited %d:\n%s\n",
		    st, out != NULL ? out : "");
		abort();
	}
	snprintf(token, sizeof(token), "%.*s", (int)strcspn(p, " \r\n"), p);
	free(out);

	/* Another organisation, with an agent and a knowledge entry. */
	other_agent = sql_intf("WITH o AS (INSERT INTO orgs (name) VALUES "
	    "('Elsewhere Ltd') RETURNING id) INSERT INTO agents (org_id, "
	    "name, slug) SELECT id, 'Their agent', 'theirs' FROM o "
	    "RETURNING id");
	other_kid = sql_intf("INSERT INTO knowledge_entries (org_id, "
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
	const char	*keep = getenv("PARLEY_TEST_KEEP");

	if (!pg_up)
		return;
	pg_up = false;
	if (keep != NULL && strcmp(keep, "1") == 0) {
		hpg_stop(&pg);
		fprintf(stderr, "agents: kept %s\n", pg.dir);
	} else
		hpg_destroy(&pg);
}

/* --- helpers ------------------------------------------------------------ */

/* Every request: never a 500, always a request id. */
static void
req(struct client *c, const char *method, const char *path,
    const char *body, const char *ctype, const char **headers,
    struct hresp *r)
{
	char	*rid;

	client_req(c, method, path, body, ctype, headers, r);
	rid = hresp_header(r, "X-Request-Id");
	ck_assert_msg(rid != NULL && rid[0] != '\0',
	    "%s %s (%ld): no X-Request-Id header", method, path, r->status);
	free(rid);
	ck_assert_msg(r->status != 500, "%s %s answered 500:\n%.2000s",
	    method, path, r->body);
}

static void
login(struct client *c)
{
	client_init(c, srv.base);
	ck_assert_msg(client_login(c, OWNER_EMAIL, OWNER_PW),
	    "cannot log in as %s", OWNER_EMAIL);
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

/* POSTs fields (form-encoded) plus a fresh _csrf (from GET /agents). */
static void
post_form(struct client *c, const char *action, const char *fields,
    const char *page, struct hresp *r)
{
	char	 all[2 * FORM_MAX] = "";
	char	*csrf = page_csrf(c, page != NULL ? page : "/agents");

	form_add(all, sizeof(all), "_csrf", csrf);
	free(csrf);
	if (fields != NULL && fields[0] != '\0') {
		strncat(all, "&", sizeof(all) - strlen(all) - 1);
		strncat(all, fields, sizeof(all) - strlen(all) - 1);
	}
	req(c, "POST", action, all, NULL, NULL, r);
}

/* A knowledge form as multipart/form-data with one file part. */
static void
post_multipart(struct client *c, const char *action, const char *title,
    const char *text, const char *filename, const char *ctype,
    const char *content, struct hresp *r)
{
	char	 body[FORM_MAX];
	char	*csrf = page_csrf(c, "/agents");

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
	req(c, "POST", action, body, "multipart/form-data; boundary="
	    BOUNDARY, NULL, r);
}

/* The id at the end of a 303's Location "/agents/N…". */
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
	post_form(c, "/agents", f, "/agents/new", &r);
	id = location_id(&r, name);
	hresp_free(&r);
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

/* An API request with the bearer token. */
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

/* api() that must answer `want`; returns the parsed body (or NULL). */
static cJSON *
api_json(const char *method, const char *path, const char *json, long want)
{
	struct hresp	 r;
	cJSON		*v;

	api(method, path, json, &r);
	ck_assert_msg(r.status == want, "%s %s: want %ld, got %ld:\n%.2000s",
	    method, path, want, r.status, r.body);
	v = cJSON_Parse(r.body);
	hresp_free(&r);
	return v;
}

static void
assert_status(const struct hresp *r, long want, const char *what,
    const char *why)
{
	ck_assert_msg(r->status == want, "%s: want %ld (%s), got %ld:\n%.3000s",
	    what, want, why, r->status, r->body);
}

static void
assert_has(const struct hresp *r, const char *needle, const char *what)
{
	ck_assert_msg(r->body != NULL && strstr(r->body, needle) != NULL,
	    "%s: no \"%s\" in:\n%.4000s", what, needle, r->body);
}

/* --- panel ---------------------------------------------------------------- */

START_TEST(t_list_empty_state)
{
	struct client	 c;
	struct hresp	 r;

	login(&c);
	/* A new installation starts with a working agent on parley/faq. */
	req(&c, "GET", "/agents", NULL, NULL, NULL, &r);
	assert_status(&r, 200, "GET /agents", "the list");
	assert_has(&r, ">Assistant<", "the seeded first agent");
	hresp_free(&r);
	ck_assert_int_eq(sql_intf("SELECT count(*) FROM knowledge_entries k"
	    " JOIN agents a ON a.id = k.agent_id WHERE a.slug = 'assistant'"),
	    3);
	ck_assert_int_eq(sql_intf("WITH d AS (DELETE FROM agents WHERE slug ="
	    " 'assistant' AND org_id = (SELECT org_id FROM agents WHERE slug ="
	    " 'assistant' ORDER BY id LIMIT 1) RETURNING id) SELECT count(*)"
	    " FROM d"), 1);

	req(&c, "GET", "/agents", NULL, NULL, NULL, &r);
	assert_status(&r, 200, "GET /agents", "the list");
	assert_has(&r, "No agents yet", "empty state");
	assert_has(&r, "href=\"/agents/new\"", "new agent button");
	hresp_free(&r);
	req(&c, "GET", "/agents/new", NULL, NULL, NULL, &r);
	assert_status(&r, 200, "GET /agents/new", "the form");
	assert_has(&r, "name=\"_csrf\"", "csrf");
	assert_has(&r, "<label for=\"allow_list\"", "allow-list label");
	assert_has(&r, "Parley FAQ (offline)", "default model named");
	assert_has(&r, "value=\"/reset\"", "default reset command");
	hresp_free(&r);
}
END_TEST

START_TEST(t_panel_create_edit_delete)
{
	struct client	 c;
	struct hresp	 r;
	char		 f[FORM_MAX] = "", path[64], *v;
	int64_t		 id;

	login(&c);
	id = create_agent(&c, "Front Desk", NULL);
	v = sqlf("SELECT slug FROM agents WHERE id = %lld", (long long)id);
	ck_assert_str_eq(v, "front-desk");
	free(v);

	snprintf(path, sizeof(path), "/agents/%lld", (long long)id);
	req(&c, "GET", path, NULL, NULL, NULL, &r);
	assert_status(&r, 200, path, "edit page");
	assert_has(&r, "Front Desk", "name");
	assert_has(&r, "agent:front-desk", "slug");
	assert_has(&r, "id=\"plugins\"", "plugins section");
	assert_has(&r, "id=\"knowledge\"", "knowledge section");
	assert_has(&r, "id=\"try\"", "try section");
	assert_has(&r, "id=\"open-sandbox\"", "link to the sandbox chat");
	assert_has(&r, "id=\"calls\"", "recent calls");
	hresp_free(&r);

	req(&c, "GET", "/agents", NULL, NULL, NULL, &r);
	assert_has(&r, "Front Desk", "list");
	assert_has(&r, "<code>front-desk</code>", "list slug");
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
	post_form(&c, path, f, path, &r);
	ck_assert_int_eq(location_id(&r, "update"), id);
	hresp_free(&r);

	v = sqlf("SELECT concat_ws('|', name, slug, mode, history_length, "
	    "temperature, max_tokens, coalesce(reset_command, 'NULL'), "
	    "array_to_string(allow_list, ','), "
	    "array_to_string(escalation_keywords, ',')) FROM agents "
	    "WHERE id = %lld", (long long)id);
	ck_assert_str_eq(v, "Front Desk 2|desk|task|5|0.5|300|NULL|"
	    "+4915112345678,+15550100200|human,agent please");
	free(v);

	req(&c, "GET", path, NULL, NULL, NULL, &r);
	assert_has(&r, "Agent saved.", "flash");
	assert_has(&r, "+4915112345678\n+15550100200", "allow-list lines");
	hresp_free(&r);

	snprintf(path, sizeof(path), "/agents/%lld/delete", (long long)id);
	req(&c, "GET", path, NULL, NULL, NULL, &r);
	assert_status(&r, 200, path, "confirmation page");
	assert_has(&r, "cannot be undone", "confirmation");
	hresp_free(&r);
	post_form(&c, path, "", NULL, &r);
	assert_status(&r, 303, "POST delete", "deleted");
	hresp_free(&r);
	ck_assert_int_eq(sql_intf("SELECT count(*) FROM agents WHERE id = "
	    "%lld", (long long)id), 0);
}
END_TEST

START_TEST(t_panel_validation)
{
	struct client	 c;
	struct hresp	 r;
	char		 f[FORM_MAX] = "";
	int64_t		 n0 = sql_intf("SELECT count(*) FROM agents");

	login(&c);
	form_add(f, sizeof(f), "name", "   ");
	form_add(f, sizeof(f), "system_prompt", "Hi {{#x}} unclosed");
	form_add(f, sizeof(f), "mode", "chat");
	form_add(f, sizeof(f), "history_length", "500");
	form_add(f, sizeof(f), "temperature", "warm");
	form_add(f, sizeof(f), "reset_command", "re set");
	form_add(f, sizeof(f), "allow_list", "+4915112345678\nnot-a-number");
	post_form(&c, "/agents", f, "/agents/new", &r);
	assert_status(&r, 422, "invalid agent", "field errors");
	assert_has(&r, "id=\"err-name\">Enter a name.", "name error");
	assert_has(&r, "id=\"err-prompt\">This is not a valid template",
	    "prompt error");
	assert_has(&r, "id=\"err-history\">", "history error");
	assert_has(&r, "id=\"err-temperature\">", "temperature error");
	assert_has(&r, "id=\"err-reset\">", "reset error");
	assert_has(&r, "&quot;not-a-number&quot; is not a phone number",
	    "allow-list error names the entry");
	assert_has(&r, "aria-invalid=\"true\"", "marked invalid");
	assert_has(&r, "Hi {{#x}} unclosed", "prompt kept");
	hresp_free(&r);
	ck_assert_int_eq(sql_intf("SELECT count(*) FROM agents"), n0);

	/* Escaping: a name with markup comes back as text. */
	f[0] = '\0';
	form_add(f, sizeof(f), "name", "<script>x</script>");
	form_add(f, sizeof(f), "mode", "nonsense");
	form_add(f, sizeof(f), "history_length", "1");
	post_form(&c, "/agents", f, "/agents/new", &r);
	assert_status(&r, 422, "bad mode", "field error");
	assert_has(&r, "&lt;script&gt;x&lt;/script&gt;", "escaped name");
	ck_assert_ptr_null(strstr(r.body, "<script>x"));
	assert_has(&r, "id=\"err-mode\">Choose chat or task.", "mode error");
	hresp_free(&r);

	/* Slug conflict: 409 with the sentence next to the slug. */
	(void)create_agent(&c, "Dup One", "slug=dup-slug");
	f[0] = '\0';
	form_add(f, sizeof(f), "name", "Dup Two");
	form_add(f, sizeof(f), "slug", "dup-slug");
	form_add(f, sizeof(f), "mode", "chat");
	form_add(f, sizeof(f), "history_length", "20");
	post_form(&c, "/agents", f, "/agents/new", &r);
	assert_status(&r, 409, "slug taken", "conflict");
	assert_has(&r, "id=\"err-slug\">Another agent already uses this slug.",
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

	login(&c);
	id = create_agent(&c, "Plugin Tester", NULL);
	snprintf(page, sizeof(page), "/agents/%lld", (long long)id);
	snprintf(path, sizeof(path), "/agents/%lld/plugins", (long long)id);
	req(&c, "GET", page, NULL, NULL, NULL, &r);
	assert_has(&r, "value=\"time.now\"", "time.now checkbox");
	hresp_free(&r);

	post_form(&c, path, "plugins=time.now", page, &r);
	assert_status(&r, 303, "enable time.now", "saved");
	hresp_free(&r);
	v = sqlf("SELECT string_agg(plugin_id, ',' ORDER BY plugin_id) FROM "
	    "agent_plugins WHERE agent_id = %lld", (long long)id);
	ck_assert_str_eq(v, "time.now");
	free(v);
	req(&c, "GET", page, NULL, NULL, NULL, &r);
	assert_has(&r, "value=\"time.now\" checked", "checked");
	hresp_free(&r);

	post_form(&c, path, "plugins=time.now&plugins=no.such", page, &r);
	assert_status(&r, 422, "unknown plugin", "rejected");
	assert_has(&r, "That plugin does not exist.", "sentence");
	hresp_free(&r);
	ck_assert_int_eq(sql_intf("SELECT count(*) FROM agent_plugins WHERE "
	    "agent_id = %lld", (long long)id), 1);

	post_form(&c, path, "", page, &r);
	assert_status(&r, 303, "disable all", "saved");
	hresp_free(&r);
	ck_assert_int_eq(sql_intf("SELECT count(*) FROM agent_plugins WHERE "
	    "agent_id = %lld", (long long)id), 0);

	req(&c, "GET", "/plugins", NULL, NULL, NULL, &r);
	assert_status(&r, 200, "GET /plugins", "plugins page");
	assert_has(&r, "<code>time.now</code>", "plugin listed");
	hresp_free(&r);
}
END_TEST

START_TEST(t_panel_knowledge)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[64], page[96], f[FORM_MAX] = "", *v;
	int64_t		 id, kid;

	login(&c);
	id = create_agent(&c, "Knowledge Keeper", NULL);
	snprintf(path, sizeof(path), "/agents/%lld/knowledge", (long long)id);

	form_add(f, sizeof(f), "k_title", "Prices");
	form_add(f, sizeof(f), "k_body", "A coffee costs 3 euros.");
	post_form(&c, path, f, NULL, &r);
	assert_status(&r, 303, "paste", "added");
	hresp_free(&r);

	post_multipart(&c, path, "", "", "menu.md", "text/markdown",
	    "# Menu\n\nTea and caf\xc3\xa9.\n", &r);
	assert_status(&r, 303, "upload .md", "added");
	hresp_free(&r);
	v = sqlf("SELECT concat_ws('|', title, source, filename, body) FROM "
	    "knowledge_entries WHERE agent_id = %lld AND source = 'upload'",
	    (long long)id);
	ck_assert_str_eq(v, "menu|upload|menu.md|# Menu\n\nTea and caf\xc3\xa9.\n");
	free(v);

	post_multipart(&c, path, "Bad", "", "bad.txt", "text/plain",
	    "caf\xe9 latin-1", &r);
	assert_status(&r, 422, "latin-1 upload", "invalid UTF-8");
	assert_has(&r, "id=\"err-k-file\">The file is not UTF-8", "sentence");
	hresp_free(&r);
	post_multipart(&c, path, "Pdf", "", "doc.pdf", "application/pdf",
	    "%PDF-1.4", &r);
	assert_status(&r, 422, "pdf upload", "wrong extension");
	assert_has(&r, "Choose a .txt or .md file.", "sentence");
	hresp_free(&r);
	f[0] = '\0';
	form_add(f, sizeof(f), "k_title", "Nothing");
	post_form(&c, path, f, NULL, &r);
	assert_status(&r, 422, "no text", "empty");
	assert_has(&r, "id=\"err-k-body\">", "sentence");
	hresp_free(&r);
	ck_assert_int_eq(sql_intf("SELECT count(*) FROM knowledge_entries "
	    "WHERE agent_id = %lld", (long long)id), 2);

	kid = sql_intf("SELECT id FROM knowledge_entries WHERE agent_id = %lld"
	    " AND title = 'Prices'", (long long)id);
	snprintf(page, sizeof(page), "/agents/%lld/knowledge/%lld",
	    (long long)id, (long long)kid);
	req(&c, "GET", page, NULL, NULL, NULL, &r);
	assert_status(&r, 200, page, "edit page");
	assert_has(&r, "A coffee costs 3 euros.", "body shown");
	hresp_free(&r);
	f[0] = '\0';
	form_add(f, sizeof(f), "title", "Prices");
	form_add(f, sizeof(f), "body", "A coffee costs 4 euros.");
	post_form(&c, page, f, page, &r);
	assert_status(&r, 303, "knowledge update", "saved");
	hresp_free(&r);
	v = sqlf("SELECT body FROM knowledge_entries WHERE id = %lld",
	    (long long)kid);
	ck_assert_str_eq(v, "A coffee costs 4 euros.");
	free(v);

	snprintf(page, sizeof(page), "/agents/%lld/knowledge/%lld/delete",
	    (long long)id, (long long)kid);
	post_form(&c, page, "", NULL, &r);
	assert_status(&r, 303, "knowledge delete", "deleted");
	hresp_free(&r);
	ck_assert_int_eq(sql_intf("SELECT count(*) FROM knowledge_entries "
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

	login(&c);
	for (int i = 0; i < n_gets; i++) {
		req(&c, "GET", gets[i], NULL, NULL, NULL, &r);
		assert_status(&r, 404, gets[i], "another org's agent");
		hresp_free(&r);
	}
	for (int i = 0; i < n_posts; i++) {
		str_p = posts[i];
		post_form(&c, str_p, "name=x&mode=chat&history_length=1&"
		    "plugins=time.now&try_message=hi&message=hi&k_title=t&"
		    "k_body=b&"
		    "title=t&body=b", NULL, &r);
		assert_status(&r, 404, str_p, "another org's agent");
		hresp_free(&r);
	}
	/* My agent, their knowledge entry. */
	mine = create_agent(&c, "Isolation Mine", NULL);
	snprintf(p, sizeof(p), "/agents/%lld/knowledge/%lld",
	    (long long)mine, k);
	req(&c, "GET", p, NULL, NULL, NULL, &r);
	assert_status(&r, 404, p, "their entry under my agent");
	hresp_free(&r);
	req(&c, "GET", "/agents/999999999", NULL, NULL, NULL, &r);
	assert_status(&r, 404, "unknown id", "404");
	hresp_free(&r);
	req(&c, "GET", "/agents/abc", NULL, NULL, NULL, &r);
	assert_status(&r, 404, "malformed id", "404");
	hresp_free(&r);

	ck_assert_int_eq(sql_intf("SELECT count(*) FROM agents WHERE id = "
	    "%lld AND name = 'Their agent'", o), 1);
	ck_assert_int_eq(sql_intf("SELECT count(*) FROM knowledge_entries "
	    "WHERE id = %lld AND body = 'Theirs only.'", k), 1);
	ck_assert_int_eq(sql_intf("SELECT count(*) FROM agent_plugins WHERE "
	    "agent_id = %lld", o), 0);

	snprintf(p, sizeof(p), "/api/v1/agents/%lld", o);
	cJSON_Delete(api_json("GET", p, NULL, 404));
	cJSON_Delete(api_json("PATCH", p, "{\"name\":\"Mine now\"}", 404));
	cJSON_Delete(api_json("DELETE", p, NULL, 404));
	snprintf(p, sizeof(p), "/api/v1/agents/%lld/plugins", o);
	cJSON_Delete(api_json("GET", p, NULL, 404));
	cJSON_Delete(api_json("PUT", p, "{\"enabledPluginIds\":[\"time.now\"]}",
	    404));
	ck_assert_int_eq(sql_intf("SELECT count(*) FROM agents WHERE id = "
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
	cJSON_Delete(b);

	/* Wrong JSON types: 400 naming the member. */
	api("PATCH", path, "{\"historyLength\":\"7\"}", &r);
	assert_status(&r, 400, "historyLength as string", "type");
	assert_has(&r, "historyLength", "names the member");
	hresp_free(&r);
	api("POST", "/api/v1/agents", "{\"name\":\"T\",\"allowList\":\"+1\"}",
	    &r);
	assert_status(&r, 400, "allowList as string", "type");
	assert_has(&r, "allowList must be an array of strings", "sentence");
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
	assert_has(&r, "nope.x", "names the id");
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
	post_form(c, page, f, page, &r);
	assert_status(&r, 303, "sandbox message", "stored");
	hresp_free(&r);
	snprintf(path, sizeof(path), "/agents/%lld/sandbox/messages",
	    (long long)id);
	for (int i = 0; i < timeout_s * 10 && answer == NULL; i++) {
		cJSON		*j, *m;

		req(c, "GET", path, NULL, NULL, NULL, &r);
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

	login(&c);
	id = create_agent(&c, "Opening Bot", NULL);
	snprintf(page, sizeof(page), "/agents/%lld", (long long)id);
	snprintf(path, sizeof(path), "/agents/%lld/knowledge", (long long)id);
	form_add(f, sizeof(f), "k_title", "Opening hours");
	form_add(f, sizeof(f), "k_body", "We are open 9 to 5 on weekdays.");
	post_form(&c, path, f, page, &r);
	assert_status(&r, 303, "knowledge", "added");
	hresp_free(&r);

	/* The old Try-it form lands on the sandbox. */
	snprintf(path, sizeof(path), "/agents/%lld/try", (long long)id);
	post_form(&c, path, "try_message=hi", page, &r);
	assert_status(&r, 303, "try", "redirected to the sandbox");
	loc = hresp_header(&r, "Location");
	snprintf(path, sizeof(path), "/agents/%lld/sandbox", (long long)id);
	ck_assert_str_eq(loc, path);
	free(loc);
	hresp_free(&r);

	post_form(&c, path, "message=", path, &r);
	assert_status(&r, 422, "empty message", "field error");
	assert_has(&r, "Write a message", "sentence");
	hresp_free(&r);

	answer = sandbox_ask(&c, id, "When are you open?", 20);
	ck_assert_msg(answer != NULL, "no answer in the sandbox");
	ck_assert_msg(strstr(answer, "9 to 5") != NULL, "answer: %s", answer);
	free(answer);

	req(&c, "GET", path, NULL, NULL, NULL, &r);
	assert_status(&r, 200, path, "sandbox page");
	assert_has(&r, "When are you open?", "the question");
	assert_has(&r, "9 to 5", "the answer");
	hresp_free(&r);
	req(&c, "GET", page, NULL, NULL, NULL, &r);
	assert_has(&r, "<td>reply</td>", "recent call listed");
	hresp_free(&r);
	ck_assert_int_ge(sql_intf("SELECT count(*) FROM llm_calls WHERE "
	    "agent_id = %lld AND source = 'reply'", (long long)id), 1);
}
END_TEST

/* A real model (the fake) calling time.now through the sandbox: the
 * answer arrives, the call is recorded with its tool call; an upstream
 * refusal fails the job instead of answering. */
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
	login(&c);
	answer = sandbox_ask(&c, id, "What time is it?", 20);
	ck_assert_msg(answer != NULL, "no answer in the sandbox");
	ck_assert_str_eq(answer, "It is tea time.");
	free(answer);
	ck_assert_int_eq(sql_intf("SELECT count(*) FROM llm_calls WHERE "
	    "agent_id = %lld AND source = 'reply' AND tool_calls::text LIKE "
	    "'%%time.now%%'", (long long)id), 1);

	/* A 400 from the model will not change: the job is dead at once. */
	hfake_post(&fake, "/_fake/queue", "{\"status\":400,\"error\":"
	    "{\"message\":\"context too long\",\"type\":"
	    "\"invalid_request_error\"}}");
	answer = sandbox_ask(&c, id, "Hello", 3);
	ck_assert_msg(answer != NULL, "the first answer is still there");
	free(answer);
	for (int i = 0; i < 100 && sql_intf("SELECT count(*) FROM jobs WHERE "
	    "kind = 'reply' AND status = 'dead' AND payload->>'message_id' = "
	    "(SELECT max(id)::text FROM messages WHERE body = 'Hello')") != 1;
	    i++)
		usleep(100 * 1000);
	ck_assert_int_eq(sql_intf("SELECT count(*) FROM jobs WHERE kind = "
	    "'reply' AND status = 'dead' AND payload->>'message_id' = (SELECT "
	    "max(id)::text FROM messages WHERE body = 'Hello')"), 1);
	ck_assert_int_eq(sql_intf("SELECT count(*) FROM messages WHERE "
	    "direction = 'out' AND reply_to_id = (SELECT max(id) FROM messages "
	    "WHERE body = 'Hello')"), 0);
	hfake_stop(&fake);
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
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(agents_suite());
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
