/*
 * transcribe: voice notes to text through an OpenAI-compatible
 * POST {base}/audio/transcriptions (PROTOCOLS.md §5.3): multipart/form-data
 * with the audio as `file` (a filename whose extension fits the content
 * type, e.g. voice.ogg audio/ogg), `model` and response_format=json;
 * the answer is {"text":"…"}.
 *
 * The endpoint is the provider of an agent's model (model/provider: base
 * URL and decrypted key), the model the agent's transcription_model. The
 * built-in parley/faq has no provider and cannot transcribe.
 *
 * No database connection is involved in transcribe_audio(); the key and
 * the audio are never logged or put in an error sentence. Thread-safe:
 * each call uses its own curl handle.
 */
#ifndef PARLEY_LLM_TRANSCRIBE_H
#define PARLEY_LLM_TRANSCRIBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

struct redact;
struct secret_key;

/* OpenAI's upload limit for whisper-1 (§5.3); larger audio is not sent. */
#define TRANSCRIBE_UPLOAD_MAX	(25u * 1024 * 1024)
/* A transcript longer than this is cut (at a character boundary). */
#define TRANSCRIBE_TEXT_MAX	(64u * 1024)

struct transcribe_req {
	const char		*base_url;	/* ".../v1" */
	const char		*api_key;	/* NULL or "": no Authorization */
	const char		*model;		/* "whisper-1", … */
	const unsigned char	*data;		/* the audio */
	size_t			 len;
	const char		*content_type;	/* as the provider said; "" */
	int			 timeout_ms;	/* per attempt; 0: 60000 */
	int			 max_retries;	/* retryable failures; 0: none */
};

enum transcribe_err {
	TRANSCRIBE_OK = 0,
	TRANSCRIBE_REFUSED,	/* 4xx (not 408/429), a bad request or key,
				   audio too large: trying again won't help */
	TRANSCRIBE_RETRY,	/* 5xx, 408, 429, timeout, network: it may
				   work later */
	TRANSCRIBE_BAD_RESPONSE, /* 2xx but not {"text": string} */
};

struct transcribe_result {
	enum transcribe_err	 err;
	int			 http_status;	/* last attempt's, 0: none */
	char			*text;		/* malloc'd on TRANSCRIBE_OK */
	char			 error[512];	/* a sentence otherwise */
	int64_t			 latency_ms;	/* all attempts */
	int			 attempts;
};

/* The endpoint of a model: where and with which key to transcribe. */
struct transcribe_endpoint {
	bool	 is_builtin;	/* parley/faq: no provider, cannot */
	char	*model_name;	/* the chat model's, malloc'd */
	char	*base_url;	/* malloc'd; NULL when built in */
	char	*api_key;	/* secret_plain_free'd by cleanup; NULL: none */
};

/*
 * The provider endpoint of the org's model model_id (0: the org's
 * default model). DB_NOT_FOUND when there is no such model (or no
 * default); DB_INVALID when the key cannot be decrypted with k. Always
 * call transcribe_endpoint_cleanup() after.
 */
enum db_status	 transcribe_endpoint_get(struct db *db,
		    const struct secret_key *k, int64_t org_id,
		    int64_t model_id, struct transcribe_endpoint *out)
		    __attribute__((warn_unused_result));
/* Frees the strings and wipes the key; safe on a zeroed struct. */
void		 transcribe_endpoint_cleanup(struct transcribe_endpoint *ep);

/*
 * Uploads req->data and fills *out (transcribe_result_cleanup after, in
 * every case). Retryable failures are tried again up to req->max_retries
 * times with a short backoff (Retry-After honoured, capped).
 */
enum transcribe_err transcribe_audio(const struct transcribe_req *req,
		    struct transcribe_result *out);
void		 transcribe_result_cleanup(struct transcribe_result *r);

/* --- pure pieces, exported for tests/unit/test_transcribe.c ----------- */

/*
 * The upload's filename and content type for a provider's content type
 * ("audio/ogg; codecs=opus" → "voice.ogg", "audio/ogg"); an unknown or
 * empty one is sent as a WhatsApp voice note is: voice.ogg, audio/ogg.
 * Both static strings.
 */
void		 transcribe_file_for(const char *content_type,
		    const char **filename, const char **mime);
/*
 * Judges one answer: status and body into out->err, out->text (2xx
 * {"text"}: malloc'd, control characters other than line breaks and tabs
 * dropped, cut at TRANSCRIBE_TEXT_MAX) or out->error (with upstream's
 * error.message for 4xx/5xx, control characters removed and the call's
 * secrets in rd redacted; rd may be NULL). Returns out->err; *may_retry
 * says whether another attempt could help.
 */
enum transcribe_err transcribe_judge(long status, const char *body,
		    size_t len, const struct redact *rd,
		    struct transcribe_result *out, bool *may_retry);
const char	*transcribe_err_str(enum transcribe_err e);

#endif
