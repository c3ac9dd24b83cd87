/*
 * db/query.c: statements, typed results, transactions and the one place
 * where SQLSTATE becomes enum db_status.
 *
 * Every statement goes through `$n` parameters: numbers and booleans are
 * formatted as text here, DB_BYTES travels as a binary parameter (format
 * 1), and results always come back as text. Parameter values are never
 * logged: they may be passwords or provider tokens.
 *
 * Plans are cached: the first time a connection runs a data statement
 * (SELECT, INSERT, UPDATE, DELETE, WITH), it is prepared there as
 * "p<index>" and run with PQexecPrepared from then on, so PostgreSQL does
 * not parse and plan it on every call (measured: about a third of its CPU
 * on the webhook path, bench/README.md). A statement is known by the
 * address of its SQL literal, confirmed by its text; transaction control
 * and anything past DB_PREPARED_MAX statements use PQexecParams.
 *
 * Behind a transaction pooler (DB_POOLER_TRANSACTION) nothing is prepared
 * by name: consecutive transactions of one client land on different
 * server sessions shared with other clients, where "p0" is someone else's
 * statement or none. Every statement then goes as the unnamed statement
 * (PQexecParams: Parse, Bind, Execute and Sync in one round trip), which
 * needs no state on the server beyond the message itself. A session
 * pooler that hands over a server session with statements left by an
 * earlier client (server_reset_query emptied) makes PQprepare fail with
 * 42P05: the session's statements are deallocated and prepared afresh.
 *
 * A server that refuses writes (25006: a primary demoted to a standby, or
 * one reached without target_session_attrs=read-write) and one that says
 * it is shutting down (57P01..57P03) mark the connection broken, so the
 * pool reconnects, to the new primary when there is one.
 *
 * Thread-safety: a struct db belongs to the thread that acquired it, so
 * nothing here locks. db_status_from_sqlstate() and db_status_str() are pure.
 *
 * in_tx is not tracked by hand: after every statement it is re-read from
 * PQtransactionStatus(), so a failed COMMIT (which ends the transaction in
 * PostgreSQL) or a BEGIN sent through db_exec() cannot leave it stale.
 */
#include "db/db.h"
#include "db/db_internal.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* Longest text form of an int64, a bool or a %.17g double, with NUL. */
#define QUERY_NUM_LEN	32

static enum db_status	 query_run(struct db *, struct db_res *,
			    const char *, va_list);
static void		 query_sync_tx(struct db *);
static bool		 query_preparable(const char *);
static bool		 query_conn_unusable(const char *);
static void		 query_forget_prepared(struct db *);
static PGresult		*query_exec_cached(struct db *, const char *, int,
			    const char *const *, const int *, const int *);
static const char	*query_field(const struct db_res *, int, int);
static void		 log_quoted(struct buf *, const char *);

static const char *const status_names[] = {
	[DB_OK] = "ok",
	[DB_NOT_FOUND] = "not_found",
	[DB_CONFLICT] = "conflict",
	[DB_INVALID] = "invalid",
	[DB_UNAVAILABLE] = "unavailable",
};

enum db_status
db_status_from_sqlstate(const char *sqlstate)
{
	if (sqlstate == NULL || strlen(sqlstate) != 5)
		return DB_UNAVAILABLE;

	/*
	 * 23505 unique, 23P01 exclusion (a uniqueness rule over ranges),
	 * 40001 serialization failure, 40P01 deadlock: the caller may report a
	 * clash or retry.
	 */
	if (strcmp(sqlstate, "23505") == 0 || strcmp(sqlstate, "23P01") == 0 ||
	    strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0)
		return DB_CONFLICT;
	/*
	 * 23503 foreign key, 23514 check, 23502 not null, 23001 restrict, and
	 * the whole of class 22 (data exception: bad number, too long, bad
	 * encoding...): the input was wrong, not the database.
	 */
	if (strcmp(sqlstate, "23503") == 0 || strcmp(sqlstate, "23514") == 0 ||
	    strcmp(sqlstate, "23502") == 0 || strcmp(sqlstate, "23001") == 0 ||
	    strncmp(sqlstate, "22", 2) == 0)
		return DB_INVALID;
	/* 08 connection, 57 shutdown/cancel, 53 resources, and everything
	 * else (including our own SQL mistakes, class 42). */
	return DB_UNAVAILABLE;
}

const char *
db_status_str(enum db_status st)
{
	if ((unsigned)st < sizeof(status_names) / sizeof(status_names[0]) &&
	    status_names[st] != NULL)
		return status_names[st];
	return "unknown";
}

