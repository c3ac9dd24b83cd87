/*
 * mcp_server: an organisation's MCP servers (owns mcp_servers and
 * agent_mcp_servers; see mcp_server.h).
 *
 * Sealing follows model/provider.c: the row id is taken from the sequence
 * before the INSERT so each secret is sealed for its own row, plaintext
 * exists only between the caller's input and secret_seal() (and in an
 * mcp_conn, which the caller wipes), and the masked hint is computed at
 * write time so listing never opens a secret.
 *
 * The secret column means what the row's auth kind says; changing the
 * kind or the URL drops what no longer applies in the same UPDATE.
 */
#include "model/mcp_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "crypto/secret.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"
#include "util/utf8.h"
#include "util/xmalloc.h"

#define T		"mcp_servers"
#define COL_SECRET	"secret_enc"
#define COL_ACCESS	"access_token_enc"
#define COL_REFRESH	"refresh_token_enc"
#define COL_VERIFIER	"oauth_verifier_enc"
#define NAME_MAX_CHARS	100
#define URL_MAX		2000
#define SECRET_MAX	8192
#define HEADER_VALUE_MAX 4096
#define SCOPE_MAX	1000
#define CLIENT_ID_MAX	500
#define DEFAULT_TIMEOUT_MS	30000
#define DEFAULT_MAX_RESULT	262144

struct clean {
	char		*name;
	char		 slug[24];
	char		*url;
	enum mcp_auth	 auth;
	char		*secret;	/* NULL: none given */
	char		*headers;	/* normalised JSON object, NULL: none */
	char		*header_names;	/* JSON array of the names */
	char		*hint;		/* masked */
	char		*client_id;
	char		*scope;
	int		 timeout_ms;
	int		 max_result;
};

static char	*trimmed(const char *);
static bool	 url_ok(const char *);
static bool	 header_name_ok(const char *);
static bool	 header_reserved(const char *);
static void	 headers_clean(const char *, struct clean *,
		    struct field_errors *);
static void	 validate(const struct mcp_server_input *, bool,
		    struct clean *, struct field_errors *);
static void	 clean_free(struct clean *);
static bool	 auth_has_secret(enum mcp_auth);
static char	**json_strings(struct arena *, const char *, int *);
static void	 row_read(struct arena *, const struct db_res *, int,
		    struct mcp_server *);
static enum db_status fetch(struct db *, struct arena *, int64_t, int64_t,
		    struct mcp_server **, int *);
static char	*open_col(const struct secret_key *, const char *, int64_t,
		    const struct db_res *, int, bool *);
static char	*strings_json(const char *const *, int);
static void	 state_hash(const char *, unsigned char[32]);
static void	 conflict_field(struct db *, int64_t, int64_t, const char *,
		    const char *, struct field_errors *);

const char *
mcp_auth_str(enum mcp_auth a)
{
	switch (a) {
	case MCP_AUTH_BEARER:		return "bearer";
	case MCP_AUTH_HEADERS:		return "headers";
	case MCP_AUTH_OAUTH_CLIENT:	return "oauth_client";
	case MCP_AUTH_OAUTH_CODE:	return "oauth_code";
	default:			return "none";
	}
}

bool
mcp_auth_parse(const char *s, enum mcp_auth *out)
{
	static const enum mcp_auth all[] = { MCP_AUTH_NONE, MCP_AUTH_BEARER,
	    MCP_AUTH_HEADERS, MCP_AUTH_OAUTH_CLIENT, MCP_AUTH_OAUTH_CODE };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (str_eq(s, mcp_auth_str(all[i]))) {
			*out = all[i];
			return true;
		}
	return false;
}

const char *
mcp_filter_str(enum mcp_filter f)
{
	return f == MCP_FILTER_ONLY ? "only" : f == MCP_FILTER_EXCEPT ?
	    "except" : "all";
}

bool
mcp_filter_parse(const char *s, enum mcp_filter *out)
{
	if (str_eq(s, "all"))
		*out = MCP_FILTER_ALL;
	else if (str_eq(s, "only"))
		*out = MCP_FILTER_ONLY;
	else if (str_eq(s, "except"))
		*out = MCP_FILTER_EXCEPT;
	else
		return false;
	return true;
}

bool
mcp_plugin_id_parse(const char *plugin_id, int64_t *server_id)
{
	const char	*p;

	if (!str_starts_with(plugin_id, MCP_PLUGIN_PREFIX))
		return false;
	p = plugin_id + strlen(MCP_PLUGIN_PREFIX);
	if (*p < '1' || *p > '9' || strlen(p) > 18)
		return false;
	for (const char *q = p; *q != '\0'; q++)
		if (*q < '0' || *q > '9')
			return false;
	return str_to_i64(p, server_id) && *server_id > 0;
}

void
mcp_slugify(const char *name, char out[24])
{
	size_t	 n = 0;

	for (const char *p = name != NULL ? name : ""; *p != '\0' && n < 20;
	    p++) {
		char	 c = *p;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (n > 0 && c >= '0' && c <= '9'))
			out[n++] = c;
	}
	out[n] = '\0';
	if (n == 0)
		str_copy(out, "mcp", 24);
}

bool
mcp_filter_allows(enum mcp_filter f, char *const *tools, int n_tools,
    const char *name)
{
	bool	 listed = false;

	for (int i = 0; i < n_tools && !listed; i++)
		listed = str_eq(tools[i], name);
	switch (f) {
	case MCP_FILTER_ONLY:
		return listed;
	case MCP_FILTER_EXCEPT:
		return !listed;
	default:
		return true;
	}
}

/* --- validation -------------------------------------------------------- */

/* A malloc'd copy without surrounding white space (NULL: ""). */
static char *
trimmed(const char *s)
{
	return str_trim(xstrdup(s != NULL ? s : ""));
}

/* http(s)://host… with no white space, control bytes, user info or
 * fragment: a URL credentials could hide in is refused. */
static bool
url_ok(const char *u)
{
	const char	*host, *end;
	size_t		 n = strlen(u);

	if (n < 8 || n > URL_MAX || !utf8_valid(u, n) || str_has_ctl(u) ||
	    strchr(u, ' ') != NULL || strchr(u, '#') != NULL)
		return false;
	if (strncmp(u, "https://", 8) == 0)
		host = u + 8;
	else if (strncmp(u, "http://", 7) == 0)
		host = u + 7;
	else
		return false;
	end = host + strcspn(host, "/?");
	if (end == host || *host == ':' || memchr(host, '@',
	    (size_t)(end - host)) != NULL)
		return false;
	return true;
}

