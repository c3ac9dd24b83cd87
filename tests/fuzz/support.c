/*
 * support: the fake connection, database and channel lookup the fuzz
 * targets run the real request path on (see fuzz.h).
 */
#include "fuzz/fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <civetweb.h>

#include "app/app.h"
#include "crypto/secret.h"
#include "db/db.h"
#include "http/req.h"
#include "http/resp.h"
#include "http/router.h"
#include "model/channel.h"
#include "panel/panel.h"
#include "tmpl/tmpl.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/log.h"
#include "util/utf8.h"
#include "util/waid.h"
#include "chat/ingest.h"
#include "webhooks/provider.h"
#include "webhooks/webhook.h"

#define FUZZ_MAX_HEADERS	16

struct fuzz_conn {
	struct mg_request_info	 ri;
	const char		*names[FUZZ_MAX_HEADERS];
	const char		*values[FUZZ_MAX_HEADERS];
	int			 n_headers;
	const char		*body;
	size_t			 len;
	size_t			 off;
	int			 status;	/* 0: no answer begun */
	int			 n_starts;
	long long		 body_left;	/* -1: until the close */
	size_t			 out;
};

/* The wrapped functions (the linker sends libparley's calls here). */
const struct mg_request_info *__wrap_mg_get_request_info(
		    const struct mg_connection *);
const char	*__wrap_mg_get_header(const struct mg_connection *,
		    const char *);
int		 __wrap_mg_read(struct mg_connection *, void *, size_t);
int		 __wrap_mg_write(struct mg_connection *, const void *, size_t);
void		 __wrap_mg_disable_keep_alive(struct mg_connection *);
struct mg_context *__wrap_mg_get_context(const struct mg_connection *);
const char	*__wrap_mg_get_response_code_text(
		    const struct mg_connection *, int);
struct db	*__wrap_db_acquire(struct db_pool *);
enum db_status	 __wrap_chancache_get(struct req *, const char *,
		    const char *, struct channel *, char **);
void		 __wrap_chancache_verified(struct req *, const struct channel *);
enum ingest_result __wrap_ingest_store(struct app *, struct ingest_item *,
		    int);

static int	 fuzz_bearer(struct req *);
static void	 check_str(const char *, bool);
static void	 check_ident(const char *);

int		 fuzz_n_ingested;
static struct app	 app;
static bool		 app_ready;

/* --- the fake connection ------------------------------------------------- */

const struct mg_request_info *
__wrap_mg_get_request_info(const struct mg_connection *c)
{
	return &((const struct fuzz_conn *)c)->ri;
}

const char *
__wrap_mg_get_header(const struct mg_connection *c, const char *name)
{
	const struct fuzz_conn	*fc = (const struct fuzz_conn *)c;

	for (int i = 0; i < fc->n_headers; i++)
		if (strcasecmp(fc->names[i], name) == 0)
			return fc->values[i];
	return NULL;
}

int
__wrap_mg_read(struct mg_connection *c, void *buf, size_t len)
{
	struct fuzz_conn	*fc = (struct fuzz_conn *)c;
	size_t			 n = fc->len - fc->off;

	if (n > len)
		n = len;
	if (n > 0)
		memcpy(buf, fc->body + fc->off, n);
	fc->off += n;
	return (int)n;
}

/*
 * A response's head: "HTTP/1.x NNN …\r\n", header lines, "\r\n". Parley
 * writes the whole head in one call (http/resp.c), so it must be whole
 * here; a header line with a bare CR or LF would split the response.
 */
static void
head(struct fuzz_conn *fc, const char *p, size_t len)
{
	const char	*end = NULL, *line, *eol, *cl;
	long long	 n = -1;

	for (size_t i = 0; i + 3 < len; i++)
		if (memcmp(p + i, "\r\n\r\n", 4) == 0) {
			end = p + i + 2;
			break;
		}
	if (end == NULL || len < 13 || memcmp(p, "HTTP/1.", 7) != 0 ||
	    p[8] != ' ' || p[12] != ' ')
		abort();	/* bytes before a response's head */
	fc->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	fc->n_starts++;
	for (line = p; line < end; line = eol + 2) {
		eol = line;
		while (eol < end && *eol != '\r' && *eol != '\n')
			eol++;
		if (eol + 1 >= end + 1 || eol[0] != '\r' || eol[1] != '\n')
			abort();
		if (line != p && memchr(line, ':', (size_t)(eol - line)) == NULL)
			abort();	/* not a header line */
		if (strncasecmp(line, "Content-Length:", 15) == 0) {
			cl = line + 15;
			n = strtoll(cl, NULL, 10);
		}
	}
	fc->body_left = n < 0 ? -1 : n - (long long)(len - (size_t)(end + 2 -
	    p));
	if (fc->body_left < -1)
		abort();	/* more body than Content-Length said */
}

