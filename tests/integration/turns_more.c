/*
 * Integration: conversation turns (issue 12), the scenarios
 * tests/integration/turns.c leaves to others, end to end as a user would
 * try them: signed Kapso, Meta and Twilio webhooks into the real server,
 * the fake model (slow, failing) and the fake WhatsApp APIs.
 *
 *   - Kapso: a burst of three messages 300 ms apart with a slow model is
 *     ONE answer covering all three (messages.answered_by); a reaction
 *     and its removal are stored on their target, never answered and
 *     never read by the model, not even as history of a later question;
 *   - Kapso: a message the business sent from elsewhere (direction
 *     outbound, not from Parley nor the WhatsApp Business app) is kept as
 *     an echo, shown as "Business (sent from WhatsApp)", never answered,
 *     and leaves the chat with the AI (the Business app's own echoes,
 *     which hand the chat to a person, are tests/integration/
 *     wa_platform.c t_meta_echo_silences_bot and t_kapso_business_app);
 *   - a model answering 500 for a while with the agent's notice time
 *     passed (outageNoticeSeconds 1, set through the API): the user hears
 *     "taking longer than usual" exactly once, then the answer; no
 *     handoff;
 *   - Meta: two unsupported items in one burst get the agent's "cannot
 *     read" text once, covering both (and a question between them is
 *     still answered by the model);
 *   - the session timeout set through the API (sessionTimeoutMinutes):
 *     stored, shown by GET, and a chat idle longer than it starts a new
 *     thread whose first model request carries none of the old history.
 *
 * After every test the fixture runs the "no message left behind" check
 * (harness.h hassert_none_left_behind).
 */
#include "harness/harness.h"
#include "harness/model.h"
#include "harness/panel.h"
#include "harness/webhook.h"
#include "harness/world.h"

#define sqli(...)		hpg_sqlf_int(&fx.pg, __VA_ARGS__)
#define sqls(...)		hpg_sqlf(&fx.pg, __VA_ARGS__)
#define wa_texts(out)		hwa_sends(&fx.wa, true, out)
#define wait_wa_texts(n, ms)	hwa_wait_sends(&fx.wa, true, n, ms)
#define twilio_in(from, text)	htwilio_in(fx.srv.base, TW_SID, \
				    TW_TOKEN, TW_NUMBER, from, text)
#define meta_in(from, text)	hmeta_in(fx.srv.base, META_SECRET, \
				    META_PNID, from, text)
#define meta_item(from, wamid, fields) hmeta_item_ok(fx.srv.base, \
				    META_SECRET, META_PNID, from, wamid, \
				    fields)

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "chat/texts.h"
#include "db/db.h"
#include "model/channel.h"
#include "util/xmalloc.h"

#define TW_NUMBER	"+15550002222"
#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"0123456789abcdef0123456789abcdef"
#define META_PNID	"106540352242933"
#define META_TOKEN	"meta-access-token-0123456789"
#define META_SECRET	"meta-app-secret-0123456789"
#define KAPSO_PNID	"647015955153741"
#define KAPSO_KEY	"kapso-api-key-0123456789"
#define KAPSO_SECRET	"kapso-webhook-secret-0123456789"
#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define THUMBS_UP	"\xf0\x9f\x91\x8d"
#define WAIT_MS		20000
#define QUIET_MS	1500

static struct hworld	 fx;
static int64_t		 bot_id;
static char		*token;
static int		 seq;

static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 test_setup(void);
static void	 test_teardown(void);
static cJSON	*kapso_payload(const char *, const char *, const char *,
		    cJSON **);
static const char *kapso_in(const char *, const char *);
static void	 kapso_post_event(cJSON *);
static void	 kapso_echo(const char *, const char *, const char *);
static void	 patch_bot(const char *);
static bool	 llm_saw(cJSON *, const char *);

/* --- Kapso: a burst, then reactions ---------------------------------------- */

