/*
 * meta: the WhatsApp Cloud API webhook (PROTOCOLS.md §2).
 *
 * GET answers Meta's subscription handshake. The GET names no phone
 * number, so its verify token is compared with every Meta channel's (there
 * are few; channel_meta_verify_token_any_org opens each and compares in
 * constant time): any channel's token proves the caller is someone who
 * configured a Parley channel, which is all the handshake is for.
 *
 * POST: the JSON is parsed only to collect every
 * entry[].changes[].value.metadata.phone_number_id; each names a channel,
 * and X-Hub-Signature-256 must verify over the RAW body (Meta signs its
 * own escaped serialisation, §2.2) with every known channel's app secret.
 * Only then is the delivery walked: messages go to ingest in ONE call
 * (one transaction for the whole batch), statuses to the outbox
 * (webhook_status: rate limits queued again, pricing recorded). Numbers
 * no channel has are skipped.
 *
 * The fields of 2026 (docs/whatsapp-platform.md, "as built"):
 *   messages            the author by phone (`from`, may be "") and/or
 *                       business-scoped user id (`from_user_id`), with
 *                       contacts[].profile.username; a system message
 *                       user_changed_user_id / user_changed_number changes
 *                       the contact's identity (never answered)
 *   user_id_update      the same change, as its own field
 *   smb_message_echoes  the business wrote from the WhatsApp Business
 *                       app: stored as a person's message, the chat goes
 *                       to a person (chat/coexist.h)
 *   standby             copies of a thread another app owns: stored,
 *                       never answered
 *   messaging_handovers control_passed (ours) / control_taken (another
 *                       app's); routed by value.recipient.phone_number_id
 * Identity changes, echoes and handovers are applied as the walk meets
 * them, each idempotent and committed before the 2xx, and before the
 * delivery's messages are stored, so a message under a new id lands in
 * the chat the change kept. A delivery naming no number at all
 * (account-level fields) is checked against the app secret of every Meta
 * channel (one Meta app serves many numbers; an unsigned or unverifiable
 * delivery is 403 whatever it names), then acknowledged and ignored.
 * Meta retries non-2xx for days and redelivers duplicates (§2.8): ingest
 * dedupes on the wamid, statuses never move backwards.
 */
#include "webhooks/webhooks.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "util/context.h"
#include "util/log.h"
#include "chat/chats.h"
#include "chat/coexist.h"
#include "chat/fees.h"
#include "chat/ingest.h"
#include "chat/outbox.h"
#include "chat/window.h"
#include "crypto/hmac.h"
#include "db/db.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/channel.h"
#include "util/arena.h"
#include "util/json.h"
#include "util/str.h"
#include "util/waid.h"
#include "webhooks/provider.h"
#include "webhooks/webhook.h"

/* The longest hub.challenge we echo (Meta sends a short number). */
#define CHALLENGE_MAX	256
/* Most messages one delivery may carry (Meta batches up to 1,000). */
#define MESSAGES_MAX	2000

static bool		 challenge_ok(const char *);
static const char	*change_number(const cJSON *);
static int		 collect_numbers(struct req *, const cJSON *,
			    struct webhook_number *, int *);
static const cJSON	*contact_of(const cJSON *, const char *,
			    const char *);
static void		 message_body(struct arena *, const cJSON *,
			    const char *, struct inbound *);
static const cJSON	*msg_contacts(const cJSON *);
static int		 apply_statuses(struct req *, const struct channel *,
			    const cJSON *);
static int		 apply_system(struct req *, const struct channel *,
			    const cJSON *, struct contact_ident *);
static int		 apply_id_updates(struct req *, const struct channel *,
			    const cJSON *);
static int		 apply_echoes(struct req *, const struct channel *,
			    const cJSON *);
static int		 apply_handover(struct req *, const struct channel *,
			    const cJSON *);
static const cJSON	*standby_messages(const char *, const cJSON *);
static int		 no_number(struct req *);

static const struct webhook_provider provider = {
	.name = "meta",
	.kind = "meta",
	.sig_header = "X-Hub-Signature-256",
	.verify = hmac_meta_verify,
};

