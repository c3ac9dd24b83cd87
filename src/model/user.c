/*
 * user: users and memberships (see user.h).
 */
#include "model/user.h"

#include <string.h>

#include "util/arena.h"
#include "util/str.h"
#include "util/utf8.h"

static enum db_status	last_owner_check(struct db *, struct arena *, int64_t,
			    int64_t, char **, char **, bool *);
static enum db_status	sole_member_check(struct db *, struct arena *, int64_t,
			    int64_t, char **);

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
    bool one_time, int64_t *id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "INSERT INTO users (email, password_hash, must_change_password)"
	    " VALUES ($1, $2, $3)"
	    " RETURNING id",
	    DB_TEXT(email), DB_TEXT(password_hash), DB_BOOL(one_time),
	    DB_END);
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
	enum db_status	 st;
	bool		 is_active = false;

	st = user_lookup_any_org(db, email, user_id, org_id, &is_active);
	if (st == DB_OK && (!is_active || *org_id == 0))
		st = DB_NOT_FOUND;
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
user_password_set(struct db *db, int64_t user_id, const char *hash,
    bool one_time)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE users SET password_hash = $2, password_changed_at = now(),"
	    "       must_change_password = $3"
	    " WHERE id = $1"
	    " RETURNING id",
	    DB_I64(user_id), DB_TEXT(hash), DB_BOOL(one_time), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

enum db_status
user_lookup_any_org(struct db *db, const char *email, int64_t *user_id,
    int64_t *org_id, bool *is_active)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT u.id, coalesce(m.org_id, 0), u.is_active"
	    "  FROM users u LEFT JOIN memberships m ON m.user_id = u.id"
	    " WHERE lower(u.email) = lower($1)"
	    " ORDER BY m.org_id LIMIT 1",
	    DB_TEXT(email), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK) {
		*user_id = db_res_i64(&res, 0, 0);
		*org_id = db_res_i64(&res, 0, 1);
		*is_active = db_res_bool(&res, 0, 2);
	}
	db_res_clear(&res);
	return st;
}

/*
 * Locks user_id's row and says whether it belongs to org_id and to no
 * other organisation (an owner acts on a user's password or activity only
 * when that user is wholly theirs). Inside the caller's transaction.
 */
static enum db_status
sole_member_check(struct db *db, struct arena *a, int64_t org_id,
    int64_t user_id, char **email)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT u.email, NOT EXISTS (SELECT 1 FROM memberships o"
	    "           WHERE o.user_id = u.id AND o.org_id <> $1)"
	    "  FROM memberships m JOIN users u ON u.id = m.user_id"
	    " WHERE m.org_id = $1 AND m.user_id = $2"
	    "   FOR UPDATE OF u",
	    DB_I64(org_id), DB_I64(user_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK) {
		*email = arena_strdup(a, db_res_text(&res, 0, 0));
		if (!db_res_bool(&res, 0, 1))
			st = DB_CONFLICT;
	}
	db_res_clear(&res);
	return st;
}

enum db_status
user_password_reset_in_org(struct db *db, struct arena *a, int64_t org_id,
    int64_t user_id, const char *hash, char **email)
{
	enum db_status	 st;
	bool		 own = false;

	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = sole_member_check(db, a, org_id, user_id, email);
	if (st == DB_OK)
		st = user_password_set(db, user_id, hash, true);
	return db_tx_leave(db, own, st);
}

enum db_status
user_reactivate(struct db *db, struct arena *a, int64_t org_id,
    int64_t user_id, char **email)
{
	enum db_status	 st;
	bool		 own = false;

	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = sole_member_check(db, a, org_id, user_id, email);
	if (st == DB_OK)
		st = db_exec(db,
		    "UPDATE users SET is_active = true"
		    " WHERE id = $2 AND EXISTS (SELECT 1 FROM memberships"
		    "     WHERE org_id = $1 AND user_id = $2)",
		    DB_I64(org_id), DB_I64(user_id), DB_END);
	return db_tx_leave(db, own, st);
}

enum db_status
user_principal_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t user_id, struct user_principal *p)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT u.email, o.name, m.role, u.must_change_password"
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
		p->must_change_password = db_res_bool(&res, 0, 3);
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

