/*
 * review: the read side of conversation review over the tables chat/ owns
 * (chats, threads, messages): the conversations list with its filters
 * (one reader of them for the panel and the API) and keyset cursor, one
 * page of a chat's timeline as both show it (review_page_load: header,
 * messages with what a Resend may do, threads, media downloads, model
 * calls), the "seen by a human" mark and the media items of a message.
 * The panel and the API only render what these load.
 *
 * Filters map to FIXED SQL fragments of two statements (list, search):
 * `($n IS NULL OR col = $n)`, never identifiers from input. Both are sent
 * unprepared on purpose (they begin with a comment, which db/query.c does
 * not prepare): a generic plan cannot drop the conditions whose parameter
 * is NULL, a custom plan per call can, and then uses chats_list_idx or
 * chats_status_idx with LIMIT 51 (bench/conversations.c measures it).
 * Search covers bodies and transcripts (chat/search.h's index, which
 * trails the messages by about a second); review.c says how a rare and a
 * broad word are each planned.
 *
 * Thread-safety: none needed; every function uses the caller's db.
 */
#ifndef PARLEY_CHAT_REVIEW_H
#define PARLEY_CHAT_REVIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "chat/fees.h"
#include "db/db.h"
#include "model/llmcall.h"
#include "model/media.h"

struct arena;

#define REVIEW_PAGE		50	/* chats per list page */
#define REVIEW_TIMELINE_MAX	500	/* messages per timeline page */

/* List filters; NULL / 0 members do not filter. Strings are validated
 * by review_filter_check before they reach SQL (as parameters). */
struct review_filter {
	int64_t		 agent_id;
	int64_t		 channel_id;
	const char	*status;	/* ai|needs_human|human|closed */
	const char	*environment;	/* development|production */
	const char	*from;		/* YYYY-MM-DD, inclusive (UTC) */
	const char	*to;		/* YYYY-MM-DD, inclusive (UTC) */
	const char	*q;		/* words to find in message bodies */
	/* keyset cursor: rows strictly older than (after_us, after_id) */
	int64_t		 after_us;	/* µs since the epoch; 0: first page */
	int64_t		 after_id;
};

/*
 * Checks f's strings: status and environment from their sets, dates as
 * real YYYY-MM-DD, q at most 200 bytes. False with a sentence for a 400
 * in *why (static).
 */
bool		 review_filter_check(const struct review_filter *f,
		    const char **why);
/*
 * Parses an opaque cursor "<µs>_<id>" (both positive decimal) into f.
 * False when malformed.
 */
bool		 review_cursor_parse(const char *s, struct review_filter *f);
/*
 * The list filters from a request's parameters (agent, channel, status,
 * environment, from, to, q, after), param(ctx, name) giving each (NULL:
 * absent or empty), checked (review_filter_check). False with a sentence
 * for a 400 in *why. The panel and the API read them alike.
 */
bool		 review_filter_read(struct review_filter *f,
		    const char *(*param)(void *ctx, const char *name),
		    void *ctx, const char **why);

/* One row of the conversations list. */
struct review_row {
	int64_t	 id;
	char	*kind;			/* dm|group */
	char	*external_id;		/* number or group id */
	char	*display_name;		/* profile or group name ("") */
	int64_t	 agent_id;		/* 0: none */
	char	*agent_name;		/* "" when none */
	int64_t	 channel_id;
	char	*channel_name;
	char	*environment;
	char	*status;		/* ai|needs_human|human|closed */
	char	*last_message_at;	/* ISO 8601 UTC */
	char	*last_body;		/* "" when no message */
	char	*last_direction;	/* in|out|"" */
	int64_t	 unread;		/* inbound not yet seen, at most 100 */
	char	*cursor;		/* "<µs>_<id>" of this row */
	/* A DM's contact (chat/contact.h); "" when unknown. */
	char	*contact_phone;
	char	*contact_user_id;
	char	*contact_username;
	char	*owner;			/* parley|other_app */
};

/*
 * One page of the org's chats, newest first, filtered by f: at most
 * REVIEW_PAGE rows; *next (arena, NULL: last page) is the cursor of the
 * page after. Strings in a.
 */
enum db_status	 review_list(struct db *db, struct arena *a, int64_t org_id,
		    const struct review_filter *f, struct review_row **out,
		    int *n, char **next) __attribute__((warn_unused_result));

/* One chat's header for the timeline. */
struct review_chat {
	int64_t	 id;
	char	*kind;
	char	*external_id;
	char	*display_name;
	int64_t	 agent_id;
	char	*agent_name;
	int64_t	 channel_id;
	char	*channel_name;
	char	*channel_kind;
	char	*environment;
	char	*status;
	char	*handoff_reason;
	int64_t	 assigned_user_id;	/* 0: none */
	char	*assigned_email;	/* "" when none */
	char	*last_inbound_at;	/* ISO, "" when never */
	int64_t	 window_left_s;		/* seconds of the 24-hour window
					   left; 0: closed */
	char	*created_at;
	char	*last_message_at;
	/* A DM's contact (chat/contact.h); "" when unknown. */
	char	*contact_phone;
	char	*contact_user_id;
	char	*contact_parent_user_id;
	char	*contact_username;
	char	*owner;			/* parley|other_app (Meta routing) */
	char	*owner_changed_at;	/* ISO, "" when never */
	int64_t	 unread;		/* inbound not yet seen (uncapped):
					   what review_mark_seen takes */
};

