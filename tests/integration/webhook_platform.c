/*
 * webhook_platform: the WhatsApp platform changes of 2026 on the webhook
 * paths (issue 13; docs/whatsapp-platform.md §4, §8, §10), over real HTTP
 * against the real binary and a throwaway PostgreSQL cluster:
 *
 *   - Twilio Webhook Shared Keys: deliveries signed by the OFFICIAL twilio
 *     npm package (tests/node/twilio-sign.cjs runs twilio 6.3.1's
 *     getExpectedTwilioSignature; nothing here signs Twilio deliveries
 *     with Parley's own code), on the inbound and the status-callback
 *     path: a valid shared key, a wrong secret, a key the channel does not
 *     hold, rotation (old and new both accepted while both are live, the
 *     old one refused once removed), the classic Auth Token still valid,
 *     the two schemes never mixed, what the health panel says;
 *   - the keys through the panel form and the channels API (masked, never
 *     sent back, audited, scoped to the organisation) and through
 *     `parley key rotate`;
 *   - a Kapso batch flagged only by X-Webhook-Batch;
 *   - a Meta delivery naming no number: 403 unless it verifies;
 *   - the channel form's note on which assistants Meta's terms allow.
 *
 * Key changes reach the webhooks through webhooks/chancache.c within
 * CHANCACHE_TTL_MS (5 s): a test that changes keys polls the webhook until
 * it answers as it must, within KEY_WAIT_MS.
 *
 * One suite, one cluster, one server (CK_NOFORK, tests in the order
 * added). Every shared-key secret carries "canary": no panel or API answer
 * and not the server log may ever hold one.
 *
 * Set PARLEY_TEST_KEEP=1 to keep the cluster directory and logs.
 */
#include "harness/model.h"
#include "harness/panel.h"
#include "harness/webhook.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "crypto/hmac.h"
#include "crypto/secret.h"
#include "db/db.h"
#include "model/channel.h"
#include "model/fielderr.h"

#define sqli(...)	hpg_sqlf_int(&pg, __VA_ARGS__)
#define sqls(...)	hpg_sqlf(&pg, __VA_ARGS__)

#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define OTHER_EMAIL	"other-owner@example.com"
#define OTHER_PW	"other-owner-password-1"

#define TW_INBOUND	"/webhooks/whatsapp/twilio"
#define TW_STATUS	"/webhooks/whatsapp/twilio/status"
#define TW_NUMBER	"+14155238886"
#define TW_NOKEYS_NUMBER "+14155238887"
#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"0123456789abcdef0123456789abcdef"
#define USER		"whatsapp:+14155550100"

/* Shared keys: ids as Twilio's JSDoc example shows them. */
#define K1_ID		"webhooks_sharedkey_01"
#define K1_SECRET	"sk1-canary-Zq8w3mVb7LxN2pRt5yUc"
#define K1_HINT		"\xe2\x80\xa6" "5yUc"
#define K2_ID		"webhooks_sharedkey_02"
#define K2_SECRET	"sk2-canary-Hd4kQ9sXe1GjW6nBv0Ta"
#define K2_HINT		"\xe2\x80\xa6" "v0Ta"
#define K3_ID		"webhooks_sharedkey_03"
#define K3_SECRET	"sk3-canary-Pm7cR2tYf5LuA8eJk3Wq"
#define K3_HINT		"\xe2\x80\xa6" "k3Wq"
#define WRONG_SECRET	"sk9-canary-not-a-key-of-this-channel"

#define META_PNID	"106540352242922"
#define META_SECRET	"meta-app-secret-1"
#define KAPSO_PNID	"123456789012345"
#define KAPSO_SECRET	"kapso-webhook-secret-1"

#define KEY_WAIT_MS	(5000 + 3000)
#define NODE_TIMEOUT_S	120
#define BODY_MAX	16384
#define N_PARAMS	8

/* One Twilio delivery: what it carries and how it is signed. */
struct delivery {
	const char	*path;		/* TW_INBOUND or TW_STATUS */
	const char	*sid;		/* MessageSid */
	const char	*number;	/* our number: To, or From of a status */
	const char	*status;	/* MessageStatus (status callbacks) */
	const char	*secret;	/* signed with */
	const char	*key_id;	/* the shared key named; NULL: classic */
	const char	*settings;	/* replaces the settings header line */
	bool		 drop_settings;	/* signed as key_id, header left out */
	const char	*headers[3];	/* filled by sign(), NULL-terminated */
};

static void	 setup(void);
static void	 teardown(void);
static void	 cleanup(void);
static int	 params_of(const struct delivery *, const char *(*)[2]);
static void	 sign(struct delivery *, int);
static void	 unsign(struct delivery *, int);
static void	 deliver(const struct delivery *, struct hresp *);
static long	 deliver_status(const struct delivery *);
static bool	 deliver_until(const struct delivery *, long, int);
static void	 key_add(int64_t, const char *, const char *);
static int64_t	 n_messages(const char *);
static int64_t	 n_rejections(int64_t, const char *, const char *);
static void	 kapso_post(const char *, const char *, struct hresp *);
static char	*kapso_received(const char *, const char *);
static void	 sleep_ms(int);
static Suite	*platform_suite(void);

static struct hpg		 pg;
static struct hserver		 srv;
static struct secret_key	*key;
static struct db_pool		*pool;
static char			*token;		/* admin of the first org */
static char			*other_token;	/* owner of another org */
static int64_t			 org, other_org;
static int64_t			 tw, tw_nokeys, tw_other, meta;

/* No shared-key secret may come back in a panel or API answer. */
static const char *const secrets[] = { "canary", NULL };

/* Provider APIs point nowhere: reply jobs must not reach the internet. */
static const char	*env[] = {
	"PARLEY_TWILIO_API_BASE=http://127.0.0.1:9",
	"PARLEY_TWILIO_MESSAGING_BASE=http://127.0.0.1:9",
	"PARLEY_META_GRAPH_BASE=http://127.0.0.1:9",
	"PARLEY_KAPSO_API_BASE=http://127.0.0.1:9",
	NULL
};

