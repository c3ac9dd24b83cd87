/*
 * Unit tests for util/thumb: header dimensions of the four formats (and
 * refusals of cut or lying headers), and previews made with libgd from
 * images libgd itself wrote: bounded to THUMB_MAX_SIDE, aspect kept,
 * never enlarged, white under transparency, a pixel bomb refused before
 * decoding.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <gd.h>

#include "util/thumb.h"

#include "unit/unit.h"

enum fmt { PNG, JPEG, GIF, WEBP };

static unsigned char	*encode(enum fmt, int, int, bool, int *);
static gdImagePtr	 decode_jpeg(const unsigned char *, size_t);

/* A w×h image (red; with a transparent left half when alpha) encoded. */
static unsigned char *
encode(enum fmt f, int w, int h, bool alpha, int *size)
{
	gdImagePtr	 im = gdImageCreateTrueColor(w, h);
	void		*p = NULL;

	ck_assert_ptr_nonnull(im);
	gdImageAlphaBlending(im, 0);
	gdImageSaveAlpha(im, 1);
	gdImageFilledRectangle(im, 0, 0, w - 1, h - 1,
	    gdTrueColor(220, 20, 20));
	if (alpha)
		gdImageFilledRectangle(im, 0, 0, w / 2 - 1, h - 1,
		    gdTrueColorAlpha(0, 0, 0, gdAlphaTransparent));
	switch (f) {
	case PNG:
		p = gdImagePngPtr(im, size);
		break;
	case JPEG:
		p = gdImageJpegPtr(im, size, 90);
		break;
	case GIF:
		p = gdImageGifPtr(im, size);
		break;
	case WEBP:
		p = gdImageWebpPtr(im, size);
		break;
	}
	gdImageDestroy(im);
	ck_assert_ptr_nonnull(p);
	return p;
}

static gdImagePtr
decode_jpeg(const unsigned char *p, size_t n)
{
	ck_assert(n > 4 && p[0] == 0xff && p[1] == 0xd8);
	return gdImageCreateFromJpegPtr((int)n, (void *)(uintptr_t)p);
}

START_TEST(dims_of_each_format)
{
	static const enum fmt	 fmts[] = { PNG, JPEG, GIF, WEBP };

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		int		 size;
		unsigned char	*p = encode(fmts[i], 123, 45, false, &size);
		long		 w, h;

		ck_assert_msg(thumb_dims(p, (size_t)size, &w, &h),
		    "format %zu", i);
		ck_assert_int_eq(w, 123);
		ck_assert_int_eq(h, 45);
		/* Cut inside the header: no dimensions. */
		ck_assert(!thumb_dims(p, 9, &w, &h));
		gdFree(p);
	}
	ck_assert(!thumb_dims((const unsigned char *)"%PDF-1.7 hello", 14,
	    &(long){ 0 }, &(long){ 0 }));
	ck_assert(!thumb_dims(NULL, 0, &(long){ 0 }, &(long){ 0 }));
}
END_TEST

START_TEST(previews)
{
	static const enum fmt	 fmts[] = { PNG, JPEG, GIF, WEBP };

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		int		 size;
		unsigned char	*p = encode(fmts[i], 1200, 600, false, &size);
		unsigned char	*t;
		size_t		 tlen;
		gdImagePtr	 im;

		ck_assert_msg(thumb_make(p, (size_t)size, &t, &tlen),
		    "format %zu", i);
		im = decode_jpeg(t, tlen);
		ck_assert_int_eq(gdImageSX(im), THUMB_MAX_SIDE);
		ck_assert_int_eq(gdImageSY(im), THUMB_MAX_SIDE / 2);
		gdImageDestroy(im);
		free(t);
		gdFree(p);
	}
}
END_TEST

START_TEST(small_tall_and_transparent)
{
	int		 size, c;
	unsigned char	*p, *t;
	size_t		 tlen;
	gdImagePtr	 im;

	/* Tall: the longer side is bounded. */
	p = encode(PNG, 100, 1000, false, &size);
	ck_assert(thumb_make(p, (size_t)size, &t, &tlen));
	im = decode_jpeg(t, tlen);
	ck_assert_int_eq(gdImageSY(im), THUMB_MAX_SIDE);
	ck_assert_int_eq(gdImageSX(im), 32);
	gdImageDestroy(im);
	free(t);
	gdFree(p);

	/* Small: never enlarged; transparency comes out white. */
	p = encode(PNG, 40, 20, true, &size);
	ck_assert(thumb_make(p, (size_t)size, &t, &tlen));
	im = decode_jpeg(t, tlen);
	ck_assert_int_eq(gdImageSX(im), 40);
	ck_assert_int_eq(gdImageSY(im), 20);
	c = gdImageGetTrueColorPixel(im, 5, 10);
	ck_assert_int_gt(gdTrueColorGetRed(c), 230);
	ck_assert_int_gt(gdTrueColorGetGreen(c), 230);
	c = gdImageGetTrueColorPixel(im, 35, 10);
	ck_assert_int_gt(gdTrueColorGetRed(c), 180);
	ck_assert_int_lt(gdTrueColorGetGreen(c), 80);
	gdImageDestroy(im);
	free(t);
	gdFree(p);
}
END_TEST

START_TEST(refusals)
{
	int		 size;
	unsigned char	*p, *t = (unsigned char *)"x";
	size_t		 tlen = 9;

	/* A PNG header that claims 50,000 × 50,000: refused undecoded. */
	p = encode(PNG, 10, 10, false, &size);
	p[16] = 0; p[17] = 0; p[18] = 0xc3; p[19] = 0x50;
	p[20] = 0; p[21] = 0; p[22] = 0xc3; p[23] = 0x50;
	ck_assert(!thumb_make(p, (size_t)size, &t, &tlen));
	ck_assert_ptr_null(t);
	ck_assert_uint_eq(tlen, 0);
	gdFree(p);

	/*
	 * A JPEG cut short: libjpeg may decode what is there (gray below),
	 * and then the preview is still a whole JPEG of the right size; or
	 * it fails, and so do we, with nothing allocated.
	 */
	p = encode(JPEG, 300, 300, false, &size);
	if (thumb_make(p, (size_t)size / 2, &t, &tlen)) {
		gdImagePtr	 im = decode_jpeg(t, tlen);

		ck_assert_ptr_nonnull(im);
		ck_assert_int_eq(gdImageSX(im), 300);
		gdImageDestroy(im);
		free(t);
	} else {
		ck_assert_ptr_null(t);
		ck_assert_uint_eq(tlen, 0);
	}
	gdFree(p);

	/* Not an image. */
	ck_assert(!thumb_make((const unsigned char *)"hello, world", 12, &t,
	    &tlen));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("thumb");
	TCase	*tc = tcase_create("thumb");

	tcase_add_test(tc, dims_of_each_format);
	tcase_add_test(tc, previews);
	tcase_add_test(tc, small_tall_and_transparent);
	tcase_add_test(tc, refusals);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
