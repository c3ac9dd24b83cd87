/*
 * roles: the role matrix (owner, admin, member) over every route family,
 * the conversation routes (every role reads and acts; another
 * organisation's chat is 404; a member may not use the sandbox or the
 * knowledge base), the Users page (invite, role change, deactivation, last owner) and the
 * audit log (an entry for each action family, and never a secret), over
 * real HTTP against the real binary and a throwaway PostgreSQL cluster.
 *
 * One suite, one cluster, one server (CK_NOFORK; tests run in order and
 * share them).
 */
#include "harness/harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>

#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define OWNER_ORG	"My Organization"
#define ADMIN_EMAIL	"admin@example.com"
#define MEMBER_EMAIL	"member@example.com"
#define USER_PW		"role-test-password-1"
#define OTHER_EMAIL	"other-owner@example.com"
#define OTHER_ORG	"Other Org"
#define PROV_KEY	"sk-canary-provider-key-0123456789"
#define TW_SID		"AC0123c0ffeec0ffeec0ffeec0ffeeabcd"
#define TW_TOKEN	"tkn-canary-twilio-0123456789abcd"
#define FORM_MAX	8192

static void	 setup(void);
static void	 teardown(void);
static void	 cleanup(void);
static char	*sqlf(const char *, ...) __attribute__((format(printf, 1, 2)));
static int64_t	 sql_int(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	 no_secret(const char *, const char *, const char *);
static void	 req(struct client *, const char *, const char *,
		    const char *, struct hresp *);
static char	*page_csrf(struct client *, const char *);
static void	 post_form(struct client *, const char *, const char *,
		    const char *, struct hresp *);
static void	 get_page(struct client *, const char *, long, struct hresp *);
static int64_t	 location_id(const struct hresp *, const char *);
static void	 api(const char *, const char *, const char *, const char *,
		    struct hresp *);
static cJSON	*json_body(const struct hresp *);
static char	*make_token(const char *, const char *, const char *);
static void	 login(struct client *, const char *, const char *);
static void	 must_contain(const struct hresp *, const char *);
static void	 make_user(const char *, const char *, const char *);
static void	 want_status(const char *, const char *, long, long);
static int64_t	 make_chat(int64_t, const char *);
static Suite	*roles_suite(void);

static struct hpg	 pg;
static struct hserver	 srv;
static bool		 pg_up;
static char		*tok_owner, *tok_admin, *tok_member, *tok_other;
static int64_t		 org_id, other_org_id;

/* --- fixture ------------------------------------------------------------ */

static void
make_user(const char *email, const char *org, const char *role)
{
	const char	*args[] = { "user", "create", "--email", email,
			    "--org", org, "--role", role, NULL };
	char		*out = NULL;
	int		 st;

	st = hrun_parley(&pg, args, USER_PW "\n", &out);
	ck_assert_msg(st == 0, "parley user create exited %d:\n%s", st, out);
	free(out);
}

static void
setup(void)
{
	hpg_start(&pg);
	pg_up = true;
	hserver_start(&srv, &pg, NULL);
	org_id = sql_int("SELECT id FROM orgs WHERE name = '%s'", OWNER_ORG);
	ck_assert(org_id > 0);
	make_user(ADMIN_EMAIL, OWNER_ORG, "admin");
	make_user(MEMBER_EMAIL, OWNER_ORG, "member");
	make_user(OTHER_EMAIL, OTHER_ORG, "owner");
	other_org_id = sql_int("SELECT id FROM orgs WHERE name = '%s'",
	    OTHER_ORG);
	ck_assert(other_org_id > 0);
	tok_owner = make_token(OWNER_EMAIL, "owner-tok", "owner");
	tok_admin = make_token(OWNER_EMAIL, "admin-tok", "admin");
	tok_member = make_token(OWNER_EMAIL, "member-tok", "member");
	tok_other = make_token(OTHER_EMAIL, "other", "owner");
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

	free(tok_owner);
	free(tok_admin);
	free(tok_member);
	free(tok_other);
	tok_owner = tok_admin = tok_member = tok_other = NULL;
	if (!pg_up)
		return;
	pg_up = false;
	if (keep != NULL && strcmp(keep, "1") == 0) {
		hpg_stop(&pg);
		fprintf(stderr, "roles: kept %s\n", pg.dir);
	} else
		hpg_destroy(&pg);
}

/* --- helpers ------------------------------------------------------------ */

static char *
sqlf(const char *fmt, ...)
{
	char	 sql[4096];
	va_list	 ap;
	char	*v;

	va_start(ap, fmt);
	ck_assert((size_t)vsnprintf(sql, sizeof(sql), fmt, ap) < sizeof(sql));
	va_end(ap);
	v = hpg_sql(&pg, sql);
	ck_assert_msg(v != NULL, "SQL failed: %s", sql);
	return v;
}

static int64_t
sql_int(const char *fmt, ...)
{
	char	 sql[4096];
	va_list	 ap;

	va_start(ap, fmt);
	ck_assert((size_t)vsnprintf(sql, sizeof(sql), fmt, ap) < sizeof(sql));
	va_end(ap);
	return hpg_sql_int(&pg, sql);
}

/* No credential of this file may appear in anything the server sends. */
static void
no_secret(const char *what, const char *path, const char *body)
{
	if (body == NULL)
		return;
	ck_assert_msg(strstr(body, "canary") == NULL, "%s %s leaks a "
	    "credential:\n%.3000s", what, path, body);
	ck_assert_msg(strstr(body, "c0ffeec0ffee") == NULL, "%s %s leaks an "
	    "Account SID:\n%.3000s", what, path, body);
}

/* Every panel request: no 500, no secret in the body or headers. */
static void
req(struct client *c, const char *method, const char *path,
    const char *body, struct hresp *r)
{
	client_req(c, method, path, body, NULL, NULL, r);
	ck_assert_msg(r->status != 500, "%s %s answered 500:\n%.2000s",
	    method, path, r->body);
	no_secret(method, path, r->body);
	no_secret(method, path, r->headers);
}

static void
get_page(struct client *c, const char *path, long want, struct hresp *r)
{
	req(c, "GET", path, NULL, r);
	ck_assert_msg(r->status == want, "GET %s: want %ld, got %ld:\n%.2000s",
	    path, want, r->status, r->body);
}

static char *
page_csrf(struct client *c, const char *path)
{
	struct hresp	 r;
	char		*csrf;

	get_page(c, path, 200, &r);
	csrf = html_csrf(r.body);
	ck_assert_msg(csrf != NULL && csrf[0] != '\0', "GET %s: no _csrf",
	    path);
	hresp_free(&r);
	return csrf;
}

/* POSTs fields (form-encoded) plus a fresh _csrf from `page`. */
static void
post_form(struct client *c, const char *page, const char *action,
    const char *fields, struct hresp *r)
{
	char	 all[2 * FORM_MAX] = "";
	char	*csrf = page_csrf(c, page);

	form_add(all, sizeof(all), "_csrf", csrf);
	free(csrf);
	if (fields != NULL && fields[0] != '\0') {
		ck_assert(strlen(all) + strlen(fields) + 2 < sizeof(all));
		strncat(all, "&", sizeof(all) - strlen(all) - 1);
		strncat(all, fields, sizeof(all) - strlen(all) - 1);
	}
	req(c, "POST", action, all, r);
}

/* The trailing id of a 303's Location that starts with prefix. */
static int64_t
location_id(const struct hresp *r, const char *prefix)
{
	char	*loc = hresp_header(r, "Location");
	int64_t	 id;

	ck_assert_msg(r->status == 303 && loc != NULL &&
	    strncmp(loc, prefix, strlen(prefix)) == 0, "want 303 to %s…, got "
	    "%ld (Location: %s):\n%.2000s", prefix, r->status,
	    loc != NULL ? loc : "none", r->body);
	id = strtoll(loc + strlen(prefix), NULL, 10);
	free(loc);
	ck_assert(id > 0);
	return id;
}

/* One API request with the bearer token; no 500, no secret. */
static void
api(const char *tok, const char *method, const char *path, const char *json,
    struct hresp *r)
{
	struct client	 c;
	char		 auth[256];
	const char	*headers[2] = { auth, NULL };

	client_init(&c, srv.base);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	client_req(&c, method, path, json, json != NULL ?
	    "application/json" : NULL, headers, r);
	ck_assert_msg(r->status != 500, "%s %s answered 500:\n%.2000s",
	    method, path, r->body);
	no_secret(method, path, r->body);
	no_secret(method, path, r->headers);
}

static cJSON *
json_body(const struct hresp *r)
{
	cJSON	*j = cJSON_Parse(r->body);

	ck_assert_msg(j != NULL, "not JSON (%ld): %.2000s", r->status,
	    r->body);
	return j;
}

static char *
make_token(const char *email, const char *name, const char *role)
{
	const char	*args[] = { "token", "create", "--email", email,
			    "--name", name, "--role", role, NULL };
	char		*out = NULL, *tok;
	size_t		 n;
	int		 st;

	st = hrun_parley(&pg, args, NULL, &out);
	ck_assert_msg(st == 0, "parley token create exited %d:\n%s", st, out);
	n = strcspn(out, "\n");
	tok = strndup(out, n);
	ck_assert(tok != NULL);
	free(out);
	return tok;
}

static void
login(struct client *c, const char *email, const char *pw)
{
	client_init(c, srv.base);
	ck_assert_msg(client_login(c, email, pw), "cannot log in as %s",
	    email);
}

static void
must_contain(const struct hresp *r, const char *needle)
{
	ck_assert_msg(r->body != NULL && strstr(r->body, needle) != NULL,
	    "response %ld lacks \"%s\":\n%.4000s", r->status, needle,
	    r->body);
}


/* 403 when forbidden, else anything but 401/403/5xx. */
static void
want_status(const char *what, const char *path, long got, long forbidden)
{
	if (forbidden)
		ck_assert_msg(got == 403, "%s %s: want 403, got %ld", what,
		    path, got);
	else
		ck_assert_msg(got != 403 && got != 401 && got < 500,
		    "%s %s: want allowed, got %ld", what, path, got);
}

/* A chat needing a person on the org's sandbox channel, by SQL. */
static int64_t
make_chat(int64_t org, const char *contact)
{
	int64_t	 id;

	id = sql_int("INSERT INTO chats (org_id, channel_id, external_id,"
	    " display_name, status) SELECT org_id, id, '%s', 'Role test',"
	    " 'needs_human' FROM channels WHERE org_id = %lld AND kind ="
	    " 'sandbox' RETURNING id", contact, (long long)org);
	ck_assert_msg(id > 0, "cannot create a chat in org %lld",
	    (long long)org);
	return id;
}

/* --- tests -------------------------------------------------------------- */

/* Panel pages: who may GET what. */
static const struct {
	const char	*path;
	int		 min;	/* 1 member, 2 admin, 3 owner */
} pages[] = {
	{ "/", 1 }, { "/settings", 1 }, { "/settings/password", 1 },
	{ "/conversations", 1 },
	{ "/agents", 2 }, { "/agents/new", 2 }, { "/channels", 2 },
	{ "/channels/new", 2 }, { "/plugins", 2 }, { "/jobs", 2 },
	{ "/settings/providers", 2 }, { "/settings/providers/new", 2 },
	{ "/settings/models", 2 }, { "/settings/models/new", 2 },
	{ "/settings/tokens", 3 }, { "/settings/organization", 3 },
	{ "/settings/users", 3 }, { "/settings/audit", 3 },
};

/* Panel writes: one POST per family, with a fresh CSRF token. */
static const struct {
	const char	*action;
	const char	*fields;
	int		 min;
} posts[] = {
	{ "/agents", "name=", 2 },
	{ "/channels", "kind=twilio&name=", 2 },
	{ "/settings/providers", "name=", 2 },
	{ "/settings/models", "name=", 2 },
	{ "/jobs/999999/retry", "", 2 },
	{ "/settings/tokens", "name=", 3 },
	{ "/settings/organization", "name=", 3 },
	{ "/settings/users", "email=", 3 },
	{ "/settings/users/999999/role", "role=member", 3 },
	{ "/settings/password", "current_password=x", 1 },
};

/* API: method, path, JSON body (or NULL), minimum role. */
static const struct {
	const char	*method;
	const char	*path;
	const char	*json;
	int		 min;
} apis[] = {
	{ "GET", "/api/v1/providers", NULL, 2 },
	{ "POST", "/api/v1/providers", "{}", 2 },
	{ "GET", "/api/v1/models", NULL, 2 },
	{ "POST", "/api/v1/models", "{}", 2 },
	{ "GET", "/api/v1/agents", NULL, 2 },
	{ "POST", "/api/v1/agents", "{}", 2 },
	{ "GET", "/api/v1/plugins", NULL, 2 },
	{ "GET", "/api/v1/channels", NULL, 2 },
	{ "POST", "/api/v1/channels", "{}", 2 },
	{ "GET", "/api/v1/whatsapp-app", NULL, 2 },
	{ "GET", "/v1/models", NULL, 2 },
	{ "POST", "/v1/chat/completions", "{}", 2 },
	{ "GET", "/api/v1/conversations", NULL, 1 },
};

START_TEST(t_matrix)
{
	const char	*emails[3] = { MEMBER_EMAIL, ADMIN_EMAIL, OWNER_EMAIL };
	const char	*pws[3] = { USER_PW, USER_PW, OWNER_PW };
	const char	*toks[3] = { tok_member, tok_admin, tok_owner };
	struct client	 c;
	struct hresp	 r;

	for (int role = 1; role <= 3; role++) {
		login(&c, emails[role - 1], pws[role - 1]);
		for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
			req(&c, "GET", pages[i].path, NULL, &r);
			want_status(emails[role - 1], pages[i].path, r.status,
			    role < pages[i].min);
			hresp_free(&r);
		}
		for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++) {
			post_form(&c, "/settings/password", posts[i].action,
			    posts[i].fields, &r);
			want_status(emails[role - 1], posts[i].action,
			    r.status, role < posts[i].min);
			hresp_free(&r);
		}
		for (size_t i = 0; i < sizeof(apis) / sizeof(apis[0]); i++) {
			api(toks[role - 1], apis[i].method, apis[i].path,
			    apis[i].json, &r);
			want_status(apis[i].method, apis[i].path, r.status,
			    role < apis[i].min);
			hresp_free(&r);
		}
	}
	/* The navigation hides what a member cannot use. */
	login(&c, MEMBER_EMAIL, USER_PW);
	get_page(&c, "/", 200, &r);
	ck_assert(strstr(r.body, "href=\"/agents\"") == NULL);
	ck_assert(strstr(r.body, "href=\"/conversations\"") != NULL);
	hresp_free(&r);
	get_page(&c, "/settings", 200, &r);
	ck_assert(strstr(r.body, "/settings/tokens") == NULL);
	ck_assert(strstr(r.body, "/settings/providers") == NULL);
	hresp_free(&r);
}
END_TEST

