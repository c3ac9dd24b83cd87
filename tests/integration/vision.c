/*
 * Integration: media reach the model (issue 15), as a user would try
 * it: signed Twilio and Meta webhooks into the real server, real images
 * (written by libgd here) and real documents (tests/harness/docs.h), the
 * fake model recording what it was given.
 *
 *   - a photo with a caption and one without reach a vision model as an
 *     image part of the user's message: a data: URL that decodes to a
 *     JPEG, with a text part that is never empty; the review shows what
 *     the model was given, and the call's record keeps no base64;
 *   - the same photos to a model without vision: the caption is answered
 *     after the agent's "cannot look at images" text; a photo alone gets
 *     that text (the agent's own wording) and no model call;
 *   - a CSV, a PDF, a DOCX and an XLSX whose text the model receives with
 *     their turn, a later question in the thread that still sees them,
 *     and a document that cannot be read, whose reason the model hears;
 *   - the agent's document budget: the oldest documents are the first to
 *     go, and the model is told which.
 *
 * After every test the fixture runs the "no message left behind" check.
 */
#include "harness/harness.h"
#include "harness/docs.h"
#include "harness/model.h"
#include "harness/panel.h"
#include "harness/webhook.h"
#include "harness/world.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>
#include <gd.h>
#include <sodium.h>

#include "db/db.h"
#include "model/channel.h"
#include "util/xmalloc.h"

#define sqli(...)		hpg_sqlf_int(&fx.pg, __VA_ARGS__)
#define sqls(...)		hpg_sqlf(&fx.pg, __VA_ARGS__)

#define TW_NUMBER	"+15550001111"
#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"0123456789abcdef0123456789abcdef"
#define META_PNID	"106540352242922"
#define META_TOKEN	"meta-access-token-0123456789"
#define META_SECRET	"meta-app-secret-0123456789"
#define MEMBER_EMAIL	"reviewer@example.com"
#define MEMBER_PW	"correct-horse-battery-staple"
#define WAIT_MS		30000
#define DOCX_TYPE	"application/vnd.openxmlformats-officedocument." \
			"wordprocessingml.document"
#define XLSX_TYPE	"application/vnd.openxmlformats-officedocument." \
			"spreadsheetml.sheet"

static struct hworld	 fx;
static int64_t		 seer_id, blind_id;
static int		 seq;

static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 test_setup(void);
static void	 test_teardown(void);
static unsigned char *photo_png(int, int, int *);
static const char *twilio_photo(const char *, const char *, const void *,
		    size_t);
static const char *meta_media(const char *, const char *, const char *,
		    const char *, const void *, size_t, const char *);
static const char *meta_text(const char *, const char *);
static void	 wait_done(const char *);
static const cJSON *last_user(const cJSON *, int);
static const cJSON *request_messages(const cJSON *, int);
static char	*all_text(const cJSON *);
static void	 assert_jpeg_data_url(const char *);

/* --- images to a vision model -------------------------------------------- */

