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

static bool	 addr_of(const struct sockaddr *, int *, unsigned char[16]);
static bool	 prefix_eq(const unsigned char *, const unsigned char *, int);

bool
cidr_parse(const char *s, struct cidr *out)
{
	char	 host[64];
	const char *slash = strchr(s, '/');
	size_t	 n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	long	 bits;
	char	*end;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		out->bits = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		out->bits = 128;
	} else
		return false;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9')
			return false;
		bits = strtol(slash + 1, &end, 10);
		if (*end != '\0' || bits < 0 || bits > out->bits)
			return false;
		out->bits = (int)bits;
	}
	return true;
}

bool
cidr_list_parse(const char *s, struct cidr *out, int max, int *n, char *err,
    size_t errlen)
{
	char	 item[80];
	size_t	 len;

	*n = 0;
	while (s != NULL && *s != '\0') {
		s += strspn(s, ", \t");
		len = strcspn(s, ", \t");
		if (len == 0)
			break;
		if (len >= sizeof(item) || *n >= max) {
			snprintf(err, errlen, "%s", len >= sizeof(item) ?
			    "an entry is too long" : "too many entries");
			return false;
		}
		memcpy(item, s, len);
		item[len] = '\0';
		if (!cidr_parse(item, &out[*n])) {
			snprintf(err, errlen, "\"%s\" is not an address or an "
			    "address/prefix range", item);
			return false;
		}
		(*n)++;
		s += len;
	}
	return true;
}

/* The family and 16 address bytes of sa; v4-mapped v6 becomes v4. */
static bool
addr_of(const struct sockaddr *sa, int *family, unsigned char out[16])
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0xff, 0xff };

	memset(out, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)(const void *)sa)->
		    sin_addr, 4);
		*family = AF_INET;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const unsigned char *a = ((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr.s6_addr;

		if (memcmp(a, mapped, 12) == 0) {
			memcpy(out, a + 12, 4);
			*family = AF_INET;
		} else {
			memcpy(out, a, 16);
			*family = AF_INET6;
		}
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

bool
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	unsigned char	 a[16];
	int		 family;

	if (!addr_of(sa, &family, a) || family != c->family)
		return false;
	return prefix_eq(a, c->addr, c->bits);
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
		if (c.family == family && prefix_eq(a, c.addr, c.bits))
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
