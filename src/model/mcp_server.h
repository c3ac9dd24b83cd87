/*
 * mcp_server: an organisation's MCP servers and which agents use them
 * (owns tables `mcp_servers` and `agent_mcp_servers`).
 *
 * A server has a name, a slug (the prefix of its tools' names on the
 * wire), a Streamable HTTP URL, an authentication kind and the secrets
 * that kind needs, each sealed for its own row and column with the master
 * key (AD "mcp_servers.<column>#<id>", crypto/secret.h):
 *
 *   none          nothing
 *   bearer        secret = a static token sent as "Authorization: Bearer"
 *   headers       secret = a JSON object {"Name": "value"} of headers
 *   oauth_client  OAuth 2.1 client credentials: client id in clear,
 *                 secret = the client secret; access token cached sealed
 *   oauth_code    OAuth 2.1 authorization code + PKCE started from the
 *                 panel: client id (registered dynamically when empty),
 *                 secret = client secret if any; access and refresh tokens
 *                 sealed; a pending flow keeps SHA-256(state) and the
 *                 sealed PKCE verifier for ten minutes
 *
 * Only masked hints leave this module in list/get results. A URL change
 * requires the secret again (DESIGN.md: a secret goes only to the
 * destination it was entered for) and forgets OAuth tokens and metadata.
 *
 * Plugin ids: an MCP server is enabled on an agent as the plugin
 * "mcp:<id>" (MCP_PLUGIN_PREFIX), with a tool filter.
 *
 * Thread-safety: stateless; each call uses the caller's connection. Every
 * statement names org_id = $1 except the _any_org ones.
 */
#ifndef PARLEY_MODEL_MCP_SERVER_H
#define PARLEY_MODEL_MCP_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "model/fielderr.h"

struct arena;
struct secret_key;

#define MCP_PLUGIN_PREFIX	"mcp:"
#define MCP_HEADERS_MAX		20
#define MCP_FILTER_TOOLS_MAX	200
#define MCP_TOOL_NAME_MAX	128	/* the spec's SHOULD (PROTOCOLS.md §6.2) */
#define MCP_OAUTH_PENDING_S	600	/* an authorization must finish in it */

enum mcp_auth {
	MCP_AUTH_NONE = 0,
	MCP_AUTH_BEARER,
	MCP_AUTH_HEADERS,
	MCP_AUTH_OAUTH_CLIENT,
	MCP_AUTH_OAUTH_CODE,
};

enum mcp_filter {
	MCP_FILTER_ALL = 0,
	MCP_FILTER_ONLY,
	MCP_FILTER_EXCEPT,
};

struct mcp_server {
	int64_t		 id;
	char		*name;
	char		*slug;
	char		*url;
	enum mcp_auth	 auth;
	bool		 has_secret;
	char		*secret_hint;		/* masked, "" when none */
	char		**header_names;		/* auth "headers" */
	int		 n_headers;
	char		*oauth_client_id;
	char		*oauth_scope;
	char		*oauth_issuer;		/* discovered, "" before */
	bool		 oauth_connected;	/* holds an access token */
	bool		 oauth_has_refresh;
	char		*oauth_connected_at;	/* RFC 3339 or "" */
	char		*access_expires_at;	/* RFC 3339 or "" */
	int		 timeout_ms;
	int		 max_result_bytes;
	bool		 has_test;
	bool		 last_test_ok;
	char		*last_tested_at;	/* RFC 3339 or "" */
	char		*last_test_message;
	int		 n_agents;
	char		*created_at;
	char		*updated_at;
};

struct mcp_server_input {
	const char	*name;
	const char	*slug;		/* NULL or "": from the name */
	const char	*url;
	const char	*auth;		/* "none" | "bearer" | … */
	/* The token (bearer) or client secret (OAuth); NULL or "": keep the
	 * stored one (update), none (create). */
	const char	*secret;
	/* auth "headers": a JSON object of header names to values; NULL:
	 * keep the stored headers (update). */
	const char	*headers_json;
	const char	*oauth_client_id;
	const char	*oauth_scope;
	int		 timeout_ms;		/* 0: default (create) / keep */
	int		 max_result_bytes;	/* 0: default (create) / keep */
};

