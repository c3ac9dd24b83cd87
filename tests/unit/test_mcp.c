/*
 * test_mcp: the MCP client's pure parts — the SSE parser (in pieces, CR/LF
 * variants, comments, ids, limits, and a bounded random-bytes run that
 * must never crash or leak), CallToolResult → model text, the address
 * ranges of the outbound guard, W3C trace context, plugin ids and tool
 * filters, and the slug of a server's name.
 */
#include "plugins/mcp_client.h"

#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "model/mcp_server.h"
#include "unit.h"
#include "util/cidr.h"
#include "util/trace.h"

struct seen {
	int	 n;
	char	 event[8][32];
	char	 data[8][256];
	int	 stop_after;	/* 0: never */
};

static bool
on_event(void *ctx, const char *event, const char *data, size_t len)
{
	struct seen	*s = ctx;

	if (s->n < 8) {
		snprintf(s->event[s->n], sizeof(s->event[0]), "%s", event);
		snprintf(s->data[s->n], sizeof(s->data[0]), "%.*s", (int)len,
		    data);
	}
	s->n++;
	return s->stop_after == 0 || s->n < s->stop_after;
}

START_TEST(sse_events_in_pieces)
{
	const char	*stream = ": keep-alive\r\n"
			    "id: 1\r\n"
			    "data:\r\n\r\n"		/* priming: empty data */
			    "event: message\n"
			    "data: {\"a\":1}\n\n"
			    "data: line one\r"
			    "data: line two\r\r"
			    "id: 42\nretry: 1000\n"
			    "data: {\"b\":2}\n\n"
			    "data: never dispatched";
	struct seen	 s = { 0 };
	struct mcp_sse	*p = mcp_sse_new(1024, on_event, &s);

	/* One byte at a time: every split point. */
	for (size_t i = 0; i < strlen(stream); i++)
		ck_assert(mcp_sse_feed(p, stream + i, 1));
	ck_assert_int_eq(s.n, 4);
	ck_assert_str_eq(s.data[0], "");
	ck_assert_str_eq(s.event[1], "message");
	ck_assert_str_eq(s.data[1], "{\"a\":1}");
	ck_assert_str_eq(s.event[2], "");
	ck_assert_str_eq(s.data[2], "line one\nline two");
	ck_assert_str_eq(s.data[3], "{\"b\":2}");
	ck_assert_str_eq(mcp_sse_last_id(p), "42");
	mcp_sse_free(p);
}
END_TEST

START_TEST(sse_stop_and_limits)
{
	struct seen	 s = { .stop_after = 1 };
	struct mcp_sse	*p = mcp_sse_new(16, on_event, &s);
	char		 big[64];

	ck_assert(!mcp_sse_feed(p, "data: x\n\ndata: y\n\n", 18));
	ck_assert_int_eq(s.n, 1);
	ck_assert(!mcp_sse_too_large(p));
	mcp_sse_free(p);

	memset(&s, 0, sizeof(s));
	p = mcp_sse_new(16, on_event, &s);
	memset(big, 'z', sizeof(big));
	ck_assert(mcp_sse_feed(p, "data: ", 6));
	ck_assert(mcp_sse_feed(p, big, sizeof(big)));
	ck_assert(!mcp_sse_feed(p, "\n", 1));
	ck_assert(mcp_sse_too_large(p));
	ck_assert_int_eq(s.n, 0);
	mcp_sse_free(p);
}
END_TEST

/* Bounded random input: no crash, no leak, no event over the limit. */
START_TEST(sse_random_bytes)
{
	unsigned int	 seed = 12345;

	for (int round = 0; round < 300; round++) {
		struct seen	 s = { 0 };
		struct mcp_sse	*p = mcp_sse_new(512, on_event, &s);
		char		 buf[2048];
		size_t		 n = (size_t)(rand_r(&seed) % sizeof(buf));

		for (size_t i = 0; i < n; i++) {
			static const char alpha[] = "data: id:event\r\n:{}\"x";

			buf[i] = rand_r(&seed) % 4 == 0 ? (char)rand_r(&seed) :
			    alpha[rand_r(&seed) % (sizeof(alpha) - 1)];
		}
		(void)mcp_sse_feed(p, buf, n);
		mcp_sse_free(p);
	}
}
END_TEST

