/*
 * tests/integration/media_store.c: media in an S3-compatible store and
 * documents read once on download (issue 15, storage and extraction),
 * end to end: the real server, a real S3-compatible server on loopback
 * (@20minutes/s3rver, which verifies SigV4 signatures: tests/node/s3.cjs),
 * the fake WhatsApp APIs for the downloads, real Chromium for the photo
 * preview (tests/browser/media_s3.spec.mjs).
 *
 * Checked, in order (the tests share one world):
 *   - a bad or half S3 configuration stops start-up with one sentence;
 *   - a photo is written to the store with its preview and vision image,
 *     nothing of it in the database, no orphan left; the panel's and the
 *     API's routes answer 302 to a fresh presigned URL that a real client
 *     reads, after the same checks (logged out, another organisation);
 *     the page's CSP lets the store's origin serve images;
 *   - a tampered, moved, HEAD or expired presigned URL is refused (403);
 *   - Parley's own signed URL serves the vision image and the item
 *     without a session, and refuses tampered and expired links; the
 *     vision image as a data: URL;
 *   - a PDF, a CSV, a DOCX and an XLSX are read on download, their text
 *     stored (a long one in the store) and found by the conversation
 *     search; the API and the timeline say so;
 *   - a damaged PDF, a document over the size cap, a decompression bomb
 *     and an unsupported kind each get a reason in the timeline and the
 *     API, and the server keeps answering;
 *   - `parley media migrate` moves everything to the database and back,
 *     deleting what it leaves behind, and a second run moves nothing;
 *   - with the store down an item is kept in the database, and the
 *     upload's noted keys are deleted by the sweep later;
 *   - an organisation's retention (set through the API and the panel)
 *     expires items in both stores and deletes their objects, leaving
 *     "media expired" in the timeline and the API; an old item is never
 *     downloaded;
 *   - Chromium shows a photo preview loaded from the store;
 *   - a person's file reply is kept in the store and Twilio fetches it
 *     through Parley's signed route (media out).
 * Every wait is bounded.
 */
#include "harness/docs.h"
#include "harness/model.h"
#include "harness/panel.h"
#include "harness/webhook.h"

#define sqli(...)	hpg_sqlf_int(&pg, __VA_ARGS__)
#define sqls(...)	hpg_sqlf(&pg, __VA_ARGS__)

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <gd.h>
#include <sodium.h>

#include "app/app.h"
#include "chat/media.h"
#include "crypto/secret.h"
#include "db/db.h"
#include "model/channel.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/s3.h"
#include "util/xmalloc.h"

#define TW_NUMBER	"+15550001111"
#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"f00dfeedf00dfeedf00dfeedf00dfeed"
#define KAPSO_PNID	"123456789012345"
#define KAPSO_KEY	"kapso-api-key-0123456789"
#define KAPSO_SECRET	"kapso-webhook-secret-1"
#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define OTHER_EMAIL	"other@example.com"
#define OTHER_PW	"other-password-0123"
#define BUCKET		"parley-media"
#define S3_KEY_ID	"S3RVER"	/* s3rver's own credentials */
#define S3_SECRET	"S3RVER"
#define BODY_MAX	16384
#define LONG_CSV_ROWS	1500		/* ~40 KB: its text goes to S3 */

struct fetched {
	long	 status;
	char	*body;
	size_t	 len;
	char	*headers;
};

static struct hpg	 pg;
static struct hfake	 wa, s3;
static struct hserver	 srv;
static struct secret_key *key;
static struct hvars	 env;
static int64_t		 org_id, other_org_id;
static char		*token, s3dir[256];
static int		 seq;
static int64_t		 photo_mid, db_mid, long_mid;
static unsigned char	*photo;
static int		 photo_len;

static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 s3_env(struct hvars *);
static int64_t	 twilio_photo(const char *, const void *, size_t);
static int64_t	 kapso_doc(const char *, const char *, const void *, size_t,
		    const char *);
static int64_t	 wait_done(int64_t);
static int64_t	 chat_of(int64_t);
static void	 fetch(const char *, const char *, struct fetched *);
static void	 fetched_free(struct fetched *);
static char	*header_of(const char *, const char *);
static long	 object_status(const char *);
static void	 app_init(struct app *);
static struct s3_config test_s3(void);
static unsigned char *png_make(int, int, int *);
static Suite	*media_store_suite(void);

/* --- fixture ------------------------------------------------------------ */

/* The server's S3 settings: the loopback store, path style. */
static void
s3_env(struct hvars *e)
{
	hvars_set(e, "PARLEY_MEDIA_S3_ENDPOINT=%s", s3.base);
	hvars_set(e, "PARLEY_MEDIA_S3_BUCKET=" BUCKET);
	hvars_set(e, "PARLEY_MEDIA_S3_REGION=us-east-1");
	hvars_set(e, "PARLEY_MEDIA_S3_ACCESS_KEY=" S3_KEY_ID);
	hvars_set(e, "PARLEY_MEDIA_S3_SECRET_KEY=" S3_SECRET);
	hvars_set(e, "PARLEY_MEDIA_S3_PATH_STYLE=1");
}

static void
suite_setup(void)
{
	struct channel_input	 cin;
	struct db_pool		*pool;
	struct db		*db;
	const char		*wa_args[] = { "--twilio-token", TW_TOKEN,
				    "--kapso-key", KAPSO_KEY, NULL };
	const char		*s3_args[] = { "--dir", s3dir, NULL };
	const char		*tmp = getenv("TMPDIR");

	ck_assert_int_ge(sodium_init(), 0);
	snprintf(s3dir, sizeof(s3dir), "%s/parley-s3-XXXXXX", tmp != NULL &&
	    tmp[0] != '\0' ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(s3dir));
	hpg_start(&pg);
	hfake_start(&wa, "fake_whatsapp", wa_args);
	hnode_start(&s3, "tests/node/s3.cjs", s3_args);
	hvars_whatsapp(&env, &wa);
	s3_env(&env);
	hvars_set(&env, "PARLEY_MEDIA_SWEEP_SECONDS=1");
	hvars_set(&env, "PARLEY_EXTRACT_MAX_MB=1");
	hvars_set(&env, "PARLEY_WORKERS=2");
	hvars_set(&env, "PARLEY_JOB_POLL_MS=100");
	hserver_start(&srv, &pg, env.v);
	key = hkey_load(&pg);
	org_id = sqli("SELECT id FROM orgs ORDER BY id LIMIT 1");
	huser_create(&pg, OTHER_EMAIL, "Other Org", "owner", OTHER_PW);
	other_org_id = sqli("SELECT id FROM orgs WHERE name = 'Other Org'");
	token = htoken_create(&pg, OWNER_EMAIL, "media", "owner");

	pool = db_pool_new(pg.conninfo, 1, 5000);
	ck_assert_ptr_nonnull(pool);
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	cin = (struct channel_input){ .kind = "twilio", .name = "Twilio",
	    .status = "connected", .phone_number = TW_NUMBER,
	    .twilio_account_sid = TW_SID, .twilio_auth_token = TW_TOKEN };
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
	const char	*argv[] = { "rm", "-rf", s3dir, NULL };

	if (srv.pid > 0)
		(void)hserver_stop(&srv);
	secret_key_free(key);
	hfake_stop(&wa);
	hfake_stop(&s3);
	hpg_finish(&pg, "media_store");
	hvars_free(&env);
	free(token);
	free(photo);
	if (s3dir[0] != '\0')
		(void)hrun_cmd(argv, NULL, NULL, NULL, 30);
}

