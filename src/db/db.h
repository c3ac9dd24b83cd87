/*
 * db: PostgreSQL access for every module that owns tables.
 *
 * - A bounded, thread-safe pool of libpq connections. db_acquire() waits at
 *   most the pool's acquire timeout and returns NULL when no connection can
 *   be had (pool exhausted, or PostgreSQL down): callers answer 503.
 * - Queries take `$n` parameters only, passed as typed db_param values and
 *   terminated by DB_END; the SQL argument is always a string literal
 *   (`make lint` checks). SQLSTATE is mapped to enum db_status here and
 *   nowhere else.
 * - Transactions are explicit: db_tx_begin / db_tx_commit, and the caller's
 *   `out:` path calls db_tx_rollback when commit did not happen (rollback is
 *   a no-op outside a transaction).
 *
 * Poolers and failover (README "Running several replicas"). Nothing here
 * keeps session state across transactions: no startup `options`, no
 * session SET, no session-level advisory lock, no temporary table, so a
 * pool may sit behind PgBouncer in session or transaction mode. Named
 * prepared statements are the one exception, used only when the pool is
 * told its connections are its own (DB_POOLER_NONE or _SESSION). A
 * connection found dead, or connected to a server that no longer accepts
 * writes (a demoted primary), is closed and made again, so a libpq
 * multi-host string with target_session_attrs=read-write follows a
 * failover without a restart.
 *
 * A struct db is used by one thread at a time: whoever acquired it.
 */
#ifndef PARLEY_DB_DB_H
#define PARLEY_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

enum db_status {
	DB_OK = 0,
	DB_NOT_FOUND,	/* no row where one was required (set by callers) */
	DB_CONFLICT,	/* 23505 unique violation, 40001/40P01 serialization */
	DB_INVALID,	/* 23503 fk, 23514 check, 23502 not null, 22xxx data */
	DB_UNAVAILABLE,	/* connection lost, server shutting down, timeout,
			   or any other error (logged once, here) */
};

enum db_param_kind {
	DB_P_END = 0,
	DB_P_NULL,
	DB_P_TEXT,	/* NUL-terminated; NULL pointer sends SQL NULL */
	DB_P_BYTES,	/* binary (bytea), explicit length */
	DB_P_I64,
	DB_P_BOOL,
	DB_P_F64,
};

struct db_param {
	enum db_param_kind	 kind;
	const char		*s;
	size_t			 len;
	int64_t			 i;
	double			 f;
};

#define DB_END		((struct db_param){ .kind = DB_P_END })
#define DB_NULL		((struct db_param){ .kind = DB_P_NULL })
#define DB_TEXT(x)	((struct db_param){ .kind = DB_P_TEXT, .s = (x) })
#define DB_BYTES(p, n)	((struct db_param){ .kind = DB_P_BYTES, \
			    .s = (const char *)(p), .len = (n) })
#define DB_I64(x)	((struct db_param){ .kind = DB_P_I64, .i = (x) })
#define DB_BOOL(x)	((struct db_param){ .kind = DB_P_BOOL, .i = (x) ? 1 : 0 })
#define DB_F64(x)	((struct db_param){ .kind = DB_P_F64, .f = (x) })

/* Most parameters one statement may take. */
#define DB_MAX_PARAMS	32

struct db_pool;

/*
 * What stands between the pool and PostgreSQL (PARLEY_DB_POOLER). With
 * DB_POOLER_TRANSACTION every statement is sent as the unnamed statement
 * (Parse/Bind/Execute in one round trip, no server-side state); otherwise
 * data statements are prepared once per connection as "p<index>".
 */
enum db_pooler {
	DB_POOLER_NONE = 0,	/* direct: the connection is ours */
	DB_POOLER_SESSION,	/* PgBouncer pool_mode=session: ours too */
	DB_POOLER_TRANSACTION,	/* pool_mode=transaction: shared */
};

/* Statements prepared on one connection (db/query.c). */
#define DB_PREPARED_MAX	96

/* One pooled connection. `conn` is for db/ itself and LISTEN users. */
struct db {
	PGconn		*conn;
	struct db_pool	*pool;
	bool		 in_tx;
	bool		 broken;	/* reset before it is handed out again */
	/* SQL texts prepared on conn as "p<index>"; empty on a new conn. */
	const char	*prepared[DB_PREPARED_MAX];
	int		 n_prepared;
};

/* A query result; a PGresult never outlives the function that made it. */
struct db_res {
	PGresult	*pg;
	int		 n_rows;
};

struct db_pool_stats {
	int		 size;		/* connections allowed */
	int		 open;		/* connections made */
	int		 in_use;
	uint64_t	 acquired;	/* total successful acquires */
	uint64_t	 waits;		/* acquires that had to wait */
	uint64_t	 timeouts;	/* acquires that gave up */
};

