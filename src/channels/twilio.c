/*
 * twilio: sending through Twilio's Programmable Messaging API on the
 * WhatsApp channel (PROTOCOLS.md §1.4):
 *
 *   text     POST {api_base}/2010-04-01/Accounts/{sid}/Messages.json,
 *            form To=whatsapp:+…, From=whatsapp:+…, Body, StatusCallback;
 *            201 with the Message resource, whose "sid" is our id.
 *   typing   POST {api_base2}/v2/Indicators/Typing.json, form
 *            channel=whatsapp, messageId=<inbound SM…> → {"success":true}.
 *   template POST …/Messages.json as for text, with ContentSid=HX… and
 *            ContentVariables={"1":"…"} instead of Body
 *            (docs/templates.md §2.2).
 *   list     GET {content_base}/v1/ContentAndApprovals?PageSize=100 →
 *            {"contents":[{sid, friendly_name, language, variables,
 *            types, approval_requests}], "meta":{next_page_url}} (§1.3);
 *            a next page is fetched only when its URL lies under the
 *            configured Content API root.
 *   price    GET {api_base}/2010-04-01/Accounts/{sid}/Messages/{SM}.json
 *            → the Message resource: "price" ("-0.00500", null until
 *            Twilio knows it) and "price_unit" ("USD").
 *
 *   media    GET the webhook's MediaUrlN (§1.2), which Twilio answers
 *            with a redirect to a signed storage URL; the redirect is
 *            followed without the credentials (registry.c). Only URLs
 *            under the configured API base are fetched: the URL comes
 *            from a webhook body, and the credentials must never go to a
 *            host someone else chose (nor may Parley be made to fetch
 *            arbitrary URLs from inside the network).
 *
 * All with HTTP Basic "{AccountSid}:{AuthToken}". Bodies are up to 1600
 * characters; Twilio has no reactions and no groups on WhatsApp, and no
 * read receipt but its typing indicator (which marks the message read).
 * A contact known only by its business-scoped user id is refused with a
 * sentence: no source confirms how Twilio sends to one
 * (docs/whatsapp-platform.md §3).
 *
 * Thread-safety: no shared state. The credentials live only in stack
 * buffers that are wiped after the call.
 */
#include "channels/channel.h"
#include "channels/sender.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/buf.h"
#include "util/config.h"
#include "util/json.h"
#include "util/str.h"
#include "util/url.h"
#include "util/waid.h"

#define TWILIO_API_BASE		"https://api.twilio.com"
#define TWILIO_MESSAGING_BASE	"https://messaging.twilio.com"
#define TWILIO_CONTENT_BASE	"https://content.twilio.com"
#define LIST_PAGE_SIZE		100
#define LIST_BODY_MAX		(4u * 1024 * 1024)
#define TWILIO_TEXT_LIMIT	1600
#define CRED_MAX		512
#define AUTH_MAX		(CRED_MAX * 3 + 64)	/* base64 of sid:token */
#define MEDIA_REDIRECTS_MAX	5

static enum send_result	 send_text(const struct channel_creds *c,
			    const char *to, bool is_group, const char *text,
			    struct send_outcome *out);
static enum send_result	 send_media(const struct channel_creds *c,
			    const char *to, bool is_group,
			    const struct channel_media_msg *m,
			    struct send_outcome *out);
static enum send_result	 send_message(const struct channel_creds *c,
			    const char *to, bool is_group,
			    const char *media_url, const char *body,
			    struct send_outcome *out);
static enum send_result	 send_typing(const struct channel_creds *c,
			    const char *inbound_message_id,
			    struct send_outcome *out);
static enum send_result	 send_template(const struct channel_creds *c,
			    const char *to, bool is_group,
			    const struct channel_template_msg *t,
			    struct send_outcome *out);
static enum send_result	 list_templates(const struct channel_creds *c,
			    cJSON **list, struct send_outcome *out);
static cJSON		*content_entry(const cJSON *item);
static enum send_result	 messages_form(const struct channel_creds *c,
			    const char *to, bool is_group, struct buf *url,
			    struct buf *form, struct send_outcome *out);
static enum send_result	 fetch_price(const struct channel_creds *c,
			    const char *provider_message_id, char *amount,
			    size_t amountlen, char *currency, size_t curlen,
			    struct send_outcome *out);
