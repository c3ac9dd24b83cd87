/*
 * tests/integration/pooler.c: Parley behind Debian's PgBouncer (issue 18).
 *
 * One cluster; two PgBouncers in front of it, configured stock (no
 * ignore_startup_parameters): one in transaction mode with 3 server
 * connections per database, so that Parley's pool of 8 and the CLI share
 * server sessions transaction by transaction (what breaks named prepared
 * statements, session SETs and session advisory locks), one in session
 * mode. The fakes stand in for the LLM and Twilio.
 *
 *   t_migrate_through_pooler   `parley migrate` twice, then three at once,
 *                              through the transaction pooler; the CLI
 *                              works after; no server session is left in a
 *                              transaction or holding an advisory lock;
 *                              JIT is off per role and database.
 *   t_transaction_mode         signed webhooks → replies (exactly one per
 *                              message), a connect code, the panel's
 *                              sign-in; LISTEN off, so the pool polls and
 *                              says so; no statement error anywhere.
 *   t_session_mode             the same through the session pooler, with
 *                              LISTEN through it.
 *   t_two_replicas             two servers through the transaction pooler,
 *                              LISTEN on PARLEY_DATABASE_DIRECT_URL;
 *                              bursts of three messages per chat split
 *                              across them: one turn per chat at a time,
 *                              nothing answered twice.
 *
 * One suite, CK_NOFORK: tests run in the order added and share the
 * cluster, the poolers and the fakes. Every wait is bounded.
 */
#include "harness/ha.h"
#include "harness/model.h"
#include "harness/panel.h"
#include "harness/webhook.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "crypto/secret.h"
#include "db/db.h"
#include "model/channel.h"
#include "util/xmalloc.h"

#define sqli(...)		hpg_sqlf_int(&pg, __VA_ARGS__)
#define sqls(...)		hpg_sqlf(&pg, __VA_ARGS__)
#define wait_sql(n, ms, ...)	hpg_wait_int(&pg, n, ms, __VA_ARGS__)

#define TW_NUMBER	"+15550002222"
#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"0123456789abcdef0123456789abcdef"
#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define BUSY_TEXT	"Still working on your previous request."
#define N_MIGRATORS	3
#define WAIT_MS		60000

static struct hpg	 pg;
static struct hbouncer	 btx, bsess;
static struct hfake	 llm, wa;
static struct secret_key *key;
static int64_t		 org_id, bot_id, tw_id;

static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 pooled_env(struct hvars *, const struct hbouncer *,
		    const char *, const char *);
static void	 setup_world(void);
static char	*sql_at(const char *, const char *);
static void	 assert_no_leftovers(const char *);
static int	 count_migrations(const char *);
static void	 assert_clean_logs(struct hserver *);
static void	 stream_run(struct hstream *, const char *, const char *,
		    int, int, struct hserver *, struct hserver *);
static void	 assert_one_answer_each(const struct hstream *);
static void	 connect_code_and_sign_in(struct hserver *, struct hpg *,
		    const char **, const char *);
static void	 reply_path(struct hbouncer *, const char *, const char *,
		    const char *, const char *);

/* --- migrations through the pooler ----------------------------------------- */

