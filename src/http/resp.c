/*
 * resp: responses (see resp.h). Every byte a client gets leaves through
 * resp_send(), so the security headers cannot be forgotten by a handler.
 */
#include "http/resp.h"

#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "app/app.h"
#include "util/log.h"
#include "db/db.h"
#include "http/req.h"
#include "http/router.h"
#include "http/session.h"
#include "tmpl/tmpl.h"
#include "util/arena.h"
#include "util/str.h"
#include "util/url.h"

/*
 * No inline script or style anywhere: pages load /static/ files only, and
 * forms post only to us. frame-ancestors replaces X-Frame-Options in modern
 * browsers; we send both.
 */
#define CSP	"default-src 'self'; script-src 'self'; style-src 'self'; " \
		"img-src 'self' data:; font-src 'self'; connect-src 'self'; " \
		"form-action 'self'; frame-ancestors 'none'; " \
		"base-uri 'none'; object-src 'none'"
/* With media in an S3 store, previews, players and links are redirected
 * to presigned URLs there: its origin may serve images and media. */
#define CSP_STORE "default-src 'self'; script-src 'self'; style-src 'self'; " \
		"img-src 'self' data: %s; media-src 'self' %s; " \
		"font-src 'self'; connect-src 'self'; " \
		"form-action 'self'; frame-ancestors 'none'; " \
		"base-uri 'none'; object-src 'none'"

static resp_page_hook_fn	 page_hook;

static void	add_lines(struct mg_connection *, const char *);
static bool	begin_headers(struct req *, int, const char *);
static int	error_page(struct req *, int, const char *, const char *);

void
resp_set_page_hook(resp_page_hook_fn fn)
{
	page_hook = fn;
}

bool
resp_header(struct req *r, const char *name, const char *value)
{
	if (str_has_ctl(name) || str_has_ctl(value) || strchr(name, ':'))
		return false;
	buf_printf(&r->extra_headers, "%s: %s\r\n", name, value);
	return true;
}

/* Adds "Name: value\r\n" lines one by one (values may hold ": "). */
static void
add_lines(struct mg_connection *conn, const char *lines)
{
	const char	*p = lines;

	while (*p) {
		const char	*eol = strstr(p, "\r\n");
		const char	*colon = strchr(p, ':');
		char		 name[128];
		size_t		 nlen;

		if (eol == NULL || colon == NULL || colon > eol)
			break;
		nlen = (size_t)(colon - p);
		if (nlen >= sizeof(name))
			nlen = sizeof(name) - 1;
		memcpy(name, p, nlen);
		name[nlen] = '\0';
		colon++;
		while (*colon == ' ')
			colon++;
		mg_response_header_add(conn, name, colon, (int)(eol - colon));
		p = eol + 2;
	}
}

/*
 * Starts the response: status line, the security headers, the request id,
 * the content type, Cache-Control (no-store unless the handler chose) and
 * the handler's queued headers. False when a response was already begun.
 */
static bool
begin_headers(struct req *r, int status, const char *content_type)
{
	const char	*extra = buf_str(&r->extra_headers);

	if (r->status != 0) {
		log_err("http", "msg=\"response sent twice\" path=\"%s\"",
		    r->route ? r->route->pattern : "-");
		return false;
	}
	r->status = status;
	mg_response_header_start(r->conn, status);
	if (r->app->cfg.s3_enabled)
		mg_response_header_add(r->conn, "Content-Security-Policy",
		    arena_printf(r->arena, CSP_STORE, r->app->cfg.s3_origin,
		    r->app->cfg.s3_origin), -1);
	else
		mg_response_header_add(r->conn, "Content-Security-Policy", CSP,
		    -1);
	mg_response_header_add(r->conn, "X-Content-Type-Options", "nosniff",
	    -1);
	mg_response_header_add(r->conn, "X-Frame-Options", "DENY", -1);
	mg_response_header_add(r->conn, "Referrer-Policy", "same-origin", -1);
	mg_response_header_add(r->conn, "Cross-Origin-Opener-Policy",
	    "same-origin", -1);
	mg_response_header_add(r->conn, "Permissions-Policy",
	    "camera=(), microphone=(), geolocation=()", -1);
	if (r->app->cfg.public_is_https)
		mg_response_header_add(r->conn, "Strict-Transport-Security",
		    "max-age=31536000", -1);
	mg_response_header_add(r->conn, "X-Request-Id", r->id, -1);
	if (content_type != NULL)
		mg_response_header_add(r->conn, "Content-Type", content_type,
		    -1);
	if (strstr(extra, "Cache-Control:") == NULL)
		mg_response_header_add(r->conn, "Cache-Control", "no-store",
		    -1);
	add_lines(r->conn, extra);
	return true;
}

int
resp_send(struct req *r, int status, const char *content_type,
    const char *body, size_t len)
{
	char		 clen[32];

	if (!begin_headers(r, status, content_type))
		return r->status;
	snprintf(clen, sizeof(clen), "%zu", len);
	mg_response_header_add(r->conn, "Content-Length", clen, -1);
	mg_response_header_send(r->conn);
	if (!r->is_head && len > 0 && body != NULL)
		mg_write(r->conn, body, len);
	r->bytes_out = len;
	return status;
}

