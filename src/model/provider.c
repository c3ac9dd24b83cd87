/*
 * provider: an organisation's LLM endpoints (owns table llm_providers; see
 * provider.h).
 *
 * The API key is sealed for its own row (AD "llm_providers.api_key_enc#ID"),
 * so the row id must be known before the INSERT: it is taken from the
 * sequence with nextval() and inserted explicitly. A failed INSERT only
 * burns a sequence number. Plaintext keys exist here only between the
 * caller's input and secret_seal(), and in provider_get_endpoint()'s
 * result; they are never logged, and the masked hint is computed from the
 * plaintext at write time so reading a list never opens a key.
 *
 * The destination rule (provider.h) is one UPDATE: it writes the row only
 * when a new key comes with the change, the base URL stays, or no key is
 * stored; a CTE locks and returns the old name, URL and key state, so
 * the refusal and the audit entries are decided on the very row written
 * (a concurrent save cannot slip a URL change past the check).
 *
 * Thread-safety: stateless; each call uses the caller's connection.
 */
#include "model/provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "util/log.h"
#include "crypto/secret.h"
#include "model/audit.h"
#include "util/arena.h"
#include "util/utf8.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define PROVIDER_TABLE		"llm_providers"
#define PROVIDER_KEY_COLUMN	"api_key_enc"
#define PROVIDER_NAME_MAX	100
#define PROVIDER_URL_MAX	2000
#define PROVIDER_KEY_MAX	4096

struct clean_input {
	char	*name;
	char	*base_url;
	char	*api_key;	/* NULL: none given */
};

static void	 validate(const struct provider_input *, struct clean_input *,
		    struct field_errors *);
static void	 clean_free(struct clean_input *);
static void	 row_read(struct arena *, const struct db_res *, int,
		    struct provider *);
static void	 audit_update(struct db *, const struct provider_input *,
		    int64_t, const struct db_res *, const struct clean_input *,
		    bool, const char *);

/*
 * Fills c with trimmed, normalised copies (always, so clean_free can run)
 * and errs with one sentence per bad field.
 */
static void
validate(const struct provider_input *in, struct clean_input *c,
    struct field_errors *errs)
{
	size_t	 n, scheme;
	char	*host;

	c->name = str_trim_dup(in->name);
	c->base_url = str_trim_dup(in->base_url);
	c->api_key = NULL;
	if (in->api_key != NULL && in->api_key[0] != '\0')
		c->api_key = str_trim_dup(in->api_key);

	n = strlen(c->name);
	if (n == 0)
		field_error_add(errs, "name", "Enter a name.");
	else if (!utf8_valid(c->name, n) || str_has_ctl(c->name))
		field_error_add(errs, "name", "Use printable characters only.");
	else if (utf8_count(c->name, n) > PROVIDER_NAME_MAX)
		field_error_add(errs, "name", "Use at most 100 characters.");

	/* Trailing slashes go: callers append "/models" and the like. */
	n = strlen(c->base_url);
	while (n > 0 && c->base_url[n - 1] == '/')
		c->base_url[--n] = '\0';
	scheme = 0;
	if (strncasecmp(c->base_url, "https://", 8) == 0)
		scheme = 8;
	else if (strncasecmp(c->base_url, "http://", 7) == 0)
		scheme = 7;
	for (size_t i = 0; i < scheme; i++)
		c->base_url[i] = (char)(c->base_url[i] | 0x20);
	host = c->base_url + scheme;
	if (n == 0)
		field_error_add(errs, "base_url", "Enter the API's base URL, "
		    "for example https://api.openai.com/v1.");
	else if (n > PROVIDER_URL_MAX)
		field_error_add(errs, "base_url", "Use at most 2000 "
		    "characters.");
	else if (!utf8_valid(c->base_url, n) || str_has_ctl(c->base_url) ||
	    strchr(c->base_url, ' ') != NULL)
		field_error_add(errs, "base_url", "A URL has no spaces or "
		    "control characters.");
	else if (scheme == 0 || *host == '\0' || *host == '/' ||
	    *host == '?' || *host == '#' || *host == ':' || *host == '@')
		field_error_add(errs, "base_url", "Use an http:// or https:// "
		    "URL with a host, for example https://api.openai.com/v1.");
	else if (memchr(host, '@', strcspn(host, "/?#")) != NULL)
		/* Secrets belong in the sealed key, never in a shown URL. */
		field_error_add(errs, "base_url", "Put the key in the API key "
		    "field: a base URL with a user name or password in it "
		    "would be stored and shown in the clear.");
	else if (strpbrk(host, "?#") != NULL)
		field_error_add(errs, "base_url", "A base URL has no query "
		    "(?…) or fragment (#…): Parley adds /chat/completions "
		    "and /models to it.");

