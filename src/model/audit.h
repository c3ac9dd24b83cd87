/*
 * audit: who did what and when, with the target (owns table `audit_log`).
 * Append-only from the application's side: this module only inserts and
 * reads. A detail never holds a secret: callers pass masked hints at most
 * (the audit test plants a canary secret and looks for it).
 */
#ifndef PARLEY_MODEL_AUDIT_H
#define PARLEY_MODEL_AUDIT_H

#include <stdint.h>

#include "db/db.h"

struct arena;

/* Who did it: handlers build one from their request (http/audit.h). */
struct audit_actor {
	int64_t		 org_id;
	int64_t		 user_id;	/* 0: none (token, system, CLI) */
	const char	*label;		/* email, "token:<prefix>", "system",
					   "cli" */
	const char	*ip;		/* "" when not from a request */
};

/*
 * Records an action ("login.success", "agent.created", "handoff.claimed",
 * …: "<area>.<verb>", lower case) by actor. Failures are logged, never
 * returned: an audit write must not undo the action it records.
 */
void		 audit_record(struct db *db, const struct audit_actor *actor,
		    const char *action, const char *target_type,
		    int64_t target_id, const char *detail);
/* The same without a request (command line, reply pool). */
void		 audit_db(struct db *db, int64_t org_id, int64_t user_id,
		    const char *actor, const char *action,
		    const char *target_type, int64_t target_id,
		    const char *detail);

/*
 * A detail for a set that changed from before to after: "time.now on,
 * handoff.request off" (arena string), or NULL when nothing changed.
 */
const char	*audit_toggles(struct arena *a, char *const *before,
		    int n_before, const char *const *after, int n_after);

struct audit_entry {
	int64_t	 id;
	char	*actor;		/* email, "token:<prefix>", "system" */
	char	*action;
	char	*target_type;
	int64_t	 target_id;
	char	*detail;
	char	*ip;
	char	*created_at;
};

/* Newest first, before before_id (0: from the newest), at most limit. */
enum db_status	 audit_list(struct db *db, struct arena *a, int64_t org_id,
		    int64_t before_id, int limit, struct audit_entry **out,
		    int *n) __attribute__((warn_unused_result));

/*
 * When user_id last did action in org_id (RFC 3339 UTC, arena), NULL in
 * *at when never: the Users page's "last sign-in" (action "login.success").
 */
enum db_status	 audit_last(struct db *db, struct arena *a, int64_t org_id,
		    int64_t user_id, const char *action, char **at)
		    __attribute__((warn_unused_result));

#endif
