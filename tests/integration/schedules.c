/*
 * tests/integration/schedules.c: scheduled runs and heartbeats (issue
 * 14), against the real server (the ticker every 200 ms, intervals of
 * seconds allowed), a real PostgreSQL, the fake LLM (it echoes the
 * prompt) and fake_whatsapp.
 *
 *   - an interval schedule fires on time (its slot is its creation plus
 *     the interval) and its result reaches the chosen chat; the API lists
 *     the run with the target's delivery;
 *   - with two `parley serve` processes on one database every slot fires
 *     once and each run is delivered once;
 *   - after a downtime that missed three slots, the schedule runs once,
 *     not three times, and goes on from now;
 *   - the heartbeat preset (panel form: period + message) reaches the
 *     first person who wrote to the agent, and nobody else;
 *   - results held by a closed window wait in one hold with one template,
 *     and Continue delivers only the most recent one (the agent's
 *     "latest" rule; the older fails as superseded);
 *   - bad cron expressions, zones and intervals are 422 with a sentence;
 *     a cron schedule in a zone gets its next run from that zone.
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
#include "util/time.h"
#include "util/xmalloc.h"

#define META_PNID	"106540352242922"
#define META_TOKEN	"meta-access-token-0123456789"
#define META_SECRET	"meta-app-secret-0123456789"
#define META_WABA	"102290129340398"
#define KAPSO_PNID	"647015955153740"
#define KAPSO_KEY	"kapso-api-key-0123456789"
#define KAPSO_SECRET	"kapso-webhook-secret-0123456789"
#define WAIT_MS		20000
#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"

static struct hworld	 fx;
static int64_t		 bot_id, beat_id, meta_id, kapso_id;
static char		*token;
static int		 seq;

static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 test_setup(void);
static void	 meta_in(const char *, const char *);
static void	 kapso_in(const char *, const char *);
static void	 meta_tap(const char *, int64_t);
static int64_t	 chat_of(const char *);
static int	 texts_to(const char *, const char *);
static bool	 wait_texts_to(const char *, const char *, int, int);
static int64_t	 create_schedule(int64_t, const char *);
static void	 delete_schedule(int64_t, int64_t);

/* The interval's first slot is its creation plus the interval. */
START_TEST(t_interval_fires_on_time)
{
	char		 body[512], path[160];
	int64_t		 chat, sid;
	cJSON		*j;
	const cJSON	*run, *d;

	meta_in("15557660001", "hi");
	ck_assert(wait_texts_to("+15557660001", "Echo: hi", 1, WAIT_MS));
	chat = chat_of("+15557660001");
	snprintf(body, sizeof(body), "{\"name\":\"every two\","
	    "\"intervalSeconds\":2,\"prompt\":\"status please\",\"target\":"
	    "\"chats\",\"chatIds\":[%lld]}", (long long)chat);
	sid = create_schedule(bot_id, body);
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM schedule_runs "
	    "WHERE schedule_id = %lld", (long long)sid), "it never fired");
	/* Its slot, exactly; fired within two ticks and a bit after it. */
	ck_assert_int_eq(sqli("SELECT round(extract(epoch FROM r.slot_at - "
	    "s.created_at) * 1000) FROM schedule_runs r JOIN schedules s ON "
	    "s.id = r.schedule_id WHERE r.schedule_id = %lld ORDER BY r.id "
	    "LIMIT 1", (long long)sid), 2000);
	ck_assert_int_eq(sqli("SELECT count(*) FROM schedule_runs WHERE "
	    "schedule_id = %lld AND created_at - slot_at < interval "
	    "'1.5 seconds' AND id = (SELECT min(id) FROM schedule_runs WHERE "
	    "schedule_id = %lld)", (long long)sid, (long long)sid), 1);
	ck_assert(wait_texts_to("+15557660001", "Echo: status please", 1,
	    WAIT_MS));
	delete_schedule(bot_id, sid);
	ck_assert(wait_sql(0, WAIT_MS, "SELECT count(*) FROM jobs WHERE kind "
	    "= 'schedule' AND status IN ('queued', 'running')"));

	/* Run now, and the history with the target's delivery. */
	snprintf(body, sizeof(body), "{\"name\":\"by hand\","
	    "\"intervalSeconds\":3600,\"prompt\":\"now please\","
	    "\"target\":\"chats\",\"chatIds\":[%lld]}", (long long)chat);
	sid = create_schedule(bot_id, body);
	snprintf(path, sizeof(path), "/api/v1/agents/%lld/schedules/%lld/run",
	    (long long)bot_id, (long long)sid);
	cJSON_Delete(hapi_json(fx.srv.base, token, "POST", path, NULL, 202));
	ck_assert(wait_texts_to("+15557660001", "Echo: now please", 1,
	    WAIT_MS));
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM schedule_runs "
	    "WHERE schedule_id = %lld AND status = 'done'", (long long)sid));
	snprintf(path, sizeof(path), "/api/v1/agents/%lld/runs?schedule=%lld",
	    (long long)bot_id, (long long)sid);
	j = hapi_json(fx.srv.base, token, "GET", path, NULL, 200);
	run = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "data"),
	    0);
	ck_assert_str_eq(hjstr(run, "status"), "done");
	ck_assert_str_eq(hjstr(run, "result"), "Echo: now please");
	d = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(run,
	    "deliveries"), 0);
	ck_assert_str_eq(hjstr(d, "status"), "delivered");
	ck_assert_int_eq((int64_t)cJSON_GetObjectItemCaseSensitive(d,
	    "chatId")->valuedouble, chat);
	cJSON_Delete(j);
	delete_schedule(bot_id, sid);
}
END_TEST

