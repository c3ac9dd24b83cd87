/*
 * templates: sync and send (see templates.h).
 *
 * Thread-safe: no shared state.
 */
#include "chat/templates.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "channels/channel.h"
#include "chat/chats.h"
#include "chat/outbox.h"
#include "model/template.h"
#include "util/arena.h"
#include "util/context.h"
#include "util/log.h"
#include "util/str.h"

/* A failed sync is tried again after this long by the periodic sync. */
#define RETRY_S		600

static int	 next_s(const struct app *);

static int
next_s(const struct app *app)
{
	int	 m = app->cfg.template_sync_minutes;

	/* 0: no periodic sync; a year is "not before someone asks". */
	return m > 0 ? m * 60 : 366 * 86400;
}

enum templates_result
templates_sync(const struct app *app, int64_t org_id, int64_t channel_id,
    int *n, char *err, size_t errlen)
{
	struct outbox_channel	 ch;
	struct template_sync	 sync;
	struct send_outcome	 o;
	struct arena		*a = arena_new();
	struct db		*db;
	enum templates_result	 tr = TEMPLATES_UNAVAILABLE;
	enum send_result	 sr;
	enum db_status		 st;
	cJSON			*list = NULL;

	*n = 0;
	err[0] = '\0';
	memset(&ch, 0, sizeof(ch));
	memset(&o, 0, sizeof(o));
	if ((db = db_acquire(app->db)) == NULL)
		goto out;
	st = outbox_channel_open(app, db, a, org_id, channel_id, &ch);
	if (st == DB_OK)
		st = template_sync_get(db, a, org_id, channel_id, &sync);
	db_release(db);
	if (st == DB_NOT_FOUND) {
		tr = TEMPLATES_NOT_FOUND;
		goto out;
	}
	if (st == DB_INVALID) {
		snprintf(err, errlen, "This channel's credentials cannot be "
		    "opened.");
		tr = TEMPLATES_REFUSED;
		goto out;
	}
	if (st != DB_OK)
		goto out;
	if (ch.ops->list_templates == NULL) {
		snprintf(err, errlen, "Channels of this kind have no WhatsApp "
		    "templates.");
		tr = TEMPLATES_UNSUPPORTED;
		goto out;
	}
	ch.creds.waba_id = sync.waba_id;
	/* No connection held while the provider answers. */
	sr = ch.ops->list_templates(&ch.creds, &list, &o);
	outbox_channel_close(&ch);
	if ((db = db_acquire(app->db)) == NULL)
		goto out;
	if (sr == SEND_OK) {
		st = template_replace(db, org_id, channel_id, list, next_s(app),
		    n);
		tr = st == DB_OK ? TEMPLATES_OK : st == DB_NOT_FOUND ?
		    TEMPLATES_NOT_FOUND : TEMPLATES_UNAVAILABLE;
	} else {
		snprintf(err, errlen, "%s", o.error_text[0] != '\0' ?
		    o.error_text : "The provider did not list the templates.");
		st = template_sync_failed(db, org_id, channel_id, err,
		    sr == SEND_RETRY ? RETRY_S / 10 : RETRY_S);
		if (st != DB_OK && st != DB_NOT_FOUND)
			log_warn("templates", "msg=\"sync failure not recorded\" "
			    "org=%" PRId64 " channel=%" PRId64, org_id,
			    channel_id);
		tr = sr == SEND_RETRY ? TEMPLATES_LATER : TEMPLATES_REFUSED;
	}
	db_release(db);
	log_info("templates", "msg=\"synced\" org=%" PRId64 " channel=%" PRId64
	    " result=%d templates=%d", org_id, channel_id, (int)tr, *n);
out:
	outbox_channel_close(&ch);
	cJSON_Delete(list);
	arena_free(a);
	return tr;
}

enum templates_result
templates_send(const struct app *app, struct db *db, struct arena *a,
    int64_t org_id, int64_t chat_id, int64_t template_id,
    const cJSON *values, int64_t user_id, struct outbox_new *out, char *err,
    size_t errlen)
{
	struct chat_ref	 chat;
	struct template	 t;
	enum db_status	 st;
	cJSON		*params, *spec;
	char		 missing[80];

	err[0] = '\0';
	memset(out, 0, sizeof(*out));
	if ((st = chat_get_ref(db, a, org_id, chat_id, &chat)) != DB_OK)
		return st == DB_NOT_FOUND ? TEMPLATES_NOT_FOUND :
		    TEMPLATES_UNAVAILABLE;
	st = template_get(db, a, org_id, chat.channel_id, template_id, &t);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? TEMPLATES_NOT_FOUND :
		    TEMPLATES_UNAVAILABLE;
	if (!str_eq(t.status, "APPROVED")) {
		snprintf(err, errlen, "The template \"%s\" is %s, not "
		    "approved: WhatsApp sends only approved templates.",
		    t.name, t.status);
		return TEMPLATES_REFUSED;
	}
	params = template_params(&t, values, false, missing,
	    sizeof(missing));
	if (missing[0] != '\0') {
		snprintf(err, errlen, "Give a value for the variable {{%s}} "
		    "of \"%s\".", missing, t.name);
		cJSON_Delete(params);
		return TEMPLATES_REFUSED;
	}
	spec = cJSON_CreateObject();
	cJSON_AddNumberToObject(spec, "template_id", (double)t.id);
	cJSON_AddStringToObject(spec, "name", t.name);
	cJSON_AddStringToObject(spec, "language", t.language);
	cJSON_AddStringToObject(spec, "content_sid", t.provider_id);
	cJSON_AddStringToObject(spec, "format", t.format);
	cJSON_AddItemToObject(spec, "params", cJSON_Duplicate(params, true));
	cJSON_AddArrayToObject(spec, "quick_replies");
	st = outbox_record_template(app, db, org_id, chat_id, user_id, spec,
	    template_preview(a, &t, params), OUTBOX_SAFETY_S, out);
	cJSON_Delete(spec);
	cJSON_Delete(params);
	if (st == DB_NOT_FOUND)
		return TEMPLATES_NOT_FOUND;
	return st == DB_OK ? TEMPLATES_OK : TEMPLATES_UNAVAILABLE;
}
