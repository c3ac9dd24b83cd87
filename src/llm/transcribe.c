/*
 * transcribe: POST {base}/audio/transcriptions (see transcribe.h,
 * PROTOCOLS.md §5.3).
 *
 * DESIGN. util/httpc sends a body it is given; a multipart upload is
 * libcurl's curl_mime instead (it writes the boundary and part headers,
 * and copies the audio into the part), so this file drives its own easy
 * handle with httpc's rules: CURLOPT_NOSIGNAL, http/https only, no
 * redirects, connect and total timeouts, and a response-size cap in the
 * write callback. One call is a loop of attempts like llm/client.c's:
 * 5xx, 408, 429, timeouts and broken connections may be retried (with a
 * short backoff, or Retry-After capped); other 4xx and malformed answers
 * may not.
 *
 * Secrets. The key exists only in the Authorization header line, sized
 * once and wiped after the transfer (with curl's copy of the list). The
 * audio is never logged and never quoted in an error; errors quote
 * upstream's error.message with control characters removed and the key
 * (and its encodings) redacted (crypto/redact.h).
 *
 * Thread-safety: no shared state; each call owns its curl handle.
 */
#include "llm/transcribe.h"
#include "llm/upstream.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <sodium.h>

#include "util/json.h"
#include "util/log.h"
#include "crypto/redact.h"
#include "crypto/secret.h"
#include "model/orgmodel.h"
#include "model/provider.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/time.h"
#include "util/utf8.h"
#include "util/xmalloc.h"

#define TIMEOUT_DEFAULT_MS	60000
#define CONNECT_TIMEOUT_MS	10000
#define RETRIES_MAX		5
#define BACKOFF_BASE_MS		500
#define BACKOFF_MAX_MS		4000
#define RETRY_AFTER_MAX_MS	10000
#define RESPONSE_MAX		(1u * 1024 * 1024)
#define API_KEY_MAX		4096
#define DETAIL_MAX		300

/* One transfer's response, seen by the callbacks. */
struct xfer {
	struct buf	 body;
	struct buf	 headers;
	bool		 too_large;
};

/* The known audio types: provider content type → what is uploaded. */
static const struct {
	const char	*type;
	const char	*filename;
	const char	*mime;
} file_types[] = {
	{ "audio/ogg",		"voice.ogg",	"audio/ogg" },
	{ "audio/opus",		"voice.ogg",	"audio/ogg" },
	{ "application/ogg",	"voice.ogg",	"audio/ogg" },
	{ "audio/mpeg",		"voice.mp3",	"audio/mpeg" },
	{ "audio/mp3",		"voice.mp3",	"audio/mpeg" },
	{ "audio/mpga",		"voice.mp3",	"audio/mpeg" },
	{ "audio/mp4",		"voice.m4a",	"audio/mp4" },
	{ "audio/m4a",		"voice.m4a",	"audio/mp4" },
	{ "audio/x-m4a",	"voice.m4a",	"audio/mp4" },
	{ "audio/aac",		"voice.aac",	"audio/aac" },
	{ "audio/wav",		"voice.wav",	"audio/wav" },
	{ "audio/wave",		"voice.wav",	"audio/wav" },
	{ "audio/x-wav",	"voice.wav",	"audio/wav" },
	{ "audio/webm",		"voice.webm",	"audio/webm" },
	{ "audio/flac",		"voice.flac",	"audio/flac" },
	{ "audio/x-flac",	"voice.flac",	"audio/flac" },
	{ "audio/amr",		"voice.amr",	"audio/amr" },
	{ "video/mp4",		"voice.mp4",	"video/mp4" },
	{ "video/webm",		"voice.webm",	"video/webm" },
};

static size_t	 on_write(char *, size_t, size_t, void *);
static size_t	 on_header(char *, size_t, size_t, void *);
static void	 attempt(CURL *, const struct transcribe_req *,
		    const char *, struct curl_slist *,
		    struct transcribe_result *, bool *, int *);
