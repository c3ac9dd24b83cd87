/*
 * tests/integration/handoff.c: human takeover (chat/handoff.c,
 * worker/reply.c, panel/handoff.c): each trigger (an escalation keyword,
 * the model's handoff.request call, N upstream failures in a row, the
 * offline model finding no answer) moves the chat to needs_human and
 * sends the handoff text once; the bot stays silent while a person has
 * the chat; a reply job already waiting on the model when the chat is
 * claimed sends nothing; claim, reply (through the fake provider, with
 * the author), return (a new thread), close and reopen; the idle sweep;
 * session timeouts; members may act; another organisation's chat is 404;
 * the dashboard and the inbox name chats nobody claimed in time.
 *
 * The real server and reply pool against a real PostgreSQL, the fake LLM
 * and the fake WhatsApp API; inbound messages arrive through the signed
 * Twilio webhook. Every wait is bounded.
 */
#include "harness/model.h"
#include "harness/panel.h"
#include "harness/webhook.h"
#include "harness/world.h"

/* Formatted SQL against this suite's cluster, the text sends at its fake
 * WhatsApp (tests/harness). */
#define sqli(...)		hpg_sqlf_int(&fx.pg, __VA_ARGS__)
#define sqls(...)		hpg_sqlf(&fx.pg, __VA_ARGS__)
#define wait_sql(n, ms, ...)	hpg_wait_int(&fx.pg, n, ms, __VA_ARGS__)
#define wa_texts(out)		hwa_sends(&fx.wa, true, out)
#define wait_wa_texts(n, ms)	hwa_wait_sends(&fx.wa, true, n, ms)

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "chat/handoff.h"
#include "chat/texts.h"
#include "crypto/secret.h"
#include "db/db.h"
#include "model/agent.h"
#include "plugins/plugin.h"
#include "model/channel.h"
#include "util/arena.h"
#include "util/time.h"
#include "util/xmalloc.h"

#define TW_NUMBER	"+15550001111"
#define FAQ_NUMBER	"+15550003333"
#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"0123456789abcdef0123456789abcdef"
#define META_TOKEN	"meta-access-token-0123456789"
#define BODY_MAX	16384
#define WAIT_MS		20000
#define QUIET_MS	1500
#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define MEMBER_EMAIL	"member@example.com"
#define MEMBER_PW	"member-password-0123"
#define OTHER_EMAIL	"other@example.com"
#define OTHER_PW	"other-password-0123"

static struct hworld	 fx;
static int64_t		 bot_id, faq_id, tw_id, faq_ch_id;
static int		 seq;

static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 test_setup(void);
static const char *twilio_in(const char *, const char *, const char *);
static int64_t	 chat_of(const char *);
static char	*status_of(int64_t);
static long	 post_action(struct client *, int64_t, const char *,
		    const char *);
static void	 assert_handoff_once(const char *);
static void	 run_sweep(void);
static bool	 page_has(struct client *, const char *, const char *);

/* The chat of contact `from` on the Twilio channel. */
static int64_t
chat_of(const char *from)
{
	return sqli("SELECT id FROM chats WHERE external_id = '%s'", from);
}

static char *
status_of(int64_t chat)
{
	return sqls("SELECT status FROM chats WHERE id = %lld",
	    (long long)chat);
}

/* POSTs /conversations/{chat}/{action} with the session's CSRF token. */
static long
post_action(struct client *c, int64_t chat, const char *action,
    const char *reply)
{
	struct hresp	 r;
	char		 body[BODY_MAX] = "", path[128];
	char		*csrf = hpage_csrf(c, "/settings");
	long		 status;

	form_add(body, sizeof(body), "_csrf", csrf);
	if (reply != NULL)
		form_add(body, sizeof(body), "body", reply);
	free(csrf);
	snprintf(path, sizeof(path), "/conversations/%lld/%s",
	    (long long)chat, action);
	client_req(c, "POST", path, body, NULL, NULL, &r);
	status = r.status;
	hresp_free(&r);
	return status;
}

/* Exactly one text was sent, the default handoff text, and nothing more
 * follows within QUIET_MS. */
