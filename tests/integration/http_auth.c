/*
 * http_auth: the panel's sign-in, sessions, CSRF, throttling, error pages,
 * security headers, health endpoints and the CLI, over real HTTP against
 * the real binary and a throwaway PostgreSQL cluster.
 *
 * Each suite has one cluster and one server, started by an unchecked
 * fixture (CK_NOFORK: the tests in a suite share them and run in the order
 * added). Tests in one suite therefore never depend on another test having
 * run, but do share the server: every test logs in with its own client,
 * and the suites that break things (throttling, a stopped database) have
 * their own server. The last test of each suite stops the server and
 * checks it exits 0 on SIGTERM, which under ASan also means no leak.
 *
 * Set PARLEY_TEST_KEEP=1 to keep each cluster directory (with the server
 * logs) instead of deleting it.
 */
#include "harness/panel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <check.h>
#include <cjson/cJSON.h>

#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define OWNER_ORG	"My Organization"
#define FORM_MAX	8192

struct fixture {
	const char	*name;
	const char	**env;
	struct hpg	 pg;
	struct hserver	 srv;
};

static void	 fixture_up(struct fixture *fx);
static void	 fixture_down(struct fixture *fx);
static void	 auth_setup(void);
static void	 auth_teardown(void);
static void	 throttle_setup(void);
static void	 throttle_teardown(void);
static void	 faults_setup(void);
static void	 faults_teardown(void);
static void	 cli_setup(void);
static void	 cli_teardown(void);
static void	 new_client(struct client *c);
static void	 login_post(struct client *c, const char *email,
		    const char *pw, const char *next, const char **headers,
		    struct hresp *r);
static void	 login_ok(struct client *c, const char *email, const char *pw);
static bool	 logged_in(struct client *c);
static void	 post_csrf_form(struct client *c, const char *page,
		    const char *action, const char *csrf_override,
		    const char *fields, struct hresp *r);
static char	*set_cookie_for(const struct hresp *r, const char *name);
static bool	 contains_ci(const char *hay, const char *needle);
static void	 assert_location(const struct hresp *r, const char *want);
static void	 assert_security_headers(const struct hresp *r,
		    const char *what);
static void	 wait_readyz(struct client *c, long want, int timeout_ms);
static Suite	*auth_suite(void);
static Suite	*throttle_suite(void);
static Suite	*faults_suite(void);
static Suite	*cli_suite(void);

/*
 * The auth suite must not trip the login throttle with its few deliberate
 * failures from 127.0.0.1; the throttle suite runs the defaults.
 */
static const char	*env_auth[] = { "PARLEY_LOGIN_MAX_FAILURES=50", NULL };
static const char	*env_throttle[] = { "PARLEY_LOGIN_MAX_FAILURES=5",
			    "PARLEY_LOGIN_WINDOW_MINUTES=15", NULL };
static const char	*env_faults[] = { "PARLEY_DB_ACQUIRE_TIMEOUT_MS=1000",
			    NULL };

static struct fixture	 fx_auth = { .name = "auth", .env = env_auth };
static struct fixture	 fx_throttle = { .name = "throttle",
			    .env = env_throttle };
static struct fixture	 fx_faults = { .name = "faults", .env = env_faults };
static struct fixture	 fx_cli = { .name = "cli", .env = NULL };
static struct fixture	*cur;

/* --- fixtures ----------------------------------------------------------- */

