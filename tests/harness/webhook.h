/*
 * tests/harness/webhook.h: provider webhooks as Twilio, Meta and Kapso
 * send them (PROTOCOLS.md §1.1, §2.2, §3.2), signed with the server's own
 * crypto/hmac.c, so a test can deliver an inbound message to the real
 * server.
 *
 * Every POST is made from a fresh client and fails the test when the
 * server answers 500; the _ok forms also require 200 and free the answer.
 */
#ifndef PARLEY_TESTS_WEBHOOK_H
#define PARLEY_TESTS_WEBHOOK_H

#include "harness/harness.h"

#define HTWILIO_INBOUND	"/webhooks/whatsapp/twilio"
#define HMETA_INBOUND	"/webhooks/whatsapp/meta"
#define HKAPSO_INBOUND	"/webhooks/whatsapp/kapso"

/* POSTs body (Content-Type ctype, extra headers NULL-terminated or NULL)
 * to base + path; never a 500. The caller frees r. */
void	 hpost(const char *base, const char *path, const char *body,
	    const char *ctype, const char **headers, struct hresp *r);
/* The n name/value pairs form-encoded, in order (malloc'd). */
char	*hform(const char *const (*params)[2], int n);
/* "X-Twilio-Signature: <signature>" of url and the params with token,
 * into hdr (64 bytes are enough). */
void	 htwilio_sig_header(char *hdr, size_t len, const char *token,
	    const char *url, const char *const (*params)[2], int n);

/* POSTs the params form-encoded to base + path, signed with the Auth
 * Token over base + path (token NULL: no signature). */
void	 htwilio_post(const char *base, const char *path, const char *token,
	    const char *const (*params)[2], int n, struct hresp *r);
void	 htwilio_post_ok(const char *base, const char *path,
	    const char *token, const char *const (*params)[2], int n);
/*
 * An inbound Twilio text as Twilio posts it to HTWILIO_INBOUND: MessageSid
 * (and SmsMessageSid) sid, AccountSid account, From and To "whatsapp:"
 * plus the E.164 numbers, Body text, ProfileName "Tess", WaId, ApiVersion;
 * signed with token. Must answer 200.
 */
void	 htwilio_text_ok(const char *base, const char *account,
	    const char *token, const char *sid, const char *from,
	    const char *to, const char *text);

/*
 * htwilio_text_ok with a fresh MessageSid ("SMf" and 31 digits, counted
 * in this process, so never one a suite makes of its own counter); the
 * sid, valid until the next call.
 */
const char	*htwilio_in(const char *base, const char *account,
		    const char *token, const char *to, const char *from,
		    const char *text);

/* POSTs a JSON body to base + HMETA_INBOUND with X-Hub-Signature-256:
 * sha256=HMAC-SHA256(secret, body) (secret NULL: none). */
void	 hmeta_post(const char *base, const char *body, const char *secret,
	    struct hresp *r);
void	 hmeta_post_ok(const char *base, const char *body,
	    const char *secret);

/* One inbound Meta text, for hmeta_text_body. */
struct hmeta_text {
	const char	*pnid;		/* our phone_number_id */
	const char	*from;		/* the sender's wa_id, digits */
	const char	*name;		/* the sender's profile name */
	const char	*group;		/* group_id, NULL for a DM */
	const char	*wamid;		/* the message id */
	const char	*text;		/* JSON-safe as it is */
	int64_t		 ts;		/* the timestamp; 0: now */
};

/* A Meta delivery (display number 15550783881) of that one text message,
 * as Meta sends it; malloc'd. */
char	*hmeta_text_body(const struct hmeta_text *m);

/*
 * A Meta delivery (display number 15550783881, to pnid) of one message
 * item of any type from `from` (digits, also its contact's wa_id, profile
 * name "Kim"), id wamid, now: fields are the item's type-specific members
 * ("\"type\":…,…") as Meta sends them (PROTOCOLS.md §2: messages[] of a
 * "messages" change); malloc'd.
 */
char	*hmeta_item_body(const char *pnid, const char *from,
	    const char *wamid, const char *fields);

/* hmeta_item_body posted, signed with secret; must answer 200. */
void	 hmeta_item_ok(const char *base, const char *secret,
	    const char *pnid, const char *from, const char *wamid,
	    const char *fields);
/*
 * A signed text (hmeta_text_body, profile name "Kim") from `from` to
 * pnid, with a fresh wamid ("wamid.harness" and a number counted in this
 * process); must answer 200. The wamid, valid until the next call.
 */
const char	*hmeta_in(const char *base, const char *secret,
		    const char *pnid, const char *from, const char *text);

/* POSTs a JSON body to base + path as Kapso does: X-Webhook-Signature,
 * the hex HMAC-SHA256 of the body with secret (NULL: none), and with
 * event (NULL: none) X-Webhook-Event and X-Webhook-Payload-Version: v2. */
void	 hkapso_post(const char *base, const char *path, const char *event,
	    const char *body, const char *secret, struct hresp *r);
void	 hkapso_post_ok(const char *base, const char *path,
	    const char *event, const char *body, const char *secret);

/* A suite's three providers, for hin_text. */
struct hin {
	const char	*base;
	const char	*tw_sid, *tw_token, *tw_number;
	const char	*meta_pnid, *meta_secret;
	const char	*kapso_pnid, *kapso_secret;
	const char	*name;		/* the contact's profile name (Meta) */
};

/*
 * An inbound text from `from` on provider p ("twilio", "meta", else
 * Kapso), signed as that provider signs and answered 2xx; its provider
 * id (fresh, counted in this process; valid until the next call).
 */
const char	*hin_text(const struct hin *w, const char *p,
		    const char *from, const char *text);

#endif