/*
 * What a call to the server needs, secrets decrypted (malloc'd; wiped by
 * mcp_conn_cleanup). stamp changes whenever the configuration does, so a
 * cache keyed on (id, stamp) never uses a stale URL or credential.
 */
struct mcp_conn {
	int64_t		 org_id;
	int64_t		 id;
	int64_t		 stamp;
	char		*name;
	char		*slug;
	char		*url;
	enum mcp_auth	 auth;
	char		*secret;		/* token / client secret / NULL */
	char		*headers_json;		/* auth "headers", else NULL */
	char		*oauth_client_id;
	char		*oauth_scope;
	char		*oauth_issuer;
	char		*oauth_token_url;
	char		*oauth_resource;
	char		*access_token;		/* NULL: none stored */
	int64_t		 access_expires_at;	/* unix s, 0: unknown */
	char		*refresh_token;		/* NULL: none */
	int		 timeout_ms;
	int		 max_result_bytes;
};

/* An agent's use of a server. */
struct mcp_agent_link {
	int64_t		 server_id;
	char		*name;		/* the server's */
	char		*slug;
	enum mcp_filter	 filter;
	char		**tools;
	int		 n_tools;
};

const char	*mcp_auth_str(enum mcp_auth a);
bool		 mcp_auth_parse(const char *s, enum mcp_auth *out);
const char	*mcp_filter_str(enum mcp_filter f);
bool		 mcp_filter_parse(const char *s, enum mcp_filter *out);
/* "mcp:12" → 12; false for anything else. */
bool		 mcp_plugin_id_parse(const char *plugin_id, int64_t *server_id);
/* Lower-case letters and digits of name, starting with a letter, at most
 * 20 ("CRM (EU)" → "crmeu"); "mcp" when nothing is left. */
void		 mcp_slugify(const char *name, char out[24]);

enum db_status	 mcp_server_list(struct db *db, struct arena *a,
		    int64_t org_id, struct mcp_server **out, int *n)
		    __attribute__((warn_unused_result));
enum db_status	 mcp_server_get(struct db *db, struct arena *a,
		    int64_t org_id, int64_t id, struct mcp_server *out)
		    __attribute__((warn_unused_result));
/*
 * Validates (DB_INVALID + errs, one sentence per field: name, slug, url,
 * auth, secret, headers, oauth_client_id, oauth_scope, timeout_ms,
 * max_result_bytes), seals the secrets for the new row, inserts.
 * DB_CONFLICT names "name" or "slug".
 */
enum db_status	 mcp_server_create(struct db *db, const struct secret_key *k,
		    int64_t org_id, const struct mcp_server_input *in,
		    struct field_errors *errs, int64_t *id)
		    __attribute__((warn_unused_result));
/*
 * The same for a stored server. A changed URL (or authentication kind)
 * needs the secret again when the kind has one ("secret" or "headers"
 * error otherwise) and forgets OAuth tokens, metadata and a dynamically
 * registered client. *url_changed (may be NULL) says whether it changed.
 */
enum db_status	 mcp_server_update(struct db *db, const struct secret_key *k,
		    int64_t org_id, int64_t id, const struct mcp_server_input *in,
		    struct field_errors *errs, bool *url_changed)
		    __attribute__((warn_unused_result));
enum db_status	 mcp_server_delete(struct db *db, int64_t org_id, int64_t id)
		    __attribute__((warn_unused_result));

/* Loads and decrypts; DB_INVALID when a secret does not open. */
enum db_status	 mcp_server_conn_get(struct db *db, const struct secret_key *k,
		    int64_t org_id, int64_t id, struct mcp_conn *out)
		    __attribute__((warn_unused_result));
void		 mcp_conn_cleanup(struct mcp_conn *c);

/* Records the outcome of a connection test (message: a sentence). */
enum db_status	 mcp_server_record_test(struct db *db, int64_t org_id,
		    int64_t id, bool ok, const char *message)
		    __attribute__((warn_unused_result));
