/*
 * plugin: first-party tools an agent may offer its model (STYLE.md §1).
 * Each plugin has a dotted id as users know it ("time.now"), a title, a
 * description, a JSON Schema for its arguments, and an invoke function.
 * Only an agent's enabled plugins are offered; a call naming anything else
 * is answered with a tool error and never run (llm/gateway.c).
 *
 * On the wire to the model, ids become function names matching
 * [a-zA-Z0-9_-]{1,64} (OpenAI's rule, PROTOCOLS.md §5.1): '.' → '_'.
 * The gateway maps a called name back by comparing against the enabled
 * plugins' wire names, so the mapping never has to be inverted.
 *
 * This header is the tool interface: the gateway (llm/) includes it and
 * nothing else of plugins/, so it never names a plugin. What a tool needs
 * to know of the call (its model call's id, the chat it answers) comes in
 * struct plugin_ctx; what the call needs to know of a tool comes from its
 * flags (fallback).
 */
#ifndef PARLEY_PLUGINS_PLUGIN_H
#define PARLEY_PLUGINS_PLUGIN_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct app;
struct db_pool;
struct arena;

#define PLUGIN_WIRE_MAX	64

/* What a tool may use while it runs. No DB connection is held by the
 * caller while the model is thinking; a tool acquires one if it needs it. */
struct plugin_ctx {
	struct db_pool	*pool;
	struct arena	*arena;
	int64_t		 org_id;
	int64_t		 agent_id;	/* 0: a bare model (no plugins) */
	const char	*contact;	/* number or name, may be "" */
	int64_t		 chat_id;	/* the WhatsApp chat answered, 0: none */
	int64_t		 channel_id;	/* its channel, 0: none */
	const struct app *app;		/* config and master key; NULL
					   outside the server (tests) */
	int64_t		 llm_call_id;	/* the model call's llm_calls id
					   (reserved before any tool runs) */
	bool		 handoff_requested;	/* set by a tool that handed
						   the chat to a person */
};

struct plugin {
	const char	*id;
	const char	*title;
	const char	*description;	/* sent to the model, shown in panel */
	const char	*params_schema;	/* JSON Schema object, as text */
	bool		 needs_channel;	/* WhatsApp tools: not yet available */
	/*
	 * The tool a model with no answer calls: offered to the built-in
	 * offline model (llm/builtin.c) whatever the agent enabled, since
	 * handing off is how it says "I don't know". One plugin has it.
	 */
	bool		 fallback;
	/*
	 * Runs the tool. args is the parsed arguments object (validated
	 * against nothing but its JSON shape: check what you read). On
	 * success sets *result (malloc'd text, usually JSON) and returns
	 * true; on a tool error returns false with *result a sentence.
	 */
	bool		(*invoke)(struct plugin_ctx *ctx, const cJSON *args,
			    char **result);
	/*
	 * Tools made at run time (an organisation's MCP servers, see
	 * plugin_dynamic_tools) run through this instead of invoke: self is
	 * the tool (its impl says which server and tool), and record is the
	 * call's entry in the turn's record, where the tool may add what the
	 * review shows (server, tool). Same result contract as invoke.
	 */
	bool		(*run)(const struct plugin *self, struct plugin_ctx *ctx,
			    const cJSON *args, char **result, cJSON *record);
	const void	*impl;
};

/* Every registered plugin, in display order; *n gets the count. */
const struct plugin *const *plugin_all(int *n);
/* A plugin by dotted id, or NULL. */
const struct plugin *plugin_find(const char *id);
/* The plugin with the fallback flag (see struct plugin), or NULL. */
const struct plugin *plugin_fallback(void);
/* True when the plugin can run in this installation (channels exist…). */
bool		 plugin_available(const struct plugin *p);
/*
 * The tools the organisation adds at run time that ctx's agent enabled
 * (its MCP servers, plugins/mcp.c): at most max into out, made in
 * ctx->arena, each with an id that is already a wire name and collides
 * with no registered plugin's wire name nor another's. A server that
 * cannot be reached contributes nothing (or its last known tools); no
 * database connection is held while a server answers. Returns how many.
 */
int		 plugin_dynamic_tools(struct plugin_ctx *ctx,
		    const struct plugin **out, int max);
/*
 * True when id names a plugin that may be enabled for an agent (known and
 * available): the check model/agent.c is handed (it never includes
 * plugins/).
 */
bool		 plugin_id_usable(const char *id);
/* The function name for the wire ("time.now" → "time_now"). */
void		 plugin_wire_name(const char *id, char out[PLUGIN_WIRE_MAX + 1]);

#endif
