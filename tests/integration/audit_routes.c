/*
 * audit_routes: every state-changing route writes an audit entry (issue
 * 10, defect 11), checked FROM THE ROUTE TABLE: the suite walks app_routes
 * (src/app/routes.c, linked in) and, for every route whose method is not
 * GET, looks up its case in `cases` below. A route without a case fails
 * the suite, naming itself, so a new state-changing route cannot be added
 * without saying how it is audited; a case naming a route the table no
 * longer has fails too.
 *
 * A case is either an admin action, performed here as an authorised user
 * (the owner's panel session for R_SESSION routes, an owner API token for
 * R_BEARER ones) with valid input its prepare() sets up, after which a new
 * audit_log row must exist with the expected action, the expected actor
 * (the owner's email or "token:<prefix>", and the user id for a session)
 * and the expected target (type and id); or an exemption with its reason:
 *
 *   usage      a conversation with an agent, recorded where usage is (the
 *              sandbox chat's messages, llm_calls), not an admin action:
 *              auditing every chat line would bury the actions;
 *   session    signing in and out (login.success / login.failure are
 *              written by panel/auth.c for their own reasons);
 *   no change  the route changes nothing (performed: no entry may appear).
 *
 * Provider webhooks (/webhooks/…, R_RAW, no session or token) are the
 * providers' deliveries, not admin actions: they are recognised by that
 * rule, not listed.
 *
 * No detail of any new entry may hold one of the canary secrets the
 * inputs carry (masked hints at most).
 */
#include "harness/panel.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "app/app.h"
#include "http/router.h"

#define sqli(...)	hpg_sqlf_int(&pg, __VA_ARGS__)
#define sqls(...)	hpg_sqlf(&pg, __VA_ARGS__)

#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define OWNER_ORG	"My Organization"
#define PW_EMAIL	"password-change@example.com"
#define PW_OLD		"the-old-password-0123"
#define PW_NEW		"the-new-password-4567"
#define USER_PW		"audit-routes-user-pw-1"
#define RT_KEY		"sk-rt-canary-provider-key-0123"
#define RT_SID		"ACa11ce5a11ce5a11ce5a11ce5a11ce5ab"
#define RT_TOKEN	"rt-canary-token-0123456789abcdef"
#define DEAD_BASE	"http://127.0.0.1:9/v1"	/* nothing listens */
#define FIELDS_MAX	4096

enum rkind {
	ADMIN,		/* performed; an entry must appear */
	USAGE,		/* exempt: usage, recorded elsewhere */
	SESSION,	/* exempt: sign-in and sign-out */
	NO_CHANGE,	/* performed; no entry may appear */
};

/* One performance of a case, as its prepare() sets it up. */
struct rrun {
	char		 path[256];
	char		 body[FIELDS_MAX];	/* form fields or JSON */
	int64_t		 target;		/* the entry's target id */
	char		 target_sql[256];	/* else: its id, after */
	const char	*email;			/* session user; NULL: owner */
	const char	*pw;
};

struct rcase {
	const char	*method;
	const char	*pattern;
	enum rkind	 kind;
	const char	*action;	/* ADMIN: exact; NULL any */
	const char	*target_type;
	void		(*prepare)(struct rrun *);
	const char	*why;		/* exemptions: why */
};

static void	 setup(void);
static void	 teardown(void);
static int	 next(void);
static int64_t	 api_create(const char *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 path_f(struct rrun *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 field(struct rrun *, const char *, const char *);
static int64_t	 mk_provider(void);
static int64_t	 mk_model(void);
static int64_t	 mk_agent(void);
static int64_t	 mk_knowledge(int64_t);
static int64_t	 mk_channel(void);
static int64_t	 mk_chat(const char *, int64_t);
static int64_t	 mk_user(void);
static const struct rcase *case_for(const struct route *);
static bool	 is_webhook(const struct route *);
static void	 perform(const struct route *, const struct rcase *);
static Suite	*audit_routes_suite(void);

static struct hpg	 pg;
static struct hserver	 srv;
static char		*token;		/* the owner's, role owner */
static char		*token_actor;	/* "token:<prefix>" */
static int64_t		 org_id, owner_id, sandbox_id;
static int		 seq;
static struct hfake	 mcp;		/* tests/mcp/server.mjs */

static const char *const canaries[] = { RT_KEY, RT_SID, RT_TOKEN,
    "rt-canary-shared-key-secret-0123456789", NULL };

/* --- fixture ------------------------------------------------------------ */

static void
setup(void)
{
	/* The MCP routes talk to a real MCP server on loopback, which the
	 * operator allows as tests/integration/mcp.c does. */
	const char	*env[] = { "PARLEY_MCP_ALLOWED_CIDRS=127.0.0.0/8", NULL };
	const char	*args[] = { NULL };

	hreq_forbid(canaries);
	hpg_start(&pg);
	hserver_start(&srv, &pg, env);
	hnode_start(&mcp, "tests/mcp/server.mjs", args);
	org_id = sqli("SELECT id FROM orgs WHERE name = '%s'", OWNER_ORG);
	owner_id = sqli("SELECT id FROM users WHERE email = '%s'",
	    OWNER_EMAIL);
	sandbox_id = sqli("SELECT id FROM channels WHERE org_id = %lld AND "
	    "kind = 'sandbox'", (long long)org_id);
	ck_assert(org_id > 0 && owner_id > 0 && sandbox_id > 0);
	huser_create(&pg, PW_EMAIL, OWNER_ORG, "member", PW_OLD);
	token = htoken_create(&pg, OWNER_EMAIL, "rt-owner", "owner");
	token_actor = sqls("SELECT 'token:' || prefix FROM api_tokens WHERE "
	    "name = 'rt-owner'");
}

static void
teardown(void)
{
	if (srv.pid > 0)
		(void)hserver_stop(&srv);
	hfake_stop(&mcp);
	free(token);
	free(token_actor);
	token = token_actor = NULL;
	hpg_finish(&pg, "audit_routes");
}

/* --- helpers for prepare() ---------------------------------------------- */

static int
next(void)
{
	return ++seq;
}

/* POSTs the formatted JSON to path with the owner's token: 201, the id. */
static int64_t
api_create(const char *path, const char *fmt, ...)
{
	struct hresp	 r;
	va_list		 ap;
	char		 body[FIELDS_MAX];
	cJSON		*j;
	int64_t		 id;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	hapi(srv.base, token, "POST", path, body, &r);
	ck_assert_msg(r.status == 201, "set-up POST %s: %ld %s", path,
	    r.status, r.body);
	j = hresp_json(&r);
	id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "id"));
	cJSON_Delete(j);
	hresp_free(&r);
	ck_assert_msg(id > 0, "set-up POST %s: no id", path);
	return id;
}