int
__wrap_mg_write(struct mg_connection *c, const void *buf, size_t len)
{
	struct fuzz_conn	*fc = (struct fuzz_conn *)c;

	/* Touch every byte: ASan sees a response read past its end. */
	for (size_t i = 0; i < len; i++)
		fc->out += ((const unsigned char *)buf)[i] != 0;
	if (fc->status == 0 || fc->body_left == 0)
		head(fc, buf, len);
	else if (fc->body_left > 0) {
		if ((long long)len > fc->body_left)
			abort();	/* more body than Content-Length said */
		fc->body_left -= (long long)len;
	}
	return (int)len;
}

struct mg_context *
__wrap_mg_get_context(const struct mg_connection *c)
{
	(void)c;
	return NULL;	/* mg_get_option(NULL, …) answers "" */
}

const char *
__wrap_mg_get_response_code_text(const struct mg_connection *c, int status)
{
	(void)c;
	return status >= 100 && status <= 599 ? "Status" : "Unknown";
}

void
__wrap_mg_disable_keep_alive(struct mg_connection *c)
{
	(void)c;
}

/* --- the database and the webhook path's stand-ins ----------------------- */

/* PostgreSQL is down: every caller takes its real 503 path. */
struct db *
__wrap_db_acquire(struct db_pool *pool)
{
	(void)pool;
	return NULL;
}

/* A channel of kind for any key but ones ending in "0000" (unknown). */
enum db_status
__wrap_chancache_get(struct req *r, const char *kind, const char *key,
    struct channel *ch, char **secret)
{
	size_t	 n = strlen(key);

	memset(ch, 0, sizeof(*ch));
	*secret = NULL;
	if (n >= 4 && strcmp(key + n - 4, "0000") == 0)
		return DB_NOT_FOUND;
	ch->id = 7;
	ch->org_id = 1;
	ch->kind = arena_strdup(r->arena, kind);
	ch->name = "fuzz";
	ch->environment = "production";
	ch->status = "connected";
	ch->phone_number = strcmp(kind, "twilio") == 0 ?
	    arena_strdup(r->arena, key) : "+15550001111";
	ch->phone_number_id = strcmp(kind, "twilio") == 0 ? "" :
	    arena_strdup(r->arena, key);
	ch->default_agent_name = "";
	ch->credential_hints = "{}";
	*secret = arena_strdup(r->arena, FUZZ_SECRET);
	return DB_OK;
}

void
__wrap_chancache_verified(struct req *r, const struct channel *ch)
{
	(void)r;
	(void)ch;
}

/* s must be a whole string (ASan checks the read), UTF-8 when utf8. */
static void
check_str(const char *s, bool must)
{
	if (s == NULL) {
		if (must)
			abort();
		return;
	}
	if (!utf8_valid(s, strlen(s)))
		abort();
}

/* An identity member: absent, or a whole string shorter than WAID_MAX. */
static void
check_ident(const char *s)
{
	check_str(s, false);
	if (s != NULL && strlen(s) >= WAID_MAX)
		abort();
}

/* What a webhook hands ingest must be storable as it is. */
enum ingest_result
__wrap_ingest_store(struct app *a, struct ingest_item *items, int n)
{
	(void)a;
	if (n < 0 || (n > 0 && items == NULL))
		abort();
	for (int i = 0; i < n; i++) {
		const struct inbound	*in = items[i].in;
		char			*media;

		if (in == NULL || items[i].org_id <= 0 ||
		    items[i].channel_id <= 0)
			abort();
		if (!webhook_id_ok(in->provider_message_id))
			abort();
		check_str(in->chat_external_id, true);
		check_str(in->sender, true);
		check_str(in->sender_name, true);
		check_str(in->type, true);
		check_str(in->body, true);
		check_str(in->group_name, true);
		check_str(in->transcript, false);
		/* The author's identity fits chats' and messages' columns. */
		check_ident(in->from.user_id);
		check_ident(in->from.parent_user_id);
		check_ident(in->from.username);
		if (in->from.phone != NULL && in->from.phone[0] != '\0' &&
		    (in->from.phone[0] != '+' || strlen(in->from.phone) < 2 ||
		    strlen(in->from.phone) > 32 || strspn(in->from.phone + 1,
		    "0123456789") != strlen(in->from.phone) - 1))
			abort();
		if (*in->chat_external_id == '\0' || *in->sender == '\0' ||
		    *in->type == '\0' || in->timestamp < 0)
			abort();
		if (in->media != NULL) {
			if (!cJSON_IsArray(in->media))
				abort();
			media = cJSON_PrintUnformatted(in->media);
			check_str(media, true);
			cJSON_free(media);
		}
		fuzz_n_ingested++;
	}
	return INGEST_OK;
}

