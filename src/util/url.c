/*
 * url: percent-encoding (see url.h).
 */
#include "util/url.h"

#include <string.h>

static int	hexval(int);

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
url_decode(char *dst, const char *src, size_t n, bool is_form,
    size_t *out_len)
{
	size_t	 i, o = 0;

	for (i = 0; i < n; i++) {
		char	 c = src[i];

		if (c == '%') {
			int	 hi, lo;

			if (n - i < 3)
				return false;
			hi = hexval((unsigned char)src[i + 1]);
			lo = hexval((unsigned char)src[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			dst[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && is_form)
			dst[o++] = ' ';
		else
			dst[o++] = c;
	}
	dst[o] = '\0';
	*out_len = o;
	return true;
}

void
url_encode(struct buf *b, const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-_.~", *p) != NULL)
			buf_putc(b, (char)*p);
		else {
			char	 esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };

			buf_append(b, esc, 3);
		}
	}
}

bool
url_is_local_path(const char *s)
{
	if (s == NULL || s[0] != '/')
		return false;
	if (s[1] == '/' || s[1] == '\\')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == '\\')
			return false;
	return true;
}
