/*
 * api: bearer authentication and JSON helpers (see api.h).
 *
 * A token names its organisation; X-Org-Id, when sent, must name the same
 * one (DESIGN.md: "X-Org-Id selects the org where a token spans several";
 * ours span one), else 403. An unknown, revoked or malformed token is 401
 * with the same sentence, so a caller learns nothing about which it was.
 */
#include "api/api.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include "db/db.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/apitoken.h"
#include "model/fielderr.h"
#include "util/arena.h"
#include "util/str.h"

int
api_bearer(struct req *r)
{
	const char			*auth = req_header(r, "Authorization");
	const char			*xorg = req_header(r, "X-Org-Id");
	struct apitoken_principal	 p;
	int64_t				 want;
	enum db_status			 st;

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0) {
		resp_header(r, "WWW-Authenticate", "Bearer");
		return resp_error(r, 401, "unauthorized", "Send an API token "
		    "as Authorization: Bearer <token>.");
	}
	auth += 7;
	while (*auth == ' ')
		auth++;
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = apitoken_authenticate_any_org(r->db, auth, &p);
	if (st == DB_NOT_FOUND) {
		resp_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
		return resp_error(r, 401, "invalid_api_key", "The API token is "
		    "not valid (unknown or revoked).");
	}
	if (st != DB_OK)
		return resp_unavailable(r);
	/* The token acts for its user, who may no longer act at all. */
	switch (p.standing) {
	case APITOKEN_ACTIVE:
		break;
	case APITOKEN_USER_INACTIVE:
		resp_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
		return resp_error(r, 401, "token_user_inactive", "The API "
		    "token's user has been deactivated, so the token no longer "
		    "works.");
	default:
		resp_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
		return resp_error(r, 401, "token_user_not_member", "The API "
		    "token's user is no longer a member of its organisation, so "
		    "the token no longer works.");
	}
	if (xorg != NULL && (!str_to_i64(xorg, &want) || want != p.org_id))
		return resp_error(r, 403, "forbidden", "X-Org-Id does not "
		    "match the API token's organisation.");
	r->org_id = p.org_id;
	r->role = arena_strdup(r->arena, p.role);
	r->token_id = p.token_id;
	return 0;
}

int
api_invalid(struct req *r, const struct field_errors *errs)
{
	cJSON	*root = cJSON_CreateObject();
	cJSON	*err = cJSON_AddObjectToObject(root, "error");
	cJSON	*fields = NULL;
	int	 st;

	cJSON_AddStringToObject(err, "code", "invalid");
	cJSON_AddStringToObject(err, "message", errs->n > 0 ?
	    errs->message[0] : "The request is not valid.");
	if (errs->n > 0)
		fields = cJSON_AddObjectToObject(err, "fields");
	for (int i = 0; i < errs->n; i++)
		cJSON_AddStringToObject(fields, errs->field[i], errs->message[i]);
	st = resp_json(r, 422, root);
	cJSON_Delete(root);
	return st;
}

const char *
api_str(const struct req *r, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(r->json, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool
api_has(const struct req *r, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(r->json, name) != NULL;
}

void
api_add_time(cJSON *obj, const char *name, const char *pgtime)
{
	char	 buf[64];
	size_t	 n;

	if (pgtime == NULL || *pgtime == '\0') {
		cJSON_AddNullToObject(obj, name);
		return;
	}
	/* "2026-11-21 06:01:02.123+00" → "2026-11-21T06:01:02.123Z" */
	str_copy(buf, pgtime, sizeof(buf));
	if (buf[10] == ' ')
		buf[10] = 'T';
	n = strlen(buf);
	if (n > 3 && strcmp(buf + n - 3, "+00") == 0)
		memcpy(buf + n - 3, "Z", 2);
	cJSON_AddStringToObject(obj, name, buf);
}

int
api_check_types(struct req *r, const struct api_field *spec)
{
	const cJSON	*v, *e;
	const char	*want = NULL;
	bool		 ok;

	for (; spec->name != NULL; spec++) {
		v = cJSON_GetObjectItemCaseSensitive(r->json, spec->name);
		if (v == NULL)
			continue;
		switch (spec->type) {
		case API_STR:
			ok = cJSON_IsString(v);
			want = "a string";
			break;
		case API_STR_NULL:
			ok = cJSON_IsString(v) || cJSON_IsNull(v);
			want = "a string or null";
			break;
		case API_BOOL:
			ok = cJSON_IsBool(v);
			want = "true or false";
			break;
		case API_STRS:
			ok = cJSON_IsArray(v) &&
			    cJSON_GetArraySize(v) <= API_STRS_MAX;
			cJSON_ArrayForEach(e, v)
				ok = ok && cJSON_IsString(e);
			want = "an array of at most 64 strings";
			break;
		case API_INT:
			ok = cJSON_IsNumber(v) && v->valuedouble >= -2147483647.0
			    && v->valuedouble <= 2147483647.0 &&
			    floor(v->valuedouble) == v->valuedouble;
			want = "a whole number";
			break;
		case API_IDS:
			ok = cJSON_IsArray(v) &&
			    cJSON_GetArraySize(v) <= API_STRS_MAX;
			cJSON_ArrayForEach(e, v)
				ok = ok && cJSON_IsNumber(e) &&
				    e->valuedouble >= 1 &&
				    e->valuedouble <= 9e15 &&
				    floor(e->valuedouble) == e->valuedouble;
			want = "an array of at most 64 positive integers";
			break;
		case API_STR_MAP:
			ok = cJSON_IsObject(v) && cJSON_GetArraySize(v) <= 100;
			cJSON_ArrayForEach(e, v)
				ok = ok && cJSON_IsString(e);
			want = "an object of strings";
			break;
		case API_ID_NULL:
		default:
			ok = cJSON_IsNull(v) || (cJSON_IsNumber(v) &&
			    v->valuedouble >= 1 && v->valuedouble <= 9e15 &&
			    floor(v->valuedouble) == v->valuedouble);
			want = "a positive integer or null";
			break;
		}
		if (!ok)
			return resp_bad_request(r, arena_printf(r->arena,
			    "%s must be %s.", spec->name, want));
	}
	return 0;
}
