/*
 * tests/integration/commands.c: what an inbound message means before the
 * model sees it (chat/commands.c, worker/reply.c): connect codes (link,
 * switch, malformed, expired, reused, the guessing limit), the reset
 * command, the welcome text, groups (one chat and thread per group, the
 * sender recorded, require_mention), busy threads, the allow-list, CHAT
 * and TASK context, and the working indicator (⏳ on Meta, typing on
 * Twilio).
 *
 * The real server (reply pool included) against a real PostgreSQL, the
 * fake LLM and the fake WhatsApp APIs; inbound messages arrive through
 * the real signed Twilio and Meta webhooks. Expected texts come from
 * chat_text_render with no overrides, so the wording lives in one place
 * (chat/texts.c). Every wait is bounded.
 *
 * The organisation has agents "Bot" (chat), "Tasker" (task) and "Helper"
 * (chat); a Twilio channel answered by Bot, a Meta channel answered by
 * Tasker, and a Twilio "Lobby" channel with no default agent (where
 * chats only get an agent by connecting). Each test uses its own
 * senders.
 */
#include "harness/model.h"
#include "harness/webhook.h"
#include "harness/world.h"

/* Formatted SQL against this suite's cluster, the text sends at its fake
 * WhatsApp (tests/harness/world.h). */
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

#include "chat/commands.h"
#include "chat/connect.h"
#include "chat/texts.h"
#include "crypto/secret.h"
#include "db/db.h"
#include "model/channel.h"
#include "util/arena.h"
#include "util/time.h"
#include "util/xmalloc.h"

#define TW_NUMBER	"+15550001111"
#define LOBBY_NUMBER	"+15550002222"
#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"0123456789abcdef0123456789abcdef"
#define META_PNID	"106540352242922"
#define META_TOKEN	"meta-access-token-0123456789"
#define META_SECRET	"meta-app-secret-0123456789"
#define WAIT_MS		20000
#define QUIET_MS	1500
#define HOURGLASS	"\xe2\x8f\xb3"

static struct hworld	 fx;
static int64_t		 bot_id, tasker_id, helper_id;
static int64_t		 tw_id, meta_id, lobby_id;
static int		 seq;

static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 test_setup(void);
static const char *twilio_in(const char *, const char *, const char *);
static const char *meta_in(const char *, const char *, const char *,
		    const char *);
static char	*expect(enum chat_text, const char *, const char *,
		    const char *, const char *, int);
static char	*new_code(int64_t, int64_t);
static void	 assert_texts(const char *const *, int);
static void	 hourglass_only(bool);

/* --- welcome ------------------------------------------------------------- */

START_TEST(t_welcome)
{
	char	*want, *got;
	cJSON	*log;

	want = expect(TEXT_WELCOME, NULL, NULL, NULL, "Parley", 0);
	twilio_in(LOBBY_NUMBER, "+15557771001", "hello?");
	ck_assert_msg(wait_wa_texts(1, WAIT_MS), "no welcome was sent");
	ck_assert_int_eq(wa_texts(&log), 1);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 0)), want);
	ck_assert_str_eq(hjstr(cJSON_GetObjectItem(cJSON_GetArrayItem(log, 0),
	    "form"), "From"), "whatsapp:" LOBBY_NUMBER);
	cJSON_Delete(log);
	free(want);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 0);
	/* Recorded as an outbound reply like any other, and sent. */
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages m "
	    "JOIN messages i ON i.id = m.reply_to_id WHERE i.body = 'hello?' "
	    "AND m.status = 'sent' AND m.llm_call_id IS NULL"));

	/* The product name comes from the organisation. */
	free(sqls("UPDATE orgs SET product_name = 'Acme Desk' WHERE id = %lld",
	    (long long)fx.org_id));
	want = expect(TEXT_WELCOME, NULL, NULL, NULL, "Acme Desk", 0);
	twilio_in(LOBBY_NUMBER, "+15557771001", "anyone?");
	ck_assert(wait_wa_texts(2, WAIT_MS));
	wa_texts(&log);
	got = xstrdup(hwa_text(cJSON_GetArrayItem(log, 1)));
	cJSON_Delete(log);
	free(sqls("UPDATE orgs SET product_name = 'Parley' WHERE id = %lld",
	    (long long)fx.org_id));
	ck_assert_str_eq(got, want);
	free(got);
	free(want);
}
END_TEST

/* --- connect and switch ------------------------------------------------------ */