/* --- fixture ------------------------------------------------------------ */

static void
setup(void)
{
	struct channel_input	 in;
	struct db		*db;

	hreq_forbid(secrets);
	hpg_start(&pg);
	hserver_start(&srv, &pg, env);
	key = hkey_load(&pg);
	pool = db_pool_new(pg.conninfo, 2, 5000);
	ck_assert(pool != NULL);
	org = sqli("SELECT id FROM orgs ORDER BY id LIMIT 1");
	huser_create(&pg, OTHER_EMAIL, "Other Org", "owner", OTHER_PW);
	other_org = sqli("SELECT id FROM orgs WHERE name = 'Other Org'");
	ck_assert(org > 0 && other_org > 0);
	token = htoken_create(&pg, OWNER_EMAIL, "tests", "admin");
	other_token = htoken_create(&pg, OTHER_EMAIL, "other", "owner");

	db = db_acquire(pool);
	ck_assert(db != NULL);
	memset(&in, 0, sizeof(in));
	in.kind = "twilio";
	in.name = "Twilio";
	in.phone_number = TW_NUMBER;
	in.twilio_account_sid = TW_SID;
	in.twilio_auth_token = TW_TOKEN;
	tw = hchannel_create(db, key, org, &in);
	in.name = "Twilio without keys";
	in.phone_number = TW_NOKEYS_NUMBER;
	tw_nokeys = hchannel_create(db, key, org, &in);
	in.name = "Twilio of another org";
	in.phone_number = "+14155238888";
	tw_other = hchannel_create(db, key, other_org, &in);

	memset(&in, 0, sizeof(in));
	in.kind = "meta";
	in.name = "Meta";
	in.phone_number_id = META_PNID;
	in.meta_access_token = "meta-access-token";
	in.meta_app_secret = META_SECRET;
	in.meta_verify_token = "meta-verify-token";
	meta = hchannel_create(db, key, org, &in);

	memset(&in, 0, sizeof(in));
	in.kind = "kapso";
	in.name = "Kapso";
	in.phone_number_id = KAPSO_PNID;
	in.kapso_api_key = "kapso-api-key";
	in.kapso_webhook_secret = KAPSO_SECRET;
	(void)hchannel_create(db, key, org, &in);
	db_release(db);
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
	db_pool_free(pool);
	pool = NULL;
	secret_key_free(key);
	key = NULL;
	free(token);
	free(other_token);
	token = other_token = NULL;
	hpg_finish(&pg, "webhook_platform");
}

/* --- helpers ------------------------------------------------------------ */

/* The form fields of d, as Twilio posts them (§1.2, §1.3); how many. */
static int
params_of(const struct delivery *d, const char *(*p)[2])
{
	static char	 to[64], from[64];

	if (d->status != NULL) {
		snprintf(from, sizeof(from), "whatsapp:%s", d->number);
		p[0][0] = "MessageSid";		p[0][1] = d->sid;
		p[1][0] = "AccountSid";		p[1][1] = TW_SID;
		p[2][0] = "From";		p[2][1] = from;
		p[3][0] = "To";			p[3][1] = USER;
		p[4][0] = "MessageStatus";	p[4][1] = d->status;
		p[5][0] = "ApiVersion";		p[5][1] = "2010-04-01";
		return 6;
	}
	snprintf(to, sizeof(to), "whatsapp:%s", d->number);
	p[0][0] = "MessageSid";		p[0][1] = d->sid;
	p[1][0] = "AccountSid";		p[1][1] = TW_SID;
	p[2][0] = "From";		p[2][1] = USER;
	p[3][0] = "To";			p[3][1] = to;
	p[4][0] = "Body";		p[4][1] = "Hello over a shared key";
	p[5][0] = "ProfileName";	p[5][1] = "Ana";
	p[6][0] = "NumMedia";		p[6][1] = "0";
	p[7][0] = "WaId";		p[7][1] = "14155550100";
	return 8;
}

/*
 * Signs the n deliveries in one run of tests/node/twilio-sign.cjs (the
 * official twilio package) and fills their header lines.
 */
static void
sign(struct delivery *ds, int n)
{
	const char	*argv[] = { "node", NULL, NULL };
	const char	*p[N_PARAMS][2];
	char		 script[1024], url[256];
	char		*in, *out = NULL;
	cJSON		*reqs = cJSON_CreateArray(), *res, *hs;
	int		 st, np;

	ck_assert((size_t)snprintf(script, sizeof(script),
	    "%s/tests/node/twilio-sign.cjs", hrepo_root()) < sizeof(script));
	argv[1] = script;
	for (int i = 0; i < n; i++) {
		cJSON	*o = cJSON_CreateObject();
		cJSON	*params = cJSON_AddObjectToObject(o, "params");

		snprintf(url, sizeof(url), "%s%s", srv.base, ds[i].path);
		cJSON_AddStringToObject(o, "secret", ds[i].secret);
		cJSON_AddStringToObject(o, "url", url);
		np = params_of(&ds[i], p);
		for (int j = 0; j < np; j++)
			cJSON_AddStringToObject(params, p[j][0], p[j][1]);
		if (ds[i].key_id != NULL)
			cJSON_AddStringToObject(o, "keyId", ds[i].key_id);
		cJSON_AddItemToArray(reqs, o);
	}
	in = cJSON_PrintUnformatted(reqs);
	cJSON_Delete(reqs);
	st = hrun_cmd(argv, NULL, in, &out, NODE_TIMEOUT_S);
	free(in);
	ck_assert_msg(st == 0, "node %s exited %d (make deps installs "
	    "tests/node):\n%s", script, st, out);
	res = cJSON_Parse(out);
	ck_assert_msg(cJSON_IsArray(res) && cJSON_GetArraySize(res) == n,
	    "twilio-sign answered:\n%s", out);
	free(out);
	for (int i = 0; i < n; i++) {
		int	 k = 0;

		hs = cJSON_GetArrayItem(res, i);
		for (int j = 0; j < cJSON_GetArraySize(hs) && k < 2; j++) {
			const char	*h = cJSON_GetArrayItem(hs, j)->valuestring;

			if (strncmp(h, "X-Twilio-Webhooks-Signature-Settings:",
			    37) == 0) {
				if (ds[i].drop_settings)
					continue;
				if (ds[i].settings != NULL) {
					ds[i].headers[k++] = strdup(
					    ds[i].settings);
					continue;
				}
			}
			ds[i].headers[k++] = strdup(h);
		}
		if (ds[i].key_id == NULL && ds[i].settings != NULL && k < 2)
			ds[i].headers[k++] = strdup(ds[i].settings);
		ds[i].headers[k] = NULL;
	}
	cJSON_Delete(res);
}

