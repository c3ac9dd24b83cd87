/*
 * media: the media items of inbound messages (messages.media, a JSON
 * array of {id?,url?,contentType,caption?,filename?,voice?}), downloaded
 * from the chat's provider and kept (model/media.c owns the table) so the
 * review can show them after the provider's copy expires, the transcriber
 * can read voice notes, and the model can be given images and documents.
 *
 * Where an item comes from, by channel kind (channel_ops.fetch_media):
 *   twilio   its MediaUrl, GET with HTTP Basic auth (Account SID + Auth
 *            Token); redirects followed without the credentials. Only
 *            URLs under the configured Twilio API base are fetched.
 *   meta     GET {graph}/{media id} (bearer) → {"url",…}; GET url (bearer)
 *   kapso    GET {kapso}/meta/whatsapp/v24.0/{media id}?phone_number_id=…
 *            (X-API-Key) → {"url"}; GET url (X-API-Key only when the URL
 *            is under the Kapso API base)
 *   data:    an item whose url is a data: URL is decoded, no request
 *
 * What is made of it, once, right after the download: for a photo or a
 * sticker a timeline preview and the vision image (util/thumb.h); for a
 * document its text (chat/extract.h), or the reason it cannot be read.
 *
 * Where it is kept: in this database, or with PARLEY_MEDIA_S3_* in the
 * S3-compatible store (util/s3.h) under "media/<org>/<message>/<n>-<16
 * random hex>" (the derived parts under the same key plus a suffix, a
 * document's text only when longer than MEDIA_TEXT_INLINE bytes; its
 * words always stay here for the search). When the store cannot be
 * reached the item is kept in the database (logged), and `parley media
 * migrate --to s3` moves it later.
 *
 * Retention: an organisation's media_retention_days deletes items older
 * than that from whichever store holds them (media_sweep); their rows
 * stay as "expired", and an item of a message past the retention is
 * never downloaded.
 *
 * Connections: no database connection is held during a download, an
 * extraction or a store call; the functions take one from the pool to
 * read and to record, and release it.
 * Size: at most cfg.media_max_bytes per item (PARLEY_MEDIA_MAX_BYTES);
 * a larger item is recorded 'failed' with a sentence.
 */
#ifndef PARLEY_CHAT_MEDIA_H
#define PARLEY_CHAT_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "model/media.h"

#define MEDIA_TEXT_INLINE	(32 * 1024)	/* bytes of text kept here */
#define MEDIA_URL_TTL_S		300		/* presigned URLs */

struct app;
struct arena;

/*
 * One stored item's bytes (in the caller's arena), or, from media_open
 * for an item in the store, where it is (store_key set, data NULL).
 */
struct media_blob {
	char		*content_type;	/* as the provider said, "" unknown */
	unsigned char	*data;
	size_t		 len;
	char		*sha256;	/* hex */
	const char	*filename;	/* the item's own name, NULL: none */
	char		*store_bucket;	/* NULL: data holds the bytes */
	char		*store_key;
	bool		 expired;	/* with DB_INVALID: retention */
};

/*
 * Downloads every item of message message_id (the org's) that is not
 * stored yet, recording each as 'stored' (with what was made of it) or
 * 'failed' (with a sentence). Returns how many items are stored
 * afterwards; -1 when the database was unavailable (the caller may retry
 * later). Safe to call again: stored items are not fetched twice.
 */
int		 media_fetch_message(const struct app *app, int64_t org_id,
		    int64_t message_id);

/*
 * Item n of message message_id of chat chat_id (0: any chat of the org),
 * its bytes, fetching it first when it is not stored (and reading it
 * from the store when it is there). DB_OK with *out filled; DB_NOT_FOUND
 * when there is no such message of the org or no item n; DB_INVALID when
 * it could not be had (*why, in a: the sentence for the person, never a
 * credential; out->expired when the retention deleted it);
 * DB_UNAVAILABLE when the database is down.
 */
enum db_status	 media_load(const struct app *app, struct arena *a,
		    int64_t org_id, int64_t chat_id, int64_t message_id, int n,
		    struct media_blob *out, const char **why)
		    __attribute__((warn_unused_result));

/*
 * Item n for showing (thumb false) or its timeline preview (thumb true):
 * as media_load, except that an item in the store is not read but named
 * (out->store_key: the preview's object when it has one), for
 * media_presign. A preview is the kept JPEG; an item stored here before
 * previews were made gets one now when it is a photo libgd can read;
 * otherwise the item itself. *is_thumb says which.
 */
enum db_status	 media_open(const struct app *app, struct arena *a,
		    int64_t org_id, int64_t chat_id, int64_t message_id, int n,
		    bool thumb, struct media_blob *out, bool *is_thumb,
		    const char **why) __attribute__((warn_unused_result));

/*
 * A presigned GET URL (MEDIA_URL_TTL_S) for b's object, telling the store
 * to answer with Content-Type type and Content-Disposition disposition
 * (NULL: as stored / none). In a; NULL when b is not in the store.
 */
char		*media_presign(const struct app *app, struct arena *a,
		    const struct media_blob *b, const char *type,
		    const char *disposition);

/*
 * The vision image of item n (an image a vision model may be shown: a
 * JPEG of at most THUMB_VISION_SIDE pixels a side), made on download, or
 * now (and kept) for an item downloaded before. Statuses as media_load;
 * DB_NOT_FOUND also when the item is no image libgd can read.
 */
enum db_status	 media_vision_load(const struct app *app, struct arena *a,
		    int64_t org_id, int64_t chat_id, int64_t message_id, int n,
		    struct media_blob *out, const char **why)
		    __attribute__((warn_unused_result));
