/*
 * tests/integration/reply.c: the reply job end to end. The real server
 * (with its reply pool) against a real PostgreSQL, the fake LLM
 * (tests/fakes/fake_llm.c) and the fake WhatsApp APIs
 * (tests/fakes/fake_whatsapp.c); inbound messages arrive through the real,
 * signed Twilio and Meta webhooks, and the sandbox through its panel form.
 *
 * What is checked is DESIGN.md invariant 2 from the outside: one inbound
 * message, one reply at the provider, whatever happens in between
 * (replays, provider 5xx, a worker killed mid-job, two servers on one
 * database), plus splitting, provider errors, CHAT/TASK context and
 * status callbacks. Every wait is bounded.
 *
 * The organisation (the bootstrapped owner's) has a provider on the fake
 * LLM with model "fake-model", agents "Bot" (chat mode) and "Tasker"
 * (task mode), a Twilio channel answered by Bot and a Meta channel
 * answered by Tasker. Each test uses its own sender numbers.
 */
#include "harness/model.h"
#include "harness/panel.h"
#include "harness/webhook.h"
#include "harness/world.h"

/* Formatted SQL against this suite's cluster, the replies at its fake
 * WhatsApp (tests/harness). */
#define sqli(...)		hpg_sqlf_int(&fx.pg, __VA_ARGS__)
#define sqls(...)		hpg_sqlf(&fx.pg, __VA_ARGS__)
#define wait_sql(n, ms, ...)	hpg_wait_int(&fx.pg, n, ms, __VA_ARGS__)
#define wa_sends(out)		hwa_sends(&fx.wa, false, out)
#define wait_wa_sends(n, ms)	hwa_wait_sends(&fx.wa, false, n, ms)

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "crypto/secret.h"
#include "db/db.h"
#include "model/agent.h"
#include "model/channel.h"
#include "plugins/plugin.h"
#include "util/time.h"
#include "util/xmalloc.h"

#define TW_NUMBER	"+15550001111"
#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"0123456789abcdef0123456789abcdef"
#define META_PNID	"106540352242922"
#define META_TOKEN	"meta-access-token-0123456789"
#define META_SECRET	"meta-app-secret-0123456789"
#define BODY_MAX	16384
#define WAIT_MS		20000
#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"

static struct hworld	 fx;
static struct hserver	 srv_b;	/* a second one, same database */
static struct hvars	 env_slow;	/* fx.env, a 60 s model timeout */
static int64_t		 bot_id, tasker_id, tw_id, meta_id;

static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 test_setup(void);
static void	 test_teardown(void);
static void	 twilio_in(struct hserver *, const char *, const char *,
		    const char *);
static void	 twilio_status(const char *, const char *, const char *);
static void	 meta_in(const char *, const char *, const char *);
static const cJSON *wa_form(const cJSON *, int);
static void	 queue_llm_content(const char *);

/* --- one message, one reply ------------------------------------------- */

