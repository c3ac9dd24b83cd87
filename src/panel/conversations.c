/*
 * conversations: the Conversations area — the list (and the inbox, which
 * is the list with ?status=needs_human), one chat's timeline with the
 * machine's work behind each agent turn, the media of a message, and
 * Resend for a failed outbound message. Members may use all of it (the
 * route table says R_SESSION without R_ADMIN).
 *
 * Every read goes through chat/review.h, scoped by r->org_id, so another
 * organisation's ids answer 404 as unknown ones do. The handoff forms
 * (claim, reply, return, close) are panel/handoff.c's; the timeline
 * includes their partial conversations/actions with the keys id, status,
 * assigned_to_me and csrf.
 *
 * Media: …/media/{mid}/{n} serves item n of a message through
 * chat/media.h, which downloads it from the provider on first view and
 * keeps it; the handler holds no pooled connection meanwhile. The bytes
 * come from a WhatsApp user, so they are served with their own type only
 * when that type cannot run script in our origin (raster images, audio,
 * MP4 video); anything else is an attachment of type
 * application/octet-stream. Every media answer is nosniff (resp.c) and
 * sandboxed by its own CSP. A download that fails is a 502 page with the
 * reason; the timeline shows the same reason under the item.
 */
#include "panel/panel.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/context.h"
#include "util/json.h"
#include "util/log.h"
#include "channels/channel.h"
#include "chat/coexist.h"
#include "chat/handoff.h"
#include "chat/media.h"
#include "chat/outbox.h"
#include "chat/messages.h"
#include "chat/review.h"
#include "db/db.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/agent.h"
#include "http/audit.h"
#include "model/channel.h"
#include "llm/input.h"
#include "model/llmcall.h"
#include "model/media.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/url.h"
#include "util/utf8.h"
#include "util/xmalloc.h"

#define PREVIEW_CHARS	120
#define MEDIA_ITEMS_MAX	10	/* chat/media.h keeps items 0..9 */
#define FILENAME_MAX_LEN	100

static const char *const status_labels[][2] = {
	{ "ai", "AI" },
	{ "needs_human", "Needs a human" },
	{ "human", "Human" },
	{ "closed", "Closed" },
};

static void	 turn_fields(struct req *, cJSON *, const struct review_msg *,
		    bool *);
static const char	*status_label(const char *);
static const char	*add_contact(cJSON *, const char *, const char *,
			    const char *, const char *);
static const char	*fee_text(struct arena *, const struct review_msg *);
static void		 add_fees(struct req *, cJSON *,
			    const struct fee_totals *);
static const char	*filter_query(struct req *,
			    const struct review_filter *);
static const char	*preview(struct arena *, const char *);
static const char	*window_text(struct arena *, int64_t);
static bool		 add_choices(struct req *, cJSON *,
			    const struct review_filter *);
static char		*member_text(const cJSON *, const char *);
static cJSON		*call_json(const struct llm_call *);
static void		 input_json(cJSON *, const char *);
static void		 add_media(struct req *, cJSON *, int64_t, int64_t,
			    const char *, const struct media_file *, int);
static const char	*size_text(struct arena *, int64_t);
static const char	*attachment_name(struct arena *, const char *,
			    int64_t, int64_t);
static const struct llm_call *call_find(const struct llm_call *, int,
			    int64_t);
static bool		 safe_inline_type(const char *);
static int		 serve_media(struct req *, bool);
static bool		 item_params(struct req *, int64_t *, int64_t *);
static int		 send_blob(struct req *, const struct media_blob *,
			    bool, int64_t, int64_t);

/* --- shared ------------------------------------------------------------ */

static const char *
status_label(const char *status)
{
	for (size_t i = 0; i < sizeof(status_labels) /
	    sizeof(status_labels[0]); i++)
		if (str_eq(status, status_labels[i][0]))
			return status_labels[i][1];
	return status;
}

/* The filters (not the cursor) as "name=value&…", percent-encoded. */
static const char *
filter_query(struct req *r, const struct review_filter *f)
{
	struct buf	 b;
	const char	*names[] = { "status", "environment", "from", "to",
			    "q" };
	const char	*vals[] = { f->status, f->environment, f->from, f->to,
			    f->q };
	const char	*out;

	buf_init(&b, 4096);
	if (f->agent_id > 0)
		buf_printf(&b, "agent=%" PRId64 "&", f->agent_id);
	if (f->channel_id > 0)
		buf_printf(&b, "channel=%" PRId64 "&", f->channel_id);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (vals[i] == NULL)
			continue;
		buf_printf(&b, "%s=", names[i]);
		url_encode(&b, vals[i]);
		buf_putc(&b, '&');
	}
	out = arena_strdup(r->arena, buf_str(&b) != NULL ? buf_str(&b) : "");
	buf_cleanup(&b);
	return out;
}

