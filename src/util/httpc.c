/*
 * httpc: libcurl easy wrapper for outbound calls (see httpc.h).
 *
 * The size cap counts every body byte, streamed or buffered, and is
 * enforced in the write callback by returning short, which makes libcurl
 * stop the transfer (CURLE_WRITE_ERROR); the callback records why, so the
 * error is reported as HTTPC_TOO_LARGE or HTTPC_ABORTED rather than as a
 * write error. Whether a body is streamed is decided at its first byte,
 * when the status is known: only 2xx bodies go to on_data.
 *
 * DESIGN: the idle handles. A handle is worth keeping: libcurl's easy
 * interface gives each one a private multi handle (with its wake-up
 * socketpair), a connection cache, a DNS cache and a TLS session cache,
 * and a new one pays for all of them; a kept connection also saves the
 * TCP and TLS handshakes. idle[] is a stack, the most recently given back
 * handle on top (its connections are the warmest), the oldest at [0],
 * where handles idle longer than HTTPC_CONN_MAXAGE_S are dropped and where
 * a full stack drops one. Each slot carries the address policy its
 * handle's connections were opened under:
 *
 *   - a reusing transfer takes the topmost handle of ITS policy (same
 *     allow_addr and addr_ctx), or a new one, which then belongs to that
 *     policy. A policy is checked when a socket opens and a kept
 *     connection opens none, so the key is what stops a connection made
 *     unguarded (or under a looser guard) from carrying a guarded request;
 *   - a non-reusing transfer takes the topmost handle of any policy and
 *     runs with CURLOPT_FRESH_CONNECT and CURLOPT_FORBID_REUSE: its own
 *     connection, opened (under its own guard) and closed by it, so the
 *     handle's kept connections and its policy are left as they were.
 *     libcurl resends only on a reused connection, so a send is never
 *     repeated by it.
 *
 * A handle goes back through curl_easy_reset, which returns every option
 * to its default (headers, callbacks and their data, the error buffer: no
 * pointer into the finished call and nothing of its borrower remains)
 * and keeps the connections and the DNS and TLS session caches.
 *
 * Thread-safety: idle[] is guarded by idle_mu, held only to push or pop a
 * slot; handles are created, reset and freed outside it. A borrowed handle
 * belongs to one thread until it is given back. CURLOPT_NOSIGNAL keeps
 * libcurl from using signals for DNS timeouts, which a threaded server
 * cannot afford.
 */
#include "util/httpc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "util/cidr.h"
#include "util/time.h"

/* A handle and the address policy of the connections it keeps. */
struct slot {
	CURL		*curl;
	httpc_addr_fn	 allow;
	void		*allow_ctx;
	int64_t		 idle_since_ms;	/* when it was given back */
};

/* One transfer's state, seen by the callbacks. */
struct xfer {
	const struct httpc_req	*req;
	struct httpc_resp	*resp;
	CURL			*curl;
	size_t			 max;
	int			 mode;	/* -1 undecided, 0 buffer, 1 stream */
	bool			 too_large;
	bool			 aborted;
	bool			 cancelled;
	char			 refused[64];	/* the address refused */
};

static size_t		 on_write(char *p, size_t size, size_t nmemb,
			    void *ud);
static size_t		 on_header(char *p, size_t size, size_t nmemb,
			    void *ud);
static curl_socket_t	 on_open_socket(void *ud, curlsocktype purpose,
			    struct curl_sockaddr *addr);
static int		 on_progress(void *ud, curl_off_t, curl_off_t,
			    curl_off_t, curl_off_t);
static enum httpc_err	 map_curl(CURLcode rc);
static void		 set_error(struct httpc_resp *r, enum httpc_err e,
			    const char *msg);
static bool		 slot_take(const struct httpc_req *req,
			    struct slot *out);
static void		 slot_give(struct slot *s);
static size_t		 idle_expire(int64_t now_ms, CURL **drop);

static pthread_mutex_t	 idle_mu = PTHREAD_MUTEX_INITIALIZER;
static struct slot	 idle[HTTPC_IDLE_MAX];
static size_t		 n_idle;
/* After httpc_global_cleanup: a handle given back late (a thread that
 * outlived its drain) is freed, not kept. */