void
db_log_error(const char *msg, const char *detail, const char *sqlstate)
{
	struct buf	 b;

	buf_init(&b, 2048);
	buf_puts(&b, "level=error module=db msg=\"");
	log_quoted(&b, msg);
	if (detail != NULL && *detail != '\0') {
		buf_puts(&b, ": ");
		log_quoted(&b, detail);
	}
	buf_putc(&b, '"');
	if (sqlstate != NULL && *sqlstate != '\0') {
		buf_puts(&b, " sqlstate=");
		buf_puts(&b, sqlstate);
	}
	buf_putc(&b, '\n');
	/* One fputs of a whole line keeps lines from threads apart. */
	if (b.err)
		fputs("level=error module=db msg=\"(log line too long)\"\n",
		    stderr);
	else
		fputs(buf_str(&b), stderr);
	buf_cleanup(&b);
}

enum db_status
db_result_status(struct db *db, const PGresult *r)
{
	ExecStatusType	 rc;
	const char	*state;
	const char	*primary;
	enum db_status	 st;

	rc = r == NULL ? PGRES_FATAL_ERROR : PQresultStatus(r);
	if (rc == PGRES_COMMAND_OK || rc == PGRES_TUPLES_OK) {
		query_sync_tx(db);
		return DB_OK;
	}

	state = r == NULL ? NULL : PQresultErrorField(r, PG_DIAG_SQLSTATE);
	primary = r == NULL ? NULL :
	    PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
		/* The server went away (or killed us): no SQLSTATE to trust. */
		db->broken = true;
		db->in_tx = false;
		db_log_error("connection to PostgreSQL lost",
		    db->conn == NULL ? NULL : PQerrorMessage(db->conn), state);
		return DB_UNAVAILABLE;
	}

	if (query_conn_unusable(state)) {
		/* Keep it out of the pool; reconnecting finds the primary. */
		db->broken = true;
		db_log_error("the server cannot take this session's writes "
		    "(standby or shutting down); reconnecting", primary, state);
		query_sync_tx(db);
		return DB_UNAVAILABLE;
	}
	st = db_status_from_sqlstate(state);
	if (st == DB_UNAVAILABLE) {
		if (rc != PGRES_FATAL_ERROR && rc != PGRES_NONFATAL_ERROR)
			db_log_error("unexpected result", PQresStatus(rc),
			    NULL);
		else
			db_log_error("statement failed", primary != NULL ?
			    primary : PQerrorMessage(db->conn), state);
	}
	query_sync_tx(db);
	return st;
}

enum db_status
db_query(struct db *db, struct db_res *res, const char *sql, ...)
{
	va_list		 ap;
	enum db_status	 st;

	va_start(ap, sql);
	st = query_run(db, res, sql, ap);
	va_end(ap);
	return st;
}

enum db_status
db_exec(struct db *db, const char *sql, ...)
{
	va_list		 ap;
	enum db_status	 st;

	va_start(ap, sql);
	st = query_run(db, NULL, sql, ap);
	va_end(ap);
	return st;
}

void
db_res_clear(struct db_res *res)
{
	if (res == NULL)
		return;
	PQclear(res->pg);
	res->pg = NULL;
	res->n_rows = 0;
}

bool
db_res_isnull(const struct db_res *res, int row, int col)
{
	(void)query_field(res, row, col);
	return PQgetisnull(res->pg, row, col) != 0;
}

const char *
db_res_text(const struct db_res *res, int row, int col)
{
	return query_field(res, row, col);
}

int64_t
db_res_i64(const struct db_res *res, int row, int col)
{
	int64_t		 v;

	if (!str_to_i64(query_field(res, row, col), &v))
		return 0;
	return v;
}

bool
db_res_bool(const struct db_res *res, int row, int col)
{
	return query_field(res, row, col)[0] == 't';
}

double
db_res_f64(const struct db_res *res, int row, int col)
{
	const char	*s = query_field(res, row, col);

	if (*s == '\0')
		return 0.0;
	return strtod(s, NULL);
}

unsigned char *
db_res_bytes(const struct db_res *res, int row, int col, size_t *len)
{
	const char	*s = query_field(res, row, col);
	unsigned char	*raw;
	unsigned char	*out = NULL;
	size_t		 n = 0;

	if (PQgetisnull(res->pg, row, col))
		goto out;
	raw = PQunescapeBytea((const unsigned char *)s, &n);
	if (raw == NULL)
		abort();	/* libpq's only failure is out of memory */
	/* PQunescapeBytea memory belongs to PQfreemem: hand back malloc's. */
	out = xmalloc(n + 1);
	memcpy(out, raw, n);
	out[n] = '\0';
	PQfreemem(raw);
out:
	if (len != NULL)
		*len = n;
	return out;
}