/* Short, printable, no spaces: it goes back out as our body. */
static bool
challenge_ok(const char *s)
{
	size_t	 n;

	if (s == NULL || (n = strlen(s)) == 0 || n > CHALLENGE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	return true;
}

int
webhook_meta_verify(struct req *r)
{
	const char	*mode = req_query(r, "hub.mode");
	const char	*token = req_query(r, "hub.verify_token");
	const char	*challenge = req_query(r, "hub.challenge");
	struct db	*db;

	if (!str_eq(mode, "subscribe") || token == NULL || *token == '\0')
		return webhook_text(r, 403, "Forbidden\n");
	if (!challenge_ok(challenge))
		return webhook_text(r, 400, "Bad hub.challenge\n");
	if ((db = req_db(r)) == NULL)
		return resp_unavailable(r);
	switch (channel_meta_verify_token_any_org(db, r->app->key, token)) {
	case DB_OK:
		log_info("webhook", "msg=\"meta subscription verified\"");
		return resp_send(r, 200, "text/plain; charset=utf-8",
		    challenge, strlen(challenge));
	case DB_NOT_FOUND:
		log_info("webhook", "msg=\"meta verify token matches no "
		    "channel\"");
		return webhook_text(r, 403, "Forbidden\n");
	default:
		return resp_unavailable(r);
	}
}

/*
 * The number a change is for: value.metadata.phone_number_id, or for a
 * messaging_handovers change value.recipient.phone_number_id (§7.2).
 */
static const char *
change_number(const cJSON *value)
{
	const char	*id;

	id = webhook_json_str(cJSON_GetObjectItemCaseSensitive(value,
	    "metadata"), "phone_number_id");
	if (id == NULL)
		id = webhook_json_str(cJSON_GetObjectItemCaseSensitive(value,
		    "recipient"), "phone_number_id");
	return id;
}

/*
 * Every distinct number the changes name (change_number); 400 (sent)
 * when the delivery is not Meta's shape or names implausible or too many
 * ids.
 */
static int
collect_numbers(struct req *r, const cJSON *root, struct webhook_number *nums,
    int *n)
{
	const cJSON	*entries = cJSON_GetObjectItemCaseSensitive(root, "entry");
	const cJSON	*entry, *change;

	*n = 0;
	if (!cJSON_IsArray(entries))
		return webhook_text(r, 400, "No entry array.\n");
	cJSON_ArrayForEach(entry, entries) {
		const cJSON	*changes =
		    cJSON_GetObjectItemCaseSensitive(entry, "changes");

		if (!cJSON_IsArray(changes))
			continue;
		cJSON_ArrayForEach(change, changes) {
			const cJSON	*value;
			const char	*id;

			value = cJSON_GetObjectItemCaseSensitive(change,
			    "value");
			if ((id = change_number(value)) == NULL)
				continue;
			if (!webhook_number_add(nums, n, id))
				return webhook_text(r, 400, "Bad or too many "
				    "phone_number_id values.\n");
		}
	}
	return 0;
}

/*
 * The contacts[] entry of an author: the one with its user id, else with
 * its phone (wa_id, digits), else the only one; NULL when none fits
 * (§1.2: wa_id may be "" for a user known by its id only).
 */
static const cJSON *
contact_of(const cJSON *contacts, const char *user_id, const char *wa_id)
{
	const cJSON	*c;

	if (!cJSON_IsArray(contacts))
		return NULL;
	if (user_id != NULL && *user_id != '\0')
		cJSON_ArrayForEach(c, contacts)
			if (str_eq(webhook_json_str(c, "user_id"), user_id))
				return c;
	if (wa_id != NULL && *wa_id != '\0') {
		if (*wa_id == '+')
			wa_id++;
		cJSON_ArrayForEach(c, contacts)
			if (str_eq(webhook_json_str(c, "wa_id"), wa_id))
				return c;
	}
	if (cJSON_GetArraySize(contacts) == 1)
		return cJSON_GetArrayItem(contacts, 0);
	return NULL;
}

/* "+<digits>" for Meta's bare digits; other forms (BSUIDs) unchanged. */
static const char *
plus_number(struct arena *a, const char *from)
{
	size_t	 n = strspn(from, "0123456789");

	if (n > 0 && from[n] == '\0')
		return arena_printf(a, "+%s", from);
	return from;
}

/* A "contacts" message's cards (its own array, not value.contacts). */
static const cJSON *
msg_contacts(const cJSON *msg)
{
	return cJSON_GetObjectItemCaseSensitive(msg, "contacts");
}

/*
 * Fills type-dependent body and media (§2.3's message types) and what
 * the item is (struct inbound kind): a reaction, a system notice or an
 * unsupported message are stored, never answered as messages.
 */
static void
message_body(struct arena *a, const cJSON *msg, const char *type,
    struct inbound *out)
{
	const cJSON	*obj = cJSON_GetObjectItemCaseSensitive(msg, type);
	const char	*s;

	out->body = "";
	if (str_eq(type, "text")) {
		if ((s = webhook_json_str(obj, "body")) != NULL)
			out->body = s;
	} else if (str_eq(type, "image") || str_eq(type, "video") ||
	    str_eq(type, "audio") || str_eq(type, "document") ||
	    str_eq(type, "sticker")) {
		cJSON		*media = cJSON_CreateArray();
		cJSON		*m = cJSON_CreateObject();
		const cJSON	*voice;
		const char	*keys[][2] = {
			{ "id", "id" }, { "url", "url" },
			{ "mime_type", "contentType" },
			{ "caption", "caption" }, { "filename", "filename" },
		};

		arena_defer(a, (void (*)(void *))cJSON_Delete, media);
		cJSON_AddItemToArray(media, m);
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if ((s = webhook_json_str(obj, keys[i][0])) != NULL)
				cJSON_AddStringToObject(m, keys[i][1], s);
		voice = cJSON_GetObjectItemCaseSensitive(obj, "voice");
		if (cJSON_IsBool(voice))
			cJSON_AddBoolToObject(m, "voice", cJSON_IsTrue(voice));
		out->media = media;
		if ((s = webhook_json_str(obj, "caption")) != NULL)
			out->body = s;
	} else if (str_eq(type, "interactive")) {
		const cJSON	*reply;

		reply = cJSON_GetObjectItemCaseSensitive(obj, "button_reply");
		/* Kapso may send a template tap this way (docs/templates.md
		 * §3): our Continue payload as the reply's id. */
		out->window_continue = window_is_continue(webhook_json_str(reply,
		    "id"));
		if (reply == NULL)
			reply = cJSON_GetObjectItemCaseSensitive(obj,
			    "list_reply");
		if ((s = webhook_json_str(reply, "title")) != NULL)
			out->body = s;
	} else if (str_eq(type, "button")) {
		/* A template's quick reply: ours carries parley_continue. */
		out->window_continue = window_is_continue(webhook_json_str(obj,
		    "payload"));
		if ((s = webhook_json_str(obj, "text")) != NULL)
			out->body = s;
	} else if (str_eq(type, "reaction")) {
		/* No emoji: the user took the reaction back (§2.3). */
		out->kind = INBOUND_REACTION;
		out->target_id = webhook_json_str(obj, "message_id");
		if ((s = webhook_json_str(obj, "emoji")) != NULL)
			out->body = s;
	} else if (str_eq(type, "system")) {
		const char	*to = webhook_json_str(obj, "wa_id");

		out->kind = INBOUND_SYSTEM;
		if ((s = webhook_json_str(obj, "body")) != NULL)
			out->body = s;
		if (to == NULL)
			to = webhook_json_str(obj, "new_wa_id");
		if (str_eq(webhook_json_str(obj, "type"),
		    "user_changed_number") && to != NULL && webhook_id_ok(to))
			out->new_contact = plus_number(a, to);
	} else if (str_eq(type, "unsupported") || str_eq(type, "unknown")) {
		out->kind = INBOUND_UNSUPPORTED;
	} else if (str_eq(type, "contacts")) {
		const cJSON	*c;

		cJSON_ArrayForEach(c, msg_contacts(msg)) {
			const char	*name = webhook_json_str(
					    cJSON_GetObjectItemCaseSensitive(c,
					    "name"), "formatted_name");
			const char	*phone = webhook_json_str(
					    cJSON_GetArrayItem(
					    cJSON_GetObjectItemCaseSensitive(c,
					    "phones"), 0), "phone");

			out->body = arena_printf(a, "%s%s[contact card: %s%s%s]",
			    out->body, *out->body != '\0' ? " " : "",
			    name != NULL ? name : "someone",
			    phone != NULL ? " " : "", phone != NULL ? phone : "");
		}
	} else if (str_eq(type, "order")) {
		out->body = "[an order from the catalogue]";
	} else if (str_eq(type, "location")) {
		const cJSON	*lat = cJSON_GetObjectItemCaseSensitive(obj,
				    "latitude");
		const cJSON	*lng = cJSON_GetObjectItemCaseSensitive(obj,
				    "longitude");
		const char	*name = webhook_json_str(obj, "name");
		const char	*addr = webhook_json_str(obj, "address");

		if (cJSON_IsNumber(lat) && cJSON_IsNumber(lng))
			out->body = arena_printf(a, "%.6f,%.6f%s%s%s%s",
			    lat->valuedouble, lng->valuedouble,
			    name ? " " : "", name ? name : "",
			    addr ? " " : "", addr ? addr : "");
	}
}

/* s when it is set, else "" (never NULL). */
static const char *
set_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

/*
 * The identity of an author or addressee: from the object's own fields
 * (phone_key: "from" or "to"; uid_key: "from_user_id" or "to_user_id"),
 * completed from its contacts[] entry, then from fallback. False when
 * neither a phone nor a user id is left, or one is malformed.
 */
static bool
ident_read(struct arena *a, const cJSON *msg, const char *phone_key,
    const char *uid_key, const char *puid_key, const cJSON *contacts,
    const struct contact_ident *fallback, const char **name,
    struct contact_ident *out)
{
	const char	*raw = set_or_empty(webhook_json_str(msg, phone_key));
	const char	*uid = set_or_empty(webhook_json_str(msg, uid_key));
	const char	*puid = set_or_empty(webhook_json_str(msg, puid_key));
	const char	*phone = webhook_phone(a, raw);
	const cJSON	*c, *profile;

	/* An address of an earlier shape: the user id in `from` itself. */
	if (phone == NULL && *raw != '\0' && *uid == '\0' &&
	    waid_is_user_id(raw))
		uid = raw;
	c = contact_of(contacts, uid, raw);
	profile = cJSON_GetObjectItemCaseSensitive(c, "profile");
	if (phone == NULL)
		phone = webhook_phone(a, webhook_json_str(c, "wa_id"));
	if (*uid == '\0')
		uid = set_or_empty(webhook_json_str(c, "user_id"));
	if (*puid == '\0')
		puid = set_or_empty(webhook_json_str(c, "parent_user_id"));
	out->username = webhook_json_str(profile, "username");
	if (name != NULL && *name == NULL)
		*name = webhook_json_str(profile, "name");
	if (fallback != NULL) {
		if (phone == NULL)
			phone = webhook_phone(a, fallback->phone);
		if (*uid == '\0')
			uid = set_or_empty(fallback->user_id);
		if (*puid == '\0')
			puid = set_or_empty(fallback->parent_user_id);
		if (out->username == NULL)
			out->username = fallback->username;
	}
	if (out->username != NULL && !webhook_ident_ok(out->username))
		out->username = NULL;
	if ((*uid != '\0' && !webhook_id_ok(uid)) ||
	    (*puid != '\0' && !webhook_id_ok(puid)))
		return false;
	out->phone = phone != NULL ? phone : "";
	out->user_id = uid;
	out->parent_user_id = puid;
	return phone != NULL || *uid != '\0';
}

/* The provider timestamp (a string or a number of seconds; 0: none). */
static int64_t
timestamp_of(const cJSON *msg)
{
	const cJSON	*ts = cJSON_GetObjectItemCaseSensitive(msg, "timestamp");
	int64_t		 t = 0;

	if (cJSON_IsString(ts)) {
		if (!str_to_i64(ts->valuestring, &t))
			t = 0;
	} else if (!json_int64(ts, &t))
		t = 0;
	return t < 0 ? 0 : t;
}

bool
webhook_meta_message(struct arena *a, const cJSON *msg, const cJSON *contacts,
    const char *sender_name, const struct contact_ident *fallback,
    struct inbound *out)
{
	const char	*id = webhook_json_str(msg, "id");
	const char	*type = webhook_json_str(msg, "type");
	const char	*group = webhook_json_str(msg, "group_id");
	const char	*uid_key = "from_user_id";
	const char	*name = sender_name;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(msg) || !webhook_id_ok(id) || type == NULL ||
	    *type == '\0' || strlen(type) > 32)
		return false;
	/* The id's name before §1.2's from_user_id (kept for old senders). */
	if (webhook_json_str(msg, uid_key) == NULL &&
	    webhook_json_str(msg, "user_id") != NULL)
		uid_key = "user_id";
	if (!ident_read(a, msg, "from", uid_key, "from_parent_user_id",
	    contacts, fallback, &name, &out->from))
		return false;
	out->provider_message_id = id;
	out->type = type;
	out->sender = *out->from.phone != '\0' ? out->from.phone :
	    out->from.user_id;
	if (strlen(out->sender) > WEBHOOK_ID_MAX)
		return false;
	out->sender_name = name != NULL ? name : "";
	out->timestamp = timestamp_of(msg);
	if (group != NULL) {
		if (!webhook_id_ok(group))
			return false;
		out->is_group = true;
		out->chat_external_id = group;
	} else
		out->chat_external_id = out->sender;
	out->group_name = "";
	out->kind = INBOUND_MESSAGE;
	message_body(a, msg, type, out);
	return true;
}

