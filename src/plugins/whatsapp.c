/*
 * whatsapp: the whatsapp.send, whatsapp.sendTemplate,
 * whatsapp.getConversation and whatsapp.getStatus tools. They act on the WhatsApp chat the model is
 * answering (plugin_ctx.chat_id, set by the reply job): a call without a
 * chat (the REST gateway, the panel) gets a tool error sentence.
 *
 * whatsapp.send is a thin caller of chat/outbox.h: the message is
 * recorded as an outbound message of no inbound one (with its send job),
 * then sent through the one send sequence (outbox_send), which holds no
 * connection during the provider call. A provider's "try later" leaves it
 * to the send job (with backoff) and tells the model it is queued; a
 * refusal is a tool error with the provider's reason.
 *
 * whatsapp.sendTemplate sends one of the channel's approved templates
 * (chat/templates.h: by name, optionally language, with a value for each
 * of its variables) the same way, as an outbox template row; a template
 * may go out when the 24-hour window is closed, which is what it is for.
 *
 * Every statement goes through chat/ and names the call's org_id.
 * Thread-safe: no shared state.
 */
#include "plugins/tools.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channels/channel.h"
#include "channels/split.h"
#include "chat/chats.h"
#include "chat/media.h"
#include "chat/messages.h"
#include "chat/outbox.h"
#include "chat/templates.h"
#include "model/media.h"
#include "model/template.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/str.h"
#include "util/utf8.h"
#include "util/waid.h"
#include "util/xmalloc.h"

#define CONVERSATION_DEFAULT	20
#define CONVERSATION_MAX	50
#define NO_CHAT	"This tool works only while answering a WhatsApp " \
		"conversation."
#define NO_DB	"WhatsApp is unavailable right now; try again later."

static bool	 send_invoke(struct plugin_ctx *, const cJSON *, char **);
static bool	 conversation_invoke(struct plugin_ctx *, const cJSON *,
		    char **);
static bool	 status_invoke(struct plugin_ctx *, const cJSON *, char **);
static bool	 template_invoke(struct plugin_ctx *, const cJSON *, char **);
static bool	 media_invoke(struct plugin_ctx *, const cJSON *, char **);
static bool	 opt_str(const cJSON *, const char *, size_t, const char **);
static bool	 send_recorded(struct plugin_ctx *, const struct outbox_new *,
		    const char *, char **);
static bool	 e164_ok(const char *);
static char	*json_text(cJSON *);

const struct plugin plugin_whatsapp_send = {
	.id = "whatsapp.send",
	.title = "Send a WhatsApp message",
	.description = "Send a WhatsApp text message on behalf of this "
	    "agent, to the current conversation or to another phone number.",
	.params_schema =
	    "{\"type\":\"object\","
	    "\"properties\":{"
	    "\"to\":{\"type\":\"string\",\"description\":"
	    "\"The recipient's phone number in E.164 form, e.g. +14155550123. "
	    "Default: the current conversation.\"},"
	    "\"text\":{\"type\":\"string\",\"description\":"
	    "\"The message text.\"}},"
	    "\"required\":[\"text\"],"
	    "\"additionalProperties\":false}",
	.needs_channel = true,
	.invoke = send_invoke,
};

const struct plugin plugin_whatsapp_get_conversation = {
	.id = "whatsapp.getConversation",
	.title = "Read a WhatsApp conversation",
	.description = "Read the most recent messages of the current WhatsApp "
	    "conversation.",
	.params_schema =
	    "{\"type\":\"object\","
	    "\"properties\":{"
	    "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":50,"
	    "\"description\":\"How many recent messages to return "
	    "(default 20).\"}},"
	    "\"additionalProperties\":false}",
	.needs_channel = true,
	.invoke = conversation_invoke,
};

const struct plugin plugin_whatsapp_get_status = {
	.id = "whatsapp.getStatus",
	.title = "WhatsApp delivery status",
	.description = "Tell whether a message sent on WhatsApp was delivered "
	    "and read.",
	.params_schema =
	    "{\"type\":\"object\","
	    "\"properties\":{"
	    "\"messageId\":{\"type\":\"string\",\"description\":"
	    "\"The id of a message this agent sent (as whatsapp.send "
	    "returned it).\"}},"
	    "\"required\":[\"messageId\"],"
	    "\"additionalProperties\":false}",
	.needs_channel = true,
	.invoke = status_invoke,
};

