/*
 * mcp_client: Streamable HTTP, legacy and modern eras (see mcp_client.h).
 *
 * DESIGN. One request is one exchange: a POST whose answer is read by
 * read_body() as it arrives. The Content-Type of a 2xx answer decides the
 * reader: application/json is buffered (bounded) and parsed at the end;
 * text/event-stream goes through the SSE parser, and each event's JSON-RPC
 * message is looked at as soon as it is complete, so the transfer stops
 * (HTTPC_ABORTED, which is success here) the moment the response to our id
 * is in, even when a server keeps its stream open. Non-2xx answers land in
 * the response body and are read as JSON-RPC errors when they are ones.
 *
 * When a legacy (2025-11-25) SSE stream ends before the response and the
 * events carried ids, the client resumes it once with GET and
 * Last-Event-ID, as the transport allows a server to close early.
 *
 * Every request has a connection of its own (httpc_req.reuse stays false,
 * util/httpc.h): on a kept connection that died libcurl would send it
 * again, and a tool call sent twice may act twice.
 *
 * Sources (cited in docs/mcp.md): modelcontextprotocol/modelcontextprotocol
 * docs/specification/2025-11-25/basic/transports.mdx and lifecycle.mdx,
 * 2026-07-28/basic/transports/streamable-http.mdx, versioning.mdx,
 * server/discover.mdx, schema/2026-07-28/schema.ts (CacheableResult.ttlMs,
 * resultType).
 */
#include "plugins/mcp_client.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "util/buf.h"
#include "util/cidr.h"
#include "util/config.h"
#include "util/httpc.h"
#include "util/json.h"
#include "util/str.h"
#include "util/time.h"
#include "util/trace.h"
#include "util/utf8.h"
#include "util/xmalloc.h"

#define CLIENT_VERSION		"1.0.0"
#define RPC_UNSUPPORTED_VERSION	(-32022)
#define MAX_PAGES		20
#define MAX_TOOLS		1000
#define HEADERS_MAX		48
#define SSE_SLACK		4096

static const char *const legacy_versions[] = {
	"2025-11-25", "2025-06-18", "2025-03-26",
};

struct mcp_sse {
	size_t			 max;
	mcp_sse_event_fn	 fn;
	void			*ctx;
	struct buf		 line;
	struct buf		 data;
	char			 event[64];
	char			 last_id[256];
	bool			 has_data;
	bool			 too_large;
	bool			 after_cr;
};

/* One HTTP exchange's reading state. */
struct exchange {
	const struct mcp_target	*t;
	struct mcp_session	*s;
	int64_t			 id;		/* 0: a notification */
	struct httpc_resp	*resp;
	int			 mode;		/* 0 ?, 1 json, 2 sse */
	struct buf		 json;
	struct mcp_sse		*sse;
	cJSON			*answer;	/* the response to id */
	bool			 too_large;
	bool			 saw_event_id;
};

static _Atomic int64_t	 next_id = 1;

