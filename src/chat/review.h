/*
 * review: the read side of conversation review over the tables chat/ owns
 * (chats, threads, messages): the conversations list with its filters and
 * keyset cursor, one chat's header and timeline, the "seen by a human"
 * mark, the media items of a message, and the row a Resend makes.
 *
 * Filters map to FIXED SQL fragments of two statements (list, search):
 * `($n IS NULL OR col = $n)`, never identifiers from input. Both are sent
 * unprepared on purpose (they begin with a comment, which db/query.c does
 * not prepare): a generic plan cannot drop the conditions whose parameter
 * is NULL, a custom plan per call can, and then uses chats_list_idx or
 * chats_status_idx with LIMIT 51 (bench/conversations.c measures it).
 * Search covers bodies and transcripts (messages.search_tsv); review.c
 * says how a rare and a broad word are each planned.
 *
 * Thread-safety: none needed; every function uses the caller's db.
 */
#ifndef PARLEY_CHAT_REVIEW_H
#define PARLEY_CHAT_REVIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"

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
	int64_t	 unread;		/* inbound after human_seen_at */
	char	*cursor;		/* "<µs>_<id>" of this row */
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
};

/* A thread of the chat, for the markers between messages. */
struct review_thread {
	int64_t	 id;
	char	*agent_name;		/* "" when none */
	char	*started_at;
	char	*closed_at;		/* "" while open */
	char	*close_reason;		/* "" when none */
};

/*
 * The chat's messages before before_id (0: the newest), at most
 * REVIEW_TIMELINE_MAX, oldest first; *has_earlier says whether older ones
 * exist. Also every thread of the chat (oldest first). Strings in a.
 */
enum db_status	 review_timeline(struct db *db, struct arena *a,
		    int64_t org_id, int64_t chat_id, int64_t before_id,
		    struct review_msg **msgs, int *n_msgs, bool *has_earlier,
		    struct review_thread **threads, int *n_threads)
		    __attribute__((warn_unused_result));

/* Marks the chat seen by a human now (unread counts restart). */
enum db_status	 review_mark_seen(struct db *db, int64_t org_id,
		    int64_t chat_id) __attribute__((warn_unused_result));

/*
 * The media JSON array (text, in a) of message mid of chat_id.
 * DB_NOT_FOUND when no such message of the org's chat.
 */
enum db_status	 review_media(struct db *db, struct arena *a, int64_t org_id,
		    int64_t chat_id, int64_t mid, char **media_json)
		    __attribute__((warn_unused_result));

/* What a Resend needs to send the copy. */
struct review_resend {
	int64_t	 new_id;		/* the queued copy */
	int64_t	 channel_id;
	char	*channel_kind;
	char	*to;			/* the chat's external id */
	bool	 is_group;
	char	*body;
};

/*
 * Copies failed outbound message mid of chat_id as a NEW outbound row
 * (same chat, thread and body; reply_to_id NULL; status queued; author
 * user_id, 0: none). DB_NOT_FOUND: no such message of the org's chat;
 * DB_INVALID: it is not a failed outbound message. The caller sends it and
 * records the outcome with chat_outbox_sending/sent/failed.
 */
enum db_status	 review_resend_copy(struct db *db, struct arena *a,
		    int64_t org_id, int64_t chat_id, int64_t mid,
		    int64_t user_id, struct review_resend *out)
		    __attribute__((warn_unused_result));

#endif
