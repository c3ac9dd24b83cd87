/*
 * waid: WhatsApp identifier shapes (see waid.h).
 */
#include "util/waid.h"

#include <string.h>

static bool	 alnum(char);
static char	 lower(char);
static const char *bare(const char *);

static bool
alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static const char *
bare(const char *s)
{
	return s[0] == '@' ? s + 1 : s;
}

bool
waid_is_user_id(const char *s)
{
	size_t	 n, i = 0, prefix = 0, tail = 0;

	if (s == NULL || (n = strlen(s)) == 0 || n >= WAID_MAX)
		return false;
	/* "CC." (two letters) or the early "user." */
	while (i < n && ((s[i] >= 'A' && s[i] <= 'Z') ||
	    (s[i] >= 'a' && s[i] <= 'z')))
		i++;
	prefix = i;
	if (!((prefix == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' &&
	    s[1] <= 'Z') || (prefix == 4 && strncmp(s, "user", 4) == 0)) ||
	    s[i] != '.')
		return false;
	i++;
	if (prefix == 2 && strncmp(s + i, "ENT.", 4) == 0)
		i += 4;
	for (; i < n; i++, tail++)
		if (!alnum(s[i]))
			return false;
	return tail > 0;
}

bool
waid_is_username(const char *s)
{
	size_t	 n;

	if (s == NULL || s[0] != '@' || (n = strlen(s)) < 2 || n >= WAID_MAX)
		return false;
	for (size_t i = 1; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f ||
		    s[i] == '@' || s[i] == ',')
			return false;
	return true;
}

bool
waid_username_norm(const char *s, char *out, size_t outlen)
{
	size_t	 n;

	if (s == NULL)
		return false;
	s = bare(s);
	n = strlen(s);
	if (n + 2 > outlen)
		return false;
	out[0] = '@';
	for (size_t i = 0; i <= n; i++)
		out[i + 1] = lower(s[i]);
	return waid_is_username(out);
}

bool
waid_username_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return false;
	a = bare(a);
	b = bare(b);
	if (*a == '\0' || *b == '\0')
		return false;
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (lower(*a) != lower(*b))
			return false;
	return *a == *b;
}