static void
unsign(struct delivery *ds, int n)
{
	for (int i = 0; i < n; i++)
		for (int j = 0; j < 3; j++) {
			free((void *)(uintptr_t)ds[i].headers[j]);
			ds[i].headers[j] = NULL;
		}
}

/* POSTs d as signed; the caller frees r. */
static void
deliver(const struct delivery *d, struct hresp *r)
{
	const char	*p[N_PARAMS][2];
	const char	*h[3] = { d->headers[0], d->headers[1], d->headers[2] };
	char		*body;
	int		 np = params_of(d, p);

	body = hform((const char *const (*)[2])p, np);
	hpost(srv.base, d->path, body, "application/x-www-form-urlencoded", h,
	    r);
	free(body);
}

static long
deliver_status(const struct delivery *d)
{
	struct hresp	 r;
	long		 st;

	deliver(d, &r);
	st = r.status;
	hresp_free(&r);
	return st;
}

/* Delivers d every 250 ms until it answers want, for up to timeout_ms. */
static bool
deliver_until(const struct delivery *d, long want, int timeout_ms)
{
	for (int waited = 0; ; waited += 250) {
		if (deliver_status(d) == want)
			return true;
		if (waited >= timeout_ms)
			return false;
		sleep_ms(250);
	}
}

/* channel_shared_key_add through the model, in-process. */
static void
key_add(int64_t ch, const char *id, const char *secret)
{
	struct field_errors	 errs = { 0 };
	struct db		*db = db_acquire(pool);
	enum db_status		 st;

	ck_assert(db != NULL);
	st = channel_shared_key_add(db, key, org, ch, id, secret, &errs);
	db_release(db);
	ck_assert_msg(st == DB_OK, "channel_shared_key_add: %d (%s)", st,
	    errs.n > 0 ? errs.message[0] : "");
}

static int64_t
n_messages(const char *sid)
{
	return sqli("SELECT count(*) FROM messages WHERE direction = 'in' "
	    "AND provider_message_id = '%s'", sid);
}

/* Rejections on channel ch (0: none) with reason and, unless NULL,
 * exactly detail. */
static int64_t
n_rejections(int64_t ch, const char *reason, const char *detail)
{
	char	*esc = NULL;
	int64_t	 n;

	if (detail != NULL) {
		/* Test SQL: double the quotes of the expected text. */
		size_t	 len = strlen(detail), k = 0;

		esc = malloc(2 * len + 1);
		for (size_t i = 0; i < len; i++) {
			if (detail[i] == '\'')
				esc[k++] = '\'';
			esc[k++] = detail[i];
		}
		esc[k] = '\0';
	}
	n = sqli("SELECT count(*) FROM webhook_events WHERE "
	    "coalesce(channel_id, 0) = %lld AND reason = '%s'%s%s%s",
	    (long long)ch, reason, esc != NULL ? " AND detail = '" : "",
	    esc != NULL ? esc : "", esc != NULL ? "'" : "");
	free(esc);
	return n;
}

/* POSTs a Kapso body signed with KAPSO_SECRET plus one header line (NULL:
 * none). */
static void
kapso_post(const char *body, const char *header, struct hresp *r)
{
	char		 hex[65], sig[128];
	const char	*headers[4] = { sig,
			    "X-Webhook-Event: whatsapp.message.received",
			    header, NULL };

	hmac_sha256_hex(KAPSO_SECRET, body, strlen(body), hex);
	snprintf(sig, sizeof(sig), "X-Webhook-Signature: %s", hex);
	hpost(srv.base, HKAPSO_INBOUND, body, "application/json", headers, r);
}

/* One v2 whatsapp.message.received payload (malloc'd). */
static char *
kapso_received(const char *wamid, const char *text)
{
	char	*b = malloc(BODY_MAX);

	snprintf(b, BODY_MAX,
	    "{\"message\":{\"id\":\"%s\",\"timestamp\":\"%lld\",\"type\":"
	    "\"text\",\"text\":{\"body\":\"%s\"},\"kapso\":{\"direction\":"
	    "\"inbound\",\"status\":\"received\"}},\"conversation\":{\"id\":"
	    "\"conv_1\",\"phone_number\":\"+15557654321\",\"phone_number_id\":"
	    "\"%s\"},\"phone_number_id\":\"%s\"}",
	    wamid, (long long)time(NULL), text, KAPSO_PNID, KAPSO_PNID);
	return b;
}

