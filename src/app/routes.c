/*
 * routes: every path Parley answers, its handler and its preconditions, in
 * one table (STYLE.md §5). The router enforces the flags; handlers never
 * re-check them. Body limits are per route; 0 means 64 KiB.
 *
 * Panel writes need R_CSRF; management needs R_ADMIN (owner or admin);
 * the API authenticates with R_BEARER and the token's role.
 *
 * Roles (issue 6), enforced here and nowhere else:
 *   owner   everything, and alone: users, API tokens, the organisation,
 *           the audit log (R_OWNER);
 *   admin   agents, knowledge, plugins, channels, providers, models, jobs,
 *           the /v1 gateway (R_ADMIN: owner or admin);
 *   member  the dashboard, conversations (read, claim, reply, return,
 *           close), their own password; through the API only
 *           GET /api/v1/conversations… (API_R).
 * Every other /api/v1 route is API_A (reads) or API_W/API_D (writes), so
 * a member token gets 403 there. The /v1 gateway spends the organisation's
 * provider credit and lists its models, so it is admin-and-owner too.
 */
#include "app/app.h"

#include "api/api.h"
#include "http/router.h"
#include "http/static.h"
#include "panel/panel.h"
#include "webhooks/webhooks.h"

#define KiB	* 1024
#define MiB	* 1024 * 1024

#define PAGE	R_SESSION
#define ADMIN	(R_SESSION | R_ADMIN)
#define WRITE	(R_SESSION | R_ADMIN | R_FORM | R_CSRF)
#define API_R	(R_BEARER)
#define API_A	(R_BEARER | R_ADMIN)
#define API_W	(R_BEARER | R_ADMIN | R_JSON)
#define API_D	(R_BEARER | R_ADMIN)

