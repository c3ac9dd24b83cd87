/*
 * fake_llm: a local stand-in for an OpenAI-compatible server
 * (PROTOCOLS.md §5), for tests. It speaks the real wire format:
 *
 *   POST /v1/chat/completions   a completion, or with "stream":true an SSE
 *                               stream of chat.completion.chunk objects
 *   GET  /v1/models             a fixed list (fake-model, fake-tools)
 *   POST /v1/audio/transcriptions  multipart/form-data (§5.3): `file` (with
 *                               a filename whose extension is one of
 *                               OpenAI's formats) and `model` required,
 *                               optional response_format json|text;
 *                               answers {"text":"…"}: "transcript: <the
 *                               bytes>" when the file is printable UTF-8
 *                               text, else "transcript of N bytes of
 *                               <content type>". A missing field, another
 *                               content type or extension is 400.
 *
 * All require "Authorization: Bearer K" when started with --api-key K,
 * and answer 401 with the OpenAI error object otherwise. Started with
 * --echo-auth, every error answer's message ends with the Authorization
 * header it received ("… You sent: Bearer K"), as a careless provider
 * or proxy might: Parley must redact it.
 *
 * Answers come from a FIFO queue of scripted specs, or by default echo
 * the last user message ("Echo: <text>"). A spec is a JSON object:
 *
 *   status          HTTP status (200)
 *   delay_ms        sleep before answering (client timeouts)
 *   content         string or null
 *   tool_calls      [{"id"?, "name", "arguments": object|string}]
 *   finish_reason   default "tool_calls" with tool calls, else "stop"
 *   usage           object; default: word counts
 *   error           {"message","type","code"} when status != 200
 *   headers         {"Name": "value"} extra response headers (Retry-After)
 *   raw             body sent verbatim (malformed-response tests)
 *   content_type    Content-Type for raw
 *   drop            true: close the connection without an answer
 *   chunk_delay_ms  streaming: sleep between chunks
 *   drop_after_chunks  streaming: stop after N chunks, no terminator
 *
 * The control API (no auth) scripts and inspects it:
 *
 *   POST /_fake/queue     one spec or an array of them, appended
 *   GET  /_fake/queue     {"queued": n}
 *   POST /_fake/transcriptions  specs for /v1/audio/transcriptions (their
 *                         own queue): status, error, delay_ms, drop, raw
 *                         and content_type as above, and text (the
 *                         transcript to answer instead of the default)
 *   POST /_fake/reset     clears both queues and the request log
 *   GET  /_fake/requests  [{"method","path","authorization","body"}] for
 *                         every /v1/ request, in order of arrival; for a
 *                         transcription "body" is {"model","filename",
 *                         "content_type","size","response_format",
 *                         "fields":[names in order]} (never the bytes)
 *
 * Usage: fake_llm --port N [--api-key K] [--echo-auth]; prints "ready"
 * on stdout once listening on 127.0.0.1:N, stops on SIGTERM/SIGINT and
 * exits 0.
 *
 * Thread-safety: CivetWeb runs handlers on several threads; the queue and
 * the log are cJSON trees guarded by one mutex, and a handler only ever
 * works on its own copy of a spec. Sizes are bounded (request bodies,
 * queue length, log length).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <civetweb.h>
#include <cjson/cJSON.h>

#include "http/form.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/utf8.h"
#include "util/xmalloc.h"

#define FAKE_BODY_MAX		(4u * 1024 * 1024)
#define FAKE_QUEUE_MAX		1000
#define FAKE_LOG_MAX		10000
#define FAKE_DELAY_MAX_MS	120000
#define FAKE_CONTENT_PIECE	8	/* bytes per streamed content delta */
#define FAKE_ARGS_PIECE		10	/* bytes per streamed argument piece */

struct stream {
	struct mg_connection	*conn;
	const char		*id;
	const char		*model;
	long long		 created;
	bool			 include_usage;
	int			 chunk_delay_ms;
	int			 drop_after;	/* -1: never */
	int			 sent;
	bool			 dropped;
};

static void	 on_signal(int sig);
static int	 log_message(const struct mg_connection *conn,
		    const char *msg);
static void	 sleep_ms(int ms);
static int	 json_int(const cJSON *o, const char *name, int dflt);
static char	*read_body(struct mg_connection *conn, size_t *len,
		    bool *too_big);
static void	 send_body(struct mg_connection *conn, int status,
		    const char *ctype, const char *body, size_t len,
		    const cJSON *headers);
static void	 send_json(struct mg_connection *conn, int status,
		    const cJSON *obj, const cJSON *headers);
static void	 send_error(struct mg_connection *conn, int status,
		    const char *message, const char *type, const char *code,
		    const cJSON *headers);
static int	 handler(struct mg_connection *conn, void *cbdata);
static int	 handle_control(struct mg_connection *conn,
		    const struct mg_request_info *ri);
static int	 handle_v1(struct mg_connection *conn,
		    const struct mg_request_info *ri);
static void	 log_request(const char *method, const char *path,
		    const char *auth, const char *body, size_t len);
static void	 log_entry(const char *method, const char *path,
		    const char *auth, cJSON *body);
