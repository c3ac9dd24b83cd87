/*
 * webhooks: the HTTP handlers of the providers' webhook paths (DESIGN.md,
 * "Interfaces that stay stable"). Each verifies the request's signature
 * with the resolved channel's secret before trusting any of it, stores
 * what it carries through chat/ingest.c, records rejections on the
 * channel's health panel, and answers what its provider expects.
 */
#ifndef PARLEY_WEBHOOKS_WEBHOOKS_H
#define PARLEY_WEBHOOKS_WEBHOOKS_H

struct req;

int	 webhook_twilio_inbound(struct req *r);	/* POST …/twilio */
int	 webhook_twilio_status(struct req *r);	/* POST …/twilio/status */
int	 webhook_meta_verify(struct req *r);	/* GET  …/meta */
int	 webhook_meta_event(struct req *r);	/* POST …/meta */
int	 webhook_kapso_event(struct req *r);	/* POST …/kapso */
int	 webhook_kapso_project(struct req *r);	/* POST /webhooks/kapso/project */

#endif