/* The first PREVIEW_CHARS characters of body on one line. */
static const char *
preview(struct arena *a, const char *body)
{
	size_t	 n = 0, chars = 0;
	char	*s;

	while (body[n] != '\0' && chars < PREVIEW_CHARS) {
		n++;
		while (((unsigned char)body[n] & 0xC0) == 0x80)
			n++;
		chars++;
	}
	s = arena_strndup(a, body, n);
	for (char *p = s; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	return body[n] != '\0' ? arena_printf(a, "%s…", s) : s;
}

/* "3 h 12 min left", or "closed". */
static const char *
window_text(struct arena *a, int64_t left_s)
{
	if (left_s <= 0)
		return "closed";
	if (left_s < 60)
		return "less than a minute left";
	return arena_printf(a, "%" PRId64 " h %" PRId64 " min left",
	    left_s / 3600, (left_s % 3600) / 60);
}

/* The filter form's options, with the chosen ones marked. */
static bool
add_choices(struct req *r, cJSON *ctx, const struct review_filter *f)
{
	static const char *const envs[] = { "development", "production" };
	struct agent	*as;
	struct channel	*cs;
	cJSON		*arr, *o;
	int		 n_as, n_cs;

	if (agent_list(r->db, r->arena, r->org_id, &as, &n_as) != DB_OK ||
	    channel_list(r->db, r->arena, r->org_id, &cs, &n_cs) != DB_OK)
		return false;
	arr = cJSON_AddArrayToObject(ctx, "agents");
	for (int i = 0; i < n_as; i++) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)as[i].id);
		cJSON_AddStringToObject(o, "name", as[i].name);
		cJSON_AddBoolToObject(o, "selected", as[i].id == f->agent_id);
		cJSON_AddItemToArray(arr, o);
	}
	arr = cJSON_AddArrayToObject(ctx, "channels");
	for (int i = 0; i < n_cs; i++) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)cs[i].id);
		cJSON_AddStringToObject(o, "name", cs[i].name);
		cJSON_AddBoolToObject(o, "selected", cs[i].id == f->channel_id);
		cJSON_AddItemToArray(arr, o);
	}
	arr = cJSON_AddArrayToObject(ctx, "statuses");
	for (size_t i = 0; i < sizeof(status_labels) /
	    sizeof(status_labels[0]); i++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "value", status_labels[i][0]);
		cJSON_AddStringToObject(o, "label", status_labels[i][1]);
		cJSON_AddBoolToObject(o, "selected", str_eq(f->status,
		    status_labels[i][0]));
		cJSON_AddItemToArray(arr, o);
	}
	arr = cJSON_AddArrayToObject(ctx, "environments");
	for (size_t i = 0; i < 2; i++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "value", envs[i]);
		cJSON_AddBoolToObject(o, "selected", str_eq(f->environment,
		    envs[i]));
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddStringToObject(ctx, "from", f->from != NULL ? f->from : "");
	cJSON_AddStringToObject(ctx, "to", f->to != NULL ? f->to : "");
	cJSON_AddStringToObject(ctx, "q", f->q != NULL ? f->q : "");
	return true;
}

static const struct llm_call *
call_find(const struct llm_call *calls, int n, int64_t id)
{
	for (int i = 0; i < n; i++)
		if (calls[i].id == id)
			return &calls[i];
	return NULL;
}

/* JSON text of a member (strings as they are, anything else printed). */
static char *
member_text(const cJSON *o, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (v == NULL || cJSON_IsNull(v))
		return NULL;
	if (cJSON_IsString(v))
		return strdup(v->valuestring);
	return cJSON_PrintUnformatted(v);
}

/* The machine's work behind an agent turn. */
static cJSON *
call_json(const struct llm_call *c)
{
	cJSON		*o = cJSON_CreateObject(), *arr, *t;
	cJSON		*tools = json_parse_str(c->tool_calls, NULL);
	const cJSON	*e;
	const char	*keys[][2] = { { "arguments", "arguments" },
			    { "result", "result" }, { "error", "tool_error" } };

	cJSON_AddNumberToObject(o, "id", (double)c->id);
	cJSON_AddStringToObject(o, "model", c->model_name);
	cJSON_AddNumberToObject(o, "tokens_in", c->tokens_in);
	cJSON_AddNumberToObject(o, "tokens_out", c->tokens_out);
	cJSON_AddNumberToObject(o, "latency_ms", c->latency_ms);
	cJSON_AddNumberToObject(o, "rounds", c->rounds);
	if (c->error != NULL)
		cJSON_AddStringToObject(o, "error", c->error);
	arr = cJSON_AddArrayToObject(o, "tools");
	cJSON_ArrayForEach(e, tools) {
		const cJSON	*nm = cJSON_GetObjectItemCaseSensitive(e,
				    "name");
		const cJSON	*lat = cJSON_GetObjectItemCaseSensitive(e,
				    "latencyMs");
		const cJSON	*mcp = cJSON_GetObjectItemCaseSensitive(e,
				    "mcp");
		const cJSON	*srv = cJSON_GetObjectItemCaseSensitive(mcp,
				    "server");
		const cJSON	*tl = cJSON_GetObjectItemCaseSensitive(mcp,
				    "tool");

		t = cJSON_CreateObject();
		cJSON_AddStringToObject(t, "name", cJSON_IsString(nm) ?
		    nm->valuestring : "?");
		if (cJSON_IsNumber(lat))
			cJSON_AddNumberToObject(t, "tool_latency_ms",
			    lat->valuedouble);
		/* An MCP call: which server and which of its tools. */
		if (cJSON_IsString(srv) && cJSON_IsString(tl)) {
			cJSON_AddStringToObject(t, "mcp_server",
			    srv->valuestring);
			cJSON_AddStringToObject(t, "mcp_tool", tl->valuestring);
		}
		for (size_t i = 0; i < 3; i++) {
			char	*s = member_text(e, keys[i][0]);

			if (s != NULL)
				cJSON_AddStringToObject(t, keys[i][1], s);
			free(s);
		}
		cJSON_AddItemToArray(arr, t);
	}
	cJSON_AddBoolToObject(o, "has_tools", cJSON_GetArraySize(arr) > 0);
	cJSON_AddNumberToObject(o, "n_tools", cJSON_GetArraySize(arr));
	cJSON_Delete(tools);
	input_json(o, c->input);
	return o;
}

/*
 * What the model was given (llm_calls.input, llm/input.h: texts already
 * cut, images already placeholders): the turn's part of it — the system
 * messages (the documents given as context) and the messages after the
 * history's last answer — one entry per message with its role, its text
 * and its images' labels ("[image: JPEG, 34 KB, sent inline]", or the
 * URL it was given without its signature); the history before them is
 * counted (history_n), not repeated on every call of the page.
 */
