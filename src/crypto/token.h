/*
 * token: random bearer secrets (session cookies, API tokens, CSRF tokens)
 * and their stored form. A token is 32 random bytes in base64url (43
 * characters); the database keeps only its SHA-256, so a leaked table
 * cannot be replayed. Comparisons are constant-time.
 */
#ifndef PARLEY_CRYPTO_TOKEN_H
#define PARLEY_CRYPTO_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_LEN	43		/* characters, without NUL */
#define TOKEN_HASH_LEN	32		/* SHA-256 bytes */

/* Initialises libsodium; false when it cannot (no entropy source). */
bool	 crypto_init(void);
/* Fills out[TOKEN_LEN + 1] with a new random token. */
void	 token_new(char out[TOKEN_LEN + 1]);
/* SHA-256 of a token's text. */
void	 token_hash(const char *token, unsigned char out[TOKEN_HASH_LEN]);
/* Constant-time equality of two NUL-terminated strings. */
bool	 token_eq(const char *a, const char *b);
/* Fills out (n bytes, n >= 2) with a random hex string of n - 1 digits. */
void	 token_hex(char *out, size_t n);

#endif