/* RFC 9110 token characters. */
static bool
header_name_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 100)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~",
		    *s) != NULL))
			return false;
	return true;
}

/* Headers the client itself sets: a custom one would break the protocol
 * or smuggle a second value. */
static bool
header_reserved(const char *s)
{
	static const char *const reserved[] = { "host", "content-length",
	    "content-type", "accept", "transfer-encoding", "connection",
	    "mcp-session-id", "mcp-protocol-version", "mcp-method",
	    "mcp-name", "last-event-id", "traceparent", "tracestate",
	    "cookie", "expect", "te", "upgrade" };

	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcasecmp(s, reserved[i]) == 0)
			return true;
	return strncasecmp(s, "mcp-param-", 10) == 0;
}

/* The headers object → c->headers (normalised), c->header_names, hint. */
static void
headers_clean(const char *json, struct clean *c, struct field_errors *errs)
{
	cJSON		*o = json_parse_str(json, NULL);
	cJSON		*out = NULL, *names = NULL;
	const cJSON	*h;
	struct buf	 hint;
	char		 mask[64];
	int		 n = 0;

	buf_init(&hint, 4096);
	if (!cJSON_IsObject(o)) {
		field_error_add(errs, "headers", "Give the headers as name: "
		    "value pairs.");
		goto out;
	}
	out = cJSON_CreateObject();
	names = cJSON_CreateArray();
	cJSON_ArrayForEach(h, o) {
		if (++n > MCP_HEADERS_MAX) {
			field_error_add(errs, "headers", "Use at most 20 "
			    "headers.");
			goto out;
		}
		if (!header_name_ok(h->string)) {
			field_error_addf(errs, "headers", "\"%.100s\" is not a "
			    "header name (letters, digits and - only).",
			    h->string);
			goto out;
		}
		if (header_reserved(h->string)) {
			field_error_addf(errs, "headers", "Parley sets %s "
			    "itself; it cannot be a custom header.",
			    h->string);
			goto out;
		}
		if (cJSON_GetObjectItem(out, h->string) != NULL) {
			field_error_addf(errs, "headers", "%s is given twice.",
			    h->string);
			goto out;
		}
		if (!cJSON_IsString(h) || h->valuestring[0] == '\0' ||
		    strlen(h->valuestring) > HEADER_VALUE_MAX ||
		    str_has_ctl(h->valuestring) ||
		    !utf8_valid(h->valuestring, strlen(h->valuestring))) {
			field_error_addf(errs, "headers", "The value of %s "
			    "must be 1 to 4096 printable characters on one "
			    "line.", h->string);
			goto out;
		}
		cJSON_AddStringToObject(out, h->string, h->valuestring);
		cJSON_AddItemToArray(names, cJSON_CreateString(h->string));
		buf_printf(&hint, "%s%s: %s", hint.len > 0 ? ", " : "",
		    h->string, secret_mask(h->valuestring, mask,
		    sizeof(mask)));
	}
	if (n == 0) {
		field_error_add(errs, "headers", "Add at least one header.");
		goto out;
	}
	c->headers = cJSON_PrintUnformatted(out);
	c->header_names = cJSON_PrintUnformatted(names);
	if (c->headers == NULL || c->header_names == NULL)
		abort();
	free(c->hint);
	c->hint = xstrdup(hint.err ? "(headers)" : buf_str(&hint));
out:
	buf_cleanup(&hint);
	if (o != NULL) {
		/* The parsed values are plaintext secrets. */
		cJSON_ArrayForEach(h, o)
			if (cJSON_IsString(h))
				sodium_memzero(h->valuestring,
				    strlen(h->valuestring));
	}
	cJSON_Delete(o);
	cJSON_Delete(out);
	cJSON_Delete(names);
}

static bool
auth_has_secret(enum mcp_auth a)
{
	return a == MCP_AUTH_BEARER || a == MCP_AUTH_HEADERS ||
	    a == MCP_AUTH_OAUTH_CLIENT;
}

/*
 * Fills c (always, so clean_free can run) and errs. creating: a secret
 * the kind needs must be given (update checks that against the row).
 */
static void
validate(const struct mcp_server_input *in, bool creating, struct clean *c,
    struct field_errors *errs)
{
	char	 mask[64];
	size_t	 n;

	memset(c, 0, sizeof(*c));
	c->name = trimmed(in->name);
	c->url = trimmed(in->url);
	c->client_id = trimmed(in->oauth_client_id);
	c->scope = trimmed(in->oauth_scope);
	c->hint = xstrdup("");
	if (in->secret != NULL && in->secret[0] != '\0')
		c->secret = trimmed(in->secret);

	n = strlen(c->name);
	if (n == 0)
		field_error_add(errs, "name", "Enter a name.");
	else if (!utf8_valid(c->name, n) || str_has_ctl(c->name))
		field_error_add(errs, "name", "Use printable characters only.");
	else if (utf8_count(c->name, n) > NAME_MAX_CHARS)
		field_error_add(errs, "name", "Use at most 100 characters.");

	if (in->slug != NULL && in->slug[0] != '\0') {
		const char	*s = in->slug;
		bool		 ok = strlen(s) <= 20 && s[0] >= 'a' &&
				    s[0] <= 'z';

		for (; ok && *s != '\0'; s++)
			ok = (*s >= 'a' && *s <= 'z') || (*s >= '0' &&
			    *s <= '9');
		if (!ok)
			field_error_add(errs, "slug", "Use 1 to 20 lower-case "
			    "letters and digits, starting with a letter.");
		else
			str_copy(c->slug, in->slug, sizeof(c->slug));
	} else
		mcp_slugify(c->name, c->slug);

	if (c->url[0] == '\0')
		field_error_add(errs, "url", "Enter the server's Streamable "
		    "HTTP URL, for example https://mcp.example.com/mcp.");
	else if (!url_ok(c->url))
		field_error_add(errs, "url", "Use an http:// or https:// URL "
		    "with a host, no spaces, no user name and no #fragment.");

