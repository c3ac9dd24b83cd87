/*
 * cidr: IPv4 and IPv6 address ranges ("10.0.0.0/8", "2001:db8::/32", or a
 * bare address meaning a single host), for PARLEY_TRUSTED_PROXIES. An
 * IPv4-mapped IPv6 address ("::ffff:10.1.2.3", as a dual-stack socket
 * reports an IPv4 peer) is compared as the IPv4 address it carries.
 * Pure functions; thread-safe.
 */
#ifndef PARLEY_UTIL_CIDR_H
#define PARLEY_UTIL_CIDR_H

#include <stdbool.h>
#include <stddef.h>

struct cidr {
	int		 family;	/* 4 or 6 */
	unsigned char	 addr[16];	/* network order; IPv4 in the first 4 */
	int		 prefix;	/* 0..32 or 0..128 */
};

#define CIDR_ADDR_MAX	64	/* longest address text we accept, NUL incl. */

/*
 * Parses a comma-separated list (spaces around items allowed; "" is an
 * empty list) into *out (malloc'd array, NULL when empty; the caller
 * frees it) and *n. On a bad item returns false with one sentence naming
 * the item in err, and *out is NULL.
 */
bool	 cidr_list_parse(const char *text, struct cidr **out, int *n,
	    char *err, size_t errlen);
/* True when addr (an address's text) is inside one of the n ranges. */
bool	 cidr_list_match(const struct cidr *list, int n, const char *addr);
/*
 * Parses one address's text ("203.0.113.9", "2001:db8::1", also
 * "[2001:db8::1]", "[2001:db8::1]:443" and "203.0.113.9:443", the shapes
 * proxies put in X-Forwarded-For) into *family and addr. A v4-mapped
 * IPv6 address comes back as IPv4. False when it is not an address.
 */
bool	 cidr_addr_parse(const char *text, int *family,
	    unsigned char addr[16]);
/* The canonical text of an address (inet_ntop), into out (>= 46). */
void	 cidr_addr_format(int family, const unsigned char addr[16], char *out,
	    size_t outlen);

#endif