static bool	 addr_allowed(void *, const struct sockaddr *);
static bool	 sse_line(struct mcp_sse *);
static void	 fail(struct mcp_result *, enum mcp_err, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static bool	 name_is_plain(const char *);
static char	*header_value(const char *);
static cJSON	*with_meta(const struct mcp_session *, const cJSON *);
static bool	 on_event(void *, const char *, const char *, size_t);
static void	 look_at(struct exchange *, cJSON *);
static bool	 read_body(void *, const char *, size_t);
static enum mcp_err send_one(const struct mcp_target *, struct mcp_session *,
		    const char *, const cJSON *, bool, const char *const *,
		    struct mcp_result *);
static enum mcp_err request(const struct mcp_target *, struct mcp_session *,
		    const char *, const cJSON *, const char *const *,
		    struct mcp_result *);
static bool	 hdr_walk(const cJSON *, bool, bool, cJSON *, cJSON *, char *,
		    size_t);
static void	 take_answer(struct exchange *, struct mcp_result *);
static void	 error_body(const struct httpc_resp *, struct mcp_result *);
static enum mcp_err negotiate(const struct mcp_target *, struct mcp_session *,
		    struct mcp_result *);
static enum mcp_err legacy_init(const struct mcp_target *,
		    struct mcp_session *, struct mcp_result *);
static bool	 known_legacy(const char *);
static void	 server_name(struct mcp_session *, const cJSON *);

void
mcp_result_init(struct mcp_result *r)
{
	memset(r, 0, sizeof(*r));
}

void
mcp_result_cleanup(struct mcp_result *r)
{
	if (r == NULL)
		return;
	cJSON_Delete(r->result);
	memset(r, 0, sizeof(*r));
}

const char *
mcp_err_str(enum mcp_err e)
{
	switch (e) {
	case MCP_OK:		return "ok";
	case MCP_RPC:		return "error";
	case MCP_AUTH:		return "unauthorized";
	case MCP_HTTP:		return "http";
	case MCP_TIMEOUT:	return "timeout";
	case MCP_CONNECT:	return "connect";
	case MCP_TOO_LARGE:	return "too_large";
	case MCP_PROTOCOL:	return "protocol";
	}
	return "unknown";
}

static void
fail(struct mcp_result *r, enum mcp_err e, const char *fmt, ...)
{
	va_list	 ap;

	r->err = e;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
}

/* The connect-time address check (httpc_addr_fn). */
static bool
addr_allowed(void *ctx, const struct sockaddr *sa)
{
	const struct config	*cfg = ctx;

	if (cidr_is_public(sa))
		return true;
	if (cfg == NULL)
		return false;
	if (cfg->mcp_allow_private)
		return true;
	for (int i = 0; i < cfg->n_mcp_allowed; i++)
		if (cidr_match(&cfg->mcp_allowed[i], sa))
			return true;
	return false;
}

/* --- SSE --------------------------------------------------------------- */

struct mcp_sse *
mcp_sse_new(size_t max_event, mcp_sse_event_fn fn, void *ctx)
{
	struct mcp_sse	*p = xcalloc(1, sizeof(*p));

	p->max = max_event;
	p->fn = fn;
	p->ctx = ctx;
	buf_init(&p->line, max_event + SSE_SLACK);
	buf_init(&p->data, max_event);
	return p;
}

void
mcp_sse_free(struct mcp_sse *p)
{
	if (p == NULL)
		return;
	buf_cleanup(&p->line);
	buf_cleanup(&p->data);
	free(p);
}

bool
mcp_sse_too_large(const struct mcp_sse *p)
{
	return p->too_large;
}

const char *
mcp_sse_last_id(const struct mcp_sse *p)
{
	return p->last_id;
}

/* One complete line (without its terminator); false to stop. */
static bool
sse_line(struct mcp_sse *p)
{
	const char	*line = buf_str(&p->line);
	const char	*colon, *value;
	size_t		 flen, vlen;
	bool		 go = true;

	if (p->line.len == 0) {
		/* Dispatch (WHATWG HTML "event stream interpretation"). */
		if (p->has_data) {
			size_t	 n = p->data.len;

			if (n > 0 && p->data.data[n - 1] == '\n')
				n--;
			go = p->fn(p->ctx, p->event, n > 0 ?
			    p->data.data : "", n);
		}
		buf_reset(&p->data);
		p->has_data = false;
		p->event[0] = '\0';
		return go;
	}
	if (line[0] == ':')
		return true;
	colon = memchr(line, ':', p->line.len);
	flen = colon != NULL ? (size_t)(colon - line) : p->line.len;
	value = colon != NULL ? colon + 1 : line + p->line.len;
	if (*value == ' ')
		value++;
	vlen = p->line.len - (size_t)(value - line);
	if (flen == 4 && strncmp(line, "data", 4) == 0) {
		buf_append(&p->data, value, vlen);
		buf_putc(&p->data, '\n');
		p->has_data = true;
		if (p->data.err) {
			p->too_large = true;
			return false;
		}
	} else if (flen == 5 && strncmp(line, "event", 5) == 0) {
		if (vlen < sizeof(p->event)) {
			memcpy(p->event, value, vlen);
			p->event[vlen] = '\0';
		}
	} else if (flen == 2 && strncmp(line, "id", 2) == 0) {
		if (vlen < sizeof(p->last_id) && memchr(value, '\0', vlen) ==
		    NULL) {
			memcpy(p->last_id, value, vlen);
			p->last_id[vlen] = '\0';
		}
	}
	return true;
}

bool
mcp_sse_feed(struct mcp_sse *p, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char	 c = data[i];

		if (p->after_cr && c == '\n') {
			p->after_cr = false;
			continue;
		}
		p->after_cr = c == '\r';
		if (c == '\r' || c == '\n') {
			bool	 go = sse_line(p);

			buf_reset(&p->line);
			if (!go)
				return false;
			continue;
		}
		buf_putc(&p->line, c);
		if (p->line.err) {
			p->too_large = true;
			return false;
		}
	}
	return true;
}

/* --- one exchange ------------------------------------------------------- */

/* True when s can go in a header as it is (visible ASCII, no sentinel). */
static bool
name_is_plain(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return !(str_starts_with(s, "=?base64?") && n >= 11 &&
	    strcmp(s + n - 2, "?=") == 0);
}

/* The header form of a value: as is, or the Base64 sentinel (malloc'd). */
static char *
header_value(const char *s)
{
	size_t	 n = strlen(s);
	size_t	 b64 = sodium_base64_encoded_len(n,
		    sodium_base64_VARIANT_ORIGINAL);
	char	*enc, *out;

	if (name_is_plain(s))
		return xstrdup(s);
	enc = xmalloc(b64);
	sodium_bin2base64(enc, b64, (const unsigned char *)s, n,
	    sodium_base64_VARIANT_ORIGINAL);
	out = xasprintf("=?base64?%s?=", enc);
	free(enc);
	return out;
}

/* params (may be NULL) with the modern era's _meta added (a copy). */
static cJSON *
with_meta(const struct mcp_session *s, const cJSON *params)
{
	cJSON	*p = params != NULL ? cJSON_Duplicate(params, true) :
		    cJSON_CreateObject();
	cJSON	*meta, *info;
	char	 tp[TRACE_HEADER_LEN + 1];

	meta = cJSON_GetObjectItemCaseSensitive(p, "_meta");
	if (!cJSON_IsObject(meta)) {
		cJSON_DeleteItemFromObjectCaseSensitive(p, "_meta");
		meta = cJSON_AddObjectToObject(p, "_meta");
	}
	cJSON_AddStringToObject(meta, "io.modelcontextprotocol/protocolVersion",
	    s->version);
	info = cJSON_AddObjectToObject(meta,
	    "io.modelcontextprotocol/clientInfo");
	cJSON_AddStringToObject(info, "name", MCP_CLIENT_NAME);
	cJSON_AddStringToObject(info, "version", CLIENT_VERSION);
	cJSON_AddObjectToObject(meta,
	    "io.modelcontextprotocol/clientCapabilities");
	/* OpenTelemetry's key, exempt from the prefix rule (2026-07-28
	 * basic/index.mdx "_meta"). */
	trace_child(tp);
	cJSON_AddStringToObject(meta, "traceparent", tp);
	return p;
}

