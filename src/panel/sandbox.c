/*
 * sandbox: chat with an agent from the panel through the organisation's
 * sandbox channel (GET/POST /agents/{id}/sandbox, GET …/sandbox/messages).
 *
 * A message typed here takes the WhatsApp path end to end: it becomes a
 * struct inbound (provider id "sbx-in-<random>") stored by ingest_store
 * with its reply job, the reply pool answers it through the gateway, and
 * the sandbox sender "delivers" the answer by recording it. Nothing here
 * calls the model: the page only shows the chat's rows.
 *
 * Each admin has a DM chat per agent ("sandbox:<user id>:<agent id>") and
 * may simulate groups ("…:group:<group id>", messages from any sender
 * number and name). The chat is linked to the agent (chats.agent_id)
 * BEFORE the message is stored, so the reply job, which may run at once,
 * always finds its agent.
 *
 * With JavaScript on, static/sandbox.js polls …/sandbox/messages?after=N
 * every second and appends new messages; with it off, the form still
 * posts (303 back to the page) and a Refresh link reloads the chat.
 *
 * The page says where the chat stands (sandbox_state): the agent is
 * answering (only while a turn will come: never a spinner that cannot
 * end), it needs a person, a person has it, or it is closed; a message
 * the agent will not answer shows why. Return to AI gives a chat a person
 * has back to the agent (chat/handoff.h handoff_return); Reset starts
 * afresh (handoff_reset: back to the agent, a new thread). Both are
 * audited.
 * Every lookup names the session's org_id: another organisation's agent is
 * a 404 and its chats are never read.
 */
#include "panel/panel.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/context.h"
#include "util/log.h"
#include "chat/chats.h"
#include "chat/handoff.h"
#include "chat/ingest.h"
#include "chat/messages.h"
#include "crypto/token.h"
#include "db/db.h"
#include "http/audit.h"
#include "http/form.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/agent.h"
#include "model/channel.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/url.h"
#include "util/utf8.h"
#include "webhooks/webhook.h"
#include "worker/pool.h"

#define MESSAGE_MAX		4000	/* characters */
#define GROUP_ID_MAX		64	/* bytes of [A-Za-z0-9._@-] */
#define SENDER_NAME_MAX		60	/* characters */
#define DEFAULT_SENDER		"+15550000001"

/* Who is talking, as the form (or the query string) says. */
struct sandbox_who {
	const char	*group_id;	/* "" for the DM */
	const char	*sender;	/* "+E164" */
	const char	*sender_name;
};

static bool	 load(struct req *, int64_t *, struct agent *, int *);
static const char *field(struct req *, const char *, bool);
static void	 who_read(struct req *, bool, struct sandbox_who *);
static bool	 group_id_ok(const char *);
static bool	 e164_ok(const char *);
static char	*chat_key(struct req *, int64_t, const struct sandbox_who *);
static char	*page_url(struct req *, int64_t, const char *,
		    const struct sandbox_who *);
static enum db_status chat_rows(struct req *, const char *, int64_t,
		    struct chat_message **, int *);
static cJSON	*message_view(const struct chat_message *, const char *);
static enum db_status chat_of(struct req *, const char *, int64_t *);
static void	 sandbox_state(struct req *, cJSON *, int64_t, const char *);
static int	 act(struct req *, bool);
static int	 page(struct req *, int, const struct agent *,
		    const struct sandbox_who *, const char *, const char *,
		    const char *, const char *);

/* The agent named by {id} in the session's org; on false *status is sent. */
static bool
load(struct req *r, int64_t *id, struct agent *g, int *status)
{
	enum db_status	 st;

	if (!req_param_id(r, "id", id)) {
		*status = resp_not_found(r);
		return false;
	}
	if (req_db(r) == NULL) {
		*status = resp_unavailable(r);
		return false;
	}
	st = agent_get(r->db, r->arena, r->org_id, *id, g);
	if (st == DB_OK)
		return true;
	*status = st == DB_NOT_FOUND ? resp_not_found(r) :
	    resp_unavailable(r);
	return false;
}

