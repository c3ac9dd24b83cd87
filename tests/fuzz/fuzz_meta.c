/*
 * fuzz_meta: the Meta Cloud API webhook: the JSON body through the router
 * and webhook_meta_event (bounded parse, phone_number_id collection, the
 * signature check, the walk that turns a delivery into normalised
 * messages handed to ingest), and the GET subscription handshake. Input:
 * a flags byte, then the body. Flags: bit 0 sign the body with the
 * channel's secret (else a wrong signature); bit 1 the GET handshake with
 * the body as its query string.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hmac.h"
#include "fuzz/fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*headers[8];
	char		 hex[65], sig[80];
	char		*query;
	uint8_t		 flags;

	if (size < 1)
		return 0;
	flags = data[0];
	data++;
	size--;
	if (flags & 2) {
		query = malloc(size + 1);
		if (query == NULL)
			abort();
		memcpy(query, data, size);
		query[size] = '\0';
		if (strlen(query) == size)
			(void)fuzz_request("GET", "/webhooks/whatsapp/meta",
			    query, NULL, NULL, 0);
		free(query);
		return 0;
	}
	if (flags & 1)
		hmac_sha256_hex(FUZZ_SECRET, data, size, hex);
	else
		memset(hex, 'a', 64), hex[64] = '\0';
	snprintf(sig, sizeof(sig), "sha256=%s", hex);
	headers[0] = "Content-Type";
	headers[1] = "application/json";
	headers[2] = "X-Hub-Signature-256";
	headers[3] = sig;
	headers[4] = NULL;
	(void)fuzz_request("POST", "/webhooks/whatsapp/meta", "", headers,
	    data, size);
	return 0;
}