static bool		 account_ok(const struct channel_creds *,
			    struct send_outcome *);
static enum send_result	 fetch_media(const struct channel_creds *c,
			    const char *url, const char *media_id,
			    size_t max_bytes, struct buf *body,
			    char *content_type, size_t ctlen,
			    struct send_outcome *out);
static bool		 basic_auth(const struct channel_creds *c,
			    char *auth, size_t authlen);
static enum send_result	 post(const struct channel_creds *c,
			    const char *url, const struct buf *form,
			    enum channel_post_kind kind,
			    struct send_outcome *out);
static void		 form_add(struct buf *b, const char *name,
			    const char *prefix, const char *value);
static void		 parse_error(const cJSON *root, char *code,
			    size_t codelen, char *msg, size_t msglen);
static bool		 parse_id(const cJSON *root, char *id, size_t idlen);

/* Codes from PROTOCOLS.md §1.4 and Twilio's error dictionary. */
static const struct channel_code codes[] = {
	{ "63016", CHANNEL_WINDOW_SENTENCE, false, false, true },
	{ "20429", "Twilio's rate limit was reached; the message will be "
	    "sent again later.", true, false, false },
	/* Rate limits reported in a status callback (Twilio's error
	 * dictionary; 63018 is WhatsApp's 429 and 471, docs/whatsapp-
	 * platform.md §9): "later", as any 429. */
	{ "63017", "Twilio's rate limit was reached; the message will be "
	    "sent again later.", true, false, false },
	{ "63018", "WhatsApp's rate limit for this sender was reached; the "
	    "message will be sent again later.", true, false, false },
	{ "20003", "Twilio refused the credentials: check the Account SID "
	    "and the auth token.", false, false, false },
	{ "21211", "The recipient's phone number is not valid.", false,
	    false, false },
	{ "63003", "The recipient's WhatsApp address is not valid.",
	    false, false, false },
	{ "63007", "Twilio has no WhatsApp sender for this channel's "
	    "number.", false, false, false },
	{ "21617", "The message is longer than Twilio accepts (1600 "
	    "characters).", false, false, false },
	{ "21610", "The recipient has unsubscribed from this number.",
	    false, false, false },
	{ NULL, NULL, false, false, false },
};

static const struct channel_dialect dialect = {
	.name = "Twilio",
	.codes = codes,
	.retry_status = 0,
	.parse_error = parse_error,
	.parse_id = parse_id,
};

static void		 api_roots(const struct config *cfg,
			    struct channel_creds *c);

const struct channel_ops channel_twilio = {
	.kind = "twilio",
	.text_limit = TWILIO_TEXT_LIMIT,
	.has_reactions = false,
	.has_groups = false,
	.has_window = true,
	.dialect = &dialect,
	.api_roots = api_roots,
	.send_text = send_text,
	.send_media = send_media,
	.send_template = send_template,
	.list_templates = list_templates,
	.send_reaction = NULL,
	.send_typing = send_typing,
	.fetch_price = fetch_price,
	.fetch_media = fetch_media,
};

/*
 * The URL of Messages.json and the form's To, From (and StatusCallback
 * last, by the caller) for a send to `to`; SEND_OK or a refusal (out).
 */
static enum send_result
messages_form(const struct channel_creds *c, const char *to, bool is_group,
    struct buf *url, struct buf *form, struct send_outcome *out)
{
	if (is_group)
		return channel_refuse(out, "Twilio cannot send to WhatsApp "
		    "groups.");
	if (to == NULL || to[0] == '\0')
		return channel_refuse(out, "There is no recipient to send "
		    "to.");
	/* docs/whatsapp-platform.md §3: no source confirms a Twilio send to
	 * a business-scoped user id; peers send to phones only. */
	if (waid_is_user_id(to))
		return channel_refuse(out, "This contact is known by their "
		    "WhatsApp user id only (%s), and Twilio has no confirmed "
		    "way to send to one: Parley can reply once the contact's "
		    "phone number is known.", to);
	if (!channel_field_ok(c->phone_number))
		return channel_refuse(out, "The channel has no sender phone "
		    "number.");
	if (!account_ok(c, out))
		return SEND_FAILED;
	channel_url_base(url, c->api_base, TWILIO_API_BASE);
	buf_puts(url, "/2010-04-01/Accounts/");
	url_encode(url, c->account_sid);
	buf_puts(url, "/Messages.json");
	form_add(form, "To", "whatsapp:", to);
	form_add(form, "From", "whatsapp:", c->phone_number);
	return SEND_OK;
}

