/*
 * client: OpenAI-compatible chat completions and model lists over
 * util/httpc (see client.h, PROTOCOLS.md §5).
 *
 * DESIGN. One call is a loop of attempts (httpc transfers). Each attempt
 * ends in an llm_err plus "may retry": timeouts, 408, 429, 5xx and broken
 * connections may; refused connections, 4xx and bad JSON may not. Retries
 * wait an exponential backoff with jitter (BACKOFF_BASE_MS doubling, capped)
 * or the server's Retry-After / retry-after-ms (capped at
 * RETRY_AFTER_MAX_MS), and stop for good once a streamed content delta
 * reached the caller, so a reader never sees text twice.
 *
 * Streaming parses the SSE body as it arrives (struct sse): bytes are cut
 * into lines, "data:" lines gathered into events, each event parsed as a
 * chat.completion.chunk. Content fragments go to on_delta at once; tool
 * call fragments are assembled by index (id and name from the first
 * fragment, arguments concatenated); finish_reason and the include_usage
 * chunk's usage are kept. The pieces become a non-stream completion object
 * in llm_result.response, so callers handle one shape. A server that
 * ignores "stream":true and answers plain JSON is accepted too: its content
 * is delivered as one delta.
 *
 * Errors are one sentence with the HTTP status and the upstream's
 * error.message (control characters removed), with the call's API key
 * and its encodings redacted (crypto/redact.h): a server that echoes the
 * key it was sent must not put it into llm_calls.error or a /v1 answer.
 * The API key only ever exists in the Authorization header, which is
 * wiped after the call; it is never logged. The final failure is logged by the caller (llm/gateway.c);
 * this file logs only retries.
 *
 * Connections. Every attempt may ride a kept connection (httpc_req.reuse):
 * libcurl may then send the request a second time when that connection
 * turns out dead before any answer byte (util/httpc.h). A repeated model
 * call costs tokens but shows nobody anything: before the answer's first
 * byte no delta has reached a reader and no tool call exists (tools run
 * on the answer, in llm/gateway.c). In exchange a model call skips the
 * TCP and TLS handshakes.
 *
 * Thread-safety: no shared state here; httpc's handle cache is
 * thread-safe.
 */
#include "llm/client.h"
#include "llm/upstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "crypto/redact.h"
#include "util/json.h"
#include "util/log.h"
#include "util/buf.h"
#include "util/httpc.h"
#include "util/time.h"
#include "util/xmalloc.h"

#define TIMEOUT_DEFAULT_MS	60000
#define CONNECT_TIMEOUT_MS	10000
#define RETRIES_DEFAULT		2
#define RETRIES_MAX		10
#define BACKOFF_BASE_MS		500
#define BACKOFF_MAX_MS		8000
#define RETRY_AFTER_MAX_MS	10000
#define RESPONSE_MAX		(8u * 1024 * 1024)
#define SSE_LINE_MAX		(1u * 1024 * 1024)
#define TOOL_CALLS_MAX		128
#define DETAIL_MAX		300
#define API_KEY_MAX		4096

enum call_kind {
	CALL_CHAT,		/* POST chat/completions, JSON answer */
	CALL_STREAM,		/* POST chat/completions, SSE answer */
	CALL_MODELS,		/* GET models */
};

struct tcall {
	char		*id;
	struct buf	 name;
	struct buf	 args;
};

/* Streaming state of one attempt. */
struct sse {
	llm_delta_fn	 on_delta;
	void		*ctx;
	int		 mode;		/* -1 undecided, 0 plain JSON, 1 SSE */
	struct buf	 line;		/* the current, unfinished line */
	struct buf	 data;		/* the current event's data */
	bool		 has_data;
	struct buf	 json;		/* mode 0: the whole body */
	bool		 done;		/* saw data: [DONE] */
	bool		 delivered;	/* on_delta got text: never retry */
	bool		 bad;		/* not the stream we expect */
	char		 why[160];	/* with bad */
	cJSON		*error;		/* an {"error":…} chunk */
	char		*id;
	char		*model;
	double		 created;
	bool		 has_created;
	cJSON		*usage;
	char		*finish;
	struct buf	 content;
	bool		 has_content;
	struct tcall	*calls;		/* TOOL_CALLS_MAX slots, lazily */
	int		 n_calls;	/* highest index + 1 */
};

/* One attempt's verdict. */
struct verdict {
	enum llm_err	 err;
	bool		 retry;
	int		 retry_after_ms;	/* 0: use the backoff */
	int		 retry_after_long;	/* the same up to an hour */
	char		 what[160];		/* "The model server …" */
	char		 detail[DETAIL_MAX];	/* "" or upstream's words */
};