static void
input_json(cJSON *o, const char *input)
{
	cJSON		*in = json_parse_str(input, NULL), *arr, *e, *imgs;
	const cJSON	*m, *part;
	int		 last = -1, i = 0, history = 0;

	if (!cJSON_IsArray(in)) {
		cJSON_Delete(in);
		return;
	}
	cJSON_ArrayForEach(m, in) {
		const char	*role = cJSON_GetStringValue(
				    cJSON_GetObjectItemCaseSensitive(m, "role"));

		if (str_eq(role, "assistant") || str_eq(role, "tool"))
			last = i;
		i++;
	}
	arr = cJSON_AddArrayToObject(o, "input");
	i = 0;
	cJSON_ArrayForEach(m, in) {
		const cJSON	*content = cJSON_GetObjectItemCaseSensitive(m,
				    "content");
		const char	*role = cJSON_GetStringValue(
				    cJSON_GetObjectItemCaseSensitive(m, "role"));
		struct buf	 text;

		if (i++ <= last && !str_eq(role, "system")) {
			history++;
			continue;
		}
		buf_init(&text, 0);
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "in_role", role != NULL ? role :
		    "");
		imgs = cJSON_AddArrayToObject(e, "in_images");
		if (cJSON_IsString(content))
			buf_puts(&text, content->valuestring);
		cJSON_ArrayForEach(part, content) {
			const char	*t = cJSON_GetStringValue(
					    cJSON_GetObjectItemCaseSensitive(
					    part, "text"));
			const char	*u = cJSON_GetStringValue(
					    cJSON_GetObjectItemCaseSensitive(
					    cJSON_GetObjectItemCaseSensitive(part,
					    "image_url"), "url"));

			if (t != NULL)
				buf_printf(&text, "%s%s", text.len > 0 ? "\n" :
				    "", t);
			if (u == NULL)
				continue;
			if (llm_input_is_placeholder(u))
				cJSON_AddItemToArray(imgs,
				    cJSON_CreateString(u));
			else {
				char	*l = xasprintf("[image: %s]", u);

				cJSON_AddItemToArray(imgs,
				    cJSON_CreateString(l));
				free(l);
			}
		}
		cJSON_AddStringToObject(e, "in_text", buf_str(&text));
		cJSON_AddItemToArray(arr, e);
		buf_cleanup(&text);
	}
	cJSON_AddBoolToObject(o, "has_input", cJSON_GetArraySize(arr) > 0);
	if (history > 0)
		cJSON_AddNumberToObject(o, "history_n", history);
	cJSON_Delete(in);
}

/*
 * The message's media items (its media JSON, and what media_files says
 * about each: files holds the page's rows, any message): a thumbnail for
 * images, a player for audio, else a link, and the reason when the
 * download failed. Item keys are prefixed so that Mustache never finds a
 * message's key instead of a missing item key.
 */
static void
add_media(struct req *r, cJSON *msg, int64_t chat_id, int64_t mid,
    const char *media_json, const struct media_file *files, int n_files)
{
	cJSON		*media = json_parse_str(media_json, NULL), *arr, *o;
	const cJSON	*e, *v;
	int		 i = 0;

	arr = cJSON_AddArrayToObject(msg, "media");
	cJSON_ArrayForEach(e, media) {
		const struct media_file	*f = NULL;
		const char		*caption, *filename, *label;
		char			 type[128];
		bool			 failed, expired;

		for (int k = 0; k < n_files; k++)
			if (files[k].message_id == mid && files[k].n == i)
				f = &files[k];
		type[0] = '\0';
		if (f != NULL && str_eq(f->status, "stored"))
			snprintf(type, sizeof(type), "%s", f->content_type);
		v = cJSON_GetObjectItemCaseSensitive(e, "contentType");
		if (type[0] == '\0' && cJSON_IsString(v))
			channel_media_type(v->valuestring, type, sizeof(type));
		v = cJSON_GetObjectItemCaseSensitive(e, "caption");
		caption = cJSON_IsString(v) && v->valuestring[0] != '\0' ?
		    v->valuestring : NULL;
		v = cJSON_GetObjectItemCaseSensitive(e, "filename");
		filename = cJSON_IsString(v) && v->valuestring[0] != '\0' ?
		    v->valuestring : NULL;
		failed = f != NULL && str_eq(f->status, "failed");
		expired = f != NULL && str_eq(f->status, "expired");
		if (expired && type[0] == '\0' && f->content_type[0] != '\0')
			snprintf(type, sizeof(type), "%s", f->content_type);
		/* The file's name, else what it is in words (the type
		 * follows in the muted meta). */
		label = filename != NULL ? filename :
		    str_starts_with(type, "image/") ? "Photo" :
		    str_starts_with(type, "audio/") ? "Audio" :
		    str_starts_with(type, "video/") ? "Video" :
		    type[0] != '\0' ? "File" : "Media";

		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "item_label", label);
		cJSON_AddStringToObject(o, "item_type", type[0] != '\0' ?
		    type : "unknown type");
		if (caption != NULL)
			cJSON_AddStringToObject(o, "item_caption", caption);
		v = cJSON_GetObjectItemCaseSensitive(e, "transcript");
		if (cJSON_IsString(v) && v->valuestring[0] != '\0')
			cJSON_AddStringToObject(o, "item_transcript",
			    v->valuestring);
		if (f != NULL && str_eq(f->status, "stored"))
			cJSON_AddStringToObject(o, "item_size",
			    size_text(r->arena, f->byte_size));
		if (failed)
			cJSON_AddStringToObject(o, "item_error", f->error);
		/* Deleted by the organisation's retention: a placeholder. */
		if (expired) {
			cJSON_AddBoolToObject(o, "item_expired", true);
			if (f->expired_at[0] != '\0')
				cJSON_AddStringToObject(o, "item_expired_at",
				    f->expired_at);
		}
		/* A document: what was read of it, or why nothing was. */
		if (f != NULL && str_eq(f->status, "stored") &&
		    str_eq(f->text_status, "ok"))
			cJSON_AddStringToObject(o, "item_text", arena_printf(
			    r->arena, "%" PRId64 " characters of text read%s",
			    f->text_chars, f->text_truncated ? " (the "
			    "beginning: the document is longer)" : ""));
		if (f != NULL && str_eq(f->status, "stored") &&
		    str_eq(f->text_status, "failed"))
			cJSON_AddStringToObject(o, "item_text_error",
			    f->text_error);
		if (i < MEDIA_ITEMS_MAX && !expired) {
			cJSON_AddStringToObject(o, "item_href", arena_printf(
			    r->arena, "/conversations/%" PRId64 "/media/%"
			    PRId64 "/%d", chat_id, mid, i));
			cJSON_AddBoolToObject(o, "is_image", !failed &&
			    (str_eq(type, "image/jpeg") ||
			    str_eq(type, "image/png") ||
			    str_eq(type, "image/gif") ||
			    str_eq(type, "image/webp")));
			cJSON_AddBoolToObject(o, "is_audio", !failed &&
			    str_starts_with(type, "audio/"));
			/* The route serves MP4 inline (other video as a
			 * download), so only MP4 gets a player. */
			cJSON_AddBoolToObject(o, "is_video", !failed &&
			    str_eq(type, "video/mp4"));
		} else {
			cJSON_AddBoolToObject(o, "is_image", false);
			cJSON_AddBoolToObject(o, "is_audio", false);
			cJSON_AddBoolToObject(o, "is_video", false);
		}
		cJSON_AddItemToArray(arr, o);
		i++;
	}
	cJSON_AddBoolToObject(msg, "has_media", i > 0);
	cJSON_Delete(media);
}

