/*
 * channel: an organisation's WhatsApp senders (owns tables `channels` and
 * `webhook_events`). A channel is one sender of one provider: twilio
 * (sender whatsapp:+E164, Account SID + Auth Token), meta (phone number
 * id, display number, access token, app secret, verify token), kapso
 * (phone number id, API key, webhook secret) or sandbox (one per org, no
 * credentials). Credentials are sealed with crypto/secret.c (AD
 * "channels.<column>#<id>") and leave only as masked hints. The Twilio SID
 * and token change together or not at all. A Twilio channel may also hold
 * Webhook Shared Keys (table `channel_shared_keys`, see below).
 *
 * Webhooks find their channel across organisations by the provider's
 * routing key (functions named *_any_org); everything else names org_id.
 *
 * Where a credential goes is not a channel's to choose: every provider
 * API root comes from the operator's environment (PARLEY_TWILIO_API_BASE,
 * PARLEY_META_GRAPH_BASE, PARLEY_KAPSO_API_BASE; channels/channel.h), and
 * the fields a row holds (number, phone number id, Account SID) only name
 * the sender within that provider. So unlike a provider's base URL
 * (model/provider.h) no edit of a channel can send a stored credential to
 * another host, and none needs the credential again.
 *
 * Changes are audited here, by the owner of the table, so the panel, the
 * API and the WhatsApp app record the same entries: channel.created
 * ("name (kind, environment, status)"), channel.updated (each changed
 * field "old → new": name, status, environment, number, phone number id,
 * default agent; or "no changes"), channel.credentials_changed (the
 * names of the credentials replaced, never their values).
 */
#ifndef PARLEY_MODEL_CHANNEL_H
#define PARLEY_MODEL_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "model/fielderr.h"

struct arena;
struct audit_actor;
struct secret_key;

struct channel {
	int64_t	 id;
	int64_t	 org_id;
	char	*kind;			/* twilio|meta|kapso|sandbox */
	char	*name;
	char	*environment;		/* development|production */
	char	*status;		/* pending|connected|disabled */
	char	*phone_number;		/* "+E164" or "" */
	char	*phone_number_id;	/* Meta/Kapso, else "" */
	int64_t	 default_agent_id;	/* 0: none */
	char	*default_agent_name;	/* "" when none */
	char	*credential_hints;	/* JSON object text: field → mask */
	char	*last_verified_at;	/* NULL: never */
	char	*created_at;
};

/* Plain-text credentials as entered; NULL or "" leaves a stored one. */
struct channel_input {
	const char	*kind;
	const char	*name;
	const char	*environment;
	const char	*phone_number;
	const char	*phone_number_id;
	int64_t		 default_agent_id;	/* 0: none */
	const char	*status;		/* NULL: unchanged/pending */
	const char	*twilio_account_sid;
	const char	*twilio_auth_token;
	const char	*meta_access_token;
	const char	*meta_app_secret;
	const char	*meta_verify_token;
	const char	*kapso_api_key;
	const char	*kapso_webhook_secret;
	/* Who makes the change, for the audit log; NULL: not audited
	 * (tests and benchmarks setting rows up directly). */
	const struct audit_actor *who;
};

/* Decrypted secrets for a send or a signature check (secret_plain_free
 * each non-NULL one, or channel_secrets_free). */
struct channel_secrets {
	char	*twilio_account_sid;
	char	*twilio_auth_token;
	char	*meta_access_token;
	char	*meta_app_secret;
	char	*meta_verify_token;
	char	*kapso_api_key;
	char	*kapso_webhook_secret;
};

/*
 * The names of the credentials given in `in` (form fields such as
 * "twilio_auth_token"), comma-separated, never their values; NULL when
 * none was given. The audit log's detail, from the one list of a
 * channel's credentials (channel.c secret_cols).
 */
const char	*channel_input_secret_names(struct arena *a,
		    const struct channel_input *in);

enum db_status	 channel_list(struct db *db, struct arena *a, int64_t org_id,
		    struct channel **out, int *n)
		    __attribute__((warn_unused_result));
