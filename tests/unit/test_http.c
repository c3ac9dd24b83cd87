/*
 * Unit tests for http/: route matching with path parameters and form
 * parsing (urlencoded and multipart) with its limits and UTF-8 checks.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http/form.h"
#include "http/req.h"
#include "http/router.h"
#include "util/arena.h"

#include "unit/unit.h"

static struct arena	*a;
static struct req	 r;

static void
setup(void)
{
	a = arena_new();
	memset(&r, 0, sizeof(r));
	r.arena = a;
}

static void
teardown(void)
{
	arena_free(a);
}

START_TEST(router_params)
{
	ck_assert(router_match("/agents/{id}", "/agents/42", &r));
	ck_assert_int_eq(r.n_params, 1);
	ck_assert_str_eq(req_param(&r, "id"), "42");
	ck_assert(router_match("/agents/{id}/codes/{code}",
	    "/agents/7/codes/PRL-AB12", &r));
	ck_assert_str_eq(req_param(&r, "code"), "PRL-AB12");
	ck_assert(!router_match("/agents/{id}", "/agents/", &r));
	ck_assert(!router_match("/agents/{id}", "/agents/1/x", &r));
	ck_assert(!router_match("/agents", "/agents/", &r));
	ck_assert(router_match("/static/{*path}", "/static/css/app.css", &r));
	ck_assert_str_eq(req_param(&r, "path"), "css/app.css");
	ck_assert(router_match("/", "/", &r));
	ck_assert(!router_match("/", "/x", &r));
}
END_TEST

START_TEST(router_param_id)
{
	int64_t	 id;

	ck_assert(router_match("/a/{id}", "/a/12", &r));
	ck_assert(req_param_id(&r, "id", &id) && id == 12);
	ck_assert(router_match("/a/{id}", "/a/012", &r));
	ck_assert(!req_param_id(&r, "id", &id));
	ck_assert(router_match("/a/{id}", "/a/-1", &r));
	ck_assert(!req_param_id(&r, "id", &id));
	ck_assert(router_match("/a/{id}", "/a/99999999999999999999", &r));
	ck_assert(!req_param_id(&r, "id", &id));
}
END_TEST

START_TEST(form_urlencoded)
{
	struct form	*f;
	const char	*body = "email=a%40b.com&password=p+w%26&empty=&flag";

	ck_assert_int_eq(form_parse(a, "application/x-www-form-urlencoded",
	    body, strlen(body), &f), FORM_OK);
	ck_assert_str_eq(form_get(f, "email"), "a@b.com");
	ck_assert_str_eq(form_get(f, "password"), "p w&");
	ck_assert_str_eq(form_get(f, "empty"), "");
	ck_assert_str_eq(form_get(f, "flag"), "");
	ck_assert_ptr_null(form_get(f, "missing"));
	ck_assert_str_eq(form_str(f, "missing"), "");
}
END_TEST

START_TEST(form_rejects_bad_input)
{
	struct form	*f;
	char		*big;
	size_t		 n = FORM_FIELD_MAX + 10;

	ck_assert_int_eq(form_parse(a, "application/x-www-form-urlencoded",
	    "a=%zz", 5, &f), FORM_MALFORMED);
	ck_assert_int_eq(form_parse(a, "application/x-www-form-urlencoded",
	    "a=%ff%fe", 8, &f), FORM_BAD_UTF8);
	ck_assert_int_eq(form_parse(a, "application/x-www-form-urlencoded",
	    "a=x%00y", 7, &f), FORM_BAD_UTF8);
	ck_assert_int_eq(form_parse(a, "text/plain", "a=1", 3, &f),
	    FORM_UNSUPPORTED);
	big = malloc(n + 3);
	memcpy(big, "a=", 2);
	memset(big + 2, 'x', n);
	big[n + 2] = '\0';
	ck_assert_int_eq(form_parse(a, "application/x-www-form-urlencoded",
	    big, n + 2, &f), FORM_TOO_LARGE);
	free(big);
}
END_TEST

START_TEST(form_multipart)
{
	struct form		*f;
	const struct form_field	*fld;
	const char		*ct = "multipart/form-data; boundary=XyZ";
	const char		*body =
	    "--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"title\"\r\n\r\n"
	    "Opening hours\r\n"
	    "--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"file\"; "
	    "filename=\"faq.md\"\r\n"
	    "Content-Type: text/markdown\r\n\r\n"
	    "# FAQ\r\nWe open at 9.\r\n"
	    "--XyZ--\r\n";

	ck_assert_int_eq(form_parse(a, ct, body, strlen(body), &f), FORM_OK);
	ck_assert_str_eq(form_get(f, "title"), "Opening hours");
	fld = form_field(f, "file");
	ck_assert_ptr_nonnull(fld);
	ck_assert_str_eq(fld->filename, "faq.md");
	ck_assert_str_eq(fld->content_type, "text/markdown");
	ck_assert_str_eq(fld->value, "# FAQ\r\nWe open at 9.");
	/* framing errors */
	ck_assert_int_eq(form_parse(a, "multipart/form-data", body,
	    strlen(body), &f), FORM_MALFORMED);
	ck_assert_int_eq(form_parse(a, ct, "--XyZ\r\nno headers end", 22, &f),
	    FORM_MALFORMED);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("http");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, router_params);
	tcase_add_test(tc, router_param_id);
	tcase_add_test(tc, form_urlencoded);
	tcase_add_test(tc, form_rejects_bad_input);
	tcase_add_test(tc, form_multipart);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
