/*
 * Unit tests for util/json.c: the depth scan and the bounded parse every
 * JSON from outside goes through (issue 10, defect 1).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

#include "unit/unit.h"

/* n opening brackets (or {"a": for objects), a 1, then the closers. */
static char *
nested(int n, bool objects)
{
	size_t	 cap = (size_t)n * 6 + 8, len = 0;
	char	*s = malloc(cap);

	ck_assert_ptr_nonnull(s);
	for (int i = 0; i < n; i++) {
		const char	*open = objects ? "{\"a\":" : "[";

		memcpy(s + len, open, strlen(open));
		len += strlen(open);
	}
	s[len++] = '1';
	for (int i = 0; i < n; i++)
		s[len++] = objects ? '}' : ']';
	s[len] = '\0';
	return s;
}

START_TEST(depth_bound)
{
	enum json_error	 e;
	cJSON		*j;
	char		*s;

	s = nested(JSON_MAX_DEPTH, false);
	j = json_parse(s, strlen(s), &e);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(e, JSON_OK);
	cJSON_Delete(j);
	free(s);

	s = nested(JSON_MAX_DEPTH + 1, false);
	ck_assert_ptr_null(json_parse(s, strlen(s), &e));
	ck_assert_int_eq(e, JSON_TOO_DEEP);
	free(s);

	/* The crash of issue 10: 800 '[' then 800 ']'; and 999 objects. */
	s = nested(800, false);
	ck_assert_ptr_null(json_parse(s, strlen(s), &e));
	ck_assert_int_eq(e, JSON_TOO_DEEP);
	free(s);
	s = nested(999, true);
	ck_assert_ptr_null(json_parse_str(s, &e));
	ck_assert_int_eq(e, JSON_TOO_DEEP);
	free(s);

	/* Unclosed brackets count too: cJSON would recurse into them. */
	s = malloc(100001);
	memset(s, '[', 100000);
	s[100000] = '\0';
	ck_assert(!json_depth_ok(s, 100000, JSON_MAX_DEPTH));
	free(s);
}
END_TEST

START_TEST(strings_do_not_count)
{
	enum json_error	 e;
	char		 s[1024];
	size_t		 n = 0;
	cJSON		*j;

	/* 200 brackets inside a string, with escaped quotes among them. */
	s[n++] = '{';
	memcpy(s + n, "\"k\":\"", 5);
	n += 5;
	for (int i = 0; i < 100; i++) {
		memcpy(s + n, "[\\\"{", 4);
		n += 4;
	}
	memcpy(s + n, "\\\\\"}", 4);
	n += 4;
	s[n] = '\0';
	ck_assert(json_depth_ok(s, n, 2));
	j = json_parse(s, n, &e);
	ck_assert_ptr_nonnull(j);
	ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "k")));
	cJSON_Delete(j);

	/* An escaped backslash before a quote ends the string there. */
	ck_assert(!json_depth_ok("[\"\\\\\" [[", 8, 2));
	ck_assert(json_depth_ok("[\"\\\" [[\"]", 9, 1));
}
END_TEST

START_TEST(one_value_only)
{
	enum json_error	 e;
	cJSON		*j;

	j = json_parse(" {\"a\":[1,2]}\r\n\t ", 16, &e);
	ck_assert_ptr_nonnull(j);
	cJSON_Delete(j);
	/* Not NUL-terminated: only len bytes are read. */
	j = json_parse("[1]xyz", 3, &e);
	ck_assert_ptr_nonnull(j);
	cJSON_Delete(j);

	ck_assert_ptr_null(json_parse("{} {}", 5, &e));
	ck_assert_int_eq(e, JSON_INVALID);
	ck_assert_ptr_null(json_parse("{}x", 3, &e));
	ck_assert_int_eq(e, JSON_INVALID);
	ck_assert_ptr_null(json_parse("{\"a\":", 5, &e));
	ck_assert_int_eq(e, JSON_INVALID);
	ck_assert_ptr_null(json_parse("   ", 3, &e));
	ck_assert_int_eq(e, JSON_EMPTY);
	ck_assert_ptr_null(json_parse_str(NULL, &e));
	ck_assert_int_eq(e, JSON_EMPTY);
	ck_assert_ptr_null(json_parse_str("", NULL));
	ck_assert_str_eq(json_error_str(JSON_TOO_DEEP), "The body nests arrays "
	    "and objects deeper than 64 levels.");
}
END_TEST

/* Numbers outside int64 are refused, not cast (undefined behaviour). */
START_TEST(int64_range)
{
	cJSON	*j = json_parse_str("[1e300,-1e300,1e999,9223372036854775807,"
		    "-9223372036854775808,1765080000,12.9,\"7\",null]", NULL);
	int64_t	 v = 42;

	ck_assert_ptr_nonnull(j);
	ck_assert(!json_int64(cJSON_GetArrayItem(j, 0), &v));
	ck_assert(!json_int64(cJSON_GetArrayItem(j, 1), &v));
	ck_assert(!json_int64(cJSON_GetArrayItem(j, 2), &v));
	/* 2^63-1 is not a double: it rounds up to 2^63, out of range. */
	ck_assert(!json_int64(cJSON_GetArrayItem(j, 3), &v));
	ck_assert(json_int64(cJSON_GetArrayItem(j, 4), &v));
	ck_assert(v == INT64_MIN);
	ck_assert(json_int64(cJSON_GetArrayItem(j, 5), &v));
	ck_assert_int_eq(v, 1765080000);
	ck_assert(json_int64(cJSON_GetArrayItem(j, 6), &v));
	ck_assert_int_eq(v, 12);
	ck_assert(!json_int64(cJSON_GetArrayItem(j, 7), &v));
	ck_assert(!json_int64(cJSON_GetArrayItem(j, 8), &v));
	ck_assert(!json_int64(NULL, &v));
	cJSON_Delete(j);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("json");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, depth_bound);
	tcase_add_test(tc, strings_do_not_count);
	tcase_add_test(tc, one_value_only);
	tcase_add_test(tc, int64_range);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
