/*
 * throttle: sign-in attempt limits (owns table `login_throttle`). Failures
 * are counted per account (since its last success) and per client address
 * within a window, in the database, so the limit holds across processes.
 *
 * An attempt is reserved BEFORE the password is checked, with one
 * conditional upsert whose row lock serialises concurrent attempts on the
 * same account or address: N simultaneous wrong passwords cost at most
 * max_failures password checks, never N. A reserved attempt that fails
 * stays counted; one that succeeds is handed back (throttle_login_ok).
 */
#ifndef PARLEY_MODEL_THROTTLE_H
#define PARLEY_MODEL_THROTTLE_H

#include <stdbool.h>

#include "db/db.h"

/*
 * Reserves one attempt for email (lower-cased by the caller) from ip.
 * *limited is false when the attempt may go on to the password check (it
 * is then counted as a failure until throttle_login_ok says otherwise);
 * true when the account or the address already spent max_failures in its
 * window, in which case nothing is counted and *retry_after_s says when
 * the window ends (at least 1).
 */
enum db_status	 throttle_login_reserve(struct db *db, const char *email,
		    const char *ip, int window_minutes, int max_failures,
		    bool *limited, int *retry_after_s)
		    __attribute__((warn_unused_result));
/*
 * After a successful sign-in: the account's failures are forgotten and the
 * address gets its reserved slot back.
 */
enum db_status	 throttle_login_ok(struct db *db, const char *email,
		    const char *ip) __attribute__((warn_unused_result));
/* Forgets the account's failures (its password was just reset). */
enum db_status	 throttle_login_forget(struct db *db, const char *email)
		    __attribute__((warn_unused_result));

#endif
