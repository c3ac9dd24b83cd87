/*
 * Unit tests for crypto/secret.c: sealing and opening with the additional
 * data that binds a ciphertext to its table, column and row; tampering and
 * wrong keys; the masked form; and the master key file (created 0600,
 * refused when others may read it or when it has the wrong size).
 */
#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/secret.h"

#define CANARY	"sk-test-canary-1234567890abcdef"

static char	 tmpdir[256];

static void	 dir_setup(void);
static void	 dir_teardown(void);
static void	 path_in(char *, size_t, const char *);
static unsigned char *seal_canary(const struct secret_key *, size_t *);
static void	 write_bytes(const char *, const void *, size_t, mode_t);
static bool	 contains(const unsigned char *, size_t, const char *);

static void
dir_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/parley-test-secret-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
dir_teardown(void)
{
	char	 cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
path_in(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmpdir, name);
}

static unsigned char *
seal_canary(const struct secret_key *k, size_t *len)
{
	return secret_seal(k, "llm_providers", "api_key_enc", 7, CANARY,
	    strlen(CANARY), len);
}

static void
write_bytes(const char *path, const void *p, size_t n, mode_t mode)
{
	FILE	*f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* memmem is a GNU extension; this is enough for a test. */
static bool
contains(const unsigned char *p, size_t n, const char *needle)
{
	size_t	 m = strlen(needle);

	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(p + i, needle, m) == 0)
			return true;
	return false;
}

START_TEST(round_trip)
{
	struct secret_key	*k = secret_key_generate();
	unsigned char		*sealed, *sealed2;
	size_t			 len, len2;
	char			*plain;

	sealed = seal_canary(k, &len);
	ck_assert_uint_eq(len, 24 + strlen(CANARY) + 16);
	ck_assert(!contains(sealed, len, "canary"));
	plain = secret_open(k, "llm_providers", "api_key_enc", 7, sealed, len);
	ck_assert_ptr_nonnull(plain);
	ck_assert_str_eq(plain, CANARY);
	secret_plain_free(plain);

	/* A fresh nonce each time: the same secret never seals the same. */
	sealed2 = seal_canary(k, &len2);
	ck_assert_uint_eq(len, len2);
	ck_assert(memcmp(sealed, sealed2, len) != 0);

	/* The empty secret round-trips too. */
	free(sealed2);
	sealed2 = secret_seal(k, "t", "c", 1, "", 0, &len2);
	plain = secret_open(k, "t", "c", 1, sealed2, len2);
	ck_assert_ptr_nonnull(plain);
	ck_assert_str_eq(plain, "");
	secret_plain_free(plain);
	secret_plain_free(NULL);

	free(sealed);
	free(sealed2);
	secret_key_free(k);
	secret_key_free(NULL);
}
END_TEST

START_TEST(tampered)
{
	struct secret_key	*k = secret_key_generate();
	unsigned char		*sealed;
	size_t			 len;
	char			*plain;

	sealed = seal_canary(k, &len);
	/* Every single flipped byte (nonce, ciphertext, tag) is caught. */
	for (size_t i = 0; i < len; i++) {
		sealed[i] ^= 0x01;
		plain = secret_open(k, "llm_providers", "api_key_enc", 7,
		    sealed, len);
		ck_assert_msg(plain == NULL, "byte %zu flipped still opens",
		    i);
		sealed[i] ^= 0x01;
	}
	/* Truncated and too short. */
	ck_assert_ptr_null(secret_open(k, "llm_providers", "api_key_enc", 7,
	    sealed, len - 1));
	ck_assert_ptr_null(secret_open(k, "llm_providers", "api_key_enc", 7,
	    sealed, 10));
	ck_assert_ptr_null(secret_open(k, "llm_providers", "api_key_enc", 7,
	    NULL, 0));
	/* Untouched, it still opens: the loop above restored each byte. */
	plain = secret_open(k, "llm_providers", "api_key_enc", 7, sealed, len);
	ck_assert_ptr_nonnull(plain);
	secret_plain_free(plain);
	free(sealed);
	secret_key_free(k);
}
END_TEST

