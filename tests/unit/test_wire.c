/*
 * Unit tests for the wire-level pieces of the WhatsApp providers: webhook
 * signatures (Twilio HMAC-SHA1 with the vectors from Twilio's docs, its
 * shared-key HMAC-SHA256 with the vectors of docs/whatsapp-platform.md
 * §4.3 and the settings header, Meta and Kapso HMAC-SHA256) and splitting
 * long replies to provider limits.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "channels/split.h"
#include "crypto/hmac.h"
#include "util/utf8.h"

#include "unit/unit.h"

static void
twilio_params(struct twilio_param p[5], const char *caller)
{
	p[0] = (struct twilio_param){ "To", "+18005551212" };
	p[1] = (struct twilio_param){ "Digits", "1234" };
	p[2] = (struct twilio_param){ "CallSid", "CA1234567890ABCDE" };
	p[3] = (struct twilio_param){ "From", caller };
	p[4] = (struct twilio_param){ "Caller", caller };
}

START_TEST(twilio_vectors)
{
	struct twilio_param	 p[5];
	char			 sig[29];

	twilio_params(p, "+14158675310");
	hmac_twilio_sign("12345", "https://example.com/myapp.php?foo=1&bar=2",
	    p, 5, sig);
	ck_assert_str_eq(sig, "L/OH5YylLD5NRKLltdqwSvS0BnU=");
	twilio_params(p, "+14158675309");
	hmac_twilio_sign("12345",
	    "https://mycompany.com/myapp.php?foo=1&bar=2", p, 5, sig);
	ck_assert_str_eq(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
}
END_TEST

START_TEST(twilio_verify_fails_closed)
{
	struct twilio_param	 p[5];
	const char		*url = "https://example.com/myapp.php?foo=1&bar=2";
	const char		*good = "L/OH5YylLD5NRKLltdqwSvS0BnU=";

	twilio_params(p, "+14158675310");
	ck_assert(hmac_twilio_verify("12345", url, p, 5, good));
	/* The same URL with the default port is accepted as well. */
	ck_assert(hmac_twilio_verify("12345",
	    "https://example.com:443/myapp.php?foo=1&bar=2", p, 5, good));
	ck_assert(!hmac_twilio_verify("12346", url, p, 5, good));
	ck_assert(!hmac_twilio_verify("", url, p, 5, good));
	ck_assert(!hmac_twilio_verify(NULL, url, p, 5, good));
	ck_assert(!hmac_twilio_verify("12345", url, p, 5, NULL));
	ck_assert(!hmac_twilio_verify("12345", url, p, 5, ""));
	ck_assert(!hmac_twilio_verify("12345",
	    "https://example.com/other.php?foo=1&bar=2", p, 5, good));
	p[1].value = "1235";	/* a tampered parameter */
	ck_assert(!hmac_twilio_verify("12345", url, p, 5, good));
}
END_TEST

/* docs/whatsapp-platform.md §4.3, computed with twilio 6.3.1. */
START_TEST(twilio_sha256_vectors)
{
	struct twilio_param	 p[7];
	const char		*url = "https://example.com/myapp.php?foo=1&bar=2";
	char			 sig[HMAC_TWILIO_SIG_MAX];

	twilio_params(p, "+14158675310");
	hmac_twilio_sign_alg(HMAC_TWILIO_SHA256, "12345", url, p, 5, sig);
	ck_assert_str_eq(sig, "qMztBq0IANMH/q0K9sCfKQJLylezvRdRzRS647SAVow=");
	ck_assert(hmac_twilio_verify_alg(HMAC_TWILIO_SHA256, "12345", url, p,
	    5, sig));
	ck_assert(hmac_twilio_verify_alg(HMAC_TWILIO_SHA256, "12345",
	    "https://example.com:443/myapp.php?foo=1&bar=2", p, 5, sig));
	/* The SHA-1 signature of the same request is not a SHA-256 one. */
	ck_assert(!hmac_twilio_verify_alg(HMAC_TWILIO_SHA256, "12345", url, p,
	    5, "L/OH5YylLD5NRKLltdqwSvS0BnU="));
	ck_assert(!hmac_twilio_verify_alg(HMAC_TWILIO_SHA1, "12345", url, p,
	    5, sig));
	ck_assert(!hmac_twilio_verify_alg(HMAC_TWILIO_UNSUPPORTED, "12345",
	    url, p, 5, sig));
	ck_assert(!hmac_twilio_verify_alg(HMAC_TWILIO_SHA256, "12346", url, p,
	    5, sig));

	p[0] = (struct twilio_param){ "WaId", "14155550100" };
	p[1] = (struct twilio_param){ "To", "whatsapp:+14155550199" };
	p[2] = (struct twilio_param){ "NumMedia", "0" };
	p[3] = (struct twilio_param){ "MessageSid",
	    "SM00000000000000000000000000000000" };
	p[4] = (struct twilio_param){ "From", "whatsapp:+14155550100" };
	p[5] = (struct twilio_param){ "Body", "hi" };
	p[6] = (struct twilio_param){ "AccountSid",
	    "AC00000000000000000000000000000000" };
	hmac_twilio_sign_alg(HMAC_TWILIO_SHA256, "shh",
	    "https://parley.example/webhooks/twilio/ch_1", p, 7, sig);
	ck_assert_str_eq(sig, "7JYcLTjz9Ytz93tWXk5L3tF/Wt1Y1eho8XFdrIlV6yU=");
}
END_TEST

