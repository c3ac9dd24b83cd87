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
 * A Twilio entry also holds the channel's Webhook Shared Keys (ids and
 * secrets), loaded with it.
 *
 * Consequence: a changed credential or a disabled channel takes effect on
 * webhooks within CHANCACHE_TTL_MS (so does an added or removed shared
 * key). Secrets in the table live in
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
/* One Twilio Webhook Shared Key, as chancache_get_twilio gives it. */
struct chancache_key {
	const char	*key_id;
	const char	*secret;	/* wiped with the request arena */
};

/*
 * chancache_get for a Twilio number ("+E164"), also giving the channel's
 * shared keys: *keys is an arena array of *n_keys (NULL and 0 when none).
 */
enum db_status	 chancache_get_twilio(struct req *r, const char *number,
		    struct channel *ch, char **token,
		    struct chancache_key **keys, int *n_keys)
		    __attribute__((warn_unused_result));
/* Records a verified delivery on the channel's health (throttled). */
void		 chancache_verified(struct req *r, const struct channel *ch);
/* Frees the table (process exit; tests). */
void		 chancache_clear(void);

#endif