START_TEST(bound_to_cell)
{
	struct secret_key	*k = secret_key_generate();
	unsigned char		*sealed;
	size_t			 len;

	sealed = seal_canary(k, &len);
	ck_assert_ptr_null(secret_open(k, "llm_providers", "api_key_enc", 8,
	    sealed, len));
	ck_assert_ptr_null(secret_open(k, "llm_providers", "api_key_enc", -7,
	    sealed, len));
	ck_assert_ptr_null(secret_open(k, "llm_providers", "other_enc", 7,
	    sealed, len));
	ck_assert_ptr_null(secret_open(k, "channels", "api_key_enc", 7,
	    sealed, len));
	/*
	 * Names holding the separators would make the additional data
	 * ambiguous ("a.b"+"c" vs "a"+"b.c"): refused outright.
	 */
	ck_assert_ptr_null(secret_open(k, "llm_providers.api_key_enc", "",
	    7, sealed, len));
	ck_assert_ptr_null(secret_open(k, "llm_providers", "api_key_enc#7",
	    7, sealed, len));
	free(sealed);
	secret_key_free(k);
}
END_TEST

START_TEST(wrong_key)
{
	struct secret_key	*k1 = secret_key_generate();
	struct secret_key	*k2 = secret_key_generate();
	unsigned char		*sealed;
	size_t			 len;

	sealed = seal_canary(k1, &len);
	ck_assert_ptr_null(secret_open(k2, "llm_providers", "api_key_enc", 7,
	    sealed, len));
	ck_assert_ptr_null(secret_open(NULL, "llm_providers", "api_key_enc",
	    7, sealed, len));
	free(sealed);
	secret_key_free(k1);
	secret_key_free(k2);
}
END_TEST

