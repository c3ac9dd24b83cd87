/*
 * channels: WhatsApp channels, the WhatsApp app API and the Jobs page,
 * over real HTTP against the real binary and a throwaway PostgreSQL
 * cluster.
 *
 * Every credential used here carries a canary ("canary" in the tokens,
 * "c0ffeec0ffee" in the Account SIDs, which must be hexadecimal). None may
 * ever come back: every response of this file is checked for them in one
 * place, req()/api(), so a page or JSON member added later that leaks one
 * fails here. The database (every column, ciphertexts included) and the
 * server log are searched for them too.
 *
 * One suite, one cluster, one server (CK_NOFORK; tests run in the order
 * added and share them). Key rotation restarts the server and comes late.
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

#define TW_SID		"AC0123c0ffeec0ffeec0ffeec0ffeeabcd"
#define TW_SID_MASK	"AC01\xe2\x80\xa6" "abcd"
#define TW_TOKEN	"tkn-canary-twilio-0123456789abcd"
#define TW_TOKEN_MASK	"tkn-\xe2\x80\xa6" "abcd"
#define TW_SID2		"AC9876c0ffeec0ffeec0ffeec0ffee5678"
#define TW_SID2_MASK	"AC98\xe2\x80\xa6" "5678"
#define TW_TOKEN2	"tkn-canary-second-0123456789wxyz"
#define TW_TOKEN2_MASK	"tkn-\xe2\x80\xa6" "wxyz"
#define META_ACCESS	"EAAG-canary-meta-access-token-xyz"
#define META_SECRET	"appsecret-canary-meta-0001"
#define META_VERIFY	"verify-canary-meta-0002"
#define META_VERIFY_MASK "ve\xe2\x80\xa6" "002"	/* 5 of 23 */
#define KAPSO_KEY	"kapso-key-canary-0003"
#define KAPSO_SECRET	"kapso-whsec-canary-0004"
#define FORM_MAX	8192

static void	 setup(void);
static void	 teardown(void);
static void	 cleanup(void);
static void	 meta_handshake(void);
static Suite	*channels_suite(void);

static struct hpg	 pg;
static struct hserver	 srv;
static char		*token;		/* admin token of OWNER_ORG */
static char		*other_token;	/* owner token of OTHER_ORG */
static int64_t		 org_id, other_org_id;
static int64_t		 ch_twilio;	/* OWNER_ORG's panel Twilio channel */
static int64_t		 ch_meta;	/* OWNER_ORG's panel Meta channel */

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
	ck_assert_msg(org_id > 0, "no organisation %s", OWNER_ORG);
	huser_create(&pg, OTHER_EMAIL, OTHER_ORG, "owner", OTHER_PW);
	other_org_id = sqli("SELECT id FROM orgs WHERE name = '%s'",
	    OTHER_ORG);
	ck_assert(other_org_id > 0);
	token = htoken_create(&pg, OWNER_EMAIL, "tests", "admin");
	other_token = htoken_create(&pg, OTHER_EMAIL, "other", "owner");
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
	hpg_finish(&pg, "channels");
}

/* --- helpers ------------------------------------------------------------ */

/* --- tests: sandbox ------------------------------------------------------ */

START_TEST(t_sandbox)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[128];
	int64_t		 sb;

	/* The first owner's org and the CLI-made one both have one. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM channels WHERE org_id ="
	    " %lld AND kind = 'sandbox'", (long long)org_id), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM channels WHERE org_id ="
	    " %lld AND kind = 'sandbox'", (long long)other_org_id), 1);
	sb = sqli("SELECT id FROM channels WHERE org_id = %lld AND kind ="
	    " 'sandbox'", (long long)org_id);

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	hget(&c, "/channels", 200, &r);
	hresp_has(&r, "Sandbox", NULL);
	hresp_has(&r, "href=\"/jobs\"", NULL);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/channels/%lld", (long long)sb);
	hget(&c, path, 200, &r);
	hresp_has(&r, "cannot be deleted", NULL);
	ck_assert(strstr(r.body, "Delete this channel") == NULL);
	hresp_free(&r);
	snprintf(path, sizeof(path), "/channels/%lld/delete", (long long)sb);
	hpost_form(&c, "/channels", path, "confirm=yes", &r);
	ck_assert_int_eq(r.status, 409);
	hresp_free(&r);

	snprintf(path, sizeof(path), "/api/v1/channels/%lld", (long long)sb);
	api(token, "DELETE", path, NULL, &r);
	ck_assert_int_eq(r.status, 409);
	hresp_free(&r);
	/* A second sandbox is refused. */
	api(token, "POST", "/api/v1/channels",
	    "{\"kind\":\"sandbox\",\"name\":\"Second\"}", &r);
	ck_assert_int_eq(r.status, 409);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM channels WHERE org_id ="
	    " %lld AND kind = 'sandbox'", (long long)org_id), 1);
}
END_TEST

