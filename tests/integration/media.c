/*
 * tests/integration/media.c: media downloads end to end (chat/media.c,
 * model/media.c, channels' fetch_media, the panel's media route and
 * timeline, the API's conversation). Inbound media messages arrive
 * through each provider's signed webhook; the items are served by the
 * fake WhatsApp APIs (tests/fakes/fake_whatsapp.c) in their wire formats,
 * Twilio's redirect to storage included.
 *
 * Checked: for Twilio, Meta and Kapso, the route serves the provider's
 * bytes with the right type (an attachment for unsafe types), sandboxed
 * and nosniff; credentials went to the API call and never to a redirect
 * or a foreign host; the second view is served from the database; unknown
 * and other organisations' ids are 404; logged out goes to the login;
 * members may view; an item over PARLEY_MEDIA_MAX_BYTES fails with a
 * sentence and nothing half-written (Meta's announced size refuses before
 * any byte); a Twilio MediaUrl off the API base is refused with no
 * request; a provider's 404 is a 502 page with its reason, never a 500;
 * the timeline shows thumbnails, players, reasons and transcripts; the
 * API reports each item's download. Every wait is bounded.
 */
#include "harness/model.h"
#include "harness/panel.h"
#include "harness/webhook.h"

/* Formatted SQL against this suite's cluster (tests/harness/pg.c). */
#define sqli(...)	hpg_sqlf_int(&pg, __VA_ARGS__)
#define sqls(...)	hpg_sqlf(&pg, __VA_ARGS__)

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <cjson/cJSON.h>
#include <gd.h>
#include <sodium.h>

#include "app/app.h"
#include "chat/media.h"
#include "crypto/secret.h"
#include "db/db.h"
#include "model/channel.h"
#include "util/xmalloc.h"

#define TW_NUMBER	"+15550001111"
#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"f00dfeedf00dfeedf00dfeedf00dfeed"
#define META_PNID	"106540352242922"
#define META_TOKEN	"meta-access-token-0123456789"
#define META_SECRET	"meta-app-secret-1"
#define KAPSO_PNID	"123456789012345"
#define KAPSO_KEY	"kapso-api-key-0123456789"
#define KAPSO_SECRET	"kapso-webhook-secret-1"
#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define MEMBER_EMAIL	"member@example.com"
#define MEMBER_PW	"member-password-0123"
#define OTHER_EMAIL	"other@example.com"
#define OTHER_PW	"other-password-0123"
#define MEDIA_MAX	65536
#define BODY_MAX	16384
#define BYTES_LEN	300

static struct hpg	 pg;
static struct hfake	 wa;
static struct hserver	 srv;
static struct secret_key *key;
static struct hvars	 env;
static int64_t		 org_id, other_org_id;
static int		 seq;
static unsigned char	 bytes[BYTES_LEN];	/* binary, NULs included */
static char		*bytes_b64;

static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 test_setup(void);
static void	 register_media(const char *, const char *, const char *);
static const char *twilio_in(const char *, const char *);
static void	 meta_in(const char *, const char *, const char *,
		    const char *);
static void	 kapso_in(const char *, const char *, const char *,
		    const char *, const char *);
static int64_t	 msg_id(const char *);
static int64_t	 chat_id(int64_t);
static char	*media_path(int64_t, int);
static const cJSON *log_find(const cJSON *, const char *, const char *,
		    int);
static int	 log_count(const cJSON *, const char *);
static int	 media_requests(const cJSON *);
static void	 assert_bytes(const struct hresp *, const char *);
static Suite	*media_suite(void);

/* --- fixture ------------------------------------------------------------ */

static void
suite_setup(void)
{
	struct channel_input	 cin;
	struct db_pool		*pool;
	struct db		*db;
	const char		*wa_args[] = { "--twilio-token", TW_TOKEN,
				    "--meta-token", META_TOKEN, "--kapso-key",
				    KAPSO_KEY, NULL };
	size_t			 b64len;

	ck_assert_int_ge(sodium_init(), 0);
	for (int i = 0; i < BYTES_LEN; i++)
		bytes[i] = (unsigned char)((i * 37) ^ (i >> 3));
	bytes[10] = 0;
	b64len = sodium_base64_ENCODED_LEN(BYTES_LEN,
	    sodium_base64_VARIANT_ORIGINAL);
	bytes_b64 = xmalloc(b64len);
	sodium_bin2base64(bytes_b64, b64len, bytes, BYTES_LEN,
	    sodium_base64_VARIANT_ORIGINAL);

	hpg_start(&pg);
	hfake_start(&wa, "fake_whatsapp", wa_args);
	hvars_whatsapp(&env, &wa);
	hvars_set(&env, "PARLEY_MEDIA_MAX_BYTES=%d", MEDIA_MAX);
	hvars_set(&env, "PARLEY_WORKERS=1");
	hvars_set(&env, "PARLEY_JOB_POLL_MS=100");
	hserver_start(&srv, &pg, env.v);
	key = hkey_load(&pg);
	org_id = sqli("SELECT id FROM orgs ORDER BY id LIMIT 1");
	huser_create(&pg, MEMBER_EMAIL, "My Organization", "member",
	    MEMBER_PW);
	huser_create(&pg, OTHER_EMAIL, "Other Org", "owner", OTHER_PW);
	other_org_id = sqli("SELECT id FROM orgs WHERE name = 'Other Org'");
	ck_assert(other_org_id > 0 && other_org_id != org_id);

	pool = db_pool_new(pg.conninfo, 1, 5000);
	ck_assert_ptr_nonnull(pool);
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	cin = (struct channel_input){ .kind = "twilio", .name = "Twilio",
	    .status = "connected", .phone_number = TW_NUMBER,
	    .twilio_account_sid = TW_SID, .twilio_auth_token = TW_TOKEN };
	(void)hchannel_create(db, key, org_id, &cin);
	cin = (struct channel_input){ .kind = "meta", .name = "Meta",
	    .status = "connected", .phone_number = "+15550783881",
	    .phone_number_id = META_PNID, .meta_access_token = META_TOKEN,
	    .meta_app_secret = META_SECRET,
	    .meta_verify_token = "meta-verify-token-1" };
	(void)hchannel_create(db, key, org_id, &cin);
	cin = (struct channel_input){ .kind = "kapso", .name = "Kapso",
	    .status = "connected", .phone_number = "+15551234000",
	    .phone_number_id = KAPSO_PNID, .kapso_api_key = KAPSO_KEY,
	    .kapso_webhook_secret = KAPSO_SECRET };
	(void)hchannel_create(db, key, org_id, &cin);
	db_release(db);
	db_pool_free(pool);
}

