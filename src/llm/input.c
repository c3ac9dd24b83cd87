/*
 * input: the review's copy of a model's input (see input.h).
 */
#include "llm/input.h"

#include <stdio.h>
#include <string.h>

#include "util/buf.h"
#include "util/str.h"
#include "util/utf8.h"

#define PLACEHOLDER_PREFIX	"[image: "

static cJSON	*text_cut(const char *);
static cJSON	*part_copy(const cJSON *);
static char	*image_placeholder(const char *, char *, size_t);

cJSON *
llm_input_for_review(const cJSON *messages)
{
	cJSON		*out = cJSON_CreateArray();
	const cJSON	*m, *part;
	int		 n = cJSON_GetArraySize(messages), skip, i = 0;

	if (!cJSON_IsArray(messages))
		return out;
	skip = n > LLM_INPUT_MESSAGES_MAX ? n - LLM_INPUT_MESSAGES_MAX : 0;
	cJSON_ArrayForEach(m, messages) {
		const cJSON	*role = cJSON_GetObjectItemCaseSensitive(m,
				    "role");
		const cJSON	*content = cJSON_GetObjectItemCaseSensitive(m,
				    "content");
		const cJSON	*calls = cJSON_GetObjectItemCaseSensitive(m,
				    "tool_calls");
		const char	*keep[] = { "name", "tool_call_id" };
		cJSON		*o, *arr;

		if (i++ < skip || !cJSON_IsObject(m))
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "role", cJSON_IsString(role) ?
		    role->valuestring : "");
		for (size_t k = 0; k < 2; k++) {
			const cJSON	*v = cJSON_GetObjectItemCaseSensitive(m,
					    keep[k]);

			if (cJSON_IsString(v))
				cJSON_AddItemToObject(o, keep[k],
				    text_cut(v->valuestring));
		}
		if (cJSON_IsString(content))
			cJSON_AddItemToObject(o, "content",
			    text_cut(content->valuestring));
		else if (cJSON_IsArray(content)) {
			arr = cJSON_AddArrayToObject(o, "content");
			cJSON_ArrayForEach(part, content)
				cJSON_AddItemToArray(arr, part_copy(part));
		} else
			cJSON_AddNullToObject(o, "content");
		if (cJSON_IsArray(calls)) {
			const cJSON	*c;

			arr = cJSON_AddArrayToObject(o, "tool_calls");
			cJSON_ArrayForEach(c, calls) {
				const cJSON	*nm = cJSON_GetObjectItemCaseSensitive(
						    cJSON_GetObjectItemCaseSensitive(c,
						    "function"), "name");

				cJSON_AddItemToArray(arr, text_cut(
				    cJSON_IsString(nm) ? nm->valuestring : ""));
			}
		}
		cJSON_AddItemToArray(out, o);
	}
	return out;
}

bool
llm_input_is_placeholder(const char *s)
{
	return s != NULL && str_starts_with(s, PLACEHOLDER_PREFIX);
}

/* s, or its first LLM_INPUT_TEXT_MAX characters and how many more. */
static cJSON *
text_cut(const char *s)
{
	struct buf	 b;
	size_t		 n = strlen(s), chars, off = 0, k = 0;
	cJSON		*v;

	chars = utf8_valid(s, n) ? utf8_count(s, n) : n;
	if (chars <= LLM_INPUT_TEXT_MAX)
		return cJSON_CreateString(s);
	/* The byte offset of character LLM_INPUT_TEXT_MAX. */
	while (off < n && k < LLM_INPUT_TEXT_MAX) {
		off++;
		while (off < n && ((unsigned char)s[off] & 0xC0) == 0x80)
			off++;
		k++;
	}
	off = utf8_cut(s, off);
	buf_init(&b, 0);
	buf_append(&b, s, off);
	buf_printf(&b, "\xe2\x80\xa6 [%zu more characters]",
	    chars - LLM_INPUT_TEXT_MAX);
	v = cJSON_CreateString(buf_str(&b));
	buf_cleanup(&b);
	return v;
}

/* A content part: text cut, an image's URL replaced (see input.h). */
static cJSON *
part_copy(const cJSON *part)
{
	const cJSON	*type = cJSON_GetObjectItemCaseSensitive(part, "type");
	const cJSON	*text = cJSON_GetObjectItemCaseSensitive(part, "text");
	const cJSON	*url = cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(part, "image_url"),
			    "url");
	cJSON		*o = cJSON_CreateObject(), *iu;
	char		 ph[200];

	cJSON_AddStringToObject(o, "type", cJSON_IsString(type) ?
	    type->valuestring : "");
	if (cJSON_IsString(text))
		cJSON_AddItemToObject(o, "text", text_cut(text->valuestring));
	if (cJSON_IsString(url)) {
		iu = cJSON_AddObjectToObject(o, "image_url");
		cJSON_AddStringToObject(iu, "url", image_placeholder(
		    url->valuestring, ph, sizeof(ph)));
	}
	return o;
}

/*
 * What is kept of an image URL: a data: URL becomes "[image: JPEG,
 * 34 KB, sent inline]" (the type's subtype, the decoded size); any other
 * URL loses its query and fragment (a signature), and is cut at 150
 * bytes.
 */
static char *
image_placeholder(const char *url, char *out, size_t outlen)
{
	if (str_starts_with(url, "data:")) {
		const char	*semi = strchr(url, ';');
		const char	*comma = strchr(url, ',');
		const char	*slash = strchr(url, '/');
		size_t		 b64 = comma != NULL ? strlen(comma + 1) : 0;
		size_t		 bytes = b64 / 4 * 3;
		char		 sub[16] = "";
		size_t		 k = 0;

		if (slash != NULL && (semi == NULL || slash < semi))
			for (const char *p = slash + 1; *p != '\0' &&
			    *p != ';' && *p != ',' && k + 1 < sizeof(sub); p++)
				sub[k++] = (char)(*p >= 'a' && *p <= 'z' ?
				    *p - 'a' + 'A' : *p);
		sub[k] = '\0';
		snprintf(out, outlen, PLACEHOLDER_PREFIX "%s%s%zu KB, sent "
		    "inline]", sub, k > 0 ? ", " : "", (bytes + 1023) / 1024);
		return out;
	}
	{
		size_t	 n = strcspn(url, "?#");

		if (n > 150)
			n = utf8_cut(url, 150);
		snprintf(out, outlen, "%.*s", (int)n, url);
	}
	return out;
}
