/*
 * review: the read side of conversation review (see review.h), over the
 * tables chat/ owns (chats, threads, messages). A chat's agent is the one
 * the reply pool routes to: its own link, else its channel's default. Two joins reach outside:
 * channels and agents for their names, users for the email of a person
 * who replied or holds the chat; read-only, for display.
 *
 * DESIGN. The list is one statement per shape (plain, search), each a
 * fixed text whose filters are `($n IS NULL OR …)`. They are sent
 * unprepared (the leading comment keeps db/query.c from preparing them) so
 * PostgreSQL plans each call with its values: NULL conditions fold away
 * and the scan is chats_list_idx (or chats_status_idx with a status) in
 * index order, stopping after 51 rows. The last message comes from a
 * LATERAL on messages_chat_idx. The unread count is the chat row's
 * (chats.unread: chat/ingest.c adds each inbound message in its chat
 * upsert, review_mark_seen subtracts what a person was shown), shown up
 * to REVIEW_UNREAD_CAP; counting it from messages per view read up to
 * 100 message pages per row, most of a page's cost (issue 17).
 *
 * Search reads the index chat/search.c keeps a second or so behind the
 * messages (message_search, search_words, chat_search_terms). It has
 * two plans, chosen per call by search_is_broad (how many messages
 * match: one word's count in search_words, else counted up to
 * SEARCH_BROAD through the GIN index message_search_tsv_idx). A rare
 * word: collect the chat ids of its messages through that index and
 * join chats to them, the page's columns read for its 51 chats only. A
 * broad word (SEARCH_BROAD matches or more; SEARCH_BROAD_WORDS for
 * several words): walk chats in list order and test each chat's word
 * set (chat_search_terms), stopping at the page; the walk's cost is the
 * number of chats visited, which is small exactly when the word is
 * common.
 *
 * The cursor is "<µs since the epoch>_<id>" of the last row shown: exact
 * (microseconds are PostgreSQL's resolution) and opaque to clients.
 */
#include "chat/review.h"
#include "chat/chats.h"
#include "chat/rows.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channels/channel.h"
#include "util/arena.h"
#include "util/str.h"

#define REVIEW_UNREAD_CAP	"100"	/* the most a list row says */
#define REVIEW_Q_MAX		200
#define SEARCH_BROAD		500	/* matching messages: see search_is_broad */
#define SEARCH_BROAD_WORDS	2000	/* the same for several words */

/* Columns of a list row, in struct review_row's order. */
#define LIST_COLS \
	"SELECT c.id, c.kind, c.external_id, c.display_name," \
	"       COALESCE(a.id, 0), COALESCE(a.name, '')," \
	"       c.channel_id, ch.name, ch.environment, c.status," \
	"       to_char(c.last_message_at AT TIME ZONE 'UTC'," \
	"               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')," \
	"       COALESCE(lm.body, ''), COALESCE(lm.direction, '')," \
	"       LEAST(c.unread, " REVIEW_UNREAD_CAP ")," \
	"       (extract(epoch FROM c.last_message_at) * 1000000)::bigint" \
	"           || '_' || c.id," \
	"       COALESCE(c.contact_phone, ''), COALESCE(c.contact_user_id, '')," \
	"       COALESCE(c.contact_username, ''), c.owner"
#define LIST_JOINS \
	"  JOIN channels ch ON ch.id = c.channel_id" \
	"  LEFT JOIN agents a" \
	"         ON a.id = COALESCE(c.agent_id, ch.default_agent_id)" \
	"  LEFT JOIN LATERAL (SELECT m.body, m.direction FROM messages m" \
	"       WHERE m.chat_id = c.id ORDER BY m.id DESC LIMIT 1) lm ON true"