	if (c->api_key != NULL) {
		n = strlen(c->api_key);
		if (n > PROVIDER_KEY_MAX)
			field_error_add(errs, "api_key", "An API key is at most "
			    "4096 bytes.");
		else if (str_has_ctl(c->api_key) || !utf8_valid(c->api_key, n))
			field_error_add(errs, "api_key", "An API key has no "
			    "control characters or line breaks.");
		else if (n == 0) {
			free(c->api_key);
			c->api_key = NULL;
		}
	}
}

/* Wipes the key copy: it is plaintext. */
static void
clean_free(struct clean_input *c)
{
	free(c->name);
	free(c->base_url);
	if (c->api_key != NULL) {
		sodium_memzero(c->api_key, strlen(c->api_key));
		free(c->api_key);
	}
	memset(c, 0, sizeof(*c));
}

/* Columns: id, name, base_url, api_key_hint, has_key, n_models, created,
 * updated. */
static void
row_read(struct arena *a, const struct db_res *res, int i, struct provider *p)
{
	p->id = db_res_i64(res, i, 0);
	p->name = arena_strdup(a, db_res_text(res, i, 1));
	p->base_url = arena_strdup(a, db_res_text(res, i, 2));
	p->api_key_hint = arena_strdup(a, db_res_text(res, i, 3));
	p->has_key = db_res_bool(res, i, 4);
	p->n_models = (int)db_res_i64(res, i, 5);
	p->created_at = arena_strdup(a, db_res_text(res, i, 6));
	p->updated_at = arena_strdup(a, db_res_text(res, i, 7));
}

enum db_status
provider_list(struct db *db, struct arena *a, int64_t org_id,
    struct provider **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT p.id, p.name, p.base_url, p.api_key_hint,"
	    "       p.api_key_enc IS NOT NULL,"
	    "       (SELECT count(*) FROM org_models m"
	    "         WHERE m.org_id = p.org_id AND m.provider_id = p.id),"
	    "       to_char(p.created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
	    "       to_char(p.updated_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
	    "  FROM llm_providers p"
	    " WHERE p.org_id = $1"
	    " ORDER BY lower(p.name), p.id",
	    DB_I64(org_id), DB_END);
	if (st == DB_OK && res.n_rows > 0) {
		*out = arena_alloc(a, sizeof(**out) * (size_t)res.n_rows);
		for (int i = 0; i < res.n_rows; i++)
			row_read(a, &res, i, &(*out)[i]);
		*n = res.n_rows;
	}
	db_res_clear(&res);
	return st;
}

enum db_status
provider_get(struct db *db, struct arena *a, int64_t org_id, int64_t id,
    struct provider *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "SELECT p.id, p.name, p.base_url, p.api_key_hint,"
	    "       p.api_key_enc IS NOT NULL,"
	    "       (SELECT count(*) FROM org_models m"
	    "         WHERE m.org_id = p.org_id AND m.provider_id = p.id),"
	    "       to_char(p.created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
	    "       to_char(p.updated_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
	    "  FROM llm_providers p"
	    " WHERE p.org_id = $1 AND p.id = $2",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		row_read(a, &res, 0, out);
	db_res_clear(&res);
	return st;
}

