/*
 * schedule: an agent's scheduled runs and heartbeats (owns tables
 * `schedules` and `schedule_runs`).
 *
 * A schedule fires on a five-field cron expression in a time zone (util/
 * cron.h; the zone's rules are PostgreSQL's, from the system tz
 * database: "now" is read in the zone and the next wall-clock time
 * converted back with AT TIME ZONE) or every interval_s seconds. Its
 * targets: every chat linked to the agent ("agent_chats"), chosen chats
 * or groups ("chats"), or one recipient ("recipient": recipient "" is
 * the first person who wrote to the agent, resolved once; else a number
 * or group id on recipient_channel_id). A heartbeat (Upsonic's period +
 * message) is a schedule made by the agent page's preset: an interval, a
 * prompt, the recipient target, heartbeat true.
 *
 * FIRING ONCE. schedule_due_lock_any_org (in the ticker's transaction)
 * takes due rows FOR UPDATE SKIP LOCKED; schedule_fire moves next_run_at
 * past now (an interval: the first slot after now; cron: the next match
 * after now in the zone) and records the run, which (schedule_id,
 * slot_at) makes unique. Another process skips the locked rows and, once
 * they commit, finds them not due. A downtime's missed slots collapse
 * into one run, because the next slot is computed from now.
 *
 * A run records its result (the agent's answer), and its deliveries are
 * the outbox rows that carry its id (messages.schedule_run_id): per
 * target chat, delivered / held / failed as the outbox says.
 *
 * Every statement names org_id = $1 but the ticker's lock (…_any_org).
 * Thread-safe: no shared state.
 */
#ifndef PARLEY_MODEL_SCHEDULE_H
#define PARLEY_MODEL_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "model/fielderr.h"

struct arena;

#define SCHEDULE_CHATS_MAX	100
#define SCHEDULE_PER_AGENT_MAX	50
#define SCHEDULE_PROMPT_MAX	8000
#define SCHEDULE_INTERVAL_MAX	31622400	/* a year and a day */
#define SCHEDULE_RUNS_MAX	100

struct schedule {
	int64_t	 id;
	int64_t	 agent_id;
	char	*name;
	char	*kind;			/* cron | interval */
	char	*cron;			/* "" for an interval */
	int	 interval_s;		/* 0 for cron */
	char	*tz;
	char	*prompt;
	char	*target;		/* agent_chats | chats | recipient */
	int64_t	*chat_ids;
	int	 n_chat_ids;
	int64_t	 recipient_channel_id;	/* 0: none */
	char	*recipient;		/* "": the first sender */
	int64_t	 recipient_chat_id;	/* resolved, 0: not yet */
	bool	 heartbeat;
	bool	 enabled;
	char	*next_run_at;		/* ISO, "" when disabled */
	char	*last_run_at;		/* ISO, "" never */
	char	*created_at;
	bool	 deleted;		/* only seen by the run (agent_id 0) */
};

struct schedule_input {
	const char	*name;
	const char	*kind;
	const char	*cron;
	int		 interval_s;
	const char	*tz;		/* NULL or "": UTC */
	const char	*prompt;
	const char	*target;
	const int64_t	*chat_ids;
	int		 n_chat_ids;
	int64_t		 recipient_channel_id;
	const char	*recipient;	/* NULL or "": the first sender */
	bool		 heartbeat;
	bool		 enabled;
};

enum db_status	 schedule_list(struct db *db, struct arena *a, int64_t org_id,
		    int64_t agent_id, struct schedule **out, int *n)
		    __attribute__((warn_unused_result));
/* One schedule of the org's agent agent_id, not deleted; agent_id 0:
 * any agent, deleted or not (the run job). */
enum db_status	 schedule_get(struct db *db, struct arena *a, int64_t org_id,
		    int64_t agent_id, int64_t id, struct schedule *out)
		    __attribute__((warn_unused_result));
/*
 * Validates (DB_INVALID + errs: fields name, kind, cron, interval, tz,
 * prompt, target, chats, recipient), then stores, due at its first slot
 * (an interval from now; the next cron match in tz). min_interval_s is
 * the shortest interval allowed (PARLEY_SCHEDULE_MIN_INTERVAL_SECONDS).
 * DB_NOT_FOUND: not the org's agent.
 */
