/*
 * media: downloading a message's media items, making what is needed of
 * them once, keeping them in the database or the S3-compatible store, and
 * handing them out (see chat/media.h). model/media.c owns the rows; the
 * channel kinds' fetch_media (channels/) make the requests; util/s3.h
 * talks to the store; chat/extract.h reads documents.
 *
 * DESIGN. A download can take seconds, an extraction up to the extraction
 * timeout, a store call as long as the store takes: no pooled connection
 * is held while any of them runs. One connection reads what is needed
 * (the message's items, what is already recorded and, only when a
 * provider must be asked, the channel's credentials), goes back to the
 * pool, the item is downloaded and derived (preview, vision image, text),
 * uploaded when a store is configured, and another connection records
 * the outcome in one statement. The decrypted credentials live on this
 * stack for that time and are freed (wiped) right after the request.
 *
 * An upload first notes its keys as orphans due in an hour
 * (media_orphan_intend); the recording statement takes them back (the
 * trigger of migrations/0017). So a crash, a lost race (two viewers
 * downloading the same item: the first stored copy is kept) or a store
 * that fails half-way leaves objects that the sweep deletes, never
 * objects kept for good with nothing pointing at them. The same trigger
 * turns every reference a row drops (retention, a move, a deletion) into
 * orphans in the statement that drops it.
 *
 * An item whose url is a data: URL is decoded here, with no request and
 * no credentials, and recorded like any other. A failed item is tried
 * again only FAIL_RETRY_S after its last attempt, so a timeline full of
 * thumbnails, a reload, or a retried reply job do not hammer a provider
 * that just said no.
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
#include "chat/chats.h"
#include "chat/outbox.h"
#include "chat/extract.h"
#include "crypto/secret.h"
#include "model/channel.h"
#include "model/media.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/cidr.h"
#include "util/doctext.h"
#include "util/httpc.h"
#include "util/s3.h"
#include "util/str.h"
#include "util/thumb.h"
#include "util/time.h"
#include "util/url.h"

#define ITEMS_MAX	10	/* media_files.n is 0..9 */
#define FAIL_RETRY_S	30
#define CTYPE_MAX	128
#define NAME_MAX_LEN	256
#define WHY_MAX		512
#define EXPIRE_BATCH	200
#define EXPIRE_ROUNDS	50	/* batches per sweep: the rest next time */
#define ORPHAN_BATCH	100
#define ORPHAN_ROUNDS	50
#define MAC_PURPOSE	"mediaurl"
#define EXPIRED_WHY	"This media item has expired: the organization " \
			"keeps media for a limited time."

/* One entry of messages.media, as the webhook stored it. */
struct item {
	const char	*url;		/* NULL: none */
	const char	*id;		/* NULL: none */
	const char	*filename;	/* NULL: none */
	char		 content_type[CTYPE_MAX];	/* bare, "" unknown */
	int64_t		 ref_message_id;	/* an outbound item that is
						   another message's item
						   ref_n; 0: its own */
	int		 ref_n;
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

/* What was made of a downloaded item (malloc'd parts). */
struct derived {
	unsigned char		*thumb;
	size_t			 thumb_len;
	unsigned char		*vision;
	size_t			 vision_len;
	const char		*text_status;	/* "", ok, failed */
	struct extract_result	 text;
};

static int		 items_read(struct arena *, const char *,
			    struct item *);
static enum db_status	 ref_follow(struct db *, struct arena *, int64_t,
			    int64_t *, int *, struct media_source *,
			    struct item *, int *);
static bool		 is_data_url(const struct item *);
static const char	*type_of_name(const char *);
static enum db_status	 access_open(const struct app *, struct db *,
			    struct arena *, int64_t,
			    const struct media_source *, struct access *);
static void		 access_close(struct access *);
static void		 download(const struct access *, const struct item *,
			    size_t, struct got *);
static bool		 data_decode(const char *, size_t, struct got *);
static bool		 needs_fetch(const struct media_file *);
static void		 derive(const struct app *, const struct item *,
			    const struct got *, struct derived *);
static void		 derived_cleanup(struct derived *);
struct parts;
static bool		 put_parts(const struct app *, int64_t, int64_t, int,
			    const struct parts *, char *, size_t, char *,
			    size_t);
static bool		 upload(const struct app *, int64_t, int64_t, int,
			    const struct got *, const struct derived *,
			    char *, size_t, bool *);
static enum db_status	 keep(const struct app *, int64_t, int64_t, int,
			    const struct item *, struct got *);
static enum db_status	 record_failure(const struct app *, int64_t,
			    int64_t, int, const char *);
static enum db_status	 expire_one(const struct app *, int64_t, int64_t,
			    int);
static struct s3_config	 store_of(const struct app *, const char *);
static enum db_status	 store_read(const struct app *, struct arena *,
			    const char *, const char *, size_t,
			    unsigned char **, size_t *, const char **);
static bool		 is_image(const char *);
static void		 signed_msg(char *, size_t, int64_t, int64_t, int,
			    const char *, int64_t);
static int		 orphans_delete(const struct app *);
static enum db_status	 row_get(const struct app *, struct arena *,
			    int64_t, int64_t, int64_t, int,
			    struct media_file *, bool *, const char **);
static enum db_status	 row_stored(const struct app *, struct arena *,
			    int64_t, int64_t, int64_t, int,
			    struct media_file *, bool *, struct media_blob *,
			    const char **);
static enum db_status	 part_here(const struct app *, struct arena *,
			    int64_t, const struct media_file *,
			    enum media_part, unsigned char **, size_t *);
static void		 part_keep(const struct app *, int64_t,
			    const struct media_file *, enum media_part,
			    const unsigned char *, size_t);
static bool		 move_up(const struct app *, struct arena *,
			    const struct media_file *);
static bool		 move_down(const struct app *, struct arena *,
			    const struct media_file *);

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
		v = cJSON_GetObjectItemCaseSensitive(e, "filename");
		if (cJSON_IsString(v) && v->valuestring[0] != '\0' &&
		    strlen(v->valuestring) < NAME_MAX_LEN)
			it->filename = arena_strdup(a, v->valuestring);
		v = cJSON_GetObjectItemCaseSensitive(e, "contentType");
		if (cJSON_IsString(v))
			channel_media_type(v->valuestring, it->content_type,
			    sizeof(it->content_type));
		v = cJSON_GetObjectItemCaseSensitive(e, "ref");
		if (cJSON_IsObject(v)) {
			const cJSON	*rm, *rn;

			rm = cJSON_GetObjectItemCaseSensitive(v, "message");
			rn = cJSON_GetObjectItemCaseSensitive(v, "n");
			if (cJSON_IsNumber(rm) && rm->valuedouble >= 1 &&
			    cJSON_IsNumber(rn) && rn->valueint >= 0 &&
			    rn->valueint < ITEMS_MAX) {
				it->ref_message_id = (int64_t)rm->valuedouble;
				it->ref_n = rn->valueint;
			}
		}
		n++;
	}
	cJSON_Delete(arr);
	return n;
}

