/*
 * tests/integration/outbox.c: every message Parley sends goes through
 * chat/outbox.c, exactly once, and nothing waits on a provider holding a
 * database connection. The real server and reply pool against a real
 * PostgreSQL, the fake LLM and the fake WhatsApp APIs; inbound messages
 * arrive through the signed webhooks.
 *
 *   - two quick Resend clicks (eight, concurrently) send one copy; the
 *     failed message then says "resent as …" and loses its button;
 *   - a dead reply job's message is failed with the reason and can be
 *     resent from the timeline and from the Jobs page, once;
 *   - a person's reply and a whatsapp.send the provider answers 429 or
 *     500 are retried later by a job (not by the request) and sent once;
 *   - with a database pool of one connection, a reply and a
 *     whatsapp.send whose provider takes seconds leave the pool free
 *     meanwhile (no connection held during the call);
 *   - defect 8: the database restarting while the provider answers does
 *     not lose the provider's id (the message ends sent, and its status
 *     callback finds it);
 *   - defect 5: a message the database cannot store (a timestamp out of
 *     range) is recorded on the channel's health panel and the rest of
 *     its Meta delivery or Kapso batch is stored and acknowledged;
 *   - defect 9: a model that takes 40 s under 5-second job leases is
 *     asked exactly once per message.
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

#include <pthread.h>
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
#define KAPSO_PATH	"/webhooks/whatsapp/kapso"
#define BODY_MAX	16384
#define WAIT_MS		20000
#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define N_CLICKS	8

static struct hworld	 fx;
static int64_t		 bot_id, tw_id, meta_id, kapso_id;
static int		 seq;

static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 test_setup(void);
static const char *twilio_in(const char *, const char *);
static int64_t	 chat_of(const char *);
static int	 texts_of(const char *);
static bool	 wait_texts(const char *, int, int);
static int64_t	 failed_out(int64_t, const char *);
static long	 post_form(struct client *, const char *, const char *,
		    char **);
static char	*flash_of(struct client *, const char *);

/* --- Resend ----------------------------------------------------------- */

struct click {
	struct client	 c;
	char		 path[160];
	char		 body[512];
	long		 status;
};

static void *
click_main(void *arg)
{
	struct click	*k = arg;
	struct hresp	 r;

	client_req(&k->c, "POST", k->path, k->body, NULL, NULL, &r);
	k->status = r.status;
	hresp_free(&r);
	return NULL;
}

START_TEST(t_concurrent_resends_send_once)
{
	struct client	 c;
	struct click	 k[N_CLICKS];
	pthread_t	 t[N_CLICKS];
	struct hresp	 r;
	char		*csrf, path[160];
	int64_t		 chat, mid, copy;

	twilio_in("+15551230001", "hello");
	ck_assert(wait_texts("Echo: hello", 1, WAIT_MS));
	chat = chat_of("+15551230001");
	mid = failed_out(chat, "Please try again");
	hlogin(&c, fx.srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/conversations/%lld", (long long)chat);
	csrf = hpage_csrf(&c, path);
	for (int i = 0; i < N_CLICKS; i++) {
		k[i].c = c;
		snprintf(k[i].path, sizeof(k[i].path), "/conversations/%lld/"
		    "messages/%lld/resend", (long long)chat, (long long)mid);
		k[i].body[0] = '\0';
		form_add(k[i].body, sizeof(k[i].body), "_csrf", csrf);
	}
	for (int i = 0; i < N_CLICKS; i++)
		ck_assert(pthread_create(&t[i], NULL, click_main, &k[i]) == 0);
	for (int i = 0; i < N_CLICKS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < N_CLICKS; i++)
		ck_assert_msg(k[i].status == 303, "click %d: %ld", i,
		    k[i].status);

	/* One copy, sent once; the failed row points at it. */
	ck_assert_int_eq(texts_of("Please try again"), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE chat_id = "
	    "%lld AND body = 'Please try again' AND id <> %lld",
	    (long long)chat, (long long)mid), 1);
	copy = sqli("SELECT id FROM messages WHERE chat_id = %lld AND body = "
	    "'Please try again' AND id <> %lld", (long long)chat,
	    (long long)mid);
	ck_assert_int_eq(sqli("SELECT resent_as_id FROM messages WHERE id = "
	    "%lld", (long long)mid), copy);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = %lld "
	    "AND status = 'sent' AND provider_message_id IS NOT NULL",
	    (long long)copy), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE action = "
	    "'message.resent' AND target_id = %lld", (long long)copy), 1);

	/* The timeline: "resent as", and no Resend for it any more. */
	hget(&c, path, 200, &r);
	snprintf(path, sizeof(path), "/conversations/%lld/messages/%lld/"
	    "resend", (long long)chat, (long long)mid);
	ck_assert_ptr_null(strstr(r.body, path));
	snprintf(path, sizeof(path), "Resent as <a href=\"#m%lld\">",
	    (long long)copy);
	ck_assert_ptr_nonnull(strstr(r.body, path));
	hresp_free(&r);

	/* A later click is refused in words and sends nothing. */
	ck_assert_int_eq(post_form(&c, k[0].path, NULL, NULL), 303);
	ck_assert_int_eq(texts_of("Please try again"), 1);
	free(csrf);
}
END_TEST

