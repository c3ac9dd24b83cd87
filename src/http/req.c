/*
 * req: request accessors (see req.h).
 */
#include "http/req.h"

#include <string.h>

#include <civetweb.h>

#include "db/db.h"
#include "http/form.h"
#include "util/arena.h"
#include "util/context.h"
#include "util/str.h"

const char *
req_param(const struct req *r, const char *name)
{
	for (int i = 0; i < r->n_params; i++)
		if (strcmp(r->param_names[i], name) == 0)
			return r->param_values[i];
	return NULL;
}

bool
req_param_id(const struct req *r, const char *name, int64_t *out)
{
	const char	*v = req_param(r, name);
	int64_t		 id;

	if (v == NULL || v[0] < '1' || v[0] > '9' || strlen(v) > 18 ||
	    !str_to_i64(v, &id) || id <= 0)
		return false;
	*out = id;
	return true;
}

const char *
req_header(const struct req *r, const char *name)
{
	return mg_get_header(r->conn, name);
}

const char *
req_query(struct req *r, const char *name)
{
	/* The router parsed and validated the query before routing. */
	return r->query_form ? form_get(r->query_form, name) : NULL;
}

const char *
req_query_set(void *r, const char *name)
{
	const char	*v = req_query(r, name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

const char *
req_cookie(struct req *r, const char *name)
{
	const char	*hdr = mg_get_header(r->conn, "Cookie");
	char		 val[512];
	int		 n;

	if (hdr == NULL)
		return NULL;
	n = mg_get_cookie(hdr, name, val, sizeof(val));
	if (n < 0)
		return NULL;
	return arena_strndup(r->arena, val, (size_t)n);
}

const char *
req_remote_addr(const struct req *r)
{
	return r->ri->remote_addr;
}

struct db *
req_db(struct req *r)
{
	/* One failed acquire per request is enough to answer 503. */
	if (r->db == NULL && !r->db_failed) {
		r->db = db_acquire(r->app->db);
		if (r->db == NULL)
			r->db_failed = true;
	}
	return r->db;
}

void
req_release_db(struct req *r)
{
	if (r->db != NULL) {
		db_release(r->db);
		r->db = NULL;
	}
}
