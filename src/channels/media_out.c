/*
 * media_out: sending a media item (docs/media-out.md §1): which types and
 * sizes each provider takes, and Meta's two calls (shared with Kapso,
 * which proxies Meta's API with the same bodies).
 *
 * Limits, checked before anything is recorded or sent (a clear sentence,
 * never a provider round trip that can only fail):
 *   meta, kapso  image   image/jpeg, image/png                  5 MB
 *                audio   audio/aac, amr, mpeg, mp4, ogg (Opus)  16 MB
 *                video   video/mp4, video/3gpp                  16 MB
 *                document text/plain, PDF, Word, Excel, PowerPoint 100 MB
 *   twilio       16 MB a message, images 5 MB; JPEG, PNG, WebP; OGG, AMR,
 *                3GPP, AAC, MPEG audio; PDF, DOC(X), XLSX, PPTX; MP4
 *   sandbox      any type, within the caller's own cap
 * "MB" is read as 10^6 bytes, the smaller reading of the providers' word.
 *
 * Meta: POST {base}/{phone_number_id}/media (multipart/form-data: the
 * parts messaging_product=whatsapp, type=<mime> and file, with its
 * filename and Content-Type) → {"id"}; then POST …/messages with
 * {"type":"<kind>","<kind>":{"id","caption"?,"filename"?,"voice"?}}.
 * An upload is not a message: a "try later" after it uploads again on
 * the next try, and only the second call is the send the outbox records.
 *
 * Thread-safety: stateless.
 */
#include "channels/channel.h"
#include "channels/sender.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/buf.h"
#include "util/str.h"
#include "util/url.h"

#define MB			(1000u * 1000u)
#define UPLOAD_TIMEOUT_MS	120000
#define CAPTION_MAX		1024
#define VOICE_TYPE		"audio/ogg; codecs=opus"

struct media_rule {
	const char	*kind;		/* image|audio|video|document */
	const char	*ctype;		/* bare type */
	size_t		 max;
};

static const struct media_rule meta_rules[] = {
	{ "image", "image/jpeg", 5 * MB },
	{ "image", "image/png", 5 * MB },
	{ "audio", "audio/aac", 16 * MB },
	{ "audio", "audio/amr", 16 * MB },
	{ "audio", "audio/mpeg", 16 * MB },
	{ "audio", "audio/mp4", 16 * MB },
	{ "audio", "audio/ogg", 16 * MB },
	{ "video", "video/mp4", 16 * MB },
	{ "video", "video/3gpp", 16 * MB },
	{ "document", "text/plain", 100 * MB },
	{ "document", "application/pdf", 100 * MB },
	{ "document", "application/msword", 100 * MB },
	{ "document", "application/vnd.openxmlformats-officedocument."
	    "wordprocessingml.document", 100 * MB },
	{ "document", "application/vnd.ms-excel", 100 * MB },
	{ "document", "application/vnd.openxmlformats-officedocument."
	    "spreadsheetml.sheet", 100 * MB },
	{ "document", "application/vnd.ms-powerpoint", 100 * MB },
	{ "document", "application/vnd.openxmlformats-officedocument."
	    "presentationml.presentation", 100 * MB },
	{ NULL, NULL, 0 },
};

static const struct media_rule twilio_rules[] = {
	{ "image", "image/jpeg", 5 * MB },
	{ "image", "image/png", 5 * MB },
	{ "image", "image/webp", 5 * MB },
	{ "audio", "audio/ogg", 16 * MB },
	{ "audio", "audio/amr", 16 * MB },
	{ "audio", "audio/3gpp", 16 * MB },
	{ "audio", "audio/aac", 16 * MB },
	{ "audio", "audio/mpeg", 16 * MB },
	{ "video", "video/mp4", 16 * MB },
	{ "document", "application/pdf", 16 * MB },
	{ "document", "application/msword", 16 * MB },
	{ "document", "application/vnd.openxmlformats-officedocument."
	    "wordprocessingml.document", 16 * MB },
	{ "document", "application/vnd.openxmlformats-officedocument."
	    "spreadsheetml.sheet", 16 * MB },
	{ "document", "application/vnd.openxmlformats-officedocument."
	    "presentationml.presentation", 16 * MB },
	{ NULL, NULL, 0 },
};

static const struct media_rule *rule_for(const struct media_rule *,
			    const char *);
static size_t		 chars(const char *);
static void		 part_header(struct buf *, const char *, const char *,
			    const char *, const char *);
static void		 safe_name(char *, size_t, const char *);
static bool		 upload_id(const cJSON *, char *, size_t);

const char *
channel_media_kind(const char *ctype)
{
	if (ctype == NULL)
		return "document";
	if (str_eq(ctype, "image/jpeg") || str_eq(ctype, "image/png") ||
	    str_eq(ctype, "image/webp"))
		return "image";
	if (strncmp(ctype, "audio/", 6) == 0)
		return "audio";
	if (str_eq(ctype, "video/mp4") || str_eq(ctype, "video/3gpp"))
		return "video";
	return "document";
}

