/*
 * Unit tests for chat/texts: the default wording (pinned byte for byte:
 * it is the product's behaviour), overrides, substitution and the
 * fall-backs for anything malformed.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "chat/texts.h"

#include "unit/unit.h"

static void	 expect(enum chat_text, const char *, const struct text_vars *,
		    const char *);

static void
expect(enum chat_text t, const char *overrides, const struct text_vars *v,
    const char *want)
{
	char	*got = chat_text_render(t, overrides, v);

	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
	free(got);
}

START_TEST(defaults_exact)
{
	struct text_vars	 v = { .agent = "Sales", .old_agent = "Sales",
				    .new_agent = "Support", .product = "Acme",
				    .minutes = 15 };

	expect(TEXT_CONNECTED, NULL, &v,
	    "Connected to 'Sales'. Send a message to start.");
	expect(TEXT_SWITCHED, "{}", &v, "Switched from 'Sales' to 'Support'.");
	expect(TEXT_INVALID_FORMAT, NULL, &v, "Invalid connect code format.");
	expect(TEXT_INVALID_CODE, NULL, &v, "That connect code is invalid or "
	    "has expired. Generate a new one and try again.");
	expect(TEXT_TOO_MANY, NULL, &v, "Too many failed connect codes from "
	    "this chat. Try again in 15 minutes.");
	expect(TEXT_RESET, NULL, &v, "Session reset! Starting fresh with Sales.");
	expect(TEXT_WELCOME, NULL, &v, "Welcome to Acme! To get started, "
	    "please send your connect code.");
	expect(TEXT_BUSY, NULL, &v,
	    "Got it \xe2\x80\x94 I'm still working on your earlier message "
	    "and will answer this too.");
	expect(TEXT_NOT_ALLOWED, NULL, &v, "This operation not allowed");
	expect(TEXT_UNSUPPORTED, NULL, &v, "Sorry, I can't read that kind of "
	    "message. Could you send it as text?");
	expect(TEXT_SLOW, NULL, &v, "This is taking longer than usual "
	    "\xe2\x80\x94 I'll answer as soon as I can.");
	expect(TEXT_HANDOFF, NULL, &v,
	    "Thanks \xe2\x80\x94 a person from our team will reply here "
	    "shortly.");
	ck_assert_str_eq(chat_text_default(TEXT_WELCOME), "Welcome to "
	    "{product}! To get started, please send your connect code.");
}
END_TEST

START_TEST(keys)
{
	static const char *const	 want[TEXT_COUNT] = {
		"connected", "switched", "invalid_format", "invalid_code",
		"too_many", "reset", "welcome", "busy", "not_allowed",
		"handoff", "unsupported", "slow", "returned", "no_vision",
	};

	for (int t = 0; t < TEXT_COUNT; t++) {
		ck_assert_str_eq(chat_text_key((enum chat_text)t), want[t]);
		ck_assert_ptr_nonnull(chat_text_default((enum chat_text)t));
	}
	ck_assert_ptr_null(chat_text_key(TEXT_COUNT));
	ck_assert_ptr_null(chat_text_default(TEXT_COUNT));
}
END_TEST

START_TEST(overrides)
{
	struct text_vars	 v = { .agent = "Bot", .product = "Acme" };
	const char		*o = "{\"welcome\":\"Hola, {product}! "
				    "Código?\",\"reset\":\"\","
				    "\"busy\":42,\"connected\":\"Hi {agent}\"}";

	expect(TEXT_WELCOME, o, &v, "Hola, Acme! Código?");
	expect(TEXT_CONNECTED, o, &v, "Hi Bot");
	/* Empty and non-string values use the default. */
	expect(TEXT_RESET, o, &v, "Session reset! Starting fresh with Bot.");
	expect(TEXT_BUSY, o, &v,
	    "Got it \xe2\x80\x94 I'm still working on your earlier message "
	    "and will answer this too.");
	/* Another text's override changes nothing. */
	expect(TEXT_NOT_ALLOWED, o, &v, "This operation not allowed");
}
END_TEST

START_TEST(substitution)
{
	struct text_vars	 v = { .agent = "A", .old_agent = "O",
				    .new_agent = "N", .product = "P",
				    .minutes = 7 };

	expect(TEXT_BUSY, "{\"busy\":\"{agent}{old}{new}{product}{minutes}\"}",
	    &v, "AONP7");
	expect(TEXT_BUSY, "{\"busy\":\"{agent} and {agent}\"}", &v, "A and A");
	/* Unknown names, stray and nested braces stay as written. */
	expect(TEXT_BUSY, "{\"busy\":\"{x} {{agent}} {agent {} }{ {\"}",
	    &v, "{x} {A} {agent {} }{ {");
	/* No Mustache: its syntax is plain text here. */
	expect(TEXT_BUSY, "{\"busy\":\"{{#a}}<b>&{{/a}}\"}", &v,
	    "{{#a}}<b>&{{/a}}");
	/* Values are not themselves expanded. */
	v.agent = "{product}";
	expect(TEXT_RESET, NULL, &v,
	    "Session reset! Starting fresh with {product}.");
	/* NULL values and NULL vars: empty, 0 minutes. */
	expect(TEXT_SWITCHED, NULL, NULL, "Switched from '' to ''.");
	expect(TEXT_TOO_MANY, NULL, NULL, "Too many failed connect codes from "
	    "this chat. Try again in 0 minutes.");
}
END_TEST

START_TEST(bad_json)
{
	static const char *const	 bad[] = {
		"", "{", "not json", "[\"welcome\"]", "\"welcome\"", "null",
		"{\"welcome\":null}", "{\"welcome\":[\"x\"]}",
		"{\"welcome\":{\"a\":\"b\"}}",
	};
	struct text_vars		 v = { .product = "Acme" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect(TEXT_WELCOME, bad[i], &v, "Welcome to Acme! To get "
		    "started, please send your connect code.");
}
END_TEST

START_TEST(bounded)
{
	struct text_vars	 v = { 0 };
	char			*big, *json, *got;
	size_t			 n = 3000, off;

	/* 3000 × "é{agent}" with a 100-byte agent name: far past 4096. */
	big = malloc(n * 2 + 100 + 1);
	memset(big, 'x', 100);
	big[100] = '\0';
	v.agent = big;
	json = malloc(n * 9 + 32);
	memcpy(json, "{\"busy\":\"", 9);
	off = 9;
	for (size_t i = 0; i < n; i++, off += 9)
		memcpy(json + off, "\xc3\xa9{agent}", 9);
	memcpy(json + off, "\"}", 3);
	got = chat_text_render(TEXT_BUSY, json, &v);
	ck_assert_uint_le(strlen(got), 4096);
	ck_assert_uint_ge(strlen(got), 4000);
	/* Never half a character at the end. */
	ck_assert((got[strlen(got) - 1] & 0xc0) != 0xc0);
	free(got);
	free(json);
	free(big);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("texts");
	TCase	*tc = tcase_create("texts");

	tcase_add_test(tc, defaults_exact);
	tcase_add_test(tc, keys);
	tcase_add_test(tc, overrides);
	tcase_add_test(tc, substitution);
	tcase_add_test(tc, bad_json);
	tcase_add_test(tc, bounded);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