START_TEST(t_kapso_burst_and_reactions)
{
	const char	*first;
	char		 target[64], rid[64];
	cJSON		*log, *p, *msg, *r;
	int		 n;
	int64_t		 chat, tid;

	free(sqls("UPDATE agents SET debounce_ms = 1500"));
	hfake_queue(&fx.llm, "{\"delay_ms\":2000,\"content\":"
	    "\"A table for two, noted.\"}");
	first = kapso_in("15557100001", "I want");
	snprintf(target, sizeof(target), "%s", first);
	usleep(300 * 1000);
	kapso_in("15557100001", "to book a table");
	usleep(300 * 1000);
	kapso_in("15557100001", "for two");
	ck_assert(wait_wa_texts(1, WAIT_MS));
	ck_assert(hpg_turns_idle(&fx.pg, WAIT_MS));
	usleep(QUIET_MS * 1000);
	/* One question with the three messages, one answer. */
	ck_assert_int_eq(hfake_log_count(&fx.llm), 1);
	ck_assert_int_eq(wa_texts(&log), 1);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 0)),
	    "A table for two, noted.");
	cJSON_Delete(log);
	log = hfake_log(&fx.llm);
	r = hllm_user_messages(log, 0, &n);
	ck_assert_int_eq(n, 3);
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(r, 0), "content"), "I want");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(r, 2), "content"),
	    "for two");
	cJSON_Delete(log);
	/* The answer covers the three messages. */
	tid = hinbound_id(&fx.pg, target);
	chat = sqli("SELECT chat_id FROM messages WHERE id = %lld",
	    (long long)tid);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages i JOIN messages o"
	    " ON o.id = i.answered_by WHERE i.chat_id = %lld AND i.direction ="
	    " 'in' AND o.body = 'A table for two, noted.'", (long long)chat),
	    3);

	/* 👍 on the first message, then taken back: Kapso delivers a
	 * reaction as Meta's message object (type reaction, §3.3). */
	snprintf(rid, sizeof(rid), "wamid.kapso.react%06d", ++seq);
	p = kapso_payload("15557100001", rid, "inbound", &msg);
	cJSON_AddStringToObject(msg, "type", "reaction");
	r = cJSON_AddObjectToObject(msg, "reaction");
	cJSON_AddStringToObject(r, "message_id", target);
	cJSON_AddStringToObject(r, "emoji", THUMBS_UP);
	kapso_post_event(p);
	snprintf(rid, sizeof(rid), "wamid.kapso.react%06d", ++seq);
	p = kapso_payload("15557100001", rid, "inbound", &msg);
	cJSON_AddStringToObject(msg, "type", "reaction");
	r = cJSON_AddObjectToObject(msg, "reaction");
	cJSON_AddStringToObject(r, "message_id", target);
	cJSON_AddStringToObject(r, "emoji", "");
	kapso_post_event(p);
	usleep(QUIET_MS * 1000);
	ck_assert(hpg_turns_idle(&fx.pg, WAIT_MS));
	/* Stored on their target, settled with a reason, not answered. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE chat_id = "
	    "%lld AND kind = 'reaction' AND reply_to_id = %lld AND "
	    "unanswered_reason IS NOT NULL AND answered_by IS NULL",
	    (long long)chat, (long long)tid), 2);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 1);
	ck_assert_int_eq(wa_texts(NULL), 1);

	/* A question after them: the model reads the conversation without
	 * the reactions (no 👍, no empty message). */
	kapso_in("15557100001", "and a high chair");
	ck_assert(wait_wa_texts(2, WAIT_MS));
	ck_assert_int_eq(hfake_log_count(&fx.llm), 2);
	log = hfake_log(&fx.llm);
	r = hllm_user_messages(log, 1, &n);
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(r, n - 1), "content"),
	    "and a high chair");
	for (int i = 0; i < n; i++) {
		const char	*c = hjstr(cJSON_GetArrayItem(r, i), "content");

		ck_assert_msg(*c != '\0' && strstr(c, THUMBS_UP) == NULL,
		    "the model read a reaction as message %d: \"%s\"", i, c);
	}
	cJSON_Delete(log);
}
END_TEST

/* --- Kapso: what the business sent from elsewhere ------------------------- */