static void
sleep_ms(int ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* --- Twilio shared keys: the webhooks ------------------------------------ */

START_TEST(t_helper)
{
	const char	*argv[] = { "node", "-e", NULL, NULL };
	char		 js[1024];
	char		*out = NULL;
	int		 st;

	/* 6.3.1 is the first release that signs with shared keys. */
	ck_assert((size_t)snprintf(js, sizeof(js), "const t = require('%s/"
	    "tests/node/node_modules/twilio'); if (!t.HMAC_SHA256 || "
	    "!t.SIGNATURE_SETTINGS_HEADER) process.exit(3);", hrepo_root()) <
	    sizeof(js));
	argv[2] = js;
	st = hrun_cmd(argv, NULL, NULL, &out, NODE_TIMEOUT_S);
	ck_assert_msg(st == 0, "the twilio package (tests/node, make deps) "
	    "is missing or has no shared-key signing (6.3.1 or later): "
	    "exit %d\n%s", st, out);
	free(out);
}
END_TEST

START_TEST(t_shared_key_valid)
{
	struct delivery	 d[2] = {
		{ .path = TW_INBOUND, .sid = "SMsk00000001", .number = TW_NUMBER,
		  .secret = K1_SECRET, .key_id = K1_ID },
		{ .path = TW_STATUS, .sid = "SMout0000001", .number = TW_NUMBER,
		  .status = "delivered", .secret = K1_SECRET, .key_id = K1_ID },
	};
	int64_t		 out;

	key_add(tw, K1_ID, K1_SECRET);
	out = sqli("WITH c AS (INSERT INTO chats (org_id, channel_id, "
	    "external_id) VALUES (%lld, %lld, '+14155550100') RETURNING id) "
	    "INSERT INTO messages (org_id, channel_id, chat_id, direction, "
	    "provider_message_id, body, status) SELECT %lld, %lld, c.id, "
	    "'out', 'SMout0000001', 'hi', 'sent' FROM c RETURNING id",
	    (long long)org, (long long)tw, (long long)org, (long long)tw);
	sign(d, 2);
	ck_assert_msg(strstr(d[0].headers[1], "key=" K1_ID
	    ",algorithm=HMAC_SHA256") != NULL, "twilio-sign: %s",
	    d[0].headers[1]);
	/* The channel may be cached from before the key: at most 5 s. */
	ck_assert_msg(deliver_until(&d[0], 200, KEY_WAIT_MS), "a delivery "
	    "signed with shared key " K1_ID " was never accepted");
	ck_assert_int_eq(n_messages("SMsk00000001"), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id = 'SMsk00000001' AND channel_id = %lld AND "
	    "body = 'Hello over a shared key'", (long long)tw), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM channels WHERE id = %lld "
	    "AND last_verified_at IS NOT NULL", (long long)tw), 1);
	/* The status callback path verifies the same way. */
	ck_assert_int_eq(deliver_status(&d[1]), 200);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = %lld "
	    "AND status = 'delivered'", (long long)out), 1);
	unsign(d, 2);
}
END_TEST

START_TEST(t_shared_key_wrong_secret)
{
	struct delivery	 d[2] = {
		{ .path = TW_INBOUND, .sid = "SMsk00000002", .number = TW_NUMBER,
		  .secret = WRONG_SECRET, .key_id = K1_ID },
		{ .path = TW_STATUS, .sid = "SMout0000001", .number = TW_NUMBER,
		  .status = "read", .secret = WRONG_SECRET, .key_id = K1_ID },
	};

	sign(d, 2);
	ck_assert_int_eq(deliver_status(&d[0]), 403);
	ck_assert_int_eq(n_messages("SMsk00000002"), 0);
	ck_assert_int_eq(deliver_status(&d[1]), 403);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id = 'SMout0000001' AND status = 'read'"), 0);
	/* The health panel names the scheme and the key. */
	ck_assert_int_eq(n_rejections(tw, "bad signature",
	    "scheme: shared key " K1_ID " (HMAC_SHA256)"), 2);
	unsign(d, 2);
}
END_TEST

START_TEST(t_classic_token)
{
	struct delivery	 d[4] = {
		/* The Auth Token, no settings header: still valid. */
		{ .path = TW_INBOUND, .sid = "SMtk00000001", .number = TW_NUMBER,
		  .secret = TW_TOKEN },
		{ .path = TW_STATUS, .sid = "SMout0000001", .number = TW_NUMBER,
		  .status = "read", .secret = TW_TOKEN },
		/* Signed with the token but naming a shared key. */
		{ .path = TW_INBOUND, .sid = "SMtk00000002", .number = TW_NUMBER,
		  .secret = TW_TOKEN, .settings =
		  "X-Twilio-Webhooks-Signature-Settings: key=" K1_ID
		  ",algorithm=HMAC_SHA256" },
		/* Signed with a shared key, its settings header stripped. */
		{ .path = TW_INBOUND, .sid = "SMtk00000003", .number = TW_NUMBER,
		  .secret = K1_SECRET, .key_id = K1_ID, .drop_settings = true },
	};

	sign(d, 4);
	ck_assert_int_eq(deliver_status(&d[0]), 200);
	ck_assert_int_eq(n_messages("SMtk00000001"), 1);
	ck_assert_int_eq(deliver_status(&d[1]), 200);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id = 'SMout0000001' AND status = 'read'"), 1);
	/* The schemes are never mixed. */
	ck_assert_int_eq(deliver_status(&d[2]), 403);
	ck_assert_int_eq(n_messages("SMtk00000002"), 0);
	ck_assert_int_eq(n_rejections(tw, "bad signature",
	    "scheme: shared key " K1_ID " (HMAC_SHA256)"), 3);
	ck_assert_int_eq(deliver_status(&d[3]), 403);
	ck_assert_int_eq(n_messages("SMtk00000003"), 0);
	ck_assert_int_eq(n_rejections(tw, "bad signature",
	    "scheme: Auth Token (HMAC_SHA1)"), 1);
	unsign(d, 4);
}
END_TEST

/*
 * A settings header naming a key the channel does not hold. The header is
 * not signed, so the key id is a hint: a delivery that verifies under a
 * live key of the channel is accepted (and logged); one that verifies
 * under none is refused, and the health panel says the key is unknown.
 */