START_TEST(t_other_org_404)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[128];
	int64_t		 other_user = sql_int("SELECT id FROM users WHERE "
			    "email = '%s'", OTHER_EMAIL);
	int64_t		 other_agent = sql_int("SELECT id FROM agents WHERE "
			    "org_id = %lld LIMIT 1", (long long)other_org_id);

	login(&c, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/settings/users/%lld/role",
	    (long long)other_user);
	post_form(&c, "/settings/users", path, "role=member", &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/settings/users/%lld/deactivate",
	    (long long)other_user);
	post_form(&c, "/settings/users", path, "", &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	ck_assert_int_eq(sql_int("SELECT is_active::int FROM users WHERE "
	    "id = %lld", (long long)other_user), 1);
	if (other_agent > 0) {
		snprintf(path, sizeof(path), "/api/v1/agents/%lld",
		    (long long)other_agent);
		api(tok_owner, "GET", path, NULL, &r);
		ck_assert_int_eq(r.status, 404);
		hresp_free(&r);
		snprintf(path, sizeof(path), "/agents/%lld",
		    (long long)other_agent);
		get_page(&c, path, 404, &r);
		hresp_free(&r);
	}
}
END_TEST

/*
 * Conversations: every role reads the list, the inbox and a timeline and
 * claims, returns and closes (303 each, the chat's status moving); a
 * member gets 403 on the sandbox and the knowledge base; another
 * organisation's chat is 404 to every role, reads and writes alike.
 */
