/*
 * resp: every response goes out through resp_send(), which adds the
 * security headers (CSP without inline script, nosniff, frame denial,
 * referrer policy), the request id and any queued cookies. Each helper
 * returns the status it sent, so a handler's branch is one `return`.
 * Panel pages render through Mustache; /api/ and /v1/ errors are the JSON
 * envelope {"error":{"code","message"}}.
 *
 * A response leaves in one write: resp.c formats the status line, every
 * header (Date and Connection included) and the body into one buffer and
 * hands it to CivetWeb's mg_write once, instead of CivetWeb's header
 * functions, which send each header on its own (a body over 64 KiB is
 * not copied: it follows the head in a second write). So resp.c owns the
 * framing: Content-Length, and Connection, which must match what CivetWeb
 * does after the handler. Nothing else may call mg_write,
 * mg_response_header_* or mg_disable_keep_alive on a request: use
 * resp_close() to end the connection after a response.
 */
#ifndef PARLEY_HTTP_RESP_H
#define PARLEY_HTTP_RESP_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

struct req;

/* Queues a response header; refuses (false) a name or value with CR/LF
 * and the framing headers resp.c writes itself (Content-Length,
 * Transfer-Encoding, Connection). */
bool	 resp_header(struct req *r, const char *name, const char *value);
/*
 * The connection closes after this request's response, which says
 * "Connection: close": for a response that leaves the request's body
 * unread (413 before the body). Call before the response is sent.
 */
void	 resp_close(struct req *r);
/*
 * Sends status, headers and body (len bytes) in one write (two past
 * 64 KiB of body). HEAD sends the headers only, with the body's
 * Content-Length; 1xx, 204 and 304 send neither body nor Content-Length
 * (RFC 9110 §8.6).
 */
int	 resp_send(struct req *r, int status, const char *content_type,
	    const char *body, size_t len);
/*
 * Streaming (server-sent events): resp_stream_begin sends the status and
 * every header resp_send would, in one write, but no Content-Length and
 * "Connection: close": the body ends when the handler returns and the
 * connection closes. Returns the status. resp_stream_write then sends
 * bytes as they come (CivetWeb writes through to the socket: no flush
 * needed); false once the client has gone, after which the caller should
 * stop writing. Only after resp_stream_begin.
 */
int	 resp_stream_begin(struct req *r, int status,
	    const char *content_type);
bool	 resp_stream_write(struct req *r, const void *data, size_t len);
/*
 * Renders template `name` with ctx (taken: resp_page frees it) after the
 * page hook has added the layout keys (user, org, nav, csrf, flash).
 */
int	 resp_page(struct req *r, int status, const char *name, cJSON *ctx);
/* Sends json (not taken) as application/json. */
int	 resp_json(struct req *r, int status, const cJSON *json);
/* 303 to a local path, with an optional flash message for the next page. */
int	 resp_see_other(struct req *r, const char *location, const char *flash);
/* An error: JSON envelope on API paths, else the HTML error page. */
int	 resp_error(struct req *r, int status, const char *code,
	    const char *message);
int	 resp_not_found(struct req *r);
int	 resp_bad_request(struct req *r, const char *message);
int	 resp_forbidden(struct req *r, const char *message);
/* 503 with Retry-After: a dependency (database) is unavailable. */
int	 resp_unavailable(struct req *r);

/* Hook that adds the layout's keys to a page context (set by app/). */
typedef void	(*resp_page_hook_fn)(struct req *r, cJSON *ctx);
void	 resp_set_page_hook(resp_page_hook_fn fn);

#endif