	if (!mcp_auth_parse(in->auth != NULL && in->auth[0] != '\0' ?
	    in->auth : "none", &c->auth)) {
		field_error_add(errs, "auth", "Choose none, bearer, headers, "
		    "oauth_client or oauth_code.");
		c->auth = MCP_AUTH_NONE;
	}

	if (c->secret != NULL) {
		n = strlen(c->secret);
		if (n > SECRET_MAX || str_has_ctl(c->secret) ||
		    !utf8_valid(c->secret, n))
			field_error_add(errs, "secret", "A token or secret is "
			    "1 to 8192 printable characters on one line.");
		else if (c->auth == MCP_AUTH_BEARER ||
		    c->auth == MCP_AUTH_OAUTH_CLIENT ||
		    c->auth == MCP_AUTH_OAUTH_CODE) {
			free(c->hint);
			c->hint = xstrdup(secret_mask(c->secret, mask,
			    sizeof(mask)));
		}
	}
	if (c->auth == MCP_AUTH_HEADERS && in->headers_json != NULL)
		headers_clean(in->headers_json, c, errs);
	else if (c->auth == MCP_AUTH_HEADERS && creating)
		field_error_add(errs, "headers", "Add at least one header.");

	if (creating && c->secret == NULL && c->auth == MCP_AUTH_BEARER)
		field_error_add(errs, "secret", "Enter the bearer token.");
	if (creating && c->secret == NULL && c->auth == MCP_AUTH_OAUTH_CLIENT)
		field_error_add(errs, "secret", "Enter the client secret.");
	if (c->auth == MCP_AUTH_OAUTH_CLIENT && c->client_id[0] == '\0')
		field_error_add(errs, "oauth_client_id", "Enter the client "
		    "id.");
	if (strlen(c->client_id) > CLIENT_ID_MAX || str_has_ctl(c->client_id))
		field_error_add(errs, "oauth_client_id", "A client id is at "
		    "most 500 printable characters.");
	if (strlen(c->scope) > SCOPE_MAX || str_has_ctl(c->scope))
		field_error_add(errs, "oauth_scope", "Scopes are at most 1000 "
		    "printable characters, separated by spaces.");

	c->timeout_ms = in->timeout_ms;
	if (c->timeout_ms != 0 && (c->timeout_ms < 1000 ||
	    c->timeout_ms > 120000))
		field_error_add(errs, "timeout_ms", "Use 1000 to 120000 "
		    "milliseconds.");
	c->max_result = in->max_result_bytes;
	if (c->max_result != 0 && (c->max_result < 1024 ||
	    c->max_result > 8388608))
		field_error_add(errs, "max_result_bytes", "Use 1024 to "
		    "8388608 bytes.");
}

static void
clean_free(struct clean *c)
{
	free(c->name);
	free(c->url);
	free(c->client_id);
	free(c->scope);
	free(c->hint);
	free(c->header_names);
	if (c->secret != NULL) {
		sodium_memzero(c->secret, strlen(c->secret));
		free(c->secret);
	}
	if (c->headers != NULL) {
		sodium_memzero(c->headers, strlen(c->headers));
		free(c->headers);
	}
	memset(c, 0, sizeof(*c));
}

/* --- reads --------------------------------------------------------------- */

static char **
json_strings(struct arena *a, const char *text, int *n)
{
	cJSON		*arr = json_parse_str(text, NULL);
	const cJSON	*e;
	char		**out;
	int		 i = 0;

	*n = 0;
	out = arena_alloc(a, sizeof(char *) *
	    ((size_t)cJSON_GetArraySize(arr) + 1));
	cJSON_ArrayForEach(e, arr)
		if (cJSON_IsString(e))
			out[i++] = arena_strdup(a, e->valuestring);
	out[i] = NULL;
	*n = i;
	cJSON_Delete(arr);
	return out;
}

static void
row_read(struct arena *a, const struct db_res *res, int i,
    struct mcp_server *s)
{
	memset(s, 0, sizeof(*s));
	s->id = db_res_i64(res, i, 0);
	s->name = arena_strdup(a, db_res_text(res, i, 1));
	s->slug = arena_strdup(a, db_res_text(res, i, 2));
	s->url = arena_strdup(a, db_res_text(res, i, 3));
	if (!mcp_auth_parse(db_res_text(res, i, 4), &s->auth))
		s->auth = MCP_AUTH_NONE;
	s->has_secret = db_res_bool(res, i, 5);
	s->secret_hint = arena_strdup(a, db_res_text(res, i, 6));
	s->header_names = json_strings(a, db_res_text(res, i, 7),
	    &s->n_headers);
	s->oauth_client_id = arena_strdup(a, db_res_text(res, i, 8));
	s->oauth_scope = arena_strdup(a, db_res_text(res, i, 9));
	s->oauth_issuer = arena_strdup(a, db_res_text(res, i, 10));
	s->oauth_connected = db_res_bool(res, i, 11);
	s->oauth_has_refresh = db_res_bool(res, i, 12);
	s->oauth_connected_at = arena_strdup(a, db_res_text(res, i, 13));
	s->access_expires_at = arena_strdup(a, db_res_text(res, i, 14));
	s->timeout_ms = (int)db_res_i64(res, i, 15);
	s->max_result_bytes = (int)db_res_i64(res, i, 16);
	s->has_test = db_res_bool(res, i, 17);
	s->last_test_ok = db_res_bool(res, i, 18);
	s->last_tested_at = arena_strdup(a, db_res_text(res, i, 19));
	s->last_test_message = arena_strdup(a, db_res_text(res, i, 20));
	s->n_agents = (int)db_res_i64(res, i, 21);
	s->created_at = arena_strdup(a, db_res_text(res, i, 22));
	s->updated_at = arena_strdup(a, db_res_text(res, i, 23));
}