START_TEST(t_conversations)
{
	static const char	*const actions[][2] = {
		{ "claim", "human" }, { "return", "ai" }, { "close", "closed" },
	};
	const char	*emails[3] = { MEMBER_EMAIL, ADMIN_EMAIL, OWNER_EMAIL };
	const char	*pws[3] = { USER_PW, USER_PW, OWNER_PW };
	const char	*agent_posts[] = { "sandbox", "knowledge",
			    "knowledge/1", "knowledge/1/delete" };
	struct client	 c;
	struct hresp	 r;
	char		 path[128], view[64];
	char		*st;
	int64_t		 chat = make_chat(org_id, "+15557770001");
	int64_t		 other = make_chat(other_org_id, "+15557770002");
	int64_t		 agent = sql_int("INSERT INTO agents (org_id, name, slug)"
			    " VALUES (%lld, 'Role agent', 'role-agent') RETURNING"
			    " id", (long long)org_id);

	ck_assert(agent > 0);
	snprintf(view, sizeof(view), "/conversations/%lld", (long long)chat);
	for (int role = 1; role <= 3; role++) {
		const char	*who = emails[role - 1];

		free(sqlf("UPDATE chats SET status = 'needs_human',"
		    " assigned_user_id = NULL WHERE id = %lld",
		    (long long)chat));
		login(&c, who, pws[role - 1]);
		get_page(&c, "/conversations", 200, &r);
		must_contain(&r, view);
		hresp_free(&r);
		get_page(&c, "/conversations?status=needs_human", 200, &r);
		must_contain(&r, view);
		hresp_free(&r);
		get_page(&c, view, 200, &r);
		must_contain(&r, "Role test");
		hresp_free(&r);
		for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]);
		    i++) {
			snprintf(path, sizeof(path), "%s/%s", view,
			    actions[i][0]);
			post_form(&c, view, path, "", &r);
			ck_assert_msg(r.status == 303, "%s POST %s: want 303, "
			    "got %ld", who, path, r.status);
			hresp_free(&r);
			st = sqlf("SELECT status FROM chats WHERE id = %lld",
			    (long long)chat);
			ck_assert_msg(strcmp(st, actions[i][1]) == 0, "%s %s: "
			    "status %s, want %s", who, path, st,
			    actions[i][1]);
			free(st);
		}

		/* The sandbox and the knowledge base are for admins. */
		for (size_t i = 0; role == 1 && i < sizeof(agent_posts) /
		    sizeof(agent_posts[0]); i++) {
			snprintf(path, sizeof(path), "/agents/%lld/%s",
			    (long long)agent, agent_posts[i]);
			post_form(&c, "/settings/password", path, "text=hi",
			    &r);
			want_status(who, path, r.status, true);
			hresp_free(&r);
		}
		snprintf(path, sizeof(path), "/agents/%lld/knowledge/1",
		    (long long)agent);
		req(&c, "GET", path, NULL, &r);
		if (role == 1)
			want_status(who, path, r.status, true);
		hresp_free(&r);
		snprintf(path, sizeof(path), "/agents/%lld/sandbox",
		    (long long)agent);
		req(&c, "GET", path, NULL, &r);
		want_status(who, path, r.status, role < 2);
		hresp_free(&r);

		/* Another organisation's chat: unknown, whatever the role. */
		snprintf(path, sizeof(path), "/conversations/%lld",
		    (long long)other);
		get_page(&c, path, 404, &r);
		hresp_free(&r);
		for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]);
		    i++) {
			snprintf(path, sizeof(path), "/conversations/%lld/%s",
			    (long long)other, actions[i][0]);
			post_form(&c, view, path, "", &r);
			ck_assert_msg(r.status == 404, "%s POST %s: want 404, "
			    "got %ld", who, path, r.status);
			hresp_free(&r);
		}
		snprintf(path, sizeof(path), "/conversations/%lld/reply",
		    (long long)other);
		post_form(&c, view, path, "body=hijack", &r);
		ck_assert_msg(r.status == 404, "%s POST %s: want 404, got %ld",
		    who, path, r.status);
		hresp_free(&r);
	}
	st = sqlf("SELECT status FROM chats WHERE id = %lld",
	    (long long)other);
	ck_assert_str_eq(st, "needs_human");
	free(st);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM messages WHERE "
	    "chat_id = %lld", (long long)other), 0);
}
END_TEST