static int	 transcription(struct mg_connection *conn,
		    const struct mg_request_info *ri, const char *auth,
		    const char *body, size_t len, bool too_big);
static bool	 audio_ext_ok(const char *filename);
static bool	 printable_text(const char *p, size_t len);
static bool	 authorized(const char *auth);
static cJSON	*queue_pop(cJSON **q);
static int	 queue_push(cJSON **q, const cJSON *specs);
static void	 chat(struct mg_connection *conn, const cJSON *req);
static int	 count_words(const char *s);
static int	 prompt_words(const cJSON *messages);
static char	*last_user_text(const cJSON *messages);
static cJSON	*tool_calls_of(const cJSON *spec);
static cJSON	*usage_of(const cJSON *spec, const cJSON *messages,
		    const char *content);
static void	 chat_plain(struct mg_connection *conn, const char *id,
		    const char *model, long long created, const char *content,
		    const cJSON *tcalls, const char *finish, cJSON *usage,
		    const cJSON *headers);
static void	 chat_stream(struct mg_connection *conn, const char *id,
		    const char *model, long long created, const char *content,
		    const cJSON *tcalls, const char *finish, cJSON *usage,
		    const cJSON *spec, const cJSON *req);
static bool	 stream_chunk(struct stream *st, cJSON *choices,
		    cJSON *usage);
static bool	 stream_raw(struct stream *st, const char *s);
static cJSON	*choice_with(cJSON *delta, const char *finish);
static size_t	 utf8_piece(const char *s, size_t len, size_t want);

static volatile sig_atomic_t	 stopping;
static pthread_mutex_t		 lock = PTHREAD_MUTEX_INITIALIZER;
static cJSON			*queue;		/* array of specs */
static cJSON			*audio_queue;	/* transcription specs */
static cJSON			*reqlog;	/* array of requests */
static unsigned long		 next_id;	/* under lock */
static const char		*api_key;	/* NULL: no auth */
static bool			 echo_auth;	/* errors quote the header */

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
	fprintf(stderr, "fake_llm: civetweb: %s\n", msg);
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
send_body(struct mg_connection *conn, int status, const char *ctype,
    const char *body, size_t len, const cJSON *headers)
{
	const cJSON	*h;
	char		 clen[32];

	snprintf(clen, sizeof(clen), "%zu", len);
	mg_response_header_start(conn, status);
	mg_response_header_add(conn, "Content-Type", ctype, -1);
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
	send_body(conn, status, "application/json", s, strlen(s), headers);
	free(s);
}

/* The OpenAI error object: all four keys, param always null here. */
static void
send_error(struct mg_connection *conn, int status, const char *message,
    const char *type, const char *code, const cJSON *headers)
{
	cJSON		*root = cJSON_CreateObject();
	cJSON		*err = cJSON_AddObjectToObject(root, "error");
	const char	*auth = mg_get_header(conn, "Authorization");
	char		*echo = NULL;

	if (echo_auth && auth != NULL) {
		echo = xasprintf("%s You sent: %s", message, auth);
		message = echo;
	}
	cJSON_AddStringToObject(err, "message", message);
	free(echo);
	cJSON_AddStringToObject(err, "type", type);
	cJSON_AddNullToObject(err, "param");
	if (code != NULL)
		cJSON_AddStringToObject(err, "code", code);
	else
		cJSON_AddNullToObject(err, "code");
	send_json(conn, status, root, headers);
	cJSON_Delete(root);
}

static int
handler(struct mg_connection *conn, void *cbdata)
{
	const struct mg_request_info	*ri = mg_get_request_info(conn);

	(void)cbdata;
	if (strncmp(ri->local_uri, "/_fake/", 7) == 0)
		return handle_control(conn, ri);
	if (strncmp(ri->local_uri, "/v1/", 4) == 0)
		return handle_v1(conn, ri);
	send_error(conn, 404, "Unknown path.", "invalid_request_error",
	    "unknown_url", NULL);
	return 404;
}

/* --- control API ---------------------------------------------------------- */

static int
handle_control(struct mg_connection *conn, const struct mg_request_info *ri)
{
	const char	*path = ri->local_uri;
	bool		 is_post = strcmp(ri->request_method, "POST") == 0;
	bool		 too_big;
	char		*body = NULL;
	size_t		 len;
	cJSON		*specs = NULL, *out = NULL;
	int		 n, status = 200;

	if (is_post)
		body = read_body(conn, &len, &too_big);
	if (is_post && (strcmp(path, "/_fake/queue") == 0 ||
	    strcmp(path, "/_fake/transcriptions") == 0)) {
		if (too_big || (specs = cJSON_ParseWithLength(body, len)) ==
		    NULL || !(cJSON_IsObject(specs) || cJSON_IsArray(specs))) {
			send_error(conn, status = 400, "The body must be a "
			    "spec object or an array of them.",
			    "invalid_request_error", NULL, NULL);
			goto out;
		}
		if ((n = queue_push(strcmp(path, "/_fake/queue") == 0 ?
		    &queue : &audio_queue, specs)) < 0) {
			send_error(conn, status = 400, "The queue is full or "
			    "a spec is not an object.",
			    "invalid_request_error", NULL, NULL);
			goto out;
		}
		out = cJSON_CreateObject();
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
		cJSON_Delete(audio_queue);
		cJSON_Delete(reqlog);
		queue = cJSON_CreateArray();
		audio_queue = cJSON_CreateArray();
		reqlog = cJSON_CreateArray();
		pthread_mutex_unlock(&lock);
		out = cJSON_CreateObject();
		cJSON_AddTrueToObject(out, "ok");
	} else if (!is_post && strcmp(path, "/_fake/requests") == 0) {
		pthread_mutex_lock(&lock);
		out = cJSON_Duplicate(reqlog, true);
		pthread_mutex_unlock(&lock);
	} else {
		send_error(conn, status = 404, "Unknown control path.",
		    "invalid_request_error", NULL, NULL);
		goto out;
	}
	send_json(conn, status, out, NULL);
out:
	cJSON_Delete(out);
	cJSON_Delete(specs);
	free(body);
	return status;
}

