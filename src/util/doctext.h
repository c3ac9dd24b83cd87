/*
 * doctext: the text of a document a contact sent, for the model and the
 * conversation search. PDF (poppler-glib), plain text, Markdown, CSV and
 * JSON (validated UTF-8; JSON re-indented), DOCX (word/document.xml's
 * paragraphs) and XLSX (every sheet as comma-separated rows, shared
 * strings resolved), the last two read with libzip and libxml2.
 *
 * Input is hostile: every extractor is bounded by struct doc_limits —
 * the document's bytes, the characters kept (more are cut and
 * doc_text.truncated says so), the PDF pages read, and for the zip
 * formats the entry count, each entry's declared and actual decompressed
 * size, their sum, and the compression ratio (zip bombs are refused
 * before a byte is inflated, and an entry that inflates past what it
 * declared is refused while it is read). XML is parsed without network
 * access, without loading DTDs and without substituting entities.
 *
 * Time and memory are not bounded here: the formats doc_kind_isolated()
 * names (PDF, DOCX, XLSX) are run in a separate process with resource
 * limits (chat/extract.c); the text formats are linear and bounded, and
 * run in place.
 *
 * The output is valid UTF-8 without control characters other than
 * newline and tab; lines end in "\n".
 *
 * Thread-safety: the text formats may run in any thread; PDF and the zip
 * formats are meant for the extraction process (poppler and libxml2
 * keep process-wide state).
 */
#ifndef PARLEY_UTIL_DOCTEXT_H
#define PARLEY_UTIL_DOCTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define DOCTEXT_WHY_MAX	256

enum doc_kind {
	DOC_NONE = 0,		/* not a document (an image, audio, …) */
	DOC_UNSUPPORTED,	/* a document of a kind not read here */
	DOC_TEXT,
	DOC_MARKDOWN,
	DOC_CSV,
	DOC_JSON,
	DOC_PDF,
	DOC_DOCX,
	DOC_XLSX,
};

struct doc_limits {
	size_t	 max_bytes;		/* the document */
	size_t	 max_chars;		/* characters kept */
	int	 max_pages;		/* PDF pages read */
	size_t	 max_entries;		/* zip: entries in the archive */
	size_t	 max_entry_bytes;	/* zip: one entry, decompressed */
	size_t	 max_total_bytes;	/* zip: all entries, as declared */
	size_t	 max_ratio;		/* zip: decompressed / compressed */
};

/* What came out: text (UTF-8) or, on failure, a sentence in why. */
struct doc_text {
	struct buf	 text;
	size_t		 chars;
	bool		 truncated;	/* a cap cut the text */
	int		 pages;		/* PDF: pages in the document */
	char		 why[DOCTEXT_WHY_MAX];
};

/* The defaults documented in README (PARLEY_EXTRACT_*). */
void		 doc_limits_default(struct doc_limits *l);

void		 doc_text_init(struct doc_text *t);
void		 doc_text_cleanup(struct doc_text *t);

/*
 * What a media item is, from its bare content type, its file name (may
 * be NULL) and its first bytes: a document kind, DOC_UNSUPPORTED for
 * other documents (application/… and text/… types no extractor reads), or
 * DOC_NONE (images, audio, video, stickers).
 */
enum doc_kind	 doc_kind_of(const char *content_type, const char *filename,
		    const unsigned char *p, size_t n);
/* "pdf", "docx", … (the extraction process's --kind); NULL for none. */
const char	*doc_kind_name(enum doc_kind k);
/* doc_kind_name's inverse; DOC_NONE for anything else. */
enum doc_kind	 doc_kind_parse(const char *name);
/* Whether k must run in the extraction process (PDF, DOCX, XLSX). */
bool		 doc_kind_isolated(enum doc_kind k);

/*
 * Extracts the text of a document of kind k (n bytes at p) into out
 * (doc_text_init'ed). False with a sentence in out->why ("is not valid
 * UTF-8 text", "is protected by a password", "decompresses to more than
 * …") that completes "This document could not be read: ".
 */
bool		 doc_extract(enum doc_kind k, const unsigned char *p, size_t n,
		    const struct doc_limits *l, struct doc_text *out);

#endif