START_TEST(t_one_message_one_reply)
{
	cJSON		*log;
	const cJSON	*f;
	int64_t		 in_id;
	char		*pid;

	queue_llm_content("Hello from Bot.");
	twilio_in(&fx.srv, "SM00000000000000000000000000000001", "+15557770001",
	    "Hi there");
	ck_assert_msg(wait_wa_sends(1, WAIT_MS), "no send at the fake");
	in_id = hinbound_id(&fx.pg, "SM00000000000000000000000000000001");
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE reply_to_id = %lld AND status = 'sent'", (long long)in_id),
	    "the part was not marked sent");

	ck_assert_int_eq(wa_sends(&log), 1);
	f = wa_form(log, 0);
	ck_assert_str_eq(hjstr(f, "To"), "whatsapp:+15557770001");
	ck_assert_str_eq(hjstr(f, "From"), "whatsapp:" TW_NUMBER);
	ck_assert_str_eq(hjstr(f, "Body"), "Hello from Bot.");
	pid = sqls("SELECT provider_message_id FROM messages WHERE "
	    "reply_to_id = %lld", (long long)in_id);
	ck_assert_str_eq(pid, hjstr(cJSON_GetArrayItem(log, 0), "id"));
	free(pid);
	cJSON_Delete(log);

	/* A replayed delivery: acknowledged, nothing new, no second send. */
	twilio_in(&fx.srv, "SM00000000000000000000000000000001", "+15557770001",
	    "Hi there");
	usleep(1500 * 1000);
	ck_assert_int_eq(wa_sends(NULL), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id = 'SM00000000000000000000000000000001'"), 1);
	/* One turn answered it, and the message says which answer. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM jobs j JOIN messages m "
	    "ON j.payload->>'chat_id' = m.chat_id::text WHERE j.kind = 'turn' "
	    "AND m.id = %lld", (long long)in_id), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "reply_to_id = %lld", (long long)in_id), 1);
	ck_assert_int_eq(sqli("SELECT answered_by FROM messages WHERE id = "
	    "%lld", (long long)in_id), sqli("SELECT id FROM messages WHERE "
	    "reply_to_id = %lld", (long long)in_id));
}
END_TEST

/* --- provider failures -------------------------------------------------- */

START_TEST(t_provider_500_then_200)
{
	cJSON	*log;
	int64_t	 in_id;

	hfake_queue(&fx.wa, "{\"provider\":\"twilio\","
	    "\"status\":500}");
	queue_llm_content("Second time lucky.");
	twilio_in(&fx.srv, "SM00000000000000000000000000000002", "+15557770002",
	    "Hello?");
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages m "
	    "JOIN messages i ON i.id = m.reply_to_id WHERE "
	    "i.provider_message_id = 'SM00000000000000000000000000000002' "
	    "AND m.status = 'sent'"), "never sent after the 500");
	in_id = hinbound_id(&fx.pg, "SM00000000000000000000000000000002");
	ck_assert_int_eq(wa_sends(&log), 2);
	ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(log, 0), "answered")), 500);
	ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(log, 1), "answered")), 201);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "reply_to_id = %lld AND provider_message_id = '%s'",
	    (long long)in_id, hjstr(cJSON_GetArrayItem(log, 1), "id")), 1);
	ck_assert_int_eq(sqli("SELECT attempts FROM messages WHERE "
	    "reply_to_id = %lld", (long long)in_id), 2);
	ck_assert_int_eq(sqli("SELECT count(*) FROM jobs j JOIN messages m "
	    "ON j.payload->>'chat_id' = m.chat_id::text WHERE j.kind = 'turn' "
	    "AND j.status = 'done' AND j.attempts = 2 AND m.id = %lld",
	    (long long)in_id), 1);
	/* One model call: the retry found the recorded part. */
	cJSON_Delete(log);
	log = hfake_log(&fx.llm);
	ck_assert_int_eq(cJSON_GetArraySize(log), 1);
	cJSON_Delete(log);
}
END_TEST

START_TEST(t_provider_400_fails_the_part)
{
	int64_t	 in_id;
	char	*s;

	hfake_queue(&fx.wa, "{\"provider\":\"twilio\","
	    "\"status\":400,\"code\":21211,\"message\":\"The 'To' number is "
	    "not a valid phone number.\"}");
	queue_llm_content("You will never see this.");
	twilio_in(&fx.srv, "SM00000000000000000000000000000003", "+15557770003",
	    "Anyone?");
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages m "
	    "JOIN messages i ON i.id = m.reply_to_id WHERE "
	    "i.provider_message_id = 'SM00000000000000000000000000000003' "
	    "AND m.status = 'failed'"), "the part did not fail");
	in_id = hinbound_id(&fx.pg, "SM00000000000000000000000000000003");
	s = sqls("SELECT error_code || ' ' || error_text FROM messages WHERE "
	    "reply_to_id = %lld", (long long)in_id);
	/* The sender words the text (channels/twilio.c); the code is the
	 * provider's own. */
	ck_assert_msg(strncmp(s, "21211 ", 6) == 0 && strlen(s) > 10,
	    "error: %s", s);
	free(s);
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM jobs j JOIN "
	    "messages m ON j.payload->>'chat_id' = m.chat_id::text WHERE "
	    "j.kind = 'turn' AND j.status = 'done' AND j.attempts = 1 AND "
	    "m.id = %lld", (long long)in_id), "the turn was retried");
	usleep(1000 * 1000);
	ck_assert_int_eq(wa_sends(NULL), 1);
}
END_TEST

/* --- long answers --------------------------------------------------------- */

static char *
long_answer(void)
{
	char	*s = xmalloc(6000);
	size_t	 n = 0;

	s[0] = '\0';
	for (int i = 1; n < 5000; i++)
		n += (size_t)snprintf(s + n, 6000 - n, "This is sentence %d of "
		    "a rather long answer. ", i);
	s[n - 1] = '\0';
	return s;
}

