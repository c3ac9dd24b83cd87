/*
 * mcp: MCP servers as plugins (see mcp.h).
 *
 * DESIGN. A model call that offers an agent's MCP tools goes in three
 * steps, and only the first touches the database:
 *
 *   load    one connection: the agent's links (server, tool filter) and
 *           each server's configuration with its secrets decrypted
 *           (model/mcp_server.h's struct mcp_conn), then released.
 *   list    per server, the cached tool list when it is fresh (the
 *           server's ttlMs, else MCP_TOOLS_TTL_MS, and no
 *           tools/list_changed seen since); otherwise tools/list over the
 *           network. A server that fails keeps its last list if it had
 *           one and is not asked again for MCP_RETRY_AFTER_MS, so a dead
 *           server costs one timeout, not one per turn, and takes down
 *           only its own tools.
 *   call    the model's calls run tools/call with the server's timeout
 *           and result cap; every failure becomes a tool error the model
 *           reads (never a failed turn).
 *
 * OAuth tokens (client credentials, or the panel's authorization code)
 * are fetched or refreshed before a call when missing or about to
 * expire, and once more after a 401; a new token is stored with a
 * connection taken after the token endpoint answered. Refreshes are
 * serialised in this process (token_lock) and re-read the row first, so
 * two workers do not spend one rotating refresh token twice.
 *
 * Tool names on the wire: "<slug>_<tool>" with characters outside
 * [A-Za-z0-9_-] replaced (OpenAI's rule, PROTOCOLS.md §5.1); a name that
 * is too long or collides with a built-in or another tool becomes
 * "<prefix>_<8 hex of a hash of server and tool>" instead.
 *
 * The cache (cache[], cache_lock) is per process: sessions and tool
 * lists, keyed by (org, server, configuration stamp), so an edited server
 * is never called with a stale URL or credential. It is the only shared
 * state; nothing is held across a network call.
 */
#include "plugins/mcp.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/context.h"
#include "crypto/secret.h"
#include "db/db.h"
#include "model/agent.h"
#include "model/mcp_server.h"
#include "plugins/mcp_client.h"
#include "plugins/mcp_oauth.h"
#include "plugins/plugin.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/config.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"
#include "util/time.h"
#include "util/utf8.h"
#include "util/xmalloc.h"

#define CACHE_MAX		256
#define LIST_TIMEOUT_MAX_MS	15000
#define TOKEN_MARGIN_S		60
#define DESCRIPTION_MAX		1024
#define SERVERS_MAX		32

struct entry {
	int64_t			 org_id;
	int64_t			 id;
	int64_t			 stamp;
	struct mcp_session	 s;
	cJSON			*tools;		/* last good list, or NULL */
	int64_t			 fresh_until;	/* monotonic ms */
	int64_t			 retry_after;	/* monotonic ms */
	int64_t			 used;
};

/* One server during one model call (in the call's arena). */
struct server_rt {
	struct mcp_conn		 conn;
	struct db_pool		*pool;
	const struct secret_key	*key;
	const struct config	*cfg;
	char			**auth;		/* "Name: value" lines */
	int			 n_auth;
};

struct mcp_tool {
	struct plugin		 p;
	struct server_rt	*srv;
	char			*name;		/* on the server */
	cJSON			*schema;	/* its inputSchema (arena) */
};

static pthread_mutex_t	 cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t	 token_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry	 cache[CACHE_MAX];
static int		 n_cache;

static struct entry	*entry_get(int64_t, int64_t, int64_t);
static void		 session_get(const struct mcp_conn *,
			    struct mcp_session *);
static void		 session_put(const struct mcp_conn *,
			    const struct mcp_session *);
static void		 auth_free(struct server_rt *);
static void		 auth_build(struct server_rt *);
static void		 target_of(struct server_rt *, struct mcp_target *,
			    int);
static bool		 ensure_token(struct server_rt *, bool, const char *,
			    char *, size_t);
static cJSON		*tools_of(struct server_rt *, char *, size_t);
static void		 rt_free(void *);
static bool		 wire_taken(const char *, char (*)[PLUGIN_WIRE_MAX + 1],
			    int);
static void		 wire_name(const char *, const char *, int64_t,
			    char (*)[PLUGIN_WIRE_MAX + 1], int,
			    char[PLUGIN_WIRE_MAX + 1]);
static bool		 tool_run(const struct plugin *, struct plugin_ctx *,
			    const cJSON *, char **, cJSON *);
static enum mcp_err	 call_with_auth(struct server_rt *, const char *,
			    const cJSON *, const cJSON *, struct mcp_result *);

/* --- the cache ---------------------------------------------------------- */

/* The entry (created, or reset when its stamp changed); cache_lock held. */
static struct entry *
entry_get(int64_t org_id, int64_t id, int64_t stamp)
{
	struct entry	*e = NULL;
	int64_t		 now = time_mono_ms();

	for (int i = 0; i < n_cache; i++)
		if (cache[i].org_id == org_id && cache[i].id == id) {
			e = &cache[i];
			break;
		}
	if (e == NULL && n_cache < CACHE_MAX)
		e = &cache[n_cache++];
	else if (e == NULL) {
		e = &cache[0];
		for (int i = 1; i < n_cache; i++)
			if (cache[i].used < e->used)
				e = &cache[i];
		e->stamp = -1;
	}
	if (e->org_id != org_id || e->id != id || e->stamp != stamp) {
		cJSON_Delete(e->tools);
		memset(e, 0, sizeof(*e));
		e->org_id = org_id;
		e->id = id;
		e->stamp = stamp;
	}
	e->used = now;
	return e;
}

