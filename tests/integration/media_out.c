/*
 * tests/integration/media_out.c: media going out (issue 15, docs/media-
 * out.md). The real server and reply pool against a real PostgreSQL, the
 * fake LLM and the fake WhatsApp APIs (which upload, send and, for Twilio,
 * fetch the MediaUrl as the providers do):
 *
 *   - an agent's whatsapp.sendMedia sends an image by URL through each
 *     provider: Meta and Kapso upload the exact bytes (multipart) and send
 *     by the returned id with the caption; Twilio gets a MediaUrl under
 *     PARLEY_PUBLIC_URL that it fetches (HEAD and GET: the same bytes and
 *     type); the same URL tampered with, or with another expiry, is 403;
 *     the message is in the timeline with its item;
 *   - a document goes with its filename; the contact's newest file is
 *     sent back by reference (no copy of its bytes);
 *   - an image over Meta's 5 MB and a type WhatsApp does not take are
 *     refused with the reason before anything is recorded or sent; a URL
 *     on a loopback address is refused without PARLEY_MEDIA_FETCH_ALLOW_
 *     PRIVATE;
 *   - exactly once: a provider's 500 on the send leaves the row to its
 *     job, which sends it once; a row found 'sending' (its sender died
 *     between the two marks) is failed "delivery unknown" and never sent
 *     again, and its Resend sends the same item once;
 *   - a person attaches a file to a reply in the panel (multipart with
 *     CSRF): sent as a document with its name and caption; without the
 *     CSRF token, or of a type WhatsApp does not take, nothing is sent.
 *
 * Every wait is bounded.
 */
#include "harness/model.h"
#include "harness/panel.h"
#include "harness/webhook.h"
#include "harness/world.h"

#define sqli(...)		hpg_sqlf_int(&fx.pg, __VA_ARGS__)
#define sqls(...)		hpg_sqlf(&fx.pg, __VA_ARGS__)
#define wait_sql(n, ms, ...)	hpg_wait_int(&fx.pg, n, ms, __VA_ARGS__)

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>
#include <sodium.h>

#include "crypto/secret.h"
#include "db/db.h"
#include "model/agent.h"
#include "model/channel.h"
#include "plugins/plugin.h"
#include "util/buf.h"
#include "util/time.h"
#include "util/xmalloc.h"

#define TW_NUMBER	"+15550001111"
#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"0123456789abcdef0123456789abcdef"
#define META_PNID	"106540352242922"
#define META_TOKEN	"meta-access-token-0123456789"
#define META_SECRET	"meta-app-secret-0123456789"
#define KAPSO_PNID	"647015955153740"
#define KAPSO_KEY	"kapso-api-key-0123456789"
#define KAPSO_SECRET	"kapso-webhook-secret-0123456789"
#define WAIT_MS		20000
#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define PHOTO		"\x89PNG\r\n\x1a\n-a chart, as the agent drew it-"
#define PDF		"%PDF-1.4 the quarterly report"

static struct hworld	 fx;
static int64_t		 bot_id;

static const char *inbound(const char *, const char *, const char *);
static int64_t	 chat_of(const char *);
static void	 sha_hex(const void *, size_t, char *);
static char	*signed_path(long long, long long, long long);
static void	 media_put(const char *, const char *, const char *);
static void	 tool_media(const char *, const char *);
static cJSON	*ops_of(const char *, const char *);
static int	 ok_count(const cJSON *);
static bool	 wait_llm_result(const char *, int);
static char	*last_tool_result(void);
static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 test_setup(void);

/* --- an image by URL through each provider ------------------------------ */

