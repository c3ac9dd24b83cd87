/*
 * url: percent-encoding and decoding (RFC 3986, and the form encoding of
 * application/x-www-form-urlencoded where '+' means a space).
 */
#ifndef PARLEY_UTIL_URL_H
#define PARLEY_UTIL_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/*
 * Decodes n bytes of src into dst (room for n + 1 bytes). With is_form, '+'
 * becomes a space. Returns false for a malformed escape ("%4", "%zz"); the
 * decoded length goes to *out_len. The result is NUL-terminated but may hold
 * NUL bytes from "%00": callers validate with utf8_valid().
 */
bool	 url_decode(char *dst, const char *src, size_t n, bool is_form,
	    size_t *out_len);
/* Appends s percent-encoded like encodeURIComponent (unreserved kept). */
void	 url_encode(struct buf *b, const char *s);
/* True for a local redirect target: "/x" but not "//x", "/\x" or a scheme. */
bool	 url_is_local_path(const char *s);

#endif