/*
 * Makes a pool of at most `size` connections to `conninfo` (libpq syntax).
 * Connections open lazily; nothing is connected here, so a pool can be made
 * while PostgreSQL is down. Returns NULL only for a bad argument.
 */
struct db_pool	*db_pool_new(const char *conninfo, int size,
		    int acquire_timeout_ms);
/* Closes every connection; all must have been released. NULL is a no-op. */
void		 db_pool_free(struct db_pool *pool);
/*
 * Says what sits in front of PostgreSQL (DB_POOLER_NONE unless called).
 * Call it right after db_pool_new, before the first acquire.
 */
void		 db_pool_set_pooler(struct db_pool *pool, enum db_pooler p);
/* What db_pool_set_pooler said (DB_POOLER_NONE unless called). */
enum db_pooler	 db_pool_pooler(const struct db_pool *pool);
/*
 * Closes the connections nobody holds, so the next acquires open new
 * sessions (which pick up per-role settings a migration just made).
 */
void		 db_pool_close_idle(struct db_pool *pool);
/*
 * Checks a libpq connection string (key=value or URI) without connecting.
 * False with libpq's sentence in err when it cannot be parsed.
 */
bool		 db_conninfo_check(const char *conninfo, char *err,
		    size_t errlen);
/*
 * Takes a connection, opening or re-opening one as needed. NULL when none
 * can be had within the timeout or PostgreSQL cannot be reached.
 */
struct db	*db_acquire(struct db_pool *pool)
		    __attribute__((warn_unused_result));
/*
 * db_acquire for a step that finishes work already begun (recording a
 * model's answer, marking a send, a job's outcome): served before
 * db_acquire's waiters (db/pool.c).
 */
struct db	*db_acquire_urgent(struct db_pool *pool)
		    __attribute__((warn_unused_result));
/*
 * db_acquire for the reserved lane (db_pool_reserve): its own slots
 * first, then any free one; never waits behind db_acquire's callers for
 * the reserved ones.
 */
struct db	*db_acquire_reserved(struct db_pool *pool)
		    __attribute__((warn_unused_result));
/*
 * Keeps the last n connections (at most size - 1) for
 * db_acquire_reserved; db_acquire never takes them. Call it right after
 * db_pool_new, before the first acquire.
 */
void		 db_pool_reserve(struct db_pool *pool, int n);
/*
 * db_acquire, tried again every 200 ms for up to wait_ms while it answers
 * NULL: for recording an outcome that must not be lost to a failover (no
 * primary for a few seconds), never for answering a request.
 */
struct db	*db_acquire_wait(struct db_pool *pool, int wait_ms)
		    __attribute__((warn_unused_result));
/* The same, served as db_acquire_urgent. */
struct db	*db_acquire_wait_urgent(struct db_pool *pool, int wait_ms)
		    __attribute__((warn_unused_result));
/* Gives a connection back; rolls back an open transaction first. */
void		 db_release(struct db *db);
void		 db_pool_get_stats(struct db_pool *pool, struct db_pool_stats *st);
const char	*db_pool_conninfo(const struct db_pool *pool);

/*
 * Runs one statement with parameters (a DB_END-terminated list). On DB_OK,
 * *res holds the rows (res may be NULL when they are not wanted); call
 * db_res_clear() in every case. Text results are returned.
 */
enum db_status	 db_query(struct db *db, struct db_res *res, const char *sql,
		    ...) __attribute__((warn_unused_result));
/* db_query without a result. */
enum db_status	 db_exec(struct db *db, const char *sql, ...)
		    __attribute__((warn_unused_result));

void		 db_res_clear(struct db_res *res);
bool		 db_res_isnull(const struct db_res *res, int row, int col);
/* Text of a field; "" for NULL. Owned by res. */
const char	*db_res_text(const struct db_res *res, int row, int col);
int64_t		 db_res_i64(const struct db_res *res, int row, int col);
bool		 db_res_bool(const struct db_res *res, int row, int col);
double		 db_res_f64(const struct db_res *res, int row, int col);
/* bytea in hex output form decoded into a malloc'd buffer (caller frees). */
unsigned char	*db_res_bytes(const struct db_res *res, int row, int col,
		    size_t *len);

enum db_status	 db_tx_begin(struct db *db) __attribute__((warn_unused_result));
enum db_status	 db_tx_commit(struct db *db) __attribute__((warn_unused_result));
/* Safe to call anywhere: does nothing outside a transaction. */
void		 db_tx_rollback(struct db *db);
/*
 * For functions that must be atomic whether or not their caller holds a
 * transaction: db_tx_join begins one only when none is open (*own says
 * whether it did); db_tx_leave(db, own, st) then commits (st DB_OK) or
 * rolls back what it began, and returns st or the commit's failure. Inside
 * a caller's transaction both do nothing, and the caller decides.
 */
