/*
 * redact: secrets out of upstream text (see redact.h).
 *
 * DESIGN. A call turns the set into "needles": every secret of at least
 * REDACT_MIN bytes and each of its encodings, plus base64 of the Basic
 * pair. The text is scanned once; at each position the longest needle
 * that starts there is replaced by the mark, and a rest of the text that
 * is the beginning of a needle (a secret cut by an earlier copy into a
 * fixed buffer) is replaced too. Texts are short (error sentences, a few
 * KiB at most), so a plain scan over a few dozen needles is enough.
 *
 * Base64 gives two needles per alphabet and padding: the whole encoding
 * (the secret encoded on its own), and only the characters fully decided
 * by the secret's own bytes ((8 * len) / 6 of them), since the next
 * character also encodes whatever follows: that one still matches the
 * secret at the start of a longer encoded value ("user" in
 * base64("user:pass")).
 *
 * The needles are secret material: they are wiped before they are freed.
 */
#include "crypto/redact.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/buf.h"
#include "util/xmalloc.h"

#define ENCODINGS	12	/* raw, %XX, %xx, JSON, 4 base64 x 2 */
#define NEEDLES_MAX	(REDACT_MAX * ENCODINGS + 2)

struct needles {
	char	*s[NEEDLES_MAX];
	size_t	 len[NEEDLES_MAX];
	int	 n;
};

static void	 needle_add(struct needles *, char *, size_t);
static void	 needles_build(const struct redact *, struct needles *);
static void	 needles_free(struct needles *);
static char	*pct_encode(const char *, bool);
static char	*json_escape(const char *);
static char	*b64_decided(const char *, size_t, int, size_t *);
static char	*b64_whole(const char *, size_t, int);

void
redact_init(struct redact *rd)
{
	memset(rd, 0, sizeof(*rd));
}

void
redact_add(struct redact *rd, const char *secret)
{
	if (secret == NULL || secret[0] == '\0')
		return;
	for (int i = 0; i < rd->n; i++)
		if (strcmp(rd->secret[i], secret) == 0)
			return;
	if (rd->n >= REDACT_MAX)
		abort();	/* a caller lists its own few secrets */
	rd->secret[rd->n++] = secret;
}

void
redact_add_basic(struct redact *rd, const char *user, const char *pass)
{
	redact_add(rd, user);
	redact_add(rd, pass);
	rd->basic_user = user;
	rd->basic_pass = pass;
}

/* Takes s (malloc'd, len bytes) into nd unless too short or known. */
static void
needle_add(struct needles *nd, char *s, size_t len)
{
	if (s == NULL)
		return;
	if (len < REDACT_MIN || nd->n >= NEEDLES_MAX)
		goto drop;
	for (int i = 0; i < nd->n; i++)
		if (nd->len[i] == len && memcmp(nd->s[i], s, len) == 0)
			goto drop;
	nd->s[nd->n] = s;
	nd->len[nd->n++] = len;
	return;
drop:
	sodium_memzero(s, len);
	free(s);
}

/* "%XX" for every byte but RFC 3986's unreserved ones. */
static char *
pct_encode(const char *s, bool upper)
{
	const char	*hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	size_t		 n = strlen(s), o = 0;
	char		*out = xmalloc(n * 3 + 1);

	for (; *s != '\0'; s++) {
		unsigned char	 c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			out[o++] = (char)c;
			continue;
		}
		out[o++] = '%';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
	}
	out[o] = '\0';
	return out;
}

