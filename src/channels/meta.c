/*
 * meta: sending through Meta's WhatsApp Cloud API (PROTOCOLS.md §2.5,
 * §2.7): POST {api_base}/{phone_number_id}/messages with
 * "Authorization: Bearer <access token>" and a JSON body. Text (4096
 * characters), reactions (emoji "" removes ours), groups (recipient_type
 * "group" with the group id as "to"), the typing indicator, which is a
 * read receipt for the inbound message plus typing_indicator, and the
 * read receipt alone. A contact known only by its business-scoped user
 * id is addressed as "recipient" instead of "to" (docs/whatsapp-
 * platform.md §1.5); Meta refuses authentication templates to such a
 * contact (131062, final).
 *
 * Media (§2.6): GET {api_base}/{media id}?phone_number_id=… with the
 * bearer answers {"url","mime_type","file_size",…}; the url (Meta's CDN,
 * another host) is fetched with the bearer too, as Meta requires. A url a
 * webhook carried is never fetched: only the id is trusted.
 *
 * The JSON builders, the answer readers, the request itself and the media
 * download are shared with kapso.c, whose proxy takes Meta's bodies
 * unchanged (§3.4).
 *
 * Thread-safety: no shared state. The token lives only in a stack buffer
 * that is wiped after the call.
 */
#include "channels/channel.h"
#include "channels/sender.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/buf.h"
#include "util/json.h"
#include "util/config.h"
#include "util/str.h"
#include "util/url.h"
#include "util/waid.h"

#define META_API_BASE	"https://graph.facebook.com/v24.0"
#define META_TEXT_LIMIT	4096
#define AUTH_MAX	4096
#define MEDIA_JSON_MAX	(64u * 1024)
#define MEDIA_REDIRECTS_MAX	5

static enum send_result	 send_media(const struct channel_creds *c,
			    const char *to, bool is_group,
			    const struct channel_media_msg *m,
			    struct send_outcome *out);
static enum send_result	 send_text(const struct channel_creds *c,
			    const char *to, bool is_group, const char *text,
			    struct send_outcome *out);
static enum send_result	 send_reaction(const struct channel_creds *c,
			    const char *to, const char *message_id,
			    const char *emoji, struct send_outcome *out);
static enum send_result	 send_typing(const struct channel_creds *c,
			    const char *inbound_message_id,
			    struct send_outcome *out);
static enum send_result	 send_read(const struct channel_creds *c,
			    const char *inbound_message_id,
			    struct send_outcome *out);
static enum send_result	 indicator(const struct channel_creds *c,
			    const char *inbound_message_id, bool typing,
			    struct send_outcome *out);
static enum send_result	 fetch_media(const struct channel_creds *c,
			    const char *url, const char *media_id,
			    size_t max_bytes, struct buf *body,
			    char *content_type, size_t ctlen,
			    struct send_outcome *out);
static enum send_result	 send_template(const struct channel_creds *c,
			    const char *to, bool is_group,
			    const struct channel_template_msg *t,
			    struct send_outcome *out);
static enum send_result	 list_templates(const struct channel_creds *c,
			    cJSON **list, struct send_outcome *out);
static bool		 auth_header(const struct channel_creds *,
			    char [AUTH_MAX], struct send_outcome *);
static enum send_result	 post(const struct channel_creds *c,
			    const cJSON *body, enum channel_post_kind kind,
			    struct send_outcome *out);

/*
 * Codes from PROTOCOLS.md §2.7. Throughput and transient codes are worth
 * another try even when they come with a 4xx.
 */
