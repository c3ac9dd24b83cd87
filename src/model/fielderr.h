/*
 * fielderr: validation errors attached to form or JSON fields, shared by
 * the model (which validates) and the panel and API (which show them: next
 * to the field, or as {"error":{"code":"invalid","fields":{…}}}).
 */
#ifndef PARLEY_MODEL_FIELDERR_H
#define PARLEY_MODEL_FIELDERR_H

#include <stddef.h>

#define FIELD_ERRORS_MAX	16
#define FIELD_ERRORS_TEXT	2048

/* Zero-initialise ({ 0 }) before use; lives as long as its holder. */
struct field_errors {
	int		 n;
	const char	*field[FIELD_ERRORS_MAX];	/* static strings */
	const char	*message[FIELD_ERRORS_MAX];	/* static or text[] */
	char		 text[FIELD_ERRORS_TEXT];	/* formatted messages */
	size_t		 text_used;
};

/* Records an error for field (first one per field wins); message is a
 * static string. */
void		 field_error_add(struct field_errors *e, const char *field,
		    const char *message);
/* The same with a formatted message (one that quotes the input), kept
 * in e itself; truncated when e's text space runs out. */
void		 field_error_addf(struct field_errors *e, const char *field,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The message for field, or NULL. */
const char	*field_error_get(const struct field_errors *e,
		    const char *field);

#endif
