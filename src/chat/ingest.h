/*
 * ingest: the one way an inbound message enters Parley (DESIGN.md data
 * flow). Each item is stored with its chat (chat_ingest: one statement),
 * all items of one call in ONE transaction together with the reply jobs
 * of those to be answered (app->queue.reply: worker/queue.c owns that
 * SQL), and the call returns only after the commit: a webhook answers 2xx
 * only then. A replayed provider id stores nothing and is acknowledged.
 * If PostgreSQL is unavailable nothing is written and the caller answers
 * 5xx so the provider retries. An item PostgreSQL refuses as data (a
 * timestamp out of range, …) is rejected on its own: the others are
 * stored, and the caller records the rejection on the channel's health
 * panel and acknowledges the delivery (a retry could only fail again).
 *
 * Concurrent callers may be committed together (group commit) to spend
 * one WAL flush on many webhooks; each still returns only after its own
 * items are durable.
 */
#ifndef PARLEY_CHAT_INGEST_H
#define PARLEY_CHAT_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "chat/contact.h"
#include "db/db.h"

struct app;

/* One inbound WhatsApp message, normalised (strings in the request arena). */
struct inbound {
	const char	*provider_message_id;	/* SM…, wamid.…, sbx-… */
	const char	*chat_external_id;	/* DM: "+E164", else the user
						   id; group: group id. A new
						   chat's key (see from) */
	bool		 is_group;
	const char	*group_name;		/* "" when unknown */
	const char	*sender;		/* "+E164", else the user id */
	/*
	 * The author's identity (chat/contact.h; members "" or NULL when not
	 * given): kept on the message, and for a DM on its chat, which is
	 * found by from.user_id before chat_external_id, so a contact keeps
	 * its chat whichever of its addresses a message carries.
	 */
	struct contact_ident	 from;
	const char	*sender_name;		/* profile name, "" if none */
	const char	*type;			/* text|image|audio|video|
						   document|location|… */
	const char	*body;			/* text, caption or "" */
	cJSON		*media;			/* [{id?,url?,contentType,
						   caption?,voice?}] or NULL */
	const char	*transcript;		/* a voice note's words as the
						   provider sent them (Kapso),
						   NULL or "": none */
	int64_t		 timestamp;		/* Unix seconds, 0: now */
};

struct ingest_item {
	int64_t			 org_id;
	int64_t			 channel_id;
	const struct inbound	*in;
	bool			 auto_answer;	/* false: store, never answer */
	int64_t			 message_id;	/* out: 0 for a replay */
	bool			 rejected;	/* out: not storable, left out */
};

enum ingest_result {
	INGEST_OK = 0,		/* committed (or all replays) */
	INGEST_UNAVAILABLE,	/* nothing written: answer 5xx */
};

/*
 * Stores in as a message of channel_id's chat (created on first
 * contact). *message_id is 0 for a replay (nothing written). One
 * statement; ingest_store runs it in its transaction.
 */
enum db_status	 chat_ingest(struct db *db, int64_t org_id,
		    int64_t channel_id, const struct inbound *in,
		    int64_t *message_id) __attribute__((warn_unused_result));

/* Stores n items durably (see above); OK with some items rejected. */
enum ingest_result ingest_store(struct app *app, struct ingest_item *items,
		    int n);
/*
 * True when a message with this provider timestamp should be answered:
 * not older than PARLEY_INBOUND_MAX_AGE_HOURS (providers redeliver for
 * days; an answer to a days-old message surprises people).
 */
bool		 ingest_is_fresh(const struct app *app, int64_t timestamp);

#endif
