/*
 * thumb: a small JPEG preview of a photo (JPEG, PNG, GIF, WebP) for the
 * conversation timeline, made with libgd, so a timeline of customer
 * photos does not load every full-size image.
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

#endif