/* Characters of UTF-8 text (continuation bytes not counted). */
static size_t
chars(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

static const struct media_rule *
rule_for(const struct media_rule *rules, const char *ctype)
{
	for (; rules->kind != NULL; rules++)
		if (str_eq(rules->ctype, ctype))
			return rules;
	return NULL;
}

const char *
channel_media_refusal(const char *kind, const struct channel_media_msg *m,
    char *buf, size_t buflen)
{
	const struct media_rule	*rules, *r;
	const char		*who;

	if (m->len == 0)
		return "The media item is empty.";
	if (m->caption != NULL && chars(m->caption) > CAPTION_MAX)
		return "The caption is too long: at most 1024 characters.";
	if (str_eq(kind, "sandbox"))
		return NULL;
	if (str_eq(kind, "twilio")) {
		rules = twilio_rules;
		who = "Twilio";
	} else if (str_eq(kind, "meta") || str_eq(kind, "kapso")) {
		rules = meta_rules;
		who = str_eq(kind, "meta") ? "Meta" : "Kapso";
	} else
		return "This channel cannot send media.";
	if ((r = rule_for(rules, m->content_type)) == NULL) {
		snprintf(buf, buflen, "WhatsApp through %s does not take "
		    "media of type %s: send a JPEG or PNG image, a PDF or "
		    "Office document, MP4 video or AAC, MP3, MP4 or OGG "
		    "audio.", who, m->content_type != NULL &&
		    m->content_type[0] != '\0' ? m->content_type : "unknown");
		return buf;
	}
	if (m->len > r->max) {
		snprintf(buf, buflen, "The %s is %.1f MB; WhatsApp through %s "
		    "takes at most %zu MB for %s.", r->kind,
		    (double)m->len / MB, who, r->max / MB, r->ctype);
		return buf;
	}
	if (str_eq(r->kind, "audio") && m->caption != NULL &&
	    m->caption[0] != '\0')
		return "WhatsApp shows no caption on audio: send the text as "
		    "its own message.";
	if (m->voice && !str_eq(r->ctype, "audio/ogg"))
		return "A voice note must be OGG audio with the Opus codec.";
	/* Twilio: "does not support setting a filename or caption for
	 * documents" (docs/media-out.md §1.3). */
	if (str_eq(kind, "twilio") && str_eq(r->kind, "document") &&
	    m->caption != NULL && m->caption[0] != '\0')
		return "WhatsApp through Twilio shows no caption on a document: "
		    "send the text as its own message.";
	return NULL;
}

/* --- Meta (and Kapso) ---------------------------------------------------- */

/* A name safe inside a quoted multipart parameter: no quote, backslash,
 * control or non-ASCII byte (each becomes '_'); "file" when empty. */
static void
safe_name(char *out, size_t outlen, const char *name)
{
	size_t	 n = 0;

	for (; name != NULL && *name != '\0' && n + 1 < outlen; name++) {
		unsigned char	 ch = (unsigned char)*name;

		out[n++] = ch < 0x20 || ch >= 0x7f || ch == '"' ||
		    ch == '\\' ? '_' : (char)ch;
	}
	out[n] = '\0';
	if (n == 0)
		snprintf(out, outlen, "file");
}

static void
part_header(struct buf *b, const char *boundary, const char *name,
    const char *filename, const char *ctype)
{
	buf_printf(b, "--%s\r\nContent-Disposition: form-data; name=\"%s\"",
	    boundary, name);
	if (filename != NULL)
		buf_printf(b, "; filename=\"%s\"", filename);
	buf_puts(b, "\r\n");
	if (ctype != NULL)
		buf_printf(b, "Content-Type: %s\r\n", ctype);
	buf_puts(b, "\r\n");
}

/* The upload's answer: {"id":"…"}. */
static bool
upload_id(const cJSON *root, char *id, size_t idlen)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(root, "id");

	if (!cJSON_IsString(v) || v->valuestring[0] == '\0' ||
	    strlen(v->valuestring) >= idlen)
		return false;
	snprintf(id, idlen, "%s", v->valuestring);
	return true;
}

