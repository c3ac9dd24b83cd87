/*
 * xmalloc: allocation that aborts on exhaustion.
 *
 * Every client-driven size is bounded before it reaches an allocator (route
 * body limits, per-field form limits, cJSON depth), so running out of memory
 * here means real exhaustion, never a client's doing: we abort rather than
 * thread an error path through every caller (STYLE.md §7).
 */
#ifndef PARLEY_UTIL_XMALLOC_H
#define PARLEY_UTIL_XMALLOC_H

#include <stddef.h>

/* malloc/calloc/realloc that never return NULL (abort instead). */
void	*xmalloc(size_t n) __attribute__((malloc));
void	*xcalloc(size_t n, size_t size) __attribute__((malloc));
void	*xrealloc(void *p, size_t n);
/* Copies of a string (xstrndup copies at most n bytes and terminates). */
char	*xstrdup(const char *s) __attribute__((malloc));
char	*xstrndup(const char *s, size_t n) __attribute__((malloc));
/* asprintf that aborts on exhaustion; the caller frees the result. */
char	*xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