/*
 * A reply job that dies (every send answered 500, one attempt allowed)
 * fails its part with the reason; Resend from the timeline sends it once.
 * A second dead job's reply is resent from the Jobs page, once, and the
 * job is then done.
 */
START_TEST(t_resend_dead_job)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[160], *reason, *loc = NULL;
	int64_t		 chat, part, job;

	free(sqls("ALTER TABLE jobs ALTER COLUMN max_attempts SET DEFAULT 1"));
	hfake_queue(&fx.wa, "{\"provider\":\"twilio\",\"op\":\"send\","
	    "\"status\":500}");
	twilio_in("+15551230002", "first");
	chat = chat_of("+15551230002");
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE chat_id = %lld AND direction = 'out' AND status = 'failed'",
	    (long long)chat), "the dead job's part did not fail");
	part = sqli("SELECT id FROM messages WHERE chat_id = %lld AND "
	    "direction = 'out' AND status = 'failed'", (long long)chat);
	reason = sqls("SELECT error_text FROM messages WHERE id = %lld",
	    (long long)part);
	ck_assert_msg(strstr(reason, "Not sent: the reply gave up") !=
	    NULL && strstr(reason, "HTTP 500") != NULL, "%s", reason);
	free(reason);
	ck_assert_int_eq(sqli("SELECT count(*) FROM jobs WHERE kind = 'turn' "
	    "AND status = 'dead' AND payload->>'chat_id' = %lld::text",
	    (long long)chat), 1);

	hlogin(&c, fx.srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/conversations/%lld", (long long)chat);
	hget(&c, path, 200, &r);
	snprintf(path, sizeof(path), "/conversations/%lld/messages/%lld/"
	    "resend", (long long)chat, (long long)part);
	ck_assert_ptr_nonnull(strstr(r.body, path));
	hresp_free(&r);
	ck_assert_int_eq(post_form(&c, path, NULL, NULL), 303);
	ck_assert_int_eq(texts_of("Echo: first"), 2);	/* the 500, the copy */
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE chat_id = "
	    "%lld AND body = 'Echo: first' AND status = 'sent'",
	    (long long)chat), 1);

	/* From the Jobs page. */
	hfake_queue(&fx.wa, "{\"provider\":\"twilio\",\"op\":\"send\","
	    "\"status\":500}");
	twilio_in("+15551230003", "second");
	chat = chat_of("+15551230003");
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages WHERE "
	    "chat_id = %lld AND direction = 'out' AND status = 'failed'",
	    (long long)chat));
	job = sqli("SELECT id FROM jobs WHERE kind = 'turn' AND "
	    "payload->>'chat_id' = %lld::text", (long long)chat);
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM jobs WHERE id = "
	    "%lld AND status = 'dead'", (long long)job));
	hget(&c, "/jobs", 200, &r);
	snprintf(path, sizeof(path), "/jobs/%lld/resend", (long long)job);
	ck_assert_ptr_nonnull(strstr(r.body, path));
	hresp_free(&r);
	ck_assert_int_eq(post_form(&c, path, NULL, &loc), 303);
	ck_assert_ptr_nonnull(loc);
	ck_assert_ptr_nonnull(strstr(loc, "/conversations/"));
	free(loc);
	ck_assert_int_eq(texts_of("Echo: second"), 2);
	ck_assert_int_eq(sqli("SELECT count(*) FROM jobs WHERE id = %lld AND "
	    "status = 'done'", (long long)job), 1);
	/* Again: the job is done, nothing more is sent. */
	ck_assert_int_eq(post_form(&c, path, NULL, NULL), 303);
	ck_assert_int_eq(texts_of("Echo: second"), 2);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE action = "
	    "'job.resent' AND target_id = %lld", (long long)job), 1);
	free(sqls("ALTER TABLE jobs ALTER COLUMN max_attempts SET DEFAULT 5"));
}
END_TEST

