/*
 * model/media: media_files and media_orphans SQL (see media.h).
 *
 * Bytes go in as a binary parameter (DB_BYTES, no escaping on the way in)
 * and come back in bytea's hex text form, decoded by db_res_bytes. Every
 * parameter of an INSERT … SELECT is cast: PostgreSQL does not infer a
 * select list's parameter types from the target columns, and a binary
 * bytea read as text would be refused or mangled.
 *
 * The search words of a document (text_terms) are made here, by
 * PostgreSQL, from at most TERMS_CHARS characters of its text: a
 * tsvector is limited to 1 MB, and 100,000 characters stay well inside
 * it whatever the words.
 *
 * Thread-safety: stateless; each call uses the caller's connection.
 */
#include "model/media.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"

#define ITEMS_MAX	10	/* media_files.n is 0..9 */
#define TERMS_CHARS	100000

/* Columns of struct media_file, in read_file's order. */
#define FILE_COLS \
	"SELECT f.id, f.org_id, f.message_id, f.n, f.status," \
	"       f.content_type, f.byte_size, f.sha256, f.error, f.attempts," \
	"       floor(extract(epoch FROM now() - f.updated_at))::bigint," \
	"       f.s3_bucket, f.s3_key, f.thumb_size, f.vision_size," \
	"       f.text_status, f.text_error, f.text_chars, f.text_truncated," \
	"       f.text_size, f.text_data IS NOT NULL," \
	"       COALESCE(to_char(f.expired_at AT TIME ZONE 'UTC'," \
	"                'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"
#define FILE_NCOLS	22

static void	 read_file(struct arena *, const struct db_res *, int,
		    struct media_file *);
static char	*col(struct arena *, const struct db_res *, int, int);
static unsigned char *bytes_col(struct arena *, const struct db_res *, int,
		    int, size_t *);
static char	*id_array(struct arena *, const int64_t *, int);

static char *
col(struct arena *a, const struct db_res *res, int row, int c)
{
	return arena_strdup(a, db_res_text(res, row, c));
}

/* A bytea column into a (NULL when SQL NULL). */
static unsigned char *
bytes_col(struct arena *a, const struct db_res *res, int row, int c,
    size_t *len)
{
	unsigned char	*p;

	*len = 0;
	if (db_res_isnull(res, row, c))
		return NULL;
	p = db_res_bytes(res, row, c, len);
	arena_defer(a, free, p);
	return p;
}

/* An int8[] literal "{1,2,3}" in a. */
static char *
id_array(struct arena *a, const int64_t *ids, int n)
{
	char	*arr, *p;

	arr = p = arena_alloc(a, (size_t)n * 21 + 3);
	*p++ = '{';
	for (int i = 0; i < n; i++)
		p += snprintf(p, 22, "%s%lld", i > 0 ? "," : "",
		    (long long)ids[i]);
	*p++ = '}';
	*p = '\0';
	return arr;
}

enum db_status
media_source_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t chat_id, int64_t message_id, struct media_source *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    "SELECT m.id, m.chat_id, m.channel_id, ch.kind, m.media::text,"
	    "       COALESCE(m.created_at < now() -"
	    "           make_interval(days => o.media_retention_days), false)"
	    "  FROM messages m"
	    "  JOIN channels ch ON ch.id = m.channel_id"
	    "  JOIN orgs o ON o.id = m.org_id"
	    " WHERE m.org_id = $1 AND m.id = $2"
	    "   AND ($3::bigint = 0 OR m.chat_id = $3::bigint)"
	    "   AND ch.org_id = $1",
	    DB_I64(org_id), DB_I64(message_id), DB_I64(chat_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK) {
		out->message_id = db_res_i64(&res, 0, 0);
		out->chat_id = db_res_i64(&res, 0, 1);
		out->channel_id = db_res_i64(&res, 0, 2);
		out->channel_kind = col(a, &res, 0, 3);
		out->media = col(a, &res, 0, 4);
		out->past_retention = db_res_bool(&res, 0, 5);
	}
	db_res_clear(&res);
	return st;
}

