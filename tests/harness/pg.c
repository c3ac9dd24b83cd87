/*
 * tests/harness/pg.c: throwaway PostgreSQL clusters for integration tests.
 *
 * Each hpg lives in its own mkdtemp directory under /tmp (mode 0755 so the
 * unprivileged server user can reach it when the tests run as root) and
 * listens on a free 127.0.0.1 port as well as its socket. The cluster is
 * run by db_embedded_start(), the same code `make run` uses, so the tests
 * exercise it too.
 *
 * Clean-up: every started hpg is remembered, and an atexit handler stops
 * and deletes whatever a failing test left behind. The handler only acts
 * in the process that started the cluster, so a forked test child that
 * calls exit() cannot stop its parent's cluster.
 *
 * Not thread-safe: call from the test's main thread.
 */
#include "harness/harness.h"
#include "harness/internal.h"

#include "util/time.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <libpq-fe.h>

#include "db/db.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define HPG_MAX_LIVE	8
#define HPG_MAX_DEPTH	64

static struct hpg	*live[HPG_MAX_LIVE];
static pid_t		 live_pid;
static bool		 has_atexit;

static bool	 start_cluster(struct hpg *, char *, size_t);
static void	 remember(struct hpg *);
static void	 forget(struct hpg *);
static void	 cleanup_at_exit(void);
static void	 remove_tree(const char *, int);
static void	 ignore_notice(void *, const char *);
static char	*vformat(const char *, va_list);

void
hpg_start(struct hpg *pg)
{
	char	 err[512];

	memset(pg, 0, sizeof(*pg));
	str_copy(pg->dir, "/tmp/parley-test-XXXXXX", sizeof(pg->dir));
	if (mkdtemp(pg->dir) == NULL)
		ck_abort_msg("hpg_start: mkdtemp: %s", strerror(errno));
	/* The server user must be able to enter it when we are root. */
	if (chmod(pg->dir, 0755) != 0)
		ck_abort_msg("hpg_start: chmod %s: %s", pg->dir,
		    strerror(errno));
	remember(pg);
	pg->port = hfree_port();
	if (!start_cluster(pg, err, sizeof(err)))
		ck_abort_msg("hpg_start: %s", err);
}

void
hpg_stop(struct hpg *pg)
{
	db_embedded_stop(pg->embedded);
	pg->embedded = NULL;
}

void
hpg_restart(struct hpg *pg)
{
	char	 err[512];

	hpg_stop(pg);
	if (!start_cluster(pg, err, sizeof(err)))
		ck_abort_msg("hpg_restart: %s", err);
}

void
hpg_destroy(struct hpg *pg)
{
	hpg_stop(pg);
	if (pg->dir[0] != '\0')
		remove_tree(pg->dir, 0);
	pg->dir[0] = '\0';
	forget(pg);
}

char *
hpg_sql(struct hpg *pg, const char *sql)
{
	PGconn		*conn;
	PGresult	*r = NULL;
	char		*ci;
	char		*out = NULL;

	ci = xasprintf("%s connect_timeout=10", pg->conninfo);
	conn = PQconnectdb(ci);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "hpg_sql: %s", PQerrorMessage(conn));
		goto out;
	}
	PQsetNoticeProcessor(conn, ignore_notice, NULL);
	r = PQexec(conn, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK &&
	    PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "hpg_sql: %s: %s", sql, PQerrorMessage(conn));
		goto out;
	}
	if (PQntuples(r) > 0 && PQnfields(r) > 0)
		out = xstrdup(PQgetvalue(r, 0, 0));
	else
		out = xstrdup("");
out:
	PQclear(r);
	PQfinish(conn);
	free(ci);
	return out;
}

int64_t
hpg_sql_int(struct hpg *pg, const char *sql)
{
	char	*s = hpg_sql(pg, sql);
	int64_t	 v = -1;

	if (s == NULL || !str_to_i64(s, &v))
		v = -1;
	free(s);
	return v;
}

