/*
 * cidr: address ranges (see cidr.h).
 */
#include "util/cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"
#include "util/xmalloc.h"

static bool	parse_item(const char *, struct cidr *);
static bool	in_range(const struct cidr *, int, const unsigned char *);

static const unsigned char v4_mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

bool
cidr_addr_parse(const char *text, int *family, unsigned char addr[16])
{
	char		 buf[CIDR_ADDR_MAX];
	char		*colon;
	const char	*close;
	size_t		 len;

	if (text == NULL)
		return false;
	len = strlen(text);
	if (len == 0 || len >= sizeof(buf))
		return false;
	if (text[0] == '[') {
		/* "[v6]" or "[v6]:port" */
		if ((close = strchr(text, ']')) == NULL ||
		    (close[1] != '\0' && close[1] != ':'))
			return false;
		len = (size_t)(close - text - 1);
		memcpy(buf, text + 1, len);
		buf[len] = '\0';
	} else {
		memcpy(buf, text, len + 1);
		/* "a.b.c.d:port": one colon and a dot before it. */
		colon = strchr(buf, ':');
		if (colon != NULL && strchr(colon + 1, ':') == NULL &&
		    memchr(buf, '.', (size_t)(colon - buf)) != NULL)
			*colon = '\0';
	}
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, buf, addr) == 1) {
		*family = 4;
		return true;
	}
	if (inet_pton(AF_INET6, buf, addr) == 1) {
		if (memcmp(addr, v4_mapped, sizeof(v4_mapped)) == 0) {
			memmove(addr, addr + 12, 4);
			memset(addr + 4, 0, 12);
			*family = 4;
		} else
			*family = 6;
		return true;
	}
	return false;
}

void
cidr_addr_format(int family, const unsigned char addr[16], char *out,
    size_t outlen)
{
	if (inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, out,
	    (socklen_t)outlen) == NULL && outlen > 0)
		out[0] = '\0';
}

/* "addr" or "addr/prefix", already trimmed. */
static bool
parse_item(const char *item, struct cidr *c)
{
	char		 buf[CIDR_ADDR_MAX + 8];
	char		*slash;
	int64_t		 prefix;
	int		 max;

	if (!str_copy(buf, item, sizeof(buf)) || buf[0] == '[')
		return false;
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	/* No ports or brackets in a range: inet_pton alone. */
	memset(c->addr, 0, sizeof(c->addr));
	if (inet_pton(AF_INET, buf, c->addr) == 1)
		c->family = 4;
	else if (inet_pton(AF_INET6, buf, c->addr) == 1)
		c->family = 6;
	else
		return false;
	max = c->family == 4 ? 32 : 128;
	if (slash == NULL)
		prefix = max;
	else if (slash[1] < '0' || slash[1] > '9' ||
	    !str_to_i64(slash + 1, &prefix) || prefix < 0 || prefix > max)
		return false;
	c->prefix = (int)prefix;
	/* A v4-mapped range is the IPv4 range it names. */
	if (c->family == 6 && c->prefix >= 96 &&
	    memcmp(c->addr, v4_mapped, sizeof(v4_mapped)) == 0) {
		memmove(c->addr, c->addr + 12, 4);
		memset(c->addr + 4, 0, 12);
		c->family = 4;
		c->prefix -= 96;
	}
	return true;
}

bool
cidr_list_parse(const char *text, struct cidr **out, int *n, char *err,
    size_t errlen)
{
	char		*copy, *item, *save = NULL;
	struct cidr	*list = NULL;
	int		 count = 0, cap = 0;
	bool		 ok = true;

	*out = NULL;
	*n = 0;
	if (text == NULL)
		return true;
	copy = xstrdup(text);
	for (item = strtok_r(copy, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		item = str_trim(item);
		if (*item == '\0')
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 4;
			list = xrealloc(list, sizeof(*list) * (size_t)cap);
		}
		if (!parse_item(item, &list[count])) {
			snprintf(err, errlen, "\"%.60s\" is not an IPv4 or IPv6 "
			    "address or range (e.g. 10.0.0.0/8, 2001:db8::/32)",
			    item);
			ok = false;
			break;
		}
		count++;
	}
	free(copy);
	if (!ok) {
		free(list);
		return false;
	}
	*out = list;
	*n = count;
	return true;
}

static bool
in_range(const struct cidr *c, int family, const unsigned char *addr)
{
	int	 full = c->prefix / 8, rest = c->prefix % 8;

	if (c->family != family)
		return false;
	if (memcmp(c->addr, addr, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((c->addr[full] ^ addr[full]) & (0xff << (8 - rest)) & 0xff)
	    == 0;
}

bool
cidr_list_match(const struct cidr *list, int n, const char *text)
{
	unsigned char	 addr[16];
	int		 family;

	if (n == 0 || !cidr_addr_parse(text, &family, addr))
		return false;
	for (int i = 0; i < n; i++)
		if (in_range(&list[i], family, addr))
			return true;
	return false;
}