/*
 * An outbound item that names another message's item (a Resend, a tool
 * sending an item of the conversation: "ref" in messages.media) is that
 * item: *message_id, *n, *src and items become the referenced message's,
 * read with db (the org's messages only, one level). *n_items its count.
 */
static enum db_status
ref_follow(struct db *db, struct arena *a, int64_t org_id,
    int64_t *message_id, int *n, struct media_source *src,
    struct item *items, int *n_items)
{
	int64_t		 ref = items[*n].ref_message_id;
	int		 rn = items[*n].ref_n;
	const char	*filename = items[*n].filename;
	enum db_status	 st;

	if (ref == 0)
		return DB_OK;
	if ((st = media_source_get(db, a, org_id, 0, ref, src)) != DB_OK)
		return st;
	*n_items = items_read(a, src->media, items);
	if (rn >= *n_items || items[rn].ref_message_id != 0)
		return DB_NOT_FOUND;
	if (filename != NULL)
		items[rn].filename = filename;
	*message_id = ref;
	*n = rn;
	return DB_OK;
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
	if (str_eq(f->status, "stored") || str_eq(f->status, "expired"))
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

/* --- what is made of an item --------------------------------------------- */

static bool
is_image(const char *ct)
{
	return str_eq(ct, "image/jpeg") || str_eq(ct, "image/png") ||
	    str_eq(ct, "image/gif") || str_eq(ct, "image/webp");
}

/*
 * A photo or sticker: its preview and vision image; a document: its text
 * or the reason there is none. CPU work and, for some documents, a child
 * process: no connection is held.
 */
static void
derive(const struct app *app, const struct item *it, const struct got *g,
    struct derived *d)
{
	const unsigned char	*p = (const unsigned char *)g->body.data;
	size_t			 n = g->body.len;
	enum doc_kind		 k;

