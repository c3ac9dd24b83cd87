/*
 * tests/integration/connect.c: connect codes end to end. The real server
 * against a real PostgreSQL: codes made in the panel (Agent →
 * Integrations) and through the API, their format, the wa.me deep link
 * and the inline QR code; a code redeemed by sending "connect CODE" in the
 * sandbox chat (the reply job's command handler); and, in-process with a
 * pool on the same cluster, connect_redeem itself: single use, expiry
 * (the clock is moved in the database, never slept on), the guessing
 * limit counted in the database (seen from another connection) and its
 * end, unlinking. Another organisation's agent, channel or chat is a 404
 * everywhere.
 *
 * One suite, one cluster, one server (CK_NOFORK; tests run in the order
 * added and share them). Every wait is bounded.
 *
 * Set PARLEY_TEST_KEEP=1 to keep the cluster directory and logs.
 */
#include "harness/harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>
#include <qrencode.h>

#include "chat/connect.h"
#include "chat/threads.h"
#include "db/db.h"
#include "util/arena.h"

#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define OWNER_ORG	"My Organization"
#define OTHER_EMAIL	"other-owner@example.com"
#define OTHER_ORG	"Other Org"
#define OTHER_PW	"other-owner-password-1"
#define TW_NUMBER	"+14155238886"
#define TW_DIGITS	"14155238886"
#define FORM_MAX	8192
#define WAIT_MS		20000

