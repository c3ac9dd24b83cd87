/*
 * registry: the table of first-party plugins (see plugin.h).
 *
 * The table is static and read-only, so every function here is
 * thread-safe. The WhatsApp tools (plugins/whatsapp.c) need a chat
 * (needs_channel): they are available, and answer a tool error when the
 * call is not answering a WhatsApp conversation.
 */
#include "plugins/plugin.h"

#include <stddef.h>

#include "plugins/mcp.h"
#include "plugins/tools.h"
#include "util/str.h"

static const struct plugin *const registry[] = {
	&plugin_time_now,
	&plugin_knowledge_search,
	&plugin_handoff_request,
	&plugin_whatsapp_send,			/* whatsapp.c */
	&plugin_whatsapp_get_conversation,
	&plugin_whatsapp_get_status,
	&plugin_whatsapp_send_template,
	&plugin_whatsapp_send_media,
};

#define N_PLUGINS	((int)(sizeof(registry) / sizeof(registry[0])))

const struct plugin *const *
plugin_all(int *n)
{
	*n = N_PLUGINS;
	return registry;
}

const struct plugin *
plugin_find(const char *id)
{
	if (id == NULL)
		return NULL;
	for (int i = 0; i < N_PLUGINS; i++)
		if (str_eq(registry[i]->id, id))
			return registry[i];
	return NULL;
}

const struct plugin *
plugin_fallback(void)
{
	for (int i = 0; i < N_PLUGINS; i++)
		if (registry[i]->fallback)
			return registry[i];
	return NULL;
}

bool
plugin_id_usable(const char *id)
{
	const struct plugin	*p = plugin_find(id);

	return p != NULL && plugin_available(p);
}

bool
plugin_available(const struct plugin *p)
{
	/* The WhatsApp tools (needs_channel) run while a reply job answers
	 * a chat and answer a tool error elsewhere (plugins/whatsapp.c). */
	return p != NULL;
}

int
plugin_dynamic_tools(struct plugin_ctx *ctx, const struct plugin **out,
    int max)
{
	return mcp_agent_tools(ctx, out, max);
}

void
plugin_wire_name(const char *id, char out[PLUGIN_WIRE_MAX + 1])
{
	size_t	 n = 0;

	for (; id[n] != '\0' && n < PLUGIN_WIRE_MAX; n++) {
		char	 c = id[n];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-')
			out[n] = c;
		else
			out[n] = '_';
	}
	out[n] = '\0';
}