int
resp_stream_begin(struct req *r, int status, const char *content_type)
{
	if (!begin_headers(r, status, content_type))
		return r->status;
	/*
	 * No Content-Length: the body ends when the connection closes, which
	 * every HTTP/1.x client understands (chunked encoding would need a
	 * closing call every handler must remember).
	 */
	mg_disable_keep_alive(r->conn);
	mg_response_header_send(r->conn);
	return status;
}

bool
resp_stream_write(struct req *r, const void *data, size_t len)
{
	if (len == 0)
		return true;
	if (mg_write(r->conn, data, len) != (int)len)
		return false;
	r->bytes_out += len;
	return true;
}

int
resp_page(struct req *r, int status, const char *name, cJSON *ctx)
{
	char	*html;
	size_t	 len;
	int	 rc;

	if (page_hook != NULL)
		page_hook(r, ctx);
	html = tmpl_render(r->app->tmpl, name, ctx, &len);
	cJSON_Delete(ctx);
	if (html == NULL) {
		log_err("http", "msg=\"no such template\" template=%s", name);
		static const char	 msg[] = "<!doctype html><title>Error"
		    "</title><h1>Something went wrong</h1>";

		return resp_send(r, 500, "text/html; charset=utf-8", msg,
		    sizeof(msg) - 1);
	}
	rc = resp_send(r, status, "text/html; charset=utf-8", html, len);
	free(html);
	return rc;
}

int
resp_json(struct req *r, int status, const cJSON *json)
{
	char	*s = cJSON_PrintUnformatted(json);
	int	 rc;

	rc = resp_send(r, status, "application/json", s, strlen(s));
	cJSON_free(s);
	return rc;
}

int
resp_see_other(struct req *r, const char *location, const char *flash)
{
	if (!url_is_local_path(location))
		location = "/";
	if (flash != NULL && r->session != NULL && req_db(r) != NULL &&
	    session_set_flash(r->db, r->session->id, flash) != DB_OK)
		log_warn("http", "msg=\"flash not stored\"");
	resp_header(r, "Location", location);
	return resp_send(r, 303, "text/plain; charset=utf-8", "", 0);
}

/* The HTML error page, in the layout when the template set has it. */
static int
error_page(struct req *r, int status, const char *title, const char *message)
{
	cJSON	*ctx = cJSON_CreateObject();

	cJSON_AddNumberToObject(ctx, "status", status);
	cJSON_AddStringToObject(ctx, "title", title);
	cJSON_AddStringToObject(ctx, "message", message);
	if (r->app->tmpl != NULL && tmpl_set_has(r->app->tmpl, "errors/error"))
		return resp_page(r, status, "errors/error", ctx);
	cJSON_Delete(ctx);
	/* Last resort when templates are not loaded: fixed text, no input. */
	static const char	 msg[] = "<!doctype html><title>Parley</title>"
	    "<h1>Something went wrong</h1>";

	return resp_send(r, status, "text/html; charset=utf-8", msg,
	    sizeof(msg) - 1);
}

int
resp_error(struct req *r, int status, const char *code, const char *message)
{
	cJSON	*root, *err;
	int	 rc;

	if (!r->is_api) {
		const char	*title;

		switch (status) {
		case 400: title = "Bad request"; break;
		case 403: title = "Forbidden"; break;
		case 404: title = "Not found"; break;
		case 405: title = "Method not allowed"; break;
		case 413: title = "Too large"; break;
		case 429: title = "Too many requests"; break;
		case 503: title = "Temporarily unavailable"; break;
		default: title = "Error"; break;
		}
		return error_page(r, status, title, message);
	}
	root = cJSON_CreateObject();
	err = cJSON_AddObjectToObject(root, "error");
	cJSON_AddStringToObject(err, "code", code);
	cJSON_AddStringToObject(err, "message", message);
	if (str_starts_with(r->path, "/v1/")) {
		/* OpenAI's error shape also needs type and param (§5.1). */
		cJSON_AddStringToObject(err, "type", status == 401 ?
		    "authentication_error" : status == 429 ?
		    "rate_limit_error" : status >= 500 ? "api_error" :
		    status == 404 ? "not_found_error" :
		    "invalid_request_error");
		cJSON_AddNullToObject(err, "param");
	}
	rc = resp_json(r, status, root);
	cJSON_Delete(root);
	return rc;
}

int
resp_not_found(struct req *r)
{
	return resp_error(r, 404, "not_found",
	    "There is nothing at this address.");
}

int
resp_bad_request(struct req *r, const char *message)
{
	return resp_error(r, 400, "bad_request", message);
}

int
resp_forbidden(struct req *r, const char *message)
{
	return resp_error(r, 403, "forbidden", message);
}

int
resp_unavailable(struct req *r)
{
	resp_header(r, "Retry-After", "5");
	return resp_error(r, 503, "unavailable",
	    "Parley cannot reach its database right now. Try again in a "
	    "few seconds.");
}