/* --- tests: panel -------------------------------------------------------- */

START_TEST(t_panel_twilio)
{
	struct client	 c;
	struct hresp	 r;
	char		 f[FORM_MAX] = "", path[128], want[256];
	char		*v;

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	hget(&c, "/channels/new", 200, &r);
	hresp_has(&r, "/channels/new?kind=twilio", NULL);
	hresp_has(&r, "/channels/new?kind=meta", NULL);
	hresp_has(&r, "/channels/new?kind=kapso", NULL);
	hresp_free(&r);
	hget(&c, "/channels/new?kind=twilio", 200, &r);
	hresp_has(&r, "name=\"twilio_account_sid\"", NULL);
	hresp_has(&r, "name=\"twilio_auth_token\"", NULL);
	hresp_free(&r);
	hget(&c, "/channels/new?kind=nope", 404, &r);
	hresp_free(&r);

	/* The SID without the token: 422, and nothing typed comes back. */
	form_add(f, sizeof(f), "kind", "twilio");
	form_add(f, sizeof(f), "name", "Support line");
	form_add(f, sizeof(f), "phone_number", "whatsapp:+1 415 523 8886");
	form_add(f, sizeof(f), "twilio_account_sid", TW_SID);
	form_add(f, sizeof(f), "environment", "production");
	hpost_form(&c, "/channels/new?kind=twilio", "/channels", f, &r);
	ck_assert_msg(r.status == 422, "SID alone: %ld", r.status);
	hresp_has(&r, "Enter the Auth Token.", NULL);
	hresp_has(&r, "were not sent back", NULL);
	v = html_input_value(r.body, "twilio_account_sid");
	ck_assert(v == NULL || v[0] == '\0');
	free(v);
	hresp_free(&r);

	/* A bad number and a malformed SID. */
	f[0] = '\0';
	form_add(f, sizeof(f), "kind", "twilio");
	form_add(f, sizeof(f), "name", "Support line");
	form_add(f, sizeof(f), "phone_number", "4155238886");
	form_add(f, sizeof(f), "twilio_account_sid", "AC-canary-not-hex");
	form_add(f, sizeof(f), "twilio_auth_token", TW_TOKEN);
	hpost_form(&c, "/channels/new?kind=twilio", "/channels", f, &r);
	ck_assert_int_eq(r.status, 422);
	hresp_has(&r, "international format", NULL);
	hresp_has(&r, "32 hexadecimal", NULL);
	hresp_free(&r);

	f[0] = '\0';
	form_add(f, sizeof(f), "kind", "twilio");
	form_add(f, sizeof(f), "name", "Support line");
	form_add(f, sizeof(f), "phone_number", "whatsapp:+1 415 523 8886");
	form_add(f, sizeof(f), "twilio_account_sid", " " TW_SID " ");
	form_add(f, sizeof(f), "twilio_auth_token", TW_TOKEN);
	form_add(f, sizeof(f), "environment", "production");
	form_add(f, sizeof(f), "status", "connected");
	hpost_form(&c, "/channels/new?kind=twilio", "/channels", f, &r);
	ch_twilio = hlocation_id(&r, "/channels/");
	hresp_free(&r);
	v = sqls("SELECT phone_number || ' ' || environment || ' ' || status"
	    " FROM channels WHERE id = %lld", (long long)ch_twilio);
	ck_assert_str_eq(v, "+14155238886 production connected");
	free(v);

	snprintf(path, sizeof(path), "/channels/%lld", (long long)ch_twilio);
	hget(&c, path, 200, &r);
	hresp_has(&r, TW_SID_MASK, NULL);
	hresp_has(&r, TW_TOKEN_MASK, NULL);
	hresp_has(&r, "+14155238886", NULL);
	snprintf(want, sizeof(want), "%s/webhooks/whatsapp/twilio#rc=5&amp;"
	    "rp=all", srv.base);
	hresp_has(&r, want, NULL);
	snprintf(want, sizeof(want), "%s/webhooks/whatsapp/twilio/status",
	    srv.base);
	hresp_has(&r, want, NULL);
	hresp_has(&r, "connection override", NULL);
	hresp_has(&r, "Last verified delivery", NULL);
	hresp_has(&r, "No rejected requests", NULL);
	hresp_has(&r, "leave blank to keep", NULL);
	v = html_input_value(r.body, "twilio_auth_token");
	ck_assert(v != NULL && v[0] == '\0');
	free(v);
	hresp_free(&r);

	/* Update: the token alone is refused; blank keeps both. */
	f[0] = '\0';
	form_add(f, sizeof(f), "name", "Support line");
	form_add(f, sizeof(f), "phone_number", "+14155238886");
	form_add(f, sizeof(f), "twilio_auth_token", TW_TOKEN2);
	hpost_form(&c, path, path, f, &r);
	ck_assert_int_eq(r.status, 422);
	hresp_has(&r, "they change together", NULL);
	hresp_free(&r);
	f[0] = '\0';
	form_add(f, sizeof(f), "name", "Support line (EU)");
	form_add(f, sizeof(f), "phone_number", "+14155238886");
	form_add(f, sizeof(f), "environment", "production");
	form_add(f, sizeof(f), "status", "connected");
	hpost_form(&c, path, path, f, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	hget(&c, path, 200, &r);
	hresp_has(&r, "Support line (EU)", NULL);
	hresp_has(&r, TW_SID_MASK, NULL);
	hresp_has(&r, TW_TOKEN_MASK, NULL);
	hresp_free(&r);

	/* Both together replace both. */
	f[0] = '\0';
	form_add(f, sizeof(f), "name", "Support line (EU)");
	form_add(f, sizeof(f), "phone_number", "+14155238886");
	form_add(f, sizeof(f), "twilio_account_sid", TW_SID2);
	form_add(f, sizeof(f), "twilio_auth_token", TW_TOKEN2);
	form_add(f, sizeof(f), "environment", "production");
	form_add(f, sizeof(f), "status", "connected");
	hpost_form(&c, path, path, f, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	hget(&c, path, 200, &r);
	hresp_has(&r, TW_SID2_MASK, NULL);
	hresp_has(&r, TW_TOKEN2_MASK, NULL);
	hresp_free(&r);

	hget(&c, "/channels", 200, &r);
	hresp_has(&r, "Support line (EU)", NULL);
	hresp_has(&r, "Twilio", NULL);
	hresp_has(&r, "never", NULL);
	hresp_free(&r);
}
END_TEST

START_TEST(t_panel_meta_kapso)
{
	struct client	 c;
	struct hresp	 r;
	char		 f[FORM_MAX] = "", path[128], want[256];
	int64_t		 agent, kapso;

	agent = sqli("SELECT id FROM agents WHERE org_id = %lld"
	    " ORDER BY id LIMIT 1", (long long)org_id);
	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);

	/* Missing credentials on create. */
	form_add(f, sizeof(f), "kind", "meta");
	form_add(f, sizeof(f), "name", "Meta line");
	form_add(f, sizeof(f), "phone_number_id", "106540352242922");
	form_add(f, sizeof(f), "meta_access_token", META_ACCESS);
	hpost_form(&c, "/channels/new?kind=meta", "/channels", f, &r);
	ck_assert_int_eq(r.status, 422);
	hresp_has(&r, "Enter the app secret.", NULL);
	hresp_has(&r, "Enter the verify token.", NULL);
	hresp_free(&r);

	f[0] = '\0';
	form_add(f, sizeof(f), "kind", "meta");
	form_add(f, sizeof(f), "name", "Meta line");
	form_add(f, sizeof(f), "phone_number_id", "106540352242922");
	form_add(f, sizeof(f), "phone_number", "+1 555 078 3881");
	form_add(f, sizeof(f), "meta_access_token", META_ACCESS);
	form_add(f, sizeof(f), "meta_app_secret", META_SECRET);
	form_add(f, sizeof(f), "meta_verify_token", META_VERIFY);
	if (agent > 0) {
		char	 a[32];

		snprintf(a, sizeof(a), "%lld", (long long)agent);
		form_add(f, sizeof(f), "default_agent_id", a);
	}
	hpost_form(&c, "/channels/new?kind=meta", "/channels", f, &r);
	ch_meta = hlocation_id(&r, "/channels/");
	hresp_free(&r);
	snprintf(path, sizeof(path), "/channels/%lld", (long long)ch_meta);
	hget(&c, path, 200, &r);
	snprintf(want, sizeof(want), "%s/webhooks/whatsapp/meta", srv.base);
	hresp_has(&r, want, NULL);
	hresp_has(&r, META_VERIFY_MASK, NULL);
	hresp_has(&r, "+15550783881", NULL);
	hresp_free(&r);
	if (agent > 0)
		ck_assert_int_eq(sqli("SELECT default_agent_id FROM channels"
		    " WHERE id = %lld", (long long)ch_meta), agent);

	/* Another org's agent is not a choice. */
	f[0] = '\0';
	form_add(f, sizeof(f), "name", "Meta line");
	form_add(f, sizeof(f), "phone_number_id", "106540352242922");
	form_add(f, sizeof(f), "default_agent_id", "999999");
	hpost_form(&c, path, path, f, &r);
	ck_assert_int_eq(r.status, 422);
	hresp_has(&r, "Choose one of your agents.", NULL);
	hresp_free(&r);

	/* Kapso. */
	f[0] = '\0';
	form_add(f, sizeof(f), "kind", "kapso");
	form_add(f, sizeof(f), "name", "Kapso line");
	form_add(f, sizeof(f), "phone_number_id", "abc");
	form_add(f, sizeof(f), "kapso_api_key", KAPSO_KEY);
	form_add(f, sizeof(f), "kapso_webhook_secret", KAPSO_SECRET);
	hpost_form(&c, "/channels/new?kind=kapso", "/channels", f, &r);
	ck_assert_int_eq(r.status, 422);
	hresp_has(&r, "digits only", NULL);
	hresp_free(&r);
	f[0] = '\0';
	form_add(f, sizeof(f), "kind", "kapso");
	form_add(f, sizeof(f), "name", "Kapso line");
	form_add(f, sizeof(f), "phone_number_id", "777000111");
	form_add(f, sizeof(f), "kapso_api_key", KAPSO_KEY);
	form_add(f, sizeof(f), "kapso_webhook_secret", KAPSO_SECRET);
	hpost_form(&c, "/channels/new?kind=kapso", "/channels", f, &r);
	kapso = hlocation_id(&r, "/channels/");
	hresp_free(&r);
	snprintf(path, sizeof(path), "/channels/%lld", (long long)kapso);
	hget(&c, path, 200, &r);
	snprintf(want, sizeof(want), "%s/webhooks/whatsapp/kapso", srv.base);
	hresp_has(&r, want, NULL);
	snprintf(want, sizeof(want), "%s/webhooks/kapso/project", srv.base);
	hresp_has(&r, want, NULL);
	hresp_free(&r);

	/* The same number id again: 409 on the field. */
	hpost_form(&c, "/channels/new?kind=kapso", "/channels", f, &r);
	ck_assert_int_eq(r.status, 409);
	hresp_has(&r, "already connected to another channel", NULL);
	hresp_free(&r);

	/* Delete asks first. */
	snprintf(want, sizeof(want), "/channels/%lld/delete", (long long)kapso);
	hpost_form(&c, path, want, "", &r);
	ck_assert_int_eq(r.status, 200);
	hresp_has(&r, "Yes, delete", NULL);
	hresp_free(&r);
	hpost_form(&c, path, want, "confirm=yes", &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	hget(&c, path, 404, &r);
	hresp_free(&r);
}
END_TEST

/* Meta's handshake opens the sealed verify token of the channel above. */
static void
meta_handshake(void)
{
	struct client	 c;
	struct hresp	 r;

	client_init(&c, srv.base);
	hreq(&c, "GET", "/webhooks/whatsapp/meta?hub.mode=subscribe&"
	    "hub.verify_token=" META_VERIFY "&hub.challenge=1158201444", NULL,
	    NULL, NULL, &r);
	/* The challenge comes back; the token was in our own request. */
	ck_assert_msg(r.status == 200, "handshake: %ld %s", r.status, r.body);
	ck_assert_str_eq(r.body, "1158201444");
	hresp_free(&r);
	client_req(&c, "GET", "/webhooks/whatsapp/meta?hub.mode=subscribe&"
	    "hub.verify_token=wrong&hub.challenge=1", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	hresp_free(&r);
}

START_TEST(t_meta_verify_handshake)
{
	meta_handshake();
}
END_TEST

/* Forged deliveries show on the health panel; at most 50 are kept. */
START_TEST(t_webhook_health)
{
	struct client	 c, w;
	struct hresp	 r;
	const char	*headers[] = { "X-Twilio-Signature: bm90LXNpZ25lZA==",
			    NULL };
	char		 path[128];

	client_init(&w, srv.base);
	for (int i = 0; i < 55; i++) {
		client_req(&w, "POST", "/webhooks/whatsapp/twilio",
		    "To=whatsapp%3A%2B14155238886&From=whatsapp%3A%2B34600000009"
		    "&Body=hi&MessageSid=SM0000000000000000000000000000f00d",
		    "application/x-www-form-urlencoded", headers, &r);
		ck_assert_msg(r.status == 403, "forged webhook: %ld %s",
		    r.status, r.body);
		hresp_free(&r);
	}
	ck_assert_int_eq(sqli("SELECT count(*) FROM webhook_events WHERE"
	    " channel_id = %lld AND org_id = %lld", (long long)ch_twilio,
	    (long long)org_id), 50);
	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/channels/%lld", (long long)ch_twilio);
	hget(&c, path, 200, &r);
	hresp_has(&r, "Rejected requests", NULL);
	hresp_has(&r, "127.0.0.1", NULL);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM channels WHERE id ="
	    " %lld AND last_verified_at IS NULL", (long long)ch_twilio), 1);
}
END_TEST

/* --- tests: API ---------------------------------------------------------- */

START_TEST(t_api_channels)
{
	struct hresp	 r;
	cJSON		*j, *cred, *urls;
	char		 path[128], want[256];
	int64_t		 id;

	api(token, "GET", "/api/v1/channels", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	hresp_has(&r, "\"kind\":\"sandbox\"", NULL);
	hresp_has(&r, TW_SID2_MASK, NULL);
	hresp_free(&r);

	/* SID without token: 422 naming the member. */
	api(token, "POST", "/api/v1/channels", "{\"kind\":\"twilio\","
	    "\"name\":\"API line\",\"phoneNumber\":\"+447700900123\","
	    "\"twilioAccountSid\":\"" TW_SID "\"}", &r);
	ck_assert_int_eq(r.status, 422);
	hresp_has(&r, "\"twilioAuthToken\"", NULL);
	hresp_free(&r);
	api(token, "POST", "/api/v1/channels", "{\"kind\":\"twilio\","
	    "\"name\":7}", &r);
	ck_assert_int_eq(r.status, 400);
	hresp_free(&r);

	api(token, "POST", "/api/v1/channels", "{\"kind\":\"twilio\","
	    "\"name\":\"API line\",\"phoneNumber\":\"whatsapp:+447700900123\","
	    "\"twilioAccountSid\":\"" TW_SID "\",\"twilioAuthToken\":\""
	    TW_TOKEN "\"}", &r);
	ck_assert_msg(r.status == 201, "create: %ld %s", r.status, r.body);
	j = hresp_json(&r);
	id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "id"));
	ck_assert(id > 0);
	ck_assert_str_eq(hjstr(j, "phoneNumber"), "+447700900123");
	ck_assert_str_eq(hjstr(j, "status"), "pending");
	cred = cJSON_GetObjectItem(j, "credentials");
	ck_assert_str_eq(hjstr(cred, "twilioAccountSidHint"), TW_SID_MASK);
	ck_assert_str_eq(hjstr(cred, "twilioAuthTokenHint"), TW_TOKEN_MASK);
	urls = cJSON_GetObjectItem(j, "webhookUrls");
	snprintf(want, sizeof(want), "%s/webhooks/whatsapp/twilio#rc=5&rp=all",
	    srv.base);
	ck_assert_str_eq(hjstr(urls, "inbound"), want);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "lastVerifiedAt")));
	cJSON_Delete(j);
	hresp_free(&r);

	snprintf(path, sizeof(path), "/api/v1/channels/%lld", (long long)id);
	api(token, "PATCH", path, "{\"twilioAuthToken\":\"" TW_TOKEN2 "\"}",
	    &r);
	ck_assert_int_eq(r.status, 422);
	hresp_has(&r, "\"twilioAccountSid\"", NULL);
	hresp_free(&r);
	api(token, "PATCH", path, "{\"kind\":\"meta\"}", &r);
	ck_assert_int_eq(r.status, 422);
	hresp_free(&r);
	api(token, "PATCH", path, "{\"name\":\"API line 2\",\"status\":"
	    "\"disabled\",\"twilioAccountSid\":\"\"}", &r);
	ck_assert_msg(r.status == 200, "patch: %ld %s", r.status, r.body);
	j = hresp_json(&r);
	ck_assert_str_eq(hjstr(j, "name"), "API line 2");
	ck_assert_str_eq(hjstr(j, "status"), "disabled");
	ck_assert_str_eq(hjstr(cJSON_GetObjectItem(j, "credentials"),
	    "twilioAuthTokenHint"), TW_TOKEN_MASK);
	cJSON_Delete(j);
	hresp_free(&r);
	api(token, "GET", path, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	hresp_free(&r);

	/* Meta and Kapso. */
	api(token, "POST", "/api/v1/channels", "{\"kind\":\"meta\",\"name\":"
	    "\"API meta\",\"phoneNumberId\":\"200300400\",\"metaAccessToken\":"
	    "\"" META_ACCESS "\",\"metaAppSecret\":\"" META_SECRET "\","
	    "\"metaVerifyToken\":\"" META_VERIFY "\"}", &r);
	ck_assert_msg(r.status == 201, "meta: %ld %s", r.status, r.body);
	hresp_has(&r, "\"metaVerifyTokenHint\"", NULL);
	hresp_has(&r, "/webhooks/whatsapp/meta", NULL);
	hresp_free(&r);
	api(token, "POST", "/api/v1/channels", "{\"kind\":\"kapso\",\"name\":"
	    "\"API kapso\",\"phoneNumberId\":\"200300400\",\"kapsoApiKey\":"
	    "\"" KAPSO_KEY "\",\"kapsoWebhookSecret\":\"" KAPSO_SECRET "\"}",
	    &r);
	ck_assert_msg(r.status == 201, "kapso: %ld %s", r.status, r.body);
	j = hresp_json(&r);
	snprintf(path, sizeof(path), "/api/v1/channels/%lld", (long long)
	    cJSON_GetNumberValue(cJSON_GetObjectItem(j, "id")));
	cJSON_Delete(j);
	hresp_free(&r);
	api(token, "DELETE", path, NULL, &r);
	ck_assert_int_eq(r.status, 204);
	hresp_free(&r);
	api(token, "GET", path, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
}
END_TEST

/* A number is one channel across organisations. */
START_TEST(t_number_taken_by_other_org)
{
	struct hresp	 r;

	api(other_token, "POST", "/api/v1/channels", "{\"kind\":\"twilio\","
	    "\"name\":\"Mine\",\"phoneNumber\":\"+14155238886\","
	    "\"twilioAccountSid\":\"" TW_SID "\",\"twilioAuthToken\":\""
	    TW_TOKEN "\"}", &r);
	ck_assert_msg(r.status == 409, "taken number: %ld %s", r.status,
	    r.body);
	hresp_has(&r, "another channel", NULL);
	hresp_free(&r);
	api(other_token, "POST", "/api/v1/channels", "{\"kind\":\"meta\","
	    "\"name\":\"Mine\",\"phoneNumberId\":\"106540352242922\","
	    "\"metaAccessToken\":\"" META_ACCESS "\",\"metaAppSecret\":\""
	    META_SECRET "\",\"metaVerifyToken\":\"" META_VERIFY "\"}", &r);
	ck_assert_int_eq(r.status, 409);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM channels WHERE org_id ="
	    " %lld AND kind <> 'sandbox'", (long long)other_org_id), 0);
}
END_TEST

