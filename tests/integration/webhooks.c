/*
 * webhooks: the provider webhooks (Twilio, Meta, Kapso) over real HTTP
 * against the real binary and a throwaway PostgreSQL cluster.
 *
 * Channels are made in-process through the channel model (model/channel.c
 * seals their secrets with the server's master key, which the test loads
 * from the fixture's data directory); requests are signed here with
 * crypto/hmac.c, exactly as each provider signs (PROTOCOLS.md §1.1, §2.2,
 * §3.2). Assertions read the tables with SQL.
 *
 * Suites share one cluster and server each (CK_NOFORK, unchecked fixtures,
 * tests run in the order added); every test uses its own message ids, so
 * none depends on another having run. The faults suite stops PostgreSQL
 * under a running server. The last test of each suite stops the server and
 * checks it exits 0 on SIGTERM, which under ASan also means no leak.
 *
 * Set PARLEY_TEST_KEEP=1 to keep each cluster directory (with the logs).
 */
#include "harness/model.h"
#include "harness/panel.h"
#include "harness/webhook.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "crypto/hmac.h"
#include "crypto/secret.h"
#include "db/db.h"
#include "model/channel.h"

/* The current fixture's cluster and server (tests/harness). */
#define sqli(...)	hpg_sqlf_int(&cur->pg, __VA_ARGS__)
#define sqls(...)	hpg_sqlf(&cur->pg, __VA_ARGS__)
#define post(...)	hpost(cur->srv.base, __VA_ARGS__)
#define meta_post(...)	hmeta_post(cur->srv.base, __VA_ARGS__)
#define kapso_post(...)	hkapso_post(cur->srv.base, __VA_ARGS__)

#define BODY_MAX	16384
/* A Meta delivery to META_PNID, up to its contacts and messages. */
#define META_DELIVERY_HEAD \
	"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":" \
	"\"W\",\"changes\":[{\"field\":\"messages\",\"value\":{" \
	"\"metadata\":{\"phone_number_id\":\"" META_PNID "\"},"

/* Channel credentials (Twilio's token is 32 characters). */
#define TW_NUMBER	"+14155238886"
#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"0123456789abcdef0123456789abcdef"
#define TW_NOSEC_NUMBER	"+14155230000"
#define META_PNID	"106540352242922"
#define META_SECRET	"meta-app-secret-1"
#define META_VERIFY	"meta-verify-token-1"
#define META_B_PNID	"206540352242922"	/* the other org's */
#define META_B_SECRET	"meta-app-secret-B"
#define META_NOSEC_PNID	"306540352242922"
#define KAPSO_PNID	"123456789012345"
#define KAPSO_SECRET	"kapso-webhook-secret-1"
#define KAPSO_NOSEC_PNID "223456789012345"

struct fixture {
	const char		*name;
	const char		**env;
	struct hpg		 pg;
	struct hserver		 srv;
	struct secret_key	*key;
	struct db_pool		*pool;
	int64_t			 org;		/* the owner's */
	int64_t			 org_b;		/* another organisation */
	int64_t			 tw, tw_nosec;
	int64_t			 meta, meta_b, meta_nosec;
	int64_t			 kapso, kapso_nosec;
};

struct load_arg {
	int	 index;
	int	 n;
	bool	 poison;	/* send the trigger's poison body */
	int	 fails;		/* unexpected answers (want 200, poison 503) */
};

static void	 fixture_up(struct fixture *);
static void	 fixture_down(struct fixture *);
static void	 fixture_cleanup(struct fixture *);
static void	 main_setup(void);
static void	 main_teardown(void);
static void	 faults_setup(void);
static void	 faults_teardown(void);
static int64_t	 mk_channel(const struct channel_input *, int64_t);
static void	 twilio_post(const char *, const char *const (*)[2], int,
		    const char *, const char *, const char *, struct hresp *);
static char	*meta_text(const char *, const char *, const char *,
		    int64_t);
static char	*kapso_item(const char *, const char *, const char *,
		    const char *, const char *);
static char	*kapso_received(const char *, const char *, const char *);
static int64_t	 n_messages(const char *);
static int64_t	 n_jobs(const char *);
static int64_t	 n_rejections(int64_t, const char *);
static int64_t	 out_message(int64_t, const char *);
static void	 expect(struct hresp *, long, const char *);
static void	 tw_params(const char *(*)[2], const char *, const char *);
static void	*load_thread(void *);
static void	 sleep_ms(int);
static Suite	*main_suite(void);
static Suite	*faults_suite(void);

/* Provider APIs point nowhere: turns must not reach the internet. */
static const char	*env_main[] = {
	"PARLEY_TWILIO_API_BASE=http://127.0.0.1:9",
	"PARLEY_TWILIO_MESSAGING_BASE=http://127.0.0.1:9",
	"PARLEY_META_GRAPH_BASE=http://127.0.0.1:9",
	"PARLEY_KAPSO_API_BASE=http://127.0.0.1:9",
	"PARLEY_INBOUND_MAX_AGE_HOURS=24",
	NULL
};
static const char	*env_faults[] = {
	"PARLEY_TWILIO_API_BASE=http://127.0.0.1:9",
	"PARLEY_TWILIO_MESSAGING_BASE=http://127.0.0.1:9",
	"PARLEY_META_GRAPH_BASE=http://127.0.0.1:9",
	"PARLEY_KAPSO_API_BASE=http://127.0.0.1:9",
	"PARLEY_DB_ACQUIRE_TIMEOUT_MS=1000",
	NULL
};

static struct fixture	 fx_main = { .name = "webhooks", .env = env_main };
static struct fixture	 fx_faults = { .name = "faults", .env = env_faults };
static struct fixture	*cur;

/* --- fixtures ----------------------------------------------------------- */

static void
fixture_up(struct fixture *fx)
{
	struct channel_input	 in;

	cur = fx;
	hpg_start(&fx->pg);
	hserver_start(&fx->srv, &fx->pg, fx->env);
	fx->key = hkey_load(&fx->pg);
	fx->pool = db_pool_new(fx->pg.conninfo, 4, 5000);
	ck_assert(fx->pool != NULL);

	fx->org = sqli("SELECT id FROM orgs ORDER BY id LIMIT 1");
	fx->org_b = sqli("INSERT INTO orgs (name) VALUES ('Other org') "
	    "RETURNING id");
	ck_assert(fx->org > 0 && fx->org_b > 0);

	memset(&in, 0, sizeof(in));
	in.kind = "twilio";
	in.name = "Twilio";
	in.phone_number = TW_NUMBER;
	in.twilio_account_sid = TW_SID;
	in.twilio_auth_token = TW_TOKEN;
	fx->tw = mk_channel(&in, fx->org);
	in.name = "Twilio without token";
	in.phone_number = TW_NOSEC_NUMBER;
	fx->tw_nosec = mk_channel(&in, fx->org);

	memset(&in, 0, sizeof(in));
	in.kind = "meta";
	in.name = "Meta";
	in.phone_number = "+15550783881";
	in.phone_number_id = META_PNID;
	in.meta_access_token = "meta-access-token";
	in.meta_app_secret = META_SECRET;
	in.meta_verify_token = META_VERIFY;
	fx->meta = mk_channel(&in, fx->org);
	in.name = "Meta without secret";
	in.phone_number = "+15550783882";
	in.phone_number_id = META_NOSEC_PNID;
	fx->meta_nosec = mk_channel(&in, fx->org);
	in.name = "Meta of org B";
	in.phone_number = "+15550783883";
	in.phone_number_id = META_B_PNID;
	in.meta_app_secret = META_B_SECRET;
	in.meta_verify_token = "org-b-verify-token";
	fx->meta_b = mk_channel(&in, fx->org_b);

	memset(&in, 0, sizeof(in));
	in.kind = "kapso";
	in.name = "Kapso";
	in.phone_number = "+15551234000";
	in.phone_number_id = KAPSO_PNID;
	in.kapso_api_key = "kapso-api-key";
	in.kapso_webhook_secret = KAPSO_SECRET;
	fx->kapso = mk_channel(&in, fx->org);
	in.name = "Kapso without secret";
	in.phone_number = "+15551234001";
	in.phone_number_id = KAPSO_NOSEC_PNID;
	fx->kapso_nosec = mk_channel(&in, fx->org);

	/* "No secret configured": the model requires secrets, so drop them
	 * behind its back, as an interrupted set-up might leave them. */
	free(sqls("UPDATE channels SET twilio_auth_token_enc = NULL "
	    "WHERE id = %lld", (long long)fx->tw_nosec));
	free(sqls("UPDATE channels SET meta_app_secret_enc = NULL "
	    "WHERE id = %lld", (long long)fx->meta_nosec));
	free(sqls("UPDATE channels SET kapso_webhook_secret_enc = NULL "
	    "WHERE id = %lld", (long long)fx->kapso_nosec));
}

