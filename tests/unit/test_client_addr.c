/*
 * Unit tests for the client address (issue 10, defect 6): util/cidr's
 * ranges (IPv4, IPv6, v4-mapped, bad items) and http/req's choice of
 * address — the TCP peer unless it is a trusted proxy, then the right-most
 * X-Forwarded-For entry that is not itself trusted; X-Forwarded-Proto only
 * from a trusted proxy.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "app/app.h"
#include "http/req.h"
#include "util/arena.h"
#include "util/cidr.h"

#include "unit/unit.h"

static const char	*addr_of(const char *, const char *, const char *,
			    const char *);
static bool		 https_of(const char *, const char *, const char *);

static struct app	 app;

START_TEST(cidr_parse_and_match)
{
	struct cidr	 l[CIDR_LIST_MAX];
	char		 err[200];
	int		 n = -1;

	ck_assert(cidr_list_parse("", l, CIDR_LIST_MAX, &n, err, sizeof(err)));
	ck_assert_int_eq(n, 0);
	ck_assert(cidr_list_parse(NULL, l, CIDR_LIST_MAX, &n, err, sizeof(err)));
	ck_assert(!cidr_list_match(l, n, "127.0.0.1"));

	ck_assert(cidr_list_parse(" 10.0.0.0/8 ,192.168.1.7, 2001:db8::/32,"
	    "::ffff:172.16.0.0/108 ,", l, CIDR_LIST_MAX, &n, err, sizeof(err)));
	ck_assert_int_eq(n, 4);
	ck_assert(cidr_list_match(l, n, "10.255.1.2"));
	ck_assert(!cidr_list_match(l, n, "11.0.0.1"));
	ck_assert(cidr_list_match(l, n, "192.168.1.7"));
	ck_assert(!cidr_list_match(l, n, "192.168.1.8"));
	ck_assert(cidr_list_match(l, n, "2001:db8:1::5"));
	ck_assert(cidr_list_match(l, n, "2001:DB8::1"));
	ck_assert(!cidr_list_match(l, n, "2001:db9::1"));
	/* v4-mapped ranges and addresses are their IPv4 selves. */
	ck_assert(cidr_list_match(l, n, "172.16.200.1"));
	ck_assert(!cidr_list_match(l, n, "172.32.0.1"));
	ck_assert(cidr_list_match(l, n, "::ffff:10.1.2.3"));
	ck_assert(!cidr_list_match(l, n, "not an address"));
	ck_assert(!cidr_list_match(l, n, ""));

	/* Odd prefixes cut inside a byte. */
	ck_assert(cidr_list_parse("100.64.0.0/10, fe80::/10", l, CIDR_LIST_MAX, &n, err,
	    sizeof(err)));
	ck_assert(cidr_list_match(l, n, "100.127.255.255"));
	ck_assert(!cidr_list_match(l, n, "100.128.0.0"));
	ck_assert(cidr_list_match(l, n, "febf::1"));
	ck_assert(!cidr_list_match(l, n, "fec0::1"));
	ck_assert(cidr_list_parse("0.0.0.0/0", l, CIDR_LIST_MAX, &n, err, sizeof(err)));
	ck_assert(cidr_list_match(l, n, "203.0.113.1"));
	ck_assert(!cidr_list_match(l, n, "2001:db8::1"));

	static const char *const bad[] = { "10.0.0.0/33", "::/129",
	    "10.0.0.0/-1", "10.0.0.0/", "10.0.0/8", "proxy.local",
	    "[::1]", "10.0.0.1:80" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(!cidr_list_parse(bad[i], l, CIDR_LIST_MAX, &n, err,
		    sizeof(err)), "accepted %s", bad[i]);
		ck_assert_msg(strstr(err, bad[i]) != NULL, "%s: %s", bad[i],
		    err);
	}
	/* Blanks separate entries too: the bad one is named. */
	ck_assert(!cidr_list_parse("1.2.3.4/8 5", l, CIDR_LIST_MAX, &n, err,
	    sizeof(err)));
	ck_assert_msg(strstr(err, "\"5\"") != NULL, "%s", err);
}
END_TEST

