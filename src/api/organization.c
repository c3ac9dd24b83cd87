/*
 * api/organization: GET and PATCH /api/v1/organization, the calling
 * token's organisation and its settings (owners only, as on the panel's
 * Settings → Organization): {"id", "name", "productName",
 * "connectPrefix", "mediaRetentionDays": days | null (forever)}. PATCH
 * takes any of the three settings and keeps the others; the values and
 * their rules belong to model/org. Wrong JSON types are 400, values the
 * model refuses 422 with the fields named (docs/api.md).
 */
#include "api/api.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "http/audit.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/fielderr.h"
#include "model/org.h"
#include "util/arena.h"
#include "util/str.h"

static int	 org_json(struct req *, int);
static const char *api_field(const char *);

/* The model's field names as the API spells them. */
static const char *
api_field(const char *field)
{
	if (str_eq(field, "product_name"))
		return "productName";
	if (str_eq(field, "connect_prefix"))
		return "connectPrefix";
	if (str_eq(field, "media_retention_days"))
		return "mediaRetentionDays";
	return field;
}

/* The organisation as JSON, answered with status. */
static int
org_json(struct req *r, int status)
{
	char		*name, *product, *prefix;
	int		 days = 0, rc;
	enum db_status	 st;
	cJSON		*o;

	st = org_get_name(r->db, r->arena, r->org_id, &name);
	if (st == DB_OK)
		st = org_get_settings(r->db, r->arena, r->org_id, &product,
		    &prefix);
	if (st == DB_OK)
		st = org_get_media_retention(r->db, r->org_id, &days);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "id", (double)r->org_id);
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "productName", product);
	cJSON_AddStringToObject(o, "connectPrefix", prefix);
	if (days > 0)
		cJSON_AddNumberToObject(o, "mediaRetentionDays", days);
	else
		cJSON_AddNullToObject(o, "mediaRetentionDays");
	rc = resp_json(r, status, o);
	cJSON_Delete(o);
	return rc;
}

int
api_organization_get(struct req *r)
{
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	return org_json(r, 200);
}

int
api_organization_update(struct req *r)
{
	struct field_errors	 errs = { 0 };
	const cJSON		*p, *c, *d;
	char			*product, *prefix, days_text[16];
	int			 days = 0;
	enum db_status		 st;

	p = cJSON_GetObjectItemCaseSensitive(r->json, "productName");
	c = cJSON_GetObjectItemCaseSensitive(r->json, "connectPrefix");
	d = cJSON_GetObjectItemCaseSensitive(r->json, "mediaRetentionDays");
	if (p != NULL && !cJSON_IsString(p))
		return resp_bad_request(r, "productName must be a string.");
	if (c != NULL && !cJSON_IsString(c))
		return resp_bad_request(r, "connectPrefix must be a string.");
	if (d != NULL && !cJSON_IsNull(d) && !(cJSON_IsNumber(d) &&
	    floor(d->valuedouble) == d->valuedouble &&
	    fabs(d->valuedouble) < 1e9))
		return resp_bad_request(r, "mediaRetentionDays must be a whole "
		    "number of days or null.");
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = org_get_settings(r->db, r->arena, r->org_id, &product, &prefix);
	if (st == DB_OK)
		st = org_get_media_retention(r->db, r->org_id, &days);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	if (p != NULL)
		product = p->valuestring;
	if (c != NULL)
		prefix = c->valuestring;
	if (d != NULL)
		days = cJSON_IsNull(d) ? 0 : (int)d->valuedouble;
	/* 0 and below are refused by the model, as a typed "0" would be. */
	if (d != NULL && !cJSON_IsNull(d))
		snprintf(days_text, sizeof(days_text), "%d", days);
	else
		snprintf(days_text, sizeof(days_text), "%s", days > 0 ?
		    arena_printf(r->arena, "%d", days) : "");
	switch (org_update_settings(r->db, r->org_id, product, prefix,
	    days_text, &errs)) {
	case DB_OK:
		break;
	case DB_INVALID:
		for (int i = 0; i < errs.n; i++)
			errs.field[i] = api_field(errs.field[i]);
		return api_invalid(r, &errs);
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
	audit(r, "org.settings_changed", "org", r->org_id, arena_printf(
	    r->arena, "product name \"%s\", connect prefix \"%s\", media kept "
	    "%s%s", product, prefix, days_text[0] != '\0' ? days_text :
	    "forever", days_text[0] != '\0' ? " days" : ""));
	return org_json(r, 200);
}