START_TEST(t_users_page)
{
	struct client	 owner, u, m;
	struct hresp	 r;
	char		 fields[FORM_MAX] = "", path[128];
	char		*pw;
	int64_t		 id, owner_id;

	login(&owner, OWNER_EMAIL, OWNER_PW);
	form_add(fields, sizeof(fields), "email", "New.Person@example.com");
	form_add(fields, sizeof(fields), "role", "member");
	post_form(&owner, "/settings/users", "/settings/users", fields, &r);
	ck_assert_msg(r.status == 200, "invite: %ld %.2000s", r.status,
	    r.body);
	pw = html_input_value(r.body, "new_user_password");
	ck_assert(pw != NULL && strlen(pw) >= 16);
	hresp_free(&r);
	/* Shown once: the list does not show it again. */
	get_page(&owner, "/settings/users", 200, &r);
	ck_assert(strstr(r.body, pw) == NULL);
	must_contain(&r, "new.person@example.com");
	hresp_free(&r);
	login(&u, "new.person@example.com", pw);
	get_page(&u, "/agents", 403, &r);
	hresp_free(&r);

	/* Existing email: a field error. */
	post_form(&owner, "/settings/users", "/settings/users", fields, &r);
	ck_assert_int_eq(r.status, 409);
	must_contain(&r, "already exists");
	hresp_free(&r);

	/* Role change takes effect at once. */
	id = sql_int("SELECT id FROM users WHERE email = "
	    "'new.person@example.com'");
	snprintf(path, sizeof(path), "/settings/users/%lld/role",
	    (long long)id);
	post_form(&owner, "/settings/users", path, "role=admin", &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	get_page(&u, "/agents", 200, &r);
	hresp_free(&r);

	/* Deactivation ends their sessions and blocks sign-in. */
	snprintf(path, sizeof(path), "/settings/users/%lld/deactivate",
	    (long long)id);
	post_form(&owner, "/settings/users", path, "", &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	req(&u, "GET", "/agents", NULL, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	client_init(&m, srv.base);
	ck_assert(!client_login(&m, "new.person@example.com", pw));
	free(pw);

	/* The last owner can neither be demoted nor deactivate themself. */
	owner_id = sql_int("SELECT id FROM users WHERE email = '%s'",
	    OWNER_EMAIL);
	snprintf(path, sizeof(path), "/settings/users/%lld/role",
	    (long long)owner_id);
	post_form(&owner, "/settings/users", path, "role=admin", &r);
	ck_assert_int_eq(r.status, 409);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/settings/users/%lld/deactivate",
	    (long long)owner_id);
	post_form(&owner, "/settings/users", path, "", &r);
	ck_assert_int_eq(r.status, 409);
	hresp_free(&r);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM memberships WHERE "
	    "org_id = %lld AND role = 'owner'", (long long)org_id), 1);
}
END_TEST