/* Two processes on one database: every slot once, every run once. */
START_TEST(t_once_across_two_processes)
{
	struct hserver	 two;
	char		 body[512], path[160];
	int64_t		 chat, sid, runs, slots;
	cJSON		*j;

	meta_in("15557660002", "two processes");
	ck_assert(wait_texts_to("+15557660002", "Echo: two processes", 1,
	    WAIT_MS));
	chat = chat_of("+15557660002");
	hserver_start(&two, &fx.pg, fx.env.v);
	snprintf(body, sizeof(body), "{\"name\":\"every second\","
	    "\"intervalSeconds\":1,\"prompt\":\"beat\",\"target\":\"chats\","
	    "\"chatIds\":[%lld]}", (long long)chat);
	sid = create_schedule(bot_id, body);
	usleep(6500 * 1000);
	delete_schedule(bot_id, sid);
	hserver_stop_clean(&two);
	/* The runs already queued finish; then count. */
	ck_assert(wait_sql(0, WAIT_MS, "SELECT count(*) FROM jobs WHERE kind "
	    "= 'schedule' AND status IN ('queued', 'running')"));
	runs = sqli("SELECT count(*) FROM messages WHERE chat_id = %lld AND "
	    "body = 'Echo: beat'", (long long)chat);
	slots = sqli("SELECT count(DISTINCT schedule_run_id) FROM messages "
	    "WHERE chat_id = %lld AND body = 'Echo: beat'", (long long)chat);
	ck_assert_msg(runs >= 4 && runs <= 8, "%lld runs in 6.5 s",
	    (long long)runs);
	ck_assert_int_eq(runs, slots);
	/* Deleted: gone for its users, its history kept. */
	snprintf(path, sizeof(path), "/api/v1/agents/%lld/schedules/%lld",
	    (long long)bot_id, (long long)sid);
	cJSON_Delete(hapi_json(fx.srv.base, token, "GET", path, NULL, 404));
	snprintf(path, sizeof(path), "/api/v1/agents/%lld/runs?schedule=%lld",
	    (long long)bot_id, (long long)sid);
	j = hapi_json(fx.srv.base, token, "GET", path, NULL, 200);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j,
	    "data")), (int)slots);
	cJSON_Delete(j);
	ck_assert(wait_texts_to("+15557660002", "Echo: beat", (int)runs,
	    WAIT_MS));
	usleep(500 * 1000);
	ck_assert_int_eq(texts_to("+15557660002", "Echo: beat"), (int)runs);
}
END_TEST