START_TEST(t_migrate_through_pooler)
{
	struct hvars	 env = { 0 };
	const char	*migrate[] = { "migrate", NULL };
	char		*out = NULL, ci[256], want[64], *s;
	pid_t		 pids[N_MIGRATORS];
	int		 latest, n_files, st, ws;

	latest = db_migrations_latest("migrations");
	ck_assert_int_gt(latest, 0);
	n_files = count_migrations("migrations");
	free(sqls("CREATE DATABASE mig_once"));
	free(sqls("CREATE DATABASE mig_race"));

	/* Twice, one after the other: the second applies nothing. */
	pooled_env(&env, &btx, "mig_once", "transaction");
	for (int i = 0; i < 2; i++) {
		st = hrun_parley_env(&pg, env.v, migrate, NULL, &out);
		ck_assert_msg(st == 0, "parley migrate #%d through PgBouncer "
		    "exited %d:\n%s", i + 1, st, out);
		ck_assert_msg(i == 0 || strstr(out, "migrations applied") ==
		    NULL, "the second run applied migrations:\n%s", out);
		free(out);
		out = NULL;
	}
	hbouncer_conninfo(&btx, "mig_once", ci, sizeof(ci));
	s = sql_at(ci, "SELECT count(*) || '/' || count(DISTINCT version) || "
	    "'/' || max(version) FROM schema_migrations");
	snprintf(want, sizeof(want), "%d/%d/%d", n_files, n_files, latest);
	ck_assert_msg(s != NULL && strcmp(s, want) == 0, "ledger (rows/"
	    "versions/latest) %s, want %s", s, want);
	free(s);

	/* Three at once, on an empty database. */
	pooled_env(&env, &btx, "mig_race", "transaction");
	fflush(NULL);
	for (int i = 0; i < N_MIGRATORS; i++) {
		if ((pids[i] = fork()) == 0) {
			char	*o = NULL;
			int	 rc = hrun_parley_env(&pg, env.v, migrate, NULL,
				    &o);

			if (rc != 0)
				fprintf(stderr, "migrator %d exited %d:\n%s\n",
				    i, rc, o);
			_exit(rc == 0 ? 0 : 1);
		}
		ck_assert_int_gt(pids[i], 0);
	}
	for (int i = 0; i < N_MIGRATORS; i++) {
		ck_assert_int_eq(waitpid(pids[i], &ws, 0), pids[i]);
		ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
		    "concurrent parley migrate %d failed", i);
	}
	hbouncer_conninfo(&btx, "mig_race", ci, sizeof(ci));
	s = sql_at(ci, "SELECT count(*) || '/' || count(DISTINCT version) || "
	    "'/' || max(version) FROM schema_migrations");
	ck_assert_msg(s != NULL && strcmp(s, want) == 0, "ledger after the "
	    "race %s, want %s", s, want);
	free(s);

	/* The CLI works after them, through the same pooler. */
	{
		const char	*user[] = { "user", "create", "--email",
				    "cli@example.com", "--org", "Cli Org",
				    "--role", "owner", NULL };
		const char	*tok[] = { "token", "create", "--email",
				    "cli@example.com", "--name", "pooled", NULL };

		st = hrun_parley_env(&pg, env.v, user, "cli-password-12345\n",
		    &out);
		ck_assert_msg(st == 0, "user create exited %d:\n%s", st, out);
		free(out);
		st = hrun_parley_env(&pg, env.v, tok, NULL, &out);
		ck_assert_msg(st == 0 && strncmp(out, "prl_", 4) == 0,
		    "token create exited %d:\n%s", st, out);
		free(out);
		out = NULL;
	}

	assert_no_leftovers("mig_%");
	/* JIT off for the role in these databases, seen by a new server
	 * session, with no startup parameter doing it. (PgBouncer's server
	 * sessions opened before the migration keep JIT on until they are
	 * recycled: README.) */
	ck_assert_int_eq(sqli("SELECT count(*) FROM pg_db_role_setting s "
	    "JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname IN "
	    "('mig_once', 'mig_race') AND 'jit=off' = ANY (s.setconfig)"), 2);
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=mig_race "
	    "user=parley", pg.port);
	s = sql_at(ci, "SHOW jit");
	ck_assert_str_eq(s, "off");
	free(s);
	ck_assert_msg(!hbouncer_log_contains(&btx, "unsupported startup "
	    "parameter"), "PgBouncer refused a startup parameter");
	hvars_free(&env);
}
END_TEST

/* --- the reply path, transaction and session mode ---------------------------- */

/*
 * Through bouncer b in `mode`: 40 signed webhooks from distinct senders
 * (tag, from_prefix), each answered once; a connect code redeemed from
 * `from`; the owner's sign-in; no statement error, nothing left behind.
 */