/* A form field (POST) or query parameter (GET), trimmed; "" if absent. */
static const char *
field(struct req *r, const char *name, bool from_form)
{
	const char	*v = from_form ? form_get(r->form, name) :
			    req_query(r, name);

	return str_trim(arena_strdup(r->arena, v != NULL ? v : ""));
}

static void
who_read(struct req *r, bool from_form, struct sandbox_who *w)
{
	w->group_id = field(r, "group_id", from_form);
	w->sender = field(r, "sender", from_form);
	w->sender_name = field(r, "sender_name", from_form);
	if (w->sender[0] == '\0')
		w->sender = DEFAULT_SENDER;
}

static bool
group_id_ok(const char *s)
{
	size_t	 n = strlen(s);

	if (n > GROUP_ID_MAX)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr("._@-", *s) == NULL)
			return false;
	return true;
}

/* "+" then 6–15 digits. */
static bool
e164_ok(const char *s)
{
	size_t	 n = 0;

	if (s[0] != '+')
		return false;
	for (s++; *s != '\0'; s++, n++)
		if (!isdigit((unsigned char)*s))
			return false;
	return n >= 6 && n <= 15;
}

/* Callers check group_id_ok first: the key is at most ~110 bytes. */
static char *
chat_key(struct req *r, int64_t agent_id, const struct sandbox_who *w)
{
	int64_t	 user_id = r->session != NULL ? r->session->user_id : 0;

	if (w->group_id[0] == '\0')
		return arena_printf(r->arena, "sandbox:%" PRId64 ":%" PRId64,
		    user_id, agent_id);
	return arena_printf(r->arena, "sandbox:%" PRId64 ":%" PRId64
	    ":group:%s", user_id, agent_id, w->group_id);
}

/* "/agents/ID/sandbox<suffix>?…" keeping the group and sender (encoded). */
static char *
page_url(struct req *r, int64_t agent_id, const char *suffix,
    const struct sandbox_who *w)
{
	struct buf	 b;
	char		*s;
	char		 sep = '?';

	buf_init(&b, 4096);
	buf_printf(&b, "/agents/%" PRId64 "/sandbox%s", agent_id, suffix);
	if (w->group_id[0] != '\0') {
		buf_puts(&b, "?group_id=");
		url_encode(&b, w->group_id);
		sep = '&';
	}
	if (!str_eq(w->sender, DEFAULT_SENDER)) {
		buf_printf(&b, "%csender=", sep);
		url_encode(&b, w->sender);
		sep = '&';
	}
	if (w->sender_name[0] != '\0') {
		buf_printf(&b, "%csender_name=", sep);
		url_encode(&b, w->sender_name);
	}
	s = arena_strdup(r->arena, buf_str(&b));
	buf_cleanup(&b);
	return s;
}

/*
 * The sandbox chat's messages after after_id (the newest
 * CHAT_MESSAGES_MAX, far more than a second's worth of polling); none
 * when there is no chat yet.
 */
static enum db_status
chat_rows(struct req *r, const char *key, int64_t after_id,
    struct chat_message **out, int *n)
{
	int64_t		 channel_id, chat_id;
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = channel_ensure_sandbox(r->db, r->org_id, &channel_id);
	if (st != DB_OK)
		return st;
	st = chat_find(r->db, r->org_id, channel_id, key, &chat_id);
	if (st == DB_NOT_FOUND)
		return DB_OK;
	if (st != DB_OK)
		return st;
	return chat_messages_after(r->db, r->arena, r->org_id, chat_id,
	    after_id, CHAT_MESSAGES_MAX, out, n);
}

/* One message for the page and for the poll answer alike. */
static cJSON *
message_view(const struct chat_message *m, const char *agent_name)
{
	cJSON	*o = cJSON_CreateObject();
	bool	 is_in = str_eq(m->direction, "in");

	cJSON_AddNumberToObject(o, "id", (double)m->id);
	cJSON_AddBoolToObject(o, "is_in", is_in);
	cJSON_AddStringToObject(o, "who", is_in ? (m->sender_name[0] != '\0' ?
	    m->sender_name : m->sender) : agent_name);
	cJSON_AddStringToObject(o, "body", m->body);
	cJSON_AddStringToObject(o, "status", m->status);
	cJSON_AddBoolToObject(o, "failed", str_eq(m->status, "failed"));
	if (m->error_text != NULL || m->error_code != NULL)
		cJSON_AddStringToObject(o, "error", m->error_text != NULL ?
		    m->error_text : m->error_code);
	cJSON_AddStringToObject(o, "at", m->created_at);
	if (m->kind != NULL && !str_eq(m->kind, "message"))
		cJSON_AddStringToObject(o, "kind", m->kind);
	if (is_in && m->unanswered_reason != NULL)
		cJSON_AddStringToObject(o, "note", m->unanswered_reason);
	return o;
}