/* Appends copies of the specs to *q; its new length, -1 when refused. */
static int
queue_push(cJSON **q, const cJSON *specs)
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
	n = cJSON_GetArraySize(*q);
	if (n + add > FAKE_QUEUE_MAX)
		goto out;
	if (cJSON_IsArray(specs)) {
		cJSON_ArrayForEach(s, specs)
			cJSON_AddItemToArray(*q, cJSON_Duplicate(s, true));
	} else
		cJSON_AddItemToArray(*q, cJSON_Duplicate(specs, true));
	rc = n + add;
out:
	pthread_mutex_unlock(&lock);
	return rc;
}

/* The next scripted spec of *q (the caller deletes it), NULL: none. */
static cJSON *
queue_pop(cJSON **q)
{
	cJSON	*s;

	pthread_mutex_lock(&lock);
	s = cJSON_DetachItemFromArray(*q, 0);
	pthread_mutex_unlock(&lock);
	return s;
}

static void
log_request(const char *method, const char *path, const char *auth,
    const char *body, size_t len)
{
	log_entry(method, path, auth, body != NULL && len > 0 ?
	    cJSON_ParseWithLength(body, len) : NULL);
}

/* Appends {"method","path","authorization","body"} (body consumed). */
static void
log_entry(const char *method, const char *path, const char *auth,
    cJSON *body)
{
	cJSON	*e = cJSON_CreateObject();

	cJSON_AddStringToObject(e, "method", method);
	cJSON_AddStringToObject(e, "path", path);
	if (auth != NULL)
		cJSON_AddStringToObject(e, "authorization", auth);
	else
		cJSON_AddNullToObject(e, "authorization");
	if (body != NULL)
		cJSON_AddItemToObject(e, "body", body);
	else
		cJSON_AddNullToObject(e, "body");
	pthread_mutex_lock(&lock);
	if (cJSON_GetArraySize(reqlog) < FAKE_LOG_MAX) {
		cJSON_AddItemToArray(reqlog, e);
		e = NULL;
	}
	pthread_mutex_unlock(&lock);
	cJSON_Delete(e);
}

static bool
authorized(const char *auth)
{
	char	 want[1024];

	if (api_key == NULL)
		return true;
	snprintf(want, sizeof(want), "Bearer %s", api_key);
	return auth != NULL && strcmp(auth, want) == 0;
}

/* --- /v1 ---------------------------------------------------------------- */

static int
handle_v1(struct mg_connection *conn, const struct mg_request_info *ri)
{
	const char	*path = ri->local_uri;
	const char	*auth = mg_get_header(conn, "Authorization");
	bool		 is_post = strcmp(ri->request_method, "POST") == 0;
	bool		 too_big = false;
	char		*body = NULL;
	size_t		 len = 0;
	cJSON		*req = NULL, *list = NULL, *data, *m;
	int		 status = 200;
	static const char *const models[] = { "fake-model", "fake-tools" };

	if (is_post)
		body = read_body(conn, &len, &too_big);
	if (strcmp(path, "/v1/audio/transcriptions") == 0) {
		status = transcription(conn, ri, auth, body, len, too_big);
		goto out;
	}
	log_request(ri->request_method, path, auth, body, len);

	if (!authorized(auth)) {
		send_error(conn, status = 401, "Incorrect API key provided.",
		    "invalid_request_error", "invalid_api_key", NULL);
		goto out;
	}
	if (strcmp(path, "/v1/models") == 0) {
		if (is_post) {
			send_error(conn, status = 405, "Method not allowed.",
			    "invalid_request_error", NULL, NULL);
			goto out;
		}
		list = cJSON_CreateObject();
		cJSON_AddStringToObject(list, "object", "list");
		data = cJSON_AddArrayToObject(list, "data");
		for (size_t i = 0; i < sizeof(models) / sizeof(models[0]);
		    i++) {
			m = cJSON_CreateObject();
			cJSON_AddStringToObject(m, "id", models[i]);
			cJSON_AddStringToObject(m, "object", "model");
			cJSON_AddNumberToObject(m, "created", 1700000000);
			cJSON_AddStringToObject(m, "owned_by", "parley-fake");
			cJSON_AddItemToArray(data, m);
		}
		send_json(conn, status, list, NULL);
		goto out;
	}
	if (strcmp(path, "/v1/chat/completions") != 0) {
		send_error(conn, status = 404, "Unknown path.",
		    "invalid_request_error", "unknown_url", NULL);
		goto out;
	}
	if (!is_post) {
		send_error(conn, status = 405, "Method not allowed.",
		    "invalid_request_error", NULL, NULL);
		goto out;
	}
	if (too_big) {
		send_error(conn, status = 413, "The request body is too "
		    "large.", "invalid_request_error", NULL, NULL);
		goto out;
	}
	if ((req = cJSON_ParseWithLength(body, len)) == NULL ||
	    !cJSON_IsObject(req)) {
		send_error(conn, status = 400, "We could not parse the JSON "
		    "body of your request.", "invalid_request_error", NULL,
		    NULL);
		goto out;
	}
	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req, "model")) ||
	    !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(req,
	    "messages"))) {
		send_error(conn, status = 400, "'model' and 'messages' are "
		    "required.", "invalid_request_error", NULL, NULL);
		goto out;
	}
	chat(conn, req);
