/*
 * plugins: the Plugins page — every first-party tool with its id, title,
 * description, whether this installation can run it, and which of the
 * organisation's agents have it enabled, then the organisation's MCP
 * servers (panel/mcp.c has their pages). Turning a plugin on or off
 * happens on the agent's page (panel/agents.c).
 */
#include "panel/panel.h"

#include "db/db.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/agent.h"
#include "model/mcp_server.h"
#include "plugins/plugin.h"
#include "util/arena.h"
#include "util/str.h"

static bool	 add_mcp(struct req *, cJSON *);

/* The organisation's MCP servers, for the page's second half. */
static bool
add_mcp(struct req *r, cJSON *ctx)
{
	struct mcp_server	*v;
	cJSON			*arr, *o;
	int			 n;

	if (mcp_server_list(r->db, r->arena, r->org_id, &v, &n) != DB_OK)
		return false;
	arr = cJSON_AddArrayToObject(ctx, "mcp_servers");
	for (int i = 0; i < n; i++) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)v[i].id);
		cJSON_AddStringToObject(o, "plugin_id", arena_printf(r->arena,
		    MCP_PLUGIN_PREFIX "%lld", (long long)v[i].id));
		cJSON_AddStringToObject(o, "name", v[i].name);
		cJSON_AddStringToObject(o, "url", v[i].url);
		cJSON_AddStringToObject(o, "auth", mcp_auth_str(v[i].auth));
		cJSON_AddBoolToObject(o, "has_secret", v[i].has_secret);
		cJSON_AddStringToObject(o, "secret_hint", v[i].secret_hint);
		cJSON_AddBoolToObject(o, "has_test", v[i].has_test);
		cJSON_AddBoolToObject(o, "last_test_ok", v[i].last_test_ok);
		cJSON_AddStringToObject(o, "last_tested_at",
		    v[i].last_tested_at);
		cJSON_AddNumberToObject(o, "n_agents", v[i].n_agents);
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddBoolToObject(ctx, "has_mcp", n > 0);
	return true;
}

int
panel_plugins_list(struct req *r)
{
	const struct plugin *const	*all;
	struct agent			*v;
	cJSON				*ctx, *list, *o, *users;
	int				 n, n_agents, n_users;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if (agent_list(r->db, r->arena, r->org_id, &v, &n_agents) != DB_OK)
		return resp_unavailable(r);
	all = plugin_all(&n);
	ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", "Plugins");
	list = cJSON_AddArrayToObject(ctx, "plugins");
	for (int i = 0; i < n; i++) {
		const struct plugin	*p = all[i];

		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", p->id);
		cJSON_AddStringToObject(o, "title", p->title);
		cJSON_AddStringToObject(o, "description", p->description);
		if (plugin_available(p))
			cJSON_AddTrueToObject(o, "available");
		else
			cJSON_AddStringToObject(o, "reason", p->needs_channel ?
			    "Needs a WhatsApp channel, which this "
			    "installation cannot connect yet." :
			    "Not available in this installation.");
		users = cJSON_AddArrayToObject(o, "agents");
		n_users = 0;
		for (int j = 0; j < n_agents; j++)
			for (int k = 0; k < v[j].n_plugins; k++) {
				cJSON	*a;

				if (!str_eq(v[j].plugins[k], p->id))
					continue;
				a = cJSON_CreateObject();
				cJSON_AddNumberToObject(a, "id",
				    (double)v[j].id);
				cJSON_AddStringToObject(a, "name", v[j].name);
				cJSON_AddItemToArray(users, a);
				n_users++;
			}
		cJSON_AddBoolToObject(o, "has_agents", n_users > 0);
		cJSON_AddItemToArray(list, o);
	}
	cJSON_AddBoolToObject(ctx, "has_plugins", n > 0);
	if (!add_mcp(r, ctx))
		return resp_unavailable(r);
	cJSON_AddBoolToObject(ctx, "has_agents", n_agents > 0);
	return resp_page(r, 200, "plugins/index", ctx);
}