/* Keeps what OAuth discovery learnt (issuer, token endpoint, resource). */
enum db_status	 mcp_server_set_oauth_meta(struct db *db, int64_t org_id,
		    int64_t id, const char *issuer, const char *token_url,
		    const char *resource) __attribute__((warn_unused_result));
/* Keeps a dynamically registered client (client_secret may be NULL). */
enum db_status	 mcp_server_set_client(struct db *db,
		    const struct secret_key *k, int64_t org_id, int64_t id,
		    const char *client_id, const char *client_secret)
		    __attribute__((warn_unused_result));
/*
 * Stores tokens: access (required), its lifetime (expires_in seconds, 0:
 * unknown), and refresh (NULL: keep the stored one; "" removes it).
 * Leaves updated_at alone: a new token is not a new configuration.
 */
enum db_status	 mcp_server_set_tokens(struct db *db,
		    const struct secret_key *k, int64_t org_id, int64_t id,
		    const char *access, int64_t expires_in, const char *refresh)
		    __attribute__((warn_unused_result));
/* Forgets the tokens (disconnect, or a refresh token that was refused). */
enum db_status	 mcp_server_clear_tokens(struct db *db, int64_t org_id,
		    int64_t id) __attribute__((warn_unused_result));
/*
 * Starts an authorization-code flow: keeps SHA-256(state), the sealed
 * PKCE verifier and the authorization server's issuer, replacing any
 * pending one.
 */
enum db_status	 mcp_server_oauth_begin(struct db *db,
		    const struct secret_key *k, int64_t org_id, int64_t id,
		    const char *state, const char *verifier, const char *issuer)
		    __attribute__((warn_unused_result));
/*
 * Takes (and clears, once) the pending flow whose state this is, in this
 * organisation, started less than MCP_OAUTH_PENDING_S ago: *id, the
 * verifier (secret_plain_free) and the expected issuer (malloc'd).
 * DB_NOT_FOUND for an unknown, used or expired state.
 */
enum db_status	 mcp_server_oauth_take(struct db *db,
		    const struct secret_key *k, int64_t org_id,
		    const char *state, int64_t *id, char **verifier,
		    char **issuer) __attribute__((warn_unused_result));

/* The agent's servers (by name), with their filters. */
enum db_status	 mcp_server_agent_links(struct db *db, struct arena *a,
		    int64_t org_id, int64_t agent_id,
		    struct mcp_agent_link **out, int *n)
		    __attribute__((warn_unused_result));
/*
 * Replaces the agent's servers with server_ids (each must be one of the
 * organisation's: DB_INVALID otherwise). A server already enabled keeps
 * its filter; a new one gets "all". Joins the caller's transaction.
 */
enum db_status	 mcp_server_agent_set(struct db *db, int64_t org_id,
		    int64_t agent_id, const int64_t *server_ids, int n)
		    __attribute__((warn_unused_result));
/*
 * Enables one server on the agent with a filter and its tool names (each
 * 1–128 characters), or updates them; DB_NOT_FOUND when the agent or the
 * server is not the organisation's.
 */
enum db_status	 mcp_server_agent_enable(struct db *db, int64_t org_id,
		    int64_t agent_id, int64_t server_id, enum mcp_filter f,
		    const char *const *tools, int n_tools)
		    __attribute__((warn_unused_result));
enum db_status	 mcp_server_agent_disable(struct db *db, int64_t org_id,
		    int64_t agent_id, int64_t server_id)
		    __attribute__((warn_unused_result));
/* True when filter f with tools lets tool `name` through. */
bool		 mcp_filter_allows(enum mcp_filter f, char *const *tools,
		    int n_tools, const char *name);

/* Re-seals every secret column of every organisation (`parley key
 * rotate`; the caller holds the transaction). */
enum db_status	 mcp_server_rotate_keys_any_org(struct db *db,
		    const struct secret_key *old_key,
		    const struct secret_key *new_key, int *n)
		    __attribute__((warn_unused_result));

#endif
