/*
 * send: the "send" job (see send.h).
 *
 * Thread-safe: no shared state; everything lives in the run.
 */
#include "worker/send.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "chat/outbox.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/context.h"
#include "util/log.h"
#include "worker/queue.h"

enum job_result
send_job_run(struct worker_ctx *w, const struct job *job, char *err,
    size_t errlen)
{
	struct outbox_send	 s;
	struct arena		*a;
	enum outbox_result	 r;
	enum job_result		 jr = JOB_DONE;
	int64_t			 mid = queue_payload_message(job);

	if (mid == 0) {
		snprintf(err, errlen, "The payload names no message_id.");
		return JOB_FAIL;
	}
	if (!worker_lease_ok(w)) {
		snprintf(err, errlen, "The job's lease was lost.");
		return JOB_RETRY;
	}
	a = arena_new();
	memset(&s, 0, sizeof(s));
	s.app = w->app;
	s.a = a;
	s.org_id = job->org_id;
	s.message_id = mid;
	s.recover = true;	/* this job is the row's only sender now */
	r = outbox_send(&s);
	switch (r) {
	case OUTBOX_LATER:
		snprintf(err, errlen, "The provider asked to try later (HTTP "
		    "%d): %s", s.o.http_status, s.o.error_text);
		jr = JOB_RETRY;
		break;
	case OUTBOX_UNAVAILABLE:
		snprintf(err, errlen, "The database is unavailable.");
		jr = JOB_RETRY;
		break;
	default:
		break;
	}
	if (r != OUTBOX_GONE)
		log_info("send", "msg=\"message sent by its job\" org=%" PRId64
		    " message=%" PRId64 " result=%s", job->org_id, mid,
		    outbox_result_str(r));
	arena_free(a);
	return jr;
}

void
send_job_dead(struct worker_ctx *w, const struct job *job, const char *why)
{
	struct db	*db;
	struct arena	*a;
	int64_t		 mid = queue_payload_message(job);
	enum db_status	 st;

	if (mid == 0 || (db = db_acquire(w->db)) == NULL)
		return;
	a = arena_new();
	st = outbox_give_up_one(db, job->org_id, mid, arena_printf(a, "Not "
	    "sent: the send job gave up (%s)", why != NULL && why[0] != '\0' ?
	    why : "no reason given"));
	if (st != DB_OK && st != DB_NOT_FOUND)
		log_warn("send", "msg=\"dead job's message not marked\" "
		    "org=%" PRId64 " message=%" PRId64 " status=%s",
		    job->org_id, mid, db_status_str(st));
	arena_free(a);
	db_release(db);
}
