/*
 * threads: the threads of a chat (owns table `threads`). A thread is one
 * agent's conversation with a chat; at most one is open per chat. It is
 * opened by the first message the agent answers, closed by /reset, a
 * change of agent, a handoff's return, close or a session timeout. While
 * a reply for it is produced it is busy (busy_job, busy_until), so two
 * workers or processes never answer one thread at once.
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
 * prefixed with the sender's name. Caller deletes *messages.
 */
enum db_status	 chat_thread_history(struct db *db, int64_t org_id,
		    int64_t thread_id, int64_t before_message_id, int limit,
		    cJSON **messages) __attribute__((warn_unused_result));

/*
 * Takes thread_id for job_id for lease_s seconds with one UPDATE, so two
 * workers or processes can never both produce a reply for one thread:
 * it succeeds when the thread is free, its claim expired (a crashed
 * worker), or job_id already holds it (a retry or a re-claimed job; the
 * lease is then extended). *taken false: another job holds it (or the
 * thread is gone).
 */
enum db_status	 chat_thread_take(struct db *db, int64_t org_id,
		    int64_t thread_id, int64_t job_id, int lease_s,
		    bool *taken) __attribute__((warn_unused_result));
/* Releases job_id's claim on thread_id (no-op when it holds none). */
enum db_status	 chat_thread_release(struct db *db, int64_t org_id,
		    int64_t thread_id, int64_t job_id)
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
 * its last message other than message_id (else its start) is older than
 * its agent's session_timeout_minutes; *expired says so.
 */
enum db_status	 chat_thread_expire(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t message_id, bool *expired)
		    __attribute__((warn_unused_result));

#endif