/* Down for three slots: one run when it is back, then on schedule. */
START_TEST(t_restart_missed_three_slots)
{
	char		 body[512];
	int64_t		 chat, sid, n0, n1, last;
	char		*started;

	meta_in("15557660003", "restart");
	ck_assert(wait_texts_to("+15557660003", "Echo: restart", 1, WAIT_MS));
	chat = chat_of("+15557660003");
	snprintf(body, sizeof(body), "{\"name\":\"every three\","
	    "\"intervalSeconds\":3,\"prompt\":\"tick\",\"target\":\"chats\","
	    "\"chatIds\":[%lld]}", (long long)chat);
	sid = create_schedule(bot_id, body);
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM schedule_runs "
	    "WHERE schedule_id = %lld", (long long)sid));
	hserver_stop_clean(&fx.srv);
	n0 = sqli("SELECT count(*) FROM schedule_runs WHERE schedule_id = "
	    "%lld", (long long)sid);
	/* Three slots (and a little more) pass with nobody up. */
	usleep(10000 * 1000);
	ck_assert_int_eq(sqli("SELECT count(*) FROM schedules WHERE id = %lld "
	    "AND next_run_at < now() - interval '6 seconds'", (long long)sid),
	    1);
	last = sqli("SELECT max(id) FROM schedule_runs WHERE schedule_id = "
	    "%lld", (long long)sid);
	started = sqls("SELECT clock_timestamp()::text");
	hserver_start(&fx.srv, &fx.pg, fx.env.v);
	ck_assert(wait_sql(n0 + 1, WAIT_MS, "SELECT count(*) FROM "
	    "schedule_runs WHERE schedule_id = %lld", (long long)sid));
	usleep(1200 * 1000);
	/* The slots missed while down are one run; a later run may be the
	 * next slot on the rhythm (it falls after the restart). */
	n1 = sqli("SELECT count(*) FROM schedule_runs WHERE schedule_id = "
	    "%lld AND id > %lld AND slot_at < '%s'::timestamptz",
	    (long long)sid, (long long)last, started);
	ck_assert_msg(n1 == 1, "%lld runs for the missed slots, want 1",
	    (long long)n1);
	free(started);
	/* The next slot lies after now, on the old rhythm. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM schedules WHERE id = %lld "
	    "AND next_run_at > now() AND next_run_at <= now() + interval "
	    "'3 seconds' AND (round(extract(epoch FROM next_run_at - "
	    "created_at) * 1000)::bigint %% 3000) = 0", (long long)sid), 1);
	delete_schedule(bot_id, sid);
}
END_TEST

/* The panel's heartbeat preset reaches the first person who wrote. */
START_TEST(t_heartbeat_first_sender)
{
	struct client	 c;
	struct hresp	 r;
	char		 page[128], action[128], fields[512] = "";
	int64_t		 sid, first;

	kapso_in("+15557660010", "I was first");
	ck_assert(wait_texts_to("+15557660010", "Echo: I was first", 1,
	    WAIT_MS));
	kapso_in("+15557660011", "me second");
	ck_assert(wait_texts_to("+15557660011", "Echo: me second", 1,
	    WAIT_MS));
	first = chat_of("+15557660010");
	hlogin(&c, fx.srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(page, sizeof(page), "/agents/%lld/schedules",
	    (long long)beat_id);
	snprintf(action, sizeof(action), "/agents/%lld/heartbeat",
	    (long long)beat_id);
	form_add(fields, sizeof(fields), "period", "1");
	form_add(fields, sizeof(fields), "message", "are you there");
	form_add(fields, sizeof(fields), "recipient", "");
	hpost_form(&c, page, action, fields, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	sid = sqli("SELECT id FROM schedules WHERE agent_id = %lld AND "
	    "heartbeat", (long long)beat_id);
	ck_assert_int_gt(sid, 0);
	ck_assert(wait_texts_to("+15557660010", "Echo: are you there", 1,
	    WAIT_MS));
	ck_assert_int_eq(sqli("SELECT recipient_chat_id FROM schedules WHERE "
	    "id = %lld", (long long)sid), first);
	delete_schedule(beat_id, sid);
	ck_assert(wait_sql(0, WAIT_MS, "SELECT count(*) FROM jobs WHERE kind "
	    "= 'schedule' AND status IN ('queued', 'running')"));
	ck_assert_int_eq(texts_to("+15557660011", "Echo: are you there"), 0);

	/* A heartbeat shorter than the shortest interval is refused. */
	fields[0] = '\0';
	form_add(fields, sizeof(fields), "period", "0");
	form_add(fields, sizeof(fields), "message", "too fast");
	hpost_form(&c, page, action, fields, &r);
	ck_assert_int_eq(r.status, 422);
	hresp_has(&r, "The interval must be from 1 seconds", "the error");
	hresp_free(&r);
}
END_TEST

/*
 * Two scheduled results to a chat whose window closed: one hold, one
 * template; Continue delivers only the newer (the agent's "latest"
 * rule), the older fails as superseded; the history says so.
 */
START_TEST(t_held_results_latest_only)
{
	char		 body[512], path[160];
	int64_t		 chat, sid, hold;
	cJSON		*j;
	const cJSON	*run, *d;

	meta_in("15557660020", "results please");
	ck_assert(wait_texts_to("+15557660020", "Echo: results please", 1,
	    WAIT_MS));
	chat = chat_of("+15557660020");
	free(sqls("UPDATE chats SET last_inbound_at = now() - interval "
	    "'25 hours' WHERE id = %lld RETURNING id", (long long)chat));
	snprintf(body, sizeof(body), "{\"name\":\"daily\",\"cron\":"
	    "\"0 9 * * *\",\"timeZone\":\"Europe/Berlin\",\"prompt\":"
	    "\"report\",\"target\":\"chats\",\"chatIds\":[%lld]}",
	    (long long)chat);
	sid = create_schedule(bot_id, body);
	snprintf(path, sizeof(path), "/api/v1/agents/%lld/schedules/%lld/run",
	    (long long)bot_id, (long long)sid);
	hfake_queue(&fx.llm, "{\"content\":\"Result one\"}");
	cJSON_Delete(hapi_json(fx.srv.base, token, "POST", path, NULL, 202));
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages WHERE "
	    "chat_id = %lld AND body = 'Result one' AND status = 'held'",
	    (long long)chat));
	hfake_queue(&fx.llm, "{\"content\":\"Result two\"}");
	cJSON_Delete(hapi_json(fx.srv.base, token, "POST", path, NULL, 202));
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages WHERE "
	    "chat_id = %lld AND body = 'Result two' AND status = 'held'",
	    (long long)chat));
	ck_assert_int_eq(sqli("SELECT count(*) FROM window_holds WHERE "
	    "chat_id = %lld", (long long)chat), 1);
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages m JOIN "
	    "window_holds h ON h.template_message_id = m.id WHERE h.chat_id = "
	    "%lld AND m.status = 'sent'", (long long)chat));
	hold = sqli("SELECT id FROM window_holds WHERE chat_id = %lld",
	    (long long)chat);

	/* The runs say held, for the target. */
	snprintf(path, sizeof(path), "/api/v1/agents/%lld/runs?schedule=%lld",
	    (long long)bot_id, (long long)sid);
	j = hapi_json(fx.srv.base, token, "GET", path, NULL, 200);
	run = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "data"),
	    0);
	ck_assert_str_eq(hjstr(run, "result"), "Result two");
	ck_assert_str_eq(hjstr(run, "trigger"), "manual");
	d = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(run,
	    "deliveries"), 0);
	ck_assert_str_eq(hjstr(d, "status"), "held");
	ck_assert_str_eq(hjstr(d, "to"), "+15557660020");
	cJSON_Delete(j);

	meta_tap("15557660020", hold);
	ck_assert(wait_texts_to("+15557660020", "Result two", 1, WAIT_MS));
	usleep(800 * 1000);
	ck_assert_int_eq(texts_to("+15557660020", "Result one"), 0);
	ck_assert_int_eq(texts_to("+15557660020", "Result two"), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE chat_id = "
	    "%lld AND body = 'Result one' AND status = 'failed' AND "
	    "error_text LIKE 'Not sent: a newer scheduled result%%'",
	    (long long)chat), 1);
	j = hapi_json(fx.srv.base, token, "GET", path, NULL, 200);
	run = cJSON_GetObjectItemCaseSensitive(j, "data");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(run, 0),
	    "deliveries"), 0), "status"), "delivered");
	ck_assert_str_eq(hjstr(cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(run, 1),
	    "deliveries"), 0), "status"), "failed");
	cJSON_Delete(j);
	delete_schedule(bot_id, sid);
}
END_TEST

