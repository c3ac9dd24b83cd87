/*
 * hmac: webhook signature checks for the WhatsApp providers (PROTOCOLS.md
 * §1.1, §2.2, §3.2). Every comparison is constant-time; every check fails
 * closed (no secret, no header, wrong length: false).
 *
 * Twilio signs the URL it called followed by each POST parameter's name
 * and value, sorted by name, base64 with padding: HMAC-SHA1 keyed by the
 * Auth Token (the classic scheme; SHA-1 comes from OpenSSL's libcrypto,
 * libsodium has none), or, with Webhook Shared Keys, the same string under
 * the algorithm X-Twilio-Webhooks-Signature-Settings names (HMAC-SHA256 in
 * practice) keyed by the shared key's secret (docs/whatsapp-platform.md
 * §4). Meta signs HMAC-SHA256 of the raw body with the app secret
 * ("sha256=" + lowercase hex); Kapso the same without the prefix.
 */
#ifndef PARLEY_CRYPTO_HMAC_H
#define PARLEY_CRYPTO_HMAC_H

#include <stdbool.h>
#include <stddef.h>

struct twilio_param {
	const char	*name;
	const char	*value;
};

/* The algorithms of X-Twilio-Webhooks-Signature-Settings. */
enum hmac_twilio_alg {
	HMAC_TWILIO_SHA1,	/* the Auth Token scheme; the default */
	HMAC_TWILIO_SHA256,	/* Webhook Shared Keys */
	HMAC_TWILIO_UNSUPPORTED,	/* named, but none we know: fail */
};

/* Room for a base64 signature of either algorithm, with its NUL. */
#define HMAC_TWILIO_SIG_MAX	45
/* The longest key id taken from the settings header. */
#define HMAC_TWILIO_KEY_ID_MAX	128

/*
 * Reads X-Twilio-Webhooks-Signature-Settings
 * ("key=<shared key id>,algorithm=HMAC_SHA256") as twilio-node 6.3.1's
 * getSignatureAlgorithm does: parts split on ',', each split at its first
 * '=', names and values trimmed; the algorithm is compared without regard
 * to case and defaults to HMAC_SHA1 (header NULL or empty, or no
 * "algorithm="). key_id (key_id_len >= HMAC_TWILIO_KEY_ID_MAX + 1) gets the
 * key= value when it is 1..HMAC_TWILIO_KEY_ID_MAX printable ASCII
 * characters, else "".
 */
enum hmac_twilio_alg hmac_twilio_settings(const char *header, char *key_id,
	    size_t key_id_len);
/* The name of alg as Twilio writes it ("HMAC_SHA256"). */
const char *hmac_twilio_alg_name(enum hmac_twilio_alg alg);

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
/*
 * hmac_twilio_sign and hmac_twilio_verify under alg (SHA1 or SHA256; the
 * signature is 28 or 44 characters) keyed by secret, an Auth Token or a
 * shared key's secret. Verifying under HMAC_TWILIO_UNSUPPORTED is false.
 */
void	 hmac_twilio_sign_alg(enum hmac_twilio_alg alg, const char *secret,
	    const char *url, struct twilio_param *params, size_t n,
	    char out[HMAC_TWILIO_SIG_MAX]);
bool	 hmac_twilio_verify_alg(enum hmac_twilio_alg alg, const char *secret,
	    const char *url, struct twilio_param *params, size_t n,
	    const char *header);
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
