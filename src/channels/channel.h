/*
 * channel: how a reply leaves Parley, one implementation per provider
 * (twilio.c meta.c kapso.c sandbox.c), chosen by the channel's kind through
 * a vtable, never an if-chain (STYLE.md §2).
 *
 * A send is one HTTP call with timeouts; its result says whether the
 * provider accepted the message (with its id), whether trying again later
 * may help (429, 5xx, timeouts, network), or whether it will not (a 4xx
 * such as a bad number or outside the 24-hour window), with the
 * provider's error code and text for the conversation review. Every
 * secret of the channel_creds is redacted from that text (and from the
 * code and id) before it leaves src/channels/ (crypto/redact.h): a
 * provider that echoes the credentials it was sent cannot put them into
 * a message's error_text, a log line or a page.
 *
 * Where credentials go: each provider's API root comes from the
 * operator's environment (PARLEY_TWILIO_API_BASE, PARLEY_META_GRAPH_BASE,
 * PARLEY_KAPSO_API_BASE, read into api_base), never from a channel row,
 * so no panel or API edit can send a stored credential to another host;
 * a media URL that arrives in a webhook is only fetched with credentials
 * when it lies under that root (twilio.c), and a redirect never carries
 * them (registry.c).
 *
 * fetch_media downloads one inbound media item the same way (GETs with
 * the same timeouts, one result kind): SEND_OK with the bytes, SEND_RETRY
 * when a later try may work (429, 5xx, timeouts, network), SEND_FAILED
 * with a sentence when it will not (404, refused credentials, a URL
 * Parley will not fetch, an item over the size limit).
 */
#ifndef PARLEY_CHANNELS_CHANNEL_H
#define PARLEY_CHANNELS_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* Decrypted credentials and identity of one channel, for one send. */
struct channel_creds {
	const char	*kind;
	const char	*api_base;		/* provider API root (config) */
	const char	*api_base2;		/* Twilio: messaging API root */
	const char	*phone_number;		/* "+E164": Twilio's sender */
	const char	*phone_number_id;	/* Meta, Kapso */
	const char	*account_sid;		/* Twilio */
	const char	*auth_token;		/* Twilio */
	const char	*access_token;		/* Meta */
	const char	*api_key;		/* Kapso */
	/*
	 * The channel's webhook secrets (Meta app secret and verify token,
	 * Kapso webhook secret): never sent anywhere, only redacted from
	 * what a provider answers, like the credentials above.
	 */
	const char	*app_secret;
	const char	*verify_token;
	const char	*webhook_secret;
	const char	*status_callback;	/* Twilio: our status URL, or NULL */
	const char	*content_base;		/* Twilio: Content API root */
	const char	*waba_id;		/* Meta, Kapso: the WhatsApp
						   Business Account (templates) */
	int		 timeout_ms;		/* total per call; 0: 15000 */
};

/*
 * One approved template to send (docs/templates.md §2): Meta and Kapso
 * send it by name and language with the values of its parameters; Twilio
 * by its content SID with ContentVariables. The arrays are borrowed.
 */
struct channel_template_msg {
	const char	*name;
	const char	*language;
	const char	*content_sid;	/* Twilio: HX…; others: unused */
	bool		 named;		/* NAMED parameters (parameter_name) */
	/* [{"name":"1","value":"…","part":"body"|"header"}], in order */
	const cJSON	*params;
	/* [{"index":0,"payload":"…"}]: quick-reply buttons' payloads */
	const cJSON	*quick_replies;
};

/* Templates listed (list_templates), at most this many pages. */
#define CHANNEL_TEMPLATE_PAGES_MAX	50

/*
 * RULE for every template sender (docs/whatsapp-platform.md §1.5): an
 * authentication template (one-tap, zero-tap, copy-code) is never sent to
 * a contact known only by its user id (waid_is_user_id(to)); refuse it
 * before any request, with this sentence. Meta answers 131062 if one gets
 * through, which channel_code_final treats as final.
 */
#define CHANNEL_AUTH_USER_ID_SENTENCE "Authentication templates can only " \
	"go to a phone number, and this contact is known by their WhatsApp " \
	"user id only."

enum send_result {
	SEND_OK = 0,	/* accepted: out->provider_message_id is set */
	SEND_RETRY,	/* may work later (429, 5xx, timeout, network) */
	SEND_FAILED,	/* will not work as it is (4xx): error set */
};