/* The sandbox chat's id (0: none yet). */
static enum db_status
chat_of(struct req *r, const char *key, int64_t *chat_id)
{
	int64_t		 channel_id;
	enum db_status	 st;

	*chat_id = 0;
	st = channel_ensure_sandbox(r->db, r->org_id, &channel_id);
	if (st != DB_OK)
		return st;
	st = chat_find(r->db, r->org_id, channel_id, key, chat_id);
	return st == DB_NOT_FOUND ? DB_OK : st;
}

/*
 * Where the chat stands, into o: state (ai|needs_human|human|closed),
 * state_text, pending (the agent will answer: the only time the page
 * says it is answering), can_return. No chat yet: ai, nothing pending.
 */
static void
sandbox_state(struct req *r, cJSON *o, int64_t chat_id, const char *agent)
{
	struct chat_state	 cs;
	const char		*text = "";
	bool			 pending = false;

	memset(&cs, 0, sizeof(cs));
	cs.status = "ai";
	if (chat_id != 0 && chat_state_get(r->db, r->arena, r->org_id,
	    chat_id, &cs) != DB_OK)
		cs.status = "ai";
	if (str_eq(cs.status, "ai")) {
		pending = cs.turn_busy || cs.unsettled > 0;
		if (pending && cs.outage)
			text = arena_printf(r->arena, "%s's model is not "
			    "answering right now: it is asked again until it "
			    "does (or the agent's wait is over and a person is "
			    "asked).", agent);
		else if (pending)
			text = arena_printf(r->arena, "%s is answering…", agent);
	} else if (str_eq(cs.status, "needs_human"))
		text = str_eq(cs.handoff_reason, HANDOFF_REASON_OUTAGE) ?
		    arena_printf(r->arena, "This chat needs a person: %s's "
		    "model did not answer for too long. %s answers again as "
		    "soon as its model does, unless someone takes the chat.",
		    agent, agent) : "This chat needs a person: the agent "
		    "handed it over. The agent does not answer until it is "
		    "returned.";
	else if (str_eq(cs.status, "human"))
		text = arena_printf(r->arena, "A person has this chat%s%s. "
		    "The agent does not answer until it is returned.",
		    cs.assigned_email[0] != '\0' ? ": " : "",
		    cs.assigned_email);
	else if (str_eq(cs.status, "closed"))
		text = "This chat is closed. A new message opens it again.";
	cJSON_AddStringToObject(o, "state", cs.status);
	cJSON_AddStringToObject(o, "state_text", text);
	cJSON_AddBoolToObject(o, "pending", pending);
	cJSON_AddBoolToObject(o, "handed_over", str_eq(cs.status,
	    "needs_human") || str_eq(cs.status, "human"));
	cJSON_AddBoolToObject(o, "can_return", str_eq(cs.status,
	    "needs_human") || str_eq(cs.status, "human"));
	cJSON_AddBoolToObject(o, "has_chat", chat_id != 0);
}