enum db_status	 channel_get(struct db *db, struct arena *a, int64_t org_id,
		    int64_t id, struct channel *out)
		    __attribute__((warn_unused_result));
/* Validates per kind (DB_INVALID + errs), seals, inserts; DB_CONFLICT
 * when the number (or number id) is another channel's. */
enum db_status	 channel_create(struct db *db, const struct secret_key *k,
		    int64_t org_id, const struct channel_input *in,
		    struct field_errors *errs, int64_t *id)
		    __attribute__((warn_unused_result));
enum db_status	 channel_update(struct db *db, const struct secret_key *k,
		    int64_t org_id, int64_t id, const struct channel_input *in,
		    struct field_errors *errs)
		    __attribute__((warn_unused_result));
/* The sandbox channel cannot be deleted (DB_INVALID). */
enum db_status	 channel_delete(struct db *db, int64_t org_id, int64_t id)
		    __attribute__((warn_unused_result));
/* The org's sandbox channel, created when missing. */
enum db_status	 channel_ensure_sandbox(struct db *db, int64_t org_id,
		    int64_t *id) __attribute__((warn_unused_result));
enum db_status	 channel_get_secrets(struct db *db, const struct secret_key *k,
		    int64_t org_id, int64_t id, struct channel_secrets *out)
		    __attribute__((warn_unused_result));
void		 channel_secrets_free(struct channel_secrets *s);

/* Webhook routing (cross-organisation by design). DB_NOT_FOUND: none. */
enum db_status	 channel_find_twilio_any_org(struct db *db, struct arena *a,
		    const char *phone_e164, struct channel *out)
		    __attribute__((warn_unused_result));
enum db_status	 channel_find_by_number_id_any_org(struct db *db,
		    struct arena *a, const char *kind,
		    const char *phone_number_id, struct channel *out)
		    __attribute__((warn_unused_result));

/*
 * Meta's subscription handshake names no number: DB_OK when token equals
 * the verify token of any Meta channel (each opened and compared in
 * constant time), DB_NOT_FOUND when none matches. A token that does not
 * open is skipped (and logged without the token).
 */
enum db_status	 channel_meta_verify_token_any_org(struct db *db,
		    const struct secret_key *k, const char *token)
		    __attribute__((warn_unused_result));

/*
 * Meta deliveries that name no phone number (account-level fields): DB_OK
 * when header ("sha256=<hex>") verifies over body with the app secret of
 * any Meta channel that is not disabled (each opened, every one checked
 * in constant time), DB_NOT_FOUND when none does. A secret that does not
 * open is skipped (and logged without it).
 */
enum db_status	 channel_meta_signature_any_org(struct db *db,
		    const struct secret_key *k, const void *body, size_t len,
		    const char *header) __attribute__((warn_unused_result));

/*
 * Health: a verified delivery for the channel; sets last_verified_at (at
 * most one write a minute per channel).
 */
enum db_status	 channel_mark_verified(struct db *db, int64_t org_id,
		    int64_t channel_id) __attribute__((warn_unused_result));
/* Health: a rejected webhook (channel_id/org_id 0 when unknown). */
enum db_status	 channel_record_rejection(struct db *db, int64_t org_id,
		    int64_t channel_id, const char *provider,
		    const char *reason, const char *detail,
		    const char *remote_addr) __attribute__((warn_unused_result));

struct webhook_event {
	char	*provider;
	char	*reason;
	char	*detail;
	char	*remote_addr;
	char	*created_at;
};

/* The channel's latest rejections, newest first. */
enum db_status	 channel_rejections(struct db *db, struct arena *a,
		    int64_t org_id, int64_t channel_id, int limit,
		    struct webhook_event **out, int *n)
		    __attribute__((warn_unused_result));

/*
 * Re-seals every stored credential of every organisation from old to new
 * (part of `parley key rotate`; the caller holds the transaction). *n
 * counts them. DB_INVALID when one does not open with old.
 */
enum db_status	 channel_rotate_keys_any_org(struct db *db,
		    const struct secret_key *old_key,
		    const struct secret_key *new_key, int *n)
		    __attribute__((warn_unused_result));

