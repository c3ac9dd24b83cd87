/*
 * fake_whatsapp: one local stand-in for the three WhatsApp send APIs
 * Parley talks to (PROTOCOLS.md §1.4, §2.5, §2.7, §3.4), for tests. It
 * speaks their real wire formats:
 *
 *   POST /2010-04-01/Accounts/{AccountSid}/Messages.json      twilio, send
 *        HTTP Basic "{AccountSid}:{token}" (the user must be the SID of
 *        the path); form To, From, Body (<= 1600 characters, else 400 code
 *        21617), StatusCallback, MediaUrl, ContentSid... To and From must
 *        both be "whatsapp:" addresses or neither (21910). 201 with a
 *        Message resource {"sid":"SM<32 hex>","status":"queued",...}.
 *   POST /v2/Indicators/Typing.json                             twilio, typing
 *        Basic auth; form channel=whatsapp, messageId → {"success":true}.
 *   POST /{version}/{phone_number_id}/messages                  meta
 *        "Authorization: Bearer T"; JSON body. type "text" (text.body
 *        <= 4096 characters, else 400 code 131009), "reaction"
 *        (reaction.message_id required, emoji "" allowed: removal), other
 *        types accepted as they are → {"messaging_product":"whatsapp",
 *        "contacts":[{"input","wa_id"}],"messages":[{"id":"wamid.…"}]}.
 *        {"status":"read","message_id"} (+ typing_indicator) is op
 *        "typing" → {"success":true}.
 *   POST /meta/whatsapp/{version}/{phone_number_id}/messages    kapso
 *        "X-API-Key: K"; everything else as Meta.
 *
 * Errors are each provider's own shape: Twilio {"code","message",
 * "more_info","status"}; Meta and Kapso {"error":{"message","type":
 * "OAuthException","code","error_data":{"messaging_product","details"},
 * "fbtrace_id"}}. Missing or wrong credentials answer 401 (Twilio 20003,
 * Meta/Kapso 190) without consuming a spec.
 *
 * Control API (no auth):
 *
 *   POST /_fake/queue     one spec or an array of them, appended. A spec
 *                         is consumed by the next request it matches:
 *     provider   "twilio" | "meta" | "kapso" | "any" (default "any")
 *     op         "send" (default: Twilio Messages.json, Meta/Kapso
 *                message bodies) | "typing" (Twilio Typing.json,
 *                Meta/Kapso {"status":"read"}) | "any"
 *     status     HTTP status; absent or 2xx: the normal answer
 *     code       provider error code for the default error body
 *     message    text for the default error body
 *     body       the answer body verbatim: a string, or JSON (object or
 *                array) sent serialised; with a non-2xx status and no
 *                body, the provider-style default error for that status
 *     headers    {"Name":"value"} extra response headers (Retry-After)
 *     id         the message id to answer with (2xx)
 *     delay_ms   sleep before answering (client timeouts)
 *     drop       true: close the connection without an answer
 *   GET  /_fake/queue     {"queued": n}
 *   POST /_fake/reset     clears the queue and the request log
 *   GET  /_fake/requests  every provider request, in order of arrival:
 *     [{"provider","op","method","path","auth" (the Authorization or
 *       X-API-Key value, or null),"user","password" (Twilio Basic, decoded),
 *       "form": {…} (Twilio; a repeated field becomes an array) or
 *       "json": {…} (Meta, Kapso; "raw" when not JSON),
 *       "answered": HTTP status (null while pending, 0 when dropped),
 *       "dropped": bool, "id": the message id answered, or null,
 *       "seq": 1, 2, … since the start}]
 *
 * A request that fails authentication (401) or is not a POST consumes no
 * spec. A spec's delay and drop come before the fake's own checks; its
 * status, when not 2xx, replaces them.
 *
 * Usage: fake_whatsapp --port N [--twilio-token T] [--meta-token T]
 * [--kapso-key K]; a given credential must then match exactly (401
 * otherwise). Prints "ready" once listening on 127.0.0.1:N; SIGTERM or
 * SIGINT stop it with exit 0.
 *
 * Thread-safety: CivetWeb answers on several threads; the queue, the log
 * and the id generator sit behind one mutex, and a handler works on its
 * own copy of a spec. A log entry is found again by its sequence number
 * (never by pointer) since a reset may free it meanwhile. Bodies, the
 * queue and the log are bounded.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>
#include <cjson/cJSON.h>
#include <sodium.h>

#include "util/buf.h"
#include "util/url.h"
#include "util/xmalloc.h"

#define FAKE_BODY_MAX		(1024u * 1024)
#define FAKE_QUEUE_MAX		1000
#define FAKE_LOG_MAX		10000
#define FAKE_DELAY_MAX_MS	120000
#define TWILIO_BODY_MAX		1600
#define META_BODY_MAX		4096

enum endpoint {
	EP_NONE = 0,
	EP_TWILIO_MESSAGES,
	EP_TWILIO_TYPING,
	EP_META,		/* Meta or Kapso messages */
};