START_TEST(t_connect_then_switch)
{
	char		*code, *cmd, *w[4];
	int64_t		 chat, t1, t2;
	cJSON		*log;
	const cJSON	*um;
	int		 n;

	code = new_code(bot_id, lobby_id);
	cmd = xasprintf("  Connect %s ", code);
	twilio_in(LOBBY_NUMBER, "+15557771101", cmd);
	free(cmd);
	ck_assert(wait_wa_texts(1, WAIT_MS));
	chat = sqli("SELECT id FROM chats WHERE channel_id = %lld AND "
	    "external_id = '+15557771101'", (long long)lobby_id);
	ck_assert_int_eq(sqli("SELECT agent_id FROM chats WHERE id = %lld",
	    (long long)chat), bot_id);
	ck_assert_int_eq(sqli("SELECT count(*) FROM connect_codes WHERE code "
	    "= '%s' AND used_at IS NOT NULL AND used_by_chat_id = %lld", code,
	    (long long)chat), 1);
	free(code);

	twilio_in(LOBBY_NUMBER, "+15557771101", "Remember the word apple");
	ck_assert(wait_wa_texts(2, WAIT_MS));
	t1 = sqli("SELECT thread_id FROM messages WHERE body = "
	    "'Remember the word apple'");
	ck_assert_int_gt(t1, 0);

	/* Lower case and padded: still the code; the chat switches. */
	code = new_code(helper_id, lobby_id);
	for (char *p = code; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	cmd = xasprintf("CONNECT   %s", code);
	twilio_in(LOBBY_NUMBER, "+15557771101", cmd);
	free(cmd);
	free(code);
	ck_assert(wait_wa_texts(3, WAIT_MS));
	ck_assert_int_eq(sqli("SELECT agent_id FROM chats WHERE id = %lld",
	    (long long)chat), helper_id);
	ck_assert_int_eq(sqli("SELECT count(*) FROM threads WHERE id = %lld "
	    "AND closed_at IS NOT NULL", (long long)t1), 1);

	twilio_in(LOBBY_NUMBER, "+15557771101", "Which word?");
	ck_assert(wait_wa_texts(4, WAIT_MS));
	t2 = sqli("SELECT thread_id FROM messages WHERE body = 'Which word?'");
	ck_assert_int_gt(t2, 0);
	ck_assert_int_ne(t1, t2);
	ck_assert_int_eq(sqli("SELECT agent_id FROM threads WHERE id = %lld",
	    (long long)t2), helper_id);

	w[0] = expect(TEXT_CONNECTED, "Bot", NULL, NULL, NULL, 0);
	w[1] = xstrdup("Echo: Remember the word apple");
	w[2] = expect(TEXT_SWITCHED, "Helper", "Bot", "Helper", NULL, 0);
	w[3] = xstrdup("Echo: Which word?");
	assert_texts((const char *const *)w, 4);
	for (int i = 0; i < 4; i++)
		free(w[i]);

	/* Helper (CHAT) saw its new thread only: no apple. */
	log = hfake_log(&fx.llm);
	ck_assert_int_eq(cJSON_GetArraySize(log), 2);
	um = hllm_user_messages(log, 1, &n);
	ck_assert_msg(n == 1, "Helper read %d user messages: %s, %s", n,
	    hjstr(cJSON_GetArrayItem(um, 0), "content"),
	    n > 1 ? hjstr(cJSON_GetArrayItem(um, 1), "content") : "");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(um, 0), "content"),
	    "Which word?");
	cJSON_Delete(log);
}
END_TEST

START_TEST(t_connect_malformed)
{
	const char	*bad[] = { "connect BR-12", "connect",
			    "connect \xf0\x9f\x98\x80", "CONNECT prl-12345" };
	char		*w[4];

	for (int i = 0; i < 4; i++) {
		twilio_in(LOBBY_NUMBER, "+15557771201", bad[i]);
		ck_assert_msg(wait_wa_texts(i + 1, WAIT_MS), "no answer to %s",
		    bad[i]);
		/* A code-shaped token is a connect attempt (refused); a bare
		 * "connect" or one followed by something else is not a
		 * command, and in an unlinked chat the welcome text explains
		 * codes (issue 12, "routing reads what was meant"). */
		w[i] = i == 1 || i == 2 ?
		    expect(TEXT_WELCOME, NULL, NULL, NULL, "Parley", 0) :
		    expect(TEXT_INVALID_FORMAT, NULL, NULL, NULL, NULL, 0);
	}
	assert_texts((const char *const *)w, 4);
	for (int i = 0; i < 4; i++)
		free(w[i]);
	ck_assert_int_eq(sqli("SELECT count(*) FROM chats WHERE external_id = "
	    "'+15557771201' AND agent_id IS NULL"), 1);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 0);
}
END_TEST

