/*
 * Unit tests for crypto/: argon2id hashing, verification and re-hash
 * detection; random tokens and their comparison.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/password.h"
#include "crypto/token.h"

#include "unit/unit.h"

START_TEST(password_round_trip)
{
	char	 h[PASSWORD_HASH_MAX];

	ck_assert(password_hash("correct horse battery", h));
	ck_assert(strncmp(h, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
	ck_assert(password_verify(h, "correct horse battery"));
	ck_assert(!password_verify(h, "correct horse battery "));
	ck_assert(!password_verify(h, ""));
	ck_assert(!password_verify("not a hash", "x"));
	ck_assert(!password_needs_rehash(h));
}
END_TEST

START_TEST(password_rehash_when_weaker)
{
	char	 h[PASSWORD_HASH_MAX];

	ck_assert(password_hash_params("pw-pw-pw-pw-pw", 1, 4096, 1, h));
	ck_assert(password_verify(h, "pw-pw-pw-pw-pw"));
	ck_assert(password_needs_rehash(h));
	ck_assert(password_needs_rehash("$argon2i$v=19$m=65536,t=3,p=1$x$y"));
}
END_TEST

START_TEST(password_generated)
{
	char	 a[21], b[21];

	password_generate(a, sizeof(a));
	password_generate(b, sizeof(b));
	ck_assert_uint_eq(strlen(a), 20);
	ck_assert_str_ne(a, b);
	ck_assert_ptr_null(strpbrk(a, "0O1lI"));
}
END_TEST

START_TEST(tokens)
{
	char		 t1[TOKEN_LEN + 1], t2[TOKEN_LEN + 1], hex[17];
	unsigned char	 h1[TOKEN_HASH_LEN], h2[TOKEN_HASH_LEN];

	token_new(t1);
	token_new(t2);
	ck_assert_uint_eq(strlen(t1), TOKEN_LEN);
	ck_assert_ptr_null(strpbrk(t1, "+/="));
	ck_assert(!token_eq(t1, t2));
	ck_assert(token_eq(t1, t1));
	ck_assert(!token_eq(t1, "short"));
	token_hash(t1, h1);
	token_hash(t1, h2);
	ck_assert(memcmp(h1, h2, sizeof(h1)) == 0);
	token_hex(hex, sizeof(hex));
	ck_assert_uint_eq(strlen(hex), 16);
	ck_assert_uint_eq(strspn(hex, "0123456789abcdef"), 16);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("crypto");
	TCase	*tc = tcase_create("core");

	if (!crypto_init())
		return EXIT_FAILURE;
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, password_round_trip);
	tcase_add_test(tc, password_rehash_when_weaker);
	tcase_add_test(tc, password_generated);
	tcase_add_test(tc, tokens);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
