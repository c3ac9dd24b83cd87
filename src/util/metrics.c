/*
 * metrics: Prometheus counters (see metrics.h).
 *
 * The status codes we answer are a short list; each gets a slot so the
 * exposition keeps exact codes (a 413 spike is worth seeing as 413), and
 * anything else lands in the slot of its class (2xx…5xx).
 */
#include "util/metrics.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/time.h"
#include "util/xmalloc.h"

static const int	 status_codes[] = {
	200, 201, 202, 204, 301, 302, 303, 304, 400, 401, 403, 404, 405, 409,
	413, 415, 422, 429, 500, 502, 503, 504,
	/* class fallbacks */ 2, 3, 4, 5,
};
#define N_STATUS	(sizeof(status_codes) / sizeof(status_codes[0]))

/* Upper bounds in seconds. */
static const double	 buckets[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
#define N_BUCKETS	(sizeof(buckets) / sizeof(buckets[0]))

struct route_metrics {
	_Atomic uint64_t	 by_status[N_STATUS];
	_Atomic uint64_t	 le[N_BUCKETS + 1];	/* last: +Inf */
	_Atomic uint64_t	 sum_us;
};

static struct route_metrics	*routes;
static const char *const	*route_names;
static int			 n_slots;
static int64_t			 started_us;
static _Atomic uint64_t		 ingest_commits;
static _Atomic uint64_t		 ingest_messages;

static int	status_slot(int);

void
metrics_init(int n_routes, const char *const *patterns)
{
	n_slots = n_routes + 1;
	routes = xcalloc((size_t)n_slots, sizeof(*routes));
	route_names = patterns;
	started_us = time_mono_us();
}

void
metrics_free(void)
{
	free(routes);
	routes = NULL;
	n_slots = 0;
}

static int
status_slot(int status)
{
	for (size_t i = 0; i < N_STATUS - 4; i++)
		if (status_codes[i] == status)
			return (int)i;
	if (status >= 200 && status < 600)
		return (int)(N_STATUS - 4) + status / 100 - 2;
	return (int)N_STATUS - 1;
}

void
metrics_request(int route, int status, int64_t duration_us)
{
	struct route_metrics	*m;
	size_t			 b;

	if (routes == NULL)
		return;
	m = &routes[route < 0 || route >= n_slots - 1 ? n_slots - 1 : route];
	atomic_fetch_add_explicit(&m->by_status[status_slot(status)], 1,
	    memory_order_relaxed);
	for (b = 0; b < N_BUCKETS; b++)
		if ((double)duration_us / 1e6 <= buckets[b])
			break;
	atomic_fetch_add_explicit(&m->le[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->sum_us, (uint64_t)duration_us,
	    memory_order_relaxed);
}

void
metrics_ingest_commit(int n_messages)
{
	atomic_fetch_add_explicit(&ingest_commits, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ingest_messages, (uint64_t)n_messages,
	    memory_order_relaxed);
}

void
metrics_render(struct buf *b)
{
	buf_puts(b, "# HELP parley_http_requests_total HTTP requests by "
	    "route pattern and status.\n"
	    "# TYPE parley_http_requests_total counter\n");
	for (int r = 0; r < n_slots; r++) {
		const char	*name = r < n_slots - 1 ? route_names[r] :
		    "unmatched";

		for (size_t s = 0; s < N_STATUS; s++) {
			uint64_t	 v = atomic_load(&routes[r].by_status[s]);
			int		 code = status_codes[s];

			if (v == 0)
				continue;
			if (code < 10)
				buf_printf(b, "parley_http_requests_total{route=\"%s\","
				    "status=\"%dxx\"} %llu\n", name, code,
				    (unsigned long long)v);
			else
				buf_printf(b, "parley_http_requests_total{route=\"%s\","
				    "status=\"%d\"} %llu\n", name, code,
				    (unsigned long long)v);
		}
	}
	buf_puts(b, "# HELP parley_http_request_duration_seconds Time from "
	    "request line to response sent, by route pattern.\n"
	    "# TYPE parley_http_request_duration_seconds histogram\n");
	for (int r = 0; r < n_slots; r++) {
		const char	*name = r < n_slots - 1 ? route_names[r] :
		    "unmatched";
		uint64_t	 cum = 0;

		for (size_t k = 0; k <= N_BUCKETS; k++)
			cum += atomic_load(&routes[r].le[k]);
		if (cum == 0)
			continue;
		cum = 0;
		for (size_t k = 0; k < N_BUCKETS; k++) {
			cum += atomic_load(&routes[r].le[k]);
			buf_printf(b, "parley_http_request_duration_seconds_bucket"
			    "{route=\"%s\",le=\"%g\"} %llu\n", name, buckets[k],
			    (unsigned long long)cum);
		}
		cum += atomic_load(&routes[r].le[N_BUCKETS]);
		buf_printf(b, "parley_http_request_duration_seconds_bucket"
		    "{route=\"%s\",le=\"+Inf\"} %llu\n", name,
		    (unsigned long long)cum);
		buf_printf(b, "parley_http_request_duration_seconds_sum"
		    "{route=\"%s\"} %.6f\n", name,
		    (double)atomic_load(&routes[r].sum_us) / 1e6);
		buf_printf(b, "parley_http_request_duration_seconds_count"
		    "{route=\"%s\"} %llu\n", name, (unsigned long long)cum);
	}
	buf_printf(b, "# HELP parley_ingest_commits_total Transactions that "
	    "committed inbound messages (group commit).\n"
	    "# TYPE parley_ingest_commits_total counter\n"
	    "parley_ingest_commits_total %llu\n"
	    "# HELP parley_ingest_messages_total Inbound messages those "
	    "transactions carried (a provider's retry of a stored one "
	    "included).\n"
	    "# TYPE parley_ingest_messages_total counter\n"
	    "parley_ingest_messages_total %llu\n",
	    (unsigned long long)atomic_load(&ingest_commits),
	    (unsigned long long)atomic_load(&ingest_messages));
	buf_printf(b, "# HELP parley_uptime_seconds Seconds since start.\n"
	    "# TYPE parley_uptime_seconds gauge\n"
	    "parley_uptime_seconds %.3f\n",
	    (double)(time_mono_us() - started_us) / 1e6);
}
