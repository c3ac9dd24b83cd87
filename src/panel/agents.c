/*
 * agents: the Agents area of the panel — the list, the new/edit form, and
 * on an agent's page its plugins, knowledge base, a link to its sandbox
 * chat (panel/sandbox.c) and its recent model calls. Everything is a plain
 * form post (the panel works with JavaScript off); each POST either
 * redirects with a flash message or re-renders the page with the sentence
 * next to the field (422/409).
 *
 * The agent page holds three forms, so field names are kept apart: the
 * settings use the agent's field names, the knowledge form k_title, k_body
 * and k_file, the plugin form "plugins". Every id in a URL is looked up
 * with the session's org_id first, so another organisation's agent or
 * entry is a 404 before anything else happens.
 *
 * The settings form also carries the agent's chat texts (texts_<key>, one
 * textarea per chat/texts.h text: empty means "use the default", which is
 * the placeholder), require_mention (a checkbox) and transcription_model
 * (the model the agent's provider transcribes voice notes with; empty:
 * off).
 *
 * Data comes from model/agent, model/knowledge, model/orgmodel,
 * model/llmcall and plugins/.
 */
#include "panel/panel.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/context.h"
#include "util/json.h"
#include "util/log.h"
#include "chat/texts.h"
#include "db/db.h"
#include "http/form.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/agent.h"
#include "http/audit.h"
#include "model/fielderr.h"
#include "model/knowledge.h"
#include "model/llmcall.h"
#include "model/orgmodel.h"
#include "plugins/plugin.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/utf8.h"

#define RECENT_CALLS		10
#define FILENAME_MAX_BYTES	200

/* What the agent page shows besides the stored agent (all optional). */
/* How the Messages section labels each text and which variables it has. */
static const struct {
	const char	*label;
	const char	*vars;
} text_info[TEXT_COUNT] = {
	[TEXT_CONNECTED] = { "Connected", "{agent}" },
	[TEXT_SWITCHED] = { "Switched agent", "{old}, {new}" },
	[TEXT_INVALID_FORMAT] = { "Malformed connect code", NULL },
	[TEXT_INVALID_CODE] = { "Unknown or expired connect code", NULL },
	[TEXT_TOO_MANY] = { "Too many failed codes", "{minutes}" },
	[TEXT_RESET] = { "Session reset", "{agent}" },
	[TEXT_WELCOME] = { "Welcome (chat not connected yet)", "{product}" },
	[TEXT_BUSY] = { "Acknowledgment while the model works "
	    "(sent only when turned on below)", NULL },
	[TEXT_NOT_ALLOWED] = { "Operation not allowed", NULL },
	[TEXT_HANDOFF] = { "Handed to a person", NULL },
	[TEXT_UNSUPPORTED] = { "A message the agent cannot read", NULL },
	[TEXT_SLOW] = { "The model takes longer than usual", NULL },
	[TEXT_RETURNED] = { "Timeline note: back with the AI after an "
	    "outage", "{agent}" },
	[TEXT_NO_VISION] = { "An image sent to a model that cannot see "
	    "images (the words with it are still answered)", "{agent}" },
};

struct edit_state {
	cJSON				*form;	/* settings as posted */
	const struct field_errors	*errs;	/* settings errors */
	cJSON				*k_form;	/* knowledge as posted */
	const struct field_errors	*k_errs;
	const char			*plugins_error;
};

static bool	 load_agent(struct req *, int64_t *, struct agent *, int *);
static char	*trimmed(struct req *, const char *);
static char	**split_lines(struct req *, const char *, int *);
static char	*join_lines(struct req *, char *const *, int);
static const char *short_time(struct req *, const char *);
static void	 read_form(struct req *, struct agent_input *,
		    struct field_errors *);
static int	 form_int(struct req *, struct field_errors *, const char *,
		    int, int64_t, int64_t, const char *);
static cJSON	*form_from_agent(struct req *, const struct agent *);
static cJSON	*form_from_post(struct req *);
static void	 add_errors(struct req *, cJSON *, const char *,
		    const struct field_errors *);
static bool	 add_models(struct req *, cJSON *, const cJSON *);
static void	 add_plugins(cJSON *, const struct agent *);
static const char *texts_from_form(struct req *);
static void	 add_texts(struct req *, cJSON *, const cJSON *,
		    const struct field_errors *);
static bool	 add_knowledge(struct req *, cJSON *, int64_t);
static bool	 add_calls(struct req *, cJSON *, int64_t);
static int	 form_page(struct req *, int, cJSON *,
		    const struct field_errors *);
static int	 edit_page(struct req *, int, const struct agent *,
		    struct edit_state *);
static bool	 ext_ok(const char *);
static const char *base_name(struct req *, const char *);
static int	 knowledge_page(struct req *, int, const struct agent *,
		    const struct knowledge_entry *, const char *,
		    const char *, const struct field_errors *);

/*
 * Loads the agent named by {id} in the session's organisation. On false
 * the response has been sent and *status holds it (404, 503).
 */
static bool
load_agent(struct req *r, int64_t *id, struct agent *g, int *status)
{
	enum db_status	 st;

	if (!req_param_id(r, "id", id)) {
		*status = resp_not_found(r);
		return false;
	}
	if (req_db(r) == NULL) {
		*status = resp_unavailable(r);
		return false;
	}
	st = agent_get(r->db, r->arena, r->org_id, *id, g);
	if (st == DB_OK)
		return true;
	*status = st == DB_NOT_FOUND ? resp_not_found(r) :
	    resp_unavailable(r);
	return false;
}

