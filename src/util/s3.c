/*
 * s3: see s3.h. Requests are signed by libcurl (CURLOPT_AWS_SIGV4);
 * presigned URLs follow AWS's "Authenticating Requests: Using Query
 * Parameters" (docs/media-out.md §3) with libsodium's SHA-256 and
 * HMAC-SHA-256.
 */
#include "util/s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "util/str.h"
#include "util/url.h"
#include "util/xmalloc.h"

#define CONNECT_TIMEOUT_MS	10000
#define BASE_TIMEOUT_MS		30000
#define MS_PER_MIB		1000	/* added to the timeout per MiB */
#define ERROR_BODY_MAX		4096
#define HOST_MAX		256

/* The endpoint taken apart. */
struct endpoint {
	char	 scheme[8];		/* http | https */
	char	 host[HOST_MAX];	/* as written, [v6] with brackets */
	char	 port[8];		/* "" when absent or the default */
};

/* Where a response body goes: a GET's 2xx body to out (at most max
 * bytes), any other to err (at most ERROR_BODY_MAX, for its <Code>). */
struct sink {
	CURL		*h;
	struct buf	*out;
	struct buf	*err;
	size_t		 max;
	size_t		 got;
	int		 to_out;	/* -1: not decided yet */
	bool		 too_large;
};

static bool	 endpoint_parse(const char *, struct endpoint *);
static bool	 bucket_ok(const char *);
static void	 object_base(const struct s3_config *,
		    const struct endpoint *, struct buf *, struct buf *);
static size_t	 on_write(char *, size_t, size_t, void *);
static enum s3_result perform(const struct s3_config *, const char *,
		    const char *, const char *, const void *, size_t, size_t,
		    struct buf *, char *, size_t);
static void	 hmac(unsigned char[32], const void *, size_t, const char *);
static int	 param_cmp(const void *, const void *);

/* --- names ------------------------------------------------------------- */

bool
s3_key_ok(const char *key)
{
	size_t	 n, seg = 0;

	if (key == NULL || (n = strlen(key)) == 0 || n > S3_KEY_MAX ||
	    key[0] == '/')
		return false;
	for (size_t i = 0; i <= n; i++) {
		char	 c = key[i];

		if (c == '/' || c == '\0') {
			if (seg == 0 && c == '/')
				return false;	/* "a//b" */
			if ((seg == 1 && key[i - 1] == '.') || (seg == 2 &&
			    key[i - 1] == '.' && key[i - 2] == '.'))
				return false;
			seg = 0;
			continue;
		}
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~'))
			return false;
		seg++;
	}
	return key[n - 1] != '/';
}

/* http(s)://host[:port] with nothing after; default ports dropped. */
static bool
endpoint_parse(const char *url, struct endpoint *e)
{
	const char	*rest, *colon, *end;
	size_t		 hlen;
	int64_t		 port;

	memset(e, 0, sizeof(*e));
	if (url == NULL)
		return false;
	if (str_starts_with(url, "https://")) {
		snprintf(e->scheme, sizeof(e->scheme), "https");
		rest = url + 8;
	} else if (str_starts_with(url, "http://")) {
		snprintf(e->scheme, sizeof(e->scheme), "http");
		rest = url + 7;
	} else
		return false;
	end = rest + strlen(rest);
	if (rest[0] == '[') {
		const char	*rb = strchr(rest, ']');

		if (rb == NULL)
			return false;
		colon = rb[1] == ':' ? rb + 1 : NULL;
		if (rb[1] != '\0' && colon == NULL)
			return false;
	} else
		colon = strchr(rest, ':');
	hlen = (size_t)((colon != NULL ? colon : end) - rest);
	if (hlen == 0 || hlen >= sizeof(e->host))
		return false;
	memcpy(e->host, rest, hlen);
	for (size_t i = 0; i < hlen; i++) {
		char	 c = e->host[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '[' || c == ']' || (c == ':' && rest[0] == '[')))
			return false;
	}
	if (colon != NULL) {
		if (!str_to_i64(colon + 1, &port) || port < 1 || port > 65535)
			return false;
		if (!((port == 443 && str_eq(e->scheme, "https")) ||
		    (port == 80 && str_eq(e->scheme, "http"))))
			snprintf(e->port, sizeof(e->port), "%d", (int)port);
	}
	return true;
}

/* 3–63 of a-z 0-9 . -, starting and ending with a letter or digit. */
static bool
bucket_ok(const char *b)
{
	size_t	 n = b != NULL ? strlen(b) : 0;

	if (n < 3 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' &&
		    b[i] <= '9') || b[i] == '.' || b[i] == '-'))
			return false;
	return b[0] != '.' && b[0] != '-' && b[n - 1] != '.' &&
	    b[n - 1] != '-' && strstr(b, "..") == NULL;
}

