/*
 * Integration: conversation turns (issue 12), end to end as a user would
 * try them: signed Twilio and Meta webhooks into the real server, the
 * fake model (slow, failing) and the fake WhatsApp APIs. Each test is one
 * bullet of the "Why", for each provider that has the event:
 *
 *   - a burst ("I want" / "to book a table" / "for two", 300 ms apart,
 *     a 2 s model) is ONE question and ONE answer covering all three
 *     (Twilio, CHAT; Meta, TASK: the turn's own messages only);
 *   - a message while the model works: the default busy mode cancels the
 *     call and restarts with everything, one answer covering both;
 *     follow-up mode answers the new message right after (with the
 *     acknowledgment: tests/integration/commands.c t_busy_thread);
 *   - a reaction (and its removal), a system event and an unsupported
 *     item are never sent to the model; the reaction is stored on its
 *     target; the unsupported item gets the agent's "cannot read" text;
 *   - a photo without a caption to a model without vision gets the
 *     agent's "cannot look at images" text, and a later question reads
 *     it named ("[image]", never an empty message);
 *   - "Connect me with someone from sales please" in a linked chat is a
 *     question for the model;
 *   - a model answering 500 for a while is retried and then answers: no
 *     handoff (the handoff after the window, and the return to the AI,
 *     are tests/integration/handoff.c t_gateway_failures);
 *   - two `parley serve` processes on one database: one turn per chat
 *     (with PgBouncer too: tests/integration/pooler.c t_two_replicas).
 *
 * More in tests/integration/turns_more.c: Kapso's burst and reactions,
 * an echo of what the business sent from elsewhere (Kapso), "taking
 * longer than usual" said once during an outage, the "cannot read" text
 * once a turn for several unsupported items, and the session timeout set
 * through the API (a new thread without the old history).
 *
 * After every test the fixture runs the "no message left behind" check
 * (harness.h hassert_none_left_behind): every inbound message is covered
 * by an answer or carries a reason.
 */
#include "harness/harness.h"
#include "harness/model.h"
#include "harness/webhook.h"
#include "harness/world.h"

#define sqli(...)		hpg_sqlf_int(&fx.pg, __VA_ARGS__)
#define sqls(...)		hpg_sqlf(&fx.pg, __VA_ARGS__)
#define wait_sql(n, ms, ...)	hpg_wait_int(&fx.pg, n, ms, __VA_ARGS__)
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
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "chat/texts.h"
#include "db/db.h"
#include "model/channel.h"

#define TW_NUMBER	"+15550001111"
#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"0123456789abcdef0123456789abcdef"
#define META_PNID	"106540352242922"
#define META_TOKEN	"meta-access-token-0123456789"
#define META_SECRET	"meta-app-secret-0123456789"
#define WAIT_MS		20000
#define QUIET_MS	1500

static struct hworld	 fx;
static int64_t		 bot_id, tasker_id, tw_id, meta_id;
static int		 seq;

static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 test_setup(void);
static void	 test_teardown(void);

/* --- bursts --------------------------------------------------------------- */

/* Twilio, CHAT agent: three messages 300 ms apart, a 2 s model. */
START_TEST(t_burst_twilio)
{
	cJSON	*log, *um;
	int	 n;
	int64_t	 chat;

	/* The harness makes agents without a debounce: the default. */
	free(sqls("UPDATE agents SET debounce_ms = 1500"));
	hfake_queue(&fx.llm, "{\"delay_ms\":2000,\"content\":"
	    "\"A table for two, noted.\"}");
	twilio_in("+15557770001", "I want");
	usleep(300 * 1000);
	twilio_in("+15557770001", "to book a table");
	usleep(300 * 1000);
	twilio_in("+15557770001", "for two");
	ck_assert(wait_wa_texts(1, WAIT_MS));
	usleep(QUIET_MS * 1000);
	/* One question, one answer. */
	ck_assert_int_eq(hfake_log_count(&fx.llm), 1);
	ck_assert_int_eq(wa_texts(&log), 1);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 0)),
	    "A table for two, noted.");
	cJSON_Delete(log);
	log = hfake_log(&fx.llm);
	um = hllm_user_messages(log, 0, &n);
	ck_assert_int_eq(n, 3);
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(um, 0), "content"),
	    "I want");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(um, 1), "content"),
	    "to book a table");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(um, 2), "content"),
	    "for two");
	cJSON_Delete(log);
	/* The answer covers the three messages. */
	chat = sqli("SELECT id FROM chats WHERE external_id = '+15557770001'");
	ck_assert_int_eq(sqli("SELECT count(DISTINCT answered_by) FROM messages"
	    " WHERE chat_id = %lld AND direction = 'in' AND answered_by IS NOT"
	    " NULL", (long long)chat), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages i JOIN messages o"
	    " ON o.id = i.answered_by WHERE i.chat_id = %lld AND o.body = "
	    "'A table for two, noted.'", (long long)chat), 3);
}
END_TEST