/* --- "try later": a job retries, the request does not ------------------ */

/*
 * A person's reply answered 429 (then 500) by the provider: the request
 * answers at once that it will be sent, a send job sends it a few seconds
 * later, once.
 */
START_TEST(t_human_reply_later)
{
	static const char *const specs[] = {
		"{\"provider\":\"twilio\",\"op\":\"send\",\"status\":429,"
		"\"code\":20429}",
		"{\"provider\":\"twilio\",\"op\":\"send\",\"status\":500}",
	};
	struct client	 c;
	char		 path[160], fields[256], body[32], *loc = NULL, *flash;
	int64_t		 chat;

	twilio_in("+15551230004", "take me");
	ck_assert(wait_texts("Echo: take me", 1, WAIT_MS));
	chat = chat_of("+15551230004");
	hlogin(&c, fx.srv.base, OWNER_EMAIL, OWNER_PW);
	for (size_t i = 0; i < 2; i++) {
		snprintf(body, sizeof(body), "Person reply %zu", i);
		hfake_queue(&fx.wa, specs[i]);
		fields[0] = '\0';
		form_add(fields, sizeof(fields), "body", body);
		snprintf(path, sizeof(path), "/conversations/%lld/reply",
		    (long long)chat);
		ck_assert_int_eq(post_form(&c, path, fields, &loc), 303);
		flash = flash_of(&c, loc);
		ck_assert_msg(strstr(flash, "asked to wait") != NULL, "%s",
		    flash);
		free(flash);
		free(loc);
		loc = NULL;
		ck_assert_int_eq(texts_of(body), 1);	/* the refused try */
		ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
		    "chat_id = %lld AND body = '%s' AND status = 'queued'",
		    (long long)chat, body), 1);
		/* The send job, after the provider's pause. */
		ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM "
		    "messages WHERE chat_id = %lld AND body = '%s' AND "
		    "status = 'sent' AND provider_message_id IS NOT NULL",
		    (long long)chat, body), "%s: not sent by its job", body);
		usleep(1500 * 1000);
		ck_assert_int_eq(texts_of(body), 2);
		ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
		    "chat_id = %lld AND body = '%s'", (long long)chat, body),
		    1);
	}
	/* Each reply's send job ran once it was due, and is done. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM jobs j JOIN messages m "
	    "ON m.id = (j.payload->>'message_id')::bigint WHERE j.kind = "
	    "'send' AND m.chat_id = %lld AND j.status = 'done'",
	    (long long)chat), 2);
}
END_TEST

/* The whatsapp.send tool answered 500: the model hears "queued", the
 * send job sends it once. */
