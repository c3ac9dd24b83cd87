/*
 * template: the WhatsApp message templates of a channel as its provider
 * last listed them (owns tables `channel_templates` and
 * `channel_template_syncs`). A sync replaces a channel's whole set in one
 * transaction (the provider's list is the truth: a template deleted there
 * goes here too); the sync row keeps the channel's WhatsApp Business
 * Account id (Meta, Kapso: templates live under it), when the channel was
 * last synced, when the periodic sync is next due, and the last error.
 *
 * A template is named by (name, language) for sending; only APPROVED ones
 * may be sent outside the 24-hour window, and Parley sends no other. Its
 * variables ({{1}} or {{first_name}}, in the header or the body) and
 * buttons are kept as JSON arrays in the normalised shape of
 * channels/channel.h list_templates.
 *
 * Every statement names org_id = $1 but the periodic sync's claim, which
 * serves every organisation (…_any_org). Thread-safe: no shared state.
 */
#ifndef PARLEY_MODEL_TEMPLATE_H
#define PARLEY_MODEL_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "db/db.h"

struct arena;

/* The name Parley looks for when an agent names none. */
#define TEMPLATE_FOLLOWUP_DEFAULT	"session_followup"
#define TEMPLATE_LIST_MAX		1000

struct template {
	int64_t	 id;
	int64_t	 channel_id;
	char	*provider_id;		/* Meta's id, Twilio's HX… */
	char	*name;
	char	*language;
	char	*status;		/* APPROVED, PENDING, REJECTED, … */
	char	*category;
	char	*format;		/* POSITIONAL | NAMED */
	char	*content_type;		/* Twilio's twilio/quick-reply, … */
	char	*header;
	char	*body;
	char	*footer;
	char	*variables;		/* JSON array text */
	char	*buttons;		/* JSON array text */
	char	*synced_at;		/* ISO 8601 UTC */
};

/* A channel's template source and sync state. */
struct template_sync {
	char	*waba_id;		/* "" when not set */
	char	*synced_at;		/* ISO, NULL: never */
	char	*next_sync_at;		/* ISO */
	char	*last_error;		/* "" after a good sync */
	int	 n_templates;
};

/* The channel's templates (approved only, or all), by name, language. */
enum db_status	 template_list(struct db *db, struct arena *a, int64_t org_id,
		    int64_t channel_id, bool approved_only,
		    struct template **out, int *n)
		    __attribute__((warn_unused_result));
/* One template of the org (of channel_id when not 0). */
enum db_status	 template_get(struct db *db, struct arena *a, int64_t org_id,
		    int64_t channel_id, int64_t id, struct template *out)
		    __attribute__((warn_unused_result));
/*
 * The APPROVED template of channel_id whose name matches name (case and
 * spaces versus underscores aside: "Session followup" finds
 * session_followup), in language when it is not "" (else the first
 * language by name). DB_NOT_FOUND: none.
 */
enum db_status	 template_find(struct db *db, struct arena *a,
		    int64_t org_id, int64_t channel_id, const char *name,
		    const char *language, struct template *out)
		    __attribute__((warn_unused_result));
/*
 * Replaces channel_id's templates with list (the normalised array of
 * list_templates; entries with no name are skipped, a repeated (name,
 * language) keeps the first) and records a good sync (n, now, the next
 * one due in next_s seconds), in one transaction. *n gets how many.
 */
enum db_status	 template_replace(struct db *db, int64_t org_id,
		    int64_t channel_id, const cJSON *list, int next_s,
		    int *n) __attribute__((warn_unused_result));
/* Records a failed sync: its sentence, the next try due in next_s. */
enum db_status	 template_sync_failed(struct db *db, int64_t org_id,
		    int64_t channel_id, const char *error, int next_s)
		    __attribute__((warn_unused_result));
/* The channel's sync state (defaults when it has none yet). */
enum db_status	 template_sync_get(struct db *db, struct arena *a,
		    int64_t org_id, int64_t channel_id,
		    struct template_sync *out)
		    __attribute__((warn_unused_result));
/*
 * Sets the channel's WhatsApp Business Account id ("" clears it): digits
 * only, at most 32 (DB_INVALID otherwise). DB_NOT_FOUND: not the org's
 * channel.
 */
enum db_status	 template_set_waba(struct db *db, int64_t org_id,
		    int64_t channel_id, const char *waba_id)
		    __attribute__((warn_unused_result));
/*
 * The periodic sync: claims up to max channels of the given kinds (a
 * text[] literal such as "{meta,kapso,twilio}") that are not disabled
 * and whose sync is due (never synced, or next_sync_at passed; Meta and
 * Kapso only with a WABA id), moving each one's next_sync_at to
 * interval_s from now in the same statement, so one process takes each.
 * Fills org_ids and channel_ids (max each); *n how many.
 */
enum db_status	 template_sync_claim_any_org(struct db *db,
		    const char *kinds, int interval_s, int max,
		    int64_t *org_ids, int64_t *channel_ids, int *n)
		    __attribute__((warn_unused_result));

/*
 * The text with each {{name}} of the given part replaced by its value in
 * params ([{"name","value","part"}]; a missing value leaves {{name}} as
 * it is), in a. Pure.
 */
char		*template_render(struct arena *a, const char *text,
		    const char *part, const cJSON *params);
/*
 * The params for t (in a new array the caller deletes): each of its
 * variables with values[name] (an object of strings; for a header
 * variable "header.<name>" first), else its example when use_examples,
 * else "". missing (missing_len bytes, may be NULL) gets the name of the
 * first variable that had no value, or "".
 */
cJSON		*template_params(const struct template *t,
		    const cJSON *values, bool use_examples, char *missing,
		    size_t missing_len);
/* Header, body and footer of t rendered with params, joined by blank
 * lines: what the conversation view shows for a sent template. */
char		*template_preview(struct arena *a, const struct template *t,
		    const cJSON *params);

#endif
