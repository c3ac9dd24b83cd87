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
	bool		 must_change_password;	/* one-time password in use */
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
/*
 * req_query, but NULL for an empty value too; r is a struct req (void *
 * so that it can be handed to readers such as review_filter_read).
 */
const char	*req_query_set(void *r, const char *name);
/* A cookie's value (arena), or NULL. */
const char	*req_cookie(struct req *r, const char *name);
/*
 * The client's address, the one every use of it takes (sign-in
 * throttling, the audit log, the access log, webhook events): the TCP
 * peer's, unless the peer is inside PARLEY_TRUSTED_PROXIES, in which case
 * the right-most X-Forwarded-For address that is not itself a trusted
 * proxy. From any other peer X-Forwarded-For is ignored. Arena or
 * CivetWeb memory, valid for the request.
 */
const char	*req_remote_addr(const struct req *r);
/*
 * Whether the client spoke HTTPS: the connection's own TLS, or, only from
 * a trusted proxy, X-Forwarded-Proto (its right-most value) = https.
 */
bool		 req_is_https(const struct req *r);
/*
 * A pooled database connection for this request, acquired on first use and
 * released by the router. NULL when PostgreSQL is unreachable or the pool
 * is exhausted: answer resp_unavailable().
 */
struct db	*req_db(struct req *r);
/*
 * Gives the request's connection back to the pool before a call that
 * takes long or takes connections of its own (a provider's answer,
 * ingest_store, the model), so one request never holds one across it;
 * req_db takes one again. A no-op when none is held.
 */
void		 req_release_db(struct req *r);

#endif