static void	 setup(void);
static void	 teardown(void);
static void	 cleanup(void);
static char	*sqlf(const char *, ...) __attribute__((format(printf, 1, 2)));
static int64_t	 sql_int(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static bool	 wait_sql(int64_t, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	 req(struct client *, const char *, const char *,
		    const char *, struct hresp *);
static void	 get_page(struct client *, const char *, long, struct hresp *);
static void	 post_form(struct client *, const char *, const char *,
		    const char *, struct hresp *);
static void	 api(const char *, const char *, const char *, const char *,
		    struct hresp *);
static cJSON	*json_body(const struct hresp *);
static const char *jstr(const cJSON *, const char *);
static char	*make_token(const char *, const char *, const char *);
static void	 login(struct client *, const char *, const char *);
static void	 must_contain(const struct hresp *, const char *);
static void	 assert_code_format(const char *);
static char	*latest_code(int64_t);
static void	 assert_qr_matches(const char *, const char *);
static int64_t	 new_chat(const char *);
static enum connect_outcome redeem(int64_t, int64_t, const char *,
		    const char *, int64_t *, int *);
static Suite	*connect_suite(void);

static struct hpg	 pg;
static struct hserver	 srv;
static struct db_pool	*pool;
static bool		 pg_up;
static char		*token;		/* admin token of OWNER_ORG */
static char		*other_token;	/* owner token of OTHER_ORG */
static int64_t		 org_id, other_org_id;
static int64_t		 agent_id;	/* the seeded "Assistant" */
static int64_t		 other_agent;	/* OTHER_ORG's agent */
static int64_t		 sandbox_id, tw_id, other_channel;

/* --- fixture ------------------------------------------------------------ */

static void
setup(void)
{
	const char	*uargs[] = { "user", "create", "--email", OTHER_EMAIL,
			    "--org", OTHER_ORG, "--role", "owner", NULL };
	struct hresp	 r;
	cJSON		*j;
	char		*out = NULL;
	int		 st;

	hpg_start(&pg);
	pg_up = true;
	hserver_start(&srv, &pg, NULL);
	pool = db_pool_new(pg.conninfo, 4, 5000);
	ck_assert(pool != NULL);
	org_id = sql_int("SELECT id FROM orgs WHERE name = '%s'", OWNER_ORG);
	ck_assert_msg(org_id > 0, "no organisation %s", OWNER_ORG);
	st = hrun_parley(&pg, uargs, OTHER_PW "\n", &out);
	ck_assert_msg(st == 0, "parley user create exited %d:\n%s", st, out);
	free(out);
	other_org_id = sql_int("SELECT id FROM orgs WHERE name = '%s'",
	    OTHER_ORG);
	ck_assert(other_org_id > 0);
	token = make_token(OWNER_EMAIL, "tests", "admin");
	other_token = make_token(OTHER_EMAIL, "other", "owner");
	agent_id = sql_int("SELECT id FROM agents WHERE org_id = %lld AND "
	    "name = 'Assistant'", (long long)org_id);
	ck_assert_msg(agent_id > 0, "no seeded agent Assistant");

	api(token, "POST", "/api/v1/channels", "{\"kind\":\"twilio\","
	    "\"name\":\"Support line\",\"phoneNumber\":\"" TW_NUMBER "\","
	    "\"twilioAccountSid\":\"AC0123456789abcdef0123456789abcdef\","
	    "\"twilioAuthToken\":\"0123456789abcdef0123456789abcdef\"}", &r);
	ck_assert_msg(r.status == 201, "channel: %ld %s", r.status, r.body);
	j = json_body(&r);
	tw_id = (int64_t)cJSON_GetObjectItem(j, "id")->valuedouble;
	cJSON_Delete(j);
	hresp_free(&r);

	api(other_token, "POST", "/api/v1/agents", "{\"name\":\"Other bot\"}",
	    &r);
	ck_assert_msg(r.status == 201, "agent: %ld %s", r.status, r.body);
	j = json_body(&r);
	other_agent = (int64_t)cJSON_GetObjectItem(j, "id")->valuedouble;
	cJSON_Delete(j);
	hresp_free(&r);
	other_channel = sql_int("SELECT id FROM channels WHERE org_id = %lld "
	    "AND kind = 'sandbox'", (long long)other_org_id);
	ck_assert(other_channel > 0);
	sandbox_id = sql_int("SELECT id FROM channels WHERE org_id = %lld "
	    "AND kind = 'sandbox'", (long long)org_id);
	ck_assert(sandbox_id > 0);
}

static void
teardown(void)
{
	if (srv.pid > 0)
		(void)hserver_stop(&srv);
	cleanup();
}

/* Safe outside a test: never fails a Check test. */
static void
cleanup(void)
{
	const char	*keep = getenv("PARLEY_TEST_KEEP");

	free(token);
	free(other_token);
	token = other_token = NULL;
	db_pool_free(pool);
	pool = NULL;
	if (!pg_up)
		return;
	pg_up = false;
	if (keep != NULL && strcmp(keep, "1") == 0) {
		hpg_stop(&pg);
		fprintf(stderr, "connect: kept %s\n", pg.dir);
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

/* Polls the query (every 100 ms, at most ms) until it yields want. */
static bool
wait_sql(int64_t want, int ms, const char *fmt, ...)
{
	char	 sql[4096];
	va_list	 ap;

	va_start(ap, fmt);
	ck_assert((size_t)vsnprintf(sql, sizeof(sql), fmt, ap) < sizeof(sql));
	va_end(ap);
	for (int waited = 0; waited <= ms; waited += 100) {
		if (hpg_sql_int(&pg, sql) == want)
			return true;
		usleep(100 * 1000);
	}
	return false;
}

static void
req(struct client *c, const char *method, const char *path,
    const char *body, struct hresp *r)
{
	client_req(c, method, path, body, NULL, NULL, r);
	ck_assert_msg(r->status != 500, "%s %s answered 500:\n%.2000s",
	    method, path, r->body);
}

static void
get_page(struct client *c, const char *path, long want, struct hresp *r)
{
	req(c, "GET", path, NULL, r);
	ck_assert_msg(r->status == want, "GET %s: want %ld, got %ld:\n%.2000s",
	    path, want, r->status, r->body);
}

/* POSTs fields (form-encoded) plus a fresh _csrf from `page`. */
static void
post_form(struct client *c, const char *page, const char *action,
    const char *fields, struct hresp *r)
{
	struct hresp	 p;
	char		 all[2 * FORM_MAX] = "";
	char		*csrf;

	get_page(c, page, 200, &p);
	csrf = html_csrf(p.body);
	ck_assert_msg(csrf != NULL, "GET %s: no _csrf", page);
	hresp_free(&p);
	form_add(all, sizeof(all), "_csrf", csrf);
	free(csrf);
	if (fields != NULL && fields[0] != '\0') {
		ck_assert(strlen(all) + strlen(fields) + 2 < sizeof(all));
		strncat(all, "&", sizeof(all) - strlen(all) - 1);
		strncat(all, fields, sizeof(all) - strlen(all) - 1);
	}
	req(c, "POST", action, all, r);
}

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
}

static cJSON *
json_body(const struct hresp *r)
{
	cJSON	*j = cJSON_Parse(r->body);

	ck_assert_msg(j != NULL, "not JSON (%ld): %.2000s", r->status,
	    r->body);
	return j;
}

static const char *
jstr(const cJSON *o, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static char *
make_token(const char *email, const char *name, const char *role)
{
	const char	*args[] = { "token", "create", "--email", email,
			    "--name", name, "--role", role, NULL };
	char		*out = NULL, *tok;
	int		 st;

	st = hrun_parley(&pg, args, NULL, &out);
	ck_assert_msg(st == 0, "parley token create exited %d:\n%s", st, out);
	tok = strndup(out, strcspn(out, "\n"));
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

/* "PRL-" then 4 characters of the alphabet. */
static void
assert_code_format(const char *code)
{
	ck_assert_msg(strlen(code) == 8 && strncmp(code, "PRL-", 4) == 0,
	    "bad code \"%s\"", code);
	for (int i = 4; i < 8; i++)
		ck_assert_msg(strchr(CONNECT_ALPHABET, code[i]) != NULL,
		    "'%c' of %s is not in the alphabet", code[i], code);
}

/*
 * The page's QR <path> drawn back into modules equals libqrencode's
 * matrix for text (level M), shifted by the 4-module quiet zone.
 */
static void
assert_qr_matches(const char *html, const char *text)
{
	QRcode		*q;
	const char	*p;
	unsigned char	*dark;
	int		 w, x, y, n, n2, used;

	q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	ck_assert(q != NULL);
	w = q->width;
	dark = calloc((size_t)(w * w), 1);
	ck_assert(dark != NULL);
	p = strstr(html, "<path fill=\"#000\" d=\"");
	ck_assert(p != NULL);
	p += strlen("<path fill=\"#000\" d=\"");
	while (*p == 'M') {
		ck_assert(sscanf(p, "M%d %dh%dv1h-%dz%n", &x, &y, &n, &n2,
		    &used) == 4 && n == n2);
		x -= 4;
		y -= 4;
		ck_assert(x >= 0 && y >= 0 && y < w && n > 0 && x + n <= w);
		for (int i = 0; i < n; i++)
			dark[y * w + x + i] = 1;
		p += used;
	}
	ck_assert(*p == '"');
	for (int i = 0; i < w * w; i++)
		ck_assert_msg(dark[i] == (q->data[i] & 1), "module %d,%d "
		    "differs", i % w, i / w);
	free(dark);
	QRcode_free(q);
}

/* The newest code of the channel (malloc'd). */
static char *
latest_code(int64_t channel_id)
{
	return sqlf("SELECT code FROM connect_codes WHERE channel_id = %lld "
	    "ORDER BY id DESC LIMIT 1", (long long)channel_id);
}

/* A DM chat on the Twilio channel, not linked. */
static int64_t
new_chat(const char *external_id)
{
	struct db	*db = db_acquire(pool);
	int64_t		 id = 0;

	ck_assert(db != NULL);
	ck_assert(chat_link_agent(db, org_id, tw_id, external_id, false,
	    "", 0, &id) == DB_OK);
	db_release(db);
	return id;
}

static enum connect_outcome
redeem(int64_t chat_id, int64_t channel_id, const char *sender,
    const char *code, int64_t *agent, int *minutes)
{
	struct db		*db = db_acquire(pool);
	enum connect_outcome	 o;
	int64_t			 a, old;
	int			 m;

	ck_assert(db != NULL);
	ck_assert(connect_redeem(db, org_id, channel_id, chat_id, sender,
	    code, &o, &a, &old, &m) == DB_OK);
	ck_assert(!db->in_tx);
	db_release(db);
	if (agent != NULL)
		*agent = a;
	if (minutes != NULL)
		*minutes = m;
	return o;
}

/* --- tests: parsing ------------------------------------------------------ */

START_TEST(t_parse)
{
	struct arena	*a = arena_new();
	const char	*code;

	ck_assert(connect_parse(a, "connect PRL-AB12", &code));
	ck_assert_str_eq(code, "PRL-AB12");
	ck_assert(connect_parse(a, "  CONNECT\t prl-ab12 \n", &code));
	ck_assert_str_eq(code, "PRL-AB12");
	ck_assert(connect_parse(a, "Connect", &code));
	ck_assert_ptr_null(code);
	ck_assert(connect_parse(a, " connect   ", &code));
	ck_assert_ptr_null(code);
	ck_assert(connect_parse(a, "connect \xf0\x9f\x98\x80", &code));
	ck_assert_str_eq(code, "\xf0\x9f\x98\x80");
	ck_assert(!connect_parse(a, "connecting people", &code));
	ck_assert(!connect_parse(a, "please connect PRL-AB12", &code));
	ck_assert(!connect_parse(a, "", &code));
	arena_free(a);
}
END_TEST

/* --- tests: panel -------------------------------------------------------- */

START_TEST(t_panel_generate)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[160], f[256] = "", want[256], *code, *loc;
	QRcode		*q;

	login(&c, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/agents/%lld", (long long)agent_id);
	get_page(&c, path, 200, &r);
	snprintf(want, sizeof(want), "href=\"/agents/%lld/integrations\"",
	    (long long)agent_id);
	must_contain(&r, want);
	hresp_free(&r);

	snprintf(path, sizeof(path), "/agents/%lld/integrations",
	    (long long)agent_id);
	get_page(&c, path, 200, &r);
	must_contain(&r, "WhatsApp");
	snprintf(want, sizeof(want), "<option value=\"%lld\"",
	    (long long)sandbox_id);
	must_contain(&r, want);
	snprintf(want, sizeof(want), "<option value=\"%lld\"",
	    (long long)tw_id);
	must_contain(&r, want);
	ck_assert(strstr(r.body, "<svg") == NULL);
	hresp_free(&r);

	/* The Twilio channel: number, exact deep link, QR code. */
	snprintf(f, sizeof(f), "channel_id=%lld", (long long)tw_id);
	snprintf(want, sizeof(want), "/agents/%lld/connect-codes",
	    (long long)agent_id);
	post_form(&c, path, want, f, &r);
	ck_assert_msg(r.status == 303, "generate: %ld %s", r.status, r.body);
	loc = hresp_header(&r, "Location");
	ck_assert_str_eq(loc, path);
	free(loc);
	hresp_free(&r);
	code = latest_code(tw_id);
	assert_code_format(code);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM connect_codes WHERE "
	    "code = '%s' AND org_id = %lld AND agent_id = %lld AND "
	    "expires_at BETWEEN now() + interval '9 minutes' AND "
	    "now() + interval '10 minutes' AND used_at IS NULL AND "
	    "created_by IS NOT NULL", code, (long long)org_id,
	    (long long)agent_id), 1);
	get_page(&c, path, 200, &r);
	must_contain(&r, code);		/* and the flash names it */
	must_contain(&r, "Connect code ");
	must_contain(&r, TW_NUMBER);
	snprintf(want, sizeof(want), "href=\"https://wa.me/" TW_DIGITS
	    "?text=connect%%20%s\"", code);
	must_contain(&r, want);
	must_contain(&r, "Open in WhatsApp");
	must_contain(&r, "<svg xmlns=\"http://www.w3.org/2000/svg\"");
	must_contain(&r, "<path fill=\"#000\" d=\"M");
	/* The QR code's size is that of the link's (level M) plus a quiet
	 * zone of 4 modules each side. */
	snprintf(want, sizeof(want), "https://wa.me/" TW_DIGITS
	    "?text=connect%%20%s", code);
	q = QRcode_encodeString(want, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	ck_assert(q != NULL);
	assert_qr_matches(r.body, want);
	snprintf(want, sizeof(want), "viewBox=\"0 0 %d %d\"", q->width + 8,
	    q->width + 8);
	QRcode_free(q);
	must_contain(&r, want);
	hresp_free(&r);
	free(code);

	/* The sandbox: no number, the text to send and the sandbox link. */
	snprintf(f, sizeof(f), "channel_id=%lld", (long long)sandbox_id);
	snprintf(want, sizeof(want), "/agents/%lld/connect-codes",
	    (long long)agent_id);
	post_form(&c, path, want, f, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	code = latest_code(sandbox_id);
	assert_code_format(code);
	get_page(&c, path, 200, &r);
	snprintf(want, sizeof(want), "<code class=\"sandbox-text\">connect "
	    "%s</code>", code);
	must_contain(&r, want);
	snprintf(want, sizeof(want), "href=\"/agents/%lld/sandbox\"",
	    (long long)agent_id);
	must_contain(&r, want);
	hresp_free(&r);
	free(code);

	/* No channel: 422; another org's channel or agent: 404. */
	snprintf(want, sizeof(want), "/agents/%lld/connect-codes",
	    (long long)agent_id);
	post_form(&c, path, want, "", &r);
	ck_assert_int_eq(r.status, 422);
	must_contain(&r, "Choose the channel");
	hresp_free(&r);
	snprintf(f, sizeof(f), "channel_id=%lld", (long long)other_channel);
	post_form(&c, path, want, f, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	snprintf(f, sizeof(f), "channel_id=%lld", (long long)tw_id);
	snprintf(want, sizeof(want), "/agents/%lld/connect-codes",
	    (long long)other_agent);
	post_form(&c, path, want, f, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	snprintf(want, sizeof(want), "/agents/%lld/integrations",
	    (long long)other_agent);
	get_page(&c, want, 404, &r);
	hresp_free(&r);
	get_page(&c, "/agents/999999/integrations", 404, &r);
	hresp_free(&r);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM connect_codes WHERE "
	    "org_id = %lld OR channel_id = %lld", (long long)other_org_id,
	    (long long)other_channel), 0);
}
END_TEST

/* --- tests: API ---------------------------------------------------------- */

START_TEST(t_api_generate)
{
	struct hresp	 r;
	cJSON		*j;
	char		 path[160], body[128], want[256];
	const char	*code;

	snprintf(path, sizeof(path), "/api/v1/agents/%lld/connect-codes",
	    (long long)agent_id);
	snprintf(body, sizeof(body), "{\"channelId\":%lld}", (long long)tw_id);
	api(token, "POST", path, body, &r);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	j = json_body(&r);
	code = jstr(j, "code");
	assert_code_format(code);
	ck_assert_int_eq((int64_t)cJSON_GetObjectItem(j, "channelId")->
	    valuedouble, tw_id);
	ck_assert_str_eq(jstr(j, "phoneNumber"), TW_NUMBER);
	snprintf(want, sizeof(want), "https://wa.me/" TW_DIGITS
	    "?text=connect%%20%s", code);
	ck_assert_str_eq(jstr(j, "deepLink"), want);
	ck_assert_msg(strlen(jstr(j, "expiresAt")) >= 20 &&
	    jstr(j, "expiresAt")[10] == 'T', "expiresAt %s",
	    jstr(j, "expiresAt"));
	ck_assert_ptr_null(cJSON_GetObjectItem(j, "qrSvg"));
	ck_assert_int_eq(sql_int("SELECT count(*) FROM connect_codes WHERE "
	    "code = '%s' AND channel_id = %lld AND created_by IS NULL", code,
	    (long long)tw_id), 1);
	cJSON_Delete(j);
	hresp_free(&r);

	snprintf(body, sizeof(body), "{\"channelId\":%lld}",
	    (long long)sandbox_id);
	api(token, "POST", path, body, &r);
	ck_assert_int_eq(r.status, 201);
	j = json_body(&r);
	assert_code_format(jstr(j, "code"));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "phoneNumber")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "deepLink")));
	cJSON_Delete(j);
	hresp_free(&r);

	api(token, "POST", path, "{}", &r);
	ck_assert_int_eq(r.status, 422);
	must_contain(&r, "channelId");
	hresp_free(&r);
	api(token, "POST", path, "{\"channelId\":\"x\"}", &r);
	ck_assert_int_eq(r.status, 400);
	hresp_free(&r);
	snprintf(body, sizeof(body), "{\"channelId\":%lld}",
	    (long long)other_channel);
	api(token, "POST", path, body, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	/* The other org's token on our agent, and on its own agent with our
	 * channel. */
	snprintf(body, sizeof(body), "{\"channelId\":%lld}", (long long)tw_id);
	api(other_token, "POST", path, body, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/agents/%lld/connect-codes",
	    (long long)other_agent);
	api(other_token, "POST", path, body, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/agents/%lld/chats",
	    (long long)agent_id);
	api(other_token, "GET", path, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	api(token, "GET", path, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	j = json_body(&r);
	ck_assert(cJSON_IsArray(cJSON_GetObjectItem(j, "data")));
	cJSON_Delete(j);
	hresp_free(&r);
}
END_TEST

/* --- tests: redeeming in the sandbox chat -------------------------------- */

START_TEST(t_sandbox_redeem)
{
	struct client	 c;
	struct hresp	 r;
	const cJSON	*d;
	cJSON		*j;
	char		 path[160], body[128], f[512] = "", want[256];
	char		*code;
	int64_t		 code_id, chat_id;
	bool		 found = false;

	snprintf(path, sizeof(path), "/api/v1/agents/%lld/connect-codes",
	    (long long)agent_id);
	snprintf(body, sizeof(body), "{\"channelId\":%lld}",
	    (long long)sandbox_id);
	api(token, "POST", path, body, &r);
	ck_assert_int_eq(r.status, 201);
	j = json_body(&r);
	code = strdup(jstr(j, "code"));
	cJSON_Delete(j);
	hresp_free(&r);
	code_id = sql_int("SELECT id FROM connect_codes WHERE code = '%s' AND "
	    "channel_id = %lld", code, (long long)sandbox_id);

	login(&c, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/agents/%lld/sandbox",
	    (long long)agent_id);
	snprintf(want, sizeof(want), "connect %s", code);
	for (char *p = want; *p != '\0'; p++)	/* case does not matter */
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	form_add(f, sizeof(f), "message", want);
	post_form(&c, path, path, f, &r);
	ck_assert_msg(r.status == 303, "sandbox: %ld %s", r.status, r.body);
	hresp_free(&r);
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM chats WHERE "
	    "linked_code_id = %lld AND agent_id = %lld AND linked_at IS NOT "
	    "NULL", (long long)code_id, (long long)agent_id),
	    "the sandbox chat was not linked by %s", code);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM connect_codes WHERE "
	    "id = %lld AND used_at IS NOT NULL AND used_by_chat_id IS NOT "
	    "NULL", (long long)code_id), 1);
	chat_id = sql_int("SELECT id FROM chats WHERE linked_code_id = %lld",
	    (long long)code_id);
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE chat_id = %lld AND direction = 'out' AND body LIKE "
	    "'Connected to ''Assistant''%%'", (long long)chat_id),
	    "no \"Connected to 'Assistant'\" reply");

	/* Listed as linked, with its code, in the API and the panel. */
	snprintf(path, sizeof(path), "/api/v1/agents/%lld/chats",
	    (long long)agent_id);
	api(token, "GET", path, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	j = json_body(&r);
	cJSON_ArrayForEach(d, cJSON_GetObjectItem(j, "data")) {
		if ((int64_t)cJSON_GetObjectItem(d, "chatId")->valuedouble !=
		    chat_id)
			continue;
		found = true;
		ck_assert_str_eq(jstr(d, "code"), code);
		ck_assert_str_eq(jstr(d, "kind"), "dm");
		ck_assert_int_eq((int64_t)cJSON_GetObjectItem(d, "channelId")->
		    valuedouble, sandbox_id);
		ck_assert(jstr(d, "linkedAt")[0] != '\0');
		ck_assert(strncmp(jstr(d, "externalId"), "sandbox:", 8) == 0);
	}
	ck_assert_msg(found, "chat %lld not listed: %s", (long long)chat_id,
	    r.body);
	cJSON_Delete(j);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/agents/%lld/integrations",
	    (long long)agent_id);
	get_page(&c, path, 200, &r);
	snprintf(want, sizeof(want), "data-chat=\"%lld\"", (long long)chat_id);
	must_contain(&r, want);
	snprintf(want, sizeof(want), "<code>%s</code>", code);
	must_contain(&r, want);
	/* A used code is no longer shown as active. */
	snprintf(want, sizeof(want), "data-code=\"%s\"", code);
	ck_assert(strstr(r.body, want) == NULL);
	hresp_free(&r);
	free(code);
}
END_TEST