/* An arena copy of s without surrounding white space ("" for NULL). */
static char *
trimmed(struct req *r, const char *s)
{
	return str_trim(arena_strdup(r->arena, s != NULL ? s : ""));
}

/*
 * The non-blank lines of a textarea, trimmed. At most AGENT_LIST_MAX + 1
 * are kept: enough for the model to say there are too many.
 */
static char **
split_lines(struct req *r, const char *text, int *n)
{
	char	**v = arena_alloc(r->arena, sizeof(char *) *
		    (AGENT_LIST_MAX + 1));
	char	*copy = arena_strdup(r->arena, text != NULL ? text : "");
	char	*line, *next;

	*n = 0;
	for (line = copy; line != NULL && *n <= AGENT_LIST_MAX; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		str_trim(line);
		if (*line != '\0')
			v[(*n)++] = line;
	}
	return v;
}

static char *
join_lines(struct req *r, char *const *v, int n)
{
	struct buf	 b;
	char		*s;

	buf_init(&b, 0);
	for (int i = 0; i < n; i++) {
		buf_puts(&b, v[i]);
		buf_putc(&b, '\n');
	}
	s = arena_strdup(r->arena, buf_str(&b));
	buf_cleanup(&b);
	return s;
}

/* "2026-01-02 10:11:12.345+00" → "2026-01-02 10:11". */
static const char *
short_time(struct req *r, const char *t)
{
	return arena_strndup(r->arena, t != NULL ? t : "", 16);
}

/*
 * The settings form into in (arena strings). A number that does not parse
 * gets its sentence here and an out-of-range value in `in`, so the model
 * rejects the whole form and every field's error shows at once.
 */
static void
read_form(struct req *r, struct agent_input *in, struct field_errors *errs)
{
	const struct form	*f = r->form;
	const char		*s;
	char			*end;
	int64_t			 v;
	int			 n;

	agent_input_defaults(in);
	in->name = trimmed(r, form_get(f, "name"));
	in->slug = str_lower(trimmed(r, form_get(f, "slug")));
	in->system_prompt = form_str(f, "system_prompt");
	in->mode = trimmed(r, form_get(f, "mode"));

	s = trimmed(r, form_get(f, "model_id"));
	if (*s == '\0')
		in->model_id = 0;
	else if (!str_to_i64(s, &in->model_id) || in->model_id < 0) {
		field_error_add(errs, "model_id", "Choose one of your models.");
		in->model_id = -1;
	}

	s = trimmed(r, form_get(f, "history_length"));
	if (!str_to_i64(s, &v) || v < 0 || v > 200) {
		field_error_add(errs, "history_length",
		    "Enter a whole number from 0 to 200.");
		v = -1;
	}
	in->history_length = (int)v;

	s = trimmed(r, form_get(f, "temperature"));
	in->has_temperature = *s != '\0';
	if (in->has_temperature) {
		errno = 0;
		in->temperature = strtod(s, &end);
		if (errno != 0 || *end != '\0' || !isfinite(in->temperature)) {
			field_error_add(errs, "temperature", "Enter a number "
			    "from 0 to 2 (for example 0.7), or leave it "
			    "empty.");
			in->temperature = -1;
		}
	}

	s = trimmed(r, form_get(f, "max_tokens"));
	if (*s == '\0')
		v = 0;
	else if (!str_to_i64(s, &v) || v < 0 || v > 100000) {
		field_error_add(errs, "max_tokens", "Enter a whole number "
		    "from 1 to 100000, or leave it empty.");
		v = -1;
	}
	in->max_tokens = (int)v;

	in->reset_command = trimmed(r, form_get(f, "reset_command"));
	in->allow_list = (const char *const *)split_lines(r,
	    form_get(f, "allow_list"), &n);
	in->n_allow = n;
	in->escalation_keywords = (const char *const *)split_lines(r,
	    form_get(f, "escalation_keywords"), &n);
	in->n_escalation = n;
	in->texts_json = texts_from_form(r);
	in->require_mention = form_get(f, "require_mention") != NULL;
	in->typing_indicator = form_get(f, "typing_indicator") != NULL;
	in->read_receipts = form_get(f, "read_receipts") != NULL;
	in->working_reaction = form_get(f, "working_reaction") != NULL;
	/* A form without the field keeps the stored value. */
	s = form_get(f, "transcription_model");
	in->transcription_model = s != NULL ? trimmed(r, s) : NULL;

	in->session_timeout_minutes = form_int(r, errs,
	    "session_timeout_minutes", in->session_timeout_minutes, 1,
	    AGENT_SESSION_MINUTES_MAX, "Enter a whole number of minutes from "
	    "1 to 525600.");
	in->debounce_ms = form_int(r, errs, "debounce_ms", in->debounce_ms, 0,
	    AGENT_DEBOUNCE_MS_MAX, "Enter a whole number of milliseconds "
	    "from 0 to 60000.");
	in->outage_window_s = form_int(r, errs, "outage_window_s",
	    in->outage_window_s, 1, AGENT_OUTAGE_S_MAX, "Enter a whole number "
	    "of seconds from 1 to 86400.");
	in->outage_notice_s = form_int(r, errs, "outage_notice_s",
	    in->outage_notice_s, 1, AGENT_OUTAGE_S_MAX, "Enter a whole number "
	    "of seconds from 1 to 86400.");
	in->doc_context_chars = form_int(r, errs, "doc_context_chars",
	    in->doc_context_chars, 0, AGENT_DOC_CONTEXT_MAX, "Enter a whole "
	    "number of characters from 0 to 500000.");
	if (form_get(f, "busy_mode") != NULL)
		in->busy_mode = trimmed(r, form_get(f, "busy_mode"));
	in->busy_ack = form_get(f, "busy_ack") != NULL;
}