static void
assert_handoff_once(const char *what)
{
	char	*want = chat_text_render(TEXT_HANDOFF, NULL,
		    &(struct text_vars){ 0 });
	cJSON	*log;

	ck_assert_msg(wait_wa_texts(1, WAIT_MS), "%s: no handoff text", what);
	usleep(QUIET_MS * 1000);
	ck_assert_int_eq(wa_texts(&log), 1);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 0)), want);
	cJSON_Delete(log);
	free(want);
}

static void
run_sweep(void)
{
	struct db	*db = db_acquire(fx.pool);
	int		 n = 0;

	ck_assert_ptr_nonnull(db);
	ck_assert_int_eq(handoff_sweep_any_org(db, &n), DB_OK);
	db_release(db);
}

/* GETs path and tells whether its body contains needle. */
static bool
page_has(struct client *c, const char *path, const char *needle)
{
	struct hresp	 r;
	bool		 has;

	hget(c, path, 200, &r);
	has = strstr(r.body, needle) != NULL;
	hresp_free(&r);
	return has;
}

/* --- triggers -------------------------------------------------------- */

START_TEST(t_keyword)
{
	int64_t	 chat;
	char	*st;

	twilio_in(TW_NUMBER, "+15558880001", "I want to speak to a HUMAN agent!");
	assert_handoff_once("keyword");
	ck_assert_int_eq(hfake_log_count(&fx.llm), 0);
	chat = chat_of("+15558880001");
	st = status_of(chat);
	ck_assert_str_eq(st, "needs_human");
	free(st);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE chat_id = "
	    "%lld AND sender = 'handoff' AND status = 'sent'", (long long)chat),
	    1);
	/* Whole words only: "humane" is no keyword. */
	twilio_in(TW_NUMBER, "+15558880002", "Is this humane?");
	ck_assert(wait_wa_texts(2, WAIT_MS));
	st = status_of(chat_of("+15558880002"));
	ck_assert_str_eq(st, "ai");
	free(st);
}
END_TEST

START_TEST(t_model_tool_call)
{
	char	*st;

	hfake_queue(&fx.llm, "[{\"tool_calls\":[{\"name\":"
	    "\"handoff_request\",\"arguments\":{\"reason\":\"wants a refund\"}}]},"
	    "{\"content\":\"A colleague will help you.\"}]");
	twilio_in(TW_NUMBER, "+15558880101", "Refund me now");
	assert_handoff_once("tool call");
	st = status_of(chat_of("+15558880101"));
	ck_assert_str_eq(st, "needs_human");
	free(st);
	ck_assert_int_eq(sqli("SELECT count(*) FROM handoffs WHERE reason = "
	    "'wants a refund'"), 1);
}
END_TEST

/*
 * Issue 12: an outage is waited out, and a handoff for failure comes only
 * when the agent's window is spent (1 s here: two failed turns); nobody
 * claims the chat, so when the model answers again (the probe) the chat
 * returns to the AI and the user gets the answer to what they asked.
 */
START_TEST(t_gateway_failures)
{
	char	*st, *want;
	int64_t	 chat;
	cJSON	*log;

	free(sqls("UPDATE agents SET outage_window_s = 1 WHERE id = %lld",
	    (long long)bot_id));
	/* Each gateway call tries 3 times (the client's retries): two
	 * failed turns, then the model is back. */
	hfake_queue(&fx.llm, "[{\"status\":500},{\"status\":500},"
	    "{\"status\":500},{\"status\":500},{\"status\":500},"
	    "{\"status\":500}]");
	twilio_in(TW_NUMBER, "+15558880201", "Are you up?");
	ck_assert_msg(wait_wa_texts(1, WAIT_MS), "no handoff text");
	chat = chat_of("+15558880201");
	/* Handed over for the outage (the probe comes 5 s later). */
	ck_assert_int_eq(sqli("SELECT count(*) FROM chats WHERE id = %lld AND "
	    "status = 'needs_human' AND handoff_reason = 'outage'",
	    (long long)chat), 1);
	/* …and recorded as a handoff, as a model's request is. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM handoffs WHERE agent_id = "
	    "%lld AND reason = $$%s$$ AND contact <> ''", (long long)bot_id,
	    HANDOFF_OUTAGE_TEXT), 1);
	/* The probe: the model answers, the chat is the AI's again. */
	ck_assert_msg(wait_wa_texts(2, 40000), "no answer after recovery");
	ck_assert(hpg_wait_int(&fx.pg, 1, WAIT_MS, "SELECT count(*) FROM chats "
	    "WHERE id = %lld AND status = 'ai'", (long long)chat));
	want = chat_text_render(TEXT_HANDOFF, NULL, &(struct text_vars){ 0 });
	ck_assert_int_eq(wa_texts(&log), 2);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 0)), want);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 1)),
	    "Echo: Are you up?");
	cJSON_Delete(log);
	free(want);
	st = status_of(chat);
	ck_assert_str_eq(st, "ai");
	free(st);
	/* The timeline says the chat is back with the AI (a note, never
	 * sent). */
	want = chat_text_render(TEXT_RETURNED, NULL, &(struct text_vars){
	    .agent = "Bot" });
	ck_assert_msg(sqli("SELECT count(*) FROM messages WHERE chat_id = "
	    "%lld AND sender = 'system' AND provider_message_id IS NULL AND "
	    "body = $$%s$$", (long long)chat, want) == 1, "no note \"%s\"",
	    want);
	free(want);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE chat_id = "
	    "%lld AND body = 'Are you up?' AND answered_by IS NOT NULL",
	    (long long)chat), 1);
	hassert_none_left_behind(&fx.pg, WAIT_MS);
	free(sqls("UPDATE agents SET outage_window_s = 600 WHERE id = %lld",
	    (long long)bot_id));
}
END_TEST

