/*
 * sender: what the provider senders (twilio.c meta.c kapso.c sandbox.c)
 * share, private to src/channels/. Callers outside use channel.h only.
 *
 * A provider is described by a struct channel_dialect: its name for
 * sentences, how to read its error bodies and its message ids, and a
 * table of error codes with the sentence for the review and whether
 * trying again later may help. channel_http_send() (registry.c) makes the
 * one HTTP call and turns whatever happened into a send_result, the same
 * way for every provider:
 *
 *   2xx                     SEND_OK (SEND_FAILED when an id was expected
 *                           and the answer has none)
 *   408, 429, 5xx           SEND_RETRY, retry_after_s from Retry-After
 *   a code marked retry     SEND_RETRY even on a 4xx (Meta 130429, Twilio
 *                           20429, PROTOCOLS.md §1.4, §2.7)
 *   the dialect's retry     SEND_RETRY (Kapso 409: another message in
 *   status                  flight, §3.4)
 *   other statuses          SEND_FAILED with the provider's code and a
 *                           sentence
 *   timeout, network        SEND_RETRY
 *
 * channel_http_get() is the same for downloads (fetch_media): the
 * statuses map alike, a body over the caller's maximum is SEND_FAILED
 * (the transfer is aborted as it passes the limit), and redirects are
 * followed a few times WITHOUT the first request's headers, so a
 * credential never reaches the host a provider redirects to (Twilio's
 * media redirect to a signed storage URL, PROTOCOLS.md §1.2).
 */
#ifndef PARLEY_CHANNELS_SENDER_H
#define PARLEY_CHANNELS_SENDER_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "channels/channel.h"
#include "util/buf.h"

#define CHANNEL_TIMEOUT_MS		15000
#define CHANNEL_CONNECT_TIMEOUT_MS	5000

#define CHANNEL_WINDOW_SENTENCE	"Outside the 24-hour customer service " \
	"window: only an approved template can be sent now."

/*
 * A provider error code, its sentence (NULL: the generic one), whether a
 * later try may work, whether the same message can never work
 * (channel_code_final), and whether it means the 24-hour window is
 * closed (channel_code_window: the message is held, not failed).
 */
struct channel_code {
	const char	*code;
	const char	*sentence;
	bool		 retry;
	bool		 final;
	bool		 window;
};

struct channel_dialect {
	const char			*name;	/* "Twilio", "Meta", "Kapso" */
	const struct channel_code	*codes;	/* ends with { NULL } */
	int				 retry_status;	/* 0: none */
	/* Code ("" if none) and message ("" if none) of an error body. */
	void	(*parse_error)(const cJSON *root, char *code, size_t codelen,
		    char *msg, size_t msglen);
	/* The message id of a 2xx body; false when there is none. */
	bool	(*parse_id)(const cJSON *root, char *id, size_t idlen);
};

struct channel_call {
	const char		*url;
	const char *const	*headers;	/* NULL-terminated */
	const char		*body;
	size_t			 body_len;
	bool			 want_id;	/* a message id must come back */
	/* May ride a kept connection, which libcurl may send it on twice
	 * (util/httpc.h): only a call whose repeat nobody notices (a typing
	 * indicator, a read receipt), never a message. */
	bool			 reuse;
};

/*
 * What a provider POST is: a message (its id must come back; its own
 * connection, so it is sent once) or an indicator (typing or read: no id,
 * idempotent, so it may ride a kept connection).
 */
enum channel_post_kind {
	CHANNEL_POST_MESSAGE,
	CHANNEL_POST_INDICATOR,
};

/*
 * Performs one POST and classifies it into *out (cleared first). Never
 * logs: headers hold credentials.
 */
enum send_result	 channel_http_send(const struct channel_dialect *d,
			    const struct channel_creds *c,
			    const struct channel_call *call,
			    struct send_outcome *out);
/* One download (see the file top). */
struct channel_fetch {
	const char		*url;
	const char *const	*headers;	/* first request only */
	size_t			 max_bytes;	/* body limit */
	int			 max_redirects;	/* 0: a redirect fails */
};

/*
 * Performs a GET (following redirects as f says) and classifies it into
 * *out (cleared first). On SEND_OK body holds the bytes and ctype the
 * response's bare media type, lower case ("" when none or malformed).
 * Never logs.
 */
enum send_result	 channel_http_get(const struct channel_dialect *d,
			    const struct channel_creds *c,
			    const struct channel_fetch *f, struct buf *body,
			    char *ctype, size_t ctlen,
			    struct send_outcome *out);
/*
 * True when url is base or lies below it: base (trailing '/' ignored)
 * followed by '/', '?' or nothing. Exact bytes, so "https://api.x.com"
 * does not cover "https://api.x.com.evil" nor "https://api.x.com@evil".
 */
bool			 channel_url_under(const char *url, const char *base);
/* True when url has base's scheme://host[:port]. */
bool			 channel_url_same_origin(const char *url,
			    const char *base);
/* "The media item is larger than 20 MiB, …" into out->error_text. */
enum send_result	 channel_refuse_size(struct send_outcome *out,
			    size_t max_bytes);

