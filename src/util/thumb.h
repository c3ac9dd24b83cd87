/*
 * thumb: a small JPEG preview of a photo (JPEG, PNG, GIF, WebP) for the
 * conversation timeline, made with libgd, so a timeline of customer
 * photos does not load every full-size image; and the image a vision
 * model is shown, downscaled to a bound that keeps its tokens sane.
 *
 * Input is untrusted (whatever a contact sent): the dimensions are read
 * from the file's header first and anything over THUMB_MAX_PIXELS is
 * refused before libgd decodes it (a few-kilobyte PNG can claim 50,000 ×
 * 50,000 pixels). libgd's own error printing is silenced.
 *
 * Thread-safety: safe from any thread.
 */
#ifndef PARLEY_UTIL_THUMB_H
#define PARLEY_UTIL_THUMB_H

#include <stdbool.h>
#include <stddef.h>

#define THUMB_MAX_SIDE		320		/* pixels, the longer side */
#define THUMB_MAX_PIXELS	(40L * 1000 * 1000)
/* The vision image: OpenAI's "high detail" tiles a 2048-square image
 * down to 768 on its shorter side; 1024 on the longer side costs at most
 * 4 tiles there and stays readable for text in a screenshot. */
#define THUMB_VISION_SIDE	1024
#define THUMB_VISION_MAX_BYTES	(400 * 1024)

/*
 * Reads width and height from an image's header; false when the format
 * is not one of the four or the header is cut short.
 */
bool	 thumb_dims(const unsigned char *p, size_t n, long *w, long *h);
/*
 * A JPEG (quality 80, white under transparency) at most THUMB_MAX_SIDE
 * on its longer side, never larger than the original, in *out (free()
 * it), *out_len bytes. False when the bytes are not a decodable image of
 * a supported type within THUMB_MAX_PIXELS.
 */
bool	 thumb_make(const unsigned char *p, size_t n, unsigned char **out,
	    size_t *out_len);
/*
 * The vision image: a JPEG (white under transparency) at most
 * THUMB_VISION_SIDE on its longer side, never enlarged, at most
 * THUMB_VISION_MAX_BYTES (lower quality first, then smaller sides).
 * *out as thumb_make; false as thumb_make, or when no size fits.
 */
bool	 thumb_vision(const unsigned char *p, size_t n, unsigned char **out,
	    size_t *out_len);

#endif
