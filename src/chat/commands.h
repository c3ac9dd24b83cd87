/*
 * commands: what an inbound message means before any model sees it
 * (DESIGN.md data flow, "route: commands (connect / reset / switch),
 * allow-list, handoff"). Pure code: it reads the message and the agent's
 * settings and returns a decision; worker/turn.c acts on it (redeems the
 * code, resets the thread, asks the model for the turn's messages) and
 * sends the chat/texts.h text through the outbox.
 *
 * Routing reads what was meant: a command is recognised in the typed text
 * and, when there is none, in a voice note's transcript (spoken, it comes
 * back as "Reset." or "slash reset": chat_command_text tidies it).
 *
 * The order of the checks, and why:
 *
 *   1. "connect CODE" (any chat, DM or group, linked or not), where CODE
 *      is one code-shaped token (connect_parse): a person must always be
 *      able to connect, or switch, a chat, so neither the allow-list nor
 *      a mention requirement stands in front of it. "connect me with
 *      sales" is not a command: in a linked chat the model answers it.
 *   2. No agent (the chat is not linked and its channel has no default
 *      agent): the welcome text, whatever was said (it explains codes).
 *   3. The agent's reset command (exact match, case-insensitive,
 *      surrounding spaces ignored; NULL: turned off): checked against the
 *      allow-list, but not against the mention requirement (a command is
 *      addressed to the agent by its nature).
 *   4. A group message that does not mention an agent with
 *      require_mention: stored (it becomes context) but not answered. It
 *      comes before the allow-list so that a group's other members do not
 *      get "not allowed" for every message they write to each other.
 *   5. The allow-list (empty: everyone): in a DM the chat's contact, in a
 *      group the sender; entries are numbers, user ids or usernames
 *      (chat/contact.h); anyone else gets TEXT_NOT_ALLOWED only.
 *   6. Otherwise the model answers (with the turn's other messages).
 *
 * Thread-safe: no shared state.
 */
#ifndef PARLEY_CHAT_COMMANDS_H
#define PARLEY_CHAT_COMMANDS_H

#include <stdbool.h>

struct arena;
struct contact_ident;

enum route_action {
	ROUTE_ANSWER = 0,	/* the model answers (with the turn's others) */
	ROUTE_CONNECT,		/* redeem decision.code */
	ROUTE_WELCOME,		/* no agent: TEXT_WELCOME */
	ROUTE_RESET,		/* close the thread, open a new one: TEXT_RESET */
	ROUTE_NOT_ALLOWED,	/* the sender is not on the allow-list */
	ROUTE_IGNORE,		/* group, not mentioned: stored, not answered */
	ROUTE_UNSUPPORTED,	/* WhatsApp could not give us the message: the
				   agent says once what it cannot read (set by
				   the turn from the message's kind) */
};

/* What chat_route_decide looks at (strings are not kept). */
struct route_input {
	const char		*body;		/* the message text ("" for media) */
	const char		*transcript;	/* a voice note's words, NULL or
						   "": none */
	bool			 is_group;
	const char		*sender;	/* "+E164" (or user id) of the
						   author, when from is NULL */
	const struct contact_ident *from;	/* the author's identity, or
						   NULL */
	bool			 has_agent;	/* chat link or channel default */
	/* The agent's settings (ignored when !has_agent). */
	const char		*agent_name;
	const char		*reset_command;	/* NULL: turned off */
	const char *const	*allow_list;	/* numbers, user ids, @names;
						   empty: everyone */
	int			 n_allow;
	bool			 require_mention;
	const char		*channel_number; /* "+E164" of our number, or
						    NULL: "@<digits>" counts
						    as a mention too */
};

struct route_decision {
	enum route_action	 action;
	const char		*code;	/* ROUTE_CONNECT: upper-cased code in
					   the arena */
};

/*
 * Decides what the message means (see the order above). Strings of the
 * decision live in a. Never fails.
 */
void		 chat_route_decide(struct arena *a, const struct route_input *in,
		    struct route_decision *out);

/*
 * The text a command is read from: body when it has any, else the
 * transcript tidied for commands (surrounding white space and trailing
 * punctuation dropped, a spoken "slash " read as "/"), in a. Never NULL.
 */
const char	*chat_command_text(struct arena *a, const char *body,
		    const char *transcript);

/*
 * True when body is the reset command cmd: the same text ignoring ASCII
 * case and surrounding white space. False when cmd is NULL or blank.
 */
bool		 chat_command_is_reset(const char *body, const char *cmd);

/*
 * True when body mentions the agent: its name as a word (ASCII case
 * ignored, so "@Bot" and "hey bot," count but "robot" does not), or
 * "@<digits of number>" when number is not NULL.
 */
bool		 chat_mentions(const char *body, const char *name,
		    const char *number);

/*
 * True when sender (a "+E164" number or a user id) is on the allow-list,
 * or the list is empty: contact_allowed (chat/contact.h) over the one
 * address. Numbers compare by their digits only ("+1 555-0100" equals
 * "+15550100").
 */
bool		 chat_sender_allowed(const char *sender,
		    const char *const *allow_list, int n_allow);

/* A name for logs ("answer", "connect", …). */
const char	*chat_route_name(enum route_action action);

#endif