START_TEST(twilio_settings_header)
{
	char	 key[HMAC_TWILIO_KEY_ID_MAX + 1];
	char	 long_id[HMAC_TWILIO_KEY_ID_MAX + 40];

	ck_assert_int_eq(hmac_twilio_settings("key=webhooks_sharedkey_1,"
	    "algorithm=HMAC_SHA256", key, sizeof(key)), HMAC_TWILIO_SHA256);
	ck_assert_str_eq(key, "webhooks_sharedkey_1");
	/* Order, blanks and the algorithm's case do not matter. */
	ck_assert_int_eq(hmac_twilio_settings(" algorithm = hmac_sha256 , "
	    "key = KS1 ", key, sizeof(key)), HMAC_TWILIO_SHA256);
	ck_assert_str_eq(key, "KS1");
	/* No algorithm: SHA-1, as twilio-node reads it. */
	ck_assert_int_eq(hmac_twilio_settings("key=KS1", key, sizeof(key)),
	    HMAC_TWILIO_SHA1);
	ck_assert_int_eq(hmac_twilio_settings("key=KS1,algorithm=",
	    key, sizeof(key)), HMAC_TWILIO_SHA1);
	ck_assert_int_eq(hmac_twilio_settings(NULL, key, sizeof(key)),
	    HMAC_TWILIO_SHA1);
	ck_assert_str_eq(key, "");
	ck_assert_int_eq(hmac_twilio_settings("", key, sizeof(key)),
	    HMAC_TWILIO_SHA1);
	ck_assert_int_eq(hmac_twilio_settings("algorithm=HMAC_SHA1",
	    key, sizeof(key)), HMAC_TWILIO_SHA1);
	/* The first algorithm named wins; an unknown one fails. */
	ck_assert_int_eq(hmac_twilio_settings("algorithm=HMAC_SHA512,"
	    "algorithm=HMAC_SHA256", key, sizeof(key)),
	    HMAC_TWILIO_UNSUPPORTED);
	ck_assert_int_eq(hmac_twilio_settings("algorithm=HMAC_SHA2567",
	    key, sizeof(key)), HMAC_TWILIO_UNSUPPORTED);
	ck_assert_int_eq(hmac_twilio_settings("algorithmX=HMAC_SHA256",
	    key, sizeof(key)), HMAC_TWILIO_SHA1);
	/* A key id that is not printable ASCII, or too long, is no id. */
	ck_assert_int_eq(hmac_twilio_settings("key=a b,algorithm=HMAC_SHA256",
	    key, sizeof(key)), HMAC_TWILIO_SHA256);
	ck_assert_str_eq(key, "");
	ck_assert_int_eq(hmac_twilio_settings("key=\xc3\xa9", key,
	    sizeof(key)), HMAC_TWILIO_SHA1);
	ck_assert_str_eq(key, "");
	memset(long_id, 'k', sizeof(long_id) - 1);
	memcpy(long_id, "key=", 4);
	long_id[sizeof(long_id) - 1] = '\0';
	(void)hmac_twilio_settings(long_id, key, sizeof(key));
	ck_assert_str_eq(key, "");
	/* A small buffer never overflows. */
	ck_assert_int_eq(hmac_twilio_settings("key=abcdef", key, 4),
	    HMAC_TWILIO_SHA1);
	ck_assert_str_eq(key, "");
	ck_assert_str_eq(hmac_twilio_alg_name(HMAC_TWILIO_SHA256),
	    "HMAC_SHA256");
}
END_TEST

/*
 * A bounded fuzz of the settings header parser (untrusted bytes): random
 * headers made of its own tokens, separators and bad bytes, under ASan. The key
 * id that comes out is always terminated, printable and within its bound.
 */