static void
check_parts(const char *provider_msg_id, int limit, int want_parts,
    bool is_meta)
{
	cJSON	*log;
	int64_t	 in_id;
	int	 n;

	in_id = hinbound_id(&fx.pg, provider_msg_id);
	n = (int)sqli("SELECT count(*) FROM messages WHERE reply_to_id = %lld",
	    (long long)in_id);
	ck_assert_int_eq(n, want_parts);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "reply_to_id = %lld AND char_length(body) <= %d AND parts = %d",
	    (long long)in_id, limit, n), n);
	ck_assert_int_eq(wa_sends(&log), n);
	for (int i = 0; i < n; i++) {
		char		*body = sqls("SELECT body FROM messages WHERE "
				    "reply_to_id = %lld AND part_no = %d",
				    (long long)in_id, i);
		const cJSON	*e = cJSON_GetArrayItem(log, i);
		const char	*sent;

		if (is_meta)
			sent = hjstr(cJSON_GetObjectItem(cJSON_GetObjectItem(e,
			    "json"), "text"), "body");
		else
			sent = hjstr(wa_form(log, i), "Body");
		ck_assert_msg(strcmp(body, sent) == 0, "part %d out of order", i);
		free(body);
	}
	cJSON_Delete(log);
}

START_TEST(t_long_reply_split_twilio)
{
	char	*text = long_answer();

	queue_llm_content(text);
	twilio_in(&fx.srv, "SM00000000000000000000000000000004", "+15557770004",
	    "Tell me everything");
	ck_assert_msg(wait_sql(4, WAIT_MS, "SELECT count(*) FROM messages m "
	    "JOIN messages i ON i.id = m.reply_to_id WHERE "
	    "i.provider_message_id = 'SM00000000000000000000000000000004' "
	    "AND m.status = 'sent'"), "not all four parts were sent");
	check_parts("SM00000000000000000000000000000004", 1600, 4, false);
	free(text);
}
END_TEST

START_TEST(t_long_reply_split_meta)
{
	char	*text = long_answer();

	queue_llm_content(text);
	meta_in("wamid.long0001", "16505550004", "Tell me everything");
	ck_assert_msg(wait_sql(2, WAIT_MS, "SELECT count(*) FROM messages m "
	    "JOIN messages i ON i.id = m.reply_to_id WHERE "
	    "i.provider_message_id = 'wamid.long0001' AND m.status = 'sent'"),
	    "not both parts were sent");
	check_parts("wamid.long0001", 4096, 2, true);
	free(text);
}
END_TEST

/* --- context: CHAT sends the thread, TASK the message alone -------------- */

static const cJSON *
llm_messages(cJSON *log, int i)
{
	const cJSON	*body = cJSON_GetObjectItem(cJSON_GetArrayItem(log, i),
			    "body");

	return cJSON_GetObjectItem(body, "messages");
}

START_TEST(t_chat_mode_sends_history)
{
	cJSON		*log;
	const cJSON	*msgs;
	int		 n, first;

	queue_llm_content("Nice to meet you, Ana.");
	twilio_in(&fx.srv, "SM00000000000000000000000000000005", "+15557770005",
	    "My name is Ana");
	ck_assert(wait_wa_sends(1, WAIT_MS));
	twilio_in(&fx.srv, "SM00000000000000000000000000000006", "+15557770005",
	    "What is my name?");
	ck_assert(wait_wa_sends(2, WAIT_MS));

	log = hfake_log(&fx.llm);
	ck_assert_int_eq(cJSON_GetArraySize(log), 2);
	msgs = llm_messages(log, 1);
	n = cJSON_GetArraySize(msgs);
	first = strcmp(hjstr(cJSON_GetArrayItem(msgs, 0), "role"), "system")
	    == 0 ? 1 : 0;
	ck_assert_int_eq(n - first, 3);
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(msgs, first), "role"),
	    "user");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(msgs, first), "content"),
	    "My name is Ana");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(msgs, first + 1), "role"),
	    "assistant");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(msgs, first + 1), "content"),
	    "Nice to meet you, Ana.");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(msgs, first + 2), "content"),
	    "What is my name?");
	cJSON_Delete(log);
	/* Both messages and both answers live in one thread. */
	ck_assert_int_eq(sqli("SELECT count(DISTINCT thread_id) FROM messages "
	    "WHERE chat_id = (SELECT chat_id FROM messages WHERE "
	    "provider_message_id = 'SM00000000000000000000000000000005')"), 1);
}
END_TEST