out:
	cJSON_Delete(list);
	cJSON_Delete(req);
	free(body);
	return status;
}

/* --- /v1/audio/transcriptions ------------------------------------------- */

/* OpenAI's accepted formats, by the upload's filename extension (§5.3). */
static bool
audio_ext_ok(const char *filename)
{
	static const char *const exts[] = { "flac", "mp3", "mp4", "mpeg",
	    "mpga", "m4a", "ogg", "oga", "wav", "webm" };
	const char	*dot = filename != NULL ? strrchr(filename, '.') : NULL;

	if (dot == NULL || dot[1] == '\0')
		return false;
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (strcasecmp(dot + 1, exts[i]) == 0)
			return true;
	return false;
}

/* UTF-8 without control characters other than tab and line breaks. */
static bool
printable_text(const char *p, size_t len)
{
	if (len == 0 || !utf8_valid(p, len))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char	 c = (unsigned char)p[i];

		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') ||
		    c == 0x7f)
			return false;
	}
	return true;
}

/*
 * One transcription: checks the bearer, parses the multipart body with
 * Parley's own RFC 7578 parser (http/form.c), logs what was uploaded (not
 * the bytes), then answers from the next transcription spec or the
 * deterministic default. Returns the status sent.
 */
static int
transcription(struct mg_connection *conn, const struct mg_request_info *ri,
    const char *auth, const char *body, size_t len, bool too_big)
{
	struct arena			*a = arena_new();
	struct form			*f = NULL;
	const struct form_field		*file = NULL, *model = NULL;
	const struct form_field		*fmt = NULL;
	const char			*ct = mg_get_header(conn,
					    "Content-Type");
	const cJSON			*v, *err, *headers;
	cJSON				*entry = NULL, *names, *spec = NULL;
	cJSON				*out = NULL;
	enum form_result		 fr = FORM_UNSUPPORTED;
	char				*text = NULL;
	int				 status = 200, delay;
	bool				 is_post = strcmp(ri->request_method,
					    "POST") == 0;

	if (is_post && !too_big && ct != NULL &&
	    strncasecmp(ct, "multipart/form-data", 19) == 0)
		fr = form_parse(a, ct, body != NULL ? body : "", len, &f);
	entry = cJSON_CreateObject();
	if (fr == FORM_OK) {
		names = cJSON_AddArrayToObject(entry, "fields");
		for (int i = 0; i < f->n; i++) {
			cJSON_AddItemToArray(names,
			    cJSON_CreateString(f->fields[i].name));
			if (strcmp(f->fields[i].name, "file") == 0 &&
			    file == NULL)
				file = &f->fields[i];
			else if (strcmp(f->fields[i].name, "model") == 0 &&
			    model == NULL)
				model = &f->fields[i];
			else if (strcmp(f->fields[i].name,
			    "response_format") == 0 && fmt == NULL)
				fmt = &f->fields[i];
		}
		if (model != NULL)
			cJSON_AddStringToObject(entry, "model", model->value);
		if (fmt != NULL)
			cJSON_AddStringToObject(entry, "response_format",
			    fmt->value);
		if (file != NULL) {
			if (file->filename != NULL)
				cJSON_AddStringToObject(entry, "filename",
				    file->filename);
			if (file->content_type != NULL)
				cJSON_AddStringToObject(entry, "content_type",
				    file->content_type);
			cJSON_AddNumberToObject(entry, "size",
			    (double)file->len);
		}
	} else
		cJSON_AddStringToObject(entry, "parse_error",
		    form_result_str(fr));
	log_entry(ri->request_method, ri->local_uri, auth, entry);

	if (!authorized(auth)) {
		send_error(conn, status = 401, "Incorrect API key provided.",
		    "invalid_request_error", "invalid_api_key", NULL);
		goto out;
	}
	if (!is_post) {
		send_error(conn, status = 405, "Method not allowed.",
		    "invalid_request_error", NULL, NULL);
		goto out;
	}
	if (too_big) {
		send_error(conn, status = 413, "Maximum content size limit "
		    "exceeded.", "invalid_request_error", NULL, NULL);
		goto out;
	}
	if (fr != FORM_OK) {
		send_error(conn, status = 400, "Could not parse multipart "
		    "form.", "invalid_request_error", NULL, NULL);
		goto out;
	}
	if (model == NULL || model->value[0] == '\0') {
		send_error(conn, status = 400, "you must provide a model "
		    "parameter", "invalid_request_error", NULL, NULL);
		goto out;
	}
	if (file == NULL || file->filename == NULL || file->len == 0) {
		send_error(conn, status = 400, "1 validation error for "
		    "Request: body -> file: field required",
		    "invalid_request_error", NULL, NULL);
		goto out;
	}
	if (!audio_ext_ok(file->filename)) {
		send_error(conn, status = 400, "Invalid file format. Supported "
		    "formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', "
		    "'oga', 'ogg', 'wav', 'webm']", "invalid_request_error",
		    NULL, NULL);
		goto out;
	}
	if (fmt != NULL && strcmp(fmt->value, "json") != 0 &&
	    strcmp(fmt->value, "text") != 0) {
		send_error(conn, status = 400, "response_format must be json "
		    "or text here.", "invalid_request_error", NULL, NULL);
		goto out;
	}

	spec = queue_pop(&audio_queue);
	headers = cJSON_GetObjectItemCaseSensitive(spec, "headers");
	delay = json_int(spec, "delay_ms", 0);
	if (delay > 0)
		sleep_ms(delay > FAKE_DELAY_MAX_MS ? FAKE_DELAY_MAX_MS : delay);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "drop")))
		goto out;	/* nothing written: CivetWeb closes */
	status = json_int(spec, "status", 200);
	if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(spec,
	    "raw"))) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(spec,
		    "content_type");

		send_body(conn, status, cJSON_IsString(c) ? c->valuestring :
		    "application/json", v->valuestring,
		    strlen(v->valuestring), headers);
		goto out;
	}
	if (status != 200) {
		err = cJSON_GetObjectItemCaseSensitive(spec, "error");
		v = cJSON_GetObjectItemCaseSensitive(err, "message");
		send_error(conn, status, cJSON_IsString(v) ? v->valuestring :
		    "The fake was told to fail.", status >= 500 ?
		    "server_error" : "invalid_request_error", NULL, headers);
		goto out;
	}
	if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(spec,
	    "text")))
		text = xstrdup(v->valuestring);
	else if (printable_text(file->value, file->len))
		text = xasprintf("transcript: %.*s", (int)file->len,
		    file->value);
	else
		text = xasprintf("transcript of %zu bytes of %s", file->len,
		    file->content_type != NULL ? file->content_type :
		    "unknown type");
	if (fmt != NULL && strcmp(fmt->value, "text") == 0) {
		send_body(conn, 200, "text/plain; charset=utf-8", text,
		    strlen(text), headers);
		goto out;
	}
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "text", text);
	send_json(conn, 200, out, headers);