/*
 * Form field name as a whole number in [lo, hi]; absent, dflt (a form
 * from before the field existed keeps the setting); otherwise the error
 * `why` and -1 (so the model refuses the form as a whole).
 */
static int
form_int(struct req *r, struct field_errors *errs, const char *name,
    int dflt, int64_t lo, int64_t hi, const char *why)
{
	const char	*s;
	int64_t		 v;

	if (form_get(r->form, name) == NULL)
		return dflt;
	s = trimmed(r, form_get(r->form, name));

	if (!str_to_i64(s, &v) || v < lo || v > hi) {
		field_error_add(errs, name, why);
		return -1;
	}
	return (int)v;
}

/* The non-empty texts_<key> fields as a JSON object (arena). */
static const char *
texts_from_form(struct req *r)
{
	cJSON		*o = cJSON_CreateObject();
	const char	*v;
	char		*json, *out;

	for (int t = 0; t < TEXT_COUNT; t++) {
		v = trimmed(r, form_get(r->form, arena_printf(r->arena,
		    "texts_%s", chat_text_key((enum chat_text)t))));
		if (*v != '\0')
			cJSON_AddStringToObject(o,
			    chat_text_key((enum chat_text)t), v);
	}
	if ((json = cJSON_PrintUnformatted(o)) == NULL)
		abort();
	out = arena_strdup(r->arena, json);
	cJSON_free(json);
	cJSON_Delete(o);
	return out;
}

/*
 * The Messages section: one entry per text with its form value (from
 * form's texts_<key>), its default as the placeholder, its variables and
 * its error. An error about the texts as a whole goes to error_texts.
 */
static void
add_texts(struct req *r, cJSON *ctx, const cJSON *form,
    const struct field_errors *errs)
{
	cJSON		*list = cJSON_AddArrayToObject(ctx, "texts");
	cJSON		*o;
	const char	*key, *name, *msg;

	for (int t = 0; t < TEXT_COUNT; t++) {
		key = chat_text_key((enum chat_text)t);
		name = arena_printf(r->arena, "texts_%s", key);
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "key", key);
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddStringToObject(o, "label", text_info[t].label);
		cJSON_AddStringToObject(o, "default",
		    chat_text_default((enum chat_text)t));
		cJSON_AddStringToObject(o, "value", cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(form, name)) != NULL ?
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(form,
		    name)) : "");
		if (text_info[t].vars != NULL)
			cJSON_AddStringToObject(o, "vars", text_info[t].vars);
		msg = errs != NULL ? field_error_get(errs,
		    agent_text_field((enum chat_text)t)) : NULL;
		if (msg != NULL)
			cJSON_AddStringToObject(o, "error", msg);
		cJSON_AddItemToArray(list, o);
	}
}

static cJSON *
form_from_agent(struct req *r, const struct agent *g)
{
	cJSON		*f = cJSON_CreateObject();
	cJSON		*texts;
	const cJSON	*e;
	char		 num[32];

	cJSON_AddStringToObject(f, "name", g->name);
	cJSON_AddStringToObject(f, "slug", g->slug);
	cJSON_AddStringToObject(f, "system_prompt", g->system_prompt);
	snprintf(num, sizeof(num), "%lld", (long long)g->model_id);
	cJSON_AddStringToObject(f, "model_id", num);
	cJSON_AddStringToObject(f, "mode", g->mode);
	snprintf(num, sizeof(num), "%d", g->history_length);
	cJSON_AddStringToObject(f, "history_length", num);
	if (g->has_temperature)
		snprintf(num, sizeof(num), "%g", g->temperature);
	else
		num[0] = '\0';
	cJSON_AddStringToObject(f, "temperature", num);
	if (g->max_tokens > 0)
		snprintf(num, sizeof(num), "%d", g->max_tokens);
	else
		num[0] = '\0';
	cJSON_AddStringToObject(f, "max_tokens", num);
	cJSON_AddStringToObject(f, "reset_command",
	    g->reset_command != NULL ? g->reset_command : "");
	cJSON_AddStringToObject(f, "allow_list",
	    join_lines(r, g->allow_list, g->n_allow));
	cJSON_AddStringToObject(f, "escalation_keywords",
	    join_lines(r, g->escalation_keywords, g->n_escalation));
	texts = g->texts != NULL ? json_parse_str(g->texts, NULL) : NULL;
	if (!cJSON_IsObject(texts)) {
		cJSON_Delete(texts);
		texts = NULL;
	}
	cJSON_ArrayForEach(e, texts)
		if (cJSON_IsString(e) && e->string != NULL)
			cJSON_AddStringToObject(f, arena_printf(r->arena,
			    "texts_%s", e->string), e->valuestring);
	cJSON_Delete(texts);
	cJSON_AddBoolToObject(f, "require_mention", g->require_mention);
	cJSON_AddBoolToObject(f, "typing_indicator", g->typing_indicator);
	cJSON_AddBoolToObject(f, "read_receipts", g->read_receipts);
	cJSON_AddBoolToObject(f, "working_reaction", g->working_reaction);
	cJSON_AddStringToObject(f, "transcription_model",
	    g->transcription_model != NULL ? g->transcription_model : "");
	snprintf(num, sizeof(num), "%d", g->session_timeout_minutes);
	cJSON_AddStringToObject(f, "session_timeout_minutes", num);
	snprintf(num, sizeof(num), "%d", g->debounce_ms);
	cJSON_AddStringToObject(f, "debounce_ms", num);
	snprintf(num, sizeof(num), "%d", g->outage_window_s);
	cJSON_AddStringToObject(f, "outage_window_s", num);
	snprintf(num, sizeof(num), "%d", g->outage_notice_s);
	cJSON_AddStringToObject(f, "outage_notice_s", num);
	snprintf(num, sizeof(num), "%d", g->doc_context_chars);
	cJSON_AddStringToObject(f, "doc_context_chars", num);
	cJSON_AddStringToObject(f, "busy_mode", g->busy_mode != NULL ?
	    g->busy_mode : AGENT_BUSY_RESTART);
	cJSON_AddBoolToObject(f, "busy_ack", g->busy_ack);
	return f;
}

