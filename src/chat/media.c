/*
 * media: downloading a message's media items and handing them out (see
 * chat/media.h). model/media.c owns the media_files rows; the channel
 * kinds' fetch_media (channels/) make the requests.
 *
 * DESIGN. A download can take seconds, so no pooled connection is held
 * while it runs: one connection reads what is needed (the message's
 * items, what is already recorded and, only when a provider must be
 * asked, the channel's credentials), goes back to the pool, the item is
 * downloaded, and another connection records the outcome in one
 * statement. The decrypted credentials live on this stack for that time
 * and are freed (wiped) right after the request.
 *
 * An item whose url is a data: URL is decoded here, with no request and
 * no credentials, and recorded like any other. A failed item is tried
 * again only FAIL_RETRY_S after its last attempt, so a timeline full of
 * thumbnails, a reload, or a retried reply job do not hammer a provider
 * that just said no. Two viewers may download the same item at once; the
 * first stored copy is kept (model/media.c).
 *
 * Thread-safety: no shared state; any thread may call these with its own
 * arena.
 */
#include "chat/media.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "util/json.h"
#include "util/context.h"
#include "util/log.h"
#include "channels/channel.h"
#include "chat/outbox.h"
#include "model/channel.h"
#include "model/media.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/thumb.h"
#include "util/url.h"

#define ITEMS_MAX	10	/* media_files.n is 0..9 */
#define FAIL_RETRY_S	30
#define CTYPE_MAX	128
#define WHY_MAX		512

/* One entry of messages.media, as the webhook stored it. */
struct item {
	const char	*url;		/* NULL: none */
	const char	*id;		/* NULL: none */
	char		 content_type[CTYPE_MAX];	/* bare, "" unknown */
};

/* The channel's way to fetch, opened once per call when needed. */
struct access {
	const struct channel_ops	*ops;
	struct outbox_channel		 ch;	/* the channel's credentials */
	const char			*why;	/* set: nothing can be fetched */
};

/* One download's outcome. */
struct got {
	bool		 ok;
	struct buf	 body;
	char		 ctype[CTYPE_MAX];
	char		 sha256[2 * crypto_hash_sha256_BYTES + 1];
	char		 why[WHY_MAX];
};

static int		 items_read(struct arena *, const char *,
			    struct item *);
static bool		 is_data_url(const struct item *);
static enum db_status	 access_open(const struct app *, struct db *,
			    struct arena *, int64_t,
			    const struct media_source *, struct access *);
static void		 access_close(struct access *);
static void		 download(const struct access *, const struct item *,
			    size_t, struct got *);
static bool		 data_decode(const char *, size_t, struct got *);
static enum db_status	 record(const struct app *, int64_t, int64_t, int,
			    const struct got *);
static bool		 needs_fetch(const struct media_file *);

/* --- the items ---------------------------------------------------------- */

/* The first ITEMS_MAX items of a media array into items; their count. */
static int
items_read(struct arena *a, const char *json, struct item *items)
{
	cJSON		*arr = json_parse_str(json != NULL ? json : "[]",
			    NULL);
	const cJSON	*e, *v;
	int		 n = 0;

	cJSON_ArrayForEach(e, arr) {
		struct item	*it = &items[n];

		if (n == ITEMS_MAX)
			break;
		memset(it, 0, sizeof(*it));
		v = cJSON_GetObjectItemCaseSensitive(e, "url");
		if (cJSON_IsString(v) && v->valuestring[0] != '\0')
			it->url = arena_strdup(a, v->valuestring);
		v = cJSON_GetObjectItemCaseSensitive(e, "id");
		if (cJSON_IsString(v) && v->valuestring[0] != '\0')
			it->id = arena_strdup(a, v->valuestring);
		v = cJSON_GetObjectItemCaseSensitive(e, "contentType");
		if (cJSON_IsString(v))
			channel_media_type(v->valuestring, it->content_type,
			    sizeof(it->content_type));
		n++;
	}
	cJSON_Delete(arr);
	return n;
}

static bool
is_data_url(const struct item *it)
{
	return it->url != NULL && strncasecmp(it->url, "data:", 5) == 0;
}

/* Whether a recorded item should be downloaded (again) now. */
static bool
needs_fetch(const struct media_file *f)
{
	if (f == NULL)
		return true;
	if (str_eq(f->status, "stored"))
		return false;
	return !str_eq(f->status, "failed") || f->age_s >= FAIL_RETRY_S;
}

/* --- fetching ----------------------------------------------------------- */

