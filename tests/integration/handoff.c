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
#include "harness/harness.h"

/* Formatted SQL against this suite's cluster (tests/harness/pg.c). */
#define sqli(...)		hpg_sqlf_int(&pg, __VA_ARGS__)
#define sqls(...)		hpg_sqlf(&pg, __VA_ARGS__)
#define wait_sql(want, ms, ...)	hpg_wait_int(&pg, want, ms, __VA_ARGS__)

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "chat/handoff.h"
#include "chat/texts.h"
#include "crypto/hmac.h"
#include "crypto/secret.h"
#include "db/db.h"
#include "model/agent.h"
#include "model/channel.h"
#include "model/fielderr.h"
#include "model/orgmodel.h"
#include "model/provider.h"
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

static struct hpg	 pg;
static struct hfake	 llm, wa;
static struct hserver	 srv;
static struct db_pool	*pool;
static struct secret_key *key;
static int64_t		 org_id, user_id, bot_id, faq_id, tw_id, faq_ch_id;
static const char	**env;
static int		 seq;

static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 test_setup(void);
static const char **make_env(void);
static int64_t	 make_agent(struct db *, const char *, const char *,
		    int64_t);
static int64_t	 make_channel(struct db *, struct channel_input *);
static const char *twilio_in(const char *, const char *, const char *);
static cJSON	*fake_log(struct hfake *);
static int	 wa_texts(cJSON **);
static bool	 wait_wa_texts(int, int);
static const char *text_of(const cJSON *);
static const char *jstr(const cJSON *, const char *);
static int	 llm_requests(void);
static char	*expect(enum chat_text, const char *, const char *,
		    const char *, const char *, int);
static int64_t	 inbound_id(const char *);
static bool	 wait_job_done(const char *);
static int64_t	 chat_of(const char *);
static char	*status_of(int64_t);
static void	 login(struct client *, const char *, const char *);
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

static void
login(struct client *c, const char *email, const char *pw)
{
	client_init(c, srv.base);
	ck_assert_msg(client_login(c, email, pw), "cannot log in as %s",
	    email);
}

/* POSTs /conversations/{chat}/{action} with the session's CSRF token. */
static long
post_action(struct client *c, int64_t chat, const char *action,
    const char *reply)
{
	struct hresp	 r;
	char		 body[BODY_MAX] = "", path[128];
	char		*csrf;
	long		 status;

	client_req(c, "GET", "/settings", NULL, NULL, NULL, &r);
	csrf = html_csrf(r.body);
	hresp_free(&r);
	ck_assert_ptr_nonnull(csrf);
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
	char	*want = expect(TEXT_HANDOFF, NULL, NULL, NULL, NULL, 0);
	cJSON	*log;

	ck_assert_msg(wait_wa_texts(1, WAIT_MS), "%s: no handoff text", what);
	usleep(QUIET_MS * 1000);
	ck_assert_int_eq(wa_texts(&log), 1);
	ck_assert_str_eq(text_of(cJSON_GetArrayItem(log, 0)), want);
	cJSON_Delete(log);
	free(want);
}

