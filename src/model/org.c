/*
 * org: the orgs table (see org.h).
 */
#include "model/org.h"

#include <string.h>

#include "util/arena.h"
#include "util/utf8.h"

enum db_status
org_create(struct db *db, const char *name, int64_t *id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	size_t		 len = strlen(name);

	if (len == 0 || utf8_count(name, len) > ORG_NAME_MAX)
		return DB_INVALID;
	st = db_query(db, &res,
	    "INSERT INTO orgs (name) VALUES ($1) RETURNING id",
	    DB_TEXT(name), DB_END);
	if (st == DB_OK)
		*id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
org_find_by_name_any_org(struct db *db, const char *name, int64_t *id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT id FROM orgs WHERE name = $1 ORDER BY id LIMIT 1",
	    DB_TEXT(name), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		*id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
org_get_name(struct db *db, struct arena *a, int64_t org_id, char **name)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT name FROM orgs WHERE id = $1",
	    DB_I64(org_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		*name = arena_strdup(a, db_res_text(&res, 0, 0));
	db_res_clear(&res);
	return st;
}