/* "512 bytes", "12 KiB", "3.4 MiB". */
static const char *
size_text(struct arena *a, int64_t n)
{
	if (n < 1024)
		return arena_printf(a, "%" PRId64 " bytes", n);
	if (n < 1024 * 1024)
		return arena_printf(a, "%" PRId64 " KiB", (n + 512) / 1024);
	return arena_printf(a, "%.1f MiB", (double)n / (1024.0 * 1024.0));
}

/*
 * Types a browser will not run as script from our origin (with nosniff,
 * which every answer carries). type is bare and lower case.
 */
static bool
safe_inline_type(const char *t)
{
	static const char *const ok[] = {
		"image/png", "image/jpeg", "image/gif", "image/webp",
		"video/mp4",
	};

	if (str_starts_with(t, "audio/"))
		return true;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (str_eq(t, ok[i]))
			return true;
	return false;
}

/*
 * A file name for an attachment: the item's own name (filename, may be
 * NULL) with anything but [A-Za-z0-9._-] made '_' (it goes into a
 * header), else "message-<mid>-<n>".
 */
static const char *
attachment_name(struct arena *a, const char *filename, int64_t mid,
    int64_t n)
{
	char		 name[FILENAME_MAX_LEN + 1];
	const char	*s;
	size_t		 k = 0;

	for (s = filename; s != NULL && *s != '\0' && k < FILENAME_MAX_LEN;
	    s++) {
		unsigned char	 ch = (unsigned char)*s;

		/* A UTF-8 character becomes one '_'. */
		if ((ch & 0xC0) == 0x80)
			continue;
		name[k++] = isalnum(ch) || ch == '.' || ch == '-' ||
		    ch == '_' ? (char)ch : '_';
	}
	name[k] = '\0';
	for (s = name; *s == '.' || *s == '_'; s++)
		;
	if (*s == '\0')
		return arena_printf(a, "message-%" PRId64 "-%" PRId64, mid, n);
	return arena_strdup(a, s);
}

/* --- pages ------------------------------------------------------------- */

int
panel_conversations_list(struct req *r)
{
	struct review_filter	 f;
	struct review_row	*rows;
	const char		*why = NULL, *fq;
	char			*next;
	cJSON			*ctx, *arr, *o;
	int			 n;
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
	ctx = cJSON_CreateObject();
	if (!add_choices(r, ctx, &f) || (str_eq(f.status, "needs_human") &&
	    !panel_add_unclaimed(r, ctx, 10))) {
		cJSON_Delete(ctx);
		return resp_unavailable(r);
	}
	cJSON_AddStringToObject(ctx, "title", str_eq(f.status, "needs_human") ?
	    "Inbox" : "Conversations");
	cJSON_AddBoolToObject(ctx, "is_inbox", str_eq(f.status,
	    "needs_human"));
	cJSON_AddBoolToObject(ctx, "is_filtered", f.agent_id > 0 ||
	    f.channel_id > 0 || f.status != NULL || f.environment != NULL ||
	    f.from != NULL || f.to != NULL || f.q != NULL);
	arr = cJSON_AddArrayToObject(ctx, "conversations");
	for (int i = 0; i < n; i++) {
		struct review_row	*w = &rows[i];
		bool			 is_group = str_eq(w->kind, "group");

		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)w->id);
		cJSON_AddBoolToObject(o, "is_group", is_group);
		if (is_group)
			cJSON_AddStringToObject(o, "group_name",
			    w->display_name[0] != '\0' ? w->display_name :
			    w->external_id);
		else {
			add_contact(o, w->external_id, w->contact_phone,
			    w->contact_user_id, w->contact_username);
			if (w->display_name[0] != '\0')
				cJSON_AddStringToObject(o, "contact_name",
				    w->display_name);
		}
		if (w->agent_name[0] != '\0')
			cJSON_AddStringToObject(o, "agent_name", w->agent_name);
		cJSON_AddStringToObject(o, "channel_name", w->channel_name);
		cJSON_AddStringToObject(o, "environment", w->environment);
		cJSON_AddStringToObject(o, "status", w->status);
		cJSON_AddStringToObject(o, "status_label",
		    status_label(w->status));
		cJSON_AddBoolToObject(o, "needs_human", str_eq(w->status,
		    "needs_human"));
		cJSON_AddStringToObject(o, "last_message_at",
		    w->last_message_at);
		cJSON_AddStringToObject(o, "last_body", preview(r->arena,
		    w->last_body));
		cJSON_AddBoolToObject(o, "last_is_out", str_eq(
		    w->last_direction, "out"));
		if (w->unread > 0)
			cJSON_AddStringToObject(o, "unread", w->unread >= 100 ?
			    "99+" : arena_printf(r->arena, "%" PRId64,
			    w->unread));
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddBoolToObject(ctx, "has_conversations", n > 0);
	fq = filter_query(r, &f);
	if (next != NULL) {
		struct buf	 b;

		buf_init(&b, 8192);
		buf_printf(&b, "/conversations?%safter=", fq);
		url_encode(&b, next);
		cJSON_AddStringToObject(ctx, "older", buf_str(&b));
		buf_cleanup(&b);
	}
	if (f.after_id > 0)
		cJSON_AddStringToObject(ctx, "newest", arena_printf(r->arena,
		    "/conversations?%s", fq));
	return resp_page(r, 200, "conversations/index", ctx);
}