static int	 retry_after_ms(const struct buf *);
static char	*clean_text(const char *);
static void	 set_error(struct transcribe_result *,
		    enum transcribe_err, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

const char *
transcribe_err_str(enum transcribe_err e)
{
	switch (e) {
	case TRANSCRIBE_OK:
		return "ok";
	case TRANSCRIBE_REFUSED:
		return "refused";
	case TRANSCRIBE_RETRY:
		return "retry";
	case TRANSCRIBE_BAD_RESPONSE:
		return "bad_response";
	}
	return "unknown";
}

enum db_status
transcribe_endpoint_get(struct db *db, const struct secret_key *k,
    int64_t org_id, int64_t model_id, struct transcribe_endpoint *out)
{
	struct arena		*a = arena_new();
	struct org_model	 m;
	enum db_status		 st;

	memset(out, 0, sizeof(*out));
	if (model_id != 0)
		st = orgmodel_get(db, a, org_id, model_id, &m);
	else
		st = orgmodel_get_default(db, a, org_id, &m);
	if (st != DB_OK)
		goto out;
	out->model_name = xstrdup(m.name);
	if (m.provider_id == 0) {
		out->is_builtin = true;
		goto out;
	}
	st = provider_get_endpoint(db, k, org_id, m.provider_id,
	    &out->base_url, &out->api_key);
out:
	arena_free(a);
	return st;
}

void
transcribe_endpoint_cleanup(struct transcribe_endpoint *ep)
{
	if (ep == NULL)
		return;
	if (ep->api_key != NULL)
		secret_plain_free(ep->api_key);
	free(ep->base_url);
	free(ep->model_name);
	memset(ep, 0, sizeof(*ep));
}

void
transcribe_result_cleanup(struct transcribe_result *r)
{
	if (r == NULL)
		return;
	free(r->text);
	r->text = NULL;
}

void
transcribe_file_for(const char *content_type, const char **filename,
    const char **mime)
{
	char	 base[64];
	size_t	 n = 0;

	*filename = file_types[0].filename;
	*mime = file_types[0].mime;
	if (content_type == NULL)
		return;
	while (*content_type == ' ' || *content_type == '\t')
		content_type++;
	for (; content_type[n] != '\0' && content_type[n] != ';' &&
	    content_type[n] != ' ' && n + 1 < sizeof(base); n++)
		base[n] = (char)tolower((unsigned char)content_type[n]);
	base[n] = '\0';
	for (size_t i = 0; i < sizeof(file_types) / sizeof(file_types[0]);
	    i++) {
		if (strcmp(base, file_types[i].type) == 0) {
			*filename = file_types[i].filename;
			*mime = file_types[i].mime;
			return;
		}
	}
}

static void
set_error(struct transcribe_result *out, enum transcribe_err err,
    const char *fmt, ...)
{
	va_list	 ap;

	out->err = err;
	va_start(ap, fmt);
	vsnprintf(out->error, sizeof(out->error), fmt, ap);
	va_end(ap);
}

enum transcribe_err
transcribe_judge(long status, const char *body, size_t len,
    const struct redact *rd, struct transcribe_result *out, bool *may_retry)
{
	char		 detail[DETAIL_MAX];
	cJSON		*root = NULL;
	const cJSON	*text;

	*may_retry = false;
	free(out->text);
	out->text = NULL;
	out->error[0] = '\0';
	out->err = TRANSCRIBE_OK;
	if (status < 200 || status > 299) {
		upstream_message(body, len, rd, detail, sizeof(detail));
		*may_retry = status == 408 || status == 429 ||
		    (status >= 500 && status <= 599);
		set_error(out, *may_retry ? TRANSCRIBE_RETRY :
		    TRANSCRIBE_REFUSED, "The transcription server %s (HTTP "
		    "%ld)%s%s", status == 401 || status == 403 ?
		    "refused the provider's API key" : *may_retry ?
		    "could not transcribe the voice note now" :
		    "refused the voice note", status,
		    detail[0] != '\0' ? ": " : ".", detail);
		goto out;
	}
	if (body == NULL || len == 0 ||
	    (root = json_parse(body, len, NULL)) == NULL) {
		set_error(out, TRANSCRIBE_BAD_RESPONSE, "The transcription "
		    "server's answer is not JSON.");
		goto out;
	}
	text = cJSON_GetObjectItemCaseSensitive(root, "text");
	if (!cJSON_IsString(text) || text->valuestring == NULL) {
		set_error(out, TRANSCRIBE_BAD_RESPONSE, "The transcription "
		    "server's answer has no \"text\".");
		goto out;
	}
	if (!utf8_valid(text->valuestring, strlen(text->valuestring))) {
		set_error(out, TRANSCRIBE_BAD_RESPONSE, "The transcription "
		    "server's text is not valid UTF-8.");
		goto out;
	}
	out->text = clean_text(text->valuestring);
out:
	cJSON_Delete(root);
	return out->err;
}

/*
 * The transcript without control characters other than tab and line
 * breaks, trimmed, cut at TRANSCRIBE_TEXT_MAX bytes on a character
 * boundary (malloc'd).
 */
static char *
clean_text(const char *s)
{
	struct buf	 b;
	size_t		 n, start = 0;
	char		*t;

	buf_init(&b, 0);
	buf_puts(&b, "");
	for (; *s != '\0' && b.len < TRANSCRIBE_TEXT_MAX; s++) {
		unsigned char	 c = (unsigned char)*s;

		if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') ||
		    c == 0x7f)
			continue;
		buf_putc(&b, *s);
	}
	t = buf_steal(&b, &n);
	/* Never end inside a UTF-8 sequence after a cut. */
	while (n > 0 && !utf8_valid(t, n))
		n--;
	while (n > 0 && isspace((unsigned char)t[n - 1]))
		n--;
	t[n] = '\0';
	while (isspace((unsigned char)t[start]))
		start++;
	if (start > 0)
		memmove(t, t + start, n - start + 1);
	return t;
}

