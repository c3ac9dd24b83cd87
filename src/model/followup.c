/*
 * followup: agent_followups (see followup.h).
 *
 * Thread-safe: no shared state.
 */
#include "model/followup.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "model/template.h"
#include "util/arena.h"
#include "util/str.h"
#include "util/utf8.h"

static bool	 name_ok(const char *);
static bool	 language_ok(const char *);

static bool
name_ok(const char *s)
{
	size_t	 n = s != NULL ? strlen(s) : 0;

	return n > 0 && n <= FOLLOWUP_NAME_MAX && utf8_valid(s, n) &&
	    !str_has_ctl(s);
}

/* en, en_US, pt-BR: letters, digits, '_' and '-'. */
static bool
language_ok(const char *s)
{
	size_t	 n = strlen(s);

	return n <= FOLLOWUP_LANGUAGE_MAX && strspn(s,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
	    == n;
}

enum db_status
followup_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t agent_id, struct followup *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	int		 k = 0;

	memset(out, 0, sizeof(*out));
	out->template_name = TEMPLATE_FOLLOWUP_DEFAULT;
	out->language = "";
	out->continue_delivers = "latest";
	/* The agent's row first (channel NULL), then the overrides. */
	st = db_query(db, &res,
	    "SELECT f.channel_id IS NULL, COALESCE(f.channel_id, 0),"
	    "       COALESCE(ch.name, ''), f.template_name, f.language,"
	    "       f.continue_delivers, a.id IS NOT NULL"
	    "  FROM agents a"
	    "  LEFT JOIN agent_followups f"
	    "    ON f.org_id = $1 AND f.agent_id = a.id"
	    "  LEFT JOIN channels ch"
	    "    ON ch.org_id = $1 AND ch.id = f.channel_id"
	    " WHERE a.org_id = $1 AND a.id = $2"
	    " ORDER BY f.channel_id NULLS FIRST, ch.name",
	    DB_I64(org_id), DB_I64(agent_id), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows == 0) {
		st = DB_NOT_FOUND;
		goto out;
	}
	out->channels = arena_alloc(a, sizeof(*out->channels) *
	    (size_t)(res.n_rows + 1));
	for (int i = 0; i < res.n_rows; i++) {
		if (db_res_isnull(&res, i, 3))
			continue;	/* no rows: the defaults */
		if (db_res_bool(&res, i, 0)) {
			out->template_name = arena_strdup(a,
			    db_res_text(&res, i, 3));
			out->language = arena_strdup(a, db_res_text(&res, i,
			    4));
			out->continue_delivers = arena_strdup(a,
			    db_res_text(&res, i, 5));
			continue;
		}
		out->channels[k].channel_id = db_res_i64(&res, i, 1);
		out->channels[k].channel_name = arena_strdup(a,
		    db_res_text(&res, i, 2));
		out->channels[k].template_name = arena_strdup(a,
		    db_res_text(&res, i, 3));
		out->channels[k].language = arena_strdup(a,
		    db_res_text(&res, i, 4));
		k++;
	}
	out->n_channels = k;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
followup_set(struct db *db, int64_t org_id, int64_t agent_id,
    const struct followup *in, struct field_errors *errs)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	bool		 own = false;
	const char	*cont = in->continue_delivers != NULL ?
			    in->continue_delivers : "latest";

	if (!name_ok(in->template_name))
		field_error_add(errs, "template", "Enter the name of an "
		    "approved template, such as session_followup (at most 512 "
		    "characters).");
	if (in->language != NULL && !language_ok(in->language))
		field_error_add(errs, "language", "A language is a code such "
		    "as en or en_US, or empty for any.");
	if (!str_eq(cont, "latest") && !str_eq(cont, "all"))
		field_error_add(errs, "continue", "Choose latest or all.");
	if (in->n_channels < 0 || in->n_channels > FOLLOWUP_CHANNELS_MAX)
		field_error_add(errs, "channels", "Too many channel "
		    "overrides.");
	for (int i = 0; errs->n == 0 && i < in->n_channels; i++) {
		const struct followup_channel	*c = &in->channels[i];

		if (c->template_name == NULL || c->template_name[0] == '\0')
			continue;
		if (c->channel_id <= 0 || !name_ok(c->template_name) ||
		    (c->language != NULL && !language_ok(c->language)))
			field_error_add(errs, "channels", "Each channel "
			    "override needs a channel and a template name (and "
			    "a language code or none).");
	}
	if (errs->n > 0)
		return DB_INVALID;

	if ((st = db_tx_join(db, &own)) != DB_OK)
		return st;
	st = db_query(db, &res,
	    "SELECT 1 FROM agents WHERE org_id = $1 AND id = $2 FOR UPDATE",
	    DB_I64(org_id), DB_I64(agent_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	if (st == DB_OK)
		st = db_exec(db,
		    "DELETE FROM agent_followups"
		    " WHERE org_id = $1 AND agent_id = $2",
		    DB_I64(org_id), DB_I64(agent_id), DB_END);
	if (st == DB_OK)
		st = db_exec(db,
		    "INSERT INTO agent_followups (org_id, agent_id,"
		    "       channel_id, template_name, language,"
		    "       continue_delivers)"
		    " VALUES ($1, $2, NULL, $3, $4, $5)",
		    DB_I64(org_id), DB_I64(agent_id),
		    DB_TEXT(in->template_name), DB_TEXT(in->language != NULL ?
		    in->language : ""), DB_TEXT(cont), DB_END);
	for (int i = 0; st == DB_OK && i < in->n_channels; i++) {
		const struct followup_channel	*c = &in->channels[i];

		if (c->template_name == NULL || c->template_name[0] == '\0')
			continue;
		st = db_exec(db,
		    "INSERT INTO agent_followups (org_id, agent_id,"
		    "       channel_id, template_name, language)"
		    " VALUES ($1, $2, $3, $4, $5)"
		    " ON CONFLICT (agent_id, COALESCE(channel_id, 0))"
		    " DO UPDATE SET template_name = EXCLUDED.template_name,"
		    "     language = EXCLUDED.language",
		    DB_I64(org_id), DB_I64(agent_id), DB_I64(c->channel_id),
		    DB_TEXT(c->template_name), DB_TEXT(c->language != NULL ?
		    c->language : ""), DB_END);
		if (st == DB_INVALID)
			field_error_addf(errs, "channels", "Channel %" PRId64
			    " is not one of this organisation's.",
			    c->channel_id);
	}
	return db_tx_leave(db, own, st);
}

enum db_status
followup_for(struct db *db, struct arena *a, int64_t org_id,
    int64_t agent_id, int64_t channel_id, char **name, char **language,
    char **continue_delivers)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*name = TEMPLATE_FOLLOWUP_DEFAULT;
	*language = "";
	*continue_delivers = "latest";
	if (agent_id == 0)
		return DB_OK;
	st = db_query(db, &res,
	    "SELECT COALESCE(c.template_name, d.template_name, $4),"
	    "       COALESCE(c.language, d.language, ''),"
	    "       COALESCE(d.continue_delivers, 'latest')"
	    "  FROM (SELECT 1) one"
	    "  LEFT JOIN agent_followups d ON d.org_id = $1"
	    "       AND d.agent_id = $2 AND d.channel_id IS NULL"
	    "  LEFT JOIN agent_followups c ON c.org_id = $1"
	    "       AND c.agent_id = $2 AND c.channel_id = $3",
	    DB_I64(org_id), DB_I64(agent_id), DB_I64(channel_id),
	    DB_TEXT(TEMPLATE_FOLLOWUP_DEFAULT), DB_END);
	if (st == DB_OK && res.n_rows == 1) {
		*name = arena_strdup(a, db_res_text(&res, 0, 0));
		*language = arena_strdup(a, db_res_text(&res, 0, 1));
		*continue_delivers = arena_strdup(a, db_res_text(&res, 0, 2));
	}
	db_res_clear(&res);
	return st;
}