struct send_outcome {
	char	 provider_message_id[160];
	char	 error_code[32];	/* provider's code, e.g. "63016" */
	char	 error_text[512];	/* a sentence for the review */
	int	 http_status;
	int	 retry_after_s;		/* from Retry-After, 0: none */
};

struct buf;
struct config;
struct channel_dialect;

/*
 * One media item to send (docs/media-out.md §1): Meta and Kapso upload
 * the bytes (POST /{phone_number_id}/media, multipart) and send the
 * returned id; Twilio sends url (MediaUrl: a signed Parley URL serving
 * exactly these bytes, chat/media.h media_signed_url). Borrowed.
 */
struct channel_media_msg {
	const char		*kind;		/* image|document|audio|video */
	const char		*content_type;	/* bare, lower case */
	const char		*filename;	/* document: the shown name;
						   NULL: none */
	const char		*caption;	/* NULL or "": none */
	bool			 voice;		/* audio: a voice note */
	const unsigned char	*data;		/* the bytes */
	size_t			 len;
	const char		*url;		/* Twilio: the MediaUrl */
};

struct channel_ops {
	const char	*kind;
	size_t		 text_limit;	/* characters per message */
	bool		 has_reactions;
	bool		 has_groups;
	/*
	 * WhatsApp's 24-hour customer service window applies: outside it
	 * only an approved template may be sent (chat/window.h).
	 */
	bool		 has_window;
	/* How it reads its answers (sender.h); NULL: it makes no requests. */
	const struct channel_dialect *dialect;
	/*
	 * Sets c->api_base (and api_base2) from the configuration's provider
	 * roots (PARLEY_*_API_BASE); NULL when the kind calls no API.
	 */
	void		(*api_roots)(const struct config *cfg,
			    struct channel_creds *c);
	/*
	 * to: the group id when is_group; for a DM the contact's phone
	 * ("+E164") or, for a contact known only by it, its business-scoped
	 * user id (util/waid.h waid_is_user_id tells them apart): Meta and
	 * Kapso send that as "recipient", Twilio (no confirmed form) refuses
	 * it with a sentence. See docs/whatsapp-platform.md §1.5, §3.
	 */
	enum send_result (*send_text)(const struct channel_creds *c,
			    const char *to, bool is_group, const char *text,
			    struct send_outcome *out);
	/* An approved template (see struct channel_template_msg); NULL:
	 * the kind has no templates. */
	enum send_result (*send_template)(const struct channel_creds *c,
			    const char *to, bool is_group,
			    const struct channel_template_msg *t,
			    struct send_outcome *out);
	/*
	 * Every template the provider holds for this sender, all pages
	 * (at most CHANNEL_TEMPLATE_PAGES_MAX), as a new array the caller
	 * deletes, each entry normalised: {"id","name","language","status"
	 * (upper case),"category","format" (POSITIONAL|NAMED),
	 * "content_type","header","body","footer","variables":[{"name",
	 * "example","part"}],"buttons":[{"type","text","id"}]}. SEND_OK
	 * with *out set; otherwise out says why. NULL: no templates.
	 */
	enum send_result (*list_templates)(const struct channel_creds *c,
			    cJSON **list, struct send_outcome *out);
	/* emoji "" removes our reaction; NULL when unsupported. */
	enum send_result (*send_reaction)(const struct channel_creds *c,
			    const char *to, const char *message_id,
			    const char *emoji, struct send_outcome *out);
	/*
	 * The typing indicator for an inbound id, which also marks it (and
	 * the messages before it) read on every provider; it shows for up to
	 * 25 seconds or until the reply arrives, so a long turn sends it
	 * again (worker/working.c). NULL: none.
	 */
	enum send_result (*send_typing)(const struct channel_creds *c,
			    const char *inbound_message_id,
			    struct send_outcome *out);
	/* A read receipt alone (no typing indicator); NULL: the provider
	 * has none of its own (Twilio's typing indicator is its read). */
	enum send_result (*send_read)(const struct channel_creds *c,
			    const char *inbound_message_id,
			    struct send_outcome *out);
	/*
	 * WhatsApp's price of an outbound message as the provider's API
	 * states it (Twilio: the Message resource's price and price_unit,
	 * docs/whatsapp-platform.md §6): SEND_OK with amount (decimal text,
	 * the cost, without Twilio's minus sign) and currency ("USD"), both
	 * "" while the provider has no price yet. NULL: the provider's API
	 * prices nothing (Meta and Kapso classify in their status webhooks).
	 */
	enum send_result (*fetch_price)(const struct channel_creds *c,
			    const char *provider_message_id, char *amount,
			    size_t amountlen, char *currency, size_t curlen,
			    struct send_outcome *out);
	/*
	 * Downloads one media item into body (buf_init'ed by the caller,
	 * emptied first) and its type into content_type ("" unknown; bare
	 * "type/subtype", lower case). url is the item's URL (Twilio),
	 * media_id its provider id (Meta, Kapso); each provider reads the one
	 * it knows. More than max_bytes aborts the transfer: SEND_FAILED.
	 * Credentials never follow a redirect. NULL: the kind has no media
	 * to fetch (sandbox).
	 */
	enum send_result (*fetch_media)(const struct channel_creds *c,
			    const char *url, const char *media_id,
			    size_t max_bytes, struct buf *body,
			    char *content_type, size_t ctlen,
			    struct send_outcome *out);
	/*
	 * Sends one media item (see struct channel_media_msg) that
	 * channel_media_refusal allowed. NULL: the kind sends no media.
	 */
	enum send_result (*send_media)(const struct channel_creds *c,
			    const char *to, bool is_group,
			    const struct channel_media_msg *m,
			    struct send_outcome *out);
};