/* SEND_FAILED with a sentence (a channel set up wrong; no request). */
enum send_result	 channel_refuse(struct send_outcome *out,
			    const char *fmt, ...)
			    __attribute__((format(printf, 2, 3)));
/* True when s is set and fit for a URL or header (no CR, LF, controls). */
bool			 channel_field_ok(const char *s);
/* Appends base (or dflt when base is NULL or ""), minus a trailing '/'. */
void			 channel_url_base(struct buf *b, const char *base,
			    const char *dflt);

/*
 * Meta's JSON send API, shared by meta.c and kapso.c (Kapso proxies it):
 * POST {base}/{phone_number_id}/messages with the given auth header.
 */
enum send_result	 channel_meta_post(const struct channel_dialect *d,
			    const struct channel_creds *c, const char *base,
			    const char *dflt_base, const char *auth_header,
			    const cJSON *body, enum channel_post_kind kind,
			    struct send_outcome *out);
/*
 * Meta's two-step media download (§2.6), shared with kapso.c (§3.4):
 * GET {base}/{media_id}[?phone_number_id=…] with auth_header → {"url",
 * "mime_type","file_size"}; then GET url with auth_header when
 * auth_anywhere or when url has base's origin, else with no credential.
 */
enum send_result	 channel_meta_media(const struct channel_dialect *d,
			    const struct channel_creds *c, const char *base,
			    const char *dflt_base, const char *auth_header,
			    bool auth_anywhere, const char *media_id,
			    size_t max_bytes, struct buf *body, char *ctype,
			    size_t ctlen, struct send_outcome *out);
/*
 * Meta's media send (media_out.c), shared with kapso.c: the bytes of m
 * uploaded (POST {base}/{phone_number_id}/media, multipart) for an id,
 * then sent by that id. channel_meta_upload alone gives the id in
 * media_id; channel_meta_media_body is the send's JSON.
 */
enum send_result	 channel_meta_send_media(const struct channel_dialect *d,
			    const struct channel_creds *c, const char *base,
			    const char *dflt_base, const char *auth_header,
			    const char *to, bool is_group,
			    const struct channel_media_msg *m,
			    struct send_outcome *out);
enum send_result	 channel_meta_upload(const struct channel_dialect *d,
			    const struct channel_creds *c, const char *base,
			    const char *dflt_base, const char *auth_header,
			    const struct channel_media_msg *m, char *media_id,
			    size_t idlen, struct send_outcome *out);
cJSON			*channel_meta_media_body(const char *to,
			    bool is_group, const struct channel_media_msg *m,
			    const char *media_id);
/* "to" for a phone or a group, "recipient" for a business-scoped user id
 * (docs/whatsapp-platform.md §1.5), added to a Cloud API message body. */
void			 channel_meta_recipient(cJSON *root, const char *to,
			    bool is_group);
cJSON			*channel_meta_text(const char *to, bool is_group,
			    const char *text);
cJSON			*channel_meta_reaction(const char *to,
			    const char *message_id, const char *emoji);
cJSON			*channel_meta_typing(const char *message_id,
			    bool typing);
void			 channel_meta_parse_error(const cJSON *root,
			    char *code, size_t codelen, char *msg,
			    size_t msglen);
bool			 channel_meta_parse_id(const cJSON *root, char *id,
			    size_t idlen);
extern const struct channel_code	channel_meta_codes[];

/*
 * Templates (template.c). channel_template_new: an empty normalised entry
 * (channel.h list_templates); channel_template_set: one of its string
 * members, at most max bytes of whole characters, upper-cased on request;
 * channel_template_scan: appends every {{name}} of text not seen yet for
 * part to vars ({"name","example","part"}), the example taken from
 * positional[i] (["…"], 0-based by the number in the name) or named
 * ([{param_name, example}] or {"name": "…"}); returns how many it added.
 */
cJSON			*channel_template_new(void);
void			 channel_template_set(cJSON *entry, const char *key,
			    const char *value, size_t max, bool to_upper);
int			 channel_template_scan(cJSON *vars, const char *text,
			    const char *part, const cJSON *positional,
			    const cJSON *named);
/* One of Meta's message_templates objects, normalised. */
cJSON			*channel_meta_template_entry(const cJSON *t);
/* Meta's "type":"template" send body (docs/templates.md §2.1). */
cJSON			*channel_meta_template_body(const char *to,
			    bool is_group,
			    const struct channel_template_msg *t);
/*
 * GET {base}/{waba_id}/message_templates, every page (the cursor asked
 * for at base, never the provider's next URL), normalised into *list.
 */
enum send_result	 channel_meta_list(const struct channel_dialect *d,
			    const struct channel_creds *c, const char *base,
			    const char *dflt_base, const char *auth_header,
			    cJSON **list, struct send_outcome *out);

extern const struct channel_ops	channel_twilio;
extern const struct channel_ops	channel_meta;
extern const struct channel_ops	channel_kapso;
extern const struct channel_ops	channel_sandbox;

#endif