enum send_result
channel_meta_upload(const struct channel_dialect *d,
    const struct channel_creds *c, const char *base, const char *dflt_base,
    const char *auth_header, const struct channel_media_msg *m,
    char *media_id, size_t idlen, struct send_outcome *out)
{
	struct channel_dialect	 up = *d;
	struct channel_creds	 slow = *c;
	struct channel_call	 call;
	struct buf		 url, body;
	unsigned char		 rnd[12];
	char			 boundary[2 * sizeof(rnd) + 16];
	char			 ctype_hdr[sizeof(boundary) + 48];
	char			 name[128];
	const char		*headers[] = { auth_header, ctype_hdr,
				    "Accept: application/json", NULL };
	enum send_result	 st;

	media_id[0] = '\0';
	if (!channel_field_ok(c->phone_number_id))
		return channel_refuse(out, "The channel has no phone number "
		    "id.");
	if (base != NULL && base[0] != '\0' && !channel_field_ok(base))
		return channel_refuse(out, "The %s API base URL is not "
		    "valid.", d->name);
	if (!channel_field_ok(m->content_type))
		return channel_refuse(out, "The media item has no type.");
	randombytes_buf(rnd, sizeof(rnd));
	memcpy(boundary, "parley-", 7);
	str_hex(boundary + 7, rnd, sizeof(rnd));
	snprintf(ctype_hdr, sizeof(ctype_hdr), "Content-Type: "
	    "multipart/form-data; boundary=%s", boundary);
	safe_name(name, sizeof(name), m->filename != NULL ? m->filename :
	    str_eq(m->kind, "image") ? (str_eq(m->content_type, "image/png") ?
	    "image.png" : "image.jpg") : "file");

	buf_init(&url, 0);
	channel_url_base(&url, base, dflt_base);
	buf_putc(&url, '/');
	url_encode(&url, c->phone_number_id);
	buf_puts(&url, "/media");
	buf_init(&body, 0);
	part_header(&body, boundary, "messaging_product", NULL, NULL);
	buf_puts(&body, "whatsapp\r\n");
	/* A voice note is OGG with the Opus codec, said so (§1.1). */
	part_header(&body, boundary, "type", NULL, NULL);
	buf_printf(&body, "%s\r\n", m->voice ? VOICE_TYPE : m->content_type);
	part_header(&body, boundary, "file", name, m->voice ? VOICE_TYPE :
	    m->content_type);
	buf_append(&body, m->data, m->len);
	buf_printf(&body, "\r\n--%s--\r\n", boundary);

	/* The upload answers {"id"}, not a message: its own reading. */
	up.parse_id = upload_id;
	/* Megabytes at a time: longer than a text's timeout. */
	if (slow.timeout_ms < UPLOAD_TIMEOUT_MS)
		slow.timeout_ms = UPLOAD_TIMEOUT_MS;
	memset(&call, 0, sizeof(call));
	call.url = buf_str(&url);
	call.headers = headers;
	call.body = body.data;
	call.body_len = body.len;
	call.want_id = true;
	st = channel_http_send(&up, &slow, &call, out);
	if (st == SEND_OK) {
		snprintf(media_id, idlen, "%s", out->provider_message_id);
		out->provider_message_id[0] = '\0';
	}
	buf_cleanup(&body);
	buf_cleanup(&url);
	return st;
}

cJSON *
channel_meta_media_body(const char *to, bool is_group,
    const struct channel_media_msg *m, const char *media_id)
{
	cJSON	*root = cJSON_CreateObject(), *o;

	cJSON_AddStringToObject(root, "messaging_product", "whatsapp");
	cJSON_AddStringToObject(root, "recipient_type",
	    is_group ? "group" : "individual");
	channel_meta_recipient(root, to, is_group);
	cJSON_AddStringToObject(root, "type", m->kind);
	o = cJSON_AddObjectToObject(root, m->kind);
	cJSON_AddStringToObject(o, "id", media_id);
	if (m->caption != NULL && m->caption[0] != '\0' &&
	    !str_eq(m->kind, "audio"))
		cJSON_AddStringToObject(o, "caption", m->caption);
	if (str_eq(m->kind, "document") && m->filename != NULL &&
	    m->filename[0] != '\0')
		cJSON_AddStringToObject(o, "filename", m->filename);
	if (str_eq(m->kind, "audio") && m->voice)
		cJSON_AddTrueToObject(o, "voice");
	return root;
}

enum send_result
channel_meta_send_media(const struct channel_dialect *d,
    const struct channel_creds *c, const char *base, const char *dflt_base,
    const char *auth_header, const char *to, bool is_group,
    const struct channel_media_msg *m, struct send_outcome *out)
{
	char			 media_id[160];
	cJSON			*body;
	enum send_result	 st;

	if (to == NULL || to[0] == '\0' || m == NULL || m->data == NULL ||
	    m->kind == NULL)
		return channel_refuse(out, "There is no recipient or no media "
		    "to send.");
	st = channel_meta_upload(d, c, base, dflt_base, auth_header, m,
	    media_id, sizeof(media_id), out);
	if (st != SEND_OK)
		return st;
	body = channel_meta_media_body(to, is_group, m, media_id);
	st = channel_meta_post(d, c, base, dflt_base, auth_header, body,
	    CHANNEL_POST_MESSAGE, out);
	cJSON_Delete(body);
	return st;
}
