/*
 * mcp_oauth: discovery, tokens and registration for MCP servers (see
 * mcp_oauth.h). Sources, cited in docs/mcp.md: modelcontextprotocol/
 * modelcontextprotocol docs/specification/2025-11-25/basic/
 * authorization.mdx (discovery order, `resource`, PKCE S256), RFC 9728
 * (protected-resource metadata), RFC 8414 (authorization-server
 * metadata, issuer check), RFC 8707 (resource indicators), RFC 9207
 * (`iss` in the authorization response), RFC 7591 (registration),
 * RFC 6749 §2.3.1 (client_secret_basic encodes id and secret with the
 * form encoding before Base64).
 */
#include "plugins/mcp_oauth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "util/buf.h"
#include "util/httpc.h"
#include "util/json.h"
#include "util/str.h"
#include "util/url.h"
#include "util/xmalloc.h"

#define WK_PRM		"/.well-known/oauth-protected-resource"
#define WK_AS		"/.well-known/oauth-authorization-server"
#define WK_OIDC		"/.well-known/openid-configuration"

static char	*origin_of(const char *, const char **);
static cJSON	*get_json(const struct mcp_target *, const char *, char *,
		    size_t);
static char	*auth_param(const char *, const char *);
static bool	 as_metadata(const struct mcp_target *, const char *,
		    struct mcp_oauth_meta *, char *, size_t);
static bool	 token_call(const struct mcp_target *,
		    const struct mcp_oauth_meta *, const char *, const char *,
		    struct buf *, struct mcp_token *, bool *, char *, size_t);
static void	 form_kv(struct buf *, const char *, const char *);
static char	*dup_str(const cJSON *, const char *);
static bool	 list_has(const cJSON *, const char *, const char *);

/* "https://h:1/a/b?q" → "https://h:1" (malloc'd), *path → "/a/b?q". */
static char *
origin_of(const char *url, const char **path)
{
	const char	*host = strstr(url, "://");
	const char	*end;

	host = host != NULL ? host + 3 : url;
	end = host + strcspn(host, "/?#");
	*path = end;
	return xstrndup(url, (size_t)(end - url));
}

static cJSON *
get_json(const struct mcp_target *t, const char *url, char *err,
    size_t errlen)
{
	struct httpc_resp resp;
	const char	*hdrs[] = { "Accept: application/json", NULL };
	cJSON		*j = NULL;

	httpc_resp_init(&resp);
	if (!mcp_client_http(t, "GET", url, hdrs, NULL, &resp, err, errlen))
		goto out;
	if (resp.status != 200) {
		snprintf(err, errlen, "%s answered HTTP %ld", url, resp.status);
		goto out;
	}
	j = json_parse(buf_str(&resp.body), resp.body.len, NULL);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		j = NULL;
		snprintf(err, errlen, "%s did not answer a JSON object", url);
	}
out:
	httpc_resp_cleanup(&resp);
	return j;
}

/* The value of auth-param name in a WWW-Authenticate value (malloc'd). */
static char *
auth_param(const char *h, const char *name)
{
	size_t		 n = strlen(name);
	const char	*p = h;

	for (; *p != '\0'; p++) {
		const char	*v = p + n;

		if (strncasecmp(p, name, n) != 0)
			continue;

		if ((p == h || p[-1] == ' ' || p[-1] == ',') && *v == '=') {
			v++;
			if (*v == '"') {
				const char *e = strchr(++v, '"');

				return e != NULL ? xstrndup(v, (size_t)(e - v)) :
				    NULL;
			}
			return xstrndup(v, strcspn(v, " ,"));
		}
	}
	return NULL;
}

static char *
dup_str(const cJSON *o, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) && v->valuestring[0] != '\0' ?
	    xstrdup(v->valuestring) : NULL;
}

static bool
list_has(const cJSON *o, const char *name, const char *want)
{
	const cJSON	*v;

	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(o, name))
		if (cJSON_IsString(v) && str_eq(v->valuestring, want))
			return true;
	return false;
}

/* RFC 8414 §3.1 (path inserted after the well-known prefix), then OpenID
 * discovery; `issuer` must be the one asked for (§3.3). */
