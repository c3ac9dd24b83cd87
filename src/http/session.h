/*
 * session: panel sessions (owns table `sessions`). The cookie holds a
 * random 256-bit token; the table holds only its SHA-256, the user, the
 * organisation, a per-session CSRF token, idle and absolute expiry, and a
 * one-shot flash message. Every lookup slides the idle window.
 */
#ifndef PARLEY_HTTP_SESSION_H
#define PARLEY_HTTP_SESSION_H

#include <stdint.h>

#include "crypto/token.h"
#include "db/db.h"

struct arena;
struct session;

/*
 * Creates a session and writes its cookie token into token_out. The
 * absolute lifetime is max_hours.
 */
enum db_status	 session_create(struct db *db, int64_t user_id,
		    int64_t org_id, const char *ip, const char *user_agent,
		    int max_hours, char token_out[TOKEN_LEN + 1])
		    __attribute__((warn_unused_result));
/*
 * Looks up a live session by cookie token (idle within idle_minutes, not
 * past expiry), touches it and takes its flash. Fills *s (strings in the
 * arena). DB_NOT_FOUND for no live session.
 */
enum db_status	 session_lookup(struct db *db, struct arena *a,
		    const char *token, int idle_minutes, struct session *s)
		    __attribute__((warn_unused_result));
/* Deletes the session with this id (logout). */
enum db_status	 session_delete(struct db *db, int64_t session_id)
		    __attribute__((warn_unused_result));
/* Deletes every session of a user except keep_id (0 keeps none). */
enum db_status	 session_delete_user(struct db *db, int64_t user_id,
		    int64_t keep_id) __attribute__((warn_unused_result));
/* Stores a flash message for the session's next page. */
enum db_status	 session_set_flash(struct db *db, int64_t session_id,
		    const char *flash) __attribute__((warn_unused_result));

#endif