static void
fixture_down(struct fixture *fx)
{
	if (fx->srv.pid > 0)
		(void)hserver_stop(&fx->srv);
	fixture_cleanup(fx);
}

/* Safe outside a test (from main): never fails a Check test. */
static void
fixture_cleanup(struct fixture *fx)
{
	db_pool_free(fx->pool);
	fx->pool = NULL;
	secret_key_free(fx->key);
	fx->key = NULL;
	hpg_finish(&fx->pg, fx->name);
}

static void main_setup(void) { fixture_up(&fx_main); }
static void main_teardown(void) { fixture_down(&fx_main); }
static void faults_setup(void) { fixture_up(&fx_faults); }
static void faults_teardown(void) { fixture_down(&fx_faults); }

/* --- helpers ------------------------------------------------------------ */

static int64_t
mk_channel(const struct channel_input *in, int64_t org)
{
	struct db	*db = db_acquire(cur->pool);
	int64_t		 id;

	ck_assert_msg(db != NULL, "no database connection");
	id = hchannel_create(db, cur->key, org, in);
	db_release(db);
	return id;
}

static void
expect(struct hresp *r, long status, const char *what)
{
	ck_assert_msg(r->status == status, "%s: want %ld, got %ld:\n%.1000s",
	    what, status, r->status, r->body);
	hresp_free(r);
}

/*
 * POSTs params form-encoded to path, signed with token over sign_url
 * (NULL: PARLEY_PUBLIC_URL + path); token NULL sends no signature. host,
 * when given, is sent as the Host header.
 */
static void
twilio_post(const char *path, const char *const (*params)[2], int n,
    const char *token, const char *sign_url, const char *host,
    struct hresp *r)
{
	char		 url[512], h_sig[64], h_host[300];
	char		*body = hform(params, n);
	const char	*headers[3] = { NULL, NULL, NULL };
	int		 nh = 0;

	snprintf(url, sizeof(url), "%s%s", cur->srv.base, path);
	if (token != NULL) {
		htwilio_sig_header(h_sig, sizeof(h_sig), token,
		    sign_url ? sign_url : url, params, n);
		headers[nh++] = h_sig;
	}
	if (host != NULL) {
		snprintf(h_host, sizeof(h_host), "Host: %s", host);
		headers[nh++] = h_host;
	}
	post(path, body, "application/x-www-form-urlencoded", headers, r);
	free(body);
}

/* A Meta delivery with one text message (malloc'd). ts 0: now. */
static char *
meta_text(const char *pnid, const char *wamid, const char *text, int64_t ts)
{
	return hmeta_text_body(&(struct hmeta_text){ .pnid = pnid,
	    .from = "16505551234", .name = "Sheena Nelson", .wamid = wamid,
	    .text = text, .ts = ts });
}

/* A Kapso message payload in conversation `phone`, direction inbound or
 * outbound (malloc'd). */
static char *
kapso_item(const char *pnid, const char *wamid, const char *text,
    const char *direction, const char *phone)
{
	char	*b = malloc(BODY_MAX);

	snprintf(b, BODY_MAX,
	    "{\"message\":{\"id\":\"%s\",\"timestamp\":\"%lld\",\"type\":"
	    "\"text\",\"text\":{\"body\":\"%s\"},\"kapso\":{\"direction\":"
	    "\"%s\",\"status\":\"received\",\"content\":\"%s\"}},"
	    "\"conversation\":{\"id\":\"conv_123\",\"phone_number\":"
	    "\"%s\",\"phone_number_id\":\"%s\",\"kapso\":{"
	    "\"contact_name\":\"John Doe\"}},\"is_new_conversation\":true,"
	    "\"phone_number_id\":\"%s\"}",
	    wamid, (long long)time(NULL), text, direction, text, phone, pnid,
	    pnid);
	return b;
}

static char *
kapso_received(const char *pnid, const char *wamid, const char *text)
{
	return kapso_item(pnid, wamid, text, "inbound", "+15557654321");
}

static int64_t
n_messages(const char *provider_id)
{
	return sqli("SELECT count(*) FROM messages WHERE direction = 'in' "
	    "AND provider_message_id = '%s'", provider_id);
}

static int64_t
n_jobs(const char *provider_id)
{
	/* Conversation turns (issue 12): no job per message; a message to
	 * answer makes its chat's turn due (or is answered already). */
	return sqli("SELECT count(*) FROM messages m JOIN chats c ON "
	    "c.id = m.chat_id WHERE m.kind = 'message' AND "
	    "m.provider_message_id = '%s' AND (m.answered_by IS NOT NULL OR "
	    "(m.unanswered_reason IS NULL AND (c.turn_due_at IS NOT NULL OR "
	    "c.turn_job IS NOT NULL)))", provider_id);
}

/* Rejections with reason on channel ch (0: naming no channel). */
static int64_t
n_rejections(int64_t ch, const char *reason)
{
	if (ch == 0)
		return sqli("SELECT count(*) FROM webhook_events WHERE "
		    "channel_id IS NULL AND reason = '%s'", reason);
	return sqli("SELECT count(*) FROM webhook_events WHERE "
	    "channel_id = %lld AND reason = '%s'", (long long)ch, reason);
}

/*
 * An outbound message with provider id pid on channel ch, status 'sent'
 * (its chat made on the way); returns its id.
 */
static int64_t
out_message(int64_t ch, const char *pid)
{
	return sqli(
	    "WITH c AS (INSERT INTO chats (org_id, channel_id, external_id) "
	    "  SELECT org_id, id, '+19995550000' FROM channels WHERE id = %lld "
	    "  ON CONFLICT (channel_id, external_id) DO UPDATE "
	    "  SET display_name = chats.display_name RETURNING id, org_id) "
	    "INSERT INTO messages (org_id, channel_id, chat_id, direction, "
	    "  provider_message_id, body, status) "
	    "SELECT c.org_id, %lld, c.id, 'out', '%s', 'hi', 'sent' FROM c "
	    "RETURNING id", (long long)ch, (long long)ch, pid);
}