enum db_status
db_tx_begin(struct db *db)
{
	/* Nested transactions are a programming error, not a runtime one. */
	assert(!db->in_tx);
	return db_exec(db, "BEGIN", DB_END);
}

enum db_status
db_tx_commit(struct db *db)
{
	struct db_res	 res;
	enum db_status	 st;

	st = db_query(db, &res, "COMMIT", DB_END);
	/*
	 * COMMIT of a transaction that already failed "succeeds" with the tag
	 * ROLLBACK: the caller ignored an error, and nothing was written.
	 */
	if (st == DB_OK && strcmp(PQcmdStatus(res.pg), "COMMIT") != 0) {
		db_log_error("COMMIT of a failed transaction rolled back",
		    NULL, NULL);
		st = DB_UNAVAILABLE;
	}
	db_res_clear(&res);
	return st;
}

void
db_tx_rollback(struct db *db)
{
	PGresult	*r;

	if (db == NULL || db->conn == NULL || db->broken)
		return;
	query_sync_tx(db);
	if (!db->in_tx)
		return;
	r = PQexec(db->conn, "ROLLBACK");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		/* Cannot trust the session any more: the pool will reopen it. */
		db->broken = true;
		db_log_error("ROLLBACK failed", PQerrorMessage(db->conn), NULL);
	}
	PQclear(r);
	query_sync_tx(db);
}

enum db_status
db_tx_join(struct db *db, bool *own)
{
	*own = !db->in_tx;
	return *own ? db_tx_begin(db) : DB_OK;
}

enum db_status
db_tx_leave(struct db *db, bool own, enum db_status st)
{
	if (!own)
		return st;
	if (st == DB_OK)
		st = db_tx_commit(db);
	db_tx_rollback(db);
	return st;
}

/*
 * The body of db_query/db_exec: turns the DB_END-terminated parameter list
 * into libpq's arrays, runs the statement and classifies the result.
 */
static enum db_status
query_run(struct db *db, struct db_res *res, const char *sql, va_list ap)
{
	char		 nums[DB_MAX_PARAMS][QUERY_NUM_LEN];
	const char	*values[DB_MAX_PARAMS];
	int		 lengths[DB_MAX_PARAMS];
	int		 formats[DB_MAX_PARAMS];
	struct db_param	 p;
	PGresult	*r = NULL;
	enum db_status	 st;
	int		 n = 0;

	if (res != NULL) {
		res->pg = NULL;
		res->n_rows = 0;
	}

	for (;;) {
		p = va_arg(ap, struct db_param);
		if (p.kind == DB_P_END)
			break;
		if (n == DB_MAX_PARAMS) {
			/* A missing DB_END or a statement too wide: a bug. */
			db_log_error("too many parameters (missing DB_END?)",
			    sql, NULL);
			abort();
		}
		values[n] = NULL;
		lengths[n] = 0;
		formats[n] = 0;
		switch (p.kind) {
		case DB_P_NULL:
			break;
		case DB_P_TEXT:
			values[n] = p.s;
			break;
		case DB_P_BYTES:
			if (p.len > INT32_MAX) {
				db_log_error("bytea parameter too large", NULL,
				    NULL);
				abort();
			}
			/* A zero-length value must still not be NULL. */
			values[n] = p.s != NULL ? p.s : "";
			lengths[n] = (int)p.len;
			formats[n] = 1;
			break;
		case DB_P_I64:
			snprintf(nums[n], QUERY_NUM_LEN, "%" PRId64, p.i);
			values[n] = nums[n];
			break;
		case DB_P_BOOL:
			values[n] = p.i ? "t" : "f";
			break;
		case DB_P_F64:
			if (isnan(p.f))
				values[n] = "NaN";
			else if (isinf(p.f))
				values[n] = p.f > 0 ? "Infinity" : "-Infinity";
			else {
				snprintf(nums[n], QUERY_NUM_LEN, "%.17g", p.f);
				values[n] = nums[n];
			}
			break;
		default:
			db_log_error("unknown parameter kind", NULL, NULL);
			abort();
		}
		n++;
	}

	if (db == NULL || db->conn == NULL || db->broken)
		return DB_UNAVAILABLE;

	r = query_exec_cached(db, sql, n, values, lengths, formats);
	st = db_result_status(db, r);
	if (st == DB_OK && res != NULL) {
		res->pg = r;
		res->n_rows = PQntuples(r);
		r = NULL;
	}
	PQclear(r);
	return st;
}