/* --- helpers ------------------------------------------------------------ */

/* The message id of provider id pmid once its reply job is done (the
 * job downloads, derives and reads the media). */
static int64_t
wait_done(int64_t mid)
{
	/* Its chat's turn (which downloads the media) is over: the message
	 * is answered or settled, and no turn is due or running. */
	ck_assert_msg(hpg_wait_int(&pg, 1, 60000, "SELECT count(*) FROM "
	    "messages m JOIN chats c ON c.id = m.chat_id WHERE m.id = %lld AND"
	    " (m.answered_by IS NOT NULL OR m.unanswered_reason IS NOT NULL)"
	    " AND c.turn_due_at IS NULL AND NOT EXISTS (SELECT 1 FROM jobs j"
	    " WHERE j.id = c.turn_job AND j.status IN ('queued', 'running'))",
	    (long long)mid), "the turn of message %lld did not finish",
	    (long long)mid);
	return mid;
}

/* A signed Twilio message with one image item (bytes p); its id. */
static int64_t
twilio_photo(const char *content_type, const void *p, size_t n)
{
	char		 sid[40], me[40], url[512];
	const char	*params[][2] = {
		{ "MessageSid", sid }, { "AccountSid", TW_SID },
		{ "From", "whatsapp:+14155550100" },
		{ "To", "whatsapp:" TW_NUMBER }, { "Body", "" },
		{ "NumMedia", "1" }, { "MediaUrl0", url },
		{ "MediaContentType0", content_type },
		{ "ProfileName", "Tess" },
	};

	seq++;
	snprintf(sid, sizeof(sid), "MM%032d", seq);
	snprintf(me, sizeof(me), "ME%032d", seq);
	hwa_media(&wa, me, content_type, p, n);
	snprintf(url, sizeof(url), "%s/2010-04-01/Accounts/" TW_SID
	    "/Messages/%s/Media/%s", wa.base, sid, me);
	htwilio_post_ok(srv.base, HTWILIO_INBOUND, TW_TOKEN, params, 9);
	return wait_done(sqli("SELECT id FROM messages WHERE "
	    "provider_message_id = '%s'", sid));
}

/* A Kapso document message (bytes p, or extra JSON for the fake when p
 * is NULL: "size" and "fill"); its id. */
static int64_t
kapso_doc(const char *mime, const char *filename, const void *p, size_t n,
    const char *extra)
{
	char	 wamid[64], mid[40], b[BODY_MAX];

	seq++;
	snprintf(wamid, sizeof(wamid), "wamid.DOC%08d", seq);
	snprintf(mid, sizeof(mid), "%d", 900000 + seq);
	if (p != NULL)
		hwa_media(&wa, mid, mime, p, n);
	else {
		char	*json = xasprintf("{\"id\":\"%s\",\"content_type\":"
			    "\"%s\",%s}", mid, mime, extra);

		hfake_post(&wa, "/_fake/media", json);
		free(json);
	}
	snprintf(b, sizeof(b),
	    "{\"message\":{\"id\":\"%s\",\"timestamp\":\"%lld\",\"type\":"
	    "\"document\",\"document\":{\"id\":\"%s\",\"mime_type\":\"%s\","
	    "\"filename\":\"%s\"},\"kapso\":{\"direction\":\"inbound\","
	    "\"status\":\"received\",\"has_media\":true}},"
	    "\"conversation\":{\"id\":\"conv_1\",\"phone_number\":"
	    "\"+15557654321\",\"phone_number_id\":\"" KAPSO_PNID "\"},"
	    "\"is_new_conversation\":true,\"phone_number_id\":\"" KAPSO_PNID
	    "\"}", wamid, (long long)time(NULL), mid, mime, filename);
	hkapso_post_ok(srv.base, HKAPSO_INBOUND, "whatsapp.message.received",
	    b, KAPSO_SECRET);
	return wait_done(sqli("SELECT id FROM messages WHERE "
	    "provider_message_id = '%s'", wamid));
}

static int64_t
chat_of(int64_t mid)
{
	return sqli("SELECT chat_id FROM messages WHERE id = %lld",
	    (long long)mid);
}

static size_t
on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct fetched	*f = ud;
	size_t		 n = size * nmemb;

	f->body = xrealloc(f->body, f->len + n + 1);
	memcpy(f->body + f->len, p, n);
	f->len += n;
	f->body[f->len] = '\0';
	return n;
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct fetched	*f = ud;
	size_t		 n = size * nmemb, have = f->headers != NULL ?
			    strlen(f->headers) : 0;

	f->headers = xrealloc(f->headers, have + n + 1);
	memcpy(f->headers + have, p, n);
	f->headers[have + n] = '\0';
	return n;
}

/* One request to an absolute URL, redirects not followed, no cookie. */
static void
fetch(const char *method, const char *url, struct fetched *f)
{
	CURL	*h = curl_easy_init();

	memset(f, 0, sizeof(*f));
	f->body = xstrdup("");
	f->headers = xstrdup("");
	ck_assert_ptr_nonnull(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 20000L);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, f);
	ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &f->status);
	curl_easy_cleanup(h);
}

static void
fetched_free(struct fetched *f)
{
	free(f->body);
	free(f->headers);
	memset(f, 0, sizeof(*f));
}

/* Header name's value in a raw block (malloc'd), NULL when absent. */
static char *
header_of(const char *headers, const char *name)
{
	struct hresp	 r;

	memset(&r, 0, sizeof(r));
	r.headers = (char *)(uintptr_t)headers;
	return hresp_header(&r, name);
}

/* The store's answer to an unsigned GET of key (s3rver allows those):
 * 200 when the object is there, 404 when not. */
static long
object_status(const char *k)
{
	struct fetched	 f;
	char		*url = xasprintf("%s/" BUCKET "/%s", s3.base, k);
	long		 st;

	fetch("GET", url, &f);
	st = f.status;
	fetched_free(&f);
	free(url);
	return st;
}

static struct s3_config
test_s3(void)
{
	struct s3_config	 c = {
		.endpoint = s3.base, .bucket = BUCKET, .region = "us-east-1",
		.access_key = S3_KEY_ID, .secret_key = S3_SECRET,
		.path_style = true,
	};

	return c;
}

/* The media code run in this process against the suite's world. */
static void
app_init(struct app *app)
{
	memset(app, 0, sizeof(*app));
	app->db = db_pool_new(pg.conninfo, 2, 5000);
	ck_assert_ptr_nonnull(app->db);
	app->key = key;
	app->cfg.public_url = srv.base;
	app->cfg.twilio_api_base = wa.base;
	app->cfg.media_max_bytes = 20 * 1024 * 1024;
	app->cfg.s3_enabled = true;
	app->cfg.s3 = test_s3();
	app->cfg.extract_timeout_s = 20;
}