/* The organisation's servers, or only id (0: all), by name. */
static enum db_status
fetch(struct db *db, struct arena *a, int64_t org_id, int64_t id,
    struct mcp_server **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT s.id, s.name, s.slug, s.url, s.auth,"
	    "       s.secret_enc IS NOT NULL, s.secret_hint,"
	    "       array_to_json(s.header_names)::text,"
	    "       s.oauth_client_id, s.oauth_scope, s.oauth_issuer,"
	    "       s.access_token_enc IS NOT NULL,"
	    "       s.refresh_token_enc IS NOT NULL,"
	    "       coalesce(to_char(s.oauth_connected_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
	    "       coalesce(to_char(s.access_expires_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
	    "       s.timeout_ms, s.max_result_bytes,"
	    "       s.last_test_ok IS NOT NULL, coalesce(s.last_test_ok, false),"
	    "       coalesce(to_char(s.last_tested_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
	    "       s.last_test_message,"
	    "       (SELECT count(*) FROM agent_mcp_servers l"
	    "         WHERE l.org_id = s.org_id AND l.server_id = s.id),"
	    "       to_char(s.created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
	    "       to_char(s.updated_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
	    "  FROM mcp_servers s"
	    " WHERE s.org_id = $1 AND ($2 = 0 OR s.id = $2)"
	    " ORDER BY lower(s.name), s.id",
	    DB_I64(org_id), DB_I64(id), DB_END);
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
mcp_server_list(struct db *db, struct arena *a, int64_t org_id,
    struct mcp_server **out, int *n)
{
	return fetch(db, a, org_id, 0, out, n);
}

enum db_status
mcp_server_get(struct db *db, struct arena *a, int64_t org_id, int64_t id,
    struct mcp_server *out)
{
	struct mcp_server	*v;
	int			 n;
	enum db_status		 st;