START_TEST(result_text_kinds)
{
	cJSON	*r = cJSON_Parse("{\"content\":["
		    "{\"type\":\"text\",\"text\":\"Hello\"},"
		    "{\"type\":\"image\",\"data\":\"AAAA\",\"mimeType\":"
		    "\"image/png\"},"
		    "{\"type\":\"resource_link\",\"uri\":\"file:///a\",\"name\":"
		    "\"a\"},"
		    "{\"type\":\"resource\",\"resource\":{\"uri\":\"x:y\",\"text\":"
		    "\"embedded\"}},"
		    "{\"type\":\"mystery\"}],"
		    "\"structuredContent\":{\"k\":1},\"isError\":false}");
	bool	 err = true;
	char	*t = mcp_result_text(r, 10000, &err);

	ck_assert(!err);
	ck_assert_str_eq(t, "Hello\n[image: image/png, 3 bytes, not shown]\n"
	    "[resource link: a <file:///a>]\nembedded\n"
	    "[mystery content, not shown]");
	free(t);
	cJSON_Delete(r);

	/* Structured content alone is given as JSON. */
	r = cJSON_Parse("{\"content\":[],\"structuredContent\":{\"t\":21.5}}");
	t = mcp_result_text(r, 10000, &err);
	ck_assert_str_eq(t, "{\"t\":21.5}");
	free(t);
	cJSON_Delete(r);

	/* isError; a cut on a UTF-8 boundary. */
	r = cJSON_Parse("{\"isError\":true,\"content\":[{\"type\":\"text\","
	    "\"text\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}]}");
	t = mcp_result_text(r, 3, &err);
	ck_assert(err);
	ck_assert(strncmp(t, "\xc3\xa9\n[cut:", 8) == 0);
	free(t);
	cJSON_Delete(r);
	r = cJSON_Parse("{\"isError\":true}");
	t = mcp_result_text(r, 100, &err);
	ck_assert_str_eq(t, "The tool failed without saying why.");
	free(t);
	cJSON_Delete(r);
}
END_TEST

static bool
pub(const char *ip)
{
	struct sockaddr_in6	 a6;
	struct sockaddr_in	 a4;

	memset(&a4, 0, sizeof(a4));
	memset(&a6, 0, sizeof(a6));
	if (inet_pton(AF_INET, ip, &a4.sin_addr) == 1) {
		a4.sin_family = AF_INET;
		return cidr_is_public((const struct sockaddr *)&a4);
	}
	ck_assert(inet_pton(AF_INET6, ip, &a6.sin6_addr) == 1);
	a6.sin6_family = AF_INET6;
	return cidr_is_public((const struct sockaddr *)&a6);
}

START_TEST(guard_ranges)
{
	struct cidr		 list[4];
	struct sockaddr_in	 a;
	char			 err[128];
	int			 n;

	ck_assert(pub("93.184.216.34"));
	ck_assert(pub("2606:4700::1111"));
	ck_assert(!pub("127.0.0.1"));
	ck_assert(!pub("10.1.2.3"));
	ck_assert(!pub("172.31.255.255"));
	ck_assert(pub("172.32.0.1"));
	ck_assert(!pub("192.168.1.1"));
	ck_assert(!pub("169.254.169.254"));	/* cloud metadata */
	ck_assert(!pub("100.64.0.1"));
	ck_assert(!pub("0.0.0.0"));
	ck_assert(!pub("224.0.0.1"));
	ck_assert(!pub("::1"));
	ck_assert(!pub("::"));
	ck_assert(!pub("fd00::1"));
	ck_assert(!pub("fe80::1"));
	ck_assert(!pub("::ffff:127.0.0.1"));	/* v4-mapped */
	ck_assert(!pub("::ffff:10.0.0.1"));
	ck_assert(pub("::ffff:93.184.216.34"));

	ck_assert(cidr_list_parse("10.0.0.0/8, ::1 127.0.0.1/32", list, 4, &n,
	    err, sizeof(err)));
	ck_assert_int_eq(n, 3);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	inet_pton(AF_INET, "10.200.1.1", &a.sin_addr);
	ck_assert(cidr_match(&list[0], (const struct sockaddr *)&a));
	inet_pton(AF_INET, "11.0.0.1", &a.sin_addr);
	ck_assert(!cidr_match(&list[0], (const struct sockaddr *)&a));
	ck_assert(!cidr_list_parse("10.0.0.0/33", list, 4, &n, err,
	    sizeof(err)));
	ck_assert(!cidr_list_parse("example.com", list, 4, &n, err,
	    sizeof(err)));
	ck_assert(!cidr_list_parse("1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5",
	    list, 4, &n, err, sizeof(err)));
}
END_TEST

START_TEST(trace_context)
{
	char	 out[TRACE_HEADER_LEN + 1], id[33], fl[3];

	ck_assert(trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-"
	    "00f067aa0ba902b7-01", id, fl));
	ck_assert(!trace_parse("00-00000000000000000000000000000000-"
	    "00f067aa0ba902b7-01", id, fl));
	ck_assert(!trace_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-"
	    "00f067aa0ba902b7-01", id, fl));
	ck_assert(!trace_parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-"
	    "00f067aa0ba902b7-01", id, fl));
	trace_begin("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	trace_child(out);
	ck_assert(strncmp(out, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36) ==
	    0);
	ck_assert(strcmp(out + 36, "00f067aa0ba902b7-01") != 0);
	trace_end();
	trace_child(out);
	ck_assert(trace_parse(out, id, fl));
	ck_assert(strcmp(id, "4bf92f3577b34da6a3ce929d0e0e4736") != 0);
}
END_TEST

