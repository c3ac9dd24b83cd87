/*
 * httpc: a small libcurl easy wrapper for outbound calls (LLM APIs,
 * WhatsApp providers). Every transfer has a connect and a total timeout,
 * CURLOPT_NOSIGNAL, http/https only, no redirects followed, and a
 * response-size cap enforced in the write callback (STYLE.md §10).
 *
 * Connections. Every transfer runs on an easy handle borrowed from a
 * small process-wide cache of idle handles and given back after it, so
 * the handle (its multi handle, DNS and TLS session caches) outlives the
 * call. Whether the transfer may ride a connection an earlier transfer
 * left open is the request's choice (httpc_req.reuse):
 *
 *   reuse = false (the default): a new TCP (and TLS) connection, closed
 *     after the transfer. For everything whose repeat a user could
 *     notice: a provider message send, an MCP tool call, an upload.
 *   reuse = true: an open connection to the same host may be used, and
 *     left open (idle at most HTTPC_CONN_MAXAGE_S) for the next one.
 *     Only where a repeat is harmless: when a REUSED connection turns out
 *     dead before any response byte arrives, libcurl sends the request
 *     again on a fresh one (lib/transfer.c Curl_retry_request, "Connection
 *     died, retrying a fresh connect"), POST included, and the server may
 *     have acted on the first copy. Harmless: a model call (tokens, not a
 *     message), typing indicators and read receipts (idempotent), GETs.
 *
 * A connection opened under one address policy (allow_addr, addr_ctx) is
 * never reused under another: idle handles are keyed by the pair (see
 * httpc_req). Nothing per request (headers, callbacks, their contexts)
 * survives into the next borrower: the handle is curl_easy_reset before
 * it goes back.
 *
 * httpc_global_init() must have run once before the first transfer (main()
 * does it) and httpc_global_cleanup() after the last; every function here
 * may be called from any thread.
 *
 * The response body goes to resp->body, or, when req->on_data is set and
 * the status is 2xx, to on_data as it arrives (for streaming). Error
 * bodies (non-2xx) always land in resp->body so callers can read the
 * provider's error JSON. Response headers of the final response are kept
 * raw in resp->headers; httpc_header() looks one up.
 */
#ifndef PARLEY_UTIL_HTTPC_H
#define PARLEY_UTIL_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define HTTPC_CONNECT_TIMEOUT_MS	10000
#define HTTPC_TIMEOUT_MS		30000
#define HTTPC_MAX_RESPONSE		(8u * 1024 * 1024)
#define HTTPC_MAX_HEADERS		(64u * 1024)
/*
 * The idle-handle cache: at most IDLE_MAX handles wait, each keeping at
 * most HANDLE_CONNS connections; a connection idle longer than
 * CONN_MAXAGE_S is closed rather than used, and a handle idle that long is
 * freed. 30 s is below the idle timeouts of the load balancers in front
 * of the big APIs (60 s and more), so we mostly retire a connection before
 * the server does; one closed sooner (Apache and Node default to 5 s) is
 * seen by libcurl's liveness check before reuse, and the race left over is
 * the repeat reuse = true accepts.
 */
#define HTTPC_IDLE_MAX			64
#define HTTPC_HANDLE_CONNS		4
#define HTTPC_CONN_MAXAGE_S		30

enum httpc_err {
	HTTPC_OK = 0,		/* a response arrived (any HTTP status) */
	HTTPC_TIMEOUT,		/* connect or total timeout */
	HTTPC_CONNECT,		/* DNS, refused, unreachable, TLS */
	HTTPC_TOO_LARGE,	/* the body passed max_response */
	HTTPC_ABORTED,		/* on_data returned false */
	HTTPC_FAILED,		/* anything else: reset, empty reply, ... */
	HTTPC_CANCELLED,	/* the caller's cancelled() said so */
};

/*
 * Receives 2xx body bytes of a streaming call as they arrive. Return false
 * to abort the transfer (httpc_do then returns HTTPC_ABORTED).
 */
typedef bool	(*httpc_data_fn)(void *ctx, const char *p, size_t len);

struct sockaddr;

/*
 * Asked with the resolved address before each connection is opened
 * (CURLOPT_OPENSOCKETFUNCTION), so a name that resolves somewhere it must
 * not go is refused at connect time, not only when the URL is entered.
 * Return false to refuse: httpc_do then fails with HTTPC_CONNECT and a
 * sentence naming the address.
 */
typedef bool	(*httpc_addr_fn)(void *ctx, const struct sockaddr *sa);

/*
 * Asked while a transfer runs (libcurl's progress callback: often while
 * data flows, about once a second while it waits): true aborts it, and
 * httpc_do returns HTTPC_CANCELLED.
 */
typedef bool	(*httpc_cancel_fn)(void *ctx);

struct httpc_req {
	const char		*method;	/* NULL: GET, or POST with body */
	const char		*url;
	/* NULL-terminated "Name: value" lines, may be NULL. Never put
	 * client data here unchecked (CR/LF). */
	const char *const	*headers;
	const char		*body;		/* NULL: none */
	size_t			 body_len;
	int			 connect_timeout_ms; /* 0: CONNECT_TIMEOUT */
	int			 timeout_ms;	/* total; 0: HTTPC_TIMEOUT_MS */
	size_t			 max_response;	/* 0: HTTPC_MAX_RESPONSE */
	httpc_data_fn		 on_data;	/* NULL: buffer in resp->body */
	void			*ctx;
	httpc_addr_fn		 allow_addr;	/* NULL: any address */
	void			*addr_ctx;
	httpc_cancel_fn		 cancelled;	/* NULL: never cancelled */
	void			*cancel_ctx;
	/*
	 * true: may use (and leave open) a kept connection; only for a
	 * request whose repeat is harmless (file top). With allow_addr set,
	 * the pair (allow_addr, addr_ctx) names the policy a kept connection
	 * was opened under, so addr_ctx must stand for one policy for the
	 * life of the process (the app's config, not a pointer that is freed
	 * and may come back for another policy).
	 */
	bool			 reuse;
};

struct httpc_resp {
	long		 status;	/* HTTP status; 0 if none arrived */
	struct buf	 body;		/* NUL-terminated (see file top) */
	struct buf	 headers;	/* raw header block, final response */
	size_t		 received;	/* body bytes, streamed ones too */
	enum httpc_err	 err;
	char		 error[256];	/* curl's sentence when err != OK */
};

/*
 * curl_global_init(); false when libcurl cannot start. Once, before any
 * other thread runs.
 */
bool		 httpc_global_init(void);
/*
 * Frees the idle handles (closing their connections), then
 * curl_global_cleanup(). After the last transfer has ended.
 */
void		 httpc_global_cleanup(void);

void		 httpc_resp_init(struct httpc_resp *r);
/* Frees the body and headers; the struct may be reused after _init. */
void		 httpc_resp_cleanup(struct httpc_resp *r);

/*
 * Performs one transfer on a borrowed handle (file top). resp must have
 * been httpc_resp_init'ed; it is reset first. Returns resp->err.
 * HTTPC_OK means an HTTP response arrived, whatever its status; on every
 * other result resp->error holds a sentence and resp->status may still
 * hold the status when headers did arrive.
 */
enum httpc_err	 httpc_do(const struct httpc_req *req,
		    struct httpc_resp *resp);

/*
 * The value of response header `name` (case-insensitive, last one wins,
 * surrounding white space trimmed) in out[outlen]; false when absent or
 * too long.
 */
bool		 httpc_header(const struct httpc_resp *r, const char *name,
		    char *out, size_t outlen);

const char	*httpc_err_str(enum httpc_err e);

#endif