/* The settings exactly as posted, to show them again with the errors. */
static cJSON *
form_from_post(struct req *r)
{
	static const char *const	 names[] = { "name", "slug",
		"system_prompt", "model_id", "mode", "history_length",
		"temperature", "max_tokens", "reset_command", "allow_list",
		"escalation_keywords", "transcription_model",
		"session_timeout_minutes", "debounce_ms", "outage_window_s",
		"outage_notice_s", "doc_context_chars", "busy_mode" };
	cJSON				*f = cJSON_CreateObject();

	const char			*name;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		cJSON_AddStringToObject(f, names[i],
		    form_str(r->form, names[i]));
	for (int t = 0; t < TEXT_COUNT; t++) {
		name = arena_printf(r->arena, "texts_%s",
		    chat_text_key((enum chat_text)t));
		cJSON_AddStringToObject(f, name, form_str(r->form, name));
	}
	cJSON_AddBoolToObject(f, "require_mention",
	    form_get(r->form, "require_mention") != NULL);
	cJSON_AddBoolToObject(f, "busy_ack",
	    form_get(r->form, "busy_ack") != NULL);
	cJSON_AddBoolToObject(f, "typing_indicator",
	    form_get(r->form, "typing_indicator") != NULL);
	cJSON_AddBoolToObject(f, "read_receipts",
	    form_get(r->form, "read_receipts") != NULL);
	cJSON_AddBoolToObject(f, "working_reaction",
	    form_get(r->form, "working_reaction") != NULL);
	return f;
}

/*
 * Adds errs to ctx (error_<prefix><field> next to each field) and sets
 * <flag> so the section can say "please correct…".
 */
static void
add_errors(struct req *r, cJSON *ctx, const char *prefix,
    const struct field_errors *errs)
{
	if (errs == NULL)
		return;
	for (int i = 0; i < errs->n; i++)
		panel_field_error(ctx, arena_printf(r->arena, "%s%s", prefix,
		    errs->field[i]), errs->message[i]);
}

/*
 * Adds the model <select>'s options to ctx (the org default first) and the
 * mode flags, from form (which holds model_id and mode as text).
 */
static bool
add_models(struct req *r, cJSON *ctx, const cJSON *form)
{
	struct org_model	*m;
	int			 n;
	cJSON			*opts, *o;
	const char		*sel, *mode, *busy;
	char			 id[32];
	const char		*def = NULL;

	if (orgmodel_list(r->db, r->arena, r->org_id, &m, &n) != DB_OK)
		return false;
	sel = cJSON_GetStringValue(cJSON_GetObjectItem(form, "model_id"));
	mode = cJSON_GetStringValue(cJSON_GetObjectItem(form, "mode"));
	opts = cJSON_AddArrayToObject(ctx, "models");
	for (int i = 0; i < n; i++) {
		o = cJSON_CreateObject();
		snprintf(id, sizeof(id), "%lld", (long long)m[i].id);
		cJSON_AddStringToObject(o, "id", id);
		cJSON_AddStringToObject(o, "label", m[i].provider_name[0] ?
		    arena_printf(r->arena, "%s (%s)", m[i].display_name,
		    m[i].provider_name) : m[i].display_name);
		cJSON_AddBoolToObject(o, "selected", str_eq(sel, id));
		cJSON_AddItemToArray(opts, o);
		if (m[i].is_default)
			def = m[i].display_name;
	}
	cJSON_AddStringToObject(ctx, "default_model",
	    def != NULL ? def : "none chosen yet");
	cJSON_AddStringToObject(ctx, "prompt_vars", "{{organizationName}}, "
	    "{{agentName}}, {{contactName}} and {{date}}");
	cJSON_AddBoolToObject(ctx, "mode_task", str_eq(mode, "task"));
	cJSON_AddBoolToObject(ctx, "mode_chat", !str_eq(mode, "task"));
	busy = cJSON_GetStringValue(cJSON_GetObjectItem(form, "busy_mode"));
	cJSON_AddBoolToObject(ctx, "busy_follow_up", str_eq(busy,
	    AGENT_BUSY_FOLLOW_UP));
	cJSON_AddBoolToObject(ctx, "busy_restart", !str_eq(busy,
	    AGENT_BUSY_FOLLOW_UP));
	return true;
}