static void
sleep_ms(int ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* --- Twilio ------------------------------------------------------------- */

#define TW_INBOUND	"/webhooks/whatsapp/twilio"
#define TW_STATUS	"/webhooks/whatsapp/twilio/status"

static void
tw_params(const char *(*p)[2], const char *sid, const char *to)
{
	p[0][0] = "MessageSid";	p[0][1] = sid;
	p[1][0] = "AccountSid";	p[1][1] = TW_SID;
	p[2][0] = "From";	p[2][1] = "whatsapp:+14155550100";
	p[3][0] = "To";		p[3][1] = to;
	p[4][0] = "Body";	p[4][1] = "Hello there";
	p[5][0] = "ProfileName"; p[5][1] = "Ana";
	p[6][0] = "NumMedia";	p[6][1] = "0";
	p[7][0] = "WaId";	p[7][1] = "14155550100";
}

START_TEST(t_twilio_valid_and_replay)
{
	const char	*p[8][2];
	struct hresp	 r;
	char		*ct;

	tw_params(p, "SMaaaa0001", "whatsapp:" TW_NUMBER);
	twilio_post(TW_INBOUND, (const char *const (*)[2])p, 8, TW_TOKEN,
	    NULL, NULL, &r);
	ck_assert_msg(r.status == 200, "valid: got %ld %s", r.status, r.body);
	ct = hresp_header(&r, "Content-Type");
	ck_assert_msg(ct != NULL && strncmp(ct, "text/xml", 8) == 0,
	    "TwiML content type: %s", ct ? ct : "none");
	ck_assert_msg(strstr(r.body, "<Response></Response>") != NULL,
	    "no empty TwiML: %s", r.body);
	free(ct);
	hresp_free(&r);
	ck_assert_int_eq(n_messages("SMaaaa0001"), 1);
	ck_assert_int_eq(n_jobs("SMaaaa0001"), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages m JOIN chats "
	    "c ON c.id = m.chat_id WHERE m.provider_message_id = 'SMaaaa0001' "
	    "AND m.org_id = %lld AND m.channel_id = %lld AND c.kind = 'dm' "
	    "AND c.external_id = '+14155550100' AND m.sender_name = 'Ana' "
	    "AND m.body = 'Hello there'", (long long)cur->org,
	    (long long)cur->tw), 1);
	/* Health: a verified delivery is summarised on the channel. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM channels WHERE id = "
	    "%lld AND last_verified_at IS NOT NULL", (long long)cur->tw), 1);

	/* Replay: acknowledged, nothing new. */
	twilio_post(TW_INBOUND, (const char *const (*)[2])p, 8, TW_TOKEN,
	    NULL, NULL, &r);
	expect(&r, 200, "replay");
	ck_assert_int_eq(n_messages("SMaaaa0001"), 1);
	ck_assert_int_eq(n_jobs("SMaaaa0001"), 1);
}
END_TEST

START_TEST(t_twilio_media)
{
	const char	*p[10][2];
	struct hresp	 r;

	tw_params(p, "MMaaaa0002", "whatsapp:" TW_NUMBER);
	p[6][1] = "1";
	p[8][0] = "MediaUrl0";
	p[8][1] = "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/"
	    "Media/ME1";
	p[9][0] = "MediaContentType0";
	p[9][1] = "image/jpeg";
	twilio_post(TW_INBOUND, (const char *const (*)[2])p, 10, TW_TOKEN,
	    NULL, NULL, &r);
	expect(&r, 200, "media");
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id = 'MMaaaa0002' AND media->0->>'contentType' "
	    "= 'image/jpeg' AND media->0->>'url' LIKE 'https://api.twilio.com"
	    "/%%'"), 1);
}
END_TEST

START_TEST(t_twilio_rejections)
{
	const char	*p[8][2];
	struct hresp	 r;
	char		 other[300];

	/* Wrong token. */
	tw_params(p, "SMbad00001", "whatsapp:" TW_NUMBER);
	twilio_post(TW_INBOUND, (const char *const (*)[2])p, 8,
	    "ffffffffffffffffffffffffffffffff", NULL, NULL, &r);
	expect(&r, 403, "bad signature");
	ck_assert_int_eq(n_messages("SMbad00001"), 0);
	ck_assert_int_ge(n_rejections(cur->tw, "bad signature"), 1);

	/* No header. */
	tw_params(p, "SMbad00002", "whatsapp:" TW_NUMBER);
	twilio_post(TW_INBOUND, (const char *const (*)[2])p, 8, NULL, NULL,
	    NULL, &r);
	expect(&r, 403, "missing signature");
	ck_assert_int_eq(n_messages("SMbad00002"), 0);
	ck_assert_int_eq(n_rejections(cur->tw, "missing signature"), 1);

	/* A channel without its token fails closed. */
	tw_params(p, "SMbad00003", "whatsapp:" TW_NOSEC_NUMBER);
	twilio_post(TW_INBOUND, (const char *const (*)[2])p, 8, TW_TOKEN,
	    NULL, NULL, &r);
	expect(&r, 403, "no secret");
	ck_assert_int_eq(n_messages("SMbad00003"), 0);
	ck_assert_int_eq(n_rejections(cur->tw_nosec, "no secret configured"),
	    1);

	/* A number no channel has. */
	tw_params(p, "SMbad00004", "whatsapp:+19998887777");
	twilio_post(TW_INBOUND, (const char *const (*)[2])p, 8, TW_TOKEN,
	    NULL, NULL, &r);
	expect(&r, 403, "unknown number");
	ck_assert_int_eq(n_messages("SMbad00004"), 0);
	ck_assert_int_ge(sqli("SELECT count(*) FROM webhook_events WHERE "
	    "channel_id IS NULL AND org_id IS NULL AND provider = 'twilio' "
	    "AND reason = 'unknown number' AND detail = '+19998887777'"), 1);

	/* Signed for another host (a proxy rewrote it): refused, and the
	 * rejection names the URL Twilio used. */
	tw_params(p, "SMbad00005", "whatsapp:" TW_NUMBER);
	twilio_post(TW_INBOUND, (const char *const (*)[2])p, 8, TW_TOKEN,
	    "https://parley.example.com/webhooks/whatsapp/twilio",
	    "parley.example.com", &r);
	expect(&r, 403, "wrong URL");
	ck_assert_int_eq(n_messages("SMbad00005"), 0);
	snprintf(other, sizeof(other), "SELECT count(*) FROM webhook_events "
	    "WHERE channel_id = %lld AND reason = 'bad signature' AND detail "
	    "= 'scheme: Auth Token (HMAC_SHA1); URL mismatch: Twilio signed "
	    "https://parley.example.com/webhooks/whatsapp/twilio, "
	    "PARLEY_PUBLIC_URL is %s'",
	    (long long)cur->tw, cur->srv.base);
	ck_assert_int_eq(hpg_sql_int(&cur->pg, other), 1);

	/* Signed for the status URL, sent to the inbound one. */
	tw_params(p, "SMbad00006", "whatsapp:" TW_NUMBER);
	snprintf(other, sizeof(other), "%s%s", cur->srv.base, TW_STATUS);
	twilio_post(TW_INBOUND, (const char *const (*)[2])p, 8, TW_TOKEN,
	    other, NULL, &r);
	expect(&r, 403, "other path");
	ck_assert_int_eq(n_messages("SMbad00006"), 0);
}
END_TEST

/* The connection-override fragment our channel page suggests. */
START_TEST(t_twilio_fragment)
{
	const char	*p[8][2];
	struct hresp	 r;
	char		 url[300];

	tw_params(p, "SMfrag0001", "whatsapp:" TW_NUMBER);
	snprintf(url, sizeof(url), "%s%s#rc=5&rp=all", cur->srv.base,
	    TW_INBOUND);
	twilio_post(TW_INBOUND, (const char *const (*)[2])p, 8, TW_TOKEN, url,
	    NULL, &r);
	expect(&r, 200, "fragment");
	ck_assert_int_eq(n_messages("SMfrag0001"), 1);
}
END_TEST

