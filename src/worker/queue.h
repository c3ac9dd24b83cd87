/*
 * queue: the job queue in PostgreSQL (owns table `jobs`).
 *
 * DESIGN. A job is enqueued inside the caller's transaction, together with
 * what caused it (an inbound message and its reply job commit or vanish
 * together), and a NOTIFY on "parley_jobs" wakes the pool once the
 * transaction commits. A worker claims the oldest due job with
 * FOR UPDATE SKIP LOCKED, so concurrent workers and processes never take
 * the same one, and holds it under a lease: a worker that dies simply lets
 * the lease expire and the job becomes claimable again. Every completion
 * and failure names the worker that holds the lease, so a worker whose
 * lease was taken over cannot overwrite the new holder's outcome.
 * Failures retry with exponential backoff and jitter; after max_attempts
 * the job is dead and waits for a person (the Jobs page's Retry).
 *
 * TURNS. A conversation turn is a job too, but it is not inserted by
 * whoever made it due: ingest only sets its chat's turn_due_at (one
 * column of a row it writes anyway). The claim turns the oldest due chat
 * nobody holds into a running 'turn' job (payload {"chat_id"}) and points
 * the chat at it (chats.turn_job) in the same statement, so the job's
 * lease, renewals, retries and death are the queue's as for any job, and
 * one chat has at most one running turn across workers and processes: a
 * chat is held while its turn_job runs under a live lease.
 *
 * Functions that serve every organisation (the workers') say so by name.
 */
#ifndef PARLEY_WORKER_QUEUE_H
#define PARLEY_WORKER_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "util/context.h"

struct arena;

/* The NOTIFY channel the pool listens on, and the job kinds. */
#define QUEUE_CHANNEL		APP_JOBS_CHANNEL
#define QUEUE_KIND_TURN		"turn"	/* {"chat_id": …}, made by the claim */
#define QUEUE_KIND_ACK		"ack"	/* {"chat_id": …}: the busy text */
#define QUEUE_KIND_SEND		"send"	/* {"message_id": outbound id} */
/* Before turns, one job per inbound message; any left at an upgrade hand
 * their message to its chat's turn (worker/turn.c). */
#define QUEUE_KIND_REPLY	"reply"	/* {"message_id": inbound id} */
#define QUEUE_KIND_RELEASE	"release"	/* {"hold_id": window hold} */
#define QUEUE_KIND_SCHEDULE	"schedule"	/* {"run_id": schedule run} */
#define QUEUE_KIND_TEMPLATES	"templates"	/* {"channel_id": sync} */
#define QUEUE_KIND_FEE		"fee"	/* {"message_id": outbound id} */

struct job {
	int64_t	 id;
	int64_t	 org_id;
	char	*kind;
	char	*payload;	/* JSON text */
	int	 attempts;	/* including this one */
	int	 max_attempts;
	bool	 more;		/* claim: another job was due as well */
	bool	 exhausted;	/* claim: its workers vanished too often; the
				   pool buries it (worker_pool.c) */
	int	 worker;	/* claim_many: the index of the worker id
				   it is leased to */
};

struct job_row {
	int64_t	 id;
	char	*kind;
	char	*status;	/* queued | running | done | dead */
	int	 attempts;
	int	 max_attempts;
	char	*last_error;	/* NULL when none */
	int64_t	 message_id;	/* the payload's message_id, 0: none */
	int64_t	 chat_id;	/* the payload's chat_id (turns), 0: none */
	char	*run_at;
	char	*updated_at;
};

/*
 * Adds a job (payload: a JSON object text) due now, in the caller's
 * transaction, and NOTIFYs the pool (delivered at commit).
 */
enum db_status	 queue_enqueue(struct db *db, int64_t org_id, const char *kind,
		    const char *payload, int max_attempts, int64_t *id)
		    __attribute__((warn_unused_result));
/*
 * The app_queue entry (util/context.h) for chat/: the send job of one
 * outbound message due in delay_s seconds (a new one when *job_id is 0,
 * else *job_id moved if it is still queued). False when the database
 * failed.
 */
bool		 queue_send_at(struct db *db, int64_t org_id,
		    int64_t message_id, int delay_s, int64_t *job_id);
/* The release job of window hold hold_id, due now (app_queue.release). */
bool		 queue_release_job(struct db *db, int64_t org_id,
		    int64_t hold_id);