static void
path_f(struct rrun *x, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(x->path, sizeof(x->path), fmt, ap);
	va_end(ap);
}

/* Appends one form field to x->body. */
static void
field(struct rrun *x, const char *name, const char *value)
{
	form_add(x->body, sizeof(x->body), name, value);
}

static int64_t
mk_provider(void)
{
	return api_create("/api/v1/providers", "{\"name\":\"Provider %d\","
	    "\"baseUrl\":\"" DEAD_BASE "\",\"apiKey\":\"" RT_KEY "\"}",
	    next());
}

static int64_t
mk_model(void)
{
	int64_t	 p = mk_provider();
	int	 n = next();

	return api_create("/api/v1/models", "{\"providerId\":%lld,\"name\":"
	    "\"model-%d\",\"displayName\":\"Model %d\"}", (long long)p, n, n);
}

static int64_t
mk_agent(void)
{
	int	 n = next();

	return api_create("/api/v1/agents", "{\"name\":\"Agent %d\","
	    "\"slug\":\"agent-%d\"}", n, n);
}

static int64_t
mk_knowledge(int64_t agent)
{
	char	 path[96];

	snprintf(path, sizeof(path), "/api/v1/agents/%lld/knowledge",
	    (long long)agent);
	return api_create(path, "{\"title\":\"Entry %d\",\"body\":\"Opening "
	    "hours are nine to five.\"}", next());
}

static int64_t
mk_channel(void)
{
	int	 n = next();

	return api_create("/api/v1/channels", "{\"kind\":\"twilio\",\"name\":"
	    "\"Line %d\",\"phoneNumber\":\"+1555020%04d\",\"twilioAccountSid\":"
	    "\"" RT_SID "\",\"twilioAuthToken\":\"" RT_TOKEN "\"}", n, n);
}

/* A chat on the sandbox channel in status, using agent (0: none). */
static int64_t
mk_chat(const char *status, int64_t agent)
{
	char	 a[32] = "NULL";
	int64_t	 id;

	if (agent > 0)
		snprintf(a, sizeof(a), "%lld", (long long)agent);
	id = sqli("INSERT INTO chats (org_id, channel_id, external_id,"
	    " display_name, status, agent_id) VALUES (%lld, %lld,"
	    " '+1555030%04d', 'Audit test', '%s', %s) RETURNING id",
	    (long long)org_id, (long long)sandbox_id, next(), status, a);
	ck_assert_msg(id > 0, "cannot make a chat");
	return id;
}

static int64_t
mk_user(void)
{
	char	 email[64];

	snprintf(email, sizeof(email), "user-%d@example.com", next());
	huser_create(&pg, email, OWNER_ORG, "member", USER_PW);
	return sqli("SELECT id FROM users WHERE email = '%s'", email);
}

/* An MCP server at the test server's path (e.g. "stateless"), auth kind. */
static int64_t
mk_mcp(const char *path, const char *auth)
{
	int	 n = next();

	return api_create("/api/v1/mcp-servers", "{\"name\":\"Tools %d\","
	    "\"slug\":\"tools%d\",\"url\":\"http://127.0.0.1:%d/%s/mcp\","
	    "\"auth\":\"%s\"}", n, n, mcp.port, path, auth);
}

/* --- prepare(): one per case --------------------------------------------- */

static void
p_password(struct rrun *x)
{
	x->email = PW_EMAIL;
	x->pw = PW_OLD;
	path_f(x, "/settings/password");
	field(x, "current_password", PW_OLD);
	field(x, "new_password", PW_NEW);
	field(x, "confirm_password", PW_NEW);
	x->target = sqli("SELECT id FROM users WHERE email = '%s'", PW_EMAIL);
}

static void
p_provider_create(struct rrun *x)
{
	char	 name[32];

	snprintf(name, sizeof(name), "Panel provider %d", next());
	path_f(x, "/settings/providers");
	field(x, "name", name);
	field(x, "base_url", DEAD_BASE);
	field(x, "api_key", RT_KEY);
	snprintf(x->target_sql, sizeof(x->target_sql), "SELECT id FROM "
	    "llm_providers WHERE name = '%s'", name);
}

static void
p_provider_update(struct rrun *x)
{
	x->target = mk_provider();
	path_f(x, "/settings/providers/%lld", (long long)x->target);
	field(x, "name", "Renamed in the panel");
	field(x, "base_url", DEAD_BASE);
}

static void
p_provider_delete(struct rrun *x)
{
	x->target = mk_provider();
	path_f(x, "/settings/providers/%lld/delete", (long long)x->target);
	field(x, "confirm", "yes");
}

static void
p_provider_test(struct rrun *x)
{
	x->target = mk_provider();
	path_f(x, "/settings/providers/%lld/test", (long long)x->target);
}

static void
p_model_create(struct rrun *x)
{
	char	 pid[32], name[32];

	snprintf(pid, sizeof(pid), "%lld", (long long)mk_provider());
	snprintf(name, sizeof(name), "panel-model-%d", next());
	path_f(x, "/settings/models");
	field(x, "provider_id", pid);
	field(x, "name", name);
	field(x, "display_name", name);
	field(x, "supports_tools", "1");
	snprintf(x->target_sql, sizeof(x->target_sql), "SELECT id FROM "
	    "org_models WHERE name = '%s'", name);
}

static void
p_model_update(struct rrun *x)
{
	char	*pid, *name;

	x->target = mk_model();
	pid = sqls("SELECT provider_id FROM org_models WHERE id = %lld",
	    (long long)x->target);
	name = sqls("SELECT name FROM org_models WHERE id = %lld",
	    (long long)x->target);
	path_f(x, "/settings/models/%lld", (long long)x->target);
	field(x, "provider_id", pid);
	field(x, "name", name);
	field(x, "display_name", "Renamed model");
	free(pid);
	free(name);
}

static void
p_model_delete(struct rrun *x)
{
	x->target = mk_model();
	path_f(x, "/settings/models/%lld/delete", (long long)x->target);
	field(x, "confirm", "yes");
}

static void
p_model_default(struct rrun *x)
{
	x->target = mk_model();
	path_f(x, "/settings/models/%lld/default", (long long)x->target);
}