static enum llm_err	 call(const struct llm_endpoint *ep,
			    enum call_kind kind, const char *path,
			    const char *body, llm_delta_fn on_delta,
			    void *ctx, struct llm_result *out);
static void		 attempt(const struct httpc_req *req,
			    enum call_kind kind, const struct redact *rd,
			    struct sse *st, struct llm_result *out,
			    struct verdict *v);
static void		 verdict_status(long status,
			    const struct httpc_resp *resp,
			    const struct redact *rd, struct verdict *v);
static void		 verdict_stream_error(const struct sse *st,
			    const struct redact *rd, struct verdict *v);
static int		 retry_after_ms(const struct httpc_resp *resp, int);
static bool		 validate_completion(cJSON *root, char *why,
			    size_t whylen);
static char		*request_body(const cJSON *request, bool stream);
static void		 sse_init(struct sse *st, llm_delta_fn fn, void *ctx);
static void		 sse_cleanup(struct sse *st);
static bool		 sse_feed(void *ud, const char *p, size_t len);
static bool		 sse_line(struct sse *st);
static bool		 sse_event(struct sse *st);
static bool		 sse_chunk(struct sse *st, const cJSON *chunk);
static bool		 sse_tool_fragment(struct sse *st, const cJSON *frag,
			    int pos);
static void		 sse_bad(struct sse *st, const char *why);
static cJSON		*sse_response(struct sse *st);
static void		 deliver(struct sse *st, const char *s, size_t len);

const char *
llm_err_str(enum llm_err e)
{
	switch (e) {
	case LLM_OK:
		return "ok";
	case LLM_BAD_REQUEST:
		return "bad_request";
	case LLM_AUTH:
		return "auth";
	case LLM_RATE_LIMITED:
		return "rate_limited";
	case LLM_UPSTREAM:
		return "upstream";
	case LLM_TIMEOUT:
		return "timeout";
	case LLM_NETWORK:
		return "network";
	case LLM_BAD_RESPONSE:
		return "bad_response";
	case LLM_CANCELLED:
		return "cancelled";
	}
	return "unknown";
}

void
llm_result_cleanup(struct llm_result *r)
{
	if (r == NULL)
		return;
	cJSON_Delete(r->response);
	r->response = NULL;
}

enum llm_err
llm_chat(const struct llm_endpoint *ep, const cJSON *request,
    llm_delta_fn on_delta, void *ctx, struct llm_result *out)
{
	char		*body = NULL;
	enum llm_err	 e;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(request)) {
		snprintf(out->error, sizeof(out->error),
		    "The chat request is not a JSON object.");
		return LLM_BAD_REQUEST;
	}
	body = request_body(request, on_delta != NULL);
	e = call(ep, on_delta != NULL ? CALL_STREAM : CALL_CHAT,
	    "/chat/completions", body, on_delta, ctx, out);
	free(body);
	return e;
}

enum llm_err
llm_list_models(const struct llm_endpoint *ep, cJSON **models, char *err,
    size_t errlen)
{
	struct llm_result	 r;
	enum llm_err		 e;

	*models = NULL;
	memset(&r, 0, sizeof(r));
	e = call(ep, CALL_MODELS, "/models", NULL, NULL, NULL, &r);
	if (e == LLM_OK)
		*models = cJSON_DetachItemFromObjectCaseSensitive(r.response,
		    "data");
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", e == LLM_OK ? "" : r.error);
	llm_result_cleanup(&r);
	return e;
}

/* The body to send: the caller's request, with "stream" set our way. */
static char *
request_body(const cJSON *request, bool stream)
{
	const cJSON	*s = cJSON_GetObjectItemCaseSensitive(request,
			    "stream");
	cJSON		*copy = NULL, *opts;
	char		*txt;

	if (stream || cJSON_IsTrue(s)) {
		copy = cJSON_Duplicate(request, true);
		cJSON_DeleteItemFromObjectCaseSensitive(copy, "stream");
		if (stream) {
			cJSON_AddTrueToObject(copy, "stream");
			opts = cJSON_GetObjectItemCaseSensitive(copy,
			    "stream_options");
			if (!cJSON_IsObject(opts)) {
				cJSON_DeleteItemFromObjectCaseSensitive(copy,
				    "stream_options");
				opts = cJSON_AddObjectToObject(copy,
				    "stream_options");
			}
			cJSON_DeleteItemFromObjectCaseSensitive(opts,
			    "include_usage");
			cJSON_AddTrueToObject(opts, "include_usage");
		} else
			cJSON_DeleteItemFromObjectCaseSensitive(copy,
			    "stream_options");
		request = copy;
	}
	if ((txt = cJSON_PrintUnformatted(request)) == NULL)
		abort();	/* cJSON fails only on allocation */
	cJSON_Delete(copy);
	return txt;
}

