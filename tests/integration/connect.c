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
#include "harness/panel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>
#include <qrencode.h>

#include "chat/connect.h"
#include "chat/chats.h"
#include "chat/threads.h"
#include "db/db.h"
#include "util/arena.h"

/* This suite's cluster and server (tests/harness). */
#define sqli(...)		hpg_sqlf_int(&pg, __VA_ARGS__)
#define sqls(...)		hpg_sqlf(&pg, __VA_ARGS__)
#define wait_sql(want, ms, ...)	hpg_wait_int(&pg, want, ms, __VA_ARGS__)
#define api(...)		hapi(srv.base, __VA_ARGS__)

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
	struct hresp	 r;
	cJSON		*j;

	hpg_start(&pg);
	hserver_start(&srv, &pg, NULL);
	pool = db_pool_new(pg.conninfo, 4, 5000);
	ck_assert(pool != NULL);
	org_id = sqli("SELECT id FROM orgs WHERE name = '%s'", OWNER_ORG);
	ck_assert_msg(org_id > 0, "no organisation %s", OWNER_ORG);
	huser_create(&pg, OTHER_EMAIL, OTHER_ORG, "owner", OTHER_PW);
	other_org_id = sqli("SELECT id FROM orgs WHERE name = '%s'",
	    OTHER_ORG);
	ck_assert(other_org_id > 0);
	token = htoken_create(&pg, OWNER_EMAIL, "tests", "admin");
	other_token = htoken_create(&pg, OTHER_EMAIL, "other", "owner");
	agent_id = sqli("SELECT id FROM agents WHERE org_id = %lld AND "
	    "name = 'Assistant'", (long long)org_id);
	ck_assert_msg(agent_id > 0, "no seeded agent Assistant");

	api(token, "POST", "/api/v1/channels", "{\"kind\":\"twilio\","
	    "\"name\":\"Support line\",\"phoneNumber\":\"" TW_NUMBER "\","
	    "\"twilioAccountSid\":\"AC0123456789abcdef0123456789abcdef\","
	    "\"twilioAuthToken\":\"0123456789abcdef0123456789abcdef\"}", &r);
	ck_assert_msg(r.status == 201, "channel: %ld %s", r.status, r.body);
	j = hresp_json(&r);
	tw_id = (int64_t)cJSON_GetObjectItem(j, "id")->valuedouble;
	cJSON_Delete(j);
	hresp_free(&r);

	api(other_token, "POST", "/api/v1/agents", "{\"name\":\"Other bot\"}",
	    &r);
	ck_assert_msg(r.status == 201, "agent: %ld %s", r.status, r.body);
	j = hresp_json(&r);
	other_agent = (int64_t)cJSON_GetObjectItem(j, "id")->valuedouble;
	cJSON_Delete(j);
	hresp_free(&r);
	other_channel = sqli("SELECT id FROM channels WHERE org_id = %lld "
	    "AND kind = 'sandbox'", (long long)other_org_id);
	ck_assert(other_channel > 0);
	sandbox_id = sqli("SELECT id FROM channels WHERE org_id = %lld "
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
	free(token);
	free(other_token);
	token = other_token = NULL;
	db_pool_free(pool);
	pool = NULL;
	hpg_finish(&pg, "connect");
}