	memset(d, 0, sizeof(*d));
	extract_result_init(&d->text);
	d->text_status = "";
	if (str_starts_with(g->ctype, "image/")) {
		(void)thumb_make(p, n, &d->thumb, &d->thumb_len);
		(void)thumb_vision(p, n, &d->vision, &d->vision_len);
		return;
	}
	if ((k = doc_kind_of(g->ctype, it->filename, p, n)) == DOC_NONE)
		return;
	extract_run(app, k, p, n, &d->text);
	if (d->text.ok && d->text.chars == 0) {
		d->text.ok = false;
		snprintf(d->text.why, sizeof(d->text.why), "it holds no text "
		    "(a scanned document?)");
	}
	d->text_status = d->text.ok ? "ok" : "failed";
}

static void
derived_cleanup(struct derived *d)
{
	free(d->thumb);
	free(d->vision);
	extract_result_cleanup(&d->text);
	memset(d, 0, sizeof(*d));
}

/* The configured store, addressing bucket (a row's, which may be one
 * the configuration named before). */
static struct s3_config
store_of(const struct app *app, const char *bucket)
{
	struct s3_config	 c = app->cfg.s3;

	if (bucket != NULL && bucket[0] != '\0')
		c.bucket = bucket;
	return c;
}

/* A row's objects to upload: the item and the parts it has (NULL: none). */
struct parts {
	const char		*ctype;
	const void		*data;
	size_t			 len;
	const void		*thumb;
	size_t			 thumb_len;
	const void		*vision;
	size_t			 vision_len;
	const void		*text;		/* only when it goes too */
	size_t			 text_len;
};

/*
 * A new key for item n of the message into key, noted as orphans first
 * (see the file-top DESIGN), then p uploaded under it. False (with why)
 * when anything failed: the noted keys are deleted by the sweep.
 */
static bool
put_parts(const struct app *app, int64_t org_id, int64_t message_id, int n,
    const struct parts *p, char *key, size_t keylen, char *why,
    size_t whylen)
{
	const struct s3_config	*c = &app->cfg.s3;
	unsigned char		 rnd[8];
	char			 hex[2 * sizeof(rnd) + 1];
	char			 part[S3_KEY_MAX + 16];
	struct db		*db;
	enum db_status		 st;
	enum s3_result		 r;

	randombytes_buf(rnd, sizeof(rnd));
	str_hex(hex, rnd, sizeof(rnd));
	snprintf(key, keylen, "media/%" PRId64 "/%" PRId64 "/%d-%s", org_id,
	    message_id, n, hex);
	snprintf(why, whylen, "The database is unavailable.");
	if ((db = db_acquire(app->db)) == NULL)
		return false;
	st = media_orphan_intend(db, org_id, c->bucket, key);
	db_release(db);
	if (st != DB_OK)
		return false;
	r = s3_put(c, key, p->ctype != NULL && p->ctype[0] != '\0' ?
	    p->ctype : NULL, p->data, p->len, why, whylen);
	if (r == S3_OK && p->thumb != NULL) {
		snprintf(part, sizeof(part), "%s" MEDIA_SUFFIX_THUMB, key);
		r = s3_put(c, part, "image/jpeg", p->thumb, p->thumb_len, why,
		    whylen);
	}
	if (r == S3_OK && p->vision != NULL) {
		snprintf(part, sizeof(part), "%s" MEDIA_SUFFIX_VISION, key);
		r = s3_put(c, part, "image/jpeg", p->vision, p->vision_len,
		    why, whylen);
	}
	if (r == S3_OK && p->text != NULL) {
		snprintf(part, sizeof(part), "%s" MEDIA_SUFFIX_TEXT, key);
		r = s3_put(c, part, "text/plain; charset=utf-8", p->text,
		    p->text_len, why, whylen);
	}
	return r == S3_OK;
}

/*
 * Uploads the item and what was made of it (see put_parts); the text
 * goes too when longer than MEDIA_TEXT_INLINE (*text_in_store). False
 * when the item is to be kept in the database instead (logged).
 */
static bool
upload(const struct app *app, int64_t org_id, int64_t message_id, int n,
    const struct got *g, const struct derived *d, char *key, size_t keylen,
    bool *text_in_store)
{
	struct parts	 p;
	char		 why[WHY_MAX];

	memset(&p, 0, sizeof(p));
	p.ctype = g->ctype;
	p.data = g->body.data;
	p.len = g->body.len;
	p.thumb = d->thumb;
	p.thumb_len = d->thumb_len;
	p.vision = d->vision;
	p.vision_len = d->vision_len;
	*text_in_store = d->text.ok && d->text.text.len > MEDIA_TEXT_INLINE;
	if (*text_in_store) {
		p.text = d->text.text.data;
		p.text_len = d->text.text.len;
	}
	if (put_parts(app, org_id, message_id, n, &p, key, keylen, why,
	    sizeof(why)))
		return true;
	*text_in_store = false;
	log_warn("media", "msg=\"media store failed: item kept in the "
	    "database\" org=%" PRId64 " message=%" PRId64 " n=%d "
	    "why=\"%s\"", org_id, message_id, n, why);
	return false;
}

/*
 * A downloaded item: derived, uploaded when a store is configured, and
 * recorded in one statement with a fresh connection. DB_UNAVAILABLE when
 * none; DB_OK also when another copy was recorded first.
 */
static enum db_status
keep(const struct app *app, int64_t org_id, int64_t message_id, int n,
    const struct item *it, struct got *g)
{
	struct derived		 d;
	struct media_record	 r;
	struct db		*db;
	char			 key[S3_KEY_MAX + 1];
	bool			 text_in_store = false, recorded = false;
	enum db_status		 st;

	derive(app, it, g, &d);
	key[0] = '\0';
	if (app->cfg.s3_enabled && !upload(app, org_id, message_id, n, g, &d,
	    key, sizeof(key), &text_in_store))
		key[0] = '\0';
	memset(&r, 0, sizeof(r));
	r.content_type = g->ctype;
	r.data = (const unsigned char *)g->body.data;
	r.len = g->body.len;
	r.sha256 = g->sha256;
	r.s3_bucket = key[0] != '\0' ? app->cfg.s3.bucket : NULL;
	r.s3_key = key[0] != '\0' ? key : NULL;
	r.thumb = d.thumb;
	r.thumb_len = d.thumb_len;
	r.vision = d.vision;
	r.vision_len = d.vision_len;
	r.text_status = d.text_status;
	r.text_error = d.text.ok ? "" : d.text.why;
	if (d.text.ok) {
		r.text = buf_str(&d.text.text);
		r.text_len = d.text.text.len;
		r.text_chars = d.text.chars;
		r.text_truncated = d.text.truncated;
		r.text_here = !text_in_store;
	}
	if ((db = db_acquire(app->db)) == NULL)
		st = DB_UNAVAILABLE;
	else {
		st = media_file_record(db, org_id, message_id, n, &r,
		    &recorded);
		db_release(db);
	}
	if (st != DB_OK && st != DB_NOT_FOUND)
		log_err("media", "msg=\"media item not recorded\" org=%" PRId64
		    " message=%" PRId64 " n=%d status=%s", org_id, message_id,
		    n, db_status_str(st));
	/* Not recorded: our uploads stay noted as orphans for the sweep. */
	derived_cleanup(&d);
	return st;
}

/* Records a failed download with a fresh connection. */
static enum db_status
record_failure(const struct app *app, int64_t org_id, int64_t message_id,
    int n, const char *why)
{
	struct db	*db;
	enum db_status	 st;

	if ((db = db_acquire(app->db)) == NULL)
		return DB_UNAVAILABLE;
	st = media_file_fail(db, org_id, message_id, n, why);
	db_release(db);
	if (st != DB_OK && st != DB_NOT_FOUND)
		log_err("media", "msg=\"media outcome not recorded\" org=%"
		    PRId64 " message=%" PRId64 " n=%d status=%s", org_id,
		    message_id, n, db_status_str(st));
	return st;
}

/* An item of a message past the retention: recorded expired, unread. */
static enum db_status
expire_one(const struct app *app, int64_t org_id, int64_t message_id, int n)
{
	struct db	*db;
	enum db_status	 st;

	if ((db = db_acquire(app->db)) == NULL)
		return DB_UNAVAILABLE;
	st = media_file_expire_one(db, org_id, message_id, n);
	db_release(db);
	return st;
}

/*
 * Object key of bucket from the store, at most max bytes, into *data
 * (in a). DB_INVALID with a sentence when it cannot be had.
 */
static enum db_status
store_read(const struct app *app, struct arena *a, const char *bucket,
    const char *key, size_t max, unsigned char **data, size_t *len,
    const char **why)
{
	struct s3_config	 c;
	struct buf		 b;
	char			 w[WHY_MAX];
	enum s3_result		 r;

	*data = NULL;
	*len = 0;
	if (!app->cfg.s3_enabled) {
		*why = "This media item is in the S3 store, which is not "
		    "configured (PARLEY_MEDIA_S3_*).";
		return DB_INVALID;
	}
	c = store_of(app, bucket);
	buf_init(&b, 0);
	r = s3_get(&c, key, max, &b, w, sizeof(w));
	if (r != S3_OK) {
		log_warn("media", "msg=\"media store read failed\" key=%s "
		    "why=\"%s\"", key, w);
		*why = r == S3_NOT_FOUND ? "This media item is missing from "
		    "the media store." : arena_printf(a, "The media store did "
		    "not hand this item over. %s", w);
		buf_cleanup(&b);
		return DB_INVALID;
	}
	*data = (unsigned char *)buf_steal(&b, len);
	if (*data == NULL)
		*data = (unsigned char *)arena_strdup(a, "");
	else
		arena_defer(a, free, *data);
	return DB_OK;
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
		if (todo[i] && !is_data_url(&items[i]) && !src.past_retention)
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
		if (src.past_retention) {
			if (expire_one(app, org_id, message_id, i) ==
			    DB_UNAVAILABLE) {
				stored = -1;
				goto out;
			}
			continue;
		}
		memset(&g, 0, sizeof(g));
		buf_init(&g.body, 0);
		download(&acc, &items[i], app->cfg.media_max_bytes, &g);
		st = g.ok ? keep(app, org_id, message_id, i, &items[i], &g) :
		    record_failure(app, org_id, message_id, i, g.why);
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
	int			 n_items;

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
	if (n >= (n_items = items_read(a, src.media, items))) {
		st = DB_NOT_FOUND;
		goto out;
	}
	if ((st = ref_follow(db, a, org_id, &message_id, &n, &src, items,
	    &n_items)) != DB_OK)
		goto out;
	out->filename = items[n].filename;
	st = media_file_get(db, a, org_id, message_id, n, true, &f);
	if (st != DB_OK && st != DB_NOT_FOUND)
		goto out;
	if (st == DB_OK && str_eq(f.status, "expired")) {
		out->expired = true;
		*why = EXPIRED_WHY;
		st = DB_INVALID;
		goto out;
	}
	if (st == DB_OK && str_eq(f.status, "stored")) {
		out->content_type = f.content_type;
		out->sha256 = f.sha256;
		if (f.s3_key[0] == '\0') {
			out->data = f.data;
			out->len = f.len;
			goto out;
		}
		db_release(db);
		db = NULL;
		st = store_read(app, a, f.s3_bucket, f.s3_key,
		    (size_t)f.byte_size, &out->data, &out->len, why);
		goto out;
	}
	if (st == DB_OK && !needs_fetch(&f)) {
		*why = f.error;
		st = DB_INVALID;
		goto out;
	}
	if (src.past_retention) {
		db_release(db);
		db = NULL;
		if ((st = expire_one(app, org_id, message_id, n)) == DB_OK) {
			out->expired = true;
			*why = EXPIRED_WHY;
			st = DB_INVALID;
		}
		goto out;
	}
	if (!is_data_url(&items[n]) && (st = access_open(app, db, a, org_id,
	    &src, &acc)) != DB_OK)
		goto out;
	db_release(db);
	db = NULL;

	download(&acc, &items[n], app->cfg.media_max_bytes, &g);
	access_close(&acc);
	rst = g.ok ? keep(app, org_id, message_id, n, &items[n], &g) :
	    record_failure(app, org_id, message_id, n, g.why);
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

/*
 * The row of item n of the message (of chat chat_id, or any when 0) with
 * a fresh connection: DB_OK with *has_row saying whether it was ever
 * recorded (and *filename, when not NULL, the item's name or NULL);
 * DB_NOT_FOUND when there is no such message or item.
 */
static enum db_status
row_get(const struct app *app, struct arena *a, int64_t org_id,
    int64_t chat_id, int64_t message_id, int n, struct media_file *f,
    bool *has_row, const char **filename)
{
	struct media_source	 src;
	struct item		 items[ITEMS_MAX];
	struct db		*db;
	enum db_status		 st;
	int			 n_items = 0;

	memset(f, 0, sizeof(*f));
	*has_row = false;
	if (n < 0 || n >= ITEMS_MAX)
		return DB_NOT_FOUND;
	if ((db = db_acquire(app->db)) == NULL)
		return DB_UNAVAILABLE;
	st = media_source_get(db, a, org_id, chat_id, message_id, &src);
	if (st == DB_OK && n >= (n_items = items_read(a, src.media, items)))
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		st = ref_follow(db, a, org_id, &message_id, &n, &src, items,
		    &n_items);
	if (st == DB_OK && filename != NULL)
		*filename = items[n].filename;
	if (st == DB_OK) {
		st = media_file_get(db, a, org_id, message_id, n, false, f);
		*has_row = st == DB_OK;
		if (st == DB_NOT_FOUND)
			st = DB_OK;
	}
	db_release(db);
	return st;
}

/* Part p of stored item f from this database (a fresh connection). */
static enum db_status
part_here(const struct app *app, struct arena *a, int64_t org_id,
    const struct media_file *f, enum media_part p, unsigned char **data,
    size_t *len)
{
	struct db	*db;
	enum db_status	 st;

	if ((db = db_acquire(app->db)) == NULL)
		return DB_UNAVAILABLE;
	st = media_file_part_get(db, a, org_id, f->message_id, f->n, p, data,
	    len);
	db_release(db);
	return st;
}

/*
 * Keeps part p (THUMB or VISION) made now for stored item f: uploaded
 * next to the item when the item is in the store, else in its row. A
 * failure only costs making it again next time.
 */
static void
part_keep(const struct app *app, int64_t org_id, const struct media_file *f,
    enum media_part p, const unsigned char *data, size_t len)
{
	struct s3_config	 c;
	struct db		*db;
	char			 key[S3_KEY_MAX + 1], why[WHY_MAX];
	bool			 in_store = f->s3_key[0] != '\0';

	if (in_store) {
		if (!app->cfg.s3_enabled)
			return;
		c = store_of(app, f->s3_bucket);
		snprintf(key, sizeof(key), "%s%s", f->s3_key, p ==
		    MEDIA_PART_THUMB ? MEDIA_SUFFIX_THUMB :
		    MEDIA_SUFFIX_VISION);
		/* Under the row's key: an orphan with it if never taken. */
		if (s3_put(&c, key, "image/jpeg", data, len, why,
		    sizeof(why)) != S3_OK)
			return;
	}
	if ((db = db_acquire(app->db)) == NULL)
		return;
	if (media_file_part_set(db, org_id, f->message_id, f->n, p, data,
	    len, in_store) != DB_OK)
		log_warn("media", "msg=\"derived image not kept\" org=%"
		    PRId64 " message=%" PRId64 " n=%d", org_id,
		    f->message_id, f->n);
	db_release(db);
}

enum db_status
media_open(const struct app *app, struct arena *a, int64_t org_id,
    int64_t chat_id, int64_t message_id, int n, bool thumb,
    struct media_blob *out, bool *is_thumb, const char **why)
{
	struct media_file	 f;
	unsigned char		*t = NULL;
	const char		*filename = NULL;
	size_t			 tlen = 0;
	bool			 has_row;
	enum db_status		 st;

	memset(out, 0, sizeof(*out));
	*is_thumb = false;
	*why = NULL;
	st = row_get(app, a, org_id, chat_id, message_id, n, &f, &has_row,
	    &filename);
	if (st != DB_OK)
		return st;
	if (!has_row || !str_eq(f.status, "stored")) {
		/* Downloaded now (or the reason it is not), then as stored. */
		if ((st = media_load(app, a, org_id, chat_id, message_id, n,
		    out, why)) != DB_OK || !thumb)
			return st;
		if (row_get(app, a, org_id, chat_id, message_id, n, &f,
		    &has_row, NULL) != DB_OK || !has_row || !str_eq(f.status,
		    "stored") || f.thumb_size == 0)
			return DB_OK;	/* the item itself */
	}
	if (thumb && f.thumb_size > 0) {
		memset(out, 0, sizeof(*out));
		out->content_type = arena_strdup(a, "image/jpeg");
		out->sha256 = arena_strdup(a, "");
		*is_thumb = true;
		if (f.s3_key[0] != '\0') {
			out->store_bucket = f.s3_bucket;
			out->store_key = arena_printf(a, "%s" MEDIA_SUFFIX_THUMB,
			    f.s3_key);
			return DB_OK;
		}
		st = part_here(app, a, org_id, &f, MEDIA_PART_THUMB, &out->data,
		    &out->len);
		if (st != DB_OK || out->data != NULL)
			return st;
		*is_thumb = false;	/* gone meanwhile: the item */
	}
	if (f.s3_key[0] != '\0') {
		memset(out, 0, sizeof(*out));
		out->content_type = f.content_type;
		out->sha256 = f.sha256;
		out->filename = filename;
		out->store_bucket = f.s3_bucket;
		out->store_key = f.s3_key;
		return DB_OK;
	}
	if ((st = media_load(app, a, org_id, chat_id, message_id, n, out,
	    why)) != DB_OK || !thumb)
		return st;
	/* Stored here before previews were made on download: now. Decoding
	 * is CPU work: no connection is held while it runs. */
	if (!thumb_make(out->data, out->len, &t, &tlen))
		return DB_OK;		/* not a photo we can read: itself */
	arena_defer(a, free, t);
	part_keep(app, org_id, &f, MEDIA_PART_THUMB, t, tlen);
	out->content_type = arena_strdup(a, "image/jpeg");
	out->data = t;
	out->len = tlen;
	out->sha256 = arena_strdup(a, "");
	*is_thumb = true;
	return DB_OK;
}

char *
media_presign(const struct app *app, struct arena *a,
    const struct media_blob *b, const char *type, const char *disposition)
{
	struct s3_config	 c;
	char			*u, *copy;

	if (b->store_key == NULL || !app->cfg.s3_enabled)
		return NULL;
	c = store_of(app, b->store_bucket);
	if ((u = s3_presign_get(&c, b->store_key, time_unix(),
	    MEDIA_URL_TTL_S, type, disposition)) == NULL)
		return NULL;
	copy = arena_strdup(a, u);
	free(u);
	return copy;
}

/* --- for the model -------------------------------------------------------- */

/*
 * The stored row of item n into f, downloading the item first when it
 * is not stored yet. DB_OK with *stored true; DB_OK with *stored false
 * when it was downloaded now but could not be recorded (orig holds its
 * bytes). Other statuses, *why and orig->expired as media_load.
 */
static enum db_status
row_stored(const struct app *app, struct arena *a, int64_t org_id,
    int64_t chat_id, int64_t message_id, int n, struct media_file *f,
    bool *stored, struct media_blob *orig, const char **why)
{
	bool		 has_row;
	enum db_status	 st;

	memset(orig, 0, sizeof(*orig));
	*stored = false;
	st = row_get(app, a, org_id, chat_id, message_id, n, f, &has_row,
	    NULL);
	if (st == DB_OK && has_row && str_eq(f->status, "stored")) {
		*stored = true;
		return DB_OK;
	}
	if (st != DB_OK || (st = media_load(app, a, org_id, chat_id,
	    message_id, n, orig, why)) != DB_OK)
		return st;
	st = row_get(app, a, org_id, chat_id, message_id, n, f, &has_row,
	    NULL);
	*stored = st == DB_OK && has_row && str_eq(f->status, "stored");
	return st;
}

enum db_status
media_vision_load(const struct app *app, struct arena *a, int64_t org_id,
    int64_t chat_id, int64_t message_id, int n, struct media_blob *out,
    const char **why)
{
	struct media_file	 f;
	struct media_blob	 orig;
	unsigned char		*v = NULL;
	size_t			 vlen = 0;
	bool			 stored;
	enum db_status		 st;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	st = row_stored(app, a, org_id, chat_id, message_id, n, &f, &stored,
	    &orig, why);
	out->expired = orig.expired;
	if (st != DB_OK)
		return st;
	if (stored && f.vision_size > 0) {
		if (f.s3_key[0] != '\0')
			st = store_read(app, a, f.s3_bucket, arena_printf(a,
			    "%s" MEDIA_SUFFIX_VISION, f.s3_key),
			    (size_t)f.vision_size, &v, &vlen, why);
		else
			st = part_here(app, a, org_id, &f, MEDIA_PART_VISION,
			    &v, &vlen);
		if (st != DB_OK)
			return st;
	}
	if (v == NULL) {
		/* Not made on download (an item from before, or one that
		 * could not be recorded): now, and kept when stored. */
		if (stored && !is_image(f.content_type)) {
			*why = "This item is not an image.";
			return DB_NOT_FOUND;
		}
		if (stored && (st = media_load(app, a, org_id, chat_id,
		    message_id, n, &orig, why)) != DB_OK)
			return st;
		if (!thumb_vision(orig.data, orig.len, &v, &vlen)) {
			*why = "This item is not an image Parley can read.";
			return DB_NOT_FOUND;
		}
		arena_defer(a, free, v);
		if (stored)
			part_keep(app, org_id, &f, MEDIA_PART_VISION, v, vlen);
	}
	out->content_type = arena_strdup(a, "image/jpeg");
	out->data = v;
	out->len = vlen;
	out->sha256 = arena_strdup(a, "");
	return DB_OK;
}

enum db_status
media_vision_data_url(const struct app *app, struct arena *a, int64_t org_id,
    int64_t chat_id, int64_t message_id, int n, char **url, const char **why)
{
	struct media_blob	 b;
	enum db_status		 st;
	size_t			 b64len;
	char			*u;

	*url = NULL;
	if ((st = media_vision_load(app, a, org_id, chat_id, message_id, n, &b,
	    why)) != DB_OK)
		return st;
	b64len = sodium_base64_ENCODED_LEN(b.len,
	    sodium_base64_VARIANT_ORIGINAL);
	u = arena_alloc(a, sizeof("data:image/jpeg;base64,") + b64len);
	memcpy(u, "data:image/jpeg;base64,", sizeof("data:image/jpeg;base64,"));
	sodium_bin2base64(u + sizeof("data:image/jpeg;base64,") - 1, b64len,
	    b.data, b.len, sodium_base64_VARIANT_ORIGINAL);
	*url = u;
	return DB_OK;
}

/* What a signed URL's signature covers. */
static void
signed_msg(char *out, size_t outlen, int64_t org_id, int64_t message_id,
    int n, const char *part, int64_t exp)
{
	snprintf(out, outlen, "parley-media-v1\n%" PRId64 "\n%" PRId64 "\n%d"
	    "\n%s\n%" PRId64, org_id, message_id, n, part, exp);
}

char *
media_signed_url(const struct app *app, struct arena *a, int64_t org_id,
    int64_t message_id, int n, const char *part, int ttl_s)
{
	char	 msg[160], sig[65];
	int64_t	 exp = time_unix() + ttl_s;

	if ((!str_eq(part, "vision") && !str_eq(part, "file")) ||
	    ttl_s < 1 || ttl_s > MEDIA_SIGNED_TTL_MAX || n < 0 ||
	    n >= ITEMS_MAX)
		return NULL;
	signed_msg(msg, sizeof(msg), org_id, message_id, n, part, exp);
	secret_key_mac(app->key, MAC_PURPOSE, msg, strlen(msg), sig);
	return arena_printf(a, "%s/m/%" PRId64 "/%" PRId64 "/%d/%s?exp=%"
	    PRId64 "&sig=%s", app->cfg.public_url, org_id, message_id, n,
	    part, exp, sig);
}

bool
media_signed_ok(const struct app *app, int64_t org_id, int64_t message_id,
    int n, const char *part, const char *exp, const char *sig)
{
	char	 msg[160], want[65];
	int64_t	 e, now = time_unix();

	if (exp == NULL || sig == NULL || strlen(sig) != 64 ||
	    !str_to_i64(exp, &e) || e < now ||
	    e > now + MEDIA_SIGNED_TTL_MAX ||
	    (!str_eq(part, "vision") && !str_eq(part, "file")))
		return false;
	signed_msg(msg, sizeof(msg), org_id, message_id, n, part, e);
	secret_key_mac(app->key, MAC_PURPOSE, msg, strlen(msg), want);
	return sodium_memcmp(want, sig, 64) == 0;
}

enum db_status
media_text_load(const struct app *app, struct arena *a, int64_t org_id,
    int64_t chat_id, int64_t message_id, int n, struct media_text *out,
    const char **why)
{
	struct media_file	 f;
	struct media_blob	 orig;
	unsigned char		*t = NULL;
	size_t			 tlen = 0;
	bool			 stored;
	enum db_status		 st;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	st = row_stored(app, a, org_id, chat_id, message_id, n, &f, &stored,
	    &orig, why);
	if (st == DB_OK && !stored)
		st = DB_UNAVAILABLE;	/* downloaded, not recorded */
	if (st != DB_OK)
		return st;
	out->status = f.text_status;
	out->error = f.text_error;
	out->chars = f.text_chars;
	out->truncated = f.text_truncated;
	if (!str_eq(f.text_status, "ok"))
		return DB_OK;
	if (f.text_here)
		st = part_here(app, a, org_id, &f, MEDIA_PART_TEXT, &t, &tlen);
	else {
		st = store_read(app, a, f.s3_bucket, arena_printf(a,
		    "%s" MEDIA_SUFFIX_TEXT, f.s3_key), (size_t)f.text_size, &t,
		    &tlen, why);
		if (st == DB_OK) {
			char	*z = arena_alloc(a, tlen + 1);

			memcpy(z, t, tlen);
			z[tlen] = '\0';
			t = (unsigned char *)z;
		}
	}
	if (st == DB_OK)
		out->text = t != NULL ? (char *)t : arena_strdup(a, "");
	return st;
}

/* --- the sweep: retention and orphans ------------------------------------ */

/*
 * Deletes due orphans from the store in batches (no connection held
 * during the deletes); how many were deleted, -1 when the database was
 * unavailable. Nothing without a configured store: they wait for one.
 */
static int
orphans_delete(const struct app *app)
{
	struct media_orphan	*o;
	struct arena		*a;
	struct db		*db;
	int64_t			 done[ORPHAN_BATCH];
	int			 n, n_done, total = 0;

	if (!app->cfg.s3_enabled)
		return 0;
	for (int round = 0; round < ORPHAN_ROUNDS; round++) {
		a = arena_new();
		if ((db = db_acquire(app->db)) == NULL) {
			arena_free(a);
			return -1;
		}
		if (media_orphan_claim_any_org(db, a, ORPHAN_BATCH, &o, &n) !=
		    DB_OK) {
			db_release(db);
			arena_free(a);
			return -1;
		}
		db_release(db);
		n_done = 0;
		for (int i = 0; i < n; i++) {
			struct s3_config	 c = store_of(app, o[i].bucket);
			char			 why[WHY_MAX];

			if (s3_delete(&c, o[i].key, why, sizeof(why)) == S3_OK)
				done[n_done++] = o[i].id;
			else
				log_warn("media", "msg=\"orphan not deleted "
				    "from the media store\" key=%s why=\"%s\"",
				    o[i].key, why);
		}
		if (n_done > 0 && (db = db_acquire(app->db)) != NULL) {
			for (int i = 0; i < n_done; i++)
				if (media_orphan_done_any_org(db, done[i]) ==
				    DB_OK)
					total++;
			db_release(db);
		}
		arena_free(a);
		if (n < ORPHAN_BATCH)
			break;
	}
	return total;
}

bool
media_sweep(const struct app *app, int *expired, int *deleted)
{
	struct db	*db;
	int		 n = 0, total = 0, del;
	enum db_status	 st;

	for (int round = 0; round < EXPIRE_ROUNDS; round++) {
		if ((db = db_acquire(app->db)) == NULL)
			return false;
		st = media_file_expire_any_org(db, EXPIRE_BATCH, &n);
		db_release(db);
		if (st != DB_OK)
			return false;
		total += n;
		if (n < EXPIRE_BATCH)
			break;
	}
	del = orphans_delete(app);
	if (expired != NULL)
		*expired = total;
	if (deleted != NULL)
		*deleted = del > 0 ? del : 0;
	if (total > 0 || del > 0)
		log_info("media", "msg=\"media sweep\" expired=%d deleted=%d",
		    total, del > 0 ? del : 0);
	return del >= 0;
}

/* --- moving between stores ----------------------------------------------- */

/*
 * Item f's bytes from this database to the store under a new key; false
 * when it stayed (logged).
 */
static bool
move_up(const struct app *app, struct arena *a, const struct media_file *f)
{
	struct media_bytes	 b;
	struct parts		 p;
	struct db		*db;
	char			 key[S3_KEY_MAX + 1], why[WHY_MAX];
	bool			 moved = false, text_moved;
	enum db_status		 st;

	if ((db = db_acquire(app->db)) == NULL)
		return false;
	st = media_file_bytes_get(db, a, f->org_id, f->id, &b);
	db_release(db);
	if (st != DB_OK || b.data == NULL)
		return false;
	text_moved = b.text != NULL && b.text_len > MEDIA_TEXT_INLINE;
	memset(&p, 0, sizeof(p));
	p.ctype = f->content_type;
	p.data = b.data;
	p.len = b.len;
	p.thumb = b.thumb;
	p.thumb_len = b.thumb_len;
	p.vision = b.vision;
	p.vision_len = b.vision_len;
	p.text = text_moved ? b.text : NULL;
	p.text_len = text_moved ? b.text_len : 0;
	if (!put_parts(app, f->org_id, f->message_id, f->n, &p, key,
	    sizeof(key), why, sizeof(why))) {
		log_warn("media", "msg=\"item not moved to the media store\" "
		    "id=%" PRId64 " why=\"%s\"", f->id, why);
		return false;
	}
	if ((db = db_acquire(app->db)) == NULL)
		return false;
	st = media_file_moved_to_store(db, f->org_id, f->id, f->sha256,
	    app->cfg.s3.bucket, key, text_moved, &moved);
	db_release(db);
	if (!moved)
		log_warn("media", "msg=\"item changed while it moved: left "
		    "as it is\" id=%" PRId64, f->id);
	return st == DB_OK && moved;
}

/*
 * Item f's bytes from the store back to this database, checked against
 * its SHA-256; the store's objects then become orphans. False when it
 * stayed (logged).
 */
static bool
move_down(const struct app *app, struct arena *a, const struct media_file *f)
{
	struct media_bytes	 b;
	struct db		*db;
	unsigned char		*t;
	const char		*why = NULL;
	char			 hash[65];
	bool			 moved = false;
	enum db_status		 st;

	memset(&b, 0, sizeof(b));
	st = store_read(app, a, f->s3_bucket, f->s3_key, (size_t)f->byte_size,
	    &b.data, &b.len, &why);
	if (st == DB_OK && f->thumb_size > 0)
		st = store_read(app, a, f->s3_bucket, arena_printf(a, "%s"
		    MEDIA_SUFFIX_THUMB, f->s3_key), (size_t)f->thumb_size,
		    &b.thumb, &b.thumb_len, &why);
	if (st == DB_OK && f->vision_size > 0)
		st = store_read(app, a, f->s3_bucket, arena_printf(a, "%s"
		    MEDIA_SUFFIX_VISION, f->s3_key), (size_t)f->vision_size,
		    &b.vision, &b.vision_len, &why);
	if (st == DB_OK && str_eq(f->text_status, "ok") && !f->text_here) {
		st = store_read(app, a, f->s3_bucket, arena_printf(a, "%s"
		    MEDIA_SUFFIX_TEXT, f->s3_key), (size_t)f->text_size, &t,
		    &b.text_len, &why);
		if (st == DB_OK) {
			b.text = arena_alloc(a, b.text_len + 1);
			memcpy(b.text, t, b.text_len);
			b.text[b.text_len] = '\0';
		}
	}
	if (st == DB_OK && f->sha256[0] != '\0') {
		s3_sha256_hex(b.data, b.len, hash);
		if (!str_eq(hash, f->sha256)) {
			why = "the stored object's SHA-256 does not match";
			st = DB_INVALID;
		}
	}
	if (st != DB_OK) {
		log_warn("media", "msg=\"item not moved to the database\" "
		    "id=%" PRId64 " why=\"%s\"", f->id, why != NULL ? why :
		    db_status_str(st));
		return false;
	}
	if ((db = db_acquire(app->db)) == NULL)
		return false;
	st = media_file_moved_to_db(db, f->org_id, f->id, f->s3_key, &b,
	    &moved);
	db_release(db);
	if (!moved)
		log_warn("media", "msg=\"item changed while it moved: left "
		    "as it is\" id=%" PRId64, f->id);
	return st == DB_OK && moved;
}

bool
media_migrate(const struct app *app, bool to_store, int batch,
    void (*progress)(void *, const struct media_migrate_report *), void *ctx,
    struct media_migrate_report *out)
{
	struct media_file	*rows;
	struct arena		*a;
	struct db		*db;
	int64_t			 cursor = 0;
	int			 n, del;
	enum db_status		 st;

	memset(out, 0, sizeof(*out));
	if (!app->cfg.s3_enabled)
		return false;
	if (batch < 1)
		batch = 1;
	for (;;) {
		a = arena_new();
		if ((db = db_acquire(app->db)) == NULL) {
			arena_free(a);
			return false;
		}
		st = media_file_batch_any_org(db, a, !to_store, cursor, batch,
		    &rows, &n);
		db_release(db);
		if (st != DB_OK) {
			arena_free(a);
			return false;
		}
		for (int i = 0; i < n; i++) {
			struct arena	*ia = arena_new();

			cursor = rows[i].id;
			if (to_store ? move_up(app, ia, &rows[i]) :
			    move_down(app, ia, &rows[i]))
				out->moved++;
			else
				out->failed++;
			arena_free(ia);
		}
		arena_free(a);
		if (progress != NULL && n > 0)
			progress(ctx, out);
		if (n < batch)
			break;
	}
	/* The objects nothing references any more (moved back here, or
	 * left by an earlier interrupted run) go now. */
	do {
		if ((del = orphans_delete(app)) < 0)
			return false;
	} while (del > 0);
	if ((db = db_acquire(app->db)) == NULL)
		return false;
	st = media_file_count_any_org(db, !to_store, &out->left);
	if (st == DB_OK)
		st = media_orphan_count_any_org(db, &out->orphans);
	db_release(db);
	return st == DB_OK;
}

/* --- media out ------------------------------------------------------------ */

enum db_status
media_out_stage(const struct app *app, int64_t org_id,
    const unsigned char *data, size_t len, const char *ctype,
    struct media_staged *out)
{
	unsigned char	 h[crypto_hash_sha256_BYTES];
	struct parts	 p;
	struct db	*db;
	char		 why[WHY_MAX];
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	if ((db = db_acquire(app->db)) == NULL)
		return DB_UNAVAILABLE;
	st = outbox_draw_id(db, &out->message_id);
	db_release(db);
	if (st != DB_OK)
		return st;
	crypto_hash_sha256(h, data, len);
	str_hex(out->sha256, h, sizeof(h));
	if (app->cfg.s3_enabled) {
		memset(&p, 0, sizeof(p));
		p.ctype = ctype;
		p.data = data;
		p.len = len;
		/* No connection held during the upload (put_parts). */
		if (!put_parts(app, org_id, out->message_id, 0, &p, out->s3_key,
		    sizeof(out->s3_key), why, sizeof(why))) {
			log_warn("media", "msg=\"media store failed: item to "
			    "send kept in the database\" org=%" PRId64
			    " message=%" PRId64 " why=\"%s\"", org_id,
			    out->message_id, why);
			out->s3_key[0] = '\0';
		}
	}
	out->rec.content_type = ctype;
	out->rec.data = data;
	out->rec.len = len;
	out->rec.sha256 = out->sha256;
	out->rec.s3_bucket = out->s3_key[0] != '\0' ? app->cfg.s3.bucket :
	    NULL;
	out->rec.s3_key = out->s3_key[0] != '\0' ? out->s3_key : NULL;
	out->rec.text_status = "";
	out->rec.text_error = "";
	return DB_OK;
}

/* The connect-time address check of media_out_fetch (httpc_addr_fn). */
static bool
fetch_addr_ok(void *ctx, const struct sockaddr *sa)
{
	const struct app	*app = ctx;

	return cidr_is_public(sa) || app->cfg.media_fetch_allow_private;
}

/* A type for a name's extension, "" when unknown. */
static const char *
type_of_name(const char *name)
{
	static const char *const map[][2] = {
		{ ".jpg", "image/jpeg" }, { ".jpeg", "image/jpeg" },
		{ ".png", "image/png" }, { ".webp", "image/webp" },
		{ ".pdf", "application/pdf" }, { ".txt", "text/plain" },
		{ ".doc", "application/msword" },
		{ ".docx", "application/vnd.openxmlformats-officedocument."
		    "wordprocessingml.document" },
		{ ".xls", "application/vnd.ms-excel" },
		{ ".xlsx", "application/vnd.openxmlformats-officedocument."
		    "spreadsheetml.sheet" },
		{ ".ppt", "application/vnd.ms-powerpoint" },
		{ ".pptx", "application/vnd.openxmlformats-officedocument."
		    "presentationml.presentation" },
		{ ".mp4", "video/mp4" }, { ".mp3", "audio/mpeg" },
		{ ".ogg", "audio/ogg" }, { ".opus", "audio/ogg" },
	};
	const char	*dot = name != NULL ? strrchr(name, '.') : NULL;

	for (size_t i = 0; dot != NULL && i < sizeof(map) / sizeof(map[0]);
	    i++)
		if (strcasecmp(dot, map[i][0]) == 0)
			return map[i][1];
	return "";
}

bool
media_out_fetch(const struct app *app, struct arena *a, const char *url,
    size_t max, unsigned char **data, size_t *len, char *ctype,
    size_t ctlen, char **filename, const char **why)
{
	struct httpc_req	 req;
	struct httpc_resp	 resp;
	const char		*p, *end, *slash;
	char			 hv[256];
	bool			 ok = false;

	*data = NULL;
	*len = 0;
	*filename = NULL;
	ctype[0] = '\0';
	if (max == 0)
		max = app->cfg.media_max_bytes;
	if (url == NULL || (strncasecmp(url, "https://", 8) != 0 &&
	    strncasecmp(url, "http://", 7) != 0) || strlen(url) > 2048) {
		*why = "Only an http or https URL (at most 2048 characters) "
		    "can be fetched.";
		return false;
	}
	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
			*why = "The URL has spaces or control characters.";
			return false;
		}
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	req.timeout_ms = 30000;
	req.max_response = max;
	req.allow_addr = fetch_addr_ok;
	req.addr_ctx = (void *)(uintptr_t)app;
	/* A GET; the pool keeps its connections apart from unguarded ones
	 * (the key is fetch_addr_ok and app, which lives as long as the
	 * process: util/httpc.h). */
	req.reuse = true;
	httpc_resp_init(&resp);
	switch (httpc_do(&req, &resp)) {
	case HTTPC_OK:
		break;
	case HTTPC_TOO_LARGE:
		*why = arena_printf(a, "The file is larger than %zu bytes, "
		    "the most Parley fetches.", max);
		goto out;
	default:
		*why = arena_printf(a, "The URL could not be fetched: %s.",
		    resp.error);
		goto out;
	}
	if (resp.status != 200) {
		*why = arena_printf(a, "The URL answered HTTP %ld, not the "
		    "file.", resp.status);
		goto out;
	}
	if (resp.body.len == 0) {
		*why = "The URL answered with an empty file.";
		goto out;
	}
	if (httpc_header(&resp, "Content-Type", hv, sizeof(hv)))
		channel_media_type(hv, ctype, ctlen);
	/* The path's last segment: the name, and the type's fallback. */
	end = url + strcspn(url, "?#");
	for (slash = NULL, p = strstr(url, "://") + 3; p < end; p++)
		if (*p == '/')
			slash = p;
	if (slash != NULL && end - slash > 1 && end - slash < NAME_MAX_LEN)
		*filename = arena_strndup(a, slash + 1,
		    (size_t)(end - slash - 1));
	if (ctype[0] == '\0' || str_eq(ctype, "application/octet-stream") ||
	    str_eq(ctype, "binary/octet-stream"))
		snprintf(ctype, ctlen, "%s", type_of_name(*filename));
	*data = arena_alloc(a, resp.body.len);
	memcpy(*data, resp.body.data, resp.body.len);
	*len = resp.body.len;
	ok = true;
out:
	httpc_resp_cleanup(&resp);
	return ok;
}

enum db_status
media_out_prepare(const struct app *app, struct arena *a, int64_t org_id,
    int64_t chat_id, const unsigned char *data, size_t len,
    const char *ctype, const char *filename, const char *caption,
    struct media_staged *staged, struct outbox_media *m, const char **why)
{
	struct channel_media_msg	 probe;
	struct chat_ref			 chat;
	struct db			*db;
	const struct channel_ops	*ops;
	char				*type = arena_alloc(a, CTYPE_MAX);
	char				*buf = arena_alloc(a, WHY_MAX);
	enum db_status			 st;