/*
 * ---- Twilio Webhook Shared Keys (docs/whatsapp-platform.md §4). --------
 *
 * Twilio can sign webhooks with a shared key (an id and a secret made by
 * its Webhooks API) instead of the Auth Token, naming the key in
 * X-Twilio-Webhooks-Signature-Settings. A Twilio channel holds up to
 * CHANNEL_SHARED_KEYS_MAX of them so a key can be rotated with the old
 * and the new one both live: add the new key, switch Twilio over, remove
 * the old one. Each secret is sealed for its row (AD
 * "channel_shared_keys.secret_enc#<id>") and leaves the server only as a
 * hint that shows at most a quarter of it (its last 4 characters, for a
 * secret of 16 or more; nothing of a shorter one).
 */
#define CHANNEL_SHARED_KEYS_MAX	5

struct channel_shared_key {
	char	*key_id;
	char	*hint;		/* the masked secret */
	char	*created_at;	/* ISO 8601, UTC */
};

/* One shared key opened for a signature check (channel_key_secrets_free). */
struct channel_key_secret {
	char	*key_id;	/* malloc'd */
	char	*secret;	/* guarded memory */
};

/* The channel's shared keys, oldest first (none for other kinds). */
enum db_status	 channel_shared_keys(struct db *db, struct arena *a,
		    int64_t org_id, int64_t channel_id,
		    struct channel_shared_key **out, int *n)
		    __attribute__((warn_unused_result));
/*
 * Adds a shared key to a Twilio channel. key_id: 1..128 letters, digits
 * and "_.:-" (it travels in a comma-separated header and names the key in
 * the API's URLs); secret: 1..4096 printable ASCII characters, no spaces.
 * Both are trimmed. DB_INVALID with errs (fields
 * "twilio_shared_key_id", "twilio_shared_key_secret"; "kind" for a channel
 * that is not Twilio's), also when the channel holds
 * CHANNEL_SHARED_KEYS_MAX already; DB_CONFLICT (errs on the id) when the
 * channel has a key with that id; DB_NOT_FOUND: no such channel in org.
 */
enum db_status	 channel_shared_key_add(struct db *db,
		    const struct secret_key *k, int64_t org_id,
		    int64_t channel_id, const char *key_id, const char *secret,
		    struct field_errors *errs)
		    __attribute__((warn_unused_result));
/* Removes a key; DB_NOT_FOUND when the channel (in org) has no such key. */
enum db_status	 channel_shared_key_remove(struct db *db, int64_t org_id,
		    int64_t channel_id, const char *key_id)
		    __attribute__((warn_unused_result));
/*
 * Every shared key of the channel, opened, for the webhook's signature
 * check: *out is a malloc'd array of *n (NULL when none). DB_INVALID when
 * one does not open (wrong master key, tampering; logged without it).
 */
enum db_status	 channel_key_secrets(struct db *db, const struct secret_key *k,
		    int64_t org_id, int64_t channel_id,
		    struct channel_key_secret **out, int *n)
		    __attribute__((warn_unused_result));
/* Wipes and frees channel_key_secrets' array; NULL is a no-op. */
void		 channel_key_secrets_free(struct channel_key_secret *s, int n);
/*
 * Re-seals every shared key secret from old to new (`parley key rotate`,
 * in the caller's transaction); *n counts them. DB_INVALID when one does
 * not open with old.
 */
enum db_status	 channel_shared_keys_rotate_any_org(struct db *db,
		    const struct secret_key *old_key,
		    const struct secret_key *new_key, int *n)
		    __attribute__((warn_unused_result));

/* ---- Added for the webhooks (issue 4, webhooks engineer). ------------- */

/*
 * Sets the status (pending|connected|disabled) of the channel of `kind`
 * with phone_number_id, whatever its organisation (a provider's project
 * webhook names no organisation). DB_NOT_FOUND: no such channel.
 */
enum db_status	 channel_set_status_any_org(struct db *db, const char *kind,
		    const char *phone_number_id, const char *status)
		    __attribute__((warn_unused_result));

#endif
