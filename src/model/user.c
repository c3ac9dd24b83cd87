/*
 * user: users and memberships (see user.h).
 */
#include "model/user.h"

#include <string.h>

#include "util/arena.h"
#include "util/str.h"
#include "util/utf8.h"

bool
user_role_valid(const char *role)
{
	return str_eq(role, "owner") || str_eq(role, "admin") ||
	    str_eq(role, "member");
}

bool
user_email_valid(const char *email)
{
	const char	*at = strchr(email, '@');
	size_t		 len = strlen(email);

	if (len < 3 || len > USER_EMAIL_MAX || at == NULL || at == email ||
	    at[1] == '\0' || strchr(at + 1, '@') != NULL)
		return false;
	if (!utf8_valid(email, len))
		return false;
	for (const char *p = email; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '<' ||
		    *p == '>' || *p == '"' || *p == ',')
			return false;
	return true;
}

enum db_status
user_create(struct db *db, const char *email, const char *password_hash,
    int64_t *id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "INSERT INTO users (email, password_hash) VALUES ($1, $2)"
	    " RETURNING id",
	    DB_TEXT(email), DB_TEXT(password_hash), DB_END);
	if (st == DB_OK)
		*id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
user_membership_set(struct db *db, int64_t org_id, int64_t user_id,
    const char *role)
{
	if (!user_role_valid(role))
		return DB_INVALID;
	return db_exec(db,
	    "INSERT INTO memberships (org_id, user_id, role)"
	    " VALUES ($1, $2, $3)"
	    " ON CONFLICT (org_id, user_id) DO UPDATE SET role = $3",
	    DB_I64(org_id), DB_I64(user_id), DB_TEXT(role), DB_END);
}

enum db_status
user_count_any_org(struct db *db, int64_t *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res, "SELECT count(*) FROM users", DB_END);
	if (st == DB_OK)
		*n = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
user_find_for_login_any_org(struct db *db, const char *email,
    int64_t *user_id, int64_t *org_id, char hash[PASSWORD_HASH_MAX])
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT u.id, m.org_id, u.password_hash"
	    "  FROM users u JOIN memberships m ON m.user_id = u.id"
	    " WHERE lower(u.email) = lower($1) AND u.is_active"
	    " ORDER BY m.org_id LIMIT 1",
	    DB_TEXT(email), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK) {
		*user_id = db_res_i64(&res, 0, 0);
		*org_id = db_res_i64(&res, 0, 1);
		str_copy(hash, db_res_text(&res, 0, 2), PASSWORD_HASH_MAX);
	}
	db_res_clear(&res);
	return st;
}

enum db_status
user_find_by_email_any_org(struct db *db, const char *email,
    int64_t *user_id, int64_t *org_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT u.id, m.org_id"
	    "  FROM users u JOIN memberships m ON m.user_id = u.id"
	    " WHERE lower(u.email) = lower($1) AND u.is_active"
	    " ORDER BY m.org_id LIMIT 1",
	    DB_TEXT(email), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK) {
		*user_id = db_res_i64(&res, 0, 0);
		*org_id = db_res_i64(&res, 0, 1);
	}
	db_res_clear(&res);
	return st;
}

enum db_status
user_get_hash(struct db *db, int64_t org_id, int64_t user_id,
    char hash[PASSWORD_HASH_MAX])
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT u.password_hash"
	    "  FROM memberships m JOIN users u ON u.id = m.user_id"
	    " WHERE m.org_id = $1 AND u.id = $2 AND u.is_active",
	    DB_I64(org_id), DB_I64(user_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		str_copy(hash, db_res_text(&res, 0, 0), PASSWORD_HASH_MAX);
	db_res_clear(&res);
	return st;
}

enum db_status
user_set_hash(struct db *db, int64_t user_id, const char *hash)
{
	return db_exec(db,
	    "UPDATE users SET password_hash = $2, password_changed_at = now()"
	    " WHERE id = $1",
	    DB_I64(user_id), DB_TEXT(hash), DB_END);
}

enum db_status
user_principal_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t user_id, struct user_principal *p)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT u.email, o.name, m.role"
	    "  FROM memberships m"
	    "  JOIN users u ON u.id = m.user_id"
	    "  JOIN orgs o ON o.id = m.org_id"
	    " WHERE m.org_id = $1 AND m.user_id = $2 AND u.is_active",
	    DB_I64(org_id), DB_I64(user_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK) {
		p->email = arena_strdup(a, db_res_text(&res, 0, 0));
		p->org_name = arena_strdup(a, db_res_text(&res, 0, 1));
		p->role = arena_strdup(a, db_res_text(&res, 0, 2));
	}
	db_res_clear(&res);
	return st;
}

enum db_status
user_count_in_org(struct db *db, int64_t org_id, int64_t *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT count(*)"
	    "  FROM memberships m JOIN users u ON u.id = m.user_id"
	    " WHERE m.org_id = $1 AND u.is_active",
	    DB_I64(org_id), DB_END);
	if (st == DB_OK)
		*n = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}
