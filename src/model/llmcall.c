/*
 * llmcall: the llm_calls table (see llmcall.h). One row per gateway call,
 * written after the call by llm/gateway.c with a freshly acquired
 * connection; read by conversation review. tool_calls is stored as jsonb.
 *
 * Thread-safety: stateless; each call uses the caller's connection.
 */
#include "model/llmcall.h"

#include <stdio.h>
#include <stdlib.h>

#include "util/arena.h"
#include "util/str.h"

#define RECENT_MAX	500

enum db_status
llmcall_reserve(struct db *db, int64_t *id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*id = 0;
	st = db_query(db, &res,
	    "SELECT nextval(pg_get_serial_sequence('llm_calls', 'id'))",
	    DB_END);
	if (st == DB_OK)
		*id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
llmcall_insert(struct db *db, const struct llm_call_record *r, int64_t *id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	char		*tools, *input;

	tools = r->tool_calls != NULL ? cJSON_PrintUnformatted(r->tool_calls) :
	    NULL;
	input = r->input != NULL ? cJSON_PrintUnformatted(r->input) : NULL;
	st = db_query(db, &res,
	    "INSERT INTO llm_calls (id, org_id, agent_id, model_id, model_name,"
	    "       source, tokens_in, tokens_out, latency_ms, rounds,"
	    "       tool_calls, error, input)"
	    " VALUES (COALESCE(NULLIF($12::bigint, 0),"
	    "               nextval(pg_get_serial_sequence('llm_calls', 'id'))),"
	    "       $1, $2, $3, $4, $5, $6, $7, $8, $9,"
	    "       coalesce($10::jsonb, '[]'), $11, $13::jsonb)"
	    " RETURNING id",
	    DB_I64(r->org_id),
	    r->agent_id != 0 ? DB_I64(r->agent_id) : DB_NULL,
	    r->model_id != 0 ? DB_I64(r->model_id) : DB_NULL,
	    DB_TEXT(r->model_name != NULL ? r->model_name : ""),
	    DB_TEXT(r->source != NULL ? r->source : "api"),
	    DB_I64(r->tokens_in), DB_I64(r->tokens_out),
	    DB_I64(r->latency_ms), DB_I64(r->rounds), DB_TEXT(tools),
	    DB_TEXT(r->error), DB_I64(r->id), DB_TEXT(input), DB_END);
	if (st == DB_OK && id != NULL)
		*id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	free(tools);
	free(input);
	return st;
}

enum db_status
llmcall_list_recent(struct db *db, struct arena *a, int64_t org_id,
    int64_t agent_id, int limit, struct llm_call **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	if (limit < 1)
		limit = 1;
	if (limit > RECENT_MAX)
		limit = RECENT_MAX;
	st = db_query(db, &res,
	    "SELECT id, coalesce(agent_id, 0), model_name, source, tokens_in,"
	    "       tokens_out, latency_ms, rounds, tool_calls::text, error,"
	    "       to_char(created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	    "  FROM llm_calls"
	    " WHERE org_id = $1 AND ($2::bigint = 0 OR agent_id = $2)"
	    " ORDER BY created_at DESC, id DESC"
	    " LIMIT $3",
	    DB_I64(org_id), DB_I64(agent_id), DB_I64(limit), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows > 0)
		*out = arena_alloc(a, sizeof(**out) * (size_t)res.n_rows);
	for (int i = 0; i < res.n_rows; i++) {
		struct llm_call	*c = &(*out)[i];

		c->id = db_res_i64(&res, i, 0);
		c->agent_id = db_res_i64(&res, i, 1);
		c->model_name = arena_strdup(a, db_res_text(&res, i, 2));
		c->source = arena_strdup(a, db_res_text(&res, i, 3));
		c->tokens_in = (int)db_res_i64(&res, i, 4);
		c->tokens_out = (int)db_res_i64(&res, i, 5);
		c->latency_ms = (int)db_res_i64(&res, i, 6);
		c->rounds = (int)db_res_i64(&res, i, 7);
		c->tool_calls = arena_strdup(a, db_res_text(&res, i, 8));
		c->error = db_res_isnull(&res, i, 9) ? NULL :
		    arena_strdup(a, db_res_text(&res, i, 9));
		c->created_at = arena_strdup(a, db_res_text(&res, i, 10));
		c->input = NULL;
	}
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
llmcall_get_many(struct db *db, struct arena *a, int64_t org_id,
    const int64_t *ids, int n_ids, struct llm_call **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	char		*arr, *p;

	*out = NULL;
	*n = 0;
	if (n_ids > LLMCALL_MANY_MAX)
		n_ids = LLMCALL_MANY_MAX;
	if (n_ids <= 0)
		return DB_OK;
	/* An int8[] literal: "{1,2,3}" (21 bytes per id at most). */
	arr = p = arena_alloc(a, (size_t)n_ids * 21 + 3);
	*p++ = '{';
	for (int i = 0; i < n_ids; i++)
		p += snprintf(p, 22, "%s%lld", i > 0 ? "," : "",
		    (long long)ids[i]);
	*p++ = '}';
	*p = '\0';
	st = db_query(db, &res,
	    "SELECT id, coalesce(agent_id, 0), model_name, source, tokens_in,"
	    "       tokens_out, latency_ms, rounds, tool_calls::text, error,"
	    "       to_char(created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    "       input::text"
	    "  FROM llm_calls"
	    " WHERE org_id = $1 AND id = ANY ($2::bigint[])"
	    " ORDER BY id",
	    DB_I64(org_id), DB_TEXT(arr), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows > 0)
		*out = arena_alloc(a, sizeof(**out) * (size_t)res.n_rows);
	for (int i = 0; i < res.n_rows; i++) {
		struct llm_call	*c = &(*out)[i];

		c->id = db_res_i64(&res, i, 0);
		c->agent_id = db_res_i64(&res, i, 1);
		c->model_name = arena_strdup(a, db_res_text(&res, i, 2));
		c->source = arena_strdup(a, db_res_text(&res, i, 3));
		c->tokens_in = (int)db_res_i64(&res, i, 4);
		c->tokens_out = (int)db_res_i64(&res, i, 5);
		c->latency_ms = (int)db_res_i64(&res, i, 6);
		c->rounds = (int)db_res_i64(&res, i, 7);
		c->tool_calls = arena_strdup(a, db_res_text(&res, i, 8));
		c->error = db_res_isnull(&res, i, 9) ? NULL :
		    arena_strdup(a, db_res_text(&res, i, 9));
		c->created_at = arena_strdup(a, db_res_text(&res, i, 10));
		c->input = db_res_isnull(&res, i, 11) ? NULL :
		    arena_strdup(a, db_res_text(&res, i, 11));
	}
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}