START_TEST(t_kapso_echo)
{
	const char	*mid;
	char		 eid[64], *page, *st;
	struct client	 c;
	struct hresp	 r;
	int64_t		 chat;

	mid = kapso_in("15557100002", "Do you deliver?");
	ck_assert(wait_wa_texts(1, WAIT_MS));
	ck_assert(hwait_reply_done(&fx.pg, mid, WAIT_MS));
	chat = sqli("SELECT chat_id FROM messages WHERE id = %lld",
	    (long long)hinbound_id(&fx.pg, mid));

	/* The business wrote to the contact through another integration of
	 * its Kapso number (direction outbound, origin cloud_api). */
	snprintf(eid, sizeof(eid), "wamid.kapso.echo%06d", ++seq);
	kapso_echo(eid, "15557100002", "Yes, every day until 10pm.");
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id = '%s' AND chat_id = %lld AND kind = 'echo' "
	    "AND direction = 'out' AND body = 'Yes, every day until 10pm.'",
	    eid, (long long)chat), 1);
	usleep(QUIET_MS * 1000);
	ck_assert(hpg_turns_idle(&fx.pg, WAIT_MS));
	/* Never answered, never asked about, the chat still the AI's. */
	ck_assert_int_eq(hfake_log_count(&fx.llm), 1);
	ck_assert_int_eq(wa_texts(NULL), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE chat_id = "
	    "%lld AND direction = 'out'", (long long)chat), 2);
	st = sqls("SELECT status FROM chats WHERE id = %lld", (long long)chat);
	ck_assert_str_eq(st, "ai");
	free(st);
	/* A replay of it stores nothing more. */
	kapso_echo(eid, "15557100002", "Yes, every day until 10pm.");
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id = '%s'", eid), 1);

	/* The conversation view names who wrote it. */
	hlogin(&c, fx.srv.base, OWNER_EMAIL, OWNER_PW);
	page = xasprintf("/conversations/%lld", (long long)chat);
	hget(&c, page, 200, &r);
	hresp_has(&r, "Business (sent from WhatsApp)", "the echo's author");
	hresp_has(&r, "Yes, every day until 10pm.", "the echo");
	hresp_free(&r);
	free(page);

	/* The AI still answers the contact. */
	mid = kapso_in("15557100002", "Great, thanks");
	ck_assert(wait_wa_texts(2, WAIT_MS));
	ck_assert(hwait_reply_done(&fx.pg, mid, WAIT_MS));
	ck_assert_int_eq(hfake_log_count(&fx.llm), 2);
}
END_TEST

/* --- "taking longer than usual" ------------------------------------------- */

/*
 * The model answers 500 for a while (three turns' tries); the agent says
 * "taking longer" after a second: the user hears it once, then the real
 * answer; the chat never goes to a person.
 */
START_TEST(t_outage_notice_once)
{
	cJSON	*log;
	char	*want, *st;

	patch_bot("{\"outageNoticeSeconds\":1,\"outageWindowSeconds\":600}");
	hfake_queue(&fx.llm, "[{\"status\":500},{\"status\":500},"
	    "{\"status\":500},{\"status\":500},{\"status\":500},"
	    "{\"status\":500},{\"status\":500},{\"status\":500},"
	    "{\"status\":500}]");
	twilio_in("+15557100003", "Is my order ready?");
	ck_assert(wait_wa_texts(2, 60000));
	ck_assert(hpg_turns_idle(&fx.pg, WAIT_MS));
	usleep(QUIET_MS * 1000);
	ck_assert_int_eq(hfake_queued(&fx.llm), 0);
	want = chat_text_render(TEXT_SLOW, NULL,
	    &(struct text_vars){ .agent = "Bot" });
	ck_assert_int_eq(wa_texts(&log), 2);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 0)), want);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 1)),
	    "Echo: Is my order ready?");
	cJSON_Delete(log);
	free(want);
	/* Asked again until it answered: all nine failures, then once. */
	ck_assert_int_eq(hfake_log_count(&fx.llm), 10);
	st = sqls("SELECT status FROM chats WHERE external_id = "
	    "'+15557100003'");
	ck_assert_str_eq(st, "ai");
	free(st);
	ck_assert_int_eq(sqli("SELECT count(*) FROM handoffs"), 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM chats WHERE external_id = "
	    "'+15557100003' AND outage_since IS NULL AND NOT outage_noticed"),
	    1);
}
END_TEST

/* --- unsupported, said once ----------------------------------------------- */

#define UNSUPPORTED	"\"type\":\"unsupported\",\"errors\":[{\"code\":" \
			"131051,\"title\":\"Message type unknown\"}]"

/*
 * Meta: two unsupported items in one burst get the "cannot read" text
 * once, covering both; with a question between two of them the question
 * is answered and the text still said once.
 */
