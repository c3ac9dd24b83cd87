/*
 * accounts: issue 10's account defects, each against the real binary over
 * real HTTP and a throwaway PostgreSQL cluster:
 *
 *   tokens    an API token acts for its user: deactivating the user,
 *             removing them from the organisation or lowering their role
 *             takes effect on the very next request (defect 2), and the
 *             route table drives a check that every authenticated route
 *             refuses a deactivated user's session and token;
 *   throttle  40 concurrent wrong passwords cost at most 5 password checks,
 *             and PARLEY_TRUSTED_PROXIES decides when X-Forwarded-For is
 *             the client's address (defect 6);
 *   recovery  one-time passwords, an owner's reset and reactivation on the
 *             Users page, `parley user reset-password`, the generated
 *             first owner's password, the audit of it all (defect 10);
 *   cli       `parley` alone, unknown commands, `serve --help`, and
 *             `parley key rotate` refusing while a server holds the
 *             database, a wrong master key saying so (defect 10).
 *
 * Each suite has its own cluster and server (CK_NOFORK; tests in a suite
 * run in order and share them). The last test of each stops the server
 * and checks it exits 0 with no sanitizer report.
 */
#include "harness/panel.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "app/app.h"
#include "http/router.h"
#include "util/xmalloc.h"

#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define OWNER_ORG	"My Organization"
#define USER_PW		"accounts-password-1"
#define NEW_PW		"accounts-new-password-2"
#define FORM_MAX	8192
#define RACE_N		40
#define RACE_LIMIT	5

#define sqli(...)	hpg_sqlf_int(&cur->pg, __VA_ARGS__)

struct fixture {
	const char	*name;
	const char	**env;
	struct hpg	 pg;
	struct hserver	 srv;
};

static void	 fixture_up(struct fixture *);
static void	 fixture_down(struct fixture *);
static void	 tokens_setup(void);
static void	 tokens_teardown(void);
static void	 throttle_setup(void);
static void	 throttle_teardown(void);
static void	 recovery_setup(void);
static void	 recovery_teardown(void);
static void	 cli_setup(void);
static void	 cli_teardown(void);
static int64_t	 user_id(const char *);
static void	 api_want_code(const char *, const char *, const char *, long,
		    const char *);
static void	 login_form(struct client *, const char *, const char *,
		    const char **, struct hresp *);
static void	 change_password(struct client *, const char *, const char *,
		    long);
static void	 assert_to_login(const struct hresp *, const char *);
static void	 body_has(const struct hresp *, const char *, bool,
		    const char *);
static void	 assert_location(const struct hresp *, const char *,
		    const char *);
static char	*route_path(const char *);
static void	*race_login(void *);
static char	*log_value(const char *, const char *);
static void	 copy_file(const char *, const char *);
static char	*read_file(const char *);
static Suite	*tokens_suite(void);
static Suite	*throttle_suite(void);
static Suite	*recovery_suite(void);
static Suite	*cli_suite(void);

static const char	*env_tokens[] = { "PARLEY_LOGIN_MAX_FAILURES=50", NULL };
static const char	*env_throttle[] = { "PARLEY_LOGIN_MAX_FAILURES=5",
			    "PARLEY_LOGIN_WINDOW_MINUTES=15",
			    "PARLEY_HTTP_THREADS=64",
			    "PARLEY_TRUSTED_PROXIES=127.0.0.8/32, ::1/128,"
			    " 127.0.0.16/30", NULL };
static const char	*env_recovery[] = { "PARLEY_LOGIN_MAX_FAILURES=50",
			    NULL };

static struct fixture	 fx_tokens = { .name = "accounts-tokens",
			    .env = env_tokens };
static struct fixture	 fx_throttle = { .name = "accounts-throttle",
			    .env = env_throttle };
static struct fixture	 fx_recovery = { .name = "accounts-recovery",
			    .env = env_recovery };
static struct fixture	 fx_cli = { .name = "accounts-cli", .env = NULL };
static struct fixture	*cur;

/* --- fixtures and helpers ---------------------------------------------- */

static void
fixture_up(struct fixture *fx)
{
	cur = fx;
	hpg_start(&fx->pg);
	hserver_start(&fx->srv, &fx->pg, fx->env);
}

static void
fixture_down(struct fixture *fx)
{
	if (fx->srv.pid > 0)
		(void)hserver_stop(&fx->srv);
	hpg_finish(&fx->pg, fx->name);
}

static void tokens_setup(void) { fixture_up(&fx_tokens); }
static void tokens_teardown(void) { fixture_down(&fx_tokens); }
static void throttle_setup(void) { fixture_up(&fx_throttle); }
static void throttle_teardown(void) { fixture_down(&fx_throttle); }
static void recovery_setup(void) { fixture_up(&fx_recovery); }
static void recovery_teardown(void) { fixture_down(&fx_recovery); }
static void cli_setup(void) { fixture_up(&fx_cli); }
static void cli_teardown(void) { fixture_down(&fx_cli); }

static int64_t
user_id(const char *email)
{
	int64_t	 id = sqli("SELECT id FROM users WHERE email = '%s'", email);

	ck_assert_msg(id > 0, "no user %s", email);
	return id;
}

/* An API request that must answer want with error code `code` (or any
 * body when code is NULL). */
static void
api_want_code(const char *tok, const char *method, const char *path,
    long want, const char *code)
{
	struct hresp	 r;
	cJSON		*b, *err;

	hapi(cur->srv.base, tok, method, path,
	    strcmp(method, "GET") == 0 ? NULL : "{}", &r);
	ck_assert_msg(r.status == want, "%s %s: want %ld, got %ld: %.1000s",
	    method, path, want, r.status, r.body);
	if (code != NULL) {
		b = hresp_json(&r);
		err = cJSON_GetObjectItem(b, "error");
		ck_assert_msg(strcmp(hjstr(err, "code"), code) == 0,
		    "%s %s: want error code %s: %s", method, path, code,
		    r.body);
		ck_assert_msg(strlen(hjstr(err, "message")) > 20,
		    "%s %s: no sentence: %s", method, path, r.body);
		cJSON_Delete(b);
	}
	hresp_free(&r);
}