static void
p_token_create(struct rrun *x)
{
	char	 name[32];

	snprintf(name, sizeof(name), "panel-token-%d", next());
	path_f(x, "/settings/tokens");
	field(x, "name", name);
	field(x, "role", "member");
	snprintf(x->target_sql, sizeof(x->target_sql), "SELECT id FROM "
	    "api_tokens WHERE name = '%s'", name);
}

static void
p_token_revoke(struct rrun *x)
{
	char	 name[32];

	snprintf(name, sizeof(name), "revoked-%d", next());
	free(htoken_create(&pg, OWNER_EMAIL, name, "member"));
	x->target = sqli("SELECT id FROM api_tokens WHERE name = '%s'", name);
	path_f(x, "/settings/tokens/%lld/revoke", (long long)x->target);
}

/* The agent form's fields, with name. */
static void
agent_fields(struct rrun *x, const char *name)
{
	field(x, "name", name);
	field(x, "system_prompt", "You are {{agentName}}.");
	field(x, "mode", "chat");
	field(x, "history_length", "20");
	field(x, "reset_command", "/reset");
}

static void
p_agent_create(struct rrun *x)
{
	char	 name[32];

	snprintf(name, sizeof(name), "Panel agent %d", next());
	path_f(x, "/agents");
	agent_fields(x, name);
	snprintf(x->target_sql, sizeof(x->target_sql), "SELECT id FROM "
	    "agents WHERE name = '%s'", name);
}

static void
p_agent_update(struct rrun *x)
{
	x->target = mk_agent();
	path_f(x, "/agents/%lld", (long long)x->target);
	agent_fields(x, "Renamed agent");
}

static void
p_agent_delete(struct rrun *x)
{
	x->target = mk_agent();
	path_f(x, "/agents/%lld/delete", (long long)x->target);
}

static void
p_agent_plugins(struct rrun *x)
{
	x->target = mk_agent();
	path_f(x, "/agents/%lld/plugins", (long long)x->target);
	field(x, "plugins", "time.now");
}

static void
p_agent_try(struct rrun *x)
{
	path_f(x, "/agents/%lld/try", (long long)mk_agent());
}

static void
p_knowledge_create(struct rrun *x)
{
	int64_t	 agent = mk_agent();
	char	 title[32];

	snprintf(title, sizeof(title), "Panel entry %d", next());
	path_f(x, "/agents/%lld/knowledge", (long long)agent);
	field(x, "k_title", title);
	field(x, "k_body", "Deliveries leave at noon.");
	snprintf(x->target_sql, sizeof(x->target_sql), "SELECT id FROM "
	    "knowledge_entries WHERE title = '%s'", title);
}

static void
p_knowledge_update(struct rrun *x)
{
	int64_t	 agent = mk_agent();

	x->target = mk_knowledge(agent);
	path_f(x, "/agents/%lld/knowledge/%lld", (long long)agent,
	    (long long)x->target);
	field(x, "title", "Edited entry");
	field(x, "body", "Deliveries leave at one.");
}

static void
p_knowledge_delete(struct rrun *x)
{
	int64_t	 agent = mk_agent();

	x->target = mk_knowledge(agent);
	path_f(x, "/agents/%lld/knowledge/%lld/delete", (long long)agent,
	    (long long)x->target);
}

static void
p_connect_code(struct rrun *x)
{
	char	 ch[32];

	x->target = mk_agent();
	snprintf(ch, sizeof(ch), "%lld", (long long)mk_channel());
	path_f(x, "/agents/%lld/connect-codes", (long long)x->target);
	field(x, "channel_id", ch);
}

static void
p_unlink(struct rrun *x)
{
	int64_t	 agent = mk_agent();

	x->target = mk_chat("ai", agent);
	path_f(x, "/agents/%lld/chats/%lld/unlink", (long long)agent,
	    (long long)x->target);
}

static void
p_org_settings(struct rrun *x)
{
	path_f(x, "/settings/organization");
	field(x, "product_name", "Audit Bakery");
	field(x, "connect_prefix", "BAKE");
	x->target = org_id;
}

static void
p_resend(struct rrun *x)
{
	int64_t	 chat = mk_chat("ai", 0), mid;

	mid = sqli("INSERT INTO messages (org_id, channel_id, chat_id,"
	    " direction, body, status, error_text) VALUES (%lld, %lld, %lld,"
	    " 'out', 'Sorry for the wait.', 'failed', 'refused') RETURNING id",
	    (long long)org_id, (long long)sandbox_id, (long long)chat);
	path_f(x, "/conversations/%lld/messages/%lld/resend", (long long)chat,
	    (long long)mid);
	snprintf(x->target_sql, sizeof(x->target_sql), "SELECT max(id) FROM "
	    "messages WHERE chat_id = %lld AND direction = 'out'",
	    (long long)chat);
}

static void
p_claim(struct rrun *x)
{
	x->target = mk_chat("needs_human", 0);
	path_f(x, "/conversations/%lld/claim", (long long)x->target);
}

static void
p_reply(struct rrun *x)
{
	x->target = mk_chat("needs_human", 0);
	path_f(x, "/conversations/%lld/reply", (long long)x->target);
	field(x, "body", "A person answers.");
}

static void
p_return(struct rrun *x)
{
	x->target = mk_chat("human", 0);
	path_f(x, "/conversations/%lld/return", (long long)x->target);
}

static void
p_close(struct rrun *x)
{
	x->target = mk_chat("ai", 0);
	path_f(x, "/conversations/%lld/close", (long long)x->target);
}

static void
p_user_create(struct rrun *x)
{
	char	 email[64];

	snprintf(email, sizeof(email), "invited-%d@example.com", next());
	path_f(x, "/settings/users");
	field(x, "email", email);
	field(x, "role", "member");
	snprintf(x->target_sql, sizeof(x->target_sql), "SELECT id FROM users "
	    "WHERE email = '%s'", email);
}

static void
p_user_role(struct rrun *x)
{
	x->target = mk_user();
	path_f(x, "/settings/users/%lld/role", (long long)x->target);
	field(x, "role", "admin");
}

static void
p_user_deactivate(struct rrun *x)
{
	x->target = mk_user();
	path_f(x, "/settings/users/%lld/deactivate", (long long)x->target);
}

static void
p_user_reactivate(struct rrun *x)
{
	x->target = mk_user();
	(void)sqli("UPDATE users SET is_active = false WHERE id = %lld "
	    "RETURNING id", (long long)x->target);
	path_f(x, "/settings/users/%lld/reactivate", (long long)x->target);
}

