/*
 * kapso: sending through Kapso's Meta proxy (PROTOCOLS.md §3.4): Meta's
 * bodies and answers (meta.c builds and reads them), posted to
 * {api_base}/{phone_number_id}/messages with "X-API-Key: <key>". Kapso
 * answers 409 while another message of the conversation is in flight:
 * that is worth another try shortly, not a failure.
 *
 * The read receipt and the typing indicator are Meta's bodies too
 * (docs/whatsapp-platform.md §5, [KMR]), and so is a send to a contact
 * known only by its user id ("recipient", [KBS]).
 *
 * Media goes through the same proxy (§3.4): GET {api_base}/{media id}
 * ?phone_number_id=… (required there) with the key → {"url",…}; the url
 * is fetched with the key only when it is on the Kapso API's own origin
 * (the Kapso SDK's rule), so the key never reaches Meta's CDN or any
 * other host.
 *
 * Thread-safety: no shared state. The key lives only in a stack buffer
 * that is wiped after the call.
 */
#include "channels/channel.h"
#include "channels/sender.h"

#include <stdio.h>

#include <sodium.h>

#include "util/config.h"

#define KAPSO_API_BASE		"https://api.kapso.ai/meta/whatsapp/v24.0"
#define KAPSO_TEXT_LIMIT	4096
#define AUTH_MAX		1024

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
static enum send_result	 post(const struct channel_creds *c, cJSON *body,
			    enum channel_post_kind kind,
			    struct send_outcome *out);

static const struct channel_dialect dialect = {
	.name = "Kapso",
	.codes = channel_meta_codes,
	.retry_status = 409,
	.parse_error = channel_meta_parse_error,
	.parse_id = channel_meta_parse_id,
};

static void		 api_roots(const struct config *cfg,
			    struct channel_creds *c);

const struct channel_ops channel_kapso = {
	.kind = "kapso",
	.text_limit = KAPSO_TEXT_LIMIT,
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
	if (to == NULL || to[0] == '\0' || text == NULL)
		return channel_refuse(out, "There is no recipient or no text "
		    "to send.");
	return post(c, channel_meta_text(to, is_group, text),
	    CHANNEL_POST_MESSAGE, out);
}

static enum send_result
send_reaction(const struct channel_creds *c, const char *to,
    const char *message_id, const char *emoji, struct send_outcome *out)
{
	if (to == NULL || to[0] == '\0' || message_id == NULL ||
	    message_id[0] == '\0' || emoji == NULL)
		return channel_refuse(out, "A reaction needs a recipient, a "
		    "message id and an emoji.");
	return post(c, channel_meta_reaction(to, message_id, emoji),
	    CHANNEL_POST_MESSAGE, out);
}

static enum send_result
send_typing(const struct channel_creds *c, const char *inbound_message_id,
    struct send_outcome *out)
{
	if (inbound_message_id == NULL || inbound_message_id[0] == '\0')
		return channel_refuse(out, "The typing indicator needs the "
		    "inbound message id.");
	return post(c, channel_meta_typing(inbound_message_id, true),
	    CHANNEL_POST_INDICATOR, out);
}

static enum send_result
send_read(const struct channel_creds *c, const char *inbound_message_id,
    struct send_outcome *out)
{
	if (inbound_message_id == NULL || inbound_message_id[0] == '\0')
		return channel_refuse(out, "The read receipt needs the "
		    "inbound message id.");
	return post(c, channel_meta_typing(inbound_message_id, false),
	    CHANNEL_POST_INDICATOR, out);
}

static enum send_result
send_template(const struct channel_creds *c, const char *to, bool is_group,
    const struct channel_template_msg *t, struct send_outcome *out)
{
	if (to == NULL || to[0] == '\0' || t == NULL || t->name == NULL ||
	    t->name[0] == '\0' || t->language == NULL ||
	    t->language[0] == '\0')
		return channel_refuse(out, "A template needs a recipient, a "
		    "name and a language.");
	return post(c, channel_meta_template_body(to, is_group, t),
	    CHANNEL_POST_MESSAGE, out);
}

/* Kapso proxies Meta's template list unchanged (docs/templates.md §1.2). */
static enum send_result
list_templates(const struct channel_creds *c, cJSON **list,
    struct send_outcome *out)
{
	char			 auth[AUTH_MAX];
	enum send_result	 st;

	*list = NULL;
	if (!auth_header(c, auth, out))
		return SEND_FAILED;
	st = channel_meta_list(&dialect, c, c->api_base, KAPSO_API_BASE, auth,
	    list, out);
	sodium_memzero(auth, sizeof(auth));
	return st;
}

/* "X-API-Key: …" into auth; false (out says why) when the channel has
 * no usable key. */
static bool
auth_header(const struct channel_creds *c, char auth[AUTH_MAX],
    struct send_outcome *out)
{
	if (!channel_field_ok(c->api_key)) {
		(void)channel_refuse(out, "The channel has no valid Kapso "
		    "API key.");
		return false;
	}
	if (snprintf(auth, AUTH_MAX, "X-API-Key: %s", c->api_key) >=
	    AUTH_MAX) {
		sodium_memzero(auth, AUTH_MAX);
		(void)channel_refuse(out, "The Kapso API key is too long.");
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
	if (!channel_field_ok(c->phone_number_id))
		return channel_refuse(out, "The channel has no phone number "
		    "id.");
	if (!auth_header(c, auth, out))
		return SEND_FAILED;
	st = channel_meta_media(&dialect, c, c->api_base, KAPSO_API_BASE,
	    auth, false, media_id, max_bytes, body, content_type, ctlen, out);
	sodium_memzero(auth, sizeof(auth));
	return st;
}

/* Kapso's Meta proxy: the same upload and send (media_out.c). */
static enum send_result
send_media(const struct channel_creds *c, const char *to, bool is_group,
    const struct channel_media_msg *m, struct send_outcome *out)
{
	char			 auth[AUTH_MAX];
	enum send_result	 st;

	if (!auth_header(c, auth, out))
		return SEND_FAILED;
	st = channel_meta_send_media(&dialect, c, c->api_base, KAPSO_API_BASE,
	    auth, to, is_group, m, out);
	sodium_memzero(auth, sizeof(auth));
	return st;
}

/* Posts body (consumed) with the API key. */
static enum send_result
post(const struct channel_creds *c, cJSON *body, enum channel_post_kind kind,
    struct send_outcome *out)
{
	char			 auth[AUTH_MAX];
	enum send_result	 st;

	if (!auth_header(c, auth, out)) {
		cJSON_Delete(body);
		return SEND_FAILED;
	}
	st = channel_meta_post(&dialect, c, c->api_base, KAPSO_API_BASE, auth,
	    body, kind, out);
	sodium_memzero(auth, sizeof(auth));
	cJSON_Delete(body);
	return st;
}

static void
api_roots(const struct config *cfg, struct channel_creds *c)
{
	c->api_base = cfg->kapso_api_base;
}
