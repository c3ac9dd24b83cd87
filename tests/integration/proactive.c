/*
 * tests/integration/proactive.c: templates and the 24-hour window (issue
 * 14), against the real server and reply pool, a real PostgreSQL, the
 * fake LLM and fake_whatsapp speaking each provider's template list and
 * send formats.
 *
 *   - templates are synced from each fake (Meta and Kapso under the
 *     WABA, every page; Twilio's ContentAndApprovals, every page) with
 *     status, category, language, variables and buttons, and listed by
 *     the API; a wrong WABA is a 502 with the provider's reason;
 *   - a late answer to a chat whose window closed is held, the follow-up
 *     template (with the Continue payload) goes in its place, and the
 *     Continue tap delivers the held answer once: Meta, Twilio, Kapso; a
 *     second tap sends nothing more and no tap is answered by the model;
 *   - a provider's window refusal (Twilio 63016 at once, Meta 131047 in
 *     a status callback) moves the message into the hold, not to failed;
 *   - a person's late reply from the panel is held, the page says so and
 *     offers the channel's approved templates, and sending one works;
 *   - the whatsapp.sendTemplate tool sends a template with its variables
 *     (Meta by name and parameters, Twilio by ContentSid).
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
#define META_WABA	"102290129340398"
#define KAPSO_PNID	"647015955153740"
#define KAPSO_KEY	"kapso-api-key-0123456789"
#define KAPSO_SECRET	"kapso-webhook-secret-0123456789"
#define KAPSO_WABA	"223344556677"
#define FOLLOWUP_HX	"HXb5b62575e6e4ff6129ad7c8efe1f983e"
#define ORDER_HX	"HX00000000000000000000000000000002"
#define WAIT_MS		20000
#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define FILLERS		105	/* more than one page of 100 */

static struct hworld	 fx;
static int64_t		 bot_id, tw_id, meta_id, kapso_id;
static char		*token;
static int		 seq;

static void	 register_templates(void);
static void	 sync_all(void);
static void	 close_window(int64_t);
static int64_t	 chat_of(const char *);
static const char *inbound(const char *, const char *, const char *);
static void	 tap(const char *, const char *, int64_t);
static int	 texts_of(const char *);
static bool	 wait_texts(const char *, int, int);
static int	 templates_sent(const char *, cJSON **);
static void	 late_answer_held(const char *, const char *, int64_t *,
		    int64_t *);
static cJSON	*list_templates(int64_t);
static const cJSON *named(const cJSON *, const char *);
static void	 hold_and_continue(const char *, const char *);
static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 test_setup(void);

/* --- templates ------------------------------------------------------- */

/* The channel's templates through the API (the caller deletes them). */
static cJSON *
list_templates(int64_t channel_id)
{
	char	 path[128];

	snprintf(path, sizeof(path), "/api/v1/channels/%lld/templates",
	    (long long)channel_id);
	return hapi_json(fx.srv.base, token, "GET", path, NULL, 200);
}

/* The entry named name of a list (borrowed), or NULL. */
static const cJSON *
named(const cJSON *list, const char *name)
{
	const cJSON	*t;

	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(list, "data"))
		if (strcmp(hjstr(t, "name"), name) == 0)
			return t;
	return NULL;
}