/*
 * A DM's contact for the list and the header: contact_number (its phone,
 * else its user id, else the chat's key: the sandbox's),
 * contact_username, and contact_user_id when there is no phone beside
 * it (issue 13: the review shows the username and the id where there is
 * no phone). Returns what stands for the contact in a title.
 */
static const char *
add_contact(cJSON *o, const char *external_id, const char *phone,
    const char *user_id, const char *username)
{
	const char	*number = phone[0] != '\0' ? phone : user_id[0] != '\0' ?
			    user_id : external_id;

	cJSON_AddStringToObject(o, "contact_number", number);
	if (username[0] != '\0')
		cJSON_AddStringToObject(o, "contact_username", username);
	cJSON_AddBoolToObject(o, "contact_no_phone", phone[0] == '\0' &&
	    user_id[0] != '\0');
	return username[0] != '\0' && phone[0] == '\0' ? username : number;
}

/* "marketing · regular · billable" (and "0.005 USD"). */
static const char *
fee_text(struct arena *a, const struct review_msg *m)
{
	struct buf	 b;
	const char	*out;

	buf_init(&b, 512);
	if (m->fee_category[0] != '\0')
		buf_printf(&b, "%s", m->fee_category);
	if (m->fee_type[0] != '\0')
		buf_printf(&b, "%s%s", b.len > 0 ? " \xc2\xb7 " : "",
		    m->fee_type);
	if (m->fee_billable >= 0)
		buf_printf(&b, "%s%s", b.len > 0 ? " \xc2\xb7 " : "",
		    m->fee_billable == 1 && strncmp(m->fee_type, "free", 4) != 0 ?
		    "billable" : "free");
	if (m->fee_amount[0] != '\0')
		buf_printf(&b, "%s%s %s", b.len > 0 ? " \xc2\xb7 " : "",
		    m->fee_amount, m->fee_currency);
	if (m->fee_model[0] != '\0')
		buf_printf(&b, " (%s)", m->fee_model);
	out = arena_strdup(a, buf_str(&b));
	buf_cleanup(&b);
	return out;
}

/* The conversation's WhatsApp fees, summed (chat/fees.h). */
static void
add_fees(struct req *r, cJSON *ctx, const struct fee_totals *t)
{
	struct buf	 b;

	if (t->messages == 0 && t->n_amounts == 0)
		return;
	buf_init(&b, 1024);
	buf_printf(&b, "%" PRId64 " billable, %" PRId64 " free", t->billable,
	    t->free);
	for (int i = 0; i < t->n_categories; i++)
		buf_printf(&b, "%s%s %" PRId64 "%s", i == 0 ? " (" : ", ",
		    t->categories[i].category[0] != '\0' ?
		    t->categories[i].category : "no category",
		    t->categories[i].billable + t->categories[i].free,
		    i + 1 == t->n_categories ? ")" : "");
	for (int i = 0; i < t->n_amounts; i++)
		buf_printf(&b, " \xc2\xb7 %s %s", t->amounts[i].amount,
		    t->amounts[i].currency);
	cJSON_AddStringToObject(ctx, "fees", arena_strdup(r->arena,
	    buf_str(&b)));
	buf_cleanup(&b);
}