START_TEST(t_unknown_key)
{
	struct delivery	 d[4] = {
		{ .path = TW_INBOUND, .sid = "SMuk00000001", .number = TW_NUMBER,
		  .secret = K1_SECRET, .key_id = "webhooks_sharedkey_99" },
		{ .path = TW_INBOUND, .sid = "SMuk00000002", .number = TW_NUMBER,
		  .secret = WRONG_SECRET, .key_id = "webhooks_sharedkey_99" },
		{ .path = TW_INBOUND, .sid = "SMuk00000003", .number = TW_NUMBER,
		  .secret = K1_SECRET, .key_id = K1_ID, .settings =
		  "X-Twilio-Webhooks-Signature-Settings: key=" K1_ID
		  ",algorithm=HMAC_SHA512" },
		{ .path = TW_INBOUND, .sid = "SMuk00000004",
		  .number = TW_NOKEYS_NUMBER, .secret = K1_SECRET,
		  .key_id = K1_ID },
	};

	sign(d, 4);
	ck_assert_int_eq(deliver_status(&d[0]), 200);
	ck_assert_int_eq(n_messages("SMuk00000001"), 1);
	ck_assert(hserver_log_contains(&srv, "named=webhooks_sharedkey_99 "
	    "verified=" K1_ID));

	ck_assert_int_eq(deliver_status(&d[1]), 403);
	ck_assert_int_eq(n_messages("SMuk00000002"), 0);
	ck_assert_int_eq(n_rejections(tw, "bad signature", "scheme: shared "
	    "key webhooks_sharedkey_99 (HMAC_SHA256), not one of this "
	    "channel's keys"), 1);

	ck_assert_int_eq(deliver_status(&d[2]), 403);
	ck_assert_int_eq(n_messages("SMuk00000003"), 0);
	ck_assert_int_eq(n_rejections(tw, "unsupported algorithm", "scheme: "
	    "shared key " K1_ID " (unsupported algorithm)"), 1);

	/* A channel with no shared key refuses every shared-key delivery. */
	ck_assert_int_eq(deliver_status(&d[3]), 403);
	ck_assert_int_eq(n_messages("SMuk00000004"), 0);
	ck_assert_int_eq(n_rejections(tw_nokeys, "no secret configured",
	    "scheme: shared key " K1_ID " (HMAC_SHA256), not one of this "
	    "channel's keys; this channel holds no shared key"), 1);
	unsign(d, 4);
}
END_TEST

/*
 * Rotation through the API: K2 added while K1 is live, both accepted;
 * K1 removed, refused from then on, K2 still accepted.
 */
START_TEST(t_rotation)
{
	struct delivery	 d[4] = {
		{ .path = TW_INBOUND, .sid = "SMrot0000001", .number = TW_NUMBER,
		  .secret = K2_SECRET, .key_id = K2_ID },
		{ .path = TW_INBOUND, .sid = "SMrot0000002", .number = TW_NUMBER,
		  .secret = K1_SECRET, .key_id = K1_ID },
		{ .path = TW_INBOUND, .sid = "SMrot0000003", .number = TW_NUMBER,
		  .secret = K1_SECRET, .key_id = K1_ID },
		{ .path = TW_INBOUND, .sid = "SMrot0000004", .number = TW_NUMBER,
		  .secret = K2_SECRET, .key_id = K2_ID },
	};
	struct hresp	 r;
	char		 path[128], *b;

	sign(d, 4);
	snprintf(path, sizeof(path), "/api/v1/channels/%lld/"
	    "twilio-shared-keys", (long long)tw);
	hapi_want(srv.base, token, "POST", path, "{\"keyId\":\"" K2_ID
	    "\",\"secret\":\"" K2_SECRET "\"}", 201, &r);
	hresp_free(&r);

	/* Both live. */
	ck_assert_msg(deliver_until(&d[0], 200, KEY_WAIT_MS), "the new key "
	    "was never accepted");
	ck_assert_int_eq(deliver_status(&d[1]), 200);
	ck_assert_int_eq(n_messages("SMrot0000001"), 1);
	ck_assert_int_eq(n_messages("SMrot0000002"), 1);

	/* The old one removed: refused (within the cache's 5 s). */
	snprintf(path, sizeof(path), "/api/v1/channels/%lld/"
	    "twilio-shared-keys/" K1_ID, (long long)tw);
	hapi_want(srv.base, token, "DELETE", path, NULL, 204, &r);
	hresp_free(&r);
	ck_assert_msg(deliver_until(&d[2], 403, KEY_WAIT_MS), "the removed "
	    "key was still accepted after %d ms", KEY_WAIT_MS);
	ck_assert_int_eq(deliver_status(&d[2]), 403);
	ck_assert_int_eq(deliver_status(&d[3]), 200);
	ck_assert_int_eq(n_messages("SMrot0000004"), 1);
	b = sqls("SELECT string_agg(key_id, ',' ORDER BY id) FROM "
	    "channel_shared_keys WHERE channel_id = %lld", (long long)tw);
	ck_assert_str_eq(b, K2_ID);
	free(b);
	unsign(d, 4);
}
END_TEST

/* --- Twilio shared keys: the API and the panel ---------------------------- */

