/*
 * secret: credentials at rest (provider API keys, channel tokens, app
 * secrets). Each is sealed with XChaCha20-Poly1305 (libsodium AEAD) under
 * the master key, with additional data "table.column#row" so a ciphertext
 * copied into another row or column fails to open. Stored form: 24-byte
 * nonce followed by the ciphertext and tag.
 *
 * The master key (32 bytes) lives in sodium_malloc'd, read-only memory.
 * Its file is created 0600 on first run; a file readable by group or
 * others refuses to load. Plaintext returned by secret_open() must be
 * released with secret_plain_free(), which wipes it.
 */
#ifndef PARLEY_CRYPTO_SECRET_H
#define PARLEY_CRYPTO_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct secret_key;

/*
 * Loads the key from path; when the file is absent and create is true,
 * makes a new random key there (0600, parent directory must exist).
 * False with a sentence naming the file on any problem (wrong size,
 * readable by others, unreadable).
 */
bool		 secret_key_load(const char *path, bool create,
		    struct secret_key **out, char *err, size_t errlen);
/* A new random key (not written anywhere). */
struct secret_key *secret_key_generate(void);
/* Writes the key to path atomically (temporary file, fsync, rename), 0600. */
bool		 secret_key_write(const struct secret_key *k, const char *path,
		    char *err, size_t errlen);
/* Wipes and frees; NULL is a no-op. */
void		 secret_key_free(struct secret_key *k);

/*
 * Seals plaintext (len bytes) for table.column of row_id. Returns a
 * malloc'd buffer of *out_len bytes (caller frees).
 */
unsigned char	*secret_seal(const struct secret_key *k, const char *table,
		    const char *column, int64_t row_id, const char *plaintext,
		    size_t len, size_t *out_len);
/*
 * Opens a sealed value; NULL when it does not authenticate (wrong key,
 * tampered, or sealed for another table/column/row). The result is a
 * NUL-terminated string in guarded memory: free it with
 * secret_plain_free().
 */
char		*secret_open(const struct secret_key *k, const char *table,
		    const char *column, int64_t row_id,
		    const unsigned char *sealed, size_t sealed_len)
		    __attribute__((warn_unused_result));
void		 secret_plain_free(char *plain);
/* A copy of s in guarded memory, as secret_open returns (a new token
 * replacing an opened one); free with secret_plain_free(). */
char		*secret_plain_dup(const char *s);
/*
 * n bytes of the memory secret_open's plaintext lives in (mlock'd, never
 * in a core dump, wiped when freed; small blocks share a guarded slab,
 * see secret.c), aligned for any type; aborts when out of memory. For a
 * caller keeping its own copy of secrets (channels' credentials for an
 * indicator thread). Free with secret_mem_free() (NULL: nothing).
 */
void		*secret_mem_alloc(size_t n);
void		 secret_mem_free(void *p);

/*
 * HMAC-SHA-256 of msg (len bytes) under a key derived from the master
 * key for purpose (libsodium's KDF; purpose is its 8-character context,
 * e.g. "mediaurl"), as lowercase hex in out[65]. For signing short-lived
 * tokens (signed media URLs): they stop verifying when the master key is
 * rotated, which is what a rotation is for.
 */
void		 secret_key_mac(const struct secret_key *k,
		    const char purpose[8], const void *msg, size_t len,
		    char out[65]);

/*
 * The only form of a secret that may leave the server: never more than a
 * quarter of its characters, and at most 8 — a few from the start and the
 * end with "…" between ("AC12…cdef" for 32 or more characters, "a…lm" for
 * 13); a secret of 12 characters or fewer is fully masked ("••••••••").
 * Writes into out (outlen >= 32) and returns it.
 */
char		*secret_mask(const char *plain, char *out, size_t outlen);

#endif
