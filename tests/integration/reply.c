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
#include "harness/harness.h"

/* Formatted SQL against this suite's cluster (tests/harness/pg.c). */
#define sqli(...)		hpg_sqlf_int(&pg, __VA_ARGS__)
#define sqls(...)		hpg_sqlf(&pg, __VA_ARGS__)
#define wait_sql(want, ms, ...)	hpg_wait_int(&pg, want, ms, __VA_ARGS__)

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "crypto/hmac.h"
#include "crypto/secret.h"
#include "db/db.h"
#include "model/agent.h"
#include "model/channel.h"
#include "model/fielderr.h"
#include "model/orgmodel.h"
#include "model/provider.h"
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

static struct hpg	 pg;
static struct hfake	 llm, wa;
static struct hserver	 srv, srv_b;
static struct db_pool	*pool;
static struct secret_key *key;
static int64_t		 org_id, bot_id, tasker_id, tw_id, meta_id;
static const char	**env;
static const char	**env_slow;

static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 test_setup(void);
static const char **make_env(bool);
static int64_t	 make_agent(struct db *, const char *, const char *,
		    int64_t);
static int64_t	 make_channel(struct db *, struct channel_input *);
static void	 twilio_form(struct hserver *, const char *,
		    const char *const (*)[2], int, long);
static void	 twilio_in(struct hserver *, const char *, const char *,
		    const char *);
static void	 twilio_status(const char *, const char *, const char *);
static void	 meta_in(const char *, const char *, const char *);
static cJSON	*fake_log(struct hfake *);
static int	 wa_sends(cJSON **);
static bool	 wait_wa_sends(int, int);
static const char *jstr(const cJSON *, const char *);
static const cJSON *wa_form(const cJSON *, int);
static void	 queue_llm(const char *);
static void	 queue_llm_content(const char *);
static int64_t	 inbound_id(const char *);

/* --- one message, one reply ------------------------------------------- */

START_TEST(t_one_message_one_reply)
{
	cJSON		*log;
	const cJSON	*f;
	int64_t		 in_id;
	char		*pid;

	queue_llm_content("Hello from Bot.");
	twilio_in(&srv, "SM00000000000000000000000000000001", "+15557770001",
	    "Hi there");
	ck_assert_msg(wait_wa_sends(1, WAIT_MS), "no send at the fake");
	in_id = inbound_id("SM00000000000000000000000000000001");
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE reply_to_id = %lld AND status = 'sent'", (long long)in_id),
	    "the part was not marked sent");

	ck_assert_int_eq(wa_sends(&log), 1);
	f = wa_form(log, 0);
	ck_assert_str_eq(jstr(f, "To"), "whatsapp:+15557770001");
	ck_assert_str_eq(jstr(f, "From"), "whatsapp:" TW_NUMBER);
	ck_assert_str_eq(jstr(f, "Body"), "Hello from Bot.");
	pid = sqls("SELECT provider_message_id FROM messages WHERE "
	    "reply_to_id = %lld", (long long)in_id);
	ck_assert_str_eq(pid, jstr(cJSON_GetArrayItem(log, 0), "id"));
	free(pid);
	cJSON_Delete(log);

	/* A replayed delivery: acknowledged, nothing new, no second send. */
	twilio_in(&srv, "SM00000000000000000000000000000001", "+15557770001",
	    "Hi there");
	usleep(1500 * 1000);
	ck_assert_int_eq(wa_sends(NULL), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id = 'SM00000000000000000000000000000001'"), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM jobs WHERE "
	    "payload->>'message_id' = '%lld'", (long long)in_id), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "reply_to_id = %lld", (long long)in_id), 1);
}
END_TEST

/* --- provider failures -------------------------------------------------- */