/* One provider request being answered. */
struct call {
	struct mg_connection	*conn;
	const char		*provider;	/* "twilio" "meta" "kapso" */
	const char		*op;		/* "send" "typing" */
	enum endpoint		 ep;
	char			 sid[64];	/* Twilio: from the path */
	char			 user[128];	/* Twilio Basic */
	char			 password[256];
	bool			 has_basic;
	const char		*auth;		/* header value or NULL */
	cJSON			*form;		/* Twilio */
	cJSON			*json;		/* Meta, Kapso */
	cJSON			*spec;		/* ours, or NULL */
	long			 seq;
	char			 id[96];	/* answered id, "" when none */
};

static void	 on_signal(int sig);
static int	 log_message(const struct mg_connection *conn,
		    const char *msg);
static void	 sleep_ms(int ms);
static int	 json_int(const cJSON *o, const char *name, int dflt);
static const char *json_str(const cJSON *o, const char *name);
static char	*read_body(struct mg_connection *conn, size_t *len,
		    bool *too_big);
static void	 send_body(struct mg_connection *conn, int status,
		    const char *body, size_t len, const cJSON *headers);
static void	 send_json(struct mg_connection *conn, int status,
		    const cJSON *obj, const cJSON *headers);
static int	 handler(struct mg_connection *conn, void *cbdata);
static int	 handle_control(struct mg_connection *conn,
		    const struct mg_request_info *ri);
static int	 queue_push(const cJSON *specs);
static cJSON	*queue_pop(const char *provider, const char *op);
static bool	 spec_matches(const cJSON *spec, const char *provider,
		    const char *op);
static enum endpoint classify(const char *path, const char **provider,
		    char *sid, size_t sidlen);
static int	 handle_provider(struct mg_connection *conn,
		    const struct mg_request_info *ri, enum endpoint ep,
		    const char *provider, const char *sid);
static cJSON	*parse_form(const char *body, size_t len);
static void	 parse_basic(struct call *c);
static long	 log_add(const struct call *c, const char *method,
		    const char *path, const char *raw);
static void	 log_answer(long seq, int status, bool dropped,
		    const char *id);
static bool	 authorized(const struct call *c);
static int	 answer_spec_error(struct call *c, int status);
static int	 answer_error(struct call *c, int status, int code,
		    const char *message, const cJSON *headers);
static int	 default_code(const char *provider, int status);
static const char *default_message(int status);
static int	 answer_twilio_message(struct call *c, const cJSON *headers);
static int	 answer_twilio_typing(struct call *c, const cJSON *headers);
static int	 answer_meta(struct call *c, const cJSON *headers);
static int	 answer_ok(struct call *c, int status, cJSON *dflt,
		    const cJSON *headers);
static const char *form_str(const cJSON *form, const char *name);
static size_t	 utf8_chars(const char *s);
static void	 random_id(char *dst, size_t len, const char *prefix,
		    const char *alphabet, size_t n);
static void	 rfc2822_now(char *dst, size_t len);

static volatile sig_atomic_t	 stopping;
static pthread_mutex_t		 lock = PTHREAD_MUTEX_INITIALIZER;
static cJSON			*queue;		/* array of specs */
static cJSON			*reqlog;	/* array of requests */
static long			 next_seq;	/* under lock */
static const char		*twilio_token;	/* NULL: any */
static const char		*meta_token;
static const char		*kapso_key;

static const char	 HEX[] = "0123456789abcdef";
static const char	 B64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int
log_message(const struct mg_connection *conn, const char *msg)
{
	(void)conn;
	fprintf(stderr, "fake_whatsapp: civetweb: %s\n", msg);
	return 1;
}

/* Sleeps in small steps so a stopping server is not held up. */
static void
sleep_ms(int ms)
{
	struct timespec	 ts;
	int		 step;

	while (ms > 0 && !stopping) {
		step = ms > 10 ? 10 : ms;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)step * 1000000L;
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
		ms -= step;
	}
}

static int
json_int(const cJSON *o, const char *name, int dflt)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? v->valueint : dflt;
}