/* POST /login (with a fresh pre-session CSRF token) and extra headers. */
static void
login_form(struct client *c, const char *email, const char *pw,
    const char **headers, struct hresp *r)
{
	struct hresp	 g;
	char		 f[FORM_MAX] = "";
	char		*csrf;

	client_req(c, "GET", "/login", NULL, NULL, headers, &g);
	ck_assert_int_eq(g.status, 200);
	csrf = html_csrf(g.body);
	ck_assert(csrf != NULL);
	hresp_free(&g);
	form_add(f, sizeof(f), "_csrf", csrf);
	form_add(f, sizeof(f), "email", email);
	form_add(f, sizeof(f), "password", pw);
	free(csrf);
	hreq(c, "POST", "/login", f, NULL, headers, r);
}

/* POST /settings/password: current → fresh; want is the status. */
static void
change_password(struct client *c, const char *current, const char *fresh,
    long want)
{
	struct hresp	 r;
	char		 f[FORM_MAX] = "";

	form_add(f, sizeof(f), "current_password", current);
	form_add(f, sizeof(f), "new_password", fresh);
	form_add(f, sizeof(f), "confirm_password", fresh);
	hpost_form(c, "/settings/password", "/settings/password", f, &r);
	ck_assert_msg(r.status == want, "change password: want %ld, got "
	    "%ld: %.1500s", want, r.status, r.body);
	hresp_free(&r);
}

static void
assert_location(const struct hresp *r, const char *prefix, const char *what)
{
	char	*loc = hresp_header(r, "Location");

	ck_assert_msg(r->status == 303 && loc != NULL &&
	    strncmp(loc, prefix, strlen(prefix)) == 0,
	    "%s: want 303 to %s, got %ld to %s", what, prefix, r->status,
	    loc ? loc : "(none)");
	free(loc);
}

/* Whether the body holds needle (want), with a short excerpt if not:
 * Check refuses failure messages longer than a few KiB. */
static void
body_has(const struct hresp *r, const char *needle, bool want,
    const char *what)
{
	bool	 has = r->body != NULL && strstr(r->body, needle) != NULL;

	ck_assert_msg(has == want, "%s: the page (%ld) %s \"%s\": %.1500s",
	    what, r->status, want ? "lacks" : "holds", needle,
	    r->body ? r->body : "");
}

static void
assert_to_login(const struct hresp *r, const char *what)
{
	assert_location(r, "/login", what);
}

/* A route pattern with every {param} replaced by 1 and {*tail} by x. */
static char *
route_path(const char *pattern)
{
	char	*out = xcalloc(1, strlen(pattern) + 1);
	char	*o = out;

	for (const char *p = pattern; *p != '\0'; p++) {
		if (*p == '{') {
			*o++ = p[1] == '*' ? 'x' : '1';
			p = strchr(p, '}');
			ck_assert(p != NULL);
			continue;
		}
		*o++ = *p;
	}
	*o = '\0';
	return out;
}

/* The value after "<key>" on a line of the file at path (malloc'd). */
static char *
log_value(const char *path, const char *key)
{
	char	*text = read_file(path), *p, *v = NULL;

	if ((p = strstr(text, key)) != NULL) {
		p += strlen(key);
		while (*p == ' ')
			p++;
		v = strndup(p, strcspn(p, " \r\n"));
	}
	free(text);
	return v;
}

static char *
read_file(const char *path)
{
	FILE	*f = fopen(path, "rb");
	char	*buf;
	long	 n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = xcalloc(1, (size_t)n + 1);
	if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
		ck_abort_msg("cannot read %s", path);
	fclose(f);
	return buf;
}

/* A byte-for-byte copy (a key file is raw bytes: NULs included). */
static void
copy_file(const char *from, const char *to)
{
	FILE	*in = fopen(from, "rb"), *out = fopen(to, "wb");
	char	 b[4096];
	size_t	 n;

	ck_assert_msg(in != NULL && out != NULL, "cannot copy %s to %s", from,
	    to);
	while ((n = fread(b, 1, sizeof(b), in)) > 0)
		ck_assert(fwrite(b, 1, n, out) == n);
	fclose(in);
	ck_assert(fclose(out) == 0);
}

/* --- suite tokens: an API token acts for its user ------------------------ */

START_TEST(t_token_deactivated_user)
{
	struct client	 owner;
	struct hresp	 r;
	char		 path[128];
	char		*tok;
	int64_t		 id;

	huser_create(&cur->pg, "worker@example.com", OWNER_ORG, "owner",
	    USER_PW);
	tok = htoken_create(&cur->pg, "worker@example.com", "worker", "owner");
	id = user_id("worker@example.com");
	api_want_code(tok, "GET", "/api/v1/agents", 200, NULL);
	hapi(cur->srv.base, tok, "POST", "/api/v1/agents",
	    "{\"name\":\"Before\"}", &r);
	ck_assert_msg(r.status == 201 || r.status == 200, "write before: %ld "
	    "%s", r.status, r.body);
	hresp_free(&r);

	/* Deactivated on the Users page: the very next request is refused. */
	hlogin(&owner, cur->srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/settings/users/%lld/deactivate",
	    (long long)id);
	hpost_form(&owner, "/settings/users", path, "", &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	api_want_code(tok, "GET", "/api/v1/agents", 401,
	    "token_user_inactive");
	api_want_code(tok, "POST", "/api/v1/agents", 401,
	    "token_user_inactive");
	api_want_code(tok, "GET", "/v1/models", 401, "token_user_inactive");
	ck_assert_int_eq(sqli("SELECT count(*) FROM agents WHERE name ="
	    " 'After'"), 0);

	/* Reactivated: the token acts again (it was never revoked). */
	snprintf(path, sizeof(path), "/settings/users/%lld/reactivate",
	    (long long)id);
	hpost_form(&owner, "/settings/users", path, "", &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	api_want_code(tok, "GET", "/api/v1/agents", 200, NULL);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE action ="
	    " 'user.reactivated' AND target_id = %lld", (long long)id), 1);
	free(tok);
}
END_TEST