START_TEST(t_photo_to_vision_model)
{
	unsigned char	*png;
	int		 png_len;
	cJSON		*log, *sends;
	const cJSON	*um, *c;
	const char	*sid;
	char		*input, *path;
	struct client	 cl;
	struct hresp	 r;
	int64_t		 chat;

	png = photo_png(2000, 1000, &png_len);
	hfake_queue(&fx.llm, "[{\"content\":\"A blue rectangle.\"},"
	    "{\"content\":\"Still blue.\"}]");

	/* With a caption. */
	sid = twilio_photo("+15557770001", "What is in this photo?", png,
	    (size_t)png_len);
	wait_done(sid);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 1);
	log = hfake_log(&fx.llm);
	um = last_user(log, 0);
	c = cJSON_GetObjectItem(um, "content");
	ck_assert_msg(cJSON_IsArray(c), "the photo reached the model as text");
	ck_assert_int_eq(cJSON_GetArraySize(c), 2);
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(c, 0), "type"), "text");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(c, 0), "text"),
	    "[image] What is in this photo?");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(c, 1), "type"), "image_url");
	assert_jpeg_data_url(hjstr(cJSON_GetObjectItem(cJSON_GetArrayItem(c,
	    1), "image_url"), "url"));
	cJSON_Delete(log);
	ck_assert(hwa_wait_sends(&fx.wa, true, 1, WAIT_MS));

	/* Without one: still an image part, and a text part that says so. */
	sid = twilio_photo("+15557770001", "", png, (size_t)png_len);
	wait_done(sid);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 2);
	log = hfake_log(&fx.llm);
	um = last_user(log, 1);
	c = cJSON_GetObjectItem(um, "content");
	ck_assert(cJSON_IsArray(c));
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(c, 0), "text"), "[image]");
	assert_jpeg_data_url(hjstr(cJSON_GetObjectItem(cJSON_GetArrayItem(c,
	    1), "image_url"), "url"));
	/* The earlier photo is named in the history, not sent again. */
	{
		const cJSON	*msgs = request_messages(log, 1);
		const cJSON	*m;
		int		 images = 0;

		cJSON_ArrayForEach(m, msgs) {
			char	*j = cJSON_PrintUnformatted(m);

			if (strstr(j, "image_url") != NULL)
				images++;
			free(j);
		}
		ck_assert_int_eq(images, 1);
		ck_assert_ptr_nonnull(strstr(all_text(msgs),
		    "[image] What is in this photo?"));
	}
	cJSON_Delete(log);
	ck_assert(hwa_wait_sends(&fx.wa, true, 2, WAIT_MS));
	ck_assert_int_eq(hwa_sends(&fx.wa, true, &sends), 2);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(sends, 1)),
	    "Still blue.");
	cJSON_Delete(sends);

	/* The vision image was made once and kept. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files f JOIN "
	    "messages m ON m.id = f.message_id JOIN chats ch ON ch.id = "
	    "m.chat_id WHERE ch.external_id = '+15557770001' AND f.vision_size"
	    " > 0 AND f.vision_size <= 400 * 1024"), 2);
	/* The record keeps what the model was given, without the bytes. */
	input = sqls("SELECT input::text FROM llm_calls ORDER BY id DESC "
	    "LIMIT 1");
	ck_assert_ptr_nonnull(strstr(input, "[image: JPEG, "));
	ck_assert_ptr_null(strstr(input, "base64"));
	ck_assert_int_lt((int)strlen(input), 20000);
	free(input);

	/* The review shows it. */
	chat = sqli("SELECT id FROM chats WHERE external_id = "
	    "'+15557770001'");
	hlogin(&cl, fx.srv.base, MEMBER_EMAIL, MEMBER_PW);
	path = xasprintf("/conversations/%lld", (long long)chat);
	hget(&cl, path, 200, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "Given to the model"));
	ck_assert_ptr_nonnull(strstr(r.body, "[image: JPEG, "));
	ck_assert_ptr_nonnull(strstr(r.body, "What is in this photo?"));
	ck_assert_ptr_null(strstr(r.body, "base64,"));
	hresp_free(&r);
	free(path);

	/* The API gives the same record with the conversation. */
	{
		char		*tok = htoken_create(&fx.pg, "owner@example.com",
				    "vision", "admin");
		char		*auth = xasprintf("Authorization: Bearer %s",
				    tok);
		const char	*hdrs[] = { auth, NULL };
		struct client	 api;
		cJSON		*doc, *calls, *k, *last = NULL;
		char		*in;

		client_init(&api, fx.srv.base);
		path = xasprintf("/api/v1/conversations/%lld",
		    (long long)chat);
		client_req(&api, "GET", path, NULL, NULL, hdrs, &r);
		ck_assert_int_eq(r.status, 200);
		doc = cJSON_Parse(r.body);
		calls = cJSON_GetObjectItem(doc, "modelCalls");
		ck_assert_int_ge(cJSON_GetArraySize(calls), 2);
		cJSON_ArrayForEach(k, calls)
			last = k;
		in = cJSON_PrintUnformatted(cJSON_GetObjectItem(last,
		    "input"));
		ck_assert_msg(strstr(in, "[image: JPEG, ") != NULL &&
		    strstr(in, "base64") == NULL, "modelCalls input: %.300s",
		    in);
		free(in);
		cJSON_Delete(doc);
		hresp_free(&r);
		free(path);
		free(auth);
		free(tok);
	}
	gdFree(png);
}
END_TEST

/* PARLEY_VISION_URLS=signed: a short-lived signed URL the provider can
 * fetch instead (the fake fetches nothing: the URL is fetched here). */
