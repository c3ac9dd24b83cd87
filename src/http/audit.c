/*
 * audit (http side): see audit.h.
 */
#include "http/audit.h"

#include "db/db.h"
#include "http/req.h"
#include "model/apitoken.h"
#include "util/arena.h"

void
req_audit_actor(struct req *r, struct audit_actor *out)
{
	char	 prefix[APITOKEN_PREFIX_MAX + 1];

	out->org_id = r->org_id;
	out->user_id = 0;
	out->label = "system";
	out->ip = req_remote_addr(r);
	if (r->session != NULL) {
		out->label = r->session->email ? r->session->email : "";
		out->user_id = r->session->user_id;
	} else if (r->token_id > 0 && req_db(r) != NULL &&
	    apitoken_prefix(r->db, r->org_id, r->token_id, prefix) == DB_OK)
		out->label = arena_printf(r->arena, "token:%s", prefix);
	else if (r->token_id > 0)
		out->label = "token";
}

void
audit(struct req *r, const char *action, const char *target_type,
    int64_t target_id, const char *detail)
{
	struct audit_actor	 who;

	req_audit_actor(r, &who);
	audit_record(req_db(r), &who, action, target_type, target_id, detail);
}

void
audit_as(struct req *r, int64_t org_id, int64_t user_id, const char *actor,
    const char *action, const char *target_type, int64_t target_id,
    const char *detail)
{
	struct audit_actor	 who = {
		.org_id = org_id,
		.user_id = user_id,
		.label = actor,
		.ip = req_remote_addr(r),
	};

	audit_record(req_db(r), &who, action, target_type, target_id, detail);
}