enum transcribe_err
transcribe_audio(const struct transcribe_req *req,
    struct transcribe_result *out)
{
	struct curl_slist	*hdrs = NULL, *tmp;
	struct buf		 url;
	struct redact		 rd;
	CURL			*c = NULL;
	char			*auth = NULL;
	size_t			 blen, auth_len = 0;
	int64_t			 t0 = time_mono_ms();
	int			 retries, delay;
	bool			 may_retry;
	const char		*k;

	memset(out, 0, sizeof(*out));
	redact_init(&rd);
	redact_add(&rd, req->api_key);
	buf_init(&url, 4096);
	if (req->base_url == NULL || req->base_url[0] == '\0') {
		set_error(out, TRANSCRIBE_REFUSED, "The provider has no base "
		    "URL.");
		goto out;
	}
	if (req->model == NULL || req->model[0] == '\0' ||
	    str_has_ctl(req->model)) {
		set_error(out, TRANSCRIBE_REFUSED, "No usable transcription "
		    "model is set.");
		goto out;
	}
	if (req->data == NULL || req->len == 0) {
		set_error(out, TRANSCRIBE_REFUSED, "The voice note is empty.");
		goto out;
	}
	if (req->len > TRANSCRIBE_UPLOAD_MAX) {
		set_error(out, TRANSCRIBE_REFUSED, "The voice note is larger "
		    "than the %u MiB a transcription accepts.",
		    TRANSCRIBE_UPLOAD_MAX / (1024 * 1024));
		goto out;
	}
	blen = strlen(req->base_url);
	while (blen > 0 && req->base_url[blen - 1] == '/')
		blen--;
	buf_append(&url, req->base_url, blen);
	buf_puts(&url, "/audio/transcriptions");
	if (url.err) {
		set_error(out, TRANSCRIBE_REFUSED, "The provider's base URL is "
		    "too long.");
		goto out;
	}