/* --- tests: connect_redeem in-process ------------------------------------ */

START_TEST(t_redeem_once_and_expiry)
{
	struct db		*db;
	struct arena		*a = arena_new();
	struct connect_code	 k;
	struct hresp		 r;
	int64_t			 chat, chat2, agent, thread, other;
	char			 lower[16];

	api(token, "POST", "/api/v1/agents", "{\"name\":\"Second\"}", &r);
	ck_assert_msg(r.status == 201, "agent: %ld %s", r.status, r.body);
	hresp_free(&r);
	other = sql_int("SELECT id FROM agents WHERE org_id = %lld AND name ="
	    " 'Second'", (long long)org_id);
	ck_assert(other > 0);
	chat = new_chat("+15557770001");
	chat2 = new_chat("+15557770002");
	db = db_acquire(pool);
	ck_assert(db != NULL);
	/* An open thread with another agent: closed by the link. */
	ck_assert(chat_thread_for(db, org_id, chat, other, 0, &thread) ==
	    DB_OK);
	ck_assert(connect_code_create(db, a, org_id, agent_id, tw_id, 0, &k) ==
	    DB_OK);
	ck_assert(connect_code_create(db, a, org_id, other_agent, tw_id, 0,
	    &k) == DB_NOT_FOUND);
	ck_assert(connect_code_create(db, a, org_id, agent_id, other_channel,
	    0, &k) == DB_NOT_FOUND);
	ck_assert(connect_code_create(db, a, org_id, agent_id, tw_id, 0, &k) ==
	    DB_OK);
	db_release(db);
	assert_code_format(k.code);
	ck_assert_int_eq(k.seconds_left, CONNECT_TTL_S);

	snprintf(lower, sizeof(lower), "%s", k.code);
	lower[0] = (char)(lower[0] + 32);
	ck_assert_int_eq(redeem(chat, tw_id, "+15557770001", lower, &agent,
	    NULL), CONNECT_LINKED);
	ck_assert_int_eq(agent, agent_id);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM chats WHERE id = %lld "
	    "AND agent_id = %lld AND linked_code_id = %lld AND linked_at IS "
	    "NOT NULL", (long long)chat, (long long)agent_id, (long long)k.id),
	    1);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM threads WHERE id = "
	    "%lld AND closed_at IS NOT NULL", (long long)thread), 1);
	ck_assert_int_eq(sql_int("SELECT used_by_chat_id FROM connect_codes "
	    "WHERE id = %lld", (long long)k.id), chat);

	/* Single use: another chat gets "invalid", counted. */
	ck_assert_int_eq(redeem(chat2, tw_id, "+15557770002", k.code, NULL,
	    NULL), CONNECT_INVALID);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM connect_attempts WHERE "
	    "chat_id = %lld", (long long)chat2), 1);
	ck_assert_int_eq(sql_int("SELECT COALESCE(agent_id, 0) FROM chats "
	    "WHERE id = %lld", (long long)chat2), 0);

	/* Expired: the clock moved in the database. */
	db = db_acquire(pool);
	ck_assert(db != NULL);
	ck_assert(connect_code_create(db, a, org_id, agent_id, tw_id, 0, &k) ==
	    DB_OK);
	db_release(db);
	free(sqlf("UPDATE connect_codes SET expires_at = now() - interval "
	    "'1 minute' WHERE id = %lld", (long long)k.id));
	ck_assert_int_eq(redeem(chat2, tw_id, "+15557770002", k.code, NULL,
	    NULL), CONNECT_INVALID);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM connect_codes WHERE "
	    "id = %lld AND used_at IS NULL", (long long)k.id), 1);

	/* Bad formats are refused and not counted. */
	ck_assert_int_eq(redeem(chat2, tw_id, "+15557770002", "PRL-12", NULL,
	    NULL), CONNECT_BAD_FORMAT);
	ck_assert_int_eq(redeem(chat2, tw_id, "+15557770002",
	    "\xf0\x9f\x98\x80", NULL, NULL), CONNECT_BAD_FORMAT);
	ck_assert_int_eq(redeem(chat2, tw_id, "+15557770002", "PRL-ABCDE",
	    NULL, NULL), CONNECT_BAD_FORMAT);
	ck_assert_int_eq(redeem(chat2, tw_id, "+15557770002", "", NULL, NULL),
	    CONNECT_BAD_FORMAT);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM connect_attempts WHERE "
	    "chat_id = %lld", (long long)chat2), 2);

	/* A code of another channel does not work here. */
	db = db_acquire(pool);
	ck_assert(db != NULL);
	ck_assert(connect_code_create(db, a, org_id, agent_id, sandbox_id, 0,
	    &k) == DB_OK);
	db_release(db);
	ck_assert_int_eq(redeem(chat2, tw_id, "+15557770002", k.code, NULL,
	    NULL), CONNECT_INVALID);
	arena_free(a);
}
END_TEST