START_TEST(plugin_ids_filters_slugs)
{
	char	*tools[] = { "a", "b" };
	char	 slug[24];
	int64_t	 id;

	ck_assert(mcp_plugin_id_parse("mcp:12", &id));
	ck_assert_int_eq(id, 12);
	ck_assert(!mcp_plugin_id_parse("mcp:012", &id));
	ck_assert(!mcp_plugin_id_parse("mcp:", &id));
	ck_assert(!mcp_plugin_id_parse("mcp:1x", &id));
	ck_assert(!mcp_plugin_id_parse("time.now", &id));
	ck_assert(mcp_filter_allows(MCP_FILTER_ALL, tools, 2, "z"));
	ck_assert(mcp_filter_allows(MCP_FILTER_ONLY, tools, 2, "a"));
	ck_assert(!mcp_filter_allows(MCP_FILTER_ONLY, tools, 2, "z"));
	ck_assert(!mcp_filter_allows(MCP_FILTER_EXCEPT, tools, 2, "b"));
	ck_assert(mcp_filter_allows(MCP_FILTER_EXCEPT, tools, 2, "z"));
	mcp_slugify("CRM (EU) 2", slug);
	ck_assert_str_eq(slug, "crmeu2");
	mcp_slugify("42 Ünïcode", slug);
	ck_assert_str_eq(slug, "ncode");
	mcp_slugify("!!!", slug);
	ck_assert_str_eq(slug, "mcp");
}
END_TEST

/* 2026-07-28 streamable-http.mdx, "Custom Headers from Tool Parameters". */
START_TEST(x_mcp_header)
{
	cJSON	*ok = cJSON_Parse("{\"type\":\"object\",\"properties\":{"
		    "\"region\":{\"type\":\"string\",\"x-mcp-header\":\"Region\"},"
		    "\"n\":{\"type\":\"integer\",\"x-mcp-header\":\"Count\"},"
		    "\"deep\":{\"type\":\"object\",\"properties\":{\"flag\":"
		    "{\"type\":\"boolean\",\"x-mcp-header\":\"Flag\"}}},"
		    "\"q\":{\"type\":\"string\"}}}");
	cJSON	*args = cJSON_Parse("{\"region\":\"Hello, \u4e16\u754c\","
		    "\"n\":42,\"deep\":{\"flag\":true},\"q\":\"x\"}");
	char	**h;
	char	 why[128];
	static const char *const bad[] = {
		/* in items */
		"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":"
		"\"array\",\"items\":{\"type\":\"string\",\"x-mcp-header\":"
		"\"A\"}}}}",
		/* under anyOf */
		"{\"type\":\"object\",\"anyOf\":[{\"properties\":{\"a\":"
		"{\"type\":\"string\",\"x-mcp-header\":\"A\"}}}]}",
		/* a number */
		"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":"
		"\"number\",\"x-mcp-header\":\"A\"}}}",
		/* twice, case aside */
		"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":"
		"\"string\",\"x-mcp-header\":\"A\"},\"b\":{\"type\":"
		"\"string\",\"x-mcp-header\":\"a\"}}}",
		/* not a token */
		"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":"
		"\"string\",\"x-mcp-header\":\"A B\"}}}",
		/* on the root */
		"{\"type\":\"object\",\"x-mcp-header\":\"Root\"}",
	};

	ck_assert(mcp_tool_headers_valid(ok, why, sizeof(why)));
	h = mcp_param_headers(ok, args);
	ck_assert_str_eq(h[0], "Mcp-Param-Region: =?base64?SGVsbG8sIOS4lueVjA==?=");
	ck_assert_str_eq(h[1], "Mcp-Param-Count: 42");
	ck_assert_str_eq(h[2], "Mcp-Param-Flag: true");
	ck_assert_ptr_null(h[3]);
	mcp_headers_free(h);
	cJSON_Delete(args);
	/* Absent or null: no header. */
	args = cJSON_Parse("{\"region\":null}");
	h = mcp_param_headers(ok, args);
	ck_assert_ptr_null(h[0]);
	mcp_headers_free(h);
	cJSON_Delete(args);
	cJSON_Delete(ok);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON	*b = cJSON_Parse(bad[i]);

		ck_assert_msg(!mcp_tool_headers_valid(b, why, sizeof(why)),
		    "accepted: %s", bad[i]);
		cJSON_Delete(b);
	}
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("mcp");
	TCase	*tc = tcase_create("mcp");

	tcase_add_test(tc, sse_events_in_pieces);
	tcase_add_test(tc, sse_stop_and_limits);
	tcase_add_test(tc, sse_random_bytes);
	tcase_add_test(tc, result_text_kinds);
	tcase_add_test(tc, guard_ranges);
	tcase_add_test(tc, trace_context);
	tcase_add_test(tc, plugin_ids_filters_slugs);
	tcase_add_test(tc, x_mcp_header);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
