/*
 * tools: the first-party plugins' definitions, shared between their files
 * and registry.c, plus what the gateway needs of handoff.c beyond the
 * plugin itself. Internal to plugins/ and llm/: other modules go through
 * plugin.h.
 */
#ifndef PARLEY_PLUGINS_TOOLS_H
#define PARLEY_PLUGINS_TOOLS_H

#include <stdint.h>

#include "db/db.h"
#include "plugins/plugin.h"

extern const struct plugin	plugin_time_now;		/* time.c */
extern const struct plugin	plugin_knowledge_search;	/* knowledge.c */
extern const struct plugin	plugin_handoff_request;		/* handoff.c */
extern const struct plugin	plugin_whatsapp_send;		/* whatsapp.c */
extern const struct plugin	plugin_whatsapp_get_conversation;
extern const struct plugin	plugin_whatsapp_get_status;

/* The id handoff.request reports in its result ("handoffId"). */
#define HANDOFF_RESULT_ID	"handoffId"
#define HANDOFF_REASON_MAX	500	/* characters kept */

/*
 * Records that a conversation needs a person (table `handoffs`, owned by
 * handoff.c). agent_id 0 stores NULL. *id gets the new row's id.
 */
enum db_status	 handoff_create(struct db *db, int64_t org_id,
		    int64_t agent_id, const char *reason, const char *contact,
		    int64_t *id) __attribute__((warn_unused_result));
/* Ties a handoff to the llm_calls row of the call that made it. */
enum db_status	 handoff_set_llm_call(struct db *db, int64_t org_id,
		    int64_t handoff_id, int64_t llm_call_id)
		    __attribute__((warn_unused_result));

#endif