const struct plugin plugin_whatsapp_send_template = {
	.id = "whatsapp.sendTemplate",
	.title = "Send a WhatsApp template",
	.description = "Send one of this WhatsApp channel's approved message "
	    "templates, to the current conversation or to another phone "
	    "number. Templates may be sent even when the 24-hour window is "
	    "closed.",
	.params_schema =
	    "{\"type\":\"object\","
	    "\"properties\":{"
	    "\"template\":{\"type\":\"string\",\"description\":"
	    "\"The approved template's name, e.g. order_update.\"},"
	    "\"language\":{\"type\":\"string\",\"description\":"
	    "\"Its language code, e.g. en_US. Default: the first one "
	    "approved.\"},"
	    "\"variables\":{\"type\":\"object\",\"description\":"
	    "\"A value for each of the template's variables, by name: "
	    "{\\\"1\\\": \\\"Ada\\\"} or {\\\"first_name\\\": "
	    "\\\"Ada\\\"}.\","
	    "\"additionalProperties\":{\"type\":\"string\"}},"
	    "\"to\":{\"type\":\"string\",\"description\":"
	    "\"The recipient's phone number in E.164 form. Default: the "
	    "current conversation.\"}},"
	    "\"required\":[\"template\"],"
	    "\"additionalProperties\":false}",
	.needs_channel = true,
	.invoke = template_invoke,
};

const struct plugin plugin_whatsapp_send_media = {
	.id = "whatsapp.sendMedia",
	.title = "Send a WhatsApp image or document",
	.description = "Send an image, a document, a video or an audio file "
	    "on WhatsApp to the current conversation: one you were given "
	    "a URL for, or one the contact sent in this conversation.",
	.params_schema =
	    "{\"type\":\"object\","
	    "\"properties\":{"
	    "\"url\":{\"type\":\"string\",\"description\":"
	    "\"An http(s) URL of the file to send (JPEG or PNG image, PDF or "
	    "Office document, MP4 video, audio).\"},"
	    "\"item\":{\"type\":\"string\",\"description\":"
	    "\"Instead of url: 'latest' for the newest file the contact "
	    "sent in this conversation.\"},"
	    "\"caption\":{\"type\":\"string\",\"description\":"
	    "\"Text shown with an image, video or document (not audio).\"},"
	    "\"filename\":{\"type\":\"string\",\"description\":"
	    "\"The name a document is shown with, e.g. report.pdf.\"}},"
	    "\"additionalProperties\":false}",
	.needs_channel = true,
	.invoke = media_invoke,
};

/* "+" then 6–15 digits. */
static bool
e164_ok(const char *s)
{
	size_t	 n = 0;

	if (s[0] != '+')
		return false;
	for (s++; *s != '\0'; s++, n++)
		if (!isdigit((unsigned char)*s))
			return false;
	return n >= 6 && n <= 15;
}

/* Prints and deletes j. */
static char *
json_text(cJSON *j)
{
	char	*s = cJSON_PrintUnformatted(j);

	cJSON_Delete(j);
	if (s == NULL)
		abort();
	return s;
}

static bool
send_invoke(struct plugin_ctx *ctx, const cJSON *args, char **result)
{
	const cJSON			*tov, *textv;
	const struct channel_ops	*ops;
	struct outbox_new		 nw;
	struct chat_ref			 chat;
	struct db			*db = NULL;
	const char			*to, *text;
	bool				 ok = false;

	tov = cJSON_GetObjectItemCaseSensitive(args, "to");
	textv = cJSON_GetObjectItemCaseSensitive(args, "text");
	if (ctx->chat_id == 0 || ctx->app == NULL) {
		*result = xstrdup(NO_CHAT);
		goto out;
	}
	if (!cJSON_IsString(textv) || textv->valuestring[0] == '\0' ||
	    !utf8_valid(textv->valuestring, strlen(textv->valuestring))) {
		*result = xstrdup("text must be a non-empty string.");
		goto out;
	}
	text = textv->valuestring;
	if (tov != NULL && !cJSON_IsNull(tov) && (!cJSON_IsString(tov) ||
	    (tov->valuestring[0] != '\0' && !e164_ok(tov->valuestring) &&
	    !waid_is_user_id(tov->valuestring)))) {
		*result = xstrdup("to must be a phone number in E.164 form, "
		    "such as +14155550123, or a WhatsApp user id, such as "
		    "US.13491208655302741918.");
		goto out;
	}
	if ((db = db_acquire(ctx->pool)) == NULL) {
		*result = xstrdup(NO_DB);
		goto out;
	}
	if (chat_get_ref(db, ctx->arena, ctx->org_id, ctx->chat_id, &chat) !=
	    DB_OK || (ops = channel_ops_for(chat.channel_kind)) == NULL) {
		*result = xstrdup(NO_DB);
		goto out;
	}
	to = cJSON_IsString(tov) && tov->valuestring[0] != '\0' ?
	    tov->valuestring : chat.external_id;
	if (split_units(text, strlen(text)) > ops->text_limit) {
		*result = xasprintf("The text is too long for this channel: "
		    "at most %zu characters.", ops->text_limit);
		goto out;
	}
	if (outbox_record_tool(ctx->app, db, ctx->org_id, chat.channel_id, to,
	    chat.thread_id, text, &nw) != DB_OK) {
		*result = xstrdup(NO_DB);
		goto out;
	}
	/* No connection held while WhatsApp answers. */
	db_release(db);
	db = NULL;

	ok = send_recorded(ctx, &nw, to, result);
out:
	if (db != NULL)
		db_release(db);
	return ok;
}