START_TEST(t_unsupported_once)
{
	cJSON		*log;
	char		*want, w1[40], w2[40], w3[40];
	const char	*q;
	int64_t		 by;

	free(sqls("UPDATE agents SET debounce_ms = 1500"));
	want = chat_text_render(TEXT_UNSUPPORTED, NULL,
	    &(struct text_vars){ .agent = "Bot" });
	snprintf(w1, sizeof(w1), "wamid.more.u%06d", ++seq);
	snprintf(w2, sizeof(w2), "wamid.more.u%06d", ++seq);
	meta_item("16505551001", w1, UNSUPPORTED);
	usleep(300 * 1000);
	meta_item("16505551001", w2, UNSUPPORTED);
	ck_assert(wait_wa_texts(1, WAIT_MS));
	ck_assert(hpg_turns_idle(&fx.pg, WAIT_MS));
	usleep(QUIET_MS * 1000);
	ck_assert_int_eq(wa_texts(&log), 1);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 0)), want);
	cJSON_Delete(log);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 0);
	/* Both stored as unsupported, both covered by that one text. */
	by = sqli("SELECT answered_by FROM messages WHERE "
	    "provider_message_id = '%s' AND kind = 'unsupported'", w1);
	ck_assert_int_gt(by, 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id IN ('%s', '%s') AND kind = 'unsupported' AND "
	    "answered_by = %lld", w1, w2, (long long)by), 2);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = %lld "
	    "AND direction = 'out'", (long long)by), 1);

	/* Unsupported, a question, unsupported, in one burst. */
	snprintf(w3, sizeof(w3), "wamid.more.u%06d", ++seq);
	meta_item("16505551002", w3, UNSUPPORTED);
	usleep(300 * 1000);
	q = meta_in("16505551002", "What did I send?");
	usleep(300 * 1000);
	snprintf(w1, sizeof(w1), "wamid.more.u%06d", ++seq);
	meta_item("16505551002", w1, UNSUPPORTED);
	ck_assert(wait_wa_texts(3, WAIT_MS));
	ck_assert(hpg_turns_idle(&fx.pg, WAIT_MS));
	usleep(QUIET_MS * 1000);
	ck_assert_int_eq(wa_texts(&log), 3);
	{
		int	 said = 0, answered = 0;

		for (int i = 1; i < 3; i++) {
			const char	*t = hwa_text(cJSON_GetArrayItem(log,
					    i));

			said += strcmp(t, want) == 0;
			answered += strcmp(t, "Echo: What did I send?") == 0;
		}
		ck_assert_msg(said == 1 && answered == 1, "the burst got "
		    "%d \"cannot read\" texts and %d answers", said, answered);
	}
	cJSON_Delete(log);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 1);
	/* Both unreadable items covered by the one text, the question by
	 * the model's answer. */
	by = sqli("SELECT answered_by FROM messages WHERE "
	    "provider_message_id = '%s'", w3);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id IN ('%s', '%s') AND answered_by = %lld",
	    w3, w1, (long long)by), 2);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = %lld "
	    "AND body = $$%s$$", (long long)by, want), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages i JOIN messages o"
	    " ON o.id = i.answered_by WHERE i.id = %lld AND o.body = "
	    "'Echo: What did I send?'", (long long)hinbound_id(&fx.pg, q)), 1);
	free(want);
}
END_TEST

/* --- the session timeout, through the API --------------------------------- */