enum db_status
provider_create(struct db *db, const struct secret_key *k, int64_t org_id,
    const struct provider_input *in, struct field_errors *errs, int64_t *id)
{
	struct clean_input	 c;
	struct db_res		 res = { 0 };
	unsigned char		*sealed = NULL;
	size_t			 sealed_len = 0;
	char			 hint[64];
	int64_t			 new_id;
	enum db_status		 st;

	validate(in, &c, errs);
	if (errs->n > 0) {
		st = DB_INVALID;
		goto out;
	}
	st = db_query(db, &res,
	    "SELECT nextval(pg_get_serial_sequence('llm_providers', 'id'))",
	    DB_END);
	if (st != DB_OK)
		goto out;
	new_id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	secret_mask(c.api_key, hint, sizeof(hint));
	if (c.api_key != NULL)
		sealed = secret_seal(k, PROVIDER_TABLE, PROVIDER_KEY_COLUMN,
		    new_id, c.api_key, strlen(c.api_key), &sealed_len);
	st = db_exec(db,
	    "INSERT INTO llm_providers"
	    "       (org_id, id, name, base_url, api_key_enc, api_key_hint)"
	    " VALUES ($1, $2, $3, $4, $5::bytea, $6)",
	    DB_I64(org_id), DB_I64(new_id), DB_TEXT(c.name),
	    DB_TEXT(c.base_url),
	    sealed != NULL ? DB_BYTES(sealed, sealed_len) : DB_NULL,
	    DB_TEXT(hint), DB_END);
	if (st == DB_CONFLICT)
		field_error_add(errs, "name", "Another provider already has "
		    "this name.");
	if (st == DB_OK) {
		*id = new_id;
		if (in->who != NULL) {
			char	 host[256], d[600];

			provider_url_host(c.base_url, host, sizeof(host));
			snprintf(d, sizeof(d), "%s at %s", c.name, host);
			audit_record(db, in->who, "provider.created",
			    "provider", new_id, d);
			if (c.api_key != NULL) {
				snprintf(d, sizeof(d), "key set (%s)", hint);
				audit_record(db, in->who,
				    "provider.key_changed", "provider", new_id,
				    d);
			}
		}
	}
out:
	free(sealed);
	clean_free(&c);
	return st;
}

