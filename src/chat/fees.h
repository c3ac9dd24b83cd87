/*
 * fees: what WhatsApp bills for each outbound message (owns table
 * `message_fees`; docs/whatsapp-platform.md §6). Meta's and Kapso's
 * status webhooks classify a message (statuses[].pricing: billable,
 * pricing_model, type, category; never an amount), Twilio's Message
 * resource prices it (price, price_unit). The webhooks record what they
 * carry (fees_record); the review shows it per message and sums it per
 * conversation (fees_chat_totals), for the panel and the API.
 *
 * A value given replaces the stored one and an absent one never erases it:
 * Meta sends pricing on "sent" and on one of delivered/read, never on
 * failed.
 *
 * Every statement names org_id = $1. Thread-safe: no shared state.
 */
#ifndef PARLEY_CHAT_FEES_H
#define PARLEY_CHAT_FEES_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"

struct arena;

/* One message's pricing as a webhook carries it; NULL members: absent. */
struct fee {
	int		 billable;	/* 1, 0, -1: absent */
	const char	*pricing_model;	/* "PMP", "CBP" */
	const char	*type;		/* "regular", "free_customer_service",
					   "free_entry_point" */
	const char	*category;	/* "marketing", "utility", "service",
					   "authentication", … */
	const char	*amount;	/* decimal text, the cost (Twilio's
					   price without its sign) */
	const char	*currency;	/* ISO 4217, "USD" */
};

/* True when f carries anything to record. */
bool		 fee_given(const struct fee *f);

/*
 * Records f for the outbound message with provider_message_id on
 * channel_id. DB_NOT_FOUND: no such message of ours (or not recorded
 * yet); DB_INVALID: a value PostgreSQL refuses (an amount that is not a
 * number…), nothing written.
 */
enum db_status	 fees_record(struct db *db, int64_t org_id,
		    int64_t channel_id, const char *provider_message_id,
		    const struct fee *f) __attribute__((warn_unused_result));

/*
 * The outbound message with provider_message_id on channel_id when its
 * price is still to be asked for (no amount recorded): *message_id, else
 * 0. For the fee job of providers whose API prices (Twilio).
 */
enum db_status	 fees_price_wanted(struct db *db, int64_t org_id,
		    int64_t channel_id, const char *provider_message_id,
		    int64_t *message_id) __attribute__((warn_unused_result));
/* Where message_id went: its channel and provider id (fee job). */
enum db_status	 fees_message(struct db *db, struct arena *a,
		    int64_t org_id, int64_t message_id, int64_t *channel_id,
		    char **provider_message_id)
		    __attribute__((warn_unused_result));

/* One category's messages in a conversation's total. */
struct fee_category {
	char	*category;		/* "" when none was given */
	int64_t	 billable;
	int64_t	 free;			/* billable false, or a free type */
};

/* One currency's sum (Twilio's prices). */
struct fee_amount {
	char	*currency;
	char	*amount;		/* decimal text */
};

/* A conversation's fees, summed. */
struct fee_totals {
	int64_t			 messages;	/* outbound messages with any
						   pricing */
	int64_t			 billable;
	int64_t			 free;
	struct fee_category	*categories;	/* by category name */
	int			 n_categories;
	struct fee_amount	*amounts;	/* by currency */
	int			 n_amounts;
};

/*
 * The fees of chat_id, summed (strings in a). A message counts as
 * billable when billable is true and its type is not a free one, free
 * otherwise; a message with only an amount counts as billable.
 */
enum db_status	 fees_chat_totals(struct db *db, struct arena *a,
		    int64_t org_id, int64_t chat_id, struct fee_totals *out)
		    __attribute__((warn_unused_result));

#endif