START_TEST(t_token_removed_member)
{
	char	*tok;
	int64_t	 id;

	huser_create(&cur->pg, "leaver@example.com", OWNER_ORG, "admin",
	    USER_PW);
	tok = htoken_create(&cur->pg, "leaver@example.com", "leaver", "admin");
	id = user_id("leaver@example.com");
	api_want_code(tok, "GET", "/api/v1/agents", 200, NULL);
	/* No page removes a member yet; the database can. */
	ck_assert_int_eq(sqli("WITH d AS (DELETE FROM memberships WHERE"
	    " user_id = %lld RETURNING 1) SELECT count(*) FROM d",
	    (long long)id), 1);
	api_want_code(tok, "GET", "/api/v1/agents", 401,
	    "token_user_not_member");
	api_want_code(tok, "PATCH", "/api/v1/agents/1", 401,
	    "token_user_not_member");
	/* A deleted user's tokens stay refused (created_by is NULL). */
	ck_assert_int_eq(sqli("WITH d AS (DELETE FROM users WHERE id = %lld"
	    " RETURNING 1) SELECT count(*) FROM d", (long long)id), 1);
	api_want_code(tok, "GET", "/api/v1/conversations", 401,
	    "token_user_not_member");
	free(tok);
}
END_TEST

START_TEST(t_token_role_lowered)
{
	struct client	 owner;
	struct hresp	 r;
	char		 path[128];
	char		*tok;

	huser_create(&cur->pg, "lead@example.com", OWNER_ORG, "owner",
	    USER_PW);
	tok = htoken_create(&cur->pg, "lead@example.com", "lead", "admin");
	api_want_code(tok, "GET", "/api/v1/providers", 200, NULL);

	/* Lowered to member: the admin token acts as a member at once. */
	hlogin(&owner, cur->srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/settings/users/%lld/role",
	    (long long)user_id("lead@example.com"));
	hpost_form(&owner, "/settings/users", path, "role=member", &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	api_want_code(tok, "GET", "/api/v1/providers", 403, NULL);
	api_want_code(tok, "POST", "/api/v1/agents", 403, NULL);
	api_want_code(tok, "GET", "/api/v1/conversations", 200, NULL);

	/* Raised again: never above the token's own role (admin). */
	hpost_form(&owner, "/settings/users", path, "role=owner", &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	api_want_code(tok, "GET", "/api/v1/providers", 200, NULL);
	free(tok);
}
END_TEST

START_TEST(t_session_deactivated)
{
	struct client	 c, owner;
	struct hresp	 r;
	char		 path[128];
	int64_t		 id;

	huser_create(&cur->pg, "desk@example.com", OWNER_ORG, "admin",
	    USER_PW);
	id = user_id("desk@example.com");
	hlogin(&c, cur->srv.base, "desk@example.com", USER_PW);
	hget(&c, "/agents", 200, &r);
	hresp_free(&r);
	/* Deactivated behind the panel's back: the session row survives,
	 * but the principal check refuses it on the next request. */
	ck_assert_int_eq(sqli("WITH u AS (UPDATE users SET is_active = false"
	    " WHERE id = %lld RETURNING 1) SELECT count(*) FROM u",
	    (long long)id), 1);
	ck_assert(sqli("SELECT count(*) FROM sessions WHERE user_id = %lld",
	    (long long)id) >= 1);
	hreq(&c, "GET", "/agents", NULL, NULL, NULL, &r);
	assert_to_login(&r, "a deactivated user's session");
	hresp_free(&r);

	/* Reactivated on the page, then deactivated there: signed out. */
	hlogin(&owner, cur->srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/settings/users/%lld/reactivate",
	    (long long)id);
	hpost_form(&owner, "/settings/users", path, "", &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	hlogin(&c, cur->srv.base, "desk@example.com", USER_PW);
	snprintf(path, sizeof(path), "/settings/users/%lld/deactivate",
	    (long long)id);
	hpost_form(&owner, "/settings/users", path, "", &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	hreq(&c, "GET", "/", NULL, NULL, NULL, &r);
	assert_to_login(&r, "after deactivation on the Users page");
	hresp_free(&r);
}
END_TEST

/*
 * Every authenticated route of the route table, with its method and ids
 * substituted, refuses a deactivated user's session (303 to /login) and
 * token (401): never a 2xx, never a 5xx. The user is an owner, so no role
 * check can answer first.
 */
START_TEST(t_route_table_refuses_deactivated)
{
	struct client	 c;
	struct hresp	 r;
	char		 cookies[sizeof(c.cookies)];
	char		*tok, *path;
	int		 n_session = 0, n_bearer = 0;

	huser_create(&cur->pg, "ghost@example.com", OWNER_ORG, "owner",
	    USER_PW);
	tok = htoken_create(&cur->pg, "ghost@example.com", "ghost", "owner");
	hlogin(&c, cur->srv.base, "ghost@example.com", USER_PW);
	/* Both work while the user is active. */
	hget(&c, "/settings/users", 200, &r);
	hresp_free(&r);
	api_want_code(tok, "GET", "/api/v1/agents", 200, NULL);
	memcpy(cookies, c.cookies, sizeof(cookies));
	ck_assert_int_eq(sqli("WITH u AS (UPDATE users SET is_active = false"
	    " WHERE email = 'ghost@example.com' RETURNING 1)"
	    " SELECT count(*) FROM u"), 1);

	for (int i = 0; i < app_n_routes; i++) {
		const struct route	*rt = &app_routes[i];
		const char		*body = NULL, *ctype = NULL;
		char			*loc;

		if ((rt->flags & (R_SESSION | R_BEARER)) == 0)
			continue;
		path = route_path(rt->pattern);
		if (rt->flags & R_JSON) {
			body = "{}";
			ctype = "application/json";
		} else if (rt->flags & R_FORM)
			body = "a=b";
		else if (strcmp(rt->method, "GET") != 0)
			body = "";
		if (rt->flags & R_SESSION) {
			/* The cookie as it was, even after a refusal
			 * cleared it. */
			memcpy(c.cookies, cookies, sizeof(cookies));
			hreq(&c, rt->method, path, body, ctype, NULL, &r);
			loc = hresp_header(&r, "Location");
			ck_assert_msg(r.status == 303 && loc != NULL &&
			    strncmp(loc, "/login", 6) == 0, "%s %s with a "
			    "deactivated user's session: want 303 to /login, got "
			    "%ld (%s)", rt->method, rt->pattern, r.status,
			    loc ? loc : "no Location");
			free(loc);
			hresp_free(&r);
			n_session++;
		}
		if (rt->flags & R_BEARER) {
			hapi(cur->srv.base, tok, rt->method, path,
			    rt->flags & R_JSON ? "{}" : NULL, &r);
			ck_assert_msg(r.status == 401, "%s %s with a deactivated "
			    "user's token: want 401, got %ld: %.500s",
			    rt->method, rt->pattern, r.status, r.body);
			hresp_free(&r);
			n_bearer++;
		}
		free(path);
	}
	/* The table was read, not an empty loop. */
	ck_assert(n_session >= 40);
	ck_assert(n_bearer >= 30);
	free(tok);
}
END_TEST

START_TEST(t_clean_stop)
{
	hserver_stop_clean(&cur->srv);
}
END_TEST

/* --- suite throttle: sign-in limits under concurrency and proxies ------- */

struct race_arg {
	struct client	 c;
	char		 form[FORM_MAX];
	pthread_barrier_t *go;
	long		 status;
};

static void *
race_login(void *p)
{
	struct race_arg	*a = p;
	struct hresp	 r;

	pthread_barrier_wait(a->go);
	client_req(&a->c, "POST", "/login", a->form, NULL, NULL, &r);
	a->status = r.status;
	hresp_free(&r);
	return NULL;
}

START_TEST(t_throttle_race)
{
	static struct race_arg	 args[RACE_N];
	pthread_t		 th[RACE_N];
	pthread_barrier_t	 go;
	struct client		 c;
	struct hresp		 r;
	int			 n401 = 0, n429 = 0;
	char			*csrf;

	huser_create(&cur->pg, "raced@example.com", "RaceOrg", "member",
	    USER_PW);
	pthread_barrier_init(&go, NULL, RACE_N);
	/* Every client has its pre-session token before the race starts. */
	for (int i = 0; i < RACE_N; i++) {
		client_init(&args[i].c, cur->srv.base);
		client_set_source(&args[i].c, "127.0.0.2");
		client_req(&args[i].c, "GET", "/login", NULL, NULL, NULL, &r);
		ck_assert_int_eq(r.status, 200);
		csrf = html_csrf(r.body);
		hresp_free(&r);
		ck_assert(csrf != NULL);
		args[i].form[0] = '\0';
		form_add(args[i].form, FORM_MAX, "_csrf", csrf);
		form_add(args[i].form, FORM_MAX, "email", "raced@example.com");
		form_add(args[i].form, FORM_MAX, "password",
		    "wrong-password-000");
		free(csrf);
		args[i].go = &go;
	}
	for (int i = 0; i < RACE_N; i++)
		ck_assert(pthread_create(&th[i], NULL, race_login,
		    &args[i]) == 0);
	for (int i = 0; i < RACE_N; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	for (int i = 0; i < RACE_N; i++) {
		if (args[i].status == 401)
			n401++;
		else if (args[i].status == 429)
			n429++;
	}
	/* A 401 is a password that was checked (argon2id) and was wrong. */
	ck_assert_msg(n401 >= 1 && n401 <= RACE_LIMIT, "%d of %d concurrent "
	    "wrong passwords were checked (limit %d)", n401, RACE_N,
	    RACE_LIMIT);
	/* The rest were refused at once: no 503 from a starved pool. */
	ck_assert_msg(n401 + n429 == RACE_N, "%d of %d attempts answered "
	    "neither 401 nor 429", RACE_N - n401 - n429, RACE_N);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE action ="
	    " 'login.failure' AND target_id = %lld",
	    (long long)user_id("raced@example.com")), n401);
	/* Now even the right password waits, from anywhere. */
	client_init(&c, cur->srv.base);
	client_set_source(&c, "127.0.0.3");
	login_form(&c, "raced@example.com", USER_PW, NULL, &r);
	ck_assert_int_eq(r.status, 429);
	hresp_free(&r);
}
END_TEST

START_TEST(t_trusted_proxy)
{
	const char	*spoofer1[] = { "X-Forwarded-For: 198.51.100.1", NULL };
	const char	*via1[] = { "X-Forwarded-For: 198.51.100.1", NULL };
	const char	*via1_chain[] = { "X-Forwarded-For: 198.51.100.1, "
			    "127.0.0.17", NULL };
	const char	*via2[] = { "X-Forwarded-For: 203.0.113.99, "
			    "198.51.100.2", "X-Forwarded-Proto: https", NULL };
	const char	*spoofer2[] = { "X-Forwarded-For: 198.51.100.9", NULL };
	struct client	 proxy, other;
	struct hresp	 r;
	char		 email[64];
	char		*cookie, *ip;

	huser_create(&cur->pg, "proxied@example.com", "ProxyOrg", "member",
	    USER_PW);
	/* Through the trusted proxy, five failures of client 198.51.100.1. */
	client_init(&proxy, cur->srv.base);
	client_set_source(&proxy, "127.0.0.8");
	for (int i = 1; i <= 5; i++) {
		snprintf(email, sizeof(email), "nobody%d@example.com", i);
		login_form(&proxy, email, "wrong-password-000", via1, &r);
		ck_assert_int_eq(r.status, 401);
		hresp_free(&r);
	}
	login_form(&proxy, "nobody6@example.com", "wrong-password-000", via1,
	    &r);
	ck_assert_int_eq(r.status, 429);
	hresp_free(&r);
	/* The same client behind two proxies we trust (127.0.0.17 is in
	 * 127.0.0.16/30): still 198.51.100.1. */
	login_form(&proxy, "proxied@example.com", USER_PW, via1_chain, &r);
	ck_assert_int_eq(r.status, 429);
	hresp_free(&r);

	/* Another client through the same proxy is not locked out; the
	 * right-most untrusted address counts, not what it prepended. */
	login_form(&proxy, "proxied@example.com", USER_PW, via2, &r);
	assert_location(&r, "/", "another client through the proxy");
	/* X-Forwarded-Proto: https from the proxy: a Secure cookie. */
	cookie = hresp_header(&r, "Set-Cookie");
	ck_assert_msg(cookie != NULL && strstr(cookie, "Secure") != NULL,
	    "no Secure cookie behind an https proxy: %s", cookie);
	free(cookie);
	hresp_free(&r);
	/* The audit log and the access log name the client, not the proxy. */
	ip = hpg_sqlf(&cur->pg, "SELECT ip FROM audit_log WHERE action ="
	    " 'login.success' ORDER BY id DESC LIMIT 1");
	ck_assert_str_eq(ip, "198.51.100.2");
	free(ip);
	ck_assert(hserver_log_contains(&cur->srv, "ip=198.51.100.2"));

	/* From an untrusted peer X-Forwarded-For is ignored entirely. */
	client_init(&other, cur->srv.base);
	client_set_source(&other, "127.0.0.9");
	for (int i = 1; i <= 5; i++) {
		snprintf(email, sizeof(email), "spoof%d@example.com", i);
		login_form(&other, email, "wrong-password-000", spoofer1, &r);
		ck_assert_int_eq(r.status, 401);
		hresp_free(&r);
	}
	login_form(&other, "proxied@example.com", USER_PW, spoofer2, &r);
	ck_assert_msg(r.status == 429, "a spoofed X-Forwarded-For from an "
	    "untrusted peer bought a new address: %ld", r.status);
	cookie = hresp_header(&r, "Set-Cookie");
	ck_assert(cookie == NULL || strstr(cookie, "Secure") == NULL);
	free(cookie);
	hresp_free(&r);
	ck_assert(hserver_log_contains(&cur->srv, "ip=127.0.0.9"));
	ck_assert(!hserver_log_contains(&cur->srv, "ip=198.51.100.9"));
}
END_TEST

START_TEST(t_bad_trusted_proxies)
{
	const char	*bad[] = { "10.0.0.0/33", "10.0.0.1/8x", "proxy.local",
			    "[::1]", "::1/129", NULL };
	const char	*args[] = { "serve", NULL };
	char		 kv[128];
	char		*out = NULL;
	int		 st;

	for (int i = 0; bad[i] != NULL; i++) {
		const char	*env[] = { kv, NULL };

		snprintf(kv, sizeof(kv), "PARLEY_TRUSTED_PROXIES=10.1.0.0/16, "
		    "%s", bad[i]);
		st = hrun_parley_env(&cur->pg, env, args, NULL, &out);
		ck_assert_msg(st == 2, "serve with %s exited %d:\n%s", kv, st,
		    out);
		ck_assert_msg(strstr(out, "PARLEY_TRUSTED_PROXIES") != NULL &&
		    strstr(out, bad[i]) != NULL, "the error does not name the "
		    "variable and the item:\n%s", out);
		free(out);
	}
}
END_TEST

/* --- suite recovery: one-time passwords, resets, reactivation ----------- */

START_TEST(t_owner_reset_password)
{
	struct client	 owner, u, old;
	struct hresp	 r;
	char		 path[128];
	char		*pw;
	int64_t		 id;

	huser_create(&cur->pg, "forgetful@example.com", OWNER_ORG, "admin",
	    USER_PW);
	id = user_id("forgetful@example.com");
	hlogin(&old, cur->srv.base, "forgetful@example.com", USER_PW);

	hlogin(&owner, cur->srv.base, OWNER_EMAIL, OWNER_PW);
	hget(&owner, "/settings/users", 200, &r);
	snprintf(path, sizeof(path), "/settings/users/%lld/reset-password",
	    (long long)id);
	body_has(&r, path, true, "a Reset password form");
	hresp_free(&r);
	hpost_form(&owner, "/settings/users", path, "", &r);
	ck_assert_msg(r.status == 200, "reset: %ld %.1500s", r.status, r.body);
	pw = html_input_value(r.body, "reset_password");
	ck_assert(pw != NULL && strlen(pw) >= 16);
	hresp_free(&r);
	/* Shown once. */
	hget(&owner, "/settings/users", 200, &r);
	body_has(&r, pw, false, "the one-time password shown again");
	hresp_free(&r);

	/* Their sessions ended; the old password is gone. */
	hreq(&old, "GET", "/", NULL, NULL, NULL, &r);
	assert_to_login(&r, "the reset user's old session");
	hresp_free(&r);
	client_init(&u, cur->srv.base);
	ck_assert(!client_login(&u, "forgetful@example.com", USER_PW));

	/* The one-time password reaches only the change-password page. */
	hlogin(&u, cur->srv.base, "forgetful@example.com", pw);
	hreq(&u, "GET", "/agents", NULL, NULL, NULL, &r);
	assert_location(&r, "/settings/password", "a one-time session");
	hresp_free(&r);
	hreq(&u, "GET", "/api/v1/agents", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 401);	/* the API takes no session */
	hresp_free(&r);
	hget(&u, "/settings/password", 200, &r);
	body_has(&r, "id=\"one-time\"", true, "the one-time notice");
	hresp_free(&r);
	/* Keeping the one-time password is not choosing one. */
	change_password(&u, pw, pw, 422);
	change_password(&u, pw, NEW_PW, 303);
	hget(&u, "/agents", 200, &r);
	hresp_free(&r);
	free(pw);
	client_init(&u, cur->srv.base);
	ck_assert(client_login(&u, "forgetful@example.com", NEW_PW));
	hget(&u, "/agents", 200, &r);
	hresp_free(&r);

	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE action ="
	    " 'user.password_reset' AND target_id = %lld AND actor = '%s'",
	    (long long)id, OWNER_EMAIL), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE action ="
	    " 'user.password_changed' AND target_id = %lld AND actor ="
	    " 'forgetful@example.com'", (long long)id), 1);
}
END_TEST