static enum send_result
send_text(const struct channel_creds *c, const char *to, bool is_group,
    const char *text, struct send_outcome *out)
{
	if (text == NULL)
		return channel_refuse(out, "There is no text to send.");
	return send_message(c, to, is_group, NULL, text, out);
}

/*
 * One Messages.json POST: To, From, then MediaUrl (NULL: none), Body
 * (NULL or "": none) and the status callback.
 */
static enum send_result
send_message(const struct channel_creds *c, const char *to, bool is_group,
    const char *media_url, const char *body, struct send_outcome *out)
{
	struct buf		 url, form;
	enum send_result	 st;

	buf_init(&url, 0);
	buf_init(&form, 0);
	if ((st = messages_form(c, to, is_group, &url, &form, out)) ==
	    SEND_OK) {
		if (media_url != NULL)
			form_add(&form, "MediaUrl", "", media_url);
		if (body != NULL && (body[0] != '\0' || media_url == NULL))
			form_add(&form, "Body", "", body);
		if (c->status_callback != NULL &&
		    c->status_callback[0] != '\0')
			form_add(&form, "StatusCallback", "",
			    c->status_callback);
		st = post(c, buf_str(&url), &form, CHANNEL_POST_MESSAGE,
		    out);
	}
	buf_cleanup(&form);
	buf_cleanup(&url);
	return st;
}

/* ContentSid and ContentVariables, no Body (docs/templates.md §2.2). */
static enum send_result
send_template(const struct channel_creds *c, const char *to, bool is_group,
    const struct channel_template_msg *t, struct send_outcome *out)
{
	struct buf		 url, form;
	enum send_result	 st;
	const cJSON		*v;
	cJSON			*vars;
	char			*json;

	if (t == NULL || !channel_field_ok(t->content_sid))
		return channel_refuse(out, "This Twilio template has no "
		    "content SID: sync the channel's templates.");
	buf_init(&url, 0);
	buf_init(&form, 0);
	if ((st = messages_form(c, to, is_group, &url, &form, out)) ==
	    SEND_OK) {
		form_add(&form, "ContentSid", "", t->content_sid);
		vars = cJSON_CreateObject();
		cJSON_ArrayForEach(v, t->params) {
			const cJSON	*n = cJSON_GetObjectItemCaseSensitive(v,
					    "name");
			const cJSON	*val = cJSON_GetObjectItemCaseSensitive(
					    v, "value");

			if (cJSON_IsString(n) && cJSON_IsString(val) &&
			    cJSON_GetObjectItemCaseSensitive(vars,
			    n->valuestring) == NULL)
				cJSON_AddStringToObject(vars, n->valuestring,
				    val->valuestring);
		}
		if (cJSON_GetArraySize(vars) > 0) {
			if ((json = cJSON_PrintUnformatted(vars)) == NULL)
				abort();
			form_add(&form, "ContentVariables", "", json);
			free(json);
		}
		cJSON_Delete(vars);
		if (c->status_callback != NULL &&
		    c->status_callback[0] != '\0')
			form_add(&form, "StatusCallback", "",
			    c->status_callback);
		st = post(c, buf_str(&url), &form, CHANNEL_POST_MESSAGE,
		    out);
	}
	buf_cleanup(&form);
	buf_cleanup(&url);
	return st;
}

/*
 * One ContentAndApprovals item, normalised. Its approval status is read
 * from approval_requests.status or approval_requests.whatsapp.status
 * (the inner shape is UNCONFIRMED, docs/templates.md §1.3), upper-cased.
 */