/* FILE_COLS of row into f. */
static void
read_file(struct arena *a, const struct db_res *res, int row,
    struct media_file *f)
{
	f->id = db_res_i64(res, row, 0);
	f->org_id = db_res_i64(res, row, 1);
	f->message_id = db_res_i64(res, row, 2);
	f->n = (int)db_res_i64(res, row, 3);
	f->status = col(a, res, row, 4);
	f->content_type = col(a, res, row, 5);
	f->byte_size = db_res_i64(res, row, 6);
	f->sha256 = col(a, res, row, 7);
	f->error = col(a, res, row, 8);
	f->attempts = (int)db_res_i64(res, row, 9);
	f->age_s = db_res_i64(res, row, 10);
	f->s3_bucket = col(a, res, row, 11);
	f->s3_key = col(a, res, row, 12);
	f->thumb_size = db_res_i64(res, row, 13);
	f->vision_size = db_res_i64(res, row, 14);
	f->text_status = col(a, res, row, 15);
	f->text_error = col(a, res, row, 16);
	f->text_chars = db_res_i64(res, row, 17);
	f->text_truncated = db_res_bool(res, row, 18);
	f->text_size = db_res_i64(res, row, 19);
	f->text_here = db_res_bool(res, row, 20);
	f->expired_at = col(a, res, row, 21);
}

enum db_status
media_file_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t message_id, int n, bool with_data, struct media_file *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    FILE_COLS ","
	    "       CASE WHEN $4::boolean AND f.status = 'stored'"
	    "            THEN f.data END"
	    "  FROM media_files f"
	    " WHERE f.org_id = $1 AND f.message_id = $2 AND f.n = $3::int",
	    DB_I64(org_id), DB_I64(message_id), DB_I64(n),
	    DB_BOOL(with_data), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st != DB_OK)
		goto out;
	read_file(a, &res, 0, out);
	out->data = bytes_col(a, &res, 0, FILE_NCOLS, &out->len);
out:
	db_res_clear(&res);
	return st;
}

