/*
 * utf8: validation of UTF-8 input (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF).
 */
#ifndef PARLEY_UTIL_UTF8_H
#define PARLEY_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when the n bytes at p are well-formed UTF-8 with no NUL byte. */
bool	 utf8_valid(const char *p, size_t n);
/* Number of code points in valid UTF-8. */
size_t	 utf8_count(const char *p, size_t n);
/* How many of the first n bytes of the NUL-terminated s (at most its
 * length) end on a character boundary: a cut there leaves whole
 * characters only. */
size_t	 utf8_cut(const char *s, size_t n);

#endif
