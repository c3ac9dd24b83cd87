/*
 * hmac: provider webhook signatures (see hmac.h).
 */
#include "crypto/hmac.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "util/buf.h"
#include "util/str.h"

static int	param_cmp(const void *, const void *);
static bool	twilio_match(enum hmac_twilio_alg, const char *, const char *,
		    struct twilio_param *, size_t, const char *);
static bool	hex_eq(const char *, const char *);
static const char *trim(const char *, size_t *);

static int
param_cmp(const void *a, const void *b)
{
	const struct twilio_param	*x = a, *y = b;
	int				 c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->value, y->value);
}

/* s without leading and trailing blanks; *n is in/out. */
static const char *
trim(const char *s, size_t *n)
{
	while (*n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		(*n)--;
	}
	while (*n > 0 && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
		(*n)--;
	return s;
}

enum hmac_twilio_alg
hmac_twilio_settings(const char *header, char *key_id, size_t key_id_len)
{
	enum hmac_twilio_alg	 alg = HMAC_TWILIO_SHA1;
	const char		*part, *end, *eq, *name, *val;
	size_t			 len, name_len, val_len;
	bool			 have_alg = false;

	if (key_id_len > 0)
		key_id[0] = '\0';
	if (header == NULL)
		return alg;
	for (part = header; ; part = end + 1) {
		end = strchr(part, ',');
		len = end != NULL ? (size_t)(end - part) : strlen(part);
		eq = memchr(part, '=', len);
		if (eq != NULL) {
			name_len = (size_t)(eq - part);
			name = trim(part, &name_len);
			val_len = len - (size_t)(eq + 1 - part);
			val = trim(eq + 1, &val_len);
			/* The first non-empty algorithm= wins, as in
			 * twilio-node. */
			if (!have_alg && name_len == 9 &&
			    strncmp(name, "algorithm", 9) == 0 &&
			    val_len > 0) {
				have_alg = true;
				if (val_len == 9 &&
				    strncasecmp(val, "HMAC_SHA1", 9) == 0)
					alg = HMAC_TWILIO_SHA1;
				else if (val_len == 11 &&
				    strncasecmp(val, "HMAC_SHA256", 11) == 0)
					alg = HMAC_TWILIO_SHA256;
				else
					alg = HMAC_TWILIO_UNSUPPORTED;
			} else if (name_len == 3 &&
			    strncmp(name, "key", 3) == 0 && val_len > 0 &&
			    val_len <= HMAC_TWILIO_KEY_ID_MAX &&
			    val_len < key_id_len && key_id[0] == '\0') {
				size_t	 i;

				for (i = 0; i < val_len; i++)
					if (val[i] <= 0x20 || val[i] >= 0x7f)
						break;
				if (i == val_len) {
					memcpy(key_id, val, val_len);
					key_id[val_len] = '\0';
				}
			}
		}
		if (end == NULL)
			break;
	}
	return alg;
}

const char *
hmac_twilio_alg_name(enum hmac_twilio_alg alg)
{
	switch (alg) {
	case HMAC_TWILIO_SHA1:
		return "HMAC_SHA1";
	case HMAC_TWILIO_SHA256:
		return "HMAC_SHA256";
	default:
		return "unsupported";
	}
}

void
hmac_twilio_sign_alg(enum hmac_twilio_alg alg, const char *secret,
    const char *url, struct twilio_param *params, size_t n,
    char out[HMAC_TWILIO_SIG_MAX])
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 mac_len = 0;
	struct buf	 b;

	/* A programmer error: verification refuses it before signing. */
	if (alg != HMAC_TWILIO_SHA1 && alg != HMAC_TWILIO_SHA256)
		abort();
	qsort(params, n, sizeof(*params), param_cmp);
	buf_init(&b, 0);
	buf_puts(&b, url);
	for (size_t i = 0; i < n; i++) {
		buf_puts(&b, params[i].name);
		buf_puts(&b, params[i].value);
	}
	HMAC(alg == HMAC_TWILIO_SHA256 ? EVP_sha256() : EVP_sha1(), secret,
	    (int)strlen(secret), (const unsigned char *)buf_str(&b), b.len,
	    mac, &mac_len);
	sodium_bin2base64(out, HMAC_TWILIO_SIG_MAX, mac, mac_len,
	    sodium_base64_VARIANT_ORIGINAL);
	buf_cleanup(&b);
}

void
hmac_twilio_sign(const char *auth_token, const char *url,
    struct twilio_param *params, size_t n, char out[29])
{
	char	 sig[HMAC_TWILIO_SIG_MAX];

	hmac_twilio_sign_alg(HMAC_TWILIO_SHA1, auth_token, url, params, n,
	    sig);
	memcpy(out, sig, 29);
}

static bool
twilio_match(enum hmac_twilio_alg alg, const char *secret, const char *url,
    struct twilio_param *params, size_t n, const char *header)
{
	char	 sig[HMAC_TWILIO_SIG_MAX];
	size_t	 want = alg == HMAC_TWILIO_SHA256 ? 44 : 28;

	hmac_twilio_sign_alg(alg, secret, url, params, n, sig);
	return strlen(header) == want && sodium_memcmp(sig, header, want) == 0;
}

bool
hmac_twilio_verify_alg(enum hmac_twilio_alg alg, const char *secret,
    const char *url, struct twilio_param *params, size_t n,
    const char *header)
{
	const char	*scheme_end, *host, *path;
	char		 alt[2048];
	bool		 https, has_port;
	size_t		 hostlen;

	if (secret == NULL || *secret == '\0' || header == NULL ||
	    url == NULL ||
	    (alg != HMAC_TWILIO_SHA1 && alg != HMAC_TWILIO_SHA256))
		return false;
	if (twilio_match(alg, secret, url, params, n, header))
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
	return twilio_match(alg, secret, alt, params, n, header);
}

bool
hmac_twilio_verify(const char *auth_token, const char *url,
    struct twilio_param *params, size_t n, const char *header)
{
	return hmac_twilio_verify_alg(HMAC_TWILIO_SHA1, auth_token, url,
	    params, n, header);
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