static void
run_sweep(void)
{
	struct db	*db = db_acquire(pool);
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

	client_req(c, "GET", path, NULL, NULL, NULL, &r);
	ck_assert_msg(r.status == 200, "GET %s: %ld", path, r.status);
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
	ck_assert_int_eq(llm_requests(), 0);
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

	hfake_post(&llm, "/_fake/queue", "[{\"tool_calls\":[{\"name\":"
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

START_TEST(t_gateway_failures)
{
	char	*st;

	free(sqls("UPDATE orgs SET gateway_failure_limit = 2 WHERE id = %lld",
	    (long long)org_id));
	/* Each gateway call tries 3 times (the client's retries). */
	hfake_post(&llm, "/_fake/queue", "[{\"status\":500},{\"status\":500},"
	    "{\"status\":500},{\"status\":500},{\"status\":500},"
	    "{\"status\":500}]");
	twilio_in(TW_NUMBER, "+15558880201", "Are you up?");
	assert_handoff_once("gateway failures");
	st = status_of(chat_of("+15558880201"));
	ck_assert_str_eq(st, "needs_human");
	free(st);
	ck_assert_int_eq(sqli("SELECT gateway_failures FROM chats WHERE id = "
	    "%lld", (long long)chat_of("+15558880201")), 0);
	free(sqls("UPDATE orgs SET gateway_failure_limit = 3 WHERE id = %lld",
	    (long long)org_id));
}
END_TEST

START_TEST(t_offline_no_answer)
{
	char	*st;

	twilio_in(FAQ_NUMBER, "+15558880301", "Do you sell bicycles?");
	assert_handoff_once("offline model");
	ck_assert_int_eq(llm_requests(), 0);
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
	ck_assert(wait_job_done(sid));
	usleep(QUIET_MS * 1000);
	ck_assert_int_eq(wa_texts(NULL), 1);
	ck_assert_int_eq(llm_requests(), 0);

	/* A member claims and replies. */
	login(&c, MEMBER_EMAIL, MEMBER_PW);
	ck_assert_int_eq(post_action(&c, chat, "claim", NULL), 303);
	st = status_of(chat);
	ck_assert_str_eq(st, "human");
	free(st);
	ck_assert_int_eq(sqli("SELECT count(*) FROM chats c JOIN users u ON "
	    "u.id = c.assigned_user_id WHERE c.id = %lld AND u.email = '%s'",
	    (long long)chat, MEMBER_EMAIL), 1);
	sid = twilio_in(TW_NUMBER, "+15558880401", "still there?");
	ck_assert(wait_job_done(sid));
	ck_assert_int_eq(post_action(&c, chat, "reply", "Hi, this is Mia."),
	    303);
	ck_assert(wait_wa_texts(2, WAIT_MS));
	wa_texts(&log);
	ck_assert_str_eq(text_of(cJSON_GetArrayItem(log, 1)),
	    "Hi, this is Mia.");
	cJSON_Delete(log);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages m JOIN users u ON "
	    "u.id = m.author_user_id WHERE m.chat_id = %lld AND m.body = "
	    "'Hi, this is Mia.' AND m.status = 'sent' AND u.email = '%s'",
	    (long long)chat, MEMBER_EMAIL), 1);
	usleep(QUIET_MS * 1000);
	ck_assert_int_eq(wa_texts(NULL), 2);
	ck_assert_int_eq(llm_requests(), 0);

	/* Return: ai again, a new thread, the model answers. */
	ck_assert_int_eq(post_action(&c, chat, "return", NULL), 303);
	st = status_of(chat);
	ck_assert_str_eq(st, "ai");
	free(st);
	twilio_in(TW_NUMBER, "+15558880401", "thanks, bye");
	ck_assert(wait_wa_texts(3, WAIT_MS));
	wa_texts(&log);
	ck_assert_str_eq(text_of(cJSON_GetArrayItem(log, 2)),
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

	hfake_post(&llm, "/_fake/queue", "{\"delay_ms\":3000,\"content\":"
	    "\"Too late.\"}");
	twilio_in(TW_NUMBER, "+15558880501", "Think about it");
	deadline = time_mono_ms() + WAIT_MS;
	while (llm_requests() < 1) {
		ck_assert_msg(time_mono_ms() < deadline, "never asked");
		usleep(50 * 1000);
	}
	chat = chat_of("+15558880501");
	login(&c, OWNER_EMAIL, OWNER_PW);
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
	login(&c, MEMBER_EMAIL, MEMBER_PW);
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
	ck_assert(wait_job_done(sid));
	t1 = sqli("SELECT thread_id FROM messages WHERE id = %lld",
	    (long long)inbound_id(sid));
	sid = twilio_in(TW_NUMBER, "+15558880701", "second");
	ck_assert(wait_wa_texts(2, WAIT_MS));
	ck_assert(wait_job_done(sid));
	ck_assert_int_eq(sqli("SELECT thread_id FROM messages WHERE id = %lld",
	    (long long)inbound_id(sid)), t1);
	free(sqls("UPDATE messages SET created_at = now() - interval '2 days' "
	    "WHERE thread_id = %lld", (long long)t1));
	free(sqls("UPDATE threads SET started_at = now() - interval '2 days' "
	    "WHERE id = %lld", (long long)t1));
	sid = twilio_in(TW_NUMBER, "+15558880701", "third");
	ck_assert(wait_wa_texts(3, WAIT_MS));
	ck_assert(wait_job_done(sid));
	t2 = sqli("SELECT thread_id FROM messages WHERE id = %lld",
	    (long long)inbound_id(sid));
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
	login(&c, OTHER_EMAIL, OTHER_PW);
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
	login(&c, MEMBER_EMAIL, MEMBER_PW);
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
	login(&o, OTHER_EMAIL, OTHER_PW);
	ck_assert(!page_has(&o, "/", "waited more than"));
	ck_assert(!page_has(&o, "/conversations?status=needs_human",
	    "waited more than"));

	free(sqls("UPDATE orgs SET handoff_unclaimed_minutes = 30 WHERE id = "
	    "%lld", (long long)org_id));
	ck_assert(!page_has(&c, "/", "waited more than"));
	free(sqls("UPDATE orgs SET handoff_unclaimed_minutes = 15 WHERE id = "
	    "%lld", (long long)org_id));

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
	ck_assert_int_eq(hserver_stop(&srv), 0);
	ck_assert_msg(!hserver_log_contains(&srv, "runtime error") &&
	    !hserver_log_contains(&srv, "Sanitizer"), "sanitizer report in %s",
	    srv.log_path);
}
END_TEST

/* --- fixture ---------------------------------------------------------- */

static const char **
make_env(void)
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
	e[n++] = xstrdup("PARLEY_LLM_TIMEOUT_SECONDS=20");
	e[n] = NULL;
	return e;
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
	const char		*member_args[] = { "user", "create", "--email",
				    MEMBER_EMAIL, "--org", "My Organization", "--role",
				    "member", NULL };
	const char		*other_args[] = { "user", "create", "--email",
				    OTHER_EMAIL, "--org", "Other Org", "--role",
				    "owner", NULL };
	char			*out = NULL;

	hpg_start(&pg);
	hfake_start(&llm, "fake_llm", NULL);
	hfake_start(&wa, "fake_whatsapp", wa_args);
	env = make_env();
	hserver_start(&srv, &pg, env);
	snprintf(path, sizeof(path), "%s/parley-data/master.key", pg.dir);
	ck_assert_msg(secret_key_load(path, false, &key, err, sizeof(err)),
	    "master key: %s", err);
	pool = db_pool_new(pg.conninfo, 4, 5000);
	ck_assert_ptr_nonnull(pool);
	org_id = sqli("SELECT id FROM orgs ORDER BY id LIMIT 1");
	user_id = sqli("SELECT id FROM users ORDER BY id LIMIT 1");

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
	faq_id = make_agent(db, "FAQ", "chat", 0);
	ck_assert_int_eq(agent_set_plugin(db, org_id, bot_id,
	    "handoff.request", true), DB_OK);

	memset(&cin, 0, sizeof(cin));
	cin.kind = "twilio";
	cin.name = "Twilio";
	cin.phone_number = TW_NUMBER;
	cin.twilio_account_sid = TW_SID;
	cin.twilio_auth_token = TW_TOKEN;
	cin.default_agent_id = bot_id;
	tw_id = make_channel(db, &cin);
	memset(&cin, 0, sizeof(cin));
	cin.kind = "twilio";
	cin.name = "FAQ line";
	cin.phone_number = FAQ_NUMBER;
	cin.twilio_account_sid = TW_SID;
	cin.twilio_auth_token = TW_TOKEN;
	cin.default_agent_id = faq_id;
	faq_ch_id = make_channel(db, &cin);
	db_release(db);
	free(sqls("UPDATE agents SET escalation_keywords = "
	    "'{human,\"talk to sales\"}' WHERE id = %lld", (long long)bot_id));
	ck_assert_int_eq(hrun_parley(&pg, member_args, MEMBER_PW "\n", &out),
	    0);
	free(out);
	out = NULL;
	ck_assert_int_eq(hrun_parley(&pg, other_args, OTHER_PW "\n", &out),
	    0);
	free(out);
}