START_TEST(t_task_mode_sends_the_message_alone)
{
	cJSON		*log;
	const cJSON	*msgs;
	int		 n, first;

	meta_in("wamid.task0001", "16505550005", "First task");
	ck_assert(wait_wa_sends(1, WAIT_MS));
	meta_in("wamid.task0002", "16505550005", "Second task");
	ck_assert(wait_wa_sends(2, WAIT_MS));
	log = hfake_log(&fx.llm);
	ck_assert_int_eq(cJSON_GetArraySize(log), 2);
	msgs = llm_messages(log, 1);
	n = cJSON_GetArraySize(msgs);
	first = strcmp(hjstr(cJSON_GetArrayItem(msgs, 0), "role"), "system")
	    == 0 ? 1 : 0;
	ck_assert_int_eq(n - first, 1);
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(msgs, first), "content"),
	    "Second task");
	cJSON_Delete(log);
}
END_TEST

/* --- status callbacks ------------------------------------------------------ */

START_TEST(t_status_callbacks)
{
	cJSON	*log;
	char	*sid, *st;

	queue_llm_content("Tracked answer.");
	twilio_in(&fx.srv, "SM00000000000000000000000000000007", "+15557770007",
	    "Track me");
	ck_assert(wait_wa_sends(1, WAIT_MS));
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages WHERE "
	    "body = 'Tracked answer.' AND status = 'sent'"));
	wa_sends(&log);
	sid = xstrdup(hjstr(cJSON_GetArrayItem(log, 0), "id"));
	cJSON_Delete(log);

	twilio_status(sid, "delivered", NULL);
	st = sqls("SELECT status FROM messages WHERE provider_message_id = "
	    "'%s'", sid);
	ck_assert_str_eq(st, "delivered");
	free(st);
	twilio_status(sid, "sent", NULL);	/* late: never backwards */
	st = sqls("SELECT status FROM messages WHERE provider_message_id = "
	    "'%s'", sid);
	ck_assert_str_eq(st, "delivered");
	free(st);
	twilio_status(sid, "read", NULL);
	st = sqls("SELECT status FROM messages WHERE provider_message_id = "
	    "'%s'", sid);
	ck_assert_str_eq(st, "read");
	free(st);
	free(sid);
}
END_TEST

/* --- the 'sending' ambiguity, and organisation scoping --------------------- */

/*
 * A part left 'sending' (its worker died between the mark and the
 * provider's answer, after the answer was recorded and its message
 * settled) is never re-sent: the chat's next turn finds the answer's
 * unsent parts first; part 0 fails as "delivery unknown", the next,
 * still queued, part goes out, and the model is not asked again.
 */
START_TEST(t_part_left_sending_is_not_resent)
{
	cJSON	*log;
	int64_t	 in_id, chat_id;
	char	*s;

	/* Written as ingest would: the inbound opened the 24-hour window. */
	in_id = sqli("WITH c AS (INSERT INTO chats (org_id, channel_id, "
	    "external_id, last_inbound_at) VALUES (%lld, %lld, "
	    "'+15557770008', now()) RETURNING id) "
	    "INSERT INTO messages (org_id, channel_id, chat_id, direction, "
	    "provider_message_id, body) SELECT %lld, %lld, c.id, 'in', "
	    "'SM00000000000000000000000000000008', 'Hi' FROM c RETURNING id",
	    (long long)fx.org_id, (long long)tw_id, (long long)fx.org_id,
	    (long long)tw_id);
	chat_id = sqli("SELECT chat_id FROM messages WHERE id = %lld",
	    (long long)in_id);
	free(sqls("INSERT INTO messages (org_id, channel_id, chat_id, "
	    "direction, body, status, reply_to_id, part_no, parts, attempts) "
	    "VALUES (%lld, %lld, %lld, 'out', 'Part one', 'sending', %lld, 0, "
	    "2, 1), (%lld, %lld, %lld, 'out', 'Part two', 'queued', %lld, 1, "
	    "2, 0)", (long long)fx.org_id, (long long)tw_id, (long long)chat_id,
	    (long long)in_id, (long long)fx.org_id, (long long)tw_id,
	    (long long)chat_id, (long long)in_id));
	free(sqls("UPDATE messages SET answered_by = (SELECT id FROM messages "
	    "WHERE reply_to_id = %lld AND part_no = 0) WHERE id = %lld",
	    (long long)in_id, (long long)in_id));
	free(sqls("WITH c AS (UPDATE chats SET turn_reply_to = %lld, "
	    "turn_due_at = now() WHERE id = %lld RETURNING id) "
	    "SELECT c.id, pg_notify('parley_jobs', '') FROM c",
	    (long long)in_id, (long long)chat_id));

	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages WHERE "
	    "reply_to_id = %lld AND part_no = 1 AND status = 'sent'",
	    (long long)in_id));
	s = sqls("SELECT status || ': ' || error_text FROM messages WHERE "
	    "reply_to_id = %lld AND part_no = 0", (long long)in_id);
	ck_assert_str_eq(s, "failed: delivery unknown: the worker stopped "
	    "while sending");
	free(s);
	ck_assert_int_eq(wa_sends(&log), 1);
	ck_assert_str_eq(hjstr(wa_form(log, 0), "Body"), "Part two");
	cJSON_Delete(log);
	log = hfake_log(&fx.llm);
	ck_assert_int_eq(cJSON_GetArraySize(log), 0);	/* no model call */
	cJSON_Delete(log);
}
END_TEST

