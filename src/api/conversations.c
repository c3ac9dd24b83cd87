/*
 * api/conversations: GET /api/v1/conversations and
 * GET /api/v1/conversations/{id} (see api.h and docs/api.md).
 *
 * The list takes the panel's filters as query parameters (agent, channel,
 * status, environment, from, to, q) and its opaque cursor (after); it
 * answers {"data":[…], "nextCursor": "…" | null}. A conversation is the
 * chat with its messages (the newest 500, oldest first; ?before=<message
 * id> pages back, "hasEarlier" says whether there is more). Reading
 * through the API does not mark a chat seen: only a person's look does.
 * Each message carries its transcript (voice notes; null when none) and
 * its media items as the provider described them, each with "download":
 * {"status": "pending"|"stored"|"failed"|"expired", "url", "contentType",
 * "byteSize", "sha256", "text"?} or {"status": "failed", "error":
 * sentence} or {"status": "expired", "expiredAt"} (chat/media.h).
 * Bad filters or cursors are 400; another organisation's ids are 404.
 *
 * A DM's contact is contactNumber (its phone, null when WhatsApp hides
 * it), contactUserId (its business-scoped user id, null when unknown)
 * and contactUsername; a message carries its author's senderUserId and
 * senderUsername, and an outbound message WhatsApp's "pricing" of it
 * (null when none came). A conversation adds threadOwner ("parley", or
 * "other_app" while another app owns the thread) and "fees", its pricing
 * summed (chat/fees.h).
 */
#include "api/api.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "chat/review.h"
#include "db/db.h"
#include "model/llmcall.h"
#include "model/media.h"
#include "http/req.h"
#include "http/resp.h"
#include "util/arena.h"
#include "util/json.h"
#include "util/str.h"

static void		 add_contact(cJSON *, const char *, const char *,
			    const char *, const char *, const char *,
			    const char *);
static cJSON		*pricing_json(const struct review_msg *);
static cJSON		*fees_json(const struct fee_totals *);
static void		 add_str_or_null(cJSON *, const char *, const char *);
static void		 add_id_or_null(cJSON *, const char *, int64_t);
static cJSON		*media_json(const char *, int64_t, int64_t,
			    const struct media_file *, int);
static void		 add_text(cJSON *, const struct media_file *);

static void
add_str_or_null(cJSON *o, const char *name, const char *v)
{
	if (v != NULL && v[0] != '\0')
		cJSON_AddStringToObject(o, name, v);
	else
		cJSON_AddNullToObject(o, name);
}

static void
add_id_or_null(cJSON *o, const char *name, int64_t v)
{
	if (v > 0)
		cJSON_AddNumberToObject(o, name, (double)v);
	else
		cJSON_AddNullToObject(o, name);
}

/*
 * kind, contactNumber/contactUserId/contactUsername/contactName or
 * groupId/groupName. A chat with no contact identity (the sandbox, rows
 * the identity migration could not read) shows its key as the number.
 */
static void
add_contact(cJSON *o, const char *kind, const char *external_id,
    const char *display_name, const char *phone, const char *user_id,
    const char *username)
{
	bool	 is_group = str_eq(kind, "group");
	bool	 known = phone[0] != '\0' || user_id[0] != '\0';

	cJSON_AddStringToObject(o, "kind", kind);
	add_str_or_null(o, "contactNumber", is_group ? NULL : known ? phone :
	    external_id);
	add_str_or_null(o, "contactUserId", is_group ? NULL : user_id);
	add_str_or_null(o, "contactUsername", is_group ? NULL : username);
	add_str_or_null(o, "contactName", is_group ? NULL : display_name);
	add_str_or_null(o, "groupId", is_group ? external_id : NULL);
	add_str_or_null(o, "groupName", is_group ? display_name : NULL);
}

