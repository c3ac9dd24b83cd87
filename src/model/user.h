/*
 * user: people who sign in to the panel (owns tables `users` and
 * `memberships`). An email is unique regardless of case. A membership
 * gives a user one role in one organisation: owner, admin or member.
 *
 * A password set by someone other than its user (an invitation, an owner's
 * reset, `parley user create --one-time`, the generated first owner's) is
 * a one-time password: must_change_password is set, and the panel lets
 * the session reach only the change-password page until it is replaced
 * (panel/settings.c). A deactivated user can neither sign in nor act
 * through a session or an API token (model/apitoken.c joins users).
 */
#ifndef PARLEY_MODEL_USER_H
#define PARLEY_MODEL_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "crypto/password.h"
#include "db/db.h"

struct arena;

#define USER_EMAIL_MAX	254

/* A role name as stored: "owner" | "admin" | "member". */
bool		 user_role_valid(const char *role);
/* True when email looks like an address we can store (no validation
 * beyond shape: one '@', no spaces or controls, at most 254 bytes). */
bool		 user_email_valid(const char *email);

/* Creates a user with an argon2id hash; DB_CONFLICT for a taken email.
 * one_time: the password must be changed at the first sign-in. */
enum db_status	 user_create(struct db *db, const char *email,
		    const char *password_hash, bool one_time, int64_t *id)
		    __attribute__((warn_unused_result));
/* Gives user_id a role in org_id (or changes it). */
enum db_status	 user_membership_set(struct db *db, int64_t org_id,
		    int64_t user_id, const char *role)
		    __attribute__((warn_unused_result));
/* Number of users in the whole installation (first-run check). */
enum db_status	 user_count_any_org(struct db *db, int64_t *n)
		    __attribute__((warn_unused_result));

/*
 * For sign-in, which comes before any organisation is known: the active
 * user with this email (any case), its hash and its first organisation.
 * DB_NOT_FOUND when there is no such active user with a membership.
 */
enum db_status	 user_find_for_login_any_org(struct db *db,
		    const char *email, int64_t *user_id, int64_t *org_id,
		    char hash[PASSWORD_HASH_MAX])
		    __attribute__((warn_unused_result));
/*
 * For the command line (`parley token create`), which names a user by
 * email before any organisation is known: the active user with this email
 * (any case) and its first organisation. DB_NOT_FOUND when there is no
 * such active user with a membership.
 */
enum db_status	 user_find_by_email_any_org(struct db *db,
		    const char *email, int64_t *user_id, int64_t *org_id)
		    __attribute__((warn_unused_result));
/* The stored hash of an active user in org_id. */
enum db_status	 user_get_hash(struct db *db, int64_t org_id,
		    int64_t user_id, char hash[PASSWORD_HASH_MAX])
		    __attribute__((warn_unused_result));
/* Replaces a user's hash with the same password's (re-hash at login). */
enum db_status	 user_set_hash(struct db *db, int64_t user_id,
		    const char *hash) __attribute__((warn_unused_result));
/*
 * Sets a new password: one_time false when the user chose it (it clears
 * the must-change mark), true when someone else did. DB_NOT_FOUND for an
 * unknown user.
 */
enum db_status	 user_password_set(struct db *db, int64_t user_id,
		    const char *hash, bool one_time)
		    __attribute__((warn_unused_result));
/*
 * For `parley user reset-password`, which names a user by email before any
 * organisation is known: the user with this email (any case), active or
 * not, and its first organisation (0 when it has none).
 */
enum db_status	 user_lookup_any_org(struct db *db, const char *email,
		    int64_t *user_id, int64_t *org_id, bool *is_active)
		    __attribute__((warn_unused_result));

/* Members of org_id (active users), for the dashboard. */
enum db_status	 user_count_in_org(struct db *db, int64_t org_id, int64_t *n)
		    __attribute__((warn_unused_result));

/* A user of an organisation, for Settings → Users. */
struct user_row {
	int64_t	 id;
	char	*email;
	char	*role;
	bool	 is_active;
	char	*created_at;		/* RFC 3339 UTC */
};

/* Every user of org_id, active first, then by email (arena). */
enum db_status	 user_list_in_org(struct db *db, struct arena *a,
		    int64_t org_id, struct user_row **out, int *n)
		    __attribute__((warn_unused_result));
/*
 * Creates a user with this hash (a one-time password when one_time) and
 * gives it role in org_id, in one transaction. DB_CONFLICT when the email is taken (in any organisation),
 * DB_INVALID for a bad role.
 */
enum db_status	 user_create_in_org(struct db *db, int64_t org_id,
		    const char *email, const char *password_hash,
		    bool one_time, const char *role, int64_t *id)
		    __attribute__((warn_unused_result));
/*
 * Changes user_id's role in org_id (*email receives its email, arena).
 * DB_NOT_FOUND: not a member; DB_CONFLICT: it is the organisation's last
 * active owner and would stop being one. Owner rows are locked first, so
 * two owners demoting each other at once cannot leave none.
 */
enum db_status	 user_role_change(struct db *db, struct arena *a,
		    int64_t org_id, int64_t user_id, const char *role,
		    char **email) __attribute__((warn_unused_result));
/*
 * Deactivates user_id (a member of org_id): it can no longer sign in.
 * Ending its sessions is the caller's (http/session.c owns them). Same
 * statuses as user_role_change.
 */
enum db_status	 user_deactivate(struct db *db, struct arena *a,
		    int64_t org_id, int64_t user_id, char **email)
		    __attribute__((warn_unused_result));

/*
 * An owner's reset of user_id's password (a member of org_id) to a
 * one-time hash; *email receives its email (arena). DB_NOT_FOUND: not a
 * member of org_id; DB_CONFLICT: the user also belongs to another
 * organisation, whose owners this one may not act for (the command line
 * can reset it).
 */
enum db_status	 user_password_reset_in_org(struct db *db, struct arena *a,
		    int64_t org_id, int64_t user_id, const char *hash,
		    char **email) __attribute__((warn_unused_result));
/*
 * Reactivates user_id (a member of org_id); *email receives its email
 * (arena). DB_NOT_FOUND: not a member; DB_CONFLICT: the user also belongs
 * to another organisation (as above).
 */
enum db_status	 user_reactivate(struct db *db, struct arena *a,
		    int64_t org_id, int64_t user_id, char **email)
		    __attribute__((warn_unused_result));

struct user_principal {
	char	*email;
	char	*org_name;
	char	*role;
	bool	 must_change_password;	/* signed in with a one-time one */
};

/* The signed-in user's email, organisation name and role (arena strings);
 * DB_NOT_FOUND when the user is inactive or no longer a member. */
enum db_status	 user_principal_get(struct db *db, struct arena *a,
		    int64_t org_id, int64_t user_id, struct user_principal *p)
		    __attribute__((warn_unused_result));

#endif