/* Meta and Kapso: the bytes uploaded, then sent by the id they gave. */
static void
check_uploaded(const char *provider, const char *from, const char *path)
{
	cJSON		*ups, *sends;
	const cJSON	*up, *send, *img;
	char		 sha[65];

	ups = ops_of(provider, "upload");
	ck_assert_int_eq(cJSON_GetArraySize(ups), 1);
	up = cJSON_GetArrayItem(ups, 0);
	ck_assert_str_eq(hjstr(up, "path"), path);
	ck_assert_str_eq(hjstr(cJSON_GetObjectItemCaseSensitive(up, "json"),
	    "messaging_product"), "whatsapp");
	ck_assert_str_eq(hjstr(cJSON_GetObjectItemCaseSensitive(up, "json"),
	    "type"), "image/png");
	img = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    up, "json"), "file");
	ck_assert_str_eq(hjstr(img, "content_type"), "image/png");
	sha_hex(PHOTO, sizeof(PHOTO) - 1, sha);
	ck_assert_str_eq(hjstr(img, "sha256"), sha);
	sends = ops_of(provider, "send");
	ck_assert_int_eq(ok_count(sends), 1);
	send = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(sends, 0),
	    "json");
	ck_assert_str_eq(hjstr(send, "type"), "image");
	ck_assert_str_eq(hjstr(send, "to"), from);
	img = cJSON_GetObjectItemCaseSensitive(send, "image");
	ck_assert_str_eq(hjstr(img, "id"), hjstr(up, "id"));
	ck_assert_str_eq(hjstr(img, "caption"), "Your chart");
	cJSON_Delete(ups);
	cJSON_Delete(sends);
}

