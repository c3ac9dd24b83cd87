/*
 * provider: what the provider handlers (twilio.c, meta.c, kapso.c) share,
 * internal to webhooks/. Not a vtable on purpose: the three differ where a
 * vtable would cut (Twilio routes by a form field and signs the URL plus
 * sorted parameters; Meta signs a JSON body that may name several numbers;
 * Kapso names one number per payload and its event in a header), and what
 * they do share is a handful of steps, which live here as functions.
 *
 * The helpers are defined in provider.c except
 * webhook_meta_message(), which is meta.c's parser reused by kapso.c for
 * Kapso's Meta-shaped message object (PROTOCOLS.md §3.3).
 */
#ifndef PARLEY_WEBHOOKS_PROVIDER_H
#define PARLEY_WEBHOOKS_PROVIDER_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "model/channel.h"

struct arena;
struct chat_echo;
struct chat_ident_change;
struct contact_ident;
struct fee;
struct inbound;
struct req;

struct ingest_item;

/* Longest routing id (phone_number_id) or provider message id we take. */
#define WEBHOOK_ID_MAX		256
/* Distinct numbers one JSON delivery may name before it is refused. */
#define WEBHOOK_MAX_NUMBERS	32

/*
 * After ingest_store: every item PostgreSQL could not store (rejected)
 * goes to its channel's health log as "message not stored", with its
 * provider id, so a person sees it; the delivery is still acknowledged.
 */
void	 webhook_record_unstored(struct req *r, const char *provider,
	    const struct ingest_item *items, int n);
/*
 * Records a rejection on the channel's health log (org/channel 0 when the
 * request named no known channel), logs it at info level (never the body)
 * and answers 403. detail may come from the request: it is cut to printable
 * ASCII and 300 bytes. Returns the status sent.
 */
int	 webhook_reject(struct req *r, const char *provider, int64_t org_id,
	    int64_t channel_id, const char *reason, const char *detail);
/* webhook_reject's record and log, without an answer (a batch naming
 * several channels records on each, then answers once). */
void	 webhook_record_rejection(struct req *r, const char *provider,
	    int64_t org_id, int64_t channel_id, const char *reason,
	    const char *detail);
/* A short text/plain answer; returns status. */
int	 webhook_text(struct req *r, int status, const char *text);
/*
 * Reads the raw body as a JSON object into *out (owned by the request
 * arena), or answers 415 (not JSON), 400 (invalid UTF-8, malformed,
 * nested deeper than JSON_MAX_DEPTH, not an object) and returns that
 * status; 0 on success. Nothing is trusted yet: the caller verifies the
 * signature over r->body before using *out.
 *
 * Why 400 for every malformed body, deep ones included: Meta and Kapso
 * retry any non-2xx (PROTOCOLS.md §2.8, §3.2), but a body either of them
 * signed is shallow well-formed JSON (Meta's deepest is 7 levels), so a
 * 400 here only ever answers someone else; it is never a delivery a
 * provider would retry for days, and a 2xx would tell a forger nothing
 * more than a 400 does.
 */
int	 webhook_json_body(struct req *r, cJSON **out);
/* True for a routing or message id we accept: 1..WEBHOOK_ID_MAX bytes of
 * [A-Za-z0-9._:=+/-]. */
bool	 webhook_id_ok(const char *s);
/* The JSON string member name of o, or NULL when absent or not a string. */
const char *webhook_json_str(const cJSON *o, const char *name);

/*
 * The JSON providers (Meta, Kapso) sign the raw body with a per-channel
 * secret and name their channel by phone_number_id; this is what differs.
 */
struct webhook_provider {
	const char	*name;		/* "meta": health log, logs */
	const char	*kind;		/* channels.kind */
	const char	*sig_header;	/* X-Hub-Signature-256, … */
	bool		(*verify)(const char *secret, const void *body,
			    size_t len, const char *header);
};

/* One phone_number_id a delivery names, and its channel once found. */
struct webhook_number {
	const char	*id;
	bool		 known;
	struct channel	 ch;
};