/*
 * Sends the recorded row nw through the outbox (the caller holds no
 * connection) and says what became of it: false with the provider's
 * reason when it refused.
 */
static bool
send_recorded(struct plugin_ctx *ctx, const struct outbox_new *nw,
    const char *to, char **result)
{
	struct outbox_send	 s;
	enum outbox_result	 r;
	cJSON			*out;

	memset(&s, 0, sizeof(s));
	s.app = ctx->app;
	s.a = ctx->arena;
	s.org_id = ctx->org_id;
	s.message_id = nw->message_id;
	s.job_id = nw->job_id;
	r = outbox_send(&s);
	if (r == OUTBOX_REFUSED) {
		*result = xasprintf("WhatsApp did not accept the message%s%s",
		    s.o.error_text[0] != '\0' ? ": " : ".", s.o.error_text);
		return false;
	}
	out = cJSON_CreateObject();
	if (s.o.provider_message_id[0] != '\0') {
		cJSON_AddStringToObject(out, "messageId",
		    s.o.provider_message_id);
		cJSON_AddStringToObject(out, "to", to);
		cJSON_AddStringToObject(out, "status", "sent");
	} else {
		/* Queued (or held): its send job tries again with backoff. */
		cJSON_AddStringToObject(out, "to", to);
		cJSON_AddStringToObject(out, "status", r == OUTBOX_HELD ?
		    "held" : "queued");
		cJSON_AddStringToObject(out, "message", r == OUTBOX_HELD ?
		    "The 24-hour window is closed; the message waits for the "
		    "contact's next message." : "WhatsApp asked to wait; the "
		    "message will be sent shortly.");
	}
	*result = json_text(out);
	return true;
}

static bool
conversation_invoke(struct plugin_ctx *ctx, const cJSON *args, char **result)
{
	const cJSON		*lv = cJSON_GetObjectItemCaseSensitive(args,
				    "limit");
	struct chat_message	*msgs;
	struct db		*db = NULL;
	int			 limit = CONVERSATION_DEFAULT, n;
	cJSON			*out, *m;
	bool			 ok = false;

	if (ctx->chat_id == 0) {
		*result = xstrdup(NO_CHAT);
		goto out;
	}
	if (lv != NULL && !cJSON_IsNull(lv)) {
		if (!cJSON_IsNumber(lv) || lv->valuedouble < 1 ||
		    lv->valuedouble > CONVERSATION_MAX) {
			*result = xstrdup("limit must be a number from 1 to "
			    "50.");
			goto out;
		}
		limit = (int)lv->valuedouble;
	}
	if ((db = db_acquire(ctx->pool)) == NULL ||
	    chat_messages_after(db, ctx->arena, ctx->org_id, ctx->chat_id, 0,
	    limit, &msgs, &n) != DB_OK) {
		*result = xstrdup(NO_DB);
		goto out;
	}
	out = cJSON_CreateArray();
	for (int i = 0; i < n; i++) {
		bool	 in = str_eq(msgs[i].direction, "in");

		m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "from", in ?
		    (msgs[i].sender_name[0] != '\0' ? msgs[i].sender_name :
		    msgs[i].sender) : "agent");
		cJSON_AddStringToObject(m, "direction", in ? "in" : "out");
		cJSON_AddStringToObject(m, "text", msgs[i].body);
		cJSON_AddStringToObject(m, "at", msgs[i].created_at);
		if (!in) {
			cJSON_AddStringToObject(m, "status", msgs[i].status);
			if (msgs[i].provider_message_id != NULL)
				cJSON_AddStringToObject(m, "messageId",
				    msgs[i].provider_message_id);
		}
		cJSON_AddItemToArray(out, m);
	}
	*result = json_text(out);
	ok = true;
