/*
 * form: urlencoded and multipart bodies (see form.h).
 *
 * Multipart follows RFC 7578: parts separated by "--boundary", each with
 * headers (Content-Disposition: form-data; name="…"; filename="…" and an
 * optional Content-Type) and a body ending at CRLF before the next
 * delimiter. We take what browsers send and reject anything ambiguous.
 */
#include "http/form.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/arena.h"
#include "util/str.h"
#include "util/url.h"
#include "util/utf8.h"

static enum form_result	add_field(struct arena *, struct form *,
			    const char *, size_t, const char *, size_t,
			    bool, const char *, const char *);
static enum form_result	parse_multipart(struct arena *, const char *,
			    const char *, size_t, struct form *);
static const char	*memmem_s(const char *, size_t, const char *, size_t);
static char		*header_param(struct arena *, const char *,
			    const char *);

const char *
form_result_str(enum form_result fr)
{
	switch (fr) {
	case FORM_OK:
		return "ok";
	case FORM_MALFORMED:
		return "The form data is malformed.";
	case FORM_BAD_UTF8:
		return "The form data is not valid UTF-8 text.";
	case FORM_TOO_LARGE:
		return "The form has too many or too large fields.";
	case FORM_UNSUPPORTED:
		return "Send the form as application/x-www-form-urlencoded "
		    "or multipart/form-data.";
	}
	return "The form could not be read.";
}

/* Decodes (when urlencoded) and validates one field, then appends it. */
static enum form_result
add_field(struct arena *a, struct form *f, const char *name, size_t nlen,
    const char *value, size_t vlen, bool decode, const char *filename,
    const char *ctype)
{
	struct form_field	*fld;
	char			*n, *v;
	size_t			 n_len, v_len;

	if (f->n >= FORM_MAX_FIELDS)
		return FORM_TOO_LARGE;
	if (filename == NULL && vlen > FORM_FIELD_MAX)
		return FORM_TOO_LARGE;
	n = arena_alloc(a, nlen + 1);
	v = arena_alloc(a, vlen + 1);
	if (decode) {
		if (!url_decode(n, name, nlen, true, &n_len) ||
		    !url_decode(v, value, vlen, true, &v_len))
			return FORM_MALFORMED;
	} else {
		memcpy(n, name, nlen);
		n_len = nlen;
		memcpy(v, value, vlen);
		v_len = vlen;
	}
	if (!utf8_valid(n, n_len))
		return FORM_BAD_UTF8;
	if (filename == NULL && !utf8_valid(v, v_len))
		return FORM_BAD_UTF8;
	fld = &f->fields[f->n++];
	fld->name = n;
	fld->value = v;
	fld->len = v_len;
	fld->filename = filename;
	fld->content_type = ctype;
	return FORM_OK;
}

enum form_result
form_parse_urlencoded(struct arena *a, const char *s, size_t len,
    struct form **out)
{
	struct form		*f = arena_alloc(a, sizeof(*f));
	size_t			 i = 0;
	enum form_result	 fr;

	*out = f;
	while (i < len) {
		const char	*pair = s + i;
		const char	*amp = memchr(pair, '&', len - i);
		size_t		 plen = amp ? (size_t)(amp - pair) : len - i;
		const char	*eq = memchr(pair, '=', plen);

		i += plen + 1;
		if (plen == 0)
			continue;
		if (eq == NULL)
			fr = add_field(a, f, pair, plen, "", 0, true, NULL,
			    NULL);
		else
			fr = add_field(a, f, pair, (size_t)(eq - pair), eq + 1,
			    plen - (size_t)(eq - pair) - 1, true, NULL, NULL);
		if (fr != FORM_OK)
			return fr;
	}
	return FORM_OK;
}

static const char *
memmem_s(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	if (nlen == 0 || hlen < nlen)
		return NULL;
	for (size_t i = 0; i + nlen <= hlen; i++)
		if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
			return hay + i;
	return NULL;
}

/* The value of param `key` in a header value ("…; key=value" or quoted). */
static char *
header_param(struct arena *a, const char *hv, const char *key)
{
	size_t		 klen = strlen(key);
	const char	*p = hv;

	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, key, klen) != 0 || p[klen] != '=')
			continue;
		p += klen + 1;
		if (*p == '"') {
			const char	*end = strchr(p + 1, '"');

			if (end == NULL)
				return NULL;
			return arena_strndup(a, p + 1, (size_t)(end - p - 1));
		}
		return arena_strndup(a, p, strcspn(p, "; \t\r\n"));
	}
	return NULL;
}