START_TEST(t_provider_500_then_200)
{
	cJSON	*log;
	int64_t	 in_id;

	hfake_post(&wa, "/_fake/queue", "{\"provider\":\"twilio\","
	    "\"status\":500}");
	queue_llm_content("Second time lucky.");
	twilio_in(&srv, "SM00000000000000000000000000000002", "+15557770002",
	    "Hello?");
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages m "
	    "JOIN messages i ON i.id = m.reply_to_id WHERE "
	    "i.provider_message_id = 'SM00000000000000000000000000000002' "
	    "AND m.status = 'sent'"), "never sent after the 500");
	in_id = inbound_id("SM00000000000000000000000000000002");
	ck_assert_int_eq(wa_sends(&log), 2);
	ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(log, 0), "answered")), 500);
	ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(log, 1), "answered")), 201);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "reply_to_id = %lld AND provider_message_id = '%s'",
	    (long long)in_id, jstr(cJSON_GetArrayItem(log, 1), "id")), 1);
	ck_assert_int_eq(sqli("SELECT attempts FROM messages WHERE "
	    "reply_to_id = %lld", (long long)in_id), 2);
	ck_assert_int_eq(sqli("SELECT count(*) FROM jobs WHERE status = "
	    "'done' AND attempts = 2 AND payload->>'message_id' = '%lld'",
	    (long long)in_id), 1);
	/* One model call: the retry found the recorded part. */
	cJSON_Delete(log);
	log = fake_log(&llm);
	ck_assert_int_eq(cJSON_GetArraySize(log), 1);
	cJSON_Delete(log);
}
END_TEST

START_TEST(t_provider_400_fails_the_part)
{
	int64_t	 in_id;
	char	*s;

	hfake_post(&wa, "/_fake/queue", "{\"provider\":\"twilio\","
	    "\"status\":400,\"code\":21211,\"message\":\"The 'To' number is "
	    "not a valid phone number.\"}");
	queue_llm_content("You will never see this.");
	twilio_in(&srv, "SM00000000000000000000000000000003", "+15557770003",
	    "Anyone?");
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages m "
	    "JOIN messages i ON i.id = m.reply_to_id WHERE "
	    "i.provider_message_id = 'SM00000000000000000000000000000003' "
	    "AND m.status = 'failed'"), "the part did not fail");
	in_id = inbound_id("SM00000000000000000000000000000003");
	s = sqls("SELECT error_code || ' ' || error_text FROM messages WHERE "
	    "reply_to_id = %lld", (long long)in_id);
	/* The sender words the text (channels/twilio.c); the code is the
	 * provider's own. */
	ck_assert_msg(strncmp(s, "21211 ", 6) == 0 && strlen(s) > 10,
	    "error: %s", s);
	free(s);
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM jobs WHERE "
	    "status = 'done' AND attempts = 1 AND payload->>'message_id' = "
	    "'%lld'", (long long)in_id), "the job was retried");
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

	in_id = inbound_id(provider_msg_id);
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
			sent = jstr(cJSON_GetObjectItem(cJSON_GetObjectItem(e,
			    "json"), "text"), "body");
		else
			sent = jstr(wa_form(log, i), "Body");
		ck_assert_msg(strcmp(body, sent) == 0, "part %d out of order", i);
		free(body);
	}
	cJSON_Delete(log);
}

START_TEST(t_long_reply_split_twilio)
{
	char	*text = long_answer();

	queue_llm_content(text);
	twilio_in(&srv, "SM00000000000000000000000000000004", "+15557770004",
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
	twilio_in(&srv, "SM00000000000000000000000000000005", "+15557770005",
	    "My name is Ana");
	ck_assert(wait_wa_sends(1, WAIT_MS));
	twilio_in(&srv, "SM00000000000000000000000000000006", "+15557770005",
	    "What is my name?");
	ck_assert(wait_wa_sends(2, WAIT_MS));

	log = fake_log(&llm);
	ck_assert_int_eq(cJSON_GetArraySize(log), 2);
	msgs = llm_messages(log, 1);
	n = cJSON_GetArraySize(msgs);
	first = strcmp(jstr(cJSON_GetArrayItem(msgs, 0), "role"), "system")
	    == 0 ? 1 : 0;
	ck_assert_int_eq(n - first, 3);
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(msgs, first), "role"), "user");
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(msgs, first), "content"),
	    "My name is Ana");
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(msgs, first + 1), "role"),
	    "assistant");
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(msgs, first + 1), "content"),
	    "Nice to meet you, Ana.");
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(msgs, first + 2), "content"),
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
	log = fake_log(&llm);
	ck_assert_int_eq(cJSON_GetArraySize(log), 2);
	msgs = llm_messages(log, 1);
	n = cJSON_GetArraySize(msgs);
	first = strcmp(jstr(cJSON_GetArrayItem(msgs, 0), "role"), "system")
	    == 0 ? 1 : 0;
	ck_assert_int_eq(n - first, 1);
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(msgs, first), "content"),
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
	twilio_in(&srv, "SM00000000000000000000000000000007", "+15557770007",
	    "Track me");
	ck_assert(wait_wa_sends(1, WAIT_MS));
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages WHERE "
	    "body = 'Tracked answer.' AND status = 'sent'"));
	wa_sends(&log);
	sid = xstrdup(jstr(cJSON_GetArrayItem(log, 0), "id"));
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
 * provider's answer) is never re-sent: it fails as "delivery unknown";
 * the next, still queued, part goes out.
 */
