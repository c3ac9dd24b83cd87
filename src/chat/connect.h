/*
 * connect: connect codes (owns tables `connect_codes` and
 * `connect_attempts`). An admin generates "<PREFIX>-XXXX" for an agent on
 * one of the organisation's channels: 4 characters from an unambiguous
 * uppercase alphabet (no 0/O, 1/I/L), valid 10 minutes, single use. A
 * chat sends "connect CODE" to link itself to that agent. Failed codes
 * are counted per chat and per sender in the database: after 5 in 15
 * minutes further attempts are refused for the rest of the window.
 */
#ifndef PARLEY_CHAT_CONNECT_H
#define PARLEY_CHAT_CONNECT_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"

struct arena;

#define CONNECT_TTL_S		600
#define CONNECT_MAX_FAILURES	5
#define CONNECT_WINDOW_S	900
#define CONNECT_ALPHABET	"ABCDEFGHJKMNPQRSTUVWXYZ23456789"

struct connect_code {
	int64_t	 id;
	int64_t	 agent_id;
	int64_t	 channel_id;
	char	*code;
	char	*channel_number;	/* "+E164" of the channel, or "" */
	char	*deep_link;		/* https://wa.me/<digits>?text=connect%20<CODE> */
	int	 seconds_left;		/* 0 when expired or used */
	bool	 used;
	char	*created_at;
	char	*expires_at;		/* PostgreSQL text, like created_at */
};

/*
 * Creates a code for agent_id on channel_id (both the org's: DB_NOT_FOUND
 * otherwise) with the organisation's prefix. Retries on the rare clash.
 */
enum db_status	 connect_code_create(struct db *db, struct arena *a,
		    int64_t org_id, int64_t agent_id, int64_t channel_id,
		    int64_t user_id, struct connect_code *out)
		    __attribute__((warn_unused_result));
/* The agent's codes still valid, newest first. */
enum db_status	 connect_codes_active(struct db *db, struct arena *a,
		    int64_t org_id, int64_t agent_id, struct connect_code **out,
		    int *n) __attribute__((warn_unused_result));

/* What "connect CODE" found, for the command handler. */
enum connect_outcome {
	CONNECT_LINKED,		/* chat linked to the code's agent */
	CONNECT_BAD_FORMAT,	/* not "<PREFIX>-XXXX" */
	CONNECT_INVALID,	/* unknown, used or expired (counted) */
	CONNECT_LOCKED,		/* too many failures: refused (not checked) */
};

/*
 * Parses "connect CODE" (case-insensitive, surrounding spaces ignored):
 * true only when "connect" is followed by exactly one code-shaped token
 * (letters, a dash, letters or digits: "PRL-AB12", "prl-ab1"), so that
 * "connect me with sales" or "connect" alone are words for the model (or
 * the welcome text), not a command. *code then points to the token upper
 * cased in the arena; whether it is a valid code is connect_redeem's to
 * say (a wrong length is TEXT_INVALID_FORMAT there).
 */
bool		 connect_parse(struct arena *a, const char *text,
		    const char **code);
/*
 * Redeems code for the chat on its channel, in one transaction: checks
 * the guessing limit first (chat and sender), then consumes the code and
 * links the chat (closing its open thread when the agent changes).
 * *agent_id / *old_agent_id get the new and previous agents (0: none);
 * *minutes_left the lock's remaining minutes for CONNECT_LOCKED.
 */
enum db_status	 connect_redeem(struct db *db, int64_t org_id,
		    int64_t channel_id, int64_t chat_id, const char *sender,
		    const char *code, enum connect_outcome *outcome,
		    int64_t *agent_id, int64_t *old_agent_id, int *minutes_left)
		    __attribute__((warn_unused_result));

struct linked_chat {
	int64_t	 chat_id;
	char	*kind;		/* dm|group */
	char	*external_id;
	char	*display_name;
	char	*channel_name;
	char	*linked_at;
	char	*code;		/* the code used, or "" */
	int64_t	 channel_id;
};

/* The chats linked to agent_id, newest first. */
enum db_status	 connect_linked_chats(struct db *db, struct arena *a,
		    int64_t org_id, int64_t agent_id, struct linked_chat **out,
		    int *n) __attribute__((warn_unused_result));
/* Unlinks a chat from its agent (closes its open thread). */
enum db_status	 connect_unlink(struct db *db, int64_t org_id, int64_t chat_id)
		    __attribute__((warn_unused_result));

#endif