/*
 * The attempt loop shared by chat and models. Fills out (error sentence,
 * attempts, latency, last status, response on success).
 */
static enum llm_err
call(const struct llm_endpoint *ep, enum call_kind kind, const char *path,
    const char *body, llm_delta_fn on_delta, void *ctx,
    struct llm_result *out)
{
	struct httpc_req	 req;
	struct verdict		 v;
	struct sse		 st;
	struct buf		 url;
	struct redact		 rd;
	const char		*hdrs[5];
	char			*auth = NULL;
	int64_t			 t0 = time_mono_ms();
	int			 n = 0, retries, timeout_ms, delay;
	size_t			 blen, auth_len = 0;
	const char		*k;
	bool			 has_st = false;

	memset(&v, 0, sizeof(v));
	buf_init(&url, 4096);
	redact_init(&rd);
	if (ep != NULL)
		redact_add(&rd, ep->api_key);
	if (ep == NULL || ep->base_url == NULL || ep->base_url[0] == '\0') {
		v.err = LLM_BAD_REQUEST;
		snprintf(v.what, sizeof(v.what), "No base URL is configured "
		    "for the model server");
		goto out;
	}
	blen = strlen(ep->base_url);
	while (blen > 0 && ep->base_url[blen - 1] == '/')
		blen--;
	buf_append(&url, ep->base_url, blen);
	buf_puts(&url, path);
	if (url.err) {
		v.err = LLM_BAD_REQUEST;
		snprintf(v.what, sizeof(v.what), "The model server's base URL "
		    "is too long");
		goto out;
	}

	hdrs[n++] = kind == CALL_STREAM ? "Accept: text/event-stream" :
	    "Accept: application/json";
	if (body != NULL)
		hdrs[n++] = "Content-Type: application/json";
	if ((k = ep->api_key) != NULL && k[0] != '\0') {
		for (; *k != '\0'; k++) {
			if ((unsigned char)*k < 0x20 || *k == 0x7f) {
				v.err = LLM_AUTH;
				snprintf(v.what, sizeof(v.what), "The API key "
				    "contains characters not allowed in an "
				    "HTTP header");
				goto out;
			}
		}
		if (strlen(ep->api_key) > API_KEY_MAX) {
			v.err = LLM_AUTH;
			snprintf(v.what, sizeof(v.what), "The API key is too "
			    "long");
			goto out;
		}
		/* Sized once, so no copy of the key is left behind by a
		 * realloc; wiped at out. */
		auth_len = sizeof("Authorization: Bearer ") +
		    strlen(ep->api_key);
		auth = xmalloc(auth_len);
		snprintf(auth, auth_len, "Authorization: Bearer %s",
		    ep->api_key);
		hdrs[n++] = auth;
	}
	hdrs[n] = NULL;

	timeout_ms = ep->timeout_ms > 0 ? ep->timeout_ms : TIMEOUT_DEFAULT_MS;
	retries = ep->max_retries == 0 ? RETRIES_DEFAULT :
	    ep->max_retries < 0 ? 0 : ep->max_retries > RETRIES_MAX ?
	    RETRIES_MAX : ep->max_retries;

	memset(&req, 0, sizeof(req));
	req.method = body != NULL ? "POST" : "GET";
	req.url = buf_str(&url);
	req.headers = hdrs;
	req.body = body;
	req.body_len = body != NULL ? strlen(body) : 0;
	req.timeout_ms = timeout_ms;
	req.connect_timeout_ms = timeout_ms < CONNECT_TIMEOUT_MS ?
	    timeout_ms : CONNECT_TIMEOUT_MS;
	req.max_response = RESPONSE_MAX;
	req.cancelled = ep->cancelled;
	req.cancel_ctx = ep->cancel_ctx;
	req.reuse = true;	/* a repeat costs tokens only (file top) */
	if (kind == CALL_STREAM) {
		req.on_data = sse_feed;
		req.ctx = &st;
	}

