/*
 * Unit tests for the wire-level pieces of the WhatsApp providers: webhook
 * signatures (Twilio HMAC-SHA1 with the vectors from Twilio's docs, Meta
 * and Kapso HMAC-SHA256) and splitting long replies to provider limits.
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
	tcase_add_test(tc, meta_and_kapso);
	tcase_add_test(tc, split_prefers_natural_boundaries);
	tcase_add_test(tc, split_limits_and_emoji);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
