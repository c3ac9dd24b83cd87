/*
 * meta: sending through Meta's WhatsApp Cloud API (PROTOCOLS.md §2.5,
 * §2.7): POST {api_base}/{phone_number_id}/messages with
 * "Authorization: Bearer <access token>" and a JSON body. Text (4096
 * characters), reactions (emoji "" removes ours), groups (recipient_type
 * "group" with the group id as "to"), and the typing indicator, which is
 * a read receipt for the inbound message plus typing_indicator.
 *
 * The JSON builders, the answer readers and the request itself are
 * shared with kapso.c, whose proxy takes Meta's bodies unchanged (§3.4).
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
#include "util/url.h"

#define META_API_BASE	"https://graph.facebook.com/v24.0"
#define META_TEXT_LIMIT	4096
#define AUTH_MAX	4096

static enum send_result	 send_text(const struct channel_creds *c,
			    const char *to, bool is_group, const char *text,
			    struct send_outcome *out);
static enum send_result	 send_reaction(const struct channel_creds *c,
			    const char *to, const char *message_id,
			    const char *emoji, struct send_outcome *out);
static enum send_result	 send_typing(const struct channel_creds *c,
			    const char *inbound_message_id,
			    struct send_outcome *out);
static enum send_result	 post(const struct channel_creds *c,
			    const cJSON *body, bool want_id,
			    struct send_outcome *out);

/*
 * Codes from PROTOCOLS.md §2.7. Throughput and transient codes are worth
 * another try even when they come with a 4xx.
 */
const struct channel_code channel_meta_codes[] = {
	{ "131047", CHANNEL_WINDOW_SENTENCE, false },
	{ "130429", "WhatsApp's throughput limit for this number was "
	    "reached; the message will be sent again later.", true },
	{ "131056", "Too many messages went to this recipient in a short "
	    "time; the message will be sent again later.", true },
	{ "131000", "WhatsApp reported an unknown error; the message will "
	    "be sent again later.", true },
	{ "4", "The app reached its WhatsApp API call limit; the message "
	    "will be sent again later.", true },
	{ "80007", "The WhatsApp Business Account reached its rate limit; "
	    "the message will be sent again later.", true },
	{ "190", "WhatsApp refused the access token: it is invalid or has "
	    "expired.", false },
	{ "0", "WhatsApp refused the credentials of this channel.", false },
	{ "131026", "The message could not be delivered: the recipient may "
	    "not be on WhatsApp or may use an old version of it.", false },
	{ "131048", "WhatsApp held the message back: this number is "
	    "limited for sending spam.", false },
	{ "131049", "WhatsApp chose not to deliver this message to keep "
	    "engagement healthy.", false },
	{ "131051", "WhatsApp does not support this message type.", false },
	{ "368", "WhatsApp blocked this account for a policy violation.",
	    false },
	{ NULL, NULL, false },
};

static const struct channel_dialect dialect = {
	.name = "Meta",
	.codes = channel_meta_codes,
	.retry_status = 0,
	.parse_error = channel_meta_parse_error,
	.parse_id = channel_meta_parse_id,
};

const struct channel_ops channel_meta = {
	.kind = "meta",
	.text_limit = META_TEXT_LIMIT,
	.has_reactions = true,
	.has_groups = true,
	.send_text = send_text,
	.send_reaction = send_reaction,
	.send_typing = send_typing,
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
	st = post(c, body, true, out);
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
	st = post(c, body, true, out);
	cJSON_Delete(body);
	return st;
}

static enum send_result
send_typing(const struct channel_creds *c, const char *inbound_message_id,
    struct send_outcome *out)
{
	cJSON			*body;
	enum send_result	 st;

	if (inbound_message_id == NULL || inbound_message_id[0] == '\0')
		return channel_refuse(out, "The typing indicator needs the "
		    "inbound message id.");
	body = channel_meta_typing(inbound_message_id);
	st = post(c, body, false, out);
	cJSON_Delete(body);
	return st;
}

static enum send_result
post(const struct channel_creds *c, const cJSON *body, bool want_id,
    struct send_outcome *out)
{
	char			 auth[AUTH_MAX];
	enum send_result	 st;

	if (!channel_field_ok(c->access_token))
		return channel_refuse(out, "The channel has no valid Meta "
		    "access token.");
	if (snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
	    c->access_token) >= (int)sizeof(auth)) {
		sodium_memzero(auth, sizeof(auth));
		return channel_refuse(out, "The Meta access token is too "
		    "long.");
	}
	st = channel_meta_post(&dialect, c, c->api_base, META_API_BASE, auth,
	    body, want_id, out);
	sodium_memzero(auth, sizeof(auth));
	return st;
}

/* --- shared with kapso.c ---------------------------------------------- */

enum send_result
channel_meta_post(const struct channel_dialect *d,
    const struct channel_creds *c, const char *base, const char *dflt_base,
    const char *auth_header, const cJSON *body, bool want_id,
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
	call.want_id = want_id;
	st = channel_http_send(d, c, &call, out);
	free(json);
	buf_cleanup(&url);
	return st;
}

cJSON *
channel_meta_text(const char *to, bool is_group, const char *text)
{
	cJSON	*root = cJSON_CreateObject(), *t;

	cJSON_AddStringToObject(root, "messaging_product", "whatsapp");
	cJSON_AddStringToObject(root, "recipient_type",
	    is_group ? "group" : "individual");
	cJSON_AddStringToObject(root, "to", to);
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
	cJSON_AddStringToObject(root, "to", to);
	cJSON_AddStringToObject(root, "type", "reaction");
	r = cJSON_AddObjectToObject(root, "reaction");
	cJSON_AddStringToObject(r, "message_id", message_id);
	cJSON_AddStringToObject(r, "emoji", emoji);
	return root;
}

cJSON *
channel_meta_typing(const char *message_id)
{
	cJSON	*root = cJSON_CreateObject(), *t;

	cJSON_AddStringToObject(root, "messaging_product", "whatsapp");
	cJSON_AddStringToObject(root, "status", "read");
	cJSON_AddStringToObject(root, "message_id", message_id);
	t = cJSON_AddObjectToObject(root, "typing_indicator");
	cJSON_AddStringToObject(t, "type", "text");
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
