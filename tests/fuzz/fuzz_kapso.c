/*
 * fuzz_kapso: Kapso's message webhook (v1, v2 and batched payloads, every
 * event) and its project webhook, through the router and the real
 * handlers. Input: a flags byte, then the X-Webhook-Event value up to the
 * first NUL, then the body. Flags: bit 0 sign the body with the channel's
 * secret; bit 1 the project webhook; bit 2 send no event header.
 */
#include <stdint.h>
#include <stdlib.h>

#include "crypto/hmac.h"
#include "fuzz/fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*headers[10];
	const uint8_t	*body;
	char		 hex[65];
	char		*event;
	size_t		 len;
	uint8_t		 flags;
	int		 h = 0;

	if (size < 1)
		return 0;
	flags = data[0];
	fuzz_split(data + 1, size - 1, &event, &body, &len);
	if (flags & 1)
		hmac_sha256_hex(FUZZ_SECRET, body, len, hex);
	else
		hmac_sha256_hex("not the secret", body, len, hex);
	headers[h++] = "Content-Type";
	headers[h++] = "application/json";
	headers[h++] = "X-Webhook-Signature";
	headers[h++] = hex;
	if (!(flags & 4)) {
		headers[h++] = "X-Webhook-Event";
		headers[h++] = event;
	}
	headers[h] = NULL;
	(void)fuzz_request("POST", (flags & 2) ? "/webhooks/kapso/project" :
	    "/webhooks/whatsapp/kapso", "", headers, body, len);
	free(event);
	return 0;
}