const struct channel_code channel_meta_codes[] = {
	{ "131047", CHANNEL_WINDOW_SENTENCE, false, false, true },
	/* An authentication template to a user id (§1.5): never works. */
	{ "131062", CHANNEL_AUTH_USER_ID_SENTENCE, false, true, false },
	{ "130429", "WhatsApp's throughput limit for this number was "
	    "reached; the message will be sent again later.", true, false, false },
	{ "131056", "Too many messages went to this recipient in a short "
	    "time; the message will be sent again later.", true, false, false },
	{ "131000", "WhatsApp reported an unknown error; the message will "
	    "be sent again later.", true, false, false },
	{ "4", "The app reached its WhatsApp API call limit; the message "
	    "will be sent again later.", true, false, false },
	{ "80007", "The WhatsApp Business Account reached its rate limit; "
	    "the message will be sent again later.", true, false, false },
	{ "190", "WhatsApp refused the access token: it is invalid or has "
	    "expired.", false, false, false },
	{ "0", "WhatsApp refused the credentials of this channel.",
	    false, false, false },
	{ "131026", "The message could not be delivered: the recipient may "
	    "not be on WhatsApp or may use an old version of it.",
	    false, false, false },
	{ "131048", "WhatsApp held the message back: this number is "
	    "limited for sending spam.", false, false, false },
	{ "131049", "WhatsApp chose not to deliver this message to keep "
	    "engagement healthy.", false, false, false },
	{ "131051", "WhatsApp does not support this message type.",
	    false, false, false },
	{ "368", "WhatsApp blocked this account for a policy violation.",
	    false, false, false },
	{ NULL, NULL, false, false, false },
};

static const struct channel_dialect dialect = {
	.name = "Meta",
	.codes = channel_meta_codes,
	.retry_status = 0,
	.parse_error = channel_meta_parse_error,
	.parse_id = channel_meta_parse_id,
};

static void		 api_roots(const struct config *cfg,
			    struct channel_creds *c);

const struct channel_ops channel_meta = {
	.kind = "meta",
	.text_limit = META_TEXT_LIMIT,
	.has_reactions = true,
	.has_groups = true,
	.has_window = true,
	.dialect = &dialect,
	.api_roots = api_roots,
	.send_text = send_text,
	.send_media = send_media,
	.send_template = send_template,
	.list_templates = list_templates,
	.send_reaction = send_reaction,
	.send_typing = send_typing,
	.send_read = send_read,
	.fetch_media = fetch_media,
};

static enum send_result
send_text(const struct channel_creds *c, const char *to, bool is_group,
    const char *text, struct send_outcome *out)
{
	cJSON			*body;
	enum send_result	 st;

	if (to == NULL || to[0] == '\0' || text == NULL)
		return channel_refuse(out, "There is no recipient or no text "
		    "to send.");
	body = channel_meta_text(to, is_group, text);
	st = post(c, body, CHANNEL_POST_MESSAGE, out);
	cJSON_Delete(body);
	return st;
}

static enum send_result
send_reaction(const struct channel_creds *c, const char *to,
    const char *message_id, const char *emoji, struct send_outcome *out)
{
	cJSON			*body;
	enum send_result	 st;

	if (to == NULL || to[0] == '\0' || message_id == NULL ||
	    message_id[0] == '\0' || emoji == NULL)
		return channel_refuse(out, "A reaction needs a recipient, a "
		    "message id and an emoji.");
	body = channel_meta_reaction(to, message_id, emoji);
	st = post(c, body, CHANNEL_POST_MESSAGE, out);
	cJSON_Delete(body);
	return st;
}

static enum send_result
send_typing(const struct channel_creds *c, const char *inbound_message_id,
    struct send_outcome *out)
{
	return indicator(c, inbound_message_id, true, out);
}

static enum send_result
send_read(const struct channel_creds *c, const char *inbound_message_id,
    struct send_outcome *out)
{
	return indicator(c, inbound_message_id, false, out);
}

/* The read receipt, with the typing indicator when typing. */
static enum send_result
indicator(const struct channel_creds *c, const char *inbound_message_id,
    bool typing, struct send_outcome *out)
{
	cJSON			*body;
	enum send_result	 st;

	if (inbound_message_id == NULL || inbound_message_id[0] == '\0')
		return channel_refuse(out, "The typing indicator needs the "
		    "inbound message id.");
	body = channel_meta_typing(inbound_message_id, typing);
	st = post(c, body, CHANNEL_POST_INDICATOR, out);
	cJSON_Delete(body);
	return st;
}

