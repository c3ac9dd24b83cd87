/*
 * fuzz_twilio: Twilio's inbound and status webhooks (form body, URL and
 * X-Twilio-Signature) through the router and the real handler. Input: a
 * flags byte, then the query string up to the first NUL, then the body.
 * Flags: bit 0 the status callback; bit 1 sign correctly (so the parser
 * after the signature check is reached); bit 2 no Content-Type; bit 3 a
 * garbage signature.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hmac.h"
#include "fuzz/fuzz.h"
#include "http/form.h"
#include "util/arena.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char		*path, *headers[8];
	const uint8_t		*body;
	char			*query, *url, sig[29];
	size_t			 len;
	uint8_t			 flags;
	struct arena		*a;
	struct form		*f = NULL;
	struct twilio_param	*params;
	int			 h = 0;

	if (size < 1)
		return 0;
	flags = data[0];
	fuzz_split(data + 1, size - 1, &query, &body, &len);
	path = (flags & 1) ? "/webhooks/whatsapp/twilio/status" :
	    "/webhooks/whatsapp/twilio";
	sig[0] = '\0';
	a = arena_new();
	if ((flags & 2) && form_parse_urlencoded(a, (const char *)body, len,
	    &f) == FORM_OK) {
		/* Sign as Twilio does: URL (with query) + sorted params. */
		params = arena_alloc(a, sizeof(*params) * (size_t)(f->n + 1));
		for (int i = 0; i < f->n; i++) {
			params[i].name = f->fields[i].name;
			params[i].value = f->fields[i].value;
		}
		url = *query != '\0' ? arena_printf(a, "%s%s?%s",
		    FUZZ_PUBLIC_URL, path, query) : arena_printf(a, "%s%s",
		    FUZZ_PUBLIC_URL, path);
		hmac_twilio_sign(FUZZ_SECRET, url, params, (size_t)f->n, sig);
	} else if (flags & 8)
		memcpy(sig, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", 29);
	if (!(flags & 4)) {
		headers[h++] = "Content-Type";
		headers[h++] = "application/x-www-form-urlencoded";
	}
	if (sig[0] != '\0') {
		headers[h++] = "X-Twilio-Signature";
		headers[h++] = sig;
	}
	headers[h] = NULL;
	(void)fuzz_request("POST", path, query, headers, body, len);
	arena_free(a);
	free(query);
	return 0;
}
