/*
 * builtin: parley/faq, the offline model answered in-process (internal to
 * llm/; callers go through gateway.h). It speaks the shape of the wire
 * model so the gateway runs it through the same loop as a remote one:
 * each round it takes the request's messages and returns a chat.completion
 * object.
 *
 * Round 1: the last user message is searched in the agent's knowledge base
 * (model/knowledge.c). When the best hit's rank reaches BUILTIN_MIN_RANK
 * the answer quotes its passage; otherwise the answer is one tool call,
 * to the fallback tool (plugins/plugin.h: the handoff), which the gateway
 * runs and records like any other.
 * Round 2 (the last message is that call's tool result): the sentence
 * telling the user a person will follow up.
 *
 * No provider, key or network is involved. Thread-safe: it holds a pooled
 * connection only for the one search.
 */
#ifndef PARLEY_LLM_BUILTIN_H
#define PARLEY_LLM_BUILTIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct db_pool;

/*
 * The least ts_rank_cd (normalisation 0, default weights: a title word
 * occurrence counts 1.0, a body word occurrence 0.4) for which the best
 * hit is quoted: one word of the question in the entry's title, or two
 * word occurrences in its body (0.8). A single body word (0.4) is too weak
 * ("do you sell bicycles on Saturday?" would quote the opening hours).
 * 0.75 sits between the steps so float rounding never decides.
 */
#define BUILTIN_MIN_RANK	0.75
/* The id of the one tool call the built-in model makes. */
#define BUILTIN_HANDOFF_CALL_ID	"call_parley_faq_handoff"

#define BUILTIN_NO_AGENT	"The parley/faq model answers from an " \
	"agent's knowledge base: call it through an agent that has one."
#define BUILTIN_HANDED_OFF	"I don't have an answer to that yet. " \
	"I've asked a person from our team to follow up here."
#define BUILTIN_HANDOFF_FAILED	"I don't have an answer to that yet, and " \
	"I could not reach our team just now. Please try again later."

/*
 * One round of parley/faq for agent_id of org_id (agent_id 0: a bare
 * model, answered with BUILTIN_NO_AGENT). *response gets a chat.completion
 * object (caller deletes) with usage all zero. False with a sentence in
 * err when the database cannot be reached.
 */
bool		 builtin_chat(struct db_pool *pool, int64_t org_id,
		    int64_t agent_id, const cJSON *messages, cJSON **response,
		    char *err, size_t errlen);

#endif