START_TEST(t_tool_send_later)
{
	char	*result;
	int64_t	 chat;

	hfake_queue(&fx.llm, "[{\"tool_calls\":[{\"name\":\"whatsapp_send\","
	    "\"arguments\":{\"text\":\"Tool says hi\"}}]},"
	    "{\"content\":\"Done with the tool.\"}]");
	hfake_queue(&fx.wa, "{\"provider\":\"twilio\",\"op\":\"send\","
	    "\"status\":500}");
	twilio_in("+15551230005", "use the tool");
	ck_assert(wait_texts("Done with the tool.", 1, WAIT_MS));
	chat = chat_of("+15551230005");
	result = sqls("SELECT tool_calls->0->>'result' FROM llm_calls ORDER "
	    "BY id DESC LIMIT 1");
	ck_assert_msg(strstr(result, "\"status\":\"queued\"") != NULL, "%s",
	    result);
	free(result);
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE chat_id = %lld AND body = 'Tool says hi' AND status = "
	    "'sent'", (long long)chat), "the tool's message was not sent");
	usleep(1500 * 1000);
	ck_assert_int_eq(texts_of("Tool says hi"), 2);	/* the 500, the job */
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE body = "
	    "'Tool says hi'"), 1);
}
END_TEST

/* --- no connection held while the provider answers --------------------- */

struct reply_arg {
	struct client	 c;
	char		 path[160];
	char		 fields[256];
	long		 status;
	bool		 done;
	pthread_mutex_t	 mu;
};

