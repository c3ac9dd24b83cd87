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
#include "harness/panel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
static void	 want_status(const char *, const char *, long, long);
static int64_t	 make_chat(int64_t, const char *);
static Suite	*roles_suite(void);

static struct hpg	 pg;
static struct hserver	 srv;
static char		*tok_owner, *tok_admin, *tok_member, *tok_other;
static int64_t		 org_id, other_org_id;

/* No credential of this file may appear in anything the server sends:
 * every answer is checked (hreq_forbid). */
static const char *const secrets[] = { "canary", "c0ffeec0ffee", NULL };

/* --- fixture ------------------------------------------------------------ */

static void
setup(void)
{
	hreq_forbid(secrets);
	hpg_start(&pg);
	hserver_start(&srv, &pg, NULL);
	org_id = sqli("SELECT id FROM orgs WHERE name = '%s'", OWNER_ORG);
	ck_assert(org_id > 0);
	huser_create(&pg, ADMIN_EMAIL, OWNER_ORG, "admin", USER_PW);
	huser_create(&pg, MEMBER_EMAIL, OWNER_ORG, "member", USER_PW);
	huser_create(&pg, OTHER_EMAIL, OTHER_ORG, "owner", USER_PW);
	other_org_id = sqli("SELECT id FROM orgs WHERE name = '%s'",
	    OTHER_ORG);
	ck_assert(other_org_id > 0);
	tok_owner = htoken_create(&pg, OWNER_EMAIL, "owner-tok", "owner");
	tok_admin = htoken_create(&pg, OWNER_EMAIL, "admin-tok", "admin");
	tok_member = htoken_create(&pg, OWNER_EMAIL, "member-tok", "member");
	tok_other = htoken_create(&pg, OTHER_EMAIL, "other", "owner");
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
	free(tok_owner);
	free(tok_admin);
	free(tok_member);
	free(tok_other);
	tok_owner = tok_admin = tok_member = tok_other = NULL;
	hpg_finish(&pg, "roles");
}