/* {billable, pricingModel, type, category, amount, currency} or null. */
static cJSON *
pricing_json(const struct review_msg *m)
{
	cJSON	*o;

	if (!m->has_fee)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	if (m->fee_billable >= 0)
		cJSON_AddBoolToObject(o, "billable", m->fee_billable == 1);
	else
		cJSON_AddNullToObject(o, "billable");
	add_str_or_null(o, "pricingModel", m->fee_model);
	add_str_or_null(o, "type", m->fee_type);
	add_str_or_null(o, "category", m->fee_category);
	add_str_or_null(o, "amount", m->fee_amount);
	add_str_or_null(o, "currency", m->fee_currency);
	return o;
}

/* The conversation's fees: counts, by category, amounts by currency. */
static cJSON *
fees_json(const struct fee_totals *t)
{
	cJSON	*o = cJSON_CreateObject(), *arr, *e;

	cJSON_AddNumberToObject(o, "messages", (double)t->messages);
	cJSON_AddNumberToObject(o, "billable", (double)t->billable);
	cJSON_AddNumberToObject(o, "free", (double)t->free);
	arr = cJSON_AddArrayToObject(o, "byCategory");
	for (int i = 0; i < t->n_categories; i++) {
		e = cJSON_CreateObject();
		add_str_or_null(e, "category", t->categories[i].category);
		cJSON_AddNumberToObject(e, "billable",
		    (double)t->categories[i].billable);
		cJSON_AddNumberToObject(e, "free",
		    (double)t->categories[i].free);
		cJSON_AddItemToArray(arr, e);
	}
	arr = cJSON_AddArrayToObject(o, "amounts");
	for (int i = 0; i < t->n_amounts; i++) {
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "currency",
		    t->amounts[i].currency);
		cJSON_AddStringToObject(e, "amount", t->amounts[i].amount);
		cJSON_AddItemToArray(arr, e);
	}
	return o;
}

int
api_conversations_list(struct req *r)
{
	struct review_filter	 f;
	struct review_row	*rows;
	const char		*why = NULL;
	char			*next;
	cJSON			*out, *arr, *o;
	int			 n, status;
	enum db_status		 st;

	if (!review_filter_read(&f, req_query_set, r, &why))
		return resp_bad_request(r, why);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = review_list(r->db, r->arena, r->org_id, &f, &rows, &n, &next);
	if (st == DB_INVALID)
		return resp_bad_request(r, "A date in the filter does not "
		    "exist.");
	if (st != DB_OK)
		return resp_unavailable(r);
	out = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(out, "data");
	for (int i = 0; i < n; i++) {
		struct review_row	*w = &rows[i];

		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)w->id);
		add_contact(o, w->kind, w->external_id, w->display_name,
		    w->contact_phone, w->contact_user_id, w->contact_username);
		add_id_or_null(o, "agentId", w->agent_id);
		add_str_or_null(o, "agentName", w->agent_name);
		cJSON_AddNumberToObject(o, "channelId", (double)w->channel_id);
		cJSON_AddStringToObject(o, "channelName", w->channel_name);
		cJSON_AddStringToObject(o, "environment", w->environment);
		cJSON_AddStringToObject(o, "status", w->status);
		cJSON_AddStringToObject(o, "lastMessageAt", w->last_message_at);
		add_str_or_null(o, "lastMessage", w->last_direction[0] != '\0' ?
		    w->last_body : NULL);
		add_str_or_null(o, "lastDirection", w->last_direction);
		cJSON_AddNumberToObject(o, "unreadCount", (double)w->unread);
		cJSON_AddStringToObject(o, "threadOwner", w->owner);
		cJSON_AddItemToArray(arr, o);
	}
	add_str_or_null(out, "nextCursor", next);
	status = resp_json(r, 200, out);
	cJSON_Delete(out);
	return status;
}

