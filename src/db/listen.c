/*
 * listen: a dedicated connection that LISTENs on one channel, for the reply
 * pool's wake-ups (see db.h). Not pooled: it sits in LISTEN for the life of
 * the process. A lost connection is re-made on the next wait; meanwhile
 * waits return 0 after their timeout so callers fall back to polling.
 */
#include "db/db.h"
#include "db/db_internal.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"
#include "util/xmalloc.h"

struct db_listener {
	char	*conninfo;
	char	*listen_sql;	/* "LISTEN <channel>", channel checked */
	PGconn	*conn;
};

static bool	ensure(struct db_listener *);

struct db_listener *
db_listener_new(const char *conninfo, const char *channel)
{
	struct db_listener	*l;

	/* An identifier cannot be a parameter: accept only [a-z_]. */
	if (channel == NULL || *channel == '\0' ||
	    strspn(channel, "abcdefghijklmnopqrstuvwxyz_") != strlen(channel))
		return NULL;
	l = xcalloc(1, sizeof(*l));
	l->conninfo = xstrdup(conninfo);
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
	l->conn = PQconnectdb(l->conninfo);
	if (PQstatus(l->conn) != CONNECTION_OK) {
		PQfinish(l->conn);
		l->conn = NULL;
		return false;
	}
	r = PQexec(l->conn, l->listen_sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok) {
		PQfinish(l->conn);
		l->conn = NULL;
	}
	return ok;
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
	free(l->conninfo);
	free(l->listen_sql);
	free(l);
}