static const char *
json_str(const cJSON *o, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The whole request body (NUL-terminated, malloc'd), bounded. */
static char *
read_body(struct mg_connection *conn, size_t *len, bool *too_big)
{
	struct buf	 b;
	char		 tmp[8192];
	int		 n;

	*too_big = false;
	buf_init(&b, FAKE_BODY_MAX);
	while ((n = mg_read(conn, tmp, sizeof(tmp))) > 0) {
		buf_append(&b, tmp, (size_t)n);
		if (b.err) {
			*too_big = true;
			break;
		}
	}
	return buf_steal(&b, len);
}

static void
send_body(struct mg_connection *conn, int status, const char *body,
    size_t len, const cJSON *headers)
{
	const cJSON	*h;
	char		 clen[32];

	snprintf(clen, sizeof(clen), "%zu", len);
	mg_response_header_start(conn, status);
	mg_response_header_add(conn, "Content-Type", "application/json", -1);
	mg_response_header_add(conn, "Content-Length", clen, -1);
	cJSON_ArrayForEach(h, headers) {
		if (cJSON_IsString(h) && h->string != NULL)
			mg_response_header_add(conn, h->string,
			    h->valuestring, -1);
	}
	mg_response_header_send(conn);
	if (len > 0)
		mg_write(conn, body, len);
}

static void
send_json(struct mg_connection *conn, int status, const cJSON *obj,
    const cJSON *headers)
{
	char	*s = cJSON_PrintUnformatted(obj);

	if (s == NULL)
		abort();
	send_body(conn, status, s, strlen(s), headers);
	free(s);
}

static int
handler(struct mg_connection *conn, void *cbdata)
{
	const struct mg_request_info	*ri = mg_get_request_info(conn);
	const char			*provider = NULL;
	char				 sid[64];
	enum endpoint			 ep;
	cJSON				*err;
	int				 status = 404;

	(void)cbdata;
	if (strncmp(ri->local_uri, "/_fake/", 7) == 0)
		return handle_control(conn, ri);
	if ((ep = classify(ri->local_uri, &provider, sid, sizeof(sid))) !=
	    EP_NONE)
		return handle_provider(conn, ri, ep, provider, sid);
	err = cJSON_CreateObject();
	cJSON_AddStringToObject(err, "message", "Unknown path.");
	send_json(conn, status, err, NULL);
	cJSON_Delete(err);
	return status;
}

/* --- control API ---------------------------------------------------------- */

static int
handle_control(struct mg_connection *conn, const struct mg_request_info *ri)
{
	const char	*path = ri->local_uri;
	bool		 is_post = strcmp(ri->request_method, "POST") == 0;
	bool		 too_big = false;
	char		*body = NULL;
	size_t		 len = 0;
	cJSON		*specs = NULL, *out = NULL;
	int		 n, status = 200;

	if (is_post)
		body = read_body(conn, &len, &too_big);
	if (is_post && strcmp(path, "/_fake/queue") == 0) {
		out = cJSON_CreateObject();
		if (too_big || (specs = cJSON_ParseWithLength(body, len)) ==
		    NULL || !(cJSON_IsObject(specs) || cJSON_IsArray(specs))) {
			status = 400;
			cJSON_AddStringToObject(out, "message", "The body must "
			    "be a spec object or an array of them.");
		} else if ((n = queue_push(specs)) < 0) {
			status = 400;
			cJSON_AddStringToObject(out, "message", "The queue is "
			    "full or a spec is not an object.");
		} else
			cJSON_AddNumberToObject(out, "queued", n);
	} else if (!is_post && strcmp(path, "/_fake/queue") == 0) {
		out = cJSON_CreateObject();
		pthread_mutex_lock(&lock);
		cJSON_AddNumberToObject(out, "queued",
		    cJSON_GetArraySize(queue));
		pthread_mutex_unlock(&lock);
	} else if (is_post && strcmp(path, "/_fake/reset") == 0) {
		pthread_mutex_lock(&lock);
		cJSON_Delete(queue);
		cJSON_Delete(reqlog);
		queue = cJSON_CreateArray();
		reqlog = cJSON_CreateArray();
		pthread_mutex_unlock(&lock);
		out = cJSON_CreateObject();
		cJSON_AddTrueToObject(out, "ok");
	} else if (!is_post && strcmp(path, "/_fake/requests") == 0) {
		pthread_mutex_lock(&lock);
		out = cJSON_Duplicate(reqlog, true);
		pthread_mutex_unlock(&lock);
	} else {
		status = 404;
		out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "message",
		    "Unknown control path.");
	}
	send_json(conn, status, out, NULL);
	cJSON_Delete(out);
	cJSON_Delete(specs);
	free(body);
	return status;
}

/* Appends copies of the specs; the new queue length, -1 when refused. */
static int
queue_push(const cJSON *specs)
{
	const cJSON	*s;
	int		 n, add, rc = -1;

	add = cJSON_IsArray(specs) ? cJSON_GetArraySize(specs) : 1;
	if (cJSON_IsArray(specs)) {
		cJSON_ArrayForEach(s, specs)
			if (!cJSON_IsObject(s))
				return -1;
	}
	pthread_mutex_lock(&lock);
	n = cJSON_GetArraySize(queue);
	if (n + add > FAKE_QUEUE_MAX)
		goto out;
	if (cJSON_IsArray(specs)) {
		cJSON_ArrayForEach(s, specs)
			cJSON_AddItemToArray(queue, cJSON_Duplicate(s, true));
	} else
		cJSON_AddItemToArray(queue, cJSON_Duplicate(specs, true));
	rc = n + add;
out:
	pthread_mutex_unlock(&lock);
	return rc;
}

static bool
spec_matches(const cJSON *spec, const char *provider, const char *op)
{
	const char	*p = json_str(spec, "provider");
	const char	*o = json_str(spec, "op");

	if (p != NULL && strcmp(p, "any") != 0 && strcmp(p, provider) != 0)
		return false;
	if (o == NULL)
		o = "send";
	return strcmp(o, "any") == 0 || strcmp(o, op) == 0;
}

/* The first queued spec matching (the caller deletes it), or NULL. */
static cJSON *
queue_pop(const char *provider, const char *op)
{
	cJSON	*s, *found = NULL;

	pthread_mutex_lock(&lock);
	cJSON_ArrayForEach(s, queue) {
		if (spec_matches(s, provider, op)) {
			found = cJSON_DetachItemViaPointer(queue, s);
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return found;
}

/* --- request log ---------------------------------------------------------- */

/* Logs a provider request on arrival; its sequence number. */
static long
log_add(const struct call *c, const char *method, const char *path,
    const char *raw)
{
	cJSON	*e = cJSON_CreateObject();
	long	 seq;

	cJSON_AddStringToObject(e, "provider", c->provider);
	cJSON_AddStringToObject(e, "op", c->op);
	cJSON_AddStringToObject(e, "method", method);
	cJSON_AddStringToObject(e, "path", path);
	if (c->auth != NULL)
		cJSON_AddStringToObject(e, "auth", c->auth);
	else
		cJSON_AddNullToObject(e, "auth");
	if (c->has_basic) {
		cJSON_AddStringToObject(e, "user", c->user);
		cJSON_AddStringToObject(e, "password", c->password);
	}
	if (c->form != NULL)
		cJSON_AddItemToObject(e, "form", cJSON_Duplicate(c->form,
		    true));
	else if (c->json != NULL)
		cJSON_AddItemToObject(e, "json", cJSON_Duplicate(c->json,
		    true));
	else
		cJSON_AddStringToObject(e, "raw", raw != NULL ? raw : "");
	cJSON_AddNullToObject(e, "answered");
	cJSON_AddFalseToObject(e, "dropped");
	cJSON_AddNullToObject(e, "id");

	pthread_mutex_lock(&lock);
	seq = ++next_seq;
	cJSON_AddNumberToObject(e, "seq", (double)seq);
	if (cJSON_GetArraySize(reqlog) < FAKE_LOG_MAX) {
		cJSON_AddItemToArray(reqlog, e);
		e = NULL;
	}
	pthread_mutex_unlock(&lock);
	cJSON_Delete(e);
	return seq;
}

/* Records the answer of request seq, if it is still in the log. */
static void
log_answer(long seq, int status, bool dropped, const char *id)
{
	cJSON	*e;

	pthread_mutex_lock(&lock);
	cJSON_ArrayForEach(e, reqlog) {
		if (json_int(e, "seq", -1) != seq)
			continue;
		cJSON_ReplaceItemInObjectCaseSensitive(e, "answered",
		    cJSON_CreateNumber(status));
		cJSON_ReplaceItemInObjectCaseSensitive(e, "dropped",
		    cJSON_CreateBool(dropped));
		if (id != NULL && id[0] != '\0')
			cJSON_ReplaceItemInObjectCaseSensitive(e, "id",
			    cJSON_CreateString(id));
		break;
	}
	pthread_mutex_unlock(&lock);
}

/* --- provider requests ---------------------------------------------------- */

/* Which API a path belongs to; the Twilio AccountSid goes to sid. */
static enum endpoint
classify(const char *path, const char **provider, char *sid, size_t sidlen)
{
	static const char	 tw[] = "/2010-04-01/Accounts/";
	const char		*p, *slash;
	size_t			 n, segs;

	sid[0] = '\0';
	if (strcmp(path, "/v2/Indicators/Typing.json") == 0) {
		*provider = "twilio";
		return EP_TWILIO_TYPING;
	}
	if (strncmp(path, tw, sizeof(tw) - 1) == 0) {
		p = path + sizeof(tw) - 1;
		if ((slash = strchr(p, '/')) == NULL ||
		    strcmp(slash, "/Messages.json") != 0)
			return EP_NONE;
		n = (size_t)(slash - p);
		if (n == 0 || n >= sidlen)
			return EP_NONE;
		memcpy(sid, p, n);
		sid[n] = '\0';
		*provider = "twilio";
		return EP_TWILIO_MESSAGES;
	}
	n = strlen(path);
	if (n < 10 || strcmp(path + n - 9, "/messages") != 0)
		return EP_NONE;
	for (segs = 0, p = path; *p != '\0'; p++)
		segs += *p == '/';
	if (strncmp(path, "/meta/whatsapp/", 15) == 0 && segs == 5) {
		*provider = "kapso";
		return EP_META;
	}
	/* /{version}/{pnid}/messages, or /{pnid}/messages unversioned. */
	if (segs == 2 || segs == 3) {
		*provider = "meta";
		return EP_META;
	}
	return EP_NONE;
}

/* application/x-www-form-urlencoded → object; repeats become arrays. */
static cJSON *
parse_form(const char *body, size_t len)
{
	cJSON		*form = cJSON_CreateObject(), *prev, *arr;
	const char	*p = body, *end = body + len, *amp, *eq;
	char		*name, *value;
	size_t		 nlen, vlen, olen;

	while (p < end) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		nlen = (size_t)((eq != NULL ? eq : amp) - p);
		vlen = eq != NULL ? (size_t)(amp - eq - 1) : 0;
		name = xmalloc(nlen + 1);
		value = xmalloc(vlen + 1);
		if (nlen > 0 && url_decode(name, p, nlen, true, &olen) &&
		    url_decode(value, eq != NULL ? eq + 1 : "", vlen, true,
		    &olen)) {
			prev = cJSON_GetObjectItemCaseSensitive(form, name);
			if (prev == NULL)
				cJSON_AddStringToObject(form, name, value);
			else if (cJSON_IsArray(prev))
				cJSON_AddItemToArray(prev,
				    cJSON_CreateString(value));
			else {
				arr = cJSON_CreateArray();
				cJSON_AddItemToArray(arr,
				    cJSON_Duplicate(prev, true));
				cJSON_AddItemToArray(arr,
				    cJSON_CreateString(value));
				cJSON_ReplaceItemInObjectCaseSensitive(form,
				    name, arr);
			}
		}
		free(name);
		free(value);
		p = amp + 1;
	}
	return form;
}

/* Decodes "Authorization: Basic base64(user:password)" into c. */
static void
parse_basic(struct call *c)
{
	unsigned char	 raw[400];
	size_t		 n;
	const char	*colon;

	if (c->auth == NULL || strncasecmp(c->auth, "Basic ", 6) != 0)
		return;
	if (sodium_base642bin(raw, sizeof(raw) - 1, c->auth + 6,
	    strlen(c->auth + 6), NULL, &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0)
		return;
	raw[n] = '\0';
	if ((colon = strchr((const char *)raw, ':')) == NULL ||
	    (size_t)(colon - (const char *)raw) >= sizeof(c->user) ||
	    strlen(colon + 1) >= sizeof(c->password))
		return;
	memcpy(c->user, raw, (size_t)(colon - (const char *)raw));
	c->user[colon - (const char *)raw] = '\0';
	snprintf(c->password, sizeof(c->password), "%s", colon + 1);
	c->has_basic = true;
}

static bool
authorized(const struct call *c)
{
	if (strcmp(c->provider, "twilio") == 0) {
		if (!c->has_basic || c->user[0] == '\0' ||
		    c->password[0] == '\0')
			return false;
		if (c->ep == EP_TWILIO_MESSAGES && strcmp(c->user,
		    c->sid) != 0)
			return false;
		return twilio_token == NULL ||
		    strcmp(c->password, twilio_token) == 0;
	}
	if (strcmp(c->provider, "meta") == 0) {
		if (c->auth == NULL || strncmp(c->auth, "Bearer ", 7) != 0 ||
		    c->auth[7] == '\0')
			return false;
		return meta_token == NULL || strcmp(c->auth + 7,
		    meta_token) == 0;
	}
	if (c->auth == NULL || c->auth[0] == '\0')
		return false;
	return kapso_key == NULL || strcmp(c->auth, kapso_key) == 0;
}

static int
handle_provider(struct mg_connection *conn, const struct mg_request_info *ri,
    enum endpoint ep, const char *provider, const char *sid)
{
	struct call	 c;
	const cJSON	*headers = NULL;
	char		*body = NULL;
	size_t		 len = 0;
	bool		 too_big = false;
	int		 status, delay;

	memset(&c, 0, sizeof(c));
	c.conn = conn;
	c.provider = provider;
	c.ep = ep;
	snprintf(c.sid, sizeof(c.sid), "%s", sid);
	c.auth = mg_get_header(conn, strcmp(provider, "kapso") == 0 ?
	    "X-API-Key" : "Authorization");
	parse_basic(&c);
	body = read_body(conn, &len, &too_big);
	if (ep == EP_META) {
		if (!too_big)
			c.json = cJSON_ParseWithLength(body, len);
		c.op = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c.json,
		    "status")) ? "typing" : "send";
	} else {
		if (!too_big)
			c.form = parse_form(body, len);
		c.op = ep == EP_TWILIO_TYPING ? "typing" : "send";
	}
	c.seq = log_add(&c, ri->request_method, ri->local_uri,
	    too_big ? "(too large)" : body);

	if (strcmp(ri->request_method, "POST") != 0) {
		status = answer_error(&c, 405, 0, "Method not allowed.", NULL);
		goto out;
	}
	if (too_big) {
		status = answer_error(&c, 413, 0, "Request entity too large.",
		    NULL);
		goto out;
	}
	if (!authorized(&c)) {
		status = answer_error(&c, 401, 0, NULL, NULL);
		goto out;
	}
	c.spec = queue_pop(c.provider, c.op);
	headers = cJSON_GetObjectItemCaseSensitive(c.spec, "headers");
	delay = json_int(c.spec, "delay_ms", 0);
	if (delay > 0)
		sleep_ms(delay > FAKE_DELAY_MAX_MS ? FAKE_DELAY_MAX_MS : delay);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c.spec, "drop"))) {
		/* Nothing written: CivetWeb closes the connection. */
		log_answer(c.seq, 0, true, NULL);
		status = 200;
		goto done;
	}
	status = json_int(c.spec, "status", 0);
	if (status != 0 && (status < 200 || status > 299)) {
		status = answer_spec_error(&c, status);
		goto out;
	}
	switch (ep) {
	case EP_TWILIO_MESSAGES:
		status = answer_twilio_message(&c, headers);
		break;
	case EP_TWILIO_TYPING:
		status = answer_twilio_typing(&c, headers);
		break;
	default:
		status = answer_meta(&c, headers);
		break;
	}