static bool
as_metadata(const struct mcp_target *t, const char *issuer,
    struct mcp_oauth_meta *m, char *err, size_t errlen)
{
	const char	*path;
	char		*origin = origin_of(issuer, &path);
	char		*urls[3] = { 0 };
	cJSON		*j = NULL;
	const cJSON	*methods;
	size_t		 plen = strlen(path);
	bool		 ok = false;

	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	if (plen > 0) {
		urls[0] = xasprintf("%s" WK_AS "%.*s", origin, (int)plen, path);
		urls[1] = xasprintf("%s" WK_OIDC "%.*s", origin, (int)plen,
		    path);
		urls[2] = xasprintf("%s%.*s" WK_OIDC, origin, (int)plen, path);
	} else {
		urls[0] = xasprintf("%s" WK_AS, origin);
		urls[1] = xasprintf("%s" WK_OIDC, origin);
	}
	for (int i = 0; i < 3 && urls[i] != NULL && j == NULL; i++)
		j = get_json(t, urls[i], err, errlen);
	if (j == NULL)
		goto out;
	free(m->issuer);
	m->issuer = dup_str(j, "issuer");
	if (m->issuer == NULL || !(str_eq(m->issuer, issuer) ||
	    (strlen(m->issuer) + 1 == strlen(issuer) &&
	    strncmp(m->issuer, issuer, strlen(m->issuer)) == 0 &&
	    issuer[strlen(issuer) - 1] == '/') ||
	    (strlen(issuer) + 1 == strlen(m->issuer) &&
	    strncmp(m->issuer, issuer, strlen(issuer)) == 0 &&
	    m->issuer[strlen(m->issuer) - 1] == '/'))) {
		snprintf(err, errlen, "the authorization server's metadata "
		    "names issuer %.200s, not %.200s", m->issuer != NULL ?
		    m->issuer : "(none)", issuer);
		goto out;
	}
	m->authorize_url = dup_str(j, "authorization_endpoint");
	m->token_url = dup_str(j, "token_endpoint");
	m->registration_url = dup_str(j, "registration_endpoint");
	m->iss_required = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j,
	    "authorization_response_iss_parameter_supported"));
	methods = cJSON_GetObjectItemCaseSensitive(j,
	    "token_endpoint_auth_methods_supported");
	if (!cJSON_IsArray(methods))
		m->auth_basic = true;	/* RFC 8414 §2: the default */
	else {
		m->auth_basic = list_has(j,
		    "token_endpoint_auth_methods_supported",
		    "client_secret_basic");
		m->auth_post = list_has(j,
		    "token_endpoint_auth_methods_supported",
		    "client_secret_post");
	}
	if (m->token_url == NULL) {
		snprintf(err, errlen, "the authorization server's metadata has "
		    "no token_endpoint");
		goto out;
	}
	ok = true;
out:
	cJSON_Delete(j);
	for (int i = 0; i < 3; i++)
		free(urls[i]);
	free(origin);
	return ok;
}

bool
mcp_oauth_discover(const struct mcp_target *t, const char *www_auth,
    struct mcp_oauth_meta *out, char *err, size_t errlen)
{
	const char	*path;
	char		*origin = origin_of(t->url, &path);
	char		*prm_url = NULL, *as = NULL;
	cJSON		*prm = NULL;
	const cJSON	*servers, *scopes, *v;
	struct buf	 sc;
	size_t		 plen = strcspn(path, "?");
	bool		 ok = false;