START_TEST(t_image_each_provider)
{
	struct client	 c;
	struct hresp	 r;
	cJSON		*sends;
	const cJSON	*form, *fetched;
	char		 sha[65], path[160], *url, *bad, *p;
	int64_t		 chat, mid;

	media_put("chart.png", "image/png", PHOTO);

	tool_media("{\"url\":\"@/cdn/chart.png\",\"caption\":\"Your chart\"}",
	    "Meta chart sent.");
	(void)inbound("meta", "15557650040", "a chart please");
	ck_assert(wait_llm_result("Meta chart sent.", WAIT_MS));
	check_uploaded("meta", "+15557650040", "/v24.0/" META_PNID "/media");
	chat = chat_of("+15557650040");
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages m JOIN media_files "
	    "f ON f.message_id = m.id AND f.n = 0 WHERE m.chat_id = %lld AND "
	    "m.direction = 'out' AND m.status = 'sent' AND m.body = "
	    "'Your chart' AND m.media->0->>'contentType' = 'image/png' AND "
	    "f.status = 'stored' AND f.byte_size = %zu", (long long)chat,
	    sizeof(PHOTO) - 1), 1);
	/* The timeline shows it with its item. */
	mid = sqli("SELECT id FROM messages WHERE chat_id = %lld AND "
	    "body = 'Your chart'", (long long)chat);
	hlogin(&c, fx.srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/conversations/%lld", (long long)chat);
	hget(&c, path, 200, &r);
	snprintf(path, sizeof(path), "/conversations/%lld/media/%lld/0",
	    (long long)chat, (long long)mid);
	hresp_has(&r, path, "the timeline's item link");
	hresp_free(&r);
	hget(&c, path, 200, &r);
	ck_assert_uint_eq(r.body_len, sizeof(PHOTO) - 1);
	ck_assert_int_eq(memcmp(r.body, PHOTO, r.body_len), 0);
	hresp_free(&r);

	hworld_reset(&fx);
	media_put("chart.png", "image/png", PHOTO);
	tool_media("{\"url\":\"@/cdn/chart.png\",\"caption\":\"Your chart\"}",
	    "Kapso chart sent.");
	(void)inbound("kapso", "+15557650041", "a chart please");
	ck_assert(wait_llm_result("Kapso chart sent.", WAIT_MS));
	check_uploaded("kapso", "+15557650041", "/meta/whatsapp/v24.0/"
	    KAPSO_PNID "/media");

	/* Twilio: it fetches the signed URL, HEAD and GET. */
	hworld_reset(&fx);
	media_put("chart.png", "image/png", PHOTO);
	tool_media("{\"url\":\"@/cdn/chart.png\",\"caption\":\"Your chart\"}",
	    "Twilio chart sent.");
	(void)inbound("twilio", "+15557650042", "a chart please");
	ck_assert(wait_llm_result("Twilio chart sent.", WAIT_MS));
	sends = ops_of("twilio", "send");
	ck_assert_int_eq(ok_count(sends), 1);
	form = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(sends, 0),
	    "form");
	ck_assert_str_eq(hjstr(form, "To"), "whatsapp:+15557650042");
	ck_assert_str_eq(hjstr(form, "Body"), "Your chart");
	url = xstrdup(hjstr(form, "MediaUrl"));
	ck_assert_msg(strncmp(url, fx.srv.base, strlen(fx.srv.base)) == 0 &&
	    strncmp(url + strlen(fx.srv.base), "/m/", 3) == 0, "%s", url);
	fetched = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(sends, 0), "fetched"), 0);
	ck_assert_ptr_nonnull(fetched);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(fetched,
	    "head")->valueint, 200);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(fetched,
	    "status")->valueint, 200);
	ck_assert_str_eq(hjstr(fetched, "content_type"), "image/png");
	sha_hex(PHOTO, sizeof(PHOTO) - 1, sha);
	ck_assert_str_eq(hjstr(fetched, "sha256"), sha);
	cJSON_Delete(sends);

	/* The link is the permission: tampered with or re-dated, 403. */
	client_init(&c, fx.srv.base);
	client_req(&c, "GET", url + strlen(fx.srv.base), NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	hresp_free(&r);
	bad = xstrdup(url + strlen(fx.srv.base));
	p = strstr(bad, "sig=") + 4;
	*p = *p == '0' ? '1' : '0';
	client_req(&c, "GET", bad, NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	hresp_free(&r);
	free(bad);
	bad = xstrdup(url + strlen(fx.srv.base));
	p = strstr(bad, "exp=") + 4;
	p[0] = '1';		/* an expiry in 2001: long past */
	p[1] = '0';
	client_req(&c, "GET", bad, NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	hresp_free(&r);
	free(bad);
	/* Signed with the server's key: valid until its expiry, then 403. */
	{
		long long	 org, m;

		ck_assert_int_eq(sscanf(url + strlen(fx.srv.base),
		    "/m/%lld/%lld/", &org, &m), 2);
		bad = signed_path(org, m, time(NULL) + 60);
		client_req(&c, "GET", bad, NULL, NULL, NULL, &r);
		ck_assert_int_eq(r.status, 200);
		ck_assert_uint_eq(r.body_len, sizeof(PHOTO) - 1);
		hresp_free(&r);
		free(bad);
		bad = signed_path(org, m, time(NULL) - 1);
		client_req(&c, "GET", bad, NULL, NULL, NULL, &r);
		ck_assert_int_eq(r.status, 403);
		hresp_free(&r);
		free(bad);
	}
	/* Another item of the same message: not what was signed. */
	bad = xstrdup(url + strlen(fx.srv.base));
	p = strstr(bad, "/0/file");
	ck_assert_ptr_nonnull(p);
	p[1] = '1';
	client_req(&c, "GET", bad, NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	hresp_free(&r);
	free(bad);
	free(url);
}
END_TEST

/* A document keeps its name; the contact's own file goes back by
 * reference (its bytes are not copied). */
START_TEST(t_document_and_reference)
{
	cJSON		*sends, *ups;
	const cJSON	*doc;
	int64_t		 files_before;

	media_put("q3.pdf", "application/pdf", PDF);
	tool_media("{\"url\":\"@/cdn/q3.pdf\",\"caption\":\"The report\","
	    "\"filename\":\"Q3 report.pdf\"}", "Report sent.");
	(void)inbound("meta", "15557650043", "the report please");
	ck_assert(wait_llm_result("Report sent.", WAIT_MS));
	sends = ops_of("meta", "send");
	ck_assert_int_eq(ok_count(sends), 1);
	doc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(sends, 0), "json"), "document");
	ck_assert_str_eq(hjstr(doc, "filename"), "Q3 report.pdf");
	ck_assert_str_eq(hjstr(doc, "caption"), "The report");
	cJSON_Delete(sends);
	ups = ops_of("meta", "upload");
	ck_assert_str_eq(hjstr(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ups, 0),
	    "json"), "file"), "filename"), "Q3 report.pdf");
	cJSON_Delete(ups);

	/* The contact's photo (a data: item), sent back by reference. */
	hworld_reset(&fx);
	free(sqls("UPDATE messages SET media = jsonb_build_array("
	    "jsonb_build_object('url', 'data:image/png;base64,' || "
	    "encode(convert_to('%s', 'UTF8'), 'base64'), 'contentType', "
	    "'image/png')) WHERE chat_id = %lld AND direction = 'in' AND "
	    "id = (SELECT max(id) FROM messages WHERE chat_id = %lld AND "
	    "direction = 'in') RETURNING id", "a photo of a cat",
	    (long long)chat_of("+15557650043"),
	    (long long)chat_of("+15557650043")));
	files_before = sqli("SELECT count(*) FROM media_files");
	tool_media("{\"item\":\"latest\"}", "Cat sent back.");
	(void)inbound("meta", "15557650043", "send my photo back");
	ck_assert(wait_llm_result("Cat sent back.", WAIT_MS));
	sends = ops_of("meta", "send");
	ck_assert_int_eq(ok_count(sends), 1);
	ck_assert_str_eq(hjstr(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(sends, 0), "json"), "type"), "image");
	cJSON_Delete(sends);
	ups = ops_of("meta", "upload");
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ups, 0),
	    "json"), "file") != NULL, 1);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(ups, 0), "json"), "file"), "size")->valueint,
	    (int)strlen("a photo of a cat"));
	cJSON_Delete(ups);
	/* The model's history names the file the agent sent before. */
	{
		cJSON	*llm = hfake_log(&fx.llm);
		char	*text = cJSON_PrintUnformatted(llm);

		ck_assert_msg(strstr(text, "[sent a file: Q3 report.pdf]\\n"
		    "The report") != NULL, "%s", text);
		free(text);
		cJSON_Delete(llm);
	}
	/* One row more: the contact's item downloaded, none for the send. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files"),
	    files_before + 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "direction = 'out' AND status = 'sent' AND media->0->'ref' IS NOT "
	    "NULL AND chat_id = %lld", (long long)chat_of("+15557650043")), 1);
}
END_TEST

/* --- refusals, before anything is recorded ------------------------------ */

