/*
 * webhook: what every provider's webhook turns a request into, and the
 * shape of a provider module (STYLE.md §2: providers plug in through a
 * vtable). A provider first finds which channel the request is for (from
 * unverified routing fields only: Twilio's To, Meta's and Kapso's
 * phone_number_id), then verifies the signature with that channel's
 * secret, and only then parses the payload into normalised messages and
 * statuses, which webhooks/ingest.c stores.
 */
#ifndef PARLEY_WEBHOOKS_WEBHOOK_H
#define PARLEY_WEBHOOKS_WEBHOOK_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* One inbound WhatsApp message, normalised (strings in the request arena). */
struct inbound {
	const char	*provider_message_id;	/* SM…, wamid.…, sbx-… */
	const char	*chat_external_id;	/* DM: "+E164"; group: group id */
	bool		 is_group;
	const char	*group_name;		/* "" when unknown */
	const char	*sender;		/* "+E164" (or BSUID) */
	const char	*sender_name;		/* profile name, "" if none */
	const char	*type;			/* text|image|audio|video|
						   document|location|… */
	const char	*body;			/* text, caption or "" */
	cJSON		*media;			/* [{id?,url?,contentType,
						   caption?,voice?}] or NULL */
	const char	*transcript;		/* a voice note's words as the
						   provider sent them (Kapso),
						   NULL or "": none */
	int64_t		 timestamp;		/* Unix seconds, 0: now */
};

/* A delivery status of one of our outbound messages. */
struct status_update {
	const char	*provider_message_id;
	const char	*status;	/* sent|delivered|read|failed */
	const char	*error_code;	/* "" when none */
	const char	*error_text;	/* "" when none */
};

#endif
