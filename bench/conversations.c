/*
 * bench/conversations.c: the conversations list and its search at scale.
 *
 *   build/bench/conversations [--chats N] [--messages M] [--requests R]
 *
 * Starts a throwaway PostgreSQL cluster (db_embedded_start in a temporary
 * directory, deleted on exit), migrates it, and generates one organisation
 * with N chats (default 100,000) and M messages (default 10,000,000) in a
 * few INSERT … SELECT generate_series statements. The secondary message
 * indexes are dropped during the load and built after it (one sort each
 * instead of 10M index insertions); the messages' words are put in
 * message_search (what chat/search.c's indexer writes, migration 0019)
 * with its GIN index built after, and each word's message count in
 * search_words (0025), the indexer's watermark set past them, each
 * chat's unread count (0027), then ANALYZE. It then times
 * review_list() — the very function GET /conversations and
 * GET /api/v1/conversations call — R times (default 200) for the list with
 * varied filters and cursors, and R times for search with varied words,
 * and prints p50/p99 beside the target (p99 < 50 ms), with the plans'
 * index names (EXPLAIN) so a regression to a sequential scan shows.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat/review.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/time.h"

#define TARGET_P99_MS	50.0

static struct db_embedded *pg;
static char		 dir[] = "/tmp/parley-bench-conv-XXXXXX";

static void	 die(const char *, ...) __attribute__((format(printf, 1, 2)));
static void	 run(struct db *, const char *, const char *);
static int	 cmp_i64(const void *, const void *);
static void	 report(const char *, int64_t *, int);
static void	 explain(struct db *, int64_t, const char *);

static void
die(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench/conversations: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	db_embedded_stop(pg);
	exit(1);
}

/* Runs a statement of this benchmark's own (not Parley's) and says how
 * long it took. */