START_TEST(t_templates_synced_from_each_provider)
{
	cJSON		*j, *log;
	const cJSON	*t, *v, *e;
	char		 path[128];
	int		 n;

	/* Meta: every page, with status, category, variables, buttons. */
	j = list_templates(meta_id);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j,
	    "data")), FILLERS + 3);
	t = named(j, "order_update");
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(hjstr(t, "status"), "APPROVED");
	ck_assert_str_eq(hjstr(t, "category"), "UTILITY");
	ck_assert_str_eq(hjstr(t, "language"), "en_US");
	ck_assert_str_eq(hjstr(t, "parameterFormat"), "NAMED");
	v = cJSON_GetObjectItemCaseSensitive(t, "variables");
	ck_assert_int_eq(cJSON_GetArraySize(v), 3);
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(v, 0), "part"), "header");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(v, 1), "name"),
	    "first_name");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(v, 1), "example"), "Ada");
	/* The preview with the sample values. */
	ck_assert_str_eq(hjstr(t, "preview"), "Order A-1\n\nDear Ada, your "
	    "order is shipped.\n\nShop");
	t = named(j, "promo");
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(hjstr(t, "status"), "REJECTED");
	ck_assert_str_eq(hjstr(t, "category"), "MARKETING");
	t = named(j, "session_followup");
	ck_assert_ptr_nonnull(t);
	v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, "buttons"),
	    0);
	ck_assert_str_eq(hjstr(v, "type"), "QUICK_REPLY");
	ck_assert_str_eq(hjstr(v, "text"), "Continue");
	ck_assert_str_eq(hjstr(cJSON_GetObjectItemCaseSensitive(j, "sync"),
	    "wabaId"), META_WABA);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(j, "sync"), "lastError")));
	cJSON_Delete(j);

	/* Kapso: the same through its proxy. */
	j = list_templates(kapso_id);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j,
	    "data")), FILLERS + 3);
	ck_assert_ptr_nonnull(named(j, "session_followup"));
	cJSON_Delete(j);

	/* Twilio: ContentAndApprovals, every page. */
	j = list_templates(tw_id);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j,
	    "data")), FILLERS + 3);
	t = named(j, "session_followup");
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(hjstr(t, "providerId"), FOLLOWUP_HX);
	ck_assert_str_eq(hjstr(t, "status"), "APPROVED");
	ck_assert_str_eq(hjstr(t, "category"), "UTILITY");
	ck_assert_str_eq(hjstr(t, "contentType"), "twilio/quick-reply");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(t, "buttons"), 0), "id"),
	    "parley_continue");
	ck_assert_str_eq(hjstr(named(j, "draft"), "status"), "PENDING");
	cJSON_Delete(j);

	/* A sync on demand pages with our cursor, at our API root. */
	snprintf(path, sizeof(path), "/api/v1/channels/%lld/templates/sync",
	    (long long)meta_id);
	cJSON_Delete(hapi_json(fx.srv.base, token, "POST", path, NULL, 200));
	log = hfake_log(&fx.wa);
	n = 0;
	cJSON_ArrayForEach(e, log) {
		if (strcmp(hjstr(e, "op"), "templates") != 0)
			continue;
		ck_assert_str_eq(hjstr(e, "path"), "/v24.0/" META_WABA
		    "/message_templates");
		ck_assert_str_eq(hjstr(e, "auth"), "Bearer " META_TOKEN);
		ck_assert_ptr_nonnull(strstr(hjstr(e, "query"), n == 0 ?
		    "limit=100" : "after=QVFIU100"));
		n++;
	}
	cJSON_Delete(log);
	ck_assert_int_eq(n, 2);

	/* A wrong WABA: the provider's refusal, the old set kept. */
	snprintf(path, sizeof(path), "/api/v1/channels/%lld/templates",
	    (long long)meta_id);
	cJSON_Delete(hapi_json(fx.srv.base, token, "PATCH", path,
	    "{\"wabaId\":\"999\"}", 200));
	snprintf(path, sizeof(path), "/api/v1/channels/%lld/templates/sync",
	    (long long)meta_id);
	j = hapi_json(fx.srv.base, token, "POST", path, NULL, 502);
	ck_assert_str_eq(hjstr(cJSON_GetObjectItemCaseSensitive(j, "error"),
	    "code"), "provider_refused");
	cJSON_Delete(j);
	ck_assert_int_eq(sqli("SELECT count(*) FROM channel_templates WHERE "
	    "channel_id = %lld", (long long)meta_id), FILLERS + 3);
	j = list_templates(meta_id);
	ck_assert_str_ne(hjstr(cJSON_GetObjectItemCaseSensitive(j, "sync"),
	    "lastError"), "");
	cJSON_Delete(j);
	snprintf(path, sizeof(path), "/api/v1/channels/%lld/templates",
	    (long long)meta_id);
	cJSON_Delete(hapi_json(fx.srv.base, token, "PATCH", path,
	    "{\"wabaId\":\"12ab\"}", 422));
	cJSON_Delete(hapi_json(fx.srv.base, token, "PATCH", path,
	    "{\"wabaId\":\"" META_WABA "\"}", 200));
	cJSON_Delete(hapi_json(fx.srv.base, token, "GET",
	    "/api/v1/channels/999999/templates", NULL, 404));
	sync_all();
}
END_TEST

/* --- the window -------------------------------------------------------- */

/*
 * A late answer in provider p's chat with `from`: the model takes 1.5 s,
 * meanwhile the window closes (the last inbound moved back 25 hours), so
 * the answer "Late answer <p>" is held and the follow-up template goes
 * out in its place. *chat and *hold: the chat and its hold.
 */
static void
late_answer_held(const char *p, const char *from, int64_t *chat,
    int64_t *hold)
{
	char	 text[64], q[64], spec[160];

	snprintf(text, sizeof(text), "Late answer %s", p);
	snprintf(q, sizeof(q), "question %s", p);
	snprintf(spec, sizeof(spec), "{\"content\":\"%s\",\"delay_ms\":1500}",
	    text);
	hfake_queue(&fx.llm, spec);
	(void)inbound(p, from, q);
	*chat = chat_of(from);
	close_window(*chat);
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE chat_id = %lld AND body = '%s' AND status = 'held'",
	    (long long)*chat, text), "%s: the late answer was not held", p);
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM window_holds "
	    "WHERE chat_id = %lld AND released_at IS NULL AND "
	    "template_message_id IS NOT NULL", (long long)*chat),
	    "%s: no hold with a template", p);
	*hold = sqli("SELECT id FROM window_holds WHERE chat_id = %lld AND "
	    "released_at IS NULL", (long long)*chat);
	ck_assert_int_eq(texts_of(text), 0);
}

