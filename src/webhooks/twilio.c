/*
 * twilio: Twilio's WhatsApp webhooks, inbound messages and status
 * callbacks (PROTOCOLS.md §1.1–1.3).
 *
 * Twilio signs the URL it called plus every POST parameter, sorted, so the
 * urlencoded body is parsed first (nothing of it trusted), the channel is
 * found by its number (To for inbound, From for a status of one of our
 * messages), and X-Twilio-Signature is checked over PARLEY_PUBLIC_URL +
 * path (+ "?" + raw query). The URL is our configured public one, never
 * the Host header: behind a TLS proxy the Host/scheme we see is not what
 * Twilio signed (§1.1, [T3]). When the check fails but would pass for the
 * URL the Host header suggests, the rejection says so, to help set-up.
 *
 * Two signing schemes (docs/whatsapp-platform.md §4). Without
 * X-Twilio-Webhooks-Signature-Settings, the classic one: HMAC-SHA1 keyed
 * by the channel's Auth Token. With it ("key=<id>,algorithm=HMAC_SHA256"),
 * Webhook Shared Keys: the same string under the named algorithm keyed by
 * a shared key's secret; the named key is tried first, then every other
 * key the channel holds. The settings header is not covered by the
 * signature, so the key id it names is a hint, not a credential: a
 * delivery that verifies under any live key of the channel is Twilio's,
 * and trying the others costs a few HMACs (at most five keys) while
 * sparing a delivery whose key id was pasted wrongly, or written by
 * Twilio in another form than its API shows. The Auth Token is never
 * tried for a delivery that names a shared key, nor a shared key for one
 * that does not (twilio-node 6.3.1 chooses the same way). Every rejection
 * on the health panel starts with the scheme the delivery used and the
 * key id it named.
 *
 * Twilio has no WhatsApp groups (§1.2, UNCONFIRMED either way): every
 * inbound message is a DM keyed by the sender, who is known by its phone
 * and/or business-scoped user id (parse_ident). It sends no timestamp, so
 * every verified message counts as fresh. The answer is empty TwiML.
 */
#include "webhooks/webhooks.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "util/context.h"
#include "util/log.h"
#include "chat/fees.h"
#include "chat/ingest.h"
#include "chat/outbox.h"
#include "chat/window.h"
#include "crypto/hmac.h"
#include "db/db.h"
#include "http/form.h"
#include "http/req.h"
#include "http/resp.h"
#include "model/channel.h"
#include "util/arena.h"
#include "util/str.h"
#include "util/waid.h"
#include "webhooks/chancache.h"
#include "webhooks/provider.h"
#include "webhooks/webhook.h"
#include "worker/fee.h"
#include "worker/queue.h"

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

/* How a delivery says it is signed (its settings header). */
struct scheme {
	bool			 shared;	/* a Webhook Shared Key */
	enum hmac_twilio_alg	 alg;
	char			 key_id[HMAC_TWILIO_KEY_ID_MAX + 1];
	bool			 key_known;	/* key_id is the channel's */
};

/* The secrets a delivery may be signed with, in the order tried. */
struct candidates {
	int		 n;
	const char	**secret;
	const char	**key_id;	/* NULL for the Auth Token */
};

static const char	*strip_whatsapp(const char *);
static bool		 host_ok(const char *);
static void		 scheme_read(struct req *, struct scheme *);
static const char	*scheme_text(struct arena *, const struct scheme *);
static void		 candidates_make(struct req *, struct scheme *,
			    const char *, const struct chancache_key *, int,
			    struct candidates *);
static bool		 signature_ok(enum hmac_twilio_alg, const char *,
			    const char *, struct twilio_param *, size_t,
			    const char *);
static int		 first_match(const struct scheme *,
			    const struct candidates *, const char *,
			    struct twilio_param *, size_t, const char *);
static const char	*url_mismatch(struct req *, const struct scheme *,
			    const struct candidates *, struct twilio_param *,
			    size_t, const char *, const char *);
static int		 verify(struct req *, const char *, bool,
			    struct verified *);
static int		 twiml(struct req *);
static const char	*media_type(const char *);
static int		 want_price(struct req *, const struct channel *,
			    const char *);