static void
session_get(const struct mcp_conn *c, struct mcp_session *s)
{
	pthread_mutex_lock(&cache_lock);
	*s = entry_get(c->org_id, c->id, c->stamp)->s;
	pthread_mutex_unlock(&cache_lock);
}

static void
session_put(const struct mcp_conn *c, const struct mcp_session *s)
{
	struct entry	*e;

	pthread_mutex_lock(&cache_lock);
	e = entry_get(c->org_id, c->id, c->stamp);
	e->s = *s;
	pthread_mutex_unlock(&cache_lock);
}

void
mcp_forget(int64_t org_id, int64_t id)
{
	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < n_cache; i++)
		if (cache[i].org_id == org_id && cache[i].id == id) {
			cJSON_Delete(cache[i].tools);
			cache[i] = cache[--n_cache];
			memset(&cache[n_cache], 0, sizeof(cache[n_cache]));
			break;
		}
	pthread_mutex_unlock(&cache_lock);
}

void
mcp_shutdown(void)
{
	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < n_cache; i++)
		cJSON_Delete(cache[i].tools);
	memset(cache, 0, sizeof(cache));
	n_cache = 0;
	pthread_mutex_unlock(&cache_lock);
}

/* --- authentication ------------------------------------------------------ */

static void
auth_free(struct server_rt *rt)
{
	for (int i = 0; i < rt->n_auth; i++) {
		sodium_memzero(rt->auth[i], strlen(rt->auth[i]));
		free(rt->auth[i]);
	}
	free(rt->auth);
	rt->auth = NULL;
	rt->n_auth = 0;
}

/* The header lines the configuration asks for (NULL-terminated). */
static void
auth_build(struct server_rt *rt)
{
	const struct mcp_conn	*c = &rt->conn;
	cJSON			*h = NULL;
	const cJSON		*it;

	auth_free(rt);
	rt->auth = xcalloc(MCP_HEADERS_MAX + 2, sizeof(char *));
	switch (c->auth) {
	case MCP_AUTH_BEARER:
		if (c->secret != NULL)
			rt->auth[rt->n_auth++] = xasprintf("Authorization: "
			    "Bearer %s", c->secret);
		break;
	case MCP_AUTH_HEADERS:
		h = json_parse_str(c->headers_json != NULL ? c->headers_json :
		    "{}", NULL);
		cJSON_ArrayForEach(it, h)
			if (cJSON_IsString(it) && rt->n_auth < MCP_HEADERS_MAX)
				rt->auth[rt->n_auth++] = xasprintf("%s: %s",
				    it->string, it->valuestring);
		cJSON_ArrayForEach(it, h)
			if (cJSON_IsString(it))
				sodium_memzero(it->valuestring,
				    strlen(it->valuestring));
		cJSON_Delete(h);
		break;
	case MCP_AUTH_OAUTH_CLIENT:
	case MCP_AUTH_OAUTH_CODE:
		if (c->access_token != NULL)
			rt->auth[rt->n_auth++] = xasprintf("Authorization: "
			    "Bearer %s", c->access_token);
		break;
	default:
		break;
	}
	rt->auth[rt->n_auth] = NULL;
}

static void
target_of(struct server_rt *rt, struct mcp_target *t, int timeout_ms)
{
	memset(t, 0, sizeof(*t));
	t->url = rt->conn.url;
	t->headers = (const char *const *)rt->auth;
	t->timeout_ms = timeout_ms > 0 ? timeout_ms : rt->conn.timeout_ms;
	t->max_bytes = (size_t)rt->conn.max_result_bytes;
	t->cfg = rt->cfg;
}

/*
 * Makes sure an OAuth server has a usable access token: fetched (client
 * credentials) or refreshed when missing or within TOKEN_MARGIN_S of
 * expiry, or always with force (after a 401, whose WWW-Authenticate is
 * www_auth). Stores what it gets. False with a sentence in err.
 */
