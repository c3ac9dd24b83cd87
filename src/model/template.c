/*
 * template: channel_templates and channel_template_syncs (see
 * template.h).
 *
 * Thread-safe: no shared state.
 */
#include "model/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define ISO(col) "to_char(" col " AT TIME ZONE 'UTC'," \
		 " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define COLS	"t.id, t.channel_id, t.provider_id, t.name, t.language," \
		" t.status, t.category, t.parameter_format, t.content_type," \
		" t.header, t.body, t.footer, t.variables::text," \
		" t.buttons::text, " ISO("t.synced_at")
#define WABA_MAX	32

static void	 read_row(struct arena *, const struct db_res *, int,
		    struct template *);
static const char *value_for(const cJSON *, const char *, const char *);

static void
read_row(struct arena *a, const struct db_res *res, int i, struct template *t)
{
	t->id = db_res_i64(res, i, 0);
	t->channel_id = db_res_i64(res, i, 1);
	t->provider_id = arena_strdup(a, db_res_text(res, i, 2));
	t->name = arena_strdup(a, db_res_text(res, i, 3));
	t->language = arena_strdup(a, db_res_text(res, i, 4));
	t->status = arena_strdup(a, db_res_text(res, i, 5));
	t->category = arena_strdup(a, db_res_text(res, i, 6));
	t->format = arena_strdup(a, db_res_text(res, i, 7));
	t->content_type = arena_strdup(a, db_res_text(res, i, 8));
	t->header = arena_strdup(a, db_res_text(res, i, 9));
	t->body = arena_strdup(a, db_res_text(res, i, 10));
	t->footer = arena_strdup(a, db_res_text(res, i, 11));
	t->variables = arena_strdup(a, db_res_text(res, i, 12));
	t->buttons = arena_strdup(a, db_res_text(res, i, 13));
	t->synced_at = arena_strdup(a, db_res_text(res, i, 14));
}

enum db_status
template_list(struct db *db, struct arena *a, int64_t org_id,
    int64_t channel_id, bool approved_only, struct template **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT " COLS
	    "  FROM channel_templates t"
	    " WHERE t.org_id = $1 AND t.channel_id = $2"
	    "   AND (NOT $3::boolean OR t.status = 'APPROVED')"
	    " ORDER BY t.name, t.language"
	    " LIMIT $4",
	    DB_I64(org_id), DB_I64(channel_id), DB_BOOL(approved_only),
	    DB_I64(TEMPLATE_LIST_MAX), DB_END);
	if (st != DB_OK)
		goto out;
	*out = arena_alloc(a, sizeof(**out) * (size_t)(res.n_rows + 1));
	for (int i = 0; i < res.n_rows; i++)
		read_row(a, &res, i, &(*out)[i]);
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
template_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t channel_id, int64_t id, struct template *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    "SELECT " COLS
	    "  FROM channel_templates t"
	    " WHERE t.org_id = $1 AND t.id = $2"
	    "   AND ($3::bigint = 0 OR t.channel_id = $3)",
	    DB_I64(org_id), DB_I64(id), DB_I64(channel_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		read_row(a, &res, 0, out);
	db_res_clear(&res);
	return st;
}

enum db_status
template_find(struct db *db, struct arena *a, int64_t org_id,
    int64_t channel_id, const char *name, const char *language,
    struct template *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    "SELECT " COLS
	    "  FROM channel_templates t"
	    " WHERE t.org_id = $1 AND t.channel_id = $2"
	    "   AND t.status = 'APPROVED'"
	    "   AND lower(translate(t.name, ' ', '_'))"
	    "       = lower(translate($3, ' ', '_'))"
	    "   AND ($4 = '' OR t.language = $4)"
	    " ORDER BY t.language"
	    " LIMIT 1",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(name != NULL ? name :
	    ""), DB_TEXT(language != NULL ? language : ""), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		read_row(a, &res, 0, out);
	db_res_clear(&res);
	return st;
}