START_TEST(t_other_org_404)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[128], page[128];
	const char	*suffixes[] = { "", "/delete" };

	hlogin(&c, srv.base, OTHER_EMAIL, OTHER_PW);
	snprintf(path, sizeof(path), "/channels/%lld", (long long)ch_twilio);
	hget(&c, path, 404, &r);
	hresp_free(&r);
	snprintf(page, sizeof(page), "/channels");
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/channels/%lld%s",
		    (long long)ch_twilio, suffixes[i]);
		hpost_form(&c, page, path, "name=x&confirm=yes", &r);
		ck_assert_msg(r.status == 404, "POST %s as another org: %ld",
		    path, r.status);
		hresp_free(&r);
	}
	hget(&c, "/channels", 200, &r);
	ck_assert(strstr(r.body, "Support line") == NULL);
	hresp_free(&r);

	snprintf(path, sizeof(path), "/api/v1/channels/%lld",
	    (long long)ch_twilio);
	api(other_token, "GET", path, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	api(other_token, "PATCH", path, "{\"name\":\"mine\"}", &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	api(other_token, "DELETE", path, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	api(other_token, "GET", "/api/v1/channels", NULL, &r);
	ck_assert(strstr(r.body, "Support line") == NULL);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM channels WHERE id ="
	    " %lld AND name = 'Support line (EU)'", (long long)ch_twilio), 1);
}
END_TEST