/* The template sends of provider p (the caller deletes *out). */
static int
templates_sent(const char *p, cJSON **out)
{
	cJSON		*sends = NULL, *mine = cJSON_CreateArray();
	const cJSON	*e, *j;
	int		 n;

	hwa_sends(&fx.wa, false, &sends);
	cJSON_ArrayForEach(e, sends) {
		if (strcmp(hjstr(e, "provider"), p) != 0)
			continue;
		j = cJSON_GetObjectItemCaseSensitive(e, "json");
		if ((j != NULL && strcmp(hjstr(j, "type"), "template") == 0) ||
		    hjstr(cJSON_GetObjectItemCaseSensitive(e, "form"),
		    "ContentSid")[0] != '\0')
			cJSON_AddItemToArray(mine, cJSON_Duplicate(e, true));
	}
	cJSON_Delete(sends);
	n = cJSON_GetArraySize(mine);
	if (out != NULL)
		*out = mine;
	else
		cJSON_Delete(mine);
	return n;
}

/* Held → template → Continue → delivered once, for provider p. */
static void
hold_and_continue(const char *p, const char *from)
{
	cJSON		*sends;
	const cJSON	*send, *tpl, *comp;
	char		 text[64], payload[64];
	int64_t		 chat, hold, tap_id;
	bool		 has_payload = false;

	snprintf(text, sizeof(text), "Late answer %s", p);
	late_answer_held(p, from, &chat, &hold);
	snprintf(payload, sizeof(payload), "parley_continue:%lld",
	    (long long)hold);

	/* The follow-up template, once, with the Continue payload. */
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages m "
	    "JOIN window_holds h ON h.template_message_id = m.id WHERE "
	    "h.id = %lld AND m.status = 'sent'", (long long)hold),
	    "%s: the follow-up template was not sent", p);
	ck_assert_int_eq(templates_sent(p, &sends), 1);
	send = cJSON_GetArrayItem(sends, 0);
	if (strcmp(p, "twilio") == 0) {
		const cJSON	*f = cJSON_GetObjectItemCaseSensitive(send,
				    "form");

		ck_assert_str_eq(hjstr(f, "ContentSid"), FOLLOWUP_HX);
		ck_assert_str_eq(hjstr(f, "ContentVariables"),
		    "{\"1\":\"Bot\"}");
		ck_assert_str_eq(hjstr(f, "Body"), "");
	} else {
		tpl = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(send, "json"), "template");
		ck_assert_str_eq(hjstr(tpl, "name"), "session_followup");
		ck_assert_str_eq(hjstr(cJSON_GetObjectItemCaseSensitive(tpl,
		    "language"), "code"), "en_US");
		cJSON_ArrayForEach(comp, cJSON_GetObjectItemCaseSensitive(tpl,
		    "components")) {
			if (strcmp(hjstr(comp, "type"), "button") != 0)
				continue;
			ck_assert_str_eq(hjstr(comp, "sub_type"),
			    "quick_reply");
			ck_assert_str_eq(hjstr(comp, "index"), "0");
			ck_assert_str_eq(hjstr(cJSON_GetArrayItem(
			    cJSON_GetObjectItemCaseSensitive(comp,
			    "parameters"), 0), "payload"), payload);
			has_payload = true;
		}
		ck_assert_msg(has_payload, "%s: no Continue payload", p);
	}
	cJSON_Delete(sends);

	/* Continue: the held answer goes, once; the tap is not answered. */
	tap(p, from, hold);
	ck_assert_msg(wait_texts(text, 1, WAIT_MS), "%s: the held answer was "
	    "not delivered", p);
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE chat_id = %lld AND body = '%s' AND status = 'sent'",
	    (long long)chat, text), "%s: not marked sent", p);
	ck_assert_int_eq(sqli("SELECT count(*) FROM window_holds WHERE id = "
	    "%lld AND released_by = 'continue'", (long long)hold), 1);
	tap_id = sqli("SELECT max(id) FROM messages WHERE chat_id = %lld AND "
	    "direction = 'in'", (long long)chat);
	ck_assert_int_eq(sqli("SELECT count(*) FROM jobs WHERE kind = 'reply' "
	    "AND (payload->>'message_id')::bigint = %lld", (long long)tap_id),
	    0);

	/* Another tap: nothing more goes out. */
	tap(p, from, hold);
	usleep(1500 * 1000);
	ck_assert_int_eq(texts_of(text), 1);
	ck_assert_int_eq(templates_sent(p, NULL), 1);
}

START_TEST(t_hold_continue_meta)
{
	hold_and_continue("meta", "15557650001");
}
END_TEST

START_TEST(t_hold_continue_twilio)
{
	hold_and_continue("twilio", "+15557650002");
}
END_TEST

START_TEST(t_hold_continue_kapso)
{
	hold_and_continue("kapso", "+15557650003");
}
END_TEST

/*
 * Twilio refuses a reply with 63016 at once; Meta accepts one and then
 * reports 131047 in a failed status: both go to the hold (not failed),
 * with the follow-up template, and are delivered once the contact writes.
 */