enum db_status
provider_update(struct db *db, const struct secret_key *k, int64_t org_id,
    int64_t id, const struct provider_input *in, struct field_errors *errs)
{
	struct clean_input	 c;
	struct db_res		 res = { 0 };
	unsigned char		*sealed = NULL;
	size_t			 sealed_len = 0;
	char			 hint[64];
	bool			 set_key;
	enum db_status		 st;

	validate(in, &c, errs);
	if (errs->n > 0) {
		st = DB_INVALID;
		goto out;
	}
	/* A new key wins over clear_key; neither keeps the stored one. */
	set_key = c.api_key != NULL || in->clear_key;
	secret_mask(c.api_key, hint, sizeof(hint));
	if (c.api_key != NULL)
		sealed = secret_seal(k, PROVIDER_TABLE, PROVIDER_KEY_COLUMN,
		    id, c.api_key, strlen(c.api_key), &sealed_len);
	/*
	 * The row is written only when the stored key may follow the base
	 * URL: a new key (or its removal) comes with the change, the URL is
	 * the same, or there is no key. old is the row as it was (locked).
	 */
	st = db_query(db, &res,
	    "WITH old AS ("
	    "    SELECT name, base_url, api_key_enc IS NOT NULL AS had_key"
	    "      FROM llm_providers"
	    "     WHERE org_id = $1 AND id = $2"
	    "       FOR UPDATE),"
	    " upd AS ("
	    "    UPDATE llm_providers p"
	    "       SET name = $3, base_url = $4,"
	    "           api_key_enc = CASE WHEN $5 THEN $6::bytea"
	    "                         ELSE p.api_key_enc END,"
	    "           api_key_hint = CASE WHEN $5 THEN $7"
	    "                          ELSE p.api_key_hint END,"
	    "           updated_at = now()"
	    "      FROM old"
	    "     WHERE p.org_id = $1 AND p.id = $2"
	    "       AND ($5 OR p.base_url = $4 OR p.api_key_enc IS NULL)"
	    "    RETURNING p.id)"
	    " SELECT old.name, old.base_url, old.had_key,"
	    "        (SELECT count(*) FROM upd)"
	    "   FROM old",
	    DB_I64(org_id), DB_I64(id), DB_TEXT(c.name), DB_TEXT(c.base_url),
	    DB_BOOL(set_key),
	    sealed != NULL ? DB_BYTES(sealed, sealed_len) : DB_NULL,
	    DB_TEXT(hint), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	else if (st == DB_OK && db_res_i64(&res, 0, 3) == 0) {
		st = DB_INVALID;
		field_error_add(errs, "api_key", "Enter the API key again: "
		    "the base URL changed, and a stored key is only ever sent "
		    "to the address it was entered for.");
	} else if (st == DB_OK && in->who != NULL)
		audit_update(db, in, id, &res, &c, set_key, hint);
	if (st == DB_CONFLICT)
		field_error_add(errs, "name", "Another provider already has "
		    "this name.");
out:
	db_res_clear(&res);
	free(sealed);
	clean_free(&c);
	return st;
}

/*
 * The audit entries of one update: res holds the old name, base URL and
 * whether a key was stored; c the values written.
 */
static void
audit_update(struct db *db, const struct provider_input *in, int64_t id,
    const struct db_res *res, const struct clean_input *c, bool set_key,
    const char *hint)
{
	const char	*old_name = db_res_text(res, 0, 0);
	const char	*old_url = db_res_text(res, 0, 1);
	bool		 had_key = db_res_bool(res, 0, 2), any = false;
	char		 from[256], to[256], d[600];

	if (strcmp(old_name, c->name) != 0) {
		snprintf(d, sizeof(d), "%s \xe2\x86\x92 %s", old_name,
		    c->name);
		audit_record(db, in->who, "provider.renamed", "provider", id,
		    d);
		any = true;
	}
	if (strcmp(old_url, c->base_url) != 0) {
		provider_url_host(old_url, from, sizeof(from));
		provider_url_host(c->base_url, to, sizeof(to));
		snprintf(d, sizeof(d), "%s \xe2\x86\x92 %s", from, to);
		audit_record(db, in->who, "provider.base_url_changed",
		    "provider", id, d);
		any = true;
	}
	if (c->api_key != NULL) {
		snprintf(d, sizeof(d), "key set (%s)", hint);
		audit_record(db, in->who, "provider.key_changed", "provider",
		    id, d);
		any = true;
	} else if (set_key && had_key) {
		audit_record(db, in->who, "provider.key_changed", "provider",
		    id, "key removed");
		any = true;
	}
	if (!any)
		audit_record(db, in->who, "provider.updated", "provider", id,
		    "no changes");
}

void
provider_url_host(const char *url, char *out, size_t outlen)
{
	const char	*p;
	size_t		 n;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (url == NULL || (p = strstr(url, "://")) == NULL)
		return;
	p += 3;
	/* Older rows may carry user:password@: never part of the host. */
	n = strcspn(p, "/?#");
	for (size_t i = n; i > 0; i--)
		if (p[i - 1] == '@') {
			p += i;
			n -= i;
			break;
		}
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

enum db_status
provider_delete(struct db *db, int64_t org_id, int64_t id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	/*
	 * One statement: count the models that use it and delete only when
	 * there are none. A model added concurrently still cannot dangle:
	 * the foreign key refuses the delete (23503 → DB_INVALID).
	 */
	st = db_query(db, &res,
	    "WITH used AS ("
	    "    SELECT count(*) AS n FROM org_models"
	    "     WHERE org_id = $1 AND provider_id = $2),"
	    " gone AS ("
	    "    DELETE FROM llm_providers"
	    "     WHERE org_id = $1 AND id = $2"
	    "       AND (SELECT n FROM used) = 0"
	    "    RETURNING id)"
	    " SELECT (SELECT n FROM used), (SELECT count(*) FROM gone)",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK) {
		if (db_res_i64(&res, 0, 0) > 0)
			st = DB_INVALID;
		else if (db_res_i64(&res, 0, 1) == 0)
			st = DB_NOT_FOUND;
	}
	db_res_clear(&res);
	return st;
}

enum db_status
provider_get_endpoint(struct db *db, const struct secret_key *k,
    int64_t org_id, int64_t id, char **base_url, char **api_key)
{
	struct db_res	 res = { 0 };
	unsigned char	*sealed = NULL;
	size_t		 sealed_len = 0;
	enum db_status	 st;

	*base_url = NULL;
	*api_key = NULL;
	st = db_query(db, &res,
	    "SELECT base_url, api_key_enc"
	    "  FROM llm_providers"
	    " WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st != DB_OK)
		goto out;
	if (!db_res_isnull(&res, 0, 1)) {
		sealed = db_res_bytes(&res, 0, 1, &sealed_len);
		*api_key = secret_open(k, PROVIDER_TABLE, PROVIDER_KEY_COLUMN,
		    id, sealed, sealed_len);
		if (*api_key == NULL) {
			/* Wrong master key, or the row was tampered with. */
			log_warn("provider", "msg=\"stored API key does not "
			    "decrypt\" org=%lld provider=%lld",
			    (long long)org_id, (long long)id);
			st = DB_INVALID;
			goto out;
		}
	}
	*base_url = xstrdup(db_res_text(&res, 0, 0));
out:
	free(sealed);
	db_res_clear(&res);
	return st;
}

enum db_status
provider_rotate_keys_any_org(struct db *db, const struct secret_key *old_key,
    const struct secret_key *new_key, int *n)
{
	struct db_res	 res = { 0 };
	unsigned char	*sealed = NULL, *resealed = NULL;
	size_t		 sealed_len, resealed_len;
	char		*plain = NULL;
	int64_t		 id;
	enum db_status	 st;

	*n = 0;
	/*
	 * Writers wait until the caller commits: a key saved meanwhile
	 * under the old master key would otherwise be missed.
	 */
	st = db_exec(db, "LOCK TABLE llm_providers IN EXCLUSIVE MODE", DB_END);
	if (st == DB_OK)
		st = db_query(db, &res,
		    "SELECT id, api_key_enc"
		    "  FROM llm_providers"
		    " WHERE api_key_enc IS NOT NULL"
		    " ORDER BY id",
		    DB_END);
	for (int i = 0; st == DB_OK && i < res.n_rows; i++) {
		id = db_res_i64(&res, i, 0);
		sealed = db_res_bytes(&res, i, 1, &sealed_len);
		plain = secret_open(old_key, PROVIDER_TABLE,
		    PROVIDER_KEY_COLUMN, id, sealed, sealed_len);
		if (plain == NULL) {
			/* The caller says so: it may only be probing a key. */
			st = DB_INVALID;
			goto out;
		}
		resealed = secret_seal(new_key, PROVIDER_TABLE,
		    PROVIDER_KEY_COLUMN, id, plain, strlen(plain),
		    &resealed_len);
		secret_plain_free(plain);
		plain = NULL;
		st = db_exec(db,
		    "UPDATE llm_providers SET api_key_enc = $2::bytea"
		    " WHERE id = $1",
		    DB_I64(id), DB_BYTES(resealed, resealed_len), DB_END);
		free(sealed);
		free(resealed);
		sealed = resealed = NULL;
		if (st == DB_OK)
			(*n)++;
	}
out:
	secret_plain_free(plain);
	free(sealed);
	free(resealed);
	db_res_clear(&res);
	return st;
}
