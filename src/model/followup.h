/*
 * followup: an agent's follow-up template setting (owns table
 * `agent_followups`): the approved template sent in place of messages
 * held by a closed 24-hour window (chat/window.h), by name (default
 * "session_followup") and optionally language, for every channel or
 * overridden per channel; and what a release delivers: "latest" (the
 * most recent held scheduled result of the last 24 hours, and every held
 * message that is not a scheduled result, as Bruin does) or "all".
 *
 * An agent with no row has the defaults. Every statement names
 * org_id = $1. Thread-safe: no shared state.
 */
#ifndef PARLEY_MODEL_FOLLOWUP_H
#define PARLEY_MODEL_FOLLOWUP_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "model/fielderr.h"

struct arena;

#define FOLLOWUP_CHANNELS_MAX	50
#define FOLLOWUP_NAME_MAX	512
#define FOLLOWUP_LANGUAGE_MAX	32

struct followup_channel {
	int64_t		 channel_id;
	const char	*channel_name;		/* "" on input */
	const char	*template_name;
	const char	*language;		/* "": any */
};

struct followup {
	const char		*template_name;
	const char		*language;	/* "": any */
	const char		*continue_delivers;	/* latest | all */
	struct followup_channel	*channels;	/* overrides */
	int			 n_channels;
};

/* The agent's setting (the defaults when it has none). DB_NOT_FOUND:
 * not the org's agent. */
enum db_status	 followup_get(struct db *db, struct arena *a, int64_t org_id,
		    int64_t agent_id, struct followup *out)
		    __attribute__((warn_unused_result));
/*
 * Replaces the agent's setting with in (strings as entered; a channel
 * override with an empty template name is dropped). DB_INVALID with errs
 * (fields template, language, continue, channels) on bad input or a
 * channel not the org's; DB_NOT_FOUND: not the org's agent.
 */
enum db_status	 followup_set(struct db *db, int64_t org_id,
		    int64_t agent_id, const struct followup *in,
		    struct field_errors *errs)
		    __attribute__((warn_unused_result));
/*
 * What applies to agent_id (0: none, the defaults) on channel_id: the
 * template's name and language and the release policy, in a.
 */
enum db_status	 followup_for(struct db *db, struct arena *a, int64_t org_id,
		    int64_t agent_id, int64_t channel_id, char **name,
		    char **language, char **continue_delivers)
		    __attribute__((warn_unused_result));

#endif