int
panel_conversation_view(struct req *r)
{
	struct review_page	 pg;
	struct review_chat	*c = &pg.chat;
	struct review_msg	*ms;
	struct review_thread	*ts;
	int64_t			 id, before = 0, prev_thread = -1;
	const char		*s, *addr = "";
	bool			 is_group;
	int			 n_ms, n_ts;
	cJSON			*ctx, *arr, *o;
	enum db_status		 st;
	bool			 any_unanswered = false;

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
	/* Only the newest page counts as looked at. */
	if (before == 0 && review_mark_seen(r->db, r->org_id, id,
	    c->unread) != DB_OK)
		return resp_unavailable(r);

	is_group = str_eq(c->kind, "group");
	ctx = cJSON_CreateObject();
	cJSON_AddNumberToObject(ctx, "id", (double)c->id);
	cJSON_AddStringToObject(ctx, "status", c->status);
	cJSON_AddStringToObject(ctx, "status_label", status_label(c->status));
	cJSON_AddBoolToObject(ctx, "is_group", is_group);
	if (is_group)
		cJSON_AddStringToObject(ctx, "group_name",
		    c->display_name[0] != '\0' ? c->display_name :
		    c->external_id);
	else {
		addr = add_contact(ctx, c->external_id, c->contact_phone,
		    c->contact_user_id, c->contact_username);
		if (c->display_name[0] != '\0')
			cJSON_AddStringToObject(ctx, "contact_name",
			    c->display_name);
	}
	cJSON_AddStringToObject(ctx, "title", is_group ? (c->display_name[0] !=
	    '\0' ? c->display_name : c->external_id) : (c->display_name[0] != '\0'
	    ? arena_printf(r->arena, "%s (%s)", c->display_name, addr)
	    : addr));
	cJSON_AddBoolToObject(ctx, "other_app", str_eq(c->owner, "other_app"));
	add_fees(r, ctx, &pg.fees);
	if (c->agent_name[0] != '\0')
		cJSON_AddStringToObject(ctx, "agent_name", c->agent_name);
	cJSON_AddStringToObject(ctx, "channel_name", c->channel_name);
	cJSON_AddStringToObject(ctx, "environment", c->environment);
	cJSON_AddBoolToObject(ctx, "window_open", c->window_left_s > 0);
	cJSON_AddStringToObject(ctx, "window_left", window_text(r->arena,
	    c->window_left_s));
	cJSON_AddBoolToObject(ctx, "assigned_to_me", c->assigned_user_id > 0 &&
	    r->session != NULL && c->assigned_user_id == r->session->user_id);
	/* Mustache cannot compare strings: one flag per status for the
	 * actions partial (templates/conversations/actions.mustache). */
	cJSON_AddBoolToObject(ctx, "status_ai", strcmp(c->status, "ai") == 0);
	cJSON_AddBoolToObject(ctx, "status_needs_human",
	    strcmp(c->status, "needs_human") == 0);
	cJSON_AddBoolToObject(ctx, "status_human",
	    strcmp(c->status, "human") == 0);
	cJSON_AddBoolToObject(ctx, "status_closed",
	    strcmp(c->status, "closed") == 0);
	if (c->assigned_email[0] != '\0')
		cJSON_AddStringToObject(ctx, "assigned_email",
		    c->assigned_email);
	if (c->handoff_reason[0] != '\0')
		cJSON_AddStringToObject(ctx, "handoff_reason",
		    c->handoff_reason);
	if (pg.has_earlier && n_ms > 0)
		cJSON_AddStringToObject(ctx, "earlier", arena_printf(r->arena,
		    "/conversations/%" PRId64 "?before=%" PRId64, id,
		    ms[0].id));
	if (before > 0)
		cJSON_AddStringToObject(ctx, "latest", arena_printf(r->arena,
		    "/conversations/%" PRId64, id));

	arr = cJSON_AddArrayToObject(ctx, "messages");
	for (int i = 0; i < n_ms; i++) {
		struct review_msg	*m = &ms[i];
		bool			 is_in = str_eq(m->direction, "in");
		const struct llm_call	*call;

		o = cJSON_CreateObject();
		if (m->thread_id != prev_thread && m->thread_id > 0) {
			cJSON	*mk = cJSON_AddObjectToObject(o, "marker");

			for (int k = 0; k < n_ts; k++) {
				if (ts[k].id != m->thread_id)
					continue;
				cJSON_AddStringToObject(mk, "started_at",
				    ts[k].started_at);
				if (ts[k].agent_name[0] != '\0')
					cJSON_AddStringToObject(mk,
					    "agent_name", ts[k].agent_name);
				/* Why the one before ended: reset, agent… */
				if (k > 0 && ts[k - 1].close_reason[0] != '\0')
					cJSON_AddStringToObject(mk,
					    "close_reason",
					    ts[k - 1].close_reason);
			}
		}
		prev_thread = m->thread_id;
		cJSON_AddNumberToObject(o, "id", (double)m->id);
		cJSON_AddBoolToObject(o, "is_in", is_in);
		cJSON_AddStringToObject(o, "direction", m->direction);
		if (m->sender[0] != '\0')
			cJSON_AddStringToObject(o, "sender", m->sender);
		if (m->sender_name[0] != '\0')
			cJSON_AddStringToObject(o, "sender_name",
			    m->sender_name);
		cJSON_AddBoolToObject(o, "show_sender", is_in && is_group);
		/* A member known by its id only: its username and id too. */
		if (is_in && is_group && m->sender_username[0] != '\0')
			cJSON_AddStringToObject(o, "sender_username",
			    m->sender_username);
		cJSON_AddStringToObject(o, "created_at", m->created_at);
		cJSON_AddStringToObject(o, "channel_name", c->channel_name);
		cJSON_AddStringToObject(o, "body", m->body);
		turn_fields(r, o, m, &any_unanswered);
		add_media(r, o, id, m->id, m->media, pg.files, pg.n_files);
		if (m->transcript != NULL && m->transcript[0] != '\0')
			cJSON_AddStringToObject(o, "transcript",
			    m->transcript);
		if (!is_in) {
			cJSON_AddStringToObject(o, "delivery", m->status);
			cJSON_AddBoolToObject(o, "is_failed", str_eq(m->status,
			    "failed"));
			if (m->error_code[0] != '\0')
				cJSON_AddStringToObject(o, "error_code",
				    m->error_code);
			if (m->error_text[0] != '\0')
				cJSON_AddStringToObject(o, "error_text",
				    m->error_text);
			if (m->author_email[0] != '\0')
				cJSON_AddStringToObject(o, "author_email",
				    m->author_email);
			/* Written from the WhatsApp Business app: a person. */
			cJSON_AddBoolToObject(o, "from_business_app",
			    str_eq(m->sender, COEXIST_SENDER_APP));
			if (m->has_fee)
				cJSON_AddStringToObject(o, "fee",
				    fee_text(r->arena, m));
			/* Resend once (outbox.h); never one that can only
			 * fail again. */
			if (m->can_resend)
				cJSON_AddStringToObject(o, "resend_action",
				    arena_printf(r->arena, "/conversations/%"
				    PRId64 "/messages/%" PRId64 "/resend", id,
				    m->id));
			if (m->no_resend != NULL)
				cJSON_AddStringToObject(o, "no_resend",
				    m->no_resend);
			if (m->resent_as_id > 0)
				cJSON_AddNumberToObject(o, "resent_as",
				    (double)m->resent_as_id);
			/* One call may answer in several parts: show it on
			 * the first. */
			call = m->llm_call_id > 0 && (i == 0 ||
			    ms[i - 1].llm_call_id != m->llm_call_id) ?
			    call_find(pg.calls, pg.n_calls, m->llm_call_id) : NULL;
			if (call != NULL)
				cJSON_AddItemToObject(o, "call",
				    call_json(call));
		}
		cJSON_AddItemToArray(arr, o);
	}
	if (n_ms > 0 && n_ts > 0 && ts[n_ts - 1].id == ms[n_ms - 1].thread_id &&
	    ts[n_ts - 1].closed_at[0] != '\0') {
		o = cJSON_AddObjectToObject(ctx, "ended");
		cJSON_AddStringToObject(o, "closed_at", ts[n_ts - 1].closed_at);
		cJSON_AddStringToObject(o, "close_reason",
		    ts[n_ts - 1].close_reason);
	}
	cJSON_AddBoolToObject(ctx, "has_messages", n_ms > 0);
	/* Messages a failed turn gave up on (or nobody will answer): the
	 * agent may be asked again. */
	cJSON_AddBoolToObject(ctx, "can_answer_again", any_unanswered &&
	    strcmp(c->status, "ai") == 0);
	/* The window's hold and, while closed, templates to send. */
	if (!panel_window_section(r, ctx, c->id, c->channel_id,
	    c->window_left_s > 0)) {
		cJSON_Delete(ctx);
		return resp_unavailable(r);
	}
	return resp_page(r, 200, "conversations/view", ctx);
}