/* A complete JSON-RPC message from the server. Takes msg. */
static void
look_at(struct exchange *x, cJSON *msg)
{
	const cJSON	*id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	const cJSON	*method = cJSON_GetObjectItemCaseSensitive(msg,
			    "method");

	if (cJSON_IsString(method) && x->s != NULL && str_eq(
	    method->valuestring, "notifications/tools/list_changed"))
		x->s->tools_stale = true;
	if (x->answer == NULL && cJSON_IsNumber(id) && !cJSON_IsString(method)
	    && (int64_t)id->valuedouble == x->id &&
	    (cJSON_GetObjectItemCaseSensitive(msg, "result") != NULL ||
	    cJSON_GetObjectItemCaseSensitive(msg, "error") != NULL)) {
		x->answer = msg;
		return;
	}
	cJSON_Delete(msg);
}

static bool
on_event(void *ctx, const char *event, const char *data, size_t len)
{
	struct exchange	*x = ctx;
	cJSON		*msg;

	if (mcp_sse_last_id(x->sse)[0] != '\0')
		x->saw_event_id = true;
	/* A priming event has an id and no data; other event types are
	 * not JSON-RPC messages. */
	if (len == 0 || (event[0] != '\0' && !str_eq(event, "message")))
		return true;
	msg = json_parse(data, len, NULL);
	if (cJSON_IsObject(msg))
		look_at(x, msg);
	else
		cJSON_Delete(msg);
	return x->answer == NULL;
}

/* httpc_data_fn for 2xx answers. */
static bool
read_body(void *ctx, const char *p, size_t len)
{
	struct exchange	*x = ctx;
	char		 ctype[128];

	if (x->mode == 0) {
		x->mode = httpc_header(x->resp, "Content-Type", ctype,
		    sizeof(ctype)) && strncasecmp(ctype, "text/event-stream",
		    17) == 0 ? 2 : 1;
		if (x->mode == 2)
			x->sse = mcp_sse_new(x->t->max_bytes, on_event, x);
	}
	if (x->mode == 1) {
		buf_append(&x->json, p, len);
		if (x->json.err) {
			x->too_large = true;
			return false;
		}
		return true;
	}
	if (!mcp_sse_feed(x->sse, p, len)) {
		x->too_large = mcp_sse_too_large(x->sse);
		return false;
	}
	return true;
}

/* x->answer (or its absence) into out. */
static void
take_answer(struct exchange *x, struct mcp_result *out)
{
	cJSON		*err;
	const cJSON	*code, *msg;

	if (x->answer == NULL) {
		fail(out, MCP_PROTOCOL, "The server's answer held no JSON-RPC "
		    "response to the request.");
		return;
	}
	err = cJSON_GetObjectItemCaseSensitive(x->answer, "error");
	if (err != NULL) {
		code = cJSON_GetObjectItemCaseSensitive(err, "code");
		msg = cJSON_GetObjectItemCaseSensitive(err, "message");
		out->rpc_code = cJSON_IsNumber(code) ? (int)code->valuedouble :
		    0;
		fail(out, MCP_RPC, "%.400s", cJSON_IsString(msg) ?
		    msg->valuestring : "The server answered an error.");
		/* Keep the error's data (UnsupportedProtocolVersionError
		 * lists versions there). */
		out->result = cJSON_DetachItemFromObjectCaseSensitive(err,
		    "data");
		return;
	}
	out->result = cJSON_DetachItemFromObjectCaseSensitive(x->answer,
	    "result");
	if (!cJSON_IsObject(out->result)) {
		cJSON_Delete(out->result);
		out->result = NULL;
		fail(out, MCP_PROTOCOL, "The server's result is not an "
		    "object.");
		return;
	}
	out->err = MCP_OK;
}

/* A non-2xx answer: its JSON-RPC error if it carries one. */
static void
error_body(const struct httpc_resp *resp, struct mcp_result *out)
{
	cJSON		*j = json_parse(buf_str(&resp->body),
			    resp->body.len, NULL);
	cJSON		*err = cJSON_GetObjectItemCaseSensitive(j, "error");
	const cJSON	*code = cJSON_GetObjectItemCaseSensitive(err, "code");
	const cJSON	*msg = cJSON_GetObjectItemCaseSensitive(err, "message");

	if (cJSON_IsObject(err) && cJSON_IsNumber(code)) {
		out->rpc_code = (int)code->valuedouble;
		fail(out, MCP_RPC, "HTTP %ld: %.400s", resp->status,
		    cJSON_IsString(msg) ? msg->valuestring : "error");
		out->result = cJSON_DetachItemFromObjectCaseSensitive(err,
		    "data");
	} else
		fail(out, MCP_HTTP, "The server answered HTTP %ld.",
		    resp->status);
	cJSON_Delete(j);
}

/*
 * One POST (or, with params == NULL and method == NULL, nothing): a
 * request when is_request, else a notification. Fills out.
 */