#define LIST_WHERE LIST_FILTERS LIST_ORDER
#define LIST_FILTERS \
	" WHERE c.org_id = $1" \
	"   AND ($2::bigint IS NULL" \
	"        OR COALESCE(c.agent_id, ch.default_agent_id) = $2)" \
	"   AND ($3::bigint IS NULL OR c.channel_id = $3)" \
	"   AND ($4::text IS NULL OR c.status = $4)" \
	"   AND ($5::text IS NULL OR ch.environment = $5)" \
	"   AND ($6::date IS NULL OR c.last_message_at >=" \
	"        ($6::date::timestamp AT TIME ZONE 'UTC'))" \
	"   AND ($7::date IS NULL OR c.last_message_at <" \
	"        (($7::date + 1)::timestamp AT TIME ZONE 'UTC'))" \
	"   AND ($8::bigint IS NULL OR (c.last_message_at, c.id) <" \
	"        ('epoch'::timestamptz + $8::bigint * interval '1 microsecond'," \
	"         $9::bigint))"
#define LIST_ORDER \
	" ORDER BY c.last_message_at DESC, c.id DESC" \
	" LIMIT 51"

static bool		 date_ok(const char *);
static bool		 digits(const char *, size_t, size_t);
static void		 turn_view(struct db *, struct arena *, int64_t,
			    struct review_page *);

/* n_min..n_max ASCII digits and nothing else. */
static bool
digits(const char *s, size_t n_min, size_t n_max)
{
	size_t	 n = 0;

	for (; s[n] != '\0'; n++)
		if (!isdigit((unsigned char)s[n]) || n >= n_max)
			return false;
	return n >= n_min;
}

/* YYYY-MM-DD with a month 01–12 and a day 01–31 (PostgreSQL checks the
 * rest: a 31 April becomes a 400 through DB_INVALID). */
static bool
date_ok(const char *s)
{
	int	 m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
			return false;
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	return m >= 1 && m <= 12 && d >= 1 && d <= 31 && s[0] != '0';
}

bool
review_filter_check(const struct review_filter *f, const char **why)
{
	if (f->status != NULL && !str_eq(f->status, "ai") &&
	    !str_eq(f->status, "needs_human") && !str_eq(f->status, "human") &&
	    !str_eq(f->status, "closed")) {
		*why = "status must be ai, needs_human, human or closed.";
		return false;
	}
	if (f->environment != NULL && !str_eq(f->environment, "development") &&
	    !str_eq(f->environment, "production")) {
		*why = "environment must be development or production.";
		return false;
	}
	if ((f->from != NULL && !date_ok(f->from)) ||
	    (f->to != NULL && !date_ok(f->to))) {
		*why = "Dates must look like 2026-01-31.";
		return false;
	}
	if (f->q != NULL && strlen(f->q) > REVIEW_Q_MAX) {
		*why = "The search text is too long (at most 200 bytes).";
		return false;
	}
	if (f->agent_id < 0 || f->channel_id < 0) {
		*why = "Agent and channel must be ids.";
		return false;
	}
	return true;
}

bool
review_cursor_parse(const char *s, struct review_filter *f)
{
	const char	*us = s;
	char		 num[24];
	const char	*sep = s != NULL ? strchr(s, '_') : NULL;
	size_t		 n;
	int64_t		 t, id;

	if (sep == NULL)
		return false;
	n = (size_t)(sep - us);
	if (n == 0 || n >= sizeof(num))
		return false;
	memcpy(num, us, n);
	num[n] = '\0';
	/* Digits only: no sign, no spaces (str_to_i64 would take "-1"). */
	if (!digits(num, 1, 18) || !digits(sep + 1, 1, 18))
		return false;
	if (!str_to_i64(num, &t) || !str_to_i64(sep + 1, &id) || id <= 0)
		return false;
	f->after_us = t;
	f->after_id = id;
	return true;
}