	for (;;) {
		out->attempts++;
		if (kind == CALL_STREAM) {
			sse_init(&st, on_delta, ctx);
			has_st = true;
		}
		memset(&v, 0, sizeof(v));
		attempt(&req, kind, &rd, has_st ? &st : NULL, out, &v);
		out->retry_after_ms = v.err == LLM_OK ? 0 : v.retry_after_long;
		if (v.err == LLM_OK || !v.retry ||
		    out->attempts > retries || (has_st && st.delivered) ||
		    v.retry_after_long > RETRY_AFTER_MAX_MS)
			break;
		if (ep->cancelled != NULL && ep->cancelled(ep->cancel_ctx)) {
			v.err = LLM_CANCELLED;
			snprintf(v.what, sizeof(v.what), "The call was "
			    "cancelled");
			v.detail[0] = '\0';
			break;
		}
		delay = v.retry_after_ms > 0 ? v.retry_after_ms :
		    upstream_backoff_ms(out->attempts,
		    BACKOFF_BASE_MS, BACKOFF_MAX_MS);
		log_info("llm", "msg=\"retrying model call\" err=%s "
		    "status=%d attempt=%d delay_ms=%d", llm_err_str(v.err),
		    out->http_status, out->attempts, delay);
		if (has_st) {
			sse_cleanup(&st);
			has_st = false;
		}
		/* In slices, so a cancelled call stops waiting. */
		for (int slept = 0; slept < delay; slept += 200) {
			if (ep->cancelled != NULL &&
			    ep->cancelled(ep->cancel_ctx))
				break;
			upstream_sleep_ms(delay - slept < 200 ?
			    delay - slept : 200);
		}
	}
out:
	if (v.err != LLM_OK) {
		char	 sfx[32] = "";
		size_t	 m;

		if (out->attempts > 1)
			snprintf(sfx, sizeof(sfx), " (%d attempts)",
			    out->attempts);
		m = (size_t)snprintf(out->error, sizeof(out->error), "%s%s%s%s",
		    v.what, sfx, v.detail[0] != '\0' ? ": " : "", v.detail);
		/* End the sentence unless upstream's words already did. */
		if (m < sizeof(out->error) - 1 && m > 0 &&
		    strchr(".!?", out->error[m - 1]) == NULL) {
			out->error[m] = '.';
			out->error[m + 1] = '\0';
		}
		/* Also transfer errors: nothing upstream said keeps the key. */
		redact_buf(&rd, out->error, sizeof(out->error));
	}
	if (has_st)
		sse_cleanup(&st);
	if (auth != NULL) {
		sodium_memzero(auth, auth_len);
		free(auth);
	}
	buf_cleanup(&url);
	out->latency_ms = time_mono_ms() - t0;
	return v.err;
}

/* One transfer and its verdict; out->response is set on success. */
static void
attempt(const struct httpc_req *req, enum call_kind kind,
    const struct redact *rd, struct sse *st, struct llm_result *out,
    struct verdict *v)
{
	struct httpc_resp	 resp;
	enum httpc_err		 he;
	cJSON			*root = NULL;
	char			 why[160];

	httpc_resp_init(&resp);
	he = httpc_do(req, &resp);
	out->http_status = (int)resp.status;

	if (st != NULL && he == HTTPC_ABORTED && st->bad) {
		v->err = LLM_BAD_RESPONSE;
		snprintf(v->what, sizeof(v->what), "The model server's "
		    "stream is not valid");
		upstream_clean_copy(v->detail, sizeof(v->detail), st->why);
		goto out;
	}
	if (st != NULL && he == HTTPC_ABORTED && st->error != NULL) {
		verdict_stream_error(st, rd, v);
		goto out;
	}
	switch (he) {
	case HTTPC_OK:
		break;
	case HTTPC_TIMEOUT:
		v->err = LLM_TIMEOUT;
		v->retry = true;
		snprintf(v->what, sizeof(v->what), "The model server did not "
		    "answer within %d ms", req->timeout_ms);
		goto out;
	case HTTPC_CONNECT:
		v->err = LLM_NETWORK;
		snprintf(v->what, sizeof(v->what), "Cannot reach the model "
		    "server");
		upstream_clean_copy(v->detail, sizeof(v->detail), resp.error);
		goto out;
	case HTTPC_TOO_LARGE:
		v->err = LLM_BAD_RESPONSE;
		snprintf(v->what, sizeof(v->what), "The model server's answer "
		    "is larger than %u MiB", RESPONSE_MAX / (1024 * 1024));
		goto out;
	case HTTPC_CANCELLED:
		v->err = LLM_CANCELLED;
		snprintf(v->what, sizeof(v->what), "The call was cancelled");
		goto out;
	case HTTPC_ABORTED:
	case HTTPC_FAILED:
		v->err = LLM_NETWORK;
		v->retry = true;
		snprintf(v->what, sizeof(v->what), "The connection to the "
		    "model server failed");
		upstream_clean_copy(v->detail, sizeof(v->detail), resp.error);
		goto out;
	}