out:
	log_answer(c.seq, status, false, c.id);
done:
	cJSON_Delete(c.form);
	cJSON_Delete(c.json);
	cJSON_Delete(c.spec);
	free(body);
	return status;
}

/* A scripted error: the spec's body verbatim, or the provider default. */
static int
answer_spec_error(struct call *c, int status)
{
	const cJSON	*body = cJSON_GetObjectItemCaseSensitive(c->spec,
			    "body");
	const cJSON	*headers = cJSON_GetObjectItemCaseSensitive(c->spec,
			    "headers");

	if (cJSON_IsString(body)) {
		send_body(c->conn, status, body->valuestring,
		    strlen(body->valuestring), headers);
		return status;
	}
	if (cJSON_IsObject(body) || cJSON_IsArray(body)) {
		send_json(c->conn, status, body, headers);
		return status;
	}
	return answer_error(c, status, json_int(c->spec, "code", 0),
	    json_str(c->spec, "message"), headers);
}

static int
default_code(const char *provider, int status)
{
	bool	 is_twilio = strcmp(provider, "twilio") == 0;

	switch (status) {
	case 400:
		return is_twilio ? 21211 : 131009;
	case 401:
		return is_twilio ? 20003 : 190;
	case 403:
		return is_twilio ? 20403 : 10;
	case 404:
		return is_twilio ? 20404 : 100;
	case 409:
		return is_twilio ? 20409 : 409;
	case 429:
		return is_twilio ? 20429 : 130429;
	default:
		if (status >= 500)
			return is_twilio ? 20500 : 131000;
		return is_twilio ? 21211 : 131009;
	}
}