static void
run(struct db *db, const char *what, const char *sql)
{
	int64_t		 t0 = time_mono_ms();
	PGresult	*res = PQexec(db->conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		die("%s: %s", what, PQerrorMessage(db->conn));
	PQclear(res);
	fprintf(stderr, "  %-44s %7.1f s\n", what,
	    (double)(time_mono_ms() - t0) / 1000.0);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t	 x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *name, int64_t *us, int n)
{
	double	 p50, p99;

	qsort(us, (size_t)n, sizeof(*us), cmp_i64);
	p50 = (double)us[n / 2] / 1000.0;
	p99 = (double)us[(n * 99) / 100 - (n >= 100 ? 1 : 0)] / 1000.0;
	printf("%-28s n=%-4d p50 %7.2f ms   p99 %7.2f ms   max %7.2f ms   "
	    "target p99 < %.0f ms: %s\n", name, n, p50, p99,
	    (double)us[n - 1] / 1000.0, TARGET_P99_MS,
	    p99 < TARGET_P99_MS ? "MET" : "MISSED");
}

/* Prints the index names the plan of review_list's statement uses. */
static void
explain(struct db *db, int64_t org, const char *label)
{
	char		 sql[4096];
	PGresult	*res;
	const char	*names[] = { "chats_list_idx", "chats_status_idx",
			    "message_search_tsv_idx", "messages_chat_idx",
			    "Seq Scan on chats", "Seq Scan on messages" };
	const char	*q;

	if (strcmp(label, "list") == 0)
		q = "SELECT c.id FROM chats c JOIN channels ch ON ch.id = "
		    "c.channel_id WHERE c.org_id = %lld ORDER BY "
		    "c.last_message_at DESC, c.id DESC LIMIT 51";
	else if (strcmp(label, "status") == 0)
		q = "SELECT c.id FROM chats c JOIN channels ch ON ch.id = "
		    "c.channel_id WHERE c.org_id = %lld AND c.status = "
		    "'needs_human' ORDER BY c.last_message_at DESC, c.id DESC "
		    "LIMIT 51";
	else
		q = "WITH hits AS MATERIALIZED (SELECT DISTINCT m.chat_id "
		    "FROM message_search m WHERE m.org_id = %lld AND m.tsv @@ "
		    "plainto_tsquery('simple', 'ref4242')) SELECT c.id FROM "
		    "hits h JOIN chats c ON c.id = h.chat_id ORDER BY "
		    "c.last_message_at DESC, c.id DESC LIMIT 51";
	snprintf(sql, sizeof(sql), "EXPLAIN ");
	snprintf(sql + 8, sizeof(sql) - 8, q, (long long)org);
	res = PQexec(db->conn, sql);
	printf("plan %-7s:", label);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		for (int r = 0; r < PQntuples(res); r++)
			if (strstr(PQgetvalue(res, r, 0), names[i]) != NULL) {
				printf(" %s", names[i]);
				break;
			}
	printf("\n");
	PQclear(res);
}

int
main(int argc, char **argv)
{
	static const char *const statuses[] = { NULL, "ai", "needs_human",
	    "human", "closed" };
	static const struct {
		const char	*name, *fmt;
		int		 mod;
	} searches[] = {
		{ "search ref (≈200 msgs)", "ref%d", 50000 },
		{ "search tag (≈2,500 msgs)", "tag%d", 4001 },
		{ "search item (≈10,000 msgs)", "item%d", 997 },
		{ "search common (≈1.25M)", "%.0dpizza", 1 },
		{ "search 2 words (≈1,250)", "pizza item%d", 997 },
	};
	char			 conninfo[512], err[256], sql[4096], mig[600];
	struct db_pool		*pool;
	struct db		*db;
	struct arena		*a;
	struct review_filter	 f;
	struct review_row	*rows;
	char			*next, *cursors[64];
	int64_t			 chats = 100000, msgs = 10000000, org, ch1, ch2;
	int64_t			*us, t0, t_gen, first_chat;
	int			 reqs = 200, n, n_cursors = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--chats") == 0)
			chats = strtoll(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--messages") == 0)
			msgs = strtoll(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--requests") == 0)
			reqs = atoi(argv[i + 1]);
	}
	if (chats < 100 || msgs < chats || reqs < 10)
		die("usage: conversations [--chats N≥100] [--messages M≥N] "
		    "[--requests R≥10]");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp failed");
	pg = db_embedded_start(dir, 0, conninfo, sizeof(conninfo), err,
	    sizeof(err));
	if (pg == NULL)
		die("PostgreSQL: %s", err);
	pool = db_pool_new(conninfo, 1, 10000);
	if ((db = db_acquire(pool)) == NULL)
		die("no connection");
	snprintf(mig, sizeof(mig), "%s", "migrations");
	if (!db_migrate(db, mig, NULL, err, sizeof(err)))
		die("migrate: %s", err);

	printf("generating %" PRId64 " chats and %" PRId64 " messages\n",
	    chats, msgs);
	t_gen = time_mono_ms();
	run(db, "session settings", "SET maintenance_work_mem = '512MB';"
	    "SET synchronous_commit = off;"
	    /* No FK triggers for the bulk load (a throwaway cluster). */
	    "SET session_replication_role = replica");
	run(db, "org, channels, agent", "INSERT INTO orgs (name) VALUES "
	    "('Bench');"
	    "INSERT INTO channels (org_id, kind, name, environment, "
	    "phone_number) SELECT id, 'twilio', 'Dev', 'development', "
	    "'+15550000001' FROM orgs WHERE name = 'Bench';"
	    "INSERT INTO channels (org_id, kind, name, environment, "
	    "phone_number) SELECT id, 'twilio', 'Prod', 'production', "
	    "'+15550000002' FROM orgs WHERE name = 'Bench';"
	    "INSERT INTO agents (org_id, name, slug) SELECT id, 'Bot', 'bot' "
	    "FROM orgs WHERE name = 'Bench'");
	{
		PGresult *res = PQexec(db->conn, "SELECT o.id, min(c.id), "
		    "max(c.id) FROM orgs o JOIN channels c ON c.org_id = o.id "
		    "WHERE o.name = 'Bench' GROUP BY o.id");

		org = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		ch1 = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		ch2 = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
		PQclear(res);
	}
	run(db, "drop message indexes for the load",
	    "DROP INDEX message_search_tsv_idx, messages_chat_idx, "
	    "messages_thread_idx");
	snprintf(sql, sizeof(sql), "INSERT INTO chats (org_id, channel_id, "
	    "external_id, display_name, agent_id, status, last_message_at, "
	    "last_inbound_at, human_seen_at) SELECT %lld, CASE WHEN g %% 4 = 0 "
	    "THEN %lld ELSE %lld END, '+1555' || lpad(g::text, 7, '0'), "
	    "'Contact ' || g, (SELECT id FROM agents WHERE org_id = %lld), "
	    "(ARRAY['ai','ai','ai','ai','needs_human','human','closed'])"
	    "[1 + g %% 7], now() - g * interval '17 seconds', "
	    "now() - g * interval '17 seconds', CASE WHEN g %% 3 = 0 THEN "
	    "now() - g * interval '17 seconds' - interval '1 hour' END "
	    "FROM generate_series(1, %lld) g", (long long)org, (long long)ch2,
	    (long long)ch1, (long long)org, (long long)chats);
	run(db, "chats", sql);
	{
		PGresult *res = PQexec(db->conn, "SELECT min(id) FROM chats");

		first_chat = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	/* Messages in chunks of 2M; each chat gets M/N, spread in time. */
	for (int64_t lo = 1; lo <= msgs; lo += 2000000) {
		int64_t	 hi = lo + 2000000 - 1 < msgs ? lo + 2000000 - 1 : msgs;
		char	 what[64];

		snprintf(sql, sizeof(sql), "INSERT INTO messages (org_id, "
		    "channel_id, chat_id, direction, body, status, created_at) "
		    "SELECT %lld, c.channel_id, c.id, CASE WHEN g %% 2 = 0 "
		    "THEN 'in' ELSE 'out' END, (ARRAY['hello','thanks',"
		    "'order','pizza','delivery','refund','price','hours'])"
		    "[1 + g %% 8] || ' about ref' || (g %% 50000) || ' and "
		    "item' || (g %% 997) || ' tag' || (g %% 4001), CASE WHEN g %% 2 = 0 THEN "
		    "'received' ELSE 'delivered' END, c.last_message_at - "
		    "(g / %lld) * interval '1 minute' FROM generate_series("
		    "%lld, %lld) g JOIN chats c ON c.id = %lld + (g %% %lld)",
		    (long long)org, (long long)chats, (long long)lo,
		    (long long)hi, (long long)first_chat, (long long)chats);
		snprintf(what, sizeof(what), "messages %lld–%lld",
		    (long long)lo, (long long)hi);
		run(db, what, sql);
	}
	run(db, "messages_chat_idx", "CREATE INDEX messages_chat_idx ON "
	    "messages (chat_id, id)");
	run(db, "messages_thread_idx", "CREATE INDEX messages_thread_idx ON "
	    "messages (thread_id, id)");
	/* The unread counts chat/ingest.c keeps, as 0027 fills them. */
	run(db, "chats.unread", "SET work_mem = '1GB';"
	    "UPDATE chats c SET unread = u.n FROM (SELECT m.chat_id, "
	    "count(*) AS n FROM messages m JOIN chats k ON k.id = m.chat_id "
	    "WHERE m.direction = 'in' AND m.created_at > "
	    "COALESCE(k.human_seen_at, '-infinity') GROUP BY m.chat_id) u "
	    "WHERE c.id = u.chat_id;"
	    "RESET work_mem");
	/* The indexer's rows (chat/search.c: body and transcript in the
	 * 'simple' configuration), then its watermark past them. */
	run(db, "message_search", "SET work_mem = '1GB';"
	    "INSERT INTO message_search (chat_id, message_id, org_id, tsv)"
	    " SELECT chat_id, id, org_id, to_tsvector('simple', body || ' ' ||"
	    " transcript) FROM messages ORDER BY chat_id, id;"
	    "UPDATE search_state SET upto = (SELECT max(id) FROM messages),"
	    " pending_upto = NULL, pending_xmax = NULL;"
	    "RESET work_mem");
	run(db, "message_search_tsv_idx (GIN)", "CREATE INDEX "
	    "message_search_tsv_idx ON message_search USING gin (tsv)");
	/* The indexer's count of the messages holding each word (0025). */
	run(db, "search_words", "SET work_mem = '1GB';"
	    "INSERT INTO search_words (word_hash, messages) SELECT"
	    " hashtextextended(u.lexeme, 0), count(*) FROM message_search,"
	    " unnest(tsv) AS u GROUP BY 1;"
	    "RESET work_mem");
	/* What the trigger keeps (it does not fire in replica mode). */
	run(db, "chat_search_terms", "SET work_mem = '1GB';"
	    "INSERT INTO chat_search_terms (chat_id, terms) SELECT chat_id, "
	    "CASE WHEN length(s.t) > 4000 THEN NULL ELSE s.t END FROM (SELECT "
	    "chat_id, strip(to_tsvector('simple', string_agg(body || ' ' || "
	    "transcript, ' '))) AS t FROM messages GROUP BY chat_id) s;"
	    "RESET work_mem");
	run(db, "VACUUM ANALYZE", "VACUUM ANALYZE");
	printf("generated in %.1f s\n", (double)(time_mono_ms() - t_gen) /
	    1000.0);
	explain(db, org, "list");
	explain(db, org, "status");
	explain(db, org, "search");

	us = calloc((size_t)reqs, sizeof(*us));
	a = arena_new();
	/* Cursors to page from: walk the first pages once. */
	memset(&f, 0, sizeof(f));
	for (int i = 0; i < 64; i++) {
		if (review_list(db, a, org, &f, &rows, &n, &next) != DB_OK)
			die("review_list failed");
		if (next == NULL)
			break;
		cursors[n_cursors++] = next;
		if (!review_cursor_parse(next, &f))
			die("bad cursor %s", next);
	}
	for (int i = 0; i < reqs; i++) {
		memset(&f, 0, sizeof(f));
		f.status = statuses[i % 5];
		if (i % 3 == 1)
			f.channel_id = i % 2 ? ch1 : ch2;
		if (i % 7 == 3)
			f.environment = "production";
		if (i % 4 == 2 && n_cursors > 0)
			(void)review_cursor_parse(cursors[i % n_cursors], &f);
		t0 = time_mono_us();
		if (review_list(db, a, org, &f, &rows, &n, &next) != DB_OK)
			die("review_list failed");
		us[i] = time_mono_us() - t0;
	}
	report("list (filters, cursors)", us, reqs);
	/*
	 * Search, by how many messages a query matches (the data above):
	 * refN ≈ 200, tagN ≈ 2,500, itemN ≈ 10,000, a greeting ≈ 1,250,000;
	 * two words must meet in one message ("pizza itemN" ≈ 1,250).
	 */
	for (size_t k = 0; k < sizeof(searches) / sizeof(searches[0]); k++) {
		for (int i = 0; i < reqs; i++) {
			char	 q[64];

			memset(&f, 0, sizeof(f));
			snprintf(q, sizeof(q), searches[k].fmt,
			    (i * 7919) % searches[k].mod);
			f.q = q;
			if (i % 5 == 1)
				f.status = "needs_human";
			if (i % 4 == 2 && n_cursors > 0)
				(void)review_cursor_parse(
				    cursors[i % n_cursors], &f);
			t0 = time_mono_us();
			if (review_list(db, a, org, &f, &rows, &n, &next) !=
			    DB_OK)
				die("search failed");
			us[i] = time_mono_us() - t0;
		}
		report(searches[k].name, us, reqs);
	}
	arena_free(a);
	free(us);
	db_release(db);
	db_pool_free(pool);
	if (getenv("BENCH_KEEP") != NULL) {
		/* For a look at plans: the cluster stays up (stop it with
		 * pg_ctl -D <dir>/… stop, then remove the directory). */
		printf("kept: %s (conninfo %s)\n", dir, conninfo);
		return 0;
	}
	db_embedded_stop(pg);
	{
		char	 rm[600];

		snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
		if (system(rm) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return 0;
}
