/*
 * hmac: provider webhook signatures (see hmac.h).
 */
#include "crypto/hmac.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "util/buf.h"
#include "util/str.h"

static int	param_cmp(const void *, const void *);
static bool	twilio_match(const char *, const char *, struct twilio_param *,
		    size_t, const char *);
static bool	hex_eq(const char *, const char *);

static int
param_cmp(const void *a, const void *b)
{
	const struct twilio_param	*x = a, *y = b;
	int				 c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->value, y->value);
}

void
hmac_twilio_sign(const char *auth_token, const char *url,
    struct twilio_param *params, size_t n, char out[29])
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 mac_len = 0;
	struct buf	 b;

	qsort(params, n, sizeof(*params), param_cmp);
	buf_init(&b, 0);
	buf_puts(&b, url);
	for (size_t i = 0; i < n; i++) {
		buf_puts(&b, params[i].name);
		buf_puts(&b, params[i].value);
	}
	HMAC(EVP_sha1(), auth_token, (int)strlen(auth_token),
	    (const unsigned char *)buf_str(&b), b.len, mac, &mac_len);
	sodium_bin2base64(out, 29, mac, mac_len,
	    sodium_base64_VARIANT_ORIGINAL);
	buf_cleanup(&b);
}

static bool
twilio_match(const char *token, const char *url, struct twilio_param *params,
    size_t n, const char *header)
{
	char	 sig[29];

	hmac_twilio_sign(token, url, params, n, sig);
	return strlen(header) == 28 && sodium_memcmp(sig, header, 28) == 0;
}

bool
hmac_twilio_verify(const char *auth_token, const char *url,
    struct twilio_param *params, size_t n, const char *header)
{
	const char	*scheme_end, *host, *path;
	char		 alt[2048];
	bool		 https, has_port;
	size_t		 hostlen;

	if (auth_token == NULL || *auth_token == '\0' || header == NULL ||
	    url == NULL)
		return false;
	if (twilio_match(auth_token, url, params, n, header))
		return true;
	/* The other form: default port added, or removed. */
	https = str_starts_with(url, "https://");
	if (!https && !str_starts_with(url, "http://"))
		return false;
	scheme_end = strstr(url, "://");
	host = scheme_end + 3;
	path = host + strcspn(host, "/?");
	hostlen = (size_t)(path - host);
	has_port = memchr(host, ':', hostlen) != NULL;
	if (has_port) {
		const char	*colon = memchr(host, ':', hostlen);
		const char	*dflt = https ? ":443" : ":80";

		if ((size_t)(path - colon) != strlen(dflt) ||
		    strncmp(colon, dflt, strlen(dflt)) != 0)
			return false;
		snprintf(alt, sizeof(alt), "%.*s%s", (int)(colon - url), url,
		    path);
	} else
		snprintf(alt, sizeof(alt), "%.*s%s%s", (int)(path - url), url,
		    https ? ":443" : ":80", path);
	return twilio_match(auth_token, alt, params, n, header);
}

void
hmac_sha256_hex(const char *secret, const void *body, size_t len,
    char out[65])
{
	unsigned char			 mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state	 st;

	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret,
	    strlen(secret));
	crypto_auth_hmacsha256_update(&st, body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(out, 65, mac, sizeof(mac));
}

/* Constant-time for equal lengths; hex case is folded first. */
static bool
hex_eq(const char *want, const char *got)
{
	char	 low[65];
	size_t	 n = strlen(got);

	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		low[i] = (got[i] >= 'A' && got[i] <= 'F') ? got[i] + 32 : got[i];
	low[64] = '\0';
	return sodium_memcmp(want, low, 64) == 0;
}

bool
hmac_meta_verify(const char *app_secret, const void *body, size_t len,
    const char *header)
{
	char	 want[65];

	if (app_secret == NULL || *app_secret == '\0' || header == NULL ||
	    strncmp(header, "sha256=", 7) != 0)
		return false;
	hmac_sha256_hex(app_secret, body, len, want);
	return hex_eq(want, header + 7);
}

bool
hmac_kapso_verify(const char *secret, const void *body, size_t len,
    const char *header)
{
	char	 want[65];

	if (secret == NULL || *secret == '\0' || header == NULL)
		return false;
	hmac_sha256_hex(secret, body, len, want);
	return hex_eq(want, header);
}
