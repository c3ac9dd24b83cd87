/*
 * integrations: Agent → Integrations (GET /agents/{id}/integrations).
 *
 * The WhatsApp card makes connect codes (POST …/connect-codes, 303 back
 * with a flash) for one of the organisation's channels and shows each
 * active code with what a WhatsApp user needs to redeem it: the channel's
 * number, a wa.me deep link pre-filled with "connect CODE" (PROTOCOLS.md
 * §4) and a QR code of that link. The sandbox channel has no number: the
 * page shows the text to send in the sandbox chat and links to it.
 * Below, the chats linked to the agent, each with an Unlink button (POST
 * …/chats/{chat}/unlink).
 *
 * The QR code is inline SVG built here with libqrencode: no JavaScript,
 * no image request, nothing from the client in it (the payload is a URL
 * this file made from a stored number and a code from a fixed alphabet).
 * It reaches the page through a raw template tag, justified there. It is
 * one <path>, a run of dark modules per sub-path, so a 37×37 code is a few
 * kilobytes.
 *
 * Every lookup names the session's org_id: another organisation's agent,
 * channel or chat is a 404, as an unknown one is.
 */
#include "panel/panel.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <qrencode.h>

#include "util/log.h"
#include "chat/connect.h"
#include "db/db.h"
#include "http/form.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/agent.h"
#include "http/audit.h"
#include "model/channel.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/str.h"

#define QR_QUIET	4	/* modules of white border, as the spec asks */
#define QR_SVG_MAX	(64 * 1024)

static bool		 load_agent(struct req *, int64_t *, struct agent *,
			    int *);
static char		*qr_svg(struct arena *, const char *);
static const char	*hhmm(struct arena *, const char *);
static const char	*short_time(struct arena *, const char *);
static const struct channel *find_channel(const struct channel *, int,
			    int64_t);
static const char	*channel_label(struct arena *, const struct channel *);
static int		 page(struct req *, int, const struct agent *, int64_t,
			    const char *);

/* The agent named by {id} in the session's org; on false *status is sent. */
static bool
load_agent(struct req *r, int64_t *id, struct agent *g, int *status)
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

/*
 * The QR code of text (level M) as an <svg> element, or NULL when
 * libqrencode refuses it (it cannot for our short URLs). Each run of dark
 * modules in a row is one "M x y h n v 1 h -n z" sub-path.
 */
static char *
qr_svg(struct arena *a, const char *text)
{
	QRcode		*q;
	struct buf	 b;
	char		*s = NULL;
	int		 w, size, run;

	q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (q == NULL)
		return NULL;
	w = q->width;
	size = w + 2 * QR_QUIET;
	buf_init(&b, QR_SVG_MAX);
	buf_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" "
	    "class=\"qr\" viewBox=\"0 0 %d %d\" width=\"200\" height=\"200\" "
	    "shape-rendering=\"crispEdges\" role=\"img\" "
	    "aria-label=\"QR code of the WhatsApp link\">"
	    "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>"
	    "<path fill=\"#000\" d=\"", size, size, size, size);
	for (int y = 0; y < w; y++) {
		for (int x = 0; x < w; x += run > 0 ? run : 1) {
			run = 0;
			/* Bit 0 of each module byte is "dark". */
			while (x + run < w && (q->data[y * w + x + run] & 1))
				run++;
			if (run > 0)
				buf_printf(&b, "M%d %dh%dv1h-%dz", x + QR_QUIET,
				    y + QR_QUIET, run, run);
		}
	}
	buf_puts(&b, "\"/></svg>");
	if (!b.err)
		s = arena_strdup(a, buf_str(&b));
	buf_cleanup(&b);
	QRcode_free(q);
	return s;
}

/* PostgreSQL's "2026-11-21 07:32:21.43+00" as "07:32 UTC". */
static const char *
hhmm(struct arena *a, const char *pg)
{
	size_t	 n = strlen(pg);

	if (n < 16 || pg[10] != ' ' || strcmp(pg + n - 3, "+00") != 0)
		return pg;
	return arena_printf(a, "%.5s UTC", pg + 11);
}