/* --- tests: the WhatsApp app --------------------------------------------- */

START_TEST(t_whatsapp_app)
{
	struct hresp	 r;
	cJSON		*j;
	char		*v;
	int64_t		 agent;

	api(token, "GET", "/api/v1/whatsapp-app", NULL, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	api(token, "POST", "/api/v1/whatsapp-app", "{\"twilioNumber\":"
	    "\"+34600000001\",\"twilioAccountSid\":\"" TW_SID "\"}", &r);
	ck_assert_int_eq(r.status, 422);
	hresp_has(&r, "\"twilioAuthToken\"", NULL);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM agents WHERE org_id ="
	    " %lld AND name = 'WhatsApp app'", (long long)org_id), 0);

	api(token, "POST", "/api/v1/whatsapp-app", "{\"twilioNumber\":"
	    "\"+34600000001\",\"twilioAccountSid\":\"" TW_SID "\","
	    "\"twilioAuthToken\":\"" TW_TOKEN "\",\"systemPrompt\":\"You "
	    "answer for the bakery.\",\"enabledPluginIds\":[]}", &r);
	ck_assert_msg(r.status == 201, "create app: %ld %s", r.status,
	    r.body);
	j = hresp_json(&r);
	ck_assert_str_eq(hjstr(j, "twilioNumber"), "+34600000001");
	ck_assert_str_eq(hjstr(j, "twilioAccountSidHint"), TW_SID_MASK);
	ck_assert_str_eq(hjstr(j, "twilioAuthTokenHint"), TW_TOKEN_MASK);
	ck_assert_str_eq(hjstr(j, "systemPrompt"), "You answer for the "
	    "bakery.");
	ck_assert(cJSON_GetObjectItem(j, "twilioAuthToken") == NULL);
	agent = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j,
	    "agentId"));
	cJSON_Delete(j);
	hresp_free(&r);
	ck_assert(agent > 0);
	ck_assert_int_eq(sqli("SELECT default_agent_id FROM channels"
	    " WHERE org_id = %lld AND name = 'WhatsApp app'",
	    (long long)org_id), agent);

	api(token, "POST", "/api/v1/whatsapp-app", "{\"twilioNumber\":"
	    "\"+34600000002\",\"twilioAccountSid\":\"" TW_SID "\","
	    "\"twilioAuthToken\":\"" TW_TOKEN "\"}", &r);
	ck_assert_int_eq(r.status, 409);
	hresp_free(&r);

	api(token, "GET", "/api/v1/whatsapp-app", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	hresp_has(&r, "\"twilioAccountSidHint\"", NULL);
	hresp_has(&r, "\"twilioAuthTokenHint\"", NULL);
	hresp_free(&r);
	api(other_token, "GET", "/api/v1/whatsapp-app", NULL, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);

	/* PATCH: the pair or nothing; partial otherwise. */
	api(token, "PATCH", "/api/v1/whatsapp-app", "{\"twilioAccountSid\":"
	    "\"" TW_SID2 "\"}", &r);
	ck_assert_int_eq(r.status, 422);
	hresp_free(&r);
	api(token, "PATCH", "/api/v1/whatsapp-app", "{\"systemPrompt\":"
	    "\"Be brief.\",\"twilioAccountSid\":\"" TW_SID2 "\","
	    "\"twilioAuthToken\":\"" TW_TOKEN2 "\"}", &r);
	ck_assert_msg(r.status == 200, "patch app: %ld %s", r.status, r.body);
	j = hresp_json(&r);
	ck_assert_str_eq(hjstr(j, "systemPrompt"), "Be brief.");
	ck_assert_str_eq(hjstr(j, "twilioAccountSidHint"), TW_SID2_MASK);
	ck_assert_str_eq(hjstr(j, "twilioAuthTokenHint"), TW_TOKEN2_MASK);
	ck_assert_str_eq(hjstr(j, "twilioNumber"), "+34600000001");
	cJSON_Delete(j);
	hresp_free(&r);
	api(token, "PATCH", "/api/v1/whatsapp-app", "{\"twilioNumber\":"
	    "\"+34600000003\"}", &r);
	ck_assert_int_eq(r.status, 200);
	hresp_has(&r, "+34600000003", NULL);
	hresp_has(&r, "Be brief.", NULL);
	hresp_free(&r);
	v = sqls("SELECT system_prompt FROM agents WHERE id = %lld",
	    (long long)agent);
	ck_assert_str_eq(v, "Be brief.");
	free(v);
}
END_TEST