START_TEST(t_audit)
{
	struct client	 c, bad;
	struct hresp	 r;
	char		 fields[FORM_MAX] = "", path[160];
	char		*v;
	int64_t		 prov, ch, agent;
	const char	*actions[] = { "login.success", "login.failure",
			    "provider.key_changed", "channel.credentials_changed",
			    "agent.created", "agent.updated", "plugin.toggled",
			    "agent.deleted", "connect.code_created",
			    "token.created", "token.revoked", "user.created",
			    "user.role_changed", "user.deactivated", NULL };

	login(&c, OWNER_EMAIL, OWNER_PW);
	client_init(&bad, srv.base);
	ck_assert(!client_login(&bad, OWNER_EMAIL, "wrong-password-123"));
	ck_assert(!client_login(&bad, "nobody@example.com", "whatever-1234"));

	form_add(fields, sizeof(fields), "name", "Canary provider");
	form_add(fields, sizeof(fields), "base_url", "http://127.0.0.1:9");
	form_add(fields, sizeof(fields), "api_key", PROV_KEY);
	post_form(&c, "/settings/providers/new", "/settings/providers",
	    fields, &r);
	prov = location_id(&r, "/settings/providers/");
	hresp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/providers/%lld",
	    (long long)prov);
	api(tok_admin, "PATCH", path, "{\"apiKey\": \"" PROV_KEY "-2\"}", &r);
	ck_assert_int_eq(r.status, 200);
	hresp_free(&r);

	fields[0] = '\0';
	form_add(fields, sizeof(fields), "kind", "twilio");
	form_add(fields, sizeof(fields), "name", "Canary line");
	form_add(fields, sizeof(fields), "environment", "production");
	form_add(fields, sizeof(fields), "phone_number", "+15550001111");
	form_add(fields, sizeof(fields), "twilio_account_sid", TW_SID);
	form_add(fields, sizeof(fields), "twilio_auth_token", TW_TOKEN);
	post_form(&c, "/channels/new?kind=twilio", "/channels", fields, &r);
	ch = location_id(&r, "/channels/");
	hresp_free(&r);

	api(tok_admin, "POST", "/api/v1/agents",
	    "{\"name\": \"Audit agent\", \"slug\": \"audit-agent\"}", &r);
	ck_assert_msg(r.status == 201, "agent: %ld %s", r.status, r.body);
	{
		cJSON	*j = json_body(&r);

		agent = (int64_t)cJSON_GetObjectItem(j, "id")->valuedouble;
		cJSON_Delete(j);
	}
	hresp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/agents/%lld", (long long)agent);
	api(tok_admin, "PATCH", path, "{\"name\": \"Audit agent 2\"}", &r);
	ck_assert_int_eq(r.status, 200);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/agents/%lld/plugins",
	    (long long)agent);
	api(tok_admin, "PUT", path, "{\"enabledPluginIds\": [\"time.now\"]}",
	    &r);
	ck_assert_msg(r.status == 200, "plugins: %ld %s", r.status, r.body);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/agents/%lld/connect-codes",
	    (long long)agent);
	{
		char	 body[64];

		snprintf(body, sizeof(body), "{\"channelId\": %lld}",
		    (long long)ch);
		api(tok_admin, "POST", path, body, &r);
		ck_assert_msg(r.status == 201, "code: %ld %s", r.status,
		    r.body);
		hresp_free(&r);
	}
	snprintf(path, sizeof(path), "/api/v1/agents/%lld", (long long)agent);
	api(tok_admin, "DELETE", path, NULL, &r);
	hresp_free(&r);

	fields[0] = '\0';
	form_add(fields, sizeof(fields), "name", "audit-token");
	form_add(fields, sizeof(fields), "role", "member");
	post_form(&c, "/settings/tokens", "/settings/tokens", fields, &r);
	ck_assert_int_eq(r.status, 200);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/settings/tokens/%lld/revoke",
	    (long long)sql_int("SELECT id FROM api_tokens WHERE name = "
	    "'audit-token'"));
	post_form(&c, "/settings/tokens", path, "", &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);

	for (int i = 0; actions[i] != NULL; i++)
		ck_assert_msg(sql_int("SELECT count(*) FROM audit_log WHERE "
		    "org_id = %lld AND action = '%s'", (long long)org_id,
		    actions[i]) > 0, "no audit entry %s", actions[i]);
	/* Unknown emails are not recorded; API actors are token prefixes. */
	ck_assert_int_eq(sql_int("SELECT count(*) FROM audit_log WHERE "
	    "actor LIKE '%%nobody%%' OR detail LIKE '%%nobody%%'"), 0);
	ck_assert(sql_int("SELECT count(*) FROM audit_log WHERE "
	    "action = 'agent.created' AND actor LIKE 'token:prl_%%'") > 0);
	v = sqlf("SELECT detail FROM audit_log WHERE action = "
	    "'plugin.toggled' ORDER BY id DESC LIMIT 1");
	ck_assert_msg(strstr(v, "time.now on") != NULL, "detail: %s", v);
	free(v);

	/* No secret anywhere in the log, nor on its page. */
	ck_assert_int_eq(sql_int("SELECT count(*) FROM audit_log a WHERE "
	    "a::text LIKE '%%canary%%' OR a::text LIKE '%%c0ffeec0ffee%%'"),
	    0);
	get_page(&c, "/settings/audit", 200, &r);
	must_contain(&r, "provider.key_changed");
	must_contain(&r, "channel.credentials_changed");
	hresp_free(&r);
	/* Other organisations' entries are not shown. */
	ck_assert_int_eq(sql_int("SELECT count(*) FROM audit_log WHERE "
	    "org_id = %lld AND action LIKE 'provider.%%'",
	    (long long)other_org_id), 0);
}
END_TEST