static void
suite_teardown(void)
{
	if (srv.pid > 0)
		(void)hserver_stop(&srv);
	secret_key_free(key);
	hfake_stop(&wa);
	hpg_destroy(&pg);
	hvars_free(&env);
	free(bytes_b64);
}

static void
test_setup(void)
{
	hfake_reset(&wa);
}

/* --- helpers ------------------------------------------------------------ */

/* Registers item id at the fake: bytes (the suite's) or extra JSON. */
static void
register_media(const char *id, const char *content_type, const char *extra)
{
	char	*json;

	if (extra != NULL)
		json = xasprintf("{\"id\":\"%s\",\"content_type\":\"%s\",%s}",
		    id, content_type, extra);
	else
		json = xasprintf("{\"id\":\"%s\",\"content_type\":\"%s\","
		    "\"body_b64\":\"%s\"}", id, content_type, bytes_b64);
	hfake_post(&wa, "/_fake/media", json);
	free(json);
}

/* A signed Twilio message with one item at media_url; its MessageSid. */
static const char *
twilio_in(const char *media_url, const char *content_type)
{
	static char	 sid[40];
	const char	*params[][2] = {
		{ "MessageSid", sid }, { "AccountSid", TW_SID },
		{ "From", "whatsapp:+14155550100" },
		{ "To", "whatsapp:" TW_NUMBER }, { "Body", "" },
		{ "NumMedia", "1" }, { "MediaUrl0", media_url },
		{ "MediaContentType0", content_type },
		{ "ProfileName", "Tess" },
	};

	snprintf(sid, sizeof(sid), "MM%032d", ++seq);
	htwilio_post_ok(srv.base, HTWILIO_INBOUND, TW_TOKEN, params, 9);
	return sid;
}

/* A Meta delivery of one media message (type image|audio|document…). */
static void
meta_in(const char *wamid, const char *type, const char *media_id,
    const char *mime)
{
	char	 b[BODY_MAX];

	snprintf(b, sizeof(b),
	    "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":"
	    "\"WABA1\",\"changes\":[{\"field\":\"messages\",\"value\":{"
	    "\"messaging_product\":\"whatsapp\",\"metadata\":{"
	    "\"display_phone_number\":\"15550783881\",\"phone_number_id\":"
	    "\"" META_PNID "\"},\"contacts\":[{\"profile\":{\"name\":"
	    "\"Sheena\"},\"wa_id\":\"16505551234\"}],\"messages\":[{\"from\":"
	    "\"16505551234\",\"id\":\"%s\",\"timestamp\":\"%lld\",\"type\":"
	    "\"%s\",\"%s\":{\"id\":\"%s\",\"mime_type\":\"%s\"%s}}]}}]}]}",
	    wamid, (long long)time(NULL), type, type, media_id, mime,
	    strcmp(type, "audio") == 0 ? ",\"voice\":true" : "");
	hmeta_post_ok(srv.base, b, META_SECRET);
}

/* A Kapso v2 message.received with one media item. */
static void
kapso_in(const char *wamid, const char *type, const char *media_id,
    const char *mime, const char *filename)
{
	char	 b[BODY_MAX];

	snprintf(b, sizeof(b),
	    "{\"message\":{\"id\":\"%s\",\"timestamp\":\"%lld\",\"type\":"
	    "\"%s\",\"%s\":{\"id\":\"%s\",\"mime_type\":\"%s\","
	    "\"filename\":\"%s\"},\"kapso\":{\"direction\":\"inbound\","
	    "\"status\":\"received\",\"has_media\":true}},"
	    "\"conversation\":{\"id\":\"conv_1\",\"phone_number\":"
	    "\"+15557654321\",\"phone_number_id\":\"" KAPSO_PNID "\"},"
	    "\"is_new_conversation\":true,\"phone_number_id\":\"" KAPSO_PNID
	    "\"}", wamid, (long long)time(NULL), type, type, media_id, mime,
	    filename);
	hkapso_post_ok(srv.base, HKAPSO_INBOUND, "whatsapp.message.received", b,
	    KAPSO_SECRET);
}

static int64_t
msg_id(const char *provider_message_id)
{
	int64_t	 id = sqli("SELECT id FROM messages WHERE "
		    "provider_message_id = '%s'", provider_message_id);

	ck_assert_msg(id > 0, "no message %s", provider_message_id);
	/* The turn downloads the media too (worker/turn.c): let it finish
	 * first, so each test sees one download, not a race. */
	ck_assert_msg(hpg_wait_int(&pg, 1, 20000, "SELECT count(*) FROM "
	    "messages m JOIN chats c ON c.id = m.chat_id WHERE m.id = %lld AND"
	    " (m.answered_by IS NOT NULL OR m.unanswered_reason IS NOT NULL)"
	    " AND c.turn_due_at IS NULL AND NOT EXISTS (SELECT 1 FROM jobs j"
	    " WHERE j.id = c.turn_job AND j.status IN ('queued', 'running'))",
	    (long long)id), "the turn of %s did not finish",
	    provider_message_id);
	return id;
}

