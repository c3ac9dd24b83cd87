/*
 * mcp_client: a Model Context Protocol client over Streamable HTTP
 * (PROTOCOLS.md §6, docs/mcp.md), for both eras a deployed server may
 * speak, chosen per server:
 *
 *   legacy  2025-03-26 … 2025-11-25: `initialize` + `notifications/
 *           initialized`, an optional Mcp-Session-Id echoed on every
 *           request, MCP-Protocol-Version after the handshake; a 404 on a
 *           request that carried a session id means the server forgot the
 *           session, and the client initialises again and retries once.
 *   modern  2026-07-28: no handshake and no session; every request
 *           carries params._meta (protocol version, client info and
 *           capabilities) and the MCP-Protocol-Version, Mcp-Method and
 *           Mcp-Name headers; `server/discover` tells the era up front.
 *
 * Negotiation: the first request to a server is a modern
 * `server/discover`. A DiscoverResult, or a 400 carrying the modern
 * UnsupportedProtocolVersionError (-32022), means modern; anything else
 * (another 4xx, a legacy JSON-RPC error, a 200 with "method not found")
 * means legacy, and the client falls back to `initialize`. The outcome is
 * kept in struct mcp_session by the caller (plugins/mcp.c) for later
 * calls.
 *
 * Every answer may be one JSON object or an SSE stream (text/event-stream)
 * whose events carry JSON-RPC messages: the client reads events until the
 * response to its request arrives, then stops reading. A
 * `notifications/tools/list_changed` seen on the way marks the session's
 * tool list stale.
 *
 * Guard rails: the resolved address is checked at connect time (a name
 * that resolves to a private or loopback address is refused unless the
 * configuration allows it), redirects are never followed, and each
 * request is bounded in time and bytes.
 *
 * Thread-safety: no shared state beyond an atomic request-id counter; a
 * struct mcp_session belongs to one call at a time.
 */
#ifndef PARLEY_PLUGINS_MCP_CLIENT_H
#define PARLEY_PLUGINS_MCP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct config;

#define MCP_VERSION_MODERN	"2026-07-28"
#define MCP_VERSION_LEGACY	"2025-11-25"
#define MCP_SESSION_ID_MAX	255
#define MCP_CLIENT_NAME		"parley"

enum mcp_era {
	MCP_ERA_UNKNOWN = 0,
	MCP_ERA_LEGACY,
	MCP_ERA_MODERN,
};

/* What the client learnt about one server. */
struct mcp_session {
	enum mcp_era	 era;
	char		 version[16];		/* negotiated revision */
	char		 session_id[MCP_SESSION_ID_MAX + 1];	/* "" none */
	char		 server_name[128];	/* serverInfo.name, may be "" */
	bool		 tools_stale;		/* list_changed was seen */
};

/* Where and how to send: the caller's view of one server. */
struct mcp_target {
	const char		*url;
	/* Extra "Name: value" lines (authentication), NULL-terminated;
	 * never client data with CR/LF (model/mcp_server.c checks). */
	const char *const	*headers;
	int			 timeout_ms;	/* whole request */
	size_t			 max_bytes;	/* one response */
	/* Address policy (mcp_allow_private, mcp_allowed); NULL: public
	 * addresses only. */
	const struct config	*cfg;
};

enum mcp_err {
	MCP_OK = 0,
	MCP_RPC,	/* the server answered a JSON-RPC error (rpc_code) */
	MCP_AUTH,	/* 401 or 403: credentials missing, wrong or expired */
	MCP_HTTP,	/* another unexpected HTTP status, or a redirect */
	MCP_TIMEOUT,
	MCP_CONNECT,	/* DNS, refused, unreachable, TLS, address refused */
	MCP_TOO_LARGE,	/* the answer passed max_bytes */
	MCP_PROTOCOL,	/* the answer was not MCP */
};

struct mcp_result {
	enum mcp_err	 err;
	char		 message[512];	/* a sentence when err != MCP_OK */
	long		 http_status;
	int		 rpc_code;
	cJSON		*result;	/* the JSON-RPC result (owned) */
	/* On MCP_AUTH: the WWW-Authenticate header, "" when none. */
	char		 www_authenticate[1024];
};

