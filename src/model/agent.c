/*
 * agent: agents and their enabled plugins (see agent.h). Owns tables
 * `agents` and `agent_plugins`; every statement names org_id = $1, so an
 * id from another organisation reads as DB_NOT_FOUND.
 *
 * Arrays (allow-list, keywords, plugin ids) travel as JSON text in both
 * directions: built with cJSON, sent as one $n::jsonb parameter and
 * unpacked by ARRAY(SELECT jsonb_array_elements_text(…)); read back with
 * to_json(…). Nothing is ever escaped by hand.
 *
 * Validation happens here, before any write, so the panel and the API give
 * the same sentences. Messages that quote the input (a bad phone number,
 * a Mustache error) are formatted into the field_errors itself.
 *
 * Text overrides (agents.texts, jsonb) are validated against chat/texts'
 * names and re-serialised by cJSON, so the stored object only ever holds
 * known keys with non-empty string values.
 *
 * The model's display name comes from model/orgmodel (which owns
 * org_models), never from SQL against its table.
 *
 * Thread-safe: no shared state.
 */
#include "model/agent.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "model/orgmodel.h"
#include "tmpl/tmpl.h"
#include "util/arena.h"
#include "util/json.h"
#include "util/str.h"
#include "util/utf8.h"
#include "util/waid.h"

#define NAME_MAX_CHARS		100
#define PROMPT_MAX_CHARS	20000
#define HISTORY_MAX		200
#define MAX_TOKENS_MAX		100000
#define RESET_MAX_CHARS		40
#define KEYWORD_MAX_CHARS	100
#define PHONE_MIN_DIGITS	6
#define PHONE_MAX_DIGITS	15

/* U+00C0…U+00FF (UTF-8 C3 80…C3 BF) in a slug; NULL: a separator. */
static const char *const	 latin1[64] = {
	"a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e",
	"i", "i", "i", "i", "d", "n", "o", "o", "o", "o", "o", NULL,
	"o", "u", "u", "u", "u", "y", "th", "ss",
	"a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e",
	"i", "i", "i", "i", "d", "n", "o", "o", "o", "o", "o", NULL,
	"o", "u", "u", "u", "u", "y", "th", "y",
};

static bool	 text_ok(const char *, size_t, size_t);
static bool	 phone_normalise(const char *, char *, size_t);
static void	 quote_entry(char *, size_t, const char *);
static bool	 reset_ok(const char *);
static bool	 model_name_ok(const char *);
static void	 check_prompt(const char *, struct field_errors *);
static cJSON	*check_allow(const struct agent_input *, struct field_errors *);
static cJSON	*check_keywords(const struct agent_input *,
		    struct field_errors *);
static char	*check_texts(const char *, struct field_errors *);
static enum db_status check_model(struct db *, int64_t, int64_t,
		    struct field_errors *);
static enum db_status validate(struct db *, int64_t,
		    const struct agent_input *, struct field_errors *,
		    char [64], char **, char **, char **);
static char	**json_strings(struct arena *, const char *, int *);
static enum db_status fetch(struct db *, struct arena *, int64_t, int64_t,
		    const char *, struct agent **, int *);
static void	 name_models(struct db *, struct arena *, int64_t,
		    struct agent *, int);
static bool	 plugins_json(const char *const *, int, agent_plugin_ok,
		    char **);
static enum db_status touch(struct db *, int64_t, int64_t);

void
agent_input_defaults(struct agent_input *in)
{
	memset(in, 0, sizeof(*in));
	in->name = "";
	in->slug = "";
	in->system_prompt = "";
	in->mode = "chat";
	in->history_length = 20;
	in->reset_command = "/reset";
	in->texts_json = "{}";
	in->require_mention = false;
	in->transcription_model = NULL;
	in->session_timeout_minutes = 1440;
	in->debounce_ms = 1500;
	in->busy_mode = AGENT_BUSY_RESTART;
	in->busy_ack = false;
	in->outage_window_s = 600;
	in->outage_notice_s = 60;
	in->typing_indicator = true;
	in->read_receipts = true;
	in->working_reaction = false;
	in->doc_context_chars = AGENT_DOC_CONTEXT_DFLT;
}

const char *const	 agent_text_keys[AGENT_TEXTS] = {
	"connected", "switched", "invalid_format", "invalid_code",
	"too_many", "reset", "welcome", "busy", "not_allowed", "handoff",
	"unsupported", "slow", "returned", "no_vision",
};

/* Error field names, one per text, in agent_text_keys order. */
static const char *const	 text_fields[AGENT_TEXTS] = {
	"texts.connected", "texts.switched", "texts.invalid_format",
	"texts.invalid_code", "texts.too_many", "texts.reset",
	"texts.welcome", "texts.busy", "texts.not_allowed", "texts.handoff",
	"texts.unsupported", "texts.slow", "texts.returned",
	"texts.no_vision",
};

