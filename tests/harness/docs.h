/*
 * docs: small real documents for the extraction tests, made at test time
 * by real writers (cairo writes the PDFs, libzip the DOCX and XLSX
 * archives), so no binary fixture has to be checked in and each test
 * says what its document holds. Every builder returns malloc'd bytes
 * (free() them) and aborts when a library fails; none uses Check, so the
 * unit tests link this file too.
 */
#ifndef PARLEY_TESTS_HARNESS_DOCS_H
#define PARLEY_TESTS_HARNESS_DOCS_H

#include <stddef.h>
#include <stdint.h>

/* One zip entry: name and bytes (stored with deflate). */
struct hzip_entry {
	const char	*name;
	const void	*data;
	size_t		 len;
};

/* A PDF of n pages (A4), each showing its lines ('\n' separates them). */
unsigned char	*hdoc_pdf(const char *const *pages, int n, size_t *len);
/* A zip archive of the entries, in order. */
unsigned char	*hdoc_zip(const struct hzip_entry *e, int n, size_t *len);
/* A DOCX whose body has one paragraph per string (XML-escaped). */
unsigned char	*hdoc_docx(const char *const *paragraphs, int n,
		    size_t *len);
/*
 * An XLSX with two sheets, "Prices" and "Notes", shared strings (one of
 * them rich text with a phonetic run), a number, a gap, an inline string
 * and a boolean. HDOC_XLSX_TEXT is what Parley reads from it.
 */
unsigned char	*hdoc_xlsx(size_t *len);
#define HDOC_XLSX_TEXT \
	"## Sheet: Prices\n" \
	"Item,Price\n" \
	"Croissant,2.5\n" \
	"\"Pain, au chocolat\",,4\n" \
	"Inline,TRUE\n" \
	"\n" \
	"## Sheet: Notes\n" \
	"Quarterly forecast\n"
/*
 * A DOCX whose word/document.xml inflates to `inflated` bytes (a
 * repeated paragraph) from a few kilobytes: a decompression bomb.
 */
unsigned char	*hdoc_docx_bomb(size_t inflated, size_t *len);
/*
 * Rewrites the declared uncompressed size of entry name, in its local
 * header and in the central directory, to declared: a header that lies.
 * Aborts when the entry is not found.
 */
void		 hdoc_zip_lie(unsigned char *zip, size_t len, const char *name,
		    uint32_t declared);

#endif