bool
webhook_meta_echo(struct arena *a, const cJSON *msg, const cJSON *contacts,
    const struct contact_ident *fallback, struct chat_echo *out)
{
	const char	*id = webhook_json_str(msg, "id");
	const char	*type = webhook_json_str(msg, "type");
	struct inbound	 body;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(msg) || !webhook_id_ok(id) || type == NULL ||
	    *type == '\0' || strlen(type) > 32)
		return false;
	if (!ident_read(a, msg, "to", "to_user_id", "to_parent_user_id",
	    contacts, fallback, NULL, &out->to))
		return false;
	memset(&body, 0, sizeof(body));
	message_body(a, msg, type, &body);
	out->provider_message_id = id;
	out->type = type;
	out->body = body.body;
	out->media = body.media;
	out->timestamp = timestamp_of(msg);
	return true;
}

/*
 * value.statuses[] of one verified change → the outbox (webhook_status),
 * with each status's pricing (§6). A status is matched by its wamid only:
 * a failed one carries no contact (§1.3).
 */
static int
apply_statuses(struct req *r, const struct channel *ch, const cJSON *statuses)
{
	const cJSON	*s;
	int		 rc;

	if (!cJSON_IsArray(statuses) || cJSON_GetArraySize(statuses) == 0)
		return 0;
	cJSON_ArrayForEach(s, statuses) {
		const char	*id = webhook_json_str(s, "id");
		const char	*status = webhook_json_str(s, "status");
		const cJSON	*err = cJSON_GetArrayItem(
				    cJSON_GetObjectItemCaseSensitive(s,
				    "errors"), 0);
		const cJSON	*code = cJSON_GetObjectItemCaseSensitive(err,
				    "code");
		const char	*title = webhook_json_str(err, "title");
		const char	*code_s = "";
		struct fee	 fee;
		int64_t		 code_n;

		if (!webhook_id_ok(id) || status == NULL)
			continue;
		/* played: the first play of a voice note, so it was read. */
		if (str_eq(status, "played"))
			status = "read";
		if (!str_eq(status, "sent") && !str_eq(status, "delivered") &&
		    !str_eq(status, "read") && !str_eq(status, "failed"))
			continue;
		if (json_int64(code, &code_n))
			code_s = arena_printf(r->arena, "%lld",
			    (long long)code_n);
		else if (cJSON_IsString(code))
			code_s = code->valuestring;
		(void)webhook_meta_pricing(cJSON_GetObjectItemCaseSensitive(s,
		    "pricing"), &fee);
		if ((rc = webhook_status(r, ch, id, status, code_s,
		    title != NULL ? title : "", &fee)) != 0)
			return rc;
	}
	return 0;
}

