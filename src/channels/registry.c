/*
 * registry: the channel kinds (channel_ops_for), the one HTTP send every
 * provider goes through (channel_http_send, see sender.h) and the one
 * download (channel_http_get, for fetch_media).
 *
 * DESIGN. A provider file only builds its request (URL, auth header,
 * body) and says how to read its answers (struct channel_dialect). Timeouts,
 * the response cap and the mapping of statuses, codes and network
 * failures to SEND_OK / SEND_RETRY / SEND_FAILED live here, once, so the
 * four providers cannot drift apart.
 *
 * Error text is one sentence for the conversation review: a known code's
 * own sentence, else "<Provider> answered HTTP <status> (error <code>):
 * <provider's message>." with control characters removed. Every secret of
 * the channel (credentials, Basic pair, webhook secrets) is redacted from
 * the provider's message before it is cut to size, and from the finished
 * outcome (text, code, id) on the way out of channel_http_send and
 * channel_http_get, the two doors provider text comes in by (redact()).
 * Nothing here logs; request headers carry credentials and httpc wipes
 * its copies.
 *
 * Downloads follow redirects here, not in libcurl: each hop is a new
 * request that carries none of the first request's headers, so Basic
 * auth, a bearer or an API key is only ever sent to the URL the provider
 * file chose (libcurl would resend them to the same host, and Twilio's
 * storage URLs reject a request that has them). The body limit is
 * httpc's response cap, checked as bytes arrive.
 *
 * Connections (util/httpc.h). A send (a message, a reaction, a template,
 * an upload) has a connection of its own, opened and closed by it: on a
 * kept connection that turns out dead libcurl would send it again, and
 * the customer could get it twice. Only what nobody notices twice rides a
 * kept connection: typing indicators and read receipts (channel_call
 * .reuse, enum channel_post_kind) and every download (GETs).
 *
 * Thread-safety: no shared state here; httpc's handle cache is
 * thread-safe.
 */
#include "channels/channel.h"
#include "channels/sender.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "crypto/redact.h"
#include "crypto/secret.h"
#include "util/httpc.h"
#include "util/json.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define RESPONSE_MAX		(1024u * 1024)
#define RETRY_AFTER_MAX_S	86400
#define LOCATION_MAX		4096
#define PROVIDER_MSG_MAX	4096	/* a provider's message, before cut */

static const struct channel_code *code_find(const struct channel_dialect *d,
		    const char *code);
static int	 retry_after_s(const struct httpc_resp *resp);
static void	 clean_copy(char *dst, size_t dstlen, const char *src);
static enum send_result classify_status(const struct channel_dialect *d,
		    const struct channel_creds *c,
		    const struct httpc_resp *resp, bool is_send,
		    struct send_outcome *out);
static void	 creds_redact(const struct channel_creds *c,
		    struct redact *rd);
static enum send_result redact(const struct channel_creds *c,
		    struct send_outcome *out, enum send_result st);
static enum send_result get_failed(const struct channel_dialect *d,
		    enum httpc_err e, const struct httpc_resp *resp,
		    size_t max_bytes, int timeout_ms,
		    struct send_outcome *out);
static bool	 is_redirect(long status);
static char	*resolve(const char *base, const char *location);
static enum send_result classify_ok(const struct channel_dialect *d,
		    const struct channel_call *call,
		    const struct httpc_resp *resp, struct send_outcome *out);

static void	 kinds_literal(char *out, size_t len, bool window);
static void	 lits_init(void);

static const struct channel_ops *const kinds[] = {
	&channel_twilio,
	&channel_meta,
	&channel_kapso,
	&channel_sandbox,
};

