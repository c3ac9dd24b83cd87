/*
 * dashboard: the panel's home page: the organisation at a glance, the
 * conversations nobody claimed in time (chat/handoff.h) and what to do
 * next.
 */
#include "panel/panel.h"

#include "chat/handoff.h"
#include "db/db.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/user.h"
#include "util/context.h"

/* Links shown; the sentence counts up to handoff_unclaimed's own cap. */



int
panel_dashboard(struct req *r)
{
	cJSON	*ctx;
	int64_t	 members = 0;
	int	 applied;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if (user_count_in_org(r->db, r->org_id, &members) != DB_OK)
		return resp_unavailable(r);
	applied = db_migrations_applied(r->db);
	ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", "Dashboard");
	cJSON_AddNumberToObject(ctx, "members", (double)members);
	cJSON_AddBoolToObject(ctx, "one_member", members == 1);
	cJSON_AddNumberToObject(ctx, "schema_version", applied);
	cJSON_AddBoolToObject(ctx, "schema_current",
	    applied == r->app->migrations_latest);
	cJSON_AddStringToObject(ctx, "public_url", r->app->cfg.public_url);
	cJSON_AddBoolToObject(ctx, "is_owner",
	    r->session->role[0] == 'o');
	if (!panel_add_unclaimed(r, ctx, 5)) {
		cJSON_Delete(ctx);
		return resp_unavailable(r);
	}
	return resp_page(r, 200, "dashboard", ctx);
}
