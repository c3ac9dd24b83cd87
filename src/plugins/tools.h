/*
 * tools: the first-party plugins' definitions, shared between their files
 * and registry.c. Internal to plugins/: other modules (the gateway too)
 * go through plugin.h.
 */
#ifndef PARLEY_PLUGINS_TOOLS_H
#define PARLEY_PLUGINS_TOOLS_H

#include "plugins/plugin.h"

extern const struct plugin	plugin_time_now;		/* time.c */
extern const struct plugin	plugin_knowledge_search;	/* knowledge.c */
extern const struct plugin	plugin_handoff_request;		/* handoff.c */
extern const struct plugin	plugin_whatsapp_send;		/* whatsapp.c */
extern const struct plugin	plugin_whatsapp_get_conversation;
extern const struct plugin	plugin_whatsapp_get_status;
extern const struct plugin	plugin_whatsapp_send_template;
extern const struct plugin	plugin_whatsapp_send_media;

#endif
