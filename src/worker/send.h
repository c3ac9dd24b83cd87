/*
 * send: the "send" job (QUEUE_KIND_SEND, payload {"message_id": N}): one
 * outbound message that is not a reply part (a person's reply, a tool's
 * whatsapp.send, a Resend) through the outbox's send sequence
 * (chat/outbox.h outbox_send).
 *
 * Each such message is recorded with this job due OUTBOX_SAFETY_S later
 * and tried at once by whoever recorded it; a "try later" moves the job
 * to the provider's backoff. So the job finds the row queued (the first
 * try was asked to wait, or never happened: it sends it), sending (the
 * first try was interrupted: delivery unknown, never re-sent) or done
 * (nothing to do). "Try later" again is JOB_RETRY, with the queue's
 * backoff; when the job dies, the message fails with the reason and can
 * be resent.
 */
#ifndef PARLEY_WORKER_SEND_H
#define PARLEY_WORKER_SEND_H

#include <stddef.h>

#include "worker/pool.h"

enum job_result	 send_job_run(struct worker_ctx *w, const struct job *job,
		    char *err, size_t errlen);
void		 send_job_dead(struct worker_ctx *w, const struct job *job,
		    const char *why);

#endif