static int64_t
chat_id(int64_t mid)
{
	return sqli("SELECT chat_id FROM messages WHERE id = %lld",
	    (long long)mid);
}

/* "/conversations/{chat}/media/{mid}/{n}" (malloc'd). */
static char *
media_path(int64_t mid, int n)
{
	return xasprintf("/conversations/%lld/media/%lld/%d",
	    (long long)chat_id(mid), (long long)mid, n);
}

/* The which-th (0-based) logged request with op whose path has needle. */
static const cJSON *
log_find(const cJSON *log, const char *op, const char *needle, int which)
{
	const cJSON	*e;

	cJSON_ArrayForEach(e, log) {
		if (strcmp(hjstr(e, "op"), op) != 0 ||
		    strstr(hjstr(e, "path"), needle) == NULL)
			continue;
		if (which-- == 0)
			return e;
	}
	return NULL;
}

/* Logged requests whose path holds needle. */
static int
log_count(const cJSON *log, const char *needle)
{
	const cJSON	*e;
	int		 n = 0;

	cJSON_ArrayForEach(e, log)
		if (strstr(hjstr(e, "path"), needle) != NULL)
			n++;
	return n;
}

/*
 * Logged media requests (API calls and downloads). The reply job's own
 * sends (a welcome text: these channels have no agent) do not count.
 */
static int
media_requests(const cJSON *log)
{
	const cJSON	*e;
	int		 n = 0;

	cJSON_ArrayForEach(e, log)
		if (strcmp(hjstr(e, "op"), "media") == 0 ||
		    strcmp(hjstr(e, "op"), "download") == 0)
			n++;
	return n;
}

/* The answer is the suite's bytes with this Content-Type, sandboxed. */
static void
assert_bytes(const struct hresp *r, const char *content_type)
{
	char	*ct = hresp_header(r, "Content-Type");
	char	*csp = hresp_header(r, "Content-Security-Policy");
	char	*nosniff = hresp_header(r, "X-Content-Type-Options");
	char	*cache = hresp_header(r, "Cache-Control");

	ck_assert_ptr_nonnull(ct);
	ck_assert_str_eq(ct, content_type);
	ck_assert_uint_eq(r->body_len, BYTES_LEN);
	ck_assert(memcmp(r->body, bytes, BYTES_LEN) == 0);
	ck_assert_ptr_nonnull(nosniff);
	ck_assert_str_eq(nosniff, "nosniff");
	ck_assert_ptr_nonnull(cache);
	ck_assert_ptr_nonnull(strstr(cache, "private"));
	/* Both policies are sent; the sandbox one is ours. */
	ck_assert_ptr_nonnull(strstr(r->headers, "sandbox"));
	free(ct);
	free(csp);
	free(nosniff);
	free(cache);
}

/* --- tests -------------------------------------------------------------- */

START_TEST(t_twilio)
{
	struct client	 c;
	struct hresp	 r;
	const cJSON	*api, *dl;
	cJSON		*log;
	char		 url[512], *path, *page, *hex;
	unsigned char	 h[crypto_hash_sha256_BYTES];
	char		 want_hex[2 * sizeof(h) + 1];
	int64_t		 mid;

	register_media("ME00000000000000000000000000000001", "image/png",
	    NULL);
	snprintf(url, sizeof(url), "%s/2010-04-01/Accounts/" TW_SID
	    "/Messages/MM1/Media/ME00000000000000000000000000000001",
	    wa.base);
	mid = msg_id(twilio_in(url, "image/png"));
	path = media_path(mid, 0);

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	hget(&c, path, 200, &r);
	assert_bytes(&r, "image/png");
	hresp_free(&r);

	/* The API call had the account's credentials; the storage URL it
	 * redirected to got none (the fake refuses them). */
	log = hfake_log(&wa);
	api = log_find(log, "media", "/Media/ME000", 0);
	ck_assert_ptr_nonnull(api);
	ck_assert_str_eq(hjstr(api, "user"), TW_SID);
	ck_assert_str_eq(hjstr(api, "password"), TW_TOKEN);
	ck_assert_int_eq(cJSON_GetObjectItem(api, "answered")->valueint, 302);
	dl = log_find(log, "download", "/s3/twilio/ME000", 0);
	ck_assert_ptr_nonnull(dl);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(dl, "auth")));
	ck_assert_int_eq(cJSON_GetObjectItem(dl, "answered")->valueint, 200);
	cJSON_Delete(log);

	/* Stored whole, with its hash; the second view asks nobody. */
	crypto_hash_sha256(h, bytes, BYTES_LEN);
	for (size_t i = 0; i < sizeof(h); i++)
		snprintf(want_hex + 2 * i, 3, "%02x", h[i]);
	hex = sqls("SELECT sha256 FROM media_files WHERE message_id = %lld "
	    "AND n = 0 AND status = 'stored' AND byte_size = %d AND "
	    "length(data) = %d AND content_type = 'image/png'",
	    (long long)mid, BYTES_LEN, BYTES_LEN);
	ck_assert_str_eq(hex, want_hex);
	free(hex);
	hfake_reset(&wa);
	hget(&c, path, 200, &r);
	assert_bytes(&r, "image/png");
	hresp_free(&r);
	log = hfake_log(&wa);
	ck_assert_int_eq(media_requests(log), 0);
	cJSON_Delete(log);

	/* The timeline: a lazy preview linking to the item. */
	page = xasprintf("/conversations/%lld", (long long)chat_id(mid));
	hget(&c, page, 200, &r);
	{
		char	*img = xasprintf("<img class=\"media-thumb\" "
			    "src=\"%s/thumb\" loading=\"lazy\"", path);
		char	*link = xasprintf("<a class=\"media-thumb-link\" "
			    "href=\"%s\">", path);

		ck_assert_msg(strstr(r.body, img) != NULL, "no thumbnail:\n%s",
		    r.body);
		ck_assert_ptr_nonnull(strstr(r.body, link));
		ck_assert_ptr_nonnull(strstr(r.body, "image/png"));
		ck_assert_ptr_nonnull(strstr(r.body, "300 bytes"));
		free(img);
		free(link);
	}
	hresp_free(&r);
	free(page);
	/* These bytes are no real PNG: the preview route gives the item. */
	page = xasprintf("%s/thumb", path);
	hget(&c, page, 200, &r);
	assert_bytes(&r, "image/png");
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
	    "message_id = %lld AND thumb IS NOT NULL", (long long)mid), 0);
	free(page);
	free(path);

	/* An MP4 video: played inline from the same route. */
	register_media("ME00000000000000000000000000000009", "video/mp4",
	    NULL);
	snprintf(url, sizeof(url), "%s/2010-04-01/Accounts/" TW_SID
	    "/Messages/MM9/Media/ME00000000000000000000000000000009",
	    wa.base);
	mid = msg_id(twilio_in(url, "video/mp4"));
	path = media_path(mid, 0);
	hget(&c, path, 200, &r);
	assert_bytes(&r, "video/mp4");
	hresp_free(&r);
	page = xasprintf("/conversations/%lld", (long long)chat_id(mid));
	hget(&c, page, 200, &r);
	{
		char	*video = xasprintf("<video class=\"media-video\" "
			    "controls preload=\"none\" src=\"%s\">", path);

		ck_assert_msg(strstr(r.body, video) != NULL, "no player:\n%s",
		    r.body);
		free(video);
	}
	hresp_free(&r);
	free(page);
	free(path);
}
END_TEST

