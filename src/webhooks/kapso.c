/*
 * kapso: Kapso's phone-number webhook (messages and their statuses) and
 * its project webhook (number connected), PROTOCOLS.md §3.
 *
 * X-Webhook-Signature is the hex HMAC-SHA256 of the raw body with the
 * channel's webhook secret (§3.2). The channel is named by phone_number_id
 * at the payload root (v2), or whatsapp_config.phone_number_id (v1
 * legacy); a buffered batch ({"batch":true,"data":[…]}, §3.3) carries one
 * payload per message and is stored in ONE ingest call. A batch is known
 * by the X-Webhook-Batch: true header or the body's "batch": true, either
 * one (Kapso's own handler example tests both, docs/whatsapp-platform.md
 * §8); a batch without a data array is malformed (400). The event name is
 * in X-Webhook-Event (v2), else the body's "type". Events we do not use
 * are acknowledged (200) after verification, so Kapso does not retry or
 * pause the webhook. A voice note's transcript (message.kapso.transcript)
 * is stored with the message.
 *
 * The contact (docs/whatsapp-platform.md §2): the message's own from /
 * from_user_id (Meta's shape), completed from the conversation object
 * (phone_number, business_scoped_user_id, parent_business_scoped_user_id,
 * username), since no field is always present. A message whose
 * message.kapso.origin is "business_app" was sent by the business from
 * the WhatsApp Business app, whatever the event (§7.4): it is stored as a
 * person's message and the chat goes to a person (chat/coexist.h).
 * Statuses carry Meta's status objects in message.kapso.statuses[], whose
 * pricing is recorded (§6). whatsapp.contact.identity_changed moves a
 * contact to its new ids (§2); whatsapp.meta_business_agent.handover
 * moves the thread's owner (§7.4, payload UNCONFIRMED: read as Meta's
 * handover when it has that shape, else as the Meta Business Agent
 * handing the conversation to the business, i.e. to Parley). Kapso retries non-200 after 10, 40 and 90 s
 * and wants an answer within 10 s: ingest's waits are bounded by the
 * pool's acquire timeout.
 *
 * The project webhook: PROTOCOLS.md does not say which secret signs it
 * (a project webhook has its own secret_key at Kapso). Parley requires it
 * to verify with the webhook secret of the channel its phone_number_id
 * names, and fails closed otherwise (no id, unknown id, other secret), so
 * the channel page must tell users to give the project webhook that same
 * secret. Only whatsapp.phone_number.created does anything: it marks the
 * channel connected.
 */
#include "webhooks/webhooks.h"

#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "util/context.h"
#include "util/log.h"
#include "chat/chats.h"
#include "chat/coexist.h"
#include "chat/fees.h"
#include "chat/ingest.h"
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

/* Kapso's buffer holds at most 100 messages (§3.3); room to spare. */
#define PAYLOADS_MAX	200

static const char	*event_name(struct req *, const cJSON *);
static bool		 is_batch(struct req *, const cJSON *);
static const char	*payload_number(const cJSON *);
static void		 conv_ident(const cJSON *, const cJSON *,
			    struct contact_ident *);
static bool		 from_business_app(const cJSON *);
static int		 echo(struct req *, const struct channel *,
			    const cJSON *);
static int		 received(struct req *, const cJSON **, int,
			    const struct webhook_number *, int);
static int		 statuses(struct req *, const char *, const cJSON **,
			    int, const struct webhook_number *, int);
static int		 identity_changed(struct req *, const cJSON **, int,
			    const struct webhook_number *, int);
static int		 handover(struct req *, const cJSON **, int,
			    const struct webhook_number *, int);

static const struct webhook_provider provider = {
	.name = "kapso",
	.kind = "kapso",
	.sig_header = "X-Webhook-Signature",
	.verify = hmac_kapso_verify,
};

static const char *
event_name(struct req *r, const cJSON *root)
{
	const char	*ev = req_header(r, "X-Webhook-Event");

	if (ev == NULL || *ev == '\0')
		ev = webhook_json_str(root, "type");
	if (ev == NULL)
		ev = webhook_json_str(root, "event");
	return ev != NULL ? ev : "";
}