START_TEST(t_reset_refusals)
{
	struct client	 owner;
	struct hresp	 r;
	char		 path[128];
	int64_t		 other;

	huser_create(&cur->pg, "elsewhere@example.com", "Other Org", "owner",
	    USER_PW);
	other = user_id("elsewhere@example.com");
	hlogin(&owner, cur->srv.base, OWNER_EMAIL, OWNER_PW);
	/* Another organisation's user: not found. */
	snprintf(path, sizeof(path), "/settings/users/%lld/reset-password",
	    (long long)other);
	hpost_form(&owner, "/settings/users", path, "", &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/settings/users/%lld/reactivate",
	    (long long)other);
	hpost_form(&owner, "/settings/users", path, "", &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	/* Oneself: the change-password page is the way. */
	snprintf(path, sizeof(path), "/settings/users/%lld/reset-password",
	    (long long)user_id(OWNER_EMAIL));
	hpost_form(&owner, "/settings/users", path, "", &r);
	ck_assert_int_eq(r.status, 409);
	body_has(&r, "Change password", true, "the refusal");
	hresp_free(&r);
	/* A user who is also in another organisation: the CLI's job. */
	ck_assert_int_eq(sqli("WITH m AS (INSERT INTO memberships (org_id,"
	    " user_id, role) SELECT id, %lld, 'member' FROM orgs WHERE name ="
	    " '%s' RETURNING 1) SELECT count(*) FROM m", (long long)other,
	    OWNER_ORG), 1);
	snprintf(path, sizeof(path), "/settings/users/%lld/reset-password",
	    (long long)other);
	hpost_form(&owner, "/settings/users", path, "", &r);
	ck_assert_int_eq(r.status, 409);
	body_has(&r, "another organisation", true, "the refusal");
	hresp_free(&r);
	/* Nothing was changed by the refusals. */
	client_init(&owner, cur->srv.base);
	ck_assert(client_login(&owner, "elsewhere@example.com", USER_PW));
}
END_TEST

START_TEST(t_cli_reset_password)
{
	const char	*args[] = { "user", "reset-password", "--email",
			    "Locked@Example.com", NULL };
	const char	*args1[] = { "user", "reset-password", "--email",
			    "locked@example.com", "--one-time", NULL };
	const char	*nobody[] = { "user", "reset-password", "--email",
			    "nobody@example.com", NULL };
	struct client	 c, s;
	struct hresp	 r;
	char		*out = NULL;
	int		 st;
	int64_t		 id;

	huser_create(&cur->pg, "locked@example.com", OWNER_ORG, "owner",
	    USER_PW);
	id = user_id("locked@example.com");
	hlogin(&s, cur->srv.base, "locked@example.com", USER_PW);
	/* Locked out by failures, and the password forgotten. */
	client_init(&c, cur->srv.base);
	for (int i = 0; i < 3; i++)
		ck_assert(!client_login(&c, "locked@example.com",
		    "wrong-password-000"));

	st = hrun_parley(&cur->pg, args, NEW_PW "\n", &out);
	ck_assert_msg(st == 0, "reset-password exited %d:\n%s", st, out);
	hassert_none("reset-password", "output", out,
	    (const char *const[]){ NEW_PW, NULL });
	free(out);
	hreq(&s, "GET", "/", NULL, NULL, NULL, &r);
	assert_to_login(&r, "a session after reset-password");
	hresp_free(&r);
	ck_assert(!client_login(&c, "locked@example.com", USER_PW));
	ck_assert(client_login(&c, "locked@example.com", NEW_PW));
	hget(&c, "/agents", 200, &r);	/* not one-time: the operator's */
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE action ="
	    " 'user.password_reset' AND actor = 'cli' AND target_id = %lld",
	    (long long)id), 1);

	/* --one-time: the user chooses their own at the next sign-in. */
	st = hrun_parley(&cur->pg, args1, USER_PW "\n", &out);
	ck_assert_msg(st == 0, "reset-password --one-time exited %d:\n%s",
	    st, out);
	free(out);
	hlogin(&c, cur->srv.base, "locked@example.com", USER_PW);
	hreq(&c, "GET", "/", NULL, NULL, NULL, &r);
	assert_location(&r, "/settings/password", "after --one-time");
	hresp_free(&r);

	/* An unknown user, a short password: refused, nothing changed. */
	st = hrun_parley(&cur->pg, nobody, NEW_PW "\n", &out);
	ck_assert_msg(st == 1 && strstr(out, "nobody@example.com") != NULL,
	    "reset-password of nobody exited %d:\n%s", st, out);
	free(out);
	st = hrun_parley(&cur->pg, args, "short\n", &out);
	ck_assert_msg(st == 2, "a short password exited %d:\n%s", st, out);
	free(out);
}
END_TEST