void
hpg_track(struct hpg *pg)
{
	remember(pg);
}

static bool
start_cluster(struct hpg *pg, char *err, size_t errlen)
{
	pg->embedded = db_embedded_start(pg->dir, pg->port, pg->conninfo,
	    sizeof(pg->conninfo), err, errlen);
	return pg->embedded != NULL;
}

static void
remember(struct hpg *pg)
{
	if (!has_atexit) {
		has_atexit = true;
		live_pid = getpid();
		atexit(cleanup_at_exit);
	}
	for (int i = 0; i < HPG_MAX_LIVE; i++) {
		if (live[i] == NULL) {
			live[i] = pg;
			return;
		}
	}
}

static void
forget(struct hpg *pg)
{
	for (int i = 0; i < HPG_MAX_LIVE; i++)
		if (live[i] == pg)
			live[i] = NULL;
}

static void
cleanup_at_exit(void)
{
	if (getpid() != live_pid)
		return;
	for (int i = 0; i < HPG_MAX_LIVE; i++)
		if (live[i] != NULL)
			hpg_destroy(live[i]);
}

/* rm -rf without following symbolic links (the tree is ours). */
static void
remove_tree(const char *path, int depth)
{
	struct stat	 sb;
	struct dirent	*de;
	DIR		*d;
	char		*child;

	if (lstat(path, &sb) != 0)
		return;
	if (S_ISDIR(sb.st_mode) && depth < HPG_MAX_DEPTH &&
	    (d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			child = xasprintf("%s/%s", path, de->d_name);
			remove_tree(child, depth + 1);
			free(child);
		}
		closedir(d);
		rmdir(path);
	} else
		unlink(path);
}

/* "does not exist, skipping" and friends are noise in test output. */
static void
ignore_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* The formatted text, malloc'd, however long it is. */
static char *
vformat(const char *fmt, va_list ap)
{
	va_list	 ap2;
	char	*s;
	int	 n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	ck_assert_msg(n >= 0, "cannot format SQL: %s", fmt);
	s = xmalloc((size_t)n + 1);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

int64_t
hpg_sqlf_int(struct hpg *pg, const char *fmt, ...)
{
	char	*q;
	int64_t	 v;
	va_list	 ap;

	va_start(ap, fmt);
	q = vformat(fmt, ap);
	va_end(ap);
	v = hpg_sql_int(pg, q);
	free(q);
	return v;
}

char *
hpg_sqlf(struct hpg *pg, const char *fmt, ...)
{
	char	*q, *s;
	va_list	 ap;

	va_start(ap, fmt);
	q = vformat(fmt, ap);
	va_end(ap);
	s = hpg_sql(pg, q);
	ck_assert_msg(s != NULL, "SQL failed: %s", q);
	free(q);
	return s;
}

bool
hpg_wait_int(struct hpg *pg, int64_t want, int timeout_ms, const char *fmt,
    ...)
{
	char	*q;
	int64_t	 deadline = time_mono_ms() + timeout_ms;
	bool	 ok = false;
	va_list	 ap;

	va_start(ap, fmt);
	q = vformat(fmt, ap);
	va_end(ap);
	while (!ok && time_mono_ms() < deadline) {
		if (hpg_sql_int(pg, q) == want)
			ok = true;
		else
			usleep(50 * 1000);
	}
	if (!ok)
		ok = hpg_sql_int(pg, q) == want;
	free(q);
	return ok;
}

void
hpg_finish(struct hpg *pg, const char *name)
{
	const char	*keep = getenv("PARLEY_TEST_KEEP");

	if (pg->dir[0] == '\0')
		return;
	if (keep != NULL && strcmp(keep, "1") == 0) {
		hpg_stop(pg);
		fprintf(stderr, "%s: kept %s\n", name, pg->dir);
		/* Kept: the exit handler must not delete it. */
		forget(pg);
		pg->dir[0] = '\0';
	} else
		hpg_destroy(pg);
}
