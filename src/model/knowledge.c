/*
 * knowledge: the knowledge_entries table (see knowledge.h).
 *
 * Every statement names org_id = $1 and agent_id = $2, and a new entry is
 * inserted through a SELECT from the org's own agents, so an agent of
 * another organisation simply yields no row (DB_NOT_FOUND) without a
 * separate existence check. knowledge_list likewise tells an unknown agent
 * (DB_NOT_FOUND) from an empty knowledge base (DB_OK, n = 0).
 *
 * DESIGN (search): the question's lexemes (plainto_tsquery, English
 * stemming, stop words dropped) are joined with OR rather than AND, so an
 * entry matches when it shares any word with the question: people ask
 * "how much does delivery cost?" of an entry that never says "much".
 * ts_rank_cd then orders by how many of the words occur, how close
 * together, and where (title words weigh 1.0, body words 0.4: the
 * defaults for the A and B weights the generated tsv column sets), without
 * length normalisation. llm/builtin.c sets its answer threshold on that
 * scale. A question without lexemes (only stop words or punctuation)
 * finds nothing. Passages come from ts_headline with empty StartSel and
 * StopSel, so they are plain text fit for a model and for WhatsApp; a
 * body of at most WHOLE_BODY_MAX characters is the passage itself, since
 * ts_headline would only trim its first words and final stop.
 *
 * Timestamps are RFC 3339 UTC text. Thread-safety: stateless.
 */
#include "model/knowledge.h"

#include <string.h>

#include "util/arena.h"
#include "util/str.h"
#include "util/utf8.h"

#define TITLE_MAX	200
#define FILENAME_MAX_CH	255
#define SEARCH_MAX	20
#define WHOLE_BODY_MAX	400	/* characters: quoted whole, not cut */

static bool	 entry_valid(const char *, const char *, struct field_errors *);
static bool	 text_check(const char *, size_t, const char *,
		    struct field_errors *, const char *, const char *,
		    const char *);
static void	 entry_read(const struct db_res *, int, struct arena *,
		    struct knowledge_entry *);

/* Checks one text field: present, UTF-8, 1..max characters. */
static bool
text_check(const char *s, size_t max, const char *field,
    struct field_errors *errs, const char *empty_msg, const char *long_msg,
    const char *utf8_msg)
{
	size_t	 len;

	if (s == NULL || *s == '\0') {
		field_error_add(errs, field, empty_msg);
		return false;
	}
	len = strlen(s);
	if (!utf8_valid(s, len)) {
		field_error_add(errs, field, utf8_msg);
		return false;
	}
	/* Bytes bound characters from above: count only when needed. */
	if (len > max && utf8_count(s, len) > max) {
		field_error_add(errs, field, long_msg);
		return false;
	}
	return true;
}

static bool
entry_valid(const char *title, const char *body, struct field_errors *errs)
{
	bool	 ok = true;

	ok &= text_check(title, TITLE_MAX, "title", errs,
	    "Give the entry a title.",
	    "The title can be at most 200 characters.",
	    "The title must be UTF-8 text.");
	ok &= text_check(body, KNOWLEDGE_BODY_MAX, "body", errs,
	    "The text cannot be empty.",
	    "The text can be at most 200000 characters.",
	    "The text must be UTF-8 text.");
	return ok;
}

/* Columns: id, agent_id, title, body, source, filename, created, updated. */
static void
entry_read(const struct db_res *res, int row, struct arena *a,
    struct knowledge_entry *e)
{
	e->id = db_res_i64(res, row, 0);
	e->agent_id = db_res_i64(res, row, 1);
	e->title = arena_strdup(a, db_res_text(res, row, 2));
	e->body = arena_strdup(a, db_res_text(res, row, 3));
	e->source = arena_strdup(a, db_res_text(res, row, 4));
	e->filename = db_res_isnull(res, row, 5) ? NULL :
	    arena_strdup(a, db_res_text(res, row, 5));
	e->created_at = arena_strdup(a, db_res_text(res, row, 6));
	e->updated_at = arena_strdup(a, db_res_text(res, row, 7));
}

/*
 * The agent's entries by title. The LEFT JOIN from agents gives one row
 * with NULL entry columns for an agent without entries, and no row for an
 * agent that is not the org's (DB_NOT_FOUND).
 */
