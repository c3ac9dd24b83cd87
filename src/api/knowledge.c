/*
 * knowledge (API): /api/v1/agents/{id}/knowledge, an agent's knowledge
 * base. An entry is
 *   {id, agentId, title, body, source ("paste"|"upload"|"api"),
 *    filename (null unless uploaded), createdAt, updatedAt}.
 * POST {title, body} creates (201, source "api"); PATCH changes the
 * members sent (title, body); DELETE answers 204. An agent or entry that
 * is unknown or another organisation's is 404; a member of the wrong JSON
 * type is 400 with a sentence naming it; a value the model rejects is 422.
 */
#include "api/api.h"

#include "db/db.h"
#include "http/audit.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/fielderr.h"
#include "model/knowledge.h"
#include "util/arena.h"

static cJSON	*entry_json(const struct knowledge_entry *);
static bool	 ids_param(struct req *, int64_t *, int64_t *, int *);
static int	 get_text(struct req *, const char *, const char **);
static int	 send_entry(struct req *, int, int64_t, int64_t);

static cJSON *
entry_json(const struct knowledge_entry *e)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", (double)e->id);
	cJSON_AddNumberToObject(o, "agentId", (double)e->agent_id);
	cJSON_AddStringToObject(o, "title", e->title);
	cJSON_AddStringToObject(o, "body", e->body);
	cJSON_AddStringToObject(o, "source", e->source);
	if (e->filename != NULL)
		cJSON_AddStringToObject(o, "filename", e->filename);
	else
		cJSON_AddNullToObject(o, "filename");
	api_add_time(o, "createdAt", e->created_at);
	api_add_time(o, "updatedAt", e->updated_at);
	return o;
}

/*
 * The {id} (agent) and, when kid is not NULL, {kid} path parameters, and
 * the request's connection. False with the response sent in *status.
 */
static bool
ids_param(struct req *r, int64_t *agent_id, int64_t *kid, int *status)
{
	if (!req_param_id(r, "id", agent_id) ||
	    (kid != NULL && !req_param_id(r, "kid", kid))) {
		*status = resp_not_found(r);
		return false;
	}
	if (req_db(r) == NULL) {
		*status = resp_unavailable(r);
		return false;
	}
	return true;
}

/* Member `name` as a string (*out NULL when absent); 0 or the 400 sent. */
static int
get_text(struct req *r, const char *name, const char **out)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(r->json, name);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!cJSON_IsString(v))
		return resp_bad_request(r, arena_printf(r->arena,
		    "%s must be a string.", name));
	*out = v->valuestring;
	return 0;
}

static int
send_entry(struct req *r, int status, int64_t agent_id, int64_t id)
{
	struct knowledge_entry	 e;
	cJSON			*o;
	enum db_status		 st;
	int			 rc;

	st = knowledge_get(r->db, r->arena, r->org_id, agent_id, id, &e);
	if (st == DB_NOT_FOUND)
		return resp_not_found(r);
	if (st != DB_OK)
		return resp_unavailable(r);
	o = entry_json(&e);
	rc = resp_json(r, status, o);
	cJSON_Delete(o);
	return rc;
}

int
api_knowledge_list(struct req *r)
{
	struct knowledge_entry	*list;
	cJSON			*root, *data;
	int64_t			 agent_id;
	int			 n, rc;
	enum db_status		 st;

	if (!ids_param(r, &agent_id, NULL, &rc))
		return rc;
	st = knowledge_list(r->db, r->arena, r->org_id, agent_id, &list, &n);
	if (st == DB_NOT_FOUND)
		return resp_not_found(r);
	if (st != DB_OK)
		return resp_unavailable(r);
	root = cJSON_CreateObject();
	data = cJSON_AddArrayToObject(root, "data");
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(data, entry_json(&list[i]));
	rc = resp_json(r, 200, root);
	cJSON_Delete(root);
	return rc;
}

int
api_knowledge_create(struct req *r)
{
	struct field_errors	 errs = { 0 };
	const char		*title, *body;
	int64_t			 agent_id, id;
	int			 rc;
	enum db_status		 st;

	if (!ids_param(r, &agent_id, NULL, &rc))
		return rc;
	if ((rc = get_text(r, "title", &title)) != 0 ||
	    (rc = get_text(r, "body", &body)) != 0)
		return rc;
	st = knowledge_create(r->db, r->org_id, agent_id, title, body, "api",
	    NULL, &errs, &id);
	switch (st) {
	case DB_OK:
		audit(r, "knowledge.created", "knowledge", id, arena_printf(
		    r->arena, "%s (agent #%lld)", title != NULL ? title : "",
		    (long long)agent_id));
		return send_entry(r, 201, agent_id, id);
	case DB_NOT_FOUND:
		return resp_not_found(r);	/* also another org's agent */
	case DB_INVALID:
		if (errs.n == 0)
			field_error_add(&errs, "body", "The entry could not "
			    "be saved as sent.");
		return api_invalid(r, &errs);
	default:
		return resp_unavailable(r);
	}
}

int
api_knowledge_get(struct req *r)
{
	int64_t	 agent_id, id;
	int	 rc;

	if (!ids_param(r, &agent_id, &id, &rc))
		return rc;
	return send_entry(r, 200, agent_id, id);
}

int
api_knowledge_update(struct req *r)
{
	struct knowledge_entry	 e;
	struct field_errors	 errs = { 0 };
	const char		*title, *body;
	int64_t			 agent_id, id;
	int			 rc;
	enum db_status		 st;

	if (!ids_param(r, &agent_id, &id, &rc))
		return rc;
	if ((rc = get_text(r, "title", &title)) != 0 ||
	    (rc = get_text(r, "body", &body)) != 0)
		return rc;
	st = knowledge_get(r->db, r->arena, r->org_id, agent_id, id, &e);
	if (st == DB_NOT_FOUND)
		return resp_not_found(r);
	if (st != DB_OK)
		return resp_unavailable(r);
	st = knowledge_update(r->db, r->org_id, agent_id, id,
	    title != NULL ? title : e.title, body != NULL ? body : e.body,
	    &errs);
	switch (st) {
	case DB_OK:
		audit(r, "knowledge.updated", "knowledge", id, arena_printf(
		    r->arena, "%s (agent #%lld)", title != NULL ? title :
		    e.title, (long long)agent_id));
		return send_entry(r, 200, agent_id, id);
	case DB_NOT_FOUND:
		return resp_not_found(r);
	case DB_INVALID:
		if (errs.n == 0)
			field_error_add(&errs, "body", "The entry could not "
			    "be saved as sent.");
		return api_invalid(r, &errs);
	default:
		return resp_unavailable(r);
	}
}

int
api_knowledge_delete(struct req *r)
{
	int64_t		 agent_id, id;
	int		 rc;
	enum db_status	 st;

	if (!ids_param(r, &agent_id, &id, &rc))
		return rc;
	st = knowledge_delete(r->db, r->org_id, agent_id, id);
	switch (st) {
	case DB_OK:
		audit(r, "knowledge.deleted", "knowledge", id, arena_printf(
		    r->arena, "agent #%lld", (long long)agent_id));
		return resp_send(r, 204, NULL, "", 0);
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}