static void
fixture_up(struct fixture *fx)
{
	cur = fx;
	/* Every request goes through hreq (no input a test sends may
	 * produce a 500), and every answer must carry X-Request-Id. */
	hreq_set_check(hreq_check_request_id);
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

static void auth_setup(void) { fixture_up(&fx_auth); }
static void auth_teardown(void) { fixture_down(&fx_auth); }
static void throttle_setup(void) { fixture_up(&fx_throttle); }
static void throttle_teardown(void) { fixture_down(&fx_throttle); }
static void faults_setup(void) { fixture_up(&fx_faults); }
static void faults_teardown(void) { fixture_down(&fx_faults); }
static void cli_setup(void) { fixture_up(&fx_cli); }
static void cli_teardown(void) { fixture_down(&fx_cli); }

/* --- helpers ------------------------------------------------------------ */

static void
new_client(struct client *c)
{
	client_init(c, cur->srv.base);
}

/* GET /login for a fresh token, then POST /login. */
static void
login_post(struct client *c, const char *email, const char *pw,
    const char *next, const char **headers, struct hresp *r)
{
	char	 form[FORM_MAX] = "";
	char	*csrf = hpage_csrf(c, "/login");

	form_add(form, sizeof(form), "_csrf", csrf);
	form_add(form, sizeof(form), "email", email);
	form_add(form, sizeof(form), "password", pw);
	form_add(form, sizeof(form), "next", next != NULL ? next : "");
	free(csrf);
	hreq(c, "POST", "/login", form, NULL, headers, r);
}

static void
login_ok(struct client *c, const char *email, const char *pw)
{
	ck_assert_msg(client_login(c, email, pw), "cannot log in as %s",
	    email);
}

/* GET /: true on 200, false on the 303 to /login; anything else fails. */
static bool
logged_in(struct client *c)
{
	struct hresp	 r;
	char		*loc;
	bool		 in;

	hreq(c, "GET", "/", NULL, NULL, NULL, &r);
	loc = hresp_header(&r, "Location");
	ck_assert_msg(r.status == 200 || (r.status == 303 && loc != NULL &&
	    strncmp(loc, "/login", 6) == 0),
	    "GET /: want 200 or 303 to /login, got %ld (Location: %s)",
	    r.status, loc ? loc : "none");
	in = r.status == 200;
	free(loc);
	hresp_free(&r);
	return in;
}

/*
 * GETs `page` for its token and POSTs `fields` (already form-encoded) plus
 * _csrf to `action`. csrf_override: NULL sends the page's token, "" sends
 * none, anything else is sent instead.
 */
static void
post_csrf_form(struct client *c, const char *page, const char *action,
    const char *csrf_override, const char *fields, struct hresp *r)
{
	char	 form[FORM_MAX] = "";
	char	 all[2 * FORM_MAX];
	char	*csrf = hpage_csrf(c, page);

	if (csrf_override == NULL)
		form_add(form, sizeof(form), "_csrf", csrf);
	else if (csrf_override[0] != '\0')
		form_add(form, sizeof(form), "_csrf", csrf_override);
	free(csrf);
	snprintf(all, sizeof(all), "%s%s%s", form,
	    form[0] != '\0' && fields != NULL && fields[0] != '\0' ? "&" : "",
	    fields != NULL ? fields : "");
	hreq(c, "POST", action, all, NULL, NULL, r);
}

/* The whole Set-Cookie value for cookie `name`, malloc'd, or NULL. */
static char *
set_cookie_for(const struct hresp *r, const char *name)
{
	const char	*p, *eol, *v;
	size_t		 nlen = strlen(name);
	char		*out;

	for (p = r->headers; *p != '\0'; p = *eol ? eol + 1 : eol) {
		if ((eol = strchr(p, '\n')) == NULL)
			eol = p + strlen(p);
		if (strncasecmp(p, "Set-Cookie:", 11) != 0)
			continue;
		for (v = p + 11; *v == ' '; v++)
			;
		if (strncmp(v, name, nlen) == 0 && v[nlen] == '=') {
			if ((out = strndup(v, (size_t)(eol - v))) == NULL)
				abort();
			return out;
		}
	}
	return NULL;
}

static bool
contains_ci(const char *hay, const char *needle)
{
	size_t	 n = strlen(needle);

	for (; hay != NULL && *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

static void
assert_location(const struct hresp *r, const char *want)
{
	char	*loc = hresp_header(r, "Location");

	ck_assert_msg(r->status == 303, "want 303 to %s, got %ld", want,
	    r->status);
	ck_assert_msg(loc != NULL && strcmp(loc, want) == 0,
	    "want Location: %s, got %s", want, loc ? loc : "none");
	free(loc);
}

static void
assert_security_headers(const struct hresp *r, const char *what)
{
	char		*csp = hresp_header(r, "Content-Security-Policy");
	char		*h, *d;
	const char	*dir;

	ck_assert_msg(csp != NULL, "%s: no Content-Security-Policy", what);
	/* script-src governs scripts; without it, default-src does. */
	if ((dir = strstr(csp, "script-src")) == NULL)
		dir = strstr(csp, "default-src");
	ck_assert_msg(dir != NULL, "%s: CSP has neither script-src nor "
	    "default-src: %s", what, csp);
	if ((d = strndup(dir, strcspn(dir, ";"))) == NULL)
		abort();
	ck_assert_msg(strstr(d, "'unsafe-inline'") == NULL,
	    "%s: CSP allows inline script: %s", what, csp);
	free(d);
	free(csp);

	h = hresp_header(r, "X-Content-Type-Options");
	ck_assert_msg(h != NULL && strcasecmp(h, "nosniff") == 0,
	    "%s: X-Content-Type-Options is %s", what, h ? h : "absent");
	free(h);
	h = hresp_header(r, "X-Frame-Options");
	ck_assert_msg(h != NULL && strcasecmp(h, "DENY") == 0,
	    "%s: X-Frame-Options is %s", what, h ? h : "absent");
	free(h);
	h = hresp_header(r, "Referrer-Policy");
	ck_assert_msg(h != NULL && h[0] != '\0', "%s: no Referrer-Policy",
	    what);
	free(h);
}

/* Polls GET /readyz until it answers `want`, for at most timeout_ms. */
static void
wait_readyz(struct client *c, long want, int timeout_ms)
{
	struct timespec	 t0, t, pause = { 0, 100 * 1000000L };
	struct hresp	 r;
	long		 got, elapsed;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		hreq(c, "GET", "/readyz", NULL, NULL, NULL, &r);
		got = r.status;
		hresp_free(&r);
		if (got == want)
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
		elapsed = (t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000;
		ck_assert_msg(elapsed < timeout_ms, "/readyz: want %ld "
		    "within %d ms, still %ld", want, timeout_ms, got);
		nanosleep(&pause, NULL);
	}
}

/* --- suite auth --------------------------------------------------------- */

START_TEST(t_healthz)
{
	struct client	 c;
	struct hresp	 r;

	new_client(&c);
	hreq(&c, "GET", "/healthz", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strncmp(r.body, "ok", 2) == 0, "/healthz body: %s",
	    r.body);
	hresp_free(&r);
}
END_TEST

START_TEST(t_login_page)
{
	struct client	 c;
	struct hresp	 r;
	char		*v, *ck;

	new_client(&c);
	hreq(&c, "GET", "/login", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strstr(r.body, "id=\"login-form\"") != NULL &&
	    strstr(r.body, "action=\"/login\"") != NULL &&
	    contains_ci(r.body, "method=\"post\""),
	    "no <form id=\"login-form\" method=\"post\" action=\"/login\">:"
	    "\n%.2000s", r.body);
	ck_assert_msg(strstr(r.body, "id=\"email\"") != NULL &&
	    strstr(r.body, "id=\"password\"") != NULL,
	    "login form lacks id=email / id=password");
	ck_assert_msg((v = html_input_value(r.body, "email")) != NULL,
	    "no email input");
	free(v);
	ck_assert_msg((v = html_input_value(r.body, "password")) != NULL,
	    "no password input");
	free(v);
	ck_assert_msg((v = html_input_value(r.body, "next")) != NULL,
	    "no hidden next input");
	free(v);
	ck_assert_msg((v = html_csrf(r.body)) != NULL && v[0] != '\0',
	    "no _csrf value");
	free(v);
	ck_assert_msg(strstr(r.body, "Sign in") != NULL, "no Sign in button");
	ck = set_cookie_for(&r, "parley_pre");
	ck_assert_msg(ck != NULL, "GET /login sets no parley_pre cookie");
	ck_assert_msg(contains_ci(ck, "HttpOnly"), "parley_pre is not "
	    "HttpOnly: %s", ck);
	free(ck);
	assert_security_headers(&r, "GET /login");
	v = hresp_header(&r, "Content-Type");
	ck_assert_msg(v != NULL && contains_ci(v, "text/html"),
	    "/login Content-Type: %s", v ? v : "absent");
	free(v);
	hresp_free(&r);
}
END_TEST

START_TEST(t_root_redirects_to_login)
{
	struct client	 c;
	struct hresp	 r;

	new_client(&c);
	hreq(&c, "GET", "/", NULL, NULL, NULL, &r);
	assert_location(&r, "/login?next=%2F");
	hresp_free(&r);
}
END_TEST

START_TEST(t_login_ok)
{
	struct client	 c;
	struct hresp	 r;
	char		*ck, *csrf;

	new_client(&c);
	login_post(&c, OWNER_EMAIL, OWNER_PW, "", NULL, &r);
	assert_location(&r, "/");
	ck = set_cookie_for(&r, "parley_session");
	ck_assert_msg(ck != NULL, "no parley_session cookie after login");
	ck_assert_msg(contains_ci(ck, "Path=/") && contains_ci(ck, "HttpOnly")
	    && contains_ci(ck, "SameSite=Lax"),
	    "parley_session lacks Path=/, HttpOnly or SameSite=Lax: %s", ck);
	free(ck);
	hresp_free(&r);

	hreq(&c, "GET", "/", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strstr(r.body, "<h1>Dashboard</h1>") != NULL,
	    "no <h1>Dashboard</h1>:\n%.2000s", r.body);
	ck_assert_msg(strstr(r.body, OWNER_ORG) != NULL,
	    "the org name is not on the dashboard");
	ck_assert_msg(strstr(r.body, "action=\"/logout\"") != NULL &&
	    strstr(r.body, "Log out") != NULL, "no logout form");
	csrf = html_csrf(r.body);
	ck_assert_msg(csrf != NULL && csrf[0] != '\0',
	    "the dashboard's forms carry no _csrf");
	free(csrf);
	assert_security_headers(&r, "GET / (dashboard)");
	hresp_free(&r);
}
END_TEST

START_TEST(t_login_wrong_password)
{
	struct client	 c;
	struct hresp	 r;
	char		*ck;

	new_client(&c);
	login_post(&c, OWNER_EMAIL, "not-the-password", "", NULL, &r);
	ck_assert_int_eq(r.status, 401);
	ck_assert_msg(strstr(r.body, "Incorrect email or password.") != NULL,
	    "401 page without the sentence:\n%.2000s", r.body);
	ck = set_cookie_for(&r, "parley_session");
	ck_assert_msg(ck == NULL || strstr(ck, "parley_session=;") != NULL,
	    "a failed login set a session: %s", ck);
	free(ck);
	hresp_free(&r);
	ck_assert(!logged_in(&c));

	/* An unknown email gets the same answer: no account enumeration. */
	login_post(&c, "nobody@example.com", "whatever-password", "", NULL,
	    &r);
	ck_assert_int_eq(r.status, 401);
	ck_assert_msg(strstr(r.body, "Incorrect email or password.") != NULL,
	    "unknown email: different message:\n%.2000s", r.body);
	hresp_free(&r);
	ck_assert(!logged_in(&c));
}
END_TEST

START_TEST(t_login_csrf)
{
	struct client	 c;
	struct hresp	 r;
	char		 form[FORM_MAX];
	char		*csrf;

	new_client(&c);
	/* No token at all. */
	csrf = hpage_csrf(&c, "/login");
	form[0] = '\0';
	form_add(form, sizeof(form), "email", OWNER_EMAIL);
	form_add(form, sizeof(form), "password", OWNER_PW);
	hreq(&c, "POST", "/login", form, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	hresp_free(&r);
	ck_assert(!logged_in(&c));

	/* A wrong token. */
	form[0] = '\0';
	form_add(form, sizeof(form), "_csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	form_add(form, sizeof(form), "email", OWNER_EMAIL);
	form_add(form, sizeof(form), "password", OWNER_PW);
	hreq(&c, "POST", "/login", form, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	hresp_free(&r);
	ck_assert(!logged_in(&c));

	/* The right token without its parley_pre cookie (double submit). */
	c.cookies[0] = '\0';
	form[0] = '\0';
	form_add(form, sizeof(form), "_csrf", csrf);
	form_add(form, sizeof(form), "email", OWNER_EMAIL);
	form_add(form, sizeof(form), "password", OWNER_PW);
	hreq(&c, "POST", "/login", form, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	hresp_free(&r);
	ck_assert(!logged_in(&c));

	/* Another client's token with this client's cookie. */
	{
		struct client	 other;
		char		*other_csrf;

		new_client(&other);
		other_csrf = hpage_csrf(&other, "/login");
		free(hpage_csrf(&c, "/login"));
		form[0] = '\0';
		form_add(form, sizeof(form), "_csrf", other_csrf);
		form_add(form, sizeof(form), "email", OWNER_EMAIL);
		form_add(form, sizeof(form), "password", OWNER_PW);
		hreq(&c, "POST", "/login", form, NULL, NULL, &r);
		ck_assert_msg(r.status == 403, "another client's token: want "
		    "403, got %ld", r.status);
		hresp_free(&r);
		free(other_csrf);
	}
	ck_assert(!logged_in(&c));
	free(csrf);
}
END_TEST

START_TEST(t_login_origin)
{
	struct client	 c;
	struct hresp	 r;
	char		 same[128];
	const char	*evil[] = { "Origin: https://evil.example", NULL };
	const char	*ok[] = { same, NULL };

	new_client(&c);
	login_post(&c, OWNER_EMAIL, OWNER_PW, "", evil, &r);
	ck_assert_msg(r.status == 403, "cross-site Origin: want 403, got %ld",
	    r.status);
	hresp_free(&r);
	ck_assert(!logged_in(&c));

	snprintf(same, sizeof(same), "Origin: %s", cur->srv.base);
	login_post(&c, OWNER_EMAIL, OWNER_PW, "", ok, &r);
	assert_location(&r, "/");
	hresp_free(&r);
	ck_assert(logged_in(&c));

	/* A logged-in POST from another site is refused too. */
	{
		char	 form[FORM_MAX] = "";
		char	*csrf = hpage_csrf(&c, "/");

		form_add(form, sizeof(form), "_csrf", csrf);
		free(csrf);
		hreq(&c, "POST", "/logout", form, NULL, evil, &r);
		ck_assert_msg(r.status == 403, "cross-site logout: want 403, "
		    "got %ld", r.status);
		hresp_free(&r);
	}
	ck_assert(logged_in(&c));
}
END_TEST

START_TEST(t_logout_csrf)
{
	struct client	 c;
	struct hresp	 r;

	new_client(&c);
	login_ok(&c, OWNER_EMAIL, OWNER_PW);
	post_csrf_form(&c, "/", "/logout", "", NULL, &r);
	ck_assert_msg(r.status == 403, "logout without token: want 403, got "
	    "%ld", r.status);
	hresp_free(&r);
	ck_assert_msg(logged_in(&c), "logout without a token logged out");

	post_csrf_form(&c, "/", "/logout", "bm90LXRoZS10b2tlbi1hdC1hbGwtMTIzNDU2",
	    NULL, &r);
	ck_assert_msg(r.status == 403, "logout with a wrong token: want 403, "
	    "got %ld", r.status);
	hresp_free(&r);
	ck_assert_msg(logged_in(&c), "logout with a wrong token logged out");
}
END_TEST

START_TEST(t_logout_ends_session)
{
	struct client	 c, old;
	struct hresp	 r;
	char		*loc;

	new_client(&c);
	login_ok(&c, OWNER_EMAIL, OWNER_PW);
	old = c;
	post_csrf_form(&c, "/", "/logout", NULL, NULL, &r);
	ck_assert_msg(r.status == 303, "logout: want 303, got %ld", r.status);
	loc = hresp_header(&r, "Location");
	ck_assert_msg(loc != NULL && strncmp(loc, "/login", 6) == 0,
	    "logout goes to %s, want /login", loc ? loc : "nowhere");
	free(loc);
	hresp_free(&r);
	ck_assert(!logged_in(&c));
	/* The cookie from before the logout is dead on the server too. */
	ck_assert_msg(!logged_in(&old), "the old session cookie still works "
	    "after logout");
}
END_TEST

START_TEST(t_password_csrf)
{
	struct client	 c, fresh;
	struct hresp	 r;
	char		 fields[FORM_MAX] = "";

	huser_create(&cur->pg, "csrf-pw@example.com", "CsrfOrg", "member",
	    "first-password-123");
	new_client(&c);
	login_ok(&c, "csrf-pw@example.com", "first-password-123");
	form_add(fields, sizeof(fields), "current_password",
	    "first-password-123");
	form_add(fields, sizeof(fields), "new_password", "second-password-456");
	form_add(fields, sizeof(fields), "confirm_password",
	    "second-password-456");
	post_csrf_form(&c, "/settings/password", "/settings/password", "",
	    fields, &r);
	ck_assert_msg(r.status == 403, "password change without token: want "
	    "403, got %ld", r.status);
	hresp_free(&r);
	post_csrf_form(&c, "/settings/password", "/settings/password",
	    "d3JvbmctdG9rZW4td3JvbmctdG9rZW4", fields, &r);
	ck_assert_msg(r.status == 403, "password change with a wrong token: "
	    "want 403, got %ld", r.status);
	hresp_free(&r);

	new_client(&fresh);
	login_ok(&fresh, "csrf-pw@example.com", "first-password-123");
	ck_assert(logged_in(&c));
}
END_TEST

START_TEST(t_change_password)
{
	struct client	 a, b, n;
	struct hresp	 r;
	char		 f[FORM_MAX];

	huser_create(&cur->pg, "change-pw@example.com", "PwOrg", "member",
	    "first-password-123");
	new_client(&a);
	new_client(&b);
	login_ok(&a, "change-pw@example.com", "first-password-123");
	login_ok(&b, "change-pw@example.com", "first-password-123");

	/* Wrong current password. */
	f[0] = '\0';
	form_add(f, sizeof(f), "current_password", "not-my-password-1");
	form_add(f, sizeof(f), "new_password", "second-password-456");
	form_add(f, sizeof(f), "confirm_password", "second-password-456");
	post_csrf_form(&a, "/settings/password", "/settings/password", NULL,
	    f, &r);
	ck_assert_msg(r.status == 422, "wrong current password: want 422, "
	    "got %ld", r.status);
	ck_assert_msg(strstr(r.body, "current_password") != NULL,
	    "the 422 page does not show the form again");
	hresp_free(&r);

	/* Too short. */
	f[0] = '\0';
	form_add(f, sizeof(f), "current_password", "first-password-123");
	form_add(f, sizeof(f), "new_password", "short-pw");
	form_add(f, sizeof(f), "confirm_password", "short-pw");
	post_csrf_form(&a, "/settings/password", "/settings/password", NULL,
	    f, &r);
	ck_assert_msg(r.status == 422, "8-char new password: want 422, got "
	    "%ld", r.status);
	hresp_free(&r);

	/* Confirmation differs. */
	f[0] = '\0';
	form_add(f, sizeof(f), "current_password", "first-password-123");
	form_add(f, sizeof(f), "new_password", "second-password-456");
	form_add(f, sizeof(f), "confirm_password", "second-password-457");
	post_csrf_form(&a, "/settings/password", "/settings/password", NULL,
	    f, &r);
	ck_assert_msg(r.status == 422, "mismatched confirmation: want 422, "
	    "got %ld", r.status);
	hresp_free(&r);

	/* Nothing changed so far. */
	new_client(&n);
	login_ok(&n, "change-pw@example.com", "first-password-123");
	ck_assert(logged_in(&b));

	/* The real change. */
	f[0] = '\0';
	form_add(f, sizeof(f), "current_password", "first-password-123");
	form_add(f, sizeof(f), "new_password", "second-password-456");
	form_add(f, sizeof(f), "confirm_password", "second-password-456");
	post_csrf_form(&a, "/settings/password", "/settings/password", NULL,
	    f, &r);
	assert_location(&r, "/settings/password");
	hresp_free(&r);

	ck_assert_msg(logged_in(&a), "changing the password ended the "
	    "session that changed it");
	ck_assert_msg(!logged_in(&b), "another session of the user survived "
	    "the password change");
	ck_assert_msg(!logged_in(&n), "a third session of the user survived "
	    "the password change");

	new_client(&n);
	login_post(&n, "change-pw@example.com", "first-password-123", "", NULL,
	    &r);
	ck_assert_msg(r.status == 401, "old password after change: want 401, "
	    "got %ld", r.status);
	hresp_free(&r);
	login_ok(&n, "change-pw@example.com", "second-password-456");
}
END_TEST

START_TEST(t_next_redirect)
{
	static const struct {
		const char	*next;
		const char	*want;
	} cases[] = {
		{ "/settings/password", "/settings/password" },
		{ "//evil.com", "/" },
		{ "https://evil.com", "/" },
		{ "http://evil.com/", "/" },
		{ "/\\evil.com", "/" },
		{ "javascript:alert(1)", "/" },
		{ "evil.com", "/" },
	};
	struct client	 c;
	struct hresp	 r;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		new_client(&c);
		login_post(&c, OWNER_EMAIL, OWNER_PW, cases[i].next, NULL, &r);
		ck_assert_msg(r.status == 303, "next=%s: want 303, got %ld",
		    cases[i].next, r.status);
		{
			char	*loc = hresp_header(&r, "Location");

			ck_assert_msg(loc != NULL &&
			    strcmp(loc, cases[i].want) == 0,
			    "next=%s: want Location %s, got %s",
			    cases[i].next, cases[i].want, loc ? loc : "none");
			free(loc);
		}
		hresp_free(&r);
	}

	/* The login page carries next from its query into the form. */
	new_client(&c);
	hreq(&c, "GET", "/login?next=%2Fsettings%2Fpassword", NULL, NULL, NULL,
	    &r);
	ck_assert_int_eq(r.status, 200);
	{
		char	*v = html_input_value(r.body, "next");

		ck_assert_msg(v != NULL && strcmp(v, "/settings/password") == 0,
		    "hidden next is %s, want /settings/password",
		    v ? v : "absent");
		free(v);
	}
	hresp_free(&r);
}
END_TEST

START_TEST(t_body_limit)
{
	struct client	 c;
	struct hresp	 r;
	char		*body, *csrf;
	size_t		 n = 64 * 1024, off;

	new_client(&c);
	csrf = hpage_csrf(&c, "/login");
	if ((body = malloc(n + 512)) == NULL)
		abort();
	off = (size_t)snprintf(body, 512, "_csrf=%s&next=&password=x&email=",
	    csrf);
	memset(body + off, 'a', n);
	body[off + n] = '\0';
	free(csrf);
	hreq(&c, "POST", "/login", body, NULL, NULL, &r);
	free(body);
	ck_assert_msg(r.status == 413, "64 KiB login body: want 413, got %ld",
	    r.status);
	hresp_free(&r);
	ck_assert(!logged_in(&c));
}
END_TEST

START_TEST(t_security_headers)
{
	static const char *const paths[] = {
		"/login", "/no-such-page", "/static/app.css", "/healthz",
	};
	struct client	 c;
	struct hresp	 r;
	size_t		 i;

	new_client(&c);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		hreq(&c, "GET", paths[i], NULL, NULL, NULL, &r);
		ck_assert_msg(r.status == (i == 1 ? 404 : 200),
		    "GET %s: status %ld", paths[i], r.status);
		assert_security_headers(&r, paths[i]);
		hresp_free(&r);
	}
	login_ok(&c, OWNER_EMAIL, OWNER_PW);
	hreq(&c, "GET", "/settings/password", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	assert_security_headers(&r, "/settings/password");
	hresp_free(&r);
}
END_TEST

START_TEST(t_request_id)
{
	struct client	 c;
	struct hresp	 r;
	char		*a, *b;

	new_client(&c);
	hreq(&c, "GET", "/healthz", NULL, NULL, NULL, &r);
	a = hresp_header(&r, "X-Request-Id");
	hresp_free(&r);
	hreq(&c, "GET", "/healthz", NULL, NULL, NULL, &r);
	b = hresp_header(&r, "X-Request-Id");
	hresp_free(&r);
	ck_assert_msg(strcmp(a, b) != 0, "two requests share X-Request-Id %s",
	    a);
	free(a);
	free(b);
	/* Error answers carry one too (req() checks each). */
	hreq(&c, "POST", "/logout", "", NULL, NULL, &r);
	hresp_free(&r);
	hreq(&c, "DELETE", "/login", NULL, NULL, NULL, &r);
	ck_assert_msg(r.status == 405 || r.status == 404,
	    "DELETE /login: want 405 or 404, got %ld", r.status);
	hresp_free(&r);
	hreq(&c, "GET", "/api/v1/nope", NULL, NULL, NULL, &r);
	hresp_free(&r);
}
END_TEST

START_TEST(t_metrics)
{
	struct client	 c;
	struct hresp	 r;

	new_client(&c);
	hreq(&c, "GET", "/metrics", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strstr(r.body, "parley_http_requests_total") != NULL,
	    "/metrics lacks parley_http_requests_total:\n%.2000s", r.body);
	ck_assert_msg(strstr(r.body, "parley_db_pool") != NULL,
	    "/metrics lacks parley_db_pool:\n%.2000s", r.body);
	hresp_free(&r);
}
END_TEST

START_TEST(t_invalid_utf8)
{
	static const char *const bad[] = { "\xff\xfe", "\xc0\xaf", "a\x80z" };
	struct client	 c;
	struct hresp	 r;
	char		 f[FORM_MAX];
	size_t		 i;

	new_client(&c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f[0] = '\0';
		form_add(f, sizeof(f), "email", bad[i]);
		form_add(f, sizeof(f), "password", "whatever-password");
		post_csrf_form(&c, "/login", "/login", NULL, f, &r);
		ck_assert_msg(r.status == 400, "invalid UTF-8 #%zu in email: "
		    "want 400, got %ld", i, r.status);
		hresp_free(&r);
	}

	login_ok(&c, OWNER_EMAIL, OWNER_PW);
	f[0] = '\0';
	form_add(f, sizeof(f), "current_password", "\xff\xff\xff");
	form_add(f, sizeof(f), "new_password", "second-password-456");
	form_add(f, sizeof(f), "confirm_password", "second-password-456");
	post_csrf_form(&c, "/settings/password", "/settings/password", NULL,
	    f, &r);
	ck_assert_msg(r.status == 400, "invalid UTF-8 in a settings form: "
	    "want 400, got %ld", r.status);
	hresp_free(&r);
}
END_TEST

START_TEST(t_bad_percent)
{
	static const char *const bad[] = {
		"email=%ZZ&password=x", "email=abc%4&password=x",
		"email=abc&password=%",
	};
	struct client	 c;
	struct hresp	 r;
	size_t		 i;

	new_client(&c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		post_csrf_form(&c, "/login", "/login", NULL, bad[i], &r);
		ck_assert_msg(r.status == 400, "form \"%s\": want 400, got %ld",
		    bad[i], r.status);
		hresp_free(&r);
	}
	hreq(&c, "GET", "/login?next=%ZZ", NULL, NULL, NULL, &r);
	ck_assert_msg(r.status == 400, "GET /login?next=%%ZZ: want 400, got "
	    "%ld", r.status);
	hresp_free(&r);
	ck_assert(!logged_in(&c));
}
END_TEST

START_TEST(t_not_found_html)
{
	struct client	 c;
	struct hresp	 r;
	char		*ct;

	new_client(&c);
	hreq(&c, "GET", "/no/such/page", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	ct = hresp_header(&r, "Content-Type");
	ck_assert_msg(ct != NULL && contains_ci(ct, "text/html"),
	    "404 Content-Type: %s", ct ? ct : "absent");
	free(ct);
	ck_assert_msg(contains_ci(r.body, "<html") ||
	    contains_ci(r.body, "<!doctype html"), "404 is not an HTML page");
	hresp_free(&r);
}
END_TEST

START_TEST(t_not_found_json)
{
	static const char *const paths[] = { "/api/v1/nope", "/v1/nope" };
	struct client	 c;
	struct hresp	 r;
	cJSON		*j, *e, *code, *msg;
	char		*ct;
	size_t		 i;

	new_client(&c);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		hreq(&c, "GET", paths[i], NULL, NULL, NULL, &r);
		ck_assert_msg(r.status == 404, "GET %s: want 404, got %ld",
		    paths[i], r.status);
		ct = hresp_header(&r, "Content-Type");
		ck_assert_msg(ct != NULL && contains_ci(ct,
		    "application/json"), "%s: Content-Type %s", paths[i],
		    ct ? ct : "absent");
		free(ct);
		j = cJSON_Parse(r.body);
		ck_assert_msg(j != NULL, "%s: body is not JSON: %s", paths[i],
		    r.body);
		e = cJSON_GetObjectItemCaseSensitive(j, "error");
		code = cJSON_GetObjectItemCaseSensitive(e, "code");
		msg = cJSON_GetObjectItemCaseSensitive(e, "message");
		ck_assert_msg(cJSON_IsString(code) &&
		    strcmp(code->valuestring, "not_found") == 0,
		    "%s: error.code is not \"not_found\": %s", paths[i],
		    r.body);
		ck_assert_msg(cJSON_IsString(msg) &&
		    msg->valuestring[0] != '\0', "%s: no error.message: %s",
		    paths[i], r.body);
		cJSON_Delete(j);
		hresp_free(&r);
	}
}
END_TEST

START_TEST(t_idle_expiry)
{
	struct client	 c;
	struct hresp	 r;
	char		*v;

	new_client(&c);
	login_ok(&c, OWNER_EMAIL, OWNER_PW);
	ck_assert(logged_in(&c));
	v = hpg_sql(&cur->pg, "UPDATE sessions"
	    " SET last_seen_at = now() - interval '3 days'");
	ck_assert_msg(v != NULL, "cannot age sessions.last_seen_at");
	free(v);
	hreq(&c, "GET", "/", NULL, NULL, NULL, &r);
	ck_assert_msg(r.status == 303, "idle session: want 303, got %ld",
	    r.status);
	{
		char	*loc = hresp_header(&r, "Location");

		ck_assert_msg(loc != NULL && strncmp(loc, "/login", 6) == 0,
		    "idle session goes to %s", loc ? loc : "nowhere");
		free(loc);
	}
	hresp_free(&r);
}
END_TEST

START_TEST(t_absolute_expiry)
{
	struct client	 c;
	char		*v;

	new_client(&c);
	login_ok(&c, OWNER_EMAIL, OWNER_PW);
	ck_assert(logged_in(&c));
	/* Recently active, but past its absolute lifetime. */
	v = hpg_sql(&cur->pg, "UPDATE sessions"
	    " SET expires_at = now() - interval '1 minute',"
	    "     last_seen_at = now()");
	ck_assert_msg(v != NULL, "cannot set sessions.expires_at");
	free(v);
	ck_assert_msg(!logged_in(&c), "a session past expires_at still "
	    "works");
	/* A new login is unaffected. */
	login_ok(&c, OWNER_EMAIL, OWNER_PW);
	ck_assert(logged_in(&c));
}
END_TEST

START_TEST(t_sigterm_exits_zero)
{
	hserver_stop_clean(&cur->srv);
}
END_TEST

/* --- suite throttle ----------------------------------------------------- */

static void
assert_throttled(const struct hresp *r, const char *what)
{
	char	*ra = hresp_header(r, "Retry-After");
	char	*end = NULL;
	long	 secs;

	ck_assert_msg(r->status == 429, "%s: want 429, got %ld", what,
	    r->status);
	ck_assert_msg(ra != NULL, "%s: 429 without Retry-After", what);
	secs = strtol(ra, &end, 10);
	ck_assert_msg(end != ra && *end == '\0' && secs > 0 &&
	    secs <= 15 * 60, "%s: Retry-After %s is not 1..900 seconds",
	    what, ra);
	free(ra);
	ck_assert_msg(strstr(r->body, "Too many failed sign-in attempts") !=
	    NULL, "%s: 429 page without the sentence:\n%.2000s", what,
	    r->body);
}

START_TEST(t_throttle_per_email)
{
	struct client	 c, elsewhere;
	struct hresp	 r;
	char		*ck;
	int		 i;

	huser_create(&cur->pg, "victim@example.com", "VictimOrg", "member",
	    "victim-password-123");
	new_client(&c);
	client_set_source(&c, "127.0.0.2");
	for (i = 1; i <= 5; i++) {
		login_post(&c, "victim@example.com", "wrong-password-000", "",
		    NULL, &r);
		ck_assert_msg(r.status == 401, "failure %d: want 401, got %ld",
		    i, r.status);
		hresp_free(&r);
	}
	login_post(&c, "victim@example.com", "wrong-password-000", "", NULL,
	    &r);
	assert_throttled(&r, "6th failure");
	hresp_free(&r);

	/* Even the right password is refused while throttled... */
	login_post(&c, "victim@example.com", "victim-password-123", "", NULL,
	    &r);
	assert_throttled(&r, "right password while throttled");
	ck = set_cookie_for(&r, "parley_session");
	ck_assert_msg(ck == NULL || strstr(ck, "parley_session=;") != NULL,
	    "a throttled login set a session: %s", ck);
	free(ck);
	hresp_free(&r);
	ck_assert(!logged_in(&c));

	/* ...from any address: the limit is on the account. */
	new_client(&elsewhere);
	client_set_source(&elsewhere, "127.0.0.3");
	login_post(&elsewhere, "victim@example.com", "victim-password-123", "",
	    NULL, &r);
	assert_throttled(&r, "right password from another address");
	hresp_free(&r);

	/* The address was throttled for that email only, not for others. */
	login_ok(&elsewhere, OWNER_EMAIL, OWNER_PW);
}
END_TEST

START_TEST(t_throttle_per_address)
{
	const char	*xff[] = { "X-Forwarded-For: 203.0.113.9",
			    "X-Real-IP: 203.0.113.9", NULL };
	struct client	 c, other;
	struct hresp	 r;
	char		 email[64];
	int		 i;

	huser_create(&cur->pg, "bystander@example.com", "BystanderOrg",
	    "member", "bystander-password-1");
	new_client(&c);
	client_set_source(&c, "127.0.0.4");
	/* Five different (unknown) emails from one address. */
	for (i = 1; i <= 5; i++) {
		snprintf(email, sizeof(email), "spray%d@example.com", i);
		login_post(&c, email, "wrong-password-000", "", NULL, &r);
		ck_assert_msg(r.status == 401, "failure %d: want 401, got %ld",
		    i, r.status);
		hresp_free(&r);
	}
	login_post(&c, "spray6@example.com", "wrong-password-000", "", NULL,
	    &r);
	assert_throttled(&r, "6th failure from one address");
	hresp_free(&r);

	/* The address is throttled, even for a valid user's right password. */
	login_post(&c, "bystander@example.com", "bystander-password-1", "",
	    NULL, &r);
	assert_throttled(&r, "another account from the throttled address");
	hresp_free(&r);

	/* A forwarding header from the client does not buy a new address. */
	login_post(&c, "bystander@example.com", "bystander-password-1", "",
	    xff, &r);
	assert_throttled(&r, "throttled address with X-Forwarded-For");
	hresp_free(&r);

	/* The same account from a clean address is fine. */
	new_client(&other);
	client_set_source(&other, "127.0.0.5");
	login_ok(&other, "bystander@example.com", "bystander-password-1");
}
END_TEST

/* --- suite faults ------------------------------------------------------- */

START_TEST(t_readyz_follows_database)
{
	struct client	 c;
	struct hresp	 r;
	char		 f[FORM_MAX] = "";

	new_client(&c);
	wait_readyz(&c, 200, 5000);

	hpg_stop(&cur->pg);
	wait_readyz(&c, 503, 20000);
	/* Liveness does not depend on the database. */
	hreq(&c, "GET", "/healthz", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	hresp_free(&r);
	/* A page that needs the database answers 503, not 500. */
	form_add(f, sizeof(f), "email", OWNER_EMAIL);
	form_add(f, sizeof(f), "password", OWNER_PW);
	post_csrf_form(&c, "/login", "/login", NULL, f, &r);
	ck_assert_msg(r.status == 503, "POST /login with the database down: "
	    "want 503, got %ld", r.status);
	hresp_free(&r);

	hpg_restart(&cur->pg);
	wait_readyz(&c, 200, 30000);
	new_client(&c);
	login_ok(&c, OWNER_EMAIL, OWNER_PW);
	ck_assert(logged_in(&c));
}
END_TEST

/* --- suite cli ---------------------------------------------------------- */

START_TEST(t_cli_version)
{
	const char	*args[] = { "--version", NULL };
	char		*out = NULL;
	int		 st;
	const char	*p;

	st = hrun_parley(&cur->pg, args, NULL, &out);
	ck_assert_msg(st == 0, "parley --version exited %d:\n%s", st, out);
	for (p = out; *p != '\0'; p++)
		if (p[0] >= '0' && p[0] <= '9' && p[1] == '.')
			break;
	ck_assert_msg(*p != '\0', "parley --version prints no version: %s",
	    out);
	free(out);
}
END_TEST

START_TEST(t_cli_help)
{
	const char	*args[] = { "--help", NULL };
	char		*out = NULL;
	int		 st;

	st = hrun_parley(&cur->pg, args, NULL, &out);
	ck_assert_msg(st == 0, "parley --help exited %d:\n%s", st, out);
	ck_assert_msg(strstr(out, "serve") != NULL &&
	    strstr(out, "user") != NULL && strstr(out, "migrate") != NULL,
	    "parley --help does not list serve, migrate and user:\n%s", out);
	free(out);
}
END_TEST

START_TEST(t_cli_user_create)
{
	struct client	 c;
	struct hresp	 r;

	huser_create(&cur->pg, "new@example.com", "Acme", "owner",
	    "new-user-password-1");
	new_client(&c);
	login_ok(&c, "new@example.com", "new-user-password-1");
	hreq(&c, "GET", "/", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strstr(r.body, "Acme") != NULL, "the new owner's "
	    "dashboard does not show org Acme:\n%.2000s", r.body);
	ck_assert_msg(strstr(r.body, OWNER_ORG) == NULL, "the new owner "
	    "sees the first owner's organization");
	hresp_free(&r);
}
END_TEST

START_TEST(t_cli_bad_config)
{
	const char	*env[] = { "PARLEY_LISTEN=nonsense", NULL };
	const char	*args[] = { "serve", NULL };
	char		*out = NULL;
	int		 st;

	st = hrun_parley_env(&cur->pg, env, args, NULL, &out);
	ck_assert_msg(st != 0, "parley serve with PARLEY_LISTEN=nonsense "
	    "exited 0:\n%s", out);
	ck_assert_msg(st < 128, "parley serve with a bad config died of "
	    "signal %d:\n%s", st - 128, out);
	ck_assert_msg(strstr(out, "PARLEY_LISTEN") != NULL, "the error does "
	    "not name PARLEY_LISTEN:\n%s", out);
	free(out);
}
END_TEST

/* --- main --------------------------------------------------------------- */

static Suite *
auth_suite(void)
{
	Suite	*s = suite_create("auth");
	TCase	*tc = tcase_create("auth");

	tcase_add_unchecked_fixture(tc, auth_setup, auth_teardown);
	tcase_add_test(tc, t_healthz);
	tcase_add_test(tc, t_login_page);
	tcase_add_test(tc, t_root_redirects_to_login);
	tcase_add_test(tc, t_login_ok);
	tcase_add_test(tc, t_login_wrong_password);
	tcase_add_test(tc, t_login_csrf);
	tcase_add_test(tc, t_login_origin);
	tcase_add_test(tc, t_logout_csrf);
	tcase_add_test(tc, t_logout_ends_session);
	tcase_add_test(tc, t_password_csrf);
	tcase_add_test(tc, t_change_password);
	tcase_add_test(tc, t_next_redirect);
	tcase_add_test(tc, t_body_limit);
	tcase_add_test(tc, t_security_headers);
	tcase_add_test(tc, t_request_id);
	tcase_add_test(tc, t_metrics);
	tcase_add_test(tc, t_invalid_utf8);
	tcase_add_test(tc, t_bad_percent);
	tcase_add_test(tc, t_not_found_html);
	tcase_add_test(tc, t_not_found_json);
	/* These two rewrite every session row: keep them last. */
	tcase_add_test(tc, t_idle_expiry);
	tcase_add_test(tc, t_absolute_expiry);
	tcase_add_test(tc, t_sigterm_exits_zero);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *
throttle_suite(void)
{
	Suite	*s = suite_create("throttle");
	TCase	*tc = tcase_create("throttle");

	tcase_add_unchecked_fixture(tc, throttle_setup, throttle_teardown);
	tcase_add_test(tc, t_throttle_per_email);
	tcase_add_test(tc, t_throttle_per_address);
	tcase_add_test(tc, t_sigterm_exits_zero);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *
faults_suite(void)
{
	Suite	*s = suite_create("faults");
	TCase	*tc = tcase_create("faults");

	tcase_add_unchecked_fixture(tc, faults_setup, faults_teardown);
	tcase_add_test(tc, t_readyz_follows_database);
	tcase_add_test(tc, t_sigterm_exits_zero);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *
cli_suite(void)
{
	Suite	*s = suite_create("cli");
	TCase	*tc = tcase_create("cli");

	tcase_add_unchecked_fixture(tc, cli_setup, cli_teardown);
	tcase_add_test(tc, t_cli_version);
	tcase_add_test(tc, t_cli_help);
	tcase_add_test(tc, t_cli_user_create);
	tcase_add_test(tc, t_cli_bad_config);
	tcase_add_test(tc, t_sigterm_exits_zero);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int	 failed;

	failed = hrun_suites(auth_suite(), throttle_suite(), faults_suite(),
	    cli_suite(), NULL);

	/* A fixture whose setup failed had no teardown: clean up here. */
	hpg_finish(&fx_auth.pg, fx_auth.name);
	hpg_finish(&fx_throttle.pg, fx_throttle.name);
	hpg_finish(&fx_faults.pg, fx_faults.name);
	hpg_finish(&fx_cli.pg, fx_cli.name);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
