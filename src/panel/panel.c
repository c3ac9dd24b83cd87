/*
 * panel: layout context and principal loading (see panel.h).
 */
#include "panel/panel.h"

#include <string.h>

#include "chat/handoff.h"
#include "chat/outbox.h"
#include "db/db.h"
#include "http/csrf.h"
#include "http/req.h"
#include "model/user.h"
#include "util/arena.h"
#include "util/context.h"
#include "util/str.h"

/*
 * The areas of the panel, each with the least role that may use it (the
 * route table enforces it; the navigation only hides what would be a 403).
 * An area whose pages are not built yet is shown as coming, not as a link.
 */
static const struct {
	const char	*label;
	const char	*href;
	bool		 ready;
	int		 min_rank;	/* role_rank() */
} areas[] = {
	{ "Dashboard", "/", true, 1 },
	{ "Agents", "/agents", true, 2 },
	{ "Channels", "/channels", true, 2 },
	{ "Conversations", "/conversations", true, 1 },
	{ "Jobs", "/jobs", true, 2 },
	{ "Plugins", "/plugins", true, 2 },
	{ "Settings", "/settings", true, 1 },
};

static int	role_rank(const char *);

/* member 1, admin 2, owner 3; anything else 0. */
static int
role_rank(const char *role)
{
	if (str_eq(role, "owner"))
		return 3;
	if (str_eq(role, "admin"))
		return 2;
	return str_eq(role, "member") ? 1 : 0;
}

static bool	is_active(const char *, const char *);

static bool
is_active(const char *path, const char *href)
{
	size_t	 n = strlen(href);

	if (strcmp(href, "/") == 0)
		return strcmp(path, "/") == 0;
	return strncmp(path, href, n) == 0 && (path[n] == '\0' ||
	    path[n] == '/');
}

void
panel_decorate(struct req *r, cJSON *ctx)
{
	cJSON	*nav, *item, *user;
	int64_t	 waiting = 0;
	int	 rank;

	cJSON_AddStringToObject(ctx, "csrf", csrf_token(r));
	cJSON_AddStringToObject(ctx, "version", PARLEY_VERSION);
	if (r->session == NULL)
		return;
	cJSON_AddTrueToObject(ctx, "signed_in");
	nav = cJSON_AddArrayToObject(ctx, "nav");
	rank = role_rank(r->session->role);
	cJSON_AddBoolToObject(ctx, "is_admin", rank >= 2);
	cJSON_AddBoolToObject(ctx, "is_owner", rank >= 3);
	for (size_t i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
		if (rank < areas[i].min_rank)
			continue;
		item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "label", areas[i].label);
		cJSON_AddStringToObject(item, "href", areas[i].href);
		cJSON_AddBoolToObject(item, "ready", areas[i].ready);
		cJSON_AddBoolToObject(item, "active",
		    is_active(r->path, areas[i].href));
		/* The inbox: chats waiting for a person (one indexed count). */
		if (strcmp(areas[i].href, "/conversations") == 0 &&
		    req_db(r) != NULL &&
		    handoff_count_waiting(r->db, r->session->org_id,
		    &waiting) == DB_OK && waiting > 0)
			cJSON_AddNumberToObject(item, "badge",
			    (double)waiting);
		cJSON_AddItemToArray(nav, item);
	}
	user = cJSON_AddObjectToObject(ctx, "user");
	cJSON_AddStringToObject(user, "email", r->session->email);
	cJSON_AddStringToObject(user, "role", r->session->role);
	cJSON_AddStringToObject(ctx, "org_name", r->session->org_name);
	if (r->session->flash != NULL)
		cJSON_AddStringToObject(ctx, "flash", r->session->flash);
}

bool
panel_load_principal(struct req *r)
{
	struct user_principal	 p;

	if (req_db(r) == NULL)
		return false;
	if (user_principal_get(r->db, r->arena, r->session->org_id,
	    r->session->user_id, &p) != DB_OK)
		return false;
	r->session->email = p.email;
	r->session->org_name = p.org_name;
	r->session->role = p.role;
	r->session->must_change_password = p.must_change_password;
	return true;
}

void
panel_field_error(cJSON *ctx, const char *field, const char *msg)
{
	cJSON	*errs = cJSON_GetObjectItemCaseSensitive(ctx, "errors");
	cJSON	*e;
	char	 key[64];

	if (errs == NULL) {
		errs = cJSON_AddArrayToObject(ctx, "errors");
		cJSON_AddTrueToObject(ctx, "has_errors");
	}
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "field", field);
	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddItemToArray(errs, e);
	snprintf(key, sizeof(key), "error_%s", field);
	if (cJSON_GetObjectItemCaseSensitive(ctx, key) == NULL)
		cJSON_AddStringToObject(ctx, key, msg);
}

bool
panel_add_unclaimed(struct req *r, cJSON *ctx, int links)
{
	struct handoff_waiting	*w;
	cJSON			*u, *arr, *o;
	int			 n, minutes;

	switch (handoff_unclaimed(r->db, r->arena, r->org_id, 200, &w, &n,
	    &minutes)) {
	case DB_OK:
		break;
	case DB_NOT_FOUND:
		return true;
	default:
		return false;
	}
	if (n == 0)
		return true;
	u = cJSON_AddObjectToObject(ctx, "unclaimed");
	cJSON_AddNumberToObject(u, "count", n);
	cJSON_AddBoolToObject(u, "one", n == 1);
	cJSON_AddNumberToObject(u, "minutes", minutes);
	arr = cJSON_AddArrayToObject(u, "chats");
	for (int i = 0; i < n && i < links; i++) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)w[i].chat_id);
		cJSON_AddStringToObject(o, "name", w[i].display_name[0] !=
		    '\0' ? w[i].display_name : w[i].external_id);
		cJSON_AddNumberToObject(o, "waited", w[i].waited_minutes);
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddBoolToObject(u, "more", n > links);
	return true;
}

const char *
panel_send(struct req *r, int64_t message_id, int64_t job_id,
    const char *sent, const char **result)
{
	struct outbox_send	 s;
	enum outbox_result	 res;

	req_release_db(r);
	memset(&s, 0, sizeof(s));
	s.app = r->app;
	s.a = r->arena;
	s.org_id = r->org_id;
	s.message_id = message_id;
	s.job_id = job_id;
	res = outbox_send(&s);
	if (result != NULL)
		*result = outbox_result_str(res);
	switch (res) {
	case OUTBOX_SENT:
		return sent;
	case OUTBOX_LATER:
		return "WhatsApp asked to wait: Parley will send it shortly.";
	case OUTBOX_UNAVAILABLE:
		return "Not sent yet: the database is unavailable. Parley "
		    "will try again shortly.";
	case OUTBOX_REFUSED:
		return arena_printf(r->arena, "The message could not be "
		    "sent: %s", s.o.error_text[0] != '\0' ? s.o.error_text :
		    "the provider did not accept it.");
	case OUTBOX_UNKNOWN:
		if (s.o.provider_message_id[0] != '\0')
			return sent;
		return "Parley could not tell whether it was sent: see the "
		    "conversation.";
	case OUTBOX_HELD:
		return "The 24-hour window is closed: the message is held, "
		    "and the follow-up template asks the contact to continue. "
		    "It goes out as soon as they answer.";
	case OUTBOX_DROPPED:
	case OUTBOX_GONE:
	default:
		return "The message was not sent.";
	}
}
