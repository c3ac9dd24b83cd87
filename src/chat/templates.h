/*
 * templates: syncing a channel's templates from its provider and sending
 * one to a chat; the rows are model/template.h's and chat/outbox.h's.
 *
 * A sync (on demand from the channel page or the API, periodically from
 * worker/schedule.c's ticker) opens the channel's credentials, gives its
 * connection back, lists every page from the provider (channels/
 * list_templates: Meta's and Kapso's message_templates under the WABA,
 * Twilio's ContentAndApprovals) and replaces the stored set in one
 * transaction. A failure keeps the old set and records its sentence.
 *
 * Sending is an outbox effect like any other: templates_send records a
 * template row (with its send job) that the caller sends at once with
 * outbox_send; only an APPROVED template of the chat's own channel, with
 * a value for each of its variables, is recorded.
 *
 * Thread-safe: no shared state.
 */
#ifndef PARLEY_CHAT_TEMPLATES_H
#define PARLEY_CHAT_TEMPLATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "db/db.h"

struct app;
struct arena;
struct outbox_new;

enum templates_result {
	TEMPLATES_OK,
	TEMPLATES_NOT_FOUND,	/* no such channel, chat or template */
	TEMPLATES_UNSUPPORTED,	/* the channel's kind has no templates */
	TEMPLATES_REFUSED,	/* the provider or the input said no: err */
	TEMPLATES_LATER,	/* the provider asked to wait: err */
	TEMPLATES_UNAVAILABLE,	/* the database */
};

/* Syncs channel_id's templates (see above); *n how many it holds now. */
enum templates_result templates_sync(const struct app *app, int64_t org_id,
		    int64_t channel_id, int *n, char *err, size_t errlen);
/*
 * Records template_id (APPROVED, of chat_id's channel) for chat_id with
 * values (an object: variable name → text; a header variable as
 * "header.<name>" or its name), author user_id (0: none). out names the
 * row and its send job. TEMPLATES_REFUSED (err) when a variable has no
 * value or the template is not approved.
 */
enum templates_result templates_send(const struct app *app, struct db *db,
		    struct arena *a, int64_t org_id, int64_t chat_id,
		    int64_t template_id, const cJSON *values,
		    int64_t user_id, struct outbox_new *out, char *err,
		    size_t errlen);

#endif