static enum mcp_err
send_one(const struct mcp_target *t, struct mcp_session *s,
    const char *method, const cJSON *params, bool is_request,
    const char *const *extra, struct mcp_result *out)
{
	struct exchange	 x;
	struct httpc_resp resp;
	struct httpc_req req;
	const char	*hdrs[HEADERS_MAX];
	char		*owned[8];
	int		 nh = 0, no = 0;
	cJSON		*msg = cJSON_CreateObject();
	cJSON		*p = NULL;
	char		*body = NULL;
	char		 tp[TRACE_HEADER_LEN + 1];
	char		 sid[MCP_SESSION_ID_MAX + 2];
	char		 loc[256];
	const cJSON	*name;
	bool		 modern = s->era == MCP_ERA_MODERN;
	int64_t		 t0 = time_mono_ms();
	enum httpc_err	 he;

	memset(&x, 0, sizeof(x));
	x.t = t;
	x.s = s;
	x.id = is_request ? atomic_fetch_add(&next_id, 1) : 0;
	x.resp = &resp;
	buf_init(&x.json, t->max_bytes);
	httpc_resp_init(&resp);
	mcp_result_cleanup(out);

	cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
	if (is_request)
		cJSON_AddNumberToObject(msg, "id", (double)x.id);
	cJSON_AddStringToObject(msg, "method", method);
	if (modern && is_request)
		p = with_meta(s, params);
	else if (params != NULL)
		p = cJSON_Duplicate(params, true);
	if (p != NULL)
		cJSON_AddItemToObject(msg, "params", p);
	if ((body = cJSON_PrintUnformatted(msg)) == NULL)
		abort();

	hdrs[nh++] = "Content-Type: application/json";
	hdrs[nh++] = "Accept: application/json, text/event-stream";
	if (s->version[0] != '\0')
		hdrs[nh++] = owned[no++] = xasprintf("MCP-Protocol-Version: %s",
		    s->version);
	if (!modern && s->session_id[0] != '\0')
		hdrs[nh++] = owned[no++] = xasprintf("Mcp-Session-Id: %s",
		    s->session_id);
	if (modern) {
		hdrs[nh++] = owned[no++] = xasprintf("Mcp-Method: %s", method);
		name = cJSON_GetObjectItemCaseSensitive(params, "name");
		if (cJSON_IsString(name)) {
			char	*v = header_value(name->valuestring);

			hdrs[nh++] = owned[no++] = xasprintf("Mcp-Name: %s", v);
			free(v);
		}
	}
	trace_child(tp);
	hdrs[nh++] = owned[no++] = xasprintf("traceparent: %s", tp);
	for (int i = 0; modern && extra != NULL && extra[i] != NULL &&
	    nh < HEADERS_MAX - 8; i++)
		hdrs[nh++] = extra[i];
	for (int i = 0; t->headers != NULL && t->headers[i] != NULL &&
	    nh < HEADERS_MAX - 1; i++)
		hdrs[nh++] = t->headers[i];
	hdrs[nh] = NULL;

	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = t->url;
	req.headers = hdrs;
	req.body = body;
	req.body_len = strlen(body);
	req.timeout_ms = t->timeout_ms;
	req.connect_timeout_ms = t->timeout_ms < 10000 ? t->timeout_ms : 10000;
	/* Error bodies are small; a 2xx body is bounded by read_body. */
	req.max_response = t->max_bytes + SSE_SLACK;
	req.on_data = read_body;
	req.ctx = &x;
	req.allow_addr = addr_allowed;
	req.addr_ctx = (void *)(uintptr_t)t->cfg;
	he = httpc_do(&req, &resp);

	/* A legacy stream closed before the response: resume it once. */
	if (he == HTTPC_OK && x.mode == 2 && x.answer == NULL &&
	    x.saw_event_id && !modern && resp.status >= 200 &&
	    resp.status <= 299) {
		int	 left = t->timeout_ms - (int)(time_mono_ms() - t0);
		char	*last = xasprintf("Last-Event-ID: %s",
			    mcp_sse_last_id(x.sse));
		const char *gh[HEADERS_MAX];
		int	 ng = 0;

		if (left > 100) {
			gh[ng++] = "Accept: text/event-stream";
			for (int i = 2; hdrs[i] != NULL && ng < HEADERS_MAX - 2;
			    i++)
				gh[ng++] = hdrs[i];
			gh[ng++] = last;
			gh[ng] = NULL;
			req.method = "GET";
			req.body = NULL;
			req.body_len = 0;
			req.headers = gh;
			req.timeout_ms = left;
			he = httpc_do(&req, &resp);
		}
		free(last);
	}

	out->http_status = resp.status;
	if (he == HTTPC_TIMEOUT)
		fail(out, MCP_TIMEOUT, "The server did not answer within %d "
		    "ms.", t->timeout_ms);
	else if (he == HTTPC_CONNECT)
		fail(out, MCP_CONNECT, "Cannot connect: %s.", resp.error);
	else if (he == HTTPC_TOO_LARGE || x.too_large)
		fail(out, MCP_TOO_LARGE, "The answer was larger than %zu "
		    "bytes.", t->max_bytes);
	else if (he != HTTPC_OK && !(he == HTTPC_ABORTED && x.answer != NULL))
		fail(out, MCP_HTTP, "The transfer failed: %s.", resp.error);
	else if (resp.status == 401 || resp.status == 403) {
		if (!httpc_header(&resp, "WWW-Authenticate",
		    out->www_authenticate, sizeof(out->www_authenticate)))
			out->www_authenticate[0] = '\0';
		fail(out, MCP_AUTH, "The server refused the credentials (HTTP "
		    "%ld).", resp.status);
	} else if (resp.status >= 300 && resp.status <= 399) {
		if (!httpc_header(&resp, "Location", loc, sizeof(loc)))
			str_copy(loc, "elsewhere", sizeof(loc));
		fail(out, MCP_HTTP, "The server redirects (HTTP %ld to "
		    "%.200s); redirects are not followed: enter the final "
		    "URL.", resp.status, loc);
	} else if (resp.status < 200 || resp.status > 299)
		error_body(&resp, out);
	else if (!is_request)
		out->err = MCP_OK;
	else {
		if (x.mode == 1 && x.answer == NULL) {
			cJSON	*j = json_parse(buf_str(&x.json),
				    x.json.len, NULL);

			if (cJSON_IsObject(j))
				look_at(&x, j);
			else
				cJSON_Delete(j);
		}
		take_answer(&x, out);
		/* The handshake's answer names the session (2025-11-25
		 * transports.mdx, "Session Management"). */
		if (out->err == MCP_OK && str_eq(method, "initialize") &&
		    httpc_header(&resp, "Mcp-Session-Id", sid, sizeof(sid))) {
			if (strlen(sid) <= MCP_SESSION_ID_MAX &&
			    name_is_plain(sid))
				str_copy(s->session_id, sid,
				    sizeof(s->session_id));
			else
				fail(out, MCP_PROTOCOL, "The server's session "
				    "id is not visible ASCII.");
		}
	}

	cJSON_Delete(x.answer);
	mcp_sse_free(x.sse);
	buf_cleanup(&x.json);
	httpc_resp_cleanup(&resp);
	for (int i = 0; i < no; i++)
		free(owned[i]);
	cJSON_Delete(msg);
	free(body);
	return out->err;
}