static void *
reply_main(void *arg)
{
	struct reply_arg	*a = arg;
	long			 st;

	st = post_form(&a->c, a->path, a->fields, NULL);
	pthread_mutex_lock(&a->mu);
	a->status = st;
	a->done = true;
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static bool
reply_done(struct reply_arg *a)
{
	bool	 d;

	pthread_mutex_lock(&a->mu);
	d = a->done;
	pthread_mutex_unlock(&a->mu);
	return d;
}

/*
 * While the provider takes 3 s to answer, /readyz (which needs a pooled
 * connection) answers 200 at once: with one connection in the pool, that
 * means the send holds none.
 */
static void
readyz_meanwhile(struct hserver *srv, struct reply_arg *a, const char *what)
{
	struct client	 probe;
	struct hresp	 r;
	int		 n = 0, slow = 0;
	int64_t		 t0;

	client_init(&probe, srv->base);
	usleep(500 * 1000);
	while (!reply_done(a) && n < 40) {
		t0 = time_mono_ms();
		client_req(&probe, "GET", "/readyz", NULL, NULL, NULL, &r);
		ck_assert_msg(r.status == 200, "%s: /readyz %ld during the "
		    "provider call: %s", what, r.status, r.body);
		if (time_mono_ms() - t0 > 800)
			slow++;
		hresp_free(&r);
		n++;
		usleep(100 * 1000);
	}
	ck_assert_msg(n >= 5, "%s: the provider call was too short to "
	    "probe (%d probes)", what, n);
	ck_assert_msg(slow == 0, "%s: %d of %d probes waited for a "
	    "connection", what, slow, n);
}

START_TEST(t_no_connection_held)
{
	struct hserver		 one;
	struct hvars		 env = { 0 };
	struct reply_arg	 a;
	pthread_t		 t;
	int64_t			 chat;

	/* This test's server alone on the database, its pool one wide. */
	(void)hserver_stop(&fx.srv);
	hvars_reply(&env, &fx.wa);
	hvars_set(&env, "PARLEY_LLM_TIMEOUT_SECONDS=60");
	hvars_set(&env, "PARLEY_DB_POOL_SIZE=1");
	hvars_set(&env, "PARLEY_DB_ACQUIRE_TIMEOUT_MS=2000");
	hserver_start(&one, &fx.pg, env.v);

	/* A person's reply. */
	htwilio_text_ok(one.base, TW_SID, TW_TOKEN, "SM90000000000000000000000"
	    "000000001", "+15551230006", TW_NUMBER, "hold on");
	ck_assert(wait_texts("Echo: hold on", 1, WAIT_MS));
	chat = chat_of("+15551230006");
	memset(&a, 0, sizeof(a));
	pthread_mutex_init(&a.mu, NULL);
	hlogin(&a.c, one.base, OWNER_EMAIL, OWNER_PW);
	snprintf(a.path, sizeof(a.path), "/conversations/%lld/reply",
	    (long long)chat);
	form_add(a.fields, sizeof(a.fields), "body", "A slow reply");
	hfake_queue(&fx.wa, "{\"provider\":\"twilio\",\"op\":\"send\","
	    "\"delay_ms\":3000}");
	ck_assert(pthread_create(&t, NULL, reply_main, &a) == 0);
	readyz_meanwhile(&one, &a, "a person's reply");
	pthread_join(t, NULL);
	ck_assert_int_eq(a.status, 303);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE body = "
	    "'A slow reply' AND status = 'sent'"), 1);
	pthread_mutex_destroy(&a.mu);

	/* The whatsapp.send tool, in a reply job. */
	hfake_queue(&fx.llm, "[{\"tool_calls\":[{\"name\":\"whatsapp_send\","
	    "\"arguments\":{\"text\":\"A slow tool send\"}}]},"
	    "{\"content\":\"Tool done.\"}]");
	hfake_queue(&fx.wa, "{\"provider\":\"twilio\",\"op\":\"send\","
	    "\"delay_ms\":3000}");
	htwilio_text_ok(one.base, TW_SID, TW_TOKEN, "SM90000000000000000000000"
	    "000000002", "+15551230007", TW_NUMBER, "tool please");
	/* Probed while the tool's message is 'sending'. */
	{
		struct client	 probe;
		struct hresp	 r;
		int		 n = 0, slow = 0;
		int64_t		 t0;

		client_init(&probe, one.base);
		ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
		    "WHERE body = 'A slow tool send' AND status = 'sending'"));
		while (sqli("SELECT count(*) FROM messages WHERE body = "
		    "'A slow tool send' AND status = 'sending'") == 1 &&
		    n < 40) {
			t0 = time_mono_ms();
			client_req(&probe, "GET", "/readyz", NULL, NULL, NULL,
			    &r);
			ck_assert_msg(r.status == 200, "tool: /readyz %ld "
			    "during the provider call", r.status);
			if (time_mono_ms() - t0 > 800)
				slow++;
			hresp_free(&r);
			n++;
			usleep(100 * 1000);
		}
		ck_assert_msg(n >= 5, "tool: the provider call was too short "
		    "to probe (%d probes)", n);
		ck_assert_msg(slow == 0, "tool: %d of %d probes waited for a "
		    "connection", slow, n);
	}
	ck_assert(wait_texts("Tool done.", 1, WAIT_MS));
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE body = "
	    "'A slow tool send' AND status = 'sent'"), 1);

	hserver_stop_clean(&one);
	hvars_free(&env);
	hserver_start(&fx.srv, &fx.pg, fx.env.v);
}
END_TEST

/* --- defect 8: the provider's id survives a database restart ------------ */