START_TEST(t_audit_paging)
{
	struct client	 c;
	struct hresp	 r;
	char		*older;

	free(sqlf("INSERT INTO audit_log (org_id, actor, action, detail) "
	    "SELECT %lld, 'system', 'test.filler', 'row ' || g "
	    "FROM generate_series(1, 150) g RETURNING 1", (long long)org_id));
	login(&c, OWNER_EMAIL, OWNER_PW);
	get_page(&c, "/settings/audit", 200, &r);
	must_contain(&r, "row 150");
	ck_assert(strstr(r.body, ">row 1<") == NULL);
	older = strstr(r.body, "/settings/audit?before=");
	ck_assert(older != NULL);
	older = strndup(older, strcspn(older, "\""));
	hresp_free(&r);
	get_page(&c, older, 200, &r);
	must_contain(&r, ">row 1<");
	ck_assert(strstr(r.body, "row 150") == NULL);
	hresp_free(&r);
	free(older);
}
END_TEST

static Suite *
roles_suite(void)
{
	Suite	*s = suite_create("roles");
	TCase	*tc = tcase_create("roles");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, t_matrix);
	tcase_add_test(tc, t_other_org_404);
	tcase_add_test(tc, t_conversations);
	tcase_add_test(tc, t_users_page);
	tcase_add_test(tc, t_audit);
	tcase_add_test(tc, t_audit_paging);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(roles_suite());
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