/*
 * What the turn did with message m, for the timeline: an inbound
 * message's answer ("answered below") or why it is not answered (its
 * reason, or why it waits); an answer's covered messages; reactions on
 * it; what kind of item it is when not a message. *unanswered is set
 * when a message waits with nothing due or a turn failed on it.
 */
static void
turn_fields(struct req *r, cJSON *o, const struct review_msg *m,
    bool *unanswered)
{
	cJSON	*arr;

	if (m->kind != NULL && !str_eq(m->kind, "message")) {
		cJSON_AddStringToObject(o, "kind", m->kind);
		cJSON_AddBoolToObject(o, str_eq(m->kind, "reaction") ?
		    "is_reaction" : str_eq(m->kind, "system") ? "is_system" :
		    str_eq(m->kind, "echo") ? "is_echo" : "is_other_kind",
		    true);
	}
	if (m->answered_by > 0)
		cJSON_AddNumberToObject(o, "answered_by",
		    (double)m->answered_by);
	if (m->unanswered_reason != NULL) {
		cJSON_AddStringToObject(o, "unanswered", m->unanswered_reason);
		if (strncmp(m->unanswered_reason, CHAT_TURN_FAILED_PREFIX,
		    strlen(CHAT_TURN_FAILED_PREFIX)) == 0)
			*unanswered = true;
	}
	if (m->waiting != NULL) {
		cJSON_AddStringToObject(o, "waiting", m->waiting);
		if (strncmp(m->waiting, "Not answered yet", 16) == 0)
			*unanswered = true;
	}
	if (m->reactions != NULL)
		cJSON_AddStringToObject(o, "reactions", m->reactions);
	if (m->n_covers > 0) {
		arr = cJSON_AddArrayToObject(o, "covers");
		for (int i = 0; i < m->n_covers; i++) {
			cJSON	*c = cJSON_CreateObject();

			cJSON_AddNumberToObject(c, "mid", (double)m->covers[i]);
			cJSON_AddItemToArray(arr, c);
		}
		cJSON_AddStringToObject(o, "covers_label", arena_printf(
		    r->arena, "Answers %d message%s", m->n_covers,
		    m->n_covers == 1 ? "" : "s"));
	}
}

/*
 * POST /conversations/{id}/answer: the agent answers again what a failed
 * turn gave up on (chat_turn_retry), then back to the timeline.
 */
