/*
 * Unit tests for crypto/redact.c: a secret is taken out of upstream text
 * as it is, percent-encoded, JSON-escaped, in base64 (both alphabets,
 * with and without padding), as a Basic pair, and when a cut left only
 * its beginning at the end of the text; short secrets, other text and
 * fixed buffers are handled as redact.h says. The expected encodings are
 * written out here (computed apart), not derived with the code under test.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/redact.h"
#include "unit.h"

#define KEY		"sk-echo/key?>>~1234567890=abc"
#define KEY_B64		"c2stZWNoby9rZXk/Pj5+MTIzNDU2Nzg5MD1hYmM="
#define KEY_B64URL	"c2stZWNoby9rZXk_Pj5-MTIzNDU2Nzg5MD1hYmM"
#define KEY_PCT		"sk-echo%2Fkey%3F%3E%3E~1234567890%3Dabc"
#define KEY_PCT_LOWER	"sk-echo%2fkey%3f%3e%3e~1234567890%3dabc"
#define KEY_JSON	"sk-echo\\/key?>>~1234567890=abc"
#define SID		"AC0123456789abcdef0123456789abcdef"
#define TOKEN		"tok-0123456789abcdef0123456789abcd"
#define PAIR_B64	"QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0b2st" \
			"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNk"

static void	 want(const struct redact *, const char *, const char *);

/* redact_dup(text) must be exactly expected. */
static void
want(const struct redact *rd, const char *text, const char *expected)
{
	char	*got = redact_dup(rd, text);

	ck_assert_msg(strcmp(got, expected) == 0, "redact(\"%s\"):\n got "
	    "\"%s\"\nwant \"%s\"", text, got, expected);
	free(got);
}

START_TEST(t_exact_and_encodings)
{
	struct redact	 rd;

	redact_init(&rd);
	redact_add(&rd, KEY);
	want(&rd, "Incorrect API key provided: " KEY ".",
	    "Incorrect API key provided: [redacted].");
	want(&rd, "Bearer " KEY " and again " KEY,
	    "Bearer [redacted] and again [redacted]");
	want(&rd, "GET /v1?key=" KEY_PCT " failed",
	    "GET /v1?key=[redacted] failed");
	want(&rd, "GET /v1?key=" KEY_PCT_LOWER, "GET /v1?key=[redacted]");
	want(&rd, "{\"key\":\"" KEY_JSON "\"}", "{\"key\":\"[redacted]\"}");
	want(&rd, "b64 " KEY_B64, "b64 [redacted]");
	/* At the start of a longer encoded value: the decided part goes. */
	want(&rd, "b64 c2stZWNoby9rZXk/Pj5+MTIzNDU2Nzg5MD1hYmMK",
	    "b64 [redacted]K");
	want(&rd, "b64url " KEY_B64URL " end", "b64url [redacted] end");
	/* Text without the secret comes back unchanged, UTF-8 and all. */
	want(&rd, "No key here \xe2\x80\x94 sk-echo.", "No key here "
	    "\xe2\x80\x94 sk-echo.");
	want(&rd, "", "");
	want(&rd, NULL, "");
	want(NULL, "anything " KEY, "anything " KEY);
}
END_TEST

START_TEST(t_basic_pair)
{
	struct redact	 rd;

	redact_init(&rd);
	redact_add_basic(&rd, SID, TOKEN);
	want(&rd, "Authorization: Basic " PAIR_B64 " was refused",
	    "Authorization: Basic [redacted] was refused");
	want(&rd, "bad credentials " SID ":" TOKEN,
	    "bad credentials [redacted]:[redacted]");
	/* The SID alone, in the path of a URL. */
	want(&rd, "/2010-04-01/Accounts/" SID "/Messages.json",
	    "/2010-04-01/Accounts/[redacted]/Messages.json");
}
END_TEST

START_TEST(t_cut_tail)
{
	struct redact	 rd;

	redact_init(&rd);
	redact_add(&rd, KEY);
	/* A copy into a small buffer cut the key: its start is redacted. */
	want(&rd, "Incorrect API key provided: sk-echo/k",
	    "Incorrect API key provided: [redacted]");
	/* Fewer than REDACT_MIN bytes say nothing: kept. */
	want(&rd, "ends with sk-", "ends with sk-");
	/* Only at the end: in the middle a prefix is just text. */
	want(&rd, "sk-echo/k is not the key", "sk-echo/k is not the key");
}
END_TEST

START_TEST(t_short_and_many)
{
	struct redact	 rd;

	redact_init(&rd);
	redact_add(&rd, "abc");		/* shorter than REDACT_MIN */
	redact_add(&rd, NULL);
	redact_add(&rd, "");
	redact_add(&rd, "wxyz1");
	redact_add(&rd, "wxyz1");	/* a repeat is ignored */
	ck_assert_int_eq(rd.n, 2);
	want(&rd, "abc abc wxyz1", "abc abc [redacted]");
	/* The longest match wins where two secrets start alike. */
	redact_add(&rd, "wxyz1-longer");
	want(&rd, "k=wxyz1-longer;", "k=[redacted];");
}
END_TEST

START_TEST(t_buf)
{
	struct redact	 rd;
	char		 b[24];

	redact_init(&rd);
	redact_add(&rd, "s3cr3t-value");
	strcpy(b, "key s3cr3t-value end");
	redact_buf(&rd, b, sizeof(b));
	ck_assert_str_eq(b, "key [redacted] end");
	/* A mark longer than the secret: cut to the buffer, never split. */
	redact_init(&rd);
	redact_add(&rd, "k1234");
	strcpy(b, "\xe2\x80\x94\xe2\x80\x94 k1234 k1234");
	redact_buf(&rd, b, sizeof(b));
	ck_assert_str_eq(b, "\xe2\x80\x94\xe2\x80\x94 [redacted] [reda");
	strcpy(b, "k1234k1234\xe2\x80\x94");
	redact_buf(&rd, b, 22);
	ck_assert_str_eq(b, "[redacted][redacted]");
}
END_TEST

static Suite *
redact_suite(void)
{
	Suite	*s = suite_create("redact");
	TCase	*tc = tcase_create("redact");

	tcase_add_test(tc, t_exact_and_encodings);
	tcase_add_test(tc, t_basic_pair);
	tcase_add_test(tc, t_cut_tail);
	tcase_add_test(tc, t_short_and_many);
	tcase_add_test(tc, t_buf);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(redact_suite());
}