/* The API's schedule validation, and a cron's next run in its zone. */
START_TEST(t_schedule_validation)
{
	char		 path[128];
	cJSON		*j;
	const cJSON	*f;

	snprintf(path, sizeof(path), "/api/v1/agents/%lld/schedules",
	    (long long)bot_id);
	j = hapi_json(fx.srv.base, token, "POST", path, "{\"name\":\"x\","
	    "\"cron\":\"61 * * * *\",\"prompt\":\"p\"}", 422);
	f = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    j, "error"), "fields");
	ck_assert_str_eq(hjstr(f, "cron"), "The minute field takes values from "
	    "0 to 59.");
	cJSON_Delete(j);
	j = hapi_json(fx.srv.base, token, "POST", path, "{\"name\":\"x\","
	    "\"cron\":\"0 0 31 2 *\",\"prompt\":\"p\"}", 422);
	cJSON_Delete(j);
	j = hapi_json(fx.srv.base, token, "POST", path, "{\"name\":\"x\","
	    "\"cron\":\"0 9 * * *\",\"timeZone\":\"Mars/Olympus\","
	    "\"prompt\":\"p\"}", 422);
	f = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    j, "error"), "fields");
	ck_assert_ptr_nonnull(strstr(hjstr(f, "tz"), "Mars/Olympus"));
	cJSON_Delete(j);
	j = hapi_json(fx.srv.base, token, "POST", path, "{\"name\":\"x\","
	    "\"intervalSeconds\":\"ten\",\"prompt\":\"p\"}", 400);
	cJSON_Delete(j);
	j = hapi_json(fx.srv.base, token, "POST", path, "{\"name\":\"x\","
	    "\"intervalSeconds\":60,\"prompt\":\"p\",\"target\":"
	    "\"chats\",\"chatIds\":[999999]}", 422);
	cJSON_Delete(j);
	/* 09:30 in Kathmandu (UTC+5:45) is 03:45 UTC. */
	j = hapi_json(fx.srv.base, token, "POST", path, "{\"name\":\"k\","
	    "\"cron\":\"30 9 * * *\",\"timeZone\":\"Asia/Kathmandu\","
	    "\"prompt\":\"p\",\"enabled\":true}", 201);
	ck_assert_ptr_nonnull(strstr(hjstr(j, "nextRunAt"), "T03:45:00Z"));
	delete_schedule(bot_id, (int64_t)cJSON_GetObjectItemCaseSensitive(j,
	    "id")->valuedouble);
	cJSON_Delete(j);
}
END_TEST