START_TEST(t_cli_create_one_time_and_audit)
{
	const char	*args[] = { "user", "create", "--email",
			    "newbie@example.com", "--org", OWNER_ORG, "--role",
			    "member", "--one-time", NULL };
	struct client	 c;
	struct hresp	 r;
	char		*out = NULL, *tok;
	int		 st;

	st = hrun_parley(&cur->pg, args, USER_PW "\n", &out);
	ck_assert_msg(st == 0, "user create --one-time exited %d:\n%s", st,
	    out);
	free(out);
	hlogin(&c, cur->srv.base, "newbie@example.com", USER_PW);
	hreq(&c, "GET", "/conversations", NULL, NULL, NULL, &r);
	assert_location(&r, "/settings/password", "a --one-time user");
	hresp_free(&r);
	/* Signing out stays possible. */
	hpost_form(&c, "/settings/password", "/logout", "", &r);
	assert_to_login(&r, "logout with a one-time password");
	hresp_free(&r);

	tok = htoken_create(&cur->pg, OWNER_EMAIL, "cli-audited", "member");
	free(tok);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE actor ="
	    " 'cli' AND action = 'user.created' AND detail LIKE"
	    " 'newbie@example.com%%'"), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE actor ="
	    " 'cli' AND action = 'token.created' AND detail LIKE"
	    " 'cli-audited%%'"), 1);
}
END_TEST

