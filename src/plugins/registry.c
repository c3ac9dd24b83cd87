/*
 * registry: the table of first-party plugins (see plugin.h).
 *
 * The table is static and read-only, so every function here is
 * thread-safe. The WhatsApp tools are listed so the panel can show them,
 * but need a channel (needs_channel) and channels do not exist yet:
 * plugin_available() says no, agent_set_plugins() refuses them, and their
 * invoke only answers a tool error, in case one is ever reached anyway.
 */
#include "plugins/plugin.h"

#include <stddef.h>

#include "plugins/tools.h"
#include "util/str.h"
#include "util/xmalloc.h"

static bool	 whatsapp_invoke(struct plugin_ctx *, const cJSON *, char **);

static const struct plugin plugin_whatsapp_send = {
	.id = "whatsapp.send",
	.title = "Send a WhatsApp message",
	.description = "Send a WhatsApp text message to a phone number on "
	    "behalf of this agent.",
	.params_schema =
	    "{\"type\":\"object\","
	    "\"properties\":{"
	    "\"to\":{\"type\":\"string\",\"description\":"
	    "\"The recipient's phone number in E.164 form, e.g. +14155550123.\"},"
	    "\"text\":{\"type\":\"string\",\"description\":"
	    "\"The message text.\"}},"
	    "\"required\":[\"to\",\"text\"],"
	    "\"additionalProperties\":false}",
	.needs_channel = true,
	.invoke = whatsapp_invoke,
};

static const struct plugin plugin_whatsapp_get_conversation = {
	.id = "whatsapp.getConversation",
	.title = "Read a WhatsApp conversation",
	.description = "Read the most recent messages of the current WhatsApp "
	    "conversation.",
	.params_schema =
	    "{\"type\":\"object\","
	    "\"properties\":{"
	    "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":50,"
	    "\"description\":\"How many recent messages to return "
	    "(default 20).\"}},"
	    "\"additionalProperties\":false}",
	.needs_channel = true,
	.invoke = whatsapp_invoke,
};

static const struct plugin plugin_whatsapp_get_status = {
	.id = "whatsapp.getStatus",
	.title = "WhatsApp delivery status",
	.description = "Tell whether a message sent on WhatsApp was delivered "
	    "and read.",
	.params_schema =
	    "{\"type\":\"object\","
	    "\"properties\":{"
	    "\"messageId\":{\"type\":\"string\",\"description\":"
	    "\"The id of a message this agent sent.\"}},"
	    "\"required\":[\"messageId\"],"
	    "\"additionalProperties\":false}",
	.needs_channel = true,
	.invoke = whatsapp_invoke,
};

static const struct plugin *const registry[] = {
	&plugin_time_now,
	&plugin_knowledge_search,
	&plugin_handoff_request,
	&plugin_whatsapp_send,
	&plugin_whatsapp_get_conversation,
	&plugin_whatsapp_get_status,
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

bool
plugin_available(const struct plugin *p)
{
	/* No channels exist in this installation yet. */
	return p != NULL && !p->needs_channel;
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

static bool
whatsapp_invoke(struct plugin_ctx *ctx, const cJSON *args, char **result)
{
	(void)ctx;
	(void)args;
	*result = xstrdup("WhatsApp channels are not set up in this "
	    "installation yet.");
	return false;
}
