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


/* The handler of QUEUE_KIND_REPLY jobs (w->app is the struct app). */
enum job_result	 reply_job_run(struct worker_ctx *w, const struct job *job,
		    char *err, size_t errlen);
/* Its last word when the job is about to be dead (worker/pool.h): the
 * parts it could not send fail with why, so they can be resent. */
void		 reply_job_dead(struct worker_ctx *w, const struct job *job,
		    const char *why);

#endif