out:
	cJSON_Delete(out);
	cJSON_Delete(spec);
	free(text);
	arena_free(a);
	return status;
}

/* Answers one chat completion from the next spec (or the echo default). */
static void
chat(struct mg_connection *conn, const cJSON *req)
{
	cJSON		*spec = queue_pop(&queue);
	const cJSON	*messages = cJSON_GetObjectItemCaseSensitive(req,
			    "messages");
	const cJSON	*model = cJSON_GetObjectItemCaseSensitive(req, "model");
	const cJSON	*headers, *c, *raw, *err, *fin;
	cJSON		*tcalls = NULL, *usage = NULL;
	char		*content = NULL, id[64];
	const char	*finish, *ctype;
	bool		 is_stream, has_content;
	int		 status, delay;

	is_stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req,
	    "stream"));
	headers = cJSON_GetObjectItemCaseSensitive(spec, "headers");
	status = json_int(spec, "status", 200);
	delay = json_int(spec, "delay_ms", 0);
	if (delay > 0)
		sleep_ms(delay > FAKE_DELAY_MAX_MS ? FAKE_DELAY_MAX_MS : delay);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "drop")))
		goto out;	/* nothing written: CivetWeb closes */

	if (cJSON_IsString(raw = cJSON_GetObjectItemCaseSensitive(spec,
	    "raw"))) {
		c = cJSON_GetObjectItemCaseSensitive(spec, "content_type");
		ctype = cJSON_IsString(c) ? c->valuestring : is_stream ?
		    "text/event-stream" : "application/json";
		send_body(conn, status, ctype, raw->valuestring,
		    strlen(raw->valuestring), headers);
		goto out;
	}
	if (status != 200) {
		err = cJSON_GetObjectItemCaseSensitive(spec, "error");
		c = cJSON_GetObjectItemCaseSensitive(err, "code");
		send_error(conn, status,
		    cJSON_IsString(cJSON_GetObjectItemCaseSensitive(err,
		    "message")) ? cJSON_GetObjectItemCaseSensitive(err,
		    "message")->valuestring : "The fake was told to fail.",
		    cJSON_IsString(cJSON_GetObjectItemCaseSensitive(err,
		    "type")) ? cJSON_GetObjectItemCaseSensitive(err,
		    "type")->valuestring : status >= 500 ? "server_error" :
		    "invalid_request_error",
		    cJSON_IsString(c) ? c->valuestring : NULL, headers);
		goto out;
	}

	c = cJSON_GetObjectItemCaseSensitive(spec, "content");
	if (spec == NULL || c == NULL) {
		/* No content in the spec: the echo (unless tool calls only). */
		if (spec == NULL || cJSON_GetObjectItemCaseSensitive(spec,
		    "tool_calls") == NULL) {
			char *u = last_user_text(messages);

			content = xasprintf("Echo: %s", u);
			free(u);
		}
	} else if (cJSON_IsString(c))
		content = xstrdup(c->valuestring);
	has_content = content != NULL;
	tcalls = tool_calls_of(spec);
	fin = cJSON_GetObjectItemCaseSensitive(spec, "finish_reason");
	finish = cJSON_IsString(fin) ? fin->valuestring :
	    cJSON_GetArraySize(tcalls) > 0 ? "tool_calls" : "stop";
	usage = usage_of(spec, messages, has_content ? content : "");

	pthread_mutex_lock(&lock);
	snprintf(id, sizeof(id), "chatcmpl-fake%06lu", ++next_id);
	pthread_mutex_unlock(&lock);

	if (is_stream)
		chat_stream(conn, id, cJSON_IsString(model) ?
		    model->valuestring : "fake-model", (long long)time(NULL),
		    content, tcalls, finish, usage, spec, req);
	else
		chat_plain(conn, id, cJSON_IsString(model) ?
		    model->valuestring : "fake-model", (long long)time(NULL),
		    content, tcalls, finish, usage, headers);