static cJSON *
content_entry(const cJSON *item)
{
	cJSON		*e = channel_template_new();
	cJSON		*vars = cJSON_GetObjectItemCaseSensitive(e, "variables");
	cJSON		*buttons = cJSON_GetObjectItemCaseSensitive(e, "buttons");
	const cJSON	*types = cJSON_GetObjectItemCaseSensitive(item, "types");
	const cJSON	*appr, *wa, *type, *a;
	const char	*status, *category, *body;

	channel_template_set(e, "id", json_str_or(item, "sid", ""), 128,
	    false);
	channel_template_set(e, "name", json_str_or(item, "friendly_name",
	    ""), 512, false);
	channel_template_set(e, "language", json_str_or(item, "language", ""),
	    32, false);
	appr = cJSON_GetObjectItemCaseSensitive(item, "approval_requests");
	wa = cJSON_GetObjectItemCaseSensitive(appr, "whatsapp");
	status = json_str_or(appr, "status", json_str_or(wa, "status", ""));
	category = json_str_or(appr, "category", json_str_or(wa, "category",
	    ""));
	/* Never submitted for WhatsApp approval: usable in a session only. */
	channel_template_set(e, "status", status[0] != '\0' ? status :
	    "UNSUBMITTED", 40, true);
	channel_template_set(e, "category", category, 40, true);
	type = types != NULL ? types->child : NULL;
	if (type == NULL || type->string == NULL)
		return e;
	channel_template_set(e, "content_type", type->string, 64, false);
	body = json_str_or(type, "body", json_str_or(type, "title", ""));
	channel_template_set(e, "body", body, 4096, false);
	(void)channel_template_scan(vars, body, "body", NULL,
	    cJSON_GetObjectItemCaseSensitive(item, "variables"));
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(type,
	    "actions")) {
		cJSON		*o = cJSON_CreateObject();
		const char	*at = json_str_or(a, "type", "");

		/* Quick replies have no type, or QUICK_REPLY. */
		cJSON_AddStringToObject(o, "type", at[0] == '\0' ||
		    str_case_eq(at, "QUICK_REPLY") ? "QUICK_REPLY" :
		    str_case_eq(at, "URL") ? "URL" :
		    str_case_eq(at, "PHONE_NUMBER") ? "PHONE_NUMBER" : "OTHER");
		cJSON_AddStringToObject(o, "text", json_str_or(a, "title", ""));
		cJSON_AddStringToObject(o, "id", json_str_or(a, "id", ""));
		cJSON_AddItemToArray(buttons, o);
	}
	return e;
}

static enum send_result
list_templates(const struct channel_creds *c, cJSON **list,
    struct send_outcome *out)
{
	char			 auth[AUTH_MAX], ctype[128];
	const char		*headers[] = { auth, "Accept: application/json",
				    NULL };
	const char		*base, *next;
	struct channel_fetch	 f;
	struct buf		 url, body;
	enum send_result	 st = SEND_OK;
	cJSON			*root = NULL, *all;
	const cJSON		*item;

	*list = NULL;
	base = c->content_base != NULL && c->content_base[0] != '\0' ?
	    c->content_base : TWILIO_CONTENT_BASE;
	if (!channel_field_ok(base))
		return channel_refuse(out, "The Twilio Content API base URL "
		    "is not valid.");
	if (!basic_auth(c, auth, sizeof(auth)))
		return channel_refuse(out, "The channel has no valid Twilio "
		    "Account SID and auth token.");
	all = cJSON_CreateArray();
	buf_init(&url, 0);
	buf_init(&body, 0);
	channel_url_base(&url, base, TWILIO_CONTENT_BASE);
	buf_printf(&url, "/v1/ContentAndApprovals?PageSize=%d",
	    LIST_PAGE_SIZE);
	for (int page = 0; page < CHANNEL_TEMPLATE_PAGES_MAX; page++) {
		memset(&f, 0, sizeof(f));
		f.url = buf_str(&url);
		f.headers = headers;
		f.max_bytes = LIST_BODY_MAX;
		st = channel_http_get(&dialect, c, &f, &body, ctype,
		    sizeof(ctype), out);
		if (st != SEND_OK)
			break;
		cJSON_Delete(root);
		if ((root = json_parse(body.data, body.len, NULL)) == NULL ||
		    !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root,
		    "contents"))) {
			st = channel_refuse(out, "Twilio answered the template "
			    "list with something that is not a list.");
			break;
		}
		cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root,
		    "contents"))
			if (cJSON_IsObject(item) && json_str_or(item, "sid",
			    "")[0] != '\0')
				cJSON_AddItemToArray(all, content_entry(item));
		next = json_str_or(cJSON_GetObjectItemCaseSensitive(root,
		    "meta"), "next_page_url", "");
		if (next[0] == '\0')
			break;
		/* The credentials go only under the configured root. */
		if (!channel_field_ok(next) || strchr(next, ' ') != NULL ||
		    !channel_url_under(next, base)) {
			st = channel_refuse(out, "Twilio's next page of "
			    "templates is not on the Content API (%s), so "
			    "Parley did not fetch it.", base);
			break;
		}
		buf_reset(&url);
		buf_puts(&url, next);
	}
	sodium_memzero(auth, sizeof(auth));
	cJSON_Delete(root);
	buf_cleanup(&body);
	buf_cleanup(&url);
	if (st != SEND_OK) {
		cJSON_Delete(all);
		return st;
	}
	*list = all;
	return SEND_OK;
}