	if ((tmp = curl_slist_append(hdrs, "Accept: application/json")) ==
	    NULL)
		goto oom;
	hdrs = tmp;
	/* No "Expect: 100-continue" round trip for the upload. */
	if ((tmp = curl_slist_append(hdrs, "Expect:")) == NULL)
		goto oom;
	hdrs = tmp;
	if ((k = req->api_key) != NULL && k[0] != '\0') {
		if (str_has_ctl(k) || strlen(k) > API_KEY_MAX) {
			set_error(out, TRANSCRIBE_REFUSED, "The provider's API "
			    "key cannot be sent in an HTTP header.");
			goto out;
		}
		/* Sized once, so no copy is left behind; wiped at out. */
		auth_len = sizeof("Authorization: Bearer ") + strlen(k);
		auth = xmalloc(auth_len);
		snprintf(auth, auth_len, "Authorization: Bearer %s", k);
		if ((tmp = curl_slist_append(hdrs, auth)) == NULL)
			goto oom;
		hdrs = tmp;
	}
	if ((c = curl_easy_init()) == NULL)
		goto oom;

	retries = req->max_retries < 0 ? 0 : req->max_retries > RETRIES_MAX ?
	    RETRIES_MAX : req->max_retries;
	for (;;) {
		out->attempts++;
		delay = 0;
		attempt(c, req, buf_str(&url), hdrs, out, &may_retry, &delay);
		if (out->err == TRANSCRIBE_OK || !may_retry ||
		    out->attempts > retries)
			break;
		if (delay <= 0)
			delay = upstream_backoff_ms(out->attempts,
			    BACKOFF_BASE_MS, BACKOFF_MAX_MS);
		log_info("llm", "msg=\"retrying transcription\" status=%d "
		    "attempt=%d delay_ms=%d", out->http_status, out->attempts,
		    delay);
		upstream_sleep_ms(delay);
	}
	if (out->err != TRANSCRIBE_OK && out->attempts > 1) {
		size_t	 m = strlen(out->error);

		snprintf(out->error + m, sizeof(out->error) - m, " (%d "
		    "attempts)", out->attempts);
	}
	goto out;
oom:
	set_error(out, TRANSCRIBE_RETRY, "Out of memory building the "
	    "transcription request.");
out:
	if (c != NULL)
		curl_easy_cleanup(c);
	for (tmp = hdrs; tmp != NULL; tmp = tmp->next)
		sodium_memzero(tmp->data, strlen(tmp->data));
	curl_slist_free_all(hdrs);
	if (auth != NULL) {
		sodium_memzero(auth, auth_len);
		free(auth);
	}
	buf_cleanup(&url);
	/* Transfer errors too: nothing upstream said keeps the key. */
	redact_buf(&rd, out->error, sizeof(out->error));
	out->latency_ms = time_mono_ms() - t0;
	return out->err;
}

static size_t
on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer	*x = ud;
	size_t		 n = size * nmemb;

	if (n > RESPONSE_MAX - x->body.len) {
		x->too_large = true;
		return 0;
	}
	buf_append(&x->body, p, n);
	return n;
}

/* Keeps the last response's header block (for Retry-After). */
static size_t
on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer	*x = ud;
	size_t		 n = size * nmemb;

	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0)
		buf_reset(&x->headers);
	buf_append(&x->headers, p, n);
	return n;
}

/*
 * One upload on handle c and its verdict in out; *may_retry and
 * *delay_ms (Retry-After, 0: none) for the loop.
 */