START_TEST(t_lockout)
{
	struct db		*db;
	struct arena		*a = arena_new();
	struct connect_code	 k;
	int64_t			 chat, chat2, agent;
	int			 minutes = 0;
	const char		*wrong[] = { "PRL-AAAA", "PRL-BBBB", "PRL-CCCC",
				    "PRL-DDDD", "PRL-EEEE" };

	chat = new_chat("+15557770011");
	chat2 = new_chat("group-lockout@g.us");
	db = db_acquire(pool);
	ck_assert(db != NULL);
	ck_assert(connect_code_create(db, a, org_id, agent_id, tw_id, 0, &k) ==
	    DB_OK);
	db_release(db);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(redeem(chat, tw_id, "+15557770011", wrong[i],
		    NULL, NULL), CONNECT_INVALID);
	/* Counted in the database: another connection sees all five. */
	ck_assert_int_eq(sql_int("SELECT count(*) FROM connect_attempts WHERE "
	    "chat_id = %lld AND sender = '+15557770011'", (long long)chat), 5);

	/* Locked: even the right code is not checked (nor counted). */
	ck_assert_int_eq(redeem(chat, tw_id, "+15557770011", k.code, NULL,
	    &minutes), CONNECT_LOCKED);
	ck_assert_msg(minutes >= 14 && minutes <= 15, "minutes %d", minutes);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM connect_codes WHERE "
	    "id = %lld AND used_at IS NULL", (long long)k.id), 1);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM connect_attempts WHERE "
	    "chat_id = %lld", (long long)chat), 5);
	/* The same sender from another chat (a group) is locked too. */
	ck_assert_int_eq(redeem(chat2, tw_id, "+15557770011", k.code, NULL,
	    NULL), CONNECT_LOCKED);
	/* Another sender in that group is not. */
	ck_assert_int_eq(redeem(chat2, tw_id, "+15557770012", "PRL-FFFF",
	    NULL, NULL), CONNECT_INVALID);

	/* 10 minutes on, the lock is 5 minutes from its end… */
	free(sqlf("UPDATE connect_attempts SET at = at - interval '10 minutes'"
	    " WHERE chat_id = %lld", (long long)chat));
	ck_assert_int_eq(redeem(chat, tw_id, "+15557770011", k.code, NULL,
	    &minutes), CONNECT_LOCKED);
	ck_assert_msg(minutes >= 4 && minutes <= 5, "minutes %d", minutes);
	/* …and once the window has passed, the code works. */
	free(sqlf("UPDATE connect_attempts SET at = at - interval '6 minutes'"
	    " WHERE chat_id = %lld", (long long)chat));
	ck_assert_int_eq(redeem(chat, tw_id, "+15557770011", k.code, &agent,
	    NULL), CONNECT_LINKED);
	ck_assert_int_eq(agent, agent_id);
	arena_free(a);
}
END_TEST