/* Meta, TASK agent: the same burst is one question of its own messages. */
START_TEST(t_burst_meta)
{
	cJSON	*log, *um;
	int	 n;

	free(sqls("UPDATE agents SET debounce_ms = 1500"));
	hfake_queue(&fx.llm, "{\"delay_ms\":2000,\"content\":\"Booked.\"}");
	meta_in("16505550001", "I want");
	usleep(300 * 1000);
	meta_in("16505550001", "to book a table");
	usleep(300 * 1000);
	meta_in("16505550001", "for two");
	ck_assert(wait_wa_texts(1, WAIT_MS));
	usleep(QUIET_MS * 1000);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 1);
	ck_assert_int_eq(wa_texts(NULL), 1);
	log = hfake_log(&fx.llm);
	um = hllm_user_messages(log, 0, &n);
	ck_assert_int_eq(n, 3);
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(um, 2), "content"),
	    "for two");
	cJSON_Delete(log);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages i JOIN messages o"
	    " ON o.id = i.answered_by JOIN chats c ON c.id = i.chat_id WHERE "
	    "c.external_id = '+16505550001' AND o.body = 'Booked.'"), 3);
}
END_TEST

/* --- a message while the model works -------------------------------------- */

/*
 * The default busy mode: the model call is aborted when a message arrives
 * and the turn restarts with both; the user gets one answer, never "still
 * working", and it covers both messages.
 */
START_TEST(t_busy_restart)
{
	cJSON	*log, *um;
	int	 n;

	hfake_queue(&fx.llm, "[{\"delay_ms\":6000,\"content\":\"Too late.\"},"
	    "{\"content\":\"Both answered.\"}]");
	twilio_in("+15557770002", "What is the weather");
	hfake_wait_log(&fx.llm, 1, WAIT_MS);
	twilio_in("+15557770002", "in Lisbon tomorrow?");
	ck_assert(wait_wa_texts(1, WAIT_MS));
	usleep(QUIET_MS * 1000);
	ck_assert_int_eq(wa_texts(&log), 1);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 0)),
	    "Both answered.");
	cJSON_Delete(log);
	/* Asked twice: the second time with everything. */
	ck_assert_int_eq(hfake_log_count(&fx.llm), 2);
	log = hfake_log(&fx.llm);
	um = hllm_user_messages(log, 1, &n);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(um, 1), "content"),
	    "in Lisbon tomorrow?");
	cJSON_Delete(log);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages i JOIN messages o"
	    " ON o.id = i.answered_by JOIN chats c ON c.id = i.chat_id WHERE "
	    "c.external_id = '+15557770002' AND o.body = 'Both answered.'"),
	    2);
	/* The aborted answer was never recorded or sent. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE body = "
	    "'Too late.'"), 0);
}
END_TEST

/* Follow-up mode without the acknowledgment: two answers, in order. */
START_TEST(t_busy_follow_up)
{
	cJSON	*log;

	free(sqls("UPDATE agents SET busy_mode = 'follow_up' WHERE id = %lld",
	    (long long)bot_id));
	hfake_queue(&fx.llm, "{\"delay_ms\":3000,\"content\":\"First.\"}");
	twilio_in("+15557770003", "Question one");
	hfake_wait_log(&fx.llm, 1, WAIT_MS);
	twilio_in("+15557770003", "Question two");
	ck_assert(wait_wa_texts(2, WAIT_MS));
	usleep(QUIET_MS * 1000);
	ck_assert_int_eq(wa_texts(&log), 2);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 0)), "First.");
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 1)),
	    "Echo: Question two");
	cJSON_Delete(log);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 2);
	free(sqls("UPDATE agents SET busy_mode = 'restart' WHERE id = %lld",
	    (long long)bot_id));
}
END_TEST

/* --- what is not a message ------------------------------------------------ */