	if (resp.status < 200 || resp.status > 299) {
		verdict_status(resp.status, &resp, rd, v);
		goto out;
	}

	if (st != NULL && st->mode == 1) {
		/* A last line or event without its blank line. */
		if (st->line.len > 0 && !sse_line(st))
			goto bad_stream;
		if (st->has_data && !sse_event(st))
			goto bad_stream;
		if (st->error != NULL) {
			verdict_stream_error(st, rd, v);
			goto out;
		}
		if (!st->done && st->finish == NULL) {
			sse_bad(st, "the stream ended before data: [DONE]");
			goto bad_stream;
		}
		out->response = sse_response(st);
		goto out;
	}

	/* A plain JSON answer (also a server that ignored "stream"). */
	if (st != NULL && st->mode == 0)
		root = json_parse(st->json.data, st->json.len, NULL);
	else if (resp.body.len > 0)
		root = json_parse(resp.body.data, resp.body.len, NULL);
	if (root == NULL) {
		v->err = LLM_BAD_RESPONSE;
		snprintf(v->what, sizeof(v->what), "The model server's answer "
		    "is not JSON");
		goto out;
	}
	if (kind == CALL_MODELS) {
		if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root,
		    "data"))) {
			v->err = LLM_BAD_RESPONSE;
			snprintf(v->what, sizeof(v->what), "The model server's "
			    "model list has no \"data\" array");
			goto out;
		}
	} else if (!validate_completion(root, why, sizeof(why))) {
		v->err = LLM_BAD_RESPONSE;
		snprintf(v->what, sizeof(v->what), "The model server's answer "
		    "is not a chat completion");
		upstream_clean_copy(v->detail, sizeof(v->detail), why);
		goto out;
	}
	if (st != NULL) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(
		    cJSON_GetObjectItemCaseSensitive(root, "choices"), 0),
		    "message"), "content");

		if (cJSON_IsString(c))
			deliver(st, c->valuestring, strlen(c->valuestring));
	}
	out->response = root;
	root = NULL;
	goto out;

bad_stream:
	v->err = LLM_BAD_RESPONSE;
	snprintf(v->what, sizeof(v->what), "The model server's stream is not "
	    "valid");
	upstream_clean_copy(v->detail, sizeof(v->detail), st->why);
out:
	cJSON_Delete(root);
	httpc_resp_cleanup(&resp);
}

/* The verdict for a non-2xx status, with upstream's message. */
static void
verdict_status(long status, const struct httpc_resp *resp,
    const struct redact *rd, struct verdict *v)
{
	snprintf(v->what, sizeof(v->what), "The model server answered HTTP "
	    "%ld", status);
	upstream_message(resp->body.data, resp->body.len, rd, v->detail,
	    sizeof(v->detail));
	if (status == 401 || status == 403)
		v->err = LLM_AUTH;
	else if (status == 429) {
		v->err = LLM_RATE_LIMITED;
		v->retry = true;
	} else if (status == 408) {
		v->err = LLM_TIMEOUT;
		v->retry = true;
	} else if (status >= 500 && status <= 599) {
		v->err = LLM_UPSTREAM;
		v->retry = true;
	} else if (status >= 400 && status <= 499)
		v->err = LLM_BAD_REQUEST;
	else
		v->err = LLM_BAD_RESPONSE;
	if (v->retry) {
		v->retry_after_ms = retry_after_ms(resp, RETRY_AFTER_MAX_MS);
		v->retry_after_long = retry_after_ms(resp, 3600 * 1000);
	}
}

/* The verdict for an {"error":…} chunk inside a 2xx stream. */
static void
verdict_stream_error(const struct sse *st, const struct redact *rd,
    struct verdict *v)
{
	cJSON	*root = cJSON_CreateObject();
	char	*s;

	v->err = LLM_UPSTREAM;
	v->retry = true;
	snprintf(v->what, sizeof(v->what), "The model server reported an "
	    "error in its stream");
	cJSON_AddItemReferenceToObject(root, "error", st->error);
	if ((s = cJSON_PrintUnformatted(root)) == NULL)
		abort();
	upstream_message(s, strlen(s), rd, v->detail, sizeof(v->detail));
	free(s);
	cJSON_Delete(root);
}

