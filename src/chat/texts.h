/*
 * texts: what Parley itself says in a chat (not the model): connect,
 * switch, reset, welcome, the acknowledgment of a message that arrives
 * while the model works, not allowed, what the agent cannot read, an
 * outage taking long… Each has a default (the
 * product's wording) that an agent may override (agents.texts, a JSON
 * object keyed by the names below); {agent}, {old}, {new}, {product},
 * {minutes} are replaced when present. Pure code.
 */
#ifndef PARLEY_CHAT_TEXTS_H
#define PARLEY_CHAT_TEXTS_H

#include <stddef.h>

enum chat_text {
	TEXT_CONNECTED,		/* Connected to '{agent}'. Send a message to start. */
	TEXT_SWITCHED,		/* Switched from '{old}' to '{new}'. */
	TEXT_INVALID_FORMAT,	/* Invalid connect code format. */
	TEXT_INVALID_CODE,	/* That connect code is invalid or has expired. … */
	TEXT_TOO_MANY,		/* Too many failed codes … {minutes} … */
	TEXT_RESET,		/* Session reset! Starting fresh with {agent}. */
	TEXT_WELCOME,		/* Welcome to {product}! To get started, … */
	TEXT_BUSY,		/* Got it: still working on your earlier … (the
				   optional acknowledgment of a message that
				   arrives while the model works, never an
				   answer) */
	TEXT_NOT_ALLOWED,	/* This operation not allowed */
	TEXT_HANDOFF,		/* Thanks — a person from our team will reply … */
	TEXT_UNSUPPORTED,	/* Sorry, I can't read that kind of message. … */
	TEXT_SLOW,		/* This is taking longer than usual … */
	TEXT_RETURNED,		/* the timeline's note when a chat handed off
				   for an outage returns to the AI (never
				   sent) */
	TEXT_NO_VISION,		/* Sorry, I can't look at images. (an image
				   sent to an agent whose model has no
				   vision: said alone, or before the answer
				   to the words that came with it) */
	TEXT_COUNT
};

struct text_vars {
	const char	*agent;
	const char	*old_agent;
	const char	*new_agent;
	const char	*product;
	int		 minutes;
};

/* The JSON key of a text ("connected", "switched", …). */
const char	*chat_text_key(enum chat_text t);
/* The default wording. */
const char	*chat_text_default(enum chat_text t);
/*
 * The text to send: the override for t in overrides_json (an object, may
 * be NULL or "{}") or the default, with the variables substituted.
 * Returns a malloc'd string.
 */
char		*chat_text_render(enum chat_text t, const char *overrides_json,
		    const struct text_vars *v);

#endif