/* The page: the conversation, then the form (message prefilled on 422). */
static int
page(struct req *r, int status, const struct agent *g,
    const struct sandbox_who *w, const char *key, const char *message,
    const char *field_name, const char *error)
{
	struct chat_message	*msgs;
	cJSON			*ctx, *o, *arr;
	int64_t			 last_id = 0, chat_id;
	int			 n;

	if (chat_rows(r, key, 0, &msgs, &n) != DB_OK ||
	    chat_of(r, key, &chat_id) != DB_OK)
		return resp_unavailable(r);
	ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", "Sandbox");
	o = cJSON_AddObjectToObject(ctx, "agent");
	cJSON_AddNumberToObject(o, "id", (double)g->id);
	cJSON_AddStringToObject(o, "name", g->name);
	cJSON_AddStringToObject(o, "mode", g->mode);
	arr = cJSON_AddArrayToObject(ctx, "messages");
	for (int i = 0; i < n; i++) {
		cJSON_AddItemToArray(arr, message_view(&msgs[i], g->name));
		last_id = msgs[i].id;
	}
	cJSON_AddBoolToObject(ctx, "has_messages", n > 0);
	sandbox_state(r, ctx, chat_id, g->name);
	cJSON_AddNumberToObject(ctx, "last_id", (double)last_id);
	cJSON_AddBoolToObject(ctx, "is_group", w->group_id[0] != '\0');
	cJSON_AddStringToObject(ctx, "group_id", w->group_id);
	cJSON_AddStringToObject(ctx, "sender", w->sender);
	cJSON_AddStringToObject(ctx, "sender_name", w->sender_name);
	cJSON_AddStringToObject(ctx, "message", message != NULL ? message : "");
	cJSON_AddStringToObject(ctx, "page_url", page_url(r, g->id, "", w));
	cJSON_AddStringToObject(ctx, "poll_url",
	    page_url(r, g->id, "/messages", w));
	cJSON_AddStringToObject(ctx, "return_url",
	    page_url(r, g->id, "/return", w));
	cJSON_AddStringToObject(ctx, "reset_url",
	    page_url(r, g->id, "/reset", w));
	if (error != NULL)
		panel_field_error(ctx, field_name, error);
	return resp_page(r, status, "agents/sandbox", ctx);
}

int
panel_sandbox_page(struct req *r)
{
	struct agent		 g;
	struct sandbox_who	 w;
	int64_t			 id;
	int			 status;

	if (!load(r, &id, &g, &status))
		return status;
	who_read(r, false, &w);
	if (!group_id_ok(w.group_id))
		w.group_id = "";
	return page(r, 200, &g, &w, chat_key(r, id, &w), NULL, NULL, NULL);
}

/*
 * POST /agents/{id}/sandbox: the message enters through ingest_store like
 * a webhook's, then 303 back to the page (which shows it, and the answer
 * once the pool has sent it).
 */
int
panel_sandbox_send(struct req *r)
{
	struct agent		 g;
	struct sandbox_who	 w;
	struct inbound		 in;
	struct ingest_item	 item;
	const char		*msg, *key, *name;
	char			 rnd[25];
	int64_t			 id, channel_id, chat_id;
	enum db_status		 st;
	int			 status;
	size_t			 n;

	if (!load(r, &id, &g, &status))
		return status;
	who_read(r, true, &w);
	msg = field(r, "message", true);
	n = utf8_count(msg, strlen(msg));
	if (!group_id_ok(w.group_id)) {
		w.group_id = "";
		return page(r, 422, &g, &w, chat_key(r, id, &w), msg,
		    "group_id", "Use at most 64 letters, digits, dots, dashes, "
		    "underscores or @.");
	}
	key = chat_key(r, id, &w);
	if (!e164_ok(w.sender))
		return page(r, 422, &g, &w, key, msg, "sender", "Use a phone "
		    "number in international form, such as +15550000001.");
	if (utf8_count(w.sender_name, strlen(w.sender_name)) >
	    SENDER_NAME_MAX)
		return page(r, 422, &g, &w, key, msg, "sender_name",
		    "Use at most 60 characters.");
	if (n == 0 || n > MESSAGE_MAX)
		return page(r, 422, &g, &w, key, msg, "message", n == 0 ?
		    "Write a message to send to the agent." :
		    "Use at most 4000 characters.");

	name = w.sender_name;
	if (name[0] == '\0' && w.group_id[0] == '\0' && r->session != NULL)
		name = r->session->email;
	st = channel_ensure_sandbox(r->db, r->org_id, &channel_id);
	if (st == DB_OK)
		st = chat_link_agent(r->db, r->org_id, channel_id, key,
		    w.group_id[0] != '\0', w.group_id[0] != '\0' ?
		    w.group_id : name, id, &chat_id);
	if (st != DB_OK)
		return resp_unavailable(r);

	token_hex(rnd, sizeof(rnd));
	memset(&in, 0, sizeof(in));
	in.provider_message_id = arena_printf(r->arena, "sbx-in-%s", rnd);
	in.chat_external_id = key;
	in.is_group = w.group_id[0] != '\0';
	in.group_name = w.group_id;
	in.sender = w.sender;
	in.sender_name = name;
	in.type = "text";
	in.body = msg;
	memset(&item, 0, sizeof(item));
	item.org_id = r->org_id;
	item.channel_id = channel_id;
	item.in = &in;
	item.auto_answer = true;
	/* ingest takes its own connection (webhooks hold none either). */
	req_release_db(r);
	if (ingest_store(r->app, &item, 1) != INGEST_OK)
		return resp_unavailable(r);
	worker_pool_wake(r->app->workers);
	return resp_see_other(r, page_url(r, id, "", &w), NULL);
}

