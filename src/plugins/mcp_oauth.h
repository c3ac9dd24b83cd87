/*
 * mcp_oauth: OAuth 2.1 for MCP servers (PROTOCOLS.md §6.1 and §6b,
 * docs/mcp.md), as the MCP authorization spec (2025-06-18 onwards) asks
 * of a client:
 *
 *   discovery  the protected-resource metadata (RFC 9728), from the
 *              resource_metadata of a 401's WWW-Authenticate or the
 *              well-known URIs under the server's path and origin; then
 *              the authorization server's metadata (RFC 8414, or OpenID
 *              discovery) at the well-known URIs of its issuer, whose
 *              `issuer` must match.
 *   tokens     client credentials, authorization code with PKCE (S256)
 *              and refresh, each naming the server in `resource`
 *              (RFC 8707); the client authenticates the way the
 *              metadata allows (client_secret_basic, client_secret_post,
 *              or none for a public client).
 *   clients    dynamic registration (RFC 7591) when no client id is
 *              configured and the server offers it.
 *
 * Every request goes through mcp_client_http: the same address guard and
 * no redirects. Thread-safety: stateless.
 */
#ifndef PARLEY_PLUGINS_MCP_OAUTH_H
#define PARLEY_PLUGINS_MCP_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugins/mcp_client.h"

struct mcp_oauth_meta {
	char	*resource;		/* what to name in `resource` */
	char	*issuer;
	char	*authorize_url;
	char	*token_url;
	char	*registration_url;	/* NULL: no dynamic registration */
	char	*scopes;		/* PRM scopes_supported, spaced */
	bool	 iss_required;		/* authorization_response_iss_… */
	bool	 auth_basic;		/* client_secret_basic allowed */
	bool	 auth_post;		/* client_secret_post allowed */
};

struct mcp_token {
	char	*access;		/* secret_plain-style: wiped on free */
	int64_t	 expires_in;		/* seconds, 0: not said */
	char	*refresh;		/* NULL: none issued */
};

/*
 * Learns where to get tokens for the server at t->url. www_auth: the
 * WWW-Authenticate of a 401 from it (NULL or "": probe the well-known
 * URIs). False with a sentence in err.
 */
bool	 mcp_oauth_discover(const struct mcp_target *t, const char *www_auth,
	    struct mcp_oauth_meta *out, char *err, size_t errlen);
void	 mcp_oauth_meta_cleanup(struct mcp_oauth_meta *m);

/* grant_type=client_credentials. */
bool	 mcp_oauth_client_credentials(const struct mcp_target *t,
	    const struct mcp_oauth_meta *m, const char *client_id,
	    const char *client_secret, const char *scope,
	    struct mcp_token *out, char *err, size_t errlen);
/* grant_type=refresh_token; *rejected when the server said invalid_grant
 * (the refresh token is dead: the user must authorize again). */
bool	 mcp_oauth_refresh(const struct mcp_target *t,
	    const struct mcp_oauth_meta *m, const char *client_id,
	    const char *client_secret, const char *refresh, const char *scope,
	    struct mcp_token *out, bool *rejected, char *err, size_t errlen);
/* grant_type=authorization_code with the PKCE verifier. */
bool	 mcp_oauth_exchange_code(const struct mcp_target *t,
	    const struct mcp_oauth_meta *m, const char *client_id,
	    const char *client_secret, const char *code, const char *verifier,
	    const char *redirect_uri, struct mcp_token *out, char *err,
	    size_t errlen);
/* RFC 7591 registration of a public client for redirect_uri: *client_id
 * and *client_secret (NULL when none was issued) are malloc'd. */
bool	 mcp_oauth_register(const struct mcp_target *t,
	    const struct mcp_oauth_meta *m, const char *redirect_uri,
	    char **client_id, char **client_secret, char *err, size_t errlen);
/*
 * The authorization request URL (malloc'd): response_type=code,
 * client_id, redirect_uri, S256 code_challenge of verifier, state,
 * resource and scope (when not empty).
 */
char	*mcp_oauth_authorize_url(const struct mcp_oauth_meta *m,
	    const char *client_id, const char *redirect_uri,
	    const char *verifier, const char *state, const char *scope);
/* A random PKCE verifier (43 characters) and state (43 characters). */
void	 mcp_oauth_random(char out[44]);
void	 mcp_token_cleanup(struct mcp_token *t);

#endif