static const char *
default_message(int status)
{
	switch (status) {
	case 400:
		return "Invalid parameter";
	case 401:
		return "Authenticate";
	case 403:
		return "Permission denied";
	case 404:
		return "The requested resource was not found";
	case 409:
		return "Another message is in flight for this conversation; "
		    "retry shortly.";
	case 429:
		return "Rate limit hit";
	default:
		return status >= 500 ? "Something went wrong" :
		    "Invalid parameter";
	}
}

/* The provider-shaped error body; code/message 0/NULL: the defaults. */
static int
answer_error(struct call *c, int status, int code, const char *message,
    const cJSON *headers)
{
	cJSON	*root = cJSON_CreateObject(), *err, *data;
	char	 more[128], text[600], trace[32];

	if (code == 0)
		code = default_code(c->provider, status);
	if (message == NULL)
		message = default_message(status);
	if (strcmp(c->provider, "twilio") == 0) {
		snprintf(more, sizeof(more),
		    "https://www.twilio.com/docs/errors/%d", code);
		cJSON_AddNumberToObject(root, "code", code);
		cJSON_AddStringToObject(root, "message", message);
		cJSON_AddStringToObject(root, "more_info", more);
		cJSON_AddNumberToObject(root, "status", status);
	} else {
		snprintf(text, sizeof(text), "(#%d) %s", code, message);
		random_id(trace, sizeof(trace), "A", B64, 23);
		err = cJSON_AddObjectToObject(root, "error");
		cJSON_AddStringToObject(err, "message", text);
		cJSON_AddStringToObject(err, "type", "OAuthException");
		cJSON_AddNumberToObject(err, "code", code);
		data = cJSON_AddObjectToObject(err, "error_data");
		cJSON_AddStringToObject(data, "messaging_product", "whatsapp");
		cJSON_AddStringToObject(data, "details", message);
		cJSON_AddStringToObject(err, "fbtrace_id", trace);
	}
	send_json(c->conn, status, root, headers);
	cJSON_Delete(root);
	return status;
}

