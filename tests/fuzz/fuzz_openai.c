/*
 * fuzz_openai: the OpenAI-compatible request parser: POST
 * /v1/chat/completions bodies (messages of every role and content shape,
 * tool calls, stream, temperature, max_tokens…) through the router and
 * the real handler, which parses the whole request before it looks the
 * model up in the (absent) database.
 */
#include <stdint.h>

#include "fuzz/fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const	 headers[] = {
	"Content-Type", "application/json",
	"Authorization", "Bearer fuzz",
	NULL
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)fuzz_request("POST", "/v1/chat/completions", "", headers, data,
	    size);
	return 0;
}