/* A w×h PNG of two colours, written by libgd; *len bytes (gdFree it). */
static unsigned char *
png_make(int w, int h, int *len)
{
	gdImagePtr	 im = gdImageCreateTrueColor(w, h);
	unsigned char	*p;

	gdImageFilledRectangle(im, 0, 0, w - 1, h - 1,
	    gdTrueColor(0, 90, 200));
	gdImageFilledRectangle(im, 0, 0, w / 2, h / 2,
	    gdTrueColor(250, 200, 0));
	p = gdImagePngPtr(im, len);
	gdImageDestroy(im);
	return p;
}

/* --- tests -------------------------------------------------------------- */

/* A bad or half configuration stops start-up with one sentence. */
START_TEST(t_config_refused)
{
	const char	*args[] = { "migrate", NULL };
	const char	*bad[] = { "PARLEY_MEDIA_S3_ENDPOINT=ftp://store",
			    "PARLEY_MEDIA_S3_BUCKET=" BUCKET,
			    "PARLEY_MEDIA_S3_ACCESS_KEY=a",
			    "PARLEY_MEDIA_S3_SECRET_KEY=b", NULL };
	const char	*half[] = { "PARLEY_MEDIA_S3_BUCKET=" BUCKET, NULL };
	const char	*style[] = { "PARLEY_MEDIA_S3_PATH_STYLE=yes", NULL };
	char		*out = NULL;

	ck_assert_int_eq(hrun_parley_env(&pg, bad, args, NULL, &out), 2);
	ck_assert_msg(strstr(out, "parley: PARLEY_MEDIA_S3_ENDPOINT must be "
	    "an http:// or https:// URL") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(hrun_parley_env(&pg, half, args, NULL, &out), 2);
	ck_assert_msg(strstr(out, "PARLEY_MEDIA_S3_ENDPOINT must be set too")
	    != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(hrun_parley_env(&pg, style, args, NULL, &out), 2);
	ck_assert_msg(strstr(out, "PARLEY_MEDIA_S3_PATH_STYLE must be 0 or 1")
	    != NULL, "%s", out);
	free(out);
}
END_TEST

START_TEST(t_photo_in_store)
{
	struct client	 c, other;
	struct hresp	 r;
	struct fetched	 f;
	gdImagePtr	 im;
	char		*k, *path, *loc, *ct, *page, *csp, *want;

	photo = png_make(1600, 800, &photo_len);
	photo_mid = twilio_photo("image/png", photo, (size_t)photo_len);
	k = sqls("SELECT s3_key FROM media_files WHERE message_id = %lld AND "
	    "n = 0 AND status = 'stored' AND s3_bucket = '" BUCKET "' AND "
	    "data IS NULL AND thumb IS NULL AND vision IS NULL AND "
	    "thumb_size > 0 AND vision_size > 0 AND byte_size = %d",
	    (long long)photo_mid, photo_len);
	ck_assert_msg(strncmp(k, "media/", 6) == 0, "no stored row in S3: %s",
	    k);
	/* The intents of the upload were taken back by the record. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_orphans"), 0);

	/* The objects, read from the store itself. */
	path = xasprintf("%s/" BUCKET "/%s", s3.base, k);
	fetch("GET", path, &f);
	ck_assert_int_eq(f.status, 200);
	ck_assert_uint_eq(f.len, (size_t)photo_len);
	ck_assert(memcmp(f.body, photo, f.len) == 0);
	fetched_free(&f);
	free(path);
	path = xasprintf("%s/" BUCKET "/%s.vision", s3.base, k);
	fetch("GET", path, &f);
	ck_assert_int_eq(f.status, 200);
	im = gdImageCreateFromJpegPtr((int)f.len, f.body);
	ck_assert_ptr_nonnull(im);
	ck_assert_int_eq(gdImageSX(im), 1024);
	ck_assert_int_eq(gdImageSY(im), 512);
	gdImageDestroy(im);
	fetched_free(&f);
	free(path);

	/* The panel: a 302 to a presigned URL a real client reads. */
	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	path = xasprintf("/conversations/%lld/media/%lld/0",
	    (long long)chat_of(photo_mid), (long long)photo_mid);
	hget(&c, path, 302, &r);
	loc = hresp_header(&r, "Location");
	want = xasprintf("%s/" BUCKET "/%s?X-Amz-Algorithm=AWS4-HMAC-SHA256"
	    "&X-Amz-Credential=" S3_KEY_ID "%%2F", s3.base, k);
	ck_assert_msg(loc != NULL && strncmp(loc, want, strlen(want)) == 0,
	    "Location %s", loc);
	ck_assert_ptr_nonnull(strstr(loc, "&X-Amz-Expires=300&"));
	ck_assert_ptr_nonnull(strstr(loc, "response-content-type=image%2Fpng"));
	free(want);
	hresp_free(&r);
	fetch("GET", loc, &f);
	ck_assert_int_eq(f.status, 200);
	ck_assert_uint_eq(f.len, (size_t)photo_len);
	ck_assert(memcmp(f.body, photo, f.len) == 0);
	ct = header_of(f.headers, "Content-Type");
	ck_assert_str_eq(ct, "image/png");
	free(ct);
	fetched_free(&f);
	free(loc);

	/* The preview: its own object. */
	page = xasprintf("%s/thumb", path);
	hget(&c, page, 302, &r);
	loc = hresp_header(&r, "Location");
	ck_assert_ptr_nonnull(strstr(loc, ".thumb?X-Amz-"));
	hresp_free(&r);
	fetch("GET", loc, &f);
	ck_assert_int_eq(f.status, 200);
	im = gdImageCreateFromJpegPtr((int)f.len, f.body);
	ck_assert_ptr_nonnull(im);
	ck_assert_int_eq(gdImageSX(im), 320);
	gdImageDestroy(im);
	fetched_free(&f);
	free(loc);
	free(page);

	/* The API's route, with a bearer token. */
	page = xasprintf("/api/v1%s", path);
	hapi_want(srv.base, token, "GET", page, NULL, 302, &r);
	loc = hresp_header(&r, "Location");
	ck_assert_ptr_nonnull(loc);
	ck_assert(strncmp(loc, s3.base, strlen(s3.base)) == 0);
	free(loc);
	hresp_free(&r);
	free(page);

	/* The same checks as before: logged out, another organisation. */
	client_init(&other, srv.base);
	client_req(&other, "GET", path, NULL, NULL, NULL, &r);
	loc = hresp_header(&r, "Location");
	ck_assert_msg(loc == NULL || strncmp(loc, s3.base,
	    strlen(s3.base)) != 0, "a presigned URL for nobody: %s", loc);
	ck_assert(r.status == 303 || r.status == 302);
	ck_assert_ptr_nonnull(strstr(loc, "/login"));
	free(loc);
	hresp_free(&r);
	hlogin(&other, srv.base, OTHER_EMAIL, OTHER_PW);
	hget(&other, path, 404, &r);
	hresp_free(&r);

	/* The timeline's CSP lets the store serve images and media. */
	page = xasprintf("/conversations/%lld", (long long)chat_of(photo_mid));
	hget(&c, page, 200, &r);
	csp = hresp_header(&r, "Content-Security-Policy");
	want = xasprintf("img-src 'self' data: %s;", s3.base);
	ck_assert_msg(strstr(csp, want) != NULL, "CSP %s", csp);
	free(want);
	want = xasprintf("media-src 'self' %s;", s3.base);
	ck_assert_ptr_nonnull(strstr(csp, want));
	free(want);
	free(csp);
	hresp_free(&r);
	free(page);
	free(path);
	free(k);
}
END_TEST

/* The store refuses what the signature does not cover. */
START_TEST(t_presigned_refusals)
{
	struct client		 c;
	struct hresp		 r;
	struct fetched		 f;
	struct s3_config	 cfg = test_s3();
	char			*path, *loc, *bad, *k, *u, *sig;

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	path = xasprintf("/conversations/%lld/media/%lld/0",
	    (long long)chat_of(photo_mid), (long long)photo_mid);
	hget(&c, path, 302, &r);
	loc = hresp_header(&r, "Location");
	hresp_free(&r);

	/* One digit of the signature changed. */
	bad = xstrdup(loc);
	sig = strstr(bad, "X-Amz-Signature=") + 16;
	sig[10] = sig[10] == '0' ? '1' : '0';
	fetch("GET", bad, &f);
	ck_assert_int_eq(f.status, 403);
	ck_assert_ptr_nonnull(strstr(f.body, "SignatureDoesNotMatch"));
	fetched_free(&f);
	free(bad);

	/* The same signature on another object (the preview). */
	k = sqls("SELECT s3_key FROM media_files WHERE message_id = %lld",
	    (long long)photo_mid);
	bad = xasprintf("%s/" BUCKET "/%s.thumb%s", s3.base, k,
	    strchr(loc, '?'));
	fetch("GET", bad, &f);
	ck_assert_int_eq(f.status, 403);
	fetched_free(&f);
	free(bad);

	/* HEAD: the method is signed. */
	fetch("HEAD", loc, &f);
	ck_assert_int_eq(f.status, 403);
	fetched_free(&f);

	/* Expired: signed an hour ago for five minutes. A URL signed now
	 * the same way works, so the age is what is refused. */
	u = s3_presign_get(&cfg, k, (int64_t)time(NULL) - 3600, 300, NULL,
	    NULL);
	fetch("GET", u, &f);
	ck_assert_int_eq(f.status, 403);
	ck_assert_msg(strstr(f.body, "expired") != NULL, "%s", f.body);
	fetched_free(&f);
	free(u);
	u = s3_presign_get(&cfg, k, (int64_t)time(NULL), 300, NULL, NULL);
	fetch("GET", u, &f);
	ck_assert_int_eq(f.status, 200);
	ck_assert_uint_eq(f.len, (size_t)photo_len);
	fetched_free(&f);
	free(u);
	free(k);
	free(loc);
	free(path);
}
END_TEST

/* Parley's own signed links: no session, the signature is the check. */
START_TEST(t_signed_parley_url)
{
	struct app	 app;
	struct arena	*a = arena_new();
	struct fetched	 f;
	gdImagePtr	 im;
	const char	*why = NULL;
	char		*u, *bad, *ct, *clen, *data_url;
	unsigned char	*jpeg;
	size_t		 jlen;

	app_init(&app);
	u = media_signed_url(&app, a, org_id, photo_mid, 0, "vision", 60);
	ck_assert_msg(strncmp(u, srv.base, strlen(srv.base)) == 0 &&
	    strstr(u, "/m/") != NULL, "%s", u);
	fetch("GET", u, &f);
	ck_assert_int_eq(f.status, 200);
	ct = header_of(f.headers, "Content-Type");
	ck_assert_str_eq(ct, "image/jpeg");
	free(ct);
	im = gdImageCreateFromJpegPtr((int)f.len, f.body);
	ck_assert_ptr_nonnull(im);
	ck_assert_int_eq(gdImageSX(im), 1024);
	gdImageDestroy(im);
	jlen = f.len;
	fetched_free(&f);
	/* HEAD answers the same headers, no body (Twilio asks both). */
	fetch("HEAD", u, &f);
	ck_assert_int_eq(f.status, 200);
	ck_assert_uint_eq(f.len, 0);
	clen = header_of(f.headers, "Content-Length");
	ck_assert_int_eq(strtol(clen, NULL, 10), (long)jlen);
	free(clen);
	fetched_free(&f);

	/* The item itself. */
	u = media_signed_url(&app, a, org_id, photo_mid, 0, "file", 60);
	fetch("GET", u, &f);
	ck_assert_int_eq(f.status, 200);
	ck_assert_uint_eq(f.len, (size_t)photo_len);
	ck_assert(memcmp(f.body, photo, f.len) == 0);
	fetched_free(&f);

	/* Tampered: the signature, the organisation, the expiry. */
	bad = xstrdup(u);
	bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == 'a' ? 'b' : 'a';
	fetch("GET", bad, &f);
	ck_assert_int_eq(f.status, 403);
	fetched_free(&f);
	free(bad);
	bad = xasprintf("%s/m/%lld%s", srv.base, (long long)other_org_id,
	    strchr(u + strlen(srv.base) + 3, '/'));
	fetch("GET", bad, &f);
	ck_assert_int_eq(f.status, 403);
	fetched_free(&f);
	free(bad);
	bad = xstrdup(u);
	{
		char	*e = strstr(bad, "exp=") + 4;

		e[9] = e[9] == '9' ? '8' : (char)(e[9] + 1);
	}
	fetch("GET", bad, &f);
	ck_assert_int_eq(f.status, 403);
	fetched_free(&f);
	free(bad);
	ck_assert_ptr_null(media_signed_url(&app, a, org_id, photo_mid, 0,
	    "thumbs", 60));

	/* Expired: a one-second link, two seconds later. */
	u = media_signed_url(&app, a, org_id, photo_mid, 0, "vision", 1);
	sleep(2);
	fetch("GET", u, &f);
	ck_assert_int_eq(f.status, 403);
	fetched_free(&f);

	/* The vision image as a data: URL, read from the store. */
	ck_assert_int_eq(media_vision_data_url(&app, a, org_id, 0, photo_mid,
	    0, &data_url, &why), DB_OK);
	ck_assert(strncmp(data_url, "data:image/jpeg;base64,", 23) == 0);
	jpeg = xmalloc(strlen(data_url));
	ck_assert_int_eq(sodium_base642bin(jpeg, strlen(data_url),
	    data_url + 23, strlen(data_url + 23), NULL, &jlen, NULL,
	    sodium_base64_VARIANT_ORIGINAL), 0);
	im = gdImageCreateFromJpegPtr((int)jlen, jpeg);
	ck_assert_ptr_nonnull(im);
	ck_assert_int_eq(gdImageSX(im), 1024);
	ck_assert_int_eq(gdImageSY(im), 512);
	gdImageDestroy(im);
	free(jpeg);
	/* Not an image: no vision image, a reason. */
	db_pool_free(app.db);
	arena_free(a);
}
END_TEST

START_TEST(t_documents_read_and_found)
{
	const char	*pages[] = { "Quarterly report\nzanzibarquartz figures",
			    "Second page" };
	const char	*paras[] = { "Dear Ana,", "the quixoticledger is "
			    "attached." };
	const char	*csv = "sku,name,price\n17,pomegranatevoucher,12.50\n";
	struct client	 c;
	struct hresp	 r;
	struct app	 app;
	struct arena	*a = arena_new();
	struct media_text t;
	struct buf	 big;
	const char	*why, *words[] = { "zanzibarquartz", "pomegranatevoucher",
			    "quixoticledger", "Croissant" };
	unsigned char	*pdf, *docx, *xlsx;
	size_t		 pdf_len, docx_len, xlsx_len;
	int64_t		 mids[4];
	char		*path, *k;
	cJSON		*conv, *m, *d;

	pdf = hdoc_pdf(pages, 2, &pdf_len);
	docx = hdoc_docx(paras, 2, &docx_len);
	xlsx = hdoc_xlsx(&xlsx_len);
	mids[0] = kapso_doc("application/pdf", "report.pdf", pdf, pdf_len,
	    NULL);
	mids[1] = kapso_doc("text/csv", "prices.csv", csv, strlen(csv), NULL);
	mids[2] = kapso_doc("application/vnd.openxmlformats-officedocument."
	    "wordprocessingml.document", "letter.docx", docx, docx_len, NULL);
	mids[3] = kapso_doc("application/vnd.openxmlformats-officedocument."
	    "spreadsheetml.sheet", "prices.xlsx", xlsx, xlsx_len, NULL);
	for (int i = 0; i < 4; i++)
		ck_assert_msg(sqli("SELECT count(*) FROM media_files WHERE "
		    "message_id = %lld AND status = 'stored' AND s3_key <> '' "
		    "AND text_status = 'ok' AND text_chars > 0 AND text_data "
		    "IS NOT NULL", (long long)mids[i]) == 1, "document %d not "
		    "read: %s", i, sqls("SELECT text_status || ' ' || "
		    "text_error FROM media_files WHERE message_id = %lld",
		    (long long)mids[i]));

	/* What the model will be given. */
	app_init(&app);
	ck_assert_int_eq(media_text_load(&app, a, org_id, 0, mids[1], 0, &t,
	    &why), DB_OK);
	ck_assert_str_eq(t.status, "ok");
	ck_assert_str_eq(t.text, csv);
	ck_assert_int_eq(t.chars, (int64_t)strlen(csv));
	ck_assert_int_eq(media_text_load(&app, a, org_id, 0, mids[3], 0, &t,
	    &why), DB_OK);
	ck_assert_str_eq(t.text, HDOC_XLSX_TEXT);
	ck_assert_int_eq(media_text_load(&app, a, org_id, 0, mids[0], 0, &t,
	    &why), DB_OK);
	ck_assert_ptr_nonnull(strstr(t.text, "zanzibarquartz figures"));
	ck_assert_ptr_nonnull(strstr(t.text, "Second page"));
	ck_assert_int_eq(media_text_load(&app, a, org_id, 0, mids[2], 0, &t,
	    &why), DB_OK);
	ck_assert_str_eq(t.text, "Dear Ana,\nthe quixoticledger is "
	    "attached.\n");

	/* Found by the conversation search, a word from each. */
	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	for (int i = 0; i < 4; i++) {
		char	*want = xasprintf("href=\"/conversations/%lld\"",
			    (long long)chat_of(mids[i]));

		path = xasprintf("/conversations?q=%s", words[i]);
		hget(&c, path, 200, &r);
		ck_assert_msg(strstr(r.body, want) != NULL, "search %s: no "
		    "chat %lld", words[i], (long long)chat_of(mids[i]));
		hresp_free(&r);
		free(path);
		free(want);
	}
	hget(&c, "/conversations?q=nowhereinanydocument", 200, &r);
	{
		char	*want = xasprintf("href=\"/conversations/%lld\"",
			    (long long)chat_of(mids[0]));

		ck_assert_ptr_null(strstr(r.body, want));
		free(want);
	}
	hresp_free(&r);

	/* The timeline and the API say what was read. */
	path = xasprintf("/conversations/%lld", (long long)chat_of(mids[1]));
	hget(&c, path, 200, &r);
	{
		char	*want = xasprintf("%zu characters of text read",
			    strlen(csv));

		hresp_has(&r, want, "the CSV's text");
		free(want);
	}
	hresp_free(&r);
	free(path);
	path = xasprintf("/api/v1/conversations/%lld",
	    (long long)chat_of(mids[1]));
	conv = hapi_json(srv.base, token, "GET", path, NULL, 200);
	free(path);
	d = NULL;
	cJSON_ArrayForEach(m, cJSON_GetObjectItem(conv, "messages"))
		if ((int64_t)cJSON_GetObjectItem(m, "id")->valuedouble ==
		    mids[1])
			d = cJSON_GetObjectItem(cJSON_GetArrayItem(
			    cJSON_GetObjectItem(m, "media"), 0), "download");
	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(hjstr(cJSON_GetObjectItem(d, "text"), "status"), "ok");
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "text"),
	    "chars")->valueint, (int)strlen(csv));
	cJSON_Delete(conv);

	/* A long text goes to the store too; the words stay here. */
	buf_init(&big, 0);
	buf_puts(&big, "row,description\n");
	for (int i = 0; i < LONG_CSV_ROWS; i++)
		buf_printf(&big, "%d,item number %d of the long list\n", i, i);
	buf_puts(&big, "last,longlistsentinel\n");
	long_mid = kapso_doc("text/csv", "long.csv", big.data, big.len, NULL);
	k = sqls("SELECT s3_key FROM media_files WHERE message_id = %lld AND "
	    "text_status = 'ok' AND text_data IS NULL AND text_size = %zu",
	    (long long)long_mid, big.len);
	ck_assert_msg(k[0] != '\0', "the long text is not in the store");
	path = xasprintf("%s.txt", k);
	ck_assert_int_eq(object_status(path), 200);
	free(path);
	free(k);
	ck_assert_int_eq(media_text_load(&app, a, org_id, 0, long_mid, 0, &t,
	    &why), DB_OK);
	ck_assert_str_eq(t.text, big.data);
	hget(&c, "/conversations?q=longlistsentinel", 200, &r);
	{
		char	*want = xasprintf("href=\"/conversations/%lld\"",
			    (long long)chat_of(long_mid));

		ck_assert_ptr_nonnull(strstr(r.body, want));
		free(want);
	}
	hresp_free(&r);
	buf_cleanup(&big);
	db_pool_free(app.db);
	arena_free(a);
	free(pdf);
	free(docx);
	free(xlsx);
}
END_TEST

