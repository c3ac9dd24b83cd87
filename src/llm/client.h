/*
 * client: OpenAI-compatible chat completions and model lists over libcurl
 * (PROTOCOLS.md §5). Works with OpenAI, OpenRouter, Groq, Ollama, vLLM:
 * anything that speaks POST {base}/chat/completions and GET {base}/models
 * with Authorization: Bearer.
 *
 * Timeouts, 429 and 5xx are retried with exponential backoff and jitter a
 * bounded number of times (never after a streamed delta was delivered, so
 * a client never sees text twice); every transfer has connect and total
 * timeouts and a response-size cap. Thread-safe: each call uses its own
 * curl handle. No database connection is involved.
 */
#ifndef PARLEY_LLM_CLIENT_H
#define PARLEY_LLM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct llm_endpoint {
	const char	*base_url;	/* ".../v1", no trailing slash needed */
	const char	*api_key;	/* NULL or "": no Authorization header */
	int		 timeout_ms;	/* per attempt; 0: 60000 */
	int		 max_retries;	/* 0: 2 (so 3 attempts); < 0: none */
	/* Asked while a call runs: true aborts it (LLM_CANCELLED), also
	 * between attempts. NULL: never. */
	bool		(*cancelled)(void *ctx);
	void		*cancel_ctx;
};

enum llm_err {
	LLM_OK = 0,
	LLM_BAD_REQUEST,	/* 400/404/422 from upstream: not retried */
	LLM_AUTH,		/* 401/403: the key is wrong */
	LLM_RATE_LIMITED,	/* 429 after the retries */
	LLM_UPSTREAM,		/* 5xx after the retries */
	LLM_TIMEOUT,		/* no answer in time, after the retries */
	LLM_NETWORK,		/* cannot connect / DNS / TLS */
	LLM_BAD_RESPONSE,	/* not the JSON we expect */
	LLM_CANCELLED,		/* the caller's cancelled() said so */
};

struct llm_result {
	int		 http_status;	/* last attempt's, 0 if none */
	/*
	 * A non-streaming completion object. For a streamed call the chunks
	 * are assembled into the same shape: choices[0].message.content and
	 * .tool_calls (arguments concatenated), finish_reason, usage when
	 * the server sent it. Owned by the result.
	 */
	cJSON		*response;
	char		 error[512];	/* a sentence, incl. upstream's message */
	int64_t		 latency_ms;	/* all attempts */
	int		 attempts;
	/* The server's Retry-After (or retry-after-ms) on the last failed
	 * attempt, up to an hour; 0: none. A wait longer than the client's
	 * own bound is not waited out in the call: it ends, and the caller
	 * decides when to come back. */
	int		 retry_after_ms;
};

/* Receives content fragments of a streamed call as they arrive. */
typedef void	(*llm_delta_fn)(void *ctx, const char *text, size_t len);

/*
 * POSTs request (a chat.completions body; not modified) to
 * {base}/chat/completions. With on_delta the call streams ("stream":true
 * and stream_options.include_usage are added to a copy) and content
 * fragments go to on_delta as they arrive. Fills *out (cleanup always).
 */
enum llm_err	 llm_chat(const struct llm_endpoint *ep, const cJSON *request,
		    llm_delta_fn on_delta, void *ctx, struct llm_result *out);
/* GET {base}/models → the "data" array (caller deletes *models). */
enum llm_err	 llm_list_models(const struct llm_endpoint *ep, cJSON **models,
		    char *err, size_t errlen);
void		 llm_result_cleanup(struct llm_result *r);
const char	*llm_err_str(enum llm_err e);

#endif