/* … and as "2026-11-21 07:32 UTC". */
static const char *
short_time(struct arena *a, const char *pg)
{
	size_t	 n = strlen(pg);

	if (n < 16 || pg[10] != ' ' || strcmp(pg + n - 3, "+00") != 0)
		return pg;
	return arena_printf(a, "%.16s UTC", pg);
}

static const struct channel *
find_channel(const struct channel *cs, int n, int64_t id)
{
	for (int i = 0; i < n; i++)
		if (cs[i].id == id)
			return &cs[i];
	return NULL;
}

/* "Support line (+15550001111)", "Sandbox (no number)". */
static const char *
channel_label(struct arena *a, const struct channel *c)
{
	if (str_eq(c->kind, "sandbox"))
		return arena_printf(a, "%s (sandbox, no number)", c->name);
	if (c->phone_number[0] != '\0')
		return arena_printf(a, "%s (%s)", c->name, c->phone_number);
	return c->name;
}

/*
 * The page: the code form (channel preselected), the active codes, the
 * linked chats. error, when not NULL, is the channel field's error.
 */
static int
page(struct req *r, int status, const struct agent *g, int64_t channel_id,
    const char *error)
{
	struct channel		*cs;
	struct connect_code	*codes;
	struct linked_chat	*chats;
	const struct channel	*c;
	cJSON			*ctx, *o, *arr;
	int64_t			 sandbox_id;
	int			 n_cs, n_codes, n_chats, minutes;
	char			*svg;

	if (channel_ensure_sandbox(r->db, r->org_id, &sandbox_id) != DB_OK ||
	    channel_list(r->db, r->arena, r->org_id, &cs, &n_cs) != DB_OK ||
	    connect_codes_active(r->db, r->arena, r->org_id, g->id, &codes,
	    &n_codes) != DB_OK ||
	    connect_linked_chats(r->db, r->arena, r->org_id, g->id, &chats,
	    &n_chats) != DB_OK)
		return resp_unavailable(r);

	ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", arena_printf(r->arena,
	    "Integrations · %s", g->name));
	o = cJSON_AddObjectToObject(ctx, "agent");
	cJSON_AddNumberToObject(o, "id", (double)g->id);
	cJSON_AddStringToObject(o, "name", g->name);

	arr = cJSON_AddArrayToObject(ctx, "channels");
	for (int i = 0; i < n_cs; i++) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)cs[i].id);
		cJSON_AddStringToObject(o, "label", channel_label(r->arena,
		    &cs[i]));
		cJSON_AddBoolToObject(o, "selected", cs[i].id == channel_id);
		cJSON_AddItemToArray(arr, o);
	}
	if (error != NULL)
		panel_field_error(ctx, "channel_id", error);

	arr = cJSON_AddArrayToObject(ctx, "codes");
	for (int i = 0; i < n_codes; i++) {
		c = find_channel(cs, n_cs, codes[i].channel_id);
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "code", codes[i].code);
		cJSON_AddStringToObject(o, "text", arena_printf(r->arena,
		    "connect %s", codes[i].code));
		cJSON_AddStringToObject(o, "channel_name", c != NULL ?
		    c->name : "");
		if (codes[i].deep_link[0] != '\0') {
			cJSON_AddStringToObject(o, "number",
			    codes[i].channel_number);
			cJSON_AddStringToObject(o, "deep_link",
			    codes[i].deep_link);
			svg = qr_svg(r->arena, codes[i].deep_link);
			if (svg != NULL)
				cJSON_AddStringToObject(o, "qr_svg", svg);
		} else if (c != NULL && str_eq(c->kind, "sandbox"))
			cJSON_AddStringToObject(o, "sandbox_url",
			    arena_printf(r->arena, "/agents/%" PRId64
			    "/sandbox", g->id));
		minutes = (codes[i].seconds_left + 59) / 60;
		cJSON_AddNumberToObject(o, "minutes_left", minutes);
		cJSON_AddBoolToObject(o, "one_minute", minutes == 1);
		cJSON_AddStringToObject(o, "expires_at", hhmm(r->arena,
		    codes[i].expires_at));
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddBoolToObject(ctx, "has_codes", n_codes > 0);

	arr = cJSON_AddArrayToObject(ctx, "chats");
	for (int i = 0; i < n_chats; i++) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)chats[i].chat_id);
		cJSON_AddBoolToObject(o, "is_group", str_eq(chats[i].kind,
		    "group"));
		cJSON_AddStringToObject(o, "external_id",
		    chats[i].external_id);
		if (chats[i].display_name[0] != '\0')
			cJSON_AddStringToObject(o, "display_name",
			    chats[i].display_name);
		cJSON_AddStringToObject(o, "channel_name",
		    chats[i].channel_name);
		if (chats[i].linked_at[0] != '\0')
			cJSON_AddStringToObject(o, "linked_at",
			    short_time(r->arena, chats[i].linked_at));
		if (chats[i].code[0] != '\0')
			cJSON_AddStringToObject(o, "code", chats[i].code);
		cJSON_AddStringToObject(o, "unlink_action",
		    arena_printf(r->arena, "/agents/%" PRId64 "/chats/%"
		    PRId64 "/unlink", g->id, chats[i].chat_id));
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddBoolToObject(ctx, "has_chats", n_chats > 0);
	return resp_page(r, status, "agents/integrations", ctx);
}