enum db_status	 db_tx_join(struct db *db, bool *own)
		    __attribute__((warn_unused_result));
enum db_status	 db_tx_leave(struct db *db, bool own, enum db_status st)
		    __attribute__((warn_unused_result));

/* The readable name of a status, for logs. */
const char	*db_status_str(enum db_status st);

/* --- array parameters (db/array.c) --- */

struct buf;

/*
 * Append PostgreSQL's text form of a bigint[], boolean[] or text[] of n
 * values to b, for a DB_TEXT parameter cast in the statement
 * ($1::bigint[]); a NULL string is a NULL element. Pure.
 */
void		 db_array_i64(struct buf *b, const int64_t *v, int n);
void		 db_array_bool(struct buf *b, const bool *v, int n);
void		 db_array_text(struct buf *b, const char *const *v, int n);

/* --- migrations (db/migrate.c) --- */

/*
 * Applies every pending migrations/NNNN_name.sql in `dir`, in order, each in
 * its own transaction, recorded in schema_migrations(version, name,
 * checksum, applied_at). Each of those transactions first takes a
 * transaction-level advisory lock (released by its COMMIT or ROLLBACK,
 * never held across statements outside it), so concurrent processes are
 * safe, directly or through a transaction pooler. Refuses (false, sentence
 * in err) when an applied file's checksum changed or a file name is
 * malformed. *n_applied gets the count applied now (may be NULL).
 */
bool		 db_migrate(struct db *db, const char *dir, int *n_applied,
		    char *err, size_t errlen);
/* The highest version among the files in dir (0 for none); -1 on error. */
int		 db_migrations_latest(const char *dir);
/* The highest applied version; -1 when the database cannot say. */
int		 db_migrations_applied(struct db *db);

/* --- notifications (db/listen.c) --- */

struct db_listener;

/*
 * A connection of its own that LISTENs on channel ([a-z_]+ only; NULL
 * otherwise, and for a conninfo libpq cannot parse). Connects on the
 * first wait, with the pool's connection defaults.
 */
struct db_listener *db_listener_new(const char *conninfo, const char *channel);
/*
 * Waits up to timeout_ms for a NOTIFY on the channel: 1 when one (or more)
 * arrived, or when the connection was just (re)made (what was sent while
 * nobody listened is lost: look for work), 0 on timeout, -1 when the
 * connection is down (it has then waited the timeout anyway, so a loop
 * around it polls at that rate).
 */
int		 db_listener_wait(struct db_listener *l, int timeout_ms);
void		 db_listener_free(struct db_listener *l);

/* --- presence (db/presence.c) --- */

struct db_presence;
typedef void	(*db_presence_fn)(void *arg);

/*
 * Marks this process as serving the database: a connection of its own
 * holding a shared advisory lock for as long as the process runs (re-taken
 * after a lost connection, then on_retake(arg) is called from the holder's
 * thread; may be NULL). NULL with a sentence in err when PostgreSQL cannot
 * be reached or a key rotation holds the database.
 */
struct db_presence *db_presence_start(const char *conninfo,
		    db_presence_fn on_retake, void *arg, char *err,
		    size_t errlen);
/* Releases the mark and joins the thread; NULL is a no-op. */
void		 db_presence_stop(struct db_presence *p);
/*
 * For `parley key rotate`: takes the same lock exclusively on db's
 * session, without waiting. *got false when a server holds the database;
 * *holders then counts the sessions that do.
 */
enum db_status	 db_presence_exclusive(struct db *db, bool *got,
		    int64_t *holders) __attribute__((warn_unused_result));
/* Gives the exclusive lock back (or marks db broken so it is closed). */
void		 db_presence_exclusive_release(struct db *db);

/* --- the embedded cluster (db/embedded.c) --- */

struct db_embedded;

/*
 * Starts (initialising on first use) a private PostgreSQL cluster with its
 * data in `dir`/data and its socket in `dir`/run, listening on no TCP port
 * when `port` is 0 (socket only, port 5432 in the socket name), else on
 * 127.0.0.1:port as well. When run as root, the cluster runs as an
 * unprivileged user (PARLEY_PG_USER, default "postgres") since PostgreSQL
 * refuses root; `dir` is chowned to that user. Server binaries come from
 * PARLEY_PG_BIN (default /usr/lib/postgresql/15/bin). Creates the database
 * "parley" if missing. conninfo (size conninfo_len) receives a libpq
 * connection string for it. Returns NULL with a sentence in err on failure.
 */
struct db_embedded *db_embedded_start(const char *dir, int port,
		    char *conninfo, size_t conninfo_len, char *err,
		    size_t errlen);
/* Stops the cluster (fast shutdown) and frees the handle; NULL is a no-op. */
void		 db_embedded_stop(struct db_embedded *e);

#endif