	memset(out, 0, sizeof(*out));
	buf_init(&sc, 4096);
	if (www_auth != NULL && www_auth[0] != '\0')
		prm_url = auth_param(www_auth, "resource_metadata");
	if (prm_url != NULL)
		prm = get_json(t, prm_url, err, errlen);
	/* 2025-11-25 authorization.mdx: path-inserted, then the root. */
	if (prm == NULL && plen > 1) {
		free(prm_url);
		prm_url = xasprintf("%s" WK_PRM "%.*s", origin, (int)plen, path);
		prm = get_json(t, prm_url, err, errlen);
	}
	if (prm == NULL) {
		free(prm_url);
		prm_url = xasprintf("%s" WK_PRM, origin);
		prm = get_json(t, prm_url, err, errlen);
	}
	if (prm != NULL) {
		out->resource = dup_str(prm, "resource");
		servers = cJSON_GetObjectItemCaseSensitive(prm,
		    "authorization_servers");
		v = cJSON_GetArrayItem(servers, 0);
		if (cJSON_IsString(v))
			as = xstrdup(v->valuestring);
		scopes = cJSON_GetObjectItemCaseSensitive(prm,
		    "scopes_supported");
		cJSON_ArrayForEach(v, scopes)
			if (cJSON_IsString(v))
				buf_printf(&sc, "%s%s", sc.len > 0 ? " " : "",
				    v->valuestring);
	}
	/* The resource must be this server (RFC 9728 §3.3): otherwise name
	 * the URL itself. */
	if (out->resource == NULL || strncmp(out->resource, origin,
	    strlen(origin)) != 0) {
		free(out->resource);
		out->resource = xstrndup(t->url, strcspn(t->url, "?#"));
	}
	/* 2025-03-26 servers without protected-resource metadata: the
	 * authorization server is the server's origin. */
	if (as == NULL)
		as = xstrdup(origin);
	if (!as_metadata(t, as, out, err, errlen))
		goto out;
	if (!sc.err && sc.len > 0)
		out->scopes = xstrdup(buf_str(&sc));
	ok = true;
out:
	if (!ok)
		mcp_oauth_meta_cleanup(out);
	buf_cleanup(&sc);
	cJSON_Delete(prm);
	free(prm_url);
	free(as);
	free(origin);
	return ok;
}

void
mcp_oauth_meta_cleanup(struct mcp_oauth_meta *m)
{
	if (m == NULL)
		return;
	free(m->resource);
	free(m->issuer);
	free(m->authorize_url);
	free(m->token_url);
	free(m->registration_url);
	free(m->scopes);
	memset(m, 0, sizeof(*m));
}

void
mcp_token_cleanup(struct mcp_token *t)
{
	if (t == NULL)
		return;
	if (t->access != NULL)
		sodium_memzero(t->access, strlen(t->access));
	if (t->refresh != NULL)
		sodium_memzero(t->refresh, strlen(t->refresh));
	free(t->access);
	free(t->refresh);
	memset(t, 0, sizeof(*t));
}

static void
form_kv(struct buf *b, const char *k, const char *v)
{
	if (v == NULL || v[0] == '\0')
		return;
	if (b->len > 0)
		buf_putc(b, '&');
	url_encode(b, k);
	buf_putc(b, '=');
	url_encode(b, v);
}

/*
 * POSTs form (grant fields already in it) to the token endpoint with the
 * client's authentication, and reads the token response (RFC 6749 §5).
 */
static bool
token_call(const struct mcp_target *t, const struct mcp_oauth_meta *m,
    const char *client_id, const char *client_secret, struct buf *form,
    struct mcp_token *out, bool *rejected, char *err, size_t errlen)
{
	struct httpc_resp resp;
	struct buf	 cred;
	const char	*hdrs[4];
	char		*basic = NULL;
	cJSON		*j = NULL;
	const cJSON	*e, *ed, *exp;
	bool		 ok = false;
	int		 nh = 0;