START_TEST(t_window_refusal_held)
{
	char	 body[2048];
	char	*wamid;
	int64_t	 chat, n;

	/* Twilio, at once. */
	hfake_queue(&fx.wa, "{\"provider\":\"twilio\",\"op\":\"send\","
	    "\"status\":400,\"code\":63016,\"message\":\"Failed to send "
	    "freeform message because you are outside the allowed window.\"}");
	(void)inbound("twilio", "+15557650010", "refuse me");
	chat = chat_of("+15557650010");
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE chat_id = %lld AND body = 'Echo: refuse me' AND status = "
	    "'held' AND error_code = '63016'", (long long)chat),
	    "the 63016 refusal was not held");
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE chat_id = "
	    "%lld AND status = 'failed'", (long long)chat), 0);
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages m JOIN "
	    "window_holds h ON h.template_message_id = m.id WHERE h.chat_id = "
	    "%lld AND m.status = 'sent'", (long long)chat));
	/* The provider's word keeps it held though our clock says open. */
	usleep(1000 * 1000);
	ck_assert_int_eq(texts_of("Echo: refuse me"), 0);
	(void)inbound("twilio", "+15557650010", "here I am");
	ck_assert(wait_texts("Echo: refuse me", 1, WAIT_MS));
	ck_assert(wait_texts("Echo: here I am", 1, WAIT_MS));

	/* Meta, later, in a status callback. */
	(void)inbound("meta", "15557650011", "status me");
	ck_assert(wait_texts("Echo: status me", 1, WAIT_MS));
	chat = chat_of("+15557650011");
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages WHERE "
	    "chat_id = %lld AND body = 'Echo: status me' AND status = 'sent'",
	    (long long)chat));
	wamid = sqls("SELECT provider_message_id FROM messages WHERE chat_id = "
	    "%lld AND body = 'Echo: status me'", (long long)chat);
	snprintf(body, sizeof(body),
	    "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\""
	    META_WABA "\",\"changes\":[{\"field\":\"messages\",\"value\":{"
	    "\"messaging_product\":\"whatsapp\",\"metadata\":{"
	    "\"display_phone_number\":\"15550783881\",\"phone_number_id\":\""
	    META_PNID "\"},\"statuses\":[{\"id\":\"%s\",\"status\":\"failed\","
	    "\"timestamp\":\"%lld\",\"recipient_id\":\"15557650011\","
	    "\"errors\":[{\"code\":131047,\"title\":\"Re-engagement message\","
	    "\"message\":\"More than 24 hours have passed since the recipient "
	    "last replied\"}]}]}}]}]}", wamid, (long long)time(NULL));
	free(wamid);
	hmeta_post_ok(fx.srv.base, body, META_SECRET);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE chat_id = "
	    "%lld AND body = 'Echo: status me' AND status = 'held' AND "
	    "error_code = '131047'", (long long)chat), 1);
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages m "
	    "JOIN window_holds h ON h.template_message_id = m.id WHERE "
	    "h.chat_id = %lld AND m.status = 'sent'", (long long)chat),
	    "the template of the 131047 hold was not sent by its job");
	n = texts_of("Echo: status me");
	(void)inbound("meta", "15557650011", "back");
	ck_assert(wait_texts("Echo: status me", (int)n + 1, WAIT_MS));
}
END_TEST

/*
 * A person replies from the panel to a chat whose window closed: held,
 * the page says so and offers the approved templates (not the rejected
 * or pending ones); sending order_update from there reaches WhatsApp.
 */
START_TEST(t_panel_late_reply_held)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[128], fields[1024];
	char		*tid;
	int64_t		 chat;
	cJSON		*sends;
	const cJSON	*tpl, *comp;

	(void)inbound("meta", "15557650020", "hello there");
	ck_assert(wait_texts("Echo: hello there", 1, WAIT_MS));
	chat = chat_of("+15557650020");
	close_window(chat);
	hlogin(&c, fx.srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/conversations/%lld", (long long)chat);
	hpost_form(&c, path, "/conversations/0/claim", NULL, &r);
	hresp_free(&r);
	snprintf(fields, sizeof(fields), "/conversations/%lld/reply",
	    (long long)chat);
	{
		char	 f[256] = "";

		form_add(f, sizeof(f), "body", "A person writes late");
		hpost_form(&c, path, fields, f, &r);
	}
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE chat_id = "
	    "%lld AND body = 'A person writes late' AND status = 'held'",
	    (long long)chat), 1);
	ck_assert_int_eq(texts_of("A person writes late"), 0);
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages m JOIN "
	    "window_holds h ON h.template_message_id = m.id WHERE h.chat_id = "
	    "%lld AND m.status = 'sent'", (long long)chat));

	hget(&c, path, 200, &r);
	hresp_has(&r, "Waiting for Continue", "the hold");
	hresp_has(&r, "A person writes late", "what is held");
	hresp_has(&r, "Send a template", "the composer");
	hresp_has(&r, "order_update", "an approved template");
	hresp_lacks(&r, "<code>promo</code>", "a rejected template");
	hresp_lacks(&r, "<code>draft</code>", "a pending template");
	hresp_free(&r);

	/* Sending order_update from the composer. */
	tid = sqls("SELECT id FROM channel_templates WHERE channel_id = %lld "
	    "AND name = 'order_update'", (long long)meta_id);
	fields[0] = '\0';
	form_add(fields, sizeof(fields), "template_id", tid);
	form_add(fields, sizeof(fields), "var_header.order", "B-7");
	form_add(fields, sizeof(fields), "var_first_name", "Grace");
	form_add(fields, sizeof(fields), "var_status", "on its way");
	free(tid);
	snprintf(path, sizeof(path), "/conversations/%lld/template",
	    (long long)chat);
	hpost_form(&c, "/conversations", path, fields, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE chat_id = "
	    "%lld AND template IS NOT NULL AND status = 'sent' AND body = "
	    "'Order B-7\n\nDear Grace, your order is on its way.\n\nShop'",
	    (long long)chat), 1);
	ck_assert(templates_sent("meta", &sends) >= 2);
	tpl = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(sends, cJSON_GetArraySize(sends) - 1), "json"),
	    "template");
	ck_assert_str_eq(hjstr(tpl, "name"), "order_update");
	comp = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(tpl,
	    "components"), 0);
	ck_assert_str_eq(hjstr(comp, "type"), "header");
	comp = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(tpl,
	    "components"), 1);
	ck_assert_str_eq(hjstr(comp, "type"), "body");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(comp, "parameters"), 0),
	    "parameter_name"), "first_name");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(comp, "parameters"), 0), "text"),
	    "Grace");
	cJSON_Delete(sends);

	/* The API sees the same hold. */
	snprintf(path, sizeof(path), "/api/v1/conversations/%lld/hold",
	    (long long)chat);
	sends = hapi_json(fx.srv.base, token, "GET", path, NULL, 200);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sends,
	    "held")));
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(sends, "messages"), 0), "body"),
	    "A person writes late");
	cJSON_Delete(sends);
}
END_TEST