/*
 * The channel's fetcher and credentials into acc. A channel that cannot
 * fetch is not an error: acc->why says so and every item fails with it.
 * DB_UNAVAILABLE when the database failed.
 */
static enum db_status
access_open(const struct app *app, struct db *db, struct arena *a,
    int64_t org_id, const struct media_source *src, struct access *acc)
{
	enum db_status	 st;

	memset(acc, 0, sizeof(*acc));
	acc->ops = channel_ops_for(src->channel_kind);
	if (acc->ops == NULL || acc->ops->fetch_media == NULL) {
		acc->why = "This channel has no media to download.";
		return DB_OK;
	}
	st = outbox_channel_open(app, db, a, org_id, src->channel_id,
	    &acc->ch);
	if (st == DB_OK)
		return DB_OK;
	outbox_channel_close(&acc->ch);
	if (st == DB_UNAVAILABLE)
		return st;
	acc->why = "The channel's credentials could not be read.";
	return DB_OK;
}

static void
access_close(struct access *acc)
{
	outbox_channel_close(&acc->ch);
}

/* Downloads (or decodes) one item into g; no database connection held. */
static void
download(const struct access *acc, const struct item *it, size_t max,
    struct got *g)
{
	struct send_outcome	 o;
	enum send_result	 sr;

	if (is_data_url(it)) {
		g->ok = data_decode(it->url, max, g);
		goto done;
	}
	if (acc->why != NULL) {
		snprintf(g->why, sizeof(g->why), "%s", acc->why);
		return;
	}
	memset(&o, 0, sizeof(o));
	sr = acc->ops->fetch_media(&acc->ch.creds, it->url, it->id, max,
	    &g->body, g->ctype, sizeof(g->ctype), &o);
	if (sr != SEND_OK) {
		snprintf(g->why, sizeof(g->why), "%s", o.error_text[0] !=
		    '\0' ? o.error_text : "The provider did not hand the "
		    "media item over.");
		log_warn("media", "msg=\"media download failed\" kind=%s "
		    "http=%d code=\"%s\" retry=%d", acc->ops->kind,
		    o.http_status, o.error_code, sr == SEND_RETRY);
		return;
	}
	if (g->body.len == 0) {
		snprintf(g->why, sizeof(g->why), "The provider sent an empty "
		    "file.");
		return;
	}
	g->ok = true;
done:
	if (!g->ok)
		return;
	/* The webhook's type when the download's says nothing useful. */
	if (g->ctype[0] == '\0' || str_eq(g->ctype,
	    "application/octet-stream") || str_eq(g->ctype,
	    "binary/octet-stream"))
		if (it->content_type[0] != '\0')
			snprintf(g->ctype, sizeof(g->ctype), "%s",
			    it->content_type);
	{
		unsigned char	 h[crypto_hash_sha256_BYTES];

		crypto_hash_sha256(h, (const unsigned char *)g->body.data,
		    g->body.len);
		str_hex(g->sha256, h, sizeof(h));
	}
}

/*
 * data:[<type>][;param…][;base64],<payload> (RFC 2397) into g; false with
 * a sentence when malformed or larger than max.
 */