static void
p_user_reset_password(struct rrun *x)
{
	x->target = mk_user();
	path_f(x, "/settings/users/%lld/reset-password", (long long)x->target);
}

static void
p_channel_create(struct rrun *x)
{
	char	 name[32], number[32];
	int	 n = next();

	snprintf(name, sizeof(name), "Panel line %d", n);
	snprintf(number, sizeof(number), "+1555040%04d", n);
	path_f(x, "/channels");
	field(x, "kind", "twilio");
	field(x, "name", name);
	field(x, "environment", "production");
	field(x, "phone_number", number);
	field(x, "twilio_account_sid", RT_SID);
	field(x, "twilio_auth_token", RT_TOKEN);
	snprintf(x->target_sql, sizeof(x->target_sql), "SELECT id FROM "
	    "channels WHERE name = '%s'", name);
}

static void
p_channel_update(struct rrun *x)
{
	char	*number;

	x->target = mk_channel();
	number = sqls("SELECT phone_number FROM channels WHERE id = %lld",
	    (long long)x->target);
	path_f(x, "/channels/%lld", (long long)x->target);
	field(x, "name", "Renamed line");
	field(x, "environment", "production");
	field(x, "status", "disabled");
	field(x, "phone_number", number);
	free(number);
}

static void
p_channel_delete(struct rrun *x)
{
	x->target = mk_channel();
	path_f(x, "/channels/%lld/delete", (long long)x->target);
	field(x, "confirm", "yes");
}

static void
p_job_retry(struct rrun *x)
{
	x->target = sqli("INSERT INTO jobs (org_id, kind, status, attempts,"
	    " last_error) VALUES (%lld, 'audit.test', 'dead', 5, 'gave up')"
	    " RETURNING id", (long long)org_id);
	path_f(x, "/jobs/%lld/retry", (long long)x->target);
}

/* A dead reply job whose answer's one part the provider refused. */
static void
p_job_resend(struct rrun *x)
{
	int64_t	 chat = mk_chat("ai", 0), in;

	in = sqli("INSERT INTO messages (org_id, channel_id, chat_id,"
	    " direction, body, status) VALUES (%lld, %lld, %lld, 'in',"
	    " 'Hello?', 'received') RETURNING id", (long long)org_id,
	    (long long)sandbox_id, (long long)chat);
	(void)sqli("INSERT INTO messages (org_id, channel_id, chat_id,"
	    " direction, body, status, error_text, reply_to_id, part_no)"
	    " VALUES (%lld, %lld, %lld, 'out', 'Hi there.', 'failed',"
	    " 'refused', %lld, 0) RETURNING id", (long long)org_id,
	    (long long)sandbox_id, (long long)chat, (long long)in);
	x->target = sqli("INSERT INTO jobs (org_id, kind, payload, status,"
	    " attempts, last_error) VALUES (%lld, 'reply',"
	    " jsonb_build_object('message_id', %lld), 'dead', 5, 'gave up')"
	    " RETURNING id", (long long)org_id, (long long)in);
	path_f(x, "/jobs/%lld/resend", (long long)x->target);
}

static void
a_provider_create(struct rrun *x)
{
	int	 n = next();

	path_f(x, "/api/v1/providers");
	snprintf(x->body, sizeof(x->body), "{\"name\":\"Api provider %d\","
	    "\"baseUrl\":\"" DEAD_BASE "\",\"apiKey\":\"" RT_KEY "\"}", n);
	snprintf(x->target_sql, sizeof(x->target_sql), "SELECT id FROM "
	    "llm_providers WHERE name = 'Api provider %d'", n);
}

static void
a_provider_update(struct rrun *x)
{
	x->target = mk_provider();
	path_f(x, "/api/v1/providers/%lld", (long long)x->target);
	snprintf(x->body, sizeof(x->body), "{\"name\":\"Renamed by API %d\"}",
	    next());
}

static void
a_provider_delete(struct rrun *x)
{
	x->target = mk_provider();
	path_f(x, "/api/v1/providers/%lld", (long long)x->target);
}

static void
a_model_create(struct rrun *x)
{
	int64_t	 p = mk_provider();
	int	 n = next();

	path_f(x, "/api/v1/models");
	snprintf(x->body, sizeof(x->body), "{\"providerId\":%lld,\"name\":"
	    "\"api-model-%d\"}", (long long)p, n);
	snprintf(x->target_sql, sizeof(x->target_sql), "SELECT id FROM "
	    "org_models WHERE name = 'api-model-%d'", n);
}

static void
a_model_update(struct rrun *x)
{
	x->target = mk_model();
	path_f(x, "/api/v1/models/%lld", (long long)x->target);
	snprintf(x->body, sizeof(x->body), "{\"displayName\":\"Renamed\"}");
}

static void
a_model_delete(struct rrun *x)
{
	x->target = mk_model();
	path_f(x, "/api/v1/models/%lld", (long long)x->target);
}

static void
a_agent_create(struct rrun *x)
{
	int	 n = next();

	path_f(x, "/api/v1/agents");
	snprintf(x->body, sizeof(x->body), "{\"name\":\"Api agent %d\","
	    "\"slug\":\"api-agent-%d\"}", n, n);
	snprintf(x->target_sql, sizeof(x->target_sql), "SELECT id FROM agents "
	    "WHERE slug = 'api-agent-%d'", n);
}

static void
a_agent_update(struct rrun *x)
{
	x->target = mk_agent();
	path_f(x, "/api/v1/agents/%lld", (long long)x->target);
	snprintf(x->body, sizeof(x->body), "{\"name\":\"Renamed %d\"}",
	    next());
}

static void
a_agent_delete(struct rrun *x)
{
	x->target = mk_agent();
	path_f(x, "/api/v1/agents/%lld", (long long)x->target);
}

static void
a_agent_plugins(struct rrun *x)
{
	x->target = mk_agent();
	path_f(x, "/api/v1/agents/%lld/plugins", (long long)x->target);
	snprintf(x->body, sizeof(x->body), "{\"enabledPluginIds\":"
	    "[\"time.now\"]}");
}

static void
a_knowledge_create(struct rrun *x)
{
	int64_t	 agent = mk_agent();
	int	 n = next();

	path_f(x, "/api/v1/agents/%lld/knowledge", (long long)agent);
	snprintf(x->body, sizeof(x->body), "{\"title\":\"Api entry %d\","
	    "\"body\":\"Closed on Sundays.\"}", n);
	snprintf(x->target_sql, sizeof(x->target_sql), "SELECT id FROM "
	    "knowledge_entries WHERE title = 'Api entry %d'", n);
}

