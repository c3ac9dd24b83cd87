/*
 * db_internal: what the files of db/ share with each other and with the
 * unit tests (tests/unit/test_db.c), but not with the rest of the program.
 * Nothing outside src/db/ and tests/ includes this header.
 */
#ifndef PARLEY_DB_DB_INTERNAL_H
#define PARLEY_DB_DB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "db/db.h"

/*
 * The one SQLSTATE → enum db_status mapping (pure). NULL or a malformed
 * code (no SQLSTATE means the connection or libpq failed) is
 * DB_UNAVAILABLE. Never returns DB_OK or DB_NOT_FOUND.
 */
enum db_status	 db_status_from_sqlstate(const char *sqlstate);

/*
 * Classifies a finished PGresult for `db`: DB_OK for COMMAND_OK and
 * TUPLES_OK, else db_status_from_sqlstate() of its error. A lost
 * connection marks db broken. DB_UNAVAILABLE is logged here, once;
 * DB_CONFLICT and DB_INVALID are the caller's business and are not.
 * Also refreshes db->in_tx from the connection. Does not clear r.
 */
enum db_status	 db_result_status(struct db *db, const PGresult *r);

/*
 * Writes one log line to stderr:
 *   level=error module=db msg="<msg>[: <detail>]"[ sqlstate=XXXXX]
 * detail (may be NULL) is a libpq or server message, quoted and reduced to
 * its first line. Never pass parameter values: they may be secrets.
 */
void		 db_log_error(const char *msg, const char *detail,
		    const char *sqlstate);

/*
 * Splits a migration file name "NNNN_name.sql" (4 or more digits, an
 * underscore, a lowercase name of [a-z0-9_] starting with a letter) into
 * its version and name (name_len bytes, terminated). False when the name
 * does not have that shape or the version does not fit an int.
 */
bool		 db_migration_parse_name(const char *file, int *version,
		    char *name, size_t name_len);

/*
 * A caller's connection string parsed once, with the settings every
 * connection of ours gets unless the string sets them (db/pool.c):
 * application_name, connect_timeout and TCP liveness. keys/vals are
 * NULL-terminated arrays for PQconnectdbParams, owned by the struct.
 */
struct db_connparams {
	PQconninfoOption	 *opts;
	const char		**keys;
	const char		**vals;
};

/* False (nothing to clean up) when conninfo cannot be parsed. */
bool		 db_connparams_init(struct db_connparams *cp,
		    const char *conninfo);
void		 db_connparams_cleanup(struct db_connparams *cp);

/*
 * Whether statements may be prepared by name on the pool's connections
 * (false behind a transaction pooler, where a name would meet other
 * clients' statements on shared server sessions). NULL: true.
 */
bool		 db_pool_prepares(const struct db_pool *pool);

/* Formats a sentence into err (errlen bytes); NULL err is a no-op. */
void		 db_seterr(char *err, size_t errlen, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

#endif
