/*
 * api: the REST API's shared pieces — bearer-token authentication (the
 * router's R_BEARER hook), X-Org-Id checking, JSON reading helpers, the
 * 422 envelope for field errors — and the handlers of each area.
 *
 * Responses use camelCase field names; errors are
 * {"error":{"code":"…","message":"…"}} (+ "fields" for 422).
 */
#ifndef PARLEY_API_API_H
#define PARLEY_API_API_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct req;
struct field_errors;

/* router hook for R_BEARER: 0 when r->org_id/r->role are set. */
int		 api_bearer(struct req *r);
/* 422 {"error":{"code":"invalid","message":…,"fields":{field: msg}}}. */
int		 api_invalid(struct req *r, const struct field_errors *errs);
/* A string member of r->json, or NULL (absent or not a string). */
const char	*api_str(const struct req *r, const char *name);
/* True when member name is present in r->json (any type, null too). */
bool		 api_has(const struct req *r, const char *name);
/* The JSON types a member of a request body may be required to have. */
enum api_type {
	API_STR,	/* a string */
	API_STR_NULL,	/* a string or null */
	API_BOOL,	/* true or false */
	API_ID_NULL,	/* a positive integer or null */
	API_STRS,	/* an array of at most API_STRS_MAX strings */
};
#define API_STRS_MAX	64

struct api_field {
	const char	*name;
	enum api_type	 type;
};

/*
 * The one type check of a JSON body: 400 naming the first member of
 * r->json whose type is not its spec's ("name must be a string."), else
 * 0. Absent members pass; spec ends with { NULL, 0 }.
 */
int		 api_check_types(struct req *r, const struct api_field *spec);
/* RFC 3339 timestamps from PostgreSQL text ("2026-…+00") for JSON. */
void		 api_add_time(cJSON *obj, const char *name, const char *pgtime);

/* providers and models (api/providers.c) */
int	 api_providers_list(struct req *r);
int	 api_providers_create(struct req *r);
int	 api_providers_get(struct req *r);
int	 api_providers_update(struct req *r);
int	 api_providers_delete(struct req *r);
int	 api_models_list(struct req *r);
int	 api_models_create(struct req *r);
int	 api_models_get(struct req *r);
int	 api_models_update(struct req *r);
int	 api_models_delete(struct req *r);

/* agents, plugins (api/agents.c) */
int	 api_agents_list(struct req *r);
int	 api_agents_create(struct req *r);
int	 api_agents_get(struct req *r);
int	 api_agents_update(struct req *r);
int	 api_agents_delete(struct req *r);
int	 api_agents_plugins_get(struct req *r);
int	 api_agents_plugins_put(struct req *r);
int	 api_plugins_list(struct req *r);

/* MCP servers (api/mcp.c) */
int	 api_mcp_list(struct req *r);		/* GET /api/v1/mcp-servers */
int	 api_mcp_create(struct req *r);	/* POST */
int	 api_mcp_get(struct req *r);		/* GET …/{id} */
int	 api_mcp_update(struct req *r);	/* PATCH …/{id} */
int	 api_mcp_delete(struct req *r);	/* DELETE …/{id} */
int	 api_mcp_test(struct req *r);		/* POST …/{id}/test */

/* knowledge (api/knowledge.c) */
int	 api_knowledge_list(struct req *r);
int	 api_knowledge_create(struct req *r);
int	 api_knowledge_get(struct req *r);
int	 api_knowledge_update(struct req *r);
int	 api_knowledge_delete(struct req *r);

/* channels and the WhatsApp app (api/channels.c) */
int	 api_channels_list(struct req *r);
int	 api_channels_create(struct req *r);
int	 api_channels_get(struct req *r);
int	 api_channels_update(struct req *r);
int	 api_channels_delete(struct req *r);
int	 api_channels_key_add(struct req *r);	/* POST …/twilio-shared-keys */
int	 api_channels_key_remove(struct req *r);	/* DELETE …/twilio-shared-keys/{key} */
int	 api_whatsapp_app_create(struct req *r);	/* POST /api/v1/whatsapp-app */
int	 api_whatsapp_app_get(struct req *r);		/* GET */
int	 api_whatsapp_app_update(struct req *r);	/* PATCH */

/* connect codes (api/connect.c) */
int	 api_connect_codes_create(struct req *r);	/* POST …/connect-codes */
int	 api_agent_chats_list(struct req *r);		/* GET …/chats */

/* conversations (api/conversations.c) */
/* GET and PATCH /api/v1/organization: the token's organisation and its
 * settings (api/organization.c; owners only). */
int	 api_organization_get(struct req *r);
int	 api_organization_update(struct req *r);
int	 api_conversations_list(struct req *r);
int	 api_conversation_get(struct req *r);

/* OpenAI-compatible gateway (api/openai.c) */
int	 api_chat_completions(struct req *r);	/* POST /v1/chat/completions */
int	 api_models_openai(struct req *r);	/* GET /v1/models */

#endif