/* --- set-up ------------------------------------------------------------ */

static void
suite_setup(void)
{
	struct channel_input	 cin;
	const char		*wa_args[] = { "--meta-token", META_TOKEN,
				    "--kapso-key", KAPSO_KEY, NULL };
	struct db		*db;
	int64_t			 model_id;

	hworld_start(&fx, NULL, wa_args);
	(void)hserver_stop(&fx.srv);
	hvars_set(&fx.env, "PARLEY_SCHEDULE_TICK_MS=200");
	hvars_set(&fx.env, "PARLEY_SCHEDULE_MIN_INTERVAL_SECONDS=1");
	hserver_start(&fx.srv, &fx.pg, fx.env.v);
	model_id = hworld_model(&fx, "sk-test-0123456789", true);
	db = db_acquire(fx.pool);
	ck_assert_ptr_nonnull(db);
	bot_id = hagent_create(db, fx.org_id, "Bot", "task", model_id);
	beat_id = hagent_create(db, fx.org_id, "Beat", "task", model_id);
	cin = (struct channel_input){ .kind = "meta", .name = "Meta",
	    .status = "connected", .phone_number = "+15550783881",
	    .phone_number_id = META_PNID, .meta_access_token = META_TOKEN,
	    .meta_app_secret = META_SECRET, .meta_verify_token = "verify-me",
	    .default_agent_id = bot_id };
	meta_id = hchannel_create(db, fx.key, fx.org_id, &cin);
	cin = (struct channel_input){ .kind = "kapso", .name = "Kapso",
	    .status = "connected", .phone_number = "+15551234000",
	    .phone_number_id = KAPSO_PNID, .kapso_api_key = KAPSO_KEY,
	    .kapso_webhook_secret = KAPSO_SECRET, .default_agent_id = beat_id };
	kapso_id = hchannel_create(db, fx.key, fx.org_id, &cin);
	db_release(db);
	token = htoken_create(&fx.pg, OWNER_EMAIL, "schedules", NULL);
	/* The follow-up template, on Meta. */
	hfake_post(&fx.wa, "/_fake/templates", "{\"provider\":\"meta\","
	    "\"waba\":\"" META_WABA "\",\"templates\":[{\"name\":"
	    "\"session_followup\",\"language\":\"en_US\",\"status\":"
	    "\"APPROVED\",\"category\":\"UTILITY\",\"id\":\"9001\","
	    "\"components\":[{\"type\":\"BODY\",\"text\":\"Your "
	    "result is ready.\"},{\"type\":\"BUTTONS\",\"buttons\":[{"
	    "\"type\":\"QUICK_REPLY\",\"text\":\"Continue\"}]}]}]}");
	{
		char	 path[128];

		snprintf(path, sizeof(path), "/api/v1/channels/%lld/templates",
		    (long long)meta_id);
		cJSON_Delete(hapi_json(fx.srv.base, token, "PATCH", path,
		    "{\"wabaId\":\"" META_WABA "\"}", 200));
		snprintf(path, sizeof(path), "/api/v1/channels/%lld/"
		    "templates/sync", (long long)meta_id);
		cJSON_Delete(hapi_json(fx.srv.base, token, "POST", path, NULL,
		    200));
	}
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
	hfake_reset(&fx.llm);
}