const char *
agent_text_field(int t)
{
	if (t < 0 || t >= AGENT_TEXTS)
		return NULL;
	return text_fields[t];
}

void
agent_slugify(const char *name, char out[64])
{
	const unsigned char	*p = (const unsigned char *)name;
	const char		*t;
	char			 one[2] = { 0, 0 };
	size_t			 n = 0, tn;
	bool			 dash = false;

	for (; *p != '\0'; p++) {
		t = NULL;
		if (*p < 0x80 && isalnum(*p)) {
			one[0] = (char)tolower(*p);
			t = one;
		} else if (*p == 0xc3 && p[1] >= 0x80 && p[1] <= 0xbf)
			t = latin1[*++p - 0x80];	/* "Café" → "cafe" */
		else if (*p >= 0x80 && (*p & 0xc0) == 0x80)
			continue;	/* the tail of a character skipped */
		if (t == NULL) {
			dash = true;
			continue;
		}
		tn = strlen(t);
		if (n + (dash && n > 0) + tn > 63)
			break;
		if (dash && n > 0)
			out[n++] = '-';
		dash = false;
		memcpy(out + n, t, tn);
		n += tn;
	}
	out[n] = '\0';
}

/* Valid UTF-8 of min..max code points, with no control characters. */
static bool
text_ok(const char *s, size_t min, size_t max)
{
	size_t	 len, n;

	if (s == NULL)
		return min == 0;
	len = strlen(s);
	if (!utf8_valid(s, len))
		return false;
	n = utf8_count(s, len);
	return n >= min && n <= max;
}

/* "+1 555-0100" → "+15550100"; false unless + then 6–15 digits. */
static bool
phone_normalise(const char *in, char *out, size_t outlen)
{
	size_t	 n = 0, digits = 0;

	for (const char *p = in; *p != '\0'; p++) {
		if (*p == ' ' || *p == '-' || *p == '\t')
			continue;
		if (n + 1 >= outlen)
			return false;
		if (n == 0 ? *p != '+' : !isdigit((unsigned char)*p))
			return false;
		out[n++] = *p;
		if (n > 1)
			digits++;
	}
	out[n] = '\0';
	return digits >= PHONE_MIN_DIGITS && digits <= PHONE_MAX_DIGITS;
}

/* Copies at most 40 bytes of s for a message, replacing controls. */
static void
quote_entry(char *dst, size_t len, const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0' && n + 1 < len && n < 40; s++)
		dst[n++] = (unsigned char)*s < 0x20 ? ' ' : *s;
	/* Never leave half a UTF-8 sequence at the end. */
	while (n > 0 && ((unsigned char)dst[n - 1] & 0x80) != 0 &&
	    !utf8_valid(dst, n))
		n--;
	dst[n] = '\0';
}