/*
 * A real photo (written by libgd here): its preview is a JPEG whose
 * longer side is 320, made once and kept; the item itself is untouched.
 * A PNG whose header claims 50,000 × 50,000 pixels gets no preview (it is
 * refused before decoding) and is served as itself.
 */
START_TEST(t_thumbnail)
{
	struct client	 c;
	struct hresp	 r;
	gdImagePtr	 im;
	cJSON		*log;
	char		 url[512], *path, *page, *extra, *b64;
	unsigned char	*png;
	int		 size;
	size_t		 b64len;
	int64_t		 mid;

	im = gdImageCreateTrueColor(1000, 500);
	gdImageFilledRectangle(im, 0, 0, 999, 499, gdTrueColor(0, 90, 200));
	png = gdImagePngPtr(im, &size);
	gdImageDestroy(im);
	b64len = sodium_base64_ENCODED_LEN((size_t)size,
	    sodium_base64_VARIANT_ORIGINAL);
	b64 = xmalloc(b64len);
	sodium_bin2base64(b64, b64len, png, (size_t)size,
	    sodium_base64_VARIANT_ORIGINAL);
	extra = xasprintf("\"body_b64\":\"%s\"", b64);
	register_media("ME00000000000000000000000000000031", "image/png",
	    extra);
	free(extra);
	snprintf(url, sizeof(url), "%s/2010-04-01/Accounts/" TW_SID
	    "/Messages/MM31/Media/ME00000000000000000000000000000031",
	    wa.base);
	mid = msg_id(twilio_in(url, "image/png"));
	path = media_path(mid, 0);
	page = xasprintf("%s/thumb", path);

	hlogin(&c, srv.base, MEMBER_EMAIL, MEMBER_PW);
	for (int round = 0; round < 2; round++) {
		char	*ct;

		hget(&c, page, 200, &r);
		ct = hresp_header(&r, "Content-Type");
		ck_assert_str_eq(ct, "image/jpeg");
		free(ct);
		im = gdImageCreateFromJpegPtr((int)r.body_len, r.body);
		ck_assert_ptr_nonnull(im);
		ck_assert_int_eq(gdImageSX(im), 320);
		ck_assert_int_eq(gdImageSY(im), 160);
		gdImageDestroy(im);
		hresp_free(&r);
		/* Made once, kept; the second view asks no provider. */
		ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
		    "message_id = %lld AND thumb IS NOT NULL",
		    (long long)mid), 1);
		if (round == 0)
			hfake_reset(&wa);
	}
	log = hfake_log(&wa);
	ck_assert_int_eq(media_requests(log), 0);
	cJSON_Delete(log);
	/* The item itself is the photo as sent. */
	hget(&c, path, 200, &r);
	ck_assert_uint_eq(r.body_len, (size_t)size);
	ck_assert(memcmp(r.body, png, (size_t)size) == 0);
	hresp_free(&r);
	free(page);
	free(path);

	/* A lying header: no preview, the item as it is. */
	png[16] = 0; png[17] = 0; png[18] = 0xc3; png[19] = 0x50;
	png[20] = 0; png[21] = 0; png[22] = 0xc3; png[23] = 0x50;
	sodium_bin2base64(b64, b64len, png, (size_t)size,
	    sodium_base64_VARIANT_ORIGINAL);
	extra = xasprintf("\"body_b64\":\"%s\"", b64);
	register_media("ME00000000000000000000000000000032", "image/png",
	    extra);
	free(extra);
	snprintf(url, sizeof(url), "%s/2010-04-01/Accounts/" TW_SID
	    "/Messages/MM32/Media/ME00000000000000000000000000000032",
	    wa.base);
	mid = msg_id(twilio_in(url, "image/png"));
	path = media_path(mid, 0);
	page = xasprintf("%s/thumb", path);
	free(path);
	hget(&c, page, 200, &r);
	ck_assert_uint_eq(r.body_len, (size_t)size);
	ck_assert(memcmp(r.body, png, (size_t)size) == 0);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
	    "message_id = %lld AND thumb IS NOT NULL", (long long)mid), 0);
	free(page);
	free(b64);
	gdFree(png);
}
END_TEST

