/*
 * thumb: see thumb.h. The header parsers below read only fixed offsets
 * inside n bytes; libgd does the decoding and scaling.
 */
#include "util/thumb.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gd.h>

static pthread_once_t	 quiet_once = PTHREAD_ONCE_INIT;

static void	 quiet(int, const char *, va_list);
static void	 quiet_init(void);
static uint32_t	 be16(const unsigned char *);
static uint32_t	 be32(const unsigned char *);
static uint32_t	 le16(const unsigned char *);
static uint32_t	 le24(const unsigned char *);
static bool	 jpeg_dims(const unsigned char *, size_t, long *, long *);
static bool	 webp_dims(const unsigned char *, size_t, long *, long *);
static gdImagePtr decode(const unsigned char *, size_t);
static bool	 encode(gdImagePtr, long, int, unsigned char **, size_t *);

/* libgd prints decoder complaints to stderr; a bad upload is not news. */
static void
quiet(int priority, const char *fmt, va_list ap)
{
	(void)priority;
	(void)fmt;
	(void)ap;
}

static void
quiet_init(void)
{
	gdSetErrorMethod(quiet);
}

static uint32_t
be16(const unsigned char *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint32_t
le16(const unsigned char *p)
{
	return (uint32_t)p[1] << 8 | p[0];
}

static uint32_t
le24(const unsigned char *p)
{
	return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* The first SOFn segment's height and width (ITU T.81 B.2.2). */
static bool
jpeg_dims(const unsigned char *p, size_t n, long *w, long *h)
{
	size_t	 i = 2;

	while (i + 9 <= n) {
		unsigned char	 m;

		if (p[i] != 0xff)
			return false;
		m = p[i + 1];
		if (m == 0xff) {		/* fill byte */
			i++;
			continue;
		}
		if (m == 0xd8 || m == 0x01 || (m >= 0xd0 && m <= 0xd7)) {
			i += 2;			/* no length */
			continue;
		}
		if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 &&
		    m != 0xcc) {
			*h = (long)be16(p + i + 5);
			*w = (long)be16(p + i + 7);
			return true;
		}
		if (m == 0xd9 || m == 0xda)	/* end, or scan before SOF */
			return false;
		i += 2 + be16(p + i + 2);
	}
	return false;
}

/* RIFF….WEBP with a VP8, VP8L or VP8X first chunk. */
static bool
webp_dims(const unsigned char *p, size_t n, long *w, long *h)
{
	if (n < 30 || memcmp(p, "RIFF", 4) != 0 || memcmp(p + 8, "WEBP", 4))
		return false;
	if (memcmp(p + 12, "VP8X", 4) == 0) {
		*w = (long)le24(p + 24) + 1;
		*h = (long)le24(p + 27) + 1;
		return true;
	}
	if (memcmp(p + 12, "VP8L", 4) == 0 && p[20] == 0x2f) {
		uint32_t	 b = (uint32_t)p[21] | (uint32_t)p[22] << 8 |
				    (uint32_t)p[23] << 16 |
				    (uint32_t)p[24] << 24;

		*w = (long)(b & 0x3fff) + 1;
		*h = (long)((b >> 14) & 0x3fff) + 1;
		return true;
	}
	if (memcmp(p + 12, "VP8 ", 4) == 0 && p[23] == 0x9d &&
	    p[24] == 0x01 && p[25] == 0x2a) {
		*w = (long)(le16(p + 26) & 0x3fff);
		*h = (long)(le16(p + 28) & 0x3fff);
		return true;
	}
	return false;
}

bool
thumb_dims(const unsigned char *p, size_t n, long *w, long *h)
{
	*w = *h = 0;
	if (p == NULL)
		return false;
	if (n >= 24 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0 &&
	    memcmp(p + 12, "IHDR", 4) == 0) {
		*w = (long)be32(p + 16);
		*h = (long)be32(p + 20);
	} else if (n >= 10 && (memcmp(p, "GIF87a", 6) == 0 ||
	    memcmp(p, "GIF89a", 6) == 0)) {
		*w = (long)le16(p + 6);
		*h = (long)le16(p + 8);
	} else if (n >= 4 && p[0] == 0xff && p[1] == 0xd8) {
		if (!jpeg_dims(p, n, w, h))
			return false;
	} else if (!webp_dims(p, n, w, h))
		return false;
	return *w > 0 && *h > 0;
}

/*
 * The image decoded with libgd, refused before decoding when it is not
 * one of the four formats or its header claims more than
 * THUMB_MAX_PIXELS; NULL when it cannot be had.
 */
static gdImagePtr
decode(const unsigned char *p, size_t n)
{
	long	 w, h;

	if (n > (size_t)INT32_MAX || !thumb_dims(p, n, &w, &h) ||
	    w > THUMB_MAX_PIXELS / h)
		return NULL;
	pthread_once(&quiet_once, quiet_init);
	if (p[0] == 0x89)
		return gdImageCreateFromPngPtr((int)n, (void *)(uintptr_t)p);
	if (p[0] == 'G')
		return gdImageCreateFromGifPtr((int)n, (void *)(uintptr_t)p);
	if (p[0] == 0xff)
		return gdImageCreateFromJpegPtrEx((int)n,
		    (void *)(uintptr_t)p, 1);
	return gdImageCreateFromWebpPtr((int)n, (void *)(uintptr_t)p);
}

/*
 * src as a JPEG at most side pixels on its longer side (never enlarged),
 * white under transparency, at quality q, into *out (malloc'd).
 */
static bool
encode(gdImagePtr src, long side, int q, unsigned char **out,
    size_t *out_len)
{
	gdImagePtr	 dst;
	void		*jpeg = NULL;
	long		 w = gdImageSX(src), h = gdImageSY(src), tw, th;
	int		 size = 0;
	bool		 ok = false;

	/* What was decoded, not what the header claimed. */
	if (w <= 0 || h <= 0)
		return false;
	if (w >= h) {
		tw = w < side ? w : side;
		th = h * tw / w > 0 ? h * tw / w : 1;
	} else {
		th = h < side ? h : side;
		tw = w * th / h > 0 ? w * th / h : 1;
	}
	if ((dst = gdImageCreateTrueColor((int)tw, (int)th)) == NULL)
		return false;
	gdImageFilledRectangle(dst, 0, 0, (int)tw - 1, (int)th - 1,
	    gdTrueColor(255, 255, 255));
	gdImageAlphaBlending(dst, 1);
	gdImageCopyResampled(dst, src, 0, 0, 0, 0, (int)tw, (int)th, (int)w,
	    (int)h);
	if ((jpeg = gdImageJpegPtr(dst, &size, q)) == NULL || size <= 0)
		goto out;
	if ((*out = malloc((size_t)size)) == NULL)
		goto out;
	memcpy(*out, jpeg, (size_t)size);
	*out_len = (size_t)size;
	ok = true;
out:
	if (jpeg != NULL)
		gdFree(jpeg);
	gdImageDestroy(dst);
	return ok;
}

bool
thumb_make(const unsigned char *p, size_t n, unsigned char **out,
    size_t *out_len)
{
	gdImagePtr	 src;
	bool		 ok;

	*out = NULL;
	*out_len = 0;
	if ((src = decode(p, n)) == NULL)
		return false;
	ok = encode(src, THUMB_MAX_SIDE, 80, out, out_len);
	gdImageDestroy(src);
	return ok;
}

bool
thumb_vision(const unsigned char *p, size_t n, unsigned char **out,
    size_t *out_len)
{
	static const struct {
		long	 side;
		int	 quality;
	} tries[] = {
		{ THUMB_VISION_SIDE, 85 }, { THUMB_VISION_SIDE, 70 },
		{ THUMB_VISION_SIDE, 55 }, { 768, 60 }, { 512, 60 },
	};
	gdImagePtr	 src;
	bool		 ok = false;

	*out = NULL;
	*out_len = 0;
	if ((src = decode(p, n)) == NULL)
		return false;
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		if (!encode(src, tries[i].side, tries[i].quality, out,
		    out_len))
			break;
		if (*out_len <= THUMB_VISION_MAX_BYTES) {
			ok = true;
			break;
		}
		free(*out);
		*out = NULL;
		*out_len = 0;
	}
	gdImageDestroy(src);
	return ok;
}