static void
reply_path(struct hbouncer *b, const char *mode, const char *tag,
    const char *from_prefix, const char *from)
{
	struct hserver	 srv;
	struct hvars	 env = { 0 };
	struct hstream	 s = { 0 };
	bool		 polls;

	hfake_reset(&llm);
	hfake_reset(&wa);
	pooled_env(&env, b, "parley", mode);
	hserver_start(&srv, &pg, env.v);
	polls = hserver_log_contains(&srv, "LISTEN is off, the reply pool "
	    "polls for work every 250 ms");
	/* Only a transaction pooler without a direct URL costs LISTEN. */
	ck_assert_msg(polls == (strcmp(mode, "transaction") == 0), "%s mode: "
	    "the start-up %s that the pool polls", mode, polls ? "says" :
	    "does not say");
	setup_world();

	stream_run(&s, tag, from_prefix, 40, 0, &srv, NULL);
	assert_one_answer_each(&s);
	hstream_free(&s);
	connect_code_and_sign_in(&srv, &pg, env.v, from);
	assert_clean_logs(&srv);
	hserver_stop_clean(&srv);
	assert_no_leftovers("parley");
	hvars_free(&env);
}

START_TEST(t_transaction_mode)
{
	reply_path(&btx, "transaction", "tx", "+1555301", "+15553019999");
}
END_TEST

START_TEST(t_session_mode)
{
	reply_path(&bsess, "session", "ss", "+1555302", "+15553029999");
}
END_TEST

/* --- two replicas ------------------------------------------------------------ */

START_TEST(t_two_replicas)
{
	struct hserver	 a, b;
	struct hvars	 env = { 0 };
	struct hstream	 s = { 0 };
	cJSON		*sends, *e;
	char		 ci[256];
	int		 echoes[16] = { 0 }, per_chat[16] = { 0 };
	int		 n_msgs = 48, n_chats = 16, echoed[48] = { 0 };

	hfake_reset(&llm);
	hfake_reset(&wa);
	pooled_env(&env, &btx, "parley", "transaction");
	hpg_tcp_conninfo(&pg, ci, sizeof(ci));
	hvars_set(&env, "PARLEY_DATABASE_DIRECT_URL=%s", ci);
	hserver_start(&a, &pg, env.v);
	hserver_start(&b, &pg, env.v);
	ck_assert(!hserver_log_contains(&a, "LISTEN is off"));
	setup_world();

	/* Three messages per chat, in a burst, split across the replicas. */
	stream_run(&s, "rr", "+1555303", n_msgs, n_chats, &a, &b);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "direction = 'in' AND provider_message_id LIKE 'SMrr%%'"), n_msgs);
	ck_assert_msg(wait_sql(0, WAIT_MS, "SELECT count(*) FROM jobs j JOIN "
	    "messages m ON m.id = (j.payload->>'message_id')::bigint WHERE "
	    "m.provider_message_id LIKE 'SMrr%%' AND j.status <> 'done'"),
	    "reply jobs not done");
	ck_assert(hwa_wait_sends(&wa, true, n_msgs, WAIT_MS));
	usleep(1500 * 1000);		/* late duplicates would show now */

	hwa_sends(&wa, true, &sends);
	cJSON_ArrayForEach(e, sends) {
		const char	*to = hjstr(cJSON_GetObjectItem(e, "form"), "To");
		const char	*body = hwa_text(e);
		int		 chat = -1, k = -1;

		ck_assert_msg(sscanf(to, "whatsapp:+1555303%4d", &chat) == 1 &&
		    chat >= 0 && chat < n_chats, "a send to %s", to);
		per_chat[chat]++;
		if (strncmp(body, BUSY_TEXT, strlen(BUSY_TEXT)) == 0)
			continue;
		ck_assert_msg(sscanf(body, "Echo: rr message %d", &k) == 1 &&
		    k >= 0 && k < n_msgs && k % n_chats == chat,
		    "unexpected answer to chat %d: %s", chat, body);
		echoed[k]++;
		echoes[chat]++;
	}
	cJSON_Delete(sends);
	for (int k = 0; k < n_msgs; k++)
		ck_assert_msg(echoed[k] <= 1, "message %d answered %d times",
		    k, echoed[k]);
	for (int c = 0; c < n_chats; c++) {
		/* One reply per message: the model's, or "still working"
		 * while another turn of the same chat held the thread. */
		ck_assert_msg(per_chat[c] == n_msgs / n_chats, "chat %d got %d "
		    "replies for %d messages", c, per_chat[c], n_msgs / n_chats);
		ck_assert_msg(echoes[c] >= 1, "chat %d: no turn answered", c);
	}
	/* Which replica ran what, for the record. */
	fprintf(stderr, "two replicas: replica A ran %lld reply jobs, B %lld\n",
	    (long long)sqli("SELECT count(*) FROM jobs WHERE locked_by LIKE "
	    "'%%:%d:%%'", a.pid), (long long)sqli("SELECT count(*) FROM jobs "
	    "WHERE locked_by LIKE '%%:%d:%%'", b.pid));
	hstream_free(&s);
	assert_clean_logs(&a);
	assert_clean_logs(&b);
	hserver_stop_clean(&a);
	hserver_stop_clean(&b);
	assert_no_leftovers("parley");
	hvars_free(&env);
}
END_TEST

