/*
 * fuzz_api_json: JSON API bodies. The body goes to one of the routes the
 * route table marks R_JSON (chosen by the first byte), with a token, so
 * the router's body checks run (content type, UTF-8, the bounded JSON
 * parse, "must be an object") and then the route's real handler, up to
 * where it needs the (absent) database. The bounded parser is also
 * checked against itself: a tree it accepts prints to JSON it accepts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "fuzz/fuzz.h"
#include "http/router.h"
#include "util/json.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const	 headers[] = {
	"Content-Type", "application/json",
	"Authorization", "Bearer fuzz",
	NULL
};

static char *
route_path(const char *pattern)
{
	char	*out = malloc(strlen(pattern) + 1), *o = out;

	if (out == NULL)
		abort();
	for (const char *p = pattern; *p != '\0'; p++) {
		if (*p == '{') {
			*o++ = '1';
			p = strchr(p, '}');
		} else
			*o++ = *p;
	}
	*o = '\0';
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct route	*json[64];
	enum json_error		 e;
	cJSON			*j, *j2;
	char			*s, *path;
	int			 n = 0;

	if (size < 1)
		return 0;
	for (int i = 0; i < app_n_routes && n < 64; i++)
		if (app_routes[i].flags & R_JSON)
			json[n++] = &app_routes[i];
	if (n == 0)
		abort();

	j = json_parse((const char *)data + 1, size - 1, &e);
	if ((j == NULL) != (e != JSON_OK))
		abort();
	if (j != NULL) {
		s = cJSON_PrintUnformatted(j);
		if (s == NULL || (j2 = json_parse_str(s, NULL)) == NULL)
			abort();
		cJSON_Delete(j2);
		cJSON_free(s);
		cJSON_Delete(j);
	}

	(void)fuzz_app();
	path = route_path(json[data[0] % n]->pattern);
	(void)fuzz_request(json[data[0] % n]->method, path, "", headers,
	    data + 1, size - 1);
	free(path);
	return 0;
}