static bool		 closed;

bool
httpc_global_init(void)
{
	pthread_mutex_lock(&idle_mu);
	closed = false;
	pthread_mutex_unlock(&idle_mu);
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

void
httpc_global_cleanup(void)
{
	CURL	*drop[HTTPC_IDLE_MAX];
	size_t	 i, n;

	pthread_mutex_lock(&idle_mu);
	for (n = 0; n < n_idle; n++)
		drop[n] = idle[n].curl;
	n_idle = 0;
	closed = true;
	pthread_mutex_unlock(&idle_mu);
	for (i = 0; i < n; i++)
		curl_easy_cleanup(drop[i]);
	curl_global_cleanup();
}

/*
 * Moves the handles idle longer than HTTPC_CONN_MAXAGE_S (all at the
 * bottom: the stack is in the order they came back) to drop[]; returns
 * how many. Called with idle_mu held; the caller frees them after.
 */
static size_t
idle_expire(int64_t now_ms, CURL **drop)
{
	size_t	 n = 0;

	while (n < n_idle && now_ms - idle[n].idle_since_ms >=
	    HTTPC_CONN_MAXAGE_S * 1000)
		n++;
	for (size_t i = 0; i < n; i++)
		drop[i] = idle[i].curl;
	if (n > 0)
		memmove(&idle[0], &idle[n], (n_idle - n) * sizeof(idle[0]));
	n_idle -= n;
	return n;
}

/*
 * A handle for req (file top: whose policy it may have): the topmost
 * fitting idle one, else a new one. False only when libcurl cannot make
 * one.
 */
static bool
slot_take(const struct httpc_req *req, struct slot *out)
{
	CURL	*drop[HTTPC_IDLE_MAX];
	size_t	 i, n_drop;
	int64_t	 now = time_mono_ms();
	bool	 found = false;

	pthread_mutex_lock(&idle_mu);
	n_drop = idle_expire(now, drop);
	for (i = n_idle; i-- > 0;) {
		if (req->reuse && (idle[i].allow != req->allow_addr ||
		    idle[i].allow_ctx != req->addr_ctx))
			continue;
		*out = idle[i];
		memmove(&idle[i], &idle[i + 1], (n_idle - i - 1) *
		    sizeof(idle[0]));
		n_idle--;
		found = true;
		break;
	}
	pthread_mutex_unlock(&idle_mu);
	for (i = 0; i < n_drop; i++)
		curl_easy_cleanup(drop[i]);
	if (found)
		return true;
	memset(out, 0, sizeof(*out));
	/* A new handle has no connections yet: the first reusing transfer
	 * gives it its policy; a non-reusing one leaves it with none kept,
	 * which any policy may take. */
	if (req->reuse) {
		out->allow = req->allow_addr;
		out->allow_ctx = req->addr_ctx;
	}
	return (out->curl = curl_easy_init()) != NULL;
}

/* Gives s's handle back, reset (file top); the oldest goes when full. */
static void
slot_give(struct slot *s)
{
	CURL	*drop[HTTPC_IDLE_MAX + 1];
	size_t	 i, n_drop;
	int64_t	 now = time_mono_ms();

	curl_easy_reset(s->curl);
	/* The reset turned signals back on, and curl_easy_cleanup of a
	 * handle with them on calls sigaction(SIGPIPE) twice; with a
	 * thousand reply workers each call walks every thread under the
	 * process's signal lock (1.5% of the machine in the reply bench). */
	curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
	s->idle_since_ms = now;
	pthread_mutex_lock(&idle_mu);
	n_drop = idle_expire(now, drop);
	if (closed)
		drop[n_drop++] = s->curl;
	else {
		if (n_idle == HTTPC_IDLE_MAX) {
			drop[n_drop++] = idle[0].curl;
			memmove(&idle[0], &idle[1], (n_idle - 1) *
			    sizeof(idle[0]));
			n_idle--;
		}
		idle[n_idle++] = *s;
	}
	pthread_mutex_unlock(&idle_mu);
	for (i = 0; i < n_drop; i++)
		curl_easy_cleanup(drop[i]);
}

void
httpc_resp_init(struct httpc_resp *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, 0);
	buf_init(&r->headers, HTTPC_MAX_HEADERS);
}

