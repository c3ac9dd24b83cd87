/*
 * provider: the helpers the provider handlers share (see provider.h):
 * rejections on the channel's health log, plain answers, the JSON body,
 * routing ids, and the signature check of a delivery naming several
 * numbers. Moved out of ingest.c when ingest went down to chat/.
 */
#include "webhooks/provider.h"
#include "webhooks/chancache.h"

#include <string.h>

#include "util/log.h"
#include "channels/channel.h"
#include "chat/chats.h"
#include "chat/coexist.h"
#include "chat/fees.h"
#include "chat/ingest.h"
#include "chat/outbox.h"
#include "db/db.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/channel.h"
#include "util/arena.h"
#include "util/json.h"
#include "util/str.h"
#include "util/context.h"
#include "util/utf8.h"
#include "util/waid.h"
#include "webhooks/webhook.h"

static void	clean_detail(char *, size_t, const char *);

/* Printable ASCII only, at most outlen - 1 bytes: details may be input. */
static void
clean_detail(char *out, size_t outlen, const char *s)
{
	size_t	 j = 0;

	for (; s != NULL && *s != '\0' && j + 1 < outlen; s++)
		out[j++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	out[j] = '\0';
}

void
webhook_record_rejection(struct req *r, const char *provider,
    int64_t org_id, int64_t channel_id, const char *reason,
    const char *detail)
{
	char		 d[301];
	struct db	*db;

	clean_detail(d, sizeof(d), detail);
	log_info("webhook", "msg=\"rejected\" provider=%s reason=\"%s\" "
	    "org=%lld channel=%lld", provider, reason, (long long)org_id,
	    (long long)channel_id);
	/* Best effort: the 403 stands even when the log cannot be written. */
	if ((db = req_db(r)) == NULL ||
	    channel_record_rejection(db, org_id, channel_id, provider, reason,
	    d, req_remote_addr(r)) != DB_OK)
		log_warn("webhook", "msg=\"rejection not recorded\" "
		    "provider=%s", provider);
}

void
webhook_record_unstored(struct req *r, const char *provider,
    const struct ingest_item *items, int n)
{
	for (int i = 0; i < n; i++) {
		if (!items[i].rejected)
			continue;
		webhook_record_rejection(r, provider, items[i].org_id,
		    items[i].channel_id, "message not stored",
		    arena_printf(r->arena, "message %s: the database refused "
		    "one of its values (a timestamp out of range?); the rest "
		    "of the delivery was stored",
		    items[i].in->provider_message_id));
	}
}

int
webhook_reject(struct req *r, const char *provider, int64_t org_id,
    int64_t channel_id, const char *reason, const char *detail)
{
	webhook_record_rejection(r, provider, org_id, channel_id, reason,
	    detail);
	return webhook_text(r, 403, "Forbidden\n");
}

int
webhook_text(struct req *r, int status, const char *text)
{
	return resp_send(r, status, "text/plain; charset=utf-8", text,
	    strlen(text));
}

int
webhook_json_body(struct req *r, cJSON **out)
{
	const char	*ct = req_header(r, "Content-Type");
	enum json_error	 je;
	cJSON		*json;

	*out = NULL;
	if (ct != NULL && strncmp(ct, "application/json", 16) != 0)
		return webhook_text(r, 415, "Send application/json.\n");
	if (r->body == NULL || r->body_len == 0 ||
	    !utf8_valid(r->body, r->body_len))
		return webhook_text(r, 400, "The body is not UTF-8 JSON.\n");
	/* Too deep is 400 like any malformed body (provider.h). */
	if ((json = json_parse(r->body, r->body_len, &je)) == NULL)
		return webhook_text(r, 400, je == JSON_TOO_DEEP ?
		    "The body nests JSON too deeply.\n" :
		    "The body is not valid JSON.\n");
	arena_defer(r->arena, (void (*)(void *))cJSON_Delete, json);
	if (!cJSON_IsObject(json))
		return webhook_text(r, 400, "The body is not a JSON object.\n");
	*out = json;
	return 0;
}

bool
webhook_id_ok(const char *s)
{
	size_t	 n = 0;

	if (s == NULL)
		return false;
	for (; s[n] != '\0'; n++) {
		char	c = s[n];

		if (n >= WEBHOOK_ID_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("._:=+/-", c) != NULL))
			return false;
	}
	return n > 0;
}

