/*
 * model/media: media_files SQL (see media.h).
 *
 * Bytes go in as a binary parameter (DB_BYTES, no escaping on the way in)
 * and come back in bytea's hex text form, decoded by db_res_bytes. Every
 * parameter of an INSERT … SELECT is cast: PostgreSQL does not infer a
 * select list's parameter types from the target columns, and a binary
 * bytea read as text would be refused or mangled.
 *
 * Thread-safety: stateless; each call uses the caller's connection.
 */
#include "model/media.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"

#define ITEMS_MAX	10	/* media_files.n is 0..9 */

static void	 read_file(struct arena *, const struct db_res *, int,
		    struct media_file *);
static char	*col(struct arena *, const struct db_res *, int, int);

static char *
col(struct arena *a, const struct db_res *res, int row, int c)
{
	return arena_strdup(a, db_res_text(res, row, c));
}

enum db_status
media_source_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t chat_id, int64_t message_id, struct media_source *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    "SELECT m.id, m.chat_id, m.channel_id, ch.kind, m.media::text"
	    "  FROM messages m"
	    "  JOIN channels ch ON ch.id = m.channel_id"
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
	}
	db_res_clear(&res);
	return st;
}

/* Columns: message_id, n, status, content_type, byte_size, sha256,
 * error, attempts, age_s[, data]. */
static void
read_file(struct arena *a, const struct db_res *res, int row,
    struct media_file *f)
{
	f->message_id = db_res_i64(res, row, 0);
	f->n = (int)db_res_i64(res, row, 1);
	f->status = col(a, res, row, 2);
	f->content_type = col(a, res, row, 3);
	f->byte_size = db_res_i64(res, row, 4);
	f->sha256 = col(a, res, row, 5);
	f->error = col(a, res, row, 6);
	f->attempts = (int)db_res_i64(res, row, 7);
	f->age_s = db_res_i64(res, row, 8);
}

enum db_status
media_file_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t message_id, int n, bool with_data, struct media_file *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    "SELECT message_id, n, status, content_type, byte_size, sha256,"
	    "       error, attempts,"
	    "       floor(extract(epoch FROM now() - updated_at))::bigint,"
	    "       CASE WHEN $4::boolean AND status = 'stored' THEN data END"
	    "  FROM media_files"
	    " WHERE org_id = $1 AND message_id = $2 AND n = $3::int",
	    DB_I64(org_id), DB_I64(message_id), DB_I64(n),
	    DB_BOOL(with_data), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st != DB_OK)
		goto out;
	read_file(a, &res, 0, out);
	if (!db_res_isnull(&res, 0, 9)) {
		out->data = db_res_bytes(&res, 0, 9, &out->len);
		arena_defer(a, free, out->data);
	}
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
	char		*arr, *p;

	*out = NULL;
	*n = 0;
	if (n_ids > MEDIA_LIST_MAX)
		n_ids = MEDIA_LIST_MAX;
	if (n_ids <= 0)
		return DB_OK;
	/* An int8[] literal: "{1,2,3}" (21 bytes per id at most). */
	arr = p = arena_alloc(a, (size_t)n_ids * 21 + 3);
	*p++ = '{';
	for (int i = 0; i < n_ids; i++)
		p += snprintf(p, 22, "%s%lld", i > 0 ? "," : "",
		    (long long)message_ids[i]);
	*p++ = '}';
	*p = '\0';
	st = db_query(db, &res,
	    "SELECT message_id, n, status, content_type, byte_size, sha256,"
	    "       error, attempts,"
	    "       floor(extract(epoch FROM now() - updated_at))::bigint"
	    "  FROM media_files"
	    " WHERE org_id = $1 AND message_id = ANY ($2::bigint[])"
	    " ORDER BY message_id, n",
	    DB_I64(org_id), DB_TEXT(arr), DB_END);
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
media_file_store(struct db *db, int64_t org_id, int64_t message_id, int n,
    const char *content_type, const unsigned char *data, size_t len,
    const char *sha256)
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
	    "         content_type, byte_size, sha256, data, error, attempts)"
	    "  SELECT $1, m.id, $3::int, 'stored', $4::text, $5::bigint,"
	    "         $6::text, $7::bytea, '', 1"
	    "    FROM m"
	    "  ON CONFLICT (message_id, n) DO UPDATE"
	    "     SET status = 'stored', content_type = EXCLUDED.content_type,"
	    "         byte_size = EXCLUDED.byte_size,"
	    "         sha256 = EXCLUDED.sha256, data = EXCLUDED.data,"
	    "         error = '', attempts = f.attempts + 1,"
	    "         updated_at = now()"
	    "   WHERE f.org_id = $1 AND f.status <> 'stored'"
	    "  RETURNING 1)"
	    " SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM up)",
	    DB_I64(org_id), DB_I64(message_id), DB_I64(n),
	    DB_TEXT(content_type != NULL ? content_type : ""),
	    DB_I64((int64_t)len), DB_TEXT(sha256 != NULL ? sha256 : ""),
	    DB_BYTES(data, len), DB_END);
	if (st == DB_OK && db_res_i64(&res, 0, 0) == 0)
		st = DB_NOT_FOUND;
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
	    "   WHERE f.org_id = $1 AND f.status <> 'stored'"
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
media_file_thumb_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t message_id, int n, unsigned char **data, size_t *len)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*data = NULL;
	*len = 0;
	st = db_query(db, &res,
	    "SELECT thumb FROM media_files"
	    " WHERE org_id = $1 AND message_id = $2 AND n = $3::int"
	    "   AND status = 'stored'",
	    DB_I64(org_id), DB_I64(message_id), DB_I64(n), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK && !db_res_isnull(&res, 0, 0)) {
		*data = db_res_bytes(&res, 0, 0, len);
		arena_defer(a, free, *data);
	}
	db_res_clear(&res);
	return st;
}

enum db_status
media_file_thumb_set(struct db *db, int64_t org_id, int64_t message_id,
    int n, const unsigned char *data, size_t len)
{
	return db_exec(db,
	    "UPDATE media_files SET thumb = $4::bytea"
	    " WHERE org_id = $1 AND message_id = $2 AND n = $3::int"
	    "   AND status = 'stored' AND thumb IS NULL",
	    DB_I64(org_id), DB_I64(message_id), DB_I64(n),
	    DB_BYTES(data, len), DB_END);
}
