/*
 * commands: the routing decision for an inbound message (see commands.h
 * for the order of the checks and why). Pure code over the message and
 * the agent's settings; "connect CODE" is recognised by chat/connect.c's
 * parser so that the command has one grammar.
 *
 * Case-insensitivity is ASCII only: commands and agent names that matter
 * here ("/reset", "connect", "Bot") are ASCII in practice, and folding
 * UTF-8 without a locale would be guesswork. Bytes above 0x7f count as
 * letters for word boundaries, so "Bötchen" never mentions "Bö".
 *
 * Thread-safe: no shared state.
 */
#include "chat/commands.h"

#include <stddef.h>
#include <string.h>

#include "chat/connect.h"
#include "chat/contact.h"
#include "util/arena.h"

static bool	 is_space(char);
static bool	 is_word(char);
static char	 lower(char);
static void	 trim(const char *, const char **, size_t *);
static bool	 match_at(const char *, const char *, size_t);
static bool	 word_at(const char *, const char *, size_t, size_t);
static bool	 allowed(const struct route_input *);

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	    c == '\f';
}

static bool
is_word(char c)
{
	unsigned char	 u = (unsigned char)c;

	return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
	    (u >= '0' && u <= '9') || u == '_' || u >= 0x80;
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The text without surrounding white space: *start, *len. */
static void
trim(const char *s, const char **start, size_t *len)
{
	size_t	 n;

	while (*s != '\0' && is_space(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		n--;
	*start = s;
	*len = n;
}

/* s starts with the n bytes of w, ASCII case ignored. */
static bool
match_at(const char *s, const char *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0' || lower(s[i]) != lower(w[i]))
			return false;
	return true;
}

/* w (n bytes) occurs at body[off] as a whole word. */
static bool
word_at(const char *body, const char *w, size_t n, size_t off)
{
	if (!match_at(body + off, w, n))
		return false;
	if (off > 0 && is_word(body[off - 1]) && is_word(w[0]))
		return false;
	return !(is_word(body[off + n]) && is_word(w[n - 1]));
}

bool
chat_command_is_reset(const char *body, const char *cmd)
{
	const char	*b, *c;
	size_t		 blen, clen;

	if (body == NULL || cmd == NULL)
		return false;
	trim(cmd, &c, &clen);
	trim(body, &b, &blen);
	return clen > 0 && blen == clen && match_at(b, c, clen);
}

bool
chat_mentions(const char *body, const char *name, const char *number)
{
	const char	*n;
	size_t		 nlen, blen;

	if (body == NULL)
		return false;
	blen = strlen(body);
	if (name != NULL) {
		trim(name, &n, &nlen);
		for (size_t off = 0; nlen > 0 && off + nlen <= blen; off++)
			if (word_at(body, n, nlen, off))
				return true;
	}
	if (number != NULL) {
		/* WhatsApp writes a mention of a number as "@<digits>". */
		while (*number != '\0' && !(*number >= '0' && *number <= '9'))
			number++;
		nlen = strlen(number);
		for (const char *at = strchr(body, '@'); nlen > 0 && at != NULL;
		    at = strchr(at + 1, '@'))
			if (strncmp(at + 1, number, nlen) == 0 &&
			    !(at[1 + nlen] >= '0' && at[1 + nlen] <= '9'))
				return true;
	}
	return false;
}

bool
chat_sender_allowed(const char *sender, const char *const *allow_list,
    int n_allow)
{
	struct contact_ident	 c;

	memset(&c, 0, sizeof(c));
	if (n_allow > 0 && (sender == NULL || sender[0] == '\0'))
		return false;
	contact_ident_fill(&c, sender);
	return contact_allowed(&c, allow_list, n_allow);
}

/* The author against the allow-list: its identity, else its address. */
static bool
allowed(const struct route_input *in)
{
	if (in->from != NULL)
		return contact_allowed(in->from, in->allow_list, in->n_allow);
	return chat_sender_allowed(in->sender, in->allow_list, in->n_allow);
}

const char *
chat_command_text(struct arena *a, const char *body, const char *transcript)
{
	const char	*t;
	size_t		 n;
	char		*s;

	if (body != NULL && *body != '\0')
		return body;
	if (transcript == NULL || *transcript == '\0')
		return "";
	trim(transcript, &t, &n);
	while (n > 0 && strchr(".!?,;:", t[n - 1]) != NULL)
		n--;
	if (n > 6 && match_at(t, "slash ", 6)) {
		s = arena_printf(a, "/%.*s", (int)(n - 6), t + 6);
		return s;
	}
	return arena_strndup(a, t, n);
}

void
chat_route_decide(struct arena *a, const struct route_input *in,
    struct route_decision *out)
{
	const char	*body = chat_command_text(a, in->body, in->transcript);
	const char	*code = NULL;

	memset(out, 0, sizeof(*out));
	if (connect_parse(a, body, &code)) {
		out->action = ROUTE_CONNECT;
		out->code = code;
		return;
	}
	if (!in->has_agent) {
		out->action = ROUTE_WELCOME;
		return;
	}
	if (chat_command_is_reset(body, in->reset_command)) {
		out->action = allowed(in) ? ROUTE_RESET : ROUTE_NOT_ALLOWED;
		return;
	}
	if (in->is_group && in->require_mention &&
	    !chat_mentions(body, in->agent_name, in->channel_number)) {
		out->action = ROUTE_IGNORE;
		return;
	}
	if (!allowed(in)) {
		out->action = ROUTE_NOT_ALLOWED;
		return;
	}
	out->action = ROUTE_ANSWER;
}

const char *
chat_route_name(enum route_action action)
{
	switch (action) {
	case ROUTE_ANSWER:
		return "answer";
	case ROUTE_CONNECT:
		return "connect";
	case ROUTE_WELCOME:
		return "welcome";
	case ROUTE_RESET:
		return "reset";
	case ROUTE_NOT_ALLOWED:
		return "not_allowed";
	case ROUTE_IGNORE:
		return "ignore";
	case ROUTE_UNSUPPORTED:
		return "unsupported";
	}
	return "unknown";
}