START_TEST(t_part_left_sending_is_not_resent)
{
	cJSON	*log;
	int64_t	 in_id, chat_id;
	char	*s;

	in_id = sqli("WITH c AS (INSERT INTO chats (org_id, channel_id, "
	    "external_id) VALUES (%lld, %lld, '+15557770008') RETURNING id) "
	    "INSERT INTO messages (org_id, channel_id, chat_id, direction, "
	    "provider_message_id, body) SELECT %lld, %lld, c.id, 'in', "
	    "'SM00000000000000000000000000000008', 'Hi' FROM c RETURNING id",
	    (long long)org_id, (long long)tw_id, (long long)org_id,
	    (long long)tw_id);
	chat_id = sqli("SELECT chat_id FROM messages WHERE id = %lld",
	    (long long)in_id);
	free(sqls("INSERT INTO messages (org_id, channel_id, chat_id, "
	    "direction, body, status, reply_to_id, part_no, parts, attempts) "
	    "VALUES (%lld, %lld, %lld, 'out', 'Part one', 'sending', %lld, 0, "
	    "2, 1), (%lld, %lld, %lld, 'out', 'Part two', 'queued', %lld, 1, "
	    "2, 0)", (long long)org_id, (long long)tw_id, (long long)chat_id,
	    (long long)in_id, (long long)org_id, (long long)tw_id,
	    (long long)chat_id, (long long)in_id));
	free(sqls("SELECT enqueue_job(%lld, 'reply', jsonb_build_object("
	    "'message_id', %lld)), pg_notify('parley_jobs', '')",
	    (long long)org_id, (long long)in_id));

	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages WHERE "
	    "reply_to_id = %lld AND part_no = 1 AND status = 'sent'",
	    (long long)in_id));
	s = sqls("SELECT status || ': ' || error_text FROM messages WHERE "
	    "reply_to_id = %lld AND part_no = 0", (long long)in_id);
	ck_assert_str_eq(s, "failed: delivery unknown: the worker stopped "
	    "while sending");
	free(s);
	ck_assert_int_eq(wa_sends(&log), 1);
	ck_assert_str_eq(jstr(wa_form(log, 0), "Body"), "Part two");
	cJSON_Delete(log);
	log = fake_log(&llm);
	ck_assert_int_eq(cJSON_GetArraySize(log), 0);	/* no model call */
	cJSON_Delete(log);
}
END_TEST