/* A job of another organisation naming our message (a reply job from
 * before turns) or our chat (a turn) answers nothing. */
START_TEST(t_job_of_another_org_sends_nothing)
{
	int64_t	 other, in_id, job, turn;

	queue_llm_content("Ours.");
	twilio_in(&fx.srv, "SM00000000000000000000000000000009", "+15557770009",
	    "Mine");
	ck_assert(wait_wa_sends(1, WAIT_MS));
	in_id = hinbound_id(&fx.pg, "SM00000000000000000000000000000009");
	other = sqli("INSERT INTO orgs (name) VALUES ('Intruder') RETURNING "
	    "id");
	job = sqli("WITH j AS (INSERT INTO jobs (org_id, kind, payload) "
	    "VALUES (%lld, 'reply', jsonb_build_object('message_id', %lld)) "
	    "RETURNING id) SELECT j.id FROM j, pg_notify('parley_jobs', '')",
	    (long long)other, (long long)in_id);
	turn = sqli("WITH j AS (INSERT INTO jobs (org_id, kind, payload) "
	    "SELECT %lld, 'turn', jsonb_build_object('chat_id', chat_id) "
	    "FROM messages WHERE id = %lld RETURNING id) SELECT j.id FROM j, "
	    "pg_notify('parley_jobs', '')", (long long)other,
	    (long long)in_id);
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM jobs WHERE id = "
	    "%lld AND status = 'done'", (long long)job));
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM jobs WHERE id = "
	    "%lld AND status = 'done'", (long long)turn));
	ck_assert_int_eq(wa_sends(NULL), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE org_id = "
	    "%lld", (long long)other), 0);
}
END_TEST

/* --- crashes and concurrency ----------------------------------------------- */

/*
 * A server killed while the model is thinking: its lease runs out and
 * the surviving server answers, once.
 */
START_TEST(t_worker_killed_mid_job)
{
	cJSON	*log;
	int64_t	 deadline;

	ck_assert_int_eq(hserver_stop(&fx.srv), 0);
	hserver_start(&srv_b, &fx.pg, env_slow.v);
	hfake_queue(&fx.llm, "[{\"delay_ms\":15000,\"content\":"
	    "\"Too late.\"},{\"content\":\"Answer after the crash.\"}]");
	twilio_in(&srv_b, "SM00000000000000000000000000000010",
	    "+15557770010", "Are you there?");
	deadline = time_mono_ms() + WAIT_MS;
	for (;;) {
		log = hfake_log(&fx.llm);
		if (cJSON_GetArraySize(log) >= 1)
			break;
		cJSON_Delete(log);
		ck_assert_msg(time_mono_ms() < deadline, "the model was never "
		    "asked");
		usleep(50 * 1000);
	}
	cJSON_Delete(log);
	kill((pid_t)srv_b.pid, SIGKILL);
	(void)hserver_stop(&srv_b);	/* reaps it: 137 */

	hserver_start(&fx.srv, &fx.pg, fx.env.v);
	ck_assert_msg(wait_sql(1, 30000, "SELECT count(*) FROM messages m "
	    "JOIN messages i ON i.id = m.reply_to_id WHERE "
	    "i.provider_message_id = 'SM00000000000000000000000000000010' "
	    "AND m.status = 'sent'"), "the surviving server did not answer");
	ck_assert_int_eq(wa_sends(&log), 1);
	ck_assert_str_eq(hjstr(wa_form(log, 0), "Body"),
	    "Answer after the crash.");
	cJSON_Delete(log);
}
END_TEST

