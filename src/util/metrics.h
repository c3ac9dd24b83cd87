/*
 * metrics: lock-free counters for GET /metrics (Prometheus text format 0.0.4).
 * Requests are counted by route pattern and status; latency goes into one
 * histogram per route. Route slots are fixed at start (the route table), so
 * recording is a few atomic adds. 
 */
#ifndef PARLEY_UTIL_METRICS_H
#define PARLEY_UTIL_METRICS_H

#include <stdint.h>

#include "util/buf.h"

/* Sizes the table for n_routes route patterns (plus one for "unmatched"). */
void	 metrics_init(int n_routes, const char *const *patterns);
void	 metrics_free(void);
/* Records one request; route -1 means no route matched. */
void	 metrics_request(int route, int status, int64_t duration_us);
/* Records one committed ingest transaction holding n_messages inbound
 * messages, a provider's retry of a stored one included (webhooks/
 * ingest.c's group commit): their ratio is the batch size. */
void	 metrics_ingest_commit(int n_messages);
/* Appends the request counters, latency histograms and uptime to b (the
 * database pool's gauges are appended by http/health.c, which may see db/). */
void	 metrics_render(struct buf *b);

#endif
