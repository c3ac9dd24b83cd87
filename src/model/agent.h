/*
 * agent: the agents of an organisation (owns tables `agents` and
 * `agent_plugins`). An agent has a name, a slug unique in the org, a
 * Mustache system prompt ({{organizationName}} {{agentName}}
 * {{contactName}} {{date}}), a model (0: the org's default), a mode
 * ("chat": the thread's history is sent; "task": each message alone),
 * limits, a reset command (NULL: off), an allow-list of phone numbers,
 * WhatsApp user ids and @usernames (empty: everyone), escalation
 * keywords and its enabled plugins.
 * Its chat texts override chat/texts.h's defaults ({"welcome": "…"});
 * require_mention makes it answer in a group only when mentioned.
 * transcription_model names the model its provider transcribes voice notes
 * with (whisper-1, …; "": voice notes are not transcribed).
 *
 * How its turns run (worker/turn.c): session_timeout_minutes (a chat idle
 * longer starts a new thread), debounce_ms (the wait after the latest
 * message before the model is asked, 0: none), busy_mode (a message that
 * arrives while the model works: "restart" aborts the model call and
 * starts again with everything, "follow_up" answers it in a second turn
 * right after), busy_ack (acknowledge such a message at once with the
 * busy text), outage_window_s (how long a failing model is waited out
 * before a person is asked) and outage_notice_s (after how long of that
 * the user hears it takes longer than usual). doc_context_chars bounds
 * the document text (of the documents sent in the thread) its model is
 * given with a turn, newest first. While it works on a turn it shows the
 * typing indicator (typing_indicator, which also marks the message
 * read), marks messages read (read_receipts) and/or puts ⏳ on the
 * message (working_reaction).
 */
#ifndef PARLEY_MODEL_AGENT_H
#define PARLEY_MODEL_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "model/fielderr.h"

struct arena;

#define AGENT_LIST_MAX		200	/* allow-list / keyword entries */

struct agent {
	int64_t	 id;
	char	*name;
	char	*slug;
	char	*system_prompt;
	int64_t	 model_id;		/* 0: org default */
	char	*model_name;		/* display name of model_id, or "" */
	char	*mode;			/* "chat" | "task" */
	int	 history_length;
	bool	 has_temperature;
	double	 temperature;
	int	 max_tokens;		/* 0: provider default */
	char	*reset_command;		/* NULL: turned off */
	char	**allow_list;
	int	 n_allow;
	char	**escalation_keywords;
	int	 n_escalation;
	char	**plugins;		/* enabled plugin ids, sorted */
	int	 n_plugins;
	char	*texts;			/* JSON object of overrides, "{}": none */
	bool	 require_mention;	/* groups: answer only when mentioned */
	char	*transcription_model;	/* "": voice notes not transcribed */
	int	 session_timeout_minutes;
	int	 debounce_ms;
	char	*busy_mode;		/* AGENT_BUSY_RESTART|_FOLLOW_UP */
	bool	 busy_ack;
	int	 outage_window_s;
	int	 outage_notice_s;
	bool	 typing_indicator;	/* while working (marks read too) */
	bool	 read_receipts;		/* mark inbound messages read */
	bool	 working_reaction;	/* ⏳ while working */
	int	 doc_context_chars;	/* document text given to the model */
	bool	 has_tool_servers;	/* linked to MCP servers (read-only
					   here; model/mcp_server.h) */
	char	*created_at;
	char	*updated_at;
};

struct agent_input {
	const char		*name;
	const char		*slug;		/* NULL or "": from the name */
	const char		*system_prompt;
	int64_t			 model_id;	/* 0: org default */
	const char		*mode;
	int			 history_length;
	bool			 has_temperature;
	double			 temperature;
	int			 max_tokens;	/* 0: none */
	const char		*reset_command;	/* NULL or "": off */
	const char *const	*allow_list;	/* "+E164" numbers, user ids
						   ("US.…"), "@usernames" */
	int			 n_allow;
	const char *const	*escalation_keywords;
	int			 n_escalation;
	/*
	 * A JSON object {"<chat_text_key>": "text", …}; each value 1–1000
	 * characters. NULL: unchanged on update, "{}" on create.
	 */
	const char		*texts_json;
	bool			 require_mention;
	/*
	 * The model the agent's provider transcribes voice notes with: at
	 * most 100 printable characters, "" turns it off. NULL: unchanged
	 * on update, "" on create.
	 */
	const char		*transcription_model;
	/* The turn settings (see the top): always written; defaults from
	 * agent_input_defaults, an update starts from the agent's own. */
	int			 session_timeout_minutes;
	int			 debounce_ms;
	const char		*busy_mode;
	bool			 busy_ack;
	int			 outage_window_s;
	int			 outage_notice_s;
	bool			 typing_indicator;
	bool			 read_receipts;
	bool			 working_reaction;
	/* Characters of the thread's document text the model is given
	 * (newest documents first; 0: none). */
	int			 doc_context_chars;
};

