/*
 * fee: the "fee" job (see fee.h).
 *
 * Thread-safe: no shared state; everything lives in the run.
 */
#include "worker/fee.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "chat/fees.h"
#include "chat/outbox.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/context.h"
#include "util/log.h"
#include "worker/queue.h"

enum job_result
fee_job_run(struct worker_ctx *w, const struct job *job, char *err,
    size_t errlen)
{
	struct outbox_channel	 ch;
	struct send_outcome	 o;
	struct fee		 fee;
	struct arena		*a;
	struct db		*db;
	enum send_result	 sr;
	enum db_status		 st;
	enum job_result		 jr = JOB_DONE;
	int64_t			 mid = queue_payload_message(job), channel_id;
	char			*pid = NULL, amount[32], currency[8];
	bool			 last = job->attempts >= job->max_attempts;

	if (mid == 0) {
		snprintf(err, errlen, "The payload names no message_id.");
		return JOB_FAIL;
	}
	memset(&ch, 0, sizeof(ch));
	a = arena_new();
	if ((db = db_acquire(w->db)) == NULL) {
		snprintf(err, errlen, "The database is unavailable.");
		jr = JOB_RETRY;
		goto out;
	}
	st = fees_message(db, a, job->org_id, mid, &channel_id, &pid);
	if (st == DB_OK)
		st = outbox_channel_open(w->app, db, a, job->org_id,
		    channel_id, &ch);
	db_release(db);
	db = NULL;
	if (st == DB_NOT_FOUND || st == DB_INVALID || (st == DB_OK &&
	    (ch.ops->fetch_price == NULL || pid[0] == '\0')))
		goto out;	/* gone, or nothing to ask: done */
	if (st != DB_OK) {
		snprintf(err, errlen, "The database is unavailable.");
		jr = JOB_RETRY;
		goto out;
	}
	sr = ch.ops->fetch_price(&ch.creds, pid, amount, sizeof(amount),
	    currency, sizeof(currency), &o);
	if (sr == SEND_FAILED) {
		log_info("fee", "msg=\"price not available\" org=%" PRId64
		    " message=%" PRId64 " http=%d error=\"%s\"", job->org_id,
		    mid, o.http_status, o.error_text);
		goto out;
	}
	if (sr == SEND_RETRY || amount[0] == '\0') {
		if (last) {
			log_info("fee", "msg=\"no price after the last try\" "
			    "org=%" PRId64 " message=%" PRId64, job->org_id,
			    mid);
			goto out;
		}
		snprintf(err, errlen, "%s", sr == SEND_RETRY ? o.error_text :
		    "The provider has no price for the message yet.");
		jr = JOB_RETRY;
		goto out;
	}
	memset(&fee, 0, sizeof(fee));
	fee.billable = -1;
	fee.amount = amount;
	fee.currency = currency;
	if ((db = db_acquire(w->db)) == NULL) {
		snprintf(err, errlen, "The database is unavailable.");
		jr = JOB_RETRY;
		goto out;
	}
	st = fees_record(db, job->org_id, channel_id, pid, &fee);
	if (st == DB_UNAVAILABLE) {
		snprintf(err, errlen, "The database is unavailable.");
		jr = JOB_RETRY;
	}
out:
	if (db != NULL)
		db_release(db);
	outbox_channel_close(&ch);
	arena_free(a);
	return jr;
}