START_TEST(t_refused_before_send)
{
	char	*result;
	int64_t	 out_media;
	int	 before;

	hfake_post(&fx.wa, "/_fake/media", "{\"id\":\"big.png\","
	    "\"content_type\":\"image/png\",\"size\":6000000}");
	media_put("anim.gif", "image/gif", "GIF89a");
	out_media = sqli("SELECT count(*) FROM messages WHERE direction = "
	    "'out' AND media <> '[]'");
	before = hfake_log_count(&fx.wa);

	tool_media("{\"url\":\"@/cdn/big.png\"}", "Too big.");
	(void)inbound("meta", "15557650044", "a big picture");
	ck_assert(wait_llm_result("Too big.", WAIT_MS));
	result = last_tool_result();
	ck_assert_msg(strstr(result, "The image is 6.0 MB; WhatsApp through "
	    "Meta takes at most 5 MB") != NULL, "%s", result);
	free(result);

	tool_media("{\"url\":\"@/cdn/anim.gif\"}", "Wrong type.");
	(void)inbound("meta", "15557650044", "a gif");
	ck_assert(wait_llm_result("Wrong type.", WAIT_MS));
	result = last_tool_result();
	ck_assert_msg(strstr(result, "does not take media of type image/gif")
	    != NULL, "%s", result);
	free(result);

	/* Twilio's own limit: 5 MB for an image too. */
	tool_media("{\"url\":\"@/cdn/big.png\"}", "Too big for Twilio.");
	(void)inbound("twilio", "+15557650045", "a big picture");
	ck_assert(wait_llm_result("Too big for Twilio.", WAIT_MS));
	result = last_tool_result();
	ck_assert_msg(strstr(result, "WhatsApp through Twilio takes at most "
	    "5 MB") != NULL, "%s", result);
	free(result);

	/* Nothing recorded, no upload, no media send. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE direction = "
	    "'out' AND media <> '[]'"), out_media);
	{
		cJSON	*u = ops_of("meta", "upload");

		ck_assert_int_eq(cJSON_GetArraySize(u), 0);
		cJSON_Delete(u);
	}
	(void)before;
}
END_TEST

/* Without PARLEY_MEDIA_FETCH_ALLOW_PRIVATE a loopback URL is refused at
 * connect time, and nothing is fetched. */
START_TEST(t_private_url_refused)
{
	char	*result;
	cJSON	*log;
	const cJSON *e;
	int	 cdn = 0;

	hserver_stop_clean(&fx.srv);
	hvars_set(&fx.env, "PARLEY_MEDIA_FETCH_ALLOW_PRIVATE=0");
	hserver_start(&fx.srv, &fx.pg, fx.env.v);
	media_put("chart.png", "image/png", PHOTO);
	tool_media("{\"url\":\"@/cdn/chart.png\"}", "Private refused.");
	(void)inbound("meta", "15557650046", "a chart please");
	ck_assert(wait_llm_result("Private refused.", WAIT_MS));
	result = last_tool_result();
	ck_assert_msg(strstr(result, "private, loopback or reserved address")
	    != NULL, "%s", result);
	free(result);
	log = hfake_log(&fx.wa);
	cJSON_ArrayForEach(e, log)
		cdn += strncmp(hjstr(e, "path"), "/cdn/", 5) == 0;
	cJSON_Delete(log);
	ck_assert_int_eq(cdn, 0);
	hserver_stop_clean(&fx.srv);
	hvars_set(&fx.env, "PARLEY_MEDIA_FETCH_ALLOW_PRIVATE=1");
	hserver_start(&fx.srv, &fx.pg, fx.env.v);
}
END_TEST

/* --- exactly once ------------------------------------------------------ */

START_TEST(t_exactly_once)
{
	struct client	 c;
	struct hresp	 r;
	cJSON		*sends;
	char		*result, page[128], action[160];
	int64_t		 chat, id, copy;

	/* The send answered 500: its job sends it, once. */
	media_put("chart.png", "image/png", PHOTO);
	hfake_queue(&fx.wa, "{\"provider\":\"meta\",\"op\":\"send\","
	    "\"type\":\"image\",\"status\":500}");
	tool_media("{\"url\":\"@/cdn/chart.png\",\"caption\":\"Later\"}",
	    "Queued chart.");
	(void)inbound("meta", "15557650047", "a chart please");
	ck_assert(wait_llm_result("Queued chart.", WAIT_MS));
	result = last_tool_result();
	ck_assert_msg(strstr(result, "\"status\":\"queued\"") != NULL, "%s",
	    result);
	free(result);
	chat = chat_of("+15557650047");
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE chat_id = %lld AND body = 'Later' AND status = 'sent'",
	    (long long)chat), "the media message was not sent by its job");
	usleep(1500 * 1000);
	sends = ops_of("meta", "send");
	ck_assert_int_eq(cJSON_GetArraySize(sends), 2);	/* the 500, the job */
	ck_assert_int_eq(ok_count(sends), 1);
	cJSON_Delete(sends);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE body = "
	    "'Later'"), 1);

	/*
	 * A sender that died between its take and its mark: the row is left
	 * 'sending'. The next sender (its job) calls it unknown and never
	 * sends it; a Resend sends the same item once.
	 */
	hworld_reset(&fx);
	media_put("chart.png", "image/png", PHOTO);
	hfake_queue(&fx.wa, "{\"provider\":\"meta\",\"op\":\"send\","
	    "\"type\":\"image\",\"status\":503}");
	tool_media("{\"url\":\"@/cdn/chart.png\",\"caption\":\"Crashed\"}",
	    "Crash chart.");
	(void)inbound("meta", "15557650047", "another chart");
	ck_assert(wait_llm_result("Crash chart.", WAIT_MS));
	id = sqli("SELECT id FROM messages WHERE chat_id = %lld AND body = "
	    "'Crashed'", (long long)chat);
	free(sqls("UPDATE messages SET status = 'sending' WHERE id = %lld "
	    "AND status = 'queued' RETURNING id", (long long)id));
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE id = %lld AND status = 'failed' AND error_text LIKE "
	    "'delivery unknown%%'", (long long)id), "not declared unknown");
	usleep(1000 * 1000);
	sends = ops_of("meta", "send");
	ck_assert_int_eq(ok_count(sends), 0);
	cJSON_Delete(sends);

	hlogin(&c, fx.srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(page, sizeof(page), "/conversations/%lld", (long long)chat);
	snprintf(action, sizeof(action), "%s/messages/%lld/resend", page,
	    (long long)id);
	hpost_form(&c, page, action, NULL, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	hpost_form(&c, page, action, NULL, &r);	/* a second click */
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	copy = sqli("SELECT COALESCE(resent_as_id, 0) FROM messages WHERE "
	    "id = %lld", (long long)id);
	ck_assert_int_gt(copy, 0);
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE id = %lld AND status = 'sent' AND (media->0->'ref'->>"
	    "'message')::bigint = %lld", (long long)copy, (long long)id),
	    "the Resend was not sent with the failed row's item");
	usleep(1000 * 1000);
	sends = ops_of("meta", "send");
	ck_assert_int_eq(ok_count(sends), 1);
	ck_assert_str_eq(hjstr(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(sends,
	    cJSON_GetArraySize(sends) - 1), "json"), "image"), "caption"),
	    "Crashed");
	cJSON_Delete(sends);
}
END_TEST