/* --- tests: jobs ---------------------------------------------------------- */

START_TEST(t_jobs)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[128];
	int64_t		 job, other_job;

	job = sqli("INSERT INTO jobs (org_id, kind, payload, status,"
	    " attempts, max_attempts, last_error)"
	    " VALUES (%lld, 'test.dead', '{}', 'dead', 5, 5,"
	    " 'provider said <no>') RETURNING id", (long long)org_id);
	other_job = sqli("INSERT INTO jobs (org_id, kind, payload, status,"
	    " attempts, max_attempts, last_error)"
	    " VALUES (%lld, 'test.other', '{}', 'dead', 5, 5,"
	    " 'other org failure') RETURNING id", (long long)other_org_id);
	ck_assert(job > 0 && other_job > 0);

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	hget(&c, "/jobs", 200, &r);
	hresp_has(&r, "test.dead", NULL);
	hresp_has(&r, "provider said &lt;no&gt;", NULL);
	hresp_has(&r, "5 of 5", NULL);
	snprintf(path, sizeof(path), "/jobs/%lld/retry", (long long)job);
	hresp_has(&r, path, NULL);
	ck_assert(strstr(r.body, "other org failure") == NULL);
	hresp_free(&r);

	hpost_form(&c, "/jobs", path, "", &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	hget(&c, "/jobs", 200, &r);
	hresp_has(&r, "queued again", NULL);
	hresp_free(&r);
	/* Retried: attempts start over (a worker may have claimed it). */
	ck_assert_int_eq(sqli("SELECT count(*) FROM jobs WHERE id = %lld"
	    " AND attempts < 5", (long long)job), 1);

	snprintf(path, sizeof(path), "/jobs/%lld/retry", (long long)other_job);
	hpost_form(&c, "/jobs", path, "", &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM jobs WHERE id = %lld"
	    " AND status = 'dead' AND attempts = 5", (long long)other_job), 1);
}
END_TEST