START_TEST(t_twilio_malformed)
{
	const char	*h[] = { "X-Twilio-Signature: AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
			    NULL };
	struct hresp	 r;
	char		*big;

	post(TW_INBOUND, "MessageSid=SMmal00001&To=%ZZ", NULL, h, &r);
	expect(&r, 400, "bad escape");
	post(TW_INBOUND, "MessageSid=SMmal00002&To=whatsapp%3A%2B14155238886"
	    "&Body=%FF%FE", NULL, h, &r);
	expect(&r, 400, "invalid UTF-8");
	ck_assert_int_eq(n_messages("SMmal00001") + n_messages("SMmal00002"),
	    0);
	big = malloc(70 * 1024);
	memset(big, 'a', 70 * 1024 - 1);
	memcpy(big, "Body=", 5);
	big[70 * 1024 - 1] = '\0';
	post(TW_INBOUND, big, NULL, h, &r);
	free(big);
	expect(&r, 413, "too large");
}
END_TEST

START_TEST(t_twilio_status)
{
	const char	*p[6][2];
	struct hresp	 r;
	int64_t		 id = out_message(cur->tw, "SMout00001");
	int64_t		 id2 = out_message(cur->tw, "SMout00002");
	int64_t		 id3 = out_message(cur->tw, "SMout00003");
	const char	*steps[] = { "delivered", "read", "delivered", "sent" };
	const char	*want[] = { "delivered", "read", "read", "read" };

	p[0][0] = "MessageSid";		p[0][1] = "SMout00001";
	p[1][0] = "AccountSid";		p[1][1] = TW_SID;
	p[2][0] = "From";		p[2][1] = "whatsapp:" TW_NUMBER;
	p[3][0] = "To";			p[3][1] = "whatsapp:+14155550100";
	p[4][0] = "MessageStatus";
	for (int i = 0; i < 4; i++) {
		p[4][1] = steps[i];
		twilio_post(TW_STATUS, (const char *const (*)[2])p, 5,
		    TW_TOKEN, NULL, NULL, &r);
		expect(&r, 200, steps[i]);
		ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
		    "id = %lld AND status = '%s'", (long long)id, want[i]), 1);
	}
	/* undelivered with an error code is a failure… */
	p[0][1] = "SMout00002";
	p[4][1] = "undelivered";
	p[5][0] = "ErrorCode";
	p[5][1] = "63003";
	twilio_post(TW_STATUS, (const char *const (*)[2])p, 6, TW_TOKEN, NULL,
	    NULL, &r);
	expect(&r, 200, "undelivered");
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = "
	    "%lld AND status = 'failed' AND error_code = '63003'",
	    (long long)id2), 1);
	/* …but one for the 24-hour window (63016) is held, not failed,
	 * and the chat's hold begins (chat/window.h). */
	p[0][1] = "SMout00003";
	p[5][1] = "63016";
	twilio_post(TW_STATUS, (const char *const (*)[2])p, 6, TW_TOKEN, NULL,
	    NULL, &r);
	expect(&r, 200, "undelivered");
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = "
	    "%lld AND status = 'held' AND error_code = '63016'",
	    (long long)id3), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM window_holds h JOIN "
	    "messages m ON m.chat_id = h.chat_id WHERE m.id = %lld AND "
	    "h.released_at IS NULL", (long long)id3), 1);
	/* Unsigned: refused, nothing changes. */
	p[0][1] = "SMout00001";
	p[4][1] = "failed";
	twilio_post(TW_STATUS, (const char *const (*)[2])p, 5, "x", NULL,
	    NULL, &r);
	expect(&r, 403, "bad status signature");
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = "
	    "%lld AND status = 'read'", (long long)id), 1);
}
END_TEST

/* --- Meta --------------------------------------------------------------- */

START_TEST(t_meta_handshake)
{
	struct client	 c;
	struct hresp	 r;

	client_init(&c, cur->srv.base);
	client_req(&c, "GET", "/webhooks/whatsapp/meta?hub.mode=subscribe&"
	    "hub.challenge=1158201444&hub.verify_token=" META_VERIFY, NULL,
	    NULL, NULL, &r);
	ck_assert_msg(r.status == 200 && strcmp(r.body, "1158201444") == 0,
	    "handshake: %ld %s", r.status, r.body);
	hresp_free(&r);
	/* Any Meta channel's token will do (the GET names no number). */
	client_req(&c, "GET", "/webhooks/whatsapp/meta?hub.mode=subscribe&"
	    "hub.challenge=42&hub.verify_token=org-b-verify-token", NULL,
	    NULL, NULL, &r);
	ck_assert_msg(r.status == 200 && strcmp(r.body, "42") == 0,
	    "handshake B: %ld %s", r.status, r.body);
	hresp_free(&r);
	client_req(&c, "GET", "/webhooks/whatsapp/meta?hub.mode=subscribe&"
	    "hub.challenge=1158201444&hub.verify_token=wrong", NULL, NULL,
	    NULL, &r);
	expect(&r, 403, "bad token");
	client_req(&c, "GET", "/webhooks/whatsapp/meta?hub.mode=unsubscribe&"
	    "hub.challenge=1&hub.verify_token=" META_VERIFY, NULL, NULL, NULL,
	    &r);
	expect(&r, 403, "bad mode");
	client_req(&c, "GET", "/webhooks/whatsapp/meta?hub.mode=subscribe&"
	    "hub.verify_token=" META_VERIFY, NULL, NULL, NULL, &r);
	ck_assert_int_ge(r.status, 400);
	ck_assert_int_lt(r.status, 500);
	hresp_free(&r);
	client_req(&c, "GET", "/webhooks/whatsapp/meta?hub.mode=subscribe&"
	    "hub.challenge=%3Cscript%3E%20x&hub.verify_token=" META_VERIFY,
	    NULL, NULL, NULL, &r);
	expect(&r, 400, "unprintable challenge");
}
END_TEST

START_TEST(t_meta_valid_and_replay)
{
	char		*b = meta_text(META_PNID, "wamid.M0001", "Does it come "
			    "in blue? \\u00e9\\ud83d\\ude00", 0);
	struct hresp	 r;

	meta_post(b, META_SECRET, &r);
	expect(&r, 200, "valid");
	ck_assert_int_eq(n_messages("wamid.M0001"), 1);
	ck_assert_int_eq(n_jobs("wamid.M0001"), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages m JOIN chats "
	    "c ON c.id = m.chat_id WHERE m.provider_message_id = 'wamid.M0001'"
	    " AND m.org_id = %lld AND m.channel_id = %lld AND c.kind = 'dm' "
	    "AND c.external_id = '+16505551234' AND m.sender = '+16505551234' "
	    "AND m.sender_name = 'Sheena Nelson' AND m.body = 'Does it come "
	    "in blue? ' || U&'\\00e9\\+01F600' AND m.provider_ts IS NOT NULL",
	    (long long)cur->org, (long long)cur->meta), 1);
	meta_post(b, META_SECRET, &r);
	expect(&r, 200, "replay");
	ck_assert_int_eq(n_messages("wamid.M0001"), 1);
	ck_assert_int_eq(n_jobs("wamid.M0001"), 1);
	free(b);
}
END_TEST