/* --- a person attaches a file in the panel ------------------------------ */

START_TEST(t_panel_attach)
{
	struct client	 c;
	struct hresp	 r;
	cJSON		*sends, *ups;
	const cJSON	*doc;
	char		 page[128], action[160], *csrf, *body;
	char		*flash, *loc;
	int64_t		 chat;

	(void)inbound("meta", "15557650048", "a person please");
	ck_assert(wait_llm_result("Echo: a person please", WAIT_MS));
	chat = chat_of("+15557650048");
	hworld_reset(&fx);
	hlogin(&c, fx.srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(page, sizeof(page), "/conversations/%lld", (long long)chat);
	snprintf(action, sizeof(action), "%s/reply", page);

	/* Without the CSRF token: 403, nothing sent. */
	body = hmultipart("", "body", "The invoice", "invoice.pdf",
	    "application/pdf", PDF);
	hreq(&c, "POST", action, body, HMULTIPART_TYPE, NULL, &r);
	ck_assert_int_eq(r.status, 403);
	hresp_free(&r);
	free(body);

	csrf = hpage_csrf(&c, page);
	body = hmultipart(csrf, "body", "The invoice", "invoice.pdf",
	    "application/pdf", PDF);
	client_req(&c, "POST", action, body, HMULTIPART_TYPE, NULL, &r);
	ck_assert_int_eq(r.status, 303);
	loc = hresp_header(&r, "Location");
	ck_assert_str_eq(loc, page);
	hresp_free(&r);
	free(body);
	hget(&c, loc, 200, &r);
	hresp_has(&r, "File sent.", "the flash");
	hresp_free(&r);
	free(loc);

	ups = ops_of("meta", "upload");
	ck_assert_int_eq(cJSON_GetArraySize(ups), 1);
	ck_assert_str_eq(hjstr(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ups, 0),
	    "json"), "file"), "filename"), "invoice.pdf");
	cJSON_Delete(ups);
	sends = ops_of("meta", "send");
	ck_assert_int_eq(ok_count(sends), 1);
	doc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(sends, 0), "json"), "document");
	ck_assert_str_eq(hjstr(doc, "filename"), "invoice.pdf");
	ck_assert_str_eq(hjstr(doc, "caption"), "The invoice");
	cJSON_Delete(sends);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages m JOIN chats c "
	    "ON c.id = m.chat_id WHERE m.chat_id = %lld AND m.direction = "
	    "'out' AND m.author_user_id IS NOT NULL AND m.status = 'sent' AND "
	    "m.media->0->>'filename' = 'invoice.pdf' AND c.status = 'human'",
	    (long long)chat), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE action = "
	    "'handoff.replied' AND detail LIKE 'file application/pdf%%'"), 1);

	/* A type WhatsApp does not take: the reason, nothing sent. */
	hworld_reset(&fx);
	body = hmultipart(csrf, "body", "", "clip.gif", "image/gif", "GIF89a");
	client_req(&c, "POST", action, body, HMULTIPART_TYPE, NULL, &r);
	ck_assert_int_eq(r.status, 303);
	loc = hresp_header(&r, "Location");
	hresp_free(&r);
	free(body);
	hget(&c, loc, 200, &r);
	flash = strstr(r.body, "The file was not sent");
	ck_assert_msg(flash != NULL && strstr(flash, "image/gif") != NULL,
	    "%s", r.body);
	hresp_free(&r);
	free(loc);
	ck_assert_int_eq(hfake_log_count(&fx.wa), 0);
	free(csrf);
}
END_TEST

