/*
 * Unit tests for util/: bounded buffers, arenas, strings, UTF-8 and URL
 * encoding, which every request passes through.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/url.h"
#include "util/utf8.h"

#include "unit/unit.h"

START_TEST(buf_limit_is_sticky)
{
	struct buf	 b;

	buf_init(&b, 8);
	buf_puts(&b, "12345");
	ck_assert(!b.err);
	buf_puts(&b, "6789");
	ck_assert(b.err);
	ck_assert_str_eq(buf_str(&b), "12345");
	buf_puts(&b, "x");
	ck_assert_str_eq(buf_str(&b), "12345");
	buf_cleanup(&b);
}
END_TEST

START_TEST(buf_printf_grows)
{
	struct buf	 b;

	buf_init(&b, 0);
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	ck_assert(!b.err);
	ck_assert(strncmp(buf_str(&b), "0,1,2,", 6) == 0);
	ck_assert_uint_eq(b.len, strlen(b.data));
	buf_cleanup(&b);
}
END_TEST

static int	 deferred_runs;
static void
count_defer(void *p)
{
	(void)p;
	deferred_runs++;
}

START_TEST(arena_large_and_deferred)
{
	struct arena	*a = arena_new();
	char		*big = arena_alloc(a, 100000);
	char		*s = arena_printf(a, "%s-%d", "x", 42);

	memset(big, 'a', 100000);
	ck_assert_str_eq(s, "x-42");
	ck_assert_str_eq(arena_strndup(a, "abcdef", 3), "abc");
	deferred_runs = 0;
	arena_defer(a, count_defer, NULL);
	arena_defer(a, count_defer, NULL);
	arena_free(a);
	ck_assert_int_eq(deferred_runs, 2);
}
END_TEST

START_TEST(str_helpers)
{
	char	 t[] = "  \tHello World \r\n";
	int64_t	 v;

	ck_assert_str_eq(str_trim(t), "Hello World");
	ck_assert_str_eq(str_lower(t), "hello world");
	ck_assert(str_to_i64("123", &v) && v == 123);
	ck_assert(str_to_i64("-5", &v) && v == -5);
	ck_assert(!str_to_i64("12a", &v));
	ck_assert(!str_to_i64("", &v));
	ck_assert(!str_to_i64(" 1", &v));
	ck_assert(!str_to_i64("99999999999999999999", &v));
	ck_assert(str_case_eq("ABC", "abc"));
	ck_assert(!str_case_eq("ABC", "abcd"));
	ck_assert(str_has_ctl("a\r\nb"));
	ck_assert(!str_has_ctl("plain value"));
}
END_TEST

START_TEST(utf8_validation)
{
	ck_assert(utf8_valid("hello", 5));
	ck_assert(utf8_valid("h\xc3\xa9llo \xe2\x8f\xb3 \xf0\x9f\x98\x80", 15));
	ck_assert(!utf8_valid("\xc3", 1));		/* truncated */
	ck_assert(!utf8_valid("\xc0\xaf", 2));		/* overlong '/' */
	ck_assert(!utf8_valid("\xed\xa0\x80", 3));	/* surrogate */
	ck_assert(!utf8_valid("\xf4\x90\x80\x80", 4));	/* > U+10FFFF */
	ck_assert(!utf8_valid("\xff", 1));
	ck_assert(!utf8_valid("a\0b", 3));		/* NUL byte */
	ck_assert_uint_eq(utf8_count("h\xc3\xa9", 3), 2);
}
END_TEST

START_TEST(url_codec)
{
	char		 out[64];
	size_t		 n;
	struct buf	 b;

	ck_assert(url_decode(out, "a%20b+c", 7, true, &n));
	ck_assert_str_eq(out, "a b c");
	ck_assert(url_decode(out, "a+b", 3, false, &n));
	ck_assert_str_eq(out, "a+b");
	ck_assert(!url_decode(out, "%4", 2, true, &n));
	ck_assert(!url_decode(out, "%zz", 3, true, &n));
	buf_init(&b, 0);
	url_encode(&b, "connect PRL-AB12 & ü/");
	ck_assert_str_eq(buf_str(&b), "connect%20PRL-AB12%20%26%20%C3%BC%2F");
	buf_cleanup(&b);
	ck_assert(url_is_local_path("/agents?x=1"));
	ck_assert(!url_is_local_path("//evil.com"));
	ck_assert(!url_is_local_path("/\\evil.com"));
	ck_assert(!url_is_local_path("https://evil.com"));
	ck_assert(!url_is_local_path("/a\r\nSet-Cookie: x"));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("util");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, buf_limit_is_sticky);
	tcase_add_test(tc, buf_printf_grows);
	tcase_add_test(tc, arena_large_and_deferred);
	tcase_add_test(tc, str_helpers);
	tcase_add_test(tc, utf8_validation);
	tcase_add_test(tc, url_codec);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
