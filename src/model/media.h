/*
 * model/media: the media_files table (migrations/0007, 0008, 0017), one
 * row per downloaded item n of a message's media array: 'stored' with its
 * type, size and SHA-256, 'failed' with the sentence the review shows, or
 * 'expired' (deleted by the organisation's retention; the metadata stays
 * for the timeline's placeholder). A stored item's bytes are here (data,
 * and the derived thumb, vision and text_data) or in the S3-compatible
 * store (s3_bucket/s3_key, the derived parts under the same key with a
 * suffix: see MEDIA_SUFFIX_*); the sizes say which parts exist. Also
 * media_orphans, the store's objects nothing references (any more, or
 * yet), kept by the migration's trigger and emptied by the media sweep.
 *
 * chat/media.c decides when to download, derive, upload and delete; this
 * file only reads and records. It also reads (never writes) what a
 * download needs from messages, channels and orgs: the item list, the
 * channel's kind, and whether the organisation's retention has passed.
 *
 * Every statement names org_id = $1, except the few named _any_org (the
 * sweep and `parley media migrate` walk every organisation). A row is
 * written in one statement, so an item is either stored whole or not at
 * all; a stored item is never replaced by a later failure or a second
 * download, and an expired one never comes back.
 *
 * Thread-safety: none needed; every function uses the caller's db.
 */
#ifndef PARLEY_MODEL_MEDIA_H
#define PARLEY_MODEL_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

struct arena;

/* The store's keys of a row's parts: s3_key followed by these. */
#define MEDIA_SUFFIX_THUMB	".thumb"
#define MEDIA_SUFFIX_VISION	".vision"
#define MEDIA_SUFFIX_TEXT	".txt"

/* What a message's media download needs. Strings in the arena. */
struct media_source {
	int64_t	 message_id;
	int64_t	 chat_id;
	int64_t	 channel_id;
	char	*channel_kind;		/* twilio|meta|kapso|sandbox */
	char	*media;			/* messages.media, JSON array text */
	bool	 past_retention;	/* older than the org keeps media */
};

/*
 * Message message_id of the org (and of chat chat_id unless it is 0).
 * DB_NOT_FOUND when there is no such message.
 */
enum db_status	 media_source_get(struct db *db, struct arena *a,
		    int64_t org_id, int64_t chat_id, int64_t message_id,
		    struct media_source *out)
		    __attribute__((warn_unused_result));

/* One row of media_files. Strings and data in the arena. */
struct media_file {
	int64_t		 id;
	int64_t		 org_id;
	int64_t		 message_id;
	int		 n;
	char		*status;	/* pending|stored|failed|expired */
	char		*content_type;	/* bare type, "" unknown */
	int64_t		 byte_size;
	char		*sha256;	/* hex, "" unless stored */
	char		*error;		/* sentence, "" unless failed */
	int		 attempts;
	int64_t		 age_s;		/* seconds since the last attempt */
	char		*s3_bucket;	/* "" : the bytes are here */
	char		*s3_key;
	int64_t		 thumb_size;	/* 0: no preview */
	int64_t		 vision_size;	/* 0: no vision image */
	char		*text_status;	/* "" not a document, ok, failed */
	char		*text_error;	/* failed: why, a clause */
	int64_t		 text_chars;
	bool		 text_truncated;
	int64_t		 text_size;	/* bytes */
	bool		 text_here;	/* the text is in text_data */
	char		*expired_at;	/* RFC 3339, "" unless expired */
	unsigned char	*data;		/* with_data, stored here; else NULL */
	size_t		 len;
};

/*
 * Item n of message message_id; its bytes too when with_data (and they
 * are in this database). DB_NOT_FOUND when the item was never recorded.
 */
enum db_status	 media_file_get(struct db *db, struct arena *a,
		    int64_t org_id, int64_t message_id, int n, bool with_data,
		    struct media_file *out)
		    __attribute__((warn_unused_result));

/*
 * Every recorded item (without bytes) of the given messages, by message
 * then n; at most MEDIA_LIST_MAX ids are read.
 */
