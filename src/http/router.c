/*
 * router: route matching and the central precondition checks (see
 * router.h). One function, run_route(), holds every check in the order the
 * header gives, so a reviewer can see in one screen what a flag promises.
 */
#include "http/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "util/context.h"
#include "util/log.h"
#include "util/metrics.h"
#include "crypto/token.h"
#include "db/db.h"
#include "http/cookie.h"
#include "http/csrf.h"
#include "http/form.h"
#include "http/req.h"
#include "http/resp.h"
#include "http/session.h"
#include "util/arena.h"
#include "util/json.h"
#include "util/str.h"
#include "util/time.h"
#include "util/url.h"
#include "util/utf8.h"

/*
 * A whole request body must arrive within this. Meta's largest delivery
 * (3 MB) needs a little over 1 Mbit/s; a reverse proxy, which buffers the
 * body before passing it on (README), delivers any body in milliseconds.
 */
#define BODY_DEADLINE_MS	20000

static struct router_hooks	 hooks;

static int	run_route(struct req *);
static int	authenticate(struct req *, unsigned);
static void	discard_body(struct req *);
static int	read_body(struct req *, size_t);
static int	parse_body(struct req *);
static int	too_large(struct req *);
static int	load_session(struct req *, bool);
static int	to_login(struct req *);
static void	access_log(struct req *);
static const char *log_safe(struct arena *, const char *);

void
router_set_hooks(const struct router_hooks *h)
{
	hooks = *h;
}

int
router_match(const char *pattern, const char *path, struct req *r)
{
	const char	*p = pattern, *s = path;

	r->n_params = 0;
	while (*p && *s) {
		if (*p == '{') {
			const char	*close = strchr(p, '}');
			bool		 tail = p[1] == '*';
			const char	*end;

			if (close == NULL || r->n_params >= REQ_MAX_PARAMS)
				return 0;
			end = tail ? s + strlen(s) : strchr(s, '/');
			if (end == NULL)
				end = s + strlen(s);
			if (end == s)
				return 0;	/* empty segment */
			r->param_names[r->n_params] = arena_strndup(r->arena,
			    p + 1 + tail, (size_t)(close - p - 1 - tail));
			r->param_values[r->n_params] = arena_strndup(r->arena,
			    s, (size_t)(end - s));
			r->n_params++;
			p = close + 1;
			s = end;
			continue;
		}
		if (*p != *s)
			return 0;
		p++;
		s++;
	}
	return *p == '\0' && *s == '\0';
}

int
router_dispatch(struct mg_connection *conn, void *cbdata)
{
	struct app	*app = cbdata;
	struct req	 r;
	bool		 path_matched = false;
	int		 status;

	memset(&r, 0, sizeof(r));
	r.started_us = time_mono_us();
	r.conn = conn;
	r.ri = mg_get_request_info(conn);
	r.app = app;
	r.arena = arena_new();
	r.route_index = -1;
	buf_init(&r.extra_headers, 16 * 1024);
	token_hex(r.id, 17);
	log_set_context_id(r.id);
	r.method = r.ri->request_method;
	r.is_head = str_eq(r.method, "HEAD");
	r.path = r.ri->local_uri ? r.ri->local_uri : "/";
	r.query = r.ri->query_string ? r.ri->query_string : "";
	r.is_api = str_starts_with(r.path, "/api/") ||
	    str_starts_with(r.path, "/v1/");

	if (!utf8_valid(r.path, strlen(r.path)) ||
	    !utf8_valid(r.query, strlen(r.query))) {
		status = resp_bad_request(&r, "The address is not valid UTF-8.");
		goto out;
	}
	/* Parsed once here so no handler meets a malformed query. */
	if (form_parse_urlencoded(r.arena, r.query, strlen(r.query),
	    &r.query_form) != FORM_OK) {
		status = resp_bad_request(&r, "The address has a malformed "
		    "query string.");
		goto out;
	}
	for (int i = 0; i < app->n_routes; i++) {
		const struct route	*rt = &app->routes[i];

		if (!router_match(rt->pattern, r.path, &r))
			continue;
		path_matched = true;
		if (str_eq(rt->method, r.method) ||
		    (r.is_head && str_eq(rt->method, "GET"))) {
			r.route = rt;
			r.route_index = i;
			break;
		}
	}
	if (r.route == NULL) {
		r.n_params = 0;
		if (path_matched) {
			status = resp_error(&r, 405, "method_not_allowed",
			    "This address does not accept that method.");
		} else
			status = resp_not_found(&r);
		goto out;
	}
	status = run_route(&r);
	if (r.status == 0) {
		log_err("http", "msg=\"handler sent no response\" route=\"%s\"",
		    r.route->pattern);
		status = resp_error(&r, 500, "internal",
		    "Something went wrong on our side.");
	}
out:
	if (r.status == 0)
		r.status = status;
	access_log(&r);
	metrics_request(r.route_index, r.status,
	    time_mono_us() - r.started_us);
	if (r.db != NULL)
		db_release(r.db);
	buf_cleanup(&r.extra_headers);
	arena_free(r.arena);
	log_set_context_id(NULL);
	return r.status;
}