bool
channel_code_final(const char *kind, const char *code,
    const char **sentence)
{
	const struct channel_ops	*ops = channel_ops_for(kind);
	const struct channel_code	*known;

	if (sentence != NULL)
		*sentence = NULL;
	if (ops == NULL || ops->dialect == NULL || code == NULL ||
	    code[0] == '\0' || (known = code_find(ops->dialect, code)) ==
	    NULL || !known->final)
		return false;
	if (sentence != NULL)
		*sentence = known->sentence;
	return true;
}

bool
channel_code_window(const char *kind, const char *code)
{
	const struct channel_ops	*ops = channel_ops_for(kind);
	const struct channel_code	*known;

	return ops != NULL && ops->dialect != NULL && code != NULL &&
	    code[0] != '\0' && (known = code_find(ops->dialect, code)) !=
	    NULL && known->window;
}

/* "{a,b}" of the kinds whose ops say so; built once per call site. */
static void
kinds_literal(char *out, size_t len, bool window)
{
	size_t	 n = 0;

	n += (size_t)snprintf(out + n, len - n, "{");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (window ? !kinds[i]->has_window :
		    kinds[i]->list_templates == NULL)
			continue;
		n += (size_t)snprintf(out + n, len - n, "%s%s",
		    n > 1 ? "," : "", kinds[i]->kind);
	}
	snprintf(out + n, len - n, "}");
}

/* Written once (pthread_once), read-only after: the kinds never change. */
static char		 window_lit[128];
static char		 template_lit[128];
static pthread_once_t	 lits_once = PTHREAD_ONCE_INIT;

static void
lits_init(void)
{
	kinds_literal(window_lit, sizeof(window_lit), true);
	kinds_literal(template_lit, sizeof(template_lit), false);
}

const char *
channel_window_kinds(void)
{
	(void)pthread_once(&lits_once, lits_init);
	return window_lit;
}

const char *
channel_template_kinds(void)
{
	(void)pthread_once(&lits_once, lits_init);
	return template_lit;
}

bool
channel_code_retry(const char *kind, const char *code)
{
	const struct channel_ops	*ops = channel_ops_for(kind);
	const struct channel_code	*known;

	if (ops == NULL || ops->dialect == NULL || code == NULL ||
	    code[0] == '\0' || (known = code_find(ops->dialect, code)) ==
	    NULL)
		return false;
	return known->retry;
}

/* The copy's strings, in the order channel_creds_dup lays them out. */
#define CREDS_FIELDS(c) { &(c)->kind, &(c)->api_base, &(c)->api_base2, \
	&(c)->phone_number, &(c)->phone_number_id, &(c)->account_sid, \
	&(c)->auth_token, &(c)->access_token, &(c)->api_key, \
	&(c)->app_secret, &(c)->verify_token, &(c)->webhook_secret, \
	&(c)->status_callback }

struct channel_creds *
channel_creds_dup(const struct channel_creds *c)
{
	struct channel_creds	 tmp = *c, *out;
	const char		**src[] = CREDS_FIELDS(&tmp);
	size_t			 n = sizeof(*out), nf = sizeof(src) /
				    sizeof(src[0]);
	char			*p;

	for (size_t i = 0; i < nf; i++)
		if (*src[i] != NULL)
			n += strlen(*src[i]) + 1;
	/* A size that is a multiple of 16 keeps the struct at the start of
	 * a block placed against a guard page aligned. */
	n = (n + 15) & ~(size_t)15;
	out = secret_mem_alloc(n);
	*out = *c;
	p = (char *)(out + 1);
	{
		const char	**dst[] = CREDS_FIELDS(out);

		for (size_t i = 0; i < nf; i++) {
			size_t	 len;

			if (*src[i] == NULL)
				continue;
			len = strlen(*src[i]) + 1;
			memcpy(p, *src[i], len);
			*dst[i] = p;
			p += len;
		}
	}
	return out;
}

void
channel_creds_free(struct channel_creds *c)
{
	secret_mem_free(c);
}

const struct channel_ops *
channel_ops_for(const char *kind)
{
	size_t	 i;

	if (kind == NULL)
		return NULL;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i]->kind, kind) == 0)
			return kinds[i];
	return NULL;
}

