/*
 * search: the conversation-search index (see search.h). Owns
 * message_search, search_state, search_words and chat_search_terms.
 *
 * DESIGN (never losing a message). Message ids come from a sequence when
 * the INSERT runs, not when its transaction commits, so a message with a
 * lower id can become visible after one with a higher id: "index
 * everything above the highest id indexed" would skip it. So the
 * watermark (search_state.upto: every message with id <= upto is
 * indexed) only moves up to a value proven safe:
 *
 *   Each round works in one REPEATABLE READ snapshot S. It indexes the
 *   visible messages above upto that have no row yet (the anti-join makes
 *   a re-scan of that range cheap and idempotent), and computes complete,
 *   the highest id below which every message visible in S is indexed
 *   (the highest visible id, or the last one indexed when the round was
 *   cut at SEARCH_ROUND_MAX). A message with an id <= complete that S
 *   cannot see was inserted by a transaction running when S was taken
 *   (one that started later would have drawn a higher id): once every
 *   such transaction has ended — pg_snapshot_xmin of a later snapshot is
 *   past S's xmax — all of them are visible, and the next round indexes
 *   them. So a round records (complete, xmax of S) as pending, and a
 *   later round whose snapshot has passed that xmax makes it the
 *   watermark. The messages above it are re-scanned each round until
 *   then: about one round's worth.
 *
 * The words of a chat (chat_search_terms, migration 0026: a stripped
 * tsvector capped at SEARCH_TERMS_MAX words, NULL past it; no row, no
 * words) grow by each round's new words, one upsert per chat per round,
 * and only when a word is new. Not on the chats row: a round holds its
 * rows' locks until it commits, and a webhook upserting the same chat
 * would wait for it. Each
 * word's message count (search_words, by the word's hash, migration
 * 0025: review.c's choice of plan) grows by the round's messages that
 * hold it, in hash order (one round at a time holds search_state, so
 * rounds never meet there).
 *
 * Thread-safety: no shared state but the poke (its own mutex).
 */
#include "chat/search.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "util/log.h"

/* Words a chat's set keeps (review.c reads its messages past it);
 * migration 0019's media_files_terms_sync uses the same cap. */
#define SEARCH_TERMS_MAX	4000

/*
 * Adds the words w (a stripped tsvector) of the rows of `from` (chat_id,
 * w) to their chats' sets, capped at $3 words (NULL past it; a set already
 * NULL stays so), writing a row only when a word is new.
 */
#define TERMS_ADD(from) \
	" INSERT INTO chat_search_terms AS c (chat_id, terms)" \
	" SELECT chat_id, CASE WHEN length(w) > $3 THEN NULL ELSE w END" \
	"   FROM " from \
	" ON CONFLICT (chat_id) DO UPDATE" \
	"    SET terms = CASE" \
	"        WHEN length(c.terms || EXCLUDED.terms) > $3 THEN NULL" \
	"        ELSE c.terms || EXCLUDED.terms END" \
	"  WHERE c.terms IS NOT NULL" \
	"    AND (EXCLUDED.terms IS NULL" \
	"         OR length(c.terms || EXCLUDED.terms) > length(c.terms))"

static pthread_mutex_t	 poke_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 poke_cv = PTHREAD_COND_INITIALIZER;
static unsigned		 poked;
static unsigned		 woken;

static void	 deadline(struct timespec *, int);