static void
add_plugins(cJSON *ctx, const struct agent *g)
{
	const struct plugin *const	*all;
	cJSON				*list = cJSON_AddArrayToObject(ctx,
					    "plugins");
	cJSON				*o;
	bool				 on;
	int				 n;

	all = plugin_all(&n);
	for (int i = 0; i < n; i++) {
		const struct plugin	*p = all[i];

		on = false;
		for (int j = 0; j < g->n_plugins && !on; j++)
			on = str_eq(g->plugins[j], p->id);
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", p->id);
		cJSON_AddStringToObject(o, "title", p->title);
		cJSON_AddStringToObject(o, "description", p->description);
		cJSON_AddNumberToObject(o, "index", i);
		cJSON_AddBoolToObject(o, "enabled", on);
		if (plugin_available(p))
			cJSON_AddTrueToObject(o, "available");
		else
			cJSON_AddStringToObject(o, "reason", p->needs_channel ?
			    "Needs a WhatsApp channel, which this "
			    "installation cannot connect yet." :
			    "Not available in this installation.");
		cJSON_AddItemToArray(list, o);
	}
	cJSON_AddBoolToObject(ctx, "has_plugins", n > 0);
	cJSON_AddNumberToObject(ctx, "n_enabled", g->n_plugins);
}

static bool
add_knowledge(struct req *r, cJSON *ctx, int64_t agent_id)
{
	struct knowledge_entry	*k;
	cJSON			*list, *o;
	size_t			 chars;
	int			 n;

	if (knowledge_list(r->db, r->arena, r->org_id, agent_id, &k, &n) !=
	    DB_OK)
		return false;
	list = cJSON_AddArrayToObject(ctx, "knowledge");
	for (int i = 0; i < n; i++) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)k[i].id);
		cJSON_AddStringToObject(o, "title", k[i].title);
		cJSON_AddStringToObject(o, "source", k[i].source);
		if (k[i].filename != NULL && k[i].filename[0] != '\0')
			cJSON_AddStringToObject(o, "filename", k[i].filename);
		chars = utf8_count(k[i].body, strlen(k[i].body));
		cJSON_AddNumberToObject(o, "chars", (double)chars);
		cJSON_AddStringToObject(o, "updated_at",
		    short_time(r, k[i].updated_at));
		cJSON_AddItemToArray(list, o);
	}
	cJSON_AddBoolToObject(ctx, "has_knowledge", n > 0);
	return true;
}

static bool
add_calls(struct req *r, cJSON *ctx, int64_t agent_id)
{
	struct llm_call	*c;
	cJSON		*list, *o;
	int		 n;

	if (llmcall_list_recent(r->db, r->arena, r->org_id, agent_id,
	    RECENT_CALLS, &c, &n) != DB_OK)
		return false;
	list = cJSON_AddArrayToObject(ctx, "calls");
	for (int i = 0; i < n; i++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "at", short_time(r, c[i].created_at));
		cJSON_AddStringToObject(o, "source", c[i].source);
		cJSON_AddStringToObject(o, "model", c[i].model_name);
		cJSON_AddNumberToObject(o, "tokens_in", c[i].tokens_in);
		cJSON_AddNumberToObject(o, "tokens_out", c[i].tokens_out);
		cJSON_AddNumberToObject(o, "latency_ms", c[i].latency_ms);
		cJSON_AddNumberToObject(o, "rounds", c[i].rounds);
		if (c[i].error != NULL)
			cJSON_AddStringToObject(o, "error", c[i].error);
		cJSON_AddItemToArray(list, o);
	}
	cJSON_AddBoolToObject(ctx, "has_calls", n > 0);
	return true;
}

/* The new-agent page: form holds the values, errs what is wrong. */
static int
form_page(struct req *r, int status, cJSON *form,
    const struct field_errors *errs)
{
	cJSON	*ctx = cJSON_CreateObject();

	cJSON_AddStringToObject(ctx, "title", "New agent");
	if (!add_models(r, ctx, form)) {
		cJSON_Delete(ctx);
		cJSON_Delete(form);
		return resp_unavailable(r);
	}
	add_texts(r, ctx, form, errs);
	cJSON_AddItemToObject(ctx, "form", form);
	add_errors(r, ctx, "", errs);
	cJSON_AddBoolToObject(ctx, "settings_invalid",
	    errs != NULL && errs->n > 0);
	return resp_page(r, status, "agents/new", ctx);
}

/* The agent's page; s's cJSON members are taken. */
static int
edit_page(struct req *r, int status, const struct agent *g,
    struct edit_state *s)
{
	cJSON	*ctx = cJSON_CreateObject();
	cJSON	*agent, *form;
	bool	 ok;

	cJSON_AddStringToObject(ctx, "title", g->name);
	agent = cJSON_AddObjectToObject(ctx, "agent");
	cJSON_AddNumberToObject(agent, "id", (double)g->id);
	cJSON_AddStringToObject(agent, "name", g->name);
	cJSON_AddStringToObject(agent, "slug", g->slug);
	cJSON_AddStringToObject(agent, "created_at", short_time(r,
	    g->created_at));
	cJSON_AddStringToObject(agent, "updated_at", short_time(r,
	    g->updated_at));

	form = s->form != NULL ? s->form : form_from_agent(r, g);
	s->form = NULL;
	ok = add_models(r, ctx, form);
	add_texts(r, ctx, form, s->errs);
	cJSON_AddItemToObject(ctx, "form", form);
	add_errors(r, ctx, "", s->errs);
	cJSON_AddBoolToObject(ctx, "settings_invalid",
	    s->errs != NULL && s->errs->n > 0);