/* --- helpers ------------------------------------------------------------ */

static void
sha_hex(const void *p, size_t len, char *out)
{
	unsigned char	 h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, p, len);
	for (size_t i = 0; i < sizeof(h); i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* A /m/ path for item 0's file signed as chat/media.c signs it, with the
 * server's master key, expiring at exp (malloc'd). */
static char *
signed_path(long long org, long long mid, long long exp)
{
	char	 msg[160], sig[65];

	snprintf(msg, sizeof(msg), "parley-media-v1\n%lld\n%lld\n0\nfile\n"
	    "%lld", org, mid, exp);
	secret_key_mac(fx.key, "mediaurl", msg, strlen(msg), sig);
	return xasprintf("/m/%lld/%lld/0/file?exp=%lld&sig=%s", org, mid, exp,
	    sig);
}

/* Registers bytes at the fake's /cdn/{id} (a host on the web). */
static void
media_put(const char *id, const char *ctype, const char *bytes)
{
	cJSON	*o = cJSON_CreateObject();
	size_t	 n = strlen(bytes);
	char	*s, *b64 = xmalloc(sodium_base64_encoded_len(n,
		    sodium_base64_VARIANT_ORIGINAL));

	sodium_bin2base64(b64, sodium_base64_encoded_len(n,
	    sodium_base64_VARIANT_ORIGINAL), (const unsigned char *)bytes, n,
	    sodium_base64_VARIANT_ORIGINAL);
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "content_type", ctype);
	cJSON_AddStringToObject(o, "body_b64", b64);
	free(b64);
	s = cJSON_PrintUnformatted(o);
	hfake_post(&fx.wa, "/_fake/media", s);
	free(s);
	cJSON_Delete(o);
}