enum send_result
channel_refuse(struct send_outcome *out, const char *fmt, ...)
{
	va_list	 ap;

	memset(out, 0, sizeof(*out));
	va_start(ap, fmt);
	vsnprintf(out->error_text, sizeof(out->error_text), fmt, ap);
	va_end(ap);
	return SEND_FAILED;
}

bool
channel_field_ok(const char *s)
{
	return s != NULL && s[0] != '\0' && !str_has_ctl(s);
}

void
channel_url_base(struct buf *b, const char *base, const char *dflt)
{
	size_t	 n;

	if (base == NULL || base[0] == '\0')
		base = dflt;
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	buf_append(b, base, n);
}

enum send_result
channel_http_send(const struct channel_dialect *d,
    const struct channel_creds *c, const struct channel_call *call,
    struct send_outcome *out)
{
	struct httpc_req	 req;
	struct httpc_resp	 resp;
	enum send_result	 st;
	int			 timeout_ms;

	memset(out, 0, sizeof(*out));
	timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : CHANNEL_TIMEOUT_MS;
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = call->url;
	req.headers = call->headers;
	req.body = call->body;
	req.body_len = call->body_len;
	req.timeout_ms = timeout_ms;
	req.connect_timeout_ms = timeout_ms < CHANNEL_CONNECT_TIMEOUT_MS ?
	    timeout_ms : CHANNEL_CONNECT_TIMEOUT_MS;
	req.max_response = RESPONSE_MAX;
	req.reuse = call->reuse;

	httpc_resp_init(&resp);
	switch (httpc_do(&req, &resp)) {
	case HTTPC_OK:
		out->http_status = (int)resp.status;
		if (resp.status >= 200 && resp.status <= 299)
			st = classify_ok(d, call, &resp, out);
		else
			st = classify_status(d, c, &resp, true, out);
		break;
	case HTTPC_TIMEOUT:
		out->http_status = (int)resp.status;
		snprintf(out->error_text, sizeof(out->error_text), "%s did "
		    "not answer within %d ms; the message may be sent again.",
		    d->name, timeout_ms);
		st = SEND_RETRY;
		break;
	case HTTPC_TOO_LARGE:
		/* Accepted or not, we cannot tell: trying again is safer
		 * than losing the reply. */
		out->http_status = (int)resp.status;
		snprintf(out->error_text, sizeof(out->error_text), "%s "
		    "answered with more than %u bytes.", d->name,
		    RESPONSE_MAX);
		st = SEND_RETRY;
		break;
	default:
		out->http_status = (int)resp.status;
		snprintf(out->error_text, sizeof(out->error_text), "%s could "
		    "not be reached: %s.", d->name, resp.error);
		st = SEND_RETRY;
		break;
	}
	httpc_resp_cleanup(&resp);
	return redact(c, out, st);
}

/* The channel's secrets: everything a provider could echo back. */
static void
creds_redact(const struct channel_creds *c, struct redact *rd)
{
	redact_init(rd);
	redact_add_basic(rd, c->account_sid, c->auth_token);
	redact_add(rd, c->access_token);
	redact_add(rd, c->api_key);
	redact_add(rd, c->app_secret);
	redact_add(rd, c->verify_token);
	redact_add(rd, c->webhook_secret);
}

/* The outcome with the channel's secrets taken out; returns st. */
static enum send_result
redact(const struct channel_creds *c, struct send_outcome *out,
    enum send_result st)
{
	struct redact	 rd;

	creds_redact(c, &rd);
	redact_buf(&rd, out->error_text, sizeof(out->error_text));
	redact_buf(&rd, out->error_code, sizeof(out->error_code));
	redact_buf(&rd, out->provider_message_id,
	    sizeof(out->provider_message_id));
	return st;
}

