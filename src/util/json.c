/*
 * json: bounded JSON parsing (see json.h).
 */
#include "util/json.h"

#include <string.h>

#define STR_(x)	#x
#define STR(x)	STR_(x)

static bool	is_space(char);

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool
json_depth_ok(const char *s, size_t len, int max_depth)
{
	int	 depth = 0;
	bool	 in_string = false;

	for (size_t i = 0; i < len; i++) {
		char	 c = s[i];

		if (in_string) {
			if (c == '\\')
				i++;	/* the escaped byte cannot end it */
			else if (c == '"')
				in_string = false;
			continue;
		}
		switch (c) {
		case '"':
			in_string = true;
			break;
		case '[':
		case '{':
			if (++depth > max_depth)
				return false;
			break;
		case ']':
		case '}':
			/* Unbalanced closers are cJSON's to refuse. */
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
	}
	return true;
}

cJSON *
json_parse(const char *s, size_t len, enum json_error *err)
{
	const char	*end = NULL;
	enum json_error	 e = JSON_OK;
	cJSON		*root = NULL;
	size_t		 i = 0;

	while (s != NULL && i < len && is_space(s[i]))
		i++;
	if (s == NULL || i == len) {
		e = JSON_EMPTY;
		goto out;
	}
	if (!json_depth_ok(s, len, JSON_MAX_DEPTH)) {
		e = JSON_TOO_DEEP;
		goto out;
	}
	root = cJSON_ParseWithLengthOpts(s, len, &end, 0);
	if (root == NULL || end == NULL || end < s || end > s + len) {
		e = JSON_INVALID;
		goto out;
	}
	/* One value: only white space may follow it (cJSON stops there). */
	for (; end < s + len; end++) {
		if (!is_space(*end)) {
			e = JSON_INVALID;
			goto out;
		}
	}
out:
	if (e != JSON_OK) {
		cJSON_Delete(root);
		root = NULL;
	}
	if (err != NULL)
		*err = e;
	return root;
}

cJSON *
json_parse_str(const char *s, enum json_error *err)
{
	return json_parse(s, s != NULL ? strlen(s) : 0, err);
}

bool
json_int64(const cJSON *v, int64_t *out)
{
	/* 2^63 exactly: the doubles below it all fit; NaN fails both. */
	const double	 lim = 9223372036854775808.0;

	if (!cJSON_IsNumber(v) || !(v->valuedouble >= -lim &&
	    v->valuedouble < lim))
		return false;
	*out = (int64_t)v->valuedouble;
	return true;
}

const char *
json_error_str(enum json_error err)
{
	switch (err) {
	case JSON_OK:
		return "valid JSON";
	case JSON_EMPTY:
		return "The body is empty.";
	case JSON_TOO_DEEP:
		return "The body nests arrays and objects deeper than "
		    STR(JSON_MAX_DEPTH) " levels.";
	case JSON_INVALID:
	default:
		return "The body is not valid JSON.";
	}
}

const char *
json_str_or(const cJSON *o, const char *name, const char *dflt)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) && v->valuestring != NULL ? v->valuestring :
	    dflt;
}