static enum send_result
send_template(const struct channel_creds *c, const char *to, bool is_group,
    const struct channel_template_msg *t, struct send_outcome *out)
{
	cJSON			*body;
	enum send_result	 st;

	if (to == NULL || to[0] == '\0' || t == NULL || t->name == NULL ||
	    t->name[0] == '\0' || t->language == NULL ||
	    t->language[0] == '\0')
		return channel_refuse(out, "A template needs a recipient, a "
		    "name and a language.");
	body = channel_meta_template_body(to, is_group, t);
	st = post(c, body, CHANNEL_POST_MESSAGE, out);
	cJSON_Delete(body);
	return st;
}

static enum send_result
list_templates(const struct channel_creds *c, cJSON **list,
    struct send_outcome *out)
{
	char			 auth[AUTH_MAX];
	enum send_result	 st;

	*list = NULL;
	if (!auth_header(c, auth, out))
		return SEND_FAILED;
	st = channel_meta_list(&dialect, c, c->api_base, META_API_BASE, auth,
	    list, out);
	sodium_memzero(auth, sizeof(auth));
	return st;
}

/* "Authorization: Bearer …" into auth; false (out says why) when the
 * channel has no usable token. */
static bool
auth_header(const struct channel_creds *c, char auth[AUTH_MAX],
    struct send_outcome *out)
{
	if (!channel_field_ok(c->access_token)) {
		(void)channel_refuse(out, "The channel has no valid Meta "
		    "access token.");
		return false;
	}
	if (snprintf(auth, AUTH_MAX, "Authorization: Bearer %s",
	    c->access_token) >= AUTH_MAX) {
		sodium_memzero(auth, AUTH_MAX);
		(void)channel_refuse(out, "The Meta access token is too "
		    "long.");
		return false;
	}
	return true;
}

static enum send_result
fetch_media(const struct channel_creds *c, const char *url,
    const char *media_id, size_t max_bytes, struct buf *body,
    char *content_type, size_t ctlen, struct send_outcome *out)
{
	char			 auth[AUTH_MAX];
	enum send_result	 st;

	(void)url;
	if (!auth_header(c, auth, out))
		return SEND_FAILED;
	st = channel_meta_media(&dialect, c, c->api_base, META_API_BASE, auth,
	    true, media_id, max_bytes, body, content_type, ctlen, out);
	sodium_memzero(auth, sizeof(auth));
	return st;
}

/* Uploaded, then sent by its id (media_out.c). */
static enum send_result
send_media(const struct channel_creds *c, const char *to, bool is_group,
    const struct channel_media_msg *m, struct send_outcome *out)
{
	char			 auth[AUTH_MAX];
	enum send_result	 st;

	if (!auth_header(c, auth, out))
		return SEND_FAILED;
	st = channel_meta_send_media(&dialect, c, c->api_base, META_API_BASE,
	    auth, to, is_group, m, out);
	sodium_memzero(auth, sizeof(auth));
	return st;
}

static enum send_result
post(const struct channel_creds *c, const cJSON *body,
    enum channel_post_kind kind, struct send_outcome *out)
{
	char			 auth[AUTH_MAX];
	enum send_result	 st;

	if (!auth_header(c, auth, out))
		return SEND_FAILED;
	st = channel_meta_post(&dialect, c, c->api_base, META_API_BASE, auth,
	    body, kind, out);
	sodium_memzero(auth, sizeof(auth));
	return st;
}

/* --- shared with kapso.c ---------------------------------------------- */

enum send_result
channel_meta_post(const struct channel_dialect *d,
    const struct channel_creds *c, const char *base, const char *dflt_base,
    const char *auth_header, const cJSON *body, enum channel_post_kind kind,
    struct send_outcome *out)
{
	const char		*headers[] = { auth_header,
				    "Content-Type: application/json",
				    "Accept: application/json", NULL };
	struct channel_call	 call;
	struct buf		 url;
	enum send_result	 st;
	char			*json;

	if (!channel_field_ok(c->phone_number_id))
		return channel_refuse(out, "The channel has no phone number "
		    "id.");
	if (base != NULL && base[0] != '\0' && !channel_field_ok(base))
		return channel_refuse(out, "The %s API base URL is not "
		    "valid.", d->name);
	buf_init(&url, 0);
	channel_url_base(&url, base, dflt_base);
	buf_putc(&url, '/');
	url_encode(&url, c->phone_number_id);
	buf_puts(&url, "/messages");
	if ((json = cJSON_PrintUnformatted(body)) == NULL)
		abort();

