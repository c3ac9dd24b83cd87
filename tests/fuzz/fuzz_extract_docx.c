/*
 * fuzz_extract_docx: the DOCX reader (util/doctext.h) on arbitrary bytes,
 * as the extraction process runs it (chat/extract.h), with small caps.
 * The process's limits bound time and memory in production; here the
 * sanitizers look for memory errors in our code and the libraries'
 * handling of what they return, and every answer is checked as in
 * fuzz_extract.h.
 */
#include <stdint.h>
#include <stdlib.h>

#include "util/doctext.h"

#include "fuzz_extract.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct doc_limits	 l;

	fuzz_extract_limits(&l);
	fuzz_extract_check(DOC_DOCX, data, size, &l);
	return 0;
}