/* --- helpers ----------------------------------------------------------------- */

/* The server's overrides for database db through bouncer b. */
static void
pooled_env(struct hvars *e, const struct hbouncer *b, const char *db,
    const char *mode)
{
	char	 ci[256];

	hvars_free(e);
	hvars_reply(e, &wa);
	hbouncer_conninfo(b, db, ci, sizeof(ci));
	hvars_set(e, "PARLEY_DATABASE_URL=%s", ci);
	hvars_set(e, "PARLEY_DB_POOLER=%s", mode);
	hvars_set(e, "PARLEY_DB_POOL_SIZE=8");
	/* The pace of a pooled set-up: the default poll when polling. */
	hvars_set(e, "PARLEY_JOB_POLL_MS=%s", strcmp(mode, "transaction") ==
	    0 ? "250" : "100");
}

/*
 * Once, on the first server's database: the fake model, agent "Bot" and a
 * Twilio channel it answers (made in-process on a direct pool).
 */
static void
setup_world(void)
{
	struct db_pool		*pool;
	struct db		*db;
	struct channel_input	 cin;
	char			 base[128];
	int64_t			 model_id;

	if (tw_id != 0)
		return;
	key = hkey_load(&pg);
	org_id = sqli("SELECT id FROM orgs WHERE name = 'My Organization'");
	ck_assert_int_gt(org_id, 0);
	pool = db_pool_new(pg.conninfo, 1, 5000);
	ck_assert_ptr_nonnull(pool);
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	snprintf(base, sizeof(base), "%s/v1", llm.base);
	model_id = hmodel_create(db, key, org_id, base, "sk-test-0123456789",
	    false);
	bot_id = hagent_create(db, org_id, "Bot", "chat", model_id);
	cin = (struct channel_input){ .kind = "twilio", .name = "Twilio",
	    .status = "connected", .phone_number = TW_NUMBER,
	    .twilio_account_sid = TW_SID, .twilio_auth_token = TW_TOKEN,
	    .default_agent_id = bot_id };
	tw_id = hchannel_create(db, key, org_id, &cin);
	db_release(db);
	db_pool_free(pool);
}

/*
 * n signed webhooks (tag, senders from_prefix + 4 digits, n_chats chats or
 * one per message when 0) from 4 threads, alternating servers a and b
 * (b NULL: a only); all must be acknowledged on the first attempt.
 */
static void
stream_run(struct hstream *s, const char *tag, const char *from_prefix,
    int n, int n_chats, struct hserver *a, struct hserver *b)
{
	s->bases[0] = a->base;
	s->n_bases = 1;
	if (b != NULL)
		s->bases[s->n_bases++] = b->base;
	s->account = TW_SID;
	s->token = TW_TOKEN;
	s->to = TW_NUMBER;
	s->tag = tag;
	s->from_prefix = from_prefix;
	s->n = n;
	s->senders = n_chats;
	s->n_threads = 4;
	s->pace_ms = 0;
	s->retry_ms = 200;
	s->give_up_ms = 10000;
	hstream_start(s);
	hstream_wait(s);
	ck_assert_msg(atomic_load(&s->n_acked) == n, "%d of %d webhooks "
	    "acknowledged", atomic_load(&s->n_acked), n);
	ck_assert_msg(s->n_bad == 0, "%d webhook attempts were not answered "
	    "2xx", s->n_bad);
}

