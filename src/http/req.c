/*
 * req: request accessors (see req.h).
 *
 * Client address: X-Forwarded-For is a list each proxy appends its peer
 * to, so only its right end is written by proxies we trust; everything to
 * the left of the first untrusted hop is whatever the client sent. Walking
 * from the right past trusted proxies gives the first address no client
 * could forge. An entry that is not an address ends the walk at the
 * nearest trusted hop (a client cannot pick an address by sending junk);
 * when every entry is a trusted proxy the left-most is the client.
 */
#include "http/req.h"

#include <string.h>
#include <strings.h>

#include <civetweb.h>

#include "db/db.h"
#include "http/form.h"
#include "util/arena.h"
#include "util/cidr.h"
#include "util/context.h"
#include "util/str.h"

static bool	peer_trusted(const struct req *);
static const char *last_header(const struct req *, const char *);

/* True when the TCP peer is one of PARLEY_TRUSTED_PROXIES. */
static bool
peer_trusted(const struct req *r)
{
	return r->app != NULL && r->app->cfg.n_trusted_proxies > 0 &&
	    cidr_list_match(r->app->cfg.trusted_proxies,
	    r->app->cfg.n_trusted_proxies, r->ri->remote_addr);
}

/* The last header named name (proxies append), or NULL. */
static const char *
last_header(const struct req *r, const char *name)
{
	const char	*v = NULL;

	for (int i = 0; i < r->ri->num_headers; i++)
		if (strcasecmp(r->ri->http_headers[i].name, name) == 0)
			v = r->ri->http_headers[i].value;
	return v;
}

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
	const char	*client = r->ri->remote_addr;
	char		 item[CIDR_ADDR_MAX], canon[CIDR_ADDR_MAX];
	unsigned char	 addr[16];
	int		 family;

	if (!peer_trusted(r))
		return client;
	/* Every X-Forwarded-For header, last first, each right to left. */
	for (int h = r->ri->num_headers - 1; h >= 0; h--) {
		const char	*v = r->ri->http_headers[h].value;
		const char	*end;

		if (strcasecmp(r->ri->http_headers[h].name,
		    "X-Forwarded-For") != 0 || v == NULL)
			continue;
		end = v + strlen(v);
		while (end > v) {
			const char	*start = end;
			size_t		 n;

			while (start > v && start[-1] != ',')
				start--;
			n = (size_t)(end - start);
			end = start > v ? start - 1 : v;
			while (n > 0 && (*start == ' ' || *start == '\t')) {
				start++;
				n--;
			}
			while (n > 0 && (start[n - 1] == ' ' ||
			    start[n - 1] == '\t'))
				n--;
			if (n == 0)
				continue;
			if (n >= sizeof(item))
				return client;
			memcpy(item, start, n);
			item[n] = '\0';
			if (!cidr_addr_parse(item, &family, addr))
				return client;
			cidr_addr_format(family, addr, canon, sizeof(canon));
			client = arena_strdup(r->arena, canon);
			if (!cidr_list_match(r->app->cfg.trusted_proxies,
			    r->app->cfg.n_trusted_proxies, canon))
				return client;
		}
	}
	return client;
}

bool
req_is_https(const struct req *r)
{
	const char	*v, *comma;

	if (!peer_trusted(r) ||
	    (v = last_header(r, "X-Forwarded-Proto")) == NULL)
		return r->ri->is_ssl != 0;
	if ((comma = strrchr(v, ',')) != NULL)
		v = comma + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	return strncasecmp(v, "https", 5) == 0 &&
	    (v[5] == '\0' || v[5] == ' ' || v[5] == '\t');
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