START_TEST(t_meta_voice_note_and_transcript)
{
	struct client	 c;
	struct hresp	 r;
	const cJSON	*api, *dl;
	cJSON		*log;
	char		*path, *page;
	int64_t		 mid;

	register_media("4490709327384033", "audio/ogg", NULL);
	meta_in("wamid.VOICE1", "audio", "4490709327384033",
	    "audio/ogg; codecs=opus");
	mid = msg_id("wamid.VOICE1");
	path = media_path(mid, 0);

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	hget(&c, path, 200, &r);
	assert_bytes(&r, "audio/ogg");
	hresp_free(&r);

	/* Both steps carried the bearer, as Meta requires (§2.6). */
	log = hfake_log(&wa);
	api = log_find(log, "media", "/v24.0/4490709327384033", 0);
	ck_assert_ptr_nonnull(api);
	ck_assert_str_eq(hjstr(api, "auth"), "Bearer " META_TOKEN);
	ck_assert_ptr_nonnull(strstr(hjstr(api, "query"),
	    "phone_number_id=" META_PNID));
	dl = log_find(log, "download", "/whatsapp_business/attachments/", 0);
	ck_assert_ptr_nonnull(dl);
	ck_assert_str_eq(hjstr(dl, "auth"), "Bearer " META_TOKEN);
	ck_assert_ptr_nonnull(strstr(hjstr(dl, "query"),
	    "mid=4490709327384033"));
	cJSON_Delete(log);

	/* The timeline: a player, and the transcript under it. */
	ck_assert_int_eq(sqli("UPDATE messages SET transcript = 'Hello, "
	    "<b>call me</b> back' WHERE id = %lld RETURNING 1",
	    (long long)mid), 1);
	page = xasprintf("/conversations/%lld", (long long)chat_id(mid));
	hget(&c, page, 200, &r);
	{
		char	*audio = xasprintf("<audio class=\"media-audio\" "
			    "controls preload=\"none\" src=\"%s\"></audio>",
			    path);

		ck_assert_msg(strstr(r.body, audio) != NULL, "no player:\n%s",
		    r.body);
		free(audio);
	}
	ck_assert_ptr_nonnull(strstr(r.body, "Transcript</span> Hello, "
	    "&lt;b&gt;call me&lt;/b&gt; back"));
	ck_assert(strstr(r.body, "<audio") < strstr(r.body, "Transcript"));
	hresp_free(&r);

	/* The API: the transcript, and what was downloaded. */
	{
		char		*tok = htoken_create(&pg, OWNER_EMAIL, "media",
				    NULL);
		char		 h[256];
		const char	*headers[] = { h, NULL };
		struct client	 a;
		cJSON		*j, *m, *d;

		snprintf(h, sizeof(h), "Authorization: Bearer %s", tok);
		client_init(&a, srv.base);
		free(page);
		page = xasprintf("/api/v1/conversations/%lld",
		    (long long)chat_id(mid));
		client_req(&a, "GET", page, NULL, NULL, headers, &r);
		ck_assert_int_eq(r.status, 200);
		j = cJSON_Parse(r.body);
		m = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 0);
		ck_assert_str_eq(hjstr(m, "transcript"),
		    "Hello, <b>call me</b> back");
		d = cJSON_GetObjectItem(cJSON_GetArrayItem(
		    cJSON_GetObjectItem(m, "media"), 0), "download");
		ck_assert_str_eq(hjstr(d, "status"), "stored");
		ck_assert_str_eq(hjstr(d, "contentType"), "audio/ogg");
		ck_assert_int_eq(cJSON_GetObjectItem(d, "byteSize")->valueint,
		    BYTES_LEN);
		free(page);
		page = xasprintf("%s", hjstr(d, "url"));
		cJSON_Delete(j);
		hresp_free(&r);

		/* The bytes through the API, with the token alone. */
		{
			char	*want = xasprintf("/api/v1/conversations/%lld/"
				    "media/%lld/0", (long long)chat_id(mid),
				    (long long)mid);

			ck_assert_str_eq(page, want);
			free(want);
		}
		client_req(&a, "GET", page, NULL, NULL, headers, &r);
		ck_assert_int_eq(r.status, 200);
		assert_bytes(&r, "audio/ogg");
		hresp_free(&r);
		free(page);
		page = xasprintf("/api/v1/conversations/%lld/media/%lld/3",
		    (long long)chat_id(mid), (long long)mid);
		client_req(&a, "GET", page, NULL, NULL, headers, &r);
		ck_assert_int_eq(r.status, 404);
		ck_assert_ptr_nonnull(strstr(r.body, "\"not_found\""));
		hresp_free(&r);
		/* No token: 401, not the bytes. */
		client_req(&a, "GET", page, NULL, NULL, NULL, &r);
		ck_assert_int_eq(r.status, 401);
		hresp_free(&r);
		free(tok);
	}
	free(page);
	free(path);
}
END_TEST