static bool
is_batch(struct req *r, const cJSON *root)
{
	const char	*h = req_header(r, "X-Webhook-Batch");

	return (h != NULL && strcasecmp(h, "true") == 0) ||
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "batch"));
}

/* v2 root phone_number_id, else v1 whatsapp_config's, else the
 * conversation's; NULL when none. */
static const char *
payload_number(const cJSON *p)
{
	const char	*id = webhook_json_str(p, "phone_number_id");

	if (id == NULL)
		id = webhook_json_str(cJSON_GetObjectItemCaseSensitive(p,
		    "whatsapp_config"), "phone_number_id");
	if (id == NULL)
		id = webhook_json_str(cJSON_GetObjectItemCaseSensitive(p,
		    "conversation"), "phone_number_id");
	return id;
}

/*
 * The contact as the conversation object names it (§2: every field may
 * be missing), the message's username when the conversation has none.
 */
static void
conv_ident(const cJSON *conv, const cJSON *msg, struct contact_ident *out)
{
	memset(out, 0, sizeof(*out));
	out->phone = webhook_json_str(conv, "phone_number");
	out->user_id = webhook_json_str(conv, "business_scoped_user_id");
	out->parent_user_id = webhook_json_str(conv,
	    "parent_business_scoped_user_id");
	out->username = webhook_json_str(conv, "username");
	if (out->username == NULL)
		out->username = webhook_json_str(msg, "username");
}

/* message.kapso.origin is "business_app" (§7.4). */
static bool
from_business_app(const cJSON *msg)
{
	return str_eq(webhook_json_str(cJSON_GetObjectItemCaseSensitive(msg,
	    "kapso"), "origin"), "business_app");
}

/* A Business-app message of payload p on ch (chat/coexist.h). */
static int
echo(struct req *r, const struct channel *ch, const cJSON *p)
{
	const cJSON		*msg, *conv;
	struct contact_ident	 who;
	struct chat_echo	 e;

	msg = cJSON_GetObjectItemCaseSensitive(p, "message");
	conv = cJSON_GetObjectItemCaseSensitive(p, "conversation");
	conv_ident(conv, msg, &who);
	if (!webhook_meta_echo(r->arena, msg, NULL, &who, &e)) {
		log_warn("webhook", "msg=\"skipped a malformed kapso "
		    "business-app message\" channel=%lld", (long long)ch->id);
		return 0;
	}
	if (*e.body == '\0' && webhook_json_str(cJSON_GetObjectItemCaseSensitive(
	    msg, "kapso"), "content") != NULL)
		e.body = webhook_json_str(cJSON_GetObjectItemCaseSensitive(msg,
		    "kapso"), "content");
	return webhook_echo(r, ch, &e);
}