void
httpc_resp_cleanup(struct httpc_resp *r)
{
	buf_cleanup(&r->body);
	buf_cleanup(&r->headers);
}

const char *
httpc_err_str(enum httpc_err e)
{
	switch (e) {
	case HTTPC_OK:
		return "ok";
	case HTTPC_TIMEOUT:
		return "timeout";
	case HTTPC_CONNECT:
		return "cannot connect";
	case HTTPC_TOO_LARGE:
		return "response too large";
	case HTTPC_ABORTED:
		return "aborted";
	case HTTPC_FAILED:
		return "transfer failed";
	case HTTPC_CANCELLED:
		return "cancelled";
	}
	return "unknown";
}

static size_t
on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer	*x = ud;
	size_t		 n = size * nmemb;
	long		 status = 0;

	if (n > x->max - x->resp->received) {
		x->too_large = true;
		return 0;
	}
	x->resp->received += n;
	if (x->mode < 0) {
		curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
		x->resp->status = status;
		x->mode = x->req->on_data != NULL && status >= 200 &&
		    status <= 299;
	}
	if (x->mode == 1) {
		if (!x->req->on_data(x->req->ctx, p, n)) {
			x->aborted = true;
			return 0;
		}
		return n;
	}
	buf_append(&x->resp->body, p, n);
	return n;
}

/* Keeps the header block of the last response (after 100 Continue). */
static size_t
on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer	*x = ud;
	size_t		 n = size * nmemb;

	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0)
		buf_reset(&x->resp->headers);
	buf_append(&x->resp->headers, p, n);
	if (x->resp->headers.err) {
		x->too_large = true;
		return 0;
	}
	return n;
}

/* The address guard: refuse before a socket exists. */
static curl_socket_t
on_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct xfer	*x = ud;

	(void)purpose;
	if (!x->req->allow_addr(x->req->addr_ctx, &addr->addr)) {
		cidr_addr_str(&addr->addr, x->refused, sizeof(x->refused));
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype, addr->protocol);
}

/* The caller's cancel check (httpc_req.cancelled): non-zero aborts. */
static int
on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer	*x = ud;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (x->req->cancelled(x->req->cancel_ctx)) {
		x->cancelled = true;
		return 1;
	}
	return 0;
}

static enum httpc_err
map_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return HTTPC_OK;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTPC_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return HTTPC_CONNECT;
	default:
		return HTTPC_FAILED;
	}
}

static void
set_error(struct httpc_resp *r, enum httpc_err e, const char *msg)
{
	size_t	 n;

	r->err = e;
	snprintf(r->error, sizeof(r->error), "%s", msg);
	/* curl's error buffer may end in a newline. */
	n = strlen(r->error);
	while (n > 0 && (r->error[n - 1] == '\n' || r->error[n - 1] == '\r'))
		r->error[--n] = '\0';
}

