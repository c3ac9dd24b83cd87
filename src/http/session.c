/*
 * session: the sessions table (see session.h).
 */
#include "http/session.h"

#include <string.h>

#include "http/req.h"
#include "util/arena.h"
#include "util/str.h"

enum db_status
session_create(struct db *db, int64_t user_id, int64_t org_id,
    const char *ip, const char *user_agent, int max_hours,
    char token_out[TOKEN_LEN + 1])
{
	unsigned char	 hash[TOKEN_HASH_LEN];
	char		 csrf[TOKEN_LEN + 1];
	char		 ua[256];

	token_new(token_out);
	token_new(csrf);
	token_hash(token_out, hash);
	str_copy(ua, user_agent ? user_agent : "", sizeof(ua));
	return db_exec(db,
	    "INSERT INTO sessions (org_id, user_id, token_hash, csrf_token,"
	    "       ip, user_agent, expires_at)"
	    " VALUES ($1, $2, $3, $4, $5, $6,"
	    "       now() + make_interval(hours => $7))",
	    DB_I64(org_id), DB_I64(user_id), DB_BYTES(hash, sizeof(hash)),
	    DB_TEXT(csrf), DB_TEXT(ip), DB_TEXT(ua), DB_I64(max_hours),
	    DB_END);
}

enum db_status
session_lookup(struct db *db, struct arena *a, const char *token,
    int idle_minutes, struct session *s)
{
	unsigned char	 hash[TOKEN_HASH_LEN];
	struct db_res	 res = { 0 };
	enum db_status	 st;

	if (strlen(token) != TOKEN_LEN)
		return DB_NOT_FOUND;
	token_hash(token, hash);
	/* The CTE reads the flash before the UPDATE clears it. */
	st = db_query(db, &res,
	    "WITH cur AS ("
	    "  SELECT id, flash FROM sessions"
	    "   WHERE token_hash = $1 AND expires_at > now()"
	    "     AND last_seen_at > now() - make_interval(mins => $2)"
	    "   FOR UPDATE)"
	    " UPDATE sessions s SET last_seen_at = now(), flash = NULL"
	    "   FROM cur WHERE s.id = cur.id"
	    " RETURNING s.id, s.user_id, s.org_id, s.csrf_token, cur.flash",
	    DB_BYTES(hash, sizeof(hash)), DB_I64(idle_minutes), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows != 1) {
		st = DB_NOT_FOUND;
		goto out;
	}
	memset(s, 0, sizeof(*s));
	s->id = db_res_i64(&res, 0, 0);
	s->user_id = db_res_i64(&res, 0, 1);
	s->org_id = db_res_i64(&res, 0, 2);
	str_copy(s->csrf, db_res_text(&res, 0, 3), sizeof(s->csrf));
	if (!db_res_isnull(&res, 0, 4))
		s->flash = arena_strdup(a, db_res_text(&res, 0, 4));
out:
	db_res_clear(&res);
	return st;
}

enum db_status
session_delete(struct db *db, int64_t session_id)
{
	return db_exec(db, "DELETE FROM sessions WHERE id = $1",
	    DB_I64(session_id), DB_END);
}

enum db_status
session_delete_user(struct db *db, int64_t user_id, int64_t keep_id)
{
	return db_exec(db,
	    "DELETE FROM sessions WHERE user_id = $1 AND id <> $2",
	    DB_I64(user_id), DB_I64(keep_id), DB_END);
}

enum db_status
session_set_flash(struct db *db, int64_t session_id, const char *flash)
{
	return db_exec(db, "UPDATE sessions SET flash = $2 WHERE id = $1",
	    DB_I64(session_id), DB_TEXT(flash), DB_END);
}