out:
	cJSON_Delete(usage);
	cJSON_Delete(tcalls);
	cJSON_Delete(spec);
	free(content);
}

/* The spec's tool calls in the wire shape (arguments as a string). */
static cJSON *
tool_calls_of(const cJSON *spec)
{
	const cJSON	*tc, *name, *args, *tid;
	cJSON		*arr = cJSON_CreateArray(), *call, *fn;
	char		 idbuf[32], *s;
	int		 i = 0;

	cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(spec,
	    "tool_calls")) {
		name = cJSON_GetObjectItemCaseSensitive(tc, "name");
		args = cJSON_GetObjectItemCaseSensitive(tc, "arguments");
		tid = cJSON_GetObjectItemCaseSensitive(tc, "id");
		call = cJSON_CreateObject();
		if (cJSON_IsString(tid))
			cJSON_AddStringToObject(call, "id", tid->valuestring);
		else {
			snprintf(idbuf, sizeof(idbuf), "call_fake%d", i);
			cJSON_AddStringToObject(call, "id", idbuf);
		}
		cJSON_AddStringToObject(call, "type", "function");
		fn = cJSON_AddObjectToObject(call, "function");
		cJSON_AddStringToObject(fn, "name", cJSON_IsString(name) ?
		    name->valuestring : "unnamed");
		if (cJSON_IsString(args))
			cJSON_AddStringToObject(fn, "arguments",
			    args->valuestring);
		else if (args != NULL) {
			if ((s = cJSON_PrintUnformatted(args)) == NULL)
				abort();
			cJSON_AddStringToObject(fn, "arguments", s);
			free(s);
		} else
			cJSON_AddStringToObject(fn, "arguments", "{}");
		cJSON_AddItemToArray(arr, call);
		i++;
	}
	return arr;
}

static int
count_words(const char *s)
{
	int	 n = 0;
	bool	 in = false;

	for (; s != NULL && *s != '\0'; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
			in = false;
		else if (!in) {
			in = true;
			n++;
		}
	}
	return n;
}

/* Words in every message's string content and text parts. */
static int
prompt_words(const cJSON *messages)
{
	const cJSON	*m, *c, *p, *t;
	int		 n = 0;

	cJSON_ArrayForEach(m, messages) {
		c = cJSON_GetObjectItemCaseSensitive(m, "content");
		if (cJSON_IsString(c))
			n += count_words(c->valuestring);
		cJSON_ArrayForEach(p, (cJSON_IsArray(c) ? c : NULL)) {
			t = cJSON_GetObjectItemCaseSensitive(p, "text");
			if (cJSON_IsString(t))
				n += count_words(t->valuestring);
		}
	}
	return n;
}

/* The text of the last user message (malloc'd; "" when none). */
static char *
last_user_text(const cJSON *messages)
{
	const cJSON	*m, *c, *p, *t, *last = NULL;
	struct buf	 b;

	cJSON_ArrayForEach(m, messages) {
		const cJSON *role = cJSON_GetObjectItemCaseSensitive(m,
		    "role");

		if (cJSON_IsString(role) && strcmp(role->valuestring,
		    "user") == 0)
			last = m;
	}
	buf_init(&b, 0);
	buf_puts(&b, "");
	c = cJSON_GetObjectItemCaseSensitive(last, "content");
	if (cJSON_IsString(c))
		buf_puts(&b, c->valuestring);
	cJSON_ArrayForEach(p, (cJSON_IsArray(c) ? c : NULL)) {
		t = cJSON_GetObjectItemCaseSensitive(p, "text");
		if (cJSON_IsString(t)) {
			if (b.len > 0)
				buf_putc(&b, ' ');
			buf_puts(&b, t->valuestring);
		}
	}
	return buf_steal(&b, NULL);
}