START_TEST(cidr_address_shapes)
{
	unsigned char	 a[16];
	char		 out[64];
	int		 f;

	ck_assert(cidr_addr_parse("203.0.113.9:443", &f, a));
	ck_assert_int_eq(f, AF_INET);
	cidr_addr_format(f, a, out, sizeof(out));
	ck_assert_str_eq(out, "203.0.113.9");
	ck_assert(cidr_addr_parse("[2001:db8::1]:8443", &f, a));
	ck_assert_int_eq(f, AF_INET6);
	cidr_addr_format(f, a, out, sizeof(out));
	ck_assert_str_eq(out, "2001:db8::1");
	ck_assert(cidr_addr_parse("[2001:DB8:0::1]", &f, a));
	ck_assert(cidr_addr_parse("::ffff:192.0.2.1", &f, a));
	ck_assert_int_eq(f, AF_INET);
	ck_assert(!cidr_addr_parse("unknown", &f, a));
	ck_assert(!cidr_addr_parse("[2001:db8::1", &f, a));
	ck_assert(!cidr_addr_parse("[2001:db8::1]x", &f, a));
	ck_assert(!cidr_addr_parse("1.2.3.4:5:6", &f, a));
	ck_assert(!cidr_addr_parse("", &f, a));
}
END_TEST

/* req_remote_addr for a peer and up to two X-Forwarded-For headers. */
static const char *
addr_of(const char *peer, const char *xff1, const char *xff2,
    const char *trusted)
{
	struct mg_request_info	 ri;
	struct arena		*a = arena_new();
	struct req		 r;
	char			 err[200];
	static char		 out[64];

	memset(&ri, 0, sizeof(ri));
	memset(&r, 0, sizeof(r));
	ck_assert(cidr_list_parse(trusted, app.cfg.trusted_proxies,
	    CIDR_LIST_MAX, &app.cfg.n_trusted_proxies, err, sizeof(err)));
	snprintf(ri.remote_addr, sizeof(ri.remote_addr), "%s", peer);
	ri.http_headers[ri.num_headers].name = "Host";
	ri.http_headers[ri.num_headers++].value = "parley.example.com";
	if (xff1 != NULL) {
		ri.http_headers[ri.num_headers].name = "X-Forwarded-For";
		ri.http_headers[ri.num_headers++].value = xff1;
	}
	if (xff2 != NULL) {
		ri.http_headers[ri.num_headers].name = "x-forwarded-for";
		ri.http_headers[ri.num_headers++].value = xff2;
	}
	r.ri = &ri;
	r.app = &app;
	r.arena = a;
	snprintf(out, sizeof(out), "%s", req_remote_addr(&r));
	arena_free(a);
	return out;
}

static bool
https_of(const char *peer, const char *proto, const char *trusted)
{
	struct mg_request_info	 ri;
	struct req		 r;
	char			 err[200];

	memset(&ri, 0, sizeof(ri));
	memset(&r, 0, sizeof(r));
	ck_assert(cidr_list_parse(trusted, app.cfg.trusted_proxies,
	    CIDR_LIST_MAX, &app.cfg.n_trusted_proxies, err, sizeof(err)));
	snprintf(ri.remote_addr, sizeof(ri.remote_addr), "%s", peer);
	if (proto != NULL) {
		ri.http_headers[0].name = "X-Forwarded-Proto";
		ri.http_headers[0].value = proto;
		ri.num_headers = 1;
	}
	r.ri = &ri;
	r.app = &app;
	return req_is_https(&r);
}

