/*
 * password: argon2id (see password.h), through libargon2.
 */
#include "crypto/password.h"

#include <stdio.h>
#include <string.h>

#include <pthread.h>

#include <argon2.h>
#include <sodium.h>

#define SALT_LEN	16
#define HASH_LEN	32

static char		 dummy_hash[PASSWORD_HASH_MAX];
static pthread_once_t	 dummy_once = PTHREAD_ONCE_INIT;

static void	dummy_init(void);

bool
password_hash_params(const char *pw, unsigned t, unsigned m_kib, unsigned p,
    char out[PASSWORD_HASH_MAX])
{
	unsigned char	 salt[SALT_LEN];
	int		 rc;

	randombytes_buf(salt, sizeof(salt));
	rc = argon2id_hash_encoded(t, m_kib, p, pw, strlen(pw), salt,
	    sizeof(salt), HASH_LEN, out, PASSWORD_HASH_MAX);
	return rc == ARGON2_OK;
}

bool
password_hash(const char *pw, char out[PASSWORD_HASH_MAX])
{
	return password_hash_params(pw, PASSWORD_T_COST, PASSWORD_M_COST,
	    PASSWORD_PARALLELISM, out);
}

bool
password_verify(const char *hash, const char *pw)
{
	if (hash == NULL || strncmp(hash, "$argon2id$", 10) != 0)
		return false;
	return argon2id_verify(hash, pw, strlen(pw)) == ARGON2_OK;
}

static void
dummy_init(void)
{
	if (!password_hash("parley-dummy-password", dummy_hash))
		dummy_hash[0] = '\0';
}

void
password_verify_dummy(const char *pw)
{
	pthread_once(&dummy_once, dummy_init);
	(void)password_verify(dummy_hash, pw);
}

bool
password_needs_rehash(const char *hash)
{
	unsigned	 m, t, p;
	const char	*q = strstr(hash, "$m=");

	if (strncmp(hash, "$argon2id$", 10) != 0 || q == NULL ||
	    sscanf(q, "$m=%u,t=%u,p=%u", &m, &t, &p) != 3)
		return true;
	return m < PASSWORD_M_COST || t < PASSWORD_T_COST ||
	    p < PASSWORD_PARALLELISM;
}

void
password_generate(char *out, size_t n)
{
	/* No look-alikes (0/O, 1/l/I), so it can be read aloud or typed. */
	static const char	 alphabet[] =
	    "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

	for (size_t i = 0; i + 1 < n; i++)
		out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
	out[n - 1] = '\0';
}