#define MEDIA_LIST_MAX	1000
enum db_status	 media_file_list(struct db *db, struct arena *a,
		    int64_t org_id, const int64_t *message_ids, int n_ids,
		    struct media_file **out, int *n)
		    __attribute__((warn_unused_result));

/* A document item of a thread's message, for the model. Strings in a. */
struct media_doc {
	int64_t	 message_id;
	int	 n;
	char	*filename;	/* the item's own name, "" none */
	char	*content_type;	/* as the message names it */
	char	*status;	/* stored|failed|expired|pending */
	char	*error;		/* failed: the download's sentence */
	char	*text_status;	/* ok, failed ("" not read) */
	char	*text_error;	/* failed: why, a clause */
	int64_t	 text_chars;
	bool	 text_truncated;
	char	*sent_at;	/* RFC 3339 */
};

/*
 * The media items of the inbound messages of thread thread_id with an
 * id from from_id to upto_id that are documents or were never stored
 * (failed or expired: the caller tells documents by content type), the
 * newest message first, at most limit (≤ MEDIA_LIST_MAX) items.
 */
enum db_status	 media_file_docs(struct db *db, struct arena *a,
		    int64_t org_id, int64_t thread_id, int64_t from_id,
		    int64_t upto_id, int limit, struct media_doc **out, int *n)
		    __attribute__((warn_unused_result));

/*
 * A downloaded item and what was made of it, to record. Bytes go in the
 * row unless s3_key is set (then they were uploaded: data, thumb and
 * vision are not stored here, their sizes are). text: the extracted text
 * (text_status "ok"), kept here when text_here, always indexed for the
 * search.
 */
struct media_record {
	const char		*content_type;
	const unsigned char	*data;
	size_t			 len;
	const char		*sha256;
	const char		*s3_bucket;	/* NULL or "": here */
	const char		*s3_key;
	const unsigned char	*thumb;		/* NULL: none */
	size_t			 thumb_len;
	const unsigned char	*vision;	/* NULL: none */
	size_t			 vision_len;
	const char		*text_status;	/* "", ok, failed */
	const char		*text_error;
	const char		*text;		/* ok: the text */
	size_t			 text_len;
	size_t			 text_chars;
	bool			 text_truncated;
	bool			 text_here;
};

/*
 * Records item n as stored with r. A row already stored (or expired) is
 * kept as it is: *recorded says whether this one was. DB_NOT_FOUND when
 * the message is not the org's; DB_INVALID when n is out of 0..9.
 */
enum db_status	 media_file_record(struct db *db, int64_t org_id,
		    int64_t message_id, int n, const struct media_record *r,
		    bool *recorded) __attribute__((warn_unused_result));

/*
 * Records a failed download with its sentence and one more attempt. A
 * stored or expired row is left alone. DB_NOT_FOUND / DB_INVALID as
 * above.
 */
enum db_status	 media_file_fail(struct db *db, int64_t org_id,
		    int64_t message_id, int n, const char *error)
		    __attribute__((warn_unused_result));

/* Records item n as expired (never downloaded: its message is past the
 * organisation's retention). A stored row is left to the sweep. */
enum db_status	 media_file_expire_one(struct db *db, int64_t org_id,
		    int64_t message_id, int n)
		    __attribute__((warn_unused_result));

enum media_part {
	MEDIA_PART_THUMB,
	MEDIA_PART_VISION,
	MEDIA_PART_TEXT,
};

/*
 * The bytes of part p of stored item n when they are in this database
 * (*data NULL, DB_OK, when the part is absent or in the store). For
 * MEDIA_PART_TEXT the text, NUL-terminated. DB_NOT_FOUND when the item
 * is not stored. Bytes in a.
 */
enum db_status	 media_file_part_get(struct db *db, struct arena *a,
		    int64_t org_id, int64_t message_id, int n,
		    enum media_part p, unsigned char **data, size_t *len)
		    __attribute__((warn_unused_result));
/*
 * Keeps a preview or a vision image made later (p is THUMB or VISION) of
 * stored item n: its bytes (data, len) when the row's bytes are here, or
 * only its size when in_store (it was uploaded under the row's key). A
 * row not stored, or one that has the part already, is left alone.
 */
