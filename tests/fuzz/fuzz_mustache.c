/*
 * fuzz_mustache: the Mustache engine (tmpl/mustache.c): compile a
 * template and a partial from the input and render them, as HTML and as
 * text, with a JSON context from the input. Agents' system prompts are
 * templates admins write, rendered for every reply. Input: the template,
 * NUL, the partial "p", NUL, the context JSON.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "tmpl/tmpl.h"
#include "util/json.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tmpl_set	*set = tmpl_set_new();
	const uint8_t	*rest, *ctx;
	char		*src, *partial, *out, err[256];
	size_t		 rest_len, ctx_len, len;
	cJSON		*data_json;
	bool		 ok;

	fuzz_split(data, size, &src, &rest, &rest_len);
	fuzz_split(rest, rest_len, &partial, &ctx, &ctx_len);
	data_json = json_parse((const char *)ctx, ctx_len, NULL);
	if (data_json == NULL)
		data_json = cJSON_CreateObject();
	(void)tmpl_set_add(set, "p", partial, strlen(partial), err,
	    sizeof(err));
	ok = tmpl_set_add(set, "main", src, strlen(src), err, sizeof(err));
	if (!ok && memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if (ok) {
		if (!tmpl_set_has(set, "main"))
			abort();
		/* NULL: a render bound was hit (mustache.c: depth, steps,
		 * size), which callers handle; else a whole string. */
		out = tmpl_render(set, "main", data_json, &len);
		if (out != NULL && strlen(out) != len)
			abort();
		free(out);
		out = tmpl_render_text(set, "main", data_json, &len);
		if (out != NULL && strlen(out) != len)
			abort();
		free(out);
	}
	cJSON_Delete(data_json);
	tmpl_set_free(set);
	free(src);
	free(partial);
	return 0;
}