START_TEST(t_offline_no_answer)
{
	char	*st;

	twilio_in(FAQ_NUMBER, "+15558880301", "Do you sell bicycles?");
	assert_handoff_once("offline model");
	ck_assert_int_eq(hfake_log_count(&fx.llm), 0);
	st = status_of(sqli("SELECT id FROM chats WHERE channel_id = %lld "
	    "AND external_id = '+15558880301'", (long long)faq_ch_id));
	ck_assert_str_eq(st, "needs_human");
	free(st);
}
END_TEST

/* --- silence, claim, reply, return, close ---------------------------- */

START_TEST(t_silent_claim_reply_return_close)
{
	struct client	 c;
	const char	*sid;
	int64_t		 chat, t1, t2;
	cJSON		*log;
	char		*st;

	twilio_in(TW_NUMBER, "+15558880401", "human please");
	assert_handoff_once("keyword");
	chat = chat_of("+15558880401");
	t1 = sqli("SELECT id FROM threads WHERE chat_id = %lld AND closed_at "
	    "IS NULL", (long long)chat);

	/* needs_human: stored, not answered. */
	sid = twilio_in(TW_NUMBER, "+15558880401", "hello? anyone?");
	ck_assert(hwait_reply_done(&fx.pg, sid, WAIT_MS));
	usleep(QUIET_MS * 1000);
	ck_assert_int_eq(wa_texts(NULL), 1);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 0);

	/* A member claims and replies. */
	hlogin(&c, fx.srv.base, MEMBER_EMAIL, MEMBER_PW);
	ck_assert_int_eq(post_action(&c, chat, "claim", NULL), 303);
	st = status_of(chat);
	ck_assert_str_eq(st, "human");
	free(st);
	ck_assert_int_eq(sqli("SELECT count(*) FROM chats c JOIN users u ON "
	    "u.id = c.assigned_user_id WHERE c.id = %lld AND u.email = '%s'",
	    (long long)chat, MEMBER_EMAIL), 1);
	sid = twilio_in(TW_NUMBER, "+15558880401", "still there?");
	ck_assert(hwait_reply_done(&fx.pg, sid, WAIT_MS));
	ck_assert_int_eq(post_action(&c, chat, "reply", "Hi, this is Mia."),
	    303);
	ck_assert(wait_wa_texts(2, WAIT_MS));
	wa_texts(&log);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 1)),
	    "Hi, this is Mia.");
	cJSON_Delete(log);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages m JOIN users u ON "
	    "u.id = m.author_user_id WHERE m.chat_id = %lld AND m.body = "
	    "'Hi, this is Mia.' AND m.status = 'sent' AND u.email = '%s'",
	    (long long)chat, MEMBER_EMAIL), 1);
	usleep(QUIET_MS * 1000);
	ck_assert_int_eq(wa_texts(NULL), 2);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 0);

	/* Return: ai again, a new thread, the model answers. */
	ck_assert_int_eq(post_action(&c, chat, "return", NULL), 303);
	st = status_of(chat);
	ck_assert_str_eq(st, "ai");
	free(st);
	twilio_in(TW_NUMBER, "+15558880401", "thanks, bye");
	ck_assert(wait_wa_texts(3, WAIT_MS));
	wa_texts(&log);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 2)),
	    "Echo: thanks, bye");
	cJSON_Delete(log);
	t2 = sqli("SELECT thread_id FROM messages WHERE body = 'thanks, bye'");
	ck_assert_int_gt(t2, 0);
	ck_assert_int_ne(t1, t2);

	/* Close, then a new message reopens it as ai. */
	ck_assert_int_eq(post_action(&c, chat, "close", NULL), 303);
	st = status_of(chat);
	ck_assert_str_eq(st, "closed");
	free(st);
	ck_assert_int_eq(sqli("SELECT count(*) FROM threads WHERE chat_id = "
	    "%lld AND closed_at IS NULL", (long long)chat), 0);
	twilio_in(TW_NUMBER, "+15558880401", "one more thing");
	ck_assert(wait_wa_texts(4, WAIT_MS));
	st = status_of(chat);
	ck_assert_str_eq(st, "ai");
	free(st);
	ck_assert_int_gt(sqli("SELECT thread_id FROM messages WHERE body = "
	    "'one more thing'"), t2);
}
END_TEST