/* A success: the spec's body verbatim when it has one, else dflt. */
static int
answer_ok(struct call *c, int status, cJSON *dflt, const cJSON *headers)
{
	const cJSON	*body = cJSON_GetObjectItemCaseSensitive(c->spec,
			    "body");

	status = json_int(c->spec, "status", status);
	if (cJSON_IsString(body))
		send_body(c->conn, status, body->valuestring,
		    strlen(body->valuestring), headers);
	else if (cJSON_IsObject(body) || cJSON_IsArray(body))
		send_json(c->conn, status, body, headers);
	else
		send_json(c->conn, status, dflt, headers);
	cJSON_Delete(dflt);
	return status;
}

static const char *
form_str(const cJSON *form, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(form, name);

	if (cJSON_IsArray(v))
		v = cJSON_GetArrayItem(v, 0);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int
answer_twilio_message(struct call *c, const cJSON *headers)
{
	const char	*to = form_str(c->form, "To");
	const char	*from = form_str(c->form, "From");
	const char	*body = form_str(c->form, "Body");
	const char	*spec_id = json_str(c->spec, "id");
	bool		 has_media = form_str(c->form, "MediaUrl") != NULL ||
			    form_str(c->form, "ContentSid") != NULL;
	cJSON		*m, *sub;
	char		 date[64], uri[256], segs[16];
	size_t		 chars;

	if (to == NULL || to[0] == '\0')
		return answer_error(c, 400, 21604,
		    "A 'To' phone number is required.", headers);
	if ((from == NULL || from[0] == '\0') &&
	    form_str(c->form, "MessagingServiceSid") == NULL)
		return answer_error(c, 400, 21603,
		    "A 'From' phone number is required.", headers);
	if ((body == NULL || body[0] == '\0') && !has_media)
		return answer_error(c, 400, 21602,
		    "Message body is required.", headers);
	if (from != NULL && (strncmp(to, "whatsapp:", 9) == 0) !=
	    (strncmp(from, "whatsapp:", 9) == 0))
		return answer_error(c, 400, 21910, "Invalid From and To "
		    "pair. From and To should be of the same channel",
		    headers);
	chars = body != NULL ? utf8_chars(body) : 0;
	if (chars > TWILIO_BODY_MAX)
		return answer_error(c, 400, 21617, "The concatenated message "
		    "body exceeds the 1600 character limit.", headers);

	if (spec_id != NULL)
		snprintf(c->id, sizeof(c->id), "%s", spec_id);
	else
		random_id(c->id, sizeof(c->id), "SM", HEX, 32);
	rfc2822_now(date, sizeof(date));
	snprintf(uri, sizeof(uri), "/2010-04-01/Accounts/%s/Messages/%s.json",
	    c->sid, c->id);
	snprintf(segs, sizeof(segs), "%zu", chars <= 160 ? (size_t)1 :
	    (chars + 152) / 153);

	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "account_sid", c->sid);
	cJSON_AddStringToObject(m, "api_version", "2010-04-01");
	cJSON_AddStringToObject(m, "body", body != NULL ? body : "");
	cJSON_AddStringToObject(m, "date_created", date);
	cJSON_AddNullToObject(m, "date_sent");
	cJSON_AddStringToObject(m, "date_updated", date);
	cJSON_AddStringToObject(m, "direction", "outbound-api");
	cJSON_AddNullToObject(m, "error_code");
	cJSON_AddNullToObject(m, "error_message");
	if (from != NULL)
		cJSON_AddStringToObject(m, "from", from);
	else
		cJSON_AddNullToObject(m, "from");
	cJSON_AddNullToObject(m, "messaging_service_sid");
	cJSON_AddStringToObject(m, "num_media", "0");
	cJSON_AddStringToObject(m, "num_segments", segs);
	cJSON_AddNullToObject(m, "price");
	cJSON_AddStringToObject(m, "price_unit", "USD");
	cJSON_AddStringToObject(m, "sid", c->id);
	cJSON_AddStringToObject(m, "status", "queued");
	sub = cJSON_AddObjectToObject(m, "subresource_uris");
	snprintf(uri, sizeof(uri),
	    "/2010-04-01/Accounts/%s/Messages/%s/Media.json", c->sid, c->id);
	cJSON_AddStringToObject(sub, "media", uri);
	cJSON_AddStringToObject(m, "to", to);
	snprintf(uri, sizeof(uri), "/2010-04-01/Accounts/%s/Messages/%s.json",
	    c->sid, c->id);
	cJSON_AddStringToObject(m, "uri", uri);
	return answer_ok(c, 201, m, headers);
}

