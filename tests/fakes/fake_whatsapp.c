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
 *   GET  /2010-04-01/Accounts/{AccountSid}/Messages/{SM}.json   twilio, op
 *        "price": the Message resource, "price" null and "price_unit"
 *        "USD" unless a spec gives "price" (and "price_unit"), as
 *        Twilio fills the price in after the send.
 *   POST /{version}/{phone_number_id}/messages                  meta
 *        "Authorization: Bearer T"; JSON body. type "text" (text.body
 *        <= 4096 characters, else 400 code 131009), "reaction"
 *        (reaction.message_id required, emoji "" allowed: removal), other
 *        types accepted as they are → {"messaging_product":"whatsapp",
 *        "contacts":[{"input","wa_id"}],"messages":[{"id":"wamid.…"}]}.
 *        A business-scoped user id goes in "recipient" (docs/whatsapp-
 *        platform.md §1.5): the answer's contact then has "wa_id": "" and
 *        "user_id"; "to" wins when both are sent; a user id in "to" is
 *        refused with 400 code 100 (Meta drops it without an error: a
 *        fake that lets it pass would hide the mistake).
 *        {"status":"read","message_id"} + typing_indicator is op "typing",
 *        without it op "read" → {"success":true}.
 *   POST /meta/whatsapp/{version}/{phone_number_id}/messages    kapso
 *        "X-API-Key: K"; everything else as Meta.
 *
 * Media downloads (PROTOCOLS.md §1.2, §2.6, §3.4), GET, of items the test
 * registered with POST /_fake/media:
 *
 *   /2010-04-01/Accounts/{AccountSid}/Messages/{MM}/Media/{ME}  twilio
 *        Basic auth as for sends (user = the path's SID) → 302 to
 *        http://{Host}/s3/twilio/{ME}?X-Amz-Signature=…, as Twilio
 *        redirects to signed storage. Unknown ME: 404, code 20404.
 *   /s3/twilio/{ME}                                   the storage URL
 *        the bytes; a request with an Authorization or X-API-Key header
 *        is refused (400, S3's XML error), as S3 refuses a second auth.
 *   /{version}/{media_id}[?phone_number_id=]          meta
 *        bearer → {"messaging_product":"whatsapp","url":"http://{Host}/
 *        whatsapp_business/attachments/?mid=…","mime_type","sha256",
 *        "file_size","id"}. Unknown id: 400, code 100 (Meta's answer).
 *   /whatsapp_business/attachments/?mid={media_id}    Meta's CDN
 *        the bytes; the bearer is required (401 without).
 *   /meta/whatsapp/{version}/{media_id}?phone_number_id=   kapso
 *        X-API-Key (phone_number_id required: 400) → Meta's JSON with
 *        url http://{Host}/kapso/media/{id}, the bytes with the key; or,
 *        for an item registered "foreign", http://localhost:{port}/cdn/
 *        {id}: another origin, which refuses any credential header.
 *
 * Media sends (docs/media-out.md §1), POST:
 *
 *   /{version}/{phone_number_id}/media                       meta, upload
 *   /meta/whatsapp/{version}/{phone_number_id}/media         kapso, upload
 *        multipart/form-data with parts messaging_product=whatsapp, type
 *        and file (filename, Content-Type); logged with op "upload" and
 *        "json": {"messaging_product","type","file":{"filename",
 *        "content_type","size","sha256"}} → {"id":"<digits>"}. A missing
 *        part is 400 code 100.
 *   A Meta/Kapso message of type image|document|audio|video|sticker must
 *        carry {type: {"id"}} of an item this provider uploaded (400 code
 *        131053 otherwise) or {"link"}; no caption on audio (400 code 100).
 *   A Twilio message with MediaUrl: the fake fetches each URL (HEAD, then
 *        GET) before it answers, as Twilio does, and adds to the request's
 *        log entry "fetched": [{"url","head","status","content_type",
 *        "disposition","size","sha256"}]; a URL that does not answer 200
 *        is still answered 201 (Twilio reports it later by status
 *        callback), the test reads "fetched".
 *
 * These requests are logged with op "media" (the API call) or "download"
 * (the bytes); a spec with op "media" scripts the API call's answer.
 *
 * Templates (docs/templates.md), of those the test registered with POST
 * /_fake/templates, logged with op "templates":
 *
 *   GET /{version}/{waba_id}/message_templates?limit=&after=    meta
 *        bearer → {"data":[Meta template objects],"paging":{"cursors":
 *        {"before","after"},"next"}} (next only while more remain; the
 *        cursor is opaque). Another WABA than the registered one: 400
 *        code 100.
 *   GET /meta/whatsapp/{version}/{waba_id}/message_templates     kapso
 *        X-API-Key; the same (Kapso proxies Meta).
 *   GET /v1/ContentAndApprovals?PageSize=&PageToken=            twilio
 *        Basic auth → {"contents":[items],"meta":{"page","page_size",
 *        "first_page_url","previous_page_url","url","next_page_url",
 *        "key":"contents"}}.
 *
 * A template send is checked against them: Meta and Kapso "type":
 * "template" must name a registered (name, language) that is APPROVED
 * (404 code 132001 otherwise) with as many body parameters as its BODY
 * has {{variables}} (400 code 132000), and a quick_reply button
 * component needs a string index; Twilio's ContentSid must be a
 * registered, approved content (400 code 21655) and ContentVariables, if
 * any, a JSON object (400 code 21656).
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
 *     type       only a message of this type: Meta/Kapso "type"
 *                ("text", "image", "document", …), Twilio "media" (with
 *                a MediaUrl) or "text"; absent: any
 *     op         "send" (default: Twilio Messages.json, Meta/Kapso
 *                message bodies) | "typing" (Twilio Typing.json,
 *                Meta/Kapso {"status":"read"} with typing_indicator) |
 *                "read" (Meta/Kapso {"status":"read"} alone) | "any"
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
 *   POST /_fake/media     registers media: one object or an array of
 *                         {"id", "content_type", and the bytes as "body"
 *                         (text), "body_b64", or "size" (+ "fill", one
 *                         character, default 'x'); "file_size" overrides
 *                         what Meta's JSON says; "foreign": true (Kapso)}
 *   POST /_fake/templates registers a provider's templates, replacing
 *                         its earlier ones: {"provider": "meta"|"kapso"|
 *                         "twilio", "waba": "<id>" (meta, kapso),
 *                         "templates": [Meta template objects, or
 *                         Twilio ContentAndApprovals items]}
 *   POST /_fake/reset     clears the queue, the media, the templates and
 *                         the request log
 *   GET  /_fake/requests  every provider request, in order of arrival:
 *     [{"provider","op","method","path","auth" (the Authorization or
 *       X-API-Key value, or null),"user","password" (Twilio Basic, decoded),
 *       "form": {…} (Twilio; a repeated field becomes an array) or
 *       "json": {…} (Meta, Kapso; "raw" when not JSON),
 *       "answered": HTTP status (null while pending, 0 when dropped),
 *       "dropped": bool, "id": the message id answered, or null,
 *       "query": the raw query string (media requests), "seq": 1, 2, …
 *       since the start}]
 *
 * A request that fails authentication (401) or is not a POST (a media GET
 * aside) consumes no spec. A spec's delay and drop come before the fake's own checks; its
 * status, when not 2xx, replaces them.
 *
 * Usage: fake_whatsapp --port N [--twilio-token T] [--meta-token T]
 * [--kapso-key K] [--echo-auth]; a given credential must then match
 * exactly (401 otherwise). With --echo-auth every default error body
 * (a 401 for wrong credentials, a scripted status without a body) quotes
 * the credentials the request carried, as a careless provider might:
 * the Authorization or X-API-Key value and, for Twilio, the decoded
 * "user:password". Prints "ready" once listening on 127.0.0.1:N; SIGTERM
 * or SIGINT stop it with exit 0.
 *
 * Thread-safety: CivetWeb answers on several threads; the queue, the log
 * and the id generator sit behind one mutex, and a handler works on its
 * own copy of a spec. A log entry is found again by its sequence number
 * (never by pointer) since a reset may free it meanwhile. Bodies, the
 * queue and the log are bounded.
 */
#define _GNU_SOURCE	/* memmem, strcasestr */
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
#include "util/httpc.h"
#include "util/url.h"
#include "util/xmalloc.h"

#define FAKE_BODY_MAX		(1024u * 1024)
#define FAKE_QUEUE_MAX		1000
#define FAKE_LOG_MAX		10000
#define FAKE_DELAY_MAX_MS	120000
#define TWILIO_BODY_MAX		1600
#define META_BODY_MAX		4096
#define FAKE_MEDIA_MAX		(64u * 1024 * 1024)
#define FAKE_UPLOAD_MAX		(110u * 1024 * 1024)

enum endpoint {
	EP_NONE = 0,
	EP_TWILIO_MESSAGES,
	EP_TWILIO_TYPING,
	EP_TWILIO_MESSAGE,	/* GET one Message resource (its price) */
	EP_META,		/* Meta or Kapso messages */
	EP_META_UPLOAD,		/* Meta or Kapso media upload */
};

/* The media paths (GET). */
enum media_ep {
	MEDIA_NONE = 0,
	MEDIA_TWILIO,		/* …/Messages/{MM}/Media/{ME} */
	MEDIA_TWILIO_S3,	/* /s3/twilio/{ME} */
	MEDIA_META,		/* /{version}/{media_id} */
	MEDIA_META_CDN,		/* /whatsapp_business/attachments/?mid= */
	MEDIA_KAPSO,		/* /meta/whatsapp/{version}/{media_id} */
	MEDIA_KAPSO_DL,		/* /kapso/media/{id} */
	MEDIA_CDN,		/* /cdn/{id}: a foreign host */
};

/* One provider request being answered. */
struct call {
	struct mg_connection	*conn;
	const char		*provider;	/* "twilio" "meta" "kapso" */
	const char		*op;		/* "send" "typing" "read" */
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
	const char		*query;		/* media: raw query or NULL */
};

static void	 on_signal(int sig);
static int	 log_message(const struct mg_connection *conn,
		    const char *msg);
static void	 sleep_ms(int ms);
static int	 json_int(const cJSON *o, const char *name, int dflt);
static const char *json_str(const cJSON *o, const char *name);
static char	*read_body(struct mg_connection *conn, size_t max,
		    size_t *len, bool *too_big);
static cJSON	*parse_upload(const char *ctype, const char *body,
		    size_t len);
static int	 answer_upload(struct call *c, const cJSON *headers);
static void	 fetch_media_urls(const struct call *c);
static void	 log_extra(long seq, const char *key, cJSON *val);
static void	 send_body(struct mg_connection *conn, int status,
		    const char *body, size_t len, const cJSON *headers);
static void	 send_json(struct mg_connection *conn, int status,
		    const cJSON *obj, const cJSON *headers);
static int	 handler(struct mg_connection *conn, void *cbdata);
static int	 handle_control(struct mg_connection *conn,
		    const struct mg_request_info *ri);
static int	 queue_push(const cJSON *specs);
static cJSON	*queue_pop(const char *provider, const char *op,
		    const char *type);
static bool	 spec_matches(const cJSON *spec, const char *provider,
		    const char *op, const char *type);
static enum endpoint classify(const char *path, const char **provider,
		    char *sid, size_t sidlen);
static int	 handle_provider(struct mg_connection *conn,
		    const struct mg_request_info *ri, enum endpoint ep,
		    const char *provider, const char *sid);
static cJSON	*parse_form(const char *body, size_t len);
static void	 parse_basic(struct call *c);
static long	 log_add(const struct call *c, const char *method,
		    const char *path, const char *raw);
static void	 call_send_json(struct call *, int, const cJSON *,
		    const cJSON *);
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
static int	 answer_twilio_fetch(struct call *c, const char *path,
		    const cJSON *headers);
static int	 answer_meta(struct call *c, const cJSON *headers);
static int	 answer_ok(struct call *c, int status, cJSON *dflt,
		    const cJSON *headers);
static const char *form_str(const cJSON *form, const char *name);
static size_t	 utf8_chars(const char *s);
static void	 random_id(char *dst, size_t len, const char *prefix,
		    const char *alphabet, size_t n);
static void	 rfc2822_now(char *dst, size_t len);
static int	 media_register(const cJSON *items);
static enum media_ep media_classify(const struct mg_request_info *ri,
		    char *sid, size_t sidlen, char *id, size_t idlen);
static int	 handle_media(struct mg_connection *conn,
		    const struct mg_request_info *ri, enum media_ep ep,
		    const char *sid, const char *id);
static cJSON	*media_find(const char *id);
static unsigned char *media_bytes(const cJSON *m, size_t *len);
static int	 send_bytes(struct mg_connection *conn, long seq,
		    const cJSON *m);
static int	 send_text_status(struct mg_connection *conn, long seq,
		    int status,
		    const char *ctype, const char *body,
		    const char *location);
static bool	 query_get(const char *query, const char *name, char *out,
		    size_t outlen);
static int	 templates_register(const cJSON *body);
static const char *templates_path(const char *path, char *waba,
		    size_t wabalen);
static int	 handle_templates(struct mg_connection *conn,
		    const struct mg_request_info *ri, const char *provider,
		    const char *waba);
static int	 check_meta_template(struct call *c, const cJSON *headers);
static int	 check_twilio_content(struct call *c, const cJSON *headers);
static int	 count_vars(const char *text);

static volatile sig_atomic_t	 stopping;
static pthread_mutex_t		 lock = PTHREAD_MUTEX_INITIALIZER;
static cJSON			*queue;		/* array of specs */
static cJSON			*reqlog;	/* array of requests */
static cJSON			*media;		/* id → registered item */
static cJSON			*templates;	/* provider → {waba, templates} */
static cJSON			*uploads;	/* media id → provider */
static long			 next_seq;	/* under lock */
static const char		*twilio_token;	/* NULL: any */
static const char		*meta_token;
static bool			 echo_auth;	/* errors quote credentials */
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
read_body(struct mg_connection *conn, size_t max, size_t *len, bool *too_big)
{
	struct buf	 b;
	char		 tmp[8192];
	int		 n;

	*too_big = false;
	buf_init(&b, max);
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

	enum media_ep			 mep;
	char				 mid[160];

	(void)cbdata;
	if (strncmp(ri->local_uri, "/_fake/", 7) == 0)
		return handle_control(conn, ri);
	if (strcmp(ri->request_method, "GET") == 0 && (provider =
	    templates_path(ri->local_uri, mid, sizeof(mid))) != NULL)
		return handle_templates(conn, ri, provider, mid);
	if (strcmp(ri->request_method, "GET") == 0 && (mep = media_classify(ri,
	    sid, sizeof(sid), mid, sizeof(mid))) != MEDIA_NONE)
		return handle_media(conn, ri, mep, sid, mid);
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
		body = read_body(conn, FAKE_BODY_MAX, &len, &too_big);
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
	} else if (is_post && strcmp(path, "/_fake/media") == 0) {
		out = cJSON_CreateObject();
		if (too_big || (specs = cJSON_ParseWithLength(body, len)) ==
		    NULL || (n = media_register(specs)) < 0) {
			status = 400;
			cJSON_AddStringToObject(out, "message", "The body must "
			    "be a media object ({\"id\", \"content_type\", "
			    "\"body\"|\"body_b64\"|\"size\"}) or an array "
			    "of them.");
		} else
			cJSON_AddNumberToObject(out, "registered", n);
	} else if (is_post && strcmp(path, "/_fake/templates") == 0) {
		out = cJSON_CreateObject();
		if (too_big || (specs = cJSON_ParseWithLength(body, len)) ==
		    NULL || (n = templates_register(specs)) < 0) {
			status = 400;
			cJSON_AddStringToObject(out, "message", "The body must "
			    "be {\"provider\", \"waba\"?, \"templates\": "
			    "[…]}.");
		} else
			cJSON_AddNumberToObject(out, "registered", n);
	} else if (is_post && strcmp(path, "/_fake/reset") == 0) {
		pthread_mutex_lock(&lock);
		cJSON_Delete(queue);
		cJSON_Delete(reqlog);
		cJSON_Delete(media);
		cJSON_Delete(templates);
		cJSON_Delete(uploads);
		queue = cJSON_CreateArray();
		reqlog = cJSON_CreateArray();
		media = cJSON_CreateObject();
		templates = cJSON_CreateObject();
		uploads = cJSON_CreateObject();
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
spec_matches(const cJSON *spec, const char *provider, const char *op,
    const char *type)
{
	const char	*p = json_str(spec, "provider");
	const char	*o = json_str(spec, "op");
	const char	*t = json_str(spec, "type");

	if (p != NULL && strcmp(p, "any") != 0 && strcmp(p, provider) != 0)
		return false;
	if (t != NULL && (type == NULL || strcmp(t, type) != 0))
		return false;
	if (o == NULL)
		o = "send";
	return strcmp(o, "any") == 0 || strcmp(o, op) == 0;
}

/* The first queued spec matching (the caller deletes it), or NULL. */
static cJSON *
queue_pop(const char *provider, const char *op, const char *type)
{
	cJSON	*s, *found = NULL;

	pthread_mutex_lock(&lock);
	cJSON_ArrayForEach(s, queue) {
		if (spec_matches(s, provider, op, type)) {
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
	if (c->query != NULL)
		cJSON_AddStringToObject(e, "query", c->query);
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

/*
 * A provider call's answer: recorded in the log BEFORE it is written, so
 * a test that reads /_fake/requests as soon as its client has the answer
 * sees "answered" set (afterwards was a race: CI saw null).
 */
static void
call_send_json(struct call *c, int status, const cJSON *obj,
    const cJSON *headers)
{
	log_answer(c->seq, status, false, c->id);
	send_json(c->conn, status, obj, headers);
}

/* --- provider requests ---------------------------------------------------- */

/* Which API a path belongs to; the Twilio AccountSid goes to sid. */
static enum endpoint
classify(const char *path, const char **provider, char *sid, size_t sidlen)
{
	static const char	 tw[] = "/2010-04-01/Accounts/";
	const char		*p, *slash;
	size_t			 n, segs;
	bool			 up = false;

	sid[0] = '\0';
	if (strcmp(path, "/v2/Indicators/Typing.json") == 0) {
		*provider = "twilio";
		return EP_TWILIO_TYPING;
	}
	if (strncmp(path, tw, sizeof(tw) - 1) == 0) {
		p = path + sizeof(tw) - 1;
		if ((slash = strchr(p, '/')) == NULL)
			return EP_NONE;
		n = (size_t)(slash - p);
		if (n == 0 || n >= sidlen)
			return EP_NONE;
		memcpy(sid, p, n);
		sid[n] = '\0';
		*provider = "twilio";
		if (strcmp(slash, "/Messages.json") == 0)
			return EP_TWILIO_MESSAGES;
		if (strncmp(slash, "/Messages/", 10) == 0 &&
		    strchr(slash + 10, '/') == NULL && strlen(slash) > 15 &&
		    strcmp(slash + strlen(slash) - 5, ".json") == 0)
			return EP_TWILIO_MESSAGE;
		return EP_NONE;
	}
	n = strlen(path);
	if (n > 7 && strcmp(path + n - 6, "/media") == 0)
		up = true;
	else if (n < 10 || strcmp(path + n - 9, "/messages") != 0)
		return EP_NONE;
	for (segs = 0, p = path; *p != '\0'; p++)
		segs += *p == '/';
	if (strncmp(path, "/meta/whatsapp/", 15) == 0 && segs == 5) {
		*provider = "kapso";
		return up ? EP_META_UPLOAD : EP_META;
	}
	/* /{version}/{pnid}/messages, or /{pnid}/messages unversioned. */
	if (segs == 2 || segs == 3) {
		*provider = "meta";
		return up ? EP_META_UPLOAD : EP_META;
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
	body = read_body(conn, ep == EP_META_UPLOAD ? FAKE_UPLOAD_MAX :
	    FAKE_BODY_MAX, &len, &too_big);
	if (ep == EP_META_UPLOAD) {
		if (!too_big)
			c.json = parse_upload(mg_get_header(conn,
			    "Content-Type"), body, len);
		c.op = "upload";
	} else if (ep == EP_META) {
		if (!too_big)
			c.json = cJSON_ParseWithLength(body, len);
		c.op = !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c.json,
		    "status")) ? "send" : cJSON_GetObjectItemCaseSensitive(
		    c.json, "typing_indicator") != NULL ? "typing" : "read";
	} else {
		if (!too_big)
			c.form = parse_form(body, len);
		c.op = ep == EP_TWILIO_TYPING ? "typing" :
		    ep == EP_TWILIO_MESSAGE ? "price" : "send";
	}
	c.seq = log_add(&c, ri->request_method, ri->local_uri,
	    too_big ? "(too large)" : body);

	if (strcmp(ri->request_method, ep == EP_TWILIO_MESSAGE ? "GET" :
	    "POST") != 0) {
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
	/* A spec's "type": the Meta/Kapso message type ("image", …), or
	 * Twilio's "media" (a MediaUrl) or "text". */
	c.spec = queue_pop(c.provider, c.op, c.json != NULL ?
	    json_str(c.json, "type") : c.form != NULL ?
	    (form_str(c.form, "MediaUrl") != NULL ? "media" : "text") : NULL);
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
	case EP_TWILIO_MESSAGE:
		status = answer_twilio_fetch(&c, ri->local_uri, headers);
		break;
	case EP_META_UPLOAD:
		status = answer_upload(&c, headers);
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
		call_send_json(c, status, body, headers);
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
	char	 more[128], text[2400], trace[32], echo[1800];

	if (code == 0)
		code = default_code(c->provider, status);
	if (message == NULL)
		message = default_message(status);
	if (echo_auth && c->auth != NULL) {
		if (c->has_basic)
			snprintf(echo, sizeof(echo), "%s: you sent %s (%s:%s)",
			    message, c->auth, c->user, c->password);
		else
			snprintf(echo, sizeof(echo), "%s: you sent %s",
			    message, c->auth);
		message = echo;
	}
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
	call_send_json(c, status, root, headers);
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
		call_send_json(c, status, body, headers);
	else
		call_send_json(c, status, dflt, headers);
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
	if (form_str(c->form, "ContentSid") != NULL) {
		int	 rc = check_twilio_content(c, headers);

		if (rc != 0)
			return rc;
	}
	if (form_str(c->form, "MediaUrl") != NULL)
		fetch_media_urls(c);
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

/* GET …/Messages/{SM}.json: the resource, priced when a spec says so. */
static int
answer_twilio_fetch(struct call *c, const char *path, const cJSON *headers)
{
	const char	*last = strrchr(path, '/') + 1;
	const char	*price = json_str(c->spec, "price");
	const char	*unit = json_str(c->spec, "price_unit");
	cJSON		*m;

	snprintf(c->id, sizeof(c->id), "%.*s", (int)(strlen(last) - 5),
	    last);
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "account_sid", c->sid);
	cJSON_AddStringToObject(m, "sid", c->id);
	cJSON_AddStringToObject(m, "status", "delivered");
	cJSON_AddStringToObject(m, "direction", "outbound-api");
	if (price != NULL)
		cJSON_AddStringToObject(m, "price", price);
	else
		cJSON_AddNullToObject(m, "price");
	cJSON_AddStringToObject(m, "price_unit", unit != NULL ? unit : "USD");
	return answer_ok(c, 200, m, headers);
}

static int
answer_meta(struct call *c, const cJSON *headers)
{
	const cJSON	*j = c->json;
	const char	*type, *to, *spec_id = json_str(c->spec, "id");
	const char	*user_id = NULL;
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
	if (strcmp(c->op, "typing") == 0 || strcmp(c->op, "read") == 0) {
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
	if (to != NULL && strchr(to, '.') != NULL &&
	    strcmp(json_str(j, "recipient_type") != NULL ?
	    json_str(j, "recipient_type") : "", "group") != 0)
		return answer_error(c, 400, 100, "Invalid parameter: 'to' "
		    "takes a phone number; send a business-scoped user ID as "
		    "'recipient'.", headers);
	if (to == NULL || to[0] == '\0') {
		to = json_str(j, "recipient");
		user_id = to;
	}
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
	} else if (strcmp(type, "template") == 0) {
		int	 rc = check_meta_template(c, headers);

		if (rc != 0)
			return rc;
	} else if (strcmp(type, "image") == 0 || strcmp(type, "document") == 0 ||
	    strcmp(type, "audio") == 0 || strcmp(type, "video") == 0 ||
	    strcmp(type, "sticker") == 0) {
		const char	*mid, *owner = NULL;

		obj = cJSON_GetObjectItemCaseSensitive(j, type);
		mid = json_str(obj, "id");
		if (mid == NULL && json_str(obj, "link") == NULL)
			return answer_error(c, 400, 100, "Invalid parameter: "
			    "the media object needs an id or a link.", headers);
		if (mid != NULL) {
			pthread_mutex_lock(&lock);
			owner = json_str(uploads, mid);
			owner = owner != NULL && strcmp(owner, c->provider) ==
			    0 ? "ok" : NULL;
			pthread_mutex_unlock(&lock);
			if (owner == NULL)
				return answer_error(c, 400, 131053, "Media "
				    "upload error: unknown media id.", headers);
		}
		if (strcmp(type, "audio") == 0 && json_str(obj, "caption") !=
		    NULL)
			return answer_error(c, 400, 100, "Invalid parameter: "
			    "audio has no caption.", headers);
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
	cJSON_AddStringToObject(item, "wa_id", user_id != NULL ? "" :
	    n > 0 ? digits : to);
	if (user_id != NULL)
		cJSON_AddStringToObject(item, "user_id", user_id);
	cJSON_AddItemToArray(arr, item);
	arr = cJSON_AddArrayToObject(root, "messages");
	item = cJSON_CreateObject();
	cJSON_AddStringToObject(item, "id", c->id);
	cJSON_AddItemToArray(arr, item);
	return answer_ok(c, 200, root, headers);
}

/* --- media ---------------------------------------------------------------- */

/* Registers copies of the items; how many, -1 when one is malformed. */
static int
media_register(const cJSON *items)
{
	const cJSON	*m, *v;
	cJSON		*arr = NULL;
	int		 n = 0;

	if (cJSON_IsObject(items)) {
		arr = cJSON_CreateArray();
		cJSON_AddItemToArray(arr, cJSON_Duplicate(items, true));
		items = arr;
	}
	if (!cJSON_IsArray(items))
		goto bad;
	cJSON_ArrayForEach(m, items) {
		const char	*id = json_str(m, "id");

		if (!cJSON_IsObject(m) || id == NULL || id[0] == '\0' ||
		    json_str(m, "content_type") == NULL)
			goto bad;
		v = cJSON_GetObjectItemCaseSensitive(m, "size");
		if (json_str(m, "body") == NULL &&
		    json_str(m, "body_b64") == NULL && (!cJSON_IsNumber(v) ||
		    v->valuedouble < 0 || v->valuedouble > FAKE_MEDIA_MAX))
			goto bad;
	}
	pthread_mutex_lock(&lock);
	cJSON_ArrayForEach(m, items) {
		const char	*id = json_str(m, "id");

		cJSON_DeleteItemFromObjectCaseSensitive(media, id);
		cJSON_AddItemToObject(media, id, cJSON_Duplicate(m, true));
		n++;
	}
	pthread_mutex_unlock(&lock);
	cJSON_Delete(arr);
	return n;
bad:
	cJSON_Delete(arr);
	return -1;
}

/* A copy of registered item id (the caller deletes it), or NULL. */
static cJSON *
media_find(const char *id)
{
	cJSON	*m;

	pthread_mutex_lock(&lock);
	m = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(media, id), true);
	pthread_mutex_unlock(&lock);
	return m;
}

/* The item's bytes (malloc'd), from body, body_b64 or size + fill. */
static unsigned char *
media_bytes(const cJSON *m, size_t *len)
{
	const char	*s;
	unsigned char	*p;
	size_t		 n;

	if ((s = json_str(m, "body")) != NULL) {
		*len = strlen(s);
		p = xmalloc(*len + 1);
		memcpy(p, s, *len + 1);
		return p;
	}
	if ((s = json_str(m, "body_b64")) != NULL) {
		n = strlen(s);
		p = xmalloc(n + 1);
		if (sodium_base642bin(p, n + 1, s, n, " \n", len, NULL,
		    sodium_base64_VARIANT_ORIGINAL) != 0)
			*len = 0;
		return p;
	}
	n = (size_t)json_int(m, "size", 0);
	s = json_str(m, "fill");
	p = xmalloc(n + 1);
	memset(p, s != NULL && s[0] != '\0' ? s[0] : 'x', n);
	*len = n;
	return p;
}

/* 200 with the item's bytes and type. */
static int
send_bytes(struct mg_connection *conn, long seq, const cJSON *m)
{
	unsigned char	*p;
	size_t		 len, off = 0;
	char		 clen[32];
	int		 w;

	p = media_bytes(m, &len);
	snprintf(clen, sizeof(clen), "%zu", len);
	log_answer(seq, 200, false, NULL);	/* before: see call_send_json */
	mg_response_header_start(conn, 200);
	mg_response_header_add(conn, "Content-Type",
	    json_str(m, "content_type"), -1);
	mg_response_header_add(conn, "Content-Length", clen, -1);
	mg_response_header_send(conn);
	while (off < len && (w = mg_write(conn, p + off, len - off)) > 0)
		off += (size_t)w;
	free(p);
	return 200;
}

static int
send_text_status(struct mg_connection *conn, long seq, int status,
    const char *ctype, const char *body, const char *location)
{
	char	 clen[32];
	size_t	 len = strlen(body);

	snprintf(clen, sizeof(clen), "%zu", len);
	log_answer(seq, status, false, NULL);	/* before: see call_send_json */
	mg_response_header_start(conn, status);
	mg_response_header_add(conn, "Content-Type", ctype, -1);
	mg_response_header_add(conn, "Content-Length", clen, -1);
	if (location != NULL)
		mg_response_header_add(conn, "Location", location, -1);
	mg_response_header_send(conn);
	if (len > 0)
		mg_write(conn, body, len);
	return status;
}

/* The raw (undecoded) value of query parameter name; false if absent. */
static bool
query_get(const char *query, const char *name, char *out, size_t outlen)
{
	const char	*p = query;
	size_t		 nlen = strlen(name), vlen;

	while (p != NULL && *p != '\0') {
		vlen = strcspn(p, "&");
		if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			vlen -= nlen + 1;
			if (vlen >= outlen)
				return false;
			memcpy(out, p + nlen + 1, vlen);
			out[vlen] = '\0';
			return true;
		}
		p += vlen;
		if (*p == '&')
			p++;
	}
	return false;
}

/* Which media path a GET is; the Twilio SID to sid, the item's id to id. */
static enum media_ep
media_classify(const struct mg_request_info *ri, char *sid, size_t sidlen,
    char *id, size_t idlen)
{
	static const char	 tw[] = "/2010-04-01/Accounts/";
	const char		*path = ri->local_uri, *p, *q, *last;
	size_t			 segs, n;
	enum media_ep		 ep = MEDIA_NONE;

	sid[0] = '\0';
	id[0] = '\0';
	for (segs = 0, p = path; *p != '\0'; p++)
		segs += *p == '/';
	last = strrchr(path, '/') + 1;
	if (strncmp(path, tw, sizeof(tw) - 1) == 0 && segs == 7) {
		p = path + sizeof(tw) - 1;
		q = strchr(p, '/');
		n = (size_t)(q - p);
		if (n == 0 || n >= sidlen || strncmp(q, "/Messages/", 10) != 0 ||
		    strstr(q + 10, "/Media/") == NULL)
			return MEDIA_NONE;
		memcpy(sid, p, n);
		sid[n] = '\0';
		ep = MEDIA_TWILIO;
	} else if (strncmp(path, "/s3/twilio/", 11) == 0 && segs == 3)
		ep = MEDIA_TWILIO_S3;
	else if (strcmp(path, "/whatsapp_business/attachments/") == 0) {
		if (!query_get(ri->query_string, "mid", id, idlen))
			return MEDIA_NONE;
		return MEDIA_META_CDN;
	} else if (strncmp(path, "/meta/whatsapp/", 15) == 0 && segs == 4)
		ep = MEDIA_KAPSO;
	else if (strncmp(path, "/kapso/media/", 13) == 0 && segs == 3)
		ep = MEDIA_KAPSO_DL;
	else if (strncmp(path, "/cdn/", 5) == 0 && segs == 2)
		ep = MEDIA_CDN;
	else if (segs == 2)
		ep = MEDIA_META;
	if (ep == MEDIA_NONE || last[0] == '\0' || strlen(last) >= idlen)
		return MEDIA_NONE;
	snprintf(id, idlen, "%s", last);
	return ep;
}

static int
handle_media(struct mg_connection *conn, const struct mg_request_info *ri,
    enum media_ep ep, const char *sid, const char *id)
{
	struct call	 c;
	cJSON		*m = NULL, *root;
	const char	*host = mg_get_header(conn, "Host");
	const char	*key = mg_get_header(conn, "X-API-Key");
	char		 url[512], msg[512], pnid[128];
	int		 status, delay;

	memset(&c, 0, sizeof(c));
	c.conn = conn;
	c.ep = EP_NONE;
	c.query = ri->query_string;
	c.op = ep == MEDIA_TWILIO || ep == MEDIA_META || ep == MEDIA_KAPSO ?
	    "media" : "download";
	c.provider = ep == MEDIA_TWILIO || ep == MEDIA_TWILIO_S3 ? "twilio" :
	    ep == MEDIA_META || ep == MEDIA_META_CDN ? "meta" : "kapso";
	snprintf(c.sid, sizeof(c.sid), "%s", sid);
	/* Whatever credential came, so tests can see none did. */
	c.auth = mg_get_header(conn, "Authorization");
	if (c.auth == NULL)
		c.auth = key;
	parse_basic(&c);
	c.seq = log_add(&c, ri->request_method, ri->local_uri, "");
	if (host == NULL)
		host = "127.0.0.1";

	if (strcmp(c.op, "media") == 0) {
		if (ep == MEDIA_TWILIO ? !c.has_basic ||
		    strcmp(c.user, sid) != 0 || !authorized(&c) :
		    ep == MEDIA_KAPSO ? key == NULL || !authorized(&c) :
		    !authorized(&c)) {
			status = answer_error(&c, 401, 0, NULL, NULL);
			goto out;
		}
		c.spec = queue_pop(c.provider, "media", NULL);
		delay = json_int(c.spec, "delay_ms", 0);
		if (delay > 0)
			sleep_ms(delay > FAKE_DELAY_MAX_MS ? FAKE_DELAY_MAX_MS :
			    delay);
		status = json_int(c.spec, "status", 0);
		if (status != 0 && (status < 200 || status > 299)) {
			status = answer_spec_error(&c, status);
			goto out;
		}
	}
	m = media_find(id);
	switch (ep) {
	case MEDIA_TWILIO:
		if (m == NULL) {
			snprintf(msg, sizeof(msg), "The requested resource %s "
			    "was not found", ri->local_uri);
			status = answer_error(&c, 404, 20404, msg, NULL);
			break;
		}
		snprintf(url, sizeof(url), "http://%s/s3/twilio/%s"
		    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=fake",
		    host, id);
		status = send_text_status(conn, c.seq, 302, "text/plain", "", url);
		break;
	case MEDIA_TWILIO_S3:
		if (c.auth != NULL)
			status = send_text_status(conn, c.seq, 400, "application/xml",
			    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			    "<Error><Code>InvalidArgument</Code><Message>Only "
			    "one auth mechanism allowed; only the "
			    "X-Amz-Algorithm query parameter, Signature query "
			    "string parameter or the Authorization header "
			    "should be specified</Message></Error>", NULL);
		else if (m == NULL)
			status = send_text_status(conn, c.seq, 404, "application/xml",
			    "<Error><Code>NoSuchKey</Code></Error>", NULL);
		else
			status = send_bytes(conn, c.seq, m);
		break;
	case MEDIA_META:
	case MEDIA_KAPSO:
		if (ep == MEDIA_KAPSO && !query_get(ri->query_string,
		    "phone_number_id", pnid, sizeof(pnid))) {
			status = answer_error(&c, 400, 100, "phone_number_id is "
			    "required when downloading media through the "
			    "proxy.", NULL);
			break;
		}
		if (m == NULL) {
			snprintf(msg, sizeof(msg), "Unsupported get request. "
			    "Object with ID '%s' does not exist, cannot be "
			    "loaded due to missing permissions, or does not "
			    "support this operation.", id);
			status = answer_error(&c, 400, 100, msg, NULL);
			break;
		}
		if (ep == MEDIA_META)
			snprintf(url, sizeof(url), "http://%s/whatsapp_business/"
			    "attachments/?mid=%s&ext=1700000000&hash=ATfake",
			    host, id);
		else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m,
		    "foreign")))
			snprintf(url, sizeof(url), "http://localhost%s/cdn/%s",
			    strchr(host, ':') != NULL ? strchr(host, ':') : "",
			    id);
		else
			snprintf(url, sizeof(url), "http://%s/kapso/media/%s",
			    host, id);
		{
			unsigned char	*p, h[crypto_hash_sha256_BYTES];
			char		 hex[2 * sizeof(h) + 1];
			size_t		 len;

			p = media_bytes(m, &len);
			crypto_hash_sha256(h, p, len);
			free(p);
			for (size_t i = 0; i < sizeof(h); i++)
				snprintf(hex + 2 * i, 3, "%02x", h[i]);
			root = cJSON_CreateObject();
			cJSON_AddStringToObject(root, "messaging_product",
			    "whatsapp");
			cJSON_AddStringToObject(root, "url", url);
			cJSON_AddStringToObject(root, "mime_type",
			    json_str(m, "content_type"));
			cJSON_AddStringToObject(root, "sha256", hex);
			cJSON_AddNumberToObject(root, "file_size",
			    json_int(m, "file_size", (int)len));
			cJSON_AddStringToObject(root, "id", id);
			call_send_json(&c, 200, root, NULL);
			cJSON_Delete(root);
			status = 200;
		}
		break;
	case MEDIA_META_CDN:
		if (!authorized(&c))
			status = answer_error(&c, 401, 0, NULL, NULL);
		else if (m == NULL)
			status = answer_error(&c, 404, 100, NULL, NULL);
		else
			status = send_bytes(conn, c.seq, m);
		break;
	case MEDIA_KAPSO_DL:
		if (key == NULL || !authorized(&c))
			status = answer_error(&c, 401, 0, NULL, NULL);
		else if (m == NULL)
			status = answer_error(&c, 404, 100, NULL, NULL);
		else
			status = send_bytes(conn, c.seq, m);
		break;
	default:	/* MEDIA_CDN: another host, no credential of ours */
		if (c.auth != NULL)
			status = send_text_status(conn, c.seq, 403, "text/plain",
			    "A credential was sent to a foreign host.\n",
			    NULL);
		else if (m == NULL)
			status = send_text_status(conn, c.seq, 404, "text/plain",
			    "Not found.\n", NULL);
		else
			status = send_bytes(conn, c.seq, m);
		break;
	}
out:
	log_answer(c.seq, status, false, NULL);
	cJSON_Delete(m);
	cJSON_Delete(c.spec);
	return status;
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
		else if (strcmp(argv[i], "--echo-auth") == 0)
			echo_auth = true;
		else {
			fprintf(stderr, "usage: fake_whatsapp --port N "
			    "[--twilio-token T] [--meta-token T] "
			    "[--kapso-key K] [--echo-auth]\n");
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
	media = cJSON_CreateObject();
	templates = cJSON_CreateObject();
	uploads = cJSON_CreateObject();
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
	/* Before any thread: the Twilio MediaUrl fetches use libcurl. */
	(void)httpc_global_init();
	memset(&cb, 0, sizeof(cb));
	cb.log_message = log_message;
	if ((ctx = mg_start(&cb, NULL, opts)) == NULL) {
		fprintf(stderr, "fake_whatsapp: cannot listen on %s\n", ports);
		cJSON_Delete(queue);
		cJSON_Delete(reqlog);
		cJSON_Delete(media);
		cJSON_Delete(templates);
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
	httpc_global_cleanup();
	cJSON_Delete(queue);
	cJSON_Delete(reqlog);
	cJSON_Delete(media);
	cJSON_Delete(templates);
	cJSON_Delete(uploads);
	return 0;
}

/* --- templates ------------------------------------------------------------ */

/* Replaces a provider's templates; how many, -1 when malformed. */
static int
templates_register(const cJSON *body)
{
	const char	*provider = json_str(body, "provider");
	const cJSON	*list = cJSON_GetObjectItemCaseSensitive(body,
			    "templates");
	cJSON		*entry;
	int		 n;

	if (provider == NULL || (strcmp(provider, "meta") != 0 &&
	    strcmp(provider, "kapso") != 0 && strcmp(provider, "twilio") != 0) ||
	    !cJSON_IsArray(list))
		return -1;
	entry = cJSON_CreateObject();
	cJSON_AddStringToObject(entry, "waba", json_str(body, "waba") != NULL ?
	    json_str(body, "waba") : "");
	cJSON_AddItemToObject(entry, "templates", cJSON_Duplicate(list, true));
	n = cJSON_GetArraySize(list);
	pthread_mutex_lock(&lock);
	cJSON_DeleteItemFromObjectCaseSensitive(templates, provider);
	cJSON_AddItemToObject(templates, provider, entry);
	pthread_mutex_unlock(&lock);
	return n;
}

/* The provider whose template list path this is (the WABA id to waba),
 * or NULL. */
static const char *
templates_path(const char *path, char *waba, size_t wabalen)
{
	static const char	 suffix[] = "/message_templates";
	const char		*p, *end;
	size_t			 n = strlen(path), segs = 0, len;

	waba[0] = '\0';
	if (strcmp(path, "/v1/ContentAndApprovals") == 0)
		return "twilio";
	if (n <= sizeof(suffix) - 1 ||
	    strcmp(path + n - (sizeof(suffix) - 1), suffix) != 0)
		return NULL;
	for (p = path; *p != '\0'; p++)
		segs += *p == '/';
	end = path + n - (sizeof(suffix) - 1);
	for (p = end; p > path && p[-1] != '/'; p--)
		;
	len = (size_t)(end - p);
	if (len == 0 || len >= wabalen)
		return NULL;
	memcpy(waba, p, len);
	waba[len] = '\0';
	if (strncmp(path, "/meta/whatsapp/", 15) == 0 && segs == 5)
		return "kapso";
	return segs == 3 ? "meta" : NULL;
}

static int
handle_templates(struct mg_connection *conn, const struct mg_request_info *ri,
    const char *provider, const char *waba)
{
	struct call	 c;
	const char	*host = mg_get_header(conn, "Host");
	cJSON		*entry, *root, *data, *paging, *cursors, *meta;
	const cJSON	*list;
	char		 v[64], next[512];
	long		 limit, start = 0, i, total;
	int		 status;

	memset(&c, 0, sizeof(c));
	c.conn = conn;
	c.ep = EP_NONE;
	c.provider = provider;
	c.op = "templates";
	c.query = ri->query_string;
	c.auth = mg_get_header(conn, strcmp(provider, "kapso") == 0 ?
	    "X-API-Key" : "Authorization");
	parse_basic(&c);
	c.seq = log_add(&c, ri->request_method, ri->local_uri, "");
	if (host == NULL)
		host = "127.0.0.1";
	if (!authorized(&c)) {
		status = answer_error(&c, 401, 0, NULL, NULL);
		goto out;
	}
	c.spec = queue_pop(provider, "templates", NULL);
	status = json_int(c.spec, "status", 0);
	if (status != 0 && (status < 200 || status > 299)) {
		status = answer_spec_error(&c, status);
		goto out;
	}
	pthread_mutex_lock(&lock);
	entry = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(templates,
	    provider), true);
	pthread_mutex_unlock(&lock);
	if (strcmp(provider, "twilio") != 0 && entry != NULL &&
	    json_str(entry, "waba")[0] != '\0' &&
	    strcmp(json_str(entry, "waba"), waba) != 0) {
		cJSON_Delete(entry);
		status = answer_error(&c, 400, 100, "Unsupported get request. "
		    "Object with ID does not exist, cannot be loaded due to "
		    "missing permissions, or does not support this operation.",
		    NULL);
		goto out;
	}
	list = cJSON_GetObjectItemCaseSensitive(entry, "templates");
	total = cJSON_GetArraySize(list);
	root = cJSON_CreateObject();
	if (strcmp(provider, "twilio") == 0) {
		limit = query_get(ri->query_string, "PageSize", v, sizeof(v)) ?
		    strtol(v, NULL, 10) : 50;
		if (query_get(ri->query_string, "PageToken", v, sizeof(v)) &&
		    strncmp(v, "PT", 2) == 0)
			start = strtol(v + 2, NULL, 10);
		if (limit < 1 || limit > 1000)
			limit = 50;
		data = cJSON_AddArrayToObject(root, "contents");
		for (i = start; i < total && i < start + limit; i++)
			cJSON_AddItemToArray(data, cJSON_Duplicate(
			    cJSON_GetArrayItem(list, (int)i), true));
		meta = cJSON_AddObjectToObject(root, "meta");
		cJSON_AddNumberToObject(meta, "page", (double)(start / limit));
		cJSON_AddNumberToObject(meta, "page_size", (double)limit);
		snprintf(next, sizeof(next), "http://%s/v1/ContentAndApprovals"
		    "?PageSize=%ld&Page=0", host, limit);
		cJSON_AddStringToObject(meta, "first_page_url", next);
		cJSON_AddNullToObject(meta, "previous_page_url");
		cJSON_AddStringToObject(meta, "url", next);
		if (start + limit < total) {
			snprintf(next, sizeof(next), "http://%s/v1/"
			    "ContentAndApprovals?PageSize=%ld&Page=%ld"
			    "&PageToken=PT%ld", host, limit,
			    start / limit + 1, start + limit);
			cJSON_AddStringToObject(meta, "next_page_url", next);
		} else
			cJSON_AddNullToObject(meta, "next_page_url");
		cJSON_AddStringToObject(meta, "key", "contents");
	} else {
		limit = query_get(ri->query_string, "limit", v, sizeof(v)) ?
		    strtol(v, NULL, 10) : 25;
		if (query_get(ri->query_string, "after", v, sizeof(v)) &&
		    strncmp(v, "QVFIU", 5) == 0)
			start = strtol(v + 5, NULL, 10);
		if (limit < 1 || limit > 100)
			limit = 25;
		data = cJSON_AddArrayToObject(root, "data");
		for (i = start; i < total && i < start + limit; i++)
			cJSON_AddItemToArray(data, cJSON_Duplicate(
			    cJSON_GetArrayItem(list, (int)i), true));
		paging = cJSON_AddObjectToObject(root, "paging");
		cursors = cJSON_AddObjectToObject(paging, "cursors");
		snprintf(v, sizeof(v), "QVFIU%ld", start);
		cJSON_AddStringToObject(cursors, "before", v);
		snprintf(v, sizeof(v), "QVFIU%ld", start + limit);
		cJSON_AddStringToObject(cursors, "after", v);
		if (start + limit < total) {
			snprintf(next, sizeof(next), "http://%s%s?limit=%ld"
			    "&after=QVFIU%ld", host, ri->local_uri, limit,
			    start + limit);
			cJSON_AddStringToObject(paging, "next", next);
		}
	}
	cJSON_Delete(entry);
	call_send_json(&c, 200, root, NULL);
	cJSON_Delete(root);
	status = 200;
out:
	log_answer(c.seq, status, false, NULL);
	cJSON_Delete(c.spec);
	return status;
}

/* Distinct {{…}} placeholders in text. */
static int
count_vars(const char *text)
{
	char		 seen[32][65];
	int		 n = 0;
	const char	*p = text, *open, *close;

	while (p != NULL && (open = strstr(p, "{{")) != NULL &&
	    (close = strstr(open + 2, "}}")) != NULL) {
		size_t	 len = (size_t)(close - open - 2);
		bool	 dup = false;

		p = close + 2;
		if (len == 0 || len > 64 || n >= 32)
			continue;
		for (int i = 0; i < n; i++)
			if (strlen(seen[i]) == len &&
			    strncmp(seen[i], open + 2, len) == 0)
				dup = true;
		if (dup)
			continue;
		memcpy(seen[n], open + 2, len);
		seen[n][len] = '\0';
		n++;
	}
	return n;
}

/* 0 when c's Meta template send matches a registered template, else the
 * status of the error sent. */
static int
check_meta_template(struct call *c, const cJSON *headers)
{
	const cJSON	*t = cJSON_GetObjectItemCaseSensitive(c->json,
			    "template");
	const char	*name = json_str(t, "name");
	const char	*lang = json_str(cJSON_GetObjectItemCaseSensitive(t,
			    "language"), "code");
	const cJSON	*tpl, *comp, *found = NULL;
	cJSON		*entry;
	int		 want = 0, got = 0, rc = 0;

	if (name == NULL || lang == NULL)
		return answer_error(c, 400, 131008, "Required parameter is "
		    "missing: template['name'] and template['language']",
		    headers);
	pthread_mutex_lock(&lock);
	entry = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(templates,
	    c->provider), true);
	pthread_mutex_unlock(&lock);
	cJSON_ArrayForEach(tpl, cJSON_GetObjectItemCaseSensitive(entry,
	    "templates")) {
		if (json_str(tpl, "name") != NULL && json_str(tpl,
		    "language") != NULL && strcmp(json_str(tpl, "name"),
		    name) == 0 && strcmp(json_str(tpl, "language"), lang) == 0)
			found = tpl;
	}
	if (found == NULL || json_str(found, "status") == NULL ||
	    strcmp(json_str(found, "status"), "APPROVED") != 0) {
		rc = answer_error(c, 404, 132001, "Template name does not "
		    "exist in the translation", headers);
		goto out;
	}
	cJSON_ArrayForEach(comp, cJSON_GetObjectItemCaseSensitive(found,
	    "components"))
		if (json_str(comp, "type") != NULL &&
		    strcmp(json_str(comp, "type"), "BODY") == 0)
			want = count_vars(json_str(comp, "text"));
	cJSON_ArrayForEach(comp, cJSON_GetObjectItemCaseSensitive(t,
	    "components")) {
		const char	*type = json_str(comp, "type");

		if (type != NULL && strcmp(type, "body") == 0)
			got = cJSON_GetArraySize(
			    cJSON_GetObjectItemCaseSensitive(comp,
			    "parameters"));
		if (type != NULL && strcmp(type, "button") == 0 &&
		    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(comp,
		    "index"))) {
			rc = answer_error(c, 400, 131008, "Parameter "
			    "button['index'] must be a string.", headers);
			goto out;
		}
	}
	if (want != got)
		rc = answer_error(c, 400, 132000, "Number of parameters does "
		    "not match the expected number of params", headers);
out:
	cJSON_Delete(entry);
	return rc;
}

/* 0 when c's ContentSid is a registered approved content, else the
 * status of the error sent. */
static int
check_twilio_content(struct call *c, const cJSON *headers)
{
	const char	*sid = form_str(c->form, "ContentSid");
	const char	*vars = form_str(c->form, "ContentVariables");
	const cJSON	*item, *found = NULL, *appr;
	cJSON		*entry, *parsed;
	const char	*status;
	int		 rc = 0;

	pthread_mutex_lock(&lock);
	entry = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(templates,
	    "twilio"), true);
	pthread_mutex_unlock(&lock);
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(entry,
	    "templates"))
		if (json_str(item, "sid") != NULL &&
		    strcmp(json_str(item, "sid"), sid) == 0)
			found = item;
	appr = cJSON_GetObjectItemCaseSensitive(found, "approval_requests");
	status = json_str(appr, "status");
	if (found == NULL || status == NULL || strcasecmp(status,
	    "approved") != 0) {
		rc = answer_error(c, 400, 21655, "The Content SID is Invalid.",
		    headers);
		goto out;
	}
	if (vars != NULL) {
		parsed = cJSON_Parse(vars);
		if (!cJSON_IsObject(parsed))
			rc = answer_error(c, 400, 21656, "The ContentVariables "
			    "Parameter is invalid.", headers);
		cJSON_Delete(parsed);
	}
out:
	cJSON_Delete(entry);
	return rc;
}

/* --- media sends ----------------------------------------------------------- */

/* The parts of a Meta upload (multipart/form-data); NULL when malformed. */
static cJSON *
parse_upload(const char *ctype, const char *body, size_t len)
{
	const char	*b, *p, *end = body + len, *next, *hend;
	char		 delim[128], val[256];
	unsigned char	 h[crypto_hash_sha256_BYTES];
	char		 hex[2 * sizeof(h) + 1];
	cJSON		*out, *file;
	size_t		 dlen;

	if (ctype == NULL || (b = strstr(ctype, "boundary=")) == NULL)
		return NULL;
	b += 9;
	if (snprintf(delim, sizeof(delim), "--%.*s", (int)strcspn(b, "; "),
	    b) >= (int)sizeof(delim))
		return NULL;
	dlen = strlen(delim);
	out = cJSON_CreateObject();
	p = memmem(body, len, delim, dlen);
	while (p != NULL) {
		const char	*name, *fname, *pct;
		char		 hdrs[1024];
		size_t		 hl;

		p += dlen;
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return out;
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			break;
		p += 2;
		if ((hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4)) ==
		    NULL || (hl = (size_t)(hend - p)) >= sizeof(hdrs))
			break;
		memcpy(hdrs, p, hl);
		hdrs[hl] = '\0';
		p = hend + 4;
		if ((next = memmem(p, (size_t)(end - p), delim, dlen)) ==
		    NULL || next - p < 2)
			break;
		name = strstr(hdrs, " name=\"");
		fname = strstr(hdrs, "filename=\"");
		pct = strcasestr(hdrs, "\r\nContent-Type: ");
		if (name == NULL)
			break;
		name += 7;
		if (fname != NULL) {
			file = cJSON_AddObjectToObject(out, "file");
			fname += 10;
			snprintf(val, sizeof(val), "%.*s",
			    (int)strcspn(fname, "\""), fname);
			cJSON_AddStringToObject(file, "filename", val);
			if (pct != NULL) {
				pct += 16;
				snprintf(val, sizeof(val), "%.*s",
				    (int)strcspn(pct, "\r"), pct);
				cJSON_AddStringToObject(file, "content_type",
				    val);
			}
			cJSON_AddNumberToObject(file, "size",
			    (double)(next - 2 - p));
			crypto_hash_sha256(h, (const unsigned char *)p,
			    (unsigned long long)(next - 2 - p));
			for (size_t i = 0; i < sizeof(h); i++)
				snprintf(hex + 2 * i, 3, "%02x", h[i]);
			cJSON_AddStringToObject(file, "sha256", hex);
		} else {
			char	 key[64];

			snprintf(key, sizeof(key), "%.*s",
			    (int)strcspn(name, "\""), name);
			snprintf(val, sizeof(val), "%.*s",
			    (int)(next - 2 - p < 255 ? next - 2 - p : 255), p);
			cJSON_AddStringToObject(out, key, val);
		}
		p = next;
	}
	cJSON_Delete(out);
	return NULL;
}

