/*
 * redact: takes the secrets Parley holds for one outbound call out of any
 * text that came back from the other side (an upstream error body, a
 * provider's message, a transfer error) before that text is logged,
 * stored or returned. A provider whose 401 echoes the key it was sent
 * must not put the key into a /v1 answer, llm_calls.error, a message's
 * error_text or a panel page.
 *
 * The caller lists the call's secrets in a struct redact (borrowed
 * pointers, never copied into it): an API key, a bearer token, Basic
 * auth's user and password, a channel's webhook secrets. Each secret is
 * searched for as it is and in the encodings an echo is likely to use:
 *
 *   percent-encoded     upper- and lower-case hex (a URL or form echo)
 *   JSON-escaped        \" \\ \/ and \u00XX (a raw JSON text quoting it)
 *   base64              standard and URL-safe alphabets, padding ignored
 *   Basic pair          base64 of "user:password", the Authorization
 *                       header's own form
 *
 * Every match becomes REDACT_MARK. A text already cut short (into a
 * fixed buffer) may end with the first part of a secret: a tail of at
 * least REDACT_MIN bytes that begins a secret or one of its encodings is
 * redacted too. Secrets shorter than REDACT_MIN bytes are not searched
 * for (they would shred every text and protect nothing).
 *
 * The encodings derived from a secret are secret too: they live only
 * during a call and are wiped before it returns.
 *
 * Thread-safety: no state; a struct redact is read-only while in use.
 */
#ifndef PARLEY_CRYPTO_REDACT_H
#define PARLEY_CRYPTO_REDACT_H

#include <stddef.h>

#define REDACT_MAX	8		/* secrets per call */
#define REDACT_MIN	4		/* bytes */
#define REDACT_MARK	"[redacted]"

struct redact {
	const char	*secret[REDACT_MAX];
	int		 n;
	const char	*basic_user;	/* a Basic auth pair, or NULL */
	const char	*basic_pass;
};

/* An empty set. */
void	 redact_init(struct redact *rd);
/*
 * Adds one secret (borrowed: it must outlive the set's use). NULL, "",
 * and secrets already in the set are ignored; more than REDACT_MAX is a
 * programmer error (abort).
 */
void	 redact_add(struct redact *rd, const char *secret);
/* Adds a Basic auth pair: each half as a secret, and base64(user:pass). */
void	 redact_add_basic(struct redact *rd, const char *user,
	    const char *pass);
/*
 * text with every secret of rd (and its encodings) replaced by
 * REDACT_MARK: a malloc'd string (NULL text gives ""). rd may be NULL
 * (nothing to redact: a copy).
 */
char	*redact_dup(const struct redact *rd, const char *text);
/*
 * The same in place: buf (NUL-terminated, size bytes) is rewritten and
 * cut to size at a character boundary when the marks made it longer.
 */
void	 redact_buf(const struct redact *rd, char *buf, size_t size);

#endif