START_TEST(t_api_keys)
{
	struct hresp	 r;
	char		 path[120], other[200];
	cJSON		*o, *keys, *k;

	snprintf(path, sizeof(path), "/api/v1/channels/%lld",
	    (long long)tw);
	o = hapi_json(srv.base, token, "GET", path, NULL, 200);
	keys = cJSON_GetObjectItemCaseSensitive(o, "twilioSharedKeys");
	ck_assert_msg(cJSON_IsArray(keys) && cJSON_GetArraySize(keys) == 1,
	    "twilioSharedKeys of the Twilio channel");
	k = cJSON_GetArrayItem(keys, 0);
	ck_assert_str_eq(hjstr(k, "keyId"), K2_ID);
	ck_assert_str_eq(hjstr(k, "secretHint"), K2_HINT);
	ck_assert(hjstr(k, "createdAt")[0] != '\0');
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(k, "secret"));
	cJSON_Delete(o);

	/* Added: 201 with the channel, the secret masked. */
	snprintf(path, sizeof(path), "/api/v1/channels/%lld/"
	    "twilio-shared-keys", (long long)tw);
	o = hapi_json(srv.base, token, "POST", path, "{\"keyId\":\" " K3_ID
	    " \",\"secret\":\"" K3_SECRET "\"}", 201);
	keys = cJSON_GetObjectItemCaseSensitive(o, "twilioSharedKeys");
	ck_assert_int_eq(cJSON_GetArraySize(keys), 2);
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(keys, 1), "keyId"), K3_ID);
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(keys, 1), "secretHint"),
	    K3_HINT);
	cJSON_Delete(o);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE action = "
	    "'channel.shared_key_added' AND target_id = %lld AND detail = '"
	    K3_ID "'", (long long)tw), 1);
	/* Sealed at rest: the secret is nowhere in the row. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM channel_shared_keys WHERE "
	    "position(convert_to('canary', 'UTF8') in secret_enc) > 0 OR "
	    "position('canary' in hint) > 0"), 0);

	/* Refusals. */
	hapi_want(srv.base, token, "POST", path, "{\"keyId\":\"" K3_ID
	    "\",\"secret\":\"sk-canary-again-0123456789\"}", 409, &r);
	hresp_free(&r);
	o = hapi_json(srv.base, token, "POST", path, "{\"keyId\":\"a b,c\","
	    "\"secret\":\"\"}", 422);
	k = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(o, "error"), "fields"), "keyId");
	ck_assert_msg(cJSON_IsString(k), "422 names keyId");
	ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    o, "error"), "fields"), "secret"));
	cJSON_Delete(o);
	hapi_want(srv.base, token, "POST", path, "{\"keyId\":1,\"secret\":"
	    "\"x\"}", 400, &r);
	hresp_free(&r);
	/* A Meta channel has no shared keys. */
	snprintf(other, sizeof(other), "/api/v1/channels/%lld/"
	    "twilio-shared-keys", (long long)meta);
	hapi_want(srv.base, token, "POST", other, "{\"keyId\":\"k\","
	    "\"secret\":\"sk-canary-meta-0123456789\"}", 422, &r);
	hresp_has(&r, "Only Twilio channels", NULL);
	hresp_free(&r);
	/* Five at most. */
	for (int i = 0; i < 3; i++) {
		char	 body[200];

		snprintf(body, sizeof(body), "{\"keyId\":\"extra_%d\","
		    "\"secret\":\"sk-canary-extra-%d-0123456789\"}", i, i);
		hapi_want(srv.base, token, "POST", path, body, 201, &r);
		hresp_free(&r);
	}
	hapi_want(srv.base, token, "POST", path, "{\"keyId\":\"extra_9\","
	    "\"secret\":\"sk-canary-extra-9-0123456789\"}", 422, &r);
	hresp_has(&r, "at most 5", NULL);
	hresp_free(&r);
	for (int i = 0; i < 3; i++) {
		snprintf(other, sizeof(other), "%s/extra_%d", path, i);
		hapi_want(srv.base, token, "DELETE", other, NULL, 204, &r);
		hresp_free(&r);
	}
	snprintf(other, sizeof(other), "%s/extra_0", path);
	hapi_want(srv.base, token, "DELETE", other, NULL, 404, &r);
	hresp_free(&r);

	/* Another organisation's channel: 404 both ways. */
	hapi_want(srv.base, other_token, "POST", path, "{\"keyId\":\"x\","
	    "\"secret\":\"sk-canary-other-0123456789\"}", 404, &r);
	hresp_free(&r);
	snprintf(other, sizeof(other), "%s/" K3_ID, path);
	hapi_want(srv.base, other_token, "DELETE", other, NULL, 404, &r);
	hresp_free(&r);
	snprintf(other, sizeof(other), "/api/v1/channels/%lld/"
	    "twilio-shared-keys", (long long)tw_other);
	hapi_want(srv.base, token, "POST", other, "{\"keyId\":\"x\","
	    "\"secret\":\"sk-canary-other-0123456789\"}", 404, &r);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM channel_shared_keys "
	    "WHERE channel_id = %lld", (long long)tw_other), 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM channel_shared_keys "
	    "WHERE channel_id = %lld", (long long)tw), 2);

	/* The list carries the keys too; other kinds have none. */
	o = hapi_json(srv.base, token, "GET", "/api/v1/channels", NULL, 200);
	cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(o, "data")) {
		const cJSON	*ks = cJSON_GetObjectItemCaseSensitive(k,
				    "twilioSharedKeys");

		if (strcmp(hjstr(k, "kind"), "twilio") == 0)
			ck_assert(cJSON_IsArray(ks));
		else
			ck_assert_ptr_null(ks);
	}
	cJSON_Delete(o);
}
END_TEST

