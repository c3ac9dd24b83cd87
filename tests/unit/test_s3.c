/*
 * Unit tests for util/s3: the presigned GET URL against AWS's published
 * example ("Authenticating Requests: Using Query Parameters", the
 * signature aeeed9bb…, docs/media-out.md §3), path style with a port,
 * response overrides sorted into the signature, what is refused (keys,
 * expiries, configurations), and the payload hash against the SHA-256 of
 * the empty string and of "abc" (FIPS 180-2).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "util/s3.h"

#include "unit/unit.h"

/* 2013-05-24T00:00:00Z */
#define AWS_NOW		1369353600

static const struct s3_config	 aws = {
	.endpoint = "https://s3.amazonaws.com",
	.bucket = "examplebucket",
	.region = "us-east-1",
	.access_key = "AKIAIOSFODNN7EXAMPLE",
	.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	.path_style = false,
};

START_TEST(aws_test_vector)
{
	char	*u = s3_presign_get(&aws, "test.txt", AWS_NOW, 86400, NULL,
		    NULL);

	ck_assert_ptr_nonnull(u);
	ck_assert_str_eq(u, "https://examplebucket.s3.amazonaws.com/test.txt"
	    "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
	    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1"
	    "%2Fs3%2Faws4_request"
	    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
	    "&X-Amz-SignedHeaders=host"
	    "&X-Amz-Signature="
	    "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	free(u);
}
END_TEST

/*
 * Path style with a port keeps the port in the signed host and the
 * bucket in the path; the response overrides are encoded and sorted
 * after the X-Amz- parameters (upper case sorts first). A default port
 * is dropped, as clients drop it from Host.
 */
START_TEST(path_style_and_overrides)
{
	struct s3_config	 c = aws;
	char			*u, *v, *w;

	c.endpoint = "http://127.0.0.1:4568";
	c.bucket = "parley-media";
	c.path_style = true;
	u = s3_presign_get(&c, "media/1/2/0-ab", AWS_NOW, 300,
	    "application/octet-stream", "attachment; filename=\"a b.pdf\"");
	ck_assert_ptr_nonnull(u);
	ck_assert(strncmp(u, "http://127.0.0.1:4568/parley-media/media/1/2/"
	    "0-ab?X-Amz-Algorithm=", 62) == 0);
	ck_assert_ptr_nonnull(strstr(u, "&X-Amz-SignedHeaders=host"
	    "&response-content-disposition=attachment%3B%20filename%3D%22a"
	    "%20b.pdf%22&response-content-type=application%2Foctet-stream"
	    "&X-Amz-Signature="));
	/* Another host, another signature. */
	c.endpoint = "http://localhost:4568";
	v = s3_presign_get(&c, "media/1/2/0-ab", AWS_NOW, 300,
	    "application/octet-stream", "attachment; filename=\"a b.pdf\"");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_ne(strstr(u, "X-Amz-Signature="),
	    strstr(v, "X-Amz-Signature="));
	free(v);
	c.endpoint = "https://s3.example.com:443";
	w = s3_presign_get(&c, "k", AWS_NOW, 1, NULL, NULL);
	ck_assert(strncmp(w, "https://s3.example.com/parley-media/k?", 38) ==
	    0);
	free(w);
	free(u);
}
END_TEST

START_TEST(refusals)
{
	struct s3_config	 c = aws;
	char			 why[256];
	const char		*bad_keys[] = { "", "/a", "a/", "a//b", "a b",
				    "a/../b", "..", "a/./b", "é", "a?b",
				    "a%20b", NULL };

	for (int i = 0; bad_keys[i] != NULL; i++) {
		ck_assert_msg(!s3_key_ok(bad_keys[i]), "%s", bad_keys[i]);
		ck_assert_ptr_null(s3_presign_get(&aws, bad_keys[i], AWS_NOW,
		    60, NULL, NULL));
	}
	ck_assert(s3_key_ok("media/12/345/0-0123abcd.thumb.jpg"));
	ck_assert(s3_key_ok("a.b~c_d-e"));
	ck_assert_ptr_null(s3_presign_get(&aws, "k", AWS_NOW, 0, NULL, NULL));
	ck_assert_ptr_null(s3_presign_get(&aws, "k", AWS_NOW, 604801, NULL,
	    NULL));

	ck_assert(s3_config_check(&c, why, sizeof(why)));
	c.endpoint = "ftp://x";
	ck_assert(!s3_config_check(&c, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "endpoint"));
	c.endpoint = "https://s3.example.com/path";
	ck_assert(!s3_config_check(&c, why, sizeof(why)));
	c.endpoint = "https://user@s3.example.com";
	ck_assert(!s3_config_check(&c, why, sizeof(why)));
	c.endpoint = "https://s3.example.com:99999";
	ck_assert(!s3_config_check(&c, why, sizeof(why)));
	c = aws;
	c.bucket = "Upper";
	ck_assert(!s3_config_check(&c, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "bucket"));
	c.bucket = "my.bucket";
	ck_assert(!s3_config_check(&c, why, sizeof(why)));	/* https vhost */
	c.path_style = true;
	ck_assert(s3_config_check(&c, why, sizeof(why)));
	c = aws;
	c.region = "us east";
	ck_assert(!s3_config_check(&c, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "region"));
	c = aws;
	c.secret_key = "";
	ck_assert(!s3_config_check(&c, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "secret_key"));
	c = aws;
	c.access_key = "a\nb";
	ck_assert(!s3_config_check(&c, why, sizeof(why)));
}
END_TEST

START_TEST(origin_and_payload_hash)
{
	struct s3_config	 c = aws;
	char			 o[128], h[65];

	ck_assert(s3_origin(&c, o, sizeof(o)));
	ck_assert_str_eq(o, "https://examplebucket.s3.amazonaws.com");
	c.path_style = true;
	c.endpoint = "http://127.0.0.1:9000";
	ck_assert(s3_origin(&c, o, sizeof(o)));
	ck_assert_str_eq(o, "http://127.0.0.1:9000");
	s3_sha256_hex("", 0, h);
	ck_assert_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
	s3_sha256_hex("abc", 3, h);
	ck_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("s3");
	TCase	*tc = tcase_create("s3");

	tcase_add_test(tc, aws_test_vector);
	tcase_add_test(tc, path_style_and_overrides);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, origin_and_payload_hash);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