static cJSON *
usage_of(const cJSON *spec, const cJSON *messages, const char *content)
{
	const cJSON	*u = cJSON_GetObjectItemCaseSensitive(spec, "usage");
	cJSON		*usage;
	int		 pt, ct;

	if (cJSON_IsObject(u))
		return cJSON_Duplicate(u, true);
	pt = prompt_words(messages);
	ct = count_words(content);
	usage = cJSON_CreateObject();
	cJSON_AddNumberToObject(usage, "prompt_tokens", pt);
	cJSON_AddNumberToObject(usage, "completion_tokens", ct);
	cJSON_AddNumberToObject(usage, "total_tokens", pt + ct);
	return usage;
}

static void
chat_plain(struct mg_connection *conn, const char *id, const char *model,
    long long created, const char *content, const cJSON *tcalls,
    const char *finish, cJSON *usage, const cJSON *headers)
{
	cJSON	*root = cJSON_CreateObject();
	cJSON	*choices, *choice, *msg;

	cJSON_AddStringToObject(root, "id", id);
	cJSON_AddStringToObject(root, "object", "chat.completion");
	cJSON_AddNumberToObject(root, "created", (double)created);
	cJSON_AddStringToObject(root, "model", model);
	choices = cJSON_AddArrayToObject(root, "choices");
	choice = cJSON_CreateObject();
	cJSON_AddNumberToObject(choice, "index", 0);
	msg = cJSON_AddObjectToObject(choice, "message");
	cJSON_AddStringToObject(msg, "role", "assistant");
	if (content != NULL)
		cJSON_AddStringToObject(msg, "content", content);
	else
		cJSON_AddNullToObject(msg, "content");
	cJSON_AddNullToObject(msg, "refusal");
	if (cJSON_GetArraySize(tcalls) > 0)
		cJSON_AddItemToObject(msg, "tool_calls",
		    cJSON_Duplicate(tcalls, true));
	cJSON_AddNullToObject(choice, "logprobs");
	cJSON_AddStringToObject(choice, "finish_reason", finish);
	cJSON_AddItemToArray(choices, choice);
	cJSON_AddItemToObject(root, "usage", cJSON_Duplicate(usage, true));
	send_json(conn, 200, root, headers);
	cJSON_Delete(root);
}

/* How many bytes of s to send next: about `want`, never splitting UTF-8. */
static size_t
utf8_piece(const char *s, size_t len, size_t want)
{
	size_t	 n = want < len ? want : len;

	while (n < len && ((unsigned char)s[n] & 0xC0) == 0x80)
		n++;
	return n;
}

static bool
stream_raw(struct stream *st, const char *s)
{
	if (st->dropped)
		return false;
	if (st->drop_after >= 0 && st->sent >= st->drop_after) {
		st->dropped = true;
		return false;
	}
	if (st->sent > 0 && st->chunk_delay_ms > 0)
		sleep_ms(st->chunk_delay_ms);
	st->sent++;
	return mg_send_chunk(st->conn, s, (unsigned)strlen(s)) > 0;
}

/* Sends one chunk built around `choices` (consumed) and usage (borrowed). */
static bool
stream_chunk(struct stream *st, cJSON *choices, cJSON *usage)
{
	cJSON	*c = cJSON_CreateObject();
	char	*s, *line;
	bool	 ok;

	cJSON_AddStringToObject(c, "id", st->id);
	cJSON_AddStringToObject(c, "object", "chat.completion.chunk");
	cJSON_AddNumberToObject(c, "created", (double)st->created);
	cJSON_AddStringToObject(c, "model", st->model);
	cJSON_AddItemToObject(c, "choices", choices);
	/* With include_usage every chunk carries "usage", null until the
	 * last one (PROTOCOLS.md §5.2). */
	if (usage != NULL)
		cJSON_AddItemToObject(c, "usage", cJSON_Duplicate(usage,
		    true));
	else if (st->include_usage)
		cJSON_AddNullToObject(c, "usage");
	if ((s = cJSON_PrintUnformatted(c)) == NULL)
		abort();
	line = xasprintf("data: %s\n\n", s);
	ok = stream_raw(st, line);
	free(line);
	free(s);
	cJSON_Delete(c);
	return ok;
}

/* One choices array holding choice 0 with `delta` (consumed). */
static cJSON *
choice_with(cJSON *delta, const char *finish)
{
	cJSON	*arr = cJSON_CreateArray();
	cJSON	*ch = cJSON_CreateObject();

	cJSON_AddNumberToObject(ch, "index", 0);
	cJSON_AddItemToObject(ch, "delta", delta);
	cJSON_AddNullToObject(ch, "logprobs");
	if (finish != NULL)
		cJSON_AddStringToObject(ch, "finish_reason", finish);
	else
		cJSON_AddNullToObject(ch, "finish_reason");
	cJSON_AddItemToArray(arr, ch);
	return arr;
}

