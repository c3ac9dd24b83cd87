/*
 * upstream: what the calls to an OpenAI-compatible server share
 * (llm/client.c for chat completions and models, llm/transcribe.c for
 * audio): the backoff between attempts, Retry-After, and the provider's
 * own words from an error body, cleaned for logs and pages.
 *
 * Thread-safety: none needed; no state.
 */
#ifndef PARLEY_LLM_UPSTREAM_H
#define PARLEY_LLM_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>

struct redact;

/* Exponential backoff with jitter for attempt n (1-based): half of
 * min(base·2^(n-1), max) fixed, half random. */
int	 upstream_backoff_ms(int n, int base_ms, int max_ms);
/* Sleeps ms milliseconds, resuming after signals. */
void	 upstream_sleep_ms(int ms);
/*
 * One Retry-After value in ms (is_ms: a retry-after-ms header, else
 * seconds), capped at max_ms, at least 1; 0 when it is not a number
 * (HTTP dates are not used by these servers). Surrounding white space is
 * allowed.
 */
int	 upstream_retry_after_ms(const char *v, bool is_ms, int max_ms);
/* Copies s without control characters and trailing spaces, never
 * cutting a UTF-8 sequence in half. */
void	 upstream_clean_copy(char *out, size_t outlen, const char *s);
/*
 * Upstream's words from an error body (not NUL-terminated, len bytes):
 * error.message (OpenAI, Ollama, vLLM), a string "error", or a top-level
 * "message"; else a short non-HTML UTF-8 text body. out is "" when there
 * is nothing useful. The call's secrets (rd, may be NULL) are redacted
 * from the whole message before it is cut to outlen, so a key echoed
 * near the cut cannot leave half of itself behind.
 */
void	 upstream_message(const char *body, size_t len,
	    const struct redact *rd, char *out, size_t outlen);

#endif