/*
 * Retry-After in seconds (an HTTP date is ignored: the backoff applies),
 * or OpenAI's retry-after-ms; capped. 0 when absent.
 */
static int
retry_after_ms(const struct httpc_resp *resp, int max_ms)
{
	char	 v[64];
	int	 ms = 0;

	if (httpc_header(resp, "retry-after-ms", v, sizeof(v)))
		ms = upstream_retry_after_ms(v, true, max_ms);
	if (ms == 0 && httpc_header(resp, "retry-after", v, sizeof(v)))
		ms = upstream_retry_after_ms(v, false, max_ms);
	return ms;
}





/*
 * Checks the non-stream completion shape: choices[0].message with content
 * string|null and tool_calls [{function:{name}}]. Object-valued arguments
 * (some servers) become the JSON string the spec requires.
 */
static bool
validate_completion(cJSON *root, char *why, size_t whylen)
{
	cJSON	*choices, *msg, *content, *tcs, *tc, *fn, *args;
	char	*s;

	choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
	if (!cJSON_IsArray(choices) || cJSON_GetArraySize(choices) < 1) {
		snprintf(why, whylen, "no choices");
		return false;
	}
	msg = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(choices, 0),
	    "message");
	if (!cJSON_IsObject(msg)) {
		snprintf(why, whylen, "choices[0] has no message");
		return false;
	}
	content = cJSON_GetObjectItemCaseSensitive(msg, "content");
	if (content != NULL && !cJSON_IsString(content) &&
	    !cJSON_IsNull(content)) {
		snprintf(why, whylen, "message.content is not a string");
		return false;
	}
	tcs = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
	if (tcs == NULL || cJSON_IsNull(tcs))
		return true;
	if (!cJSON_IsArray(tcs)) {
		snprintf(why, whylen, "message.tool_calls is not an array");
		return false;
	}
	cJSON_ArrayForEach(tc, tcs) {
		fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
		if (!cJSON_IsObject(fn) || !cJSON_IsString(
		    cJSON_GetObjectItemCaseSensitive(fn, "name"))) {
			snprintf(why, whylen, "a tool call has no "
			    "function.name");
			return false;
		}
		args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
		if (args == NULL)
			cJSON_AddStringToObject(fn, "arguments", "");
		else if (cJSON_IsNull(args))
			cJSON_ReplaceItemInObjectCaseSensitive(fn, "arguments",
			    cJSON_CreateString(""));
		else if (!cJSON_IsString(args)) {
			if ((s = cJSON_PrintUnformatted(args)) == NULL)
				abort();
			cJSON_ReplaceItemInObjectCaseSensitive(fn, "arguments",
			    cJSON_CreateString(s));
			free(s);
		}
	}
	return true;
}

/* --- streaming ---------------------------------------------------------- */

static void
sse_init(struct sse *st, llm_delta_fn fn, void *ctx)
{
	memset(st, 0, sizeof(*st));
	st->on_delta = fn;
	st->ctx = ctx;
	st->mode = -1;
	buf_init(&st->line, SSE_LINE_MAX);
	buf_init(&st->data, RESPONSE_MAX);
	buf_init(&st->json, RESPONSE_MAX);
	buf_init(&st->content, 0);
}

static void
sse_cleanup(struct sse *st)
{
	int	 i;

	buf_cleanup(&st->line);
	buf_cleanup(&st->data);
	buf_cleanup(&st->json);
	buf_cleanup(&st->content);
	for (i = 0; st->calls != NULL && i < TOOL_CALLS_MAX; i++) {
		free(st->calls[i].id);
		buf_cleanup(&st->calls[i].name);
		buf_cleanup(&st->calls[i].args);
	}
	free(st->calls);
	cJSON_Delete(st->error);
	cJSON_Delete(st->usage);
	free(st->id);
	free(st->model);
	free(st->finish);
	memset(st, 0, sizeof(*st));
}

static void
sse_bad(struct sse *st, const char *why)
{
	if (!st->bad)
		snprintf(st->why, sizeof(st->why), "%s", why);
	st->bad = true;
}

static void
deliver(struct sse *st, const char *s, size_t len)
{
	if (len == 0 || st->on_delta == NULL)
		return;
	st->delivered = true;
	st->on_delta(st->ctx, s, len);
}