enum db_status
template_replace(struct db *db, int64_t org_id, int64_t channel_id,
    const cJSON *list, int next_s, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	char		*json;
	bool		 own = false;

	*n = 0;
	if ((json = cJSON_PrintUnformatted(list)) == NULL)
		abort();
	if ((st = db_tx_join(db, &own)) != DB_OK)
		goto out;
	st = db_exec(db,
	    "DELETE FROM channel_templates"
	    " WHERE org_id = $1 AND channel_id = $2",
	    DB_I64(org_id), DB_I64(channel_id), DB_END);
	if (st != DB_OK)
		goto leave;
	/* The provider's order; a repeated (name, language) keeps the first. */
	st = db_query(db, &res,
	    "WITH ins AS ("
	    "  INSERT INTO channel_templates (org_id, channel_id, provider_id,"
	    "         name, language, status, category, parameter_format,"
	    "         content_type, header, body, footer, variables, buttons)"
	    "  SELECT $1, ch.id, t.id, t.name, t.language, t.status,"
	    "         t.category, t.format, t.content_type, t.header, t.body,"
	    "         t.footer, COALESCE(t.variables, '[]'),"
	    "         COALESCE(t.buttons, '[]')"
	    "    FROM channels ch,"
	    "         jsonb_to_recordset($3::jsonb) AS t(id text, name text,"
	    "             language text, status text, category text,"
	    "             format text, content_type text, header text,"
	    "             body text, footer text, variables jsonb,"
	    "             buttons jsonb)"
	    "   WHERE ch.org_id = $1 AND ch.id = $2 AND t.name <> ''"
	    "  ON CONFLICT (channel_id, name, language) DO NOTHING"
	    "  RETURNING 1"
	    "), sync AS ("
	    "  INSERT INTO channel_template_syncs (channel_id, org_id,"
	    "         synced_at, next_sync_at, last_error, n_templates)"
	    "  SELECT ch.id, $1, now(), now() + make_interval(secs => $4),"
	    "         '', (SELECT count(*) FROM ins)"
	    "    FROM channels ch WHERE ch.org_id = $1 AND ch.id = $2"
	    "  ON CONFLICT (channel_id) DO UPDATE"
	    "     SET synced_at = now(), next_sync_at = EXCLUDED.next_sync_at,"
	    "         last_error = '', n_templates = EXCLUDED.n_templates"
	    "  RETURNING n_templates"
	    ")"
	    " SELECT n_templates FROM sync",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(json),
	    DB_I64(next_s), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		*n = (int)db_res_i64(&res, 0, 0);
leave:
	st = db_tx_leave(db, own, st);
out:
	db_res_clear(&res);
	free(json);
	return st;
}

enum db_status
template_sync_failed(struct db *db, int64_t org_id, int64_t channel_id,
    const char *error, int next_s)
{
	return db_exec(db,
	    "INSERT INTO channel_template_syncs (channel_id, org_id,"
	    "       next_sync_at, last_error)"
	    " SELECT ch.id, $1, now() + make_interval(secs => $4), $3"
	    "   FROM channels ch WHERE ch.org_id = $1 AND ch.id = $2"
	    " ON CONFLICT (channel_id) DO UPDATE"
	    "    SET last_error = EXCLUDED.last_error,"
	    "        next_sync_at = EXCLUDED.next_sync_at",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(error != NULL &&
	    error[0] != '\0' ? error : "The sync failed."), DB_I64(next_s),
	    DB_END);
}

enum db_status
template_sync_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t channel_id, struct template_sync *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	out->waba_id = "";
	out->last_error = "";
	out->next_sync_at = "";
	st = db_query(db, &res,
	    "SELECT s.waba_id, " ISO("s.synced_at") ","
	    "       " ISO("s.next_sync_at") ", s.last_error, s.n_templates"
	    "  FROM channel_template_syncs s"
	    " WHERE s.org_id = $1 AND s.channel_id = $2",
	    DB_I64(org_id), DB_I64(channel_id), DB_END);
	if (st == DB_OK && res.n_rows == 1) {
		out->waba_id = arena_strdup(a, db_res_text(&res, 0, 0));
		out->synced_at = db_res_isnull(&res, 0, 1) ? NULL :
		    arena_strdup(a, db_res_text(&res, 0, 1));
		out->next_sync_at = arena_strdup(a, db_res_text(&res, 0, 2));
		out->last_error = arena_strdup(a, db_res_text(&res, 0, 3));
		out->n_templates = (int)db_res_i64(&res, 0, 4);
	}
	db_res_clear(&res);
	return st;
}

