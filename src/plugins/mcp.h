/*
 * mcp: an organisation's MCP servers as plugins. For a model call it
 * turns the servers an agent enabled into tools (plugin.h's run-time
 * tools), runs their calls, and keeps, per server and per process, what
 * the protocol and the tool list taught it (mcp_client.h's session, the
 * tools with their freshness). Panel and API use it to test a server and
 * to run the OAuth authorization-code flow.
 *
 * Functions that take a pool acquire connections themselves and never
 * hold one while a server or an authorization server answers: a caller
 * holding a request connection releases it first.
 */
#ifndef PARLEY_PLUGINS_MCP_H
#define PARLEY_PLUGINS_MCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "db/db.h"

struct arena;
struct config;
struct db_pool;
struct plugin;
struct plugin_ctx;
struct secret_key;

/* How long a tool list is fresh when the server gives no ttlMs. */
#define MCP_TOOLS_TTL_MS	300000
/* How long a server that failed to list is not asked again. */
#define MCP_RETRY_AFTER_MS	30000

/* plugin_dynamic_tools for MCP servers (see plugin.h). */
int	 mcp_agent_tools(struct plugin_ctx *ctx, const struct plugin **out,
	    int max);

struct mcp_probe {
	bool	 ok;
	char	 message[512];		/* a sentence either way */
	cJSON	*tools;			/* [{name, title, description}] */
	char	 version[16];		/* the protocol version spoken */
	char	 server_name[128];
};

/*
 * Test connection: negotiates, gets or refreshes a token as a call
 * would (stored), lists the tools (and refreshes the cache), records the
 * outcome on the server's row. False with out->message on failure.
 */
bool	 mcp_probe(struct db_pool *pool, const struct secret_key *key,
	    const struct config *cfg, int64_t org_id, int64_t id,
	    struct mcp_probe *out);
void	 mcp_probe_cleanup(struct mcp_probe *p);

/*
 * The authorization-code flow's first leg: discovery, dynamic client
 * registration when the server has no client id, a PKCE verifier and a
 * state kept (sealed, hashed) on the row. *url (malloc'd) is where to
 * send the admin's browser. False with a sentence in err.
 */
bool	 mcp_authorize_begin(struct db_pool *pool, const struct secret_key *key,
	    const struct config *cfg, int64_t org_id, int64_t id,
	    const char *redirect_uri, char **url, char *err, size_t errlen);
/*
 * The callback: takes the pending state (once, in org_id, unexpired),
 * checks `iss` against the authorization server (RFC 9207: required
 * when its metadata says it sends one), exchanges the code and stores
 * the tokens. *id gets the server (0 when the state was unknown).
 */
bool	 mcp_authorize_finish(struct db_pool *pool,
	    const struct secret_key *key, const struct config *cfg,
	    int64_t org_id, const char *state, const char *code,
	    const char *iss, const char *redirect_uri, int64_t *id, char *err,
	    size_t errlen);

/*
 * An agent's enabled plugins as the API and the panel name them: the
 * first-party ids (plugin.h) and "mcp:<server id>" for each MCP server.
 * mcp_plugins_valid: an available first-party id or a well-formed MCP id
 * (whether that server is the organisation's is checked on save).
 * mcp_plugins_set replaces both sets (DB_INVALID for an unknown id or
 * another organisation's server; a server kept keeps its tool filter),
 * joining the caller's transaction. mcp_plugins_get lists them (arena).
 */
bool	 mcp_plugins_valid(const char *id);
enum db_status	 mcp_plugins_set(struct db *db, int64_t org_id,
		    int64_t agent_id, const char *const *ids, int n)
		    __attribute__((warn_unused_result));
enum db_status	 mcp_plugins_get(struct db *db, struct arena *a,
		    int64_t org_id, int64_t agent_id, char *const *first_party,
		    int n_first_party, char ***ids, int *n)
		    __attribute__((warn_unused_result));

/* Forgets what this process cached about a server (changed, deleted). */
void	 mcp_forget(int64_t org_id, int64_t id);
/* Frees the cache (process exit). */
void	 mcp_shutdown(void);

#endif
