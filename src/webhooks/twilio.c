/*
 * twilio: Twilio's WhatsApp webhooks, inbound messages and status
 * callbacks (PROTOCOLS.md §1.1–1.3).
 *
 * Twilio signs the URL it called plus every POST parameter, sorted, so the
 * urlencoded body is parsed first (nothing of it trusted), the channel is
 * found by its number (To for inbound, From for a status of one of our
 * messages), and X-Twilio-Signature is checked with that channel's Auth
 * Token over PARLEY_PUBLIC_URL + path (+ "?" + raw query). The URL is our
 * configured public one, never the Host header: behind a TLS proxy the
 * Host/scheme we see is not what Twilio signed (§1.1, [T3]). When the
 * check fails but would pass for the URL the Host header suggests, the
 * rejection says so, to help set-up.
 *
 * Twilio has no WhatsApp groups (§1.2, UNCONFIRMED either way): every
 * inbound message is a DM keyed by the sender. It sends no timestamp, so
 * every verified message counts as fresh. The answer is empty TwiML.
 */
#include "webhooks/webhooks.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "util/context.h"
#include "util/log.h"
#include "chat/ingest.h"
#include "chat/outbox.h"
#include "crypto/hmac.h"
#include "db/db.h"
#include "http/form.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/channel.h"
#include "util/arena.h"
#include "util/str.h"
#include "webhooks/chancache.h"
#include "webhooks/provider.h"
#include "webhooks/webhook.h"

#define PATH_INBOUND	"/webhooks/whatsapp/twilio"
#define PATH_STATUS	"/webhooks/whatsapp/twilio/status"
/*
 * The connection-override fragment our channel page suggests appending to
 * the webhook URL (§1.2, [T9]). Whether Twilio includes a fragment in the
 * signed URL is UNCONFIRMED (PROTOCOLS.md §7), so both forms are accepted;
 * the fragment is fixed text of ours, so this widens nothing.
 */
#define OVERRIDE_FRAGMENT	"#rc=5&rp=all"
/* Twilio's media cap is 10 per message. */
#define MEDIA_MAX	10

