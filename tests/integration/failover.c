/*
 * tests/integration/failover.c: PostgreSQL fails over under Parley
 * (issue 18).
 *
 * A primary and a synchronous streaming standby (pg_basebackup -R;
 * synchronous_standby_names = '*' on the primary), and one Parley on a
 * libpq multi-host string, "host=A,B … target_session_attrs=read-write",
 * with the fake LLM and fake Twilio. A bounded stream of signed Twilio
 * webhooks (one sender each, four threads) is retried on any non-2xx
 * answer, as a provider would. Mid-stream the primary is stopped as
 * `pg_ctl stop -m immediate` does and, a moment later, the standby is
 * promoted. Then:
 *   - every message was acknowledged (after retries), and every
 *     acknowledged message is stored on the new primary, once;
 *   - each is answered exactly once at the provider, none twice;
 *   - no webhook was answered 2xx without its message being there;
 *   - the same Parley process (PID) rode through it, and stops cleanly;
 *   - and the test prints the figures: messages, acknowledged, stored,
 *     answered, duplicates, and the window of non-2xx answers.
 *
 * With synchronous replication a commit is acknowledged only once the
 * standby has the WAL, so a 2xx means the message survives the primary's
 * loss. Without it, that guarantee does not hold (README, "Running several
 * replicas").
 */
#include "harness/ha.h"
#include "harness/model.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "crypto/secret.h"
#include "db/db.h"
#include "model/channel.h"
#include "util/time.h"
#include "util/xmalloc.h"

#define TW_NUMBER	"+15550003333"
#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"0123456789abcdef0123456789abcdef"
#define N_MSGS		240
#define CRASH_AT	80	/* acknowledged messages before the crash */
#define NO_PRIMARY_MS	1500	/* between the crash and the promotion */
#define WAIT_MS		90000

static struct hpg	 primary, standby;
static struct hfake	 llm, wa;