/*
 * GET /agents/{id}/sandbox/messages?after=N: the chat's messages after N
 * as JSON {"messages": [...], "last_id": N, "pending": bool, "state",
 * "state_text", "can_return"}, for static/sandbox.js (new messages
 * only: a reason a message got later shows when the page is loaded).
 */
int
panel_sandbox_messages(struct req *r)
{
	struct agent		 g;
	struct sandbox_who	 w;
	struct chat_message	*msgs;
	const char		*after_s, *key;
	int64_t			 id, after = 0, last_id, chat_id;
	int			 status, n;
	cJSON			*out, *arr;

	if (!load(r, &id, &g, &status))
		return status;
	who_read(r, false, &w);
	after_s = req_query(r, "after");
	if (!group_id_ok(w.group_id) || (after_s != NULL &&
	    (!str_to_i64(after_s, &after) || after < 0)))
		return resp_bad_request(r, "after must be a message id.");
	key = chat_key(r, id, &w);
	if (chat_rows(r, key, after, &msgs, &n) != DB_OK ||
	    chat_of(r, key, &chat_id) != DB_OK)
		return resp_unavailable(r);
	out = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(out, "messages");
	last_id = after;
	for (int i = 0; i < n; i++) {
		cJSON_AddItemToArray(arr, message_view(&msgs[i], g.name));
		last_id = msgs[i].id;
	}
	cJSON_AddNumberToObject(out, "last_id", (double)last_id);
	sandbox_state(r, out, chat_id, g.name);
	status = resp_json(r, 200, out);
	cJSON_Delete(out);
	return status;
}

/*
 * POST /agents/{id}/sandbox/return (give the chat back to the agent) and
 * …/reset (a fresh start): 303 back to the page with a flash.
 */
static int
act(struct req *r, bool reset)
{
	struct agent		 g;
	struct sandbox_who	 w;
	const char		*key;
	int64_t			 id, chat_id;
	enum db_status		 st;
	int			 status;

	if (!load(r, &id, &g, &status))
		return status;
	who_read(r, true, &w);
	if (!group_id_ok(w.group_id))
		w.group_id = "";
	key = chat_key(r, id, &w);
	if (chat_of(r, key, &chat_id) != DB_OK)
		return resp_unavailable(r);
	if (chat_id == 0)
		return resp_see_other(r, page_url(r, id, "", &w),
		    "There is no chat yet.");
	st = reset ? handoff_reset(r->db, r->org_id, chat_id) :
	    handoff_return(r->db, r->org_id, chat_id);
	if (st == DB_CONFLICT)
		return resp_see_other(r, page_url(r, id, "", &w),
		    "The agent has this chat already.");
	if (st != DB_OK)
		return resp_unavailable(r);
	audit(r, reset ? "chat.reset" : "handoff.returned", "chat", chat_id,
	    "sandbox");
	return resp_see_other(r, page_url(r, id, "", &w), reset ?
	    "The chat starts afresh with the agent." :
	    "The chat is back with the agent.");
}

int
panel_sandbox_return(struct req *r)
{
	return act(r, false);
}

int
panel_sandbox_reset(struct req *r)
{
	return act(r, true);
}