static enum form_result
parse_multipart(struct arena *a, const char *ct, const char *body,
    size_t len, struct form *f)
{
	char		*boundary = header_param(a, ct, "boundary");
	char		*delim;
	size_t		 dlen;
	const char	*p, *end = body + len;

	if (boundary == NULL || *boundary == '\0' || strlen(boundary) > 70)
		return FORM_MALFORMED;
	delim = arena_printf(a, "--%s", boundary);
	dlen = strlen(delim);
	p = memmem_s(body, len, delim, dlen);
	if (p == NULL)
		return FORM_MALFORMED;
	for (;;) {
		const char	*hdr_end, *next, *h;
		char		*headers, *name = NULL, *filename = NULL;
		char		*ctype = NULL;
		enum form_result fr;

		p += dlen;
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return FORM_OK;		/* closing delimiter */
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return FORM_MALFORMED;
		p += 2;
		hdr_end = memmem_s(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (hdr_end == NULL || hdr_end - p > 4096)
			return FORM_MALFORMED;
		headers = arena_strndup(a, p, (size_t)(hdr_end - p));
		for (h = headers; h && *h; ) {
			const char	*eol = strstr(h, "\r\n");
			char		*line = arena_strndup(a, h, eol ?
			    (size_t)(eol - h) : strlen(h));

			if (strncasecmp(line, "Content-Disposition:", 20) == 0) {
				name = header_param(a, line, "name");
				filename = header_param(a, line, "filename");
			} else if (strncasecmp(line, "Content-Type:", 13) == 0)
				ctype = str_trim(line + 13);
			h = eol ? eol + 2 : NULL;
		}
		p = hdr_end + 4;
		/* The part ends at CRLF + delimiter. */
		next = memmem_s(p, (size_t)(end - p), delim, dlen);
		if (next == NULL || next - p < 2 || next[-2] != '\r' ||
		    next[-1] != '\n' || name == NULL)
			return FORM_MALFORMED;
		if (filename != NULL && !utf8_valid(filename, strlen(filename)))
			return FORM_BAD_UTF8;
		fr = add_field(a, f, name, strlen(name), p,
		    (size_t)(next - 2 - p), false, filename, ctype);
		if (fr != FORM_OK)
			return fr;
		p = next;
	}
}

enum form_result
form_parse(struct arena *a, const char *content_type, const char *body,
    size_t len, struct form **out)
{
	struct form	*f;

	if (content_type == NULL || len == 0) {
		/* An empty POST (no fields) is a valid, empty form. */
		if (len == 0) {
			*out = arena_alloc(a, sizeof(struct form));
			return FORM_OK;
		}
		return FORM_UNSUPPORTED;
	}
	if (strncasecmp(content_type, "application/x-www-form-urlencoded",
	    33) == 0)
		return form_parse_urlencoded(a, body, len, out);
	if (strncasecmp(content_type, "multipart/form-data", 19) == 0) {
		f = arena_alloc(a, sizeof(*f));
		*out = f;
		return parse_multipart(a, content_type, body, len, f);
	}
	return FORM_UNSUPPORTED;
}

const struct form_field *
form_field(const struct form *f, const char *name)
{
	if (f == NULL)
		return NULL;
	for (int i = 0; i < f->n; i++)
		if (strcmp(f->fields[i].name, name) == 0)
			return &f->fields[i];
	return NULL;
}

const char *
form_get(const struct form *f, const char *name)
{
	const struct form_field	*fld = form_field(f, name);

	return fld ? fld->value : NULL;
}

const char *
form_str(const struct form *f, const char *name)
{
	const char	*v = form_get(f, name);

	return v ? v : "";
}

bool
form_get_int64(const struct form *f, const char *name, int64_t *out)
{
	const char	*v = form_get(f, name);

	return v != NULL && str_to_i64(v, out);
}

bool
form_get_bool(const struct form *f, const char *name)
{
	const char	*v = form_get(f, name);

	return v != NULL && (str_eq(v, "on") || str_eq(v, "1") ||
	    str_eq(v, "true"));
}
