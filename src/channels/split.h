/*
 * split: long replies cut into parts a provider accepts (Meta and Kapso:
 * 4096 characters; Twilio: 1600), in order, at the most natural boundary
 * that fits: a paragraph break, else a line break, else the end of a
 * sentence, else a space, else (one enormous word) a character boundary.
 * Length is counted in UTF-16 code units, which is what "characters"
 * means to these APIs and counts an emoji as two, so a part never goes
 * over for emoji-heavy text (PROTOCOLS.md §1.4). A cut never falls inside
 * a UTF-8 sequence. Pure code.
 */
#ifndef PARLEY_CHANNELS_SPLIT_H
#define PARLEY_CHANNELS_SPLIT_H

#include <stddef.h>

struct split_part {
	size_t	 off;	/* byte offset into the text */
	size_t	 len;	/* bytes, white space at the cut trimmed */
};

/* UTF-16 code units in n bytes of valid UTF-8. */
size_t	 split_units(const char *s, size_t n);
/*
 * Cuts text (valid UTF-8) into parts of at most limit units. Writes up to
 * max parts and returns how many are needed (> max: the caller's array was
 * too small). limit must be at least 16.
 */
size_t	 split_text(const char *text, size_t limit, struct split_part *parts,
	    size_t max);

#endif