	add_plugins(ctx, g);
	if (s->plugins_error != NULL)
		panel_field_error(ctx, "plugins", s->plugins_error);

	ok = ok && panel_mcp_agent_section(r, ctx, g->id);
	ok = ok && add_knowledge(r, ctx, g->id);
	cJSON_AddItemToObject(ctx, "k_form", s->k_form != NULL ? s->k_form :
	    cJSON_CreateObject());
	s->k_form = NULL;
	add_errors(r, ctx, "k_", s->k_errs);
	cJSON_AddBoolToObject(ctx, "knowledge_invalid",
	    s->k_errs != NULL && s->k_errs->n > 0);

	ok = ok && add_calls(r, ctx, g->id);
	if (!ok) {
		cJSON_Delete(ctx);
		return resp_unavailable(r);
	}
	return resp_page(r, status, "agents/edit", ctx);
}

int
panel_agents_list(struct req *r)
{
	struct agent	*v;
	cJSON		*ctx, *list, *o;
	int		 n;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if (agent_list(r->db, r->arena, r->org_id, &v, &n) != DB_OK)
		return resp_unavailable(r);
	ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", "Agents");
	list = cJSON_AddArrayToObject(ctx, "agents");
	for (int i = 0; i < n; i++) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)v[i].id);
		cJSON_AddStringToObject(o, "name", v[i].name);
		cJSON_AddStringToObject(o, "slug", v[i].slug);
		if (v[i].model_id != 0)
			cJSON_AddStringToObject(o, "model", v[i].model_name);
		cJSON_AddStringToObject(o, "mode", v[i].mode);
		cJSON_AddNumberToObject(o, "n_plugins", v[i].n_plugins);
		cJSON_AddItemToArray(list, o);
	}
	cJSON_AddBoolToObject(ctx, "has_agents", n > 0);
	return resp_page(r, 200, "agents/index", ctx);
}

int
panel_agents_new(struct req *r)
{
	struct agent	 g = { 0 };
	struct agent_input in;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	agent_input_defaults(&in);
	g.name = g.slug = g.system_prompt = "";
	g.mode = (char *)"chat";
	g.history_length = in.history_length;
	g.reset_command = arena_strdup(r->arena, in.reset_command);
	g.session_timeout_minutes = in.session_timeout_minutes;
	g.debounce_ms = in.debounce_ms;
	g.busy_mode = arena_strdup(r->arena, in.busy_mode);
	g.busy_ack = in.busy_ack;
	g.outage_window_s = in.outage_window_s;
	g.outage_notice_s = in.outage_notice_s;
	g.typing_indicator = in.typing_indicator;
	g.read_receipts = in.read_receipts;
	g.working_reaction = in.working_reaction;
	g.doc_context_chars = in.doc_context_chars;
	return form_page(r, 200, form_from_agent(r, &g), NULL);
}

int
panel_agents_create(struct req *r)
{
	struct agent_input	 in;
	struct field_errors	 errs = { 0 };
	int64_t			 id = 0;
	enum db_status		 st;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	read_form(r, &in, &errs);
	st = agent_create(r->db, r->org_id, &in, &errs, &id);
	switch (st) {
	case DB_OK:
		audit(r, "agent.created", "agent", id, in.name);
		return resp_see_other(r, arena_printf(r->arena, "/agents/%lld",
		    (long long)id), "Agent created.");
	case DB_INVALID:
	case DB_CONFLICT:
		return form_page(r, st == DB_CONFLICT ? 409 : 422,
		    form_from_post(r), &errs);
	default:
		return resp_unavailable(r);
	}
}

int
panel_agents_edit(struct req *r)
{
	struct agent		 g;
	struct edit_state	 s = { 0 };
	int64_t			 id;
	int			 status;

	if (!load_agent(r, &id, &g, &status))
		return status;
	return edit_page(r, 200, &g, &s);
}

int
panel_agents_update(struct req *r)
{
	struct agent		 g;
	struct agent_input	 in;
	struct field_errors	 errs = { 0 };
	struct edit_state	 s = { 0 };
	int64_t			 id;
	int			 status;
	enum db_status		 st;

	if (!load_agent(r, &id, &g, &status))
		return status;
	read_form(r, &in, &errs);
	st = agent_update(r->db, r->org_id, id, &in, &errs);
	switch (st) {
	case DB_OK:
		audit(r, "agent.updated", "agent", id, in.name);
		return resp_see_other(r, arena_printf(r->arena, "/agents/%lld",
		    (long long)id), "Agent saved.");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	case DB_INVALID:
	case DB_CONFLICT:
		s.form = form_from_post(r);
		s.errs = &errs;
		return edit_page(r, st == DB_CONFLICT ? 409 : 422, &g, &s);
	default:
		return resp_unavailable(r);
	}
}

int
panel_agents_delete_confirm(struct req *r)
{
	struct agent	 g;
	cJSON		*ctx, *agent;
	int64_t		 id;
	int		 status;

	if (!load_agent(r, &id, &g, &status))
		return status;
	ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", "Delete agent");
	agent = cJSON_AddObjectToObject(ctx, "agent");
	cJSON_AddNumberToObject(agent, "id", (double)g.id);
	cJSON_AddStringToObject(agent, "name", g.name);
	cJSON_AddStringToObject(agent, "slug", g.slug);
	return resp_page(r, 200, "agents/delete", ctx);
}