/*
 * "changed from <old> to <new>" of a system body (§1.4: the fallback for
 * the old id when the message names none).
 */
static const char *
body_old_id(struct arena *a, const char *body)
{
	const char	*p, *q;

	if (body == NULL || (p = strstr(body, " changed from ")) == NULL)
		return "";
	p += strlen(" changed from ");
	if ((q = strstr(p, " to ")) == NULL || q == p)
		return "";
	p = arena_strndup(a, p, (size_t)(q - p));
	return waid_is_user_id(p) ? p : "";
}

/*
 * A system message (§1.4): user_changed_user_id (the user id changed;
 * the old one is the message's from_user_id, else in the body) or
 * user_changed_number (a new phone: system.wa_id, new_wa_id before). The
 * contact's chat takes the new identity and notes it; *now gets that
 * identity (untouched for other system messages, which are only
 * logged). The notice itself is then ingested as kind system, settled:
 * nothing to answer.
 */
static int
apply_system(struct req *r, const struct channel *ch, const cJSON *m,
    struct contact_ident *now)
{
	const cJSON			*sys;
	struct chat_ident_change	 c;
	const char			*type, *wa;

	sys = cJSON_GetObjectItemCaseSensitive(m, "system");
	type = webhook_json_str(sys, "type");
	memset(&c, 0, sizeof(c));
	if (str_eq(type, "user_changed_user_id")) {
		c.old_user_id = webhook_json_str(m, "from_user_id");
		if (c.old_user_id == NULL || *c.old_user_id == '\0')
			c.old_user_id = body_old_id(r->arena,
			    webhook_json_str(sys, "body"));
		c.old_phone = webhook_phone(r->arena, webhook_json_str(m,
		    "from"));
		c.now.user_id = webhook_json_str(sys, "user_id");
		c.now.parent_user_id = webhook_json_str(sys, "parent_user_id");
		c.now.phone = webhook_phone(r->arena, webhook_json_str(sys,
		    "wa_id"));
	} else if (str_eq(type, "user_changed_number")) {
		c.old_phone = webhook_phone(r->arena, webhook_json_str(m,
		    "from"));
		c.old_user_id = webhook_json_str(m, "from_user_id");
		wa = webhook_json_str(sys, "wa_id");
		if (wa == NULL || *wa == '\0')
			wa = webhook_json_str(sys, "new_wa_id");
		c.now.phone = webhook_phone(r->arena, wa);
		c.now.user_id = webhook_json_str(sys, "user_id");
		c.now.parent_user_id = webhook_json_str(sys, "parent_user_id");
	} else {
		log_info("webhook", "msg=\"meta system message ignored\" "
		    "channel=%lld type=\"%s\"", (long long)ch->id,
		    type != NULL && webhook_id_ok(type) ? type : "?");
		return 0;
	}
	if ((c.now.user_id != NULL && *c.now.user_id != '\0' &&
	    !webhook_id_ok(c.now.user_id)) || (c.now.parent_user_id != NULL &&
	    *c.now.parent_user_id != '\0' &&
	    !webhook_id_ok(c.now.parent_user_id)) ||
	    (c.old_user_id != NULL && *c.old_user_id != '\0' &&
	    !webhook_id_ok(c.old_user_id)) ||
	    ((c.now.user_id == NULL || *c.now.user_id == '\0') &&
	    c.now.phone == NULL)) {
		log_info("webhook", "msg=\"malformed identity change "
		    "skipped\" channel=%lld", (long long)ch->id);
		return 0;
	}
	*now = c.now;
	return webhook_identity_change(r, ch, &c);
}