/* --- tests: key rotation (restarts the server) --------------------------- */

START_TEST(t_key_rotate)
{
	const char	*args[] = { "key", "rotate", NULL };
	struct hresp	 r;
	char		*out = NULL, *enc0, *enc1;
	int		 st;

	enc0 = sqls("SELECT string_agg(encode(meta_verify_token_enc, 'hex'),"
	    " ',' ORDER BY id) FROM channels WHERE kind = 'meta'");
	ck_assert_int_eq(hserver_stop(&srv), 0);
	st = hrun_parley(&pg, args, NULL, &out);
	ck_assert_msg(st == 0 && strstr(out, "Re-encrypted") != NULL,
	    "parley key rotate exited %d:\n%s", st, out);
	hassert_none("parley key", "rotate", out, secrets);
	free(out);
	enc1 = sqls("SELECT string_agg(encode(meta_verify_token_enc, 'hex'),"
	    " ',' ORDER BY id) FROM channels WHERE kind = 'meta'");
	ck_assert_str_ne(enc0, enc1);
	free(enc0);
	free(enc1);

	/* The restarted server opens the re-sealed credentials. */
	hserver_start(&srv, &pg, NULL);
	meta_handshake();
	api(token, "GET", "/api/v1/whatsapp-app", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	hresp_has(&r, TW_TOKEN2_MASK, NULL);
	hresp_free(&r);
}
END_TEST

/* --- tests: secrets at rest, log, clean stop (keep last) ----------------- */

START_TEST(t_secrets_at_rest)
{
	static const char *const cols[] = { "twilio_account_sid_enc",
	    "twilio_auth_token_enc", "meta_access_token_enc",
	    "meta_app_secret_enc", "meta_verify_token_enc",
	    "kapso_api_key_enc", "kapso_webhook_secret_enc" };

	ck_assert(sqli("SELECT count(*) FROM channels WHERE"
	    " twilio_auth_token_enc IS NOT NULL") >= 3);
	ck_assert_int_eq(sqli("SELECT count(*) FROM channels c WHERE"
	    " c::text ILIKE '%%canary%%' OR c::text ILIKE '%%c0ffeec0ffee%%'"),
	    0);
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		ck_assert_int_eq(sqli("SELECT count(*) FROM channels WHERE"
		    " position(convert_to('canary', 'UTF8') IN"
		    " coalesce(%s, ''::bytea)) > 0"
		    " OR position(convert_to('c0ffeec0ffee', 'UTF8') IN"
		    " coalesce(%s, ''::bytea)) > 0", cols[i], cols[i]), 0);
	}
	ck_assert_int_eq(sqli("SELECT count(*) FROM webhook_events WHERE"
	    " detail ILIKE '%%canary%%'"), 0);
}
END_TEST