/*
 * Every precondition a route declares, in one place and in this order.
 * Who is asking comes before the body: a caller without a valid session
 * or token never gets a byte of it parsed (issue 10: a 999-deep JSON body
 * used to reach cJSON before the bearer token was looked at). CSRF needs
 * the form, so it comes after the body.
 */
static int
run_route(struct req *r)
{
	const struct route	*rt = r->route;
	unsigned		 f = rt->flags;
	bool			 has_body;
	int			 st;

	has_body = (f & (R_FORM | R_JSON | R_RAW)) &&
	    !str_eq(r->method, "GET") && !r->is_head;
	if ((st = authenticate(r, f)) != 0) {
		if (has_body)
			discard_body(r);
		return st;
	}
	if (has_body) {
		if ((st = read_body(r, rt->body_max ? rt->body_max :
		    ROUTE_DEFAULT_BODY_MAX)) != 0)
			return st;
		if ((st = parse_body(r)) != 0)
			return st;
	}
	if (f & (R_CSRF | R_PRE_CSRF)) {
		if (!csrf_same_origin(r))
			return resp_forbidden(r, "This form was sent from "
			    "another site, so Parley refused it.");
		if (!csrf_check(r))
			return resp_forbidden(r, "This form has expired or was "
			    "not sent from Parley. Reload the page and try "
			    "again.");
	}
	return rt->handler(r);
}

/* Session or bearer, then role; sends the refusal and returns its status. */
static int
authenticate(struct req *r, unsigned f)
{
	int	 st;

	if (f & (R_SESSION | R_SESSION_OPT)) {
		if ((st = load_session(r, (f & R_SESSION) != 0)) != 0)
			return st;
	}
	if (f & R_BEARER) {
		if (hooks.bearer == NULL)
			return resp_error(r, 401, "unauthorized",
			    "This endpoint needs an API token.");
		if ((st = hooks.bearer(r)) != 0)
			return st;
	}
	if ((f & R_OWNER) && !str_eq(r->role, "owner"))
		return resp_forbidden(r, "Only an owner of this organisation "
		    "can do this.");
	if ((f & R_ADMIN) && !str_eq(r->role, "owner") &&
	    !str_eq(r->role, "admin"))
		return resp_forbidden(r, "Only an owner or admin of this "
		    "organisation can do this.");
	return 0;
}

/*
 * After a refusal sent before the body was read: a body the route would
 * have taken is read and dropped (never stored or parsed), so the client
 * reads our answer instead of a connection reset; anything bigger or of
 * unknown length closes the connection.
 */
static void
discard_body(struct req *r)
{
	long long	 cl = r->ri->content_length;
	size_t		 max = r->route->body_max ? r->route->body_max :
			    ROUTE_DEFAULT_BODY_MAX;
	char		 chunk[4096];
	long long	 got = 0;
	int		 n;

	if (cl <= 0 || cl > (long long)max) {
		if (cl != 0)
			resp_close(r);
		return;
	}
	while (got < cl && (n = mg_read(r->conn, chunk, sizeof(chunk))) > 0)
		got += n;
	if (got < cl)
		resp_close(r);
}

static int
too_large(struct req *r)
{
	/* The rest of the body stays unread, so the connection must go. */
	resp_close(r);
	return resp_error(r, 413, "too_large",
	    "The request is larger than this address accepts.");
}

/*
 * Reads the body whole, refusing (413) past max before reading it all,
 * and (408) when it has not all arrived BODY_DEADLINE_MS after the request
 * began: CivetWeb bounds each read, not the sum, so without this a client
 * trickling its body would hold a request thread for as long as it liked
 * (http/server.c, "idle clients").
 */
static int
read_body(struct req *r, size_t max)
{
	long long	 cl = r->ri->content_length;
	struct buf	 b;
	char		 chunk[8192];
	int		 n;

	if (cl > (long long)max)
		return too_large(r);
	buf_init(&b, max);
	while ((n = mg_read(r->conn, chunk, sizeof(chunk))) > 0) {
		buf_append(&b, chunk, (size_t)n);
		if (b.err) {
			buf_cleanup(&b);
			return too_large(r);
		}
		if (time_mono_us() - r->started_us > BODY_DEADLINE_MS * 1000LL) {
			buf_cleanup(&b);
			resp_close(r);
			return resp_error(r, 408, "request_timeout", "The request "
			    "body arrived too slowly.");
		}
	}
	/* A copy, not a string dup: binary bodies may hold NUL bytes. */
	r->body_len = b.len;
	r->body = arena_alloc(r->arena, b.len + 1);
	if (b.len > 0)
		memcpy(r->body, b.data, b.len);
	buf_cleanup(&b);
	return 0;
}

