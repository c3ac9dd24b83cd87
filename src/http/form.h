/*
 * form: request bodies of application/x-www-form-urlencoded and
 * multipart/form-data, parsed into fields with per-field limits and UTF-8
 * validation (files are kept as bytes; text fields must be valid UTF-8).
 * Fields live in the request arena.
 */
#ifndef PARLEY_HTTP_FORM_H
#define PARLEY_HTTP_FORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

#define FORM_MAX_FIELDS		256
/* A text field, decoded. Large on purpose: a knowledge entry may hold
 * 200,000 characters; each route's body limit is the real bound. */
#define FORM_FIELD_MAX		(1024 * 1024)

struct form_field {
	const char	*name;
	const char	*value;		/* NUL-terminated */
	size_t		 len;
	const char	*filename;	/* multipart file parts, else NULL */
	const char	*content_type;	/* multipart parts, else NULL */
};

struct form {
	int			 n;
	struct form_field	 fields[FORM_MAX_FIELDS];
};

enum form_result {
	FORM_OK = 0,
	FORM_MALFORMED,		/* bad escape, bad multipart framing */
	FORM_BAD_UTF8,		/* a text field is not UTF-8 */
	FORM_TOO_LARGE,		/* a field or the field count over limit */
	FORM_UNSUPPORTED,	/* another content type */
};

/* Parses body by content type into *out (arena). */
enum form_result form_parse(struct arena *a, const char *content_type,
		    const char *body, size_t len, struct form **out);
/* Parses a query string (urlencoded, no files). */
enum form_result form_parse_urlencoded(struct arena *a, const char *s,
		    size_t len, struct form **out);
/* A sentence for a parse failure, for the 400 page. */
const char	*form_result_str(enum form_result fr);
/* The first field called name, or NULL. */
const struct form_field *form_field(const struct form *f, const char *name);
/* The value of the first field called name, or NULL. */
const char	*form_get(const struct form *f, const char *name);
/* form_get that gives "" for a missing field. */
const char	*form_str(const struct form *f, const char *name);
bool		 form_get_int64(const struct form *f, const char *name,
		    int64_t *out);
/* True when a checkbox named name was sent ("on", "1", "true"). */
bool		 form_get_bool(const struct form *f, const char *name);

#endif