static void
a_knowledge_update(struct rrun *x)
{
	int64_t	 agent = mk_agent();

	x->target = mk_knowledge(agent);
	path_f(x, "/api/v1/agents/%lld/knowledge/%lld", (long long)agent,
	    (long long)x->target);
	snprintf(x->body, sizeof(x->body), "{\"title\":\"Edited by API\"}");
}

static void
a_knowledge_delete(struct rrun *x)
{
	int64_t	 agent = mk_agent();

	x->target = mk_knowledge(agent);
	path_f(x, "/api/v1/agents/%lld/knowledge/%lld", (long long)agent,
	    (long long)x->target);
}

static void
a_connect_code(struct rrun *x)
{
	x->target = mk_agent();
	path_f(x, "/api/v1/agents/%lld/connect-codes", (long long)x->target);
	snprintf(x->body, sizeof(x->body), "{\"channelId\":%lld}",
	    (long long)mk_channel());
}

static void
a_channel_create(struct rrun *x)
{
	int	 n = next();

	path_f(x, "/api/v1/channels");
	snprintf(x->body, sizeof(x->body), "{\"kind\":\"twilio\",\"name\":"
	    "\"Api line %d\",\"phoneNumber\":\"+1555050%04d\","
	    "\"twilioAccountSid\":\"" RT_SID "\",\"twilioAuthToken\":\""
	    RT_TOKEN "\"}", n, n);
	snprintf(x->target_sql, sizeof(x->target_sql), "SELECT id FROM "
	    "channels WHERE name = 'Api line %d'", n);
}

static void
a_channel_update(struct rrun *x)
{
	x->target = mk_channel();
	path_f(x, "/api/v1/channels/%lld", (long long)x->target);
	snprintf(x->body, sizeof(x->body), "{\"status\":\"disabled\","
	    "\"environment\":\"production\"}");
}

static void
a_channel_delete(struct rrun *x)
{
	x->target = mk_channel();
	path_f(x, "/api/v1/channels/%lld", (long long)x->target);
}

static void
a_app_create(struct rrun *x)
{
	path_f(x, "/api/v1/whatsapp-app");
	snprintf(x->body, sizeof(x->body), "{\"twilioNumber\":"
	    "\"+15550609999\",\"twilioAccountSid\":\"" RT_SID "\","
	    "\"twilioAuthToken\":\"" RT_TOKEN "\",\"systemPrompt\":\"You "
	    "answer for the bakery.\"}");
	snprintf(x->target_sql, sizeof(x->target_sql), "SELECT id FROM "
	    "channels WHERE org_id = %lld AND name = 'WhatsApp app'",
	    (long long)org_id);
}

static void
a_app_update(struct rrun *x)
{
	struct hresp	 r;

	if (sqli("SELECT count(*) FROM channels WHERE org_id = %lld AND "
	    "name = 'WhatsApp app'", (long long)org_id) == 0) {
		a_app_create(x);
		hapi(srv.base, token, "POST", x->path, x->body, &r);
		ck_assert_msg(r.status == 201, "set-up app: %ld", r.status);
		hresp_free(&r);
		memset(x, 0, sizeof(*x));
	}
	x->target = sqli("SELECT id FROM channels WHERE org_id = %lld AND "
	    "name = 'WhatsApp app'", (long long)org_id);
	path_f(x, "/api/v1/whatsapp-app");
	snprintf(x->body, sizeof(x->body), "{\"systemPrompt\":\"Be "
	    "brief.\"}");
}

static void
a_org_update(struct rrun *x)
{
	x->target = org_id;
	path_f(x, "/api/v1/organization");
	snprintf(x->body, sizeof(x->body), "{\"mediaRetentionDays\":90}");
}

static void
p_mcp_create(struct rrun *x)
{
	char	 name[32], url[96];

	snprintf(name, sizeof(name), "Panel tools %d", next());
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/bearer/mcp", mcp.port);
	path_f(x, "/plugins/mcp");
	field(x, "name", name);
	field(x, "url", url);
	field(x, "auth", "bearer");
	field(x, "secret", RT_TOKEN);
	snprintf(x->target_sql, sizeof(x->target_sql), "SELECT id FROM "
	    "mcp_servers WHERE name = '%s'", name);
}

static void
p_mcp_update(struct rrun *x)
{
	char	 url[96];

	x->target = mk_mcp("stateless", "none");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/stateless/mcp",
	    mcp.port);
	path_f(x, "/plugins/mcp/%lld", (long long)x->target);
	field(x, "name", "Renamed tools");
	field(x, "url", url);
	field(x, "auth", "none");
}

static void
p_mcp_delete(struct rrun *x)
{
	x->target = mk_mcp("stateless", "none");
	path_f(x, "/plugins/mcp/%lld/delete", (long long)x->target);
	field(x, "confirm", "yes");
}

static void
p_mcp_test(struct rrun *x)
{
	x->target = mk_mcp("stateless", "none");
	path_f(x, "/plugins/mcp/%lld/test", (long long)x->target);
}

static void
p_mcp_authorize(struct rrun *x)
{
	x->target = mk_mcp("code", "oauth_code");
	path_f(x, "/plugins/mcp/%lld/authorize", (long long)x->target);
}

static void
p_mcp_disconnect(struct rrun *x)
{
	x->target = mk_mcp("code", "oauth_code");
	path_f(x, "/plugins/mcp/%lld/disconnect", (long long)x->target);
}

static void
p_agent_mcp(struct rrun *x)
{
	int64_t	 sid = mk_mcp("stateless", "none");

	x->target = mk_agent();
	path_f(x, "/agents/%lld/mcp/%lld", (long long)x->target,
	    (long long)sid);
	field(x, "enabled", "1");
	field(x, "filter", "all");
}

static void
a_mcp_create(struct rrun *x)
{
	int	 n = next();

	path_f(x, "/api/v1/mcp-servers");
	snprintf(x->body, sizeof(x->body), "{\"name\":\"Api tools %d\","
	    "\"url\":\"http://127.0.0.1:%d/bearer/mcp\",\"auth\":\"bearer\","
	    "\"secret\":\"" RT_TOKEN "\"}", n, mcp.port);
	snprintf(x->target_sql, sizeof(x->target_sql), "SELECT id FROM "
	    "mcp_servers WHERE name = 'Api tools %d'", n);
}

