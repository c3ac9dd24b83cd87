/*
 * apitoken: bearer tokens for /api/v1 and /v1 (owns table `api_tokens`).
 * A token is "prl_" + 43 random base64url characters, shown once at
 * creation; only its SHA-256 is stored, with a display prefix (the first
 * 12 characters). A token belongs to one organisation and acts with a role.
 */
#ifndef PARLEY_MODEL_APITOKEN_H
#define PARLEY_MODEL_APITOKEN_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"

struct arena;

#define APITOKEN_LEN	47	/* "prl_" + 43 */
#define APITOKEN_PREFIX_MAX	12	/* display prefix */

struct api_token {
	int64_t	 id;
	char	*name;
	char	*prefix;
	char	*role;
	char	*created_by;	/* email, or "" (command line) */
	char	*created_at;
	char	*last_used_at;	/* NULL: never */
	bool	 revoked;
};

/* Creates a token; token_out receives the one-time secret. */
enum db_status	 apitoken_create(struct db *db, int64_t org_id,
		    int64_t created_by, const char *name, const char *role,
		    char token_out[APITOKEN_LEN + 1], int64_t *id)
		    __attribute__((warn_unused_result));
enum db_status	 apitoken_list(struct db *db, struct arena *a, int64_t org_id,
		    struct api_token **out, int *n)
		    __attribute__((warn_unused_result));
/* DB_NOT_FOUND for another org's or an unknown id. */
enum db_status	 apitoken_revoke(struct db *db, int64_t org_id, int64_t id)
		    __attribute__((warn_unused_result));
/* The display prefix of token id in org_id (the audit log's actor);
 * DB_NOT_FOUND for another org's or an unknown id. */
enum db_status	 apitoken_prefix(struct db *db, int64_t org_id, int64_t id,
		    char prefix[APITOKEN_PREFIX_MAX + 1])
		    __attribute__((warn_unused_result));
/*
 * Resolves a presented token (any organisation: this is how the org is
 * learned). DB_NOT_FOUND for unknown or revoked. Touches last_used_at at
 * most once a minute.
 */
enum db_status	 apitoken_authenticate_any_org(struct db *db,
		    const char *token, int64_t *org_id, char role[16],
		    int64_t *token_id) __attribute__((warn_unused_result));

#endif
