/*
 * texts: the wording of what Parley itself says in a chat (see texts.h).
 * Pure code, no shared state: thread-safe.
 *
 * DESIGN. The defaults below are the product's wording and are part of
 * its behaviour (tests pin them byte for byte). An agent's overrides are
 * a JSON object stored in agents.texts; model/agent.c validates them on
 * write, but this file still trusts nothing: malformed JSON, a non-object,
 * a non-string or empty value all fall back to the default, so a chat
 * always gets a sentence. Substitution is plain text replacement of the
 * five known {names}, not Mustache: a chat message is not HTML, and an
 * admin writing "{x}" or "{{" must see it sent as written. A known
 * variable whose value is NULL becomes the empty string. The output is
 * bounded (CHAT_TEXT_OUT_MAX bytes, cut at a UTF-8 character boundary):
 * an override is at most 1000 characters but agent and product names
 * are substituted into it, possibly several times.
 */
#include "chat/texts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "model/agent.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/xmalloc.h"

/* WhatsApp's own limit for one text message. */
#define CHAT_TEXT_OUT_MAX	4096

/* The keys are the agent's (model/agent.h agent_text_keys): same order. */
_Static_assert(TEXT_COUNT == AGENT_TEXTS, "chat/texts.h and model/agent.h "
    "list the same texts");

static void	 put_bounded(struct buf *, const char *, size_t);
static const char *var_value(const char *, size_t, const struct text_vars *,
		    char *, size_t);

static const char *const text_defs[TEXT_COUNT] = {
	[TEXT_CONNECTED] =
	    "Connected to '{agent}'. Send a message to start.",
	[TEXT_SWITCHED] =
	    "Switched from '{old}' to '{new}'.",
	[TEXT_INVALID_FORMAT] =
	    "Invalid connect code format.",
	[TEXT_INVALID_CODE] =
	    "That connect code is invalid or has expired. Generate a new one "
	    "and try again.",
	[TEXT_TOO_MANY] =
	    "Too many failed connect codes from this chat. Try again in "
	    "{minutes} minutes.",
	[TEXT_RESET] =
	    "Session reset! Starting fresh with {agent}.",
	[TEXT_WELCOME] =
	    "Welcome to {product}! To get started, please send your connect "
	    "code.",
	[TEXT_BUSY] =
	    "Got it \xe2\x80\x94 I'm still working on your earlier message "
	    "and will answer this too.",
	[TEXT_NOT_ALLOWED] =
	    "This operation not allowed",
	[TEXT_HANDOFF] =
	    "Thanks \xe2\x80\x94 a person from our team will reply here "
	    "shortly.",
	[TEXT_UNSUPPORTED] =
	    "Sorry, I can't read that kind of message. Could you send it as "
	    "text?",
	[TEXT_SLOW] =
	    "This is taking longer than usual \xe2\x80\x94 I'll answer as "
	    "soon as I can.",
	[TEXT_RETURNED] =
	    "The model answers again: the chat is back with {agent}.",
	[TEXT_NO_VISION] =
	    "Sorry, I can't look at images.",
};

const char *
chat_text_key(enum chat_text t)
{
	if ((unsigned)t >= TEXT_COUNT)
		return NULL;
	return agent_text_keys[t];
}

const char *
chat_text_default(enum chat_text t)
{
	if ((unsigned)t >= TEXT_COUNT)
		return NULL;
	return text_defs[t];
}

/*
 * Appends at most what fits under the buffer's bound, cutting before a
 * UTF-8 continuation byte so the result stays valid UTF-8.
 */
static void
put_bounded(struct buf *b, const char *s, size_t n)
{
	size_t	 room;

	if (b->len >= CHAT_TEXT_OUT_MAX)
		return;
	room = CHAT_TEXT_OUT_MAX - b->len;
	if (n > room) {
		n = room;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	buf_append(b, s, n);
}

/*
 * The value of the variable named name[0..len) (without braces), or NULL
 * when it is not one of ours. numbuf holds a formatted {minutes}.
 */
static const char *
var_value(const char *name, size_t len, const struct text_vars *v,
    char *numbuf, size_t numbuf_len)
{
	const char	*val;

#define IS(lit)	(len == sizeof(lit) - 1 && memcmp(name, lit, len) == 0)
	if (IS("agent"))
		val = v ? v->agent : NULL;
	else if (IS("old"))
		val = v ? v->old_agent : NULL;
	else if (IS("new"))
		val = v ? v->new_agent : NULL;
	else if (IS("product"))
		val = v ? v->product : NULL;
	else if (IS("minutes")) {
		snprintf(numbuf, numbuf_len, "%d", v ? v->minutes : 0);
		val = numbuf;
	} else
		return NULL;
#undef IS
	return val ? val : "";
}

char *
chat_text_render(enum chat_text t, const char *overrides_json,
    const struct text_vars *v)
{
	cJSON		*root = NULL;
	const cJSON	*item;
	const char	*tmpl;
	const char	*p;
	struct buf	 b;
	char		 numbuf[16];
	char		*out;

	tmpl = chat_text_default(t);
	if (tmpl == NULL)
		return xstrdup("");
	if (overrides_json != NULL && *overrides_json != '\0') {
		root = json_parse_str(overrides_json, NULL);
		if (cJSON_IsObject(root)) {
			item = cJSON_GetObjectItemCaseSensitive(root,
			    agent_text_keys[t]);
			if (cJSON_IsString(item) && item->valuestring != NULL &&
			    item->valuestring[0] != '\0')
				tmpl = item->valuestring;
		}
	}

	/* The bound is enforced by put_bounded; the buf max is a backstop. */
	buf_init(&b, CHAT_TEXT_OUT_MAX + 1);
	p = tmpl;
	while (*p != '\0') {
		const char	*open = strchr(p, '{');
		const char	*close;
		const char	*val;

		if (open == NULL) {
			put_bounded(&b, p, strlen(p));
			break;
		}
		put_bounded(&b, p, (size_t)(open - p));
		close = strchr(open + 1, '}');
		val = close == NULL ? NULL : var_value(open + 1,
		    (size_t)(close - open - 1), v, numbuf, sizeof(numbuf));
		if (val == NULL) {
			/* Not ours: keep the brace, rescan after it. */
			put_bounded(&b, open, 1);
			p = open + 1;
			continue;
		}
		put_bounded(&b, val, strlen(val));
		p = close + 1;
	}
	cJSON_Delete(root);
	if (b.len == 0)
		out = xstrdup("");
	else
		out = buf_steal(&b, NULL);
	buf_cleanup(&b);
	return out;
}