/*
 * Whether a search matches many messages (SEARCH_BROAD or more): then
 * walking chats in list order finds a page sooner than gathering every
 * matching chat. Two steps, both across organisations on purpose (they
 * only choose a plan; the results are always the org's; the cost of a
 * wrong choice, a word common elsewhere and rare here, is a walk over
 * this org's chats, a few µs each):
 *
 *   1. One word counted broad in search_words (the indexer's count of
 *      the messages holding each word, chat/search.c): broad, with one
 *      index lookup. The count may be high (deleted messages), never
 *      for a word that was not broad once.
 *   2. Otherwise count the matches through the GIN index: exact for
 *      several words (they must meet in one message, which no per-word
 *      count tells) and for a word the counts miss (one a transcript or
 *      a document added). PostgreSQL reads the row of each match for it
 *      (no skip-fetch on 15.18): up to SEARCH_BROAD scattered pages of
 *      message_search, 10–30 ms at 500, which is why step 1 goes first.
 *      Several words count up to SEARCH_BROAD_WORDS: the walk confirms
 *      each candidate chat against its messages, for which PostgreSQL
 *      gathers every match's chat id first (a hashed subplan), so the
 *      walk costs the collection and more; collecting is the cheaper
 *      plan until matches are many.
 */
static enum db_status
search_is_broad(struct db *db, const char *q, bool *broad)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	int64_t		 words, limit;

	st = db_query(db, &res,
	    "SELECT count(*), COALESCE(min(COALESCE(w.messages, 0)), 0)"
	    "  FROM unnest(tsvector_to_array(to_tsvector('simple', $1)))"
	    "       AS q (word)"
	    "  LEFT JOIN search_words w"
	    "         ON w.word_hash = hashtextextended(q.word, 0)",
	    DB_TEXT(q), DB_END);
	if (st != DB_OK)
		goto out;
	words = db_res_i64(&res, 0, 0);
	*broad = words == 1 && db_res_i64(&res, 0, 1) >= SEARCH_BROAD;
	db_res_clear(&res);
	if (*broad)
		goto out;
	limit = words > 1 ? SEARCH_BROAD_WORDS : SEARCH_BROAD;
	st = db_query(db, &res,
	    "SELECT count(*) FROM ("
	    "  SELECT 1 FROM message_search"
	    "   WHERE tsv @@ plainto_tsquery('simple', $1)"
	    "   LIMIT $2) s",
	    DB_TEXT(q), DB_I64(limit), DB_END);
	if (st == DB_OK)
		*broad = db_res_i64(&res, 0, 0) >= limit;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