/* --- eras ----------------------------------------------------------------- */

static bool
known_legacy(const char *v)
{
	for (size_t i = 0; i < sizeof(legacy_versions) /
	    sizeof(legacy_versions[0]); i++)
		if (str_eq(v, legacy_versions[i]))
			return true;
	return false;
}

static void
server_name(struct mcp_session *s, const cJSON *info)
{
	const cJSON	*n = cJSON_GetObjectItemCaseSensitive(info, "name");

	if (cJSON_IsString(n))
		str_copy(s->server_name, n->valuestring,
		    sizeof(s->server_name));
}

/* initialize + notifications/initialized (2025-11-25 lifecycle.mdx). */
static enum mcp_err
legacy_init(const struct mcp_target *t, struct mcp_session *s,
    struct mcp_result *out)
{
	cJSON		*params = cJSON_CreateObject();
	cJSON		*info;
	const cJSON	*v;
	enum mcp_err	 e;

	s->era = MCP_ERA_LEGACY;
	s->version[0] = '\0';
	s->session_id[0] = '\0';
	cJSON_AddStringToObject(params, "protocolVersion", MCP_VERSION_LEGACY);
	cJSON_AddObjectToObject(params, "capabilities");
	info = cJSON_AddObjectToObject(params, "clientInfo");
	cJSON_AddStringToObject(info, "name", MCP_CLIENT_NAME);
	cJSON_AddStringToObject(info, "version", CLIENT_VERSION);
	e = send_one(t, s, "initialize", params, true, NULL, out);
	cJSON_Delete(params);
	if (e != MCP_OK)
		goto out;
	v = cJSON_GetObjectItemCaseSensitive(out->result, "protocolVersion");
	if (!cJSON_IsString(v) || !known_legacy(v->valuestring)) {
		fail(out, MCP_PROTOCOL, "The server answered initialize with "
		    "protocol version %.40s, which Parley does not speak "
		    "(it speaks %s, 2025-06-18, 2025-03-26 and %s).",
		    cJSON_IsString(v) ? v->valuestring : "(none)",
		    MCP_VERSION_LEGACY, MCP_VERSION_MODERN);
		e = out->err;
		goto out;
	}
	str_copy(s->version, v->valuestring, sizeof(s->version));
	server_name(s, cJSON_GetObjectItemCaseSensitive(out->result,
	    "serverInfo"));
	e = send_one(t, s, "notifications/initialized", NULL, false, NULL,
	    out);
out:
	if (e != MCP_OK)
		s->era = MCP_ERA_UNKNOWN;
	return e;
}

/*
 * server/discover first; a modern answer keeps the modern era, anything
 * else but a transport or auth failure falls back to initialize
 * (2026-07-28 streamable-http.mdx, "Backward Compatibility").
 */
static enum mcp_err
negotiate(const struct mcp_target *t, struct mcp_session *s,
    struct mcp_result *out)
{
	const cJSON	*vs, *v, *meta;
	bool		 modern = false, legacy = false;
	enum mcp_err	 e;

	memset(s, 0, sizeof(*s));
	s->era = MCP_ERA_MODERN;
	str_copy(s->version, MCP_VERSION_MODERN, sizeof(s->version));
	e = send_one(t, s, "server/discover", NULL, true, NULL, out);
	if (e == MCP_OK) {
		vs = cJSON_GetObjectItemCaseSensitive(out->result,
		    "supportedVersions");
		cJSON_ArrayForEach(v, vs)
			if (cJSON_IsString(v) && str_eq(v->valuestring,
			    MCP_VERSION_MODERN))
				modern = true;
		if (modern) {
			meta = cJSON_GetObjectItemCaseSensitive(out->result,
			    "_meta");
			server_name(s, cJSON_GetObjectItemCaseSensitive(meta,
			    "io.modelcontextprotocol/serverInfo"));
			return MCP_OK;
		}
	} else if (e == MCP_RPC && out->rpc_code == RPC_UNSUPPORTED_VERSION &&
	    out->http_status == 400) {
		vs = cJSON_GetObjectItemCaseSensitive(out->result, "supported");
		cJSON_ArrayForEach(v, vs)
			if (cJSON_IsString(v)) {
				modern |= str_eq(v->valuestring,
				    MCP_VERSION_MODERN);
				legacy |= known_legacy(v->valuestring);
			}
		if (!legacy) {
			fail(out, MCP_PROTOCOL, "The server speaks only "
			    "protocol versions Parley does not (it speaks %s, "
			    "%s and earlier).", MCP_VERSION_MODERN,
			    MCP_VERSION_LEGACY);
			s->era = MCP_ERA_UNKNOWN;
			return out->err;
		}
	} else if (e == MCP_AUTH || e == MCP_TIMEOUT || e == MCP_CONNECT ||
	    e == MCP_TOO_LARGE || (e == MCP_HTTP && out->http_status >= 500) ||
	    (e == MCP_HTTP && out->http_status == 0)) {
		s->era = MCP_ERA_UNKNOWN;
		return e;
	}
	return legacy_init(t, s, out);
}