START_TEST(t_photo_signed_url)
{
	unsigned char	*png;
	int		 png_len;
	cJSON		*log;
	const cJSON	*c;
	const char	*sid, *url;
	char		*input, *path;
	struct client	 cl;
	struct hresp	 r;
	gdImagePtr	 im;

	hserver_stop_clean(&fx.srv);
	hvars_set(&fx.env, "PARLEY_VISION_URLS=signed");
	hserver_start(&fx.srv, &fx.pg, fx.env.v);
	png = photo_png(800, 600, &png_len);
	sid = twilio_photo("+15557770002", "And this one?", png,
	    (size_t)png_len);
	wait_done(sid);
	log = hfake_log(&fx.llm);
	c = cJSON_GetObjectItem(last_user(log, 0), "content");
	ck_assert(cJSON_IsArray(c));
	url = hjstr(cJSON_GetObjectItem(cJSON_GetArrayItem(c, 1),
	    "image_url"), "url");
	ck_assert_msg(strncmp(url, fx.srv.base, strlen(fx.srv.base)) == 0 &&
	    strstr(url, "/vision?exp=") != NULL && strstr(url, "&sig=") !=
	    NULL, "not a signed URL: %s", url);
	/* Anyone holding it gets the vision image, without a session. */
	client_init(&cl, fx.srv.base);
	path = xstrdup(url + strlen(fx.srv.base));
	hget(&cl, path, 200, &r);
	im = gdImageCreateFromJpegPtr((int)r.body_len, r.body);
	ck_assert_ptr_nonnull(im);
	ck_assert_int_eq(gdImageSX(im), 800);
	gdImageDestroy(im);
	hresp_free(&r);
	/* Tampered: refused. */
	path[strlen(path) - 1] = path[strlen(path) - 1] == '0' ? '1' : '0';
	hget(&cl, path, 403, &r);
	hresp_free(&r);
	free(path);
	cJSON_Delete(log);
	/* The record keeps the URL without its signature. */
	input = sqls("SELECT input::text FROM llm_calls ORDER BY id DESC "
	    "LIMIT 1");
	ck_assert_ptr_nonnull(strstr(input, "/vision\""));
	ck_assert_ptr_null(strstr(input, "sig="));
	free(input);
	gdFree(png);

	hserver_stop_clean(&fx.srv);
	hvars_set(&fx.env, "PARLEY_VISION_URLS=data");
	hserver_start(&fx.srv, &fx.pg, fx.env.v);
}
END_TEST

/* Two messages of six photos in one turn: ten are shown, two named. */
START_TEST(t_images_capped)
{
	unsigned char	*png;
	int		 png_len, parts = 0, notes = 0;
	char		 sid[2][40], me[12][40], url[12][512];
	char		 keys[12][2][32];
	const char	*params[2][20][2];
	cJSON		*log;
	const cJSON	*m, *p;

	png = photo_png(300, 200, &png_len);
	free(sqls("UPDATE agents SET debounce_ms = 1500 WHERE id = %lld",
	    (long long)seer_id));
	for (int k = 0; k < 2; k++) {
		int	 np = 0;

		snprintf(sid[k], sizeof(sid[k]), "MM%032d", ++seq);
		params[k][np][0] = "MessageSid";
		params[k][np++][1] = sid[k];
		params[k][np][0] = "AccountSid";
		params[k][np++][1] = TW_SID;
		params[k][np][0] = "From";
		params[k][np++][1] = "whatsapp:+15557770009";
		params[k][np][0] = "To";
		params[k][np++][1] = "whatsapp:" TW_NUMBER;
		params[k][np][0] = "NumMedia";
		params[k][np++][1] = "6";
		for (int j = 0; j < 6; j++) {
			int	 x = k * 6 + j;

			snprintf(me[x], sizeof(me[x]), "ME%032d", ++seq);
			hwa_media(&fx.wa, me[x], "image/png", png,
			    (size_t)png_len);
			snprintf(url[x], sizeof(url[x]), "%s/2010-04-01/"
			    "Accounts/" TW_SID "/Messages/%s/Media/%s",
			    fx.wa.base, sid[k], me[x]);
			snprintf(keys[x][0], sizeof(keys[x][0]), "MediaUrl%d",
			    j);
			snprintf(keys[x][1], sizeof(keys[x][1]),
			    "MediaContentType%d", j);
		}
		for (int j = 0; j < 6; j++) {
			int	 x = k * 6 + j;

			params[k][np][0] = keys[x][0];
			params[k][np++][1] = url[x];
			params[k][np][0] = keys[x][1];
			params[k][np++][1] = "image/png";
		}
		htwilio_post_ok(fx.srv.base, HTWILIO_INBOUND, TW_TOKEN,
		    params[k], np);
	}
	wait_done(sid[1]);
	wait_done(sid[0]);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 1);
	log = hfake_log(&fx.llm);
	cJSON_ArrayForEach(m, request_messages(log, 0)) {
		if (strcmp(hjstr(m, "role"), "user") != 0)
			continue;
		cJSON_ArrayForEach(p, cJSON_GetObjectItem(m, "content")) {
			const char	*tx = hjstr(p, "text");

			if (strcmp(hjstr(p, "type"), "image_url") == 0)
				parts++;
			for (const char *q = tx; (q = strstr(q, "at most 10 "
			    "images are shown at once")) != NULL; q++)
				notes++;
		}
	}
	cJSON_Delete(log);
	ck_assert_int_eq(parts, 10);
	ck_assert_int_eq(notes, 2);
	free(sqls("UPDATE agents SET debounce_ms = 0"));
	gdFree(png);
}
END_TEST

