/*
 * str: small string helpers that C's library lacks or spells unsafely.
 */
#ifndef PARLEY_UTIL_STR_H
#define PARLEY_UTIL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool	 str_eq(const char *a, const char *b);	/* NULL-safe equality */
bool	 str_starts_with(const char *s, const char *prefix);
bool	 str_case_eq(const char *a, const char *b);	/* ASCII case-insensitive */
/* Trims ASCII white space at both ends, in place; returns s. */
char	*str_trim(char *s);
/* A trimmed copy of s ("" for NULL), malloc'd. */
char	*str_trim_dup(const char *s);
/* Lower-cases ASCII letters in place; returns s. */
char	*str_lower(char *s);
/* Parses a whole decimal int64 (optional sign, no spaces); false otherwise. */
bool	 str_to_i64(const char *s, int64_t *out);
/* Copies src into dst of size n, always terminating; false when truncated. */
bool	 str_copy(char *dst, const char *src, size_t n);
/* Hex-encodes n bytes into out (2n + 1 bytes). */
void	 str_hex(char *out, const unsigned char *p, size_t n);
/* True when s holds a CR, LF or NUL-free control byte unfit for a header. */
bool	 str_has_ctl(const char *s);

#endif