/* The model's next answer: the tool with args (each "@" is the fake's
 * base URL), then `then`. */
static void
tool_media(const char *args, const char *then)
{
	struct buf	 b;

	buf_init(&b, 0);
	buf_puts(&b, "[{\"tool_calls\":[{\"name\":\"whatsapp_sendMedia\","
	    "\"arguments\":");
	for (; *args != '\0'; args++)
		if (*args == '@')
			buf_puts(&b, fx.wa.base);
		else
			buf_putc(&b, *args);
	buf_printf(&b, "}]},{\"content\":\"%s\"}]", then);
	hfake_queue(&fx.llm, buf_str(&b));
	buf_cleanup(&b);
}

/* The fake's requests of provider and op (an array to delete). */
static cJSON *
ops_of(const char *provider, const char *op)
{
	cJSON		*log = hfake_log(&fx.wa), *out = cJSON_CreateArray();
	const cJSON	*e;

	cJSON_ArrayForEach(e, log) {
		const char	*type = hjstr(cJSON_GetObjectItemCaseSensitive(e,
				    "json"), "type");

		if (strcmp(hjstr(e, "provider"), provider) == 0 &&
		    strcmp(hjstr(e, "op"), op) == 0 &&
		    (strcmp(op, "send") != 0 || strcmp(provider, "twilio") ==
		    0 || strcmp(type, "image") == 0 || strcmp(type,
		    "document") == 0 || strcmp(type, "audio") == 0 ||
		    strcmp(type, "video") == 0))
			cJSON_AddItemToArray(out, cJSON_Duplicate(e, true));
	}
	cJSON_Delete(log);
	if (strcmp(provider, "twilio") == 0 && strcmp(op, "send") == 0) {
		/* Twilio's texts have no MediaUrl: keep the media sends. */
		cJSON	*media = cJSON_CreateArray();

		cJSON_ArrayForEach(e, out)
			if (hjstr(cJSON_GetObjectItemCaseSensitive(e, "form"),
			    "MediaUrl")[0] != '\0')
				cJSON_AddItemToArray(media, cJSON_Duplicate(e,
				    true));
		cJSON_Delete(out);
		out = media;
	}
	return out;
}

/* How many of the logged requests were answered 2xx. */
static int
ok_count(const cJSON *reqs)
{
	const cJSON	*e, *a;
	int		 n = 0;

	cJSON_ArrayForEach(e, reqs) {
		a = cJSON_GetObjectItemCaseSensitive(e, "answered");
		n += cJSON_IsNumber(a) && a->valueint >= 200 &&
		    a->valueint < 300;
	}
	return n;
}

/* Waits until the agent's text `text` was sent. */
static bool
wait_llm_result(const char *text, int timeout_ms)
{
	char	 cmd[400];

	if (hpg_wait_int(&fx.pg, 1, timeout_ms, "SELECT count(*) FROM "
	    "messages WHERE direction = 'out' AND body = '%s' AND status = "
	    "'sent'", text))
		return true;
	/* What the server said, for the failure's reader. */
	snprintf(cmd, sizeof(cmd), "tail -n 30 '%s' >&2", fx.srv.log_path);
	(void)system(cmd);
	return false;
}