/* --- a model without vision ---------------------------------------------- */

START_TEST(t_photo_without_vision)
{
	unsigned char	*png;
	int		 png_len;
	cJSON		*log, *sends;
	const cJSON	*c;
	const char	*wamid;

	png = photo_png(640, 480, &png_len);
	hfake_queue(&fx.llm, "{\"content\":\"From what you say, a cat.\"}");
	/* A caption: answered, after the agent's text. */
	wamid = meta_media("16505550001", "image", "image/jpeg", NULL, png,
	    (size_t)png_len, "Is this a cat?");
	wait_done(wamid);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 1);
	log = hfake_log(&fx.llm);
	c = cJSON_GetObjectItem(last_user(log, 0), "content");
	ck_assert_msg(cJSON_IsString(c), "an image part to a model without "
	    "vision");
	ck_assert_ptr_nonnull(strstr(c->valuestring, "Is this a cat?"));
	ck_assert_ptr_nonnull(strstr(c->valuestring, "cannot look at images"));
	cJSON_Delete(log);
	ck_assert(hwa_wait_sends(&fx.wa, true, 1, WAIT_MS));
	ck_assert_int_eq(hwa_sends(&fx.wa, true, &sends), 1);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(sends, 0)),
	    "Sorry, I can't look at images.\n\nFrom what you say, a cat.");
	cJSON_Delete(sends);

	/* A photo alone: the agent's own text, and the model is not asked. */
	free(sqls("UPDATE agents SET texts = '{\"no_vision\":\"{agent} "
	    "cannot see pictures yet: tell me in words?\"}' WHERE id = %lld",
	    (long long)blind_id));
	wamid = meta_media("16505550001", "image", "image/jpeg", NULL, png,
	    (size_t)png_len, NULL);
	wait_done(wamid);
	ck_assert(hwa_wait_sends(&fx.wa, true, 2, WAIT_MS));
	ck_assert_int_eq(hwa_sends(&fx.wa, true, &sends), 2);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(sends, 1)),
	    "Blind cannot see pictures yet: tell me in words?");
	cJSON_Delete(sends);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 1);
	/* It covers the photo. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages i JOIN messages o"
	    " ON o.id = i.answered_by WHERE i.provider_message_id = '%s' AND "
	    "o.body LIKE 'Blind cannot see%%'", wamid), 1);
	free(sqls("UPDATE agents SET texts = '{}'"));
	gdFree(png);
}
END_TEST

/* --- documents as context -------------------------------------------------- */