/*
 * Claims, in one statement, up to n_workers of the oldest due jobs of any
 * organisation, then for the room left the oldest due turns (see TURNS),
 * each leased for lease_s seconds to one of worker_ids (out[k].worker
 * says which; each id at most once, the first id gets the first): *n_out
 * of them in out[] (room for n_workers). .more on each: more is due than
 * was claimed. DB_NOT_FOUND with *n_out 0 when nothing is due; *next_ms
 * (may be NULL) then says in how many milliseconds the next known job or
 * turn falls due (-1: none known). A job whose lease expired more times
 * than it may be attempted comes back with exhausted set: the caller
 * buries it (queue_fail_any_org, retry false) after its kind's last word.
 */
enum db_status	 queue_claim_many_any_org(struct db *db, struct arena *a,
		    const char *const *worker_ids, int n_workers, int lease_s,
		    struct job *out, int *n_out, int *next_ms)
		    __attribute__((warn_unused_result));
/*
 * Gives back every job still leased to worker_id, due now, for a worker
 * that is between jobs and so cannot be running any: one whose claim
 * committed while its answer was lost (the server failed over), or whose
 * outcome could not be recorded. Their leases would otherwise have to run
 * out first. *n (may be NULL) gets how many were given back.
 */
enum db_status	 queue_release_mine_any_org(struct db *db,
		    const char *worker_id, int *n)
		    __attribute__((warn_unused_result));
/* Extends the lease; DB_CONFLICT when worker_id no longer holds it. */
enum db_status	 queue_extend_lease_any_org(struct db *db, int64_t job_id,
		    const char *worker_id, int lease_s)
		    __attribute__((warn_unused_result));
/*
 * Extends the leases of n running jobs (job_ids[i] held by
 * worker_ids[i]) in one statement; held[i] says whether each still was.
 */
enum db_status	 queue_extend_leases_any_org(struct db *db, int n,
		    const int64_t *job_ids, const char *const *worker_ids,
		    int lease_s, bool *held) __attribute__((warn_unused_result));
/*
 * Deletes up to max_rows jobs, of any organisation, that finished (done)
 * more than keep_s seconds ago; *n: how many went. Nothing reads a done
 * job: the Jobs page lists dead and failing ones, and a chat whose
 * turn_job is gone has no turn running. Without it the table grows by a
 * row per turn, send and indicator, forever (app/jobs.c sweeps).
 */
enum db_status	 queue_sweep_done_any_org(struct db *db, int64_t keep_s,
		    int max_rows, int *n) __attribute__((warn_unused_result));
/* Marks the job done; DB_CONFLICT when the lease was lost. */
enum db_status	 queue_complete_any_org(struct db *db, int64_t job_id,
		    const char *worker_id) __attribute__((warn_unused_result));
/*
 * Records a failure. When retry is true and attempts remain, the job is
 * due again after backoff_s seconds; otherwise it is dead.
 */
enum db_status	 queue_fail_any_org(struct db *db, int64_t job_id,
		    const char *worker_id, const char *error, bool retry,
		    int backoff_s) __attribute__((warn_unused_result));
/* The "message_id" of a job's payload (every kind has one), 0 when it
 * names none. */
int64_t		 queue_payload_message(const struct job *job);

/* Exponential backoff with ±25 % jitter for the given attempt (1-based):
 * 2 s, 4 s, 8 s … capped at 10 minutes. */
int		 queue_backoff_s(int attempt);

/* Failed (retrying) and dead jobs of the organisation, newest first. */
enum db_status	 queue_list_problems(struct db *db, struct arena *a,
		    int64_t org_id, int limit, struct job_row **out, int *n)
		    __attribute__((warn_unused_result));
/* One job of the organisation (DB_NOT_FOUND: none). */
enum db_status	 queue_get(struct db *db, struct arena *a, int64_t org_id,
		    int64_t job_id, struct job_row *out)
		    __attribute__((warn_unused_result));
/* A dead job a person dealt with otherwise (its reply resent): done. */
enum db_status	 queue_resolve(struct db *db, int64_t org_id, int64_t job_id)
		    __attribute__((warn_unused_result));
/* Makes a dead job due again with a fresh set of attempts. */
enum db_status	 queue_retry(struct db *db, int64_t org_id, int64_t job_id)
		    __attribute__((warn_unused_result));

#endif