enum db_status
search_index_any_org(struct db *db, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	int64_t		 upto, pending, complete, indexed;
	bool		 settled;

	if (n != NULL)
		*n = 0;
	st = db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ", DB_END);
	if (st != DB_OK)
		return st;
	/* Across organisations on purpose: one index, one watermark. */
	st = db_query(db, &res,
	    "SELECT upto, COALESCE(pending_upto, 0),"
	    "       pending_xmax IS NOT NULL"
	    "       AND pg_snapshot_xmin(pg_current_snapshot()) >= pending_xmax"
	    "  FROM search_state WHERE id = 1"
	    "   FOR UPDATE SKIP LOCKED",
	    DB_END);
	if (st != DB_OK || res.n_rows == 0)
		goto out;	/* another process's indexer has the round */
	upto = db_res_i64(&res, 0, 0);
	pending = db_res_i64(&res, 0, 1);
	settled = db_res_bool(&res, 0, 2);
	db_res_clear(&res);

	st = db_query(db, &res,
	    "WITH ins AS ("
	    "  INSERT INTO message_search (chat_id, message_id, org_id, tsv)"
	    "  SELECT m.chat_id, m.id, m.org_id,"
	    "         to_tsvector('simple', m.body || ' ' || m.transcript)"
	    "         || m.media_terms"
	    "    FROM messages m"
	    "   WHERE m.id > $1"
	    "     AND NOT EXISTS (SELECT 1 FROM message_search s"
	    "          WHERE s.chat_id = m.chat_id AND s.message_id = m.id)"
	    "   ORDER BY m.id LIMIT $2"
	    "  ON CONFLICT DO NOTHING"
	    "  RETURNING chat_id, message_id, tsv"
	    "), words AS ("
	    "  SELECT ins.chat_id, array_to_tsvector(array_agg(DISTINCT"
	    "         u.lexeme)) AS w"
	    "    FROM ins, unnest(ins.tsv) AS u"
	    "   GROUP BY ins.chat_id"
	    "), upd AS ("
	    TERMS_ADD("words ORDER BY chat_id")
	    "  RETURNING c.chat_id"
	    "), counted AS ("
	    "  INSERT INTO search_words AS sw (word_hash, messages)"
	    "  SELECT hashtextextended(u.lexeme, 0), count(*)"
	    "    FROM ins, unnest(ins.tsv) AS u"
	    "   GROUP BY 1 ORDER BY 1"
	    "  ON CONFLICT (word_hash) DO UPDATE"
	    "     SET messages = sw.messages + EXCLUDED.messages"
	    "  RETURNING 1"
	    ")"
	    " SELECT (SELECT count(*) FROM ins),"
	    "        COALESCE((SELECT max(message_id) FROM ins), 0),"
	    "        COALESCE((SELECT max(id) FROM messages), 0),"
	    "        (SELECT count(*) FROM upd)",
	    DB_I64(upto), DB_I64(SEARCH_ROUND_MAX), DB_I64(SEARCH_TERMS_MAX),
	    DB_END);
	if (st != DB_OK)
		goto out;
	indexed = db_res_i64(&res, 0, 0);
	complete = indexed >= SEARCH_ROUND_MAX ? db_res_i64(&res, 0, 1) :
	    db_res_i64(&res, 0, 2);
	db_res_clear(&res);
	if (settled && pending > upto)
		upto = pending < complete ? pending : complete;
	st = db_exec(db,
	    "UPDATE search_state"
	    "   SET upto = GREATEST(upto, $1), pending_upto = $2,"
	    "       pending_xmax = pg_snapshot_xmax(pg_current_snapshot())"
	    " WHERE id = 1",
	    DB_I64(upto), DB_I64(complete), DB_END);
	if (st == DB_OK)
		st = db_tx_commit(db);
	if (st == DB_OK && n != NULL)
		*n = (int)indexed;
out:
	db_res_clear(&res);
	db_tx_rollback(db);
	/* Two indexers met (another process): the next round will do. */
	return st == DB_CONFLICT ? DB_OK : st;
}

enum db_status
search_reindex_message(struct db *db, int64_t org_id, int64_t message_id)
{
	return db_exec(db,
	    "WITH ins AS ("
	    "  INSERT INTO message_search AS s (chat_id, message_id, org_id,"
	    "         tsv)"
	    "  SELECT m.chat_id, m.id, m.org_id,"
	    "         to_tsvector('simple', m.body || ' ' || m.transcript)"
	    "         || m.media_terms"
	    "    FROM messages m WHERE m.org_id = $1 AND m.id = $2"
	    "  ON CONFLICT (chat_id, message_id) DO UPDATE"
	    "     SET tsv = EXCLUDED.tsv, indexed_at = clock_timestamp()"
	    "  RETURNING chat_id, strip(tsv) AS w"
	    ")"
	    TERMS_ADD("ins WHERE length(w) > 0"),
	    DB_I64(org_id), DB_I64(message_id), DB_I64(SEARCH_TERMS_MAX),
	    DB_END);
}

void
search_poke(void)
{
	pthread_mutex_lock(&poke_mu);
	if (poked++ == 0)
		pthread_cond_signal(&poke_cv);
	pthread_mutex_unlock(&poke_mu);
}

void
search_wake_all(void)
{
	pthread_mutex_lock(&poke_mu);
	woken++;
	pthread_cond_broadcast(&poke_cv);
	pthread_mutex_unlock(&poke_mu);
}

static void
deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

bool
search_wait(int timeout_ms)
{
	struct timespec	 until;
	unsigned	 w;
	bool		 was_poked;

	pthread_mutex_lock(&poke_mu);
	w = woken;
	deadline(&until, timeout_ms);
	while (poked == 0 && woken == w &&
	    pthread_cond_timedwait(&poke_cv, &poke_mu, &until) != ETIMEDOUT)
		;
	was_poked = poked > 0;
	if (was_poked && woken == w) {
		/* Gather what follows the first poke into the same round. */
		deadline(&until, SEARCH_GATHER_MS);
		while (woken == w && pthread_cond_timedwait(&poke_cv,
		    &poke_mu, &until) != ETIMEDOUT)
			;
	}
	poked = 0;
	pthread_mutex_unlock(&poke_mu);
	return was_poked;
}