	memset(&call, 0, sizeof(call));
	call.url = buf_str(&url);
	call.headers = headers;
	call.body = json;
	call.body_len = strlen(json);
	call.want_id = kind == CHANNEL_POST_MESSAGE;
	call.reuse = kind == CHANNEL_POST_INDICATOR;
	st = channel_http_send(d, c, &call, out);
	free(json);
	buf_cleanup(&url);
	return st;
}

enum send_result
channel_meta_media(const struct channel_dialect *d,
    const struct channel_creds *c, const char *base, const char *dflt_base,
    const char *auth_header, bool auth_anywhere, const char *media_id,
    size_t max_bytes, struct buf *body, char *ctype, size_t ctlen,
    struct send_outcome *out)
{
	const char		*headers[] = { auth_header,
				    "Accept: application/json", NULL };
	const char		*dl_headers[] = { auth_header, "Accept: */*",
				    NULL };
	struct channel_fetch	 f;
	struct buf		 url, meta;
	enum send_result	 st;
	const cJSON		*v;
	cJSON			*root = NULL;
	char			 type[128];
	const char		*dl;

	if (media_id == NULL || media_id[0] == '\0')
		return channel_refuse(out, "This media item has no %s media "
		    "id to download it with.", d->name);
	if (!channel_field_ok(media_id))
		return channel_refuse(out, "This media item's id is not "
		    "valid.");
	if (base != NULL && base[0] != '\0' && !channel_field_ok(base))
		return channel_refuse(out, "The %s API base URL is not "
		    "valid.", d->name);
	buf_init(&url, 0);
	buf_init(&meta, 0);
	channel_url_base(&url, base, dflt_base);
	buf_putc(&url, '/');
	url_encode(&url, media_id);
	if (channel_field_ok(c->phone_number_id)) {
		buf_puts(&url, "?phone_number_id=");
		url_encode(&url, c->phone_number_id);
	}
	memset(&f, 0, sizeof(f));
	f.url = buf_str(&url);
	f.headers = headers;
	f.max_bytes = MEDIA_JSON_MAX;
	f.max_redirects = 0;
	st = channel_http_get(d, c, &f, &meta, type, sizeof(type), out);
	if (st != SEND_OK)
		goto out;

	root = json_parse(meta.data, meta.len, NULL);
	v = cJSON_GetObjectItemCaseSensitive(root, "url");
	dl = cJSON_IsString(v) ? v->valuestring : NULL;
	if (dl == NULL || !channel_field_ok(dl) || strchr(dl, ' ') != NULL ||
	    (!str_starts_with(dl, "https://") &&
	    !str_starts_with(dl, "http://"))) {
		st = channel_refuse(out, "%s answered without a download URL "
		    "for the media item.", d->name);
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "file_size");
	if (cJSON_IsNumber(v) && v->valuedouble > (double)max_bytes) {
		st = channel_refuse_size(out, max_bytes);
		goto out;
	}
	/* The bearer goes where Meta says; Kapso's key stays home (§3.4). */
	if (!auth_anywhere && !channel_url_same_origin(dl, base != NULL &&
	    base[0] != '\0' ? base : dflt_base)) {
		dl_headers[0] = "Accept: */*";
		dl_headers[1] = NULL;
	}
	memset(&f, 0, sizeof(f));
	f.url = dl;
	f.headers = dl_headers;
	f.max_bytes = max_bytes;
	f.max_redirects = MEDIA_REDIRECTS_MAX;
	st = channel_http_get(d, c, &f, body, ctype, ctlen, out);
	if (st == SEND_OK && (ctype[0] == '\0' ||
	    str_eq(ctype, "application/octet-stream") ||
	    str_eq(ctype, "binary/octet-stream"))) {
		v = cJSON_GetObjectItemCaseSensitive(root, "mime_type");
		if (cJSON_IsString(v))
			channel_media_type(v->valuestring, ctype, ctlen);
	}
out:
	cJSON_Delete(root);
	buf_cleanup(&meta);
	buf_cleanup(&url);
	return st;
}