/* `make run`'s first owner: the generated password is one-time. */
START_TEST(t_first_owner_one_time)
{
	const char	*env[3];
	struct hserver	 first;
	struct client	 c;
	struct hresp	 r;
	char		*conninfo, *db_url, *pw, *p;

	p = hpg_sql(&cur->pg, "CREATE DATABASE parley_first");
	ck_assert(p != NULL);
	free(p);
	p = strstr(cur->pg.conninfo, "dbname=parley");
	ck_assert(p != NULL);
	conninfo = xasprintf("%.*sdbname=parley_first%s",
	    (int)(p - cur->pg.conninfo), cur->pg.conninfo,
	    p + strlen("dbname=parley"));
	db_url = xasprintf("PARLEY_DATABASE_URL=%s", conninfo);
	env[0] = db_url;
	env[1] = "PARLEY_ADMIN_PASSWORD";	/* unset: generate one */
	env[2] = NULL;
	hserver_start(&first, &cur->pg, env);
	pw = log_value(first.log_path, "password:");
	ck_assert_msg(pw != NULL && strlen(pw) >= 16, "no generated password "
	    "in %s", first.log_path);
	hlogin(&c, first.base, OWNER_EMAIL, pw);
	hreq(&c, "GET", "/", NULL, NULL, NULL, &r);
	assert_location(&r, "/settings/password", "the first owner");
	hresp_free(&r);
	change_password(&c, pw, NEW_PW, 303);
	hget(&c, "/", 200, &r);
	hresp_free(&r);
	hserver_stop_clean(&first);
	free(pw);
	free(db_url);
	free(conninfo);
}
END_TEST

