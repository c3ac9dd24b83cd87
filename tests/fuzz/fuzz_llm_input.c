/*
 * fuzz_llm_input: the review's copy of what a model was given
 * (llm/input.h) on any JSON a client could send as messages (the
 * gateway records it for /v1/chat/completions too). Checks that no
 * data: URL survives and every kept text is within its cap. Input: the
 * JSON text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "llm/input.h"
#include "util/utf8.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void	 check(const cJSON *);

/* Every string within the cap and its note; no image URL a data: one. */
static void
check(const cJSON *j)
{
	const cJSON	*c;

	if (cJSON_IsString(j)) {
		size_t	 n = strlen(j->valuestring);

		if (j->string != NULL && strcmp(j->string, "url") == 0 &&
		    strncmp(j->valuestring, "data:", 5) == 0)
			abort();
		if (utf8_valid(j->valuestring, n) &&
		    utf8_count(j->valuestring, n) > LLM_INPUT_TEXT_MAX + 40)
			abort();
		return;
	}
	cJSON_ArrayForEach(c, j)
		check(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON	*in = cJSON_ParseWithLength((const char *)data, size);
	cJSON	*out = llm_input_for_review(in);
	char	*txt;

	check(out);
	if ((txt = cJSON_PrintUnformatted(out)) == NULL)
		abort();
	free(txt);
	cJSON_Delete(out);
	cJSON_Delete(in);
	return 0;
}
