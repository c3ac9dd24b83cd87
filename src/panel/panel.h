/*
 * panel: the control panel's shared pieces — the layout context every page
 * gets (navigation, organisation, user menu, CSRF token, flash), the hook
 * that loads the signed-in principal, and the page handlers of each area.
 */
#ifndef PARLEY_PANEL_PANEL_H
#define PARLEY_PANEL_PANEL_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct req;

/* resp_page hook: adds the layout keys to ctx. */
void	 panel_decorate(struct req *r, cJSON *ctx);
/* router hook: fills r->session's email, organisation and role. */
bool	 panel_load_principal(struct req *r);
/* Adds {"field": name, "message": msg} to ctx.errors and ctx.error_<field>. */
void	 panel_field_error(cJSON *ctx, const char *field, const char *msg);

/*
 * Adds "unclaimed": {count, one, minutes, chats: [{id, name, waited}],
 * more} (at most `links` chats) when some chat has waited longer than
 * orgs.handoff_unclaimed_minutes for a person; nothing otherwise (the
 * dashboard and the inbox show it). False: the database failed.
 */
bool	 panel_add_unclaimed(struct req *r, cJSON *ctx, int links);
/*
 * A message a member asked to send (a reply, a Resend) goes out: the
 * request's connection is given back, the outbox sends it (outbox_send,
 * with its send job), and the flash says what became of it (sent: the
 * `sent` sentence). *result (may be NULL) gets the outbox's word.
 */
const char *panel_send(struct req *r, int64_t message_id, int64_t job_id,
	    const char *sent, const char **result);

/* auth.c */
int	 panel_auth_login_form(struct req *r);	/* GET /login */
int	 panel_auth_login(struct req *r);	/* POST /login */
int	 panel_auth_logout(struct req *r);	/* POST /logout */

/* dashboard.c */
int	 panel_dashboard(struct req *r);	/* GET / */

/* settings.c */
int	 panel_settings_index(struct req *r);	/* GET /settings */
int	 panel_settings_password_form(struct req *r);
int	 panel_settings_password(struct req *r);
/*
 * router hook (session_gate): while the signed-in user's password is a
 * one-time password, every page but changing it (and signing out) is a
 * 303 to /settings/password.
 */
int	 panel_settings_password_gate(struct req *r);

/* agents.c: agents, their plugins, knowledge and a test chat */
int	 panel_agents_list(struct req *r);		/* GET /agents */
int	 panel_agents_new(struct req *r);		/* GET /agents/new */
int	 panel_agents_create(struct req *r);		/* POST /agents */
int	 panel_agents_edit(struct req *r);		/* GET /agents/{id} */
int	 panel_agents_update(struct req *r);		/* POST /agents/{id} */
int	 panel_agents_delete_confirm(struct req *r);	/* GET …/delete */
int	 panel_agents_delete(struct req *r);		/* POST …/delete */
int	 panel_agents_plugins(struct req *r);		/* POST …/plugins */
int	 panel_agents_try(struct req *r);		/* POST …/try */
int	 panel_knowledge_create(struct req *r);	/* POST …/knowledge */
int	 panel_knowledge_edit(struct req *r);		/* GET …/knowledge/{kid} */
int	 panel_knowledge_update(struct req *r);	/* POST …/knowledge/{kid} */
int	 panel_knowledge_delete(struct req *r);	/* POST …/{kid}/delete */

/* plugins.c */
int	 panel_plugins_list(struct req *r);		/* GET /plugins */

/* mcp.c: Plugins → MCP servers, and an agent's MCP section */
int	 panel_mcp_new(struct req *r);		/* GET /plugins/mcp/new */
int	 panel_mcp_create(struct req *r);		/* POST /plugins/mcp */
int	 panel_mcp_edit(struct req *r);		/* GET /plugins/mcp/{id} */
int	 panel_mcp_update(struct req *r);		/* POST /plugins/mcp/{id} */
int	 panel_mcp_delete(struct req *r);		/* POST …/delete */
int	 panel_mcp_test(struct req *r);		/* POST …/test */
int	 panel_mcp_authorize(struct req *r);	/* POST …/authorize */
int	 panel_mcp_disconnect(struct req *r);	/* POST …/disconnect */
int	 panel_mcp_callback(struct req *r);	/* GET /plugins/mcp/oauth/callback */
int	 panel_agents_mcp(struct req *r);		/* POST /agents/{id}/mcp/{sid} */
/*
 * Adds "mcp_servers": [{id, name, slug, url, enabled, f_all, f_only,
 * f_except, tools}] and "has_mcp_servers" for the agent's page; false
 * when the database failed.
 */