/* value.user_id_update[] (§1.4): {wa_id, user_id{previous,current},
 * parent_user_id{previous,current}}. */
static int
apply_id_updates(struct req *r, const struct channel *ch,
    const cJSON *updates)
{
	const cJSON	*u;
	int		 rc;

	cJSON_ArrayForEach(u, updates) {
		const cJSON			*uid, *puid;
		struct chat_ident_change	 c;

		uid = cJSON_GetObjectItemCaseSensitive(u, "user_id");
		puid = cJSON_GetObjectItemCaseSensitive(u, "parent_user_id");
		memset(&c, 0, sizeof(c));
		c.old_user_id = webhook_json_str(uid, "previous");
		c.now.user_id = webhook_json_str(uid, "current");
		c.now.parent_user_id = webhook_json_str(puid, "current");
		c.now.phone = webhook_phone(r->arena, webhook_json_str(u,
		    "wa_id"));
		c.old_phone = c.now.phone;
		if (!webhook_id_ok(c.now.user_id) ||
		    (c.old_user_id != NULL && *c.old_user_id != '\0' &&
		    !webhook_id_ok(c.old_user_id)) ||
		    (c.now.parent_user_id != NULL &&
		    !webhook_id_ok(c.now.parent_user_id)))
			continue;
		if ((rc = webhook_identity_change(r, ch, &c)) != 0)
			return rc;
	}
	return 0;
}