/* --- suite cli ----------------------------------------------------------- */

START_TEST(t_cli_usage)
{
	const char	*none[] = { NULL };
	const char	*unknown[] = { "srve", NULL };
	const char	*serve_help[] = { "serve", "--help", NULL };
	const char	*serve_extra[] = { "serve", "now", NULL };
	const char	*user_help[] = { "user", "-h", NULL };
	char		*out = NULL;
	int		 st;

	st = hrun_parley(&cur->pg, none, NULL, &out);
	ck_assert_msg(st == 2 && strstr(out, "usage: parley") != NULL,
	    "parley with no command exited %d:\n%s", st, out);
	free(out);
	st = hrun_parley(&cur->pg, unknown, NULL, &out);
	ck_assert_msg(st == 2 && strstr(out, "unknown command") != NULL,
	    "an unknown command exited %d:\n%s", st, out);
	free(out);
	/* A question, never a start (this would hang on a server). */
	st = hrun_parley(&cur->pg, serve_help, NULL, &out);
	ck_assert_msg(st == 0 && strstr(out, "usage: parley serve") != NULL &&
	    strstr(out, "listening") == NULL, "serve --help exited %d:\n%s",
	    st, out);
	free(out);
	st = hrun_parley(&cur->pg, serve_extra, NULL, &out);
	ck_assert_msg(st == 2, "serve with an argument exited %d:\n%s", st,
	    out);
	free(out);
	st = hrun_parley(&cur->pg, user_help, NULL, &out);
	ck_assert_msg(st == 0 && strstr(out, "reset-password") != NULL,
	    "user -h exited %d:\n%s", st, out);
	free(out);
}
END_TEST