/* --- helpers ------------------------------------------------------------ */

static int64_t
create_schedule(int64_t agent_id, const char *body)
{
	char	 path[128];
	cJSON	*j;
	int64_t	 id;

	snprintf(path, sizeof(path), "/api/v1/agents/%lld/schedules",
	    (long long)agent_id);
	j = hapi_json(fx.srv.base, token, "POST", path, body, 201);
	id = (int64_t)cJSON_GetObjectItemCaseSensitive(j, "id")->valuedouble;
	cJSON_Delete(j);
	return id;
}

static void
delete_schedule(int64_t agent_id, int64_t id)
{
	char		 path[160];
	struct hresp	 r;

	snprintf(path, sizeof(path), "/api/v1/agents/%lld/schedules/%lld",
	    (long long)agent_id, (long long)id);
	hapi_want(fx.srv.base, token, "DELETE", path, NULL, 204, &r);
	hresp_free(&r);
}

static int64_t
chat_of(const char *from)
{
	return sqli("SELECT id FROM chats WHERE external_id = '%s'", from);
}

static void
meta_in(const char *from, const char *text)
{
	struct hmeta_text	 m = { .pnid = META_PNID, .from = from,
				    .name = "Tess", .text = text };
	char			 id[64], *body;

	snprintf(id, sizeof(id), "wamid.sched%d", ++seq);
	m.wamid = id;
	body = hmeta_text_body(&m);
	hmeta_post_ok(fx.srv.base, body, META_SECRET);
	free(body);
}