enum db_status	 schedule_create(struct db *db, int64_t org_id,
		    int64_t agent_id, const struct schedule_input *in,
		    int min_interval_s, struct field_errors *errs,
		    int64_t *id) __attribute__((warn_unused_result));
/* The same for an existing one; its next run is computed again. */
enum db_status	 schedule_update(struct db *db, int64_t org_id,
		    int64_t agent_id, int64_t id,
		    const struct schedule_input *in, int min_interval_s,
		    struct field_errors *errs)
		    __attribute__((warn_unused_result));
/*
 * Deletes it for its users: it never fires again and is no longer listed
 * or found by agent, but the row stays for its runs (history, and a run
 * already under way still delivers what it recorded).
 */
enum db_status	 schedule_delete(struct db *db, int64_t org_id,
		    int64_t agent_id, int64_t id)
		    __attribute__((warn_unused_result));
/* Stores the resolved recipient chat (a "recipient" target). */
enum db_status	 schedule_set_recipient_chat(struct db *db, int64_t org_id,
		    int64_t id, int64_t chat_id)
		    __attribute__((warn_unused_result));

/* --- firing (the ticker, worker/schedule.c) ----------------------------- */

struct schedule_due {
	int64_t	 org_id;
	int64_t	 id;
};

/* In the caller's transaction: up to max due schedules, locked. */
enum db_status	 schedule_due_lock_any_org(struct db *db, int max,
		    struct schedule_due *out, int *n)
		    __attribute__((warn_unused_result));
/*
 * In the caller's transaction, for a row schedule_due_lock_any_org
 * locked: records the run of its due slot (*run_id; 0 when that slot ran
 * already) and moves next_run_at to the first slot after now.
 */
enum db_status	 schedule_fire(struct db *db, int64_t org_id, int64_t id,
		    int64_t *run_id) __attribute__((warn_unused_result));
/* A run now, outside the schedule ("run now"): *run_id. */
enum db_status	 schedule_run_now(struct db *db, int64_t org_id,
		    int64_t agent_id, int64_t id, int64_t *run_id)
		    __attribute__((warn_unused_result));

/* --- runs ---------------------------------------------------------------- */

/* What the run job needs. */
struct schedule_job {
	int64_t		 run_id;
	char		*status;	/* the run's, before this start */
	char		*result;	/* NULL until the agent answered */
	int64_t		 llm_call_id;
	struct schedule	 s;
};

/*
 * Marks run_id running (a queued or running one; started_at once) and
 * loads it with its schedule. DB_NOT_FOUND when gone; DB_CONFLICT when it
 * is done or failed already.
 */
enum db_status	 schedule_run_start(struct db *db, struct arena *a,
		    int64_t org_id, int64_t run_id, struct schedule_job *out)
		    __attribute__((warn_unused_result));
/* The agent's answer, once (a second call keeps the first). */
enum db_status	 schedule_run_result(struct db *db, int64_t org_id,
		    int64_t run_id, const char *result, int64_t llm_call_id,
		    int n_targets) __attribute__((warn_unused_result));
/* done (error "" or a note) | failed (error). */
enum db_status	 schedule_run_finish(struct db *db, int64_t org_id,
		    int64_t run_id, bool ok, const char *error)
		    __attribute__((warn_unused_result));

/* One target's delivery of a run. */
struct schedule_delivery {
	int64_t	 chat_id;
	char	*chat_kind;		/* dm | group */
	char	*external_id;
	char	*display_name;
	char	*status;		/* delivered | held | failed | sending */
	char	*error;			/* "" none */
};

struct schedule_run {
	int64_t			 id;
	int64_t			 schedule_id;
	char			*schedule_name;
	char			*slot_at;
	char			*trigger;	/* schedule | manual */
	char			*status;	/* queued|running|done|failed */
	char			*result;	/* "" none yet */
	char			*error;
	int			 n_targets;
	char			*created_at;
	char			*finished_at;	/* "" not yet */
	struct schedule_delivery *deliveries;
	int			 n_deliveries;
};

/*
 * The agent's newest runs (of schedule_id, 0: every schedule), at most
 * limit (≤ SCHEDULE_RUNS_MAX), each with its deliveries.
 */
enum db_status	 schedule_runs_list(struct db *db, struct arena *a,
		    int64_t org_id, int64_t agent_id, int64_t schedule_id,
		    int limit, struct schedule_run **out, int *n)
		    __attribute__((warn_unused_result));

#endif
