/*
 * cidr: IPv4 and IPv6 address ranges ("10.0.0.0/8", "2001:db8::/32", or a
 * bare address meaning a single host), for two questions:
 *   - is the client's TCP peer one of our reverse proxies
 *     (PARLEY_TRUSTED_PROXIES: addresses as text, X-Forwarded-For);
 *   - may an outbound call to a user-given URL connect to this address
 *     (cidr_is_public, PARLEY_MCP_ALLOWED_CIDRS: struct sockaddr).
 * An IPv4-mapped IPv6 address ("::ffff:10.1.2.3", as a dual-stack socket
 * reports an IPv4 peer), and a v4-mapped range, are the IPv4 ones they
 * carry. Pure functions; thread-safe.
 */
#ifndef PARLEY_UTIL_CIDR_H
#define PARLEY_UTIL_CIDR_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/socket.h>

#define CIDR_LIST_MAX	32	/* ranges in one setting */
#define CIDR_ADDR_MAX	64	/* longest address text we accept, NUL incl. */

struct cidr {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];	/* network order; IPv4 in the first 4 */
	int		 bits;		/* prefix: 0..32 or 0..128 */
};

/* One range, already trimmed; a bare address is a /32 or /128. */
bool	 cidr_parse(const char *s, struct cidr *out);
/*
 * A list separated by commas and/or blanks ("" or NULL: empty) into
 * out[max] and *n. On a bad entry returns false with one sentence naming
 * it in err.
 */
bool	 cidr_list_parse(const char *s, struct cidr *out, int max, int *n,
	    char *err, size_t errlen);
/* True when sa (AF_INET or AF_INET6) is inside c. */
bool	 cidr_match(const struct cidr *c, const struct sockaddr *sa);
/* True when addr (an address's text) is inside one of the n ranges. */
bool	 cidr_list_match(const struct cidr *list, int n, const char *addr);
/*
 * Parses one address's text ("203.0.113.9", "2001:db8::1", also
 * "[2001:db8::1]", "[2001:db8::1]:443" and "203.0.113.9:443", the shapes
 * proxies put in X-Forwarded-For) into *family (AF_INET or AF_INET6) and
 * addr. False when it is not an address.
 */
bool	 cidr_addr_parse(const char *text, int *family,
	    unsigned char addr[16]);
/* The canonical text of an address (inet_ntop), into out (>= 46). */
void	 cidr_addr_format(int family, const unsigned char addr[16], char *out,
	    size_t outlen);
/*
 * True for an address on the public internet; false for loopback,
 * private (RFC 1918, fc00::/7), carrier-grade NAT, link-local,
 * unspecified, multicast, broadcast, reserved and documentation ranges.
 */
bool	 cidr_is_public(const struct sockaddr *sa);
/* The address of sa as text ("10.0.0.1", "::1") into out. */
void	 cidr_addr_str(const struct sockaddr *sa, char *out, size_t len);

#endif