static void
suite_teardown(void)
{
	if (srv.pid > 0)
		(void)hserver_stop(&srv);
	db_pool_free(pool);
	secret_key_free(key);
	hfake_stop(&wa);
	hfake_stop(&llm);
	hpg_destroy(&pg);
	for (int i = 0; env != NULL && env[i] != NULL; i++)
		free((void *)(uintptr_t)env[i]);
	free((void *)env);
}

static void
test_setup(void)
{
	hfake_post(&llm, "/_fake/reset", "{}");
	hfake_post(&wa, "/_fake/reset", "{}");
}

/* --- helpers ------------------------------------------------------------------ */

/*
 * A signed Twilio inbound message to our number `to` from `from`; its
 * MessageSid (static storage, valid until the next call).
 */
static const char *
twilio_in(const char *to, const char *from, const char *text)
{
	static char		 sid[40];
	struct twilio_param	 p[10];
	struct client		 c;
	struct hresp		 r;
	char			 body[BODY_MAX] = "", url[512], sigb[29];
	char			 f[64], t[64], wa_id[32], h[64];
	const char		*headers[2] = { h, NULL };
	const char		*params[][2] = {
		{ "MessageSid", sid }, { "SmsMessageSid", sid },
		{ "AccountSid", TW_SID }, { "From", f }, { "To", t },
		{ "Body", text }, { "NumMedia", "0" }, { "ProfileName", "Tess" },
		{ "WaId", wa_id }, { "ApiVersion", "2010-04-01" },
	};

	snprintf(sid, sizeof(sid), "SM%032d", ++seq);
	snprintf(f, sizeof(f), "whatsapp:%s", from);
	snprintf(t, sizeof(t), "whatsapp:%s", to);
	snprintf(wa_id, sizeof(wa_id), "%s", from + 1);
	for (int i = 0; i < 10; i++) {
		form_add(body, sizeof(body), params[i][0], params[i][1]);
		p[i].name = params[i][0];
		p[i].value = params[i][1];
	}
	snprintf(url, sizeof(url), "%s/webhooks/whatsapp/twilio", srv.base);
	hmac_twilio_sign(TW_TOKEN, url, p, 10, sigb);
	snprintf(h, sizeof(h), "X-Twilio-Signature: %s", sigb);
	client_init(&c, srv.base);
	client_req(&c, "POST", "/webhooks/whatsapp/twilio", body,
	    "application/x-www-form-urlencoded", headers, &r);
	ck_assert_msg(r.status == 200, "twilio webhook: %ld %s", r.status,
	    r.body);
	hresp_free(&r);
	return sid;
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

/* The fake WhatsApp's text sends (not reactions, not typing), in order. */
static int
wa_texts(cJSON **out)
{
	cJSON	*log = fake_log(&wa), *texts = cJSON_CreateArray(), *e;
	int	 n;

	cJSON_ArrayForEach(e, log) {
		const cJSON	*j = cJSON_GetObjectItem(e, "json");

		if (strcmp(jstr(e, "op"), "send") != 0)
			continue;
		if (j != NULL && strcmp(jstr(j, "type"), "text") != 0)
			continue;
		cJSON_AddItemToArray(texts, cJSON_Duplicate(e, true));
	}
	cJSON_Delete(log);
	n = cJSON_GetArraySize(texts);
	if (out != NULL)
		*out = texts;
	else
		cJSON_Delete(texts);
	return n;
}

static bool
wait_wa_texts(int want, int timeout_ms)
{
	int64_t	 deadline = time_mono_ms() + timeout_ms;

	while (time_mono_ms() < deadline) {
		if (wa_texts(NULL) >= want)
			return true;
		usleep(50 * 1000);
	}
	return wa_texts(NULL) >= want;
}

/* The text of one send: Twilio's Body or Meta's text.body. */
static const char *
text_of(const cJSON *e)
{
	const cJSON	*j = cJSON_GetObjectItem(e, "json");

	if (j != NULL)
		return jstr(cJSON_GetObjectItem(j, "text"), "body");
	return jstr(cJSON_GetObjectItem(e, "form"), "Body");
}

static const char *
jstr(const cJSON *o, const char *name)
{
	const char	*s = cJSON_GetStringValue(cJSON_GetObjectItem(o, name));

	return s != NULL ? s : "";
}

static int
llm_requests(void)
{
	cJSON	*log = fake_log(&llm);
	int	 n = cJSON_GetArraySize(log);

	cJSON_Delete(log);
	return n;
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



static int64_t
inbound_id(const char *provider_message_id)
{
	return sqli("SELECT id FROM messages WHERE provider_message_id = '%s' "
	    "AND direction = 'in'", provider_message_id);
}

/* Waits (bounded) until the reply job of that inbound message is done. */
static bool
wait_job_done(const char *provider_message_id)
{
	int64_t	 id = inbound_id(provider_message_id);

	return id > 0 && wait_sql(1, WAIT_MS, "SELECT count(*) FROM jobs "
	    "WHERE status = 'done' AND payload->>'message_id' = '%lld'",
	    (long long)id);
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
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(handoff_suite());
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