const char *
webhook_json_str(const cJSON *o, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool
webhook_number_add(struct webhook_number *nums, int *n, const char *id)
{
	if (!webhook_id_ok(id))
		return false;
	for (int i = 0; i < *n; i++)
		if (strcmp(nums[i].id, id) == 0)
			return true;
	if (*n >= WEBHOOK_MAX_NUMBERS)
		return false;
	memset(&nums[*n], 0, sizeof(nums[*n]));
	nums[(*n)++].id = id;
	return true;
}

const struct channel *
webhook_number_channel(const struct webhook_number *nums, int n,
    const char *id)
{
	for (int i = 0; i < n; i++)
		if (nums[i].known && str_eq(nums[i].id, id))
			return &nums[i].ch;
	return NULL;
}

int
webhook_verify_numbers(struct req *r, const struct webhook_provider *p,
    struct webhook_number *nums, int n)
{
	const char		*hdr = req_header(r, p->sig_header);
	const char		*fail[WEBHOOK_MAX_NUMBERS];
	enum db_status		 st;
	int			 n_known = 0;
	bool			 bad = false;

	if (n <= 0)
		return webhook_reject(r, p->name, 0, 0, "unknown number",
		    "no phone_number_id");
	for (int i = 0; i < n; i++) {
		char	*secret = NULL;

		fail[i] = NULL;
		st = chancache_get(r, p->kind, nums[i].id, &nums[i].ch,
		    &secret);
		if (st == DB_NOT_FOUND)
			continue;
		if (st != DB_OK)
			return resp_unavailable(r);
		nums[i].known = true;
		n_known++;
		if (secret == NULL || *secret == '\0')
			fail[i] = "no secret configured";
		else if (hdr == NULL)
			fail[i] = "missing signature";
		else if (!p->verify(secret, r->body, r->body_len, hdr))
			fail[i] = "bad signature";
		bad |= fail[i] != NULL;
	}
	if (n_known == 0)
		return webhook_reject(r, p->name, 0, 0, "unknown number",
		    arena_printf(r->arena, "phone_number_id %s", nums[0].id));
	if (!bad) {
		for (int i = 0; i < n; i++) {
			if (!nums[i].known)
				log_info("webhook", "msg=\"skipped unknown "
				    "number in a verified delivery\" "
				    "provider=%s", p->name);
			else
				chancache_verified(r, &nums[i].ch);
		}
		return 0;
	}
	/* One delivery, one verdict: every channel it names hears of it. */
	for (int i = 0; i < n; i++)
		if (nums[i].known)
			webhook_record_rejection(r, p->name,
			    nums[i].ch.org_id, nums[i].ch.id,
			    fail[i] != NULL ? fail[i] : "batch rejected",
			    fail[i] != NULL ? arena_printf(r->arena,
			    "phone_number_id %s", nums[i].id) :
			    "another number in the same delivery failed "
			    "its signature check");
	return webhook_text(r, 403, "Forbidden\n");
}

const char *
webhook_phone(struct arena *a, const char *s)
{
	size_t	 n;

	if (s == NULL)
		return NULL;
	if (s[0] == '+')
		s++;
	n = strspn(s, "0123456789");
	if (n == 0 || n > 20 || s[n] != '\0')
		return NULL;
	return arena_printf(a, "+%s", s);
}

bool
webhook_ident_ok(const char *s)
{
	size_t	 n;

	if (s == NULL || (n = strlen(s)) == 0 || n >= WAID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return false;
	return utf8_valid(s, n);
}

bool
webhook_meta_pricing(const cJSON *pricing, struct fee *out)
{
	const cJSON	*b;

	memset(out, 0, sizeof(*out));
	out->billable = -1;
	if (!cJSON_IsObject(pricing))
		return false;
	b = cJSON_GetObjectItemCaseSensitive(pricing, "billable");
	if (cJSON_IsBool(b))
		out->billable = cJSON_IsTrue(b) ? 1 : 0;
	out->pricing_model = webhook_json_str(pricing, "pricing_model");
	out->type = webhook_json_str(pricing, "type");
	out->category = webhook_json_str(pricing, "category");
	/* Stored as given but bounded (the table's checks). */
	if (out->pricing_model != NULL && strlen(out->pricing_model) > 32)
		out->pricing_model = NULL;
	if (out->type != NULL && strlen(out->type) > 64)
		out->type = NULL;
	if (out->category != NULL && strlen(out->category) > 64)
		out->category = NULL;
	return fee_given(out);
}

int
webhook_status(struct req *r, const struct channel *ch,
    const char *provider_message_id, const char *status, const char *code,
    const char *title, const struct fee *fee)
{
	struct db	*db;
	enum db_status	 st = DB_OK;
	bool		 requeued = false;

	if ((db = req_db(r)) == NULL)
		return resp_unavailable(r);
	if (str_eq(status, "failed") && channel_code_retry(ch->kind, code))
		st = outbox_status_later(r->app, db, ch->org_id, ch->id,
		    provider_message_id, code, title, &requeued);
	if (st == DB_OK && !requeued)
		st = outbox_status_update(r->app, db, ch->org_id, ch->id,
		    provider_message_id, status, code, title);
	if (st == DB_UNAVAILABLE)
		return resp_unavailable(r);
	/* DB_NOT_FOUND: not one of ours (or not recorded yet). */
	if (fee != NULL && fee_given(fee)) {
		st = fees_record(db, ch->org_id, ch->id, provider_message_id,
		    fee);
		if (st == DB_UNAVAILABLE)
			return resp_unavailable(r);
		if (st == DB_INVALID)
			log_info("webhook", "msg=\"pricing not recorded: a "
			    "value was refused\" channel=%lld",
			    (long long)ch->id);
	}
	return 0;
}

int
webhook_identity_change(struct req *r, const struct channel *ch,
    const struct chat_ident_change *c)
{
	struct db	*db;
	enum db_status	 st;
	int64_t		 chat_id = 0;
	bool		 changed = false;

	if ((db = req_db(r)) == NULL)
		return resp_unavailable(r);
	st = chat_contact_changed(db, ch->org_id, ch->id, c, &chat_id,
	    &changed);
	if (st == DB_UNAVAILABLE)
		return resp_unavailable(r);
	if (st != DB_OK && st != DB_NOT_FOUND)
		log_warn("webhook", "msg=\"identity change not applied\" "
		    "channel=%lld status=%s", (long long)ch->id,
		    db_status_str(st));
	else if (changed)
		log_info("webhook", "msg=\"contact identity changed\" "
		    "channel=%lld chat=%lld", (long long)ch->id,
		    (long long)chat_id);
	return 0;
}

int
webhook_echo(struct req *r, const struct channel *ch,
    const struct chat_echo *e)
{
	struct db	*db;
	enum db_status	 st;
	int64_t		 id = 0;

	if ((db = req_db(r)) == NULL)
		return resp_unavailable(r);
	st = chat_echo_store(db, ch->org_id, ch->id, e, &id);
	if (st == DB_UNAVAILABLE)
		return resp_unavailable(r);
	if (st != DB_OK)
		webhook_record_rejection(r, ch->kind, ch->org_id, ch->id,
		    "message not stored", arena_printf(r->arena, "Business "
		    "app echo %s: %s", e->provider_message_id, st == DB_INVALID ?
		    "it names no contact, or the database refused a value" :
		    db_status_str(st)));
	return 0;
}

int
webhook_owner(struct req *r, const struct channel *ch,
    const struct contact_ident *who, bool ours, const char *why)
{
	struct db	*db;
	enum db_status	 st;
	bool		 changed = false;

	if ((db = req_db(r)) == NULL)
		return resp_unavailable(r);
	st = chat_owner_set(db, ch->org_id, ch->id, who, ours ?
	    CHAT_OWNER_PARLEY : CHAT_OWNER_OTHER_APP, why, &changed);
	if (st == DB_UNAVAILABLE)
		return resp_unavailable(r);
	if (st != DB_OK)
		log_info("webhook", "msg=\"handover names no contact\" "
		    "channel=%lld status=%s", (long long)ch->id,
		    db_status_str(st));
	return 0;
}