/* A reply job waiting on the model when the chat is claimed sends nothing. */
START_TEST(t_race_claim_during_model)
{
	struct client	 c;
	int64_t		 chat, deadline;

	hfake_queue(&fx.llm, "{\"delay_ms\":3000,\"content\":"
	    "\"Too late.\"}");
	twilio_in(TW_NUMBER, "+15558880501", "Think about it");
	deadline = time_mono_ms() + WAIT_MS;
	while (hfake_log_count(&fx.llm) < 1) {
		ck_assert_msg(time_mono_ms() < deadline, "never asked");
		usleep(50 * 1000);
	}
	chat = chat_of("+15558880501");
	hlogin(&c, fx.srv.base, OWNER_EMAIL, OWNER_PW);
	ck_assert_int_eq(post_action(&c, chat, "claim", NULL), 303);
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages WHERE "
	    "chat_id = %lld AND body = 'Too late.' AND status = 'failed' AND "
	    "error_text = '%s'", (long long)chat, HANDOFF_DROPPED_TEXT));
	usleep(QUIET_MS * 1000);
	ck_assert_int_eq(wa_texts(NULL), 0);
}
END_TEST

START_TEST(t_auto_return_sweep)
{
	struct client	 c;
	int64_t		 chat;
	char		*st;
	int		 before;

	twilio_in(TW_NUMBER, "+15558880601", "Hello");
	ck_assert(wait_wa_texts(1, WAIT_MS));
	chat = chat_of("+15558880601");
	hlogin(&c, fx.srv.base, MEMBER_EMAIL, MEMBER_PW);
	ck_assert_int_eq(post_action(&c, chat, "claim", NULL), 303);
	run_sweep();	/* not idle yet */
	st = status_of(chat);
	ck_assert_str_eq(st, "human");
	free(st);
	free(sqls("UPDATE chats SET last_human_at = now() - interval '25 "
	    "hours' WHERE id = %lld", (long long)chat));
	before = wa_texts(NULL);
	run_sweep();
	st = status_of(chat);
	ck_assert_str_eq(st, "ai");
	free(st);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE chat_id = "
	    "%lld AND sender = 'system' AND direction = 'out' AND status = "
	    "'sent' AND body = 'Returned to the AI after 24 hours without a "
	    "reply from the team.'", (long long)chat), 1);
	usleep(QUIET_MS * 1000);
	ck_assert_int_eq(wa_texts(NULL), before);
}
END_TEST

