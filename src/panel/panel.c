/*
 * panel: layout context and principal loading (see panel.h).
 */
#include "panel/panel.h"

#include <string.h>

#include "app/app.h"
#include "http/csrf.h"
#include "http/req.h"
#include "model/user.h"
#include "util/arena.h"
#include "util/str.h"

/*
 * The areas of the panel. An area whose pages are not built yet is shown
 * in the navigation as coming, not as a link to a page that is not there.
 */
static const struct {
	const char	*label;
	const char	*href;
	bool		 ready;
} areas[] = {
	{ "Dashboard", "/", true },
	{ "Agents", "/agents", true },
	{ "Channels", "/channels", true },
	{ "Conversations", "/conversations", false },
	{ "Jobs", "/jobs", true },
	{ "Plugins", "/plugins", true },
	{ "Settings", "/settings", true },
};

static bool	is_active(const char *, const char *);

static bool
is_active(const char *path, const char *href)
{
	size_t	 n = strlen(href);

	if (strcmp(href, "/") == 0)
		return strcmp(path, "/") == 0;
	return strncmp(path, href, n) == 0 && (path[n] == '\0' ||
	    path[n] == '/');
}

void
panel_decorate(struct req *r, cJSON *ctx)
{
	cJSON	*nav, *item, *user;

	cJSON_AddStringToObject(ctx, "csrf", csrf_token(r));
	cJSON_AddStringToObject(ctx, "version", PARLEY_VERSION);
	if (r->session == NULL)
		return;
	cJSON_AddTrueToObject(ctx, "signed_in");
	nav = cJSON_AddArrayToObject(ctx, "nav");
	for (size_t i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
		item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "label", areas[i].label);
		cJSON_AddStringToObject(item, "href", areas[i].href);
		cJSON_AddBoolToObject(item, "ready", areas[i].ready);
		cJSON_AddBoolToObject(item, "active",
		    is_active(r->path, areas[i].href));
		cJSON_AddItemToArray(nav, item);
	}
	user = cJSON_AddObjectToObject(ctx, "user");
	cJSON_AddStringToObject(user, "email", r->session->email);
	cJSON_AddStringToObject(user, "role", r->session->role);
	cJSON_AddStringToObject(ctx, "org_name", r->session->org_name);
	if (r->session->flash != NULL)
		cJSON_AddStringToObject(ctx, "flash", r->session->flash);
}

bool
panel_load_principal(struct req *r)
{
	struct user_principal	 p;

	if (req_db(r) == NULL)
		return false;
	if (user_principal_get(r->db, r->arena, r->session->org_id,
	    r->session->user_id, &p) != DB_OK)
		return false;
	r->session->email = p.email;
	r->session->org_name = p.org_name;
	r->session->role = p.role;
	return true;
}

void
panel_field_error(cJSON *ctx, const char *field, const char *msg)
{
	cJSON	*errs = cJSON_GetObjectItemCaseSensitive(ctx, "errors");
	cJSON	*e;
	char	 key[64];

	if (errs == NULL) {
		errs = cJSON_AddArrayToObject(ctx, "errors");
		cJSON_AddTrueToObject(ctx, "has_errors");
	}
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "field", field);
	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddItemToArray(errs, e);
	snprintf(key, sizeof(key), "error_%s", field);
	if (cJSON_GetObjectItemCaseSensitive(ctx, key) == NULL)
		cJSON_AddStringToObject(ctx, key, msg);
}
