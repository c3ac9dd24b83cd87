/*
 * org: organisations (owns table `orgs`). Every row that belongs to an
 * organisation names it; this module only creates and names them.
 */
#ifndef PARLEY_MODEL_ORG_H
#define PARLEY_MODEL_ORG_H

#include <stdint.h>

#include "db/db.h"

struct arena;

#define ORG_NAME_MAX	200

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
/* The organisation's name (arena); DB_NOT_FOUND when there is none. */
enum db_status	 org_get_name(struct db *db, struct arena *a, int64_t org_id,
		    char **name) __attribute__((warn_unused_result));

#endif