START_TEST(t_failover_mid_stream)
{
	struct hserver		 srv;
	struct hvars		 env = { 0 };
	struct hstream		 s = { 0 };
	struct secret_key	*key;
	struct db_pool		*pool;
	struct db		*db;
	struct channel_input	 cin;
	cJSON			*sends, *e;
	char			 url[512], base[128];
	int			*answers;
	int64_t			 t_crash, t_promoted, org, model, agent, deadline;
	int			 pid, n_stored, n_answered = 0, n_dups = 0, k;
	int			 n_unacked = 0, n_lost = 0, n_retried = 0;

	/* Parley on both hosts; libpq picks the one that takes writes. */
	hvars_reply(&env, &wa);
	snprintf(url, sizeof(url), "host=127.0.0.1,127.0.0.1 port=%d,%d "
	    "dbname=parley user=parley target_session_attrs=read-write "
	    "connect_timeout=2", primary.port, standby.port);
	hvars_set(&env, "PARLEY_DATABASE_URL=%s", url);
	hserver_start(&srv, &primary, env.v);
	pid = srv.pid;

	key = hkey_load(&primary);
	pool = db_pool_new(primary.conninfo, 1, 5000);
	ck_assert_ptr_nonnull(pool);
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	org = hpg_sqlf_int(&primary, "SELECT id FROM orgs ORDER BY id LIMIT 1");
	snprintf(base, sizeof(base), "%s/v1", llm.base);
	model = hmodel_create(db, key, org, base, "sk-test-0123456789", false);
	agent = hagent_create(db, org, "Bot", "chat", model);
	cin = (struct channel_input){ .kind = "twilio", .name = "Twilio",
	    .status = "connected", .phone_number = TW_NUMBER,
	    .twilio_account_sid = TW_SID, .twilio_auth_token = TW_TOKEN,
	    .default_agent_id = agent };
	(void)hchannel_create(db, key, org, &cin);
	db_release(db);
	db_pool_free(pool);		/* its server is about to die */
	secret_key_free(key);

	s.bases[0] = srv.base;
	s.n_bases = 1;
	s.account = TW_SID;
	s.token = TW_TOKEN;
	s.to = TW_NUMBER;
	s.tag = "fo";
	s.from_prefix = "+1555401";
	s.n = N_MSGS;
	s.senders = 0;
	s.n_threads = 4;
	s.pace_ms = 10;
	s.retry_ms = 100;
	s.give_up_ms = 60000;
	hstream_start(&s);

	/* Mid-stream: the primary goes, a moment without one, promotion. */
	deadline = time_mono_ms() + WAIT_MS;
	while (atomic_load(&s.n_acked) < CRASH_AT) {
		ck_assert_msg(time_mono_ms() < deadline, "only %d messages "
		    "acknowledged before the crash",
		    atomic_load(&s.n_acked));
		usleep(5 * 1000);
	}
	t_crash = time_mono_ms();
	hpg_crash(&primary);
	usleep(NO_PRIMARY_MS * 1000);
	hpg_promote(&standby);
	t_promoted = time_mono_ms();
	ck_assert_msg(atomic_load(&s.n_sent) < N_MSGS, "the stream ended "
	    "before the promotion; the failover was not mid-stream");
	hstream_wait(&s);

	/* Every message acknowledged; each acknowledged one stored once. */
	for (int i = 0; i < N_MSGS; i++) {
		if (s.m[i].ack_ms == 0)
			n_unacked++;
		if (s.m[i].attempts > 1)
			n_retried++;
	}
	ck_assert_msg(n_unacked == 0, "%d messages never acknowledged",
	    n_unacked);
	n_stored = (int)hpg_sqlf_int(&standby, "SELECT count(DISTINCT "
	    "provider_message_id) FROM messages WHERE direction = 'in' AND "
	    "provider_message_id LIKE 'SMfo%%'");
	ck_assert_int_eq(hpg_sqlf_int(&standby, "SELECT count(*) FROM messages "
	    "WHERE direction = 'in' AND provider_message_id LIKE 'SMfo%%'"),
	    n_stored);
	for (int i = 0; i < N_MSGS; i++)
		if (hpg_sqlf_int(&standby, "SELECT count(*) FROM messages WHERE "
		    "provider_message_id = '%s'", s.m[i].sid) != 1)
			n_lost++;
	ck_assert_msg(n_lost == 0, "%d acknowledged messages missing on the "
	    "new primary", n_lost);

	/* Each answered exactly once at the provider. */
	answers = xcalloc(N_MSGS, sizeof(int));
	deadline = time_mono_ms() + WAIT_MS;
	while (hwa_sends(&wa, true, NULL) < N_MSGS && time_mono_ms() < deadline)
		usleep(100 * 1000);
	usleep(2000 * 1000);		/* late duplicates would show now */
	hwa_sends(&wa, true, &sends);
	cJSON_ArrayForEach(e, sends) {
		k = -1;
		ck_assert_msg(sscanf(hwa_text(e), "Echo: fo message %d", &k) ==
		    1 && k >= 0 && k < N_MSGS, "unexpected answer %s",
		    hwa_text(e));
		if (answers[k]++ == 0)
			n_answered++;
		else
			n_dups++;
	}
	cJSON_Delete(sends);
	for (int i = 0; i < N_MSGS; i++) {
		char	*why;

		if (answers[i] != 0)
			continue;
		why = hpg_sqlf(&standby, "SELECT coalesce(string_agg(m.status "
		    "|| ': ' || coalesce(m.error_text, ''), '; '), 'no reply "
		    "recorded') || ' / job ' || coalesce((SELECT j.status || ' "
		    "attempts ' || j.attempts FROM jobs j WHERE "
		    "(j.payload->>'message_id')::bigint = i.id LIMIT 1), 'none') "
		    "FROM messages i LEFT JOIN messages m ON m.reply_to_id = i.id "
		    "WHERE i.provider_message_id = '%s' GROUP BY i.id", s.m[i].sid);
		fprintf(stderr, "failover: message %d (%s) not answered: %s\n",
		    i, s.m[i].sid, why);
		free(why);
	}
	free(answers);

	fprintf(stderr, "failover: messages=%d acknowledged=%d stored=%d "
	    "answered=%d duplicates=%d retried=%d non-2xx=%d "
	    "non-2xx-window=%lld ms (from %+lld to %+lld ms of the crash; "
	    "no primary for %lld ms, promoted at %+lld ms) "
	    "outbox: sent=%lld unknown=%lld pid %s\n",
	    N_MSGS, atomic_load(&s.n_acked), n_stored, n_answered, n_dups,
	    n_retried, s.n_bad,
	    (long long)(s.n_bad > 0 ? s.last_bad_ms - s.first_bad_ms : 0),
	    (long long)(s.n_bad > 0 ? s.first_bad_ms - t_crash : 0),
	    (long long)(s.n_bad > 0 ? s.last_bad_ms - t_crash : 0),
	    (long long)(t_promoted - t_crash),
	    (long long)(t_promoted - t_crash),
	    (long long)hpg_sqlf_int(&standby, "SELECT count(*) FROM messages m "
	    "JOIN messages i ON i.id = m.reply_to_id WHERE i.provider_message_id "
	    "LIKE 'SMfo%%' AND m.status IN ('sent', 'delivered', 'read')"),
	    (long long)hpg_sqlf_int(&standby, "SELECT count(*) FROM messages m "
	    "JOIN messages i ON i.id = m.reply_to_id WHERE i.provider_message_id "
	    "LIKE 'SMfo%%' AND m.status = 'failed'"),
	    kill(pid, 0) == 0 && srv.pid == pid ? "unchanged" : "CHANGED");

	ck_assert_int_eq(n_dups, 0);
	ck_assert_msg(n_answered == N_MSGS, "%d of %d messages answered",
	    n_answered, N_MSGS);
	/* The crash was felt, and only around it: non-2xx answers began
	 * after the crash and ended soon after the promotion. */
	ck_assert_msg(s.n_bad > 0, "no webhook saw the failover");
	ck_assert_msg(s.first_bad_end_ms >= t_crash, "a non-2xx answer "
	    "before the crash");
	ck_assert_msg(s.last_bad_ms <= t_promoted + 10000, "non-2xx answers "
	    "went on %lld ms after the promotion",
	    (long long)(s.last_bad_ms - t_promoted));
	/* The same process throughout, still serving, stopping cleanly. */
	ck_assert_int_eq(srv.pid, pid);
	ck_assert_int_eq(kill(pid, 0), 0);
	hstream_free(&s);
	hserver_stop_clean(&srv);
	hvars_free(&env);
}
END_TEST

static void
suite_setup(void)
{
	const char	*wa_args[] = { "--twilio-token", TW_TOKEN, NULL };

	hpg_start(&primary);
	hpg_start_standby(&standby, &primary, true);
	hfake_start(&llm, "fake_llm", NULL);
	hfake_start(&wa, "fake_whatsapp", wa_args);
}

static void
suite_teardown(void)
{
	hfake_stop(&wa);
	hfake_stop(&llm);
	hpg_finish(&standby, "failover standby");
	hpg_finish(&primary, "failover primary");
}

static Suite *
failover_suite(void)
{
	Suite	*s = suite_create("failover");
	TCase	*tc = tcase_create("failover");

	tcase_set_timeout(tc, 300);
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_test(tc, t_failover_mid_stream);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(failover_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