static int
answer_upload(struct call *c, const cJSON *headers)
{
	const cJSON	*file = cJSON_GetObjectItemCaseSensitive(c->json,
			    "file");
	cJSON		*root;

	if (!cJSON_IsObject(c->json))
		return answer_error(c, 400, 100, "Invalid parameter: the body "
		    "is not multipart/form-data.", headers);
	if (json_str(c->json, "messaging_product") == NULL ||
	    strcmp(json_str(c->json, "messaging_product"), "whatsapp") != 0)
		return answer_error(c, 400, 100, "Invalid parameter: "
		    "messaging_product must be 'whatsapp'.", headers);
	if (!cJSON_IsObject(file) || json_int(file, "size", 0) <= 0 ||
	    json_str(file, "content_type") == NULL)
		return answer_error(c, 400, 100, "Invalid parameter: a file "
		    "part with its Content-Type is required.", headers);
	random_id(c->id, sizeof(c->id), "", "0123456789", 16);
	pthread_mutex_lock(&lock);
	cJSON_AddStringToObject(uploads, c->id, c->provider);
	pthread_mutex_unlock(&lock);
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "id", c->id);
	return answer_ok(c, 200, root, headers);
}

/* Adds key: val (consumed) to request seq's log entry. */
static void
log_extra(long seq, const char *key, cJSON *val)
{
	cJSON	*e;

	pthread_mutex_lock(&lock);
	cJSON_ArrayForEach(e, reqlog) {
		if (json_int(e, "seq", -1) != seq)
			continue;
		cJSON_AddItemToObject(e, key, val);
		val = NULL;
		break;
	}
	pthread_mutex_unlock(&lock);
	cJSON_Delete(val);
}