/* The result of the last model call's first tool call. */
static char *
last_tool_result(void)
{
	return sqls("SELECT COALESCE(tool_calls->0->>'result', tool_calls->0->>"
	    "'error') FROM llm_calls WHERE tool_calls IS NOT NULL AND "
	    "jsonb_array_length(tool_calls) > 0 ORDER BY id DESC LIMIT 1");
}

static int64_t
chat_of(const char *from)
{
	return sqli("SELECT id FROM chats WHERE external_id = '%s%s'",
	    from[0] == '+' ? "" : "+", from);
}

/* An inbound text from `from` on provider p; its provider id. */
static const char *
inbound(const char *p, const char *from, const char *text)
{
	const struct hin	 w = { .base = fx.srv.base, .tw_sid = TW_SID,
				    .tw_token = TW_TOKEN, .tw_number = TW_NUMBER,
				    .meta_pnid = META_PNID,
				    .meta_secret = META_SECRET,
				    .kapso_pnid = KAPSO_PNID,
				    .kapso_secret = KAPSO_SECRET,
				    .name = "Tess" };

	return hin_text(&w, p, from, text);
}

/* --- set-up ------------------------------------------------------------ */

static void
suite_setup(void)
{
	struct channel_input	 cin;
	const char		*wa_args[] = { "--twilio-token", TW_TOKEN,
				    "--meta-token", META_TOKEN,
				    "--kapso-key", KAPSO_KEY, NULL };
	struct db		*db;
	int64_t			 model_id;

	/* The fake's "web" (/cdn/…) is on loopback. */
	hvars_set(&fx.env, "PARLEY_MEDIA_FETCH_ALLOW_PRIVATE=1");
	hworld_start(&fx, NULL, wa_args);
	model_id = hworld_model(&fx, "sk-test-0123456789", true);
	db = db_acquire(fx.pool);
	ck_assert_ptr_nonnull(db);
	bot_id = hagent_create(db, fx.org_id, "Bot", "chat", model_id);
	ck_assert_int_eq(agent_set_plugins(db, fx.org_id, bot_id,
	    (const char *const[]){ "whatsapp.sendMedia" }, 1,
	    plugin_id_usable), DB_OK);
	cin = (struct channel_input){ .kind = "twilio", .name = "Twilio",
	    .status = "connected", .phone_number = TW_NUMBER,
	    .twilio_account_sid = TW_SID, .twilio_auth_token = TW_TOKEN,
	    .default_agent_id = bot_id };
	(void)hchannel_create(db, fx.key, fx.org_id, &cin);
	cin = (struct channel_input){ .kind = "meta", .name = "Meta",
	    .status = "connected", .phone_number = "+15550783881",
	    .phone_number_id = META_PNID, .meta_access_token = META_TOKEN,
	    .meta_app_secret = META_SECRET, .meta_verify_token = "verify-me",
	    .default_agent_id = bot_id };
	(void)hchannel_create(db, fx.key, fx.org_id, &cin);
	cin = (struct channel_input){ .kind = "kapso", .name = "Kapso",
	    .status = "connected", .phone_number = "+15551234000",
	    .phone_number_id = KAPSO_PNID, .kapso_api_key = KAPSO_KEY,
	    .kapso_webhook_secret = KAPSO_SECRET, .default_agent_id = bot_id };
	(void)hchannel_create(db, fx.key, fx.org_id, &cin);
	db_release(db);
}

static void
suite_teardown(void)
{
	if (fx.srv.pid > 0)
		hserver_stop_clean(&fx.srv);
	hworld_stop(&fx);
}

static void
test_setup(void)
{
	hworld_reset(&fx);
}

static Suite *
media_out_suite(void)
{
	Suite	*s = suite_create("media_out");
	TCase	*tc = tcase_create("media_out");

	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_image_each_provider);
	tcase_add_test(tc, t_document_and_reference);
	tcase_add_test(tc, t_refused_before_send);
	tcase_add_test(tc, t_exactly_once);
	tcase_add_test(tc, t_panel_attach);
	tcase_add_test(tc, t_private_url_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(media_out_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