enum db_status	 media_file_part_set(struct db *db, int64_t org_id,
		    int64_t message_id, int n, enum media_part p,
		    const unsigned char *data, size_t len, bool in_store)
		    __attribute__((warn_unused_result));

/* --- retention ----------------------------------------------------------- */

/*
 * Expires up to limit stored, failed or pending items, across
 * organisations, that are older than their organisation's
 * media_retention_days: bytes and derived parts dropped, references to
 * the store handed to media_orphans (the trigger), in one statement.
 * *n: how many.
 */
enum db_status	 media_file_expire_any_org(struct db *db, int limit, int *n)
		    __attribute__((warn_unused_result));

/* --- the store's orphans ----------------------------------------------- */

/* An object to delete from the store. Strings in the arena. */
struct media_orphan {
	int64_t	 id;
	char	*bucket;
	char	*key;
};

/*
 * Before uploading under key base: its objects (every part) are noted as
 * orphans due in an hour, so a crash before the row references them
 * leaves nothing behind for good; the row that takes them up removes the
 * notes (the trigger).
 */
enum db_status	 media_orphan_intend(struct db *db, int64_t org_id,
		    const char *bucket, const char *base)
		    __attribute__((warn_unused_result));
/*
 * Claims up to limit orphans that are due, across organisations (each
 * claim pushes its due time MEDIA_ORPHAN_RETRY_S ahead, so another
 * process does not take it meanwhile and a failed delete is tried again
 * later). *out in a.
 */
#define MEDIA_ORPHAN_RETRY_S	600
enum db_status	 media_orphan_claim_any_org(struct db *db, struct arena *a,
		    int limit, struct media_orphan **out, int *n)
		    __attribute__((warn_unused_result));
/* The store deleted it: forget the orphan. */
enum db_status	 media_orphan_done_any_org(struct db *db, int64_t id)
		    __attribute__((warn_unused_result));
/* How many orphans wait (due or not), for the migration's report. */
enum db_status	 media_orphan_count_any_org(struct db *db, int64_t *n)
		    __attribute__((warn_unused_result));

/* --- moving between stores (`parley media migrate`) --------------------- */

/*
 * Up to limit stored items after id after_id (by id) whose bytes are in
 * this database (in_store false) or in the store (true), across
 * organisations, without bytes. *out in a.
 */
enum db_status	 media_file_batch_any_org(struct db *db, struct arena *a,
		    bool in_store, int64_t after_id, int limit,
		    struct media_file **out, int *n)
		    __attribute__((warn_unused_result));
/* How many stored items are in this database / in the store. */
enum db_status	 media_file_count_any_org(struct db *db, bool in_store,
		    int64_t *n) __attribute__((warn_unused_result));

/* A row's bytes that are in this database (NULL when absent). */
struct media_bytes {
	unsigned char	*data;
	size_t		 len;
	unsigned char	*thumb;
	size_t		 thumb_len;
	unsigned char	*vision;
	size_t		 vision_len;
	char		*text;
	size_t		 text_len;
};
enum db_status	 media_file_bytes_get(struct db *db, struct arena *a,
		    int64_t org_id, int64_t id, struct media_bytes *out)
		    __attribute__((warn_unused_result));
/*
 * The row's bytes were uploaded under key in bucket (the text too when
 * text_moved): the row references them and drops its copies, provided it
 * is still stored here with the same SHA-256. *moved says whether it
 * was.
 */
enum db_status	 media_file_moved_to_store(struct db *db, int64_t org_id,
		    int64_t id, const char *sha256, const char *bucket,
		    const char *key, bool text_moved, bool *moved)
		    __attribute__((warn_unused_result));
/*
 * The row's bytes were read back from the store (b; b->text NULL when
 * the text was not in the store): the row keeps them and drops its
 * reference (its objects become orphans), provided it still references
 * key. *moved says whether it did.
 */
enum db_status	 media_file_moved_to_db(struct db *db, int64_t org_id,
		    int64_t id, const char *key, const struct media_bytes *b,
		    bool *moved) __attribute__((warn_unused_result));

#endif
