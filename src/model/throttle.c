/*
 * throttle: sign-in attempts (see throttle.h).
 */
#include "model/throttle.h"

enum db_status
throttle_login_check(struct db *db, const char *email, const char *ip,
    int window_minutes, int max_failures, bool *limited, int *retry_after_s)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	/*
	 * For each key, the max_failures-th newest failure in the window
	 * (NULL when fewer): its age decides when the key is free again.
	 * An account's failures before its last success do not count.
	 */
	st = db_query(db, &res,
	    "WITH w AS (SELECT now() - make_interval(mins => $3) AS since),"
	    " acct AS ("
	    "  SELECT at FROM login_attempts, w"
	    "   WHERE email = $1 AND NOT succeeded AND at > w.since"
	    "     AND at > coalesce((SELECT max(at) FROM login_attempts"
	    "                         WHERE email = $1 AND succeeded),"
	    "                        '-infinity')"
	    "   ORDER BY at DESC OFFSET $4 - 1 LIMIT 1),"
	    " addr AS ("
	    "  SELECT at FROM login_attempts, w"
	    "   WHERE ip = $2 AND NOT succeeded AND at > w.since"
	    "   ORDER BY at DESC OFFSET $4 - 1 LIMIT 1)"
	    " SELECT ceil(extract(epoch FROM greatest("
	    "          (SELECT at FROM acct), (SELECT at FROM addr))"
	    "          + make_interval(mins => $3) - now()))::bigint",
	    DB_TEXT(email), DB_TEXT(ip), DB_I64(window_minutes),
	    DB_I64(max_failures), DB_END);
	if (st == DB_OK) {
		*limited = !db_res_isnull(&res, 0, 0);
		*retry_after_s = *limited ? (int)db_res_i64(&res, 0, 0) : 0;
		if (*limited && *retry_after_s < 1)
			*retry_after_s = 1;
	}
	db_res_clear(&res);
	return st;
}

enum db_status
throttle_login_record(struct db *db, const char *email, const char *ip,
    bool succeeded)
{
	enum db_status	 st;

	st = db_exec(db,
	    "INSERT INTO login_attempts (email, ip, succeeded)"
	    " VALUES ($1, $2, $3)",
	    DB_TEXT(email), DB_TEXT(ip), DB_BOOL(succeeded), DB_END);
	if (st == DB_OK && succeeded)
		/* Old rows serve no window; a success is a cheap moment. */
		st = db_exec(db,
		    "DELETE FROM login_attempts"
		    " WHERE at < now() - interval '2 days'", DB_END);
	return st;
}
