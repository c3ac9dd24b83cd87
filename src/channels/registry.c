/*
 * registry: the channel kinds (channel_ops_for) and the one HTTP send
 * every provider goes through (channel_http_send, see sender.h).
 *
 * DESIGN. A provider file only builds its request (URL, auth header,
 * body) and says how to read its answers (struct channel_dialect). Timeouts,
 * the response cap and the mapping of statuses, codes and network
 * failures to SEND_OK / SEND_RETRY / SEND_FAILED live here, once, so the
 * four providers cannot drift apart.
 *
 * Error text is one sentence for the conversation review: a known code's
 * own sentence, else "<Provider> answered HTTP <status> (error <code>):
 * <provider's message>." with control characters removed. Nothing here
 * logs; request headers carry credentials and httpc wipes its copies.
 *
 * Thread-safety: no shared state; each call uses a fresh curl handle.
 */
#include "channels/channel.h"
#include "channels/sender.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/httpc.h"
#include "util/str.h"

#define RESPONSE_MAX		(1024u * 1024)
#define RETRY_AFTER_MAX_S	86400

static const struct channel_code *code_find(const struct channel_dialect *d,
		    const char *code);
static int	 retry_after_s(const struct httpc_resp *resp);
static void	 clean_copy(char *dst, size_t dstlen, const char *src);
static enum send_result classify_status(const struct channel_dialect *d,
		    const struct httpc_resp *resp, struct send_outcome *out);
static enum send_result classify_ok(const struct channel_dialect *d,
		    const struct channel_call *call,
		    const struct httpc_resp *resp, struct send_outcome *out);

static const struct channel_ops *const kinds[] = {
	&channel_twilio,
	&channel_meta,
	&channel_kapso,
	&channel_sandbox,
};

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

	httpc_resp_init(&resp);
	switch (httpc_do(NULL, &req, &resp)) {
	case HTTPC_OK:
		out->http_status = (int)resp.status;
		if (resp.status >= 200 && resp.status <= 299)
			st = classify_ok(d, call, &resp, out);
		else
			st = classify_status(d, &resp, out);
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
	root = cJSON_ParseWithLength(resp->body.data, resp->body.len);
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

/* A non-2xx answer: the provider's code and a sentence. */
static enum send_result
classify_status(const struct channel_dialect *d,
    const struct httpc_resp *resp, struct send_outcome *out)
{
	const struct channel_code	*known;
	cJSON				*root;
	char				 msg[300], clean[300];
	long				 status = resp->status;
	bool				 retry;

	msg[0] = '\0';
	if ((root = cJSON_ParseWithLength(resp->body.data,
	    resp->body.len)) != NULL)
		d->parse_error(root, out->error_code, sizeof(out->error_code),
		    msg, sizeof(msg));
	cJSON_Delete(root);
	clean_copy(clean, sizeof(clean), msg);

	known = code_find(d, out->error_code);
	retry = status == 408 || status == 429 || (status >= 500 &&
	    status <= 599) || (d->retry_status != 0 &&
	    status == d->retry_status) || (known != NULL && known->retry);
	if (retry)
		out->retry_after_s = retry_after_s(resp);

	if (known != NULL && known->sentence != NULL)
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