START_TEST(t_mark_survives_restart)
{
	struct reply_arg	 a;
	pthread_t		 t;
	const char		*p[][2] = {
		{ "MessageSid", "SM0000000000000000000000000000restart" },
		{ "AccountSid", TW_SID }, { "From", "whatsapp:" TW_NUMBER },
		{ "To", "whatsapp:+15551230008" },
		{ "MessageStatus", "delivered" },
	};
	int64_t			 chat;

	twilio_in("+15551230008", "restart");
	ck_assert(wait_texts("Echo: restart", 1, WAIT_MS));
	chat = chat_of("+15551230008");
	memset(&a, 0, sizeof(a));
	pthread_mutex_init(&a.mu, NULL);
	hlogin(&a.c, fx.srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(a.path, sizeof(a.path), "/conversations/%lld/reply",
	    (long long)chat);
	form_add(a.fields, sizeof(a.fields), "body", "Across a restart");
	hfake_queue(&fx.wa, "{\"provider\":\"twilio\",\"op\":\"send\","
	    "\"delay_ms\":2500,\"id\":\"SM0000000000000000000000000000restart\"}");
	ck_assert(pthread_create(&t, NULL, reply_main, &a) == 0);
	/* The row is taken (sending) and the provider is answering. */
	ck_assert(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages WHERE "
	    "body = 'Across a restart' AND status = 'sending'"));
	hpg_stop(&fx.pg);
	usleep(1000 * 1000);
	hpg_restart(&fx.pg);
	pthread_join(t, NULL);
	pthread_mutex_destroy(&a.mu);

	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE body = 'Across a restart' AND status = 'sent' AND "
	    "provider_message_id = 'SM0000000000000000000000000000restart'"),
	    "the provider's id was lost: %s", sqls("SELECT status || ' ' || "
	    "COALESCE(error_text, '') FROM messages WHERE body = "
	    "'Across a restart'"));
	ck_assert_int_eq(texts_of("Across a restart"), 1);
	/* Its status callback finds it (the first requests after the
	 * restart may meet dead pooled connections: retry as Twilio
	 * would). */
	for (int i = 0; i < 20; i++) {
		struct hresp	 r;

		htwilio_post(fx.srv.base, "/webhooks/whatsapp/twilio/status",
		    TW_TOKEN, p, 5, &r);
		hresp_free(&r);
		if (sqli("SELECT count(*) FROM messages WHERE body = "
		    "'Across a restart' AND status = 'delivered'") == 1)
			break;
		usleep(250 * 1000);
	}
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE body = "
	    "'Across a restart' AND status = 'delivered'"), 1);
}
END_TEST

/* --- defect 5: one bad message does not sink its delivery --------------- */

START_TEST(t_unstorable_message)
{
	char		 b[BODY_MAX];
	struct hresp	 r;
	long long	 now = (long long)time(NULL);

	snprintf(b, sizeof(b),
	    "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":"
	    "\"W\",\"changes\":[{\"field\":\"messages\",\"value\":{"
	    "\"messaging_product\":\"whatsapp\",\"metadata\":{"
	    "\"display_phone_number\":\"15550783881\",\"phone_number_id\":\""
	    META_PNID "\"},\"messages\":["
	    "{\"from\":\"16505550001\",\"id\":\"wamid.BAD1\",\"timestamp\":"
	    "\"99999999999999999\",\"type\":\"text\",\"text\":{\"body\":"
	    "\"from the far future\"}},"
	    "{\"from\":\"16505550001\",\"id\":\"wamid.GOOD1\",\"timestamp\":"
	    "\"%lld\",\"type\":\"text\",\"text\":{\"body\":\"fine\"}}"
	    "]}}]}]}", now);
	hmeta_post(fx.srv.base, b, META_SECRET, &r);
	ck_assert_msg(r.status == 200, "meta: %ld %s", r.status, r.body);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id = 'wamid.GOOD1'"), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id = 'wamid.BAD1'"), 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM webhook_events WHERE "
	    "channel_id = %lld AND reason = 'message not stored' AND detail "
	    "LIKE '%%wamid.BAD1%%'", (long long)meta_id), 1);
	/* Meta's retry of the same delivery: acknowledged, nothing twice. */
	hmeta_post(fx.srv.base, b, META_SECRET, &r);
	ck_assert_int_eq(r.status, 200);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id = 'wamid.GOOD1'"), 1);

	/* A Kapso batch. */
	snprintf(b, sizeof(b), "{\"type\":\"whatsapp.message.received\","
	    "\"batch\":true,\"data\":["
	    "{\"message\":{\"id\":\"wamid.KBAD\",\"timestamp\":"
	    "\"99999999999999999\",\"type\":\"text\",\"text\":{\"body\":"
	    "\"bad\"}},\"conversation\":{\"id\":\"c1\",\"phone_number\":"
	    "\"+15557654321\",\"phone_number_id\":\"" KAPSO_PNID "\"},"
	    "\"phone_number_id\":\"" KAPSO_PNID "\"},"
	    "{\"message\":{\"id\":\"wamid.KGOOD\",\"timestamp\":\"%lld\","
	    "\"type\":\"text\",\"text\":{\"body\":\"good\"}},\"conversation\":"
	    "{\"id\":\"c1\",\"phone_number\":\"+15557654321\","
	    "\"phone_number_id\":\"" KAPSO_PNID "\"},\"phone_number_id\":\""
	    KAPSO_PNID "\"}]}", now);
	hkapso_post(fx.srv.base, KAPSO_PATH, "whatsapp.message.received", b,
	    KAPSO_SECRET, &r);
	ck_assert_msg(r.status == 200, "kapso: %ld %s", r.status, r.body);
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id = 'wamid.KGOOD'"), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "provider_message_id = 'wamid.KBAD'"), 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM webhook_events WHERE "
	    "channel_id = %lld AND reason = 'message not stored'",
	    (long long)kapso_id), 1);
}
END_TEST