void		 mcp_result_init(struct mcp_result *r);
void		 mcp_result_cleanup(struct mcp_result *r);
const char	*mcp_err_str(enum mcp_err e);

/*
 * One JSON-RPC request (method, params: borrowed, may be NULL),
 * negotiating the era first when s does not know it and re-initialising
 * once when a legacy server forgot the session. s is updated in place.
 * Returns out->err.
 */
enum mcp_err	 mcp_client_request(const struct mcp_target *t,
		    struct mcp_session *s, const char *method,
		    const cJSON *params, struct mcp_result *out);
/*
 * tools/list, following nextCursor (at most 20 pages, 1000 tools): on
 * success *tools is an array the caller deletes and *ttl_ms the server's
 * cache hint (-1 when it gave none).
 */
enum mcp_err	 mcp_client_list_tools(const struct mcp_target *t,
		    struct mcp_session *s, cJSON **tools, int64_t *ttl_ms,
		    struct mcp_result *out);
/*
 * tools/call name(args): out->result is the CallToolResult. input_schema
 * (the tool's, may be NULL) supplies its x-mcp-header parameters, sent as
 * Mcp-Param-{Name} headers to a 2026-07-28 server.
 */
enum mcp_err	 mcp_client_call_tool(const struct mcp_target *t,
		    struct mcp_session *s, const char *name, const cJSON *args,
		    const cJSON *input_schema, struct mcp_result *out);
/*
 * 2026-07-28 streamable-http.mdx, "Custom Headers from Tool Parameters":
 * true when every x-mcp-header in the schema sits on a property reached
 * from the root through `properties` alone, names a token unique without
 * regard to case, and the property is a string, integer or boolean. A
 * tool whose schema fails is not offered (why: a sentence).
 */
bool		 mcp_tool_headers_valid(const cJSON *input_schema, char *why,
		    size_t whylen);
/*
 * The Mcp-Param-{Name} header lines for args (malloc'd strings in a
 * NULL-terminated malloc'd array; free with mcp_headers_free); values are
 * sent as is, or Base64 between =?base64? and ?= when not plain ASCII.
 */
char		**mcp_param_headers(const cJSON *input_schema, const cJSON *args);
void		 mcp_headers_free(char **h);
/* Ends a legacy session (DELETE with Mcp-Session-Id); best effort. */
void		 mcp_client_close(const struct mcp_target *t,
		    struct mcp_session *s);

struct httpc_resp;
/*
 * One plain HTTP request under t's guard rails (address check, no
 * redirects, t's timeout, at most 1 MiB back): OAuth discovery and token
 * calls. url may differ from t->url; extra headers NULL-terminated.
 * Returns false with a sentence in err when no HTTP answer arrived.
 */
bool		 mcp_client_http(const struct mcp_target *t, const char *method,
		    const char *url, const char *const *headers,
		    const char *body, struct httpc_resp *resp, char *err,
		    size_t errlen);

/*
 * A CallToolResult as text a model can read: text items as they are,
 * structuredContent as JSON when no text carries it, images, audio and
 * resources described in a line each. At most max_bytes (then cut on a
 * UTF-8 boundary with a note). *is_error gets result.isError. Returns a
 * malloc'd string, never NULL.
 */
char		*mcp_result_text(const cJSON *result, size_t max_bytes,
		    bool *is_error);

/*
 * Parses Server-Sent Events from bytes fed in pieces: each complete
 * event's data (lines joined with "\n") goes to on_event. Exposed for the
 * unit tests and the fuzz target.
 */
struct mcp_sse;
typedef bool	(*mcp_sse_event_fn)(void *ctx, const char *event,
		    const char *data, size_t len);
struct mcp_sse	*mcp_sse_new(size_t max_event, mcp_sse_event_fn fn,
		    void *ctx);
/* False when on_event asked to stop or an event passed max_event
 * (mcp_sse_too_large says which). */
bool		 mcp_sse_feed(struct mcp_sse *p, const char *data, size_t len);
bool		 mcp_sse_too_large(const struct mcp_sse *p);
/* The last `id:` field seen ("" none). */
const char	*mcp_sse_last_id(const struct mcp_sse *p);
void		 mcp_sse_free(struct mcp_sse *p);

#endif