	memset(out, 0, sizeof(*out));
	if (rejected != NULL)
		*rejected = false;
	buf_init(&cred, 0);
	hdrs[nh++] = "Content-Type: application/x-www-form-urlencoded";
	hdrs[nh++] = "Accept: application/json";
	form_kv(form, "resource", m->resource);
	if (client_secret != NULL && client_secret[0] != '\0' &&
	    (m->auth_basic || !m->auth_post)) {
		size_t	 b64;
		char	*enc;

		url_encode(&cred, client_id);
		buf_putc(&cred, ':');
		url_encode(&cred, client_secret);
		b64 = sodium_base64_encoded_len(cred.len,
		    sodium_base64_VARIANT_ORIGINAL);
		enc = xmalloc(b64);
		sodium_bin2base64(enc, b64, (const unsigned char *)cred.data,
		    cred.len, sodium_base64_VARIANT_ORIGINAL);
		basic = xasprintf("Authorization: Basic %s", enc);
		sodium_memzero(enc, b64);
		free(enc);
		hdrs[nh++] = basic;
	} else {
		form_kv(form, "client_id", client_id);
		form_kv(form, "client_secret", client_secret);
	}
	hdrs[nh] = NULL;
	httpc_resp_init(&resp);
	if (form->err) {
		snprintf(err, errlen, "the token request is too large");
		goto out;
	}
	if (!mcp_client_http(t, "POST", m->token_url, hdrs, buf_str(form),
	    &resp, err, errlen))
		goto out;
	j = json_parse(buf_str(&resp.body), resp.body.len, NULL);
	if (resp.status != 200) {
		e = cJSON_GetObjectItemCaseSensitive(j, "error");
		ed = cJSON_GetObjectItemCaseSensitive(j, "error_description");
		if (rejected != NULL && cJSON_IsString(e) &&
		    str_eq(e->valuestring, "invalid_grant"))
			*rejected = true;
		snprintf(err, errlen, "the token endpoint answered HTTP %ld%s"
		    "%.100s%s%.200s", resp.status, cJSON_IsString(e) ? ": " :
		    "", cJSON_IsString(e) ? e->valuestring : "",
		    cJSON_IsString(ed) ? " — " : "", cJSON_IsString(ed) ?
		    ed->valuestring : "");
		goto out;
	}
	out->access = dup_str(j, "access_token");
	out->refresh = dup_str(j, "refresh_token");
	exp = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
	out->expires_in = cJSON_IsNumber(exp) && exp->valuedouble > 0 &&
	    exp->valuedouble < 1e8 ? (int64_t)exp->valuedouble : 0;
	if (out->access == NULL || strlen(out->access) > 8192 ||
	    str_has_ctl(out->access)) {
		snprintf(err, errlen, "the token endpoint answered no usable "
		    "access_token");
		mcp_token_cleanup(out);
		goto out;
	}
	ok = true;
out:
	if (j != NULL) {
		/* The body holds tokens: wipe the parsed copies. */
		cJSON	*it;

		cJSON_ArrayForEach(it, j)
			if (cJSON_IsString(it))
				sodium_memzero(it->valuestring,
				    strlen(it->valuestring));
	}
	cJSON_Delete(j);
	if (resp.body.data != NULL)
		sodium_memzero(resp.body.data, resp.body.len);
	httpc_resp_cleanup(&resp);
	if (basic != NULL) {
		sodium_memzero(basic, strlen(basic));
		free(basic);
	}
	if (cred.data != NULL)
		sodium_memzero(cred.data, cred.len);
	buf_cleanup(&cred);
	return ok;
}

bool
mcp_oauth_client_credentials(const struct mcp_target *t,
    const struct mcp_oauth_meta *m, const char *client_id,
    const char *client_secret, const char *scope, struct mcp_token *out,
    char *err, size_t errlen)
{
	struct buf	 form;
	bool		 ok;

	buf_init(&form, 64 * 1024);
	form_kv(&form, "grant_type", "client_credentials");
	form_kv(&form, "scope", scope);
	ok = token_call(t, m, client_id, client_secret, &form, out, NULL, err,
	    errlen);
	buf_cleanup(&form);
	return ok;
}

bool
mcp_oauth_refresh(const struct mcp_target *t, const struct mcp_oauth_meta *m,
    const char *client_id, const char *client_secret, const char *refresh,
    const char *scope, struct mcp_token *out, bool *rejected, char *err,
    size_t errlen)
{
	struct buf	 form;
	bool		 ok;

	buf_init(&form, 64 * 1024);
	form_kv(&form, "grant_type", "refresh_token");
	form_kv(&form, "refresh_token", refresh);
	form_kv(&form, "scope", scope);
	ok = token_call(t, m, client_id, client_secret, &form, out, rejected,
	    err, errlen);
	sodium_memzero(form.data, form.len);
	buf_cleanup(&form);
	return ok;
}

bool
mcp_oauth_exchange_code(const struct mcp_target *t,
    const struct mcp_oauth_meta *m, const char *client_id,
    const char *client_secret, const char *code, const char *verifier,
    const char *redirect_uri, struct mcp_token *out, char *err,
    size_t errlen)
{
	struct buf	 form;
	bool		 ok;

	buf_init(&form, 64 * 1024);
	form_kv(&form, "grant_type", "authorization_code");
	form_kv(&form, "code", code);
	form_kv(&form, "code_verifier", verifier);
	form_kv(&form, "redirect_uri", redirect_uri);
	ok = token_call(t, m, client_id, client_secret, &form, out, NULL, err,
	    errlen);
	sodium_memzero(form.data, form.len);
	buf_cleanup(&form);
	return ok;
}