/* The agent's whatsapp.sendTemplate tool, on Meta and on Twilio. */
/*
 * A Resend to a chat whose window closed is held like any text (the
 * follow-up template goes once), and goes out once when the contact
 * taps Continue.
 */
START_TEST(t_resend_held)
{
	struct client	 c;
	struct hresp	 r;
	char		 page[128], action[160];
	int64_t		 chat, failed, copy, hold;

	(void)inbound("meta", "15557650030", "resend me");
	ck_assert(wait_texts("Echo: resend me", 1, WAIT_MS));
	chat = chat_of("+15557650030");
	failed = sqli("INSERT INTO messages (org_id, channel_id, chat_id, "
	    "direction, body, status, error_code, error_text) SELECT org_id, "
	    "channel_id, id, 'out', 'Resent late', 'failed', '131026', "
	    "'Message undeliverable' FROM chats WHERE id = %lld RETURNING id",
	    (long long)chat);
	close_window(chat);
	hlogin(&c, fx.srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(page, sizeof(page), "/conversations/%lld", (long long)chat);
	snprintf(action, sizeof(action), "/conversations/%lld/messages/%lld/"
	    "resend", (long long)chat, (long long)failed);
	hpost_form(&c, page, action, NULL, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	copy = sqli("SELECT COALESCE(resent_as_id, 0) FROM messages WHERE "
	    "id = %lld", (long long)failed);
	ck_assert_int_gt(copy, 0);
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE id = %lld AND status = 'held' AND hold_id IS NOT NULL",
	    (long long)copy), "the Resend was not held");
	hold = sqli("SELECT hold_id FROM messages WHERE id = %lld",
	    (long long)copy);
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages m JOIN "
	    "window_holds h ON h.template_message_id = m.id WHERE h.id = %lld "
	    "AND m.status = 'sent'", (long long)hold));
	ck_assert_int_eq(texts_of("Resent late"), 0);

	tap("meta", "15557650030", hold);
	ck_assert_msg(wait_texts("Resent late", 1, WAIT_MS), "the held Resend "
	    "was not delivered");
	usleep(1000 * 1000);
	ck_assert_int_eq(texts_of("Resent late"), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = %lld "
	    "AND status = 'sent'", (long long)copy), 1);
}
END_TEST

