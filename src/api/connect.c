/*
 * connect (API): connect codes and the chats linked to an agent.
 *
 *   POST /api/v1/agents/{id}/connect-codes {"channelId": N}
 *     201 {code, channelId, phoneNumber (null: the sandbox), deepLink
 *          (null without a number), expiresAt}
 *   GET  /api/v1/agents/{id}/chats
 *     200 {"data": [{chatId, kind, externalId, displayName, channelId,
 *          linkedAt (null: linked without a code's time), code (null)}]}
 *
 * A missing channelId is 422 with "fields"; one of the wrong type 400.
 * Another organisation's agent or channel is 404, as an unknown one is.
 * The QR code is the panel's: an API client renders deepLink itself.
 */
#include "api/api.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "util/log.h"
#include "chat/connect.h"
#include "db/db.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/agent.h"
#include "http/audit.h"
#include "model/fielderr.h"
#include "util/arena.h"

static bool	 load_agent(struct req *, int64_t *, int *);
static void	 add_str_or_null(cJSON *, const char *, const char *);

/* The agent {id} of the token's org exists; on false *status is sent. */
static bool
load_agent(struct req *r, int64_t *id, int *status)
{
	struct agent	 g;
	enum db_status	 st;

	if (!req_param_id(r, "id", id)) {
		*status = resp_not_found(r);
		return false;
	}
	if (req_db(r) == NULL) {
		*status = resp_unavailable(r);
		return false;
	}
	st = agent_get(r->db, r->arena, r->org_id, *id, &g);
	if (st == DB_OK)
		return true;
	*status = st == DB_NOT_FOUND ? resp_not_found(r) :
	    resp_unavailable(r);
	return false;
}

static void
add_str_or_null(cJSON *o, const char *name, const char *v)
{
	if (v == NULL || v[0] == '\0')
		cJSON_AddNullToObject(o, name);
	else
		cJSON_AddStringToObject(o, name, v);
}

int
api_connect_codes_create(struct req *r)
{
	struct field_errors	 errs = { 0 };
	struct connect_code	 code;
	const cJSON		*v;
	cJSON			*out;
	int64_t			 id, channel_id;
	int			 status;
	enum db_status		 st;

	if (!load_agent(r, &id, &status))
		return status;
	v = cJSON_GetObjectItemCaseSensitive(r->json, "channelId");
	if (v == NULL || cJSON_IsNull(v)) {
		field_error_add(&errs, "channelId", "Choose the channel "
		    "people will write to.");
		return api_invalid(r, &errs);
	}
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
	    v->valuedouble < 1 || v->valuedouble > 9007199254740991.0)
		return resp_bad_request(r, "channelId must be a channel id "
		    "(a positive whole number).");
	channel_id = (int64_t)v->valuedouble;
	st = connect_code_create(r->db, r->arena, r->org_id, id, channel_id,
	    0, &code);
	if (st == DB_NOT_FOUND)
		return resp_not_found(r);
	if (st != DB_OK)
		return resp_unavailable(r);
	log_info("api", "msg=\"connect code created\" agent=%" PRId64
	    " channel=%" PRId64, id, channel_id);
	audit(r, "connect.code_created", "agent", id, arena_printf(r->arena,
	    "channel %" PRId64, channel_id));
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "code", code.code);
	cJSON_AddNumberToObject(out, "channelId", (double)code.channel_id);
	add_str_or_null(out, "phoneNumber", code.channel_number);
	add_str_or_null(out, "deepLink", code.deep_link);
	api_add_time(out, "expiresAt", code.expires_at);
	status = resp_json(r, 201, out);
	cJSON_Delete(out);
	return status;
}

int
api_agent_chats_list(struct req *r)
{
	struct linked_chat	*chats;
	cJSON			*out, *arr, *o;
	int64_t			 id;
	int			 status, n;

	if (!load_agent(r, &id, &status))
		return status;
	if (connect_linked_chats(r->db, r->arena, r->org_id, id, &chats,
	    &n) != DB_OK)
		return resp_unavailable(r);
	out = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(out, "data");
	for (int i = 0; i < n; i++) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "chatId", (double)chats[i].chat_id);
		cJSON_AddStringToObject(o, "kind", chats[i].kind);
		cJSON_AddStringToObject(o, "externalId", chats[i].external_id);
		cJSON_AddStringToObject(o, "displayName",
		    chats[i].display_name);
		cJSON_AddNumberToObject(o, "channelId",
		    (double)chats[i].channel_id);
		api_add_time(o, "linkedAt", chats[i].linked_at);
		add_str_or_null(o, "code", chats[i].code);
		cJSON_AddItemToArray(arr, o);
	}
	status = resp_json(r, 200, out);
	cJSON_Delete(out);
	return status;
}