/* whatsapp.message.received: every inbound message, one ingest call. */
static int
received(struct req *r, const cJSON **payloads, int n,
    const struct webhook_number *nums, int n_nums)
{
	struct ingest_item	*items;
	struct inbound		*ins;
	int			 n_items = 0, rc;

	items = arena_alloc(r->arena, sizeof(*items) * (size_t)(n + 1));
	ins = arena_alloc(r->arena, sizeof(*ins) * (size_t)(n + 1));
	for (int i = 0; i < n; i++) {
		const cJSON		*msg, *conv, *mk;
		const struct channel	*ch;
		struct contact_ident	 who;
		const char		*dir, *name, *tr;

		ch = webhook_number_channel(nums, n_nums,
		    payload_number(payloads[i]));
		if (ch == NULL)
			continue;
		msg = cJSON_GetObjectItemCaseSensitive(payloads[i], "message");
		conv = cJSON_GetObjectItemCaseSensitive(payloads[i],
		    "conversation");
		mk = cJSON_GetObjectItemCaseSensitive(msg, "kapso");
		if (from_business_app(msg)) {
			if ((rc = echo(r, ch, payloads[i])) != 0)
				return rc;
			continue;
		}
		dir = webhook_json_str(mk, "direction");
		name = webhook_json_str(cJSON_GetObjectItemCaseSensitive(conv,
		    "kapso"), "contact_name");
		conv_ident(conv, msg, &who);
		if (!webhook_meta_message(r->arena, msg, NULL, name, &who,
		    &ins[n_items])) {
			log_warn("webhook", "msg=\"skipped a malformed kapso "
			    "message\" channel=%lld", (long long)ch->id);
			continue;
		}
		/*
		 * What the business sent: an echo of ours is stored already
		 * (its wamid: ingest's dedupe drops it); one sent from
		 * elsewhere (the WhatsApp Business app, origin business_app)
		 * is kept as an echo, never answered.
		 */
		if (dir != NULL && !str_eq(dir, "inbound")) {
			ins[n_items].kind = INBOUND_ECHO;
			ins[n_items].sender = "business";
			ins[n_items].chat_external_id = webhook_json_str(conv,
			    "phone_number") != NULL ? webhook_json_str(conv,
			    "phone_number") : ins[n_items].chat_external_id;
		}
		/*
		 * A voice note's words (message.kapso.transcript.text,
		 * §3.3): stored as the transcript, searched like a body,
		 * and what the model reads; the audio is then never
		 * transcribed again (worker/reply.c).
		 */
		tr = webhook_json_str(cJSON_GetObjectItemCaseSensitive(mk,
		    "transcript"), "text");
		if (tr != NULL && *tr != '\0')
			ins[n_items].transcript = tr;
		/*
		 * Kapso's text rendering for types Meta leaves bodiless; not
		 * for a transcribed voice note, whose rendering would only
		 * repeat (or label) the transcript.
		 */
		if (*ins[n_items].body == '\0' &&
		    webhook_json_str(mk, "content") != NULL &&
		    !str_eq(ins[n_items].type, "reaction") &&
		    ins[n_items].transcript == NULL)
			ins[n_items].body = webhook_json_str(mk, "content");
		items[n_items].org_id = ch->org_id;
		items[n_items].channel_id = ch->id;
		items[n_items].in = &ins[n_items];
		items[n_items].auto_answer = ingest_is_fresh(r->app,
		    ins[n_items].timestamp) && !ins[n_items].window_continue;
		n_items++;
	}
	req_release_db(r);
	if (ingest_store(r->app, items, n_items) != INGEST_OK)
		return resp_unavailable(r);
	webhook_record_unstored(r, "kapso", items, n_items);
	return webhook_text(r, 200, "ok\n");
}

/*
 * whatsapp.message.sent|delivered|read|failed → the outbox
 * (webhook_status), with the pricing of message.kapso.statuses[] (the
 * newest that has one); a Business-app message is an echo instead.
 */
static int
statuses(struct req *r, const char *status, const cJSON **payloads, int n,
    const struct webhook_number *nums, int n_nums)
{
	int	 rc;

	for (int i = 0; i < n; i++) {
		const cJSON		*msg, *hist, *err, *code, *h;
		const struct channel	*ch;
		const char		*id, *title, *code_s = "";
		struct fee		 fee;
		int64_t			 code_n;

		ch = webhook_number_channel(nums, n_nums,
		    payload_number(payloads[i]));
		msg = cJSON_GetObjectItemCaseSensitive(payloads[i], "message");
		id = webhook_json_str(msg, "id");
		if (ch == NULL || !webhook_id_ok(id))
			continue;
		if (from_business_app(msg)) {
			if ((rc = echo(r, ch, payloads[i])) != 0)
				return rc;
			continue;
		}
		/* The failure's Meta error: last status's errors[0]. */
		hist = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(msg, "kapso"), "statuses");
		err = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetArrayItem(hist, cJSON_GetArraySize(hist) - 1),
		    "errors"), 0);
		code = cJSON_GetObjectItemCaseSensitive(err, "code");
		title = webhook_json_str(err, "title");
		if (json_int64(code, &code_n))
			code_s = arena_printf(r->arena, "%lld",
			    (long long)code_n);
		else if (cJSON_IsString(code))
			code_s = code->valuestring;
		memset(&fee, 0, sizeof(fee));
		fee.billable = -1;
		cJSON_ArrayForEach(h, hist) {
			struct fee	 f;

			if (webhook_meta_pricing(
			    cJSON_GetObjectItemCaseSensitive(h, "pricing"),
			    &f))
				fee = f;
		}
		if ((rc = webhook_status(r, ch, id, status, code_s,
		    title != NULL ? title : "", &fee)) != 0)
			return rc;
	}
	return webhook_text(r, 200, "ok\n");
}