START_TEST(t_connect_expired_and_reused)
{
	char	*code, *cmd, *w[3];

	code = new_code(bot_id, lobby_id);
	free(sqls("UPDATE connect_codes SET expires_at = now() - interval "
	    "'1 minute' WHERE code = '%s'", code));
	cmd = xasprintf("connect %s", code);
	twilio_in(LOBBY_NUMBER, "+15557771301", cmd);
	ck_assert(wait_wa_texts(1, WAIT_MS));
	free(cmd);
	free(code);

	code = new_code(bot_id, lobby_id);
	cmd = xasprintf("connect %s", code);
	twilio_in(LOBBY_NUMBER, "+15557771302", cmd);
	ck_assert(wait_wa_texts(2, WAIT_MS));
	twilio_in(LOBBY_NUMBER, "+15557771303", cmd);	/* used */
	ck_assert(wait_wa_texts(3, WAIT_MS));
	free(cmd);
	free(code);

	w[0] = expect(TEXT_INVALID_CODE, NULL, NULL, NULL, NULL, 0);
	w[1] = expect(TEXT_CONNECTED, "Bot", NULL, NULL, NULL, 0);
	w[2] = expect(TEXT_INVALID_CODE, NULL, NULL, NULL, NULL, 0);
	assert_texts((const char *const *)w, 3);
	for (int i = 0; i < 3; i++)
		free(w[i]);
	ck_assert_int_eq(sqli("SELECT count(*) FROM chats WHERE external_id "
	    "IN ('+15557771301', '+15557771303') AND agent_id IS NULL"), 2);
	ck_assert_int_eq(sqli("SELECT agent_id FROM chats WHERE external_id = "
	    "'+15557771302'"), bot_id);
}
END_TEST

START_TEST(t_connect_guessing_limit)
{
	char	*code, *cmd, *w[6], *last;
	char	*m15, *m14;
	cJSON	*log;

	for (int i = 0; i < 5; i++) {
		twilio_in(LOBBY_NUMBER, "+15557771401", "connect PRL-ZZZZ");
		ck_assert(wait_wa_texts(i + 1, WAIT_MS));
		w[i] = expect(TEXT_INVALID_CODE, NULL, NULL, NULL, NULL, 0);
	}
	assert_texts((const char *const *)w, 5);
	for (int i = 0; i < 5; i++)
		free(w[i]);
	ck_assert_int_eq(sqli("SELECT count(*) FROM connect_attempts a JOIN "
	    "chats c ON c.id = a.chat_id WHERE c.external_id = "
	    "'+15557771401'"), 5);

	/* Locked: even a good code is refused, and the chat stays unlinked. */
	code = new_code(bot_id, lobby_id);
	cmd = xasprintf("connect %s", code);
	twilio_in(LOBBY_NUMBER, "+15557771401", cmd);
	ck_assert(wait_wa_texts(6, WAIT_MS));
	wa_texts(&log);
	last = xstrdup(hwa_text(cJSON_GetArrayItem(log, 5)));
	cJSON_Delete(log);
	m15 = expect(TEXT_TOO_MANY, NULL, NULL, NULL, NULL, 15);
	m14 = expect(TEXT_TOO_MANY, NULL, NULL, NULL, NULL, 14);
	ck_assert_msg(strcmp(last, m15) == 0 || strcmp(last, m14) == 0,
	    "not the lock text: %s", last);
	ck_assert_int_eq(sqli("SELECT count(*) FROM chats WHERE external_id = "
	    "'+15557771401' AND agent_id IS NULL"), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM connect_codes WHERE code = "
	    "'%s' AND used_at IS NULL", code), 1);
	free(m15);
	free(m14);
	free(last);
	free(cmd);
	free(code);
}
END_TEST

/* The limit also follows one sender across chats (here five groups). */
START_TEST(t_connect_limit_per_sender)
{
	char	 group[32], *code, *cmd, *last, *m15, *m14;
	cJSON	*log;

	for (int i = 0; i < 5; i++) {
		snprintf(group, sizeof(group), "grp-24%02d", i);
		meta_in("16505552401", "Kim", group, "connect PRL-ZZZZ");
		ck_assert(wait_wa_texts(i + 1, WAIT_MS));
	}
	code = new_code(helper_id, meta_id);
	cmd = xasprintf("connect %s", code);
	meta_in("16505552401", "Kim", "grp-2499", cmd);
	ck_assert(wait_wa_texts(6, WAIT_MS));
	wa_texts(&log);
	last = xstrdup(hwa_text(cJSON_GetArrayItem(log, 5)));
	cJSON_Delete(log);
	m15 = expect(TEXT_TOO_MANY, NULL, NULL, NULL, NULL, 15);
	m14 = expect(TEXT_TOO_MANY, NULL, NULL, NULL, NULL, 14);
	ck_assert_msg(strcmp(last, m15) == 0 || strcmp(last, m14) == 0,
	    "not the lock text: %s", last);
	ck_assert_int_eq(sqli("SELECT count(*) FROM chats WHERE external_id = "
	    "'grp-2499' AND agent_id IS NOT NULL"), 0);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 0);
	free(m15);
	free(m14);
	free(last);
	free(cmd);
	free(code);
}
END_TEST