enum db_status
media_file_list(struct db *db, struct arena *a, int64_t org_id,
    const int64_t *message_ids, int n_ids, struct media_file **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	if (n_ids > MEDIA_LIST_MAX)
		n_ids = MEDIA_LIST_MAX;
	if (n_ids <= 0)
		return DB_OK;
	st = db_query(db, &res,
	    FILE_COLS
	    "  FROM media_files f"
	    " WHERE f.org_id = $1 AND f.message_id = ANY ($2::bigint[])"
	    " ORDER BY f.message_id, f.n",
	    DB_I64(org_id), DB_TEXT(id_array(a, message_ids, n_ids)),
	    DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows > 0)
		*out = arena_alloc(a, sizeof(**out) * (size_t)res.n_rows);
	for (int i = 0; i < res.n_rows; i++)
		read_file(a, &res, i, &(*out)[i]);
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
media_file_docs(struct db *db, struct arena *a, int64_t org_id,
    int64_t thread_id, int64_t from_id, int64_t upto_id, int limit,
    struct media_doc **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	if (limit < 1 || limit > MEDIA_LIST_MAX)
		limit = MEDIA_LIST_MAX;
	st = db_query(db, &res,
	    "SELECT f.message_id, f.n,"
	    "       COALESCE(m.media -> f.n ->> 'filename', ''),"
	    "       COALESCE(m.media -> f.n ->> 'contentType', f.content_type),"
	    "       f.status, f.error, f.text_status, f.text_error,"
	    "       f.text_chars, f.text_truncated,"
	    "       to_char(m.created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	    "  FROM messages m"
	    "  JOIN media_files f ON f.org_id = m.org_id AND f.message_id = m.id"
	    " WHERE m.org_id = $1 AND m.thread_id = $2"
	    "   AND m.id BETWEEN $3 AND $4 AND m.direction = 'in'"
	    "   AND (f.text_status <> '' OR f.status <> 'stored')"
	    " ORDER BY m.id DESC, f.n"
	    " LIMIT $5",
	    DB_I64(org_id), DB_I64(thread_id), DB_I64(from_id),
	    DB_I64(upto_id), DB_I64(limit), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows > 0)
		*out = arena_alloc(a, sizeof(**out) * (size_t)res.n_rows);
	for (int i = 0; i < res.n_rows; i++) {
		struct media_doc	*d = &(*out)[i];

		d->message_id = db_res_i64(&res, i, 0);
		d->n = (int)db_res_i64(&res, i, 1);
		d->filename = col(a, &res, i, 2);
		d->content_type = col(a, &res, i, 3);
		d->status = col(a, &res, i, 4);
		d->error = col(a, &res, i, 5);
		d->text_status = col(a, &res, i, 6);
		d->text_error = col(a, &res, i, 7);
		d->text_chars = db_res_i64(&res, i, 8);
		d->text_truncated = db_res_bool(&res, i, 9);
		d->sent_at = col(a, &res, i, 10);
	}
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
media_file_record(struct db *db, int64_t org_id, int64_t message_id, int n,
    const struct media_record *r, bool *recorded)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	bool		 in_store = r->s3_key != NULL && r->s3_key[0] != '\0';
	bool		 has_text = r->text_status != NULL &&
			    strcmp(r->text_status, "ok") == 0 &&
			    r->text != NULL;

	*recorded = false;
	if (n < 0 || n >= ITEMS_MAX)
		return DB_INVALID;
	st = db_query(db, &res,
	    "WITH m AS ("
	    "  SELECT id FROM messages WHERE org_id = $1 AND id = $2),"
	    " up AS ("
	    "  INSERT INTO media_files AS f (org_id, message_id, n, status,"
	    "         content_type, byte_size, sha256, data, s3_bucket,"
	    "         s3_key, thumb, thumb_size, vision, vision_size,"
	    "         text_status, text_error, text_chars, text_truncated,"
	    "         text_size, text_data, text_terms, error, attempts)"
	    "  SELECT $1, m.id, $3::int, 'stored', $4::text, $5::bigint,"
	    "         $6::text, $7::bytea, $8::text, $9::text, $10::bytea,"
	    "         $11::int, $12::bytea, $13::int, $14::text, $15::text,"
	    "         $16::int, $17::boolean, $18::int,"
	    "         CASE WHEN $19::boolean THEN $20::text END,"
	    "         CASE WHEN $20::text IS NOT NULL THEN"
	    "           strip(to_tsvector('simple', left($20::text, $21::int)))"
	    "         END, '', 1"
	    "    FROM m"
	    "  ON CONFLICT (message_id, n) DO UPDATE"
	    "     SET status = 'stored', content_type = EXCLUDED.content_type,"
	    "         byte_size = EXCLUDED.byte_size,"
	    "         sha256 = EXCLUDED.sha256, data = EXCLUDED.data,"
	    "         s3_bucket = EXCLUDED.s3_bucket, s3_key = EXCLUDED.s3_key,"
	    "         thumb = EXCLUDED.thumb, thumb_size = EXCLUDED.thumb_size,"
	    "         vision = EXCLUDED.vision,"
	    "         vision_size = EXCLUDED.vision_size,"
	    "         text_status = EXCLUDED.text_status,"
	    "         text_error = EXCLUDED.text_error,"
	    "         text_chars = EXCLUDED.text_chars,"
	    "         text_truncated = EXCLUDED.text_truncated,"
	    "         text_size = EXCLUDED.text_size,"
	    "         text_data = EXCLUDED.text_data,"
	    "         text_terms = EXCLUDED.text_terms,"
	    "         error = '', attempts = f.attempts + 1,"
	    "         updated_at = now()"
	    "   WHERE f.org_id = $1 AND f.status NOT IN ('stored', 'expired')"
	    "  RETURNING 1)"
	    " SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM up)",
	    DB_I64(org_id), DB_I64(message_id), DB_I64(n),
	    DB_TEXT(r->content_type != NULL ? r->content_type : ""),
	    DB_I64((int64_t)r->len), DB_TEXT(r->sha256 != NULL ?
	    r->sha256 : ""),
	    in_store ? DB_NULL : DB_BYTES(r->data, r->len),
	    DB_TEXT(in_store ? r->s3_bucket : ""),
	    DB_TEXT(in_store ? r->s3_key : ""),
	    in_store || r->thumb == NULL ? DB_NULL :
	    DB_BYTES(r->thumb, r->thumb_len),
	    DB_I64(r->thumb != NULL ? (int64_t)r->thumb_len : 0),
	    in_store || r->vision == NULL ? DB_NULL :
	    DB_BYTES(r->vision, r->vision_len),
	    DB_I64(r->vision != NULL ? (int64_t)r->vision_len : 0),
	    DB_TEXT(r->text_status != NULL ? r->text_status : ""),
	    DB_TEXT(r->text_error != NULL ? r->text_error : ""),
	    DB_I64(has_text ? (int64_t)r->text_chars : 0),
	    DB_BOOL(has_text && r->text_truncated),
	    DB_I64(has_text ? (int64_t)r->text_len : 0),
	    DB_BOOL(has_text && (r->text_here || !in_store)),
	    has_text ? DB_TEXT(r->text) : DB_NULL,
	    DB_I64(TERMS_CHARS), DB_END);
	if (st == DB_OK && db_res_i64(&res, 0, 0) == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		*recorded = db_res_i64(&res, 0, 1) > 0;
	db_res_clear(&res);
	return st;
}

enum db_status
media_file_fail(struct db *db, int64_t org_id, int64_t message_id, int n,
    const char *error)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	if (n < 0 || n >= ITEMS_MAX)
		return DB_INVALID;
	st = db_query(db, &res,
	    "WITH m AS ("
	    "  SELECT id FROM messages WHERE org_id = $1 AND id = $2),"
	    " up AS ("
	    "  INSERT INTO media_files AS f (org_id, message_id, n, status,"
	    "         error, attempts)"
	    "  SELECT $1, m.id, $3::int, 'failed', $4::text, 1"
	    "    FROM m"
	    "  ON CONFLICT (message_id, n) DO UPDATE"
	    "     SET status = 'failed', error = EXCLUDED.error,"
	    "         content_type = '', byte_size = 0, sha256 = '',"
	    "         data = NULL, attempts = f.attempts + 1,"
	    "         updated_at = now()"
	    "   WHERE f.org_id = $1 AND f.status NOT IN ('stored', 'expired')"
	    "  RETURNING 1)"
	    " SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM up)",
	    DB_I64(org_id), DB_I64(message_id), DB_I64(n),
	    DB_TEXT(error != NULL && error[0] != '\0' ? error :
	    "The media item could not be downloaded."), DB_END);
	if (st == DB_OK && db_res_i64(&res, 0, 0) == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

enum db_status
media_file_expire_one(struct db *db, int64_t org_id, int64_t message_id,
    int n)
{
	if (n < 0 || n >= ITEMS_MAX)
		return DB_INVALID;
	return db_exec(db,
	    "INSERT INTO media_files AS f (org_id, message_id, n, status,"
	    "       expired_at)"
	    " SELECT $1, id, $3::int, 'expired', now()"
	    "   FROM messages WHERE org_id = $1 AND id = $2"
	    " ON CONFLICT (message_id, n) DO UPDATE"
	    "    SET status = 'expired', error = '', expired_at = now(),"
	    "        updated_at = now()"
	    "  WHERE f.org_id = $1 AND f.status IN ('pending', 'failed')",
	    DB_I64(org_id), DB_I64(message_id), DB_I64(n), DB_END);
}

enum db_status
media_file_part_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t message_id, int n, enum media_part p, unsigned char **data,
    size_t *len)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*data = NULL;
	*len = 0;
	st = db_query(db, &res,
	    "SELECT CASE $4::int WHEN 0 THEN thumb WHEN 1 THEN vision"
	    "       ELSE convert_to(text_data, 'UTF8') END"
	    "  FROM media_files"
	    " WHERE org_id = $1 AND message_id = $2 AND n = $3::int"
	    "   AND status = 'stored'",
	    DB_I64(org_id), DB_I64(message_id), DB_I64(n), DB_I64((int64_t)p),
	    DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK && !db_res_isnull(&res, 0, 0)) {
		unsigned char	*raw;
		size_t		 rlen;

		raw = db_res_bytes(&res, 0, 0, &rlen);
		/* NUL-terminated, for the text. */
		*data = arena_alloc(a, rlen + 1);
		memcpy(*data, raw, rlen);
		(*data)[rlen] = '\0';
		*len = rlen;
		free(raw);
	}
	db_res_clear(&res);
	return st;
}

enum db_status
media_file_part_set(struct db *db, int64_t org_id, int64_t message_id,
    int n, enum media_part p, const unsigned char *data, size_t len,
    bool in_store)
{
	if (p == MEDIA_PART_THUMB)
		return db_exec(db,
		    "UPDATE media_files"
		    "   SET thumb = CASE WHEN $5::boolean THEN NULL"
		    "               ELSE $4::bytea END,"
		    "       thumb_size = $6::int"
		    " WHERE org_id = $1 AND message_id = $2 AND n = $3::int"
		    "   AND status = 'stored' AND thumb_size = 0"
		    "   AND (s3_key <> '') = $5::boolean",
		    DB_I64(org_id), DB_I64(message_id), DB_I64(n),
		    DB_BYTES(data, len), DB_BOOL(in_store),
		    DB_I64((int64_t)len), DB_END);
	if (p == MEDIA_PART_VISION)
		return db_exec(db,
		    "UPDATE media_files"
		    "   SET vision = CASE WHEN $5::boolean THEN NULL"
		    "                ELSE $4::bytea END,"
		    "       vision_size = $6::int"
		    " WHERE org_id = $1 AND message_id = $2 AND n = $3::int"
		    "   AND status = 'stored' AND vision_size = 0"
		    "   AND (s3_key <> '') = $5::boolean",
		    DB_I64(org_id), DB_I64(message_id), DB_I64(n),
		    DB_BYTES(data, len), DB_BOOL(in_store),
		    DB_I64((int64_t)len), DB_END);
	return DB_INVALID;
}

/* --- retention ----------------------------------------------------------- */

enum db_status
media_file_expire_any_org(struct db *db, int limit, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*n = 0;
	st = db_query(db, &res,
	    "WITH due AS ("
	    "  SELECT d.id FROM orgs o"
	    "  CROSS JOIN LATERAL ("
	    "    SELECT f.id FROM media_files f"
	    "     WHERE f.org_id = o.id AND f.status <> 'expired'"
	    "       AND f.created_at < now() -"
	    "           make_interval(days => o.media_retention_days)"
	    "     ORDER BY f.created_at LIMIT $1) d"
	    "   WHERE o.media_retention_days IS NOT NULL"
	    "   LIMIT $1),"
	    " gone AS ("
	    "  UPDATE media_files f"
	    "     SET status = 'expired', data = NULL, thumb = NULL,"
	    "         thumb_size = 0, vision = NULL, vision_size = 0,"
	    "         text_status = '', text_error = '', text_chars = 0,"
	    "         text_truncated = false, text_size = 0,"
	    "         text_data = NULL, text_terms = NULL,"
	    "         s3_bucket = '', s3_key = '', error = '',"
	    "         expired_at = now(), updated_at = now()"
	    "    FROM due WHERE f.id = due.id AND f.status <> 'expired'"
	    "  RETURNING 1)"
	    " SELECT count(*) FROM gone",
	    DB_I64(limit), DB_END);
	if (st == DB_OK)
		*n = (int)db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

/* --- the store's orphans ----------------------------------------------- */

enum db_status
media_orphan_intend(struct db *db, int64_t org_id, const char *bucket,
    const char *base)
{
	return db_exec(db,
	    "INSERT INTO media_orphans (org_id, bucket, key, due_at)"
	    " SELECT $1, $2, $3 || p, now() + interval '1 hour'"
	    "   FROM unnest(ARRAY['', '" MEDIA_SUFFIX_THUMB "', '"
	    MEDIA_SUFFIX_VISION "', '" MEDIA_SUFFIX_TEXT "']) p",
	    DB_I64(org_id), DB_TEXT(bucket), DB_TEXT(base), DB_END);
}

enum db_status
media_orphan_claim_any_org(struct db *db, struct arena *a, int limit,
    struct media_orphan **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "UPDATE media_orphans o"
	    "   SET due_at = now() + make_interval(secs => $2),"
	    "       attempts = o.attempts + 1"
	    "  FROM (SELECT id FROM media_orphans"
	    "         WHERE due_at <= now() ORDER BY due_at"
	    "         LIMIT $1 FOR UPDATE SKIP LOCKED) d"
	    " WHERE o.id = d.id"
	    " RETURNING o.id, o.bucket, o.key",
	    DB_I64(limit), DB_I64(MEDIA_ORPHAN_RETRY_S), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows > 0)
		*out = arena_alloc(a, sizeof(**out) * (size_t)res.n_rows);
	for (int i = 0; i < res.n_rows; i++) {
		(*out)[i].id = db_res_i64(&res, i, 0);
		(*out)[i].bucket = col(a, &res, i, 1);
		(*out)[i].key = col(a, &res, i, 2);
	}
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
media_orphan_done_any_org(struct db *db, int64_t id)
{
	return db_exec(db,
	    "DELETE FROM media_orphans WHERE id = $1",
	    DB_I64(id), DB_END);
}

enum db_status
media_orphan_count_any_org(struct db *db, int64_t *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT count(*) FROM media_orphans",
	    DB_END);
	*n = st == DB_OK ? db_res_i64(&res, 0, 0) : 0;
	db_res_clear(&res);
	return st;
}

/* --- moving between stores --------------------------------------------- */

enum db_status
media_file_batch_any_org(struct db *db, struct arena *a, bool in_store,
    int64_t after_id, int limit, struct media_file **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    FILE_COLS
	    "  FROM media_files f"
	    " WHERE f.id > $1 AND f.status = 'stored'"
	    "   AND (f.s3_key <> '') = $2::boolean"
	    " ORDER BY f.id LIMIT $3",
	    DB_I64(after_id), DB_BOOL(in_store), DB_I64(limit), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows > 0)
		*out = arena_alloc(a, sizeof(**out) * (size_t)res.n_rows);
	for (int i = 0; i < res.n_rows; i++)
		read_file(a, &res, i, &(*out)[i]);
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
media_file_count_any_org(struct db *db, bool in_store, int64_t *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT count(*) FROM media_files"
	    " WHERE status = 'stored' AND (s3_key <> '') = $1::boolean",
	    DB_BOOL(in_store), DB_END);
	*n = st == DB_OK ? db_res_i64(&res, 0, 0) : 0;
	db_res_clear(&res);
	return st;
}

