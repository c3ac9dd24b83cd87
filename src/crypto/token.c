/*
 * token: random tokens and their hashes (see token.h).
 */
#include "crypto/token.h"

#include <string.h>

#include <sodium.h>

bool
crypto_init(void)
{
	return sodium_init() >= 0;
}

void
token_new(char out[TOKEN_LEN + 1])
{
	unsigned char	 raw[32];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, TOKEN_LEN + 1, raw, sizeof(raw),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

void
token_hash(const char *token, unsigned char out[TOKEN_HASH_LEN])
{
	crypto_hash_sha256(out, (const unsigned char *)token, strlen(token));
}

bool
token_eq(const char *a, const char *b)
{
	size_t	 la = strlen(a), lb = strlen(b);

	/* Lengths are not secret (tokens have a fixed length). */
	if (la != lb)
		return false;
	return sodium_memcmp(a, b, la) == 0;
}

void
token_hex(char *out, size_t n)
{
	unsigned char	 raw[64];
	size_t		 nbytes = (n - 1) / 2 + 1;

	if (nbytes > sizeof(raw))
		nbytes = sizeof(raw);
	randombytes_buf(raw, nbytes);
	sodium_bin2hex(out, nbytes * 2 + 1 > n ? n : nbytes * 2 + 1, raw,
	    (n - 1) / 2);
	out[n - 1] = '\0';
	if ((n - 1) % 2 == 1)
		out[n - 2] = "0123456789abcdef"[raw[nbytes - 1] & 15];
}