/* --- reset ---------------------------------------------------------------- */

START_TEST(t_reset)
{
	int64_t		 t1, t2;
	char		*w[3];
	cJSON		*log;
	const cJSON	*um;
	int		 n;

	twilio_in(TW_NUMBER, "+15557771501", "Before the reset");
	ck_assert(wait_wa_texts(1, WAIT_MS));
	t1 = sqli("SELECT thread_id FROM messages WHERE body = "
	    "'Before the reset'");
	twilio_in(TW_NUMBER, "+15557771501", "  /RESET ");
	ck_assert(wait_wa_texts(2, WAIT_MS));
	ck_assert_int_eq(sqli("SELECT count(*) FROM threads WHERE id = %lld "
	    "AND closed_at IS NOT NULL AND close_reason = 'reset'",
	    (long long)t1), 1);
	t2 = sqli("SELECT t.id FROM threads t JOIN chats c ON c.id = "
	    "t.chat_id WHERE c.external_id = '+15557771501' AND c.channel_id = "
	    "%lld AND t.closed_at IS NULL", (long long)tw_id);
	ck_assert_int_gt(t2, 0);
	ck_assert_int_ne(t1, t2);

	twilio_in(TW_NUMBER, "+15557771501", "After the reset");
	ck_assert(wait_wa_texts(3, WAIT_MS));
	ck_assert_int_eq(sqli("SELECT thread_id FROM messages WHERE body = "
	    "'After the reset'"), t2);
	w[0] = xstrdup("Echo: Before the reset");
	w[1] = expect(TEXT_RESET, "Bot", NULL, NULL, NULL, 0);
	w[2] = xstrdup("Echo: After the reset");
	assert_texts((const char *const *)w, 3);
	for (int i = 0; i < 3; i++)
		free(w[i]);

	/* The model was asked twice, the second time without the past. */
	log = hfake_log(&fx.llm);
	ck_assert_int_eq(cJSON_GetArraySize(log), 2);
	um = hllm_user_messages(log, 1, &n);
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(um, 0), "content"),
	    "After the reset");
	cJSON_Delete(log);
}
END_TEST

/* --- groups ----------------------------------------------------------------- */

START_TEST(t_group_one_chat_one_thread)
{
	meta_in("16505551601", "Ana", "grp-1600", "Hello team");
	ck_assert(wait_wa_texts(1, WAIT_MS));
	meta_in("16505551602", "Ben", "grp-1600", "Hi Ana");
	ck_assert(wait_wa_texts(2, WAIT_MS));

	ck_assert_int_eq(sqli("SELECT count(*) FROM chats WHERE channel_id = "
	    "%lld AND external_id = 'grp-1600' AND kind = 'group'",
	    (long long)meta_id), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages m JOIN chats c "
	    "ON c.id = m.chat_id WHERE c.external_id = 'grp-1600' AND "
	    "m.direction = 'in' AND ((m.sender = '+16505551601' AND "
	    "m.sender_name = 'Ana') OR (m.sender = '+16505551602' AND "
	    "m.sender_name = 'Ben'))"), 2);
	ck_assert_int_eq(sqli("SELECT count(DISTINCT m.thread_id) FROM "
	    "messages m JOIN chats c ON c.id = m.chat_id WHERE c.external_id = "
	    "'grp-1600' AND m.thread_id IS NOT NULL"), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages m JOIN chats c "
	    "ON c.id = m.chat_id WHERE c.external_id = 'grp-1600' AND "
	    "m.thread_id IS NULL"), 0);
}
END_TEST

START_TEST(t_group_require_mention)
{
	const char	*id;
	char		*w[2];

	free(sqls("UPDATE agents SET require_mention = true WHERE id = %lld",
	    (long long)tasker_id));
	id = meta_in("16505551701", "Cleo", "grp-1700", "lunch at noon?");
	ck_assert(hwait_reply_done(&fx.pg, id, WAIT_MS));
	id = meta_in("16505551702", "Dan", "grp-1700", "the robotics club");
	ck_assert(hwait_reply_done(&fx.pg, id, WAIT_MS));
	usleep(300 * 1000);
	ck_assert_int_eq(wa_texts(NULL), 0);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 0);
	/* Stored all the same, in the group's thread. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE body = "
	    "'lunch at noon?' AND thread_id IS NOT NULL"), 1);

	meta_in("16505551701", "Cleo", "grp-1700", "@tasker what time is it");
	ck_assert(wait_wa_texts(1, WAIT_MS));
	meta_in("16505551702", "Dan", "grp-1700", "thanks, TASKER.");
	ck_assert(wait_wa_texts(2, WAIT_MS));
	w[0] = xstrdup("Echo: Cleo: @tasker what time is it");
	w[1] = xstrdup("Echo: Dan: thanks, TASKER.");
	free(sqls("UPDATE agents SET require_mention = false WHERE id = %lld",
	    (long long)tasker_id));
	assert_texts((const char *const *)w, 2);
	free(w[0]);
	free(w[1]);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 2);
}
END_TEST

/* --- busy threads ------------------------------------------------------------ */