enum db_status
media_file_bytes_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t id, struct media_bytes *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	unsigned char	*t;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    "SELECT data, thumb, vision, convert_to(text_data, 'UTF8')"
	    "  FROM media_files"
	    " WHERE org_id = $1 AND id = $2 AND status = 'stored'",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st != DB_OK)
		goto out;
	out->data = bytes_col(a, &res, 0, 0, &out->len);
	out->thumb = bytes_col(a, &res, 0, 1, &out->thumb_len);
	out->vision = bytes_col(a, &res, 0, 2, &out->vision_len);
	if ((t = bytes_col(a, &res, 0, 3, &out->text_len)) != NULL) {
		out->text = arena_alloc(a, out->text_len + 1);
		memcpy(out->text, t, out->text_len);
		out->text[out->text_len] = '\0';
	}
out:
	db_res_clear(&res);
	return st;
}

enum db_status
media_file_moved_to_store(struct db *db, int64_t org_id, int64_t id,
    const char *sha256, const char *bucket, const char *key,
    bool text_moved, bool *moved)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE media_files"
	    "   SET s3_bucket = $4, s3_key = $5, data = NULL, thumb = NULL,"
	    "       vision = NULL,"
	    "       text_data = CASE WHEN $6::boolean THEN NULL"
	    "                   ELSE text_data END,"
	    "       updated_at = now()"
	    " WHERE org_id = $1 AND id = $2 AND status = 'stored'"
	    "   AND s3_key = '' AND sha256 = $3"
	    " RETURNING 1",
	    DB_I64(org_id), DB_I64(id), DB_TEXT(sha256), DB_TEXT(bucket),
	    DB_TEXT(key), DB_BOOL(text_moved), DB_END);
	*moved = st == DB_OK && res.n_rows > 0;
	db_res_clear(&res);
	return st;
}

enum db_status
media_file_moved_to_db(struct db *db, int64_t org_id, int64_t id,
    const char *key, const struct media_bytes *b, bool *moved)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE media_files"
	    "   SET data = $4::bytea, thumb = $5::bytea, vision = $6::bytea,"
	    "       text_data = COALESCE($7::text, text_data),"
	    "       s3_bucket = '', s3_key = '', updated_at = now()"
	    " WHERE org_id = $1 AND id = $2 AND status = 'stored'"
	    "   AND s3_key = $3"
	    " RETURNING 1",
	    DB_I64(org_id), DB_I64(id), DB_TEXT(key),
	    DB_BYTES(b->data, b->len),
	    b->thumb != NULL ? DB_BYTES(b->thumb, b->thumb_len) : DB_NULL,
	    b->vision != NULL ? DB_BYTES(b->vision, b->vision_len) : DB_NULL,
	    b->text != NULL ? DB_TEXT(b->text) : DB_NULL, DB_END);
	*moved = st == DB_OK && res.n_rows > 0;
	db_res_clear(&res);
	return st;
}