	if (id <= 0)
		return DB_NOT_FOUND;
	st = fetch(db, a, org_id, id, &v, &n);
	if (st == DB_OK && n == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		*out = v[0];
	return st;
}

/* --- writes ---------------------------------------------------------------- */

static void
conflict_field(struct db *db, int64_t org_id, int64_t id, const char *name,
    const char *slug, struct field_errors *errs)
{
	struct db_res	 res = { 0 };

	if (db_query(db, &res,
	    "SELECT count(*) FROM mcp_servers"
	    " WHERE org_id = $1 AND id <> $2 AND lower(name) = lower($3)",
	    DB_I64(org_id), DB_I64(id), DB_TEXT(name), DB_END) == DB_OK &&
	    db_res_i64(&res, 0, 0) > 0)
		field_error_add(errs, "name", "Another MCP server already has "
		    "this name.");
	else
		field_error_addf(errs, "slug", "Another MCP server already "
		    "uses the tool prefix \"%s\": choose another.", slug);
	db_res_clear(&res);
}

enum db_status
mcp_server_create(struct db *db, const struct secret_key *k, int64_t org_id,
    const struct mcp_server_input *in, struct field_errors *errs, int64_t *id)
{
	struct clean	 c;
	struct db_res	 res = { 0 };
	unsigned char	*sealed = NULL;
	size_t		 sealed_len = 0;
	const char	*plain;
	int64_t		 new_id;
	enum db_status	 st;

	validate(in, true, &c, errs);
	if (errs->n > 0) {
		st = DB_INVALID;
		goto out;
	}
	st = db_query(db, &res,
	    "SELECT nextval(pg_get_serial_sequence('mcp_servers', 'id'))",
	    DB_END);
	if (st != DB_OK)
		goto out;
	new_id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	plain = c.auth == MCP_AUTH_HEADERS ? c.headers :
	    c.auth != MCP_AUTH_NONE ? c.secret : NULL;
	if (plain != NULL)
		sealed = secret_seal(k, T, COL_SECRET, new_id, plain,
		    strlen(plain), &sealed_len);
	st = db_exec(db,
	    "INSERT INTO mcp_servers"
	    "       (org_id, id, name, slug, url, auth, secret_enc,"
	    "        secret_hint, header_names, oauth_client_id, oauth_scope,"
	    "        timeout_ms, max_result_bytes)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7::bytea, $8,"
	    "         ARRAY(SELECT jsonb_array_elements_text($9::jsonb)),"
	    "         $10, $11, $12, $13)",
	    DB_I64(org_id), DB_I64(new_id), DB_TEXT(c.name), DB_TEXT(c.slug),
	    DB_TEXT(c.url), DB_TEXT(mcp_auth_str(c.auth)),
	    sealed != NULL ? DB_BYTES(sealed, sealed_len) : DB_NULL,
	    DB_TEXT(plain != NULL ? c.hint : ""),
	    DB_TEXT(c.header_names != NULL ? c.header_names : "[]"),
	    DB_TEXT(c.client_id), DB_TEXT(c.scope),
	    DB_I64(c.timeout_ms > 0 ? c.timeout_ms : DEFAULT_TIMEOUT_MS),
	    DB_I64(c.max_result > 0 ? c.max_result : DEFAULT_MAX_RESULT),
	    DB_END);
	if (st == DB_CONFLICT)
		conflict_field(db, org_id, 0, c.name, c.slug, errs);
	if (st == DB_OK)
		*id = new_id;
out:
	free(sealed);
	clean_free(&c);
	return st;
}

enum db_status
mcp_server_update(struct db *db, const struct secret_key *k, int64_t org_id,
    int64_t id, const struct mcp_server_input *in, struct field_errors *errs,
    bool *url_changed)
{
	struct clean	 c;
	struct db_res	 res = { 0 };
	unsigned char	*sealed = NULL;
	size_t		 sealed_len = 0;
	const char	*plain = NULL;
	enum mcp_auth	 old_auth;
	bool		 moved, kind_changed, set_secret, has_secret;
	int64_t		 old_timeout, old_max;
	enum db_status	 st;

	if (url_changed != NULL)
		*url_changed = false;
	validate(in, false, &c, errs);
	if (errs->n > 0) {
		st = DB_INVALID;
		goto out;
	}
	st = db_query(db, &res,
	    "SELECT url, auth, secret_enc IS NOT NULL, oauth_client_id,"
	    "       timeout_ms, max_result_bytes"
	    "  FROM mcp_servers"
	    " WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st != DB_OK)
		goto out;
	moved = !str_eq(db_res_text(&res, 0, 0), c.url);
	if (!mcp_auth_parse(db_res_text(&res, 0, 1), &old_auth))
		old_auth = MCP_AUTH_NONE;
	has_secret = db_res_bool(&res, 0, 2);
	kind_changed = old_auth != c.auth;
	old_timeout = db_res_i64(&res, 0, 4);
	old_max = db_res_i64(&res, 0, 5);
	db_res_clear(&res);
	if (url_changed != NULL)
		*url_changed = moved;

	/*
	 * A stored secret only goes where it was entered for: a new URL or
	 * a new kind needs it again. (DESIGN.md, invariants.)
	 */
	if (c.auth == MCP_AUTH_HEADERS) {
		if (c.headers == NULL && (moved || kind_changed || !has_secret))
			field_error_add(errs, "headers", moved ? "The URL "
			    "changed: enter the headers again (stored "
			    "values only go to the URL they were entered "
			    "for)." : "Add at least one header.");
	} else if (auth_has_secret(c.auth) && c.secret == NULL &&
	    (moved || kind_changed || !has_secret))
		field_error_add(errs, "secret", moved ? "The URL changed: "
		    "enter the secret again (a stored secret only goes to "
		    "the URL it was entered for)." : c.auth ==
		    MCP_AUTH_BEARER ? "Enter the bearer token." :
		    "Enter the client secret.");
	if (errs->n > 0) {
		st = DB_INVALID;
		goto out;
	}
	if (c.auth == MCP_AUTH_HEADERS && c.headers != NULL)
		plain = c.headers;
	else if (c.auth != MCP_AUTH_HEADERS && c.auth != MCP_AUTH_NONE)
		plain = c.secret;
	/* set_secret: replace the column (with plain, or NULL). */
	set_secret = plain != NULL || c.auth == MCP_AUTH_NONE ||
	    ((moved || kind_changed) && c.auth == MCP_AUTH_OAUTH_CODE);
	if (plain != NULL)
		sealed = secret_seal(k, T, COL_SECRET, id, plain,
		    strlen(plain), &sealed_len);
	st = db_query(db, &res,
	    "UPDATE mcp_servers"
	    "   SET name = $3, slug = $4, url = $5, auth = $6,"
	    "       secret_enc = CASE WHEN $7 THEN $8::bytea"
	    "                    ELSE secret_enc END,"
	    "       secret_hint = CASE WHEN $7 THEN $9 ELSE secret_hint END,"
	    "       header_names = CASE WHEN $6 <> 'headers' THEN '{}'"
	    "                      WHEN $10::jsonb IS NULL THEN header_names"
	    "                      ELSE ARRAY(SELECT jsonb_array_elements_text("
	    "                          $10::jsonb)) END,"
	    /* A client registered with the old server means nothing to
	     * the new one. */
	    "       oauth_client_id = CASE WHEN $15 AND oauth_client_registered"
	    "                         THEN '' ELSE $11 END,"
	    "       oauth_scope = $12,"
	    "       timeout_ms = $13, max_result_bytes = $14,"
	    /* A new destination or kind: what was learnt or granted for the
	     * old one is forgotten. */
	    "       oauth_issuer = CASE WHEN $15 THEN '' ELSE oauth_issuer END,"
	    "       oauth_token_url = CASE WHEN $15 THEN ''"
	    "                         ELSE oauth_token_url END,"
	    "       oauth_resource = CASE WHEN $15 THEN ''"
	    "                        ELSE oauth_resource END,"
	    "       oauth_client_registered = CASE WHEN $15 THEN false"
	    "                        ELSE oauth_client_registered END,"
	    "       access_token_enc = CASE WHEN $15 OR $16 THEN NULL"
	    "                          ELSE access_token_enc END,"
	    "       access_expires_at = CASE WHEN $15 OR $16 THEN NULL"
	    "                           ELSE access_expires_at END,"
	    "       refresh_token_enc = CASE WHEN $15 OR $16 THEN NULL"
	    "                           ELSE refresh_token_enc END,"
	    "       oauth_connected_at = CASE WHEN $15 OR $16 THEN NULL"
	    "                            ELSE oauth_connected_at END,"
	    "       oauth_state_hash = NULL, oauth_verifier_enc = NULL,"
	    "       oauth_pending_issuer = NULL, oauth_started_at = NULL,"
	    "       updated_at = clock_timestamp()"
	    " WHERE org_id = $1 AND id = $2"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(id), DB_TEXT(c.name), DB_TEXT(c.slug),
	    DB_TEXT(c.url), DB_TEXT(mcp_auth_str(c.auth)), DB_BOOL(set_secret),
	    sealed != NULL ? DB_BYTES(sealed, sealed_len) : DB_NULL,
	    DB_TEXT(plain != NULL ? c.hint : ""),
	    c.header_names != NULL ? DB_TEXT(c.header_names) : DB_NULL,
	    DB_TEXT(c.client_id), DB_TEXT(c.scope),
	    DB_I64(c.timeout_ms > 0 ? c.timeout_ms : old_timeout),
	    DB_I64(c.max_result > 0 ? c.max_result : old_max),
	    DB_BOOL(moved || kind_changed),
	    /* A new client or secret invalidates the tokens too. */
	    DB_BOOL(plain != NULL && c.auth == MCP_AUTH_OAUTH_CLIENT),
	    DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_CONFLICT)
		conflict_field(db, org_id, id, c.name, c.slug, errs);
out:
	db_res_clear(&res);
	free(sealed);
	clean_free(&c);
	return st;
}

enum db_status
mcp_server_delete(struct db *db, int64_t org_id, int64_t id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "DELETE FROM mcp_servers WHERE org_id = $1 AND id = $2"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

/* --- runtime ----------------------------------------------------------------- */

/* Opens column col of row i (NULL when it is NULL); *bad on failure. */
static char *
open_col(const struct secret_key *k, const char *col, int64_t id,
    const struct db_res *res, int i, bool *bad)
{
	unsigned char	*sealed;
	size_t		 len;
	char		*plain;

	if (db_res_isnull(res, 0, i))
		return NULL;
	sealed = db_res_bytes(res, 0, i, &len);
	plain = secret_open(k, T, col, id, sealed, len);
	free(sealed);
	if (plain == NULL)
		*bad = true;
	return plain;
}

enum db_status
mcp_server_conn_get(struct db *db, const struct secret_key *k,
    int64_t org_id, int64_t id, struct mcp_conn *out)
{
	struct db_res	 res = { 0 };
	bool		 bad = false;
	char		*secret;
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    "SELECT name, slug, url, auth, secret_enc, oauth_client_id,"
	    "       oauth_scope, oauth_issuer, oauth_token_url,"
	    "       oauth_resource, access_token_enc,"
	    "       coalesce(extract(epoch FROM access_expires_at)::bigint, 0),"
	    "       refresh_token_enc, timeout_ms, max_result_bytes,"
	    "       (extract(epoch FROM updated_at) * 1000000)::bigint"
	    "  FROM mcp_servers"
	    " WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st != DB_OK)
		goto out;
	out->org_id = org_id;
	out->id = id;
	out->name = xstrdup(db_res_text(&res, 0, 0));
	out->slug = xstrdup(db_res_text(&res, 0, 1));
	out->url = xstrdup(db_res_text(&res, 0, 2));
	if (!mcp_auth_parse(db_res_text(&res, 0, 3), &out->auth))
		out->auth = MCP_AUTH_NONE;
	secret = open_col(k, COL_SECRET, id, &res, 4, &bad);
	if (out->auth == MCP_AUTH_HEADERS)
		out->headers_json = secret;
	else
		out->secret = secret;
	out->oauth_client_id = xstrdup(db_res_text(&res, 0, 5));
	out->oauth_scope = xstrdup(db_res_text(&res, 0, 6));
	out->oauth_issuer = xstrdup(db_res_text(&res, 0, 7));
	out->oauth_token_url = xstrdup(db_res_text(&res, 0, 8));
	out->oauth_resource = xstrdup(db_res_text(&res, 0, 9));
	out->access_token = open_col(k, COL_ACCESS, id, &res, 10, &bad);
	out->access_expires_at = db_res_i64(&res, 0, 11);
	out->refresh_token = open_col(k, COL_REFRESH, id, &res, 12, &bad);
	out->timeout_ms = (int)db_res_i64(&res, 0, 13);
	out->max_result_bytes = (int)db_res_i64(&res, 0, 14);
	out->stamp = db_res_i64(&res, 0, 15);
	if (bad) {
		log_warn("mcp", "msg=\"stored secret does not decrypt\" "
		    "org=%lld server=%lld", (long long)org_id, (long long)id);
		st = DB_INVALID;
	}
out:
	db_res_clear(&res);
	if (st != DB_OK)
		mcp_conn_cleanup(out);
	return st;
}

void
mcp_conn_cleanup(struct mcp_conn *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c->slug);
	free(c->url);
	secret_plain_free(c->secret);
	secret_plain_free(c->headers_json);
	free(c->oauth_client_id);
	free(c->oauth_scope);
	free(c->oauth_issuer);
	free(c->oauth_token_url);
	free(c->oauth_resource);
	secret_plain_free(c->access_token);
	secret_plain_free(c->refresh_token);
	memset(c, 0, sizeof(*c));
}

enum db_status
mcp_server_record_test(struct db *db, int64_t org_id, int64_t id, bool ok,
    const char *message)
{
	return db_exec(db,
	    "UPDATE mcp_servers"
	    "   SET last_tested_at = now(), last_test_ok = $3,"
	    "       last_test_message = left($4, 2000)"
	    " WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(id), DB_BOOL(ok),
	    DB_TEXT(message != NULL ? message : ""), DB_END);
}

enum db_status
mcp_server_set_oauth_meta(struct db *db, int64_t org_id, int64_t id,
    const char *issuer, const char *token_url, const char *resource)
{
	return db_exec(db,
	    "UPDATE mcp_servers"
	    "   SET oauth_issuer = left($3, 2000),"
	    "       oauth_token_url = left($4, 2000),"
	    "       oauth_resource = left($5, 2000)"
	    " WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(id), DB_TEXT(issuer != NULL ? issuer : ""),
	    DB_TEXT(token_url != NULL ? token_url : ""),
	    DB_TEXT(resource != NULL ? resource : ""), DB_END);
}

enum db_status
mcp_server_set_client(struct db *db, const struct secret_key *k,
    int64_t org_id, int64_t id, const char *client_id,
    const char *client_secret)
{
	unsigned char	*sealed = NULL;
	size_t		 sealed_len = 0;
	char		 hint[64];
	enum db_status	 st;

	if (client_id == NULL || client_id[0] == '\0' ||
	    strlen(client_id) > CLIENT_ID_MAX || str_has_ctl(client_id))
		return DB_INVALID;
	if (client_secret != NULL && client_secret[0] != '\0')
		sealed = secret_seal(k, T, COL_SECRET, id, client_secret,
		    strlen(client_secret), &sealed_len);
	st = db_exec(db,
	    "UPDATE mcp_servers"
	    "   SET oauth_client_id = $3, oauth_client_registered = true,"
	    "       secret_enc = $4::bytea, secret_hint = $5"
	    " WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(id), DB_TEXT(client_id),
	    sealed != NULL ? DB_BYTES(sealed, sealed_len) : DB_NULL,
	    DB_TEXT(sealed != NULL ? secret_mask(client_secret, hint,
	    sizeof(hint)) : ""), DB_END);
	free(sealed);
	return st;
}

enum db_status
mcp_server_set_tokens(struct db *db, const struct secret_key *k,
    int64_t org_id, int64_t id, const char *access, int64_t expires_in,
    const char *refresh)
{
	unsigned char	*sa = NULL, *sr = NULL;
	size_t		 la = 0, lr = 0;
	enum db_status	 st;

	if (access == NULL || access[0] == '\0')
		return DB_INVALID;
	sa = secret_seal(k, T, COL_ACCESS, id, access, strlen(access), &la);
	if (refresh != NULL && refresh[0] != '\0')
		sr = secret_seal(k, T, COL_REFRESH, id, refresh,
		    strlen(refresh), &lr);
	st = db_exec(db,
	    "UPDATE mcp_servers"
	    "   SET access_token_enc = $3::bytea,"
	    "       access_expires_at = CASE WHEN $4 > 0"
	    "           THEN now() + make_interval(secs => $4) END,"
	    "       refresh_token_enc = CASE WHEN $5 THEN $6::bytea"
	    "                           ELSE refresh_token_enc END,"
	    "       oauth_connected_at = coalesce(oauth_connected_at, now())"
	    " WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(id), DB_BYTES(sa, la),
	    DB_I64(expires_in > 0 && expires_in < 100000000 ? expires_in : 0),
	    DB_BOOL(refresh != NULL),
	    sr != NULL ? DB_BYTES(sr, lr) : DB_NULL, DB_END);
	free(sa);
	free(sr);
	return st;
}

enum db_status
mcp_server_clear_tokens(struct db *db, int64_t org_id, int64_t id)
{
	return db_exec(db,
	    "UPDATE mcp_servers"
	    "   SET access_token_enc = NULL, access_expires_at = NULL,"
	    "       refresh_token_enc = NULL, oauth_connected_at = NULL"
	    " WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(id), DB_END);
}

static void
state_hash(const char *state, unsigned char out[32])
{
	crypto_hash_sha256(out, (const unsigned char *)state, strlen(state));
}

enum db_status
mcp_server_oauth_begin(struct db *db, const struct secret_key *k,
    int64_t org_id, int64_t id, const char *state, const char *verifier,
    const char *issuer)
{
	unsigned char	 h[32];
	unsigned char	*sealed;
	size_t		 len;
	enum db_status	 st;

	state_hash(state, h);
	sealed = secret_seal(k, T, COL_VERIFIER, id, verifier,
	    strlen(verifier), &len);
	st = db_exec(db,
	    "UPDATE mcp_servers"
	    "   SET oauth_state_hash = $3::bytea,"
	    "       oauth_verifier_enc = $4::bytea,"
	    "       oauth_pending_issuer = $5, oauth_started_at = now()"
	    " WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(id), DB_BYTES(h, sizeof(h)),
	    DB_BYTES(sealed, len), DB_TEXT(issuer != NULL ? issuer : ""),
	    DB_END);
	free(sealed);
	return st;
}

enum db_status
mcp_server_oauth_take(struct db *db, const struct secret_key *k,
    int64_t org_id, const char *state, int64_t *id, char **verifier,
    char **issuer)
{
	struct db_res	 res = { 0 };
	unsigned char	 h[32];
	unsigned char	*sealed = NULL;
	size_t		 len;
	enum db_status	 st;

	*id = 0;
	*verifier = NULL;
	*issuer = NULL;
	state_hash(state != NULL ? state : "", h);
	/* One statement: the first callback takes it, a replay finds none. */
	st = db_query(db, &res,
	    "UPDATE mcp_servers s"
	    "   SET oauth_state_hash = NULL, oauth_verifier_enc = NULL,"
	    "       oauth_pending_issuer = NULL, oauth_started_at = NULL"
	    "  FROM (SELECT id, oauth_verifier_enc AS v,"
	    "               oauth_pending_issuer AS iss,"
	    "               oauth_started_at AS at"
	    "          FROM mcp_servers"
	    "         WHERE org_id = $1 AND oauth_state_hash = $2::bytea"
	    "         FOR UPDATE) old"
	    " WHERE s.org_id = $1 AND s.id = old.id"
	    " RETURNING s.id, old.v, old.iss,"
	    "           old.at > now() - make_interval(secs => $3)",
	    DB_I64(org_id), DB_BYTES(h, sizeof(h)),
	    DB_I64(MCP_OAUTH_PENDING_S), DB_END);
	if (st == DB_OK && (res.n_rows == 0 || !db_res_bool(&res, 0, 3) ||
	    db_res_isnull(&res, 0, 1)))
		st = DB_NOT_FOUND;
	if (st != DB_OK)
		goto out;
	*id = db_res_i64(&res, 0, 0);
	sealed = db_res_bytes(&res, 0, 1, &len);
	*verifier = secret_open(k, T, COL_VERIFIER, *id, sealed, len);
	if (*verifier == NULL) {
		st = DB_INVALID;
		goto out;
	}
	*issuer = xstrdup(db_res_text(&res, 0, 2));
out:
	free(sealed);
	db_res_clear(&res);
	return st;
}

/* --- agents ---------------------------------------------------------------- */

enum db_status
mcp_server_agent_links(struct db *db, struct arena *a, int64_t org_id,
    int64_t agent_id, struct mcp_agent_link **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT s.id, s.name, s.slug, l.tool_filter,"
	    "       array_to_json(l.tools)::text"
	    "  FROM agent_mcp_servers l"
	    "  JOIN mcp_servers s ON s.org_id = l.org_id AND s.id = l.server_id"
	    " WHERE l.org_id = $1 AND l.agent_id = $2"
	    " ORDER BY lower(s.name), s.id",
	    DB_I64(org_id), DB_I64(agent_id), DB_END);
	if (st == DB_OK && res.n_rows > 0) {
		*out = arena_alloc(a, sizeof(**out) * (size_t)res.n_rows);
		for (int i = 0; i < res.n_rows; i++) {
			struct mcp_agent_link	*l = &(*out)[i];

			l->server_id = db_res_i64(&res, i, 0);
			l->name = arena_strdup(a, db_res_text(&res, i, 1));
			l->slug = arena_strdup(a, db_res_text(&res, i, 2));
			if (!mcp_filter_parse(db_res_text(&res, i, 3),
			    &l->filter))
				l->filter = MCP_FILTER_ALL;
			l->tools = json_strings(a, db_res_text(&res, i, 4),
			    &l->n_tools);
		}
		*n = res.n_rows;
	}
	db_res_clear(&res);
	return st;
}

/* A JSON array of the strings (malloc'd). */
static char *
strings_json(const char *const *v, int n)
{
	cJSON	*arr = cJSON_CreateArray();
	char	*s;

	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]));
	s = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	if (s == NULL)
		abort();
	return s;
}