review_list(struct db *db, struct arena *a, int64_t org_id,
    const struct review_filter *f, struct review_row **out, int *n,
    char **next)
{
	struct db_res		 res = { 0 };
	struct review_row	*rows;
	struct db_param		 agent, channel, status, env, from, to, aus,
				 aid;
	bool			 search = f->q != NULL && f->q[0] != '\0';
	bool			 broad = false;
	enum db_status		 st;
	int			 k;

	*out = NULL;
	*n = 0;
	*next = NULL;
	agent = f->agent_id > 0 ? DB_I64(f->agent_id) : DB_NULL;
	channel = f->channel_id > 0 ? DB_I64(f->channel_id) : DB_NULL;
	status = f->status != NULL ? DB_TEXT(f->status) : DB_NULL;
	env = f->environment != NULL ? DB_TEXT(f->environment) : DB_NULL;
	from = f->from != NULL ? DB_TEXT(f->from) : DB_NULL;
	to = f->to != NULL ? DB_TEXT(f->to) : DB_NULL;
	aus = f->after_id > 0 ? DB_I64(f->after_us) : DB_NULL;
	aid = f->after_id > 0 ? DB_I64(f->after_id) : DB_NULL;
	if (!search)
		st = db_query(db, &res,
		    "/* review_list: planned per call, see review.h */"
		    LIST_COLS
		    "  FROM chats c"
		    LIST_JOINS
		    LIST_WHERE,
		    DB_I64(org_id), agent, channel, status, env, from, to, aus,
		    aid, DB_END);
	else if ((st = search_is_broad(db, f->q, &broad)) != DB_OK)
		goto out;
	else if (broad)
		/*
		 * A word in many chats: walk chats newest first and stop at
		 * the page, instead of collecting every match first. Each
		 * chat is tested against its word set (chat_search_terms,
		 * kept by chat/search.c; a chat without a row has no words
		 * yet, and the subquery's NULL drops it): one value, not
		 * its messages. That set is exact for one word; several
		 * words must meet in ONE message, so a chat that has them
		 * all is confirmed against its messages, as is a chat whose
		 * set grew past the cap (NULL). The test is a subquery per
		 * chat, not a join, so the plan must walk: joined, the
		 * planner (which puts a word missing from its statistics
		 * in 0.5% of word sets) hashed all 100,000 sets of the
		 * benchmark's organisation for a word in 2.5% of them and
		 * sorted the matches: 340 ms median instead of 9 ms, 1.4 s
		 * instead of 0.15 s in a new session (bench/README.md).
		 */
		st = db_query(db, &res,
		    "/* review_search_walk: planned per call, see review.h */"
		    LIST_COLS
		    "  FROM chats c"
		    LIST_JOINS
		    LIST_FILTERS
		    "   AND (SELECT CASE"
		    "          WHEN t.terms IS NULL THEN EXISTS (SELECT 1"
		    "               FROM message_search s WHERE s.chat_id = c.id"
		    "                AND s.tsv @@ plainto_tsquery('simple', $10))"
		    "          WHEN t.terms @@ plainto_tsquery('simple', $10)"
		    "          THEN numnode(plainto_tsquery('simple', $10)) = 1"
		    "               OR EXISTS (SELECT 1 FROM message_search s"
		    "                   WHERE s.chat_id = c.id AND s.tsv @@"
		    "                         plainto_tsquery('simple', $10))"
		    "          ELSE false END"
		    "          FROM chat_search_terms t WHERE t.chat_id = c.id)"
		    LIST_ORDER,
		    DB_I64(org_id), agent, channel, status, env, from, to, aus,
		    aid, DB_TEXT(f->q), DB_END);
	else
		st = db_query(db, &res,
		    "/* review_search: planned per call, see review.h */"
		    " WITH hits AS MATERIALIZED ("
		    "   SELECT DISTINCT s.chat_id FROM message_search s"
		    "    WHERE s.org_id = $1"
		    "      AND s.tsv @@ plainto_tsquery('simple', $10)),"
		    /* The page first, then its rows' columns: the last
		     * message for 51 chats, not for every matching one. */
		    " page AS MATERIALIZED ("
		    "   SELECT c.id FROM hits h"
		    "     JOIN chats c ON c.id = h.chat_id"
		    "     JOIN channels ch ON ch.id = c.channel_id"
		    LIST_WHERE ")"
		    LIST_COLS
		    "  FROM page p"
		    "  JOIN chats c ON c.id = p.id"
		    LIST_JOINS
		    " WHERE c.org_id = $1"
		    LIST_ORDER,
		    DB_I64(org_id), agent, channel, status, env, from, to, aus,
		    aid, DB_TEXT(f->q), DB_END);
	if (st != DB_OK)
		goto out;
	k = res.n_rows > REVIEW_PAGE ? REVIEW_PAGE : res.n_rows;
	rows = arena_alloc(a, sizeof(*rows) * (size_t)(k > 0 ? k : 1));
	for (int i = 0; i < k; i++) {
		struct review_row	*w = &rows[i];

		w->id = db_res_i64(&res, i, 0);
		w->kind = chat_col(a, &res, i, 1);
		w->external_id = chat_col(a, &res, i, 2);
		w->display_name = chat_col(a, &res, i, 3);
		w->agent_id = db_res_i64(&res, i, 4);
		w->agent_name = chat_col(a, &res, i, 5);
		w->channel_id = db_res_i64(&res, i, 6);
		w->channel_name = chat_col(a, &res, i, 7);
		w->environment = chat_col(a, &res, i, 8);
		w->status = chat_col(a, &res, i, 9);
		w->last_message_at = chat_col(a, &res, i, 10);
		w->last_body = chat_col(a, &res, i, 11);
		w->last_direction = chat_col(a, &res, i, 12);
		w->unread = db_res_i64(&res, i, 13);
		w->cursor = chat_col(a, &res, i, 14);
		w->contact_phone = chat_col(a, &res, i, 15);
		w->contact_user_id = chat_col(a, &res, i, 16);
		w->contact_username = chat_col(a, &res, i, 17);
		w->owner = chat_col(a, &res, i, 18);
	}
	if (res.n_rows > REVIEW_PAGE && k > 0)
		*next = rows[k - 1].cursor;
	*out = rows;
	*n = k;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
review_chat_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t chat_id, struct review_chat *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    "SELECT c.id, c.kind, c.external_id, c.display_name,"
	    "       COALESCE(a.id, 0), COALESCE(a.name, ''),"
	    "       c.channel_id, ch.name, ch.kind, ch.environment, c.status,"
	    "       c.handoff_reason, COALESCE(c.assigned_user_id, 0),"
	    "       COALESCE(u.email, ''),"
	    "       COALESCE(to_char(c.last_inbound_at AT TIME ZONE 'UTC',"
	    "                'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
	    "       COALESCE(GREATEST(0, floor(extract(epoch FROM"
	    "           c.last_inbound_at + interval '24 hours' - now()))),"
	    "           0)::bigint,"
	    "       to_char(c.created_at AT TIME ZONE 'UTC',"
	    "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    "       to_char(c.last_message_at AT TIME ZONE 'UTC',"
	    "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    "       COALESCE(c.contact_phone, ''),"
	    "       COALESCE(c.contact_user_id, ''),"
	    "       COALESCE(c.contact_parent_user_id, ''),"
	    "       COALESCE(c.contact_username, ''), c.owner,"
	    "       COALESCE(to_char(c.owner_changed_at AT TIME ZONE 'UTC',"
	    "                'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
	    "       c.unread"
	    "  FROM chats c"
	    "  JOIN channels ch ON ch.id = c.channel_id"
	    "  LEFT JOIN agents a"
	    "         ON a.id = COALESCE(c.agent_id, ch.default_agent_id)"
	    "  LEFT JOIN users u ON u.id = c.assigned_user_id"
	    " WHERE c.org_id = $1 AND c.id = $2",
	    DB_I64(org_id), DB_I64(chat_id), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows == 0) {
		st = DB_NOT_FOUND;
		goto out;
	}
	out->id = db_res_i64(&res, 0, 0);
	out->kind = chat_col(a, &res, 0, 1);
	out->external_id = chat_col(a, &res, 0, 2);
	out->display_name = chat_col(a, &res, 0, 3);
	out->agent_id = db_res_i64(&res, 0, 4);
	out->agent_name = chat_col(a, &res, 0, 5);
	out->channel_id = db_res_i64(&res, 0, 6);
	out->channel_name = chat_col(a, &res, 0, 7);
	out->channel_kind = chat_col(a, &res, 0, 8);
	out->environment = chat_col(a, &res, 0, 9);
	out->status = chat_col(a, &res, 0, 10);
	out->handoff_reason = chat_col(a, &res, 0, 11);
	out->assigned_user_id = db_res_i64(&res, 0, 12);
	out->assigned_email = chat_col(a, &res, 0, 13);
	out->last_inbound_at = chat_col(a, &res, 0, 14);
	out->window_left_s = db_res_i64(&res, 0, 15);
	out->created_at = chat_col(a, &res, 0, 16);
	out->last_message_at = chat_col(a, &res, 0, 17);
	out->contact_phone = chat_col(a, &res, 0, 18);
	out->contact_user_id = chat_col(a, &res, 0, 19);
	out->contact_parent_user_id = chat_col(a, &res, 0, 20);
	out->contact_username = chat_col(a, &res, 0, 21);
	out->owner = chat_col(a, &res, 0, 22);
	out->owner_changed_at = chat_col(a, &res, 0, 23);
	out->unread = db_res_i64(&res, 0, 24);
out:
	db_res_clear(&res);
	return st;
}