START_TEST(t_documents_as_context)
{
	const char	*pages[] = { "Quarterly report\nzanzibarquartz figures",
			    "Second page" };
	const char	*paras[] = { "Dear Ana,", "the quixoticledger is "
			    "attached." };
	const char	*csv = "sku,name,price\n17,pomegranatevoucher,12.50\n";
	unsigned char	*pdf, *docx, *xlsx;
	size_t		 pdf_len, docx_len, xlsx_len;
	const char	*wamid;
	cJSON		*log;
	char		*t, *path;
	int		 calls;
	struct client	 cl;
	struct hresp	 r;

	pdf = hdoc_pdf(pages, 2, &pdf_len);
	docx = hdoc_docx(paras, 2, &docx_len);
	xlsx = hdoc_xlsx(&xlsx_len);

	/* Each with its turn, labelled with its name. */
	wamid = meta_media("16505550002", "document", "text/csv",
	    "prices.csv", csv, strlen(csv), "What does the price list say?");
	wait_done(wamid);
	log = hfake_log(&fx.llm);
	t = all_text(last_user(log, 0));
	ck_assert_ptr_nonnull(strstr(t, "What does the price list say?"));
	ck_assert_ptr_nonnull(strstr(t, "[prices.csv: its text follows]\n"
	    "sku,name,price\n17,pomegranatevoucher,12.50\n[end of "
	    "prices.csv]"));
	cJSON_Delete(log);
	wamid = meta_media("16505550002", "document", "application/pdf",
	    "report.pdf", pdf, pdf_len, NULL);
	wait_done(wamid);
	log = hfake_log(&fx.llm);
	t = all_text(last_user(log, 1));
	ck_assert_msg(strncmp(t, "[document: report.pdf]", 22) == 0, "%s", t);
	ck_assert_ptr_nonnull(strstr(t, "zanzibarquartz figures"));
	ck_assert_ptr_nonnull(strstr(t, "Second page"));
	cJSON_Delete(log);
	wamid = meta_media("16505550002", "document", DOCX_TYPE, "letter.docx",
	    docx, docx_len, NULL);
	wait_done(wamid);
	log = hfake_log(&fx.llm);
	ck_assert_ptr_nonnull(strstr(all_text(last_user(log, 2)),
	    "the quixoticledger is attached."));
	cJSON_Delete(log);
	wamid = meta_media("16505550002", "document", XLSX_TYPE, "prices.xlsx",
	    xlsx, xlsx_len, NULL);
	wait_done(wamid);
	log = hfake_log(&fx.llm);
	ck_assert_ptr_nonnull(strstr(all_text(last_user(log, 3)),
	    HDOC_XLSX_TEXT));
	cJSON_Delete(log);

	/* A later question in the thread still sees all four. */
	wamid = meta_text("16505550002", "Which is cheaper, the voucher or "
	    "the croissant?");
	wait_done(wamid);
	calls = hfake_log_count(&fx.llm);
	ck_assert_int_eq(calls, 5);
	log = hfake_log(&fx.llm);
	{
		const cJSON	*msgs = request_messages(log, 4);
		const cJSON	*sys = NULL, *m;

		cJSON_ArrayForEach(m, msgs)
			if (strcmp(hjstr(m, "role"), "system") == 0 &&
			    strstr(hjstr(m, "content"), "sent earlier") != NULL)
				sys = m;
		ck_assert_msg(sys != NULL, "no earlier documents: %s",
		    all_text(msgs));
		t = xstrdup(hjstr(sys, "content"));
		ck_assert_ptr_nonnull(strstr(t, "pomegranatevoucher"));
		ck_assert_ptr_nonnull(strstr(t, "zanzibarquartz"));
		ck_assert_ptr_nonnull(strstr(t, "quixoticledger"));
		ck_assert_ptr_nonnull(strstr(t, "Croissant,2.5"));
		/* The newest first. */
		ck_assert(strstr(t, "prices.xlsx") < strstr(t, "report.pdf"));
		free(t);
		ck_assert_ptr_nonnull(strstr(all_text(msgs), "[document: "
		    "letter.docx]"));
	}
	cJSON_Delete(log);

	/* One that cannot be read: the model hears why, as the timeline
	 * shows it. */
	wamid = meta_media("16505550002", "document", "application/pdf",
	    "broken.pdf", "%PDF-1.4 not really", 19, "Can you read this?");
	wait_done(wamid);
	log = hfake_log(&fx.llm);
	t = all_text(last_user(log, 5));
	ck_assert_msg(strstr(t, "[broken.pdf could not be read: ") != NULL,
	    "%s", t);
	ck_assert_ptr_nonnull(strstr(t, "Can you read this?"));
	cJSON_Delete(log);
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files f JOIN "
	    "messages m ON m.id = f.message_id WHERE m.provider_message_id = "
	    "'%s' AND f.text_status = 'failed' AND f.text_error <> ''", wamid),
	    1);
	/* The timeline says so too, and the review shows the text given. */
	hlogin(&cl, fx.srv.base, MEMBER_EMAIL, MEMBER_PW);
	path = xasprintf("/conversations/%lld", (long long)sqli("SELECT id "
	    "FROM chats WHERE external_id = '+16505550002'"));
	hget(&cl, path, 200, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "Could not be read: "));
	ck_assert_ptr_nonnull(strstr(r.body, "Given to the model"));
	ck_assert_ptr_nonnull(strstr(r.body, "[prices.csv: its text follows]"));
	ck_assert_ptr_nonnull(strstr(r.body, "pomegranatevoucher"));
	hresp_free(&r);
	free(path);
	free(pdf);
	free(docx);
	free(xlsx);
}
END_TEST

