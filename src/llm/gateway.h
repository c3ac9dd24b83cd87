/*
 * gateway: the one path every model call takes, from the WhatsApp reply
 * pool and from REST clients alike. It loads the agent (or a bare model),
 * renders the agent's system prompt, offers only the agent's enabled
 * plugins as tools, calls the model (OpenAI-compatible client or the
 * built-in parley/faq), runs tool calls in a bounded loop, and records the
 * call (model, tokens, latency, tool calls and results, error) in
 * llm_calls.
 *
 * It holds no database connection while the model is thinking: it
 * acquires one from the pool to load, releases it, and acquires again to
 * run a tool or record the call.
 *
 * A caller that loads other things in the same transaction (a WhatsApp
 * turn, worker/turn.c) runs the phases itself: gateway_load on its own
 * connection, gateway_run with none held, and with defer_record the
 * llm_calls row written by gateway_record in the transaction that records
 * the answer. A call can be cancelled (cancelled() true): the model's
 * request is aborted within about a second and the call ends
 * GW_CANCELLED.
 */
#ifndef PARLEY_LLM_GATEWAY_H
#define PARLEY_LLM_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "llm/client.h"

struct app;
struct agent;
struct db;
struct db_pool;
struct secret_key;

#define GATEWAY_MAX_ROUNDS	8

struct gateway_req {
	struct db_pool			*pool;
	const struct secret_key		*key;
	int64_t				 org_id;
	int64_t				 agent_id;	/* 0: bare model */
	/* agent_id's row when the caller has just read it (in this org):
	 * saves the gateway reading it again; NULL: the gateway reads it.
	 * Its strings must outlive the call. */
	const struct agent		*agent;
	int64_t				 model_id;	/* with agent_id 0 */
	/* The conversation (OpenAI messages: user/assistant/tool...). A
	 * caller's own system messages are kept after the agent's prompt. */
	const cJSON			*messages;
	const char			*contact_name;	/* {{contactName}} */
	const char			*source;	/* "api" | "reply" | "panel" */
	bool				 has_temperature;	/* override */
	double				 temperature;
	int				 max_tokens;	/* override; 0: agent's */
	llm_delta_fn			 on_delta;	/* stream answer text */
	void				*delta_ctx;
	int				 max_rounds;	/* 0: GATEWAY_MAX_ROUNDS */
	int				 timeout_ms;	/* per model call; 0: 60 s */
	/* The WhatsApp chat being answered (reply jobs), for the whatsapp.*
	 * tools; 0: none. app gives them the config (provider roots). */
	int64_t				 chat_id;
	int64_t				 channel_id;
	const struct app		*app;
	/* Asked while the model works (often, from the same thread): true
	 * aborts the call (GW_CANCELLED). NULL: never. */
	bool				(*cancelled)(void *ctx);
	void				*cancel_ctx;
	/* 0: the client's default retries within the call; -1: none (the
	 * caller waits failures out itself). */
	int				 max_retries;
	/* true: the llm_calls row is left to gateway_record. */
	bool				 defer_record;
};

enum gateway_err {
	GW_OK = 0,
	GW_NOT_FOUND,		/* agent or model not in this org */
	GW_BAD_REQUEST,		/* messages unusable, or upstream said 400 */
	GW_UPSTREAM,		/* provider failed (5xx, 429, auth, network) */
	GW_TIMEOUT,		/* provider did not answer in time */
	GW_UNAVAILABLE,		/* our database */
	GW_CANCELLED,		/* the caller's cancelled() said so */
};

struct gateway_result {
	enum gateway_err	 err;
	char			 error[512];	/* a sentence for the caller */
	char			*content;	/* final answer (malloc'd) */
	char			*finish_reason;	/* malloc'd: stop|length|… */
	char			*model_name;	/* malloc'd: what answered */
	int			 tokens_in;
	int			 tokens_out;
	int64_t			 latency_ms;
	int			 rounds;
	cJSON			*tool_calls;	/* [{name, arguments, result,
						   error}] (owned) */
	bool			 handoff;	/* handoff.request ran */
	int64_t			 llm_call_id;	/* the recorded row, 0: none
						   (with defer_record: the
						   row gateway_record writes) */
	int			 retry_after_ms;	/* the provider's
						   Retry-After on the last
						   failure, 0: none */
	/* with defer_record: the row still to write (gateway_record) */
	bool			 record_pending;
	int64_t			 rec_org_id;
	int64_t			 rec_agent_id;
	int64_t			 rec_model_id;
	const char		*rec_source;	/* static */
	char			*rec_error;	/* malloc'd, NULL: none */
	cJSON			*rec_input;	/* owned: llm/input.h */
};

struct gateway_call;

/* Runs the call; always fills *out (gateway_result_cleanup after). */
enum gateway_err gateway_complete(const struct gateway_req *in,
		    struct gateway_result *out);
/*
 * Phase 1 alone, on db (the caller's connection, in its transaction if it
 * holds one): *call is the loaded call (gateway_call_free), NULL on
 * failure. Fills *out like gateway_complete (cleanup after either way).
 * in must outlive *call.
 */
enum gateway_err gateway_load(const struct gateway_req *in, struct db *db,
		    struct gateway_call **call, struct gateway_result *out);
/* The model and its tools (no connection held), then the record unless
 * in->defer_record. Frees call. */
enum gateway_err gateway_run(struct gateway_call *call,
		    struct gateway_result *out);
/*
 * Whether the loaded call's model takes images (org_models.
 * supports_vision; never the built-in model), so the caller may turn the
 * messages' images into image parts before gateway_run: in->messages is
 * read only when the call runs.
 */
bool		 gateway_call_vision(const struct gateway_call *call);
/* A loaded call never run (the caller changed its mind). NULL: no-op. */
void		 gateway_call_free(struct gateway_call *call);
/*
 * The llm_calls row a defer_record call left (r->record_pending), on db;
 * DB_OK and nothing to do when none is pending.
 */
enum db_status	 gateway_record(struct db *db, struct gateway_result *r)
		    __attribute__((warn_unused_result));
void		 gateway_result_cleanup(struct gateway_result *r);

#endif