out:
	if (db != NULL)
		db_release(db);
	return ok;
}

static bool
status_invoke(struct plugin_ctx *ctx, const cJSON *args, char **result)
{
	const cJSON		*idv = cJSON_GetObjectItemCaseSensitive(args,
				    "messageId");
	struct chat_message	 m;
	struct db		*db = NULL;
	enum db_status		 st;
	cJSON			*out;
	bool			 ok = false;

	if (ctx->chat_id == 0) {
		*result = xstrdup(NO_CHAT);
		goto out;
	}
	if (!cJSON_IsString(idv) || idv->valuestring[0] == '\0' ||
	    strlen(idv->valuestring) > 160) {
		*result = xstrdup("messageId must be the id whatsapp.send "
		    "returned.");
		goto out;
	}
	if ((db = db_acquire(ctx->pool)) == NULL) {
		*result = xstrdup(NO_DB);
		goto out;
	}
	/* By the provider's id only: ours are not shown to the model. */
	st = chat_message_get(db, ctx->arena, ctx->org_id, 0,
	    idv->valuestring, &m);
	if (st == DB_NOT_FOUND || (st == DB_OK &&
	    !str_eq(m.direction, "out"))) {
		*result = xasprintf("No message with id \"%s\" was sent "
		    "here.", idv->valuestring);
		goto out;
	}
	if (st != DB_OK) {
		*result = xstrdup(NO_DB);
		goto out;
	}
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "messageId", idv->valuestring);
	cJSON_AddStringToObject(out, "status", m.status);
	if (m.error_code != NULL)
		cJSON_AddStringToObject(out, "errorCode", m.error_code);
	if (m.error_text != NULL)
		cJSON_AddStringToObject(out, "errorText", m.error_text);
	*result = json_text(out);
	ok = true;
out:
	if (db != NULL)
		db_release(db);
	return ok;
}

