/*
 * throttle: sign-in attempt limits (owns table `login_attempts`). Failures
 * are counted per account (since its last success) and per client address
 * within a window, in the database, so the limit holds across processes.
 */
#ifndef PARLEY_MODEL_THROTTLE_H
#define PARLEY_MODEL_THROTTLE_H

#include <stdbool.h>

#include "db/db.h"

/*
 * Sets *limited when email or ip has max_failures or more failures in the
 * last window_minutes; *retry_after_s then says when the oldest of them
 * leaves the window.
 */
enum db_status	 throttle_login_check(struct db *db, const char *email,
		    const char *ip, int window_minutes, int max_failures,
		    bool *limited, int *retry_after_s)
		    __attribute__((warn_unused_result));
/* Records one attempt (email lower-cased by the caller). */
enum db_status	 throttle_login_record(struct db *db, const char *email,
		    const char *ip, bool succeeded)
		    __attribute__((warn_unused_result));

#endif
