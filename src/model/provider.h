/*
 * provider: an organisation's OpenAI-compatible LLM endpoints (owns table
 * `llm_providers`): a name, a base URL (".../v1"), and an API key kept
 * only as ciphertext (crypto/secret.c, AD "llm_providers.api_key_enc#ID")
 * plus its masked hint. Replacing a key never returns the old one; an
 * empty key on update keeps the stored one.
 *
 * A key goes only where it was entered for. The base URL says where the
 * key is sent, so changing it while a key is stored needs the key again
 * (or its removal): otherwise an admin could point the provider at a host
 * of theirs and read the key from the next call's Authorization header.
 * provider_update() enforces this for the panel and the API alike, in the
 * same statement that writes the row. A base URL never carries a secret
 * itself: user:password@ and query strings are refused.
 *
 * Changes are audited here, by the owner of the table, so every caller
 * records the same entries: provider.created, provider.renamed ("old →
 * new"), provider.base_url_changed ("old host → new host"),
 * provider.key_changed ("key set (<hint>)" or "key removed") and
 * provider.updated when a save changed nothing. A detail never holds a
 * key: the masked hint at most.
 */
#ifndef PARLEY_MODEL_PROVIDER_H
#define PARLEY_MODEL_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "model/fielderr.h"

struct arena;
struct audit_actor;
struct secret_key;

struct provider {
	int64_t	 id;
	char	*name;
	char	*base_url;
	char	*api_key_hint;	/* masked, "" when no key */
	bool	 has_key;
	int	 n_models;	/* org models that use it */
	char	*created_at;	/* RFC 3339 */
	char	*updated_at;
};

struct provider_input {
	const char	*name;
	const char	*base_url;	/* http(s)://…, no trailing slash kept */
	const char	*api_key;	/* NULL or "": none (create) / keep (update) */
	bool		 clear_key;	/* update: remove the stored key */
	/* Who makes the change, for the audit log; NULL: not audited
	 * (tests and benchmarks setting rows up directly). */
	const struct audit_actor *who;
};

/* All providers of the organisation, by name (arena). */
enum db_status	 provider_list(struct db *db, struct arena *a, int64_t org_id,
		    struct provider **out, int *n)
		    __attribute__((warn_unused_result));
enum db_status	 provider_get(struct db *db, struct arena *a, int64_t org_id,
		    int64_t id, struct provider *out)
		    __attribute__((warn_unused_result));
/*
 * Validates (DB_INVALID with errs filled), seals the key for the new row
 * and inserts; DB_CONFLICT when the name is taken (errs names "name").
 */
enum db_status	 provider_create(struct db *db, const struct secret_key *k,
		    int64_t org_id, const struct provider_input *in,
		    struct field_errors *errs, int64_t *id)
		    __attribute__((warn_unused_result));
/*
 * Validates and writes name, base URL and key (see provider_input).
 * DB_INVALID with errs filled for bad values, and with an "api_key" error
 * when the base URL changes while a key is stored and no new key (nor
 * clear_key) comes with it; DB_CONFLICT when the name is taken;
 * DB_NOT_FOUND for an unknown id or another organisation's.
 */
enum db_status	 provider_update(struct db *db, const struct secret_key *k,
		    int64_t org_id, int64_t id, const struct provider_input *in,
		    struct field_errors *errs)
		    __attribute__((warn_unused_result));
/* The host[:port] of a base URL into out ("" when there is none). */
void		 provider_url_host(const char *url, char *out, size_t outlen);
/* DB_INVALID while a model uses the provider. */
enum db_status	 provider_delete(struct db *db, int64_t org_id, int64_t id)
		    __attribute__((warn_unused_result));
/*
 * The endpoint for a call: base URL and decrypted key (both malloc'd;
 * free the key with secret_plain_free(), NULL when none is stored).
 */
enum db_status	 provider_get_endpoint(struct db *db,
		    const struct secret_key *k, int64_t org_id, int64_t id,
		    char **base_url, char **api_key)
		    __attribute__((warn_unused_result));
/*
 * Re-seals every stored key of every organisation from old to new (part of
 * `parley key rotate`; the caller holds the transaction). *n counts them.
 * DB_INVALID when a key does not open with old.
 */
enum db_status	 provider_rotate_keys_any_org(struct db *db,
		    const struct secret_key *old_key,
		    const struct secret_key *new_key, int *n)
		    __attribute__((warn_unused_result));

#endif