START_TEST(twilio_settings_fuzz)
{
	static const char *const tok[] = { "key", "algorithm", "=", ",",
		"HMAC_SHA256", "hmac_sha1", " ", "\t", "\x01", "\xff",
		"\xc3\xa9", "a", "Z", "0", "_", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk" };
	char			 h[40 * 32 + 1], key[HMAC_TWILIO_KEY_ID_MAX + 1];
	unsigned int		 seed = 13;

	for (int round = 0; round < 20000; round++) {
		size_t	 n = 0, want = (size_t)(rand_r(&seed) % 40);
		int	 alg;

		for (size_t i = 0; i < want; i++) {
			const char	*t = tok[rand_r(&seed) %
					    (sizeof(tok) / sizeof(tok[0]))];

			memcpy(h + n, t, strlen(t));
			n += strlen(t);
		}
		h[n] = '\0';
		alg = (int)hmac_twilio_settings(h, key, sizeof(key));
		ck_assert(alg >= HMAC_TWILIO_SHA1 &&
		    alg <= HMAC_TWILIO_UNSUPPORTED);
		ck_assert_uint_le(strlen(key), HMAC_TWILIO_KEY_ID_MAX);
		for (const char *k = key; *k != '\0'; k++)
			ck_assert(*k > 0x20 && *k < 0x7f);
	}
}
END_TEST

START_TEST(meta_and_kapso)
{
	char	 hex[65];

	hmac_sha256_hex("secret", "test", 4, hex);
	ck_assert_str_eq(hex, "0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876f"
	    "ce9a881ebb488c0914");
	ck_assert(hmac_meta_verify("secret", "test", 4, "sha256=0329a06b62cd"
	    "16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"));
	ck_assert(hmac_meta_verify("secret", "test", 4, "sha256=0329A06B62CD"
	    "16B33EB6792BE8C60B158D89A2EE3A876FCE9A881EBB488C0914"));
	ck_assert(!hmac_meta_verify("secret", "test", 4, "0329a06b62cd"
	    "16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"));
	ck_assert(!hmac_meta_verify("secret", "tesT", 4, "sha256=0329a06b62cd"
	    "16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"));
	ck_assert(!hmac_meta_verify("", "test", 4, "sha256=x"));
	ck_assert(!hmac_meta_verify("secret", "test", 4, NULL));
	ck_assert(hmac_kapso_verify("secret", "test", 4, "0329a06b62cd16b33e"
	    "b6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"));
	ck_assert(!hmac_kapso_verify("secret", "test", 4, "sha256=0329a06b62"
	    "cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"));
	ck_assert(!hmac_kapso_verify(NULL, "test", 4, "00"));
}
END_TEST

/* Joins the parts back and checks each fits and is valid UTF-8. */
static void
check_parts(const char *text, size_t limit, size_t expect_parts)
{
	struct split_part	 parts[64];
	size_t			 n = split_text(text, limit, parts, 64);

	ck_assert_uint_eq(n, expect_parts);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_le(split_units(text + parts[i].off,
		    parts[i].len), limit);
		ck_assert_uint_gt(parts[i].len, 0);
		ck_assert(utf8_valid(text + parts[i].off, parts[i].len));
	}
}

START_TEST(split_prefers_natural_boundaries)
{
	struct split_part	 p[8];
	const char		*t = "First paragraph here.\n\nSecond one is "
	    "longer. It has two sentences.";
	size_t			 n;

	n = split_text("short", 1600, p, 8);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(p[0].len, 5);
	n = split_text(t, 45, p, 8);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(strncmp(t + p[0].off, "First paragraph here.",
	    p[0].len), 0);
	ck_assert_uint_eq(p[0].len, 21);
	ck_assert_int_eq(strncmp(t + p[1].off, "Second one is longer. It "
	    "has two sentences.", p[1].len), 0);
	/* A sentence boundary beats a space. */
	n = split_text("One two three. Four five six seven", 20, p, 8);
	ck_assert_uint_eq(p[0].len, 14);
}
END_TEST

START_TEST(split_limits_and_emoji)
{
	char	*big = malloc(10001), *emoji;
	size_t	 n;

	for (int i = 0; i < 10000; i++)
		big[i] = (i % 7 == 6) ? ' ' : 'a';
	big[10000] = '\0';
	check_parts(big, 1600, 7);
	check_parts(big, 4096, 3);
	memset(big, 'x', 5000);		/* one enormous word */
	big[5000] = '\0';
	check_parts(big, 1600, 4);
	free(big);
	/* 1000 emoji = 2000 UTF-16 units: two parts at 1600. */
	emoji = malloc(4001);
	for (int i = 0; i < 1000; i++)
		memcpy(emoji + 4 * i, "\xf0\x9f\x98\x80", 4);
	emoji[4000] = '\0';
	n = split_units(emoji, 4000);
	ck_assert_uint_eq(n, 2000);
	check_parts(emoji, 1600, 2);
	free(emoji);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("wire");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, twilio_vectors);
	tcase_add_test(tc, twilio_verify_fails_closed);
	tcase_add_test(tc, twilio_sha256_vectors);
	tcase_add_test(tc, twilio_settings_header);
	tcase_add_test(tc, twilio_settings_fuzz);
	tcase_add_test(tc, meta_and_kapso);
	tcase_add_test(tc, split_prefers_natural_boundaries);
	tcase_add_test(tc, split_limits_and_emoji);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
