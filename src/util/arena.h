/*
 * arena: a region allocator for request- and job-scoped memory (h2o's
 * per-request pool). Everything allocated from an arena is freed at once by
 * arena_free(); foreign objects (cJSON trees, PGresults that must live a
 * little longer) join through arena_defer(), whose destructors run first,
 * newest first. Not thread-safe: one arena belongs to one request or job.
 */
#ifndef PARLEY_UTIL_ARENA_H
#define PARLEY_UTIL_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena;

struct arena	*arena_new(void);
/* Runs the deferred destructors, then frees every block; NULL is a no-op. */
void		 arena_free(struct arena *a);
/* Memory aligned for any type, zeroed; aborts on exhaustion. */
void		*arena_alloc(struct arena *a, size_t n);
char		*arena_strdup(struct arena *a, const char *s);
char		*arena_strndup(struct arena *a, const char *s, size_t n);
char		*arena_printf(struct arena *a, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
/* Calls fn(p) when the arena is freed. */
void		 arena_defer(struct arena *a, void (*fn)(void *), void *p);

#endif