START_TEST(t_meta_not_messages)
{
	const char	*target;
	char		 item[1024];
	char		*want;
	cJSON		*log;
	int64_t		 chat, tid;

	target = meta_in("16505550004", "Hello there");
	ck_assert(wait_wa_texts(1, WAIT_MS));
	ck_assert(hpg_turns_idle(&fx.pg, WAIT_MS));
	tid = sqli("SELECT id FROM messages WHERE provider_message_id = '%s'",
	    target);

	/* A reaction and its removal: stored on the target, not answered. */
	snprintf(item, sizeof(item), "\"type\":\"reaction\",\"reaction\":"
	    "{\"message_id\":\"%s\",\"emoji\":\"\xf0\x9f\x91\x8d\"}", target);
	meta_item("16505550004", "wamid.turns.r1", item);
	snprintf(item, sizeof(item), "\"type\":\"reaction\",\"reaction\":"
	    "{\"message_id\":\"%s\"}", target);
	meta_item("16505550004", "wamid.turns.r2", item);
	/* The user changed number: a note. */
	meta_item("16505550004", "wamid.turns.s1", "\"type\":\"system\","
	    "\"system\":{\"body\":\"User A changed from 16505550004 to "
	    "16505550099\",\"wa_id\":\"16505550099\",\"type\":"
	    "\"user_changed_number\"}");
	usleep(QUIET_MS * 1000);
	ck_assert(hpg_turns_idle(&fx.pg, WAIT_MS));
	ck_assert_int_eq(hfake_log_count(&fx.llm), 1);
	ck_assert_int_eq(wa_texts(NULL), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE kind = "
	    "'reaction' AND reply_to_id = %lld AND unanswered_reason IS NOT "
	    "NULL", (long long)tid), 2);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id = 'wamid.turns.s1' AND kind = 'system' AND "
	    "unanswered_reason IS NOT NULL"), 1);

	/* The contact is the new number now: the chat goes on with it. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM chats c JOIN messages m ON"
	    " m.chat_id = c.id WHERE m.id = %lld AND c.external_id = "
	    "'+16505550099'", (long long)tid), 1);

	/* An unsupported item: the agent says once what it cannot read. */
	meta_item("16505550099", "wamid.turns.u1", "\"type\":\"unsupported\","
	    "\"errors\":[{\"code\":131051,\"title\":\"Message type unknown\"}]");
	ck_assert(wait_wa_texts(2, WAIT_MS));
	usleep(QUIET_MS * 1000);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 1);
	want = chat_text_render(TEXT_UNSUPPORTED, NULL,
	    &(struct text_vars){ .agent = "Tasker" });
	ck_assert_int_eq(wa_texts(&log), 2);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 1)), want);
	cJSON_Delete(log);
	free(want);
	chat = sqli("SELECT chat_id FROM messages WHERE id = %lld",
	    (long long)tid);
	{
		char	*kinds = sqls("SELECT string_agg(kind || ':' || "
			    "direction || ':' || COALESCE(provider_message_id,"
			    " ''), ',' ORDER BY id) FROM messages WHERE "
			    "chat_id = %lld", (long long)chat);

		ck_assert_msg(sqli("SELECT count(*) FROM messages WHERE "
		    "provider_message_id = 'wamid.turns.u1' AND chat_id = %lld"
		    " AND kind = 'unsupported'", (long long)chat) == 1,
		    "the unsupported item: %s", kinds);
		free(kinds);
	}
}
END_TEST

/* --- a photo without a caption ------------------------------------------- */