/*
 * A message that arrives while the model works (issue 12): never dropped
 * and never answered with only "still working". Here the agent's busy
 * mode is follow-up with the acknowledgment on: the user hears TEXT_BUSY
 * at once (an acknowledgment, not the answer), then the slow answer to
 * the first message, then a follow-up turn answers the second one. (The
 * default mode, cancel and restart, is tests/integration/turns.c's.)
 */
START_TEST(t_busy_thread)
{
	int64_t	 deadline, t0;
	char	*busy;
	cJSON	*log;
	int	 n;

	free(sqls("UPDATE agents SET busy_mode = 'follow_up', busy_ack = true"
	    " WHERE id = %lld", (long long)bot_id));
	hfake_queue(&fx.llm, "{\"delay_ms\":4000,\"content\":"
	    "\"Slow answer.\"}");
	twilio_in(TW_NUMBER, "+15557771801", "Think hard");
	deadline = time_mono_ms() + WAIT_MS;
	while (hfake_log_count(&fx.llm) < 1) {
		ck_assert_msg(time_mono_ms() < deadline, "the model was never "
		    "asked");
		usleep(50 * 1000);
	}
	t0 = time_mono_ms();
	twilio_in(TW_NUMBER, "+15557771801", "Are you there?");
	ck_assert(wait_wa_texts(1, 3500));
	ck_assert_msg(time_mono_ms() - t0 < 3500, "the busy text was slow");
	busy = expect(TEXT_BUSY, "Bot", NULL, NULL, NULL, 0);
	wa_texts(&log);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 0)), busy);
	cJSON_Delete(log);
	free(busy);
	ck_assert(wait_wa_texts(3, WAIT_MS));
	wa_texts(&log);
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 1)), "Slow answer.");
	ck_assert_str_eq(hwa_text(cJSON_GetArrayItem(log, 2)),
	    "Echo: Are you there?");
	cJSON_Delete(log);
	/* The follow-up turn asked about the new message, with the first
	 * exchange as history (CHAT). */
	ck_assert_int_eq(hfake_log_count(&fx.llm), 2);
	log = hfake_log(&fx.llm);
	{
		const cJSON	*um = hllm_user_messages(log, 1, &n);

		ck_assert_int_eq(n, 3);
		ck_assert_str_eq(hjstr(cJSON_GetArrayItem(um, 0), "content"),
		    "Think hard");
		ck_assert_str_eq(hjstr(cJSON_GetArrayItem(um, 2), "content"),
		    "Are you there?");
	}
	cJSON_Delete(log);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE body IN "
	    "('Think hard', 'Are you there?') AND answered_by IS NOT NULL"), 2);
	hassert_none_left_behind(&fx.pg, WAIT_MS);
	free(sqls("UPDATE agents SET busy_mode = 'restart', busy_ack = false"
	    " WHERE id = %lld", (long long)bot_id));
}
END_TEST

/* --- allow-list ----------------------------------------------------------------- */

START_TEST(t_allow_list)
{
	char	*w[4];

	free(sqls("UPDATE agents SET allow_list = '{+15550009999}' WHERE id = "
	    "%lld", (long long)bot_id));
	free(sqls("UPDATE agents SET allow_list = '{+16505559999}' WHERE id = "
	    "%lld", (long long)tasker_id));
	twilio_in(TW_NUMBER, "+15557771901", "Let me in");
	ck_assert(wait_wa_texts(1, WAIT_MS));
	twilio_in(TW_NUMBER, "+15557771901", "/reset");
	ck_assert(wait_wa_texts(2, WAIT_MS));
	ck_assert_int_eq(hfake_log_count(&fx.llm), 0);
	/* In a group the sender counts, not the group. */
	meta_in("16505551901", "Eve", "grp-1900", "Me too");
	ck_assert(wait_wa_texts(3, WAIT_MS));
	ck_assert_int_eq(hfake_log_count(&fx.llm), 0);
	meta_in("16505559999", "Fay", "grp-1900", "I am allowed");
	ck_assert(wait_wa_texts(4, WAIT_MS));
	free(sqls("UPDATE agents SET allow_list = '{}' WHERE id IN (%lld, "
	    "%lld)", (long long)bot_id, (long long)tasker_id));
	w[0] = expect(TEXT_NOT_ALLOWED, "Bot", NULL, NULL, NULL, 0);
	w[1] = expect(TEXT_NOT_ALLOWED, "Bot", NULL, NULL, NULL, 0);
	w[2] = expect(TEXT_NOT_ALLOWED, "Tasker", NULL, NULL, NULL, 0);
	w[3] = xstrdup("Echo: Fay: I am allowed");
	assert_texts((const char *const *)w, 4);
	for (int i = 0; i < 4; i++)
		free(w[i]);
	ck_assert_int_eq(hfake_log_count(&fx.llm), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM threads t JOIN chats c ON "
	    "c.id = t.chat_id WHERE c.external_id = '+15557771901' AND "
	    "t.close_reason = 'reset'"), 0);
}
END_TEST

