/*
 * llmcall: the record of every gateway call (owns table `llm_calls`):
 * model, tokens, latency, tool calls with their arguments and results, and
 * the error if any, for conversation review and budgets.
 */
#ifndef PARLEY_MODEL_LLMCALL_H
#define PARLEY_MODEL_LLMCALL_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "db/db.h"

struct arena;

struct llm_call_record {
	int64_t		 id;		/* llmcall_reserve's, 0: a new one */
	int64_t		 org_id;
	int64_t		 agent_id;	/* 0: none */
	int64_t		 model_id;	/* 0: none */
	const char	*model_name;
	const char	*source;	/* "api" | "reply" | "panel" */
	int		 tokens_in;
	int		 tokens_out;
	int		 latency_ms;
	int		 rounds;
	const cJSON	*tool_calls;	/* [{name, arguments, result, error}] */
	const char	*error;		/* NULL on success */
	const cJSON	*input;		/* the review's copy of the
					   messages (llm/input.h), NULL:
					   none */
};

struct llm_call {
	int64_t	 id;
	int64_t	 agent_id;
	char	*model_name;
	char	*source;
	int	 tokens_in;
	int	 tokens_out;
	int	 latency_ms;
	int	 rounds;
	char	*tool_calls;	/* JSON text */
	char	*error;		/* NULL on success */
	char	*created_at;
	char	*input;		/* JSON text, NULL: not recorded */
};

/*
 * An id for a call about to be made, so that what its tools write (a
 * handoff) can name it before the row exists; llmcall_insert then uses
 * it (r->id). An id reserved for a call never recorded is simply unused.
 */
enum db_status	 llmcall_reserve(struct db *db, int64_t *id)
		    __attribute__((warn_unused_result));
/* The call's row (with r->id when reserved); *id (may be NULL) gets it. */
enum db_status	 llmcall_insert(struct db *db, const struct llm_call_record *r,
		    int64_t *id) __attribute__((warn_unused_result));
/* The newest calls of the org (agent_id 0: any agent), at most limit. */
enum db_status	 llmcall_list_recent(struct db *db, struct arena *a,
		    int64_t org_id, int64_t agent_id, int limit,
		    struct llm_call **out, int *n)
		    __attribute__((warn_unused_result));

/* --- issue 6: conversation review (chat/review.c's timeline) --------- */

#define LLMCALL_MANY_MAX	500

/*
 * The org's calls among ids (n_ids ≤ LLMCALL_MANY_MAX; more are ignored),
 * in id order; ids of other orgs or unknown ones are simply absent.
 * Strings in a.
 */
enum db_status	 llmcall_get_many(struct db *db, struct arena *a,
		    int64_t org_id, const int64_t *ids, int n_ids,
		    struct llm_call **out, int *n)
		    __attribute__((warn_unused_result));

#endif