/* The agent's budget: the newest documents first, the oldest left out. */
START_TEST(t_document_budget)
{
	const char	*docs[3] = {
		"id,word\n1,aardvarkalph\n2,aardvarkbeta\n3,xyz\n",
		"id,word\n1,bisonalphaaa\n2,bisonbetaaaa\n3,xyz\n",
		"id,word\n1,camelalphaaa\n2,camelbetaaaa\n3,xyz\n",
	};
	const char	*names[3] = { "a.csv", "b.csv", "c.csv" };
	const char	*wamid;
	cJSON		*log;
	const cJSON	*msgs, *m, *sys = NULL;
	char		*t;

	for (int i = 0; i < 3; i++)
		ck_assert_int_eq((int)strlen(docs[i]), 44);
	free(sqls("UPDATE agents SET doc_context_chars = 100 WHERE id = %lld",
	    (long long)blind_id));
	for (int i = 0; i < 3; i++) {
		wamid = meta_media("16505550003", "document", "text/csv",
		    names[i], docs[i], strlen(docs[i]), NULL);
		wait_done(wamid);
	}
	wamid = meta_text("16505550003", "What animals were listed?");
	wait_done(wamid);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 4);
	log = hfake_log(&fx.llm);
	msgs = request_messages(log, 3);
	cJSON_ArrayForEach(m, msgs)
		if (strcmp(hjstr(m, "role"), "system") == 0 &&
		    strstr(hjstr(m, "content"), "for length") != NULL)
			sys = m;
	ck_assert_msg(sys != NULL, "%s", all_text(msgs));
	t = xstrdup(hjstr(sys, "content"));
	/* 44 + 44 of 100: c and b; a, the oldest, is named, not given. */
	ck_assert_ptr_nonnull(strstr(t, "camelbetaaaa"));
	ck_assert_ptr_nonnull(strstr(t, "bisonbetaaaa"));
	ck_assert_ptr_null(strstr(t, "aardvark"));
	ck_assert_ptr_nonnull(strstr(t, "no longer given to you for length: "
	    "a.csv"));
	free(t);
	cJSON_Delete(log);

	/* A document larger than the budget is cut, in its own turn. */
	free(sqls("UPDATE agents SET doc_context_chars = 20 WHERE id = %lld",
	    (long long)blind_id));
	wamid = meta_media("16505550004", "document", "text/csv", "big.csv",
	    docs[0], strlen(docs[0]), NULL);
	wait_done(wamid);
	log = hfake_log(&fx.llm);
	t = all_text(last_user(log, 4));
	ck_assert_ptr_nonnull(strstr(t, "[big.csv: its text follows]\n"
	    "id,word\n1,aardvarkal\n[big.csv: the rest is left out, 24 more "
	    "characters]\n[end of big.csv]"));
	cJSON_Delete(log);
	free(sqls("UPDATE agents SET doc_context_chars = 20000"));
}
END_TEST

/* --- fixture and helpers -------------------------------------------------- */

static void
suite_setup(void)
{
	struct channel_input	 cin;
	const char		*wa_args[] = { "--twilio-token", TW_TOKEN,
				    "--meta-token", META_TOKEN, NULL };
	struct db		*db;
	int64_t			 seeing, plain;

	ck_assert_int_ge(sodium_init(), 0);
	hworld_start(&fx, NULL, wa_args);
	plain = hworld_model(&fx, "sk-test-0123456789", true);
	/* The same fake, as a model marked as seeing images. */
	seeing = sqli("INSERT INTO org_models (org_id, provider_id, name, "
	    "display_name, supports_vision, supports_tools) SELECT org_id, "
	    "provider_id, 'fake-vision', 'Fake vision', true, true FROM "
	    "org_models WHERE id = %lld RETURNING id", (long long)plain);
	db = db_acquire(fx.pool);
	ck_assert_ptr_nonnull(db);
	seer_id = hagent_create(db, fx.org_id, "Seer", "chat", seeing);
	blind_id = hagent_create(db, fx.org_id, "Blind", "chat", plain);
	cin = (struct channel_input){ .kind = "twilio", .name = "Twilio",
	    .status = "connected", .phone_number = TW_NUMBER,
	    .twilio_account_sid = TW_SID, .twilio_auth_token = TW_TOKEN,
	    .default_agent_id = seer_id };
	(void)hchannel_create(db, fx.key, fx.org_id, &cin);
	cin = (struct channel_input){ .kind = "meta", .name = "Meta",
	    .status = "connected", .phone_number = "+15550783881",
	    .phone_number_id = META_PNID, .meta_access_token = META_TOKEN,
	    .meta_app_secret = META_SECRET,
	    .meta_verify_token = "verify-0123456789",
	    .default_agent_id = blind_id };
	(void)hchannel_create(db, fx.key, fx.org_id, &cin);
	db_release(db);
	huser_create(&fx.pg, MEMBER_EMAIL, "My Organization", "member",
	    MEMBER_PW);
}