/* DB_NOT_FOUND when chat_id is not the org's. */
enum db_status	 review_chat_get(struct db *db, struct arena *a,
		    int64_t org_id, int64_t chat_id, struct review_chat *out)
		    __attribute__((warn_unused_result));

/* One message of a timeline. */
struct review_msg {
	int64_t	 id;
	char	*direction;		/* in|out */
	char	*sender;
	char	*sender_name;
	char	*body;
	char	*transcript;		/* voice note's words, "" none */
	char	*media;			/* JSON array text */
	char	*status;
	char	*error_code;		/* "" when none */
	char	*error_text;		/* "" when none */
	int64_t	 thread_id;		/* 0: none */
	int64_t	 llm_call_id;		/* 0: none */
	int64_t	 author_user_id;	/* 0: not a person's reply */
	char	*author_email;		/* "" when none */
	char	*created_at;		/* ISO 8601 UTC */
	int64_t	 resent_as_id;		/* failed, then resent as; 0: not */
	bool	 can_resend;		/* failed, not resent, not final */
	const char *no_resend;		/* failed with a final error: why a
					   Resend cannot help; NULL: none */
	char	*kind;			/* message|reaction|system|echo|… */
	int64_t	 reply_to_id;		/* an answer's message; a reaction's
					   target; 0: none */
	int64_t	 answered_by;		/* inbound: the answer that covered
					   it, 0: none (yet) */
	char	*unanswered_reason;	/* inbound: why it is not answered,
					   NULL: none */
	/* Computed for the page: */
	const char *waiting;		/* inbound, neither answered nor
					   settled: why it waits now (the
					   chat's state), NULL: none */
	int64_t	*covers;		/* an answer's first part: the
					   messages it answered, in order */
	int	 n_covers;
	const char *reactions;		/* emoji reacted to it, NULL: none */
	char	*sender_user_id;	/* inbound: the author's user id, "" */
	char	*sender_username;	/* inbound: the author's username, "" */
	/* WhatsApp's pricing of an outbound message (chat/fees.h); has_fee
	 * false: none known. fee_billable 1, 0 or -1 (not said). */
	bool	 has_fee;
	int	 fee_billable;
	char	*fee_model;
	char	*fee_type;
	char	*fee_category;
	char	*fee_amount;		/* "" when none */
	char	*fee_currency;		/* "" when none */
};

/* A thread of the chat, for the markers between messages. */
struct review_thread {
	int64_t	 id;
	char	*agent_name;		/* "" when none */
	char	*started_at;
	char	*closed_at;		/* "" while open */
	char	*close_reason;		/* "" when none */
};

/* One page of a chat's timeline, as the panel and the API show it. */
struct review_page {
	struct review_chat	 chat;
	struct review_msg	*msgs;		/* oldest first */
	int			 n_msgs;
	bool			 has_earlier;	/* older messages exist */
	struct review_thread	*threads;	/* every thread, oldest first */
	int			 n_threads;
	struct media_file	*files;		/* the page's media downloads */
	int			 n_files;
	struct llm_call		*calls;		/* with_calls: the page's model
						   calls, in id order */
	int			 n_calls;
	struct fee_totals	 fees;		/* the whole conversation's */
};

/*
 * The chat's messages before before_id (0: the newest), at most
 * REVIEW_TIMELINE_MAX, with its header, threads, what was downloaded of
 * the page's media and, with with_calls, the model calls behind its
 * agent turns, and its WhatsApp fees summed over the whole conversation.
 * Each answer says which messages it covered; each inbound message
 * nobody answered says why (its reason, or why it waits: a turn runs,
 * the model fails, a person is asked); reactions are listed on the
 * message they target. Strings in a. DB_NOT_FOUND when chat_id is not
 * the org's.
 */
enum db_status	 review_page_load(struct db *db, struct arena *a,
		    int64_t org_id, int64_t chat_id, int64_t before_id,
		    bool with_calls, struct review_page *out)
		    __attribute__((warn_unused_result));

/*
 * Marks the chat seen by a human now: its unread count drops by shown,
 * the count its header (review_chat_get, read before the messages shown)
 * gave; messages stored since stay unread.
 */
enum db_status	 review_mark_seen(struct db *db, int64_t org_id,
		    int64_t chat_id, int64_t shown)
		    __attribute__((warn_unused_result));

/*
 * The media JSON array (text, in a) of message mid of chat_id.
 * DB_NOT_FOUND when no such message of the org's chat.
 */
enum db_status	 review_media(struct db *db, struct arena *a, int64_t org_id,
		    int64_t chat_id, int64_t mid, char **media_json)
		    __attribute__((warn_unused_result));

#endif