enum mcp_err
mcp_client_request(const struct mcp_target *t, struct mcp_session *s,
    const char *method, const cJSON *params, struct mcp_result *out)
{
	return request(t, s, method, params, NULL, out);
}

/* mcp_client_request with extra header lines for modern servers. */
static enum mcp_err
request(const struct mcp_target *t, struct mcp_session *s,
    const char *method, const cJSON *params, const char *const *extra,
    struct mcp_result *out)
{
	enum mcp_err	 e = MCP_OK;
	const cJSON	*rt;
	bool		 had_session;

	mcp_result_cleanup(out);
	if (s->era == MCP_ERA_UNKNOWN && (e = negotiate(t, s, out)) != MCP_OK)
		return e;
	for (int attempt = 0; attempt < 2; attempt++) {
		had_session = s->era == MCP_ERA_LEGACY &&
		    s->session_id[0] != '\0';
		e = send_one(t, s, method, params, true, extra, out);
		if (attempt > 0)
			break;
		/* 2025-11-25: 404 to a request with a session id = the
		 * session is gone; start a new one without the header. */
		if (had_session && out->http_status == 404) {
			if ((e = legacy_init(t, s, out)) != MCP_OK)
				return e;
			continue;
		}
		/* 2026-07-28: the server no longer takes our version. */
		if (s->era == MCP_ERA_MODERN && e == MCP_RPC &&
		    out->rpc_code == RPC_UNSUPPORTED_VERSION) {
			if ((e = negotiate(t, s, out)) != MCP_OK)
				return e;
			continue;
		}
		break;
	}
	if (e == MCP_OK && s->era == MCP_ERA_MODERN) {
		rt = cJSON_GetObjectItemCaseSensitive(out->result, "resultType");
		if (cJSON_IsString(rt) && !str_eq(rt->valuestring, "complete")) {
			fail(out, MCP_PROTOCOL, "The server asked for input "
			    "(%.40s) that Parley cannot give during a tool "
			    "call.", rt->valuestring);
			e = out->err;
		}
	}
	return e;
}

enum mcp_err
mcp_client_list_tools(const struct mcp_target *t, struct mcp_session *s,
    cJSON **tools, int64_t *ttl_ms, struct mcp_result *out)
{
	cJSON		*all = cJSON_CreateArray();
	cJSON		*params = NULL;
	char		*cursor = NULL;
	const cJSON	*page, *tool, *next, *ttl;
	enum mcp_err	 e = MCP_OK;
	int		 n = 0;

	*tools = NULL;
	*ttl_ms = -1;
	for (int i = 0; i < MAX_PAGES; i++) {
		cJSON_Delete(params);
		params = NULL;
		if (cursor != NULL) {
			params = cJSON_CreateObject();
			cJSON_AddStringToObject(params, "cursor", cursor);
		}
		if ((e = mcp_client_request(t, s, "tools/list", params, out)) !=
		    MCP_OK)
			goto out;
		page = cJSON_GetObjectItemCaseSensitive(out->result, "tools");
		if (!cJSON_IsArray(page)) {
			fail(out, MCP_PROTOCOL, "tools/list answered without "
			    "a tools array.");
			e = out->err;
			goto out;
		}
		cJSON_ArrayForEach(tool, page)
			if (cJSON_IsObject(tool) && n++ < MAX_TOOLS)
				cJSON_AddItemToArray(all,
				    cJSON_Duplicate(tool, true));
		ttl = cJSON_GetObjectItemCaseSensitive(out->result, "ttlMs");
		if (cJSON_IsNumber(ttl) && ttl->valuedouble >= 0 &&
		    (*ttl_ms < 0 || ttl->valuedouble < *ttl_ms))
			*ttl_ms = (int64_t)ttl->valuedouble;
		next = cJSON_GetObjectItemCaseSensitive(out->result,
		    "nextCursor");
		free(cursor);
		cursor = NULL;
		if (!cJSON_IsString(next) || next->valuestring[0] == '\0' ||
		    n >= MAX_TOOLS)
			break;
		cursor = xstrdup(next->valuestring);
	}
	s->tools_stale = false;
	*tools = all;
	all = NULL;
out:
	free(cursor);
	cJSON_Delete(params);
	cJSON_Delete(all);
	return e;
}

enum mcp_err
mcp_client_call_tool(const struct mcp_target *t, struct mcp_session *s,
    const char *name, const cJSON *args, const cJSON *input_schema,
    struct mcp_result *out)
{
	cJSON		*params = cJSON_CreateObject();
	char		**extra = mcp_param_headers(input_schema, args);
	enum mcp_err	 e;

	cJSON_AddStringToObject(params, "name", name);
	cJSON_AddItemToObject(params, "arguments", args != NULL ?
	    cJSON_Duplicate(args, true) : cJSON_CreateObject());
	e = request(t, s, "tools/call", params, (const char *const *)extra,
	    out);
	cJSON_Delete(params);
	mcp_headers_free(extra);
	return e;
}

/*
 * One schema node: its x-mcp-header (if any) must be on a property
 * (is_prop) reached through `properties` alone (reachable); found gets
 * {name, path, type} per annotation, path the keys from the root. False
 * with why on the first violation.
 */
