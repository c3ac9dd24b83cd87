/*
 * org: the orgs table (see org.h). The chat settings are validated here
 * and again by the table's CHECK constraints (migration 0005), which
 * catch any writer that skipped this module.
 *
 * Thread-safe: no shared state.
 */
#include "model/org.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/arena.h"
#include "util/str.h"
#include "util/utf8.h"

static bool	 blank_char(char);

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
org_ids_any_org(struct db *db, struct arena *a, int64_t **ids, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*ids = NULL;
	*n = 0;
	st = db_query(db, &res, "SELECT id FROM orgs ORDER BY id", DB_END);
	if (st == DB_OK && res.n_rows > 0) {
		*ids = arena_alloc(a, sizeof(**ids) * (size_t)res.n_rows);
		for (int i = 0; i < res.n_rows; i++)
			(*ids)[i] = db_res_i64(&res, i, 0);
		*n = res.n_rows;
	}
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

enum db_status
org_get_product_name(struct db *db, struct arena *a, int64_t org_id,
    char **name)
{
	char	*prefix;

	return org_get_settings(db, a, org_id, name, &prefix);
}

enum db_status
org_get_settings(struct db *db, struct arena *a, int64_t org_id,
    char **product_name, char **connect_prefix)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT product_name, connect_prefix FROM orgs WHERE id = $1",
	    DB_I64(org_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK) {
		*product_name = arena_strdup(a, db_res_text(&res, 0, 0));
		*connect_prefix = arena_strdup(a, db_res_text(&res, 0, 1));
	}
	db_res_clear(&res);
	return st;
}

enum db_status
org_get_media_retention(struct db *db, int64_t org_id, int *days)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*days = 0;
	st = db_query(db, &res,
	    "SELECT COALESCE(media_retention_days, 0) FROM orgs WHERE id = $1",
	    DB_I64(org_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		*days = (int)db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

static bool
blank_char(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

enum db_status
org_update_settings(struct db *db, int64_t org_id, const char *product_name,
    const char *connect_prefix, const char *media_retention_days,
    struct field_errors *errs)
{
	struct db_res	 res = { 0 };
	char		 product[ORG_PRODUCT_MAX * 4 + 1];
	char		 prefix[ORG_PREFIX_MAX + 1];
	const char	*p = product_name != NULL ? product_name : "";
	const char	*c = connect_prefix != NULL ? connect_prefix : "";
	char		 days_text[16];
	int64_t		 days = 0;
	size_t		 len, n = 0;
	bool		 ok;
	enum db_status	 st;

	while (blank_char(*p))
		p++;
	len = strlen(p);
	while (len > 0 && blank_char(p[len - 1]))
		len--;
	ok = len > 0 && len < sizeof(product) && utf8_valid(p, len);
	for (size_t i = 0; ok && i < len; i++)
		ok = (unsigned char)p[i] >= 0x20 && p[i] != 0x7f;
	if (ok && utf8_count(p, len) > ORG_PRODUCT_MAX)
		ok = false;
	if (!ok)
		field_error_add(errs, "product_name", len == 0 ?
		    "Enter a product name." :
		    "Use 1 to 60 characters, on one line.");
	else {
		memcpy(product, p, len);
		product[len] = '\0';
	}

	while (blank_char(*c))
		c++;
	ok = true;
	for (; *c != '\0' && !blank_char(*c) && ok; c++) {
		ok = n < ORG_PREFIX_MAX &&
		    ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z'));
		if (ok)
			prefix[n++] = (char)toupper((unsigned char)*c);
	}
	while (ok && blank_char(*c))
		c++;
	if (!ok || *c != '\0' || n < ORG_PREFIX_MIN)
		field_error_add(errs, "connect_prefix",
		    "Use 2 to 6 letters A to Z.");
	prefix[n] = '\0';

	/* Media retention: empty is forever. */
	snprintf(days_text, sizeof(days_text), "%s", media_retention_days !=
	    NULL ? media_retention_days : "");
	if (strlen(media_retention_days != NULL ? media_retention_days : "") >=
	    sizeof(days_text) || (str_trim(days_text)[0] != '\0' &&
	    (!str_to_i64(str_trim(days_text), &days) || days < 1 ||
	    days > ORG_RETENTION_MAX)))
		field_error_add(errs, "media_retention_days", "Enter a whole "
		    "number of days from 1 to 36500, or leave it empty to keep "
		    "media forever.");
	if (errs->n > 0)
		return DB_INVALID;

	st = db_query(db, &res,
	    "UPDATE orgs SET product_name = $2, connect_prefix = $3,"
	    "       media_retention_days = NULLIF($4::int, 0)"
	    " WHERE id = $1 RETURNING id",
	    DB_I64(org_id), DB_TEXT(product), DB_TEXT(prefix), DB_I64(days),
	    DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}
