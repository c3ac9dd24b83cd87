/*
 * working: the typing indicator, read receipts and ⏳ of a turn (see
 * working.h).
 */
#include "worker/working.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channels/channel.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define WORKING_EMOJI		"\xe2\x8f\xb3"	/* U+23F3 ⏳ */
#define THREAD_STACK		(512u * 1024)

struct working {
	pthread_mutex_t			 mu;
	pthread_cond_t			 cv;
	int				 refs;		/* caller + thread */
	bool				 quiet;		/* no more typing */
	bool				 ended;		/* working_end */
	bool				 first_done;
	const struct channel_ops	*ops;
	struct channel_creds		*creds;
	char				*to;
	char				*mid;
	bool				 typing, read, reaction, leftover;
	int64_t				 org_id, chat_id;
};

static void	*run(void *);
static void	 call(struct working *, const char *);
static void	 unref(struct working *);
static void	 deadline(struct timespec *, int);

/* Live indicator threads, for working_drain. */
static pthread_mutex_t	 live_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 live_cv = PTHREAD_COND_INITIALIZER;
static int		 live;

static void
deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* One provider call by name ("reaction", "unreaction", "typing",
 * "read"); failures only logged. */
static void
call(struct working *w, const char *what)
{
	struct send_outcome	 o;
	enum send_result	 sr;

	memset(&o, 0, sizeof(o));
	if (str_eq(what, "reaction") || str_eq(what, "unreaction"))
		sr = w->ops->send_reaction(w->creds, w->to, w->mid,
		    str_eq(what, "reaction") ? WORKING_EMOJI : "", &o);
	else if (str_eq(what, "typing"))
		sr = w->ops->send_typing(w->creds, w->mid, &o);
	else
		sr = w->ops->send_read(w->creds, w->mid, &o);
	if (sr != SEND_OK)
		log_debug("working", "msg=\"indicator not shown\" what=%s "
		    "org=%" PRId64 " chat=%" PRId64 " http=%d error=\"%s\"",
		    what, w->org_id, w->chat_id, o.http_status, o.error_text);
}

static void
unref(struct working *w)
{
	bool	 last;

	pthread_mutex_lock(&w->mu);
	last = --w->refs == 0;
	pthread_mutex_unlock(&w->mu);
	if (!last)
		return;
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	channel_creds_free(w->creds);
	free(w->to);
	free(w->mid);
	free(w);
}

static void *
run(void *arg)
{
	struct working	*w = arg;
	struct timespec	 ts;

	if (w->reaction && !w->leftover)
		call(w, "reaction");
	if (w->typing)
		call(w, "typing");
	else if (w->read)
		call(w, "read");

	pthread_mutex_lock(&w->mu);
	w->first_done = true;
	pthread_cond_broadcast(&w->cv);
	while (!w->ended) {
		if (w->quiet || !w->typing) {
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		deadline(&ts, WORKING_REFRESH_S * 1000);
		if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT &&
		    !w->quiet && !w->ended) {
			pthread_mutex_unlock(&w->mu);
			call(w, "typing");
			pthread_mutex_lock(&w->mu);
		}
	}
	pthread_mutex_unlock(&w->mu);
	if (w->reaction)
		call(w, "unreaction");
	unref(w);

	pthread_mutex_lock(&live_mu);
	if (--live == 0)
		pthread_cond_broadcast(&live_cv);
	pthread_mutex_unlock(&live_mu);
	return NULL;
}

struct working *
working_start(const struct working_req *req)
{
	struct working	*w;
	pthread_attr_t	 attr;
	pthread_t	 t;
	int		 rc;

	if (req->ops == NULL || req->creds == NULL ||
	    req->message_id == NULL || req->message_id[0] == '\0')
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->ops = req->ops;
	w->leftover = req->leftover;
	w->typing = !req->leftover && req->typing &&
	    req->ops->send_typing != NULL;
	/* The typing indicator marks the message read by itself. */
	w->read = !req->leftover && !w->typing && req->read &&
	    req->ops->send_read != NULL;
	w->reaction = req->reaction && req->ops->send_reaction != NULL &&
	    req->to != NULL && req->to[0] != '\0';
	if (!w->typing && !w->read && !w->reaction) {
		free(w);
		return NULL;
	}
	w->creds = channel_creds_dup(req->creds);
	w->creds->timeout_ms = WORKING_TIMEOUT_MS;
	w->to = xstrdup(req->to != NULL ? req->to : "");
	w->mid = xstrdup(req->message_id);
	w->org_id = req->org_id;
	w->chat_id = req->chat_id;
	w->refs = 2;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);

	pthread_mutex_lock(&live_mu);
	live++;
	pthread_mutex_unlock(&live_mu);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, run, w);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		log_warn("working", "msg=\"no indicator thread\" error=%d", rc);
		pthread_mutex_lock(&live_mu);
		if (--live == 0)
			pthread_cond_broadcast(&live_cv);
		pthread_mutex_unlock(&live_mu);
		w->refs = 1;
		unref(w);
		return NULL;
	}
	return w;
}

void
working_quiet(struct working *w)
{
	struct timespec	 ts;

	if (w == NULL)
		return;
	deadline(&ts, WORKING_QUIET_WAIT_MS);
	pthread_mutex_lock(&w->mu);
	w->quiet = true;
	pthread_cond_broadcast(&w->cv);
	while (!w->first_done)
		if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&w->mu);
}

void
working_end(struct working *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->quiet = true;
	w->ended = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	unref(w);
}

void
working_drain(int timeout_ms)
{
	struct timespec	 ts;

	deadline(&ts, timeout_ms);
	pthread_mutex_lock(&live_mu);
	while (live > 0)
		if (pthread_cond_timedwait(&live_cv, &live_mu, &ts) ==
		    ETIMEDOUT)
			break;
	if (live > 0)
		log_warn("working", "msg=\"indicator threads still running "
		    "at shutdown\" n=%d", live);
	pthread_mutex_unlock(&live_mu);
}
