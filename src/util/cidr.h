/*
 * cidr: IP address ranges ("10.0.0.0/8", "::1/128", "127.0.0.1") and the
 * question outbound calls to user-given URLs ask before they connect: is
 * this address on the public internet? Pure functions; thread-safe.
 */
#ifndef PARLEY_UTIL_CIDR_H
#define PARLEY_UTIL_CIDR_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/socket.h>

#define CIDR_LIST_MAX	32

struct cidr {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];
	int		 bits;
};

/* One range; a bare address is a /32 or /128. */
bool	 cidr_parse(const char *s, struct cidr *out);
/*
 * A comma- or space-separated list into out[max]; false with a sentence
 * naming the bad entry in err.
 */
bool	 cidr_list_parse(const char *s, struct cidr *out, int max, int *n,
	    char *err, size_t errlen);
/* True when sa (AF_INET or AF_INET6; v4-mapped v6 counts as v4) is in c. */
bool	 cidr_match(const struct cidr *c, const struct sockaddr *sa);
/*
 * True for an address on the public internet; false for loopback,
 * private (RFC 1918, fc00::/7), carrier-grade NAT, link-local,
 * unspecified, multicast, broadcast, reserved and documentation ranges.
 */
bool	 cidr_is_public(const struct sockaddr *sa);
/* The address as text ("10.0.0.1", "::1") into out. */
void	 cidr_addr_str(const struct sockaddr *sa, char *out, size_t len);

#endif