bool
mcp_oauth_register(const struct mcp_target *t, const struct mcp_oauth_meta *m,
    const char *redirect_uri, char **client_id, char **client_secret,
    char *err, size_t errlen)
{
	struct httpc_resp resp;
	const char	*hdrs[] = { "Content-Type: application/json",
			    "Accept: application/json", NULL };
	cJSON		*req = cJSON_CreateObject(), *j = NULL, *a;
	char		*body;
	bool		 ok = false;

	*client_id = NULL;
	*client_secret = NULL;
	if (m->registration_url == NULL) {
		snprintf(err, errlen, "the authorization server offers no "
		    "dynamic client registration: enter a client id");
		cJSON_Delete(req);
		return false;
	}
	a = cJSON_AddArrayToObject(req, "redirect_uris");
	cJSON_AddItemToArray(a, cJSON_CreateString(redirect_uri));
	cJSON_AddStringToObject(req, "client_name", "Parley");
	a = cJSON_AddArrayToObject(req, "grant_types");
	cJSON_AddItemToArray(a, cJSON_CreateString("authorization_code"));
	cJSON_AddItemToArray(a, cJSON_CreateString("refresh_token"));
	a = cJSON_AddArrayToObject(req, "response_types");
	cJSON_AddItemToArray(a, cJSON_CreateString("code"));
	/* A public client: PKCE protects the code, nothing to leak. */
	cJSON_AddStringToObject(req, "token_endpoint_auth_method", "none");
	if ((body = cJSON_PrintUnformatted(req)) == NULL)
		abort();
	httpc_resp_init(&resp);
	if (!mcp_client_http(t, "POST", m->registration_url, hdrs, body,
	    &resp, err, errlen))
		goto out;
	j = json_parse(buf_str(&resp.body), resp.body.len, NULL);
	if (resp.status != 201 && resp.status != 200) {
		snprintf(err, errlen, "client registration answered HTTP %ld",
		    resp.status);
		goto out;
	}
	*client_id = dup_str(j, "client_id");
	*client_secret = dup_str(j, "client_secret");
	if (*client_id == NULL) {
		snprintf(err, errlen, "client registration answered no "
		    "client_id");
		free(*client_secret);
		*client_secret = NULL;
		goto out;
	}
	ok = true;
out:
	cJSON_Delete(j);
	cJSON_Delete(req);
	free(body);
	httpc_resp_cleanup(&resp);
	return ok;
}

char *
mcp_oauth_authorize_url(const struct mcp_oauth_meta *m, const char *client_id,
    const char *redirect_uri, const char *verifier, const char *state,
    const char *scope)
{
	unsigned char	 h[crypto_hash_sha256_BYTES];
	char		 challenge[64];
	struct buf	 b;
	char		*out;

	crypto_hash_sha256(h, (const unsigned char *)verifier,
	    strlen(verifier));
	sodium_bin2base64(challenge, sizeof(challenge), h, sizeof(h),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	buf_init(&b, 0);
	buf_puts(&b, m->authorize_url);
	buf_putc(&b, strchr(m->authorize_url, '?') != NULL ? '&' : '?');
	{
		struct buf	 q;

		buf_init(&q, 0);
		form_kv(&q, "response_type", "code");
		form_kv(&q, "client_id", client_id);
		form_kv(&q, "redirect_uri", redirect_uri);
		form_kv(&q, "code_challenge", challenge);
		form_kv(&q, "code_challenge_method", "S256");
		form_kv(&q, "state", state);
		form_kv(&q, "resource", m->resource);
		form_kv(&q, "scope", scope);
		buf_puts(&b, buf_str(&q));
		buf_cleanup(&q);
	}
	out = buf_steal(&b, NULL);
	buf_cleanup(&b);
	return out;
}

void
mcp_oauth_random(char out[44])
{
	unsigned char	 r[32];

	randombytes_buf(r, sizeof(r));
	sodium_bin2base64(out, 44, r, sizeof(r),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(r, sizeof(r));
}