/* smb_message_echoes' value.message_echoes[] (§7.1). */
static int
apply_echoes(struct req *r, const struct channel *ch, const cJSON *value)
{
	const cJSON	*contacts, *e;
	int		 rc;

	contacts = cJSON_GetObjectItemCaseSensitive(value, "contacts");
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(value,
	    "message_echoes")) {
		struct chat_echo	 echo;

		if (!webhook_meta_echo(r->arena, e, contacts, NULL, &echo)) {
			log_warn("webhook", "msg=\"skipped a malformed meta "
			    "echo\" channel=%lld", (long long)ch->id);
			continue;
		}
		if ((rc = webhook_echo(r, ch, &echo)) != 0)
			return rc;
	}
	return 0;
}

/*
 * messaging_handovers (§7.2): control_passed comes to the new owner (us),
 * control_taken to the previous one (us): the thread is ours, or another
 * app's. The thread is named by sender.phone_number and/or
 * sender.user_id.
 */
static int
apply_handover(struct req *r, const struct channel *ch, const cJSON *value)
{
	const cJSON		*sender;
	const char		*type = webhook_json_str(value, "type");
	struct contact_ident	 who;

	memset(&who, 0, sizeof(who));
	sender = cJSON_GetObjectItemCaseSensitive(value, "sender");
	who.phone = webhook_phone(r->arena, webhook_json_str(sender,
	    "phone_number"));
	who.user_id = webhook_json_str(sender, "user_id");
	if (who.user_id != NULL && !webhook_id_ok(who.user_id))
		who.user_id = NULL;
	if (type == NULL) {
		if (cJSON_GetObjectItemCaseSensitive(value,
		    "control_passed") != NULL)
			type = "control_passed";
		else if (cJSON_GetObjectItemCaseSensitive(value,
		    "control_taken") != NULL)
			type = "control_taken";
	}
	if (!str_eq(type, "control_passed") && !str_eq(type, "control_taken"))
		return 0;
	return webhook_owner(r, ch, &who, str_eq(type, "control_passed"),
	    "Meta conversation routing");
}