START_TEST(t_meta_batch_group_media)
{
	char		 b[BODY_MAX];
	struct hresp	 r;
	long long	 now = (long long)time(NULL);

	snprintf(b, sizeof(b),
	    META_DELIVERY_HEAD
	    "\"contacts\":[{\"profile\":{\"name\":\"Bo\"},\"wa_id\":"
	    "\"16505550001\"},{\"profile\":{\"name\":\"Cy\"},\"wa_id\":"
	    "\"16505550002\"}],\"messages\":["
	    "{\"from\":\"16505550001\",\"id\":\"wamid.B1\",\"timestamp\":"
	    "\"%lld\",\"type\":\"text\",\"text\":{\"body\":\"one\"}},"
	    "{\"from\":\"16505550002\",\"id\":\"wamid.B2\",\"timestamp\":"
	    "\"%lld\",\"type\":\"audio\",\"audio\":{\"id\":\"MEDIA1\","
	    "\"mime_type\":\"audio/ogg; codecs=opus\",\"voice\":true}},"
	    "{\"from\":\"16505550001\",\"id\":\"wamid.B3\",\"timestamp\":"
	    "\"%lld\",\"type\":\"text\",\"group_id\":\"GROUP123\",\"text\":"
	    "{\"body\":\"in a group\"}}]}}]}]}", now, now, now);
	meta_post(b, META_SECRET, &r);
	expect(&r, 200, "batch");
	ck_assert_int_eq(n_messages("wamid.B1") + n_messages("wamid.B2") +
	    n_messages("wamid.B3"), 3);
	ck_assert_int_eq(n_jobs("wamid.B1") + n_jobs("wamid.B2") +
	    n_jobs("wamid.B3"), 3);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id = 'wamid.B2' AND sender_name = 'Cy' AND "
	    "media->0->>'id' = 'MEDIA1' AND (media->0->>'voice')::boolean"), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages m JOIN chats "
	    "c ON c.id = m.chat_id WHERE m.provider_message_id = 'wamid.B3' "
	    "AND c.kind = 'group' AND c.external_id = 'GROUP123' AND "
	    "m.sender = '+16505550001'"), 1);
}
END_TEST

START_TEST(t_meta_old_message)
{
	char		*b = meta_text(META_PNID, "wamid.OLD1", "late",
			    (int64_t)time(NULL) - 2 * 86400);
	struct hresp	 r;

	meta_post(b, META_SECRET, &r);
	free(b);
	expect(&r, 200, "old");
	ck_assert_int_eq(n_messages("wamid.OLD1"), 1);
	ck_assert_int_eq(n_jobs("wamid.OLD1"), 0);
}
END_TEST

START_TEST(t_meta_rejections)
{
	char		*b;
	struct hresp	 r;

	b = meta_text(META_PNID, "wamid.X1", "x", 0);
	meta_post(b, "not-the-secret", &r);
	expect(&r, 403, "bad signature");
	meta_post(b, NULL, &r);
	expect(&r, 403, "missing signature");
	ck_assert_int_eq(n_messages("wamid.X1"), 0);
	ck_assert_int_ge(n_rejections(cur->meta, "bad signature"), 1);
	ck_assert_int_ge(n_rejections(cur->meta, "missing signature"), 1);
	free(b);

	b = meta_text(META_NOSEC_PNID, "wamid.X2", "x", 0);
	meta_post(b, META_SECRET, &r);
	expect(&r, 403, "no secret");
	ck_assert_int_eq(n_messages("wamid.X2"), 0);
	ck_assert_int_eq(n_rejections(cur->meta_nosec,
	    "no secret configured"), 1);
	free(b);

	b = meta_text("999999999999", "wamid.X3", "x", 0);
	meta_post(b, META_SECRET, &r);
	expect(&r, 403, "unknown number");
	ck_assert_int_eq(n_messages("wamid.X3"), 0);
	ck_assert_int_ge(sqli("SELECT count(*) FROM webhook_events WHERE "
	    "channel_id IS NULL AND provider = 'meta' AND reason = "
	    "'unknown number'"), 1);
	free(b);
}
END_TEST

/* Org A's secret can never write into org B's channel. */
START_TEST(t_meta_other_org)
{
	char		*b;
	char		 two[BODY_MAX];
	struct hresp	 r;
	/* Inbound only: org B's replies (a welcome) are not at issue. */
	int64_t		 before_b = sqli("SELECT count(*) FROM messages "
			    "WHERE org_id = %lld AND direction = 'in'",
			    (long long)cur->org_b);

	b = meta_text(META_B_PNID, "wamid.ORGB1", "x", 0);
	meta_post(b, META_SECRET, &r);
	expect(&r, 403, "A's secret for B's number");
	ck_assert_int_eq(n_messages("wamid.ORGB1"), 0);
	ck_assert_int_ge(n_rejections(cur->meta_b, "bad signature"), 1);
	/* B's own delivery lands in B only. */
	meta_post(b, META_B_SECRET, &r);
	expect(&r, 200, "B's own");
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id = 'wamid.ORGB1' AND org_id = %lld AND "
	    "channel_id = %lld", (long long)cur->org_b,
	    (long long)cur->meta_b), 1);
	free(b);

	/* One delivery naming both numbers, signed with A's secret: all of
	 * it is refused, and both channels hear of it. */
	snprintf(two, sizeof(two),
	    "{\"object\":\"whatsapp_business_account\",\"entry\":["
	    "{\"id\":\"W\",\"changes\":[{\"field\":\"messages\",\"value\":{"
	    "\"metadata\":{\"phone_number_id\":\"" META_PNID "\"},"
	    "\"messages\":[{\"from\":\"16505550009\",\"id\":\"wamid.TWO1\","
	    "\"timestamp\":\"%lld\",\"type\":\"text\",\"text\":{\"body\":"
	    "\"a\"}}]}},{\"field\":\"messages\",\"value\":{\"metadata\":{"
	    "\"phone_number_id\":\"" META_B_PNID "\"},\"messages\":[{\"from\":"
	    "\"16505550009\",\"id\":\"wamid.TWO2\",\"timestamp\":\"%lld\","
	    "\"type\":\"text\",\"text\":{\"body\":\"b\"}}]}}]}]}",
	    (long long)time(NULL), (long long)time(NULL));
	meta_post(two, META_SECRET, &r);
	expect(&r, 403, "mixed delivery");
	ck_assert_int_eq(n_messages("wamid.TWO1") + n_messages("wamid.TWO2"),
	    0);
	ck_assert_int_ge(n_rejections(cur->meta, "batch rejected"), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "org_id = %lld AND direction = 'in'", (long long)cur->org_b),
	    before_b + 1);
}
END_TEST

START_TEST(t_meta_malformed)
{
	struct hresp	 r;
	char		*big;
	const char	*bad_utf8 = "{\"entry\":[{\"changes\":[{\"value\":{"
			    "\"metadata\":{\"phone_number_id\":\"" META_PNID
			    "\"},\"messages\":[{\"id\":\"wamid.U1\",\"from\":"
			    "\"1\",\"type\":\"text\",\"text\":{\"body\":"
			    "\"\xff\xfe\"}}]}}]}]}";

	meta_post("{\"entry\": [", META_SECRET, &r);
	expect(&r, 400, "truncated JSON");
	meta_post("[1,2,3]", META_SECRET, &r);
	expect(&r, 400, "not an object");
	meta_post("{\"object\":\"x\"}", META_SECRET, &r);
	expect(&r, 400, "no entry");
	meta_post(bad_utf8, META_SECRET, &r);
	expect(&r, 400, "invalid UTF-8");
	ck_assert_int_eq(n_messages("wamid.U1"), 0);

	big = malloc(3 * 1024 * 1024 + 100);
	memset(big, ' ', 3 * 1024 * 1024 + 99);
	big[0] = '{';
	big[3 * 1024 * 1024 + 98] = '}';
	big[3 * 1024 * 1024 + 99] = '\0';
	meta_post(big, META_SECRET, &r);
	free(big);
	expect(&r, 413, "too large");
}
END_TEST