static enum send_result
send_typing(const struct channel_creds *c, const char *inbound_message_id,
    struct send_outcome *out)
{
	struct buf		 url, form;
	enum send_result	 st;

	if (inbound_message_id == NULL || inbound_message_id[0] == '\0')
		return channel_refuse(out, "The typing indicator needs the "
		    "inbound message id.");
	if (c->api_base2 != NULL && c->api_base2[0] != '\0' &&
	    !channel_field_ok(c->api_base2))
		return channel_refuse(out, "The Twilio messaging API base URL "
		    "is not valid.");

	buf_init(&url, 0);
	channel_url_base(&url, c->api_base2, TWILIO_MESSAGING_BASE);
	buf_puts(&url, "/v2/Indicators/Typing.json");
	buf_init(&form, 0);
	form_add(&form, "channel", "", "whatsapp");
	form_add(&form, "messageId", "", inbound_message_id);

	st = post(c, buf_str(&url), &form, CHANNEL_POST_INDICATOR, out);
	buf_cleanup(&form);
	buf_cleanup(&url);
	return st;
}

static enum send_result
fetch_media(const struct channel_creds *c, const char *url,
    const char *media_id, size_t max_bytes, struct buf *body,
    char *content_type, size_t ctlen, struct send_outcome *out)
{
	char			 auth[AUTH_MAX];
	const char		*headers[] = { auth, "Accept: */*", NULL };
	const char		*base;
	struct channel_fetch	 f;
	enum send_result	 st;

	(void)media_id;
	base = c->api_base != NULL && c->api_base[0] != '\0' ? c->api_base :
	    TWILIO_API_BASE;
	if (url == NULL || url[0] == '\0')
		return channel_refuse(out, "This media item has no URL to "
		    "download it from.");
	if (!channel_field_ok(url) || strchr(url, ' ') != NULL ||
	    !channel_url_under(url, base))
		return channel_refuse(out, "This media URL is not on the "
		    "Twilio API (%s), so Parley did not fetch it.", base);
	if (!basic_auth(c, auth, sizeof(auth)))
		return channel_refuse(out, "The channel has no valid Twilio "
		    "Account SID and auth token.");
	memset(&f, 0, sizeof(f));
	f.url = url;
	f.headers = headers;
	f.max_bytes = max_bytes;
	f.max_redirects = MEDIA_REDIRECTS_MAX;
	st = channel_http_get(&dialect, c, &f, body, content_type, ctlen,
	    out);
	sodium_memzero(auth, sizeof(auth));
	return st;
}

/* The Message resource's price (see the file top); JSON of 64 KiB at most. */
static enum send_result
fetch_price(const struct channel_creds *c, const char *provider_message_id,
    char *amount, size_t amountlen, char *currency, size_t curlen,
    struct send_outcome *out)
{
	char			 auth[AUTH_MAX], ctype[128];
	const char		*headers[] = { auth, "Accept: application/json",
				    NULL };
	struct channel_fetch	 f;
	struct buf		 url, body;
	enum send_result	 st;
	bool			 json_ok = false;

