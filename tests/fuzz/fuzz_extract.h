/*
 * fuzz_extract.h: what the document readers' fuzz targets share (a
 * header of functions defined static inline, so each target stays one
 * file): small caps, and the checks every answer must pass.
 */
#ifndef PARLEY_TESTS_FUZZ_EXTRACT_H
#define PARLEY_TESTS_FUZZ_EXTRACT_H

#include <stdlib.h>
#include <string.h>

#include "util/doctext.h"
#include "util/utf8.h"

/* Small caps, so a run spends its time parsing, not copying. */
static inline void
fuzz_extract_limits(struct doc_limits *l)
{
	doc_limits_default(l);
	l->max_chars = 20000;
	l->max_pages = 20;
	l->max_entries = 200;
	l->max_entry_bytes = 4 * 1024 * 1024;
	l->max_total_bytes = 16 * 1024 * 1024;
}

/* Extracts kind k from p and aborts when the answer breaks a promise of
 * util/doctext.h. */
static inline void
fuzz_extract_check(enum doc_kind k, const uint8_t *p, size_t n,
    const struct doc_limits *l)
{
	struct doc_text	 t;
	const char	*s;

	doc_text_init(&t);
	if (doc_extract(k, p, n, l, &t)) {
		s = t.text.data != NULL ? t.text.data : "";
		if (!utf8_valid(s, t.text.len) || strlen(s) != t.text.len ||
		    utf8_count(s, t.text.len) != t.chars ||
		    t.chars > l->max_chars)
			abort();
		for (size_t i = 0; i < t.text.len; i++)
			if ((unsigned char)s[i] < 0x20 && s[i] != '\n' &&
			    s[i] != '\t')
				abort();
	} else if (t.why[0] == '\0' || strchr(t.why, '\n') != NULL)
		abort();
	doc_text_cleanup(&t);
}

#endif
