/*
 * resp: responses (see resp.h). Every byte a client gets leaves through
 * resp_send() (or resp_stream_begin/write), so the security headers cannot
 * be forgotten by a handler. A response is built whole (status line,
 * headers, body) and handed to the socket in one mg_write: one send(),
 * one TCP segment for a small response, where CivetWeb's own header
 * functions cost a send() per header. Only a body past RESP_COPY_MAX
 * follows its head in a second write rather than being copied.
 *
 * Thread-safety: per request; page_hook is set once before serving.
 */
#include "http/resp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <civetweb.h>

#include "util/context.h"
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

/*
 * Bodies up to this size are copied behind the head and leave in the same
 * write. A larger one (a media download, up to PARLEY_MEDIA_MAX_BYTES) is
 * many TCP segments whatever we do: it follows the head in a second write
 * instead of being copied.
 */
#define RESP_COPY_MAX	(64 * 1024)

static resp_page_hook_fn	 page_hook;

static bool	claim(struct req *, int);
static void	head_start(struct req *, struct buf *, int, const char *);
static void	head_end(struct req *, struct buf *);
static bool	client_keeps_alive(const struct req *);
static bool	has_token(const char *, const char *);
static bool	has_line(const char *, const char *);
static void	http_date(char *, size_t);
static bool	is_framing(const char *);
static int	error_page(struct req *, int, const char *, const char *);

void
resp_set_page_hook(resp_page_hook_fn fn)
{
	page_hook = fn;
}

/* Framing is resp.c's alone: a second Content-Length or Connection would
 * contradict the one it writes. */
static bool
is_framing(const char *name)
{
	return str_case_eq(name, "Content-Length") ||
	    str_case_eq(name, "Transfer-Encoding") ||
	    str_case_eq(name, "Connection");
}

bool
resp_header(struct req *r, const char *name, const char *value)
{
	if (str_has_ctl(name) || str_has_ctl(value) || strchr(name, ':') ||
	    is_framing(name))
		return false;
	buf_printf(&r->extra_headers, "%s: %s\r\n", name, value);
	return true;
}

void
resp_close(struct req *r)
{
	r->conn_close = true;
	mg_disable_keep_alive(r->conn);
}

/* True when the "Name: value\r\n" lines hold header name. */
static bool
has_line(const char *lines, const char *name)
{
	size_t	 nlen = strlen(name);

	for (const char *p = lines; *p != '\0'; ) {
		const char	*eol = strstr(p, "\r\n");

		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':')
			return true;
		if (eol == NULL)
			break;
		p = eol + 2;
	}
	return false;
}