/* --- the app -------------------------------------------------------------- */

static int
fuzz_bearer(struct req *r)
{
	const char	*auth = req_header(r, "Authorization");

	if (auth == NULL || strcmp(auth, "Bearer fuzz") != 0)
		return resp_error(r, 401, "unauthorized", "Send a token.");
	r->org_id = 1;
	r->role = "owner";
	r->token_id = 1;
	return 0;
}

struct app *
fuzz_app(void)
{
	char	 err[512], dir[4096];

	if (app_ready)
		return &app;
	/* The repository's templates/, found from where make fuzz runs. */
	if (getenv("PARLEY_HOME") == NULL)
		setenv("PARLEY_HOME", ".", 1);
	setenv("PARLEY_PUBLIC_URL", FUZZ_PUBLIC_URL, 1);
	setenv("PARLEY_DATABASE_URL", "host=/nonexistent", 1);
	if (!config_load(&app.cfg, err, sizeof(err))) {
		fprintf(stderr, "fuzz: config: %s\n", err);
		abort();
	}
	log_set_level(LOG_ERROR);
	app.tmpl = tmpl_set_new();
	snprintf(dir, sizeof(dir), "%s/templates", app.cfg.home);
	if (!tmpl_set_load_dir(app.tmpl, dir, err, sizeof(err))) {
		fprintf(stderr, "fuzz: templates: %s (run from the "
		    "repository root or set PARLEY_HOME)\n", err);
		abort();
	}
	app.routes = app_routes;
	app.n_routes = app_n_routes;
	router_set_hooks(&(struct router_hooks){ .bearer = fuzz_bearer });
	resp_set_page_hook(panel_decorate);
	app_ready = true;
	return &app;
}

int
fuzz_request(const char *method, const char *path, const char *query,
    const char *const *headers, const void *body, size_t len)
{
	struct fuzz_conn	 fc;

	memset(&fc, 0, sizeof(fc));
	fc.ri.request_method = method;
	fc.ri.request_uri = path;
	fc.ri.local_uri = path;
	fc.ri.local_uri_raw = path;
	fc.ri.http_version = "1.1";
	fc.ri.query_string = query;
	fc.ri.content_length = body != NULL ? (long long)len : -1;
	snprintf(fc.ri.remote_addr, sizeof(fc.ri.remote_addr), "127.0.0.1");
	for (int i = 0; headers != NULL && headers[i] != NULL &&
	    headers[i + 1] != NULL && fc.n_headers < FUZZ_MAX_HEADERS; i += 2) {
		fc.names[fc.n_headers] = headers[i];
		fc.values[fc.n_headers++] = headers[i + 1];
	}
	fc.body = body;
	fc.len = body != NULL ? len : 0;
	(void)router_dispatch((struct mg_connection *)&fc, fuzz_app());
	if (fc.status == 0 || fc.status == 500 || fc.n_starts != 1) {
		fprintf(stderr, "fuzz: %s %s answered %d (%d responses)\n",
		    method, path, fc.status, fc.n_starts);
		abort();
	}
	return fc.status;
}

void
fuzz_split(const uint8_t *data, size_t size, char **a, const uint8_t **b,
    size_t *blen)
{
	const uint8_t	*nul = memchr(data, '\0', size);
	size_t		 n = nul != NULL ? (size_t)(nul - data) : size;

	*a = malloc(n + 1);
	if (*a == NULL)
		abort();
	memcpy(*a, data, n);
	(*a)[n] = '\0';
	*b = nul != NULL ? nul + 1 : data + size;
	*blen = nul != NULL ? size - n - 1 : 0;
}