/* Documents that cannot be read say why; the server keeps answering. */
START_TEST(t_documents_refused)
{
	struct client	 c;
	struct hresp	 r;
	unsigned char	 corrupt[4096], *bomb;
	size_t		 bomb_len;
	int64_t		 mid;
	char		*path, *s;
	const struct {
		const char	*why;
		const char	*shown;
	} want[] = {
		{ "the PDF is damaged or not a PDF Parley can read", NULL },
		{ "the file is larger than the 1 MB Parley reads", NULL },
		{ "the DOCX file decompresses to far more than it weighs (a zip "
		    "bomb?)", NULL },
		{ "Parley reads PDF, text, Markdown, CSV, JSON, DOCX and XLSX "
		    "documents, not this kind", NULL },
	};

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	for (int i = 0; i < 4; i++) {
		switch (i) {
		case 0:
			memcpy(corrupt, "%PDF-1.7\n", 9);
			randombytes_buf(corrupt + 9, sizeof(corrupt) - 9);
			mid = kapso_doc("application/pdf", "broken.pdf",
			    corrupt, sizeof(corrupt), NULL);
			break;
		case 1:
			mid = kapso_doc("text/csv", "huge.csv", NULL, 0,
			    "\"size\":1500000,\"fill\":\"a\"");
			break;
		case 2:
			bomb = hdoc_docx_bomb(20 * 1024 * 1024, &bomb_len);
			mid = kapso_doc("application/vnd.openxmlformats-"
			    "officedocument.wordprocessingml.document",
			    "bomb.docx", bomb, bomb_len, NULL);
			free(bomb);
			break;
		default:
			mid = kapso_doc("application/msword", "old.doc",
			    "\xd0\xcf\x11\xe0", 4, NULL);
		}
		s = sqls("SELECT text_error FROM media_files WHERE message_id = "
		    "%lld AND status = 'stored' AND text_status = 'failed'",
		    (long long)mid);
		ck_assert_str_eq(s, want[i].why);
		free(s);
		/* Still answering, and saying why in the timeline. */
		hget(&c, "/healthz", 200, &r);
		hresp_free(&r);
		path = xasprintf("/conversations/%lld", (long long)chat_of(mid));
		hget(&c, path, 200, &r);
		s = xasprintf("Could not be read: %s.", want[i].why);
		hresp_has(&r, s, "the reason in the timeline");
		free(s);
		hresp_free(&r);
		free(path);
	}
	/* The API says so too (the last one). */
	path = xasprintf("/api/v1/conversations/%lld", (long long)chat_of(mid));
	hapi_want(srv.base, token, "GET", path, NULL, 200, &r);
	hresp_has(&r, "\"text\":{\"status\":\"failed\",\"error\":\"Parley "
	    "reads PDF", "the API's reason");
	hresp_free(&r);
	free(path);
}
END_TEST