static bool
template_invoke(struct plugin_ctx *ctx, const cJSON *args, char **result)
{
	const cJSON		*namev, *langv, *varsv, *tov, *v;
	struct outbox_send	 s;
	struct outbox_new	 nw;
	struct chat_ref		 chat;
	struct template		 t;
	struct db		*db = NULL;
	enum db_status		 st;
	enum outbox_result	 r;
	int64_t			 chat_id;
	cJSON			*values = NULL, *out;
	char			 err[512];
	bool			 ok = false;

	namev = cJSON_GetObjectItemCaseSensitive(args, "template");
	langv = cJSON_GetObjectItemCaseSensitive(args, "language");
	varsv = cJSON_GetObjectItemCaseSensitive(args, "variables");
	tov = cJSON_GetObjectItemCaseSensitive(args, "to");
	if (ctx->chat_id == 0 || ctx->app == NULL) {
		*result = xstrdup(NO_CHAT);
		goto out;
	}
	if (!cJSON_IsString(namev) || namev->valuestring[0] == '\0' ||
	    strlen(namev->valuestring) > 512) {
		*result = xstrdup("template must be the name of an approved "
		    "template.");
		goto out;
	}
	if (langv != NULL && !cJSON_IsNull(langv) && (!cJSON_IsString(langv) ||
	    strlen(langv->valuestring) > 32)) {
		*result = xstrdup("language must be a code such as en_US.");
		goto out;
	}
	if (tov != NULL && !cJSON_IsNull(tov) && (!cJSON_IsString(tov) ||
	    (tov->valuestring[0] != '\0' && !e164_ok(tov->valuestring)))) {
		*result = xstrdup("to must be a phone number in E.164 form, "
		    "such as +14155550123.");
		goto out;
	}
	/* Variables as strings (a number is taken as its text). */
	values = cJSON_CreateObject();
	if (varsv != NULL && !cJSON_IsNull(varsv)) {
		if (!cJSON_IsObject(varsv)) {
			*result = xstrdup("variables must be an object of "
			    "strings.");
			goto out;
		}
		cJSON_ArrayForEach(v, varsv) {
			char	 num[64];

			if (cJSON_IsString(v))
				cJSON_AddStringToObject(values, v->string,
				    v->valuestring);
			else if (cJSON_IsNumber(v)) {
				snprintf(num, sizeof(num), "%.15g",
				    v->valuedouble);
				cJSON_AddStringToObject(values, v->string, num);
			} else {
				*result = xasprintf("variables.%s must be a "
				    "string.", v->string);
				goto out;
			}
		}
	}
	if ((db = db_acquire(ctx->pool)) == NULL ||
	    chat_get_ref(db, ctx->arena, ctx->org_id, ctx->chat_id, &chat) !=
	    DB_OK) {
		*result = xstrdup(NO_DB);
		goto out;
	}
	st = template_find(db, ctx->arena, ctx->org_id, chat.channel_id,
	    namev->valuestring, cJSON_IsString(langv) ? langv->valuestring :
	    "", &t);
	if (st == DB_NOT_FOUND) {
		*result = xasprintf("This channel has no approved template "
		    "named \"%s\"%s%s.", namev->valuestring,
		    cJSON_IsString(langv) && langv->valuestring[0] != '\0' ?
		    " in " : "", cJSON_IsString(langv) ? langv->valuestring :
		    "");
		goto out;
	}
	chat_id = ctx->chat_id;
	if (st == DB_OK && cJSON_IsString(tov) && tov->valuestring[0] != '\0')
		st = chat_ensure(db, ctx->org_id, chat.channel_id,
		    tov->valuestring, false, &chat_id);
	if (st != DB_OK) {
		*result = xstrdup(NO_DB);
		goto out;
	}
	switch (templates_send(ctx->app, db, ctx->arena, ctx->org_id, chat_id,
	    t.id, values, 0, &nw, err, sizeof(err))) {
	case TEMPLATES_OK:
		break;
	case TEMPLATES_REFUSED:
		*result = xstrdup(err);
		goto out;
	default:
		*result = xstrdup(NO_DB);
		goto out;
	}
	/* No connection held while WhatsApp answers. */
	db_release(db);
	db = NULL;
	memset(&s, 0, sizeof(s));
	s.app = ctx->app;
	s.a = ctx->arena;
	s.org_id = ctx->org_id;
	s.message_id = nw.message_id;
	s.job_id = nw.job_id;
	r = outbox_send(&s);
	if (r == OUTBOX_REFUSED) {
		*result = xasprintf("WhatsApp did not accept the template%s%s",
		    s.o.error_text[0] != '\0' ? ": " : ".", s.o.error_text);
		goto out;
	}
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "template", t.name);
	cJSON_AddStringToObject(out, "language", t.language);
	cJSON_AddStringToObject(out, "to", cJSON_IsString(tov) &&
	    tov->valuestring[0] != '\0' ? tov->valuestring :
	    chat.external_id);
	if (s.o.provider_message_id[0] != '\0') {
		cJSON_AddStringToObject(out, "messageId",
		    s.o.provider_message_id);
		cJSON_AddStringToObject(out, "status", "sent");
	} else
		cJSON_AddStringToObject(out, "status", "queued");
	*result = json_text(out);
	ok = true;
out:
	cJSON_Delete(values);
	if (db != NULL)
		db_release(db);
	return ok;
}

/* An optional string argument: NULL when absent; false when not text. */
static bool
opt_str(const cJSON *args, const char *name, size_t max, const char **out)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(args, name);

	*out = NULL;
	if (v == NULL || cJSON_IsNull(v))
		return true;
	if (!cJSON_IsString(v) || strlen(v->valuestring) > max ||
	    !utf8_valid(v->valuestring, strlen(v->valuestring)))
		return false;
	*out = v->valuestring[0] != '\0' ? v->valuestring : NULL;
	return true;
}

/*
 * whatsapp.sendMedia: the file (fetched from url with chat/media.h's
 * guards, or the contact's newest item by reference) checked against the
 * channel's limits BEFORE anything is recorded, then recorded as an
 * outbox media row with its send job and sent like whatsapp.send. No
 * connection is held during the fetch or the send.
 */