/*
 * The messages a standby change carries (§7.3): value.standby.messages,
 * or value.messages under field "standby"; NULL for other changes.
 */
static const cJSON *
standby_messages(const char *field, const cJSON *value)
{
	const cJSON	*sb = cJSON_GetObjectItemCaseSensitive(value, "standby");

	if (cJSON_IsObject(sb))
		return cJSON_GetObjectItemCaseSensitive(sb, "messages");
	if (str_eq(field, "standby"))
		return cJSON_GetObjectItemCaseSensitive(value, "messages");
	return NULL;
}

/*
 * A verified delivery naming no number (account-level fields): nothing of
 * ours to do, 200. Unsigned or signed by no Meta channel's app secret:
 * 403, recorded without a channel.
 */
static int
no_number(struct req *r)
{
	const char	*hdr = req_header(r, provider.sig_header);
	struct db	*db;

	if (hdr == NULL || *hdr == '\0')
		return webhook_reject(r, provider.name, 0, 0,
		    "missing signature", "names no phone_number_id");
	if ((db = req_db(r)) == NULL)
		return resp_unavailable(r);
	switch (channel_meta_signature_any_org(db, r->app->key, r->body,
	    r->body_len, hdr)) {
	case DB_OK:
		log_info("webhook", "msg=\"meta delivery names no number\"");
		return webhook_text(r, 200, "ignored\n");
	case DB_NOT_FOUND:
		return webhook_reject(r, provider.name, 0, 0, "bad signature",
		    "names no phone_number_id; no Meta channel's app secret "
		    "verifies it");
	default:
		return resp_unavailable(r);
	}
}