/* Everything to the database and back; a second run moves nothing. */
START_TEST(t_migrate_both_ways)
{
	struct client	 c;
	struct hresp	 r;
	struct app	 app;
	struct arena	*a = arena_new();
	struct media_text t;
	const char	*why, *to_db[] = { "media", "migrate", "--to", "db",
			    "--batch", "2", NULL };
	const char	*to_s3[] = { "media", "migrate", "--to", "s3", NULL };
	const char	*bad[] = { "media", "migrate", "--to", "nowhere", NULL };
	int64_t		 stored = sqli("SELECT count(*) FROM media_files WHERE "
			    "status = 'stored'");
	char		*out = NULL, *old_key, *path, *want, *newkey;

	ck_assert(stored >= 8);
	old_key = sqls("SELECT s3_key FROM media_files WHERE message_id = "
	    "%lld", (long long)photo_mid);
	ck_assert_int_eq(hrun_parley_env(&pg, env.v, to_db, NULL, &out), 0);
	want = xasprintf("Moved %lld media items to the database; 0 not "
	    "moved (see the log); 0 still in S3;", (long long)stored);
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	free(want);
	free(out);
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE status "
	    "= 'stored' AND (s3_key <> '' OR data IS NULL)"), 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
	    "status = 'stored' AND ((thumb_size > 0) <> (thumb IS NOT NULL) OR "
	    "(vision_size > 0) <> (vision IS NOT NULL))"), 0);
	/* Nothing left behind in the store (the running server's sweep may
	 * be deleting some of the orphans the move made). */
	ck_assert_msg(hpg_wait_int(&pg, 0, 20000, "SELECT count(*) FROM "
	    "media_orphans"), "objects left to delete");
	ck_assert_int_eq(object_status(old_key), 404);
	path = xasprintf("%s.thumb", old_key);
	ck_assert_int_eq(object_status(path), 404);
	free(path);
	/* Served from here now, and the long text is back here too. */
	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	path = xasprintf("/conversations/%lld/media/%lld/0",
	    (long long)chat_of(photo_mid), (long long)photo_mid);
	hget(&c, path, 200, &r);
	ck_assert_uint_eq(r.body_len, (size_t)photo_len);
	hresp_free(&r);
	app_init(&app);
	ck_assert_int_eq(media_text_load(&app, a, org_id, 0, long_mid, 0, &t,
	    &why), DB_OK);
	ck_assert_ptr_nonnull(strstr(t.text, "longlistsentinel"));
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
	    "message_id = %lld AND text_data IS NOT NULL",
	    (long long)long_mid), 1);

	/* Again: nothing to move. */
	ck_assert_int_eq(hrun_parley_env(&pg, env.v, to_db, NULL, &out), 0);
	ck_assert_msg(strstr(out, "Moved 0 media items") != NULL, "%s", out);
	free(out);

	/* And back into the store. */
	ck_assert_int_eq(hrun_parley_env(&pg, env.v, to_s3, NULL, &out), 0);
	want = xasprintf("Moved %lld media items to S3; 0 not moved (see the "
	    "log); 0 still in the database", (long long)stored);
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	free(want);
	free(out);
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE status "
	    "= 'stored' AND (s3_key = '' OR data IS NOT NULL OR thumb IS NOT "
	    "NULL OR vision IS NOT NULL)"), 0);
	newkey = sqls("SELECT s3_key FROM media_files WHERE message_id = "
	    "%lld", (long long)photo_mid);
	ck_assert_str_ne(newkey, old_key);
	ck_assert_int_eq(object_status(newkey), 200);
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
	    "message_id = %lld AND text_data IS NULL", (long long)long_mid),
	    1);
	ck_assert_int_eq(media_text_load(&app, a, org_id, 0, long_mid, 0, &t,
	    &why), DB_OK);
	ck_assert_ptr_nonnull(strstr(t.text, "longlistsentinel"));
	hget(&c, path, 302, &r);
	hresp_free(&r);
	free(path);

	/* Usage mistakes. */
	ck_assert_int_eq(hrun_parley_env(&pg, env.v, bad, NULL, &out), 2);
	free(out);
	{
		const char	*no_s3[] = { "PARLEY_MEDIA_S3_ENDPOINT",
				    "PARLEY_MEDIA_S3_BUCKET",
				    "PARLEY_MEDIA_S3_ACCESS_KEY",
				    "PARLEY_MEDIA_S3_SECRET_KEY", NULL };

		ck_assert_int_eq(hrun_parley_env(&pg, no_s3, to_s3, NULL,
		    &out), 2);
		ck_assert_msg(strstr(out, "media migrate needs the S3 store") !=
		    NULL, "%s", out);
		free(out);
	}
	db_pool_free(app.db);
	arena_free(a);
	free(newkey);
	free(old_key);
}
END_TEST

