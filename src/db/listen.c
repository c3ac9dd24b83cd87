/*
 * listen: a dedicated connection that LISTENs on one channel, for the reply
 * pool's wake-ups (see db.h). Not pooled: it sits in LISTEN for the life of
 * the process, so it must reach PostgreSQL directly or through a session
 * pooler, never a transaction pooler (app/jobs.c decides). It connects
 * with the pool's defaults (db_connparams: connect_timeout, TCP liveness),
 * so a lost or unreachable server never blocks a wait for long. A lost
 * connection is re-made on the next wait (with a multi-host string, to
 * whichever server is the primary now); meanwhile waits return -1 after
 * their timeout so callers fall back to polling. A wait that (re)connects
 * answers 1: notifications sent while nobody listened are lost, so the
 * caller should look for work.
 */
#include "db/db.h"
#include "db/db_internal.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"
#include "util/xmalloc.h"

struct db_listener {
	struct db_connparams	 cp;
	char			*listen_sql;	/* "LISTEN <channel>", checked */
	PGconn			*conn;
	bool			 is_new;	/* connected since the last wait */
};

static bool	ensure(struct db_listener *);
static void	ignore_notice(void *, const char *);

struct db_listener *
db_listener_new(const char *conninfo, const char *channel)
{
	struct db_listener	*l;

	/* An identifier cannot be a parameter: accept only [a-z_]. */
	if (channel == NULL || *channel == '\0' ||
	    strspn(channel, "abcdefghijklmnopqrstuvwxyz_") != strlen(channel))
		return NULL;
	l = xcalloc(1, sizeof(*l));
	if (conninfo == NULL || !db_connparams_init(&l->cp, conninfo)) {
		free(l);
		return NULL;
	}
	l->listen_sql = xasprintf("LISTEN %s", channel);
	return l;
}

static bool
ensure(struct db_listener *l)
{
	PGresult	*r;
	bool		 ok;

	if (l->conn != NULL && PQstatus(l->conn) == CONNECTION_OK)
		return true;
	if (l->conn != NULL)
		PQfinish(l->conn);
	l->conn = PQconnectdbParams(l->cp.keys, l->cp.vals, 0);
	if (PQstatus(l->conn) != CONNECTION_OK) {
		PQfinish(l->conn);
		l->conn = NULL;
		return false;
	}
	/* "terminating connection due to …" arrives as a notice: the lost
	 * connection is what we act on, not libpq's printing of it. */
	PQsetNoticeProcessor(l->conn, ignore_notice, NULL);
	r = PQexec(l->conn, l->listen_sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok) {
		PQfinish(l->conn);
		l->conn = NULL;
	}
	l->is_new = ok;
	return ok;
}

static void
ignore_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

int
db_listener_wait(struct db_listener *l, int timeout_ms)
{
	struct pollfd	 pfd;
	PGnotify	*n;
	int		 got = 0, rc;

	if (!ensure(l)) {
		poll(NULL, 0, timeout_ms);
		return -1;
	}
	if (l->is_new) {
		l->is_new = false;
		return 1;
	}
	/* Notifications may already be buffered from the last read. */
	if (PQconsumeInput(l->conn) == 0)
		goto lost;
	while ((n = PQnotifies(l->conn)) != NULL) {
		got = 1;
		PQfreemem(n);
	}
	if (got)
		return 1;
	pfd.fd = PQsocket(l->conn);
	pfd.events = POLLIN;
	pfd.revents = 0;
	rc = poll(&pfd, 1, timeout_ms);
	if (rc <= 0)
		return 0;
	if (PQconsumeInput(l->conn) == 0)
		goto lost;
	while ((n = PQnotifies(l->conn)) != NULL) {
		got = 1;
		PQfreemem(n);
	}
	return got;
lost:
	PQfinish(l->conn);
	l->conn = NULL;
	return -1;
}

void
db_listener_free(struct db_listener *l)
{
	if (l == NULL)
		return;
	if (l->conn != NULL)
		PQfinish(l->conn);
	db_connparams_cleanup(&l->cp);
	free(l->listen_sql);
	free(l);
}