/* --- CHAT and TASK context ---------------------------------------------------------- */

START_TEST(t_chat_and_task_context)
{
	cJSON		*log;
	const cJSON	*um;
	int		 n;

	twilio_in(TW_NUMBER, "+15557772001", "One");
	ck_assert(wait_wa_texts(1, WAIT_MS));
	twilio_in(TW_NUMBER, "+15557772001", "Two");
	ck_assert(wait_wa_texts(2, WAIT_MS));
	meta_in("16505552001", "Gus", NULL, "Alpha");
	ck_assert(wait_wa_texts(3, WAIT_MS));
	meta_in("16505552001", "Gus", NULL, "Beta");
	ck_assert(wait_wa_texts(4, WAIT_MS));

	log = hfake_log(&fx.llm);
	ck_assert_int_eq(cJSON_GetArraySize(log), 4);
	um = hllm_user_messages(log, 1, &n);	/* Bot, CHAT */
	ck_assert_int_eq(n, 3);
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(um, 0), "content"), "One");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(um, 1), "content"),
	    "Echo: One");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(um, 2), "content"), "Two");
	um = hllm_user_messages(log, 3, &n);	/* Tasker, TASK */
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(um, 0), "content"), "Beta");
	cJSON_Delete(log);
}
END_TEST

/* --- the working indicator ------------------------------------------------------------ */

START_TEST(t_meta_hourglass)
{
	const char	*wamid;
	cJSON		*log;
	const cJSON	*j;
	int64_t		 deadline = time_mono_ms() + WAIT_MS;
	int		 n = 0;

	hourglass_only(true);
	wamid = meta_in("16505552101", "Hal", NULL, "Work on this");
	/* ⏳, the answer, then the removal: three requests, in order. */
	while (n < 3 && time_mono_ms() < deadline) {
		log = hfake_log(&fx.wa);
		n = cJSON_GetArraySize(log);
		cJSON_Delete(log);
		if (n < 3)
			usleep(50 * 1000);
	}
	usleep(300 * 1000);
	log = hfake_log(&fx.wa);
	ck_assert_int_eq(cJSON_GetArraySize(log), 3);
	j = cJSON_GetObjectItem(cJSON_GetArrayItem(log, 0), "json");
	ck_assert_str_eq(hjstr(j, "type"), "reaction");
	ck_assert_str_eq(hjstr(cJSON_GetObjectItem(j, "reaction"), "emoji"),
	    HOURGLASS);
	ck_assert_str_eq(hjstr(cJSON_GetObjectItem(j, "reaction"),
	    "message_id"), wamid);
	j = cJSON_GetObjectItem(cJSON_GetArrayItem(log, 1), "json");
	ck_assert_str_eq(hjstr(j, "type"), "text");
	ck_assert_str_eq(hjstr(cJSON_GetObjectItem(j, "text"), "body"),
	    "Echo: Work on this");
	j = cJSON_GetObjectItem(cJSON_GetArrayItem(log, 2), "json");
	ck_assert_str_eq(hjstr(j, "type"), "reaction");
	ck_assert_str_eq(hjstr(cJSON_GetObjectItem(j, "reaction"), "emoji"),
	    "");
	ck_assert_str_eq(hjstr(cJSON_GetObjectItem(j, "reaction"),
	    "message_id"), wamid);
	cJSON_Delete(log);
	hourglass_only(false);
}
END_TEST

/* A failing reaction never holds up the reply. */
START_TEST(t_meta_hourglass_failure_harmless)
{
	hourglass_only(true);
	hfake_queue(&fx.wa, "[{\"provider\":\"meta\",\"status\":"
	    "500},{\"provider\":\"meta\",\"status\":200},{\"provider\":"
	    "\"meta\",\"status\":400}]");
	meta_in("16505552201", "Ivy", NULL, "Still answer me");
	ck_assert(wait_wa_texts(1, WAIT_MS));
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages m JOIN "
	    "messages i ON i.id = m.reply_to_id WHERE i.body = "
	    "'Still answer me' AND m.status = 'sent'"));
	hourglass_only(false);
}
END_TEST