static void
a_mcp_update(struct rrun *x)
{
	x->target = mk_mcp("stateless", "none");
	path_f(x, "/api/v1/mcp-servers/%lld", (long long)x->target);
	snprintf(x->body, sizeof(x->body), "{\"name\":\"Renamed by API "
	    "%d\"}", next());
}

static void
a_mcp_delete(struct rrun *x)
{
	x->target = mk_mcp("stateless", "none");
	path_f(x, "/api/v1/mcp-servers/%lld", (long long)x->target);
}

static void
a_mcp_test(struct rrun *x)
{
	x->target = mk_mcp("stateless", "none");
	path_f(x, "/api/v1/mcp-servers/%lld/test", (long long)x->target);
}

#define RT_SHARED	"rt-canary-shared-key-secret-0123456789"

/* A Twilio channel with one shared key "SK-<n>"; the key id in key. */
static int64_t
mk_channel_key(char *key, size_t keylen)
{
	char	 path[96];
	int64_t	 ch = mk_channel();

	snprintf(key, keylen, "SK-%d", next());
	snprintf(path, sizeof(path), "/api/v1/channels/%lld/twilio-shared-keys",
	    (long long)ch);
	(void)api_create(path, "{\"keyId\":\"%s\",\"secret\":\"" RT_SHARED
	    "\"}", key);
	return ch;
}

static void
p_shared_key_add(struct rrun *x)
{
	x->target = mk_channel();
	path_f(x, "/channels/%lld/shared-keys", (long long)x->target);
	field(x, "twilio_shared_key_id", "SK-panel");
	field(x, "twilio_shared_key_secret", RT_SHARED);
}

static void
p_shared_key_remove(struct rrun *x)
{
	char	 key[32];

	x->target = mk_channel_key(key, sizeof(key));
	path_f(x, "/channels/%lld/shared-keys/remove", (long long)x->target);
	field(x, "key_id", key);
	field(x, "confirm", "yes");
}

static void
a_shared_key_add(struct rrun *x)
{
	x->target = mk_channel();
	path_f(x, "/api/v1/channels/%lld/twilio-shared-keys",
	    (long long)x->target);
	snprintf(x->body, sizeof(x->body), "{\"keyId\":\"SK-api\","
	    "\"secret\":\"" RT_SHARED "\"}");
}

static void
a_shared_key_remove(struct rrun *x)
{
	char	 key[32];

	x->target = mk_channel_key(key, sizeof(key));
	path_f(x, "/api/v1/channels/%lld/twilio-shared-keys/%s",
	    (long long)x->target, key);
}

/* --- the cases ----------------------------------------------------------- */