START_TEST(t_session_timeout_api)
{
	cJSON		*g, *log, *um;
	const char	*sid;
	char		 path[64];
	int		 n;
	int64_t		 t1, t2;

	/* Stored and shown. */
	patch_bot("{\"sessionTimeoutMinutes\":5}");
	snprintf(path, sizeof(path), "/api/v1/agents/%lld", (long long)bot_id);
	g = hapi_json(fx.srv.base, token, "GET", path, NULL, 200);
	ck_assert_int_eq(cJSON_GetObjectItem(g, "sessionTimeoutMinutes")->
	    valueint, 5);
	cJSON_Delete(g);
	ck_assert_int_eq(sqli("SELECT session_timeout_minutes FROM agents "
	    "WHERE id = %lld", (long long)bot_id), 5);
	/* Out of range: a 422, nothing changed. */
	{
		struct hresp	 r;

		hapi(fx.srv.base, token, "PATCH", path,
		    "{\"sessionTimeoutMinutes\":0}", &r);
		ck_assert_int_eq(r.status, 422);
		hresp_has(&r, "sessionTimeoutMinutes", "the field named");
		hresp_free(&r);
	}
	ck_assert_int_eq(sqli("SELECT session_timeout_minutes FROM agents "
	    "WHERE id = %lld", (long long)bot_id), 5);

	/* Two messages in one thread: the second is asked with the first. */
	sid = twilio_in("+15557100005", "My name is Ada");
	ck_assert(hwait_reply_done(&fx.pg, sid, WAIT_MS));
	t1 = sqli("SELECT thread_id FROM messages WHERE id = %lld",
	    (long long)hinbound_id(&fx.pg, sid));
	sid = twilio_in("+15557100005", "I like tea");
	ck_assert(hwait_reply_done(&fx.pg, sid, WAIT_MS));
	ck_assert_int_eq(sqli("SELECT thread_id FROM messages WHERE id = %lld",
	    (long long)hinbound_id(&fx.pg, sid)), t1);
	log = hfake_log(&fx.llm);
	ck_assert(llm_saw(hllm_user_messages(log, 1, &n), "My name is Ada"));
	cJSON_Delete(log);

	/* Idle for six minutes (backdated), longer than the five set. */
	free(sqls("UPDATE messages SET created_at = now() - interval "
	    "'6 minutes' WHERE thread_id = %lld", (long long)t1));
	free(sqls("UPDATE threads SET started_at = now() - interval "
	    "'7 minutes' WHERE id = %lld", (long long)t1));
	sid = twilio_in("+15557100005", "What is my name?");
	ck_assert(hwait_reply_done(&fx.pg, sid, WAIT_MS));
	t2 = sqli("SELECT thread_id FROM messages WHERE id = %lld",
	    (long long)hinbound_id(&fx.pg, sid));
	ck_assert_int_gt(t2, 0);
	ck_assert_int_ne(t1, t2);
	ck_assert_int_eq(sqli("SELECT count(*) FROM threads WHERE id = %lld "
	    "AND close_reason = 'timeout'", (long long)t1), 1);
	/* The model was asked about the new thread alone. */
	ck_assert_int_eq(hfake_log_count(&fx.llm), 3);
	log = hfake_log(&fx.llm);
	um = hllm_user_messages(log, 2, &n);
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(um, 0), "content"),
	    "What is my name?");
	ck_assert(!llm_saw(um, "Ada"));
	ck_assert(!llm_saw(um, "tea"));
	cJSON_Delete(log);
}
END_TEST

/* --- fixture and helpers -------------------------------------------------- */

static void
suite_setup(void)
{
	struct channel_input	 cin;
	const char		*wa_args[] = { "--twilio-token", TW_TOKEN,
				    "--meta-token", META_TOKEN, "--kapso-key",
				    KAPSO_KEY, NULL };
	struct db		*db;
	int64_t			 model_id;

	hworld_start(&fx, NULL, wa_args);
	token = htoken_create(&fx.pg, OWNER_EMAIL, "turns_more", "admin");
	model_id = hworld_model(&fx, "sk-test-0123456789", true);
	db = db_acquire(fx.pool);
	ck_assert_ptr_nonnull(db);
	bot_id = hagent_create(db, fx.org_id, "Bot", "chat", model_id);
	cin = (struct channel_input){ .kind = "twilio", .name = "Twilio",
	    .status = "connected", .phone_number = TW_NUMBER,
	    .twilio_account_sid = TW_SID, .twilio_auth_token = TW_TOKEN,
	    .default_agent_id = bot_id };
	(void)hchannel_create(db, fx.key, fx.org_id, &cin);
	cin = (struct channel_input){ .kind = "meta", .name = "Meta",
	    .status = "connected", .phone_number = "+15550783881",
	    .phone_number_id = META_PNID, .meta_access_token = META_TOKEN,
	    .meta_app_secret = META_SECRET,
	    .meta_verify_token = "verify-0123456789",
	    .default_agent_id = bot_id };
	(void)hchannel_create(db, fx.key, fx.org_id, &cin);
	cin = (struct channel_input){ .kind = "kapso", .name = "Kapso",
	    .status = "connected", .phone_number = "+15550783884",
	    .phone_number_id = KAPSO_PNID, .kapso_api_key = KAPSO_KEY,
	    .kapso_webhook_secret = KAPSO_SECRET, .default_agent_id = bot_id };
	(void)hchannel_create(db, fx.key, fx.org_id, &cin);
	db_release(db);
}

static void
suite_teardown(void)
{
	free(token);
	hworld_stop(&fx);
}

static void
test_setup(void)
{
	hworld_reset(&fx);
	free(sqls("UPDATE agents SET debounce_ms = 0, busy_mode = 'restart',"
	    " outage_notice_s = 60, outage_window_s = 600,"
	    " session_timeout_minutes = 1440"));
}

/* NO MESSAGE LEFT BEHIND, after every scenario. */
static void
test_teardown(void)
{
	hassert_none_left_behind(&fx.pg, WAIT_MS);
}