START_TEST(t_kapso_document_and_foreign_url)
{
	struct client	 c;
	struct hresp	 r;
	const cJSON	*api, *dl;
	cJSON		*log;
	char		*path, *cd, *ct;
	int64_t		 mid;

	register_media("KAPSO-DOC-1", "application/pdf", NULL);
	kapso_in("wamid.KDOC1", "document", "KAPSO-DOC-1", "application/pdf",
	    "Invoice \\\"March\\\" 2026.pdf");
	mid = msg_id("wamid.KDOC1");
	path = media_path(mid, 0);

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	hget(&c, path, 200, &r);
	/* Not a type we show inline: an attachment, bytes untouched. */
	ct = hresp_header(&r, "Content-Type");
	cd = hresp_header(&r, "Content-Disposition");
	ck_assert_str_eq(ct, "application/octet-stream");
	ck_assert_ptr_nonnull(cd);
	ck_assert_str_eq(cd, "attachment; filename=\"Invoice__March__2026.pdf\"");
	ck_assert_uint_eq(r.body_len, BYTES_LEN);
	ck_assert(memcmp(r.body, bytes, BYTES_LEN) == 0);
	free(ct);
	free(cd);
	hresp_free(&r);

	log = hfake_log(&wa);
	api = log_find(log, "media", "/meta/whatsapp/v24.0/KAPSO-DOC-1", 0);
	ck_assert_ptr_nonnull(api);
	ck_assert_str_eq(hjstr(api, "auth"), KAPSO_KEY);
	ck_assert_ptr_nonnull(strstr(hjstr(api, "query"),
	    "phone_number_id=" KAPSO_PNID));
	/* The download URL is on Kapso's own origin: the key goes along. */
	dl = log_find(log, "download", "/kapso/media/KAPSO-DOC-1", 0);
	ck_assert_ptr_nonnull(dl);
	ck_assert_str_eq(hjstr(dl, "auth"), KAPSO_KEY);
	cJSON_Delete(log);
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
	    "message_id = %lld AND status = 'stored' AND content_type = "
	    "'application/pdf'", (long long)mid), 1);
	free(path);

	/* Another origin (Meta's CDN, say): no key is sent there. */
	{
		char	*json = xasprintf("{\"id\":\"KAPSO-IMG-2\","
			    "\"content_type\":\"image/jpeg\",\"foreign\":true,"
			    "\"body_b64\":\"%s\"}", bytes_b64);

		hfake_post(&wa, "/_fake/media", json);
		free(json);
	}
	kapso_in("wamid.KIMG2", "image", "KAPSO-IMG-2", "image/jpeg", "x.jpg");
	mid = msg_id("wamid.KIMG2");
	path = media_path(mid, 0);
	hget(&c, path, 200, &r);
	assert_bytes(&r, "image/jpeg");
	hresp_free(&r);
	log = hfake_log(&wa);
	dl = log_find(log, "download", "/cdn/KAPSO-IMG-2", 0);
	ck_assert_ptr_nonnull(dl);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(dl, "auth")));
	cJSON_Delete(log);
	free(path);
}
END_TEST

START_TEST(t_not_found_other_org_logged_out_member)
{
	struct client	 c;
	struct hresp	 r;
	char		 url[512], *path, *loc, *p;
	int64_t		 mid, och, ochat, omid;

	register_media("ME00000000000000000000000000000002", "image/jpeg",
	    NULL);
	snprintf(url, sizeof(url), "%s/2010-04-01/Accounts/" TW_SID
	    "/Messages/MM2/Media/ME00000000000000000000000000000002",
	    wa.base);
	mid = msg_id(twilio_in(url, "image/jpeg"));
	path = media_path(mid, 0);

	/* Logged out: to the login page, nothing fetched. */
	client_init(&c, srv.base);
	hget(&c, path, 303, &r);
	loc = hresp_header(&r, "Location");
	ck_assert_ptr_nonnull(loc);
	ck_assert(strncmp(loc, "/login", 6) == 0);
	free(loc);
	hresp_free(&r);

	/* A member may view. */
	hlogin(&c, srv.base, MEMBER_EMAIL, MEMBER_PW);
	hget(&c, path, 200, &r);
	assert_bytes(&r, "image/jpeg");
	hresp_free(&r);

	/* Unknown message, item, chat; a malformed n. */
	p = xasprintf("/conversations/%lld/media/%lld/0",
	    (long long)chat_id(mid), (long long)mid + 100000);
	hget(&c, p, 404, &r);
	hresp_free(&r);
	free(p);
	p = media_path(mid, 1);
	hget(&c, p, 404, &r);
	hresp_free(&r);
	free(p);
	p = media_path(mid, 10);
	hget(&c, p, 404, &r);
	hresp_free(&r);
	free(p);
	p = xasprintf("/conversations/%lld/media/%lld/0",
	    (long long)chat_id(mid) + 100000, (long long)mid);
	hget(&c, p, 404, &r);
	hresp_free(&r);
	free(p);
	p = xasprintf("/conversations/%lld/media/%lld/x",
	    (long long)chat_id(mid), (long long)mid);
	hget(&c, p, 404, &r);
	hresp_free(&r);
	free(p);

	/* Another organisation's message, stored or not: 404 both ways. */
	och = sqli("INSERT INTO channels (org_id, kind, name, phone_number) "
	    "VALUES (%lld, 'twilio', 'Theirs', '+15550009999') RETURNING id",
	    (long long)other_org_id);
	ochat = sqli("INSERT INTO chats (org_id, channel_id, external_id) "
	    "VALUES (%lld, %lld, '+15557000000') RETURNING id",
	    (long long)other_org_id, (long long)och);
	omid = sqli("INSERT INTO messages (org_id, channel_id, chat_id, "
	    "direction, media) VALUES (%lld, %lld, %lld, 'in', "
	    "'[{\"url\":\"data:image/png;base64,iVBORw0KGgo=\","
	    "\"contentType\":\"image/png\"}]') RETURNING id",
	    (long long)other_org_id, (long long)och, (long long)ochat);
	ck_assert(omid > 0);
	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	p = xasprintf("/conversations/%lld/media/%lld/0", (long long)ochat,
	    (long long)omid);
	hget(&c, p, 404, &r);
	hresp_free(&r);
	free(p);
	/* Their message under our chat's id. */
	p = xasprintf("/conversations/%lld/media/%lld/0",
	    (long long)chat_id(mid), (long long)omid);
	hget(&c, p, 404, &r);
	hresp_free(&r);
	free(p);
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
	    "message_id = %lld", (long long)omid), 0);

	/* Their owner sees it (a data: URL, decoded without a request). */
	hlogin(&c, srv.base, OTHER_EMAIL, OTHER_PW);
	p = xasprintf("/conversations/%lld/media/%lld/0", (long long)ochat,
	    (long long)omid);
	hget(&c, p, 200, &r);
	ck_assert_uint_eq(r.body_len, 8);
	ck_assert(memcmp(r.body, "\x89PNG\r\n\x1a\n", 8) == 0);
	hresp_free(&r);
	free(p);
	/* …and not ours. */
	hget(&c, path, 404, &r);
	hresp_free(&r);
	free(path);
}
END_TEST