/* A Meta status delivery: message id failed with code and title. */
static void
meta_failed(char *b, size_t len, const char *id, int code, const char *title)
{
	snprintf(b, len,
	    META_DELIVERY_HEAD
	    "\"statuses\":[{\"id\":\"%s\",\"status\":\"failed\","
	    "\"timestamp\":\"1\",\"errors\":[{\"code\":%d,\"title\":"
	    "\"%s\"}]}]}}]}]}", id, code, title);
}

START_TEST(t_meta_statuses)
{
	char		 b[BODY_MAX];
	struct hresp	 r;
	int64_t		 id = out_message(cur->meta, "wamid.OUT1");
	int64_t		 id2 = out_message(cur->meta, "wamid.OUT2");
	int64_t		 id3 = out_message(cur->meta, "wamid.OUT3");
	const char	*steps[] = { "sent", "delivered", "read", "delivered" };
	const char	*want[] = { "sent", "delivered", "read", "read" };

	for (int i = 0; i < 4; i++) {
		snprintf(b, sizeof(b),
		    "{\"object\":\"whatsapp_business_account\",\"entry\":[{"
		    "\"id\":\"W\",\"changes\":[{\"field\":\"messages\","
		    "\"value\":{\"metadata\":{\"phone_number_id\":\""
		    META_PNID "\"},\"statuses\":[{\"id\":\"wamid.OUT1\","
		    "\"status\":\"%s\",\"timestamp\":\"1\",\"recipient_id\":"
		    "\"19995550000\"}]}}]}]}", steps[i]);
		meta_post(b, META_SECRET, &r);
		expect(&r, 200, steps[i]);
		ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
		    "id = %lld AND status = '%s'", (long long)id, want[i]), 1);
	}
	/* A failure is a failure… */
	meta_failed(b, sizeof(b), "wamid.OUT2", 131026, "Message undeliverable");
	meta_post(b, META_SECRET, &r);
	expect(&r, 200, "failed");
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = "
	    "%lld AND status = 'failed' AND error_code = '131026'",
	    (long long)id2), 1);
	/* …but one for the 24-hour window (131047) is held, not failed,
	 * and the chat's hold begins (chat/window.h). */
	meta_failed(b, sizeof(b), "wamid.OUT3", 131047,
	    "Re-engagement message");
	meta_post(b, META_SECRET, &r);
	expect(&r, 200, "failed");
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = "
	    "%lld AND status = 'held' AND error_code = '131047'",
	    (long long)id3), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM window_holds h JOIN "
	    "messages m ON m.chat_id = h.chat_id WHERE m.id = %lld AND "
	    "h.released_at IS NULL", (long long)id3), 1);
}
END_TEST

/*
 * Fault injection: a trigger makes PostgreSQL refuse one message. A
 * delivery holding it stores nothing at all (chat, messages, jobs) and
 * answers 5xx; concurrent deliveries committed alongside it (group
 * commit) are not sunk by it.
 */
START_TEST(t_ingest_poison)
{
	char		 b[BODY_MAX];
	struct hresp	 r;
	pthread_t	 t[8];
	struct load_arg	*a;
	long long	 now = (long long)time(NULL);

	free(sqls("CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql"
	    " AS $$ BEGIN IF NEW.body = 'poison' THEN RAISE EXCEPTION "
	    "'poisoned'; END IF; RETURN NEW; END $$"));
	free(sqls("CREATE TRIGGER poison BEFORE INSERT ON messages FOR "
	    "EACH ROW EXECUTE FUNCTION poison()"));
	snprintf(b, sizeof(b),
	    META_DELIVERY_HEAD
	    "\"messages\":["
	    "{\"from\":\"16505559999\",\"id\":\"wamid.P1\",\"timestamp\":"
	    "\"%lld\",\"type\":\"text\",\"text\":{\"body\":\"fine\"}},"
	    "{\"from\":\"16505559999\",\"id\":\"wamid.P2\",\"timestamp\":"
	    "\"%lld\",\"type\":\"text\",\"text\":{\"body\":\"poison\"}}"
	    "]}}]}]}", now, now);
	meta_post(b, META_SECRET, &r);
	ck_assert_msg(r.status == 503, "poisoned batch: %ld", r.status);
	hresp_free(&r);
	ck_assert_int_eq(n_messages("wamid.P1") + n_messages("wamid.P2"), 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM chats WHERE "
	    "external_id = '+16505559999'"), 0);

	/* Alongside concurrent good deliveries. */
	a = calloc(8, sizeof(*a));
	for (int i = 0; i < 8; i++) {
		a[i].index = 100 + i;
		a[i].n = 4;
		a[i].poison = i == 3;
		ck_assert(pthread_create(&t[i], NULL, load_thread, &a[i]) == 0);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 8; i++)
		ck_assert_msg(a[i].fails == 0, "thread %d: %d unexpected "
		    "answers", i, a[i].fails);
	free(a);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id LIKE 'wamid.LOAD.10_.%%'"), 7 * 4);
	free(sqls("DROP TRIGGER poison ON messages"));
	free(sqls("DROP FUNCTION poison()"));
}
END_TEST

static void *
load_thread(void *p)
{
	struct load_arg	*a = p;
	struct client	 c;
	struct hresp	 r;
	char		 id[64], hex[65], h[128];
	char		*b;
	const char	*headers[2] = { h, NULL };

	client_init(&c, cur->srv.base);
	for (int i = 0; i < a->n; i++) {
		/* Threads i, i+4, … share ids: concurrent replays. */
		snprintf(id, sizeof(id), "wamid.LOAD.%d.%d", a->index < 100 ?
		    a->index % 4 : a->index, i % 8);
		b = meta_text(META_PNID, id, a->poison ? "poison" : "load", 0);
		hmac_sha256_hex(META_SECRET, b, strlen(b), hex);
		snprintf(h, sizeof(h), "X-Hub-Signature-256: sha256=%s", hex);
		client_req(&c, "POST", "/webhooks/whatsapp/meta", b,
		    "application/json", headers, &r);
		if (r.status != (a->poison ? 503 : 200))
			a->fails++;
		hresp_free(&r);
		free(b);
	}
	return NULL;
}

/*
 * Many concurrent deliveries (group commit gathers them), with replays
 * among them: each message once, each job once, every answer 200.
 */
START_TEST(t_meta_concurrent)
{
	enum { THREADS = 16, PER = 16 };
	pthread_t	 t[THREADS];
	struct load_arg	 a[THREADS];
	int		 fails = 0;

	for (int i = 0; i < THREADS; i++) {
		a[i].index = i;
		a[i].n = PER;
		a[i].poison = false;
		a[i].fails = 0;
		ck_assert(pthread_create(&t[i], NULL, load_thread, &a[i]) == 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		fails += a[i].fails;
	}
	ck_assert_int_eq(fails, 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id LIKE 'wamid.LOAD.%%'"), 4 * 8);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages m JOIN chats c "
	    "ON c.id = m.chat_id WHERE m.provider_message_id LIKE "
	    "'wamid.LOAD.%%' AND (c.turn_due_at IS NOT NULL OR c.turn_job IS "
	    "NOT NULL OR m.answered_by IS NOT NULL)"), 4 * 8);
}
END_TEST

/* --- Kapso -------------------------------------------------------------- */

#define KAPSO_PATH	"/webhooks/whatsapp/kapso"
#define KAPSO_PROJECT	"/webhooks/kapso/project"