int
panel_agents_delete(struct req *r)
{
	struct agent	 g;
	int64_t		 id;
	int		 status;
	enum db_status	 st;

	if (!load_agent(r, &id, &g, &status))
		return status;
	st = agent_delete(r->db, r->org_id, id);
	switch (st) {
	case DB_OK:
		audit(r, "agent.deleted", "agent", id, g.name);
		return resp_see_other(r, "/agents", arena_printf(r->arena,
		    "Agent \"%s\" deleted.", g.name));
	case DB_NOT_FOUND:
		return resp_not_found(r);
	case DB_INVALID:
		return resp_error(r, 409, "conflict", "This agent is still "
		    "in use (a channel or conversation refers to it), so it "
		    "cannot be deleted yet.");
	default:
		return resp_unavailable(r);
	}
}

int
panel_agents_plugins(struct req *r)
{
	struct agent		 g;
	struct edit_state	 s = { 0 };
	const char		**ids;
	int64_t			 id;
	int			 status, n = 0;
	enum db_status		 st;

	if (!load_agent(r, &id, &g, &status))
		return status;
	ids = arena_alloc(r->arena, sizeof(char *) * (FORM_MAX_FIELDS + 1));
	for (int i = 0; i < r->form->n; i++) {
		const struct plugin	*p;

		if (!str_eq(r->form->fields[i].name, "plugins"))
			continue;
		p = plugin_find(r->form->fields[i].value);
		if (p == NULL || !plugin_available(p)) {
			s.plugins_error = p == NULL ? "That plugin does not "
			    "exist." : "That plugin is not available in this "
			    "installation.";
			return edit_page(r, 422, &g, &s);
		}
		ids[n++] = r->form->fields[i].value;
	}
	st = agent_set_plugins(r->db, r->org_id, id, ids, n,
	    plugin_id_usable);
	switch (st) {
	case DB_OK:
		if (audit_toggles(r->arena, g.plugins, g.n_plugins, ids, n))
			audit(r, "plugin.toggled", "agent", id, audit_toggles(
			    r->arena, g.plugins, g.n_plugins, ids, n));
		return resp_see_other(r, arena_printf(r->arena,
		    "/agents/%lld#plugins", (long long)id), "Plugins saved.");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	case DB_INVALID:
		s.plugins_error = "Those plugins cannot be enabled.";
		return edit_page(r, 422, &g, &s);
	default:
		return resp_unavailable(r);
	}
}

/*
 * POST /agents/{id}/try: the old "Try it" box, replaced by the sandbox
 * chat (panel/sandbox.c), which takes the WhatsApp path end to end. A
 * bookmarked or in-flight form lands there (303); another org's id is a
 * 404 as before.
 */
int
panel_agents_try(struct req *r)
{
	struct agent	 g;
	int64_t		 id;
	int		 status;

	if (!load_agent(r, &id, &g, &status))
		return status;
	return resp_see_other(r, arena_printf(r->arena, "/agents/%lld/sandbox",
	    (long long)id), NULL);
}

/* True for names ending in .txt or .md (any case). */
static bool
ext_ok(const char *name)
{
	const char	*dot = strrchr(name, '.');

	return dot != NULL && dot != name && (strcasecmp(dot, ".txt") == 0 ||
	    strcasecmp(dot, ".md") == 0);
}

/* The last path component of an uploaded file's name (some browsers send
 * a whole path), at most FILENAME_MAX_BYTES and without controls. */