START_TEST(t_clean_stop)
{
	/* Exit 0 under ASan/UBSan also means no leak and no report. */
	hserver_stop_clean(&srv);
	ck_assert_msg(!hserver_log_contains(&srv, "canary"), "the server "
	    "log holds a credential");
	ck_assert(!hserver_log_contains(&srv, "c0ffeec0ffee"));
}
END_TEST

/* --- main ---------------------------------------------------------------- */

static Suite *
channels_suite(void)
{
	Suite	*s = suite_create("channels");
	TCase	*tc = tcase_create("channels");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, t_sandbox);
	tcase_add_test(tc, t_panel_twilio);
	tcase_add_test(tc, t_panel_meta_kapso);
	tcase_add_test(tc, t_meta_verify_handshake);
	tcase_add_test(tc, t_webhook_health);
	tcase_add_test(tc, t_api_channels);
	tcase_add_test(tc, t_number_taken_by_other_org);
	tcase_add_test(tc, t_other_org_404);
	tcase_add_test(tc, t_whatsapp_app);
	tcase_add_test(tc, t_jobs);
	tcase_add_test(tc, t_key_rotate);
	tcase_add_test(tc, t_secrets_at_rest);
	tcase_add_test(tc, t_clean_stop);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int	 failed = hrun_suites(channels_suite(), NULL);

	/* A fixture whose setup failed had no teardown: clean up here. */
	cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