static bool
ensure_token(struct server_rt *rt, bool force, const char *www_auth,
    char *err, size_t errlen)
{
	struct mcp_conn		*c = &rt->conn;
	struct mcp_conn		 fresh;
	struct mcp_oauth_meta	 m;
	struct mcp_token	 tok = { 0 };
	struct mcp_target	 t;
	struct db		*db = NULL;
	bool			 ok = false, rejected = false, have_meta = false;
	int64_t			 now = time_unix();

	if (c->auth != MCP_AUTH_OAUTH_CLIENT && c->auth != MCP_AUTH_OAUTH_CODE)
		return true;
	if (!force && c->access_token != NULL && (c->access_expires_at == 0 ||
	    c->access_expires_at - TOKEN_MARGIN_S > now))
		return true;
	pthread_mutex_lock(&token_lock);
	/* Another worker or process may have refreshed meanwhile. */
	if ((db = db_acquire(rt->pool)) != NULL &&
	    mcp_server_conn_get(db, rt->key, c->org_id, c->id, &fresh) ==
	    DB_OK) {
		bool	 newer = fresh.access_token != NULL &&
			    !str_eq(fresh.access_token, c->access_token) &&
			    (fresh.access_expires_at == 0 ||
			    fresh.access_expires_at - TOKEN_MARGIN_S > now);

		mcp_conn_cleanup(c);
		*c = fresh;
		if (newer) {
			ok = true;
			goto out;
		}
	}
	if (db != NULL) {
		db_release(db);
		db = NULL;
	}
	target_of(rt, &t, 0);
	t.headers = NULL;
	if (!mcp_oauth_discover(&t, www_auth, &m, err, errlen))
		goto out;
	have_meta = true;
	if (c->auth == MCP_AUTH_OAUTH_CLIENT)
		ok = mcp_oauth_client_credentials(&t, &m, c->oauth_client_id,
		    c->secret, c->oauth_scope, &tok, err, errlen);
	else if (c->refresh_token != NULL)
		ok = mcp_oauth_refresh(&t, &m, c->oauth_client_id, c->secret,
		    c->refresh_token, c->oauth_scope, &tok, &rejected, err,
		    errlen);
	else
		snprintf(err, errlen, "the server is not authorized, or its "
		    "authorization expired: connect it again on its page in "
		    "the panel (Plugins)");
	if ((db = db_acquire(rt->pool)) == NULL) {
		if (ok)
			snprintf(err, errlen, "the database is unavailable to "
			    "keep the new token");
		ok = false;
		goto out;
	}
	if (rejected && mcp_server_clear_tokens(db, c->org_id, c->id) != DB_OK)
		log_warn("mcp", "msg=\"cannot forget a rejected refresh "
		    "token\" server=%lld", (long long)c->id);
	if (rejected)
		snprintf(err, errlen, "the authorization server refused the "
		    "refresh token: connect the server again on its page in "
		    "the panel (Plugins)");
	if (!ok)
		goto out;
	if (mcp_server_set_tokens(db, rt->key, c->org_id, c->id, tok.access,
	    tok.expires_in, tok.refresh) != DB_OK ||
	    mcp_server_set_oauth_meta(db, c->org_id, c->id, m.issuer,
	    m.token_url, m.resource) != DB_OK) {
		snprintf(err, errlen, "the new token could not be stored");
		ok = false;
		goto out;
	}
	secret_plain_free(c->access_token);
	c->access_token = secret_plain_dup(tok.access);
	c->access_expires_at = tok.expires_in > 0 ? now + tok.expires_in : 0;
	if (tok.refresh != NULL) {
		secret_plain_free(c->refresh_token);
		c->refresh_token = secret_plain_dup(tok.refresh);
	}
	log_info("mcp", "msg=\"access token %s\" server=%lld",
	    c->auth == MCP_AUTH_OAUTH_CLIENT ? "fetched" : "refreshed",
	    (long long)c->id);
out:
	if (db != NULL)
		db_release(db);
	pthread_mutex_unlock(&token_lock);
	if (have_meta)
		mcp_oauth_meta_cleanup(&m);
	mcp_token_cleanup(&tok);
	auth_build(rt);
	return ok;
}

/* --- tools ---------------------------------------------------------------- */

/*
 * The server's tools (a copy the caller deletes), from the cache when
 * fresh, else listed; NULL with err when there are none to offer.
 */
static cJSON *
tools_of(struct server_rt *rt, char *err, size_t errlen)
{
	struct mcp_conn		*c = &rt->conn;
	struct mcp_session	 s;
	struct mcp_result	 res;
	struct mcp_target	 t;
	struct entry		*e;
	cJSON			*tools = NULL, *out = NULL;
	int64_t			 ttl = -1, now = time_mono_ms();
	enum mcp_err		 me;

	pthread_mutex_lock(&cache_lock);
	e = entry_get(c->org_id, c->id, c->stamp);
	if (e->tools != NULL && (now < e->retry_after ||
	    (now < e->fresh_until && !e->s.tools_stale))) {
		out = cJSON_Duplicate(e->tools, true);
		pthread_mutex_unlock(&cache_lock);
		return out;
	}
	if (now < e->retry_after) {
		pthread_mutex_unlock(&cache_lock);
		snprintf(err, errlen, "the server failed recently; it is "
		    "asked again after a pause");
		return NULL;
	}
	s = e->s;
	pthread_mutex_unlock(&cache_lock);

	mcp_result_init(&res);
	if (!ensure_token(rt, false, NULL, err, errlen))
		goto fail;
	target_of(rt, &t, rt->conn.timeout_ms < LIST_TIMEOUT_MAX_MS ?
	    rt->conn.timeout_ms : LIST_TIMEOUT_MAX_MS);
	me = mcp_client_list_tools(&t, &s, &tools, &ttl, &res);
	if (me == MCP_AUTH && (c->auth == MCP_AUTH_OAUTH_CLIENT ||
	    c->auth == MCP_AUTH_OAUTH_CODE) &&
	    ensure_token(rt, true, res.www_authenticate, err, errlen)) {
		target_of(rt, &t, t.timeout_ms);
		me = mcp_client_list_tools(&t, &s, &tools, &ttl, &res);
	} else if (me == MCP_AUTH && (c->auth == MCP_AUTH_OAUTH_CLIENT ||
	    c->auth == MCP_AUTH_OAUTH_CODE))
		goto fail;
	if (me != MCP_OK) {
		snprintf(err, errlen, "%s", res.message);
		goto fail;
	}
	pthread_mutex_lock(&cache_lock);
	e = entry_get(c->org_id, c->id, c->stamp);
	e->s = s;
	cJSON_Delete(e->tools);
	e->tools = tools;
	e->fresh_until = time_mono_ms() + (ttl >= 0 ? ttl : MCP_TOOLS_TTL_MS);
	e->retry_after = 0;
	out = cJSON_Duplicate(tools, true);
	pthread_mutex_unlock(&cache_lock);
	mcp_result_cleanup(&res);
	return out;
fail:
	mcp_result_cleanup(&res);
	pthread_mutex_lock(&cache_lock);
	e = entry_get(c->org_id, c->id, c->stamp);
	e->s = s;
	e->retry_after = time_mono_ms() + MCP_RETRY_AFTER_MS;
	if (e->tools != NULL)
		out = cJSON_Duplicate(e->tools, true);
	pthread_mutex_unlock(&cache_lock);
	log_warn("mcp", "msg=\"cannot list tools\" server=%lld err=\"%s\"%s",
	    (long long)c->id, err, out != NULL ? " using=last_list" : "");
	return out;
}