/* Two servers on one database: 30 messages, each answered exactly once. */
START_TEST(t_two_servers_thirty_messages)
{
	char	 sid[64], from[32], text[64];
	cJSON	*log, *e;
	int	 seen[30] = { 0 };

	hserver_start(&srv_b, &fx.pg, fx.env.v);
	for (int i = 0; i < 30; i++) {
		snprintf(sid, sizeof(sid), "SM%032d", 1000 + i);
		/* One sender each: two messages of one chat at once would
		 * make the second "busy" (issue 5), not an echo. */
		snprintf(from, sizeof(from), "+1555888%04d", i);
		snprintf(text, sizeof(text), "Message %d", i);
		twilio_in(i % 2 == 0 ? &fx.srv : &srv_b, sid, from, text);
	}
	ck_assert_msg(wait_wa_sends(30, 60000), "not every message was "
	    "answered");
	ck_assert(wait_sql(30, WAIT_MS, "SELECT count(*) FROM messages m "
	    "JOIN messages i ON i.id = m.reply_to_id WHERE i.body LIKE "
	    "'Message %%' AND m.status = 'sent'"));
	usleep(1500 * 1000);		/* late duplicates would show now */
	ck_assert_int_eq(wa_sends(&log), 30);
	cJSON_ArrayForEach(e, log) {
		const char	*body = hjstr(cJSON_GetObjectItem(e, "form"),
				    "Body");
		int		 k = -1;

		ck_assert_msg(sscanf(body, "Echo: Message %d", &k) == 1 &&
		    k >= 0 && k < 30, "unexpected answer %s", body);
		seen[k]++;
	}
	for (int i = 0; i < 30; i++)
		ck_assert_msg(seen[i] == 1, "message %d answered %d times", i,
		    seen[i]);
	cJSON_Delete(log);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages m JOIN messages "
	    "i ON i.id = m.reply_to_id WHERE i.body LIKE 'Message %%'"), 30);
	ck_assert_int_eq(hserver_stop(&srv_b), 0);
}
END_TEST

/* --- the sandbox ------------------------------------------------------------ */

START_TEST(t_sandbox_chat)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[128], body[1024], *csrf, *loc;
	cJSON		*j;
	int64_t		 deadline;
	bool		 answered = false;

	hlogin(&c, fx.srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/agents/%lld/sandbox", (long long)bot_id);
	client_req(&c, "GET", path, NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "/static/sandbox.js"));
	csrf = html_csrf(r.body);
	hresp_free(&r);

	queue_llm_content("Hello from the sandbox.");
	body[0] = '\0';
	form_add(body, sizeof(body), "_csrf", csrf);
	form_add(body, sizeof(body), "message", "Hi sandbox");
	form_add(body, sizeof(body), "group_id", "team-1");
	form_add(body, sizeof(body), "sender", "+15550000042");
	form_add(body, sizeof(body), "sender_name", "Zoe");
	client_req(&c, "POST", path, body, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 303);
	loc = hresp_header(&r, "Location");
	ck_assert_ptr_nonnull(strstr(loc, "group_id=team-1"));
	hresp_free(&r);

	snprintf(path, sizeof(path), "/agents/%lld/sandbox/messages?"
	    "group_id=team-1&after=0", (long long)bot_id);
	deadline = time_mono_ms() + WAIT_MS;
	while (!answered && time_mono_ms() < deadline) {
		const cJSON	*m;

		client_req(&c, "GET", path, NULL, NULL, NULL, &r);
		ck_assert_int_eq(r.status, 200);
		j = cJSON_Parse(r.body);
		hresp_free(&r);
		cJSON_ArrayForEach(m, cJSON_GetObjectItem(j, "messages"))
			if (!cJSON_IsTrue(cJSON_GetObjectItem(m, "is_in")) &&
			    strcmp(hjstr(m, "body"), "Hello from the sandbox.")
			    == 0)
				answered = true;
		cJSON_Delete(j);
		if (!answered)
			usleep(100 * 1000);
	}
	ck_assert_msg(answered, "no answer in the sandbox");
	/* The chat is a group linked to Bot; the model saw "Zoe: Hi sandbox". */
	ck_assert_int_eq(sqli("SELECT count(*) FROM chats WHERE kind = 'group' "
	    "AND agent_id = %lld AND external_id LIKE 'sandbox:%%:group:team-1'",
	    (long long)bot_id), 1);
	j = hfake_log(&fx.llm);
	{
		const cJSON	*msgs = llm_messages(j, 0);
		int		 n = cJSON_GetArraySize(msgs);

		ck_assert_str_eq(hjstr(cJSON_GetArrayItem(msgs, n - 1),
		    "content"), "Zoe: Hi sandbox");
	}
	cJSON_Delete(j);
	ck_assert_int_eq(wa_sends(NULL), 0);	/* nothing left the house */

	/* The page without JavaScript shows both, with a Refresh link. */
	client_req(&c, "GET", loc, NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "Hi sandbox"));
	ck_assert_ptr_nonnull(strstr(r.body, "Hello from the sandbox."));
	ck_assert_ptr_nonnull(strstr(r.body, "id=\"sandbox-refresh\""));
	hresp_free(&r);
	free(loc);
	free(csrf);
}
END_TEST