/* A 2xx: the id when one is expected. */
static enum send_result
classify_ok(const struct channel_dialect *d, const struct channel_call *call,
    const struct httpc_resp *resp, struct send_outcome *out)
{
	cJSON	*root;
	bool	 ok;

	if (!call->want_id)
		return SEND_OK;
	root = json_parse(resp->body.data, resp->body.len, NULL);
	ok = root != NULL && d->parse_id(root, out->provider_message_id,
	    sizeof(out->provider_message_id));
	cJSON_Delete(root);
	if (ok)
		return SEND_OK;
	out->provider_message_id[0] = '\0';
	snprintf(out->error_text, sizeof(out->error_text), "%s answered HTTP "
	    "%ld but there is no message id in the answer.", d->name,
	    resp->status);
	return SEND_FAILED;
}

/*
 * A non-2xx answer: the provider's code and a sentence. A known code's
 * sentence speaks of a message being sent again, so a download (is_send
 * false) uses it only for the codes that will not change.
 */
static enum send_result
classify_status(const struct channel_dialect *d,
    const struct channel_creds *c, const struct httpc_resp *resp,
    bool is_send, struct send_outcome *out)
{
	const struct channel_code	*known;
	struct redact			 rd;
	cJSON				*root;
	char				 msg[PROVIDER_MSG_MAX], clean[300];
	long				 status = resp->status;
	bool				 retry;

	msg[0] = '\0';
	if ((root = json_parse(resp->body.data,
	    resp->body.len, NULL)) != NULL)
		d->parse_error(root, out->error_code, sizeof(out->error_code),
		    msg, sizeof(msg));
	cJSON_Delete(root);
	/* Before the cut to clean[]: no half of a secret may survive it. */
	creds_redact(c, &rd);
	redact_buf(&rd, msg, sizeof(msg));
	redact_buf(&rd, out->error_code, sizeof(out->error_code));
	clean_copy(clean, sizeof(clean), msg);

	known = code_find(d, out->error_code);
	retry = status == 408 || status == 429 || (status >= 500 &&
	    status <= 599) || (d->retry_status != 0 &&
	    status == d->retry_status) || (known != NULL && known->retry);
	if (retry)
		out->retry_after_s = retry_after_s(resp);

	if (known != NULL && known->sentence != NULL &&
	    (is_send || !known->retry))
		snprintf(out->error_text, sizeof(out->error_text), "%s",
		    known->sentence);
	else if (out->error_code[0] != '\0' && clean[0] != '\0')
		snprintf(out->error_text, sizeof(out->error_text), "%s "
		    "answered HTTP %ld (error %s): %s", d->name, status,
		    out->error_code, clean);
	else if (clean[0] != '\0')
		snprintf(out->error_text, sizeof(out->error_text), "%s "
		    "answered HTTP %ld: %s", d->name, status, clean);
	else
		snprintf(out->error_text, sizeof(out->error_text), "%s "
		    "answered HTTP %ld%s%s.", d->name, status,
		    out->error_code[0] != '\0' ? " with error " : "",
		    out->error_code);
	return retry ? SEND_RETRY : SEND_FAILED;
}

/* --- downloads --------------------------------------------------------- */

enum send_result
channel_http_get(const struct channel_dialect *d,
    const struct channel_creds *c, const struct channel_fetch *f,
    struct buf *body, char *ctype, size_t ctlen, struct send_outcome *out)
{
	struct httpc_req	 req;
	struct httpc_resp	 resp;
	struct buf		 tmp;
	enum send_result	 st;
	enum httpc_err		 e;
	char			 v[LOCATION_MAX], *url, *next;
	int			 timeout_ms, hops = 0;

