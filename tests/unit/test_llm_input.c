/*
 * Unit tests for llm/input: the review's copy of what a model was given
 * keeps no image bytes and no URL signature, cuts long texts at a
 * character boundary, and copes with anything a client sends.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "llm/input.h"
#include "util/buf.h"
#include "util/json.h"

#include "unit/unit.h"

static cJSON	*review_of(const char *);

/* llm_input_for_review of the JSON text messages. */
static cJSON *
review_of(const char *messages)
{
	cJSON	*in = json_parse_str(messages, NULL), *out;

	ck_assert_ptr_nonnull(in);
	out = llm_input_for_review(in);
	cJSON_Delete(in);
	return out;
}

START_TEST(images_become_placeholders)
{
	struct buf	 b;
	cJSON		*out;
	const cJSON	*parts;
	char		*txt;

	buf_init(&b, 0);
	buf_puts(&b, "[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
	    "\"text\":\"[image] What is it?\"},{\"type\":\"image_url\","
	    "\"image_url\":{\"url\":\"data:image/jpeg;base64,");
	for (int i = 0; i < 40000; i++)	/* 160,000 characters: 120,000 B */
		buf_puts(&b, "/9j/");
	buf_puts(&b, "\"}},{\"type\":\"image_url\",\"image_url\":{\"url\":"
	    "\"https://parley.example/m/1/2/0/vision?exp=1&sig=abcdef\"}}]}]");
	out = review_of(buf_str(&b));
	parts = cJSON_GetObjectItem(cJSON_GetArrayItem(out, 0), "content");
	ck_assert_int_eq(cJSON_GetArraySize(parts), 3);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(parts, 0),
	    "text")->valuestring, "[image] What is it?");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(parts, 1), "image_url"), "url")->valuestring,
	    "[image: JPEG, 118 KB, sent inline]");
	ck_assert(llm_input_is_placeholder("[image: JPEG, 118 KB, sent "
	    "inline]"));
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(parts, 2), "image_url"), "url")->valuestring,
	    "https://parley.example/m/1/2/0/vision");
	txt = cJSON_PrintUnformatted(out);
	ck_assert_uint_lt(strlen(txt), 1000);
	ck_assert_ptr_null(strstr(txt, "sig="));
	free(txt);
	cJSON_Delete(out);
	buf_cleanup(&b);
}
END_TEST

START_TEST(long_text_cut_on_a_character)
{
	struct buf	 b;
	cJSON		*out;
	const char	*c;

	buf_init(&b, 0);
	buf_puts(&b, "[{\"role\":\"system\",\"content\":\"");
	for (int i = 0; i < 1500; i++)
		buf_puts(&b, "\xc3\xa9");	/* é: two bytes */
	buf_puts(&b, "\"},{\"role\":\"assistant\",\"content\":null,"
	    "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
	    "\"function\":{\"name\":\"time_now\",\"arguments\":\"{}\"}}]},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"12:00\"}]");
	out = review_of(buf_str(&b));
	ck_assert_int_eq(cJSON_GetArraySize(out), 3);
	c = cJSON_GetObjectItem(cJSON_GetArrayItem(out, 0), "content")
	    ->valuestring;
	/* 1000 characters (2000 bytes), then the note. */
	ck_assert_int_eq(strncmp(c + 1998, "\xc3\xa9\xe2\x80\xa6 [500 more "
	    "characters]", 23), 0);
	ck_assert_uint_eq(strlen(c), 2000 + strlen("\xe2\x80\xa6 [500 more "
	    "characters]"));
	ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(out, 1), "tool_calls"), 0)->valuestring,
	    "time_now");
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(out, 1),
	    "content")));
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(out, 2),
	    "tool_call_id")->valuestring, "c1");
	cJSON_Delete(out);
	buf_cleanup(&b);
}
END_TEST

START_TEST(odd_input)
{
	const char	*odd[] = { "{}", "[]", "[1,\"x\",null]",
			    "[{\"content\":[1,{\"image_url\":{\"url\":"
			    "\"data:,\"}},{\"image_url\":7}]}]",
			    "[{\"role\":5,\"content\":{}}]" };
	cJSON		*out;
	char		*txt;

	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		out = review_of(odd[i]);
		ck_assert(cJSON_IsArray(out));
		txt = cJSON_PrintUnformatted(out);
		ck_assert_ptr_nonnull(txt);
		free(txt);
		cJSON_Delete(out);
	}
	out = review_of("[{\"role\":\"user\",\"content\":[{\"type\":"
	    "\"image_url\",\"image_url\":{\"url\":\"data:,\"}}]}]");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(out, 0),
	    "content"), 0), "image_url"), "url")->valuestring,
	    "[image: 0 KB, sent inline]");
	cJSON_Delete(out);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("llm_input");
	TCase	*tc = tcase_create("llm_input");

	tcase_add_test(tc, images_become_placeholders);
	tcase_add_test(tc, long_text_cut_on_a_character);
	tcase_add_test(tc, odd_input);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