/*
 * Adds id to nums (n of at most WEBHOOK_MAX_NUMBERS) unless it is there.
 * False when id is not a plausible id or there are too many: answer 400.
 */
bool	 webhook_number_add(struct webhook_number *nums, int *n,
	    const char *id);
/*
 * Finds each number's channel of p->kind and verifies the signature over
 * the raw body with each known channel's secret. Returns 0 when at least
 * one channel is known and every known one verifies (unknown numbers are
 * then only logged: their parts of the delivery are skipped); otherwise
 * records the rejection on every known channel (or an "unknown number"
 * one with org/channel 0), answers 403 (503 when the database fails) and
 * returns that status.
 */
int	 webhook_verify_numbers(struct req *r, const struct webhook_provider *p,
	    struct webhook_number *nums, int n);
/* The known channel for id among nums, or NULL. */
const struct channel *webhook_number_channel(const struct webhook_number *nums,
	    int n, const char *id);

/*
 * Parses one Meta-shaped message object (PROTOCOLS.md §2.3,
 * docs/whatsapp-platform.md §1.2) into *out (strings borrowed from msg or
 * allocated in a; media a new cJSON array freed with the arena). The
 * author is known by `from` (phone, may be "" or absent), `from_user_id`
 * and `from_parent_user_id`, completed from its entry of contacts (the
 * value's contacts[], may be NULL: matched by user_id, else wa_id, else
 * the only one; profile.name and profile.username), then from fallback
 * (may be NULL: Kapso gives the contact in its conversation object).
 * sender_name (may be NULL) wins over the profile's name. False when the
 * object is malformed (no id, no type, neither a phone nor a user id,
 * ids too long).
 */
bool	 webhook_meta_message(struct arena *a, const cJSON *msg,
	    const cJSON *contacts, const char *sender_name,
	    const struct contact_ident *fallback, struct inbound *out);
/*
 * Parses one Meta-shaped message echo (smb_message_echoes'
 * message_echoes[], §7.1: `to`, `to_user_id`; Kapso's outbound message
 * object alike) into *out, the contact completed from contacts (may be
 * NULL) and fallback (may be NULL). False when malformed.
 */
bool	 webhook_meta_echo(struct arena *a, const cJSON *msg,
	    const cJSON *contacts, const struct contact_ident *fallback,
	    struct chat_echo *out);
/* Meta's statuses[].pricing object (§6) into *out; false: none. */
bool	 webhook_meta_pricing(const cJSON *pricing, struct fee *out);

/* "+<digits>" for "<digits>" or "+<digits>" (1–20 digits), in a; NULL
 * for anything else (an empty string, a user id). */
const char *webhook_phone(struct arena *a, const char *s);
/* A user id or username we keep: printable, no spaces, 1..255 bytes. */
bool	 webhook_ident_ok(const char *s);

/*
 * One delivery status of one of our messages on ch (sent|delivered|
 * read|failed), with its provider error (code, title: "" when none) and
 * pricing (fee, may be NULL): a failure with a "try later" code goes back
 * to the outbox's queue (outbox_status_later), anything else moves the
 * row (outbox_status_update); the pricing is recorded (chat/fees.h).
 * Returns 0, or the 503 it sent when the database is unavailable.
 */
int	 webhook_status(struct req *r, const struct channel *ch,
	    const char *provider_message_id, const char *status,
	    const char *code, const char *title, const struct fee *fee);
/*
 * A contact's identity changed on ch (chat_contact_changed). Returns 0,
 * or the 503 it sent.
 */
int	 webhook_identity_change(struct req *r, const struct channel *ch,
	    const struct chat_ident_change *c);
/* An echo of the WhatsApp Business app on ch (chat_echo_store). Returns
 * 0, or the status it sent (503). */
int	 webhook_echo(struct req *r, const struct channel *ch,
	    const struct chat_echo *e);
/* A thread handover on ch: ours (true) or another app's. Returns 0, or
 * the status it sent (503). */
int	 webhook_owner(struct req *r, const struct channel *ch,
	    const struct contact_ident *who, bool ours, const char *why);

#endif