/* httpc's on_data: 2xx body bytes as they arrive. */
static bool
sse_feed(void *ud, const char *p, size_t len)
{
	struct sse	*st = ud;
	const char	*nl, *end = p + len;
	size_t		 i;

	if (st->mode < 0) {
		for (i = 0; i < len && (p[i] == ' ' || p[i] == '\t' ||
		    p[i] == '\r' || p[i] == '\n'); i++)
			;
		if (i < len)
			st->mode = p[i] == '{' ? 0 : 1;
	}
	if (st->mode == 0) {
		buf_append(&st->json, p, len);
		return !st->json.err;
	}
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		buf_append(&st->line, p, (size_t)((nl != NULL ? nl : end) - p));
		if (st->line.err) {
			sse_bad(st, "a stream line is too long");
			return false;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
		if (!sse_line(st))
			return false;
	}
	return true;
}

/* One complete line (in st->line, without its "\n"). */
static bool
sse_line(struct sse *st)
{
	char		*l = st->line.data;
	size_t		 n = st->line.len;
	const char	*v;
	size_t		 vlen;
	bool		 ok = true;

	if (n > 0 && l[n - 1] == '\r')
		n--;
	if (n == 0) {
		ok = sse_event(st);
		goto out;
	}
	if (l[0] == ':')
		goto out;	/* a comment (keep-alive) */
	if (n >= 5 && strncmp(l, "data:", 5) == 0) {
		v = l + 5;
		vlen = n - 5;
		if (vlen > 0 && *v == ' ') {
			v++;
			vlen--;
		}
		if (st->has_data)
			buf_putc(&st->data, '\n');
		buf_append(&st->data, v, vlen);
		st->has_data = true;
		if (st->data.err) {
			sse_bad(st, "a stream event is too large");
			ok = false;
		}
	}
	/* event:, id:, retry: and unknown fields carry nothing for us. */
out:
	buf_reset(&st->line);
	return ok;
}

/* Dispatches the gathered event (a blank line ended it). */
static bool
sse_event(struct sse *st)
{
	cJSON	*chunk;
	bool	 ok;

	if (!st->has_data)
		return true;
	st->has_data = false;
	if (st->done) {
		buf_reset(&st->data);
		return true;
	}
	if (st->data.len == 6 && memcmp(st->data.data, "[DONE]", 6) == 0) {
		st->done = true;
		buf_reset(&st->data);
		return true;
	}
	chunk = json_parse(buf_str(&st->data), st->data.len, NULL);
	buf_reset(&st->data);
	if (!cJSON_IsObject(chunk)) {
		cJSON_Delete(chunk);
		sse_bad(st, "a stream chunk is not a JSON object");
		return false;
	}
	ok = sse_chunk(st, chunk);
	cJSON_Delete(chunk);
	return ok;
}

/* One chat.completion.chunk; false stops the transfer. */
static bool
sse_chunk(struct sse *st, const cJSON *chunk)
{
	const cJSON	*e, *v, *choices, *ch, *delta, *tcs, *frag;
	int		 pos;

	e = cJSON_GetObjectItemCaseSensitive(chunk, "error");
	if (e != NULL && !cJSON_IsNull(e)) {
		st->error = cJSON_Duplicate(e, true);
		return false;
	}
	if (st->id == NULL && cJSON_IsString(v =
	    cJSON_GetObjectItemCaseSensitive(chunk, "id")))
		st->id = xstrdup(v->valuestring);
	if (st->model == NULL && cJSON_IsString(v =
	    cJSON_GetObjectItemCaseSensitive(chunk, "model")))
		st->model = xstrdup(v->valuestring);
	if (!st->has_created && cJSON_IsNumber(v =
	    cJSON_GetObjectItemCaseSensitive(chunk, "created"))) {
		st->created = v->valuedouble;
		st->has_created = true;
	}
	if (cJSON_IsObject(v = cJSON_GetObjectItemCaseSensitive(chunk,
	    "usage"))) {
		cJSON_Delete(st->usage);
		st->usage = cJSON_Duplicate(v, true);
	}
	choices = cJSON_GetObjectItemCaseSensitive(chunk, "choices");
	if (choices != NULL && !cJSON_IsArray(choices)) {
		sse_bad(st, "a stream chunk's choices is not an array");
		return false;
	}
	cJSON_ArrayForEach(ch, choices) {
		v = cJSON_GetObjectItemCaseSensitive(ch, "index");
		if (cJSON_IsNumber(v) && v->valueint != 0)
			continue;	/* we ask for one choice */
		delta = cJSON_GetObjectItemCaseSensitive(ch, "delta");
		if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(delta,
		    "content"))) {
			st->has_content = true;
			buf_puts(&st->content, v->valuestring);
			deliver(st, v->valuestring, strlen(v->valuestring));
		}
		tcs = cJSON_GetObjectItemCaseSensitive(delta, "tool_calls");
		pos = 0;
		cJSON_ArrayForEach(frag, tcs) {
			if (!sse_tool_fragment(st, frag, pos++))
				return false;
		}
		if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(ch,
		    "finish_reason"))) {
			free(st->finish);
			st->finish = xstrdup(v->valuestring);
		}
	}
	return true;
}