START_TEST(t_oversize)
{
	struct client	 c;
	struct hresp	 r;
	char		 url[512], *path;
	cJSON		*log;
	int64_t		 mid;

	register_media("ME00000000000000000000000000000003", "image/jpeg",
	    "\"size\":70000,\"fill\":\"y\"");
	snprintf(url, sizeof(url), "%s/2010-04-01/Accounts/" TW_SID
	    "/Messages/MM3/Media/ME00000000000000000000000000000003",
	    wa.base);
	mid = msg_id(twilio_in(url, "image/jpeg"));
	path = media_path(mid, 0);
	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	hget(&c, path, 502, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "could not be downloaded"));
	ck_assert_ptr_nonnull(strstr(r.body, "larger than 64 KiB"));
	hresp_free(&r);
	/* Recorded as failed with the sentence; no byte kept. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
	    "message_id = %lld AND n = 0 AND status = 'failed' AND data IS "
	    "NULL AND byte_size = 0 AND sha256 = '' AND attempts = 1 AND "
	    "error LIKE '%%larger than 64 KiB%%'", (long long)mid), 1);
	/* A second look within the retry pause asks nobody again. */
	hfake_reset(&wa);
	hget(&c, path, 502, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "larger than 64 KiB"));
	hresp_free(&r);
	log = hfake_log(&wa);
	ck_assert_int_eq(media_requests(log), 0);
	cJSON_Delete(log);
	free(path);

	/* Meta announces the size: refused before any byte moves. */
	register_media("5550000000000001", "video/mp4",
	    "\"size\":70000,\"fill\":\"v\"");
	meta_in("wamid.BIG1", "video", "5550000000000001", "video/mp4");
	mid = msg_id("wamid.BIG1");
	path = media_path(mid, 0);
	hget(&c, path, 502, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "larger than 64 KiB"));
	hresp_free(&r);
	log = hfake_log(&wa);
	ck_assert_ptr_nonnull(log_find(log, "media", "/5550000000000001", 0));
	ck_assert_int_eq(log_count(log, "/whatsapp_business/"), 0);
	cJSON_Delete(log);
	free(path);
}
END_TEST

START_TEST(t_twilio_url_outside_api_base)
{
	struct client	 c;
	struct hresp	 r;
	char		 url[512], *path, *page;
	cJSON		*log;
	int64_t		 mid;

	register_media("ME00000000000000000000000000000004", "image/png",
	    NULL);
	/* The same server under another name: not the configured base. */
	snprintf(url, sizeof(url), "http://localhost:%d/2010-04-01/Accounts/"
	    TW_SID "/Messages/MM4/Media/ME00000000000000000000000000000004",
	    wa.port);
	mid = msg_id(twilio_in(url, "image/png"));
	path = media_path(mid, 0);
	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	hget(&c, path, 502, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "not on the Twilio API"));
	ck_assert_ptr_null(strstr(r.body, TW_TOKEN));
	hresp_free(&r);
	log = hfake_log(&wa);
	ck_assert_int_eq(media_requests(log), 0);
	cJSON_Delete(log);

	/* The timeline says why, instead of a broken image. */
	page = xasprintf("/conversations/%lld", (long long)chat_id(mid));
	hget(&c, page, 200, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "Not downloaded: This media URL "
	    "is not on the Twilio API"));
	{
		char	*img = xasprintf("<img class=\"media-thumb\" src=\"%s\"",
			    path);

		ck_assert_ptr_null(strstr(r.body, img));
		free(img);
	}
	hresp_free(&r);
	free(page);
	free(path);
}
END_TEST