START_TEST(client_address)
{
	/* No trusted proxies: the peer, whatever the headers say. */
	ck_assert_str_eq(addr_of("198.51.100.7", "203.0.113.1", NULL, ""),
	    "198.51.100.7");
	/* An untrusted peer's headers are ignored. */
	ck_assert_str_eq(addr_of("198.51.100.7", "203.0.113.1", NULL,
	    "10.0.0.0/8"), "198.51.100.7");
	/* A trusted peer: the right-most entry. */
	ck_assert_str_eq(addr_of("10.0.0.2", "203.0.113.1", NULL,
	    "10.0.0.0/8"), "203.0.113.1");
	/* What the client prepended does not count. */
	ck_assert_str_eq(addr_of("10.0.0.2", "1.1.1.1, 203.0.113.1", NULL,
	    "10.0.0.0/8"), "203.0.113.1");
	/* Trusted hops are skipped, across headers, right to left. */
	ck_assert_str_eq(addr_of("10.0.0.2", "1.1.1.1, 203.0.113.1",
	    "10.0.0.9,10.0.0.3", "10.0.0.0/8"), "203.0.113.1");
	ck_assert_str_eq(addr_of("10.0.0.2", "203.0.113.1, 10.9.9.9", NULL,
	    "10.0.0.0/8"), "203.0.113.1");
	/* Every entry trusted: the left-most. */
	ck_assert_str_eq(addr_of("10.0.0.2", "10.1.1.1, 10.2.2.2", NULL,
	    "10.0.0.0/8"), "10.1.1.1");
	/* Junk ends the walk at the nearest trusted hop. */
	ck_assert_str_eq(addr_of("10.0.0.2", "203.0.113.1, garbage", NULL,
	    "10.0.0.0/8"), "10.0.0.2");
	ck_assert_str_eq(addr_of("10.0.0.2", "203.0.113.1, unknown, 10.3.3.3",
	    NULL, "10.0.0.0/8"), "10.3.3.3");
	/* No header from a trusted peer: the peer. Empty entries skip. */
	ck_assert_str_eq(addr_of("10.0.0.2", NULL, NULL, "10.0.0.0/8"),
	    "10.0.0.2");
	ck_assert_str_eq(addr_of("10.0.0.2", " 203.0.113.1 , ,", NULL,
	    "10.0.0.0/8"), "203.0.113.1");
	/* IPv6 proxies and clients; ports and brackets; canonical text. */
	ck_assert_str_eq(addr_of("::1", "[2001:DB8::0:7]:4711", NULL,
	    "::1/128"), "2001:db8::7");
	ck_assert_str_eq(addr_of("::ffff:127.0.0.1", "192.0.2.5:1234", NULL,
	    "127.0.0.0/8"), "192.0.2.5");
	ck_assert_str_eq(addr_of("fd00::5", "2001:db8::9, fd00::1", NULL,
	    "fd00::/8"), "2001:db8::9");
	/* An over-long entry: the peer. */
	ck_assert_str_eq(addr_of("10.0.0.2", "203.0.113.1111111111111111111"
	    "11111111111111111111111111111111111111111111111", NULL,
	    "10.0.0.0/8"), "10.0.0.2");
}
END_TEST

START_TEST(forwarded_proto)
{
	ck_assert(!https_of("10.0.0.2", "https", ""));
	ck_assert(!https_of("198.51.100.7", "https", "10.0.0.0/8"));
	ck_assert(https_of("10.0.0.2", "https", "10.0.0.0/8"));
	ck_assert(https_of("10.0.0.2", "HTTPS", "10.0.0.0/8"));
	ck_assert(https_of("10.0.0.2", "http, https", "10.0.0.0/8"));
	ck_assert(!https_of("10.0.0.2", "https, http", "10.0.0.0/8"));
	ck_assert(!https_of("10.0.0.2", "httpsx", "10.0.0.0/8"));
	ck_assert(!https_of("10.0.0.2", NULL, "10.0.0.0/8"));
	app.cfg.n_trusted_proxies = 0;
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("client_addr");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, cidr_parse_and_match);
	tcase_add_test(tc, cidr_address_shapes);
	tcase_add_test(tc, client_address);
	tcase_add_test(tc, forwarded_proto);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