static int
answer_twilio_typing(struct call *c, const cJSON *headers)
{
	const char	*channel = form_str(c->form, "channel");
	const char	*mid = form_str(c->form, "messageId");
	cJSON		*ok;

	if (channel == NULL || strcmp(channel, "whatsapp") != 0)
		return answer_error(c, 400, 20001, "Invalid channel: only "
		    "'whatsapp' is supported.", headers);
	if (mid == NULL || mid[0] == '\0')
		return answer_error(c, 400, 20001,
		    "Missing required parameter messageId.", headers);
	ok = cJSON_CreateObject();
	cJSON_AddTrueToObject(ok, "success");
	return answer_ok(c, 200, ok, headers);
}

static int
answer_meta(struct call *c, const cJSON *headers)
{
	const cJSON	*j = c->json;
	const char	*type, *to, *spec_id = json_str(c->spec, "id");
	const cJSON	*obj;
	cJSON		*root, *arr, *item;
	char		 digits[64];
	size_t		 i, n = 0;

	if (!cJSON_IsObject(j))
		return answer_error(c, 400, 100, "Invalid parameter: the body "
		    "is not a JSON object.", headers);
	if (json_str(j, "messaging_product") == NULL ||
	    strcmp(json_str(j, "messaging_product"), "whatsapp") != 0)
		return answer_error(c, 400, 100, "Invalid parameter: "
		    "messaging_product must be 'whatsapp'.", headers);
	if (strcmp(c->op, "typing") == 0) {
		if (strcmp(json_str(j, "status"), "read") != 0 ||
		    json_str(j, "message_id") == NULL)
			return answer_error(c, 400, 131008, "Required "
			    "parameter is missing: message_id", headers);
		root = cJSON_CreateObject();
		cJSON_AddTrueToObject(root, "success");
		return answer_ok(c, 200, root, headers);
	}
	to = json_str(j, "to");
	type = json_str(j, "type");
	if (to == NULL || to[0] == '\0')
		return answer_error(c, 400, 131008,
		    "Required parameter is missing: to", headers);
	if (type == NULL)
		type = "text";
	if (strcmp(type, "text") == 0) {
		obj = cJSON_GetObjectItemCaseSensitive(j, "text");
		if (json_str(obj, "body") == NULL)
			return answer_error(c, 400, 131008, "Required "
			    "parameter is missing: text['body']", headers);
		if (utf8_chars(json_str(obj, "body")) > META_BODY_MAX)
			return answer_error(c, 400, 131009, "Param "
			    "text['body'] must be at most 4096 characters "
			    "long.", headers);
	} else if (strcmp(type, "reaction") == 0) {
		obj = cJSON_GetObjectItemCaseSensitive(j, "reaction");
		if (json_str(obj, "message_id") == NULL ||
		    json_str(obj, "emoji") == NULL)
			return answer_error(c, 400, 131008, "Required "
			    "parameter is missing: reaction['message_id'] "
			    "and reaction['emoji']", headers);
	}

	for (i = 0; to[i] != '\0' && n + 1 < sizeof(digits); i++)
		if (to[i] >= '0' && to[i] <= '9')
			digits[n++] = to[i];
	digits[n] = '\0';
	if (spec_id != NULL)
		snprintf(c->id, sizeof(c->id), "%s", spec_id);
	else
		random_id(c->id, sizeof(c->id), "wamid.HBgL", B64, 48);

	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "messaging_product", "whatsapp");
	arr = cJSON_AddArrayToObject(root, "contacts");
	item = cJSON_CreateObject();
	cJSON_AddStringToObject(item, "input", to);
	cJSON_AddStringToObject(item, "wa_id", n > 0 ? digits : to);
	cJSON_AddItemToArray(arr, item);
	arr = cJSON_AddArrayToObject(root, "messages");
	item = cJSON_CreateObject();
	cJSON_AddStringToObject(item, "id", c->id);
	cJSON_AddItemToArray(arr, item);
	return answer_ok(c, 200, root, headers);
}

