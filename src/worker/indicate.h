/*
 * indicate: what a person sees while a turn works, in ONE place for every
 * provider: ⏳ on their latest message where the provider has reactions
 * (removed when the turn ends), else a typing indicator where it has one.
 * Best effort: a failure is logged at debug level and never holds up the
 * answer. (Typing indicators expire after about 25 s; a long turn that
 * should refresh them, or mark messages read, changes only this file.)
 *
 * The calls are provider calls: the caller holds no database connection.
 * Thread-safety: one indicator belongs to one turn.
 */
#ifndef PARLEY_WORKER_INDICATE_H
#define PARLEY_WORKER_INDICATE_H

#include <stdbool.h>
#include <stdint.h>

struct outbox_channel;

struct indicator {
	const struct outbox_channel	*ch;		/* open */
	const char			*chat_external_id;
	const char			*provider_message_id;	/* the message
							   it hangs on */
	int64_t				 org_id;	/* for logs */
	int64_t				 message_id;	/* for logs */
	bool				 shown;
};

/* Shows the indicator on ind's message (once; no-op without a channel or
 * a provider id). */
void	 turn_indicate_begin(struct indicator *ind);
/* Takes it off again (the reaction removed), when begin showed it. */
void	 turn_indicate_end(struct indicator *ind);

#endif