enum db_status
mcp_server_agent_set(struct db *db, int64_t org_id, int64_t agent_id,
    const int64_t *server_ids, int n)
{
	struct buf	 ids;
	struct db_res	 res = { 0 };
	bool		 own = false;
	enum db_status	 st;

	if (n < 0 || n > 64)
		return DB_INVALID;
	buf_init(&ids, 4096);
	buf_putc(&ids, '[');
	for (int i = 0; i < n; i++)
		buf_printf(&ids, "%s%lld", i > 0 ? "," : "",
		    (long long)server_ids[i]);
	buf_putc(&ids, ']');
	if ((st = db_tx_join(db, &own)) != DB_OK)
		goto out;
	st = db_query(db, &res,
	    "SELECT count(*) FROM mcp_servers"
	    " WHERE org_id = $1 AND id IN"
	    "       (SELECT jsonb_array_elements_text($2::jsonb)::bigint)",
	    DB_I64(org_id), DB_TEXT(buf_str(&ids)), DB_END);
	if (st != DB_OK)
		goto out;
	{
		int64_t	 found = db_res_i64(&res, 0, 0);
		int	 distinct = 0;

		for (int i = 0; i < n; i++) {
			bool	 dup = false;

			for (int j = 0; j < i && !dup; j++)
				dup = server_ids[j] == server_ids[i];
			distinct += !dup;
		}
		if (found != distinct) {
			st = DB_INVALID;
			goto out;
		}
	}
	st = db_exec(db,
	    "DELETE FROM agent_mcp_servers"
	    " WHERE org_id = $1 AND agent_id = $2"
	    "   AND server_id NOT IN"
	    "       (SELECT jsonb_array_elements_text($3::jsonb)::bigint)",
	    DB_I64(org_id), DB_I64(agent_id), DB_TEXT(buf_str(&ids)), DB_END);
	if (st != DB_OK)
		goto out;
	st = db_exec(db,
	    "INSERT INTO agent_mcp_servers (org_id, agent_id, server_id)"
	    " SELECT DISTINCT $1::bigint, $2::bigint,"
	    "        jsonb_array_elements_text($3::jsonb)::bigint"
	    " ON CONFLICT (agent_id, server_id) DO NOTHING",
	    DB_I64(org_id), DB_I64(agent_id), DB_TEXT(buf_str(&ids)), DB_END);
out:
	db_res_clear(&res);
	st = db_tx_leave(db, own, st);
	buf_cleanup(&ids);
	return st;
}

