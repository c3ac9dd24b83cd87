/*
 * buf: a growable byte buffer with an optional maximum and a sticky error,
 * after SQLite's sqlite3_str. Appends past the maximum set `err` and do
 * nothing, so a caller builds a whole value and checks once at the end.
 * The data is always NUL-terminated (the terminator is not counted in len).
 */
#ifndef PARLEY_UTIL_BUF_H
#define PARLEY_UTIL_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char	*data;	/* NUL-terminated once anything was appended */
	size_t	 len;
	size_t	 cap;
	size_t	 max;	/* 0: unbounded */
	bool	 err;	/* an append would have passed max */
};

/* Starts an empty buffer; max 0 means no limit. */
void	 buf_init(struct buf *b, size_t max);
/* Frees the data; the buffer may be reused after buf_init. */
void	 buf_cleanup(struct buf *b);
/* Empties the buffer, keeping its memory and its error cleared. */
void	 buf_reset(struct buf *b);
void	 buf_append(struct buf *b, const void *p, size_t n);
void	 buf_puts(struct buf *b, const char *s);
void	 buf_putc(struct buf *b, char c);
void	 buf_printf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));
/* The data as a C string ("" for an empty buffer); owned by the buffer. */
const char *buf_str(const struct buf *b);
/* Hands the data to the caller (free() it) and empties the buffer. */
char	*buf_steal(struct buf *b, size_t *len);

#endif