/*
 * "to" for a phone or a group, "recipient" for a user id (§1.5: a user id
 * in "to" is dropped by Meta without an error, and when both are sent
 * "to" wins, so a body carries exactly one of them).
 */
void
channel_meta_recipient(cJSON *root, const char *to, bool is_group)
{
	cJSON_AddStringToObject(root, !is_group && waid_is_user_id(to) ?
	    "recipient" : "to", to);
}

cJSON *
channel_meta_text(const char *to, bool is_group, const char *text)
{
	cJSON	*root = cJSON_CreateObject(), *t;

	cJSON_AddStringToObject(root, "messaging_product", "whatsapp");
	cJSON_AddStringToObject(root, "recipient_type",
	    is_group ? "group" : "individual");
	channel_meta_recipient(root, to, is_group);
	cJSON_AddStringToObject(root, "type", "text");
	t = cJSON_AddObjectToObject(root, "text");
	cJSON_AddFalseToObject(t, "preview_url");
	cJSON_AddStringToObject(t, "body", text);
	return root;
}

cJSON *
channel_meta_reaction(const char *to, const char *message_id,
    const char *emoji)
{
	cJSON	*root = cJSON_CreateObject(), *r;

	cJSON_AddStringToObject(root, "messaging_product", "whatsapp");
	cJSON_AddStringToObject(root, "recipient_type", "individual");
	channel_meta_recipient(root, to, false);
	cJSON_AddStringToObject(root, "type", "reaction");
	r = cJSON_AddObjectToObject(root, "reaction");
	cJSON_AddStringToObject(r, "message_id", message_id);
	cJSON_AddStringToObject(r, "emoji", emoji);
	return root;
}

/* §5: mark-read takes the message id only, whoever the contact is. */
cJSON *
channel_meta_typing(const char *message_id, bool typing)
{
	cJSON	*root = cJSON_CreateObject(), *t;

	cJSON_AddStringToObject(root, "messaging_product", "whatsapp");
	cJSON_AddStringToObject(root, "status", "read");
	cJSON_AddStringToObject(root, "message_id", message_id);
	if (typing) {
		t = cJSON_AddObjectToObject(root, "typing_indicator");
		cJSON_AddStringToObject(t, "type", "text");
	}
	return root;
}

/*
 * {"error":{"message","code","error_data":{"details"}}}: details say more
 * than message when present. A bare {"error":"…"} (seen from proxies) is
 * read too.
 */
void
channel_meta_parse_error(const cJSON *root, char *code, size_t codelen,
    char *msg, size_t msglen)
{
	const cJSON	*e = cJSON_GetObjectItemCaseSensitive(root, "error");
	const cJSON	*v, *m;

	code[0] = '\0';
	msg[0] = '\0';
	if (cJSON_IsString(e)) {
		snprintf(msg, msglen, "%s", e->valuestring);
		return;
	}
	v = cJSON_GetObjectItemCaseSensitive(e, "code");
	if (cJSON_IsNumber(v))
		snprintf(code, codelen, "%.0f", v->valuedouble);
	else if (cJSON_IsString(v))
		snprintf(code, codelen, "%s", v->valuestring);
	m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    e, "error_data"), "details");
	if (!cJSON_IsString(m) || m->valuestring[0] == '\0')
		m = cJSON_GetObjectItemCaseSensitive(e, "message");
	if (cJSON_IsString(m))
		snprintf(msg, msglen, "%s", m->valuestring);
}

/* messages[0].id of {"messaging_product","contacts","messages":[…]}. */
bool
channel_meta_parse_id(const cJSON *root, char *id, size_t idlen)
{
	const cJSON	*v;

	v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root,
	    "messages"), 0);
	v = cJSON_GetObjectItemCaseSensitive(v, "id");
	if (!cJSON_IsString(v) || v->valuestring[0] == '\0' ||
	    strlen(v->valuestring) >= idlen)
		return false;
	snprintf(id, idlen, "%s", v->valuestring);
	return true;
}

static void
api_roots(const struct config *cfg, struct channel_creds *c)
{
	c->api_base = cfg->meta_graph_base;
}