	memset(out, 0, sizeof(*out));
	buf_reset(body);
	if (ctlen > 0)
		ctype[0] = '\0';
	timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : CHANNEL_TIMEOUT_MS;
	url = xstrdup(f->url);
	httpc_resp_init(&resp);
	for (;;) {
		memset(&req, 0, sizeof(req));
		req.method = "GET";
		req.url = url;
		req.headers = hops == 0 ? f->headers : NULL;
		req.timeout_ms = timeout_ms;
		req.connect_timeout_ms = timeout_ms <
		    CHANNEL_CONNECT_TIMEOUT_MS ? timeout_ms :
		    CHANNEL_CONNECT_TIMEOUT_MS;
		req.max_response = f->max_bytes > 0 ? f->max_bytes :
		    RESPONSE_MAX;
		req.reuse = true;	/* a GET: a repeat changes nothing */
		if ((e = httpc_do(&req, &resp)) != HTTPC_OK) {
			st = get_failed(d, e, &resp, req.max_response,
			    timeout_ms, out);
			goto out;
		}
		out->http_status = (int)resp.status;
		if (!is_redirect(resp.status))
			break;
		if (hops >= f->max_redirects) {
			st = channel_refuse(out, "%s redirected the download "
			    "%s.", d->name, f->max_redirects > 0 ?
			    "too many times" : "unexpectedly");
			out->http_status = (int)resp.status;
			goto out;
		}
		if (!httpc_header(&resp, "location", v, sizeof(v)) ||
		    (next = resolve(url, v)) == NULL) {
			st = channel_refuse(out, "%s answered HTTP %ld without "
			    "a usable Location.", d->name, resp.status);
			out->http_status = (int)resp.status;
			goto out;
		}
		free(url);
		url = next;
		hops++;
	}
	if (resp.status < 200 || resp.status > 299) {
		st = classify_status(d, c, &resp, false, out);
		goto out;
	}
	if (httpc_header(&resp, "content-type", v, sizeof(v)))
		channel_media_type(v, ctype, ctlen);
	/* The bytes change hands; body's old (empty) buffer is freed. */
	tmp = *body;
	*body = resp.body;
	resp.body = tmp;
	st = SEND_OK;
out:
	httpc_resp_cleanup(&resp);
	free(url);
	return redact(c, out, st);
}

/* A transfer that did not complete: too large, timeout or network. */
static enum send_result
get_failed(const struct channel_dialect *d, enum httpc_err e,
    const struct httpc_resp *resp, size_t max_bytes, int timeout_ms,
    struct send_outcome *out)
{
	out->http_status = (int)resp->status;
	switch (e) {
	case HTTPC_TOO_LARGE:
		/* An error answer that long says nothing readable. */
		if (resp->status >= 300) {
			snprintf(out->error_text, sizeof(out->error_text),
			    "%s answered HTTP %ld.", d->name, resp->status);
			return resp->status == 429 || resp->status >= 500 ?
			    SEND_RETRY : SEND_FAILED;
		}
		(void)channel_refuse_size(out, max_bytes);
		out->http_status = (int)resp->status;
		return SEND_FAILED;
	case HTTPC_TIMEOUT:
		snprintf(out->error_text, sizeof(out->error_text), "%s did "
		    "not answer within %d ms.", d->name, timeout_ms);
		return SEND_RETRY;
	default:
		snprintf(out->error_text, sizeof(out->error_text), "%s could "
		    "not be reached: %s.", d->name, resp->error);
		return SEND_RETRY;
	}
}

static bool
is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 ||
	    status == 307 || status == 308;
}

/* location resolved against base (malloc'd), NULL unless http(s). */
static char *
resolve(const char *base, const char *location)
{
	CURLU	*h;
	char	*u = NULL, *out = NULL;

	if ((h = curl_url()) == NULL)
		return NULL;
	if (curl_url_set(h, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(h, CURLUPART_URL, location, 0) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_URL, &u, 0) == CURLUE_OK &&
	    (str_starts_with(u, "https://") || str_starts_with(u, "http://")) &&
	    !str_has_ctl(u))
		out = xstrdup(u);
	curl_free(u);
	curl_url_cleanup(h);
	return out;
}