int
api_conversation_get(struct req *r)
{
	struct review_page	 pg;
	struct review_chat	*c = &pg.chat;
	struct review_msg	*ms;
	struct review_thread	*ts;
	const char		*s;
	int64_t			 id, before = 0;
	int			 n_ms, n_ts, status;
	cJSON			*out, *arr, *o;
	enum db_status		 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if ((s = req_query_set(r, "before")) != NULL &&
	    (!str_to_i64(s, &before) || before <= 0))
		return resp_bad_request(r, "before must be a message id.");
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = review_page_load(r->db, r->arena, r->org_id, id, before, true,
	    &pg);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	ms = pg.msgs;
	n_ms = pg.n_msgs;
	ts = pg.threads;
	n_ts = pg.n_threads;
	out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "id", (double)c->id);
	add_contact(out, c->kind, c->external_id, c->display_name,
	    c->contact_phone, c->contact_user_id, c->contact_username);
	add_str_or_null(out, "contactParentUserId",
	    c->contact_parent_user_id);
	cJSON_AddStringToObject(out, "threadOwner", c->owner);
	add_str_or_null(out, "threadOwnerChangedAt", c->owner_changed_at);
	add_id_or_null(out, "agentId", c->agent_id);
	add_str_or_null(out, "agentName", c->agent_name);
	cJSON_AddNumberToObject(out, "channelId", (double)c->channel_id);
	cJSON_AddStringToObject(out, "channelName", c->channel_name);
	cJSON_AddStringToObject(out, "channelKind", c->channel_kind);
	cJSON_AddStringToObject(out, "environment", c->environment);
	cJSON_AddStringToObject(out, "status", c->status);
	add_str_or_null(out, "handoffReason", c->handoff_reason);
	add_str_or_null(out, "assignedTo", c->assigned_email);
	add_str_or_null(out, "lastInboundAt", c->last_inbound_at);
	cJSON_AddNumberToObject(out, "windowSecondsLeft",
	    (double)c->window_left_s);
	cJSON_AddStringToObject(out, "createdAt", c->created_at);
	cJSON_AddStringToObject(out, "lastMessageAt", c->last_message_at);
	cJSON_AddBoolToObject(out, "hasEarlier", pg.has_earlier);
	cJSON_AddItemToObject(out, "fees", fees_json(&pg.fees));
	arr = cJSON_AddArrayToObject(out, "messages");
	for (int i = 0; i < n_ms; i++) {
		struct review_msg	*m = &ms[i];

		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)m->id);
		cJSON_AddStringToObject(o, "direction", m->direction);
		add_str_or_null(o, "sender", m->sender);
		add_str_or_null(o, "senderName", m->sender_name);
		add_str_or_null(o, "senderUserId", m->sender_user_id);
		add_str_or_null(o, "senderUsername", m->sender_username);
		cJSON_AddStringToObject(o, "body", m->body);
		cJSON_AddItemToObject(o, "media", media_json(m->media, c->id,
		    m->id, pg.files, pg.n_files));
		add_str_or_null(o, "transcript", m->transcript);
		cJSON_AddStringToObject(o, "status", m->status);
		add_str_or_null(o, "errorCode", m->error_code);
		add_str_or_null(o, "errorText", m->error_text);
		add_id_or_null(o, "threadId", m->thread_id);
		add_id_or_null(o, "llmCallId", m->llm_call_id);
		add_str_or_null(o, "author", m->author_email);
		add_id_or_null(o, "resentAs", m->resent_as_id);
		cJSON_AddBoolToObject(o, "canResend", m->can_resend);
		cJSON_AddStringToObject(o, "kind", m->kind);
		add_id_or_null(o, "answeredBy", m->answered_by);
		add_str_or_null(o, "unansweredReason", m->unanswered_reason);
		add_str_or_null(o, "waiting", m->waiting);
		add_str_or_null(o, "reactions", m->reactions);
		if (m->n_covers > 0) {
			cJSON	*cv = cJSON_AddArrayToObject(o, "covers");

			for (int k = 0; k < m->n_covers; k++)
				cJSON_AddItemToArray(cv, cJSON_CreateNumber(
				    (double)m->covers[k]));
		}
		cJSON_AddItemToObject(o, "pricing", pricing_json(m));
		cJSON_AddStringToObject(o, "createdAt", m->created_at);
		cJSON_AddItemToArray(arr, o);
	}
	/* The model calls behind the page's answers, with what each model
	 * was given (llm/input.h: no image bytes, texts bounded). */
	arr = cJSON_AddArrayToObject(out, "modelCalls");
	for (int i = 0; i < pg.n_calls; i++) {
		const struct llm_call	*k = &pg.calls[i];
		cJSON			*in;

		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)k->id);
		cJSON_AddStringToObject(o, "model", k->model_name);
		cJSON_AddStringToObject(o, "source", k->source);
		cJSON_AddNumberToObject(o, "tokensIn", k->tokens_in);
		cJSON_AddNumberToObject(o, "tokensOut", k->tokens_out);
		cJSON_AddNumberToObject(o, "latencyMs", k->latency_ms);
		add_str_or_null(o, "error", k->error);
		in = k->input != NULL ? json_parse_str(k->input, NULL) : NULL;
		cJSON_AddItemToObject(o, "input", in != NULL ? in :
		    cJSON_CreateNull());
		cJSON_AddStringToObject(o, "createdAt", k->created_at);
		cJSON_AddItemToArray(arr, o);
	}
	arr = cJSON_AddArrayToObject(out, "threads");
	for (int i = 0; i < n_ts; i++) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)ts[i].id);
		add_str_or_null(o, "agentName", ts[i].agent_name);
		cJSON_AddStringToObject(o, "startedAt", ts[i].started_at);
		add_str_or_null(o, "closedAt", ts[i].closed_at);
		add_str_or_null(o, "closeReason", ts[i].close_reason);
		cJSON_AddItemToArray(arr, o);
	}
	status = resp_json(r, 200, out);
	cJSON_Delete(out);
	return status;
}

