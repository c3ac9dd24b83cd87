/*
 * orgmodel: the models an organisation offers (owns table org_models; see
 * orgmodel.h).
 *
 * Invariants kept here:
 * - At most one default per organisation (the partial unique index
 *   org_models_one_default backs it). Making a model the default clears
 *   the old one first, in the same transaction: two statements, because a
 *   non-deferrable unique index is checked row by row and a single UPDATE
 *   flipping both rows could trip it half-way.
 * - An organisation that has models keeps a default: the default cannot be
 *   switched off directly (make another model the default instead), and
 *   deleting the default hands it to the built-in model.
 * - The built-in model (no provider; "parley/faq") cannot be deleted and
 *   only its display name and default flag change. Names starting with
 *   "parley/" are reserved for built-in models.
 *
 * Functions that need a transaction open one unless the caller already
 * holds one (orgmodel_ensure_builtin runs inside the caller's).
 *
 * Thread-safety: stateless; each call uses the caller's connection.
 */
#include "model/orgmodel.h"

#include <string.h>

#include "util/arena.h"
#include "util/str.h"
#include "util/utf8.h"

#define ORGMODEL_NAME_MAX	200
#define ORGMODEL_RESERVED	"parley/"

static void	 row_read(struct arena *, const struct db_res *, int,
		    struct org_model *);
static bool	 printable(const char *);
static bool	 blank(const char *);
static void	 validate_names(const struct org_model_input *, bool,
		    struct field_errors *);
static enum db_status provider_in_org(struct db *, int64_t, int64_t,
		    struct field_errors *);

/*
 * Columns: id, provider_id, provider name, name, display_name,
 * supports_vision, supports_tools, is_default, is_builtin, n_agents,
 * created_at.
 */
static void
row_read(struct arena *a, const struct db_res *res, int i,
    struct org_model *m)
{
	m->id = db_res_i64(res, i, 0);
	m->provider_id = db_res_isnull(res, i, 1) ? 0 : db_res_i64(res, i, 1);
	m->provider_name = arena_strdup(a, db_res_text(res, i, 2));
	m->name = arena_strdup(a, db_res_text(res, i, 3));
	m->display_name = arena_strdup(a, db_res_text(res, i, 4));
	m->supports_vision = db_res_bool(res, i, 5);
	m->supports_tools = db_res_bool(res, i, 6);
	m->is_default = db_res_bool(res, i, 7);
	m->is_builtin = db_res_bool(res, i, 8);
	m->n_agents = (int)db_res_i64(res, i, 9);
	m->created_at = arena_strdup(a, db_res_text(res, i, 10));
}

/* Valid UTF-8 without control characters. */
static bool
printable(const char *s)
{
	if (!utf8_valid(s, strlen(s)))
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* True when s is empty or only white space. */
static bool
blank(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s != ' ' && *s != '\t')
			return false;
	return true;
}

/* The name (not for the built-in: it never changes) and display name. */
static void
validate_names(const struct org_model_input *in, bool builtin,
    struct field_errors *errs)
{
	const char	*name = in->name != NULL ? in->name : "";
	const char	*disp = in->display_name != NULL ? in->display_name :
			    "";
	size_t		 n;

	if (!builtin) {
		n = strlen(name);
		if (n == 0)
			field_error_add(errs, "name", "Enter the model's name "
			    "as the provider knows it, for example "
			    "gpt-4o-mini.");
		else if (!printable(name) || strpbrk(name, " \t") != NULL)
			field_error_add(errs, "name", "A model name has no "
			    "spaces or control characters.");
		else if (utf8_count(name, n) > ORGMODEL_NAME_MAX)
			field_error_add(errs, "name", "Use at most 200 "
			    "characters.");
		else if (str_starts_with(name, ORGMODEL_RESERVED))
			field_error_add(errs, "name", "Names starting with "
			    "parley/ are reserved for built-in models.");
	}
	n = strlen(disp);
	if (n == 0)
		return;
	if (!printable(disp))
		field_error_add(errs, "display_name", "Use printable "
		    "characters only.");
	else if (blank(disp) || disp[0] == ' ' || disp[n - 1] == ' ')
		field_error_add(errs, "display_name", "Start and end the "
		    "display name with a visible character, or leave it "
		    "empty to use the model name.");
	else if (utf8_count(disp, n) > ORGMODEL_NAME_MAX)
		field_error_add(errs, "display_name", "Use at most 200 "
		    "characters.");
}

