/*
 * password: argon2id hashes in the PHC string form
 * ($argon2id$v=19$m=…,t=…,p=…$salt$hash). Parameters are at least OWASP's
 * minimum for argon2id (m = 19 MiB, t = 2, p = 1); a stored hash made with
 * weaker parameters is re-hashed at the next successful login.
 */
#ifndef PARLEY_CRYPTO_PASSWORD_H
#define PARLEY_CRYPTO_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define PASSWORD_HASH_MAX	160
#define PASSWORD_MIN_LEN	12
#define PASSWORD_MAX_LEN	1024

/* Current parameters (m in KiB). Tests may lower none of these. */
#define PASSWORD_T_COST		2
#define PASSWORD_M_COST		19456
#define PASSWORD_PARALLELISM	1

/* Hashes pw into out (PASSWORD_HASH_MAX bytes); false on failure. */
bool	 password_hash(const char *pw, char out[PASSWORD_HASH_MAX]);
/* Hashes with explicit parameters (for tests of re-hashing). */
bool	 password_hash_params(const char *pw, unsigned t, unsigned m_kib,
	    unsigned p, char out[PASSWORD_HASH_MAX]);
/* True when pw matches hash (constant-time inside argon2). */
bool	 password_verify(const char *hash, const char *pw);
/* Spends the time of one verification, for unknown accounts. */
void	 password_verify_dummy(const char *pw);
/* True when hash was made with weaker parameters than the current ones. */
bool	 password_needs_rehash(const char *hash);
/* Fills out (n >= 17) with a readable random password (n - 1 chars). */
void	 password_generate(char *out, size_t n);

#endif