START_TEST(t_session_timeout)
{
	const char	*sid;
	int64_t		 t1, t2;

	sid = twilio_in(TW_NUMBER, "+15558880701", "first");
	ck_assert(wait_wa_texts(1, WAIT_MS));
	ck_assert(hwait_reply_done(&fx.pg, sid, WAIT_MS));
	t1 = sqli("SELECT thread_id FROM messages WHERE id = %lld",
	    (long long)hinbound_id(&fx.pg, sid));
	sid = twilio_in(TW_NUMBER, "+15558880701", "second");
	ck_assert(wait_wa_texts(2, WAIT_MS));
	ck_assert(hwait_reply_done(&fx.pg, sid, WAIT_MS));
	ck_assert_int_eq(sqli("SELECT thread_id FROM messages WHERE id = %lld",
	    (long long)hinbound_id(&fx.pg, sid)), t1);
	free(sqls("UPDATE messages SET created_at = now() - interval '2 days' "
	    "WHERE thread_id = %lld", (long long)t1));
	free(sqls("UPDATE threads SET started_at = now() - interval '2 days' "
	    "WHERE id = %lld", (long long)t1));
	sid = twilio_in(TW_NUMBER, "+15558880701", "third");
	ck_assert(wait_wa_texts(3, WAIT_MS));
	ck_assert(hwait_reply_done(&fx.pg, sid, WAIT_MS));
	t2 = sqli("SELECT thread_id FROM messages WHERE id = %lld",
	    (long long)hinbound_id(&fx.pg, sid));
	ck_assert_int_gt(t2, 0);
	ck_assert_int_ne(t1, t2);
	ck_assert_int_eq(sqli("SELECT count(*) FROM threads WHERE id = %lld "
	    "AND close_reason = 'timeout'", (long long)t1), 1);
}
END_TEST

START_TEST(t_other_org_404)
{
	struct client	 c;
	int64_t		 chat;
	char		*st;

	twilio_in(TW_NUMBER, "+15558880801", "human");
	assert_handoff_once("keyword");
	chat = chat_of("+15558880801");
	hlogin(&c, fx.srv.base, OTHER_EMAIL, OTHER_PW);
	ck_assert_int_eq(post_action(&c, chat, "claim", NULL), 404);
	ck_assert_int_eq(post_action(&c, chat, "reply", "hijack"), 404);
	ck_assert_int_eq(post_action(&c, chat, "return", NULL), 404);
	ck_assert_int_eq(post_action(&c, chat, "close", NULL), 404);
	st = status_of(chat);
	ck_assert_str_eq(st, "needs_human");
	free(st);
	usleep(QUIET_MS * 1000);
	ck_assert_int_eq(wa_texts(NULL), 1);
}
END_TEST

/*
 * A chat in needs_human for longer than orgs.handoff_unclaimed_minutes
 * (15 by default) is named, with a link, on the dashboard and at the top
 * of the inbox; not before, not above the setting, not to another org.
 */
START_TEST(t_unclaimed_banner)
{
	static const char	*one = "1 conversation has waited more than "
				    "15 minutes for a person";
	struct client		 c, o;
	char			 link[64];
	int64_t			 chat;

	twilio_in(TW_NUMBER, "+15558880901", "talk to sales");
	assert_handoff_once("keyword");
	chat = chat_of("+15558880901");
	snprintf(link, sizeof(link), "href=\"/conversations/%lld\"",
	    (long long)chat);
	hlogin(&c, fx.srv.base, MEMBER_EMAIL, MEMBER_PW);
	ck_assert(!page_has(&c, "/", "waited more than"));
	ck_assert(!page_has(&c, "/conversations?status=needs_human",
	    "waited more than"));

	free(sqls("UPDATE chats SET status_changed_at = now() - interval "
	    "'20 minutes' WHERE id = %lld", (long long)chat));
	ck_assert(page_has(&c, "/", one));
	ck_assert(page_has(&c, "/", link));
	ck_assert(page_has(&c, "/conversations?status=needs_human", one));
	ck_assert(page_has(&c, "/conversations?status=needs_human", link));
	ck_assert(!page_has(&c, "/conversations", "waited more than"));
	hlogin(&o, fx.srv.base, OTHER_EMAIL, OTHER_PW);
	ck_assert(!page_has(&o, "/", "waited more than"));
	ck_assert(!page_has(&o, "/conversations?status=needs_human",
	    "waited more than"));

	free(sqls("UPDATE orgs SET handoff_unclaimed_minutes = 30 WHERE id = "
	    "%lld", (long long)fx.org_id));
	ck_assert(!page_has(&c, "/", "waited more than"));
	free(sqls("UPDATE orgs SET handoff_unclaimed_minutes = 15 WHERE id = "
	    "%lld", (long long)fx.org_id));

	/* Claimed: nobody waits any more. */
	ck_assert_int_eq(post_action(&c, chat, "claim", NULL), 303);
	ck_assert(!page_has(&c, "/", "waited more than"));
	ck_assert(!page_has(&c, "/conversations?status=needs_human",
	    "waited more than"));
}
END_TEST

