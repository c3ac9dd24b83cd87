/*
 * tests/harness/ha.h: Parley past one machine, for the suites that run it
 * behind a connection pooler or through a failover (tests/integration/
 * pooler.c, failover.c):
 *
 *   hbouncer  Debian's PgBouncer (/usr/sbin/pgbouncer, `make deps`) on a
 *             free loopback port in front of a harness cluster, in session
 *             or transaction mode, configured as stock as possible (no
 *             ignore_startup_parameters). PgBouncer refuses to run as root,
 *             so as root it runs as the cluster's unprivileged user
 *             (PARLEY_PG_USER, default postgres), like the cluster itself.
 *   standby   a streaming replica of a harness cluster made with
 *             pg_basebackup -R and started by the same code as the
 *             cluster (db_embedded_start), optionally the primary's
 *             synchronous standby; a primary stopped as `pg_ctl stop -m
 *             immediate` does it (SIGQUIT to the postmaster); promotion.
 *   hstream   a bounded stream of signed Twilio inbound webhooks from a
 *             few threads, each message retried on any non-2xx answer (or
 *             no answer) as a provider would, with every attempt's time
 *             and status kept for the report.
 *
 * Every wait is bounded; a failure fails the current test with a sentence
 * (except in hstream's threads, which only record).
 */
#ifndef PARLEY_TESTS_HA_H
#define PARLEY_TESTS_HA_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "harness/harness.h"

/* --- PgBouncer ----------------------------------------------------------- */

struct hbouncer {
	char	 dir[256];	/* pgbouncer.ini, userlist.txt, pgbouncer.log */
	int	 port;
	int	 pid;
	char	 log_path[300];
};

/*
 * Starts PgBouncer in pool_mode `mode` ("session" or "transaction") in
 * front of pg (every database name is passed through: `* = host=…`), with
 * at most pool_size server connections per database and user, and waits
 * until it accepts a query. Trust authentication, user parley.
 */
void	 hbouncer_start(struct hbouncer *b, struct hpg *pg, const char *mode,
	    int pool_size);
/* SIGTERM, wait, delete its directory. Does nothing when not started. */
void	 hbouncer_stop(struct hbouncer *b);
/* "host=127.0.0.1 port=<port> dbname=<db> user=parley" into out. */
void	 hbouncer_conninfo(const struct hbouncer *b, const char *db,
	    char *out, size_t len);
/* True when PgBouncer's log contains needle. */
bool	 hbouncer_log_contains(const struct hbouncer *b, const char *needle);

/* --- streaming replication and failover ---------------------------------- */

/*
 * Makes standby a streaming replica of primary (pg_basebackup -R -X
 * stream over TCP), started on a free port with its own socket, and waits
 * until the primary sees it streaming. With is_sync, the primary then
 * waits for it on every commit (synchronous_standby_names = '*', set on
 * the primary only, after the copy, so the standby does not inherit it)
 * and this returns once it is the synchronous standby.
 */
void	 hpg_start_standby(struct hpg *standby, struct hpg *primary,
	    bool is_sync);
/*
 * Stops pg as `pg_ctl stop -m immediate` does (SIGQUIT to the postmaster:
 * backends killed, no checkpoint) and waits until the postmaster is gone.
 */
void	 hpg_crash(struct hpg *pg);
/* Promotes a standby (pg_promote, waiting) and checks it left recovery. */
void	 hpg_promote(struct hpg *pg);
/* "host=127.0.0.1 port=<port> dbname=parley user=parley" over TCP. */
void	 hpg_tcp_conninfo(const struct hpg *pg, char *out, size_t len);

/* --- a stream of signed webhooks ------------------------------------------ */

#define HSTREAM_BASES_MAX	4

struct hstream_msg {
	char		 sid[40];	/* MessageSid */
	char		 from[24];	/* the sender, E.164 */
	char		 text[48];
	int		 attempts;
	int		 n_5xx;		/* answers of 500..599 */
	int		 n_failed;	/* no answer (connection refused, timeout) */
	int		 n_other;	/* any other non-2xx answer */
	int64_t		 ack_ms;	/* time_mono_ms() of the 2xx; 0: none */
};

struct hstream {
	/* Set by the caller before hstream_start. */
	const char	*bases[HSTREAM_BASES_MAX];	/* message i goes to
							   bases[i % n_bases] */
	int		 n_bases;
	const char	*account;	/* Twilio AccountSid */
	const char	*token;		/* Auth Token: signs each attempt */
	const char	*to;		/* our number, E.164 */
	const char	*tag;		/* [a-z]+: sids are "SM<tag><8 digits>",
					   texts "<tag> message <i>" */
	const char	*from_prefix;	/* senders are <from_prefix><4 digits> */
	int		 n;		/* messages */
	int		 senders;	/* message i comes from sender i % senders
					   (0: one sender per message) */
	int		 n_threads;
	int		 pace_ms;	/* each thread's pause between messages */
	int		 retry_ms;	/* pause before a retry */
	int		 give_up_ms;	/* per message, from its first attempt */

	/* Results, readable after hstream_wait (n_acked also before). */
	struct hstream_msg	*m;
	_Atomic int		 n_acked;
	_Atomic int		 n_sent;	/* messages started */
	pthread_mutex_t		 mu;		/* guards the three below */
	int64_t			 first_bad_ms;	/* first non-2xx attempt (start) */
	int64_t			 first_bad_end_ms; /* earliest end of one */
	int64_t			 last_bad_ms;	/* last non-2xx attempt (end) */
	int			 n_bad;		/* non-2xx attempts */

	pthread_t		 threads[16];
	int			 n_started;
};

/* Starts the threads; the caller then waits with hstream_wait. */
void	 hstream_start(struct hstream *s);
/* Joins the threads (every message acknowledged or given up). */
void	 hstream_wait(struct hstream *s);
/* Frees the results. */
void	 hstream_free(struct hstream *s);

#endif