int
panel_integrations_page(struct req *r)
{
	struct agent	 g;
	int64_t		 id;
	int		 status;

	if (!load_agent(r, &id, &g, &status))
		return status;
	return page(r, 200, &g, 0, NULL);
}

/*
 * POST /agents/{id}/connect-codes (channel_id): a new code, then 303 back
 * to the page, which shows it. No channel chosen is 422; another
 * organisation's channel is 404.
 */
int
panel_connect_generate(struct req *r)
{
	struct agent		 g;
	struct connect_code	 code;
	int64_t			 id, channel_id;
	int			 status;
	enum db_status		 st;

	if (!load_agent(r, &id, &g, &status))
		return status;
	if (!form_get_int64(r->form, "channel_id", &channel_id) ||
	    channel_id <= 0)
		return page(r, 422, &g, 0, "Choose the channel people will "
		    "write to.");
	st = connect_code_create(r->db, r->arena, r->org_id, id, channel_id,
	    r->session != NULL ? r->session->user_id : 0, &code);
	switch (st) {
	case DB_OK:
		log_info("panel", "msg=\"connect code created\" agent=%" PRId64
		    " channel=%" PRId64, id, channel_id);
		audit(r, "connect.code_created", "agent", id, arena_printf(
		    r->arena, "channel %" PRId64, channel_id));
		return resp_see_other(r, arena_printf(r->arena, "/agents/%"
		    PRId64 "/integrations", id), arena_printf(r->arena,
		    "Connect code %s created. It works once, for %d minutes.",
		    code.code, CONNECT_TTL_S / 60));
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/*
 * POST /agents/{id}/chats/{chat}/unlink: the chat stops using this agent
 * (its open thread is closed). A chat not linked to this agent is 404.
 */
int
panel_connect_unlink(struct req *r)
{
	struct agent		 g;
	struct linked_chat	*chats;
	int64_t			 id, chat_id;
	int			 status, n;
	bool			 found = false;

	if (!load_agent(r, &id, &g, &status))
		return status;
	if (!req_param_id(r, "chat", &chat_id))
		return resp_not_found(r);
	if (connect_linked_chats(r->db, r->arena, r->org_id, id, &chats,
	    &n) != DB_OK)
		return resp_unavailable(r);
	for (int i = 0; i < n && !found; i++)
		found = chats[i].chat_id == chat_id;
	if (!found)
		return resp_not_found(r);
	switch (connect_unlink(r->db, r->org_id, chat_id)) {
	case DB_OK:
		log_info("panel", "msg=\"chat unlinked\" agent=%" PRId64
		    " chat=%" PRId64, id, chat_id);
		audit(r, "chat.unlinked", "chat", chat_id, arena_printf(
		    r->arena, "agent %" PRId64, id));
		return resp_see_other(r, arena_printf(r->arena, "/agents/%"
		    PRId64 "/integrations", id), "Chat unlinked. Its next "
		    "message gets the channel's default agent, if any.");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}