START_TEST(t_keyword_pure)
{
	static const char *const kw[] = { "human", "talk to sales", "" };

	ck_assert(handoff_keyword_match("HUMAN!", kw, 3));
	ck_assert(handoff_keyword_match("can I Talk To Sales?", kw, 3));
	ck_assert(!handoff_keyword_match("humane", kw, 3));
	ck_assert(!handoff_keyword_match("inhuman", kw, 3));
	ck_assert(!handoff_keyword_match("talk to salesforce", kw, 3));
	ck_assert(!handoff_keyword_match("", kw, 3));
	ck_assert(!handoff_keyword_match("anything", kw, 0));
}
END_TEST

START_TEST(t_sigterm_clean)
{
	hserver_stop_clean(&fx.srv);
}
END_TEST

/* --- fixture ---------------------------------------------------------- */

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
	faq_id = hagent_create(db, fx.org_id, "FAQ", "chat", 0);
	ck_assert_int_eq(agent_set_plugins(db, fx.org_id, bot_id,
	    (const char *const[]){ "handoff.request" }, 1, plugin_id_usable),
	    DB_OK);

	cin = (struct channel_input){ .kind = "twilio", .name = "Twilio",
	    .status = "connected", .phone_number = TW_NUMBER,
	    .twilio_account_sid = TW_SID, .twilio_auth_token = TW_TOKEN,
	    .default_agent_id = bot_id };
	tw_id = hchannel_create(db, fx.key, fx.org_id, &cin);
	cin = (struct channel_input){ .kind = "twilio", .name = "FAQ line",
	    .status = "connected", .phone_number = FAQ_NUMBER,
	    .twilio_account_sid = TW_SID, .twilio_auth_token = TW_TOKEN,
	    .default_agent_id = faq_id };
	faq_ch_id = hchannel_create(db, fx.key, fx.org_id, &cin);
	db_release(db);
	free(sqls("UPDATE agents SET escalation_keywords = "
	    "'{human,\"talk to sales\"}' WHERE id = %lld", (long long)bot_id));
	huser_create(&fx.pg, MEMBER_EMAIL, "My Organization", "member",
	    MEMBER_PW);
	huser_create(&fx.pg, OTHER_EMAIL, "Other Org", "owner", OTHER_PW);
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

/* --- helpers ------------------------------------------------------------------ */

/*
 * A signed Twilio inbound message to our number `to` from `from`; its
 * MessageSid (static storage, valid until the next call).
 */
static const char *
twilio_in(const char *to, const char *from, const char *text)
{
	static char	 sid[40];

	snprintf(sid, sizeof(sid), "SM%032d", ++seq);
	htwilio_text_ok(fx.srv.base, TW_SID, TW_TOKEN, sid, from, to, text);
	return sid;
}

static Suite *
handoff_suite(void)
{
	Suite	*s = suite_create("handoff");
	TCase	*pure = tcase_create("pure");
	TCase	*tc = tcase_create("handoff");

	tcase_add_test(pure, t_keyword_pure);
	suite_add_tcase(s, pure);
	tcase_set_timeout(tc, 240);
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, NULL);
	tcase_add_test(tc, t_keyword);
	tcase_add_test(tc, t_model_tool_call);
	tcase_add_test(tc, t_gateway_failures);
	tcase_add_test(tc, t_offline_no_answer);
	tcase_add_test(tc, t_silent_claim_reply_return_close);
	tcase_add_test(tc, t_race_claim_during_model);
	tcase_add_test(tc, t_auto_return_sweep);
	tcase_add_test(tc, t_session_timeout);
	tcase_add_test(tc, t_other_org_404);
	tcase_add_test(tc, t_unclaimed_banner);
	tcase_add_test(tc, t_sigterm_clean);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(handoff_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
