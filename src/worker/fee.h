/*
 * fee: the "fee" job ({"message_id": outbound id}): asks the provider's
 * API what WhatsApp cost for one sent message, where the API states it
 * (Twilio's Message resource: price, price_unit; channels/channel.h
 * fetch_price), and records it (chat/fees.h). The Twilio status webhook
 * enqueues it once the message is delivered or read. Twilio fills the
 * price in some time after the send: while it is still null the job
 * tries again with the queue's backoff, and after FEE_MAX_ATTEMPTS it
 * ends quietly (nothing is wrong with the message; its price is only
 * unknown). No connection is held while the provider answers.
 */
#ifndef PARLEY_WORKER_FEE_H
#define PARLEY_WORKER_FEE_H

#include <stddef.h>

#include "worker/pool.h"

/* Tries in all (the queue's backoff: about 17 minutes). */
#define FEE_MAX_ATTEMPTS	10

enum job_result	 fee_job_run(struct worker_ctx *w, const struct job *job,
		    char *err, size_t errlen);

#endif
