/*
 * voice: a voice note to text before the model reads it (the reply job's
 * MEDIA AND VOICE NOTES step, worker/reply.c).
 *
 * For the first audio item of an inbound message whose agent has a
 * transcription_model: the bytes are loaded (chat/media.h, downloaded
 * first when needed), sent to the agent's provider's
 * /audio/transcriptions (llm/transcribe.h) and the transcript is stored
 * on the message BEFORE the model is asked, so a retried run reuses it
 * and never transcribes twice. A voice note that cannot be transcribed
 * (the built-in parley/faq has no provider, the download or the provider
 * failed) does not lose the message: the model reads
 * CHAT_VOICE_UNREADABLE in its place, the failure is logged (never the
 * audio or a key) and a note in the chat's timeline says why. The call is
 * recorded in llm_calls (source "reply", the transcription model).
 *
 * Connections: its own, taken from the pool to read and to record and
 * given back before the download and the provider call. The pool's lease
 * keeper renews the job's lease meanwhile (worker/pool.h); the note stops
 * when worker_lease_ok says it was taken over.
 */
#ifndef PARLEY_WORKER_VOICE_H
#define PARLEY_WORKER_VOICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/pool.h"

struct agent;
struct arena;
struct job;

/* One voice note to transcribe, and what became of it. */
struct voice_note {
	struct worker_ctx	*w;
	const struct job	*job;
	struct arena		*a;
	const struct agent	*agent;		/* has a transcription_model */
	int64_t			 chat_id;
	int64_t			 message_id;
	int			 item;		/* voice_item()'s index */
	/* out */
	char			*transcript;	/* in a; NULL: none */
	bool			 unreadable;	/* the model reads
						   CHAT_VOICE_UNREADABLE */
};

/*
 * The index of the message's first audio item (a voice note, or any
 * audio type), -1 when none; *has_media says whether it has any item.
 * Pure.
 */
int		 voice_item(const char *media_json, bool *has_media);
/*
 * Transcribes v->item and stores the transcript on the message (see the
 * file top). JOB_RETRY with a sentence in err only when the database or
 * the job's lease was lost; a voice note that cannot be transcribed is
 * JOB_DONE with v->unreadable set.
 */
enum job_result	 voice_transcribe(struct voice_note *v, char *err,
		    size_t errlen);

#endif