static bool
hdr_walk(const cJSON *node, bool reachable, bool is_prop, cJSON *path,
    cJSON *found, char *why, size_t whylen)
{
	const cJSON	*h = cJSON_GetObjectItemCaseSensitive(node,
			    "x-mcp-header");
	const cJSON	*child;

	if (cJSON_IsArray(node)) {
		cJSON_ArrayForEach(child, node)
			if (!hdr_walk(child, false, false, path, found, why,
			    whylen))
				return false;
		return true;
	}
	if (!cJSON_IsObject(node))
		return true;
	if (h != NULL) {
		const cJSON	*type = cJSON_GetObjectItemCaseSensitive(node,
				    "type");
		const cJSON	*e;
		cJSON		*o;

		if (!reachable || !is_prop) {
			snprintf(why, whylen, "x-mcp-header outside the "
			    "properties reachable from the root");
			return false;
		}
		if (!cJSON_IsString(h) || h->valuestring[0] == '\0' ||
		    strlen(h->valuestring) > 100) {
			snprintf(why, whylen, "an empty or long x-mcp-header");
			return false;
		}
		for (const char *c = h->valuestring; *c != '\0'; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' &&
			    *c <= 'Z') || (*c >= '0' && *c <= '9') ||
			    strchr("!#$%&'*+-.^_`|~", *c) != NULL)) {
				snprintf(why, whylen, "x-mcp-header \"%.40s\" "
				    "is not a token", h->valuestring);
				return false;
			}
		if (!cJSON_IsString(type) || !(str_eq(type->valuestring,
		    "string") || str_eq(type->valuestring, "integer") ||
		    str_eq(type->valuestring, "boolean"))) {
			snprintf(why, whylen, "x-mcp-header \"%.40s\" on a "
			    "property that is not a string, integer or boolean",
			    h->valuestring);
			return false;
		}
		cJSON_ArrayForEach(e, found)
			if (strcasecmp(cJSON_GetObjectItemCaseSensitive(e,
			    "name")->valuestring, h->valuestring) == 0) {
				snprintf(why, whylen, "x-mcp-header \"%.40s\" "
				    "is given twice", h->valuestring);
				return false;
			}
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", h->valuestring);
		cJSON_AddItemToObject(o, "path", cJSON_Duplicate(path, true));
		cJSON_AddStringToObject(o, "type", type->valuestring);
		cJSON_AddItemToArray(found, o);
	}
	cJSON_ArrayForEach(child, node) {
		if (str_eq(child->string, "properties") &&
		    cJSON_IsObject(child)) {
			const cJSON	*prop;

			cJSON_ArrayForEach(prop, child) {
				bool	 ok;

				cJSON_AddItemToArray(path,
				    cJSON_CreateString(prop->string));
				ok = hdr_walk(prop, reachable, true, path, found,
				    why, whylen);
				cJSON_DeleteItemFromArray(path,
				    cJSON_GetArraySize(path) - 1);
				if (!ok)
					return false;
			}
		} else if (!hdr_walk(child, false, false, path, found, why,
		    whylen))
			return false;
	}
	return true;
}

bool
mcp_tool_headers_valid(const cJSON *input_schema, char *why, size_t whylen)
{
	cJSON	*path = cJSON_CreateArray(), *found = cJSON_CreateArray();
	bool	 ok = hdr_walk(input_schema, true, false, path, found, why,
		    whylen);

	cJSON_Delete(path);
	cJSON_Delete(found);
	return ok;
}

char **
mcp_param_headers(const cJSON *input_schema, const cJSON *args)
{
	cJSON		*path = cJSON_CreateArray(), *found = cJSON_CreateArray();
	const cJSON	*e, *k;
	char		**out;
	char		 why[128], num[32];
	int		 n = 0;

	if (input_schema == NULL || !hdr_walk(input_schema, true, false, path,
	    found, why, sizeof(why))) {
		/* Such a tool is never offered: send nothing. */
		cJSON_Delete(found);
		found = cJSON_CreateArray();
	}
	out = xcalloc((size_t)cJSON_GetArraySize(found) + 1, sizeof(char *));
	cJSON_ArrayForEach(e, found) {
		const cJSON	*v = args;
		const char	*text = NULL;
		char		*enc;

		cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(e,
		    "path"))
			v = cJSON_GetObjectItemCaseSensitive(v, k->valuestring);
		if (cJSON_IsString(v))
			text = v->valuestring;
		else if (cJSON_IsBool(v))
			text = cJSON_IsTrue(v) ? "true" : "false";
		else if (cJSON_IsNumber(v) && v->valuedouble ==
		    (double)(long long)v->valuedouble &&
		    v->valuedouble <= 9007199254740991.0 &&
		    v->valuedouble >= -9007199254740991.0) {
			snprintf(num, sizeof(num), "%lld",
			    (long long)v->valuedouble);
			text = num;
		}
		if (text == NULL)
			continue;	/* absent or null: no header */
		enc = header_value(text);
		out[n++] = xasprintf("Mcp-Param-%s: %s",
		    cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring,
		    enc);
		free(enc);
	}
	out[n] = NULL;
	cJSON_Delete(path);
	cJSON_Delete(found);
	return out;
}

void
mcp_headers_free(char **h)
{
	for (int i = 0; h != NULL && h[i] != NULL; i++)
		free(h[i]);
	free(h);
}