enum db_status
user_list_in_org(struct db *db, struct arena *a, int64_t org_id,
    struct user_row **out, int *n)
{
	struct db_res	 res = { 0 };
	struct user_row	*u;
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT u.id, u.email, m.role, u.is_active,"
	    "       to_char(u.created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	    "  FROM memberships m JOIN users u ON u.id = m.user_id"
	    " WHERE m.org_id = $1"
	    " ORDER BY u.is_active DESC, lower(u.email), u.id",
	    DB_I64(org_id), DB_END);
	if (st != DB_OK || res.n_rows == 0)
		goto out;
	u = arena_alloc(a, sizeof(*u) * (size_t)res.n_rows);
	for (int i = 0; i < res.n_rows; i++) {
		u[i].id = db_res_i64(&res, i, 0);
		u[i].email = arena_strdup(a, db_res_text(&res, i, 1));
		u[i].role = arena_strdup(a, db_res_text(&res, i, 2));
		u[i].is_active = db_res_bool(&res, i, 3);
		u[i].created_at = arena_strdup(a, db_res_text(&res, i, 4));
	}
	*out = u;
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
user_create_in_org(struct db *db, int64_t org_id, const char *email,
    const char *password_hash, bool one_time, const char *role, int64_t *id)
{
	enum db_status	 st;
	bool		 own = false;

	if (!user_role_valid(role))
		return DB_INVALID;
	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = user_create(db, email, password_hash, one_time, id);
	if (st == DB_OK)
		st = user_membership_set(db, org_id, *id, role);
	return db_tx_leave(db, own, st);
}

/*
 * Locks the organisation's owner memberships, reads user_id's role and
 * activity, and says whether user_id is the last active owner. Inside the
 * caller's transaction.
 */
static enum db_status
last_owner_check(struct db *db, struct arena *a, int64_t org_id,
    int64_t user_id, char **email, char **role, bool *is_last_owner)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_exec(db,
	    "SELECT 1 FROM memberships"
	    " WHERE org_id = $1 AND role = 'owner'"
	    " FOR UPDATE",
	    DB_I64(org_id), DB_END);
	if (st != DB_OK)
		return st;
	st = db_query(db, &res,
	    "SELECT u.email, m.role,"
	    "       m.role = 'owner' AND u.is_active AND NOT EXISTS ("
	    "           SELECT 1 FROM memberships o"
	    "             JOIN users ou ON ou.id = o.user_id"
	    "            WHERE o.org_id = $1 AND o.role = 'owner'"
	    "              AND ou.is_active AND o.user_id <> $2)"
	    "  FROM memberships m JOIN users u ON u.id = m.user_id"
	    " WHERE m.org_id = $1 AND m.user_id = $2",
	    DB_I64(org_id), DB_I64(user_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK) {
		*email = arena_strdup(a, db_res_text(&res, 0, 0));
		*role = arena_strdup(a, db_res_text(&res, 0, 1));
		*is_last_owner = db_res_bool(&res, 0, 2);
	}
	db_res_clear(&res);
	return st;
}

enum db_status
user_role_change(struct db *db, struct arena *a, int64_t org_id,
    int64_t user_id, const char *role, char **email)
{
	enum db_status	 st;
	char		*old = NULL;
	bool		 own = false, last = false;

	if (!user_role_valid(role))
		return DB_INVALID;
	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = last_owner_check(db, a, org_id, user_id, email, &old, &last);
	if (st == DB_OK && last && strcmp(role, "owner") != 0)
		st = DB_CONFLICT;
	if (st == DB_OK)
		st = db_exec(db,
		    "UPDATE memberships SET role = $3"
		    " WHERE org_id = $1 AND user_id = $2",
		    DB_I64(org_id), DB_I64(user_id), DB_TEXT(role), DB_END);
	return db_tx_leave(db, own, st);
}

enum db_status
user_deactivate(struct db *db, struct arena *a, int64_t org_id,
    int64_t user_id, char **email)
{
	enum db_status	 st;
	char		*role = NULL;
	bool		 own = false, last = false;

	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = last_owner_check(db, a, org_id, user_id, email, &role, &last);
	if (st == DB_OK && last)
		st = DB_CONFLICT;
	/* The user is global, its membership names org_id: only a member
	 * of the caller's organisation is reached. */
	if (st == DB_OK)
		st = db_exec(db,
		    "UPDATE users SET is_active = false"
		    " WHERE id = $2 AND EXISTS (SELECT 1 FROM memberships"
		    "     WHERE org_id = $1 AND user_id = $2)",
		    DB_I64(org_id), DB_I64(user_id), DB_END);
	return db_tx_leave(db, own, st);
}
