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
 * (one transaction for the whole batch), statuses to outbox_status_update.
 * Numbers no channel has are skipped. A delivery naming no number at all
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
#include "webhooks/provider.h"
#include "webhooks/webhook.h"

/* The longest hub.challenge we echo (Meta sends a short number). */
#define CHALLENGE_MAX	256
/* Most messages one delivery may carry (Meta batches up to 1,000). */
#define MESSAGES_MAX	2000

static bool		 challenge_ok(const char *);
static int		 collect_numbers(struct req *, const cJSON *,
			    struct webhook_number *, int *);
static const char	*contact_name(const cJSON *, const char *);
static const char	*plus_number(struct arena *, const char *);
static void		 message_body(struct arena *, const cJSON *,
			    const char *, struct inbound *);
static const cJSON	*msg_contacts(const cJSON *);
static int		 apply_statuses(struct req *, const struct channel *,
			    const cJSON *);
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
 * Every distinct value.metadata.phone_number_id; 400 (sent) when the
 * delivery is not Meta's shape or names implausible or too many ids.
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
			const cJSON	*value, *meta;
			const char	*id;

			value = cJSON_GetObjectItemCaseSensitive(change,
			    "value");
			meta = cJSON_GetObjectItemCaseSensitive(value,
			    "metadata");
			if ((id = webhook_json_str(meta, "phone_number_id")) ==
			    NULL)
				continue;
			if (!webhook_number_add(nums, n, id))
				return webhook_text(r, 400, "Bad or too many "
				    "phone_number_id values.\n");
		}
	}
	return 0;
}

/* contacts[].profile.name of the contact with wa_id, else of the only
 * contact (BSUID senders may have an empty wa_id, §2.3), else NULL. */
static const char *
contact_name(const cJSON *contacts, const char *wa_id)
{
	const cJSON	*c, *profile;

	if (!cJSON_IsArray(contacts))
		return NULL;
	cJSON_ArrayForEach(c, contacts) {
		if (wa_id != NULL && *wa_id != '\0' &&
		    str_eq(webhook_json_str(c, "wa_id"), wa_id)) {
			profile = cJSON_GetObjectItemCaseSensitive(c,
			    "profile");
			return webhook_json_str(profile, "name");
		}
	}
	if (cJSON_GetArraySize(contacts) == 1) {
		profile = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetArrayItem(contacts, 0), "profile");
		return webhook_json_str(profile, "name");
	}
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

bool
webhook_meta_message(struct arena *a, const cJSON *msg,
    const char *sender_name, const char *fallback_sender,
    struct inbound *out)
{
	const char	*id = webhook_json_str(msg, "id");
	const char	*type = webhook_json_str(msg, "type");
	const char	*from = webhook_json_str(msg, "from");
	const char	*user_id = webhook_json_str(msg, "user_id");
	const char	*group = webhook_json_str(msg, "group_id");
	const cJSON	*ts = cJSON_GetObjectItemCaseSensitive(msg, "timestamp");

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(msg) || !webhook_id_ok(id) || type == NULL ||
	    *type == '\0' || strlen(type) > 32)
		return false;
	out->provider_message_id = id;
	out->type = type;
	if (from != NULL && *from != '\0')
		out->sender = plus_number(a, from);
	else if (user_id != NULL && *user_id != '\0')
		out->sender = user_id;
	else if (fallback_sender != NULL && *fallback_sender != '\0')
		out->sender = fallback_sender;
	else
		return false;
	if (strlen(out->sender) > WEBHOOK_ID_MAX)
		return false;
	out->sender_name = sender_name != NULL ? sender_name : "";
	if (cJSON_IsString(ts)) {
		if (!str_to_i64(ts->valuestring, &out->timestamp))
			out->timestamp = 0;
	} else if (!json_int64(ts, &out->timestamp))
		out->timestamp = 0;
	if (out->timestamp < 0)
		out->timestamp = 0;
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

/* value.statuses[] of one verified change → outbox_status_update. */
static int
apply_statuses(struct req *r, const struct channel *ch, const cJSON *statuses)
{
	const cJSON	*s;
	struct db	*db;

	if (!cJSON_IsArray(statuses) || cJSON_GetArraySize(statuses) == 0)
		return 0;
	if ((db = req_db(r)) == NULL)
		return resp_unavailable(r);
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
		int64_t		 code_n;
		enum db_status	 st;

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
		st = outbox_status_update(r->app, db, ch->org_id, ch->id, id,
		    status,
		    code_s, title != NULL ? title : "");
		if (st == DB_UNAVAILABLE)
			return resp_unavailable(r);
		/* DB_NOT_FOUND: not one of ours (or not recorded yet). */
	}
	return 0;
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
		    cJSON_GetObjectItemCaseSensitive(entry, "changes"))
			n_max += cJSON_GetArraySize(
			    cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(change, "value"),
			    "messages"));
	if (n_max > MESSAGES_MAX)
		return webhook_text(r, 413, "Too many messages.\n");
	items = arena_alloc(r->arena, sizeof(*items) * (size_t)(n_max + 1));
	ins = arena_alloc(r->arena, sizeof(*ins) * (size_t)(n_max + 1));
	cJSON_ArrayForEach(entry, cJSON_GetObjectItemCaseSensitive(root,
	    "entry")) {
		cJSON_ArrayForEach(change,
		    cJSON_GetObjectItemCaseSensitive(entry, "changes")) {
			const cJSON		*value, *msgs, *m;
			const struct channel	*ch;

			value = cJSON_GetObjectItemCaseSensitive(change,
			    "value");
			ch = webhook_number_channel(nums, n_nums,
			    webhook_json_str(cJSON_GetObjectItemCaseSensitive(
			    value, "metadata"), "phone_number_id"));
			if (ch == NULL)
				continue;
			if ((st = apply_statuses(r, ch,
			    cJSON_GetObjectItemCaseSensitive(value,
			    "statuses"))) != 0)
				return st;
			msgs = cJSON_GetObjectItemCaseSensitive(value,
			    "messages");
			if (!cJSON_IsArray(msgs))
				continue;
			cJSON_ArrayForEach(m, msgs) {
				struct inbound	*in = &ins[n_items];
				const char	*name;

				name = contact_name(
				    cJSON_GetObjectItemCaseSensitive(value,
				    "contacts"), webhook_json_str(m, "from"));
				if (!webhook_meta_message(r->arena, m, name,
				    NULL, in)) {
					log_warn("webhook", "msg=\"skipped a "
					    "malformed meta message\" "
					    "channel=%lld", (long long)ch->id);
					continue;
				}
				items[n_items].org_id = ch->org_id;
				items[n_items].channel_id = ch->id;
				items[n_items].in = in;
				/* Continue only releases what is held. */
				items[n_items].auto_answer =
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
