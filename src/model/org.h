/*
 * org: organisations (owns table `orgs`). Every row that belongs to an
 * organisation names it; this module creates and names them and keeps
 * their chat settings: the product name chats see in the welcome text
 * and the prefix of connect codes ("PRL" in "PRL-AB12").
 */
#ifndef PARLEY_MODEL_ORG_H
#define PARLEY_MODEL_ORG_H

#include <stdint.h>

#include "db/db.h"
#include "model/fielderr.h"

struct arena;

#define ORG_NAME_MAX	200
#define ORG_PRODUCT_MAX	60	/* characters */
#define ORG_PREFIX_MIN	2	/* upper-case letters */
#define ORG_PREFIX_MAX	6
#define ORG_RETENTION_MAX	36500	/* days: a hundred years */

/* Creates an organisation; DB_INVALID for an empty or too long name. */
enum db_status	 org_create(struct db *db, const char *name, int64_t *id)
		    __attribute__((warn_unused_result));
/*
 * The oldest organisation with exactly this name, for the command line
 * (`parley user create --org NAME`), which legitimately looks across
 * organisations. DB_NOT_FOUND when there is none.
 */
enum db_status	 org_find_by_name_any_org(struct db *db, const char *name,
		    int64_t *id) __attribute__((warn_unused_result));
/*
 * Every organisation's id, oldest first (arena array), for the command
 * line's installation-wide actions (`parley key rotate` audits in each).
 */
enum db_status	 org_ids_any_org(struct db *db, struct arena *a,
		    int64_t **ids, int *n) __attribute__((warn_unused_result));
/* The organisation's name (arena); DB_NOT_FOUND when there is none. */
enum db_status	 org_get_name(struct db *db, struct arena *a, int64_t org_id,
		    char **name) __attribute__((warn_unused_result));
/* The product name chats see ("Parley" unless changed), in the arena. */
enum db_status	 org_get_product_name(struct db *db, struct arena *a,
		    int64_t org_id, char **name)
		    __attribute__((warn_unused_result));
/* The product name and the connect-code prefix, in the arena. */
enum db_status	 org_get_settings(struct db *db, struct arena *a,
		    int64_t org_id, char **product_name,
		    char **connect_prefix) __attribute__((warn_unused_result));
/*
 * Days the organisation keeps media items (chat/media.h retention) in
 * *days; 0: forever.
 */
enum db_status	 org_get_media_retention(struct db *db, int64_t org_id,
		    int *days) __attribute__((warn_unused_result));
/*
 * Stores the settings in one statement: product_name 1–60 characters
 * (trimmed), prefix 2–6 letters A–Z (upper-cased first), media retention
 * "" (keep media forever) or a whole number of days 1–36500 (trimmed).
 * DB_INVALID with errs naming "product_name" / "connect_prefix" /
 * "media_retention_days"; DB_NOT_FOUND for an unknown org.
 */
enum db_status	 org_update_settings(struct db *db, int64_t org_id,
		    const char *product_name, const char *connect_prefix,
		    const char *media_retention_days,
		    struct field_errors *errs)
		    __attribute__((warn_unused_result));

#endif
