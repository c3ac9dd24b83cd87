/*
 * masterkey: the master key's check value (owns table `master_key_check`).
 * One row holds a known text sealed with the master key, so a process can
 * tell at start-up whether its key file is the one the database's secrets
 * were sealed with, and say so in one sentence, instead of failing later
 * on the first credential it opens. `parley key rotate` re-seals it with
 * every other secret (app/cli_key.c lists it).
 */
#ifndef PARLEY_MODEL_MASTERKEY_H
#define PARLEY_MODEL_MASTERKEY_H

#include "db/db.h"

struct secret_key;

/*
 * DB_OK when k opens the check value, sealing it first when the database
 * has none (a new database, or one made before the check existed: the key
 * in use then is taken to be the right one). DB_INVALID when k does not
 * open it: the wrong key.
 */
enum db_status	 masterkey_verify(struct db *db, const struct secret_key *k)
		    __attribute__((warn_unused_result));
/*
 * Re-seals the check value from old_key to new_key inside the caller's
 * transaction (app/cli_key.c's rotate_fn shape; *n is 0: it is not a
 * credential). DB_INVALID when old_key does not open it.
 */
enum db_status	 masterkey_rotate_any_org(struct db *db,
		    const struct secret_key *old_key,
		    const struct secret_key *new_key, int *n)
		    __attribute__((warn_unused_result));

#endif