START_TEST(t_twilio_typing)
{
	const char	*sid;
	cJSON		*log, *e;
	int		 typing_at = -1, send_at = -1, i = 0;

	sid = twilio_in(TW_NUMBER, "+15557772301", "Type for me");
	ck_assert(wait_wa_texts(1, WAIT_MS));
	log = hfake_log(&fx.wa);
	cJSON_ArrayForEach(e, log) {
		if (strcmp(hjstr(e, "op"), "typing") == 0 && typing_at < 0) {
			typing_at = i;
			ck_assert_str_eq(hjstr(cJSON_GetObjectItem(e, "form"),
			    "messageId"), sid);
		} else if (strcmp(hjstr(e, "op"), "send") == 0 && send_at < 0)
			send_at = i;
		i++;
	}
	cJSON_Delete(log);
	ck_assert_msg(typing_at >= 0, "no typing indicator");
	ck_assert_int_lt(typing_at, send_at);
}
END_TEST

START_TEST(t_sigterm_clean)
{
	hserver_stop_clean(&fx.srv);
}
END_TEST

/* --- the pure decision (chat/commands.c), no server needed ------------------ */

START_TEST(t_route_pure)
{
	static const char *const allow[] = { "+1 555 000-9999" };
	struct arena		*a = arena_new();
	struct route_input	 in;
	struct route_decision	 d;

	ck_assert(chat_command_is_reset("  /RESET\n", "/reset"));
	ck_assert(!chat_command_is_reset("/reset now", "/reset"));
	ck_assert(!chat_command_is_reset("/reset", NULL));
	ck_assert(!chat_command_is_reset("", "  "));
	ck_assert(chat_mentions("hey @Bot!", "Bot", NULL));
	ck_assert(chat_mentions("BOT, help", "bot", NULL));
	ck_assert(!chat_mentions("the robot", "Bot", NULL));
	ck_assert(!chat_mentions("bots", "Bot", NULL));
	ck_assert(chat_mentions("@15550001111 hi", "Bot", "+15550001111"));
	ck_assert(!chat_mentions("@155500011112 hi", "Bot", "+15550001111"));
	ck_assert(chat_sender_allowed("+15550009999", allow, 1));
	ck_assert(!chat_sender_allowed("+15550009998", allow, 1));
	ck_assert(!chat_sender_allowed("", allow, 1));
	ck_assert(chat_sender_allowed("+1", NULL, 0));

	memset(&in, 0, sizeof(in));
	in.body = "hello";
	in.sender = "+15557770000";
	chat_route_decide(a, &in, &d);
	ck_assert_int_eq(d.action, ROUTE_WELCOME);
	in.body = " connect prl-ab12 ";
	chat_route_decide(a, &in, &d);
	ck_assert_int_eq(d.action, ROUTE_CONNECT);
	ck_assert_str_eq(d.code, "PRL-AB12");

	in.has_agent = true;
	in.agent_name = "Bot";
	in.reset_command = "/reset";
	in.allow_list = allow;
	in.n_allow = 1;
	in.body = "connect PRL-AB12";	/* connect beats the allow-list */
	chat_route_decide(a, &in, &d);
	ck_assert_int_eq(d.action, ROUTE_CONNECT);
	in.body = "/reset";
	chat_route_decide(a, &in, &d);
	ck_assert_int_eq(d.action, ROUTE_NOT_ALLOWED);
	in.body = "hello";
	chat_route_decide(a, &in, &d);
	ck_assert_int_eq(d.action, ROUTE_NOT_ALLOWED);
	in.sender = "+15550009999";
	chat_route_decide(a, &in, &d);
	ck_assert_int_eq(d.action, ROUTE_ANSWER);
	in.body = "/Reset";
	chat_route_decide(a, &in, &d);
	ck_assert_int_eq(d.action, ROUTE_RESET);
	in.reset_command = NULL;	/* turned off: an ordinary message */
	chat_route_decide(a, &in, &d);
	ck_assert_int_eq(d.action, ROUTE_ANSWER);

	/* Groups with require_mention: silence before "not allowed". */
	in.is_group = true;
	in.require_mention = true;
	in.sender = "+15557770000";
	in.body = "lunch?";
	chat_route_decide(a, &in, &d);
	ck_assert_int_eq(d.action, ROUTE_IGNORE);
	in.body = "lunch, @bot?";
	chat_route_decide(a, &in, &d);
	ck_assert_int_eq(d.action, ROUTE_NOT_ALLOWED);
	in.sender = "+15550009999";
	chat_route_decide(a, &in, &d);
	ck_assert_int_eq(d.action, ROUTE_ANSWER);
	arena_free(a);
}
END_TEST

