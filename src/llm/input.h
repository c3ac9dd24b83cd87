/*
 * input: the review's copy of what a model was given (llm_calls.input),
 * made from the OpenAI messages a call sends. Pure code: thread-safe.
 *
 * Nothing heavy or secret is kept: an image part keeps a placeholder
 * instead of its URL ("[image: JPEG, 34 KB, sent inline]" for a data:
 * URL; the URL without its query for any other, so a signed link's
 * signature is never stored), and each text (a message's content, a
 * text part) keeps at most LLM_INPUT_TEXT_MAX characters, cut at a
 * character boundary and marked "… [N more characters]". Messages keep
 * their role (and name, tool_call_id); an assistant's tool calls keep
 * the names they called.
 */
#ifndef PARLEY_LLM_INPUT_H
#define PARLEY_LLM_INPUT_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#define LLM_INPUT_TEXT_MAX	1000	/* characters of one text kept */
#define LLM_INPUT_MESSAGES_MAX	200	/* messages kept (the newest) */

/*
 * The review's copy of messages (an array of OpenAI messages; anything
 * else gives an empty array). Caller deletes it.
 */
cJSON		*llm_input_for_review(const cJSON *messages);

/* Whether s is a data: URL's placeholder that llm_input_for_review made
 * (the review shows it as text, never as a link). */
bool		 llm_input_is_placeholder(const char *s);

#endif