bool
channel_url_under(const char *url, const char *base)
{
	size_t	 n;

	if (url == NULL || base == NULL)
		return false;
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	if (n == 0 || strncmp(url, base, n) != 0)
		return false;
	return url[n] == '\0' || url[n] == '/' || url[n] == '?';
}

bool
channel_url_same_origin(const char *url, const char *base)
{
	const char	*p;
	char		 origin[512];
	size_t		 n;

	if (url == NULL || base == NULL || (p = strstr(base, "://")) == NULL)
		return false;
	p += 3;
	n = (size_t)(p - base) + strcspn(p, "/?#");
	if (n >= sizeof(origin))
		return false;
	memcpy(origin, base, n);
	origin[n] = '\0';
	return channel_url_under(url, origin);
}

void
channel_media_type(const char *value, char *out, size_t outlen)
{
	size_t	 n = 0, slashes = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	while (*value == ' ' || *value == '\t')
		value++;
	for (; *value != '\0' && *value != ';' && *value != ' ' &&
	    *value != '\t'; value++) {
		char	 ch = *value;

		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (ch == '/')
			slashes++;
		else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' &&
		    ch <= '9') || strchr("!#$&^_.+-", ch) != NULL))
			goto bad;
		if (n + 1 >= outlen)
			goto bad;
		out[n++] = ch;
	}
	out[n] = '\0';
	if (slashes != 1 || out[0] == '/' || out[n - 1] == '/')
		goto bad;
	return;
bad:
	out[0] = '\0';
}

enum send_result
channel_refuse_size(struct send_outcome *out, size_t max_bytes)
{
	const size_t	 kib = 1024, mib = 1024 * 1024;

	if (max_bytes >= mib && max_bytes % mib == 0)
		return channel_refuse(out, "The media item is larger than %zu "
		    "MiB, the most Parley downloads (PARLEY_MEDIA_MAX_BYTES).",
		    max_bytes / mib);
	if (max_bytes >= kib && max_bytes % kib == 0)
		return channel_refuse(out, "The media item is larger than %zu "
		    "KiB, the most Parley downloads (PARLEY_MEDIA_MAX_BYTES).",
		    max_bytes / kib);
	return channel_refuse(out, "The media item is larger than %zu bytes, "
	    "the most Parley downloads (PARLEY_MEDIA_MAX_BYTES).", max_bytes);
}

static const struct channel_code *
code_find(const struct channel_dialect *d, const char *code)
{
	const struct channel_code	*k;

	if (code[0] == '\0')
		return NULL;
	for (k = d->codes; k->code != NULL; k++)
		if (strcmp(k->code, code) == 0)
			return k;
	return NULL;
}

/* Retry-After in seconds (an HTTP date is ignored), capped; 0: none. */
static int
retry_after_s(const struct httpc_resp *resp)
{
	char	 v[64], *end;
	long	 s;

	if (!httpc_header(resp, "retry-after", v, sizeof(v)))
		return 0;
	errno = 0;
	s = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || s < 0)
		return 0;
	return s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : (int)s;
}

/*
 * Copies a provider's message with control characters as spaces, cut at
 * a UTF-8 boundary when too long.
 */
static void
clean_copy(char *dst, size_t dstlen, const char *src)
{
	size_t	 i, n = 0;

	for (i = 0; src[i] != '\0' && n + 1 < dstlen; i++) {
		unsigned char	 ch = (unsigned char)src[i];

		dst[n++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
	}
	/* Cut inside a sequence: drop its continuation and lead bytes. */
	if (((unsigned char)src[i] & 0xC0) == 0x80) {
		while (n > 0 && ((unsigned char)dst[n - 1] & 0xC0) == 0x80)
			n--;
		if (n > 0)
			n--;
	}
	dst[n] = '\0';
}