START_TEST(t_provider_errors)
{
	struct client	 c;
	struct hresp	 r;
	char		 url[512], *path;
	int64_t		 mid;

	/* Twilio no longer has the item: 404 upstream, 502 here. */
	snprintf(url, sizeof(url), "%s/2010-04-01/Accounts/" TW_SID
	    "/Messages/MM5/Media/ME00000000000000000000000000000005",
	    wa.base);
	mid = msg_id(twilio_in(url, "image/png"));
	path = media_path(mid, 0);
	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	hget(&c, path, 502, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "Twilio answered HTTP 404"));
	ck_assert_ptr_null(strstr(r.body, TW_TOKEN));
	hresp_free(&r);
	free(path);

	/* Meta does not know the id (its 400, code 100). */
	meta_in("wamid.GONE1", "image", "999000111", "image/jpeg");
	mid = msg_id("wamid.GONE1");
	path = media_path(mid, 0);
	hget(&c, path, 502, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "Meta answered HTTP 400"));
	ck_assert_ptr_null(strstr(r.body, META_TOKEN));
	hresp_free(&r);
	free(path);

	/* A provider outage is a failure with a reason too. */
	register_media("ME00000000000000000000000000000006", "image/png",
	    NULL);
	hfake_queue(&wa, "{\"provider\":\"twilio\","
	    "\"op\":\"media\",\"status\":503}");
	snprintf(url, sizeof(url), "%s/2010-04-01/Accounts/" TW_SID
	    "/Messages/MM6/Media/ME00000000000000000000000000000006",
	    wa.base);
	mid = msg_id(twilio_in(url, "image/png"));
	path = media_path(mid, 0);
	hget(&c, path, 502, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "Twilio answered HTTP 503"));
	hresp_free(&r);
	/* After the pause, a later view tries again and gets it. */
	ck_assert_int_eq(sqli("UPDATE media_files SET updated_at = now() - "
	    "interval '1 minute' WHERE message_id = %lld RETURNING 1",
	    (long long)mid), 1);
	hget(&c, path, 200, &r);
	assert_bytes(&r, "image/png");
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT attempts FROM media_files WHERE "
	    "message_id = %lld AND status = 'stored'", (long long)mid), 2);
	free(path);
}
END_TEST

/*
 * media_fetch_message, the reply job's entry point, called in this
 * process against the suite's database and fake: every item of a message
 * at once, each recorded; a second call fetches nothing again.
 */
START_TEST(t_fetch_message)
{
	struct app	 app;
	cJSON		*log;
	int64_t		 tw, chat, mid;
	char		*json;

	register_media("ME00000000000000000000000000000007", "image/png",
	    NULL);
	tw = sqli("SELECT id FROM channels WHERE org_id = %lld AND kind = "
	    "'twilio'", (long long)org_id);
	chat = sqli("INSERT INTO chats (org_id, channel_id, external_id) "
	    "VALUES (%lld, %lld, '+14155550177') RETURNING id",
	    (long long)org_id, (long long)tw);
	json = xasprintf("[{\"url\":\"%s/2010-04-01/Accounts/" TW_SID
	    "/Messages/MM7/Media/ME00000000000000000000000000000007\","
	    "\"contentType\":\"image/png\"},"
	    "{\"url\":\"data:text/plain;base64,aGVsbG8=\"},"
	    "{\"url\":\"%s/2010-04-01/Accounts/" TW_SID "/Messages/MM7/"
	    "Media/ME0000000000000000000000000000GONE\",\"contentType\":"
	    "\"image/png\"}]", wa.base, wa.base);
	mid = sqli("INSERT INTO messages (org_id, channel_id, chat_id, "
	    "direction, media) VALUES (%lld, %lld, %lld, 'in', '%s') "
	    "RETURNING id", (long long)org_id, (long long)tw, (long long)chat,
	    json);
	free(json);

	memset(&app, 0, sizeof(app));
	app.db = db_pool_new(pg.conninfo, 2, 5000);
	ck_assert_ptr_nonnull(app.db);
	app.key = key;
	app.cfg.public_url = srv.base;
	app.cfg.twilio_api_base = wa.base;
	app.cfg.media_max_bytes = MEDIA_MAX;

	ck_assert_int_eq(media_fetch_message(&app, org_id, mid), 2);
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
	    "org_id = %lld AND message_id = %lld AND status = 'stored'",
	    (long long)org_id, (long long)mid), 2);
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
	    "message_id = %lld AND n = 1 AND content_type = 'text/plain' AND "
	    "data = 'hello'::bytea", (long long)mid), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
	    "message_id = %lld AND n = 2 AND status = 'failed' AND error LIKE "
	    "'Twilio answered HTTP 404%%'", (long long)mid), 1);
	/* Another organisation's call finds nothing. */
	ck_assert_int_eq(media_fetch_message(&app, other_org_id, mid), 0);

	hfake_reset(&wa);
	ck_assert_int_eq(media_fetch_message(&app, org_id, mid), 2);
	log = hfake_log(&wa);
	ck_assert_int_eq(media_requests(log), 0);
	cJSON_Delete(log);
	db_pool_free(app.db);
}
END_TEST

/* Last: the server under ASan/UBSan said nothing. */
START_TEST(t_no_sanitizer_reports)
{
	ck_assert_msg(!hserver_log_contains(&srv, "runtime error") &&
	    !hserver_log_contains(&srv, "Sanitizer"), "sanitizer report in %s",
	    srv.log_path);
	ck_assert_msg(!hserver_log_contains(&srv, TW_TOKEN) &&
	    !hserver_log_contains(&srv, META_TOKEN) &&
	    !hserver_log_contains(&srv, KAPSO_KEY), "a credential in %s",
	    srv.log_path);
}
END_TEST

static Suite *
media_suite(void)
{
	Suite	*s = suite_create("media");
	TCase	*tc = tcase_create("media");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, NULL);
	tcase_add_test(tc, t_twilio);
	tcase_add_test(tc, t_thumbnail);
	tcase_add_test(tc, t_meta_voice_note_and_transcript);
	tcase_add_test(tc, t_kapso_document_and_foreign_url);
	tcase_add_test(tc, t_not_found_other_org_logged_out_member);
	tcase_add_test(tc, t_oversize);
	tcase_add_test(tc, t_twilio_url_outside_api_base);
	tcase_add_test(tc, t_provider_errors);
	tcase_add_test(tc, t_fetch_message);
	tcase_add_test(tc, t_no_sanitizer_reports);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(media_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