START_TEST(t_key_rotate_refused_while_serving)
{
	const char	*rotate[] = { "key", "rotate", NULL };
	const char	*serve[] = { "serve", NULL };
	char		*tok, *out = NULL, *keyfile, *oldkey, *enc0, *enc1;
	char		*wrong_env;
	struct hresp	 r;
	int		 st;
	int64_t		 prov;

	tok = htoken_create(&cur->pg, OWNER_EMAIL, "rotation", "owner");
	hapi(cur->srv.base, tok, "POST", "/api/v1/providers",
	    "{\"name\":\"Rot\",\"baseUrl\":"
	    "\"http://127.0.0.1:9/v1\",\"apiKey\":\"sk-rotation-test-key-0123"
	    "456789abcdef\"}", &r);
	ck_assert_msg(r.status == 201, "provider: %ld %s", r.status, r.body);
	hresp_free(&r);
	prov = sqli("SELECT id FROM llm_providers WHERE name = 'Rot'");
	enc0 = hpg_sqlf(&cur->pg, "SELECT encode(api_key_enc, 'hex') FROM"
	    " llm_providers WHERE id = %lld", (long long)prov);

	/* A server holds the database: refused, nothing changed. */
	st = hrun_parley(&cur->pg, rotate, NULL, &out);
	ck_assert_msg(st == 1 && strstr(out, "server is using this database")
	    != NULL, "key rotate under a running server exited %d:\n%s", st,
	    out);
	free(out);
	enc1 = hpg_sqlf(&cur->pg, "SELECT encode(api_key_enc, 'hex') FROM"
	    " llm_providers WHERE id = %lld", (long long)prov);
	ck_assert_str_eq(enc0, enc1);
	free(enc1);
	/* The server still opens its secrets (the PATCH re-reads the key). */
	api_want_code(tok, "GET", "/api/v1/providers", 200, NULL);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE action ="
	    " 'master_key.rotated'"), 0);

	/* Stopped: the rotation runs, and is audited in every org. */
	keyfile = xasprintf("%s/parley-data/master.key", cur->pg.dir);
	oldkey = xasprintf("%s/parley-data/old.key", cur->pg.dir);
	copy_file(keyfile, oldkey);
	hserver_stop_clean(&cur->srv);
	st = hrun_parley(&cur->pg, rotate, NULL, &out);
	ck_assert_msg(st == 0 && strstr(out, "Re-encrypted") != NULL,
	    "key rotate exited %d:\n%s", st, out);
	free(out);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE action ="
	    " 'master_key.rotated' AND actor = 'cli'"),
	    sqli("SELECT count(*) FROM orgs"));

	/* The old key file: the server says the key is wrong, at once. */
	wrong_env = xasprintf("PARLEY_MASTER_KEY_FILE=%s", oldkey);
	{
		const char	*env[] = { wrong_env, NULL };

		chmod(oldkey, 0600);
		st = hrun_parley_env(&cur->pg, env, serve, NULL, &out);
	}
	ck_assert_msg(st == 1 && strstr(out, "is not the key this database's "
	    "secrets were sealed with") != NULL && strstr(out,
	    "cannot reach") == NULL, "serve with the old key exited %d:\n%s",
	    st, out);
	free(out);
	/* And so does key rotate with it. */
	{
		const char	*env[] = { wrong_env, NULL };

		st = hrun_parley_env(&cur->pg, env, rotate, NULL, &out);
	}
	ck_assert_msg(st == 1 && strstr(out, "is not the key this database's "
	    "secrets were sealed with") != NULL, "rotate with the old key "
	    "exited %d:\n%s", st, out);
	free(out);

	/* The new key serves, and opens the re-sealed key. */
	hserver_start(&cur->srv, &cur->pg, cur->env);
	api_want_code(tok, "GET", "/api/v1/providers", 200, NULL);
	free(wrong_env);
	free(keyfile);
	free(oldkey);
	free(enc0);
	free(tok);
}
END_TEST

/* A server does not start while a rotation holds the database. */
START_TEST(t_serve_waits_for_rotation)
{
	const char	*serve[] = { "serve", NULL };
	PGconn		*conn;
	PGresult	*res;
	char		*out = NULL;
	int		 st;

	conn = PQconnectdb(cur->pg.conninfo);
	ck_assert(PQstatus(conn) == CONNECTION_OK);
	/* What `parley key rotate` holds for as long as it runs. */
	res = PQexec(conn, "SELECT pg_try_advisory_lock(8097879414873325570)");
	ck_assert(PQresultStatus(res) == PGRES_TUPLES_OK);
	ck_assert_str_eq(PQgetvalue(res, 0, 0), "f");	/* a server holds */
	PQclear(res);
	hserver_stop_clean(&cur->srv);
	res = PQexec(conn, "SELECT pg_try_advisory_lock(8097879414873325570)");
	ck_assert_str_eq(PQgetvalue(res, 0, 0), "t");
	PQclear(res);
	st = hrun_parley(&cur->pg, serve, NULL, &out);
	ck_assert_msg(st == 1 && strstr(out, "key rotation") != NULL,
	    "serve during a rotation exited %d:\n%s", st, out);
	free(out);
	PQfinish(conn);
	hserver_start(&cur->srv, &cur->pg, cur->env);
}
END_TEST

/* --- main ---------------------------------------------------------------- */

static Suite *
tokens_suite(void)
{
	Suite	*s = suite_create("tokens");
	TCase	*tc = tcase_create("tokens");

	tcase_add_unchecked_fixture(tc, tokens_setup, tokens_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, t_token_deactivated_user);
	tcase_add_test(tc, t_token_removed_member);
	tcase_add_test(tc, t_token_role_lowered);
	tcase_add_test(tc, t_session_deactivated);
	tcase_add_test(tc, t_route_table_refuses_deactivated);
	tcase_add_test(tc, t_clean_stop);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *
throttle_suite(void)
{
	Suite	*s = suite_create("throttle");
	TCase	*tc = tcase_create("throttle");

	tcase_add_unchecked_fixture(tc, throttle_setup, throttle_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, t_throttle_race);
	tcase_add_test(tc, t_trusted_proxy);
	tcase_add_test(tc, t_bad_trusted_proxies);
	tcase_add_test(tc, t_clean_stop);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *
recovery_suite(void)
{
	Suite	*s = suite_create("recovery");
	TCase	*tc = tcase_create("recovery");

	tcase_add_unchecked_fixture(tc, recovery_setup, recovery_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, t_owner_reset_password);
	tcase_add_test(tc, t_reset_refusals);
	tcase_add_test(tc, t_cli_reset_password);
	tcase_add_test(tc, t_cli_create_one_time_and_audit);
	tcase_add_test(tc, t_first_owner_one_time);
	tcase_add_test(tc, t_clean_stop);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *
cli_suite(void)
{
	Suite	*s = suite_create("cli");
	TCase	*tc = tcase_create("cli");

	tcase_add_unchecked_fixture(tc, cli_setup, cli_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, t_cli_usage);
	tcase_add_test(tc, t_key_rotate_refused_while_serving);
	tcase_add_test(tc, t_serve_waits_for_rotation);
	tcase_add_test(tc, t_clean_stop);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int	 failed = hrun_suites(tokens_suite(), throttle_suite(),
		    recovery_suite(), cli_suite(), NULL);

	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