/* "/reset", "reset", "Neustart": 1–40 characters, no white space. */
static bool
reset_ok(const char *s)
{
	unsigned char	 c0 = (unsigned char)s[0];

	if (!text_ok(s, 1, RESET_MAX_CHARS))
		return false;
	if (c0 != '/' && !isalpha(c0) && c0 < 0x80)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (isspace(*p) || *p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/*
 * A model name as a provider spells it ("whisper-1",
 * "openai/gpt-4o-transcribe"): valid UTF-8, at most
 * AGENT_TRANSCRIPTION_MODEL_MAX characters, no control characters and no
 * white space at either end. It travels in a multipart field.
 */
static bool
model_name_ok(const char *s)
{
	size_t	 len = strlen(s);

	if (!text_ok(s, 1, AGENT_TRANSCRIPTION_MODEL_MAX))
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	/* C1 controls, U+0080…U+009F: C2 80…C2 9F in UTF-8. */
	for (size_t i = 0; i + 1 < len; i++)
		if ((unsigned char)s[i] == 0xc2 &&
		    (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9f)
			return false;
	return !isspace((unsigned char)s[0]) &&
	    !isspace((unsigned char)s[len - 1]);
}

static void
check_prompt(const char *prompt, struct field_errors *errs)
{
	struct tmpl_set	*set;
	char		 err[256] = "";
	const char	*why;

	if (!utf8_valid(prompt, strlen(prompt))) {
		field_error_add(errs, "system_prompt",
		    "The system prompt is not valid UTF-8.");
		return;
	}
	if (utf8_count(prompt, strlen(prompt)) > PROMPT_MAX_CHARS) {
		field_error_add(errs, "system_prompt",
		    "Use at most 20000 characters.");
		return;
	}
	set = tmpl_set_new();
	if (!tmpl_set_add(set, "prompt", prompt, strlen(prompt), err,
	    sizeof(err))) {
		/* err is "prompt:LINE: sentence"; keep LINE and sentence. */
		why = strncmp(err, "prompt:", 7) == 0 ? err + 7 : err;
		field_error_addf(errs, "system_prompt",
		    "This is not a valid template (line %s).", why);
	}
	tmpl_set_free(set);
}

/*
 * The normalised allow-list as a JSON array, or NULL after an error.
 * Entries (util/waid.h): a phone number ("+", 6–15 digits; spaces and
 * dashes dropped), a WhatsApp user id ("US.1349…", kept as written) or a
 * username ("@name", lower-cased).
 */
static cJSON *
check_allow(const struct agent_input *in, struct field_errors *errs)
{
	cJSON	*arr = cJSON_CreateArray();
	char	 num[WAID_MAX + 1], q[48];
	bool	 dup;

	if (in->n_allow > AGENT_LIST_MAX) {
		field_error_add(errs, "allow_list",
		    "Use at most 200 entries.");
		goto fail;
	}
	for (int i = 0; i < in->n_allow; i++) {
		const char	*e = in->allow_list[i] != NULL ?
				    in->allow_list[i] : "";

		if (waid_is_user_id(e))
			snprintf(num, sizeof(num), "%s", e);
		else if (e[0] == '@') {
			if (!waid_username_norm(e, num, sizeof(num))) {
				quote_entry(q, sizeof(q), e);
				field_error_addf(errs, "allow_list",
				    "\"%s\" is not a WhatsApp username: @ "
				    "then the name, without spaces.", q);
				goto fail;
			}
		} else if (!phone_normalise(e, num, sizeof(num))) {
			quote_entry(q, sizeof(q), e);
			field_error_addf(errs, "allow_list",
			    "\"%s\" is not a phone number in international "
			    "form (+ then 6 to 15 digits), a WhatsApp user id "
			    "(such as US.13491208655302741918) or a username "
			    "(@name).", q);
			goto fail;
		}
		dup = false;
		for (int j = 0; j < cJSON_GetArraySize(arr) && !dup; j++)
			dup = strcmp(cJSON_GetArrayItem(arr, j)->valuestring,
			    num) == 0;
		if (!dup)
			cJSON_AddItemToArray(arr, cJSON_CreateString(num));
	}
	return arr;
fail:
	cJSON_Delete(arr);
	return NULL;
}

static cJSON *
check_keywords(const struct agent_input *in, struct field_errors *errs)
{
	cJSON	*arr = cJSON_CreateArray();
	char	 q[48];

	if (in->n_escalation > AGENT_LIST_MAX) {
		field_error_add(errs, "escalation_keywords",
		    "Use at most 200 keywords.");
		goto fail;
	}
	for (int i = 0; i < in->n_escalation; i++) {
		const char	*e = in->escalation_keywords[i];

		if (!text_ok(e, 1, KEYWORD_MAX_CHARS)) {
			if (e != NULL && utf8_valid(e, strlen(e)))
				quote_entry(q, sizeof(q), e);
			else
				str_copy(q, "", sizeof(q));
			field_error_addf(errs, "escalation_keywords",
			    "Each keyword needs 1 to 100 characters "
			    "(\"%s%s\").", q, e != NULL && strlen(e) > 40 ?
			    "…" : "");
			goto fail;
		}
		cJSON_AddItemToArray(arr, cJSON_CreateString(e));
	}
	return arr;
fail:
	cJSON_Delete(arr);
	return NULL;
}

/*
 * The overrides object re-serialised (malloc'd), or NULL after an error.
 * Only known keys with 1–1000 character UTF-8 strings pass.
 */
static char *
check_texts(const char *json, struct field_errors *errs)
{
	cJSON		*obj = json_parse_str(json, NULL);
	const cJSON	*e;
	char		*out = NULL;
	char		 q[48];
	int		 t;

	if (!cJSON_IsObject(obj)) {
		field_error_add(errs, "texts",
		    "Texts must be a JSON object of strings.");
		goto out;
	}
	cJSON_ArrayForEach(e, obj) {
		for (t = 0; t < AGENT_TEXTS; t++)
			if (str_eq(e->string, agent_text_keys[t]))
				break;
		if (t == AGENT_TEXTS) {
			if (e->string != NULL &&
			    utf8_valid(e->string, strlen(e->string)))
				quote_entry(q, sizeof(q), e->string);
			else
				str_copy(q, "", sizeof(q));
			field_error_addf(errs, "texts",
			    "\"%s\" is not a text name.", q);
			goto out;
		}
		if (!cJSON_IsString(e) || e->valuestring == NULL)
			field_error_add(errs, text_fields[t],
			    "Enter the text as a string.");
		else if (e->valuestring[0] == '\0')
			field_error_add(errs, text_fields[t], "Enter a text, "
			    "or leave it out to use the default.");
		else if (!utf8_valid(e->valuestring, strlen(e->valuestring)))
			field_error_add(errs, text_fields[t],
			    "The text is not valid UTF-8.");
		else if (!text_ok(e->valuestring, 1, AGENT_TEXT_MAX_CHARS))
			field_error_add(errs, text_fields[t],
			    "Use at most 1000 characters.");
	}
	if (errs->n == 0 && (out = cJSON_PrintUnformatted(obj)) == NULL)
		abort();
out:
	cJSON_Delete(obj);
	return out;
}

/* DB_OK (maybe with a field error) unless the database failed. */
static enum db_status
check_model(struct db *db, int64_t org_id, int64_t model_id,
    struct field_errors *errs)
{
	struct arena		*a;
	struct org_model	 m;
	enum db_status		 st;

	if (model_id == 0)
		return DB_OK;
	if (model_id < 0) {
		field_error_add(errs, "model_id", "Choose one of your models.");
		return DB_OK;
	}
	a = arena_new();
	st = orgmodel_get(db, a, org_id, model_id, &m);
	arena_free(a);
	if (st == DB_NOT_FOUND || st == DB_INVALID) {
		field_error_add(errs, "model_id", "Choose one of your models.");
		return DB_OK;
	}
	return st;
}

/*
 * Checks every field, collecting one error per field. On DB_OK, slug holds
 * the slug to store, *allow / *keywords the JSON arrays and *texts the
 * overrides object, NULL when in->texts_json is (caller frees all).
 * DB_INVALID when errs has something; other statuses: the database.
 */
static enum db_status
validate(struct db *db, int64_t org_id, const struct agent_input *in,
    struct field_errors *errs, char slug[64], char **allow, char **keywords,
    char **texts)
{
	cJSON		*a = NULL, *k = NULL;
	const char	*name = in->name != NULL ? in->name : "";
	bool		 blank = true;
	enum db_status	 st;

	*allow = *keywords = *texts = NULL;
	for (const char *p = name; *p != '\0' && blank; p++)
		blank = isspace((unsigned char)*p);
	if (blank)
		field_error_add(errs, "name", "Enter a name.");
	else if (!text_ok(name, 1, NAME_MAX_CHARS))
		field_error_add(errs, "name", "Use at most 100 characters.");

	if (in->slug != NULL && in->slug[0] != '\0') {
		if (!str_copy(slug, in->slug, 64))
			slug[0] = '\0';
	} else
		agent_slugify(name, slug);
	if (slug[0] == '\0' && (in->slug == NULL || in->slug[0] == '\0')) {
		if (!blank)
			field_error_add(errs, "slug", "The name has no "
			    "letters or digits to make a slug from: enter "
			    "one.");
	} else {
		bool	 ok = slug[0] != '\0' && strlen(slug) <= 63 &&
			    (islower((unsigned char)slug[0]) ||
			    isdigit((unsigned char)slug[0]));

		for (const char *p = slug; *p != '\0' && ok; p++)
			ok = (*p >= 'a' && *p <= 'z') ||
			    (*p >= '0' && *p <= '9') || *p == '-';
		if (!ok)
			field_error_add(errs, "slug", "Use 1 to 63 "
			    "lower-case letters, digits and dashes, "
			    "starting with a letter or digit.");
	}

	check_prompt(in->system_prompt != NULL ? in->system_prompt : "",
	    errs);
	if (!str_eq(in->mode, "chat") && !str_eq(in->mode, "task"))
		field_error_add(errs, "mode", "Choose chat or task.");
	if (in->history_length < 0 || in->history_length > HISTORY_MAX)
		field_error_add(errs, "history_length",
		    "Use a number from 0 to 200.");
	if (in->has_temperature && !(in->temperature >= 0.0 &&
	    in->temperature <= 2.0))
		field_error_add(errs, "temperature",
		    "Use a number from 0 to 2, or leave it empty.");
	if (in->max_tokens < 0 || in->max_tokens > MAX_TOKENS_MAX)
		field_error_add(errs, "max_tokens",
		    "Use a number from 0 to 100000 (0: the model's default).");
	if (in->reset_command != NULL && in->reset_command[0] != '\0' &&
	    !reset_ok(in->reset_command))
		field_error_add(errs, "reset_command", "Use 1 to 40 "
		    "characters with no spaces, starting with / or a "
		    "letter, or leave it empty to turn it off.");
	if (in->transcription_model != NULL &&
	    in->transcription_model[0] != '\0' &&
	    !model_name_ok(in->transcription_model))
		field_error_add(errs, "transcription_model", "Use the model's "
		    "name as your provider spells it (for example whisper-1): "
		    "at most 100 characters, no control characters, or leave "
		    "it empty to turn transcription off.");
	if (in->session_timeout_minutes < 1 ||
	    in->session_timeout_minutes > AGENT_SESSION_MINUTES_MAX)
		field_error_add(errs, "session_timeout_minutes", "Use a number "
		    "of minutes from 1 to 525600 (a year).");
	if (in->debounce_ms < 0 || in->debounce_ms > AGENT_DEBOUNCE_MS_MAX)
		field_error_add(errs, "debounce_ms", "Use a number of "
		    "milliseconds from 0 (answer at once) to 60000.");
	if (!str_eq(in->busy_mode, AGENT_BUSY_RESTART) &&
	    !str_eq(in->busy_mode, AGENT_BUSY_FOLLOW_UP))
		field_error_add(errs, "busy_mode", "Choose restart or "
		    "follow-up.");
	if (in->outage_window_s < 1 || in->outage_window_s >
	    AGENT_OUTAGE_S_MAX)
		field_error_add(errs, "outage_window_s", "Use a number of "
		    "seconds from 1 to 86400 (a day).");
	if (in->outage_notice_s < 1 || in->outage_notice_s >
	    AGENT_OUTAGE_S_MAX)
		field_error_add(errs, "outage_notice_s", "Use a number of "
		    "seconds from 1 to 86400 (a day).");
	if (in->doc_context_chars < 0 || in->doc_context_chars >
	    AGENT_DOC_CONTEXT_MAX)
		field_error_add(errs, "doc_context_chars", "Use a number of "
		    "characters from 0 (no documents) to 500000.");
	a = check_allow(in, errs);
	k = check_keywords(in, errs);
	if (in->texts_json != NULL)
		*texts = check_texts(in->texts_json, errs);
	if ((st = check_model(db, org_id, in->model_id, errs)) != DB_OK)
		goto out;
	if (errs->n > 0) {
		st = DB_INVALID;
		free(*texts);
		*texts = NULL;
		goto out;
	}
	*allow = cJSON_PrintUnformatted(a);
	*keywords = cJSON_PrintUnformatted(k);
	if (*allow == NULL || *keywords == NULL)
		abort();
out:
	cJSON_Delete(a);
	cJSON_Delete(k);
	return st;
}

/* A JSON array of strings (to_json of a text[]) into arena strings. */
static char **
json_strings(struct arena *a, const char *text, int *n)
{
	cJSON		*arr = json_parse_str(text, NULL);
	const cJSON	*e;
	char		**out;
	int		 i = 0;

	*n = 0;
	if (!cJSON_IsArray(arr)) {
		cJSON_Delete(arr);
		return arena_alloc(a, sizeof(char *));
	}
	out = arena_alloc(a, sizeof(char *) *
	    ((size_t)cJSON_GetArraySize(arr) + 1));
	cJSON_ArrayForEach(e, arr)
		if (cJSON_IsString(e))
			out[i++] = arena_strdup(a, e->valuestring);
	*n = i;
	cJSON_Delete(arr);
	return out;
}

/*
 * The org's agents (id 0 and slug NULL), or the one with that id or slug.
 * Rows are copied into the arena; DB_NOT_FOUND when none matched a lookup.
 */
static enum db_status
fetch(struct db *db, struct arena *a, int64_t org_id, int64_t id,
    const char *slug, struct agent **out, int *n)
{
	struct db_res	 res = { 0 };
	struct agent	*v;
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT a.id, a.name, a.slug, a.system_prompt,"
	    "       coalesce(a.model_id, 0), a.mode, a.history_length,"
	    "       a.temperature, coalesce(a.max_tokens, 0), a.reset_command,"
	    "       to_json(a.allow_list)::text,"
	    "       to_json(a.escalation_keywords)::text,"
	    "       coalesce((SELECT json_agg(p.plugin_id ORDER BY p.plugin_id)"
	    "                   FROM agent_plugins p"
	    "                  WHERE p.org_id = a.org_id"
	    "                    AND p.agent_id = a.id), '[]')::text,"
	    "       a.created_at, a.updated_at, a.texts::text,"
	    "       a.require_mention, a.transcription_model,"
	    "       a.session_timeout_minutes, a.debounce_ms, a.busy_mode,"
	    "       a.busy_ack, a.outage_window_s, a.outage_notice_s,"
	    "       a.typing_indicator, a.read_receipts, a.working_reaction,"
	    "       a.doc_context_chars,"
	    /* Read, not owned: the MCP links (model/mcp_server.c), so a
	     * turn asks for tool servers only when the agent has some. */
	    "       EXISTS (SELECT 1 FROM agent_mcp_servers l"
	    "                WHERE l.org_id = a.org_id AND l.agent_id = a.id)"
	    "  FROM agents a"
	    " WHERE a.org_id = $1"
	    "   AND ($2::bigint = 0 OR a.id = $2)"
	    "   AND ($3::text IS NULL OR a.slug = $3)"
	    " ORDER BY lower(a.name), a.id",
	    DB_I64(org_id), DB_I64(id), DB_TEXT(slug), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows == 0 && (id != 0 || slug != NULL)) {
		st = DB_NOT_FOUND;
		goto out;
	}
	v = arena_alloc(a, sizeof(*v) * ((size_t)res.n_rows + 1));
	for (int i = 0; i < res.n_rows; i++) {
		struct agent	*g = &v[i];

		g->id = db_res_i64(&res, i, 0);
		g->name = arena_strdup(a, db_res_text(&res, i, 1));
		g->slug = arena_strdup(a, db_res_text(&res, i, 2));
		g->system_prompt = arena_strdup(a, db_res_text(&res, i, 3));
		g->model_id = db_res_i64(&res, i, 4);
		g->model_name = "";
		g->mode = arena_strdup(a, db_res_text(&res, i, 5));
		g->history_length = (int)db_res_i64(&res, i, 6);
		g->has_temperature = !db_res_isnull(&res, i, 7);
		g->temperature = g->has_temperature ?
		    db_res_f64(&res, i, 7) : 0.0;
		g->max_tokens = (int)db_res_i64(&res, i, 8);
		g->reset_command = db_res_isnull(&res, i, 9) ? NULL :
		    arena_strdup(a, db_res_text(&res, i, 9));
		g->allow_list = json_strings(a, db_res_text(&res, i, 10),
		    &g->n_allow);
		g->escalation_keywords = json_strings(a,
		    db_res_text(&res, i, 11), &g->n_escalation);
		g->plugins = json_strings(a, db_res_text(&res, i, 12),
		    &g->n_plugins);
		g->created_at = arena_strdup(a, db_res_text(&res, i, 13));
		g->updated_at = arena_strdup(a, db_res_text(&res, i, 14));
		g->texts = arena_strdup(a, db_res_text(&res, i, 15));
		g->require_mention = db_res_bool(&res, i, 16);
		g->transcription_model = arena_strdup(a,
		    db_res_text(&res, i, 17));
		g->session_timeout_minutes = (int)db_res_i64(&res, i, 18);
		g->debounce_ms = (int)db_res_i64(&res, i, 19);
		g->busy_mode = arena_strdup(a, db_res_text(&res, i, 20));
		g->busy_ack = db_res_bool(&res, i, 21);
		g->outage_window_s = (int)db_res_i64(&res, i, 22);
		g->outage_notice_s = (int)db_res_i64(&res, i, 23);
		g->typing_indicator = db_res_bool(&res, i, 24);
		g->read_receipts = db_res_bool(&res, i, 25);
		g->working_reaction = db_res_bool(&res, i, 26);
		g->doc_context_chars = (int)db_res_i64(&res, i, 27);
		g->has_tool_servers = db_res_bool(&res, i, 28);
	}
	*out = v;
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

/*
 * Fills model_name from model/orgmodel. Best effort: a failure leaves the
 * names empty (the page still works; the id is there).
 */
static void
name_models(struct db *db, struct arena *a, int64_t org_id,
    struct agent *v, int n)
{
	struct org_model	*m = NULL;
	int			 n_m = 0;

	bool			 any = false;

	for (int i = 0; i < n && !any; i++)
		any = v[i].model_id != 0;
	if (!any || orgmodel_list(db, a, org_id, &m, &n_m) != DB_OK)
		return;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n_m; j++)
			if (m[j].id == v[i].model_id)
				v[i].model_name = m[j].display_name;
}

enum db_status
agent_list(struct db *db, struct arena *a, int64_t org_id,
    struct agent **out, int *n)
{
	enum db_status	 st;

	st = fetch(db, a, org_id, 0, NULL, out, n);
	if (st == DB_OK)
		name_models(db, a, org_id, *out, *n);
	return st;
}

enum db_status
agent_get(struct db *db, struct arena *a, int64_t org_id, int64_t id,
    struct agent *out)
{
	struct agent	*v;
	int		 n;
	enum db_status	 st;

	if (id <= 0)
		return DB_NOT_FOUND;
	if ((st = fetch(db, a, org_id, id, NULL, &v, &n)) != DB_OK)
		return st;
	name_models(db, a, org_id, v, n);
	*out = v[0];
	return DB_OK;
}

enum db_status
agent_get_by_slug(struct db *db, struct arena *a, int64_t org_id,
    const char *slug, struct agent *out)
{
	struct agent	*v;
	int		 n;
	enum db_status	 st;

	if (slug == NULL)
		return DB_NOT_FOUND;
	if ((st = fetch(db, a, org_id, 0, slug, &v, &n)) != DB_OK)
		return st;
	name_models(db, a, org_id, v, n);
	*out = v[0];
	return DB_OK;
}

enum db_status
agent_create(struct db *db, int64_t org_id, const struct agent_input *in,
    struct field_errors *errs, int64_t *id)
{
	struct db_res	 res = { 0 };
	char		 slug[64];
	char		*allow = NULL, *keywords = NULL, *texts = NULL;
	enum db_status	 st;

	st = validate(db, org_id, in, errs, slug, &allow, &keywords, &texts);
	if (st != DB_OK)
		goto out;
	st = db_query(db, &res,
	    "INSERT INTO agents (org_id, name, slug, system_prompt, model_id,"
	    "                    mode, history_length, temperature, max_tokens,"
	    "                    reset_command, allow_list, escalation_keywords,"
	    "                    texts, require_mention, transcription_model,"
	    "                    session_timeout_minutes, debounce_ms,"
	    "                    busy_mode, busy_ack, outage_window_s,"
	    "                    outage_notice_s, typing_indicator,"
	    "                    read_receipts, working_reaction,"
	    "                    doc_context_chars)"
	    " VALUES ($1, $2, $3, $4, nullif($5::bigint, 0), $6, $7, $8,"
	    "         nullif($9, 0), nullif($10, ''),"
	    "         ARRAY(SELECT jsonb_array_elements_text($11::jsonb)),"
	    "         ARRAY(SELECT jsonb_array_elements_text($12::jsonb)),"
	    "         coalesce($13::jsonb, '{}'), $14, coalesce($15, ''),"
	    "         $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)"
	    " RETURNING id",
	    DB_I64(org_id), DB_TEXT(in->name), DB_TEXT(slug),
	    DB_TEXT(in->system_prompt != NULL ? in->system_prompt : ""),
	    DB_I64(in->model_id), DB_TEXT(in->mode),
	    DB_I64(in->history_length),
	    in->has_temperature ? DB_F64(in->temperature) : DB_NULL,
	    DB_I64(in->max_tokens),
	    DB_TEXT(in->reset_command != NULL ? in->reset_command : ""),
	    DB_TEXT(allow), DB_TEXT(keywords), DB_TEXT(texts),
	    DB_BOOL(in->require_mention), DB_TEXT(in->transcription_model),
	    DB_I64(in->session_timeout_minutes), DB_I64(in->debounce_ms),
	    DB_TEXT(in->busy_mode), DB_BOOL(in->busy_ack),
	    DB_I64(in->outage_window_s), DB_I64(in->outage_notice_s),
	    DB_BOOL(in->typing_indicator), DB_BOOL(in->read_receipts),
	    DB_BOOL(in->working_reaction), DB_I64(in->doc_context_chars),
	    DB_END);
	if (st == DB_OK)
		*id = db_res_i64(&res, 0, 0);
	else if (st == DB_CONFLICT)
		field_error_add(errs, "slug",
		    "Another agent already uses this slug.");
	else if (st == DB_INVALID)	/* the model went away meanwhile */
		field_error_add(errs, "model_id", "Choose one of your models.");
out:
	db_res_clear(&res);
	free(allow);
	free(keywords);
	free(texts);
	return st;
}

enum db_status
agent_update(struct db *db, int64_t org_id, int64_t id,
    const struct agent_input *in, struct field_errors *errs)
{
	struct db_res	 res = { 0 };
	char		 slug[64];
	char		*allow = NULL, *keywords = NULL, *texts = NULL;
	enum db_status	 st;

	st = validate(db, org_id, in, errs, slug, &allow, &keywords, &texts);
	if (st != DB_OK)
		goto out;
	st = db_query(db, &res,
	    "UPDATE agents"
	    "   SET name = $3, slug = $4, system_prompt = $5,"
	    "       model_id = nullif($6::bigint, 0), mode = $7, history_length = $8,"
	    "       temperature = $9, max_tokens = nullif($10, 0),"
	    "       reset_command = nullif($11, ''),"
	    "       allow_list ="
	    "           ARRAY(SELECT jsonb_array_elements_text($12::jsonb)),"
	    "       escalation_keywords ="
	    "           ARRAY(SELECT jsonb_array_elements_text($13::jsonb)),"
	    "       texts = coalesce($14::jsonb, texts),"
	    "       require_mention = $15,"
	    "       transcription_model = coalesce($16, transcription_model),"
	    "       session_timeout_minutes = $17, debounce_ms = $18,"
	    "       busy_mode = $19, busy_ack = $20, outage_window_s = $21,"
	    "       outage_notice_s = $22, typing_indicator = $23,"
	    "       read_receipts = $24, working_reaction = $25,"
	    "       doc_context_chars = $26,"
	    "       updated_at = now()"
	    " WHERE org_id = $1 AND id = $2"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(id), DB_TEXT(in->name), DB_TEXT(slug),
	    DB_TEXT(in->system_prompt != NULL ? in->system_prompt : ""),
	    DB_I64(in->model_id), DB_TEXT(in->mode),
	    DB_I64(in->history_length),
	    in->has_temperature ? DB_F64(in->temperature) : DB_NULL,
	    DB_I64(in->max_tokens),
	    DB_TEXT(in->reset_command != NULL ? in->reset_command : ""),
	    DB_TEXT(allow), DB_TEXT(keywords), DB_TEXT(texts),
	    DB_BOOL(in->require_mention), DB_TEXT(in->transcription_model),
	    DB_I64(in->session_timeout_minutes), DB_I64(in->debounce_ms),
	    DB_TEXT(in->busy_mode), DB_BOOL(in->busy_ack),
	    DB_I64(in->outage_window_s), DB_I64(in->outage_notice_s),
	    DB_BOOL(in->typing_indicator), DB_BOOL(in->read_receipts),
	    DB_BOOL(in->working_reaction), DB_I64(in->doc_context_chars),
	    DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	else if (st == DB_CONFLICT)
		field_error_add(errs, "slug",
		    "Another agent already uses this slug.");
	else if (st == DB_INVALID)
		field_error_add(errs, "model_id", "Choose one of your models.");
out:
	db_res_clear(&res);
	free(allow);
	free(keywords);
	free(texts);
	return st;
}

enum db_status
agent_delete(struct db *db, int64_t org_id, int64_t id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "DELETE FROM agents WHERE org_id = $1 AND id = $2 RETURNING id",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

/* Usable, de-duplicated ids as a JSON array text (malloc'd). */
static bool
plugins_json(const char *const *ids, int n, agent_plugin_ok usable,
    char **out)
{
	cJSON			*arr = cJSON_CreateArray();
	bool			 dup, ok = true;

	*out = NULL;
	for (int i = 0; i < n && ok; i++) {
		if (ids[i] == NULL || usable == NULL || !usable(ids[i])) {
			ok = false;
			break;
		}
		dup = false;
		for (int j = 0; j < i && !dup; j++)
			dup = str_eq(ids[j], ids[i]);
		if (!dup)
			cJSON_AddItemToArray(arr, cJSON_CreateString(ids[i]));
	}
	if (ok && (*out = cJSON_PrintUnformatted(arr)) == NULL)
		abort();
	cJSON_Delete(arr);
	return ok;
}

/* Locks the agent's row and marks it changed; DB_NOT_FOUND if absent. */
static enum db_status
touch(struct db *db, int64_t org_id, int64_t id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "UPDATE agents SET updated_at = now()"
	    " WHERE org_id = $1 AND id = $2 RETURNING id",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

enum db_status
agent_set_plugins(struct db *db, int64_t org_id, int64_t agent_id,
    const char *const *ids, int n, agent_plugin_ok ok)
{
	char		*json = NULL;
	bool		 own = false;
	enum db_status	 st;

	if (n < 0 || !plugins_json(ids, n, ok, &json))
		return DB_INVALID;
	/* Inside a caller's transaction (create + plugins), join it. */
	if ((st = db_tx_join(db, &own)) != DB_OK)
		goto out;
	if ((st = touch(db, org_id, agent_id)) != DB_OK)
		goto out;
	st = db_exec(db,
	    "DELETE FROM agent_plugins WHERE org_id = $1 AND agent_id = $2",
	    DB_I64(org_id), DB_I64(agent_id), DB_END);
	if (st != DB_OK)
		goto out;
	st = db_exec(db,
	    "INSERT INTO agent_plugins (org_id, agent_id, plugin_id)"
	    " SELECT $1, $2, jsonb_array_elements_text($3::jsonb)",
	    DB_I64(org_id), DB_I64(agent_id), DB_TEXT(json), DB_END);
	if (st != DB_OK)
		goto out;
out:
	st = db_tx_leave(db, own, st);
	free(json);
	return st;
}

