/*
 * reply: the "reply" job: answer one inbound WhatsApp message.
 *
 * Payload {"message_id": N}. Load the message, its chat, channel and agent
 * (the chat's link, else the channel's default agent) and the thread;
 * build the context (CHAT: the thread's history; TASK: the message alone);
 * call the gateway (llm/gateway.h) holding no database connection; record
 * the answer as outbound parts split to the channel's limit
 * (channels/split.h), each before it is sent; send them in order through
 * the channel's sender (channels/channel.h) and mark each with the
 * provider's id. A retried or re-claimed job finds the parts it already
 * recorded and never re-sends one the provider accepted (DESIGN.md
 * invariant 2). Provider 429/5xx/timeouts → JOB_RETRY with backoff; a 4xx
 * that will not change fails that part with the provider's error.
 */
#ifndef PARLEY_WORKER_REPLY_H
#define PARLEY_WORKER_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "worker/pool.h"

struct app;
struct arena;
struct channel_creds;
struct channel_secrets;

/* The job kind and its handler (w->app is the struct app). */
#define REPLY_JOB_KIND	"reply"

enum job_result	 reply_job_run(struct worker_ctx *w, const struct job *job,
		    char *err, size_t errlen);

/*
 * The credentials of the org's channel for one send (the reply job's and
 * the whatsapp.send tool's): provider roots from app's config, identity
 * from the channel row, secrets opened into *secrets (the caller calls
 * channel_secrets_free after the send; creds point into it and into a).
 * creds->kind is the channel's kind. DB_NOT_FOUND: not this org's channel.
 */
enum db_status	 reply_channel_creds(const struct app *app, struct db *db,
		    struct arena *a, int64_t org_id, int64_t channel_id,
		    struct channel_creds *creds,
		    struct channel_secrets *secrets)
		    __attribute__((warn_unused_result));

#endif