static const char	 twiml_empty[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

struct verified {
	struct form	*form;
	struct channel	 ch;
};

static const char	*strip_whatsapp(const char *);
static bool		 host_ok(const char *);
static bool		 signature_ok(const char *, const char *,
			    struct twilio_param *, size_t, const char *);
static const char	*url_mismatch(struct req *, const char *,
			    struct twilio_param *, size_t, const char *,
			    const char *);
static int		 verify(struct req *, const char *, bool,
			    struct verified *);
static int		 twiml(struct req *);
static const char	*media_type(const char *);
static int		 parse_inbound(struct req *, const struct form *,
			    struct inbound *);

static const char *
strip_whatsapp(const char *s)
{
	return str_starts_with(s, "whatsapp:") ? s + 9 : s;
}

/* A Host header we are willing to quote in a rejection's detail. */
static bool
host_ok(const char *h)
{
	size_t	 n;

	if (h == NULL || (n = strlen(h)) == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((h[i] >= 'a' && h[i] <= 'z') ||
		    (h[i] >= 'A' && h[i] <= 'Z') ||
		    (h[i] >= '0' && h[i] <= '9') ||
		    strchr(".-:[]", h[i]) != NULL))
			return false;
	return true;
}

/* url as is, then with the override fragment (see OVERRIDE_FRAGMENT). */
static bool
signature_ok(const char *token, const char *url, struct twilio_param *p,
    size_t n, const char *header)
{
	char	 frag[2400];

	if (hmac_twilio_verify(token, url, p, n, header))
		return true;
	if ((size_t)snprintf(frag, sizeof(frag), "%s%s", url,
	    OVERRIDE_FRAGMENT) >= sizeof(frag))
		return false;
	return hmac_twilio_verify(token, frag, p, n, header);
}

/*
 * The URL Twilio evidently signed when it is another scheme/host than
 * PARLEY_PUBLIC_URL (from the Host header), or NULL. For the health log
 * only: it never makes a request pass.
 */
static const char *
url_mismatch(struct req *r, const char *token, struct twilio_param *p,
    size_t n, const char *header, const char *path_query)
{
	const char	*host = req_header(r, "Host");
	const char	*schemes[] = { "https://", "http://" };

	if (!host_ok(host))
		return NULL;
	for (size_t i = 0; i < 2; i++) {
		const char	*url = arena_printf(r->arena, "%s%s%s",
				    schemes[i], host, path_query);

		if (signature_ok(token, url, p, n, header))
			return url;
	}
	return NULL;
}

/*
 * Parses the form, finds the channel by its number (To, or From for a
 * status callback) and checks the signature. Returns 0 with *v filled, or
 * the status it sent (400, 403, 415, 503).
 */
static int
verify(struct req *r, const char *path, bool is_status, struct verified *v)
{
	const char		*ct = req_header(r, "Content-Type");
	const char		*number, *header, *alt;
	const char		*path_query, *url;
	char			*token = NULL;
	struct twilio_param	*params;
	enum form_result	 fr;
	enum db_status		 st;
	int			 rc;
	bool			 ok;

	if (ct != NULL &&
	    strncmp(ct, "application/x-www-form-urlencoded", 33) != 0)
		return webhook_text(r, 415, "Send "
		    "application/x-www-form-urlencoded.\n");
	fr = form_parse_urlencoded(r->arena, r->body ? r->body : "",
	    r->body_len, &v->form);
	if (fr == FORM_TOO_LARGE)
		return webhook_text(r, 413, "Too many or too large fields.\n");
	if (fr != FORM_OK)
		return webhook_text(r, 400, fr == FORM_BAD_UTF8 ?
		    "The form is not UTF-8.\n" : "Malformed form.\n");
	number = form_get(v->form, is_status ? "From" : "To");
	if (number == NULL || *(number = strip_whatsapp(number)) == '\0')
		return webhook_text(r, 400, is_status ? "No From.\n" :
		    "No To.\n");
	st = chancache_get(r, "twilio", number, &v->ch, &token);
	if (st == DB_NOT_FOUND)
		return webhook_reject(r, "twilio", 0, 0, "unknown number",
		    number);
	if (st != DB_OK)
		return resp_unavailable(r);
	header = req_header(r, "X-Twilio-Signature");
	if (token == NULL || *token == '\0') {
		rc = webhook_reject(r, "twilio", v->ch.org_id, v->ch.id,
		    "no secret configured", "no Auth Token on the channel");
		goto out;
	}
	if (header == NULL || *header == '\0') {
		rc = webhook_reject(r, "twilio", v->ch.org_id, v->ch.id,
		    "missing signature", "no X-Twilio-Signature header");
		goto out;
	}

	params = arena_alloc(r->arena, sizeof(*params) *
	    (size_t)(v->form->n + 1));
	for (int i = 0; i < v->form->n; i++) {
		params[i].name = v->form->fields[i].name;
		params[i].value = v->form->fields[i].value;
	}
	path_query = *r->query != '\0' ?
	    arena_printf(r->arena, "%s?%s", path, r->query) : path;
	url = arena_printf(r->arena, "%s%s", r->app->cfg.public_url,
	    path_query);
	ok = signature_ok(token, url, params, (size_t)v->form->n, header);
	if (!ok) {
		alt = url_mismatch(r, token, params, (size_t)v->form->n,
		    header, path_query);
		rc = webhook_reject(r, "twilio", v->ch.org_id, v->ch.id,
		    "bad signature", alt == NULL ? "" :
		    arena_printf(r->arena, "URL mismatch: Twilio signed %s, "
		    "PARLEY_PUBLIC_URL is %s", alt, r->app->cfg.public_url));
		goto out;
	}
	chancache_verified(r, &v->ch);
	rc = 0;
out:
	return rc;
}

static int
twiml(struct req *r)
{
	return resp_send(r, 200, "text/xml", twiml_empty,
	    sizeof(twiml_empty) - 1);
}

/* Our message type for a media content type. */
static const char *
media_type(const char *ct)
{
	if (str_starts_with(ct, "image/"))
		return "image";
	if (str_starts_with(ct, "audio/"))
		return "audio";
	if (str_starts_with(ct, "video/"))
		return "video";
	return "document";
}

/* The verified form → *in (§1.2). Returns 0 or the status sent (400). */
static int
parse_inbound(struct req *r, const struct form *f, struct inbound *in)
{
	const char	*sid = form_get(f, "MessageSid");
	const char	*from = form_get(f, "From");
	const char	*mtype = form_get(f, "MessageType");
	const char	*lat = form_get(f, "Latitude");
	const char	*lng = form_get(f, "Longitude");
	int64_t		 n_media = 0;
	cJSON		*media = NULL;

	memset(in, 0, sizeof(*in));
	if (sid == NULL)
		sid = form_get(f, "SmsMessageSid");
	if (!webhook_id_ok(sid))
		return webhook_text(r, 400, "No MessageSid.\n");
	if (from == NULL || *(from = strip_whatsapp(from)) == '\0' ||
	    strlen(from) > WEBHOOK_ID_MAX)
		return webhook_text(r, 400, "No From.\n");
	if (form_get(f, "NumMedia") != NULL &&
	    (!form_get_int64(f, "NumMedia", &n_media) || n_media < 0))
		return webhook_text(r, 400, "Bad NumMedia.\n");
	if (n_media > MEDIA_MAX)
		n_media = MEDIA_MAX;

	in->provider_message_id = sid;
	in->sender = from;
	in->chat_external_id = from;
	in->is_group = false;
	in->group_name = "";
	in->sender_name = form_str(f, "ProfileName");
	in->body = form_str(f, "Body");
	in->timestamp = 0;
	in->type = "text";
	if (n_media > 0) {
		media = cJSON_CreateArray();
		arena_defer(r->arena, (void (*)(void *))cJSON_Delete, media);
		for (int i = 0; i < (int)n_media; i++) {
			char		 k[48];
			const char	*url, *ct;
			cJSON		*m;

			snprintf(k, sizeof(k), "MediaUrl%d", i);
			url = form_get(f, k);
			snprintf(k, sizeof(k), "MediaContentType%d", i);
			ct = form_str(f, k);
			if (url == NULL)
				continue;
			m = cJSON_CreateObject();
			cJSON_AddStringToObject(m, "url", url);
			cJSON_AddStringToObject(m, "contentType", ct);
			cJSON_AddItemToArray(media, m);
			if (cJSON_GetArraySize(media) == 1)
				in->type = media_type(ct);
		}
		if (cJSON_GetArraySize(media) > 0)
			in->media = media;
	}
	if (lat != NULL && lng != NULL && in->media == NULL) {
		in->type = "location";
		if (*in->body == '\0')
			in->body = arena_printf(r->arena, "%s,%s%s%s", lat,
			    lng, form_get(f, "Address") ? " " : "",
			    form_str(f, "Address"));
	}
	/* Twilio's own type wins when it sends one (e.g. interactive). */
	if (mtype != NULL && *mtype != '\0' && strlen(mtype) <= 32)
		in->type = mtype;
	if (str_eq(in->type, "interactive") && *in->body == '\0')
		in->body = form_str(f, "ButtonText");
	return 0;
}

int
webhook_twilio_inbound(struct req *r)
{
	struct verified		 v;
	struct inbound		 in;
	struct ingest_item	 item;
	int			 st;

	if ((st = verify(r, PATH_INBOUND, false, &v)) != 0)
		return st;
	if ((st = parse_inbound(r, v.form, &in)) != 0)
		return st;
	memset(&item, 0, sizeof(item));
	item.org_id = v.ch.org_id;
	item.channel_id = v.ch.id;
	item.in = &in;
	item.auto_answer = ingest_is_fresh(r->app, in.timestamp);
	req_release_db(r);
	if (ingest_store(r->app, &item, 1) != INGEST_OK)
		return resp_unavailable(r);
	webhook_record_unstored(r, "twilio", &item, 1);
	return twiml(r);
}

/*
 * Status callbacks (§1.3): sent, delivered and read as they are;
 * undelivered is failed; the rest (queued, sending, accepted, …) are
 * steps before a terminal state and change nothing.
 */
int
webhook_twilio_status(struct req *r)
{
	struct verified	 v;
	const char	*sid, *status;
	enum db_status	 st;
	struct db	*db;
	int		 rc;

	if ((rc = verify(r, PATH_STATUS, true, &v)) != 0)
		return rc;
	sid = form_get(v.form, "MessageSid");
	status = form_str(v.form, "MessageStatus");
	if (!webhook_id_ok(sid))
		return webhook_text(r, 400, "No MessageSid.\n");
	if (str_eq(status, "undelivered"))
		status = "failed";
	if (!str_eq(status, "sent") && !str_eq(status, "delivered") &&
	    !str_eq(status, "read") && !str_eq(status, "failed"))
		return twiml(r);
	if ((db = req_db(r)) == NULL)
		return resp_unavailable(r);
	st = outbox_status_update(db, v.ch.org_id, v.ch.id, sid, status,
	    form_str(v.form, "ErrorCode"), form_str(v.form, "ErrorMessage"));
	if (st != DB_OK && st != DB_NOT_FOUND && st != DB_INVALID)
		return resp_unavailable(r);
	return twiml(r);
}
