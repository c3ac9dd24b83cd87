/*
 * search: the conversation-search index, kept AFTER the fact (owns table
 * message_search, table search_state, table search_words and
 * chat_search_terms; read by chat/review.c). A webhook stores a
 * message and nothing of its words (issue 17: the 2xx waits only for
 * what must be durable); an indexer
 * then adds each new message's words (message_search.tsv, GIN-indexed)
 * and each chat's word set (chat_search_terms, for the broad-word walk)
 * in batches. Search may trail a message by the indexer's lag — about a
 * second: it runs when this process stores messages (search_poke) and at
 * least once a second — and never loses one (search_index_any_org says
 * why). A transcript stored later is indexed at once with its message
 * (search_reindex_message).
 *
 * Thread-safety: the functions use the caller's connection; search_poke
 * and search_wait share one process-wide condition variable.
 */
#ifndef PARLEY_CHAT_SEARCH_H
#define PARLEY_CHAT_SEARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"

/* Messages indexed in one round at most. */
#define SEARCH_ROUND_MAX	2000
/* The indexer's longest sleep: the lag for messages other processes
 * stored (this process's own poke it). */
#define SEARCH_IDLE_MS		1000
/* How long a poke waits for more messages to index with it. */
#define SEARCH_GATHER_MS	200

/*
 * One round, for every organisation: indexes up to SEARCH_ROUND_MAX
 * messages not indexed yet, adds their words to their chats' word sets,
 * and moves the watermark below which everything is indexed; *n (may be
 * NULL) gets how many were indexed. One REPEATABLE READ transaction;
 * a round that meets another process's indexer does nothing (DB_OK,
 * *n 0).
 */
enum db_status	 search_index_any_org(struct db *db, int *n)
		    __attribute__((warn_unused_result));
/*
 * Indexes message_id again (its transcript changed), with its chat's
 * word set, in the caller's transaction if it has one.
 */
enum db_status	 search_reindex_message(struct db *db, int64_t org_id,
		    int64_t message_id) __attribute__((warn_unused_result));

/* Tells this process's indexer that messages were stored. Cheap. */
void		 search_poke(void);
/*
 * For the indexer's thread: waits until poked (then SEARCH_GATHER_MS
 * more, to gather) or timeout_ms passes, or search_wake_all; true when
 * it was poked.
 */
bool		 search_wait(int timeout_ms);
/* Ends every search_wait at once (stopping). */
void		 search_wake_all(void);

#endif
