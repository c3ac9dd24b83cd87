/*
 * ingest: the one way an inbound item enters Parley (DESIGN.md data
 * flow). Every item a provider delivers is classified by its webhook
 * (enum inbound_kind) and stored with its chat; a message to answer (and
 * an item the agent must say it cannot read) makes the chat's turn due:
 * chats.turn_due_at = now + the chat's agent's debounce, pushed later by
 * every message of a burst, so the burst is one turn (worker/turn.c).
 * Nothing else is written before the 2xx: the conversation-search words
 * follow within seconds (chat/search.h).
 *
 * All items of one call are stored in ONE statement (an unnest over
 * arrays: the chat upserts, the messages, the due turns and one NOTIFY
 * per batch), and the call returns only after the commit: a webhook
 * answers 2xx only then. A replayed provider id stores nothing and is
 * acknowledged. If PostgreSQL is unavailable nothing is written and the
 * caller answers 5xx so the provider retries. An item PostgreSQL refuses
 * as data (a timestamp out of range, …) is rejected on its own: the
 * others are stored, and the caller records the rejection on the
 * channel's health panel and acknowledges the delivery (a retry could
 * only fail again).
 *
 * Concurrent callers are committed together (group commit): everything
 * waiting when a leader starts is one statement and one WAL flush; each
 * caller still returns only after its own items are durable.
 */
#ifndef PARLEY_CHAT_INGEST_H
#define PARLEY_CHAT_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "chat/contact.h"
#include "db/db.h"

struct app;

/*
 * What an inbound item is (messages.kind). Only messages start turns
 * (and unsupported items, so the user hears once what the agent cannot
 * read); the rest are stored, shown and never answered.
 */
enum inbound_kind {
	INBOUND_MESSAGE = 0,	/* text, media, voice, location, contacts,
				   interactive or button reply: answered */
	INBOUND_REACTION,	/* an emoji on target_id ("": removed) */
	INBOUND_STATUS,		/* a delivery status of ours: never stored
				   here (chat/outbox.h outbox_status_update) */
	INBOUND_SYSTEM,		/* the user changed number, …: a note */
	INBOUND_ECHO,		/* what the business sent from elsewhere (the
				   WhatsApp Business app): an outbound row */
	INBOUND_UNSUPPORTED,	/* a type WhatsApp could not give us */
	INBOUND_STANDBY,	/* a passive copy while another app holds the
				   conversation: stored, not ours to answer */
};

/* One inbound WhatsApp item, normalised (strings in the request arena). */
struct inbound {
	enum inbound_kind kind;
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
	const char	*body;			/* text, caption or "" (a
						   reaction's emoji, a system
						   event's sentence) */
	cJSON		*media;			/* [{id?,url?,contentType,
						   caption?,voice?}] or NULL */
	const char	*transcript;		/* a voice note's words as the
						   provider sent them (Kapso),
						   NULL or "": none */
	int64_t		 timestamp;		/* Unix seconds, 0: now */
	const char	*target_id;		/* a reaction's message (the
						   provider's id), else NULL */
	const char	*new_contact;		/* INBOUND_SYSTEM: the number
						   the user changed to, else
						   NULL */
	bool		 window_continue;	/* a tap on Parley's Continue
						   button (chat/window.h) */
};

struct ingest_item {
	int64_t			 org_id;
	int64_t			 channel_id;
	const struct inbound	*in;
	bool			 auto_answer;	/* false: store, never answer
						   (too old: settled as such) */
	int64_t			 message_id;	/* out: 0 for a replay */
	bool			 rejected;	/* out: not storable, left out */
};

enum ingest_result {
	INGEST_OK = 0,		/* committed (or all replays) */
	INGEST_UNAVAILABLE,	/* nothing written: answer 5xx */
};

/* Connections ingest holds at most at once (its group-commit leaders):
 * what the app reserves for it in the pool (db_pool_reserve). */
int		 ingest_connections(void);
/* Stores n items durably (see above); OK with some items rejected. */
enum ingest_result ingest_store(struct app *app, struct ingest_item *items,
		    int n);
/*
 * True when a message with this provider timestamp should be answered:
 * not older than PARLEY_INBOUND_MAX_AGE_HOURS (providers redeliver for
 * days; an answer to a days-old message surprises people).
 */
bool		 ingest_is_fresh(const struct app *app, int64_t timestamp);
/* The kind's name as messages.kind stores it ("message", "reaction", …). */
const char	*ingest_kind_name(enum inbound_kind kind);
/*
 * The sentence an item of this kind is settled with at ingest (it will
 * never be answered), NULL for the kinds a turn answers.
 */
const char	*ingest_kind_reason(enum inbound_kind kind);
/* The sentence of a message stored but too old to answer. */
/* The reason a tap on Parley's Continue button is not answered: it asks
 * for the held messages, which the window's release sends (chat/window.h). */
#define INGEST_CONTINUE_REASON	"A tap on Continue: the held messages were " \
				"sent, nothing to answer."
#define INGEST_STALE_REASON	"Not answered: older than the cut-off " \
				"(PARLEY_INBOUND_MAX_AGE_HOURS) when it arrived."

#endif
