/*
 * chancache: the webhook hot path's view of channels. Every verified
 * delivery needs its channel (by Twilio number or Meta/Kapso number id)
 * and that channel's webhook secret; looking both up costs two round trips
 * per webhook, and marking the channel's last verified delivery a third.
 * Here they come from a small process-local table kept for a few seconds,
 * and the health mark is written at most once a minute per channel per
 * process (bench/README.md: the round trips, not the commits, limited
 * ingest).
 *
 * Consequence: a changed credential or a disabled channel takes effect on
 * webhooks within CHANCACHE_TTL_MS. Secrets in the table live in
 * libsodium's guarded memory and are wiped when dropped. Thread-safe.
 */
#ifndef PARLEY_WEBHOOKS_CHANCACHE_H
#define PARLEY_WEBHOOKS_CHANCACHE_H

#include "db/db.h"

struct req;
struct channel;

#define CHANCACHE_TTL_MS	5000

/*
 * The channel of kind ("twilio": key is the "+E164" number; "meta",
 * "kapso": key is the phone number id) and its webhook secret (Twilio's
 * Auth Token, Meta's app secret, Kapso's webhook secret; NULL when none
 * is stored), copied into r's arena (the secret is wiped with it).
 * DB_NOT_FOUND: no such channel; DB_UNAVAILABLE: database or key trouble.
 */
enum db_status	 chancache_get(struct req *r, const char *kind,
		    const char *key, struct channel *ch, char **secret)
		    __attribute__((warn_unused_result));
/* Records a verified delivery on the channel's health (throttled). */
void		 chancache_verified(struct req *r, const struct channel *ch);
/* Frees the table (process exit; tests). */
void		 chancache_clear(void);

#endif
