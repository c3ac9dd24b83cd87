/*
 * panel/handoff: the takeover buttons of a conversation's timeline
 * (templates/conversations/actions.mustache): claim, reply, return to the
 * AI, close. Members may use them all (the routes carry no R_ADMIN). Each
 * calls chat/handoff.h and redirects back to the timeline with a flash;
 * another organisation's chat is a 404 (every call names r->org_id).
 */
#include "panel/panel.h"

#include <inttypes.h>
#include <string.h>

#include "util/log.h"
#include "chat/handoff.h"
#include "chat/media.h"
#include "chat/outbox.h"
#include "db/db.h"
#include "http/form.h"
#include "http/req.h"
#include "http/resp.h"
#include "http/audit.h"
#include "util/arena.h"
#include "util/str.h"
#include "util/utf8.h"

#define REPLY_MAX	4096	/* bytes; WhatsApp's text limit is 4096 */

static const char	*timeline(struct req *, int64_t);
static int		 not_recorded(struct req *, int64_t, enum db_status);
static int		 reply_file(struct req *, int64_t,
			    const struct form_field *, const char *);

static const char *
timeline(struct req *r, int64_t id)
{
	return arena_printf(r->arena, "/conversations/%" PRId64, id);
}

/* 0 when a reply was recorded, else the answer that says why not. */
static int
not_recorded(struct req *r, int64_t id, enum db_status st)
{
	switch (st) {
	case DB_OK:
		return 0;
	case DB_CONFLICT:
		return resp_see_other(r, timeline(r, id), "This conversation "
		    "is closed.");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/* POST /conversations/{id}/claim */
int
panel_handoff_claim(struct req *r)
{
	int64_t	 id;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	switch (handoff_claim(r->db, r->org_id, id, r->session->user_id)) {
	case DB_OK:
		audit(r, "handoff.claimed", "chat", id, "");
		return resp_see_other(r, timeline(r, id), "You have this "
		    "conversation now. The AI will not answer it.");
	case DB_CONFLICT:
		return resp_see_other(r, timeline(r, id), "This conversation "
		    "is closed.");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/* POST /conversations/{id}/reply: body=… */
int
panel_handoff_reply(struct req *r)
{
	struct outbox_new	 nw;
	const struct form_field	*file;
	const char		*body, *flash, *result = NULL;
	int64_t			 id;
	size_t			 len;
	int			 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	body = form_str(r->form, "body");
	len = strlen(body);
	while (len > 0 && (body[len - 1] == ' ' || body[len - 1] == '\n' ||
	    body[len - 1] == '\r' || body[len - 1] == '\t'))
		len--;
	file = form_field(r->form, "file");
	if (file != NULL && file->filename != NULL && file->len > 0)
		return reply_file(r, id, file, arena_strndup(r->arena, body,
		    len));
	if (len == 0 || len > REPLY_MAX || !utf8_valid(body, len))
		return resp_see_other(r, timeline(r, id), len == 0 ?
		    "Write a reply first." : "The reply is too long.");
	body = arena_strndup(r->arena, body, len);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if ((st = not_recorded(r, id, handoff_reply(r->app, r->db, r->org_id,
	    id, r->session->user_id, body, &nw))) != 0)
		return st;
	/* Recorded (with its send job): now sent, no connection held. */
	flash = panel_send(r, nw.message_id, nw.job_id, "Reply sent.",
	    &result);
	audit(r, "handoff.replied", "chat", id, str_eq(result, "sent") ? "" :
	    result);
	return resp_see_other(r, timeline(r, id), flash);
}

/*
 * The reply with a file: checked (size, type, the channel's limits) and
 * staged in the media store with no connection of the request held, then
 * recorded as the person's media message and sent like a text reply.
 */
static int
reply_file(struct req *r, int64_t id, const struct form_field *file,
    const char *caption)
{
	struct media_staged	 staged;
	struct outbox_media	 m;
	struct outbox_new	 nw;
	const char		*why = NULL, *flash, *result = NULL;
	int			 st;

	if (strlen(caption) > REPLY_MAX || !utf8_valid(caption,
	    strlen(caption)))
		return resp_see_other(r, timeline(r, id), "The caption is too "
		    "long.");
	req_release_db(r);
	switch (media_out_prepare(r->app, r->arena, r->org_id, id,
	    (const unsigned char *)file->value, file->len, file->content_type,
	    file->filename, caption, &staged, &m, &why)) {
	case DB_OK:
		break;
	case DB_INVALID:
		return resp_see_other(r, timeline(r, id), arena_printf(
		    r->arena, "The file was not sent: %s", why));
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if ((st = not_recorded(r, id, handoff_reply_media(r->app, r->db,
	    r->org_id, id, r->session->user_id, &m, &nw))) != 0)
		return st;
	flash = panel_send(r, nw.message_id, nw.job_id, "File sent.",
	    &result);
	audit(r, "handoff.replied", "chat", id, arena_printf(r->arena,
	    "file %s (%zu bytes)%s%s", m.content_type, file->len,
	    str_eq(result, "sent") ? "" : ": ", str_eq(result, "sent") ? "" :
	    result));
	return resp_see_other(r, timeline(r, id), flash);
}

/* POST /conversations/{id}/return */
int
panel_handoff_return(struct req *r)
{
	int64_t	 id;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	switch (handoff_return(r->db, r->org_id, id)) {
	case DB_OK:
		audit(r, "handoff.returned", "chat", id, "");
		return resp_see_other(r, timeline(r, id), "Returned to the AI. "
		    "Its next message starts a new thread.");
	case DB_CONFLICT:
		return resp_see_other(r, timeline(r, id), "The AI already has "
		    "this conversation, or it is closed.");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}

/* POST /conversations/{id}/close */
int
panel_handoff_close(struct req *r)
{
	int64_t	 id;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	switch (handoff_close(r->db, r->org_id, id)) {
	case DB_OK:
		audit(r, "handoff.closed", "chat", id, "");
		return resp_see_other(r, timeline(r, id), "Conversation "
		    "closed. A new message from the contact reopens it with "
		    "the AI.");
	case DB_CONFLICT:
		return resp_see_other(r, timeline(r, id), "This conversation "
		    "is already closed.");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	default:
		return resp_unavailable(r);
	}
}