/* A job of another organisation naming our message answers nothing. */
START_TEST(t_job_of_another_org_sends_nothing)
{
	int64_t	 other, in_id, job;

	queue_llm_content("Ours.");
	twilio_in(&srv, "SM00000000000000000000000000000009", "+15557770009",
	    "Mine");
	ck_assert(wait_wa_sends(1, WAIT_MS));
	in_id = inbound_id("SM00000000000000000000000000000009");
	other = sqli("INSERT INTO orgs (name) VALUES ('Intruder') RETURNING "
	    "id");
	job = sqli("SELECT enqueue_job(%lld, 'reply', jsonb_build_object("
	    "'message_id', %lld)) FROM pg_notify('parley_jobs', '')",
	    (long long)other, (long long)in_id);
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM jobs WHERE id = "
	    "%lld AND status = 'done'", (long long)job));
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

	ck_assert_int_eq(hserver_stop(&srv), 0);
	hserver_start(&srv_b, &pg, env_slow);
	hfake_post(&llm, "/_fake/queue", "[{\"delay_ms\":15000,\"content\":"
	    "\"Too late.\"},{\"content\":\"Answer after the crash.\"}]");
	twilio_in(&srv_b, "SM00000000000000000000000000000010",
	    "+15557770010", "Are you there?");
	deadline = time_mono_ms() + WAIT_MS;
	for (;;) {
		log = fake_log(&llm);
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

	hserver_start(&srv, &pg, env);
	ck_assert_msg(wait_sql(1, 30000, "SELECT count(*) FROM messages m "
	    "JOIN messages i ON i.id = m.reply_to_id WHERE "
	    "i.provider_message_id = 'SM00000000000000000000000000000010' "
	    "AND m.status = 'sent'"), "the surviving server did not answer");
	ck_assert_int_eq(wa_sends(&log), 1);
	ck_assert_str_eq(jstr(wa_form(log, 0), "Body"),
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

	hserver_start(&srv_b, &pg, env);
	for (int i = 0; i < 30; i++) {
		snprintf(sid, sizeof(sid), "SM%032d", 1000 + i);
		/* One sender each: two messages of one chat at once would
		 * make the second "busy" (issue 5), not an echo. */
		snprintf(from, sizeof(from), "+1555888%04d", i);
		snprintf(text, sizeof(text), "Message %d", i);
		twilio_in(i % 2 == 0 ? &srv : &srv_b, sid, from, text);
	}
	ck_assert_msg(wait_wa_sends(30, 60000), "not every message was "
	    "answered");
	ck_assert(wait_sql(30, WAIT_MS, "SELECT count(*) FROM messages m "
	    "JOIN messages i ON i.id = m.reply_to_id WHERE i.body LIKE "
	    "'Message %%' AND m.status = 'sent'"));
	usleep(1500 * 1000);		/* late duplicates would show now */
	ck_assert_int_eq(wa_sends(&log), 30);
	cJSON_ArrayForEach(e, log) {
		const char	*body = jstr(cJSON_GetObjectItem(e, "form"),
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

	client_init(&c, srv.base);
	ck_assert(client_login(&c, OWNER_EMAIL, OWNER_PW));
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
			    strcmp(jstr(m, "body"), "Hello from the sandbox.")
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
	j = fake_log(&llm);
	{
		const cJSON	*msgs = llm_messages(j, 0);
		int		 n = cJSON_GetArraySize(msgs);

		ck_assert_str_eq(jstr(cJSON_GetArrayItem(msgs, n - 1),
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

	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	ck_assert_int_eq(agent_set_plugins(db, org_id, bot_id, ids, 3), DB_OK);
	db_release(db);
	hfake_post(&wa, "/_fake/queue", "{\"provider\":\"twilio\","
	    "\"id\":\"SMtool000000000000000000000000001\"}");
	snprintf(spec, sizeof(spec), "[{\"tool_calls\":[{\"name\":"
	    "\"whatsapp_send\",\"arguments\":{\"text\":\"A note first.\"}}]},"
	    "{\"tool_calls\":[{\"name\":\"whatsapp_getConversation\","
	    "\"arguments\":{\"limit\":5}},{\"name\":\"whatsapp_getStatus\","
	    "\"arguments\":{\"messageId\":\"SMtool000000000000000000000000001\"}}]},"
	    "{\"content\":\"And the answer.\"}]");
	queue_llm(spec);
	twilio_in(&srv, "SM00000000000000000000000000000011", "+15557770011",
	    "Use your tools");
	if (!wait_wa_sends(2, WAIT_MS)) {
		char	*dbg = sqls("SELECT coalesce(string_agg(tool_calls::text "
			    "|| ' / ' || coalesce(error, ''), ' | '), '') FROM "
			    "llm_calls WHERE agent_id = %lld", (long long)bot_id);
		char	*wl = hfake_get(&wa, "/_fake/requests");

		ck_abort_msg("want two sends; calls: %s; provider: %s", dbg,
		    wl);
	}
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages m JOIN "
	    "messages i ON i.id = m.reply_to_id WHERE i.provider_message_id = "
	    "'SM00000000000000000000000000000011' AND m.status = 'sent'"));
	wa_sends(&log);
	ck_assert_str_eq(jstr(wa_form(log, 0), "Body"), "A note first.");
	ck_assert_str_eq(jstr(wa_form(log, 0), "To"), "whatsapp:+15557770011");
	ck_assert_str_eq(jstr(wa_form(log, 1), "Body"), "And the answer.");
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

	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	ck_assert_int_eq(agent_set_plugins(db, org_id, bot_id, NULL, 0), DB_OK);
	db_release(db);
}
END_TEST

START_TEST(t_sigterm_clean)
{
	ck_assert_int_eq(hserver_stop(&srv), 0);
	ck_assert_msg(!hserver_log_contains(&srv, "runtime error") &&
	    !hserver_log_contains(&srv, "Sanitizer"), "sanitizer report in %s",
	    srv.log_path);
}
END_TEST

/* --- fixture ------------------------------------------------------------------ */

static const char **
make_env(bool slow)
{
	const char	**e = xcalloc(10, sizeof(*e));
	int		 n = 0;

	e[n++] = xasprintf("PARLEY_TWILIO_API_BASE=%s", wa.base);
	e[n++] = xasprintf("PARLEY_TWILIO_MESSAGING_BASE=%s", wa.base);
	e[n++] = xasprintf("PARLEY_META_GRAPH_BASE=%s/v24.0", wa.base);
	e[n++] = xasprintf("PARLEY_KAPSO_API_BASE=%s/meta/whatsapp/v24.0",
	    wa.base);
	e[n++] = xstrdup("PARLEY_JOB_POLL_MS=100");
	e[n++] = xstrdup("PARLEY_JOB_LEASE_SECONDS=5");
	e[n++] = xstrdup("PARLEY_WORKERS=4");
	e[n++] = xstrdup(slow ? "PARLEY_LLM_TIMEOUT_SECONDS=60" :
	    "PARLEY_LLM_TIMEOUT_SECONDS=20");
	e[n] = NULL;
	return e;
}

static void
free_env(const char **e)
{
	for (int i = 0; e != NULL && e[i] != NULL; i++)
		free((void *)(uintptr_t)e[i]);
	free((void *)e);
}

static int64_t
make_agent(struct db *db, const char *name, const char *mode,
    int64_t model_id)
{
	struct agent_input	 in;
	struct field_errors	 errs = { 0 };
	int64_t			 id = 0;
	enum db_status		 st;

	agent_input_defaults(&in);
	in.name = name;
	in.system_prompt = "You are {{agentName}}.";
	in.model_id = model_id;
	in.mode = mode;
	st = agent_create(db, org_id, &in, &errs, &id);
	ck_assert_msg(st == DB_OK, "agent_create %s: %s", name,
	    db_status_str(st));
	return id;
}

static int64_t
make_channel(struct db *db, struct channel_input *in)
{
	struct field_errors	 errs = { 0 };
	int64_t			 id = 0;
	enum db_status		 st;

	in->status = "connected";
	st = channel_create(db, key, org_id, in, &errs, &id);
	ck_assert_msg(st == DB_OK, "channel_create %s: %s (%s)", in->name,
	    db_status_str(st), errs.n > 0 ? errs.message[0] : "");
	return id;
}

static void
suite_setup(void)
{
	struct provider_input	 pin = { 0 };
	struct org_model_input	 min = { 0 };
	struct channel_input	 cin;
	struct field_errors	 errs = { 0 };
	const char		*wa_args[] = { "--twilio-token", TW_TOKEN,
				    "--meta-token", META_TOKEN, NULL };
	char			 path[600], err[256], base[128];
	struct db		*db;
	int64_t			 provider_id, model_id;

	hpg_start(&pg);
	hfake_start(&llm, "fake_llm", NULL);
	hfake_start(&wa, "fake_whatsapp", wa_args);
	env = make_env(false);
	env_slow = make_env(true);
	hserver_start(&srv, &pg, env);
	snprintf(path, sizeof(path), "%s/parley-data/master.key", pg.dir);
	ck_assert_msg(secret_key_load(path, false, &key, err, sizeof(err)),
	    "master key: %s", err);
	pool = db_pool_new(pg.conninfo, 4, 5000);
	ck_assert_ptr_nonnull(pool);
	org_id = sqli("SELECT id FROM orgs ORDER BY id LIMIT 1");

	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	snprintf(base, sizeof(base), "%s/v1", llm.base);
	pin.name = "fake";
	pin.base_url = base;
	pin.api_key = "sk-test-0123456789";
	ck_assert_int_eq(provider_create(db, key, org_id, &pin, &errs,
	    &provider_id), DB_OK);
	min.provider_id = provider_id;
	min.name = "fake-model";
	min.display_name = "Fake";
	min.supports_tools = true;
	ck_assert_int_eq(orgmodel_create(db, org_id, &min, &errs, &model_id),
	    DB_OK);
	bot_id = make_agent(db, "Bot", "chat", model_id);
	tasker_id = make_agent(db, "Tasker", "task", model_id);

	memset(&cin, 0, sizeof(cin));
	cin.kind = "twilio";
	cin.name = "Twilio";
	cin.phone_number = TW_NUMBER;
	cin.twilio_account_sid = TW_SID;
	cin.twilio_auth_token = TW_TOKEN;
	cin.default_agent_id = bot_id;
	tw_id = make_channel(db, &cin);
	memset(&cin, 0, sizeof(cin));
	cin.kind = "meta";
	cin.name = "Meta";
	cin.phone_number = "+15550783881";
	cin.phone_number_id = META_PNID;
	cin.meta_access_token = META_TOKEN;
	cin.meta_app_secret = META_SECRET;
	cin.meta_verify_token = "verify-0123456789";
	cin.default_agent_id = tasker_id;
	meta_id = make_channel(db, &cin);
	db_release(db);
}

static void
suite_teardown(void)
{
	if (srv_b.pid > 0)
		(void)hserver_stop(&srv_b);
	if (srv.pid > 0)
		(void)hserver_stop(&srv);
	db_pool_free(pool);
	secret_key_free(key);
	hfake_stop(&wa);
	hfake_stop(&llm);
	hpg_destroy(&pg);
	free_env(env);
	free_env(env_slow);
}

static void
test_setup(void)
{
	hfake_post(&llm, "/_fake/reset", "{}");
	hfake_post(&wa, "/_fake/reset", "{}");
}

/* --- helpers ------------------------------------------------------------------ */

/* POSTs form params to a Twilio path of s, signed for s's URL. */
static void
twilio_form(struct hserver *s, const char *path,
    const char *const (*params)[2], int n, long want)
{
	struct twilio_param	 p[16];
	struct client		 c;
	struct hresp		 r;
	char			 body[BODY_MAX] = "", url[512], sig[29];
	char			 h[64];
	const char		*headers[2] = { h, NULL };

	ck_assert(n <= 16);
	for (int i = 0; i < n; i++) {
		form_add(body, sizeof(body), params[i][0], params[i][1]);
		p[i].name = params[i][0];
		p[i].value = params[i][1];
	}
	snprintf(url, sizeof(url), "%s%s", s->base, path);
	hmac_twilio_sign(TW_TOKEN, url, p, (size_t)n, sig);
	snprintf(h, sizeof(h), "X-Twilio-Signature: %s", sig);
	client_init(&c, s->base);
	client_req(&c, "POST", path, body, "application/x-www-form-urlencoded",
	    headers, &r);
	ck_assert_msg(r.status == want, "POST %s: want %ld, got %ld: %s", path,
	    want, r.status, r.body);
	hresp_free(&r);
}

static void
twilio_in(struct hserver *s, const char *sid, const char *from,
    const char *text)
{
	char		 f[64], to[64], wa_id[32];
	const char	*params[][2] = {
		{ "MessageSid", sid }, { "SmsMessageSid", sid },
		{ "AccountSid", TW_SID }, { "From", f }, { "To", to },
		{ "Body", text }, { "NumMedia", "0" }, { "ProfileName", "Tess" },
		{ "WaId", wa_id }, { "ApiVersion", "2010-04-01" },
	};

	snprintf(f, sizeof(f), "whatsapp:%s", from);
	snprintf(to, sizeof(to), "whatsapp:%s", TW_NUMBER);
	snprintf(wa_id, sizeof(wa_id), "%s", from + 1);
	twilio_form(s, "/webhooks/whatsapp/twilio", params,
	    (int)(sizeof(params) / sizeof(params[0])), 200);
}

static void
twilio_status(const char *sid, const char *status, const char *code)
{
	const char	*params[][2] = {
		{ "MessageSid", sid }, { "AccountSid", TW_SID },
		{ "From", "whatsapp:" TW_NUMBER }, { "To", "whatsapp:+1555" },
		{ "MessageStatus", status }, { "ErrorCode", code ? code : "" },
	};

	twilio_form(&srv, "/webhooks/whatsapp/twilio/status", params,
	    code != NULL ? 6 : 5, 200);
}

static void
meta_in(const char *wamid, const char *from, const char *text)
{
	struct client	 c;
	struct hresp	 r;
	char		 body[BODY_MAX], hex[65], h[128];
	const char	*headers[] = { h, NULL };

	snprintf(body, sizeof(body),
	    "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":"
	    "\"WABA1\",\"changes\":[{\"field\":\"messages\",\"value\":{"
	    "\"messaging_product\":\"whatsapp\",\"metadata\":{"
	    "\"display_phone_number\":\"15550783881\",\"phone_number_id\":"
	    "\"" META_PNID "\"},\"contacts\":[{\"profile\":{\"name\":"
	    "\"Sheena\"},\"wa_id\":\"%s\"}],\"messages\":[{\"from\":\"%s\","
	    "\"id\":\"%s\",\"timestamp\":\"%lld\",\"type\":\"text\",\"text\":"
	    "{\"body\":\"%s\"}}]}}]}]}", from, from, wamid,
	    (long long)time(NULL), text);
	hmac_sha256_hex(META_SECRET, body, strlen(body), hex);
	snprintf(h, sizeof(h), "X-Hub-Signature-256: sha256=%s", hex);
	client_init(&c, srv.base);
	client_req(&c, "POST", "/webhooks/whatsapp/meta", body,
	    "application/json", headers, &r);
	ck_assert_msg(r.status == 200, "meta webhook: %ld %s", r.status,
	    r.body);
	hresp_free(&r);
}

static cJSON *
fake_log(struct hfake *f)
{
	char	*s = hfake_get(f, "/_fake/requests");
	cJSON	*j = cJSON_Parse(s);

	free(s);
	ck_assert_msg(cJSON_IsArray(j), "fake log is not an array");
	return j;
}

/* The fake WhatsApp's send requests (out, owned by the caller). */
static int
wa_sends(cJSON **out)
{
	cJSON	*log = fake_log(&wa), *sends = cJSON_CreateArray(), *e;
	int	 n;

	/* Reactions (the ⏳ working indicator, issue 5) are not replies. */
	cJSON_ArrayForEach(e, log)
		if (strcmp(jstr(e, "op"), "send") == 0 &&
		    strcmp(jstr(cJSON_GetObjectItem(e, "json"), "type"),
		    "reaction") != 0)
			cJSON_AddItemToArray(sends, cJSON_Duplicate(e, true));
	cJSON_Delete(log);
	n = cJSON_GetArraySize(sends);
	if (out != NULL)
		*out = sends;
	else
		cJSON_Delete(sends);
	return n;
}

static bool
wait_wa_sends(int want, int timeout_ms)
{
	int64_t	 deadline = time_mono_ms() + timeout_ms;

	while (time_mono_ms() < deadline) {
		if (wa_sends(NULL) >= want)
			return true;
		usleep(50 * 1000);
	}
	return wa_sends(NULL) >= want;
}

static const char *
jstr(const cJSON *o, const char *name)
{
	const char	*s = cJSON_GetStringValue(cJSON_GetObjectItem(o, name));

	return s != NULL ? s : "";
}

static const cJSON *
wa_form(const cJSON *log, int i)
{
	return cJSON_GetObjectItem(cJSON_GetArrayItem(log, i), "form");
}

static void
queue_llm(const char *spec)
{
	hfake_post(&llm, "/_fake/queue", spec);
}

static void
queue_llm_content(const char *content)
{
	cJSON	*spec = cJSON_CreateObject();
	char	*s;

	cJSON_AddStringToObject(spec, "content", content);
	s = cJSON_PrintUnformatted(spec);
	queue_llm(s);
	free(s);
	cJSON_Delete(spec);
}

static int64_t
inbound_id(const char *provider_message_id)
{
	return sqli("SELECT id FROM messages WHERE provider_message_id = '%s' "
	    "AND direction = 'in'", provider_message_id);
}

static Suite *
reply_suite(void)
{
	Suite	*s = suite_create("reply");
	TCase	*tc = tcase_create("reply");

	tcase_set_timeout(tc, 180);
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, NULL);
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
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(reply_suite());
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
