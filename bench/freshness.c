/*
 * bench/freshness: how long after a webhook's 2xx its message can be
 * found by conversation search (issue 17: search is kept by an indexer a
 * second or so behind the messages, chat/search.c).
 *
 *   freshness --db CONNINFO --word W --count N --timeout S --out FILE
 *
 * Started before bench/loadgen sends N webhooks whose bodies carry the
 * word W once each ("W <index> [bench-<chat>]", loadgen --body-prefix W).
 * Every POLL_MS it asks what search asks (chat/review.c: message_search
 * rows whose tsv matches plainto_tsquery('simple', W); both of review's
 * plans read what the indexer commits in one transaction: these rows and
 * chat_search_terms) and notes, per message, the CLOCK_MONOTONIC time
 * it was first seen. It stops when N messages were seen or S seconds
 * passed, then writes "index seen_us" per message (the index parsed from
 * the body) to FILE; bench/run.sh joins it with loadgen's --record (the
 * same clock) for 2xx-to-findable times. The poll's period bounds the
 * error (a message is seen up to POLL_MS late). Prints "RESULT seen=K
 * polls=P".
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#define POLL_MS		20
#define SEEN_MAX	100000

static int64_t
mono_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *
arg(int argc, char **argv, const char *name)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	fprintf(stderr, "freshness: %s is required\n", name);
	exit(2);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t	 x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	const char	*word = arg(argc, argv, "--word");
	const char	*out = arg(argc, argv, "--out");
	long		 count = strtol(arg(argc, argv, "--count"), NULL, 10);
	long		 timeout = strtol(arg(argc, argv, "--timeout"), NULL, 10);
	PGconn		*conn;
	PGresult	*res;
	FILE		*f;
	int64_t		*ids, *seen, t_end, polls = 0;
	long		 n = 0;
	const char	*params[1] = { word };

	if (count < 1 || count > SEEN_MAX || timeout < 1) {
		fprintf(stderr, "freshness: --count 1..%d, --timeout >= 1\n",
		    SEEN_MAX);
		return 2;
	}
	conn = PQconnectdb(arg(argc, argv, "--db"));
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "freshness: %s", PQerrorMessage(conn));
		return 1;
	}
	ids = calloc((size_t)count, sizeof(*ids));
	seen = calloc((size_t)count, sizeof(*seen));
	if (ids == NULL || seen == NULL)
		return 1;
	t_end = mono_us() + (int64_t)timeout * 1000000;
	while (n < count && mono_us() < t_end) {
		int64_t		 t = mono_us();
		struct timespec	 nap = { 0, POLL_MS * 1000000L };

		res = PQexecParams(conn, "SELECT message_id FROM message_search"
		    " WHERE tsv @@ plainto_tsquery('simple', $1)"
		    " ORDER BY message_id", 1, NULL, params, NULL, NULL, 0);
		polls++;
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			fprintf(stderr, "freshness: %s", PQerrorMessage(conn));
			PQclear(res);
			return 1;
		}
		/* ids[] stays sorted: append the ones not seen yet. */
		for (int r = 0; r < PQntuples(res) && n < count; r++) {
			int64_t	 id = strtoll(PQgetvalue(res, r, 0), NULL, 10);

			if (bsearch(&id, ids, (size_t)n, sizeof(*ids),
			    cmp_i64) != NULL)
				continue;
			ids[n] = id;
			seen[n] = t;
			n++;
			/* Keep order with its first-seen time alongside. */
			for (long k = n - 1; k > 0 && ids[k - 1] > ids[k]; k--) {
				int64_t	 a = ids[k], b = seen[k];

				ids[k] = ids[k - 1];
				seen[k] = seen[k - 1];
				ids[k - 1] = a;
				seen[k - 1] = b;
			}
		}
		PQclear(res);
		if (n < count)
			nanosleep(&nap, NULL);
	}
	/* The loadgen index of each message seen: the number after W. */
	if ((f = fopen(out, "w")) == NULL) {
		perror(out);
		return 1;
	}
	for (long i = 0; i < n; i++) {
		const char	*p[2];
		char		 id[32];

		snprintf(id, sizeof(id), "%" PRId64, ids[i]);
		p[0] = id;
		p[1] = word;
		res = PQexecParams(conn, "SELECT split_part(substr(body,"
		    " length($2) + 2), ' ', 1) FROM messages WHERE id = $1",
		    2, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK &&
		    PQntuples(res) == 1)
			fprintf(f, "%s %" PRId64 "\n", PQgetvalue(res, 0, 0),
			    seen[i]);
		PQclear(res);
	}
	fclose(f);
	printf("RESULT seen=%ld polls=%" PRId64 "\n", n, polls);
	free(ids);
	free(seen);
	PQfinish(conn);
	return 0;
}
