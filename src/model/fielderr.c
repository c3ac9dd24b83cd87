/*
 * fielderr: field validation errors (see fielderr.h).
 */
#include "model/fielderr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
field_error_add(struct field_errors *e, const char *field,
    const char *message)
{
	if (e->n >= FIELD_ERRORS_MAX || field_error_get(e, field) != NULL)
		return;
	e->field[e->n] = field;
	e->message[e->n] = message;
	e->n++;
}

const char *
field_error_get(const struct field_errors *e, const char *field)
{
	for (int i = 0; i < e->n; i++)
		if (strcmp(e->field[i], field) == 0)
			return e->message[i];
	return NULL;
}

void
field_error_addf(struct field_errors *e, const char *field, const char *fmt,
    ...)
{
	va_list	 ap;
	size_t	 room = sizeof(e->text) - e->text_used;
	char	*dst = e->text + e->text_used;
	int	 n;

	if (e->n >= FIELD_ERRORS_MAX || field_error_get(e, field) != NULL ||
	    room < 2)
		return;
	va_start(ap, fmt);
	n = vsnprintf(dst, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	e->text_used += (size_t)n < room ? (size_t)n + 1 : room;
	field_error_add(e, field, dst);
}