#define AGENT_BUSY_RESTART	"restart"
#define AGENT_BUSY_FOLLOW_UP	"follow_up"
/* Their ranges (migrations/0018_turns.sql checks them too). */
#define AGENT_SESSION_MINUTES_MAX	525600	/* a year */
#define AGENT_DEBOUNCE_MS_MAX		60000
#define AGENT_OUTAGE_S_MAX		86400
#define AGENT_DOC_CONTEXT_DFLT		20000	/* migrations/0024 */
#define AGENT_DOC_CONTEXT_MAX		500000

#define AGENT_TEXT_MAX_CHARS	1000

/*
 * The keys of agents.texts (the overrides of what Parley says itself),
 * in the order of chat/texts.h's enum chat_text, which names them: the
 * column's format is the agent's, the wording and its defaults chat/'s.
 */
#define AGENT_TEXTS		14
extern const char *const	agent_text_keys[AGENT_TEXTS];

/*
 * Whether a plugin id may be enabled for an agent. The caller hands in
 * the catalogue's check (plugins/plugin.h plugin_id_usable), so model/
 * never includes plugins/.
 */
typedef bool	(*agent_plugin_ok)(const char *id);
#define AGENT_TRANSCRIPTION_MODEL_MAX	100	/* characters */

/*
 * Defaults for a new agent's form (mode chat, history 20, /reset, no text
 * overrides, no mention required, transcription_model NULL: kept; a day's
 * session, 1.5 s debounce, restart when busy without acknowledgment, a
 * 10-minute outage window with a notice after a minute; typing indicator
 * and read receipts on, ⏳ off).
 */
void		 agent_input_defaults(struct agent_input *in);
/* Lower-case letters, digits and dashes from name into out[64]. */
void		 agent_slugify(const char *name, char out[64]);

enum db_status	 agent_list(struct db *db, struct arena *a, int64_t org_id,
		    struct agent **out, int *n)
		    __attribute__((warn_unused_result));
enum db_status	 agent_get(struct db *db, struct arena *a, int64_t org_id,
		    int64_t id, struct agent *out)
		    __attribute__((warn_unused_result));
enum db_status	 agent_get_by_slug(struct db *db, struct arena *a,
		    int64_t org_id, const char *slug, struct agent *out)
		    __attribute__((warn_unused_result));
/*
 * Validates (DB_INVALID + errs); DB_CONFLICT for a taken slug. Text
 * errors name the field "texts.<key>" (a bad value) or "texts" (not an
 * object, an unknown key: the message quotes it).
 */
enum db_status	 agent_create(struct db *db, int64_t org_id,
		    const struct agent_input *in, struct field_errors *errs,
		    int64_t *id) __attribute__((warn_unused_result));
/* The same; in->texts_json NULL keeps the stored texts. */
enum db_status	 agent_update(struct db *db, int64_t org_id, int64_t id,
		    const struct agent_input *in, struct field_errors *errs)
		    __attribute__((warn_unused_result));
/*
 * The field name errors use for text t's override ("texts.welcome"), a
 * static string; NULL for an out-of-range t (an enum chat_text).
 */
const char	*agent_text_field(int t);

enum db_status	 agent_delete(struct db *db, int64_t org_id, int64_t id)
		    __attribute__((warn_unused_result));
/*
 * Replaces the agent's enabled plugins with ids (each must pass ok:
 * DB_INVALID otherwise, nothing changed). Runs in the caller's
 * transaction when there is one, else in its own.
 */
enum db_status	 agent_set_plugins(struct db *db, int64_t org_id,
		    int64_t agent_id, const char *const *ids, int n,
		    agent_plugin_ok ok) __attribute__((warn_unused_result));

#endif
