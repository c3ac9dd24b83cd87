/*
 * throttle: sign-in attempts (see throttle.h).
 *
 * DESIGN: a counter row per key, (scope, key) → (failures, window_start).
 * throttle_login_reserve is one INSERT … ON CONFLICT DO UPDATE over both
 * keys: the conflicting rows are locked in a fixed order (account, then
 * address; the two never collide), each count is incremented — or started
 * again at 1 when its window has passed — and the new counts come back.
 * The attempt may go on only when both are within the limit. Because the
 * increment and the comparison happen under the row lock, concurrent
 * attempts see each other's reservations; the old read-then-write design
 * let 18 of 40 concurrent wrong passwords through to argon2 with a limit
 * of 5.
 *
 * A refused attempt gives back whichever key it did reserve (a second
 * statement, only on that path), so a locked account does not also use up
 * its caller's address budget, and vice versa. Counts past the limit are
 * harmless: the window still ends window_minutes after it started.
 */
#include "model/throttle.h"

#include <string.h>

enum db_status
throttle_login_reserve(struct db *db, const char *email, const char *ip,
    int window_minutes, int max_failures, bool *limited, int *retry_after_s)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	bool		 got_account = false, got_address = false;
	int64_t		 wait_s = 0, w;

	*limited = false;
	*retry_after_s = 0;
	st = db_query(db, &res,
	    "INSERT INTO login_throttle AS t (scope, key, failures,"
	    "    window_start)"
	    " VALUES ('account', $1, 1, now()), ('address', $2, 1, now())"
	    " ON CONFLICT (scope, key) DO UPDATE SET"
	    "    failures = CASE WHEN t.window_start"
	    "            <= now() - make_interval(mins => $3)"
	    "        THEN 1 ELSE t.failures + 1 END,"
	    "    window_start = CASE WHEN t.window_start"
	    "            <= now() - make_interval(mins => $3)"
	    "        THEN now() ELSE t.window_start END"
	    " RETURNING scope, failures <= $4,"
	    "    ceil(extract(epoch FROM window_start"
	    "        + make_interval(mins => $3) - now()))::bigint",
	    DB_TEXT(email), DB_TEXT(ip), DB_I64(window_minutes),
	    DB_I64(max_failures), DB_END);
	if (st != DB_OK)
		goto out;
	for (int i = 0; i < res.n_rows; i++) {
		bool	 ok = db_res_bool(&res, i, 1);
		if (strcmp(db_res_text(&res, i, 0), "account") == 0)
			got_account = ok;
		else
			got_address = ok;
		w = db_res_i64(&res, i, 2);
		if (!ok && w > wait_s)
			wait_s = w;
	}
	if (got_account && got_address)
		goto out;
	*limited = true;
	*retry_after_s = wait_s < 1 ? 1 : wait_s > 86400 ? 86400 : (int)wait_s;
	/* Hand back what was reserved: this attempt is not checked. */
	st = db_exec(db,
	    "UPDATE login_throttle SET failures = failures - 1"
	    " WHERE failures > 0 AND ((scope = 'account' AND key = $1 AND $3)"
	    "    OR (scope = 'address' AND key = $2 AND $4))",
	    DB_TEXT(email), DB_TEXT(ip), DB_BOOL(got_account),
	    DB_BOOL(got_address), DB_END);
out:
	db_res_clear(&res);
	return st;
}

enum db_status
throttle_login_ok(struct db *db, const char *email, const char *ip)
{
	enum db_status	 st;

	st = db_exec(db,
	    "WITH acct AS ("
	    "    DELETE FROM login_throttle"
	    "     WHERE scope = 'account' AND key = $1)"
	    " UPDATE login_throttle SET failures = failures - 1"
	    "  WHERE scope = 'address' AND key = $2 AND failures > 0",
	    DB_TEXT(email), DB_TEXT(ip), DB_END);
	if (st == DB_OK)
		/* Stale windows serve nothing; a success is a cheap moment. */
		st = db_exec(db,
		    "DELETE FROM login_throttle"
		    " WHERE window_start < now() - interval '2 days'", DB_END);
	return st;
}

enum db_status
throttle_login_forget(struct db *db, const char *email)
{
	return db_exec(db,
	    "DELETE FROM login_throttle WHERE scope = 'account' AND key = $1",
	    DB_TEXT(email), DB_END);
}