bool
s3_config_check(const struct s3_config *c, char *why, size_t whylen)
{
	struct endpoint	 e;
	const char	*r = c->region;

	if (!endpoint_parse(c->endpoint, &e)) {
		snprintf(why, whylen, "endpoint must be an http:// or https:// "
		    "URL with a host and no path, e.g. https://s3.eu-west-1."
		    "amazonaws.com");
		return false;
	}
	if (!bucket_ok(c->bucket)) {
		snprintf(why, whylen, "bucket must be a bucket name of 3 to 63 "
		    "lower-case letters, digits, dots and hyphens");
		return false;
	}
	if (r == NULL || r[0] == '\0' || strlen(r) > 64 ||
	    strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(r)) {
		snprintf(why, whylen, "region must be a region name such as "
		    "us-east-1");
		return false;
	}
	if (c->access_key == NULL || c->access_key[0] == '\0' ||
	    str_has_ctl(c->access_key) || strlen(c->access_key) > 256) {
		snprintf(why, whylen, "access_key must be set (an access key "
		    "id)");
		return false;
	}
	if (c->secret_key == NULL || c->secret_key[0] == '\0' ||
	    str_has_ctl(c->secret_key) || strlen(c->secret_key) > 256) {
		snprintf(why, whylen, "secret_key must be set (the secret "
		    "access key)");
		return false;
	}
	/* A dotted bucket cannot be a TLS host name under a wildcard. */
	if (!c->path_style && strchr(c->bucket, '.') != NULL &&
	    str_eq(e.scheme, "https")) {
		snprintf(why, whylen, "bucket has dots, which virtual-hosted "
		    "style over https cannot address: use path style");
		return false;
	}
	return true;
}

/*
 * The object's origin (scheme://host[:port]) into origin and the path of
 * the bucket's root ("/bucket" or "") into path.
 */
static void
object_base(const struct s3_config *c, const struct endpoint *e,
    struct buf *origin, struct buf *path)
{
	buf_printf(origin, "%s://%s%s%s%s", e->scheme, c->path_style ? "" :
	    c->bucket, c->path_style ? "" : ".", e->host, e->port[0] != '\0' ?
	    ":" : "");
	buf_puts(origin, e->port);
	if (c->path_style)
		buf_printf(path, "/%s", c->bucket);
}

bool
s3_origin(const struct s3_config *c, char *out, size_t outlen)
{
	struct endpoint	 e;
	struct buf	 o, p;
	bool		 ok;

	if (!endpoint_parse(c->endpoint, &e))
		return false;
	buf_init(&o, 0);
	buf_init(&p, 0);
	object_base(c, &e, &o, &p);
	ok = str_copy(out, buf_str(&o), outlen);
	buf_cleanup(&o);
	buf_cleanup(&p);
	return ok;
}

/* --- signed requests (libcurl) ----------------------------------------- */

void
s3_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char	 h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, p, n);
	str_hex(out, h, sizeof(h));
}

static size_t
on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct sink	*s = ud;
	size_t		 n = size * nmemb;
	long		 status = 0;

	if (s->to_out < 0) {
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
		s->to_out = s->out != NULL && status >= 200 && status <= 299;
	}
	if (!s->to_out) {
		if (n > ERROR_BODY_MAX - s->err->len)
			n = ERROR_BODY_MAX - s->err->len;
		buf_append(s->err, p, n);
		return size * nmemb;
	}
	if (n > s->max - s->got) {
		s->too_large = true;
		return 0;
	}
	s->got += n;
	buf_append(s->out, p, n);
	return n;
}

/*
 * One signed request. body (len bytes) is sent for PUT; a 2xx body goes
 * to out (at most max bytes), an error's body is read for its <Code>.
 */
static enum s3_result
perform(const struct s3_config *c, const char *method, const char *key,
    const char *content_type, const void *body, size_t len, size_t max,
    struct buf *out, char *why, size_t whylen)
{
	struct endpoint		 e;
	struct buf		 url, path, err;
	struct sink		 sink;
	struct curl_slist	*hdrs = NULL;
	char			 provider[96], hash[65], hline[96], tline[160];
	char			 ebuf[CURL_ERROR_SIZE], code[64];
	enum s3_result		 res = S3_UNAVAILABLE;
	long			 status = 0;
	CURLcode		 rc;
	CURL			*h;

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (!s3_key_ok(key) || !endpoint_parse(c->endpoint, &e)) {
		if (why != NULL)
			snprintf(why, whylen, "The object key or the endpoint "
			    "is not usable.");
		return S3_REFUSED;
	}
	if ((h = curl_easy_init()) == NULL)
		abort();
	buf_init(&url, 0);
	buf_init(&path, 0);
	buf_init(&err, 0);
	object_base(c, &e, &url, &path);
	buf_printf(&url, "%s/%s", buf_str(&path), key);