static void
attempt(CURL *c, const struct transcribe_req *req, const char *url,
    struct curl_slist *hdrs, struct transcribe_result *out, bool *may_retry,
    int *delay_ms)
{
	struct xfer	 x;
	struct redact	 rd;
	curl_mime	*mime = NULL;
	curl_mimepart	*part;
	char		 ebuf[CURL_ERROR_SIZE], detail[DETAIL_MAX];
	const char	*filename, *mime_type;
	long		 status = 0, timeout_ms;
	CURLcode	 rc;

	redact_init(&rd);
	redact_add(&rd, req->api_key);
	memset(&x, 0, sizeof(x));
	buf_init(&x.body, 0);
	buf_init(&x.headers, 64 * 1024);
	ebuf[0] = '\0';
	*may_retry = false;
	*delay_ms = 0;
	transcribe_file_for(req->content_type, &filename, &mime_type);
	timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : TIMEOUT_DEFAULT_MS;

	curl_easy_reset(c);
	if ((mime = curl_mime_init(c)) == NULL)
		goto oom;
	if ((part = curl_mime_addpart(mime)) == NULL ||
	    curl_mime_name(part, "file") != CURLE_OK ||
	    curl_mime_data(part, (const char *)req->data, req->len) !=
	    CURLE_OK ||
	    curl_mime_filename(part, filename) != CURLE_OK ||
	    curl_mime_type(part, mime_type) != CURLE_OK)
		goto oom;
	if ((part = curl_mime_addpart(mime)) == NULL ||
	    curl_mime_name(part, "model") != CURLE_OK ||
	    curl_mime_data(part, req->model, CURL_ZERO_TERMINATED) !=
	    CURLE_OK)
		goto oom;
	if ((part = curl_mime_addpart(mime)) == NULL ||
	    curl_mime_name(part, "response_format") != CURLE_OK ||
	    curl_mime_data(part, "json", CURL_ZERO_TERMINATED) != CURLE_OK)
		goto oom;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    timeout_ms < CONNECT_TIMEOUT_MS ? timeout_ms :
	    (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "parley");

	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	out->http_status = (int)status;
	if (x.too_large) {
		set_error(out, TRANSCRIBE_BAD_RESPONSE, "The transcription "
		    "server's answer is larger than %u KiB.",
		    RESPONSE_MAX / 1024);
		goto out;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		set_error(out, TRANSCRIBE_RETRY, "The transcription server did "
		    "not answer within %ld ms.", timeout_ms);
		*may_retry = true;
		goto out;
	}
	if (rc != CURLE_OK) {
		upstream_clean_copy(detail, sizeof(detail), ebuf[0] != '\0' ? ebuf :
		    curl_easy_strerror(rc));
		set_error(out, TRANSCRIBE_RETRY, "Cannot reach the "
		    "transcription server: %s.", detail);
		/* A refused connection will be refused again at once. */
		*may_retry = rc != CURLE_COULDNT_CONNECT &&
		    rc != CURLE_COULDNT_RESOLVE_HOST &&
		    rc != CURLE_UNSUPPORTED_PROTOCOL &&
		    rc != CURLE_URL_MALFORMAT;
		goto out;
	}
	transcribe_judge(status, x.body.data, x.body.len, &rd, out,
	    may_retry);
	if (*may_retry)
		*delay_ms = retry_after_ms(&x.headers);
	goto out;
oom:
	set_error(out, TRANSCRIBE_RETRY, "Out of memory building the "
	    "transcription request.");
out:
	/* The handle must not keep pointers into this call. */
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_MIMEPOST, NULL);
	curl_mime_free(mime);
	buf_cleanup(&x.body);
	buf_cleanup(&x.headers);
}

/* Retry-After in seconds or retry-after-ms, capped; 0 when absent. */
static int
retry_after_ms(const struct buf *headers)
{
	const char	*line, *end;
	char		 v[64];
	size_t		 n, k;
	int		 ms;

	for (line = buf_str(headers); *line != '\0'; line = end) {
		bool	 is_ms;

		if ((end = strchr(line, '\n')) == NULL)
			end = line + strlen(line);
		else
			end++;
		if (strncasecmp(line, "retry-after-ms:", 15) == 0)
			is_ms = true;
		else if (strncasecmp(line, "retry-after:", 12) == 0)
			is_ms = false;
		else
			continue;
		k = (size_t)(strchr(line, ':') + 1 - line);
		n = (size_t)(end - line) - k;
		if (n >= sizeof(v))
			continue;
		memcpy(v, line + k, n);
		v[n] = '\0';
		if ((ms = upstream_retry_after_ms(v, is_ms,
		    RETRY_AFTER_MAX_MS)) > 0)
			return ms;
	}
	return 0;
}




