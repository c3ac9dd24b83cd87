/*
 * fuzz_form: the form parsers (http/form.c): application/x-www-form-
 * urlencoded and multipart/form-data with the Content-Type (and its
 * boundary) from the input, and query strings. Input: the Content-Type up
 * to the first NUL, then the body. Every field that comes out must be a
 * whole string of the length it claims, text fields valid UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "http/form.h"
#include "util/arena.h"
#include "util/utf8.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct form *f)
{
	int64_t	 v;

	if (f->n < 0 || f->n > FORM_MAX_FIELDS)
		abort();
	for (int i = 0; i < f->n; i++) {
		const struct form_field	*fl = &f->fields[i];

		if (fl->name == NULL || fl->value == NULL ||
		    fl->value[fl->len] != '\0')
			abort();
		if (fl->filename == NULL &&
		    !utf8_valid(fl->value, fl->len))
			abort();
		if (!utf8_valid(fl->name, strlen(fl->name)))
			abort();
		(void)form_get_int64(f, fl->name, &v);
		(void)form_get_bool(f, fl->name);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena	*a = arena_new();
	struct form	*f = NULL;
	const uint8_t	*body;
	char		*ct;
	size_t		 len;

	fuzz_split(data, size, &ct, &body, &len);
	if (form_parse(a, ct, (const char *)body, len, &f) == FORM_OK)
		check(f);
	f = NULL;
	if (form_parse_urlencoded(a, (const char *)data, size, &f) == FORM_OK)
		check(f);
	(void)form_result_str(FORM_MALFORMED);
	arena_free(a);
	free(ct);
	return 0;
}