/*
 * whatsapp.contact.identity_changed (§2, [KEV]): contact = the identity
 * after the change, previous = the ids before it (either may be null).
 */
static int
identity_changed(struct req *r, const cJSON **payloads, int n,
    const struct webhook_number *nums, int n_nums)
{
	int	 rc;

	for (int i = 0; i < n; i++) {
		const cJSON			*contact, *prev;
		const struct channel		*ch;
		struct chat_ident_change	 c;

		ch = webhook_number_channel(nums, n_nums,
		    payload_number(payloads[i]));
		if (ch == NULL)
			continue;
		contact = cJSON_GetObjectItemCaseSensitive(payloads[i],
		    "contact");
		prev = cJSON_GetObjectItemCaseSensitive(payloads[i],
		    "previous");
		memset(&c, 0, sizeof(c));
		c.old_user_id = webhook_json_str(prev,
		    "business_scoped_user_id");
		c.now.user_id = webhook_json_str(contact,
		    "business_scoped_user_id");
		c.now.parent_user_id = webhook_json_str(contact,
		    "parent_business_scoped_user_id");
		c.now.phone = webhook_phone(r->arena, webhook_json_str(contact,
		    "wa_id"));
		c.now.username = webhook_json_str(contact, "username");
		c.old_phone = c.now.phone;
		if (c.now.username != NULL &&
		    !webhook_ident_ok(c.now.username))
			c.now.username = NULL;
		if (!webhook_id_ok(c.now.user_id) ||
		    (c.old_user_id != NULL && !webhook_id_ok(c.old_user_id)) ||
		    (c.now.parent_user_id != NULL &&
		    !webhook_id_ok(c.now.parent_user_id))) {
			log_info("webhook", "msg=\"malformed kapso identity "
			    "change skipped\" channel=%lld", (long long)ch->id);
			continue;
		}
		if ((rc = webhook_identity_change(r, ch, &c)) != 0)
			return rc;
	}
	return webhook_text(r, 200, "ok\n");
}

/*
 * whatsapp.meta_business_agent.handover (§7.4; payload UNCONFIRMED):
 * the contact from a conversation or contact object (or Meta's sender),
 * the direction from Meta's type / control_passed / control_taken when
 * present; without them, the Meta Business Agent handed the conversation
 * over to the business, which on this number is Parley.
 */
static int
handover(struct req *r, const cJSON **payloads, int n,
    const struct webhook_number *nums, int n_nums)
{
	int	 rc;

	for (int i = 0; i < n; i++) {
		const cJSON		*p = payloads[i], *o, *sender;
		const struct channel	*ch;
		struct contact_ident	 who;
		const char		*type;
		bool			 ours = true;

		ch = webhook_number_channel(nums, n_nums, payload_number(p));
		if (ch == NULL)
			continue;
		o = cJSON_GetObjectItemCaseSensitive(p, "conversation");
		if (o == NULL)
			o = cJSON_GetObjectItemCaseSensitive(p, "contact");
		conv_ident(o, NULL, &who);
		if (who.phone == NULL)
			who.phone = webhook_json_str(o, "wa_id");
		sender = cJSON_GetObjectItemCaseSensitive(p, "sender");
		if (who.phone == NULL)
			who.phone = webhook_json_str(sender, "phone_number");
		if (who.user_id == NULL)
			who.user_id = webhook_json_str(sender, "user_id");
		who.phone = webhook_phone(r->arena, who.phone);
		if (who.user_id != NULL && !webhook_id_ok(who.user_id))
			who.user_id = NULL;
		if (who.parent_user_id != NULL &&
		    !webhook_id_ok(who.parent_user_id))
			who.parent_user_id = NULL;
		if (who.username != NULL && !webhook_ident_ok(who.username))
			who.username = NULL;
		o = cJSON_GetObjectItemCaseSensitive(p, "handover");
		type = webhook_json_str(o != NULL ? o : p, "type");
		if (str_eq(type, "control_taken") ||
		    cJSON_GetObjectItemCaseSensitive(p, "control_taken") !=
		    NULL)
			ours = false;
		if ((rc = webhook_owner(r, ch, &who, ours,
		    "Kapso: Meta Business Agent handover")) != 0)
			return rc;
	}
	return webhook_text(r, 200, "ok\n");
}