static enum db_status
review_timeline(struct db *db, struct arena *a, int64_t org_id,
    int64_t chat_id, int64_t before_id, struct review_msg **msgs,
    int *n_msgs, bool *has_earlier, struct review_thread **threads,
    int *n_threads)
{
	struct db_res		 res = { 0 };
	struct review_msg	*ms;
	struct review_thread	*ts;
	enum db_status		 st;
	int			 k, skip;

	*msgs = NULL;
	*n_msgs = 0;
	*has_earlier = false;
	*threads = NULL;
	*n_threads = 0;
	/* The newest 501 before before_id: the 501st says "earlier". */
	st = db_query(db, &res,
	    "SELECT * FROM ("
	    "  SELECT m.id, m.direction, m.sender, m.sender_name, m.body,"
	    "         m.media::text, m.status, COALESCE(m.error_code, ''),"
	    "         COALESCE(m.error_text, ''), COALESCE(m.thread_id, 0),"
	    "         COALESCE(m.llm_call_id, 0),"
	    "         COALESCE(m.author_user_id, 0), COALESCE(u.email, ''),"
	    "         to_char(m.created_at AT TIME ZONE 'UTC',"
	    "                 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    "         m.transcript, COALESCE(m.resent_as_id, 0), m.kind,"
	    "         COALESCE(m.reply_to_id, 0), COALESCE(m.answered_by, 0),"
	    "         m.unanswered_reason,"
	    "         COALESCE(m.sender_user_id, ''),"
	    "         COALESCE(m.sender_username, ''),"
	    "         f.message_id IS NOT NULL,"
	    "         CASE f.billable WHEN true THEN 1 WHEN false THEN 0"
	    "              ELSE -1 END,"
	    "         COALESCE(f.pricing_model, ''), COALESCE(f.type, ''),"
	    "         COALESCE(f.category, ''), COALESCE(f.amount::text, ''),"
	    "         COALESCE(f.currency, '')"
	    "    FROM messages m"
	    "    LEFT JOIN users u ON u.id = m.author_user_id"
	    "    LEFT JOIN message_fees f ON f.message_id = m.id"
	    "         AND f.org_id = $1"
	    "   WHERE m.org_id = $1 AND m.chat_id = $2"
	    "     AND ($3::bigint IS NULL OR m.id < $3)"
	    "   ORDER BY m.id DESC LIMIT 501"
	    ") t ORDER BY id",
	    DB_I64(org_id), DB_I64(chat_id),
	    before_id > 0 ? DB_I64(before_id) : DB_NULL, DB_END);
	if (st != DB_OK)
		goto out;
	skip = res.n_rows > REVIEW_TIMELINE_MAX ? 1 : 0;
	k = res.n_rows - skip;
	*has_earlier = skip > 0;
	ms = arena_alloc(a, sizeof(*ms) * (size_t)(k > 0 ? k : 1));
	for (int i = 0; i < k; i++) {
		struct review_msg	*m = &ms[i];
		int			 row = i + skip;

		m->id = db_res_i64(&res, row, 0);
		m->direction = chat_col(a, &res, row, 1);
		m->sender = chat_col(a, &res, row, 2);
		m->sender_name = chat_col(a, &res, row, 3);
		m->body = chat_col(a, &res, row, 4);
		m->media = chat_col(a, &res, row, 5);
		m->status = chat_col(a, &res, row, 6);
		m->error_code = chat_col(a, &res, row, 7);
		m->error_text = chat_col(a, &res, row, 8);
		m->thread_id = db_res_i64(&res, row, 9);
		m->llm_call_id = db_res_i64(&res, row, 10);
		m->author_user_id = db_res_i64(&res, row, 11);
		m->author_email = chat_col(a, &res, row, 12);
		m->created_at = chat_col(a, &res, row, 13);
		m->transcript = chat_col(a, &res, row, 14);
		m->resent_as_id = db_res_i64(&res, row, 15);
		m->kind = chat_col(a, &res, row, 16);
		m->reply_to_id = db_res_i64(&res, row, 17);
		m->answered_by = db_res_i64(&res, row, 18);
		m->unanswered_reason = chat_col_null(a, &res, row, 19);
		m->sender_user_id = chat_col(a, &res, row, 20);
		m->sender_username = chat_col(a, &res, row, 21);
		m->has_fee = db_res_bool(&res, row, 22);
		m->fee_billable = (int)db_res_i64(&res, row, 23);
		m->fee_model = chat_col(a, &res, row, 24);
		m->fee_type = chat_col(a, &res, row, 25);
		m->fee_category = chat_col(a, &res, row, 26);
		m->fee_amount = chat_col(a, &res, row, 27);
		m->fee_currency = chat_col(a, &res, row, 28);
	}
	*msgs = ms;
	*n_msgs = k;
	db_res_clear(&res);

	st = db_query(db, &res,
	    "SELECT t.id, COALESCE(a.name, ''),"
	    "       to_char(t.started_at AT TIME ZONE 'UTC',"
	    "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    "       COALESCE(to_char(t.closed_at AT TIME ZONE 'UTC',"
	    "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
	    "       COALESCE(t.close_reason, '')"
	    "  FROM threads t"
	    "  LEFT JOIN agents a ON a.id = t.agent_id"
	    " WHERE t.org_id = $1 AND t.chat_id = $2"
	    " ORDER BY t.id",
	    DB_I64(org_id), DB_I64(chat_id), DB_END);
	if (st != DB_OK)
		goto out;
	ts = arena_alloc(a, sizeof(*ts) * (size_t)(res.n_rows > 0 ?
	    res.n_rows : 1));
	for (int i = 0; i < res.n_rows; i++) {
		ts[i].id = db_res_i64(&res, i, 0);
		ts[i].agent_name = chat_col(a, &res, i, 1);
		ts[i].started_at = chat_col(a, &res, i, 2);
		ts[i].closed_at = chat_col(a, &res, i, 3);
		ts[i].close_reason = chat_col(a, &res, i, 4);
	}
	*threads = ts;
	*n_threads = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

/*
 * The person was shown the chat's page, read after its header said
 * `shown` unread: those are seen, and only those. A message stored
 * between the header's read and this statement stays unread even when
 * the page (read after the header) showed it: the count errs high, by
 * what arrived in those milliseconds, never low. (Setting it to 0 would
 * err low: a message stored after the page was read would be lost from
 * it.) The one way it errs low: two looks at the same chat at once
 * whose headers read the same count both subtract it, and a message
 * stored after both headers may go with the second (the floor keeps the
 * count at 0 or more).
 */
enum db_status
review_mark_seen(struct db *db, int64_t org_id, int64_t chat_id,
    int64_t shown)
{
	return db_exec(db,
	    "UPDATE chats SET human_seen_at = now(),"
	    "       unread = GREATEST(unread - $3, 0)"
	    " WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(shown), DB_END);
}

enum db_status
review_media(struct db *db, struct arena *a, int64_t org_id,
    int64_t chat_id, int64_t mid, char **media_json)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*media_json = NULL;
	st = db_query(db, &res,
	    "SELECT media::text FROM messages"
	    " WHERE org_id = $1 AND chat_id = $2 AND id = $3",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(mid), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		*media_json = chat_col(a, &res, 0, 0);
	db_res_clear(&res);
	return st;
}

/*
 * Which messages each answer covered, why each unanswered one waits,
 * and the reactions on their targets, over the page's messages.
 */
static void
turn_view(struct db *db, struct arena *a, int64_t org_id,
    struct review_page *pg)
{
	struct chat_state	 cs;
	const char		*waiting = NULL;

	if (chat_state_get(db, a, org_id, pg->chat.id, &cs) == DB_OK) {
		if (str_eq(cs.status, "needs_human"))
			waiting = str_eq(cs.handoff_reason, "outage") ?
			    "Waiting: the model did not answer for too long "
			    "and a person is asked; the agent answers when "
			    "its model is back, unless someone takes the "
			    "chat." : "Waiting for a person.";
		else if (cs.outage)
			waiting = "Waiting: the model is not answering; it is "
			    "asked again with growing pauses.";
		else if (cs.turn_busy)
			waiting = "Being answered.";
		else
			waiting = "Not answered yet, and no turn is due: "
			    "Answer again.";
	}
	for (int i = 0; i < pg->n_msgs; i++) {
		struct review_msg	*m = &pg->msgs[i];

		if (str_eq(m->direction, "in") && m->answered_by == 0 &&
		    m->unanswered_reason == NULL)
			m->waiting = waiting;
		if (!str_eq(m->direction, "in"))
			continue;
		for (int j = 0; j < pg->n_msgs; j++) {
			struct review_msg	*o = &pg->msgs[j];

			if (m->answered_by != 0 && o->id == m->answered_by) {
				if (o->covers == NULL)
					o->covers = arena_alloc(a,
					    sizeof(*o->covers) *
					    (size_t)pg->n_msgs);
				o->covers[o->n_covers++] = m->id;
			}
			if (str_eq(m->kind, "reaction") && m->body[0] != '\0' &&
			    m->reply_to_id != 0 && o->id == m->reply_to_id)
				o->reactions = o->reactions == NULL ? m->body :
				    arena_printf(a, "%s %s", o->reactions,
				    m->body);
		}
	}
}

enum db_status
review_page_load(struct db *db, struct arena *a, int64_t org_id,
    int64_t chat_id, int64_t before_id, bool with_calls,
    struct review_page *out)
{
	int64_t		*ids;
	int		 n = 0;
	enum db_status	 st;
	const char	*why;

	memset(out, 0, sizeof(*out));
	st = review_chat_get(db, a, org_id, chat_id, &out->chat);
	if (st != DB_OK)
		return st;
	st = review_timeline(db, a, org_id, chat_id, before_id, &out->msgs,
	    &out->n_msgs, &out->has_earlier, &out->threads, &out->n_threads);
	if (st != DB_OK)
		return st;
	if ((st = fees_chat_totals(db, a, org_id, chat_id, &out->fees)) !=
	    DB_OK)
		return st;
	ids = arena_alloc(a, sizeof(*ids) * (size_t)(out->n_msgs > 0 ?
	    out->n_msgs : 1));
	/* What the outbox allows of each failed message (outbox.h). */
	for (int i = 0; i < out->n_msgs; i++) {
		struct review_msg	*m = &out->msgs[i];

		if (!str_eq(m->direction, "out") || !str_eq(m->status,
		    "failed") || m->resent_as_id != 0)
			continue;
		why = NULL;
		if (channel_code_final(out->chat.channel_kind, m->error_code,
		    &why))
			m->no_resend = why != NULL ? why : "the provider will "
			    "refuse it again";
		else
			m->can_resend = true;
	}
	turn_view(db, a, org_id, out);
	/* The page's media, as far as it was downloaded (chat/media.h). */
	for (int i = 0; i < out->n_msgs; i++)
		if (out->msgs[i].media[0] != '\0' &&
		    !str_eq(out->msgs[i].media, "[]"))
			ids[n++] = out->msgs[i].id;
	st = media_file_list(db, a, org_id, ids, n, &out->files,
	    &out->n_files);
	if (st != DB_OK || !with_calls)
		return st;
	/* The model calls behind the agent's turns (one per call). */
	n = 0;
	for (int i = 0; i < out->n_msgs; i++)
		if (out->msgs[i].llm_call_id > 0 && (n == 0 ||
		    ids[n - 1] != out->msgs[i].llm_call_id))
			ids[n++] = out->msgs[i].llm_call_id;
	return llmcall_get_many(db, a, org_id, ids, n, &out->calls,
	    &out->n_calls);
}

bool
review_filter_read(struct review_filter *f,
    const char *(*param)(void *, const char *), void *ctx, const char **why)
{
	const char	*s;

	memset(f, 0, sizeof(*f));
	if ((s = param(ctx, "agent")) != NULL &&
	    (!str_to_i64(s, &f->agent_id) || f->agent_id <= 0)) {
		*why = "agent must be an agent's id.";
		return false;
	}
	if ((s = param(ctx, "channel")) != NULL &&
	    (!str_to_i64(s, &f->channel_id) || f->channel_id <= 0)) {
		*why = "channel must be a channel's id.";
		return false;
	}
	f->status = param(ctx, "status");
	f->environment = param(ctx, "environment");
	f->from = param(ctx, "from");
	f->to = param(ctx, "to");
	f->q = param(ctx, "q");
	if ((s = param(ctx, "after")) != NULL &&
	    !review_cursor_parse(s, f)) {
		*why = "The page cursor (after) is not valid; start from the "
		    "first page.";
		return false;
	}
	return review_filter_check(f, why);
}