/* --- fixture ---------------------------------------------------------------- */

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
	helper_id = hagent_create(db, fx.org_id, "Helper", "chat", model_id);

	cin = (struct channel_input){ .kind = "twilio", .name = "Twilio",
	    .status = "connected", .phone_number = TW_NUMBER,
	    .twilio_account_sid = TW_SID, .twilio_auth_token = TW_TOKEN,
	    .default_agent_id = bot_id };
	tw_id = hchannel_create(db, fx.key, fx.org_id, &cin);
	cin = (struct channel_input){ .kind = "twilio", .name = "Lobby",
	    .status = "connected", .phone_number = LOBBY_NUMBER,
	    .twilio_account_sid = TW_SID, .twilio_auth_token = TW_TOKEN };
	lobby_id = hchannel_create(db, fx.key, fx.org_id, &cin);
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

/*
 * A signed Meta inbound text from `from` (digits) named `name`, in group
 * `group` (NULL: a DM); its wamid (static, valid until the next call).
 */
static const char *
meta_in(const char *from, const char *name, const char *group,
    const char *text)
{
	static char	 wamid[40];
	char		*body;

	snprintf(wamid, sizeof(wamid), "wamid.cmd%06d", ++seq);
	body = hmeta_text_body(&(struct hmeta_text){ .pnid = META_PNID,
	    .from = from, .name = name, .group = group, .wamid = wamid,
	    .text = text });
	hmeta_post_ok(fx.srv.base, body, META_SECRET);
	free(body);
	return wamid;
}

/*
 * The Meta channel's agent (Tasker) shows only ⏳ while it works (on), or
 * the defaults again: the typing indicator and read receipts, no ⏳.
 */
static void
hourglass_only(bool on)
{
	free(sqls("UPDATE agents SET working_reaction = %s, typing_indicator "
	    "= %s, read_receipts = %s WHERE id = %lld", on ? "true" : "false",
	    on ? "false" : "true", on ? "false" : "true",
	    (long long)tasker_id));
}

static char *
expect(enum chat_text t, const char *agent, const char *old_agent,
    const char *new_agent, const char *product, int minutes)
{
	struct text_vars	 v;

	memset(&v, 0, sizeof(v));
	v.agent = agent;
	v.old_agent = old_agent;
	v.new_agent = new_agent;
	v.product = product;
	v.minutes = minutes;
	return chat_text_render(t, NULL, &v);
}

/* A fresh connect code for agent on channel (malloc'd). */
static char *
new_code(int64_t agent, int64_t channel)
{
	struct db		*db = db_acquire(fx.pool);
	struct arena		*a = arena_new();
	struct connect_code	 cc;
	enum db_status		 st;
	char			*code;

	ck_assert_ptr_nonnull(db);
	memset(&cc, 0, sizeof(cc));
	st = connect_code_create(db, a, fx.org_id, agent, channel, fx.user_id,
	    &cc);
	db_release(db);
	ck_assert_msg(st == DB_OK, "connect_code_create: %s",
	    db_status_str(st));
	code = xstrdup(cc.code);
	arena_free(a);
	return code;
}

/* The text sends so far are exactly want, in order. */
static void
assert_texts(const char *const *want, int n)
{
	cJSON	*log;

	ck_assert_int_eq(wa_texts(&log), n);
	for (int i = 0; i < n; i++)
		ck_assert_msg(strcmp(hwa_text(cJSON_GetArrayItem(log, i)),
		    want[i]) == 0, "send %d: want \"%s\", got \"%s\"", i,
		    want[i], hwa_text(cJSON_GetArrayItem(log, i)));
	cJSON_Delete(log);
}

static Suite *
commands_suite(void)
{
	Suite	*s = suite_create("commands");
	TCase	*pure = tcase_create("route");
	TCase	*tc = tcase_create("commands");

	tcase_add_test(pure, t_route_pure);
	suite_add_tcase(s, pure);

	tcase_set_timeout(tc, 180);
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, NULL);
	tcase_add_test(tc, t_welcome);
	tcase_add_test(tc, t_connect_then_switch);
	tcase_add_test(tc, t_connect_malformed);
	tcase_add_test(tc, t_connect_expired_and_reused);
	tcase_add_test(tc, t_connect_guessing_limit);
	tcase_add_test(tc, t_connect_limit_per_sender);
	tcase_add_test(tc, t_reset);
	tcase_add_test(tc, t_group_one_chat_one_thread);
	tcase_add_test(tc, t_group_require_mention);
	tcase_add_test(tc, t_busy_thread);
	tcase_add_test(tc, t_allow_list);
	tcase_add_test(tc, t_chat_and_task_context);
	tcase_add_test(tc, t_meta_hourglass);
	tcase_add_test(tc, t_meta_hourglass_failure_harmless);
	tcase_add_test(tc, t_twilio_typing);
	tcase_add_test(tc, t_sigterm_clean);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(commands_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
