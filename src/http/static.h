/*
 * static: /static/{*path} from the static/ directory, and the health and
 * metrics endpoints (health.c). Files are read per request (they are few
 * and small; the OS caches them) and sent with a short public cache.
 */
#ifndef PARLEY_HTTP_STATIC_H
#define PARLEY_HTTP_STATIC_H

struct req;

int	 static_serve(struct req *r);	/* GET /static/{*path} */
int	 health_live(struct req *r);	/* GET /healthz */
int	 health_ready(struct req *r);	/* GET /readyz */
int	 health_metrics(struct req *r);	/* GET /metrics */

#endif