START_TEST(masking)
{
	char	 out[32];

	/* 31 characters: 7 show (a quarter, rounded down), 3 + 4. */
	ck_assert_str_eq(secret_mask(CANARY, out, sizeof(out)),
	    "sk-\xe2\x80\xa6" "cdef");
	/* 18 characters: 4 show. */
	ck_assert_str_eq(secret_mask("AC1234567890abcdef", out, sizeof(out)),
	    "AC\xe2\x80\xa6" "ef");
	/* 13 characters: the shortest shown in part, 3 of them (issue 10:
	 * a 13-character webhook secret showed 8). */
	ck_assert_str_eq(secret_mask("abcdefghijklm", out, sizeof(out)),
	    "a\xe2\x80\xa6" "lm");
	/* 12 characters or fewer: nothing of the secret shows. */
	ck_assert_str_eq(secret_mask("abcdefghijkl", out, sizeof(out)),
	    "\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2"
	    "\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2");
	ck_assert_str_eq(secret_mask("x", out, sizeof(out)),
	    "\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2"
	    "\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2");
	ck_assert_ptr_null(strstr(secret_mask("secret", out, sizeof(out)),
	    "s"));
	/* Empty or absent: nothing stored, nothing shown. */
	ck_assert_str_eq(secret_mask("", out, sizeof(out)), "");
	ck_assert_str_eq(secret_mask(NULL, out, sizeof(out)), "");
	/* Code points, not bytes: "é" is never split (16 characters: 4). */
	ck_assert_str_eq(secret_mask("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "12345678901\xc3\xa9", out, sizeof(out)),
	    "\xc3\xa9\xc3\xa9\xe2\x80\xa6" "1\xc3\xa9");
	/* A long secret shows at most 8 of its characters. */
	ck_assert_str_eq(secret_mask("0123456789012345678901234567890"
	    "123456789", out, sizeof(out)), "0123\xe2\x80\xa6" "6789");
}
END_TEST

/*
 * The rule itself, for every length: the characters shown (outside "…")
 * are a true prefix and suffix of the secret and never more than a
 * quarter of it.
 */
START_TEST(masking_quarter)
{
	char	 secret[200], out[64];

	for (size_t n = 1; n < sizeof(secret); n++) {
		const char	*ell;
		size_t		 head, tail;

		for (size_t i = 0; i < n; i++)
			secret[i] = (char)('A' + (i * 7) % 26);
		secret[n] = '\0';
		secret_mask(secret, out, sizeof(out));
		ell = strstr(out, "\xe2\x80\xa6");
		if (ell == NULL) {
			ck_assert_msg(strchr(out, 'A') == NULL &&
			    strlen(out) == 24, "length %zu: mask %s", n, out);
			continue;
		}
		head = (size_t)(ell - out);
		tail = strlen(ell + 3);
		ck_assert_msg((head + tail) * 4 <= n && head + tail <= 8,
		    "length %zu shows %zu characters: %s", n, head + tail, out);
		ck_assert_msg(n >= 13, "length %zu shows some: %s", n, out);
		ck_assert(memcmp(out, secret, head) == 0);
		ck_assert(memcmp(ell + 3, secret + n - tail, tail) == 0);
	}
}
END_TEST

START_TEST(key_file_created_0600)
{
	struct secret_key	*k = NULL, *k2 = NULL;
	struct stat		 sb;
	unsigned char		*sealed;
	size_t			 len;
	char			 path[300], err[512];
	char			*plain;

	path_in(path, sizeof(path), "master.key");
	/* Absent and create=false: refused, naming the file. */
	ck_assert(!secret_key_load(path, false, &k, err, sizeof(err)));
	ck_assert_ptr_null(k);
	ck_assert_ptr_nonnull(strstr(err, path));

	umask(0);	/* a lax umask must not leak into the key's mode */
	ck_assert_msg(secret_key_load(path, true, &k, err, sizeof(err)),
	    "%s", err);
	umask(022);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	ck_assert_int_eq(sb.st_size, 32);

	/* Loading again gives the same key, not a new one. */
	sealed = seal_canary(k, &len);
	ck_assert_msg(secret_key_load(path, true, &k2, err, sizeof(err)),
	    "%s", err);
	plain = secret_open(k2, "llm_providers", "api_key_enc", 7, sealed, len);
	ck_assert_ptr_nonnull(plain);
	ck_assert_str_eq(plain, CANARY);
	secret_plain_free(plain);
	free(sealed);
	secret_key_free(k);
	secret_key_free(k2);
}
END_TEST

START_TEST(key_file_refused_when_readable)
{
	struct secret_key	*k = NULL;
	char			 path[300], err[512];

	path_in(path, sizeof(path), "master.key");
	ck_assert_msg(secret_key_load(path, true, &k, err, sizeof(err)),
	    "%s", err);
	secret_key_free(k);
	k = NULL;
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert(!secret_key_load(path, true, &k, err, sizeof(err)));
	ck_assert_ptr_null(k);
	ck_assert_msg(strstr(err, path) != NULL && strstr(err, "chmod 600")
	    != NULL, "unhelpful error: %s", err);
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert(!secret_key_load(path, false, &k, err, sizeof(err)));
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_msg(secret_key_load(path, false, &k, err, sizeof(err)),
	    "%s", err);
	secret_key_free(k);
}
END_TEST

START_TEST(key_file_wrong_size)
{
	struct secret_key	*k = NULL;
	char			 path[300], err[512];
	unsigned char		 bytes[64] = { 1, 2, 3 };

	path_in(path, sizeof(path), "short.key");
	write_bytes(path, bytes, 31, 0600);
	ck_assert(!secret_key_load(path, true, &k, err, sizeof(err)));
	ck_assert_ptr_null(k);
	ck_assert_msg(strstr(err, "31 bytes") != NULL, "%s", err);

	path_in(path, sizeof(path), "long.key");
	write_bytes(path, bytes, 33, 0600);
	ck_assert(!secret_key_load(path, true, &k, err, sizeof(err)));
	ck_assert_msg(strstr(err, "33 bytes") != NULL, "%s", err);

	path_in(path, sizeof(path), "empty.key");
	write_bytes(path, bytes, 0, 0600);
	ck_assert(!secret_key_load(path, true, &k, err, sizeof(err)));
	ck_assert_ptr_null(k);

	/* A directory is not a key. */
	path_in(path, sizeof(path), "dir.key");
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert(!secret_key_load(path, true, &k, err, sizeof(err)));
	ck_assert_ptr_null(k);
}
END_TEST

START_TEST(key_write_replaces)
{
	struct secret_key	*k1 = NULL, *k2, *k3 = NULL;
	struct stat		 sb;
	unsigned char		*sealed;
	size_t			 len;
	char			 path[300], err[512];
	char			*plain;

	path_in(path, sizeof(path), "master.key");
	ck_assert(secret_key_load(path, true, &k1, err, sizeof(err)));
	k2 = secret_key_generate();
	ck_assert_msg(secret_key_write(k2, path, err, sizeof(err)), "%s",
	    err);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	ck_assert(secret_key_load(path, false, &k3, err, sizeof(err)));
	sealed = seal_canary(k2, &len);
	plain = secret_open(k3, "llm_providers", "api_key_enc", 7, sealed, len);
	ck_assert_ptr_nonnull(plain);
	secret_plain_free(plain);
	ck_assert_ptr_null(secret_open(k1, "llm_providers", "api_key_enc", 7,
	    sealed, len));
	/* No temporary file is left behind. */
	snprintf(path, sizeof(path), "%s/master.key.tmp.%ld", tmpdir,
	    (long)getpid());
	ck_assert_int_eq(access(path, F_OK), -1);
	free(sealed);
	secret_key_free(k1);
	secret_key_free(k2);
	secret_key_free(k3);
}
END_TEST

/* Every size round-trips, around each slot size and past the largest
 * (its own sodium_malloc), and a block handed out again was wiped. */
START_TEST(plaintext_sizes)
{
	struct secret_key	*k = secret_key_generate();
	static const size_t	 sizes[] = { 1, 126, 127, 128, 511, 512, 4095,
				    4096, 4097, 20000 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t		 n = sizes[i], len;
		char		*want = malloc(n + 1), *plain;
		unsigned char	*sealed;

		memset(want, 'a' + (int)(i % 26), n);
		want[n] = '\0';
		sealed = secret_seal(k, "t", "c", (int64_t)i, want, n, &len);
		plain = secret_open(k, "t", "c", (int64_t)i, sealed, len);
		ck_assert_ptr_nonnull(plain);
		ck_assert_str_eq(plain, want);
		secret_plain_free(plain);
		free(sealed);
		free(want);
	}
	for (size_t i = 0; i < 64; i++) {
		unsigned char	*m = secret_mem_alloc(100);

		for (size_t j = 0; j < 100; j++)
			ck_assert_uint_eq(m[j], 0);
		memset(m, 0xA5, 100);
		secret_mem_free(m);
	}
	secret_mem_free(NULL);
	secret_key_free(k);
}
END_TEST

/* Threads holding many secrets at once: no block is handed out twice
 * (each keeps its own bytes until freed). */
static void *
hold_many(void *arg)
{
	int		 id = (int)(intptr_t)arg;
	unsigned char	*held[300];
	size_t		 n[300];

	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 300; i++) {
			n[i] = (size_t)(1 + (i * 37 + round) % 600);
			held[i] = secret_mem_alloc(n[i]);
			memset(held[i], (id * 300 + i) & 0xff, n[i]);
		}
		for (int i = 0; i < 300; i++) {
			for (size_t j = 0; j < n[i]; j++)
				if (held[i][j] != ((id * 300 + i) & 0xff))
					return (void *)1;
			secret_mem_free(held[i]);
		}
	}
	return NULL;
}

START_TEST(blocks_never_shared)
{
	pthread_t	 t[8];
	void		*r;

	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, hold_many,
		    (void *)(intptr_t)i), 0);
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(pthread_join(t[i], &r), 0);
		ck_assert_ptr_null(r);
	}
}
END_TEST

static Suite *
secret_suite(void)
{
	Suite	*s = suite_create("secret");
	TCase	*tc = tcase_create("aead");
	TCase	*tf = tcase_create("keyfile");

	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, tampered);
	tcase_add_test(tc, bound_to_cell);
	tcase_add_test(tc, wrong_key);
	tcase_add_test(tc, masking);
	tcase_add_test(tc, masking_quarter);
	tcase_add_test(tc, plaintext_sizes);
	tcase_add_test(tc, blocks_never_shared);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tf, dir_setup, dir_teardown);
	tcase_add_test(tf, key_file_created_0600);
	tcase_add_test(tf, key_file_refused_when_readable);
	tcase_add_test(tf, key_file_wrong_size);
	tcase_add_test(tf, key_write_replaces);
	suite_add_tcase(s, tf);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(secret_suite());
	int	 failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