static const struct rcase cases[] = {
	{ "POST", "/login", SESSION, NULL, NULL, NULL,
	    "signing in; login.success/failure are panel/auth.c's" },
	{ "POST", "/logout", SESSION, NULL, NULL, NULL, "signing out" },
	{ "POST", "/settings/password", ADMIN, "user.password_changed",
	    "user", p_password, NULL },
	{ "POST", "/settings/providers", ADMIN, "provider.created",
	    "provider", p_provider_create, NULL },
	{ "POST", "/settings/providers/{id}", ADMIN, "provider.renamed",
	    "provider", p_provider_update, NULL },
	{ "POST", "/settings/providers/{id}/delete", ADMIN,
	    "provider.deleted", "provider", p_provider_delete, NULL },
	{ "POST", "/settings/providers/{id}/test", ADMIN, "provider.tested",
	    "provider", p_provider_test, NULL },
	{ "POST", "/settings/models", ADMIN, "model.created", "model",
	    p_model_create, NULL },
	{ "POST", "/settings/models/{id}", ADMIN, "model.updated", "model",
	    p_model_update, NULL },
	{ "POST", "/settings/models/{id}/delete", ADMIN, "model.deleted",
	    "model", p_model_delete, NULL },
	{ "POST", "/settings/models/{id}/default", ADMIN, "model.default_set",
	    "model", p_model_default, NULL },
	{ "POST", "/settings/tokens", ADMIN, "token.created", "api_token",
	    p_token_create, NULL },
	{ "POST", "/settings/tokens/{id}/revoke", ADMIN, "token.revoked",
	    "api_token", p_token_revoke, NULL },
	{ "POST", "/agents", ADMIN, "agent.created", "agent", p_agent_create,
	    NULL },
	{ "POST", "/agents/{id}", ADMIN, "agent.updated", "agent",
	    p_agent_update, NULL },
	{ "POST", "/agents/{id}/delete", ADMIN, "agent.deleted", "agent",
	    p_agent_delete, NULL },
	{ "POST", "/agents/{id}/plugins", ADMIN, "plugin.toggled", "agent",
	    p_agent_plugins, NULL },
	{ "POST", "/agents/{id}/try", NO_CHANGE, NULL, NULL, p_agent_try,
	    "a 303 to the sandbox chat, nothing else" },
	{ "POST", "/agents/{id}/knowledge", ADMIN, "knowledge.created",
	    "knowledge", p_knowledge_create, NULL },
	{ "POST", "/agents/{id}/knowledge/{kid}", ADMIN, "knowledge.updated",
	    "knowledge", p_knowledge_update, NULL },
	{ "POST", "/agents/{id}/knowledge/{kid}/delete", ADMIN,
	    "knowledge.deleted", "knowledge", p_knowledge_delete, NULL },
	{ "POST", "/agents/{id}/sandbox", USAGE, NULL, NULL, NULL,
	    "chatting with the agent as a test contact: the sandbox chat "
	    "and llm_calls record it" },
	{ "POST", "/agents/{id}/connect-codes", ADMIN, "connect.code_created",
	    "agent", p_connect_code, NULL },
	{ "POST", "/agents/{id}/chats/{chat}/unlink", ADMIN, "chat.unlinked",
	    "chat", p_unlink, NULL },
	{ "POST", "/settings/organization", ADMIN, "org.settings_changed",
	    "org", p_org_settings, NULL },
	{ "POST", "/conversations/{id}/messages/{mid}/resend", ADMIN,
	    "message.resent", "message", p_resend, NULL },
	{ "POST", "/conversations/{id}/claim", ADMIN, "handoff.claimed",
	    "chat", p_claim, NULL },
	{ "POST", "/conversations/{id}/reply", ADMIN, "handoff.replied",
	    "chat", p_reply, NULL },
	{ "POST", "/conversations/{id}/return", ADMIN, "handoff.returned",
	    "chat", p_return, NULL },
	{ "POST", "/conversations/{id}/close", ADMIN, "handoff.closed",
	    "chat", p_close, NULL },
	{ "POST", "/settings/users", ADMIN, "user.created", "user",
	    p_user_create, NULL },
	{ "POST", "/settings/users/{id}/role", ADMIN, "user.role_changed",
	    "user", p_user_role, NULL },
	{ "POST", "/settings/users/{id}/deactivate", ADMIN,
	    "user.deactivated", "user", p_user_deactivate, NULL },
	{ "POST", "/settings/users/{id}/reactivate", ADMIN,
	    "user.reactivated", "user", p_user_reactivate, NULL },
	{ "POST", "/settings/users/{id}/reset-password", ADMIN,
	    "user.password_reset", "user", p_user_reset_password, NULL },
	{ "POST", "/channels", ADMIN, "channel.created", "channel",
	    p_channel_create, NULL },
	{ "POST", "/channels/{id}", ADMIN, "channel.updated", "channel",
	    p_channel_update, NULL },
	{ "POST", "/channels/{id}/delete", ADMIN, "channel.deleted",
	    "channel", p_channel_delete, NULL },
	{ "POST", "/channels/{id}/shared-keys", ADMIN,
	    "channel.shared_key_added", "channel", p_shared_key_add, NULL },
	{ "POST", "/channels/{id}/shared-keys/remove", ADMIN,
	    "channel.shared_key_removed", "channel", p_shared_key_remove, NULL },
	{ "POST", "/api/v1/channels/{id}/twilio-shared-keys", ADMIN,
	    "channel.shared_key_added", "channel", a_shared_key_add, NULL },
	{ "DELETE", "/api/v1/channels/{id}/twilio-shared-keys/{key}", ADMIN,
	    "channel.shared_key_removed", "channel", a_shared_key_remove, NULL },
	{ "POST", "/jobs/{id}/resend", ADMIN, "job.resent", "job",
	    p_job_resend, NULL },
	{ "POST", "/jobs/{id}/retry", ADMIN, "job.retried", "job",
	    p_job_retry, NULL },
	{ "POST", "/api/v1/providers", ADMIN, "provider.created", "provider",
	    a_provider_create, NULL },
	{ "PATCH", "/api/v1/providers/{id}", ADMIN, "provider.renamed",
	    "provider", a_provider_update, NULL },
	{ "DELETE", "/api/v1/providers/{id}", ADMIN, "provider.deleted",
	    "provider", a_provider_delete, NULL },
	{ "POST", "/api/v1/models", ADMIN, "model.created", "model",
	    a_model_create, NULL },
	{ "PATCH", "/api/v1/models/{id}", ADMIN, "model.updated", "model",
	    a_model_update, NULL },
	{ "DELETE", "/api/v1/models/{id}", ADMIN, "model.deleted", "model",
	    a_model_delete, NULL },
	{ "POST", "/api/v1/agents", ADMIN, "agent.created", "agent",
	    a_agent_create, NULL },
	{ "PATCH", "/api/v1/agents/{id}", ADMIN, "agent.updated", "agent",
	    a_agent_update, NULL },
	{ "DELETE", "/api/v1/agents/{id}", ADMIN, "agent.deleted", "agent",
	    a_agent_delete, NULL },
	{ "PUT", "/api/v1/agents/{id}/plugins", ADMIN, "plugin.toggled",
	    "agent", a_agent_plugins, NULL },
	{ "POST", "/api/v1/agents/{id}/knowledge", ADMIN, "knowledge.created",
	    "knowledge", a_knowledge_create, NULL },
	{ "PATCH", "/api/v1/agents/{id}/knowledge/{kid}", ADMIN,
	    "knowledge.updated", "knowledge", a_knowledge_update, NULL },
	{ "DELETE", "/api/v1/agents/{id}/knowledge/{kid}", ADMIN,
	    "knowledge.deleted", "knowledge", a_knowledge_delete, NULL },
	{ "POST", "/api/v1/agents/{id}/connect-codes", ADMIN,
	    "connect.code_created", "agent", a_connect_code, NULL },
	{ "POST", "/api/v1/channels", ADMIN, "channel.created", "channel",
	    a_channel_create, NULL },
	{ "PATCH", "/api/v1/channels/{id}", ADMIN, "channel.updated",
	    "channel", a_channel_update, NULL },
	{ "DELETE", "/api/v1/channels/{id}", ADMIN, "channel.deleted",
	    "channel", a_channel_delete, NULL },
	{ "POST", "/api/v1/whatsapp-app", ADMIN, "whatsapp_app.created",
	    "channel", a_app_create, NULL },
	{ "PATCH", "/api/v1/whatsapp-app", ADMIN, "whatsapp_app.updated",
	    "channel", a_app_update, NULL },
	{ "PATCH", "/api/v1/organization", ADMIN, "org.settings_changed",
	    "org", a_org_update, NULL },
	{ "POST", "/plugins/mcp", ADMIN, "mcp_server.created", "mcp_server",
	    p_mcp_create, NULL },
	{ "POST", "/plugins/mcp/{id}", ADMIN, "mcp_server.updated",
	    "mcp_server", p_mcp_update, NULL },
	{ "POST", "/plugins/mcp/{id}/delete", ADMIN, "mcp_server.deleted",
	    "mcp_server", p_mcp_delete, NULL },
	{ "POST", "/plugins/mcp/{id}/test", ADMIN, "mcp_server.tested",
	    "mcp_server", p_mcp_test, NULL },
	{ "POST", "/plugins/mcp/{id}/authorize", ADMIN,
	    "mcp_server.oauth_started", "mcp_server", p_mcp_authorize, NULL },
	{ "POST", "/plugins/mcp/{id}/disconnect", ADMIN,
	    "mcp_server.disconnected", "mcp_server", p_mcp_disconnect, NULL },
	{ "POST", "/agents/{id}/mcp/{sid}", ADMIN, "plugin.toggled", "agent",
	    p_agent_mcp, NULL },
	{ "POST", "/api/v1/mcp-servers", ADMIN, "mcp_server.created",
	    "mcp_server", a_mcp_create, NULL },
	{ "PATCH", "/api/v1/mcp-servers/{id}", ADMIN, "mcp_server.updated",
	    "mcp_server", a_mcp_update, NULL },
	{ "DELETE", "/api/v1/mcp-servers/{id}", ADMIN, "mcp_server.deleted",
	    "mcp_server", a_mcp_delete, NULL },
	{ "POST", "/api/v1/mcp-servers/{id}/test", ADMIN, "mcp_server.tested",
	    "mcp_server", a_mcp_test, NULL },
	{ "POST", "/v1/chat/completions", USAGE, NULL, NULL, NULL,
	    "the OpenAI-compatible gateway: each call is recorded in "
	    "llm_calls; the token that makes it is audited when created "
	    "and revoked" },
};

