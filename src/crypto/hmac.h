/*
 * hmac: webhook signature checks for the WhatsApp providers (PROTOCOLS.md
 * §1.1, §2.2, §3.2). Every comparison is constant-time; every check fails
 * closed (no secret, no header, wrong length: false).
 *
 * Twilio signs HMAC-SHA1 (from OpenSSL's libcrypto: libsodium has no
 * SHA-1) over the URL it called followed by each POST parameter's name and
 * value, sorted by name, base64 with padding. Meta signs HMAC-SHA256 of the
 * raw body with the app secret ("sha256=" + lowercase hex); Kapso the same
 * without the prefix.
 */
#ifndef PARLEY_CRYPTO_HMAC_H
#define PARLEY_CRYPTO_HMAC_H

#include <stdbool.h>
#include <stddef.h>

struct twilio_param {
	const char	*name;
	const char	*value;
};

/*
 * The base64 Twilio signature of url + sorted params into out[29]
 * (28 characters + NUL). params is sorted in place (by name, byte-wise;
 * equal names by value, as twilio-node does for repeated parameters).
 */
void	 hmac_twilio_sign(const char *auth_token, const char *url,
	    struct twilio_param *params, size_t n, char out[29]);
/*
 * True when header matches the signature of url + params, or of the same
 * URL with its default port added or removed (twilio-node accepts both,
 * PROTOCOLS.md §1.1).
 */
bool	 hmac_twilio_verify(const char *auth_token, const char *url,
	    struct twilio_param *params, size_t n, const char *header);
/* Lowercase hex HMAC-SHA256 of body into out[65]. */
void	 hmac_sha256_hex(const char *secret, const void *body, size_t len,
	    char out[65]);
/* Meta: header "sha256=<hex>" over the raw body. */
bool	 hmac_meta_verify(const char *app_secret, const void *body,
	    size_t len, const char *header);
/* Kapso: header "<hex>" over the raw body. */
bool	 hmac_kapso_verify(const char *secret, const void *body, size_t len,
	    const char *header);

#endif