/* With the store down, an item is kept here; its noted keys are swept. */
START_TEST(t_store_down_keeps_here)
{
	struct client	 c;
	struct hresp	 r;
	const char	*s3_args[] = { "--dir", s3dir, NULL };
	unsigned char	*p;
	int		 len;
	char		*path;

	hfake_stop(&s3);
	p = png_make(300, 200, &len);
	db_mid = twilio_photo("image/png", p, (size_t)len);
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
	    "message_id = %lld AND status = 'stored' AND s3_key = '' AND "
	    "data IS NOT NULL AND thumb IS NOT NULL AND vision IS NOT NULL",
	    (long long)db_mid), 1);
	ck_assert(hserver_log_contains(&srv, "media store failed: item kept "
	    "in the database"));
	/* The upload's keys wait as orphans, due in an hour. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_orphans WHERE "
	    "due_at > now() + interval '50 minutes'"), 4);
	hnode_start(&s3, "tests/node/s3.cjs", s3_args);

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	path = xasprintf("/conversations/%lld/media/%lld/0",
	    (long long)chat_of(db_mid), (long long)db_mid);
	hget(&c, path, 200, &r);
	ck_assert_uint_eq(r.body_len, (size_t)len);
	ck_assert(memcmp(r.body, p, (size_t)len) == 0);
	hresp_free(&r);
	free(path);
	/* An hour later (made now), the sweep deletes them. */
	ck_assert_int_eq(sqli("UPDATE media_orphans SET due_at = now() "
	    "RETURNING 1"), 1);
	ck_assert_msg(hpg_wait_int(&pg, 0, 20000, "SELECT count(*) FROM "
	    "media_orphans"), "the sweep did not delete the orphans");
	gdFree(p);
}
END_TEST