	snprintf(provider, sizeof(provider), "aws:amz:%s:s3", c->region);
	s3_sha256_hex(body != NULL ? body : "", body != NULL ? len : 0, hash);
	snprintf(hline, sizeof(hline), "x-amz-content-sha256: %s", hash);
	hdrs = curl_slist_append(hdrs, hline);
	if (str_eq(method, "PUT")) {
		snprintf(tline, sizeof(tline), "Content-Type: %s",
		    content_type != NULL && content_type[0] != '\0' &&
		    !str_has_ctl(content_type) && strlen(content_type) < 128 ?
		    content_type : "application/octet-stream");
		hdrs = curl_slist_append(hdrs, tline);
	}
	if (hdrs == NULL)
		abort();

	sink.h = h;
	sink.out = str_eq(method, "GET") ? out : NULL;
	sink.err = &err;
	sink.max = max;
	sink.got = 0;
	sink.to_out = -1;
	sink.too_large = false;
	ebuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, buf_str(&url));
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(BASE_TIMEOUT_MS +
	    (long)((len > max ? len : max) >> 20) * MS_PER_MIB));
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, provider);
	curl_easy_setopt(h, CURLOPT_USERNAME, c->access_key);
	curl_easy_setopt(h, CURLOPT_PASSWORD, c->secret_key);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "parley");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
	if (str_eq(method, "PUT")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body != NULL ?
		    (const char *)body : "");
		/* No 100-continue round trip: the body is in memory. */
		curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
	} else if (str_eq(method, "DELETE"))
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
	else
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);

	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (sink.too_large && status >= 200 && status <= 299) {
		res = S3_TOO_LARGE;
		if (why != NULL)
			snprintf(why, whylen, "The stored object is larger than "
			    "expected.");
		goto out;
	}
	if (rc != CURLE_OK) {
		if (why != NULL)
			snprintf(why, whylen, "The media store did not answer "
			    "(%s).", ebuf[0] != '\0' ? ebuf :
			    curl_easy_strerror(rc));
		goto out;
	}
	if (status >= 200 && status <= 299) {
		res = S3_OK;
		goto out;
	}
	/* <Error><Code>NoSuchKey</Code>…: the code alone, no message. */
	code[0] = '\0';
	{
		const char	*b = buf_str(&err), *p = strstr(b, "<Code>");
		const char	*q = p != NULL ? strstr(p, "</Code>") : NULL;

		if (p != NULL && q != NULL && q - p - 6 < (long)sizeof(code)) {
			memcpy(code, p + 6, (size_t)(q - p - 6));
			code[q - p - 6] = '\0';
			if (strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijk"
			    "lmnopqrstuvwxyz0123456789") != strlen(code))
				code[0] = '\0';
		}
	}
	if (why != NULL)
		snprintf(why, whylen, "The media store answered HTTP %ld%s%s%s.",
		    status, code[0] != '\0' ? " (" : "", code,
		    code[0] != '\0' ? ")" : "");
	res = status == 404 ? S3_NOT_FOUND : status >= 400 && status <= 499 ?
	    S3_REFUSED : S3_UNAVAILABLE;
out:
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	buf_cleanup(&url);
	buf_cleanup(&path);
	buf_cleanup(&err);
	return res;
}

enum s3_result
s3_put(const struct s3_config *c, const char *key, const char *content_type,
    const void *data, size_t len, char *why, size_t whylen)
{
	return perform(c, "PUT", key, content_type, data, len, 0, NULL, why,
	    whylen);
}

enum s3_result
s3_get(const struct s3_config *c, const char *key, size_t max,
    struct buf *out, char *why, size_t whylen)
{
	return perform(c, "GET", key, NULL, NULL, 0, max, out, why, whylen);
}

enum s3_result
s3_delete(const struct s3_config *c, const char *key, char *why,
    size_t whylen)
{
	enum s3_result	 r = perform(c, "DELETE", key, NULL, NULL, 0, 0, NULL,
			    why, whylen);

	return r == S3_NOT_FOUND ? S3_OK : r;
}

/* --- presigned URLs ---------------------------------------------------- */