static void
chat_stream(struct mg_connection *conn, const char *id, const char *model,
    long long created, const char *content, const cJSON *tcalls,
    const char *finish, cJSON *usage, const cJSON *spec, const cJSON *req)
{
	struct stream	 st;
	const cJSON	*tc, *h, *fn, *args;
	cJSON		*delta, *arr, *frag, *f;
	size_t		 off, n, len;
	int		 i = 0;
	char		*piece;

	memset(&st, 0, sizeof(st));
	st.conn = conn;
	st.id = id;
	st.model = model;
	st.created = created;
	st.include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(req, "stream_options"),
	    "include_usage"));
	st.chunk_delay_ms = json_int(spec, "chunk_delay_ms", 0);
	st.drop_after = json_int(spec, "drop_after_chunks", -1);

	mg_response_header_start(conn, 200);
	mg_response_header_add(conn, "Content-Type", "text/event-stream", -1);
	mg_response_header_add(conn, "Cache-Control", "no-cache", -1);
	mg_response_header_add(conn, "Transfer-Encoding", "chunked", -1);
	cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(spec,
	    "headers")) {
		if (cJSON_IsString(h) && h->string != NULL)
			mg_response_header_add(conn, h->string,
			    h->valuestring, -1);
	}
	mg_response_header_send(conn);

	delta = cJSON_CreateObject();
	cJSON_AddStringToObject(delta, "role", "assistant");
	if (content != NULL)
		cJSON_AddStringToObject(delta, "content", "");
	else
		cJSON_AddNullToObject(delta, "content");
	if (!stream_chunk(&st, choice_with(delta, NULL), NULL))
		goto out;

	len = content != NULL ? strlen(content) : 0;
	for (off = 0; off < len; off += n) {
		n = utf8_piece(content + off, len - off, FAKE_CONTENT_PIECE);
		piece = xstrndup(content + off, n);
		delta = cJSON_CreateObject();
		cJSON_AddStringToObject(delta, "content", piece);
		free(piece);
		if (!stream_chunk(&st, choice_with(delta, NULL), NULL))
			goto out;
	}

	cJSON_ArrayForEach(tc, tcalls) {
		fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
		/* First fragment: id, type, name, empty arguments. */
		delta = cJSON_CreateObject();
		arr = cJSON_AddArrayToObject(delta, "tool_calls");
		frag = cJSON_CreateObject();
		cJSON_AddNumberToObject(frag, "index", i);
		cJSON_AddStringToObject(frag, "id",
		    cJSON_GetObjectItemCaseSensitive(tc, "id")->valuestring);
		cJSON_AddStringToObject(frag, "type", "function");
		f = cJSON_AddObjectToObject(frag, "function");
		cJSON_AddStringToObject(f, "name",
		    cJSON_GetObjectItemCaseSensitive(fn, "name")->valuestring);
		cJSON_AddStringToObject(f, "arguments", "");
		cJSON_AddItemToArray(arr, frag);
		if (!stream_chunk(&st, choice_with(delta, NULL), NULL))
			goto out;

		args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
		len = strlen(args->valuestring);
		for (off = 0; off < len; off += n) {
			n = utf8_piece(args->valuestring + off, len - off,
			    FAKE_ARGS_PIECE);
			piece = xstrndup(args->valuestring + off, n);
			delta = cJSON_CreateObject();
			arr = cJSON_AddArrayToObject(delta, "tool_calls");
			frag = cJSON_CreateObject();
			cJSON_AddNumberToObject(frag, "index", i);
			f = cJSON_AddObjectToObject(frag, "function");
			cJSON_AddStringToObject(f, "arguments", piece);
			cJSON_AddItemToArray(arr, frag);
			free(piece);
			if (!stream_chunk(&st, choice_with(delta, NULL),
			    NULL))
				goto out;
		}
		i++;
	}

	if (!stream_chunk(&st, choice_with(cJSON_CreateObject(), finish),
	    NULL))
		goto out;
	if (st.include_usage &&
	    !stream_chunk(&st, cJSON_CreateArray(), usage))
		goto out;
	if (!stream_raw(&st, "data: [DONE]\n\n"))
		goto out;
	mg_send_chunk(conn, "", 0);
out:
	return;
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
		}
		else if (strcmp(argv[i], "--api-key") == 0 && i + 1 < argc)
			api_key = argv[++i];
		else if (strcmp(argv[i], "--echo-auth") == 0)
			echo_auth = true;
		else {
			fprintf(stderr, "usage: fake_llm --port N "
			    "[--api-key K] [--echo-auth]\n");
			return 2;
		}
	}
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "fake_llm: --port N (1-65535) is required\n");
		return 2;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	queue = cJSON_CreateArray();
	audio_queue = cJSON_CreateArray();
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
		fprintf(stderr, "fake_llm: cannot listen on %s\n", ports);
		cJSON_Delete(queue);
		cJSON_Delete(audio_queue);
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
	cJSON_Delete(audio_queue);
	cJSON_Delete(reqlog);
	return 0;
}