START_TEST(t_tool_sends_template)
{
	cJSON		*sends;
	const cJSON	*f, *tpl;

	hfake_queue(&fx.llm, "[{\"tool_calls\":[{\"name\":"
	    "\"whatsapp_sendTemplate\",\"arguments\":{\"template\":"
	    "\"order_update\",\"variables\":{\"order\":\"C-3\",\"first_name\":"
	    "\"Ada\",\"status\":\"packed\"}}}]},{\"content\":\"Template sent."
	    "\"}]");
	(void)inbound("meta", "15557650030", "send me the update");
	ck_assert(wait_texts("Template sent.", 1, WAIT_MS));
	ck_assert_int_eq(templates_sent("meta", &sends), 1);
	tpl = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(sends, 0), "json"), "template");
	ck_assert_str_eq(hjstr(tpl, "name"), "order_update");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(tpl, "components"), 1),
	    "parameters"), 1), "text"), "packed");
	cJSON_Delete(sends);

	/* A missing variable is the tool's error, nothing sent. */
	hfake_queue(&fx.llm, "[{\"tool_calls\":[{\"name\":"
	    "\"whatsapp_sendTemplate\",\"arguments\":{\"template\":"
	    "\"order_update\",\"variables\":{\"first_name\":\"Ada\"}}}]},"
	    "{\"content\":\"Could not.\"}]");
	(void)inbound("meta", "15557650030", "again");
	ck_assert(wait_texts("Could not.", 1, WAIT_MS));
	ck_assert_int_eq(templates_sent("meta", NULL), 1);
	ck_assert_int_ge(sqli("SELECT count(*) FROM llm_calls WHERE "
	    "tool_calls::text LIKE '%%Give a value for the variable%%'"), 1);

	hfake_queue(&fx.llm, "[{\"tool_calls\":[{\"name\":"
	    "\"whatsapp_sendTemplate\",\"arguments\":{\"template\":"
	    "\"order_update\",\"variables\":{\"1\":\"Tess\"}}}]},"
	    "{\"content\":\"Twilio template sent.\"}]");
	(void)inbound("twilio", "+15557650031", "twilio update");
	ck_assert(wait_texts("Twilio template sent.", 1, WAIT_MS));
	ck_assert_int_eq(templates_sent("twilio", &sends), 1);
	f = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(sends, 0),
	    "form");
	ck_assert_str_eq(hjstr(f, "ContentSid"), ORDER_HX);
	ck_assert_str_eq(hjstr(f, "ContentVariables"), "{\"1\":\"Tess\"}");
	ck_assert_str_eq(hjstr(f, "To"), "whatsapp:+15557650031");
	cJSON_Delete(sends);
}
END_TEST

/* --- set-up ------------------------------------------------------------ */

/* Templates in the fake: three of note plus fillers, per provider. */
static void
register_templates(void)
{
	struct buf	 meta, tw;

	buf_init(&meta, 0);
	buf_puts(&meta, "[{\"name\":\"session_followup\",\"language\":"
	    "\"en_US\",\"status\":\"APPROVED\",\"category\":\"UTILITY\","
	    "\"id\":\"9001\",\"parameter_format\":\"POSITIONAL\","
	    "\"components\":[{\"type\":\"BODY\",\"text\":\"{{1}} has "
	    "something for you. Tap Continue to see it.\",\"example\":{"
	    "\"body_text\":[[\"Bot\"]]}},{\"type\":\"BUTTONS\",\"buttons\":[{"
	    "\"type\":\"QUICK_REPLY\",\"text\":\"Continue\"}]}]},"
	    "{\"name\":\"order_update\",\"language\":\"en_US\",\"status\":"
	    "\"APPROVED\",\"category\":\"UTILITY\",\"id\":\"9002\","
	    "\"parameter_format\":\"NAMED\",\"components\":[{\"type\":"
	    "\"HEADER\",\"format\":\"TEXT\",\"text\":\"Order {{order}}\","
	    "\"example\":{\"header_text_named_params\":[{\"param_name\":"
	    "\"order\",\"example\":\"A-1\"}]}},{\"type\":\"BODY\",\"text\":"
	    "\"Dear {{first_name}}, your order is {{status}}.\",\"example\":{"
	    "\"body_text_named_params\":[{\"param_name\":\"first_name\","
	    "\"example\":\"Ada\"},{\"param_name\":\"status\",\"example\":"
	    "\"shipped\"}]}},{\"type\":\"FOOTER\",\"text\":\"Shop\"}]},"
	    "{\"name\":\"promo\",\"language\":\"en_US\",\"status\":"
	    "\"REJECTED\",\"category\":\"MARKETING\",\"id\":\"9003\","
	    "\"components\":[{\"type\":\"BODY\",\"text\":\"Sale!\"}]}");
	buf_init(&tw, 0);
	buf_puts(&tw, "[{\"sid\":\"" FOLLOWUP_HX "\",\"account_sid\":\""
	    TW_SID "\",\"friendly_name\":\"session_followup\",\"language\":"
	    "\"en\",\"variables\":{\"1\":\"Bot\"},\"types\":{"
	    "\"twilio/quick-reply\":{\"body\":\"{{1}} has something for you."
	    "\",\"actions\":[{\"title\":\"Continue\",\"id\":"
	    "\"parley_continue\"}]}},\"approval_requests\":{\"name\":"
	    "\"session_followup\",\"category\":\"UTILITY\",\"status\":"
	    "\"approved\",\"rejection_reason\":\"\",\"content_type\":"
	    "\"twilio/quick-reply\"}},"
	    "{\"sid\":\"" ORDER_HX "\",\"account_sid\":\"" TW_SID "\","
	    "\"friendly_name\":\"order_update\",\"language\":\"en\","
	    "\"variables\":{\"1\":\"Ada\"},\"types\":{\"twilio/text\":{"
	    "\"body\":\"Hello {{1}}, your order is on its way.\"}},"
	    "\"approval_requests\":{\"name\":\"order_update\",\"category\":"
	    "\"UTILITY\",\"status\":\"approved\"}},"
	    "{\"sid\":\"HX00000000000000000000000000000003\",\"account_sid\":"
	    "\"" TW_SID "\",\"friendly_name\":\"draft\",\"language\":\"en\","
	    "\"variables\":{},\"types\":{\"twilio/text\":{\"body\":\"Soon\"}},"
	    "\"approval_requests\":{\"name\":\"draft\",\"category\":"
	    "\"MARKETING\",\"status\":\"pending\"}}");
	for (int i = 0; i < FILLERS; i++) {
		buf_printf(&meta, ",{\"name\":\"filler_%03d\",\"language\":"
		    "\"en\",\"status\":\"APPROVED\",\"category\":\"UTILITY\","
		    "\"id\":\"%d\",\"components\":[{\"type\":\"BODY\","
		    "\"text\":\"Filler %d\"}]}", i, 10000 + i, i);
		buf_printf(&tw, ",{\"sid\":\"HX1%031d\",\"friendly_name\":"
		    "\"filler_%03d\",\"language\":\"en\",\"variables\":{},"
		    "\"types\":{\"twilio/text\":{\"body\":\"Filler\"}},"
		    "\"approval_requests\":{\"status\":\"approved\"}}", i, i);
	}
	buf_putc(&meta, ']');
	buf_putc(&tw, ']');
	{
		char	*b;

		b = xasprintf("{\"provider\":\"meta\",\"waba\":\"%s\","
		    "\"templates\":%s}", META_WABA, buf_str(&meta));
		hfake_post(&fx.wa, "/_fake/templates", b);
		free(b);
		b = xasprintf("{\"provider\":\"kapso\",\"waba\":\"%s\","
		    "\"templates\":%s}", KAPSO_WABA, buf_str(&meta));
		hfake_post(&fx.wa, "/_fake/templates", b);
		free(b);
		b = xasprintf("{\"provider\":\"twilio\",\"templates\":%s}",
		    buf_str(&tw));
		hfake_post(&fx.wa, "/_fake/templates", b);
		free(b);
	}
	buf_cleanup(&meta);
	buf_cleanup(&tw);
}

