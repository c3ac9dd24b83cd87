/*
 * req: one HTTP request as handlers see it. The router fills it (route,
 * path parameters, body, form, session) before the handler runs and frees
 * its arena afterwards, error paths included, so handlers rarely free.
 */
#ifndef PARLEY_HTTP_REQ_H
#define PARLEY_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "util/buf.h"

struct mg_connection;
struct mg_request_info;
struct app;
struct arena;
struct route;
struct db;
struct form;

#define REQ_MAX_PARAMS	8

/* The logged-in principal, filled by the router for R_SESSION routes. */
struct session {
	int64_t		 id;
	int64_t		 user_id;
	int64_t		 org_id;
	char		 csrf[48];	/* per-session CSRF token */
	char		*email;
	char		*org_name;
	char		*role;		/* "owner" | "admin" | "member" */
	char		*flash;		/* consumed message, or NULL */
};

struct req {
	struct mg_connection		*conn;
	const struct mg_request_info	*ri;
	struct app			*app;
	struct arena			*arena;
	const struct route		*route;
	int				 route_index;	/* -1: none matched */
	char				 id[24];	/* request id */
	const char			*method;
	const char			*path;		/* decoded, no query */
	const char			*query;		/* raw, or "" */
	bool				 is_head;
	bool				 is_api;	/* /api/ or /v1/: JSON errors */
	int				 n_params;
	const char			*param_names[REQ_MAX_PARAMS];
	const char			*param_values[REQ_MAX_PARAMS];
	char				*body;		/* NUL-terminated copy */
	size_t				 body_len;
	struct form			*form;		/* R_FORM */
	cJSON				*json;		/* R_JSON */
	struct db			*db;		/* lazily acquired */
	struct session			*session;	/* R_SESSION */
	int64_t				 org_id;	/* session's or token's */
	const char			*role;		/* session's or token's */
	int64_t				 token_id;	/* bearer token, else 0 */
	struct buf			 extra_headers;	/* "Name: v\r\n"… */
	int				 status;	/* sent, for the log */
	size_t				 bytes_out;
	int64_t				 started_us;
	char				*csrf_pre;	/* pre-session token */
	struct form			*query_form;	/* parsed on demand */
	bool				 db_failed;	/* acquire failed once */
	bool				 conn_close;	/* resp_close() */
};

/* A path parameter by name ("{id}"), or NULL. */
const char	*req_param(const struct req *r, const char *name);
/* A path parameter as a positive int64; false when absent or malformed. */
bool		 req_param_id(const struct req *r, const char *name,
		    int64_t *out);
/* A request header (case-insensitive), or NULL. */
const char	*req_header(const struct req *r, const char *name);
/* A decoded query-string parameter (arena), or NULL; invalid → NULL. */
const char	*req_query(struct req *r, const char *name);
/* A cookie's value (arena), or NULL. */
const char	*req_cookie(struct req *r, const char *name);
/* The client address as CivetWeb saw it. */
const char	*req_remote_addr(const struct req *r);
/*
 * A pooled database connection for this request, acquired on first use and
 * released by the router. NULL when PostgreSQL is unreachable or the pool
 * is exhausted: answer resp_unavailable().
 */
struct db	*req_db(struct req *r);

#endif