/* Every message of s (one sender each) answered exactly once, with its
 * own echo, by the fake Twilio. */
static void
assert_one_answer_each(const struct hstream *s)
{
	cJSON	*sends, *e;
	int	*seen = xcalloc((size_t)s->n, sizeof(int));
	char	 want[64];
	int	 k;

	ck_assert_msg(hwa_wait_sends(&wa, true, s->n, WAIT_MS), "%d of %d "
	    "messages answered", hwa_sends(&wa, true, NULL), s->n);
	usleep(1500 * 1000);		/* late duplicates would show now */
	hwa_sends(&wa, true, &sends);
	cJSON_ArrayForEach(e, sends) {
		k = -1;
		snprintf(want, sizeof(want), "Echo: %s message ", s->tag);
		if (strncmp(hwa_text(e), want, strlen(want)) == 0)
			k = atoi(hwa_text(e) + strlen(want));
		ck_assert_msg(k >= 0 && k < s->n, "unexpected answer %s",
		    hwa_text(e));
		snprintf(want, sizeof(want), "whatsapp:%s", s->m[k].from);
		ck_assert_str_eq(hjstr(cJSON_GetObjectItem(e, "form"), "To"),
		    want);
		seen[k]++;
	}
	cJSON_Delete(sends);
	for (k = 0; k < s->n; k++)
		ck_assert_msg(seen[k] == 1, "message %d answered %d times", k,
		    seen[k]);
	free(seen);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "direction = 'in' AND provider_message_id LIKE 'SM%s%%'", s->tag),
	    s->n);
}

/*
 * A connect code made through the API (with a token the CLI made through
 * the pooler), redeemed by a WhatsApp message; then the owner signs in to
 * the panel.
 */
static void
connect_code_and_sign_in(struct hserver *srv, struct hpg *cluster,
    const char **env, const char *from)
{
	const char	*tok_args[] = { "token", "create", "--email",
			    OWNER_EMAIL, "--name", "pooled-api", NULL };
	struct client	 c;
	struct hresp	 r;
	cJSON		*j;
	char		*out = NULL, path[128], body[128], text[64], sid[40];
	char		 want[64], code[32];
	int		 st, before;

	st = hrun_parley_env(cluster, env, tok_args, NULL, &out);
	ck_assert_msg(st == 0 && strncmp(out, "prl_", 4) == 0, "token create "
	    "through the pooler exited %d:\n%s", st, out);
	out[strcspn(out, "\n")] = '\0';
	snprintf(path, sizeof(path), "/api/v1/agents/%lld/connect-codes",
	    (long long)bot_id);
	snprintf(body, sizeof(body), "{\"channelId\":%lld}", (long long)tw_id);
	j = hapi_json(srv->base, out, "POST", path, body, 201);
	ck_assert_ptr_nonnull(j);
	snprintf(code, sizeof(code), "%s", hjstr(j, "code"));
	cJSON_Delete(j);
	free(out);
	ck_assert(code[0] != '\0');

	before = hwa_sends(&wa, true, NULL);
	snprintf(text, sizeof(text), "connect %s", code);
	snprintf(sid, sizeof(sid), "SMconnect%s", from + 1);
	htwilio_text_ok(srv->base, TW_SID, TW_TOKEN, sid, from, TW_NUMBER,
	    text);
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM chats c JOIN "
	    "connect_codes k ON k.id = c.linked_code_id WHERE k.code = '%s' "
	    "AND c.linked_at IS NOT NULL", code), "code %s not redeemed", code);
	ck_assert(hwa_wait_sends(&wa, true, before + 1, WAIT_MS));
	{
		cJSON	*sends;

		hwa_sends(&wa, true, &sends);
		snprintf(want, sizeof(want), "whatsapp:%s", from);
		ck_assert_str_eq(hjstr(cJSON_GetObjectItem(cJSON_GetArrayItem(
		    sends, before), "form"), "To"), want);
		ck_assert_msg(strstr(hwa_text(cJSON_GetArrayItem(sends, before)),
		    "Connected to 'Bot'") != NULL, "connect reply: %s",
		    hwa_text(cJSON_GetArrayItem(sends, before)));
		cJSON_Delete(sends);
	}

	hlogin(&c, srv->base, OWNER_EMAIL, OWNER_PW);
	hget(&c, "/conversations", 200, &r);
	hresp_free(&r);
}