	amount[0] = currency[0] = '\0';
	if (!channel_field_ok(provider_message_id) ||
	    strspn(provider_message_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
	    "ghijklmnopqrstuvwxyz0123456789") != strlen(provider_message_id))
		return channel_refuse(out, "This is not a Twilio message "
		    "SID.");
	if (!account_ok(c, out))
		return SEND_FAILED;
	if (!basic_auth(c, auth, sizeof(auth)))
		return channel_refuse(out, "The channel has no valid Twilio "
		    "Account SID and auth token.");
	buf_init(&url, 0);
	buf_init(&body, 0);
	channel_url_base(&url, c->api_base, TWILIO_API_BASE);
	buf_puts(&url, "/2010-04-01/Accounts/");
	url_encode(&url, c->account_sid);
	buf_puts(&url, "/Messages/");
	url_encode(&url, provider_message_id);
	buf_puts(&url, ".json");
	memset(&f, 0, sizeof(f));
	f.url = buf_str(&url);
	f.headers = headers;
	f.max_bytes = 64 * 1024;
	f.max_redirects = 0;
	st = channel_http_get(&dialect, c, &f, &body, ctype, sizeof(ctype),
	    out);
	sodium_memzero(auth, sizeof(auth));
	if (st == SEND_OK && !channel_twilio_price(body.data, body.len, amount,
	    amountlen, currency, curlen, &json_ok) && !json_ok)
		st = channel_refuse(out, "Twilio answered the message lookup "
		    "without JSON.");
	buf_cleanup(&body);
	buf_cleanup(&url);
	return st;
}

/*
 * The Message resource's "price" ("-0.00500", null until Twilio knows
 * it; Twilio writes what it charges as negative) and "price_unit"
 * ("USD"), see channel.h. Shapes outside the bounds are no price: the
 * amount goes into numeric(16, 6), the currency must be ISO 4217-shaped.
 */
bool
channel_twilio_price(const char *json, size_t len, char *amount,
    size_t amountlen, char *currency, size_t curlen, bool *json_ok)
{
	const cJSON	*p, *u;
	const char	*v;
	cJSON		*root;
	size_t		 ints, decs = 0;
	bool		 ok = false;

	if (amountlen > 0)
		amount[0] = '\0';
	if (curlen > 0)
		currency[0] = '\0';
	root = json_parse(json, len, NULL);
	if (json_ok != NULL)
		*json_ok = cJSON_IsObject(root);
	p = cJSON_GetObjectItemCaseSensitive(root, "price");
	u = cJSON_GetObjectItemCaseSensitive(root, "price_unit");
	if (!cJSON_IsString(p) || !cJSON_IsString(u) ||
	    strlen(u->valuestring) != 3 || curlen < 4)
		goto out;
	v = p->valuestring + (p->valuestring[0] == '-');
	ints = strspn(v, "0123456789");
	if (v[ints] == '.')
		decs = strspn(v + ints + 1, "0123456789");
	if (ints == 0 || ints > 10 || decs > 12 ||
	    v[ints + (v[ints] == '.' ? 1 + decs : 0)] != '\0' ||
	    (v[ints] == '.' && decs == 0) || strlen(v) >= amountlen)
		goto out;
	for (size_t i = 0; i < 3; i++) {
		char	 c = u->valuestring[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c < 'A' || c > 'Z')
			goto out;
		currency[i] = c;
	}
	currency[3] = '\0';
	snprintf(amount, amountlen, "%s", v);
	ok = true;
out:
	if (!ok && curlen > 0)
		currency[0] = '\0';
	cJSON_Delete(root);
	return ok;
}

/* The Account SID and API base a REST call needs; false with the
 * refusal in out. */
static bool
account_ok(const struct channel_creds *c, struct send_outcome *out)
{
	if (!channel_field_ok(c->account_sid)) {
		(void)channel_refuse(out, "The channel has no valid Twilio "
		    "Account SID.");
		return false;
	}
	if (c->api_base != NULL && c->api_base[0] != '\0' &&
	    !channel_field_ok(c->api_base)) {
		(void)channel_refuse(out, "The Twilio API base URL is not "
		    "valid.");
		return false;
	}
	return true;
}

/*
 * "Authorization: Basic base64(sid:token)" into auth; false when the
 * channel has no usable pair. The caller wipes auth after the call.
 */
