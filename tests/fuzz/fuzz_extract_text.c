/*
 * fuzz_extract_text: the in-process document readers (util/doctext.h):
 * plain text, Markdown, CSV and JSON, and what a media item is taken for
 * (doc_kind_of). Input: one byte choosing the kind, then the document.
 * These run inside the server (not in the extraction process), so any
 * crash here is a crash of the server. Every answer is checked: text is
 * whole UTF-8 with no control character but newline and tab, its
 * character count is right and within the cap; a refusal has a one-line
 * reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/doctext.h"
#include "util/utf8.h"

#include "fuzz_extract.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum doc_kind	 kinds[] = { DOC_TEXT, DOC_MARKDOWN,
					    DOC_CSV, DOC_JSON };
	struct doc_limits		 l;
	char				 name[16];

	if (size < 1)
		return 0;
	fuzz_extract_limits(&l);
	fuzz_extract_check(kinds[data[0] % 4], data + 1, size - 1, &l);
	/* The sniffing, with the first bytes as a file name too. */
	memcpy(name, data, size < sizeof(name) - 1 ? size :
	    sizeof(name) - 1);
	name[size < sizeof(name) - 1 ? size : sizeof(name) - 1] = '\0';
	(void)doc_kind_of("application/octet-stream", name, data, size);
	(void)doc_kind_of(name, NULL, data, size);
	return 0;
}