/*
 * What WhatsApp calls a media item of bare type ctype: "image" (JPEG,
 * PNG), "audio", "video" (MP4, 3GPP) or "document" (everything else).
 */
const char	*channel_media_kind(const char *ctype);
/*
 * NULL when channel kind `kind` may send item m (its type and size within
 * the provider's documented limits, docs/media-out.md §1); otherwise a
 * sentence (static, or written into buf) saying why not. Checked before
 * anything is recorded or sent.
 */
const char	*channel_media_refusal(const char *kind,
		    const struct channel_media_msg *m, char *buf,
		    size_t buflen);

/*
 * The bare media type of a Content-Type value ("Audio/OGG; codecs=opus"
 * → "audio/ogg") into out; "" when it is not type/subtype of token
 * characters or does not fit.
 */
void		 channel_media_type(const char *value, char *out,
		    size_t outlen);

/*
 * A copy of c whose strings live in one block of guarded memory
 * (secret_mem_alloc), for a caller that outlives the channel it opened (worker/working.c's
 * thread); channel_creds_free wipes and frees it (NULL: nothing).
 */
struct channel_creds *channel_creds_dup(const struct channel_creds *c);
void		 channel_creds_free(struct channel_creds *c);

/* The implementation for a channel kind, or NULL. */
const struct channel_ops *channel_ops_for(const char *kind);
/*
 * True when the kind's provider error `code` means the same message can
 * never be accepted as it is, so a Resend could only fail again;
 * *sentence (may be NULL) gets the provider's reason in words. (The
 * window's codes are not final: a message they refuse is held.)
 */
bool		 channel_code_final(const char *kind, const char *code,
		    const char **sentence);
/*
 * True when the kind's error `code` says the 24-hour window is closed
 * (Twilio 63016, Meta and Kapso 131047): the message waits for the
 * window (chat/window.h) instead of failing.
 */
bool		 channel_code_window(const char *kind, const char *code);
/* The kinds with a 24-hour window, as a text[] literal for SQL
 * ("{twilio,meta,kapso}"), from their has_window flags. */
const char	*channel_window_kinds(void);
/* The kinds that list templates, the same way. */
const char	*channel_template_kinds(void);
/*
 * True when the kind's provider error `code` means "try again later"
 * (rate limits: Meta and Kapso 130429, 131056, 4, 80007; Twilio 20429,
 * 63017, 63018):
 * a status callback that fails a message with it is a reason to send it
 * again, not a failure.
 */
bool		 channel_code_retry(const char *kind, const char *code);
/*
 * Twilio's Message resource (JSON, len bytes, untrusted) → its price:
 * amount the cost as decimal text without Twilio's minus sign (1 to 10
 * digits, then at most 12 decimals: what numeric(16, 6) holds), currency
 * price_unit in upper case (3 letters). True with both set; false with
 * both "" when the resource has no price yet or an unusable one. *json_ok
 * (may be NULL) says whether the body was a JSON object at all.
 */
bool		 channel_twilio_price(const char *json, size_t len,
		    char *amount, size_t amountlen, char *currency,
		    size_t curlen, bool *json_ok);

#endif