/* How many NNNN_name.sql files dir holds. */
static int
count_migrations(const char *dir)
{
	DIR		*d = opendir(dir);
	struct dirent	*de;
	int		 n = 0;
	size_t		 len;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len > 4 && strcmp(de->d_name + len - 4, ".sql") == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* The first field of sql's first row on conninfo (malloc'd; NULL on an
 * error, printed). */
static char *
sql_at(const char *conninfo, const char *sql)
{
	PGconn		*c = PQconnectdb(conninfo);
	PGresult	*r = NULL;
	char		*out = NULL;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "sql_at: %s", PQerrorMessage(c));
		goto out;
	}
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "sql_at: %s: %s", sql, PQerrorMessage(c));
		goto out;
	}
	out = xstrdup(PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
out:
	PQclear(r);
	PQfinish(c);
	return out;
}

/*
 * No server session of the databases matching `like` is left inside a
 * transaction (aborted or not), and no advisory lock is held anywhere:
 * what a session-level migration lock used to leave behind a pooler.
 */
static void
assert_no_leftovers(const char *like)
{
	ck_assert_msg(wait_sql(0, 5000, "SELECT count(*) FROM pg_stat_activity "
	    "WHERE datname LIKE '%s' AND state LIKE 'idle in transaction%%'",
	    like), "a server session was left in a transaction");
	ck_assert_int_eq(sqli("SELECT count(*) FROM pg_locks WHERE locktype = "
	    "'advisory'"), 0);
}

/* No statement error in the server's log, nor in PostgreSQL's about
 * prepared statements or parameters (what shared named statements did). */
static void
assert_clean_logs(struct hserver *srv)
{
	char	 path[320];
	FILE	*f;
	char	 line[2048];

	ck_assert_msg(!hserver_log_contains(srv, "level=error module=db"),
	    "database errors in %s", srv->log_path);
	ck_assert_msg(!hserver_log_contains(srv, "level=error"),
	    "errors in %s", srv->log_path);
	snprintf(path, sizeof(path), "%s/postgres.log", pg.dir);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		ck_assert_msg(strstr(line, "prepared statement") == NULL &&
		    strstr(line, "bind message") == NULL &&
		    strstr(line, "current transaction is aborted") == NULL,
		    "PostgreSQL logged: %s", line);
	fclose(f);
}

/* --- fixture ----------------------------------------------------------------- */

static void
suite_setup(void)
{
	const char	*wa_args[] = { "--twilio-token", TW_TOKEN, NULL };

	hpg_start(&pg);
	hbouncer_start(&btx, &pg, "transaction", 3);
	hbouncer_start(&bsess, &pg, "session", 40);
	hfake_start(&llm, "fake_llm", NULL);
	hfake_start(&wa, "fake_whatsapp", wa_args);
}

static void
suite_teardown(void)
{
	secret_key_free(key);
	key = NULL;
	hfake_stop(&wa);
	hfake_stop(&llm);
	hbouncer_stop(&bsess);
	hbouncer_stop(&btx);
	hpg_finish(&pg, "pooler");
}

static Suite *
pooler_suite(void)
{
	Suite	*s = suite_create("pooler");
	TCase	*tc = tcase_create("pgbouncer");

	tcase_set_timeout(tc, 240);
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_test(tc, t_migrate_through_pooler);
	tcase_add_test(tc, t_transaction_mode);
	tcase_add_test(tc, t_session_mode);
	tcase_add_test(tc, t_two_replicas);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(pooler_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