/* Every channel's templates synced through the API. */
static void
sync_all(void)
{
	const int64_t	 ids[] = { meta_id, kapso_id, tw_id };
	char		 path[128];

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		snprintf(path, sizeof(path), "/api/v1/channels/%lld/templates/"
		    "sync", (long long)ids[i]);
		cJSON_Delete(hapi_json(fx.srv.base, token, "POST", path, NULL,
		    200));
	}
}

static void
suite_setup(void)
{
	struct channel_input	 cin;
	const char		*wa_args[] = { "--twilio-token", TW_TOKEN,
				    "--meta-token", META_TOKEN,
				    "--kapso-key", KAPSO_KEY, NULL };
	struct db		*db;
	int64_t			 model_id;
	char			 path[128];

	hworld_start(&fx, NULL, wa_args);
	model_id = hworld_model(&fx, "sk-test-0123456789", true);
	db = db_acquire(fx.pool);
	ck_assert_ptr_nonnull(db);
	bot_id = hagent_create(db, fx.org_id, "Bot", "chat", model_id);
	ck_assert_int_eq(agent_set_plugins(db, fx.org_id, bot_id,
	    (const char *const[]){ "whatsapp.sendTemplate" }, 1,
	    plugin_id_usable), DB_OK);
	cin = (struct channel_input){ .kind = "twilio", .name = "Twilio",
	    .status = "connected", .phone_number = TW_NUMBER,
	    .twilio_account_sid = TW_SID, .twilio_auth_token = TW_TOKEN,
	    .default_agent_id = bot_id };
	tw_id = hchannel_create(db, fx.key, fx.org_id, &cin);
	cin = (struct channel_input){ .kind = "meta", .name = "Meta",
	    .status = "connected", .phone_number = "+15550783881",
	    .phone_number_id = META_PNID, .meta_access_token = META_TOKEN,
	    .meta_app_secret = META_SECRET, .meta_verify_token = "verify-me",
	    .default_agent_id = bot_id };
	meta_id = hchannel_create(db, fx.key, fx.org_id, &cin);
	cin = (struct channel_input){ .kind = "kapso", .name = "Kapso",
	    .status = "connected", .phone_number = "+15551234000",
	    .phone_number_id = KAPSO_PNID, .kapso_api_key = KAPSO_KEY,
	    .kapso_webhook_secret = KAPSO_SECRET, .default_agent_id = bot_id };
	kapso_id = hchannel_create(db, fx.key, fx.org_id, &cin);
	db_release(db);
	token = htoken_create(&fx.pg, OWNER_EMAIL, "proactive", NULL);
	register_templates();
	snprintf(path, sizeof(path), "/api/v1/channels/%lld/templates",
	    (long long)meta_id);
	cJSON_Delete(hapi_json(fx.srv.base, token, "PATCH", path,
	    "{\"wabaId\":\"" META_WABA "\"}", 200));
	snprintf(path, sizeof(path), "/api/v1/channels/%lld/templates",
	    (long long)kapso_id);
	cJSON_Delete(hapi_json(fx.srv.base, token, "PATCH", path,
	    "{\"wabaId\":\"" KAPSO_WABA "\"}", 200));
	sync_all();
}

static void
suite_teardown(void)
{
	if (fx.srv.pid > 0)
		hserver_stop_clean(&fx.srv);
	hworld_stop(&fx);
	free(token);
}