/*
 * A Kapso v2 whatsapp.message.received payload (PROTOCOLS.md §3.3) for
 * our Kapso number: message id, kapso.direction dir (origin cloud_api),
 * from `phone` (digits; NULL: no from) and the conversation with the
 * contact's number; *msg gets the message object, for its type and
 * content. The caller posts it (kapso_post_event).
 */
static cJSON *
kapso_payload(const char *phone, const char *id, const char *dir,
    cJSON **msg)
{
	cJSON	*p, *k, *conv;
	char	 ts[32], plus[32];

	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	p = cJSON_CreateObject();
	*msg = cJSON_AddObjectToObject(p, "message");
	cJSON_AddStringToObject(*msg, "id", id);
	cJSON_AddStringToObject(*msg, "timestamp", ts);
	if (phone != NULL)
		cJSON_AddStringToObject(*msg, "from", phone);
	k = cJSON_AddObjectToObject(*msg, "kapso");
	cJSON_AddStringToObject(k, "direction", dir);
	cJSON_AddStringToObject(k, "origin", "cloud_api");
	conv = cJSON_AddObjectToObject(p, "conversation");
	cJSON_AddStringToObject(conv, "id", "conv-more");
	if (phone != NULL) {
		snprintf(plus, sizeof(plus), "+%s", phone);
		cJSON_AddStringToObject(conv, "phone_number", plus);
	}
	cJSON_AddStringToObject(cJSON_AddObjectToObject(conv, "kapso"),
	    "contact_name", "Kai");
	cJSON_AddStringToObject(p, "phone_number_id", KAPSO_PNID);
	return p;
}

/* A signed Kapso text from `phone` (digits); its id (static). */
static const char *
kapso_in(const char *phone, const char *text)
{
	static char	 id[40];
	cJSON		*p, *msg;

	snprintf(id, sizeof(id), "wamid.kapso.more%06d", ++seq);
	p = kapso_payload(phone, id, "inbound", &msg);
	cJSON_AddStringToObject(msg, "type", "text");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(msg, "text"), "body",
	    text);
	kapso_post_event(p);
	return id;
}

/*
 * What the business sent to `to` (digits) from another integration of
 * its Kapso number: a text with direction outbound (origin cloud_api,
 * not the Business app), from our number, id eid.
 */
static void
kapso_echo(const char *eid, const char *to, const char *text)
{
	cJSON	*p, *msg;
	char	 plus[32];

	p = kapso_payload(NULL, eid, "outbound", &msg);
	cJSON_AddStringToObject(msg, "from", "15550783884");
	cJSON_AddStringToObject(msg, "to", to);
	cJSON_AddStringToObject(msg, "type", "text");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(msg, "text"), "body",
	    text);
	snprintf(plus, sizeof(plus), "+%s", to);
	cJSON_AddStringToObject(cJSON_GetObjectItem(p, "conversation"),
	    "phone_number", plus);
	kapso_post_event(p);
}

/* Posts payload (taken) as whatsapp.message.received, signed; 200. */
static void
kapso_post_event(cJSON *payload)
{
	char	*body = cJSON_PrintUnformatted(payload);

	hkapso_post_ok(fx.srv.base, HKAPSO_INBOUND,
	    "whatsapp.message.received", body, KAPSO_SECRET);
	free(body);
	cJSON_Delete(payload);
}

/* PATCH /api/v1/agents/{Bot} with json: must answer 200. */
static void
patch_bot(const char *json)
{
	char		 path[64];
	struct hresp	 r;

	snprintf(path, sizeof(path), "/api/v1/agents/%lld", (long long)bot_id);
	hapi_want(fx.srv.base, token, "PATCH", path, json, 200, &r);
	hresp_free(&r);
}

/* True when one of the messages' content contains needle. */
static bool
llm_saw(cJSON *msgs, const char *needle)
{
	const cJSON	*m;

	cJSON_ArrayForEach(m, msgs)
		if (strstr(hjstr(m, "content"), needle) != NULL)
			return true;
	return false;
}

static Suite *
turns_more_suite(void)
{
	Suite	*s = suite_create("turns_more");
	TCase	*tc = tcase_create("turns_more");

	tcase_set_timeout(tc, 240);
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_add_test(tc, t_kapso_burst_and_reactions);
	tcase_add_test(tc, t_kapso_echo);
	tcase_add_test(tc, t_outage_notice_once);
	tcase_add_test(tc, t_unsupported_once);
	tcase_add_test(tc, t_session_timeout_api);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(turns_more_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