enum db_status
knowledge_list(struct db *db, struct arena *a, int64_t org_id,
    int64_t agent_id, struct knowledge_entry **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	int		 k = 0;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT k.id, a.id, k.title, k.body, k.source, k.filename,"
	    "       to_char(k.created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    "       to_char(k.updated_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	    "  FROM agents a"
	    "  LEFT JOIN knowledge_entries k"
	    "    ON k.org_id = a.org_id AND k.agent_id = a.id"
	    " WHERE a.org_id = $1 AND a.id = $2"
	    " ORDER BY lower(k.title), k.id",
	    DB_I64(org_id), DB_I64(agent_id), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows == 0) {
		st = DB_NOT_FOUND;
		goto out;
	}
	*out = arena_alloc(a, sizeof(**out) * (size_t)res.n_rows);
	for (int i = 0; i < res.n_rows; i++) {
		if (db_res_isnull(&res, i, 0))
			continue;
		entry_read(&res, i, a, &(*out)[k++]);
	}
	*n = k;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
knowledge_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t agent_id, int64_t id, struct knowledge_entry *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT id, agent_id, title, body, source, filename,"
	    "       to_char(created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    "       to_char(updated_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	    "  FROM knowledge_entries"
	    " WHERE org_id = $1 AND agent_id = $2 AND id = $3",
	    DB_I64(org_id), DB_I64(agent_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		entry_read(&res, 0, a, out);
	db_res_clear(&res);
	return st;
}

enum db_status
knowledge_create(struct db *db, int64_t org_id, int64_t agent_id,
    const char *title, const char *body, const char *source,
    const char *filename, struct field_errors *errs, int64_t *id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	bool		 ok;

	if (source == NULL)
		source = "paste";
	ok = entry_valid(title, body, errs);
	if (!str_eq(source, "paste") && !str_eq(source, "upload") &&
	    !str_eq(source, "api")) {
		field_error_add(errs, "source",
		    "The source must be paste, upload or api.");
		ok = false;
	}
	if (filename != NULL && (!utf8_valid(filename, strlen(filename)) ||
	    utf8_count(filename, strlen(filename)) > FILENAME_MAX_CH)) {
		field_error_add(errs, "filename",
		    "The file name must be UTF-8 of at most 255 characters.");
		ok = false;
	}
	if (!ok)
		return DB_INVALID;
	st = db_query(db, &res,
	    "INSERT INTO knowledge_entries"
	    "       (org_id, agent_id, title, body, source, filename)"
	    " SELECT org_id, id, $3, $4, $5, $6"
	    "   FROM agents"
	    "  WHERE org_id = $1 AND id = $2"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(agent_id), DB_TEXT(title), DB_TEXT(body),
	    DB_TEXT(source), DB_TEXT(filename), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		*id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
knowledge_update(struct db *db, int64_t org_id, int64_t agent_id, int64_t id,
    const char *title, const char *body, struct field_errors *errs)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	if (!entry_valid(title, body, errs))
		return DB_INVALID;
	st = db_query(db, &res,
	    "UPDATE knowledge_entries"
	    "   SET title = $4, body = $5, updated_at = now()"
	    " WHERE org_id = $1 AND agent_id = $2 AND id = $3"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(agent_id), DB_I64(id), DB_TEXT(title),
	    DB_TEXT(body), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

enum db_status
knowledge_delete(struct db *db, int64_t org_id, int64_t agent_id, int64_t id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "DELETE FROM knowledge_entries"
	    " WHERE org_id = $1 AND agent_id = $2 AND id = $3"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(agent_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

/*
 * See the DESIGN note at the top. The inner query ranks and limits; only
 * the few rows kept pay for ts_headline, which reads the whole body.
 * The OR query is plainto_tsquery's text with its " & " turned into
 * " | ": lexemes are quoted in that text, so no word can contain the
 * operator, and phrase operators (<->) from hyphenated words survive.
 */
enum db_status
knowledge_search(struct db *db, struct arena *a, int64_t org_id,
    int64_t agent_id, const char *query, int limit,
    struct knowledge_hit **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	if (query == NULL || *query == '\0' ||
	    !utf8_valid(query, strlen(query)))
		return DB_OK;
	if (limit < 1)
		limit = 1;
	if (limit > SEARCH_MAX)
		limit = SEARCH_MAX;
	st = db_query(db, &res,
	    "SELECT k.id, k.title,"
	    "       CASE WHEN length(k.body) <= $5 THEN k.body"
	    "       ELSE ts_headline('english', k.body, s.q,"
	    "           'StartSel=\"\",StopSel=\"\",MaxWords=60,MinWords=20,"
	    "MaxFragments=2') END,"
	    "       s.rank"
	    "  FROM (SELECT e.id, q.q, ts_rank_cd(e.tsv, q.q) AS rank"
	    "          FROM knowledge_entries e,"
	    "               (SELECT replace(plainto_tsquery('english', $3)"
	    "                   ::text, ' & ', ' | ')::tsquery AS q) q"
	    "         WHERE e.org_id = $1 AND e.agent_id = $2"
	    "           AND numnode(q.q) > 0 AND e.tsv @@ q.q"
	    "         ORDER BY rank DESC, e.id"
	    "         LIMIT $4) s"
	    "  JOIN knowledge_entries k ON k.id = s.id"
	    " ORDER BY s.rank DESC, s.id",
	    DB_I64(org_id), DB_I64(agent_id), DB_TEXT(query),
	    DB_I64(limit), DB_I64(WHOLE_BODY_MAX), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows > 0)
		*out = arena_alloc(a, sizeof(**out) * (size_t)res.n_rows);
	for (int i = 0; i < res.n_rows; i++) {
		struct knowledge_hit	*h = &(*out)[i];

		h->id = db_res_i64(&res, i, 0);
		h->title = arena_strdup(a, db_res_text(&res, i, 1));
		h->passage = str_trim(arena_strdup(a,
		    db_res_text(&res, i, 2)));
		h->rank = db_res_f64(&res, i, 3);
	}
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}