static int
parse_body(struct req *r)
{
	const char		*ct = req_header(r, "Content-Type");
	enum form_result	 fr;

	if (r->route->flags & R_FORM) {
		fr = form_parse(r->arena, ct, r->body ? r->body : "",
		    r->body_len, &r->form);
		switch (fr) {
		case FORM_OK:
			return 0;
		case FORM_TOO_LARGE:
			return resp_error(r, 413, "too_large",
			    form_result_str(fr));
		case FORM_UNSUPPORTED:
			return resp_error(r, 415, "unsupported_media_type",
			    form_result_str(fr));
		default:
			return resp_bad_request(r, form_result_str(fr));
		}
	}
	if (r->route->flags & R_JSON) {
		enum json_error	 je;

		if (ct == NULL || (!str_starts_with(ct, "application/json") &&
		    strstr(ct, "+json") == NULL))
			return resp_error(r, 415, "unsupported_media_type",
			    "Send the body as application/json.");
		if (r->body == NULL || !utf8_valid(r->body, r->body_len))
			return resp_bad_request(r, "The body is not valid "
			    "UTF-8 JSON.");
		/* Bounded depth: util/json.h, never cJSON directly. */
		if ((r->json = json_parse(r->body, r->body_len, &je)) == NULL)
			return resp_error(r, 400, je == JSON_TOO_DEEP ?
			    "too_deep" : "bad_request", json_error_str(je));
		arena_defer(r->arena, (void (*)(void *))cJSON_Delete, r->json);
		if (!cJSON_IsObject(r->json))
			return resp_bad_request(r, "The body must be a JSON "
			    "object.");
	}
	return 0;
}

/* 303 to the login page, remembering where the user was going. */
static int
to_login(struct req *r)
{
	struct buf	 b;
	int		 st;

	if (r->is_api)
		return resp_error(r, 401, "unauthorized", "Sign in first.");
	buf_init(&b, 4096);
	buf_puts(&b, "/login");
	if (str_eq(r->method, "GET")) {
		char	*next = *r->query ?
		    arena_printf(r->arena, "%s?%s", r->path, r->query) :
		    arena_strdup(r->arena, r->path);

		buf_puts(&b, "?next=");
		url_encode(&b, next);
	}
	st = resp_see_other(r, b.err ? "/login" : buf_str(&b), NULL);
	buf_cleanup(&b);
	return st;
}

static int
load_session(struct req *r, bool required)
{
	const char	*tok = req_cookie(r, COOKIE_SESSION);
	struct session	*s;
	enum db_status	 st;

	if (tok == NULL || *tok == '\0')
		return required ? to_login(r) : 0;
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	s = arena_alloc(r->arena, sizeof(*s));
	st = session_lookup(r->db, r->arena, tok,
	    r->app->cfg.session_idle_minutes, s);
	if (st == DB_NOT_FOUND) {
		cookie_set(r, COOKIE_SESSION, "", 0);
		return required ? to_login(r) : 0;
	}
	if (st != DB_OK)
		return resp_unavailable(r);
	r->session = s;
	r->org_id = s->org_id;
	if (hooks.load_principal != NULL && !hooks.load_principal(r)) {
		r->session = NULL;
		r->org_id = 0;
		r->role = NULL;
		if (r->db_failed || r->db == NULL || r->db->broken)
			return resp_unavailable(r);
		cookie_set(r, COOKIE_SESSION, "", 0);
		return required ? to_login(r) : 0;
	}
	r->role = s->role;
	return hooks.session_gate != NULL ? hooks.session_gate(r) : 0;
}

/* A path for the log: printable ASCII, quotes and backslashes escaped. */
static const char *
log_safe(struct arena *a, const char *s)
{
	size_t	 n = strlen(s);
	char	*out, *o;

	if (n > 256)
		n = 256;
	out = o = arena_alloc(a, n * 4 + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char	 c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			snprintf(o, 5, "\\x%02x", c);
			o += 4;
		} else
			*o++ = (char)c;
	}
	*o = '\0';
	return out;
}

static void
access_log(struct req *r)
{
	double	 ms = (double)(time_mono_us() - r->started_us) / 1000.0;

	log_info("http", "msg=request method=%s path=\"%s\" route=\"%s\" "
	    "status=%d dur_ms=%.2f bytes=%zu ip=%s user=%lld",
	    log_safe(r->arena, r->method), log_safe(r->arena, r->path),
	    r->route ? r->route->pattern : "-", r->status, ms, r->bytes_out,
	    req_remote_addr(r),
	    (long long)(r->session ? r->session->user_id : 0));
}