int
panel_conversation_answer(struct req *r)
{
	int64_t		 id;
	int		 n = 0;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	switch (chat_turn_retry(r->db, r->org_id, id, &n)) {
	case DB_OK:
		audit(r, "chat.answer_again", "chat", id, arena_printf(
		    r->arena, "%d message(s)", n));
		return resp_see_other(r, arena_printf(r->arena,
		    "/conversations/%" PRId64, id), "The agent answers again.");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/* --- media ------------------------------------------------------------- */

/*
 * The {mid} and {n} of a media route (n within 0..MEDIA_ITEMS_MAX-1);
 * false for a path that names no item. Then gives the request's pooled
 * connection back: chat/media.h may download from a provider or call
 * the S3 store, which takes a while, and takes its own connection when
 * it needs one (req_db gets a new one if a page needs it).
 */
static bool
item_params(struct req *r, int64_t *mid, int64_t *n)
{
	const char	*ns = req_param(r, "n");

	if (!req_param_id(r, "mid", mid) || ns == NULL || !str_to_i64(ns, n) ||
	    *n < 0 || *n >= MEDIA_ITEMS_MAX)
		return false;
	if (r->db != NULL) {
		db_release(r->db);
		r->db = NULL;
	}
	return true;
}

/*
 * The blob as the answer: its bytes, or, for an item in the S3 store, a
 * 302 to a fresh presigned URL (chat/media.h MEDIA_URL_TTL_S) whose
 * response headers the store sets as we would. A type a browser could
 * run (HTML, SVG, …) goes as an attachment, never inline; previews are
 * our own JPEGs.
 */
static int
send_blob(struct req *r, const struct media_blob *b, bool is_thumb,
    int64_t mid, int64_t n)
{
	const char	*type = b->content_type != NULL ? b->content_type : "";
	const char	*disp = NULL, *url;

	if (!is_thumb && !safe_inline_type(type)) {
		type = "application/octet-stream";
		disp = arena_printf(r->arena, "attachment; filename=\"%s\"",
		    attachment_name(r->arena, b->filename, mid, n));
	}
	if (b->store_key != NULL) {
		if ((url = media_presign(r->app, r->arena, b, type[0] != '\0' ?
		    type : NULL, disp)) == NULL)
			return resp_error(r, 502, "media_unavailable", "This "
			    "media item is in the S3 store, which is not "
			    "configured.");
		(void)resp_header(r, "Location", url);
		return resp_send(r, 302, NULL, NULL, 0);
	}
	if (disp != NULL)
		(void)resp_header(r, "Content-Disposition", disp);
	/* The item is the user's: no script, no plugin, no form, ever. */
	(void)resp_header(r, "Content-Security-Policy", "sandbox");
	(void)resp_header(r, "Cache-Control", "private, max-age=3600");
	return resp_send(r, 200, type, (const char *)b->data, b->len);
}

/*
 * GET …/media/{mid}/{n} (thumb false) and …/media/{mid}/{n}/thumb: the
 * item, or its preview (chat/media.h media_open), after the route's
 * session or bearer check and scoped to the caller's organisation.
 */
static int
serve_media(struct req *r, bool thumb)
{
	struct media_blob	 blob;
	const char		*why = NULL;
	int64_t			 id, mid, n;
	enum db_status		 st;
	bool			 is_thumb = false;

	if (!req_param_id(r, "id", &id) || !item_params(r, &mid, &n))
		return resp_not_found(r);
	st = media_open(r->app, r->arena, r->org_id, id, mid, (int)n, thumb,
	    &blob, &is_thumb, &why);
	switch (st) {
	case DB_OK:
		return send_blob(r, &blob, is_thumb, mid, n);
	case DB_NOT_FOUND:
		return resp_not_found(r);	/* also another org's ids */
	case DB_INVALID:
		if (blob.expired)
			return resp_error(r, 410, "media_expired", "This media "
			    "item has expired: the organization keeps media "
			    "for a limited time.");
		/* The provider's failure, not the client's: 502. */
		return resp_error(r, 502, "media_unavailable", arena_printf(
		    r->arena, "This media item could not be downloaded. %s",
		    why != NULL ? why : ""));
	default:
		return resp_unavailable(r);
	}
}

int
panel_conversation_media(struct req *r)
{
	return serve_media(r, false);
}

int
panel_conversation_media_thumb(struct req *r)
{
	return serve_media(r, true);
}

/*
 * GET|HEAD /m/{org}/{mid}/{n}/{part}?exp=…&sig=…: part ("vision" or
 * "file") of an item for whoever holds the link (a model provider, later
 * a WhatsApp provider fetching media we send), no session: the signature
 * (chat/media.h media_signed_url) is the permission, and it names the
 * organisation. Streamed from wherever the item is, the store included
 * (a presigned URL would refuse HEAD). A bad or expired link is 403.
 */
int
panel_media_signed(struct req *r)
{
	struct media_blob	 blob;
	const char		*why = NULL, *part = req_param(r, "part");
	int64_t			 org_id, mid, n;
	enum db_status		 st;

	if (!req_param_id(r, "org", &org_id) || !item_params(r, &mid, &n) ||
	    part == NULL)
		return resp_not_found(r);
	if (!media_signed_ok(r->app, org_id, mid, (int)n, part,
	    req_query(r, "exp"), req_query(r, "sig")))
		return resp_forbidden(r, "This link is not valid, or it has "
		    "expired.");
	if (str_eq(part, "vision"))
		st = media_vision_load(r->app, r->arena, org_id, 0, mid, (int)n,
		    &blob, &why);
	else
		st = media_load(r->app, r->arena, org_id, 0, mid, (int)n,
		    &blob, &why);
	switch (st) {
	case DB_OK:
		break;
	case DB_NOT_FOUND:
		return resp_not_found(r);
	case DB_INVALID:
		return blob.expired ? resp_error(r, 410, "media_expired",
		    "This media item has expired.") : resp_error(r, 502,
		    "media_unavailable", "This media item could not be had.");
	default:
		return resp_unavailable(r);
	}
	(void)resp_header(r, "Content-Disposition", arena_printf(r->arena,
	    "inline; filename=\"%s\"", str_eq(part, "vision") ?
	    "image.jpg" : attachment_name(r->arena, blob.filename, mid, n)));
	(void)resp_header(r, "Content-Security-Policy", "sandbox");
	(void)resp_header(r, "Cache-Control", "private, max-age=60");
	return resp_send(r, 200, blob.content_type != NULL &&
	    blob.content_type[0] != '\0' ? blob.content_type :
	    "application/octet-stream", (const char *)blob.data, blob.len);
}

/* --- resend ------------------------------------------------------------ */

/*
 * POST …/messages/{mid}/resend: a new row linked to the failed one, once
 * (outbox_record_resend decides between concurrent clicks), then sent.
 */
int
panel_conversation_resend(struct req *r)
{
	struct outbox_new	 nw;
	const char		*back, *why = NULL, *flash, *result = NULL;
	int64_t			 id, mid, resent_as = 0;

	if (!req_param_id(r, "id", &id) || !req_param_id(r, "mid", &mid))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	back = arena_printf(r->arena, "/conversations/%" PRId64, id);
	switch (outbox_record_resend(r->app, r->db, r->org_id, id, mid,
	    r->session != NULL ? r->session->user_id : 0, &nw, &resent_as,
	    &why)) {
	case OUTBOX_RESEND_OK:
		break;
	case OUTBOX_RESEND_NOT_FOUND:
		return resp_not_found(r);
	case OUTBOX_RESEND_NOT_FAILED:
		return resp_see_other(r, back, "Only a failed message can be "
		    "sent again.");
	case OUTBOX_RESEND_ALREADY:
		return resp_see_other(r, back, arena_printf(r->arena, "This "
		    "message was already sent again (as message %" PRId64 ").",
		    resent_as));
	case OUTBOX_RESEND_FINAL:
		return resp_see_other(r, back, arena_printf(r->arena,
		    "Resending cannot help: %s", why != NULL ? why :
		    "the provider will refuse it again."));
	case OUTBOX_RESEND_UNAVAILABLE:
	default:
		return resp_unavailable(r);
	}
	flash = panel_send(r, nw.message_id, nw.job_id, "Message sent again.",
	    &result);
	audit(r, "message.resent", "message", nw.message_id, arena_printf(
	    r->arena, "copy of message %" PRId64 "%s%s", mid,
	    str_eq(result, "sent") ? "" : ": ", str_eq(result, "sent") ? "" :
	    result));
	log_info("panel", "msg=\"message resent\" message=%" PRId64
	    " copy=%" PRId64 " result=%s", mid, nw.message_id, result);
	return resp_see_other(r, back, flash);
}