static int		 parse_ident(struct req *, const struct form *,
			    const char *, struct contact_ident *);
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

/*
 * The scheme of the delivery: shared when the settings header has
 * anything in it (twilio-node's test is the same: an empty header is no
 * header).
 */
static void
scheme_read(struct req *r, struct scheme *sc)
{
	const char	*h = req_header(r, "X-Twilio-Webhooks-Signature-Settings");

	memset(sc, 0, sizeof(*sc));
	sc->alg = HMAC_TWILIO_SHA1;
	if (h == NULL || h[strspn(h, " \t")] == '\0')
		return;
	sc->shared = true;
	sc->alg = hmac_twilio_settings(h, sc->key_id, sizeof(sc->key_id));
}

/* "scheme: …" for the health panel (key ids are printable ASCII). */
static const char *
scheme_text(struct arena *a, const struct scheme *sc)
{
	if (!sc->shared)
		return "scheme: Auth Token (HMAC_SHA1)";
	return arena_printf(a, "scheme: shared key %s (%s)%s",
	    sc->key_id[0] != '\0' ? sc->key_id : "(none named)",
	    sc->alg == HMAC_TWILIO_UNSUPPORTED ? "unsupported algorithm" :
	    hmac_twilio_alg_name(sc->alg),
	    sc->key_id[0] != '\0' && !sc->key_known ?
	    ", not one of this channel's keys" : "");
}

/* The Auth Token, or the shared keys with the named one first. */
static void
candidates_make(struct req *r, struct scheme *sc, const char *token,
    const struct chancache_key *keys, int n_keys, struct candidates *c)
{
	memset(c, 0, sizeof(*c));
	c->secret = arena_alloc(r->arena, sizeof(char *) * (size_t)(n_keys + 1));
	c->key_id = arena_alloc(r->arena, sizeof(char *) * (size_t)(n_keys + 1));
	if (!sc->shared) {
		if (token != NULL && *token != '\0') {
			c->secret[0] = token;
			c->key_id[0] = NULL;
			c->n = 1;
		}
		return;
	}
	for (int i = 0; i < n_keys; i++)
		if (str_eq(keys[i].key_id, sc->key_id)) {
			sc->key_known = true;
			c->secret[c->n] = keys[i].secret;
			c->key_id[c->n++] = keys[i].key_id;
		}
	for (int i = 0; i < n_keys; i++)
		if (!str_eq(keys[i].key_id, sc->key_id)) {
			c->secret[c->n] = keys[i].secret;
			c->key_id[c->n++] = keys[i].key_id;
		}
}

/* url as is, then with the override fragment (see OVERRIDE_FRAGMENT). */
static bool
signature_ok(enum hmac_twilio_alg alg, const char *secret, const char *url,
    struct twilio_param *p, size_t n, const char *header)
{
	char	 frag[2400];

	if (hmac_twilio_verify_alg(alg, secret, url, p, n, header))
		return true;
	if ((size_t)snprintf(frag, sizeof(frag), "%s%s", url,
	    OVERRIDE_FRAGMENT) >= sizeof(frag))
		return false;
	return hmac_twilio_verify_alg(alg, secret, frag, p, n, header);
}

/* The index of the first candidate that verifies over url, or -1. */
static int
first_match(const struct scheme *sc, const struct candidates *c,
    const char *url, struct twilio_param *p, size_t n, const char *header)
{
	for (int i = 0; i < c->n; i++)
		if (signature_ok(sc->alg, c->secret[i], url, p, n, header))
			return i;
	return -1;
}

/*
 * The URL Twilio evidently signed when it is another scheme/host than
 * PARLEY_PUBLIC_URL (from the Host header), or NULL. For the health log
 * only: it never makes a request pass.
 */
static const char *
url_mismatch(struct req *r, const struct scheme *sc,
    const struct candidates *c, struct twilio_param *p, size_t n,
    const char *header, const char *path_query)
{
	const char	*host = req_header(r, "Host");
	const char	*schemes[] = { "https://", "http://" };

	if (!host_ok(host))
		return NULL;
	for (size_t i = 0; i < 2; i++) {
		const char	*url = arena_printf(r->arena, "%s%s%s",
				    schemes[i], host, path_query);

		if (first_match(sc, c, url, p, n, header) >= 0)
			return url;
	}
	return NULL;
}