/* Twilio: a captionless photo is never an empty message for the model. */
START_TEST(t_captionless_photo)
{
	char		 murl[512], sid[40];
	const char	*params[][2] = {
		{ "MessageSid", sid }, { "AccountSid", TW_SID },
		{ "From", "whatsapp:+15557770007" },
		{ "To", "whatsapp:" TW_NUMBER }, { "Body", "" },
		{ "NumMedia", "1" }, { "MediaUrl0", murl },
		{ "MediaContentType0", "image/jpeg" },
		{ "ProfileName", "Tess" },
	};
	cJSON		*log, *um, *o, *c, *part;
	int		 n;
	bool		 named = false;

	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", "MEphoto0001");
	cJSON_AddStringToObject(o, "content_type", "image/jpeg");
	cJSON_AddStringToObject(o, "body", "not really a jpeg");
	{
		char	*j = cJSON_PrintUnformatted(o);

		hfake_post(&fx.wa, "/_fake/media", j);
		free(j);
	}
	cJSON_Delete(o);
	snprintf(sid, sizeof(sid), "MM%032d", ++seq);
	snprintf(murl, sizeof(murl), "%s/2010-04-01/Accounts/" TW_SID
	    "/Messages/%s/Media/MEphoto0001", fx.wa.base, sid);
	htwilio_post_ok(fx.srv.base, HTWILIO_INBOUND, TW_TOKEN, params, 9);
	/* The model cannot look at images, and the photo said nothing
	 * else: the user hears so, and the model is not asked about an
	 * empty message (vision models: tests/integration/vision.c). */
	ck_assert(wait_wa_texts(1, WAIT_MS));
	ck_assert_int_eq(wa_texts(&log), 1);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 0)),
	    chat_text_default(TEXT_NO_VISION));
	cJSON_Delete(log);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 0);
	/* A question about it: the model reads the photo named. */
	twilio_in("+15557770007", "Did you get my photo?");
	ck_assert(wait_wa_texts(2, WAIT_MS));
	ck_assert_int_eq(hfake_log_count(&fx.llm), 1);
	log = hfake_log(&fx.llm);
	um = hllm_user_messages(log, 0, &n);
	named = false;
	for (int i = 0; i < n; i++) {
		c = cJSON_GetObjectItem(cJSON_GetArrayItem(um, i), "content");
		if (cJSON_IsString(c) && strcmp(c->valuestring, "[image]") == 0)
			named = true;
		else if (!cJSON_IsString(c))
			cJSON_ArrayForEach(part, c)
				if (strstr(hjstr(part, "text"), "[image") !=
				    NULL)
					named = true;
	}
	{
		char	*dump = cJSON_PrintUnformatted(um);

		ck_assert_msg(named, "the photo reached the model as %s", dump);
		free(dump);
	}
	cJSON_Delete(log);
}
END_TEST

/* --- routing reads what was meant ---------------------------------------- */

START_TEST(t_connect_me_with_sales)
{
	cJSON	*log;

	twilio_in("+15557770005", "Connect me with someone from sales please");
	ck_assert(wait_wa_texts(1, WAIT_MS));
	ck_assert_int_eq(wa_texts(&log), 1);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 0)),
	    "Echo: Connect me with someone from sales please");
	cJSON_Delete(log);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 1);
}
END_TEST

/* --- outages -------------------------------------------------------------- */

/* Six 500s (two failed turns of three tries each), then the model is
 * back: the user gets the answer, and nobody was asked to take over. */
START_TEST(t_outage_retried)
{
	cJSON	*log;
	char	*st;

	hfake_queue(&fx.llm, "[{\"status\":500},{\"status\":500},"
	    "{\"status\":500},{\"status\":429,\"headers\":{\"Retry-After\":"
	    "\"1\"}},{\"status\":500},{\"status\":500}]");
	twilio_in("+15557770006", "Are you there?");
	ck_assert(wait_wa_texts(1, 40000));
	usleep(QUIET_MS * 1000);
	ck_assert_int_eq(wa_texts(&log), 1);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 0)),
	    "Echo: Are you there?");
	cJSON_Delete(log);
	ck_assert_int_ge(hfake_log_count(&fx.llm), 7);
	st = sqls("SELECT status FROM chats WHERE external_id = "
	    "'+15557770006'");
	ck_assert_str_eq(st, "ai");
	free(st);
	ck_assert_int_eq(sqli("SELECT count(*) FROM handoffs"), 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM chats WHERE external_id = "
	    "'+15557770006' AND outage_since IS NULL"), 1);
}
END_TEST

/* --- two processes on one database --------------------------------------- */

/*
 * Two `parley serve` processes share the database; eight chats each send
 * a burst of three messages, split across the two: one turn per chat, so
 * one answer per chat covering its three messages, never two.
 */