static bool
media_invoke(struct plugin_ctx *ctx, const cJSON *args, char **result)
{
	const struct channel_ops	*ops;
	struct channel_media_msg	 probe;
	struct media_staged		 staged;
	struct media_blob		 blob;
	struct outbox_media		 m;
	struct outbox_new		 nw;
	struct chat_ref			 chat;
	struct db			*db = NULL;
	const char			*url, *item, *caption, *filename, *why;
	const char			*no;
	char				 ctype[128], buf[320], *fetched = NULL;
	const char			*urlname = NULL;
	unsigned char			*data = NULL;
	size_t				 len = 0;
	int64_t				 ref = 0;
	enum db_status			 st;
	bool				 ok = false;

	memset(&m, 0, sizeof(m));
	ctype[0] = '\0';
	if (ctx->chat_id == 0 || ctx->app == NULL) {
		*result = xstrdup(NO_CHAT);
		goto out;
	}
	if (!opt_str(args, "url", 2048, &url) ||
	    !opt_str(args, "item", 32, &item) ||
	    !opt_str(args, "caption", 4096, &caption) ||
	    !opt_str(args, "filename", 200, &filename)) {
		*result = xstrdup("url, item, caption and filename must be "
		    "strings.");
		goto out;
	}
	if ((url == NULL) == (item == NULL) ||
	    (item != NULL && !str_eq(item, "latest"))) {
		*result = xstrdup("Give either url (an http or https URL) or "
		    "item \"latest\".");
		goto out;
	}
	if ((db = db_acquire(ctx->pool)) == NULL) {
		*result = xstrdup(NO_DB);
		goto out;
	}
	if (chat_get_ref(db, ctx->arena, ctx->org_id, ctx->chat_id, &chat) !=
	    DB_OK || (ops = channel_ops_for(chat.channel_kind)) == NULL ||
	    (item != NULL && chat_media_latest(db, ctx->org_id, ctx->chat_id,
	    &ref) != DB_OK)) {
		*result = xstrdup(NO_DB);
		goto out;
	}
	db_release(db);
	db = NULL;
	if (item != NULL && ref == 0) {
		*result = xstrdup("The contact has sent no file in this "
		    "conversation.");
		goto out;
	}
	/* The bytes, with no connection held. */
	if (url != NULL) {
		if (!media_out_fetch(ctx->app, ctx->arena, url, 0, &data,
		    &len, ctype,
		    sizeof(ctype), &fetched, &why)) {
			*result = xstrdup(why);
			goto out;
		}
		urlname = fetched;
	} else {
		st = media_load(ctx->app, ctx->arena, ctx->org_id, ctx->chat_id,
		    ref, 0, &blob, &why);
		if (st != DB_OK) {
			*result = xasprintf("The contact's file cannot be "
			    "sent: %s", st == DB_UNAVAILABLE ? NO_DB :
			    why != NULL ? why : "it is gone.");
			goto out;
		}
		data = blob.data;
		len = blob.len;
		channel_media_type(blob.content_type != NULL ?
		    blob.content_type : "", ctype, sizeof(ctype));
		urlname = blob.filename;
	}
	/* The provider's limits, before anything is recorded. */
	memset(&probe, 0, sizeof(probe));
	probe.content_type = ctype;
	probe.kind = channel_media_kind(ctype);
	probe.caption = caption;
	probe.data = data;
	probe.len = len;
	if ((no = channel_media_refusal(ops->kind, &probe, buf,
	    sizeof(buf))) != NULL) {
		*result = xasprintf("Not sent: %s", no);
		goto out;
	}
	m.content_type = ctype;
	m.filename = filename != NULL ? filename : str_eq(probe.kind,
	    "document") ? urlname : NULL;
	m.caption = caption;
	if (url != NULL) {
		if (media_out_stage(ctx->app, ctx->org_id, data, len, ctype,
		    &staged) != DB_OK) {
			*result = xstrdup(NO_DB);
			goto out;
		}
		m.id = staged.message_id;
		m.rec = &staged.rec;
	} else
		m.ref_message_id = ref;
	if ((db = db_acquire(ctx->pool)) == NULL ||
	    outbox_record_media(ctx->app, db, ctx->org_id, ctx->chat_id, 0,
	    &m, &nw) != DB_OK) {
		*result = xstrdup(NO_DB);
		goto out;
	}
	db_release(db);
	db = NULL;
	ok = send_recorded(ctx, &nw, chat.external_id, result);
out:
	if (db != NULL)
		db_release(db);
	return ok;
}
