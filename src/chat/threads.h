/*
 * threads: the threads of a chat (owns table `threads`). A thread is one
 * agent's conversation with a chat; at most one is open per chat. It is
 * opened by the first message the agent answers, closed by /reset, a
 * change of agent, a handoff's return, close or a session timeout. (One
 * turn at a time is the chat's to ensure: chats.turn_job, worker/queue.h.)
 *
 * Thread-safe: no shared state.
 */
#ifndef PARLEY_CHAT_THREADS_H
#define PARLEY_CHAT_THREADS_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "db/db.h"

/* The chat's open thread for agent_id, opened when there is none; the
 * inbound message is attached to it. */
enum db_status	 chat_thread_for(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t agent_id, int64_t message_id,
		    int64_t *thread_id) __attribute__((warn_unused_result));
/*
 * The thread's last `limit` messages before message_id as OpenAI
 * messages (user/assistant), oldest first; in groups user messages are
 * prefixed with the sender's name. Only what was said is history: the
 * people's messages and the answers sent (the business's own replies
 * from elsewhere too), not reactions, WhatsApp's notices or Parley's
 * notes. Caller deletes *messages.
 */
enum db_status	 chat_thread_history(struct db *db, int64_t org_id,
		    int64_t thread_id, int64_t before_message_id, int limit,
		    cJSON **messages) __attribute__((warn_unused_result));

/*
 * Puts messages ids[0..n) of the chat into thread_id (those that are
 * not in it yet): a turn's messages that arrived before their chat had a
 * thread, or in one a timeout closed.
 */
enum db_status	 chat_thread_adopt(struct db *db, int64_t org_id,
		    int64_t thread_id, const int64_t *ids, int n)
		    __attribute__((warn_unused_result));
/*
 * /reset: closes the chat's open thread (close_reason 'reset') and opens
 * a new one for agent_id. *old_thread_id is the closed one (0: there was
 * none), *new_thread_id the new one.
 */
enum db_status	 chat_thread_reset(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t agent_id, int64_t *old_thread_id,
		    int64_t *new_thread_id) __attribute__((warn_unused_result));

/* Closes the chat's open thread with close_reason (no-op: none open). */
enum db_status	 chat_thread_close(struct db *db, int64_t org_id,
		    int64_t chat_id, const char *close_reason)
		    __attribute__((warn_unused_result));
/*
 * Sessions: closes the chat's open thread (close_reason 'timeout') when
 * its last message before message_id (a turn's first; else its start)
 * is older than its agent's session_timeout_minutes; *expired says so.
 */
enum db_status	 chat_thread_expire(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t message_id, bool *expired)
		    __attribute__((warn_unused_result));

#endif
