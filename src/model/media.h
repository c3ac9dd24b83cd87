/*
 * model/media: the media_files table (migrations/0007_media_search.sql),
 * one row per downloaded item n of a message's media array: 'stored' with
 * its bytes, type, size and SHA-256, or 'failed' with the sentence the
 * review shows. chat/media.c decides when to download; this file only
 * reads and records. It also reads (never writes) what a download needs
 * from messages and channels: the item list and the channel's kind.
 *
 * Every statement names org_id = $1. A row is written in one statement,
 * so an item is either stored whole or not at all; a stored item is never
 * replaced by a later failure or a second download.
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

/* What a message's media download needs. Strings in the arena. */
struct media_source {
	int64_t	 message_id;
	int64_t	 chat_id;
	int64_t	 channel_id;
	char	*channel_kind;		/* twilio|meta|kapso|sandbox */
	char	*media;			/* messages.media, JSON array text */
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
	int64_t		 message_id;
	int		 n;
	char		*status;	/* pending|stored|failed */
	char		*content_type;	/* bare type, "" unknown */
	int64_t		 byte_size;
	char		*sha256;	/* hex, "" unless stored */
	char		*error;		/* sentence, "" unless failed */
	int		 attempts;
	int64_t		 age_s;		/* seconds since the last attempt */
	unsigned char	*data;		/* with_data and stored, else NULL */
	size_t		 len;
};

/*
 * Item n of message message_id; its bytes too when with_data.
 * DB_NOT_FOUND when the item was never recorded.
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

/*
 * Records item n as stored with its bytes (sha256: hex). A row already
 * stored is kept as it is. DB_NOT_FOUND when the message is not the
 * org's; DB_INVALID when n is out of 0..9.
 */
enum db_status	 media_file_store(struct db *db, int64_t org_id,
		    int64_t message_id, int n, const char *content_type,
		    const unsigned char *data, size_t len, const char *sha256)
		    __attribute__((warn_unused_result));

/*
 * The preview of stored item n (*data NULL, DB_OK, when none was made
 * yet). DB_NOT_FOUND when the item is not stored. Bytes in a.
 */
enum db_status	 media_file_thumb_get(struct db *db, struct arena *a,
		    int64_t org_id, int64_t message_id, int n,
		    unsigned char **data, size_t *len)
		    __attribute__((warn_unused_result));
/* Keeps the preview of stored item n (a row not stored is left alone). */
enum db_status	 media_file_thumb_set(struct db *db, int64_t org_id,
		    int64_t message_id, int n, const unsigned char *data,
		    size_t len) __attribute__((warn_unused_result));

/*
 * Records a failed download with its sentence and one more attempt. A
 * stored row is left alone. DB_NOT_FOUND / DB_INVALID as above.
 */
enum db_status	 media_file_fail(struct db *db, int64_t org_id,
		    int64_t message_id, int n, const char *error)
		    __attribute__((warn_unused_result));

#endif