/* Twilio fetches every MediaUrl (HEAD, then GET), as the real one does. */
static void
fetch_media_urls(const struct call *c)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(c->form,
			    "MediaUrl"), *u;
	cJSON		*arr = cJSON_CreateArray(), *f, *single = NULL;

	if (cJSON_IsString(v)) {
		single = cJSON_CreateArray();
		cJSON_AddItemToArray(single, cJSON_CreateString(
		    v->valuestring));
		v = single;
	}
	cJSON_ArrayForEach(u, v) {
		struct httpc_req	 req;
		struct httpc_resp	 resp;
		unsigned char		 h[crypto_hash_sha256_BYTES];
		char			 hex[2 * sizeof(h) + 1], hv[256];

		if (!cJSON_IsString(u))
			continue;
		f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "url", u->valuestring);
		memset(&req, 0, sizeof(req));
		req.url = u->valuestring;
		req.method = "HEAD";
		req.timeout_ms = 10000;
		req.max_response = FAKE_MEDIA_MAX;
		httpc_resp_init(&resp);
		httpc_do(&req, &resp);
		cJSON_AddNumberToObject(f, "head", (double)resp.status);
		req.method = "GET";
		httpc_do(&req, &resp);
		cJSON_AddNumberToObject(f, "status", (double)resp.status);
		if (httpc_header(&resp, "Content-Type", hv, sizeof(hv)))
			cJSON_AddStringToObject(f, "content_type", hv);
		if (httpc_header(&resp, "Content-Disposition", hv, sizeof(hv)))
			cJSON_AddStringToObject(f, "disposition", hv);
		cJSON_AddNumberToObject(f, "size", (double)resp.body.len);
		crypto_hash_sha256(h, (const unsigned char *)(resp.body.data !=
		    NULL ? resp.body.data : ""), resp.body.len);
		for (size_t i = 0; i < sizeof(h); i++)
			snprintf(hex + 2 * i, 3, "%02x", h[i]);
		cJSON_AddStringToObject(f, "sha256", hex);
		httpc_resp_cleanup(&resp);
		cJSON_AddItemToArray(arr, f);
	}
	cJSON_Delete(single);
	log_extra(c->seq, "fetched", arr);
}
