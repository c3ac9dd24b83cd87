/*
 * audit (http side): records an admin action for the request that did it.
 * The audit log itself (table, cleaning, reads) is model/audit.h; this file
 * only turns a request's principal (session user or API token) and client
 * address into a struct audit_actor, so model/ never sees a request.
 */
#ifndef PARLEY_HTTP_AUDIT_H
#define PARLEY_HTTP_AUDIT_H

#include <stdint.h>

#include "model/audit.h"

struct req;

/*
 * Records action by the request's principal (session user, API token, or
 * none) with its address. Failures are logged, never returned.
 */
void	 audit(struct req *r, const char *action, const char *target_type,
	    int64_t target_id, const char *detail);
/*
 * The same with an explicit principal, for actions taken before the
 * request has one (sign-in): records the request's address.
 */
void	 audit_as(struct req *r, int64_t org_id, int64_t user_id,
	    const char *actor, const char *action, const char *target_type,
	    int64_t target_id, const char *detail);
/* The request's principal as an audit actor (strings: the arena's). */
void	 req_audit_actor(struct req *r, struct audit_actor *out);

#endif