/* media_vision_load as "data:image/jpeg;base64,…" in *url (in a). */
enum db_status	 media_vision_data_url(const struct app *app,
		    struct arena *a, int64_t org_id, int64_t chat_id,
		    int64_t message_id, int n, char **url, const char **why)
		    __attribute__((warn_unused_result));

/*
 * A signed Parley URL that serves part ("vision": the vision image;
 * "file": the item itself) of item n of message message_id without a
 * session, for ttl_s seconds: PARLEY_PUBLIC_URL/m/<org>/<message>/<n>/
 * <part>?exp=<unix time>&sig=<hex HMAC-SHA-256 under a key derived from
 * the master key>. In a; NULL for an unknown part or ttl_s outside
 * 1..MEDIA_SIGNED_TTL_MAX.
 */
#define MEDIA_SIGNED_TTL_MAX	86400
char		*media_signed_url(const struct app *app, struct arena *a,
		    int64_t org_id, int64_t message_id, int n,
		    const char *part, int ttl_s);
/*
 * Whether exp and sig (as they came in the URL) are a signature of ours
 * for these values that has not expired. Constant-time comparison.
 */
bool		 media_signed_ok(const struct app *app, int64_t org_id,
		    int64_t message_id, int n, const char *part,
		    const char *exp, const char *sig);

/* A document's text, as extracted on download. Strings in the arena. */
struct media_text {
	char		*status;	/* "" not a document, ok, failed */
	char		*error;		/* failed: a clause ("the PDF is …") */
	int64_t		 chars;
	bool		 truncated;
	char		*text;		/* ok: the text, else NULL */
};
/*
 * The text of item n (downloading the item first when it is not stored
 * yet). Statuses as media_load.
 */
enum db_status	 media_text_load(const struct app *app, struct arena *a,
		    int64_t org_id, int64_t chat_id, int64_t message_id, int n,
		    struct media_text *out, const char **why)
		    __attribute__((warn_unused_result));

/*
 * One pass of the media sweep (app/jobs.c runs it every
 * PARLEY_MEDIA_SWEEP_SECONDS): expires what each organisation's
 * retention no longer keeps, in bounded batches, then deletes due
 * orphans from the store. *expired and *deleted (may be NULL) count
 * them. False when the database was unavailable.
 */
bool		 media_sweep(const struct app *app, int *expired, int *deleted);

/* --- media out ------------------------------------------------------------ */

/*
 * An item to send, made ready before its message is recorded: the
 * message's id drawn (outbox_draw_id) and, with a store configured, the
 * bytes uploaded under that message's key (noted as orphans first, so a
 * crash before the record leaves nothing for good). rec is what
 * outbox_record_media keeps as the message's item 0, in the transaction
 * that records the message; it points into out and at data, which must
 * outlive that call.
 */
struct media_staged {
	int64_t			 message_id;
	char			 sha256[65];
	char			 s3_key[520];	/* "": the bytes go in the row */
	struct media_record	 rec;
};
enum db_status	 media_out_stage(const struct app *app, int64_t org_id,
		    const unsigned char *data, size_t len, const char *ctype,
		    struct media_staged *out)
		    __attribute__((warn_unused_result));

/*
 * A file a person attaches to a reply in chat_id (the panel): its type is
 * ctype (the browser's) or, when that says nothing, guessed from
 * filename; it must fit PARLEY_MEDIA_MAX_BYTES and the chat's channel
 * (channel_media_refusal) — DB_INVALID with *why otherwise, nothing
 * recorded or uploaded. Then staged (media_out_stage) and *m filled for
 * outbox_record_media (it points into staged, filename and caption).
 * DB_NOT_FOUND: not the org's chat.
 */
struct outbox_media;
enum db_status	 media_out_prepare(const struct app *app, struct arena *a,
		    int64_t org_id, int64_t chat_id, const unsigned char *data,
		    size_t len, const char *ctype, const char *filename,
		    const char *caption, struct media_staged *staged,
		    struct outbox_media *m, const char **why)
		    __attribute__((warn_unused_result));

/*
 * Fetches url (http or https only, no redirect, at most max bytes, 0:
 * PARLEY_MEDIA_MAX_BYTES; 30 s)
 * for sending: only from public addresses, checked on the address each
 * connection is made to, unless PARLEY_MEDIA_FETCH_ALLOW_PRIVATE=1. The
 * bytes in *data (in a), the bare type in ctype (from the answer, else
 * guessed from the path's extension) and the path's last segment in
 * *filename (in a, NULL: none). False with a sentence in *why (in a).
 */
bool		 media_out_fetch(const struct app *app, struct arena *a,
		    const char *url, size_t max, unsigned char **data,
		    size_t *len, char *ctype, size_t ctlen, char **filename,
		    const char **why);

/* What `parley media migrate` did. */
struct media_migrate_report {
	int64_t	 moved;
	int64_t	 failed;	/* left where they were, with a log line */
	int64_t	 left;		/* still in the other store afterwards */
	int64_t	 orphans;	/* objects still to delete from the store */
};

/*
 * Moves every stored item's bytes to the store (to_store) or back to the
 * database, batch items at a time, one item per database statement (so
 * an interrupted run has moved whole items only, and a second run goes
 * on where it stopped), then deletes the objects that no item references
 * any more. progress (may be NULL) is called after each batch with the
 * counts so far. False when the database was unavailable or, for
 * to_store, no store is configured.
 */
bool		 media_migrate(const struct app *app, bool to_store, int batch,
		    void (*progress)(void *, const struct media_migrate_report *),
		    void *ctx, struct media_migrate_report *out);

#endif