static void
kapso_in(const char *from, const char *text)
{
	char	 b[2048];

	snprintf(b, sizeof(b),
	    "{\"message\":{\"id\":\"wamid.ks%d\",\"timestamp\":\"%lld\","
	    "\"type\":\"text\",\"text\":{\"body\":\"%s\"},\"kapso\":{"
	    "\"direction\":\"inbound\",\"status\":\"received\"}},"
	    "\"conversation\":{\"id\":\"conv_1\",\"phone_number\":"
	    "\"%s\",\"phone_number_id\":\"" KAPSO_PNID "\"},"
	    "\"phone_number_id\":\"" KAPSO_PNID "\"}", ++seq,
	    (long long)time(NULL), text, from);
	hkapso_post_ok(fx.srv.base, HKAPSO_INBOUND,
	    "whatsapp.message.received", b, KAPSO_SECRET);
}

/* A Continue tap on Meta for hold. */
static void
meta_tap(const char *from, int64_t hold)
{
	char	 b[2048];

	snprintf(b, sizeof(b),
	    "{\"object\":\"whatsapp_business_account\",\"entry\":[{"
	    "\"id\":\"" META_WABA "\",\"changes\":[{\"field\":"
	    "\"messages\",\"value\":{\"messaging_product\":\"whatsapp\","
	    "\"metadata\":{\"display_phone_number\":\"15550783881\","
	    "\"phone_number_id\":\"" META_PNID "\"},\"contacts\":[{"
	    "\"profile\":{\"name\":\"Tess\"},\"wa_id\":\"%s\"}],"
	    "\"messages\":[{\"from\":\"%s\",\"id\":\"wamid.stap%d\","
	    "\"timestamp\":\"%lld\",\"type\":\"button\",\"button\":{"
	    "\"payload\":\"parley_continue:%lld\",\"text\":\"Continue\"}}"
	    "]}}]}]}", from, from, ++seq, (long long)time(NULL),
	    (long long)hold);
	hmeta_post_ok(fx.srv.base, b, META_SECRET);
}

/* Accepted text sends of exactly body to `to` ("+E164"). */
static int
texts_to(const char *to, const char *body)
{
	cJSON		*sends = NULL;
	const cJSON	*e, *a, *j;
	int		 n = 0;

	hwa_sends(&fx.wa, true, &sends);
	cJSON_ArrayForEach(e, sends) {
		a = cJSON_GetObjectItemCaseSensitive(e, "answered");
		j = cJSON_GetObjectItemCaseSensitive(e, "json");
		if (strcmp(hwa_text(e), body) == 0 && cJSON_IsNumber(a) &&
		    a->valueint >= 200 && a->valueint < 300 &&
		    strcmp(hjstr(j, "to"), to + (to[0] == '+' &&
		    hjstr(j, "to")[0] != '+')) == 0)
			n++;
	}
	cJSON_Delete(sends);
	return n;
}

static bool
wait_texts_to(const char *to, const char *body, int want, int timeout_ms)
{
	int64_t	 until = time_mono_ms() + timeout_ms;

	while (time_mono_ms() < until) {
		if (texts_to(to, body) >= want)
			return true;
		usleep(50 * 1000);
	}
	return texts_to(to, body) >= want;
}

static Suite *
schedules_suite(void)
{
	Suite	*s = suite_create("schedules");
	TCase	*tc = tcase_create("schedules");

	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_interval_fires_on_time);
	tcase_add_test(tc, t_once_across_two_processes);
	tcase_add_test(tc, t_restart_missed_three_slots);
	tcase_add_test(tc, t_heartbeat_first_sender);
	tcase_add_test(tc, t_held_results_latest_only);
	tcase_add_test(tc, t_schedule_validation);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(schedules_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