/* True for statements PostgreSQL can prepare. */
static bool
query_preparable(const char *sql)
{
	while (*sql == ' ' || *sql == '\n' || *sql == '\t')
		sql++;
	return strncmp(sql, "SELECT", 6) == 0 ||
	    strncmp(sql, "INSERT", 6) == 0 || strncmp(sql, "UPDATE", 6) == 0 ||
	    strncmp(sql, "DELETE", 6) == 0 || strncmp(sql, "WITH", 4) == 0;
}

/*
 * SQLSTATEs after which this session is no use to us: 25006
 * read_only_sql_transaction, 57P01 admin_shutdown, 57P02 crash_shutdown,
 * 57P03 cannot_connect_now.
 */
static bool
query_conn_unusable(const char *sqlstate)
{
	return sqlstate != NULL && (strcmp(sqlstate, "25006") == 0 ||
	    strcmp(sqlstate, "57P01") == 0 || strcmp(sqlstate, "57P02") == 0 ||
	    strcmp(sqlstate, "57P03") == 0);
}

/* Runs sql, prepared on this connection when it can be (see file top). */
static PGresult *
query_exec_cached(struct db *db, const char *sql, int n,
    const char *const *values,
    const int *lengths, const int *formats)
{
	char		 name[16];
	const char	*state;
	PGresult	*p;
	int		 i;

	if (!db_pool_prepares(db->pool) || !query_preparable(sql))
		goto plain;
	for (i = 0; i < db->n_prepared; i++)
		if (db->prepared[i] == sql || strcmp(db->prepared[i], sql) == 0)
			break;
	if (i == db->n_prepared) {
		if (i >= DB_PREPARED_MAX)
			goto plain;
		snprintf(name, sizeof(name), "p%d", i);
		p = PQprepare(db->conn, name, sql, n, NULL);
		if (PQresultStatus(p) != PGRES_COMMAND_OK) {
			state = PQresultErrorField(p, PG_DIAG_SQLSTATE);
			if (state != NULL && strcmp(state, "42P05") == 0 &&
			    PQtransactionStatus(db->conn) == PQTRANS_IDLE)
				query_forget_prepared(db);
			/* Let the plain path report the error the usual way. */
			PQclear(p);
			goto plain;
		}
		PQclear(p);
		db->prepared[db->n_prepared++] = sql;
	}
	snprintf(name, sizeof(name), "p%d", i);
	return PQexecPrepared(db->conn, name, n, values, lengths, formats, 0);
plain:
	return PQexecParams(db->conn, sql, n, NULL, values, lengths, formats,
	    0);
}

/*
 * The session holds prepared statements we did not make (a session pooler
 * handed over a server session without resetting it): drop them all, ours
 * included, and start naming from p0 again.
 */
static void
query_forget_prepared(struct db *db)
{
	PGresult	*r;

	r = PQexec(db->conn, "DEALLOCATE ALL");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		db->broken = true;
	PQclear(r);
	db->n_prepared = 0;
}

/* db->in_tx follows the server's view of the session. */
static void
query_sync_tx(struct db *db)
{
	PGTransactionStatusType	 ts;

	if (db->conn == NULL)
		return;
	ts = PQtransactionStatus(db->conn);
	db->in_tx = ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;
}

/*
 * The text of a field. Reading outside the result, or a result that a
 * failed query never filled, is a programming error.
 */
static const char *
query_field(const struct db_res *res, int row, int col)
{
	const char	*s;

	assert(res != NULL && res->pg != NULL);
	assert(row >= 0 && row < PQntuples(res->pg));
	assert(col >= 0 && col < PQnfields(res->pg));
	s = PQgetvalue(res->pg, row, col);
	return s != NULL ? s : "";
}

/* Appends s for a double-quoted log value: first line only, escaped. */
static void
log_quoted(struct buf *b, const char *s)
{
	size_t	 n;

	/* libpq messages end in "\n" and may add DETAIL lines: keep line 1. */
	n = strcspn(s, "\r\n");
	for (size_t i = 0; i < n && i < 512; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_putc(b, '\\');
		buf_putc(b, (unsigned char)s[i] < 0x20 ? ' ' : s[i]);
	}
}

void
db_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
