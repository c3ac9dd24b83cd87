/*
 * split: cutting replies to provider limits (see split.h).
 */
#include "channels/split.h"

#include <stdbool.h>
#include <string.h>

static size_t	cp_len(unsigned char);
static bool	is_space(char);

static size_t
cp_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		return 2;
	if ((c & 0xf0) == 0xe0)
		return 3;
	return 4;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

size_t
split_units(const char *s, size_t n)
{
	size_t	 units = 0;

	for (size_t i = 0; i < n; ) {
		size_t	 l = cp_len((unsigned char)s[i]);

		units += l == 4 ? 2 : 1;	/* astral: a surrogate pair */
		i += l;
	}
	return units;
}

size_t
split_text(const char *text, size_t limit, struct split_part *parts,
    size_t max)
{
	size_t	 n = strlen(text), pos = 0, count = 0;

	while (pos < n) {
		size_t	 units = 0, i = pos, fit, cut = 0, next;
		size_t	 para = 0, line = 0, sentence = 0, space = 0;

		while (pos < n && is_space(text[pos]))
			pos++;
		if (pos >= n)
			break;
		/* The longest prefix that fits, noting boundaries on the way. */
		for (i = pos; i < n; ) {
			size_t	 l = cp_len((unsigned char)text[i]);
			size_t	 u = l == 4 ? 2 : 1;

			if (units + u > limit)
				break;
			units += u;
			i += l;
			if (i < n && text[i] == '\n' && text[i - 1] == '\n')
				para = i - 1;
			else if (i < n && text[i] == '\n')
				line = i;
			else if (i < n && is_space(text[i]) &&
			    strchr(".!?", text[i - 1]) != NULL)
				sentence = i;
			else if (i < n && is_space(text[i]))
				space = i;
		}
		fit = i;
		if (fit >= n)
			cut = n;
		else if (para > pos)
			cut = para;
		else if (line > pos)
			cut = line;
		else if (sentence > pos)
			cut = sentence;
		else if (space > pos)
			cut = space;
		else
			cut = fit;	/* one enormous word */
		next = cut;
		while (cut > pos && is_space(text[cut - 1]))
			cut--;
		if (count < max) {
			parts[count].off = pos;
			parts[count].len = cut - pos;
		}
		count++;
		pos = next;
	}
	return count;
}