static void
rt_free(void *p)
{
	struct server_rt	*rt = p;

	auth_free(rt);
	mcp_conn_cleanup(&rt->conn);
	free(rt);
}

static bool
wire_taken(const char *w, char (*taken)[PLUGIN_WIRE_MAX + 1], int n)
{
	const struct plugin *const *all;
	char		 fp[PLUGIN_WIRE_MAX + 1];
	int		 n_all;

	for (int i = 0; i < n; i++)
		if (strcmp(taken[i], w) == 0)
			return true;
	all = plugin_all(&n_all);
	for (int i = 0; i < n_all; i++) {
		plugin_wire_name(all[i]->id, fp);
		if (strcmp(fp, w) == 0)
			return true;
	}
	return false;
}

/* See the DESIGN note, "Tool names on the wire". */
static void
wire_name(const char *slug, const char *tool, int64_t server_id,
    char (*taken)[PLUGIN_WIRE_MAX + 1], int n_taken,
    char out[PLUGIN_WIRE_MAX + 1])
{
	char		 full[512];
	char		 base[PLUGIN_WIRE_MAX + 1];
	unsigned char	 h[crypto_hash_sha256_BYTES];
	uint32_t	 x;

	snprintf(full, sizeof(full), "%s_%s", slug, tool);
	plugin_wire_name(full, out);
	if (strlen(full) <= PLUGIN_WIRE_MAX && !wire_taken(out, taken, n_taken))
		return;
	str_copy(base, out, PLUGIN_WIRE_MAX - 9 + 1);
	snprintf(full, sizeof(full), "%lld/%s", (long long)server_id, tool);
	crypto_hash_sha256(h, (const unsigned char *)full, strlen(full));
	x = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 |
	    h[3];
	for (uint32_t k = 0; k < 1000; k++) {
		snprintf(out, PLUGIN_WIRE_MAX + 1, "%.*s_%08x",
		    PLUGIN_WIRE_MAX - 9, base, x + k);
		if (!wire_taken(out, taken, n_taken))
			return;
	}
}

