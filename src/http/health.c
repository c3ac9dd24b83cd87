/*
 * health: liveness, readiness and metrics (see static.h).
 *
 * /readyz answers 200 only when a pooled connection works and the highest
 * applied migration is the highest one shipped: a load balancer then keeps
 * traffic away from a process whose database is gone or not yet migrated.
 */
#include "http/static.h"

#include <stdio.h>

#include "util/context.h"
#include "util/metrics.h"
#include "db/db.h"
#include "http/req.h"
#include "http/resp.h"

int
health_live(struct req *r)
{
	return resp_send(r, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

int
health_ready(struct req *r)
{
	char		 body[256];
	int		 applied = -1, n;
	const char	*why = NULL;

	if (req_db(r) == NULL)
		why = "database unreachable";
	else if ((applied = db_migrations_applied(r->db)) < 0)
		why = "database unreachable";
	else if (applied != r->app->migrations_latest)
		why = "migrations not current";
	if (why != NULL) {
		n = snprintf(body, sizeof(body), "{\"status\":\"unavailable\","
		    "\"reason\":\"%s\",\"migration\":%d,\"expected\":%d}", why,
		    applied, r->app->migrations_latest);
		resp_header(r, "Retry-After", "5");
		return resp_send(r, 503, "application/json", body, (size_t)n);
	}
	n = snprintf(body, sizeof(body), "{\"status\":\"ready\","
	    "\"migration\":%d}", applied);
	return resp_send(r, 200, "application/json", body, (size_t)n);
}

/* The database pool's gauges, read at scrape time. */
static void
pool_metrics(struct buf *b, struct db_pool *pool)
{
	struct db_pool_stats	 st;

	if (pool != NULL) {
		db_pool_get_stats(pool, &st);
		buf_printf(b,
		    "# HELP parley_db_pool_connections Database pool "
		    "connections by state.\n"
		    "# TYPE parley_db_pool_connections gauge\n"
		    "parley_db_pool_connections{state=\"max\"} %d\n"
		    "parley_db_pool_connections{state=\"open\"} %d\n"
		    "parley_db_pool_connections{state=\"in_use\"} %d\n"
		    "# HELP parley_db_pool_acquires_total Pool acquisitions "
		    "by outcome.\n"
		    "# TYPE parley_db_pool_acquires_total counter\n"
		    "parley_db_pool_acquires_total{outcome=\"ok\"} %llu\n"
		    "parley_db_pool_acquires_total{outcome=\"waited\"} %llu\n"
		    "parley_db_pool_acquires_total{outcome=\"timeout\"} %llu\n",
		    st.size, st.open, st.in_use,
		    (unsigned long long)st.acquired,
		    (unsigned long long)st.waits,
		    (unsigned long long)st.timeouts);
	}
}

int
health_metrics(struct req *r)
{
	struct buf	 b;
	int		 st;

	buf_init(&b, 0);
	metrics_render(&b);
	pool_metrics(&b, r->app->db);
	st = resp_send(r, 200, "text/plain; version=0.0.4; charset=utf-8",
	    buf_str(&b), b.len);
	buf_cleanup(&b);
	return st;
}