/* DB_INVALID with a field error unless provider_id is one of the org's. */
static enum db_status
provider_in_org(struct db *db, int64_t org_id, int64_t provider_id,
    struct field_errors *errs)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	if (provider_id <= 0) {
		field_error_add(errs, "provider_id", "Choose a provider.");
		return DB_INVALID;
	}
	st = db_query(db, &res,
	    "SELECT 1 FROM llm_providers WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(provider_id), DB_END);
	if (st == DB_OK && res.n_rows == 0) {
		field_error_add(errs, "provider_id", "Choose one of your "
		    "organisation's providers.");
		st = DB_INVALID;
	}
	db_res_clear(&res);
	return st;
}

enum db_status
orgmodel_list(struct db *db, struct arena *a, int64_t org_id,
    struct org_model **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT m.id, m.provider_id, coalesce(p.name, ''), m.name,"
	    "       m.display_name, m.supports_vision, m.supports_tools,"
	    "       m.is_default, m.provider_id IS NULL,"
	    "       (SELECT count(*) FROM agents g"
	    "         WHERE g.org_id = m.org_id AND g.model_id = m.id),"
	    "       to_char(m.created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
	    "  FROM org_models m"
	    "  LEFT JOIN llm_providers p"
	    "    ON p.org_id = m.org_id AND p.id = m.provider_id"
	    " WHERE m.org_id = $1"
	    " ORDER BY m.provider_id IS NOT NULL, lower(m.display_name), m.id",
	    DB_I64(org_id), DB_END);
	if (st == DB_OK && res.n_rows > 0) {
		*out = arena_alloc(a, sizeof(**out) * (size_t)res.n_rows);
		for (int i = 0; i < res.n_rows; i++)
			row_read(a, &res, i, &(*out)[i]);
		*n = res.n_rows;
	}
	db_res_clear(&res);
	return st;
}

enum db_status
orgmodel_get(struct db *db, struct arena *a, int64_t org_id, int64_t id,
    struct org_model *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT m.id, m.provider_id, coalesce(p.name, ''), m.name,"
	    "       m.display_name, m.supports_vision, m.supports_tools,"
	    "       m.is_default, m.provider_id IS NULL,"
	    "       (SELECT count(*) FROM agents g"
	    "         WHERE g.org_id = m.org_id AND g.model_id = m.id),"
	    "       to_char(m.created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
	    "  FROM org_models m"
	    "  LEFT JOIN llm_providers p"
	    "    ON p.org_id = m.org_id AND p.id = m.provider_id"
	    " WHERE m.org_id = $1 AND m.id = $2",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		row_read(a, &res, 0, out);
	db_res_clear(&res);
	return st;
}

enum db_status
orgmodel_get_by_name(struct db *db, struct arena *a, int64_t org_id,
    const char *name, struct org_model *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT m.id, m.provider_id, coalesce(p.name, ''), m.name,"
	    "       m.display_name, m.supports_vision, m.supports_tools,"
	    "       m.is_default, m.provider_id IS NULL,"
	    "       (SELECT count(*) FROM agents g"
	    "         WHERE g.org_id = m.org_id AND g.model_id = m.id),"
	    "       to_char(m.created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
	    "  FROM org_models m"
	    "  LEFT JOIN llm_providers p"
	    "    ON p.org_id = m.org_id AND p.id = m.provider_id"
	    " WHERE m.org_id = $1 AND m.name = $2",
	    DB_I64(org_id), DB_TEXT(name), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		row_read(a, &res, 0, out);
	db_res_clear(&res);
	return st;
}