/*
 * Parses the form, finds the channel by its number (To, or From for a
 * status callback) and checks the signature under the delivery's scheme.
 * Returns 0 with *v filled, or the status it sent (400, 403, 415, 503).
 */
static int
verify(struct req *r, const char *path, bool is_status, struct verified *v)
{
	const char		*ct = req_header(r, "Content-Type");
	const char		*number, *header, *alt, *how;
	const char		*path_query, *url;
	char			*token = NULL;
	struct chancache_key	*keys = NULL;
	struct twilio_param	*params;
	struct scheme		 sc;
	struct candidates	 cand;
	enum form_result	 fr;
	enum db_status		 st;
	int			 n_keys = 0, hit;

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
	st = chancache_get_twilio(r, number, &v->ch, &token, &keys, &n_keys);
	if (st == DB_NOT_FOUND)
		return webhook_reject(r, "twilio", 0, 0, "unknown number",
		    number);
	if (st != DB_OK)
		return resp_unavailable(r);
	scheme_read(r, &sc);
	candidates_make(r, &sc, token, keys, n_keys, &cand);
	how = scheme_text(r->arena, &sc);
	header = req_header(r, "X-Twilio-Signature");
	if (sc.shared && sc.alg == HMAC_TWILIO_UNSUPPORTED)
		return webhook_reject(r, "twilio", v->ch.org_id, v->ch.id,
		    "unsupported algorithm", how);
	if (cand.n == 0)
		return webhook_reject(r, "twilio", v->ch.org_id, v->ch.id,
		    "no secret configured", arena_printf(r->arena, "%s; %s",
		    how, sc.shared ? "this channel holds no shared key" :
		    "no Auth Token on the channel"));
	if (header == NULL || *header == '\0')
		return webhook_reject(r, "twilio", v->ch.org_id, v->ch.id,
		    "missing signature", arena_printf(r->arena, "%s; no "
		    "X-Twilio-Signature header", how));

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
	hit = first_match(&sc, &cand, url, params, (size_t)v->form->n, header);
	if (hit < 0) {
		alt = url_mismatch(r, &sc, &cand, params, (size_t)v->form->n,
		    header, path_query);
		return webhook_reject(r, "twilio", v->ch.org_id, v->ch.id,
		    "bad signature", alt == NULL ? how :
		    arena_printf(r->arena, "%s; URL mismatch: Twilio signed "
		    "%s, PARLEY_PUBLIC_URL is %s", how, alt,
		    r->app->cfg.public_url));
	}
	if (sc.shared && !str_eq(cand.key_id[hit], sc.key_id))
		log_info("webhook", "msg=\"twilio delivery verified under "
		    "another shared key than the one it names\" channel=%lld "
		    "named=%s verified=%s", (long long)v->ch.id,
		    sc.key_id[0] != '\0' ? sc.key_id : "-", cand.key_id[hit]);
	chancache_verified(r, &v->ch);
	return 0;
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

/*
 * The sender's identity (docs/whatsapp-platform.md §3): From is its phone
 * ("whatsapp:+…"), or its business-scoped user id when Twilio has no
 * phone ("whatsapp:US.…"); ExternalUserId carries the user id beside a
 * phone (both [3p], consistent); ParentExternalUserId and ProfileUsername
 * (else Username) are read when present (UNCONFIRMED names, harmless when
 * absent). Returns 0 or the 400 it sent.
 */
static int
parse_ident(struct req *r, const struct form *f, const char *from,
    struct contact_ident *out)
{
	const char	*uid = form_get(f, "ExternalUserId");
	const char	*puid = form_get(f, "ParentExternalUserId");
	const char	*user = form_get(f, "ProfileUsername");

	memset(out, 0, sizeof(*out));
	if (user == NULL)
		user = form_get(f, "Username");
	out->phone = webhook_phone(r->arena, from);
	if (out->phone == NULL) {
		if (!waid_is_user_id(from) && !webhook_id_ok(from))
			return webhook_text(r, 400, "From is neither a phone "
			    "number nor a WhatsApp user id.\n");
		out->phone = "";
		if (uid == NULL || *strip_whatsapp(uid) == '\0')
			uid = from;
	}
	out->user_id = uid != NULL ? strip_whatsapp(uid) : "";
	out->parent_user_id = puid != NULL ? strip_whatsapp(puid) : "";
	if ((*out->user_id != '\0' && !webhook_id_ok(out->user_id)) ||
	    (*out->parent_user_id != '\0' &&
	    !webhook_id_ok(out->parent_user_id)))
		return webhook_text(r, 400, "Bad ExternalUserId.\n");
	if (user != NULL && webhook_ident_ok(user))
		out->username = user;
	return 0;
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
	int		 st;

	memset(in, 0, sizeof(*in));
	if (sid == NULL)
		sid = form_get(f, "SmsMessageSid");
	if (!webhook_id_ok(sid))
		return webhook_text(r, 400, "No MessageSid.\n");
	if (from == NULL || *(from = strip_whatsapp(from)) == '\0' ||
	    strlen(from) > WEBHOOK_ID_MAX)
		return webhook_text(r, 400, "No From.\n");
	if ((st = parse_ident(r, f, from, &in->from)) != 0)
		return st;
	if (form_get(f, "NumMedia") != NULL &&
	    (!form_get_int64(f, "NumMedia", &n_media) || n_media < 0))
		return webhook_text(r, 400, "Bad NumMedia.\n");
	if (n_media > MEDIA_MAX)
		n_media = MEDIA_MAX;

	in->provider_message_id = sid;
	in->sender = *in->from.phone != '\0' ? in->from.phone :
	    in->from.user_id;
	in->chat_external_id = in->sender;
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
	/* What WhatsApp could not hand over (§1.2; UNCONFIRMED names). */
	in->kind = str_eq(in->type, "unsupported") ||
	    str_eq(in->type, "unknown") ? INBOUND_UNSUPPORTED :
	    INBOUND_MESSAGE;
	if (str_eq(in->type, "interactive") && *in->body == '\0')
		in->body = form_str(f, "ButtonText");
	/* A quick reply carries its action id as ButtonPayload; ours is
	 * parley_continue (key on it, not on MessageType: §3 of
	 * docs/templates.md). */
	if (window_is_continue(form_get(f, "ButtonPayload"))) {
		in->window_continue = true;
		if (*in->body == '\0')
			in->body = form_str(f, "ButtonText");
	}
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
	item.auto_answer = ingest_is_fresh(r->app, in.timestamp) &&
	    !in.window_continue;
	req_release_db(r);
	if (ingest_store(r->app, &item, 1) != INGEST_OK)
		return resp_unavailable(r);
	webhook_record_unstored(r, "twilio", &item, 1);
	return twiml(r);
}

/* A fee job for our message sid, unless its price is known. Returns 0, or
 * the 503 it sent. */
static int
want_price(struct req *r, const struct channel *ch, const char *sid)
{
	struct db	*db;
	enum db_status	 st;
	int64_t		 mid = 0, job = 0;

	if ((db = req_db(r)) == NULL)
		return resp_unavailable(r);
	st = fees_price_wanted(db, ch->org_id, ch->id, sid, &mid);
	if (st == DB_OK && mid > 0)
		st = queue_enqueue(db, ch->org_id, QUEUE_KIND_FEE,
		    arena_printf(r->arena, "{\"message_id\":%lld}",
		    (long long)mid), FEE_MAX_ATTEMPTS, &job);
	return st == DB_UNAVAILABLE ? resp_unavailable(r) : 0;
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
	if ((rc = webhook_status(r, &v.ch, sid, status,
	    form_str(v.form, "ErrorCode"), form_str(v.form, "ErrorMessage"),
	    NULL)) != 0)
		return rc;
	/*
	 * Twilio's callbacks carry no price (docs/whatsapp-platform.md §6):
	 * once the message arrived, a fee job asks the Message resource.
	 */
	if ((str_eq(status, "delivered") || str_eq(status, "read")) &&
	    (rc = want_price(r, &v.ch, sid)) != 0)
		return rc;
	return twiml(r);
}