/* --- the walk ------------------------------------------------------------ */

static const struct rcase *
case_for(const struct route *rt)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (strcmp(cases[i].method, rt->method) == 0 &&
		    strcmp(cases[i].pattern, rt->pattern) == 0)
			return &cases[i];
	return NULL;
}

/* A provider's delivery: signed by the provider, no session, no token. */
static bool
is_webhook(const struct route *rt)
{
	return strncmp(rt->pattern, "/webhooks/", 10) == 0 &&
	    (rt->flags & R_RAW) != 0 &&
	    (rt->flags & (R_SESSION | R_BEARER | R_SESSION_OPT)) == 0;
}

/* Runs one case and checks the entry it must (or must not) leave. */
static void
perform(const struct route *rt, const struct rcase *k)
{
	struct rrun	 x;
	struct client	 c;
	struct hresp	 r;
	const char	*actor;
	int64_t		 mark, target, found, user;
	char		*d;
	bool		 is_api = (rt->flags & R_BEARER) != 0;

	memset(&x, 0, sizeof(x));
	k->prepare(&x);
	if (!is_api)
		hlogin(&c, srv.base, x.email != NULL ? x.email : OWNER_EMAIL,
		    x.pw != NULL ? x.pw : OWNER_PW);
	mark = sqli("SELECT coalesce(max(id), 0) FROM audit_log");
	if (is_api)
		hapi(srv.base, token, rt->method, x.path, x.body[0] != '\0' ?
		    x.body : NULL, &r);
	else
		hpost_form(&c, "/settings", x.path, x.body, &r);
	ck_assert_msg(r.status < 400, "%s %s (%s): the valid input was "
	    "refused: %ld %.300s", rt->method, rt->pattern, x.path, r.status,
	    r.body);
	hresp_free(&r);

	if (k->kind == NO_CHANGE) {
		ck_assert_msg(sqli("SELECT count(*) FROM audit_log WHERE id > "
		    "%lld AND org_id = %lld", (long long)mark,
		    (long long)org_id) == 0, "%s %s changes nothing, yet "
		    "wrote an audit entry", rt->method, rt->pattern);
		return;
	}
	target = x.target;
	if (target == 0 && x.target_sql[0] != '\0')
		target = sqli("%s", x.target_sql);
	ck_assert_msg(target > 0, "%s %s: no target found", rt->method,
	    rt->pattern);
	actor = is_api ? token_actor : x.email != NULL ? x.email :
	    OWNER_EMAIL;
	user = is_api ? 0 : sqli("SELECT id FROM users WHERE email = '%s'",
	    actor);
	found = sqli("SELECT count(*) FROM audit_log WHERE id > %lld AND "
	    "org_id = %lld AND ('%s' = '' OR action = '%s') AND actor = '%s' "
	    "AND coalesce(user_id, 0) = %lld AND target_type = '%s' AND "
	    "target_id = %lld", (long long)mark, (long long)org_id,
	    k->action != NULL ? k->action : "", k->action != NULL ? k->action :
	    "", actor, (long long)user, k->target_type, (long long)target);
	if (found == 0) {
		d = sqls("SELECT coalesce(string_agg(action || ' ' || actor || "
		    "' ' || coalesce(target_type, '-') || '#' || "
		    "coalesce(target_id, 0), '; '), 'none') FROM audit_log "
		    "WHERE id > %lld", (long long)mark);
		ck_abort_msg("%s %s (%s) wrote no audit entry %s by %s on %s "
		    "#%lld; new entries: %s", rt->method, rt->pattern, x.path,
		    k->action != NULL ? k->action : "(any)", actor,
		    k->target_type, (long long)target, d);
	}
	for (int i = 0; canaries[i] != NULL; i++)
		ck_assert_msg(sqli("SELECT count(*) FROM audit_log WHERE id > "
		    "%lld AND (detail LIKE '%%%s%%' OR actor LIKE '%%%s%%')",
		    (long long)mark, canaries[i], canaries[i]) == 0,
		    "%s %s: a secret in the audit log", rt->method,
		    rt->pattern);
}

START_TEST(t_every_state_changing_route_is_audited)
{
	const struct rcase	*k;
	int			 performed = 0, exempt = 0, webhooks = 0;

	for (int i = 0; i < app_n_routes; i++) {
		const struct route	*rt = &app_routes[i];

		if (strcmp(rt->method, "GET") == 0)
			continue;
		if (is_webhook(rt)) {
			webhooks++;
			continue;
		}
		k = case_for(rt);
		ck_assert_msg(k != NULL, "%s %s changes state but has no case "
		    "in tests/integration/audit_routes.c: add its valid input "
		    "and the audit entry it must write (or its exemption and "
		    "why)", rt->method, rt->pattern);
		if (k->kind == USAGE || k->kind == SESSION) {
			ck_assert(k->why != NULL);
			exempt++;
			continue;
		}
		perform(rt, k);
		performed++;
	}
	fprintf(stderr, "audit_routes: %d routes performed, %d exempt, %d "
	    "webhooks\n", performed, exempt, webhooks);
	ck_assert_int_gt(performed, 40);
}
END_TEST

/* Every case still names a route: none is left behind by a rename. */
START_TEST(t_no_stale_cases)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool	 found = false;

		for (int j = 0; j < app_n_routes && !found; j++)
			found = strcmp(cases[i].method, app_routes[j].method) ==
			    0 && strcmp(cases[i].pattern,
			    app_routes[j].pattern) == 0;
		ck_assert_msg(found, "case %s %s names no route any more",
		    cases[i].method, cases[i].pattern);
		ck_assert_msg(cases[i].kind != ADMIN || (cases[i].prepare != NULL &&
		    cases[i].target_type != NULL), "case %s %s has no input",
		    cases[i].method, cases[i].pattern);
	}
}
END_TEST

static Suite *
audit_routes_suite(void)
{
	Suite	*s = suite_create("audit_routes");
	TCase	*tc = tcase_create("audit_routes");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, t_no_stale_cases);
	tcase_add_test(tc, t_every_state_changing_route_is_audited);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int	 failed = hrun_suites(audit_routes_suite(), NULL);

	teardown();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