static void
test_setup(void)
{
	hworld_reset(&fx);
	register_templates();
}

/* --- helpers ------------------------------------------------------------ */

static void
close_window(int64_t chat)
{
	free(sqls("UPDATE chats SET last_inbound_at = now() - interval "
	    "'25 hours' WHERE id = %lld RETURNING id", (long long)chat));
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

/* A tap on the follow-up template's Continue, as provider p sends it. */
static void
tap(const char *p, const char *from, int64_t hold)
{
	char	 b[4096], id[64], payload[64];

	snprintf(payload, sizeof(payload), "parley_continue:%lld",
	    (long long)hold);
	if (strcmp(p, "twilio") == 0) {
		char		*f = xasprintf("whatsapp:%s", from);
		const char	*params[][2] = {
			{ "MessageSid", NULL }, { "AccountSid", TW_SID },
			{ "From", f }, { "To", "whatsapp:" TW_NUMBER },
			{ "Body", "Continue" }, { "NumMedia", "0" },
			{ "MessageType", "button" },
			{ "ButtonText", "Continue" },
			{ "ButtonPayload", "parley_continue" },
			{ "ProfileName", "Tess" },
		};

		snprintf(id, sizeof(id), "SM%032d", ++seq);
		params[0][1] = id;
		htwilio_post_ok(fx.srv.base, HTWILIO_INBOUND, TW_TOKEN, params,
		    (int)(sizeof(params) / sizeof(params[0])));
		free(f);
	} else if (strcmp(p, "meta") == 0) {
		snprintf(id, sizeof(id), "wamid.tap%d", ++seq);
		snprintf(b, sizeof(b),
		    "{\"object\":\"whatsapp_business_account\",\"entry\":[{"
		    "\"id\":\"" META_WABA "\",\"changes\":[{\"field\":"
		    "\"messages\",\"value\":{\"messaging_product\":\"whatsapp\","
		    "\"metadata\":{\"display_phone_number\":\"15550783881\","
		    "\"phone_number_id\":\"" META_PNID "\"},\"contacts\":[{"
		    "\"profile\":{\"name\":\"Tess\"},\"wa_id\":\"%s\"}],"
		    "\"messages\":[{\"context\":{\"from\":\"15550783881\","
		    "\"id\":\"wamid.template\"},\"from\":\"%s\",\"id\":\"%s\","
		    "\"timestamp\":\"%lld\",\"type\":\"button\",\"button\":{"
		    "\"payload\":\"%s\",\"text\":\"Continue\"}}]}}]}]}", from,
		    from, id, (long long)time(NULL), payload);
		hmeta_post_ok(fx.srv.base, b, META_SECRET);
	} else {
		snprintf(id, sizeof(id), "wamid.ktap%d", ++seq);
		snprintf(b, sizeof(b),
		    "{\"message\":{\"id\":\"%s\",\"timestamp\":\"%lld\","
		    "\"type\":\"button\",\"button\":{\"payload\":\"%s\","
		    "\"text\":\"Continue\"},\"kapso\":{\"direction\":"
		    "\"inbound\",\"status\":\"received\"}},\"conversation\":{"
		    "\"id\":\"conv_1\",\"phone_number\":\"%s\","
		    "\"phone_number_id\":\"" KAPSO_PNID "\"},"
		    "\"phone_number_id\":\"" KAPSO_PNID "\"}", id,
		    (long long)time(NULL), payload, from);
		hkapso_post_ok(fx.srv.base, HKAPSO_INBOUND,
		    "whatsapp.message.received", b, KAPSO_SECRET);
	}
}

/* How many text sends of exactly `body` the fake accepted. */
static int
texts_of(const char *body)
{
	cJSON		*sends = NULL;
	const cJSON	*e, *a;
	int		 n = 0;

	hwa_sends(&fx.wa, true, &sends);
	cJSON_ArrayForEach(e, sends) {
		a = cJSON_GetObjectItemCaseSensitive(e, "answered");
		if (strcmp(hwa_text(e), body) == 0 && cJSON_IsNumber(a) &&
		    a->valueint >= 200 && a->valueint < 300)
			n++;
	}
	cJSON_Delete(sends);
	return n;
}

static bool
wait_texts(const char *body, int want, int timeout_ms)
{
	int64_t	 until = time_mono_ms() + timeout_ms;

	while (time_mono_ms() < until) {
		if (texts_of(body) >= want)
			return true;
		usleep(50 * 1000);
	}
	return texts_of(body) >= want;
}

static Suite *
proactive_suite(void)
{
	Suite	*s = suite_create("proactive");
	TCase	*tc = tcase_create("proactive");

	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_templates_synced_from_each_provider);
	tcase_add_test(tc, t_hold_continue_meta);
	tcase_add_test(tc, t_hold_continue_twilio);
	tcase_add_test(tc, t_hold_continue_kapso);
	tcase_add_test(tc, t_window_refusal_held);
	tcase_add_test(tc, t_panel_late_reply_held);
	tcase_add_test(tc, t_resend_held);
	tcase_add_test(tc, t_tool_sends_template);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(proactive_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
