/*
 * apitoken: bearer tokens for /api/v1 and /v1 (owns table `api_tokens`).
 * A token is "prl_" + 43 random base64url characters, shown once at
 * creation; only its SHA-256 is stored, with a display prefix (the first
 * 12 characters). A token belongs to one organisation and acts for the
 * user who created it, with a role: never more than that user's own. The
 * user's state is read at every authentication, so deactivating the user,
 * removing them from the organisation or lowering their role takes effect
 * on the very next request.
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
/* Whether a live token's user may still act through it. */
enum apitoken_standing {
	APITOKEN_ACTIVE = 0,
	APITOKEN_USER_INACTIVE,		/* the user was deactivated */
	APITOKEN_NOT_MEMBER,		/* removed from the organisation, or
					   the user no longer exists */
};

struct apitoken_principal {
	int64_t			 token_id;
	int64_t			 org_id;
	int64_t			 user_id;	/* 0: the user is gone */
	/* min(token's role, user's current role); "" unless ACTIVE */
	char			 role[16];
	enum apitoken_standing	 standing;
};

/*
 * Resolves a presented token (any organisation: this is how the org is
 * learned) together with its user's current standing, in one query.
 * DB_NOT_FOUND for unknown or revoked; DB_OK fills *p, and the caller
 * must refuse unless p->standing is APITOKEN_ACTIVE. Touches last_used_at
 * at most once a minute, and only for a token that may act.
 */
enum db_status	 apitoken_authenticate_any_org(struct db *db,
		    const char *token, struct apitoken_principal *p)
		    __attribute__((warn_unused_result));

#endif