int
mcp_agent_tools(struct plugin_ctx *ctx, const struct plugin **out, int max)
{
	struct mcp_agent_link	*links = NULL;
	struct server_rt	*rts[SERVERS_MAX];
	char			(*taken)[PLUGIN_WIRE_MAX + 1] = NULL;
	struct arena		*tmp = arena_new();
	struct db		*db;
	int			 n_links = 0, n_rt = 0, n = 0;

	if (ctx->app == NULL || ctx->agent_id == 0 || max <= 0)
		goto out;
	if ((db = db_acquire(ctx->pool)) == NULL)
		goto out;
	if (mcp_server_agent_links(db, tmp, ctx->org_id, ctx->agent_id,
	    &links, &n_links) != DB_OK)
		n_links = 0;
	for (int i = 0; i < n_links && n_rt < SERVERS_MAX; i++) {
		struct server_rt	*rt = xcalloc(1, sizeof(*rt));

		if (mcp_server_conn_get(db, ctx->app->key, ctx->org_id,
		    links[i].server_id, &rt->conn) != DB_OK) {
			free(rt);
			rts[n_rt++] = NULL;
			continue;
		}
		rt->pool = ctx->pool;
		rt->key = ctx->app->key;
		rt->cfg = &ctx->app->cfg;
		auth_build(rt);
		arena_defer(ctx->arena, rt_free, rt);
		rts[n_rt++] = rt;
	}
	db_release(db);

	taken = xcalloc((size_t)max, sizeof(*taken));
	for (int i = 0; i < n_rt && n < max; i++) {
		struct server_rt	*rt = rts[i];
		cJSON			*tools;
		const cJSON		*tool;
		char			 err[512] = "";

		if (rt == NULL)
			continue;
		if ((tools = tools_of(rt, err, sizeof(err))) == NULL)
			continue;
		cJSON_ArrayForEach(tool, tools) {
			const cJSON	*name = cJSON_GetObjectItemCaseSensitive(
					    tool, "name");
			const cJSON	*desc = cJSON_GetObjectItemCaseSensitive(
					    tool, "description");
			const cJSON	*title = cJSON_GetObjectItemCaseSensitive(
					    tool, "title");
			const cJSON	*schema = cJSON_GetObjectItemCaseSensitive(
					    tool, "inputSchema");
			const cJSON	*type = cJSON_GetObjectItemCaseSensitive(
					    schema, "type");
			struct mcp_tool	*mt;
			char		*s;

			if (n >= max)
				break;
			if (!cJSON_IsString(name) ||
			    name->valuestring[0] == '\0' ||
			    strlen(name->valuestring) > MCP_TOOL_NAME_MAX ||
			    !mcp_filter_allows(links[i].filter,
			    links[i].tools, links[i].n_tools,
			    name->valuestring))
				continue;
			/* 2026-07-28: a bad x-mcp-header excludes the tool. */
			if (schema != NULL && !mcp_tool_headers_valid(schema,
			    err, sizeof(err))) {
				log_warn("mcp", "msg=\"tool not offered\" "
				    "server=%lld tool=\"%.100s\" why=\"%s\"",
				    (long long)rt->conn.id, name->valuestring,
				    err);
				continue;
			}
			mt = arena_alloc(ctx->arena, sizeof(*mt));
			memset(mt, 0, sizeof(*mt));
			mt->srv = rt;
			mt->name = arena_strdup(ctx->arena, name->valuestring);
			wire_name(rt->conn.slug, name->valuestring, rt->conn.id,
			    taken, n, taken[n]);
			mt->p.id = arena_strdup(ctx->arena, taken[n]);
			mt->p.title = arena_strdup(ctx->arena,
			    cJSON_IsString(title) ? title->valuestring :
			    name->valuestring);
			s = arena_printf(ctx->arena, "[%s] %s", rt->conn.name,
			    cJSON_IsString(desc) ? desc->valuestring :
			    mt->p.title);
			if (strlen(s) > DESCRIPTION_MAX) {
				size_t	 k = DESCRIPTION_MAX;

				while (k > 0 && ((unsigned char)s[k] & 0xc0) ==
				    0x80)
					k--;
				s[k] = '\0';
			}
			mt->p.description = s;
			if (cJSON_IsObject(schema) && cJSON_IsString(type) &&
			    str_eq(type->valuestring, "object")) {
				char	*j = cJSON_PrintUnformatted(schema);

				if (j == NULL)
					abort();
				mt->p.params_schema = arena_strdup(ctx->arena,
				    j);
				free(j);
			} else
				mt->p.params_schema = "{\"type\":\"object\","
				    "\"properties\":{}}";
			if (schema != NULL) {
				mt->schema = cJSON_Duplicate(schema, true);
				arena_defer(ctx->arena,
				    (void (*)(void *))cJSON_Delete, mt->schema);
			}
			mt->p.run = tool_run;
			mt->p.impl = mt;
			out[n++] = &mt->p;
		}
		cJSON_Delete(tools);
	}
out:
	free(taken);
	arena_free(tmp);
	return n;
}

/* tools/call, once more after a 401 with a fresh token. */
static enum mcp_err
call_with_auth(struct server_rt *rt, const char *name, const cJSON *args,
    const cJSON *schema, struct mcp_result *res)
{
	struct mcp_session	 s;
	struct mcp_target	 t;
	enum mcp_err		 e;
	bool			 oauth = rt->conn.auth == MCP_AUTH_OAUTH_CLIENT ||
				    rt->conn.auth == MCP_AUTH_OAUTH_CODE;
	char			 err[512];

	if (!ensure_token(rt, false, NULL, err, sizeof(err))) {
		snprintf(res->message, sizeof(res->message), "%s", err);
		return res->err = MCP_AUTH;
	}
	session_get(&rt->conn, &s);
	target_of(rt, &t, 0);
	e = mcp_client_call_tool(&t, &s, name, args, schema, res);
	if (e == MCP_AUTH && oauth) {
		if (ensure_token(rt, true, res->www_authenticate, err,
		    sizeof(err))) {
			target_of(rt, &t, 0);
			e = mcp_client_call_tool(&t, &s, name, args, schema,
			    res);
		} else
			snprintf(res->message, sizeof(res->message), "%s", err);
	}
	session_put(&rt->conn, &s);
	return e;
}