START_TEST(t_kapso_valid_and_replay)
{
	char		*b = kapso_received(KAPSO_PNID, "wamid.K0001", "Hello");
	struct hresp	 r;

	kapso_post(KAPSO_PATH, "whatsapp.message.received", b, KAPSO_SECRET,
	    &r);
	expect(&r, 200, "valid");
	ck_assert_int_eq(n_messages("wamid.K0001"), 1);
	ck_assert_int_eq(n_jobs("wamid.K0001"), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages m JOIN chats "
	    "c ON c.id = m.chat_id WHERE m.provider_message_id = 'wamid.K0001'"
	    " AND m.channel_id = %lld AND c.external_id = '+15557654321' AND "
	    "m.sender_name = 'John Doe' AND m.body = 'Hello'",
	    (long long)cur->kapso), 1);
	kapso_post(KAPSO_PATH, "whatsapp.message.received", b, KAPSO_SECRET,
	    &r);
	expect(&r, 200, "replay");
	ck_assert_int_eq(n_messages("wamid.K0001"), 1);
	ck_assert_int_eq(n_jobs("wamid.K0001"), 1);
	free(b);
}
END_TEST

START_TEST(t_kapso_batch)
{
	char		*p1 = kapso_received(KAPSO_PNID, "wamid.KB1", "one");
	char		*p2 = kapso_received(KAPSO_PNID, "wamid.KB2", "two");
	char		 b[BODY_MAX];
	struct hresp	 r;

	snprintf(b, sizeof(b), "{\"type\":\"whatsapp.message.received\","
	    "\"batch\":true,\"data\":[%s,%s]}", p1, p2);
	kapso_post(KAPSO_PATH, "whatsapp.message.received", b, KAPSO_SECRET,
	    &r);
	expect(&r, 200, "batch");
	ck_assert_int_eq(n_messages("wamid.KB1") + n_messages("wamid.KB2"), 2);
	ck_assert_int_eq(n_jobs("wamid.KB1") + n_jobs("wamid.KB2"), 2);
	free(p1);
	free(p2);
}
END_TEST

START_TEST(t_kapso_rejections)
{
	char		*b = kapso_received(KAPSO_PNID, "wamid.KX1", "x");
	struct hresp	 r;

	kapso_post(KAPSO_PATH, "whatsapp.message.received", b, "wrong", &r);
	expect(&r, 403, "bad signature");
	kapso_post(KAPSO_PATH, "whatsapp.message.received", b, NULL, &r);
	expect(&r, 403, "missing signature");
	ck_assert_int_eq(n_messages("wamid.KX1"), 0);
	ck_assert_int_ge(n_rejections(cur->kapso, "bad signature"), 1);
	ck_assert_int_ge(n_rejections(cur->kapso, "missing signature"), 1);
	free(b);

	b = kapso_received(KAPSO_NOSEC_PNID, "wamid.KX2", "x");
	kapso_post(KAPSO_PATH, "whatsapp.message.received", b, KAPSO_SECRET,
	    &r);
	expect(&r, 403, "no secret");
	ck_assert_int_eq(n_messages("wamid.KX2"), 0);
	ck_assert_int_eq(n_rejections(cur->kapso_nosec,
	    "no secret configured"), 1);
	free(b);

	b = kapso_received("888888888", "wamid.KX3", "x");
	kapso_post(KAPSO_PATH, "whatsapp.message.received", b, KAPSO_SECRET,
	    &r);
	expect(&r, 403, "unknown number");
	ck_assert_int_eq(n_messages("wamid.KX3"), 0);
	free(b);

	kapso_post(KAPSO_PATH, "whatsapp.message.received", "{\"a\":",
	    KAPSO_SECRET, &r);
	expect(&r, 400, "malformed");
	kapso_post(KAPSO_PATH, "whatsapp.message.received",
	    "{\"phone_number_id\":\"" KAPSO_PNID "\",\"x\":\"\xc3\x28\"}",
	    KAPSO_SECRET, &r);
	expect(&r, 400, "invalid UTF-8");
}
END_TEST

START_TEST(t_kapso_events)
{
	char		 b[BODY_MAX];
	struct hresp	 r;
	int64_t		 id = out_message(cur->kapso, "wamid.KOUT1");

	snprintf(b, sizeof(b), "{\"message\":{\"id\":\"wamid.KOUT1\","
	    "\"kapso\":{\"direction\":\"outbound\",\"status\":\"delivered\"}},"
	    "\"phone_number_id\":\"" KAPSO_PNID "\"}");
	kapso_post(KAPSO_PATH, "whatsapp.message.delivered", b, KAPSO_SECRET,
	    &r);
	expect(&r, 200, "delivered");
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = "
	    "%lld AND status = 'delivered'", (long long)id), 1);
	/* Events we do not use are acknowledged after verification. */
	snprintf(b, sizeof(b), "{\"conversation\":{\"id\":\"c1\"},"
	    "\"phone_number_id\":\"" KAPSO_PNID "\"}");
	kapso_post(KAPSO_PATH, "whatsapp.conversation.created", b,
	    KAPSO_SECRET, &r);
	expect(&r, 200, "other event");
	kapso_post(KAPSO_PATH, "whatsapp.conversation.created", b, "wrong",
	    &r);
	expect(&r, 403, "other event, bad signature");
}
END_TEST

START_TEST(t_kapso_project)
{
	const char	*b = "{\"phone_number_id\":\"" KAPSO_PNID "\","
			    "\"project\":{\"id\":\"p1\"},\"customer\":{\"id\":"
			    "\"c1\"}}";
	struct hresp	 r;

	free(sqls("UPDATE channels SET status = 'pending' WHERE id = %lld",
	    (long long)cur->kapso));
	kapso_post(KAPSO_PROJECT, "whatsapp.phone_number.created", b, "wrong",
	    &r);
	expect(&r, 403, "bad signature");
	ck_assert_int_eq(sqli("SELECT count(*) FROM channels WHERE id = "
	    "%lld AND status = 'pending'", (long long)cur->kapso), 1);
	kapso_post(KAPSO_PROJECT, "whatsapp.phone_number.created",
	    "{\"project\":{\"id\":\"p1\"}}", KAPSO_SECRET, &r);
	expect(&r, 403, "no phone_number_id");
	kapso_post(KAPSO_PROJECT, "whatsapp.phone_number.created", b,
	    KAPSO_SECRET, &r);
	expect(&r, 200, "created");
	ck_assert_int_eq(sqli("SELECT count(*) FROM channels WHERE id = "
	    "%lld AND status = 'connected'", (long long)cur->kapso), 1);
}
END_TEST

/* --- the unread count ---------------------------------------------------- */

/* The API's unreadCount of the chat holding provider message pid, as the
 * owner reads the list of its channel. */
static int64_t
api_unread(const char *pid)
{
	static char	*tok;
	int64_t		 chat;

	if (tok == NULL)
		tok = htoken_create(&cur->pg, "owner@example.com", "unread",
		    NULL);
	chat = sqli("SELECT chat_id FROM messages WHERE provider_message_id "
	    "= '%s'", pid);
	return hapi_unread(cur->srv.base, tok, sqli("SELECT channel_id FROM "
	    "chats WHERE id = %lld", (long long)chat), chat);
}

/*
 * The unread count a person sees, as Meta and Kapso deliver (Twilio's
 * is tests/integration/conversations.c's): every inbound message of a
 * delivery counts, one listed twice in it and a delivery replayed count
 * once, what the business sent (a Kapso outbound message) does not.
 */
