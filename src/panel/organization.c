/*
 * organization: Settings → Organization, the organisation's settings
 * for owners (the route table requires R_OWNER): the product name chats
 * see in the welcome text, the prefix of connect codes, and how many days
 * media items are kept (empty: forever; chat/media.h retention). The
 * values and their rules belong to model/org.
 */
#include "panel/panel.h"

#include "db/db.h"
#include "http/audit.h"
#include "http/form.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/fielderr.h"
#include "model/org.h"
#include "util/arena.h"

static int	 org_page(struct req *, int, const char *, const char *,
		    const char *, const struct field_errors *);

static int
org_page(struct req *r, int status, const char *product, const char *prefix,
    const char *retention, const struct field_errors *errs)
{
	cJSON	*ctx = cJSON_CreateObject();
	cJSON	*form;

	cJSON_AddStringToObject(ctx, "title", "Organization");
	form = cJSON_AddObjectToObject(ctx, "form");
	cJSON_AddStringToObject(form, "product_name", product);
	cJSON_AddStringToObject(form, "connect_prefix", prefix);
	cJSON_AddStringToObject(form, "media_retention_days", retention);
	for (int i = 0; errs != NULL && i < errs->n; i++)
		panel_field_error(ctx, errs->field[i], errs->message[i]);
	return resp_page(r, status, "settings/organization", ctx);
}

int
panel_org_settings_form(struct req *r)
{
	char		*product, *prefix;
	int		 days = 0;
	enum db_status	 st;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = org_get_settings(r->db, r->arena, r->org_id, &product, &prefix);
	if (st == DB_OK)
		st = org_get_media_retention(r->db, r->org_id, &days);
	switch (st) {
	case DB_OK:
		return org_page(r, 200, product, prefix, days > 0 ?
		    arena_printf(r->arena, "%d", days) : "", NULL);
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

int
panel_org_settings_save(struct req *r)
{
	struct field_errors	 errs = { 0 };
	const char		*product = form_str(r->form, "product_name");
	const char		*prefix = form_str(r->form, "connect_prefix");
	const char		*days = form_str(r->form,
				    "media_retention_days");

	if (days == NULL)
		days = "";
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	switch (org_update_settings(r->db, r->org_id, product, prefix, days,
	    &errs)) {
	case DB_OK:
		audit(r, "org.settings_changed", "org", r->org_id,
		    arena_printf(r->arena, "product name \"%s\", connect "
		    "prefix \"%s\", media kept %s%s", product, prefix,
		    days[0] != '\0' ? days : "forever", days[0] != '\0' ?
		    " days" : ""));
		return resp_see_other(r, "/settings/organization",
		    "Organization settings saved.");
	case DB_INVALID:
		if (errs.n == 0)	/* a CHECK the model did not foresee */
			field_error_add(&errs, "product_name",
			    "These settings cannot be stored.");
		return org_page(r, 422, product, prefix, days, &errs);
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}