/* plugin run: one tools/call, whatever happens a tool result. */
static bool
tool_run(const struct plugin *self, struct plugin_ctx *ctx, const cJSON *args,
    char **result, cJSON *record)
{
	const struct mcp_tool	*mt = self->impl;
	struct server_rt	*rt = mt->srv;
	struct mcp_result	 res;
	cJSON			*m;
	bool			 is_error = false;
	enum mcp_err		 e;

	(void)ctx;
	m = cJSON_AddObjectToObject(record, "mcp");
	cJSON_AddNumberToObject(m, "serverId", (double)rt->conn.id);
	cJSON_AddStringToObject(m, "server", rt->conn.name);
	cJSON_AddStringToObject(m, "tool", mt->name);
	mcp_result_init(&res);
	e = call_with_auth(rt, mt->name, args, mt->schema, &res);
	if (e == MCP_OK) {
		*result = mcp_result_text(res.result,
		    (size_t)rt->conn.max_result_bytes, &is_error);
		if (is_error)
			cJSON_AddTrueToObject(m, "isError");
	} else {
		switch (e) {
		case MCP_TIMEOUT:
			*result = xasprintf("The MCP server %s did not answer "
			    "within %d ms.", rt->conn.name,
			    rt->conn.timeout_ms);
			break;
		case MCP_TOO_LARGE:
			*result = xasprintf("The MCP server %s answered more "
			    "than %d bytes; the result was dropped.",
			    rt->conn.name, rt->conn.max_result_bytes);
			break;
		case MCP_RPC:
			*result = xasprintf("The MCP server %s refused the call "
			    "(error %d): %s", rt->conn.name, res.rpc_code,
			    res.message);
			/* An unknown tool or changed schema: list again. */
			pthread_mutex_lock(&cache_lock);
			entry_get(rt->conn.org_id, rt->conn.id,
			    rt->conn.stamp)->s.tools_stale = true;
			pthread_mutex_unlock(&cache_lock);
			break;
		default:
			*result = xasprintf("The MCP server %s failed: %s",
			    rt->conn.name, res.message);
			break;
		}
		cJSON_AddStringToObject(m, "failure", mcp_err_str(e));
		log_warn("mcp", "msg=\"tool call failed\" server=%lld "
		    "tool=\"%.100s\" err=%s", (long long)rt->conn.id, mt->name,
		    mcp_err_str(e));
		is_error = true;
	}
	mcp_result_cleanup(&res);
	return !is_error;
}

/* --- test connection and authorization ----------------------------------- */

void
mcp_probe_cleanup(struct mcp_probe *p)
{
	if (p == NULL)
		return;
	cJSON_Delete(p->tools);
	p->tools = NULL;
}

bool
mcp_probe(struct db_pool *pool, const struct secret_key *key,
    const struct config *cfg, int64_t org_id, int64_t id,
    struct mcp_probe *out)
{
	struct server_rt	 rt;
	struct mcp_session	 s;
	struct mcp_result	 res;
	struct mcp_target	 t;
	struct db		*db;
	cJSON			*tools = NULL;
	const cJSON		*tool;
	int64_t			 ttl = -1;
	char			 err[256];
	enum db_status		 st;
	enum mcp_err		 me;
	int			 n = 0;

	memset(out, 0, sizeof(*out));
	memset(&rt, 0, sizeof(rt));
	memset(&s, 0, sizeof(s));
	mcp_result_init(&res);
	if ((db = db_acquire(pool)) == NULL) {
		snprintf(out->message, sizeof(out->message), "The database is "
		    "unavailable; try again.");
		return false;
	}
	st = mcp_server_conn_get(db, key, org_id, id, &rt.conn);
	db_release(db);
	if (st != DB_OK) {
		snprintf(out->message, sizeof(out->message), "%s", st ==
		    DB_INVALID ? "A stored secret cannot be read with this "
		    "server's master key: enter it again." : st ==
		    DB_NOT_FOUND ? "There is no such MCP server." : "The "
		    "database is unavailable; try again.");
		return false;
	}
	rt.pool = pool;
	rt.key = key;
	rt.cfg = cfg;
	auth_build(&rt);
	/* A test starts from scratch: a fresh negotiation and list. */
	mcp_forget(org_id, id);
	if (!ensure_token(&rt, false, NULL, err, sizeof(err))) {
		snprintf(out->message, sizeof(out->message), "Authorization "
		    "failed: %s.", err);
		goto done;
	}
	target_of(&rt, &t, 0);
	me = mcp_client_list_tools(&t, &s, &tools, &ttl, &res);
	if (me == MCP_AUTH && (rt.conn.auth == MCP_AUTH_OAUTH_CLIENT ||
	    rt.conn.auth == MCP_AUTH_OAUTH_CODE)) {
		if (ensure_token(&rt, true, res.www_authenticate, err,
		    sizeof(err))) {
			target_of(&rt, &t, 0);
			me = mcp_client_list_tools(&t, &s, &tools, &ttl, &res);
		} else {
			snprintf(out->message, sizeof(out->message),
			    "Authorization failed: %s.", err);
			goto done;
		}
	}
	if (me != MCP_OK) {
		snprintf(out->message, sizeof(out->message), "The connection "
		    "failed (%s): %.400s", mcp_err_str(me), res.message);
		goto done;
	}
	out->ok = true;
	str_copy(out->version, s.version, sizeof(out->version));
	str_copy(out->server_name, s.server_name, sizeof(out->server_name));
	out->tools = cJSON_CreateArray();
	cJSON_ArrayForEach(tool, tools) {
		cJSON		*o = cJSON_CreateObject();
		const char	*fields[] = { "name", "title", "description" };

		for (int i = 0; i < 3; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(tool,
			    fields[i]);

			cJSON_AddStringToObject(o, fields[i], cJSON_IsString(v) ?
			    v->valuestring : "");
		}
		cJSON_AddItemToArray(out->tools, o);
		n++;
	}
	snprintf(out->message, sizeof(out->message), "Connected (protocol "
	    "%s%s%s): %d tool%s.", s.version, s.server_name[0] ? ", server " :
	    "", s.server_name, n, n == 1 ? "" : "s");
	pthread_mutex_lock(&cache_lock);
	{
		struct entry	*e = entry_get(org_id, id, rt.conn.stamp);

		e->s = s;
		cJSON_Delete(e->tools);
		e->tools = tools;
		tools = NULL;
		e->fresh_until = time_mono_ms() + (ttl >= 0 ? ttl :
		    MCP_TOOLS_TTL_MS);
		e->retry_after = 0;
	}
	pthread_mutex_unlock(&cache_lock);
done:
	if (!out->ok)
		session_put(&rt.conn, &s);
	cJSON_Delete(tools);
	mcp_result_cleanup(&res);
	if ((db = db_acquire(pool)) != NULL) {
		if (mcp_server_record_test(db, org_id, id, out->ok,
		    out->message) != DB_OK)
			log_warn("mcp", "msg=\"cannot record the test\" "
			    "server=%lld", (long long)id);
		db_release(db);
	}
	auth_free(&rt);
	mcp_conn_cleanup(&rt.conn);
	return out->ok;
}