START_TEST(t_retention)
{
	struct client	 c;
	struct hresp	 r;
	char		*photo_key, *path, *body;
	cJSON		*j;
	int64_t		 tw, chat, old_mid, requests;

	photo_key = sqls("SELECT s3_key FROM media_files WHERE message_id = "
	    "%lld", (long long)photo_mid);
	ck_assert_int_eq(object_status(photo_key), 200);

	/* Through the API (owners): checked, then set. */
	hapi_want(srv.base, token, "PATCH", "/api/v1/organization",
	    "{\"mediaRetentionDays\":0}", 422, &r);
	hresp_has(&r, "\"mediaRetentionDays\"", "the field named");
	hresp_free(&r);
	hapi_want(srv.base, token, "PATCH", "/api/v1/organization",
	    "{\"mediaRetentionDays\":\"30\"}", 400, &r);
	hresp_free(&r);
	j = hapi_json(srv.base, token, "PATCH", "/api/v1/organization",
	    "{\"mediaRetentionDays\":30}", 200);
	ck_assert_int_eq(cJSON_GetObjectItem(j, "mediaRetentionDays")->valueint,
	    30);
	ck_assert_str_eq(hjstr(j, "connectPrefix"), "PRL");
	cJSON_Delete(j);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE action = "
	    "'org.settings_changed' AND detail LIKE '%%media kept 30 days%%'"),
	    1);
	/* Through the panel: a mistake shown, then one day. */
	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	hpost_form(&c, "/settings/organization", "/settings/organization",
	    "product_name=Parley&connect_prefix=PRL&media_retention_days=ten",
	    &r);
	ck_assert_int_eq(r.status, 422);
	hresp_has(&r, "Enter a whole number of days", "the field error");
	hresp_free(&r);
	hget(&c, "/settings/organization", 200, &r);
	hresp_has(&r, "value=\"30\"", "the stored retention");
	hresp_free(&r);
	hpost_form(&c, "/settings/organization", "/settings/organization",
	    "product_name=Parley&connect_prefix=PRL&media_retention_days=1",
	    &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT media_retention_days FROM orgs WHERE "
	    "id = %lld", (long long)org_id), 1);

	/* Three days pass for one item in the store, one in the database. */
	sqli("WITH f AS (UPDATE media_files SET created_at = now() - "
	    "interval '3 days' WHERE message_id IN (%lld, %lld) RETURNING 1)"
	    " SELECT count(*) FROM f", (long long)photo_mid,
	    (long long)db_mid);
	sqli("WITH m AS (UPDATE messages SET created_at = now() - "
	    "interval '3 days' WHERE id IN (%lld, %lld) RETURNING 1)"
	    " SELECT count(*) FROM m", (long long)photo_mid, (long long)db_mid);
	ck_assert_msg(hpg_wait_int(&pg, 2, 20000, "SELECT count(*) FROM "
	    "media_files WHERE status = 'expired' AND message_id IN (%lld, "
	    "%lld) AND data IS NULL AND thumb IS NULL AND vision IS NULL AND "
	    "s3_key = '' AND expired_at IS NOT NULL", (long long)photo_mid,
	    (long long)db_mid), "the sweep did not expire both items");
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE status "
	    "= 'expired'"), 2);
	ck_assert_msg(hpg_wait_int(&pg, 0, 20000, "SELECT count(*) FROM "
	    "media_orphans"), "the sweep did not delete the objects");
	ck_assert_int_eq(object_status(photo_key), 404);
	path = xasprintf("%s.vision", photo_key);
	ck_assert_int_eq(object_status(path), 404);
	free(path);

	/* The placeholder: timeline, route, API. */
	path = xasprintf("/conversations/%lld", (long long)chat_of(photo_mid));
	hget(&c, path, 200, &r);
	hresp_has(&r, "Media expired", "the placeholder");
	hresp_free(&r);
	free(path);
	path = xasprintf("/conversations/%lld/media/%lld/0",
	    (long long)chat_of(db_mid), (long long)db_mid);
	hget(&c, path, 410, &r);
	hresp_has(&r, "expired", "the reason");
	hresp_free(&r);
	free(path);
	path = xasprintf("/api/v1/conversations/%lld",
	    (long long)chat_of(photo_mid));
	hapi_want(srv.base, token, "GET", path, NULL, 200, &r);
	hresp_has(&r, "\"download\":{\"status\":\"expired\",\"expiredAt\":\"",
	    "the API's placeholder");
	hresp_free(&r);
	free(path);

	/* An old item not downloaded yet is never downloaded. */
	tw = sqli("SELECT id FROM channels WHERE org_id = %lld AND kind = "
	    "'twilio'", (long long)org_id);
	chat = sqli("INSERT INTO chats (org_id, channel_id, external_id) "
	    "VALUES (%lld, %lld, '+14155550199') RETURNING id",
	    (long long)org_id, (long long)tw);
	hfake_reset(&wa);
	hwa_media(&wa, "ME00000000000000000000000000000OLD", "image/png", photo,
	    (size_t)photo_len);
	body = xasprintf("[{\"url\":\"%s/2010-04-01/Accounts/" TW_SID
	    "/Messages/MMOLD/Media/ME00000000000000000000000000000OLD\","
	    "\"contentType\":\"image/png\"}]", wa.base);
	old_mid = sqli("INSERT INTO messages (org_id, channel_id, chat_id, "
	    "direction, media, created_at) VALUES (%lld, %lld, %lld, 'in', "
	    "'%s', now() - interval '5 days') RETURNING id", (long long)org_id,
	    (long long)tw, (long long)chat, body);
	free(body);
	path = xasprintf("/conversations/%lld/media/%lld/0", (long long)chat,
	    (long long)old_mid);
	hget(&c, path, 410, &r);
	hresp_free(&r);
	free(path);
	requests = hfake_log_count(&wa);
	ck_assert_int_eq(requests, 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
	    "message_id = %lld AND status = 'expired'", (long long)old_mid), 1);

	/* Forever again. */
	j = hapi_json(srv.base, token, "PATCH", "/api/v1/organization",
	    "{\"mediaRetentionDays\":null}", 200);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "mediaRetentionDays")));
	cJSON_Delete(j);
	j = hapi_json(srv.base, token, "GET", "/api/v1/organization", NULL,
	    200);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "mediaRetentionDays")));
	cJSON_Delete(j);
	free(photo_key);
}
END_TEST