static void
suite_teardown(void)
{
	hworld_stop(&fx);
}

static void
test_setup(void)
{
	hworld_reset(&fx);
}

static void
test_teardown(void)
{
	hassert_none_left_behind(&fx.pg, WAIT_MS);
}

/* A real photo: a PNG of w × h (libgd); gdFree it. */
static unsigned char *
photo_png(int w, int h, int *len)
{
	gdImagePtr	 im = gdImageCreateTrueColor(w, h);
	unsigned char	*p;

	gdImageFilledRectangle(im, 0, 0, w - 1, h - 1, gdTrueColor(0, 90,
	    200));
	gdImageFilledRectangle(im, w / 4, h / 4, w / 2, h / 2,
	    gdTrueColor(250, 200, 0));
	p = gdImagePngPtr(im, len);
	gdImageDestroy(im);
	ck_assert_ptr_nonnull(p);
	return p;
}

/* A signed Twilio message from `from` with one PNG photo and body; its
 * MessageSid (static). */
static const char *
twilio_photo(const char *from, const char *body, const void *p, size_t n)
{
	static char	 sid[40];
	char		 me[40], url[512], who[64];
	const char	*params[][2] = {
		{ "MessageSid", sid }, { "AccountSid", TW_SID },
		{ "From", who }, { "To", "whatsapp:" TW_NUMBER },
		{ "Body", body }, { "NumMedia", "1" }, { "MediaUrl0", url },
		{ "MediaContentType0", "image/png" },
		{ "ProfileName", "Tess" },
	};

	seq++;
	snprintf(sid, sizeof(sid), "MM%032d", seq);
	snprintf(me, sizeof(me), "ME%032d", seq);
	snprintf(who, sizeof(who), "whatsapp:%s", from);
	hwa_media(&fx.wa, me, "image/png", p, n);
	snprintf(url, sizeof(url), "%s/2010-04-01/Accounts/" TW_SID
	    "/Messages/%s/Media/%s", fx.wa.base, sid, me);
	htwilio_post_ok(fx.srv.base, HTWILIO_INBOUND, TW_TOKEN, params, 9);
	return sid;
}

/*
 * A signed Meta delivery from `from` of one media item of type (image,
 * document…) with bytes p, its filename and caption (NULL: none); its
 * wamid (static).
 */
static const char *
meta_media(const char *from, const char *type, const char *mime,
    const char *filename, const void *p, size_t n, const char *caption)
{
	static char	 wamid[40];
	char		 media_id[32], extra[256] = "";
	char		*body;

	seq++;
	snprintf(wamid, sizeof(wamid), "wamid.vision%06d", seq);
	snprintf(media_id, sizeof(media_id), "%d", 700000 + seq);
	hwa_media(&fx.wa, media_id, mime, p, n);
	if (filename != NULL)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
		    ",\"filename\":\"%s\"", filename);
	if (caption != NULL)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
		    ",\"caption\":\"%s\"", caption);
	body = xasprintf("{\"object\":\"whatsapp_business_account\","
	    "\"entry\":[{\"id\":\"102290129340398\",\"changes\":[{"
	    "\"field\":\"messages\",\"value\":{\"messaging_product\":"
	    "\"whatsapp\",\"metadata\":{\"display_phone_number\":"
	    "\"15550783881\",\"phone_number_id\":\"" META_PNID "\"},"
	    "\"contacts\":[{\"profile\":{\"name\":\"Kim\"},\"wa_id\":"
	    "\"%s\"}],\"messages\":[{\"from\":\"%s\",\"id\":\"%s\","
	    "\"timestamp\":\"%lld\",\"type\":\"%s\",\"%s\":{\"id\":\"%s\","
	    "\"mime_type\":\"%s\"%s}}]}}]}]}", from, from, wamid,
	    (long long)time(NULL), type, type, media_id, mime, extra);
	hmeta_post_ok(fx.srv.base, body, META_SECRET);
	free(body);
	return wamid;
}