int
webhook_kapso_event(struct req *r)
{
	struct webhook_number	 nums[WEBHOOK_MAX_NUMBERS];
	const cJSON		*payloads[PAYLOADS_MAX];
	const cJSON		*data, *p;
	const char		*ev;
	cJSON			*root;
	int			 n = 0, n_nums = 0, st;

	if ((st = webhook_json_body(r, &root)) != 0)
		return st;
	data = cJSON_GetObjectItemCaseSensitive(root, "data");
	if (is_batch(r, root)) {
		if (!cJSON_IsArray(data))
			return webhook_text(r, 400, "A batch without a data "
			    "array.\n");
		cJSON_ArrayForEach(p, data) {
			if (n >= PAYLOADS_MAX)
				return webhook_text(r, 413, "Batch too "
				    "large.\n");
			if (cJSON_IsObject(p))
				payloads[n++] = p;
		}
	} else
		payloads[n++] = root;
	for (int i = 0; i < n; i++) {
		const char	*id = payload_number(payloads[i]);

		if (id != NULL && !webhook_number_add(nums, &n_nums, id))
			return webhook_text(r, 400, "Bad or too many "
			    "phone_number_id values.\n");
	}
	if ((st = webhook_verify_numbers(r, &provider, nums, n_nums)) != 0)
		return st;

	ev = event_name(r, root);
	if (str_eq(ev, "whatsapp.message.received"))
		return received(r, payloads, n, nums, n_nums);
	if (str_eq(ev, "whatsapp.message.sent"))
		return statuses(r, "sent", payloads, n, nums, n_nums);
	if (str_eq(ev, "whatsapp.message.delivered"))
		return statuses(r, "delivered", payloads, n, nums, n_nums);
	if (str_eq(ev, "whatsapp.message.read"))
		return statuses(r, "read", payloads, n, nums, n_nums);
	if (str_eq(ev, "whatsapp.message.failed"))
		return statuses(r, "failed", payloads, n, nums, n_nums);
	if (str_eq(ev, "whatsapp.contact.identity_changed"))
		return identity_changed(r, payloads, n, nums, n_nums);
	if (str_eq(ev, "whatsapp.meta_business_agent.handover"))
		return handover(r, payloads, n, nums, n_nums);
	return webhook_text(r, 200, "ignored\n");
}

int
webhook_kapso_project(struct req *r)
{
	struct webhook_number	 nums[WEBHOOK_MAX_NUMBERS];
	const char		*id;
	cJSON			*root;
	struct db		*db;
	int			 n_nums = 0, st;

	if ((st = webhook_json_body(r, &root)) != 0)
		return st;
	id = payload_number(root);
	if (id != NULL && !webhook_number_add(nums, &n_nums, id))
		return webhook_text(r, 400, "Bad phone_number_id.\n");
	if ((st = webhook_verify_numbers(r, &provider, nums, n_nums)) != 0)
		return st;
	if (!str_eq(event_name(r, root), "whatsapp.phone_number.created"))
		return webhook_text(r, 200, "ignored\n");
	if ((db = req_db(r)) == NULL)
		return resp_unavailable(r);
	switch (channel_set_status_any_org(db, "kapso", id, "connected")) {
	case DB_OK:
		log_info("webhook", "msg=\"kapso number connected\" "
		    "channel=%lld", (long long)nums[0].ch.id);
		return webhook_text(r, 200, "ok\n");
	case DB_NOT_FOUND:
		return webhook_text(r, 200, "ignored\n");
	default:
		return resp_unavailable(r);
	}
}