enum db_status
mcp_server_agent_enable(struct db *db, int64_t org_id, int64_t agent_id,
    int64_t server_id, enum mcp_filter f, const char *const *tools,
    int n_tools)
{
	struct db_res	 res = { 0 };
	char		*json;
	enum db_status	 st;

	if (n_tools < 0 || n_tools > MCP_FILTER_TOOLS_MAX)
		return DB_INVALID;
	for (int i = 0; i < n_tools; i++) {
		size_t	 len = strlen(tools[i]);

		if (len == 0 || len > MCP_TOOL_NAME_MAX ||
		    str_has_ctl(tools[i]) || !utf8_valid(tools[i], len))
			return DB_INVALID;
	}
	json = strings_json(tools, n_tools);
	st = db_query(db, &res,
	    "INSERT INTO agent_mcp_servers"
	    "       (org_id, agent_id, server_id, tool_filter, tools)"
	    " SELECT $1, a.id, s.id, $4,"
	    "        ARRAY(SELECT jsonb_array_elements_text($5::jsonb))"
	    "   FROM agents a, mcp_servers s"
	    "  WHERE a.org_id = $1 AND a.id = $2"
	    "    AND s.org_id = $1 AND s.id = $3"
	    " ON CONFLICT (agent_id, server_id) DO UPDATE"
	    "   SET tool_filter = EXCLUDED.tool_filter,"
	    "       tools = EXCLUDED.tools"
	    " RETURNING server_id",
	    DB_I64(org_id), DB_I64(agent_id), DB_I64(server_id),
	    DB_TEXT(mcp_filter_str(f)), DB_TEXT(json), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	free(json);
	return st;
}

enum db_status
mcp_server_agent_disable(struct db *db, int64_t org_id, int64_t agent_id,
    int64_t server_id)
{
	return db_exec(db,
	    "DELETE FROM agent_mcp_servers"
	    " WHERE org_id = $1 AND agent_id = $2 AND server_id = $3",
	    DB_I64(org_id), DB_I64(agent_id), DB_I64(server_id), DB_END);
}

/* --- key rotation ------------------------------------------------------ */

enum db_status
mcp_server_rotate_keys_any_org(struct db *db, const struct secret_key *old_key,
    const struct secret_key *new_key, int *n)
{
	static const char *const cols[] = { COL_SECRET, COL_ACCESS,
	    COL_REFRESH, COL_VERIFIER };
	struct db_res	 res = { 0 };
	unsigned char	*sealed = NULL, *resealed = NULL;
	size_t		 len, relen;
	char		*plain = NULL;
	enum db_status	 st;

	*n = 0;
	st = db_exec(db, "LOCK TABLE mcp_servers IN EXCLUSIVE MODE", DB_END);
	if (st == DB_OK)
		st = db_query(db, &res,
		    "SELECT id, secret_enc, access_token_enc,"
		    "       refresh_token_enc, oauth_verifier_enc"
		    "  FROM mcp_servers ORDER BY id",
		    DB_END);
	for (int i = 0; st == DB_OK && i < res.n_rows; i++) {
		int64_t	 id = db_res_i64(&res, i, 0);

		for (int c = 0; st == DB_OK && c < 4; c++) {
			if (db_res_isnull(&res, i, c + 1))
				continue;
			sealed = db_res_bytes(&res, i, c + 1, &len);
			plain = secret_open(old_key, T, cols[c], id, sealed,
			    len);
			if (plain == NULL) {
				st = DB_INVALID;
				goto out;
			}
			resealed = secret_seal(new_key, T, cols[c], id, plain,
			    strlen(plain), &relen);
			secret_plain_free(plain);
			plain = NULL;
			/* One statement for the four columns: c picks one. */
			st = db_exec(db,
			    "UPDATE mcp_servers"
			    "   SET secret_enc = CASE WHEN $3 = 0 THEN $2::bytea"
			    "                    ELSE secret_enc END,"
			    "       access_token_enc = CASE WHEN $3 = 1"
			    "           THEN $2::bytea ELSE access_token_enc END,"
			    "       refresh_token_enc = CASE WHEN $3 = 2"
			    "           THEN $2::bytea ELSE refresh_token_enc END,"
			    "       oauth_verifier_enc = CASE WHEN $3 = 3"
			    "           THEN $2::bytea ELSE oauth_verifier_enc END"
			    " WHERE id = $1",
			    DB_I64(id), DB_BYTES(resealed, relen), DB_I64(c),
			    DB_END);
			free(sealed);
			free(resealed);
			sealed = resealed = NULL;
			if (st == DB_OK)
				(*n)++;
		}
	}
out:
	secret_plain_free(plain);
	free(sealed);
	free(resealed);
	db_res_clear(&res);
	return st;
}
