/*
 * cidr: address ranges and the public-address test (see cidr.h). The
 * non-public ranges are IANA's special-purpose registries (RFC 6890 and
 * its updates) for IPv4 and IPv6.
 */
#include "util/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

static void	 unmap(int *, unsigned char[16]);
static bool	 addr_of(const struct sockaddr *, int *, unsigned char[16]);
static bool	 prefix_eq(const unsigned char *, const unsigned char *, int);
static bool	 in_range(const struct cidr *, int, const unsigned char *);

static const unsigned char v4_mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* A v4-mapped IPv6 address becomes the IPv4 address it carries. */
static void
unmap(int *family, unsigned char addr[16])
{
	if (*family == AF_INET6 && memcmp(addr, v4_mapped, 12) == 0) {
		memmove(addr, addr + 12, 4);
		memset(addr + 4, 0, 12);
		*family = AF_INET;
	}
}

bool
cidr_parse(const char *s, struct cidr *out)
{
	char		 buf[CIDR_ADDR_MAX + 8];
	char		*slash;
	int64_t		 bits;
	int		 max;

	memset(out, 0, sizeof(*out));
	if (s == NULL || !str_copy(buf, s, sizeof(buf)) || buf[0] == '\0' ||
	    buf[0] == '[')
		return false;
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	/* No ports or brackets in a range: inet_pton alone. */
	if (inet_pton(AF_INET, buf, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, out->addr) == 1)
		out->family = AF_INET6;
	else
		return false;
	max = out->family == AF_INET ? 32 : 128;
	if (slash == NULL)
		bits = max;
	else if (slash[1] < '0' || slash[1] > '9' ||
	    !str_to_i64(slash + 1, &bits) || bits < 0 || bits > max)
		return false;
	out->bits = (int)bits;
	/* A v4-mapped range is the IPv4 range it names. */
	if (out->family == AF_INET6 && out->bits >= 96 &&
	    memcmp(out->addr, v4_mapped, sizeof(v4_mapped)) == 0) {
		unmap(&out->family, out->addr);
		out->bits -= 96;
	}
	return true;
}

bool
cidr_list_parse(const char *s, struct cidr *out, int max, int *n, char *err,
    size_t errlen)
{
	char	 item[CIDR_ADDR_MAX + 8];
	size_t	 len;

	*n = 0;
	while (s != NULL && *s != '\0') {
		s += strspn(s, ", \t");
		len = strcspn(s, ", \t");
		if (len == 0)
			break;
		if (len >= sizeof(item)) {
			snprintf(err, errlen, "\"%.40s…\" is too long for an "
			    "address or range", s);
			return false;
		}
		if (*n >= max) {
			snprintf(err, errlen, "at most %d addresses or ranges "
			    "can be given", max);
			return false;
		}
		memcpy(item, s, len);
		item[len] = '\0';
		if (!cidr_parse(item, &out[*n])) {
			snprintf(err, errlen, "\"%s\" is not an IPv4 or IPv6 "
			    "address or range (e.g. 10.0.0.0/8, "
			    "2001:db8::/32)", item);
			return false;
		}
		(*n)++;
		s += len;
	}
	return true;
}

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
	if (inet_pton(AF_INET, buf, addr) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, buf, addr) == 1)
		*family = AF_INET6;
	else
		return false;
	unmap(family, addr);
	return true;
}

void
cidr_addr_format(int family, const unsigned char addr[16], char *out,
    size_t outlen)
{
	if (inet_ntop(family, addr, out, (socklen_t)outlen) == NULL &&
	    outlen > 0)
		out[0] = '\0';
}

/* The family and 16 address bytes of sa; v4-mapped v6 becomes v4. */
static bool
addr_of(const struct sockaddr *sa, int *family, unsigned char out[16])
{
	memset(out, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)(const void *)sa)->
		    sin_addr, 4);
		*family = AF_INET;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out, ((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_addr.s6_addr, 16);
		*family = AF_INET6;
		unmap(family, out);
		return true;
	}
	return false;
}

static bool
prefix_eq(const unsigned char *a, const unsigned char *b, int bits)
{
	int	 full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

static bool
in_range(const struct cidr *c, int family, const unsigned char *addr)
{
	return c->family == family && prefix_eq(addr, c->addr, c->bits);
}

bool
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	unsigned char	 a[16];
	int		 family;

	return addr_of(sa, &family, a) && in_range(c, family, a);
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

bool
cidr_is_public(const struct sockaddr *sa)
{
	static const char *const closed[] = {
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8",
		"169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
		"192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
		"198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
		"224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48",
		"100::/64", "2001::/23", "2001:db8::/32", "fc00::/7",
		"fe80::/10", "ff00::/8",
	};
	struct cidr	 c;
	unsigned char	 a[16];
	int		 family;

	if (!addr_of(sa, &family, a))
		return false;
	for (size_t i = 0; i < sizeof(closed) / sizeof(closed[0]); i++) {
		if (!cidr_parse(closed[i], &c))
			abort();
		if (in_range(&c, family, a))
			return false;
	}
	return true;
}

void
cidr_addr_str(const struct sockaddr *sa, char *out, size_t len)
{
	const void	*p = NULL;

	if (sa->sa_family == AF_INET)
		p = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		p = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (p == NULL || inet_ntop(sa->sa_family, p, out, (socklen_t)len) ==
	    NULL)
		snprintf(out, len, "?");
}
