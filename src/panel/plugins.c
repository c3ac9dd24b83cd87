/*
 * plugins: the Plugins page — every first-party tool with its id, title,
 * description, whether this installation can run it, and which of the
 * organisation's agents have it enabled. Turning a plugin on or off
 * happens on the agent's page (panel/agents.c).
 */
#include "panel/panel.h"

#include "db/db.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/agent.h"
#include "plugins/plugin.h"
#include "util/str.h"

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
	cJSON_AddBoolToObject(ctx, "has_agents", n_agents > 0);
	return resp_page(r, 200, "plugins/index", ctx);
}
