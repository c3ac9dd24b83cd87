/*
 * apitoken: API bearer tokens (see apitoken.h); owns table `api_tokens`.
 *
 * The secret never touches the database: a row holds SHA-256 of the whole
 * token text ("prl_…") and a 12-character display prefix. Authentication
 * hashes what was presented and looks the hash up (the lookup is an
 * equality on a unique index, so there is no secret-dependent comparison
 * in our code). A presented string that cannot be a token (wrong length,
 * prefix or alphabet) is refused before any query.
 *
 * Timestamps are returned as RFC 3339 UTC text.
 *
 * Thread-safety: stateless; each call uses the caller's connection.
 */
#include "model/apitoken.h"

#include <string.h>

#include <sodium.h>

#include "crypto/token.h"
#include "model/user.h"
#include "util/arena.h"
#include "util/str.h"

#define APITOKEN_SCHEME		"prl_"
#define APITOKEN_SCHEME_LEN	4
#define APITOKEN_PREFIX_LEN	APITOKEN_PREFIX_MAX

static bool	token_shape_ok(const char *token);

_Static_assert(APITOKEN_LEN == APITOKEN_SCHEME_LEN + TOKEN_LEN,
    "APITOKEN_LEN must be the scheme plus a crypto/token.h token");

/* "prl_" followed by exactly TOKEN_LEN base64url characters. */
static bool
token_shape_ok(const char *token)
{
	size_t	 len;

	if (token == NULL)
		return false;
	len = strnlen(token, APITOKEN_LEN + 1);
	if (len != APITOKEN_LEN || strncmp(token, APITOKEN_SCHEME,
	    APITOKEN_SCHEME_LEN) != 0)
		return false;
	for (size_t i = APITOKEN_SCHEME_LEN; i < len; i++) {
		char	 c = token[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

enum db_status
apitoken_create(struct db *db, int64_t org_id, int64_t created_by,
    const char *name, const char *role, char token_out[APITOKEN_LEN + 1],
    int64_t *id)
{
	struct db_res	 res = { 0 };
	unsigned char	 hash[TOKEN_HASH_LEN];
	char		 secret[TOKEN_LEN + 1];
	char		 prefix[APITOKEN_PREFIX_LEN + 1];
	enum db_status	 st;

	if (name == NULL || *name == '\0' || !user_role_valid(role))
		return DB_INVALID;
	token_new(secret);
	memcpy(token_out, APITOKEN_SCHEME, APITOKEN_SCHEME_LEN);
	memcpy(token_out + APITOKEN_SCHEME_LEN, secret, TOKEN_LEN + 1);
	sodium_memzero(secret, sizeof(secret));
	token_hash(token_out, hash);
	memcpy(prefix, token_out, APITOKEN_PREFIX_LEN);
	prefix[APITOKEN_PREFIX_LEN] = '\0';

	st = db_query(db, &res,
	    "INSERT INTO api_tokens (org_id, created_by, name, prefix,"
	    "    token_hash, role)"
	    " VALUES ($1, $2, $3, $4, $5, $6)"
	    " RETURNING id",
	    DB_I64(org_id), created_by > 0 ? DB_I64(created_by) : DB_NULL,
	    DB_TEXT(name), DB_TEXT(prefix), DB_BYTES(hash, sizeof(hash)),
	    DB_TEXT(role), DB_END);
	if (st == DB_OK && id != NULL)
		*id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	if (st != DB_OK)
		sodium_memzero(token_out, APITOKEN_LEN + 1);
	return st;
}

enum db_status
apitoken_list(struct db *db, struct arena *a, int64_t org_id,
    struct api_token **out, int *n)
{
	struct db_res	 res = { 0 };
	struct api_token *t;
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT t.id, t.name, t.prefix, t.role, coalesce(u.email, ''),"
	    "       to_char(t.created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    "       to_char(t.last_used_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    "       t.revoked_at IS NOT NULL"
	    "  FROM api_tokens t LEFT JOIN users u ON u.id = t.created_by"
	    " WHERE t.org_id = $1"
	    " ORDER BY t.revoked_at IS NOT NULL, t.created_at DESC, t.id DESC",
	    DB_I64(org_id), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows == 0)
		goto out;
	t = arena_alloc(a, sizeof(*t) * (size_t)res.n_rows);
	for (int i = 0; i < res.n_rows; i++) {
		t[i].id = db_res_i64(&res, i, 0);
		t[i].name = arena_strdup(a, db_res_text(&res, i, 1));
		t[i].prefix = arena_strdup(a, db_res_text(&res, i, 2));
		t[i].role = arena_strdup(a, db_res_text(&res, i, 3));
		t[i].created_by = arena_strdup(a, db_res_text(&res, i, 4));
		t[i].created_at = arena_strdup(a, db_res_text(&res, i, 5));
		t[i].last_used_at = db_res_isnull(&res, i, 6) ? NULL :
		    arena_strdup(a, db_res_text(&res, i, 6));
		t[i].revoked = db_res_bool(&res, i, 7);
	}
	*out = t;
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
apitoken_revoke(struct db *db, int64_t org_id, int64_t id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	/* Revoking twice is not an error; the first time is kept. */
	st = db_query(db, &res,
	    "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())"
	    " WHERE org_id = $1 AND id = $2"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

enum db_status
apitoken_prefix(struct db *db, int64_t org_id, int64_t id,
    char prefix[APITOKEN_PREFIX_MAX + 1])
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT prefix FROM api_tokens"
	    " WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		str_copy(prefix, db_res_text(&res, 0, 0),
		    APITOKEN_PREFIX_MAX + 1);
	db_res_clear(&res);
	return st;
}

enum db_status
apitoken_authenticate_any_org(struct db *db, const char *token,
    struct apitoken_principal *p)
{
	struct db_res	 res = { 0 };
	unsigned char	 hash[TOKEN_HASH_LEN];
	enum db_status	 st;

	memset(p, 0, sizeof(*p));
	if (!token_shape_ok(token))
		return DB_NOT_FOUND;
	token_hash(token, hash);
	/*
	 * One round trip: the token, its user's activity and membership in
	 * the token's organisation (so a deactivated, removed or demoted user
	 * counts from the next request), plus a write only when last_used_at
	 * is more than a minute old, so a busy token does not rewrite its row
	 * on every request. The effective role is the lesser of the token's
	 * and the member's.
	 */
	st = db_query(db, &res,
	    "WITH t AS ("
	    "    SELECT a.id, a.org_id, a.role, a.last_used_at,"
	    "           coalesce(u.id, 0) AS user_id,"
	    "           coalesce(u.is_active, false) AS user_active,"
	    "           m.role AS member_role"
	    "      FROM api_tokens a"
	    "      LEFT JOIN users u ON u.id = a.created_by"
	    "      LEFT JOIN memberships m"
	    "        ON m.org_id = a.org_id AND m.user_id = a.created_by"
	    "     WHERE a.token_hash = $1 AND a.revoked_at IS NULL),"
	    " touch AS ("
	    "    UPDATE api_tokens a SET last_used_at = now()"
	    "      FROM t"
	    "     WHERE a.id = t.id AND t.user_active"
	    "       AND t.member_role IS NOT NULL"
	    "       AND (t.last_used_at IS NULL"
	    "        OR t.last_used_at < now() - interval '1 minute'))"
	    " SELECT id, org_id, user_id, user_active,"
	    "        member_role IS NOT NULL,"
	    "        CASE WHEN 'member' IN (role, member_role) THEN 'member'"
	    "             WHEN 'admin' IN (role, member_role) THEN 'admin'"
	    "             ELSE 'owner' END"
	    "   FROM t",
	    DB_BYTES(hash, sizeof(hash)), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st != DB_OK)
		goto out;
	p->token_id = db_res_i64(&res, 0, 0);
	p->org_id = db_res_i64(&res, 0, 1);
	p->user_id = db_res_i64(&res, 0, 2);
	if (p->user_id != 0 && !db_res_bool(&res, 0, 3))
		p->standing = APITOKEN_USER_INACTIVE;
	else if (p->user_id == 0 || !db_res_bool(&res, 0, 4))
		p->standing = APITOKEN_NOT_MEMBER;
	else {
		p->standing = APITOKEN_ACTIVE;
		str_copy(p->role, db_res_text(&res, 0, 5), sizeof(p->role));
	}
out:
	db_res_clear(&res);
	return st;
}