static bool
basic_auth(const struct channel_creds *c, char *auth, size_t authlen)
{
	char	 pair[CRED_MAX * 2 + 2];
	size_t	 n;
	int	 len;

	if (!channel_field_ok(c->account_sid) ||
	    !channel_field_ok(c->auth_token) ||
	    strlen(c->account_sid) >= CRED_MAX ||
	    strlen(c->auth_token) >= CRED_MAX || authlen < AUTH_MAX)
		return false;
	len = snprintf(pair, sizeof(pair), "%s:%s", c->account_sid,
	    c->auth_token);
	n = (size_t)snprintf(auth, authlen, "Authorization: Basic ");
	sodium_bin2base64(auth + n, authlen - n,
	    (const unsigned char *)pair, (size_t)len,
	    sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(pair, sizeof(pair));
	return true;
}

/* POSTs the form with Basic auth; the credentials are wiped after. */
/*
 * MediaUrl: Twilio fetches it (HEAD and GET) from Parley's signed route,
 * which serves exactly this item until it expires (docs/media-out.md
 * §1.3). The caption, if any, is the Body.
 */
static enum send_result
send_media(const struct channel_creds *c, const char *to, bool is_group,
    const struct channel_media_msg *m, struct send_outcome *out)
{
	if (m == NULL || !channel_field_ok(m->url) ||
	    (strncmp(m->url, "https://", 8) != 0 &&
	    strncmp(m->url, "http://", 7) != 0))
		return channel_refuse(out, "There is no media URL to send "
		    "(PARLEY_PUBLIC_URL).");
	return send_message(c, to, is_group, m->url, m->caption, out);
}

static enum send_result
post(const struct channel_creds *c, const char *url, const struct buf *form,
    enum channel_post_kind kind, struct send_outcome *out)
{
	char			 auth[AUTH_MAX];
	const char		*headers[] = { auth,
				    "Content-Type: "
				    "application/x-www-form-urlencoded",
				    "Accept: application/json", NULL };
	struct channel_call	 call;
	enum send_result	 st;

	if (!basic_auth(c, auth, sizeof(auth)))
		return channel_refuse(out, "The channel has no valid Twilio "
		    "Account SID and auth token.");
	memset(&call, 0, sizeof(call));
	call.url = url;
	call.headers = headers;
	call.body = buf_str(form);
	call.body_len = form->len;
	call.want_id = kind == CHANNEL_POST_MESSAGE;
	call.reuse = kind == CHANNEL_POST_INDICATOR;
	st = channel_http_send(&dialect, c, &call, out);
	sodium_memzero(auth, sizeof(auth));
	return st;
}

/* Appends name=prefix+value, form-encoded. */
static void
form_add(struct buf *b, const char *name, const char *prefix,
    const char *value)
{
	if (b->len > 0)
		buf_putc(b, '&');
	url_encode(b, name);
	buf_putc(b, '=');
	/* An address given as "whatsapp:+…" already is not prefixed twice. */
	if (strncmp(value, prefix, strlen(prefix)) != 0)
		url_encode(b, prefix);
	url_encode(b, value);
}

/* {"code": 21211, "message": "…", "more_info": "…", "status": 400} */
static void
parse_error(const cJSON *root, char *code, size_t codelen, char *msg,
    size_t msglen)
{
	const cJSON	*v;

	code[0] = '\0';
	msg[0] = '\0';
	v = cJSON_GetObjectItemCaseSensitive(root, "code");
	if (cJSON_IsNumber(v))
		snprintf(code, codelen, "%.0f", v->valuedouble);
	else if (cJSON_IsString(v))
		snprintf(code, codelen, "%s", v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(root, "message");
	if (cJSON_IsString(v))
		snprintf(msg, msglen, "%s", v->valuestring);
}

static bool
parse_id(const cJSON *root, char *id, size_t idlen)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(root, "sid");

	if (!cJSON_IsString(v) || v->valuestring[0] == '\0' ||
	    strlen(v->valuestring) >= idlen)
		return false;
	snprintf(id, idlen, "%s", v->valuestring);
	return true;
}

static void
api_roots(const struct config *cfg, struct channel_creds *c)
{
	c->api_base = cfg->twilio_api_base;
	c->api_base2 = cfg->twilio_messaging_base;
	c->content_base = cfg->twilio_content_base;
}