/* A signed Meta text from `from`; its wamid (static). */
static const char *
meta_text(const char *from, const char *text)
{
	static char	 wamid[40];
	char		*body;

	snprintf(wamid, sizeof(wamid), "wamid.visiontext%06d", ++seq);
	body = hmeta_text_body(&(struct hmeta_text){ .pnid = META_PNID,
	    .from = from, .name = "Kim", .wamid = wamid, .text = text });
	hmeta_post_ok(fx.srv.base, body, META_SECRET);
	free(body);
	return wamid;
}

/* Waits until the message's turn is over (answered or settled). */
static void
wait_done(const char *pmid)
{
	ck_assert_msg(hwait_reply_done(&fx.pg, pmid, WAIT_MS), "the turn of "
	    "%s did not finish", pmid);
}

/* The messages of the i-th model request in log. */
static const cJSON *
request_messages(const cJSON *log, int i)
{
	return cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(log,
	    i), "body"), "messages");
}

/* The last user message of the i-th model request. */
static const cJSON *
last_user(const cJSON *log, int i)
{
	const cJSON	*m, *last = NULL;

	cJSON_ArrayForEach(m, request_messages(log, i))
		if (strcmp(hjstr(m, "role"), "user") == 0)
			last = m;
	ck_assert_msg(last != NULL, "request %d has no user message", i);
	return last;
}

/*
 * Every text in j (a message, or an array of them: string contents and
 * text parts), joined by newlines; static, valid until the next call.
 */
static char *
all_text(const cJSON *j)
{
	static char	*out;
	const cJSON	*m, *c, *p;
	size_t		 len = 0;

	free(out);
	out = xstrdup("");
	if (cJSON_IsObject(j)) {
		c = cJSON_GetObjectItem(j, "content");
		if (cJSON_IsString(c)) {
			free(out);
			out = xstrdup(c->valuestring);
			return out;
		}
		cJSON_ArrayForEach(p, c)
			if (cJSON_IsString(cJSON_GetObjectItem(p, "text"))) {
				char	*n = xasprintf("%s%s%s", out, len > 0 ?
					    "\n" : "", hjstr(p, "text"));

				free(out);
				out = n;
				len = strlen(out);
			}
		return out;
	}
	cJSON_ArrayForEach(m, j) {
		char	*n, *mine;

		c = cJSON_GetObjectItem(m, "content");
		mine = cJSON_IsString(c) ? xstrdup(c->valuestring) :
		    cJSON_PrintUnformatted(c);
		n = xasprintf("%s%s%s", out, len > 0 ? "\n" : "", mine);
		free(mine);
		free(out);
		out = n;
		len = strlen(out);
	}
	return out;
}

/* url is "data:image/jpeg;base64,…" of a JPEG libgd reads, ≤ 1024 px. */
static void
assert_jpeg_data_url(const char *url)
{
	const char	*prefix = "data:image/jpeg;base64,";
	unsigned char	*bin;
	size_t		 b64len, len;
	gdImagePtr	 im;

	ck_assert_msg(strncmp(url, prefix, strlen(prefix)) == 0, "not a JPEG "
	    "data: URL: %.60s", url);
	b64len = strlen(url + strlen(prefix));
	bin = xmalloc(b64len);
	ck_assert_int_eq(sodium_base642bin(bin, b64len, url + strlen(prefix),
	    b64len, NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
	ck_assert(len > 3 && bin[0] == 0xFF && bin[1] == 0xD8 &&
	    bin[2] == 0xFF);
	im = gdImageCreateFromJpegPtr((int)len, bin);
	ck_assert_ptr_nonnull(im);
	ck_assert_int_le(gdImageSX(im), 1024);
	ck_assert_int_le(gdImageSY(im), 1024);
	ck_assert_int_gt(gdImageSX(im), 0);
	gdImageDestroy(im);
	free(bin);
}

static Suite *
vision_suite(void)
{
	Suite	*s = suite_create("vision");
	TCase	*tc = tcase_create("vision");

	tcase_set_timeout(tc, 240);
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_add_test(tc, t_photo_to_vision_model);
	tcase_add_test(tc, t_photo_signed_url);
	tcase_add_test(tc, t_images_capped);
	tcase_add_test(tc, t_photo_without_vision);
	tcase_add_test(tc, t_documents_as_context);
	tcase_add_test(tc, t_document_budget);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(vision_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