/*
 * A document's text as read on download: {"status": "ok", "chars",
 * "truncated"} or {"status": "failed", "error"}; nothing for items that
 * are no documents. The text itself goes to the model, not here.
 */
static void
add_text(cJSON *d, const struct media_file *f)
{
	cJSON	*t;

	if (!str_eq(f->text_status, "ok") && !str_eq(f->text_status,
	    "failed"))
		return;
	t = cJSON_AddObjectToObject(d, "text");
	cJSON_AddStringToObject(t, "status", f->text_status);
	if (str_eq(f->text_status, "ok")) {
		cJSON_AddNumberToObject(t, "chars", (double)f->text_chars);
		cJSON_AddBoolToObject(t, "truncated", f->text_truncated);
	} else
		cJSON_AddStringToObject(t, "error", f->text_error);
}

/* The media items with what was downloaded of each. */
static cJSON *
media_json(const char *text, int64_t chat_id, int64_t mid,
    const struct media_file *files, int n_files)
{
	cJSON		*media = json_parse_str(text, NULL), *d;
	cJSON		*e;
	int		 i = 0;

	if (!cJSON_IsArray(media)) {
		cJSON_Delete(media);
		return cJSON_CreateArray();
	}
	cJSON_ArrayForEach(e, media) {
		const struct media_file	*f = NULL;

		for (int k = 0; k < n_files; k++)
			if (files[k].message_id == mid && files[k].n == i)
				f = &files[k];
		i++;
		if (!cJSON_IsObject(e))
			continue;
		d = cJSON_AddObjectToObject(e, "download");
		cJSON_AddStringToObject(d, "status", f != NULL ? f->status :
		    "pending");
		{
			char	 url[128];

			/* The bytes, through this API (fetched on first use). */
			snprintf(url, sizeof(url), "/api/v1/conversations/%"
			    PRId64 "/media/%" PRId64 "/%d", chat_id, mid,
			    i - 1);
			cJSON_AddStringToObject(d, "url", url);
		}
		if (f != NULL && str_eq(f->status, "stored")) {
			cJSON_AddStringToObject(d, "contentType",
			    f->content_type);
			cJSON_AddNumberToObject(d, "byteSize",
			    (double)f->byte_size);
			cJSON_AddStringToObject(d, "sha256", f->sha256);
			add_text(d, f);
		} else if (f != NULL && str_eq(f->status, "failed"))
			cJSON_AddStringToObject(d, "error", f->error);
		else if (f != NULL && str_eq(f->status, "expired")) {
			cJSON_DeleteItemFromObject(d, "url");
			cJSON_AddStringToObject(d, "expiredAt", f->expired_at);
		}
	}
	return media;
}