/* --- helpers ------------------------------------------------------------ */


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

	id = sqli("INSERT INTO chats (org_id, channel_id, external_id,"
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
		hlogin(&c, srv.base, emails[role - 1], pws[role - 1]);
		for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
			hreq(&c, "GET", pages[i].path, NULL, NULL, NULL, &r);
			want_status(emails[role - 1], pages[i].path, r.status,
			    role < pages[i].min);
			hresp_free(&r);
		}
		for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++) {
			hpost_form(&c, "/settings/password", posts[i].action,
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
	hlogin(&c, srv.base, MEMBER_EMAIL, USER_PW);
	hget(&c, "/", 200, &r);
	ck_assert(strstr(r.body, "href=\"/agents\"") == NULL);
	ck_assert(strstr(r.body, "href=\"/conversations\"") != NULL);
	hresp_free(&r);
	hget(&c, "/settings", 200, &r);
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
	int64_t		 other_user = sqli("SELECT id FROM users WHERE "
			    "email = '%s'", OTHER_EMAIL);
	int64_t		 other_agent = sqli("SELECT id FROM agents WHERE "
			    "org_id = %lld LIMIT 1", (long long)other_org_id);

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/settings/users/%lld/role",
	    (long long)other_user);
	hpost_form(&c, "/settings/users", path, "role=member", &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/settings/users/%lld/deactivate",
	    (long long)other_user);
	hpost_form(&c, "/settings/users", path, "", &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT is_active::int FROM users WHERE "
	    "id = %lld", (long long)other_user), 1);
	if (other_agent > 0) {
		snprintf(path, sizeof(path), "/api/v1/agents/%lld",
		    (long long)other_agent);
		api(tok_owner, "GET", path, NULL, &r);
		ck_assert_int_eq(r.status, 404);
		hresp_free(&r);
		snprintf(path, sizeof(path), "/agents/%lld",
		    (long long)other_agent);
		hget(&c, path, 404, &r);
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
	int64_t		 agent = sqli("INSERT INTO agents (org_id, name, slug)"
			    " VALUES (%lld, 'Role agent', 'role-agent') RETURNING"
			    " id", (long long)org_id);

	ck_assert(agent > 0);
	snprintf(view, sizeof(view), "/conversations/%lld", (long long)chat);
	for (int role = 1; role <= 3; role++) {
		const char	*who = emails[role - 1];

		free(sqls("UPDATE chats SET status = 'needs_human',"
		    " assigned_user_id = NULL WHERE id = %lld",
		    (long long)chat));
		hlogin(&c, srv.base, who, pws[role - 1]);
		hget(&c, "/conversations", 200, &r);
		hresp_has(&r, view, NULL);
		hresp_free(&r);
		hget(&c, "/conversations?status=needs_human", 200, &r);
		hresp_has(&r, view, NULL);
		hresp_free(&r);
		hget(&c, view, 200, &r);
		hresp_has(&r, "Role test", NULL);
		hresp_free(&r);
		for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]);
		    i++) {
			snprintf(path, sizeof(path), "%s/%s", view,
			    actions[i][0]);
			hpost_form(&c, view, path, "", &r);
			ck_assert_msg(r.status == 303, "%s POST %s: want 303, "
			    "got %ld", who, path, r.status);
			hresp_free(&r);
			st = sqls("SELECT status FROM chats WHERE id = %lld",
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
			hpost_form(&c, "/settings/password", path, "text=hi",
			    &r);
			want_status(who, path, r.status, true);
			hresp_free(&r);
		}
		snprintf(path, sizeof(path), "/agents/%lld/knowledge/1",
		    (long long)agent);
		hreq(&c, "GET", path, NULL, NULL, NULL, &r);
		if (role == 1)
			want_status(who, path, r.status, true);
		hresp_free(&r);
		snprintf(path, sizeof(path), "/agents/%lld/sandbox",
		    (long long)agent);
		hreq(&c, "GET", path, NULL, NULL, NULL, &r);
		want_status(who, path, r.status, role < 2);
		hresp_free(&r);

		/* Another organisation's chat: unknown, whatever the role. */
		snprintf(path, sizeof(path), "/conversations/%lld",
		    (long long)other);
		hget(&c, path, 404, &r);
		hresp_free(&r);
		for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]);
		    i++) {
			snprintf(path, sizeof(path), "/conversations/%lld/%s",
			    (long long)other, actions[i][0]);
			hpost_form(&c, view, path, "", &r);
			ck_assert_msg(r.status == 404, "%s POST %s: want 404, "
			    "got %ld", who, path, r.status);
			hresp_free(&r);
		}
		snprintf(path, sizeof(path), "/conversations/%lld/reply",
		    (long long)other);
		hpost_form(&c, view, path, "body=hijack", &r);
		ck_assert_msg(r.status == 404, "%s POST %s: want 404, got %ld",
		    who, path, r.status);
		hresp_free(&r);
	}
	st = sqls("SELECT status FROM chats WHERE id = %lld",
	    (long long)other);
	ck_assert_str_eq(st, "needs_human");
	free(st);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
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

	hlogin(&owner, srv.base, OWNER_EMAIL, OWNER_PW);
	form_add(fields, sizeof(fields), "email", "New.Person@example.com");
	form_add(fields, sizeof(fields), "role", "member");
	hpost_form(&owner, "/settings/users", "/settings/users", fields, &r);
	ck_assert_msg(r.status == 200, "invite: %ld %.2000s", r.status,
	    r.body);
	pw = html_input_value(r.body, "new_user_password");
	ck_assert(pw != NULL && strlen(pw) >= 16);
	hresp_free(&r);
	/* Shown once: the list does not show it again. */
	hget(&owner, "/settings/users", 200, &r);
	ck_assert(strstr(r.body, pw) == NULL);
	hresp_has(&r, "new.person@example.com", NULL);
	hresp_free(&r);
	hlogin(&u, srv.base, "new.person@example.com", pw);
	/* An invitation's password is one-time: replaced first. */
	fields[0] = '\0';
	form_add(fields, sizeof(fields), "current_password", pw);
	form_add(fields, sizeof(fields), "new_password", USER_PW);
	form_add(fields, sizeof(fields), "confirm_password", USER_PW);
	hpost_form(&u, "/settings/password", "/settings/password", fields,
	    &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	hget(&u, "/agents", 403, &r);
	hresp_free(&r);
	fields[0] = '\0';
	form_add(fields, sizeof(fields), "email", "New.Person@example.com");
	form_add(fields, sizeof(fields), "role", "member");

	/* Existing email: a field error. */
	hpost_form(&owner, "/settings/users", "/settings/users", fields, &r);
	ck_assert_int_eq(r.status, 409);
	hresp_has(&r, "already exists", NULL);
	hresp_free(&r);

	/* Role change takes effect at once. */
	id = sqli("SELECT id FROM users WHERE email = "
	    "'new.person@example.com'");
	snprintf(path, sizeof(path), "/settings/users/%lld/role",
	    (long long)id);
	hpost_form(&owner, "/settings/users", path, "role=admin", &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	hget(&u, "/agents", 200, &r);
	hresp_free(&r);

	/* Deactivation ends their sessions and blocks sign-in. */
	snprintf(path, sizeof(path), "/settings/users/%lld/deactivate",
	    (long long)id);
	hpost_form(&owner, "/settings/users", path, "", &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	hreq(&u, "GET", "/agents", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	client_init(&m, srv.base);
	ck_assert(!client_login(&m, "new.person@example.com", USER_PW));
	free(pw);

	/* The last owner can neither be demoted nor deactivate themself. */
	owner_id = sqli("SELECT id FROM users WHERE email = '%s'",
	    OWNER_EMAIL);
	snprintf(path, sizeof(path), "/settings/users/%lld/role",
	    (long long)owner_id);
	hpost_form(&owner, "/settings/users", path, "role=admin", &r);
	ck_assert_int_eq(r.status, 409);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/settings/users/%lld/deactivate",
	    (long long)owner_id);
	hpost_form(&owner, "/settings/users", path, "", &r);
	ck_assert_int_eq(r.status, 409);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM memberships WHERE "
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

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	client_init(&bad, srv.base);
	ck_assert(!client_login(&bad, OWNER_EMAIL, "wrong-password-123"));
	ck_assert(!client_login(&bad, "nobody@example.com", "whatever-1234"));

	form_add(fields, sizeof(fields), "name", "Canary provider");
	form_add(fields, sizeof(fields), "base_url", "http://127.0.0.1:9");
	form_add(fields, sizeof(fields), "api_key", PROV_KEY);
	hpost_form(&c, "/settings/providers/new", "/settings/providers",
	    fields, &r);
	prov = hlocation_id(&r, "/settings/providers/");
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
	hpost_form(&c, "/channels/new?kind=twilio", "/channels", fields, &r);
	ch = hlocation_id(&r, "/channels/");
	hresp_free(&r);

	api(tok_admin, "POST", "/api/v1/agents",
	    "{\"name\": \"Audit agent\", \"slug\": \"audit-agent\"}", &r);
	ck_assert_msg(r.status == 201, "agent: %ld %s", r.status, r.body);
	{
		cJSON	*j = hresp_json(&r);

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
	hpost_form(&c, "/settings/tokens", "/settings/tokens", fields, &r);
	ck_assert_int_eq(r.status, 200);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/settings/tokens/%lld/revoke",
	    (long long)sqli("SELECT id FROM api_tokens WHERE name = "
	    "'audit-token'"));
	hpost_form(&c, "/settings/tokens", path, "", &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);

	for (int i = 0; actions[i] != NULL; i++)
		ck_assert_msg(sqli("SELECT count(*) FROM audit_log WHERE "
		    "org_id = %lld AND action = '%s'", (long long)org_id,
		    actions[i]) > 0, "no audit entry %s", actions[i]);
	/* Unknown emails are not recorded; API actors are token prefixes. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE "
	    "actor LIKE '%%nobody%%' OR detail LIKE '%%nobody%%'"), 0);
	ck_assert(sqli("SELECT count(*) FROM audit_log WHERE "
	    "action = 'agent.created' AND actor LIKE 'token:prl_%%'") > 0);
	v = sqls("SELECT detail FROM audit_log WHERE action = "
	    "'plugin.toggled' ORDER BY id DESC LIMIT 1");
	ck_assert_msg(strstr(v, "time.now on") != NULL, "detail: %s", v);
	free(v);

	/* No secret anywhere in the log, nor on its page. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log a WHERE "
	    "a::text LIKE '%%canary%%' OR a::text LIKE '%%c0ffeec0ffee%%'"),
	    0);
	hget(&c, "/settings/audit", 200, &r);
	hresp_has(&r, "provider.key_changed", NULL);
	hresp_has(&r, "channel.credentials_changed", NULL);
	hresp_free(&r);
	/* Other organisations' entries are not shown. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE "
	    "org_id = %lld AND action LIKE 'provider.%%'",
	    (long long)other_org_id), 0);
}
END_TEST

START_TEST(t_audit_paging)
{
	struct client	 c;
	struct hresp	 r;
	char		*older;

	free(sqls("INSERT INTO audit_log (org_id, actor, action, detail) "
	    "SELECT %lld, 'system', 'test.filler', 'row ' || g "
	    "FROM generate_series(1, 150) g RETURNING 1", (long long)org_id));
	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	hget(&c, "/settings/audit", 200, &r);
	hresp_has(&r, "row 150", NULL);
	ck_assert(strstr(r.body, ">row 1<") == NULL);
	older = strstr(r.body, "/settings/audit?before=");
	ck_assert(older != NULL);
	older = strndup(older, strcspn(older, "\""));
	hresp_free(&r);
	hget(&c, older, 200, &r);
	hresp_has(&r, ">row 1<", NULL);
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
	int	 failed = hrun_suites(roles_suite(), NULL);

	cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