bool
mcp_authorize_begin(struct db_pool *pool, const struct secret_key *key,
    const struct config *cfg, int64_t org_id, int64_t id,
    const char *redirect_uri, char **url, char *err, size_t errlen)
{
	struct mcp_conn		 c;
	struct mcp_oauth_meta	 m;
	struct mcp_target	 t;
	struct db		*db;
	char			 verifier[44], state[44];
	char			*client_id = NULL, *client_secret = NULL;
	bool			 have_meta = false, ok = false;
	enum db_status		 st;

	*url = NULL;
	if ((db = db_acquire(pool)) == NULL) {
		snprintf(err, errlen, "the database is unavailable");
		return false;
	}
	st = mcp_server_conn_get(db, key, org_id, id, &c);
	db_release(db);
	if (st != DB_OK) {
		snprintf(err, errlen, "%s", st == DB_NOT_FOUND ? "there is no "
		    "such MCP server" : "the server could not be loaded");
		return false;
	}
	if (c.auth != MCP_AUTH_OAUTH_CODE) {
		snprintf(err, errlen, "this server does not use the "
		    "authorization-code flow");
		goto out;
	}
	memset(&t, 0, sizeof(t));
	t.url = c.url;
	t.timeout_ms = c.timeout_ms;
	t.max_bytes = (size_t)c.max_result_bytes;
	t.cfg = cfg;
	/* An unauthenticated request shows the 401's resource_metadata. */
	{
		struct mcp_session	 s;
		struct mcp_result	 r;

		memset(&s, 0, sizeof(s));
		mcp_result_init(&r);
		(void)mcp_client_request(&t, &s, "tools/list", NULL, &r);
		have_meta = mcp_oauth_discover(&t, r.err == MCP_AUTH ?
		    r.www_authenticate : NULL, &m, err, errlen);
		mcp_result_cleanup(&r);
	}
	if (!have_meta)
		goto out;
	if (m.authorize_url == NULL) {
		snprintf(err, errlen, "the authorization server's metadata has "
		    "no authorization_endpoint");
		goto out;
	}
	if (c.oauth_client_id[0] == '\0') {
		if (!mcp_oauth_register(&t, &m, redirect_uri, &client_id,
		    &client_secret, err, errlen))
			goto out;
	} else
		client_id = xstrdup(c.oauth_client_id);
	mcp_oauth_random(verifier);
	mcp_oauth_random(state);
	if ((db = db_acquire(pool)) == NULL) {
		snprintf(err, errlen, "the database is unavailable");
		goto out;
	}
	st = DB_OK;
	if (c.oauth_client_id[0] == '\0')
		st = mcp_server_set_client(db, key, org_id, id, client_id,
		    client_secret);
	if (st == DB_OK)
		st = mcp_server_set_oauth_meta(db, org_id, id, m.issuer,
		    m.token_url, m.resource);
	if (st == DB_OK)
		st = mcp_server_oauth_begin(db, key, org_id, id, state,
		    verifier, m.iss_required ? m.issuer : "");
	db_release(db);
	if (st != DB_OK) {
		snprintf(err, errlen, "the flow could not be recorded");
		goto out;
	}
	*url = mcp_oauth_authorize_url(&m, client_id, redirect_uri, verifier,
	    state, c.oauth_scope[0] != '\0' ? c.oauth_scope : m.scopes);
	ok = true;
out:
	sodium_memzero(verifier, sizeof(verifier));
	if (client_secret != NULL) {
		sodium_memzero(client_secret, strlen(client_secret));
		free(client_secret);
	}
	free(client_id);
	if (have_meta)
		mcp_oauth_meta_cleanup(&m);
	mcp_conn_cleanup(&c);
	return ok;
}