/* The JSON string escapes a serialiser may use (without the quotes). */
static char *
json_escape(const char *s)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 n = strlen(s), o = 0;
	char			*out = xmalloc(n * 6 + 1);

	for (; *s != '\0'; s++) {
		unsigned char	 c = (unsigned char)*s;

		if (c == '"' || c == '\\' || c == '/') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			memcpy(out + o, "\\u00", 4);
			o += 4;
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

/* The base64 characters decided by p's len bytes alone (see the top). */
static char *
b64_decided(const char *p, size_t len, int variant, size_t *out_len)
{
	size_t	 size = sodium_base64_encoded_len(len, variant);
	char	*out = xmalloc(size);

	sodium_bin2base64(out, size, (const unsigned char *)p, len, variant);
	*out_len = len * 8 / 6;
	out[*out_len] = '\0';
	return out;
}

/* The whole encoding of p's len bytes in variant, padding and all. */
static char *
b64_whole(const char *p, size_t len, int variant)
{
	size_t	 size = sodium_base64_encoded_len(len, variant);
	char	*out = xmalloc(size);

	return sodium_bin2base64(out, size, (const unsigned char *)p, len,
	    variant);
}

static void
needles_build(const struct redact *rd, struct needles *nd)
{
	static const int b64[] = { sodium_base64_VARIANT_ORIGINAL,
		sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
		sodium_base64_VARIANT_URLSAFE,
		sodium_base64_VARIANT_URLSAFE_NO_PADDING };
	const char	*s;
	size_t		 len, n;
	char		*pair, *enc;

	memset(nd, 0, sizeof(*nd));
	for (int i = 0; rd != NULL && i < rd->n; i++) {
		s = rd->secret[i];
		len = strlen(s);
		if (len < REDACT_MIN)
			continue;
		needle_add(nd, xstrndup(s, len), len);
		enc = pct_encode(s, true);
		needle_add(nd, enc, strlen(enc));
		enc = pct_encode(s, false);
		needle_add(nd, enc, strlen(enc));
		enc = json_escape(s);
		needle_add(nd, enc, strlen(enc));
		for (size_t v = 0; v < sizeof(b64) / sizeof(b64[0]); v++) {
			enc = b64_decided(s, len, b64[v], &n);
			needle_add(nd, enc, n);
			enc = b64_whole(s, len, b64[v]);
			needle_add(nd, enc, strlen(enc));
		}
	}
	if (rd != NULL && rd->basic_user != NULL && rd->basic_pass != NULL) {
		len = strlen(rd->basic_user) + 1 + strlen(rd->basic_pass);
		pair = xmalloc(len + 1);
		memcpy(pair, rd->basic_user, strlen(rd->basic_user));
		pair[strlen(rd->basic_user)] = ':';
		memcpy(pair + strlen(rd->basic_user) + 1, rd->basic_pass,
		    strlen(rd->basic_pass) + 1);
		enc = b64_decided(pair, len, sodium_base64_VARIANT_ORIGINAL,
		    &n);
		needle_add(nd, enc, n);
		enc = b64_whole(pair, len, sodium_base64_VARIANT_ORIGINAL);
		needle_add(nd, enc, strlen(enc));
		sodium_memzero(pair, len);
		free(pair);
	}
}

static void
needles_free(struct needles *nd)
{
	for (int i = 0; i < nd->n; i++) {
		sodium_memzero(nd->s[i], nd->len[i]);
		free(nd->s[i]);
	}
	memset(nd, 0, sizeof(*nd));
}

char *
redact_dup(const struct redact *rd, const char *text)
{
	struct needles	 nd;
	struct buf	 b;
	size_t		 n, i, best, rest;
	bool		 tail;

	if (text == NULL || text[0] == '\0' || rd == NULL || rd->n == 0)
		return xstrdup(text != NULL ? text : "");
	needles_build(rd, &nd);
	n = strlen(text);
	buf_init(&b, 0);
	buf_puts(&b, "");
	for (i = 0; i < n; ) {
		best = 0;
		tail = false;
		rest = n - i;
		for (int j = 0; j < nd.n; j++) {
			if (text[i] != nd.s[j][0])
				continue;
			if (nd.len[j] <= rest) {
				if (nd.len[j] > best &&
				    memcmp(text + i, nd.s[j], nd.len[j]) == 0)
					best = nd.len[j];
			} else if (rest >= REDACT_MIN &&
			    memcmp(text + i, nd.s[j], rest) == 0)
				tail = true;
		}
		if (best > 0) {
			buf_puts(&b, REDACT_MARK);
			i += best;
		} else if (tail) {
			buf_puts(&b, REDACT_MARK);
			i = n;
		} else
			buf_putc(&b, text[i++]);
	}
	needles_free(&nd);
	return buf_steal(&b, NULL);
}

void
redact_buf(const struct redact *rd, char *buf, size_t size)
{
	char	*r;
	size_t	 n;

	if (buf == NULL || size == 0)
		return;
	r = redact_dup(rd, buf);
	n = strlen(r);
	if (n >= size) {
		n = size - 1;
		/* Never end inside a UTF-8 sequence after the cut. */
		while (n > 0 && ((unsigned char)r[n] & 0xC0) == 0x80)
			n--;
	}
	sodium_memzero(buf, strlen(buf));
	memcpy(buf, r, n);
	buf[n] = '\0';
	free(r);
}