/* --- helpers ------------------------------------------------------------ */


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
	return sqls("SELECT code FROM connect_codes WHERE channel_id = %lld "
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
	/* A command only with one code-shaped token after it (issue 12:
	 * "connect me with sales" is a question for the model). */
	ck_assert(!connect_parse(a, "Connect", &code));
	ck_assert_ptr_null(code);
	ck_assert(!connect_parse(a, " connect   ", &code));
	ck_assert(!connect_parse(a, "connect \xf0\x9f\x98\x80", &code));
	ck_assert(!connect_parse(a, "connect me with someone from sales",
	    &code));
	ck_assert(!connect_parse(a, "connect PRL-AB12 please", &code));
	ck_assert(connect_parse(a, "connect br-12", &code));
	ck_assert_str_eq(code, "BR-12");
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

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/agents/%lld", (long long)agent_id);
	hget(&c, path, 200, &r);
	snprintf(want, sizeof(want), "href=\"/agents/%lld/integrations\"",
	    (long long)agent_id);
	hresp_has(&r, want, NULL);
	hresp_free(&r);

	snprintf(path, sizeof(path), "/agents/%lld/integrations",
	    (long long)agent_id);
	hget(&c, path, 200, &r);
	hresp_has(&r, "WhatsApp", NULL);
	snprintf(want, sizeof(want), "<option value=\"%lld\"",
	    (long long)sandbox_id);
	hresp_has(&r, want, NULL);
	snprintf(want, sizeof(want), "<option value=\"%lld\"",
	    (long long)tw_id);
	hresp_has(&r, want, NULL);
	ck_assert(strstr(r.body, "<svg") == NULL);
	hresp_free(&r);

	/* The Twilio channel: number, exact deep link, QR code. */
	snprintf(f, sizeof(f), "channel_id=%lld", (long long)tw_id);
	snprintf(want, sizeof(want), "/agents/%lld/connect-codes",
	    (long long)agent_id);
	hpost_form(&c, path, want, f, &r);
	ck_assert_msg(r.status == 303, "generate: %ld %s", r.status, r.body);
	loc = hresp_header(&r, "Location");
	ck_assert_str_eq(loc, path);
	free(loc);
	hresp_free(&r);
	code = latest_code(tw_id);
	assert_code_format(code);
	ck_assert_int_eq(sqli("SELECT count(*) FROM connect_codes WHERE "
	    "code = '%s' AND org_id = %lld AND agent_id = %lld AND "
	    "expires_at BETWEEN now() + interval '9 minutes' AND "
	    "now() + interval '10 minutes' AND used_at IS NULL AND "
	    "created_by IS NOT NULL", code, (long long)org_id,
	    (long long)agent_id), 1);
	hget(&c, path, 200, &r);
	hresp_has(&r, code, NULL);		/* and the flash names it */
	hresp_has(&r, "Connect code ", NULL);
	hresp_has(&r, TW_NUMBER, NULL);
	snprintf(want, sizeof(want), "href=\"https://wa.me/" TW_DIGITS
	    "?text=connect%%20%s\"", code);
	hresp_has(&r, want, NULL);
	hresp_has(&r, "Open in WhatsApp", NULL);
	hresp_has(&r, "<svg xmlns=\"http://www.w3.org/2000/svg\"", NULL);
	hresp_has(&r, "<path fill=\"#000\" d=\"M", NULL);
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
	hresp_has(&r, want, NULL);
	hresp_free(&r);
	free(code);

	/* The sandbox: no number, the text to send and the sandbox link. */
	snprintf(f, sizeof(f), "channel_id=%lld", (long long)sandbox_id);
	snprintf(want, sizeof(want), "/agents/%lld/connect-codes",
	    (long long)agent_id);
	hpost_form(&c, path, want, f, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	code = latest_code(sandbox_id);
	assert_code_format(code);
	hget(&c, path, 200, &r);
	snprintf(want, sizeof(want), "<code class=\"sandbox-text\">connect "
	    "%s</code>", code);
	hresp_has(&r, want, NULL);
	snprintf(want, sizeof(want), "href=\"/agents/%lld/sandbox\"",
	    (long long)agent_id);
	hresp_has(&r, want, NULL);
	hresp_free(&r);
	free(code);

	/* No channel: 422; another org's channel or agent: 404. */
	snprintf(want, sizeof(want), "/agents/%lld/connect-codes",
	    (long long)agent_id);
	hpost_form(&c, path, want, "", &r);
	ck_assert_int_eq(r.status, 422);
	hresp_has(&r, "Choose the channel", NULL);
	hresp_free(&r);
	snprintf(f, sizeof(f), "channel_id=%lld", (long long)other_channel);
	hpost_form(&c, path, want, f, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	snprintf(f, sizeof(f), "channel_id=%lld", (long long)tw_id);
	snprintf(want, sizeof(want), "/agents/%lld/connect-codes",
	    (long long)other_agent);
	hpost_form(&c, path, want, f, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	snprintf(want, sizeof(want), "/agents/%lld/integrations",
	    (long long)other_agent);
	hget(&c, want, 404, &r);
	hresp_free(&r);
	hget(&c, "/agents/999999/integrations", 404, &r);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM connect_codes WHERE "
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
	j = hresp_json(&r);
	code = hjstr(j, "code");
	assert_code_format(code);
	ck_assert_int_eq((int64_t)cJSON_GetObjectItem(j, "channelId")->
	    valuedouble, tw_id);
	ck_assert_str_eq(hjstr(j, "phoneNumber"), TW_NUMBER);
	snprintf(want, sizeof(want), "https://wa.me/" TW_DIGITS
	    "?text=connect%%20%s", code);
	ck_assert_str_eq(hjstr(j, "deepLink"), want);
	ck_assert_msg(strlen(hjstr(j, "expiresAt")) >= 20 &&
	    hjstr(j, "expiresAt")[10] == 'T', "expiresAt %s",
	    hjstr(j, "expiresAt"));
	ck_assert_ptr_null(cJSON_GetObjectItem(j, "qrSvg"));
	ck_assert_int_eq(sqli("SELECT count(*) FROM connect_codes WHERE "
	    "code = '%s' AND channel_id = %lld AND created_by IS NULL", code,
	    (long long)tw_id), 1);
	cJSON_Delete(j);
	hresp_free(&r);

	snprintf(body, sizeof(body), "{\"channelId\":%lld}",
	    (long long)sandbox_id);
	api(token, "POST", path, body, &r);
	ck_assert_int_eq(r.status, 201);
	j = hresp_json(&r);
	assert_code_format(hjstr(j, "code"));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "phoneNumber")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "deepLink")));
	cJSON_Delete(j);
	hresp_free(&r);

	api(token, "POST", path, "{}", &r);
	ck_assert_int_eq(r.status, 422);
	hresp_has(&r, "channelId", NULL);
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
	j = hresp_json(&r);
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
	j = hresp_json(&r);
	code = strdup(hjstr(j, "code"));
	cJSON_Delete(j);
	hresp_free(&r);
	code_id = sqli("SELECT id FROM connect_codes WHERE code = '%s' AND "
	    "channel_id = %lld", code, (long long)sandbox_id);

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/agents/%lld/sandbox",
	    (long long)agent_id);
	snprintf(want, sizeof(want), "connect %s", code);
	for (char *p = want; *p != '\0'; p++)	/* case does not matter */
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	form_add(f, sizeof(f), "message", want);
	hpost_form(&c, path, path, f, &r);
	ck_assert_msg(r.status == 303, "sandbox: %ld %s", r.status, r.body);
	hresp_free(&r);
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM chats WHERE "
	    "linked_code_id = %lld AND agent_id = %lld AND linked_at IS NOT "
	    "NULL", (long long)code_id, (long long)agent_id),
	    "the sandbox chat was not linked by %s", code);
	ck_assert_int_eq(sqli("SELECT count(*) FROM connect_codes WHERE "
	    "id = %lld AND used_at IS NOT NULL AND used_by_chat_id IS NOT "
	    "NULL", (long long)code_id), 1);
	chat_id = sqli("SELECT id FROM chats WHERE linked_code_id = %lld",
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
	j = hresp_json(&r);
	cJSON_ArrayForEach(d, cJSON_GetObjectItem(j, "data")) {
		if ((int64_t)cJSON_GetObjectItem(d, "chatId")->valuedouble !=
		    chat_id)
			continue;
		found = true;
		ck_assert_str_eq(hjstr(d, "code"), code);
		ck_assert_str_eq(hjstr(d, "kind"), "dm");
		ck_assert_int_eq((int64_t)cJSON_GetObjectItem(d, "channelId")->
		    valuedouble, sandbox_id);
		ck_assert(hjstr(d, "linkedAt")[0] != '\0');
		ck_assert(strncmp(hjstr(d, "externalId"), "sandbox:", 8) == 0);
	}
	ck_assert_msg(found, "chat %lld not listed: %s", (long long)chat_id,
	    r.body);
	cJSON_Delete(j);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/agents/%lld/integrations",
	    (long long)agent_id);
	hget(&c, path, 200, &r);
	snprintf(want, sizeof(want), "data-chat=\"%lld\"", (long long)chat_id);
	hresp_has(&r, want, NULL);
	snprintf(want, sizeof(want), "<code>%s</code>", code);
	hresp_has(&r, want, NULL);
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
	other = sqli("SELECT id FROM agents WHERE org_id = %lld AND name ="
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
	ck_assert_int_eq(sqli("SELECT count(*) FROM chats WHERE id = %lld "
	    "AND agent_id = %lld AND linked_code_id = %lld AND linked_at IS "
	    "NOT NULL", (long long)chat, (long long)agent_id, (long long)k.id),
	    1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM threads WHERE id = "
	    "%lld AND closed_at IS NOT NULL", (long long)thread), 1);
	ck_assert_int_eq(sqli("SELECT used_by_chat_id FROM connect_codes "
	    "WHERE id = %lld", (long long)k.id), chat);

	/* Single use: another chat gets "invalid", counted. */
	ck_assert_int_eq(redeem(chat2, tw_id, "+15557770002", k.code, NULL,
	    NULL), CONNECT_INVALID);
	ck_assert_int_eq(sqli("SELECT count(*) FROM connect_attempts WHERE "
	    "chat_id = %lld", (long long)chat2), 1);
	ck_assert_int_eq(sqli("SELECT COALESCE(agent_id, 0) FROM chats "
	    "WHERE id = %lld", (long long)chat2), 0);

	/* Expired: the clock moved in the database. */
	db = db_acquire(pool);
	ck_assert(db != NULL);
	ck_assert(connect_code_create(db, a, org_id, agent_id, tw_id, 0, &k) ==
	    DB_OK);
	db_release(db);
	free(sqls("UPDATE connect_codes SET expires_at = now() - interval "
	    "'1 minute' WHERE id = %lld", (long long)k.id));
	ck_assert_int_eq(redeem(chat2, tw_id, "+15557770002", k.code, NULL,
	    NULL), CONNECT_INVALID);
	ck_assert_int_eq(sqli("SELECT count(*) FROM connect_codes WHERE "
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
	ck_assert_int_eq(sqli("SELECT count(*) FROM connect_attempts WHERE "
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
	ck_assert_int_eq(sqli("SELECT count(*) FROM connect_attempts WHERE "
	    "chat_id = %lld AND sender = '+15557770011'", (long long)chat), 5);

	/* Locked: even the right code is not checked (nor counted). */
	ck_assert_int_eq(redeem(chat, tw_id, "+15557770011", k.code, NULL,
	    &minutes), CONNECT_LOCKED);
	ck_assert_msg(minutes >= 14 && minutes <= 15, "minutes %d", minutes);
	ck_assert_int_eq(sqli("SELECT count(*) FROM connect_codes WHERE "
	    "id = %lld AND used_at IS NULL", (long long)k.id), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM connect_attempts WHERE "
	    "chat_id = %lld", (long long)chat), 5);
	/* The same sender from another chat (a group) is locked too. */
	ck_assert_int_eq(redeem(chat2, tw_id, "+15557770011", k.code, NULL,
	    NULL), CONNECT_LOCKED);
	/* Another sender in that group is not. */
	ck_assert_int_eq(redeem(chat2, tw_id, "+15557770012", "PRL-FFFF",
	    NULL, NULL), CONNECT_INVALID);

	/* 10 minutes on, the lock is 5 minutes from its end… */
	free(sqls("UPDATE connect_attempts SET at = at - interval '10 minutes'"
	    " WHERE chat_id = %lld", (long long)chat));
	ck_assert_int_eq(redeem(chat, tw_id, "+15557770011", k.code, NULL,
	    &minutes), CONNECT_LOCKED);
	ck_assert_msg(minutes >= 4 && minutes <= 5, "minutes %d", minutes);
	/* …and once the window has passed, the code works. */
	free(sqls("UPDATE connect_attempts SET at = at - interval '6 minutes'"
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

	chat = sqli("SELECT id FROM chats WHERE external_id = "
	    "'+15557770001'");
	ck_assert(chat > 0);
	db = db_acquire(pool);
	ck_assert(db != NULL);
	ck_assert(chat_thread_for(db, org_id, chat, agent_id, 0, &thread) ==
	    DB_OK);
	db_release(db);

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/agents/%lld/integrations",
	    (long long)agent_id);
	/* Another organisation's agent, or a chat not linked to this
	 * agent: 404. */
	snprintf(action, sizeof(action), "/agents/%lld/chats/%lld/unlink",
	    (long long)other_agent, (long long)chat);
	hpost_form(&c, path, action, "", &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	snprintf(action, sizeof(action), "/agents/%lld/chats/999999/unlink",
	    (long long)agent_id);
	hpost_form(&c, path, action, "", &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	/* Without CSRF: refused by the router. */
	snprintf(action, sizeof(action), "/agents/%lld/chats/%lld/unlink",
	    (long long)agent_id, (long long)chat);
	hreq(&c, "POST", action, "", NULL, NULL, &r);
	ck_assert(r.status == 403 || r.status == 400);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT COALESCE(agent_id, 0) FROM chats "
	    "WHERE id = %lld", (long long)chat), agent_id);

	hpost_form(&c, path, action, "", &r);
	ck_assert_msg(r.status == 303, "unlink: %ld %s", r.status, r.body);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM chats WHERE id = %lld "
	    "AND agent_id IS NULL AND linked_at IS NULL AND linked_code_id IS "
	    "NULL", (long long)chat), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM threads WHERE id = "
	    "%lld AND closed_at IS NOT NULL", (long long)thread), 1);
	hget(&c, path, 200, &r);
	hresp_has(&r, "Chat unlinked.", NULL);
	snprintf(action, sizeof(action), "data-chat=\"%lld\"",
	    (long long)chat);
	ck_assert(strstr(r.body, action) == NULL);
	hresp_free(&r);
	/* Twice: no longer linked to this agent. */
	snprintf(action, sizeof(action), "/agents/%lld/chats/%lld/unlink",
	    (long long)agent_id, (long long)chat);
	hpost_form(&c, path, action, "", &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);

	/* The other organisation sees none of it. */
	hlogin(&c, srv.base, OTHER_EMAIL, OTHER_PW);
	hget(&c, path, 404, &r);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/agents/%lld/integrations",
	    (long long)other_agent);
	hget(&c, path, 200, &r);
	ck_assert(strstr(r.body, "+15557770") == NULL);
	hresp_has(&r, "id=\"no-chats\"", NULL);
	hresp_free(&r);
}
END_TEST

/* Last: a clean stop, and no sanitizer report from the server. */
START_TEST(t_sigterm_clean)
{
	hserver_stop_clean(&srv);
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
	int	 failed = hrun_suites(connect_suite(), NULL);

	/* A fixture whose setup failed had no teardown: clean up here. */
	cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