/* --- the WhatsApp tools ------------------------------------------------------ */

/*
 * The model calls whatsapp.send (to the current chat), then
 * whatsapp.getConversation and whatsapp.getStatus, then answers: two sends
 * at the provider, the tool's recorded as an outbound message of no
 * inbound one, and the tools' results hold what they should.
 */
START_TEST(t_whatsapp_tools)
{
	static const char *const ids[] = { "whatsapp.send",
	    "whatsapp.getConversation", "whatsapp.getStatus" };
	struct db	*db;
	cJSON		*log;
	char		*calls, *sid, spec[1024];

	db = db_acquire(fx.pool);
	ck_assert_ptr_nonnull(db);
	ck_assert_int_eq(agent_set_plugins(db, fx.org_id, bot_id, ids, 3,
	    plugin_id_usable), DB_OK);
	db_release(db);
	hfake_queue(&fx.wa, "{\"provider\":\"twilio\","
	    "\"id\":\"SMtool000000000000000000000000001\"}");
	snprintf(spec, sizeof(spec), "[{\"tool_calls\":[{\"name\":"
	    "\"whatsapp_send\",\"arguments\":{\"text\":\"A note first.\"}}]},"
	    "{\"tool_calls\":[{\"name\":\"whatsapp_getConversation\","
	    "\"arguments\":{\"limit\":5}},{\"name\":\"whatsapp_getStatus\","
	    "\"arguments\":{\"messageId\":\"SMtool000000000000000000000000001\"}}]},"
	    "{\"content\":\"And the answer.\"}]");
	hfake_queue(&fx.llm, spec);
	twilio_in(&fx.srv, "SM00000000000000000000000000000011", "+15557770011",
	    "Use your tools");
	if (!wait_wa_sends(2, WAIT_MS)) {
		char	*dbg = sqls("SELECT coalesce(string_agg(tool_calls::text "
			    "|| ' / ' || coalesce(error, ''), ' | '), '') FROM "
			    "llm_calls WHERE agent_id = %lld", (long long)bot_id);
		char	*wl = hfake_get(&fx.wa, "/_fake/requests");

		ck_abort_msg("want two sends; calls: %s; provider: %s", dbg,
		    wl);
	}
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages m JOIN "
	    "messages i ON i.id = m.reply_to_id WHERE i.provider_message_id = "
	    "'SM00000000000000000000000000000011' AND m.status = 'sent'"));
	wa_sends(&log);
	ck_assert_str_eq(hjstr(wa_form(log, 0), "Body"), "A note first.");
	ck_assert_str_eq(hjstr(wa_form(log, 0), "To"), "whatsapp:+15557770011");
	ck_assert_str_eq(hjstr(wa_form(log, 1), "Body"), "And the answer.");
	cJSON_Delete(log);
	sid = sqls("SELECT status || ' ' || provider_message_id FROM messages "
	    "WHERE direction = 'out' AND reply_to_id IS NULL AND body = "
	    "'A note first.'");
	ck_assert_str_eq(sid, "sent SMtool000000000000000000000000001");
	free(sid);
	calls = sqls("SELECT tool_calls::text FROM llm_calls WHERE agent_id = "
	    "%lld ORDER BY id DESC LIMIT 1", (long long)bot_id);
	ck_assert_msg(strstr(calls, "Use your tools") != NULL, "conversation "
	    "not read: %s", calls);
	ck_assert_msg(strstr(calls, "\\\"status\\\":\\\"sent\\\"") != NULL,
	    "status not read: %s", calls);
	free(calls);

	db = db_acquire(fx.pool);
	ck_assert_ptr_nonnull(db);
	ck_assert_int_eq(agent_set_plugins(db, fx.org_id, bot_id, NULL, 0,
	    plugin_id_usable), DB_OK);
	db_release(db);
}
END_TEST