	memset(m, 0, sizeof(*m));
	*why = NULL;
	channel_media_type(ctype != NULL ? ctype : "", type, CTYPE_MAX);
	if (type[0] == '\0' || str_eq(type, "application/octet-stream"))
		snprintf(type, CTYPE_MAX, "%s", type_of_name(filename));
	if (len > app->cfg.media_max_bytes) {
		*why = arena_printf(a, "The file is larger than %zu bytes, the "
		    "most Parley keeps (PARLEY_MEDIA_MAX_BYTES).",
		    app->cfg.media_max_bytes);
		return DB_INVALID;
	}
	if ((db = db_acquire(app->db)) == NULL)
		return DB_UNAVAILABLE;
	st = chat_get_ref(db, a, org_id, chat_id, &chat);
	db_release(db);
	if (st != DB_OK)
		return st;
	if ((ops = channel_ops_for(chat.channel_kind)) == NULL) {
		*why = "This channel cannot send media.";
		return DB_INVALID;
	}
	memset(&probe, 0, sizeof(probe));
	probe.content_type = type;
	probe.kind = channel_media_kind(type);
	probe.caption = caption;
	probe.data = data;
	probe.len = len;
	if ((*why = channel_media_refusal(ops->kind, &probe, buf,
	    WHY_MAX)) != NULL)
		return DB_INVALID;
	if ((st = media_out_stage(app, org_id, data, len, type, staged)) !=
	    DB_OK)
		return st;
	m->content_type = type;
	m->filename = filename != NULL && filename[0] != '\0' &&
	    strlen(filename) < NAME_MAX_LEN ? filename : NULL;
	m->caption = caption != NULL && caption[0] != '\0' ? caption : NULL;
	m->id = staged->message_id;
	m->rec = &staged->rec;
	return DB_OK;
}
