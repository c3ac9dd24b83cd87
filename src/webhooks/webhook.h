/*
 * webhook: what every provider's webhook turns a request into, and the
 * shape of a provider module (STYLE.md §2: providers plug in through a
 * vtable). A provider first finds which channel the request is for (from
 * unverified routing fields only: Twilio's To, Meta's and Kapso's
 * phone_number_id), then verifies the signature with that channel's
 * secret, and only then parses the payload into normalised messages and
 * statuses; chat/ingest.c stores the messages.
 */
#ifndef PARLEY_WEBHOOKS_WEBHOOK_H
#define PARLEY_WEBHOOKS_WEBHOOK_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "chat/ingest.h"	/* struct inbound */

/* A delivery status of one of our outbound messages. */
struct status_update {
	const char	*provider_message_id;
	const char	*status;	/* sent|delivered|read|failed */
	const char	*error_code;	/* "" when none */
	const char	*error_text;	/* "" when none */
};

#endif