static const char *
base_name(struct req *r, const char *name)
{
	const char	*p = name, *s;
	char		*out;
	size_t		 n;

	for (s = name; *s != '\0'; s++)
		if (*s == '/' || *s == '\\')
			p = s + 1;
	n = strlen(p);
	if (n > FILENAME_MAX_BYTES)
		n = FILENAME_MAX_BYTES;
	while (n > 0 && !utf8_valid(p, n))
		n--;
	out = arena_strndup(r->arena, p, n);
	for (char *q = out; *q != '\0'; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = '_';
	return out;
}

int
panel_knowledge_create(struct req *r)
{
	struct agent		 g;
	struct edit_state	 s = { 0 };
	struct field_errors	 errs = { 0 };
	const struct form_field	*file = form_field(r->form, "k_file");
	const char		*title = trimmed(r, form_get(r->form, "k_title"));
	const char		*body = form_str(r->form, "k_body");
	const char		*fname = NULL, *source = "paste";
	bool			 has_file, has_text;
	int64_t			 id, kid;
	int			 status;
	enum db_status		 st;

	if (!load_agent(r, &id, &g, &status))
		return status;
	has_file = file != NULL && file->filename != NULL &&
	    file->filename[0] != '\0';
	has_text = trimmed(r, body)[0] != '\0';
	if (has_file && has_text)
		field_error_add(&errs, "file", "Paste text or choose a file, "
		    "not both.");
	else if (has_file) {
		fname = base_name(r, file->filename);
		if (!ext_ok(fname))
			field_error_add(&errs, "file", "Choose a .txt or .md "
			    "file.");
		else if (!utf8_valid(file->value, file->len))
			field_error_add(&errs, "file", "The file is not UTF-8 "
			    "text. Save it as UTF-8 and upload it again.");
		else if (file->len == 0)
			field_error_add(&errs, "file", "The file is empty.");
		else {
			body = file->value;
			if (strncmp(body, "\xEF\xBB\xBF", 3) == 0)
				body += 3;	/* a BOM is not content */
			source = "upload";
			if (title[0] == '\0') {
				char	*t = arena_strdup(r->arena, fname);

				*strrchr(t, '.') = '\0';
				title = t;
			}
		}
	} else if (!has_text)
		field_error_add(&errs, "body", "Paste the text, or choose a "
		    ".txt or .md file.");
	if (errs.n == 0) {
		st = knowledge_create(r->db, r->org_id, id, title, body,
		    source, source[0] == 'u' ? fname : NULL, &errs, &kid);
		switch (st) {
		case DB_OK:
			audit(r, "knowledge.created", "knowledge", kid,
			    arena_printf(r->arena, "%s (agent #%lld)", title,
			    (long long)id));
			return resp_see_other(r, arena_printf(r->arena,
			    "/agents/%lld#knowledge", (long long)id),
			    arena_printf(r->arena, "Added \"%s\" to the "
			    "knowledge base.", title));
		case DB_NOT_FOUND:
			return resp_not_found(r);
		case DB_INVALID:
		case DB_CONFLICT:
			break;
		default:
			return resp_unavailable(r);
		}
		if (errs.n == 0)
			field_error_add(&errs, "body", "This entry cannot be "
			    "stored.");
	}
	s.k_form = cJSON_CreateObject();
	cJSON_AddStringToObject(s.k_form, "title", title);
	if (!has_file)
		cJSON_AddStringToObject(s.k_form, "body", body);
	s.k_errs = &errs;
	return edit_page(r, 422, &g, &s);
}

/* The knowledge entry page: title and body as shown, errs what is wrong. */
static int
knowledge_page(struct req *r, int status, const struct agent *g,
    const struct knowledge_entry *k, const char *title, const char *body,
    const struct field_errors *errs)
{
	cJSON	*ctx = cJSON_CreateObject();
	cJSON	*o;

	cJSON_AddStringToObject(ctx, "title", k->title);
	o = cJSON_AddObjectToObject(ctx, "agent");
	cJSON_AddNumberToObject(o, "id", (double)g->id);
	cJSON_AddStringToObject(o, "name", g->name);
	o = cJSON_AddObjectToObject(ctx, "entry");
	cJSON_AddNumberToObject(o, "id", (double)k->id);
	cJSON_AddStringToObject(o, "title", title);
	cJSON_AddStringToObject(o, "body", body);
	cJSON_AddStringToObject(o, "source", k->source);
	if (k->filename != NULL && k->filename[0] != '\0')
		cJSON_AddStringToObject(o, "filename", k->filename);
	cJSON_AddStringToObject(o, "updated_at", short_time(r,
	    k->updated_at));
	add_errors(r, ctx, "", errs);
	cJSON_AddBoolToObject(ctx, "invalid", errs != NULL && errs->n > 0);
	return resp_page(r, status, "agents/knowledge", ctx);
}

int
panel_knowledge_edit(struct req *r)
{
	struct agent		 g;
	struct knowledge_entry	 k;
	int64_t			 id, kid;
	int			 status;
	enum db_status		 st;

	if (!load_agent(r, &id, &g, &status))
		return status;
	if (!req_param_id(r, "kid", &kid))
		return resp_not_found(r);
	st = knowledge_get(r->db, r->arena, r->org_id, id, kid, &k);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	return knowledge_page(r, 200, &g, &k, k.title, k.body, NULL);
}

int
panel_knowledge_update(struct req *r)
{
	struct agent		 g;
	struct knowledge_entry	 k;
	struct field_errors	 errs = { 0 };
	const char		*title = trimmed(r, form_get(r->form, "title"));
	const char		*body = form_str(r->form, "body");
	int64_t			 id, kid;
	int			 status;
	enum db_status		 st;

	if (!load_agent(r, &id, &g, &status))
		return status;
	if (!req_param_id(r, "kid", &kid))
		return resp_not_found(r);
	st = knowledge_get(r->db, r->arena, r->org_id, id, kid, &k);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	st = knowledge_update(r->db, r->org_id, id, kid, title, body, &errs);
	switch (st) {
	case DB_OK:
		audit(r, "knowledge.updated", "knowledge", kid, arena_printf(
		    r->arena, "%s (agent #%lld)", title, (long long)id));
		return resp_see_other(r, arena_printf(r->arena,
		    "/agents/%lld#knowledge", (long long)id),
		    "Knowledge entry saved.");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	case DB_INVALID:
	case DB_CONFLICT:
		if (errs.n == 0)
			field_error_add(&errs, "body", "This entry cannot be "
			    "stored.");
		return knowledge_page(r, 422, &g, &k, title, body, &errs);
	default:
		return resp_unavailable(r);
	}
}

int
panel_knowledge_delete(struct req *r)
{
	struct agent	 g;
	int64_t		 id, kid;
	int		 status;
	enum db_status	 st;

	if (!load_agent(r, &id, &g, &status))
		return status;
	if (!req_param_id(r, "kid", &kid))
		return resp_not_found(r);
	st = knowledge_delete(r->db, r->org_id, id, kid);
	switch (st) {
	case DB_OK:
		audit(r, "knowledge.deleted", "knowledge", kid, arena_printf(
		    r->arena, "agent #%lld", (long long)id));
		return resp_see_other(r, arena_printf(r->arena,
		    "/agents/%lld#knowledge", (long long)id),
		    "Knowledge entry deleted.");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}