/* True when the comma-separated header value holds token (any case). */
static bool
has_token(const char *value, const char *token)
{
	size_t	 tlen = strlen(token);

	for (const char *p = value; *p != '\0'; ) {
		size_t	 len;

		p += strspn(p, " \t,");
		len = strcspn(p, ",");
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == tlen && strncasecmp(p, token, tlen) == 0)
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/*
 * Whether the client keeps the connection: its Connection header decides
 * when it sent one, else its version (1.1 keeps, 1.0 closes), as CivetWeb
 * 1.15's should_keep_alive() reads them; and never when keep-alive is off
 * in CivetWeb's options. Where this says keep and CivetWeb would not (its
 * test matches "keep-alive" as a prefix), none of Parley's clients is.
 */
static bool
client_keeps_alive(const struct req *r)
{
	const char	*opt, *conn;

	opt = mg_get_option(mg_get_context(r->conn), "enable_keep_alive");
	if (opt == NULL || strcasecmp(opt, "yes") != 0)
		return false;
	if ((conn = req_header(r, "Connection")) != NULL)
		return has_token(conn, "keep-alive");
	return str_eq(r->ri->http_version, "1.1");
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7), in any locale. */
static void
http_date(char *out, size_t len)
{
	static const char	 days[7][4] = { "Sun", "Mon", "Tue", "Wed",
				    "Thu", "Fri", "Sat" };
	static const char	 months[12][4] = { "Jan", "Feb", "Mar", "Apr",
				    "May", "Jun", "Jul", "Aug", "Sep", "Oct",
				    "Nov", "Dec" };
	time_t			 now = time(NULL);
	struct tm		 tm;

	gmtime_r(&now, &tm);
	snprintf(out, len, "%s, %02d %s %04d %02d:%02d:%02d GMT",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Records the status; false (logged) when a response was already begun. */
static bool
claim(struct req *r, int status)
{
	if (r->status != 0) {
		log_err("http", "msg=\"response sent twice\" path=\"%s\"",
		    r->route ? r->route->pattern : "-");
		return false;
	}
	r->status = status;
	return true;
}

/*
 * The head up to the framing headers, in the order CivetWeb's header
 * functions sent it before: status line, the security headers, the
 * request id, the content type, Cache-Control (no-store unless the
 * handler chose), the handler's queued headers.
 */
static void
head_start(struct req *r, struct buf *b, int status,
    const char *content_type)
{
	const char	*extra = buf_str(&r->extra_headers);

	buf_printf(b, "HTTP/%s %d %s\r\n", str_eq(r->ri->http_version, "1.0") ?
	    "1.0" : "1.1", status, mg_get_response_code_text(r->conn, status));
	if (r->app != NULL && r->app->cfg.s3_enabled) {
		buf_puts(b, "Content-Security-Policy: ");
		buf_printf(b, CSP_STORE, r->app->cfg.s3_origin,
		    r->app->cfg.s3_origin);
		buf_puts(b, "\r\n");
	} else
		buf_puts(b, "Content-Security-Policy: " CSP "\r\n");
	buf_puts(b, "X-Content-Type-Options: nosniff\r\n"
	    "X-Frame-Options: DENY\r\n"
	    "Referrer-Policy: same-origin\r\n"
	    "Cross-Origin-Opener-Policy: same-origin\r\n"
	    "Permissions-Policy: camera=(), microphone=(), geolocation=()\r\n");
	if (r->app->cfg.public_is_https)
		buf_puts(b, "Strict-Transport-Security: max-age=31536000\r\n");
	buf_printf(b, "X-Request-Id: %s\r\n", r->id);
	if (content_type != NULL)
		buf_printf(b, "Content-Type: %s\r\n", content_type);
	if (!has_line(extra, "Cache-Control"))
		buf_puts(b, "Cache-Control: no-store\r\n");
	buf_append(b, extra, r->extra_headers.len);
}

/*
 * Date (unless the handler set one), Connection and the blank line. The
 * Connection header and CivetWeb's decision after the handler agree:
 * whenever this says close, CivetWeb is told to close.
 */
static void
head_end(struct req *r, struct buf *b)
{
	char	 date[40];

	if (!has_line(buf_str(&r->extra_headers), "Date")) {
		http_date(date, sizeof(date));
		buf_printf(b, "Date: %s\r\n", date);
	}
	if (!r->conn_close && !client_keeps_alive(r))
		resp_close(r);
	buf_puts(b, r->conn_close ? "Connection: close\r\n\r\n" :
	    "Connection: keep-alive\r\n\r\n");
}

/*
 * The whole response in one buffer and one mg_write (the body in a
 * second one past RESP_COPY_MAX): CivetWeb's header functions would send
 * the status line and every header in a send() of its own (13 to 16 per
 * response under strace; issue 17). Writing raw bytes bypasses nothing
 * CivetWeb needs afterwards: it logs the status the handler returns,
 * counts the bytes mg_write sends and decides keep-alive from the request
 * and mg_disable_keep_alive, which head_end keeps in step. 1xx, 204 and
 * 304 carry neither body nor Content-Length (RFC 9110 §8.6,
 * §15.4.5); HEAD carries the GET's Content-Length and no body.
 */
int
resp_send(struct req *r, int status, const char *content_type,
    const char *body, size_t len)
{
	struct buf	 b;
	bool		 has_body = status >= 200 && status != 204 &&
			    status != 304;
	size_t		 send_len = len;

	if (!claim(r, status))
		return r->status;
	if (!has_body || r->is_head || body == NULL)
		send_len = 0;
	buf_init(&b, 0);
	head_start(r, &b, status, content_type);
	if (has_body)
		buf_printf(&b, "Content-Length: %zu\r\n", len);
	head_end(r, &b);
	if (send_len > 0 && send_len <= RESP_COPY_MAX) {
		buf_append(&b, body, send_len);
		send_len = 0;
	}
	if (mg_write(r->conn, b.data, b.len) == (int)b.len && send_len > 0)
		mg_write(r->conn, body, send_len);
	buf_cleanup(&b);
	r->bytes_out = has_body ? len : 0;
	return status;
}

int
resp_stream_begin(struct req *r, int status, const char *content_type)
{
	struct buf	 b;

	if (!claim(r, status))
		return r->status;
	/*
	 * No Content-Length: the body ends when the connection closes, which
	 * every HTTP/1.x client understands (chunked encoding would need a
	 * closing call every handler must remember).
	 */
	resp_close(r);
	buf_init(&b, 0);
	head_start(r, &b, status, content_type);
	head_end(r, &b);
	mg_write(r->conn, b.data, b.len);
	buf_cleanup(&b);
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