enum httpc_err
httpc_do(const struct httpc_req *req, struct httpc_resp *resp)
{
	struct slot		 slot;
	struct curl_slist	*hdrs = NULL, *tmp;
	struct xfer		 x;
	char			 ebuf[CURL_ERROR_SIZE];
	const char		*method;
	long			 status = 0;
	size_t			 i;
	CURLcode		 rc;
	CURL			*c;

	buf_reset(&resp->body);
	buf_reset(&resp->headers);
	resp->status = 0;
	resp->received = 0;
	resp->err = HTTPC_OK;
	resp->error[0] = '\0';

	/* A handle from the cache is reset already (slot_give). */
	if (!slot_take(req, &slot)) {
		set_error(resp, HTTPC_FAILED, "cannot create a curl handle");
		return resp->err;
	}
	c = slot.curl;

	memset(&x, 0, sizeof(x));
	x.req = req;
	x.resp = resp;
	x.curl = c;
	x.max = req->max_response ? req->max_response : HTTPC_MAX_RESPONSE;
	x.mode = -1;
	ebuf[0] = '\0';

	for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
		if ((tmp = curl_slist_append(hdrs, req->headers[i])) == NULL)
			goto oom;
		hdrs = tmp;
	}
	/* No "Expect: 100-continue" round trip for large bodies. */
	if ((tmp = curl_slist_append(hdrs, "Expect:")) == NULL)
		goto oom;
	hdrs = tmp;

	method = req->method;
	if (method == NULL)
		method = req->body != NULL ? "POST" : "GET";

	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(req->connect_timeout_ms > 0 ? req->connect_timeout_ms :
	    HTTPC_CONNECT_TIMEOUT_MS));
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
	    (long)(req->timeout_ms > 0 ? req->timeout_ms : HTTPC_TIMEOUT_MS));
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "parley");
	curl_easy_setopt(c, CURLOPT_MAXCONNECTS, (long)HTTPC_HANDLE_CONNS);
	curl_easy_setopt(c, CURLOPT_MAXAGE_CONN, (long)HTTPC_CONN_MAXAGE_S);
	if (!req->reuse) {
		/* Its own connection, closed after: never one libcurl would
		 * resend the request on (file top). */
		curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	}
	if (req->cancelled != NULL) {
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	}
	if (req->allow_addr != NULL) {
		curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
		curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &x);
	}
	if (strcmp(method, "GET") == 0)
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	else if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else {
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(req->body != NULL ? req->body_len : 0));
		curl_easy_setopt(c, CURLOPT_POSTFIELDS,
		    req->body != NULL ? req->body : "");
	}

	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	resp->status = status;
	if (x.too_large)
		set_error(resp, HTTPC_TOO_LARGE, "the response is larger than "
		    "the allowed maximum");
	else if (x.refused[0] != '\0') {
		char	 msg[160];

		snprintf(msg, sizeof(msg), "refused to connect to %s: a "
		    "private, loopback or reserved address", x.refused);
		set_error(resp, HTTPC_CONNECT, msg);
	} else if (x.cancelled)
		set_error(resp, HTTPC_CANCELLED, "the transfer was cancelled");
	else if (x.aborted)
		set_error(resp, HTTPC_ABORTED, "the transfer was aborted by "
		    "its reader");
	else if (rc != CURLE_OK)
		set_error(resp, map_curl(rc), ebuf[0] != '\0' ? ebuf :
		    curl_easy_strerror(rc));
	goto out;
oom:
	set_error(resp, HTTPC_FAILED, "out of memory building the request");
out:
	/* Reset there, so the handle keeps no pointer into this call (the
	 * header list, x, ebuf) before they go. */
	slot_give(&slot);
	/* Headers may carry credentials (Authorization): wipe our copies. */
	for (tmp = hdrs; tmp != NULL; tmp = tmp->next)
		explicit_bzero(tmp->data, strlen(tmp->data));
	curl_slist_free_all(hdrs);
	return resp->err;
}

bool
httpc_header(const struct httpc_resp *r, const char *name, char *out,
    size_t outlen)
{
	const char	*line, *end, *colon, *v, *ve;
	size_t		 nlen = strlen(name);
	bool		 found = false;

	if (outlen == 0)
		return false;
	for (line = buf_str(&r->headers); *line != '\0'; line = end) {
		if ((end = strchr(line, '\n')) == NULL)
			end = line + strlen(line);
		else
			end++;
		colon = memchr(line, ':', (size_t)(end - line));
		if (colon == NULL || (size_t)(colon - line) != nlen ||
		    strncasecmp(line, name, nlen) != 0)
			continue;
		for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = end; ve > v && (ve[-1] == '\n' || ve[-1] == '\r' ||
		    ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		if ((size_t)(ve - v) >= outlen) {
			found = false;
			continue;
		}
		memcpy(out, v, (size_t)(ve - v));
		out[ve - v] = '\0';
		found = true;
	}
	return found;
}