START_TEST(t_two_processes)
{
	struct hserver	 b;
	char		 from[32], text[64], sid[40], ext[32];
	cJSON		*log, *e;
	int		 per_chat[8] = { 0 };

	free(sqls("UPDATE agents SET debounce_ms = 1500"));
	hserver_start(&b, &fx.pg, fx.env.v);
	hfake_queue(&fx.llm, "[{\"delay_ms\":500,\"content\":\"Done.\"},"
	    "{\"delay_ms\":500,\"content\":\"Done.\"},"
	    "{\"delay_ms\":500,\"content\":\"Done.\"},"
	    "{\"delay_ms\":500,\"content\":\"Done.\"},"
	    "{\"delay_ms\":500,\"content\":\"Done.\"},"
	    "{\"delay_ms\":500,\"content\":\"Done.\"},"
	    "{\"delay_ms\":500,\"content\":\"Done.\"},"
	    "{\"delay_ms\":500,\"content\":\"Done.\"}]");
	for (int k = 0; k < 3; k++) {
		for (int c = 0; c < 8; c++) {
			snprintf(from, sizeof(from), "+1555888%04d", c);
			snprintf(text, sizeof(text), "chat %d part %d", c, k);
			snprintf(sid, sizeof(sid), "SM%032d", ++seq);
			/* Alternate processes, message by message. */
			htwilio_text_ok((c + k) % 2 == 0 ? fx.srv.base : b.base,
			    TW_SID, TW_TOKEN, sid, from, TW_NUMBER, text);
		}
		usleep(300 * 1000);
	}
	ck_assert(wait_wa_texts(8, WAIT_MS));
	ck_assert(hpg_turns_idle(&fx.pg, WAIT_MS));
	usleep(QUIET_MS * 1000);	/* a second answer would show now */
	ck_assert_int_eq(wa_texts(&log), 8);
	cJSON_ArrayForEach(e, log) {
		int	 c = -1;

		ck_assert(sscanf(hjstr(cJSON_GetObjectItem(e, "form"), "To"),
		    "whatsapp:+1555888%4d", &c) == 1 && c >= 0 && c < 8);
		per_chat[c]++;
		ck_assert_str_eq(hwa_text(e), "Done.");
	}
	cJSON_Delete(log);
	for (int c = 0; c < 8; c++) {
		ck_assert_msg(per_chat[c] == 1, "chat %d got %d answers", c,
		    per_chat[c]);
		snprintf(ext, sizeof(ext), "+1555888%04d", c);
		ck_assert_int_eq(sqli("SELECT count(*) FROM messages m JOIN "
		    "chats ch ON ch.id = m.chat_id WHERE ch.external_id = '%s' "
		    "AND m.direction = 'in' AND m.answered_by IS NOT NULL", ext),
		    3);
	}
	ck_assert_int_eq(hfake_log_count(&fx.llm), 8);
	hserver_stop_clean(&b);
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
	int64_t			 model_id;

	hworld_start(&fx, NULL, wa_args);
	model_id = hworld_model(&fx, "sk-test-0123456789", true);
	db = db_acquire(fx.pool);
	ck_assert_ptr_nonnull(db);
	bot_id = hagent_create(db, fx.org_id, "Bot", "chat", model_id);
	tasker_id = hagent_create(db, fx.org_id, "Tasker", "task", model_id);
	cin = (struct channel_input){ .kind = "twilio", .name = "Twilio",
	    .status = "connected", .phone_number = TW_NUMBER,
	    .twilio_account_sid = TW_SID, .twilio_auth_token = TW_TOKEN,
	    .default_agent_id = bot_id };
	tw_id = hchannel_create(db, fx.key, fx.org_id, &cin);
	cin = (struct channel_input){ .kind = "meta", .name = "Meta",
	    .status = "connected", .phone_number = "+15550783881",
	    .phone_number_id = META_PNID, .meta_access_token = META_TOKEN,
	    .meta_app_secret = META_SECRET,
	    .meta_verify_token = "verify-0123456789",
	    .default_agent_id = tasker_id };
	meta_id = hchannel_create(db, fx.key, fx.org_id, &cin);
	db_release(db);
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
	free(sqls("UPDATE agents SET debounce_ms = 0, busy_mode = 'restart'"));
}

/* NO MESSAGE LEFT BEHIND, after every scenario. */
static void
test_teardown(void)
{
	hassert_none_left_behind(&fx.pg, WAIT_MS);
}

static Suite *
turns_suite(void)
{
	Suite	*s = suite_create("turns");
	TCase	*tc = tcase_create("turns");

	tcase_set_timeout(tc, 240);
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_add_test(tc, t_burst_twilio);
	tcase_add_test(tc, t_burst_meta);
	tcase_add_test(tc, t_busy_restart);
	tcase_add_test(tc, t_busy_follow_up);
	tcase_add_test(tc, t_meta_not_messages);
	tcase_add_test(tc, t_captionless_photo);
	tcase_add_test(tc, t_connect_me_with_sales);
	tcase_add_test(tc, t_outage_retried);
	tcase_add_test(tc, t_two_processes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(turns_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