enum db_status
orgmodel_get_default(struct db *db, struct arena *a, int64_t org_id,
    struct org_model *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT m.id, m.provider_id, coalesce(p.name, ''), m.name,"
	    "       m.display_name, m.supports_vision, m.supports_tools,"
	    "       m.is_default, m.provider_id IS NULL,"
	    "       (SELECT count(*) FROM agents g"
	    "         WHERE g.org_id = m.org_id AND g.model_id = m.id),"
	    "       to_char(m.created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
	    "  FROM org_models m"
	    "  LEFT JOIN llm_providers p"
	    "    ON p.org_id = m.org_id AND p.id = m.provider_id"
	    " WHERE m.org_id = $1 AND m.is_default",
	    DB_I64(org_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		row_read(a, &res, 0, out);
	db_res_clear(&res);
	return st;
}

enum db_status
orgmodel_create(struct db *db, int64_t org_id,
    const struct org_model_input *in, struct field_errors *errs, int64_t *id)
{
	struct db_res	 res = { 0 };
	const char	*disp;
	bool		 own = false;
	enum db_status	 st;

	if (in->provider_id <= 0)
		field_error_add(errs, "provider_id", "Choose a provider.");
	validate_names(in, false, errs);
	if (errs->n > 0)
		return DB_INVALID;
	disp = in->display_name != NULL && in->display_name[0] != '\0' ?
	    in->display_name : in->name;
	if ((st = db_tx_join(db, &own)) != DB_OK)
		goto out;
	if ((st = provider_in_org(db, org_id, in->provider_id, errs)) != DB_OK)
		goto out;
	if (in->is_default && (st = db_exec(db,
	    "UPDATE org_models SET is_default = false, updated_at = now()"
	    " WHERE org_id = $1 AND is_default",
	    DB_I64(org_id), DB_END)) != DB_OK)
		goto out;
	st = db_query(db, &res,
	    "INSERT INTO org_models (org_id, provider_id, name, display_name,"
	    "       supports_vision, supports_tools, is_default)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(in->provider_id), DB_TEXT(in->name),
	    DB_TEXT(disp), DB_BOOL(in->supports_vision),
	    DB_BOOL(in->supports_tools), DB_BOOL(in->is_default), DB_END);
	if (st == DB_CONFLICT)
		field_error_add(errs, "name", "This organisation already has "
		    "a model with this name.");
	if (st != DB_OK)
		goto out;
	*id = db_res_i64(&res, 0, 0);
out:
	db_res_clear(&res);
	st = db_tx_leave(db, own, st);
	return st;
}

enum db_status
orgmodel_update(struct db *db, int64_t org_id, int64_t id,
    const struct org_model_input *in, struct field_errors *errs)
{
	struct db_res	 res = { 0 };
	const char	*disp;
	bool		 own = false, builtin, was_default;
	char		 cur_name[ORGMODEL_NAME_MAX * 4 + 1];
	enum db_status	 st;

	if ((st = db_tx_join(db, &own)) != DB_OK)
		goto out;
	st = db_query(db, &res,
	    "SELECT provider_id IS NULL, is_default, name"
	    "  FROM org_models"
	    " WHERE org_id = $1 AND id = $2"
	    "   FOR UPDATE",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st != DB_OK)
		goto out;
	builtin = db_res_bool(&res, 0, 0);
	was_default = db_res_bool(&res, 0, 1);
	str_copy(cur_name, db_res_text(&res, 0, 2), sizeof(cur_name));
	db_res_clear(&res);

	validate_names(in, builtin, errs);
	if (builtin && in->name != NULL && in->name[0] != '\0' &&
	    strcmp(in->name, cur_name) != 0)
		field_error_add(errs, "name", "The built-in model's name "
		    "cannot change.");
	if (builtin && in->provider_id != 0)
		field_error_add(errs, "provider_id", "The built-in model has "
		    "no provider.");
	if (was_default && !in->is_default)
		field_error_add(errs, "is_default", "Make another model the "
		    "default instead; the organisation needs one.");
	if (errs->n > 0) {
		st = DB_INVALID;
		goto out;
	}
	if (!builtin && (st = provider_in_org(db, org_id, in->provider_id,
	    errs)) != DB_OK)
		goto out;
	if (in->is_default && !was_default && (st = db_exec(db,
	    "UPDATE org_models SET is_default = false, updated_at = now()"
	    " WHERE org_id = $1 AND is_default",
	    DB_I64(org_id), DB_END)) != DB_OK)
		goto out;
	disp = in->display_name != NULL && in->display_name[0] != '\0' ?
	    in->display_name : builtin ? cur_name : in->name;
	if (builtin)
		st = db_exec(db,
		    "UPDATE org_models"
		    "   SET display_name = $3, is_default = $4,"
		    "       updated_at = now()"
		    " WHERE org_id = $1 AND id = $2",
		    DB_I64(org_id), DB_I64(id), DB_TEXT(disp),
		    DB_BOOL(in->is_default), DB_END);
	else
		st = db_exec(db,
		    "UPDATE org_models"
		    "   SET provider_id = $3, name = $4, display_name = $5,"
		    "       supports_vision = $6, supports_tools = $7,"
		    "       is_default = $8, updated_at = now()"
		    " WHERE org_id = $1 AND id = $2",
		    DB_I64(org_id), DB_I64(id), DB_I64(in->provider_id),
		    DB_TEXT(in->name), DB_TEXT(disp),
		    DB_BOOL(in->supports_vision), DB_BOOL(in->supports_tools),
		    DB_BOOL(in->is_default), DB_END);
	if (st == DB_CONFLICT)
		field_error_add(errs, "name", "This organisation already has "
		    "a model with this name.");
out:
	db_res_clear(&res);
	st = db_tx_leave(db, own, st);
	return st;
}

enum db_status
orgmodel_delete(struct db *db, int64_t org_id, int64_t id)
{
	struct db_res	 res = { 0 };
	bool		 own = false, was_default;
	enum db_status	 st;

	if ((st = db_tx_join(db, &own)) != DB_OK)
		goto out;
	st = db_query(db, &res,
	    "SELECT m.provider_id IS NULL, m.is_default,"
	    "       EXISTS (SELECT 1 FROM agents g"
	    "                WHERE g.org_id = m.org_id AND g.model_id = m.id)"
	    "  FROM org_models m"
	    " WHERE m.org_id = $1 AND m.id = $2"
	    "   FOR UPDATE OF m",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st != DB_OK)
		goto out;
	if (db_res_bool(&res, 0, 0) || db_res_bool(&res, 0, 2)) {
		st = DB_INVALID;
		goto out;
	}
	was_default = db_res_bool(&res, 0, 1);
	db_res_clear(&res);
	/* An agent added meanwhile makes the foreign key refuse (DB_INVALID). */
	st = db_exec(db,
	    "DELETE FROM org_models WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && was_default)
		st = db_exec(db,
		    "UPDATE org_models SET is_default = true, updated_at = now()"
		    " WHERE org_id = $1 AND provider_id IS NULL AND name = $2",
		    DB_I64(org_id), DB_TEXT(ORGMODEL_BUILTIN_FAQ), DB_END);
out:
	db_res_clear(&res);
	st = db_tx_leave(db, own, st);
	return st;
}

enum db_status
orgmodel_set_default(struct db *db, int64_t org_id, int64_t id)
{
	struct db_res	 res = { 0 };
	bool		 own = false;
	enum db_status	 st;

	if ((st = db_tx_join(db, &own)) != DB_OK)
		goto out;
	st = db_query(db, &res,
	    "SELECT is_default FROM org_models"
	    " WHERE org_id = $1 AND id = $2"
	    "   FOR UPDATE",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st != DB_OK || db_res_bool(&res, 0, 0))
		goto commit;
	st = db_exec(db,
	    "UPDATE org_models SET is_default = false, updated_at = now()"
	    " WHERE org_id = $1 AND is_default",
	    DB_I64(org_id), DB_END);
	if (st == DB_OK)
		st = db_exec(db,
		    "UPDATE org_models SET is_default = true, updated_at = now()"
		    " WHERE org_id = $1 AND id = $2",
		    DB_I64(org_id), DB_I64(id), DB_END);
commit:
out:
	db_res_clear(&res);
	st = db_tx_leave(db, own, st);
	return st;
}

enum db_status
orgmodel_ensure_builtin(struct db *db, int64_t org_id)
{
	enum db_status	 st;

	/* Runs inside the caller's transaction (org creation), or alone. */
	st = db_exec(db,
	    "INSERT INTO org_models (org_id, name, display_name,"
	    "       supports_tools, is_default)"
	    " SELECT $1, $2, 'Parley FAQ (offline)', true,"
	    "        NOT EXISTS (SELECT 1 FROM org_models"
	    "                     WHERE org_id = $1 AND is_default)"
	    " ON CONFLICT (org_id, name) DO NOTHING",
	    DB_I64(org_id), DB_TEXT(ORGMODEL_BUILTIN_FAQ), DB_END);
	if (st != DB_OK)
		return st;
	return db_exec(db,
	    "UPDATE org_models SET is_default = true, updated_at = now()"
	    " WHERE org_id = $1 AND name = $2 AND provider_id IS NULL"
	    "   AND NOT EXISTS (SELECT 1 FROM org_models"
	    "                    WHERE org_id = $1 AND is_default)",
	    DB_I64(org_id), DB_TEXT(ORGMODEL_BUILTIN_FAQ), DB_END);
}

const char *
orgmodel_describe(struct arena *a, const struct org_model_input *in)
{
	return arena_printf(a, "%s (%s%s%s), provider #%lld%s",
	    in->display_name != NULL ? in->display_name : "",
	    in->name != NULL ? in->name : "",
	    in->supports_vision ? ", vision" : "",
	    in->supports_tools ? ", tools" : "", (long long)in->provider_id,
	    in->is_default ? ", default" : "");
}
