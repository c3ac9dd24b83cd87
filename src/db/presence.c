/*
 * presence: which processes are serving a database (see db.h).
 *
 * DESIGN: every `parley serve` holds a session-level SHARED advisory lock
 * on one fixed key, on a connection of its own, for as long as it runs;
 * `parley key rotate` takes the same key EXCLUSIVE (without waiting) for
 * the whole rotation. So a rotation cannot start while any server, on any
 * machine, holds the database, and a server cannot start while a rotation
 * runs. PostgreSQL drops the lock with the connection, so a crashed or
 * killed server never leaves a stale mark (a heartbeat row would, for its
 * timeout, and would need a clock agreement between machines).
 *
 * Only a direct session can hold such a lock: behind a transaction-mode
 * pooler (PgBouncer pool_mode=transaction) the lock would land on an
 * arbitrary server connection. Point PARLEY_DATABASE_URL at PostgreSQL
 * itself or a session-mode pool (as migrations already require).
 *
 * The holder is a thread: it waits on the connection's socket, and when
 * the connection is lost (a PostgreSQL restart) it reconnects every second
 * and takes the lock again. If a rotation got in meanwhile, the retake
 * waits for it to finish, and then the on_retake callback (app/: checks the
 * master key still opens the database's secrets) says what happened.
 */
#include "db/db.h"
#include "db/db_internal.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/xmalloc.h"

/* "parley" + 0x0002 (migrations use 0x0001). */
#define PRESENCE_KEY		"8097879414873325570"
#define PRESENCE_RETRY_MS	1000

struct db_presence {
	char		*conninfo;
	PGconn		*conn;
	pthread_t	 thread;
	bool		 started;
	atomic_bool	 stop;
	int		 wake[2];	/* self-pipe: stop at once */
	db_presence_fn	 on_retake;
	void		*arg;
};

static int	 take(struct db_presence *, bool *);
static void	*holder(void *);
static void	 drop(struct db_presence *);

/* Connects when needed and takes the shared lock: 1 held, 0 a rotation
 * holds the key, -1 the database cannot be reached. */
static int
take(struct db_presence *p, bool *reconnected)
{
	const char	*params[1] = { PRESENCE_KEY };
	PGresult	*r;
	int		 got;

	*reconnected = false;
	if (p->conn == NULL || PQstatus(p->conn) != CONNECTION_OK) {
		drop(p);
		p->conn = PQconnectdb(p->conninfo);
		if (PQstatus(p->conn) != CONNECTION_OK) {
			drop(p);
			return -1;
		}
		*reconnected = true;
	}
	r = PQexecParams(p->conn,
	    "SELECT pg_try_advisory_lock_shared($1::bigint)",
	    1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		drop(p);
		return -1;
	}
	got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return got;
}

static void
drop(struct db_presence *p)
{
	if (p->conn != NULL)
		PQfinish(p->conn);
	p->conn = NULL;
}

static void *
holder(void *arg)
{
	struct db_presence	*p = arg;
	struct pollfd		 pfd[2];
	bool			 held = true, reconnected, warned = false;
	int			 rc;

	while (!atomic_load(&p->stop)) {
		if (!held) {
			rc = take(p, &reconnected);
			if (rc == 1) {
				held = true;
				warned = false;
				log_info("db", "msg=\"serve lock held again\"");
				if (p->on_retake != NULL)
					p->on_retake(p->arg);
				continue;
			}
			if (rc == 0 && !warned) {
				log_warn("db", "msg=\"a key rotation holds the "
				    "database; waiting for it\"");
				warned = true;
			}
			pfd[0].fd = p->wake[0];
			pfd[0].events = POLLIN;
			(void)poll(pfd, 1, PRESENCE_RETRY_MS);
			continue;
		}
		pfd[0].fd = p->wake[0];
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		pfd[1].fd = PQsocket(p->conn);
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		rc = poll(pfd, 2, -1);
		if (rc < 0 && errno != EINTR)
			break;
		if (rc <= 0 || pfd[0].revents != 0)
			continue;
		/* Input on an idle session: a notice, or the end of it. */
		if (PQconsumeInput(p->conn) == 0 ||
		    PQstatus(p->conn) != CONNECTION_OK) {
			log_warn("db", "msg=\"lost the connection holding "
			    "the serve lock; reconnecting\"");
			drop(p);
			held = false;
		}
	}
	return NULL;
}

struct db_presence *
db_presence_start(const char *conninfo, db_presence_fn on_retake, void *arg,
    char *err, size_t errlen)
{
	struct db_presence	*p = xcalloc(1, sizeof(*p));
	bool			 reconnected;
	int			 rc;

	p->conninfo = xstrdup(conninfo);
	p->on_retake = on_retake;
	p->arg = arg;
	p->wake[0] = p->wake[1] = -1;
	atomic_init(&p->stop, false);
	rc = take(p, &reconnected);
	if (rc != 1) {
		snprintf(err, errlen, rc == 0 ?
		    "a master key rotation (parley key rotate) is running on "
		    "this database; start the server again when it has "
		    "finished" : "cannot connect to PostgreSQL to mark this "
		    "server as using the database");
		goto fail;
	}
	if (pipe(p->wake) != 0) {
		snprintf(err, errlen, "cannot create a pipe: %s",
		    strerror(errno));
		goto fail;
	}
	if (pthread_create(&p->thread, NULL, holder, p) != 0) {
		snprintf(err, errlen, "cannot start the presence thread");
		goto fail;
	}
	p->started = true;
	return p;
fail:
	db_presence_stop(p);
	return NULL;
}

void
db_presence_stop(struct db_presence *p)
{
	if (p == NULL)
		return;
	if (p->started) {
		atomic_store(&p->stop, true);
		if (write(p->wake[1], "x", 1) < 0) {
			/* The thread still sees stop within a retry period. */
		}
		pthread_join(p->thread, NULL);
	}
	if (p->wake[0] != -1)
		close(p->wake[0]);
	if (p->wake[1] != -1)
		close(p->wake[1]);
	drop(p);	/* the lock goes with the session */
	free(p->conninfo);
	free(p);
}

enum db_status
db_presence_exclusive(struct db *db, bool *got, int64_t *holders)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*got = false;
	*holders = 0;
	st = db_query(db, &res,
	    "SELECT pg_try_advisory_lock($1::bigint)",
	    DB_TEXT(PRESENCE_KEY), DB_END);
	if (st == DB_OK)
		*got = db_res_bool(&res, 0, 0);
	db_res_clear(&res);
	if (st != DB_OK || *got)
		return st;
	/* A bigint key shows as (classid, objid) = (high, low), objsubid 1. */
	st = db_query(db, &res,
	    "SELECT count(DISTINCT pid) FROM pg_locks"
	    " WHERE locktype = 'advisory' AND granted AND objsubid = 1"
	    "   AND classid::bigint = ($1::bigint >> 32)"
	    "   AND objid::bigint = ($1::bigint & 4294967295)",
	    DB_TEXT(PRESENCE_KEY), DB_END);
	if (st == DB_OK)
		*holders = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

void
db_presence_exclusive_release(struct db *db)
{
	if (db_exec(db, "SELECT pg_advisory_unlock($1::bigint)",
	    DB_TEXT(PRESENCE_KEY), DB_END) != DB_OK)
		db->broken = true;	/* the lock goes with the session */
}