int
webhook_meta_event(struct req *r)
{
	struct webhook_number	 nums[WEBHOOK_MAX_NUMBERS];
	struct ingest_item	*items = NULL;
	struct inbound		*ins;
	const cJSON		*entry, *change;
	cJSON			*root;
	int			 n_nums, n_items = 0, n_max = 0, st;

	if ((st = webhook_json_body(r, &root)) != 0)
		return st;
	if ((st = collect_numbers(r, root, nums, &n_nums)) != 0)
		return st;
	if (n_nums == 0)
		return no_number(r);
	if ((st = webhook_verify_numbers(r, &provider, nums, n_nums)) != 0)
		return st;

	/* Verified: walk it, counting first to size the batch. */
	cJSON_ArrayForEach(entry, cJSON_GetObjectItemCaseSensitive(root,
	    "entry"))
		cJSON_ArrayForEach(change,
		    cJSON_GetObjectItemCaseSensitive(entry, "changes")) {
			const cJSON	*value =
			    cJSON_GetObjectItemCaseSensitive(change, "value");
			const char	*field = webhook_json_str(change,
					    "field");

			n_max += cJSON_GetArraySize(
			    cJSON_GetObjectItemCaseSensitive(value,
			    "messages"));
			if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(
			    value, "standby")))
				n_max += cJSON_GetArraySize(
				    standby_messages(field, value));
		}
	if (n_max > MESSAGES_MAX)
		return webhook_text(r, 413, "Too many messages.\n");
	items = arena_alloc(r->arena, sizeof(*items) * (size_t)(n_max + 1));
	ins = arena_alloc(r->arena, sizeof(*ins) * (size_t)(n_max + 1));
	cJSON_ArrayForEach(entry, cJSON_GetObjectItemCaseSensitive(root,
	    "entry")) {
		cJSON_ArrayForEach(change,
		    cJSON_GetObjectItemCaseSensitive(entry, "changes")) {
			const cJSON		*value, *msgs, *m, *contacts;
			const struct channel	*ch;
			const char		*field;
			bool			 standby;

			field = webhook_json_str(change, "field");
			value = cJSON_GetObjectItemCaseSensitive(change,
			    "value");
			ch = webhook_number_channel(nums, n_nums,
			    change_number(value));
			if (ch == NULL)
				continue;
			if ((st = apply_statuses(r, ch,
			    cJSON_GetObjectItemCaseSensitive(value,
			    "statuses"))) != 0)
				return st;
			if (str_eq(field, "smb_message_echoes"))
				st = apply_echoes(r, ch, value);
			else if (str_eq(field, "messaging_handovers"))
				st = apply_handover(r, ch, value);
			else if (str_eq(field, "user_id_update"))
				st = apply_id_updates(r, ch,
				    cJSON_GetObjectItemCaseSensitive(value,
				    "user_id_update"));
			if (st != 0)
				return st;
			/* Stored, never answered: another app has the
			 * thread (§7.3). */
			msgs = standby_messages(field, value);
			standby = msgs != NULL;
			if (!standby)
				msgs = cJSON_GetObjectItemCaseSensitive(value,
				    "messages");
			if (!cJSON_IsArray(msgs) || str_eq(field,
			    "smb_message_echoes") || str_eq(field, "history"))
				continue;
			contacts = cJSON_GetObjectItemCaseSensitive(value,
			    "contacts");
			cJSON_ArrayForEach(m, msgs) {
				struct inbound		*in = &ins[n_items];
				struct contact_ident	 now;
				bool			 is_system;

				if (n_items >= n_max)
					break;
				/* A notice about the contact: its identity
				 * changes now, and the notice is stored
				 * (kind system, settled) for the timeline,
				 * in the chat the new identity names. */
				memset(&now, 0, sizeof(now));
				is_system = str_eq(webhook_json_str(m,
				    "type"), "system");
				if (is_system && !standby &&
				    (st = apply_system(r, ch, m, &now)) != 0)
					return st;
				if (!webhook_meta_message(r->arena, m,
				    contacts, NULL, NULL, in)) {
					log_warn("webhook", "msg=\"skipped a "
					    "malformed meta message\" "
					    "channel=%lld", (long long)ch->id);
					continue;
				}
				if (is_system)
					in->from = now;
				items[n_items].org_id = ch->org_id;
				items[n_items].channel_id = ch->id;
				items[n_items].in = in;
				/* A standby message is stored with its reason;
				 * Continue only releases what is held. */
				if (standby)
					in->kind = INBOUND_STANDBY;
				items[n_items].auto_answer = !standby &&
				    ingest_is_fresh(r->app, in->timestamp) &&
				    !in->window_continue;
				n_items++;
			}
		}
	}
	req_release_db(r);
	if (ingest_store(r->app, items, n_items) != INGEST_OK)
		return resp_unavailable(r);
	webhook_record_unstored(r, "meta", items, n_items);
	return webhook_text(r, 200, "ok\n");
}
