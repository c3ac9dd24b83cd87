/*
 * db/array.c: the text form of array parameters (see db.h), so that one
 * statement can take a whole batch (unnest($1::bigint[], …)) instead of
 * one round trip per row.
 *
 * Thread-safety: pure; the caller owns the buffer.
 */
#include "db/db.h"

#include <inttypes.h>

#include "util/buf.h"

void
db_array_i64(struct buf *b, const int64_t *v, int n)
{
	buf_putc(b, '{');
	for (int i = 0; i < n; i++)
		buf_printf(b, "%s%" PRId64, i > 0 ? "," : "", v[i]);
	buf_putc(b, '}');
}

void
db_array_bool(struct buf *b, const bool *v, int n)
{
	buf_putc(b, '{');
	for (int i = 0; i < n; i++) {
		if (i > 0)
			buf_putc(b, ',');
		buf_putc(b, v[i] ? 't' : 'f');
	}
	buf_putc(b, '}');
}

/*
 * Every element double-quoted, with '"' and '\' escaped by a backslash
 * (PostgreSQL's array input: "Array Value Input"); NULL is the bare word.
 */
void
db_array_text(struct buf *b, const char *const *v, int n)
{
	buf_putc(b, '{');
	for (int i = 0; i < n; i++) {
		const char	*s = v[i], *run;

		if (i > 0)
			buf_putc(b, ',');
		if (s == NULL) {
			buf_puts(b, "NULL");
			continue;
		}
		buf_putc(b, '"');
		for (run = s; *s != '\0'; s++) {
			if (*s != '"' && *s != '\\')
				continue;
			buf_append(b, run, (size_t)(s - run));
			buf_putc(b, '\\');
			run = s;
		}
		buf_append(b, run, (size_t)(s - run));
		buf_putc(b, '"');
	}
	buf_putc(b, '}');
}