static bool
data_decode(const char *url, size_t max, struct got *g)
{
	const char	*meta = url + 5, *comma = strchr(meta, ',');
	const char	*payload;
	unsigned char	*raw;
	size_t		 plen, mlen, len = 0;
	bool		 is_b64, ok;
	char		 type[CTYPE_MAX];

	if (comma == NULL) {
		snprintf(g->why, sizeof(g->why), "The stored media item "
		    "cannot be read.");
		return false;
	}
	mlen = (size_t)(comma - meta);
	is_b64 = mlen >= 7 && strncasecmp(comma - 7, ";base64", 7) == 0;
	if (mlen >= sizeof(type))
		mlen = sizeof(type) - 1;
	memcpy(type, meta, mlen);
	type[mlen] = '\0';
	channel_media_type(type, g->ctype, sizeof(g->ctype));
	if (g->ctype[0] == '\0' && (mlen == 0 || type[0] == ';'))
		snprintf(g->ctype, sizeof(g->ctype), "text/plain");
	payload = comma + 1;
	plen = strlen(payload);
	/* Base64 grows 3 bytes into 4; percent-encoding only shrinks. */
	if ((is_b64 ? plen / 4 * 3 : plen) > max + 3) {
		(void)snprintf(g->why, sizeof(g->why), "The media item is "
		    "larger than the most Parley keeps "
		    "(PARLEY_MEDIA_MAX_BYTES).");
		return false;
	}
	raw = malloc(plen + 1);
	if (raw == NULL)
		abort();
	if (is_b64)
		ok = sodium_base642bin(raw, plen + 1, payload, plen,
		    " \n\r\t", &len, NULL,
		    sodium_base64_VARIANT_ORIGINAL) == 0 ||
		    sodium_base642bin(raw, plen + 1, payload, plen,
		    " \n\r\t", &len, NULL,
		    sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0;
	else
		ok = url_decode((char *)raw, payload, plen, false, &len);
	if (ok && len > max) {
		snprintf(g->why, sizeof(g->why), "The media item is larger "
		    "than the most Parley keeps (PARLEY_MEDIA_MAX_BYTES).");
		ok = false;
	} else if (!ok)
		snprintf(g->why, sizeof(g->why), "The stored media item "
		    "cannot be read.");
	else if (len == 0) {
		snprintf(g->why, sizeof(g->why), "The media item is empty.");
		ok = false;
	}
	if (ok)
		buf_append(&g->body, raw, len);
	free(raw);
	return ok;
}

/* Records g with a fresh connection; DB_UNAVAILABLE when none. */
static enum db_status
record(const struct app *app, int64_t org_id, int64_t message_id, int n,
    const struct got *g)
{
	struct db	*db;
	enum db_status	 st;

	if ((db = db_acquire(app->db)) == NULL)
		return DB_UNAVAILABLE;
	if (g->ok)
		st = media_file_store(db, org_id, message_id, n, g->ctype,
		    (const unsigned char *)g->body.data, g->body.len,
		    g->sha256);
	else
		st = media_file_fail(db, org_id, message_id, n, g->why);
	db_release(db);
	if (st != DB_OK && st != DB_NOT_FOUND)
		log_err("media", "msg=\"media outcome not recorded\" org=%"
		    PRId64 " message=%" PRId64 " n=%d status=%s", org_id,
		    message_id, n, db_status_str(st));
	return st;
}

/* --- the contract ------------------------------------------------------- */

int
media_fetch_message(const struct app *app, int64_t org_id,
    int64_t message_id)
{
	struct arena		*a = arena_new();
	struct media_source	 src;
	struct media_file	*files = NULL, *rec[ITEMS_MAX];
	struct item		 items[ITEMS_MAX];
	struct access		 acc;
	struct got		 g;
	struct db		*db;
	enum db_status		 st;
	bool			 todo[ITEMS_MAX], need_access = false;
	int			 n_items, n_files = 0, stored = 0;

	memset(&acc, 0, sizeof(acc));
	if ((db = db_acquire(app->db)) == NULL) {
		stored = -1;
		goto out;
	}
	st = media_source_get(db, a, org_id, 0, message_id, &src);
	if (st == DB_OK)
		st = media_file_list(db, a, org_id, &message_id, 1, &files,
		    &n_files);
	if (st != DB_OK) {
		stored = st == DB_NOT_FOUND ? 0 : -1;
		goto out;
	}
	n_items = items_read(a, src.media, items);
	memset(rec, 0, sizeof(rec));
	for (int i = 0; i < n_files; i++)
		if (files[i].n >= 0 && files[i].n < ITEMS_MAX)
			rec[files[i].n] = &files[i];
	for (int i = 0; i < n_items; i++) {
		todo[i] = needs_fetch(rec[i]);
		if (rec[i] != NULL && str_eq(rec[i]->status, "stored"))
			stored++;
		if (todo[i] && !is_data_url(&items[i]))
			need_access = true;
	}
	if (need_access && access_open(app, db, a, org_id, &src, &acc) !=
	    DB_OK) {
		stored = -1;
		goto out;
	}
	db_release(db);
	db = NULL;

	for (int i = 0; i < n_items; i++) {
		if (!todo[i])
			continue;
		memset(&g, 0, sizeof(g));
		buf_init(&g.body, 0);
		download(&acc, &items[i], app->cfg.media_max_bytes, &g);
		st = record(app, org_id, message_id, i, &g);
		buf_cleanup(&g.body);
		if (st == DB_UNAVAILABLE) {
			stored = -1;
			goto out;
		}
		if (st == DB_OK && g.ok)
			stored++;
	}
out:
	access_close(&acc);
	if (db != NULL)
		db_release(db);
	arena_free(a);
	return stored;
}

enum db_status
media_load(const struct app *app, struct arena *a, int64_t org_id,
    int64_t chat_id, int64_t message_id, int n, struct media_blob *out,
    const char **why)
{
	struct media_source	 src;
	struct media_file	 f;
	struct item		 items[ITEMS_MAX];
	struct access		 acc;
	struct got		 g;
	struct db		*db;
	enum db_status		 st, rst;
	size_t			 len;

	memset(out, 0, sizeof(*out));
	memset(&acc, 0, sizeof(acc));
	memset(&g, 0, sizeof(g));
	buf_init(&g.body, 0);
	*why = NULL;
	if (n < 0 || n >= ITEMS_MAX)
		return DB_NOT_FOUND;
	if ((db = db_acquire(app->db)) == NULL) {
		st = DB_UNAVAILABLE;
		goto out;
	}
	if ((st = media_source_get(db, a, org_id, chat_id, message_id,
	    &src)) != DB_OK)
		goto out;
	if (n >= items_read(a, src.media, items)) {
		st = DB_NOT_FOUND;
		goto out;
	}
	st = media_file_get(db, a, org_id, message_id, n, true, &f);
	if (st != DB_OK && st != DB_NOT_FOUND)
		goto out;
	if (st == DB_OK && str_eq(f.status, "stored") && f.data != NULL) {
		out->content_type = f.content_type;
		out->data = f.data;
		out->len = f.len;
		out->sha256 = f.sha256;
		goto out;
	}
	if (st == DB_OK && !needs_fetch(&f)) {
		*why = f.error;
		st = DB_INVALID;
		goto out;
	}
	if (!is_data_url(&items[n]) && (st = access_open(app, db, a, org_id,
	    &src, &acc)) != DB_OK)
		goto out;
	db_release(db);
	db = NULL;

	download(&acc, &items[n], app->cfg.media_max_bytes, &g);
	access_close(&acc);
	rst = record(app, org_id, message_id, n, &g);
	if (rst == DB_NOT_FOUND) {
		/* The message went away meanwhile. */
		st = DB_NOT_FOUND;
		goto out;
	}
	if (!g.ok) {
		*why = arena_strdup(a, g.why);
		st = DB_INVALID;
		goto out;
	}
	/* Served even when it could not be recorded: the next view tries
	 * again. */
	out->content_type = arena_strdup(a, g.ctype);
	out->sha256 = arena_strdup(a, g.sha256);
	out->data = (unsigned char *)buf_steal(&g.body, &len);
	out->len = len;
	arena_defer(a, free, out->data);
	st = DB_OK;
out:
	access_close(&acc);
	if (db != NULL)
		db_release(db);
	buf_cleanup(&g.body);
	return st;
}

enum db_status
media_load_thumb(const struct app *app, struct arena *a, int64_t org_id,
    int64_t chat_id, int64_t message_id, int n, struct media_blob *out,
    bool *is_thumb, const char **why)
{
	struct media_source	 src;
	struct db		*db;
	unsigned char		*t = NULL;
	size_t			 tlen = 0;
	enum db_status		 st;

	memset(out, 0, sizeof(*out));
	*is_thumb = false;
	*why = NULL;
	if (n < 0 || n >= ITEMS_MAX)
		return DB_NOT_FOUND;
	if ((db = db_acquire(app->db)) == NULL)
		return DB_UNAVAILABLE;
	/* The org (and chat) own the message, then the kept preview. */
	st = media_source_get(db, a, org_id, chat_id, message_id, &src);
	if (st == DB_OK)
		st = media_file_thumb_get(db, a, org_id, message_id, n, &t,
		    &tlen);
	db_release(db);
	if (st == DB_OK && t != NULL) {
		out->content_type = arena_strdup(a, "image/jpeg");
		out->data = t;
		out->len = tlen;
		out->sha256 = arena_strdup(a, "");
		*is_thumb = true;
		return DB_OK;
	}
	if (st != DB_OK && st != DB_NOT_FOUND)
		return st;
	if ((st = media_load(app, a, org_id, chat_id, message_id, n, out,
	    why)) != DB_OK)
		return st;
	/* Decoding is CPU work: no connection is held while it runs. */
	if (!thumb_make(out->data, out->len, &t, &tlen))
		return DB_OK;		/* not a photo we can read: itself */
	arena_defer(a, free, t);
	if ((db = db_acquire(app->db)) != NULL) {
		if (media_file_thumb_set(db, org_id, message_id, n, t, tlen) !=
		    DB_OK)
			log_warn("media", "msg=\"preview not kept\" org=%"
			    PRId64 " message=%" PRId64 " n=%d", org_id,
			    message_id, n);
		db_release(db);
	}
	out->content_type = arena_strdup(a, "image/jpeg");
	out->data = t;
	out->len = tlen;
	out->sha256 = arena_strdup(a, "");
	*is_thumb = true;
	return DB_OK;
}