START_TEST(t_panel_keys)
{
	struct delivery	 d[1] = {
		{ .path = TW_INBOUND, .sid = "SMpk00000001",
		  .number = TW_NOKEYS_NUMBER, .secret = "sk4-canary-"
		  "Bn2vC5xZ8aS1dF4gH7jK", .key_id = "panel_key_1" },
	};
	struct client	 c;
	struct hresp	 r;
	char		 page[64], action[96], f[1024];

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(page, sizeof(page), "/channels/%lld", (long long)tw_nokeys);
	snprintf(action, sizeof(action), "/channels/%lld/shared-keys",
	    (long long)tw_nokeys);
	hget(&c, page, 200, &r);
	hresp_has(&r, "Webhook shared keys", NULL);
	hresp_has(&r, "No shared keys", NULL);
	hresp_has(&r, "name=\"twilio_shared_key_secret\"", NULL);
	hresp_free(&r);

	/* A bad id: 422, the id kept, the secret not sent back. */
	f[0] = '\0';
	form_add(f, sizeof(f), "twilio_shared_key_id", "bad id");
	form_add(f, sizeof(f), "twilio_shared_key_secret",
	    "sk4-canary-Bn2vC5xZ8aS1dF4gH7jK");
	hpost_form(&c, page, action, f, &r);
	ck_assert_int_eq(r.status, 422);
	hresp_has(&r, "A key ID is at most 128", NULL);
	hresp_has(&r, "value=\"bad id\"", NULL);
	hresp_has(&r, "enter it again", NULL);
	hresp_free(&r);

	/* Added. */
	f[0] = '\0';
	form_add(f, sizeof(f), "twilio_shared_key_id", "panel_key_1");
	form_add(f, sizeof(f), "twilio_shared_key_secret",
	    "sk4-canary-Bn2vC5xZ8aS1dF4gH7jK");
	hpost_form(&c, page, action, f, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	hget(&c, page, 200, &r);
	hresp_has(&r, "<code>panel_key_1</code>", NULL);
	hresp_has(&r, "\xe2\x80\xa6" "H7jK", NULL);
	hresp_lacks(&r, "No shared keys", NULL);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE action = "
	    "'channel.shared_key_added' AND target_id = %lld AND detail = "
	    "'panel_key_1'", (long long)tw_nokeys), 1);
	/* The same id again: 409. */
	hpost_form(&c, page, action, f, &r);
	ck_assert_int_eq(r.status, 409);
	hresp_has(&r, "already has a key with this ID", NULL);
	hresp_free(&r);
	/* Without a CSRF token: refused, nothing stored. */
	hreq(&c, "POST", action, "twilio_shared_key_id=nocsrf&"
	    "twilio_shared_key_secret=sk5-canary-0123456789abcdef", NULL, NULL,
	    &r);
	ck_assert_int_eq(r.status, 403);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM channel_shared_keys "
	    "WHERE key_id = 'nocsrf'"), 0);

	/* Webhooks signed with it are accepted. */
	sign(d, 1);
	ck_assert_msg(deliver_until(&d[0], 200, KEY_WAIT_MS), "the panel's "
	    "key was never accepted");
	ck_assert_int_eq(n_messages("SMpk00000001"), 1);

	/* Removing asks first, then removes. */
	snprintf(action, sizeof(action), "/channels/%lld/shared-keys/remove",
	    (long long)tw_nokeys);
	f[0] = '\0';
	form_add(f, sizeof(f), "key_id", "panel_key_1");
	hpost_form(&c, page, action, f, &r);
	ck_assert_int_eq(r.status, 200);
	hresp_has(&r, "Yes, remove", NULL);
	hresp_has(&r, "name=\"key_id\" value=\"panel_key_1\"", NULL);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM channel_shared_keys "
	    "WHERE key_id = 'panel_key_1'"), 1);
	form_add(f, sizeof(f), "confirm", "yes");
	hpost_form(&c, page, action, f, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM channel_shared_keys "
	    "WHERE key_id = 'panel_key_1'"), 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE action = "
	    "'channel.shared_key_removed' AND detail = 'panel_key_1'"), 1);
	hpost_form(&c, page, action, f, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	ck_assert_msg(deliver_until(&d[0], 403, KEY_WAIT_MS), "the removed "
	    "key was still accepted");
	unsign(d, 1);

	/* A Meta channel's page has no keys section. */
	snprintf(page, sizeof(page), "/channels/%lld", (long long)meta);
	hget(&c, page, 200, &r);
	hresp_lacks(&r, "twilio_shared_key_id", NULL);
	hresp_free(&r);
	/* Another organisation's channel: 404. */
	snprintf(action, sizeof(action), "/channels/%lld/shared-keys",
	    (long long)tw_other);
	f[0] = '\0';
	form_add(f, sizeof(f), "twilio_shared_key_id", "x");
	form_add(f, sizeof(f), "twilio_shared_key_secret",
	    "sk6-canary-0123456789abcdef");
	hpost_form(&c, "/channels", action, f, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
}
END_TEST

/* The health panel shows the scheme (and key) of each rejection. */
START_TEST(t_health_panel)
{
	struct client	 c;
	struct hresp	 r;
	char		 page[64];

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(page, sizeof(page), "/channels/%lld", (long long)tw);
	hget(&c, page, 200, &r);
	hresp_has(&r, "scheme: shared key webhooks_sharedkey_99 (HMAC_SHA256), "
	    "not one of this channel&#39;s keys", NULL);
	hresp_has(&r, "scheme: shared key " K1_ID " (HMAC_SHA256)", NULL);
	hresp_has(&r, "scheme: Auth Token (HMAC_SHA1)", NULL);
	hresp_has(&r, "unsupported algorithm", NULL);
	hresp_free(&r);
}
END_TEST

/* `parley key rotate` re-seals the shared keys too. */
START_TEST(t_master_key_rotate)
{
	const char	*args[] = { "key", "rotate", NULL };
	struct delivery	 d[1] = {
		{ .path = TW_INBOUND, .sid = "SMmk00000001", .number = TW_NUMBER,
		  .secret = K2_SECRET, .key_id = K2_ID },
	};
	char		*enc0, *enc1, *out = NULL;
	int		 st;

	enc0 = sqls("SELECT string_agg(encode(secret_enc, 'hex'), ',' ORDER "
	    "BY id) FROM channel_shared_keys");
	ck_assert_int_eq(hserver_stop(&srv), 0);
	st = hrun_parley(&pg, args, NULL, &out);
	ck_assert_msg(st == 0 && strstr(out, "Re-encrypted") != NULL,
	    "parley key rotate exited %d:\n%s", st, out);
	hassert_none("parley key", "rotate", out, secrets);
	free(out);
	enc1 = sqls("SELECT string_agg(encode(secret_enc, 'hex'), ',' ORDER "
	    "BY id) FROM channel_shared_keys");
	ck_assert_str_ne(enc0, enc1);
	free(enc0);
	free(enc1);
	/* The in-process key is the old one now. */
	secret_key_free(key);
	key = hkey_load(&pg);

	hserver_start(&srv, &pg, env);
	sign(d, 1);
	ck_assert_int_eq(deliver_status(&d[0]), 200);
	ck_assert_int_eq(n_messages("SMmk00000001"), 1);
	unsign(d, 1);
}
END_TEST

/* --- Kapso and Meta --------------------------------------------------------- */

START_TEST(t_kapso_batch_header)
{
	char		*p1 = kapso_received("wamid.KH1", "one");
	char		*p2 = kapso_received("wamid.KH2", "two");
	char		 b[BODY_MAX];
	struct hresp	 r;

	/* Flagged by the header only: accepted and processed. */
	snprintf(b, sizeof(b), "{\"type\":\"whatsapp.message.received\","
	    "\"data\":[%s,%s]}", p1, p2);
	kapso_post(b, "X-Webhook-Batch: true", &r);
	ck_assert_msg(r.status == 200, "header batch: %ld %s", r.status,
	    r.body);
	hresp_free(&r);
	ck_assert_int_eq(n_messages("wamid.KH1"), 1);
	ck_assert_int_eq(n_messages("wamid.KH2"), 1);

	/* A batch without its data array is malformed, by either flag. */
	kapso_post("{\"type\":\"whatsapp.message.received\"}",
	    "X-Webhook-Batch: true", &r);
	ck_assert_int_eq(r.status, 400);
	hresp_free(&r);
	kapso_post("{\"type\":\"whatsapp.message.received\",\"batch\":true,"
	    "\"data\":{}}", NULL, &r);
	ck_assert_int_eq(r.status, 400);
	hresp_free(&r);

	/* No flag: one payload, as before. */
	free(p1);
	p1 = kapso_received("wamid.KH3", "three");
	kapso_post(p1, "X-Webhook-Batch: false", &r);
	ck_assert_int_eq(r.status, 200);
	hresp_free(&r);
	ck_assert_int_eq(n_messages("wamid.KH3"), 1);
	free(p1);
	free(p2);
}
END_TEST

START_TEST(t_meta_unverifiable)
{
	const char	*b = "{\"object\":\"whatsapp_business_account\","
			    "\"entry\":[{\"id\":\"102290129340398\",\"changes\":"
			    "[{\"field\":\"account_update\",\"value\":{\"event\":"
			    "\"VERIFIED_ACCOUNT\"}}]}]}";
	const char	*unknown = "{\"object\":\"whatsapp_business_account\","
			    "\"entry\":[{\"id\":\"W\",\"changes\":[{\"field\":"
			    "\"messages\",\"value\":{\"metadata\":{"
			    "\"phone_number_id\":\"999999999999\"}}}]}]}";
	struct hresp	 r;

	/* Unsigned, naming no number: 403 (it was 200 "ignored"). */
	hmeta_post(srv.base, b, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	hresp_free(&r);
	ck_assert_int_eq(n_rejections(0, "missing signature",
	    "names no phone_number_id"), 1);
	/* Signed with no Meta channel's app secret: 403. */
	hmeta_post(srv.base, b, "not-an-app-secret", &r);
	ck_assert_int_eq(r.status, 403);
	hresp_free(&r);
	ck_assert_int_eq(n_rejections(0, "bad signature", "names no "
	    "phone_number_id; no Meta channel's app secret verifies it"), 1);
	/* Verified with a channel's app secret: acknowledged, ignored. */
	hmeta_post(srv.base, b, META_SECRET, &r);
	ck_assert_int_eq(r.status, 200);
	hresp_has(&r, "ignored", NULL);
	hresp_free(&r);
	/* A number no channel has: 403, signed or not. */
	hmeta_post(srv.base, unknown, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	hresp_free(&r);
	hmeta_post(srv.base, unknown, META_SECRET, &r);
	ck_assert_int_eq(r.status, 403);
	hresp_free(&r);
}
END_TEST

/* The channel form says which assistants Meta's terms allow. */
START_TEST(t_policy_note)
{
	const char	*kinds[] = { "twilio", "meta", "kapso" };
	struct client	 c;
	struct hresp	 r;
	char		 page[64];

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	for (size_t i = 0; i < 3; i++) {
		snprintf(page, sizeof(page), "/channels/new?kind=%s", kinds[i]);
		hget(&c, page, 200, &r);
		hresp_has(&r, "id=\"ai-policy\"", page);
		hresp_has(&r, "serve this business's own customers", page);
		hresp_has(&r, "general-purpose AI assistant", page);
		hresp_has(&r, "15 January 2026", page);
		hresp_has(&r, "href=\"https://www.whatsapp.com/legal/"
		    "business-solution-terms\"", page);
		hresp_free(&r);
	}
	snprintf(page, sizeof(page), "/channels/%lld", (long long)meta);
	hget(&c, page, 200, &r);
	hresp_has(&r, "id=\"ai-policy\"", page);
	hresp_free(&r);
	snprintf(page, sizeof(page), "/channels/%lld", (long long)sqli(
	    "SELECT id FROM channels WHERE org_id = %lld AND kind = "
	    "'sandbox'", (long long)org));
	hget(&c, page, 200, &r);
	hresp_lacks(&r, "id=\"ai-policy\"", page);
	hresp_free(&r);
}
END_TEST

START_TEST(t_stop_clean)
{
	/* Exit 0 under ASan/UBSan also means no leak and no report. */
	hserver_stop_clean(&srv);
	ck_assert_msg(!hserver_log_contains(&srv, "canary"), "the server "
	    "log holds a shared key's secret");
}
END_TEST

/* --- main --------------------------------------------------------------- */

static Suite *
platform_suite(void)
{
	Suite	*s = suite_create("webhook_platform");
	TCase	*tc = tcase_create("webhook_platform");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, t_helper);
	tcase_add_test(tc, t_shared_key_valid);
	tcase_add_test(tc, t_shared_key_wrong_secret);
	tcase_add_test(tc, t_classic_token);
	tcase_add_test(tc, t_unknown_key);
	tcase_add_test(tc, t_rotation);
	tcase_add_test(tc, t_api_keys);
	tcase_add_test(tc, t_panel_keys);
	tcase_add_test(tc, t_health_panel);
	tcase_add_test(tc, t_kapso_batch_header);
	tcase_add_test(tc, t_meta_unverifiable);
	tcase_add_test(tc, t_policy_note);
	tcase_add_test(tc, t_master_key_rotate);
	tcase_add_test(tc, t_stop_clean);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int	 failed = hrun_suites(platform_suite(), NULL);

	cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