/* --- tests: unlink ------------------------------------------------------- */

START_TEST(t_unlink)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[160], action[160];
	int64_t		 chat, thread;
	struct db	*db;

	chat = sql_int("SELECT id FROM chats WHERE external_id = "
	    "'+15557770001'");
	ck_assert(chat > 0);
	db = db_acquire(pool);
	ck_assert(db != NULL);
	ck_assert(chat_thread_for(db, org_id, chat, agent_id, 0, &thread) ==
	    DB_OK);
	db_release(db);

	login(&c, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/agents/%lld/integrations",
	    (long long)agent_id);
	/* Another organisation's agent, or a chat not linked to this
	 * agent: 404. */
	snprintf(action, sizeof(action), "/agents/%lld/chats/%lld/unlink",
	    (long long)other_agent, (long long)chat);
	post_form(&c, path, action, "", &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	snprintf(action, sizeof(action), "/agents/%lld/chats/999999/unlink",
	    (long long)agent_id);
	post_form(&c, path, action, "", &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	/* Without CSRF: refused by the router. */
	snprintf(action, sizeof(action), "/agents/%lld/chats/%lld/unlink",
	    (long long)agent_id, (long long)chat);
	req(&c, "POST", action, "", &r);
	ck_assert(r.status == 403 || r.status == 400);
	hresp_free(&r);
	ck_assert_int_eq(sql_int("SELECT COALESCE(agent_id, 0) FROM chats "
	    "WHERE id = %lld", (long long)chat), agent_id);

	post_form(&c, path, action, "", &r);
	ck_assert_msg(r.status == 303, "unlink: %ld %s", r.status, r.body);
	hresp_free(&r);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM chats WHERE id = %lld "
	    "AND agent_id IS NULL AND linked_at IS NULL AND linked_code_id IS "
	    "NULL", (long long)chat), 1);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM threads WHERE id = "
	    "%lld AND closed_at IS NOT NULL", (long long)thread), 1);
	get_page(&c, path, 200, &r);
	must_contain(&r, "Chat unlinked.");
	snprintf(action, sizeof(action), "data-chat=\"%lld\"",
	    (long long)chat);
	ck_assert(strstr(r.body, action) == NULL);
	hresp_free(&r);
	/* Twice: no longer linked to this agent. */
	snprintf(action, sizeof(action), "/agents/%lld/chats/%lld/unlink",
	    (long long)agent_id, (long long)chat);
	post_form(&c, path, action, "", &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);

	/* The other organisation sees none of it. */
	login(&c, OTHER_EMAIL, OTHER_PW);
	get_page(&c, path, 404, &r);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/agents/%lld/integrations",
	    (long long)other_agent);
	get_page(&c, path, 200, &r);
	ck_assert(strstr(r.body, "+15557770") == NULL);
	must_contain(&r, "id=\"no-chats\"");
	hresp_free(&r);
}
END_TEST

/* Last: a clean stop, and no sanitizer report from the server. */
START_TEST(t_sigterm_clean)
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
connect_suite(void)
{
	Suite	*s = suite_create("connect");
	TCase	*tc = tcase_create("connect");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_parse);
	tcase_add_test(tc, t_panel_generate);
	tcase_add_test(tc, t_api_generate);
	tcase_add_test(tc, t_sandbox_redeem);
	tcase_add_test(tc, t_redeem_once_and_expiry);
	tcase_add_test(tc, t_lockout);
	tcase_add_test(tc, t_unlink);
	tcase_add_test(tc, t_sigterm_clean);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(connect_suite());
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* A fixture whose setup failed had no teardown: clean up here. */
	cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