bool
mcp_authorize_finish(struct db_pool *pool, const struct secret_key *key,
    const struct config *cfg, int64_t org_id, const char *state,
    const char *code, const char *iss, const char *redirect_uri, int64_t *id,
    char *err, size_t errlen)
{
	struct mcp_conn		 c;
	struct mcp_oauth_meta	 m;
	struct mcp_token	 tok = { 0 };
	struct mcp_target	 t;
	struct db		*db;
	char			*verifier = NULL, *issuer = NULL;
	bool			 have_conn = false, have_meta = false;
	bool			 ok = false;
	enum db_status		 st;

	*id = 0;
	if ((db = db_acquire(pool)) == NULL) {
		snprintf(err, errlen, "the database is unavailable");
		return false;
	}
	st = mcp_server_oauth_take(db, key, org_id, state, id, &verifier,
	    &issuer);
	if (st == DB_OK) {
		st = mcp_server_conn_get(db, key, org_id, *id, &c);
		have_conn = st == DB_OK;
	}
	db_release(db);
	if (st == DB_NOT_FOUND) {
		snprintf(err, errlen, "this authorization is unknown, was "
		    "already used or took longer than ten minutes: start it "
		    "again");
		goto out;
	}
	if (st != DB_OK) {
		snprintf(err, errlen, "the pending authorization could not be "
		    "read");
		goto out;
	}
	/* RFC 9207 §2.4: a different iss is a mix-up; a missing one is too
	 * when the server promised it. */
	if ((iss != NULL && iss[0] != '\0' && !str_eq(iss, issuer) &&
	    issuer[0] != '\0') || (issuer[0] != '\0' && (iss == NULL ||
	    iss[0] == '\0'))) {
		snprintf(err, errlen, "the authorization response came from "
		    "the wrong issuer");
		goto out;
	}
	if (code == NULL || code[0] == '\0' || strlen(code) > 4096) {
		snprintf(err, errlen, "the authorization response carried no "
		    "code");
		goto out;
	}
	memset(&t, 0, sizeof(t));
	t.url = c.url;
	t.timeout_ms = c.timeout_ms;
	t.max_bytes = (size_t)c.max_result_bytes;
	t.cfg = cfg;
	if (!(have_meta = mcp_oauth_discover(&t, NULL, &m, err, errlen)))
		goto out;
	if (iss != NULL && iss[0] != '\0' && !str_eq(iss, m.issuer)) {
		snprintf(err, errlen, "the authorization response came from "
		    "the wrong issuer");
		goto out;
	}
	if (!mcp_oauth_exchange_code(&t, &m, c.oauth_client_id, c.secret,
	    code, verifier, redirect_uri, &tok, err, errlen))
		goto out;
	if ((db = db_acquire(pool)) == NULL) {
		snprintf(err, errlen, "the database is unavailable to keep the "
		    "token");
		goto out;
	}
	st = mcp_server_set_tokens(db, key, org_id, *id, tok.access,
	    tok.expires_in, tok.refresh != NULL ? tok.refresh : "");
	db_release(db);
	if (st != DB_OK) {
		snprintf(err, errlen, "the token could not be stored");
		goto out;
	}
	mcp_forget(org_id, *id);
	ok = true;
out:
	secret_plain_free(verifier);
	free(issuer);
	if (have_meta)
		mcp_oauth_meta_cleanup(&m);
	if (have_conn)
		mcp_conn_cleanup(&c);
	mcp_token_cleanup(&tok);
	return ok;
}

/* --- enabled plugin ids ------------------------------------------------- */

bool
mcp_plugins_valid(const char *id)
{
	const struct plugin	*p = plugin_find(id);
	int64_t			 sid;

	return (p != NULL && plugin_available(p)) ||
	    mcp_plugin_id_parse(id, &sid);
}

enum db_status
mcp_plugins_set(struct db *db, int64_t org_id, int64_t agent_id,
    const char *const *ids, int n)
{
	const char	**fp = xcalloc((size_t)n + 1, sizeof(char *));
	int64_t		*sids = xcalloc((size_t)n + 1, sizeof(int64_t));
	int		 n_fp = 0, n_s = 0;
	bool		 own = false;
	enum db_status	 st;

	for (int i = 0; i < n; i++) {
		if (mcp_plugin_id_parse(ids[i], &sids[n_s]))
			n_s++;
		else
			fp[n_fp++] = ids[i];
	}
	if ((st = db_tx_join(db, &own)) != DB_OK)
		goto out;
	st = agent_set_plugins(db, org_id, agent_id, fp, n_fp,
	    plugin_id_usable);
	if (st == DB_OK)
		st = mcp_server_agent_set(db, org_id, agent_id, sids, n_s);
	st = db_tx_leave(db, own, st);
out:
	free(fp);
	free(sids);
	return st;
}

enum db_status
mcp_plugins_get(struct db *db, struct arena *a, int64_t org_id,
    int64_t agent_id, char *const *first_party, int n_first_party,
    char ***ids, int *n)
{
	struct mcp_agent_link	*links;
	int			 n_links;
	enum db_status		 st;

	*ids = NULL;
	*n = 0;
	st = mcp_server_agent_links(db, a, org_id, agent_id, &links, &n_links);
	if (st != DB_OK)
		return st;
	*ids = arena_alloc(a, sizeof(char *) *
	    ((size_t)(n_first_party + n_links) + 1));
	for (int i = 0; i < n_first_party; i++)
		(*ids)[(*n)++] = first_party[i];
	for (int i = 0; i < n_links; i++)
		(*ids)[(*n)++] = arena_printf(a, MCP_PLUGIN_PREFIX "%lld",
		    (long long)links[i].server_id);
	(*ids)[*n] = NULL;
	return DB_OK;
}
