/*
 * media: the media items of inbound messages (messages.media, a JSON
 * array of {id?,url?,contentType,caption?,filename?,voice?}), downloaded
 * from the chat's provider and kept in media_files (model/media.c owns
 * the table) so the review can show them after the provider's copy
 * expires and the transcriber can read voice notes.
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
 * Connections: no database connection is held during a download; the
 * functions take one from the pool to read and to record, and release it.
 * Size: at most cfg.media_max_bytes per item (PARLEY_MEDIA_MAX_BYTES);
 * a larger item is recorded 'failed' with a sentence.
 */
#ifndef PARLEY_CHAT_MEDIA_H
#define PARLEY_CHAT_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

struct app;
struct arena;

/* One stored item's bytes (in the caller's arena). */
struct media_blob {
	char		*content_type;	/* as the provider said, "" unknown */
	unsigned char	*data;
	size_t		 len;
	char		*sha256;	/* hex */
};

/*
 * Downloads every item of message message_id (the org's) that is not
 * stored yet, recording each as 'stored' or 'failed' (with a sentence).
 * Returns how many items are stored afterwards; -1 when the database was
 * unavailable (the caller may retry later). Safe to call again: stored
 * items are not fetched twice.
 */
int		 media_fetch_message(const struct app *app, int64_t org_id,
		    int64_t message_id);

/*
 * Item n of message message_id of chat chat_id (0: any chat of the org),
 * fetching it first when it is not stored. DB_OK with *out filled;
 * DB_NOT_FOUND when there is no such message of the org or no item n;
 * DB_INVALID when it could not be downloaded (*why, in a: the sentence
 * for the person, never a credential); DB_UNAVAILABLE when the database
 * is down.
 */
enum db_status	 media_load(const struct app *app, struct arena *a,
		    int64_t org_id, int64_t chat_id, int64_t message_id, int n,
		    struct media_blob *out, const char **why)
		    __attribute__((warn_unused_result));

/*
 * A preview of item n for the timeline: the kept JPEG preview when there
 * is one; else item n is loaded (media_load, which may download it), and
 * when it is a photo libgd can read (util/thumb.h) a preview is made,
 * kept, and given; otherwise the item itself. *is_thumb says which.
 * Statuses and *why as media_load.
 */
enum db_status	 media_load_thumb(const struct app *app, struct arena *a,
		    int64_t org_id, int64_t chat_id, int64_t message_id, int n,
		    struct media_blob *out, bool *is_thumb, const char **why)
		    __attribute__((warn_unused_result));

#endif