START_TEST(t_sigterm_clean)
{
	hserver_stop_clean(&fx.srv);
}
END_TEST

/* --- fixture ------------------------------------------------------------------ */

static void
suite_setup(void)
{
	struct channel_input	 cin;
	const char		*wa_args[] = { "--twilio-token", TW_TOKEN,
				    "--meta-token", META_TOKEN, NULL };
	struct db		*db;
	int64_t			 model_id;

	hworld_start(&fx, NULL, wa_args);
	hvars_reply(&env_slow, &fx.wa);
	hvars_set(&env_slow, "PARLEY_LLM_TIMEOUT_SECONDS=60");
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
	if (srv_b.pid > 0)
		(void)hserver_stop(&srv_b);
	hworld_stop(&fx);
	hvars_free(&env_slow);
}

static void
test_setup(void)
{
	hworld_reset(&fx);
}

/* After every scenario: no message left behind. */
static void
test_teardown(void)
{
	hassert_none_left_behind(&fx.pg, WAIT_MS);
}

/* --- helpers ------------------------------------------------------------------ */

/* A signed Twilio inbound text from `from` to our number, posted to s. */
static void
twilio_in(struct hserver *s, const char *sid, const char *from,
    const char *text)
{
	htwilio_text_ok(s->base, TW_SID, TW_TOKEN, sid, from, TW_NUMBER, text);
}

static void
twilio_status(const char *sid, const char *status, const char *code)
{
	const char	*params[][2] = {
		{ "MessageSid", sid }, { "AccountSid", TW_SID },
		{ "From", "whatsapp:" TW_NUMBER }, { "To", "whatsapp:+1555" },
		{ "MessageStatus", status }, { "ErrorCode", code ? code : "" },
	};

	htwilio_post_ok(fx.srv.base, "/webhooks/whatsapp/twilio/status",
	    TW_TOKEN, params, code != NULL ? 6 : 5);
}

static void
meta_in(const char *wamid, const char *from, const char *text)
{
	char	*body = hmeta_text_body(&(struct hmeta_text){
		    .pnid = META_PNID, .from = from, .name = "Sheena",
		    .wamid = wamid, .text = text });

	hmeta_post_ok(fx.srv.base, body, META_SECRET);
	free(body);
}

static const cJSON *
wa_form(const cJSON *log, int i)
{
	return cJSON_GetObjectItem(cJSON_GetArrayItem(log, i), "form");
}

static void
queue_llm_content(const char *content)
{
	cJSON	*spec = cJSON_CreateObject();
	char	*s;

	cJSON_AddStringToObject(spec, "content", content);
	s = cJSON_PrintUnformatted(spec);
	hfake_queue(&fx.llm, s);
	free(s);
	cJSON_Delete(spec);
}

static Suite *
reply_suite(void)
{
	Suite	*s = suite_create("reply");
	TCase	*tc = tcase_create("reply");

	tcase_set_timeout(tc, 180);
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_add_test(tc, t_one_message_one_reply);
	tcase_add_test(tc, t_provider_500_then_200);
	tcase_add_test(tc, t_provider_400_fails_the_part);
	tcase_add_test(tc, t_long_reply_split_twilio);
	tcase_add_test(tc, t_long_reply_split_meta);
	tcase_add_test(tc, t_chat_mode_sends_history);
	tcase_add_test(tc, t_task_mode_sends_the_message_alone);
	tcase_add_test(tc, t_status_callbacks);
	tcase_add_test(tc, t_part_left_sending_is_not_resent);
	tcase_add_test(tc, t_job_of_another_org_sends_nothing);
	tcase_add_test(tc, t_sandbox_chat);
	tcase_add_test(tc, t_worker_killed_mid_job);
	tcase_add_test(tc, t_two_servers_thirty_messages);
	tcase_add_test(tc, t_whatsapp_tools);
	tcase_add_test(tc, t_sigterm_clean);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(reply_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