/* A tool_calls[] fragment: id and name once, arguments appended. */
static bool
sse_tool_fragment(struct sse *st, const cJSON *frag, int pos)
{
	const cJSON	*v, *fn;
	struct tcall	*tc;
	int		 idx = pos, i;

	if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(frag,
	    "index")))
		idx = v->valueint;
	if (idx < 0 || idx >= TOOL_CALLS_MAX) {
		sse_bad(st, "a tool call index is out of range");
		return false;
	}
	if (st->calls == NULL) {
		st->calls = xcalloc(TOOL_CALLS_MAX, sizeof(*st->calls));
		for (i = 0; i < TOOL_CALLS_MAX; i++) {
			buf_init(&st->calls[i].name, 0);
			buf_init(&st->calls[i].args, 0);
		}
	}
	tc = &st->calls[idx];
	if (idx + 1 > st->n_calls)
		st->n_calls = idx + 1;
	if (tc->id == NULL && cJSON_IsString(v =
	    cJSON_GetObjectItemCaseSensitive(frag, "id")) &&
	    v->valuestring[0] != '\0')
		tc->id = xstrdup(v->valuestring);
	fn = cJSON_GetObjectItemCaseSensitive(frag, "function");
	if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(fn, "name")) &&
	    strcmp(buf_str(&tc->name), v->valuestring) != 0)
		/* Split names are joined; a repeated whole name is not. */
		buf_puts(&tc->name, v->valuestring);
	if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(fn,
	    "arguments")))
		buf_puts(&tc->args, v->valuestring);
	return true;
}

/* The assembled stream as a non-stream chat.completion object. */
static cJSON *
sse_response(struct sse *st)
{
	cJSON		*root = cJSON_CreateObject();
	cJSON		*choices, *choice, *msg, *tcs, *tc, *fn;
	const char	*finish = st->finish;
	char		 idbuf[32];
	int		 i;

	cJSON_AddStringToObject(root, "id", st->id != NULL ? st->id :
	    "chatcmpl-stream");
	cJSON_AddStringToObject(root, "object", "chat.completion");
	if (st->has_created)
		cJSON_AddNumberToObject(root, "created", st->created);
	if (st->model != NULL)
		cJSON_AddStringToObject(root, "model", st->model);
	else
		cJSON_AddNullToObject(root, "model");
	choices = cJSON_AddArrayToObject(root, "choices");
	choice = cJSON_CreateObject();
	cJSON_AddItemToArray(choices, choice);
	cJSON_AddNumberToObject(choice, "index", 0);
	msg = cJSON_AddObjectToObject(choice, "message");
	cJSON_AddStringToObject(msg, "role", "assistant");
	if (st->has_content)
		cJSON_AddStringToObject(msg, "content", buf_str(&st->content));
	else
		cJSON_AddNullToObject(msg, "content");
	if (st->n_calls > 0) {
		tcs = cJSON_AddArrayToObject(msg, "tool_calls");
		for (i = 0; i < st->n_calls; i++) {
			tc = cJSON_CreateObject();
			if (st->calls[i].id != NULL)
				cJSON_AddStringToObject(tc, "id",
				    st->calls[i].id);
			else {
				snprintf(idbuf, sizeof(idbuf), "call_%d", i);
				cJSON_AddStringToObject(tc, "id", idbuf);
			}
			cJSON_AddStringToObject(tc, "type", "function");
			fn = cJSON_AddObjectToObject(tc, "function");
			cJSON_AddStringToObject(fn, "name",
			    buf_str(&st->calls[i].name));
			cJSON_AddStringToObject(fn, "arguments",
			    buf_str(&st->calls[i].args));
			cJSON_AddItemToArray(tcs, tc);
		}
	}
	if (finish == NULL)
		finish = st->n_calls > 0 ? "tool_calls" : "stop";
	cJSON_AddStringToObject(choice, "finish_reason", finish);
	if (st->usage != NULL)
		cJSON_AddItemToObject(root, "usage",
		    cJSON_Duplicate(st->usage, true));
	return root;
}