/* --- defect 9: a slow model keeps its job ------------------------------- */

START_TEST(t_slow_model_one_call)
{
	char	 sid[40], from[32];
	int	 calls = 0;
	cJSON	*log;

	for (int i = 0; i < 3; i++)
		hfake_queue(&fx.llm, "{\"delay_ms\":40000,\"content\":"
		    "\"Thought it over.\"}");
	for (int i = 0; i < 3; i++) {
		snprintf(sid, sizeof(sid), "SM8%031d", i);
		snprintf(from, sizeof(from), "+1555123009%d", i);
		htwilio_text_ok(fx.srv.base, TW_SID, TW_TOKEN, sid, from,
		    TW_NUMBER, "think slowly");
	}
	ck_assert_msg(wait_texts("Thought it over.", 3, 90000),
	    "three slow answers did not arrive");
	usleep(2000 * 1000);
	log = hfake_log(&fx.llm);
	for (int i = 0; i < cJSON_GetArraySize(log); i++)
		if (strstr(hjstr(cJSON_GetArrayItem(log, i), "path"),
		    "/chat/completions") != NULL)
			calls++;
	cJSON_Delete(log);
	ck_assert_int_eq(calls, 3);
	ck_assert_int_eq(texts_of("Thought it over."), 3);
	ck_assert_int_eq(sqli("SELECT count(*) FROM jobs WHERE kind = 'reply' "
	    "AND attempts > 1 AND payload->>'message_id' IN (SELECT id::text "
	    "FROM messages WHERE body = 'think slowly')"), 0);
}
END_TEST

/* --- fixture ---------------------------------------------------------- */