/* Chromium shows a photo's preview loaded from the store. */
START_TEST(t_browser_preview_from_store)
{
	char		 url[128], conv[128], origin[128];
	const char	*env_b[] = { url, conv, origin,
			    "PARLEY_TEST_EMAIL=" OWNER_EMAIL,
			    "PARLEY_TEST_PASSWORD=" OWNER_PW, NULL };
	const char	*argv[] = { "node", "--test", "--test-reporter=spec",
			    "tests/browser/media_s3.spec.mjs", NULL };
	unsigned char	*p;
	int		 len, st;
	int64_t		 mid;
	char		*out = NULL;

	p = png_make(900, 600, &len);
	mid = twilio_photo("image/png", p, (size_t)len);
	gdFree(p);
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
	    "message_id = %lld AND s3_key <> '' AND thumb_size > 0",
	    (long long)mid), 1);
	snprintf(url, sizeof(url), "PARLEY_TEST_URL=%s", srv.base);
	snprintf(conv, sizeof(conv), "PARLEY_TEST_CONVERSATION=/conversations/"
	    "%lld", (long long)chat_of(mid));
	snprintf(origin, sizeof(origin), "PARLEY_TEST_S3_ORIGIN=%s", s3.base);
	st = hrun_cmd(argv, env_b, NULL, &out, 180);
	fputs(out, stdout);
	free(out);
	ck_assert_msg(st == 0, "node --test media_s3.spec.mjs exited %d (its "
	    "output above; server log %s)", st, srv.log_path);
}
END_TEST

/*
 * Media out with the store (docs/media-out.md §6): a person's file reply
 * is written to the store under its own message (nothing in the database,
 * no orphan), and Twilio, which cannot use a presigned URL (its HEAD would
 * be refused), fetches the exact bytes from Parley's signed route, which
 * reads them from the store.
 */
START_TEST(t_media_out_from_store)
{
	static const char	 bytes[] = "\x89PNG\r\n\x1a\n-sent from the store-";
	struct client		 c;
	struct hresp		 r;
	struct fetched		 f;
	unsigned char		 h[crypto_hash_sha256_BYTES];
	char			 sha[65], page[96], action[128], *csrf, *body;
	char			*k, *path;
	const cJSON		*e, *send = NULL;
	cJSON			*log;
	int64_t			 chat, mid;

	chat = chat_of(photo_mid);
	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(page, sizeof(page), "/conversations/%lld", (long long)chat);
	snprintf(action, sizeof(action), "%s/reply", page);
	csrf = hpage_csrf(&c, page);
	body = hmultipart(csrf, "body", "From the store", "chart.png",
	    "image/png", bytes);
	client_req(&c, "POST", action, body, HMULTIPART_TYPE, NULL, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	free(body);
	free(csrf);

	mid = sqli("SELECT id FROM messages WHERE chat_id = %lld AND "
	    "direction = 'out' AND body = 'From the store'", (long long)chat);
	ck_assert_int_gt(mid, 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = %lld "
	    "AND status = 'sent'", (long long)mid), 1);
	k = sqls("SELECT s3_key FROM media_files WHERE message_id = %lld AND "
	    "n = 0 AND status = 'stored' AND data IS NULL AND s3_bucket = '"
	    BUCKET "'", (long long)mid);
	ck_assert_msg(strncmp(k, "media/", 6) == 0, "not in the store: %s", k);
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_orphans WHERE key "
	    "LIKE 'media/%%/%lld/%%'", (long long)mid), 0);
	path = xasprintf("%s/" BUCKET "/%s", s3.base, k);
	fetch("GET", path, &f);
	ck_assert_int_eq(f.status, 200);
	ck_assert_uint_eq(f.len, sizeof(bytes) - 1);
	ck_assert(memcmp(f.body, bytes, f.len) == 0);
	fetched_free(&f);
	free(path);
	free(k);

	log = hfake_log(&wa);
	cJSON_ArrayForEach(e, log)
		if (strcmp(hjstr(e, "op"), "send") == 0 && strcmp(hjstr(
		    cJSON_GetObjectItemCaseSensitive(e, "form"), "Body"),
		    "From the store") == 0)
			send = e;
	ck_assert_ptr_nonnull(send);
	ck_assert_msg(strncmp(hjstr(cJSON_GetObjectItemCaseSensitive(send,
	    "form"), "MediaUrl"), srv.base, strlen(srv.base)) == 0, "%s",
	    hjstr(cJSON_GetObjectItemCaseSensitive(send, "form"), "MediaUrl"));
	e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(send,
	    "fetched"), 0);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(e, "head")->valueint,
	    200);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(e,
	    "status")->valueint, 200);
	crypto_hash_sha256(h, (const unsigned char *)bytes, sizeof(bytes) - 1);
	for (size_t i = 0; i < sizeof(h); i++)
		snprintf(sha + 2 * i, 3, "%02x", h[i]);
	ck_assert_str_eq(hjstr(e, "sha256"), sha);
	cJSON_Delete(log);
}
END_TEST

/* Last: the server under ASan/UBSan (and its readers) said nothing. */
START_TEST(t_no_sanitizer_reports)
{
	hserver_stop_clean(&srv);
	ck_assert_msg(!hserver_log_contains(&srv, TW_TOKEN) &&
	    !hserver_log_contains(&srv, KAPSO_KEY), "a credential in %s",
	    srv.log_path);
}
END_TEST

static Suite *
media_store_suite(void)
{
	Suite	*s = suite_create("media_store");
	TCase	*tc = tcase_create("media_store");

	tcase_set_timeout(tc, 300);
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_test(tc, t_config_refused);
	tcase_add_test(tc, t_photo_in_store);
	tcase_add_test(tc, t_presigned_refusals);
	tcase_add_test(tc, t_signed_parley_url);
	tcase_add_test(tc, t_documents_read_and_found);
	tcase_add_test(tc, t_documents_refused);
	tcase_add_test(tc, t_migrate_both_ways);
	tcase_add_test(tc, t_store_down_keeps_here);
	tcase_add_test(tc, t_retention);
	tcase_add_test(tc, t_browser_preview_from_store);
	tcase_add_test(tc, t_media_out_from_store);
	tcase_add_test(tc, t_no_sanitizer_reports);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(media_store_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