void
mcp_client_close(const struct mcp_target *t, struct mcp_session *s)
{
	struct httpc_req req;
	struct httpc_resp resp;
	const char	*hdrs[HEADERS_MAX];
	char		*sid, *ver = NULL;
	int		 nh = 0;

	if (s->era != MCP_ERA_LEGACY || s->session_id[0] == '\0')
		return;
	sid = xasprintf("Mcp-Session-Id: %s", s->session_id);
	hdrs[nh++] = sid;
	if (s->version[0] != '\0')
		hdrs[nh++] = ver = xasprintf("MCP-Protocol-Version: %s",
		    s->version);
	for (int i = 0; t->headers != NULL && t->headers[i] != NULL &&
	    nh < HEADERS_MAX - 1; i++)
		hdrs[nh++] = t->headers[i];
	hdrs[nh] = NULL;
	memset(&req, 0, sizeof(req));
	req.method = "DELETE";
	req.url = t->url;
	req.headers = hdrs;
	req.timeout_ms = t->timeout_ms < 5000 ? t->timeout_ms : 5000;
	req.max_response = 64 * 1024;
	req.allow_addr = addr_allowed;
	req.addr_ctx = (void *)(uintptr_t)t->cfg;
	httpc_resp_init(&resp);
	(void)httpc_do(&req, &resp);
	httpc_resp_cleanup(&resp);
	free(sid);
	free(ver);
	s->session_id[0] = '\0';
	s->era = MCP_ERA_UNKNOWN;
}

bool
mcp_client_http(const struct mcp_target *t, const char *method,
    const char *url, const char *const *headers, const char *body,
    struct httpc_resp *resp, char *err, size_t errlen)
{
	struct httpc_req req;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.headers = headers;
	req.body = body;
	req.body_len = body != NULL ? strlen(body) : 0;
	req.timeout_ms = t->timeout_ms;
	req.connect_timeout_ms = t->timeout_ms < 10000 ? t->timeout_ms : 10000;
	req.max_response = 1024 * 1024;
	req.allow_addr = addr_allowed;
	req.addr_ctx = (void *)(uintptr_t)t->cfg;
	if (httpc_do(&req, resp) != HTTPC_OK) {
		snprintf(err, errlen, "%s", resp->error);
		return false;
	}
	return true;
}

/* --- results for the model ---------------------------------------------- */

char *
mcp_result_text(const cJSON *result, size_t max_bytes, bool *is_error)
{
	const cJSON	*content = cJSON_GetObjectItemCaseSensitive(result,
			    "content");
	const cJSON	*sc = cJSON_GetObjectItemCaseSensitive(result,
			    "structuredContent");
	const cJSON	*ie = cJSON_GetObjectItemCaseSensitive(result,
			    "isError");
	const cJSON	*item;
	struct buf	 b;
	size_t		 n;
	bool		 has_text = false;
	char		*out;

	*is_error = cJSON_IsTrue(ie);
	buf_init(&b, 0);
	cJSON_ArrayForEach(item, content) {
		const cJSON	*type = cJSON_GetObjectItemCaseSensitive(item,
				    "type");
		const char	*ty = cJSON_IsString(type) ? type->valuestring :
				    "";
		const cJSON	*text = cJSON_GetObjectItemCaseSensitive(item,
				    "text");
		const cJSON	*mime = cJSON_GetObjectItemCaseSensitive(item,
				    "mimeType");
		const cJSON	*data = cJSON_GetObjectItemCaseSensitive(item,
				    "data");
		const char	*mt = cJSON_IsString(mime) ? mime->valuestring :
				    "unknown type";

		if (b.len > 0)
			buf_putc(&b, '\n');
		if (str_eq(ty, "text") && cJSON_IsString(text)) {
			buf_puts(&b, text->valuestring);
			has_text = true;
		} else if (str_eq(ty, "image") || str_eq(ty, "audio")) {
			/* Tool messages carry text only: the model is told
			 * what came back, not given the bytes. */
			buf_printf(&b, "[%s: %.80s, %zu bytes, not shown]", ty,
			    mt, cJSON_IsString(data) ?
			    strlen(data->valuestring) / 4 * 3 : (size_t)0);
		} else if (str_eq(ty, "resource_link")) {
			const cJSON *u = cJSON_GetObjectItemCaseSensitive(item,
			    "uri");
			const cJSON *nm = cJSON_GetObjectItemCaseSensitive(item,
			    "name");

			buf_printf(&b, "[resource link: %.200s <%.500s>]",
			    cJSON_IsString(nm) ? nm->valuestring : "",
			    cJSON_IsString(u) ? u->valuestring : "");
		} else if (str_eq(ty, "resource")) {
			const cJSON *res = cJSON_GetObjectItemCaseSensitive(
			    item, "resource");
			const cJSON *rt = cJSON_GetObjectItemCaseSensitive(res,
			    "text");
			const cJSON *u = cJSON_GetObjectItemCaseSensitive(res,
			    "uri");

			if (cJSON_IsString(rt)) {
				buf_puts(&b, rt->valuestring);
				has_text = true;
			} else
				buf_printf(&b, "[resource %.500s: binary, not "
				    "shown]", cJSON_IsString(u) ?
				    u->valuestring : "");
		} else
			buf_printf(&b, "[%.40s content, not shown]", ty[0] ?
			    ty : "unknown");
	}
	if (cJSON_IsObject(sc) && !has_text) {
		char	*j = cJSON_PrintUnformatted(sc);

		if (j == NULL)
			abort();
		if (b.len > 0)
			buf_putc(&b, '\n');
		buf_puts(&b, j);
		free(j);
	}
	if (b.len == 0)
		buf_puts(&b, *is_error ? "The tool failed without saying why." :
		    "(the tool returned nothing)");
	if (b.len > max_bytes) {
		n = max_bytes;
		/* Back up to a UTF-8 boundary. */
		while (n > 0 && ((unsigned char)b.data[n] & 0xc0) == 0x80)
			n--;
		b.len = n;
		b.data[n] = '\0';
		buf_printf(&b, "\n[cut: the result was longer than %zu bytes]",
		    max_bytes);
	}
	out = buf_steal(&b, NULL);
	buf_cleanup(&b);
	return out != NULL ? out : xstrdup("");
}