bool	 panel_mcp_agent_section(struct req *r, cJSON *ctx, int64_t agent_id);

/* providers.c: Settings → LLM providers and models */
int	 panel_providers_list(struct req *r);
int	 panel_providers_new(struct req *r);
int	 panel_providers_create(struct req *r);
int	 panel_providers_edit(struct req *r);
int	 panel_providers_update(struct req *r);
int	 panel_providers_delete(struct req *r);
int	 panel_providers_test(struct req *r);
int	 panel_models_list(struct req *r);
int	 panel_models_new(struct req *r);
int	 panel_models_create(struct req *r);
int	 panel_models_edit(struct req *r);
int	 panel_models_update(struct req *r);
int	 panel_models_delete(struct req *r);
int	 panel_models_default(struct req *r);

/* tokens.c: Settings → API tokens */
int	 panel_tokens_list(struct req *r);
int	 panel_tokens_create(struct req *r);
int	 panel_tokens_revoke(struct req *r);

/* channels.c: WhatsApp channels and the Jobs page */
int	 panel_channels_list(struct req *r);		/* GET /channels */
int	 panel_channels_new(struct req *r);		/* GET /channels/new */
int	 panel_channels_create(struct req *r);	/* POST /channels */
int	 panel_channels_edit(struct req *r);		/* GET /channels/{id} */
int	 panel_channels_update(struct req *r);	/* POST /channels/{id} */
int	 panel_channels_delete(struct req *r);	/* POST …/delete */
int	 panel_channels_key_add(struct req *r);	/* POST …/shared-keys */
int	 panel_channels_key_remove(struct req *r);	/* POST …/shared-keys/remove */
int	 panel_jobs_list(struct req *r);		/* GET /jobs */
int	 panel_jobs_retry(struct req *r);		/* POST /jobs/{id}/retry */
int	 panel_jobs_resend(struct req *r);		/* POST /jobs/{id}/resend */

/* sandbox.c: chat with an agent through the sandbox channel */
int	 panel_sandbox_page(struct req *r);		/* GET /agents/{id}/sandbox */
int	 panel_sandbox_send(struct req *r);		/* POST /agents/{id}/sandbox */
int	 panel_sandbox_messages(struct req *r);	/* GET …/sandbox/messages */

/* integrations.c: Agent → Integrations → WhatsApp (connect codes) */
int	 panel_integrations_page(struct req *r);	/* GET /agents/{id}/integrations */
int	 panel_connect_generate(struct req *r);	/* POST …/connect-codes */
int	 panel_connect_unlink(struct req *r);	/* POST …/chats/{chat}/unlink */

/* organization.c: Settings → Organization (product name, code prefix) */
int	 panel_org_settings_form(struct req *r);	/* GET /settings/organization */
int	 panel_org_settings_save(struct req *r);	/* POST */

/* conversations.c: list, inbox, timeline, media, resend */
int	 panel_conversations_list(struct req *r);	/* GET /conversations */
int	 panel_conversation_view(struct req *r);	/* GET /conversations/{id} */
int	 panel_conversation_resend(struct req *r);	/* POST …/messages/{mid}/resend */
int	 panel_conversation_media(struct req *r);	/* GET …/media/{mid}/{n} */
int	 panel_conversation_media_thumb(struct req *r);	/* …/{n}/thumb */
/* GET /m/{org}/{mid}/{n}/{part}?exp&sig: a signed link, no session */
int	 panel_media_signed(struct req *r);

/* handoff.c: human takeover */
int	 panel_handoff_claim(struct req *r);		/* POST …/claim */
int	 panel_handoff_reply(struct req *r);		/* POST …/reply */
int	 panel_handoff_return(struct req *r);	/* POST …/return */
int	 panel_handoff_close(struct req *r);		/* POST …/close */

/* users.c: Users (owners) and the audit log */
int	 panel_users_list(struct req *r);		/* GET /settings/users */
int	 panel_users_create(struct req *r);		/* POST /settings/users */
int	 panel_users_role(struct req *r);		/* POST …/{id}/role */
int	 panel_users_deactivate(struct req *r);	/* POST …/{id}/deactivate */
int	 panel_users_reactivate(struct req *r);	/* POST …/{id}/reactivate */
int	 panel_users_reset_password(struct req *r);	/* POST …/{id}/reset-password */
int	 panel_audit_list(struct req *r);		/* GET /settings/audit */

#endif