enum db_status
template_set_waba(struct db *db, int64_t org_id, int64_t channel_id,
    const char *waba_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	if (waba_id == NULL)
		waba_id = "";
	if (strlen(waba_id) > WABA_MAX ||
	    strspn(waba_id, "0123456789") != strlen(waba_id))
		return DB_INVALID;
	/* A new account: its templates are due now. */
	st = db_query(db, &res,
	    "INSERT INTO channel_template_syncs (channel_id, org_id, waba_id)"
	    " SELECT ch.id, $1, $3"
	    "   FROM channels ch WHERE ch.org_id = $1 AND ch.id = $2"
	    " ON CONFLICT (channel_id) DO UPDATE"
	    "    SET waba_id = EXCLUDED.waba_id,"
	    "        next_sync_at = CASE WHEN channel_template_syncs.waba_id"
	    "            <> EXCLUDED.waba_id THEN now()"
	    "            ELSE channel_template_syncs.next_sync_at END"
	    " RETURNING channel_id",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(waba_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

enum db_status
template_sync_claim_any_org(struct db *db, const char *kinds, int interval_s,
    int max, int64_t *org_ids, int64_t *channel_ids, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*n = 0;
	/*
	 * The upsert's WHERE re-reads a row another process claimed
	 * meanwhile (it waits for its lock) and then skips it.
	 */
	st = db_query(db, &res,
	    "WITH due AS ("
	    "  SELECT ch.id, ch.org_id FROM channels ch"
	    "    LEFT JOIN channel_template_syncs s ON s.channel_id = ch.id"
	    "   WHERE ch.kind = ANY($1::text[]) AND ch.status <> 'disabled'"
	    "     AND (s.channel_id IS NULL OR s.next_sync_at <= now())"
	    "     AND (ch.kind = 'twilio' OR COALESCE(s.waba_id, '') <> '')"
	    "   ORDER BY s.next_sync_at NULLS FIRST, ch.id"
	    "   LIMIT $3"
	    ")"
	    " INSERT INTO channel_template_syncs AS s (channel_id, org_id,"
	    "        next_sync_at)"
	    " SELECT id, org_id, now() + make_interval(secs => $2) FROM due"
	    " ON CONFLICT (channel_id) DO UPDATE"
	    "    SET next_sync_at = EXCLUDED.next_sync_at"
	    "  WHERE s.next_sync_at <= now()"
	    " RETURNING s.org_id, s.channel_id",
	    DB_TEXT(kinds), DB_I64(interval_s), DB_I64(max), DB_END);
	if (st != DB_OK)
		goto out;
	for (int i = 0; i < res.n_rows && i < max; i++) {
		org_ids[i] = db_res_i64(&res, i, 0);
		channel_ids[i] = db_res_i64(&res, i, 1);
		(*n)++;
	}
out:
	db_res_clear(&res);
	return st;
}

/* --- rendering ----------------------------------------------------------- */

/* The value of name in part, or NULL. */
static const char *
value_for(const cJSON *params, const char *name, const char *part)
{
	const cJSON	*v;

	cJSON_ArrayForEach(v, params) {
		if (str_eq(json_str_or(v, "name", ""), name) &&
		    str_eq(json_str_or(v, "part", "body"), part))
			return json_str_or(v, "value", NULL);
	}
	return NULL;
}

char *
template_render(struct arena *a, const char *text, const char *part,
    const cJSON *params)
{
	struct buf	 b;
	const char	*p = text != NULL ? text : "", *open, *close, *v;
	char		*out;

	buf_init(&b, 0);
	while ((open = strstr(p, "{{")) != NULL &&
	    (close = strstr(open + 2, "}}")) != NULL) {
		size_t	 len = (size_t)(close - open - 2);
		char	*name = xstrndup(open + 2, len);

		buf_append(&b, p, (size_t)(open - p));
		if (len > 0 && len <= 64 &&
		    (v = value_for(params, name, part)) != NULL)
			buf_puts(&b, v);
		else
			buf_append(&b, open, len + 4);
		free(name);
		p = close + 2;
	}
	buf_puts(&b, p);
	out = arena_strdup(a, buf_str(&b));
	buf_cleanup(&b);
	return out;
}

cJSON *
template_params(const struct template *t, const cJSON *values,
    bool use_examples, char *missing, size_t missing_len)
{
	cJSON		*vars = json_parse_str(t->variables, NULL);
	cJSON		*out = cJSON_CreateArray(), *p;
	const cJSON	*v;

	if (missing != NULL && missing_len > 0)
		missing[0] = '\0';
	cJSON_ArrayForEach(v, vars) {
		const char	*name = json_str_or(v, "name", "");
		const char	*part = json_str_or(v, "part", "body");
		const char	*val = NULL;
		char		 key[80];

		if (name[0] == '\0')
			continue;
		if (str_eq(part, "header")) {
			snprintf(key, sizeof(key), "header.%s", name);
			val = json_str_or(values, key, NULL);
		}
		if (val == NULL)
			val = json_str_or(values, name, NULL);
		if ((val == NULL || val[0] == '\0') && use_examples)
			val = json_str_or(v, "example", NULL);
		if (val == NULL || val[0] == '\0') {
			if (missing != NULL && missing_len > 0 &&
			    missing[0] == '\0')
				snprintf(missing, missing_len, "%s", name);
			val = "";
		}
		p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "name", name);
		cJSON_AddStringToObject(p, "value", val);
		cJSON_AddStringToObject(p, "part", part);
		cJSON_AddItemToArray(out, p);
	}
	cJSON_Delete(vars);
	return out;
}

char *
template_preview(struct arena *a, const struct template *t,
    const cJSON *params)
{
	const char	*header = "";

	/* A media header (IMAGE, DOCUMENT…) is shown by its kind. */
	if (t->header[0] != '\0')
		header = strchr(t->header, ' ') == NULL && (str_eq(t->header,
		    "IMAGE") || str_eq(t->header, "VIDEO") ||
		    str_eq(t->header, "DOCUMENT") ||
		    str_eq(t->header, "LOCATION")) ?
		    arena_printf(a, "[%s]", t->header) :
		    template_render(a, t->header, "header", params);
	return arena_printf(a, "%s%s%s%s%s", header, header[0] != '\0' ?
	    "\n\n" : "", template_render(a, t->body, "body", params),
	    t->footer[0] != '\0' ? "\n\n" : "", t->footer);
}