START_TEST(t_unread_every_provider)
{
	char		 b[BODY_MAX];
	char		*p1, *p2;
	struct hresp	 r;
	long long	 now = (long long)time(NULL);

	snprintf(b, sizeof(b),
	    META_DELIVERY_HEAD
	    "\"contacts\":[{\"profile\":{\"name\":\"Una\"},\"wa_id\":"
	    "\"16505550077\"},{\"profile\":{\"name\":\"Vic\"},\"wa_id\":"
	    "\"16505550078\"}],\"messages\":["
	    "{\"from\":\"16505550077\",\"id\":\"wamid.U1\",\"timestamp\":"
	    "\"%lld\",\"type\":\"text\",\"text\":{\"body\":\"one\"}},"
	    "{\"from\":\"16505550078\",\"id\":\"wamid.U9\",\"timestamp\":"
	    "\"%lld\",\"type\":\"text\",\"text\":{\"body\":\"other\"}},"
	    "{\"from\":\"16505550077\",\"id\":\"wamid.U2\",\"timestamp\":"
	    "\"%lld\",\"type\":\"text\",\"text\":{\"body\":\"two\"}},"
	    "{\"from\":\"16505550077\",\"id\":\"wamid.U1\",\"timestamp\":"
	    "\"%lld\",\"type\":\"text\",\"text\":{\"body\":\"one\"}}]}}]}]}",
	    now, now, now, now);
	meta_post(b, META_SECRET, &r);
	expect(&r, 200, "Meta delivery");
	ck_assert_int_eq(n_messages("wamid.U1") + n_messages("wamid.U2"), 2);
	ck_assert_int_eq(api_unread("wamid.U1"), 2);
	ck_assert_int_eq(api_unread("wamid.U9"), 1);
	meta_post(b, META_SECRET, &r);
	expect(&r, 200, "Meta delivery again");
	ck_assert_int_eq(api_unread("wamid.U1"), 2);
	ck_assert_int_eq(api_unread("wamid.U9"), 1);

	/* Kapso: a message in, then one the business sent elsewhere. */
	p1 = kapso_item(KAPSO_PNID, "wamid.KU1", "hi", "inbound",
	    "+15557650077");
	p2 = kapso_item(KAPSO_PNID, "wamid.KU2", "sent by the shop",
	    "outbound", "+15557650077");
	snprintf(b, sizeof(b), "{\"type\":\"whatsapp.message.received\","
	    "\"batch\":true,\"data\":[%s,%s]}", p1, p2);
	kapso_post(KAPSO_PATH, "whatsapp.message.received", b, KAPSO_SECRET,
	    &r);
	expect(&r, 200, "Kapso batch");
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id = 'wamid.KU2' AND direction = 'out' AND "
	    "chat_id = (SELECT chat_id FROM messages WHERE "
	    "provider_message_id = 'wamid.KU1')"), 1);
	ck_assert_int_eq(api_unread("wamid.KU1"), 1);
	free(p1);
	free(p2);
}
END_TEST

/* --- shared ------------------------------------------------------------- */

START_TEST(t_stop_clean)
{
	/* UBSan reports without stopping the process: read the log too. */
	hserver_stop_clean(&cur->srv);
}
END_TEST

/* --- faults ------------------------------------------------------------- */

START_TEST(t_database_down)
{
	const char	*p[8][2];
	struct hresp	 r;
	char		*b = meta_text(META_PNID, "wamid.DOWN1", "x", 0);
	char		*k = kapso_received(KAPSO_PNID, "wamid.DOWN2", "x");

	hpg_stop(&cur->pg);
	tw_params(p, "SMdown0001", "whatsapp:" TW_NUMBER);
	twilio_post(TW_INBOUND, (const char *const (*)[2])p, 8, TW_TOKEN,
	    NULL, NULL, &r);
	ck_assert_msg(r.status >= 500, "twilio, database down: %ld",
	    r.status);
	hresp_free(&r);
	meta_post(b, META_SECRET, &r);
	ck_assert_msg(r.status >= 500, "meta, database down: %ld", r.status);
	hresp_free(&r);
	kapso_post(KAPSO_PATH, "whatsapp.message.received", k, KAPSO_SECRET,
	    &r);
	ck_assert_msg(r.status >= 500, "kapso, database down: %ld", r.status);
	hresp_free(&r);
	hpg_restart(&cur->pg);

	ck_assert_int_eq(n_messages("SMdown0001") + n_messages("wamid.DOWN1") +
	    n_messages("wamid.DOWN2"), 0);
	/* The providers redeliver: each stored exactly once. The first
	 * requests after the restart may still meet dead pooled
	 * connections, so retry as the providers would. */
	for (int i = 0; i < 20; i++) {
		twilio_post(TW_INBOUND, (const char *const (*)[2])p, 8,
		    TW_TOKEN, NULL, NULL, &r);
		if (r.status == 200) {
			hresp_free(&r);
			break;
		}
		ck_assert_msg(r.status >= 500, "redelivery: %ld", r.status);
		hresp_free(&r);
		sleep_ms(250);
	}
	twilio_post(TW_INBOUND, (const char *const (*)[2])p, 8, TW_TOKEN,
	    NULL, NULL, &r);
	expect(&r, 200, "twilio redelivery");
	meta_post(b, META_SECRET, &r);
	expect(&r, 200, "meta redelivery");
	meta_post(b, META_SECRET, &r);
	expect(&r, 200, "meta second redelivery");
	kapso_post(KAPSO_PATH, "whatsapp.message.received", k, KAPSO_SECRET,
	    &r);
	expect(&r, 200, "kapso redelivery");
	ck_assert_int_eq(n_messages("SMdown0001"), 1);
	ck_assert_int_eq(n_messages("wamid.DOWN1"), 1);
	ck_assert_int_eq(n_messages("wamid.DOWN2"), 1);
	ck_assert_int_eq(n_jobs("SMdown0001") + n_jobs("wamid.DOWN1") +
	    n_jobs("wamid.DOWN2"), 3);
	free(b);
	free(k);
}
END_TEST

static Suite *
main_suite(void)
{
	Suite	*s = suite_create("webhooks");
	TCase	*tc = tcase_create("webhooks");

	tcase_set_timeout(tc, 300);
	tcase_add_unchecked_fixture(tc, main_setup, main_teardown);
	tcase_add_test(tc, t_twilio_valid_and_replay);
	tcase_add_test(tc, t_twilio_media);
	tcase_add_test(tc, t_twilio_rejections);
	tcase_add_test(tc, t_twilio_fragment);
	tcase_add_test(tc, t_twilio_malformed);
	tcase_add_test(tc, t_twilio_status);
	tcase_add_test(tc, t_meta_handshake);
	tcase_add_test(tc, t_meta_valid_and_replay);
	tcase_add_test(tc, t_meta_batch_group_media);
	tcase_add_test(tc, t_meta_old_message);
	tcase_add_test(tc, t_meta_rejections);
	tcase_add_test(tc, t_meta_other_org);
	tcase_add_test(tc, t_meta_malformed);
	tcase_add_test(tc, t_meta_statuses);
	tcase_add_test(tc, t_meta_concurrent);
	tcase_add_test(tc, t_ingest_poison);
	tcase_add_test(tc, t_kapso_valid_and_replay);
	tcase_add_test(tc, t_kapso_batch);
	tcase_add_test(tc, t_kapso_rejections);
	tcase_add_test(tc, t_kapso_events);
	tcase_add_test(tc, t_kapso_project);
	tcase_add_test(tc, t_unread_every_provider);
	tcase_add_test(tc, t_stop_clean);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *
faults_suite(void)
{
	Suite	*s = suite_create("faults");
	TCase	*tc = tcase_create("faults");

	tcase_set_timeout(tc, 300);
	tcase_add_unchecked_fixture(tc, faults_setup, faults_teardown);
	tcase_add_test(tc, t_database_down);
	tcase_add_test(tc, t_stop_clean);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int	 failed = hrun_suites(main_suite(), faults_suite(), NULL);

	fixture_cleanup(&fx_main);
	fixture_cleanup(&fx_faults);
	return failed == 0 ? 0 : 1;
}