static const struct route routes[] = {
	/* Operations */
	{ "GET",  "/healthz",                 health_live,     0, 0 },
	{ "GET",  "/readyz",                  health_ready,    0, 0 },
	{ "GET",  "/metrics",                 health_metrics,  0, 0 },
	{ "GET",  "/static/{*path}",          static_serve,    0, 0 },

	/* Provider webhooks: signature checked by each handler (it must
	 * find the channel, and so the secret, first). Meta allows 3 MB. */
	{ "POST", "/webhooks/whatsapp/twilio",        webhook_twilio_inbound, R_RAW, 64 KiB },
	{ "POST", "/webhooks/whatsapp/twilio/status", webhook_twilio_status, R_RAW, 64 KiB },
	{ "GET",  "/webhooks/whatsapp/meta",          webhook_meta_verify, 0, 0 },
	{ "POST", "/webhooks/whatsapp/meta",          webhook_meta_event, R_RAW, 3 MiB },
	{ "POST", "/webhooks/whatsapp/kapso",         webhook_kapso_event, R_RAW, 3 MiB },
	{ "POST", "/webhooks/kapso/project",          webhook_kapso_project, R_RAW, 256 KiB },

	/* Panel: sign-in */
	{ "GET",  "/login",                   panel_auth_login_form, R_SESSION_OPT, 0 },
	{ "POST", "/login",                   panel_auth_login, R_FORM | R_PRE_CSRF, 16 KiB },
	{ "POST", "/logout",                  panel_auth_logout, R_SESSION | R_FORM | R_CSRF, 16 KiB },

	/* Panel: dashboard and settings */
	{ "GET",  "/",                        panel_dashboard, PAGE, 0 },
	{ "GET",  "/settings",                panel_settings_index, PAGE, 0 },
	{ "GET",  "/settings/password",       panel_settings_password_form, PAGE, 0 },
	{ "POST", "/settings/password",       panel_settings_password,
	    R_SESSION | R_FORM | R_CSRF, 16 KiB },
	{ "GET",  "/settings/providers",      panel_providers_list, ADMIN, 0 },
	{ "GET",  "/settings/providers/new",  panel_providers_new, ADMIN, 0 },
	{ "POST", "/settings/providers",      panel_providers_create, WRITE, 32 KiB },
	{ "GET",  "/settings/providers/{id}", panel_providers_edit, ADMIN, 0 },
	{ "POST", "/settings/providers/{id}", panel_providers_update, WRITE, 32 KiB },
	{ "POST", "/settings/providers/{id}/delete", panel_providers_delete, WRITE, 16 KiB },
	{ "POST", "/settings/providers/{id}/test", panel_providers_test, WRITE, 16 KiB },
	{ "GET",  "/settings/models",         panel_models_list, ADMIN, 0 },
	{ "GET",  "/settings/models/new",     panel_models_new, ADMIN, 0 },
	{ "POST", "/settings/models",         panel_models_create, WRITE, 16 KiB },
	{ "GET",  "/settings/models/{id}",    panel_models_edit, ADMIN, 0 },
	{ "POST", "/settings/models/{id}",    panel_models_update, WRITE, 16 KiB },
	{ "POST", "/settings/models/{id}/delete", panel_models_delete, WRITE, 16 KiB },
	{ "POST", "/settings/models/{id}/default", panel_models_default, WRITE, 16 KiB },
	{ "GET",  "/settings/tokens",         panel_tokens_list, R_SESSION | R_OWNER, 0 },
	{ "POST", "/settings/tokens",         panel_tokens_create,
	    R_SESSION | R_OWNER | R_FORM | R_CSRF, 16 KiB },
	{ "POST", "/settings/tokens/{id}/revoke", panel_tokens_revoke,
	    R_SESSION | R_OWNER | R_FORM | R_CSRF, 16 KiB },

	/* Panel: agents, knowledge, plugins */
	{ "GET",  "/agents",                  panel_agents_list, ADMIN, 0 },
	{ "GET",  "/agents/new",              panel_agents_new, ADMIN, 0 },
	{ "POST", "/agents",                  panel_agents_create, WRITE, 128 KiB },
	{ "GET",  "/agents/{id}",             panel_agents_edit, ADMIN, 0 },
	{ "POST", "/agents/{id}",             panel_agents_update, WRITE, 128 KiB },
	{ "GET",  "/agents/{id}/delete",      panel_agents_delete_confirm, ADMIN, 0 },
	{ "POST", "/agents/{id}/delete",      panel_agents_delete, WRITE, 16 KiB },
	{ "POST", "/agents/{id}/plugins",     panel_agents_plugins, WRITE, 16 KiB },
	{ "POST", "/agents/{id}/try",         panel_agents_try, WRITE, 32 KiB },
	{ "POST", "/agents/{id}/knowledge",   panel_knowledge_create, WRITE, 1 MiB },
	{ "GET",  "/agents/{id}/knowledge/{kid}", panel_knowledge_edit, ADMIN, 0 },
	{ "POST", "/agents/{id}/knowledge/{kid}", panel_knowledge_update, WRITE, 1 MiB },
	{ "POST", "/agents/{id}/knowledge/{kid}/delete", panel_knowledge_delete, WRITE, 16 KiB },
	{ "GET",  "/plugins",                 panel_plugins_list, ADMIN, 0 },
	{ "GET",  "/plugins/mcp/new",         panel_mcp_new, ADMIN, 0 },
	{ "POST", "/plugins/mcp",             panel_mcp_create, WRITE, 64 KiB },
	{ "GET",  "/plugins/mcp/oauth/callback", panel_mcp_callback, ADMIN, 0 },
	{ "GET",  "/plugins/mcp/{id}",        panel_mcp_edit, ADMIN, 0 },
	{ "POST", "/plugins/mcp/{id}",        panel_mcp_update, WRITE, 64 KiB },
	{ "POST", "/plugins/mcp/{id}/delete", panel_mcp_delete, WRITE, 16 KiB },
	{ "POST", "/plugins/mcp/{id}/test",   panel_mcp_test, WRITE, 16 KiB },
	{ "POST", "/plugins/mcp/{id}/authorize", panel_mcp_authorize, WRITE, 16 KiB },
	{ "POST", "/plugins/mcp/{id}/disconnect", panel_mcp_disconnect, WRITE, 16 KiB },
	{ "POST", "/agents/{id}/mcp/{sid}",   panel_agents_mcp, WRITE, 64 KiB },
	{ "GET",  "/agents/{id}/sandbox",     panel_sandbox_page, ADMIN, 0 },
	{ "POST", "/agents/{id}/sandbox",     panel_sandbox_send, WRITE, 32 KiB },
	{ "GET",  "/agents/{id}/sandbox/messages", panel_sandbox_messages, ADMIN, 0 },
	{ "POST", "/agents/{id}/sandbox/return", panel_sandbox_return, WRITE, 16 KiB },
	{ "POST", "/agents/{id}/sandbox/reset", panel_sandbox_reset, WRITE, 16 KiB },

	{ "GET",  "/agents/{id}/integrations", panel_integrations_page, ADMIN, 0 },
	{ "GET",  "/agents/{id}/schedules",   panel_schedules_page, ADMIN, 0 },
	{ "POST", "/agents/{id}/schedules",   panel_schedules_create, WRITE, 32 KiB },
	{ "POST", "/agents/{id}/heartbeat",   panel_schedules_heartbeat, WRITE, 32 KiB },
	{ "POST", "/agents/{id}/schedules/{sid}/run", panel_schedules_run, WRITE, 16 KiB },
	{ "POST", "/agents/{id}/schedules/{sid}/delete", panel_schedules_delete, WRITE, 16 KiB },
	{ "POST", "/agents/{id}/followup",    panel_followup_save, WRITE, 32 KiB },
	{ "POST", "/agents/{id}/connect-codes", panel_connect_generate, WRITE, 16 KiB },
	{ "POST", "/agents/{id}/chats/{chat}/unlink", panel_connect_unlink, WRITE, 16 KiB },
	{ "GET",  "/settings/organization",   panel_org_settings_form, R_SESSION | R_OWNER, 0 },
	{ "POST", "/settings/organization",   panel_org_settings_save,
	    R_SESSION | R_OWNER | R_FORM | R_CSRF, 16 KiB },

	/* Panel: conversations (members may read, claim, reply, return,
	 * close: R_SESSION without R_ADMIN) */
	{ "GET",  "/conversations",           panel_conversations_list, PAGE, 0 },
	{ "GET",  "/conversations/{id}",      panel_conversation_view, PAGE, 0 },
	{ "POST", "/conversations/{id}/messages/{mid}/resend", panel_conversation_resend,
	    R_SESSION | R_FORM | R_CSRF, 16 KiB },
	{ "GET",  "/conversations/{id}/media/{mid}/{n}", panel_conversation_media, PAGE, 0 },
	{ "GET",  "/conversations/{id}/media/{mid}/{n}/thumb", panel_conversation_media_thumb, PAGE, 0 },
	/* A signed, expiring link to an item: the signature is the check. */
	{ "GET",  "/m/{org}/{mid}/{n}/{part}", panel_media_signed, 0, 0 },
	{ "POST", "/conversations/{id}/claim", panel_handoff_claim, R_SESSION | R_FORM | R_CSRF, 16 KiB },
	{ "POST", "/conversations/{id}/template", panel_conversation_template,
	    R_SESSION | R_FORM | R_CSRF, 32 KiB },
	/* A reply may carry a file: PARLEY_MEDIA_MAX_BYTES' default and more
	 * (the handler applies the configured cap). */
	{ "POST", "/conversations/{id}/reply", panel_handoff_reply, R_SESSION | R_FORM | R_CSRF, 21 MiB },
	{ "POST", "/conversations/{id}/return", panel_handoff_return, R_SESSION | R_FORM | R_CSRF, 16 KiB },
	{ "POST", "/conversations/{id}/close", panel_handoff_close, R_SESSION | R_FORM | R_CSRF, 16 KiB },
	{ "POST", "/conversations/{id}/answer", panel_conversation_answer, R_SESSION | R_FORM | R_CSRF, 16 KiB },
	{ "GET",  "/settings/users",          panel_users_list, R_SESSION | R_OWNER, 0 },
	{ "POST", "/settings/users",          panel_users_create, R_SESSION | R_OWNER | R_FORM | R_CSRF, 16 KiB },
	{ "POST", "/settings/users/{id}/role", panel_users_role, R_SESSION | R_OWNER | R_FORM | R_CSRF, 16 KiB },
	{ "POST", "/settings/users/{id}/deactivate", panel_users_deactivate,
	    R_SESSION | R_OWNER | R_FORM | R_CSRF, 16 KiB },
	{ "POST", "/settings/users/{id}/reactivate", panel_users_reactivate,
	    R_SESSION | R_OWNER | R_FORM | R_CSRF, 16 KiB },
	{ "POST", "/settings/users/{id}/reset-password", panel_users_reset_password,
	    R_SESSION | R_OWNER | R_FORM | R_CSRF, 16 KiB },
	{ "GET",  "/settings/audit",          panel_audit_list, R_SESSION | R_OWNER, 0 },

	/* Panel: channels and jobs */
	{ "GET",  "/channels",                panel_channels_list, ADMIN, 0 },
	{ "GET",  "/channels/new",            panel_channels_new, ADMIN, 0 },
	{ "POST", "/channels",                panel_channels_create, WRITE, 32 KiB },
	{ "GET",  "/channels/{id}",           panel_channels_edit, ADMIN, 0 },
	{ "POST", "/channels/{id}",           panel_channels_update, WRITE, 32 KiB },
	{ "POST", "/channels/{id}/delete",    panel_channels_delete, WRITE, 16 KiB },
	{ "POST", "/channels/{id}/shared-keys", panel_channels_key_add, WRITE, 16 KiB },
	{ "POST", "/channels/{id}/shared-keys/remove", panel_channels_key_remove, WRITE, 16 KiB },
	{ "POST", "/channels/{id}/templates/sync", panel_templates_sync, WRITE, 16 KiB },
	{ "POST", "/channels/{id}/templates/source", panel_templates_source, WRITE, 16 KiB },
	{ "GET",  "/jobs",                    panel_jobs_list, ADMIN, 0 },
	{ "POST", "/jobs/{id}/retry",         panel_jobs_retry, WRITE, 16 KiB },
	{ "POST", "/jobs/{id}/resend",        panel_jobs_resend, WRITE, 16 KiB },

	/* REST API */
	{ "GET",    "/api/v1/providers",      api_providers_list, API_A, 0 },
	{ "POST",   "/api/v1/providers",      api_providers_create, API_W, 32 KiB },
	{ "GET",    "/api/v1/providers/{id}", api_providers_get, API_A, 0 },
	{ "PATCH",  "/api/v1/providers/{id}", api_providers_update, API_W, 32 KiB },
	{ "DELETE", "/api/v1/providers/{id}", api_providers_delete, API_D, 0 },
	{ "GET",    "/api/v1/models",         api_models_list, API_A, 0 },
	{ "POST",   "/api/v1/models",         api_models_create, API_W, 16 KiB },
	{ "GET",    "/api/v1/models/{id}",    api_models_get, API_A, 0 },
	{ "PATCH",  "/api/v1/models/{id}",    api_models_update, API_W, 16 KiB },
	{ "DELETE", "/api/v1/models/{id}",    api_models_delete, API_D, 0 },
	{ "GET",    "/api/v1/agents",         api_agents_list, API_A, 0 },
	{ "POST",   "/api/v1/agents",         api_agents_create, API_W, 128 KiB },
	{ "GET",    "/api/v1/agents/{id}",    api_agents_get, API_A, 0 },
	{ "PATCH",  "/api/v1/agents/{id}",    api_agents_update, API_W, 128 KiB },
	{ "DELETE", "/api/v1/agents/{id}",    api_agents_delete, API_D, 0 },
	{ "GET",    "/api/v1/agents/{id}/plugins", api_agents_plugins_get, API_A, 0 },
	{ "PUT",    "/api/v1/agents/{id}/plugins", api_agents_plugins_put, API_W, 16 KiB },
	{ "GET",    "/api/v1/agents/{id}/knowledge", api_knowledge_list, API_A, 0 },
	{ "POST",   "/api/v1/agents/{id}/knowledge", api_knowledge_create, API_W, 1 MiB },
	{ "GET",    "/api/v1/agents/{id}/knowledge/{kid}", api_knowledge_get, API_A, 0 },
	{ "PATCH",  "/api/v1/agents/{id}/knowledge/{kid}", api_knowledge_update, API_W, 1 MiB },
	{ "DELETE", "/api/v1/agents/{id}/knowledge/{kid}", api_knowledge_delete, API_D, 0 },
	{ "GET",    "/api/v1/plugins",        api_plugins_list, API_A, 0 },
	{ "GET",    "/api/v1/mcp-servers",    api_mcp_list, API_A, 0 },
	{ "POST",   "/api/v1/mcp-servers",    api_mcp_create, API_W, 64 KiB },
	{ "GET",    "/api/v1/mcp-servers/{id}", api_mcp_get, API_A, 0 },
	{ "PATCH",  "/api/v1/mcp-servers/{id}", api_mcp_update, API_W, 64 KiB },
	{ "DELETE", "/api/v1/mcp-servers/{id}", api_mcp_delete, API_D, 0 },
	{ "POST",   "/api/v1/mcp-servers/{id}/test", api_mcp_test, API_D, 16 KiB },
	{ "GET",    "/api/v1/organization",   api_organization_get, R_BEARER | R_OWNER, 0 },
	{ "PATCH",  "/api/v1/organization",   api_organization_update,
	    R_BEARER | R_OWNER | R_JSON, 16 KiB },
	{ "GET",    "/api/v1/conversations",  api_conversations_list, API_R, 0 },
	{ "GET",    "/api/v1/conversations/{id}", api_conversation_get, API_R, 0 },
	/* The panel's handler: errors come out as JSON on an API route. */
	{ "GET",    "/api/v1/conversations/{id}/media/{mid}/{n}", panel_conversation_media, API_R, 0 },
	{ "POST",   "/api/v1/agents/{id}/connect-codes", api_connect_codes_create, API_W, 16 KiB },
	{ "GET",    "/api/v1/agents/{id}/chats", api_agent_chats_list, API_A, 0 },
	{ "GET",    "/api/v1/channels",       api_channels_list, API_A, 0 },
	{ "POST",   "/api/v1/channels",       api_channels_create, API_W, 32 KiB },
	{ "GET",    "/api/v1/channels/{id}",  api_channels_get, API_A, 0 },
	{ "PATCH",  "/api/v1/channels/{id}",  api_channels_update, API_W, 32 KiB },
	{ "DELETE", "/api/v1/channels/{id}",  api_channels_delete, API_D, 0 },
	{ "POST",   "/api/v1/channels/{id}/twilio-shared-keys", api_channels_key_add, API_W, 16 KiB },
	{ "DELETE", "/api/v1/channels/{id}/twilio-shared-keys/{key}", api_channels_key_remove, API_D, 0 },
	{ "GET",    "/api/v1/channels/{id}/templates", api_templates_list, API_A, 0 },
	{ "PATCH",  "/api/v1/channels/{id}/templates", api_templates_source, API_W, 16 KiB },
	{ "POST",   "/api/v1/channels/{id}/templates/sync", api_templates_sync, API_D, 16 KiB },
	{ "POST",   "/api/v1/conversations/{id}/templates", api_conversation_template, API_W, 16 KiB },
	{ "GET",    "/api/v1/conversations/{id}/hold", api_conversation_hold, API_R, 0 },
	{ "GET",    "/api/v1/agents/{id}/followup", api_followup_get, API_A, 0 },
	{ "PUT",    "/api/v1/agents/{id}/followup", api_followup_put, API_W, 32 KiB },
	{ "GET",    "/api/v1/agents/{id}/schedules", api_schedules_list, API_A, 0 },
	{ "POST",   "/api/v1/agents/{id}/schedules", api_schedules_create, API_W, 32 KiB },
	{ "GET",    "/api/v1/agents/{id}/schedules/{sid}", api_schedules_get, API_A, 0 },
	{ "PATCH",  "/api/v1/agents/{id}/schedules/{sid}", api_schedules_update, API_W, 32 KiB },
	{ "DELETE", "/api/v1/agents/{id}/schedules/{sid}", api_schedules_delete, API_D, 0 },
	{ "POST",   "/api/v1/agents/{id}/schedules/{sid}/run", api_schedules_run, API_D, 16 KiB },
	{ "GET",    "/api/v1/agents/{id}/runs", api_schedules_runs, API_A, 0 },
	{ "POST",   "/api/v1/whatsapp-app",   api_whatsapp_app_create, API_W, 64 KiB },
	{ "GET",    "/api/v1/whatsapp-app",   api_whatsapp_app_get, API_A, 0 },
	{ "PATCH",  "/api/v1/whatsapp-app",   api_whatsapp_app_update, API_W, 64 KiB },

	/* OpenAI-compatible gateway */
	{ "POST", "/v1/chat/completions",     api_chat_completions,
	    R_BEARER | R_ADMIN | R_JSON, 1 MiB },
	{ "GET",  "/v1/models",               api_models_openai, API_A, 0 },
};

const struct route	*const app_routes = routes;
const int		 app_n_routes = sizeof(routes) / sizeof(routes[0]);
