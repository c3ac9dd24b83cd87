/*
 * masterkey: the master key's check value (see masterkey.h).
 *
 * The value is sealed like any credential (crypto/secret.c: AEAD with
 * "master_key_check.value#1" as additional data), so only the key that
 * sealed it opens it. Its text carries nothing secret.
 */
#include "model/masterkey.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/secret.h"

#define MK_TABLE	"master_key_check"
#define MK_COLUMN	"value"
#define MK_ROW		1
#define MK_TEXT		"parley master key check v1"

static enum db_status	read_check(struct db *, const struct secret_key *,
			    bool *);
static enum db_status	write_check(struct db *, const struct secret_key *,
			    bool);

/* Opens the stored value with k: *found false when there is none. */
static enum db_status
read_check(struct db *db, const struct secret_key *k, bool *found)
{
	struct db_res	 res = { 0 };
	unsigned char	*sealed = NULL;
	size_t		 sealed_len = 0;
	char		*plain = NULL;
	enum db_status	 st;

	*found = false;
	st = db_query(db, &res,
	    "SELECT sealed FROM master_key_check WHERE id = $1",
	    DB_I64(MK_ROW), DB_END);
	if (st != DB_OK || res.n_rows == 0)
		goto out;
	*found = true;
	sealed = db_res_bytes(&res, 0, 0, &sealed_len);
	plain = secret_open(k, MK_TABLE, MK_COLUMN, MK_ROW, sealed,
	    sealed_len);
	if (plain == NULL || strcmp(plain, MK_TEXT) != 0)
		st = DB_INVALID;
out:
	secret_plain_free(plain);
	free(sealed);
	db_res_clear(&res);
	return st;
}

/* Seals the value with k: a first row, or (replace) over the old one. */
static enum db_status
write_check(struct db *db, const struct secret_key *k, bool replace)
{
	unsigned char	*sealed;
	size_t		 sealed_len;
	enum db_status	 st;

	sealed = secret_seal(k, MK_TABLE, MK_COLUMN, MK_ROW, MK_TEXT,
	    strlen(MK_TEXT), &sealed_len);
	st = db_exec(db,
	    "INSERT INTO master_key_check (id, sealed) VALUES ($1, $2)"
	    " ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed"
	    "  WHERE $3",
	    DB_I64(MK_ROW), DB_BYTES(sealed, sealed_len), DB_BOOL(replace),
	    DB_END);
	free(sealed);
	return st;
}

enum db_status
masterkey_verify(struct db *db, const struct secret_key *k)
{
	enum db_status	 st;
	bool		 found;

	st = read_check(db, k, &found);
	if (st != DB_OK || found)
		return st;
	/* Two first starts at once: one row wins, the other is checked. */
	if ((st = write_check(db, k, false)) != DB_OK)
		return st;
	return read_check(db, k, &found);
}

enum db_status
masterkey_rotate_any_org(struct db *db, const struct secret_key *old_key,
    const struct secret_key *new_key, int *n)
{
	enum db_status	 st;
	bool		 found;

	*n = 0;
	st = db_exec(db, "LOCK TABLE master_key_check IN EXCLUSIVE MODE",
	    DB_END);
	if (st == DB_OK)
		st = read_check(db, old_key, &found);
	if (st == DB_OK)
		st = write_check(db, new_key, true);
	return st;
}