/* HMAC-SHA-256 of msg under key (klen bytes) into out. */
static void
hmac(unsigned char out[32], const void *key, size_t klen, const char *msg)
{
	crypto_auth_hmacsha256_state	 st;

	crypto_auth_hmacsha256_init(&st, key, klen);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg,
	    strlen(msg));
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

struct param {
	char	*name;		/* encoded */
	char	*value;		/* encoded */
};

static int
param_cmp(const void *a, const void *b)
{
	return strcmp(((const struct param *)a)->name,
	    ((const struct param *)b)->name);
}

char *
s3_presign_get(const struct s3_config *c, const char *key, int64_t now,
    int expires_s, const char *response_type,
    const char *response_disposition)
{
	struct endpoint	 e;
	struct param	 p[7];
	struct buf	 origin, path, q, creq, sts, url, enc;
	struct tm	 tm;
	time_t		 t = (time_t)now;
	char		 date[16], stamp[24], scope[160], hash[65], sig[65];
	char		*secret4, *out;
	unsigned char	 k[32];
	const char	*raw[7][2];
	int		 n = 0;

	if (!s3_key_ok(key) || !endpoint_parse(c->endpoint, &e) ||
	    expires_s < 1 || expires_s > S3_PRESIGN_MAX_S ||
	    gmtime_r(&t, &tm) == NULL)
		return NULL;
	strftime(date, sizeof(date), "%Y%m%d", &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(scope, sizeof(scope), "%s/%s/s3/aws4_request", date,
	    c->region);

	buf_init(&origin, 0);
	buf_init(&path, 0);
	buf_init(&q, 0);
	buf_init(&creq, 0);
	buf_init(&sts, 0);
	buf_init(&url, 0);
	buf_init(&enc, 0);
	object_base(c, &e, &origin, &path);
	buf_printf(&path, "/%s", key);	/* unreserved: encoded as it is */

	raw[n][0] = "X-Amz-Algorithm";
	raw[n++][1] = "AWS4-HMAC-SHA256";
	raw[n][0] = "X-Amz-Credential";
	raw[n++][1] = xasprintf("%s/%s", c->access_key, scope);
	raw[n][0] = "X-Amz-Date";
	raw[n++][1] = stamp;
	raw[n][0] = "X-Amz-Expires";
	raw[n++][1] = xasprintf("%d", expires_s);
	raw[n][0] = "X-Amz-SignedHeaders";
	raw[n++][1] = "host";
	if (response_disposition != NULL) {
		raw[n][0] = "response-content-disposition";
		raw[n++][1] = response_disposition;
	}
	if (response_type != NULL) {
		raw[n][0] = "response-content-type";
		raw[n++][1] = response_type;
	}
	for (int i = 0; i < n; i++) {
		buf_reset(&enc);
		url_encode(&enc, raw[i][0]);
		p[i].name = xstrdup(buf_str(&enc));
		buf_reset(&enc);
		url_encode(&enc, raw[i][1]);
		p[i].value = xstrdup(buf_str(&enc));
	}
	free((void *)(uintptr_t)raw[1][1]);
	free((void *)(uintptr_t)raw[3][1]);
	qsort(p, (size_t)n, sizeof(p[0]), param_cmp);
	for (int i = 0; i < n; i++)
		buf_printf(&q, "%s%s=%s", i > 0 ? "&" : "", p[i].name,
		    p[i].value);

	/* The host as the client will send it: after "scheme://". */
	buf_printf(&creq, "GET\n%s\n%s\nhost:%s\n\nhost\nUNSIGNED-PAYLOAD",
	    buf_str(&path), buf_str(&q), strstr(buf_str(&origin), "://") + 3);
	s3_sha256_hex(creq.data, creq.len, hash);
	buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", stamp, scope, hash);

	secret4 = xasprintf("AWS4%s", c->secret_key);
	hmac(k, secret4, strlen(secret4), date);
	sodium_memzero(secret4, strlen(secret4));
	free(secret4);
	hmac(k, k, sizeof(k), c->region);
	hmac(k, k, sizeof(k), "s3");
	hmac(k, k, sizeof(k), "aws4_request");
	hmac(k, k, sizeof(k), buf_str(&sts));
	str_hex(sig, k, sizeof(k));
	sodium_memzero(k, sizeof(k));

	buf_printf(&url, "%s%s?%s&X-Amz-Signature=%s", buf_str(&origin),
	    buf_str(&path), buf_str(&q), sig);
	out = xstrdup(buf_str(&url));
	for (int i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	buf_cleanup(&origin);
	buf_cleanup(&path);
	buf_cleanup(&q);
	buf_cleanup(&creq);
	buf_cleanup(&sts);
	buf_cleanup(&url);
	buf_cleanup(&enc);
	return out;
}