/* Unicode code points in a UTF-8 string (continuation bytes skipped). */
static size_t
utf8_chars(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

static void
random_id(char *dst, size_t len, const char *prefix, const char *alphabet,
    size_t n)
{
	size_t	 plen = strlen(prefix), alen = strlen(alphabet), i;

	if (plen + n + 1 > len)
		abort();
	memcpy(dst, prefix, plen);
	for (i = 0; i < n; i++)
		dst[plen + i] = alphabet[randombytes_uniform((uint32_t)alen)];
	dst[plen + n] = '\0';
}

static void
rfc2822_now(char *dst, size_t len)
{
	time_t		 t = time(NULL);
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(dst, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

int
main(int argc, char **argv)
{
	struct mg_callbacks	 cb;
	struct mg_context	*ctx;
	struct sigaction	 sa;
	struct timespec		 ts = { 0, 50 * 1000000L };
	char			 ports[64];
	const char		*opts[16];
	char			*end;
	long			 port = 0;
	int			 i, n = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			port = strtol(argv[++i], &end, 10);
			if (*end != '\0')
				port = 0;
		} else if (strcmp(argv[i], "--twilio-token") == 0 &&
		    i + 1 < argc)
			twilio_token = argv[++i];
		else if (strcmp(argv[i], "--meta-token") == 0 && i + 1 < argc)
			meta_token = argv[++i];
		else if (strcmp(argv[i], "--kapso-key") == 0 && i + 1 < argc)
			kapso_key = argv[++i];
		else {
			fprintf(stderr, "usage: fake_whatsapp --port N "
			    "[--twilio-token T] [--meta-token T] "
			    "[--kapso-key K]\n");
			return 2;
		}
	}
	if (port <= 0 || port > 65535) {
		fprintf(stderr,
		    "fake_whatsapp: --port N (1-65535) is required\n");
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "fake_whatsapp: sodium_init failed\n");
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	queue = cJSON_CreateArray();
	reqlog = cJSON_CreateArray();
	snprintf(ports, sizeof(ports), "127.0.0.1:%ld", port);
	opts[n++] = "listening_ports";
	opts[n++] = ports;
	opts[n++] = "num_threads";
	opts[n++] = "32";
	opts[n++] = "enable_keep_alive";
	opts[n++] = "no";
	opts[n++] = "request_timeout_ms";
	opts[n++] = "30000";
	opts[n] = NULL;

	mg_init_library(0);
	memset(&cb, 0, sizeof(cb));
	cb.log_message = log_message;
	if ((ctx = mg_start(&cb, NULL, opts)) == NULL) {
		fprintf(stderr, "fake_whatsapp: cannot listen on %s\n", ports);
		cJSON_Delete(queue);
		cJSON_Delete(reqlog);
		mg_exit_library();
		return 1;
	}
	mg_set_request_handler(ctx, "/", handler, NULL);
	printf("ready\n");
	fflush(stdout);

	while (!stopping)
		nanosleep(&ts, NULL);

	mg_stop(ctx);
	mg_exit_library();
	cJSON_Delete(queue);
	cJSON_Delete(reqlog);
	return 0;
}