static void
suite_setup(void)
{
	struct channel_input	 cin;
	const char		*wa_args[] = { "--twilio-token", TW_TOKEN,
				    "--meta-token", META_TOKEN,
				    "--kapso-key", KAPSO_KEY, NULL };
	struct db		*db;
	int64_t			 model_id;

	hworld_start(&fx, NULL, wa_args);
	/* The slow model takes 40 s: the world's server waits for it. */
	(void)hserver_stop(&fx.srv);
	hvars_set(&fx.env, "PARLEY_LLM_TIMEOUT_SECONDS=60");
	hserver_start(&fx.srv, &fx.pg, fx.env.v);
	model_id = hworld_model(&fx, "sk-test-0123456789", true);
	db = db_acquire(fx.pool);
	ck_assert_ptr_nonnull(db);
	bot_id = hagent_create(db, fx.org_id, "Bot", "chat", model_id);
	ck_assert_int_eq(agent_set_plugins(db, fx.org_id, bot_id,
	    (const char *const[]){ "whatsapp.send" }, 1, plugin_id_usable),
	    DB_OK);
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

/* --- helpers ------------------------------------------------------------ */

/* A signed Twilio text from `from` to our number; its MessageSid. */
static const char *
twilio_in(const char *from, const char *text)
{
	static char	 sid[40];

	snprintf(sid, sizeof(sid), "SM%032d", ++seq);
	htwilio_text_ok(fx.srv.base, TW_SID, TW_TOKEN, sid, from, TW_NUMBER,
	    text);
	return sid;
}

static int64_t
chat_of(const char *from)
{
	return sqli("SELECT id FROM chats WHERE external_id = '%s'", from);
}

/* How many text sends of exactly `body` reached the fake. */
static int
texts_of(const char *body)
{
	cJSON	*sends = NULL;
	int	 n = 0;

	hwa_sends(&fx.wa, true, &sends);
	for (int i = 0; i < cJSON_GetArraySize(sends); i++)
		if (strcmp(hwa_text(cJSON_GetArrayItem(sends, i)), body) == 0)
			n++;
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

/* A failed outbound message in chat (a non-final Twilio error). */
static int64_t
failed_out(int64_t chat, const char *body)
{
	return sqli("INSERT INTO messages (org_id, channel_id, chat_id, "
	    "direction, body, status, error_code, error_text) VALUES (%lld, "
	    "%lld, %lld, 'out', '%s', 'failed', '30008', 'Unknown error') "
	    "RETURNING id", (long long)fx.org_id, (long long)tw_id,
	    (long long)chat, body);
}

/*
 * POSTs form fields (may be NULL) plus the session's CSRF token to path;
 * the status, and the Location in *loc (malloc'd) when loc is not NULL.
 */
static long
post_form(struct client *c, const char *path, const char *fields,
    char **loc)
{
	struct hresp	 r;
	char		 body[BODY_MAX] = "", *csrf = hpage_csrf(c, "/settings");
	long		 status;

	form_add(body, sizeof(body), "_csrf", csrf);
	free(csrf);
	if (fields != NULL && fields[0] != '\0') {
		strncat(body, "&", sizeof(body) - strlen(body) - 1);
		strncat(body, fields, sizeof(body) - strlen(body) - 1);
	}
	client_req(c, "POST", path, body, NULL, NULL, &r);
	status = r.status;
	if (loc != NULL)
		*loc = hresp_header(&r, "Location");
	hresp_free(&r);
	return status;
}

/* The page a redirect names, as the session sees it (with its flash). */
static char *
flash_of(struct client *c, const char *loc)
{
	struct hresp	 r;
	char		*body;

	ck_assert_ptr_nonnull(loc);
	hget(c, loc, 200, &r);
	body = xstrdup(r.body);
	hresp_free(&r);
	return body;
}

static Suite *
outbox_suite(void)
{
	Suite	*s = suite_create("outbox");
	TCase	*tc = tcase_create("outbox");

	tcase_set_timeout(tc, 300);
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, NULL);
	tcase_add_test(tc, t_concurrent_resends_send_once);
	tcase_add_test(tc, t_resend_dead_job);
	tcase_add_test(tc, t_human_reply_later);
	tcase_add_test(tc, t_tool_send_later);
	tcase_add_test(tc, t_no_connection_held);
	tcase_add_test(tc, t_mark_survives_restart);
	tcase_add_test(tc, t_unstorable_message);
	tcase_add_test(tc, t_slow_model_one_call);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(outbox_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
